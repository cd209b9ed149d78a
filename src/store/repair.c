/* husk: repairing what a killed writer left in the store.

   Runs under the exclusive lock, every time it is taken, so it must stay
   cheap: one read of the (cached) index and one readdir of layers/ and of
   images/.  What it removes:
   - layers/.stage-* whose "incomplete" marker nobody holds locked;
   - layers/<hex> no indexed image uses (a commit that died before writing
     the index, a removal that died half-way);
   - images/<id> directories the index does not know, and temp files of
     an index write that never got renamed;
   - container directories and records left by a create or a removal that
     died half-way (containers.c, husk_store_containers_repair).
   A store whose index cannot be read is left alone: removing everything
   "unreferenced" then would destroy it.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

/* The file a scratch directory's owner keeps locked.  */
#define SCRATCH_OWNER ".owner"

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static bool
sorted_contains (char *const *v, size_t n, const char *s)
{
  return n > 0 && bsearch (&s, v, n, sizeof (char *), cmp_str) != NULL;
}

/* Sorted hex keys of every layer the index references.  */
static char **
referenced_layers (husk_store_t *s, size_t *n)
{
  char **v = NULL;
  size_t i, j, count = 0;

  for (i = 0; i < s->n_images; i++)
    for (j = 0; s->images[i]->layers[j]; j++)
      {
        const char *key = husk_store_layer_key (s->images[i]->layers[j]);
        if (key == NULL)
          continue;
        v = xrealloc (v, (count + 2) * sizeof (char *));
        v[count++] = xstrdup (key);
        v[count] = NULL;
      }
  if (count > 1)
    qsort (v, count, sizeof (char *), cmp_str);
  *n = count;
  return v;
}

static bool
stage_is_stale (husk_store_t *s, const char *name)
{
  cleanup_free char *marker = xasprintf ("%s/incomplete", name);
  cleanup_close int fd = -1;

  fd = openat (s->layersfd, marker, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  /* Stages are made under a store lock, so one without a marker is never
     one still being set up.  */
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR;
  return flock (fd, LOCK_EX | LOCK_NB) == 0;
}

static DIR *
open_dir_at (int dirfd)
{
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d;

  if (fd < 0)
    return NULL;
  d = fdopendir (fd);
  if (d == NULL)
    close (fd);
  return d;
}

static int
repair_layers (husk_store_t *s, husk_error_t *err)
{
  cleanup_strv char **used = NULL;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  size_t n_used = 0;
  int ret;

  used = referenced_layers (s, &n_used);
  d = open_dir_at (s->layersfd);
  if (d == NULL)
    return husk_make_error (err, errno, "open %s/layers", s->root);
  while ((de = readdir (d)))
    {
      const char *name = de->d_name;

      if (husk_has_prefix (name, ".stage-"))
        {
          if (!stage_is_stale (s, name))
            continue;
          husk_debug ("removing the stale layer stage %s", name);
          ret = husk_rm_rf_at (s->layersfd, name, err);
        }
      else if (husk_store_is_hex64 (name) && !sorted_contains (used, n_used, name))
        {
          husk_debug ("removing the unreferenced layer %s", name);
          ret = husk_store_layer_delete (s, name, err);
        }
      else
        continue;
      if (ret < 0)
        return ret;
    }
  return 0;
}

static int
repair_images (husk_store_t *s, husk_error_t *err)
{
  cleanup_strv char **ids = NULL;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  size_t i, n = 0;
  int ret;

  /* Sorted copy of the ids so a thousand-image store is not quadratic.  */
  for (i = 0; i < s->n_images; i++)
    strv_append (&ids, s->images[i]->id);
  n = s->n_images;
  if (n > 1)
    qsort (ids, n, sizeof (char *), cmp_str);

  d = open_dir_at (s->imagesfd);
  if (d == NULL)
    return husk_make_error (err, errno, "open %s/images", s->root);
  while ((de = readdir (d)))
    {
      /* Only index writers (all under this lock) make these temp files.  */
      if (husk_has_prefix (de->d_name, ".images.json.tmp-"))
        {
          unlinkat (s->imagesfd, de->d_name, 0);
          continue;
        }
      if (!husk_store_is_hex64 (de->d_name) || sorted_contains (ids, n, de->d_name))
        continue;
      husk_debug ("removing the image directory %s, which is not in the index", de->d_name);
      ret = husk_rm_rf_at (s->imagesfd, de->d_name, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* Scratch directories (husk_store_scratch_dir) whose owner died: their
   ".owner" file is no longer locked.  Best effort: a directory that cannot
   be removed now is tried again at the next repair.  */
static void
repair_scratch (husk_store_t *s)
{
  cleanup_close int dfd = open (s->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  if (dfd < 0 || (d = open_dir_at (dfd)) == NULL)
    return;
  while ((de = readdir (d)))
    {
      cleanup_free char *owner = NULL;
      cleanup_close int fd = -1;
      husk_error_t e = NULL;

      if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
        continue;
      owner = xasprintf ("%s/%s", de->d_name, SCRATCH_OWNER);
      fd = openat (dfd, owner, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
        continue;
      husk_debug ("removing the scratch directory %s/%s, whose owner is gone", s->tmpdir, de->d_name);
      if (husk_rm_rf_at (dfd, de->d_name, &e) < 0)
        husk_error_release (&e);
    }
}

int
husk_store_scratch_dir (husk_store_t *s, const char *prefix, char **path, int *lockfd, husk_error_t *err)
{
  cleanup_close int dfd = open (s->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *name = NULL;
  cleanup_free char *owner = NULL;
  int fd;

  if (dfd < 0)
    return husk_make_error (err, errno, "open %s", s->tmpdir);
  name = husk_mkdtemp_at (dfd, prefix, err);
  if (name == NULL)
    return -1;
  owner = xasprintf ("%s/%s", name, SCRATCH_OWNER);
  fd = openat (dfd, owner, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || flock (fd, LOCK_EX) < 0)
    {
      int saved = errno;
      husk_error_t e = NULL;
      if (fd >= 0)
        close (fd);
      if (husk_rm_rf_at (dfd, name, &e) < 0)
        husk_error_release (&e);
      return husk_make_error (err, saved, "lock %s/%s", s->tmpdir, owner);
    }
  *path = xasprintf ("%s/%s", s->tmpdir, name);
  *lockfd = fd;
  return 0;
}

int
husk_store_repair (husk_store_t *s, husk_error_t *err)
{
  int ret;

  ret = husk_store_require_exclusive (s, "repairing the store", err);
  if (ret < 0)
    return ret;
  ret = husk_store_index_load (s, err);
  if (ret < 0)
    return ret;
  ret = repair_images (s, err);
  if (ret < 0)
    return ret;
  ret = repair_layers (s, err);
  if (ret < 0)
    return ret;
  repair_scratch (s);
  return husk_store_containers_repair (s, err);
}
