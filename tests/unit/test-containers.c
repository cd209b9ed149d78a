/* Unit tests for src/store/containers.c: a fresh store under a mkdtemp
   directory for each test.

   HUSK_TEST_SPEED=1 also runs a by-hand speed check (1000 containers,
   list + 1000 state reads), which prints its timings and asserts nothing
   about them.  */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "../../src/store/store-internal.h"

#define IMAGE_A "aaaa000000000000000000000000000000000000000000000000000000000001"
#define IMAGE_B "bbbb000000000000000000000000000000000000000000000000000000000002"

struct fixture
{
  char *dir;
  char *root;
  char *runroot;
  husk_store_t *s;
};

static int
open_store (struct fixture *f, husk_store_t **out)
{
  struct husk_store_opts opts = { .root = f->root, .runroot = f->runroot };
  husk_error_t err = NULL;

  if (husk_store_open (&opts, out, &err) < 0)
    fail_msg ("open: %s", err->msg);
  return 0;
}

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));
  husk_error_t err = NULL;
  char tmpl[] = "/tmp/husk-test-containers-XXXXXX";

  assert_non_null (mkdtemp (tmpl));
  f->dir = xstrdup (tmpl);
  f->root = xasprintf ("%s/root", f->dir);
  f->runroot = xasprintf ("%s/run", f->dir);
  open_store (f, &f->s);
  if (husk_store_lock (f->s, true, &err) < 0)
    fail_msg ("lock: %s", err->msg);
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
  free (f->root);
  free (f->runroot);
  free (f);
  return 0;
}

static int
create_full (husk_store_t *s, const char *id, const char *name, const char *image, bool ephemeral,
             char **name_out, husk_error_t *err)
{
  char sh[] = "sh", dash_c[] = "-c", script[] = "echo hi";
  char *cmd[] = { sh, dash_c, script, NULL };
  struct husk_container_new c = {
    .id = id,
    .name = name,
    .image_id = image,
    .image_name = "localhost/test:latest",
    .command = cmd,
    .config = "{\"Env\":[]}",
    .config_len = strlen ("{\"Env\":[]}"),
    .ephemeral = ephemeral,
  };
  return husk_store_container_create (s, &c, name_out, err);
}

/* Create a container that must succeed; returns its id.  */
static char *
create_ok (struct fixture *f, const char *name, const char *image)
{
  char *id = husk_store_container_new_id ();
  husk_error_t err = NULL;

  if (create_full (f->s, id, name, image, false, NULL, &err) < 0)
    fail_msg ("create: %s", err->msg);
  return id;
}

static bool
path_exists (struct fixture *f, const char *rel)
{
  cleanup_free char *p = xasprintf ("%s/%s", f->root, rel);
  struct stat st;

  return lstat (p, &st) == 0;
}

static void
test_create_find_list_remove (void **state)
{
  struct fixture *f = *state;
  struct husk_container_record *const *list = NULL;
  struct husk_container_record *r = NULL;
  cleanup_free char *id1 = NULL, *id2 = NULL, *cfg = NULL, *dir = NULL, *rel = NULL;
  husk_error_t err = NULL;
  size_t n = 0, len = 0;
  struct stat st;

  id1 = create_ok (f, "web", IMAGE_A);
  id2 = create_ok (f, NULL, IMAGE_B);
  assert_int_equal (husk_store_containers (f->s, &list, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (list[0]->id, id1);
  assert_string_equal (list[0]->name, "web");
  assert_string_equal (list[0]->image_id, IMAGE_A);
  assert_string_equal (list[0]->image_name, "localhost/test:latest");
  assert_string_equal (list[0]->command[2], "echo hi");
  assert_true (list[0]->created > 0);
  assert_string_equal (list[1]->id, id2);
  assert_non_null (strchr (list[1]->name, '_'));
  assert_null (list[2]);

  assert_int_equal (husk_store_container_find (f->s, "web", &r, &err), 1);
  assert_string_equal (r->id, id1);
  assert_int_equal (husk_store_container_find (f->s, "/web", &r, &err), 1);
  assert_string_equal (r->id, id1);
  assert_int_equal (husk_store_container_find (f->s, id2, &r, &err), 1);
  assert_string_equal (r->id, id2);
  assert_int_equal (husk_store_container_find (f->s, "nope", &r, &err), 0);
  assert_int_equal (husk_store_container_find (f->s, "", &r, &err), 0);

  /* The directory layout and the config bytes.  */
  rel = xasprintf ("containers/%s/upper", id1);
  assert_true (path_exists (f, rel));
  dir = husk_store_container_dir (f->s, id1);
  free (rel);
  rel = xasprintf ("%s/upper", dir);
  assert_int_equal (stat (rel, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (husk_store_container_config (f->s, id1, &cfg, &len, &err), 0);
  assert_string_equal (cfg, "{\"Env\":[]}");

  /* A second handle sees the same index.  */
  {
    husk_store_t *s2 = NULL;
    open_store (f, &s2);
    assert_int_equal (husk_store_containers (s2, &list, &n, &err), 0);
    assert_int_equal (n, 2);
    husk_store_close (s2);
  }

  assert_int_equal (husk_store_container_remove (f->s, id1, &err), 0);
  assert_int_equal (husk_store_containers (f->s, &list, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (list[0]->id, id2);
  free (rel);
  rel = xasprintf ("containers/%s", id1);
  assert_false (path_exists (f, rel));
  assert_int_equal (husk_store_container_find (f->s, "web", &r, &err), 0);
  assert_true (husk_store_container_remove (f->s, id1, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);
  /* The name is free again.  */
  free (id1);
  id1 = create_ok (f, "web", IMAGE_A);
}

static void
test_names (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id1 = NULL, *id2 = NULL, *gen = NULL, *expect = NULL;
  const char *bad[] = { "-x", "_x", ".x", "a b", "a/b", "é", "x:y", "", NULL };
  husk_error_t err = NULL;
  size_t i;

  id1 = create_ok (f, "a", IMAGE_A);
  id2 = husk_store_container_new_id ();
  assert_true (create_full (f->s, id2, "a", IMAGE_A, false, NULL, &err) < 0);
  assert_int_equal (err->status, EEXIST);
  expect
      = xasprintf ("the container name \"a\" is already in use by %s. You have to remove that container to "
                   "be able to reuse that name.",
                   id1);
  assert_string_equal (err->msg, expect);
  husk_error_release (&err);
  /* The failed create left nothing behind.  */
  free (expect);
  expect = xasprintf ("containers/%s", id2);
  assert_false (path_exists (f, expect));

  for (i = 0; bad[i]; i++)
    {
      assert_true (create_full (f->s, id2, bad[i], IMAGE_A, false, NULL, &err) < 0);
      assert_int_equal (err->status, EINVAL);
      free (expect);
      expect
          = xasprintf ("invalid container name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", bad[i]);
      assert_string_equal (err->msg, expect);
      husk_error_release (&err);
    }
  /* Valid odd names, and the leading "/" Docker allows.  */
  assert_int_equal (create_full (f->s, id2, "/A.b_c-9", IMAGE_A, false, &gen, &err), 0);
  assert_string_equal (gen, "A.b_c-9");
  free (gen);
  gen = NULL;

  /* The same id twice.  */
  assert_true (create_full (f->s, id2, "other", IMAGE_A, false, NULL, &err) < 0);
  assert_int_equal (err->status, EEXIST);
  husk_error_release (&err);

  /* Generated names are "adjective_noun" and unique.  */
  for (i = 0; i < 40; i++)
    {
      cleanup_free char *id = husk_store_container_new_id ();
      struct husk_container_record *r = NULL;
      char *us;

      assert_int_equal (create_full (f->s, id, NULL, IMAGE_A, true, &gen, &err), 0);
      us = strchr (gen, '_');
      assert_non_null (us);
      assert_true (us > gen && us[1] != '\0');
      assert_int_equal (husk_store_container_find (f->s, gen, &r, &err), 1);
      assert_string_equal (r->id, id);
      free (gen);
      gen = NULL;
    }
}

static void
test_rename (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id1 = create_ok (f, "first", IMAGE_A);
  cleanup_free char *id2 = create_ok (f, "second", IMAGE_B);
  struct husk_container_record *r = NULL;
  husk_store_t *s2 = NULL;
  husk_error_t err = NULL;

  assert_int_equal (husk_store_container_rename (f->s, id1, "/renamed", &err), 0);
  assert_int_equal (husk_store_container_find (f->s, "first", &r, &err), 0);
  assert_int_equal (husk_store_container_find (f->s, "renamed", &r, &err), 1);
  assert_string_equal (r->id, id1);
  assert_string_equal (r->image_id, IMAGE_A);
  assert_string_equal (r->command[0], "sh");
  /* Taken, invalid, unknown.  */
  assert_true (husk_store_container_rename (f->s, id1, "second", &err) < 0);
  assert_int_equal (err->status, EEXIST);
  husk_error_release (&err);
  assert_true (husk_store_container_rename (f->s, id1, "no way", &err) < 0);
  assert_int_equal (err->status, EINVAL);
  husk_error_release (&err);
  assert_true (husk_store_container_rename (f->s, IMAGE_A, "x", &err) < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);
  /* Renaming to its own name is a no-op.  */
  assert_int_equal (husk_store_container_rename (f->s, id2, "second", &err), 0);

  open_store (f, &s2);
  assert_int_equal (husk_store_container_find (s2, "renamed", &r, &err), 1);
  assert_string_equal (r->id, id1);
  husk_store_close (s2);
}

static void
test_new_id (void **state)
{
  cleanup_free char *a = husk_store_container_new_id ();
  cleanup_free char *b = husk_store_container_new_id ();
  (void)state;

  assert_true (husk_store_is_hex64 (a));
  assert_true (husk_store_is_hex64 (b));
  assert_string_not_equal (a, b);
}

static void
test_needs_exclusive_lock (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = husk_store_container_new_id ();
  cleanup_free char *id2 = NULL;
  husk_error_t err = NULL;

  id2 = create_ok (f, "x", IMAGE_A);
  assert_int_equal (husk_store_lock (f->s, false, &err), 0);
  assert_true (create_full (f->s, id, NULL, IMAGE_A, false, NULL, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_store_container_remove (f->s, id2, &err) < 0);
  husk_error_release (&err);
}

static void
test_prefix (void **state)
{
  struct fixture *f = *state;
  const char *id1 = "abc0000000000000000000000000000000000000000000000000000000000001";
  const char *id2 = "abc1000000000000000000000000000000000000000000000000000000000002";
  const char *id3 = "fff0000000000000000000000000000000000000000000000000000000000003";
  struct husk_container_record *r = NULL;
  husk_error_t err = NULL;

  assert_int_equal (create_full (f->s, id1, "one", IMAGE_A, false, NULL, &err), 0);
  assert_int_equal (create_full (f->s, id2, "two", IMAGE_A, false, NULL, &err), 0);
  assert_int_equal (husk_store_container_find (f->s, "abc", &r, &err), -1);
  assert_non_null (strstr (err->msg, "short ID abc is ambiguous"));
  husk_error_release (&err);
  assert_int_equal (husk_store_container_find (f->s, "a", &r, &err), -1);
  husk_error_release (&err);
  assert_int_equal (husk_store_container_find (f->s, "abc1", &r, &err), 1);
  assert_string_equal (r->id, id2);
  assert_int_equal (husk_store_container_find (f->s, "abd", &r, &err), 0);
  assert_int_equal (husk_store_container_find (f->s, "ABC1", &r, &err), 0);

  /* A name wins over a prefix.  */
  assert_int_equal (create_full (f->s, id3, "abc", IMAGE_A, false, NULL, &err), 0);
  assert_int_equal (husk_store_container_find (f->s, "abc", &r, &err), 1);
  assert_string_equal (r->id, id3);
  assert_int_equal (husk_store_container_find (f->s, "f", &r, &err), 1);
  assert_string_equal (r->id, id3);
}

static void
test_state_round_trip (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = create_ok (f, "st", IMAGE_A);
  char boot[] = "some-boot", oops[] = "oops", cg[] = "/sys/fs/cgroup/husk/x";
  struct husk_container_state st = { 0 }, in = {
    .status = HUSK_CONTAINER_EXITED,
    .pid = 0,
    .monitor_pid = 1234,
    .monitor_start = 987654321,
    .boot_id = boot,
    .exit_code = 42,
    .oom_killed = true,
    .stopped_by_user = true,
    .started_at = 1700000000123456789,
    .finished_at = 1700000001123456789,
    .restart_count = 3,
    .error = oops,
    .cgroup_path = cg,
  };
  cleanup_free char *raw = NULL, *rel = NULL;
  husk_error_t err = NULL;
  size_t len = 0;

  /* A new container is CREATED.  */
  assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
  assert_int_equal (st.status, HUSK_CONTAINER_CREATED);
  assert_int_equal (st.pid, 0);
  assert_null (st.error);
  husk_container_state_clear (&st);

  assert_int_equal (husk_store_container_state_write (f->s, id, &in, &err), 0);
  assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
  assert_int_equal (st.status, HUSK_CONTAINER_EXITED);
  assert_int_equal (st.monitor_pid, 1234);
  assert_int_equal (st.monitor_start, 987654321);
  assert_string_equal (st.boot_id, "some-boot");
  assert_int_equal (st.exit_code, 42);
  assert_true (st.oom_killed);
  assert_true (st.stopped_by_user);
  assert_int_equal (st.started_at, in.started_at);
  assert_int_equal (st.finished_at, in.finished_at);
  assert_int_equal (st.restart_count, 3);
  assert_string_equal (st.error, "oops");
  assert_string_equal (st.cgroup_path, "/sys/fs/cgroup/husk/x");
  husk_container_state_clear (&st);

  /* Readable key names.  */
  rel = xasprintf ("containers/%s/state.json", id);
  assert_int_equal (husk_read_file_at (husk_store_rootfd (f->s), rel, 0, &raw, &len, &err), 0);
  assert_non_null (strstr (raw, "\"Status\":\"exited\""));
  assert_non_null (strstr (raw, "\"OOMKilled\":true"));

  assert_string_equal (husk_container_status_name (HUSK_CONTAINER_STOPPING), "stopping");
  assert_string_equal (husk_container_status_name (HUSK_CONTAINER_REMOVING), "removing");

  /* A removed container has no state.  */
  assert_int_equal (husk_store_container_remove (f->s, id, &err), 0);
  assert_true (husk_store_container_state (f->s, id, &st, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);
  assert_true (husk_store_container_state_write (f->s, id, &in, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);
}

static void
write_running (struct fixture *f, const char *id, pid_t mon, uint64_t start, const char *boot)
{
  struct husk_container_state st = {
    .status = HUSK_CONTAINER_RUNNING,
    .pid = mon,
    .monitor_pid = mon,
    .monitor_start = start,
    .boot_id = (char *)boot,
    .started_at = husk_now_ns (),
  };
  husk_error_t err = NULL;

  if (husk_store_container_state_write (f->s, id, &st, &err) < 0)
    fail_msg ("state write: %s", err->msg);
}

static void
test_liveness (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = create_ok (f, "live", IMAGE_A);
  struct husk_container_state st = { 0 };
  husk_error_t err = NULL;
  uint64_t self_start = husk_store_pid_start_time (getpid ());
  const char *boot = husk_store_boot_id ();
  pid_t child;
  int status;

  assert_true (self_start > 0);
  assert_int_equal (strlen (boot), 36);
  assert_true (husk_store_pid_alive (getpid (), self_start, boot));
  assert_true (husk_store_pid_alive (getpid (), self_start, NULL));
  assert_false (husk_store_pid_alive (getpid (), self_start + 1, boot));
  assert_false (husk_store_pid_alive (getpid (), self_start, "another-boot"));
  assert_false (husk_store_pid_alive (0, 0, NULL));

  /* Our own pid and start time: running.  */
  write_running (f, id, getpid (), self_start, boot);
  assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
  assert_int_equal (st.status, HUSK_CONTAINER_RUNNING);
  assert_int_equal (st.monitor_pid, getpid ());
  husk_container_state_clear (&st);

  /* The same in another boot: exited, the monitor died.  */
  write_running (f, id, getpid (), self_start, "00000000-0000-0000-0000-000000000000");
  assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
  assert_int_equal (st.status, HUSK_CONTAINER_EXITED);
  assert_int_equal (st.exit_code, 137);
  assert_string_equal (st.error, "the container's monitor died");
  assert_int_equal (st.pid, 0);
  husk_container_state_clear (&st);

  /* A child that we kill and reap.  */
  child = fork ();
  assert_true (child >= 0);
  if (child == 0)
    {
      for (;;)
        pause ();
    }
  {
    uint64_t start = 0;
    int i;

    /* /proc/<pid>/stat exists as soon as fork returns.  */
    for (i = 0; i < 100 && start == 0; i++)
      start = husk_store_pid_start_time (child);
    assert_true (start > 0);
    write_running (f, id, child, start, boot);
    assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
    assert_int_equal (st.status, HUSK_CONTAINER_RUNNING);
    husk_container_state_clear (&st);

    /* A zombie is not alive.  */
    kill (child, SIGKILL);
    for (i = 0; i < 1000 && husk_store_pid_alive (child, start, boot); i++)
      usleep (1000);
    assert_false (husk_store_pid_alive (child, start, boot));
    assert_int_equal (waitpid (child, &status, 0), child);
    assert_int_equal (husk_store_pid_start_time (child), 0);
    assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
    assert_int_equal (st.status, HUSK_CONTAINER_EXITED);
    assert_int_equal (st.exit_code, 137);
    assert_string_equal (st.error, "the container's monitor died");
    husk_container_state_clear (&st);
  }

  /* A dead monitor that had recorded the exit: that exit code.  */
  {
    struct husk_container_state in = {
      .status = HUSK_CONTAINER_STOPPING,
      .monitor_pid = child,
      .monitor_start = 1,
      .boot_id = (char *)boot,
      .started_at = 100,
      .finished_at = 200,
      .exit_code = 3,
    };
    assert_int_equal (husk_store_container_state_write (f->s, id, &in, &err), 0);
    assert_int_equal (husk_store_container_state (f->s, id, &st, &err), 0);
    assert_int_equal (st.status, HUSK_CONTAINER_EXITED);
    assert_int_equal (st.exit_code, 3);
    assert_null (st.error);
    husk_container_state_clear (&st);
  }
}

static void
test_lock (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = create_ok (f, "locked", IMAGE_A);
  cleanup_free char *id2 = create_ok (f, "other", IMAGE_A);
  husk_error_t err = NULL;
  int fd = -1, status;
  pid_t child;

  assert_int_equal (husk_store_container_lock (f->s, id2, &fd, &err), 0);
  assert_true (fd >= 0);
  close (fd);

  /* A waiter sees the container removed while it waited.  */
  assert_int_equal (husk_store_container_lock (f->s, id, &fd, &err), 0);
  child = fork ();
  assert_true (child >= 0);
  if (child == 0)
    {
      husk_store_t *s2 = NULL;
      int cfd = -1;

      /* The inherited fd shares the parent's flock.  */
      close (fd);
      open_store (f, &s2);
      if (husk_store_container_lock (s2, id, &cfd, &err) == 0)
        _exit (1);
      _exit (err->status == ENOENT ? 0 : 2);
    }
  usleep (100 * 1000);
  assert_int_equal (husk_store_container_remove (f->s, id, &err), 0);
  close (fd);
  assert_int_equal (waitpid (child, &status, 0), child);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);

  /* And one that comes after.  */
  assert_true (husk_store_container_lock (f->s, id, &fd, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  assert_non_null (strstr (err->msg, "no such container"));
  husk_error_release (&err);
  assert_true (husk_store_container_lock (f->s, "../../etc", &fd, &err) < 0);
  husk_error_release (&err);
}

static void
test_rundir_and_overlay_remove (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = create_ok (f, "rd", IMAGE_A);
  cleanup_free char *rundir = NULL, *workwork = NULL, *file = NULL, *rel = NULL;
  husk_error_t err = NULL;
  struct stat st;
  int fd;

  assert_int_equal (husk_store_container_rundir (f->s, id, false, &rundir, &err), 0);
  assert_true (stat (rundir, &st) < 0);
  free (rundir);
  assert_int_equal (husk_store_container_rundir (f->s, id, true, &rundir, &err), 0);
  assert_int_equal (stat (rundir, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0700);

  /* What overlay leaves: work/work with mode 000 and something inside.  */
  workwork = xasprintf ("%s/containers/%s/work/work", f->root, id);
  assert_int_equal (mkdir (workwork, 0700), 0);
  file = xasprintf ("%s/x", workwork);
  fd = open (file, O_CREAT | O_WRONLY, 0600);
  assert_true (fd >= 0);
  close (fd);
  assert_int_equal (chmod (workwork, 0), 0);

  assert_int_equal (husk_store_container_remove (f->s, id, &err), 0);
  rel = xasprintf ("containers/%s", id);
  assert_false (path_exists (f, rel));
  free (rel);
  rel = xasprintf ("containers/.removing-%s", id);
  assert_false (path_exists (f, rel));
  assert_true (stat (rundir, &st) < 0);
}

static void
test_repair (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *keep = create_ok (f, "keep", IMAGE_A);
  cleanup_free char *gone = create_ok (f, "gone", IMAGE_A);
  cleanup_free char *orphan = husk_store_container_new_id ();
  cleanup_free char *p = NULL, *stale_run = NULL, *keep_run = NULL;
  struct husk_container_record *const *list = NULL;
  struct husk_container_record *r = NULL;
  husk_error_t err = NULL;
  size_t n = 0;
  int cfd;

  cfd = openat (husk_store_rootfd (f->s), "containers", O_RDONLY | O_DIRECTORY);
  assert_true (cfd >= 0);
  /* A create that died before its rename, one that died before the
     index write, a removal that died half-way, a stray temp file.  */
  p = xasprintf (".new-%s", orphan);
  assert_int_equal (mkdirat (cfd, p, 0700), 0);
  assert_int_equal (mkdirat (cfd, orphan, 0700), 0);
  assert_int_equal (mkdirat (cfd, ".removing-123", 0700), 0);
  close (openat (cfd, ".containers.json.tmp-abcdefgh", O_CREAT | O_WRONLY, 0600));
  /* A record whose directory vanished.  */
  assert_int_equal (husk_rm_rf_at (cfd, gone, &err), 0);
  /* Runroot dirs are not repair's business: another root may share the
     runroot.  */
  assert_int_equal (husk_store_container_rundir (f->s, orphan, true, &stale_run, &err), 0);
  assert_int_equal (husk_store_container_rundir (f->s, keep, true, &keep_run, &err), 0);

  assert_int_equal (husk_store_repair (f->s, &err), 0);
  assert_true (faccessat (cfd, p, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
  assert_true (faccessat (cfd, orphan, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
  assert_true (faccessat (cfd, ".removing-123", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
  assert_true (faccessat (cfd, ".containers.json.tmp-abcdefgh", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
  assert_int_equal (faccessat (cfd, keep, F_OK, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (access (stale_run, F_OK), 0);
  assert_int_equal (access (keep_run, F_OK), 0);
  assert_int_equal (husk_store_containers (f->s, &list, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (list[0]->id, keep);
  assert_int_equal (husk_store_container_find (f->s, "gone", &r, &err), 0);

  /* Taking the exclusive lock repairs too, from another handle.  */
  assert_int_equal (mkdirat (cfd, orphan, 0700), 0);
  husk_store_unlock (f->s);
  {
    husk_store_t *s2 = NULL;
    open_store (f, &s2);
    assert_int_equal (husk_store_lock (s2, true, &err), 0);
    husk_store_close (s2);
  }
  assert_true (faccessat (cfd, orphan, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
  close (cfd);
}

/* An ephemeral (run --rm) container of an earlier boot is dropped.  */
static void
test_repair_ephemeral_other_boot (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *eph = husk_store_container_new_id ();
  cleanup_free char *old = husk_store_container_new_id ();
  cleanup_free char *data = NULL, *needle = NULL, *rel = NULL;
  struct husk_container_record *const *list = NULL;
  husk_error_t err = NULL;
  size_t n = 0, len = 0;
  char *at;
  int cfd;

  assert_int_equal (create_full (f->s, eph, "eph", IMAGE_A, true, NULL, &err), 0);
  assert_int_equal (create_full (f->s, old, "old", IMAGE_A, true, NULL, &err), 0);
  rel = xasprintf ("containers/%s/ephemeral", old);
  assert_true (path_exists (f, rel));
  /* Nothing to do in this boot.  */
  assert_int_equal (husk_store_repair (f->s, &err), 0);
  assert_int_equal (husk_store_containers (f->s, &list, &n, &err), 0);
  assert_int_equal (n, 2);

  /* Pretend "old" was made in another boot.  */
  cfd = openat (husk_store_rootfd (f->s), "containers", O_RDONLY | O_DIRECTORY);
  assert_int_equal (husk_read_file_at (cfd, "containers.json", 0, &data, &len, &err), 0);
  needle = xasprintf ("\"name\":\"old\"");
  at = strstr (data, needle);
  assert_non_null (at);
  at = strstr (at, husk_store_boot_id ());
  assert_non_null (at);
  memcpy (at, "00000000", 8);
  assert_int_equal (husk_write_file_atomic (cfd, "containers.json", data, len, 0600, &err), 0);

  assert_int_equal (husk_store_repair (f->s, &err), 0);
  assert_int_equal (husk_store_containers (f->s, &list, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (list[0]->id, eph);
  assert_true (faccessat (cfd, old, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
  assert_int_equal (faccessat (cfd, eph, F_OK, AT_SYMLINK_NOFOLLOW), 0);
  close (cfd);
}

/* After repair, every record has a complete directory and every
   directory a record.  */
static void
assert_consistent (struct fixture *f)
{
  struct husk_container_record *const *list = NULL;
  husk_error_t err = NULL;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  size_t i, n = 0, dirs = 0;
  int cfd;

  assert_int_equal (husk_store_containers (f->s, &list, &n, &err), 0);
  for (i = 0; i < n; i++)
    {
      struct husk_container_state st = { 0 };
      cleanup_free char *cfg = NULL;
      size_t len = 0;

      if (husk_store_container_state (f->s, list[i]->id, &st, &err) < 0)
        fail_msg ("state of %s: %s", list[i]->id, err->msg);
      husk_container_state_clear (&st);
      if (husk_store_container_config (f->s, list[i]->id, &cfg, &len, &err) < 0)
        fail_msg ("config of %s: %s", list[i]->id, err->msg);
    }
  cfd = openat (husk_store_rootfd (f->s), "containers", O_RDONLY | O_DIRECTORY);
  assert_true (cfd >= 0);
  d = fdopendir (cfd);
  assert_non_null (d);
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strcmp (de->d_name, "containers.json") == 0)
        continue;
      if (!husk_store_is_hex64 (de->d_name))
        fail_msg ("left over: %s", de->d_name);
      dirs++;
    }
  assert_int_equal (dirs, n);
}

/* kill -9 of a writer at random moments: repair always restores a
   consistent store.  */
static void
test_kill_writer (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  int round;

  husk_store_unlock (f->s);
  for (round = 0; round < 30; round++)
    {
      pid_t child = fork ();
      int status;

      assert_true (child >= 0);
      if (child == 0)
        {
          husk_store_t *s2 = NULL;
          unsigned i;

          open_store (f, &s2);
          for (i = 0;; i++)
            {
              cleanup_free char *id = husk_store_container_new_id ();
              char *cmd[] = { NULL };
              struct husk_container_new c = {
                .id = id,
                .image_id = IMAGE_A,
                .command = cmd,
                .config = "{}",
                .config_len = 2,
                .ephemeral = i % 2 == 0,
              };
              struct husk_container_record *const *list = NULL;
              size_t n = 0;

              if (husk_store_lock (s2, true, &err) < 0
                  || husk_store_container_create (s2, &c, NULL, &err) < 0)
                _exit (3);
              if (i % 3 == 0 && husk_store_containers (s2, &list, &n, &err) == 0 && n > 0
                  && husk_store_container_remove (s2, list[0]->id, &err) < 0)
                _exit (4);
              husk_store_unlock (s2);
            }
        }
      usleep ((useconds_t)(1000 + (round * 1777) % 9000));
      kill (child, SIGKILL);
      assert_int_equal (waitpid (child, &status, 0), child);
      assert_true (WIFSIGNALED (status));
      assert_int_equal (husk_store_lock (f->s, true, &err), 0);
      assert_consistent (f);
      husk_store_unlock (f->s);
    }
}

static void
test_image_in_use (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *id = NULL;
  husk_error_t err = NULL;

  assert_false (husk_store_image_in_use (f->s, IMAGE_A));
  id = create_ok (f, "user", IMAGE_A);
  assert_true (husk_store_image_in_use (f->s, IMAGE_A));
  assert_true (husk_store_image_in_use (f->s, "sha256:" IMAGE_A));
  assert_false (husk_store_image_in_use (f->s, IMAGE_B));
  assert_int_equal (husk_store_container_remove (f->s, id, &err), 0);
  assert_false (husk_store_image_in_use (f->s, IMAGE_A));
}

static double
elapsed_ms (const struct timespec *a)
{
  struct timespec b;

  clock_gettime (getenv ("HUSK_TEST_CPU") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &b);
  return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void
test_speed (void **state)
{
  struct fixture *f = *state;
  struct husk_container_record *const *list = NULL;
  husk_store_t *s2 = NULL;
  husk_error_t err = NULL;
  struct timespec t0;
  size_t i, n = 0;
  int running = 0, round;

  if (getenv ("HUSK_TEST_SPEED") == NULL)
    skip ();
  clock_gettime (getenv ("HUSK_TEST_CPU") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t0);
  for (i = 0; i < 1000; i++)
    {
      cleanup_free char *id = husk_store_container_new_id ();
      assert_int_equal (create_full (f->s, id, NULL, IMAGE_A, true, NULL, &err), 0);
      if (i % 2 == 0)
        write_running (f, id, getpid (), husk_store_pid_start_time (getpid ()), husk_store_boot_id ());
    }
  printf ("create 1000: %.1f ms\n", elapsed_ms (&t0));
  husk_store_unlock (f->s);

  for (round = 0; round < 5; round++)
    {
      running = 0;
      clock_gettime (getenv ("HUSK_TEST_CPU") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t0);
      open_store (f, &s2);
      assert_int_equal (husk_store_lock (s2, false, &err), 0);
      assert_int_equal (husk_store_containers (s2, &list, &n, &err), 0);
      assert_int_equal (n, 1000);
      printf ("open + list 1000: %.2f ms\n", elapsed_ms (&t0));
      for (i = 0; i < n; i++)
        {
          struct husk_container_state st = { 0 };
          assert_int_equal (husk_store_container_state (s2, list[i]->id, &st, &err), 0);
          running += st.status == HUSK_CONTAINER_RUNNING;
          husk_container_state_clear (&st);
        }
      printf ("open + list + 1000 states: %.2f ms (%d running)\n", elapsed_ms (&t0), running);
      assert_int_equal (running, 500);
      husk_store_close (s2);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_create_find_list_remove, setup, teardown),
    cmocka_unit_test_setup_teardown (test_names, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rename, setup, teardown),
    cmocka_unit_test_setup_teardown (test_new_id, setup, teardown),
    cmocka_unit_test_setup_teardown (test_needs_exclusive_lock, setup, teardown),
    cmocka_unit_test_setup_teardown (test_prefix, setup, teardown),
    cmocka_unit_test_setup_teardown (test_state_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_liveness, setup, teardown),
    cmocka_unit_test_setup_teardown (test_lock, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rundir_and_overlay_remove, setup, teardown),
    cmocka_unit_test_setup_teardown (test_repair, setup, teardown),
    cmocka_unit_test_setup_teardown (test_repair_ephemeral_other_boot, setup, teardown),
    cmocka_unit_test_setup_teardown (test_kill_writer, setup, teardown),
    cmocka_unit_test_setup_teardown (test_image_in_use, setup, teardown),
    cmocka_unit_test_setup_teardown (test_speed, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
