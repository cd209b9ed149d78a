/* husk: what the files of src/store/ share.  Not part of the store's
   interface: only the files of src/store/ and tests/unit/test-store.c include it.  */
#ifndef HUSK_STORE_INTERNAL_H
#define HUSK_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "husk/error.h"
#include "husk/store.h"

struct husk_store
{
  char *root;
  char *runroot;
  char *driver;
  char *tmpdir;
  bool rootless;

  int rootfd;
  int layersfd;
  int imagesfd;

  int lockfd;    /* store.lock, opened on first use */
  int lock_mode; /* 0, LOCK_SH or LOCK_EX */

  /* The parsed images.json and the identity of the file it came from, so
     a later call re-reads it only when another process replaced it.  */
  struct husk_image_record **images; /* NULL-terminated */
  size_t n_images;
  bool index_loaded;
  bool index_missing;
  dev_t index_dev;
  ino_t index_ino;
  off_t index_size;
  struct timespec index_mtime;

  /* containers/, opened on first use (-1 until then), and the parsed
     containers/containers.json, cached like images.json.  ctr_boots runs
     parallel to ctrs: the boot id an ephemeral (run --rm) container was
     made in, NULL for the others.  */
  int containersfd;
  struct husk_container_record **ctrs; /* NULL-terminated */
  char **ctr_boots;
  size_t n_ctrs;
  bool ctr_loaded;
  bool ctr_missing;
  dev_t ctr_dev;
  ino_t ctr_ino;
  off_t ctr_size;
  struct timespec ctr_mtime;
};

/* The values the rootless runroot choice depends on, so the choice can be
   tested without being that user.  run_user_base is normally "/run/user".  */
struct husk_runroot_env
{
  uid_t uid;   /* the user outside any namespace: names /run/user/$UID, husk-run-$UID */
  uid_t owner; /* the owner of the user's files as seen here: geteuid (), 0 in the rootless namespace */
  const char *xdg_runtime_dir;
  const char *run_user_base;
  const char *tmpdir;
};

/* Pick (and for the ${TMPDIR:-/tmp} fallback, create) the directory under
   which the rootless runroot "husk" lives; *out is the runroot itself.  */
int husk_store_choose_runroot (const struct husk_runroot_env *env, char **out, husk_error_t *err);

/* Fail unless the caller holds the exclusive store lock.  */
int husk_store_require_exclusive (husk_store_t *s, const char *what, husk_error_t *err);

/* Load (or reuse) the index.  */
int husk_store_index_load (husk_store_t *s, husk_error_t *err);
/* Replace the index with recs (takes ownership of the array and records
   on success and on failure).  */
int husk_store_index_write (husk_store_t *s, struct husk_image_record **recs, size_t n, husk_error_t *err);
/* Deep copy of the current index, for a change that may still fail.  */
struct husk_image_record **husk_store_index_copy (husk_store_t *s, size_t *n);
void husk_image_records_free (struct husk_image_record **recs);
struct husk_image_record *husk_image_record_dup (const struct husk_image_record *r);

/* True for exactly 64 lowercase hex digits.  */
bool husk_store_is_hex64 (const char *s);
/* The layer directory name for a diffID ("sha256:<hex>" or "<hex>"), or NULL
   if it is not a valid sha256 digest.  */
const char *husk_store_layer_key (const char *diff_id);

struct husk_layer_stage
{
  husk_store_t *store;
  int layersfd; /* a dup, so freeing a stage never depends on the store */
  char *name;   /* ".stage-XXXXXX" */
  int lockfd;   /* the flocked "incomplete" marker */
  int topfd;    /* the stage directory */
  int dirfd;    /* its diff/ */
  bool committed;

  char *diff_id;
  uint64_t diff_size; /* bytes of the uncompressed tar */
  uint64_t content_size;
  char *blob_digest;
  uint64_t blob_size;
  char *media_type;
};

/* layer.json for a stage, compact.  */
char *husk_layer_stage_json (const husk_layer_stage_t *st);

/* Read layer.json of a stored layer.  */
struct husk_layer_info
{
  uint64_t diff_size;
  uint64_t content_size;
};
int husk_store_layer_info (husk_store_t *s, const char *hex, struct husk_layer_info *info, husk_error_t *err);

/* Remove a stored layer so it stops counting as present first (layer.json
   goes before the content), then its directory.  */
int husk_store_layer_delete (husk_store_t *s, const char *hex, husk_error_t *err);

/* Free the cached container index and close containersfd (store close).  */
void husk_store_containers_release (husk_store_t *s);
/* Exclusive lock: remove container directories that have no index record
   (creates and removals that died half-way), index records whose
   directory is missing, and ephemeral containers of an earlier boot.
   Runroot directories are left alone: several roots may share one
   runroot, and a reboot empties it anyway.  */
int husk_store_containers_repair (husk_store_t *s, husk_error_t *err);

#endif
