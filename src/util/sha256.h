/* husk: SHA-256 (FIPS 180-4), so that hashing needs no libcrypto.

   Linking libcrypto cost every husk command ~21 000 relocations at start-up,
   for one hash function.  digest.c is the public interface; this header is
   for digest.c and the unit tests.  */
#ifndef HUSK_UTIL_SHA256_H
#define HUSK_UTIL_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUSK_SHA256_BLOCK_LEN  64
#define HUSK_SHA256_DIGEST_LEN 32

struct husk_sha256
{
  uint32_t h[8];
  /* Bytes hashed so far, buffered ones included.  */
  uint64_t len;
  unsigned char buf[HUSK_SHA256_BLOCK_LEN];
  size_t buflen;
};

void husk_sha256_init (struct husk_sha256 *s);
void husk_sha256_update (struct husk_sha256 *s, const void *data, size_t len);
/* S must be initialised again before any other use.  */
void husk_sha256_final (struct husk_sha256 *s, unsigned char out[HUSK_SHA256_DIGEST_LEN]);

/* The block function in use.  AUTO picks the fastest the CPU has, unless the
   environment says HUSK_SHA256=portable (to compare or to work around a
   suspect CPU).  */
enum husk_sha256_impl
{
  HUSK_SHA256_AUTO,
  HUSK_SHA256_PORTABLE,
  HUSK_SHA256_SHANI,
};

/* For tests: false, and no change, when the CPU lacks IMPL.  Not safe while
   another thread hashes.  */
bool husk_sha256_set_impl (enum husk_sha256_impl impl);
/* "portable" or "sha-ni".  */
const char *husk_sha256_impl_name (void);

#endif
