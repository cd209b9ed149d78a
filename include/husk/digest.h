/* husk: sha256 digests ("sha256:<64 hex>"), computed by src/util/sha256.c
   (SHA-NI where the CPU has it), so no command loads libcrypto.  */
#ifndef HUSK_DIGEST_H
#define HUSK_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct husk_digester husk_digester_t;

husk_digester_t *husk_digester_new (void);
void husk_digester_update (husk_digester_t *d, const void *data, size_t len);
/* "sha256:<hex>", malloc'd; the digester can no longer be updated.  */
char *husk_digester_final (husk_digester_t *d);
void husk_digester_free (husk_digester_t *d);
void cleanup_digesterp (husk_digester_t **d);
#define cleanup_digester __attribute__ ((cleanup (cleanup_digesterp)))

char *husk_digest_buffer (const void *data, size_t len);
/* True for "sha256:" followed by exactly 64 lowercase hex digits.  */
bool husk_digest_valid (const char *digest);
/* The hex part of a valid digest (pointer into the argument).  */
const char *husk_digest_hex (const char *digest);

#endif
