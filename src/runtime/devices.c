/* husk: the container's /dev.

   A fresh tmpfs, populated while it is still detached (so nothing in the
   image's /dev is trusted), with the minimal device set Docker gives:
   null zero full random urandom tty, ptmx pointing to a private devpts
   instance, /dev/shm, /dev/mqueue, and the fd/std* links.  Devices asked
   with --device are made with mknod, as root may.  */
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

static int
populate_dev (int devfd, husk_error_t *err)
{
  size_t i;

  for (i = 0; i < sizeof (default_nodes) / sizeof (default_nodes[0]); i++)
    {
      const struct dev_node *d = &default_nodes[i];
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
  static const char *const pts_opts[] = { "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
  cleanup_free char *shm_size
      = xasprintf ("size=%llu", (unsigned long long)(spec->shm_size ? spec->shm_size : SHM_DEFAULT_SIZE));
  const char *shm_opts[] = { "mode=1777", shm_size, NULL };
  cleanup_close int devfd = -1;
  cleanup_close int targetfd = -1;
  size_t i;

  devfd = runtime_fs_mount ("tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME, err);
  if (devfd < 0)
    return husk_error_wrap (err, "/dev");
  if (populate_dev (devfd, err) < 0)
    return -1;
  targetfd = runtime_mount_target (rootfd, "/dev", false, err);
  if (targetfd < 0 || runtime_attach (devfd, targetfd, "/dev", err) < 0)
    return -1;

  if (mount_under (rootfd, "/dev/pts", "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err) < 0
      || mount_under (rootfd, "/dev/shm", "tmpfs", shm_opts,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err)
             < 0
      || mount_under (rootfd, "/dev/mqueue", "mqueue", NULL,
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err)
             < 0)
    return -1;

  for (i = 0; i < spec->n_devices; i++)
    if (add_device (rootfd, &spec->devices[i], err) < 0)
      return -1;
  return 0;
}
