/* Unit tests for src/util/json.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/json.h"
#include "husk/util.h"

static husk_json_t *
parse_ok (const char *s)
{
  husk_error_t err = NULL;
  husk_json_t *v = husk_json_parse (s, strlen (s), &err);
  if (v == NULL)
    fail_msg ("parse failed: %s", err ? err->msg : "?");
  return v;
}

static void
assert_roundtrip (const char *in, bool pretty, const char *expected)
{
  cleanup_json husk_json_t *v = parse_ok (in);
  cleanup_free char *out = husk_json_serialize (v, pretty, NULL);
  assert_string_equal (out, expected);
}

static void
test_compact_roundtrip (void **state)
{
  (void)state;
  assert_roundtrip ("{\"b\":1,\"a\":[true,false,null,\"x/y\"],\"c\":{}}", false,
                    "{\"b\":1,\"a\":[true,false,null,\"x/y\"],\"c\":{}}");
}

static void
test_pretty (void **state)
{
  (void)state;
  assert_roundtrip (
      "{\"Id\":\"abc\",\"Args\":[],\"Config\":{},\"Env\":[\"A=1\",\"B=2\"],\"State\":{\"Pid\":4}}", true,
      "{\n"
      "    \"Id\": \"abc\",\n"
      "    \"Args\": [],\n"
      "    \"Config\": {},\n"
      "    \"Env\": [\n"
      "        \"A=1\",\n"
      "        \"B=2\"\n"
      "    ],\n"
      "    \"State\": {\n"
      "        \"Pid\": 4\n"
      "    }\n"
      "}");
}

static void
test_parse_error (void **state)
{
  husk_error_t err = NULL;
  husk_json_t *v = husk_json_parse ("{\"a\":", 5, &err);

  (void)state;
  assert_null (v);
  assert_non_null (err);
  assert_true (husk_has_prefix (err->msg, "invalid JSON at byte 5: "));
  husk_error_release (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_compact_roundtrip),
    cmocka_unit_test (test_pretty),
    cmocka_unit_test (test_parse_error),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
