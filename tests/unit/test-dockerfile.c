/* Unit tests for src/build/dockerfile.c and src/build/expand.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/build.h"
#include "husk/util.h"

static struct husk_dockerfile *
parse_ok (const char *text)
{
  husk_error_t err = NULL;
  struct husk_dockerfile *df = NULL;

  if (husk_dockerfile_parse ("Dockerfile", text, strlen (text), &df, &err) < 0)
    fail_msg ("parse of '%s' failed: %s", text, err ? err->msg : "?");
  assert_non_null (df);
  return df;
}

static void
assert_parse_error (const char *text, const char *msg)
{
  husk_error_t err = NULL;
  struct husk_dockerfile *df = NULL;

  if (husk_dockerfile_parse ("Dockerfile", text, strlen (text), &df, &err) == 0)
    {
      husk_dockerfile_free (df);
      fail_msg ("parse of '%s' unexpectedly succeeded", text);
    }
  assert_non_null (err);
  assert_string_equal (err->msg, msg);
  husk_error_release (&err);
}

/* v equals the NULL-terminated list of expected strings.  */
static void
assert_strv (char **v, ...)
{
  va_list ap;
  const char *want;
  size_t i = 0;

  assert_non_null (v);
  va_start (ap, v);
  while ((want = va_arg (ap, const char *)) != NULL)
    {
      if (v[i] == NULL)
        fail_msg ("missing element %zu '%s'", i, want);
      assert_string_equal (v[i], want);
      i++;
    }
  va_end (ap);
  if (v[i] != NULL)
    fail_msg ("unexpected element %zu '%s'", i, v[i]);
}

/* The instruction at index i of a one-off parse.  */
#define INSTR(df, i) (&(df)->instrs[(i)])

static void
test_basic (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("FROM busybox\nrun echo hi\n  Cmd  [\"sh\"]  \n");
  assert_int_equal (df->n_instrs, 3);
  assert_string_equal (df->name, "Dockerfile");
  assert_int_equal (df->escape, '\\');
  assert_null (df->syntax);
  assert_string_equal (INSTR (df, 0)->keyword, "FROM");
  assert_int_equal (INSTR (df, 0)->line, 1);
  assert_strv (INSTR (df, 0)->args, "busybox", NULL);
  assert_strv (INSTR (df, 0)->flags, NULL);
  assert_false (INSTR (df, 0)->json);
  assert_string_equal (INSTR (df, 1)->keyword, "RUN");
  assert_string_equal (INSTR (df, 1)->text, "echo hi");
  assert_strv (INSTR (df, 1)->args, "echo hi", NULL);
  assert_int_equal (INSTR (df, 1)->n_heredocs, 0);
  assert_string_equal (INSTR (df, 2)->keyword, "CMD");
  assert_string_equal (INSTR (df, 2)->text, "[\"sh\"]");
  assert_true (INSTR (df, 2)->json);
  assert_strv (INSTR (df, 2)->args, "sh", NULL);
  assert_int_equal (INSTR (df, 2)->line, 3);
}

static void
test_directives (void **state)
{
  struct husk_dockerfile *df;

  (void)state;
  /* escape=` : the backtick continues lines, a backslash is plain.  */
  df = parse_ok ("# syntax=docker/dockerfile:1\n"
                 "# ESCAPE = ` \n"
                 "FROM x\n"
                 "RUN dir c:\\ `\n"
                 "  && echo `\n"
                 "# a comment inside\n"
                 "done\n"
                 "WORKDIR c:\\windows\\\n");
  assert_int_equal (df->escape, '`');
  assert_string_equal (df->syntax, "docker/dockerfile:1");
  assert_int_equal (df->n_instrs, 3);
  assert_string_equal (INSTR (df, 1)->text, "dir c:\\   && echo done");
  assert_int_equal (INSTR (df, 1)->line, 4);
  assert_strv (INSTR (df, 2)->args, "c:\\windows\\", NULL);
  assert_int_equal (INSTR (df, 2)->line, 8);
  husk_dockerfile_free (df);

  /* #directive without blanks, key in any case.  */
  df = parse_ok ("#Escape=\\\nFROM x\n");
  assert_int_equal (df->escape, '\\');
  husk_dockerfile_free (df);

  /* After a comment, a blank line or an instruction, "# escape=" is a
     plain comment.  */
  df = parse_ok ("# hello\n# escape=`\nFROM x\nRUN a `\nRUN b\n");
  assert_int_equal (df->escape, '\\');
  assert_int_equal (df->n_instrs, 3);
  assert_string_equal (INSTR (df, 1)->text, "a `");
  husk_dockerfile_free (df);
  df = parse_ok ("\n# escape=`\nFROM x\n");
  assert_int_equal (df->escape, '\\');
  husk_dockerfile_free (df);
  df = parse_ok ("FROM x\n# escape=`\nRUN a \\\n b\n");
  assert_int_equal (df->escape, '\\');
  assert_string_equal (INSTR (df, 1)->text, "a  b");
  husk_dockerfile_free (df);
  /* An unknown directive ends the directives.  */
  df = parse_ok ("# foo=bar\n# escape=`\nFROM x\n");
  assert_int_equal (df->escape, '\\');
  husk_dockerfile_free (df);

  assert_parse_error ("# escape=x\nFROM x\n",
                      "Dockerfile:1: invalid escape token 'x' does not match ` or \\");
  assert_parse_error ("# escape=`\n# escape=`\nFROM x\n",
                      "Dockerfile:2: only one escape parser directive can be used");
  assert_parse_error ("# syntax=a\n# syntax=b\nFROM x\n",
                      "Dockerfile:2: only one syntax parser directive can be used");
}

static void
test_comments_and_continuations (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("# top comment\n"
                 "\n"
                 "   # indented comment\n"
                 "FROM x\n"
                 "RUN apt-get update \\\n"
                 "# dropped comment\n"
                 "    # indented dropped comment \\\n"
                 "\n"
                 "  && apt-get install -y a \\  \t\n"
                 "  b\n"
                 "\t\n"
                 "RUN echo a # not a comment\n"
                 "RUN \\\n"
                 "\n"
                 "  echo last \\");
  assert_int_equal (df->n_instrs, 4);
  assert_string_equal (INSTR (df, 1)->text, "apt-get update   && apt-get install -y a   b");
  assert_int_equal (INSTR (df, 1)->line, 5);
  assert_int_equal (INSTR (df, 2)->line, 12);
  assert_strv (INSTR (df, 2)->args, "echo a # not a comment", NULL);
  assert_string_equal (INSTR (df, 3)->text, "echo last");
  assert_int_equal (INSTR (df, 3)->line, 13);
}

/* The escape character alone continues a line, even after another one;
   the keyword ends at any blank; JSON keeps its own escapes whatever the
   escape character is.  */
static void
test_continuation_edges (void **state)
{
  struct husk_dockerfile *df;

  (void)state;
  df = parse_ok ("FROM x\nRUN\techo \\\\\n  next\n");
  assert_int_equal (df->n_instrs, 2);
  assert_string_equal (INSTR (df, 1)->keyword, "RUN");
  assert_string_equal (INSTR (df, 1)->text, "echo \\  next");
  husk_dockerfile_free (df);
  assert_parse_error ("FROM x\nRUN \\\n\n", "Dockerfile:2: RUN requires at least one argument");

  df = parse_ok ("# escape=`\nFROM x\nRUN [\"c:\\\\a\", `\n \"b\"]\n");
  assert_true (INSTR (df, 1)->json);
  assert_strv (INSTR (df, 1)->args, "c:\\a", "b", NULL);
  husk_dockerfile_free (df);
}

static void
test_label_word_errors (void **state)
{
  (void)state;
  /* "LABEL a=b # x": '#' is a word without '=' in the key=value form.  */
  assert_parse_error ("FROM x\nLABEL a=b c\n",
                      "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value");
}

static void
test_crlf_and_bom (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("\xef\xbb\xbf# escape=`\r\nFROM x\r\nRUN a `\r\n  b\r\nCMD [\"c\"]\r\n");
  assert_int_equal (df->escape, '`');
  assert_int_equal (df->n_instrs, 3);
  assert_string_equal (INSTR (df, 0)->keyword, "FROM");
  assert_strv (INSTR (df, 0)->args, "x", NULL);
  assert_string_equal (INSTR (df, 1)->text, "a   b");
  assert_true (INSTR (df, 2)->json);
  assert_strv (INSTR (df, 2)->args, "c", NULL);
}

static void
test_unknown_and_empty (void **state)
{
  (void)state;
  assert_parse_error ("FROM x\n\nFOO bar\n", "Dockerfile:3: unknown instruction: FOO");
  assert_parse_error ("FROM x\nRUN a \\\n b\nfoo\n", "Dockerfile:4: unknown instruction: foo");
  assert_parse_error ("FROM x\nRUN[\"a\"]\n", "Dockerfile:2: unknown instruction: RUN[\"a\"]");
  assert_parse_error ("", "Dockerfile: file with no instructions");
  assert_parse_error ("\n\n   \n", "Dockerfile: file with no instructions");
  assert_parse_error ("# syntax=x\n# only comments\n\n#\n", "Dockerfile: file with no instructions");
}

static void
test_nul_byte (void **state)
{
  husk_error_t err = NULL;
  struct husk_dockerfile *df = NULL;
  const char text[] = "FROM x\nRUN a\0b\n";

  (void)state;
  assert_true (husk_dockerfile_parse ("Dockerfile", text, sizeof (text) - 1, &df, &err) < 0);
  assert_string_equal (err->msg, "Dockerfile:2: unexpected NUL byte");
  husk_error_release (&err);
}

static void
test_missing_arguments (void **state)
{
  (void)state;
  assert_parse_error ("FROM\n", "Dockerfile:1: FROM requires at least one argument");
  assert_parse_error ("FROM   \t\n", "Dockerfile:1: FROM requires at least one argument");
  assert_parse_error ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments");
  assert_parse_error ("FROM a to b\n", "Dockerfile:1: FROM requires either one or three arguments");
  assert_parse_error ("FROM x\nRUN\n", "Dockerfile:2: RUN requires at least one argument");
  assert_parse_error ("FROM x\nRUN --mount=type=tmpfs,target=/t\n",
                      "Dockerfile:2: RUN requires at least one argument");
  assert_parse_error ("FROM x\nCMD\n", "Dockerfile:2: CMD requires at least one argument");
  assert_parse_error ("FROM x\nENV\n", "Dockerfile:2: ENV requires at least one argument");
  assert_parse_error ("FROM x\nLABEL\n", "Dockerfile:2: LABEL requires at least one argument");
  assert_parse_error ("FROM x\nARG\n", "Dockerfile:2: ARG requires at least one argument");
  assert_parse_error ("FROM x\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument");
  assert_parse_error ("FROM x\nVOLUME\n", "Dockerfile:2: VOLUME requires at least one argument");
  assert_parse_error ("FROM x\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument");
  assert_parse_error ("FROM x\nuser\n", "Dockerfile:2: USER requires exactly one argument");
  assert_parse_error ("FROM x\nSTOPSIGNAL\n", "Dockerfile:2: STOPSIGNAL requires exactly one argument");
  assert_parse_error ("FROM x\nMAINTAINER\n", "Dockerfile:2: MAINTAINER requires exactly one argument");
  assert_parse_error ("FROM x\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument");
  assert_parse_error ("FROM x\nHEALTHCHECK\n", "Dockerfile:2: HEALTHCHECK requires at least one argument");
  assert_parse_error ("FROM x\nSHELL\n", "Dockerfile:2: SHELL requires at least one argument");
  assert_parse_error ("FROM x\nCOPY a\n",
                      "Dockerfile:2: COPY requires at least two arguments, but only one was "
                      "provided. Destination could not be determined");
  assert_parse_error ("FROM x\nADD\n", "Dockerfile:2: ADD requires at least two arguments, but only one was "
                                       "provided. Destination could not be determined");
  assert_parse_error ("FROM x\nCOPY [\"a\"]\n",
                      "Dockerfile:2: COPY requires at least two arguments, but only "
                      "one was provided. Destination could not be determined");
}

static void
test_json_forms (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("FROM x\n"
                 "RUN [ \"echo\" , \"a b\",\"\\u00e9\\n\\t\\\"\\\\\\/\" ]  \n"
                 "ENTRYPOINT []\n"
                 "RUN [\"echo\", \"x\"] && true\n"
                 "RUN [ \"a\" bad\n"
                 "CMD [\"a\",]\n"
                 "SHELL [\"/bin/bash\", \"-c\"]\n"
                 "VOLUME [\"/a\", \"/b c\"]\n"
                 "VOLUME /d /e\n"
                 "COPY [\"a b\", \"/c/\"]\n"
                 "ADD a b /c/\n"
                 "RUN [\"\\ud83d\\ude00\", \"\\ud800x\"]\n"
                 "CMD [\"a\\u0000\"]\n");
  assert_true (INSTR (df, 1)->json);
  assert_strv (INSTR (df, 1)->args, "echo", "a b", "\xc3\xa9\n\t\"\\/", NULL);
  assert_true (INSTR (df, 2)->json);
  assert_strv (INSTR (df, 2)->args, NULL);
  /* Not valid JSON: the shell form, as Docker falls back.  */
  assert_false (INSTR (df, 3)->json);
  assert_strv (INSTR (df, 3)->args, "[\"echo\", \"x\"] && true", NULL);
  assert_false (INSTR (df, 4)->json);
  assert_strv (INSTR (df, 4)->args, "[ \"a\" bad", NULL);
  assert_false (INSTR (df, 5)->json);
  assert_strv (INSTR (df, 5)->args, "[\"a\",]", NULL);
  assert_true (INSTR (df, 6)->json);
  assert_strv (INSTR (df, 6)->args, "/bin/bash", "-c", NULL);
  assert_true (INSTR (df, 7)->json);
  assert_strv (INSTR (df, 7)->args, "/a", "/b c", NULL);
  assert_false (INSTR (df, 8)->json);
  assert_strv (INSTR (df, 8)->args, "/d", "/e", NULL);
  assert_true (INSTR (df, 9)->json);
  assert_strv (INSTR (df, 9)->args, "a b", "/c/", NULL);
  assert_false (INSTR (df, 10)->json);
  assert_strv (INSTR (df, 10)->args, "a", "b", "/c/", NULL);
  assert_true (INSTR (df, 11)->json);
  assert_strv (INSTR (df, 11)->args, "\xf0\x9f\x98\x80", "\xef\xbf\xbdx", NULL);
  assert_false (INSTR (df, 12)->json);

  assert_parse_error ("FROM x\nRUN [\"a\", 1]\n",
                      "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only");
  assert_parse_error ("FROM x\nCMD [[\"a\"]]\n",
                      "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only");
  assert_parse_error ("FROM x\nSHELL /bin/sh -c\n",
                      "Dockerfile:2: SHELL requires the arguments to be in JSON form");
  assert_parse_error ("FROM x\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument");
  assert_parse_error ("FROM x\nVOLUME [\"/a\", \" \"]\n",
                      "Dockerfile:2: VOLUME specified can not be an empty string");
}

static void
test_flags (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("FROM --platform=linux/amd64 busybox AS build\n"
                 "RUN --mount=type=cache,target=/c --network=none echo hi --not-a-flag\n"
                 "COPY --from=build --chown=\"a b\" --link /src /dst\n"
                 "ADD --chmod=644 [\"a\", \"/b\"]\n"
                 "RUN --x -- --y\n"
                 "CMD --help\n"
                 "ENV --a=b\n"
                 "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n");
  assert_strv (INSTR (df, 0)->flags, "--platform=linux/amd64", NULL);
  assert_strv (INSTR (df, 0)->args, "busybox", "AS", "build", NULL);
  assert_string_equal (INSTR (df, 0)->text, "--platform=linux/amd64 busybox AS build");
  assert_strv (INSTR (df, 1)->flags, "--mount=type=cache,target=/c", "--network=none", NULL);
  assert_strv (INSTR (df, 1)->args, "echo hi --not-a-flag", NULL);
  assert_string_equal (INSTR (df, 1)->text,
                       "--mount=type=cache,target=/c --network=none echo hi --not-a-flag");
  assert_strv (INSTR (df, 2)->flags, "--from=build", "--chown=a b", "--link", NULL);
  assert_strv (INSTR (df, 2)->args, "/src", "/dst", NULL);
  assert_strv (INSTR (df, 3)->flags, "--chmod=644", NULL);
  assert_true (INSTR (df, 3)->json);
  assert_strv (INSTR (df, 3)->args, "a", "/b", NULL);
  assert_strv (INSTR (df, 4)->flags, "--x", NULL);
  assert_strv (INSTR (df, 4)->args, "--y", NULL);
  /* Only RUN COPY ADD FROM HEALTHCHECK take flags.  */
  assert_strv (INSTR (df, 5)->flags, NULL);
  assert_strv (INSTR (df, 5)->args, "--help", NULL);
  assert_strv (INSTR (df, 6)->flags, NULL);
  assert_strv (INSTR (df, 6)->args, "--a", "b", NULL);
  assert_strv (INSTR (df, 7)->flags, "--interval=5s", "--retries=3", NULL);
  assert_strv (INSTR (df, 7)->args, "CMD", "curl -f http://localhost/", NULL);
  assert_false (INSTR (df, 7)->json);
}

static void
test_env_label (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("FROM x\n"
                 "ENV a=\"x y\" b=z\n"
                 "ENV k v  w \"q\"\n"
                 "ENV a=b\\ c d=e f= 'g h'=i\n"
                 "LABEL \"com.example\"=\"v 1\" version=1.0 \\\n"
                 "      desc='it'\"'\"'s'\n"
                 "ENV p=\"a\\\"b\" q=$HOME\n"
                 "label k \"v w\"\n");
  assert_strv (INSTR (df, 1)->args, "a", "\"x y\"", "b", "z", NULL);
  assert_strv (INSTR (df, 2)->args, "k", "v  w \"q\"", NULL);
  assert_strv (INSTR (df, 3)->args, "a", "b\\ c", "d", "e", "f", "", "'g h'", "i", NULL);
  assert_string_equal (INSTR (df, 4)->keyword, "LABEL");
  assert_strv (INSTR (df, 4)->args, "\"com.example\"", "\"v 1\"", "version", "1.0", "desc", "'it'\"'\"'s'",
               NULL);
  assert_strv (INSTR (df, 5)->args, "p", "\"a\\\"b\"", "q", "$HOME", NULL);
  assert_string_equal (INSTR (df, 6)->keyword, "LABEL");
  assert_strv (INSTR (df, 6)->args, "k", "\"v w\"", NULL);

  assert_parse_error ("FROM x\nENV k\n", "Dockerfile:2: ENV must have two arguments");
  assert_parse_error ("FROM x\nLABEL k\n", "Dockerfile:2: LABEL must have two arguments");
  assert_parse_error ("FROM x\nENV a=b c\n",
                      "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value");
  assert_parse_error ("FROM x\nENV =x\n", "Dockerfile:2: ENV names can not be blank");
}

static void
test_arg_and_strings (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("ARG a b=2 c=\"x y\" d=\n"
                 "FROM x\n"
                 "WORKDIR /a b/$c  \n"
                 "USER  1000:1000\n"
                 "MAINTAINER Jane Doe <j@example.com>\n"
                 "STOPSIGNAL SIGTERM\n"
                 "EXPOSE 80/tcp\t443\n");
  assert_string_equal (INSTR (df, 0)->keyword, "ARG");
  assert_strv (INSTR (df, 0)->args, "a", "b=2", "c=\"x y\"", "d=", NULL);
  assert_strv (INSTR (df, 2)->args, "/a b/$c", NULL);
  assert_strv (INSTR (df, 3)->args, "1000:1000", NULL);
  assert_strv (INSTR (df, 4)->args, "Jane Doe <j@example.com>", NULL);
  assert_strv (INSTR (df, 5)->args, "SIGTERM", NULL);
  assert_strv (INSTR (df, 6)->args, "80/tcp", "443", NULL);

  assert_parse_error ("ARG =x\n", "Dockerfile:1: ARG names can not be blank");
  assert_parse_error ("ARG a b =x c d\n", "Dockerfile:1: ARG names can not be blank");
}

static void
test_healthcheck (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("FROM x\n"
                 "HEALTHCHECK none\n"
                 "HEALTHCHECK cmd [\"/bin/check\", \"-v\"]\n"
                 "HEALTHCHECK --timeout=3s CMD exit 0\n");
  assert_strv (INSTR (df, 1)->args, "NONE", NULL);
  assert_true (INSTR (df, 2)->json);
  assert_strv (INSTR (df, 2)->args, "CMD", "/bin/check", "-v", NULL);
  assert_false (INSTR (df, 3)->json);
  assert_strv (INSTR (df, 3)->flags, "--timeout=3s", NULL);
  assert_strv (INSTR (df, 3)->args, "CMD", "exit 0", NULL);

  assert_parse_error ("FROM x\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments");
  assert_parse_error ("FROM x\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD");
  assert_parse_error ("FROM x\nHEALTHCHECK CMD []\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD");
  assert_parse_error ("FROM x\nHEALTHCHECK RUN x\n",
                      "Dockerfile:2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
}

static void
test_onbuild (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;

  (void)state;
  df = parse_ok ("FROM x\n"
                 "ONBUILD RUN echo hi \\\n"
                 "  there\n"
                 "onbuild copy --chown=1 a /b\n"
                 "ONBUILD RUN <<EOF\n"
                 "echo body\n"
                 "EOF\n"
                 "CMD x\n");
  assert_int_equal (df->n_instrs, 5);
  assert_string_equal (INSTR (df, 1)->keyword, "ONBUILD");
  assert_strv (INSTR (df, 1)->args, "RUN echo hi   there", NULL);
  assert_strv (INSTR (df, 1)->flags, NULL);
  assert_strv (INSTR (df, 2)->args, "copy --chown=1 a /b", NULL);
  assert_strv (INSTR (df, 3)->args, "RUN <<EOF", NULL);
  assert_int_equal (INSTR (df, 3)->n_heredocs, 1);
  assert_string_equal (INSTR (df, 3)->heredocs[0].body, "echo body\n");
  assert_string_equal (INSTR (df, 4)->keyword, "CMD");
  assert_int_equal (INSTR (df, 4)->line, 8);

  assert_parse_error ("FROM x\nONBUILD ONBUILD RUN x\n",
                      "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  assert_parse_error ("FROM x\nONBUILD from y\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger");
  assert_parse_error ("FROM x\nONBUILD MAINTAINER me\n",
                      "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger");
  assert_parse_error ("FROM x\nONBUILD FOO y\n", "Dockerfile:2: unknown instruction: FOO");
  assert_parse_error ("FROM x\nONBUILD RUN\n", "Dockerfile:2: RUN requires at least one argument");
  assert_parse_error ("FROM x\nONBUILD COPY a\n",
                      "Dockerfile:2: COPY requires at least two arguments, but only "
                      "one was provided. Destination could not be determined");
}

static void
test_heredocs (void **state)
{
  cleanup_dockerfile struct husk_dockerfile *df = NULL;
  struct husk_dockerfile_instr *in;

  (void)state;
  df = parse_ok ("FROM x\n"
                 "RUN <<EOF\n"
                 "echo $HOME \\\n"
                 "# not a comment\n"
                 "\n"
                 "EOF\n"
                 "RUN cat <<\"END\" > /a && cat <<'E2' >/b\n"
                 "a $x\n"
                 "END\n"
                 "b\n"
                 "E2\n"
                 "RUN <<-EOT\n"
                 "\t\tindented\n"
                 "\tEOT \n"
                 "\t\tEOT\n"
                 "COPY <<A <<B /dest/\n"
                 "B\n"
                 "A\n"
                 "A\n"
                 "B\n"
                 "RUN [\"<<NO\"]\n"
                 "RUN echo \"<<NO\" '<<NO' \\<<NO cat<<NO\n"
                 "RUN python3 << PY\n"
                 "print(1)\r\n"
                 "PY\r\n"
                 "ADD 3<<E\"O\"F /f\n"
                 "EOF\n"
                 "RUN <<EOF\n"
                 "EOF\n"
                 "CMD done\n");
  in = INSTR (df, 1);
  assert_strv (in->args, "<<EOF", NULL);
  assert_int_equal (in->n_heredocs, 1);
  assert_string_equal (in->heredocs[0].name, "EOF");
  assert_string_equal (in->heredocs[0].body, "echo $HOME \\\n# not a comment\n\n");
  assert_true (in->heredocs[0].expand);
  assert_false (in->heredocs[0].strip_tabs);

  in = INSTR (df, 2);
  assert_int_equal (in->line, 7);
  assert_strv (in->args, "cat <<\"END\" > /a && cat <<'E2' >/b", NULL);
  assert_int_equal (in->n_heredocs, 2);
  assert_string_equal (in->heredocs[0].name, "END");
  assert_false (in->heredocs[0].expand);
  assert_string_equal (in->heredocs[0].body, "a $x\n");
  assert_string_equal (in->heredocs[1].name, "E2");
  assert_false (in->heredocs[1].expand);
  assert_string_equal (in->heredocs[1].body, "b\n");

  in = INSTR (df, 3);
  assert_int_equal (in->line, 12);
  assert_int_equal (in->n_heredocs, 1);
  assert_true (in->heredocs[0].strip_tabs);
  assert_string_equal (in->heredocs[0].name, "EOT");
  assert_string_equal (in->heredocs[0].body, "indented\nEOT \n");

  in = INSTR (df, 4);
  assert_string_equal (in->keyword, "COPY");
  assert_strv (in->args, "<<A", "<<B", "/dest/", NULL);
  assert_int_equal (in->n_heredocs, 2);
  assert_string_equal (in->heredocs[0].name, "A");
  assert_string_equal (in->heredocs[0].body, "B\n");
  assert_string_equal (in->heredocs[1].name, "B");
  assert_string_equal (in->heredocs[1].body, "A\n");

  assert_int_equal (INSTR (df, 5)->n_heredocs, 0);
  assert_int_equal (INSTR (df, 6)->n_heredocs, 0);

  in = INSTR (df, 7);
  assert_int_equal (in->n_heredocs, 1);
  assert_string_equal (in->heredocs[0].name, "PY");
  assert_string_equal (in->heredocs[0].body, "print(1)\n");

  in = INSTR (df, 8);
  assert_string_equal (in->keyword, "ADD");
  assert_int_equal (in->n_heredocs, 1);
  assert_string_equal (in->heredocs[0].name, "EOF");
  assert_false (in->heredocs[0].expand);
  assert_string_equal (in->heredocs[0].body, "");

  in = INSTR (df, 9);
  assert_int_equal (in->n_heredocs, 1);
  assert_string_equal (in->heredocs[0].body, "");

  assert_string_equal (INSTR (df, 10)->keyword, "CMD");
  assert_int_equal (INSTR (df, 10)->line, 30);
  assert_int_equal (df->n_instrs, 11);

  assert_parse_error (
      "FROM x\nRUN a\nRUN <<EOF\nbody\nEOF \n",
      "Dockerfile:3: unterminated heredoc <<EOF (no line \"EOF\" before the end of the file)");
  assert_parse_error ("FROM x\nCOPY a <<EOF\nx\nEOF\n",
                      "Dockerfile:2: COPY cannot accept a heredoc as a destination");
  assert_parse_error ("FROM x\nCOPY <<A <<B /d\nA\nB_\n",
                      "Dockerfile:2: unterminated heredoc <<B (no line \"B\" before the end of the file)");
}

/* 10 MB of "RUN echo \" lines: one instruction, parsed in one pass.  */
static void
test_huge_continuation (void **state)
{
  static const char head[] = "FROM x\n";
  static const char line[] = "RUN echo \\\n";
  size_t n = 10 * 1024 * 1024 / (sizeof (line) - 1), i, len;
  cleanup_free char *buf = xmalloc (sizeof (head) + n * (sizeof (line) - 1) + 16);
  cleanup_dockerfile struct husk_dockerfile *df = NULL;
  husk_error_t err = NULL;
  char *p = buf;

  (void)state;
  memcpy (p, head, sizeof (head) - 1);
  p += sizeof (head) - 1;
  for (i = 0; i < n; i++)
    {
      memcpy (p, line, sizeof (line) - 1);
      p += sizeof (line) - 1;
    }
  memcpy (p, "true\n", 5);
  p += 5;
  len = (size_t)(p - buf);

  assert_int_equal (husk_dockerfile_parse ("big", buf, len, &df, &err), 0);
  assert_int_equal (df->n_instrs, 2);
  assert_string_equal (INSTR (df, 1)->keyword, "RUN");
  assert_int_equal (INSTR (df, 1)->line, 2);
  /* "echo " + (n - 1) * "RUN echo " + "true".  */
  assert_int_equal (strlen (INSTR (df, 1)->text), 5 + (n - 1) * 9 + 4);
  assert_true (husk_has_suffix (INSTR (df, 1)->text, "RUN echo true"));
  assert_string_equal (INSTR (df, 1)->args[0], INSTR (df, 1)->text);
}

/* Many short instructions and a long ENV stay linear too.  */
static void
test_many_words (void **state)
{
  struct husk_buf b = { 0 };
  cleanup_free char *text = NULL;
  cleanup_dockerfile struct husk_dockerfile *df = NULL;
  husk_error_t err = NULL;
  size_t i, len;

  (void)state;
  husk_buf_puts (&b, "FROM x\nENV");
  for (i = 0; i < 200000; i++)
    husk_buf_printf (&b, " k%zu=v \\\n", i);
  husk_buf_puts (&b, " end=1\n");
  for (i = 0; i < 100000; i++)
    husk_buf_puts (&b, "EXPOSE 1 2 3\n");
  text = husk_buf_steal (&b, &len);
  assert_int_equal (husk_dockerfile_parse ("many", text, len, &df, &err), 0);
  assert_int_equal (df->n_instrs, 2 + 100000);
  assert_int_equal (strv_len (INSTR (df, 1)->args), 400002);
  assert_string_equal (INSTR (df, 1)->args[399998], "k199999");
}

/* ---- expansion ---- */

static const char *
test_lookup (void *ctx, const char *name)
{
  static const char *const vars[] = { "a", "A", "ab", "AB", "empty", "", "sp", "x y", "home", "/root", NULL };
  size_t i;

  (void)ctx;
  for (i = 0; vars[i]; i += 2)
    if (strcmp (vars[i], name) == 0)
      return vars[i + 1];
  return NULL;
}

static void
assert_expand_esc (const char *word, char escape, const char *want)
{
  husk_error_t err = NULL;
  cleanup_free char *out = NULL;

  if (husk_build_expand (word, escape, test_lookup, NULL, &out, &err) < 0)
    fail_msg ("expansion of '%s' failed: %s", word, err ? err->msg : "?");
  assert_string_equal (out, want);
}

static void
assert_expand (const char *word, const char *want)
{
  assert_expand_esc (word, '\\', want);
}

static void
assert_expand_error (const char *word, const char *msg)
{
  husk_error_t err = NULL;
  char *out = NULL;

  if (husk_build_expand (word, '\\', test_lookup, NULL, &out, &err) == 0)
    {
      cleanup_free char *o = out;
      fail_msg ("expansion of '%s' unexpectedly gave '%s'", word, o);
    }
  assert_non_null (err);
  assert_string_equal (err->msg, msg);
  husk_error_release (&err);
}

static void
test_expand_variables (void **state)
{
  (void)state;
  assert_expand ("", "");
  assert_expand ("plain", "plain");
  assert_expand ("$a", "A");
  assert_expand ("${a}", "A");
  assert_expand ("$ab", "AB");
  assert_expand ("${a}b", "Ab");
  assert_expand ("$a$ab-$a.x", "AAB-A.x");
  assert_expand ("$unset", "");
  assert_expand ("x${unset}y", "xy");
  assert_expand ("$home/bin", "/root/bin");
  /* "$" before anything but a name or "{" stays.  */
  assert_expand ("$", "$");
  assert_expand ("a$", "a$");
  assert_expand ("$ a", "$ a");
  assert_expand ("$1", "$1");
  assert_expand ("$-x", "$-x");
  assert_expand ("$$", "$$");
  assert_expand ("$_", "");
  assert_expand ("$sp", "x y");
}

static void
test_expand_operators (void **state)
{
  (void)state;
  assert_expand ("${a:-d}", "A");
  assert_expand ("${empty:-d}", "d");
  assert_expand ("${unset:-d}", "d");
  assert_expand ("${a-d}", "A");
  assert_expand ("${empty-d}", "");
  assert_expand ("${unset-d}", "d");
  assert_expand ("${a:+w}", "w");
  assert_expand ("${empty:+w}", "");
  assert_expand ("${unset:+w}", "");
  assert_expand ("${a+w}", "w");
  assert_expand ("${empty+w}", "w");
  assert_expand ("${unset+w}", "");
  assert_expand ("${unset:-}", "");
  /* The word is expanded in turn, quotes and escapes included.  */
  assert_expand ("${unset:-${a}x}", "Ax");
  assert_expand ("${unset:-${also:-$ab}}", "AB");
  assert_expand ("${a:+[$a]}", "[A]");
  assert_expand ("${unset:-'q }'}", "q }");
  assert_expand ("${unset:-\"$a }\"}", "A }");
  assert_expand ("${unset:-a\\}b}", "a}b");
  assert_expand ("pre${unset:-mid}post", "premidpost");
  assert_expand ("${a:?must be set}", "A");
  assert_expand_error ("${unset:?must be set}", "unset: must be set");
  assert_expand_error ("${unset?}", "unset: is not allowed to be unset");
  assert_expand_error ("${empty:?}", "empty: is not allowed to be empty");
  assert_expand ("${empty?}", "");
}

static void
test_expand_quotes_and_escapes (void **state)
{
  (void)state;
  assert_expand ("'$a ${a}'", "$a ${a}");
  assert_expand ("'a\\b'", "a\\b");
  assert_expand ("\"$a ${a}\"", "A A");
  assert_expand ("\"x\\\"y\"", "x\"y");
  assert_expand ("\"a\\$b\"", "a$b");
  assert_expand ("\"a\\\\b\"", "a\\b");
  assert_expand ("\"a\\nb\"", "a\\nb");
  assert_expand ("\"it's\"", "it's");
  assert_expand ("'say \"hi\"'", "say \"hi\"");
  assert_expand ("a\"b c\"'d e'f", "ab cd ef");
  assert_expand ("\\$a", "$a");
  assert_expand ("a\\ b", "a b");
  assert_expand ("\\'x\\'", "'x'");
  assert_expand ("a\\\\b", "a\\b");
  assert_expand ("\\n", "n");
  /* A trailing escape is dropped, as BuildKit does.  */
  assert_expand ("abc\\", "abc");
  /* With the ` escape, a backslash is a plain character.  */
  assert_expand_esc ("c:\\dir\\$a", '`', "c:\\dir\\A");
  assert_expand_esc ("`$a `\"x`\"", '`', "$a \"x\"");
  assert_expand_esc ("\"``\"", '`', "`");
}

static void
test_expand_errors (void **state)
{
  struct husk_buf b = { 0 };
  char *deep, *out = NULL;
  husk_error_t err = NULL;
  size_t i;

  (void)state;
  assert_expand_error ("${}", "bad substitution ${}");
  assert_expand_error ("x${:a}y", "bad substitution ${:a}");
  assert_expand_error ("${{a}}", "bad substitution ${{a}");
  assert_expand_error ("${a:x}", "bad substitution ${a:x}");
  assert_expand_error ("${a:}", "bad substitution ${a:}");
  assert_expand_error ("${a#b}", "bad substitution ${a#b}");
  assert_expand_error ("${1}", "bad substitution ${1}");
  assert_expand_error ("${a", "missing '}' in ${a");
  assert_expand_error ("${", "missing '}' in ${");
  assert_expand_error ("${a:", "missing '}' in ${a:");
  assert_expand_error ("${a:-b", "missing '}' in ${a:-b");
  assert_expand_error ("x${a:-${b}", "missing '}' in ${a:-${b}");
  assert_expand_error ("'abc", "unexpected end of statement while looking for matching single-quote");
  assert_expand_error ("\"abc", "unexpected end of statement while looking for matching double-quote");
  assert_expand_error ("\"abc\\", "unexpected end of statement while looking for matching double-quote");

  /* Deep nesting fails cleanly instead of exhausting the stack.  */
  for (i = 0; i < 100000; i++)
    husk_buf_puts (&b, "${u:-");
  for (i = 0; i < 100000; i++)
    husk_buf_puts (&b, "}");
  deep = husk_buf_steal (&b, NULL);
  assert_true (husk_build_expand (deep, '\\', test_lookup, NULL, &out, &err) < 0);
  assert_non_null (strstr (err->msg, "nested"));
  husk_error_release (&err);
  free (deep);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_basic),
    cmocka_unit_test (test_directives),
    cmocka_unit_test (test_comments_and_continuations),
    cmocka_unit_test (test_continuation_edges),
    cmocka_unit_test (test_label_word_errors),
    cmocka_unit_test (test_crlf_and_bom),
    cmocka_unit_test (test_unknown_and_empty),
    cmocka_unit_test (test_nul_byte),
    cmocka_unit_test (test_missing_arguments),
    cmocka_unit_test (test_json_forms),
    cmocka_unit_test (test_flags),
    cmocka_unit_test (test_env_label),
    cmocka_unit_test (test_arg_and_strings),
    cmocka_unit_test (test_healthcheck),
    cmocka_unit_test (test_onbuild),
    cmocka_unit_test (test_heredocs),
    cmocka_unit_test (test_huge_continuation),
    cmocka_unit_test (test_many_words),
    cmocka_unit_test (test_expand_variables),
    cmocka_unit_test (test_expand_operators),
    cmocka_unit_test (test_expand_quotes_and_escapes),
    cmocka_unit_test (test_expand_errors),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
