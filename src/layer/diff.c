/* husk: a layer directory (or an overlay upper directory) to a tar stream.
 *
 * The walk is openat-relative and never follows symlinks; names are sorted
 * and only stable metadata is written (no atime/ctime, no user or group
 * names), so the same tree always gives the same diffID.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "husk/fs.h"
#include "husk/util.h"
#include "layer-internal.h"

#define COPY_BUF_SIZE (128 * 1024)

/* (dev, ino) -> first path written, for files with several links.  */
struct link_entry
{
  dev_t dev;
  ino_t ino;
  char *path;
};

struct diff_ctx
{
  struct archive *a;
  struct layer_sink sink;
  struct link_entry *links; /* open addressing, size a power of two */
  size_t n_links, cap_links;
  char *buf;
  char *const *skip; /* paths left out with everything under them */
};

static size_t
link_hash (dev_t dev, ino_t ino)
{
  uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)dev * 0xc2b2ae3d27d4eb4fULL);
  return (size_t)(h ^ (h >> 29));
}

static struct link_entry *
link_slot (struct link_entry *tab, size_t cap, dev_t dev, ino_t ino)
{
  size_t i = link_hash (dev, ino) & (cap - 1);

  while (tab[i].path != NULL && !(tab[i].dev == dev && tab[i].ino == ino))
    i = (i + 1) & (cap - 1);
  return &tab[i];
}

/* The path this inode was first written as, or NULL after recording path.  */
static const char *
link_lookup_or_add (struct diff_ctx *c, const struct stat *st, const char *path)
{
  struct link_entry *slot;

  if (c->cap_links == 0 || (c->n_links + 1) * 2 > c->cap_links)
    {
      size_t cap = c->cap_links ? c->cap_links * 2 : 64;
      struct link_entry *tab = xzalloc (cap * sizeof (*tab));
      size_t i;

      for (i = 0; i < c->cap_links; i++)
        if (c->links[i].path)
          *link_slot (tab, cap, c->links[i].dev, c->links[i].ino) = c->links[i];
      free (c->links);
      c->links = tab;
      c->cap_links = cap;
    }
  slot = link_slot (c->links, c->cap_links, st->st_dev, st->st_ino);
  if (slot->path)
    return slot->path;
  slot->dev = st->st_dev;
  slot->ino = st->st_ino;
  slot->path = xstrdup (path);
  c->n_links++;
  return NULL;
}

static la_ssize_t
archive_write_cb (struct archive *a, void *data, const void *buf, size_t len)
{
  struct diff_ctx *c = data;

  if (layer_sink_write (&c->sink, buf, len) < 0)
    {
      archive_set_error (a, EIO, "%s", c->sink.err ? c->sink.err->msg : "write error");
      return -1;
    }
  return (la_ssize_t)len;
}

static int
archive_fail (struct diff_ctx *c, const char *path, husk_error_t *err)
{
  if (c->sink.err)
    {
      *err = steal_pointer (&c->sink.err);
      return husk_error_wrap (err, "%s", path);
    }
  return husk_make_error (err, 0, "%s: %s", path, archive_error_string (c->a));
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the directory fd (without "." and "..").  */
static int
list_dir (int fd, const char *path, char ***out, husk_error_t *err)
{
  cleanup_dir DIR *dir = NULL;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  /* A new open file description: a dup would share (and move) the
     caller's directory offset.  */
  int fd2 = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd2 < 0)
    return husk_make_error (err, errno, "open %s", path);
  dir = fdopendir (fd2);
  if (dir == NULL)
    {
      close (fd2);
      return husk_make_error (err, errno, "opendir %s", path);
    }
  while ((errno = 0, de = readdir (dir)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (n + 2 > cap)
        {
          cap = cap ? cap * 2 : 32;
          names = xrealloc (names, cap * sizeof (char *));
        }
      names[n++] = xstrdup (de->d_name);
    }
  if (errno)
    {
      int saved = errno;
      if (names)
        names[n] = NULL;
      strv_free (names);
      return husk_make_error (err, saved, "readdir %s", path);
    }
  if (names == NULL)
    names = xzalloc (sizeof (char *));
  names[n] = NULL;
  qsort (names, n, sizeof (char *), cmp_names);
  *out = names;
  return 0;
}

/* Read the xattrs of fd (or of parentfd/name when fd < 0) into the entry,
   sorted by name; overlay's own attributes are left out and an opaque
   marker reported through *opaque.  */
static int
read_xattrs (int fd, int parentfd, const char *name, struct archive_entry *e, bool *opaque, husk_error_t *err)
{
  cleanup_free char *proc = NULL;
  cleanup_free char *list = NULL;
  cleanup_free char **names = NULL;
  ssize_t len;
  size_t n = 0, i;
  char *p;

  *opaque = false;
  if (fd < 0)
    proc = xasprintf ("/proc/self/fd/%d/%s", parentfd, name);
  len = fd >= 0 ? flistxattr (fd, NULL, 0) : llistxattr (proc, NULL, 0);
  if (len < 0 && (errno == ENOTSUP || errno == EPERM))
    return 0;
  if (len < 0)
    return husk_make_error (err, errno, "list xattrs");
  if (len == 0)
    return 0;
  list = xmalloc ((size_t)len);
  len = fd >= 0 ? flistxattr (fd, list, (size_t)len) : llistxattr (proc, list, (size_t)len);
  if (len < 0)
    return husk_make_error (err, errno, "list xattrs");

  for (p = list; p < list + len; p += strlen (p) + 1)
    n++;
  names = xmalloc ((n + 1) * sizeof (char *));
  n = 0;
  for (p = list; p < list + len; p += strlen (p) + 1)
    names[n++] = p;
  qsort (names, n, sizeof (char *), cmp_names);

  for (i = 0; i < n; i++)
    {
      cleanup_free char *value = NULL;
      ssize_t vlen;

      if (husk_has_prefix (names[i], "trusted.overlay.") || husk_has_prefix (names[i], "user.overlay."))
        {
          if (husk_has_suffix (names[i], ".overlay.opaque"))
            {
              char v[2] = { 0 };
              ssize_t r = fd >= 0 ? fgetxattr (fd, names[i], v, 1) : lgetxattr (proc, names[i], v, 1);
              if (r == 1 && v[0] == 'y')
                *opaque = true;
            }
          continue;
        }
      vlen = fd >= 0 ? fgetxattr (fd, names[i], NULL, 0) : lgetxattr (proc, names[i], NULL, 0);
      if (vlen < 0)
        {
          if (errno == ENODATA)
            continue;
          return husk_make_error (err, errno, "read xattr %s", names[i]);
        }
      value = xmalloc ((size_t)vlen + 1);
      vlen = fd >= 0 ? fgetxattr (fd, names[i], value, (size_t)vlen)
                     : lgetxattr (proc, names[i], value, (size_t)vlen);
      if (vlen < 0)
        return husk_make_error (err, errno, "read xattr %s", names[i]);
      archive_entry_xattr_add_entry (e, names[i], value, (size_t)vlen);
    }
  return 0;
}

/* A header from stat data with only the stable fields.  */
static struct archive_entry *
entry_from_stat (const char *path, const struct stat *st)
{
  struct archive_entry *e = archive_entry_new ();

  if (e == NULL)
    husk_oom ();
  archive_entry_copy_pathname (e, path);
  archive_entry_set_filetype (e, st->st_mode & S_IFMT);
  archive_entry_set_perm (e, st->st_mode & 07777);
  archive_entry_set_uid (e, st->st_uid);
  archive_entry_set_gid (e, st->st_gid);
  archive_entry_set_mtime (e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
  archive_entry_set_size (e, 0);
  return e;
}

/* An empty regular file marker: ".wh.<name>" or ".wh..wh..opq".  */
static int
write_marker (struct diff_ctx *c, const char *path, const struct stat *st, mode_t perm, husk_error_t *err)
{
  struct archive_entry *e = entry_from_stat (path, st);
  int r;

  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, perm);
  r = archive_write_header (c->a, e);
  archive_entry_free (e);
  if (r < ARCHIVE_WARN)
    return archive_fail (c, path, err);
  return 0;
}

/* Exactly st_size bytes, whatever happens to the file meanwhile, so the
   header stays true.  */
static int
write_file_data (struct diff_ctx *c, int fd, const char *path, off_t size, husk_error_t *err)
{
  off_t done = 0;

  while (done < size)
    {
      size_t want = (size_t)(size - done) < COPY_BUF_SIZE ? (size_t)(size - done) : COPY_BUF_SIZE;
      ssize_t n = read (fd, c->buf, want);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return husk_make_error (err, errno, "read %s", path);
      if (n == 0)
        {
          /* The file shrank: pad with zeros.  */
          memset (c->buf, 0, want);
          n = (ssize_t)want;
        }
      if (archive_write_data (c->a, c->buf, (size_t)n) < 0)
        return archive_fail (c, path, err);
      done += n;
    }
  return 0;
}

static int walk_dir (struct diff_ctx *c, int dirfd, const char *prefix, husk_error_t *err);

static int
write_one (struct diff_ctx *c, int dirfd, const char *name, const char *prefix, husk_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *target = NULL;
  cleanup_close int fd = -1;
  struct archive_entry *e = NULL;
  struct stat st;
  bool opaque = false;
  int ret = 0;

  path = xasprintf ("%s%s", prefix, name);
  if (c->skip != NULL && strv_contains (c->skip, path))
    return 0;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return husk_make_error (err, errno, "stat %s", path);

  if (S_ISSOCK (st.st_mode))
    return 0;
  if (S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0))
    {
      cleanup_free char *wh = xasprintf ("%s.wh.%s", prefix, name);
      return write_marker (c, wh, &st, 0600, err);
    }

  if (S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
    {
      fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR (st.st_mode) ? O_DIRECTORY : 0));
      if (fd < 0)
        return husk_make_error (err, errno, "open %s", path);
    }

  e = entry_from_stat (path, &st);
  if (S_ISDIR (st.st_mode))
    {
      cleanup_free char *slashed = xasprintf ("%s/", path);
      archive_entry_copy_pathname (e, slashed);
    }
  else if (st.st_nlink > 1)
    {
      const char *first = link_lookup_or_add (c, &st, path);
      if (first)
        archive_entry_copy_hardlink (e, first);
    }

  if (S_ISLNK (st.st_mode))
    {
      size_t size = (size_t)st.st_size + 1;
      ssize_t n;

      for (;;)
        {
          target = xmalloc (size);
          n = readlinkat (dirfd, name, target, size);
          if (n < 0)
            {
              ret = husk_make_error (err, errno, "readlink %s", path);
              goto out;
            }
          if ((size_t)n < size)
            break;
          free (target);
          size *= 2;
        }
      target[n] = '\0';
      archive_entry_copy_symlink (e, target);
    }
  else if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    archive_entry_set_rdev (e, st.st_rdev);
  else if (S_ISREG (st.st_mode) && archive_entry_hardlink (e) == NULL)
    archive_entry_set_size (e, st.st_size);

  ret = read_xattrs (fd, dirfd, name, e, &opaque, err);
  if (ret < 0)
    {
      husk_error_wrap (err, "%s", path);
      goto out;
    }

  if (archive_write_header (c->a, e) < ARCHIVE_WARN)
    {
      ret = archive_fail (c, path, err);
      goto out;
    }
  if (S_ISREG (st.st_mode) && archive_entry_hardlink (e) == NULL)
    ret = write_file_data (c, fd, path, st.st_size, err);
  else if (S_ISDIR (st.st_mode))
    {
      cleanup_free char *sub = xasprintf ("%s/", path);
      cleanup_free char *opq = xasprintf ("%s.wh..wh..opq", sub);

      /* Right after its directory, before the new content it hides for.  */
      if (opaque)
        ret = write_marker (c, opq, &st, st.st_mode & 07777, err);
      if (ret == 0)
        ret = walk_dir (c, fd, sub, err);
    }

out:
  archive_entry_free (e);
  return ret;
}

static int
walk_dir (struct diff_ctx *c, int dirfd, const char *prefix, husk_error_t *err)
{
  cleanup_strv char **names = NULL;
  size_t i;
  int ret;

  ret = list_dir (dirfd, *prefix ? prefix : ".", &names, err);
  if (ret < 0)
    return ret;
  for (i = 0; names[i]; i++)
    {
      ret = write_one (c, dirfd, names[i], prefix, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

static void
diff_ctx_fini (struct diff_ctx *c)
{
  size_t i;

  if (c->a)
    archive_write_free (c->a);
  for (i = 0; i < c->cap_links; i++)
    free (c->links[i].path);
  free (c->links);
  free (c->buf);
  layer_sink_fini (&c->sink);
}

/* Write the tree as tar into a sink; fills the sink's digests.  */
static int
diff_to_sink (int dirfd, int out_fd, enum husk_compression compression, struct diff_ctx *c, husk_error_t *err)
{
  int ret;

  ret = layer_sink_init (&c->sink, out_fd, compression, err);
  if (ret < 0)
    return ret;
  c->buf = xmalloc (COPY_BUF_SIZE);
  c->a = archive_write_new ();
  if (c->a == NULL)
    husk_oom ();
  archive_write_set_format_pax_restricted (c->a);
  /* Block the output for fewer callbacks, but don't pad the end: the tar is
   * just its records and the two zero blocks, like Docker's.  */
  archive_write_set_bytes_per_block (c->a, 64 * 1024);
  archive_write_set_bytes_in_last_block (c->a, 1);
  if (archive_write_open (c->a, c, NULL, archive_write_cb, NULL) != ARCHIVE_OK)
    return archive_fail (c, "tar", err);

  ret = walk_dir (c, dirfd, "", err);
  if (ret < 0)
    return ret;
  if (archive_write_close (c->a) != ARCHIVE_OK)
    return archive_fail (c, "tar", err);
  return layer_sink_finish (&c->sink, err);
}

int
husk_layer_diff (int dirfd, int out_fd, enum husk_compression compression, struct husk_layer_diff_result *res,
                 husk_error_t *err)
{
  return husk_layer_diff_skip (dirfd, NULL, out_fd, compression, res, err);
}

int
husk_layer_diff_skip (int dirfd, char *const *skip, int out_fd, enum husk_compression compression,
                      struct husk_layer_diff_result *res, husk_error_t *err)
{
  struct diff_ctx c = { .skip = skip };
  int ret;

  memset (res, 0, sizeof (*res));
  ret = diff_to_sink (dirfd, out_fd, compression, &c, err);
  if (ret == 0)
    {
      res->digest = husk_digester_final (c.sink.out);
      res->size = c.sink.out_size;
      res->diff_id = husk_digester_final (c.sink.diff);
      res->diff_size = c.sink.diff_size;
    }
  diff_ctx_fini (&c);
  if (ret < 0)
    return husk_error_wrap (err, "write layer tar");
  return 0;
}

int
husk_layer_digest_dir (int dirfd, char **diff_id, uint64_t *diff_size, husk_error_t *err)
{
  struct diff_ctx c = { 0 };
  int ret;

  ret = diff_to_sink (dirfd, -1, HUSK_COMPRESSION_NONE, &c, err);
  if (ret == 0)
    {
      *diff_id = husk_digester_final (c.sink.diff);
      if (diff_size)
        *diff_size = c.sink.diff_size;
    }
  diff_ctx_fini (&c);
  if (ret < 0)
    return husk_error_wrap (err, "digest layer");
  return 0;
}

void
husk_layer_diff_result_clear (struct husk_layer_diff_result *r)
{
  free (r->digest);
  free (r->diff_id);
  memset (r, 0, sizeof (*r));
}
