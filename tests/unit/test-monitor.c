/* Unit tests for the monitor (monitor.c, log-writer.c, policy.c).

   The parsers and the log writer run as anyone.  The end-to-end tests
   need root: they build a rootfs of /bin/busybox (busybox-static) with
   applet symlinks, open a store on a temp root, create container records
   and run real containers through husk_monitor_start, reading the attach
   protocol from the foreground client's socketpair.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/monitor.h"
#include "husk/store.h"
#include "husk/util.h"
#include "src/monitor/monitor-internal.h"

static char *tmpdir;
static char *rootfs;
static bool have_rootfs;
static husk_store_t *store;
static unsigned counter;

static char *const default_env[] = {
  (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  NULL,
};

#define ARGV(...) ((char *const *)(const char *const[]){ __VA_ARGS__, NULL })

static int
run_shell (const char *cmd)
{
  int status = system (cmd);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static char *
read_file (const char *path)
{
  husk_error_t err = NULL;
  char *data = NULL;

  if (husk_read_file_at (AT_FDCWD, path, 0, &data, NULL, &err) < 0)
    {
      husk_error_release (&err);
      return NULL;
    }
  return data;
}

static int
group_setup (void **state)
{
  struct husk_store_opts opts;
  husk_error_t err = NULL;
  cleanup_free char *cmd = NULL;
  cleanup_free char *root = NULL;
  cleanup_free char *runroot = NULL;

  tmpdir = xstrdup ("/tmp/husk-test-monitor-XXXXXX");
  if (mkdtemp (tmpdir) == NULL)
    return -1;
  if (geteuid () != 0 || access ("/bin/busybox", X_OK) < 0)
    return 0;
  rootfs = xasprintf ("%s/rootfs", tmpdir);
  cmd = xasprintf (
      "set -e; cd %s; mkdir -p rootfs/bin rootfs/proc rootfs/sys rootfs/dev rootfs/etc rootfs/tmp; "
      "cp /bin/busybox rootfs/bin/; for a in sh echo cat sleep true tty yes head tail stty; do "
      "ln -s busybox rootfs/bin/$a; done",
      tmpdir);
  if (run_shell (cmd) != 0)
    return 0;

  root = xasprintf ("%s/root", tmpdir);
  runroot = xasprintf ("%s/run", tmpdir);
  memset (&opts, 0, sizeof (opts));
  opts.root = root;
  opts.runroot = runroot;
  if (husk_store_open (&opts, &store, &err) < 0)
    {
      fprintf (stderr, "store: %s\n", err->msg);
      husk_error_release (&err);
      return -1;
    }
  have_rootfs = true;
  return 0;
}

static int
group_teardown (void **state)
{
  cleanup_free char *cmd = xasprintf ("rm -rf %s", tmpdir);

  husk_store_close (store);
  run_shell (cmd);
  run_shell ("rmdir /sys/fs/cgroup/*/husk-test-monitor /sys/fs/cgroup/husk-test-monitor 2>/dev/null");
  free (tmpdir);
  free (rootfs);
  return 0;
}

#define NEED_ROOT()                                                                                          \
  do                                                                                                         \
    {                                                                                                        \
      if (!have_rootfs)                                                                                      \
        skip ();                                                                                             \
    }                                                                                                        \
  while (0)

/* ---- policy.c ---- */

static void
test_restart_policy_parse (void **state)
{
  struct husk_restart_policy p;
  husk_error_t err = NULL;

  assert_int_equal (husk_restart_policy_parse ("no", &p, &err), 0);
  assert_int_equal (p.name, HUSK_RESTART_NO);
  assert_int_equal (husk_restart_policy_parse ("", &p, &err), 0);
  assert_int_equal (p.name, HUSK_RESTART_NO);
  assert_int_equal (husk_restart_policy_parse ("always", &p, &err), 0);
  assert_int_equal (p.name, HUSK_RESTART_ALWAYS);
  assert_int_equal (husk_restart_policy_parse ("unless-stopped", &p, &err), 0);
  assert_int_equal (p.name, HUSK_RESTART_UNLESS_STOPPED);
  assert_int_equal (husk_restart_policy_parse ("on-failure", &p, &err), 0);
  assert_int_equal (p.name, HUSK_RESTART_ON_FAILURE);
  assert_int_equal (p.max_retries, 0);
  assert_int_equal (husk_restart_policy_parse ("on-failure:5", &p, &err), 0);
  assert_int_equal (p.name, HUSK_RESTART_ON_FAILURE);
  assert_int_equal (p.max_retries, 5);
  assert_string_equal (husk_restart_name_str (HUSK_RESTART_UNLESS_STOPPED), "unless-stopped");
  assert_string_equal (husk_restart_name_str (HUSK_RESTART_ON_FAILURE), "on-failure");

  assert_true (husk_restart_policy_parse ("sometimes", &p, &err) < 0);
  assert_non_null (strstr (err->msg, "invalid restart policy \"sometimes\""));
  assert_int_equal (err->status, EINVAL);
  husk_error_release (&err);
  assert_true (husk_restart_policy_parse ("always:3", &p, &err) < 0);
  assert_non_null (strstr (err->msg, "invalid restart policy \"always:3\""));
  husk_error_release (&err);
  assert_true (husk_restart_policy_parse ("on-failure:x", &p, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_restart_policy_parse ("on-failure:-1", &p, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_restart_policy_parse ("on-failure:", &p, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_restart_policy_parse ("no:1", &p, &err) < 0);
  husk_error_release (&err);
}

static void
test_log_driver_parse (void **state)
{
  enum husk_log_driver d;
  husk_error_t err = NULL;

  assert_int_equal (husk_log_driver_parse ("k8s-file", &d, &err), 0);
  assert_int_equal (d, HUSK_LOG_K8S_FILE);
  assert_int_equal (husk_log_driver_parse ("json-file", &d, &err), 0);
  assert_int_equal (d, HUSK_LOG_JSON_FILE);
  assert_int_equal (husk_log_driver_parse ("none", &d, &err), 0);
  assert_int_equal (d, HUSK_LOG_NONE);
  assert_string_equal (husk_log_driver_name (HUSK_LOG_JSON_FILE), "json-file");
  assert_string_equal (husk_log_driver_name (HUSK_LOG_K8S_FILE), "k8s-file");
  assert_string_equal (husk_log_driver_name (HUSK_LOG_NONE), "none");

  assert_true (husk_log_driver_parse ("journald", &d, &err) < 0);
  assert_string_equal (err->msg, "log driver \"journald\" is not supported: use k8s-file, json-file or none");
  assert_int_equal (err->status, EINVAL);
  husk_error_release (&err);
}

/* ---- log-writer.c ---- */

/* 2026-11-23T01:02:03.123456789Z: 30 characters.  */
static void
assert_timestamp (const char *line)
{
  assert_true (strlen (line) >= 30);
  assert_int_equal (line[4], '-');
  assert_int_equal (line[10], 'T');
  assert_int_equal (line[19], '.');
  assert_int_equal (line[29], 'Z');
}

static char *
next_line (char **p)
{
  char *line = *p, *nl;

  if (line == NULL || *line == '\0')
    return NULL;
  nl = strchr (line, '\n');
  assert_non_null (nl);
  *nl = '\0';
  *p = nl + 1;
  return line;
}

static void
test_log_k8s (void **state)
{
  cleanup_free char *path = xasprintf ("%s/k8s.log", tmpdir);
  cleanup_free char *data = NULL;
  struct monitor_log *w = NULL;
  husk_error_t err = NULL;
  const int64_t t = 1795395723123456789LL; /* 2026-11-23T01:02:03.123456789Z */
  char *p, *line;
  struct stat st;

  assert_int_equal (monitor_log_open (HUSK_LOG_K8S_FILE, path, 0, &w, &err), 0);
  assert_int_equal (monitor_log_write (w, 1, "one\ntwo\nthr", 11, t), 0);
  assert_int_equal (monitor_log_write (w, 1, "ee\n", 3, t), 0);
  assert_int_equal (monitor_log_write (w, 2, "\n", 1, t), 0);
  assert_int_equal (monitor_log_write (w, 1, "leap\n", 5, 951782400LL * 1000000000LL + 5), 0);
  assert_int_equal (monitor_log_write (w, 1, "epoch\n", 6, 0), 0);
  assert_int_equal (monitor_log_write (w, 1, "eoy\n", 4, 1704067199999999999LL), 0);
  monitor_log_close (w);

  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  data = read_file (path);
  assert_non_null (data);
  p = data;
  line = next_line (&p);
  assert_string_equal (line, "2026-11-23T01:02:03.123456789Z stdout F one");
  line = next_line (&p);
  assert_string_equal (line + 30, " stdout F two");
  line = next_line (&p);
  assert_string_equal (line + 30, " stdout P thr");
  line = next_line (&p);
  assert_string_equal (line + 30, " stdout F ee");
  line = next_line (&p);
  assert_string_equal (line + 30, " stderr F ");
  assert_string_equal (next_line (&p), "2000-02-29T00:00:00.000000005Z stdout F leap");
  assert_string_equal (next_line (&p), "1970-01-01T00:00:00.000000000Z stdout F epoch");
  assert_string_equal (next_line (&p), "2023-12-31T23:59:59.999999999Z stdout F eoy");
  assert_null (next_line (&p));
}

static void
test_log_json (void **state)
{
  cleanup_free char *path = xasprintf ("%s/json.log", tmpdir);
  cleanup_free char *data = NULL;
  struct monitor_log *w = NULL;
  husk_error_t err = NULL;
  const int64_t t = 1795395723000000000LL;
  char *p;

  assert_int_equal (monitor_log_open (HUSK_LOG_JSON_FILE, path, 0, &w, &err), 0);
  assert_int_equal (monitor_log_write (w, 1, "a \"q\"\\\t\n", 8, t), 0);
  assert_int_equal (monitor_log_write (w, 2, "bad \xff\x01 \xc3\xa9", 9, t), 0);
  monitor_log_close (w);

  data = read_file (path);
  p = data;
  assert_string_equal (
      next_line (&p),
      "{\"log\":\"a "
      "\\\"q\\\"\\\\\\t\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T01:02:03.000000000Z\"}");
  assert_string_equal (next_line (&p),
                       "{\"log\":\"bad \\ufffd\\u0001 \xc3\xa9\",\"stream\":\"stderr\",\"time\":"
                       "\"2026-11-23T01:02:03.000000000Z\"}");
  assert_null (next_line (&p));
}

static void
test_log_rotation (void **state)
{
  cleanup_free char *path = xasprintf ("%s/rot.log", tmpdir);
  cleanup_free char *old = xasprintf ("%s/rot.log.1", tmpdir);
  cleanup_free char *data = NULL;
  struct monitor_log *w = NULL;
  husk_error_t err = NULL;
  struct stat st, st1;
  int i;

  /* Each record: 30 + 10 + 9 + 1 = 50 bytes; 4 fit in 220.  */
  assert_int_equal (monitor_log_open (HUSK_LOG_K8S_FILE, path, 220, &w, &err), 0);
  for (i = 0; i < 10; i++)
    {
      char line[16];
      snprintf (line, sizeof (line), "line-%04d\n", i);
      assert_int_equal (monitor_log_write (w, 1, line, 10, husk_now_ns ()), 0);
    }
  monitor_log_close (w);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (stat (old, &st1), 0);
  assert_true (st.st_size <= 220);
  assert_true (st1.st_size <= 220);
  assert_int_equal (st.st_size, 2 * 50); /* 10 = 4 + 4 + 2 */
  assert_int_equal (st1.st_size, 4 * 50);
  data = read_file (path);
  assert_non_null (strstr (data, "line-0009"));
  assert_non_null (strstr (data, "line-0008"));
  free (data);
  data = read_file (old);
  assert_non_null (strstr (data, "line-0004"));
  assert_null (strstr (data, "line-0003"));

  /* none writes nothing.  */
  free (path);
  path = xasprintf ("%s/none.log", tmpdir);
  assert_int_equal (monitor_log_open (HUSK_LOG_NONE, path, 0, &w, &err), 0);
  assert_int_equal (monitor_log_write (w, 1, "x\n", 2, husk_now_ns ()), 0);
  monitor_log_close (w);
  assert_int_equal (access (path, F_OK), -1);
}

/* ---- end to end ---- */

struct tctr
{
  char *id;
  char *log_path;
  struct husk_run_spec spec;
  struct husk_monitor_config cfg;
  int sv[2];
};

static void
tctr_init (struct tctr *c, char *const *argv)
{
  struct husk_container_new n;
  husk_error_t err = NULL;
  char *dir;

  memset (c, 0, sizeof (*c));
  counter++;
  c->id = husk_store_container_new_id ();
  memset (&n, 0, sizeof (n));
  n.id = c->id;
  n.image_id = "0000000000000000000000000000000000000000000000000000000000000000";
  n.image_name = "localhost/busybox:latest";
  n.command = argv;
  n.config = "{}";
  n.config_len = 2;
  assert_int_equal (husk_store_lock (store, true, &err), 0);
  if (husk_store_container_create (store, &n, NULL, &err) < 0)
    fail_msg ("container create: %s", err->msg);
  husk_store_unlock (store);

  dir = husk_store_container_dir (store, c->id);
  c->log_path = xasprintf ("%s/ctr.log", dir);
  free (dir);

  c->spec.id = c->id;
  c->spec.argv = argv;
  c->spec.env = default_env;
  c->spec.rootfs.dir = rootfs;

  c->cfg.store = store;
  c->cfg.id = c->id;
  c->cfg.spec = &c->spec;
  c->cfg.log_driver = HUSK_LOG_K8S_FILE;
  c->cfg.log_path = c->log_path;
  c->cfg.client_fd = -1;
  c->sv[0] = c->sv[1] = -1;
}

static void
tctr_client (struct tctr *c)
{
  assert_int_equal (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->sv), 0);
  c->cfg.client_fd = c->sv[1];
}

static int
tctr_start (struct tctr *c, pid_t *pid, husk_error_t *err)
{
  int ret = husk_monitor_start (&c->cfg, pid, err);

  if (c->sv[1] >= 0)
    {
      close (c->sv[1]);
      c->sv[1] = -1;
    }
  return ret;
}

static void
tctr_free (struct tctr *c)
{
  if (c->sv[0] >= 0)
    close (c->sv[0]);
  free (c->id);
  free (c->log_path);
}

struct collected
{
  struct husk_buf out, err;
  int exit_code;
  bool got_exit;
};

/* Read messages until EXIT (or the socket closes).  */
static void
collect (int fd, struct collected *col)
{
  cleanup_free char *buf = xmalloc (HUSK_ATTACH_MAX);

  memset (col, 0, sizeof (*col));
  for (;;)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      ssize_t n;

      assert_true (poll (&p, 1, 60000) == 1);
      n = recv (fd, buf, HUSK_ATTACH_MAX, 0);
      if (n <= 0)
        break;
      if (buf[0] == HUSK_ATTACH_STDOUT)
        husk_buf_append (&col->out, buf + 1, (size_t)n - 1);
      else if (buf[0] == HUSK_ATTACH_STDERR)
        husk_buf_append (&col->err, buf + 1, (size_t)n - 1);
      else if (buf[0] == HUSK_ATTACH_EXIT)
        {
          int32_t code;
          assert_int_equal (n, 5);
          memcpy (&code, buf + 1, sizeof (code));
          col->exit_code = code;
          col->got_exit = true;
          break;
        }
    }
  if (col->out.data == NULL)
    husk_buf_append (&col->out, "", 0);
  if (col->err.data == NULL)
    husk_buf_append (&col->err, "", 0);
}

static void
collected_free (struct collected *col)
{
  husk_buf_free (&col->out);
  husk_buf_free (&col->err);
}

static void
send_msg (int fd, int type, const void *data, size_t len)
{
  char buf[64];

  assert_true (len + 1 <= sizeof (buf));
  buf[0] = (char)type;
  if (len > 0)
    memcpy (buf + 1, data, len);
  assert_int_equal (send (fd, buf, len + 1, MSG_NOSIGNAL), (ssize_t)(len + 1));
}

static void
get_state (const char *id, struct husk_container_state *st)
{
  husk_error_t err = NULL;

  memset (st, 0, sizeof (*st));
  if (husk_store_container_state (store, id, st, &err) < 0)
    fail_msg ("state: %s", err->msg);
}

static int
log_entry_cb (const struct husk_log_entry *e, void *ctx)
{
  struct husk_buf *b = ctx;

  husk_buf_printf (b, "%d%c%.*s|", e->stream, e->partial ? 'P' : 'F', (int)e->len, e->data);
  return 0;
}

static void
test_run_output_exit (void **state)
{
  struct tctr c;
  struct collected col;
  struct husk_container_state st;
  husk_error_t err = NULL;
  cleanup_free char *log = NULL;
  pid_t pid = 0;
  char *p, *line;
  bool saw_out = false, saw_err = false;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "echo out; echo err >&2; exit 3"));
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  assert_true (pid > 0);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 3);
  assert_string_equal (col.out.data, "out\n");
  assert_string_equal (col.err.data, "err\n");

  get_state (c.id, &st);
  assert_int_equal (st.status, HUSK_CONTAINER_EXITED);
  assert_int_equal (st.exit_code, 3);
  assert_int_equal (st.pid, 0);
  assert_true (st.started_at > 0);
  assert_true (st.finished_at >= st.started_at);
  assert_false (st.stopped_by_user);
  assert_null (st.error);
  husk_container_state_clear (&st);

  log = read_file (c.log_path);
  assert_non_null (log);
  for (p = log; (line = next_line (&p)) != NULL;)
    {
      assert_timestamp (line);
      if (strcmp (line + 30, " stdout F out") == 0)
        saw_out = true;
      else if (strcmp (line + 30, " stderr F err") == 0)
        saw_err = true;
      else
        fail_msg ("unexpected log line: %s", line);
    }
  assert_true (saw_out && saw_err);

  /* What logs.c reads back.  */
  {
    struct husk_log_query q;
    struct husk_buf b = { 0 };

    memset (&q, 0, sizeof (q));
    q.driver = HUSK_LOG_K8S_FILE;
    q.path = c.log_path;
    q.tail = -1;
    assert_int_equal (husk_log_read (&q, log_entry_cb, &b, &err), 0);
    assert_non_null (b.data);
    assert_non_null (strstr (b.data, "1Fout|"));
    assert_non_null (strstr (b.data, "2Ferr|"));
    husk_buf_free (&b);
  }
  collected_free (&col);
  tctr_free (&c);
}

static void
test_json_file (void **state)
{
  struct husk_log_query q;
  struct husk_buf b = { 0 };
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  cleanup_free char *log = NULL;
  pid_t pid = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "echo 'a \"quoted\" line'; echo -n part"));
  c.cfg.log_driver = HUSK_LOG_JSON_FILE;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_string_equal (col.out.data, "a \"quoted\" line\npart");

  log = read_file (c.log_path);
  assert_non_null (log);
  assert_non_null (strstr (log, "{\"log\":\"a \\\"quoted\\\" line\\n\",\"stream\":\"stdout\",\"time\":\""));
  assert_non_null (strstr (log, "{\"log\":\"part\",\"stream\":\"stdout\",\"time\":\""));

  memset (&q, 0, sizeof (q));
  q.driver = HUSK_LOG_JSON_FILE;
  q.path = c.log_path;
  q.tail = -1;
  assert_int_equal (husk_log_read (&q, log_entry_cb, &b, &err), 0);
  assert_string_equal (b.data, "1Fa \"quoted\" line|1Ppart|");
  husk_buf_free (&b);
  collected_free (&col);
  tctr_free (&c);
}

static void
test_auto_remove (void **state)
{
  struct husk_container_record *rec = NULL;
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  pid_t pid = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "echo bye"));
  c.cfg.auto_remove = true;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 0);
  assert_string_equal (col.out.data, "bye\n");

  assert_int_equal (husk_store_lock (store, false, &err), 0);
  assert_int_equal (husk_store_container_find (store, c.id, &rec, &err), 0);
  husk_store_unlock (store);
  assert_int_equal (access (c.log_path, F_OK), -1);
  collected_free (&col);
  tctr_free (&c);
}

static void
test_not_found (void **state)
{
  struct husk_container_state st;
  struct tctr c;
  husk_error_t err = NULL;
  pid_t pid = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("no-such-command"));
  tctr_client (&c);
  assert_true (tctr_start (&c, &pid, &err) < 0);
  assert_int_equal (husk_error_exit_code (&err), 127);
  assert_non_null (strstr (err->msg, "no-such-command"));
  husk_error_release (&err);

  get_state (c.id, &st);
  assert_int_equal (st.status, HUSK_CONTAINER_CREATED);
  assert_non_null (st.error);
  assert_non_null (strstr (st.error, "no-such-command"));
  assert_int_equal (st.monitor_pid, 0);
  husk_container_state_clear (&st);
  tctr_free (&c);

  /* With --rm the failed container is removed.  */
  tctr_init (&c, ARGV ("no-such-command"));
  c.cfg.auto_remove = true;
  assert_true (tctr_start (&c, &pid, &err) < 0);
  assert_int_equal (husk_error_exit_code (&err), 127);
  husk_error_release (&err);
  assert_true (husk_store_container_state (store, c.id, &st, &err) < 0);
  husk_error_release (&err);
  tctr_free (&c);
}

static void
test_stdin (void **state)
{
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  pid_t pid = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("cat"));
  c.cfg.stdin_open = true;
  c.cfg.client_stdin = true;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  send_msg (c.sv[0], HUSK_ATTACH_STDIN, "hello\n", 6);
  send_msg (c.sv[0], HUSK_ATTACH_STDIN_CLOSE, NULL, 0);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 0);
  assert_string_equal (col.out.data, "hello\n");
  collected_free (&col);
  tctr_free (&c);
}

static void
test_tty (void **state)
{
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  pid_t pid = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "tty; echo err >&2"));
  c.cfg.tty = true;
  c.cfg.rows = 30;
  c.cfg.cols = 100;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 0);
  /* Everything arrives as stdout, with the terminal's line endings.  */
  assert_non_null (strstr (col.out.data, "/dev/pts/"));
  assert_non_null (strstr (col.out.data, "err\r\n"));
  assert_string_equal (col.err.data, "");
  collected_free (&col);
  tctr_free (&c);
}

/* -it: stdin goes to the pty, RESIZE changes its size.  */
static void
test_tty_stdin_resize (void **state)
{
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  uint16_t dims[2] = { 40, 120 };
  pid_t pid = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "stty size; read x; stty size; echo got $x"));
  c.cfg.tty = true;
  c.cfg.stdin_open = true;
  c.cfg.client_stdin = true;
  c.cfg.rows = 30;
  c.cfg.cols = 100;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  /* The initial size first, then the resize.  */
  {
    char buf[256];
    ssize_t n = recv (c.sv[0], buf, sizeof (buf) - 1, 0);

    assert_true (n > 1);
    buf[n] = '\0';
    assert_int_equal (buf[0], HUSK_ATTACH_STDOUT);
    assert_string_equal (buf + 1, "30 100\r\n");
  }
  send_msg (c.sv[0], HUSK_ATTACH_RESIZE, dims, sizeof (dims));
  usleep (100000);
  send_msg (c.sv[0], HUSK_ATTACH_STDIN, "hello\n", 6);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 0);
  assert_non_null (strstr (col.out.data, "40 120\r\n"));
  assert_non_null (strstr (col.out.data, "got hello\r\n"));
  collected_free (&col);
  tctr_free (&c);
}

/* on-failure:2: the foreground client ends with the first exit (as with
   Docker); the monitor restarts twice more, then records the last exit.  */
static void
test_restart_on_failure (void **state)
{
  struct husk_container_state st;
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  pid_t pid = 0;
  int i;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "echo x; exit 1"));
  c.cfg.restart.name = HUSK_RESTART_ON_FAILURE;
  c.cfg.restart.max_retries = 2;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 1);
  assert_string_equal (col.out.data, "x\n");

  /* Back-off 100 ms then 200 ms.  */
  for (i = 0; i < 100; i++)
    {
      get_state (c.id, &st);
      if (st.status == HUSK_CONTAINER_EXITED && st.restart_count == 2
          && !husk_store_pid_alive (st.monitor_pid, st.monitor_start, NULL))
        break;
      husk_container_state_clear (&st);
      usleep (100000);
    }
  assert_true (i < 100);
  assert_int_equal (st.exit_code, 1);
  husk_container_state_clear (&st);
  {
    cleanup_free char *log = read_file (c.log_path);
    char *p = log, *line;
    int n = 0;

    while ((line = next_line (&p)) != NULL)
      {
        assert_string_equal (line + 30, " stdout F x");
        n++;
      }
    assert_int_equal (n, 3);
  }
  collected_free (&col);
  tctr_free (&c);
}

/* A foreground client that does not read: the container waits for it
   (back-pressure), nothing is lost, neither in the client nor in the log.  */
static void
test_slow_client (void **state)
{
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  cleanup_free char *log = NULL;
  pid_t pid = 0;
  size_t i, lines = 0;

  NEED_ROOT ();
  tctr_init (&c, ARGV ("sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 3700000"));
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  sleep (1);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 0);
  assert_int_equal (col.out.len, 3700000);
  for (i = 0; i < col.out.len; i += 37)
    assert_memory_equal (col.out.data + i, "0123456789abcdefghijklmnopqrstuvwxyz\n", 37);

  log = read_file (c.log_path);
  assert_non_null (log);
  for (i = 0; log[i] != '\0'; i++)
    if (log[i] == '\n')
      lines++;
  assert_true (lines >= 100000);
  collected_free (&col);
  tctr_free (&c);
}

/* In a cgroup with a memory limit: the OOM kill is recorded, the cgroup
   is gone afterwards.  */
static void
test_cgroup_oom (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  struct husk_container_state st;
  struct tctr c;
  struct collected col;
  husk_error_t err = NULL;
  cleanup_free char *dir = NULL;
  pid_t pid = 0;

  NEED_ROOT ();
  if (husk_cgroup_detect (NULL) == HUSK_CGROUP_NONE)
    skip ();
  assert_int_equal (husk_cgroup_parse_flag (&l, "memory", "16m", &err), 0);
  assert_int_equal (husk_cgroup_parse_flag (&l, "cgroup-parent", "husk-test-monitor", &err), 0);
  tctr_init (&c, ARGV ("sh", "-c", "x=$(yes | head -c 100000000); echo survived"));
  c.spec.cgroup = &l;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);
  collect (c.sv[0], &col);
  assert_true (col.got_exit);
  assert_int_equal (col.exit_code, 137);
  get_state (c.id, &st);
  assert_int_equal (st.exit_code, 137);
  assert_true (st.oom_killed);
  assert_null (st.cgroup_path);
  husk_container_state_clear (&st);
  if (husk_cgroup_detect (NULL) == HUSK_CGROUP_V1)
    dir = xasprintf ("/sys/fs/cgroup/memory/husk-test-monitor/husk-%s", c.id);
  else
    dir = xasprintf ("/sys/fs/cgroup/husk-test-monitor/husk-%s", c.id);
  assert_int_equal (access (dir, F_OK), -1);
  collected_free (&col);
  tctr_free (&c);
}

static long
vm_rss_kib (pid_t pid)
{
  cleanup_free char *path = xasprintf ("/proc/%d/status", (int)pid);
  cleanup_free char *data = read_file (path);
  char *p = data != NULL ? strstr (data, "VmRSS:") : NULL;

  return p != NULL ? strtol (p + 6, NULL, 10) : -1;
}

static void
test_stop_attach_rss (void **state)
{
  struct husk_container_state st;
  struct tctr c;
  struct collected col, col2;
  husk_error_t err = NULL;
  int32_t stop[2] = { SIGTERM, 1 };
  pid_t pid = 0;
  long rss;
  int fd;

  NEED_ROOT ();
  /* pid 1 of a pid namespace ignores SIGTERM: the stop ends in SIGKILL.  */
  tctr_init (&c, ARGV ("sh", "-c", "echo started; exec sleep 100"));
  c.cfg.restart.name = HUSK_RESTART_ALWAYS;
  tctr_client (&c);
  if (tctr_start (&c, &pid, &err) < 0)
    fail_msg ("monitor start: %s", err->msg);

  get_state (c.id, &st);
  assert_int_equal (st.status, HUSK_CONTAINER_RUNNING);
  assert_int_equal (st.pid, pid);
  assert_true (st.monitor_pid > 0);
  assert_true (st.monitor_start > 0);
  assert_non_null (st.boot_id);
  /* After the monitor's first trim of clean file pages (1 s).  */
  usleep (1500000);
  rss = vm_rss_kib (st.monitor_pid);
  print_message ("monitor RSS of a running container: %ld KiB\n", rss);
  husk_container_state_clear (&st);

  /* A second client over the attach socket asks for the stop; both get EXIT.  */
  assert_int_equal (husk_attach_connect (store, c.id, &fd, &err), 0);
  send_msg (fd, HUSK_ATTACH_STOP, stop, sizeof (stop));
  collect (c.sv[0], &col);
  collect (fd, &col2);
  close (fd);
  assert_true (col.got_exit);
  assert_true (col2.got_exit);
  assert_int_equal (col.exit_code, 137);
  assert_int_equal (col2.exit_code, 137);
  assert_string_equal (col.out.data, "started\n");

  get_state (c.id, &st);
  assert_int_equal (st.status, HUSK_CONTAINER_EXITED);
  assert_int_equal (st.exit_code, 137);
  assert_true (st.stopped_by_user);
  assert_int_equal (st.restart_count, 0);
  husk_container_state_clear (&st);
  collected_free (&col);
  collected_free (&col2);
  tctr_free (&c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_restart_policy_parse),
    cmocka_unit_test (test_log_driver_parse),
    cmocka_unit_test (test_log_k8s),
    cmocka_unit_test (test_log_json),
    cmocka_unit_test (test_log_rotation),
    cmocka_unit_test (test_run_output_exit),
    cmocka_unit_test (test_json_file),
    cmocka_unit_test (test_auto_remove),
    cmocka_unit_test (test_not_found),
    cmocka_unit_test (test_stdin),
    cmocka_unit_test (test_tty),
    cmocka_unit_test (test_tty_stdin_resize),
    cmocka_unit_test (test_restart_on_failure),
    cmocka_unit_test (test_slow_client),
    cmocka_unit_test (test_cgroup_oom),
    cmocka_unit_test (test_stop_attach_rss),
  };

  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
