/* husk: container healthchecks (monitor.h), after Docker's health.go.

   The record (health.json in the container's runroot dir) is the one
   truth: the monitor and `husk healthcheck run` both read it, add their
   result and write it back under the container lock, so a check run by
   hand counts like the monitor's own.

   In the monitor (monitor-internal.h) one timerfd drives the checks: it
   fires `interval` after the start or after the end of the previous
   check and starts one; while a check runs it is armed with the timeout
   instead, and firing then kills the check.  The check is a child of the
   monitor: the monitor's SIGCHLD handling reaps every child and hands the
   check's status here (monitor_health_reaped), so nothing waits for a
   pid behind its back.  Its output pipe is read from the event loop (the
   first HUSK_HEALTH_OUTPUT_MAX bytes into a static buffer, the rest
   dropped so the check never blocks on a full pipe).

   A paused container is not checked (the check would join the frozen
   cgroup and freeze before it could exec, and with it the monitor):
   the timer waits another interval.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/json.h"
#include "husk/monitor.h"
#include "husk/util.h"
#include "src/monitor/monitor-internal.h"

#define HEALTH_FILE     "health.json"
#define HEALTH_FILE_MAX (1 << 20)

static const char *const status_names[] = {
  [HUSK_HEALTH_NONE] = "none",
  [HUSK_HEALTH_STARTING] = "starting",
  [HUSK_HEALTH_HEALTHY] = "healthy",
  [HUSK_HEALTH_UNHEALTHY] = "unhealthy",
};

const char *
husk_health_status_name (enum husk_health_status st)
{
  if ((size_t)st < sizeof (status_names) / sizeof (status_names[0]))
    return status_names[st];
  return "none";
}

static enum husk_health_status
status_parse (const char *s)
{
  size_t i;

  for (i = 1; s != NULL && i < sizeof (status_names) / sizeof (status_names[0]); i++)
    if (strcmp (s, status_names[i]) == 0)
      return (enum husk_health_status)i;
  return HUSK_HEALTH_NONE;
}

char **
husk_health_test_argv (const husk_json_t *test)
{
  const char *kind = husk_json_string (husk_json_array_at (test, 0));
  size_t n = husk_json_array_len (test), i;
  char **argv;

  if (kind == NULL || n < 2)
    return NULL;
  if (strcmp (kind, "CMD-SHELL") == 0)
    {
      const char *cmd = husk_json_string (husk_json_array_at (test, 1));

      if (cmd == NULL || n != 2)
        return NULL;
      argv = xzalloc (sizeof (char *));
      strv_append (&argv, "/bin/sh");
      strv_append (&argv, "-c");
      strv_append (&argv, cmd);
      return argv;
    }
  if (strcmp (kind, "CMD") != 0)
    return NULL;
  argv = xzalloc (sizeof (char *));
  for (i = 1; i < n; i++)
    {
      const char *a = husk_json_string (husk_json_array_at (test, i));

      if (a == NULL)
        {
          strv_free (argv);
          return NULL;
        }
      strv_append (&argv, a);
    }
  return argv;
}

/* ---- the record ---- */

static int
rundir_open (husk_store_t *s, const char *id, bool create, husk_error_t *err)
{
  cleanup_free char *rundir = NULL;
  int fd;

  if (husk_store_container_rundir (s, id, create, &rundir, err) < 0)
    return -1;
  fd = open (rundir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open %s", rundir);
  return fd;
}

/* health.json, or NULL (and 0) when there is none.  */
static int
record_load (int dfd, husk_json_t **out, husk_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;

  *out = NULL;
  if (husk_read_file_at (dfd, HEALTH_FILE, HEALTH_FILE_MAX, &data, &len, err) < 0)
    {
      if ((*err)->status != ENOENT)
        return -1;
      husk_error_release (err);
      return 0;
    }
  *out = husk_json_parse (data, len, err);
  if (*out == NULL)
    return husk_error_wrap (err, "read %s", HEALTH_FILE);
  return 0;
}

static int
record_store (int dfd, const husk_json_t *h, husk_error_t *err)
{
  size_t len;
  cleanup_free char *data = husk_json_serialize (h, false, &len);

  /* The runroot does not outlive the boot: no fsync.  */
  return husk_write_file_atomic_nosync (dfd, HEALTH_FILE, data, len, 0644, err);
}

static husk_json_t *
record_new (void)
{
  husk_json_t *h = husk_json_new_object ();

  husk_json_set_string (h, "Status", "starting");
  husk_json_set_int (h, "FailingStreak", 0);
  husk_json_set (h, "Log", husk_json_new_array ());
  return h;
}

int
husk_health_reset (husk_store_t *s, const char *id, husk_error_t *err)
{
  cleanup_close int dfd = rundir_open (s, id, true, err);
  cleanup_json husk_json_t *h = NULL;

  if (dfd < 0)
    return -1;
  h = record_new ();
  return record_store (dfd, h, err);
}

int
husk_health_read (husk_store_t *s, const char *id, husk_json_t **out, husk_error_t *err)
{
  cleanup_free char *rundir = NULL;
  cleanup_close int dfd = -1;

  *out = NULL;
  if (husk_store_container_rundir (s, id, false, &rundir, err) < 0)
    return -1;
  dfd = open (rundir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0)
    return errno == ENOENT ? 0 : husk_make_error (err, errno, "open %s", rundir);
  return record_load (dfd, out, err);
}

enum husk_health_status
husk_health_status_get (husk_store_t *s, const char *id)
{
  cleanup_json husk_json_t *h = NULL;
  husk_error_t err = NULL;

  if (husk_health_read (s, id, &h, &err) < 0)
    {
      husk_error_release (&err);
      return HUSK_HEALTH_NONE;
    }
  return status_parse (husk_json_get_string (h, "Status"));
}

/* Output as a JSON string must be UTF-8: anything else (binary output, a
   sequence cut at the size limit) becomes '?'.  */
static char *
sanitize_output (const char *s)
{
  char *out = xstrdup (s != NULL ? s : "");
  unsigned char *p = (unsigned char *)out;

  while (*p)
    {
      size_t n = *p < 0x80             ? 1
                 : (*p & 0xe0) == 0xc0 ? 2
                 : (*p & 0xf0) == 0xe0 ? 3
                 : (*p & 0xf8) == 0xf0 ? 4
                                       : 0;
      size_t i;

      for (i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
          break;
      if (n == 0 || i < n || (n == 2 && *p < 0xc2))
        {
          *p++ = '?';
          continue;
        }
      p += n;
    }
  return out;
}

static husk_json_t *
log_entry (const struct husk_health_result *r)
{
  husk_json_t *e = husk_json_new_object ();
  cleanup_free char *start = husk_format_rfc3339 (r->start);
  cleanup_free char *end = husk_format_rfc3339 (r->end);
  cleanup_free char *output = sanitize_output (r->output);

  husk_json_set_string (e, "Start", start);
  husk_json_set_string (e, "End", end);
  husk_json_set_int (e, "ExitCode", r->exit_code);
  husk_json_set_string (e, "Output", output);
  return e;
}

/* Docker's handleProbeResult.  */
static enum husk_health_status
apply_result (husk_json_t *h, const struct husk_health_config *cfg, int64_t started_at,
              const struct husk_health_result *r)
{
  enum husk_health_status st = status_parse (husk_json_get_string (h, "Status"));
  int64_t streak = husk_json_int (husk_json_get (h, "FailingStreak"), 0);
  const husk_json_t *old_log = husk_json_get (h, "Log");
  husk_json_t *log = husk_json_new_array ();
  size_t n = husk_json_array_len (old_log), i;
  unsigned retries = cfg->retries > 0 ? cfg->retries : HUSK_HEALTH_DEFAULT_RETRIES;

  if (st == HUSK_HEALTH_NONE)
    st = HUSK_HEALTH_STARTING;
  for (i = n >= HUSK_HEALTH_LOG_MAX ? n - (HUSK_HEALTH_LOG_MAX - 1) : 0; i < n; i++)
    husk_json_array_append (log, husk_json_clone (husk_json_array_at (old_log, i)));
  husk_json_array_append (log, log_entry (r));
  husk_json_set (h, "Log", log);

  if (r->exit_code == 0)
    {
      streak = 0;
      st = HUSK_HEALTH_HEALTHY;
    }
  else if (st != HUSK_HEALTH_STARTING || r->start - started_at >= cfg->start_period)
    {
      /* Failures in the start period count only once a check succeeded.  */
      streak++;
      if (streak >= (int64_t)retries)
        st = HUSK_HEALTH_UNHEALTHY;
    }
  husk_json_set_string (h, "Status", husk_health_status_name (st));
  husk_json_set_int (h, "FailingStreak", streak);
  return st;
}

int
husk_health_record (husk_store_t *s, const char *id, const struct husk_health_config *cfg, int64_t started_at,
                    const struct husk_health_result *r, enum husk_health_status *status, husk_error_t *err)
{
  cleanup_close int dfd = rundir_open (s, id, true, err);
  cleanup_json husk_json_t *h = NULL;
  enum husk_health_status old, st;

  if (dfd < 0 || record_load (dfd, &h, err) < 0)
    return -1;
  if (h == NULL || husk_json_type (h) != HUSK_JSON_OBJECT)
    {
      husk_json_free (h);
      h = record_new ();
    }
  old = status_parse (husk_json_get_string (h, "Status"));
  st = apply_result (h, cfg, started_at, r);
  if (record_store (dfd, h, err) < 0)
    return -1;
  if (st != old)
    {
      husk_json_t *attrs = husk_json_new_object ();

      husk_json_set_string (attrs, "health_status", husk_health_status_name (st));
      husk_store_event_container (s, "health_status", id, attrs);
      husk_json_free (attrs);
    }
  if (status != NULL)
    *status = st;
  return 0;
}

/* ---- running a check ---- */

int
husk_health_exec (const struct husk_exec_spec *spec, char *const *cmd, struct husk_runtime_process *proc,
                  int *out_fd, husk_error_t *err)
{
  struct husk_exec_spec es = *spec;
  int p[2];
  int ret;

  if (pipe2 (p, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "create the healthcheck's output pipe");
  es.argv = cmd;
  es.stdio[0] = -1;
  es.stdio[1] = p[1];
  es.stdio[2] = p[1];
  es.terminal = false;
  ret = husk_runtime_exec (&es, proc, err);
  close (p[1]);
  if (ret < 0)
    {
      close (p[0]);
      return ret;
    }
  fcntl (p[0], F_SETFL, fcntl (p[0], F_GETFL) | O_NONBLOCK);
  *out_fd = p[0];
  return 0;
}

/* Go's time.Duration.String () for whole milliseconds and up: "30s",
   "1m30s", "500ms", "1h0m0s".  */
static char *
duration_str (int64_t ns)
{
  int64_t ms = ns / 1000000, s = ms / 1000;

  if (ns < 1000000000LL)
    return xasprintf ("%lldms", (long long)ms);
  if (s < 60)
    return ms % 1000 ? xasprintf ("%lld.%03llds", (long long)s, (long long)(ms % 1000))
                     : xasprintf ("%llds", (long long)s);
  if (s < 3600)
    return xasprintf ("%lldm%llds", (long long)(s / 60), (long long)(s % 60));
  return xasprintf ("%lldh%lldm%llds", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
}

static char *
timeout_message (const struct husk_health_config *cfg)
{
  cleanup_free char *d = duration_str (cfg->timeout > 0 ? cfg->timeout : HUSK_HEALTH_DEFAULT_TIMEOUT);

  return xasprintf ("Health check exceeded timeout (%s)", d);
}

static int
exit_code_of (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return HUSK_EXIT_FAILURE;
}

static void
kill_check (const struct husk_runtime_process *p)
{
  if (p->pidfd < 0 || syscall (SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0) < 0)
    kill (p->pid, SIGKILL);
}

/* Read what is there into buf (len so far, up to max) and drop the rest;
   false at EOF or on an error.  */
static bool
read_output (int fd, char *buf, size_t *len, size_t max)
{
  for (;;)
    {
      char drop[512];
      ssize_t n;

      if (*len < max)
        n = read (fd, buf + *len, max - *len);
      else
        n = read (fd, drop, sizeof (drop));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return true;
      if (n <= 0)
        return false;
      if (*len < max)
        *len += (size_t)n;
    }
}

void
husk_health_run_once (const struct husk_exec_spec *spec, const struct husk_health_config *cfg,
                      struct husk_health_result *r, char **output)
{
  struct husk_runtime_process p = { .pid = -1, .pidfd = -1, .sync_fd = -1, .pty_master = -1 };
  int64_t timeout = cfg->timeout > 0 ? cfg->timeout : HUSK_HEALTH_DEFAULT_TIMEOUT;
  int64_t deadline;
  husk_error_t err = NULL;
  char *buf = xzalloc (HUSK_HEALTH_OUTPUT_MAX + 1);
  size_t len = 0;
  bool timed_out = false, out_open = true;
  cleanup_close int fd = -1;
  int status = 0;

  r->start = husk_now_ns ();
  deadline = r->start + timeout;
  if (husk_health_exec (spec, cfg->cmd, &p, &fd, &err) < 0)
    {
      r->end = husk_now_ns ();
      r->exit_code = husk_error_exit_code (&err);
      free (buf);
      *output = xstrdup (err->msg != NULL ? err->msg : "the healthcheck could not be started");
      r->output = *output;
      husk_error_release (&err);
      return;
    }
  for (;;)
    {
      struct pollfd fds[2]
          = { { .fd = out_open ? fd : -1, .events = POLLIN }, { .fd = p.pidfd, .events = POLLIN } };
      int64_t left = deadline - husk_now_ns ();
      int wait_ms = left <= 0 ? 0 : (int)(left / 1000000 + 1);

      if (p.pidfd < 0 && wait_ms > 100)
        wait_ms = 100;
      if (waitpid (p.pid, &status, WNOHANG) == p.pid)
        break;
      if (left <= 0)
        {
          kill_check (&p);
          timed_out = true;
          while (waitpid (p.pid, &status, 0) < 0 && errno == EINTR)
            ;
          break;
        }
      if (poll (fds, 2, wait_ms) < 0 && errno != EINTR)
        break;
      if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        out_open = read_output (fd, buf, &len, HUSK_HEALTH_OUTPUT_MAX);
    }
  if (!timed_out)
    read_output (fd, buf, &len, HUSK_HEALTH_OUTPUT_MAX);
  husk_runtime_process_release (&p);
  r->end = husk_now_ns ();
  buf[len] = '\0';
  if (timed_out)
    {
      free (buf);
      buf = timeout_message (cfg);
      r->exit_code = -1;
    }
  else
    r->exit_code = exit_code_of (status);
  *output = buf;
  r->output = buf;
}

/* ---- in the monitor ---- */

struct monitor_health
{
  husk_store_t *store;
  const char *id;
  const struct husk_health_config *cfg;
  int epfd, timer_kind, out_kind;
  int timer;

  bool active; /* the container runs: checks are due */
  struct husk_exec_spec spec;
  const char *cgroup_path; /* for the freezer; NULL without a cgroup */
  int64_t started_at;

  struct husk_runtime_process proc; /* pid > 0 while a check runs */
  bool stale;                       /* that check belongs to a run that ended */
  bool timed_out;
  int out_fd;
  size_t out_len;
  int64_t check_start;
};

/* The check's output: one static buffer, touched only when a check writes.  */
static char health_output[HUSK_HEALTH_OUTPUT_MAX + 1];

static void
timer_arm (int fd, int64_t ns)
{
  struct itimerspec its;

  memset (&its, 0, sizeof (its));
  if (ns <= 0)
    ns = 1;
  its.it_value.tv_sec = ns / 1000000000LL;
  its.it_value.tv_nsec = ns % 1000000000LL;
  timerfd_settime (fd, 0, &its, NULL);
}

static void
ep_add (struct monitor_health *h, int fd, int kind)
{
  /* The monitor's event data: the kind in the high half, the fd below.  */
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ((uint64_t)kind << 32) | (uint32_t)fd };

  epoll_ctl (h->epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct monitor_health *
monitor_health_new (husk_store_t *s, const char *id, const struct husk_health_config *cfg, int epfd,
                    int timer_kind, int out_kind)
{
  struct monitor_health *h;

  if (cfg->cmd == NULL || cfg->cmd[0] == NULL)
    return NULL;
  h = xzalloc (sizeof (*h));
  h->store = s;
  h->id = id;
  h->cfg = cfg;
  h->epfd = epfd;
  h->timer_kind = timer_kind;
  h->out_kind = out_kind;
  h->out_fd = -1;
  h->proc.pid = 0;
  h->proc.pidfd = h->proc.sync_fd = h->proc.pty_master = -1;
  h->timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (h->timer < 0)
    {
      free (h);
      return NULL;
    }
  ep_add (h, h->timer, timer_kind);
  return h;
}

static int64_t
interval (const struct monitor_health *h)
{
  return h->cfg->interval > 0 ? h->cfg->interval : HUSK_HEALTH_DEFAULT_INTERVAL;
}

void
monitor_health_start (struct monitor_health *h, const struct husk_run_spec *spec, pid_t pid,
                      struct husk_cgroup *cg, int64_t started_at)
{
  cleanup_close int lockfd = -1;
  husk_error_t err = NULL;

  if (h == NULL)
    return;
  memset (&h->spec, 0, sizeof (h->spec));
  h->spec.pid = pid;
  h->spec.env = spec->env;
  h->spec.cwd = spec->cwd;
  h->spec.user = spec->user;
  h->spec.group_add = spec->group_add;
  h->spec.security = spec->security;
  h->spec.cgroup = cg;
  h->cgroup_path = cg != NULL ? husk_cgroup_path (cg) : NULL;
  h->started_at = started_at;
  h->active = true;
  if (husk_store_container_lock (h->store, h->id, &lockfd, &err) < 0
      || husk_health_reset (h->store, h->id, &err) < 0)
    husk_error_release (&err);
  if (h->proc.pid <= 0)
    timer_arm (h->timer, interval (h));
}

void
monitor_health_stop (struct monitor_health *h)
{
  struct itimerspec its;

  if (h == NULL)
    return;
  h->active = false;
  h->spec.cgroup = NULL;
  h->cgroup_path = NULL;
  memset (&its, 0, sizeof (its));
  timerfd_settime (h->timer, 0, &its, NULL);
  if (h->proc.pid > 0)
    {
      h->stale = true;
      kill_check (&h->proc);
    }
}

/* The freezer says frozen (husk pause).  */
static bool
paused (const struct monitor_health *h)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  enum husk_cgroup_mode mode;
  size_t len;

  if (h->cgroup_path == NULL || h->cgroup_path[0] == '\0')
    return false;
  mode = husk_cgroup_detect (NULL);
  if (mode == HUSK_CGROUP_V1)
    path = xasprintf ("/sys/fs/cgroup/freezer%s/freezer.state", h->cgroup_path);
  else if (mode == HUSK_CGROUP_V2)
    path = xasprintf ("/sys/fs/cgroup%s/cgroup.freeze", h->cgroup_path);
  else
    return false;
  if (husk_read_file_at (AT_FDCWD, path, 64, &data, &len, NULL) < 0 || len == 0)
    return false;
  if (mode == HUSK_CGROUP_V2)
    return data[0] == '1';
  return strncmp (data, "FROZEN", 6) == 0 || strncmp (data, "FREEZING", 8) == 0;
}

static void
record (struct monitor_health *h, const struct husk_health_result *r)
{
  cleanup_close int lockfd = -1;
  husk_error_t err = NULL;

  if (husk_store_container_lock (h->store, h->id, &lockfd, &err) < 0
      || husk_health_record (h->store, h->id, h->cfg, h->started_at, r, NULL, &err) < 0)
    husk_error_release (&err);
}

static void
check_start (struct monitor_health *h)
{
  struct husk_health_result r;
  husk_error_t err = NULL;

  h->check_start = husk_now_ns ();
  h->timed_out = false;
  h->stale = false;
  h->out_len = 0;
  if (husk_health_exec (&h->spec, h->cfg->cmd, &h->proc, &h->out_fd, &err) < 0)
    {
      h->proc.pid = 0;
      r.start = h->check_start;
      r.end = husk_now_ns ();
      r.exit_code = husk_error_exit_code (&err);
      r.output = err->msg;
      record (h, &r);
      husk_error_release (&err);
      timer_arm (h->timer, interval (h));
      return;
    }
  ep_add (h, h->out_fd, h->out_kind);
  timer_arm (h->timer, h->cfg->timeout > 0 ? h->cfg->timeout : HUSK_HEALTH_DEFAULT_TIMEOUT);
}

void
monitor_health_on_timer (struct monitor_health *h)
{
  uint64_t ticks;

  if (h == NULL || read (h->timer, &ticks, sizeof (ticks)) <= 0)
    return;
  if (h->proc.pid > 0)
    {
      /* The timeout: the check fails once it is reaped.  */
      h->timed_out = true;
      kill_check (&h->proc);
      return;
    }
  if (!h->active)
    return;
  if (paused (h))
    {
      timer_arm (h->timer, interval (h));
      return;
    }
  check_start (h);
}

static void
output_close (struct monitor_health *h)
{
  if (h->out_fd < 0)
    return;
  epoll_ctl (h->epfd, EPOLL_CTL_DEL, h->out_fd, NULL);
  close (h->out_fd);
  h->out_fd = -1;
}

void
monitor_health_on_output (struct monitor_health *h, int fd)
{
  if (h == NULL || fd != h->out_fd)
    return;
  if (!read_output (h->out_fd, health_output, &h->out_len, HUSK_HEALTH_OUTPUT_MAX))
    output_close (h);
}

bool
monitor_health_reaped (struct monitor_health *h, pid_t pid, int status)
{
  struct husk_health_result r;
  cleanup_free char *msg = NULL;

  if (h == NULL || h->proc.pid <= 0 || pid != h->proc.pid)
    return false;
  if (h->out_fd >= 0)
    read_output (h->out_fd, health_output, &h->out_len, HUSK_HEALTH_OUTPUT_MAX);
  output_close (h);
  husk_runtime_process_release (&h->proc);
  h->proc.pid = 0;
  if (h->stale || !h->active)
    return true;

  health_output[h->out_len] = '\0';
  r.start = h->check_start;
  r.end = husk_now_ns ();
  if (h->timed_out)
    {
      msg = timeout_message (h->cfg);
      r.exit_code = -1;
      r.output = msg;
    }
  else
    {
      r.exit_code = exit_code_of (status);
      r.output = health_output;
    }
  record (h, &r);
  timer_arm (h->timer, interval (h));
  return true;
}
