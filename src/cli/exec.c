/* husk: exec, a new process in a running container.

   The CLI itself is the parent of the process (husk_runtime_exec joins
   the container's namespaces from a short-lived helper and makes us the
   parent), so there is no monitor in between:
     - without -t the process gets our own stdin (with -i, else
       /dev/null), stdout and stderr: nothing to relay, like nsenter;
       signals we receive are forwarded to it;
     - with -t it gets a pty from the container's devpts; we relay between
       our terminal (raw mode) and the master, forward window size changes,
       and the detach keys leave it running: a small helper then keeps the
       master open (reading and dropping the output) until the process
       exits, so it does not get a hangup;
     - with -d we return once it has exec'd (with -t, the same helper holds
       the master).
   Our exit code is the process's (128+N for a signal).  When we exit
   before it (-d, a detach), it is re-parented to the host's reaper and
   keeps running in the container.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

/* ---- environment (Docker's rules, as run's) ---- */

/* The container's Env, then --env-file, then -e; TERM with -t.  */
static int
build_env (const struct cli_args *a, const husk_json_t *cfg, char ***out, husk_error_t *err)
{
  cleanup_strv char **env = husk_json_to_strv (husk_json_get (cfg, "Env"));
  char *const *vv;
  size_t i;

  vv = cli_strv (a, "env-file");
  for (i = 0; vv && vv[i]; i++)
    if (cli_env_read_file (vv[i], &env, err) < 0)
      return -1;
  vv = cli_strv (a, "env");
  for (i = 0; vv && vv[i]; i++)
    {
      if (vv[i][0] == '\0' || vv[i][0] == '=')
        return husk_make_error (err, EINVAL, "invalid environment variable: \"%s\"", vv[i]);
      cli_env_set (&env, vv[i]);
    }
  if (cli_bool (a, "tty"))
    {
      for (i = 0; env[i] != NULL; i++)
        if (husk_has_prefix (env[i], "TERM="))
          break;
      if (env[i] == NULL)
        strv_append (&env, "TERM=xterm");
    }
  *out = steal_pointer (&env);
  return 0;
}

/* ---- detach keys ---- */

/* "ctrl-p,ctrl-q", "a,ctrl-@"... as Docker: single characters or ctrl-X
   with X in a-z @ [ \ ] ^ _.  "" means none.  */
static int
parse_detach_keys (const char *spec, struct husk_buf *out, husk_error_t *err)
{
  cleanup_free char *copy = NULL;
  char *save = NULL;
  char *p;

  if (spec == NULL || spec[0] == '\0')
    return 0;
  copy = xstrdup (spec);
  for (p = strtok_r (copy, ",", &save); p != NULL; p = strtok_r (NULL, ",", &save))
    {
      unsigned char c;

      if (strlen (p) == 1)
        c = (unsigned char)p[0];
      else if (strncasecmp (p, "ctrl-", 5) == 0 && strlen (p) == 6)
        {
          unsigned char x = (unsigned char)p[5];
          if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
          if (x >= 'a' && x <= 'z')
            c = (unsigned char)(x - 'a' + 1);
          else if (x == '@')
            c = 0;
          else if (x >= '[' && x <= '_')
            c = (unsigned char)(x - '[' + 27);
          else
            return husk_make_error (err, 0, "invalid detach keys \"%s\": unknown character '%s'", spec, p);
        }
      else
        return husk_make_error (err, 0, "invalid detach keys \"%s\": unknown character '%s'", spec, p);
      husk_buf_append (out, &c, 1);
    }
  return 0;
}

/* ---- waiting and relaying ---- */

static pid_t forward_pid = -1;

static void
forward_signal (int sig)
{
  if (forward_pid > 0)
    kill (forward_pid, sig);
}

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void
forward_signals (pid_t pid)
{
  struct sigaction sa = { .sa_handler = forward_signal };
  size_t i;

  forward_pid = pid;
  sigemptyset (&sa.sa_mask);
  for (i = 0; i < sizeof (forwarded_signals) / sizeof (forwarded_signals[0]); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
}

static int
wait_exit_code (pid_t pid)
{
  int status;

  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return HUSK_EXIT_FAILURE;
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return HUSK_EXIT_FAILURE;
}

static int
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      buf += n;
      len -= (size_t)n;
    }
  return 0;
}

/* After -d -t or a detach: a helper of our own (not in the container)
   keeps the pty master open, reading and dropping the output, until the
   process exits, so the process neither gets a hangup nor blocks on a
   full terminal.  */
static void
hold_master (int master, int pidfd)
{
  pid_t pid = fork ();
  int devnull, i;

  if (pid != 0)
    return;
  setsid ();
  devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  for (i = 0; i < 3 && devnull >= 0; i++)
    dup2 (devnull, i);
  for (;;)
    {
      struct pollfd p[2] = { { .fd = master, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
      char buf[4096];

      if (poll (p, pidfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
        break;
      if (p[1].revents & POLLIN)
        break;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
          ssize_t n = read (master, buf, sizeof (buf));
          if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            break;
        }
    }
  _exit (0);
}

static void
copy_winsize (int from, int to)
{
  struct winsize ws;

  if (ioctl (from, TIOCGWINSZ, &ws) == 0)
    (void)ioctl (to, TIOCSWINSZ, &ws);
}

/* Relay between our terminal and the pty master until the process exits
   (returns its code) or the detach keys (returns -1).  */
static int
relay_tty (struct husk_runtime_process *p, bool in, const struct husk_buf *keys)
{
  struct termios saved, raw;
  bool restore = false;
  size_t matched = 0;
  bool in_open = in;
  sigset_t mask;
  cleanup_close int sfd = -1;
  int code = -1;
  char buf[8192];

  if (in && isatty (0) && tcgetattr (0, &saved) == 0)
    {
      raw = saved;
      cfmakeraw (&raw);
      restore = tcsetattr (0, TCSANOW, &raw) == 0;
    }
  copy_winsize (isatty (0) ? 0 : 1, p->pty_master);

  sigemptyset (&mask);
  sigaddset (&mask, SIGWINCH);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGQUIT);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  sfd = signalfd (-1, &mask, SFD_CLOEXEC);

  for (;;)
    {
      struct pollfd fds[4] = {
        { .fd = p->pty_master, .events = POLLIN },
        { .fd = in_open ? 0 : -1, .events = POLLIN },
        { .fd = sfd, .events = POLLIN },
        { .fd = p->pidfd, .events = POLLIN },
      };
      ssize_t n;

      if (poll (fds, 4, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
          n = read (p->pty_master, buf, sizeof (buf));
          if (n > 0)
            {
              if (write_all (1, buf, (size_t)n) < 0)
                break;
              continue; /* drain the output before looking at an exit */
            }
          if (n == 0 || (errno != EINTR && errno != EAGAIN))
            break; /* EIO: every slave fd is closed */
        }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
        {
          size_t i, start = 0;

          n = read (0, buf, sizeof (buf));
          if (n <= 0)
            {
              /* EOF: pass it on as the terminal's EOF character.  */
              char eof = 4;
              in_open = false;
              (void)write_all (p->pty_master, &eof, 1);
              continue;
            }
          for (i = 0; i < (size_t)n; i++)
            {
              if (keys->len > 0 && (unsigned char)buf[i] == (unsigned char)keys->data[matched])
                {
                  /* Held back until the sequence completes or breaks.  */
                  if (i > start && write_all (p->pty_master, buf + start, i - start) < 0)
                    break;
                  start = i + 1;
                  if (++matched == keys->len)
                    goto detach;
                  continue;
                }
              if (matched > 0)
                {
                  if (i > start)
                    (void)write_all (p->pty_master, buf + start, i - start);
                  (void)write_all (p->pty_master, keys->data, matched);
                  start = i;
                  matched = 0;
                  i--; /* this byte may start a new sequence */
                  continue;
                }
            }
          if ((size_t)n > start)
            (void)write_all (p->pty_master, buf + start, (size_t)n - start);
        }
      if (fds[2].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          if (read (sfd, &si, sizeof (si)) == sizeof (si))
            {
              if (si.ssi_signo == SIGWINCH)
                copy_winsize (isatty (0) ? 0 : 1, p->pty_master);
              else
                kill (p->pid, (int)si.ssi_signo);
            }
        }
      if (fds[3].revents & POLLIN)
        {
          /* Exited: take what is left in the master, then stop.  */
          int fl = fcntl (p->pty_master, F_GETFL);
          fcntl (p->pty_master, F_SETFL, fl | O_NONBLOCK);
          while ((n = read (p->pty_master, buf, sizeof (buf))) > 0)
            if (write_all (1, buf, (size_t)n) < 0)
              break;
          break;
        }
    }
  code = wait_exit_code (p->pid);
  goto out;

detach:
  hold_master (p->pty_master, p->pidfd);
out:
  if (restore)
    tcsetattr (0, TCSANOW, &saved);
  sigprocmask (SIG_UNBLOCK, &mask, NULL);
  return code;
}

/* ---- the command ---- */

static int
container_running (const struct husk_container_state *st)
{
  return (st->status == HUSK_CONTAINER_RUNNING || st->status == HUSK_CONTAINER_STOPPING) && st->pid > 0;
}

int
cmd_exec (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *arg = a->argv[0];
  bool tty = cli_bool (a, "tty");
  bool interactive = cli_bool (a, "interactive");
  bool detach = cli_bool (a, "detach");
  const char *workdir = cli_string (a, "workdir");
  struct husk_buf keys = { 0 };
  struct husk_container_record *rec = NULL;
  struct husk_container_state st = { 0 };
  struct husk_security_spec sec;
  struct husk_exec_spec es;
  struct husk_runtime_process p = { .pid = -1, .pidfd = -1, .sync_fd = -1, .pty_master = -1 };
  cleanup_json husk_json_t *config = NULL;
  cleanup_strv char **argv = NULL;
  cleanup_strv char **env = NULL;
  cleanup_strv char **group_add = NULL;
  cleanup_free char *id = NULL;
  struct husk_cgroup *cg = NULL;
  husk_store_t *s = NULL;
  const husk_json_t *cfg;
  int i, ret, code;

  husk_security_spec_init (&sec);
  memset (&es, 0, sizeof (es));
  /* Bad input first: nothing is looked at or started.  */
  if (workdir != NULL && workdir[0] != '\0' && workdir[0] != '/')
    {
      ret = husk_make_error (err, EINVAL, "workdir \"%s\" must be an absolute path", workdir);
      goto out;
    }
  if (parse_detach_keys (cli_string (a, "detach-keys"), &keys, err) < 0)
    {
      ret = -1;
      goto out;
    }
  argv = xzalloc (sizeof (char *));
  for (i = 1; i < a->argc; i++)
    strv_append (&argv, a->argv[i]);

  /* Records are only read: no user namespace to enter even rootless
     (the runtime joins the container's own).  */
  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    goto out;
  ret = cli_container_lookup (s, arg, &rec, err);
  if (ret > 0)
    {
      id = xstrdup (rec->id); /* rec is the store's */
      ret = husk_store_container_state (s, id, &st, err);
    }
  if (ret == 0 && !container_running (&st))
    ret = husk_make_error (err, 0, "container %s is not running", arg);
  /* A process joining a frozen cgroup would freeze before it could exec.  */
  if (ret == 0 && cli_container_paused (&st))
    ret = husk_make_error (err, 0, "container %s is paused, unpause the container before exec", arg);
  if (ret == 0)
    ret = cli_container_config (s, id, &config, err);
  cfg = husk_json_get (config, "Config");
  if (ret == 0)
    ret = build_env (a, cfg, &env, err);
  if (ret == 0)
    ret = cli_container_security_build (s, husk_json_get (config, "HostConfig"), cli_bool (a, "privileged"),
                                        &sec, err);
  if (ret == 0 && st.cgroup_path != NULL && st.cgroup_path[0] != '\0')
    ret = husk_cgroup_open (id, st.cgroup_path, &cg, err);
  husk_store_unlock (s);
  if (ret < 0)
    goto out;

  group_add = husk_json_to_strv (husk_json_get (husk_json_get (config, "HostConfig"), "GroupAdd"));
  es.pid = st.pid;
  es.argv = argv;
  es.env = env;
  es.cwd = workdir != NULL && workdir[0] != '\0' ? workdir
                                                 : husk_json_string (husk_json_get (cfg, "WorkingDir"));
  es.user = cli_is_set (a, "user") ? cli_string (a, "user") : husk_json_string (husk_json_get (cfg, "User"));
  es.group_add = group_add;
  es.security = &sec;
  es.cgroup = cg;
  es.terminal = tty;
  es.stdio[0] = interactive && !detach ? 0 : -1;
  es.stdio[1] = detach ? -1 : 1;
  es.stdio[2] = detach ? -1 : 2;

  /* Our handlers must not be in place before the fork (the child resets
     them anyway), but a signal between exec and the forwarding would
     kill us and leave the process running: acceptable, as docker.  */
  ret = husk_runtime_exec (&es, &p, err);
  if (ret < 0)
    goto out;
  husk_store_event_container (s, "exec", id, NULL);

  if (detach)
    {
      if (p.pty_master >= 0)
        hold_master (p.pty_master, p.pidfd);
      ret = 0;
    }
  else if (tty)
    {
      code = relay_tty (&p, interactive, &keys);
      ret = code < 0 ? 0 : code;
    }
  else
    {
      forward_signals (p.pid);
      ret = wait_exit_code (p.pid);
    }
  if (!detach)
    {
      /* Podman's exec_died: the foreground exec's process is gone (a
         detached one has nobody left to see it end).  */
      cleanup_json husk_json_t *attrs = husk_json_new_object ();
      husk_json_set_int (attrs, "exitCode", ret);
      husk_store_event_container (s, "exec_died", id, attrs);
    }
  husk_runtime_process_release (&p);

out:
  husk_container_state_clear (&st);
  husk_security_spec_release (&sec);
  if (cg != NULL)
    husk_cgroup_free (cg);
  free (keys.data);
  return ret;
}
