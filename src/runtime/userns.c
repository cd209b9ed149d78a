/* husk: the rootless user namespace (see husk/userns.h).

   Why a fork: a process cannot write its own uid_map with a range (only
   newuidmap, setuid root, may map the subordinate ids, and it must be given
   the pid of a process already in the new namespace), and unshare () of a
   user namespace leaves the caller in it.  So the child unshares and waits,
   the parent maps it from outside, and the command goes on in the child.
   The parent stays behind only to pass signals on and to exit with the
   child's status, so callers (shells, CI, cron) see one process.  */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include "husk/fs.h"
#include "husk/userns.h"
#include "husk/util.h"

#define SUBUID_FILE "/etc/subuid"
#define SUBGID_FILE "/etc/subgid"
/* The ids a mapping can address: [0, 2^32 - 1).  */
#define ID_LIMIT 4294967295UL
/* What a helper may print before we stop reading it.  */
#define HELPER_OUTPUT_MAX 4096

static bool entered;
static uid_t entered_uid;
static gid_t entered_gid;
static bool entered_ranges;

static pid_t forward_pid;

/* ---- /etc/subuid ---- */

/* "start:count" after the name: two decimal fields, count > 0, the range
   inside the 32-bit id space.  */
static bool
parse_range (char *rest, unsigned long *start, unsigned long *count)
{
  char *colon = strchr (rest, ':');
  uint64_t s, c;

  if (colon == NULL)
    return false;
  *colon = '\0';
  if (!husk_parse_u64 (rest, &s) || !husk_parse_u64 (colon + 1, &c))
    return false;
  if (c == 0 || s >= ID_LIMIT || c > ID_LIMIT - s)
    return false;
  *start = (unsigned long)s;
  *count = (unsigned long)c;
  return true;
}

int
husk_subid_range (const char *file, uid_t uid, const char *user, unsigned long *start, unsigned long *count,
                  husk_error_t *err)
{
  cleanup_file FILE *f = NULL;
  cleanup_free char *line = NULL;
  cleanup_free char *uid_str = xasprintf ("%lu", (unsigned long)uid);
  size_t cap = 0;
  ssize_t n;

  f = fopen (file, "re");
  if (f == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return husk_make_error (err, errno, "open %s", file);
    }
  errno = 0;
  while ((n = getline (&line, &cap, f)) >= 0)
    {
      char *colon;

      while (n > 0
             && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
        line[--n] = '\0';
      if (line[0] == '\0' || line[0] == '#')
        continue;
      colon = strchr (line, ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      if (!((user && strcmp (line, user) == 0) || strcmp (line, uid_str) == 0))
        continue;
      if (parse_range (colon + 1, start, count))
        return 1;
    }
  if (ferror (f))
    return husk_make_error (err, errno ? errno : EIO, "read %s", file);
  return 0;
}

/* ---- where we are ---- */

/* The initial user namespace maps every id to itself.  */
static bool
in_initial_userns (void)
{
  cleanup_free char *data = NULL;
  husk_error_t err = NULL;
  unsigned long a, b, c;
  size_t len = 0;
  int fd;

  fd = open ("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return true;
  if (husk_read_all_fd (fd, 65536, &data, &len, &err) < 0)
    {
      husk_error_release (&err);
      close (fd);
      return true;
    }
  close (fd);
  return sscanf (data, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == ID_LIMIT;
}

/* The marker is trusted only where it can have come from us: as uid 0 in
   a namespace that is not the initial one.  Anyone can set an environment
   variable; nobody but a real root can be uid 0 in the initial namespace,
   and there the marker means nothing.  */
static bool
read_marker (uid_t *uid, gid_t *gid, bool *ranges)
{
  static int state = -1;
  static uid_t mu;
  static gid_t mg;
  static bool mr;

  if (state < 0)
    {
      const char *v = getenv (HUSK_USERNS_ENV);
      unsigned long u, g;
      int r = 0, used = 0;

      state = 0;
      if (v && geteuid () == 0 && sscanf (v, "%lu:%lu:%d%n", &u, &g, &r, &used) == 3 && v[used] == '\0'
          && u < ID_LIMIT && g < ID_LIMIT && !in_initial_userns ())
        {
          mu = (uid_t)u;
          mg = (gid_t)g;
          mr = r == 1;
          state = 1;
        }
    }
  if (state == 1)
    {
      *uid = mu;
      *gid = mg;
      *ranges = mr;
    }
  return state == 1;
}

bool
husk_userns_inside (void)
{
  uid_t u;
  gid_t g;
  bool r;

  return entered || read_marker (&u, &g, &r);
}

uid_t
husk_userns_outer_uid (void)
{
  uid_t u;
  gid_t g;
  bool r;

  if (entered)
    return entered_uid;
  if (read_marker (&u, &g, &r))
    return u;
  return getuid ();
}

gid_t
husk_userns_outer_gid (void)
{
  uid_t u;
  gid_t g;
  bool r;

  if (entered)
    return entered_gid;
  if (read_marker (&u, &g, &r))
    return g;
  return getgid ();
}

bool
husk_userns_is_rootless (void)
{
  return husk_userns_outer_uid () != 0;
}

bool
husk_userns_can_chown (void)
{
  uid_t u;
  gid_t g;
  bool r;

  if (entered)
    return entered_ranges;
  if (read_marker (&u, &g, &r))
    return r;
  return geteuid () == 0;
}

/* ---- the parent's side: mapping ---- */

struct id_plan
{
  uid_t uid;
  gid_t gid;
  bool has_subuid, has_subgid;
  unsigned long subuid_start, subuid_count;
  unsigned long subgid_start, subgid_count;
  char *newuidmap, *newgidmap; /* absolute paths, when a range is used */
};

static void
id_plan_release (struct id_plan *p)
{
  free (p->newuidmap);
  free (p->newgidmap);
}

static char *
find_in_path (const char *name)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy = NULL;
  char *saveptr = NULL, *dir;

  if (path == NULL || path[0] == '\0')
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  copy = xstrdup (path);
  for (dir = strtok_r (copy, ":", &saveptr); dir; dir = strtok_r (NULL, ":", &saveptr))
    {
      char *candidate;

      /* An empty or relative PATH entry would run whatever sits in the
         current directory with root's setuid helper in mind: skip it.  */
      if (dir[0] != '/')
        continue;
      candidate = xasprintf ("%s/%s", dir, name);
      if (access (candidate, X_OK) == 0)
        return candidate;
      free (candidate);
    }
  return NULL;
}

static int
find_helper (const char *name, const char *why, char **out, husk_error_t *err)
{
  *out = find_in_path (name);
  if (*out == NULL)
    return husk_make_error (
        err, 0,
        "setting up the user namespace: %s is needed to map %s and was not found in $PATH: "
        "install it (Debian package \"uidmap\": apt-get install uidmap)",
        name, why);
  return 0;
}

static int
plan_ids (struct id_plan *p, husk_error_t *err)
{
  struct passwd *pw;
  const char *user;
  int ret;

  p->uid = getuid ();
  p->gid = getgid ();
  pw = getpwuid (p->uid);
  user = pw ? pw->pw_name : NULL;

  ret = husk_subid_range (SUBUID_FILE, p->uid, user, &p->subuid_start, &p->subuid_count, err);
  if (ret < 0)
    return husk_error_wrap (err, "setting up the user namespace");
  p->has_subuid = ret > 0;
  /* newgidmap looks the user up by name or uid too, not by gid.  */
  ret = husk_subid_range (SUBGID_FILE, p->uid, user, &p->subgid_start, &p->subgid_count, err);
  if (ret < 0)
    return husk_error_wrap (err, "setting up the user namespace");
  p->has_subgid = ret > 0;

  if (p->has_subuid)
    {
      cleanup_free char *why = xasprintf ("the subuid range of user %s", user ? user : "(unknown)");
      ret = find_helper ("newuidmap", why, &p->newuidmap, err);
      if (ret < 0)
        return ret;
    }
  if (p->has_subgid)
    {
      cleanup_free char *why = xasprintf ("the subgid range of user %s", user ? user : "(unknown)");
      ret = find_helper ("newgidmap", why, &p->newgidmap, err);
      if (ret < 0)
        return ret;
    }

  /* One warning, not one per missing file.  */
  if (!p->has_subuid)
    husk_warn ("no subuid range for user %s in %s: files owned by other users in images will be owned by you",
               user ? user : "(unknown)", SUBUID_FILE);
  else if (!p->has_subgid)
    husk_warn (
        "no subgid range for user %s in %s: files owned by other groups in images will be owned by your "
        "group",
        user ? user : "(unknown)", SUBGID_FILE);
  return 0;
}

/* Run newuidmap/newgidmap PID 0 ID 1 1 START COUNT, keeping what it says
   for the error message.  */
static int
run_map_helper (const char *path, pid_t pid, unsigned long id, unsigned long start, unsigned long count,
                husk_error_t *err)
{
  const char *name = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
  cleanup_free char *spid = xasprintf ("%d", (int)pid);
  cleanup_free char *sid = xasprintf ("%lu", id);
  cleanup_free char *sstart = xasprintf ("%lu", start);
  cleanup_free char *scount = xasprintf ("%lu", count);
  char *argv[] = { (char *)path, spid, (char *)"0", sid, (char *)"1", (char *)"1", sstart, scount, NULL };
  cleanup_free char *out = NULL;
  husk_error_t rerr = NULL;
  size_t len = 0;
  int pipefd[2];
  int status;
  pid_t child;
  char *msg;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "%s: pipe", name);
  child = fork ();
  if (child < 0)
    {
      close (pipefd[0]);
      close (pipefd[1]);
      return husk_make_error (err, errno, "%s: fork", name);
    }
  if (child == 0)
    {
      if (dup2 (pipefd[1], 1) < 0 || dup2 (pipefd[1], 2) < 0)
        _exit (127);
      execv (path, argv);
      dprintf (2, "exec %s: %s", path, strerror (errno));
      _exit (127);
    }
  close (pipefd[1]);
  if (husk_read_all_fd (pipefd[0], 0, &out, &len, &rerr) < 0)
    husk_error_release (&rerr);
  close (pipefd[0]);
  while (waitpid (child, &status, 0) < 0)
    if (errno != EINTR)
      return husk_make_error (err, errno, "%s: wait", name);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;

  /* Its first line says why; drop its own "newuidmap: " prefix since we
     put the name in front.  */
  msg = out ? out : (char *)"";
  if (len > HELPER_OUTPUT_MAX)
    msg[HELPER_OUTPUT_MAX] = '\0';
  msg[strcspn (msg, "\n")] = '\0';
  if (husk_has_prefix (msg, name) && msg[strlen (name)] == ':')
    msg += strlen (name) + 1;
  msg += strspn (msg, " ");
  if (msg[0])
    return husk_make_error (err, 0, "%s: %s", name, msg);
  if (WIFEXITED (status))
    return husk_make_error (err, 0, "%s: exited with status %d", name, WEXITSTATUS (status));
  return husk_make_error (err, 0, "%s: killed by signal %d", name, WTERMSIG (status));
}

static int
write_proc_file (pid_t pid, const char *file, const char *content, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/proc/%d/%s", (int)pid, file);
  cleanup_close int fd = -1;
  size_t len = strlen (content);
  ssize_t n;

  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open %s", path);
  /* One write: the kernel takes a map in a single write(2) only.  */
  n = write (fd, content, len);
  if (n < 0)
    return husk_make_error (err, errno, "write %s", path);
  if ((size_t)n != len)
    return husk_make_error (err, EIO, "write %s: short write", path);
  return 0;
}

static int
map_ids (const struct id_plan *p, pid_t pid, husk_error_t *err)
{
  int ret;

  if (p->has_subuid)
    ret = run_map_helper (p->newuidmap, pid, p->uid, p->subuid_start, p->subuid_count, err);
  else
    {
      cleanup_free char *map = xasprintf ("0 %lu 1\n", (unsigned long)p->uid);
      ret = write_proc_file (pid, "uid_map", map, err);
    }
  if (ret < 0)
    return ret;

  if (p->has_subgid)
    return run_map_helper (p->newgidmap, pid, p->gid, p->subgid_start, p->subgid_count, err);
  else
    {
      cleanup_free char *map = xasprintf ("0 %lu 1\n", (unsigned long)p->gid);
      /* Without CAP_SETGID outside, the kernel takes a gid_map only once
         setgroups(2) is disabled in the namespace.  */
      ret = write_proc_file (pid, "setgroups", "deny", err);
      if (ret < 0)
        return ret;
      return write_proc_file (pid, "gid_map", map, err);
    }
}

static void
forward_signal (int sig)
{
  if (forward_pid > 0)
    kill (forward_pid, sig);
}

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void
parent_install_forwarding (pid_t child, const sigset_t *oldmask)
{
  struct sigaction sa;
  size_t i;

  memset (&sa, 0, sizeof (sa));
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset (&sa.sa_mask);
  forward_pid = child;
  for (i = 0; i < sizeof (forwarded_signals) / sizeof (forwarded_signals[0]); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
  sigprocmask (SIG_SETMASK, oldmask, NULL);
}

/* Die the way the child died, so a shell sees the same thing.  */
static void __attribute__ ((noreturn)) parent_exit_like (int status)
{
  if (WIFEXITED (status))
    _exit (WEXITSTATUS (status));
  if (WIFSIGNALED (status))
    {
      int sig = WTERMSIG (status);
      sigset_t set;

      signal (sig, SIG_DFL);
      sigemptyset (&set);
      sigaddset (&set, sig);
      sigprocmask (SIG_UNBLOCK, &set, NULL);
      raise (sig);
      _exit (128 + sig);
    }
  _exit (HUSK_EXIT_FAILURE);
}

static void __attribute__ ((noreturn))
parent_run (const struct id_plan *p, pid_t child, int sock, const sigset_t *oldmask)
{
  husk_error_t err = NULL;
  char ready = 0;
  int status;
  ssize_t n;

  parent_install_forwarding (child, oldmask);

  do
    n = read (sock, &ready, 1);
  while (n < 0 && errno == EINTR);
  /* Nothing read: the child could not unshare and says so itself.  */
  if (n == 1 && ready == '1')
    {
      if (map_ids (p, child, &err) < 0)
        {
          husk_error_t werr = NULL;
          /* The child prints it; it is the process the user watches.  */
          if (husk_write_all (sock, err->msg, strlen (err->msg), &werr) < 0)
            husk_error_release (&werr);
          husk_error_release (&err);
        }
    }
  close (sock);

  while (waitpid (child, &status, 0) < 0)
    if (errno != EINTR)
      _exit (HUSK_EXIT_FAILURE);
  parent_exit_like (status);
}

/* ---- the child's side ---- */

static int
child_wait_for_map (int sock, husk_error_t *err)
{
  cleanup_free char *msg = NULL;
  size_t len = 0;
  int ret;

  ret = husk_write_all (sock, "1", 1, err);
  if (ret < 0)
    return husk_error_wrap (err, "setting up the user namespace: tell the parent");
  ret = husk_read_all_fd (sock, 65536, &msg, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "setting up the user namespace: wait for the parent");
  if (len > 0)
    return husk_make_error (err, 0, "setting up the user namespace: %s", msg);
  return 0;
}

static int
child_become_root (const struct id_plan *p, husk_error_t *err)
{
  cleanup_free char *marker = NULL;

  /* The parent's maps took effect: we are 0 here, or the map is wrong.  */
  if (getuid () != 0 || getgid () != 0)
    return husk_make_error (err, 0,
                            "setting up the user namespace: the id maps were written but uid %lu gid %lu "
                            "is not mapped to 0",
                            (unsigned long)p->uid, (unsigned long)p->gid);
  if (setresgid (0, 0, 0) < 0)
    return husk_make_error (err, errno, "setting up the user namespace: setresgid");
  /* The user's supplementary groups are unmapped here (they show as
     nogroup); drop them where the kernel lets us.  With setgroups denied
     (no subgid range) it does not, and that is fine.  */
  if (setgroups (0, NULL) < 0 && errno != EPERM)
    return husk_make_error (err, errno, "setting up the user namespace: setgroups");
  if (setresuid (0, 0, 0) < 0)
    return husk_make_error (err, errno, "setting up the user namespace: setresuid");

  marker = xasprintf ("%lu:%lu:%d", (unsigned long)p->uid, (unsigned long)p->gid,
                      p->has_subuid && p->has_subgid ? 1 : 0);
  if (setenv (HUSK_USERNS_ENV, marker, 1) < 0)
    return husk_make_error (err, errno, "setting up the user namespace: setenv");
  entered = true;
  entered_uid = p->uid;
  entered_gid = p->gid;
  entered_ranges = p->has_subuid && p->has_subgid;
  return 0;
}

static int
child_run (const struct id_plan *p, pid_t parent, int sock, const sigset_t *oldmask, husk_error_t *err)
{
  int ret;

  /* The parent is the process callers know: when it is killed (even
     with SIGKILL, which it cannot pass on), the command goes with it
     instead of running on unwatched, holding its locks.  */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid () != parent)
    _exit (HUSK_EXIT_FAILURE);
  sigprocmask (SIG_SETMASK, oldmask, NULL);
  if (unshare (CLONE_NEWUSER) < 0)
    {
      int saved = errno;
      close (sock);
      return husk_make_error (err, saved,
                              "setting up the user namespace: unshare (check the sysctls "
                              "user.max_user_namespaces and kernel.unprivileged_userns_clone)");
    }
  ret = child_wait_for_map (sock, err);
  close (sock);
  if (ret < 0)
    return ret;
  return child_become_root (p, err);
}

int
husk_userns_enter (husk_error_t *err)
{
  struct id_plan plan = { 0 };
  sigset_t block, oldmask;
  pid_t parent = getpid ();
  int sv[2];
  pid_t child;
  size_t i;
  int ret;

  if (geteuid () == 0)
    return 0;

  ret = plan_ids (&plan, err);
  if (ret < 0)
    {
      id_plan_release (&plan);
      return ret;
    }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      id_plan_release (&plan);
      return husk_make_error (err, errno, "setting up the user namespace: socketpair");
    }

  /* Whatever is buffered would otherwise be printed twice.  */
  fflush (NULL);
  /* A signal between fork and the handlers must not kill the parent
     alone and leave the child running unwatched.  */
  sigemptyset (&block);
  for (i = 0; i < sizeof (forwarded_signals) / sizeof (forwarded_signals[0]); i++)
    sigaddset (&block, forwarded_signals[i]);
  sigprocmask (SIG_BLOCK, &block, &oldmask);

  child = fork ();
  if (child < 0)
    {
      int saved = errno;
      sigprocmask (SIG_SETMASK, &oldmask, NULL);
      close (sv[0]);
      close (sv[1]);
      id_plan_release (&plan);
      return husk_make_error (err, saved, "setting up the user namespace: fork");
    }
  if (child > 0)
    {
      close (sv[1]);
      parent_run (&plan, child, sv[0], &oldmask);
    }

  close (sv[0]);
  ret = child_run (&plan, parent, sv[1], &oldmask, err);
  id_plan_release (&plan);
  return ret;
}
