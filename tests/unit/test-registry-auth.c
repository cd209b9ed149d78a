/* Unit tests for src/registry/auth.c: base64, auth file locations, lookup
   (most specific key, Docker's config.json and its legacy keys), save and
   remove, --creds parsing.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/registry.h"
#include "husk/util.h"

static char *tmpdir;

static char *
tmp_path (const char *rel)
{
  return xasprintf ("%s/%s", tmpdir, rel);
}

static void
write_file (const char *rel, const char *content)
{
  cleanup_free char *path = tmp_path (rel);
  cleanup_free char *dir = xstrndup (path, (size_t)(strrchr (path, '/') - path));
  husk_error_t err = NULL;

  if (husk_mkdir_p (dir, 0700, &err) < 0
      || husk_write_file_atomic (AT_FDCWD, path, content, strlen (content), 0600, &err) < 0)
    fail_msg ("%s", err->msg);
}

static husk_json_t *
read_json (const char *path)
{
  cleanup_free char *buf = NULL;
  husk_error_t err = NULL;
  husk_json_t *v;
  size_t len = 0;

  if (husk_read_file_at (AT_FDCWD, path, 0, &buf, &len, &err) < 0)
    fail_msg ("%s", err->msg);
  v = husk_json_parse (buf, len, &err);
  if (v == NULL)
    fail_msg ("%s", err->msg);
  return v;
}

static int
setup (void **state)
{
  char tmpl[] = "/tmp/husk-test-regauth-XXXXXX";
  cleanup_free char *run = NULL;

  (void)state;
  if (mkdtemp (tmpl) == NULL)
    return -1;
  tmpdir = xstrdup (tmpl);
  run = tmp_path ("run");
  mkdir (run, 0700);
  setenv ("HOME", tmpdir, 1);
  setenv ("XDG_RUNTIME_DIR", run, 1);
  unsetenv ("REGISTRY_AUTH_FILE");
  unsetenv ("XDG_CONFIG_HOME");
  unsetenv ("DOCKER_CONFIG");
  return 0;
}

static int
teardown (void **state)
{
  husk_error_t err = NULL;

  (void)state;
  husk_rm_rf_at (AT_FDCWD, tmpdir, &err);
  free (tmpdir);
  tmpdir = NULL;
  unsetenv ("REGISTRY_AUTH_FILE");
  return 0;
}

/* "user:password", "" when not found, "ERROR msg" on error.  */
static char *
lookup (const char *authfile, const char *key)
{
  cleanup_free char *user = NULL;
  cleanup_free char *password = NULL;
  husk_error_t err = NULL;
  int ret = husk_auth_lookup (authfile, key, &user, &password, &err);

  if (ret < 0)
    {
      char *msg = xasprintf ("ERROR %s", err->msg);
      husk_error_release (&err);
      return msg;
    }
  if (ret == 0)
    {
      assert_null (user);
      assert_null (password);
      return xstrdup ("");
    }
  return xasprintf ("%s:%s", user, password);
}

static void
assert_lookup (const char *authfile, const char *key, const char *expected)
{
  cleanup_free char *got = lookup (authfile, key);
  assert_string_equal (got, expected);
}

static void
test_base64 (void **state)
{
  static const char *const vectors[][2] = {
    { "", "" },
    { "f", "Zg==" },
    { "fo", "Zm8=" },
    { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" },
    { "user:pass", "dXNlcjpwYXNz" },
    { "\xff\xfe:\x01", "//46AQ==" },
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof (vectors) / sizeof (vectors[0]); i++)
    {
      cleanup_free char *enc = husk_base64_encode (vectors[i][0], strlen (vectors[i][0]));
      cleanup_free char *dec = NULL;
      husk_error_t err = NULL;
      size_t len = 0;

      assert_string_equal (enc, vectors[i][1]);
      assert_int_equal (husk_base64_decode (enc, &dec, &len, &err), 0);
      assert_int_equal (len, strlen (vectors[i][0]));
      assert_memory_equal (dec, vectors[i][0], len);
    }
}

static void
test_base64_decode_lenient_and_errors (void **state)
{
  cleanup_free char *dec = NULL;
  husk_error_t err = NULL;
  char *bad = NULL;

  (void)state;
  assert_int_equal (husk_base64_decode ("Zm9vYg", &dec, NULL, &err), 0);
  assert_string_equal (dec, "foob");
  assert_true (husk_base64_decode ("Zm9v!A", &bad, NULL, &err) < 0);
  assert_string_equal (err->msg, "invalid base64 data: unexpected character at offset 4");
  husk_error_release (&err);
  assert_true (husk_base64_decode ("Z", &bad, NULL, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_base64_decode ("Zg===", &bad, NULL, &err) < 0);
  husk_error_release (&err);
  assert_null (bad);
}

static void
test_auth_file_path (void **state)
{
  cleanup_free char *given = husk_auth_file_path ("/x/auth.json");
  cleanup_free char *runtime = husk_auth_file_path (NULL);
  cleanup_free char *expected_runtime = tmp_path ("run/containers/auth.json");
  cleanup_free char *env = NULL;
  cleanup_free char *home = NULL;
  cleanup_free char *expected_home = tmp_path (".config/containers/auth.json");

  (void)state;
  assert_string_equal (given, "/x/auth.json");
  assert_string_equal (runtime, expected_runtime);
  setenv ("REGISTRY_AUTH_FILE", "/env/auth.json", 1);
  env = husk_auth_file_path (NULL);
  assert_string_equal (env, "/env/auth.json");
  unsetenv ("REGISTRY_AUTH_FILE");
  unsetenv ("XDG_RUNTIME_DIR");
  home = husk_auth_file_path (NULL);
  assert_string_equal (home, expected_home);
}

static void
test_save_lookup_mode (void **state)
{
  cleanup_free char *path = tmp_path ("run/containers/auth.json");
  cleanup_free char *dir = tmp_path ("run/containers");
  cleanup_json husk_json_t *doc = NULL;
  husk_error_t err = NULL;
  struct stat st;

  (void)state;
  assert_lookup (NULL, "localhost:5000", "");
  assert_int_equal (husk_auth_save (NULL, "localhost:5000", "alice", "s3cr:et", &err), 0);
  assert_int_equal (husk_auth_save (NULL, "quay.io", "bob", "pw", &err), 0);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  assert_int_equal (stat (dir, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0700);
  assert_lookup (NULL, "localhost:5000", "alice:s3cr:et");
  assert_lookup (NULL, "localhost:5000/some/repo", "alice:s3cr:et");
  assert_lookup (NULL, "quay.io", "bob:pw");
  assert_lookup (NULL, "localhost:5001", "");

  doc = read_json (path);
  assert_string_equal (
      husk_json_get_string (husk_json_get_path (doc, "auths", "localhost:5000", NULL), "auth"),
      "YWxpY2U6czNjcjpldA==");

  /* Saving again replaces the entry and keeps the others.  */
  assert_int_equal (husk_auth_save (NULL, "localhost:5000", "alice", "new", &err), 0);
  assert_lookup (NULL, "localhost:5000", "alice:new");
  assert_lookup (NULL, "quay.io", "bob:pw");
}

static void
test_save_keeps_other_keys (void **state)
{
  cleanup_free char *path = tmp_path ("a/b/c/auth.json");
  cleanup_json husk_json_t *doc = NULL;
  husk_error_t err = NULL;

  (void)state;
  write_file ("a/b/c/auth.json",
              "{\"auths\":{\"old.io\":{\"auth\":\"eDp5\"}},\"credHelpers\":{\"gcr.io\":\"gcr\"}}");
  assert_int_equal (husk_auth_save (path, "new.io/ns", "u", "p", &err), 0);
  doc = read_json (path);
  assert_non_null (husk_json_get_path (doc, "credHelpers", "gcr.io", NULL));
  assert_lookup (path, "old.io", "x:y");
  assert_lookup (path, "new.io/ns/repo", "u:p");
  assert_lookup (path, "new.io/other", "");
}

static void
test_most_specific_key_wins (void **state)
{
  cleanup_free char *path = tmp_path ("auth.json");

  (void)state;
  /* host: h:hp, host/ns: n:np, host/ns/deep/repo: r:rp */
  write_file ("auth.json", "{\"auths\":{"
                           "\"reg.io\":{\"auth\":\"aDpocA==\"},"
                           "\"reg.io/ns\":{\"auth\":\"bjpucA==\"},"
                           "\"reg.io/ns/deep/repo\":{\"auth\":\"cjpycA==\"}}}");
  assert_lookup (path, "reg.io/ns/deep/repo", "r:rp");
  assert_lookup (path, "reg.io/ns/deep/other", "n:np");
  assert_lookup (path, "reg.io/ns", "n:np");
  assert_lookup (path, "reg.io/nsx/a", "h:hp");
  assert_lookup (path, "reg.io", "h:hp");
}

static void
test_docker_config_fallback (void **state)
{
  husk_error_t err = NULL;

  (void)state;
  /* Docker's legacy key form for Docker Hub, and a plain one.  */
  write_file (".docker/config.json", "{\"auths\":{"
                                     "\"https://index.docker.io/v1/\":{\"auth\":\"ZDpodWI=\"},"
                                     "\"https://myreg.io\":{\"auth\":\"bTpyZWc=\"},"
                                     "\"plain.io:5000\":{\"auth\":\"cDpwbA==\"}}}");
  assert_lookup (NULL, "docker.io", "d:hub");
  assert_lookup (NULL, "docker.io/library/alpine", "d:hub");
  assert_lookup (NULL, "myreg.io/x", "m:reg");
  assert_lookup (NULL, "plain.io:5000", "p:pl");

  /* ~/.config/containers/auth.json comes before Docker's file, and the
     runtime auth.json before both.  */
  write_file (".config/containers/auth.json", "{\"auths\":{\"plain.io:5000\":{\"auth\":\"Yzpjb25m\"}}}");
  assert_lookup (NULL, "plain.io:5000", "c:conf");
  assert_int_equal (husk_auth_save (NULL, "plain.io:5000", "rt", "x", &err), 0);
  assert_lookup (NULL, "plain.io:5000", "rt:x");
  assert_lookup (NULL, "docker.io", "d:hub");

  /* $DOCKER_CONFIG moves Docker's file.  */
  setenv ("DOCKER_CONFIG", tmpdir, 1);
  assert_lookup (NULL, "docker.io", "");
  unsetenv ("DOCKER_CONFIG");
}

static void
test_explicit_file_is_exclusive (void **state)
{
  cleanup_free char *path = tmp_path ("explicit.json");

  (void)state;
  write_file (".docker/config.json", "{\"auths\":{\"reg.io\":{\"auth\":\"ZDpodWI=\"}}}");
  write_file ("explicit.json", "{\"auths\":{}}");
  assert_lookup (NULL, "reg.io", "d:hub");
  assert_lookup (path, "reg.io", "");
  setenv ("REGISTRY_AUTH_FILE", path, 1);
  assert_lookup (NULL, "reg.io", "");
  /* A missing explicit file is "not logged in", not an error.  */
  unlink (path);
  assert_lookup (NULL, "reg.io", "");
}

static void
test_unusable_entries_and_errors (void **state)
{
  cleanup_free char *path = tmp_path ("a.json");
  cleanup_free char *got = NULL;

  (void)state;
  /* No colon in the decoded value ("nocolon"), an identity token only, an
     empty auth: all skipped.  */
  write_file ("a.json", "{\"auths\":{\"a.io\":{\"auth\":\"bm9jb2xvbg==\"},\"b.io\":{\"identitytoken\":\"t\"},"
                        "\"c.io\":{\"auth\":\"\"}},\"credsStore\":\"desktop\"}");
  assert_lookup (path, "a.io", "");
  assert_lookup (path, "b.io", "");
  assert_lookup (path, "c.io", "");

  write_file ("a.json", "{\"auths\":{\"a.io\":{\"auth\":\"!!!\"}}}");
  got = lookup (path, "a.io");
  assert_true (husk_has_prefix (got, "ERROR auth file `"));
  assert_non_null (strstr (got, "credentials for `a.io`: invalid base64 data"));
  free (steal_pointer (&got));

  write_file ("a.json", "{\"auths\":");
  got = lookup (path, "a.io");
  assert_true (husk_has_prefix (got, "ERROR reading auth file `"));
  free (steal_pointer (&got));

  write_file ("a.json", "");
  assert_lookup (path, "a.io", "");
}

static void
test_remove (void **state)
{
  cleanup_free char *path = tmp_path ("r.json");
  husk_error_t err = NULL;

  (void)state;
  assert_int_equal (husk_auth_remove (path, "a.io", &err), 0);
  assert_int_equal (husk_auth_remove (path, NULL, &err), 0);
  assert_int_equal (husk_auth_save (path, "a.io", "u", "p", &err), 0);
  assert_int_equal (husk_auth_save (path, "b.io", "u", "p", &err), 0);
  assert_int_equal (husk_auth_remove (path, "a.io", &err), 1);
  assert_int_equal (husk_auth_remove (path, "a.io", &err), 0);
  assert_lookup (path, "a.io", "");
  assert_lookup (path, "b.io", "u:p");
  assert_int_equal (husk_auth_remove (path, NULL, &err), 1);
  assert_lookup (path, "b.io", "");
  assert_int_equal (husk_auth_remove (path, NULL, &err), 0);

  /* A Docker-style key for the same host.  */
  write_file ("r.json", "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"ZDpodWI=\"},\"x.io\":{}}}");
  assert_int_equal (husk_auth_remove (path, "docker.io", &err), 1);
  assert_lookup (path, "docker.io", "");
  assert_int_equal (husk_auth_remove (path, "x.io", &err), 1);
}

static void
test_parse_creds (void **state)
{
  char *user = NULL;
  char *password = NULL;
  husk_error_t err = NULL;

  (void)state;
  assert_int_equal (husk_auth_parse_creds ("u:p:w", &user, &password, &err), 0);
  assert_string_equal (user, "u");
  assert_string_equal (password, "p:w");
  free (user);
  free (password);
  assert_int_equal (husk_auth_parse_creds ("only", &user, &password, &err), 0);
  assert_string_equal (user, "only");
  assert_null (password);
  free (user);
  assert_int_equal (husk_auth_parse_creds ("u:", &user, &password, &err), 0);
  assert_string_equal (password, "");
  free (user);
  free (password);
  assert_true (husk_auth_parse_creds (":p", &user, &password, &err) < 0);
  assert_string_equal (err->msg, "username can't be empty");
  husk_error_release (&err);
  assert_true (husk_auth_parse_creds ("", &user, &password, &err) < 0);
  assert_string_equal (err->msg, "credentials can't be empty");
  husk_error_release (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_base64),
    cmocka_unit_test (test_base64_decode_lenient_and_errors),
    cmocka_unit_test_setup_teardown (test_auth_file_path, setup, teardown),
    cmocka_unit_test_setup_teardown (test_save_lookup_mode, setup, teardown),
    cmocka_unit_test_setup_teardown (test_save_keeps_other_keys, setup, teardown),
    cmocka_unit_test_setup_teardown (test_most_specific_key_wins, setup, teardown),
    cmocka_unit_test_setup_teardown (test_docker_config_fallback, setup, teardown),
    cmocka_unit_test_setup_teardown (test_explicit_file_is_exclusive, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unusable_entries_and_errors, setup, teardown),
    cmocka_unit_test_setup_teardown (test_remove, setup, teardown),
    cmocka_unit_test_setup_teardown (test_parse_creds, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
