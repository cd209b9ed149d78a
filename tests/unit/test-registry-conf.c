/* Unit tests for src/registry/conf.c: registries.conf loading, drop-ins,
   endpoints (prefix, location rewrite, mirrors, wildcards, blocked) and
   short-name candidates.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "husk/fs.h"
#include "husk/registry.h"
#include "husk/util.h"

static char *tmpdir;

static void
write_file (const char *rel, const char *content)
{
  cleanup_free char *path = xasprintf ("%s/%s", tmpdir, rel);
  cleanup_free char *dir = xstrndup (path, (size_t)(strrchr (path, '/') - path));
  husk_error_t err = NULL;

  if (husk_mkdir_p (dir, 0700, &err) < 0
      || husk_write_file_atomic (AT_FDCWD, path, content, strlen (content), 0644, &err) < 0)
    fail_msg ("%s", err->msg);
}

static int
setup (void **state)
{
  char tmpl[] = "/tmp/husk-test-regconf-XXXXXX";

  (void)state;
  if (mkdtemp (tmpl) == NULL)
    return -1;
  tmpdir = xstrdup (tmpl);
  setenv ("HOME", tmpdir, 1);
  unsetenv ("CONTAINERS_REGISTRIES_CONF");
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
  unsetenv ("CONTAINERS_REGISTRIES_CONF");
  return 0;
}

/* Load from a file given by $CONTAINERS_REGISTRIES_CONF.  */
static husk_registries_conf_t *
load_env (const char *content)
{
  cleanup_free char *path = xasprintf ("%s/env-registries.conf", tmpdir);
  husk_registries_conf_t *c = NULL;
  husk_error_t err = NULL;

  write_file ("env-registries.conf", content);
  setenv ("CONTAINERS_REGISTRIES_CONF", path, 1);
  if (husk_registries_conf_load (&c, &err) < 0)
    fail_msg ("load failed: %s", err->msg);
  return c;
}

static char *
load_env_error (const char *content)
{
  cleanup_free char *path = xasprintf ("%s/env-registries.conf", tmpdir);
  husk_registries_conf_t *c = NULL;
  husk_error_t err = NULL;
  char *msg;

  write_file ("env-registries.conf", content);
  setenv ("CONTAINERS_REGISTRIES_CONF", path, 1);
  if (husk_registries_conf_load (&c, &err) == 0)
    {
      husk_registries_conf_free (c);
      fail_msg ("load of '%s' unexpectedly succeeded", content);
    }
  msg = xstrdup (err->msg);
  husk_error_release (&err);
  return msg;
}

static char *
joined_candidates (const husk_registries_conf_t *c, const char *ref)
{
  cleanup_strv char **list = NULL;
  husk_error_t err = NULL;

  if (husk_registries_conf_candidates (c, ref, &list, &err) < 0)
    fail_msg ("candidates of %s: %s", ref, err->msg);
  return strv_join (list, " ");
}

static void
assert_candidates (const husk_registries_conf_t *c, const char *ref, const char *expected)
{
  cleanup_free char *got = joined_candidates (c, ref);
  assert_string_equal (got, expected);
}

/* Endpoints as "host path [insecure] [mirror]" joined with ", ".  */
static char *
joined_endpoints (const husk_registries_conf_t *c, const char *domain, const char *path)
{
  struct husk_registry_endpoint *e = NULL;
  struct husk_buf b = { 0 };
  husk_error_t err = NULL;
  size_t n = 0;
  size_t i;

  if (husk_registries_conf_endpoints (c, domain, path, &e, &n, &err) < 0)
    {
      char *msg = xasprintf ("ERROR %s", err->msg);
      husk_error_release (&err);
      return msg;
    }
  husk_buf_puts (&b, "");
  for (i = 0; i < n; i++)
    husk_buf_printf (&b, "%s%s %s%s%s", i ? ", " : "", e[i].host, e[i].path, e[i].insecure ? " insecure" : "",
                     e[i].mirror ? " mirror" : "");
  husk_registry_endpoints_free (e, n);
  return husk_buf_steal (&b, NULL);
}

static void
assert_endpoints (const husk_registries_conf_t *c, const char *domain, const char *path, const char *expected)
{
  cleanup_free char *got = joined_endpoints (c, domain, path);
  assert_string_equal (got, expected);
}

static void
test_search_and_candidates (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c
      = load_env ("unqualified-search-registries = ['localhost:5000', \"docker.io/\", 'quay.io']\n");
  char *const *search = husk_registries_conf_search (c);

  (void)state;
  assert_int_equal (strv_len (search), 3);
  assert_string_equal (search[1], "docker.io");
  assert_candidates (c, "alpine",
                     "localhost:5000/alpine:latest docker.io/library/alpine:latest quay.io/alpine:latest");
  assert_candidates (c, "foo/bar:1.0",
                     "localhost:5000/foo/bar:1.0 docker.io/foo/bar:1.0 quay.io/foo/bar:1.0");
  assert_candidates (c, "example.com/x", "example.com/x:latest");
  assert_candidates (c, "docker.io/busybox:musl", "docker.io/library/busybox:musl");
  assert_candidates (c, "localhost/img", "localhost/img:latest");
  assert_candidates (c, "quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     "quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

static void
test_no_search_means_docker_io (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c = load_env ("# nothing\n");

  (void)state;
  assert_int_equal (strv_len (husk_registries_conf_search (c)), 0);
  assert_candidates (c, "alpine:3", "docker.io/library/alpine:3");
  assert_candidates (c, "user/app", "docker.io/user/app:latest");
}

static void
test_missing_file_is_empty (void **state)
{
  cleanup_free char *path = xasprintf ("%s/does-not-exist.conf", tmpdir);
  cleanup_registries_conf husk_registries_conf_t *c = NULL;
  husk_error_t err = NULL;

  (void)state;
  setenv ("CONTAINERS_REGISTRIES_CONF", path, 1);
  assert_int_equal (husk_registries_conf_load (&c, &err), 0);
  assert_int_equal (strv_len (husk_registries_conf_search (c)), 0);
  assert_endpoints (c, "docker.io", "library/alpine", "docker.io library/alpine");
}

static void
test_malformed_names_file_and_line (void **state)
{
  cleanup_free char *msg = load_env_error ("unqualified-search-registries = [\"a\"]\n\n[[registry]\n");
  cleanup_free char *expected = xasprintf (
      "loading registries configuration: %s/env-registries.conf:3: expected ']]' to close the table header",
      tmpdir);

  (void)state;
  assert_string_equal (msg, expected);
}

static void
test_invalid_entries (void **state)
{
  cleanup_free char *m1 = load_env_error ("[[registry]]\nlocation = \"https://example.com\"\n");
  cleanup_free char *m2 = load_env_error ("[[registry]]\ninsecure = true\n");
  cleanup_free char *m3 = load_env_error ("[[registry]]\nlocation = 'x.com'\ninsecure = 'yes'\n");
  cleanup_free char *m4 = load_env_error ("[[registry]]\nprefix = 'a.*.com'\nlocation = 'x.com'\n");
  cleanup_free char *m5 = load_env_error ("unqualified-search-registries = ['a.com/ns']\n");
  cleanup_free char *m6
      = load_env_error ("[registries.search]\nregistries = ['a']\n[[registry]]\nlocation = 'b'\n");

  (void)state;
  assert_non_null (strstr (m1, "invalid location `https://example.com`: URI schemes are not supported"));
  assert_non_null (strstr (m2, "both location and prefix are unset"));
  assert_non_null (strstr (m3, "`insecure` must be a boolean"));
  assert_non_null (strstr (m4, "a wildcard is only allowed as a leading"));
  assert_non_null (strstr (m5, "invalid unqualified-search-registries entry `a.com/ns`"));
  assert_non_null (strstr (m6, "mixing sysregistry v1/v2 is not supported"));
}

static void
test_endpoints_prefix_and_rewrite (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c
      = load_env ("[[registry]]\n"
                  "prefix = \"example.com/foo\"\n"
                  "location = \"internal.example.com:5000/bar/\"\n"
                  "\n"
                  "[[registry]]\n"
                  "location = \"example.com\"\n"
                  "insecure = true\n"
                  "\n"
                  "[[registry]]\n"
                  "location = \"localhost:5000\"\n"
                  "insecure = true\n");

  (void)state;
  /* Longest prefix wins, and only at a path boundary.  */
  assert_endpoints (c, "example.com", "foo/img", "internal.example.com:5000 bar/img");
  assert_endpoints (c, "example.com", "foo/sub/img", "internal.example.com:5000 bar/sub/img");
  assert_endpoints (c, "example.com", "foobar/img", "example.com foobar/img insecure");
  assert_endpoints (c, "example.com", "img", "example.com img insecure");
  assert_endpoints (c, "example.comx", "img", "example.comx img");
  assert_endpoints (c, "localhost:5000", "a/b", "localhost:5000 a/b insecure");
  assert_endpoints (c, "localhost:5001", "a/b", "localhost:5001 a/b");
  assert_endpoints (c, "docker.io", "library/alpine", "docker.io library/alpine");
  /* An empty path asks about the host alone (login, search).  */
  assert_endpoints (c, "localhost:5000", "", "localhost:5000  insecure");
  assert_endpoints (c, "example.com", "", "example.com  insecure");
  assert_endpoints (c, "other.io", "", "other.io ");
}

static void
test_endpoints_mirrors_blocked (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c = load_env ("[[registry]]\n"
                                                                "location = \"docker.io\"\n"
                                                                "[[registry.mirror]]\n"
                                                                "location = \"mirror.local:5000\"\n"
                                                                "insecure = true\n"
                                                                "[[registry.mirror]]\n"
                                                                "location = \"mirror2.local/dockerhub\"\n"
                                                                "\n"
                                                                "[[registry]]\n"
                                                                "location = \"evil.com\"\n"
                                                                "blocked = true\n"
                                                                "\n"
                                                                "[[registry]]\n"
                                                                "prefix = \"evil.com/ok\"\n"
                                                                "location = \"evil.com/ok\"\n");

  (void)state;
  assert_endpoints (
      c, "docker.io", "library/alpine",
      "mirror.local:5000 library/alpine insecure mirror, mirror2.local dockerhub/library/alpine mirror, "
      "docker.io library/alpine");
  assert_endpoints (c, "evil.com", "x/y", "ERROR registry evil.com is blocked in registries.conf");
  assert_endpoints (c, "evil.com", "ok/y", "evil.com ok/y");
}

static void
test_endpoints_wildcard (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c = load_env ("[[registry]]\n"
                                                                "prefix = \"*.example.com\"\n"
                                                                "insecure = true\n"
                                                                "[[registry.mirror]]\n"
                                                                "location = \"cache.local/all\"\n"
                                                                "\n"
                                                                "[[registry]]\n"
                                                                "prefix = \"*.blocked.org\"\n"
                                                                "blocked = true\n");

  (void)state;
  assert_endpoints (c, "a.example.com", "x", "cache.local all/x mirror, a.example.com x insecure");
  assert_endpoints (c, "b.a.example.com:5000", "x/y",
                    "cache.local all:5000/x/y mirror, b.a.example.com:5000 x/y insecure");
  assert_endpoints (c, "example.com", "x", "example.com x");
  assert_endpoints (c, "evil.com", "a.example.com/x", "evil.com a.example.com/x");
  assert_endpoints (c, "x.blocked.org", "y", "ERROR registry *.blocked.org is blocked in registries.conf");
}

static void
test_aliases (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c
      = load_env ("unqualified-search-registries = ['quay.io']\n"
                  "[aliases]\n"
                  "\"myimg\" = \"registry.example.com/team/myimg\"\n"
                  "\"ns/app\" = \"docker.io/ns/app\"\n");

  (void)state;
  assert_candidates (c, "myimg", "registry.example.com/team/myimg:latest");
  assert_candidates (c, "myimg:2", "registry.example.com/team/myimg:2");
  assert_candidates (c, "ns/app", "docker.io/ns/app:latest");
  assert_candidates (c, "other", "quay.io/other:latest");
}

static void
test_user_conf_and_dropins (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c = NULL;
  husk_error_t err = NULL;

  (void)state;
  write_file (".config/containers/registries.conf", "unqualified-search-registries = ['first.io']\n"
                                                    "[[registry]]\nlocation = 'a.io'\ninsecure = true\n"
                                                    "[[registry]]\nlocation = 'b.io'\n"
                                                    "[aliases]\nx = 'first.io/x'\ny = 'first.io/y'\n");
  write_file (".config/containers/registries.conf.d/20-later.conf",
              "unqualified-search-registries = ['second.io', 'third.io']\n"
              "[[registry]]\nlocation = 'a.io'\nblocked = true\n"
              "[aliases]\ny = 'later.io/y'\nx = ''\n");
  write_file (".config/containers/registries.conf.d/10-early.conf",
              "unqualified-search-registries = ['never.io']\n"
              "[[registry]]\nprefix = 'c.io'\nlocation = 'c-mirror.io/c'\n");
  write_file (".config/containers/registries.conf.d/30-ignored.conf.bak", "this is not toml [");

  assert_int_equal (husk_registries_conf_load (&c, &err), 0);
  assert_candidates (c, "img", "second.io/img:latest third.io/img:latest");
  assert_endpoints (c, "a.io", "r", "ERROR registry a.io is blocked in registries.conf");
  assert_endpoints (c, "b.io", "r", "b.io r");
  assert_endpoints (c, "c.io", "r", "c-mirror.io c/r");
  assert_candidates (c, "y", "later.io/y:latest");
  assert_candidates (c, "x", "second.io/x:latest third.io/x:latest");
}

static void
test_dropin_error_names_file (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c = NULL;
  cleanup_free char *expected = NULL;
  husk_error_t err = NULL;

  (void)state;
  write_file (".config/containers/registries.conf", "");
  write_file (".config/containers/registries.conf.d/50-bad.conf", "a = 1\na = 2\n");
  assert_true (husk_registries_conf_load (&c, &err) < 0);
  expected
      = xasprintf ("loading registries configuration: %s/.config/containers/registries.conf.d/50-bad.conf:2: "
                   "duplicate key 'a'",
                   tmpdir);
  assert_string_equal (err->msg, expected);
  husk_error_release (&err);
}

static void
test_v1_format (void **state)
{
  cleanup_registries_conf husk_registries_conf_t *c = load_env ("[registries.search]\n"
                                                                "registries = ['one.io', 'two.io']\n"
                                                                "[registries.insecure]\n"
                                                                "registries = ['one.io']\n"
                                                                "[registries.block]\n"
                                                                "registries = ['bad.io', 'one.io']\n");

  (void)state;
  assert_candidates (c, "x", "one.io/x:latest two.io/x:latest");
  assert_endpoints (c, "bad.io", "x", "ERROR registry bad.io is blocked in registries.conf");
  assert_endpoints (c, "one.io", "x", "ERROR registry one.io is blocked in registries.conf");
  assert_endpoints (c, "two.io", "x", "two.io x");
}

static void
test_cert_dir (void **state)
{
  cleanup_free char *given = husk_registry_cert_dir ("h:5000", "/some/dir");
  cleanup_free char *none = husk_registry_cert_dir ("no-such-host.husk-test.invalid:1", NULL);

  (void)state;
  assert_string_equal (given, "/some/dir");
  assert_null (none);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_search_and_candidates, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_search_means_docker_io, setup, teardown),
    cmocka_unit_test_setup_teardown (test_missing_file_is_empty, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed_names_file_and_line, setup, teardown),
    cmocka_unit_test_setup_teardown (test_invalid_entries, setup, teardown),
    cmocka_unit_test_setup_teardown (test_endpoints_prefix_and_rewrite, setup, teardown),
    cmocka_unit_test_setup_teardown (test_endpoints_mirrors_blocked, setup, teardown),
    cmocka_unit_test_setup_teardown (test_endpoints_wildcard, setup, teardown),
    cmocka_unit_test_setup_teardown (test_aliases, setup, teardown),
    cmocka_unit_test_setup_teardown (test_user_conf_and_dropins, setup, teardown),
    cmocka_unit_test_setup_teardown (test_dropin_error_names_file, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v1_format, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cert_dir, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
