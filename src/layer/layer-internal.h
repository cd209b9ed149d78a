/* husk: layer module internals shared by apply.c, diff.c and compression.c.  */
#ifndef HUSK_LAYER_INTERNAL_H
#define HUSK_LAYER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/digest.h"
#include "husk/error.h"
#include "husk/layer.h"

struct layer_inflater;

/* A pull stream of uncompressed tar bytes over a husk_read_fn: digests the
   raw bytes (blob digest) and the decompressed ones (diffID) as they pass.  */
struct layer_source
{
  husk_read_fn read;
  void *ctx;
  enum husk_compression compression;
  uint64_t max_uncompressed;

  husk_digester_t *blob;
  uint64_t blob_size;
  husk_digester_t *diff;
  uint64_t diff_size;

  unsigned char *in;
  size_t in_pos, in_len;
  bool in_eof;
  bool done; /* end of the (last) compressed stream reached */

  struct layer_inflater *gz;
  void *zstd; /* ZSTD_DStream */
  size_t zstd_hint;

  /* First error, returned again by every later read.  */
  husk_error_t err;
};

/* Reads the first bytes to detect the compression.  */
int layer_source_init (struct layer_source *s, husk_read_fn read, void *ctx, uint64_t max_uncompressed,
                       husk_error_t *err);
/* Uncompressed bytes: > 0, 0 at the end, -1 with s->err set.  */
ssize_t layer_source_read (struct layer_source *s, void *buf, size_t len);
/* Read to the end so the digests cover the whole stream.  */
int layer_source_drain (struct layer_source *s, husk_error_t *err);
void layer_source_fini (struct layer_source *s);

/* A push stream: tar bytes in, digested, optionally compressed, digested
   again and written to fd (or only digested when fd < 0).  */
struct layer_sink
{
  int fd;
  enum husk_compression compression;
  husk_digester_t *diff;
  uint64_t diff_size;
  husk_digester_t *out;
  uint64_t out_size;
  void *z;    /* z_stream */
  void *zstd; /* ZSTD_CStream */
  void *isal; /* struct isal_zstream, when ISA-L compresses gzip */
  unsigned char *obuf;
  size_t obuf_size;
  husk_error_t err;
};

int layer_sink_init (struct layer_sink *s, int fd, enum husk_compression compression, husk_error_t *err);
/* 0 or -1 with s->err set.  */
int layer_sink_write (struct layer_sink *s, const void *data, size_t len);
/* Flush the compressor.  */
int layer_sink_finish (struct layer_sink *s, husk_error_t *err);
void layer_sink_fini (struct layer_sink *s);

#endif
