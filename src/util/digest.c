/* husk: sha256 digests ("sha256:<64 hex>"), computed by sha256.c.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "husk/digest.h"
#include "husk/util.h"
#include "src/util/sha256.h"

#define DIGEST_PREFIX     "sha256:"
#define DIGEST_PREFIX_LEN (sizeof (DIGEST_PREFIX) - 1)
#define DIGEST_HEX_LEN    64

struct husk_digester
{
  struct husk_sha256 ctx;
  /* Set by final: later finals return a copy, later updates are a bug.  */
  char *result;
};

/* Only a bug gets here, and a wrong digest would silently corrupt the
   store.  */
static void __attribute__ ((noreturn)) digest_fatal (const char *what)
{
  fprintf (stderr, "Error: sha256: %s failed\n", what);
  abort ();
}

husk_digester_t *
husk_digester_new (void)
{
  husk_digester_t *d = xzalloc (sizeof (*d));

  husk_sha256_init (&d->ctx);
  return d;
}

void
husk_digester_update (husk_digester_t *d, const void *data, size_t len)
{
  if (d->result != NULL)
    digest_fatal ("update after final");
  husk_sha256_update (&d->ctx, data, len);
}

char *
husk_digester_final (husk_digester_t *d)
{
  static const char hexdigits[] = "0123456789abcdef";
  unsigned char md[HUSK_SHA256_DIGEST_LEN];
  char *out;
  size_t i;

  if (d->result != NULL)
    return xstrdup (d->result);

  husk_sha256_final (&d->ctx, md);

  out = xmalloc (DIGEST_PREFIX_LEN + DIGEST_HEX_LEN + 1);
  memcpy (out, DIGEST_PREFIX, DIGEST_PREFIX_LEN);
  for (i = 0; i < sizeof (md); i++)
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
