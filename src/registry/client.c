/* husk: the registry client: auth (anonymous, Bearer tokens per scope,
   Basic), retries with back-off, scheme fallback for insecure registries,
   and the distribution API calls built on them.  */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "husk/digest.h"
#include "husk/json.h"
#include "husk/registry.h"
#include "husk/util.h"

struct token
{
  char *scopes; /* the scopes it was asked for, space separated */
  char *value;
  int64_t expires_ns;
};

struct husk_registry_client
{
  char *host;       /* as the user and the auth files name it */
  char *api_host;   /* where to send requests: docker.io is registry-1.docker.io */
  char *repository; /* NULL for /v2/ only (login) */
  bool want_push;
  struct husk_registry_opts opts;
  bool insecure;
  struct http_tls tls;
  CURLSH *share;

  pthread_mutex_t lock; /* everything below */
  const char *scheme;   /* "https", or "http" after the insecure fallback */
  bool scheme_known;
  bool creds_loaded;
  char *user;
  char *password;
  struct husk_registry_challenge challenge; /* scheme NULL until a 401 */
  struct token *tokens;
  size_t n_tokens;
};

/* ---- small parsers ---- */

int
husk_registry_parse_duration (const char *s, unsigned *ms, husk_error_t *err)
{
  const char *p = s;
  double total = 0;
  bool first = true;

  if (s == NULL || *s == '\0')
    return husk_make_error (err, 0, "invalid duration \"\": empty");
  while (*p)
    {
      char *end;
      double v, unit;

      errno = 0;
      if (!(isdigit ((unsigned char)*p) || *p == '.'))
        return husk_make_error (err, 0, "invalid duration \"%s\"", s);
      v = strtod (p, &end);
      if (errno || end == p || v < 0)
        return husk_make_error (err, 0, "invalid duration \"%s\"", s);
      p = end;
      if (*p == '\0' && first)
        unit = 1000; /* a bare number is seconds */
      else if (husk_has_prefix (p, "ms"))
        unit = 1, p += 2;
      else if (husk_has_prefix (p, "us") || husk_has_prefix (p, "µs"))
        unit = 0.001, p += (p[0] == 'u' ? 2 : strlen ("µs"));
      else if (husk_has_prefix (p, "ns"))
        unit = 0.000001, p += 2;
      else if (*p == 's')
        unit = 1000, p++;
      else if (*p == 'm')
        unit = 60000, p++;
      else if (*p == 'h')
        unit = 3600000, p++;
      else
        return husk_make_error (err, 0, "invalid duration \"%s\": unknown unit", s);
      total += v * unit;
      first = false;
      if (total > 86400000.0 * 7)
        return husk_make_error (err, 0, "invalid duration \"%s\": too long", s);
    }
  *ms = (unsigned)(total + 0.5);
  return 0;
}

void
husk_registry_challenge_clear (struct husk_registry_challenge *ch)
{
  free (ch->scheme);
  free (ch->realm);
  free (ch->service);
  free (ch->scope);
  free (ch->error);
  memset (ch, 0, sizeof (*ch));
}

/* One auth-param: token = ( token / quoted-string ).  */
static const char *
parse_param (const char *p, char **name, char **value)
{
  const char *start;
  struct husk_buf v = { 0 };

  while (*p == ' ' || *p == '\t' || *p == ',')
    p++;
  start = p;
  while (*p && *p != '=' && *p != ' ' && *p != ',')
    p++;
  if (*p != '=' || p == start)
    return NULL;
  *name = xstrndup (start, p - start);
  p++;
  if (*p == '"')
    {
      p++;
      while (*p && *p != '"')
        {
          if (*p == '\\' && p[1])
            p++;
          husk_buf_append (&v, p, 1);
          p++;
        }
      if (*p != '"')
        {
          husk_buf_free (&v);
          free (*name);
          return NULL;
        }
      p++;
    }
  else
    {
      start = p;
      while (*p && *p != ',' && *p != ' ')
        p++;
      husk_buf_append (&v, start, p - start);
    }
  *value = husk_buf_steal (&v, NULL);
  return p;
}

int
husk_registry_parse_challenge (const char *header, struct husk_registry_challenge *out, husk_error_t *err)
{
  const char *p = header, *start;

  memset (out, 0, sizeof (*out));
  if (header == NULL)
    return husk_make_error (err, 0, "no WWW-Authenticate header");
  while (*p == ' ')
    p++;
  start = p;
  while (*p && *p != ' ')
    p++;
  if (p == start)
    return husk_make_error (err, 0, "invalid WWW-Authenticate header \"%s\"", header);
  out->scheme = xstrndup (start, p - start);
  if (strcasecmp (out->scheme, "bearer") == 0)
    {
      free (out->scheme);
      out->scheme = xstrdup ("Bearer");
    }
  else if (strcasecmp (out->scheme, "basic") == 0)
    {
      free (out->scheme);
      out->scheme = xstrdup ("Basic");
    }
  while (*p)
    {
      char *name = NULL, *value = NULL;
      char **slot = NULL;

      while (*p == ' ' || *p == ',')
        p++;
      if (*p == '\0')
        break;
      p = parse_param (p, &name, &value);
      if (p == NULL)
        {
          husk_registry_challenge_clear (out);
          return husk_make_error (err, 0, "invalid WWW-Authenticate header \"%s\"", header);
        }
      if (strcasecmp (name, "realm") == 0)
        slot = &out->realm;
      else if (strcasecmp (name, "service") == 0)
        slot = &out->service;
      else if (strcasecmp (name, "scope") == 0)
        slot = &out->scope;
      else if (strcasecmp (name, "error") == 0)
        slot = &out->error;
      if (slot)
        {
          free (*slot);
          *slot = value;
        }
      else
        free (value);
      free (name);
    }
  if (strcmp (out->scheme, "Bearer") == 0 && out->realm == NULL)
    {
      husk_registry_challenge_clear (out);
      return husk_make_error (err, 0, "invalid WWW-Authenticate header \"%s\": no realm", header);
    }
  return 0;
}

/* ---- responses ---- */

void
husk_registry_response_clear (struct husk_registry_response *r)
{
  free (r->body);
  free (r->content_type);
  free (r->docker_content_digest);
  free (r->location);
  free (r->range);
  free (r->www_authenticate);
  free (r->retry_after);
  free (r->link);
  memset (r, 0, sizeof (*r));
}

static const char *
status_text (long status)
{
  switch (status)
    {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Request Entity Too Large";
    case 416:
      return "Requested Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
    }
}

/* "MANIFEST_UNKNOWN" -> "manifest unknown", as the distribution errcode
   package prints codes.  */
static char *
code_text (const char *code)
{
  char *s = xstrdup (code);
  for (char *p = s; *p; p++)
    *p = *p == '_' ? ' ' : (char)tolower ((unsigned char)*p);
  return s;
}

int
husk_registry_response_error (const struct husk_registry_response *res, husk_error_t *err)
{
  cleanup_json husk_json_t *doc = NULL;
  husk_json_t *errors;
  struct husk_buf msg = { 0 };
  husk_error_t ignored = NULL;
  cleanup_free char *text = NULL;
  int ret;

  if (res->body_len > 0)
    doc = husk_json_parse (res->body, res->body_len, &ignored);
  husk_error_release (&ignored);
  errors = husk_json_get (doc, "errors");
  for (size_t i = 0; i < husk_json_array_len (errors); i++)
    {
      husk_json_t *e = husk_json_array_at (errors, i);
      const char *code = husk_json_get_string (e, "code");
      const char *message = husk_json_get_string (e, "message");
      cleanup_free char *ct = code ? code_text (code) : NULL;

      if (msg.len)
        husk_buf_puts (&msg, "; ");
      /* Podman prints both even when equal: "manifest unknown: manifest unknown".  */
      if (ct && message && *message)
        husk_buf_printf (&msg, "%s: %s", ct, message);
      else if (message && *message)
        husk_buf_puts (&msg, message);
      else if (ct)
        husk_buf_puts (&msg, ct);
    }
  if (msg.len == 0)
    {
      if (res->status == 401)
        husk_buf_puts (&msg, "authentication required");
      else
        husk_buf_printf (&msg, "received unexpected HTTP status: %ld %s", res->status,
                         status_text (res->status));
    }
  text = husk_buf_steal (&msg, NULL);
  ret = husk_make_error (err, 0, "%s", text);
  return ret;
}

/* ---- the client ---- */

int
husk_registry_client_new (const char *host, const char *repository, bool want_push,
                          const struct husk_registry_opts *opts, bool insecure, husk_registry_client_t **out,
                          husk_error_t *err)
{
  husk_registry_client_t *c = xzalloc (sizeof (*c));
  cleanup_free char *cert_dir = NULL;
  int ret;

  c->host = xstrdup (host);
  /* As containers/image does: Docker Hub's API is not on docker.io.  */
  c->api_host = xstrdup (strcmp (host, "docker.io") == 0 ? "registry-1.docker.io" : host);
  c->repository = repository ? xstrdup (repository) : NULL;
  c->want_push = want_push;
  if (opts)
    c->opts = *opts;
  else
    c->opts.tls_verify = -1;
  c->insecure = c->opts.tls_verify == 0 || (c->opts.tls_verify < 0 && insecure);
  c->scheme = "https";
  pthread_mutex_init (&c->lock, NULL);
  c->share = http_share_new ();
  cert_dir = husk_registry_cert_dir (host, c->opts.cert_dir);
  ret = http_tls_load (&c->tls, cert_dir, !c->insecure, err);
  if (ret < 0)
    {
      husk_registry_client_free (c);
      return ret;
    }
  *out = c;
  return 0;
}

void
husk_registry_client_free (husk_registry_client_t *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_tokens; i++)
    {
      free (c->tokens[i].scopes);
      free (c->tokens[i].value);
    }
  free (c->tokens);
  husk_registry_challenge_clear (&c->challenge);
  free (c->user);
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  free (c->password);
  http_tls_clear (&c->tls);
  http_share_free (c->share);
  pthread_mutex_destroy (&c->lock);
  free (c->host);
  free (c->api_host);
  free (c->repository);
  free (c);
}

void
cleanup_registry_clientp (husk_registry_client_t **c)
{
  husk_registry_client_free (*c);
}

const char *
husk_registry_client_host (const husk_registry_client_t *c)
{
  return c->host;
}

const char *
husk_registry_client_repository (const husk_registry_client_t *c)
{
  return c->repository;
}

const struct husk_registry_opts *
husk_registry_client_opts (const husk_registry_client_t *c)
{
  return &c->opts;
}

/* ---- credentials and tokens (c->lock held) ---- */

static int
load_creds (husk_registry_client_t *c, husk_error_t *err)
{
  int ret;

  if (c->creds_loaded)
    return 0;
  if (c->opts.creds)
    {
      ret = husk_auth_parse_creds (c->opts.creds, &c->user, &c->password, err);
      if (ret < 0)
        return ret;
    }
  else
    {
      ret = 0;
      if (c->repository)
        {
          cleanup_free char *key = xasprintf ("%s/%s", c->host, c->repository);
          ret = husk_auth_lookup (c->opts.authfile, key, &c->user, &c->password, err);
          if (ret < 0)
            return husk_error_wrap (err, "reading credentials for %s", c->host);
        }
      if (ret == 0)
        ret = husk_auth_lookup (c->opts.authfile, c->host, &c->user, &c->password, err);
      if (ret < 0)
        return husk_error_wrap (err, "reading credentials for %s", c->host);
    }
  c->creds_loaded = true;
  return 0;
}

static const struct token *
token_find (husk_registry_client_t *c, const char *scopes)
{
  int64_t now = husk_now_ns ();

  for (size_t i = 0; i < c->n_tokens; i++)
    if (strcmp (c->tokens[i].scopes, scopes) == 0 && c->tokens[i].expires_ns > now)
      return &c->tokens[i];
  return NULL;
}

static void
token_store (husk_registry_client_t *c, const char *scopes, const char *value, int64_t expires_in_s)
{
  struct token *t = NULL;

  for (size_t i = 0; i < c->n_tokens; i++)
    if (strcmp (c->tokens[i].scopes, scopes) == 0)
      t = &c->tokens[i];
  if (t == NULL)
    {
      c->tokens = xrealloc (c->tokens, (c->n_tokens + 1) * sizeof (*c->tokens));
      t = &c->tokens[c->n_tokens++];
      t->scopes = xstrdup (scopes);
      t->value = NULL;
    }
  free (t->value);
  t->value = xstrdup (value);
  /* Refresh a little before the server's deadline.  */
  if (expires_in_s < 60)
    expires_in_s = 60;
  t->expires_ns = husk_now_ns () + (expires_in_s - 10) * INT64_C (1000000000);
}

static char *
basic_header (const char *user, const char *password)
{
  cleanup_free char *pair = xasprintf ("%s:%s", user, password ? password : "");
  cleanup_free char *b64 = husk_base64_encode (pair, strlen (pair));
  char *h = xasprintf ("Authorization: Basic %s", b64);
  explicit_bzero (pair, strlen (pair));
  return h;
}

/* GET realm?service=..&scope=.. with the credentials, when there are any.
   Returns 1 with a token stored, 0 when the token server refused
   anonymous access, negative on errors (wrong credentials included).  */
static int
fetch_token (husk_registry_client_t *c, char *const *scopes, const char *key, husk_error_t *err)
{
  struct husk_registry_response res = { 0 };
  struct http_exchange x = { 0 };
  struct husk_buf url = { 0 };
  struct curl_slist *headers = NULL;
  cleanup_free char *url_s = NULL;
  cleanup_json husk_json_t *doc = NULL;
  const char *token;
  char sep = strchr (c->challenge.realm, '?') ? '&' : '?';
  CURL *esc = curl_easy_init ();
  int ret;

  if (esc == NULL)
    husk_oom ();
  husk_buf_puts (&url, c->challenge.realm);
  if (c->challenge.service)
    {
      char *e = curl_easy_escape (esc, c->challenge.service, 0);
      husk_buf_printf (&url, "%cservice=%s", sep, e);
      curl_free (e);
      sep = '&';
    }
  for (size_t i = 0; scopes && scopes[i]; i++)
    {
      char *e = curl_easy_escape (esc, scopes[i], 0);
      husk_buf_printf (&url, "%cscope=%s", sep, e);
      curl_free (e);
      sep = '&';
    }
  curl_easy_cleanup (esc);
  url_s = husk_buf_steal (&url, NULL);
  if (c->user)
    {
      cleanup_free char *line = basic_header (c->user, c->password);
      headers = curl_slist_append (headers, line);
      explicit_bzero (line, strlen (line));
    }

  x.url = url_s;
  x.headers = headers;
  x.body_fd = -1;
  x.max_body = HUSK_REGISTRY_MAX_TOKEN;
  x.res = &res;
  ret = http_perform (c->share, &c->tls, &x);
  for (struct curl_slist *p = headers; p; p = p->next)
    explicit_bzero (p->data, strlen (p->data));
  curl_slist_free_all (headers);
  if (ret < 0)
    {
      if (x.too_big)
        ret = husk_make_error (err, 0, "token response from %s exceeds %u bytes", c->challenge.realm,
                               HUSK_REGISTRY_MAX_TOKEN);
      else
        ret = http_transport_error (&x, err);
      ret = husk_error_wrap (err, "requesting bearer token");
      goto out;
    }
  if (res.status == 401 || res.status == 403)
    {
      if (c->user)
        ret = husk_make_error (err, 0, "invalid username/password");
      else
        ret = 0;
      goto out;
    }
  if (res.status != 200)
    {
      husk_registry_response_error (&res, err);
      ret = husk_error_wrap (err, "requesting bearer token from %s", c->challenge.realm);
      goto out;
    }
  doc = husk_json_parse (res.body, res.body_len, err);
  if (doc == NULL)
    {
      ret = husk_error_wrap (err, "token response from %s", c->challenge.realm);
      goto out;
    }
  token = husk_json_get_string (doc, "token");
  if (token == NULL || *token == '\0')
    token = husk_json_get_string (doc, "access_token");
  if (token == NULL || *token == '\0')
    {
      ret = husk_make_error (err, 0, "token response from %s has no token", c->challenge.realm);
      goto out;
    }
  token_store (c, key, token, husk_json_int (husk_json_get (doc, "expires_in"), 60));
  ret = 1;
out:
  husk_registry_response_clear (&res);
  http_exchange_clear (&x);
  return ret;
}

/* ---- the request loop ---- */

struct call
{
  const char *method;
  const char *path;
  char *const *headers;
  const void *body;
  int body_fd;
  uint64_t body_offset;
  uint64_t body_len;
  bool has_body;
  size_t max_body;
  char **scopes; /* the token scopes this call needs */

  husk_registry_sink_fn sink;
  void *sink_ctx;
  uint64_t offset;   /* Range start of the first attempt */
  uint64_t expected; /* blob size, 0: unknown */
  uint64_t fed;      /* bytes given to the sink so far */

  bool basic_sent;
  int auth_rounds;
};

static char *
scopes_key (char *const *scopes)
{
  return scopes ? strv_join (scopes, " ") : xstrdup ("");
}

static char *
build_url (husk_registry_client_t *c, const char *path)
{
  if (path[0] != '/')
    return xstrdup (path);
  return xasprintf ("%s://%s%s", c->scheme, c->api_host, path);
}

static struct curl_slist *
call_headers (husk_registry_client_t *c, struct call *call)
{
  struct curl_slist *h = NULL;
  uint64_t start = call->offset + call->fed;

  for (size_t i = 0; call->headers && call->headers[i]; i++)
    h = curl_slist_append (h, call->headers[i]);
  if (call->sink && start > 0)
    {
      cleanup_free char *range = xasprintf ("Range: bytes=%" PRIu64 "-", start);
      h = curl_slist_append (h, range);
    }
  pthread_mutex_lock (&c->lock);
  if (c->challenge.scheme && strcmp (c->challenge.scheme, "Bearer") == 0)
    {
      cleanup_free char *key = scopes_key (call->scopes);
      const struct token *t = token_find (c, key);
      if (t)
        {
          cleanup_free char *line = xasprintf ("Authorization: Bearer %s", t->value);
          h = curl_slist_append (h, line);
        }
    }
  else if (c->challenge.scheme && strcmp (c->challenge.scheme, "Basic") == 0 && c->user)
    {
      cleanup_free char *line = basic_header (c->user, c->password);
      h = curl_slist_append (h, line);
      explicit_bzero (line, strlen (line));
      call->basic_sent = true;
    }
  pthread_mutex_unlock (&c->lock);
  return h;
}

/* Answer a 401: returns 1 to send the request again, 0 to hand the 401
   to the caller, negative on errors.  */
static int
handle_401 (husk_registry_client_t *c, struct call *call, const struct husk_registry_response *res,
            husk_error_t *err)
{
  struct husk_registry_challenge ch = { 0 };
  husk_error_t ignored = NULL;
  bool insufficient;
  int ret;

  if (call->auth_rounds >= 2 || res->www_authenticate == NULL)
    return 0;
  if (husk_registry_parse_challenge (res->www_authenticate, &ch, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return 0;
    }
  insufficient = ch.error && strcmp (ch.error, "insufficient_scope") == 0;
  /* A token or credentials already refused: once more only for a scope
     the token lacked.  */
  if (call->auth_rounds == 1 && !insufficient)
    {
      husk_registry_challenge_clear (&ch);
      return 0;
    }
  call->auth_rounds++;

  pthread_mutex_lock (&c->lock);
  ret = load_creds (c, err);
  if (ret < 0)
    goto out;
  husk_registry_challenge_clear (&c->challenge);
  c->challenge = ch;
  memset (&ch, 0, sizeof (ch));
  if (strcmp (c->challenge.scheme, "Basic") == 0)
    {
      ret = c->user && !call->basic_sent ? 1 : 0;
      goto out;
    }
  if (strcmp (c->challenge.scheme, "Bearer") != 0)
    {
      ret = 0;
      goto out;
    }
  if (c->challenge.scope)
    {
      /* The scope the server asks for, when ours does not name it.  */
      bool have = false;
      for (size_t i = 0; call->scopes && call->scopes[i]; i++)
        have = have || strcmp (call->scopes[i], c->challenge.scope) == 0;
      if (!have)
        strv_append (&call->scopes, c->challenge.scope);
    }
  {
    cleanup_free char *key = scopes_key (call->scopes);
    ret = fetch_token (c, call->scopes, key, err);
  }
out:
  pthread_mutex_unlock (&c->lock);
  husk_registry_challenge_clear (&ch);
  return ret;
}

static void
sleep_ms (uint64_t ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static uint64_t
backoff_ms (husk_registry_client_t *c, unsigned attempt)
{
  uint64_t d = c->opts.retry_delay_ms;
  for (unsigned i = 0; i < attempt && d < 3600000; i++)
    d *= 2;
  return d;
}

static uint64_t
retry_after_ms (const struct husk_registry_response *res, uint64_t fallback)
{
  uint64_t s;

  if (res->retry_after == NULL)
    return fallback;
  if (husk_parse_u64 (res->retry_after, &s))
    return s > 600 ? 600000 : s * 1000;
  {
    time_t t = curl_getdate (res->retry_after, NULL);
    time_t now = time (NULL);
    if (t > now)
      return (uint64_t)(t - now > 600 ? 600 : t - now) * 1000;
  }
  return fallback;
}

static void
warn_retry (husk_registry_client_t *c, unsigned attempt, uint64_t delay, const char *why)
{
  husk_warn ("Failed, retrying in %.3gs ... (%u/%u). Error: %s", delay / 1000.0, attempt + 1, c->opts.retries,
             why);
}

static bool
status_retryable (long status)
{
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static int
call_run (husk_registry_client_t *c, struct call *call, struct husk_registry_response *res, husk_error_t *err)
{
  unsigned attempt = 0;
  int ret;

  for (;;)
    {
      struct http_exchange x = { 0 };
      cleanup_free char *url = NULL;
      const char *scheme_used;

      pthread_mutex_lock (&c->lock);
      scheme_used = c->scheme;
      url = build_url (c, call->path);
      pthread_mutex_unlock (&c->lock);

      x.method = call->method;
      x.url = url;
      x.headers = call_headers (c, call);
      x.body = call->body;
      x.body_fd = call->body_fd;
      x.body_offset = call->body_offset;
      x.body_len = call->body_len;
      x.has_body = call->has_body;
      x.max_body = call->max_body;
      x.sink = call->sink;
      x.sink_ctx = call->sink_ctx;
      x.range_start = call->offset + call->fed;
      x.limit = call->expected ? call->expected - (call->offset + call->fed) : 0;
      x.res = res;
      ret = http_perform (c->share, &c->tls, &x);
      curl_slist_free_all (x.headers);
      call->fed += x.delivered;

      if (x.sink_failed)
        {
          *err = x.sink_err;
          x.sink_err = NULL;
          http_exchange_clear (&x);
          return -1;
        }
      if (x.too_big)
        {
          if (call->sink)
            ret = husk_make_error (err, 0, "%s: more data than the %" PRIu64 " bytes expected", url,
                                   call->expected);
          else
            ret = husk_make_error (err, 0, "%s: response exceeds %zu bytes", url, x.max_body);
          http_exchange_clear (&x);
          return ret;
        }
      if (ret < 0)
        {
          bool fallback = false;

          pthread_mutex_lock (&c->lock);
          /* An insecure registry may speak plain http (containers/image
             tries https first, then http).  */
          if (c->insecure && !c->scheme_known && strcmp (scheme_used, "https") == 0 && call->path[0] == '/'
              && x.code != CURLE_COULDNT_RESOLVE_HOST)
            {
              c->scheme = "http";
              fallback = true;
            }
          pthread_mutex_unlock (&c->lock);
          if (fallback)
            {
              http_exchange_clear (&x);
              continue;
            }
          /* Progress made on a stream: this was a reset, not a dead server.  */
          if (x.delivered > 0)
            attempt = 0;
          if (http_code_retryable (x.code) && attempt < c->opts.retries)
            {
              uint64_t delay = backoff_ms (c, attempt);
              husk_error_t tmp = NULL;
              if (x.delivered == 0 || call->sink == NULL)
                {
                  http_transport_error (&x, &tmp);
                  warn_retry (c, attempt, delay, tmp->msg);
                  husk_error_release (&tmp);
                  sleep_ms (delay);
                }
              attempt++;
              http_exchange_clear (&x);
              continue;
            }
          ret = http_transport_error (&x, err);
          http_exchange_clear (&x);
          return ret;
        }
      http_exchange_clear (&x);

      pthread_mutex_lock (&c->lock);
      c->scheme_known = true;
      pthread_mutex_unlock (&c->lock);

      if (res->status == 401)
        {
          ret = handle_401 (c, call, res, err);
          if (ret < 0)
            return ret;
          if (ret > 0)
            continue;
          return 0;
        }
      if (status_retryable (res->status) && attempt < c->opts.retries)
        {
          uint64_t delay = retry_after_ms (res, backoff_ms (c, attempt));
          husk_error_t tmp = NULL;
          husk_registry_response_error (res, &tmp);
          warn_retry (c, attempt, delay, tmp->msg);
          husk_error_release (&tmp);
          sleep_ms (delay);
          attempt++;
          continue;
        }
      if (call->sink && (res->status == 200 || res->status == 206) && call->expected
          && call->offset + call->fed < call->expected)
        {
          /* The body ended early without a transport error: resume.  */
          if (attempt < c->opts.retries)
            {
              attempt++;
              continue;
            }
          return husk_make_error (err, 0, "%s: truncated: got %" PRIu64 " of %" PRIu64 " bytes", url,
                                  call->offset + call->fed, call->expected);
        }
      return 0;
    }
}

static char **
base_scopes (husk_registry_client_t *c, const char *extra)
{
  char **v = NULL;

  if (c->repository)
    strv_append_take (&v, xasprintf ("repository:%s:%s", c->repository, c->want_push ? "pull,push" : "pull"));
  if (extra)
    strv_append (&v, extra);
  return v;
}

int
husk_registry_request (husk_registry_client_t *c, const struct husk_registry_request *req,
                       struct husk_registry_response *res, husk_error_t *err)
{
  cleanup_strv char **scopes = base_scopes (c, req->extra_scope);
  struct call call = {
    .method = req->method,
    .path = req->path,
    .headers = req->headers,
    .body = req->body,
    .body_fd = req->body ? -1 : (req->body_fd > 0 ? req->body_fd : -1),
    .body_offset = req->body_offset,
    .body_len = req->body_len,
    .has_body = req->body != NULL || req->body_fd > 0 || req->body_len > 0,
    .max_body = req->max_body,
    .scopes = scopes,
  };
  int ret;

  if (call.body == NULL && call.body_fd < 0)
    call.body = "";
  ret = call_run (c, &call, res, err);
  scopes = call.scopes;
  /* A response may be half filled when the connection broke: leave
     nothing for the caller to free on failure.  */
  if (ret < 0)
    husk_registry_response_clear (res);
  return ret;
}

int
husk_registry_blob_get (husk_registry_client_t *c, const char *digest, uint64_t offset,
                        uint64_t expected_size, husk_registry_sink_fn sink, void *ctx, husk_error_t *err)
{
  cleanup_strv char **scopes = base_scopes (c, NULL);
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/%s", c->repository, digest);
  struct husk_registry_response res = { 0 };
  struct call call = {
    .path = path,
    .body_fd = -1,
    .max_body = 64 * 1024,
    .scopes = scopes,
    .sink = sink,
    .sink_ctx = ctx,
    .offset = offset,
    .expected = expected_size,
  };
  int ret;

  ret = call_run (c, &call, &res, err);
  scopes = call.scopes;
  if (ret == 0 && res.status != 200 && res.status != 206)
    ret = husk_registry_response_error (&res, err);
  husk_registry_response_clear (&res);
  if (ret < 0)
    return husk_error_wrap (err, "fetching blob %s", digest);
  return 0;
}

/* ---- calls into memory ---- */

static const char *const manifest_accept
    = "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json, "
      "application/vnd.docker.distribution.manifest.v2+json";

static int
get_verified (husk_registry_client_t *c, const char *path, const char *accept, const char *expect_digest,
              struct husk_registry_response *res, char **digest, husk_error_t *err)
{
  char *const headers[] = { (char *)accept, NULL };
  struct husk_registry_request req = {
    .path = path,
    .headers = accept ? headers : NULL,
    .max_body = HUSK_REGISTRY_MAX_MANIFEST,
  };
  cleanup_free char *got = NULL;
  int ret;

  ret = husk_registry_request (c, &req, res, err);
  if (ret < 0)
    return ret;
  if (res->status != 200)
    return husk_registry_response_error (res, err);
  got = husk_digest_buffer (res->body, res->body_len);
  if (expect_digest && strcmp (got, expect_digest) != 0)
    return husk_make_error (err, 0, "digest mismatch: expected %s, got %s", expect_digest, got);
  if (digest)
    *digest = steal_pointer (&got);
  return 0;
}

int
husk_registry_manifest_get (husk_registry_client_t *c, const char *reference, char **data, size_t *len,
                            char **media_type, char **digest, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", c->repository, reference);
  struct husk_registry_response res = { 0 };
  bool by_digest = husk_has_prefix (reference, "sha256:");
  int ret;

  ret = get_verified (c, path, manifest_accept, by_digest ? reference : NULL, &res, digest, err);
  if (ret < 0)
    {
      husk_registry_response_clear (&res);
      return husk_error_wrap (err, "reading manifest %s in %s/%s", reference, c->host, c->repository);
    }
  if (media_type)
    {
      cleanup_json husk_json_t *doc = NULL;
      husk_error_t ignored = NULL;
      const char *mt = NULL;

      doc = husk_json_parse (res.body, res.body_len, &ignored);
      husk_error_release (&ignored);
      mt = husk_json_get_string (doc, "mediaType");
      if (mt == NULL && res.content_type)
        {
          char *semi = strchr (res.content_type, ';');
          if (semi)
            *semi = '\0';
          mt = res.content_type;
        }
      *media_type = mt ? xstrdup (mt) : NULL;
    }
  *len = res.body_len;
  *data = steal_pointer (&res.body);
  husk_registry_response_clear (&res);
  return 0;
}

int
husk_registry_blob_get_small (husk_registry_client_t *c, const char *digest, char **data, size_t *len,
                              husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/%s", c->repository, digest);
  struct husk_registry_response res = { 0 };
  int ret;

  ret = get_verified (c, path, NULL, digest, &res, NULL, err);
  if (ret < 0)
    {
      husk_registry_response_clear (&res);
      return husk_error_wrap (err, "reading blob %s", digest);
    }
  *len = res.body_len;
  *data = steal_pointer (&res.body);
  husk_registry_response_clear (&res);
  return 0;
}

/* The target of a Link: <url>; rel="next" header.  */
static char *
link_next (const char *link)
{
  const char *lt, *gt;

  if (link == NULL || strstr (link, "rel=\"next\"") == NULL)
    return NULL;
  lt = strchr (link, '<');
  gt = lt ? strchr (lt, '>') : NULL;
  if (gt == NULL)
    return NULL;
  return xstrndup (lt + 1, gt - lt - 1);
}

int
husk_registry_list_tags (husk_registry_client_t *c, char ***tags, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/tags/list", c->repository);
  cleanup_strv char **out = xzalloc (sizeof (char *));
  int pages = 0;

  while (path)
    {
      struct husk_registry_response res = { 0 };
      struct husk_registry_request req = { .path = path };
      cleanup_json husk_json_t *doc = NULL;
      int ret;

      if (++pages > 10000)
        return husk_make_error (err, 0, "listing tags of %s/%s: too many pages", c->host, c->repository);
      ret = husk_registry_request (c, &req, &res, err);
      if (ret == 0 && res.status != 200)
        ret = husk_registry_response_error (&res, err);
      if (ret == 0)
        {
          doc = husk_json_parse (res.body, res.body_len, err);
          if (doc == NULL)
            ret = -1;
        }
      if (ret < 0)
        {
          husk_registry_response_clear (&res);
          return husk_error_wrap (err, "listing tags of %s/%s", c->host, c->repository);
        }
      {
        husk_json_t *t = husk_json_get (doc, "tags");
        for (size_t i = 0; i < husk_json_array_len (t); i++)
          if (husk_json_string (husk_json_array_at (t, i)))
            strv_append (&out, husk_json_string (husk_json_array_at (t, i)));
      }
      free (path);
      path = link_next (res.link);
      husk_registry_response_clear (&res);
    }
  *tags = steal_pointer (&out);
  return 0;
}

int
husk_registry_check_login (const char *host, const char *user, const char *password,
                           const struct husk_registry_opts *opts, bool insecure, husk_error_t *err)
{
  cleanup_registry_client husk_registry_client_t *c = NULL;
  struct husk_registry_response res = { 0 };
  struct husk_registry_request req = { .path = "/v2/" };
  int ret;

  ret = husk_registry_client_new (host, NULL, false, opts, insecure, &c, err);
  if (ret < 0)
    return ret;
  c->user = xstrdup (user);
  c->password = xstrdup (password ? password : "");
  c->creds_loaded = true;
  ret = husk_registry_request (c, &req, &res, err);
  if (ret == 0 && res.status == 401)
    ret = husk_make_error (err, 0, "invalid username/password");
  else if (ret == 0 && res.status != 200)
    ret = husk_registry_response_error (&res, err);
  husk_registry_response_clear (&res);
  return ret;
}
