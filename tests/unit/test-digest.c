/* Unit tests for src/util/digest.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "husk/digest.h"
#include "husk/util.h"

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void
test_buffer_vectors (void **state)
{
  cleanup_free char *empty = husk_digest_buffer ("", 0);
  cleanup_free char *abc = husk_digest_buffer ("abc", 3);
  cleanup_free char *null_empty = husk_digest_buffer (NULL, 0);

  (void)state;
  assert_string_equal (empty, EMPTY_SHA256);
  assert_string_equal (abc, ABC_SHA256);
  assert_string_equal (null_empty, EMPTY_SHA256);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_buffer_vectors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
