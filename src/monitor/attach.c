/* husk: the client side of the attach protocol (include/husk/monitor.h):
   connecting to a container's monitor, one datagram per message, and the
   relay that `run`, `start -a` and `attach` use between the terminal and
   the monitor.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "husk/monitor.h"
#include "husk/util.h"

int
husk_attach_connect (husk_store_t *s, const char *id, int *fd, husk_error_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *path = NULL;
  cleanup_close int dirfd = -1;
  cleanup_close int sock = -1;
  struct sockaddr_un addr;
  int ret;

  ret = husk_store_container_rundir (s, id, false, &dir, err);
  if (ret < 0)
    return ret;
  path = xasprintf ("%s/attach", dir);
  /* sun_path holds 108 bytes: a deep runroot goes through the directory's
     fd, which connect () resolves like any other path.  */
  if (strlen (path) >= sizeof (addr.sun_path))
    {
      dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0)
        return husk_make_error (err, errno, "cannot connect to the container's monitor: open `%s`", dir);
      free (path);
      path = xasprintf ("/proc/self/fd/%d/attach", dirfd);
    }

  sock = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return husk_make_error (err, errno, "cannot create the attach socket");

  memset (&addr, 0, sizeof (addr));
  addr.sun_family = AF_UNIX;
  memcpy (addr.sun_path, path, strlen (path) + 1);
  do
    ret = connect (sock, (struct sockaddr *)&addr, sizeof (addr));
  while (ret < 0 && errno == EINTR);
  if (ret < 0)
    return husk_make_error (err, errno, "cannot connect to the container's monitor at `%s/attach`", dir);

  *fd = move_fd (&sock);
  return 0;
}

int
husk_attach_send (int fd, enum husk_attach_type type, const void *data, size_t len)
{
  unsigned char t = (unsigned char)type;
  struct iovec iov[2] = {
    { .iov_base = &t, .iov_len = 1 },
    { .iov_base = (void *)data, .iov_len = len },
  };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1 };
  ssize_t r;

  if (len > HUSK_ATTACH_MAX - 1)
    return -EMSGSIZE;
  do
    r = sendmsg (fd, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  return 0;
}

ssize_t
husk_attach_recv (int fd, int *type, char *buf)
{
  unsigned char t;
  struct iovec iov[2] = {
    { .iov_base = &t, .iov_len = 1 },
    { .iov_base = buf, .iov_len = HUSK_ATTACH_MAX - 1 },
  };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
  ssize_t r;

  do
    r = recvmsg (fd, &msg, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  if (r == 0)
    {
      *type = -1;
      return 0;
    }
  *type = t;
  return r - 1;
}

/* ---- detach keys ---- */

/* Docker's syntax: a comma-separated list of "ctrl-<c>" (c in a-z, @, [,
   \, ], ^, _) or single characters.  */
static int
detach_keys_parse (const char *spec, struct husk_buf *out, husk_error_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *saveptr = NULL;
  char *key;

  for (key = strtok_r (copy, ",", &saveptr); key != NULL; key = strtok_r (NULL, ",", &saveptr))
    {
      char c;

      if (strlen (key) == 1)
        c = key[0];
      else if (strlen (key) == 6 && strncasecmp (key, "ctrl-", 5) == 0)
        {
          char k = key[5];

          if (k >= 'a' && k <= 'z')
            c = (char)(k - 'a' + 1);
          else if (k >= 'A' && k <= 'Z')
            c = (char)(k - 'A' + 1);
          else if (k == '@')
            c = 0;
          else if (k >= '[' && k <= '_')
            c = (char)(k - '[' + 27);
          else
            goto invalid;
        }
      else
        goto invalid;
      husk_buf_append (out, &c, 1);
      continue;

    invalid:
      return husk_make_error (err, EINVAL, "invalid detach keys `%s`: unknown key `%s`", spec, key);
    }
  if (out->len == 0)
    return husk_make_error (err, EINVAL, "invalid detach keys `%s`", spec);
  return 0;
}

/* ---- the relay ---- */

struct relay
{
  int sock;
  const struct husk_attach_relay *o;
  int in_fd; /* -1 once stdin reached EOF or the monitor stopped reading */
  int sigfd; /* -1: no signal forwarded */
  bool out_broken, err_broken;

  /* Detach sequence and how much of it the stdin stream has matched: the
     matched bytes are held back until the sequence completes or breaks.  */
  char *keys;
  size_t nkeys, matched;

  bool raw;
  struct termios saved_termios;
  bool mask_set;
  sigset_t saved_mask;
};

static int
write_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t w = write (fd, data, len);

      if (w < 0)
        {
          /* The caller's fd may be non-blocking (a shared terminal).  */
          if (errno == EAGAIN)
            {
              struct pollfd p = { .fd = fd, .events = POLLOUT };
              if (poll (&p, 1, -1) < 0 && errno != EINTR)
                return -errno;
              continue;
            }
          if (errno == EINTR)
            continue;
          return -errno;
        }
      data += w;
      len -= (size_t)w;
    }
  return 0;
}

static void
relay_send_resize (struct relay *r)
{
  struct winsize ws;
  uint16_t dims[2];

  if ((r->o->in_fd < 0 || ioctl (r->o->in_fd, TIOCGWINSZ, &ws) < 0)
      && (r->o->out_fd < 0 || ioctl (r->o->out_fd, TIOCGWINSZ, &ws) < 0))
    return;
  if (ws.ws_row == 0 || ws.ws_col == 0)
    return;
  dims[0] = ws.ws_row;
  dims[1] = ws.ws_col;
  /* A failure shows up when the socket is read.  */
  (void)husk_attach_send (r->sock, HUSK_ATTACH_RESIZE, dims, sizeof (dims));
}

static const int proxied_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int
relay_setup (struct relay *r, husk_error_t *err)
{
  const struct husk_attach_relay *o = r->o;
  sigset_t set;
  size_t i;

  sigemptyset (&set);
  if (o->tty)
    sigaddset (&set, SIGWINCH);
  if (o->sig_proxy)
    for (i = 0; i < sizeof (proxied_signals) / sizeof (proxied_signals[0]); i++)
      sigaddset (&set, proxied_signals[i]);

  /* Blocked signals go to the signalfd instead of their handlers; the
     previous mask is restored at the end, so dispositions never change.  */
  if (!sigisemptyset (&set))
    {
      int e = pthread_sigmask (SIG_BLOCK, &set, &r->saved_mask);

      if (e != 0)
        return husk_make_error (err, e, "cannot block the forwarded signals");
      r->mask_set = true;
      r->sigfd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
      if (r->sigfd < 0)
        return husk_make_error (err, errno, "signalfd");
    }

  if (o->tty && r->in_fd >= 0 && tcgetattr (r->in_fd, &r->saved_termios) == 0)
    {
      struct termios raw = r->saved_termios;

      cfmakeraw (&raw);
      if (tcsetattr (r->in_fd, TCSANOW, &raw) < 0)
        return husk_make_error (err, errno, "cannot put the terminal in raw mode");
      r->raw = true;
    }
  return 0;
}

static void
relay_teardown (struct relay *r)
{
  if (r->raw)
    (void)tcsetattr (r->o->in_fd, TCSANOW, &r->saved_termios);
  if (r->sigfd >= 0)
    {
      struct signalfd_siginfo si;

      /* Consume what arrived since the last read: those were meant for the
         container, not for us once the mask is lifted.  */
      while (read (r->sigfd, &si, sizeof (si)) == sizeof (si))
        ;
      close (r->sigfd);
      r->sigfd = -1;
    }
  if (r->mask_set)
    (void)pthread_sigmask (SIG_SETMASK, &r->saved_mask, NULL);
  free (r->keys);
  r->keys = NULL;
}

/* Send stdin bytes, in datagram-sized pieces.  */
static int
relay_send_stdin (struct relay *r, const char *data, size_t len)
{
  while (len > 0)
    {
      size_t n = len < HUSK_ATTACH_MAX - 1 ? len : HUSK_ATTACH_MAX - 1;
      int ret = husk_attach_send (r->sock, HUSK_ATTACH_STDIN, data, n);

      if (ret < 0)
        return ret;
      data += n;
      len -= n;
    }
  return 0;
}

/* The monitor no longer takes input (it closed its side): stop reading
   stdin and let the socket's EOF or EXIT decide the outcome.  */
static void
relay_stop_stdin (struct relay *r)
{
  r->in_fd = -1;
}

/* Filter the stdin bytes through the detach sequence.  Returns 1 when the
   whole sequence was typed.  */
static int
relay_filter_stdin (struct relay *r, const char *data, size_t len, struct husk_buf *out)
{
  size_t i;

  for (i = 0; i < len; i++)
    {
      char c = data[i];

      if (r->nkeys == 0)
        {
          husk_buf_append (out, data + i, len - i);
          return 0;
        }
      if (c == r->keys[r->matched])
        {
          if (++r->matched == r->nkeys)
            return 1;
          continue;
        }
      /* The sequence broke: what was held back is ordinary input.  */
      if (r->matched > 0)
        {
          husk_buf_append (out, r->keys, r->matched);
          r->matched = 0;
          if (c == r->keys[0])
            {
              r->matched = 1;
              continue;
            }
        }
      husk_buf_append (out, &c, 1);
    }
  return 0;
}

static int
relay_stdin (struct relay *r, husk_error_t *err)
{
  struct husk_buf out = { 0 };
  char buf[16384];
  ssize_t n;
  int ret, detached;

  n = read (r->in_fd, buf, sizeof (buf));
  if (n < 0)
    {
      if (errno == EINTR || errno == EAGAIN)
        return 0;
      /* EIO: the terminal hung up, which is stdin's end too.  */
      if (errno != EIO)
        return husk_make_error (err, errno, "read from stdin");
      n = 0;
    }
  if (n == 0)
    {
      if (r->matched > 0)
        (void)relay_send_stdin (r, r->keys, r->matched);
      r->matched = 0;
      (void)husk_attach_send (r->sock, HUSK_ATTACH_STDIN_CLOSE, NULL, 0);
      relay_stop_stdin (r);
      return 0;
    }

  detached = relay_filter_stdin (r, buf, (size_t)n, &out);
  ret = out.len > 0 ? relay_send_stdin (r, out.data, out.len) : 0;
  husk_buf_free (&out);
  if (detached)
    {
      (void)husk_attach_send (r->sock, HUSK_ATTACH_DETACH, NULL, 0);
      return 1;
    }
  if (ret < 0)
    relay_stop_stdin (r);
  return 0;
}

static void
relay_signals (struct relay *r)
{
  struct signalfd_siginfo si;

  while (read (r->sigfd, &si, sizeof (si)) == sizeof (si))
    {
      int32_t sig = (int32_t)si.ssi_signo;

      if (sig == SIGWINCH)
        relay_send_resize (r);
      else
        (void)husk_attach_send (r->sock, HUSK_ATTACH_SIGNAL, &sig, sizeof (sig));
    }
}

static void
relay_output (struct relay *r, int fd, bool *broken, const char *data, size_t len)
{
  if (*broken || fd < 0)
    return;
  /* A closed stdout (`husk run ... | head`) must not lose the exit code:
     drop that stream and keep relaying.  */
  int ret = write_all (fd, data, len);

  if (ret < 0)
    {
      husk_debug ("attach: dropping output to fd %d: %s", fd, strerror (-ret));
      *broken = true;
    }
}

/* Returns 1 when EXIT arrived, 0 to go on, negative on error.  */
static int
relay_socket (struct relay *r, char *buf, int *exit_code, husk_error_t *err)
{
  int type;
  ssize_t n = husk_attach_recv (r->sock, &type, buf);

  if (n == -ECONNRESET)
    {
      n = 0;
      type = -1;
    }
  if (n < 0)
    return husk_make_error (err, (int)-n, "read from the container's monitor");
  switch (type)
    {
    case -1:
      return husk_make_error (err, 0, "the container's monitor exited without an exit code");

    case HUSK_ATTACH_STDOUT:
      relay_output (r, r->o->out_fd, &r->out_broken, buf, (size_t)n);
      break;

    case HUSK_ATTACH_STDERR:
      if (r->o->err_fd >= 0)
        relay_output (r, r->o->err_fd, &r->err_broken, buf, (size_t)n);
      else
        relay_output (r, r->o->out_fd, &r->out_broken, buf, (size_t)n);
      break;

    case HUSK_ATTACH_EXIT:
      {
        int32_t code = 0;

        if ((size_t)n >= sizeof (code))
          memcpy (&code, buf, sizeof (code));
        *exit_code = code;
        return 1;
      }

    default:
      /* Unknown types come from a newer monitor: ignore them.  */
      break;
    }
  return 0;
}

static int
relay_loop (struct relay *r, int *exit_code, husk_error_t *err)
{
  cleanup_free char *buf = xmalloc (HUSK_ATTACH_MAX);

  if (r->o->tty)
    relay_send_resize (r);

  for (;;)
    {
      struct pollfd fds[3];
      nfds_t n = 0, i_sock, i_in = (nfds_t)-1, i_sig = (nfds_t)-1;
      int ret;

      i_sock = n;
      fds[n++] = (struct pollfd){ .fd = r->sock, .events = POLLIN };
      if (r->in_fd >= 0)
        {
          i_in = n;
          fds[n++] = (struct pollfd){ .fd = r->in_fd, .events = POLLIN };
        }
      if (r->sigfd >= 0)
        {
          i_sig = n;
          fds[n++] = (struct pollfd){ .fd = r->sigfd, .events = POLLIN };
        }

      if (poll (fds, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return husk_make_error (err, errno, "poll");
        }

      if (i_sig != (nfds_t)-1 && fds[i_sig].revents)
        relay_signals (r);

      /* Output before input: an EXIT already queued wins over more stdin.
         One message per round, so a busy container never starves stdin
         (and the detach keys).  */
      if (fds[i_sock].revents)
        {
          ret = relay_socket (r, buf, exit_code, err);
          if (ret < 0)
            return ret;
          if (ret == 1)
            return 0;
        }

      if (i_in != (nfds_t)-1 && fds[i_in].revents)
        {
          ret = relay_stdin (r, err);
          if (ret != 0)
            return ret;
        }
    }
}

int
husk_attach_relay (int fd, const struct husk_attach_relay *o, int *exit_code, husk_error_t *err)
{
  struct relay r = { .sock = fd, .o = o, .in_fd = o->in_fd, .sigfd = -1 };
  struct husk_buf keys = { 0 };
  const char *spec = o->detach_keys;
  int ret;

  if (spec == NULL && o->tty)
    spec = "ctrl-p,ctrl-q";
  if (spec != NULL && spec[0] != '\0' && o->in_fd >= 0)
    {
      ret = detach_keys_parse (spec, &keys, err);
      if (ret < 0)
        {
          husk_buf_free (&keys);
          return ret;
        }
      r.nkeys = keys.len;
      r.keys = husk_buf_steal (&keys, NULL);
    }

  ret = relay_setup (&r, err);
  if (ret == 0)
    ret = relay_loop (&r, exit_code, err);
  relay_teardown (&r);
  return ret;
}
