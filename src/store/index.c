/* husk: the image index, images/images.json.

   One compact JSON array of records, rewritten atomically on every change.
   It is parsed once per process and cached in the store handle; the cache
   is keyed by the file's device, inode, size and mtime, and an atomic
   rename always gives a new inode, so a change by another process is seen
   on the next read.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

#define INDEX_FILE "images.json"

void
husk_image_record_free (struct husk_image_record *r)
{
  if (r == NULL)
    return;
  free (r->id);
  strv_free (r->names);
  strv_free (r->digests);
  free (r->digest);
  strv_free (r->layers);
  husk_json_free (r->labels);
  strv_free (r->build_keys);
  free (r);
}

void
cleanup_image_recordp (struct husk_image_record **r)
{
  husk_image_record_free (*r);
  *r = NULL;
}

void
husk_image_records_free (struct husk_image_record **recs)
{
  size_t i;

  for (i = 0; recs && recs[i]; i++)
    husk_image_record_free (recs[i]);
  free (recs);
}

struct husk_image_record *
husk_image_record_dup (const struct husk_image_record *r)
{
  struct husk_image_record *c = xzalloc (sizeof (*c));

  c->id = xstrdup (r->id);
  c->names = strv_dup (r->names);
  c->digests = strv_dup (r->digests);
  c->digest = r->digest ? xstrdup (r->digest) : NULL;
  c->layers = strv_dup (r->layers);
  c->size = r->size;
  c->created = r->created;
  c->added = r->added;
  c->labels = r->labels ? husk_json_clone (r->labels) : NULL;
  c->intermediate = r->intermediate;
  c->build_keys = strv_dup (r->build_keys);
  return c;
}

bool
husk_store_is_hex64 (const char *s)
{
  size_t i;

  for (i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return s[64] == '\0';
}

/* Empty lists are left out to keep the file small: `husk images` with a
   thousand images reads and parses all of it.  */
static void
set_strv (husk_json_t *obj, const char *key, char *const *v)
{
  if (v && v[0])
    husk_json_set (obj, key, husk_json_from_strv (v));
}

static husk_json_t *
record_to_json (const struct husk_image_record *r)
{
  husk_json_t *o = husk_json_new_object ();

  husk_json_set_string (o, "id", r->id);
  set_strv (o, "names", r->names);
  set_strv (o, "digests", r->digests);
  if (r->digest)
    husk_json_set_string (o, "digest", r->digest);
  set_strv (o, "layers", r->layers);
  husk_json_set_int (o, "size", (int64_t)r->size);
  if (r->created)
    husk_json_set_int (o, "created", r->created);
  husk_json_set_int (o, "added", r->added);
  if (r->labels && husk_json_object_len (r->labels) > 0)
    husk_json_set (o, "labels", husk_json_clone (r->labels));
  if (r->intermediate)
    husk_json_set (o, "intermediate", husk_json_new_bool (true));
  set_strv (o, "build_keys", r->build_keys);
  return o;
}

static struct husk_image_record *
record_from_json (const husk_json_t *o)
{
  struct husk_image_record *r;
  const char *id = husk_json_get_string (o, "id");
  const char *digest = husk_json_get_string (o, "digest");
  husk_json_t *labels = husk_json_get (o, "labels");

  if (id == NULL || !husk_store_is_hex64 (id))
    return NULL;
  r = xzalloc (sizeof (*r));
  r->id = xstrdup (id);
  r->names = husk_json_to_strv (husk_json_get (o, "names"));
  r->digests = husk_json_to_strv (husk_json_get (o, "digests"));
  r->digest = digest ? xstrdup (digest) : NULL;
  r->layers = husk_json_to_strv (husk_json_get (o, "layers"));
  r->size = (uint64_t)husk_json_int (husk_json_get (o, "size"), 0);
  r->created = husk_json_int (husk_json_get (o, "created"), 0);
  r->added = husk_json_int (husk_json_get (o, "added"), 0);
  if (labels && husk_json_type (labels) == HUSK_JSON_OBJECT)
    r->labels = husk_json_clone (labels);
  r->intermediate = husk_json_bool (husk_json_get (o, "intermediate"), false);
  r->build_keys = husk_json_to_strv (husk_json_get (o, "build_keys"));
  return r;
}

static void
cache_replace (husk_store_t *s, struct husk_image_record **recs, size_t n)
{
  husk_image_records_free (s->images);
  s->images = recs;
  s->n_images = n;
  s->index_loaded = true;
}

static void
cache_set_identity (husk_store_t *s, const struct stat *st)
{
  s->index_missing = st == NULL;
  if (st == NULL)
    return;
  s->index_dev = st->st_dev;
  s->index_ino = st->st_ino;
  s->index_size = st->st_size;
  s->index_mtime = st->st_mtim;
}

static bool
cache_matches (const husk_store_t *s, const struct stat *st)
{
  return s->index_loaded && !s->index_missing && s->index_dev == st->st_dev && s->index_ino == st->st_ino
         && s->index_size == st->st_size && s->index_mtime.tv_sec == st->st_mtim.tv_sec
         && s->index_mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static int
parse_index (const char *data, size_t len, struct husk_image_record ***out, size_t *n, husk_error_t *err)
{
  cleanup_json husk_json_t *arr = NULL;
  struct husk_image_record **recs;
  size_t i, count, j = 0;

  arr = husk_json_parse (data, len, err);
  if (arr == NULL)
    return -1;
  if (husk_json_type (arr) != HUSK_JSON_ARRAY)
    return husk_make_error (err, 0, "not a JSON array");
  count = husk_json_array_len (arr);
  recs = xzalloc ((count + 1) * sizeof (*recs));
  for (i = 0; i < count; i++)
    {
      struct husk_image_record *r = record_from_json (husk_json_array_at (arr, i));
      if (r == NULL)
        {
          husk_debug ("skipping an image record without a valid id in %s", INDEX_FILE);
          continue;
        }
      recs[j++] = r;
    }
  *out = recs;
  *n = j;
  return 0;
}

int
husk_store_index_load (husk_store_t *s, husk_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  struct husk_image_record **recs = NULL;
  size_t len = 0, n = 0;
  struct stat st;
  int ret;

  fd = openat (s->imagesfd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      if (errno != ENOENT)
        return husk_make_error (err, errno, "open %s/images/%s", s->root, INDEX_FILE);
      if (!(s->index_loaded && s->index_missing))
        cache_replace (s, xzalloc (sizeof (*recs)), 0);
      cache_set_identity (s, NULL);
      return 0;
    }
  if (fstat (fd, &st) < 0)
    return husk_make_error (err, errno, "stat %s/images/%s", s->root, INDEX_FILE);
  if (cache_matches (s, &st))
    return 0;

  ret = husk_read_all_fd (fd, 0, &data, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read %s/images/%s", s->root, INDEX_FILE);
  ret = parse_index (data, len, &recs, &n, err);
  if (ret < 0)
    return husk_error_wrap (err, "the image index %s/images/%s is corrupt", s->root, INDEX_FILE);
  cache_replace (s, recs, n);
  cache_set_identity (s, &st);
  return 0;
}

int
husk_store_index_write (husk_store_t *s, struct husk_image_record **recs, size_t n, husk_error_t *err)
{
  cleanup_json husk_json_t *arr = husk_json_new_array ();
  cleanup_free char *data = NULL;
  size_t i, len = 0;
  struct stat st;
  int ret;

  for (i = 0; i < n; i++)
    husk_json_array_append (arr, record_to_json (recs[i]));
  data = husk_json_serialize (arr, false, &len);
  ret = husk_write_file_atomic (s->imagesfd, INDEX_FILE, data, len, 0600, err);
  if (ret < 0)
    {
      husk_image_records_free (recs);
      return husk_error_wrap (err, "write %s/images/%s", s->root, INDEX_FILE);
    }
  cache_replace (s, recs, n);
  if (fstatat (s->imagesfd, INDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
    cache_set_identity (s, &st);
  else
    s->index_loaded = false;
  return 0;
}

struct husk_image_record **
husk_store_index_copy (husk_store_t *s, size_t *n)
{
  struct husk_image_record **c = xzalloc ((s->n_images + 1) * sizeof (*c));
  size_t i;

  for (i = 0; i < s->n_images; i++)
    c[i] = husk_image_record_dup (s->images[i]);
  *n = s->n_images;
  return c;
}

int
husk_store_images (husk_store_t *s, struct husk_image_record *const **out, size_t *n, husk_error_t *err)
{
  int ret = husk_store_index_load (s, err);

  if (ret < 0)
    return ret;
  *out = s->images;
  if (n)
    *n = s->n_images;
  return 0;
}
