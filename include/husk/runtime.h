/* husk: container process creation (DESIGN.md sections 4 and 7).

   The caller (the monitor, later `husk exec`-like paths) fills a
   struct husk_run_spec with everything already decided: argv, env, ids or a
   user string, the rootfs directories, mounts, namespaces, security and
   cgroup settings.  Nothing here reads the store or the CLI's flags.

   Two steps, so the caller can record the container (and its pid) before
   any of the user's code runs:

     husk_runtime_create ()  clones the child with the namespaces asked for;
                             the child mounts the rootfs inside its own mount
                             namespace (never in the host's), pivots into it,
                             mounts /proc /sys /dev..., resolves the user from
                             the container's /etc/passwd, sets hostname,
                             sysctls, cwd, ids, closes stray fds, applies the
                             security spec, and stops just before execve.  On
                             return the child is fully prepared (or create
                             failed with the child's own error text).
     husk_runtime_start ()   lets it go; returns once execve succeeded (the
                             close-on-exec sync socket closes) or with the
                             child's error and exit code (126, 127).

   Errors in the child travel back over the sync socket as text, with the
   exit code the CLI should use (HUSK_EXIT_FAILURE, _CANNOT, _NOT_FOUND).

   The container dies with its parent.  Its parent-death signal is SIGKILL
   from clone to execve and stays so after (set again after the ids
   change, which clears it): the caller, normally the per-container
   monitor, is its parent, and a monitor killed even with SIGKILL takes
   the container with it, so a container never runs unsupervised (the
   store then shows it exited).  The signal follows the calling THREAD:
   create from the thread that lives as long as the container.  The
   kernel resets it when the container execs a set-uid/set-gid or
   file-capability binary: such a command outlives a killed monitor.
   With --init the command is tied to the init the same way.

   Rootless: called as uid 0 inside husk's user namespace
   (husk_userns_enter), the runtime works as for root, with every
   namespace it creates owned by that user namespace, except:
     - overlay is mounted with "userxattr" (the layer store writes
       user.overlay.* xattrs for rootless users: layer opts.userxattr);
     - /dev's nodes and --device nodes are the host's, bind-mounted over
       empty files (no mknod): host owner and mode, file_mode ignored;
     - /proc with --pid host and /sys with --network host (namespaces the
       user namespace does not own) are recursive binds of the host's,
       /sys read-only; /dev/mqueue with --ipc host likewise;
     - devpts has gid=5 only when gid 5 is mapped;
     - with a single-id map (no subgid range) setgroups is denied:
       supplementary groups are skipped;
     - cgroups: husk_cgroup_create is a no-op (one warning when limits
       were asked) unless cgroup v2 is delegated; /sys/fs/cgroup shows
       the user's own cgroup read-only where the kernel allows it.

   Why there is no /proc/self/exe risk (CVE-2019-5736): the child never runs
   husk code after execve, and husk is never re-executed inside the
   container, so no container process can reach the husk binary through
   /proc/<pid>/exe.  The one exception is --init, where pid 1 stays a husk
   process: it makes itself non-dumpable (only CAP_SYS_PTRACE can then open
   /proc/1/exe), and while it runs the binary is busy (ETXTBSY on write).  */
#ifndef HUSK_RUNTIME_H
#define HUSK_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"

struct husk_security_spec; /* husk/security.h */
struct husk_cgroup_limits; /* husk/cgroup.h */
struct husk_cgroup;        /* husk/cgroup.h */

enum husk_mount_type
{
  HUSK_MOUNT_BIND = 0, /* source: host path (file or directory), recursive bind */
  HUSK_MOUNT_TMPFS,    /* source unused */
};

struct husk_mount
{
  enum husk_mount_type type;
  const char *source;      /* absolute host path (bind) */
  const char *destination; /* absolute path inside the container */
  bool readonly;
  bool nosuid, nodev, noexec;
  uint64_t tmpfs_size; /* bytes, 0: the kernel's default (half of RAM) */
  mode_t tmpfs_mode;   /* 0: 01777 */
};

/* A host device node made available at path inside the container
   (`--device /dev/x[:/dev/y][:rwm]`).  The node is created with mknod
   (same type, major, minor and mode); the cgroup device rules are the
   cgroup spec's business.  Rootless (in a user namespace) the host node
   itself is bind-mounted there instead: file_mode is ignored.  */
struct husk_device
{
  const char *host_path;
  const char *path; /* NULL: same as host_path */
  mode_t file_mode; /* 0: the host node's permissions */
};

enum husk_ns_mode
{
  HUSK_NS_PRIVATE = 0, /* a new namespace (net: "none", loopback up) */
  HUSK_NS_HOST,        /* stay in the caller's namespace */
  HUSK_NS_JOIN,        /* setns to path (container:<id> -> /proc/<pid>/ns/x, or ns:<path>) */
};

struct husk_ns
{
  enum husk_ns_mode mode;
  const char *path; /* HUSK_NS_JOIN only */
};

struct husk_rootfs
{
  /* Overlay: lower dirs bottom (base layer) first, any number (200 layers
     work: fsconfig "lowerdir+" where the kernel has it, else short
     relative names).  upper_dir and work_dir NULL for a read-only
     overlay of the lowers.  */
  char *const *lower_dirs;
  const char *upper_dir;
  const char *work_dir;
  /* vfs: a plain directory used as the root (lower_dirs must be NULL).  */
  const char *dir;
  bool read_only; /* --read-only: the root is remounted read-only */
  /* The upper dir will be thrown away (--rm): overlay's "volatile" skips
     every sync of the upper filesystem, including the one at unmount that
     otherwise delays the container's exit.  After a crash the kernel
     refuses to reuse work_dir (work/incompat/volatile): remove it.  */
  bool volatile_upper;
};

struct husk_run_spec
{
  const char *id;    /* the container id: names the cgroup husk-<id> */
  char *const *argv; /* argv[0] looked up through PATH inside the container */
  char *const *env;  /* "KEY=VALUE"; HOME is added from passwd when absent */
  const char *cwd;   /* absolute; created if missing; NULL: "/" */

  /* Who runs the command.  When user is set ("name", "uid", "uid:gid",
     "name:group", Docker's -u), it is resolved in the child against the
     container's own /etc/passwd and /etc/group (see husk_passwd_resolve)
     and uid/gid are ignored; group_add names or numbers are added.  */
  const char *user;
  char *const *group_add;
  uid_t uid;
  gid_t gid;
  const gid_t *additional_gids;
  size_t n_additional_gids;

  const char *hostname; /* NULL: keep (private uts: the kernel's "(none)") */
  struct husk_rootfs rootfs;

  const struct husk_mount *mounts; /* applied in order, after the defaults */
  size_t n_mounts;
  const struct husk_device *devices;
  size_t n_devices;

  /* Paths inside the container.  NULL: Docker's default lists (see below)
     unless security->privileged; an empty vector: none.  */
  char *const *masked_paths;
  char *const *readonly_paths;

  /* The mount namespace is always private.  */
  struct husk_ns pid_ns, ipc_ns, uts_ns, net_ns, cgroup_ns;

  /* Host files (the caller writes them under the container's runroot dir)
     bound over /etc/hosts, /etc/resolv.conf, /etc/hostname.  NULL: leave the
     image's file.  */
  const char *hosts_file;
  const char *resolv_conf_file;
  const char *hostname_file;

  uint64_t shm_size;    /* /dev/shm size in bytes, 0: 64 MiB */
  char *const *sysctls; /* "key=value", e.g. net.ipv4.ip_forward=1 */
  bool init;            /* --init: a minimal init is pid 1, the command its child */

  /* NULL: no change of ids, caps or seccomp at all (tests).  The caller
     runs husk_security_prepare () on it first (the BPF comes from the host's
     cache); uid, gid and groups in it are ignored: the child fills them from
     the fields above (or user) in its own copy.  Its mask and unmask lists
     edit masked_paths.  */
  const struct husk_security_spec *security;
  /* NULL: stay in the caller's cgroup.  Otherwise the child is moved into
     husk-<id> (husk_cgroup_create) before it does anything else, then
     unshares its cgroup namespace when cgroup_ns is private.  */
  const struct husk_cgroup_limits *cgroup;

  /* fds dup2'ed to 0, 1, 2 in the child; -1: /dev/null.  */
  int stdio[3];
  /* -t: allocate a pty in the container's own devpts (so `tty` inside
     names a real path); its slave, owned by the container's uid, becomes
     fds 0-2 and the controlling terminal (stdio is then ignored), and the
     master comes back in husk_runtime_process.pty_master.  */
  bool terminal;
  /* fds kept open at the same number in the container; every other fd
     above 2 is closed before execve.  */
  const int *keep_fds;
  size_t n_keep_fds;
};

struct husk_runtime_process
{
  pid_t pid;                  /* in the caller's pid namespace */
  int pidfd;                  /* pidfd of the child, or -1 when the kernel has none */
  int sync_fd;                /* internal: the go / error channel */
  int pty_master;             /* with spec->terminal: the pty master (CLOEXEC), else -1 */
  struct husk_cgroup *cgroup; /* NULL without spec->cgroup; the caller owns it (destroy, free) */
};

/* Clone and prepare the container process; it waits before execve.  On
   failure *err holds the child's message (or the parent's) and its exit
   code; the child is gone and nothing is left mounted.  The caller must
   be root, or uid 0 in husk's user namespace (see "Rootless" above);
   anyone else gets EPERM ("containers need root or husk's user namespace
   (husk_userns_enter) to run").  */
int husk_runtime_create (const struct husk_run_spec *spec, struct husk_runtime_process *out,
                         husk_error_t *err);

/* Let the prepared child execve.  Returns 0 once execve succeeded, or a
   negative value with the child's error (exit code 126 permission denied,
   127 "executable file not found in $PATH", else 125); the child has then
   exited (it is reaped by the caller, who owns the pid).  */
int husk_runtime_start (struct husk_runtime_process *p, husk_error_t *err);

/* Close the process's fds (sync, pidfd, pty master; take pty_master and
   set it to -1 first to keep it).  Not the pid.  Safe to call twice.  */
void husk_runtime_process_release (struct husk_runtime_process *p);

/* Kill a created-but-not-started child and reap it.  */
void husk_runtime_abort (struct husk_runtime_process *p);

/* ---- exec: a new process in a running container ---- */

struct husk_exec_spec
{
  pid_t pid;         /* the container's pid 1 (host pid namespace): its namespaces are joined */
  char *const *argv; /* argv[0] looked up through PATH inside the container */
  char *const *env;  /* "KEY=VALUE"; HOME is added from passwd when absent */
  const char *cwd;   /* absolute, must exist (resolved inside the root); NULL: "/" */
  const char *user;  /* as husk_run_spec.user; NULL or "": root */
  char *const *group_add;
  /* The container's security spec (husk_security_prepare'd), or its
     --privileged variant; NULL: keep the caller's ids and capabilities.  */
  const struct husk_security_spec *security;
  /* The container's cgroup (husk_cgroup_open), or NULL: the process is
     moved into it before it joins the cgroup namespace.  */
  struct husk_cgroup *cgroup;
  int stdio[3];  /* as husk_run_spec.stdio */
  bool terminal; /* as husk_run_spec.terminal: a pty of the container's devpts */
};

/* Run a process inside the running container whose pid 1 is spec->pid.
   A short-lived helper joins the container's namespaces (user first when
   the container has its own: rootless, then cgroup, ipc, uts, net, pid,
   mount; the caller's own namespaces never change) and clones the process
   with CLONE_PARENT, so it is born in the container's pid namespace as
   the caller's child.  The caller moves it into spec->cgroup, then it
   resolves the user in the container's own /etc/passwd, changes to cwd,
   applies the security spec, closes every fd above 2 and execs.  Returns
   once execve succeeded, with out filled as by husk_runtime_create +
   husk_runtime_start (the caller reaps the pid; the process does not die
   with the caller); errors carry the exit code (126 permission denied or
   a missing workdir, 127 not found, else 125).

   The helper makes itself non-dumpable (PR_SET_DUMPABLE 0) before its
   first setns, and the process inherits it until execve: nothing in the
   container can open the husk binary through /proc/<pid>/exe while an
   exec joins (DESIGN.md section 7).  */
int husk_runtime_exec (const struct husk_exec_spec *spec, struct husk_runtime_process *out,
                       husk_error_t *err);

/* Docker's default masked and read-only paths (NULL-terminated).  */
extern char *const husk_runtime_default_masked_paths[];
extern char *const husk_runtime_default_readonly_paths[];

/* ---- users and groups, from the container's own files (no NSS) ---- */

struct husk_user_ids
{
  uid_t uid;
  gid_t gid;
  gid_t *additional_gids; /* supplementary groups from /etc/group + group_add */
  size_t n_additional_gids;
  char *home; /* the passwd entry's home, or NULL when unknown */
};

/* Resolve Docker's -u (user: "name", "uid", "uid:gid", "name:group",
   "uid:group"...; NULL or "" means root) and --group-add entries against
   rootfd's etc/passwd and etc/group, opened with husk_open_in_root.
   Numeric ids need no entry; an unknown name fails with "unable to find
   user NAME: no matching entries in passwd file" (or group file).  */
int husk_passwd_resolve (int rootfd, const char *user, char *const *group_add, struct husk_user_ids *out,
                         husk_error_t *err);
void husk_user_ids_free (struct husk_user_ids *ids);

/* ---- a stopped container's files (rootfs-view.c) ---- */

/* Move the calling process into a mount namespace of its own (propagation
   private: nothing mounted here reaches the host's namespace) and mount the
   root filesystem r there as a container start would (overlay, userxattr
   in a user namespace); returns an O_DIRECTORY fd to its root.  The mount
   lives only as long as the process and its namespace: for short-lived
   commands (cp, export, commit).  Rootless: after husk_userns_enter.  */
int husk_rootfs_mount_private (const struct husk_rootfs *r, husk_error_t *err);
/* The same root as a detached mount (open_tree/fsmount semantics): the
   returned fd works as a dirfd and as the source of move_mount or
   open_tree, and the mount goes away when the last fd on it is closed;
   nothing stays attached anywhere.  The first call moves the process into
   a private mount namespace of its own (as husk_rootfs_mount_private), so
   it must not have threads then.  For long-lived commands that mount many
   roots (build).  */
int husk_rootfs_mount_detached (const struct husk_rootfs *r, husk_error_t *err);

/* ---- /etc/hosts and /etc/resolv.conf (etc-files.c) ---- */

/* What a container's /etc/hosts starts from (NUL-terminated, *len bytes):
   with the host's network (host_net) the host's own file ("" when it has
   none), else the localhost names for IPv4 and IPv6.  The caller adds the
   container's own names and writes it to hosts_file.  */
char *husk_etc_hosts_base (bool host_net, size_t *len);
/* A container's /etc/resolv.conf (NUL-terminated, *len bytes; "" when the
   host has none): the host's.  A network namespace of its own cannot reach
   a loopback resolver (systemd-resolved's 127.0.0.53), so without host_net
   the upstream list systemd-resolved keeps comes first.  */
char *husk_etc_resolv_conf (bool host_net, size_t *len);

#endif
