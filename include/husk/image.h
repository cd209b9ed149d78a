/* husk: image references, configs and manifests, and archive formats
   (docker-archive, oci-archive).  */
#ifndef HUSK_IMAGE_H
#define HUSK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "husk/error.h"
#include "husk/json.h"
#include "husk/layer.h"
#include "husk/store.h"

/* ---- references ---- */

struct husk_reference
{
  char *domain; /* "docker.io", "localhost:5000", or NULL for a short name */
  char *path;   /* "library/alpine", "foo/bar" */
  char *tag;    /* NULL if none */
  char *digest; /* "sha256:..." or NULL */
};
void husk_reference_free (struct husk_reference *r);
void cleanup_referencep (struct husk_reference **r);
#define cleanup_reference __attribute__ ((cleanup (cleanup_referencep)))

/* Parse with Docker's grammar (lowercase repository, domain when the first
   component has '.' or ':' or is "localhost", tag [\w][\w.-]{0,127}, digest
   "sha256:" + 64 hex).  Errors name the reference and what is wrong.  No
   defaults are applied: domain may be NULL and tag NULL.  */
int husk_reference_parse (const char *s, struct husk_reference **out, husk_error_t *err);

/* Fill defaults for a name the user gives to a new local image (import,
   tag, build, load of an untagged name): a short name gets "localhost"
   (Podman's rule), "docker.io/x" gets "library/"; no tag and no digest
   gets ":latest".  */
void husk_reference_normalize_local (struct husk_reference *r);
/* Same for pulls: a short name gets default_domain ("docker.io") and
   docker.io single-component paths get "library/".  */
void husk_reference_normalize_remote (struct husk_reference *r, const char *default_domain);

/* "domain/path[:tag][@digest]" (short names without domain). malloc'd.  */
char *husk_reference_string (const struct husk_reference *r);
/* "domain/path" */
char *husk_reference_repository (const struct husk_reference *r);

/* Does the stored full name (e.g. "docker.io/library/alpine:latest") match
   what the user typed (r: parsed, maybe short, tag defaulting to latest)?
   A short name matches any stored name whose repository is the same path or
   ends in "/" + path.  */
bool husk_reference_matches (const struct husk_reference *r, const char *stored_name);

/* ---- configs ---- */

/* A fresh config for an imported image: architecture and os of this host,
   created = now (ns), rootfs with the given diffIDs, one history entry.  */
husk_json_t *husk_image_config_new (char *const *diff_ids, int64_t created, const char *created_by,
                                    const char *comment);
/* Apply one Dockerfile-style change (--change "CMD [\"sh\"]", "ENV A=b",
   "EXPOSE 80/tcp", "LABEL a=b", "USER u", "WORKDIR /x", "VOLUME /v",
   "ENTRYPOINT ...", "STOPSIGNAL SIGTERM", "ONBUILD ...") to
   config["config"].  Unknown instructions are an error.  */
int husk_image_config_apply_change (husk_json_t *config, const char *change, husk_error_t *err);

/* The host's GOARCH name ("amd64", "arm64", ...).  */
const char *husk_image_host_arch (void);

/* ---- archives ---- */

enum husk_archive_format
{
  HUSK_ARCHIVE_DOCKER, /* docker-archive: manifest.json + repositories */
  HUSK_ARCHIVE_OCI,    /* oci-archive: oci-layout, index.json, blobs/ */
};

/* Write the images (ids, with the names to record for each: the names the
   user asked for, or all the image's names) as one archive to out_fd.
   docker-archive: layers as uncompressed "<hex>/layer.tar" blobs,
   config "<hex>.json", manifest.json and repositories.  oci-archive: OCI
   image layout with one manifest per image and the names as
   org.opencontainers.image.ref.name annotations.  Shared lock held by the
   caller.  */
struct husk_archive_image
{
  const char *id;
  char *const *names;
};
int husk_archive_save (husk_store_t *s, const struct husk_archive_image *images, size_t n,
                       enum husk_archive_format format, int out_fd, husk_error_t *err);

/* Read an archive (plain, gzip or zstd; either format, detected) from
   in_fd, extracting layers into stages while streaming, verifying every
   blob digest and diffID, and commit each image with its names.  Nothing
   is committed unless the whole archive is valid.  Returns the loaded
   images' ids and names through the callback, in archive order.  Takes the
   exclusive lock itself only for the commit.  */
typedef void (*husk_archive_loaded_fn) (void *ctx, const char *id, char *const *names);
int husk_archive_load (husk_store_t *s, int in_fd, husk_archive_loaded_fn loaded, void *ctx,
                       husk_error_t *err);

/* husk_layer_apply into a stage, also keeping a tar-split next to its
   diff/ so that husk_archive_save can write the layer back byte for byte
   and the image keeps its id (as podman does).  Pulls should extract with
   this rather than husk_layer_apply.  The stage is filled
   (husk_layer_stage_set, with the given media type or, when NULL, one
   derived from the compression found) on success.  */
int husk_image_layer_apply (husk_layer_stage_t *stage, husk_read_fn read, void *ctx,
                            const struct husk_layer_apply_opts *opts, const char *media_type,
                            struct husk_layer_apply_result *res, husk_error_t *err);

/* Import a tarball (rootfs, maybe compressed) as a single-layer image with
   the given config changes and message; returns the id.  */
int husk_image_import (husk_store_t *s, int in_fd, char *const *changes, const char *message,
                       char *const *names, char **id, husk_error_t *err);

/* ---- exporting stored layers ---- */

/* A stored layer as a blob for a registry: its tar as husk_archive_save
   writes it (replayed from the tar-split, so res->diff_id is the diffID the
   config names; regenerated with husk_layer_diff when no usable tar-split
   is kept, and then res->diff_id may differ from diff_id), compressed with
   compression (gzip: ISA-L when built with it, as husk_layer_diff) into
   out_fd, which must be a regular file: it is truncated and rewritten when
   a replay does not reproduce diff_id.  res->digest and res->size are those
   of the compressed blob.  Shared lock held by the caller.  */
int husk_image_layer_export (husk_store_t *s, const char *diff_id, enum husk_compression compression,
                             int out_fd, struct husk_layer_diff_result *res, husk_error_t *err);

/* ---- a container's files: cp, diff, export (container-fs.c) ----

   Paths on the container's side are resolved inside rootfd (openat2
   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), everything below them by fd
   with O_NOFOLLOW: a symlink swapped in meanwhile fails the copy, it
   never leads out of the root.  Ids are numeric (no NSS).  */

/* stat (lstat unless follow) of path inside rootfd.  */
int husk_fs_stat_in_root (int rootfd, const char *path, bool follow, struct stat *st, husk_error_t *err);

struct husk_fs_change
{
  char *path; /* "/etc/passwd" */
  char kind;  /* 'A' added, 'C' changed, 'D' deleted */
};
/* What an overlay upper dir changes over its lower dirs (bottom first),
   read from the upper dir alone: a whiteout is D, a name a lower has is C,
   others A (directories included).  Sorted by path.  */
int husk_fs_changes (int upperfd, char *const *lower_dirs, struct husk_fs_change **out, size_t *n,
                     husk_error_t *err);
void husk_fs_changes_free (struct husk_fs_change *c, size_t n);

/* What the runtime made in a container's upper dir only to mount on: the
   empty files and directories named by targets (absolute container paths;
   NULL: /proc /sys /dev /etc/hosts /etc/hostname /etc/resolv.conf) that
   no lower dir has, and the directories holding nothing else (/etc copied
   up only to hold a created /etc/hosts).  Docker and Buildah leave them
   out of commits and build layers.  Returns paths relative to the upper
   dir for husk_layer_diff_skip (NULL-terminated, maybe empty).  */
char **husk_fs_mount_targets (int upperfd, char *const *lower_dirs, char *const *targets);

/* Write path (inside rootfd; follow: a symlink there is followed, inside
   the root) as a tar stream to out_fd.  Entries are named name, name/...;
   name "" writes a directory's contents without an entry for itself (then
   top-level names in skip, NULL-terminated or NULL, are left out).  */
int husk_fs_tar_write (int rootfd, const char *path, bool follow, const char *name, const char *const *skip,
                       int out_fd, husk_error_t *err);

enum husk_fs_owner
{
  HUSK_FS_OWNER_KEEP, /* the ids of the stream */
  HUSK_FS_OWNER_ROOT, /* 0:0 */
  HUSK_FS_OWNER_NONE, /* no chown: the caller's ids */
};
struct husk_fs_extract_opts
{
  enum husk_fs_owner owner;
};
/* Extract a (maybe compressed) tar stream into the directory destfd, which
   is the root for every entry: ".." is refused, a symlink in the tree can
   only lead to another place below destfd.  An existing non-directory is
   replaced; a directory over a non-directory (or the reverse) is an error.  */
int husk_fs_tar_extract (int destfd, int in_fd, const struct husk_fs_extract_opts *o, husk_error_t *err);

#endif
