/* husk: tar-split, internal to src/image.

   The store keeps layers extracted, so the original tar is gone; but an
   image's config names its layers by the sha256 of those exact tars.  To
   save an image with its own id (as podman and docker do), everything of
   the tar except regular file contents (headers, PAX and GNU long-name
   records, padding, the trailer) is recorded while the layer is applied,
   in "tar-split.gz" next to the layer's diff/ directory.  Saving replays
   it, reading file contents back from diff/, and gets the same bytes.  */
#ifndef HUSK_IMAGE_TARSPLIT_H
#define HUSK_IMAGE_TARSPLIT_H

#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"
#include "husk/layer.h"

typedef struct husk_tarsplit husk_tarsplit_t;

/* A recorder writing into the directory holding diff_dirfd (a stage).
   Never fails: anything it cannot record (no space, a sparse file, a
   stream it cannot parse) just means no tar-split is kept.  */
husk_tarsplit_t *husk_tarsplit_new (int diff_dirfd);
/* A reader to pass to husk_layer_apply: it reads from inner and records.  */
ssize_t husk_tarsplit_read (void *tarsplit, void *buf, size_t len);
void husk_tarsplit_set_source (husk_tarsplit_t *t, husk_read_fn inner, void *ctx);
/* Keep the record if the apply succeeded, else drop it; frees t.  */
void husk_tarsplit_finish (husk_tarsplit_t *t, bool keep);

/* Rebuild the tar of the layer whose diff/ is at diff_path into out_fd.
   Returns 1 and the diffID and size of what was written, 0 when the layer
   has no usable tar-split (nothing useful written: the caller truncates
   and falls back), negative on an error worth reporting.  */
int husk_tarsplit_rebuild (const char *diff_path, int out_fd, char **diff_id, uint64_t *size,
                           husk_error_t *err);

#endif
