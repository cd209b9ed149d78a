/* Unit tests for the registry client's parsers (src/registry/client.c,
   pull.c): durations, WWW-Authenticate challenges, platform selection,
   registry error bodies.  */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/image.h"
#include "husk/json.h"
#include "husk/registry.h"
#include "husk/util.h"

static unsigned
duration_ok (const char *s)
{
  husk_error_t err = NULL;
  unsigned ms = 12345;

  if (husk_registry_parse_duration (s, &ms, &err) < 0)
    fail_msg ("parsing %s: %s", s, err->msg);
  return ms;
}

static void
duration_bad (const char *s)
{
  husk_error_t err = NULL;
  unsigned ms = 0;

  if (husk_registry_parse_duration (s, &ms, &err) == 0)
    fail_msg ("%s parsed but should not", s);
  assert_non_null (err);
  assert_non_null (strstr (err->msg, "invalid duration"));
  husk_error_release (&err);
}

static void
test_duration (void **state)
{
  (void)state;
  assert_int_equal (duration_ok ("2s"), 2000);
  assert_int_equal (duration_ok ("500ms"), 500);
  assert_int_equal (duration_ok ("0"), 0);
  assert_int_equal (duration_ok ("3"), 3000);
  assert_int_equal (duration_ok ("1.5s"), 1500);
  assert_int_equal (duration_ok ("1m30s"), 90000);
  assert_int_equal (duration_ok ("1h"), 3600000);
  assert_int_equal (duration_ok ("250us"), 0);
  assert_int_equal (duration_ok ("1500us"), 2);
  duration_bad ("");
  duration_bad ("s");
  duration_bad ("2x");
  duration_bad ("-1s");
  duration_bad ("2s3");
  duration_bad ("9999h");
}

static void
test_challenge_bearer (void **state)
{
  struct husk_registry_challenge ch;
  husk_error_t err = NULL;

  (void)state;
  assert_int_equal (husk_registry_parse_challenge (
                        "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
                        "scope=\"repository:foo/bar:pull\"",
                        &ch, &err),
                    0);
  assert_string_equal (ch.scheme, "Bearer");
  assert_string_equal (ch.realm, "https://auth.example.com/token");
  assert_string_equal (ch.service, "registry.example.com");
  assert_string_equal (ch.scope, "repository:foo/bar:pull");
  assert_null (ch.error);
  husk_registry_challenge_clear (&ch);

  /* Case-insensitive scheme and names, spaces after commas, an error,
     a scope with two actions (a comma inside quotes), escapes.  */
  assert_int_equal (husk_registry_parse_challenge ("bearer Realm=\"http://127.0.0.1:1/t?a=b\", "
                                                   "error=\"insufficient_scope\", "
                                                   "scope=\"repository:x:pull,push\", service=\"a\\\"b\"",
                                                   &ch, &err),
                    0);
  assert_string_equal (ch.scheme, "Bearer");
  assert_string_equal (ch.realm, "http://127.0.0.1:1/t?a=b");
  assert_string_equal (ch.error, "insufficient_scope");
  assert_string_equal (ch.scope, "repository:x:pull,push");
  assert_string_equal (ch.service, "a\"b");
  husk_registry_challenge_clear (&ch);

  /* Unquoted values.  */
  assert_int_equal (husk_registry_parse_challenge ("Bearer realm=https://h/t,service=h", &ch, &err), 0);
  assert_string_equal (ch.realm, "https://h/t");
  assert_string_equal (ch.service, "h");
  husk_registry_challenge_clear (&ch);
}

static void
test_challenge_basic_and_bad (void **state)
{
  struct husk_registry_challenge ch;
  husk_error_t err = NULL;

  (void)state;
  assert_int_equal (husk_registry_parse_challenge ("Basic realm=\"husk-test\"", &ch, &err), 0);
  assert_string_equal (ch.scheme, "Basic");
  assert_string_equal (ch.realm, "husk-test");
  husk_registry_challenge_clear (&ch);

  assert_int_equal (husk_registry_parse_challenge ("basic", &ch, &err), 0);
  assert_string_equal (ch.scheme, "Basic");
  assert_null (ch.realm);
  husk_registry_challenge_clear (&ch);

  /* A Bearer challenge needs a realm; broken quoting is an error.  */
  assert_true (husk_registry_parse_challenge ("Bearer service=\"x\"", &ch, &err) < 0);
  assert_non_null (strstr (err->msg, "no realm"));
  husk_error_release (&err);
  assert_true (husk_registry_parse_challenge ("Bearer realm=\"unterminated", &ch, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_registry_parse_challenge ("", &ch, &err) < 0);
  husk_error_release (&err);
  assert_true (husk_registry_parse_challenge (NULL, &ch, &err) < 0);
  husk_error_release (&err);
}

#define X8(c) c c c c c c c c
#define D(c)  "sha256:" X8 (X8 (c))

static const char index_json[]
    = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
      "{\"digest\":\"" D (
          "1") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
               "{\"digest\":\"" D (
                   "2") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\","
                        "\"variant\":\"v8\"}},"
                        "{\"digest\":\"" D (
                            "3") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\","
                                 "\"variant\":\"v6\"}},"
                                 "{\"digest\":\"" D (
                                     "4") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":"
                                          "\"arm\","
                                          "\"variant\":\"v7\"}},"
                                          "{\"digest\":\"" D (
                                              "5") "\",\"size\":1,\"platform\":{\"os\":\"windows\","
                                                   "\"architecture\":\"amd64\"}},"
                                                   "{\"digest\":\"" D (
                                                       "6") "\",\"size\":1,\"platform\":{\"os\":\"unknown\","
                                                            "\"architecture\":\"unknown\"}}"
                                                            "]}";

static const char *
select_digest (const char *json, const char *os, const char *arch, const char *variant)
{
  static char *last;
  husk_error_t err = NULL;
  husk_json_t *index = husk_json_parse (json, strlen (json), &err);
  husk_json_t *d;

  assert_non_null (index);
  free (last);
  last = NULL;
  d = husk_registry_select_platform (index, os, arch, variant, &err);
  if (d)
    last = xstrdup (husk_json_get_string (d, "digest"));
  else
    {
      last = xasprintf ("error: %s", err->msg);
      husk_error_release (&err);
    }
  husk_json_free (index);
  return last;
}

static void
test_select_platform (void **state)
{
  (void)state;
  assert_string_equal (select_digest (index_json, "linux", "amd64", NULL), D ("1"));
  assert_string_equal (select_digest (index_json, NULL, "amd64", NULL), D ("1"));
  assert_string_equal (select_digest (index_json, "linux", "arm64", NULL), D ("2"));
  assert_string_equal (select_digest (index_json, "linux", "arm64", "v8"), D ("2"));
  assert_string_equal (select_digest (index_json, "linux", "arm", "v7"), D ("4"));
  assert_string_equal (select_digest (index_json, "linux", "arm", "v6"), D ("3"));
  assert_string_equal (select_digest (index_json, "windows", "amd64", NULL), D ("5"));
  /* The host's platform when nothing is asked.  */
  if (strcmp (husk_image_host_arch (), "amd64") == 0)
    assert_string_equal (select_digest (index_json, NULL, NULL, NULL), D ("1"));

  /* What the index lacks: an error naming the platforms it has.  */
  {
    const char *e = select_digest (index_json, "linux", "s390x", NULL);
    assert_non_null (strstr (e, "no image found in image index for architecture s390x"));
    assert_non_null (strstr (e, "linux/arm/v7"));
  }
  assert_true (husk_has_prefix (select_digest (index_json, "linux", "arm", "v5"), "error: "));
  assert_true (husk_has_prefix (select_digest (index_json, "linux", "arm64", "v9"), "error: "));
}

static void
test_select_platform_variants (void **state)
{
  /* arm64 without a variant in the index is v8; an exact variant wins
     over a missing one.  */
  static const char novariant[]
      = "{\"manifests\":["
        "{\"digest\":\"" D (
            "a") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                 "{\"digest\":\"" D (
                     "b") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\","
                          "\"variant\":\"v3\"}},"
                          "{\"digest\":\"" D (
                              "c") "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}"
                                   "]}";

  (void)state;
  assert_string_equal (select_digest (novariant, "linux", "arm64", "v8"), D ("a"));
  assert_string_equal (select_digest (novariant, "linux", "arm64", NULL), D ("a"));
  assert_string_equal (select_digest (novariant, "linux", "amd64", NULL), D ("c"));
  assert_string_equal (select_digest (novariant, "linux", "amd64", "v3"), D ("b"));
  assert_true (husk_has_prefix (select_digest ("{\"manifests\":[]}", "linux", "amd64", NULL), "error: "));
  assert_true (husk_has_prefix (select_digest ("{}", "linux", "amd64", NULL), "error: "));
  select_digest ("{}", "linux", "amd64", NULL);
}

static char *
response_error (long status, const char *body)
{
  struct husk_registry_response res = { 0 };
  husk_error_t err = NULL;
  char *msg;

  res.status = status;
  res.body = (char *)body;
  res.body_len = strlen (body);
  assert_true (husk_registry_response_error (&res, &err) < 0);
  msg = xstrdup (err->msg);
  husk_error_release (&err);
  return msg;
}

static void
test_response_error (void **state)
{
  char *m;

  (void)state;
  m = response_error (404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\","
                           "\"detail\":{\"Tag\":\"nope\"}}]}");
  assert_string_equal (m, "manifest unknown: manifest unknown");
  free (m);
  m = response_error (404,
                      "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known to "
                      "registry\"}]}");
  assert_string_equal (m, "name unknown: repository name not known to registry");
  free (m);
  m = response_error (401, "");
  assert_string_equal (m, "authentication required");
  free (m);
  m = response_error (503, "<html>busy</html>");
  assert_string_equal (m, "received unexpected HTTP status: 503 Service Unavailable");
  free (m);
  m = response_error (400, "{\"errors\":[{\"code\":\"A\"},{\"code\":\"B_C\",\"message\":\"x\"}]}");
  assert_string_equal (m, "a; b c: x");
  free (m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_duration),
    cmocka_unit_test (test_challenge_bearer),
    cmocka_unit_test (test_challenge_basic_and_bad),
    cmocka_unit_test (test_select_platform),
    cmocka_unit_test (test_select_platform_variants),
    cmocka_unit_test (test_response_error),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
