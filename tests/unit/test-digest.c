/* Unit tests for src/util/digest.c.  */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "husk/digest.h"
#include "husk/util.h"

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* FIPS 180-2 test vectors.  */
#define LONG_MSG    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define LONG_SHA256 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MILLION_A   "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void
test_buffer_vectors (void **state)
{
  cleanup_free char *empty = husk_digest_buffer ("", 0);
  cleanup_free char *abc = husk_digest_buffer ("abc", 3);
  cleanup_free char *null_empty = husk_digest_buffer (NULL, 0);
  cleanup_free char *lng = husk_digest_buffer (LONG_MSG, strlen (LONG_MSG));

  (void)state;
  assert_string_equal (empty, EMPTY_SHA256);
  assert_string_equal (abc, ABC_SHA256);
  assert_string_equal (null_empty, EMPTY_SHA256);
  assert_string_equal (lng, LONG_SHA256);
  assert_true (husk_digest_valid (empty));
  assert_true (husk_digest_valid (lng));
}

static void
test_streaming_million_a (void **state)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();
  cleanup_free char *res = NULL;
  char chunk[997];
  size_t done = 0;

  (void)state;
  memset (chunk, 'a', sizeof (chunk));
  /* Odd chunk sizes so updates straddle SHA-256's 64-byte blocks.  */
  while (done < 1000000)
    {
      size_t n = 1000000 - done < sizeof (chunk) ? 1000000 - done : sizeof (chunk);
      husk_digester_update (d, chunk, n);
      done += n;
    }
  res = husk_digester_final (d);
  assert_string_equal (res, MILLION_A);
}

static void
test_streaming_equals_oneshot (void **state)
{
  unsigned char data[4096];
  size_t i, split;

  (void)state;
  for (i = 0; i < sizeof (data); i++)
    data[i] = (unsigned char)(i * 31 + 7);
  for (split = 0; split <= sizeof (data); split += 509)
    {
      cleanup_digester husk_digester_t *d = husk_digester_new ();
      cleanup_free char *one = husk_digest_buffer (data, sizeof (data));
      cleanup_free char *two = NULL;

      husk_digester_update (d, data, split);
      husk_digester_update (d, data + split, 0);
      husk_digester_update (d, data + split, sizeof (data) - split);
      two = husk_digester_final (d);
      assert_string_equal (one, two);
    }
}

static void
test_final_twice (void **state)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();
  cleanup_free char *a = NULL;
  cleanup_free char *b = NULL;

  (void)state;
  husk_digester_update (d, "abc", 3);
  a = husk_digester_final (d);
  b = husk_digester_final (d);
  assert_string_equal (a, ABC_SHA256);
  assert_string_equal (b, ABC_SHA256);
  assert_true (a != b);
}

static void
test_update_after_final_aborts (void **state)
{
  pid_t pid;
  int status = 0;

  (void)state;
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      husk_digester_t *d = husk_digester_new ();
      char *r = husk_digester_final (d);
      (void)r;
      /* Silence the expected message.  */
      if (freopen ("/dev/null", "w", stderr) == NULL)
        _exit (3);
      husk_digester_update (d, "x", 1);
      _exit (0);
    }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFSIGNALED (status));
  assert_int_equal (WTERMSIG (status), SIGABRT);
}

static void
test_free_null (void **state)
{
  husk_digester_t *d = NULL;

  (void)state;
  husk_digester_free (NULL);
  cleanup_digesterp (&d);
  /* A digester freed without final must not leak (checked under ASan).  */
  d = husk_digester_new ();
  husk_digester_update (d, "abc", 3);
  husk_digester_free (d);
}

static void
test_valid (void **state)
{
  (void)state;
  assert_true (husk_digest_valid (EMPTY_SHA256));
  assert_true (husk_digest_valid ("sha256:0000000000000000000000000000000000000000000000000000000000000000"));
  assert_true (husk_digest_valid ("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));

  assert_false (husk_digest_valid (NULL));
  assert_false (husk_digest_valid (""));
  assert_false (husk_digest_valid ("sha256:"));
  assert_false (husk_digest_valid ("sha256"));
  /* Uppercase hex.  */
  assert_false (
      husk_digest_valid ("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
  assert_false (
      husk_digest_valid ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85A"));
  /* 63 and 65 hex digits.  */
  assert_false (husk_digest_valid ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
  assert_false (
      husk_digest_valid ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550"));
  /* Other algorithms and prefixes.  */
  assert_false (
      husk_digest_valid ("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  assert_false (
      husk_digest_valid ("SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  assert_false (husk_digest_valid ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  assert_false (
      husk_digest_valid (" sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  /* Non-hex and trailing characters.  */
  assert_false (
      husk_digest_valid ("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  assert_false (
      husk_digest_valid ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"));
  assert_false (
      husk_digest_valid ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 "));
  assert_false (
      husk_digest_valid ("sha256::3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

static void
test_hex (void **state)
{
  const char *d = EMPTY_SHA256;

  (void)state;
  assert_true (husk_digest_hex (d) == d + 7);
  assert_string_equal (husk_digest_hex (d),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_null (husk_digest_hex (NULL));
  assert_null (husk_digest_hex ("sha256:abc"));
  assert_null (husk_digest_hex ("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_buffer_vectors),
    cmocka_unit_test (test_streaming_million_a),
    cmocka_unit_test (test_streaming_equals_oneshot),
    cmocka_unit_test (test_final_twice),
    cmocka_unit_test (test_update_after_final_aborts),
    cmocka_unit_test (test_free_null),
    cmocka_unit_test (test_valid),
    cmocka_unit_test (test_hex),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
