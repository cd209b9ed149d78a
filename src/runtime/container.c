/* husk: container process creation (see husk/runtime.h), after crun's
   container.c/linux.c split: this file is the process side (clone, the
   sync socket, namespaces, ids, exec); rootfs.c, mounts.c and devices.c
   build the filesystem.

   The child talks to the parent over a SOCK_SEQPACKET socketpair, one
   message per datagram (struct sync_hdr + text):

     parent                              child
     clone ------------------------------> (waits for CGROUP if asked)
     cgroup create/attach, CGROUP ------->  setns, mounts, pivot_root, ids...
                       <----------------- READY   (or ERROR + exit)
     husk_runtime_create returns
     husk_runtime_start: GO ------------>  execve
                       <----------------- EOF: the close-on-exec end closed
                                          (or ERROR + exit 126/127)

   The clone is fork-like (no separate stack): the child works on its copy
   of the caller's memory and never returns from child_main.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/security.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "runtime-internal.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum sync_type
{
  SYNC_READY = 1,
  SYNC_ERROR = 2,
  SYNC_GO = 3,
  SYNC_CGROUP = 4,
  SYNC_PTY = 5, /* carries the pty master (SCM_RIGHTS) */
};

struct sync_hdr
{
  int32_t type;
  int32_t exit_code;
  int32_t status;
};

/* The namespaces to join, opened by the parent before clone.  */
struct join_fds
{
  int net, ipc, uts, cgroup;
};

/* The kernel's struct clone_args, version 0 (64 bytes).  */
struct clone_args_v0
{
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
};

/* ---- the sync socket ---- */

static int
sync_send (int fd, int type, int exit_code, int status, const char *text)
{
  struct sync_hdr hdr = { .type = type, .exit_code = exit_code, .status = status };
  struct iovec iov[2] = {
    { .iov_base = &hdr, .iov_len = sizeof (hdr) },
    { .iov_base = (void *)(text ? text : ""), .iov_len = text ? strlen (text) : 0 },
  };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
  ssize_t n;

  do
    n = sendmsg (fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : 0;
}

static int
sync_send_fd (int fd, int type, int passfd)
{
  struct sync_hdr hdr = { .type = type };
  struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof (hdr) };
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } ctl;
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof (ctl.buf) };
  struct cmsghdr *c;
  ssize_t n;

  memset (&ctl, 0, sizeof (ctl));
  c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &passfd, sizeof (int));
  do
    n = sendmsg (fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : 0;
}

/* 1 and a message, 0 at EOF, negative errno.  *text is malloc'd.  An fd
   passed with the message lands in *passfd when not NULL (else it is
   closed); -1 when none came.  */
static int
sync_recv_fd (int fd, struct sync_hdr *hdr, char **text, int *passfd)
{
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } ctl;
  struct iovec iov;
  struct msghdr msg;
  struct cmsghdr *c;
  ssize_t n;
  size_t len;
  char *buf;

  *text = NULL;
  if (passfd != NULL)
    *passfd = -1;
  do
    n = recv (fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  if (n == 0)
    {
      /* EOF, or an empty datagram (never sent): consume and report EOF.  */
      char ch;
      n = recv (fd, &ch, 1, 0);
      return n <= 0 ? 0 : -EPROTO;
    }
  len = (size_t)n;
  buf = xmalloc (len + 1);
  iov.iov_base = buf;
  iov.iov_len = len;
  memset (&msg, 0, sizeof (msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof (ctl.buf);
  do
    n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      free (buf);
      return -errno;
    }
  for (c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN (sizeof (int)))
      {
        int got;
        memcpy (&got, CMSG_DATA (c), sizeof (int));
        if (passfd != NULL && *passfd < 0)
          *passfd = got;
        else
          close (got);
      }
  if (n < (ssize_t)sizeof (*hdr))
    {
      free (buf);
      return -EPROTO;
    }
  memcpy (hdr, buf, sizeof (*hdr));
  memmove (buf, buf + sizeof (*hdr), (size_t)n - sizeof (*hdr));
  buf[(size_t)n - sizeof (*hdr)] = '\0';
  *text = buf;
  return 1;
}

static int
sync_recv (int fd, struct sync_hdr *hdr, char **text)
{
  return sync_recv_fd (fd, hdr, text, NULL);
}

/* ---- the child ---- */

static void __attribute__ ((noreturn)) child_fail (int syncfd, husk_error_t *err)
{
  int code;

  if (*err == NULL)
    husk_make_error (err, 0, "container setup failed");
  code = husk_error_exit_code (err);

  sync_send (syncfd, SYNC_ERROR, code, (*err)->status, (*err)->msg);
  _exit (code);
}

static int
child_reset_signals (husk_error_t *err)
{
  struct sigaction sa = { .sa_handler = SIG_DFL };
  sigset_t none;
  int sig;

  /* Ignored signals survive execve: the container must not inherit
     husk's SIG_IGN for SIGPIPE and friends.  */
  for (sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction (sig, &sa, NULL);
  sigemptyset (&none);
  if (sigprocmask (SIG_SETMASK, &none, NULL) < 0)
    return husk_make_error (err, errno, "sigprocmask");
  return 0;
}

/* fds 0-2 must exist before anything else is opened, or a later open could
   land on them and be clobbered by the stdio dup2.  */
static int
child_guard_low_fds (int *syncfd, husk_error_t *err)
{
  int fd;

  if (*syncfd < 3)
    {
      int nfd = fcntl (*syncfd, F_DUPFD_CLOEXEC, 3);
      if (nfd < 0)
        return husk_make_error (err, errno, "dup");
      *syncfd = nfd;
    }
  for (fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0 && errno == EBADF)
      {
        int n = open ("/dev/null", O_RDWR);
        if (n < 0)
          return husk_make_error (err, errno, "open /dev/null");
      }
  return 0;
}

static int
child_stdio (const struct husk_run_spec *spec, husk_error_t *err)
{
  int tmp[3] = { -1, -1, -1 };
  int i, ret = 0;

  for (i = 0; i < 3; i++)
    {
      if (spec->stdio[i] < 0)
        tmp[i] = open ("/dev/null", O_RDWR | O_CLOEXEC);
      else
        tmp[i] = fcntl (spec->stdio[i], F_DUPFD_CLOEXEC, 3);
      if (tmp[i] < 0)
        {
          ret = husk_make_error (err, errno, "stdio fd %d", i);
          goto out;
        }
    }
  for (i = 0; i < 3; i++)
    if (dup2 (tmp[i], i) < 0)
      {
        ret = husk_make_error (err, errno, "dup2 stdio fd %d", i);
        goto out;
      }
out:
  for (i = 0; i < 3; i++)
    if (tmp[i] >= 0)
      close (tmp[i]);
  return ret;
}

static int
child_join (int fd, int nstype, const char *what, husk_error_t *err)
{
  if (fd >= 0 && setns (fd, nstype) < 0)
    return husk_make_error (err, errno, "join the %s namespace", what);
  return 0;
}

static int
loopback_up (husk_error_t *err)
{
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;

  if (s < 0)
    return husk_make_error (err, errno, "socket");
  memset (&ifr, 0, sizeof (ifr));
  memcpy (ifr.ifr_name, "lo", 3);
  if (ioctl (s, SIOCGIFFLAGS, &ifr) < 0)
    return husk_make_error (err, errno, "loopback flags");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
    return husk_make_error (err, errno, "bring the loopback interface up");
  return 0;
}

/* The ids to switch to: the -u string resolved against the container's
   files, or the caller's numbers (HOME looked up for them).  */
static int
child_resolve_user (const struct husk_run_spec *spec, struct husk_user_ids *ids, husk_error_t *err)
{
  cleanup_close int rootfd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  size_t i;

  if (rootfd < 0)
    return husk_make_error (err, errno, "open /");
  if (spec->user != NULL || spec->group_add != NULL)
    return husk_passwd_resolve (rootfd, spec->user, spec->group_add, ids, err);

  {
    cleanup_free char *uid = xasprintf ("%lu", (unsigned long)spec->uid);
    husk_error_t ignored = NULL;
    if (husk_passwd_resolve (rootfd, uid, NULL, ids, &ignored) < 0)
      husk_error_release (&ignored);
  }
  ids->uid = spec->uid;
  ids->gid = spec->gid;
  free (ids->additional_gids);
  ids->additional_gids = NULL;
  ids->n_additional_gids = 0;
  for (i = 0; i < spec->n_additional_gids; i++)
    {
      ids->additional_gids = xrealloc (ids->additional_gids, (i + 1) * sizeof (gid_t));
      ids->additional_gids[i] = spec->additional_gids[i];
    }
  ids->n_additional_gids = spec->n_additional_gids;
  return 0;
}

static int
child_cwd (const struct husk_run_spec *spec, husk_error_t *err)
{
  const char *cwd = spec->cwd != NULL && spec->cwd[0] != '\0' ? spec->cwd : "/";
  cleanup_close int rootfd = -1;
  cleanup_close int fd = -1;

  if (cwd[0] != '/')
    return husk_make_error (err, 0, "workdir `%s` must be an absolute path", cwd);
  rootfd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return husk_make_error (err, errno, "open /");
  /* Resolved inside the root with no magic links, so /proc/self/fd/N (a
     way out to a host directory) is refused, not followed.  */
  fd = husk_mkdir_in_root (rootfd, cwd, 0755, err);
  if (fd < 0)
    return husk_error_wrap (err, "workdir `%s`", cwd);
  if (fchdir (fd) < 0)
    return husk_make_error (err, errno, "workdir `%s`", cwd);
  return 0;
}

static char **
child_env (const struct husk_run_spec *spec, const struct husk_user_ids *ids)
{
  char **env = strv_dup (spec->env);
  size_t i;

  for (i = 0; env != NULL && env[i] != NULL; i++)
    if (husk_has_prefix (env[i], "HOME="))
      return env;
  strv_append_take (&env, xasprintf ("HOME=%s", ids->home != NULL ? ids->home : "/"));
  return env;
}

static const char *
env_get (char *const *env, const char *key)
{
  size_t klen = strlen (key);
  size_t i;

  for (i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp (env[i], key, klen) == 0 && env[i][klen] == '=')
      return env[i] + klen + 1;
  return NULL;
}

/* Go's exec.LookPath, as Docker: argv0 with a slash is used as is;
   otherwise the first PATH entry holding a non-directory with an x bit.  */
static int
child_find_executable (const char *argv0, char *const *env, char **out, husk_error_t *err)
{
  const char *path = env_get (env, "PATH");
  cleanup_free char *copy = NULL;
  char *save = NULL;
  char *dir;

  if (argv0 == NULL || argv0[0] == '\0')
    {
      husk_make_error (err, 0, "no command given");
      husk_error_set_exit_code (err, HUSK_EXIT_NOT_FOUND);
      return -1;
    }
  if (strchr (argv0, '/') != NULL)
    {
      *out = xstrdup (argv0);
      return 0;
    }
  copy = xstrdup (path != NULL ? path : DEFAULT_PATH);
  for (dir = strtok_r (copy, ":", &save); dir != NULL; dir = strtok_r (NULL, ":", &save))
    {
      cleanup_free char *candidate = xasprintf ("%s/%s", dir[0] ? dir : ".", argv0);
      struct stat st;

      if (stat (candidate, &st) == 0 && !S_ISDIR (st.st_mode) && (st.st_mode & 0111))
        {
          *out = steal_pointer (&candidate);
          return 0;
        }
    }
  husk_make_error (err, 0, "exec \"%s\": executable file not found in $PATH", argv0);
  husk_error_set_exit_code (err, HUSK_EXIT_NOT_FOUND);
  return -1;
}

static void __attribute__ ((noreturn))
child_exec (int syncfd, const char *path, char *const *argv, char *const *env)
{
  husk_error_t err = NULL;
  int code;

  execve (path, argv, env);
  if (errno == ENOENT || errno == ENOTDIR)
    code = HUSK_EXIT_NOT_FOUND;
  else
    code = HUSK_EXIT_CANNOT;
  husk_make_error (&err, errno, "exec \"%s\"", argv[0]);
  husk_error_set_exit_code (&err, code);
  child_fail (syncfd, &err);
}

/* -t: a pty from the container's own devpts instance (so `tty` names a
   path that exists inside), its master handed to the parent, the slave
   made stdio and the controlling terminal of the new session.  */
static int
child_terminal (int syncfd, const struct husk_user_ids *ids, husk_error_t *err)
{
  cleanup_close int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  cleanup_close int slave = -1;
  int i;

  if (master < 0)
    return husk_make_error (err, errno, "open /dev/ptmx");
  if (unlockpt (master) < 0)
    return husk_make_error (err, errno, "unlockpt");
  slave = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    return husk_make_error (err, errno, "open the pty slave");
  /* The user owns its terminal, as login does.  */
  if (fchown (slave, ids->uid, (gid_t)-1) < 0)
    return husk_make_error (err, errno, "chown the pty slave");
  if (sync_send_fd (syncfd, SYNC_PTY, master) < 0)
    return husk_make_error (err, errno, "send the pty master");
  for (i = 0; i < 3; i++)
    if (dup2 (slave, i) < 0)
      return husk_make_error (err, errno, "dup2 the pty slave");
  if (ioctl (0, TIOCSCTTY, 0) < 0)
    return husk_make_error (err, errno, "set the controlling terminal");
  return 0;
}

/* Every fd above 2 closes at execve (the sync socket with them, which is
   how the parent learns that execve happened), except the kept ones.  */
static int
child_close_fds (const struct husk_run_spec *spec, husk_error_t *err)
{
  size_t i;

  if (close_range (3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    {
      cleanup_dir DIR *d = opendir ("/proc/self/fd");
      struct dirent *de;
      if (d == NULL)
        return husk_make_error (err, errno, "list open fds");
      while ((de = readdir (d)) != NULL)
        {
          int fd = atoi (de->d_name);
          if (fd > 2 && fd != dirfd (d))
            fcntl (fd, F_SETFD, FD_CLOEXEC);
        }
    }
  for (i = 0; i < spec->n_keep_fds; i++)
    if (fcntl (spec->keep_fds[i], F_SETFD, 0) < 0)
      return husk_make_error (err, errno, "keep fd %d", spec->keep_fds[i]);
  return 0;
}

static bool
setgroups_denied (void)
{
  cleanup_close int fd = open ("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  char buf[8] = { 0 };

  return fd >= 0 && read (fd, buf, sizeof (buf) - 1) > 0 && strncmp (buf, "deny", 4) == 0;
}

static int
child_set_ids (const struct husk_run_spec *spec, const struct husk_user_ids *ids, husk_error_t *err)
{
  if (spec->security != NULL)
    {
      /* husk_security_apply switches ids between its capability steps;
         this copy is the child's own.  */
      struct husk_security_spec sec = *spec->security;
      sec.uid = ids->uid;
      sec.gid = ids->gid;
      sec.groups = ids->additional_gids;
      sec.n_groups = ids->n_additional_gids;
      return husk_security_apply (&sec, err);
    }
  /* A single-id rootless map (no subgid range) denies setgroups: only
     the mapped ids exist there, so there are no groups to set.  */
  if (setgroups (ids->n_additional_gids, ids->additional_gids) < 0
      && !(errno == EPERM && setgroups_denied ()))
    return husk_make_error (err, errno, "setgroups");
  if (setresgid (ids->gid, ids->gid, ids->gid) < 0)
    return husk_make_error (err, errno, "setgid %lu", (unsigned long)ids->gid);
  if (setresuid (ids->uid, ids->uid, ids->uid) < 0)
    return husk_make_error (err, errno, "setuid %lu", (unsigned long)ids->uid);
  return 0;
}

static int
child_namespaces (const struct husk_run_spec *spec, int syncfd, const struct join_fds *j, husk_error_t *err)
{
  if (spec->cgroup != NULL)
    {
      struct sync_hdr hdr;
      cleanup_free char *text = NULL;
      if (sync_recv (syncfd, &hdr, &text) != 1 || hdr.type != SYNC_CGROUP)
        _exit (HUSK_EXIT_FAILURE); /* the parent gave up */
      if (spec->cgroup_ns.mode == HUSK_NS_PRIVATE && unshare (CLONE_NEWCGROUP) < 0)
        return husk_make_error (err, errno, "unshare the cgroup namespace");
    }
  if (child_join (j->net, CLONE_NEWNET, "network", err) < 0
      || child_join (j->ipc, CLONE_NEWIPC, "ipc", err) < 0
      || child_join (j->uts, CLONE_NEWUTS, "uts", err) < 0
      || child_join (j->cgroup, CLONE_NEWCGROUP, "cgroup", err) < 0)
    return -1;
  /* Nothing we mount may propagate to the host.  */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return husk_make_error (err, errno, "make / private");
  if (spec->net_ns.mode == HUSK_NS_PRIVATE && loopback_up (err) < 0)
    return -1;
  if (spec->uts_ns.mode == HUSK_NS_PRIVATE && spec->hostname != NULL
      && sethostname (spec->hostname, strlen (spec->hostname)) < 0)
    return husk_make_error (err, errno, "sethostname `%s`", spec->hostname);
  return 0;
}

static int
child_filesystem (const struct husk_run_spec *spec, husk_error_t *err)
{
  cleanup_close int rootfd = runtime_rootfs_mount (&spec->rootfs, err);

  if (rootfd < 0)
    return husk_error_wrap (err, "mount the root filesystem");
  if (runtime_rootfs_populate (spec, rootfd, err) < 0)
    return -1;
  if (child_stdio (spec, err) < 0)
    return -1;
  return runtime_rootfs_pivot (rootfd, err);
}

static void __attribute__ ((noreturn))
child_run_init (int syncfd, const char *path, char *const *argv, char *const *env)
{
  pid_t init_pid = getpid ();
  sigset_t all, old;
  pid_t pid;

  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, &old);
  pid = fork ();
  if (pid < 0)
    {
      husk_error_t err = NULL;
      husk_make_error (&err, errno, "fork the command under --init");
      child_fail (syncfd, &err);
    }
  if (pid == 0)
    {
      /* fork cleared it: the command dies with its init (whose own
         parent-death signal ties it to the monitor).  */
      prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      if (getppid () != init_pid)
        _exit (HUSK_EXIT_FAILURE);
      sigprocmask (SIG_SETMASK, &old, NULL);
      child_exec (syncfd, path, argv, env);
    }
  close (syncfd);
  /* No execve will close the close-on-exec fds the monitor left us (its
     log, sockets, store dirs): pid 1 stays husk code, so close them here.  */
  if (close_range (3, ~0U, 0) < 0)
    for (int fd = 3; fd < 1024; fd++)
      close (fd);
  runtime_init_main (pid);
}

static void __attribute__ ((noreturn))
child_main (const struct husk_run_spec *spec, int syncfd, const struct join_fds *j)
{
  struct husk_user_ids ids = { 0 };
  cleanup_strv char **env = NULL;
  cleanup_free char *path = NULL;
  husk_error_t err = NULL;
  struct sync_hdr hdr;
  cleanup_free char *text = NULL;

  if (child_guard_low_fds (&syncfd, &err) < 0)
    child_fail (syncfd, &err);
  /* A dead parent means nobody will ever start us, and once started,
     nobody supervises us: die with it (runtime.h).  */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  umask (0);
  if (child_reset_signals (&err) < 0 || child_namespaces (spec, syncfd, j, &err) < 0
      || child_filesystem (spec, &err) < 0 || child_resolve_user (spec, &ids, &err) < 0
      || child_cwd (spec, &err) < 0)
    child_fail (syncfd, &err);

  env = child_env (spec, &ids);
  if (child_find_executable (spec->argv != NULL ? spec->argv[0] : NULL, env, &path, &err) < 0)
    child_fail (syncfd, &err);
  if (setsid () < 0)
    {
      husk_make_error (&err, errno, "setsid");
      child_fail (syncfd, &err);
    }
  if (spec->terminal && child_terminal (syncfd, &ids, &err) < 0)
    child_fail (syncfd, &err);
  if (child_close_fds (spec, &err) < 0)
    child_fail (syncfd, &err);
  umask (022);
  if (child_set_ids (spec, &ids, &err) < 0)
    child_fail (syncfd, &err);
  /* The kernel clears the parent-death signal when the ids change: set it
     again, so the container dies with its monitor (runtime.h).  Had the
     parent died meanwhile, READY or GO below fails and we exit.  */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    {
      husk_make_error (&err, errno, "prctl (PR_SET_PDEATHSIG)");
      child_fail (syncfd, &err);
    }

  if (sync_send (syncfd, SYNC_READY, 0, 0, NULL) < 0)
    _exit (HUSK_EXIT_FAILURE);
  if (sync_recv (syncfd, &hdr, &text) != 1 || hdr.type != SYNC_GO)
    _exit (HUSK_EXIT_FAILURE); /* aborted before start */

  if (spec->init)
    child_run_init (syncfd, path, spec->argv, env);
  child_exec (syncfd, path, spec->argv, env);
}

/* ---- the parent ---- */

static pid_t
clone_child (unsigned long flags, int *pidfd)
{
  struct clone_args_v0 args;
  pid_t pid;

  memset (&args, 0, sizeof (args));
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  pid = (pid_t)syscall (SYS_clone3, &args, sizeof (args));
  if (pid < 0 && errno == ENOSYS)
    {
      *pidfd = -1;
      pid = (pid_t)syscall (SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    }
  return pid;
}

static int
open_ns (const struct husk_ns *ns, const char *what, int *fd, husk_error_t *err)
{
  *fd = -1;
  if (ns->mode != HUSK_NS_JOIN)
    return 0;
  if (ns->path == NULL)
    return husk_make_error (err, EINVAL, "%s namespace: no path to join", what);
  *fd = open (ns->path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return husk_make_error (err, errno, "open the %s namespace `%s`", what, ns->path);
  return 0;
}

static void
close_join_fds (struct join_fds *j, int *pidns)
{
  int *fds[] = { &j->net, &j->ipc, &j->uts, &j->cgroup, pidns };
  size_t i;

  for (i = 0; i < sizeof (fds) / sizeof (fds[0]); i++)
    if (*fds[i] >= 0)
      {
        close (*fds[i]);
        *fds[i] = -1;
      }
}

static unsigned long
clone_flags (const struct husk_run_spec *spec)
{
  unsigned long flags = CLONE_NEWNS;

  if (spec->pid_ns.mode == HUSK_NS_PRIVATE)
    flags |= CLONE_NEWPID;
  if (spec->ipc_ns.mode == HUSK_NS_PRIVATE)
    flags |= CLONE_NEWIPC;
  if (spec->uts_ns.mode == HUSK_NS_PRIVATE)
    flags |= CLONE_NEWUTS;
  if (spec->net_ns.mode == HUSK_NS_PRIVATE)
    flags |= CLONE_NEWNET;
  /* With a cgroup to enter, the child unshares only once it is inside, so
     its namespace is rooted at its own cgroup.  */
  if (spec->cgroup_ns.mode == HUSK_NS_PRIVATE && spec->cgroup == NULL)
    flags |= CLONE_NEWCGROUP;
  return flags;
}

/* Clone; a pid namespace to join must be entered by the parent (setns of
   CLONE_NEWPID only affects children), then left again.  */
static pid_t
spawn (const struct husk_run_spec *spec, int childfd, struct join_fds *j, int pidns, int *pidfd,
       husk_error_t *err)
{
  cleanup_close int own_pidns = -1;
  pid_t pid;

  if (pidns >= 0)
    {
      own_pidns = open ("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
      if (own_pidns < 0)
        return husk_make_error (err, errno, "open /proc/self/ns/pid");
      if (setns (pidns, CLONE_NEWPID) < 0)
        return husk_make_error (err, errno, "join the pid namespace");
    }
  pid = clone_child (clone_flags (spec), pidfd);
  if (pid == 0)
    child_main (spec, childfd, j);
  if (pid < 0)
    husk_make_error (err, errno, "clone the container process");
  if (own_pidns >= 0 && setns (own_pidns, CLONE_NEWPID) < 0 && pid > 0)
    husk_warn ("cannot leave the joined pid namespace: %s", strerror (errno));
  return pid;
}

static void
reap (pid_t pid)
{
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* The child's answer: READY (after the pty master with -t), or its
   error (it then exits).  */
static int
wait_ready (struct husk_runtime_process *p, husk_error_t *err)
{
  for (;;)
    {
      cleanup_free char *text = NULL;
      struct sync_hdr hdr;
      int passfd = -1;
      int ret = sync_recv_fd (p->sync_fd, &hdr, &text, &passfd);

      if (ret == 1 && hdr.type == SYNC_PTY && passfd >= 0 && p->pty_master < 0)
        {
          p->pty_master = passfd;
          continue;
        }
      if (passfd >= 0)
        close (passfd);
      if (ret == 1 && hdr.type == SYNC_READY)
        return 0;
      if (ret == 1 && hdr.type == SYNC_ERROR)
        {
          husk_make_error (err, 0, "%s", text);
          (*err)->status = hdr.status;
          husk_error_set_exit_code (err, hdr.exit_code);
          return hdr.status > 0 ? -hdr.status : -1;
        }
      if (ret < 0)
        return husk_make_error (err, -ret, "read from the container process");
      return husk_make_error (err, 0, "the container process exited during setup");
    }
}

int
husk_runtime_create (const struct husk_run_spec *spec, struct husk_runtime_process *out, husk_error_t *err)
{
  struct join_fds j = { -1, -1, -1, -1 };
  int pidns = -1;
  int sv[2];
  pid_t pid;
  int ret;

  out->pid = -1;
  out->pidfd = -1;
  out->sync_fd = -1;
  out->pty_master = -1;
  out->cgroup = NULL;

  /* Rootless: the caller is uid 0 in husk's user namespace
     (husk_userns_enter), which then owns every namespace cloned here.  */
  if (geteuid () != 0)
    return husk_make_error (err, EPERM,
                            "containers need root or husk's user namespace (husk_userns_enter) to run");
  /* Asked once here, so the child inherits the answer.  */
  (void)runtime_in_userns ();
  if (spec->argv == NULL || spec->argv[0] == NULL)
    return husk_make_error (err, EINVAL, "no command to run");

  if (open_ns (&spec->net_ns, "network", &j.net, err) < 0 || open_ns (&spec->ipc_ns, "ipc", &j.ipc, err) < 0
      || open_ns (&spec->uts_ns, "uts", &j.uts, err) < 0
      || open_ns (&spec->cgroup_ns, "cgroup", &j.cgroup, err) < 0
      || open_ns (&spec->pid_ns, "pid", &pidns, err) < 0)
    {
      close_join_fds (&j, &pidns);
      return -1;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    {
      close_join_fds (&j, &pidns);
      return husk_make_error (err, errno, "socketpair");
    }

  pid = spawn (spec, sv[1], &j, pidns, &out->pidfd, err);
  close (sv[1]);
  close_join_fds (&j, &pidns);
  if (pid < 0)
    {
      close (sv[0]);
      return -1;
    }
  out->pid = pid;
  out->sync_fd = sv[0];

  if (spec->cgroup != NULL)
    {
      ret = husk_cgroup_create (spec->id != NULL ? spec->id : "unnamed", spec->cgroup, pid, &out->cgroup,
                                err);
      if (ret < 0 || sync_send (out->sync_fd, SYNC_CGROUP, 0, 0, NULL) < 0)
        {
          if (ret >= 0)
            husk_make_error (err, errno, "signal the container process");
          goto fail;
        }
    }

  if (wait_ready (out, err) < 0)
    goto fail;
  return 0;

fail:
  ret = (*err)->status > 0 ? -(*err)->status : -1;
  husk_runtime_abort (out);
  if (out->cgroup != NULL)
    {
      husk_error_t ignored = NULL;
      if (husk_cgroup_destroy (out->cgroup, &ignored) < 0)
        husk_error_release (&ignored);
      husk_cgroup_free (out->cgroup);
      out->cgroup = NULL;
    }
  return ret;
}

int
husk_runtime_start (struct husk_runtime_process *p, husk_error_t *err)
{
  cleanup_free char *text = NULL;
  struct sync_hdr hdr;
  int ret;

  if (p->sync_fd < 0)
    return husk_make_error (err, EINVAL, "the container process is not waiting to start");
  if (sync_send (p->sync_fd, SYNC_GO, 0, 0, NULL) < 0)
    return husk_make_error (err, errno, "start the container process");
  ret = sync_recv (p->sync_fd, &hdr, &text);
  close (p->sync_fd);
  p->sync_fd = -1;
  if (ret == 0)
    return 0; /* execve closed the child's end */
  if (ret == 1 && hdr.type == SYNC_ERROR)
    {
      husk_make_error (err, 0, "%s", text);
      (*err)->status = hdr.status;
      husk_error_set_exit_code (err, hdr.exit_code);
      return hdr.status > 0 ? -hdr.status : -1;
    }
  if (ret < 0)
    return husk_make_error (err, -ret, "read from the container process");
  return husk_make_error (err, EPROTO, "unexpected message from the container process");
}

void
husk_runtime_process_release (struct husk_runtime_process *p)
{
  if (p->sync_fd >= 0)
    close (p->sync_fd);
  if (p->pidfd >= 0)
    close (p->pidfd);
  if (p->pty_master >= 0)
    close (p->pty_master);
  p->sync_fd = -1;
  p->pidfd = -1;
  p->pty_master = -1;
}

void
husk_runtime_abort (struct husk_runtime_process *p)
{
  if (p->pid > 0)
    {
      kill (p->pid, SIGKILL);
      reap (p->pid);
      p->pid = -1;
    }
  husk_runtime_process_release (p);
}

/* ---- exec: a new process in a running container ----

     parent (caller)            joiner                     child
     pidfd_open, ns fds, fork -> non-dumpable, setns user,
                                cgroup, ipc, uts, net,
                                pid, mnt; clone with
                                CLONE_PARENT ------------> (born in the pid ns,
                        <------ PID, exit                   non-dumpable)
     cgroup attach, CGROUP -------------------------------> user, cwd, ids...
                        <---------------------------------- READY / ERROR
     GO ---------------------------------------------------> execve
                        <---------------------------------- EOF / ERROR

   The joiner does the setns calls so the caller's own namespaces never
   change (a rootless caller could not come back from the container's
   user namespace), and CLONE_PARENT makes the caller the parent of the
   process it waits for.  */

enum
{
  EXEC_NS_USER,
  EXEC_NS_CGROUP,
  EXEC_NS_IPC,
  EXEC_NS_UTS,
  EXEC_NS_NET,
  EXEC_NS_PID,
  EXEC_NS_MNT,
  EXEC_NS_N,
};

static const struct
{
  const char *name;
  int type;
} exec_ns_kinds[EXEC_NS_N] = {
  [EXEC_NS_USER] = { "user", CLONE_NEWUSER }, [EXEC_NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP },
  [EXEC_NS_IPC] = { "ipc", CLONE_NEWIPC },    [EXEC_NS_UTS] = { "uts", CLONE_NEWUTS },
  [EXEC_NS_NET] = { "net", CLONE_NEWNET },    [EXEC_NS_PID] = { "pid", CLONE_NEWPID },
  [EXEC_NS_MNT] = { "mnt", CLONE_NEWNS },
};

#define SYNC_PID 6 /* joiner -> parent: status is the child's pid */

static void
exec_close_ns (int *fds)
{
  int i;

  for (i = 0; i < EXEC_NS_N; i++)
    if (fds[i] >= 0)
      {
        close (fds[i]);
        fds[i] = -1;
      }
}

/* The namespaces of PID that differ from ours (joining one's own user
   namespace is an error, and the same namespace is nothing to do).  */
static int
exec_open_ns (pid_t pid, int *fds, husk_error_t *err)
{
  int i;

  for (i = 0; i < EXEC_NS_N; i++)
    fds[i] = -1;
  for (i = 0; i < EXEC_NS_N; i++)
    {
      cleanup_free char *path = xasprintf ("/proc/%d/ns/%s", (int)pid, exec_ns_kinds[i].name);
      cleanup_free char *own = xasprintf ("/proc/self/ns/%s", exec_ns_kinds[i].name);
      struct stat st, ost;
      int fd = open (path, O_RDONLY | O_CLOEXEC);

      if (fd < 0)
        {
          if (errno == ENOENT && i == EXEC_NS_CGROUP)
            continue; /* a kernel without cgroup namespaces */
          husk_make_error (err, errno, "open %s", path);
          exec_close_ns (fds);
          return -1;
        }
      if (fstat (fd, &st) == 0 && stat (own, &ost) == 0 && st.st_ino == ost.st_ino && st.st_dev == ost.st_dev)
        {
          close (fd);
          continue;
        }
      fds[i] = fd;
    }
  return 0;
}

static int
exec_cwd (const char *cwd, husk_error_t *err)
{
  cleanup_close int rootfd = -1;
  cleanup_close int fd = -1;

  if (cwd == NULL || cwd[0] == '\0')
    cwd = "/";
  if (cwd[0] != '/')
    return husk_make_error (err, 0, "workdir `%s` must be an absolute path", cwd);
  rootfd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return husk_make_error (err, errno, "open /");
  /* Inside the root, no magic links: /proc/self/fd/N is refused.  */
  fd = husk_open_in_root (rootfd, cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, err);
  if (fd < 0)
    {
      husk_error_wrap (err, "workdir `%s`", cwd);
      husk_error_set_exit_code (err, HUSK_EXIT_CANNOT);
      return -1;
    }
  if (fchdir (fd) < 0)
    {
      husk_make_error (err, errno, "workdir `%s`", cwd);
      husk_error_set_exit_code (err, HUSK_EXIT_CANNOT);
      return -1;
    }
  return 0;
}

static void __attribute__ ((noreturn)) exec_child_main (const struct husk_exec_spec *es, int syncfd)
{
  struct husk_run_spec rs;
  struct husk_user_ids ids = { 0 };
  cleanup_strv char **env = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *text = NULL;
  husk_error_t err = NULL;
  struct sync_hdr hdr;

  memset (&rs, 0, sizeof (rs));
  rs.argv = es->argv;
  rs.env = es->env;
  rs.user = es->user;
  rs.group_add = es->group_add;
  rs.security = es->security;
  rs.terminal = es->terminal;
  memcpy (rs.stdio, es->stdio, sizeof (rs.stdio));

  if (child_guard_low_fds (&syncfd, &err) < 0)
    child_fail (syncfd, &err);
  /* Until GO: a dead caller means nobody will start us.  */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (child_reset_signals (&err) < 0)
    child_fail (syncfd, &err);
  if (sync_recv (syncfd, &hdr, &text) != 1 || hdr.type != SYNC_CGROUP)
    _exit (HUSK_EXIT_FAILURE); /* the caller gave up */
  umask (022);
  if (child_stdio (&rs, &err) < 0 || child_resolve_user (&rs, &ids, &err) < 0 || exec_cwd (es->cwd, &err) < 0)
    child_fail (syncfd, &err);
  env = child_env (&rs, &ids);
  if (child_find_executable (rs.argv[0], env, &path, &err) < 0)
    child_fail (syncfd, &err);
  if (setsid () < 0)
    {
      husk_make_error (&err, errno, "setsid");
      child_fail (syncfd, &err);
    }
  if ((rs.terminal && child_terminal (syncfd, &ids, &err) < 0) || child_close_fds (&rs, &err) < 0
      || child_set_ids (&rs, &ids, &err) < 0)
    child_fail (syncfd, &err);
  /* Still non-dumpable (a change of ids keeps it so): nothing in the
     container can open our /proc/<pid>/exe until execve replaces it.  */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);

  if (sync_send (syncfd, SYNC_READY, 0, 0, NULL) < 0)
    _exit (HUSK_EXIT_FAILURE);
  free (text);
  text = NULL;
  if (sync_recv (syncfd, &hdr, &text) != 1 || hdr.type != SYNC_GO)
    _exit (HUSK_EXIT_FAILURE);
  /* Started: the process outlives its caller (exec -d, a detach).  */
  prctl (PR_SET_PDEATHSIG, 0, 0, 0, 0);
  child_exec (syncfd, path, rs.argv, env);
}

static void __attribute__ ((noreturn))
exec_joiner_main (const struct husk_exec_spec *es, int syncfd, int *fds)
{
  husk_error_t err = NULL;
  pid_t pid;
  int i;

  /* Before any setns: from the moment we (and the child, which inherits
     it) are in the container's namespaces, the container must not be
     able to open our /proc/<pid>/exe, the husk binary.  */
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    {
      husk_make_error (&err, errno, "prctl (PR_SET_DUMPABLE)");
      child_fail (syncfd, &err);
    }
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* The user namespace first: it owns the others.  */
  for (i = 0; i < EXEC_NS_N; i++)
    if (child_join (fds[i], exec_ns_kinds[i].type, exec_ns_kinds[i].name, &err) < 0)
      child_fail (syncfd, &err);
  exec_close_ns (fds);
  pid = (pid_t)syscall (SYS_clone, CLONE_PARENT, NULL, NULL, NULL, NULL);
  if (pid == 0)
    exec_child_main (es, syncfd);
  if (pid < 0)
    {
      husk_make_error (&err, errno, "clone the exec process");
      child_fail (syncfd, &err);
    }
  if (sync_send (syncfd, SYNC_PID, 0, pid, NULL) < 0)
    {
      kill (pid, SIGKILL);
      _exit (HUSK_EXIT_FAILURE);
    }
  _exit (0);
}

int
husk_runtime_exec (const struct husk_exec_spec *spec, struct husk_runtime_process *out, husk_error_t *err)
{
  int fds[EXEC_NS_N];
  cleanup_close int target = -1;
  cleanup_free char *text = NULL;
  struct sync_hdr hdr;
  pid_t joiner;
  int sv[2];
  int ret;

  out->pid = -1;
  out->pidfd = -1;
  out->sync_fd = -1;
  out->pty_master = -1;
  out->cgroup = NULL;
  if (spec->argv == NULL || spec->argv[0] == NULL)
    return husk_make_error (err, EINVAL, "no command to run");
  if (spec->pid <= 0)
    return husk_make_error (err, EINVAL, "no container process to join");

  /* The pidfd pins the identity: if the process is still alive after the
     ns files were opened, they are its namespaces, not a reused pid's.  */
  target = (int)syscall (SYS_pidfd_open, spec->pid, 0);
  if (target < 0)
    return husk_make_error (err, errno, "open the container process %d", (int)spec->pid);
  if (exec_open_ns (spec->pid, fds, err) < 0)
    return -1;
  if (syscall (SYS_pidfd_send_signal, target, 0, NULL, 0) < 0)
    {
      exec_close_ns (fds);
      return husk_make_error (err, errno, "the container process %d", (int)spec->pid);
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    {
      exec_close_ns (fds);
      return husk_make_error (err, errno, "socketpair");
    }

  joiner = fork ();
  if (joiner == 0)
    {
      close (sv[0]);
      exec_joiner_main (spec, sv[1], fds);
    }
  close (sv[1]);
  exec_close_ns (fds);
  if (joiner < 0)
    {
      close (sv[0]);
      return husk_make_error (err, errno, "fork");
    }
  out->sync_fd = sv[0];

  ret = sync_recv (out->sync_fd, &hdr, &text);
  reap (joiner);
  if (ret == 1 && hdr.type == SYNC_ERROR)
    {
      husk_make_error (err, 0, "%s", text);
      (*err)->status = hdr.status;
      husk_error_set_exit_code (err, hdr.exit_code);
      husk_runtime_process_release (out);
      return -1;
    }
  if (ret != 1 || hdr.type != SYNC_PID || hdr.status <= 0)
    {
      husk_runtime_process_release (out);
      return husk_make_error (err, ret < 0 ? -ret : EPROTO, "join the container's namespaces");
    }
  out->pid = hdr.status;
  out->pidfd = (int)syscall (SYS_pidfd_open, out->pid, 0);

  if (spec->cgroup != NULL && husk_cgroup_attach (spec->cgroup, out->pid, err) < 0)
    {
      husk_error_wrap (err, "join the container's cgroup");
      goto fail;
    }
  if (sync_send (out->sync_fd, SYNC_CGROUP, 0, 0, NULL) < 0)
    {
      husk_make_error (err, errno, "signal the exec process");
      goto fail;
    }
  if (wait_ready (out, err) < 0)
    goto fail;
  if (husk_runtime_start (out, err) < 0)
    {
      reap (out->pid);
      out->pid = -1;
      husk_runtime_process_release (out);
      return -1;
    }
  return 0;

fail:
  husk_runtime_abort (out);
  return -1;
}
