/* husk: from a container's config.json to the runtime spec and monitor
   configuration of one start, and container look-up.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

int
cli_container_lookup (husk_store_t *s, const char *arg, struct husk_container_record **out, husk_error_t *err)
{
  int ret = husk_store_container_find (s, arg, out, err);
  if (ret < 0)
    return ret;
  if (ret == 0)
    {
      /* ENOENT as the status (callers tell "gone" from other failures),
         without strerror's words after the message.  */
      husk_make_error (err, 0, "no container with name or ID \"%s\" found: no such container", arg);
      (*err)->status = ENOENT;
      return -ENOENT;
    }
  return 1;
}

int
cli_container_resolve (husk_store_t *s, const char *arg, char **id, husk_error_t *err)
{
  struct husk_container_record *r;
  int ret;

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = cli_container_lookup (s, arg, &r, err);
  if (ret >= 0)
    *id = xstrdup (r->id);
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

int
cli_container_config (husk_store_t *s, const char *id, husk_json_t **out, husk_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;

  if (husk_store_container_config (s, id, &data, &len, err) < 0)
    return -1;
  *out = husk_json_parse (data, len, err);
  if (*out == NULL)
    return husk_error_wrap (err, "container %.12s: config.json", id);
  return 0;
}

/* Keep a string alive as long as the spec.  */
static const char *
keep (struct cli_container_spec *sp, char *s)
{
  strv_append_take (&sp->strings, s);
  return s;
}

static const char *
json_str (const husk_json_t *o, const char *key, const char *def)
{
  const char *v = husk_json_get_string (o, key);
  return v ? v : def;
}

/* "private" | "host" | "container:NAME" | "ns:PATH" -> struct husk_ns.
   container: needs that container running: its pid's namespace.  */
static int
ns_from_mode (husk_store_t *s, struct cli_container_spec *sp, const char *mode, const char *nsname,
              struct husk_ns *ns, husk_error_t *err)
{
  if (mode == NULL || *mode == '\0' || strcmp (mode, "private") == 0 || strcmp (mode, "none") == 0
      || husk_network_is_slirp (mode))
    ns->mode = HUSK_NS_PRIVATE;
  else if (strcmp (mode, "host") == 0)
    ns->mode = HUSK_NS_HOST;
  else if (husk_has_prefix (mode, "ns:"))
    {
      ns->mode = HUSK_NS_JOIN;
      ns->path = mode + 3;
    }
  else if (husk_has_prefix (mode, "container:"))
    {
      struct husk_container_record *r;
      struct husk_container_state st = { 0 };
      int ret;

      if (husk_store_lock (s, false, err) < 0)
        return -1;
      ret = cli_container_lookup (s, mode + 10, &r, err);
      if (ret < 0)
        {
          husk_store_unlock (s);
          return -1;
        }
      ret = husk_store_container_state (s, r->id, &st, err);
      if (ret == 0 && st.status != HUSK_CONTAINER_RUNNING && st.status != HUSK_CONTAINER_STOPPING)
        ret = husk_make_error (err, EINVAL, "cannot join the %s namespace of container %s: it is not running",
                               nsname, mode + 10);
      if (ret == 0)
        {
          ns->mode = HUSK_NS_JOIN;
          ns->path = keep (sp, xasprintf ("/proc/%d/ns/%s", (int)st.pid, nsname));
        }
      husk_container_state_clear (&st);
      husk_store_unlock (s);
      return ret;
    }
  else
    return husk_make_error (err, EINVAL, "invalid namespace mode \"%s\"", mode);
  return 0;
}

struct husk_port_mapping *
cli_container_ports (const husk_json_t *config, size_t *n)
{
  const husk_json_t *pb = husk_json_get_path (config, "HostConfig", "PortBindings", NULL);
  struct husk_port_mapping *out = NULL;
  size_t i, j;

  *n = 0;
  for (i = 0; i < husk_json_object_len (pb); i++)
    {
      const husk_json_t *arr = husk_json_object_value_at (pb, i);
      struct husk_port_mapping m;
      husk_error_t ignored = NULL;

      if (husk_port_parse_exposed (husk_json_object_key_at (pb, i), &m, &ignored) < 0)
        {
          husk_error_release (&ignored);
          continue;
        }
      for (j = 0; j < husk_json_array_len (arr); j++)
        {
          const husk_json_t *b = husk_json_array_at (arr, j);
          const char *ip = husk_json_get_string (b, "HostIp");
          uint64_t port = 0;

          if (!husk_parse_u64 (json_str (b, "HostPort", ""), &port) || port == 0 || port > 65535)
            continue;
          snprintf (m.host_ip, sizeof (m.host_ip), "%s", ip && strcmp (ip, "0.0.0.0") != 0 ? ip : "");
          m.host_port = (uint16_t)port;
          out = xrealloc (out, (*n + 1) * sizeof (*out));
          out[(*n)++] = m;
        }
    }
  return out;
}

/* --network slirp4netns: the monitor's part (mon.slirp).  */
static int
build_slirp (husk_store_t *s, const char *id, const husk_json_t *c, struct cli_container_spec *sp,
             husk_error_t *err)
{
  const char *net = husk_json_get_string (husk_json_get (c, "HostConfig"), "NetworkMode");
  cleanup_free char *rundir = NULL;

  if (!husk_network_is_slirp (net))
    return 0;
  if (husk_slirp_parse_mode (net, &sp->slirp, err) < 0)
    return -1;
  if (husk_store_container_rundir (s, id, true, &rundir, err) < 0)
    return -1;
  sp->slirp.rundir = keep (sp, steal_pointer (&rundir));
  sp->ports = cli_container_ports (c, &sp->slirp.n_ports);
  sp->slirp.ports = sp->ports;
  sp->mon.slirp = &sp->slirp;
  return 0;
}

static int
write_etc_files (husk_store_t *s, const char *id, const husk_json_t *c, struct cli_container_spec *sp,
                 husk_error_t *err)
{
  const husk_json_t *cfg = husk_json_get (c, "Config");
  const husk_json_t *hc = husk_json_get (c, "HostConfig");
  const char *net = json_str (hc, "NetworkMode", "none");
  bool host_net = strcmp (net, "host") == 0;
  const char *hostname = json_str (cfg, "Hostname", "");
  char guest[16] = "127.0.1.1", dns[16] = "";
  cleanup_free char *rundir = NULL;
  cleanup_free char *base = NULL;
  cleanup_free char *resolv = NULL;
  cleanup_close int dfd = -1;
  struct husk_buf hosts = { 0 };
  husk_json_t *extra = husk_json_get (hc, "ExtraHosts");
  size_t len = 0, i;
  int ret;

  if (husk_network_is_slirp (net))
    {
      struct husk_slirp_config sc;
      if (husk_slirp_parse_mode (net, &sc, err) < 0)
        return -1;
      husk_slirp_addresses (&sc, guest, dns);
    }
  if (husk_store_container_rundir (s, id, true, &rundir, err) < 0)
    return -1;
  dfd = open (rundir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0)
    return husk_make_error (err, errno, "open %s", rundir);

  base = husk_etc_hosts_base (host_net, &len);
  husk_buf_append (&hosts, base, len);
  if (!host_net && *hostname)
    husk_buf_printf (&hosts, "%s\t%s %s\n", guest, hostname, json_str (c, "Name", hostname));
  for (i = 0; i < husk_json_array_len (extra); i++)
    {
      const char *e = husk_json_string (husk_json_array_at (extra, i));
      const char *colon = e ? strchr (e, ':') : NULL;
      if (colon)
        husk_buf_printf (&hosts, "%s\t%.*s\n", colon + 1, (int)(colon - e), e);
    }
  ret = husk_write_file_atomic_nosync (dfd, "hosts", hosts.data ? hosts.data : "", hosts.len, 0644, err);
  husk_buf_free (&hosts);
  if (ret < 0)
    return -1;

  resolv = husk_etc_resolv_conf (host_net, &len);
  if (*dns != '\0')
    {
      /* slirp4netns forwards DNS from its own address: that one server,
         the host's search and options kept.  */
      struct husk_buf b = { 0 };
      char *line, *save = NULL;

      husk_buf_printf (&b, "nameserver %s\n", dns);
      for (line = strtok_r (resolv, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
        if (!husk_has_prefix (line, "nameserver"))
          husk_buf_printf (&b, "%s\n", line);
      free (resolv);
      resolv = husk_buf_steal (&b, &len);
    }
  if (husk_write_file_atomic_nosync (dfd, "resolv.conf", resolv, len, 0644, err) < 0)
    return -1;

  if (strcmp (json_str (hc, "UTSMode", "private"), "host") != 0)
    {
      cleanup_free char *h = xasprintf ("%s\n", hostname);
      if (husk_write_file_atomic_nosync (dfd, "hostname", h, strlen (h), 0644, err) < 0)
        return -1;
      sp->run.hostname_file = keep (sp, xasprintf ("%s/hostname", rundir));
    }
  sp->run.hosts_file = keep (sp, xasprintf ("%s/hosts", rundir));
  sp->run.resolv_conf_file = keep (sp, xasprintf ("%s/resolv.conf", rundir));
  return 0;
}

/* "src:dst[:opts]" (checked at create).  */
static void
bind_from_string (struct cli_container_spec *sp, const char *b, struct husk_mount *m)
{
  char *copy = (char *)keep (sp, xstrdup (b));
  char *dst = strchr (copy, ':');
  char *opts;

  memset (m, 0, sizeof (*m));
  m->type = HUSK_MOUNT_BIND;
  *dst++ = '\0';
  opts = strchr (dst, ':');
  if (opts)
    *opts++ = '\0';
  m->source = copy;
  m->destination = dst;
  for (char *p = opts, *save = NULL, *t; opts && (t = strtok_r (p, ",", &save)); p = NULL)
    {
      if (strcmp (t, "ro") == 0)
        m->readonly = true;
      else if (strcmp (t, "nosuid") == 0)
        m->nosuid = true;
      else if (strcmp (t, "nodev") == 0)
        m->nodev = true;
      else if (strcmp (t, "noexec") == 0)
        m->noexec = true;
    }
}

static int
tmpfs_from_opts (const char *path, const char *opts, struct husk_mount *m, husk_error_t *err)
{
  cleanup_free char *copy = xstrdup (opts);
  char *t, *save = NULL;

  memset (m, 0, sizeof (*m));
  m->type = HUSK_MOUNT_TMPFS;
  m->destination = path;
  m->nosuid = true;
  m->nodev = true;
  for (t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      if (husk_has_prefix (t, "size="))
        {
          int64_t v;
          if (husk_cgroup_parse_bytes ("tmpfs size", t + 5, &v, err) < 0)
            return -1;
          m->tmpfs_size = (uint64_t)v;
        }
      else if (husk_has_prefix (t, "mode="))
        m->tmpfs_mode = (mode_t)strtol (t + 5, NULL, 8);
      else if (strcmp (t, "ro") == 0)
        m->readonly = true;
      else if (strcmp (t, "noexec") == 0)
        m->noexec = true;
      else if (strcmp (t, "suid") == 0)
        m->nosuid = false;
      else if (strcmp (t, "dev") == 0)
        m->nodev = false;
    }
  return 0;
}

static int
build_mounts (struct cli_container_spec *sp, const husk_json_t *hc, husk_error_t *err)
{
  const husk_json_t *binds = husk_json_get (hc, "Binds");
  const husk_json_t *tmpfs = husk_json_get (hc, "Tmpfs");
  size_t nb = husk_json_array_len (binds), nt = husk_json_object_len (tmpfs), i, n = 0;

  sp->mounts = xzalloc ((nb + nt + 1) * sizeof (*sp->mounts));
  for (i = 0; i < nb; i++)
    bind_from_string (sp, husk_json_string (husk_json_array_at (binds, i)), &sp->mounts[n++]);
  for (i = 0; i < nt; i++)
    if (tmpfs_from_opts (husk_json_object_key_at (tmpfs, i),
                         husk_json_string (husk_json_object_value_at (tmpfs, i)) ?: "", &sp->mounts[n++], err)
        < 0)
      return -1;
  sp->run.mounts = sp->mounts;
  sp->run.n_mounts = n;
  return 0;
}

static int
build_devices (struct cli_container_spec *sp, const husk_json_t *hc, husk_error_t *err)
{
  const husk_json_t *devs = husk_json_get (hc, "Devices");
  size_t n = husk_json_array_len (devs), i;

  sp->devices = xzalloc ((n + 1) * sizeof (*sp->devices));
  for (i = 0; i < n; i++)
    {
      const husk_json_t *d = husk_json_array_at (devs, i);
      const char *host = json_str (d, "PathOnHost", "");
      const char *perms = json_str (d, "CgroupPermissions", "rwm");
      struct husk_cgroup_device_rule rule = { .allow = true };
      struct stat st;

      if (stat (host, &st) < 0)
        return husk_make_error (err, errno, "device %s", host);
      sp->devices[i].host_path = host;
      sp->devices[i].path = json_str (d, "PathInContainer", host);
      rule.type = S_ISBLK (st.st_mode) ? 'b' : 'c';
      rule.major = major (st.st_rdev);
      rule.minor = minor (st.st_rdev);
      rule.access = (strchr (perms, 'r') ? HUSK_DEV_READ : 0) | (strchr (perms, 'w') ? HUSK_DEV_WRITE : 0)
                    | (strchr (perms, 'm') ? HUSK_DEV_MKNOD : 0);
      husk_cgroup_limits_add_device (&sp->cgroup, &rule);
    }
  sp->run.devices = sp->devices;
  sp->run.n_devices = n;
  return 0;
}

int
cli_container_security_build (husk_store_t *s, const husk_json_t *hc, bool privileged,
                              struct husk_security_spec *sec, husk_error_t *err)
{
  cleanup_strv char **cap_add = husk_json_to_strv (husk_json_get (hc, "CapAdd"));
  cleanup_strv char **cap_drop = husk_json_to_strv (husk_json_get (hc, "CapDrop"));
  cleanup_strv char **opts = husk_json_to_strv (husk_json_get (hc, "SecurityOpt"));
  const husk_json_t *ul = husk_json_get (hc, "Ulimits");
  const char *profile = husk_json_get_string (hc, "SeccompProfileText");
  cleanup_free char *cache = xasprintf ("%s/cache/seccomp", husk_store_root (s));
  size_t i;

  husk_security_set_privileged (sec, privileged || husk_json_bool (husk_json_get (hc, "Privileged"), false));
  if (husk_security_set_caps (sec, cap_add, cap_drop, err) < 0)
    return -1;
  for (i = 0; opts[i]; i++)
    {
      /* seccomp=PATH was read at create: its text is in the config.  */
      if (profile != NULL && husk_has_prefix (opts[i], "seccomp=")
          && strcmp (opts[i], "seccomp=unconfined") != 0)
        continue;
      if (husk_security_parse_opt (sec, opts[i], err) < 0)
        return -1;
    }
  if (profile != NULL)
    {
      free (sec->seccomp_profile);
      sec->seccomp_profile = xstrdup (profile);
      sec->seccomp_profile_len = strlen (profile);
      sec->seccomp = HUSK_SECCOMP_PROFILE;
    }
  for (i = 0; i < husk_json_array_len (ul); i++)
    if (husk_security_add_ulimit (sec, json_str (husk_json_array_at (ul, i), "Arg", ""), err) < 0)
      return -1;
  return husk_security_prepare (sec, cache, err);
}

static int
build_security (husk_store_t *s, struct cli_container_spec *sp, const husk_json_t *hc, husk_error_t *err)
{
  if (cli_container_security_build (s, hc, false, &sp->security, err) < 0)
    return -1;
  sp->run.security = &sp->security;
  return 0;
}

static int
build_cgroup (struct cli_container_spec *sp, const husk_json_t *c, husk_error_t *err)
{
  const husk_json_t *flags = husk_json_get_path (c, "Husk", "CgroupFlags", NULL);
  size_t i;

  for (i = 0; i < husk_json_array_len (flags); i++)
    {
      const husk_json_t *pair = husk_json_array_at (flags, i);
      if (husk_cgroup_parse_flag (&sp->cgroup, husk_json_string (husk_json_array_at (pair, 0)),
                                  husk_json_string (husk_json_array_at (pair, 1)), err)
          < 0)
        return -1;
    }
  sp->cgroup.privileged = husk_json_bool (husk_json_get_path (c, "HostConfig", "Privileged", NULL), false);
  sp->run.cgroup = &sp->cgroup;
  return 0;
}

void
cli_container_health (const husk_json_t *config, struct husk_health_config *out, char ***cmd)
{
  const husk_json_t *hc = husk_json_get_path (config, "Config", "Healthcheck", NULL);

  memset (out, 0, sizeof (*out));
  *cmd = husk_health_test_argv (husk_json_get (hc, "Test"));
  out->cmd = *cmd;
  out->interval = husk_json_int (husk_json_get (hc, "Interval"), 0);
  out->timeout = husk_json_int (husk_json_get (hc, "Timeout"), 0);
  out->start_period = husk_json_int (husk_json_get (hc, "StartPeriod"), 0);
  out->retries = (unsigned)husk_json_int (husk_json_get (hc, "Retries"), 0);
  if (out->interval < 0)
    out->interval = 0;
  if (out->timeout < 0)
    out->timeout = 0;
  if (out->start_period < 0)
    out->start_period = 0;
}

static char **
kv_strv (const husk_json_t *o)
{
  char **v = xzalloc (sizeof (char *));
  size_t i;
  for (i = 0; i < husk_json_object_len (o); i++)
    strv_append_take (&v, xasprintf ("%s=%s", husk_json_object_key_at (o, i),
                                     husk_json_string (husk_json_object_value_at (o, i)) ?: ""));
  return v;
}

int
cli_container_spec_build (husk_store_t *s, const char *id, const husk_json_t *c,
                          struct cli_container_spec *sp, husk_error_t *err)
{
  const husk_json_t *cfg = husk_json_get (c, "Config");
  const husk_json_t *hc = husk_json_get (c, "HostConfig");
  const husk_json_t *layers = husk_json_get (c, "Layers");
  const husk_json_t *lc = husk_json_get (hc, "LogConfig");
  const husk_json_t *rp = husk_json_get (hc, "RestartPolicy");
  cleanup_free char *dir = husk_store_container_dir (s, id);
  size_t i, n;

  memset (sp, 0, sizeof (*sp));
  husk_security_spec_init (&sp->security);
  sp->run.id = id;

  sp->argv = xzalloc (sizeof (char *));
  strv_append (&sp->argv, json_str (c, "Path", ""));
  for (i = 0; i < husk_json_array_len (husk_json_get (c, "Args")); i++)
    strv_append (&sp->argv, husk_json_string (husk_json_array_at (husk_json_get (c, "Args"), i)) ?: "");
  sp->run.argv = sp->argv;
  sp->env = husk_json_to_strv (husk_json_get (cfg, "Env"));
  sp->run.env = sp->env;
  sp->run.cwd = json_str (cfg, "WorkingDir", "/");
  sp->run.user = json_str (cfg, "User", "");
  sp->group_add = husk_json_to_strv (husk_json_get (hc, "GroupAdd"));
  sp->run.group_add = sp->group_add;

  /* The rootfs: the image's layers under the container's own upper dir,
     mounted by the child in its mount namespace.  The lower list is given
     top layer first to overlay; husk_rootfs wants the base first.  */
  n = husk_json_array_len (layers);
  sp->lower_dirs = xzalloc ((n + 1) * sizeof (char *));
  for (i = 0; i < n; i++)
    sp->lower_dirs[i] = husk_store_layer_path (s, husk_json_string (husk_json_array_at (layers, i)) ?: "");
  sp->run.rootfs.lower_dirs = sp->lower_dirs;
  sp->run.rootfs.upper_dir = keep (sp, xasprintf ("%s/upper", dir));
  sp->run.rootfs.work_dir = keep (sp, xasprintf ("%s/work", dir));
  sp->run.rootfs.read_only = husk_json_bool (husk_json_get (hc, "ReadonlyRootfs"), false);
  sp->run.rootfs.volatile_upper = husk_json_bool (husk_json_get (hc, "AutoRemove"), false);

  if (build_mounts (sp, hc, err) < 0 || build_devices (sp, hc, err) < 0 || build_cgroup (sp, c, err) < 0
      || build_security (s, sp, hc, err) < 0)
    return -1;

  if (ns_from_mode (s, sp, json_str (hc, "NetworkMode", "none"), "net", &sp->run.net_ns, err) < 0
      || ns_from_mode (s, sp, json_str (hc, "PidMode", "private"), "pid", &sp->run.pid_ns, err) < 0
      || ns_from_mode (s, sp, json_str (hc, "IpcMode", "private"), "ipc", &sp->run.ipc_ns, err) < 0
      || ns_from_mode (s, sp, json_str (hc, "UTSMode", "private"), "uts", &sp->run.uts_ns, err) < 0
      || ns_from_mode (s, sp, json_str (hc, "CgroupnsMode", "private"), "cgroup", &sp->run.cgroup_ns, err)
             < 0)
    return -1;
  if (sp->run.uts_ns.mode == HUSK_NS_PRIVATE)
    sp->run.hostname = json_str (cfg, "Hostname", NULL);
  if (write_etc_files (s, id, c, sp, err) < 0)
    return -1;

  sp->run.shm_size = (uint64_t)husk_json_int (husk_json_get (hc, "ShmSize"), 0);
  sp->sysctls = kv_strv (husk_json_get (hc, "Sysctls"));
  sp->run.sysctls = sp->sysctls;
  sp->run.init = husk_json_bool (husk_json_get (hc, "Init"), false);

  /* The monitor.  */
  sp->mon.store = s;
  sp->mon.id = id;
  sp->mon.spec = &sp->run;
  sp->mon.tty = husk_json_bool (husk_json_get (cfg, "Tty"), false);
  sp->mon.stdin_open = husk_json_bool (husk_json_get (cfg, "OpenStdin"), false);
  if (husk_log_driver_parse (json_str (lc, "Type", "k8s-file"), &sp->mon.log_driver, err) < 0)
    return -1;
  sp->mon.log_path = keep (sp, xasprintf ("%s/ctr.log", dir));
  sp->mon.log_max_size = (uint64_t)husk_json_int (husk_json_get (lc, "MaxSize"), 0);
  sp->mon.auto_remove = husk_json_bool (husk_json_get (hc, "AutoRemove"), false);
  sp->mon.timeout = (unsigned)husk_json_int (husk_json_get (cfg, "Timeout"), 0);
  {
    const char *name = json_str (rp, "Name", "");
    if (*name && husk_restart_policy_parse (name, &sp->mon.restart, err) < 0)
      return -1;
    sp->mon.restart.max_retries = (unsigned)husk_json_int (husk_json_get (rp, "MaximumRetryCount"), 0);
  }
  cli_container_health (c, &sp->mon.health, &sp->health_cmd);
  sp->mon.client_fd = -1;
  if (build_slirp (s, id, c, sp, err) < 0)
    return -1;
  return 0;
}

void
cli_container_spec_free (struct cli_container_spec *sp)
{
  strv_free (sp->argv);
  strv_free (sp->env);
  strv_free (sp->group_add);
  strv_free (sp->lower_dirs);
  strv_free (sp->sysctls);
  strv_free (sp->masked);
  strv_free (sp->readonly);
  strv_free (sp->strings);
  strv_free (sp->health_cmd);
  free (sp->mounts);
  free (sp->devices);
  free (sp->ports);
  husk_security_spec_release (&sp->security);
  husk_cgroup_limits_free (&sp->cgroup);
  memset (sp, 0, sizeof (*sp));
}
