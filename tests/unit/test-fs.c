/* Unit tests for util/fs.c: atomic writes, bounded reads, rm -rf, path
   resolution inside a root, with openat2 and with the portable walk, and
   directory listings.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/fs.h"
#include "husk/util.h"

struct fixture
{
  char *path;
  int fd;
};

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));

  f->path = xstrdup ("/tmp/husk-test-fs-XXXXXX");
  assert_non_null (mkdtemp (f->path));
  f->fd = open (f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->fd >= 0);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  close (f->fd);
  assert_int_equal (husk_rm_rf_at (AT_FDCWD, f->path, &err), 0);
  free (f->path);
  free (f);
  return 0;
}

static void
write_text (int dirfd, const char *name, const char *text)
{
  int fd = openat (dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
  close (fd);
}

static char *
fd_text (int fd)
{
  husk_error_t err = NULL;
  char *out = NULL;

  assert_int_equal (husk_read_all_fd (fd, 0, &out, NULL, &err), 0);
  return out;
}

/* A root with a fake etc/passwd, and a host canary outside it.  */
static void
make_root (struct fixture *f)
{
  assert_int_equal (mkdirat (f->fd, "root", 0755), 0);
  assert_int_equal (mkdirat (f->fd, "root/etc", 0755), 0);
  write_text (f->fd, "root/etc/passwd", "inside");
  write_text (f->fd, "canary", "outside");
  assert_int_equal (symlinkat ("/etc", f->fd, "root/abs"), 0);
  assert_int_equal (symlinkat ("../../../../../../etc", f->fd, "root/rel"), 0);
  assert_int_equal (symlinkat ("../canary", f->fd, "root/up"), 0);
  assert_int_equal (symlinkat ("chain2/../../abs", f->fd, "root/chain1"), 0);
  assert_int_equal (symlinkat ("/../../abs", f->fd, "root/chain2"), 0);
  assert_int_equal (symlinkat ("loop2", f->fd, "root/loop1"), 0);
  assert_int_equal (symlinkat ("loop1", f->fd, "root/loop2"), 0);
  assert_int_equal (symlinkat ("/etc/newfile", f->fd, "root/dangling"), 0);
  assert_int_equal (symlinkat ("/proc/self/root/etc", f->fd, "root/magic"), 0);
}

static void
check_resolution (struct fixture *f)
{
  husk_error_t err = NULL;
  cleanup_close int root = -1;
  const char *inside[] = { "etc/passwd",    "/etc/passwd",      "abs/passwd",
                           "rel/passwd",    "../../etc/passwd", "etc/../../../etc/passwd",
                           "chain2/passwd", "chain1/passwd",    "./abs/../abs/./passwd" };
  size_t i;
  int fd;

  make_root (f);
  root = openat (f->fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (root >= 0);

  for (i = 0; i < sizeof (inside) / sizeof (inside[0]); i++)
    {
      cleanup_free char *text = NULL;

      fd = husk_open_in_root (root, inside[i], O_RDONLY, 0, &err);
      if (fd < 0)
        fail_msg ("%s: %s", inside[i], err->msg);
      text = fd_text (fd);
      close (fd);
      assert_string_equal (text, "inside");
    }

  /* "up" -> ../canary stays in the root, where there is no canary.  */
  fd = husk_open_in_root (root, "up", O_RDONLY, 0, &err);
  assert_true (fd < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);

  fd = husk_open_in_root (root, "loop1", O_RDONLY, 0, &err);
  assert_true (fd < 0);
  assert_int_equal (err->status, ELOOP);
  husk_error_release (&err);

  /* The magic link's text is not a way out either.  */
  fd = husk_open_in_root (root, "magic/passwd", O_RDONLY, 0, &err);
  assert_true (fd < 0);
  husk_error_release (&err);

  /* O_NOFOLLOW: the final symlink is not followed.  */
  fd = husk_open_in_root (root, "abs", O_RDONLY | O_NOFOLLOW, 0, &err);
  assert_true (fd < 0);
  husk_error_release (&err);
  fd = husk_open_in_root (root, "abs", O_PATH | O_NOFOLLOW, 0, &err);
  assert_true (fd >= 0);
  {
    struct stat st;
    assert_int_equal (fstat (fd, &st), 0);
    assert_true (S_ISLNK (st.st_mode));
  }
  close (fd);

  /* O_CREAT through a dangling absolute symlink creates inside the root.  */
  fd = husk_open_in_root (root, "dangling", O_WRONLY | O_CREAT, 0644, &err);
  if (fd < 0)
    fail_msg ("dangling: %s", err->msg);
  close (fd);
  assert_int_equal (faccessat (root, "etc/newfile", F_OK, 0), 0);
  assert_int_equal (access ("/etc/newfile", F_OK), -1);
  unlinkat (root, "etc/newfile", 0);

  /* O_CREAT|O_EXCL on a symlink: EEXIST, never followed.  */
  fd = husk_open_in_root (root, "dangling", O_WRONLY | O_CREAT | O_EXCL, 0644, &err);
  assert_true (fd < 0);
  assert_int_equal (err->status, EEXIST);
  husk_error_release (&err);

  /* The root itself.  */
  fd = husk_open_in_root (root, "/", O_RDONLY | O_DIRECTORY, 0, &err);
  assert_true (fd >= 0);
  close (fd);
  fd = husk_open_in_root (root, "..", O_PATH | O_DIRECTORY, 0, &err);
  assert_true (fd >= 0);
  {
    struct stat a, b;
    assert_int_equal (fstat (fd, &a), 0);
    assert_int_equal (fstat (root, &b), 0);
    assert_true (a.st_ino == b.st_ino && a.st_dev == b.st_dev);
  }
  close (fd);

  /* ENOTDIR through a file.  */
  fd = husk_open_in_root (root, "etc/passwd/x", O_RDONLY, 0, &err);
  assert_true (fd < 0);
  assert_int_equal (err->status, ENOTDIR);
  husk_error_release (&err);

  /* mkdir -p through symlinks stays inside.  */
  fd = husk_mkdir_in_root (root, "abs/new/deeper", 0755, &err);
  if (fd < 0)
    fail_msg ("mkdir_in_root: %s", err->msg);
  close (fd);
  assert_int_equal (faccessat (root, "etc/new/deeper", F_OK, 0), 0);
  fd = husk_mkdir_in_root (root, "rel/../x/y", 0755, &err);
  if (fd < 0)
    fail_msg ("mkdir_in_root: %s", err->msg);
  close (fd);
  assert_int_equal (faccessat (root, "x/y", F_OK, 0), 0);
  /* A dangling symlink in the way: its target is made, inside.  */
  assert_int_equal (symlinkat ("/nowhere/deep", root, "hole"), 0);
  assert_int_equal (symlinkat ("../rel-target", root, "x/rhole"), 0);
  fd = husk_mkdir_in_root (root, "hole/sub", 0755, &err);
  if (fd < 0)
    fail_msg ("mkdir_in_root: %s", err->msg);
  close (fd);
  assert_int_equal (faccessat (root, "nowhere/deep/sub", F_OK, 0), 0);
  fd = husk_mkdir_in_root (root, "x/rhole/sub", 0755, &err);
  if (fd < 0)
    fail_msg ("mkdir_in_root: %s", err->msg);
  close (fd);
  assert_int_equal (faccessat (root, "rel-target/sub", F_OK, 0), 0);
  fd = husk_mkdir_in_root (root, "loop1/sub", 0755, &err);
  assert_true (fd < 0);
  assert_int_equal (err->status, ELOOP);
  husk_error_release (&err);
  fd = husk_mkdir_in_root (root, "etc/passwd/sub", 0755, &err);
  assert_true (fd < 0);
  husk_error_release (&err);
}

static void
test_open_in_root_openat2 (void **state)
{
  unsetenv ("HUSK_NO_OPENAT2");
  check_resolution (*state);
}

static void
test_open_in_root_walk (void **state)
{
  setenv ("HUSK_NO_OPENAT2", "1", 1);
  check_resolution (*state);
  unsetenv ("HUSK_NO_OPENAT2");
}

static void
test_write_read (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  char *out = NULL;
  size_t len = 0;
  struct stat st;

  assert_int_equal (husk_write_file_atomic (f->fd, "state.json", "{\"a\":1}", 7, 0600, &err), 0);
  assert_int_equal (husk_write_file_atomic (f->fd, "state.json", "{\"b\":22}", 8, 0600, &err), 0);
  assert_int_equal (husk_read_file_at (f->fd, "state.json", 0, &out, &len, &err), 0);
  assert_int_equal (len, 8);
  assert_string_equal (out, "{\"b\":22}");
  free (out);
  assert_int_equal (fstatat (f->fd, "state.json", &st, 0), 0);
  assert_int_equal (st.st_mode & 0777, 0600);

  /* In a subdirectory, and no temp file left behind.  */
  assert_int_equal (mkdirat (f->fd, "sub", 0755), 0);
  assert_int_equal (husk_write_file_atomic (f->fd, "sub/x", "", 0, 0644, &err), 0);
  {
    cleanup_dir DIR *d = fdopendir (openat (f->fd, "sub", O_RDONLY | O_DIRECTORY));
    struct dirent *de;
    int n = 0;
    while ((de = readdir (d)))
      if (de->d_name[0] != '.' || strlen (de->d_name) > 2)
        n++;
    assert_int_equal (n, 1);
  }

  /* Size caps.  */
  assert_true (husk_read_file_at (f->fd, "state.json", 7, &out, &len, &err) < 0);
  assert_non_null (err);
  husk_error_release (&err);
  assert_int_equal (husk_read_file_at (f->fd, "state.json", 8, &out, &len, &err), 0);
  free (out);
  assert_true (husk_read_file_at (f->fd, "missing", 0, &out, &len, &err) < 0);
  assert_int_equal (err->status, ENOENT);
  husk_error_release (&err);

  /* A pipe, read to its end.  */
  {
    int p[2];
    assert_int_equal (pipe (p), 0);
    assert_int_equal (husk_write_all (p[1], "hello", 5, &err), 0);
    close (p[1]);
    assert_int_equal (husk_read_all_fd (p[0], 100, &out, &len, &err), 0);
    close (p[0]);
    assert_int_equal (len, 5);
    assert_string_equal (out, "hello");
    free (out);
  }
}

static void
test_mkdir_p (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  cleanup_free char *p = xasprintf ("%s/a/b//c/", f->path);
  cleanup_free char *file = xasprintf ("%s/a/b/c/file", f->path);
  struct stat st;

  assert_int_equal (husk_mkdir_p (p, 0755, &err), 0);
  assert_int_equal (husk_mkdir_p (p, 0755, &err), 0);
  assert_int_equal (fstatat (f->fd, "a/b/c", &st, 0), 0);
  assert_true (S_ISDIR (st.st_mode));
  write_text (f->fd, "a/b/c/file", "x");
  assert_true (husk_mkdir_p (file, 0755, &err) < 0);
  husk_error_release (&err);
}

static void
test_rm_rf (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  write_text (f->fd, "canary", "keep");
  assert_int_equal (mkdirat (f->fd, "outside", 0755), 0);
  write_text (f->fd, "outside/file", "keep");
  assert_int_equal (mkdirat (f->fd, "t", 0755), 0);
  assert_int_equal (mkdirat (f->fd, "t/ro", 0755), 0);
  assert_int_equal (mkdirat (f->fd, "t/ro/inner", 0755), 0);
  write_text (f->fd, "t/ro/inner/f", "x");
  assert_int_equal (mkdirat (f->fd, "t/none", 0755), 0);
  write_text (f->fd, "t/none/f", "x");
  assert_int_equal (symlinkat ("../outside", f->fd, "t/link"), 0);
  assert_int_equal (symlinkat ("../canary", f->fd, "t/ro/clink"), 0);
  assert_int_equal (fchmodat (f->fd, "t/ro/inner", 0555, 0), 0);
  assert_int_equal (fchmodat (f->fd, "t/ro", 0555, 0), 0);
  assert_int_equal (fchmodat (f->fd, "t/none", 0, 0), 0);

  assert_int_equal (husk_rm_rf_at (f->fd, "t", &err), 0);
  assert_int_equal (faccessat (f->fd, "t", F_OK, AT_SYMLINK_NOFOLLOW), -1);
  assert_int_equal (faccessat (f->fd, "outside/file", F_OK, 0), 0);
  assert_int_equal (faccessat (f->fd, "canary", F_OK, 0), 0);
  /* ENOENT is success; a plain file and a symlink go too.  */
  assert_int_equal (husk_rm_rf_at (f->fd, "t", &err), 0);
  assert_int_equal (symlinkat ("outside", f->fd, "l"), 0);
  assert_int_equal (husk_rm_rf_at (f->fd, "l", &err), 0);
  assert_int_equal (faccessat (f->fd, "outside/file", F_OK, 0), 0);
  assert_int_equal (husk_rm_rf_at (f->fd, "canary", &err), 0);
  assert_int_equal (faccessat (f->fd, "canary", F_OK, 0), -1);
}

static void
test_mkdtemp_du (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  cleanup_free char *a = husk_mkdtemp_at (f->fd, "tmp-", &err);
  cleanup_free char *b = husk_mkdtemp_at (f->fd, "tmp-", &err);
  unsigned long long bytes = 0;
  cleanup_free char *p = NULL;

  assert_non_null (a);
  assert_non_null (b);
  assert_string_not_equal (a, b);
  assert_true (husk_has_prefix (a, "tmp-") && strlen (a) == 10);

  assert_int_equal (mkdirat (f->fd, "du", 0755), 0);
  assert_int_equal (mkdirat (f->fd, "du/sub", 0755), 0);
  write_text (f->fd, "du/one", "12345");
  write_text (f->fd, "du/sub/two", "123");
  assert_int_equal (linkat (f->fd, "du/one", f->fd, "du/sub/one-again", 0), 0);
  write_text (f->fd, "big", "0123456789");
  assert_int_equal (symlinkat ("../big", f->fd, "du/link"), 0);
  assert_int_equal (husk_du_at (f->fd, "du", &bytes, &err), 0);
  assert_int_equal (bytes, 8);
}

/* Sorted bytewise whatever the order of creation, without "." and "..",
   from the first entry even when the fd was read to its end before.  */
static void
test_list_dir_sorted (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  cleanup_strv char **names = NULL;
  cleanup_strv char **again = NULL;
  cleanup_close int dfd = -1;
  size_t n = 99;

  assert_int_equal (mkdirat (f->fd, "d", 0755), 0);
  dfd = openat (f->fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0);
  assert_int_equal (husk_list_dir_sorted (dfd, &names, &n, &err), 0);
  assert_non_null (names);
  assert_null (names[0]);
  assert_int_equal (n, 0);
  strv_free (steal_pointer (&names));

  write_text (dfd, "b", "");
  write_text (dfd, "a.txt", "");
  write_text (dfd, "B", "");
  assert_int_equal (mkdirat (dfd, "c", 0755), 0);
  write_text (dfd, "..x", "");
  assert_int_equal (husk_list_dir_sorted (dfd, &names, &n, &err), 0);
  assert_int_equal (n, 5);
  assert_int_equal (strv_len (names), 5);
  assert_string_equal (names[0], "..x");
  assert_string_equal (names[1], "B");
  assert_string_equal (names[2], "a.txt");
  assert_string_equal (names[3], "b");
  assert_string_equal (names[4], "c");
  /* The same fd again (its offset now at the end), without a count.  */
  assert_int_equal (husk_list_dir_sorted (dfd, &again, NULL, &err), 0);
  assert_int_equal (strv_len (again), 5);

  /* Not a directory: an error, and no names.  */
  {
    cleanup_close int file = openat (dfd, "b", O_RDONLY | O_CLOEXEC);
    assert_true (file >= 0);
    strv_free (steal_pointer (&again));
    assert_true (husk_list_dir_sorted (file, &again, &n, &err) < 0);
    assert_null (again);
    assert_int_equal (n, 0);
    husk_error_release (&err);
  }
}

static void
test_dir_is_empty (void **state)
{
  struct fixture *f = *state;
  char *skip[] = { (char *)"proc", (char *)"etc", NULL };
  cleanup_close int dfd = -1;
  cleanup_close int file = -1;

  assert_int_equal (mkdirat (f->fd, "d", 0755), 0);
  dfd = openat (f->fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0);
  assert_true (husk_dir_is_empty (dfd, NULL));
  assert_true (husk_dir_is_empty (dfd, skip));

  assert_int_equal (mkdirat (dfd, "proc", 0755), 0);
  assert_false (husk_dir_is_empty (dfd, NULL));
  assert_true (husk_dir_is_empty (dfd, skip));
  write_text (dfd, "etc", "");
  assert_true (husk_dir_is_empty (dfd, skip));
  write_text (dfd, "other", "");
  assert_false (husk_dir_is_empty (dfd, skip));

  /* Not readable as a directory: not empty.  */
  file = openat (dfd, "other", O_RDONLY | O_CLOEXEC);
  assert_true (file >= 0);
  assert_false (husk_dir_is_empty (file, NULL));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_write_read, setup, teardown),
    cmocka_unit_test_setup_teardown (test_mkdir_p, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rm_rf, setup, teardown),
    cmocka_unit_test_setup_teardown (test_mkdtemp_du, setup, teardown),
    cmocka_unit_test_setup_teardown (test_open_in_root_openat2, setup, teardown),
    cmocka_unit_test_setup_teardown (test_open_in_root_walk, setup, teardown),
    cmocka_unit_test_setup_teardown (test_list_dir_sorted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_dir_is_empty, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
