/* husk: inspect, image inspect, container inspect, history.  */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

static husk_json_t *
clone_or (const husk_json_t *v, husk_json_t *fallback)
{
  if (v == NULL)
    return fallback;
  husk_json_free (fallback);
  return husk_json_clone (v);
}

static const char *
image_comment (const husk_json_t *config)
{
  const husk_json_t *history = husk_json_get (config, "history");
  const char *c = husk_json_get_string (config, "comment");
  size_t i;

  if (c)
    return c;
  for (i = 0; i < husk_json_array_len (history); i++)
    if ((c = husk_json_get_string (husk_json_array_at (history, i), "comment")) != NULL)
      return c;
  return "";
}

int
cli_image_inspect_json (husk_store_t *s, const struct husk_image_record *r, husk_json_t **out,
                        husk_error_t *err)
{
  cleanup_free char *config_raw = NULL;
  cleanup_free char *manifest_raw = NULL;
  cleanup_json husk_json_t *config = NULL;
  cleanup_json husk_json_t *manifest = NULL;
  cleanup_free char *upper = NULL;
  husk_json_t *o, *gd, *gdd, *rootfs;
  const char *mt;
  size_t len;
  int ret;

  ret = husk_store_image_config (s, r->id, &config_raw, &len, err);
  if (ret < 0)
    return ret;
  config = husk_json_parse (config_raw, len, err);
  if (config == NULL)
    return husk_error_wrap (err, "image %.12s: config", r->id);
  ret = husk_store_image_manifest (s, r->id, &manifest_raw, &len, err);
  if (ret < 0)
    return ret;
  manifest = husk_json_parse (manifest_raw, len, err);
  if (manifest == NULL)
    return husk_error_wrap (err, "image %.12s: manifest", r->id);

  o = husk_json_new_object ();
  husk_json_set_string (o, "Id", r->id);
  husk_json_set_string (o, "Digest", r->digest ? r->digest : "");
  husk_json_set (o, "RepoTags", husk_json_from_strv (r->names));
  husk_json_set (o, "RepoDigests", cli_repo_digests (r));
  husk_json_set_string (o, "Parent", "");
  husk_json_set_string (o, "Comment", image_comment (config));
  husk_json_set (o, "Created", clone_or (husk_json_get (config, "created"), husk_json_new_string ("")));
  husk_json_set (o, "Config", clone_or (husk_json_get (config, "config"), husk_json_new_object ()));
  husk_json_set_string (o, "Version", husk_json_get_string (config, "docker_version") ?: "");
  husk_json_set_string (o, "Author", husk_json_get_string (config, "author") ?: "");
  husk_json_set_string (o, "Architecture", husk_json_get_string (config, "architecture") ?: "");
  husk_json_set_string (o, "Os", husk_json_get_string (config, "os") ?: "");
  if (husk_json_get_string (config, "variant"))
    husk_json_set_string (o, "Variant", husk_json_get_string (config, "variant"));
  husk_json_set_int (o, "Size", (int64_t)r->size);
  husk_json_set_int (o, "VirtualSize", (int64_t)r->size);

  gd = husk_json_new_object ();
  husk_json_set_string (gd, "Name", husk_store_driver (s));
  gdd = husk_json_new_object ();
  if (r->layers && r->layers[0])
    {
      size_t n = strv_len (r->layers), i;
      struct husk_buf lower = { 0 };
      upper = husk_store_layer_path (s, r->layers[n - 1]);
      for (i = n - 1; i > 0; i--)
        {
          cleanup_free char *p = husk_store_layer_path (s, r->layers[i - 1]);
          if (lower.len)
            husk_buf_puts (&lower, ":");
          husk_buf_puts (&lower, p);
        }
      if (lower.len)
        husk_json_set_string (gdd, "LowerDir", lower.data);
      husk_buf_free (&lower);
      husk_json_set_string (gdd, "UpperDir", upper);
    }
  husk_json_set (gd, "Data", gdd);
  husk_json_set (o, "GraphDriver", gd);

  rootfs = husk_json_new_object ();
  husk_json_set_string (rootfs, "Type", "layers");
  husk_json_set (rootfs, "Layers", husk_json_from_strv (r->layers));
  husk_json_set (o, "RootFS", rootfs);
  husk_json_set (o, "Labels", r->labels ? husk_json_clone (r->labels) : husk_json_new_null ());
  husk_json_set (o, "Annotations",
                 clone_or (husk_json_get (manifest, "annotations"), husk_json_new_object ()));
  mt = husk_json_get_string (manifest, "mediaType");
  husk_json_set_string (o, "ManifestType", mt ? mt : "application/vnd.oci.image.manifest.v1+json");
  husk_json_set_string (o, "User", husk_json_get_string (husk_json_get (config, "config"), "User") ?: "");
  husk_json_set (o, "History", clone_or (husk_json_get (config, "history"), husk_json_new_array ()));
  husk_json_set (o, "NamesHistory", husk_json_from_strv (r->names));
  *out = o;
  return 0;
}

/* ---- containers ---- */

/* Go's zero time, which Podman prints for a start or finish that never
   happened.  */
static char *
inspect_time (int64_t ns)
{
  return ns ? husk_format_rfc3339 (ns) : xstrdup ("0001-01-01T00:00:00Z");
}

static husk_json_t *
container_state_json (const struct husk_container_state *st)
{
  husk_json_t *o = husk_json_new_object ();
  cleanup_free char *started = inspect_time (st->started_at);
  cleanup_free char *finished = inspect_time (st->finished_at);
  bool running = st->status == HUSK_CONTAINER_RUNNING || st->status == HUSK_CONTAINER_STOPPING;

  husk_json_set_string (o, "OciVersion", "1.0.2");
  husk_json_set_string (o, "Status", cli_container_status_name (st));
  husk_json_set_bool (o, "Running", running);
  husk_json_set_bool (o, "Paused", cli_container_paused (st));
  husk_json_set_bool (o, "Restarting", false);
  husk_json_set_bool (o, "OOMKilled", st->oom_killed);
  husk_json_set_bool (o, "Dead", false);
  husk_json_set_int (o, "Pid", running ? st->pid : 0);
  husk_json_set_int (o, "ConmonPid", running ? st->monitor_pid : 0);
  husk_json_set_int (o, "ExitCode", st->exit_code);
  husk_json_set_string (o, "Error", st->error ? st->error : "");
  husk_json_set_string (o, "StartedAt", started);
  husk_json_set_string (o, "FinishedAt", finished);
  husk_json_set_string (o, "CgroupPath", st->cgroup_path ? st->cgroup_path : "");
  return o;
}

/* State.Health, Podman's: present only when the container has a
   healthcheck; what the monitor recorded (health.json), or an empty
   record before the first start.  */
static void
container_health_json (husk_store_t *s, const char *id, const husk_json_t *config, husk_json_t *state)
{
  struct husk_health_config hc;
  cleanup_strv char **cmd = NULL;
  husk_json_t *h = NULL;
  husk_error_t err = NULL;

  cli_container_health (config, &hc, &cmd);
  if (cmd == NULL)
    return;
  if (husk_health_read (s, id, &h, &err) < 0)
    husk_error_release (&err);
  if (h == NULL)
    {
      h = husk_json_new_object ();
      husk_json_set_string (h, "Status",
                            husk_json_bool (husk_json_get (state, "Running"), false) ? "starting" : "");
      husk_json_set_int (h, "FailingStreak", 0);
      husk_json_set (h, "Log", husk_json_new_array ());
    }
  husk_json_set (state, "Health", h);
}

static husk_json_t *
bind_mount_json (const char *b)
{
  husk_json_t *m = husk_json_new_object ();
  husk_json_t *options = husk_json_new_array ();
  const char *colon = strchr (b, ':');
  cleanup_free char *src = xstrndup (b, colon ? (size_t)(colon - b) : strlen (b));
  cleanup_free char *dst = colon ? xstrndup (colon + 1, strcspn (colon + 1, ":")) : xstrdup ("");
  const char *opts = colon ? strchr (colon + 1, ':') : NULL;
  cleanup_strv char **parts = NULL;
  bool rw = true;
  const char *mode = "";
  size_t i;

  husk_json_array_append (options, husk_json_new_string ("rbind"));
  if (opts)
    {
      cleanup_free char *copy = xstrdup (opts + 1);
      char *t, *save = NULL;
      for (t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
        strv_append (&parts, t);
    }
  for (i = 0; parts && parts[i]; i++)
    {
      if (strcmp (parts[i], "ro") == 0)
        rw = false;
      if (strcmp (parts[i], "ro") == 0 || strcmp (parts[i], "rw") == 0)
        mode = parts[i];
      else
        husk_json_array_append (options, husk_json_new_string (parts[i]));
    }
  husk_json_set_string (m, "Type", "bind");
  husk_json_set_string (m, "Source", src);
  husk_json_set_string (m, "Destination", dst);
  husk_json_set_string (m, "Driver", "");
  husk_json_set_string (m, "Mode", mode);
  husk_json_set (m, "Options", options);
  husk_json_set_bool (m, "RW", rw);
  husk_json_set_string (m, "Propagation", "rprivate");
  return m;
}

static husk_json_t *
tmpfs_mount_json (const char *dst, const char *opts)
{
  husk_json_t *m = husk_json_new_object ();
  husk_json_t *options = husk_json_new_array ();
  cleanup_free char *copy = xstrdup (opts ? opts : "");
  char *t, *save = NULL;
  bool rw = true;

  for (t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      if (strcmp (t, "ro") == 0)
        rw = false;
      husk_json_array_append (options, husk_json_new_string (t));
    }
  husk_json_set_string (m, "Type", "tmpfs");
  husk_json_set_string (m, "Source", "tmpfs");
  husk_json_set_string (m, "Destination", dst);
  husk_json_set_string (m, "Driver", "");
  husk_json_set_string (m, "Mode", "");
  husk_json_set (m, "Options", options);
  husk_json_set_bool (m, "RW", rw);
  husk_json_set_string (m, "Propagation", "");
  return m;
}

static husk_json_t *
container_mounts_json (const husk_json_t *hc)
{
  const husk_json_t *binds = husk_json_get (hc, "Binds");
  const husk_json_t *tmpfs = husk_json_get (hc, "Tmpfs");
  husk_json_t *out = husk_json_new_array ();
  size_t i;

  for (i = 0; i < husk_json_array_len (binds); i++)
    if (husk_json_string (husk_json_array_at (binds, i)))
      husk_json_array_append (out, bind_mount_json (husk_json_string (husk_json_array_at (binds, i))));
  for (i = 0; i < husk_json_object_len (tmpfs); i++)
    husk_json_array_append (out, tmpfs_mount_json (husk_json_object_key_at (tmpfs, i),
                                                   husk_json_string (husk_json_object_value_at (tmpfs, i))));
  return out;
}

static void
set_default (husk_json_t *o, const char *key, husk_json_t *v)
{
  if (husk_json_get (o, key) == NULL)
    husk_json_set (o, key, v);
  else
    husk_json_free (v);
}

/* config.json's HostConfig as create wrote it, with the keys Podman always
   shows filled in where create had nothing to say.  */
static husk_json_t *
container_host_config_json (const husk_json_t *config, const char *log_path)
{
  const husk_json_t *hc = husk_json_get (config, "HostConfig");
  husk_json_t *o = hc ? husk_json_clone (hc) : husk_json_new_object ();
  husk_json_t *lc;

  set_default (o, "ContainerIDFile", husk_json_new_string (""));
  set_default (o, "LogConfig", husk_json_new_object ());
  lc = husk_json_get (o, "LogConfig");
  set_default (lc, "Type", husk_json_new_string ("k8s-file"));
  set_default (lc, "Config", husk_json_new_object ());
  set_default (lc, "Path", husk_json_new_string (log_path));
  set_default (o, "NetworkMode", husk_json_new_string ("none"));
  set_default (o, "PortBindings", husk_json_new_object ());
  set_default (o, "RestartPolicy", husk_json_new_object ());
  set_default (o, "AutoRemove", husk_json_new_bool (false));
  set_default (o, "Dns", husk_json_new_array ());
  set_default (o, "DnsOptions", husk_json_new_array ());
  set_default (o, "DnsSearch", husk_json_new_array ());
  set_default (o, "OomKillDisable", husk_json_new_bool (false));
  set_default (o, "OomScoreAdj", husk_json_new_int (0));
  set_default (o, "Memory", husk_json_new_int (0));
  set_default (o, "MemorySwap", husk_json_new_int (0));
  set_default (o, "NanoCpus", husk_json_new_int (0));
  set_default (o, "CpuShares", husk_json_new_int (0));
  set_default (o, "PidsLimit", husk_json_new_int (0));
  set_default (o, "Privileged", husk_json_new_bool (false));
  set_default (o, "ReadonlyRootfs", husk_json_new_bool (false));
  set_default (o, "CgroupManager", husk_json_new_string ("cgroupfs"));
  return o;
}

static husk_json_t *
container_config_json (const husk_json_t *config)
{
  const husk_json_t *c = husk_json_get (config, "Config");
  husk_json_t *o = c ? husk_json_clone (c) : husk_json_new_object ();

  set_default (o, "Annotations", husk_json_new_object ());
  set_default (o, "Labels", husk_json_new_object ());
  set_default (o, "Env", husk_json_new_array ());
  return o;
}

/* NetworkSettings: Ports as Docker and Podman show them, every exposed
   port a key, its host bindings (an unpublished one null), "" as the
   address 0.0.0.0.  */
static husk_json_t *
network_settings_json (const husk_json_t *config, const struct husk_container_state *st)
{
  const husk_json_t *exposed = husk_json_get_path (config, "Config", "ExposedPorts", NULL);
  husk_json_t *o = husk_json_new_object ();
  husk_json_t *ports = husk_json_new_object ();
  size_t n = 0, i;
  cleanup_free struct husk_port_mapping *maps = cli_container_ports (config, &n);

  for (i = 0; i < husk_json_object_len (exposed); i++)
    husk_json_set (ports, husk_json_object_key_at (exposed, i), husk_json_new_null ());
  for (i = 0; i < n; i++)
    {
      cleanup_free char *key = xasprintf ("%u/%s", maps[i].container_port, maps[i].proto);
      cleanup_free char *hp = xasprintf ("%u", maps[i].host_port);
      husk_json_t *arr = husk_json_get (ports, key);
      husk_json_t *b = husk_json_new_object ();

      if (arr == NULL || husk_json_type (arr) != HUSK_JSON_ARRAY)
        {
          arr = husk_json_new_array ();
          husk_json_set (ports, key, arr);
        }
      husk_json_set_string (b, "HostIp", maps[i].host_ip[0] ? maps[i].host_ip : "0.0.0.0");
      husk_json_set_string (b, "HostPort", hp);
      husk_json_array_append (arr, b);
    }
  husk_json_set_string (o, "EndpointID", "");
  husk_json_set_string (o, "Gateway", "");
  husk_json_set_string (o, "IPAddress", "");
  husk_json_set_int (o, "IPPrefixLen", 0);
  husk_json_set_string (o, "MacAddress", "");
  husk_json_set_string (o, "Bridge", "");
  husk_json_set_string (o, "SandboxID", "");
  husk_json_set (o, "Ports", ports);
  if (st->pid > 0)
    {
      cleanup_free char *key = xasprintf ("/proc/%d/ns/net", (int)st->pid);
      husk_json_set_string (o, "SandboxKey", key);
    }
  else
    husk_json_set_string (o, "SandboxKey", "");
  return o;
}

static char *
rundir_file (const char *rundir, const char *name)
{
  return rundir ? xasprintf ("%s/%s", rundir, name) : xstrdup ("");
}

static husk_json_t *
graph_driver_json (husk_store_t *s, const husk_json_t *config, const char *dir)
{
  const husk_json_t *layers = husk_json_get (config, "Layers");
  husk_json_t *gd = husk_json_new_object ();
  husk_json_t *data = husk_json_new_object ();
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *work = xasprintf ("%s/work", dir);
  struct husk_buf lower = { 0 };
  size_t i;

  for (i = husk_json_array_len (layers); i > 0; i--)
    {
      const char *l = husk_json_string (husk_json_array_at (layers, i - 1));
      cleanup_free char *p = l ? husk_store_layer_path (s, l) : NULL;
      if (p == NULL)
        continue;
      if (lower.len)
        husk_buf_puts (&lower, ":");
      husk_buf_puts (&lower, p);
    }
  if (lower.len)
    husk_json_set_string (data, "LowerDir", lower.data);
  husk_buf_free (&lower);
  husk_json_set_string (data, "UpperDir", upper);
  husk_json_set_string (data, "WorkDir", work);
  husk_json_set_string (gd, "Name", husk_store_driver (s));
  husk_json_set (gd, "Data", data);
  return gd;
}

static void
container_sizes (husk_store_t *s, const char *id, const char *dir, husk_json_t *o)
{
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  struct husk_image_record *img = NULL;
  unsigned long long rw = 0;
  husk_error_t err = NULL;

  /* A rootless upper may hold directories we cannot read: count what we can.  */
  if (husk_du_at (AT_FDCWD, upper, &rw, &err) < 0)
    husk_error_release (&err);
  if (husk_store_image_find (s, id, &img, &err) <= 0)
    {
      husk_error_release (&err);
      img = NULL;
    }
  husk_json_set_int (o, "SizeRw", (int64_t)rw);
  husk_json_set_int (o, "SizeRootFs", (int64_t)(rw + (img ? img->size : 0)));
}

/* Podman's container inspect object.  Needs the shared store lock.  */
static int
container_inspect_json (husk_store_t *s, const struct husk_container_record *r, bool size, husk_json_t **out,
                        husk_error_t *err)
{
  cleanup_json husk_json_t *config = NULL;
  struct husk_container_state st;
  cleanup_free char *dir = husk_store_container_dir (s, r->id);
  cleanup_free char *rundir = NULL;
  cleanup_free char *created = husk_format_rfc3339 (r->created);
  cleanup_free char *log_path = NULL;
  cleanup_free char *hosts = NULL, *hostname = NULL, *resolv = NULL;
  const char *lp;
  husk_json_t *o;

  if (cli_container_config (s, r->id, &config, err) < 0)
    return -1;
  if (husk_store_container_state (s, r->id, &st, err) < 0)
    return -1;
  if (husk_store_container_rundir (s, r->id, false, &rundir, err) < 0)
    {
      husk_error_release (err);
      rundir = NULL;
    }
  lp = husk_json_string (husk_json_get_path (config, "HostConfig", "LogConfig", "Path", NULL));
  log_path = lp ? xstrdup (lp) : xasprintf ("%s/ctr.log", dir);
  hosts = rundir_file (rundir, "hosts");
  hostname = rundir_file (rundir, "hostname");
  resolv = rundir_file (rundir, "resolv.conf");

  o = husk_json_new_object ();
  husk_json_set_string (o, "Id", r->id);
  husk_json_set_string (o, "Created", created);
  husk_json_set_string (o, "Path", husk_json_get_string (config, "Path") ?: "");
  husk_json_set (o, "Args", clone_or (husk_json_get (config, "Args"), husk_json_new_array ()));
  husk_json_set (o, "State", container_state_json (&st));
  container_health_json (s, r->id, config, husk_json_get (o, "State"));
  husk_json_set_string (o, "Image", r->image_id);
  husk_json_set_string (o, "ImageName", r->image_name);
  husk_json_set_string (o, "Rootfs", "");
  husk_json_set_string (o, "Pod", "");
  husk_json_set_string (o, "ResolvConfPath", resolv);
  husk_json_set_string (o, "HostnamePath", hostname);
  husk_json_set_string (o, "HostsPath", hosts);
  husk_json_set_string (o, "StaticDir", dir);
  husk_json_set_string (o, "LogPath", log_path);
  husk_json_set_string (o, "OCIRuntime", "husk");
  husk_json_set_string (o, "Name", r->name);
  husk_json_set_int (o, "RestartCount", st.restart_count);
  husk_json_set_string (o, "Driver", husk_store_driver (s));
  husk_json_set_string (o, "MountLabel", "");
  husk_json_set_string (o, "ProcessLabel", "");
  husk_json_set_string (o, "AppArmorProfile", "");
  husk_json_set (o, "ExecIDs", husk_json_new_array ());
  husk_json_set (o, "GraphDriver", graph_driver_json (s, config, dir));
  husk_json_set (o, "Mounts", container_mounts_json (husk_json_get (config, "HostConfig")));
  husk_json_set (o, "Dependencies", husk_json_new_array ());
  husk_json_set_string (o, "Namespace", "");
  husk_json_set_bool (o, "IsInfra", false);
  husk_json_set (o, "Config", container_config_json (config));
  husk_json_set (o, "HostConfig", container_host_config_json (config, log_path));
  husk_json_set (o, "NetworkSettings", network_settings_json (config, &st));
  if (size)
    container_sizes (s, r->image_id, dir, o);
  husk_container_state_clear (&st);
  *out = o;
  return 0;
}

/* ---- inspect: images, containers, both ---- */

enum inspect_kind
{
  INSPECT_IMAGE,
  INSPECT_CONTAINER,
  INSPECT_ALL,
};

/* One name: 1 and *item when found, 0 when it is not an object of the
   kind, negative on a real error (ambiguous prefix, unreadable record).
   With INSPECT_ALL a container wins over an image of the same name, as in
   Podman.  */
static int
inspect_one (husk_store_t *s, const char *name, enum inspect_kind kind, bool size, husk_json_t **item,
             husk_error_t *err)
{
  int ret;

  if (kind != INSPECT_IMAGE)
    {
      struct husk_container_record *c = NULL;
      ret = husk_store_container_find (s, name, &c, err);
      if (ret < 0)
        return ret;
      if (ret > 0)
        return container_inspect_json (s, c, size, item, err) < 0 ? -1 : 1;
    }
  if (kind != INSPECT_CONTAINER)
    {
      struct husk_image_record *r = NULL;
      ret = cli_image_lookup (s, name, &r, err);
      if (ret < 0)
        {
          /* The image error says why (not known, malformed name); with
             --type all the caller reports "no such object".  */
          if (kind == INSPECT_ALL)
            {
              husk_error_release (err);
              return 0;
            }
          return ret;
        }
      return cli_image_inspect_json (s, r, item, err) < 0 ? -1 : 1;
    }
  return 0;
}

static void
report_missing (const char *name, enum inspect_kind kind, husk_error_t *err, int *missing)
{
  if ((*missing)++)
    fputs ("\n", stderr);
  if (*err)
    fprintf (stderr, "Error: %s", (*err)->msg);
  else if (kind == INSPECT_CONTAINER)
    fprintf (stderr, "Error: no such container %s", name);
  else
    fprintf (stderr, "Error: no such object: \"%s\"", name);
  husk_error_release (err);
}

static int
inspect_objects (struct cli_ctx *ctx, struct cli_args *a, enum inspect_kind kind, husk_error_t *err)
{
  cleanup_json husk_json_t *items = husk_json_new_array ();
  bool size = kind != INSPECT_IMAGE && cli_bool (a, "size");
  husk_store_t *s;
  int i, ret, missing = 0;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < a->argc; i++)
    {
      husk_json_t *item = NULL;

      ret = inspect_one (s, a->argv[i], kind, size, &item, err);
      if (ret <= 0)
        {
          /* Print what was found, report every name that was not.  */
          report_missing (a->argv[i], kind, err, &missing);
          continue;
        }
      husk_json_array_append (items, item);
    }
  husk_store_unlock (s);
  if (husk_json_array_len (items) > 0 || missing == 0)
    {
      ret = husk_output_inspect (stdout, items, cli_string (a, "format"), err);
      if (ret < 0)
        return ret;
    }
  if (missing)
    {
      fputs ("\n", stderr);
      return HUSK_EXIT_FAILURE;
    }
  return 0;
}

int
cmd_inspect (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *type = cli_string (a, "type");

  if (strcmp (type, "image") == 0)
    return inspect_objects (ctx, a, INSPECT_IMAGE, err);
  if (strcmp (type, "container") == 0)
    return inspect_objects (ctx, a, INSPECT_CONTAINER, err);
  if (strcmp (type, "all") == 0)
    return inspect_objects (ctx, a, INSPECT_ALL, err);
  return husk_make_error (err, 0, "invalid --type \"%s\": must be image, container or all", type);
}

int
cmd_image_inspect (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  return inspect_objects (ctx, a, INSPECT_IMAGE, err);
}

int
cmd_container_inspect (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  return inspect_objects (ctx, a, INSPECT_CONTAINER, err);
}

static const char *
history_header (const char *field)
{
  if (strcmp (field, "CreatedBy") == 0)
    return "CREATED BY";
  if (strcmp (field, "CreatedSince") == 0)
    return "CREATED";
  return NULL;
}

static char *
truncate_created_by (const char *s, bool no_trunc)
{
  if (no_trunc || strlen (s) <= 45)
    return xstrdup (s);
  return xasprintf ("%.42s...", s);
}

/* One row per history entry, newest first; entries that are not empty
   layers take the image's layers bottom-up, as Docker and Podman do.  */
static int
history_rows (husk_store_t *s, const struct husk_image_record *r, const husk_json_t *config, bool human,
              bool no_trunc, husk_json_t *rows, husk_json_t *json_rows)
{
  const husk_json_t *history = husk_json_get (config, "history");
  size_t n = husk_json_array_len (history), nl = strv_len (r->layers), i, layer = 0;
  husk_json_t **tmp = xzalloc ((n + 1) * sizeof (*tmp));
  husk_json_t **tmpj = xzalloc ((n + 1) * sizeof (*tmpj));

  for (i = 0; i < n; i++)
    {
      const husk_json_t *h = husk_json_array_at (history, i);
      bool empty = husk_json_bool (husk_json_get (h, "empty_layer"), false);
      uint64_t size = 0;
      int64_t created = 0;
      const char *created_s = husk_json_get_string (h, "created");
      const char *by = husk_json_get_string (h, "created_by") ?: "";
      const char *comment = husk_json_get_string (h, "comment") ?: "";
      const char *id = i + 1 == n ? r->id : "<missing>";
      cleanup_free char *by_t = truncate_created_by (by, no_trunc);
      cleanup_free char *id_t = strcmp (id, "<missing>") == 0 || no_trunc ? xstrdup (id) : xstrndup (id, 12);
      husk_json_t *row = husk_json_new_object ();
      husk_json_t *j = husk_json_new_object ();

      if (!empty && layer < nl)
        size = husk_store_layer_size (s, r->layers[layer++]);
      if (created_s)
        husk_parse_rfc3339 (created_s, &created);
      husk_json_set_string (row, "ID", id_t);
      if (human)
        {
          cleanup_free char *ago = husk_human_ago (created / 1000000000LL);
          cleanup_free char *sz = husk_human_size (size);
          husk_json_set_string (row, "Created", ago);
          husk_json_set_string (row, "Size", sz);
        }
      else
        {
          cleanup_free char *at = cli_format_time (created);
          cleanup_free char *sz = xasprintf ("%llu", (unsigned long long)size);
          husk_json_set_string (row, "Created", at);
          husk_json_set_string (row, "Size", sz);
        }
      husk_json_set_string (row, "CreatedSince", husk_json_get_string (row, "Created"));
      husk_json_set_string (row, "CreatedAt", created_s ? created_s : "");
      husk_json_set_string (row, "CreatedBy", by_t);
      husk_json_set_string (row, "Comment", comment);
      tmp[n - 1 - i] = row;

      husk_json_set_string (j, "id", id);
      husk_json_set_string (j, "created", created_s ? created_s : "");
      husk_json_set_string (j, "createdBy", by);
      husk_json_set_int (j, "size", (int64_t)size);
      husk_json_set_string (j, "comment", comment);
      husk_json_set (j, "tags", i + 1 == n ? husk_json_from_strv (r->names) : husk_json_new_null ());
      tmpj[n - 1 - i] = j;
    }
  for (i = 0; i < n; i++)
    {
      husk_json_array_append (rows, tmp[i]);
      husk_json_array_append (json_rows, tmpj[i]);
    }
  free (tmp);
  free (tmpj);
  return 0;
}

/* An image with no history gets one synthetic entry per layer.  */
static void
synthesize_history (const struct husk_image_record *r, husk_json_t *config)
{
  husk_json_t *h = husk_json_new_array ();
  size_t i;
  for (i = 0; r->layers && r->layers[i]; i++)
    {
      husk_json_t *e = husk_json_new_object ();
      if (husk_json_get_string (config, "created"))
        husk_json_set_string (e, "created", husk_json_get_string (config, "created"));
      husk_json_array_append (h, e);
    }
  husk_json_set (config, "history", h);
}

int
cmd_history (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  static const struct husk_listing listing
      = { "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", "ID", history_header };
  cleanup_json husk_json_t *rows = husk_json_new_array ();
  cleanup_json husk_json_t *json_rows = husk_json_new_array ();
  cleanup_json husk_json_t *config = NULL;
  cleanup_free char *raw = NULL;
  struct husk_image_record *r;
  struct husk_output_opts o;
  husk_store_t *s;
  size_t len;
  int ret;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = cli_image_lookup (s, a->argv[0], &r, err);
  if (ret >= 0)
    ret = husk_store_image_config (s, r->id, &raw, &len, err);
  if (ret >= 0 && (config = husk_json_parse (raw, len, err)) == NULL)
    ret = -1;
  if (ret >= 0)
    {
      if (husk_json_array_len (husk_json_get (config, "history")) == 0)
        synthesize_history (r, config);
      ret = history_rows (s, r, config, cli_bool (a, "human"), cli_bool (a, "no-trunc"), rows, json_rows);
    }
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  cli_output_opts (a, &o);
  if (o.format && strcmp (o.format, "json") == 0)
    return husk_output_inspect (stdout, json_rows, NULL, err);
  return husk_output_list (stdout, rows, &listing, &o, err);
}
