/* husk: RUN, a container over a build_work (build-internal.h).

   The command runs in the foreground as a child of this process (no
   monitor, no cgroup): default capabilities and seccomp, private pid,
   ipc, uts and cgroup namespaces, network "none" (loopback only) or
   "host".  The runtime's parent-death signal ties it to this thread, so
   killing `husk build` kills the step.

   RUN --mount (Docker's syntax, comma-separated key=value):
     type=cache,target=/x[,id=,sharing=shared|private|locked,mode=,uid=,gid=,ro]
       a directory kept under the store (build-cache-mounts/<sha256 of id,
       the target when no id>) across builds, bound read-write;
       "locked" and "private" serialize steps that use it (flock);
     type=tmpfs,target=/x[,size=]
     type=bind,target=/x[,source=/y][,from=stage|image][,rw]
       source (default "/") from the build context, or from the stage or
       image named by from=, read-only unless rw (then writes go to a
       throw-away overlay or copy, as BuildKit discards them).
   The source of a bind is resolved INSIDE its root (husk_open_in_root): a
   symlink "/rootdir -> /" in a stage shows the stage's root, never the
   host's (CVE-2024-1753).  The resolved directory is cloned with
   open_tree and attached on a directory of this step's run dir, in the
   build process's own private mount namespace (the runtime binds host
   paths, and its child can only clone mounts of its own namespace, a copy
   of ours); every such mount is detached before build_run returns.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build-internal.h"
#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/runtime.h"
#include "husk/security.h"
#include "husk/util.h"

/* What one RUN owns until it returns.  */
struct run_state
{
  struct build_ctx *b;
  char *dir; /* <tmpdir>/run-N: hosts, resolv.conf, mount points */
  unsigned n;
  struct husk_mount *mounts;
  size_t n_mounts;
  char **strings;  /* sources and targets the mounts point to */
  char **attached; /* mount points to detach at the end */
  int *fds;        /* cache locks, layer trees */
  size_t n_fds;
};

static void
run_state_clear (struct run_state *st)
{
  size_t i;

  for (i = 0; st->attached != NULL && st->attached[i] != NULL; i++)
    umount2 (st->attached[i], MNT_DETACH);
  for (i = 0; i < st->n_fds; i++)
    close (st->fds[i]);
  if (st->dir != NULL)
    {
      husk_error_t ignored = NULL;
      if (husk_rm_rf_at (AT_FDCWD, st->dir, &ignored) < 0)
        husk_error_release (&ignored);
    }
  free (st->dir);
  free (st->mounts);
  strv_free (st->strings);
  strv_free (st->attached);
  free (st->fds);
}

static const char *
keep (struct run_state *st, char *s)
{
  strv_append_take (&st->strings, s);
  return s;
}

static void
keep_fd (struct run_state *st, int fd)
{
  st->fds = xrealloc (st->fds, (st->n_fds + 1) * sizeof (int));
  st->fds[st->n_fds++] = fd;
}

static struct husk_mount *
add_mount (struct run_state *st)
{
  st->mounts = xrealloc (st->mounts, (st->n_mounts + 1) * sizeof (*st->mounts));
  memset (&st->mounts[st->n_mounts], 0, sizeof (*st->mounts));
  return &st->mounts[st->n_mounts++];
}

/* The build process's own mount namespace, private, once: mount points
   for binds are attached there and never reach the host's.  */
static int
private_mount_ns (husk_error_t *err)
{
  static bool done;

  if (done)
    return 0;
  if (unshare (CLONE_NEWNS) < 0)
    return husk_make_error (err, errno, "new mount namespace");
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return husk_make_error (err, errno, "make the mount namespace private");
  done = true;
  return 0;
}

/* ---- parsing --mount ---- */

struct mount_opts
{
  char *type, *target, *source, *from, *id, *sharing, *mode, *uid, *gid, *size;
  bool rw, ro;
};

static void
mount_opts_clear (struct mount_opts *m)
{
  free (m->type);
  free (m->target);
  free (m->source);
  free (m->from);
  free (m->id);
  free (m->sharing);
  free (m->mode);
  free (m->uid);
  free (m->gid);
  free (m->size);
}

static int
parse_bool (const char *spec, const char *key, const char *v, bool *out, husk_error_t *err)
{
  if (v == NULL || strcmp (v, "true") == 0 || strcmp (v, "1") == 0)
    *out = true;
  else if (strcmp (v, "false") == 0 || strcmp (v, "0") == 0)
    *out = false;
  else
    return husk_make_error (err, EINVAL, "RUN --mount=%s: invalid value \"%s\" for %s", spec, v, key);
  return 0;
}

static int
mount_opts_parse (const char *spec, struct mount_opts *m, husk_error_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *t, *save = NULL;

  for (t = strtok_r (copy, ",", &save); t != NULL; t = strtok_r (NULL, ",", &save))
    {
      char *eq = strchr (t, '=');
      const char *v = eq != NULL ? eq + 1 : NULL;
      char **slot = NULL;
      bool flag;

      if (eq != NULL)
        *eq = '\0';
      if (strcmp (t, "type") == 0)
        slot = &m->type;
      else if (strcmp (t, "target") == 0 || strcmp (t, "dst") == 0 || strcmp (t, "destination") == 0)
        slot = &m->target;
      else if (strcmp (t, "source") == 0 || strcmp (t, "src") == 0)
        slot = &m->source;
      else if (strcmp (t, "from") == 0)
        slot = &m->from;
      else if (strcmp (t, "id") == 0)
        slot = &m->id;
      else if (strcmp (t, "sharing") == 0)
        slot = &m->sharing;
      else if (strcmp (t, "mode") == 0)
        slot = &m->mode;
      else if (strcmp (t, "uid") == 0)
        slot = &m->uid;
      else if (strcmp (t, "gid") == 0)
        slot = &m->gid;
      else if (strcmp (t, "size") == 0 || strcmp (t, "tmpfs-size") == 0)
        slot = &m->size;
      else if (strcmp (t, "rw") == 0 || strcmp (t, "readwrite") == 0)
        {
          if (parse_bool (spec, t, v, &flag, err) < 0)
            return -1;
          m->rw = flag;
          continue;
        }
      else if (strcmp (t, "ro") == 0 || strcmp (t, "readonly") == 0)
        {
          if (parse_bool (spec, t, v, &flag, err) < 0)
            return -1;
          m->ro = flag;
          continue;
        }
      else
        return husk_make_error (err, EINVAL, "RUN --mount=%s: unknown option \"%s\"", spec, t);
      if (v == NULL)
        return husk_make_error (err, EINVAL, "RUN --mount=%s: option \"%s\" needs a value", spec, t);
      free (*slot);
      *slot = xstrdup (v);
    }
  if (m->type == NULL)
    m->type = xstrdup ("bind");
  if (m->target == NULL || m->target[0] == '\0')
    return husk_make_error (err, EINVAL, "RUN --mount=%s: target is required", spec);
  return 0;
}

/* An option given to a type that has no use for it is an error, not
   silently ignored.  */
static int
mount_opts_check (const char *spec, const struct mount_opts *m, husk_error_t *err)
{
  bool bind = strcmp (m->type, "bind") == 0, cache = strcmp (m->type, "cache") == 0;
  bool tmpfs = strcmp (m->type, "tmpfs") == 0;
  const char *bad = NULL;

  if (!bind && !cache && !tmpfs)
    {
      if (strcmp (m->type, "secret") == 0 || strcmp (m->type, "ssh") == 0)
        return husk_make_error (err, ENOTSUP, "RUN --mount=%s: type=%s is not supported yet", spec, m->type);
      return husk_make_error (err, EINVAL, "RUN --mount=%s: unknown mount type \"%s\"", spec, m->type);
    }
  if (!cache && (m->id || m->sharing || m->mode || m->uid || m->gid))
    bad = m->id ? "id" : m->sharing ? "sharing" : m->mode ? "mode" : m->uid ? "uid" : "gid";
  else if (!tmpfs && m->size)
    bad = "size";
  else if (tmpfs && (m->source || m->from || m->rw || m->ro))
    bad = m->source ? "source" : m->from ? "from" : m->rw ? "rw" : "ro";
  else if (cache && (m->source || m->from))
    bad = m->source ? "source" : "from";
  else if (!bind && m->rw)
    bad = "rw";
  if (bad != NULL)
    return husk_make_error (err, EINVAL, "RUN --mount=%s: option \"%s\" is not valid for type=%s", spec, bad,
                            m->type);
  if (cache && m->sharing && strcmp (m->sharing, "shared") != 0 && strcmp (m->sharing, "private") != 0
      && strcmp (m->sharing, "locked") != 0)
    return husk_make_error (err, EINVAL, "RUN --mount=%s: invalid sharing \"%s\" (shared, private, locked)",
                            spec, m->sharing);
  return 0;
}

/* ---- the mount types ---- */

static int
mount_tmpfs (struct run_state *st, const char *spec, const struct mount_opts *m, const char *target,
             husk_error_t *err)
{
  struct husk_mount *hm;
  uint64_t size = 0;

  if (m->size != NULL && !husk_parse_u64 (m->size, &size))
    return husk_make_error (err, EINVAL, "RUN --mount=%s: invalid size \"%s\" (bytes)", spec, m->size);
  hm = add_mount (st);
  hm->type = HUSK_MOUNT_TMPFS;
  hm->destination = target;
  hm->tmpfs_size = size;
  hm->nosuid = true;
  hm->nodev = true;
  return 0;
}

static int
parse_id (const char *spec, const char *what, const char *v, unsigned long max, unsigned long *out, int base,
          husk_error_t *err)
{
  char *end = NULL;

  errno = 0;
  *out = strtoul (v, &end, base);
  if (errno != 0 || end == v || *end != '\0' || *out > max)
    return husk_make_error (err, EINVAL, "RUN --mount=%s: invalid %s \"%s\"", spec, what, v);
  return 0;
}

static int
mount_cache (struct run_state *st, const char *spec, const struct mount_opts *m, const char *target,
             husk_error_t *err)
{
  const char *key = m->id != NULL && m->id[0] != '\0' ? m->id : target;
  cleanup_free char *digest = husk_digest_buffer (key, strlen (key));
  cleanup_free char *base = xasprintf ("%s/build-cache-mounts", husk_store_root (st->b->s));
  char *dir = xasprintf ("%s/%s", base, husk_digest_hex (digest));
  unsigned long mode = 0755, uid = 0, gid = 0;
  struct husk_mount *hm;

  keep (st, dir);
  if ((m->mode && parse_id (spec, "mode", m->mode, 07777, &mode, 8, err) < 0)
      || (m->uid && parse_id (spec, "uid", m->uid, 0xfffffffeUL, &uid, 10, err) < 0)
      || (m->gid && parse_id (spec, "gid", m->gid, 0xfffffffeUL, &gid, 10, err) < 0))
    return -1;
  if (husk_mkdir_p (base, 0700, err) < 0)
    return -1;
  /* Owner and mode apply when the cache is made, as BuildKit's.  */
  if (mkdir (dir, 0700) == 0)
    {
      if (chown (dir, (uid_t)uid, (gid_t)gid) < 0 || chmod (dir, (mode_t)mode) < 0)
        {
          int saved = errno;
          rmdir (dir);
          return husk_make_error (err, saved, "set up the cache mount `%s`", dir);
        }
    }
  else if (errno != EEXIST)
    return husk_make_error (err, errno, "mkdir `%s`", dir);
  if (m->sharing != NULL && strcmp (m->sharing, "shared") != 0)
    {
      cleanup_free char *lock = xasprintf ("%s.lock", dir);
      int fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", lock);
      keep_fd (st, fd);
      if (flock (fd, LOCK_EX) < 0)
        return husk_make_error (err, errno, "lock the cache mount `%s`", m->id ? m->id : target);
    }
  hm = add_mount (st);
  hm->type = HUSK_MOUNT_BIND;
  hm->source = dir;
  hm->destination = target;
  hm->readonly = m->ro;
  return 0;
}

/* The root a bind's source is resolved in: the stage or image from=
   names (its layers as a detached read-only mount), else the context
   reopened by path in this mount namespace (a mount of the namespace we
   left cannot be cloned) and checked to be the same directory.  */
static int
bind_root (struct run_state *st, const struct mount_opts *m, husk_error_t *err)
{
  struct build_ctx *b = st->b;
  struct stat a, c;
  int fd;

  if (m->from != NULL)
    {
      cleanup_strv char **diff_ids = NULL;
      cleanup_strv char **dirs = NULL;
      struct husk_rootfs r = { 0 };
      size_t i, n;

      if (b->resolve_from == NULL)
        return husk_make_error (err, ENOTSUP, "RUN --mount from=%s: no stages to mount from", m->from);
      if (b->resolve_from (b, m->from, &diff_ids, err) < 0)
        return -1;
      n = strv_len (diff_ids);
      if (n == 0)
        {
          cleanup_free char *empty = xasprintf ("%s/empty-%u", st->dir, st->n++);
          if (mkdir (empty, 0755) < 0)
            return husk_make_error (err, errno, "mkdir `%s`", empty);
          fd = open (empty, O_PATH | O_DIRECTORY | O_CLOEXEC);
          if (fd < 0)
            return husk_make_error (err, errno, "open `%s`", empty);
          return fd;
        }
      dirs = xzalloc ((n + 1) * sizeof (char *));
      for (i = 0; i < n; i++)
        dirs[i] = husk_store_layer_path (b->s, diff_ids[i]);
      r.lower_dirs = dirs;
      fd = husk_rootfs_mount_detached (&r, err);
      if (fd < 0)
        return husk_error_wrap (err, "mount %s", m->from);
      return fd;
    }
  {
    cleanup_free char *link = xasprintf ("/proc/self/fd/%d", b->context_fd);
    cleanup_free char *path = NULL;
    cleanup_free char *buf = xzalloc (4097);
    ssize_t len = readlink (link, buf, 4096);

    if (len <= 0 || len >= 4096)
      return husk_make_error (err, len < 0 ? errno : ENAMETOOLONG, "find the build context's path");
    path = xstrndup (buf, (size_t)len);
    fd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return husk_make_error (err, errno, "open the build context `%s`", path);
    if (fstat (fd, &a) < 0 || fstat (b->context_fd, &c) < 0 || a.st_dev != c.st_dev || a.st_ino != c.st_ino)
      {
        close (fd);
        return husk_make_error (err, ESTALE, "the build context `%s` moved", path);
      }
    return fd;
  }
}

/* A copy of a file for a read-write bind (its writes are thrown away).  */
static int
copy_file_for_rw (struct run_state *st, int pathfd, const char *dst, husk_error_t *err)
{
  cleanup_free char *self = xasprintf ("/proc/self/fd/%d", pathfd);
  cleanup_close int in = open (self, O_RDONLY | O_CLOEXEC);
  cleanup_close int out = -1;
  cleanup_free char *data = NULL;
  size_t len = 0;
  struct stat sb;

  if (in < 0 || fstat (in, &sb) < 0)
    return husk_make_error (err, errno, "open the bind source");
  out = open (dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, sb.st_mode & 07777);
  if (out < 0)
    return husk_make_error (err, errno, "create `%s`", dst);
  if (husk_read_all_fd (in, 0, &data, &len, err) < 0 || husk_write_all (out, data, len, err) < 0)
    return -1;
  return 0;
}

/* Attach a clone of pathfd's tree on a new mount point in the run dir
   (read-only unless rw); returns the mount point.  */
static const char *
attach_clone (struct run_state *st, int pathfd, bool is_dir, bool readonly, husk_error_t *err)
{
  char *point = xasprintf ("%s/mnt-%u", st->dir, st->n++);
  cleanup_close int tree = -1;
  int fd;

  keep (st, point);
  if (is_dir ? mkdir (point, 0755) < 0
             : (fd = open (point, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)) < 0)
    {
      husk_make_error (err, errno, "create `%s`", point);
      return NULL;
    }
  if (!is_dir)
    close (fd);
  tree = open_tree (pathfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  if (tree < 0)
    {
      husk_make_error (err, errno, "clone the bind source");
      return NULL;
    }
  if (readonly)
    {
      struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
      if (mount_setattr (tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof (attr)) < 0)
        {
          husk_make_error (err, errno, "make the bind source read-only");
          return NULL;
        }
    }
  if (move_mount (tree, "", AT_FDCWD, point, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    {
      husk_make_error (err, errno, "attach the bind source on `%s`", point);
      return NULL;
    }
  strv_append (&st->attached, point);
  return point;
}

/* rw on a directory: an overlay of it under a throw-away upper dir.  */
static const char *
overlay_rw (struct run_state *st, const char *lower, husk_error_t *err)
{
  unsigned k = st->n++;
  char *upper = xasprintf ("%s/rw-%u", st->dir, k);
  char *work = xasprintf ("%s/rww-%u", st->dir, k);
  char *lowers[] = { (char *)lower, NULL };
  struct husk_rootfs r = { .lower_dirs = lowers, .upper_dir = upper, .work_dir = work };
  cleanup_close int tree = -1;

  keep (st, upper);
  keep (st, work);
  if (mkdir (upper, 0755) < 0 || mkdir (work, 0700) < 0)
    {
      husk_make_error (err, errno, "mkdir `%s`", upper);
      return NULL;
    }
  tree = husk_rootfs_mount_detached (&r, err);
  if (tree < 0)
    return NULL;
  return attach_clone (st, tree, true, false, err);
}

static int
mount_bind (struct run_state *st, const struct mount_opts *m, const char *target, husk_error_t *err)
{
  cleanup_close int rootfd = -1;
  cleanup_close int pathfd = -1;
  const char *source = m->source != NULL && m->source[0] != '\0' ? m->source : "/";
  const char *point;
  struct husk_mount *hm;
  struct stat sb;

  if (private_mount_ns (err) < 0)
    return -1;
  rootfd = bind_root (st, m, err);
  if (rootfd < 0)
    return -1;
  pathfd = husk_open_in_root (rootfd, source, O_PATH | O_CLOEXEC, 0, err);
  if (pathfd < 0)
    return husk_error_wrap (err, "RUN --mount source `%s`%s%s", source, m->from ? " from " : "",
                            m->from ? m->from : "");
  if (fstat (pathfd, &sb) < 0)
    return husk_make_error (err, errno, "stat `%s`", source);
  if (!S_ISDIR (sb.st_mode) && !S_ISREG (sb.st_mode))
    return husk_make_error (err, EINVAL, "RUN --mount source `%s`: not a file or directory", source);
  if (m->rw && !S_ISDIR (sb.st_mode))
    {
      char *copy = xasprintf ("%s/file-%u", st->dir, st->n++);
      keep (st, copy);
      if (copy_file_for_rw (st, pathfd, copy, err) < 0)
        return -1;
      point = copy;
    }
  else
    {
      point = attach_clone (st, pathfd, S_ISDIR (sb.st_mode), true, err);
      if (point != NULL && m->rw)
        point = overlay_rw (st, point, err);
      if (point == NULL)
        return -1;
    }
  hm = add_mount (st);
  hm->type = HUSK_MOUNT_BIND;
  hm->source = point;
  hm->destination = target;
  hm->readonly = !m->rw;
  return 0;
}

static int
mount_one (struct run_state *st, struct build_work *w, const char *spec, const char *cwd, husk_error_t *err)
{
  struct mount_opts m = { 0 };
  const char *target;
  int ret;

  ret = mount_opts_parse (spec, &m, err);
  if (ret == 0)
    ret = mount_opts_check (spec, &m, err);
  if (ret < 0)
    goto out;
  /* A relative target is relative to the working directory (BuildKit).  */
  if (m.target[0] == '/')
    target = keep (st, xstrdup (m.target));
  else
    target = keep (st, xasprintf ("%s/%s", strcmp (cwd, "/") == 0 ? "" : cwd, m.target));
  strv_append (&w->mount_targets, target);
  if (strcmp (m.type, "tmpfs") == 0)
    ret = mount_tmpfs (st, spec, &m, target, err);
  else if (strcmp (m.type, "cache") == 0)
    ret = mount_cache (st, spec, &m, target, err);
  else
    ret = mount_bind (st, &m, target, err);
  if (ret < 0 && strncmp ((*err)->msg, "RUN --mount", 11) != 0)
    husk_error_wrap (err, "RUN --mount=%s", spec);
out:
  mount_opts_clear (&m);
  return ret;
}

/* ---- the container ---- */

/* /etc/hosts and /etc/resolv.conf as `husk run` writes them.  */
static int
write_etc_files (struct run_state *st, bool host_net, const char *hostname, husk_error_t *err)
{
  cleanup_close int dfd = open (st->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  cleanup_free char *base = NULL;
  cleanup_free char *resolv = NULL;
  struct husk_buf hosts = { 0 };
  size_t len = 0;
  int ret;

  if (dfd < 0)
    return husk_make_error (err, errno, "open `%s`", st->dir);
  base = husk_etc_hosts_base (host_net, &len);
  husk_buf_append (&hosts, base, len);
  if (!host_net)
    husk_buf_printf (&hosts, "127.0.1.1\t%s\n", hostname);
  ret = husk_write_file_atomic_nosync (dfd, "hosts", hosts.data ? hosts.data : "", hosts.len, 0644, err);
  husk_buf_free (&hosts);
  if (ret < 0)
    return -1;
  resolv = husk_etc_resolv_conf (host_net, &len);
  return husk_write_file_atomic_nosync (dfd, "resolv.conf", resolv, len, 0644, err);
}

/* stdin: the heredoc in an anonymous file (a shell may seek back in it,
   and nothing blocks on a command that never reads), else /dev/null.  */
static int
open_stdin (struct build_ctx *b, const char *data, husk_error_t *err)
{
  cleanup_close int fd = -1;

  if (data == NULL)
    return -1;
  fd = husk_open_tmpfile (b->tmpdir, err);
  if (fd < 0)
    return -2;
  if (husk_write_all (fd, data, strlen (data), err) < 0)
    return -2;
  if (lseek (fd, 0, SEEK_SET) < 0)
    {
      husk_make_error (err, errno, "lseek");
      return -2;
    }
  return move_fd (&fd);
}

static int
wait_status (pid_t pid, int *status, husk_error_t *err)
{
  int ws;

  while (waitpid (pid, &ws, 0) < 0)
    if (errno != EINTR)
      return husk_make_error (err, errno, "wait for the RUN command");
  if (WIFEXITED (ws))
    *status = WEXITSTATUS (ws);
  else if (WIFSIGNALED (ws))
    *status = 128 + WTERMSIG (ws);
  else
    *status = 255;
  return 0;
}

static int
run_container (struct run_state *st, const struct husk_run_spec *spec, int *status, husk_error_t *err)
{
  struct husk_runtime_process p = { .pid = -1, .pidfd = -1, .sync_fd = -1, .pty_master = -1 };
  int ret;

  ret = husk_runtime_create (spec, &p, err);
  if (ret < 0)
    return ret;
  ret = husk_runtime_start (&p, err);
  if (ret < 0)
    {
      husk_error_t ignored = NULL;
      int unused;
      if (wait_status (p.pid, &unused, &ignored) < 0)
        husk_error_release (&ignored);
      husk_runtime_process_release (&p);
      return ret;
    }
  husk_runtime_process_release (&p);
  return wait_status (p.pid, status, err);
}

int
build_run (struct build_ctx *b, struct build_work *w, const struct build_run_req *r, int *status,
           husk_error_t *err)
{
  struct run_state st = { .b = b };
  struct husk_security_spec sec;
  struct husk_run_spec spec;
  const char *net = r->network != NULL ? r->network : "none";
  const char *cwd = r->cwd != NULL && r->cwd[0] != '\0' ? r->cwd : "/";
  cleanup_free char *id = husk_store_container_new_id ();
  cleanup_free char *cache = xasprintf ("%s/cache/seccomp", husk_store_root (b->s));
  cleanup_close int in = -1;
  char hostname[13];
  size_t i;
  int ret;

  *status = -1;
  memset (&spec, 0, sizeof (spec));
  husk_security_spec_init (&sec);
  if (strcmp (net, "none") == 0)
    spec.net_ns.mode = HUSK_NS_PRIVATE;
  else if (strcmp (net, "host") == 0)
    spec.net_ns.mode = HUSK_NS_HOST;
  else
    {
      ret = husk_make_error (err, 0, "RUN --network=%s is not supported yet: use none or host", net);
      goto out;
    }
  snprintf (hostname, sizeof (hostname), "%.12s", id);

  st.dir = xasprintf ("%s/run-%u", b->tmpdir, b->seq++);
  if (mkdir (st.dir, 0700) < 0)
    {
      ret = husk_make_error (err, errno, "mkdir `%s`", st.dir);
      free (steal_pointer (&st.dir));
      goto out;
    }
  ret = write_etc_files (&st, spec.net_ns.mode == HUSK_NS_HOST, hostname, err);
  for (i = 0; ret == 0 && r->mounts != NULL && r->mounts[i] != NULL; i++)
    ret = mount_one (&st, w, r->mounts[i], cwd, err);
  if (ret == 0)
    ret = husk_security_prepare (&sec, cache, err);
  if (ret < 0)
    goto out;
  in = open_stdin (b, r->stdin_data, err);
  if (in == -2)
    {
      ret = -1;
      goto out;
    }

  spec.id = id;
  spec.argv = r->argv;
  spec.env = r->env;
  spec.cwd = cwd;
  spec.user = r->user != NULL && r->user[0] != '\0' ? r->user : NULL;
  spec.hostname = hostname;
  if (w->lower_dirs != NULL && w->lower_dirs[0] != NULL)
    {
      spec.rootfs.lower_dirs = w->lower_dirs;
      spec.rootfs.upper_dir = w->upper;
      spec.rootfs.work_dir = w->workdir;
    }
  else
    spec.rootfs.dir = w->upper;
  spec.mounts = st.mounts;
  spec.n_mounts = st.n_mounts;
  spec.hosts_file = keep (&st, xasprintf ("%s/hosts", st.dir));
  spec.resolv_conf_file = keep (&st, xasprintf ("%s/resolv.conf", st.dir));
  spec.security = &sec;
  spec.stdio[0] = in;
  spec.stdio[1] = b->o != NULL ? b->o->run_stdout : -1;
  spec.stdio[2] = b->o != NULL ? b->o->run_stderr : -1;
  ret = run_container (&st, &spec, status, err);
out:
  husk_security_spec_release (&sec);
  run_state_clear (&st);
  return ret;
}
