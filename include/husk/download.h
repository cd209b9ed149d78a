/* husk: one http(s) GET into a file (src/util/download.c), for what is not
   a registry: build's URL contexts and ADD <url>.  Registries have their
   own client (src/registry/http.c: auth, retries, ranges).  */
#ifndef HUSK_DOWNLOAD_H
#define HUSK_DOWNLOAD_H

#include <stdint.h>

#include "husk/error.h"

/* GET url (http or https, redirects followed) and write the body to fd.
   max_size > 0 refuses a larger body.  filetime (may be NULL) gets the
   server's Last-Modified as seconds, or -1.  Errors: "download URL:
   <curl's reason>" or "download URL: HTTP status N" for a status other
   than 2xx.  */
int husk_download (const char *url, int fd, uint64_t max_size, int64_t *filetime, husk_error_t *err);

#endif
