/* husk: version, info, system df, system prune, system reset, unshare.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/magic.h>

#include "cli.h"
#include "container.h"
#include "husk/fs.h"
#include "husk/template.h"
#include "husk/userns.h"
#include "husk/util.h"

static int
print_object (husk_json_t *obj, const char *format, const char *plain, husk_error_t *err)
{
  cleanup_json husk_json_t *arr = NULL;
  cleanup_template husk_template_t *t = NULL;
  struct husk_buf out = { 0 };
  int ret;

  if (format == NULL)
    {
      fputs (plain, stdout);
      return 0;
    }
  if (strcmp (format, "json") == 0 || strcmp (format, "{{json .}}") == 0)
    {
      cleanup_free char *s = husk_json_serialize (obj, true, NULL);
      printf ("%s\n", s);
      return 0;
    }
  t = husk_template_parse (format, err);
  if (t == NULL)
    return -1;
  ret = husk_template_render (t, obj, &out, err);
  if (ret >= 0)
    printf ("%s\n", out.data ? out.data : "");
  husk_buf_free (&out);
  return ret;
}

int
cmd_version (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_json husk_json_t *v = husk_json_new_object ();
  husk_json_t *client = husk_json_new_object ();
  cleanup_free char *osarch = xasprintf ("linux/%s", husk_image_host_arch ());
  cleanup_free char *plain = NULL;

  husk_json_set_string (client, "Version", HUSK_VERSION);
  husk_json_set_string (client, "APIVersion", HUSK_VERSION);
  husk_json_set_string (client, "OsArch", osarch);
  husk_json_set_string (client, "BuiltTime", __DATE__ " " __TIME__);
  husk_json_set (v, "Client", client);
  husk_json_set_string (v, "Version", HUSK_VERSION);
  husk_json_set_string (v, "OsArch", osarch);
  plain = xasprintf ("Version:      %s\nAPI Version:  %s\nBuilt:        %s\nOS/Arch:      %s\n", HUSK_VERSION,
                     HUSK_VERSION, __DATE__ " " __TIME__, osarch);
  return print_object (v, cli_string (a, "format"), plain, err);
}

/* "v2" when /sys/fs/cgroup is cgroup2, "v1" otherwise (hybrid included:
   controllers live on the v1 hierarchies).  */
static const char *
cgroup_version (void)
{
  struct statfs st;
  if (statfs ("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
    return "v2";
  return "v1";
}

static husk_json_t *
cgroup_controllers (const char *version)
{
  husk_json_t *arr = husk_json_new_array ();

  if (strcmp (version, "v2") == 0)
    {
      cleanup_free char *data = NULL;
      husk_error_t err = NULL;
      char *save = NULL, *tok;
      if (husk_read_file_at (AT_FDCWD, "/sys/fs/cgroup/cgroup.controllers", 0, &data, NULL, &err) < 0)
        {
          husk_error_release (&err);
          return arr;
        }
      for (tok = strtok_r (data, " \n", &save); tok; tok = strtok_r (NULL, " \n", &save))
        husk_json_array_append (arr, husk_json_new_string (tok));
    }
  else
    {
      cleanup_dir DIR *d = opendir ("/sys/fs/cgroup");
      struct dirent *de;
      cleanup_strv char **names = NULL;
      size_t i;
      while (d && (de = readdir (d)))
        {
          struct statfs st;
          cleanup_free char *p = xasprintf ("/sys/fs/cgroup/%s", de->d_name);
          if (de->d_name[0] == '.' || de->d_type != DT_DIR || strcmp (de->d_name, "unified") == 0)
            continue;
          if (statfs (p, &st) == 0 && st.f_type == CGROUP_SUPER_MAGIC)
            strv_append (&names, de->d_name);
        }
      for (i = 0; names && names[i]; i++)
        husk_json_array_append (arr, husk_json_new_string (names[i]));
    }
  return arr;
}

/* Helper programs are looked up, never run: asking a helper its version
   costs an exec (DESIGN.md section 6).  */
static char *
find_helper (const char *name)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy
      = xasprintf ("%s:/usr/libexec/podman:/usr/lib/podman", path ? path : "/usr/bin:/bin");
  char *save = NULL, *dir;

  for (dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      char *p = xasprintf ("%s/%s", dir, name);
      if (access (p, X_OK) == 0)
        return p;
      free (p);
    }
  return NULL;
}

static husk_json_t *
host_info (husk_store_t *s)
{
  static const char *const helpers[]
      = { "newuidmap", "newgidmap", "netavark", "aardvark-dns", "pasta", "slirp4netns", "fuse-overlayfs" };
  husk_json_t *host = husk_json_new_object ();
  husk_json_t *h = husk_json_new_object ();
  const char *cgv = cgroup_version ();
  struct utsname u;
  size_t i;

  uname (&u);
  husk_json_set_string (host, "arch", husk_image_host_arch ());
  husk_json_set_string (host, "hostname", u.nodename);
  husk_json_set_string (host, "kernel", u.release);
  husk_json_set_string (host, "os", "linux");
  husk_json_set_string (host, "cgroupVersion", cgv);
  husk_json_set (host, "cgroupControllers", cgroup_controllers (cgv));
  husk_json_set_int (host, "cpus", sysconf (_SC_NPROCESSORS_ONLN));
  husk_json_set_int (host, "memTotal", (int64_t)sysconf (_SC_PHYS_PAGES) * sysconf (_SC_PAGESIZE));
  husk_json_set_bool (host, "rootless", husk_store_rootless (s));
  for (i = 0; i < sizeof (helpers) / sizeof (helpers[0]); i++)
    {
      cleanup_free char *p = find_helper (helpers[i]);
      husk_json_set (h, helpers[i], husk_json_new_string (p));
    }
  husk_json_set (host, "helpers", h);
  return host;
}

int
cmd_info (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_json husk_json_t *info = husk_json_new_object ();
  husk_json_t *store, *images;
  struct husk_image_record *const *list;
  struct husk_buf plain = { 0 };
  husk_store_t *s;
  size_t n = 0;
  int ret;

  ret = cli_store (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_store_lock (s, false, err);
  if (ret >= 0)
    ret = husk_store_images (s, &list, &n, err);
  husk_store_unlock (s);
  if (ret < 0)
    return ret;

  husk_json_set (info, "host", host_info (s));
  store = husk_json_new_object ();
  husk_json_set_string (store, "graphRoot", husk_store_root (s));
  husk_json_set_string (store, "runRoot", husk_store_runroot (s));
  husk_json_set_string (store, "graphDriverName", husk_store_driver (s));
  husk_json_set_string (store, "tmpDir", husk_store_tmpdir (s));
  images = husk_json_new_object ();
  husk_json_set_int (images, "number", (int64_t)n);
  husk_json_set (store, "imageStore", images);
  husk_json_set (info, "store", store);
  husk_json_set (info, "version", husk_json_new_object ());
  husk_json_set_string (husk_json_get (info, "version"), "Version", HUSK_VERSION);

  if (cli_string (a, "format") == NULL)
    {
      /* The plain form is YAML-like, as podman prints it.  */
      husk_json_t *host = husk_json_get (info, "host");
      size_t i;
      husk_buf_puts (&plain, "host:\n");
      for (i = 0; i < husk_json_object_len (host); i++)
        {
          husk_json_t *v = husk_json_object_value_at (host, i);
          cleanup_free char *sv
              = husk_json_string (v) ? xstrdup (husk_json_string (v)) : husk_json_serialize (v, false, NULL);
          husk_buf_printf (&plain, "  %s: %s\n", husk_json_object_key_at (host, i), sv);
        }
      husk_buf_printf (&plain,
                       "store:\n  graphDriverName: %s\n  graphRoot: %s\n  runRoot: %s\n  tmpDir: %s\n"
                       "  imageStore:\n    number: %zu\nversion:\n  Version: %s\n",
                       husk_store_driver (s), husk_store_root (s), husk_store_runroot (s),
                       husk_store_tmpdir (s), n, HUSK_VERSION);
    }
  ret = print_object (info, cli_string (a, "format"), plain.data ? plain.data : "", err);
  husk_buf_free (&plain);
  return ret;
}

static const char *
df_header (const char *field)
{
  if (strcmp (field, "Type") == 0)
    return "TYPE";
  return NULL;
}

static husk_json_t *
df_row (const char *type, uint64_t total, uint64_t active, uint64_t size, uint64_t reclaimable)
{
  husk_json_t *row = husk_json_new_object ();
  cleanup_free char *hsize = husk_human_size (size);
  cleanup_free char *hrecl = husk_human_size (reclaimable);
  cleanup_free char *recl = xasprintf ("%s (%d%%)", hrecl, size ? (int)(reclaimable * 100 / size) : 0);

  husk_json_set_string (row, "Type", type);
  husk_json_set_int (row, "Total", (int64_t)total);
  husk_json_set_int (row, "Active", (int64_t)active);
  husk_json_set_string (row, "Size", hsize);
  husk_json_set_string (row, "Reclaimable", recl);
  husk_json_set_int (row, "RawSize", (int64_t)size);
  husk_json_set_int (row, "RawReclaimable", (int64_t)reclaimable);
  return row;
}

int
cmd_system_df (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  static const struct husk_listing listing
      = { "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", "Type", df_header };
  cleanup_json husk_json_t *rows = husk_json_new_array ();
  struct husk_store_usage u;
  struct husk_output_opts o = { cli_string (a, "format"), false, false };
  husk_store_t *s;
  int ret;

  ret = cli_store (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_store_lock (s, false, err);
  if (ret >= 0)
    ret = husk_store_usage (s, &u, err);
  husk_store_unlock (s);
  if (ret < 0)
    return ret;

  husk_json_array_append (
      rows, df_row ("Images", u.images_count, u.images_active, u.images_size, u.images_reclaimable));
  /* Containers and volumes arrive with later commands; until then the
     store holds none of either, so these rows are true zeros.  */
  husk_json_array_append (rows, df_row ("Containers", 0, 0, 0, 0));
  husk_json_array_append (rows, df_row ("Local Volumes", 0, 0, 0, 0));

  if (o.format && strcmp (o.format, "json") == 0)
    return husk_output_inspect (stdout, rows, NULL, err);
  return husk_output_list (stdout, rows, &listing, &o, err);
}

/* ---- system prune, system reset ---- */

/* Bytes of the layers the store holds (what removing images frees).  */
static uint64_t
layers_size (husk_store_t *s)
{
  struct husk_store_usage u;
  husk_error_t e = NULL;

  if (husk_store_usage (s, &u, &e) < 0)
    {
      husk_error_release (&e);
      return 0;
    }
  return u.layers_size;
}

/* Remove the images nothing uses: dangling ones, or with all every one
   no container uses.  Exclusive lock taken here.  */
static int
prune_images (husk_store_t *s, bool all, char ***removed, uint64_t *reclaimed, husk_error_t *err)
{
  struct husk_image_record *const *images;
  cleanup_strv char **ids = NULL;
  uint64_t before, after;
  size_t n, i;
  int ret;

  ret = husk_store_lock (s, true, err);
  if (ret < 0)
    return ret;
  before = layers_size (s);
  ret = husk_store_images (s, &images, &n, err);
  for (i = 0; ret >= 0 && i < n; i++)
    if ((all || strv_len (images[i]->names) == 0) && !husk_store_image_in_use (s, images[i]->id))
      strv_append (&ids, images[i]->id);
  for (i = 0; ret >= 0 && ids && ids[i]; i++)
    {
      ret = husk_store_image_remove (s, ids[i], err);
      if (ret >= 0)
        strv_append (removed, ids[i]);
    }
  after = layers_size (s);
  /* Another writer may have added layers meanwhile: never "negative".  */
  if (after < before)
    *reclaimed += before - after;
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

static void
print_section (const char *title, char *const *ids)
{
  size_t i;

  if (ids == NULL || ids[0] == NULL)
    return;
  printf ("%s\n", title);
  for (i = 0; ids[i]; i++)
    printf ("%s\n", ids[i]);
}

int
cmd_system_prune (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  bool all = cli_bool (a, "all");
  cleanup_strv char **containers = NULL;
  cleanup_strv char **images = NULL;
  cleanup_free char *human = NULL;
  cleanup_free char *question = NULL;
  uint64_t reclaimed = 0;
  husk_store_t *s;
  int ret, code;

  /* husk has no networks, volumes or build cache: the list names only
     what a prune here can remove.  */
  question = xasprintf (
      "WARNING! This command removes:\n\t- all stopped containers\n\t- %s\n%s\n"
      "Are you sure you want to continue?",
      all ? "all images without at least one container associated with them" : "all dangling images",
      cli_bool (a, "volumes") ? "\t- all volumes not used by at least one container\n" : "");
  if (!cli_bool (a, "force") && !cli_confirm (question))
    return 0;
  if (cli_store_writer (ctx, &s, err) < 0)
    return -1;
  code = cli_container_prune_stopped (s, &containers, &reclaimed, err);
  if (code < 0)
    return code;
  ret = prune_images (s, all, &images, &reclaimed, err);
  print_section ("Deleted Containers", containers);
  print_section ("Deleted Images", images);
  if (ret < 0)
    return ret;
  human = husk_human_size (reclaimed);
  printf ("Total reclaimed space: %s\n", human);
  return code;
}

/* Remove everything inside the directory at path, not the directory: it
   may be a mount point, or a path the user chose with --root.  */
static int
wipe_dir (const char *path, husk_error_t *err)
{
  cleanup_dir DIR *d = opendir (path);
  struct dirent *de;

  if (d == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return husk_make_error (err, errno, "opening %s", path);
    }
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (husk_rm_rf_at (dirfd (d), de->d_name, err) < 0)
        return husk_error_wrap (err, "removing %s/%s", path, de->d_name);
    }
  return 0;
}

/* rm -f of every container; each failure is printed, the first one is
   the result.  */
static int
remove_all_containers (husk_store_t *s, husk_error_t *err)
{
  struct husk_container_record *const *recs;
  cleanup_strv char **ids = NULL;
  size_t n, i;
  int ret;

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_containers (s, &recs, &n, err);
  for (i = 0; ret >= 0 && i < n; i++)
    strv_append (&ids, recs[i]->id);
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  for (i = 0; ids && ids[i]; i++)
    {
      husk_error_t one = NULL;
      if (cli_container_remove_force (s, ids[i], &one) < 0)
        {
          /* Gone meanwhile is what we wanted; anything else is reported
             and the store is wiped below all the same.  */
          if (one->status != ENOENT && husk_error_exit_code (&one) != 1)
            fprintf (stderr, "Error: %s\n", one->msg);
          husk_error_release (&one);
        }
    }
  return 0;
}

int
cmd_system_reset (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_image_record *const *images;
  cleanup_strv char **ids = NULL;
  husk_store_t *s;
  size_t n, i;
  int ret;

  if (cli_store_writer (ctx, &s, err) < 0)
    return -1;
  if (!cli_bool (a, "force"))
    {
      cleanup_free char *question
          = xasprintf ("WARNING! This will remove:\n\t- all containers\n\t- all images\n"
                       "\t- the graphRoot directory: \"%s\"\n\t- the runRoot directory: \"%s\"\n"
                       "Are you sure you want to continue?",
                       husk_store_root (s), husk_store_runroot (s));
      if (!cli_confirm (question))
        return 0;
    }
  ret = remove_all_containers (s, err);
  if (ret < 0)
    return ret;
  ret = husk_store_lock (s, true, err);
  if (ret < 0)
    return ret;
  ret = husk_store_images (s, &images, &n, err);
  for (i = 0; ret >= 0 && i < n; i++)
    strv_append (&ids, images[i]->id);
  for (i = 0; ret >= 0 && ids && ids[i]; i++)
    ret = husk_store_image_remove (s, ids[i], err);
  /* Whatever is left (a record a failed remove kept, stray files) goes
     with the directories' contents: reset means an empty store.  */
  if (ret < 0)
    {
      fprintf (stderr, "Error: %s\n", (*err)->msg);
      husk_error_release (err);
    }
  ret = wipe_dir (husk_store_root (s), err);
  if (ret >= 0)
    ret = wipe_dir (husk_store_runroot (s), err);
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

/* ---- unshare ---- */

int
cmd_unshare (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *shell = getenv ("SHELL");
  char *default_argv[] = { (char *)(shell && *shell ? shell : "/bin/sh"), NULL };
  char **argv = a->argc > 0 ? a->argv : default_argv;
  husk_store_t *s;
  int ret, saved;

  /* Podman's answer, word for word: as root there is no mapping to
     enter.  */
  if (!husk_userns_is_rootless ())
    return husk_make_error (err, 0, "please use unshare with rootless");
  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  /* What podman unshare sets, so scripts written for it find the store.  */
  setenv ("CONTAINERS_GRAPHROOT", husk_store_root (s), 1);
  setenv ("CONTAINERS_RUNROOT", husk_store_runroot (s), 1);
  fflush (stdout);
  execvp (argv[0], argv);
  saved = errno;
  ret = husk_make_error (err, saved, "exec %s", argv[0]);
  husk_error_set_exit_code (err, saved == ENOENT ? 127 : 126);
  return ret;
}
