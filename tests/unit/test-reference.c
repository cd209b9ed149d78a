/* Unit tests for image references (src/image/reference.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/image.h"
#include "husk/util.h"

static struct husk_reference *
parse_ok (const char *s)
{
  husk_error_t err = NULL;
  struct husk_reference *r = NULL;

  if (husk_reference_parse (s, &r, &err) < 0)
    fail_msg ("parsing %s: %s", s, err->msg);
  assert_non_null (r);
  return r;
}

/* The error message for s, which must fail to parse.  */
static char *
parse_fail (const char *s)
{
  husk_error_t err = NULL;
  struct husk_reference *r = NULL;
  char *msg;

  if (husk_reference_parse (s, &r, &err) == 0)
    fail_msg ("%s parsed but should not", s);
  assert_null (r);
  assert_non_null (err);
  msg = xstrdup (err->msg);
  husk_error_release (&err);
  return msg;
}

static void
check_parts (const char *s, const char *domain, const char *path, const char *tag, const char *digest)
{
  cleanup_reference struct husk_reference *r = parse_ok (s);

  if (domain)
    assert_string_equal (r->domain, domain);
  else
    assert_null (r->domain);
  assert_string_equal (r->path, path);
  if (tag)
    assert_string_equal (r->tag, tag);
  else
    assert_null (r->tag);
  if (digest)
    assert_string_equal (r->digest, digest);
  else
    assert_null (r->digest);
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_parse_simple (void **state)
{
  check_parts ("alpine", NULL, "alpine", NULL, NULL);
  check_parts ("alpine:3.19", NULL, "alpine", "3.19", NULL);
  check_parts ("library/alpine", NULL, "library/alpine", NULL, NULL);
  check_parts ("foo/bar/baz:v1", NULL, "foo/bar/baz", "v1", NULL);
  check_parts ("a_b__c-d---e.f", NULL, "a_b__c-d---e.f", NULL, NULL);
  /* Tags may contain uppercase.  */
  check_parts ("alpine:V1_x-.y", NULL, "alpine", "V1_x-.y", NULL);
}

static void
test_parse_domains (void **state)
{
  check_parts ("docker.io/alpine", "docker.io", "alpine", NULL, NULL);
  check_parts ("localhost/foo", "localhost", "foo", NULL, NULL);
  check_parts ("localhost:5000/foo:tag", "localhost:5000", "foo", "tag", NULL);
  check_parts ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", NULL, NULL);
  check_parts ("Registry.Example.com/foo", "Registry.Example.com", "foo", NULL, NULL);
  check_parts ("[::1]:5000/foo", "[::1]:5000", "foo", NULL, NULL);
  check_parts ("my-registry:443/x/y:z", "my-registry:443", "x/y", "z", NULL);
  /* Without '.', ':' or "localhost", the first component is a path.  */
  check_parts ("foo/bar", NULL, "foo/bar", NULL, NULL);
  /* "localhost:5000" alone is the image "localhost" tagged 5000.  */
  check_parts ("localhost:5000", NULL, "localhost", "5000", NULL);
  check_parts ("localhost", NULL, "localhost", NULL, NULL);
}

static void
test_parse_digests (void **state)
{
  check_parts ("alpine@" D64, NULL, "alpine", NULL, D64);
  check_parts ("alpine:3@" D64, NULL, "alpine", "3", D64);
  check_parts ("localhost:5000/foo:t@" D64, "localhost:5000", "foo", "t", D64);
}

static void
expect_error (const char *s, const char *msg)
{
  cleanup_free char *got = parse_fail (s);
  if (strcmp (got, msg) != 0)
    fail_msg ("%s: expected error \"%s\", got \"%s\"", s, msg, got);
}

static void
test_parse_errors (void **state)
{
  expect_error ("UPPER/case",
                "parsing reference \"UPPER/case\": invalid reference format: repository name must be "
                "lowercase");
  expect_error ("Alpine", "parsing reference \"Alpine\": invalid reference format: repository name must be "
                          "lowercase");
  expect_error ("a:b:c", "parsing reference \"a:b:c\": invalid reference format");
  expect_error ("@sha256:short", "parsing reference \"@sha256:short\": invalid reference format");
  expect_error ("alpine@sha256:abc", "parsing reference \"alpine@sha256:abc\": invalid reference format");
  expect_error (
      "alpine@sha512:0123456789abcdef0123456789abcdef0123",
      "parsing reference \"alpine@sha512:0123456789abcdef0123456789abcdef0123\": unsupported digest "
      "algorithm");
  expect_error (
      "alpine@sha256:0123456789abcdef0123456789abcdef0123",
      "parsing reference \"alpine@sha256:0123456789abcdef0123456789abcdef0123\": invalid checksum digest "
      "length");
  expect_error ("", "invalid reference format: repository name must have at least one component");
  expect_error ("a//b", "parsing reference \"a//b\": invalid reference format");
  expect_error ("/a", "parsing reference \"/a\": invalid reference format");
  expect_error ("a/", "parsing reference \"a/\": invalid reference format");
  expect_error ("a:", "parsing reference \"a:\": invalid reference format");
  expect_error (":tag", "parsing reference \":tag\": invalid reference format");
  expect_error ("a:.tag", "parsing reference \"a:.tag\": invalid reference format");
  expect_error ("-a", "parsing reference \"-a\": invalid reference format");
  expect_error ("a-", "parsing reference \"a-\": invalid reference format");
  expect_error ("a___b", "parsing reference \"a___b\": invalid reference format");
  expect_error ("a..b", "parsing reference \"a..b\": invalid reference format");
  expect_error ("foo bar", "parsing reference \"foo bar\": invalid reference format");
  expect_error ("-bad.io/foo", "parsing reference \"-bad.io/foo\": invalid reference format");
  expect_error ("host:port/foo", "parsing reference \"host:port/foo\": invalid reference format");
  expect_error ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "invalid repository name (0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef), "
                "cannot specify 64-byte hexadecimal strings");
}

static void
test_parse_lengths (void **state)
{
  cleanup_free char *tag128 = xmalloc (129);
  cleanup_free char *ok = NULL;
  cleanup_free char *bad = NULL;
  cleanup_free char *longname = NULL;
  cleanup_free char *msg = NULL;
  struct husk_buf b = { 0 };

  memset (tag128, 'a', 128);
  tag128[128] = '\0';
  ok = xasprintf ("alpine:%s", tag128);
  check_parts (ok, NULL, "alpine", tag128, NULL);
  bad = xasprintf ("alpine:%sb", tag128);
  free (parse_fail (bad));

  for (int i = 0; i < 128; i++)
    husk_buf_puts (&b, "ab/");
  husk_buf_puts (&b, "c");
  longname = husk_buf_steal (&b, NULL);
  msg = parse_fail (longname);
  assert_non_null (strstr (msg, "repository name must not be more than 255 characters"));
}

static char *
normalized (const char *s, bool local)
{
  cleanup_reference struct husk_reference *r = parse_ok (s);

  if (local)
    husk_reference_normalize_local (r);
  else
    husk_reference_normalize_remote (r, "docker.io");
  return husk_reference_string (r);
}

static void
expect_normalized (const char *s, bool local, const char *want)
{
  cleanup_free char *got = normalized (s, local);
  if (strcmp (got, want) != 0)
    fail_msg ("%s normalized (%s): expected %s, got %s", s, local ? "local" : "remote", want, got);
}

static void
test_normalize (void **state)
{
  expect_normalized ("alpine", false, "docker.io/library/alpine:latest");
  expect_normalized ("docker.io/alpine", false, "docker.io/library/alpine:latest");
  expect_normalized ("docker.io/alpine", true, "docker.io/library/alpine:latest");
  expect_normalized ("index.docker.io/foo/bar:1", false, "docker.io/foo/bar:1");
  expect_normalized ("foo/bar", false, "docker.io/foo/bar:latest");
  expect_normalized ("quay.io/foo:1", false, "quay.io/foo:1");
  expect_normalized ("alpine@" D64, false, "docker.io/library/alpine@" D64);
  expect_normalized ("alpine:3@" D64, false, "docker.io/library/alpine:3@" D64);
  expect_normalized ("foo", true, "localhost/foo:latest");
  expect_normalized ("foo/bar:v2", true, "localhost/foo/bar:v2");
  expect_normalized ("localhost:5000/foo", true, "localhost:5000/foo:latest");
  expect_normalized ("quay.io/x", true, "quay.io/x:latest");

  {
    cleanup_reference struct husk_reference *r = parse_ok ("foo");
    cleanup_free char *s = NULL;
    husk_reference_normalize_remote (r, "registry.example.com");
    s = husk_reference_string (r);
    assert_string_equal (s, "registry.example.com/foo:latest");
  }
}

static void
test_string_repository (void **state)
{
  cleanup_reference struct husk_reference *r = parse_ok ("localhost:5000/a/b:t@" D64);
  cleanup_reference struct husk_reference *s = parse_ok ("short");
  cleanup_free char *str = husk_reference_string (r);
  cleanup_free char *repo = husk_reference_repository (r);
  cleanup_free char *str2 = husk_reference_string (s);
  cleanup_free char *repo2 = husk_reference_repository (s);

  assert_string_equal (str, "localhost:5000/a/b:t@" D64);
  assert_string_equal (repo, "localhost:5000/a/b");
  assert_string_equal (str2, "short");
  assert_string_equal (repo2, "short");
}

static bool
matches (const char *typed, const char *stored)
{
  cleanup_reference struct husk_reference *r = parse_ok (typed);
  return husk_reference_matches (r, stored);
}

static void
test_matches (void **state)
{
  assert_true (matches ("alpine", "docker.io/library/alpine:latest"));
  assert_true (matches ("alpine:latest", "docker.io/library/alpine:latest"));
  assert_true (matches ("library/alpine", "docker.io/library/alpine:latest"));
  assert_true (matches ("docker.io/alpine", "docker.io/library/alpine:latest"));
  assert_true (matches ("docker.io/library/alpine", "docker.io/library/alpine:latest"));
  assert_true (matches ("foo", "localhost/foo:latest"));
  assert_true (matches ("localhost/foo", "localhost/foo:latest"));
  assert_true (matches ("foo:v1", "localhost/foo:v1"));
  assert_true (matches ("localhost:5000/foo:1", "localhost:5000/foo:1"));
  assert_true (matches ("alpine@" D64, "docker.io/library/alpine@" D64));

  assert_false (matches ("alpine", "docker.io/library/alpine:3"));
  assert_false (matches ("alpine:3", "docker.io/library/alpine:latest"));
  assert_false (matches ("pine", "docker.io/library/alpine:latest"));
  assert_false (matches ("quay.io/alpine", "docker.io/library/alpine:latest"));
  assert_false (matches ("localhost/alpine", "docker.io/library/alpine:latest"));
  assert_false (matches ("alpine@" D64, "docker.io/library/alpine:latest"));
  assert_false (matches ("foo", "localhost:5000/foo-bar:latest"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_simple),      cmocka_unit_test (test_parse_domains),
    cmocka_unit_test (test_parse_digests),     cmocka_unit_test (test_parse_errors),
    cmocka_unit_test (test_parse_lengths),     cmocka_unit_test (test_normalize),
    cmocka_unit_test (test_string_repository), cmocka_unit_test (test_matches),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
