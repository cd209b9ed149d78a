/* husk: libcurl, opened at the first curl_* call (see lazy.h).  */

/* typecheck-gcc.h turns curl_easy_setopt and curl_easy_getinfo into macros,
   which would rewrite their definitions below.  */
#define CURL_DISABLE_TYPECHECK 1

#include <dlfcn.h>
#include <stdarg.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "src/util/lazy-config.h"
#include "src/util/lazy.h"

/* husk itself does not link libcrypto (digest.c has its own sha256), but
   Debian's libcurl4 is the OpenSSL flavour and brought it in with libssl.
   The registry's TLS must follow the system policy in openssl.cnf
   (protocols, ciphers, providers), loaded exactly once.  Ask for it here,
   before curl's first function, through the libcrypto curl loaded:
   OPENSSL_INIT_LOAD_CONFIG reads the file unless some earlier user of
   libcrypto in this process (libarchive, say) already did, and curl's own
   OPENSSL_init_ssl then finds it done.  A libcurl built on another TLS
   library has no libcrypto loaded, and nothing to set up.  */
static void
curl_load_openssl_config (void)
{
  __typeof__ (OPENSSL_init_crypto) *init_crypto;
  __typeof__ (ERR_clear_error) *clear_error;
  void *crypto = dlopen (HUSK_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);

  if (crypto == NULL)
    return;
  init_crypto = (__typeof__ (OPENSSL_init_crypto) *)dlsym (crypto, "OPENSSL_init_crypto");
  clear_error = (__typeof__ (ERR_clear_error) *)dlsym (crypto, "ERR_clear_error");
  if (init_crypto != NULL)
    init_crypto (OPENSSL_INIT_LOAD_CONFIG, NULL);
  /* A broken config must not fail the pull itself, as it does not for curl.  */
  if (clear_error != NULL)
    clear_error ();
  /* Drops only the reference NOLOAD took: libcurl still holds libcrypto.  */
  dlclose (crypto);
}

static struct husk_lazy_lib curl_lib = {
  .soname = HUSK_LIBCURL_SONAME,
  .package = "libcurl4",
  .after_load = curl_load_openssl_config,
};

#define CURL_FN(ret, name, params, args) HUSK_LAZY_FN (curl_lib, ret, name, params, args)
#define CURL_VOID_FN(name, params, args) HUSK_LAZY_VOID_FN (curl_lib, name, params, args)

CURL_FN (CURLcode, curl_global_init, (long flags), (flags))
CURL_VOID_FN (curl_global_cleanup, (void), ())
CURL_FN (char *, curl_version, (void), ())
CURL_FN (curl_version_info_data *, curl_version_info, (CURLversion v), (v))
CURL_VOID_FN (curl_free, (void *p), (p))
CURL_FN (time_t, curl_getdate, (const char *p, const time_t *unused), (p, unused))

CURL_FN (CURL *, curl_easy_init, (void), ())
CURL_VOID_FN (curl_easy_cleanup, (CURL * curl), (curl))
CURL_VOID_FN (curl_easy_reset, (CURL * curl), (curl))
CURL_FN (CURL *, curl_easy_duphandle, (CURL * curl), (curl))
CURL_FN (CURLcode, curl_easy_perform, (CURL * curl), (curl))
CURL_FN (const char *, curl_easy_strerror, (CURLcode code), (code))
CURL_FN (char *, curl_easy_escape, (CURL * handle, const char *string, int length), (handle, string, length))
CURL_FN (char *, curl_easy_unescape, (CURL * handle, const char *string, int length, int *outlength),
         (handle, string, length, outlength))

CURL_FN (struct curl_slist *, curl_slist_append, (struct curl_slist * list, const char *data), (list, data))
CURL_VOID_FN (curl_slist_free_all, (struct curl_slist * list), (list))

CURL_FN (CURLSH *, curl_share_init, (void), ())
CURL_FN (CURLSHcode, curl_share_cleanup, (CURLSH * share), (share))
CURL_FN (const char *, curl_share_strerror, (CURLSHcode code), (code))

CURL_FN (CURLU *, curl_url, (void), ())
CURL_VOID_FN (curl_url_cleanup, (CURLU * handle), (handle))
CURL_FN (CURLU *, curl_url_dup, (CURLU * in), (in))
CURL_FN (CURLUcode, curl_url_get, (CURLU * handle, CURLUPart what, char **part, unsigned int flags),
         (handle, what, part, flags))
CURL_FN (CURLUcode, curl_url_set, (CURLU * handle, CURLUPart what, const char *part, unsigned int flags),
         (handle, what, part, flags))
CURL_FN (const char *, curl_url_strerror, (CURLUcode code), (code))

/* The variadic functions: libcurl reads its one argument with the type the
   option's number range says, so read it the same way and pass it on.  */

typedef void (*curl_any_fn) (void);

CURLcode
curl_easy_setopt (CURL *curl, CURLoption option, ...)
{
  __typeof__ (curl_easy_setopt) *real = HUSK_LAZY_REAL (curl_lib, curl_easy_setopt);
  CURLcode rc;
  va_list ap;

  va_start (ap, option);
  if (option < CURLOPTTYPE_OBJECTPOINT)
    rc = real (curl, option, va_arg (ap, long));
  else if (option < CURLOPTTYPE_FUNCTIONPOINT) /* also STRINGPOINT, SLISTPOINT, CBPOINT */
    rc = real (curl, option, va_arg (ap, void *));
  else if (option < CURLOPTTYPE_OFF_T)
    rc = real (curl, option, va_arg (ap, curl_any_fn));
  else if (option < CURLOPTTYPE_BLOB)
    rc = real (curl, option, va_arg (ap, curl_off_t));
  else
    rc = real (curl, option, va_arg (ap, struct curl_blob *));
  va_end (ap);
  return rc;
}

/* Every CURLINFO type (string, long, double, slist, ptr, socket, off_t) takes
   a pointer to where the answer goes.  */
CURLcode
curl_easy_getinfo (CURL *curl, CURLINFO info, ...)
{
  __typeof__ (curl_easy_getinfo) *real = HUSK_LAZY_REAL (curl_lib, curl_easy_getinfo);
  CURLcode rc;
  va_list ap;

  va_start (ap, info);
  rc = real (curl, info, va_arg (ap, void *));
  va_end (ap);
  return rc;
}

CURLSHcode
curl_share_setopt (CURLSH *share, CURLSHoption option, ...)
{
  __typeof__ (curl_share_setopt) *real = HUSK_LAZY_REAL (curl_lib, curl_share_setopt);
  CURLSHcode rc;
  va_list ap;

  va_start (ap, option);
  switch (option)
    {
    case CURLSHOPT_SHARE:
    case CURLSHOPT_UNSHARE:
      rc = real (share, option, va_arg (ap, int));
      break;
    case CURLSHOPT_LOCKFUNC:
    case CURLSHOPT_UNLOCKFUNC:
      rc = real (share, option, va_arg (ap, curl_any_fn));
      break;
    default: /* CURLSHOPT_USERDATA and any later pointer option */
      rc = real (share, option, va_arg (ap, void *));
      break;
    }
  va_end (ap);
  return rc;
}
