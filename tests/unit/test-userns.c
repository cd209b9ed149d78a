/* Unit tests for runtime/userns.c: the /etc/subuid parser, and what the
   namespace functions do as root (nothing).

   Run as `test-userns --enter [FILE]` (and see driver_main) the binary is
   instead a small driver for tests/system/080-rootless.bats: it enters
   the namespace, prints the ids it sees, and with FILE creates it and
   chowns it to 1000:1000, so the test can check where that id lands on
   the host.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/userns.h"
#include "husk/util.h"

struct fixture
{
  char *dir;
  char *file;
};

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));

  f->dir = xstrdup ("/tmp/husk-test-userns-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  f->file = xasprintf ("%s/subuid", f->dir);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;

  unlink (f->file);
  rmdir (f->dir);
  free (f->file);
  free (f->dir);
  free (f);
  return 0;
}

static void
write_subid (struct fixture *f, const char *content)
{
  FILE *out = fopen (f->file, "w");

  assert_non_null (out);
  assert_int_equal (fputs (content, out) >= 0, 1);
  assert_int_equal (fclose (out), 0);
}

/* Look up (uid, user) in content: the return value, start and count.  */
static int
lookup (struct fixture *f, const char *content, uid_t uid, const char *user, unsigned long *start,
        unsigned long *count)
{
  husk_error_t err = NULL;
  int ret;

  write_subid (f, content);
  *start = *count = 0;
  ret = husk_subid_range (f->file, uid, user, start, count, &err);
  if (ret < 0)
    {
      fprintf (stderr, "unexpected error: %s\n", err->msg);
      husk_error_release (&err);
    }
  return ret;
}

static void
test_by_name (void **state)
{
  unsigned long s, c;

  assert_int_equal (lookup (*state, "alice:100000:65536\nbob:165536:65536\n", 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 165536);
  assert_int_equal (c, 65536);
}

static void
test_by_uid (void **state)
{
  unsigned long s, c;

  assert_int_equal (lookup (*state, "alice:100000:65536\n1001:300000:1000\n", 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 300000);
  assert_int_equal (c, 1000);
  /* No name known: the uid alone still matches.  */
  assert_int_equal (lookup (*state, "1001:300000:1000\n", 1001, NULL, &s, &c), 1);
  assert_int_equal (s, 300000);
}

static void
test_first_match_wins (void **state)
{
  unsigned long s, c;

  assert_int_equal (lookup (*state, "1001:1:2\nbob:3:4\nbob:5:6\n", 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 1);
  assert_int_equal (c, 2);
  assert_int_equal (lookup (*state, "bob:3:4\n1001:1:2\n", 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 3);
}

static void
test_no_match (void **state)
{
  unsigned long s, c;

  /* Prefixes and suffixes of the name or uid are other users.  */
  assert_int_equal (lookup (*state, "bobby:1:2\nbo:1:2\n10011:1:2\n100:1:2\n", 1001, "bob", &s, &c), 0);
  assert_int_equal (lookup (*state, "", 1001, "bob", &s, &c), 0);
  assert_int_equal (lookup (*state, "bob:1:2\n", 1001, NULL, &s, &c), 0);
}

static void
test_malformed_lines_skipped (void **state)
{
  unsigned long s, c;
  const char *content = "# comment\n"
                        "\n"
                        "bob\n"
                        "bob:\n"
                        "bob:100\n"
                        "bob:abc:10\n"
                        "bob:100:-1\n"
                        "bob:100:0\n"
                        "bob:-5:10\n"
                        "bob:100:10:extra\n"
                        "bob: 100:10\n"
                        "bob:4294967295:1\n"
                        "bob:4294967290:10\n"
                        "bob:99999999999999999999:1\n"
                        "bob:200000:65536\r\n";

  assert_int_equal (lookup (*state, content, 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 200000);
  assert_int_equal (c, 65536);
}

static void
test_range_at_the_top (void **state)
{
  unsigned long s, c;

  /* The last addressable id is 2^32 - 2.  */
  assert_int_equal (lookup (*state, "bob:4294967290:5\n", 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 4294967290UL);
  assert_int_equal (c, 5);
}

static void
test_no_trailing_newline (void **state)
{
  unsigned long s, c;

  assert_int_equal (lookup (*state, "bob:7:8", 1001, "bob", &s, &c), 1);
  assert_int_equal (s, 7);
  assert_int_equal (c, 8);
}

static void
test_missing_file (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *path = xasprintf ("%s/nonexistent", f->dir);
  husk_error_t err = NULL;
  unsigned long s = 42, c = 42;

  assert_int_equal (husk_subid_range (path, 1001, "bob", &s, &c, &err), 0);
  assert_null (err);
  assert_int_equal (s, 42);
}

static void
test_unreadable_file (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  unsigned long s, c;

  /* A directory opens but cannot be read: an error, not "no range".  */
  assert_true (husk_subid_range (f->dir, 1001, "bob", &s, &c, &err) < 0);
  assert_non_null (err);
  assert_non_null (strstr (err->msg, f->dir));
  husk_error_release (&err);
}

/* The initial user namespace maps every id to itself.  */
static bool
in_initial_userns (void)
{
  char line[128] = "";
  unsigned long a = 1, b = 1, c = 0;
  FILE *f = fopen ("/proc/self/uid_map", "re");

  if (f == NULL)
    return true;
  if (fgets (line, sizeof (line), f) != NULL)
    sscanf (line, "%lu %lu %lu", &a, &b, &c);
  fclose (f);
  return a == 0 && b == 0 && c == 4294967295UL;
}

/* Must run before anything else reads the marker (it is read once).  */
static void
test_marker_ignored_outside_a_namespace (void **state)
{
  if (geteuid () != 0 || !in_initial_userns ())
    skip ();
  /* Only a real root can be here, and anyone can set a variable.  */
  assert_int_equal (setenv (HUSK_USERNS_ENV, "1000:1000:1", 1), 0);
  assert_int_equal (husk_userns_outer_uid (), 0);
  assert_int_equal (husk_userns_outer_gid (), getgid ());
  assert_false (husk_userns_inside ());
  assert_false (husk_userns_is_rootless ());
  assert_true (husk_userns_can_chown ());
  unsetenv (HUSK_USERNS_ENV);
}

static void
test_enter_as_root_does_nothing (void **state)
{
  husk_error_t err = NULL;
  pid_t pid = getpid ();

  if (geteuid () != 0)
    skip ();
  assert_int_equal (husk_userns_enter (&err), 0);
  assert_null (err);
  assert_int_equal (getpid (), pid);
  assert_int_equal (husk_userns_outer_uid (), getuid ());
  assert_false (husk_userns_inside ());
  assert_null (getenv (HUSK_USERNS_ENV));
}

static void
test_outer_ids_without_namespace (void **state)
{
  if (husk_userns_inside ())
    skip ();
  assert_int_equal (husk_userns_outer_uid (), getuid ());
  assert_int_equal (husk_userns_outer_gid (), getgid ());
  assert_int_equal (husk_userns_is_rootless (), getuid () != 0);
  assert_int_equal (husk_userns_can_chown (), geteuid () == 0);
}

static void
print_ids (void)
{
  printf ("uid=%u gid=%u outer_uid=%u outer_gid=%u rootless=%d inside=%d can_chown=%d marker=%s\n",
          (unsigned)getuid (), (unsigned)getgid (), (unsigned)husk_userns_outer_uid (),
          (unsigned)husk_userns_outer_gid (), husk_userns_is_rootless (), husk_userns_inside (),
          husk_userns_can_chown (), getenv (HUSK_USERNS_ENV) ? getenv (HUSK_USERNS_ENV) : "");
  fflush (stdout);
}

/* The driver for the system test: see the comment at the top.
   --enter [FILE [STATUS]]  enter, print the ids, chown FILE, exit STATUS
   --enter-exec [CMD...]    enter, then exec CMD (default: this program
                            with "--show", a nested process)
   --show                   print the ids without entering  */
static int
driver_main (int argc, char **argv)
{
  husk_error_t err = NULL;
  pid_t pid;

  if (strcmp (argv[1], "--show") == 0)
    {
      print_ids ();
      return 0;
    }
  if (husk_userns_enter (&err) < 0)
    return husk_error_report (&err);
  /* A second call inside is a no-op: no new fork, no new namespace.  */
  pid = getpid ();
  if (husk_userns_enter (&err) < 0)
    return husk_error_report (&err);
  if (getpid () != pid)
    {
      fprintf (stderr, "Error: nested husk_userns_enter forked\n");
      return 125;
    }
  if (strcmp (argv[1], "--enter-exec") == 0)
    {
      if (argc > 2)
        execvp (argv[2], argv + 2);
      else
        execl ("/proc/self/exe", argv[0], "--show", NULL);
      fprintf (stderr, "Error: exec: %s\n", strerror (errno));
      return 125;
    }
  print_ids ();
  if (argc > 2)
    {
      int fd = open (argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || fchown (fd, 1000, 1000) < 0)
        {
          fprintf (stderr, "Error: create and chown %s: %s\n", argv[2], strerror (errno));
          return 125;
        }
      close (fd);
    }
  if (argc > 3)
    return atoi (argv[3]);
  return 0;
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_marker_ignored_outside_a_namespace),
    cmocka_unit_test_setup_teardown (test_by_name, setup, teardown),
    cmocka_unit_test_setup_teardown (test_by_uid, setup, teardown),
    cmocka_unit_test_setup_teardown (test_first_match_wins, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_match, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed_lines_skipped, setup, teardown),
    cmocka_unit_test_setup_teardown (test_range_at_the_top, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_trailing_newline, setup, teardown),
    cmocka_unit_test_setup_teardown (test_missing_file, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unreadable_file, setup, teardown),
    cmocka_unit_test (test_enter_as_root_does_nothing),
    cmocka_unit_test (test_outer_ids_without_namespace),
  };

  if (argc > 1 && husk_has_prefix (argv[1], "--"))
    return driver_main (argc, argv);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
