/* husk: pull.  Manifest (an index resolved for the platform), config,
   then every layer not yet stored: each one streamed from the registry
   through a pipe into husk_image_layer_apply, which extracts, digests
   (blob and diffID) and records tar-split as the bytes arrive.  Layers
   run in parallel (a download thread and an apply thread each, at most
   PULL_PARALLEL layers at once).  Nothing is committed until every digest
   and diffID matched; the store lock is taken only for the commit.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
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
#include "husk/image.h"
#include "husk/json.h"
#include "husk/registry.h"
#include "husk/userns.h"
#include "husk/util.h"

#define PULL_PARALLEL 6

#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* ---- platform selection ---- */

static const char *
default_variant (const char *arch)
{
  if (strcmp (arch, "arm64") == 0)
    return "v8";
  if (strcmp (arch, "arm") == 0)
    return "v7";
  return NULL;
}

/* 2: the variant asked for; 1: no variant given on either side (or
   arm64 without one, which means v8); 0: no match.  */
static int
variant_score (const char *want, const char *have, const char *arch)
{
  if (want == NULL || *want == '\0')
    return have == NULL || *have == '\0' ? 2 : 1;
  if (have && strcmp (want, have) == 0)
    return 2;
  if ((have == NULL || *have == '\0') && strcmp (arch, "arm64") == 0 && strcmp (want, "v8") == 0)
    return 1;
  return 0;
}

husk_json_t *
husk_registry_select_platform (const husk_json_t *index, const char *os, const char *arch,
                               const char *variant, husk_error_t *err)
{
  husk_json_t *manifests = husk_json_get (index, "manifests");
  husk_json_t *best = NULL;
  struct husk_buf avail = { 0 };
  cleanup_free char *list = NULL;
  int best_score = 0;

  if (os == NULL)
    os = "linux";
  if (arch == NULL)
    {
      arch = husk_image_host_arch ();
      if (variant == NULL)
        variant = default_variant (arch);
    }
  for (size_t i = 0; i < husk_json_array_len (manifests); i++)
    {
      husk_json_t *d = husk_json_array_at (manifests, i);
      husk_json_t *p = husk_json_get (d, "platform");
      const char *pos = husk_json_get_string (p, "os");
      const char *parch = husk_json_get_string (p, "architecture");
      const char *pvar = husk_json_get_string (p, "variant");
      int score;

      if (pos && parch)
        husk_buf_printf (&avail, "%s%s/%s%s%s", avail.len ? ", " : "", pos, parch, pvar ? "/" : "",
                         pvar ? pvar : "");
      if (pos == NULL || parch == NULL || strcmp (pos, os) != 0 || strcmp (parch, arch) != 0)
        continue;
      score = variant_score (variant, pvar, arch);
      if (score > best_score)
        {
          best = d;
          best_score = score;
        }
    }
  list = husk_buf_steal (&avail, NULL);
  if (best == NULL)
    {
      husk_make_error (err, 0,
                       "no image found in image index for architecture %s, variant \"%s\", OS %s%s%s%s", arch,
                       variant ? variant : "", os, *list ? " (the index has " : "", list, *list ? ")" : "");
      return NULL;
    }
  return best;
}

/* ---- decompression in the download thread ----

   The download thread inflates the blob and hands the extraction plain
   tar: the two halves of a layer then run on two cores, and the
   extraction's tar-split recorder, which inflates whatever compressed
   stream it is given a second time, sees none.  The blob digest is taken
   here, over the bytes as they came.  */

#define UNPACK_OUT (256 * 1024)

struct unpacker
{
  enum husk_compression comp;
  bool detected;
  unsigned char head[4];
  size_t head_len;
  bool in_frame; /* a gzip member or zstd frame was started and not ended */
  z_stream z;
  bool z_init;
#if HAVE_ISAL
  struct inflate_state *isal;
#endif
  ZSTD_DStream *zstd;
  unsigned char *out;
};

#if HAVE_ISAL
static bool
isal_enabled (void)
{
  const char *no = getenv ("HUSK_NO_ISAL");
  return no == NULL || *no == '\0' || strcmp (no, "0") == 0;
}
#endif

static void
unpacker_clear (struct unpacker *u)
{
  if (u->z_init)
    inflateEnd (&u->z);
#if HAVE_ISAL
  free (u->isal);
#endif
  if (u->zstd)
    ZSTD_freeDStream (u->zstd);
  free (u->out);
  memset (u, 0, sizeof (*u));
}

static int
unpacker_start (struct unpacker *u, husk_error_t *err)
{
  u->comp = husk_compression_detect (u->head, u->head_len);
  u->detected = true;
  u->out = xmalloc (UNPACK_OUT);
  if (u->comp == HUSK_COMPRESSION_GZIP)
    {
#if HAVE_ISAL
      if (isal_enabled ())
        {
          u->isal = xzalloc (sizeof (*u->isal));
          isal_inflate_init (u->isal);
          u->isal->crc_flag = ISAL_GZIP;
          return 0;
        }
#endif
      /* 16 + MAX_WBITS: the gzip wrapper only.  */
      if (inflateInit2 (&u->z, 16 + MAX_WBITS) != Z_OK)
        return husk_make_error (err, ENOMEM, "inflateInit2");
      u->z_init = true;
    }
  else if (u->comp == HUSK_COMPRESSION_ZSTD)
    {
      u->zstd = ZSTD_createDStream ();
      if (u->zstd == NULL)
        return husk_make_error (err, ENOMEM, "ZSTD_createDStream");
    }
  return 0;
}

/* One inflate call.  Returns 1 at the end of a gzip member, 0 to go on,
   negative on corrupt data.  */
static int
gzip_step (struct unpacker *u, const unsigned char *in, size_t len, size_t *consumed, size_t *produced,
           husk_error_t *err)
{
  if (len > UINT32_MAX)
    len = UINT32_MAX;
  if (len > 0)
    u->in_frame = true;
#if HAVE_ISAL
  if (u->isal)
    {
      struct inflate_state *st = u->isal;
      int r;

      st->next_in = (uint8_t *)in;
      st->avail_in = (uint32_t)len;
      st->next_out = u->out;
      st->avail_out = UNPACK_OUT;
      r = isal_inflate (st);
      *consumed = len - st->avail_in;
      *produced = UNPACK_OUT - st->avail_out;
      if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT)
        return husk_make_error (err, 0, "decompress gzip layer: %s",
                                r == ISAL_INCORRECT_CHECKSUM ? "bad gzip checksum" : "invalid gzip data");
      if (st->block_state != ISAL_BLOCK_FINISH)
        return 0;
      /* igzip reads ahead into its bit buffer: give back the whole bytes
         past the member's end so the next member starts at its magic.  */
      {
        size_t back = (size_t)(st->read_in_length / 8);
        *consumed = back < *consumed ? *consumed - back : 0;
      }
      isal_inflate_reset (st);
      st->crc_flag = ISAL_GZIP;
      u->in_frame = false;
      return 1;
    }
#endif
  {
    int r;

    u->z.next_in = (Bytef *)in;
    u->z.avail_in = (uInt)len;
    u->z.next_out = u->out;
    u->z.avail_out = UNPACK_OUT;
    r = inflate (&u->z, Z_NO_FLUSH);
    *consumed = len - u->z.avail_in;
    *produced = UNPACK_OUT - u->z.avail_out;
    if (r == Z_STREAM_END)
      {
        inflateReset (&u->z);
        u->in_frame = false;
        return 1;
      }
    if (r == Z_OK || r == Z_BUF_ERROR)
      return 0;
    return husk_make_error (err, 0, "decompress gzip layer: %s", u->z.msg ? u->z.msg : "invalid gzip data");
  }
}

struct layer_job;
static int pipe_write (struct layer_job *j, const void *data, size_t len, husk_error_t *err);

/* Decompress in (len 0: flush what the decompressor holds) into the pipe.  */
static int
unpack (struct layer_job *j, struct unpacker *u, const unsigned char *in, size_t len, husk_error_t *err)
{
  if (u->comp == HUSK_COMPRESSION_NONE)
    return len ? pipe_write (j, in, len, err) : 0;
  if (u->comp == HUSK_COMPRESSION_ZSTD)
    {
      ZSTD_inBuffer ib = { in, len, 0 };
      for (;;)
        {
          ZSTD_outBuffer ob = { u->out, UNPACK_OUT, 0 };
          size_t r = ZSTD_decompressStream (u->zstd, &ob, &ib);
          if (ZSTD_isError (r))
            return husk_make_error (err, 0, "decompress zstd layer: %s", ZSTD_getErrorName (r));
          if (ib.pos > 0 || ob.pos > 0)
            u->in_frame = r != 0;
          if (ob.pos > 0 && pipe_write (j, u->out, ob.pos, err) < 0)
            return -1;
          if (ib.pos == ib.size && ob.pos < UNPACK_OUT)
            return 0;
        }
    }
  for (;;)
    {
      size_t consumed = 0, produced = 0;
      int r = gzip_step (u, in, len, &consumed, &produced, err);

      if (r < 0)
        return r;
      in += consumed;
      len -= consumed;
      if (produced > 0 && pipe_write (j, u->out, produced, err) < 0)
        return -1;
      if (r == 1)
        {
          if (len == 0)
            return 0;
          continue;
        }
      if (len == 0 && produced < UNPACK_OUT)
        return 0;
      if (consumed == 0 && produced == 0)
        return husk_make_error (err, 0, "decompress gzip layer: invalid gzip data");
    }
}

static int
unpacker_feed (struct layer_job *j, struct unpacker *u, const unsigned char *in, size_t len,
               husk_error_t *err)
{
  if (!u->detected)
    {
      size_t n = 4 - u->head_len < len ? 4 - u->head_len : len;
      memcpy (u->head + u->head_len, in, n);
      u->head_len += n;
      in += n;
      len -= n;
      if (u->head_len < 4)
        return 0;
      if (unpacker_start (u, err) < 0 || unpack (j, u, u->head, u->head_len, err) < 0)
        return -1;
    }
  return len ? unpack (j, u, in, len, err) : 0;
}

static int
unpacker_finish (struct layer_job *j, struct unpacker *u, husk_error_t *err)
{
  if (!u->detected)
    {
      /* Fewer than 4 bytes: not compressed (the extraction judges them).  */
      if (unpacker_start (u, err) < 0)
        return -1;
      return unpack (j, u, u->head, u->head_len, err);
    }
  if (unpack (j, u, NULL, 0, err) < 0)
    return -1;
  if (u->in_frame)
    return husk_make_error (err, 0, "decompress %s layer: unexpected end of stream",
                            husk_compression_name (u->comp));
  return 0;
}

/* ---- one layer ---- */

struct pull;

struct layer_job
{
  struct pull *p;
  husk_registry_client_t *c;
  const char *digest; /* descriptor */
  uint64_t size;
  const char *media_type;
  const char *diff_id; /* from the config */
  bool skip;           /* already stored, or a duplicate */

  husk_layer_stage_t *stage;
  int wfd;
  int slot;
  uint64_t fed; /* compressed bytes received */
  husk_digester_t *blob;
  char *blob_digest;
  struct unpacker un;
  bool abort; /* the apply gave up: stop feeding */
  int dl_ret; /* set before the pipe is closed */
  husk_error_t dl_err;
  int ret;
  husk_error_t err;
};

struct pull
{
  husk_store_t *s;
  const struct husk_registry_pull_opts *opts;
  husk_registry_progress_t *progress;
  struct husk_layer_apply_opts apply;

  pthread_mutex_t lock;
  struct layer_job *jobs;
  size_t n_jobs;
  size_t next;
  bool failed;
};

static int
pipe_write (struct layer_job *j, const void *data, size_t len, husk_error_t *err)
{
  const char *b = data;

  while (len > 0)
    {
      ssize_t n = write (j->wfd, b, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return husk_make_error (err, errno, "write to the layer extraction");
        }
      b += n;
      len -= n;
    }
  return 0;
}

static int
layer_sink (void *ctx, const void *data, size_t len, husk_error_t *err)
{
  struct layer_job *j = ctx;

  if (__atomic_load_n (&j->abort, __ATOMIC_RELAXED) || __atomic_load_n (&j->p->failed, __ATOMIC_RELAXED))
    return husk_make_error (err, ECANCELED, "download stopped");
  husk_digester_update (j->blob, data, len);
  j->fed += len;
  if (unpacker_feed (j, &j->un, data, len, err) < 0)
    return -1;
  husk_registry_progress_update (j->p->progress, j->slot, j->fed);
  return 0;
}

static void *
download_main (void *arg)
{
  struct layer_job *j = arg;
  int ret;

  ret = husk_registry_blob_get (j->c, j->digest, 0, j->size, layer_sink, j, &j->dl_err);
  if (ret == 0)
    {
      ret = unpacker_finish (j, &j->un, &j->dl_err);
      if (ret < 0)
        husk_error_wrap (&j->dl_err, "blob %s", j->digest);
    }
  if (ret == 0)
    j->blob_digest = husk_digester_final (j->blob);
  __atomic_store_n (&j->dl_ret, ret, __ATOMIC_SEQ_CST);
  close (j->wfd);
  j->wfd = -1;
  return NULL;
}

static int
verify_layer (struct layer_job *j, const struct husk_layer_apply_result *res, husk_error_t *err)
{
  if (j->blob_digest == NULL || strcmp (j->blob_digest, j->digest) != 0)
    return husk_make_error (err, 0, "blob %s: Digest did not match, expected %s, got %s", j->digest,
                            j->digest, j->blob_digest ? j->blob_digest : "nothing");
  if (j->size && j->fed != j->size)
    return husk_make_error (err, 0, "blob %s: size %" PRIu64 " does not match the manifest's %" PRIu64,
                            j->digest, j->fed, j->size);
  if (strcmp (res->diff_id, j->diff_id) != 0)
    return husk_make_error (err, 0, "layer %s: diffID did not match, the config has %s, the content is %s",
                            j->digest, j->diff_id, res->diff_id);
  return 0;
}

static int
layer_run (struct layer_job *j, husk_error_t *err)
{
  struct husk_layer_apply_result res = { 0 };
  cleanup_close int rfd = -1;
  int fds[2];
  bool dl_first = false;
  pthread_t tid;
  int ret;

  ret = husk_store_layer_stage_new (j->p->s, &j->stage, err);
  if (ret < 0)
    return ret;
  if (pipe2 (fds, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "pipe");
  rfd = fds[0];
  j->wfd = fds[1];
  /* Fewer wake-ups between the download and the extraction.  */
  (void)fcntl (rfd, F_SETPIPE_SZ, 1 << 20);
  j->blob = husk_digester_new ();
  j->slot = husk_registry_progress_start (j->p->progress, "blob", j->digest, j->size);
  ret = pthread_create (&tid, NULL, download_main, j);
  if (ret != 0)
    {
      close (j->wfd);
      return husk_make_error (err, ret, "start a download thread");
    }
  ret = husk_image_layer_apply (j->stage, husk_read_fd, &rfd, &j->p->apply, j->media_type, &res, err);
  if (ret < 0)
    {
      /* Did the download fail first (the extraction then only saw a
         short stream)?  dl_ret is set before the pipe is closed.  */
      dl_first = __atomic_load_n (&j->dl_ret, __ATOMIC_SEQ_CST) < 0;
      /* Stop the download: it gets EPIPE or sees the flag.  */
      __atomic_store_n (&j->abort, true, __ATOMIC_SEQ_CST);
      close (move_fd (&rfd));
    }
  pthread_join (tid, NULL);
  if (j->dl_ret < 0 && (ret == 0 || dl_first))
    {
      husk_error_release (err);
      *err = steal_pointer (&j->dl_err);
      ret = -1;
    }
  if (ret == 0)
    ret = verify_layer (j, &res, err);
  if (ret == 0)
    {
      /* The extraction saw plain tar: record the blob as it came.  */
      const char *mt = j->media_type;
      if (mt == NULL)
        mt = j->un.comp == HUSK_COMPRESSION_GZIP   ? "application/vnd.oci.image.layer.v1.tar+gzip"
             : j->un.comp == HUSK_COMPRESSION_ZSTD ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                                   : "application/vnd.oci.image.layer.v1.tar";
      husk_layer_stage_set (j->stage, res.diff_id, res.content_size, j->blob_digest, j->fed, mt);
      husk_layer_stage_set_diff_size (j->stage, res.diff_size);
    }
  husk_layer_apply_result_clear (&res);
  if (ret == 0)
    husk_registry_progress_done (j->p->progress, j->slot, "done");
  return ret;
}

static void *
worker_main (void *arg)
{
  struct pull *p = arg;

  for (;;)
    {
      struct layer_job *j = NULL;

      pthread_mutex_lock (&p->lock);
      while (p->next < p->n_jobs && p->jobs[p->next].skip)
        p->next++;
      if (p->next < p->n_jobs && !p->failed)
        j = &p->jobs[p->next++];
      pthread_mutex_unlock (&p->lock);
      if (j == NULL)
        return NULL;
      j->ret = layer_run (j, &j->err);
      if (j->ret < 0)
        __atomic_store_n (&p->failed, true, __ATOMIC_SEQ_CST);
    }
}

static int
run_layers (struct pull *p, husk_error_t *err)
{
  pthread_t tids[PULL_PARALLEL];
  size_t todo = 0, n_threads, started = 0;
  int ret = 0;

  for (size_t i = 0; i < p->n_jobs; i++)
    todo += !p->jobs[i].skip;
  n_threads = todo < PULL_PARALLEL ? todo : PULL_PARALLEL;
  for (size_t i = 0; i < n_threads; i++)
    if (pthread_create (&tids[started], NULL, worker_main, p) == 0)
      started++;
  if (started == 0 && todo > 0)
    worker_main (p);
  for (size_t i = 0; i < started; i++)
    pthread_join (tids[i], NULL);
  /* Report the first failure in manifest order that is not a mere
     consequence of another layer's failure.  */
  for (size_t i = 0; i < p->n_jobs; i++)
    if (p->jobs[i].ret < 0 && p->jobs[i].err && p->jobs[i].err->status != ECANCELED)
      {
        *err = steal_pointer (&p->jobs[i].err);
        return -1;
      }
  for (size_t i = 0; i < p->n_jobs; i++)
    if (p->jobs[i].ret < 0)
      {
        *err = steal_pointer (&p->jobs[i].err);
        return -1;
      }
  return ret;
}

/* ---- one image ---- */

static bool
is_index (const char *mt)
{
  return mt && (strcmp (mt, MT_OCI_INDEX) == 0 || strcmp (mt, MT_DOCKER_LIST) == 0);
}

static int
parse_json (const char *data, size_t len, const char *what, husk_json_t **out, husk_error_t *err)
{
  *out = husk_json_parse (data, len, err);
  if (*out == NULL)
    return husk_error_wrap (err, "parsing %s", what);
  if (husk_json_type (*out) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "parsing %s: not a JSON object", what);
  return 0;
}

/* The image manifest for ref: an index is resolved for the platform.  */
static int
fetch_manifest (struct pull *p, husk_registry_client_t *c, const char *ref, char **data, size_t *len,
                char **digest, husk_json_t **doc, husk_error_t *err)
{
  cleanup_free char *mt = NULL;
  int ret;

  ret = husk_registry_manifest_get (c, ref, data, len, &mt, digest, err);
  if (ret < 0)
    return ret;
  ret = parse_json (*data, *len, "manifest", doc, err);
  if (ret < 0)
    return ret;
  if (is_index (mt) || (mt == NULL && husk_json_get (*doc, "manifests")))
    {
      const struct husk_registry_pull_opts *o = p->opts;
      husk_json_t *d = husk_registry_select_platform (*doc, o->os, o->arch, o->variant, err);
      cleanup_free char *child = NULL;

      if (d == NULL)
        return husk_error_wrap (err, "choosing an image from manifest list %s/%s:%s",
                                husk_registry_client_host (c), husk_registry_client_repository (c), ref);
      if (!husk_digest_valid (husk_json_get_string (d, "digest")))
        return husk_make_error (err, 0, "manifest list %s: invalid digest in an entry", ref);
      child = xstrdup (husk_json_get_string (d, "digest"));
      husk_json_free (*doc);
      *doc = NULL;
      free (*data);
      *data = NULL;
      free (*digest);
      *digest = NULL;
      free (mt);
      mt = NULL;
      ret = husk_registry_manifest_get (c, child, data, len, &mt, digest, err);
      if (ret < 0)
        return ret;
      ret = parse_json (*data, *len, "manifest", doc, err);
      if (ret < 0)
        return ret;
    }
  if (mt && strcmp (mt, MT_OCI_MANIFEST) != 0 && strcmp (mt, MT_DOCKER_MANIFEST) != 0)
    return husk_make_error (err, 0, "unsupported manifest type %s", mt);
  if (husk_json_int (husk_json_get (*doc, "schemaVersion"), 0) != 2)
    return husk_make_error (err, 0, "unsupported manifest schema version %" PRId64,
                            husk_json_int (husk_json_get (*doc, "schemaVersion"), 0));
  return 0;
}

static int
fetch_config (husk_registry_client_t *c, husk_json_t *manifest, char **config, size_t *config_len,
              husk_json_t **doc, char **digest, husk_error_t *err)
{
  husk_json_t *desc = husk_json_get (manifest, "config");
  const char *d = husk_json_get_string (desc, "digest");
  int64_t size = husk_json_int (husk_json_get (desc, "size"), -1);
  int ret;

  if (!husk_digest_valid (d))
    return husk_make_error (err, 0, "the manifest has no valid config digest");
  if (size > (int64_t)HUSK_REGISTRY_MAX_MANIFEST)
    return husk_make_error (err, 0, "config %s: %" PRId64 " bytes exceeds the limit of %u", d, size,
                            HUSK_REGISTRY_MAX_MANIFEST);
  ret = husk_registry_blob_get_small (c, d, config, config_len, err);
  if (ret < 0)
    return ret;
  ret = parse_json (*config, *config_len, "config", doc, err);
  if (ret < 0)
    return ret;
  *digest = xstrdup (d);
  return 0;
}

static int
plan_layers (struct pull *p, husk_json_t *manifest, husk_json_t *config, husk_registry_client_t *c,
             husk_error_t *err)
{
  husk_json_t *layers = husk_json_get (manifest, "layers");
  husk_json_t *diff_ids = husk_json_get_path (config, "rootfs", "diff_ids", NULL);
  size_t n = husk_json_array_len (layers);

  if (n != husk_json_array_len (diff_ids))
    return husk_make_error (err, 0, "the manifest lists %zu layers but the config has %zu diffIDs", n,
                            husk_json_array_len (diff_ids));
  p->jobs = xzalloc ((n ? n : 1) * sizeof (*p->jobs));
  p->n_jobs = n;
  for (size_t i = 0; i < n; i++)
    {
      husk_json_t *l = husk_json_array_at (layers, i);
      struct layer_job *j = &p->jobs[i];
      int64_t size = husk_json_int (husk_json_get (l, "size"), 0);

      j->p = p;
      j->c = c;
      j->wfd = -1;
      j->slot = -1;
      j->digest = husk_json_get_string (l, "digest");
      j->media_type = husk_json_get_string (l, "mediaType");
      j->diff_id = husk_json_string (husk_json_array_at (diff_ids, i));
      j->size = size > 0 ? (uint64_t)size : 0;
      if (!husk_digest_valid (j->digest))
        return husk_make_error (err, 0, "layer %zu of the manifest has no valid digest", i + 1);
      if (!husk_digest_valid (j->diff_id))
        return husk_make_error (err, 0, "diffID %zu of the config is not a valid digest", i + 1);
      j->skip = husk_store_layer_exists (p->s, j->diff_id);
      for (size_t k = 0; k < i && !j->skip; k++)
        j->skip = strcmp (p->jobs[k].diff_id, j->diff_id) == 0;
      if (j->skip)
        {
          int slot = husk_registry_progress_start (p->progress, "blob", j->digest, j->size);
          husk_registry_progress_done (p->progress, slot, "skipped: already exists");
        }
    }
  return 0;
}

static void
pull_clear (struct pull *p)
{
  for (size_t i = 0; i < p->n_jobs; i++)
    {
      husk_layer_stage_free (p->jobs[i].stage);
      husk_digester_free (p->jobs[i].blob);
      free (p->jobs[i].blob_digest);
      unpacker_clear (&p->jobs[i].un);
      husk_error_release (&p->jobs[i].err);
      husk_error_release (&p->jobs[i].dl_err);
    }
  free (p->jobs);
  p->jobs = NULL;
  p->n_jobs = p->next = 0;
  p->failed = false;
}

static int
commit_image (struct pull *p, const char *name, const char *config, size_t config_len, const char *manifest,
              size_t manifest_len, const char *manifest_digest, char **id, husk_error_t *err)
{
  cleanup_free husk_layer_stage_t **stages = xzalloc ((p->n_jobs ? p->n_jobs : 1) * sizeof (*stages));
  char *const names[] = { (char *)name, NULL };
  struct husk_image_commit c = {
    .config = config,
    .config_len = config_len,
    .manifest = manifest,
    .manifest_len = manifest_len,
    .manifest_digest = manifest_digest,
    .names = names,
    .stages = stages,
  };
  int ret;

  for (size_t i = 0; i < p->n_jobs; i++)
    if (p->jobs[i].stage)
      stages[c.n_stages++] = p->jobs[i].stage;
  ret = husk_store_lock (p->s, true, err);
  if (ret < 0)
    return ret;
  ret = husk_store_image_commit (p->s, &c, id, err);
  husk_store_unlock (p->s);
  return ret;
}

static void
warn_platform (struct pull *p, husk_json_t *config)
{
  const char *os = husk_json_get_string (config, "os");
  const char *arch = husk_json_get_string (config, "architecture");
  const char *want_os = p->opts->os ? p->opts->os : "linux";
  const char *want_arch = p->opts->arch ? p->opts->arch : husk_image_host_arch ();

  if (os && arch && (strcmp (os, want_os) != 0 || strcmp (arch, want_arch) != 0))
    husk_warn ("image platform (%s/%s) does not match the expected platform (%s/%s)", os, arch, want_os,
               want_arch);
}

/* Pull ref (a tag or a digest) from c; record it as name.  */
static int
pull_image (struct pull *p, husk_registry_client_t *c, const char *ref, const char *name, char **id,
            husk_error_t *err)
{
  cleanup_free char *manifest = NULL, *manifest_digest = NULL, *config = NULL, *config_digest = NULL;
  cleanup_json husk_json_t *mdoc = NULL, *cdoc = NULL;
  size_t manifest_len = 0, config_len = 0;
  int ret;

  ret = fetch_manifest (p, c, ref, &manifest, &manifest_len, &manifest_digest, &mdoc, err);
  if (ret < 0)
    return ret;
  husk_registry_progress_line (p->progress, "Getting image source signatures");
  ret = fetch_config (c, mdoc, &config, &config_len, &cdoc, &config_digest, err);
  if (ret < 0)
    return ret;
  warn_platform (p, cdoc);
  ret = plan_layers (p, mdoc, cdoc, c, err);
  if (ret == 0)
    ret = run_layers (p, err);
  if (ret == 0)
    {
      int slot = husk_registry_progress_start (p->progress, "config", config_digest, config_len);
      husk_registry_progress_done (p->progress, slot, "done");
      husk_registry_progress_line (p->progress, "Writing manifest to image destination");
      ret = commit_image (p, name, config, config_len, manifest, manifest_len, manifest_digest, id, err);
    }
  if (ret == 0)
    husk_registry_progress_line (p->progress, "Storing signatures");
  pull_clear (p);
  return ret;
}

/* ---- references and endpoints ---- */

static uint64_t
max_layer_size (const struct husk_registry_opts *o)
{
  const char *env = getenv ("HUSK_MAX_LAYER_SIZE");
  uint64_t v;

  if (o->max_layer_size)
    return o->max_layer_size;
  if (env && husk_parse_u64 (env, &v) && v > 0)
    return v;
  return HUSK_REGISTRY_MAX_LAYER;
}

/* Pull one fully qualified candidate through its endpoints (mirrors
   first).  ids gets one id, or one per tag with all_tags.  */
static int
pull_candidate (struct pull *p, const husk_registries_conf_t *conf, const char *cand, char ***ids,
                husk_error_t *err)
{
  cleanup_reference struct husk_reference *r = NULL;
  struct husk_registry_endpoint *eps = NULL;
  size_t n_eps = 0;
  int ret;

  ret = husk_reference_parse (cand, &r, err);
  if (ret < 0)
    return ret;
  ret = husk_registries_conf_endpoints (conf, r->domain, r->path, &eps, &n_eps, err);
  if (ret < 0)
    return ret;
  ret = husk_make_error (err, 0, "no endpoint for %s", cand);
  for (size_t e = 0; e < n_eps; e++)
    {
      cleanup_registry_client husk_registry_client_t *c = NULL;
      cleanup_strv char **tags = NULL;
      cleanup_strv char **got = NULL;

      husk_error_release (err);
      ret = husk_registry_client_new (eps[e].host, eps[e].path, false, &p->opts->reg, eps[e].insecure, &c,
                                      err);
      if (ret < 0)
        break;
      if (p->opts->all_tags)
        {
          ret = husk_registry_list_tags (c, &tags, err);
          for (size_t t = 0; ret == 0 && tags[t]; t++)
            {
              cleanup_free char *name = xasprintf ("%s/%s:%s", r->domain, r->path, tags[t]);
              char *id = NULL;
              husk_registry_progress_line (p->progress, "Trying to pull %s...", name);
              ret = pull_image (p, c, tags[t], name, &id, err);
              if (ret == 0)
                strv_append_take (&got, id);
            }
        }
      else
        {
          const char *ref = r->digest ? r->digest : (r->tag ? r->tag : "latest");
          cleanup_free char *name = NULL;
          char *id = NULL;

          if (r->digest)
            name = xasprintf ("%s/%s@%s", r->domain, r->path, r->digest);
          else
            name = xasprintf ("%s/%s:%s", r->domain, r->path, ref);
          ret = pull_image (p, c, ref, name, &id, err);
          if (ret == 0)
            strv_append_take (&got, id);
        }
      if (ret == 0)
        {
          *ids = steal_pointer (&got);
          break;
        }
      if (eps[e].mirror && e + 1 < n_eps)
        husk_debug ("mirror %s: %s", eps[e].host, (*err)->msg);
    }
  husk_registry_endpoints_free (eps, n_eps);
  return ret;
}

int
husk_registry_pull (husk_store_t *s, const char *user_ref, const struct husk_registry_pull_opts *opts,
                    char ***ids, husk_error_t *err)
{
  cleanup_registries_conf husk_registries_conf_t *conf = NULL;
  cleanup_strv char **cands = NULL;
  struct pull p = { .s = s, .opts = opts };
  struct husk_buf errors = { 0 };
  size_t n_cands;
  int ret;

  /* A reader that goes away must give EPIPE, not kill us.  */
  signal (SIGPIPE, SIG_IGN);
  ret = husk_registries_conf_load (&conf, err);
  if (ret < 0)
    return ret;
  ret = husk_registries_conf_candidates (conf, user_ref, &cands, err);
  if (ret < 0)
    return ret;
  n_cands = strv_len (cands);
  if (n_cands == 0)
    return husk_make_error (err, 0,
                            "short-name \"%s\" did not resolve to an alias and no "
                            "unqualified-search registries are defined",
                            user_ref);
  p.progress = husk_registry_progress_new (opts->reg.quiet ? NULL : opts->reg.progress);
  p.apply.max_uncompressed = max_layer_size (&opts->reg);
  p.apply.userxattr = husk_store_rootless (s);
  p.apply.no_chown = !husk_userns_can_chown ();
  pthread_mutex_init (&p.lock, NULL);

  for (size_t i = 0; i < n_cands; i++)
    {
      if (!opts->all_tags)
        husk_registry_progress_line (p.progress, "Trying to pull %s...", cands[i]);
      ret = pull_candidate (&p, conf, cands[i], ids, err);
      if (ret == 0)
        break;
      husk_error_wrap (err, "initializing source docker://%s", cands[i]);
      if (n_cands > 1)
        {
          husk_buf_printf (&errors, "%s%s", errors.len ? "; " : "", (*err)->msg);
          if (i + 1 < n_cands)
            husk_error_release (err);
        }
    }
  if (ret < 0 && n_cands > 1)
    {
      cleanup_free char *all = husk_buf_steal (&errors, NULL);
      husk_error_release (err);
      ret = husk_make_error (err, 0, "%s", all);
    }
  husk_buf_free (&errors);
  pthread_mutex_destroy (&p.lock);
  husk_registry_progress_free (p.progress);
  return ret;
}
