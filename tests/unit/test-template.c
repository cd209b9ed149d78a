/* Unit tests for src/util/template.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/template.h"
#include "husk/json.h"
#include "husk/util.h"

static const char *data_json
    = "{\"ID\":\"abc123\",\"Name\":\"web\",\"Size\":1234,\"Ratio\":0.5,\"Big\":1e22,\"Mid\":1234567.5,"
      "\"Small\":0.00001,\"Kilo\":123456.5,\"On\":true,\"Off\":"
      "false,"
      "\"Null\":null,\"Empty\":\"\",\"Names\":[\"a\",\"b\",\"c\"],\"None\":[],"
      "\"Labels\":{\"zeta\":\"z\",\"alpha\":\"1\",\"com.example.x\":\"dotted\"},"
      "\"Ports\":[{\"Host\":8080,\"Proto\":\"tcp\"},{\"Host\":53,\"Proto\":\"udp\"}],"
      "\"Nested\":{\"Inner\":{\"Deep\":\"yes\"}},\"Matrix\":[[1,2],[3]],\"Mixed\":[1,\"x\",null,true,{\"k\":"
      "2}],"
      "\"Quote\":\"say \\\"hi\\\"\\n\",\"Unicode\":\"h\xc3\xa9llo "
      "w\xc3\xb6rld\",\"Neg\":-42,\"Status\":\"running\"}";

static husk_json_t *
data (void)
{
  husk_error_t err = NULL;
  husk_json_t *v = husk_json_parse (data_json, strlen (data_json), &err);
  if (v == NULL)
    fail_msg ("parse: %s", err ? err->msg : "?");
  return v;
}

static char *
render (const char *fmt, const husk_json_t *v)
{
  husk_error_t err = NULL;
  cleanup_template husk_template_t *t = husk_template_parse (fmt, &err);
  struct husk_buf b = { 0 };

  if (t == NULL)
    fail_msg ("parse of '%s' failed: %s", fmt, err ? err->msg : "?");
  if (husk_template_render (t, v, &b, &err) < 0)
    fail_msg ("render of '%s' failed: %s", fmt, err ? err->msg : "?");
  return husk_buf_steal (&b, NULL);
}

static void
check (const char *fmt, const char *expected)
{
  cleanup_json husk_json_t *v = data ();
  cleanup_free char *out = render (fmt, v);
  if (strcmp (out, expected) != 0)
    fail_msg ("format '%s': got '%s', expected '%s'", fmt, out, expected);
}

static void
check_parse_error (const char *fmt)
{
  husk_error_t err = NULL;
  husk_template_t *t = husk_template_parse (fmt, &err);
  if (t != NULL)
    {
      husk_template_free (t);
      fail_msg ("format '%s' parsed but should fail", fmt);
    }
  assert_non_null (err);
  assert_non_null (strstr (err->msg, "template"));
  husk_error_release (&err);
}

static void
check_render_error (const char *fmt)
{
  cleanup_json husk_json_t *v = data ();
  husk_error_t err = NULL;
  cleanup_template husk_template_t *t = husk_template_parse (fmt, &err);
  struct husk_buf b = { 0 };

  if (t == NULL)
    fail_msg ("parse of '%s' failed: %s", fmt, err ? err->msg : "?");
  if (husk_template_render (t, v, &b, &err) == 0)
    fail_msg ("format '%s' rendered '%s' but should fail", fmt, b.data ? b.data : "");
  assert_non_null (err);
  husk_error_release (&err);
  husk_buf_free (&b);
}

static void
test_fields (void **state)
{
  (void)state;
  check ("{{.ID}}", "abc123");
  check ("id={{.ID}} name={{.Name}}", "id=abc123 name=web");
  check ("{{ .Name }}", "web");
  check ("{{.Size}}", "1234");
  check ("{{.Neg}}", "-42");
  check ("{{.Ratio}}", "0.5");
  check ("{{.Big}}", "1e+22");
  check ("{{.Mid}} {{.Small}} {{.Kilo}}", "1.2345675e+06 1e-05 123456.5");
  check ("{{.On}} {{.Off}}", "true false");
  check ("{{.Empty}}|", "|");
  check ("{{.Nested.Inner.Deep}}", "yes");
  check ("{{.Labels.alpha}}", "1");
  check ("plain text", "plain text");
  check ("", "");
}

static void
test_missing (void **state)
{
  (void)state;
  check ("{{.Missing}}", "<no value>");
  check ("{{.Null}}", "<no value>");
  check ("{{.Nested.Nope}}", "<no value>");
  check ("{{.Nested.Nope.Deeper}}", "<no value>");
  check ("{{.Null.X}}", "<no value>");
  check ("{{.Labels.nope}}", "<no value>");
  check ("{{json .Missing}}", "null");
  check ("[{{upper .Missing}}]", "[]");
}

static void
test_composites (void **state)
{
  (void)state;
  check ("{{.Names}}", "[a b c]");
  check ("{{.None}}", "[]");
  check ("{{.Labels}}", "map[alpha:1 com.example.x:dotted zeta:z]");
  check ("{{.Ports}}", "[map[Host:8080 Proto:tcp] map[Host:53 Proto:udp]]");
  check ("{{.Matrix}}", "[[1 2] [3]]");
  check ("{{.Mixed}}", "[1 x <nil> true map[k:2]]");
}

static void
test_dot (void **state)
{
  cleanup_json husk_json_t *s = husk_json_new_string ("hello");
  cleanup_json husk_json_t *n = husk_json_new_int (7);
  cleanup_free char *a = render ("{{.}}", s);
  cleanup_free char *b = render ("<{{.}}>", n);
  cleanup_free char *c = render ("{{.}}", NULL);
  assert_string_equal (a, "hello");
  assert_string_equal (b, "<7>");
  assert_string_equal (c, "<no value>");
}

static void
test_json (void **state)
{
  (void)state;
  check ("{{json .Names}}", "[\"a\",\"b\",\"c\"]");
  check ("{{json .Name}}", "\"web\"");
  check ("{{json .Size}}", "1234");
  check ("{{json .Nested}}", "{\"Inner\":{\"Deep\":\"yes\"}}");
  check ("{{.Nested | json}}", "{\"Inner\":{\"Deep\":\"yes\"}}");
  check ("{{json .None}}", "[]");
  check ("{{json .Null}}", "null");
}

static void
test_range (void **state)
{
  (void)state;
  check ("{{range .Names}}[{{.}}]{{end}}", "[a][b][c]");
  check ("{{range .None}}x{{end}}", "");
  check ("{{range .None}}x{{else}}empty{{end}}", "empty");
  check ("{{range .Missing}}x{{else}}none{{end}}", "none");
  check ("{{range .Null}}x{{else}}null{{end}}", "null");
  check ("{{range .Ports}}{{.Host}}/{{.Proto}} {{end}}", "8080/tcp 53/udp ");
  /* Objects range over values in key order.  */
  check ("{{range .Labels}}{{.}},{{end}}", "1,dotted,z,");
  /* Nested ranges, each with its own dot.  */
  check ("{{range .Matrix}}({{range .}}{{.}};{{end}}){{end}}", "(1;2;)(3;)");
  check ("{{range .Ports}}{{range $.Names}}{{.}}{{end}}-{{.Proto}} {{end}}", "abc-tcp abc-udp ");
  check ("{{range .Names}}{{$.Name}}:{{.}} {{end}}", "web:a web:b web:c ");
  check ("{{range split \"x,y\" \",\"}}<{{.}}>{{end}}", "<x><y>");
}

static void
test_if (void **state)
{
  (void)state;
  check ("{{if .On}}yes{{end}}", "yes");
  check ("{{if .Off}}yes{{end}}", "");
  check ("{{if .Off}}yes{{else}}no{{end}}", "no");
  check ("{{if .Missing}}yes{{else}}no{{end}}", "no");
  check ("{{if .Null}}y{{else}}n{{end}}", "n");
  check ("{{if .Empty}}y{{else}}n{{end}}", "n");
  check ("{{if .Name}}y{{else}}n{{end}}", "y");
  check ("{{if .None}}y{{else}}n{{end}}", "n");
  check ("{{if .Names}}y{{else}}n{{end}}", "y");
  check ("{{if .Size}}y{{else}}n{{end}}", "y");
  check ("{{if .Labels}}y{{else}}n{{end}}", "y");
  check ("{{if .Off}}a{{else if .Missing}}b{{else if .On}}c{{else}}d{{end}}", "c");
  check ("{{if .Off}}a{{else if .Missing}}b{{else}}d{{end}}", "d");
  check ("{{if .On}}a{{else if .On}}b{{end}}", "a");
  check ("{{if .On}}{{if .Off}}x{{else}}{{range .Names}}{{.}}{{end}}{{end}}{{end}}", "abc");
  check ("{{if eq .Status \"running\"}}up{{else}}down{{end}}", "up");
  check ("{{if ne .Status \"running\"}}up{{else}}down{{end}}", "down");
  check ("{{if not .Off}}t{{end}}", "t");
  check ("{{if and .On .Name}}t{{end}}{{if and .On .Off}}f{{end}}", "t");
  check ("{{if or .Off .Empty}}t{{else}}f{{end}}", "f");
  check ("{{or .Empty \"default\"}}", "default");
  check ("{{and .On .Name}}", "web");
  check ("{{with .Nested.Inner}}{{.Deep}}{{end}}", "yes");
  check ("{{with .Missing}}x{{else}}no{{end}}", "no");
}

static void
test_functions (void **state)
{
  (void)state;
  check ("{{join .Names \",\"}}", "a,b,c");
  check ("{{join .None \",\"}}", "");
  check ("{{join .Mixed \"|\"}}", "1|x||true|map[k:2]");
  check ("{{lower \"ABC\"}} {{upper .Name}}", "abc WEB");
  check ("{{title \"hello big-world\"}}", "Hello Big-World");
  check ("{{truncate .ID 3}}", "abc");
  check ("{{truncate .ID 100}}", "abc123");
  check ("{{truncate .Unicode 2}}", "h\xc3\xa9");
  check ("{{len .Names}} {{len .Labels}} {{len .Name}} {{len .None}}", "3 3 3 0");
  check ("{{index .Labels \"com.example.x\"}}", "dotted");
  check ("{{index .Names 1}}", "b");
  check ("{{index .Matrix 0 1}}", "2");
  check ("{{index .Labels \"nope\"}}", "<no value>");
  check ("{{(index .Ports 1).Host}}", "53");
  check ("{{pad .Name 1 2}}|", " web  |");
  check ("{{split \"a:b:c\" \":\"}}", "[a b c]");
  check ("{{len (split \"a:b:c\" \":\")}}", "3");
  check ("{{eq .Size 1234}} {{eq .Size 1}} {{eq .Name \"x\" \"web\"}}", "true false true");
  check ("{{lt 1 2}} {{gt 1 2}} {{le 2 2}} {{ge 1 2}}", "true false true false");
  check ("{{print \"a\" 1 2 \"b\"}}", "a1 2b");
  check ("{{println .Name}}", "web\n");
}

static void
test_pipelines (void **state)
{
  (void)state;
  check ("{{.Name | upper}}", "WEB");
  check ("{{join .Names \"-\" | upper}}", "A-B-C");
  check_render_error ("{{.Names | join \"-\"}}");
  check ("{{.Name | printf \"%s:%s\" .ID}}", "abc123:web");
  check ("{{.Names | len | printf \"%03d\"}}", "003");
  /* The piped value is the last argument: truncate (4, "abc123") fails.  */
  check_render_error ("{{.ID | truncate 4}}");
}

static void
test_printf (void **state)
{
  (void)state;
  check ("{{printf \"%s-%d\" .Name .Size}}", "web-1234");
  check ("{{printf \"%v\" .Names}}", "[a b c]");
  check ("{{printf \"%q\" .Quote}}", "\"say \\\"hi\\\"\\n\"");
  check ("{{printf \"%5d|%-5d|%05d\" .Size .Neg .Neg}}", " 1234|-42  |-0042");
  check ("{{printf \"%-6s|%6s|\" .Name .Name}}", "web   |   web|");
  check ("{{printf \"%.2f %x %X %%\" .Ratio 255 255}}", "0.50 ff FF %");
  check ("{{printf \"%.1s\" .Name}}", "w");
  check ("{{printf \"%t\" .On}}", "true");
  check ("{{printf \"%d\" .Name}}", "%!d(string=web)");
  check ("{{printf \"%s %s\" .Name}}", "web %!s(MISSING)");
  check ("{{printf \"%s\" .Name .ID}}", "web%!(EXTRA string=abc123)");
  check ("{{.Size | printf \"size=%v\"}}", "size=1234");
  check ("{{printf \"%v\" .Missing}}", "<nil>");
}

static void
test_trim (void **state)
{
  (void)state;
  check ("a  {{- .Name}}", "aweb");
  check ("{{.Name -}}  \n b", "webb");
  check ("x \n {{- .Name -}} \n y", "xweby");
  check ("{{range .Names -}}\n  {{.}}\n{{- end}}", "abc");
  /* "-3" without a space is a number, not a trim marker.  */
  check ("{{printf \"%d\" -3}}", "-3");
  check ("{{- /* comment */ -}}  z", "z");
  check ("a{{/* comment */}}b", "ab");
}

static void
test_escapes (void **state)
{
  (void)state;
  /* Two-character \t and \n outside actions become tab and newline.  */
  check ("{{.ID}}\\t{{.Name}}\\n", "abc123\tweb\n");
  check ("a\\tb", "a\tb");
  /* Other backslashes stay.  */
  check ("a\\b\\", "a\\b\\");
  check ("{{\"tab\\there\"}}", "tab\there");
  check ("{{\"q\\\"uote\\\\\"}}", "q\"uote\\");
  check ("{{\"\\x41\\u00e9\\101\"}}", "A\xc3\xa9"
                                      "A");
  check ("{{`raw\\n`}}", "raw\\n");
  check ("{{\"}}\"}}", "}}");
  check ("{{42}} {{-7}} {{0x10}}", "42 -7 16");
  check ("{{true}} {{false}}", "true false");
}

static void
test_table (void **state)
{
  husk_error_t err = NULL;
  husk_template_t *t;

  (void)state;
  t = husk_template_parse ("table {{.ID}}\\t{{.Name}}", &err);
  assert_non_null (t);
  assert_true (husk_template_is_table (t));
  assert_false (husk_template_is_table_default (t));
  husk_template_free (t);

  t = husk_template_parse ("table", &err);
  assert_non_null (t);
  assert_true (husk_template_is_table (t));
  assert_true (husk_template_is_table_default (t));
  husk_template_free (t);

  t = husk_template_parse ("table   ", &err);
  assert_non_null (t);
  assert_true (husk_template_is_table_default (t));
  husk_template_free (t);

  t = husk_template_parse ("{{.ID}}", &err);
  assert_non_null (t);
  assert_false (husk_template_is_table (t));
  husk_template_free (t);

  t = husk_template_parse ("tablet {{.ID}}", &err);
  assert_non_null (t);
  assert_false (husk_template_is_table (t));
  husk_template_free (t);

  /* Rendering a table template renders the columns only.  */
  check ("table {{.ID}}\\t{{.Name}}", "abc123\tweb");
}

static const char *
header_for (const char *field)
{
  if (strcmp (field, "ID") == 0)
    return "CONTAINER ID";
  if (strcmp (field, "Nested.Inner") == 0)
    return "INNER";
  return NULL;
}

static char *
header (const char *fmt, const char *(*hf) (const char *))
{
  husk_error_t err = NULL;
  cleanup_template husk_template_t *t = husk_template_parse (fmt, &err);
  struct husk_buf b = { 0 };

  if (t == NULL)
    fail_msg ("parse of '%s' failed: %s", fmt, err ? err->msg : "?");
  assert_int_equal (husk_template_render_header (t, hf, &b, &err), 0);
  return husk_buf_steal (&b, NULL);
}

static void
check_header (const char *fmt, const char *(*hf) (const char *), const char *expected)
{
  cleanup_free char *h = header (fmt, hf);
  if (strcmp (h, expected) != 0)
    fail_msg ("header of '%s': got '%s', expected '%s'", fmt, h, expected);
}

static void
test_header (void **state)
{
  (void)state;
  check_header ("table {{.ID}}\\t{{.Name}}", NULL, "ID\tNAME");
  check_header ("table {{.ID}}\\t{{.Name}}", header_for, "CONTAINER ID\tNAME");
  check_header ("table {{.CreatedAt}}\\t{{.RepoTags}}\\t{{.RepoDigests}}", NULL,
                "CREATED AT\tREPO TAGS\tREPO DIGESTS");
  check_header ("table {{.ImageID}} {{.HTTPProxy}} {{.ContainerIDs}} {{.Size2}}", NULL,
                "IMAGE ID HTTP PROXY CONTAINER IDS SIZE2");
  check_header ("table {{.Nested.Inner.Deep}}|{{.Nested.Inner}}", header_for, "DEEP|INNER");
  check_header ("table {{json .Labels}}\\t{{join .Names \",\"}}\\t{{.Size | printf \"%d\"}}", NULL,
                "LABELS\tNAMES\tSIZE");
  check_header ("table {{range .Mounts}}{{.Source}}{{end}}\\t{{if .On}}x{{end}}", NULL, "MOUNTS\tON");
  check_header ("table {{\"lit\"}}x\\t{{.}}", NULL, "x\t");
  check_header ("{{.lower}}", NULL, "LOWER");
}

static void
test_parse_errors (void **state)
{
  (void)state;
  check_parse_error ("{{.ID");
  check_parse_error ("{{.ID}");
  check_parse_error ("{{if .On}}x");
  check_parse_error ("{{range .Names}}x{{else}}y");
  check_parse_error ("{{end}}");
  check_parse_error ("{{else}}");
  check_parse_error ("{{if .On}}a{{else}}b{{else}}c{{end}}");
  check_parse_error ("{{range .X}}a{{else if .Y}}b{{end}}");
  check_parse_error ("{{nosuchfunc .X}}");
  check_parse_error ("{{.ID .Name}}");
  check_parse_error ("{{.ID | .Name}}");
  check_parse_error ("{{}}");
  check_parse_error ("{{\"unterminated}}");
  check_parse_error ("{{\"bad \\q escape\"}}");
  check_parse_error ("{{(.ID}}");
  check_parse_error ("{{.ID)}}");
  check_parse_error ("{{$x := .ID}}");
  check_parse_error ("{{template \"x\"}}");
  check_parse_error ("{{/* unclosed }}");
  check_parse_error ("{{.A..B}}");
  check_parse_error ("{{1.5}}");
  check_parse_error ("{{if}}{{end}}");
  check_parse_error ("{{ # }}");
}

static void
test_render_errors (void **state)
{
  (void)state;
  check_render_error ("{{.Name.Field}}");
  check_render_error ("{{.Names.Field}}");
  check_render_error ("{{range .Name}}x{{end}}");
  check_render_error ("{{join .Name \",\"}}");
  check_render_error ("{{truncate .Name \"x\"}}");
  check_render_error ("{{len .Size}}");
  check_render_error ("{{index .Names 10}}");
  check_render_error ("{{index .Name 1}}");
  check_render_error ("{{json}}");
  check_render_error ("{{json .A .B}}");
  check_render_error ("{{lt .Name 1}}");
  /* An error inside a range stops the output with that error.  */
  check_render_error ("{{range .Names}}{{.X}}{{end}}");
}

static void
test_nesting_limit (void **state)
{
  struct husk_buf b = { 0 };
  cleanup_free char *s = NULL;
  husk_error_t err = NULL;
  husk_template_t *t;
  int i;

  (void)state;
  husk_buf_puts (&b, "{{len ");
  for (i = 0; i < 5000; i++)
    husk_buf_puts (&b, "(");
  husk_buf_puts (&b, "}}");
  s = husk_buf_steal (&b, NULL);
  t = husk_template_parse (s, &err);
  assert_null (t);
  husk_error_release (&err);

  for (i = 0; i < 5000; i++)
    husk_buf_puts (&b, "{{if .On}}");
  free (s);
  s = husk_buf_steal (&b, NULL);
  t = husk_template_parse (s, &err);
  assert_null (t);
  husk_error_release (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_fields),
    cmocka_unit_test (test_missing),
    cmocka_unit_test (test_composites),
    cmocka_unit_test (test_dot),
    cmocka_unit_test (test_json),
    cmocka_unit_test (test_range),
    cmocka_unit_test (test_if),
    cmocka_unit_test (test_functions),
    cmocka_unit_test (test_pipelines),
    cmocka_unit_test (test_printf),
    cmocka_unit_test (test_trim),
    cmocka_unit_test (test_escapes),
    cmocka_unit_test (test_table),
    cmocka_unit_test (test_header),
    cmocka_unit_test (test_parse_errors),
    cmocka_unit_test (test_render_errors),
    cmocka_unit_test (test_nesting_limit),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
