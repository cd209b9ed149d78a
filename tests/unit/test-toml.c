/* Unit tests for src/util/toml.c.  */
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

#include "husk/json.h"
#include "husk/toml.h"
#include "husk/util.h"

/* Parse and compare the compact JSON form.  */
static void
assert_toml (const char *toml, const char *json)
{
  husk_error_t err = NULL;
  cleanup_json husk_json_t *v = husk_toml_parse (toml, strlen (toml), "t.toml", &err);
  cleanup_free char *out = NULL;

  if (v == NULL)
    fail_msg ("parse of '%s' failed: %s", toml, err ? err->msg : "?");
  out = husk_json_serialize (v, false, NULL);
  assert_string_equal (out, json);
}

/* Parse must fail with exactly this message.  */
static void
assert_toml_error (const char *toml, const char *msg)
{
  husk_error_t err = NULL;
  husk_json_t *v = husk_toml_parse (toml, strlen (toml), "t.toml", &err);

  if (v != NULL)
    {
      cleanup_free char *out = husk_json_serialize (v, false, NULL);
      husk_json_free (v);
      fail_msg ("parse of '%s' unexpectedly succeeded: %s", toml, out);
    }
  assert_non_null (err);
  assert_string_equal (err->msg, msg);
  husk_error_release (&err);
}

static void
test_empty_and_comments (void **state)
{
  (void)state;
  assert_toml ("", "{}");
  assert_toml ("\n\n  # only a comment\n\t\n", "{}");
  assert_toml ("a = 1 # trailing\r\nb = 2", "{\"a\":1,\"b\":2}");
  assert_toml ("\xef\xbb\xbf"
               "a = true",
               "{\"a\":true}");
}

static void
test_strings (void **state)
{
  (void)state;
  assert_toml ("s = \"a\\tb\\n\\\"q\\\" \\\\ \\u00e9 \\U0001F600\"",
               "{\"s\":\"a\\tb\\n\\\"q\\\" \\\\ \xc3\xa9 \xf0\x9f\x98\x80\"}");
  assert_toml ("s = 'C:\\path\\no \"escapes\"'", "{\"s\":\"C:\\\\path\\\\no \\\"escapes\\\"\"}");
  assert_toml ("s = \"\"\"\nline1\nline2\"\"\"", "{\"s\":\"line1\\nline2\"}");
  assert_toml ("s = \"\"\"\\\n   fox \\\n\n   jumps\"\"\"", "{\"s\":\"fox jumps\"}");
  assert_toml ("s = \"\"\"two \"\"quotes\"\"\"\"\"", "{\"s\":\"two \\\"\\\"quotes\\\"\\\"\"}");
  assert_toml ("s = '''\nraw \\n '' text\n'''", "{\"s\":\"raw \\\\n '' text\\n\"}");
  assert_toml ("s = \"\"", "{\"s\":\"\"}");
  assert_toml ("s = ''", "{\"s\":\"\"}");
}

static void
test_numbers_and_bools (void **state)
{
  (void)state;
  assert_toml ("a = 42\nb = -17\nc = +5\nd = 0\ne = 1_000_000",
               "{\"a\":42,\"b\":-17,\"c\":5,\"d\":0,\"e\":1000000}");
  assert_toml ("h = 0xDEAD_beef\no = 0o755\nb = 0b1101", "{\"h\":3735928559,\"o\":493,\"b\":13}");
  assert_toml ("min = -9223372036854775808\nmax = 9223372036854775807",
               "{\"min\":-9223372036854775808,\"max\":9223372036854775807}");
  assert_toml ("t = true\nf = false", "{\"t\":true,\"f\":false}");
  assert_toml ("f = 3.5\ng = -1e3\nh = 6.25E-2", "{\"f\":3.5,\"g\":-1000,\"h\":0.0625}");
}

static void
test_floats_special (void **state)
{
  husk_error_t err = NULL;
  const char *doc = "a = inf\nb = -inf\nc = nan";
  cleanup_json husk_json_t *v = husk_toml_parse (doc, strlen (doc), "t.toml", &err);

  (void)state;
  assert_non_null (v);
  assert_true (husk_json_double (husk_json_get (v, "a"), 0) > 1e308);
  assert_true (husk_json_double (husk_json_get (v, "b"), 0) < -1e308);
  assert_int_equal (husk_json_type (husk_json_get (v, "c")), HUSK_JSON_DOUBLE);
}

static void
test_dates_are_strings (void **state)
{
  (void)state;
  assert_toml ("d = 1979-05-27T07:32:00Z\ne = 1979-05-27 07:32:00\nf = 1979-05-27\ng = 07:32:00",
               "{\"d\":\"1979-05-27T07:32:00Z\",\"e\":\"1979-05-27 "
               "07:32:00\",\"f\":\"1979-05-27\",\"g\":\"07:32:00\"}");
}

static void
test_arrays (void **state)
{
  (void)state;
  assert_toml ("a = [1, 2, 3]", "{\"a\":[1,2,3]}");
  assert_toml ("a = []", "{\"a\":[]}");
  assert_toml ("a = [\n  \"x\", # first\n  'y',\n\n  [1, [2]],\n]", "{\"a\":[\"x\",\"y\",[1,[2]]]}");
  assert_toml ("a = [ { x = 1 }, { y = \"z\" } ]", "{\"a\":[{\"x\":1},{\"y\":\"z\"}]}");
}

static void
test_keys_and_tables (void **state)
{
  (void)state;
  assert_toml ("a.b.c = 1\na.b.d = 2\n\"quoted.key\" = 3\n'lit' = 4\nbare-key_1 = 5",
               "{\"a\":{\"b\":{\"c\":1,\"d\":2}},\"quoted.key\":3,\"lit\":4,\"bare-key_1\":5}");
  assert_toml ("[t]\nx = 1\n[ u . \"v\" ]\ny = 2\n[t.sub]\nz = 3",
               "{\"t\":{\"x\":1,\"sub\":{\"z\":3}},\"u\":{\"v\":{\"y\":2}}}");
  /* A super-table may be defined after its sub-table.  */
  assert_toml ("[x.y.z]\na = 1\n[x]\nb = 2", "{\"x\":{\"y\":{\"z\":{\"a\":1}},\"b\":2}}");
  assert_toml ("p = { name = \"n\", dotted.key = true, nested = { a = [] } }",
               "{\"p\":{\"name\":\"n\",\"dotted\":{\"key\":true},\"nested\":{\"a\":[]}}}");
  assert_toml ("e = {}", "{\"e\":{}}");
}

static void
test_arrays_of_tables (void **state)
{
  (void)state;
  assert_toml ("[[registry]]\nlocation = \"a\"\n[[registry.mirror]]\nlocation = \"m1\"\n"
               "[[registry.mirror]]\nlocation = \"m2\"\ninsecure = true\n"
               "[[registry]]\nprefix = \"b\"\n[registry.sub]\nk = 1\n",
               "{\"registry\":[{\"location\":\"a\",\"mirror\":[{\"location\":\"m1\"},{\"location\":\"m2\","
               "\"insecure\":true}]},{\"prefix\":\"b\",\"sub\":{\"k\":1}}]}");
}

static void
test_registries_conf_shape (void **state)
{
  (void)state;
  assert_toml (
      "unqualified-search-registries = [\"registry.fedoraproject.org\", \"docker.io\"]\n"
      "short-name-mode = \"enforcing\"\n\n"
      "[[registry]]\n"
      "# A comment\n"
      "prefix = \"example.com/foo\"\n"
      "insecure = false\n"
      "blocked = false\n"
      "location = \"internal-registry-for-example.com/bar\"\n\n"
      "[aliases]\n"
      "  \"fedora\" = \"registry.fedoraproject.org/fedora\"\n",
      "{\"unqualified-search-registries\":[\"registry.fedoraproject.org\",\"docker.io\"],"
      "\"short-name-mode\":\"enforcing\",\"registry\":[{\"prefix\":\"example.com/foo\",\"insecure\":false,"
      "\"blocked\":false,\"location\":\"internal-registry-for-example.com/bar\"}],"
      "\"aliases\":{\"fedora\":\"registry.fedoraproject.org/fedora\"}}");
}

static void
test_errors (void **state)
{
  (void)state;
  assert_toml_error ("a = 1\na = 2", "t.toml:2: duplicate key 'a'");
  assert_toml_error ("[t]\n[t]", "t.toml:2: table 't' is defined more than once");
  assert_toml_error ("a.b = 1\n[a]", "t.toml:2: table 'a' is defined more than once");
  assert_toml_error ("\n\ns = \"open", "t.toml:3: unterminated string");
  assert_toml_error ("s = \"bad \\q\"", "t.toml:1: invalid escape sequence '\\q'");
  assert_toml_error ("s = \"\\u0000\"", "t.toml:1: invalid unicode escape U+0000");
  assert_toml_error ("s = \"\"\"never\nclosed", "t.toml:2: unterminated multi-line string");
  assert_toml_error ("a = 1 2", "t.toml:1: unexpected '2' at end of line");
  assert_toml_error ("a = ", "t.toml:1: expected a value");
  assert_toml_error ("a = nope", "t.toml:1: invalid value 'nope'");
  assert_toml_error ("a = 012", "t.toml:1: invalid integer '012': leading zero");
  assert_toml_error ("a = 1__0", "t.toml:1: invalid value '1__0'");
  assert_toml_error ("a = 0x0x1", "t.toml:1: invalid value '0x0x1'");
  assert_toml_error ("a = 9223372036854775808", "t.toml:1: integer '9223372036854775808' out of range");
  assert_toml_error ("a = [1, 2", "t.toml:1: unterminated array");
  assert_toml_error ("a = [1 2]", "t.toml:1: expected ',' or ']' in array");
  assert_toml_error ("a = { x = 1\n}", "t.toml:1: expected ',' or '}' in inline table");
  assert_toml_error ("a = { x = 1 }\na.y = 2",
                     "t.toml:2: cannot add keys to 'a': it is not a table that can be extended");
  assert_toml_error ("a = { x = 1 }\n[a.b]", "t.toml:2: key 'a' is not a table");
  assert_toml_error ("a = [1]\n[[a]]",
                     "t.toml:2: cannot define array of tables 'a': the key is already defined");
  assert_toml_error ("[[a]]\n[a]", "t.toml:2: table 'a' is defined more than once");
  assert_toml_error ("[a\nb = 1", "t.toml:1: expected ']' to close the table header");
  assert_toml_error ("= 1", "t.toml:1: invalid character '=' in key");
  assert_toml_error ("a 1", "t.toml:1: expected '=' after key");
  assert_toml_error ("s = \"tab\tok\x01no\"", "t.toml:1: control character 0x01 in string");
}

static void
test_deep_nesting_refused (void **state)
{
  struct husk_buf b = { 0 };
  husk_error_t err = NULL;
  husk_json_t *v;
  int i;

  (void)state;
  husk_buf_puts (&b, "a = ");
  for (i = 0; i < 10000; i++)
    husk_buf_puts (&b, "[");
  v = husk_toml_parse (b.data, b.len, "deep.toml", &err);
  assert_null (v);
  assert_string_equal (err->msg, "deep.toml:1: values nested too deeply");
  husk_error_release (&err);
  husk_buf_free (&b);
}

static void
test_parse_file (void **state)
{
  char path[] = "/tmp/husk-test-toml-XXXXXX";
  husk_error_t err = NULL;
  husk_json_t *v = NULL;
  cleanup_free char *missing = NULL;
  cleanup_free char *msg = NULL;
  int fd;

  (void)state;
  fd = mkstemp (path);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "[x]\ny = 'z'\n", 12), 12);
  close (fd);
  assert_int_equal (husk_toml_parse_file (path, &v, &err), 1);
  assert_string_equal (husk_json_get_string (husk_json_get (v, "x"), "y"), "z");
  husk_json_free (v);

  fd = open (path, O_WRONLY | O_TRUNC);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "ok = 1\nbroken =\n", 16), 16);
  close (fd);
  assert_true (husk_toml_parse_file (path, &v, &err) < 0);
  assert_null (v);
  msg = xasprintf ("%s:2: expected a value", path);
  assert_string_equal (err->msg, msg);
  husk_error_release (&err);

  unlink (path);
  missing = xasprintf ("%s.missing", path);
  assert_int_equal (husk_toml_parse_file (missing, &v, &err), 0);
  assert_null (v);
  assert_null (err);
}

/* The drop-in Debian ships, when present, must parse.  */
static void
test_system_shortnames (void **state)
{
  husk_error_t err = NULL;
  husk_json_t *v = NULL;
  int ret;

  (void)state;
  ret = husk_toml_parse_file ("/etc/containers/registries.conf.d/shortnames.conf", &v, &err);
  if (ret == 0)
    skip ();
  if (ret < 0)
    fail_msg ("%s", err->msg);
  assert_true (husk_json_object_len (husk_json_get (v, "aliases")) > 10);
  husk_json_free (v);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_empty_and_comments),    cmocka_unit_test (test_strings),
    cmocka_unit_test (test_numbers_and_bools),     cmocka_unit_test (test_floats_special),
    cmocka_unit_test (test_dates_are_strings),     cmocka_unit_test (test_arrays),
    cmocka_unit_test (test_keys_and_tables),       cmocka_unit_test (test_arrays_of_tables),
    cmocka_unit_test (test_registries_conf_shape), cmocka_unit_test (test_errors),
    cmocka_unit_test (test_deep_nesting_refused),  cmocka_unit_test (test_parse_file),
    cmocka_unit_test (test_system_shortnames),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
