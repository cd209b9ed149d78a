/* husk: the on-disk store (DESIGN.md section 3).

   <root>/store.lock       flock: shared for readers, exclusive for writers
   <root>/driver           the storage driver chosen when the store was made
   <root>/layers/<hex>/    diff/ (overlay-format content), layer.json
   <root>/layers/.stage-*  layers being extracted; "incomplete" is flocked
                           by its owner, a free lock means the owner died
   <root>/images/images.json   the image index (array of records)
   <root>/images/<id>/     config.json, manifest.json
   <root>/tmp/             scratch space for this store

   Records are written atomically (husk_write_file_atomic).  Every function
   that reads the index needs at least the shared lock; every function that
   changes it needs the exclusive lock, which the caller takes with
   husk_store_lock () around resolve-and-change so two writers never act on
   the same stale view.  Taking the exclusive lock first repairs what a
   killed writer left (stale stages, image dirs not in the index, layers no
   image uses).  */
#ifndef HUSK_STORE_H
#define HUSK_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "husk/error.h"
#include "husk/json.h"

struct husk_store_opts
{
  const char *root;    /* --root, NULL for the default */
  const char *runroot; /* --runroot, NULL for the default */
  const char *driver;  /* --storage-driver: "overlay" or "vfs", NULL for default */
  const char *tmpdir;  /* --tmpdir, NULL for <root>/tmp */
};

typedef struct husk_store husk_store_t;

/* Resolve the root and runroot (root: /var/lib/husk and /run/husk; rootless:
   ${XDG_DATA_HOME:-~/.local/share}/husk and $XDG_RUNTIME_DIR/husk, else
   /run/user/$UID/husk if owned by the user with mode 0700, else
   ${TMPDIR:-/tmp}/husk-run-$UID created 0700, refusing one owned by someone
   else or writable by others), create them, open the root.  Does not lock.  */
int husk_store_open (const struct husk_store_opts *opts, husk_store_t **out, husk_error_t *err);
void husk_store_close (husk_store_t *s);
void cleanup_storep (husk_store_t **s);
#define cleanup_store __attribute__ ((cleanup (cleanup_storep)))

const char *husk_store_root (const husk_store_t *s);
const char *husk_store_runroot (const husk_store_t *s);
const char *husk_store_driver (const husk_store_t *s);
const char *husk_store_tmpdir (const husk_store_t *s);
int husk_store_rootfd (const husk_store_t *s);
bool husk_store_rootless (const husk_store_t *s);

/* Blocking flock on store.lock.  Re-locking changes the mode.  */
int husk_store_lock (husk_store_t *s, bool exclusive, husk_error_t *err);
void husk_store_unlock (husk_store_t *s);

/* ---- images ---- */

struct husk_image_record
{
  char *id;            /* 64 hex: sha256 of config.json */
  char **names;        /* full references, "docker.io/library/x:tag" */
  char **digests;      /* "repo@sha256:..." for names with a manifest digest */
  char *digest;        /* manifest digest, "sha256:..." */
  char **layers;       /* diffIDs, bottom first */
  uint64_t size;       /* sum of the layers' content sizes */
  int64_t created;     /* config "created", ns since epoch (0 if absent) */
  int64_t added;       /* when it entered this store, ns */
  husk_json_t *labels; /* config.Labels object, or NULL */
};
void husk_image_record_free (struct husk_image_record *r);
void cleanup_image_recordp (struct husk_image_record **r);
#define cleanup_image_record __attribute__ ((cleanup (cleanup_image_recordp)))

/* All images, in the order they were added; *out is a NULL-terminated
   array owned by the store (valid until the next change or close).  */
int husk_store_images (husk_store_t *s, struct husk_image_record *const **out, size_t *n, husk_error_t *err);
/* Exact full id, exact name, exact "repo@digest", or a unique id prefix (at
   least 3 hex digits).  Returns 1 and *out (owned by the store) if found, 0
   if not, negative on error (ambiguous prefix: an error).  */
int husk_store_image_find (husk_store_t *s, const char *key, struct husk_image_record **out,
                           husk_error_t *err);
/* Raw config.json and manifest.json of an image (malloc'd).  */
int husk_store_image_config (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err);
int husk_store_image_manifest (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err);

/* Set the full name list of an image (tag/untag).  Names given here are
   removed from any other image that had them.  Exclusive lock.  */
int husk_store_image_set_names (husk_store_t *s, const char *id, char *const *names, husk_error_t *err);
/* Remove an image record, its directory and every layer no other image
   uses.  Exclusive lock.  */
int husk_store_image_remove (husk_store_t *s, const char *id, husk_error_t *err);
/* True when a container record uses the image (containers arrive with the
   runtime; until then always false).  */
bool husk_store_image_in_use (husk_store_t *s, const char *id);

/* ---- layers ---- */

/* A layer being written: a staging directory under layers/ with a flocked
   incomplete marker.  No store lock is needed to create or fill one.  */
typedef struct husk_layer_stage husk_layer_stage_t;
int husk_store_layer_stage_new (husk_store_t *s, husk_layer_stage_t **out, husk_error_t *err);
/* fd of the empty diff/ directory to extract into.  */
int husk_layer_stage_dirfd (const husk_layer_stage_t *st);
/* Record what the extraction found; required before commit.  */
void husk_layer_stage_set (husk_layer_stage_t *st, const char *diff_id, uint64_t content_size,
                           const char *blob_digest, uint64_t blob_size, const char *media_type);
/* Bytes of the uncompressed tar (the diffID's content): the layer size in a
   manifest the store generates.  Not needed when blob_digest == diff_id.  */
void husk_layer_stage_set_diff_size (husk_layer_stage_t *st, uint64_t diff_size);
/* Remove the staging directory unless it was committed.  */
void husk_layer_stage_free (husk_layer_stage_t *st);
void cleanup_layer_stagep (husk_layer_stage_t **st);
#define cleanup_layer_stage __attribute__ ((cleanup (cleanup_layer_stagep)))

bool husk_store_layer_exists (husk_store_t *s, const char *diff_id);
/* "<root>/layers/<hex>/diff", malloc'd (the layer may not exist).  */
char *husk_store_layer_path (husk_store_t *s, const char *diff_id);
/* Content size recorded for a layer, or 0.  */
uint64_t husk_store_layer_size (husk_store_t *s, const char *diff_id);

/* ---- committing an image ---- */

struct husk_image_commit
{
  const char *config; /* raw bytes; the image id is their sha256 */
  size_t config_len;
  const char *manifest; /* raw bytes or NULL (an OCI manifest is generated
                           from the layers with uncompressed tar media types) */
  size_t manifest_len;
  const char *manifest_digest; /* digest the manifest had at its source, or NULL */
  char *const *names;          /* names to add (moved from other images) */
  husk_layer_stage_t **stages; /* filled stages; duplicates of layers
                                  already stored are discarded */
  size_t n_stages;
};

/* Exclusive lock.  Move the stages into place, verify that every diffID in
   the config's rootfs.diff_ids is now stored, write the image directory and
   add (or merge names into) the index record.  On failure nothing changes.
   Returns the image id in *id (malloc'd).  */
int husk_store_image_commit (husk_store_t *s, const struct husk_image_commit *c, char **id,
                             husk_error_t *err);

/* ---- maintenance ---- */

/* Exclusive lock.  Remove stale stages and unreferenced layers and image
   directories (also run whenever the exclusive lock is taken).  */
int husk_store_repair (husk_store_t *s, husk_error_t *err);

struct husk_store_usage
{
  uint64_t images_count, images_active, images_size, images_reclaimable;
  uint64_t layers_count, layers_size;
};
int husk_store_usage (husk_store_t *s, struct husk_store_usage *u, husk_error_t *err);

/* ---- compressed blobs of stored layers (blobcache.c) ---- */

/* The blob a stored layer is known to compress to with compression ("gzip",
   "zstd"): the one recorded by husk_store_layer_blob_record (in
   layers/<hex>/compressed.json), else the blob it was pulled from when that
   had this compression.  Lets a push ask the registry for the blob before
   compressing.  Returns 1 with *digest (malloc'd), *size and *locations
   ("host/repository" where the blob was pushed, most recent first;
   NULL-terminated, malloc'd, maybe empty), 0 when unknown.  Shared lock.  */
int husk_store_layer_blob_lookup (husk_store_t *s, const char *diff_id, const char *compression,
                                  char **digest, uint64_t *size, char ***locations, husk_error_t *err);
/* Remember what a layer compressed to and, when location is not NULL, that
   the blob is at location ("host/repository").  The entry for that
   compression is replaced atomically (locations kept while the digest is
   the same).  Shared lock.  */
int husk_store_layer_blob_record (husk_store_t *s, const char *diff_id, const char *compression,
                                  const char *digest, uint64_t size, const char *location, husk_error_t *err);

#endif
