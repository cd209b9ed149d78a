/* Unit tests for image configs and --change (src/image/config.c).  */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/image.h"
#include "husk/util.h"

static husk_json_t *
fresh (void)
{
  char *ids[] = { (char *)"sha256:aaaa", NULL };
  return husk_image_config_new (ids, 1700000000123456789LL, "husk import", "imported from -");
}

/* Apply the changes and return config["config"] serialized compactly.  */
static char *
config_after (const char *const *changes)
{
  cleanup_json husk_json_t *cfg = fresh ();
  husk_error_t err = NULL;

  for (; *changes; changes++)
    if (husk_image_config_apply_change (cfg, *changes, &err) < 0)
      fail_msg ("%s: %s", *changes, err->msg);
  return husk_json_serialize (husk_json_get (cfg, "config"), false, NULL);
}

static void
expect_config (const char *const *changes, const char *want)
{
  cleanup_free char *got = config_after (changes);
  if (strcmp (got, want) != 0)
    fail_msg ("expected %s\n     got %s", want, got);
}

#define EXPECT(want, ...)                                                                                    \
  do                                                                                                         \
    {                                                                                                        \
      const char *ch[] = { __VA_ARGS__, NULL };                                                              \
      expect_config (ch, want);                                                                              \
    }                                                                                                        \
  while (0)

static void
expect_error (const char *change, const char *want)
{
  cleanup_json husk_json_t *cfg = fresh ();
  husk_error_t err = NULL;

  if (husk_image_config_apply_change (cfg, change, &err) == 0)
    fail_msg ("%s: should have failed", change);
  if (strcmp (err->msg, want) != 0)
    fail_msg ("%s: expected error \"%s\", got \"%s\"", change, want, err->msg);
  husk_error_release (&err);
}

static void
test_new (void **state)
{
  cleanup_json husk_json_t *cfg = fresh ();
  cleanup_free char *s = husk_json_serialize (cfg, false, NULL);
  cleanup_free char *want
      = xasprintf ("{\"created\":\"2023-11-14T22:13:20.123456789Z\",\"architecture\":\"%s\",\"os\":\"linux\","
                   "\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:aaaa\"]},"
                   "\"history\":[{\"created\":\"2023-11-14T22:13:20.123456789Z\",\"created_by\":\"husk "
                   "import\",\"comment\":\"imported from -\"}]}",
                   husk_image_host_arch ());
  assert_string_equal (s, want);
}

static void
test_new_minimal (void **state)
{
  char *ids[] = { NULL };
  cleanup_json husk_json_t *cfg = husk_image_config_new (ids, 0, NULL, NULL);
  husk_json_t *h = husk_json_array_at (husk_json_get (cfg, "history"), 0);

  assert_int_equal (husk_json_array_len (husk_json_get_path (cfg, "rootfs", "diff_ids", NULL)), 0);
  assert_null (husk_json_get (h, "created_by"));
  assert_null (husk_json_get (h, "comment"));
  assert_true (husk_has_prefix (husk_json_get_string (h, "created"), "1970-01-01T00:00:00"));
}

static void
test_cmd_entrypoint (void **state)
{
  EXPECT ("{\"Cmd\":[\"sh\",\"-c\",\"echo hi\"]}", "CMD [\"sh\", \"-c\", \"echo hi\"]");
  EXPECT ("{\"Cmd\":[\"/bin/sh\",\"-c\",\"echo hi there\"]}", "CMD echo hi there");
  EXPECT ("{\"Cmd\":[]}", "CMD []");
  /* Not valid JSON: shell form, as Docker does.  */
  EXPECT ("{\"Cmd\":[\"/bin/sh\",\"-c\",\"[oops\"]}", "CMD [oops");
  EXPECT ("{\"Entrypoint\":[\"/bin/app\",\"--flag\"]}", "ENTRYPOINT [\"/bin/app\",\"--flag\"]");
  EXPECT ("{\"Entrypoint\":[\"/bin/sh\",\"-c\",\"exec app\"]}", "entrypoint exec app");
  EXPECT ("{\"Cmd\":[\"b\"]}", "CMD [\"a\"]", "CMD [\"b\"]");
}

static void
test_env (void **state)
{
  EXPECT ("{\"Env\":[\"A=b\"]}", "ENV A=b");
  EXPECT ("{\"Env\":[\"A=b\",\"C=d e\",\"F=\"]}", "ENV A=b C=\"d e\" F=");
  EXPECT ("{\"Env\":[\"A=hello  world\"]}", "ENV A hello  world");
  EXPECT ("{\"Env\":[\"A=x y\"]}", "ENV A \"x y\"");
  EXPECT ("{\"Env\":[\"A=it's\"]}", "ENV A=\"it's\"");
  EXPECT ("{\"Env\":[\"A='q'\"]}", "ENV A=\"'q'\"");
  EXPECT ("{\"Env\":[\"A=a b\"]}", "ENV A=a\\ b");
  EXPECT ("{\"Env\":[\"PATH=/x\",\"B=2\"]}", "ENV PATH=/usr/bin B=2", "ENV PATH=/x");
}

static void
test_expose (void **state)
{
  EXPECT ("{\"ExposedPorts\":{\"80/tcp\":{}}}", "EXPOSE 80");
  EXPECT ("{\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{},\"443/tcp\":{}}}", "EXPOSE 80 53/udp 443/TCP");
  EXPECT ("{\"ExposedPorts\":{\"8000/tcp\":{},\"8001/tcp\":{},\"8002/tcp\":{}}}", "EXPOSE 8000-8002");
  EXPECT ("{\"ExposedPorts\":{\"80/tcp\":{},\"81/tcp\":{}}}", "EXPOSE 80", "EXPOSE 81 80");
}

static void
test_label (void **state)
{
  EXPECT ("{\"Labels\":{\"a\":\"b\"}}", "LABEL a=b");
  EXPECT ("{\"Labels\":{\"a\":\"b c\",\"org.x.y\":\"1\",\"e\":\"\"}}", "LABEL a=\"b c\" org.x.y=1 e=''");
  EXPECT ("{\"Labels\":{\"a\":\"two words\"}}", "LABEL a two words");
  EXPECT ("{\"Labels\":{\"a\":\"2\"}}", "LABEL a=1", "LABEL a=2");
}

static void
test_misc (void **state)
{
  EXPECT ("{\"User\":\"1000:1000\"}", "USER 1000:1000");
  EXPECT ("{\"WorkingDir\":\"/srv/app\"}", "WORKDIR /srv/app");
  EXPECT ("{\"WorkingDir\":\"/srv/app\"}", "WORKDIR /srv", "WORKDIR app");
  EXPECT ("{\"WorkingDir\":\"/rel\"}", "WORKDIR rel");
  EXPECT ("{\"Volumes\":{\"/v\":{}}}", "VOLUME /v");
  EXPECT ("{\"Volumes\":{\"/a\":{},\"/b\":{}}}", "VOLUME [\"/a\", \"/b\"]");
  EXPECT ("{\"Volumes\":{\"/a\":{},\"/b c\":{}}}", "VOLUME /a \"/b c\"");
  EXPECT ("{\"StopSignal\":\"SIGKILL\"}", "STOPSIGNAL SIGKILL");
  EXPECT ("{\"OnBuild\":[\"RUN echo hi\",\"ADD . /x\"]}", "ONBUILD RUN echo hi", "ONBUILD ADD . /x");
  EXPECT ("{\"User\":\"nobody\"}", "  user   nobody  ");
}

static void
test_config_null (void **state)
{
  husk_error_t err = NULL;
  cleanup_json husk_json_t *cfg = husk_json_parse ("{\"config\":null}", 15, &err);
  cleanup_free char *s = NULL;

  assert_non_null (cfg);
  assert_int_equal (husk_image_config_apply_change (cfg, "USER x", &err), 0);
  s = husk_json_serialize (cfg, false, NULL);
  assert_string_equal (s, "{\"config\":{\"User\":\"x\"}}");
}

static void
test_errors (void **state)
{
  expect_error ("FOO x", "invalid change \"FOO x\": unknown instruction FOO");
  expect_error ("RUN echo", "invalid change \"RUN echo\": unknown instruction RUN");
  expect_error ("", "invalid change \"\": empty instruction");
  expect_error ("USER", "invalid change \"USER\": USER requires exactly one argument");
  expect_error ("ENV", "invalid change \"ENV\": ENV requires at least one argument");
  expect_error ("ENV A", "invalid change \"ENV A\": missing value: use key=value");
  expect_error ("ENV A=b =c", "invalid change \"ENV A=b =c\": \"=c\" is not of the form key=value");
  expect_error ("ENV A=b C", "invalid change \"ENV A=b C\": \"C\" is not of the form key=value");
  expect_error ("LABEL a=\"b", "invalid change \"LABEL a=\"b\": unterminated quote");
  expect_error ("EXPOSE", "invalid change \"EXPOSE\": EXPOSE requires at least one argument");
  expect_error ("EXPOSE http", "invalid change \"EXPOSE http\": invalid port \"http\"");
  expect_error ("EXPOSE 70000", "invalid change \"EXPOSE 70000\": invalid port \"70000\"");
  expect_error ("EXPOSE 80/foo", "invalid change \"EXPOSE 80/foo\": invalid protocol \"foo\" in \"80/foo\"");
  expect_error ("EXPOSE 90-80", "invalid change \"EXPOSE 90-80\": invalid port range \"90-80\"");
  expect_error ("CMD", "invalid change \"CMD\": missing command");
  expect_error ("VOLUME", "invalid change \"VOLUME\": VOLUME requires at least one argument");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_new),  cmocka_unit_test (test_new_minimal), cmocka_unit_test (test_cmd_entrypoint),
    cmocka_unit_test (test_env),  cmocka_unit_test (test_expose),      cmocka_unit_test (test_label),
    cmocka_unit_test (test_misc), cmocka_unit_test (test_config_null), cmocka_unit_test (test_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
