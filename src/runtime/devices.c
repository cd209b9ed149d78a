/* husk: the container's /dev.

   A fresh tmpfs, populated while it is still detached (so nothing in the
   image's /dev is trusted), with the minimal device set Docker gives:
   null zero full random urandom tty, ptmx pointing to a private devpts
   instance, /dev/shm, /dev/mqueue, and the fd/std* links.  Devices asked
   with --device are made with mknod, as root may.

   In a user namespace (rootless) mknod is refused: the nodes are empty
   files with the host's own nodes bound over them once /dev is attached,
   as crun does (so they keep the host's owner and mode; --device's mode
   cannot be changed).  devpts gets gid=5 (tty) only when that gid is
   mapped, and /dev/mqueue, which needs an ipc namespace our user
   namespace owns, is the host's bound with --ipc host.  */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/util.h"
#include "runtime-internal.h"

#define SHM_DEFAULT_SIZE (64ULL * 1024 * 1024)

struct dev_node
{
  const char *name;
  unsigned major, minor;
};

static const struct dev_node default_nodes[] = {
  { "null", 1, 3 },   { "zero", 1, 5 },    { "full", 1, 7 },
  { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const struct
{
  const char *name;
  const char *target;
} default_links[] = {
  { "fd", "/proc/self/fd" },       { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
  { "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },         { "core", "/proc/kcore" },
};

/* An empty 0666 file for a device bound later.  */
static int
bind_placeholder (int dirfd, const char *name, husk_error_t *err)
{
  int fd = openat (dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);

  if (fd < 0)
    return husk_make_error (err, errno, "create /dev/%s", name);
  close (fd);
  return 0;
}

static int
populate_dev (int devfd, bool bind_nodes, husk_error_t *err)
{
  size_t i;

  for (i = 0; i < sizeof (default_nodes) / sizeof (default_nodes[0]); i++)
    {
      const struct dev_node *d = &default_nodes[i];
      if (bind_nodes)
        {
          if (bind_placeholder (devfd, d->name, err) < 0)
            return -1;
          continue;
        }
      if (mknodat (devfd, d->name, S_IFCHR | 0666, makedev (d->major, d->minor)) < 0)
        return husk_make_error (err, errno, "mknod /dev/%s", d->name);
      /* mknod obeys the umask; the nodes must be 0666 whatever it was.  */
      if (fchmodat (devfd, d->name, 0666, 0) < 0)
        return husk_make_error (err, errno, "chmod /dev/%s", d->name);
    }
  for (i = 0; i < sizeof (default_links) / sizeof (default_links[0]); i++)
    if (symlinkat (default_links[i].target, devfd, default_links[i].name) < 0)
      return husk_make_error (err, errno, "symlink /dev/%s", default_links[i].name);
  if (mkdirat (devfd, "pts", 0755) < 0 || mkdirat (devfd, "shm", 01777) < 0
      || mkdirat (devfd, "mqueue", 0755) < 0)
    return husk_make_error (err, errno, "mkdir in /dev");
  return 0;
}

static int
mount_under (int rootfd, const char *dest, const char *fstype, const char *const *opts, unsigned attrs,
             husk_error_t *err)
{
  cleanup_close int mfd = runtime_fs_mount (fstype, opts, attrs, err);
  cleanup_close int targetfd = -1;

  if (mfd < 0)
    return -1;
  targetfd = runtime_mount_target (rootfd, dest, false, err);
  if (targetfd < 0)
    return -1;
  return runtime_attach (mfd, targetfd, dest, err);
}

/* mqueue shows the ipc namespace of the mounter; in a user namespace
   with --ipc host the kernel refuses it, and the host's /dev/mqueue
   (when it has one) is bound instead.  */
static int
mount_mqueue (int rootfd, husk_error_t *err)
{
  const unsigned attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  cleanup_close int mfd = runtime_fs_mount_or_bind ("mqueue", NULL, attrs, "/dev/mqueue", err);
  cleanup_close int targetfd = -1;

  if (mfd < 0)
    {
      if (!runtime_in_userns () || (*err)->status != ENOENT)
        return -1;
      husk_debug ("no /dev/mqueue in the container: %s", (*err)->msg);
      husk_error_release (err);
      return 0;
    }
  targetfd = runtime_mount_target (rootfd, "/dev/mqueue", false, err);
  if (targetfd < 0)
    return -1;
  return runtime_attach (mfd, targetfd, "/dev/mqueue", err);
}

/* The host's /dev/NAME over the placeholder file of the attached /dev.  */
static int
bind_host_nodes (int rootfd, husk_error_t *err)
{
  size_t i;

  for (i = 0; i < sizeof (default_nodes) / sizeof (default_nodes[0]); i++)
    {
      cleanup_free char *path = xasprintf ("/dev/%s", default_nodes[i].name);
      cleanup_close int treefd = open_tree (AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      cleanup_close int targetfd = -1;

      if (treefd < 0)
        return husk_make_error (err, errno, "bind the host's %s", path);
      targetfd = runtime_open_quiet (rootfd, path, O_PATH | O_NOFOLLOW);
      if (targetfd < 0)
        return husk_make_error (err, errno, "open %s", path);
      if (runtime_attach (treefd, targetfd, path, err) < 0)
        return -1;
    }
  return 0;
}

/* --device HOST[:PATH]: a node of the same type and number.  */
static int
add_device (int rootfd, const struct husk_device *d, husk_error_t *err)
{
  const char *path = d->path != NULL ? d->path : d->host_path;
  cleanup_free char *parent = NULL;
  cleanup_close int parentfd = -1;
  const char *slash;
  struct stat st;

  if (stat (d->host_path, &st) < 0)
    return husk_make_error (err, errno, "device `%s`", d->host_path);
  if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
    return husk_make_error (err, 0, "device `%s`: not a device node", d->host_path);
  if (path[0] != '/')
    return husk_make_error (err, 0, "device path `%s` must be absolute", path);
  slash = strrchr (path, '/');
  parent = slash == path ? xstrdup ("/") : xstrndup (path, (size_t)(slash - path));
  parentfd = husk_mkdir_in_root (rootfd, parent, 0755, err);
  if (parentfd < 0)
    return husk_error_wrap (err, "device `%s`", path);
  if (unlinkat (parentfd, slash + 1, 0) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "device `%s`", path);
  if (runtime_in_userns ())
    {
      if (d->file_mode != 0)
        husk_debug ("device `%s`: the mode of a bound host node cannot be changed", path);
      return runtime_bind_mount (rootfd, d->host_path, path, 0, err);
    }
  if (mknodat (parentfd, slash + 1, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0)
    return husk_make_error (err, errno, "mknod `%s`", path);
  if (fchmodat (parentfd, slash + 1, d->file_mode ? d->file_mode & 07777 : st.st_mode & 07777, 0) < 0
      || fchownat (parentfd, slash + 1, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    return husk_make_error (err, errno, "device `%s`", path);
  return 0;
}

int
runtime_dev_setup (const struct husk_run_spec *spec, int rootfd, husk_error_t *err)
{
  static const char *const dev_opts[] = { "mode=755", "size=65536k", NULL };
  const char *pts_opts[] = { "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
  const bool bind_nodes = runtime_in_userns ();
  cleanup_free char *shm_size
      = xasprintf ("size=%llu", (unsigned long long)(spec->shm_size ? spec->shm_size : SHM_DEFAULT_SIZE));
  const char *shm_opts[] = { "mode=1777", shm_size, NULL };
  cleanup_close int devfd = -1;
  cleanup_close int targetfd = -1;
  size_t i;

  devfd = runtime_fs_mount ("tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME, err);
  if (devfd < 0)
    return husk_error_wrap (err, "/dev");
  if (populate_dev (devfd, bind_nodes, err) < 0)
    return -1;
  targetfd = runtime_mount_target (rootfd, "/dev", false, err);
  if (targetfd < 0 || runtime_attach (devfd, targetfd, "/dev", err) < 0)
    return -1;
  if (bind_nodes && bind_host_nodes (rootfd, err) < 0)
    return -1;

  /* The kernel refuses a gid the namespace does not map (a single-id
     rootless map has no 5); the slaves then keep the opener's group.  */
  if (!runtime_gid_mapped (5))
    pts_opts[3] = NULL;
  if (mount_under (rootfd, "/dev/pts", "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err) < 0
      || mount_under (rootfd, "/dev/shm", "tmpfs", shm_opts,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err)
             < 0
      || mount_mqueue (rootfd, err) < 0)
    return -1;

  for (i = 0; i < spec->n_devices; i++)
    if (add_device (rootfd, &spec->devices[i], err) < 0)
      return -1;
  return 0;
}
