/* husk: a plain http(s) download (download.h), through the lazily loaded
   libcurl (lazy-curl.c).  */
#define CURL_DISABLE_TYPECHECK 1

#include <errno.h>

#include <curl/curl.h>

#include "husk/download.h"
#include "husk/fs.h"

static size_t
write_cb (char *data, size_t size, size_t n, void *ud)
{
  int fd = *(int *)ud;
  size_t len = size * n;
  husk_error_t e = NULL;

  if (husk_write_all (fd, data, len, &e) < 0)
    {
      husk_error_release (&e);
      return 0; /* curl fails with CURLE_WRITE_ERROR */
    }
  return len;
}

int
husk_download (const char *url, int fd, uint64_t max_size, int64_t *filetime, husk_error_t *err)
{
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_off_t ft = -1;
  long status = 0;
  CURLcode rc;
  CURL *h;

  curl_global_init (CURL_GLOBAL_DEFAULT);
  h = curl_easy_init ();
  if (h == NULL)
    return husk_make_error (err, ENOMEM, "download %s: curl_easy_init failed", url);
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "husk/" HUSK_VERSION);
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A stalled server fails the download instead of hanging the build.  */
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, 60L);
  if (max_size > 0)
    curl_easy_setopt (h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_size);
  if (filetime != NULL)
    curl_easy_setopt (h, CURLOPT_FILETIME, 1L);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &fd);
  rc = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
  if (filetime != NULL)
    curl_easy_getinfo (h, CURLINFO_FILETIME_T, &ft);
  curl_easy_cleanup (h);
  if (rc != CURLE_OK)
    return husk_make_error (err, EIO, "download %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror (rc));
  if (status < 200 || status >= 300)
    return husk_make_error (err, EIO, "download %s: HTTP status %ld", url, status);
  if (filetime != NULL)
    *filetime = (int64_t)ft;
  return 0;
}
