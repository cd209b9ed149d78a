/* husk: tar-split recording and replay (see tarsplit.h).

   File format (gzip): a sequence of records
     'R' u32le len, len raw bytes        bytes copied as they were
     'F' u64le size, u32le len, path     size bytes of the file at path
   The recorder sees the stream exactly as husk_layer_apply reads it, so
   it decompresses gzip or zstd itself.  */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "tarsplit.h"
#include "husk/util.h"

#define TARSPLIT_NAME "tar-split.gz"
#define TARSPLIT_TMP  "tar-split.gz.tmp"
#define BLOCK         512
#define META_MAX      (1024 * 1024)
#define RAW_FLUSH     (256 * 1024)
#define COPY_CHUNK    (256 * 1024)

enum parse_state
{
  ST_HEADER,  /* collecting a 512-byte header block */
  ST_META,    /* content of a PAX/GNU/other metadata entry, recorded */
  ST_FILE,    /* regular file content, not recorded */
  ST_PADDING, /* padding after file content, recorded */
};

struct husk_tarsplit
{
  int dirfd; /* the stage directory */
  gzFile out;
  bool failed;
  husk_read_fn inner;
  void *ctx;

  /* Decompression.  */
  bool detected;
  unsigned char head[4];
  size_t head_len;
  enum husk_compression comp;
  z_stream z;
  bool z_init;
  ZSTD_DStream *zstd;

  /* Tar parsing.  */
  enum parse_state state;
  unsigned char block[BLOCK];
  size_t block_len;
  uint64_t remaining;
  uint64_t padding;
  char meta_type;
  struct husk_buf meta;
  char *long_name;     /* from a GNU 'L' entry */
  char *pax_path;      /* from a PAX 'x' entry */
  struct husk_buf raw; /* raw bytes not yet written */
};

static void
put_u32 (unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_u64 (unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le (const unsigned char *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void
fail (husk_tarsplit_t *t, const char *why)
{
  if (!t->failed)
    husk_debug ("not keeping a tar-split for this layer: %s", why);
  t->failed = true;
}

static void
write_out (husk_tarsplit_t *t, const void *data, size_t len)
{
  if (t->failed || len == 0)
    return;
  if (gzwrite (t->out, data, (unsigned)len) != (int)len)
    fail (t, "write error");
}

static void
flush_raw (husk_tarsplit_t *t)
{
  unsigned char hdr[5];

  if (t->raw.len == 0)
    return;
  hdr[0] = 'R';
  put_u32 (hdr + 1, (uint32_t)t->raw.len);
  write_out (t, hdr, sizeof (hdr));
  write_out (t, t->raw.data, t->raw.len);
  t->raw.len = 0;
}

static void
record_raw (husk_tarsplit_t *t, const void *data, size_t len)
{
  husk_buf_append (&t->raw, data, len);
  if (t->raw.len >= RAW_FLUSH)
    flush_raw (t);
}

static void
record_file (husk_tarsplit_t *t, const char *path, uint64_t size)
{
  unsigned char hdr[13];
  size_t plen = strlen (path);

  flush_raw (t);
  hdr[0] = 'F';
  put_u64 (hdr + 1, size);
  put_u32 (hdr + 9, (uint32_t)plen);
  write_out (t, hdr, sizeof (hdr));
  write_out (t, path, plen);
}

/* Octal or base-256 numeric field.  */
static bool
parse_number (const unsigned char *f, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  size_t i = 0;

  if (f[0] & 0x80)
    {
      v = f[0] & 0x7f;
      for (i = 1; i < n; i++)
        {
          if (v >> 55)
            return false;
          v = (v << 8) | f[i];
        }
      *out = v;
      return true;
    }
  while (i < n && (f[i] == ' ' || f[i] == '\0'))
    i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++)
    v = (v << 3) | (uint64_t)(f[i] - '0');
  *out = v;
  return true;
}

static char *
header_name (const unsigned char *b)
{
  char *name = xstrndup ((const char *)b, 100);

  if (memcmp (b + 257, "ustar", 5) == 0 && b[345] != '\0')
    {
      char *prefix = xstrndup ((const char *)b + 345, 155);
      char *full = xasprintf ("%s/%s", prefix, name);
      free (prefix);
      free (name);
      return full;
    }
  return name;
}

/* "len key=value\n" records: keep "path".  */
static void
parse_pax (husk_tarsplit_t *t)
{
  const char *p = t->meta.data, *end = t->meta.data + t->meta.len;

  while (p < end)
    {
      char *sp;
      unsigned long len = strtoul (p, &sp, 10);
      const char *rec_end = p + len;
      if (len == 0 || *sp != ' ' || rec_end > end || rec_end[-1] != '\n')
        return;
      sp++;
      if ((size_t)(rec_end - sp) > 5 && strncmp (sp, "path=", 5) == 0)
        {
          free (t->pax_path);
          t->pax_path = xstrndup (sp + 5, rec_end - 1 - (sp + 5));
        }
      p = rec_end;
    }
}

static void
end_meta (husk_tarsplit_t *t)
{
  if (t->meta_type == 'L')
    {
      free (t->long_name);
      t->long_name = xstrndup (t->meta.data ? t->meta.data : "", t->meta.len);
    }
  else if (t->meta_type == 'x')
    parse_pax (t);
  t->meta.len = 0;
}

static bool
all_zero (const unsigned char *b)
{
  for (size_t i = 0; i < BLOCK; i++)
    if (b[i])
      return false;
  return true;
}

static void
handle_header (husk_tarsplit_t *t)
{
  const unsigned char *b = t->block;
  char type = (char)b[156];
  uint64_t size;

  record_raw (t, b, BLOCK);
  if (all_zero (b))
    return;
  if (!parse_number (b + 124, 12, &size))
    {
      fail (t, "bad size field");
      return;
    }
  t->padding = (BLOCK - size % BLOCK) % BLOCK;
  if (type == 'S')
    {
      fail (t, "GNU sparse file");
      return;
    }
  if ((type == '0' || type == '\0' || type == '7') && size > 0)
    {
      cleanup_free char *name = NULL;
      if (t->pax_path)
        name = xstrdup (t->pax_path);
      else if (t->long_name)
        name = xstrdup (t->long_name);
      else
        name = header_name (b);
      record_file (t, name, size);
      t->remaining = size;
      t->state = ST_FILE;
    }
  else if (size > 0)
    {
      t->meta_type = type;
      t->remaining = size + t->padding;
      t->padding = 0;
      t->state = ST_META;
      return; /* PAX and long-name data apply to the next entry */
    }
  else
    t->state = ST_HEADER;
  /* A real entry consumes the pending long name.  */
  free (t->long_name);
  t->long_name = NULL;
  free (t->pax_path);
  t->pax_path = NULL;
}

/* Uncompressed tar bytes.  */
static void
parse (husk_tarsplit_t *t, const unsigned char *p, size_t len)
{
  while (len > 0 && !t->failed)
    {
      size_t n;
      switch (t->state)
        {
        case ST_HEADER:
          n = BLOCK - t->block_len;
          if (n > len)
            n = len;
          memcpy (t->block + t->block_len, p, n);
          t->block_len += n;
          if (t->block_len == BLOCK)
            {
              t->block_len = 0;
              handle_header (t);
            }
          break;

        case ST_META:
          n = t->remaining < len ? (size_t)t->remaining : len;
          record_raw (t, p, n);
          if (t->meta.len + n > META_MAX)
            fail (t, "metadata entry too large");
          else
            husk_buf_append (&t->meta, p, n);
          t->remaining -= n;
          if (t->remaining == 0)
            {
              end_meta (t);
              t->state = ST_HEADER;
            }
          break;

        case ST_FILE:
          n = t->remaining < len ? (size_t)t->remaining : len;
          t->remaining -= n;
          if (t->remaining == 0)
            t->state = t->padding ? ST_PADDING : ST_HEADER;
          break;

        case ST_PADDING:
        default:
          n = t->padding < len ? (size_t)t->padding : len;
          record_raw (t, p, n);
          t->padding -= n;
          if (t->padding == 0)
            t->state = ST_HEADER;
          break;
        }
      p += n;
      len -= n;
    }
}

static void
decompress (husk_tarsplit_t *t, const unsigned char *p, size_t len)
{
  unsigned char out[65536];

  if (t->comp == HUSK_COMPRESSION_NONE)
    {
      parse (t, p, len);
      return;
    }
  if (t->comp == HUSK_COMPRESSION_GZIP)
    {
      t->z.next_in = (unsigned char *)p;
      t->z.avail_in = (uInt)len;
      while (t->z.avail_in > 0 && !t->failed)
        {
          int r;
          t->z.next_out = out;
          t->z.avail_out = sizeof (out);
          r = inflate (&t->z, Z_NO_FLUSH);
          parse (t, out, sizeof (out) - t->z.avail_out);
          if (r == Z_STREAM_END)
            {
              /* Concatenated gzip members continue the stream.  */
              if (inflateReset (&t->z) != Z_OK)
                fail (t, "inflateReset");
            }
          else if (r != Z_OK && r != Z_BUF_ERROR)
            fail (t, "gzip error");
          else if (r == Z_BUF_ERROR && t->z.avail_in > 0 && t->z.avail_out > 0)
            fail (t, "gzip error");
        }
      return;
    }
  {
    ZSTD_inBuffer in = { p, len, 0 };
    while (in.pos < in.size && !t->failed)
      {
        ZSTD_outBuffer o = { out, sizeof (out), 0 };
        size_t r = ZSTD_decompressStream (t->zstd, &o, &in);
        if (ZSTD_isError (r))
          fail (t, "zstd error");
        parse (t, out, o.pos);
      }
  }
}

static void
feed (husk_tarsplit_t *t, const unsigned char *p, size_t len)
{
  if (t->failed)
    return;
  if (!t->detected)
    {
      /* Compression is known from the first 4 bytes.  */
      size_t n = 4 - t->head_len < len ? 4 - t->head_len : len;
      memcpy (t->head + t->head_len, p, n);
      t->head_len += n;
      p += n;
      len -= n;
      if (t->head_len < 4)
        return;
      t->detected = true;
      t->comp = husk_compression_detect (t->head, 4);
      if (t->comp == HUSK_COMPRESSION_GZIP)
        {
          if (inflateInit2 (&t->z, 16 + MAX_WBITS) != Z_OK)
            {
              fail (t, "inflateInit2");
              return;
            }
          t->z_init = true;
        }
      else if (t->comp == HUSK_COMPRESSION_ZSTD)
        {
          t->zstd = ZSTD_createDStream ();
          if (t->zstd == NULL || ZSTD_isError (ZSTD_initDStream (t->zstd)))
            {
              fail (t, "ZSTD_createDStream");
              return;
            }
        }
      decompress (t, t->head, 4);
    }
  decompress (t, p, len);
}

husk_tarsplit_t *
husk_tarsplit_new (int diff_dirfd)
{
  husk_tarsplit_t *t = xzalloc (sizeof (*t));
  int fd;

  t->dirfd = openat (diff_dirfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fd = t->dirfd < 0 ? -1 : openat (t->dirfd, TARSPLIT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (t->out = gzdopen (fd, "wb1")) == NULL)
    {
      if (fd >= 0)
        close (fd);
      fail (t, "cannot create the file");
    }
  return t;
}

void
husk_tarsplit_set_source (husk_tarsplit_t *t, husk_read_fn inner, void *ctx)
{
  t->inner = inner;
  t->ctx = ctx;
}

ssize_t
husk_tarsplit_read (void *tarsplit, void *buf, size_t len)
{
  husk_tarsplit_t *t = tarsplit;
  ssize_t n = t->inner (t->ctx, buf, len);

  if (n > 0)
    feed (t, buf, (size_t)n);
  return n;
}

void
husk_tarsplit_finish (husk_tarsplit_t *t, bool keep)
{
  if (t == NULL)
    return;
  if (!t->detected && t->head_len > 0)
    decompress (t, t->head, t->head_len);
  if (t->block_len > 0)
    record_raw (t, t->block, t->block_len);
  flush_raw (t);
  if (t->out && gzclose (t->out) != Z_OK)
    fail (t, "write error");
  if (t->dirfd >= 0)
    {
      if (keep && !t->failed)
        {
          if (renameat (t->dirfd, TARSPLIT_TMP, t->dirfd, TARSPLIT_NAME) < 0)
            unlinkat (t->dirfd, TARSPLIT_TMP, 0);
        }
      else
        unlinkat (t->dirfd, TARSPLIT_TMP, 0);
      close (t->dirfd);
    }
  if (t->z_init)
    inflateEnd (&t->z);
  if (t->zstd)
    ZSTD_freeDStream (t->zstd);
  husk_buf_free (&t->meta);
  husk_buf_free (&t->raw);
  free (t->long_name);
  free (t->pax_path);
  free (t);
}

/* ---- replay ---- */

static void
cleanup_gzp (gzFile *g)
{
  if (*g)
    gzclose (*g);
}

static bool
gz_read_exact (gzFile g, void *buf, size_t len)
{
  return gzread (g, buf, (unsigned)len) == (int)len;
}

static int
write_digested (int out_fd, husk_digester_t *d, const void *buf, size_t len, uint64_t *size,
                husk_error_t *err)
{
  husk_digester_update (d, buf, len);
  *size += len;
  return husk_write_all (out_fd, buf, len, err);
}

/* Copy exactly size bytes of path (inside rootfd) to out_fd.  1 on
   success, 0 when the file does not match (missing, shorter).  */
static int
replay_file (int rootfd, const char *path, uint64_t size, int out_fd, husk_digester_t *d, uint64_t *total,
             char *buf, husk_error_t *err)
{
  husk_error_t ignored = NULL;
  cleanup_close int fd = husk_open_in_root (rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, &ignored);
  int ret;

  husk_error_release (&ignored);
  if (fd < 0)
    return 0;
  while (size > 0)
    {
      size_t want = size < COPY_CHUNK ? (size_t)size : COPY_CHUNK;
      ssize_t n = read (fd, buf, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return 0;
      ret = write_digested (out_fd, d, buf, n, total, err);
      if (ret < 0)
        return ret;
      size -= n;
    }
  return 1;
}

int
husk_tarsplit_rebuild (const char *diff_path, int out_fd, char **diff_id, uint64_t *size, husk_error_t *err)
{
  cleanup_free char *split_path = NULL;
  cleanup_free char *buf = NULL;
  cleanup_digester husk_digester_t *d = NULL;
  cleanup_close int rootfd = -1;
  __attribute__ ((cleanup (cleanup_gzp))) gzFile g = NULL;
  const char *slash = strrchr (diff_path, '/');
  int fd, ret;

  if (slash == NULL)
    return 0;
  split_path = xasprintf ("%.*s/%s", (int)(slash - diff_path), diff_path, TARSPLIT_NAME);
  fd = open (split_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  g = gzdopen (fd, "rb");
  if (g == NULL)
    {
      close (fd);
      return 0;
    }
  rootfd = open (diff_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return 0;

  d = husk_digester_new ();
  buf = xmalloc (COPY_CHUNK);
  *size = 0;
  for (;;)
    {
      unsigned char tag, hdr[12];
      int c = gzgetc (g);
      if (c < 0)
        break;
      tag = (unsigned char)c;
      if (tag == 'R')
        {
          uint64_t len;
          if (!gz_read_exact (g, hdr, 4))
            return 0;
          len = get_le (hdr, 4);
          while (len > 0)
            {
              size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
              if (!gz_read_exact (g, buf, n))
                return 0;
              ret = write_digested (out_fd, d, buf, n, size, err);
              if (ret < 0)
                return ret;
              len -= n;
            }
        }
      else if (tag == 'F')
        {
          cleanup_free char *path = NULL;
          uint64_t fsize, plen;
          if (!gz_read_exact (g, hdr, 12))
            return 0;
          fsize = get_le (hdr, 8);
          plen = get_le (hdr + 8, 4);
          if (plen > 65536)
            return 0;
          path = xmalloc (plen + 1);
          if (!gz_read_exact (g, path, plen))
            return 0;
          path[plen] = '\0';
          ret = replay_file (rootfd, path, fsize, out_fd, d, size, buf, err);
          if (ret <= 0)
            return ret;
        }
      else
        return 0;
    }
  if (!gzeof (g))
    return 0;
  *diff_id = husk_digester_final (d);
  return 1;
}

/* ---- applying a layer with a tar-split ---- */

static const char *
media_type_for (enum husk_compression c)
{
  switch (c)
    {
    case HUSK_COMPRESSION_GZIP:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case HUSK_COMPRESSION_ZSTD:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    case HUSK_COMPRESSION_NONE:
    default:
      return "application/vnd.oci.image.layer.v1.tar";
    }
}

int
husk_image_layer_apply (husk_layer_stage_t *stage, husk_read_fn read, void *ctx,
                        const struct husk_layer_apply_opts *opts, const char *media_type,
                        struct husk_layer_apply_result *res, husk_error_t *err)
{
  int dirfd = husk_layer_stage_dirfd (stage);
  husk_tarsplit_t *split = husk_tarsplit_new (dirfd);
  int ret;

  husk_tarsplit_set_source (split, read, ctx);
  ret = husk_layer_apply (husk_tarsplit_read, split, dirfd, opts, res, err);
  husk_tarsplit_finish (split, ret == 0);
  if (ret < 0)
    return ret;
  husk_layer_stage_set (stage, res->diff_id, res->content_size, res->blob_digest, res->blob_size,
                        media_type ? media_type : media_type_for (res->compression));
  husk_layer_stage_set_diff_size (stage, res->diff_size);
  return 0;
}
