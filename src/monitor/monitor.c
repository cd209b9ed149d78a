/* husk: the per-container monitor (monitor.h, DESIGN.md section 4), after
   conmon.

   husk_monitor_start () forks; the child calls setsid and forks again, so
   the monitor is nobody's child and survives the CLI.  The grandchild
   closes every inherited fd but the three it needs (the result pipe, the
   attach socket and the foreground client), reopens the store by path
   (an inherited store.lock fd would share the CLI's flock), and runs one
   epoll loop over:

     the container's stdout/stderr pipes, or the pty master  -> log + clients
     the attach socket and its clients                       -> stdin, signals
     a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) and the pidfd -> exit
     timerfds: SIGKILL after a stop's timeout or after --timeout, the
     restart back-off, the healthcheck (health.c)
     the healthcheck's output pipe while a check runs

   Memory: the monitor shares the CLI's pages copy-on-write and never frees
   or writes them (freeing would copy them); its own buffers are one
   static 64 KiB I/O buffer, the log writer's 16 KiB and small
   allocations.  No stdio.

   Back-pressure: the foreground client (cfg->client_fd) is never dropped
   for being slow; while its socket is full the monitor stops reading the
   container's output, so the container blocks on its writes, as it would
   with a terminal.  Other attach clients are dropped when their socket is
   full.  Stdin that the container does not read is buffered and the
   client that sent it paused until the pipe drains.

   Every exit of pid 1 ends the attached clients with EXIT, also when a
   restart follows (Docker's `run` returns then too); a client that
   connects during the restart back-off gets EXIT at once.

   The attach socket file is not removed at exit: a later monitor of the
   same container may already have bound a new one, and a stale socket
   refuses connections (ECONNREFUSED: "the monitor is gone").  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "husk/cgroup.h"
#include "husk/monitor.h"
#include "husk/util.h"
#include "src/monitor/monitor-internal.h"

#define BACKOFF_MIN_MS   100u
#define BACKOFF_MAX_MS   10000u
#define BACKOFF_RESET_NS (10 * 1000000000LL)
/* How long the exit path waits for a stalled foreground client.  */
#define FLUSH_TIMEOUT_MS 10000
#define TRIM_DELAY_MS    1000

enum ev_kind
{
  EV_SIGNAL = 1,
  EV_LISTEN,
  EV_OUT,
  EV_ERR,
  EV_STDIN,
  EV_PIDFD,
  EV_KILL_TIMER,
  EV_RESTART_TIMER,
  EV_TRIM_TIMER,
  EV_TIMEOUT_TIMER,
  EV_CLIENT,
  EV_HEALTH_TIMER,
  EV_HEALTH_OUT,
};

struct client
{
  int fd;
  bool primary; /* cfg->client_fd: back-pressure instead of being dropped */
  bool may_stdin;
  bool paused; /* reading it is off while its stdin waits for the container */
  /* primary: messages its socket had no room for, each as a uint32
     length then the bytes; sent from pending_off on.  */
  struct husk_buf pending;
  size_t pending_off;
};

/* What a state write records.  */
enum state_what
{
  STATE_RUNNING,
  STATE_STOPPING,
  STATE_EXITED,
  STATE_START_FAILED, /* back to CREATED with the error */
};

struct monitor
{
  const struct husk_monitor_config *cfg; /* the forked copy: read only */
  struct husk_run_spec spec;
  husk_store_t *store;

  int epfd, sigfd, listenfd, kill_timer, restart_timer, trim_timer;
  int timeout_timer; /* --timeout: SIGKILL that long after each start */
  bool timed_out;

  struct monitor_log *log;
  struct monitor_health *health; /* NULL: no healthcheck */

  struct husk_runtime_process proc;
  struct husk_slirp slirp; /* user-mode network of the current run (pid 0: none) */
  bool running;
  int out_fd, err_fd, in_fd; /* our ends; -1 when closed */
  bool output_paused;
  struct husk_buf stdin_buf; /* bytes the container's stdin had no room for */
  bool stdin_close_pending;

  struct client *clients;
  size_t n_clients;

  bool stopped_by_user;
  int exit_code;
  bool oom_killed;
  char *error; /* why the last (re)start failed */
  int64_t started_at, finished_at;
  unsigned restart_count;
  unsigned backoff_ms;
  unsigned trims;
};

/* Output read buffer and client receive buffer: one message at a time.  */
static char iobuf[HUSK_ATTACH_MAX];

/* ---- epoll helpers ---- */

static uint64_t
ev_data (enum ev_kind kind, int fd)
{
  return ((uint64_t)kind << 32) | (uint32_t)fd;
}

static void
ep_ctl (struct monitor *m, int op, int fd, enum ev_kind kind, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.u64 = ev_data (kind, fd) };

  if (fd >= 0)
    epoll_ctl (m->epfd, op, fd, &ev);
}

static void
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);

  if (fl >= 0)
    fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

static void
close_fd (struct monitor *m, int *fd)
{
  if (*fd < 0)
    return;
  epoll_ctl (m->epfd, EPOLL_CTL_DEL, *fd, NULL);
  close (*fd);
  *fd = -1;
}

/* ---- clients ---- */

static void
client_update_events (struct monitor *m, struct client *c)
{
  uint32_t events = (c->paused ? 0 : EPOLLIN) | (c->pending.len > 0 ? EPOLLOUT : 0);

  ep_ctl (m, EPOLL_CTL_MOD, c->fd, EV_CLIENT, events);
}

static void
output_pause (struct monitor *m, bool pause)
{
  if (m->output_paused == pause)
    return;
  m->output_paused = pause;
  ep_ctl (m, EPOLL_CTL_MOD, m->out_fd, EV_OUT, pause ? 0 : EPOLLIN);
  ep_ctl (m, EPOLL_CTL_MOD, m->err_fd, EV_ERR, pause ? 0 : EPOLLIN);
}

static void
client_add (struct monitor *m, int fd, bool primary, bool may_stdin)
{
  struct client *c;

  m->clients = xrealloc (m->clients, (m->n_clients + 1) * sizeof (*m->clients));
  c = &m->clients[m->n_clients++];
  memset (c, 0, sizeof (*c));
  c->fd = fd;
  c->primary = primary;
  c->may_stdin = may_stdin;
  ep_ctl (m, EPOLL_CTL_ADD, fd, EV_CLIENT, EPOLLIN);
}

static void
client_drop (struct monitor *m, size_t i)
{
  struct client *c = &m->clients[i];

  epoll_ctl (m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  if (c->pending.len > 0)
    output_pause (m, false);
  husk_buf_free (&c->pending);
  memmove (c, c + 1, (m->n_clients - i - 1) * sizeof (*c));
  m->n_clients--;
}

static struct client *
client_find (struct monitor *m, int fd, size_t *idx)
{
  size_t i;

  for (i = 0; i < m->n_clients; i++)
    if (m->clients[i].fd == fd)
      {
        *idx = i;
        return &m->clients[i];
      }
  return NULL;
}

/* Send, waiting up to FLUSH_TIMEOUT_MS for room.  */
static bool
send_wait (int fd, const char *msg, size_t len)
{
  for (;;)
    {
      struct pollfd p = { .fd = fd, .events = POLLOUT };

      if (send (fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        return true;
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != ENOBUFS)
        return false;
      if (poll (&p, 1, FLUSH_TIMEOUT_MS) <= 0)
        return false;
    }
}

static void
client_queue (struct client *c, const char *msg, size_t len)
{
  uint32_t l = (uint32_t)len;

  husk_buf_append (&c->pending, &l, sizeof (l));
  husk_buf_append (&c->pending, msg, len);
}

/* Send what a client has queued: 1 when all went, 0 when its socket is
   full again (never with wait), -1 when it must be dropped.  */
static int
client_flush (struct client *c, bool wait)
{
  while (c->pending_off < c->pending.len)
    {
      const char *msg = c->pending.data + c->pending_off + sizeof (uint32_t);
      uint32_t l;

      memcpy (&l, c->pending.data + c->pending_off, sizeof (l));
      if (wait)
        {
          if (!send_wait (c->fd, msg, l))
            return -1;
        }
      else if (send (c->fd, msg, l, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        {
          if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
            return 0;
          return -1;
        }
      c->pending_off += sizeof (l) + l;
    }
  husk_buf_free (&c->pending);
  c->pending_off = 0;
  return 1;
}

/* One message to every client.  With wait (the exit path) the foreground
   client is waited for; otherwise a full foreground client queues it and
   pauses the output, and any other full client is dropped.  */
static void
broadcast (struct monitor *m, const char *msg, size_t len, bool wait)
{
  size_t i = m->n_clients;

  while (i-- > 0)
    {
      struct client *c = &m->clients[i];

      if (c->pending.len > 0)
        {
          if (!wait)
            {
              client_queue (c, msg, len);
              continue;
            }
          if (client_flush (c, true) < 0)
            {
              client_drop (m, i);
              continue;
            }
          client_update_events (m, c);
          output_pause (m, false);
        }
      if (send (c->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
        continue;
      if ((errno == EAGAIN || errno == ENOBUFS) && c->primary)
        {
          if (wait)
            {
              if (!send_wait (c->fd, msg, len))
                client_drop (m, i);
              continue;
            }
          client_queue (c, msg, len);
          client_update_events (m, c);
          output_pause (m, true);
          continue;
        }
      client_drop (m, i);
    }
}

/* ---- output ---- */

/* Read one chunk from fd into the log and the clients.  Returns the bytes
   read, 0 at the end (EOF, or EIO from a pty master), -1 for "nothing now".  */
static ssize_t
output_read (struct monitor *m, int fd, int stream, bool wait)
{
  ssize_t n;

  do
    n = read (fd, iobuf + 1, sizeof (iobuf) - 1);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return -1;
  if (n <= 0)
    return 0;
  monitor_log_write (m->log, stream, iobuf + 1, (size_t)n, husk_now_ns ());
  iobuf[0] = (char)(stream == 2 ? HUSK_ATTACH_STDERR : HUSK_ATTACH_STDOUT);
  broadcast (m, iobuf, (size_t)n + 1, wait);
  return n;
}

static void
on_output (struct monitor *m, int *fd, int stream)
{
  /* Paused by an earlier event of the same epoll batch.  */
  if (m->output_paused)
    return;
  if (output_read (m, *fd, stream, false) == 0)
    close_fd (m, fd);
}

/* After pid 1 exited: everything still in the pipes or the pty.  */
static void
drain_output (struct monitor *m)
{
  while (m->out_fd >= 0 && output_read (m, m->out_fd, 1, true) > 0)
    ;
  while (m->err_fd >= 0 && output_read (m, m->err_fd, 2, true) > 0)
    ;
  close_fd (m, &m->out_fd);
  close_fd (m, &m->err_fd);
}

/* ---- stdin ---- */

static void
stdin_resume_clients (struct monitor *m)
{
  size_t i;

  for (i = 0; i < m->n_clients; i++)
    if (m->clients[i].paused)
      {
        m->clients[i].paused = false;
        client_update_events (m, &m->clients[i]);
      }
}

static void
stdin_close (struct monitor *m)
{
  close_fd (m, &m->in_fd);
  husk_buf_free (&m->stdin_buf);
  m->stdin_close_pending = false;
  stdin_resume_clients (m);
}

/* Write what is buffered; true when the buffer is empty.  */
static bool
stdin_flush (struct monitor *m)
{
  while (m->stdin_buf.len > 0)
    {
      ssize_t n = write (m->in_fd, m->stdin_buf.data, m->stdin_buf.len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return false;
      if (n < 0)
        {
          /* EPIPE: the container closed its stdin; what it did not read is lost.  */
          stdin_close (m);
          return true;
        }
      memmove (m->stdin_buf.data, m->stdin_buf.data + n, m->stdin_buf.len - (size_t)n);
      m->stdin_buf.len -= (size_t)n;
    }
  return true;
}

static void
on_stdin_writable (struct monitor *m)
{
  if (!stdin_flush (m) || m->in_fd < 0)
    return;
  epoll_ctl (m->epfd, EPOLL_CTL_DEL, m->in_fd, NULL);
  stdin_resume_clients (m);
  if (m->stdin_close_pending && !m->cfg->tty)
    stdin_close (m);
}

static void
stdin_write (struct monitor *m, struct client *c, const char *data, size_t len)
{
  bool was_empty = m->stdin_buf.len == 0;

  if (m->in_fd < 0 || !c->may_stdin)
    return;
  husk_buf_append (&m->stdin_buf, data, len);
  if (!was_empty || !stdin_flush (m))
    {
      c->paused = true;
      client_update_events (m, c);
      if (was_empty && m->in_fd >= 0)
        ep_ctl (m, EPOLL_CTL_ADD, m->in_fd, EV_STDIN, EPOLLOUT);
    }
}

/* ---- state ---- */

static void
replace_str (char **field, const char *value)
{
  free (*field);
  *field = value != NULL ? xstrdup (value) : NULL;
}

static void
state_edit (struct monitor *m, struct husk_container_state *st, enum state_what what)
{
  switch (what)
    {
    case STATE_RUNNING:
      st->status = HUSK_CONTAINER_RUNNING;
      st->pid = m->proc.pid;
      st->monitor_pid = getpid ();
      st->monitor_start = husk_store_pid_start_time (getpid ());
      replace_str (&st->boot_id, husk_store_boot_id ());
      st->exit_code = 0;
      st->oom_killed = false;
      st->stopped_by_user = false;
      st->started_at = m->started_at;
      st->restart_count = m->restart_count;
      replace_str (&st->error, NULL);
      replace_str (&st->cgroup_path, m->proc.cgroup != NULL ? husk_cgroup_path (m->proc.cgroup) : NULL);
      break;
    case STATE_STOPPING:
      st->status = HUSK_CONTAINER_STOPPING;
      st->stopped_by_user = true;
      break;
    case STATE_EXITED:
      /* `husk stop` may have marked the stop itself before signalling.  */
      m->stopped_by_user = m->stopped_by_user || st->stopped_by_user;
      st->status = HUSK_CONTAINER_EXITED;
      st->pid = 0;
      st->exit_code = m->exit_code;
      st->oom_killed = m->oom_killed;
      st->stopped_by_user = m->stopped_by_user;
      st->finished_at = m->finished_at;
      st->restart_count = m->restart_count;
      replace_str (&st->error, m->error);
      replace_str (&st->cgroup_path, NULL);
      break;
    case STATE_START_FAILED:
      st->status = HUSK_CONTAINER_CREATED;
      st->pid = 0;
      st->monitor_pid = 0;
      st->monitor_start = 0;
      replace_str (&st->error, m->error);
      replace_str (&st->cgroup_path, NULL);
      break;
    }
}

/* Read, edit and write state.json under the container lock.  */
static int
state_update (struct monitor *m, enum state_what what, husk_error_t *err)
{
  cleanup_close int lockfd = -1;
  struct husk_container_state st;
  int ret;

  memset (&st, 0, sizeof (st));
  ret = husk_store_container_lock (m->store, m->cfg->id, &lockfd, err);
  if (ret < 0)
    return ret;
  ret = husk_store_container_state (m->store, m->cfg->id, &st, err);
  if (ret < 0)
    return ret;
  state_edit (m, &st, what);
  ret = husk_store_container_state_write (m->store, m->cfg->id, &st, err);
  husk_container_state_clear (&st);
  return ret;
}

static void
state_update_quiet (struct monitor *m, enum state_what what)
{
  husk_error_t err = NULL;

  if (state_update (m, what, &err) < 0)
    husk_error_release (&err);
}

static void
remove_container (struct monitor *m)
{
  husk_error_t err = NULL;

  if (husk_store_lock (m->store, true, &err) < 0)
    {
      husk_error_release (&err);
      return;
    }
  husk_store_event_container (m->store, "remove", m->cfg->id, NULL);
  if (husk_store_container_remove (m->store, m->cfg->id, &err) < 0)
    husk_error_release (&err);
  husk_store_unlock (m->store);
}

/* ---- the container process ---- */

static void
destroy_cgroup (struct monitor *m)
{
  husk_error_t err = NULL;
  uint64_t kills = 0;

  if (m->proc.cgroup == NULL)
    return;
  if (husk_cgroup_oom_kills (m->proc.cgroup, &kills, &err) < 0)
    husk_error_release (&err);
  m->oom_killed = kills > 0;
  if (husk_cgroup_destroy (m->proc.cgroup, &err) < 0)
    husk_error_release (&err);
  husk_cgroup_free (m->proc.cgroup);
  m->proc.cgroup = NULL;
}

static void
close_stdio (struct monitor *m)
{
  close_fd (m, &m->out_fd);
  close_fd (m, &m->err_fd);
  close_fd (m, &m->in_fd);
  husk_buf_free (&m->stdin_buf);
  m->stdin_close_pending = false;
  m->output_paused = false;
  stdin_resume_clients (m);
}

static void
close_pair (int p[2])
{
  if (p[0] >= 0)
    close (p[0]);
  if (p[1] >= 0)
    close (p[1]);
  p[0] = p[1] = -1;
}

/* Pipes (or the pty request) for one run: spec->stdio gets the child's
   ends, m the parent's.  */
static int
make_stdio (struct monitor *m, int out[2], int errp[2], int in[2], husk_error_t *err)
{
  m->spec.terminal = m->cfg->tty;
  m->spec.stdio[0] = m->spec.stdio[1] = m->spec.stdio[2] = -1;
  if (m->cfg->tty)
    return 0;
  if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "create the output pipes");
  if (m->cfg->stdin_open && pipe2 (in, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "create the stdin pipe");
  m->spec.stdio[0] = in[0];
  m->spec.stdio[1] = out[1];
  m->spec.stdio[2] = errp[1];
  return 0;
}

static void
take_stdio (struct monitor *m, int out[2], int errp[2], int in[2])
{
  if (m->cfg->tty)
    {
      m->out_fd = move_fd (&m->proc.pty_master);
      if (m->out_fd >= 0 && m->cfg->rows > 0 && m->cfg->cols > 0)
        {
          struct winsize ws = { .ws_row = m->cfg->rows, .ws_col = m->cfg->cols };
          ioctl (m->out_fd, TIOCSWINSZ, &ws);
        }
      if (m->out_fd >= 0 && m->cfg->stdin_open)
        m->in_fd = fcntl (m->out_fd, F_DUPFD_CLOEXEC, 3);
    }
  else
    {
      m->out_fd = move_fd (&out[0]);
      m->err_fd = move_fd (&errp[0]);
      m->in_fd = move_fd (&in[1]);
    }
  close_pair (out);
  close_pair (errp);
  close_pair (in);
  if (m->out_fd >= 0)
    set_nonblock (m->out_fd);
  if (m->err_fd >= 0)
    set_nonblock (m->err_fd);
  if (m->in_fd >= 0)
    set_nonblock (m->in_fd);
}

/* Create the container process, record it as running, let it exec.  On
   failure nothing of the run is left (process, cgroup, fds).  */
static void arm_timer (int fd, int64_t ms);

static int
start_container (struct monitor *m, husk_error_t *err)
{
  int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 };
  int ret;

  ret = make_stdio (m, out, errp, in, err);
  if (ret < 0)
    goto fail_pipes;
  /* slirp4netns: a network namespace made here for the container to join
     (network.h says why).  */
  if (m->cfg->slirp != NULL)
    {
      ret = husk_slirp_netns_new (&m->slirp, &m->spec.net_ns, err);
      if (ret < 0)
        goto fail_pipes;
    }
  ret = husk_runtime_create (&m->spec, &m->proc, err);
  if (ret < 0)
    goto fail_pipes;
  take_stdio (m, out, errp, in);

  /* Networking that needs the container's namespace to exist and must be
     ready before its command runs: slirp4netns (network.h).  */
  if (m->cfg->slirp != NULL)
    {
      ret = husk_slirp_start (m->cfg->slirp, &m->slirp, err);
      if (ret < 0)
        {
          husk_runtime_abort (&m->proc);
          goto fail;
        }
    }

  m->started_at = husk_now_ns ();
  ret = state_update (m, STATE_RUNNING, err);
  if (ret < 0)
    {
      husk_runtime_abort (&m->proc);
      goto fail;
    }
  ret = husk_runtime_start (&m->proc, err);
  if (ret < 0)
    {
      while (waitpid (m->proc.pid, NULL, 0) < 0 && errno == EINTR)
        ;
      husk_runtime_process_release (&m->proc);
      goto fail;
    }
  m->running = true;
  m->timed_out = false;
  /* Before the CLI hears of the start, so "start" precedes "die".  */
  husk_store_event_container (m->store, "start", m->cfg->id, NULL);
  if (m->cfg->timeout > 0)
    arm_timer (m->timeout_timer, (int64_t)m->cfg->timeout * 1000);
  monitor_health_start (m->health, &m->spec, m->proc.pid, m->proc.cgroup, m->started_at);
  ep_ctl (m, EPOLL_CTL_ADD, m->out_fd, EV_OUT, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->err_fd, EV_ERR, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->proc.pidfd, EV_PIDFD, EPOLLIN);
  return 0;

fail:
  husk_slirp_stop (&m->slirp);
  destroy_cgroup (m);
  close_stdio (m);
  m->proc.pid = 0;
  return ret;
fail_pipes:
  husk_slirp_stop (&m->slirp);
  close_pair (out);
  close_pair (errp);
  close_pair (in);
  return ret;
}

static void
arm_timer (int fd, int64_t ms)
{
  struct itimerspec its;

  memset (&its, 0, sizeof (its));
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (ms % 1000) * 1000000;
  if (ms == 0)
    its.it_value.tv_nsec = 1; /* 0 would disarm */
  timerfd_settime (fd, 0, &its, NULL);
}

static void
disarm_timer (int fd)
{
  struct itimerspec its;

  memset (&its, 0, sizeof (its));
  timerfd_settime (fd, 0, &its, NULL);
}

static bool
should_restart (struct monitor *m)
{
  const struct husk_restart_policy *p = &m->cfg->restart;

  if (m->stopped_by_user || m->cfg->auto_remove)
    return false;
  switch (p->name)
    {
    case HUSK_RESTART_NO:
      return false;
    case HUSK_RESTART_ON_FAILURE:
      return m->exit_code != 0 && (p->max_retries == 0 || m->restart_count < p->max_retries);
    case HUSK_RESTART_ALWAYS:
    case HUSK_RESTART_UNLESS_STOPPED:
      return true;
    }
  return false;
}

/* EXIT to every client (late connections included), then close them
   all: as with Docker, an attached client (the foreground `run` too) ends
   with the container's exit even when a restart follows.  */
static void
exit_clients (struct monitor *m)
{
  char msg[1 + sizeof (int32_t)];
  int32_t code = m->exit_code;
  int fd;

  while ((fd = accept4 (m->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
    client_add (m, fd, false, false);
  msg[0] = HUSK_ATTACH_EXIT;
  memcpy (msg + 1, &code, sizeof (code));
  broadcast (m, msg, sizeof (msg), true);
  while (m->n_clients > 0)
    client_drop (m, m->n_clients - 1);
}

/* The end: --rm, EXIT to the clients, exit.  */
__attribute__ ((noreturn)) static void
finish (struct monitor *m)
{
  if (m->cfg->auto_remove)
    remove_container (m);
  exit_clients (m);
  monitor_log_close (m->log);
  _exit (0);
}

/* pid 1 is gone (or a restart failed): record it, then restart or finish.  */
static void
after_exit (struct monitor *m)
{
  unsigned delay;

  m->running = false;
  disarm_timer (m->kill_timer);
  disarm_timer (m->timeout_timer);
  m->finished_at = husk_now_ns ();
  state_update_quiet (m, STATE_EXITED);
  if (!should_restart (m))
    finish (m);
  exit_clients (m);

  if (m->backoff_ms == 0 || m->finished_at - m->started_at > BACKOFF_RESET_NS)
    m->backoff_ms = BACKOFF_MIN_MS;
  delay = m->backoff_ms;
  m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
  arm_timer (m->restart_timer, delay);
}

/* Logged before any client hears EXIT, so a command run after `husk run`
   returns finds it.  */
static void
die_event (struct monitor *m)
{
  husk_json_t *attrs = husk_json_new_object ();

  husk_json_set_int (attrs, "exitCode", m->exit_code);
  husk_store_event_container (m->store, "die", m->cfg->id, attrs);
  husk_json_free (attrs);
}

static void
on_container_exit (struct monitor *m, int status)
{
  monitor_health_stop (m->health);
  drain_output (m);
  close_stdio (m);
  if (m->proc.pidfd >= 0)
    epoll_ctl (m->epfd, EPOLL_CTL_DEL, m->proc.pidfd, NULL);
  husk_runtime_process_release (&m->proc);
  m->proc.pid = 0;
  /* The network goes with pid 1 (a restart starts a new slirp4netns).  */
  husk_slirp_stop (&m->slirp);
  m->oom_killed = false;
  destroy_cgroup (m);
  m->exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
  /* Killed by --timeout: Podman's `run --timeout` exits 255 then.  */
  if (m->timed_out)
    m->exit_code = 255;
  die_event (m);
  replace_str (&m->error, NULL);
  after_exit (m);
}

static void drop_clean_file_pages (void);

static void
check_exit (struct monitor *m)
{
  int status;
  pid_t r;

  /* Reap everything: pid 1 and the healthcheck matter, anything else is
     a stray.  */
  while ((r = waitpid (-1, &status, WNOHANG)) > 0)
    if (m->running && r == m->proc.pid)
      on_container_exit (m, status);
    else if (monitor_health_reaped (m->health, r, status))
      /* A check runs exec code of husk and libc the monitor otherwise
         never touches: give the pages back, or every check leaves
         ~1 MiB of them mapped.  */
      drop_clean_file_pages ();
}

static void
on_restart_timer (struct monitor *m)
{
  struct husk_container_state st;
  husk_error_t err = NULL;
  uint64_t ticks;
  int ret;

  if (read (m->restart_timer, &ticks, sizeof (ticks)) < 0)
    return;
  memset (&st, 0, sizeof (st));
  ret = husk_store_container_state (m->store, m->cfg->id, &st, &err);
  if (ret < 0)
    {
      /* Removed while we waited.  */
      husk_error_release (&err);
      _exit (0);
    }
  m->stopped_by_user = m->stopped_by_user || st.stopped_by_user;
  husk_container_state_clear (&st);
  if (m->stopped_by_user)
    finish (m);

  m->restart_count++;
  if (start_container (m, &err) < 0)
    {
      m->exit_code = husk_error_exit_code (&err);
      replace_str (&m->error, err->msg);
      husk_error_release (&err);
      m->started_at = husk_now_ns ();
      after_exit (m);
    }
}

static void
send_signal (struct monitor *m, int sig)
{
  if (!m->running || m->proc.pid <= 0)
    return;
  if (m->proc.pidfd < 0 || syscall (SYS_pidfd_send_signal, m->proc.pidfd, sig, NULL, 0) < 0)
    kill (m->proc.pid, sig);
}

static void
do_stop (struct monitor *m, int sig, int timeout)
{
  m->stopped_by_user = true;
  if (!m->running)
    {
      /* Waiting to restart: there is nothing to stop, only the restart.  */
      disarm_timer (m->restart_timer);
      state_update_quiet (m, STATE_EXITED);
      finish (m);
    }
  state_update_quiet (m, STATE_STOPPING);
  send_signal (m, sig > 0 ? sig : SIGTERM);
  if (timeout == 0)
    send_signal (m, SIGKILL);
  else if (timeout > 0)
    arm_timer (m->kill_timer, (int64_t)timeout * 1000);
}

/* ---- events ---- */

static int32_t
payload_int (const char *p, size_t len, size_t idx, int32_t dflt)
{
  int32_t v;

  if (len < (idx + 1) * sizeof (v))
    return dflt;
  memcpy (&v, p + idx * sizeof (v), sizeof (v));
  return v;
}

static void
on_client (struct monitor *m, int fd, uint32_t events)
{
  struct client *c;
  size_t idx;
  ssize_t n;

  c = client_find (m, fd, &idx);
  if (c == NULL)
    return;
  if ((events & EPOLLOUT) && c->pending.len > 0)
    {
      int r = client_flush (c, false);

      if (r < 0)
        {
          client_drop (m, idx);
          return;
        }
      if (r > 0)
        {
          client_update_events (m, c);
          output_pause (m, false);
        }
    }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->paused)
    return;

  n = recv (fd, iobuf, sizeof (iobuf), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      client_drop (m, idx);
      return;
    }
  switch ((unsigned char)iobuf[0])
    {
    case HUSK_ATTACH_STDIN:
      stdin_write (m, c, iobuf + 1, (size_t)n - 1);
      break;
    case HUSK_ATTACH_STDIN_CLOSE:
      if (!c->may_stdin || m->cfg->tty)
        break;
      if (m->stdin_buf.len > 0)
        m->stdin_close_pending = true;
      else
        stdin_close (m);
      break;
    case HUSK_ATTACH_RESIZE:
      if (m->cfg->tty && m->out_fd >= 0 && n >= 5)
        {
          struct winsize ws;
          uint16_t rows, cols;

          memset (&ws, 0, sizeof (ws));
          memcpy (&rows, iobuf + 1, sizeof (rows));
          memcpy (&cols, iobuf + 3, sizeof (cols));
          ws.ws_row = rows;
          ws.ws_col = cols;
          ioctl (m->out_fd, TIOCSWINSZ, &ws);
        }
      break;
    case HUSK_ATTACH_SIGNAL:
      {
        int32_t sig = payload_int (iobuf + 1, (size_t)n - 1, 0, 0);
        if (sig > 0 && sig < NSIG)
          send_signal (m, sig);
      }
      break;
    case HUSK_ATTACH_STOP:
      do_stop (m, payload_int (iobuf + 1, (size_t)n - 1, 0, SIGTERM),
               payload_int (iobuf + 1, (size_t)n - 1, 1, 10));
      break;
    case HUSK_ATTACH_DETACH:
      client_drop (m, idx);
      break;
    default:
      break;
    }
}

static void
on_signal (struct monitor *m)
{
  struct signalfd_siginfo si;

  while (read (m->sigfd, &si, sizeof (si)) == (ssize_t)sizeof (si))
    {
      if (si.ssi_signo == SIGCHLD)
        check_exit (m);
      else if (m->running)
        send_signal (m, (int)si.ssi_signo);
      else if (si.ssi_signo != SIGHUP)
        {
          /* Asked to go away while waiting to restart.  */
          m->stopped_by_user = true;
          disarm_timer (m->restart_timer);
          state_update_quiet (m, STATE_EXITED);
          finish (m);
        }
    }
}

static void
on_listen (struct monitor *m)
{
  int fd = accept4 (m->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

  if (fd < 0)
    return;
  client_add (m, fd, false, m->cfg->stdin_open);
  /* Waiting to restart: the container has exited, and says so at once.  */
  if (!m->running)
    exit_clients (m);
}

/* Drop this process's page table entries for clean file pages (library
   and husk text, read-only data nobody wrote): fork and the CLI's work
   left hundreds of KiB of them mapped, counted in the monitor's RSS
   although they are page cache shared with every process.  Only mappings
   without anonymous pages are touched, so nothing is lost: a page used
   again is faulted back in from the page cache.  */
/* The start of a mapping's header line "start-end perms offset dev inode
   path": true with the range and whether a path follows.  */
static bool
parse_vma_header (const char *line, uintptr_t *start, uintptr_t *end, bool *file)
{
  unsigned long a, b;
  char *p;

  a = strtoul (line, &p, 16);
  if (p == line || *p != '-')
    return false;
  b = strtoul (p + 1, &p, 16);
  if (*p != ' ')
    return false;
  *start = (uintptr_t)a;
  *end = (uintptr_t)b;
  *file = strchr (p, '/') != NULL;
  return true;
}

static void
drop_clean_file_pages (void)
{
  /* Collected first and dropped at the end, so the scan itself (libc
     code) does not fault back what was just dropped.  */
  static struct
  {
    uintptr_t start, end;
  } ranges[512];
  size_t n_ranges = 0, len = 0, i;
  char buf[4096];
  uintptr_t start = 0, end = 0;
  bool file = false;
  int fd = open ("/proc/self/smaps", O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return;
  for (;;)
    {
      char *nl, *line = buf;
      ssize_t n = read (fd, buf + len, sizeof (buf) - 1 - len);

      if (n <= 0)
        break;
      len += (size_t)n;
      buf[len] = '\0';
      while ((nl = strchr (line, '\n')) != NULL)
        {
          bool is_file;

          *nl = '\0';
          /* Field lines start with a capital letter and a colon follows
             the name: "Anonymous:" is not hex followed by '-'.  */
          if (parse_vma_header (line, &start, &end, &is_file))
            file = is_file;
          else if (file && strncmp (line, "Anonymous:", 10) == 0)
            {
              if (strtoul (line + 10, NULL, 10) == 0 && n_ranges < sizeof (ranges) / sizeof (ranges[0]))
                {
                  ranges[n_ranges].start = start;
                  ranges[n_ranges].end = end;
                  n_ranges++;
                }
              file = false;
            }
          line = nl + 1;
        }
      len = (size_t)(buf + len - line);
      memmove (buf, line, len);
      if (len == sizeof (buf) - 1)
        len = 0; /* a line longer than the buffer: skip it */
    }
  close (fd);
  for (i = 0; i < n_ranges; i++)
    madvise ((void *)ranges[i].start, ranges[i].end - ranges[i].start, MADV_DONTNEED);
}

/* Trim at 1 s, 10 s and 100 s after the start: paths that run for the
   first time later (the first output, a client) fault in more.  */
static void
on_trim_timer (struct monitor *m)
{
  drop_clean_file_pages ();
  if (++m->trims < 3)
    arm_timer (m->trim_timer, (int64_t)TRIM_DELAY_MS * (m->trims == 1 ? 10 : 100));
}

__attribute__ ((noreturn)) static void
event_loop (struct monitor *m)
{
  struct epoll_event evs[16];

  for (;;)
    {
      int i, n = epoll_wait (m->epfd, evs, 16, -1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        _exit (1);
      for (i = 0; i < n; i++)
        {
          enum ev_kind kind = (enum ev_kind) (evs[i].data.u64 >> 32);
          int fd = (int)(uint32_t)evs[i].data.u64;
          uint64_t ticks;

          switch (kind)
            {
            case EV_SIGNAL:
              on_signal (m);
              break;
            case EV_LISTEN:
              on_listen (m);
              break;
            case EV_OUT:
              if (fd == m->out_fd)
                on_output (m, &m->out_fd, 1);
              break;
            case EV_ERR:
              if (fd == m->err_fd)
                on_output (m, &m->err_fd, 2);
              break;
            case EV_STDIN:
              if (fd == m->in_fd)
                on_stdin_writable (m);
              break;
            case EV_PIDFD:
              check_exit (m);
              break;
            case EV_KILL_TIMER:
              if (read (m->kill_timer, &ticks, sizeof (ticks)) > 0)
                send_signal (m, SIGKILL);
              break;
            case EV_RESTART_TIMER:
              on_restart_timer (m);
              break;
            case EV_TIMEOUT_TIMER:
              if (read (m->timeout_timer, &ticks, sizeof (ticks)) > 0 && m->running)
                {
                  m->timed_out = true;
                  send_signal (m, SIGKILL);
                }
              break;
            case EV_TRIM_TIMER:
              if (read (m->trim_timer, &ticks, sizeof (ticks)) > 0)
                on_trim_timer (m);
              break;
            case EV_CLIENT:
              on_client (m, fd, evs[i].events);
              break;
            case EV_HEALTH_TIMER:
              monitor_health_on_timer (m->health);
              break;
            case EV_HEALTH_OUT:
              monitor_health_on_output (m->health, fd);
              break;
            }
        }
    }
}

/* ---- setting up the monitor process ---- */

/* Close every fd above 2 except keep[] (n <= 3).  */
static void
close_other_fds (int *keep, size_t n)
{
  unsigned from = 3;
  size_t i, j;

  for (i = 1; i < n; i++)
    for (j = i; j > 0 && keep[j - 1] > keep[j]; j--)
      {
        int t = keep[j];
        keep[j] = keep[j - 1];
        keep[j - 1] = t;
      }
  for (i = 0; i < n; i++)
    {
      if (keep[i] < (int)from)
        continue;
      if ((unsigned)keep[i] > from)
        close_range (from, (unsigned)keep[i] - 1, 0);
      from = (unsigned)keep[i] + 1;
    }
  close_range (from, ~0U, 0);
}

static int
setup_process (struct monitor *m, int *keep, size_t n_keep, husk_error_t *err)
{
  struct husk_store_opts opts;
  sigset_t set;
  int fd;

  close_other_fds (keep, n_keep);
  fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd >= 0)
    {
      dup2 (fd, 0);
      dup2 (fd, 1);
      dup2 (fd, 2);
      if (fd > 2)
        close (fd);
    }
  if (chdir ("/") < 0)
    return husk_make_error (err, errno, "chdir /");
  prctl (PR_SET_NAME, "husk-monitor", 0, 0, 0);
  signal (SIGPIPE, SIG_IGN);

  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  sigprocmask (SIG_SETMASK, &set, NULL);

  m->epfd = epoll_create1 (EPOLL_CLOEXEC);
  m->sigfd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  m->kill_timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  m->restart_timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  m->trim_timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  m->timeout_timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (m->epfd < 0 || m->sigfd < 0 || m->kill_timer < 0 || m->restart_timer < 0 || m->trim_timer < 0
      || m->timeout_timer < 0)
    return husk_make_error (err, errno, "set up the monitor's event loop");
  ep_ctl (m, EPOLL_CTL_ADD, m->sigfd, EV_SIGNAL, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->listenfd, EV_LISTEN, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->kill_timer, EV_KILL_TIMER, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->trim_timer, EV_TRIM_TIMER, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->restart_timer, EV_RESTART_TIMER, EPOLLIN);
  ep_ctl (m, EPOLL_CTL_ADD, m->timeout_timer, EV_TIMEOUT_TIMER, EPOLLIN);

  /* The CLI's store stays untouched (its fds are closed here, its memory
     shared): a store of our own, opened by path.  */
  memset (&opts, 0, sizeof (opts));
  opts.root = husk_store_root (m->cfg->store);
  opts.runroot = husk_store_runroot (m->cfg->store);
  opts.driver = husk_store_driver (m->cfg->store);
  opts.tmpdir = husk_store_tmpdir (m->cfg->store);
  return husk_store_open (&opts, &m->store, err);
}

/* The answer husk_monitor_start waits for.  */
struct start_result
{
  int32_t ok;
  int32_t pid;
  int32_t status;
  int32_t exit_code;
  uint32_t msg_len;
};

static void
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      p += n;
      len -= (size_t)n;
    }
}

static void
report (int fd, pid_t pid, husk_error_t *err)
{
  struct start_result r;

  memset (&r, 0, sizeof (r));
  r.ok = err == NULL || *err == NULL;
  r.pid = pid;
  if (!r.ok)
    {
      r.status = (*err)->status;
      r.exit_code = husk_error_exit_code (err);
      r.msg_len = (*err)->msg != NULL ? (uint32_t)strlen ((*err)->msg) : 0;
    }
  write_all (fd, &r, sizeof (r));
  if (r.msg_len > 0)
    write_all (fd, (*err)->msg, r.msg_len);
  close (fd);
}

__attribute__ ((noreturn)) static void
monitor_main (const struct husk_monitor_config *cfg, int listenfd, int result_fd)
{
  static struct monitor mon;
  struct monitor *m = &mon;
  int keep[3];
  size_t n_keep = 0;
  husk_error_t err = NULL;

  m->cfg = cfg;
  m->spec = *cfg->spec;
  m->listenfd = listenfd;
  m->epfd = m->sigfd = m->kill_timer = m->restart_timer = m->trim_timer = -1;
  m->out_fd = m->err_fd = m->in_fd = -1;
  m->proc.pid = 0;
  m->proc.pidfd = m->proc.sync_fd = m->proc.pty_master = -1;
  m->slirp.exit_fd = m->slirp.netns_fd = -1;

  keep[n_keep++] = listenfd;
  keep[n_keep++] = result_fd;
  if (cfg->client_fd >= 0)
    keep[n_keep++] = cfg->client_fd;

  if (setup_process (m, keep, n_keep, &err) < 0)
    goto fail;
  set_nonblock (listenfd);
  if (cfg->client_fd >= 0)
    {
      fcntl (cfg->client_fd, F_SETFD, FD_CLOEXEC);
      set_nonblock (cfg->client_fd);
      client_add (m, cfg->client_fd, true, cfg->client_stdin && cfg->stdin_open);
    }
  if (monitor_log_open (cfg->log_driver, cfg->log_path, cfg->log_max_size, &m->log, &err) < 0)
    goto fail;
  m->health = monitor_health_new (m->store, cfg->id, &cfg->health, m->epfd, EV_HEALTH_TIMER, EV_HEALTH_OUT);
  if (start_container (m, &err) < 0)
    goto fail;

  report (result_fd, m->proc.pid, NULL);
  /* Once the loop has run a little: lazy binding of the functions it
     calls the first time faults in pieces of every library's symbol
     tables, which the trim then drops for good.  */
  arm_timer (m->trim_timer, TRIM_DELAY_MS);
  event_loop (m);

fail:
  if (m->store != NULL)
    {
      replace_str (&m->error, err->msg);
      if (cfg->auto_remove)
        remove_container (m);
      else
        state_update_quiet (m, STATE_START_FAILED);
    }
  report (result_fd, 0, &err);
  _exit (0);
}

/* ---- the caller's side ---- */

/* The attach socket <rundir>/attach, bound through /proc/self/fd/N when
   the full path does not fit in sun_path.  */
static int
attach_listen (const char *rundir, husk_error_t *err)
{
  struct sockaddr_un addr;
  cleanup_close int dirfd = -1;
  cleanup_close int fd = -1;
  cleanup_free char *path = xasprintf ("%s/attach", rundir);

  dirfd = open (rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return husk_make_error (err, errno, "open %s", rundir);
  if (unlinkat (dirfd, "attach", 0) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "remove the stale attach socket %s", path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return husk_make_error (err, errno, "create the attach socket");

  memset (&addr, 0, sizeof (addr));
  addr.sun_family = AF_UNIX;
  if (strlen (path) >= sizeof (addr.sun_path))
    {
      free (path);
      path = xasprintf ("/proc/self/fd/%d/attach", dirfd);
    }
  memcpy (addr.sun_path, path, strlen (path) + 1);
  if (bind (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    return husk_make_error (err, errno, "bind the attach socket %s/attach", rundir);
  if (listen (fd, 32) < 0)
    return husk_make_error (err, errno, "listen on the attach socket");
  return move_fd (&fd);
}

static bool
read_full (int fd, void *buf, size_t len)
{
  char *p = buf;

  while (len > 0)
    {
      ssize_t n = read (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      p += n;
      len -= (size_t)n;
    }
  return true;
}

static int
read_result (int fd, pid_t *pid, husk_error_t *err)
{
  struct start_result r;
  cleanup_free char *msg = NULL;

  if (!read_full (fd, &r, sizeof (r)))
    return husk_make_error (err, 0, "the container's monitor exited before it started the container");
  if (r.ok)
    {
      *pid = r.pid;
      return 0;
    }
  msg = xzalloc ((size_t)r.msg_len + 1);
  if (r.msg_len > 0 && !read_full (fd, msg, r.msg_len))
    return husk_make_error (err, 0, "the container's monitor exited before it started the container");
  husk_make_error (err, 0, "%s", msg);
  (*err)->status = r.status;
  husk_error_set_exit_code (err, r.exit_code);
  return r.status > 0 ? -r.status : -1;
}

int
husk_monitor_start (const struct husk_monitor_config *cfg, pid_t *pid, husk_error_t *err)
{
  cleanup_free char *rundir = NULL;
  cleanup_close int listenfd = -1;
  cleanup_close int result_rd = -1;
  int result[2];
  pid_t mid;
  int ret;

  ret = husk_store_container_rundir (cfg->store, cfg->id, true, &rundir, err);
  if (ret < 0)
    return ret;
  listenfd = attach_listen (rundir, err);
  if (listenfd < 0)
    return listenfd;
  if (pipe2 (result, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "pipe");
  result_rd = result[0];

  mid = fork ();
  if (mid < 0)
    {
      close (result[1]);
      return husk_make_error (err, errno, "fork the container's monitor");
    }
  if (mid == 0)
    {
      pid_t g;

      close (result[0]);
      setsid ();
      g = fork ();
      if (g != 0)
        _exit (g < 0 ? 1 : 0);
      monitor_main (cfg, listenfd, result[1]);
    }
  close (result[1]);
  while (waitpid (mid, NULL, 0) < 0 && errno == EINTR)
    ;
  return read_result (result_rd, pid, err);
}
