/* husk: the flags of run and create, and the config.json they become (see
   container.h for its keys).  Every flag is checked here, before anything
   is created, so bad input leaves the store as it was.  */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/network.h"
#include "husk/util.h"

#define COMMON_RUN_OPTS                                                                                           \
  { "add-host", 0, CLI_OPT_STRV, "HOST:IP", "Add a custom host-to-IP mapping to /etc/hosts", NULL, NULL },        \
      { "blkio-weight", 0,   CLI_OPT_STRING, "WEIGHT", "Block IO weight (relative weight, 10 to 1000)",           \
        NULL,           NULL },                                                                                   \
      { "cap-add", 0, CLI_OPT_STRV, "CAP", "Add Linux capabilities", NULL, "capabilities" },                      \
      { "cap-drop", 0, CLI_OPT_STRV, "CAP", "Drop Linux capabilities", NULL, "capabilities" },                    \
      { "cgroup-parent", 0, CLI_OPT_STRING, "PATH", "Parent cgroup of the container's cgroup", "husk", NULL },    \
      { "cgroupns", 0, CLI_OPT_STRING, "MODE", "Cgroup namespace (private, host)", "private", "private host" },   \
      { "cidfile", 0, CLI_OPT_STRING, "FILE", "Write the container ID to the file", NULL, "files" },              \
      { "cpu-period", 0, CLI_OPT_STRING, "US", "Limit the CPU CFS period (microseconds)", NULL, NULL },           \
      { "cpu-quota", 0, CLI_OPT_STRING, "US", "Limit the CPU CFS quota (microseconds)", NULL, NULL },             \
      { "cpu-shares", 'c', CLI_OPT_STRING, "SHARES", "CPU shares (relative weight)", NULL, NULL },                \
      { "cpus", 0, CLI_OPT_STRING, "NUMBER", "Number of CPUs", NULL, NULL },                                      \
      { "cpuset-cpus", 0, CLI_OPT_STRING, "CPUS", "CPUs in which to allow execution (0-3, 0,1)", NULL, NULL },    \
      { "cpuset-mems", 0,   CLI_OPT_STRING, "MEMS", "Memory nodes in which to allow execution (0-3, 0,1)",        \
        NULL,          NULL },                                                                                    \
      { "device",                                                                                                 \
        0,                                                                                                        \
        CLI_OPT_STRV,                                                                                             \
        "HOST[:CONTAINER][:PERMISSIONS]",                                                                         \
        "Add a host device to the container",                                                                     \
        NULL,                                                                                                     \
        "files" },                                                                                                \
      { "device-cgroup-rule",                                                                                     \
        0,                                                                                                        \
        CLI_OPT_STRV,                                                                                             \
        "RULE",                                                                                                   \
        "Add a rule to the cgroup allowed devices list (\"c 1:3 rwm\")",                                          \
        NULL,                                                                                                     \
        NULL },                                                                                                   \
      { "entrypoint", 0,   CLI_OPT_STRING, "COMMAND", "Overwrite the default ENTRYPOINT of the image",            \
        NULL,         NULL },                                                                                     \
      { "env", 'e', CLI_OPT_STRV, "KEY=VALUE", "Set environment variables", NULL, NULL },                         \
      { "env-file", 0, CLI_OPT_STRV, "FILE", "Read in a file of environment variables", NULL, "files" },          \
      { "group-add", 0, CLI_OPT_STRV, "GROUP", "Add additional groups to join", NULL, NULL },                     \
      { "health-cmd",                                                                                             \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "COMMAND",                                                                                                \
        "Command to check the container's health (a shell command, or a JSON array)",                             \
        NULL,                                                                                                     \
        NULL },                                                                                                   \
      { "health-interval",                                                                                        \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "DURATION",                                                                                               \
        "Time between health checks (0: the default)",                                                            \
        "30s",                                                                                                    \
        NULL },                                                                                                   \
      { "health-retries", 0, CLI_OPT_STRING, "N", "Consecutive failures needed to report unhealthy", "3", NULL }, \
      { "health-start-period",                                                                                    \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "DURATION",                                                                                               \
        "Start period during which failed health checks do not count",                                            \
        "0s",                                                                                                     \
        NULL },                                                                                                   \
      { "health-timeout", 0, CLI_OPT_STRING, "DURATION", "Maximum time one health check may run", "30s", NULL },  \
      { "hostname", 'h', CLI_OPT_STRING, "NAME", "Container host name", NULL, NULL },                             \
      { "init",                                                                                                   \
        0,                                                                                                        \
        CLI_OPT_BOOL,                                                                                             \
        NULL,                                                                                                     \
        "Run an init inside the container that forwards signals and reaps "                                       \
        "processes",                                                                                              \
        NULL,                                                                                                     \
        NULL },                                                                                                   \
      { "interactive", 'i', CLI_OPT_BOOL, NULL, "Keep STDIN open even if not attached", NULL, NULL },             \
      { "ipc",                                                                                                    \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "MODE",                                                                                                   \
        "IPC namespace (private, host, container:NAME, ns:PATH)",                                                 \
        "private",                                                                                                \
        "private host" },                                                                                         \
      { "label", 'l', CLI_OPT_STRV, "KEY=VALUE", "Set metadata on the container", NULL, NULL },                   \
      { "log-driver",                                                                                             \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "DRIVER",                                                                                                 \
        "Logging driver (k8s-file, json-file, none)",                                                             \
        "k8s-file",                                                                                               \
        "k8s-file json-file none" },                                                                              \
      { "log-opt", 0, CLI_OPT_STRV, "OPT", "Logging driver options (max-size=SIZE)", NULL, "max-size=" },         \
      { "memory", 'm', CLI_OPT_STRING, "BYTES", "Memory limit (format: <number>[<unit>], b, k, m or g)",          \
        NULL,     NULL },                                                                                         \
      { "memory-reservation", 0, CLI_OPT_STRING, "BYTES", "Memory soft limit", NULL, NULL },                      \
      { "memory-swap",                                                                                            \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "BYTES",                                                                                                  \
        "Swap limit equal to memory plus swap: -1 for unlimited swap",                                            \
        NULL,                                                                                                     \
        NULL },                                                                                                   \
      { "name", 0, CLI_OPT_STRING, "NAME", "Assign a name to the container", NULL, NULL },                        \
      { "network",                                                                                                \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "MODE",                                                                                                   \
        "Network mode (none, host, slirp4netns[:OPTIONS], container:NAME, ns:PATH)",                              \
        "none",                                                                                                   \
        "none host slirp4netns" },                                                                                \
      { "no-healthcheck", 0, CLI_OPT_BOOL, NULL, "Disable any container-specified HEALTHCHECK", NULL, NULL },     \
      { "pid",                                                                                                    \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "MODE",                                                                                                   \
        "PID namespace (private, host, container:NAME, ns:PATH)",                                                 \
        "private",                                                                                                \
        "private host" },                                                                                         \
      { "pids-limit", 0, CLI_OPT_STRING, "N", "Tune the container's pids limit (-1 for unlimited)", NULL, NULL }, \
      { "privileged", 0, CLI_OPT_BOOL, NULL, "Give extended privileges to the container", NULL, NULL },           \
      { "publish",                                                                                                \
        'p',                                                                                                      \
        CLI_OPT_STRV,                                                                                             \
        "[[IP:]HOSTPORT:]PORT[/PROTO]",                                                                           \
        "Publish a container's port to the host (user-mode networking: slirp4netns)",                             \
        NULL,                                                                                                     \
        NULL },                                                                                                   \
      { "publish-all", 'P', CLI_OPT_BOOL, NULL, "Publish every port the image exposes to a random host port",     \
        NULL,          NULL },                                                                                    \
      { "pull",                                                                                                   \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "POLICY",                                                                                                 \
        "Pull the image before running (always, missing, never)",                                                 \
        "missing",                                                                                                \
        "always missing never" },                                                                                 \
      { "read-only", 0, CLI_OPT_BOOL, NULL, "Mount the container's root filesystem as read only", NULL, NULL },   \
      { "restart",                                                                                                \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "POLICY",                                                                                                 \
        "Restart policy (no, on-failure[:N], always, unless-stopped)",                                            \
        "no",                                                                                                     \
        "no on-failure always unless-stopped" },                                                                  \
      { "rm", 0, CLI_OPT_BOOL, NULL, "Automatically remove the container when it exits", NULL, NULL },            \
      { "security-opt",                                                                                           \
        0,                                                                                                        \
        CLI_OPT_STRV,                                                                                             \
        "OPT",                                                                                                    \
        "Security options (no-new-privileges, seccomp=unconfined|PROFILE, mask=, unmask=)",                       \
        NULL,                                                                                                     \
        "no-new-privileges seccomp=unconfined seccomp= mask= unmask=" },                                          \
      { "shm-size", 0, CLI_OPT_STRING, "BYTES", "Size of /dev/shm", "64m", NULL },                                \
      { "stop-signal", 0, CLI_OPT_STRING, "SIGNAL", "Signal to stop the container", "SIGTERM", NULL },            \
      { "stop-timeout", 0,   CLI_OPT_STRING, "SECONDS", "Timeout to stop the container before killing it",        \
        "10",           NULL },                                                                                   \
      { "sysctl", 0, CLI_OPT_STRV, "KEY=VALUE", "Sysctl options", NULL, NULL },                                   \
      { "timeout", 0, CLI_OPT_STRING, "SECONDS", "Kill the container after SECONDS (0: no limit)", "0", NULL },   \
      { "tmpfs", 0, CLI_OPT_STRV, "PATH[:OPTIONS]", "Mount a tmpfs directory", NULL, NULL },                      \
      { "tty", 't', CLI_OPT_BOOL, NULL, "Allocate a pseudo-TTY", NULL, NULL },                                    \
      { "ulimit", 0, CLI_OPT_STRV, "NAME=SOFT[:HARD]", "Ulimit options", NULL, NULL },                            \
      { "user", 'u', CLI_OPT_STRING, "USER[:GROUP]", "Username or UID (format: <name|uid>[:<group|gid>])",        \
        NULL,   NULL },                                                                                           \
      { "userns", 0,     CLI_OPT_STRING, "MODE", "User namespace (host: husk's own, the only mode)",              \
        "host",   "host" },                                                                                       \
      { "uts",                                                                                                    \
        0,                                                                                                        \
        CLI_OPT_STRING,                                                                                           \
        "MODE",                                                                                                   \
        "UTS namespace (private, host, container:NAME, ns:PATH)",                                                 \
        "private",                                                                                                \
        "private host" },                                                                                         \
      { "volume", 'v',    CLI_OPT_STRV, "SRC:DST[:OPTIONS]", "Bind mount a host path (options: ro, rw)",          \
        NULL,     "files" },                                                                                      \
  {                                                                                                               \
    "workdir", 'w', CLI_OPT_STRING, "DIR", "Working directory inside the container", NULL, NULL                   \
  }

const struct cli_opt cli_opts_run[] = {
  COMMON_RUN_OPTS,
  { "detach", 'd', CLI_OPT_BOOL, NULL, "Run the container in the background and print its ID", NULL, NULL },
  { "detach-keys", 0, CLI_OPT_STRING, "KEYS", "Key sequence for detaching a container", "ctrl-p,ctrl-q",
    NULL },
  { "sig-proxy", 0, CLI_OPT_BOOL, NULL, "Proxy received signals to the container (not with -t)", "true",
    NULL },
  { NULL },
};

const struct cli_opt cli_opts_create[] = {
  COMMON_RUN_OPTS,
  { NULL },
};

/* The cgroup flags, handed to husk_cgroup_parse_flag by their names.  */
static const char *const cgroup_flags[] = {
  "memory",       "memory-reservation", "memory-swap", "cpus",        "cpu-quota",
  "cpu-period",   "cpu-shares",         "cpuset-cpus", "cpuset-mems", "pids-limit",
  "blkio-weight", "cgroup-parent",      NULL,
};

static const struct
{
  const char *name;
  int sig;
} signals[] = {
  { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
  { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
  { "FPE", SIGFPE },       { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
  { "USR2", SIGUSR2 },     { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
  { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
  { "XCPU", SIGXCPU },     { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
  { "WINCH", SIGWINCH },   { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
  { "SYS", SIGSYS },
};

int
cli_parse_signal (const char *s, int *out, husk_error_t *err)
{
  const char *name = s;
  char *end;
  size_t i;

  if (*s >= '0' && *s <= '9')
    {
      long v = strtol (s, &end, 10);
      if (*end == '\0' && v > 0 && v <= SIGRTMAX)
        {
          *out = (int)v;
          return 0;
        }
      return husk_make_error (err, EINVAL, "invalid signal: %s", s);
    }
  if (strncasecmp (name, "SIG", 3) == 0)
    name += 3;
  for (i = 0; i < sizeof (signals) / sizeof (signals[0]); i++)
    if (strcasecmp (name, signals[i].name) == 0)
      {
        *out = signals[i].sig;
        return 0;
      }
  if (strncasecmp (name, "RTMIN", 5) == 0 || strncasecmp (name, "RTMAX", 5) == 0)
    {
      bool min = strncasecmp (name, "RTMIN", 5) == 0;
      long off = 0;
      if (name[5] == '+' || name[5] == '-')
        {
          off = strtol (name + 5, &end, 10);
          if (*end != '\0')
            return husk_make_error (err, EINVAL, "invalid signal: %s", s);
        }
      else if (name[5] != '\0')
        return husk_make_error (err, EINVAL, "invalid signal: %s", s);
      off += min ? SIGRTMIN : SIGRTMAX;
      if (off >= SIGRTMIN && off <= SIGRTMAX)
        {
          *out = (int)off;
          return 0;
        }
    }
  return husk_make_error (err, EINVAL, "invalid signal: %s", s);
}

/* Docker's -e semantics: "K=V" as is; "K" takes the value from our own
   environment and is dropped when unset.  Later values replace earlier
   ones with the same key.  */
void
cli_env_set (char ***env, const char *kv)
{
  const char *eq = strchr (kv, '=');
  size_t klen = eq ? (size_t)(eq - kv) : strlen (kv);
  char *entry;
  size_t i;

  if (eq == NULL)
    {
      const char *v = getenv (kv);
      if (v == NULL)
        return;
      entry = xasprintf ("%s=%s", kv, v);
    }
  else
    entry = xstrdup (kv);
  for (i = 0; *env && (*env)[i]; i++)
    if (strncmp ((*env)[i], entry, klen) == 0 && (*env)[i][klen] == '=')
      {
        free ((*env)[i]);
        (*env)[i] = entry;
        return;
      }
  strv_append_take (env, entry);
}

int
cli_env_read_file (const char *path, char ***env, husk_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;
  char *line, *save = NULL;

  if (husk_read_file_at (AT_FDCWD, path, 1 << 20, &data, &len, err) < 0)
    return husk_error_wrap (err, "read --env-file %s", path);
  for (line = strtok_r (data, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      size_t l = strlen (line);
      while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
        line[--l] = '\0';
      while (*line == ' ' || *line == '\t')
        line++;
      if (*line == '\0' || *line == '#')
        continue;
      if (*line == '=')
        return husk_make_error (err, EINVAL, "invalid environment variable in %s: %s", path, line);
      cli_env_set (env, line);
    }
  return 0;
}

static bool
valid_env_key (const char *kv)
{
  return kv[0] != '\0' && kv[0] != '=';
}

/* -v SRC:DST[:OPTS].  Named volumes arrive with the volumes issue; until
   then a source must be an absolute host path that exists.  */
static int
parse_bind (const char *arg, husk_json_t *binds, husk_error_t *err)
{
  cleanup_strv char **parts = NULL;
  const char *src, *dst, *opts;
  struct stat st;
  size_t n, i;
  char *copy = xstrdup (arg), *p, *save = NULL;

  for (p = strtok_r (copy, ":", &save); p; p = strtok_r (NULL, ":", &save))
    strv_append (&parts, p);
  free (copy);
  n = strv_len (parts);
  if (n < 2 || n > 3)
    return husk_make_error (err, EINVAL,
                            "invalid volume specification \"%s\": use SOURCE:DESTINATION[:OPTIONS]", arg);
  src = parts[0];
  dst = parts[1];
  opts = n == 3 ? parts[2] : "";
  if (src[0] != '/')
    return husk_make_error (
        err, EINVAL,
        "invalid volume source \"%s\" in \"%s\": a bind mount source must be an absolute path "
        "(named volumes are not supported yet)",
        src, arg);
  if (dst[0] != '/')
    return husk_make_error (
        err, EINVAL, "invalid volume destination \"%s\" in \"%s\": must be an absolute path", dst, arg);
  if (stat (src, &st) < 0)
    return husk_make_error (err, errno, "invalid volume source \"%s\"", src);
  if (*opts)
    {
      cleanup_free char *o = xstrdup (opts);
      for (p = strtok_r (o, ",", &save); p; p = strtok_r (NULL, ",", &save))
        {
          static const char *const known[]
              = { "ro",       "rw",     "z",       "Z",     "rbind",  "bind",   "private",
                  "rprivate", "shared", "rshared", "slave", "rslave", "nosuid", "nodev",
                  "noexec",   "suid",   "dev",     "exec",  NULL };
          for (i = 0; known[i] && strcmp (known[i], p) != 0; i++)
            ;
          if (known[i] == NULL)
            return husk_make_error (err, EINVAL, "invalid volume option \"%s\" in \"%s\"", p, arg);
        }
    }
  husk_json_array_append (binds, husk_json_new_string (arg));
  return 0;
}

static int
parse_tmpfs (const char *arg, husk_json_t *tmpfs, husk_error_t *err)
{
  const char *colon = strchr (arg, ':');
  cleanup_free char *path = colon ? xstrndup (arg, (size_t)(colon - arg)) : xstrdup (arg);
  cleanup_free char *opts = xstrdup (colon ? colon + 1 : "");
  char *p, *save = NULL;

  if (path[0] != '/')
    return husk_make_error (err, EINVAL, "invalid --tmpfs \"%s\": the path must be absolute", arg);
  for (p = strtok_r (opts, ",", &save); p; p = strtok_r (NULL, ",", &save))
    {
      if (husk_has_prefix (p, "size="))
        {
          int64_t v;
          if (husk_cgroup_parse_bytes ("tmpfs size", p + 5, &v, err) < 0)
            return -1;
        }
      else if (husk_has_prefix (p, "mode="))
        {
          char *end;
          long m = strtol (p + 5, &end, 8);
          if (*end || m < 0 || m > 07777)
            return husk_make_error (err, EINVAL, "invalid --tmpfs \"%s\": bad mode", arg);
        }
      else if (strcmp (p, "ro") && strcmp (p, "rw") && strcmp (p, "noexec") && strcmp (p, "exec")
               && strcmp (p, "nosuid") && strcmp (p, "suid") && strcmp (p, "nodev") && strcmp (p, "dev"))
        return husk_make_error (err, EINVAL, "invalid --tmpfs \"%s\": unknown option \"%s\"", arg, p);
    }
  husk_json_set_string (tmpfs, path, colon ? colon + 1 : "");
  return 0;
}

static int
parse_device (const char *arg, husk_json_t *devices, husk_error_t *err)
{
  cleanup_strv char **parts = NULL;
  char *copy = xstrdup (arg), *p, *save = NULL;
  const char *host, *ctr, *perms = "rwm";
  husk_json_t *d;
  struct stat st;
  size_t n;

  for (p = strtok_r (copy, ":", &save); p; p = strtok_r (NULL, ":", &save))
    strv_append (&parts, p);
  free (copy);
  n = strv_len (parts);
  if (n < 1 || n > 3)
    return husk_make_error (err, EINVAL, "invalid --device \"%s\"", arg);
  host = parts[0];
  ctr = host;
  if (n == 2)
    {
      if (parts[1][0] == '/')
        ctr = parts[1];
      else
        perms = parts[1];
    }
  else if (n == 3)
    {
      ctr = parts[1];
      perms = parts[2];
    }
  if (host[0] != '/' || ctr[0] != '/')
    return husk_make_error (err, EINVAL, "invalid --device \"%s\": paths must be absolute", arg);
  if (strspn (perms, "rwm") != strlen (perms) || *perms == '\0')
    return husk_make_error (err, EINVAL,
                            "invalid --device \"%s\": permissions must be a combination of r, w, m", arg);
  if (stat (host, &st) < 0)
    return husk_make_error (err, errno, "invalid --device \"%s\": %s", arg, host);
  if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
    return husk_make_error (err, EINVAL, "invalid --device \"%s\": %s is not a device", arg, host);
  d = husk_json_new_object ();
  husk_json_set_string (d, "PathOnHost", host);
  husk_json_set_string (d, "PathInContainer", ctr);
  husk_json_set_string (d, "CgroupPermissions", perms);
  husk_json_array_append (devices, d);
  return 0;
}

static int
parse_ns_mode (const char *flag, const char *v, bool allow_container, husk_error_t *err)
{
  if (strcmp (v, "private") == 0 || strcmp (v, "host") == 0 || strcmp (v, "") == 0)
    return 0;
  if (allow_container && husk_has_prefix (v, "container:") && v[10] != '\0')
    return 0;
  if (husk_has_prefix (v, "ns:") && v[3] == '/')
    return 0;
  return husk_make_error (err, EINVAL, "invalid --%s \"%s\": use private, host, container:NAME or ns:PATH",
                          flag, v);
}

static int
parse_network (const char *v, husk_error_t *err)
{
  struct husk_slirp_config sc;

  if (strcmp (v, "none") == 0 || strcmp (v, "host") == 0 || (husk_has_prefix (v, "container:") && v[10])
      || (husk_has_prefix (v, "ns:") && v[3] == '/'))
    return 0;
  if (husk_network_is_slirp (v))
    {
      if (husk_slirp_parse_mode (v, &sc, err) < 0)
        return husk_error_wrap (err, "invalid --network \"%s\"", v);
      return 0;
    }
  if (strcmp (v, "bridge") == 0 || strcmp (v, "pasta") == 0 || strcmp (v, "private") == 0)
    return husk_make_error (err, 0,
                            "network mode \"%s\" is not available yet: use none, host, slirp4netns, "
                            "container:NAME or ns:PATH",
                            v);
  return husk_make_error (
      err, 0, "invalid --network \"%s\": use none, host, slirp4netns[:OPTIONS], container:NAME or ns:PATH",
      v);
}

/* Two mappings that would listen on the same host socket.  */
static bool
ports_clash (const struct husk_port_mapping *a, const struct husk_port_mapping *b)
{
  return a->host_port == b->host_port && strcmp (a->proto, b->proto) == 0
         && (a->host_ip[0] == '\0' || b->host_ip[0] == '\0' || strcmp (a->host_ip, b->host_ip) == 0);
}

/* -P: every port the image exposes that -p did not map, to a random host
   port on every address.  */
static int
add_exposed_ports (const husk_json_t *exposed, struct husk_port_mapping **ports, size_t *n, husk_error_t *err)
{
  size_t i, j;

  for (i = 0; i < husk_json_object_len (exposed); i++)
    {
      struct husk_port_mapping m;
      bool mapped = false;

      if (husk_port_parse_exposed (husk_json_object_key_at (exposed, i), &m, err) < 0)
        return -1;
      for (j = 0; j < *n; j++)
        if ((*ports)[j].container_port == m.container_port && strcmp ((*ports)[j].proto, m.proto) == 0)
          mapped = true;
      if (mapped)
        continue;
      *ports = xrealloc (*ports, (*n + 1) * sizeof (**ports));
      (*ports)[(*n)++] = m;
    }
  return 0;
}

/* Host port 0: one the kernel says is free now, not one an earlier
   mapping of this container already took.  */
static int
choose_host_ports (struct husk_port_mapping *ports, size_t n, husk_error_t *err)
{
  size_t i, j;

  for (i = 0; i < n; i++)
    {
      int tries;

      if (ports[i].host_port != 0)
        continue;
      for (tries = 0; tries < 20; tries++)
        {
          bool clash = false;
          if (husk_port_choose (&ports[i], err) < 0)
            return -1;
          for (j = 0; j < n; j++)
            if (j != i && ports_clash (&ports[i], &ports[j]))
              clash = true;
          if (!clash)
            break;
          ports[i].host_port = 0;
        }
      if (ports[i].host_port == 0)
        return husk_make_error (err, 0, "could not choose a free host port for %u/%s",
                                ports[i].container_port, ports[i].proto);
    }
  return 0;
}

/* HostConfig.PortBindings as Docker writes it:
   {"80/tcp":[{"HostIp":"","HostPort":"8080"}]}.  */
static husk_json_t *
port_bindings_json (const struct husk_port_mapping *ports, size_t n)
{
  husk_json_t *pb = husk_json_new_object ();
  size_t i;

  for (i = 0; i < n; i++)
    {
      cleanup_free char *key = xasprintf ("%u/%s", ports[i].container_port, ports[i].proto);
      cleanup_free char *hp = xasprintf ("%u", ports[i].host_port);
      husk_json_t *arr = husk_json_get (pb, key);
      husk_json_t *b = husk_json_new_object ();

      if (arr == NULL)
        {
          arr = husk_json_new_array ();
          husk_json_set (pb, key, arr);
        }
      husk_json_set_string (b, "HostIp", ports[i].host_ip);
      husk_json_set_string (b, "HostPort", hp);
      husk_json_array_append (arr, b);
    }
  return pb;
}

/* --network, -p, -P.  A published port needs user-mode networking: with
   no --network it selects slirp4netns (Podman's rootless default), with
   an explicit other mode it is an error, as in Podman.  */
/* --userns: "host" (or "") is what husk always does: the container runs
   in husk's own user namespace when rootless (0 -> the user, 1.. -> the
   subordinate range), in none as root.  Podman's other modes need a user
   namespace per container whose ids differ from the store's, so the image
   layers would have to be idmapped: the kernel allows that to a rootless
   user only on a filesystem mounted inside the user namespace (not the
   store's disk), and fuse-overlayfs needs a usable /dev/fuse.  Say so
   instead of running with other ids than asked.  */
static int
check_userns (const char *mode, husk_error_t *err)
{
  if (mode == NULL || *mode == '\0' || strcmp (mode, "host") == 0)
    return 0;
  if (strcmp (mode, "keep-id") == 0 || husk_has_prefix (mode, "keep-id:") || strcmp (mode, "auto") == 0
      || husk_has_prefix (mode, "auto:") || strcmp (mode, "nomap") == 0 || husk_has_prefix (mode, "ns:")
      || strcmp (mode, "private") == 0)
    return husk_make_error (err, 0,
                            "--userns=%s is not supported: a user namespace per container needs idmapped "
                            "image layers, which the kernel grants a rootless user only on a filesystem "
                            "mounted in its user namespace; use --userns=host (the default)",
                            mode);
  return husk_make_error (err, 0, "invalid --userns \"%s\": use host", mode);
}

static int
check_network (const struct cli_args *a, const husk_json_t *icfg, husk_json_t *cfg, husk_json_t *hc,
               husk_error_t *err)
{
  const char *v = cli_is_set (a, "network") ? cli_string (a, "network") : NULL;
  const husk_json_t *exposed = husk_json_get (icfg, "ExposedPorts");
  cleanup_free struct husk_port_mapping *ports = NULL;
  char *const *vv = cli_strv (a, "publish");
  husk_json_t *ej;
  size_t n = 0, i, j;

  for (i = 0; vv && vv[i]; i++)
    if (husk_port_parse (vv[i], &ports, &n, err) < 0)
      return -1;
  for (i = 0; i < n; i++)
    for (j = 0; j < i; j++)
      if (ports[i].host_port != 0 && ports_clash (&ports[i], &ports[j]))
        return husk_make_error (err, 0, "invalid --publish: host port %u/%s is published twice",
                                ports[i].host_port, ports[i].proto);
  if (cli_bool (a, "publish-all") && add_exposed_ports (exposed, &ports, &n, err) < 0)
    return -1;

  if (v == NULL)
    v = n > 0 ? "slirp4netns" : "none";
  if (parse_network (v, err) < 0)
    return -1;
  if (n > 0 && !husk_network_is_slirp (v))
    return husk_make_error (err, 0,
                            "--publish cannot be used with --network %s: published ports need user-mode "
                            "networking (--network slirp4netns, the default when ports are published)",
                            v);
  if (choose_host_ports (ports, n, err) < 0)
    return -1;
  husk_json_set_string (hc, "NetworkMode", v);
  husk_json_set (hc, "PortBindings", port_bindings_json (ports, n));

  /* Config.ExposedPorts: the image's and the published ones, as Docker.  */
  ej = exposed ? husk_json_clone (exposed) : husk_json_new_object ();
  for (i = 0; i < n; i++)
    {
      cleanup_free char *key = xasprintf ("%u/%s", ports[i].container_port, ports[i].proto);
      if (husk_json_get (ej, key) == NULL)
        husk_json_set (ej, key, husk_json_new_object ());
    }
  if (husk_json_object_len (ej) > 0)
    husk_json_set (cfg, "ExposedPorts", ej);
  else
    husk_json_free (ej);
  return 0;
}

static husk_json_t *
kv_object (char *const *v, const char *flag, husk_error_t *err)
{
  cleanup_json husk_json_t *o = husk_json_new_object ();
  size_t i;

  for (i = 0; v && v[i]; i++)
    {
      const char *eq = strchr (v[i], '=');
      cleanup_free char *k = NULL;
      if (eq == NULL || eq == v[i])
        {
          husk_make_error (err, EINVAL, "invalid --%s \"%s\": use KEY=VALUE", flag, v[i]);
          return NULL;
        }
      k = xstrndup (v[i], (size_t)(eq - v[i]));
      husk_json_set_string (o, k, eq + 1);
    }
  return steal_pointer (&o);
}

/* Command line: Docker's rules.  --entrypoint replaces the image's
   entrypoint and drops its CMD; arguments after the image replace CMD.  */
static int
resolve_command (const struct cli_args *a, husk_json_t *image_cfg, husk_json_t *cfg, char ***argv,
                 husk_error_t *err)
{
  cleanup_strv char **entry = NULL;
  cleanup_strv char **cmd = NULL;
  const char *ep = cli_string (a, "entrypoint");
  char **out = NULL;

  if (cli_is_set (a, "entrypoint"))
    {
      entry = xzalloc (sizeof (char *) * 2);
      if (ep && *ep)
        entry[0] = xstrdup (ep);
    }
  else
    entry = husk_json_to_strv (husk_json_get (image_cfg, "Entrypoint"));
  if (a->argc > 1)
    {
      int i;
      cmd = xzalloc (sizeof (char *));
      for (i = 1; i < a->argc; i++)
        strv_append (&cmd, a->argv[i]);
    }
  else if (!cli_is_set (a, "entrypoint"))
    cmd = husk_json_to_strv (husk_json_get (image_cfg, "Cmd"));
  else
    cmd = xzalloc (sizeof (char *));

  husk_json_set (cfg, "Entrypoint", husk_json_from_strv (entry));
  husk_json_set (cfg, "Cmd", husk_json_from_strv (cmd));
  out = strv_dup (entry);
  for (size_t i = 0; cmd[i]; i++)
    strv_append (&out, cmd[i]);
  if (out == NULL || out[0] == NULL)
    {
      strv_free (out);
      return husk_make_error (err, EINVAL,
                              "no command or entrypoint provided, and no CMD or ENTRYPOINT from image");
    }
  *argv = out;
  return 0;
}

static int
check_cgroup_flags (const struct cli_args *a, husk_json_t *husk, husk_json_t *hc, husk_error_t *err)
{
  cleanup_cgroup_limits struct husk_cgroup_limits limits = { 0 };
  husk_json_t *flags = husk_json_new_array ();
  char *const *rules = cli_strv (a, "device-cgroup-rule");
  size_t i;

  husk_json_set (husk, "CgroupFlags", flags);
  for (i = 0; cgroup_flags[i]; i++)
    {
      const char *v = cli_string (a, cgroup_flags[i]);
      husk_json_t *pair;
      if (v == NULL)
        continue;
      if (husk_cgroup_parse_flag (&limits, cgroup_flags[i], v, err) < 0)
        return -1;
      pair = husk_json_new_array ();
      husk_json_array_append (pair, husk_json_new_string (cgroup_flags[i]));
      husk_json_array_append (pair, husk_json_new_string (v));
      husk_json_array_append (flags, pair);
    }
  for (i = 0; rules && rules[i]; i++)
    {
      husk_json_t *pair;
      if (husk_cgroup_parse_flag (&limits, "device-cgroup-rule", rules[i], err) < 0)
        return -1;
      pair = husk_json_new_array ();
      husk_json_array_append (pair, husk_json_new_string ("device-cgroup-rule"));
      husk_json_array_append (pair, husk_json_new_string (rules[i]));
      husk_json_array_append (flags, pair);
    }
  if (husk_cgroup_limits_validate (&limits, err) < 0)
    return -1;
  husk_json_set_int (hc, "Memory", limits.memory);
  husk_json_set_int (hc, "MemoryReservation", limits.memory_reservation);
  husk_json_set_int (hc, "MemorySwap", limits.memory_swap);
  husk_json_set_int (hc, "NanoCpus", (int64_t)limits.nano_cpus);
  husk_json_set_int (hc, "CpuQuota", limits.cpu_quota);
  husk_json_set_int (hc, "CpuPeriod", (int64_t)limits.cpu_period);
  husk_json_set_int (hc, "CpuShares", (int64_t)limits.cpu_shares);
  husk_json_set_string (hc, "CpusetCpus", limits.cpuset_cpus ? limits.cpuset_cpus : "");
  husk_json_set_string (hc, "CpusetMems", limits.cpuset_mems ? limits.cpuset_mems : "");
  husk_json_set_int (hc, "PidsLimit", limits.pids_limit);
  husk_json_set_int (hc, "BlkioWeight", limits.blkio_weight);
  husk_json_set_string (hc, "CgroupParent", limits.parent ? limits.parent : "");
  husk_json_set (hc, "DeviceCgroupRules", husk_json_from_strv (rules ? rules : (char *const[]){ NULL }));
  return 0;
}

static int
check_security (const struct cli_args *a, husk_json_t *hc, husk_error_t *err)
{
  struct husk_security_spec sec;
  char *const *v;
  size_t i;
  int ret = 0;

  husk_security_spec_init (&sec);
  husk_security_set_privileged (&sec, cli_bool (a, "privileged"));
  if (husk_security_set_caps (&sec, cli_strv (a, "cap-add"), cli_strv (a, "cap-drop"), err) < 0)
    goto out_fail;
  v = cli_strv (a, "security-opt");
  for (i = 0; v && v[i]; i++)
    if (husk_security_parse_opt (&sec, v[i], err) < 0)
      goto out_fail;
  v = cli_strv (a, "ulimit");
  {
    husk_json_t *ul = husk_json_new_array ();
    husk_json_set (hc, "Ulimits", ul);
    for (i = 0; v && v[i]; i++)
      {
        struct husk_rlimit rl;
        husk_json_t *o;
        const char *eq = strchr (v[i], '=');
        cleanup_free char *name = NULL;
        if (husk_rlimit_parse (v[i], &rl, err) < 0)
          goto out_fail;
        name = xstrndup (v[i], eq ? (size_t)(eq - v[i]) : strlen (v[i]));
        o = husk_json_new_object ();
        husk_json_set_string (o, "Name", husk_rlimit_name (rl.resource));
        husk_json_set_int (o, "Soft", rl.soft == (uint64_t)-1 ? -1 : (int64_t)rl.soft);
        husk_json_set_int (o, "Hard", rl.hard == (uint64_t)-1 ? -1 : (int64_t)rl.hard);
        husk_json_set_string (o, "Arg", v[i]);
        husk_json_array_append (ul, o);
      }
  }
  husk_json_set_bool (hc, "Privileged", cli_bool (a, "privileged"));
  husk_json_set (hc, "CapAdd", husk_json_from_strv (cli_strv (a, "cap-add") ?: (char *const[]){ NULL }));
  husk_json_set (hc, "CapDrop", husk_json_from_strv (cli_strv (a, "cap-drop") ?: (char *const[]){ NULL }));
  husk_json_set (hc, "SecurityOpt",
                 husk_json_from_strv (cli_strv (a, "security-opt") ?: (char *const[]){ NULL }));
  /* The profile's text as read now, as Docker and Podman keep it: a start
     from another directory, or after the file changed, runs the same
     profile.  */
  if (sec.seccomp == HUSK_SECCOMP_PROFILE)
    husk_json_set_string (hc, "SeccompProfileText", sec.seccomp_profile);
  goto out;
out_fail:
  ret = -1;
out:
  husk_security_spec_release (&sec);
  return ret;
}

static int
check_logging (const struct cli_args *a, husk_json_t *hc, husk_error_t *err)
{
  enum husk_log_driver drv = HUSK_LOG_K8S_FILE;
  husk_json_t *lc = husk_json_new_object ();
  husk_json_t *lcc = husk_json_new_object ();
  char *const *opts = cli_strv (a, "log-opt");
  size_t i;

  husk_json_set (hc, "LogConfig", lc);
  husk_json_set (lc, "Config", lcc);
  if (cli_string (a, "log-driver") && husk_log_driver_parse (cli_string (a, "log-driver"), &drv, err) < 0)
    return -1;
  husk_json_set_string (lc, "Type", husk_log_driver_name (drv));
  for (i = 0; opts && opts[i]; i++)
    {
      if (husk_has_prefix (opts[i], "max-size="))
        {
          int64_t v;
          if (husk_cgroup_parse_bytes ("--log-opt max-size", opts[i] + 9, &v, err) < 0)
            return -1;
          husk_json_set_string (lcc, "max-size", opts[i] + 9);
          husk_json_set_int (lc, "MaxSize", v);
        }
      else
        return husk_make_error (err, EINVAL, "invalid --log-opt \"%s\": only max-size=SIZE is supported",
                                opts[i]);
    }
  return 0;
}

/* --health-cmd: a JSON array (["CMD", ...], ["CMD-SHELL", "cmd"],
   ["NONE"]), "none", or a shell command.  */
static husk_json_t *
health_test (const char *v, husk_error_t *err)
{
  cleanup_json husk_json_t *t = NULL;
  husk_error_t jerr = NULL;
  cleanup_strv char **argv = NULL;
  const char *kind;
  size_t i;

  if (*v == '\0')
    {
      husk_make_error (err, 0, "invalid --health-cmd \"\": the command is empty");
      return NULL;
    }
  if (strcasecmp (v, "none") == 0)
    {
      t = husk_json_new_array ();
      husk_json_array_append (t, husk_json_new_string ("NONE"));
      return steal_pointer (&t);
    }
  if (v[0] != '[')
    {
      t = husk_json_new_array ();
      husk_json_array_append (t, husk_json_new_string ("CMD-SHELL"));
      husk_json_array_append (t, husk_json_new_string (v));
      return steal_pointer (&t);
    }
  t = husk_json_parse (v, strlen (v), &jerr);
  husk_error_release (&jerr);
  for (i = 0; t != NULL && i < husk_json_array_len (t); i++)
    if (husk_json_type (husk_json_array_at (t, i)) != HUSK_JSON_STRING)
      break;
  kind = husk_json_string (husk_json_array_at (t, 0));
  argv = husk_health_test_argv (t);
  if (t == NULL || husk_json_type (t) != HUSK_JSON_ARRAY || i < husk_json_array_len (t) || kind == NULL
      || (strcmp (kind, "NONE") == 0 ? husk_json_array_len (t) != 1 : argv == NULL))
    {
      husk_make_error (err, 0,
                       "invalid --health-cmd \"%s\": use a shell command or a JSON array [\"CMD\", ...], "
                       "[\"CMD-SHELL\", \"command\"] or [\"NONE\"]",
                       v);
      return NULL;
    }
  return steal_pointer (&t);
}

static int
health_duration (const struct cli_args *a, const char *flag, const char *key, husk_json_t *hc,
                 husk_error_t *err)
{
  const char *v = cli_is_set (a, flag) ? cli_string (a, flag) : NULL;
  int64_t ns;

  if (v == NULL)
    return 0;
  /* Go's ParseDuration takes a bare "0" too.  */
  if (strcmp (v, "0") == 0)
    ns = 0;
  else if (!cli_parse_duration (v, &ns))
    return husk_make_error (err, 0, "invalid --%s \"%s\": use a duration such as 30s, 1m30s or 500ms", flag,
                            v);
  /* Docker's minimum; 0 means the default.  */
  if (ns != 0 && ns < 1000000)
    return husk_make_error (err, 0, "invalid --%s \"%s\": must be at least 1ms (or 0 for the default)", flag,
                            v);
  husk_json_set_int (hc, key, ns);
  return 0;
}

/* Config.Healthcheck: the image's, each field overridden by its flag;
   --no-healthcheck makes it ["NONE"].  Absent when neither says anything.  */
static int
check_healthcheck (const struct cli_args *a, const husk_json_t *icfg, husk_json_t *cfg, husk_error_t *err)
{
  const husk_json_t *ihc = husk_json_get (icfg, "Healthcheck");
  cleanup_json husk_json_t *hc
      = husk_json_type (ihc) == HUSK_JSON_OBJECT ? husk_json_clone (ihc) : husk_json_new_object ();
  static const char *const flags[]
      = { "health-cmd", "health-interval", "health-retries", "health-start-period", "health-timeout" };
  bool any = false;
  const char *v;
  size_t i;

  for (i = 0; i < sizeof (flags) / sizeof (flags[0]); i++)
    any = any || cli_is_set (a, flags[i]);
  if (cli_bool (a, "no-healthcheck") && any)
    return husk_make_error (err, 0, "--no-healthcheck conflicts with --health-* options");
  if (cli_bool (a, "no-healthcheck"))
    {
      husk_json_t *t = husk_json_new_array ();
      husk_json_array_append (t, husk_json_new_string ("NONE"));
      husk_json_set (hc, "Test", t);
    }
  if (cli_is_set (a, "health-cmd"))
    {
      husk_json_t *t = health_test (cli_string (a, "health-cmd"), err);
      if (t == NULL)
        return -1;
      husk_json_set (hc, "Test", t);
    }
  if (health_duration (a, "health-interval", "Interval", hc, err) < 0
      || health_duration (a, "health-timeout", "Timeout", hc, err) < 0
      || health_duration (a, "health-start-period", "StartPeriod", hc, err) < 0)
    return -1;
  v = cli_is_set (a, "health-retries") ? cli_string (a, "health-retries") : NULL;
  if (v != NULL)
    {
      uint64_t n;
      if (!husk_parse_u64 (v, &n) || n > INT32_MAX)
        return husk_make_error (err, 0, "invalid --health-retries \"%s\": a number of retries", v);
      husk_json_set_int (hc, "Retries", (int64_t)n);
    }
  if (husk_json_object_len (hc) > 0)
    husk_json_set (cfg, "Healthcheck", steal_pointer (&hc));
  return 0;
}

static husk_json_t *
strv_or_empty (char *const *v)
{
  return husk_json_from_strv (v ? v : (char *const[]){ NULL });
}

int
cli_container_config_build (const struct cli_args *a, const char *id, const struct husk_image_record *img,
                            const char *image_arg, husk_json_t *image_config, husk_json_t **out,
                            husk_error_t *err)
{
  cleanup_json husk_json_t *c = husk_json_new_object ();
  husk_json_t *cfg = husk_json_new_object ();
  husk_json_t *hc = husk_json_new_object ();
  husk_json_t *husk = husk_json_new_object ();
  husk_json_t *icfg = husk_json_get (image_config, "config");
  husk_json_t *binds = husk_json_new_array ();
  husk_json_t *tmpfs = husk_json_new_object ();
  husk_json_t *devices = husk_json_new_array ();
  husk_json_t *labels, *sysctls;
  cleanup_strv char **env = NULL;
  cleanup_strv char **argv = NULL;
  struct husk_restart_policy rp = { 0 };
  husk_json_t *rpj;
  const char *v;
  char *const *vv;
  size_t i;
  int sig;

  husk_json_set (c, "Config", cfg);
  husk_json_set (c, "HostConfig", hc);
  husk_json_set (c, "Husk", husk);
  husk_json_set (hc, "Binds", binds);
  husk_json_set (hc, "Tmpfs", tmpfs);
  husk_json_set (hc, "Devices", devices);

  husk_json_set_string (c, "Id", id);
  husk_json_set_int (c, "Created", husk_now_ns ());
  husk_json_set_string (c, "Image", img->id);
  husk_json_set_string (c, "ImageName", image_arg);
  husk_json_set (c, "Layers", husk_json_from_strv (img->layers));

  /* Command.  */
  if (resolve_command (a, icfg, cfg, &argv, err) < 0)
    return -1;
  husk_json_set_string (c, "Path", argv[0]);
  husk_json_set (c, "Args", husk_json_from_strv (argv + 1));

  /* Environment: image, then --env-file, then -e.  */
  env = husk_json_to_strv (husk_json_get (icfg, "Env"));
  {
    bool has_path = false;
    for (i = 0; env[i]; i++)
      if (husk_has_prefix (env[i], "PATH="))
        has_path = true;
    if (!has_path)
      strv_append (&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  }
  vv = cli_strv (a, "env-file");
  for (i = 0; vv && vv[i]; i++)
    if (cli_env_read_file (vv[i], &env, err) < 0)
      return -1;
  vv = cli_strv (a, "env");
  for (i = 0; vv && vv[i]; i++)
    {
      if (!valid_env_key (vv[i]))
        return husk_make_error (err, EINVAL, "invalid environment variable: \"%s\"", vv[i]);
      cli_env_set (&env, vv[i]);
    }
  if (cli_bool (a, "tty"))
    {
      bool has_term = false;
      for (i = 0; env[i]; i++)
        if (husk_has_prefix (env[i], "TERM="))
          has_term = true;
      if (!has_term)
        strv_append (&env, "TERM=xterm");
    }
  cli_env_set (&env, "container=husk");

  /* Hostname: Docker's default is the short id.  */
  v = cli_string (a, "hostname");
  if (v && (*v == '\0' || strlen (v) > 64 || strchr (v, '/')))
    return husk_make_error (err, EINVAL, "invalid --hostname \"%s\"", v);
  {
    cleanup_free char *shortid = xstrndup (id, 12);
    const char *hn = v ? v : shortid;
    bool has_hostname = false;
    husk_json_set_string (cfg, "Hostname", hn);
    for (i = 0; env[i]; i++)
      if (husk_has_prefix (env[i], "HOSTNAME="))
        has_hostname = true;
    if (!has_hostname)
      strv_append_take (&env, xasprintf ("HOSTNAME=%s", hn));
  }
  husk_json_set (cfg, "Env", husk_json_from_strv (env));

  v = cli_string (a, "user");
  if (v == NULL)
    v = husk_json_get_string (icfg, "User");
  husk_json_set_string (cfg, "User", v ? v : "");

  v = cli_string (a, "workdir");
  if (v == NULL)
    v = husk_json_get_string (icfg, "WorkingDir");
  if (v && *v && v[0] != '/')
    return husk_make_error (err, EINVAL, "invalid --workdir \"%s\": the path must be absolute", v);
  husk_json_set_string (cfg, "WorkingDir", v && *v ? v : "/");

  /* Labels: the image's, then --label.  */
  labels = img->labels ? husk_json_clone (img->labels) : husk_json_new_object ();
  husk_json_set (cfg, "Labels", labels);
  vv = cli_strv (a, "label");
  for (i = 0; vv && vv[i]; i++)
    {
      const char *eq = strchr (vv[i], '=');
      cleanup_free char *k = xstrndup (vv[i], eq ? (size_t)(eq - vv[i]) : strlen (vv[i]));
      if (*k == '\0')
        return husk_make_error (err, EINVAL, "invalid --label \"%s\"", vv[i]);
      husk_json_set_string (labels, k, eq ? eq + 1 : "");
    }

  /* cli_string gives the table's default when the flag is absent: the
     image's STOPSIGNAL must win over that default.  */
  v = cli_is_set (a, "stop-signal") ? cli_string (a, "stop-signal") : NULL;
  if (v == NULL)
    v = husk_json_get_string (icfg, "StopSignal");
  if (v == NULL)
    v = "SIGTERM";
  if (cli_parse_signal (v, &sig, err) < 0)
    return husk_error_wrap (err, "--stop-signal");
  husk_json_set_string (cfg, "StopSignal", v);
  {
    long t = 10;
    v = cli_string (a, "stop-timeout");
    if (v)
      {
        char *end;
        t = strtol (v, &end, 10);
        if (*v == '\0' || *end || t < -1)
          return husk_make_error (err, EINVAL, "invalid --stop-timeout \"%s\": a number of seconds", v);
      }
    husk_json_set_int (cfg, "StopTimeout", t);
  }
  {
    uint64_t t = 0;
    v = cli_string (a, "timeout");
    if (v && (!husk_parse_u64 (v, &t) || t > UINT32_MAX))
      return husk_make_error (err, 0, "invalid --timeout \"%s\": a number of seconds", v);
    husk_json_set_int (cfg, "Timeout", (int64_t)t);
  }
  if (check_healthcheck (a, icfg, cfg, err) < 0)
    return -1;
  husk_json_set_bool (cfg, "Tty", cli_bool (a, "tty"));
  husk_json_set_bool (cfg, "OpenStdin", cli_bool (a, "interactive"));
  husk_json_set_string (cfg, "Image", image_arg);

  /* Host config.  */
  vv = cli_strv (a, "volume");
  for (i = 0; vv && vv[i]; i++)
    if (parse_bind (vv[i], binds, err) < 0)
      return -1;
  vv = cli_strv (a, "tmpfs");
  for (i = 0; vv && vv[i]; i++)
    if (parse_tmpfs (vv[i], tmpfs, err) < 0)
      return -1;
  vv = cli_strv (a, "device");
  for (i = 0; vv && vv[i]; i++)
    if (parse_device (vv[i], devices, err) < 0)
      return -1;
  if (check_security (a, hc, err) < 0 || check_cgroup_flags (a, husk, hc, err) < 0
      || check_logging (a, hc, err) < 0)
    return -1;
  husk_json_set_bool (hc, "ReadonlyRootfs", cli_bool (a, "read-only"));
  husk_json_set_bool (hc, "Init", cli_bool (a, "init"));
  husk_json_set_bool (hc, "AutoRemove", cli_bool (a, "rm"));
  {
    int64_t shm = 64 << 20;
    v = cli_string (a, "shm-size");
    if (v && husk_cgroup_parse_bytes ("--shm-size", v, &shm, err) < 0)
      return -1;
    if (shm <= 0)
      return husk_make_error (err, EINVAL, "invalid --shm-size \"%s\": must be greater than 0", v);
    husk_json_set_int (hc, "ShmSize", shm);
  }
  sysctls = kv_object (cli_strv (a, "sysctl"), "sysctl", err);
  if (sysctls == NULL)
    return -1;
  husk_json_set (hc, "Sysctls", sysctls);
  vv = cli_strv (a, "add-host");
  for (i = 0; vv && vv[i]; i++)
    {
      const char *colon = strchr (vv[i], ':');
      if (colon == NULL || colon == vv[i] || colon[1] == '\0')
        return husk_make_error (err, EINVAL, "invalid --add-host \"%s\": use HOST:IP", vv[i]);
    }
  husk_json_set (hc, "ExtraHosts", strv_or_empty (cli_strv (a, "add-host")));
  husk_json_set (hc, "GroupAdd", strv_or_empty (cli_strv (a, "group-add")));

  if (check_network (a, icfg, cfg, hc, err) < 0)
    return -1;
  {
    static const char *const ns_flags[][2] = {
      { "pid", "PidMode" }, { "ipc", "IpcMode" }, { "uts", "UTSMode" }, { "cgroupns", "CgroupnsMode" }
    };
    for (i = 0; i < 4; i++)
      {
        v = cli_string (a, ns_flags[i][0]);
        if (v == NULL)
          v = "private";
        if (parse_ns_mode (ns_flags[i][0], v, i != 3, err) < 0)
          return -1;
        husk_json_set_string (hc, ns_flags[i][1], v);
      }
  }
  if (cli_string (a, "hostname") && strcmp (husk_json_get_string (hc, "UTSMode"), "host") == 0)
    return husk_make_error (err, EINVAL, "--hostname cannot be set with --uts host");

  if (check_userns (cli_string (a, "userns"), err) < 0)
    return -1;
  husk_json_set_string (hc, "UsernsMode", "");

  v = cli_string (a, "restart");
  if (v && husk_restart_policy_parse (v, &rp, err) < 0)
    return -1;
  if (rp.name != HUSK_RESTART_NO && cli_bool (a, "rm"))
    return husk_make_error (err, EINVAL, "the --rm option conflicts with --restart (other than \"no\")");
  rpj = husk_json_new_object ();
  husk_json_set_string (rpj, "Name", rp.name == HUSK_RESTART_NO ? "" : husk_restart_name_str (rp.name));
  husk_json_set_int (rpj, "MaximumRetryCount", rp.max_retries);
  husk_json_set (hc, "RestartPolicy", rpj);

  v = cli_string (a, "pull");
  if (v && strcmp (v, "missing") && strcmp (v, "always") && strcmp (v, "never") && strcmp (v, "newer"))
    return husk_make_error (err, EINVAL, "invalid --pull \"%s\": use always, missing or never", v);
  if (a->cmd->opts == cli_opts_run && cli_is_set (a, "detach-keys"))
    husk_json_set_string (husk, "DetachKeys", cli_string (a, "detach-keys"));

  *out = steal_pointer (&c);
  return 0;
}
