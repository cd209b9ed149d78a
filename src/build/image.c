/* husk: a build's commits and its final image (src/build): intermediate
   images for the cache, and the target stage made the build's image
   (--label, --squash, --format docker, --timestamp, tags, the event).  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "husk/build.h"
#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "build-internal.h"
#include "executor.h"

#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar"

/* ---- timestamps ---- */

char *
build_now_string (struct build_executor *x)
{
  if (x->o->have_timestamp)
    {
      time_t t = (time_t)x->o->timestamp;
      struct tm tm;
      char buf[64];

      gmtime_r (&t, &tm);
      strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
      return xstrdup (buf);
    }
  return husk_format_rfc3339 (husk_now_ns ());
}

/* ---- commits ---- */

int
build_commit_image (struct build_executor *x, husk_json_t *config, const char *manifest, char *const *names,
                    bool intermediate, const char *key, husk_layer_stage_t **stages, size_t n_stages,
                    bool *existed, char **id, husk_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;
  struct husk_image_commit ic = { 0 };
  int ret;

  data = husk_json_serialize (config, false, &len);
  ic.config = data;
  ic.config_len = len;
  ic.manifest = manifest;
  ic.manifest_len = manifest ? strlen (manifest) : 0;
  ic.names = names;
  ic.intermediate = intermediate;
  ic.build_key = key;
  ic.stages = stages;
  ic.n_stages = n_stages;
  ret = husk_store_lock (x->s, true, err);
  if (ret < 0)
    return ret;
  if (existed)
    {
      struct husk_image_record *rec = NULL;
      cleanup_free char *hex = husk_digest_buffer (data, len);
      ret = husk_store_image_find (x->s, husk_digest_hex (hex), &rec, NULL);
      *existed = ret > 0;
    }
  ret = husk_store_image_commit (x->s, &ic, id, err);
  husk_store_unlock (x->s);
  return ret;
}

/* ---- the final image ---- */

static int
squash_layer (struct build_executor *x, struct build_stage *st, husk_layer_stage_t **out, char **diff_id,
              husk_error_t *err)
{
  cleanup_close int root = -1;
  cleanup_close int tmp = -1;
  int ret;

  root = build_layers_mount (x->b, st->diff_ids, err);
  if (root < 0)
    return -1;
  tmp = husk_open_tmpfile (x->b->tmpdir, err);
  if (tmp < 0)
    return -1;
  ret = husk_fs_tar_write (root, "/", false, "", NULL, tmp, err);
  if (ret < 0)
    return ret;
  return build_tar_layer (x->s, tmp, "squashing the image's layers", out, diff_id, err);
}

static void
squash_config (struct build_executor *x, husk_json_t *config, const char *diff_id)
{
  husk_json_t *history = husk_json_get (config, "history");
  husk_json_t *rootfs = husk_json_new_object ();
  husk_json_t *h = husk_json_new_object ();
  cleanup_free char *now = build_now_string (x);
  size_t n = husk_json_array_len (history);

  for (size_t i = 0; i < n; i++)
    husk_json_set_bool (husk_json_array_at (history, i), "empty_layer", true);
  if (history == NULL)
    {
      history = husk_json_new_array ();
      husk_json_set (config, "history", history);
    }
  husk_json_set_string (h, "created", now);
  husk_json_set_string (h, "created_by", "/bin/sh -c #(nop) squash");
  husk_json_array_append (history, h);
  husk_json_set_string (rootfs, "type", "layers");
  husk_json_set (rootfs, "diff_ids", husk_json_from_strv ((char *[]){ (char *)diff_id, NULL }));
  husk_json_set (config, "rootfs", rootfs);
}

static char *
docker_manifest (struct build_executor *x, husk_json_t *config)
{
  cleanup_json husk_json_t *m = husk_json_new_object ();
  husk_json_t *c = husk_json_new_object ();
  husk_json_t *layers = husk_json_new_array ();
  cleanup_strv char **ids = build_config_diff_ids (config);
  cleanup_free char *data = NULL;
  cleanup_free char *digest = NULL;
  size_t len;

  data = husk_json_serialize (config, false, &len);
  digest = husk_digest_buffer (data, len);
  husk_json_set_int (m, "schemaVersion", 2);
  husk_json_set_string (m, "mediaType", DOCKER_MANIFEST);
  husk_json_set_string (c, "mediaType", DOCKER_CONFIG);
  husk_json_set_int (c, "size", (int64_t)len);
  husk_json_set_string (c, "digest", digest);
  husk_json_set (m, "config", c);
  for (char **id = ids; *id; id++)
    {
      husk_json_t *l = husk_json_new_object ();
      husk_json_set_string (l, "mediaType", DOCKER_LAYER);
      husk_json_set_int (l, "size", (int64_t)husk_store_layer_diff_size (x->s, *id));
      husk_json_set_string (l, "digest", *id);
      husk_json_array_append (layers, l);
    }
  husk_json_set (m, "layers", layers);
  return husk_json_serialize (m, false, NULL);
}

static char *
final_key (struct build_executor *x, const char *last)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();

  husk_digester_update (d, last, strlen (last));
  husk_digester_update (d, "\0commit", 7);
  for (char *const *l = x->o->labels; l && *l; l++)
    husk_digester_update (d, *l, strlen (*l) + 1);
  if (x->o->squash)
    husk_digester_update (d, "\0squash", 7);
  if (x->o->format == HUSK_BUILD_FORMAT_DOCKER)
    husk_digester_update (d, "\0docker", 7);
  if (x->o->have_timestamp)
    {
      cleanup_free char *t = xasprintf ("\1%lld", (long long)x->o->timestamp);
      husk_digester_update (d, t, strlen (t));
    }
  return husk_digester_final (d);
}

/* The final image of an earlier build with the same key, when the cache
   may be used: *cached its id and *config its config (both NULL on a
   miss).  *up_to_date: it is a named image that has every tag already.  */
static int
final_cached (struct build_executor *x, const char *key, char **cached, husk_json_t **config,
              bool *up_to_date, husk_error_t *err)
{
  char *const *tags = x->o->tags;
  int ret;

  if (!x->o->layers || x->o->no_cache || x->missed)
    return 0;
  ret = husk_store_lock (x->s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_image_find_build (x->s, key, cached, err);
  if (ret > 0)
    {
      cleanup_free char *data = NULL;
      size_t len;
      struct husk_image_record *rec = NULL;
      ret = husk_store_image_config (x->s, *cached, &data, &len, err);
      if (ret >= 0)
        {
          *config = husk_json_parse (data, len, err);
          ret = *config ? 1 : -1;
        }
      /* Named as asked already: nothing to write (a cached rebuild
         takes no exclusive lock).  */
      if (ret > 0 && husk_store_image_find (x->s, *cached, &rec, NULL) > 0 && !rec->intermediate)
        {
          *up_to_date = true;
          for (char *const *t = tags; t && *t; t++)
            if (!strv_contains (rec->names, *t))
              *up_to_date = false;
        }
    }
  husk_store_unlock (x->s);
  return ret < 0 ? ret : 0;
}

/* A new final config from the target stage's: --label, --squash (its
   layer in *squashed), the creation times.  *layer: the layer to commit
   with it, or NULL.  */
static int
final_config (struct build_executor *x, struct build_stage *st, husk_json_t **out,
              husk_layer_stage_t **squashed, husk_layer_stage_t **layer, husk_error_t *err)
{
  cleanup_json husk_json_t *config = husk_json_clone (st->config);
  cleanup_free char *now = NULL;
  husk_json_t *history;

  for (char *const *l = x->o->labels; l && *l; l++)
    {
      cleanup_free char *k = xstrndup (*l, strcspn (*l, "="));
      const char *eq = strchr (*l, '=');
      husk_json_set_string (build_cfg_member (config, "Labels", HUSK_JSON_OBJECT), k, eq ? eq + 1 : "");
    }
  *layer = st->lstage;
  if (x->o->squash)
    {
      cleanup_free char *squash_id = NULL;
      if (squash_layer (x, st, squashed, &squash_id, err) < 0)
        return -1;
      squash_config (x, config, squash_id);
      *layer = *squashed;
    }
  now = build_now_string (x);
  history = husk_json_get (config, "history");
  husk_json_set_string (config, "created", now);
  if (x->o->have_timestamp)
    for (size_t i = 0; i < husk_json_array_len (history); i++)
      husk_json_set_string (husk_json_array_at (history, i), "created", now);
  *out = steal_pointer (&config);
  return 0;
}

int
build_commit_final (struct build_executor *x, char **id, husk_error_t *err)
{
  struct build_stage *st = &x->stages[x->target];
  cleanup_free char *key = final_key (x, st->key);
  cleanup_free char *cached = NULL;
  cleanup_free char *manifest = NULL;
  cleanup_layer_stage husk_layer_stage_t *squashed = NULL;
  cleanup_json husk_json_t *config = NULL;
  husk_layer_stage_t *layer = NULL;
  char *const *tags = x->o->tags;
  bool up_to_date = false;
  int ret;

  if (final_cached (x, key, &cached, &config, &up_to_date, err) < 0)
    return -1;
  if (config == NULL && final_config (x, st, &config, &squashed, &layer, err) < 0)
    return -1;
  if (x->o->format == HUSK_BUILD_FORMAT_DOCKER)
    manifest = docker_manifest (x, config);

  if (tags && tags[0])
    build_out_line (x, "COMMIT %s", tags[0]);
  else
    build_out_line (x, "COMMIT");
  if (up_to_date)
    *id = xstrdup (cached);
  else
    {
      ret = build_commit_image (x, config, manifest, tags && tags[0] ? tags : NULL, false,
                                x->o->layers ? key : NULL, layer ? &layer : NULL, layer ? 1 : 0, NULL, id,
                                err);
      if (ret < 0)
        return ret;
    }
  build_out_line (x, "--> %.12s", *id);
  for (char *const *t = tags; t && *t; t++)
    build_out_line (x, "Successfully tagged %s", *t);
  husk_store_event (x->s, "image", "build", *id, tags && tags[0] ? tags[0] : NULL, NULL);
  return 0;
}

void
build_remove_temp_images (struct build_executor *x, const char *keep)
{
  husk_error_t e = NULL;

  if (x->temp_images == NULL)
    return;
  if (husk_store_lock (x->s, true, &e) < 0)
    {
      husk_error_release (&e);
      return;
    }
  for (char **id = x->temp_images; *id; id++)
    if (keep == NULL || strcmp (*id, keep) != 0)
      if (husk_store_image_remove (x->s, *id, &e) < 0)
        husk_error_release (&e);
  husk_store_unlock (x->s);
}
