/* husk: version, info, system df.  */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/magic.h>

#include "cli.h"
#include "husk/fs.h"
#include "husk/template.h"
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
