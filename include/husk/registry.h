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
  char *host; /* "host[:port]" to contact */
  char *path; /* repository path on that host */
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

/* ---- part 2: the client (src/registry/http.c, client.c) ---- */

/* Limits on what is read from the network (DESIGN.md section 7).  */
#define HUSK_REGISTRY_MAX_MANIFEST (4u << 20) /* manifests, indexes, configs */
#define HUSK_REGISTRY_MAX_TOKEN    (1u << 20) /* token responses */

/* What the user asked on the command line; zero-initialise, then set.  */
struct husk_registry_opts
{
  const char *authfile;    /* --authfile, NULL: the default lookup */
  const char *creds;       /* --creds "user[:password]", NULL: the auth files */
  int tls_verify;          /* -1 unset (registries.conf decides), 0 or 1 */
  const char *cert_dir;    /* --cert-dir, NULL: certs.d */
  unsigned retries;        /* retries on 429, 5xx and connection errors */
  unsigned retry_delay_ms; /* first back-off delay; doubles each time */
  bool quiet;              /* no progress at all */
  FILE *progress;          /* where progress goes (stderr), NULL: none */
  uint64_t max_layer_size; /* cap on a decompressed layer, 0: HUSK_REGISTRY_MAX_LAYER
                              ($HUSK_MAX_LAYER_SIZE overrides the default) */
};
#define HUSK_REGISTRY_MAX_LAYER (UINT64_C (64) << 30)

/* A client for one repository on one host.  Auth is handled inside:
   anonymous first; on 401 the WWW-Authenticate challenge is answered
   (Bearer: a token fetched from the realm with the credentials of --creds
   or husk_auth_lookup, cached per scope until it expires; Basic: the
   credentials), and the request retried once; an insufficient_scope error
   retries once with the scope it names.  Transient failures (429 honouring
   Retry-After, 5xx, connection errors) are retried opts->retries times
   with exponential back-off.  TLS: CAs from husk_registry_cert_dir; an
   insecure registry (opts->tls_verify == 0, or == -1 with insecure set by
   registries.conf) skips verification and falls back to plain http when
   https does not answer.  A client may be used from several threads at
   once.  */
typedef struct husk_registry_client husk_registry_client_t;

int husk_registry_client_new (const char *host, const char *repository, bool want_push,
                              const struct husk_registry_opts *opts, bool insecure,
                              husk_registry_client_t **out, husk_error_t *err);
void husk_registry_client_free (husk_registry_client_t *c);
void cleanup_registry_clientp (husk_registry_client_t **c);
#define cleanup_registry_client __attribute__ ((cleanup (cleanup_registry_clientp)))

const char *husk_registry_client_host (const husk_registry_client_t *c);
const char *husk_registry_client_repository (const husk_registry_client_t *c);
const struct husk_registry_opts *husk_registry_client_opts (const husk_registry_client_t *c);

struct husk_registry_request
{
  const char *method;   /* "GET" (NULL), "HEAD", "PUT", "POST", "PATCH", "DELETE" */
  const char *path;     /* "/v2/..." on the client's host, or an absolute URL
                           (a Location header, made absolute by the caller
                           or not: relative ones are resolved) */
  char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
  const void *body;     /* request body in memory, or */
  int body_fd;          /* a seekable fd read with pread from body_offset
                           (-1 or 0 when unused: set body_len) */
  uint64_t body_offset;
  uint64_t body_len;       /* length of either body */
  size_t max_body;         /* cap on the response body, 0: HUSK_REGISTRY_MAX_MANIFEST */
  const char *extra_scope; /* another scope to ask the token for
                              ("repository:other/repo:pull" for a mount) */
};

struct husk_registry_response
{
  long status;
  char *body; /* NUL-terminated, never NULL after success */
  size_t body_len;
  char *content_type;          /* the selected headers, NULL when absent */
  char *docker_content_digest; /* Docker-Content-Digest */
  char *location;              /* Location, made absolute */
  char *range;                 /* Range */
  char *www_authenticate;
  char *retry_after;
  char *link;              /* Link (pagination of tags/list and _catalog) */
  uint64_t content_length; /* Content-Length, 0 when absent */
};
void husk_registry_response_clear (struct husk_registry_response *r);

/* Send a request, with auth and retries.  Returns 0 and fills *res for any
   final HTTP status (the caller decides what is an error); negative on a
   connection or TLS failure after the retries, or a body over max_body;
   then *res holds nothing to free.  */
int husk_registry_request (husk_registry_client_t *c, const struct husk_registry_request *req,
                           struct husk_registry_response *res, husk_error_t *err);

/* Turn a failed response into "err": the registry's JSON error list
   ("manifest unknown: ...") when there is one, else the status line.
   Always returns a negative value.  */
int husk_registry_response_error (const struct husk_registry_response *res, husk_error_t *err);

/* Streaming blob GET.  The sink gets the body in order; it returns 0 to go
   on or a negative value (with *err filled) to stop.  offset > 0 starts
   with a Range request.  A connection that breaks mid-blob is resumed with
   Range from the bytes already given to the sink, so the sink sees one
   uninterrupted stream; a server that ignores Range makes the resume
   skip the bytes already delivered.  expected_size (0: unknown) bounds the
   body: more bytes are an error, fewer after the retries too.  */
typedef int (*husk_registry_sink_fn) (void *ctx, const void *data, size_t len, husk_error_t *err);
int husk_registry_blob_get (husk_registry_client_t *c, const char *digest, uint64_t offset,
                            uint64_t expected_size, husk_registry_sink_fn sink, void *ctx, husk_error_t *err);

/* GET a manifest (or a blob, when blob is true) into memory, capped at
   HUSK_REGISTRY_MAX_MANIFEST and verified when reference is a digest.
   Manifests are asked for with every media type husk understands.  *media_type
   (manifests only) from Content-Type, or the document's mediaType; *digest:
   the sha256 of the bytes.  */
int husk_registry_manifest_get (husk_registry_client_t *c, const char *reference, char **data, size_t *len,
                                char **media_type, char **digest, husk_error_t *err);
int husk_registry_blob_get_small (husk_registry_client_t *c, const char *digest, char **data, size_t *len,
                                  husk_error_t *err);

/* Every tag of the repository (follows Link pagination).  */
int husk_registry_list_tags (husk_registry_client_t *c, char ***tags, husk_error_t *err);

/* Verify the credentials against GET /v2/ (login): 0 when accepted,
   negative with "invalid username/password" on 401.  */
int husk_registry_check_login (const char *host, const char *user, const char *password,
                               const struct husk_registry_opts *opts, bool insecure, husk_error_t *err);

/* ---- pull (src/registry/pull.c) ---- */

struct husk_registry_pull_opts
{
  struct husk_registry_opts reg;
  const char *os;      /* NULL: linux */
  const char *arch;    /* NULL: husk_image_host_arch () */
  const char *variant; /* NULL: the host's (arm64: v8, arm: v7, none otherwise) */
  bool all_tags;       /* every tag of the repository (user_ref has no tag) */
};

/* Pull what the user typed (short names through the search registries,
   mirrors first) into the store: manifest (an index is resolved for the
   platform), config, and the layers not yet stored, downloaded in
   parallel and extracted while streaming; every digest and diffID is
   verified before the image is committed with its name and manifest
   digest.  *ids: the pulled image ids (one, or one per tag with
   all_tags), NULL-terminated, malloc'd.  The store lock is taken only for
   the commit.  */
int husk_registry_pull (husk_store_t *s, const char *user_ref, const struct husk_registry_pull_opts *opts,
                        char ***ids, husk_error_t *err);

/* ---- progress (src/registry/progress.c), shared by pull and push ---- */

/* One line per blob when out is not a TTY ("Copying blob sha256:<hex>
   done"); a line per blob updated in place on a TTY.  NULL out: silent.
   Thread safe.  */
typedef struct husk_registry_progress husk_registry_progress_t;
husk_registry_progress_t *husk_registry_progress_new (FILE *out);
void husk_registry_progress_free (husk_registry_progress_t *p);
/* A plain line ("Getting image source signatures").  */
void husk_registry_progress_line (husk_registry_progress_t *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* kind: "blob" or "config"; returns a slot for the updates.  */
int husk_registry_progress_start (husk_registry_progress_t *p, const char *kind, const char *digest,
                                  uint64_t total);
void husk_registry_progress_update (husk_registry_progress_t *p, int slot, uint64_t done);
/* how: "done", "skipped: already exists", ...  */
void husk_registry_progress_done (husk_registry_progress_t *p, int slot, const char *how);

/* ---- small parsers, public for the unit tests ---- */

/* "2s", "500ms", "1m30s", "1.5s", a bare number is seconds.  */
int husk_registry_parse_duration (const char *s, unsigned *ms, husk_error_t *err);

/* A WWW-Authenticate value: scheme "Bearer" or "Basic" and its params.  */
struct husk_registry_challenge
{
  char *scheme;
  char *realm;
  char *service;
  char *scope;
  char *error; /* "insufficient_scope", "invalid_token" ... */
};
int husk_registry_parse_challenge (const char *header, struct husk_registry_challenge *out,
                                   husk_error_t *err);
void husk_registry_challenge_clear (struct husk_registry_challenge *ch);

/* Pick the manifest descriptor for a platform from an OCI index or Docker
   manifest list (os/arch/variant as in struct husk_registry_pull_opts;
   NULLs are the host's).  Returns the descriptor (owned by index) or NULL
   with an error naming the platforms available.  */
husk_json_t *husk_registry_select_platform (const husk_json_t *index, const char *os, const char *arch,
                                            const char *variant, husk_error_t *err);

/* ---- push (src/registry/push.c) ---- */

enum husk_manifest_format
{
  HUSK_MANIFEST_OCI,  /* application/vnd.oci.image.manifest.v1+json */
  HUSK_MANIFEST_V2S2, /* application/vnd.docker.distribution.manifest.v2+json */
};

struct husk_registry_push_opts
{
  struct husk_registry_opts reg;
  enum husk_compression compression; /* GZIP (NONE counts as GZIP) or ZSTD (OCI only) */
  enum husk_manifest_format format;
  const char *digestfile; /* --digestfile: gets the manifest digest */
};

/* Push a stored image (id, id prefix, name or short name) to destination
   ("docker://host/repo:tag", "host/repo:tag"; NULL: the image's own name,
   the one the user typed when image is a name).  Each layer's tar is
   rebuilt as save does (so the config's diffIDs hold), compressed to a
   temp file while digested, skipped when the registry has the blob (HEAD;
   the compressed digest of an earlier push or of the pull is asked for
   first, so a second push does not recompress), mounted from another
   repository of the same registry named by the image's names or
   RepoDigests, else uploaded (one PUT, or PATCH chunks for big blobs);
   then the config blob and the manifest.  Layers are processed in
   parallel.  Takes the shared store lock for the layer phase only.
   Returns the manifest digest (malloc'd) in *digest.  */
int husk_registry_push (husk_store_t *s, const char *image, const char *destination,
                        const struct husk_registry_push_opts *opts, char **digest, husk_error_t *err);

/* ---- search (src/registry/search.c) ---- */

struct husk_search_result
{
  char *index;       /* registry host, "docker.io" */
  char *name;        /* "host/repo" */
  char *description; /* "" when the registry has none */
  int64_t stars;
  bool official;
  bool automated;
  char *tag; /* list_tags only */
};
void husk_search_results_free (struct husk_search_result *r, size_t n);

/* Search for term ("host/term", or "term" searched in every
   unqualified-search-registries entry): Docker Hub's GET /v1/search when
   the registry answers it, else GET /v2/_catalog filtered to the
   repositories whose path contains term.  At most limit results per
   registry (0: 25).  */
int husk_registry_search (const char *term, size_t limit, const struct husk_registry_opts *opts,
                          struct husk_search_result **out, size_t *n, husk_error_t *err);

/* The tags of repository ref ("host/repo"): one result per tag, at most
   limit (0: all).  */
int husk_registry_search_tags (const char *ref, size_t limit, const struct husk_registry_opts *opts,
                               struct husk_search_result **out, size_t *n, husk_error_t *err);

#endif
