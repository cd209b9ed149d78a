/* husk: stop, restart, kill, rm, wait, container prune, container exists.

   No command here holds the store lock while a container is waited for:
   the argument is resolved to an id under the shared lock, the lock is
   dropped, and the monitor is spoken to over the attach socket (STOP or
   SIGNAL, then EXIT or EOF).  When the socket is gone but the state says
   the container runs (a monitor on its way out, or hung), the container's
   pid is signalled directly and watched with a pidfd.

   rm takes the container lock, then the exclusive store lock, and checks
   the container again under both: of two concurrent `rm -f X` one removes
   it and the other reports that it is gone, and the index stays whole.
   A missing container makes rm exit 1 (as Podman's rm does); every other
   failure is 125.  With several arguments each failure is printed as
   "Error: ..." and the others still run.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

/* How long past the stop timeout we wait for the monitor's EXIT before
   killing the container ourselves, and after that before giving up.  */
#define STOP_GRACE_MS 5000
/* Poll interval while waiting on the state (no monitor to talk to).  */
#define STATE_POLL_MS 100
/* Exit code of "no such container" in rm (Podman's).  */
#define EXIT_NO_SUCH_CONTAINER 1

struct lifecycle
{
  husk_store_t *s;
  int sig;
  int timeout;      /* seconds, -1: wait forever */
  bool timeout_set; /* -t given: overrides the container's StopTimeout */
  bool force;
  bool print; /* print each argument that succeeded */
};

static bool
state_active (const struct husk_container_state *st)
{
  return st->status == HUSK_CONTAINER_RUNNING || st->status == HUSK_CONTAINER_STOPPING;
}

/* An exited container can still have its monitor: one waiting to apply a
   restart policy.  Stopping it cancels the restart.  */
static bool
monitor_alive (const struct husk_container_state *st)
{
  return st->monitor_pid > 0 && husk_store_pid_alive (st->monitor_pid, st->monitor_start, st->boot_id);
}

static void
sleep_ms (int ms)
{
  (void)poll (NULL, 0, ms);
}

static int64_t
now_ms (void)
{
  return husk_now_ns () / 1000000;
}

/* An error that carries status (for the callers' tests) without the
   strerror suffix husk_make_error would add, and an exit code (0: 125).  */
static int
error_status (husk_error_t *err, int status, int exit_code, char *msg)
{
  husk_make_error (err, 0, "%s", msg);
  free (msg);
  (*err)->status = status;
  if (exit_code)
    husk_error_set_exit_code (err, exit_code);
  return -status;
}

/* The error for a container that went away while we worked on it.  */
static int
gone_error (const char *arg, husk_error_t *err)
{
  return error_status (err, ENOENT, EXIT_NO_SUCH_CONTAINER,
                       xasprintf ("no container with name or ID \"%s\" found: no such container", arg));
}

/* The ids of every container (a copy: the lock is released).  */
static int
all_ids (husk_store_t *s, char ***out, husk_error_t *err)
{
  struct husk_container_record *const *recs;
  size_t n, i;
  int ret;

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_containers (s, &recs, &n, err);
  if (ret >= 0)
    {
      *out = xzalloc (sizeof (char *));
      for (i = 0; i < n; i++)
        strv_append (out, recs[i]->id);
    }
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

static int
parse_timeout (const char *v, int *out, husk_error_t *err)
{
  char *end;
  long t;

  errno = 0;
  t = strtol (v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || t < -1 || t > 1000000000L)
    return husk_make_error (err, 0, "invalid --time \"%s\": a number of seconds (-1: no limit)", v);
  *out = (int)t;
  return 0;
}

/* The stop signal and timeout of a container (config.json), unless the
   caller gave its own timeout.  */
static void
stop_params (husk_store_t *s, const char *id, const struct lifecycle *l, int *sig, int *timeout)
{
  cleanup_json husk_json_t *cfg = NULL;
  husk_error_t err = NULL;
  const husk_json_t *c;
  const char *name;

  *sig = SIGTERM;
  *timeout = l->timeout_set ? l->timeout : 10;
  if (cli_container_config (s, id, &cfg, &err) < 0)
    {
      husk_error_release (&err);
      return;
    }
  c = husk_json_get (cfg, "Config");
  name = husk_json_get_string (c, "StopSignal");
  if (name && cli_parse_signal (name, sig, &err) < 0)
    {
      husk_error_release (&err);
      *sig = SIGTERM;
    }
  if (!l->timeout_set && husk_json_get (c, "StopTimeout"))
    *timeout = (int)husk_json_int (husk_json_get (c, "StopTimeout"), 10);
}

/* Read from the attach socket until EXIT (1, *code set) or EOF (0); -2
   when deadline (ms since the epoch, 0: none) passes first; other
   negative values are receive errors.  Output messages are dropped.  */
static int
attach_wait_exit (int fd, int64_t deadline, int *code)
{
  cleanup_free char *buf = xmalloc (HUSK_ATTACH_MAX);

  for (;;)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      int wait = -1, type;
      ssize_t n;

      if (deadline)
        {
          int64_t left = deadline - now_ms ();
          if (left <= 0)
            return -2;
          wait = left > 60000 ? 60000 : (int)left;
        }
      n = poll (&p, 1, wait);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0)
        continue;
      n = husk_attach_recv (fd, &type, buf);
      if (n == -EINTR || n == -EAGAIN)
        continue;
      if (n == -ECONNRESET)
        return 0;
      if (n < 0)
        return (int)n;
      if (type == -1)
        return 0;
      if (type == HUSK_ATTACH_EXIT)
        {
          int32_t c = 0;
          if ((size_t)n >= sizeof (c))
            memcpy (&c, buf, sizeof (c));
          *code = c;
          return 1;
        }
    }
}

/* Poll the state until the container does not run (0), it is removed (0),
   or timeout_ms passes (1; -1: no limit).  */
static int
wait_not_running (husk_store_t *s, const char *id, int timeout_ms, husk_error_t *err)
{
  int64_t deadline = timeout_ms < 0 ? 0 : now_ms () + timeout_ms;

  for (;;)
    {
      struct husk_container_state st;
      bool active;
      int ret = husk_store_container_state (s, id, &st, err);

      if (ret == -ENOENT)
        {
          husk_error_release (err);
          return 0;
        }
      if (ret < 0)
        return ret;
      active = state_active (&st);
      husk_container_state_clear (&st);
      if (!active)
        return 0;
      if (deadline && now_ms () >= deadline)
        return 1;
      sleep_ms (STATE_POLL_MS);
    }
}

/* Wait up to timeout_ms (-1: forever) for the process of pidfd to exit;
   true if it did.  */
static bool
pidfd_wait (int pidfd, int timeout_ms)
{
  int64_t deadline = timeout_ms < 0 ? 0 : now_ms () + timeout_ms;

  for (;;)
    {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      int wait = -1, n;

      if (deadline)
        {
          int64_t left = deadline - now_ms ();
          if (left <= 0)
            return false;
          wait = (int)left;
        }
      n = poll (&p, 1, wait);
      if (n > 0)
        return true;
      if (n < 0 && errno != EINTR)
        return false;
    }
}

static int
pidfd_open (pid_t pid)
{
  return pid > 0 ? (int)syscall (SYS_pidfd_open, pid, 0) : -1;
}

static bool
pid_wait_gone (pid_t pid, int timeout_ms)
{
  cleanup_close int pidfd = pidfd_open (pid);

  if (pidfd < 0)
    return errno == ESRCH;
  return pidfd_wait (pidfd, timeout_ms);
}

/* No monitor to ask: signal the container's pid 1 ourselves, SIGKILL after
   the timeout.  */
static void
kill_pid_and_wait (pid_t pid, int sig, int timeout)
{
  if (pid <= 0 || kill (pid, sig) < 0)
    return;
  if (sig == SIGKILL || pid_wait_gone (pid, timeout < 0 ? -1 : timeout * 1000))
    {
      pid_wait_gone (pid, STOP_GRACE_MS);
      return;
    }
  kill (pid, SIGKILL);
  pid_wait_gone (pid, STOP_GRACE_MS);
}

/* Talk to the monitor: STOP, then wait for EXIT or EOF (killing pid 1
   ourselves if the monitor overstays the timeout).  1: no monitor to talk
   to; 0: done.  */
static int
stop_via_monitor (husk_store_t *s, const char *id, pid_t pid, int sig, int timeout, husk_error_t *err)
{
  cleanup_close int fd = -1;
  husk_error_t cerr = NULL;
  int32_t msg[2] = { sig, timeout };
  int64_t deadline;
  int code, ret;

  if (husk_attach_connect (s, id, &fd, &cerr) < 0)
    {
      husk_error_release (&cerr);
      return 1;
    }
  if (husk_attach_send (fd, HUSK_ATTACH_STOP, msg, sizeof (msg)) < 0)
    return 1;
  deadline = timeout < 0 ? 0 : now_ms () + (int64_t)timeout * 1000 + STOP_GRACE_MS;
  ret = attach_wait_exit (fd, deadline, &code);
  if (ret == -2)
    {
      /* The monitor should have killed it by now: do it for it.  */
      if (pid > 0)
        kill (pid, SIGKILL);
      ret = attach_wait_exit (fd, now_ms () + STOP_GRACE_MS, &code);
    }
  if (ret == -2)
    return husk_make_error (err, 0, "container %.12s did not stop", id);
  return 0;
}

/* Stop container id (sig, then SIGKILL after timeout s) and wait until it
   no longer runs and its monitor is gone (so a restart policy cannot
   bring it back and rm finds it settled).  Nothing to do when neither the
   container nor its monitor runs.  */
static int
stop_container (husk_store_t *s, const char *id, int sig, int timeout, husk_error_t *err)
{
  struct husk_container_state st;
  cleanup_close int monfd = -1;
  int ret;
  pid_t pid;
  bool active, monitor;

  ret = husk_store_container_state (s, id, &st, err);
  if (ret < 0)
    return ret;
  active = state_active (&st);
  monitor = monitor_alive (&st);
  pid = st.pid;
  /* Opened now, while the pid is known to be the monitor's.  */
  if (monitor)
    monfd = pidfd_open (st.monitor_pid);
  /* A paused container could not act on the stop signal.  */
  ret = cli_container_thaw (id, &st, err);
  husk_container_state_clear (&st);
  if (ret < 0)
    return ret;
  if (!active && !monitor)
    return 0;

  ret = stop_via_monitor (s, id, pid, sig, timeout, err);
  if (ret < 0)
    return ret;
  /* No monitor to ask (gone or going): nobody else will stop pid 1.  */
  if (ret == 1 && active)
    kill_pid_and_wait (pid, sig, timeout);
  if (monfd >= 0)
    pidfd_wait (monfd, STOP_GRACE_MS);
  ret = wait_not_running (s, id, STOP_GRACE_MS, err);
  if (ret == 1)
    return husk_make_error (err, 0, "container %.12s did not stop", id);
  return ret;
}

/* Run fn for each argument; print the argument when it succeeded.  One
   argument: its error is the command's.  Several: each error is printed
   and the exit code is 125 if any failed with it, else the other code.  */
static int
for_each_arg (struct lifecycle *l, char *const *args, size_t n,
              int (*fn) (struct lifecycle *, const char *, husk_error_t *), husk_error_t *err)
{
  int ret = 0;
  size_t i;

  for (i = 0; i < n; i++)
    {
      husk_error_t one = NULL;
      int code;

      if (fn (l, args[i], &one) >= 0)
        {
          if (l->print)
            printf ("%s\n", args[i]);
          fflush (stdout);
          continue;
        }
      if (n == 1)
        {
          *err = one;
          return -1;
        }
      code = husk_error_exit_code (&one);
      fflush (stdout);
      fprintf (stderr, "Error: %s\n", one->msg);
      husk_error_release (&one);
      if (ret == 0 || code == HUSK_EXIT_FAILURE)
        ret = code;
    }
  return ret;
}

/* ---- stop, restart ---- */

static int
stop_one (struct lifecycle *l, const char *arg, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  int sig, timeout;

  if (cli_container_resolve (l->s, arg, &id, err) < 0)
    return -1;
  stop_params (l->s, id, l, &sig, &timeout);
  if (stop_container (l->s, id, sig, timeout, err) < 0)
    return -1;
  husk_store_event_container (l->s, "stop", id, NULL);
  return 0;
}

static int
parse_time_flag (const struct cli_args *a, struct lifecycle *l, husk_error_t *err)
{
  /* cli_string gives the table's default ("10") when -t is absent: only
     a given -t overrides the container's own StopTimeout.  */
  const char *t = cli_is_set (a, "time") ? cli_string (a, "time") : NULL;

  if (t == NULL)
    return 0;
  l->timeout_set = true;
  return parse_timeout (t, &l->timeout, err);
}

/* The ids of the containers that run (or whose monitor waits to restart
   them).  */
static int
running_ids (husk_store_t *s, char ***out, husk_error_t *err)
{
  cleanup_strv char **ids = NULL;
  size_t i;

  if (all_ids (s, &ids, err) < 0)
    return -1;
  *out = xzalloc (sizeof (char *));
  for (i = 0; ids[i]; i++)
    {
      struct husk_container_state st;
      husk_error_t e = NULL;

      if (husk_store_container_state (s, ids[i], &st, &e) < 0)
        {
          husk_error_release (&e);
          continue;
        }
      if (state_active (&st) || monitor_alive (&st))
        strv_append (out, ids[i]);
      husk_container_state_clear (&st);
    }
  return 0;
}

int
cmd_stop (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct lifecycle l = { 0 };
  cleanup_strv char **ids = NULL;
  bool all = cli_bool (a, "all");

  if (all && a->argc > 0)
    return husk_make_error (err, 0,
                            "when using the --all switch, you may not pass any container names or IDs");
  if (!all && a->argc == 0)
    return husk_make_error (err, 0, "you must provide at least one container name or ID");
  if (parse_time_flag (a, &l, err) < 0)
    return -1;
  if (cli_store (ctx, &l.s, err) < 0)
    return -1;
  l.print = true;
  if (!all)
    return for_each_arg (&l, a->argv, (size_t)a->argc, stop_one, err);
  if (running_ids (l.s, &ids, err) < 0)
    return -1;
  return for_each_arg (&l, ids, strv_len (ids), stop_one, err);
}

static int
restart_one (struct lifecycle *l, const char *arg, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  struct cli_start o = { 0 };
  int sig, timeout, code;

  if (cli_container_resolve (l->s, arg, &id, err) < 0)
    return -1;
  stop_params (l->s, id, l, &sig, &timeout);
  if (stop_container (l->s, id, sig, timeout, err) < 0)
    return -1;
  if (cli_container_start (l->s, id, &o, &code, err) < 0)
    return -1;
  husk_store_event_container (l->s, "restart", id, NULL);
  return 0;
}

int
cmd_restart (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct lifecycle l = { 0 };

  if (parse_time_flag (a, &l, err) < 0)
    return -1;
  if (cli_store_writer (ctx, &l.s, err) < 0)
    return -1;
  l.print = true;
  return for_each_arg (&l, a->argv, (size_t)a->argc, restart_one, err);
}

/* ---- kill ---- */

static void
kill_event (husk_store_t *s, const char *id, int sig)
{
  cleanup_json husk_json_t *attrs = husk_json_new_object ();

  husk_json_set_int (attrs, "signal", sig);
  husk_store_event_container (s, "kill", id, attrs);
}

static int
kill_one (struct lifecycle *l, const char *arg, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  struct husk_container_state st;
  cleanup_close int fd = -1;
  husk_error_t cerr = NULL;
  int32_t sig = l->sig;
  pid_t pid;
  int ret;

  if (cli_container_resolve (l->s, arg, &id, err) < 0)
    return -1;
  ret = husk_store_container_state (l->s, id, &st, err);
  if (ret == -ENOENT)
    {
      husk_error_release (err);
      return gone_error (arg, err);
    }
  if (ret < 0)
    return ret;
  pid = st.pid;
  ret = state_active (&st);
  husk_container_state_clear (&st);
  if (!ret)
    return husk_make_error (err, 0, "container %s is not running", arg);

  if (husk_attach_connect (l->s, id, &fd, &cerr) < 0
      || husk_attach_send (fd, HUSK_ATTACH_SIGNAL, &sig, sizeof (sig)) < 0)
    {
      husk_error_release (&cerr);
      if (pid <= 0 || kill (pid, sig) < 0)
        return husk_make_error (err, 0, "container %s is not running", arg);
    }
  kill_event (l->s, id, sig);
  return 0;
}

int
cmd_kill (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct lifecycle l = { 0 };
  const char *sig = cli_string (a, "signal");

  l.sig = SIGKILL;
  if (sig && cli_parse_signal (sig, &l.sig, err) < 0)
    return -1;
  if (cli_store (ctx, &l.s, err) < 0)
    return -1;
  l.print = true;
  return for_each_arg (&l, a->argv, (size_t)a->argc, kill_one, err);
}

/* ---- rm, container prune ---- */

/* Remove container id under the container lock and the exclusive store
   lock, checking again that it exists and does not run.  */
static int
remove_container (husk_store_t *s, const char *arg, const char *id, husk_error_t *err)
{
  struct husk_container_record *r;
  struct husk_container_state st;
  cleanup_close int lockfd = -1;
  int ret;

  ret = husk_store_container_lock (s, id, &lockfd, err);
  if (ret == -ENOENT)
    {
      husk_error_release (err);
      return gone_error (arg, err);
    }
  if (ret < 0)
    return ret;
  ret = husk_store_lock (s, true, err);
  if (ret < 0)
    return ret;
  ret = husk_store_container_find (s, id, &r, err);
  if (ret == 0)
    ret = gone_error (arg, err);
  if (ret < 0)
    goto out;
  ret = husk_store_container_state (s, id, &st, err);
  if (ret >= 0)
    {
      bool busy = state_active (&st);
      husk_container_state_clear (&st);
      if (busy)
        ret = error_status (err, EBUSY, 0,
                            xasprintf ("cannot remove container %s: it was started again meanwhile", arg));
    }
  else if (ret == -ENOENT)
    {
      /* A record without a state file: repair material; remove it.  */
      husk_error_release (err);
      ret = 0;
    }
  if (ret >= 0)
    {
      /* Before the remove: the event reads the name from config.json.  */
      husk_store_event_container (s, "remove", id, NULL);
      ret = husk_store_container_remove (s, id, err);
    }
  if (ret == -ENOENT)
    {
      husk_error_release (err);
      ret = gone_error (arg, err);
    }
out:
  husk_store_unlock (s);
  return ret;
}

static int
rm_one (struct lifecycle *l, const char *arg, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_json husk_json_t *cfg = NULL;
  struct husk_container_state st;
  bool active, monitor, auto_remove = false;
  husk_error_t e = NULL;
  int ret;

  ret = cli_container_resolve (l->s, arg, &id, err);
  if (ret == -ENOENT)
    husk_error_set_exit_code (err, EXIT_NO_SUCH_CONTAINER);
  if (ret < 0)
    return ret;
  ret = husk_store_container_state (l->s, id, &st, err);
  if (ret == -ENOENT)
    {
      husk_error_release (err);
      return gone_error (arg, err);
    }
  if (ret < 0)
    return ret;
  active = state_active (&st);
  monitor = monitor_alive (&st);
  husk_container_state_clear (&st);
  if (active && !l->force)
    return error_status (
        err, EBUSY, 0,
        xasprintf ("cannot remove container %s as it is running - running or paused containers "
                   "cannot be removed without force: container state improper",
                   arg));
  if (active || monitor)
    {
      if (cli_container_config (l->s, id, &cfg, &e) == 0)
        auto_remove = husk_json_bool (husk_json_get_path (cfg, "HostConfig", "AutoRemove", NULL), false);
      husk_error_release (&e);
      if (stop_container (l->s, id, SIGKILL, 0, err) < 0)
        return -1;
    }
  ret = remove_container (l->s, arg, id, err);
  /* A --rm container we stopped was removed by its monitor: done.  */
  if (ret == -ENOENT && auto_remove && (active || monitor))
    {
      husk_error_release (err);
      ret = 0;
    }
  return ret;
}

int
cmd_rm (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct lifecycle l = { 0 };
  cleanup_strv char **ids = NULL;
  bool all = cli_bool (a, "all");

  if (all && a->argc > 0)
    return husk_make_error (err, 0,
                            "when using the --all switch, you may not pass any container names or IDs");
  if (!all && a->argc == 0)
    return husk_make_error (err, 0, "you must provide at least one container name or ID");
  l.force = cli_bool (a, "force");
  if (cli_store_writer (ctx, &l.s, err) < 0)
    return -1;
  l.print = true;
  if (!all)
    return for_each_arg (&l, a->argv, (size_t)a->argc, rm_one, err);
  if (all_ids (l.s, &ids, err) < 0)
    return -1;
  return for_each_arg (&l, ids, strv_len (ids), rm_one, err);
}

int
cli_container_prune_stopped (husk_store_t *s, char ***removed, uint64_t *reclaimed, husk_error_t *err)
{
  cleanup_strv char **ids = NULL;
  int ret = 0;
  size_t i;

  if (all_ids (s, &ids, err) < 0)
    return -1;
  for (i = 0; ids[i]; i++)
    {
      struct husk_container_state st;
      husk_error_t one = NULL;
      unsigned long long bytes = 0;
      bool busy, monitor;

      if (husk_store_container_state (s, ids[i], &st, &one) < 0)
        {
          /* Removed meanwhile: nothing to prune.  */
          husk_error_release (&one);
          continue;
        }
      busy = state_active (&st);
      monitor = monitor_alive (&st);
      husk_container_state_clear (&st);
      if (busy)
        continue;
      if (reclaimed)
        {
          cleanup_free char *dir = husk_store_container_dir (s, ids[i]);
          if (husk_du_at (AT_FDCWD, dir, &bytes, &one) < 0)
            husk_error_release (&one);
        }
      /* Exited, its monitor finishing or waiting to restart it: settle it.  */
      if ((monitor && stop_container (s, ids[i], SIGKILL, 0, &one) < 0)
          || remove_container (s, ids[i], ids[i], &one) < 0)
        {
          /* Started or removed by someone else meanwhile: not ours to report
             as a failure of prune unless it is a real error.  */
          if (husk_error_exit_code (&one) != EXIT_NO_SUCH_CONTAINER && one->status != EBUSY)
            {
              fflush (stdout);
              fprintf (stderr, "Error: %s\n", one->msg);
              ret = HUSK_EXIT_FAILURE;
            }
          husk_error_release (&one);
          continue;
        }
      if (reclaimed)
        *reclaimed += bytes;
      strv_append (removed, ids[i]);
    }
  return ret;
}

int
cmd_container_prune (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_strv char **removed = NULL;
  husk_store_t *s;
  int ret;
  size_t i;

  if (!cli_bool (a, "force")
      && !cli_confirm (
          "WARNING! This will remove all non running containers.\nAre you sure you want to continue?"))
    return 0;
  if (cli_store_writer (ctx, &s, err) < 0)
    return -1;
  ret = cli_container_prune_stopped (s, &removed, NULL, err);
  for (i = 0; ret >= 0 && removed && removed[i]; i++)
    printf ("%s\n", removed[i]);
  return ret;
}

int
cli_container_remove_force (husk_store_t *s, const char *id, husk_error_t *err)
{
  struct lifecycle l = { 0 };

  l.s = s;
  l.force = true;
  return rm_one (&l, id, err);
}

/* ---- wait, exists ---- */

/* Block until container id does not run; *code gets its exit code.  */
static int
wait_container (husk_store_t *s, const char *arg, const char *id, int *code, husk_error_t *err)
{
  for (;;)
    {
      struct husk_container_state st;
      cleanup_close int fd = -1;
      husk_error_t cerr = NULL;
      bool active, created;
      int ret;

      ret = husk_store_container_state (s, id, &st, err);
      if (ret == -ENOENT)
        {
          husk_error_release (err);
          return gone_error (arg, err);
        }
      if (ret < 0)
        return ret;
      active = state_active (&st);
      created = st.status == HUSK_CONTAINER_CREATED;
      *code = st.exit_code;
      husk_container_state_clear (&st);
      if (!active && !created)
        return 0;
      /* Created: wait for a start and its end, as Docker does.  */
      if (active && husk_attach_connect (s, id, &fd, &cerr) == 0)
        {
          /* EXIT carries the code even for a --rm container that is gone by
             the time we could read its state.  */
          if (attach_wait_exit (fd, 0, code) == 1)
            return 0;
          continue;
        }
      husk_error_release (&cerr);
      sleep_ms (STATE_POLL_MS);
    }
}

static int
wait_one (struct lifecycle *l, const char *arg, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  int code = 0;

  if (cli_container_resolve (l->s, arg, &id, err) < 0)
    return -1;
  if (wait_container (l->s, arg, id, &code, err) < 0)
    return -1;
  printf ("%d\n", code);
  return 0;
}

int
cmd_wait (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct lifecycle l = { 0 };

  if (cli_store (ctx, &l.s, err) < 0)
    return -1;
  return for_each_arg (&l, a->argv, (size_t)a->argc, wait_one, err);
}

int
cmd_container_exists (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_container_record *r;
  husk_store_t *s;
  int ret;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_store_container_find (s, a->argv[0], &r, err);
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  return ret == 1 ? 0 : 1;
}
