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
#include <sys/types.h>

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
  /* Committed by a build step for its cache and never named or committed
     otherwise: `husk images` hides it without -a.  */
  bool intermediate;
  char **build_keys; /* cache keys of the build steps that produced it (NULL-terminated, maybe empty) */
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
/* The image a build step with this cache key produced (see
   husk_image_commit.build_key): 1 and *id (malloc'd), or 0.  Any lock.  */
int husk_store_image_find_build (husk_store_t *s, const char *key, char **id, husk_error_t *err);
/* Raw config.json and manifest.json of an image (malloc'd).  */
int husk_store_image_config (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err);
int husk_store_image_manifest (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err);

/* Set the full name list of an image (tag/untag).  Names given here are
   removed from any other image that had them.  Exclusive lock.  */
int husk_store_image_set_names (husk_store_t *s, const char *id, char *const *names, husk_error_t *err);
/* Remove an image record, its directory and every layer no other image
   uses.  Exclusive lock.  */
int husk_store_image_remove (husk_store_t *s, const char *id, husk_error_t *err);
/* True when a container record uses the image.  */
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
/* Bytes of the layer's uncompressed tar (the size a manifest gives a
   layer whose digest is its diffID), or 0.  */
uint64_t husk_store_layer_diff_size (husk_store_t *s, const char *diff_id);

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
  /* A build step's image, kept for the cache: marked intermediate unless
     the image is already stored and not intermediate; a commit without
     the flag clears it.  */
  bool intermediate;
  const char *build_key;       /* cache key added to the record's build_keys, or NULL */
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

/* A private directory for one process's scratch work, "<tmpdir>/<prefix>XXXXXX"
   (a build's work dirs, an extracted build context), holding a ".owner"
   file the process keeps locked through *lockfd: store repair removes the
   directories whose owner died (a build killed with SIGKILL).  Remove
   the directory, then close *lockfd.  No store lock needed.  */
int husk_store_scratch_dir (husk_store_t *s, const char *prefix, char **path, int *lockfd, husk_error_t *err);

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

/* ---- containers (containers.c) ----

   <root>/containers/containers.json   the index: one record per container
   <root>/containers/<id>/config.json  the container's configuration, as the
                                       CLI wrote it (opaque to the store)
   <root>/containers/<id>/state.json   struct husk_container_state
   <root>/containers/<id>/upper, work  the overlay upper and work dirs
   <root>/containers/<id>/ctr.log      the log (written by the monitor)
   <root>/containers/<id>/lock         flocked by whoever changes the state
   <runroot>/containers/<id>/          attach socket, monitor files, the
                                       generated hosts/resolv.conf/hostname

   The index holds what `ps` shows, so listing 1000 containers reads one
   index and 1000 small state files.  Index changes (create, remove, rename)
   need the exclusive store lock; state changes need only the container's
   own lock (husk_store_container_lock): the state is written atomically and
   whether a container runs is derived from its monitor's pid, start time
   and the boot id, never trusted.  */

struct husk_container_record
{
  char *id;            /* 64 hex */
  char *name;          /* unique, without a leading "/" */
  char *image_id;      /* 64 hex */
  char *image_name;    /* what the user asked for, normalized ("localhost/x:latest") */
  char **command;      /* entrypoint + cmd, as `ps` shows it */
  int64_t created;     /* ns since the epoch */
  husk_json_t *labels; /* object or NULL */
};
void husk_container_record_free (struct husk_container_record *r);

enum husk_container_status
{
  HUSK_CONTAINER_CREATED = 0,
  HUSK_CONTAINER_RUNNING,
  HUSK_CONTAINER_STOPPING, /* a stop was asked; still running */
  HUSK_CONTAINER_EXITED,
  HUSK_CONTAINER_REMOVING,
};
/* "created", "running", "stopping", "exited", "removing".  */
const char *husk_container_status_name (enum husk_container_status st);

struct husk_container_state
{
  enum husk_container_status status;
  pid_t pid;              /* the container's pid 1 (host pid namespace), 0 if none */
  pid_t monitor_pid;      /* 0 if none */
  uint64_t monitor_start; /* the monitor's start time (field 22 of /proc/<pid>/stat) */
  char *boot_id;          /* /proc/sys/kernel/random/boot_id when the monitor started */
  int exit_code;          /* valid when EXITED */
  bool oom_killed;
  bool stopped_by_user; /* stop/kill/rm: no restart policy applies */
  int64_t started_at;   /* ns, 0 never */
  int64_t finished_at;  /* ns, 0 never */
  unsigned restart_count;
  char *error;       /* why the last start failed, or NULL */
  char *cgroup_path; /* husk_cgroup_path () while it runs, or NULL */
};
void husk_container_state_clear (struct husk_container_state *st);

/* A new random id (64 hex, malloc'd).  */
char *husk_store_container_new_id (void);

struct husk_container_new
{
  const char *id;   /* from husk_store_container_new_id () */
  const char *name; /* NULL: a generated "adjective_noun" name */
  const char *image_id;
  const char *image_name;
  char *const *command;
  const husk_json_t *labels;
  const char *config; /* config.json bytes */
  size_t config_len;
  /* Skip fsync of the records (run --rm: the container never outlives
     this boot; a crash leaves a record that repair removes).  */
  bool ephemeral;
};

/* Exclusive lock.  Check the name is free ("the container name "x" is
   already in use by <id>. You have to remove that container to be able to
   reuse that name.", EEXIST), make the directory with upper/ and work/,
   write config.json and a CREATED state, then add the index record (last,
   so a crash before that leaves a directory repair removes).  *name_out
   (may be NULL) gets the name used.  */
int husk_store_container_create (husk_store_t *s, const struct husk_container_new *c, char **name_out,
                                 husk_error_t *err);

/* All containers, in the order they were created; *out is owned by the
   store (valid until the next change or close).  Shared lock.  */
int husk_store_containers (husk_store_t *s, struct husk_container_record *const **out, size_t *n,
                           husk_error_t *err);
/* Exact id, exact name (a leading "/" is ignored), or a unique id prefix.
   1 and *out (owned by the store) if found, 0 if not, negative on error
   (an ambiguous prefix).  Shared lock.  */
int husk_store_container_find (husk_store_t *s, const char *key, struct husk_container_record **out,
                               husk_error_t *err);
/* config.json (malloc'd).  No lock needed.  */
int husk_store_container_config (husk_store_t *s, const char *id, char **data, size_t *len,
                                 husk_error_t *err);

/* Read state.json and derive liveness: RUNNING or STOPPING whose monitor is
   gone (pid missing, other start time, other boot id) reads as EXITED with
   the recorded exit code if the monitor wrote one (finished_at set and >=
   started_at: a monitor records an exit by setting both), else 137 and an
   error "the container's monitor died"; pid and monitor_pid then read 0.  A missing state file is an error
   (ENOENT: the container was removed).  No lock needed.  */
int husk_store_container_state (husk_store_t *s, const char *id, struct husk_container_state *st,
                                husk_error_t *err);
/* Replace state.json atomically.  The caller holds the container lock.  */
int husk_store_container_state_write (husk_store_t *s, const char *id, const struct husk_container_state *st,
                                      husk_error_t *err);
/* True when pid is alive and started at start_time (/proc/<pid>/stat) in
   this boot (boot_id NULL: not checked).  */
bool husk_store_pid_alive (pid_t pid, uint64_t start_time, const char *boot_id);
/* The start time of pid (field 22 of /proc/<pid>/stat), 0 if gone.  */
uint64_t husk_store_pid_start_time (pid_t pid);
/* This boot's id (static storage).  */
const char *husk_store_boot_id (void);

/* Blocking flock on containers/<id>/lock; *fd gets the lock's fd (close it
   to unlock; a child forked while it is open shares the lock until it
   closes its copy too).  Fails with ENOENT ("no such container") when the container
   was removed before or while waiting.  No store lock needed (and none may
   be held while waiting: take this one first).  */
int husk_store_container_lock (husk_store_t *s, const char *id, int *fd, husk_error_t *err);

/* Exclusive lock.  Give a container another name (a leading "/" is
   ignored); the same errors as create for an invalid or taken name, ENOENT
   for an unknown id.  */
int husk_store_container_rename (husk_store_t *s, const char *id, const char *name, husk_error_t *err);

/* Exclusive lock.  Remove the index record first, then the directory and
   the runroot directory.  ENOENT when it is already gone.  The caller has
   made sure it does not run.  */
int husk_store_container_remove (husk_store_t *s, const char *id, husk_error_t *err);

/* "<root>/containers/<id>" and "<runroot>/containers/<id>" (malloc'd).
   The rundir variant creates the directory (0700) when create is true.  */
char *husk_store_container_dir (husk_store_t *s, const char *id);
int husk_store_container_rundir (husk_store_t *s, const char *id, bool create, char **out, husk_error_t *err);

/* ---- events ----

   <runroot>/events.log: one JSON line per event, appended with a single
   write (O_APPEND), in Podman's event JSON:
     {"ID":..., "Image":..., "Name":..., "Status":"start",
      "Time":"<RFC3339Nano>", "Type":"container", "Attributes":{...},
      "ContainerExitCode":N (die only), "timeNano":N}
   Attributes hold strings only: image and name for containers, the
   caller's extra attributes (numbers printed as decimals) and, when the
   caller passes an object "labels", each label flattened as key=value.
   Past 1 MiB the file is renamed to events.log.1 (the previous .1 is
   lost); readers read .1 first.  Writing an event never fails the
   command: a failure is warned about once per process.  */

/* type: "container", "image", "volume"; action: create, start, die,
   stop, kill, remove, restart, pull, push, tag, untag, commit, exec,
   attach, pause, unpause, health_status ...  id, name, attributes may be
   NULL.  "Image" is attributes' "image" string; "ContainerExitCode" its
   "exitCode".  */
void husk_store_event (husk_store_t *s, const char *type, const char *action, const char *id,
                       const char *name, const husk_json_t *attributes);

/* A container event: name, image and labels are read from the
   container's config.json ("Name", "ImageName", "Config.Labels", as the
   CLI writes it; no lock needed), so call it before a remove.  extra
   (may be NULL) adds attributes (exitCode, signal ...).  */
void husk_store_event_container (husk_store_t *s, const char *action, const char *id,
                                 const husk_json_t *extra);

/* Called with each event (the parsed line, owned by the reader) in file
   order; a negative return stops the read with that error, a positive
   one stops it with success.  */
typedef int (*husk_store_event_fn) (const husk_json_t *event, void *ctx, husk_error_t *err);

/* Read events whose time is in [since, until] (ns; 0: unbounded) from
   events.log.1 then events.log.  follow: then wait for new lines
   (inotify) until stop_fd (>= 0) becomes readable, or until is reached;
   without follow return at the end of the file.  Malformed lines are
   skipped.  */
int husk_store_events_read (husk_store_t *s, int64_t since, int64_t until, bool follow, int stop_fd,
                            husk_store_event_fn fn, void *ctx, husk_error_t *err);

#endif
