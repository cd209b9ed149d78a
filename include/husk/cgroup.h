/* husk: container cgroups (DESIGN.md section 4), after crun's cgroup.c.

   One backend is chosen once per process by husk_cgroup_detect ():
   - v2: /sys/fs/cgroup is cgroup2 (unified).  As root the container cgroup
     is /sys/fs/cgroup/<parent>/husk-<id>; rootless only when the user's
     cgroup is delegated (owned by the user, controllers available), then
     under the topmost cgroup the user owns.
   - v1: /sys/fs/cgroup is a tmpfs with one mount per controller (legacy or
     hybrid: a v2 mount at /sys/fs/cgroup/unified is ignored).  The
     container gets <ctrl>/<parent>/husk-<id> in each of cpu, cpuacct,
     cpuset, memory, devices, freezer, blkio, pids that is mounted.
   - none: rootless without delegation, or no cgroup fs.  Every operation is
     a no-op (freeze fails: pausing needs a cgroup); husk_cgroup_create ()
     prints ONE warning per process when limits were asked.

   Devices: v1 writes devices.deny "a" then one devices.allow per rule; v2
   attaches an eBPF BPF_CGROUP_DEVICE program compiled from the same rules.

   <parent> is "husk" unless --cgroup-parent is given.  The caller records
   husk_cgroup_path () in the container record and reopens it later with
   husk_cgroup_open () (stats, pause, rm).  */
#ifndef HUSK_CGROUP_H
#define HUSK_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"

enum husk_cgroup_mode
{
  HUSK_CGROUP_NONE = 0,
  HUSK_CGROUP_V1 = 1,
  HUSK_CGROUP_V2 = 2,
};

/* Detect once (cached): the backend this process uses.  When the result is
   NONE, *why (if not NULL) tells the reason ("not delegated" ...).  */
enum husk_cgroup_mode husk_cgroup_detect (const char **why);
const char *husk_cgroup_mode_name (enum husk_cgroup_mode mode); /* "v1", "v2", "none" */

/* Device access bits for struct husk_cgroup_device_rule.access.  */
#define HUSK_DEV_READ  1
#define HUSK_DEV_WRITE 2
#define HUSK_DEV_MKNOD 4

/* One device cgroup rule, Docker's --device-cgroup-rule syntax
   "c 1:3 rwm", "b *:* m", "a".  major/minor -1 means "*".  */
struct husk_cgroup_device_rule
{
  bool allow;
  char type; /* 'a', 'b' or 'c' */
  int64_t major;
  int64_t minor;
  unsigned access; /* HUSK_DEV_* bits */
};

/* Limits asked for a container.  0 (or NULL) means "not set" everywhere,
   so a zeroed struct asks for nothing but device confinement.  */
struct husk_cgroup_limits
{
  int64_t memory;             /* bytes (-m/--memory) */
  int64_t memory_reservation; /* bytes (--memory-reservation): soft limit */
  int64_t memory_swap;        /* memory+swap bytes; -1 unlimited (--memory-swap) */
  uint64_t nano_cpus;         /* --cpus in billionths of a CPU: quota = nano_cpus * period / 1e9 */
  int64_t cpu_quota;          /* microseconds per cpu_period (--cpu-quota) */
  uint64_t cpu_period;        /* microseconds; 0 = 100000 */
  uint64_t cpu_shares;        /* v1 cpu.shares, 2..262144; v2 converted to cpu.weight */
  char *cpuset_cpus;          /* "0-2,4" */
  char *cpuset_mems;
  int64_t pids_limit;    /* -1 unlimited */
  uint16_t blkio_weight; /* 10..1000 */
  char *parent;          /* --cgroup-parent: relative path, default "husk" */
  /* Extra rules (--device-cgroup-rule, --device), applied after the
     defaults of husk_cgroup_default_devices ().  */
  struct husk_cgroup_device_rule *devices;
  size_t n_devices;
  bool privileged; /* no device confinement at all */
};

void husk_cgroup_limits_free (struct husk_cgroup_limits *limits);
#define cleanup_cgroup_limits __attribute__ ((cleanup (husk_cgroup_limits_free)))

/* Checks across flags, in Docker's words (--memory-swap without --memory,
   swap below memory, --cpus with --cpu-quota/--cpu-period).  Done by
   husk_cgroup_create () too; call it early to fail before any work.  */
int husk_cgroup_limits_validate (const struct husk_cgroup_limits *limits, husk_error_t *err);

/* True when a resource limit (memory, cpu, pids, blkio, cpuset) is set.  */
bool husk_cgroup_limits_any (const struct husk_cgroup_limits *limits);

/* Parse one CLI flag into LIMITS.  FLAG is the long name without dashes:
   "memory", "memory-reservation", "memory-swap", "cpus", "cpu-quota",
   "cpu-period", "cpu-shares", "cpuset-cpus", "cpuset-mems", "pids-limit",
   "blkio-weight", "device-cgroup-rule", "cgroup-parent".  Errors read
   "invalid value \"1x\" for --memory: <why>".  */
int husk_cgroup_parse_flag (struct husk_cgroup_limits *limits, const char *flag, const char *value,
                            husk_error_t *err);

/* Docker's byte sizes: a number with an optional b, k, m, g (kb, mb ...)
   suffix, case-insensitive, powers of 1024.  FLAG names the flag in the
   error.  */
int husk_cgroup_parse_bytes (const char *flag, const char *value, int64_t *out, husk_error_t *err);

/* "c 1:3 rwm" -> rule (allow = true).  */
int husk_cgroup_parse_device_rule (const char *value, struct husk_cgroup_device_rule *rule,
                                   husk_error_t *err);

/* Append a rule (used by --device, which runtime-core resolves to major/minor).  */
void husk_cgroup_limits_add_device (struct husk_cgroup_limits *limits,
                                    const struct husk_cgroup_device_rule *rule);

/* Docker/runc's default allowed devices, after "deny all": mknod of any
   char or block device (so images can hold device nodes), then rwm on
   null zero full random urandom tty console ptmx pts/<n> net/tun.  */
const struct husk_cgroup_device_rule *husk_cgroup_default_devices (size_t *n);

/* A container's cgroup.  With the none backend every call succeeds and
   does nothing (stats are all zero).  */
struct husk_cgroup;

/* Create the cgroup husk-<id>, write LIMITS and device rules, and move PID
   (if > 0) into it.  On failure nothing is left behind.  */
int husk_cgroup_create (const char *id, const struct husk_cgroup_limits *limits, pid_t pid,
                        struct husk_cgroup **out, husk_error_t *err);

/* Move PID into the cgroup (every controller on v1).  */
int husk_cgroup_attach (struct husk_cgroup *cg, pid_t pid, husk_error_t *err);

/* The cgroup path relative to the hierarchy root ("/husk/husk-<id>"), or
   "" with the none backend: record it to reopen the cgroup later.  */
const char *husk_cgroup_path (const struct husk_cgroup *cg);

/* Reopen an existing cgroup: PATH as returned by husk_cgroup_path (), or
   NULL for the default location of ID.  A missing cgroup is not an error
   (destroy then only succeeds).  */
int husk_cgroup_open (const char *id, const char *path, struct husk_cgroup **out, husk_error_t *err);

void husk_cgroup_free (struct husk_cgroup *cg);
void cleanup_cgroupp (struct husk_cgroup **cg);
#define cleanup_cgroup __attribute__ ((cleanup (cleanup_cgroupp)))

/* Kill every process left (cgroup.kill on v2, else SIGKILL to each pid in
   cgroup.procs, after thawing), then remove the directories, retrying
   while the kernel still holds them busy.  */
int husk_cgroup_destroy (struct husk_cgroup *cg, husk_error_t *err);

/* Number of OOM kills in the cgroup (v1 memory.oom_control oom_kill, or 1
   when only under_oom is reported; v2 memory.events oom_kill).  */
int husk_cgroup_oom_kills (struct husk_cgroup *cg, uint64_t *count, husk_error_t *err);

struct husk_cgroup_stats
{
  uint64_t memory_usage; /* bytes, without page cache where the kernel says (v1 total_inactive_file) */
  uint64_t memory_limit; /* bytes; 0 = unlimited */
  uint64_t memory_max_usage;
  uint64_t cpu_usage_ns;
  uint64_t cpu_user_ns;
  uint64_t cpu_system_ns;
  uint64_t pids_current;
  uint64_t pids_limit; /* 0 = unlimited */
  uint64_t blkio_read_bytes;
  uint64_t blkio_write_bytes;
};

int husk_cgroup_stats (struct husk_cgroup *cg, struct husk_cgroup_stats *stats, husk_error_t *err);

/* Pids in the cgroup (all controllers agree on v1: read from pids or the
   first controller).  *pids is malloc'd.  */
int husk_cgroup_pids (struct husk_cgroup *cg, pid_t **pids, size_t *n, husk_error_t *err);

/* Write the resource limits set in LIMITS (memory, cpu, pids, blkio,
   cpuset; devices untouched) into an existing cgroup: `update` of a
   running container.  A v1 memory limit below the usage the kernel cannot
   reclaim fails with EBUSY.  */
int husk_cgroup_update (struct husk_cgroup *cg, const struct husk_cgroup_limits *limits, husk_error_t *err);

/* Freeze (pause) or thaw (unpause), waiting until the state is reached.  */
int husk_cgroup_freeze (struct husk_cgroup *cg, bool frozen, husk_error_t *err);

#endif
