/* husk: what cgroup.c shares with its backends cgroup-v1.c and cgroup-v2.c
   (not part of the public interface: see include/husk/cgroup.h).  */
#ifndef HUSK_CGROUP_INTERNAL_H
#define HUSK_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/cgroup.h"
#include "husk/error.h"

struct husk_cgroup_backend;

struct husk_cgroup
{
  const struct husk_cgroup_backend *backend;
  char *id;
  /* Relative to the hierarchy root, "/husk/husk-<id>"; "" for none.  */
  char *path;
  /* v2: the absolute directory, mount point + path.  */
  char *dir;
};

/* One backend, chosen once by detection (crun's cgroup manager table).  */
struct husk_cgroup_backend
{
  enum husk_cgroup_mode mode;
  /* Make the directories of cg->path (its parents too) and write limits.  */
  int (*create) (struct husk_cgroup *cg, const struct husk_cgroup_limits *limits, husk_error_t *err);
  int (*attach) (struct husk_cgroup *cg, pid_t pid, husk_error_t *err);
  /* Kill what is left and remove the directories.  */
  int (*destroy) (struct husk_cgroup *cg, husk_error_t *err);
  int (*oom_kills) (struct husk_cgroup *cg, uint64_t *count, husk_error_t *err);
  int (*stats) (struct husk_cgroup *cg, struct husk_cgroup_stats *stats, husk_error_t *err);
  int (*pids) (struct husk_cgroup *cg, pid_t **pids, size_t *n, husk_error_t *err);
  int (*freeze) (struct husk_cgroup *cg, bool frozen, husk_error_t *err);
  /* Write the resource limits set in LIMITS (update of a running
     container); devices are left alone.  */
  int (*update) (struct husk_cgroup *cg, const struct husk_cgroup_limits *limits, husk_error_t *err);
};

extern const struct husk_cgroup_backend husk_cgroup_backend_v1;
extern const struct husk_cgroup_backend husk_cgroup_backend_v2;

#define HUSK_CGROUP_ROOT "/sys/fs/cgroup"

/* v2: the cgroup2 mount point in use (HUSK_CGROUP_ROOT, or the one set by
   husk_cgroup_force_backend).  */
const char *husk_cgroup_v2_mount (void);

/* For tests: use MODE from now on, with the v2 hierarchy mounted at
   V2_MOUNT (e.g. the empty unified hierarchy of a hybrid host).  */
void husk_cgroup_force_backend (enum husk_cgroup_mode mode, const char *v2_mount);
/* For tests: forget the detected (or forced) backend.  */
void husk_cgroup_redetect (void);

/* File helpers, DIR/FILE.  Errors name the file.  */
int husk_cgroup_write (const char *dir, const char *file, const char *value, husk_error_t *err);
/* Read a whole small file, trailing newline removed.  */
int husk_cgroup_read (const char *dir, const char *file, char **out, husk_error_t *err);
/* Read one u64; "max" and v1's "unlimited" huge values read as 0.  */
int husk_cgroup_read_u64 (const char *dir, const char *file, uint64_t *out, husk_error_t *err);
/* From a "key value" file (memory.stat, memory.events ...): 0 if missing.  */
int husk_cgroup_read_key (const char *dir, const char *file, const char *key, uint64_t *out,
                          husk_error_t *err);
bool husk_cgroup_file_exists (const char *dir, const char *file);
/* Pids from DIR/cgroup.procs.  */
int husk_cgroup_read_pids (const char *dir, pid_t **pids, size_t *n, husk_error_t *err);
/* Send SIGKILL to every pid in DIR/cgroup.procs until it is empty.  */
int husk_cgroup_kill_procs (const char *dir, husk_error_t *err);
/* rmdir, retrying while the kernel still reports EBUSY (exiting tasks);
   ENOENT is success.  */
int husk_cgroup_rmdir (const char *dir, husk_error_t *err);
/* mkdir; EEXIST is success.  Returns 1 when it was created.  */
int husk_cgroup_mkdir (const char *dir, husk_error_t *err);

/* Docker's default rules preceded by "deny all" and followed by the
   container's own: the list that v1 writes in order and v2 compiles.  */
struct husk_cgroup_device_rule *husk_cgroup_device_rules (const struct husk_cgroup_limits *limits, size_t *n);

/* cpu.shares (2..262144) to cpu.weight (1..10000), as crun and runc do
   now: a quadratic in log2 so that the default 1024 maps to 100.  */
uint64_t husk_cgroup_shares_to_weight (uint64_t shares);

/* The CPU quota asked, from --cpus or --cpu-quota, and its period.  */
void husk_cgroup_cpu_quota (const struct husk_cgroup_limits *limits, int64_t *quota, uint64_t *period);

/* v1 memory+swap to write (bytes, -1 unlimited, 0 leave alone): Docker
   gives swap equal to memory when only --memory is set.  */
int64_t husk_cgroup_memory_swap (const struct husk_cgroup_limits *limits);

/* v2 device filter: compile RULES into a BPF_PROG_TYPE_CGROUP_DEVICE
   program and attach it to DIRFD.  */
int husk_cgroup_bpf_devices (int dirfd, const struct husk_cgroup_device_rule *rules, size_t n,
                             husk_error_t *err);

#endif
