/* husk: a container's root filesystem mounted for the CLI itself (cp,
   export, commit of a stopped container), never in the host's mount
   namespace (DESIGN.md section 4).  */
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>

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
