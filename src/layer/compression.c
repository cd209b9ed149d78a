/* husk: layer streams.  Decompression is done here rather than by libarchive
   so the uncompressed bytes can be digested (the diffID) while they stream,
   and compression likewise so a diff yields both digests in one pass.  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "config.h"
#if HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "husk/fs.h"
#include "husk/util.h"
#include "layer-internal.h"

#define IN_BUF_SIZE  (128 * 1024)
#define OUT_BUF_SIZE (128 * 1024)

enum husk_compression
husk_compression_detect (const void *head, size_t len)
{
  const unsigned char *p = head;

  if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
    return HUSK_COMPRESSION_GZIP;
  if (len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
    return HUSK_COMPRESSION_ZSTD;
  return HUSK_COMPRESSION_NONE;
}

const char *
husk_compression_name (enum husk_compression c)
{
  switch (c)
    {
    case HUSK_COMPRESSION_GZIP:
      return "gzip";
    case HUSK_COMPRESSION_ZSTD:
      return "zstd";
    case HUSK_COMPRESSION_NONE:
    default:
      return "none";
    }
}

ssize_t
husk_read_fd (void *fdp, void *buf, size_t len)
{
  int fd = *(int *)fdp;
  ssize_t n;

  do
    n = read (fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n;
}

#if HAVE_ISAL
static bool
isal_enabled (void)
{
  const char *no = getenv ("HUSK_NO_ISAL");
  return no == NULL || *no == '\0' || strcmp (no, "0") == 0;
}
#endif

/* gzip inflate: ISA-L igzip when built with it (about twice as fast), zlib
   otherwise or when HUSK_NO_ISAL is set (lets the tests cover both).  */
struct layer_inflater
{
  bool started; /* bytes of the current member were fed */
#if HAVE_ISAL
  struct inflate_state *isal;
#endif
  z_stream z;
  bool z_init;
};

static int
inflater_new (struct layer_inflater **out, husk_error_t *err)
{
  struct layer_inflater *g = xzalloc (sizeof (*g));

#if HAVE_ISAL
  if (isal_enabled ())
    {
      g->isal = xzalloc (sizeof (*g->isal));
      isal_inflate_init (g->isal);
      g->isal->crc_flag = ISAL_GZIP;
      *out = g;
      return 0;
    }
#endif
  /* 16 + MAX_WBITS: gzip wrapper only.  */
  if (inflateInit2 (&g->z, 16 + MAX_WBITS) != Z_OK)
    {
      free (g);
      return husk_make_error (err, ENOMEM, "inflateInit2");
    }
  g->z_init = true;
  *out = g;
  return 0;
}

static void
inflater_free (struct layer_inflater *g)
{
  if (g == NULL)
    return;
#if HAVE_ISAL
  free (g->isal);
#endif
  if (g->z_init)
    inflateEnd (&g->z);
  free (g);
}

/* One inflate step.  Returns 1 when a gzip member ended (the next bytes, if
   any, start another member), 0 to go on, -1 on corrupt data.  */
static int
inflater_step (struct layer_inflater *g, const unsigned char *in, size_t in_len, size_t *consumed, void *out,
               size_t out_len, size_t *produced, const char **why)
{
  if (in_len > 0)
    g->started = true;
  if (out_len > UINT32_MAX)
    out_len = UINT32_MAX;
  if (in_len > UINT32_MAX)
    in_len = UINT32_MAX;
#if HAVE_ISAL
  if (g->isal)
    {
      struct inflate_state *st = g->isal;
      int r;

      st->next_in = (uint8_t *)in;
      st->avail_in = (uint32_t)in_len;
      st->next_out = out;
      st->avail_out = (uint32_t)out_len;
      r = isal_inflate (st);
      *consumed = in_len - st->avail_in;
      *produced = out_len - st->avail_out;
      if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT)
        {
          *why = r == ISAL_INCORRECT_CHECKSUM ? "bad gzip checksum" : "invalid gzip data";
          return -1;
        }
      if (st->block_state != ISAL_BLOCK_FINISH)
        return 0;
      /* igzip reads ahead into a bit buffer: hand back the whole bytes it
         holds past the member's end.  */
      {
        size_t back = (size_t)(st->read_in_length / 8);
        *consumed = back < *consumed ? *consumed - back : 0;
      }
      isal_inflate_reset (st);
      st->crc_flag = ISAL_GZIP;
      g->started = false;
      return 1;
    }
#endif
  {
    int r;

    g->z.next_in = (Bytef *)in;
    g->z.avail_in = (uInt)in_len;
    g->z.next_out = out;
    g->z.avail_out = (uInt)out_len;
    r = inflate (&g->z, Z_NO_FLUSH);
    *consumed = in_len - g->z.avail_in;
    *produced = out_len - g->z.avail_out;
    if (r == Z_STREAM_END)
      {
        inflateReset (&g->z);
        g->started = false;
        return 1;
      }
    if (r == Z_OK || r == Z_BUF_ERROR)
      return 0;
    *why = g->z.msg ? g->z.msg : "invalid gzip data";
    return -1;
  }
}

/* Source.  */

static int
source_fill (struct layer_source *s)
{
  ssize_t n;

  do
    n = s->read (s->ctx, s->in, IN_BUF_SIZE);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return husk_make_error (&s->err, errno, "read layer stream");
  s->in_pos = 0;
  s->in_len = (size_t)n;
  if (n == 0)
    s->in_eof = true;
  else
    {
      husk_digester_update (s->blob, s->in, (size_t)n);
      s->blob_size += (uint64_t)n;
    }
  return 0;
}

int
layer_source_init (struct layer_source *s, husk_read_fn read, void *ctx, uint64_t max_uncompressed,
                   husk_error_t *err)
{
  memset (s, 0, sizeof (*s));
  s->read = read;
  s->ctx = ctx;
  s->max_uncompressed = max_uncompressed;
  s->blob = husk_digester_new ();
  s->diff = husk_digester_new ();
  s->in = xmalloc (IN_BUF_SIZE);

  /* Gather the magic bytes, however short the reads of the source are.  */
  while (s->in_len < 4 && !s->in_eof)
    {
      ssize_t n;

      do
        n = s->read (s->ctx, s->in + s->in_len, IN_BUF_SIZE - s->in_len);
      while (n < 0 && errno == EINTR);
      if (n < 0)
        return husk_make_error (err, errno, "read layer stream");
      if (n == 0)
        s->in_eof = true;
      husk_digester_update (s->blob, s->in + s->in_len, (size_t)n);
      s->blob_size += (uint64_t)n;
      s->in_len += (size_t)n;
    }
  s->compression = husk_compression_detect (s->in, s->in_len);
  if (s->compression == HUSK_COMPRESSION_GZIP)
    return inflater_new (&s->gz, err);
  if (s->compression == HUSK_COMPRESSION_ZSTD)
    {
      s->zstd = ZSTD_createDStream ();
      if (s->zstd == NULL)
        return husk_make_error (err, ENOMEM, "ZSTD_createDStream");
      s->zstd_hint = 1;
    }
  return 0;
}

void
layer_source_fini (struct layer_source *s)
{
  husk_digester_free (s->blob);
  husk_digester_free (s->diff);
  free (s->in);
  inflater_free (s->gz);
  if (s->zstd)
    ZSTD_freeDStream (s->zstd);
  husk_error_release (&s->err);
  memset (s, 0, sizeof (*s));
}

static ssize_t
read_plain (struct layer_source *s, void *buf, size_t len)
{
  if (s->in_pos < s->in_len)
    {
      size_t n = s->in_len - s->in_pos;
      if (n > len)
        n = len;
      memcpy (buf, s->in + s->in_pos, n);
      s->in_pos += n;
      return (ssize_t)n;
    }
  if (s->in_eof)
    return 0;
  if (source_fill (s) < 0)
    return -1;
  return read_plain (s, buf, len);
}

static ssize_t
read_gzip (struct layer_source *s, void *buf, size_t len)
{
  for (;;)
    {
      size_t consumed = 0, produced = 0;
      const char *why = NULL;
      int r;

      if (s->done)
        return 0;
      if (s->in_pos == s->in_len && !s->in_eof && source_fill (s) < 0)
        return -1;
      if (s->in_pos == s->in_len && s->in_eof && !s->gz->started)
        {
          s->done = true;
          return 0;
        }
      r = inflater_step (s->gz, s->in + s->in_pos, s->in_len - s->in_pos, &consumed, buf, len, &produced,
                         &why);
      s->in_pos += consumed;
      if (r < 0)
        {
          husk_make_error (&s->err, 0, "decompress gzip layer: %s", why);
          return -1;
        }
      if (produced > 0)
        return (ssize_t)produced;
      if (r == 0 && s->in_pos == s->in_len && s->in_eof)
        {
          husk_make_error (&s->err, 0, "decompress gzip layer: unexpected end of stream");
          return -1;
        }
    }
}

static ssize_t
read_zstd (struct layer_source *s, void *buf, size_t len)
{
  for (;;)
    {
      ZSTD_inBuffer in;
      ZSTD_outBuffer out = { buf, len, 0 };
      size_t r;

      if (s->done)
        return 0;
      if (s->in_pos == s->in_len && !s->in_eof && source_fill (s) < 0)
        return -1;
      /* At the end of the input, a hint of 0 means the last frame was
         complete and flushed; asking again would report the header size
         of a next frame.  */
      if (s->in_pos == s->in_len && s->in_eof && s->zstd_hint == 0)
        {
          s->done = true;
          return 0;
        }
      in.src = s->in + s->in_pos;
      in.size = s->in_len - s->in_pos;
      in.pos = 0;
      r = ZSTD_decompressStream (s->zstd, &out, &in);
      s->in_pos += in.pos;
      if (ZSTD_isError (r))
        {
          husk_make_error (&s->err, 0, "decompress zstd layer: %s", ZSTD_getErrorName (r));
          return -1;
        }
      s->zstd_hint = r;
      if (out.pos > 0)
        return (ssize_t)out.pos;
      if (s->in_pos == s->in_len && s->in_eof && r != 0)
        {
          husk_make_error (&s->err, 0, "decompress zstd layer: unexpected end of stream");
          return -1;
        }
    }
}

ssize_t
layer_source_read (struct layer_source *s, void *buf, size_t len)
{
  ssize_t n;

  if (s->err)
    return -1;
  switch (s->compression)
    {
    case HUSK_COMPRESSION_GZIP:
      n = read_gzip (s, buf, len);
      break;
    case HUSK_COMPRESSION_ZSTD:
      n = read_zstd (s, buf, len);
      break;
    case HUSK_COMPRESSION_NONE:
    default:
      n = read_plain (s, buf, len);
      break;
    }
  if (n <= 0)
    return n;
  husk_digester_update (s->diff, buf, (size_t)n);
  s->diff_size += (uint64_t)n;
  if (s->max_uncompressed > 0 && s->diff_size > s->max_uncompressed)
    {
      husk_make_error (&s->err, 0, "layer is larger than the maximum uncompressed size of %llu bytes",
                       (unsigned long long)s->max_uncompressed);
      return -1;
    }
  return n;
}

int
layer_source_drain (struct layer_source *s, husk_error_t *err)
{
  cleanup_free char *buf = xmalloc (OUT_BUF_SIZE);

  for (;;)
    {
      ssize_t n = layer_source_read (s, buf, OUT_BUF_SIZE);
      if (n == 0)
        return 0;
      if (n < 0)
        {
          *err = steal_pointer (&s->err);
          return husk_error_wrap (err, "read to the end of the layer");
        }
    }
}

/* Sink.  */

static int
sink_emit (struct layer_sink *s, const void *data, size_t len)
{
  if (len == 0)
    return 0;
  husk_digester_update (s->out, data, len);
  s->out_size += len;
  if (s->fd >= 0 && husk_write_all (s->fd, data, len, &s->err) < 0)
    return husk_error_wrap (&s->err, "write layer");
  return 0;
}

int
layer_sink_init (struct layer_sink *s, int fd, enum husk_compression compression, husk_error_t *err)
{
  memset (s, 0, sizeof (*s));
  s->fd = fd;
  s->compression = compression;
  s->diff = husk_digester_new ();
  s->out = husk_digester_new ();
  s->obuf_size = OUT_BUF_SIZE;
  s->obuf = xmalloc (s->obuf_size);
#if HAVE_ISAL
  /* igzip level 3 compresses about as well as zlib's default several
     times faster: commit and push of big layers are bound by it.  */
  if (compression == HUSK_COMPRESSION_GZIP && isal_enabled ())
    {
      struct isal_zstream *z = xzalloc (sizeof (*z));

      isal_deflate_init (z);
      z->level = 3;
      z->level_buf_size = ISAL_DEF_LVL3_DEFAULT;
      z->level_buf = xmalloc (z->level_buf_size);
      z->gzip_flag = IGZIP_GZIP;
      s->isal = z;
      return 0;
    }
#endif
  if (compression == HUSK_COMPRESSION_GZIP)
    {
      z_stream *z = xzalloc (sizeof (*z));
      /* 16 + MAX_WBITS: a gzip wrapper with mtime 0, so output is
         reproducible.  */
      if (deflateInit2 (z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        {
          free (z);
          return husk_make_error (err, ENOMEM, "deflateInit2");
        }
      s->z = z;
    }
  else if (compression == HUSK_COMPRESSION_ZSTD)
    {
      ZSTD_CCtx *c = ZSTD_createCCtx ();
      if (c == NULL)
        return husk_make_error (err, ENOMEM, "ZSTD_createCCtx");
      s->zstd = c;
      ZSTD_CCtx_setParameter (c, ZSTD_c_compressionLevel, 3);
      ZSTD_CCtx_setParameter (c, ZSTD_c_checksumFlag, 1);
    }
  return 0;
}

static int
sink_deflate (struct layer_sink *s, const void *data, size_t len, int flush)
{
  z_stream *z = s->z;

  z->next_in = (Bytef *)data;
  z->avail_in = (uInt)len;
  for (;;)
    {
      int r;

      z->next_out = s->obuf;
      z->avail_out = (uInt)s->obuf_size;
      r = deflate (z, flush);
      if (r == Z_STREAM_ERROR)
        return husk_make_error (&s->err, 0, "gzip compression failed");
      if (sink_emit (s, s->obuf, s->obuf_size - z->avail_out) < 0)
        return -1;
      if (flush == Z_FINISH ? r == Z_STREAM_END : (z->avail_in == 0 && z->avail_out != 0))
        return 0;
    }
}

#if HAVE_ISAL
static int
sink_isal (struct layer_sink *s, const void *data, size_t len, bool end)
{
  struct isal_zstream *z = s->isal;

  z->next_in = (uint8_t *)data;
  z->avail_in = (uint32_t)len;
  z->end_of_stream = end;
  for (;;)
    {
      z->next_out = s->obuf;
      z->avail_out = (uint32_t)s->obuf_size;
      if (isal_deflate (z) != COMP_OK)
        return husk_make_error (&s->err, 0, "gzip compression failed");
      if (sink_emit (s, s->obuf, s->obuf_size - z->avail_out) < 0)
        return -1;
      if (end ? z->internal_state.state == ZSTATE_END : (z->avail_in == 0 && z->avail_out != 0))
        return 0;
    }
}
#endif

static int
sink_zstd (struct layer_sink *s, const void *data, size_t len, ZSTD_EndDirective mode)
{
  ZSTD_inBuffer in = { data, len, 0 };

  for (;;)
    {
      ZSTD_outBuffer out = { s->obuf, s->obuf_size, 0 };
      size_t r = ZSTD_compressStream2 (s->zstd, &out, &in, mode);

      if (ZSTD_isError (r))
        return husk_make_error (&s->err, 0, "zstd compression failed: %s", ZSTD_getErrorName (r));
      if (sink_emit (s, s->obuf, out.pos) < 0)
        return -1;
      if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size)
        return 0;
    }
}

int
layer_sink_write (struct layer_sink *s, const void *data, size_t len)
{
  if (s->err)
    return -1;
  husk_digester_update (s->diff, data, len);
  s->diff_size += len;
  switch (s->compression)
    {
    case HUSK_COMPRESSION_GZIP:
      {
        const char *p = data;
#if HAVE_ISAL
        if (s->isal)
          {
            while (len > 0)
              {
                size_t chunk = len > (1u << 30) ? (1u << 30) : len;
                if (sink_isal (s, p, chunk, false) < 0)
                  return -1;
                p += chunk;
                len -= chunk;
              }
            return 0;
          }
#endif
        /* avail_in is 32 bits.  */
        while (len > 0)
          {
            size_t chunk = len > (1u << 30) ? (1u << 30) : len;
            if (sink_deflate (s, p, chunk, Z_NO_FLUSH) < 0)
              return -1;
            p += chunk;
            len -= chunk;
          }
        return 0;
      }
    case HUSK_COMPRESSION_ZSTD:
      return sink_zstd (s, data, len, ZSTD_e_continue);
    case HUSK_COMPRESSION_NONE:
    default:
      return sink_emit (s, data, len);
    }
}

int
layer_sink_finish (struct layer_sink *s, husk_error_t *err)
{
  int ret = 0;

  if (s->err == NULL)
    {
#if HAVE_ISAL
      if (s->isal)
        ret = sink_isal (s, NULL, 0, true);
      else
#endif
          if (s->compression == HUSK_COMPRESSION_GZIP)
        ret = sink_deflate (s, NULL, 0, Z_FINISH);
      else if (s->compression == HUSK_COMPRESSION_ZSTD)
        ret = sink_zstd (s, NULL, 0, ZSTD_e_end);
    }
  if (s->err)
    {
      *err = steal_pointer (&s->err);
      return ret < 0 ? ret : -1;
    }
  return 0;
}

void
layer_sink_fini (struct layer_sink *s)
{
  husk_digester_free (s->diff);
  husk_digester_free (s->out);
  if (s->z)
    {
      deflateEnd (s->z);
      free (s->z);
    }
  if (s->zstd)
    ZSTD_freeCCtx (s->zstd);
#if HAVE_ISAL
  if (s->isal)
    {
      struct isal_zstream *z = s->isal;
      free (z->level_buf);
      free (z);
    }
#endif
  free (s->obuf);
  husk_error_release (&s->err);
  memset (s, 0, sizeof (*s));
}
