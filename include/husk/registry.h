/* husk: talking to registries with the OCI distribution protocol.

   Part 1, configuration: registries.conf (v2 TOML, as podman and skopeo read
   it), certs.d, and credentials (Podman's auth.json, Docker's config.json).
   Part 2, the client: HTTP with libcurl, bearer/basic auth, pull, push,
   search, tags.  */
#ifndef HUSK_REGISTRY_H
#define HUSK_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "husk/error.h"
#include "husk/image.h"
#include "husk/store.h"

/* ---- registries.conf ---- */

typedef struct husk_registries_conf husk_registries_conf_t;

/* Load the configuration the way podman does: $CONTAINERS_REGISTRIES_CONF
   alone when set; otherwise ~/.config/containers/registries.conf when it
   exists (rootless), else /etc/containers/registries.conf; then every
   *.conf of the matching registries.conf.d directory in name order (later
   files override keys they set).  A missing file is an empty
   configuration; a malformed one is an error naming file and line.  */
int husk_registries_conf_load (husk_registries_conf_t **out, husk_error_t *err);
void husk_registries_conf_free (husk_registries_conf_t *c);
void cleanup_registries_confp (husk_registries_conf_t **c);
#define cleanup_registries_conf __attribute__ ((cleanup (cleanup_registries_confp)))

/* unqualified-search-registries (never NULL; may be empty).  */
char *const *husk_registries_conf_search (const husk_registries_conf_t *c);

/* Where to fetch "domain/path" from: the mirrors of the longest matching
   [[registry]] prefix first, then the registry itself (with its location
   rewrite applied), each with its own insecure flag.  A blocked registry
   is an error ("registry X is blocked in registries.conf").  */
struct husk_registry_endpoint
{
  char *host;   /* "host[:port]" to contact */
  char *path;   /* repository path on that host */
  bool insecure;
  bool mirror;
};
int husk_registries_conf_endpoints (const husk_registries_conf_t *c, const char *domain, const char *path,
                                    struct husk_registry_endpoint **out, size_t *n, husk_error_t *err);
void husk_registry_endpoints_free (struct husk_registry_endpoint *e, size_t n);

/* The candidate full references for what the user typed: a fully
   qualified reference is itself; a short name is tried against every
   unqualified-search-registries entry in order (no prompt: CI has no TTY),
   docker.io getting "library/".  With no search registries configured a
   short name means docker.io, as Docker does.  Tags default to latest.  */
int husk_registries_conf_candidates (const husk_registries_conf_t *c, const char *user_ref, char ***out,
                                     husk_error_t *err);

/* The CA directory for a host: cert_dir if given, else
   /etc/containers/certs.d/<host> (and ~/.config/containers/certs.d/<host>
   rootless) when it exists; NULL otherwise.  malloc'd.  */
char *husk_registry_cert_dir (const char *host, const char *cert_dir);

/* ---- credentials ---- */

/* The auth file to write: authfile if given, else $REGISTRY_AUTH_FILE, else
   ${XDG_RUNTIME_DIR}/containers/auth.json, else
   ~/.config/containers/auth.json (podman's order).  malloc'd.  */
char *husk_auth_file_path (const char *authfile);

/* Look up credentials for a registry host (or "host/namespace" key, the
   most specific key wins): the given authfile only, when set; otherwise
   podman's auth.json files, then ~/.docker/config.json.  "auth" is
   base64("user:password").  Returns 1 and user/password (malloc'd) when
   found, 0 when not.  */
int husk_auth_lookup (const char *authfile, const char *key, char **user, char **password, husk_error_t *err);

/* Save credentials for key in the auth file (atomic write, mode 0600,
   other entries kept).  */
int husk_auth_save (const char *authfile, const char *key, const char *user, const char *password,
                    husk_error_t *err);

/* Remove credentials for key (all of them when key is NULL).  Returns 1 if
   something was removed, 0 if there was nothing to remove.  */
int husk_auth_remove (const char *authfile, const char *key, husk_error_t *err);

/* Parse "--creds user[:password]".  */
int husk_auth_parse_creds (const char *creds, char **user, char **password, husk_error_t *err);

/* base64 for "auth" fields and the Basic scheme.  */
char *husk_base64_encode (const void *data, size_t len);
int husk_base64_decode (const char *s, char **out, size_t *len, husk_error_t *err);

/* ---- part 2: the client (declared below by src/registry/client.c) ---- */

#endif
