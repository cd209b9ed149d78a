/* husk: what the container commands of src/cli share (run, create,
   start, stop, ps, logs, inspect ...).

   A container's config.json (written once by create/run, read by every
   later command) uses Podman's inspect names where there is one:

     Id, Name, Created (ns), Image (id), ImageName, Layers (diffIDs, base
     first), Path, Args (the resolved command line),
     Config     { Hostname, User, Env, Cmd, Entrypoint, WorkingDir, Labels,
                  ExposedPorts (the image's and the published ones),
                  StopSignal, StopTimeout, Tty, OpenStdin, Image,
                  Healthcheck {Test, Interval, Timeout, StartPeriod (ns),
                  Retries}: the image's with the --health-* flags over it,
                  Test ["NONE"] for --no-healthcheck, absent when neither
                  has one }
     HostConfig { Binds, Tmpfs, Devices, CapAdd, CapDrop, Privileged,
                  SecurityOpt, ReadonlyRootfs, ShmSize, Sysctls, Init,
                  Ulimits, Memory, MemorySwap, NanoCpus, CpuShares,
                  CpusetCpus, PidsLimit, BlkioWeight, DeviceCgroupRules,
                  NetworkMode ("none", "host", "slirp4netns[:OPTIONS]",
                  "container:ID", "ns:PATH"), PortBindings (Docker's
                  {"80/tcp":[{"HostIp":"","HostPort":"8080"}]}, host
                  ports chosen at create), PidMode, IpcMode, UTSMode, CgroupnsMode,
                  AutoRemove, RestartPolicy {Name, MaximumRetryCount},
                  LogConfig {Type, Path, Config {max-size}}, GroupAdd,
                  ExtraHosts }
     Husk       { CgroupFlags [[flag, value]...] (re-parsed at start with
                  husk_cgroup_parse_flag, so start and create agree),
                  DetachKeys }  */
#ifndef HUSK_CLI_CONTAINER_H
#define HUSK_CLI_CONTAINER_H

#include <stdbool.h>

#include "cli.h"
#include "husk/cgroup.h"
#include "husk/monitor.h"
#include "husk/network.h"
#include "husk/runtime.h"
#include "husk/security.h"
#include "husk/store.h"

/* run and create share their flags.  */
extern const struct cli_opt cli_opts_run[];
extern const struct cli_opt cli_opts_create[];

/* Build config.json for a new container from the flags of run/create (a),
   the image and its config.  Validates every flag (the error names the
   flag; nothing is created on failure).  */
int cli_container_config_build (const struct cli_args *a, const char *id, const struct husk_image_record *img,
                                const char *image_arg, husk_json_t *image_config, husk_json_t **out,
                                husk_error_t *err);

/* Everything a start needs, built from config.json; owns its memory.  */
struct cli_container_spec
{
  struct husk_run_spec run;
  struct husk_monitor_config mon;
  struct husk_security_spec security;
  struct husk_cgroup_limits cgroup;
  /* storage for the pointers in run */
  char **argv, **env, **group_add, **lower_dirs, **sysctls, **masked, **readonly, **health_cmd;
  struct husk_mount *mounts;
  struct husk_device *devices;
  char **strings; /* owned strings referenced from run/mon */
  /* --network slirp4netns: mon.slirp points here, its ports at ports.  */
  struct husk_slirp_config slirp;
  struct husk_port_mapping *ports;
};

/* Fill *sp for container id (lower dirs from the store, upper/work in the
   container's directory, hosts/hostname/resolv.conf written to its rundir,
   seccomp prepared through the store's cache).  */
int cli_container_spec_build (husk_store_t *s, const char *id, const husk_json_t *config,
                              struct cli_container_spec *sp, husk_error_t *err);
void cli_container_spec_free (struct cli_container_spec *sp);

/* HostConfig.PortBindings of a container's config.json as mappings
   (malloc'd array, *n entries; NULL and 0 when there are none), in the
   order of the keys.  */
struct husk_port_mapping *cli_container_ports (const husk_json_t *config, size_t *n);

/* The security spec of a container from its HostConfig (caps, privileged,
   --security-opt, ulimits), seccomp prepared through the store's cache;
   privileged forces --privileged (exec --privileged).  SEC comes from
   husk_security_spec_init.  Shared by start and exec.  */
int cli_container_security_build (husk_store_t *s, const husk_json_t *hc, bool privileged,
                                  struct husk_security_spec *sec, husk_error_t *err);

/* The healthcheck of a container from its config.json (Config.Healthcheck):
   out->cmd is *cmd (malloc'd, the caller frees it), NULL when there is
   none; zero durations and retries mean Docker's defaults.  */
void cli_container_health (const husk_json_t *config, struct husk_health_config *out, char ***cmd);

/* Resolve a user's container argument (name, id, unique id prefix).  Shared
   lock needed.  Error: no container with name or ID "x" found: no such
   container (ENOENT).  */
int cli_container_lookup (husk_store_t *s, const char *arg, struct husk_container_record **out,
                          husk_error_t *err);

/* The same, taking and releasing the shared lock itself; *id gets a
   copy of the full id.  */
int cli_container_resolve (husk_store_t *s, const char *arg, char **id, husk_error_t *err);

/* config.json of a container, parsed.  */
int cli_container_config (husk_store_t *s, const char *id, husk_json_t **out, husk_error_t *err);

struct cli_start
{
  bool attach;     /* relay stdio until the container exits */
  bool stdin_open; /* forward our stdin (-i of start, or run -i) */
  bool sig_proxy;  /* forward signals (foreground) */
  const char *detach_keys;
};

/* Start a created or exited container: fork its monitor.  With attach,
   relay until it exits and set *exit_code (a detach leaves it -1).
   Errors carry 125/126/127.  */
int cli_container_start (husk_store_t *s, const char *id, const struct cli_start *o, int *exit_code,
                         husk_error_t *err);

/* Docker's -e: "K=V" as is, "K" takes our own value (dropped when
   unset); a later value replaces an earlier one with the same key.  */
void cli_env_set (char ***env, const char *kv);
/* --env-file: one K=V (or K) per line, # comments and blank lines
   skipped.  */
int cli_env_read_file (const char *path, char ***env, husk_error_t *err);

/* Parse a signal: "SIGTERM", "TERM", "15", "sigkill".  */
int cli_parse_signal (const char *s, int *out, husk_error_t *err);

/* A running container whose cgroup freezer says frozen (pause).  Read
   from the cgroup at each call (attach.c).  */
bool cli_container_paused (const struct husk_container_state *st);
/* Thaw a paused container (nothing to do when it is not paused): a frozen
   task acts on no signal, on cgroup v1 not even SIGKILL.  */
int cli_container_thaw (const char *id, const struct husk_container_state *st, husk_error_t *err);
/* husk_container_status_name (), or "paused".  */
const char *cli_container_status_name (const struct husk_container_state *st);

/* Remove every container that does not run (container prune, system
   prune; lifecycle.c).  The ids removed are appended to *removed and,
   when reclaimed is not NULL, the bytes their directories held are added
   to it.  A container that fails is reported on stderr and makes the
   result HUSK_EXIT_FAILURE (positive); negative only when the list cannot
   be read.  */
int cli_container_prune_stopped (husk_store_t *s, char ***removed, uint64_t *reclaimed, husk_error_t *err);
/* rm -f of one container id: stop it if it runs, then remove it.  */
int cli_container_remove_force (husk_store_t *s, const char *id, husk_error_t *err);

/* Find an image (id, prefix, name), pulling it as a --pull policy says
   ("missing" or NULL, "always", "never"); shared by run/create and
   build's pull callback.  Takes and releases the shared lock itself; *id
   and *config (the image's config JSON, *config_len bytes) are malloc'd.  */
int cli_image_resolve (husk_store_t *s, const char *arg, const char *policy, char **id, char **config,
                       size_t *config_len, husk_error_t *err);

/* Commands.  */
int cmd_run (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_create (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_start (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_ps (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_container_inspect (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_stop (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_restart (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_kill (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_rm (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_wait (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_logs (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_container_prune (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_container_exists (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_exec (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_attach (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_top (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_rename (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_pause (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_unpause (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_stats (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_update (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_cp (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_diff (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_commit (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_healthcheck_run (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_export (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_system_prune (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_system_reset (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_unshare (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_port (struct cli_ctx *, struct cli_args *, husk_error_t *);

/* Option lists of the container commands (main.c).  */
extern const struct cli_opt cli_opts_ps[];

#endif
