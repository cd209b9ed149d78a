/* husk: one HTTP exchange with libcurl.  Auth and retries live in
   client.c; this file knows curl, TLS files and header capture.  */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"
#include "husk/util.h"

/* ---- TLS material from a certs.d directory ---- */

static int
read_small_file (int dirfd, const char *name, struct husk_buf *out, husk_error_t *err)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
  char chunk[8192];
  ssize_t n;

  if (fd < 0)
    return husk_make_error (err, errno, "open %s", name);
  while ((n = read (fd, chunk, sizeof (chunk))) != 0)
    {
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return husk_make_error (err, errno, "read %s", name);
        }
      husk_buf_append (out, chunk, n);
      if (out->len > (16u << 20))
        return husk_make_error (err, 0, "%s: too many certificates", name);
    }
  return 0;
}

/* Like containers/image: every *.crt is a CA, a *.cert with the *.key of
   the same base name is a client certificate.  */
int
http_tls_load (struct http_tls *tls, const char *cert_dir, bool verify, husk_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct husk_buf pem = { 0 };
  struct dirent *de;
  int ret;

  memset (tls, 0, sizeof (*tls));
  tls->verify = verify;
  if (cert_dir == NULL)
    return 0;
  d = opendir (cert_dir);
  if (d == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return husk_make_error (err, errno, "open certificate directory %s", cert_dir);
    }
  while ((de = readdir (d)) != NULL)
    {
      if (husk_has_suffix (de->d_name, ".crt"))
        {
          ret = read_small_file (dirfd (d), de->d_name, &pem, err);
          if (ret < 0)
            {
              husk_buf_free (&pem);
              return husk_error_wrap (err, "%s", cert_dir);
            }
          husk_buf_puts (&pem, "\n");
        }
      else if (husk_has_suffix (de->d_name, ".cert") && tls->cert == NULL)
        {
          cleanup_free char *base = xstrndup (de->d_name, strlen (de->d_name) - 5);
          cleanup_free char *key = xasprintf ("%s.key", base);

          if (faccessat (dirfd (d), key, R_OK, 0) == 0)
            {
              tls->cert = xasprintf ("%s/%s", cert_dir, de->d_name);
              tls->key = xasprintf ("%s/%s", cert_dir, key);
            }
        }
    }
  if (pem.len > 0)
    tls->ca_pem = husk_buf_steal (&pem, &tls->ca_len);
  husk_buf_free (&pem);
  return 0;
}

void
http_tls_clear (struct http_tls *tls)
{
  free (tls->ca_pem);
  free (tls->cert);
  free (tls->key);
  memset (tls, 0, sizeof (*tls));
}

/* ---- the share handle ---- */

struct share_locks
{
  pthread_mutex_t m[CURL_LOCK_DATA_LAST];
};

static void
share_lock (CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
  struct share_locks *l = ud;
  (void)h;
  (void)access;
  pthread_mutex_lock (&l->m[data]);
}

static void
share_unlock (CURL *h, curl_lock_data data, void *ud)
{
  struct share_locks *l = ud;
  (void)h;
  pthread_mutex_unlock (&l->m[data]);
}

static struct share_locks *the_locks;

static void
http_global_init (void)
{
  struct share_locks *l = xzalloc (sizeof (*l));

  curl_global_init (CURL_GLOBAL_DEFAULT);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&l->m[i], NULL);
  the_locks = l;
}

CURLSH *
http_share_new (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  CURLSH *sh;

  pthread_once (&once, http_global_init);
  sh = curl_share_init ();
  if (sh == NULL)
    husk_oom ();
  curl_share_setopt (sh, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (sh, CURLSHOPT_USERDATA, the_locks);
  curl_share_setopt (sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt (sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  return sh;
}

void
http_share_free (CURLSH *sh)
{
  if (sh)
    curl_share_cleanup (sh);
}

/* ---- callbacks ---- */

static void
set_header (char **slot, const char *value, size_t len)
{
  free (*slot);
  *slot = xstrndup (value, len);
}

static size_t
header_cb (char *line, size_t size, size_t nmemb, void *ud)
{
  struct http_exchange *x = ud;
  struct husk_registry_response *r = x->res;
  size_t len = size * nmemb, name_len;
  const char *colon, *v, *end = line + len;
  static const struct
  {
    const char *name;
    size_t off;
  } wanted[] = {
    { "content-type", offsetof (struct husk_registry_response, content_type) },
    { "docker-content-digest", offsetof (struct husk_registry_response, docker_content_digest) },
    { "location", offsetof (struct husk_registry_response, location) },
    { "range", offsetof (struct husk_registry_response, range) },
    { "www-authenticate", offsetof (struct husk_registry_response, www_authenticate) },
    { "retry-after", offsetof (struct husk_registry_response, retry_after) },
    { "link", offsetof (struct husk_registry_response, link) },
  };

  /* A new status line (redirect, 100-continue): forget the last block.  */
  if (len >= 5 && memcmp (line, "HTTP/", 5) == 0)
    {
      husk_registry_response_clear (r);
      return len;
    }
  colon = memchr (line, ':', len);
  if (colon == NULL)
    return len;
  name_len = colon - line;
  v = colon + 1;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  if (name_len == 14 && strncasecmp (line, "content-length", 14) == 0)
    {
      cleanup_free char *s = xstrndup (v, end - v);
      uint64_t n;
      if (husk_parse_u64 (s, &n))
        r->content_length = n;
      return len;
    }
  for (size_t i = 0; i < sizeof (wanted) / sizeof (wanted[0]); i++)
    if (strlen (wanted[i].name) == name_len && strncasecmp (line, wanted[i].name, name_len) == 0)
      {
        char **slot = (char **)((char *)r + wanted[i].off);
        /* Several WWW-Authenticate lines: the first one is used.  */
        if (*slot && i == 4)
          break;
        set_header (slot, v, end - v);
        break;
      }
  return len;
}

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *ud)
{
  struct http_exchange *x = ud;
  size_t len = size * nmemb;
  long status = 0;

  curl_easy_getinfo (x->h, CURLINFO_RESPONSE_CODE, &status);
  if (x->sink && (status == 200 || status == 206))
    {
      /* A server that ignores Range answers 200 with the whole blob.  */
      if (!x->started)
        x->skip = status == 200 ? x->range_start : 0;
      x->started = true;
      if (x->skip > 0)
        {
          size_t n = x->skip < len ? x->skip : len;
          x->skip -= n;
          data += n;
          len -= n;
          if (len == 0)
            return size * nmemb;
        }
      if (x->limit && x->delivered + len > x->limit)
        {
          x->too_big = true;
          return 0;
        }
      if (x->sink (x->sink_ctx, data, len, &x->sink_err) < 0)
        {
          x->sink_failed = true;
          return 0;
        }
      x->delivered += len;
      return size * nmemb;
    }
  if (x->body_buf.len + len > x->max_body)
    {
      x->too_big = true;
      return 0;
    }
  husk_buf_append (&x->body_buf, data, len);
  return size * nmemb;
}

static size_t
read_cb (char *buf, size_t size, size_t nmemb, void *ud)
{
  struct http_exchange *x = ud;
  size_t want = size * nmemb;
  uint64_t left = x->body_len - x->sent;

  if (want > left)
    want = left;
  if (want == 0)
    return 0;
  if (x->body_fd < 0)
    memcpy (buf, (const char *)x->body + x->sent, want);
  else
    {
      ssize_t n;
      do
        n = pread (x->body_fd, buf, want, x->body_offset + x->sent);
      while (n < 0 && errno == EINTR);
      if (n <= 0)
        return CURL_READFUNC_ABORT;
      want = n;
    }
  x->sent += want;
  return want;
}

static int
seek_cb (void *ud, curl_off_t offset, int origin)
{
  struct http_exchange *x = ud;

  if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->body_len)
    return CURL_SEEKFUNC_CANTSEEK;
  x->sent = offset;
  return CURL_SEEKFUNC_OK;
}

/* ---- one exchange ---- */

static void
setup_tls (CURL *h, const struct http_tls *tls)
{
  if (tls == NULL)
    return;
  if (!tls->verify)
    {
      curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  if (tls->ca_pem)
    {
      struct curl_blob blob = { tls->ca_pem, tls->ca_len, CURL_BLOB_NOCOPY };
      curl_easy_setopt (h, CURLOPT_CAINFO_BLOB, &blob);
    }
  if (tls->cert)
    {
      curl_easy_setopt (h, CURLOPT_SSLCERT, tls->cert);
      curl_easy_setopt (h, CURLOPT_SSLKEY, tls->key);
    }
}

static void
setup_method (CURL *h, struct http_exchange *x)
{
  const char *m = x->method ? x->method : "GET";

  if (strcmp (m, "HEAD") == 0)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (x->has_body || strcmp (m, "PUT") == 0 || strcmp (m, "POST") == 0 || strcmp (m, "PATCH") == 0)
    {
      /* Every body goes through the read callback so a file never has
         to be in memory; CUSTOMREQUEST turns the PUT into POST/PATCH.  */
      curl_easy_setopt (h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
      curl_easy_setopt (h, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt (h, CURLOPT_READDATA, x);
      curl_easy_setopt (h, CURLOPT_SEEKFUNCTION, seek_cb);
      curl_easy_setopt (h, CURLOPT_SEEKDATA, x);
      if (strcmp (m, "PUT") != 0)
        curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, m);
    }
  else if (strcmp (m, "GET") != 0)
    curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, m);
}

int
http_perform (CURLSH *share, const struct http_tls *tls, struct http_exchange *x)
{
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *headers = NULL;
  CURL *h = curl_easy_init ();
  long status = 0;

  if (h == NULL)
    husk_oom ();
  husk_registry_response_clear (x->res);
  husk_buf_free (&x->body_buf);
  free (x->curl_error);
  x->curl_error = NULL;
  x->h = h;
  x->sent = 0;
  x->delivered = 0;
  x->started = false;
  x->skip = 0;
  x->too_big = false;
  x->sink_failed = false;
  if (x->max_body == 0)
    x->max_body = HUSK_REGISTRY_MAX_MANIFEST;

  curl_easy_setopt (h, CURLOPT_URL, x->url);
  curl_easy_setopt (h, CURLOPT_SHARE, share);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "husk/" HUSK_VERSION);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  /* Blob GETs are redirected to storage; the Authorization header is
     not sent to another host (curl's default).  */
  curl_easy_setopt (
      h, CURLOPT_FOLLOWLOCATION,
      (x->method == NULL || strcmp (x->method, "GET") == 0 || strcmp (x->method, "HEAD") == 0) ? 1L : 0L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A stalled transfer is a connection error (and retried), not a hang.  */
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt (h, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, x);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, x);
  for (struct curl_slist *p = x->headers; p; p = p->next)
    headers = curl_slist_append (headers, p->data);
  /* No "Expect: 100-continue" round trip before uploads.  */
  headers = curl_slist_append (headers, "Expect:");
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, headers);
  setup_tls (h, tls);
  setup_method (h, x);

  x->code = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
  x->res->status = status;
  x->res->body = husk_buf_steal (&x->body_buf, &x->res->body_len);
  if (x->res->location)
    {
      char *eff = NULL;
      curl_easy_getinfo (h, CURLINFO_EFFECTIVE_URL, &eff);
      if (eff)
        {
          char *abs = http_resolve_url (eff, x->res->location);
          free (x->res->location);
          x->res->location = abs;
        }
    }
  if (x->code != CURLE_OK)
    {
      long os_errno = 0;
      curl_easy_getinfo (h, CURLINFO_OS_ERRNO, &os_errno);
      x->os_errno = (int)os_errno;
    }
  if (x->code != CURLE_OK)
    x->curl_error = xstrdup (errbuf[0] ? errbuf : curl_easy_strerror (x->code));
  curl_slist_free_all (headers);
  x->h = NULL;
  curl_easy_cleanup (h);
  return x->code == CURLE_OK ? 0 : -1;
}

void
http_exchange_clear (struct http_exchange *x)
{
  free (x->curl_error);
  x->curl_error = NULL;
  husk_buf_free (&x->body_buf);
  if (x->sink_err)
    husk_error_release (&x->sink_err);
}

char *
http_resolve_url (const char *base, const char *ref)
{
  CURLU *u = curl_url ();
  char *out = NULL, *ret;

  if (u == NULL)
    husk_oom ();
  if (curl_url_set (u, CURLUPART_URL, base, 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_URL, ref, 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_URL, &out, 0) != CURLUE_OK)
    {
      curl_url_cleanup (u);
      return xstrdup (ref);
    }
  ret = xstrdup (out);
  curl_free (out);
  curl_url_cleanup (u);
  return ret;
}

bool
http_code_retryable (CURLcode code)
{
  switch (code)
    {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
    }
}

/* Go's lower-case errno texts ("connection refused").  */
static char *
os_error_text (int e)
{
  char *s = xstrdup (strerror (e));
  for (char *p = s; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return s;
}

int
http_transport_error (const struct http_exchange *x, husk_error_t *err)
{
  const char *m = x->method ? x->method : "GET";
  cleanup_free char *verb = xstrdup (m);
  const char *why = x->curl_error ? x->curl_error : curl_easy_strerror (x->code);

  /* Go spells methods "Get", "Put" ... in its error messages.  */
  for (char *p = verb + 1; *p; p++)
    *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
  switch (x->code)
    {
    case CURLE_COULDNT_RESOLVE_HOST:
      return husk_make_error (err, 0, "%s \"%s\": lookup failed: no such host (%s)", verb, x->url, why);
    case CURLE_PEER_FAILED_VERIFICATION:
      return husk_make_error (err, 0, "%s \"%s\": x509: certificate signed by unknown authority (%s)", verb,
                              x->url, why);
    case CURLE_SSL_CONNECT_ERROR:
      if (strstr (why, "wrong version number"))
        return husk_make_error (err, 0, "%s \"%s\": http: server gave HTTP response to HTTPS client (%s)",
                                verb, x->url, why);
      return husk_make_error (err, 0, "%s \"%s\": %s", verb, x->url, why);
    case CURLE_COULDNT_CONNECT:
      if (x->os_errno)
        {
          cleanup_free char *text = os_error_text (x->os_errno);
          return husk_make_error (err, 0, "%s \"%s\": dial tcp: connect: %s", verb, x->url, text);
        }
      return husk_make_error (err, 0, "%s \"%s\": %s", verb, x->url, why);
    default:
      return husk_make_error (err, 0, "%s \"%s\": %s", verb, x->url, why);
    }
}
