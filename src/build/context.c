/* husk: COPY/ADD sources (src/build): globbing inside a root, the content
   digest for the build cache, and Docker's copy semantics.

   Every path is resolved inside its root (DESIGN.md section 7): the
   starting point with husk_open_in_root (openat2 RESOLVE_IN_ROOT, so
   "../" and absolute symlinks stay in the root, as Docker treats the
   context and another stage's filesystem), everything below it with
   openat (O_NOFOLLOW) relative to the parent's fd.  Destinations are
   resolved the same way inside dst_rootfd: an image's "/target -> /"
   leads to the image's root, never the host's.

   Special files: sockets are skipped (Docker's context transfer drops
   them too); fifos and devices are hashed by type, mode and device
   number, and copied with mknod when the process may make them, else
   skipped without an error (a rootless build cannot create devices, and
   failing every build of a context that holds one would help nobody).
   Hard links are copied as separate files; xattrs are not copied.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/build.h"
#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/util.h"
#include "src/build/glob.h"

#define IO_BUF_SIZE (256 * 1024)

/* ---- shared helpers ---- */

/* A source path relative to its root: leading "/" and "./" ignored,
   "." and empty components dropped, ".." never above the root.  "" is the
   root itself.  */
static char *
clean_rel (const char *path)
{
  struct husk_buf b = { 0 };
  const char *p = path;

  husk_buf_puts (&b, "");
  while (*p)
    {
      const char *end = strchrnul (p, '/');
      size_t len = (size_t)(end - p);

      if (len == 2 && p[0] == '.' && p[1] == '.')
        {
          char *slash = strrchr (b.data, '/');
          b.len = slash ? (size_t)(slash - b.data) : 0;
          b.data[b.len] = '\0';
        }
      else if (len > 0 && !(len == 1 && p[0] == '.'))
        {
          if (b.len > 0)
            husk_buf_puts (&b, "/");
          husk_buf_append (&b, p, len);
        }
      p = *end ? end + 1 : end;
    }
  return husk_buf_steal (&b, NULL);
}

/* The path as husk_open_in_root takes it: the root is ".".  */
static const char *
root_path (const char *rel)
{
  return *rel ? rel : ".";
}

/* path_push/path_pop: one growing buffer for the walk's current path.  */
static size_t
path_push (struct husk_buf *b, const char *name)
{
  size_t old = b->len;

  if (b->len > 0)
    husk_buf_puts (b, "/");
  husk_buf_puts (b, name);
  return old;
}

static void
path_pop (struct husk_buf *b, size_t old)
{
  b->len = old;
  b->data[old] = '\0';
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static int dir_has_included (const husk_build_ignore_t *ig, int dfd, struct husk_buf *path,
                             husk_error_t *err);

/* Whether the walk takes the entry at path (name pushed): 1 yes, 0 no.
   An excluded directory is entered only when an exception could bring
   something below it back, and only when something is: Docker's context
   then holds the directory as the parent of what it re-includes.  */
static int
entry_wanted (const husk_build_ignore_t *ig, int dfd, const char *name, mode_t type, struct husk_buf *path,
              husk_error_t *err)
{
  cleanup_close int sub = -1;

  if (S_ISSOCK (type))
    return 0;
  if (!husk_build_ignore_match (ig, path->data))
    return 1;
  if (!S_ISDIR (type) || !husk_build_ignore_may_reinclude (ig, path->data))
    return 0;
  sub = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0)
    return husk_make_error (err, errno, "open `%s`", path->data);
  return dir_has_included (ig, sub, path, err);
}

static int
dir_has_included (const husk_build_ignore_t *ig, int dfd, struct husk_buf *path, husk_error_t *err)
{
  cleanup_strv char **names = NULL;
  size_t n = 0;
  int ret = husk_list_dir_sorted (dfd, &names, &n, err);

  for (size_t i = 0; ret == 0 && i < n; i++)
    {
      size_t old = path_push (path, names[i]);
      struct stat st;

      if (fstatat (dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
        ret = husk_make_error (err, errno, "stat `%s`", path->data);
      else
        ret = entry_wanted (ig, dfd, names[i], st.st_mode, path, err);
      path_pop (path, old);
    }
  return ret;
}

/* The top of a source: path resolved inside rootfd, a symlink there
   followed (inside the root).  An O_PATH fd.  */
static int
open_top (int rootfd, const char *rel, struct stat *st, husk_error_t *err)
{
  cleanup_close int fd = husk_open_in_root (rootfd, root_path (rel), O_PATH | O_CLOEXEC, 0, err);

  if (fd < 0)
    return fd;
  if (fstat (fd, st) < 0)
    return husk_make_error (err, errno, "stat `%s`", root_path (rel));
  return move_fd (&fd);
}

/* Reopen the top for reading (O_PATH fds cannot be read), making sure it
   is still the same inode.  */
static int
reopen_top (int rootfd, const char *rel, const struct stat *st, int flags, husk_error_t *err)
{
  cleanup_close int fd = husk_open_in_root (rootfd, root_path (rel), flags | O_CLOEXEC | O_NOCTTY, 0, err);
  struct stat now;

  if (fd < 0)
    return fd;
  if (fstat (fd, &now) < 0)
    return husk_make_error (err, errno, "stat `%s`", root_path (rel));
  if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
    return husk_make_error (err, EAGAIN, "`%s` changed while it was read", root_path (rel));
  return move_fd (&fd);
}

/* ---- sources ---- */

struct glob_state
{
  int rootfd;
  const husk_build_ignore_t *ig;
  char **comps;
  size_t n_comps;
  char **out;
  size_t n_out;
};

static void
glob_add (struct glob_state *g, const char *path)
{
  g->out = xrealloc (g->out, (g->n_out + 2) * sizeof (*g->out));
  g->out[g->n_out++] = xstrdup (path);
  g->out[g->n_out] = NULL;
}

/* path exists (followed inside the root): keep it unless it is excluded.  */
static int
glob_take (struct glob_state *g, struct husk_buf *path, husk_error_t *err)
{
  cleanup_close int fd = -1;
  struct stat st;
  int ret;

  fd = husk_open_in_root (g->rootfd, root_path (path->data), O_PATH | O_CLOEXEC, 0, NULL);
  if (fd < 0)
    return (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP) ? 0
                                                             : husk_make_error (err, -fd, "%s", path->data);
  if (g->ig == NULL || *path->data == '\0' || !husk_build_ignore_match (g->ig, path->data))
    {
      glob_add (g, root_path (path->data));
      return 0;
    }
  if (fstat (fd, &st) < 0)
    return husk_make_error (err, errno, "stat `%s`", path->data);
  if (!S_ISDIR (st.st_mode) || !husk_build_ignore_may_reinclude (g->ig, path->data))
    return 0;
  close (fd);
  fd = husk_open_in_root (g->rootfd, path->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, err);
  if (fd < 0)
    return fd;
  ret = dir_has_included (g->ig, fd, path, err);
  if (ret > 0)
    glob_add (g, path->data);
  return ret < 0 ? ret : 0;
}

static int
glob_walk (struct glob_state *g, size_t ci, struct husk_buf *path, husk_error_t *err)
{
  cleanup_close int dfd = -1;
  cleanup_strv char **names = NULL;
  size_t n = 0;
  const char *comp;
  int ret = 0;

  if (ci == g->n_comps)
    return glob_take (g, path, err);
  comp = g->comps[ci];
  if (!build_glob_has_wildcards (comp) && strchr (comp, '\\') == NULL)
    {
      size_t old = path_push (path, comp);
      ret = glob_walk (g, ci + 1, path, err);
      path_pop (path, old);
      return ret;
    }
  dfd = husk_open_in_root (g->rootfd, root_path (path->data), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, NULL);
  if (dfd < 0)
    return (dfd == -ENOENT || dfd == -ENOTDIR || dfd == -ELOOP)
               ? 0
               : husk_make_error (err, -dfd, "%s", path->data);
  ret = husk_list_dir_sorted (dfd, &names, &n, err);
  for (size_t i = 0; ret == 0 && i < n; i++)
    {
      int m = build_glob_match (comp, names[i], strlen (names[i]));
      if (m < 0)
        ret = husk_make_error (err, 0, "bad pattern `%s`: syntax error in pattern", comp);
      else if (m > 0)
        {
          size_t old = path_push (path, names[i]);
          ret = glob_walk (g, ci + 1, path, err);
          path_pop (path, old);
        }
    }
  return ret;
}

int
husk_build_sources_match (int rootfd, const char *pattern, const husk_build_ignore_t *ig, char ***out,
                          husk_error_t *err)
{
  cleanup_free char *clean = clean_rel (pattern);
  struct glob_state g = { .rootfd = rootfd, .ig = ig };
  struct husk_buf path = { 0 };
  bool glob = build_glob_has_wildcards (clean);
  int ret;

  for (char *p = clean; *p;)
    {
      char *end = strchrnul (p, '/');
      g.comps = xrealloc (g.comps, (g.n_comps + 1) * sizeof (*g.comps));
      g.comps[g.n_comps++] = xstrndup (p, (size_t)(end - p));
      p = *end ? end + 1 : end;
    }
  /* Without wildcards the pattern names one path, looked up as it is.  */
  husk_buf_puts (&path, glob ? "" : clean);
  ret = glob ? glob_walk (&g, 0, &path, err) : glob_take (&g, &path, err);
  husk_buf_free (&path);
  for (size_t i = 0; i < g.n_comps; i++)
    free (g.comps[i]);
  free (g.comps);
  if (ret < 0)
    {
      strv_free (g.out);
      return ret;
    }
  if (g.n_out == 0)
    {
      if (glob)
        return husk_make_error (err, 0, "COPY failed: no source files were specified");
      return husk_make_error (err, 0,
                              "file not found in build context or excluded by .dockerignore: stat %s: file "
                              "does not exist",
                              root_path (clean));
    }
  if (g.n_out > 1)
    qsort (g.out, g.n_out, sizeof (*g.out), cmp_str);
  *out = g.out;
  return 0;
}

/* ---- the digest ----

   One pass, four syscalls a file (fstatat, openat, read, close), one
   read buffer, one path buffer.  Not threaded: a cached rebuild would
   gain little on 2 cores, and a process that has had threads may fail a
   later unshare (CLONE_NEWUSER) or setns while an exited thread still
   holds its mm.  */

struct digest_state
{
  husk_digester_t *d;
  const husk_build_ignore_t *ig;
  struct husk_buf path; /* relative to the root, for the ignore rules */
  size_t top_len;       /* the part of path that names the top */
  char *buf;
};

static void
put_u64 (unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* One entry: its name below the top (NUL-terminated), then a fixed
   header (type, permission bits, size, device), then the link target or
   the content.  Every field has a known length: no two trees give the
   same stream.  */
static void
digest_header (struct digest_state *s, const struct stat *st, uint64_t size)
{
  const char *name = s->path.data + s->top_len;
  unsigned char h[1 + 8 + 8 + 8];

  if (*name == '/')
    name++;
  husk_digester_update (s->d, name, strlen (name) + 1);
  h[0] = S_ISDIR (st->st_mode)    ? 'd'
         : S_ISREG (st->st_mode)  ? 'f'
         : S_ISLNK (st->st_mode)  ? 'l'
         : S_ISFIFO (st->st_mode) ? 'p'
         : S_ISCHR (st->st_mode)  ? 'c'
                                  : 'b';
  put_u64 (h + 1, st->st_mode & 07777);
  put_u64 (h + 9, size);
  put_u64 (h + 17, (S_ISCHR (st->st_mode) || S_ISBLK (st->st_mode)) ? (uint64_t)st->st_rdev : 0);
  husk_digester_update (s->d, h, sizeof (h));
}

static int
digest_content (struct digest_state *s, int fd, const struct stat *st, husk_error_t *err)
{
  uint64_t left = (uint64_t)st->st_size;

  digest_header (s, st, left);
  /* Exactly st_size bytes, so that the header's size stays true even if
     the file grows meanwhile; a file that shrank is an error.  */
  while (left > 0)
    {
      ssize_t n = read (fd, s->buf, left < IO_BUF_SIZE ? (size_t)left : IO_BUF_SIZE);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return husk_make_error (err, errno, "read `%s`", s->path.data);
      if (n == 0)
        return husk_make_error (err, EAGAIN, "`%s` changed while it was read", s->path.data);
      husk_digester_update (s->d, s->buf, (size_t)n);
      left -= (uint64_t)n;
    }
  return 0;
}

static int digest_dir (struct digest_state *s, int dfd, husk_error_t *err);

static int
digest_entry (struct digest_state *s, int dfd, const char *name, const struct stat *st, husk_error_t *err)
{
  cleanup_close int fd = -1;

  if (S_ISDIR (st->st_mode))
    {
      digest_header (s, st, 0);
      fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", s->path.data);
      return digest_dir (s, fd, err);
    }
  if (S_ISREG (st->st_mode))
    {
      fd = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", s->path.data);
      return digest_content (s, fd, st, err);
    }
  if (S_ISLNK (st->st_mode))
    {
      ssize_t n = readlinkat (dfd, name, s->buf, IO_BUF_SIZE);
      if (n < 0)
        return husk_make_error (err, errno, "readlink `%s`", s->path.data);
      digest_header (s, st, (uint64_t)n);
      husk_digester_update (s->d, s->buf, (size_t)n);
      return 0;
    }
  digest_header (s, st, 0);
  return 0;
}

static int
digest_dir (struct digest_state *s, int dfd, husk_error_t *err)
{
  cleanup_strv char **names = NULL;
  size_t n = 0;
  int ret = husk_list_dir_sorted (dfd, &names, &n, err);

  for (size_t i = 0; ret == 0 && i < n; i++)
    {
      size_t old = path_push (&s->path, names[i]);
      struct stat st;

      if (fstatat (dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
        ret = husk_make_error (err, errno, "stat `%s`", s->path.data);
      else
        {
          ret = s->ig ? entry_wanted (s->ig, dfd, names[i], st.st_mode, &s->path, err)
                      : !S_ISSOCK (st.st_mode);
          if (ret > 0)
            ret = digest_entry (s, dfd, names[i], &st, err);
        }
      path_pop (&s->path, old);
    }
  return ret;
}

static int
digest_top (struct digest_state *s, int rootfd, const char *rel, husk_error_t *err)
{
  cleanup_close int top = -1;
  cleanup_close int fd = -1;
  struct stat st;

  /* The top's own name (as copying into a directory uses it), then the
     tree below it.  */
  husk_digester_update (s->d, "\0", 1);
  husk_digester_update (s->d, rel, strlen (rel) + 1);
  path_pop (&s->path, 0);
  husk_buf_puts (&s->path, rel);
  s->top_len = s->path.len;
  top = open_top (rootfd, rel, &st, err);
  if (top < 0)
    return top;
  if (S_ISDIR (st.st_mode))
    {
      digest_header (s, &st, 0);
      fd = openat (top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", root_path (rel));
      return digest_dir (s, fd, err);
    }
  if (S_ISREG (st.st_mode))
    {
      fd = reopen_top (rootfd, rel, &st, O_RDONLY, err);
      if (fd < 0)
        return fd;
      return digest_content (s, fd, &st, err);
    }
  if (!S_ISSOCK (st.st_mode))
    digest_header (s, &st, 0);
  return 0;
}

int
husk_build_sources_digest (int rootfd, char *const *paths, const husk_build_ignore_t *ig, char **digest,
                           husk_error_t *err)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();
  struct digest_state s = { .d = d, .ig = ig };
  int ret = 0;

  s.buf = xmalloc (IO_BUF_SIZE);
  husk_buf_puts (&s.path, "");
  for (size_t i = 0; ret == 0 && paths && paths[i]; i++)
    {
      cleanup_free char *rel = clean_rel (paths[i]);
      ret = digest_top (&s, rootfd, rel, err);
      if (ret < 0)
        husk_error_wrap (err, "digest of `%s`", paths[i]);
    }
  free (s.buf);
  husk_buf_free (&s.path);
  if (ret < 0)
    return ret;
  *digest = husk_digester_final (d);
  return 0;
}

/* ---- copy ---- */

struct copy_state
{
  const struct husk_build_copy_opts *o;
  const husk_build_ignore_t *ig;
  bool from_context;
  struct husk_buf path; /* the source, relative to its root: messages and ignore rules */
  char *buf;            /* read/write fallback, allocated when needed */
};

static mode_t
copy_mode (const struct copy_state *c, const struct stat *st)
{
  return c->o->chmod ? c->o->mode & 07777 : st->st_mode & 07777;
}

static void
copy_owner (const struct copy_state *c, const struct stat *st, uid_t *uid, gid_t *gid)
{
  if (c->o->chown)
    *uid = c->o->uid, *gid = c->o->gid;
  else if (c->from_context)
    *uid = 0, *gid = 0;
  else
    *uid = st->st_uid, *gid = st->st_gid;
}

static void
copy_times (const struct copy_state *c, const struct stat *st, struct timespec ts[2])
{
  if (c->o->mtime >= 0)
    ts[1] = (struct timespec){ .tv_sec = (time_t)c->o->mtime, .tv_nsec = 0 };
  else
    ts[1] = st->st_mtim;
  ts[0] = ts[1];
}

/* A chown that was not asked for (0:0, or the source's ids) may fail in a
   user namespace that cannot map the ids: keep ours then, as cp does.  */
static bool
chown_ignorable (const struct copy_state *c)
{
  return !c->o->chown && (errno == EINVAL || errno == EPERM);
}

/* Owner, mode and times of what fd is; fd may not be a symlink.  */
static int
meta_fd (struct copy_state *c, int fd, const struct stat *st, husk_error_t *err)
{
  struct timespec ts[2];
  uid_t uid;
  gid_t gid;

  copy_owner (c, st, &uid, &gid);
  if (fchown (fd, uid, gid) < 0 && !chown_ignorable (c))
    return husk_make_error (err, errno, "chown `%s`", c->path.data);
  if (fchmod (fd, copy_mode (c, st)) < 0)
    return husk_make_error (err, errno, "chmod `%s`", c->path.data);
  copy_times (c, st, ts);
  if (futimens (fd, ts) < 0)
    return husk_make_error (err, errno, "set times of `%s`", c->path.data);
  return 0;
}

/* The same for a symlink or a special file, by name in dfd (which only
   this build writes to).  */
static int
meta_at (struct copy_state *c, int dfd, const char *name, const struct stat *st, husk_error_t *err)
{
  struct timespec ts[2];
  uid_t uid;
  gid_t gid;

  copy_owner (c, st, &uid, &gid);
  if (fchownat (dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && !chown_ignorable (c))
    return husk_make_error (err, errno, "chown `%s`", c->path.data);
  if (!S_ISLNK (st->st_mode) && fchmodat (dfd, name, copy_mode (c, st), 0) < 0)
    return husk_make_error (err, errno, "chmod `%s`", c->path.data);
  copy_times (c, st, ts);
  if (utimensat (dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return husk_make_error (err, errno, "set times of `%s`", c->path.data);
  return 0;
}

/* Make room for name in dfd: 1 when it is a directory that stays (want_dir),
   0 when the name is free.  A directory is never replaced by a file, nor
   a file by a directory (buildkit's "cannot copy to non-directory").  */
static int
make_room (struct copy_state *c, int dfd, const char *name, bool want_dir, husk_error_t *err)
{
  struct stat st;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : husk_make_error (err, errno, "stat `%s`", name);
  if (S_ISDIR (st.st_mode))
    {
      if (want_dir)
        return 1;
      return husk_make_error (err, EISDIR, "cannot overwrite directory `%s` with `%s`", name, c->path.data);
    }
  if (want_dir)
    return husk_make_error (err, ENOTDIR, "cannot copy to non-directory: `%s`", name);
  if (unlinkat (dfd, name, 0) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "remove `%s`", name);
  return 0;
}

static int
copy_data (struct copy_state *c, int in, int out, husk_error_t *err)
{
  bool cfr = true;

  for (;;)
    {
      ssize_t n;

      if (cfr)
        {
          n = copy_file_range (in, NULL, out, NULL, 1 << 30, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0
              && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP
                  || errno == EBADF || errno == EPERM || errno == ETXTBSY))
            {
              /* Offsets moved only by what was copied: go on with read.  */
              cfr = false;
              continue;
            }
          if (n < 0)
            return husk_make_error (err, errno, "copy `%s`", c->path.data);
          if (n == 0)
            return 0;
          continue;
        }
      if (c->buf == NULL)
        c->buf = xmalloc (IO_BUF_SIZE);
      n = read (in, c->buf, IO_BUF_SIZE);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return husk_make_error (err, errno, "read `%s`", c->path.data);
      if (n == 0)
        return 0;
      if (husk_write_all (out, c->buf, (size_t)n, err) < 0)
        return husk_error_wrap (err, "copy `%s`", c->path.data);
    }
}

static int
copy_file (struct copy_state *c, int in, const struct stat *st, int dfd, const char *name, husk_error_t *err)
{
  cleanup_close int out = -1;
  int ret = make_room (c, dfd, name, false, err);

  if (ret < 0)
    return ret;
  out = openat (dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return husk_make_error (err, errno, "create `%s`", name);
  ret = copy_data (c, in, out, err);
  if (ret < 0)
    return ret;
  if (c->o->progress != NULL)
    c->o->progress (c->o->progress_ctx, (uint64_t)st->st_size);
  return meta_fd (c, out, st, err);
}

static int
copy_special (struct copy_state *c, const struct stat *st, int dfd, const char *name, husk_error_t *err)
{
  int ret;

  if (S_ISSOCK (st->st_mode))
    return 0;
  for (int tries = 0;; tries++)
    {
      if (mknodat (dfd, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) == 0)
        break;
      if (errno == EEXIST && tries == 0)
        {
          ret = make_room (c, dfd, name, false, err);
          if (ret < 0)
            return ret;
          continue;
        }
      if (errno == EPERM || errno == EACCES)
        {
          husk_debug ("COPY: cannot create the special file `%s`: skipped", c->path.data);
          return 0;
        }
      return husk_make_error (err, errno, "mknod `%s`", name);
    }
  return meta_at (c, dfd, name, st, err);
}

static int
copy_symlink (struct copy_state *c, int sdfd, const char *sname, const struct stat *st, int dfd,
              const char *name, husk_error_t *err)
{
  size_t size = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
  cleanup_free char *target = NULL;
  ssize_t n;
  int ret;

  for (;;)
    {
      target = xrealloc (target, size);
      n = readlinkat (sdfd, sname, target, size);
      if (n < 0)
        return husk_make_error (err, errno, "readlink `%s`", c->path.data);
      if ((size_t)n < size)
        break;
      size *= 2;
    }
  target[n] = '\0';
  ret = make_room (c, dfd, name, false, err);
  if (ret < 0)
    return ret;
  if (symlinkat (target, dfd, name) < 0)
    return husk_make_error (err, errno, "symlink `%s`", name);
  return meta_at (c, dfd, name, st, err);
}

static int copy_dir_contents (struct copy_state *c, int sdfd, int ddfd, husk_error_t *err);

/* A directory below the top: created with the source's metadata, or an
   existing one kept as it is (buildkit's rule: only created directories
   get the source's owner, mode and times).  */
static int
copy_subdir (struct copy_state *c, int sdfd, const char *name, const struct stat *st, int dfd,
             husk_error_t *err)
{
  cleanup_close int src = -1;
  cleanup_close int dst = -1;
  int existed = make_room (c, dfd, name, true, err);
  int ret;

  if (existed < 0)
    return existed;
  if (!existed && mkdirat (dfd, name, 0700) < 0)
    return husk_make_error (err, errno, "mkdir `%s`", name);
  dst = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst < 0)
    return husk_make_error (err, errno, "open `%s`", name);
  src = openat (sdfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0)
    return husk_make_error (err, errno, "open `%s`", c->path.data);
  ret = copy_dir_contents (c, src, dst, err);
  if (ret < 0 || existed)
    return ret;
  return meta_fd (c, dst, st, err);
}

static int
copy_entry (struct copy_state *c, int sdfd, const char *name, const struct stat *st, int dfd,
            husk_error_t *err)
{
  cleanup_close int in = -1;
  struct stat now;

  if (S_ISDIR (st->st_mode))
    return copy_subdir (c, sdfd, name, st, dfd, err);
  if (S_ISLNK (st->st_mode))
    return copy_symlink (c, sdfd, name, st, dfd, name, err);
  if (!S_ISREG (st->st_mode))
    return copy_special (c, st, dfd, name, err);
  in = openat (sdfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  if (in < 0)
    return husk_make_error (err, errno, "open `%s`", c->path.data);
  if (fstat (in, &now) < 0)
    return husk_make_error (err, errno, "stat `%s`", c->path.data);
  return copy_file (c, in, &now, dfd, name, err);
}

static int
copy_dir_contents (struct copy_state *c, int sdfd, int ddfd, husk_error_t *err)
{
  cleanup_strv char **names = NULL;
  size_t n = 0;
  int ret = husk_list_dir_sorted (sdfd, &names, &n, err);

  for (size_t i = 0; ret == 0 && i < n; i++)
    {
      size_t old = path_push (&c->path, names[i]);
      struct stat st;

      if (fstatat (sdfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
        ret = husk_make_error (err, errno, "stat `%s`", c->path.data);
      else
        {
          ret = c->ig ? entry_wanted (c->ig, sdfd, names[i], st.st_mode, &c->path, err)
                      : !S_ISSOCK (st.st_mode);
          if (ret > 0)
            ret = copy_entry (c, sdfd, names[i], &st, ddfd, err);
        }
      path_pop (&c->path, old);
    }
  return ret;
}

/* An existing directory at path inside rootfd: an fd, or -errno.  */
static int
open_dir_in (int rootfd, const char *path)
{
  return husk_open_in_root (rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, NULL);
}

/* A directory source: its contents into dest, created (with the
   source's metadata) when missing.  */
static int
copy_top_dir (struct copy_state *c, int top, const struct stat *st, int dst_rootfd, const char *dest,
              husk_error_t *err)
{
  cleanup_close int src = -1;
  cleanup_close int dst = open_dir_in (dst_rootfd, dest);
  bool created = false;
  int ret;

  if (dst == -ENOENT)
    {
      dst = husk_mkdir_in_root (dst_rootfd, dest, 0755, err);
      if (dst < 0)
        return dst;
      created = true;
    }
  else if (dst == -ENOTDIR)
    return husk_make_error (err, ENOTDIR, "cannot copy to non-directory: `%s`", dest);
  else if (dst < 0)
    return husk_make_error (err, -dst, "open `%s`", dest);
  src = openat (top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src < 0)
    return husk_make_error (err, errno, "open `%s`", root_path (c->path.data));
  ret = copy_dir_contents (c, src, dst, err);
  if (ret < 0 || !created)
    return ret;
  return meta_fd (c, dst, st, err);
}

/* A file source: into dest when it ends with "/" or is a directory
   (inside the root), else to dest itself.  */
static int
copy_top_file (struct copy_state *c, int src_rootfd, const char *rel, const struct stat *st, int dst_rootfd,
               const char *dest, bool dest_dir, husk_error_t *err)
{
  cleanup_close int dfd = -1;
  cleanup_close int in = -1;
  cleanup_free char *parent = NULL;
  const char *name, *slash;

  if (!dest_dir)
    dfd = open_dir_in (dst_rootfd, dest);
  if (dest_dir || dfd >= 0)
    {
      if (dfd < 0)
        dfd = husk_mkdir_in_root (dst_rootfd, dest, 0755, err);
      if (dfd < 0)
        return dfd;
      slash = strrchr (rel, '/');
      name = slash ? slash + 1 : rel;
    }
  else if (dfd != -ENOENT && dfd != -ENOTDIR)
    return husk_make_error (err, -dfd, "open `%s`", dest);
  else
    {
      slash = strrchr (dest, '/');
      parent = slash ? xstrndup (dest, (size_t)(slash - dest)) : xstrdup ("");
      name = slash ? slash + 1 : dest;
      dfd = husk_mkdir_in_root (dst_rootfd, *parent ? parent : "/", 0755, err);
      if (dfd < 0)
        return dfd;
    }
  if (!S_ISREG (st->st_mode))
    return copy_special (c, st, dfd, name, err);
  in = reopen_top (src_rootfd, rel, st, O_RDONLY, err);
  if (in < 0)
    return in;
  return copy_file (c, in, st, dfd, name, err);
}

int
husk_build_copy (int src_rootfd, const char *src, bool from_context, int dst_rootfd, const char *dest,
                 const struct husk_build_copy_opts *o, husk_error_t *err)
{
  static const struct husk_build_copy_opts defaults = { .mtime = -1 };
  struct copy_state c = { .o = o ? o : &defaults, .from_context = from_context };
  cleanup_free char *rel = clean_rel (src);
  cleanup_free char *dclean = NULL;
  cleanup_close int top = -1;
  size_t dlen = strlen (dest);
  bool dest_dir;
  struct stat st;
  int ret;

  c.ig = c.o->ig;
  /* "dir/" and "dir/." name a directory to copy into.  */
  dest_dir = dlen == 0 || dest[dlen - 1] == '/' || (dlen >= 2 && strcmp (dest + dlen - 2, "/.") == 0)
             || strcmp (dest, ".") == 0;
  {
    cleanup_free char *d = clean_rel (dest);
    dclean = xasprintf ("/%s", d);
  }
  husk_buf_puts (&c.path, rel);
  top = open_top (src_rootfd, rel, &st, err);
  if (top < 0)
    ret = top;
  else if (S_ISDIR (st.st_mode))
    ret = copy_top_dir (&c, top, &st, dst_rootfd, dclean, err);
  else
    ret = copy_top_file (&c, src_rootfd, rel, &st, dst_rootfd, dclean, dest_dir, err);
  if (ret < 0)
    husk_error_wrap (err, "COPY `%s` to `%s`", root_path (rel), dest);
  husk_buf_free (&c.path);
  free (c.buf);
  return ret;
}
