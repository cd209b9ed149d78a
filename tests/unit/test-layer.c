/* Unit tests for layer/: tar streams built in memory with libarchive are
   applied to temp directories; hostile names, symlinks and hardlinks must
   stay inside; digests must match the bytes; diff and apply round trip.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/layer.h"
#include "husk/util.h"

struct fixture
{
  char *path;
  int fd;  /* the temp directory */
  int dst; /* <tmp>/layer, the apply target */
};

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));

  f->path = xstrdup ("/tmp/husk-test-layer-XXXXXX");
  assert_non_null (mkdtemp (f->path));
  f->fd = open (f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->fd >= 0);
  assert_int_equal (mkdirat (f->fd, "layer", 0755), 0);
  f->dst = openat (f->fd, "layer", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->dst >= 0);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  close (f->dst);
  close (f->fd);
  assert_int_equal (husk_rm_rf_at (AT_FDCWD, f->path, &err), 0);
  free (f->path);
  free (f);
  return 0;
}

/* Building tar streams.  */

struct tarb
{
  struct archive *a;
  struct husk_buf buf;
};

static la_ssize_t
tar_write_cb (struct archive *a, void *data, const void *buf, size_t len)
{
  struct tarb *t = data;
  husk_buf_append (&t->buf, buf, len);
  return (la_ssize_t)len;
}

static void
tar_begin (struct tarb *t)
{
  memset (t, 0, sizeof (*t));
  husk_buf_append (&t->buf, "", 0);
  t->a = archive_write_new ();
  assert_int_equal (archive_write_set_format_pax_restricted (t->a), ARCHIVE_OK);
  archive_write_set_bytes_in_last_block (t->a, 1);
  assert_int_equal (archive_write_open (t->a, t, NULL, tar_write_cb, NULL), ARCHIVE_OK);
}

static void
tar_add (struct tarb *t, const char *name, mode_t type, mode_t perm, const char *data, const char *link,
         bool hardlink)
{
  struct archive_entry *e = archive_entry_new ();

  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_uid (e, 1000);
  archive_entry_set_gid (e, 1001);
  archive_entry_set_mtime (e, 1500000000, 123456789);
  archive_entry_set_size (e, data && !hardlink ? (la_int64_t)strlen (data) : 0);
  if (link && hardlink)
    archive_entry_set_hardlink (e, link);
  else if (link)
    archive_entry_set_symlink (e, link);
  if (type == AE_IFCHR)
    archive_entry_set_rdev (e, makedev (1, 3));
  assert_true (archive_write_header (t->a, e) >= ARCHIVE_WARN);
  if (data && !hardlink)
    assert_int_equal (archive_write_data (t->a, data, strlen (data)), (la_ssize_t)strlen (data));
  archive_entry_free (e);
}

#define tar_file(t, n, d)     tar_add (t, n, AE_IFREG, 0644, d, NULL, false)
#define tar_dir(t, n)         tar_add (t, n, AE_IFDIR, 0755, NULL, NULL, false)
#define tar_symlink(t, n, l)  tar_add (t, n, AE_IFLNK, 0777, NULL, l, false)
#define tar_hardlink(t, n, l) tar_add (t, n, AE_IFREG, 0644, NULL, l, true)

static char *
tar_end (struct tarb *t, size_t *len)
{
  assert_int_equal (archive_write_close (t->a), ARCHIVE_OK);
  archive_write_free (t->a);
  return husk_buf_steal (&t->buf, len);
}

static char *
gzip_data (const char *data, size_t len, size_t *out_len)
{
  z_stream z = { 0 };
  size_t cap = compressBound (len) + 64;
  char *out = xmalloc (cap);

  assert_int_equal (deflateInit2 (&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  assert_int_equal (deflate (&z, Z_FINISH), Z_STREAM_END);
  *out_len = cap - z.avail_out;
  deflateEnd (&z);
  return out;
}

static char *
zstd_data (const char *data, size_t len, size_t *out_len)
{
  size_t cap = ZSTD_compressBound (len);
  char *out = xmalloc (cap);

  *out_len = ZSTD_compress (out, cap, data, len, 3);
  assert_false (ZSTD_isError (*out_len));
  return out;
}

/* A reader over memory that hands out small, uneven pieces.  */
struct mem
{
  const char *data;
  size_t len, pos, chunk;
};

static ssize_t
mem_read (void *ctx, void *buf, size_t len)
{
  struct mem *m = ctx;
  size_t n = m->len - m->pos;

  if (n > len)
    n = len;
  if (m->chunk && n > m->chunk)
    n = m->chunk;
  memcpy (buf, m->data + m->pos, n);
  m->pos += n;
  return (ssize_t)n;
}

static int
apply_mem (int dst, const char *data, size_t len, size_t chunk, const struct husk_layer_apply_opts *opts,
           struct husk_layer_apply_result *res, husk_error_t *err)
{
  struct mem m = { data, len, 0, chunk };
  return husk_layer_apply (mem_read, &m, dst, opts, res, err);
}

static char *
read_text (int dirfd, const char *path)
{
  husk_error_t err = NULL;
  char *out = NULL;

  if (husk_read_file_at (dirfd, path, 0, &out, NULL, &err) < 0)
    fail_msg ("%s", err->msg);
  return out;
}

static void
assert_text (int dirfd, const char *path, const char *text)
{
  cleanup_free char *got = read_text (dirfd, path);
  assert_string_equal (got, text);
}

static void
assert_missing (int dirfd, const char *path)
{
  struct stat st;
  assert_int_equal (fstatat (dirfd, path, &st, AT_SYMLINK_NOFOLLOW), -1);
}

/* A tree with every kind of entry.  */
static char *
sample_tar (size_t *len)
{
  struct tarb t;

  tar_begin (&t);
  tar_dir (&t, "./");
  tar_dir (&t, "./etc/");
  tar_file (&t, "./etc/hostname", "box\n");
  tar_file (&t, "/abs/file", "absolute");
  tar_add (&t, "bin/tool", AE_IFREG, 04755, "ELF", NULL, false);
  tar_symlink (&t, "bin/sh", "/bin/tool");
  tar_hardlink (&t, "bin/tool2", "bin/tool");
  tar_add (&t, "ro", AE_IFDIR, 0555, NULL, NULL, false);
  tar_file (&t, "ro/inside", "in a read-only dir");
  tar_add (&t, "dev/null", AE_IFCHR, 0666, NULL, NULL, false);
  tar_add (&t, "fifo", AE_IFIFO, 0600, NULL, NULL, false);
  tar_file (&t, "empty", "");
  return tar_end (&t, len);
}

static void
check_sample (int dst)
{
  struct stat st, st2;
  char target[64];
  ssize_t n;

  assert_text (dst, "etc/hostname", "box\n");
  assert_text (dst, "abs/file", "absolute");
  assert_text (dst, "bin/tool", "ELF");
  assert_int_equal (fstatat (dst, "bin/tool", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 04755);
  assert_int_equal (st.st_uid, 1000);
  assert_int_equal (st.st_gid, 1001);
  assert_int_equal (st.st_mtim.tv_sec, 1500000000);
  assert_int_equal (fstatat (dst, "bin/tool2", &st2, 0), 0);
  assert_int_equal (st.st_ino, st2.st_ino);
  n = readlinkat (dst, "bin/sh", target, sizeof (target) - 1);
  assert_true (n > 0);
  target[n] = '\0';
  assert_string_equal (target, "/bin/tool");
  assert_int_equal (fstatat (dst, "bin/sh", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (st.st_uid, 1000);
  assert_int_equal (fstatat (dst, "ro", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0555);
  assert_int_equal (st.st_mtim.tv_sec, 1500000000);
  assert_text (dst, "ro/inside", "in a read-only dir");
  assert_int_equal (fstatat (dst, "dev/null", &st, 0), 0);
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (1, 3));
  assert_int_equal (fstatat (dst, "fifo", &st, 0), 0);
  assert_true (S_ISFIFO (st.st_mode));
  assert_int_equal (fstatat (dst, "etc", &st, 0), 0);
  assert_int_equal (st.st_mtim.tv_sec, 1500000000);
  assert_int_equal (fstatat (dst, ".", &st, 0), 0);
  assert_int_equal (st.st_uid, 1000);
}

static void
test_apply_plain (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  size_t len;
  cleanup_free char *tar = sample_tar (&len);
  cleanup_free char *want = husk_digest_buffer (tar, len);

  if (apply_mem (f->dst, tar, len, 7, NULL, &res, &err) < 0)
    fail_msg ("%s", err->msg);
  check_sample (f->dst);
  assert_string_equal (res.diff_id, want);
  assert_string_equal (res.blob_digest, want);
  assert_int_equal (res.diff_size, len);
  assert_int_equal (res.blob_size, len);
  assert_int_equal (res.compression, HUSK_COMPRESSION_NONE);
  assert_int_equal (res.content_size, 4 + 8 + 3 + 18);
  husk_layer_apply_result_clear (&res);
}

static void
check_compressed (struct fixture *f, enum husk_compression c, bool no_isal)
{
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  size_t len, zlen;
  cleanup_free char *tar = sample_tar (&len);
  cleanup_free char *z
      = c == HUSK_COMPRESSION_GZIP ? gzip_data (tar, len, &zlen) : zstd_data (tar, len, &zlen);
  cleanup_free char *want = husk_digest_buffer (tar, len);
  cleanup_free char *wantz = husk_digest_buffer (z, zlen);

  if (no_isal)
    setenv ("HUSK_NO_ISAL", "1", 1);
  if (apply_mem (f->dst, z, zlen, 5, NULL, &res, &err) < 0)
    fail_msg ("%s", err->msg);
  unsetenv ("HUSK_NO_ISAL");
  check_sample (f->dst);
  assert_int_equal (res.compression, c);
  assert_string_equal (res.diff_id, want);
  assert_string_equal (res.blob_digest, wantz);
  assert_int_equal (res.diff_size, len);
  assert_int_equal (res.blob_size, zlen);
  husk_layer_apply_result_clear (&res);
}

static void
test_apply_gzip (void **state)
{
  check_compressed (*state, HUSK_COMPRESSION_GZIP, false);
}

static void
test_apply_gzip_zlib (void **state)
{
  check_compressed (*state, HUSK_COMPRESSION_GZIP, true);
}

static void
test_apply_zstd (void **state)
{
  check_compressed (*state, HUSK_COMPRESSION_ZSTD, false);
}

/* Two gzip members (pigz and some registries produce them) read as one
   stream, with both inflaters.  */
static void
test_apply_gzip_multimember (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  size_t len, l1, l2;
  cleanup_free char *tar = sample_tar (&len);
  cleanup_free char *a = gzip_data (tar, 1000, &l1);
  cleanup_free char *b = gzip_data (tar + 1000, len - 1000, &l2);
  cleanup_free char *both = xmalloc (l1 + l2);
  cleanup_free char *want = husk_digest_buffer (tar, len);
  int pass;

  memcpy (both, a, l1);
  memcpy (both + l1, b, l2);
  for (pass = 0; pass < 2; pass++)
    {
      struct husk_layer_apply_result res;
      int dst;

      if (pass)
        setenv ("HUSK_NO_ISAL", "1", 1);
      assert_int_equal (husk_rm_rf_at (f->fd, "layer", &err), 0);
      assert_int_equal (mkdirat (f->fd, "layer", 0755), 0);
      dst = openat (f->fd, "layer", O_RDONLY | O_DIRECTORY);
      if (apply_mem (dst, both, l1 + l2, pass ? 0 : 3, NULL, &res, &err) < 0)
        fail_msg ("pass %d: %s", pass, err->msg);
      unsetenv ("HUSK_NO_ISAL");
      check_sample (dst);
      close (dst);
      assert_string_equal (res.diff_id, want);
      assert_int_equal (res.diff_size, len);
      husk_layer_apply_result_clear (&res);
    }
}

static void
expect_failure (int dst, const char *data, size_t len, const char *needle)
{
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;

  assert_true (apply_mem (dst, data, len, 0, NULL, &res, &err) < 0);
  assert_non_null (err);
  if (needle && strstr (err->msg, needle) == NULL)
    fail_msg ("error `%s` does not mention `%s`", err->msg, needle);
  husk_error_release (&err);
}

static void
test_truncated (void **state)
{
  struct fixture *f = *state;
  size_t len, zlen;
  cleanup_free char *tar = sample_tar (&len);
  cleanup_free char *gz = gzip_data (tar, len, &zlen);
  cleanup_free char *zs = NULL;

  expect_failure (f->dst, gz, zlen - 10, "gzip");
  setenv ("HUSK_NO_ISAL", "1", 1);
  expect_failure (f->dst, gz, zlen - 10, "gzip");
  unsetenv ("HUSK_NO_ISAL");
  /* Corrupt in the middle.  */
  gz[zlen / 2] ^= 0x55;
  gz[zlen / 2 + 1] ^= 0x55;
  expect_failure (f->dst, gz, zlen, NULL);
  zs = zstd_data (tar, len, &zlen);
  expect_failure (f->dst, zs, zlen - 3, "zstd");
  /* A tar cut in a file's data.  */
  expect_failure (f->dst, tar, 1700, NULL);
}

static void
test_escape_dotdot (void **state)
{
  struct fixture *f = *state;
  const char *names[] = { "../evil", "a/../../evil", "./a/b/../../../evil", "..", "x/.." };
  size_t i;

  for (i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    {
      struct tarb t;
      size_t len;
      cleanup_free char *tar = NULL;
      cleanup_free char *msg = xasprintf ("archive entry %s escapes the layer", names[i]);

      tar_begin (&t);
      tar_file (&t, "ok", "fine");
      tar_file (&t, names[i], "evil");
      tar = tar_end (&t, &len);
      expect_failure (f->dst, tar, len, msg);
    }
  assert_missing (f->fd, "evil");
}

static void
test_symlink_dir_stays_inside (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *canary = xasprintf ("%s/canary", f->path);
  cleanup_free char *passwd_before = read_text (AT_FDCWD, "/etc/passwd");
  cleanup_free char *passwd_after = NULL;
  /* Each tar makes a symlink and writes through it: refused, whatever the
     symlink points at, and nothing reaches the host.  */
  const char *cases[][3] = {
    { "link", "/etc", "link/passwd" }, { "host", NULL, "host/pwned" }, { "b", "../../../..", "b/chain" },
    { "up", "../canary", "up/rel" },   { "in", "sub", "in/x" },
  };
  size_t i;

  assert_int_equal (mkdirat (f->fd, "canary", 0755), 0);
  for (i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      husk_error_t err = NULL;
      struct husk_layer_apply_result res;
      cleanup_free char *tar = NULL;
      struct tarb t;
      size_t len;

      tar_begin (&t);
      tar_dir (&t, "sub/");
      tar_symlink (&t, cases[i][0], cases[i][1] ? cases[i][1] : canary);
      tar_file (&t, cases[i][2], "pwned");
      tar = tar_end (&t, &len);
      memset (&res, 0, sizeof (res));
      assert_true (apply_mem (f->dst, tar, len, 0, NULL, &res, &err) < 0);
      assert_non_null (strstr (err->msg, "symlink"));
      husk_error_release (&err);
      husk_layer_apply_result_clear (&res);
    }
  passwd_after = read_text (AT_FDCWD, "/etc/passwd");
  assert_string_equal (passwd_before, passwd_after);
  assert_missing (f->fd, "canary/pwned");
  assert_missing (f->fd, "canary/rel");
  assert_missing (f->fd, "chain");
}

static void
test_hardlink_escape (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *canary = xasprintf ("%s/outside", f->path);
  struct
  {
    const char *target;
    const char *needle;
  } cases[] = {
    { "../../outside", "escapes the layer" },
    { "escape/outside", "hardlink" },
    { "missing", "hardlink" },
    { "ok/../../outside", "escapes the layer" },
  };
  size_t i;

  {
    int fd = openat (f->fd, "outside", O_WRONLY | O_CREAT, 0644);
    assert_true (fd >= 0);
    close (fd);
  }
  for (i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      struct tarb t;
      size_t len;
      cleanup_free char *tar = NULL;
      struct stat st;

      tar_begin (&t);
      tar_symlink (&t, "escape", f->path);
      tar_dir (&t, "ok/");
      tar_hardlink (&t, "evil", cases[i].target);
      tar = tar_end (&t, &len);
      expect_failure (f->dst, tar, len, cases[i].needle);
      assert_int_equal (fstatat (f->fd, "outside", &st, 0), 0);
      assert_int_equal (st.st_nlink, 1);
    }
  (void)canary;
}

static void
test_whiteouts (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  struct husk_layer_apply_opts opts = { 0 };
  struct tarb t;
  size_t len;
  cleanup_free char *tar = NULL;
  struct stat st;
  char v[4] = { 0 };
  int pass;

  tar_begin (&t);
  tar_file (&t, "gone", "replaced by the whiteout");
  tar_dir (&t, "dir/");
  tar_file (&t, "dir/.wh..wh..opq", "");
  tar_file (&t, "dir/kept", "new");
  tar_file (&t, "dir/sub/.wh.old", "");
  tar_file (&t, ".wh.gone", "");
  tar_file (&t, ".wh..wh..opq", "");
  tar = tar_end (&t, &len);

  for (pass = 0; pass < 2; pass++)
    {
      const char *xattr = pass ? "user.overlay.opaque" : "trusted.overlay.opaque";
      int dst;

      opts.userxattr = pass;
      assert_int_equal (husk_rm_rf_at (f->fd, "layer", &err), 0);
      assert_int_equal (mkdirat (f->fd, "layer", 0755), 0);
      dst = openat (f->fd, "layer", O_RDONLY | O_DIRECTORY);
      if (apply_mem (dst, tar, len, 0, &opts, &res, &err) < 0)
        fail_msg ("%s", err->msg);
      husk_layer_apply_result_clear (&res);

      assert_int_equal (fstatat (dst, "gone", &st, AT_SYMLINK_NOFOLLOW), 0);
      assert_true (S_ISCHR (st.st_mode));
      assert_int_equal (st.st_rdev, makedev (0, 0));
      assert_int_equal (fstatat (dst, "dir/sub/old", &st, AT_SYMLINK_NOFOLLOW), 0);
      assert_true (S_ISCHR (st.st_mode));
      assert_missing (dst, "dir/.wh..wh..opq");
      assert_missing (dst, ".wh.gone");
      assert_text (dst, "dir/kept", "new");
      {
        cleanup_free char *p = xasprintf ("%s/layer/dir", f->path);
        cleanup_free char *r = xasprintf ("%s/layer", f->path);
        assert_int_equal (getxattr (p, xattr, v, sizeof (v)), 1);
        assert_int_equal (v[0], 'y');
        assert_int_equal (getxattr (r, xattr, v, sizeof (v)), 1);
        assert_int_equal (
            getxattr (p, pass ? "trusted.overlay.opaque" : "user.overlay.opaque", v, sizeof (v)), -1);
      }
      close (dst);
    }
}

static void
test_replace_and_xattrs (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  struct tarb t;
  size_t len;
  cleanup_free char *tar = NULL;
  struct archive_entry *e;
  struct stat st;
  char v[16] = { 0 };

  tar_begin (&t);
  tar_file (&t, "f2d", "file first");
  tar_dir (&t, "f2d/");
  tar_file (&t, "f2d/x", "x");
  tar_dir (&t, "d2f/");
  tar_file (&t, "d2f/x", "x");
  tar_file (&t, "d2f", "file now");
  tar_file (&t, "f2l", "file");
  tar_symlink (&t, "f2l", "target");
  tar_file (&t, "twice", "one");
  tar_file (&t, "twice", "two");
  /* Overlay attributes from an image are dropped, others kept.  */
  e = archive_entry_new ();
  archive_entry_set_pathname (e, "attrs");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, 0);
  archive_entry_xattr_add_entry (e, "user.note", "hello", 5);
  archive_entry_xattr_add_entry (e, "trusted.overlay.redirect", "/x", 2);
  assert_int_equal (archive_write_header (t.a, e), ARCHIVE_OK);
  archive_entry_free (e);
  tar = tar_end (&t, &len);

  if (apply_mem (f->dst, tar, len, 0, NULL, &res, &err) < 0)
    fail_msg ("%s", err->msg);
  husk_layer_apply_result_clear (&res);
  assert_text (f->dst, "f2d/x", "x");
  assert_text (f->dst, "d2f", "file now");
  assert_int_equal (fstatat (f->dst, "f2l", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISLNK (st.st_mode));
  assert_text (f->dst, "twice", "two");
  {
    cleanup_free char *p = xasprintf ("%s/layer/attrs", f->path);
    assert_int_equal (getxattr (p, "user.note", v, sizeof (v)), 5);
    assert_memory_equal (v, "hello", 5);
    assert_int_equal (getxattr (p, "trusted.overlay.redirect", v, sizeof (v)), -1);
  }
}

static void
test_max_size_and_drain (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  struct husk_layer_apply_opts opts = { 0 };
  size_t len;
  cleanup_free char *tar = sample_tar (&len);
  cleanup_free char *padded = xzalloc (len + 10240);
  cleanup_free char *want = NULL;

  /* libarchive reads ahead: make the cap trip well inside an entry.  */
  {
    struct tarb t;
    size_t blen;
    cleanup_free char *data = xmalloc (1024 * 1024 + 1);
    cleanup_free char *big = NULL;

    memset (data, 'x', 1024 * 1024);
    data[1024 * 1024] = '\0';
    tar_begin (&t);
    tar_file (&t, "first", "1");
    tar_file (&t, "big", data);
    big = tar_end (&t, &blen);
    opts.max_uncompressed = 512 * 1024;
    assert_true (apply_mem (f->dst, big, blen, 0, &opts, &res, &err) < 0);
  }
  assert_non_null (strstr (err->msg, "maximum uncompressed size"));
  if (strstr (err->msg, "archive entry") == NULL)
    fail_msg ("%s", err->msg);
  husk_error_release (&err);

  /* Bytes after the end-of-archive blocks still count in the digests.  */
  memcpy (padded, tar, len);
  want = husk_digest_buffer (padded, len + 10240);
  assert_int_equal (husk_rm_rf_at (f->fd, "layer", &err), 0);
  assert_int_equal (mkdirat (f->fd, "layer", 0755), 0);
  close (f->dst);
  f->dst = openat (f->fd, "layer", O_RDONLY | O_DIRECTORY);
  if (apply_mem (f->dst, padded, len + 10240, 0, NULL, &res, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_string_equal (res.diff_id, want);
  assert_int_equal (res.diff_size, len + 10240);
  husk_layer_apply_result_clear (&res);
}

static void
reset_dir (struct fixture *f, const char *name)
{
  husk_error_t err = NULL;

  assert_int_equal (husk_rm_rf_at (f->fd, name, &err), 0);
  assert_int_equal (mkdirat (f->fd, name, 0755), 0);
}

static char *
digest_dir_at (int dirfd, const char *name)
{
  husk_error_t err = NULL;
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY);
  char *id = NULL;
  uint64_t size = 0;

  assert_true (fd >= 0);
  if (husk_layer_digest_dir (fd, &id, &size, &err) < 0)
    fail_msg ("%s", err->msg);
  assert_true (size >= 1024);
  return id;
}

static void
test_diff_roundtrip (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  struct husk_layer_diff_result d;
  /* The last gzip pass uses zlib instead of ISA-L, both ways.  */
  enum husk_compression comps[]
      = { HUSK_COMPRESSION_NONE, HUSK_COMPRESSION_GZIP, HUSK_COMPRESSION_ZSTD, HUSK_COMPRESSION_GZIP };
  struct tarb t;
  size_t len, i;
  cleanup_free char *tar = NULL;
  cleanup_free char *id_a = NULL;
  cleanup_free char *longname = NULL;
  struct stat st;

  /* Every kind of entry, whiteouts, an opaque dir, a long name (a PAX
     header) and hardlinks.  */
  longname = xasprintf ("deep/%0150d", 7);
  tar_begin (&t);
  tar_add (&t, "./", AE_IFDIR, 0755, NULL, NULL, false);
  tar_file (&t, "a", "alpha");
  tar_hardlink (&t, "a-link", "a");
  tar_dir (&t, "dir/");
  tar_file (&t, "dir/.wh..wh..opq", "");
  tar_file (&t, "dir/.wh.removed", "");
  tar_file (&t, "dir/z", "zulu");
  tar_symlink (&t, "dir/l", "../a");
  tar_add (&t, "dev", AE_IFCHR, 0600, NULL, NULL, false);
  tar_file (&t, longname, "long");
  tar_file (&t,
            "dir/\xc3\xbc"
            "n\xc3\xaf"
            "c\xc3\xb6"
            "de",
            "utf-8 name");
  tar_file (&t, "dir/latin1-\xe9", "not utf-8");
  tar = tar_end (&t, &len);

  reset_dir (f, "A");
  {
    cleanup_close int fd = openat (f->fd, "A", O_RDONLY | O_DIRECTORY);
    if (apply_mem (fd, tar, len, 0, NULL, &res, &err) < 0)
      fail_msg ("%s", err->msg);
    husk_layer_apply_result_clear (&res);
  }
  id_a = digest_dir_at (f->fd, "A");
  {
    cleanup_free char *again = digest_dir_at (f->fd, "A");
    assert_string_equal (id_a, again);
  }

  /* Another process (another pid) gives the same bytes.  */
  {
    int p[2];
    char buf[128] = { 0 };
    pid_t pid;
    int status;

    assert_int_equal (pipe (p), 0);
    pid = fork ();
    if (pid == 0)
      {
        char *id = digest_dir_at (f->fd, "A");
        if (write (p[1], id, strlen (id)) < 0)
          _exit (1);
        _exit (0);
      }
    close (p[1]);
    assert_true (read (p[0], buf, sizeof (buf) - 1) > 0);
    close (p[0]);
    waitpid (pid, &status, 0);
    assert_string_equal (buf, id_a);
  }

  for (i = 0; i < sizeof (comps) / sizeof (comps[0]); i++)
    {
      cleanup_close int out = -1;
      cleanup_free char *blob = NULL;
      cleanup_free char *id_b = NULL;
      size_t blen;

      if (i == 3)
        setenv ("HUSK_NO_ISAL", "1", 1);
      reset_dir (f, "B");
      out = openat (f->fd, "out.tar", O_RDWR | O_CREAT | O_TRUNC, 0600);
      assert_true (out >= 0);
      {
        cleanup_close int a = openat (f->fd, "A", O_RDONLY | O_DIRECTORY);
        if (husk_layer_diff (a, out, comps[i], &d, &err) < 0)
          fail_msg ("%s", err->msg);
      }
      assert_string_equal (d.diff_id, id_a);
      blob = read_text (f->fd, "out.tar");
      assert_int_equal (fstat (out, &st), 0);
      blen = (size_t)st.st_size;
      assert_int_equal (d.size, blen);
      {
        cleanup_free char *want = husk_digest_buffer (blob, blen);
        assert_string_equal (d.digest, want);
      }
      if (comps[i] == HUSK_COMPRESSION_NONE)
        assert_string_equal (d.digest, d.diff_id);

      {
        cleanup_close int b = openat (f->fd, "B", O_RDONLY | O_DIRECTORY);
        if (apply_mem (b, blob, blen, 0, NULL, &res, &err) < 0)
          fail_msg ("%s", err->msg);
      }
      assert_int_equal (res.compression, comps[i]);
      assert_string_equal (res.diff_id, d.diff_id);
      assert_string_equal (res.blob_digest, d.digest);
      assert_int_equal (res.diff_size, d.diff_size);
      husk_layer_apply_result_clear (&res);
      husk_layer_diff_result_clear (&d);

      unsetenv ("HUSK_NO_ISAL");
      id_b = digest_dir_at (f->fd, "B");
      assert_string_equal (id_a, id_b);
      /* The whiteouts and the hardlink survived the trip.  */
      {
        cleanup_free char *p = xasprintf ("%s/B/dir", f->path);
        char v[2];
        struct stat s1, s2;
        assert_int_equal (getxattr (p, "trusted.overlay.opaque", v, sizeof (v)), 1);
        assert_int_equal (fstatat (f->fd, "B/dir/removed", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true (S_ISCHR (st.st_mode) && st.st_rdev == 0);
        assert_int_equal (fstatat (f->fd, "B/a", &s1, 0), 0);
        assert_int_equal (fstatat (f->fd, "B/a-link", &s2, 0), 0);
        assert_int_equal (s1.st_ino, s2.st_ino);
      }
      assert_text (f->fd,
                   "B/dir/\xc3\xbc"
                   "n\xc3\xaf"
                   "c\xc3\xb6"
                   "de",
                   "utf-8 name");
      assert_text (f->fd, "B/dir/latin1-\xe9", "not utf-8");
    }

  /* The same fd walked twice gives the same answer.  */
  {
    cleanup_close int a = openat (f->fd, "A", O_RDONLY | O_DIRECTORY);
    cleanup_free char *id1 = NULL;
    cleanup_free char *id2 = NULL;
    assert_int_equal (husk_layer_digest_dir (a, &id1, NULL, &err), 0);
    assert_int_equal (husk_layer_digest_dir (a, &id2, NULL, &err), 0);
    assert_string_equal (id1, id_a);
    assert_string_equal (id2, id_a);
  }

  /* A change shows in the diffID.  */
  {
    cleanup_free char *id_c = NULL;
    int fd = openat (f->fd, "A/a", O_WRONLY | O_APPEND);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "!", 1), 1);
    close (fd);
    id_c = digest_dir_at (f->fd, "A");
    assert_string_not_equal (id_a, id_c);
  }
}

static void
test_detect (void **state)
{
  const unsigned char gz[] = { 0x1f, 0x8b, 0x08, 0x00 };
  const unsigned char zs[] = { 0x28, 0xb5, 0x2f, 0xfd };
  const unsigned char tar[] = { 'e', 't', 'c', '/' };

  assert_int_equal (husk_compression_detect (gz, 4), HUSK_COMPRESSION_GZIP);
  assert_int_equal (husk_compression_detect (zs, 4), HUSK_COMPRESSION_ZSTD);
  assert_int_equal (husk_compression_detect (tar, 4), HUSK_COMPRESSION_NONE);
  assert_int_equal (husk_compression_detect (zs, 3), HUSK_COMPRESSION_NONE);
  assert_string_equal (husk_compression_name (HUSK_COMPRESSION_ZSTD), "zstd");
  assert_string_equal (husk_compression_name (HUSK_COMPRESSION_GZIP), "gzip");
  assert_string_equal (husk_compression_name (HUSK_COMPRESSION_NONE), "none");
}

static void
test_read_fd (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_layer_apply_result res;
  size_t len;
  cleanup_free char *tar = sample_tar (&len);
  int p[2];
  pid_t pid;
  int status;

  /* Through a pipe, as from curl or a decompressing child.  */
  assert_int_equal (pipe (p), 0);
  pid = fork ();
  if (pid == 0)
    {
      close (p[0]);
      _exit (husk_write_all (p[1], tar, len, &err) < 0);
    }
  close (p[1]);
  if (husk_layer_apply (husk_read_fd, &p[0], f->dst, NULL, &res, &err) < 0)
    fail_msg ("%s", err->msg);
  close (p[0]);
  waitpid (pid, &status, 0);
  check_sample (f->dst);
  assert_int_equal (res.diff_size, len);
  husk_layer_apply_result_clear (&res);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_detect),
    cmocka_unit_test_setup_teardown (test_apply_plain, setup, teardown),
    cmocka_unit_test_setup_teardown (test_apply_gzip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_apply_gzip_zlib, setup, teardown),
    cmocka_unit_test_setup_teardown (test_apply_zstd, setup, teardown),
    cmocka_unit_test_setup_teardown (test_apply_gzip_multimember, setup, teardown),
    cmocka_unit_test_setup_teardown (test_read_fd, setup, teardown),
    cmocka_unit_test_setup_teardown (test_truncated, setup, teardown),
    cmocka_unit_test_setup_teardown (test_escape_dotdot, setup, teardown),
    cmocka_unit_test_setup_teardown (test_symlink_dir_stays_inside, setup, teardown),
    cmocka_unit_test_setup_teardown (test_hardlink_escape, setup, teardown),
    cmocka_unit_test_setup_teardown (test_whiteouts, setup, teardown),
    cmocka_unit_test_setup_teardown (test_replace_and_xattrs, setup, teardown),
    cmocka_unit_test_setup_teardown (test_max_size_and_drain, setup, teardown),
    cmocka_unit_test_setup_teardown (test_diff_roundtrip, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
