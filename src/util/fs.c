/* husk: file helpers.  Everything that touches a path from an image, an
   archive, a container or a user goes through husk_open_in_root or
   husk_mkdir_in_root, which never leave their root directory (DESIGN.md
   section 7).  */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "husk/fs.h"
#include "husk/util.h"

/* Same limit as the kernel's for symlink resolution (MAXSYMLINKS).  */
#define MAX_SYMLINKS 40

/* Random [a-zA-Z0-9] suffix for temporary names.  */
static void
random_suffix (char *out, size_t n)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char rnd[32];
  size_t i;

  if (n > sizeof (rnd))
    n = sizeof (rnd);
  if (getrandom (rnd, n, GRND_NONBLOCK) != (ssize_t)n)
    {
      /* No entropy yet (early boot): uniqueness is all we need here, and
         O_EXCL/EEXIST retries make collisions harmless.  */
      uint64_t x = (uint64_t)husk_now_ns () ^ ((uint64_t)getpid () << 32);
      for (i = 0; i < n; i++)
        {
          x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          rnd[i] = (unsigned char)(x >> 33);
        }
    }
  for (i = 0; i < n; i++)
    out[i] = alphabet[rnd[i] % (sizeof (alphabet) - 1)];
}

int
husk_write_all (int fd, const void *data, size_t len, husk_error_t *err)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return husk_make_error (err, errno, "write");
        }
      p += n;
      len -= (size_t)n;
    }
  return 0;
}

int
husk_fsync_dir (int dirfd, husk_error_t *err)
{
  if (dirfd == AT_FDCWD)
    {
      /* A bare file name: its directory is the current one.  */
      cleanup_close int cwd = open (".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (cwd < 0)
        return husk_make_error (err, errno, "open the current directory");
      return husk_fsync_dir (cwd, err);
    }
  if (fsync (dirfd) < 0 && errno != EINVAL && errno != EROFS)
    return husk_make_error (err, errno, "fsync of directory");
  return 0;
}

/* Split "a/b/name" into an fd for "a/b" (opened relative to dirfd) and the
   last component.  */
static int
open_parent_of (int dirfd, const char *name, int *parentfd, const char **base, husk_error_t *err)
{
  const char *slash = strrchr (name, '/');
  cleanup_free char *dir = NULL;

  if (slash == NULL)
    {
      *parentfd = -1;
      *base = name;
      return 0;
    }
  dir = slash == name ? xstrdup ("/") : xstrndup (name, (size_t)(slash - name));
  *parentfd = openat (dirfd, dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (*parentfd < 0)
    return husk_make_error (err, errno, "open directory `%s`", dir);
  *base = slash + 1;
  return 0;
}

static int
write_file_atomic (int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool sync,
                   husk_error_t *err)
{
  cleanup_close int parentfd = -1;
  cleanup_close int fd = -1;
  cleanup_free char *tmp = NULL;
  const char *base = NULL;
  int dfd;
  int ret;
  int tries;

  ret = open_parent_of (dirfd, name, &parentfd, &base, err);
  if (ret < 0)
    return ret;
  dfd = parentfd >= 0 ? parentfd : dirfd;
  if (*base == '\0')
    return husk_make_error (err, EINVAL, "write `%s`", name);

  /* A unique name in the same directory, so the rename is atomic and a
     crash leaves at worst a stray ".<name>.tmp-*" file.  */
  for (tries = 0; tries < 100; tries++)
    {
      char suffix[8];

      random_suffix (suffix, sizeof (suffix));
      free (tmp);
      tmp = xasprintf (".%s.tmp-%.8s", base, suffix);
      fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd >= 0 || errno != EEXIST)
        break;
    }
  if (fd < 0)
    return husk_make_error (err, errno, "create temporary file for `%s`", name);

  ret = husk_write_all (fd, data, len, err);
  if (ret == 0 && sync && fsync (fd) < 0)
    ret = husk_make_error (err, errno, "fsync");
  if (ret == 0 && renameat (dfd, tmp, dfd, base) < 0)
    ret = husk_make_error (err, errno, "rename");
  if (ret < 0)
    {
      unlinkat (dfd, tmp, 0);
      return husk_error_wrap (err, "write `%s`", name);
    }
  if (!sync)
    return 0;
  ret = husk_fsync_dir (dfd, err);
  if (ret < 0)
    return husk_error_wrap (err, "write `%s`", name);
  return 0;
}

int
husk_write_file_atomic (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                        husk_error_t *err)
{
  return write_file_atomic (dirfd, name, data, len, mode, true, err);
}

int
husk_write_file_atomic_nosync (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                               husk_error_t *err)
{
  return write_file_atomic (dirfd, name, data, len, mode, false, err);
}

int
husk_read_all_fd (int fd, size_t max, char **out, size_t *len, husk_error_t *err)
{
  struct husk_buf buf = { 0 };
  struct stat st;
  size_t cap = 8192;

  /* Size the first allocation from the file when it is one.  */
  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_size > 0)
    cap = (size_t)st.st_size + 1;
  if (max > 0 && cap > max + 1)
    cap = max + 1;
  buf.data = xmalloc (cap);
  buf.cap = cap;
  buf.data[0] = '\0';

  for (;;)
    {
      ssize_t n;

      if (buf.cap - buf.len < 2)
        {
          buf.cap *= 2;
          buf.data = xrealloc (buf.data, buf.cap);
        }
      n = read (fd, buf.data + buf.len, buf.cap - buf.len - 1);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          husk_buf_free (&buf);
          return husk_make_error (err, errno, "read");
        }
      if (n == 0)
        break;
      buf.len += (size_t)n;
      if (max > 0 && buf.len > max)
        {
          husk_buf_free (&buf);
          return husk_make_error (err, EFBIG, "read: more than %zu bytes", max);
        }
    }
  buf.data[buf.len] = '\0';
  if (len)
    *len = buf.len;
  *out = buf.data;
  return 0;
}

int
husk_read_file_at (int dirfd, const char *path, size_t max, char **out, size_t *len, husk_error_t *err)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC);
  int ret;

  if (fd < 0)
    return husk_make_error (err, errno, "open `%s`", path);
  ret = husk_read_all_fd (fd, max, out, len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read `%s`", path);
  return 0;
}

int
husk_mkdir_p (const char *path, mode_t mode, husk_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  char *it;

  for (it = p + 1; *it; it++)
    {
      if (*it != '/')
        continue;
      *it = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return husk_make_error (err, errno, "mkdir `%s`", p);
      *it = '/';
    }
  if (mkdir (p, mode) < 0)
    {
      struct stat st;

      if (errno != EEXIST)
        return husk_make_error (err, errno, "mkdir `%s`", p);
      if (stat (p, &st) < 0 || !S_ISDIR (st.st_mode))
        return husk_make_error (err, ENOTDIR, "mkdir `%s`", p);
    }
  return 0;
}

/* rm -rf helpers.  */

static int rm_rf_entry (int dirfd, const char *name, husk_error_t *err);

static int
rm_rf_children (int dfd, const char *name, husk_error_t *err)
{
  cleanup_dir DIR *dir = NULL;
  struct dirent *de;
  int fd2 = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd2 < 0)
    return husk_make_error (err, errno, "open `%s`", name);
  dir = fdopendir (fd2);
  if (dir == NULL)
    {
      close (fd2);
      return husk_make_error (err, errno, "opendir `%s`", name);
    }
  for (;;)
    {
      int ret;

      errno = 0;
      de = readdir (dir);
      if (de == NULL)
        {
          if (errno)
            return husk_make_error (err, errno, "readdir `%s`", name);
          break;
        }
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      ret = rm_rf_entry (dfd, de->d_name, err);
      if (ret < 0)
        return husk_error_wrap (err, "%s", name);
    }
  return 0;
}

/* Give ourselves rwx on a directory from a layer (mode 0555, 0000 ...) so
   it can be read and emptied.  */
static void
make_dir_writable (int dfd)
{
  struct stat st;

  if (fstat (dfd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU)
    fchmod (dfd, (st.st_mode & 07777) | S_IRWXU);
}

static int
rm_rf_entry (int dirfd, const char *name, husk_error_t *err)
{
  cleanup_close int dfd = -1;
  int ret;

  if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno == EACCES)
    {
      make_dir_writable (dirfd);
      if (unlinkat (dirfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    }
  if (errno != EISDIR && errno != EPERM)
    return husk_make_error (err, errno, "unlink `%s`", name);

  dfd = openat (dirfd, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0 && errno == EACCES && fchmodat (dirfd, name, S_IRWXU, 0) == 0)
    dfd = openat (dirfd, name, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return husk_make_error (err, errno, "open `%s`", name);
    }
  make_dir_writable (dfd);
  ret = rm_rf_children (dfd, name, err);
  if (ret < 0)
    return ret;
  if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "rmdir `%s`", name);
  return 0;
}

int
husk_rm_rf_at (int dirfd, const char *name, husk_error_t *err)
{
  int ret = rm_rf_entry (dirfd, name, err);

  if (ret < 0)
    return husk_error_wrap (err, "remove `%s`", name);
  return 0;
}

/* Path resolution inside a root.  */

static bool
openat2_disabled (void)
{
  /* HUSK_NO_OPENAT2=1 forces the portable walk: used by the unit tests, and
     a way out on kernels or seccomp profiles with a broken openat2.  */
  const char *v = getenv ("HUSK_NO_OPENAT2");
  return v != NULL && *v != '\0' && strcmp (v, "0") != 0;
}

static int
sys_openat2 (int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  struct open_how how = { 0 };

  how.flags = (uint64_t)flags;
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
    how.mode = mode;
  how.resolve = resolve;
  return (int)syscall (SYS_openat2, dirfd, path, &how, sizeof (how));
}

/* A stack of O_PATH directory fds from the root down to the current
   directory, so ".." never climbs above the root.  */
struct walk
{
  int *fds;
  size_t n, cap;
};

static void
walk_push (struct walk *w, int fd)
{
  if (w->n == w->cap)
    {
      w->cap = w->cap ? w->cap * 2 : 16;
      w->fds = xrealloc (w->fds, w->cap * sizeof (int));
    }
  w->fds[w->n++] = fd;
}

/* Drop everything but the root (fds[0]).  */
static void
walk_reset (struct walk *w)
{
  while (w->n > 1)
    close (w->fds[--w->n]);
}

static void
walk_free (struct walk *w)
{
  while (w->n > 0)
    close (w->fds[--w->n]);
  free (w->fds);
}

static char *
readlink_fd (int fd, const char *name)
{
  size_t size = 256;

  for (;;)
    {
      char *buf = xmalloc (size);
      ssize_t n = readlinkat (fd, name, buf, size);
      if (n < 0)
        {
          int saved = errno;
          free (buf);
          errno = saved;
          return NULL;
        }
      if ((size_t)n < size)
        {
          buf[n] = '\0';
          return buf;
        }
      free (buf);
      size *= 2;
    }
}

/* The portable equivalent of openat2 (RESOLVE_IN_ROOT |
   RESOLVE_NO_MAGICLINKS): each component is opened with O_PATH|O_NOFOLLOW;
   a symlink's text is spliced into the remaining path, an absolute one
   restarting at the root; ".." at the root stays at the root.  Returns an fd
   or -1 with errno set.  */
static int
walk_in_root (int rootfd, const char *path, int flags, mode_t mode)
{
  struct walk w = { 0 };
  cleanup_free char *rest = xstrdup (path);
  int links = 0;
  int ret = -1;
  int fd;

  fd = openat (rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  walk_push (&w, fd);

  for (;;)
    {
      char *p = rest, *comp, *next;
      bool last;
      struct stat st;
      int cur = w.fds[w.n - 1];

      while (*p == '/')
        p++;
      if (*p == '\0')
        {
          /* The path names the current directory itself.  */
          ret = openat (cur, ".", flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
          if (ret < 0 && (flags & O_CREAT) && (flags & O_EXCL))
            errno = EEXIST;
          break;
        }
      comp = p;
      next = strchr (p, '/');
      if (next)
        *next++ = '\0';
      else
        next = p + strlen (p);
      while (*next == '/')
        next++;
      last = *next == '\0';

      if (strcmp (comp, ".") == 0 || strcmp (comp, "..") == 0)
        {
          if (comp[1] == '.' && w.n > 1)
            close (w.fds[--w.n]);
          memmove (rest, next, strlen (next) + 1);
          if (last)
            {
              ret = openat (w.fds[w.n - 1], ".", flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
              if (ret < 0 && (flags & O_CREAT) && (flags & O_EXCL))
                errno = EEXIST;
              break;
            }
          continue;
        }

      if (last)
        {
          bool follow = !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL));

          if (follow && fstatat (cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
            goto symlink;
          ret = openat (cur, comp, flags | O_NOFOLLOW, mode);
          /* Lost a race with a new symlink: O_PATH opened the link itself,
             anything else failed with ELOOP.  Resolve it.  */
          if (ret >= 0 && follow && (flags & O_PATH) && fstat (ret, &st) == 0 && S_ISLNK (st.st_mode))
            {
              close (ret);
              ret = -1;
              goto symlink;
            }
          if (ret >= 0 || errno != ELOOP || !follow)
            break;
          goto symlink;
        }
      else
        {
          fd = openat (cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
          if (fd < 0)
            break;
          if (fstat (fd, &st) < 0)
            {
              close (fd);
              break;
            }
          if (S_ISDIR (st.st_mode))
            {
              walk_push (&w, fd);
              memmove (rest, next, strlen (next) + 1);
              continue;
            }
          close (fd);
          if (!S_ISLNK (st.st_mode))
            {
              errno = ENOTDIR;
              break;
            }
        }

      /* comp is a symlink: resolve its text from here (or from the root).  */
    symlink:
      {
        cleanup_free char *target = NULL;
        char *joined;

        if (++links > MAX_SYMLINKS)
          {
            errno = ELOOP;
            break;
          }
        target = readlink_fd (cur, comp);
        if (target == NULL)
          break;
        if (target[0] == '/')
          walk_reset (&w);
        joined = xasprintf ("%s/%s", target, next);
        free (rest);
        rest = joined;
      }
    }

  {
    int saved = errno;
    walk_free (&w);
    errno = saved;
  }
  return ret;
}

static int
open_in_root_raw (int rootfd, const char *path, int flags, mode_t mode)
{
  flags |= O_CLOEXEC;
  if (!openat2_disabled ())
    {
      int fd;

      do
        fd = sys_openat2 (rootfd, path, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      while (fd < 0 && (errno == EAGAIN || errno == EINTR));
      if (fd >= 0 || errno != ENOSYS)
        return fd;
    }
  return walk_in_root (rootfd, path, flags, mode);
}

int
husk_open_in_root (int rootfd, const char *path, int flags, mode_t mode, husk_error_t *err)
{
  int fd = open_in_root_raw (rootfd, path, flags, mode);

  if (fd < 0)
    return husk_make_error (err, errno, "open `%s`", path);
  return fd;
}

/* Open an existing directory for use as a dirfd; O_PATH when it can't be
   read (mode 0311 ...), which is enough for the *at calls.  */
static int
open_dir_in_root (int rootfd, const char *path)
{
  int fd = open_in_root_raw (rootfd, path, O_RDONLY | O_DIRECTORY, 0);

  if (fd < 0 && errno == EACCES)
    fd = open_in_root_raw (rootfd, path, O_PATH | O_DIRECTORY, 0);
  return fd;
}

static int mkdir_in_root (int rootfd, const char *path, mode_t mode, int depth, husk_error_t *err);

/* prefix exists as a symlink that leads nowhere (mkdirat said EEXIST, the
   resolution ENOENT): create the directory it points to, inside the root,
   as "mkdir -p" through a symlink would on the host.  */
static int
mkdir_symlink_target (int rootfd, int parentfd, const char *comp, const char *prefix, mode_t mode, int depth,
                      husk_error_t *err)
{
  cleanup_free char *target = NULL;
  cleanup_free char *path = NULL;
  const char *slash;
  int fd;

  target = readlink_fd (parentfd, comp);
  if (target == NULL)
    return husk_make_error (err, errno == EINVAL ? EEXIST : errno, "mkdir `%s`", prefix);
  slash = strrchr (prefix, '/');
  if (target[0] == '/' || slash == NULL)
    path = xstrdup (target);
  else
    path = xasprintf ("%.*s/%s", (int)(slash - prefix), prefix, target);
  fd = mkdir_in_root (rootfd, path, mode, depth + 1, err);
  if (fd < 0)
    return husk_error_wrap (err, "mkdir `%s`", prefix);
  close (fd);
  return 0;
}

static int
mkdir_in_root (int rootfd, const char *path, mode_t mode, int depth, husk_error_t *err)
{
  cleanup_free char *prefix = NULL;
  cleanup_close int cur = -1;
  const char *p;
  int fd;

  if (depth > MAX_SYMLINKS)
    return husk_make_error (err, ELOOP, "mkdir `%s`", path);
  fd = open_dir_in_root (rootfd, path);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    return husk_make_error (err, errno, "open directory `%s`", path);

  /* Walk prefix by prefix, each resolved from the root, so a symlink
     created earlier is followed only as if rootfd were "/".  */
  cur = open_dir_in_root (rootfd, ".");
  if (cur < 0)
    return husk_make_error (err, errno, "open root directory");
  prefix = xmalloc (strlen (path) + 1);
  prefix[0] = '\0';
  p = path;
  for (;;)
    {
      const char *end;
      size_t plen;
      cleanup_free char *comp = NULL;

      while (*p == '/')
        p++;
      if (*p == '\0')
        break;
      end = strchrnul (p, '/');
      comp = xstrndup (p, (size_t)(end - p));
      plen = strlen (prefix);
      if (plen > 0)
        prefix[plen++] = '/';
      memcpy (prefix + plen, p, (size_t)(end - p));
      prefix[plen + (size_t)(end - p)] = '\0';
      p = end;

      fd = open_dir_in_root (rootfd, prefix);
      if (fd < 0 && errno == ENOENT)
        {
          if (mkdirat (cur, comp, mode) < 0 && errno != EEXIST)
            return husk_make_error (err, errno, "mkdir `%s`", prefix);
          fd = open_dir_in_root (rootfd, prefix);
          if (fd < 0 && errno == ENOENT)
            {
              int ret = mkdir_symlink_target (rootfd, cur, comp, prefix, mode, depth, err);
              if (ret < 0)
                return ret;
              fd = open_dir_in_root (rootfd, prefix);
            }
        }
      if (fd < 0)
        return husk_make_error (err, errno, "mkdir `%s`", prefix);
      close (cur);
      cur = fd;
    }
  return move_fd (&cur);
}

int
husk_mkdir_in_root (int rootfd, const char *path, mode_t mode, husk_error_t *err)
{
  return mkdir_in_root (rootfd, path, mode, 0, err);
}

char *
husk_mkdtemp_at (int dirfd, const char *prefix, husk_error_t *err)
{
  int tries;

  for (tries = 0; tries < 100; tries++)
    {
      char suffix[6];
      char *name;

      random_suffix (suffix, sizeof (suffix));
      name = xasprintf ("%s%.6s", prefix, suffix);
      if (mkdirat (dirfd, name, 0700) == 0)
        return name;
      free (name);
      if (errno != EEXIST)
        break;
    }
  husk_make_error (err, errno, "mkdtemp `%sXXXXXX`", prefix);
  return NULL;
}

/* husk_du_at: inodes with several links are counted once.  */
struct du_state
{
  unsigned long long total;
  struct
  {
    dev_t dev;
    ino_t ino;
  } * seen;
  size_t n_seen, cap_seen;
};

static bool
du_seen (struct du_state *s, const struct stat *st)
{
  size_t i;

  /* Hardlinks are rare in layers: a linear scan over them is fine.  */
  for (i = 0; i < s->n_seen; i++)
    if (s->seen[i].ino == st->st_ino && s->seen[i].dev == st->st_dev)
      return true;
  if (s->n_seen == s->cap_seen)
    {
      s->cap_seen = s->cap_seen ? s->cap_seen * 2 : 16;
      s->seen = xrealloc (s->seen, s->cap_seen * sizeof (*s->seen));
    }
  s->seen[s->n_seen].dev = st->st_dev;
  s->seen[s->n_seen].ino = st->st_ino;
  s->n_seen++;
  return false;
}

static int
du_walk (int parentfd, const char *name, struct du_state *s, husk_error_t *err)
{
  cleanup_dir DIR *dir = NULL;
  struct dirent *de;
  struct stat st;
  int fd;

  if (fstatat (parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return husk_make_error (err, errno, "stat `%s`", name);
  if (S_ISREG (st.st_mode))
    {
      if (st.st_nlink <= 1 || !du_seen (s, &st))
        s->total += (unsigned long long)st.st_size;
      return 0;
    }
  if (!S_ISDIR (st.st_mode))
    return 0;

  fd = openat (parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open `%s`", name);
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      close (fd);
      return husk_make_error (err, errno, "opendir `%s`", name);
    }
  while ((errno = 0, de = readdir (dir)) != NULL)
    {
      int ret;

      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      ret = du_walk (dirfd (dir), de->d_name, s, err);
      if (ret < 0)
        return husk_error_wrap (err, "%s", name);
    }
  if (errno)
    return husk_make_error (err, errno, "readdir `%s`", name);
  return 0;
}

int
husk_du_at (int dirfd, const char *name, unsigned long long *bytes, husk_error_t *err)
{
  struct du_state s = { 0 };
  int ret = du_walk (dirfd, name, &s, err);

  free (s.seen);
  if (ret < 0)
    return ret;
  *bytes = s.total;
  return 0;
}

/* A stream of dirfd's entries from the first one: a dup (dirfd need not
   be searchable, only readable), rewound because the dup shares the
   offset a previous walk of dirfd left at the end.  */
static int
open_dir_stream (int dirfd, DIR **out, husk_error_t *err)
{
  int fd = dup (dirfd);

  if (fd < 0)
    return husk_make_error (err, errno, "dup");
  *out = fdopendir (fd);
  if (*out == NULL)
    {
      int ret = husk_make_error (err, errno, "opendir");
      close (fd);
      return ret;
    }
  rewinddir (*out);
  return 0;
}

static bool
is_dot_or_dotdot (const char *name)
{
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

int
husk_list_dir_sorted (int dirfd, char ***names, size_t *n, husk_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  cleanup_strv char **v = NULL;
  size_t len = 0, cap = 0;
  struct dirent *de;
  int ret;

  *names = NULL;
  if (n != NULL)
    *n = 0;
  ret = open_dir_stream (dirfd, &d, err);
  if (ret < 0)
    return ret;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (is_dot_or_dotdot (de->d_name))
        continue;
      if (len + 2 > cap)
        {
          cap = cap ? cap * 2 : 32;
          v = xrealloc (v, cap * sizeof (*v));
        }
      v[len++] = xstrdup (de->d_name);
      v[len] = NULL;
    }
  if (errno != 0)
    return husk_make_error (err, errno, "readdir");
  if (v == NULL)
    v = xzalloc (sizeof (*v));
  qsort (v, len, sizeof (*v), cmp_names);
  *names = steal_pointer (&v);
  if (n != NULL)
    *n = len;
  return 0;
}

bool
husk_dir_is_empty (int dirfd, char *const *skip)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  if (open_dir_stream (dirfd, &d, NULL) < 0)
    return false;
  while ((errno = 0, de = readdir (d)) != NULL)
    if (!is_dot_or_dotdot (de->d_name) && !strv_contains (skip, de->d_name))
      return false;
  return errno == 0;
}

int
husk_open_tmpfile (const char *dir, husk_error_t *err)
{
  cleanup_free char *templ = NULL;
  int fd;

  fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  /* Filesystems without O_TMPFILE: a named file unlinked at once.  */
  templ = xasprintf ("%s/husk-tmp-XXXXXX", dir);
  fd = mkostemp (templ, O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "creating a temporary file in `%s`", dir);
  unlink (templ);
  return fd;
}
