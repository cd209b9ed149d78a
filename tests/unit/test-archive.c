/* Unit tests for archives and import (src/image/archive-*.c, import.c):
   round trips through a temporary store, and bad archives that must fail
   cleanly, leaving no image and no stage behind.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"

struct fixture
{
  char *dir;
  husk_store_t *s;  /* the source store */
  husk_store_t *s2; /* a second store to load into */
};

static husk_store_t *
open_store (const char *dir, const char *name)
{
  cleanup_free char *root = xasprintf ("%s/%s-root", dir, name);
  cleanup_free char *run = xasprintf ("%s/%s-run", dir, name);
  struct husk_store_opts opts = { .root = root, .runroot = run };
  husk_error_t err = NULL;
  husk_store_t *s = NULL;

  if (husk_store_open (&opts, &s, &err) < 0)
    fail_msg ("open store: %s", err->msg);
  return s;
}

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));
  char tmpl[] = "/tmp/husk-test-archive-XXXXXX";

  assert_non_null (mkdtemp (tmpl));
  f->dir = xstrdup (tmpl);
  f->s = open_store (f->dir, "a");
  f->s2 = open_store (f->dir, "b");
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  husk_store_close (f->s);
  husk_store_close (f->s2);
  if (husk_rm_rf_at (AT_FDCWD, f->dir, &err) < 0)
    husk_error_release (&err);
  free (f->dir);
  free (f);
  return 0;
}

/* ---- building tars ---- */

struct file
{
  const char *name;
  const char *data; /* NULL: a directory */
  size_t len;       /* 0: strlen (data) */
};

/* A tar of the files, in memory; gzip compressed if asked.  */
static char *
make_tar (const struct file *files, size_t n, bool gzip, size_t *len)
{
  struct archive *a = archive_write_new ();
  size_t cap = 1024 * 1024 + 64 * 1024, used = 0;
  char *buf = xmalloc (cap);

  archive_write_set_format_pax_restricted (a);
  if (gzip)
    archive_write_add_filter_gzip (a);
  archive_write_set_bytes_in_last_block (a, 1);
  assert_int_equal (archive_write_open_memory (a, buf, cap, &used), ARCHIVE_OK);
  for (size_t i = 0; i < n; i++)
    {
      struct archive_entry *e = archive_entry_new ();
      size_t l = files[i].data ? (files[i].len ? files[i].len : strlen (files[i].data)) : 0;
      archive_entry_set_pathname (e, files[i].name);
      archive_entry_set_filetype (e, files[i].data ? AE_IFREG : AE_IFDIR);
      archive_entry_set_perm (e, files[i].data ? 0644 : 0755);
      archive_entry_set_size (e, (la_int64_t)l);
      archive_entry_set_mtime (e, 1700000000, 0);
      assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
      if (l)
        assert_int_equal (archive_write_data (a, files[i].data, l), (la_ssize_t)l);
      archive_entry_free (e);
    }
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  *len = used;
  return buf;
}

static int
temp_fd (const struct fixture *f, const void *data, size_t len)
{
  cleanup_free char *path = xasprintf ("%s/tmp-XXXXXX", f->dir);
  int fd = mkstemp (path);
  husk_error_t err = NULL;

  assert_true (fd >= 0);
  unlink (path);
  if (len && husk_write_all (fd, data, len, &err) < 0)
    fail_msg ("write: %s", err->msg);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return fd;
}

/* An image imported from a small rootfs; returns its id.  */
static char *
import_image (struct fixture *f, husk_store_t *s, const char *content, const char *name, char *const *changes)
{
  const struct file files[] = {
    { "etc", NULL, 0 },
    { "etc/hostname", content, 0 },
    { "bin", NULL, 0 },
    { "bin/tool", "#!/bin/sh\necho tool\n", 0 },
  };
  size_t len;
  cleanup_free char *tar = make_tar (files, 4, false, &len);
  cleanup_close int fd = temp_fd (f, tar, len);
  char *names[] = { (char *)name, NULL };
  husk_error_t err = NULL;
  char *id = NULL;

  if (husk_image_import (s, fd, changes, "test import", name ? names : NULL, &id, &err) < 0)
    fail_msg ("import: %s", err->msg);
  assert_int_equal (strlen (id), 64);
  return id;
}

/* ---- reading what was saved ---- */

struct entry
{
  char *name;
  char *data;
  size_t len;
};

static void
entries_free (struct entry *e, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (e[i].name);
      free (e[i].data);
    }
  free (e);
}

static struct entry *
read_entries (int fd, size_t *n)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *ae;
  struct entry *out = NULL;

  *n = 0;
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  archive_read_support_format_tar (a);
  archive_read_support_filter_all (a);
  assert_int_equal (archive_read_open_fd (a, fd, 65536), ARCHIVE_OK);
  while (archive_read_next_header (a, &ae) == ARCHIVE_OK)
    {
      struct husk_buf b = { 0 };
      char chunk[65536];
      la_ssize_t r;
      out = xrealloc (out, (*n + 1) * sizeof (*out));
      while ((r = archive_read_data (a, chunk, sizeof (chunk))) > 0)
        husk_buf_append (&b, chunk, r);
      husk_buf_append (&b, "", 0);
      out[*n].name = xstrdup (archive_entry_pathname (ae));
      out[*n].data = husk_buf_steal (&b, &out[*n].len);
      (*n)++;
    }
  archive_read_free (a);
  return out;
}

static struct entry *
find_entry (struct entry *e, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (e[i].name, name) == 0)
      return &e[i];
  return NULL;
}

static int
save_to_fd (struct fixture *f, husk_store_t *s, const struct husk_archive_image *imgs, size_t n,
            enum husk_archive_format fmt)
{
  int fd = temp_fd (f, NULL, 0);
  husk_error_t err = NULL;

  if (husk_archive_save (s, imgs, n, fmt, fd, &err) < 0)
    fail_msg ("save: %s", err->msg);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return fd;
}

struct loaded
{
  char **ids;
  char **names; /* "id name" pairs, flattened */
};

static void
on_loaded (void *ctx, const char *id, char *const *names)
{
  struct loaded *l = ctx;

  strv_append (&l->ids, id);
  for (; names && *names; names++)
    {
      char *pair = xasprintf ("%s %s", id, *names);
      strv_append_take (&l->names, pair);
    }
}

static void
loaded_clear (struct loaded *l)
{
  strv_free (l->ids);
  strv_free (l->names);
  l->ids = l->names = NULL;
}

static size_t
image_count (husk_store_t *s)
{
  struct husk_image_record *const *imgs;
  husk_error_t err = NULL;
  size_t n;

  assert_int_equal (husk_store_lock (s, false, &err), 0);
  if (husk_store_images (s, &imgs, &n, &err) < 0)
    fail_msg ("images: %s", err->msg);
  husk_store_unlock (s);
  return n;
}

/* Count leftover stages (".stage-*" under layers/).  */
static size_t
stage_count (husk_store_t *s)
{
  cleanup_free char *path = xasprintf ("%s/layers", husk_store_root (s));
  DIR *d = opendir (path);
  struct dirent *de;
  size_t n = 0;

  if (d == NULL)
    return 0;
  while ((de = readdir (d)))
    if (husk_has_prefix (de->d_name, ".stage"))
      n++;
  closedir (d);
  return n;
}

static struct husk_image_record *
find_image (husk_store_t *s, const char *key)
{
  struct husk_image_record *r = NULL;
  husk_error_t err = NULL;
  int ret;

  assert_int_equal (husk_store_lock (s, false, &err), 0);
  ret = husk_store_image_find (s, key, &r, &err);
  husk_store_unlock (s);
  if (ret < 0)
    fail_msg ("find: %s", err->msg);
  return ret ? r : NULL;
}

/* ---- tests ---- */

static void
test_import (void **state)
{
  struct fixture *f = *state;
  char *changes[] = { (char *)"CMD [\"/bin/tool\"]", (char *)"ENV A=b", NULL };
  cleanup_free char *id = import_image (f, f->s, "one\n", "foo", changes);
  struct husk_image_record *r = find_image (f->s, "localhost/foo:latest");
  cleanup_free char *cfg = NULL;
  cleanup_json husk_json_t *j = NULL;
  cleanup_free char *layer = NULL;
  cleanup_free char *hostname = NULL;
  cleanup_free char *path = NULL;
  husk_error_t err = NULL;
  size_t len;

  assert_non_null (r);
  assert_string_equal (r->id, id);
  assert_int_equal (strv_len (r->layers), 1);
  assert_int_equal (husk_store_lock (f->s, false, &err), 0);
  assert_int_equal (husk_store_image_config (f->s, id, &cfg, &len, &err), 0);
  husk_store_unlock (f->s);
  j = husk_json_parse (cfg, len, &err);
  assert_non_null (j);
  assert_string_equal (
      husk_json_string (husk_json_array_at (husk_json_get_path (j, "config", "Cmd", NULL), 0)), "/bin/tool");
  assert_string_equal (
      husk_json_string (husk_json_array_at (husk_json_get_path (j, "config", "Env", NULL), 0)), "A=b");
  assert_string_equal (
      husk_json_string (husk_json_array_at (husk_json_get_path (j, "rootfs", "diff_ids", NULL), 0)),
      r->layers[0]);
  assert_string_equal (husk_json_get_string (husk_json_array_at (husk_json_get (j, "history"), 0), "comment"),
                       "test import");
  layer = husk_store_layer_path (f->s, r->layers[0]);
  path = xasprintf ("%s/etc/hostname", layer);
  assert_int_equal (husk_read_file_at (AT_FDCWD, path, 0, &hostname, &len, &err), 0);
  assert_string_equal (hostname, "one\n");
  assert_int_equal (stage_count (f->s), 0);
}

static void
test_import_bad_change (void **state)
{
  struct fixture *f = *state;
  char *changes[] = { (char *)"BOGUS x", NULL };
  char *names[] = { (char *)"x", NULL };
  cleanup_close int fd = temp_fd (f, "", 0);
  husk_error_t err = NULL;
  char *id = NULL;

  assert_true (husk_image_import (f->s, fd, changes, NULL, names, &id, &err) < 0);
  assert_string_equal (err->msg, "invalid change \"BOGUS x\": unknown instruction BOGUS");
  husk_error_release (&err);
  assert_int_equal (image_count (f->s), 0);
  assert_int_equal (stage_count (f->s), 0);
}

static void
test_docker_roundtrip (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = import_image (f, f->s, "rt\n", "rt", NULL);
  char *names[] = { (char *)"localhost/rt:latest", (char *)"localhost/rt:v2", NULL };
  struct husk_archive_image img = { .id = id, .names = names };
  cleanup_close int fd = save_to_fd (f, f->s, &img, 1, HUSK_ARCHIVE_DOCKER);
  struct loaded l = { 0 };
  struct husk_image_record *r;
  struct entry *e, *m;
  cleanup_json husk_json_t *manifest = NULL;
  husk_error_t err = NULL;
  size_t n;

  /* The layout docker save writes.  */
  e = read_entries (fd, &n);
  m = find_entry (e, n, "manifest.json");
  assert_non_null (m);
  manifest = husk_json_parse (m->data, m->len, &err);
  assert_non_null (manifest);
  {
    husk_json_t *m0 = husk_json_array_at (manifest, 0);
    const char *cfg = husk_json_get_string (m0, "Config");
    const char *layer = husk_json_string (husk_json_array_at (husk_json_get (m0, "Layers"), 0));
    assert_non_null (find_entry (e, n, cfg));
    assert_non_null (find_entry (e, n, layer));
    assert_true (husk_has_suffix (layer, "/layer.tar"));
    assert_true (husk_has_suffix (cfg, ".json"));
    assert_string_equal (husk_json_string (husk_json_array_at (husk_json_get (m0, "RepoTags"), 0)),
                         "localhost/rt:latest");
    assert_string_equal (husk_json_string (husk_json_array_at (husk_json_get (m0, "RepoTags"), 1)),
                         "localhost/rt:v2");
  }
  assert_non_null (find_entry (e, n, "repositories"));
  entries_free (e, n);

  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  if (husk_archive_load (f->s2, fd, on_loaded, &l, &err) < 0)
    fail_msg ("load: %s", err->msg);
  assert_int_equal (strv_len (l.ids), 1);
  r = find_image (f->s2, "localhost/rt:v2");
  assert_non_null (r);
  assert_string_equal (r->id, l.ids[0]);
  /* The layer tar was rebuilt byte for byte from its tar-split.  */
  assert_string_equal (l.ids[0], id);
  assert_true (strv_contains (r->names, "localhost/rt:latest"));
  assert_int_equal (stage_count (f->s2), 0);

  /* Saving what was loaded gives the same image id back: husk's own
     layers regenerate byte for byte.  */
  {
    struct husk_archive_image img2 = { .id = l.ids[0], .names = names };
    cleanup_close int fd2 = save_to_fd (f, f->s2, &img2, 1, HUSK_ARCHIVE_DOCKER);
    cleanup_free char *first = xstrdup (l.ids[0]);
    loaded_clear (&l);
    if (husk_archive_load (f->s, fd2, on_loaded, &l, &err) < 0)
      fail_msg ("reload: %s", err->msg);
    assert_string_equal (l.ids[0], first);
  }
  loaded_clear (&l);
}

static void
test_oci_roundtrip (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = import_image (f, f->s, "oci\n", "oci", NULL);
  char *names[] = { (char *)"localhost/oci:latest", (char *)"quay.io/x/oci:1", NULL };
  struct husk_archive_image img = { .id = id, .names = names };
  cleanup_close int fd = save_to_fd (f, f->s, &img, 1, HUSK_ARCHIVE_OCI);
  struct loaded l = { 0 };
  struct entry *e, *idx;
  cleanup_json husk_json_t *index = NULL;
  husk_error_t err = NULL;
  size_t n;

  e = read_entries (fd, &n);
  assert_non_null (find_entry (e, n, "oci-layout"));
  idx = find_entry (e, n, "index.json");
  assert_non_null (idx);
  index = husk_json_parse (idx->data, idx->len, &err);
  assert_int_equal (husk_json_array_len (husk_json_get (index, "manifests")), 2);
  assert_string_equal (
      husk_json_get_string (
          husk_json_get (husk_json_array_at (husk_json_get (index, "manifests"), 1), "annotations"),
          "org.opencontainers.image.ref.name"),
      "quay.io/x/oci:1");
  entries_free (e, n);

  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  if (husk_archive_load (f->s2, fd, on_loaded, &l, &err) < 0)
    fail_msg ("load: %s", err->msg);
  assert_int_equal (strv_len (l.ids), 1);
  assert_int_equal (strv_len (l.names), 2);
  assert_non_null (find_image (f->s2, "quay.io/x/oci:1"));
  assert_non_null (find_image (f->s2, "localhost/oci:latest"));
  assert_int_equal (stage_count (f->s2), 0);
  loaded_clear (&l);
}

static void
test_shared_layer_written_once (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *a = import_image (f, f->s, "same\n", "a", NULL);
  char *changes[] = { (char *)"CMD [\"x\"]", NULL };
  cleanup_free char *b = import_image (f, f->s, "same\n", "b", changes);
  char *na[] = { (char *)"localhost/a:latest", NULL };
  char *nb[] = { (char *)"localhost/b:latest", NULL };
  struct husk_archive_image imgs[] = { { .id = a, .names = na }, { .id = b, .names = nb } };
  struct loaded l = { 0 };
  husk_error_t err = NULL;
  size_t n, layers = 0;

  assert_string_not_equal (a, b);
  for (int fmt = HUSK_ARCHIVE_DOCKER; fmt <= HUSK_ARCHIVE_OCI; fmt++)
    {
      cleanup_close int fd = save_to_fd (f, f->s, imgs, 2, fmt);
      struct entry *e = read_entries (fd, &n);
      layers = 0;
      for (size_t i = 0; i < n; i++)
        if (husk_has_suffix (e[i].name, "/layer.tar"))
          layers++;
      entries_free (e, n);
      if (fmt == HUSK_ARCHIVE_DOCKER)
        assert_int_equal (layers, 1);

      assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
      if (husk_archive_load (f->s2, fd, on_loaded, &l, &err) < 0)
        fail_msg ("load: %s", err->msg);
      assert_int_equal (strv_len (l.ids), 2);
      loaded_clear (&l);
    }
  assert_int_equal (image_count (f->s2), 2);
  assert_int_equal (stage_count (f->s2), 0);
}

static void
test_gzip_archive (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = import_image (f, f->s, "gz\n", "gz", NULL);
  char *names[] = { (char *)"localhost/gz:latest", NULL };
  struct husk_archive_image img = { .id = id, .names = names };
  cleanup_close int fd = save_to_fd (f, f->s, &img, 1, HUSK_ARCHIVE_DOCKER);
  struct entry *e;
  struct file *files;
  cleanup_free char *gz = NULL;
  cleanup_close int gzfd = -1;
  struct loaded l = { 0 };
  husk_error_t err = NULL;
  size_t n, len;

  e = read_entries (fd, &n);
  files = xzalloc (n * sizeof (*files));
  for (size_t i = 0; i < n; i++)
    files[i] = (struct file){ e[i].name, e[i].data, e[i].len };
  gz = make_tar (files, n, true, &len);
  free (files);
  entries_free (e, n);
  gzfd = temp_fd (f, gz, len);
  if (husk_archive_load (f->s2, gzfd, on_loaded, &l, &err) < 0)
    fail_msg ("load: %s", err->msg);
  assert_non_null (find_image (f->s2, "localhost/gz:latest"));
  loaded_clear (&l);
}

/* Load a hand-made archive that must fail with a message containing want.  */
static void
expect_load_error (struct fixture *f, const struct file *files, size_t n, const char *want)
{
  size_t len;
  cleanup_free char *tar = make_tar (files, n, false, &len);
  cleanup_close int fd = temp_fd (f, tar, len);
  husk_error_t err = NULL;

  if (husk_archive_load (f->s2, fd, NULL, NULL, &err) == 0)
    fail_msg ("load should fail with \"%s\"", want);
  if (strstr (err->msg, want) == NULL)
    fail_msg ("expected \"%s\" in \"%s\"", want, err->msg);
  husk_error_release (&err);
  assert_int_equal (image_count (f->s2), 0);
  assert_int_equal (stage_count (f->s2), 0);
}

/* A valid docker-archive by hand: one layer; config diff_ids as given.  */
static void
docker_archive_files_gz (struct file *files, char **bufs, const char *config_diff_id, const char *layer_path,
                         bool gzip)
{
  const struct file lf[] = { { "dir", NULL, 0 }, { "dir/hello", "world\n", 0 }, { "empty", "", 0 } };
  size_t llen, plain_len;
  cleanup_free char *plain = make_tar (lf, 3, false, &plain_len);
  char *layer = make_tar (lf, 3, gzip, &llen);
  char *diff_id = husk_digest_buffer (plain, plain_len);
  char *config = xasprintf ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                            "\"diff_ids\":[\"%s\"]}}",
                            config_diff_id ? config_diff_id : diff_id);
  char *manifest = xasprintf ("[{\"Config\":\"cfg.json\",\"RepoTags\":[\"hand:made\"],\"Layers\":[\"%s\"]}]",
                              layer_path);

  files[0] = (struct file){ "l1/layer.tar", layer, llen };
  files[1] = (struct file){ "cfg.json", config, 0 };
  files[2] = (struct file){ "manifest.json", manifest, 0 };
  bufs[0] = layer;
  bufs[1] = config;
  bufs[2] = manifest;
  bufs[3] = diff_id;
}

static void
docker_archive_files (struct file *files, char **bufs, const char *config_diff_id, const char *layer_path)
{
  docker_archive_files_gz (files, bufs, config_diff_id, layer_path, false);
}

static void
free_bufs (char **bufs)
{
  for (int i = 0; i < 4; i++)
    free (bufs[i]);
}

static void
test_handmade_docker (void **state)
{
  struct fixture *f = *state;

  for (int gzip = 0; gzip <= 1; gzip++)
    {
      struct file files[3];
      char *bufs[4];
      size_t len, n;
      cleanup_free char *tar = NULL;
      cleanup_close int fd = -1;
      struct loaded l = { 0 };
      husk_error_t err = NULL;
      cleanup_free char *want_id = NULL;

      docker_archive_files_gz (files, bufs, NULL, "l1/layer.tar", gzip);
      want_id = husk_digest_buffer (bufs[1], strlen (bufs[1]));
      tar = make_tar (files, 3, false, &len);
      fd = temp_fd (f, tar, len);
      if (husk_archive_load (f->s2, fd, on_loaded, &l, &err) < 0)
        fail_msg ("load: %s", err->msg);
      assert_int_equal (strv_len (l.names), 1);
      assert_true (husk_has_suffix (l.names[0], " localhost/hand:made"));
      assert_string_equal (l.ids[0], husk_digest_hex (want_id));

      /* Saved again: the same config, and the layer as it was uncompressed.  */
      {
        char *names[] = { (char *)"localhost/hand:made", NULL };
        struct husk_archive_image img = { .id = l.ids[0], .names = names };
        cleanup_close int out = save_to_fd (f, f->s2, &img, 1, HUSK_ARCHIVE_DOCKER);
        struct entry *e = read_entries (out, &n);
        cleanup_free char *cfgname = xasprintf ("%s.json", husk_digest_hex (want_id));
        cleanup_free char *layername = xasprintf ("%s/layer.tar", husk_digest_hex (bufs[3]));
        assert_non_null (find_entry (e, n, cfgname));
        assert_non_null (find_entry (e, n, layername));
        entries_free (e, n);
      }
      loaded_clear (&l);
      free_bufs (bufs);
    }
}

static void
test_errors (void **state)
{
  struct fixture *f = *state;
  struct file files[4];
  char *bufs[4];

  /* A layer whose diffID is not the config's.  */
  docker_archive_files (
      files, bufs, "sha256:0000000000000000000000000000000000000000000000000000000000000000", "l1/layer.tar");
  expect_load_error (f, files, 3, "layer l1/layer.tar digest mismatch: expected sha256:0000");
  free_bufs (bufs);

  /* A manifest naming a layer that is not there.  */
  docker_archive_files (files, bufs, NULL, "nothere/layer.tar");
  expect_load_error (f, files, 3, "layer nothere/layer.tar is missing from the archive");
  free_bufs (bufs);

  /* An entry escaping the archive.  */
  docker_archive_files (files, bufs, NULL, "l1/layer.tar");
  files[3] = (struct file){ "../evil", "x", 0 };
  expect_load_error (f, files, 4, "archive entry \"../evil\" refers outside the archive");
  free_bufs (bufs);

  /* No manifest at all.  */
  {
    const struct file only[] = { { "hello.txt", "hi", 0 } };
    expect_load_error (f, only, 1, "has no manifest.json or index.json");
  }
}

static void
test_oci_errors (void **state)
{
  struct fixture *f = *state;
  const struct file lf[] = { { "hello", "world\n", 0 } };
  size_t llen;
  cleanup_free char *layer = make_tar (lf, 1, false, &llen);
  cleanup_free char *diff_id = husk_digest_buffer (layer, llen);
  cleanup_free char *config
      = xasprintf ("{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", diff_id);
  cleanup_free char *cfg_digest = husk_digest_buffer (config, strlen (config));
  const char *fake = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

  for (int variant = 0; variant < 3; variant++)
    {
      const char *layer_digest = variant >= 1 ? fake : diff_id;
      cleanup_free char *manifest = xasprintf ("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":"
                                               "1},\"layers\":[{\"digest\":\"%s\",\"size\":1}]}",
                                               cfg_digest, layer_digest);
      cleanup_free char *m_digest = husk_digest_buffer (manifest, strlen (manifest));
      cleanup_free char *index
          = xasprintf ("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"annotations\":{"
                       "\"org.opencontainers.image.ref.name\":\"example.com/oci:1\"}}]}",
                       m_digest);
      cleanup_free char *cfg_path = xasprintf ("blobs/sha256/%s", husk_digest_hex (cfg_digest));
      cleanup_free char *m_path = xasprintf ("blobs/sha256/%s", husk_digest_hex (m_digest));
      /* Variant 2: the layer is stored under a name that is not its digest.  */
      cleanup_free char *l_path
          = xasprintf ("blobs/sha256/%s", husk_digest_hex (variant == 2 ? fake : diff_id));
      struct file files[] = {
        { "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 0 },
        { "index.json", index, 0 },
        { cfg_path, config, 0 },
        { m_path, manifest, 0 },
        { l_path, layer, llen },
      };

      if (variant == 0)
        {
          size_t len;
          cleanup_free char *tar = make_tar (files, 5, false, &len);
          cleanup_close int fd = temp_fd (f, tar, len);
          husk_error_t err = NULL;
          struct loaded l = { 0 };
          if (husk_archive_load (f->s2, fd, on_loaded, &l, &err) < 0)
            fail_msg ("load: %s", err->msg);
          assert_non_null (find_image (f->s2, "example.com/oci:1"));
          loaded_clear (&l);
          /* Remove it so the error variants start from an empty store.  */
          {
            cleanup_free char *loaded_id = xstrdup (find_image (f->s2, "example.com/oci:1")->id);
            assert_int_equal (husk_store_lock (f->s2, true, &err), 0);
            if (husk_store_image_remove (f->s2, loaded_id, &err) < 0)
              fail_msg ("remove: %s", err->msg);
            husk_store_unlock (f->s2);
          }
        }
      else if (variant == 1)
        {
          cleanup_free char *want = xasprintf ("layer %s is missing from the archive", fake);
          expect_load_error (f, files, 5, want);
        }
      else
        {
          cleanup_free char *want
              = xasprintf ("layer %s digest mismatch: expected %s, got %s", fake, fake, diff_id);
          expect_load_error (f, files, 5, want);
        }
    }
}

static void
test_truncated (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = import_image (f, f->s, "trunc\n", "trunc", NULL);
  char *names[] = { (char *)"localhost/trunc:latest", NULL };
  struct husk_archive_image img = { .id = id, .names = names };
  cleanup_close int fd = save_to_fd (f, f->s, &img, 1, HUSK_ARCHIVE_DOCKER);
  cleanup_free char *data = NULL;
  cleanup_close int cut = -1;
  husk_error_t err = NULL;
  size_t len;

  assert_int_equal (husk_read_all_fd (fd, 0, &data, &len, &err), 0);
  /* Cut inside the layer: the first entries are the layer's directory and tar.  */
  cut = temp_fd (f, data, 1536 + 100);
  assert_true (husk_archive_load (f->s2, cut, NULL, NULL, &err) < 0);
  assert_non_null (strstr (err->msg, "truncated or corrupt"));
  husk_error_release (&err);
  assert_int_equal (image_count (f->s2), 0);
  assert_int_equal (stage_count (f->s2), 0);

  /* Garbage is not an archive.  */
  {
    cleanup_close int junk = temp_fd (f, "this is not a tar archive at all, not even close", 48);
    assert_true (husk_archive_load (f->s2, junk, NULL, NULL, &err) < 0);
    husk_error_release (&err);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_import, setup, teardown),
    cmocka_unit_test_setup_teardown (test_import_bad_change, setup, teardown),
    cmocka_unit_test_setup_teardown (test_docker_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_oci_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_shared_layer_written_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_gzip_archive, setup, teardown),
    cmocka_unit_test_setup_teardown (test_handmade_docker, setup, teardown),
    cmocka_unit_test_setup_teardown (test_errors, setup, teardown),
    cmocka_unit_test_setup_teardown (test_oci_errors, setup, teardown),
    cmocka_unit_test_setup_teardown (test_truncated, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
