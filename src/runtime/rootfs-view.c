/* husk: a container's root filesystem mounted for the CLI itself (cp,
   export, commit of a stopped container), never in the host's mount
   namespace (DESIGN.md section 4).  */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <unistd.h>

#include "husk/runtime.h"
#include "runtime-internal.h"

int
husk_rootfs_mount_private (const struct husk_rootfs *r, husk_error_t *err)
{
  if (unshare (CLONE_NEWNS) < 0)
    return husk_make_error (err, errno, "new mount namespace");
  /* Private before anything is mounted: no event propagates back.  */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return husk_make_error (err, errno, "make the mount namespace private");
  return runtime_rootfs_mount (r, err);
}

/* runtime_rootfs_mount attaches where the kernel's API allows (over the
   bottom layer): attach once in this process's own private namespace,
   clone the attached tree into a detached one and lazily unmount the
   attached copy, so the path is uncovered again for the next mount and
   the clone lives exactly as long as its fd.  One code path for kernels
   with and without fsmount or "lowerdir+".  */
int
husk_rootfs_mount_detached (const struct husk_rootfs *r, husk_error_t *err)
{
  static bool private_ns;
  const char *target = r->lower_dirs != NULL && r->lower_dirs[0] != NULL ? r->lower_dirs[0] : r->dir;
  int rootfd, treefd;

  if (!private_ns)
    {
      if (unshare (CLONE_NEWNS) < 0)
        return husk_make_error (err, errno, "new mount namespace");
      if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return husk_make_error (err, errno, "make the mount namespace private");
      private_ns = true;
    }
  rootfd = runtime_rootfs_mount (r, err);
  if (rootfd < 0)
    return -1;
  treefd = open_tree (rootfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  if (treefd < 0)
    husk_make_error (err, errno, "detach the mount of `%s`", target);
  close (rootfd);
  if (umount2 (target, MNT_DETACH) < 0 && treefd >= 0)
    {
      close (treefd);
      return husk_make_error (err, errno, "unmount `%s`", target);
    }
  return treefd;
}
