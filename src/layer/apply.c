/* husk: extract a layer tar stream into a directory.
 *
 * libarchive only parses the tar headers; every file is created here with
 * *at calls relative to a parent directory resolved inside the target with
 * husk_mkdir_in_root (openat2 RESOLVE_IN_ROOT), so no entry, symlink or
 * hardlink in the stream can reach outside the layer (DESIGN.md section 7).
 * archive_write_disk is deliberately not used: its path checks are not ours.  */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "husk/fs.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "layer-internal.h"

#define READ_BUF_SIZE   (128 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* Directories get their mode and times last: a read-only directory must
   stay writable while its entries are extracted, and writing an entry
   changes its parent's mtime.  */
struct dir_meta
{
  char *path;
  mode_t mode;
  bool has_times;
  struct timespec times[2];
};

struct apply_ctx
{
  int root;
  const struct husk_layer_apply_opts *opts;
  struct layer_source src;
  struct archive *a;
  unsigned char *rbuf;

  /* The last parent directory resolved: consecutive entries usually share
     it.  Dropped whenever an existing entry is removed, since that may be
     a component of the cached path.  */
  char *parent_path;
  int parent_fd;

  struct dir_meta *dirs;
  size_t n_dirs, cap_dirs;
  uint64_t content_size;
};

static la_ssize_t
archive_read_cb (struct archive *a, void *data, const void **buff)
{
  struct apply_ctx *c = data;
  ssize_t n = layer_source_read (&c->src, c->rbuf, READ_BUF_SIZE);

  if (n < 0)
    {
      archive_set_error (a, EIO, "%s", c->src.err ? c->src.err->msg : "read error");
      return -1;
    }
  *buff = c->rbuf;
  return n;
}

/* Make an archive name relative and clean: no leading "/" or "./", no "."
   or empty components; ".." anywhere is refused rather than resolved, so
   no entry can name something outside the layer.  */
static int
normalize_name (const char *name, char **out, husk_error_t *err)
{
  struct husk_buf b = { 0 };
  const char *p = name;

  husk_buf_append (&b, "", 0);
  while (*p)
    {
      const char *end = strchrnul (p, '/');
      size_t len = (size_t)(end - p);

      if (len == 2 && p[0] == '.' && p[1] == '.')
        {
          husk_buf_free (&b);
          return husk_make_error (err, 0, "archive entry %s escapes the layer", name);
        }
      if (len > 0 && !(len == 1 && p[0] == '.'))
        {
          if (b.len > 0)
            husk_buf_append (&b, "/", 1);
          husk_buf_append (&b, p, len);
        }
      p = *end ? end + 1 : end;
    }
  *out = husk_buf_steal (&b, NULL);
  return 0;
}

/* Split a normalized path into a malloc'd parent ("" for the root) and a
   pointer to the last component.  */
static char *
split_path (const char *path, const char **base)
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL)
    {
      *base = path;
      return xstrdup ("");
    }
  *base = slash + 1;
  return xstrndup (path, (size_t)(slash - path));
}

static void
drop_parent_cache (struct apply_ctx *c)
{
  free (c->parent_path);
  c->parent_path = NULL;
  if (c->parent_fd >= 0)
    close (c->parent_fd);
  c->parent_fd = -1;
}

/* A tar that makes a symlink and then writes through it is the classic
   escape (x -> /, then x/etc/passwd).  Resolution in the root would keep
   it inside the layer, but no real layer does this: overlay upper dirs
   and docker diffs always name real paths.  So refuse it outright.  */
static int
refuse_symlink_parent (int root, const char *parent, husk_error_t *err)
{
  cleanup_free char *path = xstrdup (parent);
  char *p;
  struct stat st;

  for (p = path; *p; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (fstatat (root, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
        return husk_make_error (err, 0, "the path goes through the symlink %s, which the layer made", path);
      *p = '/';
    }
  if (*path && fstatat (root, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
    return husk_make_error (err, 0, "the path goes through the symlink %s, which the layer made", path);
  return 0;
}

/* A borrowed fd for the directory `parent`, created if missing.  */
static int
get_parent (struct apply_ctx *c, const char *parent, husk_error_t *err)
{
  int fd;

  if (c->parent_path && strcmp (c->parent_path, parent) == 0)
    return c->parent_fd;
  drop_parent_cache (c);
  if (refuse_symlink_parent (c->root, parent, err) < 0)
    return -1;
  fd = husk_mkdir_in_root (c->root, *parent ? parent : ".", 0755, err);
  if (fd < 0)
    return fd;
  c->parent_path = xstrdup (parent);
  c->parent_fd = fd;
  return fd;
}

static const char *
entry_name (struct archive_entry *e)
{
  const char *name = archive_entry_pathname (e);

  if (name == NULL)
    name = archive_entry_pathname_utf8 (e);
  return name;
}

static bool
is_overlay_xattr (const char *name)
{
  return husk_has_prefix (name, "trusted.overlay.") || husk_has_prefix (name, "user.overlay.");
}

/* Set an xattr on fd, or on parentfd/base when fd < 0 (never following a
   symlink: lsetxattr through the parent's /proc/self/fd entry).  */
static int
set_xattr (int fd, int parentfd, const char *base, const char *name, const void *value, size_t size)
{
  cleanup_free char *proc = NULL;

  if (fd >= 0)
    {
      if (fsetxattr (fd, name, value, size, 0) == 0)
        return 0;
      if (errno != EBADF)
        return -1;
      /* An O_PATH fd: go through its magic link.  */
      proc = xasprintf ("/proc/self/fd/%d", fd);
      return setxattr (proc, name, value, size, 0);
    }
  proc = xasprintf ("/proc/self/fd/%d/%s", parentfd, base);
  return lsetxattr (proc, name, value, size, 0);
}

static int
apply_xattrs (struct archive_entry *e, int fd, int parentfd, const char *base, const char *entry,
              husk_error_t *err)
{
  const char *name;
  const void *value;
  size_t size;

  if (archive_entry_xattr_reset (e) == 0)
    return 0;
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      /* Overlay's own attributes (opaque, redirect, metacopy...) in an image
         would change how the layers merge: only whiteout entries set them.  */
      if (is_overlay_xattr (name))
        {
          husk_debug ("%s: ignoring xattr %s", entry, name);
          continue;
        }
      if (set_xattr (fd, parentfd, base, name, value, size) == 0)
        continue;
      /* Like containers/storage: a filesystem or a user namespace that can't
         hold an attribute is not a reason to refuse the image.  */
      if (errno == ENOTSUP || errno == EPERM)
        {
          if (!husk_has_prefix (name, "security.") && !husk_has_prefix (name, "trusted."))
            husk_warn ("%s: xattr %s not set: %s", entry, name, strerror (errno));
          continue;
        }
      return husk_make_error (err, errno, "set xattr %s", name);
    }
  return 0;
}

static void
entry_times (struct archive_entry *e, struct timespec ts[2])
{
  ts[1].tv_sec = archive_entry_mtime (e);
  ts[1].tv_nsec = archive_entry_mtime_nsec (e);
  if (archive_entry_atime_is_set (e))
    {
      ts[0].tv_sec = archive_entry_atime (e);
      ts[0].tv_nsec = archive_entry_atime_nsec (e);
    }
  else
    ts[0] = ts[1];
}

/* True when id falls in one of the lines of a /proc/self/[ug]id_map.  */
static bool
id_mapped (const char *map, unsigned long id)
{
  cleanup_file FILE *f = fopen (map, "re");
  unsigned long inner, outer, count;

  if (f == NULL)
    return true;
  while (fscanf (f, "%lu %lu %lu", &inner, &outer, &count) == 3)
    if (id >= inner && id - inner < count)
      return true;
  return false;
}

/* A failed chown of entry.  In the rootless user namespace EINVAL means
   the id is outside the mapping: the user's subordinate range is smaller
   than the image needs, which the user can fix, so say how.  */
static int
chown_error (const char *entry, uid_t uid, gid_t gid, int errnum, husk_error_t *err)
{
  if (errnum == EINVAL && husk_userns_inside ())
    {
      bool by_uid = !id_mapped ("/proc/self/uid_map", uid);
      const char *file = by_uid ? "/etc/subuid" : "/etc/subgid";
      uid_t outer = husk_userns_outer_uid ();
      struct passwd *pw = getpwuid (outer);
      cleanup_free char *user = pw ? xstrdup (pw->pw_name) : xasprintf ("%lu", (unsigned long)outer);
      unsigned long start = 0, count = 0;
      husk_error_t e = NULL;

      if (husk_subid_range (file, outer, user, &start, &count, &e) < 0)
        husk_error_release (&e);
      return husk_make_error (err, 0,
                              "file %s in the layer is owned by %s %lu, which the user namespace cannot map "
                              "(the %s range of %s has %lu ids): add a larger range to %s",
                              entry, by_uid ? "uid" : "gid", by_uid ? (unsigned long)uid : (unsigned long)gid,
                              by_uid ? "subuid" : "subgid", user, count, file);
    }
  return husk_make_error (err, errnum, "chown to %lu:%lu", (unsigned long)uid, (unsigned long)gid);
}

/* Owner, mode, xattrs and times of a just-created non-directory entry; fd is
   an open fd for it or -1.  chown comes first: it clears set-id bits and
   security.capability.  */
static int
apply_metadata (struct apply_ctx *c, struct archive_entry *e, int fd, int parentfd, const char *base,
                const char *entry, husk_error_t *err)
{
  mode_t type = archive_entry_filetype (e);
  uid_t uid = (uid_t)archive_entry_uid (e);
  gid_t gid = (gid_t)archive_entry_gid (e);
  mode_t mode = archive_entry_perm (e) & 07777;
  int ret;

  if (!c->opts->no_chown)
    {
      ret = fd >= 0 ? fchown (fd, uid, gid) : fchownat (parentfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
      if (ret < 0)
        return chown_error (entry, uid, gid, errno, err);
    }
  if (type != AE_IFLNK)
    {
      ret = fd >= 0 ? fchmod (fd, mode) : fchmodat (parentfd, base, mode, 0);
      if (ret < 0)
        return husk_make_error (err, errno, "chmod");
    }
  ret = apply_xattrs (e, fd, parentfd, base, entry, err);
  if (ret < 0)
    return ret;
  if (archive_entry_mtime_is_set (e))
    {
      struct timespec ts[2];

      entry_times (e, ts);
      ret = fd >= 0 ? futimens (fd, ts) : utimensat (parentfd, base, ts, AT_SYMLINK_NOFOLLOW);
      if (ret < 0)
        return husk_make_error (err, errno, "set times");
    }
  return 0;
}

static int
write_file_data (struct apply_ctx *c, struct archive_entry *e, int fd, husk_error_t *err)
{
  int64_t end = 0;

  for (;;)
    {
      const void *buf;
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block (c->a, &buf, &size, &offset);

      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        {
          if (c->src.err)
            {
              *err = steal_pointer (&c->src.err);
              return -1;
            }
          return husk_make_error (err, archive_errno (c->a) > 0 ? archive_errno (c->a) : 0, "read data: %s",
                                  archive_error_string (c->a));
        }
      /* Sparse files come as blocks at offsets: holes stay holes.  */
      if (offset != end && lseek (fd, offset, SEEK_SET) < 0)
        return husk_make_error (err, errno, "seek");
      if (husk_write_all (fd, buf, size, err) < 0)
        return -1;
      end = offset + (int64_t)size;
    }
  if (archive_entry_size_is_set (e) && archive_entry_size (e) > end
      && ftruncate (fd, archive_entry_size (e)) < 0)
    return husk_make_error (err, errno, "truncate");
  c->content_size += archive_entry_size_is_set (e) ? (uint64_t)archive_entry_size (e) : (uint64_t)end;
  return 0;
}

static int
create_regular (struct apply_ctx *c, struct archive_entry *e, int parentfd, const char *base,
                const char *entry, husk_error_t *err)
{
  cleanup_close int fd = openat (parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  int ret;

  if (fd < 0)
    return husk_make_error (err, errno, "create");
  ret = write_file_data (c, e, fd, err);
  if (ret < 0)
    return ret;
  return apply_metadata (c, e, fd, parentfd, base, entry, err);
}

static void
remember_dir (struct apply_ctx *c, const char *path, struct archive_entry *e)
{
  struct dir_meta *d;

  if (c->n_dirs == c->cap_dirs)
    {
      c->cap_dirs = c->cap_dirs ? c->cap_dirs * 2 : 64;
      c->dirs = xrealloc (c->dirs, c->cap_dirs * sizeof (*c->dirs));
    }
  d = &c->dirs[c->n_dirs++];
  d->path = xstrdup (path);
  d->mode = archive_entry_perm (e) & 07777;
  d->has_times = archive_entry_mtime_is_set (e);
  if (d->has_times)
    entry_times (e, d->times);
}

/* A directory entry: create it (or keep the existing one, as tar does) and
   set owner and xattrs now, mode and times at the end.  */
static int
create_dir (struct apply_ctx *c, struct archive_entry *e, int parentfd, const char *base, const char *path,
            husk_error_t *err)
{
  cleanup_close int fd = -1;
  int ret;

  if (*path == '\0')
    fd = openat (c->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  else
    {
      if (mkdirat (parentfd, base, 0700) < 0 && errno != EEXIST)
        return husk_make_error (err, errno, "mkdir");
      fd = openat (parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
  if (fd < 0)
    return husk_make_error (err, errno, "open directory");
  if (!c->opts->no_chown && fchown (fd, (uid_t)archive_entry_uid (e), (gid_t)archive_entry_gid (e)) < 0)
    return chown_error (*path ? path : "/", (uid_t)archive_entry_uid (e), (gid_t)archive_entry_gid (e), errno,
                        err);
  ret = apply_xattrs (e, fd, -1, NULL, path, err);
  if (ret < 0)
    return ret;
  remember_dir (c, path, e);
  return 0;
}

static int
create_hardlink (struct apply_ctx *c, struct archive_entry *e, const char *link, int parentfd,
                 const char *base, husk_error_t *err)
{
  cleanup_free char *target = NULL;
  cleanup_free char *tparent = NULL;
  cleanup_close int tfd = -1;
  const char *tbase;
  int ret;

  ret = normalize_name (link, &target, err);
  if (ret < 0)
    return ret;
  if (*target == '\0')
    return husk_make_error (err, 0, "hardlink to the layer root");
  tparent = split_path (target, &tbase);
  /* The target's directory is resolved in the layer like any other path;
     linkat without AT_SYMLINK_FOLLOW never follows the last component.  */
  tfd = husk_open_in_root (c->root, *tparent ? tparent : ".", O_PATH | O_DIRECTORY, 0, err);
  if (tfd < 0)
    return husk_error_wrap (err, "hardlink target %s", link);
  if (linkat (tfd, tbase, parentfd, base, 0) < 0)
    return husk_make_error (err, errno, "hardlink to %s", link);
  return 0;
}

static int
create_special (struct apply_ctx *c, struct archive_entry *e, mode_t type, int parentfd, const char *base,
                const char *path, husk_error_t *err)
{
  int ret;

  switch (type)
    {
    case AE_IFLNK:
      {
        const char *target = archive_entry_symlink (e);
        if (target == NULL)
          target = archive_entry_symlink_utf8 (e);
        if (target == NULL)
          return husk_make_error (err, 0, "symlink without a target");
        /* The text is stored as is: it is only ever followed inside the
           layer (here) or inside the container's root (at run time).  */
        if (symlinkat (target, parentfd, base) < 0)
          return husk_make_error (err, errno, "symlink");
        break;
      }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      if (mknodat (parentfd, base, type | 0600, type == AE_IFIFO ? 0 : archive_entry_rdev (e)) < 0)
        {
          /* In a user namespace devices can't be made; the runtime
             provides /dev anyway, so go on like containers/storage.  */
          if (errno == EPERM && type != AE_IFIFO)
            {
              husk_debug ("%s: cannot create a device node here, skipped", path);
              return 0;
            }
          return husk_make_error (err, errno, "mknod");
        }
      break;
    default:
      return husk_make_error (err, 0, "unsupported file type 0%o", (unsigned)type);
    }
  ret = apply_metadata (c, e, -1, parentfd, base, path, err);
  return ret;
}

/* Remove what a later entry replaces; a directory replaced by a directory
   is kept (its content merges, as with tar).  */
static int
clear_existing (struct apply_ctx *c, int parentfd, const char *base, bool keep_dir, husk_error_t *err)
{
  struct stat st;

  if (fstatat (parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return husk_make_error (err, errno, "stat");
    }
  if (keep_dir && S_ISDIR (st.st_mode))
    return 0;
  if (S_ISDIR (st.st_mode) || S_ISLNK (st.st_mode))
    {
      /* It may be a component of the cached parent path: keep the fd
         valid until the removal, then forget it.  */
      int dup_fd = fcntl (parentfd, F_DUPFD_CLOEXEC, 0);
      int ret;

      if (dup_fd < 0)
        return husk_make_error (err, errno, "dup parent directory");
      drop_parent_cache (c);
      ret = husk_rm_rf_at (dup_fd, base, err);
      close (dup_fd);
      return ret;
    }
  if (unlinkat (parentfd, base, 0) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "remove existing entry");
  return 0;
}

/* ".wh..wh..opq" marks its directory opaque; ".wh.<name>" becomes the
   overlay whiteout for <name>: a 0:0 character device.  */
static int
apply_whiteout (struct apply_ctx *c, struct archive_entry *e, const char *parent, const char *base,
                husk_error_t *err)
{
  const char *name = base + strlen (WHITEOUT_PREFIX);
  int parentfd;
  int ret;

  parentfd = get_parent (c, parent, err);
  if (parentfd < 0)
    return parentfd;

  if (strcmp (base, WHITEOUT_OPAQUE) == 0)
    {
      const char *xattr = c->opts->userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque";
      if (set_xattr (parentfd, -1, NULL, xattr, "y", 1) < 0)
        return husk_make_error (err, errno, "set %s", xattr);
      return 0;
    }
  if (*name == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return husk_make_error (err, 0, "invalid whiteout name");

  ret = clear_existing (c, parentfd, name, false, err);
  if (ret < 0)
    return ret;
  parentfd = get_parent (c, parent, err);
  if (parentfd < 0)
    return parentfd;
  if (mknodat (parentfd, name, S_IFCHR, makedev (0, 0)) < 0)
    return husk_make_error (err, errno, "create whiteout");
  if (!c->opts->no_chown
      && fchownat (parentfd, name, (uid_t)archive_entry_uid (e), (gid_t)archive_entry_gid (e),
                   AT_SYMLINK_NOFOLLOW)
             < 0)
    {
      int errnum = errno;
      return chown_error (archive_entry_pathname (e), (uid_t)archive_entry_uid (e),
                          (gid_t)archive_entry_gid (e), errnum, err);
    }
  /* Its time too, or a diff of this layer would differ from the tar.  */
  if (archive_entry_mtime_is_set (e))
    {
      struct timespec ts[2];

      entry_times (e, ts);
      if (utimensat (parentfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return husk_make_error (err, errno, "set whiteout times");
    }
  return 0;
}

static int
apply_entry (struct apply_ctx *c, struct archive_entry *e, const char *path, husk_error_t *err)
{
  cleanup_free char *parent = NULL;
  const char *base;
  const char *link = archive_entry_hardlink (e);
  mode_t type = archive_entry_filetype (e);
  int parentfd;
  int ret;

  if (link == NULL)
    link = archive_entry_hardlink_utf8 (e);

  if (*path == '\0')
    {
      /* "./": the layer root itself.  Only a directory makes sense.  */
      if (type == AE_IFDIR && link == NULL)
        return create_dir (c, e, -1, NULL, path, err);
      return husk_make_error (err, 0, "not a directory");
    }

  parent = split_path (path, &base);
  if (husk_has_prefix (base, WHITEOUT_PREFIX))
    return apply_whiteout (c, e, parent, base, err);

  parentfd = get_parent (c, parent, err);
  if (parentfd < 0)
    return parentfd;
  ret = clear_existing (c, parentfd, base, type == AE_IFDIR && link == NULL, err);
  if (ret < 0)
    return ret;
  /* The removal may have dropped the cached fd.  */
  parentfd = get_parent (c, parent, err);
  if (parentfd < 0)
    return parentfd;

  if (link != NULL)
    return create_hardlink (c, e, link, parentfd, base, err);
  switch (type)
    {
    case AE_IFREG:
      return create_regular (c, e, parentfd, base, path, err);
    case AE_IFDIR:
      return create_dir (c, e, parentfd, base, path, err);
    case AE_IFSOCK:
      /* A socket in a tar is meaningless (tar itself skips them).  */
      return 0;
    default:
      return create_special (c, e, type, parentfd, base, path, err);
    }
}

/* Apply the remembered directory modes and times, deepest last is not
   needed: changing a directory's metadata does not touch its parent.  */
static int
finish_dirs (struct apply_ctx *c, husk_error_t *err)
{
  size_t i;

  for (i = 0; i < c->n_dirs; i++)
    {
      struct dir_meta *d = &c->dirs[i];
      cleanup_close int fd = -1;

      fd = husk_open_in_root (c->root, *d->path ? d->path : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, err);
      if (fd < 0)
        {
          int status = (*err)->status;
          /* Replaced by a later entry (a file, a whiteout...).  */
          if (status == ENOTDIR || status == ELOOP || status == ENOENT)
            {
              husk_error_release (err);
              continue;
            }
          return husk_error_wrap (err, "archive entry %s", d->path);
        }
      if (fchmod (fd, d->mode) < 0)
        return husk_make_error (err, errno, "archive entry %s: chmod", d->path);
      if (d->has_times && futimens (fd, d->times) < 0)
        return husk_make_error (err, errno, "archive entry %s: set times", d->path);
    }
  return 0;
}

static void
apply_ctx_fini (struct apply_ctx *c)
{
  size_t i;

  if (c->a)
    archive_read_free (c->a);
  drop_parent_cache (c);
  for (i = 0; i < c->n_dirs; i++)
    free (c->dirs[i].path);
  free (c->dirs);
  free (c->rbuf);
  layer_source_fini (&c->src);
}

static int
source_or_archive_error (struct apply_ctx *c, husk_error_t *err)
{
  if (c->src.err)
    {
      *err = steal_pointer (&c->src.err);
      return -1;
    }
  return husk_make_error (err, 0, "%s",
                          archive_error_string (c->a) ? archive_error_string (c->a) : "tar error");
}

static int
extract_all (struct apply_ctx *c, husk_error_t *err)
{
  cleanup_free char *prev = NULL;

  for (;;)
    {
      struct archive_entry *e;
      cleanup_free char *path = NULL;
      const char *name;
      int r = archive_read_next_header (c->a, &e);
      int ret;

      if (r == ARCHIVE_EOF)
        return 0;
      if (r < ARCHIVE_WARN)
        {
          source_or_archive_error (c, err);
          if (prev)
            return husk_error_wrap (err, "read tar header after archive entry %s", prev);
          return husk_error_wrap (err, "read tar header");
        }
      name = entry_name (e);
      if (name == NULL)
        return husk_make_error (err, 0, "archive entry without a name");
      ret = normalize_name (name, &path, err);
      if (ret < 0)
        return ret;
      ret = apply_entry (c, e, path, err);
      if (ret < 0)
        return husk_error_wrap (err, "archive entry %s", name);
      free (prev);
      prev = xstrdup (name);
    }
}

int
husk_layer_apply (husk_read_fn read, void *ctx, int target_dirfd, const struct husk_layer_apply_opts *opts,
                  struct husk_layer_apply_result *res, husk_error_t *err)
{
  static const struct husk_layer_apply_opts default_opts = { 0 };
  struct apply_ctx c = { 0 };
  int ret;

  memset (res, 0, sizeof (*res));
  c.root = target_dirfd;
  c.opts = opts ? opts : &default_opts;
  c.parent_fd = -1;
  c.rbuf = xmalloc (READ_BUF_SIZE);

  ret = layer_source_init (&c.src, read, ctx, c.opts->max_uncompressed, err);
  if (ret < 0)
    goto out;

  c.a = archive_read_new ();
  if (c.a == NULL)
    husk_oom ();
  /* Tar only: compression is ours, and no other format may sneak in.  */
  archive_read_support_format_tar (c.a);
  archive_read_support_format_gnutar (c.a);
  if (archive_read_open (c.a, &c, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
    {
      ret = source_or_archive_error (&c, err);
      husk_error_wrap (err, "open tar stream");
      goto out;
    }

  ret = extract_all (&c, err);
  if (ret == 0)
    ret = finish_dirs (&c, err);
  if (ret == 0)
    ret = layer_source_drain (&c.src, err);
  if (ret < 0)
    goto out;

  res->blob_digest = husk_digester_final (c.src.blob);
  res->blob_size = c.src.blob_size;
  res->diff_id = husk_digester_final (c.src.diff);
  res->diff_size = c.src.diff_size;
  res->content_size = c.content_size;
  res->compression = c.src.compression;

out:
  apply_ctx_fini (&c);
  if (ret < 0)
    return husk_error_wrap (err, "apply layer");
  return 0;
}

void
husk_layer_apply_result_clear (struct husk_layer_apply_result *r)
{
  free (r->blob_digest);
  free (r->diff_id);
  memset (r, 0, sizeof (*r));
}
