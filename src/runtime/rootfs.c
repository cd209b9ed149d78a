/* husk: the container's root filesystem, in the child's own mount
   namespace (DESIGN.md sections 4 and 7).

   The overlay is built with the new mount API: one fsconfig "lowerdir+"
   per layer, so the page-sized limit of mount(2)'s option string never
   caps the number of layers.  Kernels without "lowerdir+" (< 6.8) get
   mount(2) with names relative to the layers' common parent.  The mount
   is attached over the bottom layer's own path (or the vfs directory):
   the overlay already holds its directories, and in this private
   namespace hiding that path from lookups harms nothing, so no scratch
   "merged" directory is needed.  */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/security.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "runtime-internal.h"

char *const husk_runtime_default_masked_paths[] = {
  (char *)"/proc/asound",
  (char *)"/proc/acpi",
  (char *)"/proc/interrupts",
  (char *)"/proc/kcore",
  (char *)"/proc/keys",
  (char *)"/proc/latency_stats",
  (char *)"/proc/timer_list",
  (char *)"/proc/timer_stats",
  (char *)"/proc/sched_debug",
  (char *)"/proc/scsi",
  (char *)"/sys/firmware",
  (char *)"/sys/devices/virtual/powercap",
  NULL,
};

char *const husk_runtime_default_readonly_paths[] = {
  (char *)"/proc/bus",           (char *)"/proc/fs",
  (char *)"/proc/irq",           (char *)"/proc/sys",
  (char *)"/proc/sysrq-trigger", NULL,
};

/* Rootless layers carry user.overlay.* xattrs (the layer store writes them
   with opts.userxattr when husk_userns_is_rootless ()), and overlay in a
   user namespace cannot read or write trusted.* ones at all: "userxattr"
   then, for the store's layers and the container's upper dir alike.  */
static bool
overlay_userxattr (void)
{
  return husk_userns_is_rootless () || runtime_in_userns ();
}

/* *unsupported is set (and no error made) when the kernel lacks the new
   mount API or "lowerdir+": the caller then falls back to mount(2).  */
static int
overlay_new_api (const struct husk_rootfs *r, bool *unsupported, husk_error_t *err)
{
  cleanup_close int fsfd = -1;
  size_t n = strv_len (r->lower_dirs);
  size_t i;
  int mfd;

  *unsupported = false;
  fsfd = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    {
      if (errno == ENOSYS)
        {
          *unsupported = true;
          return -1;
        }
      return husk_make_error (err, errno, "mount overlay");
    }
  /* "lowerdir+" stacks in lowerdir= order: topmost first.  */
  for (i = n; i-- > 0;)
    if (fsconfig (fsfd, FSCONFIG_SET_STRING, "lowerdir+", r->lower_dirs[i], 0) < 0)
      {
        if (i == n - 1 && errno == EINVAL && access (r->lower_dirs[i], F_OK) == 0)
          {
            *unsupported = true; /* the kernel predates lowerdir+ (6.8) */
            return -1;
          }
        return runtime_fs_error (err, fsfd, errno, "overlay", r->lower_dirs[i]);
      }
  if (r->upper_dir != NULL
      && (fsconfig (fsfd, FSCONFIG_SET_STRING, "upperdir", r->upper_dir, 0) < 0
          || fsconfig (fsfd, FSCONFIG_SET_STRING, "workdir", r->work_dir, 0) < 0))
    return husk_make_error (err, errno, "overlay upper dir `%s`", r->upper_dir);
  if (overlay_userxattr () && fsconfig (fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
    return runtime_fs_error (err, fsfd, errno, "overlay", "userxattr");
  if (r->upper_dir != NULL && r->volatile_upper
      && fsconfig (fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
    return runtime_fs_error (err, fsfd, errno, "overlay", "volatile");
  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return runtime_fs_error (err, fsfd, errno, "overlay", NULL);
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, 0);
  if (mfd < 0)
    return runtime_fs_error (err, fsfd, errno, "overlay", NULL);
  return mfd;
}

/* The longest directory prefix shared by every path (at least "/").  */
static size_t
common_dir_len (const char *const *paths)
{
  size_t len = strlen (paths[0]);
  size_t i;

  for (i = 1; paths[i] != NULL; i++)
    {
      size_t j = 0;
      while (j < len && paths[i][j] == paths[0][j])
        j++;
      len = j;
    }
  while (len > 0 && paths[0][len - 1] != '/')
    len--;
  return len;
}

/* mount(2) fallback: relative names from the common parent keep the
   option string short; fail clearly when it still does not fit a page.  */
static int
overlay_legacy (const struct husk_rootfs *r, const char *target, husk_error_t *err)
{
  cleanup_free const char **all = NULL;
  struct husk_buf opts = { 0 };
  cleanup_close int oldcwd = -1;
  cleanup_free char *dir = NULL;
  size_t n = strv_len (r->lower_dirs);
  size_t i, k = 0, cut;
  int ret = 0;

  all = xzalloc ((n + 3) * sizeof (*all));
  for (i = 0; i < n; i++)
    all[k++] = r->lower_dirs[i];
  if (r->upper_dir != NULL)
    {
      all[k++] = r->upper_dir;
      all[k++] = r->work_dir;
    }
  cut = common_dir_len (all);
  dir = cut > 0 ? xstrndup (all[0], cut) : xstrdup (".");

  husk_buf_puts (&opts, "lowerdir=");
  for (i = n; i-- > 0;)
    husk_buf_printf (&opts, "%s%s", r->lower_dirs[i] + cut, i > 0 ? ":" : "");
  if (r->upper_dir != NULL)
    husk_buf_printf (&opts, ",upperdir=%s,workdir=%s%s", r->upper_dir + cut, r->work_dir + cut,
                     r->volatile_upper ? ",volatile" : "");
  if (overlay_userxattr ())
    husk_buf_puts (&opts, ",userxattr");
  if (opts.len >= (size_t)sysconf (_SC_PAGESIZE))
    {
      ret = husk_make_error (err, E2BIG, "mount overlay: %zu layers do not fit the mount options", n);
      goto out;
    }
  oldcwd = open (".", O_PATH | O_CLOEXEC);
  if (chdir (dir) < 0)
    {
      ret = husk_make_error (err, errno, "chdir `%s`", dir);
      goto out;
    }
  if (mount ("overlay", target, "overlay", 0, opts.data) < 0)
    ret = husk_make_error (err, errno, "mount overlay");
  if (oldcwd >= 0 && fchdir (oldcwd) < 0 && ret == 0)
    ret = husk_make_error (err, errno, "fchdir");
out:
  husk_buf_free (&opts);
  return ret;
}

static int
bind_tree (const char *dir, unsigned attrs, husk_error_t *err)
{
  int fd = open_tree (AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);

  if (fd < 0)
    return husk_make_error (err, errno, "bind `%s`", dir);
  if (attrs != 0)
    {
      struct mount_attr attr = { .attr_set = attrs };
      if (mount_setattr (fd, "", AT_EMPTY_PATH, &attr, sizeof (attr)) < 0)
        {
          int saved = errno;
          close (fd);
          return husk_make_error (err, saved, "bind `%s`", dir);
        }
    }
  return fd;
}

int
runtime_rootfs_mount (const struct husk_rootfs *r, husk_error_t *err)
{
  cleanup_close int mfd = -1;
  const char *target;
  int fd;

  if (r->lower_dirs != NULL && r->lower_dirs[0] != NULL)
    {
      target = r->lower_dirs[0];
      if (r->upper_dir != NULL && r->work_dir == NULL)
        return husk_make_error (err, EINVAL, "overlay: an upper dir needs a work dir");
      if (r->upper_dir == NULL && r->lower_dirs[1] == NULL)
        mfd = bind_tree (target, MOUNT_ATTR_RDONLY, err); /* overlay wants two lowers without an upper */
      else
        {
          bool unsupported;
          mfd = overlay_new_api (r, &unsupported, err);
          if (mfd < 0 && unsupported)
            {
              if (overlay_legacy (r, target, err) < 0)
                return -1;
              goto attached;
            }
        }
    }
  else if (r->dir != NULL)
    {
      target = r->dir;
      mfd = bind_tree (target, 0, err);
    }
  else
    return husk_make_error (err, EINVAL, "no root filesystem given");
  if (mfd < 0)
    return -1;
  if (move_mount (mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return husk_make_error (err, errno, "attach the root filesystem on `%s`", target);
attached:
  fd = open (target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open `%s`", target);
  return fd;
}

/* Docker's rule: only namespaced sysctls, and only for namespaces the
   container owns (a net.* sysctl with --network host would change the
   host).  */
static int
sysctl_check (const struct husk_run_spec *spec, const char *key, husk_error_t *err)
{
  static const char *const ipc_keys[]
      = { "kernel.msgmax", "kernel.msgmnb",          "kernel.msgmni", "kernel.sem", "kernel.shmall",
          "kernel.shmmax", "kernel.shm_rmid_forced", "kernel.shmmni", NULL };
  bool ipc = strv_contains ((char *const *)ipc_keys, key) || husk_has_prefix (key, "fs.mqueue.");

  if (ipc)
    {
      if (spec->ipc_ns.mode == HUSK_NS_HOST)
        return husk_make_error (err, 0, "sysctl `%s` is not allowed with the host's IPC namespace", key);
      return 0;
    }
  if (husk_has_prefix (key, "net."))
    {
      if (spec->net_ns.mode == HUSK_NS_HOST)
        return husk_make_error (err, 0, "sysctl `%s` is not allowed with the host's network namespace", key);
      return 0;
    }
  if (strcmp (key, "kernel.domainname") == 0 || strcmp (key, "kernel.hostname") == 0)
    {
      if (spec->uts_ns.mode == HUSK_NS_HOST)
        return husk_make_error (err, 0, "sysctl `%s` is not allowed with the host's UTS namespace", key);
      return 0;
    }
  return husk_make_error (err, 0, "sysctl `%s` is not allowed: it is not namespaced", key);
}

static int
sysctls_apply (const struct husk_run_spec *spec, int procfd, husk_error_t *err)
{
  size_t i;

  for (i = 0; spec->sysctls != NULL && spec->sysctls[i] != NULL; i++)
    {
      const char *eq = strchr (spec->sysctls[i], '=');
      cleanup_free char *key = NULL;
      cleanup_free char *path = NULL;
      cleanup_close int fd = -1;
      char *p;

      if (eq == NULL || eq == spec->sysctls[i])
        return husk_make_error (err, 0, "invalid sysctl `%s`: want key=value", spec->sysctls[i]);
      key = xstrndup (spec->sysctls[i], (size_t)(eq - spec->sysctls[i]));
      if (sysctl_check (spec, key, err) < 0)
        return -1;
      path = xasprintf ("sys/%s", key);
      for (p = path; *p; p++)
        if (*p == '.')
          *p = '/';
      if (strstr (path, "/../") != NULL || husk_has_suffix (path, "/.."))
        return husk_make_error (err, 0, "invalid sysctl `%s`", key);
      fd = openat (procfd, path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "sysctl `%s`", key);
      if (husk_write_all (fd, eq + 1, strlen (eq + 1), err) < 0)
        return husk_error_wrap (err, "sysctl `%s`", key);
    }
  return 0;
}

static bool
is_privileged (const struct husk_run_spec *spec)
{
  return spec->security != NULL && spec->security->privileged;
}

/* cgroup v1 (legacy or hybrid) with a private cgroup namespace: as
   Docker, a tmpfs at /sys/fs/cgroup and one mount per hierarchy the
   process is in, each showing the container's own cgroup as its root.
   The hierarchies come from /proc/self/cgroup ("N:cpu,cpuacct:/path";
   "name=systemd" is a named hierarchy, "0::" the v2 one, left out as
   Docker does on hybrid hosts).  */
static int
mount_cgroup_v1 (int rootfd, int procfd, unsigned attrs, husk_error_t *err)
{
  static const char *const tmpfs_opts[] = { "mode=755", "size=64k", NULL };
  cleanup_free char *text = NULL;
  cleanup_close int tmpfd = -1;
  cleanup_close int target = -1;
  char *save = NULL;
  char *line;

  if (husk_read_file_at (procfd, "self/cgroup", 0, &text, NULL, err) < 0)
    return -1;
  tmpfd = runtime_fs_mount ("tmpfs", tmpfs_opts, attrs & ~MOUNT_ATTR_RDONLY, err);
  if (tmpfd < 0)
    return -1;
  for (line = strtok_r (text, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save))
    {
      char *ctrls = strchr (line, ':');
      char *end = ctrls != NULL ? strchr (ctrls + 1, ':') : NULL;
      cleanup_strv char **opts = NULL;
      cleanup_close int mfd = -1;
      cleanup_close int dirfd = -1;
      const char *dir;
      char *tok, *tsave = NULL;

      if (end == NULL || end == ctrls + 1)
        continue;
      *end = '\0';
      dir = husk_has_prefix (ctrls + 1, "name=") ? ctrls + 1 + strlen ("name=") : ctrls + 1;
      if (mkdirat (tmpfd, dir, 0755) < 0 && errno != EEXIST)
        return husk_make_error (err, errno, "mkdir /sys/fs/cgroup/%s", dir);
      for (tok = strtok_r (ctrls + 1, ",", &tsave); tok != NULL; tok = strtok_r (NULL, ",", &tsave))
        strv_append (&opts, tok);
      mfd = runtime_fs_mount ("cgroup", (const char *const *)opts, attrs, err);
      if (mfd < 0)
        return -1;
      dirfd = openat (tmpfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0 || runtime_attach (mfd, dirfd, dir, err) < 0)
        return dirfd < 0 ? husk_make_error (err, errno, "open /sys/fs/cgroup/%s", dir) : -1;
    }
  if (attrs & MOUNT_ATTR_RDONLY)
    {
      struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
      if (mount_setattr (tmpfd, "", AT_EMPTY_PATH, &attr, sizeof (attr)) < 0)
        return husk_make_error (err, errno, "read-only /sys/fs/cgroup");
    }
  target = runtime_mount_target (rootfd, "/sys/fs/cgroup", false, err);
  if (target < 0)
    return -1;
  return runtime_attach (tmpfd, target, "/sys/fs/cgroup", err);
}

/* The hierarchy to show at /sys/fs/cgroup: the cgroup backend's.  A
   rootless user has none (no delegation, or cgroup v1), yet its private
   cgroup namespace, owned by its user namespace, may still mount the
   host's kind read-only: tried, and skipped quietly (*best_effort) when
   the kernel refuses.  */
static enum husk_cgroup_mode
cgroup_fs_mode (bool *best_effort)
{
  enum husk_cgroup_mode mode = husk_cgroup_detect (NULL);
  struct statfs sfs;

  *best_effort = false;
  if (mode != HUSK_CGROUP_NONE || !runtime_in_userns () || statfs ("/sys/fs/cgroup", &sfs) < 0)
    return mode;
  *best_effort = true;
  if (sfs.f_type == CGROUP2_SUPER_MAGIC)
    return HUSK_CGROUP_V2;
  if (sfs.f_type == TMPFS_MAGIC)
    return HUSK_CGROUP_V1;
  return HUSK_CGROUP_NONE;
}

static int
mount_cgroup (int rootfd, int procfd, enum husk_cgroup_mode mode, unsigned attrs, husk_error_t *err)
{
  cleanup_close int cgfd = -1;
  cleanup_close int cgtarget = -1;

  if (mode == HUSK_CGROUP_V1)
    return mount_cgroup_v1 (rootfd, procfd, attrs, err);
  cgfd = runtime_fs_mount ("cgroup2", NULL, attrs, err);
  if (cgfd < 0)
    return -1;
  cgtarget = runtime_mount_target (rootfd, "/sys/fs/cgroup", false, err);
  if (cgtarget < 0)
    return -1;
  return runtime_attach (cgfd, cgtarget, "/sys/fs/cgroup", err);
}

static int
mount_proc_sys (const struct husk_run_spec *spec, int rootfd, husk_error_t *err)
{
  const unsigned base = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  cleanup_close int procfd = -1;
  cleanup_close int sysfd = -1;
  cleanup_close int targetfd = -1;

  /* In a user namespace proc mounts only for a pid namespace it owns
     (not --pid host) and sysfs only for a network namespace it owns (not
     --network host): the host's trees are bound then, /sys read-only.  */
  procfd = runtime_fs_mount_or_bind ("proc", NULL, base, "/proc", err);
  if (procfd < 0)
    return -1;
  if (sysctls_apply (spec, procfd, err) < 0)
    return -1;
  targetfd = runtime_mount_target (rootfd, "/proc", false, err);
  if (targetfd < 0 || runtime_attach (procfd, targetfd, "/proc", err) < 0)
    return -1;
  close (targetfd);

  sysfd = runtime_fs_mount_or_bind ("sysfs", NULL, base | (is_privileged (spec) ? 0 : MOUNT_ATTR_RDONLY),
                                    "/sys", err);
  if (sysfd < 0)
    return -1;
  targetfd = runtime_mount_target (rootfd, "/sys", false, err);
  if (targetfd < 0 || runtime_attach (sysfd, targetfd, "/sys", err) < 0)
    return -1;

  /* With a private cgroup namespace the container sees its own cgroup
     as the root (read-only unless privileged).  With the host's, nothing
     is mounted: the host's tree would show every other cgroup.  */
  if (spec->cgroup_ns.mode == HUSK_NS_PRIVATE)
    {
      unsigned cgattrs = base | (is_privileged (spec) ? 0 : MOUNT_ATTR_RDONLY);
      bool best_effort = false;
      enum husk_cgroup_mode mode = cgroup_fs_mode (&best_effort);

      if (mode != HUSK_CGROUP_NONE && mount_cgroup (rootfd, procfd, mode, cgattrs, err) < 0)
        {
          if (!best_effort)
            return husk_error_wrap (err, "mount /sys/fs/cgroup");
          husk_debug ("no /sys/fs/cgroup in the container: %s", (*err)->msg);
          husk_error_release (err);
        }
    }
  return 0;
}

/* The masked list: the caller's (or Docker's unless privileged), plus
   --security-opt mask=, minus unmask= (ALL clears it).  */
static char **
masked_list (const struct husk_run_spec *spec)
{
  char **list = NULL;
  size_t i;

  if (spec->masked_paths != NULL)
    list = strv_dup (spec->masked_paths);
  else if (!is_privileged (spec))
    list = strv_dup (husk_runtime_default_masked_paths);
  if (spec->security != NULL)
    {
      for (i = 0; spec->security->mask != NULL && spec->security->mask[i] != NULL; i++)
        strv_append (&list, spec->security->mask[i]);
      for (i = 0; list != NULL && spec->security->unmask != NULL && spec->security->unmask[i] != NULL; i++)
        {
          if (strcmp (spec->security->unmask[i], "ALL") == 0)
            {
              strv_free (list);
              list = NULL;
              break;
            }
          else
            strv_remove (list, spec->security->unmask[i]);
        }
    }
  return list;
}

int
runtime_rootfs_populate (const struct husk_run_spec *spec, int rootfd, husk_error_t *err)
{
  cleanup_strv char **masked = NULL;
  char *const *readonly = spec->readonly_paths;

  if (mount_proc_sys (spec, rootfd, err) < 0)
    return husk_error_wrap (err, "mount /proc and /sys");
  if (runtime_dev_setup (spec, rootfd, err) < 0)
    return husk_error_wrap (err, "mount /dev");
  if (runtime_mounts_apply (spec, rootfd, err) < 0)
    return -1;

  masked = masked_list (spec);
  if (readonly == NULL && !is_privileged (spec))
    readonly = husk_runtime_default_readonly_paths;
  if (runtime_mask_paths (rootfd, masked, err) < 0 || runtime_readonly_paths (rootfd, readonly, err) < 0)
    return -1;

  if (spec->rootfs.read_only)
    {
      struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
      if (mount_setattr (rootfd, "", AT_EMPTY_PATH, &attr, sizeof (attr)) < 0)
        return husk_make_error (err, errno, "make the root filesystem read-only");
    }
  return 0;
}

int
runtime_rootfs_pivot (int rootfd, husk_error_t *err)
{
  /* pivot_root (".", ".") stacks the old root over the new one; detaching
     it then leaves only the container's tree, with no put_old directory
     needed inside the image (runc's trick).  */
  if (fchdir (rootfd) < 0)
    return husk_make_error (err, errno, "fchdir to the root filesystem");
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return husk_make_error (err, errno, "pivot_root");
  if (umount2 (".", MNT_DETACH) < 0)
    return husk_make_error (err, errno, "detach the old root");
  if (chdir ("/") < 0)
    return husk_make_error (err, errno, "chdir /");
  return 0;
}
