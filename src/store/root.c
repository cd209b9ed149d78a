/* husk: finding, creating and opening the store root and runroot, and the
   storage driver recorded in it (DESIGN.md section 3).

   The runroot of a rootless user follows the chain documented in
   husk/store.h.  The normal fallbacks (no XDG_RUNTIME_DIR under cron or a
   CI job, no /run/user/$UID without a login session) are silent; only a
   directory someone else could tamper with is an error.  */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/store.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "store-internal.h"

#define DRIVER_FILE    "driver"
#define DEFAULT_DRIVER "overlay"

static bool
driver_known (const char *name)
{
  return strcmp (name, "overlay") == 0 || strcmp (name, "vfs") == 0;
}

static int
choose_xdg_runtime_dir (const struct husk_runroot_env *env, char **out, husk_error_t *err)
{
  const char *dir = env->xdg_runtime_dir;
  struct stat st;

  /* The XDG spec says to ignore a relative path.  */
  if (dir == NULL || dir[0] != '/')
    return 0;
  if (stat (dir, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      husk_debug ("XDG_RUNTIME_DIR %s is not a directory, not using it", dir);
      return 0;
    }
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return husk_make_error (err, 0,
                            "XDG_RUNTIME_DIR %s is writable by others (mode %04o): refusing to keep runtime "
                            "state there; fix its mode to 0700 or unset XDG_RUNTIME_DIR",
                            dir, (unsigned)(st.st_mode & 07777));
  /* Inherited from another user (su, sudo -E): not ours, fall back.  */
  if (st.st_uid != env->owner)
    {
      husk_debug ("XDG_RUNTIME_DIR %s is owned by uid %u, not using it", dir, (unsigned)st.st_uid);
      return 0;
    }
  *out = xasprintf ("%s/husk", dir);
  return 1;
}

static int
choose_run_user (const struct husk_runroot_env *env, char **out)
{
  cleanup_free char *dir = NULL;
  struct stat st;

  dir = xasprintf ("%s/%u", env->run_user_base ? env->run_user_base : "/run/user", (unsigned)env->uid);
  if (lstat (dir, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != env->owner
      || (st.st_mode & 07777) != 0700)
    return 0;
  *out = xasprintf ("%s/husk", dir);
  return 1;
}

static int
choose_tmp (const struct husk_runroot_env *env, char **out, husk_error_t *err)
{
  cleanup_free char *dir = NULL;
  const char *base = env->tmpdir && env->tmpdir[0] ? env->tmpdir : "/tmp";
  struct stat st;

  dir = xasprintf ("%s/husk-run-%u", base, (unsigned)env->uid);
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    return husk_make_error (err, errno, "create runtime directory %s", dir);
  /* It may have been there before us, made by anyone: check what it is.  */
  if (lstat (dir, &st) < 0)
    return husk_make_error (err, errno, "stat %s", dir);
  if (!S_ISDIR (st.st_mode))
    return husk_make_error (err, 0, "runtime directory %s is not a directory: refusing to use it", dir);
  if (st.st_uid != env->owner)
    return husk_make_error (err, 0,
                            "runtime directory %s is owned by uid %u, not by uid %u: refusing to use it", dir,
                            (unsigned)st.st_uid, (unsigned)env->uid);
  if (st.st_mode & 0077)
    return husk_make_error (err, 0,
                            "runtime directory %s has mode %04o, other users could tamper with it: refusing "
                            "to use it (expected 0700)",
                            dir, (unsigned)(st.st_mode & 07777));
  *out = xasprintf ("%s/husk", dir);
  return 1;
}

int
husk_store_choose_runroot (const struct husk_runroot_env *env, char **out, husk_error_t *err)
{
  int ret;

  ret = choose_xdg_runtime_dir (env, out, err);
  if (ret != 0)
    return ret < 0 ? ret : 0;
  if (choose_run_user (env, out))
    return 0;
  ret = choose_tmp (env, out, err);
  return ret < 0 ? ret : 0;
}

static char *
rootless_default_root (void)
{
  const char *data = getenv ("XDG_DATA_HOME");
  const char *home = getenv ("HOME");

  if (data && data[0] == '/')
    return xasprintf ("%s/husk", data);
  if (home == NULL || home[0] != '/')
    {
      struct passwd *pw = getpwuid (husk_userns_outer_uid ());
      home = pw && pw->pw_dir ? pw->pw_dir : "/";
    }
  return xasprintf ("%s/.local/share/husk", home);
}

/* mkdir -p, then make sure a rootless user is not about to trust a
   directory that belongs to someone else.  */
static int
prepare_dir (const char *path, const char *what, bool rootless, husk_error_t *err)
{
  struct stat st;
  int ret;

  ret = husk_mkdir_p (path, 0700, err);
  if (ret < 0)
    return husk_error_wrap (err, "create %s %s", what, path);
  if (stat (path, &st) < 0)
    return husk_make_error (err, errno, "stat %s %s", what, path);
  if (!S_ISDIR (st.st_mode))
    return husk_make_error (err, ENOTDIR, "%s %s", what, path);
  if (rootless && st.st_uid != geteuid ())
    return husk_make_error (err, 0, "%s %s is owned by uid %u, not by you (uid %u): refusing to use it", what,
                            path, (unsigned)st.st_uid, (unsigned)geteuid ());
  return 0;
}

static int
read_driver (husk_store_t *s, char **out, husk_error_t *err)
{
  cleanup_close int fd = -1;
  char *data = NULL;
  size_t len = 0;
  int ret;

  fd = openat (s->rootfd, DRIVER_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return husk_make_error (err, errno, "open %s/%s", s->root, DRIVER_FILE);
    }
  ret = husk_read_all_fd (fd, 4096, &data, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read %s/%s", s->root, DRIVER_FILE);
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
    data[--len] = '\0';
  *out = data;
  return 1;
}

/* First use records the driver; link(2) makes sure two first users agree
   on one value instead of the last rename winning.  */
static int
record_driver (husk_store_t *s, const char *driver, husk_error_t *err)
{
  cleanup_free char *tmp = xasprintf (".driver-%d", (int)getpid ());
  cleanup_free char *content = xasprintf ("%s\n", driver);
  int ret, saved;

  ret = husk_write_file_atomic (s->rootfd, tmp, content, strlen (content), 0644, err);
  if (ret < 0)
    return husk_error_wrap (err, "record the storage driver in %s", s->root);
  ret = linkat (s->rootfd, tmp, s->rootfd, DRIVER_FILE, 0);
  saved = errno;
  unlinkat (s->rootfd, tmp, 0);
  if (ret < 0 && saved != EEXIST)
    return husk_make_error (err, saved, "record the storage driver in %s", s->root);
  return 0;
}

static int
setup_driver (husk_store_t *s, const char *requested, husk_error_t *err)
{
  cleanup_free char *recorded = NULL;
  int ret;

  if (requested && !driver_known (requested))
    return husk_make_error (err, 0, "unknown storage driver \"%s\" (supported: overlay, vfs)", requested);

  ret = read_driver (s, &recorded, err);
  if (ret < 0)
    return ret;
  if (ret == 0)
    {
      ret = record_driver (s, requested ? requested : DEFAULT_DRIVER, err);
      if (ret < 0)
        return ret;
      ret = read_driver (s, &recorded, err);
      if (ret < 0)
        return ret;
      if (ret == 0)
        return husk_make_error (err, ENOENT, "read %s/%s", s->root, DRIVER_FILE);
    }
  if (!driver_known (recorded))
    return husk_make_error (err, 0, "the store at %s records an unknown storage driver \"%s\"", s->root,
                            recorded);
  if (requested && strcmp (requested, recorded) != 0)
    return husk_make_error (
        err, 0,
        "storage driver \"%s\" was requested but the store at %s was created with \"%s\"; "
        "use --storage-driver %s or another --root",
        requested, s->root, recorded, recorded);
  s->driver = steal_pointer (&recorded);
  return 0;
}

static int
open_subdir (husk_store_t *s, const char *name, int *fd, husk_error_t *err)
{
  if (mkdirat (s->rootfd, name, 0700) < 0 && errno != EEXIST)
    return husk_make_error (err, errno, "create %s/%s", s->root, name);
  *fd = openat (s->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (*fd < 0)
    return husk_make_error (err, errno, "open %s/%s", s->root, name);
  return 0;
}

static int
resolve_paths (husk_store_t *s, const struct husk_store_opts *opts, husk_error_t *err)
{
  int ret;

  if (opts && opts->root)
    s->root = xstrdup (opts->root);
  else
    s->root = s->rootless ? rootless_default_root () : xstrdup ("/var/lib/husk");

  if (opts && opts->runroot)
    s->runroot = xstrdup (opts->runroot);
  else if (!s->rootless)
    s->runroot = xstrdup ("/run/husk");
  else
    {
      struct husk_runroot_env env = {
        .uid = husk_userns_outer_uid (),
        .owner = geteuid (),
        .xdg_runtime_dir = getenv ("XDG_RUNTIME_DIR"),
        .run_user_base = "/run/user",
        .tmpdir = getenv ("TMPDIR"),
      };
      ret = husk_store_choose_runroot (&env, &s->runroot, err);
      if (ret < 0)
        return ret;
    }

  if (opts && opts->tmpdir)
    s->tmpdir = xstrdup (opts->tmpdir);
  else
    s->tmpdir = xasprintf ("%s/tmp", s->root);
  return 0;
}

int
husk_store_open (const struct husk_store_opts *opts, husk_store_t **out, husk_error_t *err)
{
  cleanup_store husk_store_t *s = xzalloc (sizeof (*s));
  int ret;

  s->rootfd = s->layersfd = s->imagesfd = s->lockfd = s->containersfd = -1;
  s->rootless = husk_userns_is_rootless ();

  ret = resolve_paths (s, opts, err);
  if (ret < 0)
    return ret;
  ret = prepare_dir (s->root, "store root", s->rootless, err);
  if (ret < 0)
    return ret;
  ret = prepare_dir (s->runroot, "runroot", s->rootless, err);
  if (ret < 0)
    return ret;

  s->rootfd = open (s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->rootfd < 0)
    return husk_make_error (err, errno, "open store root %s", s->root);

  ret = setup_driver (s, opts ? opts->driver : NULL, err);
  if (ret < 0)
    return ret;
  ret = open_subdir (s, "layers", &s->layersfd, err);
  if (ret < 0)
    return ret;
  ret = open_subdir (s, "images", &s->imagesfd, err);
  if (ret < 0)
    return ret;
  if (opts && opts->tmpdir)
    ret = husk_mkdir_p (s->tmpdir, 0700, err);
  else if (mkdirat (s->rootfd, "tmp", 0700) < 0 && errno != EEXIST)
    ret = husk_make_error (err, errno, "create %s", s->tmpdir);
  if (ret < 0)
    return ret;

  *out = steal_pointer (&s);
  return 0;
}

void
husk_store_close (husk_store_t *s)
{
  if (s == NULL)
    return;
  husk_image_records_free (s->images);
  husk_store_containers_release (s);
  if (s->lockfd >= 0)
    close (s->lockfd);
  if (s->imagesfd >= 0)
    close (s->imagesfd);
  if (s->layersfd >= 0)
    close (s->layersfd);
  if (s->rootfd >= 0)
    close (s->rootfd);
  free (s->root);
  free (s->runroot);
  free (s->driver);
  free (s->tmpdir);
  free (s);
}

void
cleanup_storep (husk_store_t **s)
{
  husk_store_close (*s);
  *s = NULL;
}

const char *
husk_store_root (const husk_store_t *s)
{
  return s->root;
}

const char *
husk_store_runroot (const husk_store_t *s)
{
  return s->runroot;
}

const char *
husk_store_driver (const husk_store_t *s)
{
  return s->driver;
}

const char *
husk_store_tmpdir (const husk_store_t *s)
{
  return s->tmpdir;
}

int
husk_store_rootfd (const husk_store_t *s)
{
  return s->rootfd;
}

bool
husk_store_rootless (const husk_store_t *s)
{
  return s->rootless;
}
