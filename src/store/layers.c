/* husk: stored layers and the stages they are extracted into.

   A stage is layers/.stage-XXXXXX/ holding "incomplete" (an empty file its
   owner keeps open with an exclusive flock) and diff/.  When the owner dies
   the flock goes with it, and the next exclusive store lock removes the
   stage.  Committing renames the stage to layers/<hex> and drops the
   marker (commit.c).  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

const char *
husk_store_layer_key (const char *diff_id)
{
  const char *hex;

  if (diff_id == NULL)
    return NULL;
  hex = husk_has_prefix (diff_id, "sha256:") ? diff_id + strlen ("sha256:") : diff_id;
  return husk_store_is_hex64 (hex) ? hex : NULL;
}

/* Create the directory and lock its marker while holding at least a
   shared store lock, so that a repair (which needs the exclusive lock)
   never sees the stage before its marker is locked.  */
static int
stage_create (husk_store_t *s, husk_layer_stage_t *st, husk_error_t *err)
{
  cleanup_free char *marker = NULL;
  cleanup_free char *diff = NULL;

  st->name = husk_mkdtemp_at (s->layersfd, ".stage-", err);
  if (st->name == NULL)
    return husk_error_wrap (err, "create a layer stage in %s/layers", s->root);
  marker = xasprintf ("%s/incomplete", st->name);
  st->lockfd = openat (s->layersfd, marker, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (st->lockfd < 0)
    return husk_make_error (err, errno, "create %s/layers/%s", s->root, marker);
  if (flock (st->lockfd, LOCK_EX | LOCK_NB) < 0)
    return husk_make_error (err, errno, "lock %s/layers/%s", s->root, marker);
  st->topfd = openat (s->layersfd, st->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (st->topfd < 0)
    return husk_make_error (err, errno, "open %s/layers/%s", s->root, st->name);
  if (mkdirat (st->topfd, "diff", 0755) < 0)
    return husk_make_error (err, errno, "create %s/layers/%s/diff", s->root, st->name);
  st->dirfd = openat (st->topfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (st->dirfd < 0)
    return husk_make_error (err, errno, "open %s/layers/%s/diff", s->root, st->name);
  return 0;
}

int
husk_store_layer_stage_new (husk_store_t *s, husk_layer_stage_t **out, husk_error_t *err)
{
  cleanup_layer_stage husk_layer_stage_t *st = xzalloc (sizeof (*st));
  cleanup_close int guard = -1;
  int ret;

  st->store = s;
  st->lockfd = st->topfd = st->dirfd = -1;
  st->layersfd = fcntl (s->layersfd, F_DUPFD_CLOEXEC, 3);
  if (st->layersfd < 0)
    return husk_make_error (err, errno, "dup");

  /* Our own lock already keeps repair out.  Otherwise take a shared lock
     on a separate open file, which leaves the handle's lock state alone
     so stages can be made from several threads.  */
  if (s->lock_mode == 0)
    {
      guard = openat (s->rootfd, "store.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (guard < 0)
        return husk_make_error (err, errno, "open %s/store.lock", s->root);
      while (flock (guard, LOCK_SH) < 0)
        if (errno != EINTR)
          return husk_make_error (err, errno, "lock %s/store.lock", s->root);
    }
  ret = stage_create (s, st, err);
  if (ret < 0)
    return ret;
  *out = steal_pointer (&st);
  return 0;
}

int
husk_layer_stage_dirfd (const husk_layer_stage_t *st)
{
  return st->dirfd;
}

void
husk_layer_stage_set (husk_layer_stage_t *st, const char *diff_id, uint64_t content_size,
                      const char *blob_digest, uint64_t blob_size, const char *media_type)
{
  free (st->diff_id);
  free (st->blob_digest);
  free (st->media_type);
  st->diff_id = diff_id ? xstrdup (diff_id) : NULL;
  st->content_size = content_size;
  st->blob_digest = blob_digest ? xstrdup (blob_digest) : NULL;
  st->blob_size = blob_size;
  st->media_type = media_type ? xstrdup (media_type) : NULL;
  /* An uncompressed blob is the tar itself.  */
  if (st->diff_size == 0 && diff_id && blob_digest && strcmp (diff_id, blob_digest) == 0)
    st->diff_size = blob_size;
}

void
husk_layer_stage_set_diff_size (husk_layer_stage_t *st, uint64_t diff_size)
{
  st->diff_size = diff_size;
}

void
husk_layer_stage_free (husk_layer_stage_t *st)
{
  if (st == NULL)
    return;
  if (st->dirfd >= 0)
    close (st->dirfd);
  if (st->topfd >= 0)
    close (st->topfd);
  if (!st->committed && st->name && st->layersfd >= 0)
    {
      husk_error_t err = NULL;
      if (husk_rm_rf_at (st->layersfd, st->name, &err) < 0)
        {
          husk_debug ("%s", err->msg);
          husk_error_release (&err);
        }
    }
  /* Unlocked only now, so a repair never races our own removal.  */
  if (st->lockfd >= 0)
    close (st->lockfd);
  if (st->layersfd >= 0)
    close (st->layersfd);
  free (st->name);
  free (st->diff_id);
  free (st->blob_digest);
  free (st->media_type);
  free (st);
}

void
cleanup_layer_stagep (husk_layer_stage_t **st)
{
  husk_layer_stage_free (*st);
  *st = NULL;
}

bool
husk_store_layer_exists (husk_store_t *s, const char *diff_id)
{
  cleanup_free char *path = NULL;
  const char *key = husk_store_layer_key (diff_id);

  if (key == NULL)
    return false;
  path = xasprintf ("%s/layer.json", key);
  return faccessat (s->layersfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

char *
husk_store_layer_path (husk_store_t *s, const char *diff_id)
{
  const char *key = husk_store_layer_key (diff_id);

  return xasprintf ("%s/layers/%s/diff", s->root, key ? key : "invalid");
}

int
husk_store_layer_info (husk_store_t *s, const char *hex, struct husk_layer_info *info, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/layer.json", hex);
  cleanup_free char *data = NULL;
  cleanup_json husk_json_t *j = NULL;
  size_t len = 0;
  int ret;

  ret = husk_read_file_at (s->layersfd, path, 1 << 20, &data, &len, err);
  if (ret < 0)
    return ret;
  j = husk_json_parse (data, len, err);
  if (j == NULL)
    return husk_error_wrap (err, "parse %s/layers/%s", s->root, path);
  info->diff_size = (uint64_t)husk_json_int (husk_json_get (j, "diff_size"), 0);
  info->content_size = (uint64_t)husk_json_int (husk_json_get (j, "content_size"), 0);
  return 0;
}

/* The layer's recorded sizes, zeros when it has none.  */
static struct husk_layer_info
layer_info_or_zero (husk_store_t *s, const char *diff_id)
{
  struct husk_layer_info info = { 0 };
  husk_error_t err = NULL;
  const char *key = husk_store_layer_key (diff_id);

  if (key != NULL && husk_store_layer_info (s, key, &info, &err) < 0)
    {
      husk_error_release (&err);
      memset (&info, 0, sizeof (info));
    }
  return info;
}

uint64_t
husk_store_layer_size (husk_store_t *s, const char *diff_id)
{
  return layer_info_or_zero (s, diff_id).content_size;
}

uint64_t
husk_store_layer_diff_size (husk_store_t *s, const char *diff_id)
{
  return layer_info_or_zero (s, diff_id).diff_size;
}

int
husk_store_layer_delete (husk_store_t *s, const char *hex, husk_error_t *err)
{
  cleanup_free char *meta = xasprintf ("%s/layer.json", hex);

  if (unlinkat (s->layersfd, meta, 0) < 0 && errno != ENOENT && errno != ENOTDIR)
    return husk_make_error (err, errno, "remove %s/layers/%s", s->root, meta);
  if (husk_rm_rf_at (s->layersfd, hex, err) < 0)
    return husk_error_wrap (err, "remove layer %s", hex);
  return 0;
}

char *
husk_layer_stage_json (const husk_layer_stage_t *st)
{
  cleanup_json husk_json_t *o = husk_json_new_object ();

  husk_json_set_string (o, "diff_id", st->diff_id);
  husk_json_set_int (o, "diff_size", (int64_t)st->diff_size);
  husk_json_set_int (o, "content_size", (int64_t)st->content_size);
  if (st->blob_digest)
    husk_json_set_string (o, "compressed_digest", st->blob_digest);
  husk_json_set_int (o, "compressed_size", (int64_t)st->blob_size);
  if (st->media_type)
    husk_json_set_string (o, "media_type", st->media_type);
  husk_json_set_int (o, "created", husk_now_ns ());
  return husk_json_serialize (o, false, NULL);
}
