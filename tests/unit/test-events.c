/* Unit tests for src/store/events.c: a fresh store under a mkdtemp
   directory for each test.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"

struct fixture
{
  char *dir;
  husk_store_t *s;
};

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));
  husk_error_t err = NULL;
  char tmpl[] = "/tmp/husk-test-events-XXXXXX";
  cleanup_free char *root = NULL, *runroot = NULL;
  struct husk_store_opts opts = { 0 };

  assert_non_null (mkdtemp (tmpl));
  f->dir = xstrdup (tmpl);
  root = xasprintf ("%s/root", f->dir);
  runroot = xasprintf ("%s/run", f->dir);
  opts.root = root;
  opts.runroot = runroot;
  if (husk_store_open (&opts, &f->s, &err) < 0)
    fail_msg ("open: %s", err->msg);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  husk_store_close (f->s);
  if (husk_rm_rf_at (AT_FDCWD, f->dir, &err) < 0)
    husk_error_release (&err);
  free (f->dir);
  free (f);
  return 0;
}

/* Collects every event; stops after max (0: never).  */
struct collect
{
  husk_json_t *events; /* array */
  size_t max;
};

static int
collect_fn (const husk_json_t *ev, void *ctx, husk_error_t *err)
{
  struct collect *c = ctx;

  (void)err;
  husk_json_array_append (c->events, husk_json_clone (ev));
  return c->max && husk_json_array_len (c->events) >= c->max ? 1 : 0;
}

static husk_json_t *
read_all (husk_store_t *s, int64_t since, int64_t until)
{
  struct collect c = { husk_json_new_array (), 0 };
  husk_error_t err = NULL;

  if (husk_store_events_read (s, since, until, false, -1, collect_fn, &c, &err) < 0)
    fail_msg ("read: %s", err->msg);
  return c.events;
}

static void
test_fields (void **state)
{
  struct fixture *f = *state;
  cleanup_json husk_json_t *attrs = husk_json_new_object ();
  cleanup_json husk_json_t *labels = husk_json_new_object ();
  cleanup_json husk_json_t *evs = NULL;
  husk_json_t *ev, *a;

  husk_json_set_string (labels, "app", "web");
  husk_json_set_string (attrs, "image", "docker.io/library/busybox:latest");
  husk_json_set_int (attrs, "exitCode", 3);
  husk_json_set (attrs, "labels", husk_json_clone (labels));
  husk_store_event (f->s, "container", "die", "0123456789abcdef", "web1", attrs);
  husk_store_event (f->s, "image", "tag", "feedface", "localhost/x:1", NULL);

  evs = read_all (f->s, 0, 0);
  assert_int_equal (husk_json_array_len (evs), 2);
  ev = husk_json_array_at (evs, 0);
  assert_string_equal (husk_json_get_string (ev, "ID"), "0123456789abcdef");
  assert_string_equal (husk_json_get_string (ev, "Name"), "web1");
  assert_string_equal (husk_json_get_string (ev, "Image"), "docker.io/library/busybox:latest");
  assert_string_equal (husk_json_get_string (ev, "Status"), "die");
  assert_string_equal (husk_json_get_string (ev, "Type"), "container");
  assert_int_equal (husk_json_int (husk_json_get (ev, "ContainerExitCode"), -1), 3);
  assert_true (husk_json_int (husk_json_get (ev, "timeNano"), 0) > 0);
  assert_non_null (husk_json_get_string (ev, "Time"));
  a = husk_json_get (ev, "Attributes");
  assert_string_equal (husk_json_get_string (a, "name"), "web1");
  assert_string_equal (husk_json_get_string (a, "image"), "docker.io/library/busybox:latest");
  assert_string_equal (husk_json_get_string (a, "exitCode"), "3");
  assert_string_equal (husk_json_get_string (a, "app"), "web");
  assert_null (husk_json_get (a, "labels"));

  ev = husk_json_array_at (evs, 1);
  assert_string_equal (husk_json_get_string (ev, "Type"), "image");
  assert_string_equal (husk_json_get_string (ev, "Name"), "localhost/x:1");
  assert_null (husk_json_get (ev, "Attributes"));
  assert_null (husk_json_get (ev, "ContainerExitCode"));
}

static void
test_since_until (void **state)
{
  struct fixture *f = *state;
  cleanup_json husk_json_t *all = NULL, *after = NULL, *before = NULL;
  int64_t mid;

  husk_store_event (f->s, "container", "create", "a", NULL, NULL);
  usleep (2000);
  mid = husk_now_ns ();
  usleep (2000);
  husk_store_event (f->s, "container", "start", "a", NULL, NULL);
  all = read_all (f->s, 0, 0);
  after = read_all (f->s, mid, 0);
  before = read_all (f->s, 0, mid);
  assert_int_equal (husk_json_array_len (all), 2);
  assert_int_equal (husk_json_array_len (after), 1);
  assert_string_equal (husk_json_get_string (husk_json_array_at (after, 0), "Status"), "start");
  assert_int_equal (husk_json_array_len (before), 1);
  assert_string_equal (husk_json_get_string (husk_json_array_at (before, 0), "Status"), "create");
}

/* Garbage and a torn last line are skipped; the next full line is read.  */
static void
test_bad_lines (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *path = xasprintf ("%s/events.log", husk_store_runroot (f->s));
  cleanup_json husk_json_t *evs = NULL;
  FILE *fp;

  husk_store_event (f->s, "container", "create", "a", NULL, NULL);
  fp = fopen (path, "a");
  assert_non_null (fp);
  fputs ("not json\n[1,2]\n{\"ID\":", fp);
  fclose (fp);
  evs = read_all (f->s, 0, 0);
  assert_int_equal (husk_json_array_len (evs), 1);
}

static void
write_seq (husk_store_t *s, int from, int n)
{
  int i;

  for (i = from; i < from + n; i++)
    {
      cleanup_json husk_json_t *a = husk_json_new_object ();
      husk_json_set_int (a, "seq", i);
      husk_json_set_string (a, "pad", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
      husk_store_event (s, "container", "exec",
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "name", a);
    }
}

/* Past 1 MiB the log moves to events.log.1; a reader sees both, in order.  */
static void
test_rotation (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *old = xasprintf ("%s/events.log.1", husk_store_runroot (f->s));
  cleanup_json husk_json_t *evs = NULL;
  struct stat st;
  size_t i, n;

  write_seq (f->s, 0, 4000);
  assert_int_equal (stat (old, &st), 0);
  assert_true (st.st_size > 1024 * 1024);
  evs = read_all (f->s, 0, 0);
  n = husk_json_array_len (evs);
  assert_int_equal (n, 4000);
  for (i = 0; i < n; i++)
    {
      const husk_json_t *a = husk_json_get (husk_json_array_at (evs, i), "Attributes");
      cleanup_free char *want = xasprintf ("%zu", i);
      assert_string_equal (husk_json_get_string (a, "seq"), want);
    }
}

/* Concurrent writers: every line arrives whole.  */
static void
test_concurrent (void **state)
{
  struct fixture *f = *state;
  cleanup_json husk_json_t *evs = NULL;
  pid_t pids[4];
  int i, status;

  for (i = 0; i < 4; i++)
    {
      pids[i] = fork ();
      assert_true (pids[i] >= 0);
      if (pids[i] == 0)
        {
          write_seq (f->s, i * 1000, 500);
          _exit (0);
        }
    }
  for (i = 0; i < 4; i++)
    {
      assert_int_equal (waitpid (pids[i], &status, 0), pids[i]);
      assert_int_equal (status, 0);
    }
  evs = read_all (f->s, 0, 0);
  assert_int_equal (husk_json_array_len (evs), 2000);
}

/* Follow: events written later arrive, also across a rotation; the
   callback's stop ends the read.  */
static void
test_follow (void **state)
{
  struct fixture *f = *state;
  struct collect c = { husk_json_new_array (), 4100 };
  husk_error_t err = NULL;
  pid_t pid;
  int status;

  write_seq (f->s, 0, 50);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      usleep (100000);
      write_seq (f->s, 50, 4050);
      _exit (0);
    }
  if (husk_store_events_read (f->s, 0, 0, true, -1, collect_fn, &c, &err) < 0)
    fail_msg ("read: %s", err->msg);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_int_equal (husk_json_array_len (c.events), 4100);
  assert_string_equal (
      husk_json_get_string (husk_json_get (husk_json_array_at (c.events, 4099), "Attributes"), "seq"),
      "4099");
  husk_json_free (c.events);
}

/* stop_fd and until end a follow.  */
static void
test_follow_stop (void **state)
{
  struct fixture *f = *state;
  struct collect c = { husk_json_new_array (), 0 };
  husk_error_t err = NULL;
  int p[2];
  int64_t t0;

  husk_store_event (f->s, "container", "create", "a", NULL, NULL);
  assert_int_equal (pipe (p), 0);
  assert_int_equal (write (p[1], "x", 1), 1);
  if (husk_store_events_read (f->s, 0, 0, true, p[0], collect_fn, &c, &err) < 0)
    fail_msg ("read: %s", err->msg);
  assert_int_equal (husk_json_array_len (c.events), 1);

  t0 = husk_now_ns ();
  if (husk_store_events_read (f->s, 0, t0 + 200000000, true, -1, collect_fn, &c, &err) < 0)
    fail_msg ("read: %s", err->msg);
  assert_true (husk_now_ns () - t0 >= 200000000);
  assert_int_equal (husk_json_array_len (c.events), 2);
  close (p[0]);
  close (p[1]);
  husk_json_free (c.events);
}

/* Name, image and labels come from config.json.  */
static void
test_container_event (void **state)
{
  struct fixture *f = *state;
  static const char cfg[]
      = "{\"Name\":\"web\",\"ImageName\":\"localhost/img:1\",\"Config\":{\"Labels\":{\"k\":\"v\"}}}";
  cleanup_free char *id = husk_store_container_new_id ();
  cleanup_json husk_json_t *extra = husk_json_new_object ();
  cleanup_json husk_json_t *evs = NULL;
  struct husk_container_new c = { 0 };
  char *cmd[] = { (char *)"sh", NULL };
  husk_error_t err = NULL;
  husk_json_t *ev;

  c.id = id;
  c.name = "web";
  c.image_id = "aaaa000000000000000000000000000000000000000000000000000000000001";
  c.image_name = "localhost/img:1";
  c.command = cmd;
  c.config = cfg;
  c.config_len = strlen (cfg);
  if (husk_store_lock (f->s, true, &err) < 0 || husk_store_container_create (f->s, &c, NULL, &err) < 0)
    fail_msg ("create: %s", err->msg);
  husk_store_unlock (f->s);
  husk_json_set_string (extra, "signal", "15");
  husk_store_event_container (f->s, "kill", id, extra);
  /* A removed container still gets its event, with the id only.  */
  husk_store_event_container (f->s, "remove", "ffff", NULL);

  evs = read_all (f->s, 0, 0);
  assert_int_equal (husk_json_array_len (evs), 2);
  ev = husk_json_array_at (evs, 0);
  assert_string_equal (husk_json_get_string (ev, "ID"), id);
  assert_string_equal (husk_json_get_string (ev, "Name"), "web");
  assert_string_equal (husk_json_get_string (ev, "Image"), "localhost/img:1");
  assert_string_equal (husk_json_get_string (husk_json_get (ev, "Attributes"), "k"), "v");
  assert_string_equal (husk_json_get_string (husk_json_get (ev, "Attributes"), "signal"), "15");
  ev = husk_json_array_at (evs, 1);
  assert_string_equal (husk_json_get_string (ev, "ID"), "ffff");
  assert_null (husk_json_get (ev, "Name"));
}

/* An unwritable log never fails or crashes the caller.  */
static void
test_unwritable (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *path = xasprintf ("%s/events.log", husk_store_runroot (f->s));
  cleanup_json husk_json_t *evs = NULL;

  assert_int_equal (mkdir (path, 0700), 0);
  husk_store_event (f->s, "container", "create", "a", NULL, NULL);
  husk_store_event (f->s, "container", "start", "a", NULL, NULL);
  rmdir (path);
  evs = read_all (f->s, 0, 0);
  assert_int_equal (husk_json_array_len (evs), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_fields, setup, teardown),
    cmocka_unit_test_setup_teardown (test_since_until, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bad_lines, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rotation, setup, teardown),
    cmocka_unit_test_setup_teardown (test_concurrent, setup, teardown),
    cmocka_unit_test_setup_teardown (test_follow, setup, teardown),
    cmocka_unit_test_setup_teardown (test_follow_stop, setup, teardown),
    cmocka_unit_test_setup_teardown (test_container_event, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unwritable, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
