/* husk: the cgroup v1 backend (legacy and hybrid hosts): one directory per
   controller hierarchy, /sys/fs/cgroup/<controller><path>.  */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "husk/util.h"
#include "cgroup-internal.h"

static const char *const controllers[]
    = { "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids" };
#define N_CONTROLLERS (sizeof (controllers) / sizeof (controllers[0]))

/* Whether /sys/fs/cgroup/<controller> is a mounted v1 hierarchy; checked
   once, since hierarchies do not come and go under a running husk.  */
static bool
controller_mounted (size_t i)
{
  static int state[N_CONTROLLERS]; /* 0 unknown, 1 yes, 2 no */

  if (state[i] == 0)
    {
      cleanup_free char *mnt = xasprintf ("%s/%s", HUSK_CGROUP_ROOT, controllers[i]);
      struct statfs sfs;
      state[i] = statfs (mnt, &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC ? 1 : 2;
    }
  return state[i] == 1;
}

static int
controller_index (const char *name)
{
  for (size_t i = 0; i < N_CONTROLLERS; i++)
    if (strcmp (controllers[i], name) == 0)
      return controller_mounted (i) ? (int)i : -1;
  return -1;
}

/* The container's directory in CONTROLLER, or NULL when not mounted.  */
static char *
ctrl_dir (struct husk_cgroup *cg, const char *controller)
{
  if (controller_index (controller) < 0)
    return NULL;
  return xasprintf ("%s/%s%s", HUSK_CGROUP_ROOT, controller, cg->path);
}

/* A new cpuset cgroup starts with empty cpus and mems, and no task can
   join it until they are set: copy them from the parent.  */
static int
cpuset_inherit (const char *dir, husk_error_t *err)
{
  static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
  cleanup_free char *parent = xstrdup (dir);

  *strrchr (parent, '/') = '\0';
  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *cur = NULL;
      cleanup_free char *val = NULL;
      int ret = husk_cgroup_read (dir, files[i], &cur, err);
      if (ret < 0)
        return ret;
      if (*cur)
        continue;
      ret = husk_cgroup_read (parent, files[i], &val, err);
      if (ret < 0)
        return ret;
      ret = husk_cgroup_write (dir, files[i], val, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* mkdir -p of cg->path in one hierarchy.  */
static int
make_dirs (const char *controller, const char *path, husk_error_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/%s", HUSK_CGROUP_ROOT, controller);
  cleanup_free char *rest = xstrdup (path);
  char *save = NULL;

  for (char *c = strtok_r (rest, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      char *next = xasprintf ("%s/%s", dir, c);
      int ret;

      free (dir);
      dir = next;
      ret = husk_cgroup_mkdir (dir, err);
      if (ret < 0)
        return ret;
      if (strcmp (controller, "cpuset") == 0)
        {
          ret = cpuset_inherit (dir, err);
          if (ret < 0)
            return ret;
        }
    }
  return 0;
}

/* Write FILE in CONTROLLER, the error naming FLAG.  */
static int
set_value (struct husk_cgroup *cg, const char *controller, const char *file, const char *value,
           const char *flag, husk_error_t *err)
{
  cleanup_free char *dir = ctrl_dir (cg, controller);
  int ret;

  if (dir == NULL)
    return husk_make_error (err, ENOTSUP, "cannot apply --%s: the %s cgroup controller is not mounted", flag,
                            controller);
  ret = husk_cgroup_write (dir, file, value, err);
  if (ret < 0)
    return husk_error_wrap (err, "cannot apply --%s", flag);
  return 0;
}

static int
set_i64 (struct husk_cgroup *cg, const char *controller, const char *file, int64_t v, const char *flag,
         husk_error_t *err)
{
  cleanup_free char *s = xasprintf ("%" PRId64, v);
  return set_value (cg, controller, file, s, flag, err);
}

static int
set_memory (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int64_t swap = husk_cgroup_memory_swap (l);
  cleanup_free char *dir = ctrl_dir (cg, "memory");
  int ret;

  if (l->memory)
    {
      ret = set_i64 (cg, "memory", "memory.limit_in_bytes", l->memory, "memory", err);
      if (ret < 0)
        return ret;
    }
  if (swap && dir)
    {
      if (husk_cgroup_file_exists (dir, "memory.memsw.limit_in_bytes"))
        {
          ret = set_i64 (cg, "memory", "memory.memsw.limit_in_bytes", swap, "memory-swap", err);
          if (ret < 0)
            return ret;
        }
      else if (l->memory_swap)
        husk_warn (
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory "
            "limited without swap.");
    }
  if (l->memory_reservation)
    return set_i64 (cg, "memory", "memory.soft_limit_in_bytes", l->memory_reservation, "memory-reservation",
                    err);
  return 0;
}

static int
set_cpu (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int64_t quota;
  uint64_t period;
  int ret;

  husk_cgroup_cpu_quota (l, &quota, &period);
  if (quota || l->cpu_period)
    {
      ret = set_i64 (cg, "cpu", "cpu.cfs_period_us", (int64_t)period, l->nano_cpus ? "cpus" : "cpu-period",
                     err);
      if (ret == 0 && quota)
        ret = set_i64 (cg, "cpu", "cpu.cfs_quota_us", quota, l->nano_cpus ? "cpus" : "cpu-quota", err);
      if (ret < 0)
        return ret;
    }
  if (l->cpu_shares)
    {
      ret = set_i64 (cg, "cpu", "cpu.shares", (int64_t)l->cpu_shares, "cpu-shares", err);
      if (ret < 0)
        return ret;
    }
  if (l->cpuset_cpus)
    {
      ret = set_value (cg, "cpuset", "cpuset.cpus", l->cpuset_cpus, "cpuset-cpus", err);
      if (ret < 0)
        return ret;
    }
  if (l->cpuset_mems)
    return set_value (cg, "cpuset", "cpuset.mems", l->cpuset_mems, "cpuset-mems", err);
  return 0;
}

static int
set_pids_blkio (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  cleanup_free char *blkio = ctrl_dir (cg, "blkio");
  int ret;

  if (l->pids_limit)
    {
      ret = l->pids_limit < 0 ? set_value (cg, "pids", "pids.max", "max", "pids-limit", err)
                              : set_i64 (cg, "pids", "pids.max", l->pids_limit, "pids-limit", err);
      if (ret < 0)
        return ret;
    }
  if (l->blkio_weight)
    {
      /* CFQ had blkio.weight; with BFQ the file is blkio.bfq.weight.  */
      const char *file = blkio && husk_cgroup_file_exists (blkio, "blkio.weight")       ? "blkio.weight"
                         : blkio && husk_cgroup_file_exists (blkio, "blkio.bfq.weight") ? "blkio.bfq.weight"
                                                                                        : NULL;
      if (file == NULL)
        husk_warn (
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
      else
        return set_i64 (cg, "blkio", file, l->blkio_weight, "blkio-weight", err);
    }
  return 0;
}

static char *
device_rule_string (const struct husk_cgroup_device_rule *r)
{
  cleanup_free char *major = r->major < 0 ? xstrdup ("*") : xasprintf ("%" PRId64, r->major);
  cleanup_free char *minor = r->minor < 0 ? xstrdup ("*") : xasprintf ("%" PRId64, r->minor);

  return xasprintf ("%c %s:%s %s%s%s", r->type, major, minor, (r->access & HUSK_DEV_READ) ? "r" : "",
                    (r->access & HUSK_DEV_WRITE) ? "w" : "", (r->access & HUSK_DEV_MKNOD) ? "m" : "");
}

static int
set_devices (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  cleanup_free char *dir = ctrl_dir (cg, "devices");
  cleanup_free struct husk_cgroup_device_rule *rules = NULL;
  size_t n = 0;

  rules = husk_cgroup_device_rules (l, &n);
  if (n == 0)
    return 0;
  if (dir == NULL)
    return husk_make_error (err, ENOTSUP,
                            "cannot confine devices: the devices cgroup controller is not mounted");
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *s = device_rule_string (&rules[i]);
      int ret = husk_cgroup_write (dir, rules[i].allow ? "devices.allow" : "devices.deny", s, err);
      if (ret < 0)
        return husk_error_wrap (err, "device cgroup rule `%s`", s);
    }
  return 0;
}

static int
v1_create (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int ret;

  for (size_t i = 0; i < N_CONTROLLERS; i++)
    if (controller_mounted (i))
      {
        ret = make_dirs (controllers[i], cg->path, err);
        if (ret < 0)
          return ret;
      }
  ret = set_memory (cg, l, err);
  if (ret == 0)
    ret = set_cpu (cg, l, err);
  if (ret == 0)
    ret = set_pids_blkio (cg, l, err);
  if (ret == 0)
    ret = set_devices (cg, l, err);
  return ret;
}

/* The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes:
   raising the memory limit above the current memsw limit needs memsw
   raised first (set_memory writes memory first, right when lowering).  */
static int
v1_update (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  cleanup_free char *mem = ctrl_dir (cg, "memory");
  int64_t swap = husk_cgroup_memory_swap (l);
  int ret;

  if (l->memory && mem && husk_cgroup_file_exists (mem, "memory.memsw.limit_in_bytes"))
    {
      husk_error_t e = NULL;
      uint64_t cur = 0;

      if (husk_cgroup_read_u64 (mem, "memory.memsw.limit_in_bytes", &cur, &e) == 0 && cur != 0
          && (uint64_t)l->memory > cur)
        {
          ret = set_i64 (cg, "memory", "memory.memsw.limit_in_bytes", swap > 0 ? swap : -1, "memory-swap",
                         err);
          if (ret < 0)
            return ret;
        }
      husk_error_release (&e);
    }
  ret = set_memory (cg, l, err);
  if (ret == 0)
    ret = set_cpu (cg, l, err);
  if (ret == 0)
    ret = set_pids_blkio (cg, l, err);
  return ret;
}

static int
v1_attach (struct husk_cgroup *cg, pid_t pid, husk_error_t *err)
{
  cleanup_free char *s = xasprintf ("%d", (int)pid);

  for (size_t i = 0; i < N_CONTROLLERS; i++)
    if (controller_mounted (i))
      {
        cleanup_free char *dir = ctrl_dir (cg, controllers[i]);
        int ret = husk_cgroup_write (dir, "cgroup.procs", s, err);
        if (ret < 0)
          return husk_error_wrap (err, "move process %d into its cgroup", (int)pid);
      }
  return 0;
}

static int
v1_freeze (struct husk_cgroup *cg, bool frozen, husk_error_t *err)
{
  cleanup_free char *dir = ctrl_dir (cg, "freezer");
  const char *want = frozen ? "FROZEN" : "THAWED";

  if (dir == NULL)
    return husk_make_error (err, ENOTSUP, "the freezer cgroup controller is not mounted");
  /* The state goes through FREEZING; writing again retries tasks that
     were busy in the kernel (what runc does).  */
  for (int attempt = 0; attempt < 1000; attempt++)
    {
      cleanup_free char *state = NULL;
      struct timespec ts = { 0, attempt < 10 ? 1000000L : 10000000L };
      int ret = husk_cgroup_write (dir, "freezer.state", want, err);

      if (ret == 0)
        ret = husk_cgroup_read (dir, "freezer.state", &state, err);
      if (ret < 0)
        return ret;
      if (strcmp (state, want) == 0)
        return 0;
      nanosleep (&ts, NULL);
    }
  return husk_make_error (err, EBUSY, "the cgroup %s did not reach the state %s", cg->path, want);
}

static int
v1_destroy (struct husk_cgroup *cg, husk_error_t *err)
{
  cleanup_free char *freezer = ctrl_dir (cg, "freezer");
  husk_error_t ignored = NULL;
  int ret = 0;

  /* Freeze so nothing forks while being killed, kill, thaw so the
     SIGKILLs are delivered.  Each freezer write costs milliseconds, so
     an empty cgroup (the usual case: the container has exited) skips it.  */
  if (freezer && access (freezer, F_OK) == 0)
    {
      cleanup_free pid_t *pids = NULL;
      size_t n = 0;
      if (husk_cgroup_read_pids (freezer, &pids, &n, &ignored) == 0 && n > 0
          && v1_freeze (cg, true, &ignored) == 0)
        {
          free (pids);
          pids = NULL;
          if (husk_cgroup_read_pids (freezer, &pids, &n, &ignored) == 0)
            for (size_t i = 0; i < n; i++)
              kill (pids[i], SIGKILL);
          husk_error_release (&ignored);
          v1_freeze (cg, false, &ignored);
        }
    }
  husk_error_release (&ignored);
  for (size_t i = 0; i < N_CONTROLLERS; i++)
    if (controller_mounted (i))
      {
        cleanup_free char *dir = ctrl_dir (cg, controllers[i]);
        int r = husk_cgroup_kill_procs (dir, ret < 0 ? &ignored : err);
        if (r == 0)
          r = husk_cgroup_rmdir (dir, ret < 0 ? &ignored : err);
        if (r < 0 && ret == 0)
          ret = r;
        husk_error_release (&ignored);
      }
  return ret;
}

static int
v1_oom_kills (struct husk_cgroup *cg, uint64_t *count, husk_error_t *err)
{
  cleanup_free char *dir = ctrl_dir (cg, "memory");
  uint64_t under = 0;
  int ret;

  if (dir == NULL)
    return 0;
  ret = husk_cgroup_read_key (dir, "memory.oom_control", "oom_kill", count, err);
  if (ret == 0)
    ret = husk_cgroup_read_key (dir, "memory.oom_control", "under_oom", &under, err);
  /* Kernels before 4.13 have no oom_kill counter.  */
  if (ret == 0 && *count == 0 && under)
    *count = 1;
  return ret;
}

/* blkio.throttle.io_service_bytes_recursive: "8:0 Read 123" lines.  */
static void
blkio_bytes (const char *dir, struct husk_cgroup_stats *st)
{
  cleanup_free char *s = NULL;
  husk_error_t ignored = NULL;
  char *save = NULL;

  if (husk_cgroup_read (dir, "blkio.throttle.io_service_bytes_recursive", &s, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return;
    }
  for (char *line = strtok_r (s, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char op[16];
      unsigned long long v;
      if (sscanf (line, "%*u:%*u %15s %llu", op, &v) != 2)
        continue;
      if (strcmp (op, "Read") == 0)
        st->blkio_read_bytes += v;
      else if (strcmp (op, "Write") == 0)
        st->blkio_write_bytes += v;
    }
}

static int
v1_stats (struct husk_cgroup *cg, struct husk_cgroup_stats *st, husk_error_t *err)
{
  cleanup_free char *mem = ctrl_dir (cg, "memory");
  cleanup_free char *acct = ctrl_dir (cg, "cpuacct");
  cleanup_free char *pids = ctrl_dir (cg, "pids");
  cleanup_free char *blkio = ctrl_dir (cg, "blkio");
  int ret = 0;

  if (mem)
    {
      uint64_t inactive = 0;
      ret = husk_cgroup_read_u64 (mem, "memory.usage_in_bytes", &st->memory_usage, err);
      if (ret == 0)
        ret = husk_cgroup_read_u64 (mem, "memory.limit_in_bytes", &st->memory_limit, err);
      if (ret == 0)
        ret = husk_cgroup_read_u64 (mem, "memory.max_usage_in_bytes", &st->memory_max_usage, err);
      /* As docker stats does: page cache that can be dropped is not usage.  */
      if (ret == 0)
        ret = husk_cgroup_read_key (mem, "memory.stat", "total_inactive_file", &inactive, err);
      if (ret == 0 && inactive < st->memory_usage)
        st->memory_usage -= inactive;
    }
  if (ret == 0 && acct)
    {
      long hz = sysconf (_SC_CLK_TCK);
      uint64_t user = 0, sys = 0;
      ret = husk_cgroup_read_u64 (acct, "cpuacct.usage", &st->cpu_usage_ns, err);
      if (ret == 0)
        ret = husk_cgroup_read_key (acct, "cpuacct.stat", "user", &user, err);
      if (ret == 0)
        ret = husk_cgroup_read_key (acct, "cpuacct.stat", "system", &sys, err);
      if (hz > 0)
        {
          st->cpu_user_ns = user * (1000000000ULL / (uint64_t)hz);
          st->cpu_system_ns = sys * (1000000000ULL / (uint64_t)hz);
        }
    }
  if (ret == 0 && pids)
    {
      ret = husk_cgroup_read_u64 (pids, "pids.current", &st->pids_current, err);
      if (ret == 0)
        ret = husk_cgroup_read_u64 (pids, "pids.max", &st->pids_limit, err);
    }
  if (ret == 0 && blkio)
    blkio_bytes (blkio, st);
  return ret;
}

static int
v1_pids (struct husk_cgroup *cg, pid_t **pids, size_t *n, husk_error_t *err)
{
  static const char *const order[] = { "pids", "memory", "freezer", "devices", "cpu" };

  for (size_t i = 0; i < sizeof (order) / sizeof (order[0]); i++)
    {
      cleanup_free char *dir = ctrl_dir (cg, order[i]);
      if (dir)
        return husk_cgroup_read_pids (dir, pids, n, err);
    }
  return 0;
}

const struct husk_cgroup_backend husk_cgroup_backend_v1 = {
  .mode = HUSK_CGROUP_V1,
  .create = v1_create,
  .attach = v1_attach,
  .destroy = v1_destroy,
  .oom_kills = v1_oom_kills,
  .stats = v1_stats,
  .pids = v1_pids,
  .freeze = v1_freeze,
  .update = v1_update,
};
