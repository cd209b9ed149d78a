/* husk: one HTTP exchange with libcurl, shared by client.c (auth,
   retries) and nothing else.  Private to src/registry.  */
#ifndef HUSK_REGISTRY_HTTP_H
#define HUSK_REGISTRY_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "husk/registry.h"
#include "husk/util.h"

/* TLS settings of one host: verification, extra CAs (PEM, from certs.d)
   and a client certificate pair.  */
struct http_tls
{
  bool verify;
  char *ca_pem; /* concatenated *.crt, or NULL */
  size_t ca_len;
  char *cert; /* client.cert path, or NULL */
  char *key;  /* client.key path, or NULL */
};
int http_tls_load (struct http_tls *tls, const char *cert_dir, bool verify, husk_error_t *err);
void http_tls_clear (struct http_tls *tls);

/* A share handle (connections, DNS, TLS sessions) usable from several
   threads.  */
CURLSH *http_share_new (void);
void http_share_free (CURLSH *sh);

struct http_exchange
{
  /* the request */
  const char *method; /* NULL: GET */
  const char *url;
  struct curl_slist *headers;
  const void *body;
  int body_fd; /* < 0: body is in memory (or absent) */
  uint64_t body_offset;
  uint64_t body_len;
  bool has_body;
  size_t max_body; /* cap on a buffered response body */

  /* streaming: a 200/206 answer goes to sink, up to limit bytes (0: no
     limit); range_start is the offset the caller's Range header asked
     for, skipped when the server answers 200 with the whole blob */
  husk_registry_sink_fn sink;
  void *sink_ctx;
  uint64_t range_start;
  uint64_t limit;

  /* the outcome */
  struct husk_registry_response *res;
  CURLcode code;
  char *curl_error;   /* curl's message for code, malloc'd */
  int os_errno;       /* errno behind a connection failure, or 0 */
  uint64_t delivered; /* bytes given to sink */
  bool sink_failed;   /* sink_err holds why */
  husk_error_t sink_err;
  bool too_big; /* the body went over max_body or limit */

  /* private */
  CURL *h;
  uint64_t sent;
  uint64_t skip;
  bool started;
  struct husk_buf body_buf;
};

/* Perform the exchange.  Returns 0 when a complete HTTP response arrived
   (any status, x->res filled); -1 otherwise with x->code (and maybe
   x->sink_failed / x->too_big) telling why.  x->res is cleared first.  */
int http_perform (CURLSH *share, const struct http_tls *tls, struct http_exchange *x);
void http_exchange_clear (struct http_exchange *x);

/* "scheme://host/path" resolved against a base URL (Location headers).  */
char *http_resolve_url (const char *base, const char *ref);

/* Is this curl failure worth retrying (resets, refused, timeouts), as
   opposed to a name that does not resolve or a certificate problem?  */
bool http_code_retryable (CURLcode code);

/* "Get \"URL\": why" in the style of Go's net/http errors.  */
int http_transport_error (const struct http_exchange *x, husk_error_t *err);

#endif
