/* Unit tests for src/util/output.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "husk/output.h"
#include "husk/json.h"
#include "husk/util.h"

static void
check_tab (const char *in, const char *expected)
{
  cleanup_free char *out = husk_tabwriter (in);
  if (strcmp (out, expected) != 0)
    fail_msg ("tabwriter:\n--- got ---\n%s\n--- expected ---\n%s\n", out, expected);
}

static void
test_tabwriter (void **state)
{
  (void)state;
  check_tab ("", "");
  check_tab ("no tabs\n", "no tabs\n");
  check_tab ("no newline", "no newline");
  check_tab ("a\tb\tc\naaa\tbbbb\tc\n", "a     b      c\naaa   bbbb   c\n");
  /* The last cell of a line is never padded or counted.  */
  check_tab ("a\tlooooooong\nbb\tc\n", "a    looooooong\nbb   c\n");
  /* A line without the cell ends the column block.  */
  check_tab ("a\tb\nxxxxxx\nc\td\n", "a   b\nxxxxxx\nc   d\n");
  check_tab ("a\tb\tc\naa\tb\n", "a    b   c\naa   b\n");
  check_tab ("aaaa\tbbb\tc\na\tb\naa\tbbbbbbb\tcc\n", "aaaa   bbb   c\na      b\naa     bbbbbbb   cc\n");
  /* Empty cells still take the padding.  */
  check_tab ("\tx\n", "   x\n");
  check_tab ("a\tb\t\n", "a   b   \n");
  /* Widths count UTF-8 runes, as Go does.  */
  check_tab ("\xc3\xa9\tx\nab\ty", "\xc3\xa9    x\nab   y");
  check_tab ("ID\tNAME\nabc\tweb\ndefghi\tdb\n", "ID       NAME\nabc      web\ndefghi   db\n");
}

static void
check_size (uint64_t n, const char *expected)
{
  cleanup_free char *s = husk_human_size (n);
  if (strcmp (s, expected) != 0)
    fail_msg ("human_size (%llu): got '%s', expected '%s'", (unsigned long long)n, s, expected);
}

static void
test_human_size (void **state)
{
  (void)state;
  check_size (0, "0B");
  check_size (1, "1B");
  check_size (999, "999B");
  check_size (1000, "1kB");
  check_size (1024, "1.02kB");
  check_size (1234, "1.23kB");
  check_size (1234567, "1.23MB");
  check_size (45600000, "45.6MB");
  check_size (123456789, "123MB");
  check_size (1500000000, "1.5GB");
  check_size (7700000000000ULL, "7.7TB");
  check_size (3000000000000000ULL, "3PB");
  check_size (UINT64_MAX, "18.4EB");
  /* %.3g rounds 999.999 up and switches to exponent form, like Go.  */
  check_size (999999, "1e+03kB");
}

static void
check_duration (int64_t secs, const char *expected)
{
  cleanup_free char *s = husk_human_duration (secs);
  if (strcmp (s, expected) != 0)
    fail_msg ("human_duration (%lld): got '%s', expected '%s'", (long long)secs, s, expected);
}

static void
test_human_duration (void **state)
{
  const int64_t minute = 60, hour = 3600, day = 24 * hour, week = 7 * day, month = 30 * day, year = 365 * day;

  (void)state;
  /* go-units' own test table.  */
  check_duration (-5, "Less than a second");
  check_duration (0, "Less than a second");
  check_duration (1, "1 second");
  check_duration (45, "45 seconds");
  check_duration (59, "59 seconds");
  check_duration (60, "About a minute");
  check_duration (119, "About a minute");
  check_duration (3 * minute, "3 minutes");
  check_duration (35 * minute + 40, "35 minutes");
  check_duration (59 * minute, "59 minutes");
  check_duration (hour, "About an hour");
  check_duration (hour + 29 * minute, "About an hour");
  check_duration (hour + 31 * minute, "2 hours");
  check_duration (hour + 59 * minute, "2 hours");
  check_duration (3 * hour, "3 hours");
  check_duration (3 * hour + 29 * minute, "3 hours");
  check_duration (3 * hour + 31 * minute, "4 hours");
  check_duration (24 * hour, "24 hours");
  check_duration (day + 12 * hour, "36 hours");
  check_duration (2 * day, "2 days");
  check_duration (7 * day, "7 days");
  check_duration (13 * day + 5 * hour, "13 days");
  check_duration (2 * week, "2 weeks");
  check_duration (2 * week + 4 * day, "2 weeks");
  check_duration (3 * week, "3 weeks");
  check_duration (4 * week + 3 * day, "4 weeks");
  check_duration (month, "4 weeks");
  check_duration (month + 2 * week, "6 weeks");
  check_duration (2 * month, "2 months");
  check_duration (3 * month + week, "3 months");
  check_duration (5 * month + 2 * week, "5 months");
  check_duration (13 * month, "13 months");
  check_duration (24 * month, "24 months");
  check_duration (24 * month + 2 * week, "2 years");
  check_duration (3 * year + 2 * month, "3 years");
}

static void
test_human_ago (void **state)
{
  cleanup_free char *a = husk_human_ago ((int64_t)time (NULL) - 3 * 3600);
  cleanup_free char *b = husk_human_ago ((int64_t)time (NULL) + 10);

  (void)state;
  assert_string_equal (a, "3 hours ago");
  assert_string_equal (b, "Less than a second ago");
}

/* Output capture.  */

struct capture
{
  char *buf;
  size_t len;
  FILE *f;
};

static void
capture_open (struct capture *c)
{
  c->buf = NULL;
  c->len = 0;
  c->f = open_memstream (&c->buf, &c->len);
  assert_non_null (c->f);
}

static char *
capture_close (struct capture *c)
{
  fclose (c->f);
  return c->buf;
}

static husk_json_t *
parse (const char *s)
{
  husk_error_t err = NULL;
  husk_json_t *v = husk_json_parse (s, strlen (s), &err);
  if (v == NULL)
    fail_msg ("parse: %s", err ? err->msg : "?");
  return v;
}

static const char *rows_json = "[{\"ID\":\"abc\",\"Name\":\"web\",\"Size\":10,\"Names\":[\"x\",\"y\"]},"
                               "{\"ID\":\"defghi\",\"Name\":\"db\",\"Size\":2000,\"Names\":[]}]";

static const char *
header_for (const char *field)
{
  if (strcmp (field, "ID") == 0)
    return "CONTAINER ID";
  return NULL;
}

static const struct husk_listing listing = {
  .default_format = "table {{.ID}}\t{{.Name}}",
  .quiet_field = "ID",
  .header_for = NULL,
};

static char *
list (const char *rows, const struct husk_listing *l, const char *format, bool noheading, bool quiet)
{
  cleanup_json husk_json_t *v = parse (rows);
  struct husk_output_opts opts = { format, noheading, quiet };
  husk_error_t err = NULL;
  struct capture c;

  capture_open (&c);
  if (husk_output_list (c.f, v, l, &opts, &err) < 0)
    fail_msg ("output_list (%s): %s", format ? format : "NULL", err ? err->msg : "?");
  return capture_close (&c);
}

static void
check_list (const char *format, bool noheading, bool quiet, const char *expected)
{
  cleanup_free char *out = list (rows_json, &listing, format, noheading, quiet);
  if (strcmp (out, expected) != 0)
    fail_msg ("format %s:\n--- got ---\n%s--- expected ---\n%s", format ? format : "NULL", out, expected);
}

static void
test_list_table (void **state)
{
  (void)state;
  check_list (NULL, false, false, "ID       NAME\nabc      web\ndefghi   db\n");
  check_list ("", false, false, "ID       NAME\nabc      web\ndefghi   db\n");
  check_list ("table", false, false, "ID       NAME\nabc      web\ndefghi   db\n");
  check_list (NULL, true, false, "abc      web\ndefghi   db\n");
  /* Flags spell tabs as the two characters \t.  */
  check_list ("table {{.Name}}\\t{{.Size}}\\t{{join .Names \",\"}}", false, false,
              "NAME   SIZE   NAMES\nweb    10     x,y\ndb     2000   \n");
  check_list ("table {{.Name}}:{{.ID}}", false, false, "NAME:ID\nweb:abc\ndb:defghi\n");
}

static void
test_list_header_for (void **state)
{
  struct husk_listing l = listing;
  cleanup_free char *out = NULL;

  (void)state;
  l.header_for = header_for;
  out = list (rows_json, &l, NULL, false, false);
  assert_string_equal (out, "CONTAINER ID   NAME\nabc            web\ndefghi         db\n");
}

static void
test_list_empty (void **state)
{
  cleanup_free char *a = list ("[]", &listing, NULL, false, false);
  cleanup_free char *b = list ("[]", &listing, "json", false, false);
  cleanup_free char *c = list ("[]", &listing, NULL, true, false);
  cleanup_free char *d = list ("[]", &listing, "{{.ID}}", false, false);
  cleanup_free char *e = list ("[]", &listing, NULL, false, true);

  (void)state;
  assert_string_equal (a, "ID   NAME\n");
  assert_string_equal (b, "[]\n");
  assert_string_equal (c, "");
  assert_string_equal (d, "");
  assert_string_equal (e, "");
}

static void
test_list_quiet (void **state)
{
  (void)state;
  check_list (NULL, false, true, "abc\ndefghi\n");
  /* -q wins over --format.  */
  check_list ("{{.Name}}", false, true, "abc\ndefghi\n");
  check_list ("table {{.Name}}", false, true, "abc\ndefghi\n");
}

static void
test_list_template (void **state)
{
  (void)state;
  check_list ("{{.ID}}:{{.Name}}", false, false, "abc:web\ndefghi:db\n");
  /* No alignment and no header outside table mode.  */
  check_list ("{{.ID}}\\t{{.Name}}", false, false, "abc\tweb\ndefghi\tdb\n");
  check_list ("{{json .Names}}", false, false, "[\"x\",\"y\"]\n[]\n");
}

static void
test_list_json (void **state)
{
  cleanup_free char *out = list (rows_json, &listing, "json", false, false);
  cleanup_json husk_json_t *rows = parse (rows_json);
  cleanup_json husk_json_t *back = NULL;
  cleanup_free char *a = NULL;
  cleanup_free char *b = NULL;
  husk_error_t err = NULL;

  (void)state;
  assert_true (out[0] == '[');
  assert_true (out[strlen (out) - 1] == '\n');
  assert_non_null (strstr (out, "\n    {"));
  back = husk_json_parse (out, strlen (out), &err);
  assert_non_null (back);
  a = husk_json_serialize (rows, false, NULL);
  b = husk_json_serialize (back, false, NULL);
  assert_string_equal (a, b);
}

static void
test_list_errors (void **state)
{
  cleanup_json husk_json_t *v = parse (rows_json);
  struct husk_output_opts opts = { "{{.ID", false, false };
  husk_error_t err = NULL;
  struct capture c;
  cleanup_free char *out = NULL;

  (void)state;
  capture_open (&c);
  assert_true (husk_output_list (c.f, v, &listing, &opts, &err) < 0);
  assert_non_null (strstr (err->msg, "--format"));
  husk_error_release (&err);

  /* A type error while rendering fails the whole listing.  */
  opts.format = "{{.Name.X}}";
  assert_true (husk_output_list (c.f, v, &listing, &opts, &err) < 0);
  husk_error_release (&err);
  opts.format = "table {{.Name.X}}";
  assert_true (husk_output_list (c.f, v, &listing, &opts, &err) < 0);
  husk_error_release (&err);
  /* Rows stand for structs: an unknown field is an error, as in podman.  */
  opts.format = "{{.Missing}}";
  assert_true (husk_output_list (c.f, v, &listing, &opts, &err) < 0);
  assert_non_null (strstr (err->msg, "Missing"));
  husk_error_release (&err);
  out = capture_close (&c);
  assert_string_equal (out, "");
}

static char *
inspect (const char *items, const char *format)
{
  cleanup_json husk_json_t *v = parse (items);
  husk_error_t err = NULL;
  struct capture c;

  capture_open (&c);
  if (husk_output_inspect (c.f, v, format, &err) < 0)
    fail_msg ("output_inspect (%s): %s", format ? format : "NULL", err ? err->msg : "?");
  return capture_close (&c);
}

static void
test_inspect (void **state)
{
  cleanup_free char *a = inspect (rows_json, "{{.Name}}");
  cleanup_free char *b = inspect ("[]", NULL);
  cleanup_free char *c = inspect (rows_json, NULL);
  cleanup_free char *d = inspect (rows_json, "{{json .Names}}");
  cleanup_free char *e = inspect ("[{\"a\":1}]", "");
  cleanup_json husk_json_t *v = parse ("[1]");
  husk_error_t err = NULL;

  (void)state;
  assert_string_equal (a, "web\ndb\n");
  assert_string_equal (b, "[]\n");
  assert_true (c[0] == '[' && c[strlen (c) - 1] == '\n');
  assert_non_null (strstr (c, "\"ID\": \"defghi\""));
  assert_string_equal (d, "[\"x\",\"y\"]\n[]\n");
  assert_non_null (strstr (e, "\"a\": 1"));
  assert_true (husk_output_inspect (stdout, v, "{{if}}", &err) < 0);
  husk_error_release (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_tabwriter),      cmocka_unit_test (test_human_size),
    cmocka_unit_test (test_human_duration), cmocka_unit_test (test_human_ago),
    cmocka_unit_test (test_list_table),     cmocka_unit_test (test_list_header_for),
    cmocka_unit_test (test_list_empty),     cmocka_unit_test (test_list_quiet),
    cmocka_unit_test (test_list_template),  cmocka_unit_test (test_list_json),
    cmocka_unit_test (test_list_errors),    cmocka_unit_test (test_inspect),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
