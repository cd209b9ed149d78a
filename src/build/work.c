/* husk: the filesystems a build step changes or reads (build-internal.h).

   A step's root is an overlay of the image's stored layers under a fresh
   upper dir in the build's temp directory; what the step changed is that
   upper dir, turned into a layer exactly as `husk commit` does it.  Roots
   are mounted detached (husk_rootfs_mount_detached): nothing is attached
   anywhere, and a root goes away with its last fd.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/runtime.h"
#include "husk/userns.h"
#include "husk/util.h"

static char **
layer_dirs (struct build_ctx *b, char *const *diff_ids)
{
  size_t n = strv_len (diff_ids), i;
  char **dirs = xzalloc ((n + 1) * sizeof (char *));

  for (i = 0; i < n; i++)
    dirs[i] = husk_store_layer_path (b->s, diff_ids[i]);
  return dirs;
}

/* A fresh directory <tmpdir>/<prefix>-N.  */
static char *
tmp_subdir (struct build_ctx *b, const char *prefix, husk_error_t *err)
{
  char *dir = xasprintf ("%s/%s-%u", b->tmpdir, prefix, b->seq++);

  if (mkdir (dir, 0700) < 0)
    {
      husk_make_error (err, errno, "mkdir `%s`", dir);
      free (dir);
      return NULL;
    }
  return dir;
}

int
build_work_new (struct build_ctx *b, char *const *diff_ids, struct build_work **out, husk_error_t *err)
{
  cleanup_build_work struct build_work *w = xzalloc (sizeof (*w));

  w->dir = tmp_subdir (b, "work", err);
  if (w->dir == NULL)
    return -1;
  w->lower_dirs = layer_dirs (b, diff_ids);
  w->upper = xasprintf ("%s/upper", w->dir);
  w->workdir = xasprintf ("%s/work", w->dir);
  /* The upper dir is the new layer's root directory: 0755 as Docker's.  */
  if (mkdir (w->upper, 0755) < 0 || chmod (w->upper, 0755) < 0)
    return husk_make_error (err, errno, "mkdir `%s`", w->upper);
  if (mkdir (w->workdir, 0700) < 0)
    return husk_make_error (err, errno, "mkdir `%s`", w->workdir);
  *out = steal_pointer (&w);
  return 0;
}

/* An O_DIRECTORY fd on a detached mount's root; the mount lives as long as
   that fd (and any opened below it).  */
static int
mount_dirfd (const struct husk_rootfs *r, husk_error_t *err)
{
  cleanup_close int treefd = husk_rootfs_mount_detached (r, err);
  int fd;

  if (treefd < 0)
    return -1;
  fd = openat (treefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open the mounted root");
  return fd;
}

int
build_work_mount (struct build_work *w, husk_error_t *err)
{
  struct husk_rootfs r = { .lower_dirs = w->lower_dirs, .upper_dir = w->upper, .work_dir = w->workdir };
  int fd;

  /* FROM scratch: the upper dir is the whole root.  */
  if (w->lower_dirs == NULL || w->lower_dirs[0] == NULL)
    {
      fd = open (w->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", w->upper);
      return fd;
    }
  fd = mount_dirfd (&r, err);
  if (fd < 0)
    return husk_error_wrap (err, "mount the build root");
  return fd;
}

int
build_layers_mount (struct build_ctx *b, char *const *diff_ids, husk_error_t *err)
{
  cleanup_strv char **dirs = NULL;
  struct husk_rootfs r = { 0 };
  int fd;

  if (diff_ids == NULL || diff_ids[0] == NULL)
    {
      cleanup_free char *dir = tmp_subdir (b, "empty", err);
      if (dir == NULL)
        return -1;
      fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return husk_make_error (err, errno, "open `%s`", dir);
      return fd;
    }
  dirs = layer_dirs (b, diff_ids);
  r.lower_dirs = dirs;
  fd = mount_dirfd (&r, err);
  if (fd < 0)
    return husk_error_wrap (err, "mount the layers");
  return fd;
}

/* Every entry's atime and mtime below dirfd (and dirfd itself) set to ts,
   a directory after its contents (setting a child's time touches nothing
   in the parent, but creating nothing here keeps the order honest).  */
static int
set_times (int dirfd, const struct timespec ts[2], husk_error_t *err)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  /* Not dup: a dup shares the offset a previous walk left at the end.  */
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return husk_make_error (err, errno, "open a directory");
  d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return husk_make_error (err, errno, "opendir");
    }
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (de->d_type == DT_DIR)
        {
          cleanup_close int sub = openat (dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            return husk_make_error (err, errno, "open `%s`", de->d_name);
          if (set_times (sub, ts, err) < 0)
            return -1;
        }
      if (utimensat (dirfd, de->d_name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return husk_make_error (err, errno, "set the time of `%s`", de->d_name);
    }
  if (errno != 0)
    return husk_make_error (err, errno, "readdir");
  if (futimens (dirfd, ts) < 0)
    return husk_make_error (err, errno, "set a directory's time");
  return 0;
}

int
build_tar_layer (husk_store_t *s, int tmp, const char *what, husk_layer_stage_t **stage, char **diff_id,
                 husk_error_t *err)
{
  cleanup_layer_stage husk_layer_stage_t *st = NULL;
  struct husk_layer_apply_opts opts = { 0 };
  struct husk_layer_apply_result res = { 0 };
  int ret, fd = tmp;

  if (lseek (tmp, 0, SEEK_SET) < 0)
    return husk_make_error (err, errno, "lseek");
  ret = husk_store_layer_stage_new (s, &st, err);
  if (ret < 0)
    return ret;
  opts.userxattr = husk_store_rootless (s);
  opts.no_chown = !husk_userns_can_chown ();
  ret = husk_image_layer_apply (st, husk_read_fd, &fd, &opts, NULL, &res, err);
  if (ret < 0)
    {
      husk_layer_apply_result_clear (&res);
      return husk_error_wrap (err, "%s", what);
    }
  *diff_id = steal_pointer (&res.diff_id);
  husk_layer_apply_result_clear (&res);
  *stage = steal_pointer (&st);
  return 0;
}

int
build_work_layer (struct build_ctx *b, struct build_work *w, husk_layer_stage_t **stage, char **diff_id,
                  bool *empty, husk_error_t *err)
{
  cleanup_close int upperfd = -1;
  cleanup_close int tmp = -1;
  cleanup_strv char **skip = NULL;
  struct husk_layer_diff_result dres = { 0 };
  int ret;

  *stage = NULL;
  *diff_id = NULL;
  *empty = false;
  upperfd = open (w->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (upperfd < 0)
    return husk_make_error (err, errno, "open `%s`", w->upper);
  /* The files and directories the runtime made only to mount on are not
     the step's changes (Buildah and BuildKit leave them out too).  */
  skip = husk_fs_mount_targets (upperfd, w->lower_dirs, w->mount_targets);
  if (husk_dir_is_empty (upperfd, skip))
    {
      *empty = true;
      return 0;
    }
  if (b->o != NULL && b->o->have_timestamp)
    {
      struct timespec ts[2] = { { .tv_sec = b->o->timestamp }, { .tv_sec = b->o->timestamp } };
      if (set_times (upperfd, ts, err) < 0)
        return husk_error_wrap (err, "set the layer's timestamps");
    }

  /* As commit: the upper dir as a layer diff (whiteouts become ".wh."
     entries) spooled to an anonymous file, then extracted into a stage.  */
  tmp = husk_open_tmpfile (b->tmpdir, err);
  if (tmp < 0)
    return -1;
  ret = husk_layer_diff_skip (upperfd, skip, tmp, HUSK_COMPRESSION_NONE, &dres, err);
  husk_layer_diff_result_clear (&dres);
  if (ret < 0)
    return husk_error_wrap (err, "read the step's changes");
  return build_tar_layer (b->s, tmp, "store the step's layer", stage, diff_id, err);
}

void
build_work_free (struct build_work *w)
{
  if (w == NULL)
    return;
  if (w->dir != NULL)
    {
      husk_error_t ignored = NULL;
      if (husk_rm_rf_at (AT_FDCWD, w->dir, &ignored) < 0)
        husk_error_release (&ignored);
    }
  free (w->dir);
  strv_free (w->lower_dirs);
  strv_free (w->mount_targets);
  free (w->upper);
  free (w->workdir);
  free (w);
}

void
cleanup_build_workp (struct build_work **w)
{
  build_work_free (*w);
}
