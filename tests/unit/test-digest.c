/* Unit tests for src/util/digest.c.  */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "husk/digest.h"
#include "husk/util.h"
#include "src/util/sha256.h"

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* FIPS 180-2 test vectors.  */
#define LONG_MSG    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define LONG_SHA256 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MILLION_A   "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
/* The 896-bit message of FIPS 180-4's examples (SHA-384/512 use it; NIST
   publishes its SHA-256 too).  */
#define LONG896_MSG                                                                                          \
  "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst" \
  "nopqrstu"
#define LONG896_SHA256 "sha256:cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"

static void
test_buffer_vectors (void **state)
{
  cleanup_free char *empty = husk_digest_buffer ("", 0);
  cleanup_free char *abc = husk_digest_buffer ("abc", 3);
  cleanup_free char *null_empty = husk_digest_buffer (NULL, 0);
  cleanup_free char *lng = husk_digest_buffer (LONG_MSG, strlen (LONG_MSG));
  cleanup_free char *lng896 = husk_digest_buffer (LONG896_MSG, strlen (LONG896_MSG));

  (void)state;
  assert_int_equal (strlen (LONG896_MSG), 112);
  assert_string_equal (lng896, LONG896_SHA256);
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

/* Every length from 0 to 300 (all the padding cases: a 55-, 56- and 64-byte
   tail), fed in pieces of 1 to 70 bytes, equals the one-shot digest.  */
static void
test_streaming_odd_chunks (void **state)
{
  unsigned char data[300];
  size_t len, i;

  (void)state;
  for (i = 0; i < sizeof (data); i++)
    data[i] = (unsigned char)(i * 131 + 17);
  for (len = 0; len <= sizeof (data); len++)
    {
      cleanup_free char *one = husk_digest_buffer (data, len);
      size_t chunk;

      for (chunk = 1; chunk <= 70; chunk += (chunk < 8 ? 1 : 9))
        {
          cleanup_digester husk_digester_t *d = husk_digester_new ();
          cleanup_free char *two = NULL;
          size_t off;

          for (off = 0; off < len; off += chunk)
            husk_digester_update (d, data + off, len - off < chunk ? len - off : chunk);
          two = husk_digester_final (d);
          assert_string_equal (one, two);
        }
    }
}

static uint64_t
xorshift64 (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void
fill_random (unsigned char *p, size_t len, uint64_t *seed)
{
  size_t i;

  for (i = 0; i < len; i++)
    p[i] = (unsigned char)(xorshift64 (seed) >> 56);
}

/* The digest of PATH by OpenSSL's command line tool, or by coreutils when
   there is none; both print the hex digest first.  */
static char *
reference_digest (const char *path)
{
  cleanup_free char *cmd = xasprintf (
      "if command -v openssl >/dev/null; then openssl dgst -sha256 -r '%s'; else sha256sum '%s'; fi", path,
      path);
  char line[256];
  FILE *f = popen (cmd, "r");

  assert_non_null (f);
  assert_non_null (fgets (line, sizeof (line), f));
  assert_int_equal (pclose (f), 0);
  line[64] = '\0';
  return xasprintf ("sha256:%s", line);
}

/* Random data of random lengths, up to a few MiB, against OpenSSL.  */
static void
test_random_vs_openssl (void **state)
{
  char path[] = "/tmp/husk-test-digest-XXXXXX";
  uint64_t seed = (uint64_t)time (NULL) * 2654435761u + (uint64_t)getpid ();
  cleanup_close int fd = mkstemp (path);
  int round;

  (void)state;
  assert_true (fd >= 0);
  seed |= 1;
  print_message ("seed %llu\n", (unsigned long long)seed);
  for (round = 0; round < 12; round++)
    {
      size_t len = round < 4 ? (size_t)(xorshift64 (&seed) % 200)
                             : (size_t)(xorshift64 (&seed) % (round < 10 ? 70000 : 4 << 20));
      cleanup_free unsigned char *data = xmalloc (len + 1);
      cleanup_free char *ours = NULL;
      cleanup_free char *theirs = NULL;

      fill_random (data, len, &seed);
      assert_int_equal (ftruncate (fd, 0), 0);
      assert_int_equal (pwrite (fd, data, len, 0), (ssize_t)len);
      ours = husk_digest_buffer (data, len);
      theirs = reference_digest (path);
      assert_string_equal (ours, theirs);
    }
  unlink (path);
}

/* With SHA-NI available, it must agree with the portable code on random
   data; the whole suite also runs once per implementation (main).  */
static void
test_impls_agree (void **state)
{
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  int round;

  (void)state;
  if (!husk_sha256_set_impl (HUSK_SHA256_SHANI))
    skip ();
  for (round = 0; round < 50; round++)
    {
      size_t len = (size_t)(xorshift64 (&seed) % 5000);
      cleanup_free unsigned char *data = xmalloc (len + 1);
      cleanup_free char *fast = NULL;
      cleanup_free char *slow = NULL;

      fill_random (data, len, &seed);
      assert_true (husk_sha256_set_impl (HUSK_SHA256_SHANI));
      fast = husk_digest_buffer (data, len);
      assert_true (husk_sha256_set_impl (HUSK_SHA256_PORTABLE));
      slow = husk_digest_buffer (data, len);
      assert_string_equal (fast, slow);
    }
}

static void
test_env_forces_portable (void **state)
{
  (void)state;
  assert_int_equal (setenv ("HUSK_SHA256", "portable", 1), 0);
  assert_true (husk_sha256_set_impl (HUSK_SHA256_AUTO));
  assert_string_equal (husk_sha256_impl_name (), "portable");
  assert_int_equal (unsetenv ("HUSK_SHA256"), 0);
  assert_true (husk_sha256_set_impl (HUSK_SHA256_AUTO));
  if (husk_sha256_set_impl (HUSK_SHA256_SHANI))
    {
      /* AUTO prefers SHA-NI when the CPU has it.  */
      assert_true (husk_sha256_set_impl (HUSK_SHA256_AUTO));
      assert_string_equal (husk_sha256_impl_name (), "sha-ni");
    }
}

static int
use_portable (void **state)
{
  (void)state;
  return husk_sha256_set_impl (HUSK_SHA256_PORTABLE) ? 0 : -1;
}

static int
use_shani (void **state)
{
  (void)state;
  if (!husk_sha256_set_impl (HUSK_SHA256_SHANI))
    {
      print_message ("no SHA-NI on this CPU: its group is not run\n");
      return 0;
    }
  return 0;
}

static int
use_auto (void **state)
{
  (void)state;
  return husk_sha256_set_impl (HUSK_SHA256_AUTO) ? 0 : -1;
}

int
main (void)
{
  /* Run once with each block function.  */
  const struct CMUnitTest hash_tests[] = {
    cmocka_unit_test (test_buffer_vectors),           cmocka_unit_test (test_streaming_million_a),
    cmocka_unit_test (test_streaming_equals_oneshot), cmocka_unit_test (test_streaming_odd_chunks),
    cmocka_unit_test (test_random_vs_openssl),        cmocka_unit_test (test_final_twice),
  };
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_update_after_final_aborts),
    cmocka_unit_test (test_free_null),
    cmocka_unit_test (test_valid),
    cmocka_unit_test (test_hex),
    cmocka_unit_test (test_impls_agree),
    cmocka_unit_test (test_env_forces_portable),
  };
  int failed = 0;

  failed += cmocka_run_group_tests_name ("portable", hash_tests, use_portable, use_auto);
  failed += cmocka_run_group_tests_name ("sha-ni", hash_tests, use_shani, use_auto);
  failed += cmocka_run_group_tests (tests, use_auto, NULL);
  return failed;
}
