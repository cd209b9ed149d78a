/* husk: pushing a stored image to a registry (OCI distribution spec).

   Order: every layer blob, then the config blob, then the manifest, so a
   registry never holds a manifest whose blobs are missing.  Layers go
   through a small pool of threads, each taking the next layer and doing
   all of it: ask the registry for a blob the layer is already known by
   (HEAD, then a cross-repository mount from a repository of the same
   registry the image came from or went to), else rebuild and compress the
   tar into an unlinked temp file and upload that.  On two cores this keeps
   one compressor busy while another layer uploads.

   The shared store lock is held while layers are read (so no rmi removes
   them under us), not while the config and manifest are sent.  */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/registry.h"
#include "husk/util.h"

#define OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define V2S2_MANIFEST   "application/vnd.docker.distribution.manifest.v2+json"
#define V2S2_CONFIG     "application/vnd.docker.container.image.v1+json"
#define V2S2_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this
   size, so a registry (or proxy) with a request size limit still takes
   them.  */
#define CHUNK_SIZE  (UINT64_C (32) << 20)
#define MAX_WORKERS 4

struct push_layer
{
  char *diff_id;      /* stored */
  char *known_digest; /* blob it is known by (blob cache), or NULL */
  uint64_t known_size;
  char **known_locations; /* "host/repo" it was pushed to */
  char *digest;           /* the blob the manifest names */
  uint64_t size;
  char *written_diff_id; /* diffID of the tar pushed */
};

struct pusher
{
  husk_store_t *s;
  husk_registry_client_t *c;
  const struct husk_registry_push_opts *opts;
  husk_registry_progress_t *prog;
  const char *compression; /* "gzip" or "zstd" */
  char **mount_from;       /* other repositories on the same registry */

  struct push_layer *layers;
  size_t n_layers;

  pthread_mutex_t mu;
  size_t next;
  bool failed;
  husk_error_t err;
};

static void
push_layers_free (struct push_layer *l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (l[i].diff_id);
      free (l[i].known_digest);
      strv_free (l[i].known_locations);
      free (l[i].digest);
      free (l[i].written_diff_id);
    }
  free (l);
}

/* ---- HTTP steps ---- */

static char *
blob_path (husk_registry_client_t *c, const char *digest)
{
  return xasprintf ("/v2/%s/blobs/%s", husk_registry_client_repository (c), digest);
}

/* 1 when the repository has the blob, 0 when not.  */
static int
blob_exists (husk_registry_client_t *c, const char *digest, husk_error_t *err)
{
  cleanup_free char *path = blob_path (c, digest);
  struct husk_registry_request req = { .method = "HEAD", .path = path, .body_fd = -1 };
  struct husk_registry_response res = { 0 };
  int ret;

  ret = husk_registry_request (c, &req, &res, err);
  if (ret < 0)
    return ret;
  if (res.status == 200)
    ret = 1;
  else if (res.status == 404)
    ret = 0;
  else
    ret = husk_registry_response_error (&res, err);
  husk_registry_response_clear (&res);
  if (ret < 0)
    return husk_error_wrap (err, "checking whether blob %s exists", digest);
  return ret;
}

/* Ask the registry to link a blob of another repository into ours.
   1 when mounted; 0 when the registry declined (it then opened an upload
   session, which we leave to expire).  */
static int
blob_mount (husk_registry_client_t *c, const char *digest, const char *from, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/uploads/?mount=%s&from=%s",
                                       husk_registry_client_repository (c), digest, from);
  cleanup_free char *scope = xasprintf ("repository:%s:pull", from);
  struct husk_registry_request req
      = { .method = "POST", .path = path, .body_fd = -1, .body = "", .body_len = 0, .extra_scope = scope };
  struct husk_registry_response res = { 0 };
  int ret;

  ret = husk_registry_request (c, &req, &res, err);
  if (ret < 0)
    return ret;
  ret = res.status == 201 ? 1 : 0;
  husk_registry_response_clear (&res);
  return ret;
}

static char *
with_digest (const char *location, const char *digest)
{
  return xasprintf ("%s%sdigest=%s", location, strchr (location, '?') ? "&" : "?", digest);
}

static int
upload_start (husk_registry_client_t *c, char **location, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/blobs/uploads/", husk_registry_client_repository (c));
  struct husk_registry_request req = { .method = "POST", .path = path, .body_fd = -1, .body = "" };
  struct husk_registry_response res = { 0 };
  int ret;

  ret = husk_registry_request (c, &req, &res, err);
  if (ret < 0)
    return ret;
  if (res.status != 202 || res.location == NULL)
    {
      ret = res.status == 202 ? husk_make_error (err, 0, "the registry gave no upload location")
                              : husk_registry_response_error (&res, err);
      husk_registry_response_clear (&res);
      return ret;
    }
  *location = steal_pointer (&res.location);
  husk_registry_response_clear (&res);
  return 0;
}

static char octet_header[] = "Content-Type: application/octet-stream";
static char *const octet_headers[] = { octet_header, NULL };

/* PATCH chunks, each answered with the location of the next.  */
static int
upload_chunks (struct pusher *p, int slot, char **location, int fd, uint64_t size, husk_error_t *err)
{
  for (uint64_t off = 0; off < size;)
    {
      uint64_t len = size - off < CHUNK_SIZE ? size - off : CHUNK_SIZE;
      cleanup_free char *range = xasprintf ("Content-Range: %" PRIu64 "-%" PRIu64, off, off + len - 1);
      char *headers[] = { octet_header, range, NULL };
      struct husk_registry_request req = { .method = "PATCH",
                                           .path = *location,
                                           .headers = headers,
                                           .body_fd = fd,
                                           .body_offset = off,
                                           .body_len = len };
      struct husk_registry_response res = { 0 };
      int ret;

      ret = husk_registry_request (p->c, &req, &res, err);
      if (ret < 0)
        return ret;
      if (res.status != 202)
        {
          ret = husk_registry_response_error (&res, err);
          husk_registry_response_clear (&res);
          return ret;
        }
      if (res.location)
        {
          free (*location);
          *location = steal_pointer (&res.location);
        }
      husk_registry_response_clear (&res);
      off += len;
      husk_registry_progress_update (p->prog, slot, off);
    }
  return 0;
}

/* Upload a blob from fd (or from mem when fd < 0).  */
static int
upload_blob (struct pusher *p, int slot, int fd, const void *mem, uint64_t size, const char *digest,
             husk_error_t *err)
{
  cleanup_free char *location = NULL;
  cleanup_free char *url = NULL;
  struct husk_registry_request req = { .method = "PUT", .headers = octet_headers, .body_fd = -1 };
  struct husk_registry_response res = { 0 };
  int ret;

  ret = upload_start (p->c, &location, err);
  if (ret < 0)
    return husk_error_wrap (err, "uploading blob %s", digest);
  if (size > CHUNK_SIZE && fd >= 0)
    {
      ret = upload_chunks (p, slot, &location, fd, size, err);
      if (ret < 0)
        return husk_error_wrap (err, "uploading blob %s", digest);
      req.body = "";
    }
  else if (fd >= 0)
    {
      req.body_fd = fd;
      req.body_len = size;
    }
  else
    {
      req.body = mem;
      req.body_len = size;
    }
  url = with_digest (location, digest);
  req.path = url;
  ret = husk_registry_request (p->c, &req, &res, err);
  if (ret < 0)
    return husk_error_wrap (err, "uploading blob %s", digest);
  if (res.status != 201)
    {
      ret = husk_registry_response_error (&res, err);
      husk_registry_response_clear (&res);
      return husk_error_wrap (err, "uploading blob %s", digest);
    }
  husk_registry_response_clear (&res);
  husk_registry_progress_update (p->prog, slot, size);
  return 0;
}

/* ---- layers ---- */

static int
try_mount (struct pusher *p, const char *digest, const char *from, husk_error_t *err)
{
  int ret = blob_mount (p->c, digest, from, err);

  if (ret < 0)
    {
      /* A failed mount only costs the upload.  */
      husk_debug ("mounting %s from %s: %s", digest, from, (*err)->msg);
      husk_error_release (err);
      return 0;
    }
  return ret;
}

/* Does the repository have the blob, or can it mount it from a repository
   of the same registry: one the blob was pushed to before (locations,
   "host/repo"), or one the image came from or went to?  */
static int
reuse_known (struct pusher *p, const char *digest, char *const *locations, husk_error_t *err)
{
  const char *host = husk_registry_client_host (p->c);
  const char *repo = husk_registry_client_repository (p->c);
  size_t hlen = strlen (host);
  int ret = blob_exists (p->c, digest, err);

  if (ret != 0)
    return ret;
  for (char *const *loc = locations; loc && *loc; loc++)
    {
      const char *from = *loc + hlen + 1;
      if (strncmp (*loc, host, hlen) != 0 || (*loc)[hlen] != '/' || strcmp (from, repo) == 0)
        continue;
      ret = try_mount (p, digest, from, err);
      if (ret != 0)
        return ret;
    }
  for (char **from = p->mount_from; from && *from; from++)
    {
      if (strv_contains (locations, *from))
        continue;
      ret = try_mount (p, digest, *from, err);
      if (ret != 0)
        return ret;
    }
  return 0;
}

/* Remember the blob and where it now is, for the next push.  Only a blob
   of the layer's own tar describes it: a regenerated tar has another
   diffID and is not recorded under this one.  */
static void
record_blob (struct pusher *p, struct push_layer *l)
{
  cleanup_free char *location = NULL;
  husk_error_t ignored = NULL;

  if (strcmp (l->written_diff_id, l->diff_id) != 0)
    return;
  location = xasprintf ("%s/%s", husk_registry_client_host (p->c), husk_registry_client_repository (p->c));
  if (husk_store_layer_blob_record (p->s, l->diff_id, p->compression, l->digest, l->size, location, &ignored)
      < 0)
    {
      husk_debug ("%s", ignored->msg);
      husk_error_release (&ignored);
    }
}

static int
push_layer (struct pusher *p, struct push_layer *l, husk_error_t *err)
{
  enum husk_compression comp
      = p->opts->compression == HUSK_COMPRESSION_ZSTD ? HUSK_COMPRESSION_ZSTD : HUSK_COMPRESSION_GZIP;
  struct husk_layer_diff_result res = { 0 };
  cleanup_close int fd = -1;
  int slot, ret;

  slot = husk_registry_progress_start (p->prog, "blob", l->diff_id, l->known_size);
  if (l->known_digest)
    {
      ret = reuse_known (p, l->known_digest, l->known_locations, err);
      if (ret < 0)
        return ret;
      if (ret > 0)
        {
          l->digest = xstrdup (l->known_digest);
          l->size = l->known_size;
          l->written_diff_id = xstrdup (l->diff_id);
          record_blob (p, l);
          husk_registry_progress_done (p->prog, slot, "skipped: already exists");
          return 0;
        }
    }

  fd = husk_open_tmpfile (husk_store_tmpdir (p->s), err);
  if (fd < 0)
    return fd;
  ret = husk_image_layer_export (p->s, l->diff_id, comp, fd, &res, err);
  if (ret < 0)
    return ret;
  l->digest = steal_pointer (&res.digest);
  l->size = res.size;
  l->written_diff_id = steal_pointer (&res.diff_id);
  husk_layer_diff_result_clear (&res);

  if (l->known_digest == NULL || strcmp (l->known_digest, l->digest) != 0)
    {
      ret = reuse_known (p, l->digest, NULL, err);
      if (ret < 0)
        return ret;
      if (ret > 0)
        {
          record_blob (p, l);
          husk_registry_progress_done (p->prog, slot, "skipped: already exists");
          return 0;
        }
    }
  ret = upload_blob (p, slot, fd, NULL, l->size, l->digest, err);
  if (ret < 0)
    return ret;
  record_blob (p, l);
  husk_registry_progress_done (p->prog, slot, "done");
  return 0;
}

static void *
layer_worker (void *arg)
{
  struct pusher *p = arg;

  for (;;)
    {
      husk_error_t err = NULL;
      struct push_layer *l;

      pthread_mutex_lock (&p->mu);
      if (p->failed || p->next >= p->n_layers)
        {
          pthread_mutex_unlock (&p->mu);
          return NULL;
        }
      l = &p->layers[p->next++];
      pthread_mutex_unlock (&p->mu);

      if (push_layer (p, l, &err) < 0)
        {
          pthread_mutex_lock (&p->mu);
          if (!p->failed)
            {
              p->failed = true;
              p->err = steal_pointer (&err);
            }
          pthread_mutex_unlock (&p->mu);
          husk_error_release (&err);
          return NULL;
        }
    }
}

static int
push_all_layers (struct pusher *p, husk_error_t *err)
{
  pthread_t threads[MAX_WORKERS];
  size_t n_threads = 0;
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  size_t want = ncpu < 2 ? 2 : (size_t)ncpu;

  if (want > MAX_WORKERS)
    want = MAX_WORKERS;
  if (want > p->n_layers)
    want = p->n_layers;
  for (size_t i = 0; i < want; i++)
    {
      if (pthread_create (&threads[n_threads], NULL, layer_worker, p) != 0)
        break;
      n_threads++;
    }
  /* Without any thread, do the work here.  */
  if (n_threads == 0)
    layer_worker (p);
  for (size_t i = 0; i < n_threads; i++)
    pthread_join (threads[i], NULL);
  if (p->failed)
    {
      *err = steal_pointer (&p->err);
      return -1;
    }
  return 0;
}

/* ---- image, destination, manifest ---- */

/* The record for what the user typed, and the name it matched (NULL when
   given by id).  */
static int
find_image (husk_store_t *s, const char *image, struct husk_image_record **rec, char **name,
            husk_error_t *err)
{
  cleanup_reference struct husk_reference *ref = NULL;
  struct husk_image_record *const *all = NULL;
  const char *key = husk_has_prefix (image, "sha256:") ? image + strlen ("sha256:") : image;
  size_t n = 0;
  int ret;

  *name = NULL;
  ret = husk_store_image_find (s, key, rec, err);
  if (ret < 0)
    return ret;
  if (ret > 0)
    {
      if (strv_contains ((*rec)->names, image))
        *name = xstrdup (image);
      return 0;
    }
  if (husk_reference_parse (image, &ref, err) < 0)
    return husk_error_wrap (err, "%s: image not known", image);
  ret = husk_store_images (s, &all, &n, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; i < n; i++)
    for (char **nm = all[i]->names; nm && *nm; nm++)
      if (husk_reference_matches (ref, *nm))
        {
          *rec = all[i];
          *name = xstrdup (*nm);
          return 0;
        }
  return husk_make_error (err, 0, "%s: image not known", image);
}

static int
parse_destination (const char *dest, struct husk_reference **out, husk_error_t *err)
{
  static const char *const others[]
      = { "oci:", "oci-archive:", "docker-archive:", "dir:", "containers-storage:", "docker-daemon:", NULL };
  struct husk_reference *r = NULL;
  const char *s = dest;

  if (husk_has_prefix (s, "docker://"))
    s += strlen ("docker://");
  else
    for (size_t i = 0; others[i]; i++)
      if (husk_has_prefix (s, others[i]))
        return husk_make_error (err, 0, "%s: only docker:// destinations can be pushed to", dest);
  if (husk_reference_parse (s, &r, err) < 0)
    return -1;
  if (r->digest)
    {
      husk_reference_free (r);
      return husk_make_error (err, 0, "%s: cannot push to a digest reference", dest);
    }
  husk_reference_normalize_remote (r, "docker.io");
  if (r->tag == NULL)
    r->tag = xstrdup ("latest");
  *out = r;
  return 0;
}

/* Repositories on host other than ours that the image was pulled from or
   pushed to: blobs may be mounted from them.  */
static char **
mount_sources (const struct husk_image_record *rec, const char *host, const char *repo)
{
  char **out = xzalloc (sizeof (char *));
  char *const *lists[] = { rec->digests, rec->names };

  for (size_t k = 0; k < 2; k++)
    for (char *const *nm = lists[k]; nm && *nm; nm++)
      {
        cleanup_reference struct husk_reference *r = NULL;
        husk_error_t ignored = NULL;

        if (husk_reference_parse (*nm, &r, &ignored) < 0)
          {
            husk_error_release (&ignored);
            continue;
          }
        if (r->domain == NULL || strcmp (r->domain, host) != 0 || strcmp (r->path, repo) == 0
            || strv_contains (out, r->path))
          continue;
        strv_append (&out, r->path);
      }
  return out;
}

/* rootfs.diff_ids rewritten when a layer had to be regenerated with a
   different tar, as save does: the pushed image then has another id.  */
static int
final_config (struct pusher *p, char **config, size_t *config_len, husk_error_t *err)
{
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_strv char **ids = xzalloc (sizeof (char *));
  husk_json_t *rootfs;
  bool changed = false;

  for (size_t i = 0; i < p->n_layers; i++)
    {
      strv_append (&ids, p->layers[i].written_diff_id);
      if (strcmp (p->layers[i].written_diff_id, p->layers[i].diff_id) != 0)
        changed = true;
    }
  if (!changed)
    return 0;
  cfg = husk_json_parse (*config, *config_len, err);
  if (cfg == NULL)
    return husk_error_wrap (err, "parsing the image config");
  rootfs = husk_json_get (cfg, "rootfs");
  if (rootfs == NULL || husk_json_type (rootfs) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "the image config has no rootfs");
  husk_json_set (rootfs, "diff_ids", husk_json_from_strv (ids));
  free (*config);
  *config = husk_json_serialize (cfg, false, config_len);
  husk_warn ("layers were regenerated with different digests: the pushed image has a new id");
  return 0;
}

static char *
build_manifest (struct pusher *p, const char *config_digest, size_t config_len, const char **media_type,
                size_t *len)
{
  bool oci = p->opts->format == HUSK_MANIFEST_OCI;
  const char *layer_type = !oci                                            ? V2S2_LAYER_GZIP
                           : p->opts->compression == HUSK_COMPRESSION_ZSTD ? OCI_LAYER_ZSTD
                                                                           : OCI_LAYER_GZIP;
  cleanup_json husk_json_t *m = husk_json_new_object ();
  husk_json_t *cfg = husk_json_new_object ();
  husk_json_t *layers = husk_json_new_array ();

  *media_type = oci ? OCI_MANIFEST : V2S2_MANIFEST;
  husk_json_set_int (m, "schemaVersion", 2);
  husk_json_set_string (m, "mediaType", *media_type);
  husk_json_set_string (cfg, "mediaType", oci ? OCI_CONFIG : V2S2_CONFIG);
  husk_json_set_int (cfg, "size", (int64_t)config_len);
  husk_json_set_string (cfg, "digest", config_digest);
  husk_json_set (m, "config", cfg);
  for (size_t i = 0; i < p->n_layers; i++)
    {
      husk_json_t *d = husk_json_new_object ();
      husk_json_set_string (d, "mediaType", layer_type);
      husk_json_set_int (d, "size", (int64_t)p->layers[i].size);
      husk_json_set_string (d, "digest", p->layers[i].digest);
      husk_json_array_append (layers, d);
    }
  husk_json_set (m, "layers", layers);
  return husk_json_serialize (m, false, len);
}

static int
push_config (struct pusher *p, const char *config, size_t len, const char *digest, husk_error_t *err)
{
  int slot = husk_registry_progress_start (p->prog, "config", digest, len);
  int ret = reuse_known (p, digest, NULL, err);

  if (ret < 0)
    return ret;
  if (ret == 0)
    {
      ret = upload_blob (p, slot, -1, config, len, digest, err);
      if (ret < 0)
        return ret;
    }
  husk_registry_progress_done (p->prog, slot, "done");
  return 0;
}

static int
put_manifest (struct pusher *p, const char *tag, const char *manifest, size_t len, const char *media_type,
              const char *digest, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", husk_registry_client_repository (p->c), tag);
  cleanup_free char *ctype = xasprintf ("Content-Type: %s", media_type);
  char *headers[] = { ctype, NULL };
  struct husk_registry_request req = {
    .method = "PUT", .path = path, .headers = headers, .body = manifest, .body_fd = -1, .body_len = len
  };
  struct husk_registry_response res = { 0 };
  int ret;

  ret = husk_registry_request (p->c, &req, &res, err);
  if (ret < 0)
    return husk_error_wrap (err, "writing the manifest");
  if (res.status != 201 && res.status != 200)
    {
      ret = husk_registry_response_error (&res, err);
      husk_registry_response_clear (&res);
      return husk_error_wrap (err, "writing the manifest");
    }
  if (res.docker_content_digest && strcmp (res.docker_content_digest, digest) != 0)
    husk_warn ("the registry stored the manifest as %s, not %s", res.docker_content_digest, digest);
  husk_registry_response_clear (&res);
  return 0;
}

static int
write_digestfile (const char *path, const char *digest, husk_error_t *err)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  if (fd < 0)
    return husk_make_error (err, errno, "opening digest file `%s`", path);
  if (husk_write_all (fd, digest, strlen (digest), err) < 0)
    return husk_error_wrap (err, "writing digest file `%s`", path);
  return 0;
}

/* Under the shared lock: the layers, their known blobs, the config.  */
static int
read_image (struct pusher *p, const char *image, const char *destination, struct husk_reference **dest,
            char **config, size_t *config_len, char ***mount_from, husk_error_t *err)
{
  struct husk_image_record *rec = NULL;
  cleanup_free char *name = NULL;
  size_t n;
  int ret;

  ret = find_image (p->s, image, &rec, &name, err);
  if (ret < 0)
    return ret;
  if (destination == NULL && name == NULL)
    return husk_make_error (err, 0, "%s: an image given by id needs a destination", image);
  ret = parse_destination (destination ? destination : name, dest, err);
  if (ret < 0)
    return ret;
  ret = husk_store_image_config (p->s, rec->id, config, config_len, err);
  if (ret < 0)
    return ret;
  n = strv_len (rec->layers);
  p->layers = xzalloc ((n ? n : 1) * sizeof (*p->layers));
  p->n_layers = n;
  for (size_t i = 0; i < n; i++)
    {
      struct push_layer *l = &p->layers[i];
      l->diff_id = xstrdup (rec->layers[i]);
      ret = husk_store_layer_blob_lookup (p->s, l->diff_id, p->compression, &l->known_digest, &l->known_size,
                                          &l->known_locations, err);
      if (ret < 0)
        return ret;
    }
  *mount_from = mount_sources (rec, (*dest)->domain, (*dest)->path);
  return 0;
}

static int
open_client (struct pusher *p, const struct husk_reference *dest, husk_error_t *err)
{
  cleanup_registries_conf husk_registries_conf_t *conf = NULL;
  struct husk_registry_endpoint *eps = NULL;
  size_t n = 0;
  bool insecure = false;
  int ret;

  ret = husk_registries_conf_load (&conf, err);
  if (ret < 0)
    return ret;
  ret = husk_registries_conf_endpoints (conf, dest->domain, dest->path, &eps, &n, err);
  if (ret < 0)
    return ret;
  /* Pushes go to the registry itself, never to a mirror.  */
  for (size_t i = 0; i < n; i++)
    if (!eps[i].mirror)
      insecure = eps[i].insecure;
  husk_registry_endpoints_free (eps, n);
  return husk_registry_client_new (dest->domain, dest->path, true, &p->opts->reg, insecure, &p->c, err);
}

/* One request before the layer threads start: the scheme (https, or http
   for an insecure registry) and the token are settled once, not raced by
   every thread.  Any answer will do; a failure to connect is reported.  */
static int
ping (struct pusher *p, husk_error_t *err)
{
  struct husk_registry_request req = { .path = "/v2/", .body_fd = -1 };
  struct husk_registry_response res = { 0 };
  int ret = husk_registry_request (p->c, &req, &res, err);

  husk_registry_response_clear (&res);
  return ret;
}

int
husk_registry_push (husk_store_t *s, const char *image, const char *destination,
                    const struct husk_registry_push_opts *opts, char **digest, husk_error_t *err)
{
  struct pusher p = { .s = s, .opts = opts };
  cleanup_reference struct husk_reference *dest = NULL;
  cleanup_free char *config = NULL;
  cleanup_free char *config_digest = NULL;
  cleanup_free char *manifest = NULL;
  cleanup_free char *manifest_digest = NULL;
  const char *media_type = NULL;
  size_t config_len = 0, manifest_len = 0;
  bool locked = false;
  int ret;

  if (opts->compression == HUSK_COMPRESSION_ZSTD && opts->format == HUSK_MANIFEST_V2S2)
    return husk_make_error (err, 0, "zstd compression needs the oci manifest format, not v2s2");
  p.compression = opts->compression == HUSK_COMPRESSION_ZSTD ? "zstd" : "gzip";
  pthread_mutex_init (&p.mu, NULL);

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    goto out;
  locked = true;
  ret = read_image (&p, image, destination, &dest, &config, &config_len, &p.mount_from, err);
  if (ret < 0)
    goto out;
  ret = open_client (&p, dest, err);
  if (ret < 0)
    goto out;
  ret = ping (&p, err);
  if (ret < 0)
    goto out;
  p.prog = husk_registry_progress_new (opts->reg.quiet ? NULL : opts->reg.progress);
  husk_registry_progress_line (p.prog, "Getting image source signatures");
  ret = push_all_layers (&p, err);
  if (ret < 0)
    goto out;
  husk_store_unlock (s);
  locked = false;

  ret = final_config (&p, &config, &config_len, err);
  if (ret < 0)
    goto out;
  config_digest = husk_digest_buffer (config, config_len);
  ret = push_config (&p, config, config_len, config_digest, err);
  if (ret < 0)
    goto out;
  manifest = build_manifest (&p, config_digest, config_len, &media_type, &manifest_len);
  manifest_digest = husk_digest_buffer (manifest, manifest_len);
  husk_registry_progress_line (p.prog, "Writing manifest to image destination");
  ret = put_manifest (&p, dest->tag, manifest, manifest_len, media_type, manifest_digest, err);
  if (ret < 0)
    goto out;
  /* podman's last line; husk signs nothing (yet), as podman by default.  */
  husk_registry_progress_line (p.prog, "Storing signatures");
  if (opts->digestfile)
    {
      ret = write_digestfile (opts->digestfile, manifest_digest, err);
      if (ret < 0)
        goto out;
    }
  *digest = steal_pointer (&manifest_digest);

out:
  if (locked)
    husk_store_unlock (s);
  if (p.prog)
    husk_registry_progress_free (p.prog);
  if (p.c)
    husk_registry_client_free (p.c);
  push_layers_free (p.layers, p.n_layers);
  strv_free (p.mount_from);
  husk_error_release (&p.err);
  pthread_mutex_destroy (&p.mu);
  if (ret < 0 && dest)
    {
      cleanup_free char *ref = husk_reference_string (dest);
      return husk_error_wrap (err, "pushing %s", ref);
    }
  return ret;
}
