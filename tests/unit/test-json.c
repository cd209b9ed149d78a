/* Unit tests for src/util/json.c.  */
#include <math.h>
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
    fail_msg ("parse of '%s' failed: %s", s, err ? err->msg : "?");
  return v;
}

/* Parse must fail; returns the message (caller frees).  */
static char *
parse_fail (const char *s, size_t len)
{
  husk_error_t err = NULL;
  husk_json_t *v = husk_json_parse (s, len, &err);
  char *msg;

  if (v != NULL)
    fail_msg ("parse of '%.*s' unexpectedly succeeded", (int)len, s);
  assert_non_null (err);
  assert_true (husk_has_prefix (err->msg, "invalid JSON at byte "));
  msg = xstrdup (err->msg);
  husk_error_release (&err);
  return msg;
}

static void
assert_roundtrip (const char *in, bool pretty, const char *expected)
{
  cleanup_json husk_json_t *v = parse_ok (in);
  size_t len = 0;
  cleanup_free char *out = husk_json_serialize (v, pretty, &len);
  assert_string_equal (out, expected);
  assert_int_equal (len, strlen (expected));
}

static char *
compact (const husk_json_t *v)
{
  return husk_json_serialize (v, false, NULL);
}

static void
assert_compact (const husk_json_t *v, const char *expected)
{
  cleanup_free char *out = compact (v);
  assert_string_equal (out, expected);
}

/* Round trips.  */

static void
test_compact_roundtrip (void **state)
{
  (void)state;
  assert_roundtrip ("{\"b\":1,\"a\":[true,false,null,\"x/y\"],\"c\":{},\"d\":[]}", false,
                    "{\"b\":1,\"a\":[true,false,null,\"x/y\"],\"c\":{},\"d\":[]}");
  assert_roundtrip (" { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } } ", false, "{\"a\":[1,2],\"b\":{}}");
  assert_roundtrip ("\"x\"", false, "\"x\"");
  assert_roundtrip ("42", false, "42");
  assert_roundtrip ("null", false, "null");
  assert_roundtrip ("true", false, "true");
  assert_roundtrip ("[]", false, "[]");
  assert_roundtrip ("{}", false, "{}");
}

static void
test_pretty (void **state)
{
  (void)state;
  assert_roundtrip ("{\"Id\":\"abc\",\"Args\":[],\"Config\":{},\"Env\":[\"A=1\",\"B=2\"],"
                    "\"State\":{\"Pid\":4,\"Nested\":[{\"x\":null},[]]}}",
                    true,
                    "{\n"
                    "    \"Id\": \"abc\",\n"
                    "    \"Args\": [],\n"
                    "    \"Config\": {},\n"
                    "    \"Env\": [\n"
                    "        \"A=1\",\n"
                    "        \"B=2\"\n"
                    "    ],\n"
                    "    \"State\": {\n"
                    "        \"Pid\": 4,\n"
                    "        \"Nested\": [\n"
                    "            {\n"
                    "                \"x\": null\n"
                    "            },\n"
                    "            []\n"
                    "        ]\n"
                    "    }\n"
                    "}");
  /* podman inspect prints a top-level array.  */
  assert_roundtrip ("[{\"Id\":\"a\"}]", true,
                    "[\n"
                    "    {\n"
                    "        \"Id\": \"a\"\n"
                    "    }\n"
                    "]");
  assert_roundtrip ("[]", true, "[]");
  assert_roundtrip ("{}", true, "{}");
  assert_roundtrip ("\"s\"", true, "\"s\"");
  assert_roundtrip ("7", true, "7");
}

static void
test_pretty_reparses_identically (void **state)
{
  const char *doc = "{\"a\":[1,2.5,{\"b\":[[],{}]}],\"c\":\"\\u00e9\\n\",\"d\":-7}";
  cleanup_json husk_json_t *v = parse_ok (doc);
  cleanup_free char *pretty = husk_json_serialize (v, true, NULL);
  cleanup_json husk_json_t *again = parse_ok (pretty);
  cleanup_free char *c1 = compact (v);
  cleanup_free char *c2 = compact (again);

  (void)state;
  assert_string_equal (c1, c2);
}

/* Strings and escapes.  */

static void
test_string_escapes_out (void **state)
{
  cleanup_json husk_json_t *v = husk_json_new_string ("a/b\"c\\d\n\t\r\b\f\x01\x1f<>&\xc3\xa9");

  (void)state;
  /* '/' is never escaped; non-ASCII UTF-8 is written as is; yajl writes
     control characters with uppercase hex.  */
  assert_compact (v, "\"a/b\\\"c\\\\d\\n\\t\\r\\b\\f\\u0001\\u001F<>&\xc3\xa9\"");
}

static void
test_unicode_escapes_in (void **state)
{
  cleanup_json husk_json_t *e = parse_ok ("\"\\u00e9\"");
  cleanup_json husk_json_t *euro = parse_ok ("\"\\u20AC\"");
  cleanup_json husk_json_t *pair = parse_ok ("\"\\ud83d\\ude00\"");
  cleanup_json husk_json_t *raw = parse_ok ("\"\xf0\x9f\x98\x80 \xc3\xa9\"");
  cleanup_json husk_json_t *esc = parse_ok ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");

  (void)state;
  assert_string_equal (husk_json_string (e), "\xc3\xa9");
  assert_string_equal (husk_json_string (euro), "\xe2\x82\xac");
  assert_string_equal (husk_json_string (pair), "\xf0\x9f\x98\x80");
  assert_string_equal (husk_json_string (raw), "\xf0\x9f\x98\x80 \xc3\xa9");
  assert_string_equal (husk_json_string (esc), "\"\\/\b\f\n\r\t");
  /* Serialised back as raw UTF-8.  */
  assert_compact (pair, "\"\xf0\x9f\x98\x80\"");
  assert_compact (esc, "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
}

static void
test_lone_surrogate (void **state)
{
  /* yajl replaces an unpaired surrogate with '?' rather than failing.  */
  cleanup_json husk_json_t *v = parse_ok ("\"a\\ud83db\"");

  (void)state;
  assert_string_equal (husk_json_string (v), "a?b");
}

static void
test_embedded_nul_survives (void **state)
{
  cleanup_json husk_json_t *v = parse_ok ("[\"a\\u0000b\"]");

  (void)state;
  assert_string_equal (husk_json_string (husk_json_array_at (v, 0)), "a");
  assert_compact (v, "[\"a\\u0000b\"]");
}

static void
test_invalid_utf8 (void **state)
{
  cleanup_free char *m1 = parse_fail ("\"\xff\"", 3);
  cleanup_free char *m2 = parse_fail ("\"\xc3\"", 3);

  (void)state;
}

/* Numbers.  */

static void
test_ints (void **state)
{
  cleanup_json husk_json_t *v
      = parse_ok ("[0,-0,1,-1,9223372036854775807,-9223372036854775808,9223372036854775808,"
                  "-9223372036854775809,123456789012345678901234567890]");

  (void)state;
  assert_int_equal (husk_json_type (husk_json_array_at (v, 0)), HUSK_JSON_INT);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 1)), HUSK_JSON_INT);
  assert_int_equal (husk_json_int (husk_json_array_at (v, 3), 0), -1);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 4)), HUSK_JSON_INT);
  assert_true (husk_json_int (husk_json_array_at (v, 4), 0) == INT64_MAX);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 5)), HUSK_JSON_INT);
  assert_true (husk_json_int (husk_json_array_at (v, 5), 0) == INT64_MIN);
  /* Integral but outside int64: a double.  */
  assert_int_equal (husk_json_type (husk_json_array_at (v, 6)), HUSK_JSON_DOUBLE);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 7)), HUSK_JSON_DOUBLE);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 8)), HUSK_JSON_DOUBLE);
  assert_true (husk_json_double (husk_json_array_at (v, 6), 0) == 9223372036854775808.0);
  /* ... and husk_json_int clamps it instead of overflowing.  */
  assert_true (husk_json_int (husk_json_array_at (v, 6), 0) == INT64_MAX);
  assert_true (husk_json_int (husk_json_array_at (v, 7), 0) == INT64_MIN);
  assert_compact (v, "[0,0,1,-1,9223372036854775807,-9223372036854775808,9223372036854776000,"
                     "-9223372036854776000,1.2345678901234568e+29]");
}

static void
test_integral_doubles_become_ints (void **state)
{
  cleanup_json husk_json_t *v = parse_ok ("[1.0,1e3,-2.0E2,1e18,1.5,-0.0,0.0]");

  (void)state;
  assert_int_equal (husk_json_type (husk_json_array_at (v, 0)), HUSK_JSON_INT);
  assert_int_equal (husk_json_int (husk_json_array_at (v, 1), 0), 1000);
  assert_int_equal (husk_json_int (husk_json_array_at (v, 2), 0), -200);
  assert_true (husk_json_int (husk_json_array_at (v, 3), 0) == 1000000000000000000LL);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 4)), HUSK_JSON_DOUBLE);
  assert_int_equal (husk_json_type (husk_json_array_at (v, 5)), HUSK_JSON_DOUBLE);
  assert_true (signbit (husk_json_double (husk_json_array_at (v, 5), 1)));
  assert_int_equal (husk_json_type (husk_json_array_at (v, 6)), HUSK_JSON_INT);
  assert_compact (v, "[1,1000,-200,1000000000000000000,1.5,-0,0]");
}

static void
test_double_format (void **state)
{
  static const struct
  {
    double d;
    const char *s;
  } cases[] = {
    { 0.1, "0.1" },
    { 1.5, "1.5" },
    { -2.5, "-2.5" },
    { 100.0, "100" },
    { 1e-6, "0.000001" },
    { 1.25e-6, "0.00000125" },
    { 1e-7, "1e-7" },
    { 1.5e-10, "1.5e-10" },
    { 1e20, "100000000000000000000" },
    { 1e21, "1e+21" },
    { 1.5e300, "1.5e+300" },
    { 123456789.125, "123456789.125" },
    { 3.141592653589793, "3.141592653589793" },
    { 0.30000000000000004, "0.30000000000000004" },
    { 5e-324, "5e-324" },
    { 1.7976931348623157e308, "1.7976931348623157e+308" },
    { 0.0, "0" },
    { -0.0, "-0" },
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cleanup_json husk_json_t *v = husk_json_new_double (cases[i].d);
      cleanup_free char *out = compact (v);
      cleanup_json husk_json_t *back = parse_ok (out);

      assert_string_equal (out, cases[i].s);
      /* Shortest representation that still reads back exactly.  */
      assert_true (husk_json_double (back, NAN) == cases[i].d);
    }
}

static void
test_nonfinite_double (void **state)
{
  cleanup_json husk_json_t *v = husk_json_new_array ();

  (void)state;
  husk_json_array_append (v, husk_json_new_double (NAN));
  husk_json_array_append (v, husk_json_new_double (INFINITY));
  assert_compact (v, "[null,null]");
  assert_int_equal (husk_json_int (husk_json_array_at (v, 0), 9), 9);
  assert_true (husk_json_int (husk_json_array_at (v, 1), 0) == INT64_MAX);
}

static void
test_number_out_of_range (void **state)
{
  cleanup_free char *m1 = parse_fail ("1e400", 5);
  cleanup_free char *m2 = parse_fail ("[1,-1e400]", 10);
  cleanup_json husk_json_t *tiny = parse_ok ("1e-400");

  (void)state;
  assert_non_null (strstr (m1, "number out of range"));
  assert_int_equal (husk_json_type (tiny), HUSK_JSON_INT);
  assert_int_equal (husk_json_int (tiny, 5), 0);
}

static void
test_double_truncation (void **state)
{
  cleanup_json husk_json_t *a = husk_json_new_double (2.9);
  cleanup_json husk_json_t *b = husk_json_new_double (-2.9);
  cleanup_json husk_json_t *i = husk_json_new_int (7);

  (void)state;
  assert_int_equal (husk_json_int (a, 0), 2);
  assert_int_equal (husk_json_int (b, 0), -2);
  assert_true (husk_json_double (i, 0) == 7.0);
}

/* Scalars and accessors.  */

static void
test_scalar_fallbacks (void **state)
{
  cleanup_json husk_json_t *s = husk_json_new_string ("x");
  cleanup_json husk_json_t *b = husk_json_new_bool (true);
  cleanup_json husk_json_t *n = husk_json_new_string (NULL);

  (void)state;
  assert_int_equal (husk_json_type (NULL), HUSK_JSON_NULL);
  assert_int_equal (husk_json_type (n), HUSK_JSON_NULL);
  assert_null (husk_json_string (NULL));
  assert_null (husk_json_string (b));
  assert_int_equal (husk_json_int (NULL, 3), 3);
  assert_int_equal (husk_json_int (s, 3), 3);
  assert_int_equal (husk_json_int (b, 3), 3);
  assert_true (husk_json_double (s, 1.5) == 1.5);
  assert_true (husk_json_bool (b, false));
  assert_false (husk_json_bool (s, false));
  assert_true (husk_json_bool (NULL, true));
  assert_int_equal (husk_json_array_len (s), 0);
  assert_int_equal (husk_json_object_len (s), 0);
  assert_null (husk_json_array_at (s, 0));
  assert_null (husk_json_object_key_at (s, 0));
  assert_null (husk_json_object_value_at (NULL, 0));
  assert_null (husk_json_get (s, "a"));
  assert_null (husk_json_get (NULL, "a"));
  assert_null (husk_json_get_string (NULL, "a"));
}

static void
test_serialize_null_tree (void **state)
{
  cleanup_free char *out = husk_json_serialize (NULL, true, NULL);

  (void)state;
  assert_string_equal (out, "null");
}

/* Arrays.  */

static void
test_arrays (void **state)
{
  cleanup_json husk_json_t *a = husk_json_new_array ();
  cleanup_json husk_json_t *notarr = husk_json_new_object ();
  size_t i;

  (void)state;
  for (i = 0; i < 100; i++)
    husk_json_array_append (a, husk_json_new_int ((int64_t)i));
  husk_json_array_append (a, NULL);
  assert_int_equal (husk_json_array_len (a), 101);
  for (i = 0; i < 100; i++)
    assert_int_equal (husk_json_int (husk_json_array_at (a, i), -1), (int64_t)i);
  assert_int_equal (husk_json_type (husk_json_array_at (a, 100)), HUSK_JSON_NULL);
  assert_non_null (husk_json_array_at (a, 100));
  assert_null (husk_json_array_at (a, 101));
  /* Appending to a non-array takes (frees) the item: no leak under ASan.  */
  husk_json_array_append (notarr, husk_json_new_string ("lost"));
  husk_json_array_append (NULL, husk_json_new_string ("lost"));
  assert_int_equal (husk_json_object_len (notarr), 0);
}

/* Objects.  */

static void
test_insertion_order (void **state)
{
  cleanup_json husk_json_t *v = parse_ok ("{\"z\":1,\"a\":2,\"m\":3,\"b\":4}");
  static const char *const order[] = { "z", "a", "m", "b" };
  size_t i;

  (void)state;
  assert_int_equal (husk_json_object_len (v), 4);
  for (i = 0; i < 4; i++)
    {
      assert_string_equal (husk_json_object_key_at (v, i), order[i]);
      assert_int_equal (husk_json_int (husk_json_object_value_at (v, i), 0), (int64_t)i + 1);
    }
  assert_null (husk_json_object_key_at (v, 4));
  assert_null (husk_json_object_value_at (v, 4));
  husk_json_set_int (v, "c", 5);
  assert_compact (v, "{\"z\":1,\"a\":2,\"m\":3,\"b\":4,\"c\":5}");
}

static void
test_duplicate_keys (void **state)
{
  /* Like Go: the first position, the last value.  */
  cleanup_json husk_json_t *v = parse_ok ("{\"a\":1,\"b\":2,\"a\":{\"x\":[1]},\"a\":3}");

  (void)state;
  assert_int_equal (husk_json_object_len (v), 2);
  assert_compact (v, "{\"a\":3,\"b\":2}");
}

static void
test_set_replaces_in_place (void **state)
{
  cleanup_json husk_json_t *v = parse_ok ("{\"a\":1,\"b\":{\"deep\":[1,2]},\"c\":3}");

  (void)state;
  husk_json_set_string (v, "b", "new");
  assert_compact (v, "{\"a\":1,\"b\":\"new\",\"c\":3}");
  husk_json_set_bool (v, "a", false);
  husk_json_set (v, "c", NULL);
  husk_json_set_string (v, "d", NULL);
  assert_compact (v, "{\"a\":false,\"b\":\"new\",\"c\":null,\"d\":null}");
  assert_string_equal (husk_json_get_string (v, "b"), "new");
  assert_null (husk_json_get_string (v, "a"));
  /* Setting on a non-object takes (frees) the value.  */
  husk_json_set (husk_json_get (v, "b"), "k", husk_json_new_int (1));
  husk_json_set (NULL, "k", husk_json_new_int (1));
}

static void
test_remove (void **state)
{
  cleanup_json husk_json_t *v = parse_ok ("{\"a\":1,\"b\":[2],\"c\":3,\"d\":4}");

  (void)state;
  assert_false (husk_json_remove (v, "zz"));
  assert_false (husk_json_remove (NULL, "a"));
  assert_true (husk_json_remove (v, "b"));
  assert_compact (v, "{\"a\":1,\"c\":3,\"d\":4}");
  assert_false (husk_json_remove (v, "b"));
  assert_true (husk_json_remove (v, "d"));
  assert_true (husk_json_remove (v, "a"));
  assert_compact (v, "{\"c\":3}");
  assert_true (husk_json_remove (v, "c"));
  assert_int_equal (husk_json_object_len (v), 0);
  assert_compact (v, "{}");
  husk_json_set_int (v, "e", 5);
  assert_compact (v, "{\"e\":5}");
}

/* Objects past the size where a lookup index is kept: every operation must
   agree with the simple model of an ordered list.  */
static void
test_large_object (void **state)
{
  cleanup_json husk_json_t *v = husk_json_new_object ();
  cleanup_json husk_json_t *copy = NULL;
  const size_t n = 2000;
  size_t i;

  (void)state;
  for (i = 0; i < n; i++)
    {
      cleanup_free char *k = xasprintf ("sha256:%064zu", i);
      husk_json_set_int (v, k, (int64_t)i);
    }
  assert_int_equal (husk_json_object_len (v), n);
  for (i = 0; i < n; i++)
    {
      cleanup_free char *k = xasprintf ("sha256:%064zu", i);
      assert_int_equal (husk_json_int (husk_json_get (v, k), -1), (int64_t)i);
      assert_string_equal (husk_json_object_key_at (v, i), k);
    }
  assert_null (husk_json_get (v, "sha256:missing"));

  /* Remove the even keys, replace the odd ones in place.  */
  for (i = 0; i < n; i += 2)
    {
      cleanup_free char *k = xasprintf ("sha256:%064zu", i);
      assert_true (husk_json_remove (v, k));
      assert_null (husk_json_get (v, k));
    }
  for (i = 1; i < n; i += 2)
    {
      cleanup_free char *k = xasprintf ("sha256:%064zu", i);
      husk_json_set_int (v, k, -(int64_t)i);
    }
  assert_int_equal (husk_json_object_len (v), n / 2);
  for (i = 0; i < n / 2; i++)
    {
      cleanup_free char *k = xasprintf ("sha256:%064zu", 2 * i + 1);
      assert_string_equal (husk_json_object_key_at (v, i), k);
      assert_int_equal (husk_json_int (husk_json_get (v, k), 0), -(int64_t)(2 * i + 1));
    }

  /* A clone of a big object is searchable too.  */
  copy = husk_json_clone (v);
  for (i = 1; i < n; i += 2)
    {
      cleanup_free char *k = xasprintf ("sha256:%064zu", i);
      assert_int_equal (husk_json_int (husk_json_get (copy, k), 0), -(int64_t)i);
    }

  /* Shrink below the index threshold and keep working.  */
  while (husk_json_object_len (v) > 3)
    assert_true (husk_json_remove (v, husk_json_object_key_at (v, 0)));
  assert_int_equal (husk_json_int (husk_json_get (v, husk_json_object_key_at (v, 2)), 0), -(int64_t)(n - 1));
}

static void
test_large_object_parse_duplicates (void **state)
{
  struct husk_buf b = { 0 };
  cleanup_json husk_json_t *v = NULL;
  husk_error_t err = NULL;
  size_t i;

  (void)state;
  husk_buf_puts (&b, "{");
  for (i = 0; i < 500; i++)
    husk_buf_printf (&b, "%s\"k%zu\":%zu", i ? "," : "", i % 250, i);
  husk_buf_puts (&b, "}");
  v = husk_json_parse (b.data, b.len, &err);
  husk_buf_free (&b);
  assert_non_null (v);
  assert_int_equal (husk_json_object_len (v), 250);
  assert_string_equal (husk_json_object_key_at (v, 0), "k0");
  assert_int_equal (husk_json_int (husk_json_get (v, "k0"), 0), 250);
  assert_int_equal (husk_json_int (husk_json_get (v, "k249"), 0), 499);
}

static void
test_get_path (void **state)
{
  cleanup_json husk_json_t *v
      = parse_ok ("{\"config\":{\"Env\":[\"A=1\"],\"Labels\":{\"x\":\"y\"},\"User\":\"\"},\"n\":1}");

  (void)state;
  assert_int_equal (husk_json_array_len (husk_json_get_path (v, "config", "Env", NULL)), 1);
  assert_string_equal (husk_json_string (husk_json_get_path (v, "config", "Labels", "x", NULL)), "y");
  assert_string_equal (husk_json_string (husk_json_get_path (v, "config", "User", NULL)), "");
  assert_true (husk_json_get_path (v, NULL) == v);
  assert_null (husk_json_get_path (v, "config", "Missing", "x", NULL));
  assert_null (husk_json_get_path (v, "n", "x", NULL));
  assert_null (husk_json_get_path (v, "config", "Env", "0", NULL));
  assert_null (husk_json_get_path (NULL, "config", NULL));
}

static void
test_clone (void **state)
{
  const char *doc
      = "{\"a\":[1,2.5,\"s\",null,true,{\"b\":[]}],\"c\":{\"d\":\"e\\u0000f\"},\"g\":-9223372036854775808}";
  cleanup_json husk_json_t *v = parse_ok (doc);
  cleanup_json husk_json_t *c = husk_json_clone (v);
  cleanup_free char *s1 = compact (v);
  cleanup_free char *s2 = NULL;

  (void)state;
  assert_null (husk_json_clone (NULL));
  assert_true (c != v);
  s2 = compact (c);
  assert_string_equal (s1, s2);
  /* Independent: changing the clone leaves the original alone.  */
  husk_json_set_string (husk_json_get (c, "c"), "d", "changed");
  husk_json_array_append (husk_json_get (c, "a"), husk_json_new_int (9));
  assert_true (husk_json_remove (c, "g"));
  free (s2);
  s2 = compact (v);
  assert_string_equal (s1, s2);
}

/* strv conversions.  */

static void
test_strv (void **state)
{
  char *in[] = { (char *)"a", (char *)"", (char *)"c d", NULL };
  cleanup_json husk_json_t *arr = husk_json_from_strv (in);
  cleanup_json husk_json_t *empty = husk_json_from_strv (NULL);
  cleanup_json husk_json_t *mixed = parse_ok ("[\"x\",1,null,[\"y\"],\"z\"]");
  cleanup_strv char **out = husk_json_to_strv (arr);
  cleanup_strv char **m = husk_json_to_strv (mixed);
  cleanup_strv char **none = husk_json_to_strv (NULL);
  cleanup_strv char **notarr = husk_json_to_strv (empty == NULL ? NULL : husk_json_get (mixed, "x"));

  (void)state;
  assert_compact (arr, "[\"a\",\"\",\"c d\"]");
  assert_compact (empty, "[]");
  assert_int_equal (strv_len (out), 3);
  assert_string_equal (out[0], "a");
  assert_string_equal (out[1], "");
  assert_string_equal (out[2], "c d");
  assert_null (out[3]);
  assert_int_equal (strv_len (m), 2);
  assert_string_equal (m[0], "x");
  assert_string_equal (m[1], "z");
  assert_non_null (none);
  assert_null (none[0]);
  assert_non_null (notarr);
  assert_null (notarr[0]);
}

/* Errors.  */

static void
test_truncated_input (void **state)
{
  const char *doc = "{\"a\":[1,{\"b\":\"c\\u00e9\"},2.5e3],\"d\":true,\"e\":null}";
  size_t len = strlen (doc), i;

  (void)state;
  /* Every proper prefix of an object is invalid.  */
  for (i = 0; i < len; i++)
    {
      cleanup_free char *msg = parse_fail (doc, i);
      (void)msg;
    }
  {
    cleanup_json husk_json_t *whole = parse_ok (doc);
    assert_non_null (whole);
  }
}

static void
test_error_messages (void **state)
{
  cleanup_free char *empty = parse_fail ("", 0);
  cleanup_free char *open = parse_fail ("{", 1);
  cleanup_free char *garbage = parse_fail ("{\"a\":1}x", 8);
  cleanup_free char *two = parse_fail ("1 2", 3);
  cleanup_free char *colon = parse_fail ("{\"a\" 1}", 7);
  cleanup_free char *word = parse_fail ("[nul]", 5);
  cleanup_free char *comment = parse_fail ("[1/*c*/]", 8);
  cleanup_free char *quote = parse_fail ("{'a':1}", 7);
  cleanup_free char *lead0 = parse_fail ("[01]", 4);
  cleanup_free char *comma = parse_fail ("[1,]", 4);

  (void)state;
  assert_string_equal (empty, "invalid JSON at byte 0: parse error: premature EOF");
  assert_string_equal (open, "invalid JSON at byte 1: parse error: premature EOF");
  assert_non_null (strstr (garbage, "trailing garbage"));
  assert_non_null (strstr (colon, "colon"));
  /* No stray newline from yajl's message.  */
  assert_null (strchr (word, '\n'));
}

static void
test_len_is_respected (void **state)
{
  husk_error_t err = NULL;
  cleanup_json husk_json_t *v = husk_json_parse ("[1]garbage", 3, &err);

  (void)state;
  assert_non_null (v);
  assert_int_equal (husk_json_array_len (v), 1);
}

static void
test_nesting_limit (void **state)
{
  struct husk_buf ok = { 0 }, deep = { 0 };
  cleanup_json husk_json_t *v = NULL;
  cleanup_free char *msg = NULL;
  husk_error_t err = NULL;
  int i;

  (void)state;
  for (i = 0; i < 1000; i++)
    husk_buf_puts (&ok, i % 2 ? "{\"k\":" : "[");
  husk_buf_puts (&ok, "0");
  for (i = 999; i >= 0; i--)
    husk_buf_puts (&ok, i % 2 ? "}" : "]");
  v = husk_json_parse (ok.data, ok.len, &err);
  assert_non_null (v);

  for (i = 0; i < 100000; i++)
    husk_buf_puts (&deep, "[");
  msg = parse_fail (deep.data, deep.len);
  assert_non_null (strstr (msg, "nesting too deep"));
  husk_buf_free (&ok);
  husk_buf_free (&deep);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_compact_roundtrip),
    cmocka_unit_test (test_pretty),
    cmocka_unit_test (test_pretty_reparses_identically),
    cmocka_unit_test (test_string_escapes_out),
    cmocka_unit_test (test_unicode_escapes_in),
    cmocka_unit_test (test_lone_surrogate),
    cmocka_unit_test (test_embedded_nul_survives),
    cmocka_unit_test (test_invalid_utf8),
    cmocka_unit_test (test_ints),
    cmocka_unit_test (test_integral_doubles_become_ints),
    cmocka_unit_test (test_double_format),
    cmocka_unit_test (test_nonfinite_double),
    cmocka_unit_test (test_number_out_of_range),
    cmocka_unit_test (test_double_truncation),
    cmocka_unit_test (test_scalar_fallbacks),
    cmocka_unit_test (test_serialize_null_tree),
    cmocka_unit_test (test_arrays),
    cmocka_unit_test (test_insertion_order),
    cmocka_unit_test (test_duplicate_keys),
    cmocka_unit_test (test_set_replaces_in_place),
    cmocka_unit_test (test_remove),
    cmocka_unit_test (test_large_object),
    cmocka_unit_test (test_large_object_parse_duplicates),
    cmocka_unit_test (test_get_path),
    cmocka_unit_test (test_clone),
    cmocka_unit_test (test_strv),
    cmocka_unit_test (test_truncated_input),
    cmocka_unit_test (test_error_messages),
    cmocka_unit_test (test_len_is_respected),
    cmocka_unit_test (test_nesting_limit),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
