/* husk: sha256 digests ("sha256:<64 hex>") computed with OpenSSL EVP.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "husk/digest.h"
#include "husk/util.h"

#define DIGEST_PREFIX     "sha256:"
#define DIGEST_PREFIX_LEN (sizeof (DIGEST_PREFIX) - 1)
#define DIGEST_HEX_LEN    64

struct husk_digester
{
  EVP_MD_CTX *ctx;
  /* Set by final: later finals return a copy, later updates are a bug.  */
  char *result;
};

/* A failing EVP call on sha256 means a broken libcrypto or no memory; neither
   can be recovered from, and a wrong digest would silently corrupt the store.  */
static void __attribute__ ((noreturn)) digest_fatal (const char *what)
{
  fprintf (stderr, "Error: sha256: %s failed\n", what);
  abort ();
}

husk_digester_t *
husk_digester_new (void)
{
  husk_digester_t *d = xzalloc (sizeof (*d));

  /* sha256 needs nothing from openssl.cnf, and reading it is a file open and
     parse on every command that hashes.  The registry's TLS loads it when
     libcurl is opened (src/util/lazy-curl.c).  */
  OPENSSL_init_crypto (OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
  d->ctx = EVP_MD_CTX_new ();
  if (d->ctx == NULL)
    husk_oom ();
  if (EVP_DigestInit_ex (d->ctx, EVP_sha256 (), NULL) != 1)
    digest_fatal ("EVP_DigestInit_ex");
  return d;
}

void
husk_digester_update (husk_digester_t *d, const void *data, size_t len)
{
  if (d->result != NULL)
    digest_fatal ("update after final");
  if (len == 0)
    return;
  if (EVP_DigestUpdate (d->ctx, data, len) != 1)
    digest_fatal ("EVP_DigestUpdate");
}

char *
husk_digester_final (husk_digester_t *d)
{
  static const char hexdigits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char *out;
  unsigned int i;

  if (d->result != NULL)
    return xstrdup (d->result);

  if (EVP_DigestFinal_ex (d->ctx, md, &mdlen) != 1 || mdlen * 2 != DIGEST_HEX_LEN)
    digest_fatal ("EVP_DigestFinal_ex");

  out = xmalloc (DIGEST_PREFIX_LEN + DIGEST_HEX_LEN + 1);
  memcpy (out, DIGEST_PREFIX, DIGEST_PREFIX_LEN);
  for (i = 0; i < mdlen; i++)
    {
      out[DIGEST_PREFIX_LEN + 2 * i] = hexdigits[md[i] >> 4];
      out[DIGEST_PREFIX_LEN + 2 * i + 1] = hexdigits[md[i] & 0xf];
    }
  out[DIGEST_PREFIX_LEN + DIGEST_HEX_LEN] = '\0';

  d->result = xstrdup (out);
  return out;
}

void
husk_digester_free (husk_digester_t *d)
{
  if (d == NULL)
    return;
  EVP_MD_CTX_free (d->ctx);
  free (d->result);
  free (d);
}

void
cleanup_digesterp (husk_digester_t **d)
{
  husk_digester_free (*d);
  *d = NULL;
}

char *
husk_digest_buffer (const void *data, size_t len)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();

  husk_digester_update (d, data, len);
  return husk_digester_final (d);
}

bool
husk_digest_valid (const char *digest)
{
  size_t i;

  if (digest == NULL || strncmp (digest, DIGEST_PREFIX, DIGEST_PREFIX_LEN) != 0)
    return false;
  digest += DIGEST_PREFIX_LEN;
  for (i = 0; i < DIGEST_HEX_LEN; i++)
    {
      char c = digest[i];
      /* Uppercase is refused: the OCI spec and registries use lowercase only,
         and two spellings of one digest would make two store keys.  */
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
        return false;
    }
  return digest[DIGEST_HEX_LEN] == '\0';
}

/* Returns NULL when the digest is not valid.  */
const char *
husk_digest_hex (const char *digest)
{
  if (!husk_digest_valid (digest))
    return NULL;
  return digest + DIGEST_PREFIX_LEN;
}
