/* husk: mounts inside the container, with the new mount API.

   Every mount is made detached (fsopen/fsmount or open_tree) and attached
   with move_mount onto an fd that husk_open_in_root resolved inside the
   container root, so a symlink planted in the image can never send a
   mount out of the root (DESIGN.md section 7).  All of this runs in the
   child's private mount namespace: nothing touches the host's.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/util.h"
#include "runtime-internal.h"

/* The kernel's own words for a failed fsconfig: read the fs context's
   message log ("e overlayfs: failed to resolve ...").  */
static char *
fs_context_message (int fsfd)
{
  struct husk_buf b = { 0 };
  char chunk[512];
  ssize_t n;

  while ((n = read (fsfd, chunk, sizeof (chunk) - 1)) > 0)
    {
      chunk[n] = '\0';
      if (b.len > 0)
        husk_buf_puts (&b, "; ");
      /* Strip the "e " / "w " severity prefix.  */
      husk_buf_puts (&b, (n > 2 && chunk[1] == ' ') ? chunk + 2 : chunk);
    }
  if (b.len == 0)
    {
      husk_buf_free (&b);
      return NULL;
    }
  return husk_buf_steal (&b, NULL);
}

int
runtime_fs_error (husk_error_t *err, int fsfd, int errnum, const char *what, const char *key)
{
  cleanup_free char *msg = fs_context_message (fsfd);

  if (msg != NULL)
    return husk_make_error (err, errnum, "mount %s (%s%s%s)", what, key ? key : "", key ? ": " : "", msg);
  if (key != NULL)
    return husk_make_error (err, errnum, "mount %s: option %s", what, key);
  return husk_make_error (err, errnum, "mount %s", what);
}

int
runtime_open_quiet (int rootfd, const char *path, int flags)
{
  husk_error_t e = NULL;
  int fd = husk_open_in_root (rootfd, path, flags, 0, &e);

  if (fd < 0)
    {
      int saved = e != NULL && e->status > 0 ? e->status : EIO;
      husk_error_release (&e);
      errno = saved;
    }
  return fd;
}

int
runtime_fs_mount (const char *fstype, const char *const *options, unsigned attrs, husk_error_t *err)
{
  cleanup_close int fsfd = -1;
  size_t i;
  int mfd;

  fsfd = fsopen (fstype, FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return husk_make_error (err, errno, "mount %s", fstype);
  for (i = 0; options != NULL && options[i] != NULL; i++)
    {
      const char *eq = strchr (options[i], '=');
      int ret;

      if (eq == NULL)
        ret = fsconfig (fsfd, FSCONFIG_SET_FLAG, options[i], NULL, 0);
      else
        {
          cleanup_free char *key = xstrndup (options[i], (size_t)(eq - options[i]));
          ret = fsconfig (fsfd, FSCONFIG_SET_STRING, key, eq + 1, 0);
        }
      if (ret < 0)
        return runtime_fs_error (err, fsfd, errno, fstype, options[i]);
    }
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return runtime_fs_error (err, fsfd, errno, fstype, NULL);
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, attrs);
  if (mfd < 0)
    return runtime_fs_error (err, fsfd, errno, fstype, NULL);
  return mfd;
}

/* The initial user namespace maps every id to itself: "0 0 4294967295".  */
bool
runtime_in_userns (void)
{
  static int cached = -1;

  if (cached < 0)
    {
      cleanup_free char *map = NULL;
      husk_error_t e = NULL;
      unsigned long in, out, count;

      if (husk_read_file_at (AT_FDCWD, "/proc/self/uid_map", 0, &map, NULL, &e) < 0)
        {
          husk_error_release (&e);
          return false; /* no /proc: no way to tell, behave as before */
        }
      cached = !(sscanf (map, "%lu %lu %lu", &in, &out, &count) == 3 && in == 0 && out == 0
                 && count == 4294967295UL);
    }
  return cached == 1;
}

bool
runtime_gid_mapped (gid_t gid)
{
  cleanup_free char *map = NULL;
  husk_error_t e = NULL;
  char *save = NULL;
  char *line;

  if (husk_read_file_at (AT_FDCWD, "/proc/self/gid_map", 0, &map, NULL, &e) < 0)
    {
      husk_error_release (&e);
      return !runtime_in_userns ();
    }
  for (line = strtok_r (map, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save))
    {
      unsigned long in, out, count;
      if (sscanf (line, "%lu %lu %lu", &in, &out, &count) == 3 && (unsigned long)gid >= in
          && (unsigned long)gid - in < count)
        return true;
    }
  return false;
}

int
runtime_open_bind (const char *source, unsigned attrs, husk_error_t *err)
{
  cleanup_close int treefd = open_tree (AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);

  if (treefd < 0)
    return husk_make_error (err, errno, "bind mount `%s`", source);
  if (attrs != 0)
    {
      struct mount_attr attr = { .attr_set = attrs };
      if (mount_setattr (treefd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof (attr)) < 0)
        return husk_make_error (err, errno, "bind mount `%s`: set attributes", source);
    }
  return move_fd (&treefd);
}

int
runtime_fs_mount_or_bind (const char *fstype, const char *const *options, unsigned attrs,
                          const char *host_path, husk_error_t *err)
{
  int fd = runtime_fs_mount (fstype, options, attrs, err);

  if (fd >= 0 || host_path == NULL || !runtime_in_userns () || (*err)->status != EPERM)
    return fd;
  husk_debug ("mount %s refused in the user namespace (%s): binding the host's %s", fstype, (*err)->msg,
              host_path);
  husk_error_release (err);
  return runtime_open_bind (host_path, attrs, err);
}

int
runtime_mount_target (int rootfd, const char *dest, bool is_file, husk_error_t *err)
{
  cleanup_free char *parent = NULL;
  cleanup_close int parentfd = -1;
  const char *slash;
  int fd;

  if (!is_file)
    {
      cleanup_close int dfd = husk_mkdir_in_root (rootfd, dest, 0755, err);
      if (dfd < 0)
        return -1;
      fd = openat (dfd, ".", O_PATH | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", dest);
      return fd;
    }

  fd = runtime_open_quiet (rootfd, dest, O_PATH);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    return husk_make_error (err, errno, "open `%s`", dest);

  /* A file mount target that does not exist: an empty file, as Docker.  */
  slash = strrchr (dest, '/');
  parent = slash != NULL && slash != dest ? xstrndup (dest, (size_t)(slash - dest)) : xstrdup ("/");
  parentfd = husk_mkdir_in_root (rootfd, parent, 0755, err);
  if (parentfd < 0)
    return -1;
  fd = openat (parentfd, slash != NULL ? slash + 1 : dest, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 && errno != EEXIST)
    return husk_make_error (err, errno, "create `%s`", dest);
  if (fd >= 0)
    close (fd);
  return husk_open_in_root (rootfd, dest, O_PATH, 0, err);
}

int
runtime_attach (int mntfd, int targetfd, const char *what, husk_error_t *err)
{
  if (move_mount (mntfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return husk_make_error (err, errno, "mount `%s`", what);
  return 0;
}

static unsigned
mount_attrs (const struct husk_mount *m)
{
  unsigned attrs = 0;

  if (m->readonly)
    attrs |= MOUNT_ATTR_RDONLY;
  if (m->nosuid)
    attrs |= MOUNT_ATTR_NOSUID;
  if (m->nodev)
    attrs |= MOUNT_ATTR_NODEV;
  if (m->noexec)
    attrs |= MOUNT_ATTR_NOEXEC;
  return attrs;
}

/* A recursive bind of the host path SOURCE onto DEST, ATTRS applied to
   every mount of the copy (a ro volume stays ro in its submounts).  */
int
runtime_bind_mount (int rootfd, const char *source, const char *dest, unsigned attrs, husk_error_t *err)
{
  cleanup_close int treefd = -1;
  cleanup_close int targetfd = -1;
  struct stat st;

  treefd = runtime_open_bind (source, attrs, err);
  if (treefd < 0)
    return -1;
  if (fstat (treefd, &st) < 0)
    return husk_make_error (err, errno, "stat `%s`", source);
  targetfd = runtime_mount_target (rootfd, dest, !S_ISDIR (st.st_mode), err);
  if (targetfd < 0)
    return husk_error_wrap (err, "bind mount `%s` on `%s`", source, dest);
  return runtime_attach (treefd, targetfd, dest, err);
}

static int
tmpfs_mount (int rootfd, const struct husk_mount *m, husk_error_t *err)
{
  cleanup_free char *size = NULL;
  cleanup_free char *mode = xasprintf ("mode=%o", m->tmpfs_mode ? (unsigned)m->tmpfs_mode : 01777u);
  const char *opts[3] = { mode, NULL, NULL };
  cleanup_close int mfd = -1;
  cleanup_close int targetfd = -1;

  if (m->tmpfs_size > 0)
    {
      size = xasprintf ("size=%llu", (unsigned long long)m->tmpfs_size);
      opts[1] = size;
    }
  mfd = runtime_fs_mount ("tmpfs", opts, mount_attrs (m), err);
  if (mfd < 0)
    return husk_error_wrap (err, "tmpfs on `%s`", m->destination);
  targetfd = runtime_mount_target (rootfd, m->destination, false, err);
  if (targetfd < 0)
    return husk_error_wrap (err, "tmpfs on `%s`", m->destination);
  return runtime_attach (mfd, targetfd, m->destination, err);
}

static int
etc_file (int rootfd, const char *host, const char *dest, husk_error_t *err)
{
  if (host == NULL)
    return 0;
  return runtime_bind_mount (rootfd, host, dest, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                             err);
}

int
runtime_mounts_apply (const struct husk_run_spec *spec, int rootfd, husk_error_t *err)
{
  size_t i;

  if (etc_file (rootfd, spec->hosts_file, "/etc/hosts", err) < 0
      || etc_file (rootfd, spec->resolv_conf_file, "/etc/resolv.conf", err) < 0
      || etc_file (rootfd, spec->hostname_file, "/etc/hostname", err) < 0)
    return -1;

  for (i = 0; i < spec->n_mounts; i++)
    {
      const struct husk_mount *m = &spec->mounts[i];
      int ret;

      if (m->destination == NULL || m->destination[0] != '/')
        return husk_make_error (err, EINVAL, "mount destination `%s` must be an absolute path",
                                m->destination ? m->destination : "");
      if (m->type == HUSK_MOUNT_TMPFS)
        ret = tmpfs_mount (rootfd, m, err);
      else
        {
          if (m->source == NULL || m->source[0] != '/')
            return husk_make_error (err, EINVAL, "bind source `%s` must be an absolute path",
                                    m->source ? m->source : "");
          ret = runtime_bind_mount (rootfd, m->source, m->destination, mount_attrs (m), err);
        }
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* Hide a path: a read-only empty tmpfs over a directory, /dev/null over
   anything else.  A path the kernel does not have is skipped.  */
static int
mask_one (int rootfd, const char *path, husk_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_close int mfd = -1;
  struct stat st;

  fd = runtime_open_quiet (rootfd, path, O_PATH | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? 0 : husk_make_error (err, errno, "mask `%s`", path);
  if (fstat (fd, &st) < 0)
    return husk_make_error (err, errno, "mask `%s`", path);
  if (S_ISDIR (st.st_mode))
    {
      static const char *const opts[] = { "size=0", "mode=0755", NULL };
      mfd = runtime_fs_mount (
          "tmpfs", opts, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    }
  else
    {
      mfd = open_tree (AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (mfd < 0)
        husk_make_error (err, errno, "open_tree /dev/null");
    }
  if (mfd < 0)
    return husk_error_wrap (err, "mask `%s`", path);
  return runtime_attach (mfd, fd, path, err);
}

int
runtime_mask_paths (int rootfd, char *const *paths, husk_error_t *err)
{
  size_t i;

  for (i = 0; paths != NULL && paths[i] != NULL; i++)
    if (mask_one (rootfd, paths[i], err) < 0)
      return -1;
  return 0;
}

static int
readonly_one (int rootfd, const char *path, husk_error_t *err)
{
  struct mount_attr attr
      = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
  cleanup_close int fd = -1;
  cleanup_close int treefd = -1;

  fd = runtime_open_quiet (rootfd, path, O_PATH | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? 0 : husk_make_error (err, errno, "read-only `%s`", path);
  treefd = open_tree (fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
  if (treefd < 0)
    return husk_make_error (err, errno, "read-only `%s`", path);
  if (mount_setattr (treefd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof (attr)) < 0)
    return husk_make_error (err, errno, "read-only `%s`", path);
  return runtime_attach (treefd, fd, path, err);
}

int
runtime_readonly_paths (int rootfd, char *const *paths, husk_error_t *err)
{
  size_t i;

  for (i = 0; paths != NULL && paths[i] != NULL; i++)
    if (readonly_one (rootfd, paths[i], err) < 0)
      return -1;
  return 0;
}
