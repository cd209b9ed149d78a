/* husk: looking images up, naming and removing them, and disk usage.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

/* Configs and manifests are capped at 4 MiB where they enter the store
   (DESIGN.md section 7); this only guards against a damaged file.  */
#define MAX_IMAGE_FILE (64u << 20)

static bool
is_hex (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static const char *
strip_sha256 (const char *s)
{
  return husk_has_prefix (s, "sha256:") ? s + strlen ("sha256:") : s;
}

static int
find_by_prefix (husk_store_t *s, const char *prefix, struct husk_image_record **out, husk_error_t *err)
{
  struct husk_image_record *found = NULL;
  size_t i, len = strlen (prefix);

  if (len < 3 || len >= 64 || !is_hex (prefix))
    return 0;
  for (i = 0; i < s->n_images; i++)
    {
      if (strncmp (s->images[i]->id, prefix, len) != 0)
        continue;
      if (found)
        return husk_make_error (err, 0, "short ID %s is ambiguous: it matches %.12s and %.12s", prefix,
                                found->id, s->images[i]->id);
      found = s->images[i];
    }
  if (found == NULL)
    return 0;
  *out = found;
  return 1;
}

int
husk_store_image_find (husk_store_t *s, const char *key, struct husk_image_record **out, husk_error_t *err)
{
  const char *hex = strip_sha256 (key);
  size_t i;
  int ret;

  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < s->n_images; i++)
    if (strcmp (s->images[i]->id, hex) == 0)
      {
        *out = s->images[i];
        return 1;
      }
  /* A name wins over an id prefix that happens to spell the same.  */
  if (hex == key)
    for (i = 0; i < s->n_images; i++)
      if (strv_contains (s->images[i]->names, key) || strv_contains (s->images[i]->digests, key))
        {
          *out = s->images[i];
          return 1;
        }
  return find_by_prefix (s, hex, out, err);
}

int
husk_store_image_find_build (husk_store_t *s, const char *key, char **id, husk_error_t *err)
{
  size_t i;
  int ret;

  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  /* The newest first: after `image prune` and a rebuild, the same key
     can name an image again.  */
  for (i = s->n_images; i-- > 0;)
    if (strv_contains (s->images[i]->build_keys, key))
      {
        *id = xstrdup (s->images[i]->id);
        return 1;
      }
  return 0;
}

static int
find_index (husk_store_t *s, const char *id, size_t *idx, husk_error_t *err)
{
  const char *hex = strip_sha256 (id);
  size_t i;

  for (i = 0; i < s->n_images; i++)
    if (strcmp (s->images[i]->id, hex) == 0)
      {
        *idx = i;
        return 0;
      }
  return husk_make_error (err, ENOENT, "image %s", id);
}

static int
read_image_file (husk_store_t *s, const char *id, const char *name, char **data, size_t *len,
                 husk_error_t *err)
{
  cleanup_free char *path = NULL;
  const char *hex = strip_sha256 (id);
  int ret;

  if (!husk_store_is_hex64 (hex))
    return husk_make_error (err, EINVAL, "invalid image id %s", id);
  path = xasprintf ("%s/%s", hex, name);
  ret = husk_read_file_at (s->imagesfd, path, MAX_IMAGE_FILE, data, len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read %s of image %.12s", name, hex);
  return 0;
}

int
husk_store_image_config (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err)
{
  return read_image_file (s, id, "config.json", data, len, err);
}

int
husk_store_image_manifest (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err)
{
  return read_image_file (s, id, "manifest.json", data, len, err);
}

int
husk_store_image_set_names (husk_store_t *s, const char *id, char *const *names, husk_error_t *err)
{
  struct husk_image_record **recs;
  size_t i, j, n, idx;
  int ret;

  ret = husk_store_require_exclusive (s, "setting image names", err);
  if (ret < 0)
    return ret;
  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  ret = find_index (s, id, &idx, err);
  if (ret < 0)
    return ret;

  recs = husk_store_index_copy (s, &n);
  for (i = 0; i < n; i++)
    {
      if (i == idx)
        continue;
      for (j = 0; names && names[j]; j++)
        strv_remove (recs[i]->names, names[j]);
    }
  strv_free (recs[idx]->names);
  recs[idx]->names = NULL;
  for (j = 0; names && names[j]; j++)
    if (!strv_contains (recs[idx]->names, names[j]))
      strv_append (&recs[idx]->names, names[j]);
  if (recs[idx]->names == NULL)
    recs[idx]->names = strv_dup (NULL);
  /* A tagged build step is an image the user wants to see.  */
  if (recs[idx]->names[0] != NULL)
    recs[idx]->intermediate = false;
  return husk_store_index_write (s, recs, n, err);
}

static bool
layer_used (husk_store_t *s, const char *diff_id)
{
  size_t i;

  for (i = 0; i < s->n_images; i++)
    if (strv_contains (s->images[i]->layers, diff_id))
      return true;
  return false;
}

/* Order matters for a kill -9 at any point: the index first (the image is
   gone), then its directory and layers, which repair removes if we die
   before getting to them.  */
int
husk_store_image_remove (husk_store_t *s, const char *id, husk_error_t *err)
{
  cleanup_image_record struct husk_image_record *removed = NULL;
  struct husk_image_record **recs;
  size_t i, n, idx;
  int ret;

  ret = husk_store_require_exclusive (s, "removing an image", err);
  if (ret < 0)
    return ret;
  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  ret = find_index (s, id, &idx, err);
  if (ret < 0)
    return ret;

  recs = husk_store_index_copy (s, &n);
  removed = recs[idx];
  memmove (&recs[idx], &recs[idx + 1], (n - idx) * sizeof (*recs));
  n--;
  ret = husk_store_index_write (s, recs, n, err);
  if (ret < 0)
    return ret;

  if (husk_rm_rf_at (s->imagesfd, removed->id, err) < 0)
    {
      husk_warn ("%s (repair will retry)", (*err)->msg);
      husk_error_release (err);
    }
  for (i = 0; removed->layers[i]; i++)
    {
      const char *key = husk_store_layer_key (removed->layers[i]);
      if (key == NULL || layer_used (s, removed->layers[i]))
        continue;
      if (husk_store_layer_delete (s, key, err) < 0)
        {
          husk_warn ("%s (repair will retry)", (*err)->msg);
          husk_error_release (err);
        }
    }
  return 0;
}

bool
husk_store_image_in_use (husk_store_t *s, const char *id)
{
  struct husk_container_record *const *ctrs = NULL;
  husk_error_t err = NULL;
  const char *hex = strip_sha256 (id);
  size_t i, n = 0;

  /* An unreadable container index must not let an image a container
     needs be removed: count it as in use.  */
  if (husk_store_containers (s, &ctrs, &n, &err) < 0)
    {
      husk_warn ("%s", err->msg);
      husk_error_release (&err);
      return true;
    }
  for (i = 0; i < n; i++)
    if (strcmp (ctrs[i]->image_id, hex) == 0)
      return true;
  return false;
}

static uint64_t
layers_size (husk_store_t *s, bool only_unused_by_active)
{
  cleanup_strv char **seen = NULL;
  uint64_t total = 0;
  size_t i, j;

  for (i = 0; i < s->n_images; i++)
    for (j = 0; s->images[i]->layers[j]; j++)
      {
        const char *l = s->images[i]->layers[j];
        if (!strv_contains (seen, l))
          strv_append (&seen, l);
      }
  for (i = 0; seen && seen[i]; i++)
    {
      struct husk_layer_info info = { 0 };
      husk_error_t err = NULL;
      const char *key = husk_store_layer_key (seen[i]);
      bool active = false;

      if (only_unused_by_active)
        for (j = 0; j < s->n_images && !active; j++)
          active = strv_contains (s->images[j]->layers, seen[i])
                   && husk_store_image_in_use (s, s->images[j]->id);
      if (active || key == NULL)
        continue;
      if (husk_store_layer_info (s, key, &info, &err) < 0)
        husk_error_release (&err);
      total += info.content_size;
    }
  return total;
}

static int
count_stored_layers (husk_store_t *s, struct husk_store_usage *u, husk_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int fd;

  fd = openat (s->layersfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open %s/layers", s->root);
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return husk_make_error (err, errno, "open %s/layers", s->root);
    }
  while ((de = readdir (d)))
    {
      struct husk_layer_info info = { 0 };
      husk_error_t lerr = NULL;

      if (!husk_store_is_hex64 (de->d_name))
        continue;
      if (husk_store_layer_info (s, de->d_name, &info, &lerr) < 0)
        {
          husk_error_release (&lerr);
          continue;
        }
      u->layers_count++;
      u->layers_size += info.content_size;
    }
  return 0;
}

int
husk_store_usage (husk_store_t *s, struct husk_store_usage *u, husk_error_t *err)
{
  size_t i;
  int ret;

  memset (u, 0, sizeof (*u));
  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  u->images_count = s->n_images;
  for (i = 0; i < s->n_images; i++)
    if (husk_store_image_in_use (s, s->images[i]->id))
      u->images_active++;
  u->images_size = layers_size (s, false);
  u->images_reclaimable = layers_size (s, true);
  return count_stored_layers (s, u, err);
}
