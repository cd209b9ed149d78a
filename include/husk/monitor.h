/* husk: the per-container monitor (DESIGN.md section 4), after conmon.

   husk_monitor_start () forks the monitor (fork, setsid, fork again: no
   exec, it is already the right program) and returns once the container
   process has exec'd, or with the reason it could not (exit code 125, 126
   or 127 in the error).  The monitor:

   - creates the container process with husk_runtime_create/start (stdio on
     pipes, or a pty with -t), after writing a RUNNING state with its own
     pid, start time and the boot id, so `ps` right after `run -d` shows it;
   - writes everything the container prints to the log (k8s-file:
     "<RFC3339Nano> stdout|stderr F|P <data>\n"; json-file: Docker's
     {"log":..,"stream":..,"time":..} lines; none), rotating at max_size
     (the old file becomes ctr.log.1, one generation kept);
   - serves attach clients on <runroot>/containers/<id>/attach (a
     SOCK_SEQPACKET unix socket; protocol below) and the client_fd it was
     given (the foreground CLI, connected before the process starts so no
     output is lost);
   - when pid 1 exits: records exit code (128+N for a signal), finish time
     and OOM (cgroup oom_kill count) in the state, destroys the cgroup,
     applies the restart policy (back-off 100 ms doubling, reset after 10 s
     of running; never after a stop/kill/rm asked by the user), or
     --rm (removes the container record under the exclusive store lock),
     then sends EXIT to every client and exits;
   - runs the healthcheck, if any, every interval (health.c, below).

   The monitor holds no store lock while the container runs; it takes the
   container lock (husk_store_container_lock) only around state writes.  */
#ifndef HUSK_MONITOR_H
#define HUSK_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"
#include "husk/network.h"
#include "husk/runtime.h"
#include "husk/store.h"

enum husk_log_driver
{
  HUSK_LOG_K8S_FILE = 0,
  HUSK_LOG_JSON_FILE,
  HUSK_LOG_NONE,
};

/* "k8s-file", "json-file", "none" (also "journald" is refused with a clear
   error by the parser).  */
int husk_log_driver_parse (const char *s, enum husk_log_driver *out, husk_error_t *err);
const char *husk_log_driver_name (enum husk_log_driver d);

/* A container's healthcheck, as Docker's "Healthcheck" object says it
   after the defaults are applied.  */
struct husk_health_config
{
  char *const *cmd;     /* argv run inside the container (CMD-SHELL is already
                           {"/bin/sh", "-c", cmd}); NULL: no healthcheck */
  int64_t interval;     /* ns between the end of one check and the next */
  int64_t timeout;      /* ns before a check is killed (a failure) */
  int64_t start_period; /* ns after the start when failures do not count */
  unsigned retries;     /* consecutive failures that make it unhealthy */
};

enum husk_restart_name
{
  HUSK_RESTART_NO = 0,
  HUSK_RESTART_ON_FAILURE,
  HUSK_RESTART_ALWAYS,
  HUSK_RESTART_UNLESS_STOPPED,
};

struct husk_restart_policy
{
  enum husk_restart_name name;
  unsigned max_retries; /* on-failure:N, 0 = unlimited */
};

/* Docker's --restart: "no", "on-failure[:N]", "always", "unless-stopped".
   Anything else: "invalid restart policy "x": ...", EINVAL.  */
int husk_restart_policy_parse (const char *s, struct husk_restart_policy *out, husk_error_t *err);
/* "no", "on-failure", ...  */
const char *husk_restart_name_str (enum husk_restart_name n);

struct husk_monitor_config
{
  husk_store_t *store; /* open; no lock held by the caller */
  const char *id;
  /* The runtime spec.  stdio[], terminal and keep_fds are set by the
     monitor; everything else is used as given, for every (re)start.  */
  struct husk_run_spec *spec;
  bool tty;                  /* -t: a pty */
  bool stdin_open;           /* -i: the container's stdin is a pipe (or the pty)
                                fed by attach clients; else /dev/null */
  unsigned short rows, cols; /* initial pty size (0: leave the default) */

  enum husk_log_driver log_driver;
  const char *log_path;  /* absolute */
  uint64_t log_max_size; /* bytes, 0: no rotation */

  bool auto_remove; /* --rm */
  struct husk_restart_policy restart;
  /* --timeout: seconds after each start before pid 1 gets SIGKILL (its
     exit code is then 255, as Podman's); 0: none.  */
  unsigned timeout;

  /* The healthcheck (health.cmd NULL: none).  */
  struct husk_health_config health;

  /* --network slirp4netns and its published ports (network.h), or NULL:
     slirp4netns is started on each (re)start once the container process
     exists, before its command runs, and stopped when pid 1 exits.  */
  const struct husk_slirp_config *slirp;

  /* One end of a SOCK_SEQPACKET socketpair: an attach client already
     connected (the foreground `run`/`start -a`), or -1.  The monitor keeps
     it; the caller closes its own copy of this end.  */
  int client_fd;
  /* Whether that client may write to the container's stdin.  */
  bool client_stdin;
};

/* Fork the monitor and start the container.  Returns 0 with *pid (the
   container's pid 1) once it has exec'd.  On failure the error carries the
   exit code (husk_error_exit_code: 125, 126 or 127), the state records
   the error (or, with auto_remove, the container is removed), and the
   monitor is gone.  The caller's memory is not changed (the monitor works
   on its copy).  */
int husk_monitor_start (const struct husk_monitor_config *cfg, pid_t *pid, husk_error_t *err);

/* ---- the attach protocol ----

   One message per datagram: a 1-byte type then the payload.

   client -> monitor
     STDIN        bytes for the container's stdin
     STDIN_CLOSE  close the container's stdin (EOF)
     RESIZE       uint16 rows, uint16 cols (host byte order)
     SIGNAL       int32 signal: sent to pid 1
     STOP         int32 signal, int32 timeout (s): signal, then SIGKILL
                  after the timeout; marks the stop as the user's (no
                  restart)
     DETACH       the client goes away; the container keeps running
   monitor -> client
     STDOUT, STDERR  output
     EXIT            int32 exit code: pid 1 exited (and for --rm the
                     container is removed); the monitor closes the socket
                     next.  Also sent as the first message to a client
                     that connects after the exit. */
enum husk_attach_type
{
  HUSK_ATTACH_STDIN = 0,
  HUSK_ATTACH_STDOUT = 1,
  HUSK_ATTACH_STDERR = 2,
  HUSK_ATTACH_STDIN_CLOSE = 3,
  HUSK_ATTACH_RESIZE = 4,
  HUSK_ATTACH_SIGNAL = 5,
  HUSK_ATTACH_STOP = 6,
  HUSK_ATTACH_DETACH = 7,
  HUSK_ATTACH_EXIT = 8,
};

/* Largest datagram (type byte included).  */
#define HUSK_ATTACH_MAX 65536

/* Connect to a running container's attach socket (SOCK_CLOEXEC).  ENOENT
   or ECONNREFUSED: the monitor is gone.  */
int husk_attach_connect (husk_store_t *s, const char *id, int *fd, husk_error_t *err);
/* Send one message; 0 or -errno.  */
int husk_attach_send (int fd, enum husk_attach_type type, const void *data, size_t len);
/* Receive one message into buf (HUSK_ATTACH_MAX bytes); returns the
   payload length with *type, 0 with *type = -1 at EOF, or -errno.  */
ssize_t husk_attach_recv (int fd, int *type, char *buf);

struct husk_attach_relay
{
  int in_fd;               /* usually 0; -1: do not forward stdin */
  int out_fd;              /* 1 */
  int err_fd;              /* 2 (with a tty everything arrives as STDOUT) */
  bool tty;                /* in_fd is a terminal: raw mode while relaying (restored
                              on every exit path), SIGWINCH forwarded as RESIZE, and
                              the detach keys end the relay */
  bool sig_proxy;          /* forward SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
                              SIGUSR2 as SIGNAL (not with tty: the pty does it) */
  const char *detach_keys; /* NULL: "ctrl-p,ctrl-q" (only with tty);
                              "": no detach keys */
};

/* Relay between the local fds and the monitor until EXIT (returns 0 with
   *exit_code), a detach (returns 1), or the monitor vanished (negative,
   "the container's monitor exited without an exit code").  At stdin's
   EOF sends STDIN_CLOSE and keeps relaying output.  */
int husk_attach_relay (int fd, const struct husk_attach_relay *o, int *exit_code, husk_error_t *err);

/* ---- reading logs (logs.c) ---- */

struct husk_log_entry
{
  int64_t time;     /* ns since the epoch */
  int stream;       /* 1 stdout, 2 stderr */
  bool partial;     /* "P": the line continues in the next entry */
  const char *data; /* without the trailing newline of the record */
  size_t len;
};

/* Called for each entry; return non-zero to stop.  */
typedef int (*husk_log_fn) (const struct husk_log_entry *e, void *ctx);

struct husk_log_query
{
  enum husk_log_driver driver;
  const char *path;
  int64_t since, until; /* ns, 0: unbounded */
  long tail;            /* -1: all; N: only the last N entries (full lines) */
  /* Follow: keep reading as the file grows (inotify; rotation followed)
     until running () returns false and the file is drained.  */
  bool follow;
  bool (*running) (void *ctx);
};

/* Read the log (and ctr.log.1 first when it exists).  A missing file is no
   entries.  */
int husk_log_read (const struct husk_log_query *q, husk_log_fn fn, void *ctx, husk_error_t *err);

/* ---- healthchecks (health.c) ----

   Docker's semantics: the first check runs `interval` after the start,
   the next `interval` after the end of the previous one; a check that
   runs past `timeout` is killed and fails; exit 0 is a success, anything
   else a failure; `retries` consecutive failures make the container
   "unhealthy", one success "healthy"; until then it is "starting".
   Failures that start within `start_period` of the container's start do
   not count while it is still "starting".

   The check runs inside the container as `husk exec` would run it
   (husk_runtime_exec: the container's env, user, workdir, security spec
   and cgroup) with stdin on /dev/null and stdout and stderr into one
   pipe, of which the first HUSK_HEALTH_OUTPUT_MAX bytes are kept.

   The monitor runs it; `husk healthcheck run` runs it once more from the
   CLI.  Both record the result in <runroot>/containers/<id>/health.json,
   under the container lock, in Podman's State.Health form:
     {"Status":"starting|healthy|unhealthy","FailingStreak":N,
      "Log":[{"Start":RFC3339Nano,"End":..,"ExitCode":N,"Output":".."}]}
   (the last HUSK_HEALTH_LOG_MAX results), written atomically, so readers
   (ps, inspect) need no lock.  A change of status is logged as a
   "health_status" event (attribute health_status).  */

#define HUSK_HEALTH_DEFAULT_INTERVAL (30 * 1000000000LL)
#define HUSK_HEALTH_DEFAULT_TIMEOUT  (30 * 1000000000LL)
#define HUSK_HEALTH_DEFAULT_RETRIES  3
#define HUSK_HEALTH_OUTPUT_MAX       4096
#define HUSK_HEALTH_LOG_MAX          5

enum husk_health_status
{
  HUSK_HEALTH_NONE = 0, /* no healthcheck, or none recorded */
  HUSK_HEALTH_STARTING,
  HUSK_HEALTH_HEALTHY,
  HUSK_HEALTH_UNHEALTHY,
};

/* "none", "starting", "healthy", "unhealthy".  */
const char *husk_health_status_name (enum husk_health_status st);

/* Docker's Test array: ["CMD", args...] -> args, ["CMD-SHELL", cmd] ->
   {"/bin/sh", "-c", cmd}; ["NONE"], [] or anything else: NULL.  */
char **husk_health_test_argv (const husk_json_t *test);

/* One check's result.  */
struct husk_health_result
{
  int64_t start, end; /* ns since the epoch */
  int exit_code;      /* -1: killed at the timeout */
  const char *output; /* at most HUSK_HEALTH_OUTPUT_MAX bytes */
};

/* Start a new record: "starting", no failures, no log.  The caller holds
   the container lock.  */
int husk_health_reset (husk_store_t *s, const char *id, husk_error_t *err);

/* Add a result to health.json (a missing file counts as "starting"),
   started_at being the container's start (ns), and set *status to the
   new status.  The caller holds the container lock.  Logs the
   health_status event when the status changed.  */
int husk_health_record (husk_store_t *s, const char *id, const struct husk_health_config *cfg,
                        int64_t started_at, const struct husk_health_result *r,
                        enum husk_health_status *status, husk_error_t *err);

/* health.json as State.Health, or *out NULL when there is none.  No lock
   needed.  */
int husk_health_read (husk_store_t *s, const char *id, husk_json_t **out, husk_error_t *err);
/* Just the status (HUSK_HEALTH_NONE when nothing is recorded).  */
enum husk_health_status husk_health_status_get (husk_store_t *s, const char *id);

/* Start a check process: spec's argv and stdio are replaced by cmd and
   (/dev/null, the pipe, the pipe); *out_fd gets the pipe's read end
   (non-blocking, close-on-exec).  The caller reaps proc->pid.  */
int husk_health_exec (const struct husk_exec_spec *spec, char *const *cmd, struct husk_runtime_process *proc,
                      int *out_fd, husk_error_t *err);

/* Run one check to its end (or its timeout) and fill *r; its output is
   malloc'd in *output.  A check that could not be started is a failure
   with the reason as its output (0 is returned: it was run).  */
void husk_health_run_once (const struct husk_exec_spec *spec, const struct husk_health_config *cfg,
                           struct husk_health_result *r, char **output);

#endif
