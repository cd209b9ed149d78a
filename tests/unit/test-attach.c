/* Unit tests for monitor/attach.c (the client side of the attach protocol:
   datagrams, the relay with stdin, signals, a pty and the detach keys) and
   monitor/logs.c (k8s-file and json-file reading, since/until, tail,
   rotation, follow).  The monitor is played by a thread on the other end
   of a socketpair.  */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/fs.h"
#include "husk/monitor.h"
#include "husk/util.h"

static void
msleep (int ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

static void
make_pair (int sv[2])
{
  assert_int_equal (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static char *
read_all (int fd)
{
  struct husk_buf b = { 0 };
  char buf[4096];
  ssize_t n;

  while ((n = read (fd, buf, sizeof (buf))) > 0)
    husk_buf_append (&b, buf, (size_t)n);
  husk_buf_append (&b, "", 0);
  return husk_buf_steal (&b, NULL);
}

/* ---- send / recv ---- */

static void
test_send_recv (void **state)
{
  cleanup_free char *buf = xmalloc (HUSK_ATTACH_MAX);
  cleanup_free char *big = xzalloc (HUSK_ATTACH_MAX);
  int sv[2], type;
  ssize_t n;

  (void)state;
  make_pair (sv);
  assert_int_equal (husk_attach_send (sv[0], HUSK_ATTACH_STDOUT, "hello", 5), 0);
  assert_int_equal (husk_attach_send (sv[0], HUSK_ATTACH_DETACH, NULL, 0), 0);
  assert_int_equal (husk_attach_send (sv[0], HUSK_ATTACH_STDIN, big, HUSK_ATTACH_MAX - 1), 0);
  assert_int_equal (husk_attach_send (sv[0], HUSK_ATTACH_STDIN, big, HUSK_ATTACH_MAX), -EMSGSIZE);

  n = husk_attach_recv (sv[1], &type, buf);
  assert_int_equal (n, 5);
  assert_int_equal (type, HUSK_ATTACH_STDOUT);
  assert_memory_equal (buf, "hello", 5);
  n = husk_attach_recv (sv[1], &type, buf);
  assert_int_equal (n, 0);
  assert_int_equal (type, HUSK_ATTACH_DETACH);
  n = husk_attach_recv (sv[1], &type, buf);
  assert_int_equal (n, HUSK_ATTACH_MAX - 1);
  assert_int_equal (type, HUSK_ATTACH_STDIN);

  close (sv[0]);
  n = husk_attach_recv (sv[1], &type, buf);
  assert_int_equal (n, 0);
  assert_int_equal (type, -1);
  /* The peer is gone: no SIGPIPE, an error.  */
  assert_int_equal (husk_attach_send (sv[1], HUSK_ATTACH_STDIN, "x", 1), -EPIPE);
  close (sv[1]);
}

/* ---- the relay ---- */

/* What the fake monitor received, as text: "<type>:<payload>|".  */
struct fake_monitor
{
  int fd;
  struct husk_buf seen;
  int (*script) (struct fake_monitor *m);
  pthread_t main_thread;
  int aux; /* a script's parameter */
};

static int
fake_expect (struct fake_monitor *m, int want)
{
  char buf[HUSK_ATTACH_MAX];
  int type;
  ssize_t n;

  for (;;)
    {
      n = husk_attach_recv (m->fd, &type, buf);
      if (n < 0)
        return -1;
      if (type == HUSK_ATTACH_SIGNAL && n == 4)
        {
          int32_t sig;
          memcpy (&sig, buf, 4);
          husk_buf_printf (&m->seen, "%d:%d|", type, sig);
        }
      else if (type == HUSK_ATTACH_RESIZE && n == 4)
        {
          uint16_t d[2];
          memcpy (d, buf, 4);
          husk_buf_printf (&m->seen, "%d:%ux%u|", type, d[0], d[1]);
        }
      else if (type >= 0)
        {
          husk_buf_printf (&m->seen, "%d:", type);
          husk_buf_append (&m->seen, buf, (size_t)n);
          husk_buf_puts (&m->seen, "|");
        }
      if (type == want || type == -1)
        return type;
    }
}

static void
fake_exit (struct fake_monitor *m, int32_t code)
{
  assert_int_equal (husk_attach_send (m->fd, HUSK_ATTACH_EXIT, &code, sizeof (code)), 0);
}

static void *
fake_thread (void *arg)
{
  struct fake_monitor *m = arg;

  m->script (m);
  close (m->fd);
  return NULL;
}

static int
script_output (struct fake_monitor *m)
{
  husk_attach_send (m->fd, HUSK_ATTACH_STDOUT, "out1\n", 5);
  husk_attach_send (m->fd, HUSK_ATTACH_STDERR, "err1\n", 5);
  husk_attach_send (m->fd, HUSK_ATTACH_STDOUT, "out2\n", 5);
  fake_exit (m, 7);
  return 0;
}

static void
run_relay (struct fake_monitor *m, const struct husk_attach_relay *o, int *ret, int *code, husk_error_t *err)
{
  pthread_t t;
  int sv[2];

  make_pair (sv);
  m->fd = sv[1];
  m->main_thread = pthread_self ();
  assert_int_equal (pthread_create (&t, NULL, fake_thread, m), 0);
  *ret = husk_attach_relay (sv[0], o, code, err);
  pthread_join (t, NULL);
  close (sv[0]);
}

static void
test_relay_output (void **state)
{
  struct fake_monitor m = { .script = script_output };
  struct husk_attach_relay o = { .in_fd = -1 };
  husk_error_t err = NULL;
  cleanup_free char *out = NULL, *errs = NULL;
  int po[2], pe[2], ret, code = -1;

  (void)state;
  assert_int_equal (pipe (po), 0);
  assert_int_equal (pipe (pe), 0);
  o.out_fd = po[1];
  o.err_fd = pe[1];
  run_relay (&m, &o, &ret, &code, &err);
  assert_int_equal (ret, 0);
  assert_int_equal (code, 7);
  close (po[1]);
  close (pe[1]);
  out = read_all (po[0]);
  errs = read_all (pe[0]);
  assert_string_equal (out, "out1\nout2\n");
  assert_string_equal (errs, "err1\n");
  close (po[0]);
  close (pe[0]);
  husk_buf_free (&m.seen);
}

static int
script_vanish (struct fake_monitor *m)
{
  husk_attach_send (m->fd, HUSK_ATTACH_STDOUT, "bye", 3);
  return 0;
}

static void
test_relay_monitor_gone (void **state)
{
  struct fake_monitor m = { .script = script_vanish };
  struct husk_attach_relay o = { .in_fd = -1 };
  husk_error_t err = NULL;
  int po[2], ret, code = -1;

  (void)state;
  assert_int_equal (pipe (po), 0);
  o.out_fd = po[1];
  o.err_fd = po[1];
  run_relay (&m, &o, &ret, &code, &err);
  assert_true (ret < 0);
  assert_non_null (err);
  assert_string_equal (err->msg, "the container's monitor exited without an exit code");
  assert_int_equal (code, -1);
  husk_error_release (&err);
  close (po[0]);
  close (po[1]);
}

static int
script_stdin (struct fake_monitor *m)
{
  fake_expect (m, HUSK_ATTACH_STDIN_CLOSE);
  husk_attach_send (m->fd, HUSK_ATTACH_STDOUT, "after", 5);
  fake_exit (m, 3);
  return 0;
}

static void
test_relay_stdin (void **state)
{
  struct fake_monitor m = { .script = script_stdin };
  struct husk_attach_relay o = { .err_fd = -1 };
  husk_error_t err = NULL;
  cleanup_free char *out = NULL;
  int pi[2], po[2], ret, code = -1;

  (void)state;
  assert_int_equal (pipe (pi), 0);
  assert_int_equal (pipe (po), 0);
  assert_int_equal (write (pi[1], "abc\n", 4), 4);
  close (pi[1]);
  o.in_fd = pi[0];
  o.out_fd = po[1];
  run_relay (&m, &o, &ret, &code, &err);
  assert_int_equal (ret, 0);
  assert_int_equal (code, 3);
  /* No tty and no explicit keys: ctrl-p is data, not detach.  */
  assert_string_equal (m.seen.data, "0:abc\n|3:|");
  close (po[1]);
  out = read_all (po[0]);
  assert_string_equal (out, "after");
  close (po[0]);
  close (pi[0]);
  husk_buf_free (&m.seen);
}

struct slow_writer
{
  int fd;
  const char *const *pieces;
};

static void *
slow_writer_thread (void *arg)
{
  struct slow_writer *w = arg;
  size_t i;

  for (i = 0; w->pieces[i]; i++)
    {
      msleep (30);
      if (write (w->fd, w->pieces[i], strlen (w->pieces[i])) < 0)
        break;
    }
  return NULL;
}

static int
script_until_detach (struct fake_monitor *m)
{
  if (fake_expect (m, HUSK_ATTACH_DETACH) != HUSK_ATTACH_DETACH)
    return -1;
  return 0;
}

/* Explicit keys on a pipe; the sequence split across reads, and a broken
   prefix sent as data.  */
static void
test_relay_detach_pipe (void **state)
{
  static const char *const pieces[] = { "a\x18", "b", "\x18", "\x18", "\x11", NULL };
  struct fake_monitor m = { .script = script_until_detach };
  struct husk_attach_relay o = { .err_fd = -1, .detach_keys = "ctrl-x,ctrl-q" };
  struct slow_writer w = { .pieces = pieces };
  husk_error_t err = NULL;
  pthread_t t;
  int pi[2], ret, code = -1;

  (void)state;
  assert_int_equal (pipe (pi), 0);
  o.in_fd = pi[0];
  o.out_fd = -1;
  w.fd = pi[1];
  pthread_create (&t, NULL, slow_writer_thread, &w);
  run_relay (&m, &o, &ret, &code, &err);
  pthread_join (t, NULL);
  assert_int_equal (ret, 1);
  assert_int_equal (code, -1);
  /* "a", then the held ctrl-x released by "b", then ctrl-x ctrl-x ctrl-q:
     the first ctrl-x is data, the last two detach.  */
  {
    const char *s = m.seen.data;
    struct husk_buf data = { 0 };

    /* Join the STDIN payloads: how reads split them does not matter.  */
    while (husk_has_prefix (s, "0:"))
      {
        const char *end = strchr (s, '|');
        husk_buf_append (&data, s + 2, (size_t)(end - s - 2));
        s = end + 1;
      }
    assert_string_equal (data.data, "a\x18"
                                    "b\x18");
    assert_string_equal (s, "7:|");
    husk_buf_free (&data);
  }
  close (pi[0]);
  close (pi[1]);
  husk_buf_free (&m.seen);
}

static void
test_relay_bad_keys (void **state)
{
  struct husk_attach_relay o = { .in_fd = 0, .out_fd = 1, .err_fd = 2, .detach_keys = "ctrl-1" };
  husk_error_t err = NULL;
  int code, sv[2];

  (void)state;
  make_pair (sv);
  assert_true (husk_attach_relay (sv[0], &o, &code, &err) < 0);
  assert_non_null (strstr (err->msg, "invalid detach keys"));
  husk_error_release (&err);
  close (sv[0]);
  close (sv[1]);
}

/* A pty: raw mode while relaying and restored after, the initial RESIZE,
   SIGWINCH, the default ctrl-p,ctrl-q.  */
static int
script_tty (struct fake_monitor *m)
{
  struct winsize ws = { .ws_row = 50, .ws_col = 132 };
  int slave = m->aux;

  fake_expect (m, HUSK_ATTACH_RESIZE);
  /* Changing the size raises SIGWINCH for the pty's foreground group, which
     a test process is not; send it to the relaying thread.  */
  ioctl (slave, TIOCSWINSZ, &ws);
  pthread_kill (m->main_thread, SIGWINCH);
  fake_expect (m, HUSK_ATTACH_RESIZE);
  fake_expect (m, HUSK_ATTACH_DETACH);
  return 0;
}

static void
test_relay_tty (void **state)
{
  static const char *const pieces[] = { "ls\r", "\x10", "x", "\x10", "\x11", "never", NULL };
  struct fake_monitor m = { .script = script_tty };
  struct winsize ws = { .ws_row = 24, .ws_col = 80 };
  struct husk_attach_relay o = { .err_fd = -1, .tty = true };
  struct slow_writer w = { .pieces = pieces };
  struct termios before, after;
  husk_error_t err = NULL;
  pthread_t t;
  int master, slave, ret, code = -1;

  (void)state;
  assert_int_equal (openpty (&master, &slave, NULL, NULL, &ws), 0);
  assert_int_equal (tcgetattr (slave, &before), 0);
  assert_true (before.c_lflag & ICANON);
  m.aux = slave;
  o.in_fd = slave;
  o.out_fd = slave;
  w.fd = master;
  pthread_create (&t, NULL, slow_writer_thread, &w);
  run_relay (&m, &o, &ret, &code, &err);
  pthread_join (t, NULL);
  assert_int_equal (ret, 1);
  assert_int_equal (tcgetattr (slave, &after), 0);
  assert_int_equal (after.c_lflag, before.c_lflag);
  assert_int_equal (after.c_iflag, before.c_iflag);
  {
    const char *s = m.seen.data;
    struct husk_buf data = { 0 };

    assert_true (husk_has_prefix (s, "4:24x80|"));
    s += strlen ("4:24x80|");
    while (husk_has_prefix (s, "0:") || husk_has_prefix (s, "4:"))
      {
        const char *end = strchr (s, '|');
        if (s[0] == '0')
          husk_buf_append (&data, s + 2, (size_t)(end - s - 2));
        else
          assert_true (husk_has_prefix (s, "4:50x132|"));
        s = end + 1;
      }
    /* Raw mode: "\r" arrives as is (no ICRNL), ctrl-p then x is data.  */
    assert_string_equal (data.data, "ls\r\x10x");
    assert_string_equal (s, "7:|");
    husk_buf_free (&data);
  }
  close (master);
  close (slave);
  husk_buf_free (&m.seen);
}

static int
script_signal (struct fake_monitor *m)
{
  fake_expect (m, HUSK_ATTACH_STDIN);
  /* The relay has blocked the signal by now: it reads stdin only after.  */
  pthread_kill (m->main_thread, SIGUSR1);
  fake_expect (m, HUSK_ATTACH_SIGNAL);
  fake_exit (m, 0);
  return 0;
}

static void
test_relay_sig_proxy (void **state)
{
  struct fake_monitor m = { .script = script_signal };
  struct husk_attach_relay o = { .err_fd = -1, .out_fd = -1, .sig_proxy = true };
  husk_error_t err = NULL;
  sigset_t mask;
  int pi[2], ret, code = -1;
  cleanup_free char *want = xasprintf ("0:go|5:%d|", SIGUSR1);

  (void)state;
  assert_int_equal (pipe (pi), 0);
  assert_int_equal (write (pi[1], "go", 2), 2);
  o.in_fd = pi[0];
  run_relay (&m, &o, &ret, &code, &err);
  assert_int_equal (ret, 0);
  assert_int_equal (code, 0);
  assert_string_equal (m.seen.data, want);
  pthread_sigmask (SIG_SETMASK, NULL, &mask);
  assert_false (sigismember (&mask, SIGUSR1));
  assert_false (sigismember (&mask, SIGINT));
  close (pi[0]);
  close (pi[1]);
  husk_buf_free (&m.seen);
}

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A listener where the monitor puts it; the runroot deep enough that the
   socket path exceeds sun_path.  */
static void
check_connect (const char *runroot)
{
  struct husk_store_opts opts = { 0 };
  cleanup_store husk_store_t *s = NULL;
  cleanup_free char *tmp = xstrdup ("/tmp/husk-test-attach-XXXXXX");
  cleanup_free char *root = NULL, *run = NULL, *cdir = NULL, *sockpath = NULL;
  char buf[HUSK_ATTACH_MAX];
  husk_error_t err = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int lfd, dfd, cfd = -1, afd, type;

  assert_non_null (mkdtemp (tmp));
  root = xasprintf ("%s/root", tmp);
  run = xasprintf ("%s/%s", tmp, runroot);
  opts.root = root;
  opts.runroot = run;
  if (husk_store_open (&opts, &s, &err) < 0)
    fail_msg ("%s", err->msg);

  assert_true (husk_attach_connect (s, ID, &cfd, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);

  cdir = xasprintf ("%s/containers/%s", run, ID);
  assert_int_equal (husk_mkdir_p (cdir, 0700, &err), 0);
  dfd = open (cdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0);
  sockpath = xasprintf ("/proc/self/fd/%d/attach", dfd);
  memcpy (addr.sun_path, sockpath, strlen (sockpath) + 1);
  lfd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  assert_int_equal (bind (lfd, (struct sockaddr *)&addr, sizeof (addr)), 0);
  assert_int_equal (listen (lfd, 1), 0);

  if (husk_attach_connect (s, ID, &cfd, &err) < 0)
    fail_msg ("%s", err->msg);
  afd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
  assert_true (afd >= 0);
  assert_int_equal (husk_attach_send (cfd, HUSK_ATTACH_RESIZE, "\1\0\2\0", 4), 0);
  assert_int_equal (husk_attach_recv (afd, &type, buf), 4);
  assert_int_equal (type, HUSK_ATTACH_RESIZE);
  assert_true (fcntl (cfd, F_GETFD) & FD_CLOEXEC);
  close (afd);
  close (cfd);
  close (lfd);
  close (dfd);

  assert_int_equal (husk_rm_rf_at (AT_FDCWD, tmp, &err), 0);
}

static void
test_connect (void **state)
{
  cleanup_free char *deep = NULL;
  struct husk_buf b = { 0 };
  int i;

  (void)state;
  check_connect ("run");
  for (i = 0; i < 8; i++)
    husk_buf_puts (&b, "a-rather-long-directory-name/");
  husk_buf_puts (&b, "run");
  deep = husk_buf_steal (&b, NULL);
  check_connect (deep);
}

/* ---- logs ---- */

struct logdir
{
  char *dir;
  char *path;
};

static int
log_setup (void **state)
{
  struct logdir *l = xzalloc (sizeof (*l));

  l->dir = xstrdup ("/tmp/husk-test-logs-XXXXXX");
  assert_non_null (mkdtemp (l->dir));
  l->path = xasprintf ("%s/ctr.log", l->dir);
  *state = l;
  return 0;
}

static int
log_teardown (void **state)
{
  struct logdir *l = *state;
  husk_error_t err = NULL;

  assert_int_equal (husk_rm_rf_at (AT_FDCWD, l->dir, &err), 0);
  free (l->dir);
  free (l->path);
  free (l);
  return 0;
}

static void
write_file (const char *path, const char *text, bool append)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
  close (fd);
}

struct collected
{
  struct husk_buf text; /* "<stream><F|P>:<data>|" */
  int64_t first_time;
  int stop_after; /* 0: never */
  int count;
  volatile bool running;
};

static int
collect (const struct husk_log_entry *e, void *ctx)
{
  struct collected *c = ctx;

  if (c->count++ == 0)
    c->first_time = e->time;
  husk_buf_printf (&c->text, "%d%c:", e->stream, e->partial ? 'P' : 'F');
  husk_buf_append (&c->text, e->data, e->len);
  husk_buf_puts (&c->text, "|");
  return c->stop_after != 0 && c->count >= c->stop_after;
}

static bool
collect_running (void *ctx)
{
  struct collected *c = ctx;
  return c->running;
}

static char *
read_log (struct husk_log_query *q)
{
  struct collected c = { 0 };
  husk_error_t err = NULL;

  if (husk_log_read (q, collect, &c, &err) < 0)
    fail_msg ("%s", err->msg);
  husk_buf_puts (&c.text, "");
  return husk_buf_steal (&c.text, NULL);
}

#define T(s) "2024-05-06T07:08:0" #s ".123456789Z "

static const char k8s_text[] = T (1) "stdout F hello\n"   /* */
    T (2) "stderr F oops\n"                               /* */
    T (3) "stdout P part1\n"                              /* */
    T (4) "stdout P part2\n"                              /* */
    T (5) "stdout F end\n"                                /* */
          "garbage line\n"                                /* */
          "2024-05-06T09:08:06.5+02:00 stdout F offset\n" /* */
    T (7) "stdout F\n"                                    /* */
    T (8) "stdout F incompl";

static void
test_log_k8s (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = { .driver = HUSK_LOG_K8S_FILE, .path = l->path, .tail = -1 };
  struct collected c = { 0 };
  husk_error_t err = NULL;
  cleanup_free char *all = NULL;

  /* Missing: no entries.  */
  all = read_log (&q);
  assert_string_equal (all, "");
  free (all);

  write_file (l->path, k8s_text, false);
  all = read_log (&q);
  assert_string_equal (all, "1F:hello|2F:oops|1P:part1|1P:part2|1F:end|1F:offset|1F:|");

  assert_int_equal (husk_log_read (&q, collect, &c, &err), 0);
  assert_int_equal (c.first_time, 1714979281123456789LL);
  husk_buf_free (&c.text);

  /* fn stops the read.  */
  memset (&c, 0, sizeof (c));
  c.stop_after = 2;
  assert_int_equal (husk_log_read (&q, collect, &c, &err), 0);
  assert_int_equal (c.count, 2);
  husk_buf_free (&c.text);

  q.driver = HUSK_LOG_NONE;
  assert_true (husk_log_read (&q, collect, &c, &err) < 0);
  assert_string_equal (err->msg, "logs are not available: the container's log driver is none");
  husk_error_release (&err);
}

static void
test_log_since_until (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = { .driver = HUSK_LOG_K8S_FILE, .path = l->path, .tail = -1 };
  cleanup_free char *a = NULL, *b = NULL;

  write_file (l->path, k8s_text, false);
  assert_true (husk_parse_rfc3339 ("2024-05-06T07:08:03.123456789Z", &q.since));
  assert_true (husk_parse_rfc3339 ("2024-05-06T07:08:05Z", &q.until));
  a = read_log (&q);
  assert_string_equal (a, "1P:part1|1P:part2|");
  /* The +02:00 entry is 07:08:06.5 UTC.  */
  assert_true (husk_parse_rfc3339 ("2024-05-06T07:08:06.4Z", &q.since));
  q.until = 0;
  b = read_log (&q);
  assert_string_equal (b, "1F:offset|1F:|");
}

static void
test_log_tail (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = { .driver = HUSK_LOG_K8S_FILE, .path = l->path };
  cleanup_free char *rotated = xasprintf ("%s.1", l->path);
  char *s;

  write_file (l->path, k8s_text, false);
  q.tail = 0;
  s = read_log (&q);
  assert_string_equal (s, "");
  free (s);
  q.tail = 1;
  s = read_log (&q);
  assert_string_equal (s, "1F:|");
  free (s);
  q.tail = 2;
  s = read_log (&q);
  assert_string_equal (s, "1F:offset|1F:|");
  free (s);
  /* The P P F run counts as one line.  */
  q.tail = 3;
  s = read_log (&q);
  assert_string_equal (s, "1P:part1|1P:part2|1F:end|1F:offset|1F:|");
  free (s);
  q.tail = 100;
  s = read_log (&q);
  assert_string_equal (s, "1F:hello|2F:oops|1P:part1|1P:part2|1F:end|1F:offset|1F:|");
  free (s);

  /* A trailing run of P records is a line too.  */
  write_file (l->path, T (1) "stdout F a\n" T (2) "stdout P b\n" T (3) "stdout P c\n", false);
  q.tail = 1;
  s = read_log (&q);
  assert_string_equal (s, "1P:b|1P:c|");
  free (s);

  /* The rotated file is read first, and tail reaches into it.  */
  write_file (rotated, T (1) "stdout F r1\n" T (2) "stdout F r2\n" T (3) "stdout F r3\n", false);
  write_file (l->path, T (4) "stdout F c1\n" T (5) "stdout F c2\n", false);
  q.tail = -1;
  s = read_log (&q);
  assert_string_equal (s, "1F:r1|1F:r2|1F:r3|1F:c1|1F:c2|");
  free (s);
  q.tail = 3;
  s = read_log (&q);
  assert_string_equal (s, "1F:r3|1F:c1|1F:c2|");
  free (s);
  q.tail = 2;
  s = read_log (&q);
  assert_string_equal (s, "1F:c1|1F:c2|");
  free (s);
  q.tail = 9;
  s = read_log (&q);
  assert_string_equal (s, "1F:r1|1F:r2|1F:r3|1F:c1|1F:c2|");
  free (s);
  unlink (rotated);
}

/* Many blocks: the backward scan crosses block boundaries.  */
static void
test_log_tail_big (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = { .driver = HUSK_LOG_K8S_FILE, .path = l->path, .tail = 3 };
  struct husk_buf b = { 0 };
  cleanup_free char *s = NULL;
  int i;

  for (i = 0; i < 20000; i++)
    husk_buf_printf (&b, T (1) "stdout F line %d\n", i);
  /* A long record that spans blocks.  */
  husk_buf_puts (&b, T (2) "stdout F ");
  for (i = 0; i < 100000; i++)
    husk_buf_puts (&b, "x");
  husk_buf_puts (&b, "\n" T (3) "stdout F last\n");
  write_file (l->path, b.data, false);
  s = read_log (&q);
  assert_int_equal (strlen (s), strlen ("1F:line 19999|1F:|1F:last|") + 100000);
  assert_true (husk_has_prefix (s, "1F:line 19999|1F:xxx"));
  assert_true (husk_has_suffix (s, "xx|1F:last|"));
  free (s);
  q.tail = 20002;
  s = read_log (&q);
  assert_true (husk_has_prefix (s, "1F:line 0|1F:line 1|"));
  husk_buf_free (&b);
}

static void
test_log_json (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = { .driver = HUSK_LOG_JSON_FILE, .path = l->path, .tail = -1 };
  cleanup_free char *s = NULL, *t = NULL;

  write_file (l->path,
              "{\"log\":\"hello \\\"you\\\"\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-06T07:08:01.5Z\"}\n"
              "{\"log\":\"no newline\",\"stream\":\"stderr\",\"time\":\"2024-05-06T07:08:02Z\"}\n"
              "{\"log\":\"\\n\",\"stream\":\"stderr\",\"time\":\"2024-05-06T07:08:03+00:00\"}\n"
              "not json\n"
              "{\"log\":\"cut",
              false);
  s = read_log (&q);
  assert_string_equal (s, "1F:hello \"you\"|2P:no newline|2F:|");
  /* The P record and the F record are one line.  */
  q.tail = 1;
  t = read_log (&q);
  assert_string_equal (t, "2P:no newline|2F:|");
}

struct appender
{
  const char *path;
  struct collected *c;
};

static void *
appender_thread (void *arg)
{
  struct appender *a = arg;
  cleanup_free char *rotated = xasprintf ("%s.1", a->path);

  msleep (50);
  write_file (a->path, T (2) "stdout F two\n", true);
  /* A writer caught in the middle of a record.  */
  write_file (a->path, T (3) "stdout F thr", true);
  msleep (300);
  write_file (a->path, "ee\n", true);
  msleep (50);
  /* Rotation: the old file moves to .1, a new one starts.  */
  rename (a->path, rotated);
  write_file (a->path, T (4) "stdout F four\n", true);
  msleep (50);
  write_file (a->path, T (5) "stderr F five\n", true);
  a->c->running = false;
  return NULL;
}

static void
test_log_follow (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = {
    .driver = HUSK_LOG_K8S_FILE, .path = l->path, .tail = 1, .follow = true, .running = collect_running
  };
  struct collected c = { .running = true };
  struct appender a = { .path = l->path, .c = &c };
  husk_error_t err = NULL;
  pthread_t t;

  write_file (l->path, T (0) "stdout F zero\n" T (1) "stdout F one\n", false);
  pthread_create (&t, NULL, appender_thread, &a);
  if (husk_log_read (&q, collect, &c, &err) < 0)
    fail_msg ("%s", err->msg);
  pthread_join (t, NULL);
  husk_buf_puts (&c.text, "");
  assert_string_equal (c.text.data, "1F:one|1F:two|1F:three|1F:four|2F:five|");
  husk_buf_free (&c.text);
}

/* Following a log that does not exist yet.  */
static void *
late_thread (void *arg)
{
  struct appender *a = arg;

  msleep (100);
  write_file (a->path, T (1) "stdout F late\n", true);
  msleep (250);
  a->c->running = false;
  return NULL;
}

static void
test_log_follow_late (void **state)
{
  struct logdir *l = *state;
  struct husk_log_query q = {
    .driver = HUSK_LOG_K8S_FILE, .path = l->path, .tail = -1, .follow = true, .running = collect_running
  };
  struct collected c = { .running = true };
  struct appender a = { .path = l->path, .c = &c };
  husk_error_t err = NULL;
  pthread_t t;

  pthread_create (&t, NULL, late_thread, &a);
  assert_int_equal (husk_log_read (&q, collect, &c, &err), 0);
  pthread_join (t, NULL);
  husk_buf_puts (&c.text, "");
  assert_string_equal (c.text.data, "1F:late|");
  husk_buf_free (&c.text);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_send_recv),
    cmocka_unit_test (test_relay_output),
    cmocka_unit_test (test_relay_monitor_gone),
    cmocka_unit_test (test_relay_stdin),
    cmocka_unit_test (test_relay_detach_pipe),
    cmocka_unit_test (test_relay_bad_keys),
    cmocka_unit_test (test_relay_tty),
    cmocka_unit_test (test_relay_sig_proxy),
    cmocka_unit_test (test_connect),
    cmocka_unit_test_setup_teardown (test_log_k8s, log_setup, log_teardown),
    cmocka_unit_test_setup_teardown (test_log_since_until, log_setup, log_teardown),
    cmocka_unit_test_setup_teardown (test_log_tail, log_setup, log_teardown),
    cmocka_unit_test_setup_teardown (test_log_tail_big, log_setup, log_teardown),
    cmocka_unit_test_setup_teardown (test_log_json, log_setup, log_teardown),
    cmocka_unit_test_setup_teardown (test_log_follow, log_setup, log_teardown),
    cmocka_unit_test_setup_teardown (test_log_follow_late, log_setup, log_teardown),
  };

  /* A closed pipe in a test must fail a write, not kill the run.  */
  signal (SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
