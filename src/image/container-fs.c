/* husk: a container's files for cp, diff and export (DESIGN.md section 7).

   Every path on the container's side is resolved inside a root directory
   fd: the starting point with openat2 (RESOLVE_IN_ROOT |
   RESOLVE_NO_MAGICLINKS, husk_open_in_root), everything below it with
   openat (O_NOFOLLOW) relative to the parent's fd, so a symlink the
   container swaps in while we walk can only fail the walk, never lead out
   of the root.  Tar streams carry the files between the two sides, as
   Docker does: the same code serves `cp` with and without "-".  User and
   group names are never looked up (no NSS): numeric ids only.  */
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
#include <linux/openat2.h>
#include <sys/syscall.h>

#include "husk/fs.h"
#include "husk/image.h"
#include "husk/util.h"

#define COPY_BUF_SIZE (256 * 1024)

/* "a/b" + "c" -> "a/b/c"; "" + "c" -> "c".  */
static char *
join (const char *a, const char *b)
{
  if (a == NULL || *a == '\0')
    return xstrdup (b);
  if (*b == '\0')
    return xstrdup (a);
  return xasprintf ("%s%s%s", a, a[strlen (a) - 1] == '/' ? "" : "/", b);
}

int
husk_fs_stat_in_root (int rootfd, const char *path, bool follow, struct stat *st, husk_error_t *err)
{
  cleanup_close int fd = -1;

  /* A NULL err returns -errno: the caller words "no such file".  */
  fd = husk_open_in_root (rootfd, path, O_PATH | (follow ? 0 : O_NOFOLLOW), 0, NULL);
  if (fd < 0)
    return husk_make_error (err, -fd, "%s", path);
  if (fstat (fd, st) < 0)
    return husk_make_error (err, errno, "stat `%s`", path);
  return 0;
}

/* ---- diff ---- */

static bool
is_whiteout (const struct stat *st)
{
  return S_ISCHR (st->st_mode) && st->st_rdev == makedev (0, 0);
}

static bool
is_opaque (int dfd)
{
  char v[2];

  if (fgetxattr (dfd, "trusted.overlay.opaque", v, sizeof (v)) == 1 && v[0] == 'y')
    return true;
  return fgetxattr (dfd, "user.overlay.opaque", v, sizeof (v)) == 1 && v[0] == 'y';
}

struct changes
{
  struct husk_fs_change *v;
  size_t n, cap;
};

static void
change_add (struct changes *c, char *path, char kind)
{
  if (c->n == c->cap)
    {
      c->cap = c->cap ? c->cap * 2 : 64;
      c->v = xrealloc (c->v, c->cap * sizeof (*c->v));
    }
  c->v[c->n].path = path;
  c->v[c->n].kind = kind;
  c->n++;
}

/* One directory of the upper dir: dfd, its path ("/etc"), and the fds of
   the same directory in each lower that has it (-1 otherwise), topmost
   first.  */
static int
changes_walk (int dfd, const char *path, const int *lowers, size_t n_lowers, struct changes *c,
              husk_error_t *err)
{
  char **names = NULL;
  size_t n = 0, i, j;
  int ret;

  ret = husk_list_dir_sorted (dfd, &names, &n, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < n && ret == 0; i++)
    {
      struct stat st;
      bool in_lower = false;
      char *p;

      if (fstatat (dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          ret = husk_make_error (err, errno, "stat `%s/%s`", path, names[i]);
          break;
        }
      p = xasprintf ("%s/%s", path, names[i]);
      if (is_whiteout (&st))
        {
          change_add (c, p, 'D');
          continue;
        }
      for (j = 0; j < n_lowers && !in_lower; j++)
        {
          struct stat lst;
          if (lowers[j] >= 0 && fstatat (lowers[j], names[i], &lst, AT_SYMLINK_NOFOLLOW) == 0)
            in_lower = !is_whiteout (&lst);
        }
      change_add (c, p, in_lower ? 'C' : 'A');
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int sub = openat (dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          cleanup_free int *sublowers = NULL;
          bool opaque;

          if (sub < 0)
            {
              ret = husk_make_error (err, errno, "open `%s`", p);
              break;
            }
          opaque = is_opaque (sub);
          sublowers = xmalloc ((n_lowers ? n_lowers : 1) * sizeof (int));
          for (j = 0; j < n_lowers; j++)
            {
              sublowers[j] = -1;
              if (!opaque && lowers[j] >= 0)
                sublowers[j] = openat (lowers[j], names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            }
          ret = changes_walk (sub, p, sublowers, n_lowers, c, err);
          for (j = 0; j < n_lowers; j++)
            if (sublowers[j] >= 0)
              close (sublowers[j]);
        }
    }
  strv_free (names);
  return ret;
}

static int
cmp_change (const void *a, const void *b)
{
  return strcmp (((const struct husk_fs_change *)a)->path, ((const struct husk_fs_change *)b)->path);
}

int
husk_fs_changes (int upperfd, char *const *lower_dirs, struct husk_fs_change **out, size_t *n_out,
                 husk_error_t *err)
{
  struct changes c = { 0 };
  size_t n_lowers = strv_len (lower_dirs), i;
  cleanup_free int *lowers = xmalloc ((n_lowers ? n_lowers : 1) * sizeof (int));
  int ret;

  /* Topmost first: the order does not change the answer, only the cost.  */
  for (i = 0; i < n_lowers; i++)
    lowers[i] = open (lower_dirs[n_lowers - 1 - i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ret = changes_walk (upperfd, "", lowers, n_lowers, &c, err);
  for (i = 0; i < n_lowers; i++)
    if (lowers[i] >= 0)
      close (lowers[i]);
  if (ret < 0)
    {
      husk_fs_changes_free (c.v, c.n);
      return ret;
    }
  if (c.n > 1)
    qsort (c.v, c.n, sizeof (*c.v), cmp_change);
  *out = c.v;
  *n_out = c.n;
  return 0;
}

void
husk_fs_changes_free (struct husk_fs_change *c, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (c[i].path);
  free (c);
}

/* ---- tar out ---- */

struct link_rec
{
  dev_t dev;
  ino_t ino;
  char *name;
};

struct tar_out
{
  struct archive *a;
  char *buf;
  struct link_rec *links;
  size_t n_links, cap_links;
  const char *const *skip; /* top-level names left out (export) */
};

static int
archive_fail (struct archive *a, husk_error_t *err, const char *what)
{
  int e = archive_errno (a);
  return husk_make_error (err, e > 0 ? e : EIO, "%s: %s", what, archive_error_string (a) ?: "tar error");
}

static const char *
link_find_or_add (struct tar_out *t, const struct stat *st, const char *name)
{
  for (size_t i = 0; i < t->n_links; i++)
    if (t->links[i].dev == st->st_dev && t->links[i].ino == st->st_ino)
      return t->links[i].name;
  if (t->n_links == t->cap_links)
    {
      t->cap_links = t->cap_links ? t->cap_links * 2 : 16;
      t->links = xrealloc (t->links, t->cap_links * sizeof (*t->links));
    }
  t->links[t->n_links++] = (struct link_rec){ st->st_dev, st->st_ino, xstrdup (name) };
  return NULL;
}

static void
entry_xattrs (struct archive_entry *e, int fd)
{
  cleanup_free char *list = NULL;
  ssize_t len = flistxattr (fd, NULL, 0);
  char *k;

  if (len <= 0)
    return;
  list = xmalloc (len);
  len = flistxattr (fd, list, len);
  for (k = list; len > 0 && k < list + len; k += strlen (k) + 1)
    {
      char val[4096];
      ssize_t vl;
      /* security.capability and user.* travel; overlay's own do not.  */
      if (strncmp (k, "trusted.", 8) == 0 || strncmp (k, "user.overlay.", 13) == 0
          || strcmp (k, "security.selinux") == 0)
        continue;
      vl = fgetxattr (fd, k, val, sizeof (val));
      if (vl >= 0)
        archive_entry_xattr_add_entry (e, k, val, vl);
    }
}

/* openat, or when base is NULL a reopen of parentfd itself (an O_PATH fd
   of a file reached by -L).  */
static int
reopen_at (int parentfd, const char *base, int flags)
{
  if (base == NULL)
    {
      cleanup_free char *proc = xasprintf ("/proc/self/fd/%d", parentfd);
      return open (proc, flags & ~O_NOFOLLOW);
    }
  return openat (parentfd, base, flags);
}

/* Write the entry NAME for the file NAME_IN_PARENT of parentfd (already
   lstat'ed into *st), then its children.  */
static int
tar_out_entry (struct tar_out *t, int parentfd, const char *base, const struct stat *st, const char *name,
               husk_error_t *err)
{
  struct archive_entry *e;
  cleanup_close int fd = -1;
  int ret = 0;

  if (S_ISDIR (st->st_mode))
    fd = reopen_at (parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  else if (S_ISREG (st->st_mode))
    fd = reopen_at (parentfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if ((S_ISDIR (st->st_mode) || S_ISREG (st->st_mode)) && fd < 0)
    {
      if (errno == ENOENT)
        return 0; /* removed since we listed it */
      return husk_make_error (err, errno, "open `%s`", name);
    }
  if (fd >= 0)
    {
      struct stat now;
      /* Swapped between the stat and the open: the file is not what it was.  */
      if (fstat (fd, &now) < 0 || (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT))
        return husk_make_error (err, EAGAIN, "`%s` changed while it was copied", name);
    }

  e = archive_entry_new ();
  if (*name != '\0')
    {
      cleanup_free char *n = S_ISDIR (st->st_mode) ? xasprintf ("%s/", name) : xstrdup (name);
      archive_entry_copy_pathname (e, n);
      archive_entry_copy_stat (e, st);
      archive_entry_unset_atime (e);
      archive_entry_set_ctime (e, 0, 0);
      archive_entry_set_ctime (e, 0, 0);
      if (S_ISLNK (st->st_mode))
        {
          cleanup_free char *target = xmalloc (st->st_size + 2);
          ssize_t l = readlinkat (parentfd, base, target, st->st_size + 1);
          if (l < 0)
            {
              archive_entry_free (e);
              return husk_make_error (err, errno, "readlink `%s`", name);
            }
          target[l] = '\0';
          archive_entry_copy_symlink (e, target);
          archive_entry_set_size (e, 0);
        }
      else if (!S_ISDIR (st->st_mode) && st->st_nlink > 1)
        {
          const char *first = link_find_or_add (t, st, name);
          if (first != NULL)
            {
              archive_entry_copy_hardlink (e, first);
              archive_entry_set_size (e, 0);
              fd = (close (fd), -1);
            }
        }
      if (!S_ISREG (st->st_mode))
        archive_entry_set_size (e, 0);
      if (fd >= 0)
        entry_xattrs (e, fd);
      if (archive_write_header (t->a, e) < ARCHIVE_OK)
        {
          ret = archive_fail (t->a, err, name);
          archive_entry_free (e);
          return ret;
        }
      if (S_ISREG (st->st_mode) && fd >= 0)
        {
          int64_t left = st->st_size;
          while (left > 0)
            {
              ssize_t r = read (fd, t->buf, left < COPY_BUF_SIZE ? left : COPY_BUF_SIZE);
              if (r < 0 && errno == EINTR)
                continue;
              if (r < 0)
                {
                  ret = husk_make_error (err, errno, "read `%s`", name);
                  break;
                }
              if (r == 0)
                {
                  /* Shrunk while we copied: pad with zeros to the size we announced.  */
                  memset (t->buf, 0, COPY_BUF_SIZE);
                  r = left < COPY_BUF_SIZE ? left : COPY_BUF_SIZE;
                }
              if (archive_write_data (t->a, t->buf, r) < 0)
                {
                  ret = archive_fail (t->a, err, name);
                  break;
                }
              left -= r;
            }
        }
    }
  archive_entry_free (e);
  if (ret < 0)
    return ret;

  if (S_ISDIR (st->st_mode))
    {
      char **names = NULL;
      size_t n = 0, i;

      ret = husk_list_dir_sorted (fd, &names, &n, err);
      if (ret < 0)
        return ret;
      for (i = 0; i < n && ret == 0; i++)
        {
          struct stat cst;
          cleanup_free char *cname = NULL;

          if (*name == '\0' && t->skip != NULL)
            {
              bool skip = false;
              for (const char *const *s = t->skip; *s && !skip; s++)
                skip = strcmp (*s, names[i]) == 0;
              if (skip)
                continue;
            }
          if (fstatat (fd, names[i], &cst, AT_SYMLINK_NOFOLLOW) < 0)
            {
              if (errno == ENOENT)
                continue;
              ret = husk_make_error (err, errno, "stat `%s/%s`", name, names[i]);
              break;
            }
          cname = join (name, names[i]);
          ret = tar_out_entry (t, fd, names[i], &cst, cname, err);
        }
      strv_free (names);
    }
  return ret;
}

/* Split path into the parent (resolved in the root) and the last name.  */
static int
open_parent_in_root (int rootfd, const char *path, char **base, husk_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  char *slash;
  size_t len = strlen (p);

  /* "a/b/" and "a/b/." name b itself.  */
  for (;;)
    {
      while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
      if (len > 2 && strcmp (p + len - 2, "/.") == 0)
        {
          len -= 2;
          p[len] = '\0';
          continue;
        }
      break;
    }
  slash = strrchr (p, '/');
  if (slash == NULL)
    {
      *base = xstrdup (p);
      return husk_open_in_root (rootfd, ".", O_PATH | O_DIRECTORY, 0, err);
    }
  if (slash[1] == '\0' || strcmp (slash + 1, "..") == 0 || strcmp (slash + 1, ".") == 0)
    {
      /* "/" or "x/..": the directory itself, reached through its own path.  */
      *base = xstrdup (".");
      return husk_open_in_root (rootfd, p, O_PATH | O_DIRECTORY, 0, err);
    }
  *slash = '\0';
  *base = xstrdup (slash + 1);
  return husk_open_in_root (rootfd, slash == p ? "/" : p, O_PATH | O_DIRECTORY, 0, err);
}

int
husk_fs_tar_write (int rootfd, const char *path, bool follow, const char *name, const char *const *skip,
                   int out_fd, husk_error_t *err)
{
  struct tar_out t = { 0 };
  cleanup_close int parentfd = -1;
  cleanup_free char *base = NULL;
  struct stat st;
  int ret;

  if (follow)
    {
      /* -L: the source itself is followed (inside the root) and reached
         through its own fd from then on.  */
      ret = husk_open_in_root (rootfd, path, O_PATH, 0, err);
      if (ret < 0)
        return ret;
      parentfd = ret;
      if (fstat (parentfd, &st) < 0)
        return husk_make_error (err, errno, "stat `%s`", path);
    }
  else
    {
      ret = open_parent_in_root (rootfd, path, &base, err);
      if (ret < 0)
        return ret;
      parentfd = ret;
      if (fstatat (parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return husk_make_error (err, errno, "%s", path);
    }

  t.a = archive_write_new ();
  t.skip = skip;
  archive_write_set_format_pax_restricted (t.a);
  archive_write_set_bytes_in_last_block (t.a, 1);
  if (archive_write_open_fd (t.a, out_fd) < ARCHIVE_OK)
    {
      ret = archive_fail (t.a, err, "tar");
      archive_write_free (t.a);
      return ret;
    }
  t.buf = xmalloc (COPY_BUF_SIZE);
  ret = tar_out_entry (&t, parentfd, base, &st, name, err);
  if (ret == 0 && archive_write_close (t.a) < ARCHIVE_OK)
    ret = archive_fail (t.a, err, "tar");
  archive_write_free (t.a);
  free (t.buf);
  for (size_t i = 0; i < t.n_links; i++)
    free (t.links[i].name);
  free (t.links);
  return ret;
}

/* ---- tar in ---- */

/* Clean an entry name: no leading "/" or "./", no "." components; ".."
   anywhere is refused.  NULL for the root itself.  */
static char *
clean_name (const char *name, husk_error_t *err, int *ret)
{
  struct husk_buf b = { 0 };
  const char *p = name;

  *ret = 0;
  while (*p)
    {
      const char *s = p;
      size_t len;
      while (*p && *p != '/')
        p++;
      len = p - s;
      while (*p == '/')
        p++;
      if (len == 0 || (len == 1 && s[0] == '.'))
        continue;
      if (len == 2 && s[0] == '.' && s[1] == '.')
        {
          husk_buf_free (&b);
          *ret = husk_make_error (err, EINVAL, "tar entry `%s` leaves the destination", name);
          return NULL;
        }
      if (b.len > 0)
        husk_buf_puts (&b, "/");
      husk_buf_printf (&b, "%.*s", (int)len, s);
    }
  if (b.len == 0)
    {
      husk_buf_free (&b);
      return NULL;
    }
  return b.data;
}

/* fchmodat follows a symlink, and a container could swap one in for the
   fifo or device just made: chmod the inode an O_PATH|O_NOFOLLOW open
   found, through its /proc/self/fd link (which names that inode only).  */
static int
chmod_nofollow (int parentfd, const char *base, mode_t mode)
{
  cleanup_close int fd = openat (parentfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  cleanup_free char *proc = NULL;
  struct stat st;

  if (fd < 0)
    return -1;
  if (fstat (fd, &st) < 0)
    return -1;
  if (S_ISLNK (st.st_mode))
    {
      errno = ELOOP;
      return -1;
    }
  proc = xasprintf ("/proc/self/fd/%d", fd);
  return chmod (proc, mode);
}

static int
apply_meta (int parentfd, const char *base, struct archive_entry *e, const struct husk_fs_extract_opts *o,
            int fd, husk_error_t *err)
{
  mode_t type = archive_entry_filetype (e);
  struct timespec ts[2] = { { 0, UTIME_OMIT }, { archive_entry_mtime (e), archive_entry_mtime_nsec (e) } };
  uid_t uid = o->owner == HUSK_FS_OWNER_KEEP ? (uid_t)archive_entry_uid (e) : 0;
  gid_t gid = o->owner == HUSK_FS_OWNER_KEEP ? (gid_t)archive_entry_gid (e) : 0;

  if (o->owner != HUSK_FS_OWNER_NONE)
    {
      int r = fd >= 0 ? fchown (fd, uid, gid) : fchownat (parentfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
      /* A single-id user namespace cannot give other ids: keep ours.  */
      if (r < 0 && errno != EINVAL && errno != EPERM)
        return husk_make_error (err, errno, "chown `%s`", base);
    }
  if (type != AE_IFLNK)
    {
      mode_t mode = archive_entry_perm (e);
      if ((fd >= 0 ? fchmod (fd, mode) : chmod_nofollow (parentfd, base, mode)) < 0)
        return husk_make_error (err, errno, "chmod `%s`", base);
    }
  if (archive_entry_mtime_is_set (e))
    {
      if (fd >= 0)
        futimens (fd, ts);
      else
        utimensat (parentfd, base, ts, AT_SYMLINK_NOFOLLOW);
    }
  return 0;
}

static int
write_xattrs (int fd, struct archive_entry *e)
{
  const char *k;
  const void *v;
  size_t len;

  if (archive_entry_xattr_reset (e) == 0)
    return 0;
  while (archive_entry_xattr_next (e, &k, &v, &len) == ARCHIVE_OK)
    if (strncmp (k, "trusted.", 8) != 0 && strncmp (k, "user.overlay.", 13) != 0)
      fsetxattr (fd, k, v, len, 0); /* best effort, as docker cp */
  return 0;
}

/* Remove base from parentfd unless it is a directory we may keep.  */
static int
make_room (int parentfd, const char *base, bool want_dir, const char *name, husk_error_t *err)
{
  struct stat st;

  if (fstatat (parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : husk_make_error (err, errno, "stat `%s`", name);
  if (S_ISDIR (st.st_mode))
    {
      if (want_dir)
        return 1;
      return husk_make_error (err, EISDIR, "cannot overwrite directory \"%s\" with non-directory", name);
    }
  if (want_dir)
    return husk_make_error (err, ENOTDIR, "cannot overwrite non-directory \"%s\" with directory", name);
  if (unlinkat (parentfd, base, 0) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "remove `%s`", name);
  return 0;
}

static int
extract_entry (struct archive *a, struct archive_entry *e, int destfd, const char *name,
               const struct husk_fs_extract_opts *o, char *buf, husk_error_t *err)
{
  cleanup_close int parentfd = -1;
  cleanup_close int fd = -1;
  cleanup_free char *parent = xstrdup (name);
  char *slash = strrchr (parent, '/');
  const char *base = name;
  mode_t type = archive_entry_filetype (e);
  mode_t perm = archive_entry_perm (e);
  int ret;

  if (slash)
    {
      *slash = '\0';
      base = slash + 1;
      /* Inside the destination as its own root: a symlink in the tree can
         only lead to another place below it.  */
      parentfd = husk_open_in_root (destfd, parent, O_PATH | O_DIRECTORY, 0, NULL);
      if (parentfd == -ENOENT)
        parentfd = husk_mkdir_in_root (destfd, parent, 0755, NULL);
      if (parentfd < 0)
        return husk_make_error (err, -parentfd, "%s", parent);
    }
  else
    {
      parentfd = dup (destfd);
      if (parentfd < 0)
        return husk_make_error (err, errno, "dup");
    }

  if (archive_entry_hardlink (e) != NULL)
    {
      int hr;
      cleanup_free char *target = clean_name (archive_entry_hardlink (e), err, &hr);
      cleanup_close int tparent = -1;
      cleanup_free char *tbase = NULL;
      if (target == NULL)
        return hr < 0 ? hr : husk_make_error (err, EINVAL, "bad hard link in `%s`", name);
      tparent = open_parent_in_root (destfd, target, &tbase, err);
      if (tparent < 0)
        return -1;
      ret = make_room (parentfd, base, false, name, err);
      if (ret < 0)
        return ret;
      if (linkat (tparent, tbase, parentfd, base, 0) < 0)
        return husk_make_error (err, errno, "link `%s`", name);
      return 0;
    }

  ret = make_room (parentfd, base, type == AE_IFDIR, name, err);
  if (ret < 0)
    return ret;
  switch (type)
    {
    case AE_IFDIR:
      if (ret == 0 && mkdirat (parentfd, base, 0700) < 0)
        return husk_make_error (err, errno, "mkdir `%s`", name);
      fd = openat (parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      break;
    case AE_IFREG:
      fd = openat (parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        return husk_make_error (err, errno, "create `%s`", name);
      for (;;)
        {
          la_ssize_t r = archive_read_data (a, buf, COPY_BUF_SIZE);
          if (r == 0)
            break;
          if (r < 0)
            return archive_fail (a, err, name);
          if (husk_write_all (fd, buf, r, err) < 0)
            return husk_error_wrap (err, "write `%s`", name);
        }
      break;
    case AE_IFLNK:
      if (symlinkat (archive_entry_symlink (e) ?: "", parentfd, base) < 0)
        return husk_make_error (err, errno, "symlink `%s`", name);
      break;
    case AE_IFIFO:
    case AE_IFCHR:
    case AE_IFBLK:
      if (mknodat (parentfd, base, type | perm, archive_entry_rdev (e)) < 0)
        return husk_make_error (err, errno, "mknod `%s`", name);
      break;
    default:
      return 0; /* sockets and unknown types are skipped, as tar does */
    }
  if (fd < 0 && (type == AE_IFDIR))
    return husk_make_error (err, errno, "open `%s`", name);
  if (fd >= 0)
    write_xattrs (fd, e);
  return apply_meta (parentfd, base, e, o, fd, err);
}

int
husk_fs_tar_extract (int destfd, int in_fd, const struct husk_fs_extract_opts *o, husk_error_t *err)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  cleanup_free char *buf = xmalloc (COPY_BUF_SIZE);
  int ret = 0, r;

  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  archive_read_support_format_gnutar (a);
  archive_read_support_format_empty (a);
  if (archive_read_open_fd (a, in_fd, 64 * 1024) < ARCHIVE_OK)
    {
      ret = archive_fail (a, err, "read the tar stream");
      archive_read_free (a);
      return ret;
    }
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      cleanup_free char *name = clean_name (archive_entry_pathname (e) ?: "", err, &ret);
      if (ret < 0)
        break;
      if (name == NULL)
        {
          /* "./" itself: the destination's own metadata is left alone.  */
          continue;
        }
      ret = extract_entry (a, e, destfd, name, o, buf, err);
      if (ret < 0)
        break;
    }
  if (ret == 0 && r != ARCHIVE_EOF)
    ret = archive_fail (a, err, "read the tar stream");
  archive_read_free (a);
  return ret;
}

/* ---- mount targets the runtime created ---- */

static bool
in_any_lower (char *const *lower_dirs, const char *rel)
{
  struct stat st;

  for (size_t i = 0; lower_dirs && lower_dirs[i]; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", lower_dirs[i], rel);
      if (fstatat (AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return true;
    }
  return false;
}

/* Every entry of the upper dir's directory rel is in skip (and there is
   at least one), and the directory is not opaque (then it hides lower
   content: a real change).  */
static bool
holds_only_skipped (int upperfd, const char *rel, char *const *skip)
{
  cleanup_close int fd = openat (upperfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_strv char **names = NULL;
  size_t n = 0;
  bool only = true;
  char v;

  if (fd < 0 || husk_list_dir_sorted (fd, &names, &n, NULL) < 0)
    return false;
  if (fgetxattr (fd, "trusted.overlay.opaque", &v, 1) == 1
      || fgetxattr (fd, "user.overlay.opaque", &v, 1) == 1)
    only = false;
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *child = xasprintf ("%s/%s", rel, names[i]);
      if (!strv_contains (skip, child))
        only = false;
    }
  return only && n > 0;
}

static bool
created_target (int upperfd, char *const *lower_dirs, const char *rel)
{
  struct stat st;

  if (fstatat (upperfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return false;
  if (S_ISREG (st.st_mode))
    {
      if (st.st_size != 0)
        return false;
    }
  else if (S_ISDIR (st.st_mode))
    {
      cleanup_close int fd = openat (upperfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 || !husk_dir_is_empty (fd, NULL))
        return false;
    }
  else
    return false;
  return !in_any_lower (lower_dirs, rel);
}

char **
husk_fs_mount_targets (int upperfd, char *const *lower_dirs, char *const *targets)
{
  static char *const defaults[] = { (char *)"/proc",
                                    (char *)"/sys",
                                    (char *)"/dev",
                                    (char *)"/etc/hosts",
                                    (char *)"/etc/hostname",
                                    (char *)"/etc/resolv.conf",
                                    NULL };
  char **skip = strv_dup (NULL);

  for (char *const *t = targets ? targets : defaults; *t; t++)
    {
      const char *rel = *t;
      while (*rel == '/')
        rel++;
      if (*rel != '\0' && !strv_contains (skip, rel) && created_target (upperfd, lower_dirs, rel))
        strv_append (&skip, rel);
    }
  /* Then the directories that only hold skipped entries, innermost
     first; the list grows while it is walked.  */
  for (size_t i = 0; skip[i]; i++)
    {
      cleanup_free char *parent = xstrdup (skip[i]);
      char *slash = strrchr (parent, '/');
      if (slash == NULL)
        continue;
      *slash = '\0';
      if (!strv_contains (skip, parent) && holds_only_skipped (upperfd, parent, skip))
        strv_append (&skip, parent);
    }
  return skip;
}
