/* husk: a stored layer as a compressed blob, for pushes.

   The tar is the one husk_archive_save writes: replayed from the tar-split
   (so its sha256 is the diffID the image's config names) or, when none is
   usable, regenerated with husk_layer_diff.  The replay runs in a second
   thread writing into a pipe while this thread compresses and digests: on
   a two-core machine the tar costs nothing next to the compressor.  */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "config.h"
#if HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/util.h"
#include "tarsplit.h"

#define PIPE_SIZE (1024 * 1024)
#define BUF_SIZE  (256 * 1024)

/* ---- the compressor ---- */

struct blob_writer
{
  int fd;
  enum husk_compression compression;
  husk_digester_t *out;
  uint64_t out_size;
  z_stream *z;
  ZSTD_CCtx *zstd;
#if HAVE_ISAL
  struct isal_zstream *isal;
#endif
  unsigned char *obuf;
};

#if HAVE_ISAL
static bool
isal_enabled (void)
{
  const char *no = getenv ("HUSK_NO_ISAL");
  return no == NULL || *no == '\0' || strcmp (no, "0") == 0;
}
#endif

static int
writer_init (struct blob_writer *w, int fd, enum husk_compression compression, husk_error_t *err)
{
  memset (w, 0, sizeof (*w));
  w->fd = fd;
  w->compression = compression;
  w->out = husk_digester_new ();
  w->obuf = xmalloc (BUF_SIZE);
  if (compression == HUSK_COMPRESSION_GZIP)
    {
#if HAVE_ISAL
      /* Same settings as the layer module's diff, so a layer pushed by
         either path gets the same blob.  */
      if (isal_enabled ())
        {
          w->isal = xzalloc (sizeof (*w->isal));
          isal_deflate_init (w->isal);
          w->isal->level = 3;
          w->isal->level_buf_size = ISAL_DEF_LVL3_DEFAULT;
          w->isal->level_buf = xmalloc (w->isal->level_buf_size);
          w->isal->gzip_flag = IGZIP_GZIP;
          return 0;
        }
#endif
      w->z = xzalloc (sizeof (*w->z));
      /* gzip wrapper with mtime 0: the same tar always gives the same blob.  */
      if (deflateInit2 (w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY)
          != Z_OK)
        {
          free (w->z);
          w->z = NULL;
          return husk_make_error (err, ENOMEM, "deflateInit2");
        }
    }
  else if (compression == HUSK_COMPRESSION_ZSTD)
    {
      w->zstd = ZSTD_createCCtx ();
      if (w->zstd == NULL)
        return husk_make_error (err, ENOMEM, "ZSTD_createCCtx");
      ZSTD_CCtx_setParameter (w->zstd, ZSTD_c_compressionLevel, 3);
      ZSTD_CCtx_setParameter (w->zstd, ZSTD_c_checksumFlag, 1);
    }
  return 0;
}

static void
writer_fini (struct blob_writer *w)
{
  husk_digester_free (w->out);
  if (w->z)
    {
      deflateEnd (w->z);
      free (w->z);
    }
  if (w->zstd)
    ZSTD_freeCCtx (w->zstd);
#if HAVE_ISAL
  if (w->isal)
    {
      free (w->isal->level_buf);
      free (w->isal);
    }
#endif
  free (w->obuf);
  memset (w, 0, sizeof (*w));
}

static int
emit (struct blob_writer *w, const void *data, size_t len, husk_error_t *err)
{
  if (len == 0)
    return 0;
  husk_digester_update (w->out, data, len);
  w->out_size += len;
  return husk_write_all (w->fd, data, len, err);
}

static int
write_deflate (struct blob_writer *w, const void *data, size_t len, int flush, husk_error_t *err)
{
  w->z->next_in = (Bytef *)data;
  w->z->avail_in = (uInt)len;
  for (;;)
    {
      int r;
      w->z->next_out = w->obuf;
      w->z->avail_out = BUF_SIZE;
      r = deflate (w->z, flush);
      if (r == Z_STREAM_ERROR)
        return husk_make_error (err, 0, "gzip compression failed");
      if (emit (w, w->obuf, BUF_SIZE - w->z->avail_out, err) < 0)
        return -1;
      if (flush == Z_FINISH ? r == Z_STREAM_END : (w->z->avail_in == 0 && w->z->avail_out != 0))
        return 0;
    }
}

#if HAVE_ISAL
static int
write_isal (struct blob_writer *w, const void *data, size_t len, bool end, husk_error_t *err)
{
  struct isal_zstream *z = w->isal;

  z->next_in = (uint8_t *)data;
  z->avail_in = (uint32_t)len;
  z->end_of_stream = end;
  for (;;)
    {
      z->next_out = w->obuf;
      z->avail_out = BUF_SIZE;
      if (isal_deflate (z) != COMP_OK)
        return husk_make_error (err, 0, "gzip compression failed");
      if (emit (w, w->obuf, BUF_SIZE - z->avail_out, err) < 0)
        return -1;
      if (end ? z->internal_state.state == ZSTATE_END : (z->avail_in == 0 && z->avail_out != 0))
        return 0;
    }
}
#endif

static int
write_zstd (struct blob_writer *w, const void *data, size_t len, ZSTD_EndDirective mode, husk_error_t *err)
{
  ZSTD_inBuffer in = { data, len, 0 };

  for (;;)
    {
      ZSTD_outBuffer out = { w->obuf, BUF_SIZE, 0 };
      size_t r = ZSTD_compressStream2 (w->zstd, &out, &in, mode);

      if (ZSTD_isError (r))
        return husk_make_error (err, 0, "zstd compression failed: %s", ZSTD_getErrorName (r));
      if (emit (w, w->obuf, out.pos, err) < 0)
        return -1;
      if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size)
        return 0;
    }
}

/* The uncompressed bytes are not digested here: the replay already
   computes their digest (the diffID) as it writes them.  */
static int
writer_write (struct blob_writer *w, const void *data, size_t len, husk_error_t *err)
{
#if HAVE_ISAL
  if (w->isal)
    return write_isal (w, data, len, false, err);
#endif
  if (w->z)
    return write_deflate (w, data, len, Z_NO_FLUSH, err);
  if (w->zstd)
    return write_zstd (w, data, len, ZSTD_e_continue, err);
  return emit (w, data, len, err);
}

static int
writer_finish (struct blob_writer *w, husk_error_t *err)
{
#if HAVE_ISAL
  if (w->isal)
    return write_isal (w, NULL, 0, true, err);
#endif
  if (w->z)
    return write_deflate (w, NULL, 0, Z_FINISH, err);
  if (w->zstd)
    return write_zstd (w, NULL, 0, ZSTD_e_end, err);
  return 0;
}

/* ---- the tar-split replay thread ---- */

struct replay
{
  const char *diff_path;
  int fd; /* the pipe's write end, closed by the thread */
  int ret;
  char *diff_id;
  uint64_t size;
  husk_error_t err;
};

static void *
replay_thread (void *arg)
{
  struct replay *r = arg;

  r->ret = husk_tarsplit_rebuild (r->diff_path, r->fd, &r->diff_id, &r->size, &r->err);
  close (r->fd);
  r->fd = -1;
  return NULL;
}

/* Compress what the replay thread writes.  The pipe is always drained to
   its end, even after an error here, so the thread never blocks or gets
   SIGPIPE.  Returns 1 when the replay reproduced diff_id, 0 when the
   caller must regenerate.  */
static int
export_replay (const char *diff_path, const char *diff_id, enum husk_compression compression, int out_fd,
               struct husk_layer_diff_result *res, husk_error_t *err)
{
  struct replay r = { .diff_path = diff_path, .fd = -1 };
  struct blob_writer w;
  cleanup_free char *buf = NULL;
  pthread_t th;
  int pfd[2];
  int ret = 0, e;

  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "pipe");
  fcntl (pfd[1], F_SETPIPE_SZ, PIPE_SIZE);
  ret = writer_init (&w, out_fd, compression, err);
  if (ret < 0)
    {
      close (pfd[0]);
      close (pfd[1]);
      writer_fini (&w);
      return ret;
    }
  r.fd = pfd[1];
  e = pthread_create (&th, NULL, replay_thread, &r);
  if (e != 0)
    {
      close (pfd[0]);
      close (pfd[1]);
      writer_fini (&w);
      return husk_make_error (err, e, "starting a thread");
    }

  buf = xmalloc (BUF_SIZE);
  for (;;)
    {
      ssize_t n = read (pfd[0], buf, BUF_SIZE);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          if (ret == 0)
            ret = husk_make_error (err, errno, "reading the layer tar");
          break;
        }
      if (n == 0)
        break;
      if (ret == 0)
        ret = writer_write (&w, buf, n, err);
    }
  pthread_join (th, NULL);
  close (pfd[0]);

  if (ret == 0 && r.ret < 0)
    {
      *err = steal_pointer (&r.err);
      ret = r.ret;
    }
  husk_error_release (&r.err);
  if (ret == 0 && r.ret > 0 && strcmp (r.diff_id, diff_id) == 0)
    {
      ret = writer_finish (&w, err);
      if (ret == 0)
        {
          res->digest = husk_digester_final (w.out);
          res->size = w.out_size;
          res->diff_id = steal_pointer (&r.diff_id);
          res->diff_size = r.size;
          ret = 1;
        }
    }
  else if (ret == 0 && r.ret > 0)
    husk_debug ("layer %s: tar-split replay gave %s, regenerating", diff_id, r.diff_id);
  free (r.diff_id);
  writer_fini (&w);
  return ret;
}

int
husk_image_layer_export (husk_store_t *s, const char *diff_id, enum husk_compression compression, int out_fd,
                         struct husk_layer_diff_result *res, husk_error_t *err)
{
  cleanup_free char *path = husk_store_layer_path (s, diff_id);
  cleanup_close int dirfd = -1;
  int ret;

  memset (res, 0, sizeof (*res));
  dirfd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return husk_make_error (err, errno, "opening layer %s", diff_id);

  ret = export_replay (path, diff_id, compression, out_fd, res, err);
  if (ret < 0)
    return husk_error_wrap (err, "exporting layer %s", diff_id);
  if (ret > 0)
    return 0;

  if (ftruncate (out_fd, 0) < 0 || lseek (out_fd, 0, SEEK_SET) < 0)
    return husk_make_error (err, errno, "truncating the blob of layer %s", diff_id);
  ret = husk_layer_diff (dirfd, out_fd, compression, res, err);
  if (ret < 0)
    return husk_error_wrap (err, "exporting layer %s", diff_id);
  return 0;
}
