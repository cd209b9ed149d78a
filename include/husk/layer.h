/* husk: layers as tar streams.  Apply a (gzip, zstd or plain) tar into a
   layer directory converting OCI whiteouts to overlay whiteouts, and the
   reverse: a layer directory (or an overlay upper dir) to a tar stream.  */
#ifndef HUSK_LAYER_H
#define HUSK_LAYER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"

enum husk_compression
{
  HUSK_COMPRESSION_NONE,
  HUSK_COMPRESSION_GZIP,
  HUSK_COMPRESSION_ZSTD,
};

/* Detect from the first bytes (at least 4 are needed).  */
enum husk_compression husk_compression_detect (const void *head, size_t len);
const char *husk_compression_name (enum husk_compression c); /* "none" "gzip" "zstd" */

/* A pull-style byte source: returns bytes read, 0 at end, -1 with errno on
   error.  Used for files, pipes, curl streams and archive entries alike.  */
typedef ssize_t (*husk_read_fn) (void *ctx, void *buf, size_t len);

/* A reader over a file descriptor, for husk_layer_apply (husk_read_fd, &fd, ...).  */
ssize_t husk_read_fd (void *fdp, void *buf, size_t len);

struct husk_layer_apply_opts
{
  /* Fail once the uncompressed stream exceeds this many bytes (0: no cap).  */
  uint64_t max_uncompressed;
  /* Use user.overlay.* xattrs (overlay with userxattr, rootless) instead of
     trusted.overlay.* for opaque directories.  */
  bool userxattr;
  /* Do not chown (rootless without a user namespace); modes are kept.  */
  bool no_chown;
};

struct husk_layer_apply_result
{
  char *blob_digest;     /* sha256 of the bytes as read (compressed) */
  uint64_t blob_size;    /* bytes read */
  char *diff_id;         /* sha256 of the uncompressed tar */
  uint64_t diff_size;    /* bytes of the uncompressed tar */
  uint64_t content_size; /* sum of regular file sizes written */
  enum husk_compression compression;
};
void husk_layer_apply_result_clear (struct husk_layer_apply_result *r);

/* Extract the stream into target_dirfd (an empty directory).  Entries are
   resolved inside target_dirfd: absolute names are made relative, "..",
   symlinks and hardlinks that would leave the directory are refused and
   the whole apply fails.  ".wh.<name>" becomes a 0:0 character device
   <name>; ".wh..wh..opq" marks its directory opaque (overlay xattr).
   Ownership (when running as root or in a user namespace), modes, mtimes
   and xattrs are kept.  The stream is read to its end so digests cover all
   of it.  */
int husk_layer_apply (husk_read_fn read, void *ctx, int target_dirfd,
                      const struct husk_layer_apply_opts *opts, struct husk_layer_apply_result *res,
                      husk_error_t *err);

struct husk_layer_diff_result
{
  char *digest;  /* sha256 of the bytes written (compressed if asked) */
  uint64_t size; /* bytes written */
  char *diff_id; /* sha256 of the uncompressed tar */
  uint64_t diff_size;
};
void husk_layer_diff_result_clear (struct husk_layer_diff_result *r);

/* Write the tree under dirfd as a tar stream to out_fd, in sorted name
   order with deterministic headers (PAX, uid/gid/mode/mtime kept, no atime),
   converting overlay whiteouts (0:0 char devices, opaque xattrs) to OCI
   ".wh." entries.  */
int husk_layer_diff (int dirfd, int out_fd, enum husk_compression compression,
                     struct husk_layer_diff_result *res, husk_error_t *err);

/* husk_layer_diff leaving out skip's entries (paths relative to dirfd,
   no leading "/", e.g. "etc/hosts"; a directory goes with everything
   under it).  NULL: nothing left out.  */
int husk_layer_diff_skip (int dirfd, char *const *skip, int out_fd, enum husk_compression compression,
                          struct husk_layer_diff_result *res, husk_error_t *err);

/* Just compute the diffID and size of the tar husk_layer_diff would write,
   without writing it anywhere.  */
int husk_layer_digest_dir (int dirfd, char **diff_id, uint64_t *diff_size, husk_error_t *err);

#endif
