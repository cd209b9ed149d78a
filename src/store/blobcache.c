/* husk: the compressed blobs a stored layer is known by.

   Pushing compresses each layer, the slowest step of a push.  What a layer
   compressed to is remembered in layers/<hex>/compressed.json, one entry
   per compression:

     {"gzip": {"digest": "sha256:...", "size": 123,
               "locations": ["host/repo", ...]}, "zstd": {...}}

   so that a second push asks the registry for that digest first (and
   mounts it from a repository it was pushed to on the same registry) and
   compresses only when the registry lacks it.  The blob a layer was pulled
   from (layer.json) counts too.  The file is advisory: a missing or
   unreadable one just means compressing again, and it is replaced
   atomically, so the shared lock is enough to write it.  */
#include <errno.h>
#include <string.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

#define BLOBCACHE_NAME "compressed.json"
#define BLOBCACHE_MAX  (64 * 1024)
/* Locations kept per blob: the most recent ones.  */
#define MAX_LOCATIONS 16

static husk_json_t *
read_json (husk_store_t *s, const char *hex, const char *name)
{
  cleanup_free char *path = xasprintf ("%s/%s", hex, name);
  cleanup_free char *data = NULL;
  husk_error_t err = NULL;
  husk_json_t *j;
  size_t len = 0;

  if (husk_read_file_at (s->layersfd, path, BLOBCACHE_MAX, &data, &len, &err) < 0)
    {
      husk_error_release (&err);
      return NULL;
    }
  j = husk_json_parse (data, len, &err);
  husk_error_release (&err);
  if (j && husk_json_type (j) != HUSK_JSON_OBJECT)
    {
      husk_json_free (j);
      return NULL;
    }
  return j;
}

static bool
media_type_has (const char *media_type, const char *compression)
{
  const char *sep;

  if (media_type == NULL)
    return false;
  /* ".tar+gzip", ".tar+zstd", docker's ".tar.gzip".  */
  sep = strrchr (media_type, '+');
  if (sep == NULL)
    sep = strrchr (media_type, '.');
  return sep && strcmp (sep + 1, compression) == 0;
}

int
husk_store_layer_blob_lookup (husk_store_t *s, const char *diff_id, const char *compression, char **digest,
                              uint64_t *size, char ***locations, husk_error_t *err)
{
  cleanup_json husk_json_t *cache = NULL;
  cleanup_json husk_json_t *meta = NULL;
  const char *hex = husk_store_layer_key (diff_id);
  const char *d;

  (void)err;
  if (hex == NULL)
    return 0;
  cache = read_json (s, hex, BLOBCACHE_NAME);
  if (cache)
    {
      husk_json_t *e = husk_json_get (cache, compression);
      d = husk_json_get_string (e, "digest");
      if (d && husk_digest_valid (d))
        {
          *digest = xstrdup (d);
          *size = (uint64_t)husk_json_int (husk_json_get (e, "size"), 0);
          *locations = husk_json_to_strv (husk_json_get (e, "locations"));
          return 1;
        }
    }
  meta = read_json (s, hex, "layer.json");
  if (meta == NULL)
    return 0;
  d = husk_json_get_string (meta, "compressed_digest");
  if (d && husk_digest_valid (d) && strcmp (d, diff_id) != 0
      && media_type_has (husk_json_get_string (meta, "media_type"), compression))
    {
      *digest = xstrdup (d);
      *size = (uint64_t)husk_json_int (husk_json_get (meta, "compressed_size"), 0);
      *locations = xzalloc (sizeof (char *));
      return 1;
    }
  return 0;
}

int
husk_store_layer_blob_record (husk_store_t *s, const char *diff_id, const char *compression,
                              const char *digest, uint64_t size, const char *location, husk_error_t *err)
{
  cleanup_json husk_json_t *cache = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *path = NULL;
  cleanup_strv char **prev = NULL;
  cleanup_strv char **locs = NULL;
  const char *hex = husk_store_layer_key (diff_id);
  husk_json_t *e, *old;
  size_t len;

  if (hex == NULL || !husk_digest_valid (digest))
    return husk_make_error (err, EINVAL, "recording blob %s of layer %s", digest, diff_id);
  if (!husk_store_layer_exists (s, diff_id))
    return husk_make_error (err, ENOENT, "layer %s", diff_id);
  cache = read_json (s, hex, BLOBCACHE_NAME);
  if (cache == NULL)
    cache = husk_json_new_object ();
  old = husk_json_get (cache, compression);
  if (old && husk_json_get_string (old, "digest")
      && strcmp (husk_json_get_string (old, "digest"), digest) == 0)
    prev = husk_json_to_strv (husk_json_get (old, "locations"));
  locs = xzalloc (sizeof (char *));
  if (location)
    strv_append (&locs, location);
  for (char **l = prev; l && *l && strv_len (locs) < MAX_LOCATIONS; l++)
    if (!strv_contains (locs, *l))
      strv_append (&locs, *l);
  e = husk_json_new_object ();
  husk_json_set_string (e, "digest", digest);
  husk_json_set_int (e, "size", (int64_t)size);
  husk_json_set (e, "locations", husk_json_from_strv (locs));
  husk_json_set (cache, compression, e);
  data = husk_json_serialize (cache, false, &len);
  path = xasprintf ("%s/%s", hex, BLOBCACHE_NAME);
  if (husk_write_file_atomic (s->layersfd, path, data, len, 0644, err) < 0)
    return husk_error_wrap (err, "writing %s/layers/%s", s->root, path);
  return 0;
}
