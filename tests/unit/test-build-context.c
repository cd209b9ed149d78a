/* Unit tests for src/build/ignore.c and src/build/context.c: Docker's
   .dockerignore rules, the ignore file's load order, COPY source globs
   inside the root, the sources digest, and COPY's copy semantics.  Temp
   trees live under a mkdtemp directory.  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/build.h"
#include "husk/fs.h"
#include "husk/util.h"

struct fixture
{
  char *path;
  int fd;    /* the temp directory */
  int src;   /* src/: a build context */
  int dst;   /* dst/: an image root */
  int outer; /* outer/ next to dst/: must stay empty */
};

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));

  f->path = xstrdup ("/tmp/husk-test-build-context-XXXXXX");
  assert_non_null (mkdtemp (f->path));
  f->fd = open (f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->fd >= 0);
  assert_int_equal (mkdirat (f->fd, "src", 0755), 0);
  assert_int_equal (mkdirat (f->fd, "dst", 0755), 0);
  assert_int_equal (mkdirat (f->fd, "outer", 0755), 0);
  f->src = openat (f->fd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->dst = openat (f->fd, "dst", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->outer = openat (f->fd, "outer", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->src >= 0 && f->dst >= 0 && f->outer >= 0);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  close (f->src);
  close (f->dst);
  close (f->outer);
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
read_text (int dirfd, const char *name)
{
  husk_error_t err = NULL;
  char *data = NULL;
  size_t len;

  if (husk_read_file_at (dirfd, name, 0, &data, &len, &err) < 0)
    {
      husk_error_release (&err);
      return NULL;
    }
  return data;
}

static void
mkdirs (int dirfd, const char *path)
{
  husk_error_t err = NULL;
  int fd = husk_mkdir_in_root (dirfd, path, 0755, &err);
  assert_true (fd >= 0);
  close (fd);
}

static husk_build_ignore_t *
ignore_of (const char *text)
{
  husk_build_ignore_t *ig = NULL;
  husk_error_t err = NULL;

  if (husk_build_ignore_parse (text, strlen (text), &ig, &err) < 0)
    fail_msg ("parse: %s", err->msg);
  return ig;
}

static bool
excluded (const char *patterns, const char *path)
{
  cleanup_build_ignore husk_build_ignore_t *ig = ignore_of (patterns);
  return husk_build_ignore_match (ig, path);
}

/* ---- ignore rules ---- */

static void
test_ignore_docs_examples (void **state)
{
  (void)state;
  /* Docker's documentation: */
  assert_true (excluded ("*/temp*", "somedir/temporary.txt"));
  assert_true (excluded ("*/temp*", "somedir/temp"));
  assert_false (excluded ("*/temp*", "temp"));
  assert_false (excluded ("*/temp*", "a/b/temp"));
  assert_true (excluded ("*/*/temp*", "somedir/subdir/temporary.txt"));
  assert_false (excluded ("*/*/temp*", "somedir/temporary.txt"));
  assert_true (excluded ("temp?", "tempa"));
  assert_true (excluded ("temp?", "tempb/x"));
  assert_false (excluded ("temp?", "temp"));
  assert_false (excluded ("temp?", "tempab"));
  assert_true (excluded ("**/*.go", "main.go"));
  assert_true (excluded ("**/*.go", "a/b/c.go"));
  assert_false (excluded ("**/*.go", "a/b/c.gox"));
  assert_true (excluded ("*.md\n!README.md\n", "CHANGES.md"));
  assert_false (excluded ("*.md\n!README.md\n", "README.md"));
  /* The last match wins.  */
  assert_true (excluded ("!README.md\n*.md\n", "README.md"));
  assert_true (excluded ("*.md\n!README*.md\nREADME-secret.md\n", "README-secret.md"));
  assert_false (excluded ("*.md\n!README*.md\nREADME-secret.md\n", "README-x.md"));
}

static void
test_ignore_syntax (void **state)
{
  (void)state;
  /* A directory excludes what is below it.  */
  assert_true (excluded ("foo", "foo/bar/baz"));
  assert_true (excluded ("foo/bar", "foo/bar/baz"));
  assert_false (excluded ("foo/bar", "foo/baz"));
  assert_false (excluded ("foo", "foobar"));
  /* Comments, blanks, cleaning, a leading "/".  */
  assert_false (excluded ("# foo\n", "# foo"));
  assert_false (excluded ("#foo\n", "foo"));
  assert_true (excluded ("  foo  \r\n", "foo"));
  assert_true (excluded ("/foo", "foo"));
  assert_true (excluded ("./a/../foo/", "foo"));
  assert_true (excluded ("a//b/./c", "a/b/c"));
  assert_true (excluded ("\xef\xbb\xbf"
                         "foo\n",
                         "foo"));
  assert_true (excluded ("x\n\n\n  \nfoo", "foo"));
  /* Classes, ranges, escapes.  */
  assert_true (excluded ("[a-c].txt", "b.txt"));
  assert_false (excluded ("[a-c].txt", "d.txt"));
  assert_true (excluded ("[^a].txt", "b.txt"));
  assert_false (excluded ("[^a].txt", "a.txt"));
  assert_true (excluded ("\\*x", "*x"));
  assert_false (excluded ("\\*x", "ax"));
  assert_true (excluded ("?.txt", "\xc3\xa9.txt")); /* one rune, two bytes */
  /* "**" anywhere.  */
  assert_true (excluded ("a/**/b", "a/b"));
  assert_true (excluded ("a/**/b", "a/x/y/b"));
  assert_false (excluded ("a/**/b", "a/x/y/c"));
  assert_true (excluded ("**", "anything/at/all"));
  assert_true (excluded ("foo/**", "foo/x"));
  assert_false (excluded ("foo/**", "foo"));
  assert_true (excluded ("**/node_modules", "a/b/node_modules/c/d.js"));
  /* Patterns that never match a path.  */
  assert_false (excluded ("/", "foo"));
  assert_false (excluded (".", "foo"));
  assert_false (excluded ("", "foo"));
}

static void
test_ignore_reinclude (void **state)
{
  cleanup_build_ignore husk_build_ignore_t *ig = ignore_of ("foo\n!foo/keep\nbar\n");
  cleanup_build_ignore husk_build_ignore_t *ig2 = ignore_of ("*\n!**/keep.txt\n");
  cleanup_build_ignore husk_build_ignore_t *ig3 = ignore_of ("docs\n!docs/*.md\n");

  (void)state;
  assert_true (husk_build_ignore_match (ig, "foo"));
  assert_true (husk_build_ignore_match (ig, "foo/other"));
  assert_false (husk_build_ignore_match (ig, "foo/keep"));
  assert_false (husk_build_ignore_match (ig, "foo/keep/inside"));
  assert_true (husk_build_ignore_match (ig, "bar/x"));
  assert_true (husk_build_ignore_may_reinclude (ig, "foo"));
  assert_false (husk_build_ignore_may_reinclude (ig, "bar"));
  assert_false (husk_build_ignore_may_reinclude (ig, "foo/other"));

  assert_true (husk_build_ignore_match (ig2, "a"));
  assert_false (husk_build_ignore_match (ig2, "a/b/keep.txt"));
  assert_true (husk_build_ignore_may_reinclude (ig2, "a/b"));

  assert_true (husk_build_ignore_may_reinclude (ig3, "docs"));
  assert_false (husk_build_ignore_match (ig3, "docs/x.md"));
  assert_true (husk_build_ignore_match (ig3, "docs/x.txt"));
}

static void
test_ignore_bad_pattern (void **state)
{
  husk_build_ignore_t *ig = NULL;
  husk_error_t err = NULL;
  const char *bad[] = { "[a-", "x[", "[]", "a\\", "[-a]", "[a-]" };

  (void)state;
  assert_true (husk_build_ignore_parse ("ok\n# c\n[a-\n", 11, &ig, &err) < 0);
  assert_null (ig);
  assert_non_null (strstr (err->msg, "line 3"));
  assert_non_null (strstr (err->msg, "[a-"));
  husk_error_release (&err);
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      assert_true (husk_build_ignore_parse (bad[i], strlen (bad[i]), &ig, &err) < 0);
      assert_non_null (strstr (err->msg, "line 1"));
      husk_error_release (&err);
    }
  assert_true (husk_build_ignore_parse ("a\n!\n", 4, &ig, &err) < 0);
  assert_non_null (strstr (err->msg, "line 2"));
  husk_error_release (&err);
}

static void
test_ignore_load_order (void **state)
{
  struct fixture *f = *state;
  husk_build_ignore_t *ig = NULL;
  husk_error_t err = NULL;

  /* None: excludes nothing.  */
  assert_int_equal (husk_build_ignore_load (f->src, "Dockerfile", &ig, &err), 0);
  assert_false (husk_build_ignore_match (ig, "a"));
  husk_build_ignore_free (ig);

  write_text (f->src, ".dockerignore", "a\n");
  assert_int_equal (husk_build_ignore_load (f->src, "Dockerfile", &ig, &err), 0);
  assert_true (husk_build_ignore_match (ig, "a"));
  husk_build_ignore_free (ig);

  write_text (f->src, ".containerignore", "b\n");
  assert_int_equal (husk_build_ignore_load (f->src, NULL, &ig, &err), 0);
  assert_false (husk_build_ignore_match (ig, "a"));
  assert_true (husk_build_ignore_match (ig, "b"));
  husk_build_ignore_free (ig);

  mkdirs (f->src, "sub");
  write_text (f->src, "sub/app.Dockerfile.dockerignore", "c\n");
  assert_int_equal (husk_build_ignore_load (f->src, "sub/app.Dockerfile", &ig, &err), 0);
  assert_true (husk_build_ignore_match (ig, "c"));
  assert_false (husk_build_ignore_match (ig, "b"));
  husk_build_ignore_free (ig);
  /* Another Dockerfile has no file of its own.  */
  assert_int_equal (husk_build_ignore_load (f->src, "sub/Dockerfile", &ig, &err), 0);
  assert_true (husk_build_ignore_match (ig, "b"));
  husk_build_ignore_free (ig);

  /* A bad file names itself and the line.  */
  write_text (f->src, ".containerignore", "ok\n[\n");
  assert_true (husk_build_ignore_load (f->src, NULL, &ig, &err) < 0);
  assert_non_null (strstr (err->msg, ".containerignore"));
  assert_non_null (strstr (err->msg, "line 2"));
  husk_error_release (&err);
}

/* ---- sources ---- */

static void
make_tree (int fd)
{
  mkdirs (fd, "dir/sub");
  mkdirs (fd, "etc");
  write_text (fd, "a.txt", "a");
  write_text (fd, "b.txt", "b");
  write_text (fd, "c.md", "c");
  write_text (fd, ".hidden.txt", "h");
  write_text (fd, "dir/x.txt", "x");
  write_text (fd, "dir/sub/y.txt", "y");
  write_text (fd, "etc/passwd", "root-of-context\n");
}

static char *
match_joined (int rootfd, const char *pattern, const husk_build_ignore_t *ig, husk_error_t *err)
{
  cleanup_strv char **v = NULL;

  if (husk_build_sources_match (rootfd, pattern, ig, &v, err) < 0)
    return NULL;
  return strv_join (v, " ");
}

static void
assert_matches (int rootfd, const char *pattern, const husk_build_ignore_t *ig, const char *expected)
{
  husk_error_t err = NULL;
  cleanup_free char *got = match_joined (rootfd, pattern, ig, &err);

  if (got == NULL)
    fail_msg ("%s: %s", pattern, err->msg);
  assert_string_equal (got, expected);
}

static void
test_sources_match (void **state)
{
  struct fixture *f = *state;
  cleanup_build_ignore husk_build_ignore_t *ig = ignore_of ("b.txt\ndir/sub\n");

  make_tree (f->src);
  assert_matches (f->src, "*.txt", NULL, ".hidden.txt a.txt b.txt");
  assert_matches (f->src, "/./*.txt", ig, ".hidden.txt a.txt");
  assert_matches (f->src, "d?r/*/y.txt", NULL, "dir/sub/y.txt");
  assert_matches (f->src, "[ab].*", NULL, "a.txt b.txt");
  assert_matches (f->src, "dir", NULL, "dir");
  assert_matches (f->src, "./dir/", NULL, "dir");
  assert_matches (f->src, ".", NULL, ".");
  assert_matches (f->src, "/", NULL, ".");
  assert_matches (f->src, "dir/../a.txt", NULL, "a.txt");
  /* ".." cannot climb above the root.  */
  assert_matches (f->src, "../../etc/passwd", NULL, "etc/passwd");
  assert_matches (f->src, "/../*/passwd", NULL, "etc/passwd");
}

static void
test_sources_missing (void **state)
{
  struct fixture *f = *state;
  cleanup_build_ignore husk_build_ignore_t *ig = ignore_of ("b.txt\ndir/sub\n");
  husk_error_t err = NULL;
  char **v = NULL;

  make_tree (f->src);
  assert_true (husk_build_sources_match (f->src, "nothere.txt", NULL, &v, &err) < 0);
  assert_string_equal (err->msg, "file not found in build context or excluded by .dockerignore: stat "
                                 "nothere.txt: file does not exist");
  husk_error_release (&err);
  assert_true (husk_build_sources_match (f->src, "b.txt", ig, &v, &err) < 0);
  assert_string_equal (err->msg,
                       "file not found in build context or excluded by .dockerignore: stat b.txt: file does "
                       "not exist");
  husk_error_release (&err);
  assert_true (husk_build_sources_match (f->src, "d?r/*/y.txt", ig, &v, &err) < 0);
  assert_string_equal (err->msg, "COPY failed: no source files were specified");
  husk_error_release (&err);
  assert_true (husk_build_sources_match (f->src, "*.nothing", NULL, &v, &err) < 0);
  assert_string_equal (err->msg, "COPY failed: no source files were specified");
  husk_error_release (&err);
  assert_true (husk_build_sources_match (f->src, "nodir/*.txt", NULL, &v, &err) < 0);
  assert_string_equal (err->msg, "COPY failed: no source files were specified");
  husk_error_release (&err);
  assert_null (v);
}

static void
test_sources_symlink_root (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;
  struct husk_build_copy_opts o = { .mtime = -1 };
  cleanup_free char *data = NULL;

  make_tree (f->src);
  assert_int_equal (symlinkat ("/", f->src, "root"), 0);
  assert_int_equal (symlinkat ("/etc/passwd", f->src, "pw"), 0);
  assert_int_equal (symlinkat ("../../../../../../etc", f->src, "up"), 0);
  assert_matches (f->src, "root/etc/passwd", NULL, "root/etc/passwd");
  assert_matches (f->src, "root/*.txt", NULL, "root/.hidden.txt root/a.txt root/b.txt");
  assert_matches (f->src, "up/passwd", NULL, "up/passwd");

  /* Each leads to the context's own etc/passwd, never the host's.  */
  assert_int_equal (husk_build_copy (f->src, "root/etc/passwd", true, f->dst, "/p1", &o, &err), 0);
  assert_int_equal (husk_build_copy (f->src, "pw", true, f->dst, "/p2", &o, &err), 0);
  assert_int_equal (husk_build_copy (f->src, "up/passwd", true, f->dst, "/p3", &o, &err), 0);
  assert_int_equal (husk_build_copy (f->src, "../../etc/passwd", true, f->dst, "/p4", &o, &err), 0);
  for (int i = 1; i <= 4; i++)
    {
      cleanup_free char *name = xasprintf ("p%d", i);
      cleanup_free char *text = read_text (f->dst, name);
      assert_non_null (text);
      assert_string_equal (text, "root-of-context\n");
    }
}

/* ---- digest ---- */

static char *
digest_of (int rootfd, const char *path, const husk_build_ignore_t *ig)
{
  char *paths[] = { (char *)path, NULL };
  husk_error_t err = NULL;
  char *d = NULL;

  if (husk_build_sources_digest (rootfd, paths, ig, &d, &err) < 0)
    fail_msg ("digest: %s", err->msg);
  return d;
}

static void
test_digest (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *d1 = NULL, *d2 = NULL, *d3 = NULL, *d4 = NULL, *d5 = NULL, *d6 = NULL, *d7 = NULL;
  cleanup_free char *d8 = NULL, *d9 = NULL, *d10 = NULL, *da = NULL, *db = NULL, *dc = NULL;
  cleanup_build_ignore husk_build_ignore_t *ig = ignore_of ("dir/sub/y.txt\n");
  struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };
  int other;

  make_tree (f->src);
  assert_int_equal (symlinkat ("x.txt", f->src, "dir/link"), 0);
  d1 = digest_of (f->src, ".", NULL);
  d2 = digest_of (f->src, ".", NULL);
  assert_string_equal (d1, d2);
  assert_true (strncmp (d1, "sha256:", 7) == 0 && strlen (d1) == 71);

  /* The same tree elsewhere, built in another order: the same digest.  */
  assert_int_equal (mkdirat (f->fd, "copy", 0755), 0);
  other = openat (f->fd, "copy", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  write_text (other, "b.txt", "b");
  make_tree (other);
  assert_int_equal (symlinkat ("x.txt", other, "dir/link"), 0);
  da = digest_of (other, ".", NULL);
  assert_string_equal (d1, da);
  close (other);

  /* Times do not count.  */
  assert_int_equal (utimensat (f->src, "dir/x.txt", ts, 0), 0);
  assert_int_equal (utimensat (f->src, "dir", ts, 0), 0);
  d3 = digest_of (f->src, ".", NULL);
  assert_string_equal (d1, d3);

  /* Content, mode, names, link targets do.  */
  write_text (f->src, "dir/x.txt", "X");
  d4 = digest_of (f->src, ".", NULL);
  assert_string_not_equal (d1, d4);
  write_text (f->src, "dir/x.txt", "x");
  d5 = digest_of (f->src, ".", NULL);
  assert_string_equal (d1, d5);
  assert_int_equal (fchmodat (f->src, "dir/x.txt", 0600, 0), 0);
  d6 = digest_of (f->src, ".", NULL);
  assert_string_not_equal (d1, d6);
  assert_int_equal (fchmodat (f->src, "dir/x.txt", 0644, 0), 0);
  assert_int_equal (renameat (f->src, "dir/sub/y.txt", f->src, "dir/sub/z.txt"), 0);
  d7 = digest_of (f->src, ".", NULL);
  assert_string_not_equal (d1, d7);
  assert_int_equal (renameat (f->src, "dir/sub/z.txt", f->src, "dir/sub/y.txt"), 0);
  assert_int_equal (unlinkat (f->src, "dir/link", 0), 0);
  assert_int_equal (symlinkat ("sub", f->src, "dir/link"), 0);
  d8 = digest_of (f->src, ".", NULL);
  assert_string_not_equal (d1, d8);

  /* The ignore rules: an excluded file changes nothing.  */
  d9 = digest_of (f->src, "dir", ig);
  write_text (f->src, "dir/sub/y.txt", "changed");
  d10 = digest_of (f->src, "dir", ig);
  assert_string_equal (d9, d10);
  /* A file's digest depends on its name (the copy uses it).  */
  write_text (f->src, "same1", "same");
  write_text (f->src, "same2", "same");
  db = digest_of (f->src, "same1", NULL);
  dc = digest_of (f->src, "same2", NULL);
  assert_string_not_equal (db, dc);
}

static void
test_digest_many_files (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *d1 = NULL, *d2 = NULL;
  int64_t t0, t1;

  mkdirs (f->src, "many");
  for (int i = 0; i < 2000; i++)
    {
      cleanup_free char *name = xasprintf ("many/f%04d", i);
      write_text (f->src, name, name);
    }
  t0 = husk_now_ns ();
  d1 = digest_of (f->src, ".", NULL);
  t1 = husk_now_ns ();
  d2 = digest_of (f->src, ".", NULL);
  assert_string_equal (d1, d2);
  /* Not a timing test (bench/ measures); printed to see regressions.  */
  print_message ("digest of 2000 files: %.1f ms\n", (double)(t1 - t0) / 1e6);
}

/* ---- copy ---- */

static void
assert_file (int dirfd, const char *path, const char *text)
{
  cleanup_free char *got = read_text (dirfd, path);
  if (got == NULL)
    fail_msg ("%s is missing", path);
  assert_string_equal (got, text);
}

static void
assert_missing (int dirfd, const char *path)
{
  struct stat st;
  assert_true (fstatat (dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
}

static void
copy_ok (struct fixture *f, const char *src, const char *dest, const struct husk_build_copy_opts *o)
{
  husk_error_t err = NULL;
  struct husk_build_copy_opts def = { .mtime = -1 };

  if (husk_build_copy (f->src, src, true, f->dst, dest, o ? o : &def, &err) < 0)
    fail_msg ("copy %s %s: %s", src, dest, err->msg);
}

static void
test_copy_semantics (void **state)
{
  struct fixture *f = *state;
  struct stat st;
  char target[64];
  ssize_t n;

  make_tree (f->src);
  assert_int_equal (symlinkat ("x.txt", f->src, "dir/link"), 0);
  assert_int_equal (symlinkat ("dir", f->src, "dirlink"), 0);

  /* A directory: its contents.  */
  copy_ok (f, "dir", "/app", NULL);
  assert_file (f->dst, "app/x.txt", "x");
  assert_file (f->dst, "app/sub/y.txt", "y");
  assert_missing (f->dst, "app/dir");
  /* Symlinks below the top stay symlinks.  */
  n = readlinkat (f->dst, "app/link", target, sizeof (target));
  assert_int_equal (n, 5);
  assert_memory_equal (target, "x.txt", 5);
  /* A symlink at the top is followed.  */
  copy_ok (f, "dirlink", "/app2", NULL);
  assert_file (f->dst, "app2/sub/y.txt", "y");
  assert_int_equal (fstatat (f->dst, "app2", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISDIR (st.st_mode));
  /* Again over the existing tree.  */
  write_text (f->src, "dir/x.txt", "x2");
  copy_ok (f, "dir", "/app", NULL);
  assert_file (f->dst, "app/x.txt", "x2");

  /* A file into an existing directory.  */
  mkdirs (f->dst, "existing");
  copy_ok (f, "a.txt", "/existing", NULL);
  assert_file (f->dst, "existing/a.txt", "a");
  /* To a new name.  */
  copy_ok (f, "a.txt", "/new.txt", NULL);
  assert_file (f->dst, "new.txt", "a");
  /* Over an existing file.  */
  copy_ok (f, "b.txt", "/new.txt", NULL);
  assert_file (f->dst, "new.txt", "b");
  /* Into dest/ (created).  */
  copy_ok (f, "dir/x.txt", "/newdir/", NULL);
  assert_file (f->dst, "newdir/x.txt", "x2");
  /* Missing parents: 0755.  */
  copy_ok (f, "a.txt", "/p/q/r.txt", NULL);
  assert_file (f->dst, "p/q/r.txt", "a");
  assert_int_equal (fstatat (f->dst, "p/q", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0755);
  /* The root as destination.  */
  copy_ok (f, "c.md", "/", NULL);
  assert_file (f->dst, "c.md", "c");
  copy_ok (f, "dir/sub", "/", NULL);
  assert_file (f->dst, "y.txt", "y");
  /* A directory onto a file: refused.  */
  {
    husk_error_t err = NULL;
    struct husk_build_copy_opts o = { .mtime = -1 };
    assert_true (husk_build_copy (f->src, "dir", true, f->dst, "/new.txt", &o, &err) < 0);
    assert_non_null (strstr (err->msg, "non-directory"));
    husk_error_release (&err);
  }
}

static void
test_copy_metadata (void **state)
{
  struct fixture *f = *state;
  struct husk_build_copy_opts o = { .mtime = -1 };
  struct stat st;

  make_tree (f->src);
  assert_int_equal (fchmodat (f->src, "dir/x.txt", 0640, 0), 0);

  /* Modes and times are kept; owners become 0:0 from the context.  */
  if (geteuid () == 0)
    assert_int_equal (fchownat (f->src, "dir/x.txt", 1000, 1000, 0), 0);
  {
    struct timespec ts[2] = { { 12345, 0 }, { 12345, 0 } };
    assert_int_equal (utimensat (f->src, "dir/x.txt", ts, 0), 0);
  }
  copy_ok (f, "dir", "/keep", &o);
  assert_int_equal (fstatat (f->dst, "keep/x.txt", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0640);
  assert_int_equal (st.st_mtim.tv_sec, 12345);
  if (geteuid () == 0)
    {
      assert_int_equal (st.st_uid, 0);
      assert_int_equal (st.st_gid, 0);
    }

  /* chmod, mtime.  */
  o.chmod = true;
  o.mode = 0600;
  o.mtime = 1000000;
  copy_ok (f, "dir", "/mod", &o);
  assert_int_equal (fstatat (f->dst, "mod/x.txt", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  assert_int_equal (st.st_mtim.tv_sec, 1000000);
  assert_int_equal (fstatat (f->dst, "mod/sub", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  assert_int_equal (st.st_mtim.tv_sec, 1000000);

  if (geteuid () != 0)
    return;
  /* chown, also for the dest directory the copy created.  */
  o = (struct husk_build_copy_opts){ .mtime = -1, .chown = true, .uid = 1234, .gid = 5678 };
  copy_ok (f, "dir", "/own/ed", &o);
  assert_int_equal (fstatat (f->dst, "own/ed/sub/y.txt", &st, 0), 0);
  assert_int_equal (st.st_uid, 1234);
  assert_int_equal (st.st_gid, 5678);
  assert_int_equal (fstatat (f->dst, "own/ed", &st, 0), 0);
  assert_int_equal (st.st_uid, 1234);
  /* The parent created on the way is root's.  */
  assert_int_equal (fstatat (f->dst, "own", &st, 0), 0);
  assert_int_equal (st.st_uid, 0);

  /* Not from the context: the source's owners stay.  */
  {
    husk_error_t err = NULL;
    o = (struct husk_build_copy_opts){ .mtime = -1 };
    assert_int_equal (husk_build_copy (f->src, "dir/x.txt", false, f->dst, "/stage.txt", &o, &err), 0);
    assert_int_equal (fstatat (f->dst, "stage.txt", &st, 0), 0);
    assert_int_equal (st.st_uid, 1000);
  }
}

static void
test_copy_dest_symlinks (void **state)
{
  struct fixture *f = *state;

  make_tree (f->src);
  /* The image's own symlinks lead to places in the image.  */
  assert_int_equal (symlinkat ("/", f->dst, "target"), 0);
  assert_int_equal (symlinkat ("../../../../outer", f->dst, "up"), 0);
  assert_int_equal (symlinkat ("/nonexistent/deeper", f->dst, "dangling"), 0);
  copy_ok (f, "a.txt", "/target/a2.txt", NULL);
  assert_file (f->dst, "a2.txt", "a");
  copy_ok (f, "a.txt", "/target", NULL);
  assert_file (f->dst, "a.txt", "a");
  copy_ok (f, "dir", "/up/", NULL);
  copy_ok (f, "b.txt", "/up/b.txt", NULL);
  copy_ok (f, "b.txt", "/up/deep/", NULL);
  copy_ok (f, "dir", "/dangling", NULL);
  assert_file (f->dst, "outer/x.txt", "x");
  assert_file (f->dst, "outer/b.txt", "b");
  assert_file (f->dst, "outer/deep/b.txt", "b");
  assert_file (f->dst, "nonexistent/deeper/sub/y.txt", "y");
  /* Nothing reached the real outer/.  */
  assert_missing (f->outer, "x.txt");
  assert_missing (f->outer, "b.txt");
}

static void
test_copy_ignore_and_special (void **state)
{
  struct fixture *f = *state;
  cleanup_build_ignore husk_build_ignore_t *ig = ignore_of ("dir\n!dir/sub/y.txt\n*.md\n");
  struct husk_build_copy_opts o = { .mtime = -1, .ig = ig };
  struct stat st;

  make_tree (f->src);
  write_text (f->src, "dir/sub/z.txt", "z");
  assert_int_equal (mkfifoat (f->src, "fifo", 0640), 0);
  copy_ok (f, ".", "/ctx", &o);
  assert_file (f->dst, "ctx/a.txt", "a");
  assert_missing (f->dst, "ctx/c.md");
  assert_missing (f->dst, "ctx/dir/x.txt");
  assert_missing (f->dst, "ctx/dir/sub/z.txt");
  assert_file (f->dst, "ctx/dir/sub/y.txt", "y");
  /* The fifo: copied when the process may (root here, else skipped).  */
  if (fstatat (f->dst, "ctx/fifo", &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      assert_true (S_ISFIFO (st.st_mode));
      assert_int_equal (st.st_mode & 07777, 0640);
    }
  /* The sources see the re-included file's directory, and the digest
     ignores what the copy ignores.  */
  assert_matches (f->src, "dir", ig, "dir");
  assert_matches (f->src, "d*", ig, "dir");
  {
    cleanup_free char *d1 = digest_of (f->src, ".", ig);
    cleanup_free char *d2 = NULL;
    write_text (f->src, "dir/x.txt", "changed");
    write_text (f->src, "c.md", "changed");
    d2 = digest_of (f->src, ".", ig);
    assert_string_equal (d1, d2);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_ignore_docs_examples),
    cmocka_unit_test (test_ignore_syntax),
    cmocka_unit_test (test_ignore_reinclude),
    cmocka_unit_test (test_ignore_bad_pattern),
    cmocka_unit_test_setup_teardown (test_ignore_load_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_sources_match, setup, teardown),
    cmocka_unit_test_setup_teardown (test_sources_missing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_sources_symlink_root, setup, teardown),
    cmocka_unit_test_setup_teardown (test_digest, setup, teardown),
    cmocka_unit_test_setup_teardown (test_digest_many_files, setup, teardown),
    cmocka_unit_test_setup_teardown (test_copy_semantics, setup, teardown),
    cmocka_unit_test_setup_teardown (test_copy_metadata, setup, teardown),
    cmocka_unit_test_setup_teardown (test_copy_dest_symlinks, setup, teardown),
    cmocka_unit_test_setup_teardown (test_copy_ignore_and_special, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
