/* husk: cp, diff, commit, export: a container's files.

   A running container's files are reached through /proc/<pid>/root of its
   pid 1 (its own mount namespace: volumes included, as docker cp sees
   them); a stopped one's through its overlay, mounted in a private mount
   namespace of this short-lived process (husk_rootfs_mount_private),
   never in the host's.  Every path inside is resolved inside that root
   (image/container-fs.c).  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/userns.h"
#include "husk/util.h"

/* The container a command works on, looked up under the shared lock.  */
struct ctr
{
  char *id;
  char *name;
  char *image_id;
  husk_json_t *config;
  char **lowers; /* layer diff dirs, base first */
  char *dir;     /* <root>/containers/<id> */
  int lockfd;
};

static void
ctr_clear (struct ctr *c)
{
  free (c->id);
  free (c->name);
  free (c->image_id);
  husk_json_free (c->config);
  strv_free (c->lowers);
  free (c->dir);
  if (c->lockfd >= 0)
    close (c->lockfd);
}

static int
ctr_get (husk_store_t *s, const char *arg, struct ctr *c, husk_error_t *err)
{
  struct husk_container_record *r;
  husk_json_t *layers;
  size_t i, n;
  int ret;

  memset (c, 0, sizeof (*c));
  c->lockfd = -1;
  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = cli_container_lookup (s, arg, &r, err);
  if (ret >= 0)
    {
      c->id = xstrdup (r->id);
      c->name = xstrdup (r->name);
      c->image_id = xstrdup (r->image_id ?: "");
    }
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  ret = cli_container_config (s, c->id, &c->config, err);
  if (ret < 0)
    return ret;
  layers = husk_json_get (c->config, "Layers");
  n = husk_json_array_len (layers);
  c->lowers = xzalloc ((n + 2) * sizeof (char *));
  for (i = 0; i < n; i++)
    c->lowers[i] = husk_store_layer_path (s, husk_json_string (husk_json_array_at (layers, i)) ?: "");
  c->dir = husk_store_container_dir (s, c->id);
  return 0;
}

/* The merged view of the container, read-only: its layers with its upper
   dir stacked on top as one more lower (whiteouts and opaque directories
   of a lower mean the same), so it can be mounted while the container
   runs and no work dir is touched.  */
static int
ctr_mount_ro (struct ctr *c, husk_error_t *err)
{
  cleanup_strv char **lowers = strv_dup (c->lowers);
  struct husk_rootfs r = { 0 };

  strv_append_take (&lowers, xasprintf ("%s/upper", c->dir));
  r.lower_dirs = lowers;
  return husk_rootfs_mount_private (&r, err);
}

/* Rootless: the user namespace husk enters is a sibling of the running
   container's, not its parent, so /proc/<pid>/root cannot be opened from
   inside it; the user (who owns the container's namespace) opens it
   before entering, and the fd crosses into the namespace's process.  */
static int pre_root_fd = -1;
static pid_t pre_root_pid;

static void
rootless_pre_open (struct cli_ctx *ctx, const char *arg)
{
  struct husk_container_record *r;
  struct husk_container_state st = { 0 };
  cleanup_free char *id = NULL;
  husk_store_t *s = NULL;

  if (geteuid () == 0 || husk_store_open (&ctx->store_opts, &s, NULL) < 0)
    return;
  if (husk_store_lock (s, false, NULL) == 0)
    {
      if (husk_store_container_find (s, arg, &r, NULL) == 1)
        id = xstrdup (r->id);
      husk_store_unlock (s);
    }
  if (id != NULL && husk_store_container_state (s, id, &st, NULL) == 0
      && (st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING) && st.pid > 0)
    {
      cleanup_free char *p = xasprintf ("/proc/%d/root", st.pid);
      pre_root_fd = open (p, O_PATH | O_DIRECTORY | O_CLOEXEC);
      pre_root_pid = st.pid;
    }
  husk_container_state_clear (&st);
  husk_store_close (s);
}

/* A root for cp: the live root of a running container, else its overlay
   (read-write when writing), with the container lock held until exit so
   that a start cannot mount the same upper dir meanwhile.  */
static int
ctr_root (husk_store_t *s, struct ctr *c, bool write, husk_error_t *err)
{
  struct husk_container_state st = { 0 };
  int ret;

  ret = husk_store_container_lock (s, c->id, &c->lockfd, err);
  if (ret < 0)
    return ret;
  ret = husk_store_container_state (s, c->id, &st, err);
  if (ret < 0)
    return ret;
  if ((st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING) && st.pid > 0)
    {
      pid_t pid = st.pid;
      cleanup_free char *p = xasprintf ("/proc/%d/root", pid);
      uint64_t start = husk_store_pid_start_time (pid);
      int fd = pre_root_fd >= 0 && pre_root_pid == pid ? dup (pre_root_fd)
                                                       : open (p, O_PATH | O_DIRECTORY | O_CLOEXEC);
      int saved = errno;

      husk_container_state_clear (&st);
      close (c->lockfd);
      c->lockfd = -1;
      if (fd < 0)
        return husk_make_error (err, saved, "open the root of container %s", c->name);
      /* The pid must still be the container's (not reused) after the open.  */
      if (start == 0 || husk_store_pid_start_time (pid) != start)
        {
          close (fd);
          return husk_make_error (err, ESRCH, "container %s stopped", c->name);
        }
      return fd;
    }
  husk_container_state_clear (&st);
  if (write)
    {
      cleanup_free char *upper = xasprintf ("%s/upper", c->dir);
      cleanup_free char *work = xasprintf ("%s/work", c->dir);
      struct husk_rootfs r = { .lower_dirs = c->lowers, .upper_dir = upper, .work_dir = work };
      return husk_rootfs_mount_private (&r, err);
    }
  return ctr_mount_ro (c, err);
}

/* ---- cp ---- */

/* Docker's rule: an absolute path, or one whose part before ":" starts
   with ".", is local; otherwise "CONTAINER:PATH".  */
static bool
split_cp_arg (const char *arg, char **ctr, char **path)
{
  const char *colon = strchr (arg, ':');

  if (arg[0] == '/' || colon == NULL || arg[0] == '.')
    {
      *ctr = NULL;
      *path = xstrdup (arg);
      return false;
    }
  *ctr = xstrndup (arg, colon - arg);
  *path = colon[1] == '/' ? xstrdup (colon + 1) : xasprintf ("/%s", colon + 1);
  return true;
}

static bool
ends_with (const char *s, const char *suffix)
{
  size_t l = strlen (s), k = strlen (suffix);
  return l >= k && strcmp (s + l - k, suffix) == 0;
}

/* "a/b/" and "a/b/." -> "a/b"; "/" stays.  */
static char *
strip_trailing (const char *path)
{
  char *p = xstrdup (path);
  size_t len = strlen (p);

  for (;;)
    {
      while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
      if (len > 2 && strcmp (p + len - 2, "/.") == 0)
        {
          len -= 2;
          p[len] = '\0';
          continue;
        }
      if (len == 2 && strcmp (p, "/.") == 0)
        p[--len] = '\0';
      break;
    }
  return p;
}

static char *
base_name (const char *path)
{
  cleanup_free char *p = strip_trailing (path);
  const char *s = strrchr (p, '/');
  return xstrdup (s ? s + 1 : p);
}

static char *
dir_name (const char *path)
{
  cleanup_free char *p = strip_trailing (path);
  char *s = strrchr (p, '/');

  if (s == NULL)
    return xstrdup (".");
  if (s == p)
    return xstrdup ("/");
  return xstrndup (p, s - p);
}

/* A host path made absolute (the host side's root is "/").  */
static char *
host_abs (const char *path)
{
  cleanup_free char *cwd = NULL;

  if (path[0] == '/')
    return xstrdup (path);
  cwd = getcwd (NULL, 0);
  return xasprintf ("%s/%s", cwd ? cwd : "/", path);
}

struct cp_side
{
  int rootfd;
  const char *path;
  const char *ctr; /* container name, NULL for the host */
};

static int
not_found (const struct cp_side *sd, const char *path, husk_error_t *err)
{
  if (sd->ctr)
    return husk_make_error (err, ENOENT, "\"%s\" could not be found on container %s", path, sd->ctr);
  return husk_make_error (err, ENOENT, "\"%s\" could not be found on the host", path);
}

/* Run the tar writer in a child and extract its stream here: the two
   sides' roots never mix in one walk.  */
static int
cp_pipe (const struct cp_side *src, bool follow, const char *name, int destfd,
         const struct husk_fs_extract_opts *o, husk_error_t *err)
{
  int p[2], e[2];
  pid_t pid;
  int ret, status;
  cleanup_free char *child_msg = NULL;

  if (pipe2 (p, O_CLOEXEC) < 0 || pipe2 (e, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "pipe");
  pid = fork ();
  if (pid < 0)
    return husk_make_error (err, errno, "fork");
  if (pid == 0)
    {
      husk_error_t cerr = NULL;
      close (p[0]);
      close (e[0]);
      if (husk_fs_tar_write (src->rootfd, src->path, follow, name, NULL, p[1], &cerr) < 0)
        {
          const char *m = cerr && cerr->msg ? cerr->msg : "copy failed";
          if (write (e[1], m, strlen (m)) < 0)
            _exit (2);
          _exit (1);
        }
      _exit (0);
    }
  close (p[1]);
  close (e[1]);
  ret = husk_fs_tar_extract (destfd, p[0], o, err);
  close (p[0]);
  husk_read_all_fd (e[0], 64 * 1024, &child_msg, NULL, NULL);
  close (e[0]);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      if (ret < 0)
        husk_error_release (err);
      return husk_make_error (err, EIO, "%s", child_msg && *child_msg ? child_msg : "copy failed");
    }
  return ret;
}

static int
cp_copy (const struct cp_side *src, bool follow_arg, const struct cp_side *dst,
         const struct husk_fs_extract_opts *o, husk_error_t *err)
{
  bool contents = ends_with (src->path, "/.") || strcmp (src->path, "/") == 0;
  bool follow = follow_arg || (ends_with (src->path, "/") && strcmp (src->path, "/") != 0);
  cleanup_free char *name = NULL;
  cleanup_free char *destdir = NULL;
  cleanup_close int destfd = -1;
  struct stat sst, dst_st;
  int ret;

  ret = husk_fs_stat_in_root (src->rootfd, src->path, follow, &sst, NULL);
  if (ret == -ENOENT || ret == -ENOTDIR)
    return not_found (src, src->path, err);
  if (ret < 0)
    return husk_make_error (err, -ret, "%s", src->path);
  if (contents && !S_ISDIR (sst.st_mode))
    return husk_make_error (err, ENOTDIR, "\"%s\"", src->path);

  ret = husk_fs_stat_in_root (dst->rootfd, dst->path, true, &dst_st, NULL);
  if (ret == 0 && S_ISDIR (dst_st.st_mode))
    {
      destdir = xstrdup (dst->path);
      name = contents ? xstrdup ("") : base_name (src->path);
      if (*name != '\0')
        {
          /* A name already there must be of the same kind.  */
          cleanup_free char *target = xasprintf ("%s/%s", destdir, name);
          struct stat tst;
          if (husk_fs_stat_in_root (dst->rootfd, target, false, &tst, NULL) == 0)
            {
              if (S_ISDIR (tst.st_mode) && !S_ISDIR (sst.st_mode))
                return husk_make_error (err, EISDIR,
                                        "cannot overwrite directory \"%s\" with non-directory \"%s\"", target,
                                        src->path);
              if (!S_ISDIR (tst.st_mode) && S_ISDIR (sst.st_mode))
                return husk_make_error (err, ENOTDIR,
                                        "cannot overwrite non-directory \"%s\" with directory \"%s\"", target,
                                        src->path);
            }
        }
    }
  else if (ret == 0)
    {
      if (S_ISDIR (sst.st_mode))
        return husk_make_error (err, ENOTDIR, "cannot overwrite non-directory \"%s\" with directory \"%s\"",
                                dst->path, src->path);
      if (ends_with (dst->path, "/"))
        return husk_make_error (err, ENOTDIR, "\"%s\"", dst->path);
      destdir = dir_name (dst->path);
      name = base_name (dst->path);
    }
  else if (ret == -ENOENT)
    {
      struct stat pst;
      if (ends_with (dst->path, "/") && !S_ISDIR (sst.st_mode))
        return husk_make_error (err, ENOENT, "\"%s\": no such directory", dst->path);
      destdir = dir_name (dst->path);
      name = base_name (dst->path);
      ret = husk_fs_stat_in_root (dst->rootfd, destdir, true, &pst, NULL);
      if (ret == -ENOENT)
        return husk_make_error (err, ENOENT, "%s", destdir);
      if (ret < 0)
        return husk_make_error (err, -ret, "%s", destdir);
      if (!S_ISDIR (pst.st_mode))
        return husk_make_error (err, ENOTDIR, "%s", destdir);
    }
  else
    return husk_make_error (err, -ret, "%s", dst->path);

  destfd = husk_open_in_root (dst->rootfd, destdir, O_PATH | O_DIRECTORY, 0, err);
  if (destfd < 0)
    return -1;
  return cp_pipe (src, follow, name, destfd, o, err);
}

int
cmd_cp (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *src_ctr = NULL, *src_path = NULL, *dst_ctr = NULL, *dst_path = NULL;
  struct ctr c = { .lockfd = -1 };
  bool from, to, follow = cli_bool (a, "follow-link");
  cleanup_close int hostroot = -1;
  cleanup_close int ctrroot = -1;
  husk_store_t *s;
  int ret;

  from = split_cp_arg (a->argv[0], &src_ctr, &src_path);
  to = split_cp_arg (a->argv[1], &dst_ctr, &dst_path);
  if (from && to)
    return husk_make_error (err, EINVAL, "copying between containers is not supported");
  if (!from && !to)
    return husk_make_error (err, EINVAL, "must specify at least one container source");
  if (strcmp (from ? dst_path : src_path, "") == 0)
    return husk_make_error (err, EINVAL, "empty path");

  rootless_pre_open (ctx, from ? src_ctr : dst_ctr);
  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = ctr_get (s, from ? src_ctr : dst_ctr, &c, err);
  if (ret < 0)
    goto out;
  ret = ctr_root (s, &c, to, err);
  if (ret < 0)
    goto out;
  ctrroot = ret;
  hostroot = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (hostroot < 0)
    {
      ret = husk_make_error (err, errno, "open /");
      goto out;
    }

  if (from)
    {
      struct husk_fs_extract_opts o
          = { .owner
              = geteuid () == 0 && !husk_userns_is_rootless () ? HUSK_FS_OWNER_KEEP : HUSK_FS_OWNER_NONE };
      struct cp_side src = { ctrroot, src_path, c.name };
      if (strcmp (dst_path, "-") == 0)
        {
          struct stat st;
          cleanup_free char *name = NULL;
          bool contents = ends_with (src_path, "/.") || strcmp (src_path, "/") == 0;
          ret = husk_fs_stat_in_root (ctrroot, src_path, follow, &st, NULL);
          if (ret == -ENOENT || ret == -ENOTDIR)
            ret = not_found (&src, src_path, err);
          else if (ret < 0)
            ret = husk_make_error (err, -ret, "%s", src_path);
          if (ret < 0)
            goto out;
          name = contents ? xstrdup ("") : base_name (src_path);
          ret = husk_fs_tar_write (ctrroot, src_path, follow || ends_with (src_path, "/"), name, NULL,
                                   STDOUT_FILENO, err);
        }
      else
        {
          cleanup_free char *abs = host_abs (dst_path);
          struct cp_side dst = { hostroot, abs, NULL };
          ret = cp_copy (&src, follow, &dst, &o, err);
        }
    }
  else
    {
      struct husk_fs_extract_opts o
          = { .owner = cli_bool (a, "archive") ? HUSK_FS_OWNER_KEEP : HUSK_FS_OWNER_ROOT };
      struct cp_side dst = { ctrroot, dst_path, c.name };
      if (strcmp (src_path, "-") == 0)
        {
          struct stat st;
          cleanup_close int destfd = -1;
          ret = husk_fs_stat_in_root (ctrroot, dst_path, true, &st, NULL);
          if (ret == -ENOENT)
            ret = not_found (&dst, dst_path, err);
          else if (ret < 0)
            ret = husk_make_error (err, -ret, "%s", dst_path);
          else if (!S_ISDIR (st.st_mode))
            ret = husk_make_error (err, ENOTDIR, "destination \"%s\" must be a directory", dst_path);
          if (ret < 0)
            goto out;
          destfd = husk_open_in_root (ctrroot, dst_path, O_PATH | O_DIRECTORY, 0, err);
          if (destfd < 0)
            {
              ret = -1;
              goto out;
            }
          ret = husk_fs_tar_extract (destfd, STDIN_FILENO, &o, err);
        }
      else
        {
          cleanup_free char *abs = host_abs (src_path);
          struct cp_side src = { hostroot, abs, NULL };
          ret = cp_copy (&src, follow, &dst, &o, err);
        }
    }
out:
  ctr_clear (&c);
  return ret < 0 ? ret : 0;
}

/* ---- diff ---- */

/* The empty files the runtime creates in the upper dir to mount the
   generated etc files on (when the image lacks them) are not the
   container's changes: Docker keeps them out of diff too, and the
   directory they alone made "changed".  */
static void
hide_mount_targets (int upperfd, struct husk_fs_change *ch, size_t *n)
{
  static const char *const targets[] = { "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", NULL };
  bool etc_hidden = false;
  size_t i, k = 0;

  for (i = 0; i < *n; i++)
    {
      struct stat st;
      bool hide = false;
      for (size_t t = 0; targets[t] && !hide; t++)
        hide = ch[i].kind == 'A' && strcmp (ch[i].path, targets[t]) == 0
               && fstatat (upperfd, ch[i].path + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode)
               && st.st_size == 0;
      if (hide)
        {
          etc_hidden = true;
          free (ch[i].path);
          continue;
        }
      ch[k++] = ch[i];
    }
  *n = k;
  if (!etc_hidden)
    return;
  for (i = 0; i < *n; i++)
    if (strcmp (ch[i].path, "/etc") == 0 && ch[i].kind == 'C'
        && (i + 1 == *n || strncmp (ch[i + 1].path, "/etc/", 5) != 0))
      {
        free (ch[i].path);
        memmove (&ch[i], &ch[i + 1], (*n - i - 1) * sizeof (*ch));
        (*n)--;
        break;
      }
}

/* An image as diff sees it: its top layer as the "upper dir" over the
   layers below it (c->lowers); an image with no layers changes nothing
   (returns 1, *upper stays NULL).  */
static int
image_top_layer (husk_store_t *s, const char *arg, struct ctr *c, char **upper, husk_error_t *err)
{
  struct husk_image_record *r;
  size_t n;
  int ret;

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = cli_image_lookup (s, arg, &r, err);
  if (ret < 0 && strstr ((*err)->msg, "image not known") != NULL)
    {
      husk_error_release (err);
      ret = husk_make_error (err, 0, "%s not found: no such container or image", arg);
    }
  if (ret >= 0)
    {
      n = strv_len (r->layers);
      c->lowers = xzalloc ((n + 1) * sizeof (char *));
      for (size_t i = 0; i + 1 < n; i++)
        c->lowers[i] = husk_store_layer_path (s, r->layers[i]);
      *upper = n > 0 ? husk_store_layer_path (s, r->layers[n - 1]) : NULL;
      ret = n > 0 ? 0 : 1;
    }
  husk_store_unlock (s);
  return ret;
}

int
cmd_diff (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct ctr c = { .lockfd = -1 };
  struct husk_fs_change *ch = NULL;
  cleanup_close int upperfd = -1;
  cleanup_free char *upper = NULL;
  const char *format = cli_string (a, "format");
  husk_store_t *s;
  size_t n = 0, i;
  int ret;

  if (format != NULL && strcmp (format, "json") != 0)
    return husk_make_error (err, EINVAL, "unknown --format \"%s\": only json is supported", format);
  /* The upper dir holds files of the container's ids: the rootless
     namespace reads them all.  */
  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = ctr_get (s, a->argv[0], &c, err);
  if (ret == -ENOENT)
    {
      /* Podman's diff of an image: what its top layer changes.  */
      husk_error_release (err);
      ret = image_top_layer (s, a->argv[0], &c, &upper, err);
    }
  if (ret < 0)
    goto out;
  if (ret == 0)
    {
      if (upper == NULL)
        upper = xasprintf ("%s/upper", c.dir);
      upperfd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (upperfd < 0)
        {
          ret = husk_make_error (err, errno, "open `%s`", upper);
          goto out;
        }
      ret = husk_fs_changes (upperfd, c.lowers, &ch, &n, err);
      if (ret < 0)
        goto out;
    }
  if (c.id != NULL)
    hide_mount_targets (upperfd, ch, &n);
  if (format != NULL)
    {
      cleanup_json husk_json_t *o = husk_json_new_object ();
      const char *keys[] = { "changed", "added", "deleted" };
      const char kinds[] = { 'C', 'A', 'D' };
      cleanup_free char *js = NULL;
      for (size_t k = 0; k < 3; k++)
        {
          husk_json_t *arr = husk_json_new_array ();
          for (i = 0; i < n; i++)
            if (ch[i].kind == kinds[k])
              husk_json_array_append (arr, husk_json_new_string (ch[i].path));
          if (husk_json_array_len (arr) > 0)
            husk_json_set (o, keys[k], arr);
          else
            husk_json_free (arr);
        }
      js = husk_json_serialize (o, true, NULL);
      printf ("%s\n", js);
    }
  else
    for (i = 0; i < n; i++)
      printf ("%c %s\n", ch[i].kind, ch[i].path);
  if (fflush (stdout) != 0)
    ret = husk_make_error (err, errno, "write");
out:
  husk_fs_changes_free (ch, n);
  ctr_clear (&c);
  return ret < 0 ? ret : 0;
}

/* ---- export ---- */

int
cmd_export (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct ctr c = { .lockfd = -1 };
  const char *output = cli_string (a, "output");
  cleanup_close int outfd = -1;
  cleanup_close int rootfd = -1;
  husk_store_t *s;
  int ret;

  if (output == NULL && isatty (STDOUT_FILENO))
    return husk_make_error (
        err, EINVAL, "cowardly refusing to write a tar archive to a terminal: use -o or redirect the output");
  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = ctr_get (s, a->argv[0], &c, err);
  if (ret < 0)
    goto out;
  if (output != NULL)
    {
      outfd = open (output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (outfd < 0)
        {
          ret = husk_make_error (err, errno, "open `%s`", output);
          goto out;
        }
    }
  ret = ctr_mount_ro (&c, err);
  if (ret < 0)
    goto out;
  rootfd = ret;
  ret = husk_fs_tar_write (rootfd, "/", false, "", NULL, outfd >= 0 ? outfd : STDOUT_FILENO, err);
out:
  ctr_clear (&c);
  return ret < 0 ? ret : 0;
}

/* ---- commit ---- */

/* What podman commit carries from the container's Config into the image.  */
static void
config_from_container (husk_json_t *img_config, const husk_json_t *ctr_config)
{
  static const char *const keys[]
      = { "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "StopSignal", NULL };
  husk_json_t *cc = husk_json_get (ctr_config, "Config");
  husk_json_t *ic = husk_json_get (img_config, "config");

  if (cc == NULL)
    return;
  if (ic == NULL)
    {
      ic = husk_json_new_object ();
      husk_json_set (img_config, "config", ic);
    }
  for (size_t i = 0; keys[i]; i++)
    {
      husk_json_t *v = husk_json_get (cc, keys[i]);
      if (v == NULL || husk_json_type (v) == HUSK_JSON_NULL)
        continue;
      if (husk_json_type (v) == HUSK_JSON_STRING && *husk_json_string (v) == '\0'
          && strcmp (keys[i], "Cmd") != 0)
        {
          husk_json_remove (ic, keys[i]);
          continue;
        }
      husk_json_set (ic, keys[i], husk_json_clone (v));
    }
}

static char *
created_by (const husk_json_t *cfg)
{
  struct husk_buf b = { 0 };
  husk_json_t *args = husk_json_get (cfg, "Args");
  const char *path = husk_json_get_string (cfg, "Path");

  if (path)
    husk_buf_puts (&b, path);
  for (size_t i = 0; i < husk_json_array_len (args); i++)
    husk_buf_printf (&b, " %s", husk_json_string (husk_json_array_at (args, i)) ?: "");
  return b.data ? b.data : xstrdup ("");
}

/* --pause: freeze a running container while its changes are read, when
   it has a cgroup with a freezer (not rootless without a delegated
   cgroup: then it is committed as it runs, as with --pause=false).  A
   container the user paused stays paused.  True when we froze it.  */
static bool
commit_pause (husk_store_t *s, const char *id, struct husk_cgroup **cg)
{
  struct husk_container_state st = { 0 };
  bool frozen = false;

  if (husk_store_container_state (s, id, &st, NULL) == 0 && st.status == HUSK_CONTAINER_RUNNING
      && st.cgroup_path != NULL && st.cgroup_path[0] != '\0' && !cli_container_paused (&st)
      && husk_cgroup_detect (NULL) != HUSK_CGROUP_NONE
      && husk_cgroup_open (id, st.cgroup_path, cg, NULL) >= 0)
    frozen = husk_cgroup_freeze (*cg, true, NULL) >= 0;
  husk_container_state_clear (&st);
  return frozen;
}

int
cmd_commit (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct ctr c = { .lockfd = -1 };
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  cleanup_free char *full_name = NULL;
  cleanup_free char *raw = NULL;
  cleanup_free char *config_data = NULL;
  cleanup_free char *id = NULL;
  cleanup_free char *by = NULL;
  cleanup_free char *now = NULL;
  cleanup_json husk_json_t *config = NULL;
  cleanup_close int tmp = -1;
  struct husk_layer_apply_opts opts = { 0 };
  struct husk_layer_apply_result res = { 0 };
  char *const *changes = cli_strv (a, "change");
  const char *message = cli_string (a, "message");
  const char *author = cli_string (a, "author");
  bool squash = cli_bool (a, "squash");
  husk_json_t *rootfs, *diff_ids, *history, *h;
  size_t raw_len, config_len;
  cleanup_cgroup struct husk_cgroup *cg = NULL;
  bool frozen = false;
  husk_store_t *s;
  int ret, fd;

  /* Names and changes are checked before any work.  */
  if (a->argc > 1)
    {
      ret = cli_local_name (a->argv[1], &full_name, err);
      if (ret < 0)
        return ret;
    }
  {
    cleanup_json husk_json_t *probe = husk_image_config_new ((char *[]){ NULL }, 0, NULL, NULL);
    for (char *const *ch = changes; ch && *ch; ch++)
      if (husk_image_config_apply_change (probe, *ch, err) < 0)
        return -1;
  }

  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = ctr_get (s, a->argv[0], &c, err);
  if (ret < 0)
    goto out;
  if (cli_bool (a, "pause"))
    frozen = commit_pause (s, c.id, &cg);
  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    goto out;
  ret = husk_store_image_config (s, c.image_id, &raw, &raw_len, err);
  husk_store_unlock (s);
  if (ret < 0)
    goto out;
  config = husk_json_parse (raw, raw_len, err);
  if (config == NULL)
    {
      ret = -1;
      goto out;
    }

  /* The new layer: the upper dir as a layer diff (whiteouts become
     ".wh." entries), or with --squash the whole merged tree; spooled to
     an anonymous file and extracted into a stage as an import would.  */
  tmp = husk_open_tmpfile (husk_store_tmpdir (s), err);
  if (tmp < 0)
    {
      ret = -1;
      goto out;
    }
  if (squash)
    {
      cleanup_close int rootfd = ctr_mount_ro (&c, err);
      if (rootfd < 0)
        {
          ret = -1;
          goto out;
        }
      ret = husk_fs_tar_write (rootfd, "/", false, "", NULL, tmp, err);
    }
  else
    {
      cleanup_free char *upper = xasprintf ("%s/upper", c.dir);
      cleanup_close int upperfd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      struct husk_layer_diff_result dres = { 0 };
      cleanup_strv char **skip = NULL;
      if (upperfd < 0)
        {
          ret = husk_make_error (err, errno, "open `%s`", upper);
          goto out;
        }
      /* The mount targets the runtime made are not the container's
         changes (Docker commits them neither).  */
      skip = husk_fs_mount_targets (upperfd, c.lowers, NULL);
      ret = husk_layer_diff_skip (upperfd, skip, tmp, HUSK_COMPRESSION_NONE, &dres, err);
      husk_layer_diff_result_clear (&dres);
    }
  /* The changes are read: the container may run on.  */
  if (frozen)
    frozen = husk_cgroup_freeze (cg, false, NULL) < 0;
  if (ret < 0)
    goto out;
  if (lseek (tmp, 0, SEEK_SET) < 0)
    {
      ret = husk_make_error (err, errno, "lseek");
      goto out;
    }
  ret = husk_store_layer_stage_new (s, &stage, err);
  if (ret < 0)
    goto out;
  opts.userxattr = husk_store_rootless (s);
  opts.no_chown = !husk_userns_can_chown ();
  fd = tmp;
  ret = husk_image_layer_apply (stage, husk_read_fd, &fd, &opts, NULL, &res, err);
  if (ret < 0)
    {
      husk_error_wrap (err, "committing the container's changes");
      goto out;
    }

  /* The config: the image's, with the container's settings, the changes,
     the new layer and a history entry.  */
  config_from_container (config, c.config);
  for (char *const *ch = changes; ch && *ch; ch++)
    {
      ret = husk_image_config_apply_change (config, *ch, err);
      if (ret < 0)
        goto out;
    }
  rootfs = husk_json_get (config, "rootfs");
  if (rootfs == NULL)
    {
      rootfs = husk_json_new_object ();
      husk_json_set_string (rootfs, "type", "layers");
      husk_json_set (config, "rootfs", rootfs);
    }
  diff_ids = husk_json_get (rootfs, "diff_ids");
  if (diff_ids == NULL || squash)
    {
      diff_ids = husk_json_new_array ();
      husk_json_set (rootfs, "diff_ids", diff_ids);
    }
  husk_json_array_append (diff_ids, husk_json_new_string (res.diff_id));
  history = husk_json_get (config, "history");
  if (history == NULL || squash)
    {
      history = husk_json_new_array ();
      husk_json_set (config, "history", history);
    }
  now = cli_format_time (husk_now_ns ());
  by = created_by (c.config);
  h = husk_json_new_object ();
  husk_json_set_string (h, "created", now);
  husk_json_set_string (h, "created_by", by);
  if (author)
    husk_json_set_string (h, "author", author);
  if (message)
    husk_json_set_string (h, "comment", message);
  husk_json_array_append (history, h);
  husk_json_set_string (config, "created", now);
  if (author)
    husk_json_set_string (config, "author", author);
  else
    husk_json_remove (config, "author");
  config_data = husk_json_serialize (config, false, &config_len);

  {
    husk_layer_stage_t *stages[] = { stage };
    char *names[] = { full_name, NULL };
    struct husk_image_commit ic = {
      .config = config_data,
      .config_len = config_len,
      .names = full_name ? names : NULL,
      .stages = stages,
      .n_stages = 1,
    };

    ret = husk_store_lock (s, true, err);
    if (ret < 0)
      goto out;
    ret = husk_store_image_commit (s, &ic, &id, err);
    husk_store_unlock (s);
    if (ret < 0)
      goto out;
  }
  {
    cleanup_json husk_json_t *attrs = husk_json_new_object ();
    husk_json_set_string (attrs, "imageID", id);
    husk_store_event_container (s, "commit", c.id, attrs);
  }
  printf ("%s\n", id);
  if (fflush (stdout) != 0)
    ret = husk_make_error (err, errno, "write");
out:
  if (frozen)
    husk_cgroup_freeze (cg, false, NULL);
  husk_layer_apply_result_clear (&res);
  ctr_clear (&c);
  return ret < 0 ? ret : 0;
}
