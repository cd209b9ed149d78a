/* husk: what the runtime-core files share (container.c, rootfs.c, mounts.c,
   devices.c, init.c).  Everything here runs in the container child unless
   said otherwise.  */
#ifndef HUSK_RUNTIME_INTERNAL_H
#define HUSK_RUNTIME_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "husk/error.h"
#include "husk/runtime.h"

/* rootfs.c: mount the container's root filesystem (overlay or a vfs
   directory) in the child's private mount namespace and return an
   O_DIRECTORY fd to its root mount.  */
int runtime_rootfs_mount (const struct husk_rootfs *rootfs, husk_error_t *err);

/* rootfs.c: everything under the root before pivot_root: /proc (returning
   its fd in *procfd for sysctls), /sys, /dev, the etc files, the user's
   mounts and devices, masked and read-only paths, sysctls, and the
   read-only root last.  */
int runtime_rootfs_populate (const struct husk_run_spec *spec, int rootfd, husk_error_t *err);

/* rootfs.c: make rootfd the process's root and drop the host's tree.  */
int runtime_rootfs_pivot (int rootfd, husk_error_t *err);

/* mounts.c: husk_open_in_root without an error value: -1 and errno.  */
int runtime_open_quiet (int rootfd, const char *path, int flags);

/* mounts.c: a new detached mount of FSTYPE with OPTIONS ("key=value" or
   "flag" strings, NULL-terminated, may be NULL) and MOUNT_ATTR_* ATTRS.  */
int runtime_fs_mount (const char *fstype, const char *const *options, unsigned attrs, husk_error_t *err);

/* mounts.c: an error for a failed fsconfig/fsmount on FSFD, with the
   kernel's own message from the fs context when it left one.  */
int runtime_fs_error (husk_error_t *err, int fsfd, int errnum, const char *what, const char *key);

/* mounts.c: resolve DEST inside the root (creating a directory, or an
   empty file when IS_FILE) and return an O_PATH fd to it.  */
int runtime_mount_target (int rootfd, const char *dest, bool is_file, husk_error_t *err);

/* mounts.c: attach the detached mount MNTFD on the target fd.  */
int runtime_attach (int mntfd, int targetfd, const char *what, husk_error_t *err);

/* mounts.c: true when this process is not in the initial user namespace
   (rootless, inside husk_userns_enter's namespace, or any other): mknod
   of devices is refused there, and proc, sysfs and mqueue mount only for
   namespaces our user namespace owns.  Read once, before clone, from
   /proc/self/uid_map; the child inherits the answer.  */
bool runtime_in_userns (void);

/* mounts.c: true when the gid is mapped in this user namespace.  */
bool runtime_gid_mapped (gid_t gid);

/* mounts.c: a detached recursive bind of the host path SOURCE with
   MOUNT_ATTR_* ATTRS added to every mount in it.  */
int runtime_open_bind (const char *source, unsigned attrs, husk_error_t *err);

/* mounts.c: runtime_fs_mount, or, when the kernel refuses it with EPERM
   inside a user namespace (the pid, net or ipc namespace the filesystem
   would show is not owned by ours: --pid host, --network host, --ipc
   host), a recursive bind of HOST_PATH with the same ATTRS, as crun.  */
int runtime_fs_mount_or_bind (const char *fstype, const char *const *options, unsigned attrs,
                              const char *host_path, husk_error_t *err);

/* mounts.c: a recursive bind of the host path SOURCE on DEST inside the
   root (a directory, or an empty file made for a non-directory).  */
int runtime_bind_mount (int rootfd, const char *source, const char *dest, unsigned attrs, husk_error_t *err);

/* mounts.c: the caller's --volume/--tmpfs mounts and the etc files.  */
int runtime_mounts_apply (const struct husk_run_spec *spec, int rootfd, husk_error_t *err);

/* mounts.c: masked and read-only paths.  */
int runtime_mask_paths (int rootfd, char *const *paths, husk_error_t *err);
int runtime_readonly_paths (int rootfd, char *const *paths, husk_error_t *err);

/* devices.c: a tmpfs /dev with the minimal device set, /dev/pts,
   /dev/shm, /dev/mqueue, links, then the caller's devices.  */
int runtime_dev_setup (const struct husk_run_spec *spec, int rootfd, husk_error_t *err);

/* init.c: pid 1 for --init.  CHILD is the command (already forked);
   every signal is blocked in the caller.  Reaps every child, forwards
   signals to CHILD, exits with CHILD's status.  */
void runtime_init_main (pid_t child) __attribute__ ((noreturn));

#endif
