/* husk: committing an image: stages become layers, the image directory is
   written, then the index names the image.

   The index is written last.  A failure before it takes out what this
   call wrote; a kill -9 before it leaves unreferenced layers and an image
   directory the index does not know, which the next exclusive lock
   (repair.c) removes.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

#define OCI_MANIFEST  "application/vnd.oci.image.manifest.v1+json"
#define OCI_CONFIG    "application/vnd.oci.image.config.v1+json"
#define OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"

/* Move one stage to layers/<hex>, or drop it when that layer is stored
   already (a base layer shared by many images is stored once).  */
static int
stage_commit (husk_store_t *s, husk_layer_stage_t *st, char ***moved, husk_error_t *err)
{
  cleanup_free char *json = NULL;
  cleanup_free char *marker = NULL;
  const char *key = husk_store_layer_key (st->diff_id);
  int ret;

  if (husk_store_layer_exists (s, st->diff_id))
    {
      ret = husk_rm_rf_at (s->layersfd, st->name, err);
      if (ret < 0)
        return husk_error_wrap (err, "remove duplicate stage of layer %.12s", key);
      st->committed = true;
      return 0;
    }
  /* A directory without layer.json is a damaged leftover: replace it.  */
  ret = husk_store_layer_delete (s, key, err);
  if (ret < 0)
    return ret;

  json = husk_layer_stage_json (st);
  ret = husk_write_file_atomic (st->topfd, "layer.json", json, strlen (json), 0600, err);
  if (ret < 0)
    return husk_error_wrap (err, "write layer.json of layer %.12s", key);
  if (renameat (s->layersfd, st->name, s->layersfd, key) < 0)
    return husk_make_error (err, errno, "move layer %.12s into %s/layers", key, s->root);
  st->committed = true;
  strv_append (moved, key);

  marker = xasprintf ("%s/incomplete", key);
  if (unlinkat (s->layersfd, marker, 0) < 0)
    return husk_make_error (err, errno, "remove %s/layers/%s", s->root, marker);
  close (st->lockfd);
  st->lockfd = -1;
  return 0;
}

static int
commit_stages (husk_store_t *s, const struct husk_image_commit *c, char ***moved, husk_error_t *err)
{
  size_t i;
  int ret;

  for (i = 0; i < c->n_stages; i++)
    {
      husk_layer_stage_t *st = c->stages[i];

      if (st == NULL || st->store != s)
        return husk_make_error (err, EINVAL, "internal error: layer stage %zu does not belong to this store",
                                i);
      if (st->committed)
        continue;
      if (husk_store_layer_key (st->diff_id) == NULL)
        return husk_make_error (err, EINVAL, "layer stage %s has no valid diffID (%s)", st->name,
                                st->diff_id ? st->diff_id : "unset");
    }
  for (i = 0; i < c->n_stages; i++)
    {
      if (c->stages[i]->committed)
        continue;
      ret = stage_commit (s, c->stages[i], moved, err);
      if (ret < 0)
        return ret;
    }
  return husk_fsync_dir (s->layersfd, err);
}

/* rootfs.diff_ids of the config, each a valid stored layer.  */
static int
config_layers (husk_store_t *s, const husk_json_t *cfg, char ***out, husk_error_t *err)
{
  cleanup_strv char **layers = NULL;
  husk_json_t *ids = husk_json_get_path (cfg, "rootfs", "diff_ids", NULL);
  size_t i;

  if (ids && husk_json_type (ids) != HUSK_JSON_ARRAY)
    return husk_make_error (err, EINVAL, "image config: rootfs.diff_ids is not an array");
  layers = husk_json_to_strv (ids);
  if (strv_len (layers) != husk_json_array_len (ids))
    return husk_make_error (err, EINVAL, "image config: rootfs.diff_ids holds a non-string");
  for (i = 0; layers[i]; i++)
    {
      if (!husk_digest_valid (layers[i]))
        return husk_make_error (err, EINVAL, "image config: invalid diffID \"%s\"", layers[i]);
      if (!husk_store_layer_exists (s, layers[i]))
        return husk_make_error (err, ENOENT, "layer %s of the image is not in the store", layers[i]);
    }
  *out = steal_pointer (&layers);
  return 0;
}

static char *
generate_manifest (const char *config_digest, size_t config_len, char *const *layers,
                   const struct husk_layer_info *infos, size_t *len)
{
  cleanup_json husk_json_t *m = husk_json_new_object ();
  husk_json_t *cfg = husk_json_new_object ();
  husk_json_t *arr = husk_json_new_array ();
  size_t i;

  husk_json_set_int (m, "schemaVersion", 2);
  husk_json_set_string (m, "mediaType", OCI_MANIFEST);
  husk_json_set_string (cfg, "mediaType", OCI_CONFIG);
  husk_json_set_string (cfg, "digest", config_digest);
  husk_json_set_int (cfg, "size", (int64_t)config_len);
  husk_json_set (m, "config", cfg);
  for (i = 0; layers[i]; i++)
    {
      husk_json_t *l = husk_json_new_object ();
      husk_json_set_string (l, "mediaType", OCI_LAYER_TAR);
      husk_json_set_string (l, "digest", layers[i]);
      husk_json_set_int (l, "size", (int64_t)infos[i].diff_size);
      husk_json_array_append (arr, l);
    }
  husk_json_set (m, "layers", arr);
  return husk_json_serialize (m, false, len);
}

static int
write_image_dir (husk_store_t *s, const char *hex, const struct husk_image_commit *c, const char *manifest,
                 size_t manifest_len, husk_error_t *err)
{
  cleanup_close int dfd = -1;
  int ret;

  ret = husk_rm_rf_at (s->imagesfd, hex, err);
  if (ret < 0)
    return ret;
  if (mkdirat (s->imagesfd, hex, 0700) < 0)
    return husk_make_error (err, errno, "create %s/images/%s", s->root, hex);
  dfd = openat (s->imagesfd, hex, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0)
    return husk_make_error (err, errno, "open %s/images/%s", s->root, hex);
  ret = husk_write_file_atomic (dfd, "config.json", c->config, c->config_len, 0600, err);
  if (ret < 0)
    return ret;
  ret = husk_write_file_atomic (dfd, "manifest.json", manifest, manifest_len, 0600, err);
  if (ret < 0)
    return ret;
  return husk_fsync_dir (s->imagesfd, err);
}

/* "docker.io/library/x:tag" -> "docker.io/library/x@<digest>".  */
static char *
name_with_digest (const char *name, const char *digest)
{
  const char *slash = strrchr (name, '/');
  const char *at = strchr (name, '@');
  const char *colon = strrchr (slash ? slash : name, ':');
  size_t len = at ? (size_t)(at - name) : colon ? (size_t)(colon - name) : strlen (name);

  return xasprintf ("%.*s@%s", (int)len, name, digest);
}

struct commit_state
{
  const char *hex;
  char **layers;
  struct husk_layer_info *infos;
  husk_json_t *cfg;
  char *manifest_digest;
  bool source_manifest; /* digests are recorded only for a manifest that came from somewhere */
};

static struct husk_image_record *
new_record (const struct commit_state *cs)
{
  struct husk_image_record *r = xzalloc (sizeof (*r));
  const char *created = husk_json_get_string (cs->cfg, "created");
  husk_json_t *labels = husk_json_get_path (cs->cfg, "config", "Labels", NULL);
  cleanup_strv char **seen = NULL;
  size_t i;

  r->id = xstrdup (cs->hex);
  r->names = strv_dup (NULL);
  r->digests = strv_dup (NULL);
  r->digest = xstrdup (cs->manifest_digest);
  r->layers = strv_dup (cs->layers);
  for (i = 0; cs->layers[i]; i++)
    if (!strv_contains (seen, cs->layers[i]))
      {
        strv_append (&seen, cs->layers[i]);
        r->size += cs->infos[i].content_size;
      }
  if (created == NULL || !husk_parse_rfc3339 (created, &r->created))
    r->created = 0;
  r->added = husk_now_ns ();
  if (labels && husk_json_type (labels) == HUSK_JSON_OBJECT)
    r->labels = husk_json_clone (labels);
  return r;
}

/* The new index: the record added or its names merged, and the names taken
   away from every other image.  */
static int
update_index (husk_store_t *s, const struct husk_image_commit *c, const struct commit_state *cs,
              husk_error_t *err)
{
  struct husk_image_record **recs, *target = NULL;
  size_t i, j, n;

  recs = husk_store_index_copy (s, &n);
  for (i = 0; i < n; i++)
    if (strcmp (recs[i]->id, cs->hex) == 0)
      target = recs[i];
  if (target == NULL)
    {
      target = new_record (cs);
      target->intermediate = c->intermediate;
      recs = xrealloc (recs, (n + 2) * sizeof (*recs));
      recs[n++] = target;
      recs[n] = NULL;
    }
  else if (!c->intermediate)
    target->intermediate = false;
  if (c->build_key && !strv_contains (target->build_keys, c->build_key))
    strv_append (&target->build_keys, c->build_key);
  for (j = 0; c->names && c->names[j]; j++)
    {
      for (i = 0; i < n; i++)
        if (recs[i] != target)
          strv_remove (recs[i]->names, c->names[j]);
      if (!strv_contains (target->names, c->names[j]))
        strv_append (&target->names, c->names[j]);
      if (cs->source_manifest)
        {
          char *d = name_with_digest (c->names[j], cs->manifest_digest);
          if (strv_contains (target->digests, d))
            free (d);
          else
            strv_append_take (&target->digests, d);
        }
    }
  return husk_store_index_write (s, recs, n, err);
}

static bool
image_dir_complete (husk_store_t *s, const char *hex)
{
  cleanup_free char *c = xasprintf ("%s/config.json", hex);
  cleanup_free char *m = xasprintf ("%s/manifest.json", hex);

  return faccessat (s->imagesfd, c, F_OK, AT_SYMLINK_NOFOLLOW) == 0
         && faccessat (s->imagesfd, m, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool
image_indexed (husk_store_t *s, const char *hex)
{
  size_t i;

  for (i = 0; i < s->n_images; i++)
    if (strcmp (s->images[i]->id, hex) == 0)
      return true;
  return false;
}

static int
commit_image (husk_store_t *s, const struct husk_image_commit *c, struct commit_state *cs, husk_error_t *err)
{
  cleanup_free char *generated = NULL;
  const char *manifest = c->manifest;
  size_t i, manifest_len = c->manifest_len, n_layers;
  bool indexed = image_indexed (s, cs->hex);
  bool wrote_dir = false;
  int ret;

  n_layers = strv_len (cs->layers);
  cs->infos = xzalloc ((n_layers + 1) * sizeof (*cs->infos));
  for (i = 0; i < n_layers; i++)
    {
      ret = husk_store_layer_info (s, husk_store_layer_key (cs->layers[i]), &cs->infos[i], err);
      if (ret < 0)
        return husk_error_wrap (err, "layer %s", cs->layers[i]);
    }
  if (manifest == NULL)
    {
      cleanup_free char *config_digest = husk_digest_buffer (c->config, c->config_len);
      generated = generate_manifest (config_digest, c->config_len, cs->layers, cs->infos, &manifest_len);
      manifest = generated;
    }
  cs->source_manifest = c->manifest != NULL;
  cs->manifest_digest
      = c->manifest_digest ? xstrdup (c->manifest_digest) : husk_digest_buffer (manifest, manifest_len);

  if (!indexed || !image_dir_complete (s, cs->hex))
    {
      wrote_dir = !indexed;
      ret = write_image_dir (s, cs->hex, c, manifest, manifest_len, err);
      if (ret >= 0)
        ret = update_index (s, c, cs, err);
    }
  else
    ret = update_index (s, c, cs, err);
  if (ret < 0 && wrote_dir)
    {
      husk_error_t rerr = NULL;
      if (husk_rm_rf_at (s->imagesfd, cs->hex, &rerr) < 0)
        husk_error_release (&rerr);
    }
  return ret;
}

static int
commit_all (husk_store_t *s, const struct husk_image_commit *c, char ***moved, char **id, husk_error_t *err)
{
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_strv char **layers = NULL;
  cleanup_free char *config_digest = NULL;
  struct commit_state cs = { 0 };
  int ret;

  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  cfg = husk_json_parse (c->config, c->config_len, err);
  if (cfg == NULL)
    return husk_error_wrap (err, "parse image config");
  if (husk_json_type (cfg) != HUSK_JSON_OBJECT)
    return husk_make_error (err, EINVAL, "image config is not a JSON object");

  ret = commit_stages (s, c, moved, err);
  if (ret < 0)
    return ret;
  ret = config_layers (s, cfg, &layers, err);
  if (ret < 0)
    return ret;

  config_digest = husk_digest_buffer (c->config, c->config_len);
  cs.hex = husk_digest_hex (config_digest);
  cs.layers = layers;
  cs.cfg = cfg;
  ret = commit_image (s, c, &cs, err);
  free (cs.infos);
  free (cs.manifest_digest);
  if (ret < 0)
    return ret;
  *id = xstrdup (cs.hex);
  return 0;
}

int
husk_store_image_commit (husk_store_t *s, const struct husk_image_commit *c, char **id, husk_error_t *err)
{
  cleanup_strv char **moved = NULL;
  size_t i;
  int ret;

  ret = husk_store_require_exclusive (s, "committing an image", err);
  if (ret < 0)
    return ret;
  ret = commit_all (s, c, &moved, id, err);
  if (ret < 0)
    {
      /* Layers this call moved in are referenced by nothing: take them out
         now so a failed command leaves the store as it was (repair would
         get them at the next exclusive lock otherwise).  */
      for (i = 0; moved && moved[i]; i++)
        {
          husk_error_t derr = NULL;
          if (husk_store_layer_delete (s, moved[i], &derr) < 0)
            husk_error_release (&derr);
        }
    }
  return ret;
}
