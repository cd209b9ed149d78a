/* husk: the cgroup v2 backend (unified hierarchy): one directory, limits
   in the controllers enabled from the parent's cgroup.subtree_control,
   devices confined by an eBPF program (v2 has no devices.allow).  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "husk/util.h"
#include "cgroup-internal.h"

static const char *const wanted_controllers[] = { "cpu", "cpuset", "io", "memory", "pids" };

static bool
word_in (const char *list, const char *word)
{
  size_t len = strlen (word);

  for (const char *p = list; (p = strstr (p, word)) != NULL; p += len)
    if ((p == list || p[-1] == ' ') && (p[len] == '\0' || p[len] == ' ' || p[len] == '\n'))
      return true;
  return false;
}

/* Enable in DIR's children every wanted controller DIR has.  Best effort:
   a level we may not write (above a delegated subtree) keeps what it has,
   and a missing controller is reported when a limit needs it.  */
static void
enable_controllers (const char *dir)
{
  cleanup_free char *available = NULL;
  cleanup_free char *enabled = NULL;
  husk_error_t ignored = NULL;

  if (husk_cgroup_read (dir, "cgroup.controllers", &available, &ignored) < 0
      || husk_cgroup_read (dir, "cgroup.subtree_control", &enabled, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return;
    }
  for (size_t i = 0; i < sizeof (wanted_controllers) / sizeof (wanted_controllers[0]); i++)
    if (word_in (available, wanted_controllers[i]) && !word_in (enabled, wanted_controllers[i]))
      {
        cleanup_free char *op = xasprintf ("+%s", wanted_controllers[i]);
        if (husk_cgroup_write (dir, "cgroup.subtree_control", op, &ignored) < 0)
          husk_error_release (&ignored);
      }
}

static int
make_dirs (struct husk_cgroup *cg, husk_error_t *err)
{
  cleanup_free char *dir = xstrdup (husk_cgroup_v2_mount ());
  cleanup_free char *rest = xstrdup (cg->path);
  char *save = NULL;

  for (char *c = strtok_r (rest, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      char *next = xasprintf ("%s/%s", dir, c);
      int ret;

      /* A child gets only what its parent's subtree_control lists.  */
      enable_controllers (dir);
      free (dir);
      dir = next;
      ret = husk_cgroup_mkdir (dir, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

static int
set_value (struct husk_cgroup *cg, const char *file, const char *value, const char *flag, husk_error_t *err)
{
  int ret;

  if (!husk_cgroup_file_exists (cg->dir, file))
    {
      cleanup_free char *controller = xstrndup (file, strcspn (file, "."));
      return husk_make_error (err, ENOTSUP, "cannot apply --%s: the %s controller is not enabled for %s",
                              flag, controller, cg->dir);
    }
  ret = husk_cgroup_write (cg->dir, file, value, err);
  if (ret < 0)
    return husk_error_wrap (err, "cannot apply --%s", flag);
  return 0;
}

static int
set_i64 (struct husk_cgroup *cg, const char *file, int64_t v, const char *flag, husk_error_t *err)
{
  cleanup_free char *s = v < 0 ? xstrdup ("max") : xasprintf ("%" PRId64, v);
  return set_value (cg, file, s, flag, err);
}

static int
set_memory (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int64_t swap = husk_cgroup_memory_swap (l);
  int ret;

  if (l->memory)
    {
      ret = set_i64 (cg, "memory.max", l->memory, "memory", err);
      if (ret < 0)
        return ret;
    }
  /* v2 limits swap alone; Docker's --memory-swap counts memory too.  */
  if (swap && l->memory)
    {
      if (husk_cgroup_file_exists (cg->dir, "memory.swap.max"))
        {
          ret = set_i64 (cg, "memory.swap.max", swap < 0 ? -1 : swap - l->memory, "memory-swap", err);
          if (ret < 0)
            return ret;
        }
      else if (l->memory_swap)
        husk_warn (
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory "
            "limited without swap.");
    }
  if (l->memory_reservation)
    return set_i64 (cg, "memory.low", l->memory_reservation, "memory-reservation", err);
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
      cleanup_free char *s = quota > 0 ? xasprintf ("%" PRId64 " %" PRIu64, quota, period)
                                       : xasprintf ("max %" PRIu64, period);
      ret = set_value (cg, "cpu.max", s, l->nano_cpus ? "cpus" : quota ? "cpu-quota" : "cpu-period", err);
      if (ret < 0)
        return ret;
    }
  if (l->cpu_shares)
    {
      ret = set_i64 (cg, "cpu.weight", (int64_t)husk_cgroup_shares_to_weight (l->cpu_shares), "cpu-shares",
                     err);
      if (ret < 0)
        return ret;
    }
  if (l->cpuset_cpus)
    {
      ret = set_value (cg, "cpuset.cpus", l->cpuset_cpus, "cpuset-cpus", err);
      if (ret < 0)
        return ret;
    }
  if (l->cpuset_mems)
    return set_value (cg, "cpuset.mems", l->cpuset_mems, "cpuset-mems", err);
  return 0;
}

static int
set_pids_io (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int ret;

  if (l->pids_limit)
    {
      ret = set_i64 (cg, "pids.max", l->pids_limit, "pids-limit", err);
      if (ret < 0)
        return ret;
    }
  if (l->blkio_weight)
    {
      cleanup_free char *s = NULL;
      /* BFQ takes the v1 range as is; io.weight is 1..10000 (runc's
         linear conversion).  */
      if (husk_cgroup_file_exists (cg->dir, "io.bfq.weight"))
        return set_i64 (cg, "io.bfq.weight", l->blkio_weight, "blkio-weight", err);
      if (!husk_cgroup_file_exists (cg->dir, "io.weight"))
        {
          husk_warn ("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight "
                     "discarded.");
          return 0;
        }
      s = xasprintf ("default %u", 1 + ((unsigned)l->blkio_weight - 10) * 9999 / 990);
      return set_value (cg, "io.weight", s, "blkio-weight", err);
    }
  return 0;
}

static int
set_devices (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  cleanup_free struct husk_cgroup_device_rule *rules = NULL;
  cleanup_close int dirfd = -1;
  size_t n = 0;

  rules = husk_cgroup_device_rules (l, &n);
  if (n == 0)
    return 0;
  dirfd = open (cg->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dirfd < 0)
    return husk_make_error (err, errno, "open `%s`", cg->dir);
  return husk_cgroup_bpf_devices (dirfd, rules, n, err);
}

static int
v2_create (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int ret = make_dirs (cg, err);

  if (ret == 0)
    ret = set_memory (cg, l, err);
  if (ret == 0)
    ret = set_cpu (cg, l, err);
  if (ret == 0)
    ret = set_pids_io (cg, l, err);
  if (ret == 0)
    ret = set_devices (cg, l, err);
  return ret;
}

static int
v2_update (struct husk_cgroup *cg, const struct husk_cgroup_limits *l, husk_error_t *err)
{
  int ret = set_memory (cg, l, err);

  if (ret == 0)
    ret = set_cpu (cg, l, err);
  if (ret == 0)
    ret = set_pids_io (cg, l, err);
  return ret;
}

static int
v2_attach (struct husk_cgroup *cg, pid_t pid, husk_error_t *err)
{
  cleanup_free char *s = xasprintf ("%d", (int)pid);
  int ret = husk_cgroup_write (cg->dir, "cgroup.procs", s, err);

  if (ret < 0)
    return husk_error_wrap (err, "move process %d into its cgroup", (int)pid);
  return 0;
}

static int
v2_freeze (struct husk_cgroup *cg, bool frozen, husk_error_t *err)
{
  int ret = husk_cgroup_write (cg->dir, "cgroup.freeze", frozen ? "1" : "0", err);

  if (ret < 0)
    return ret;
  for (int attempt = 0; attempt < 1000; attempt++)
    {
      uint64_t state = 0;
      struct timespec ts = { 0, attempt < 10 ? 1000000L : 10000000L };

      ret = husk_cgroup_read_key (cg->dir, "cgroup.events", "frozen", &state, err);
      if (ret < 0)
        return ret;
      if ((state == 1) == frozen)
        return 0;
      nanosleep (&ts, NULL);
    }
  return husk_make_error (err, EBUSY, "the cgroup %s did not %s", cg->path, frozen ? "freeze" : "thaw");
}

/* Remove DIR and any child cgroups (a container with a writable cgroup
   namespace may have made some), deepest first.  */
static int
remove_tree (const char *dir, husk_error_t *err)
{
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  int ret;

  if (d == NULL)
    return errno == ENOENT ? 0 : husk_make_error (err, errno, "open `%s`", dir);
  while ((de = readdir (d)) != NULL)
    if (de->d_type == DT_DIR && strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      {
        cleanup_free char *child = xasprintf ("%s/%s", dir, de->d_name);
        ret = husk_cgroup_kill_procs (child, err);
        if (ret == 0)
          ret = remove_tree (child, err);
        if (ret < 0)
          return ret;
      }
  return husk_cgroup_rmdir (dir, err);
}

static int
v2_destroy (struct husk_cgroup *cg, husk_error_t *err)
{
  husk_error_t ignored = NULL;
  int ret;

  if (access (cg->dir, F_OK) != 0)
    return 0;
  /* cgroup.kill (5.14) kills the whole subtree at once, forks included.  */
  if (husk_cgroup_write (cg->dir, "cgroup.kill", "1", &ignored) < 0)
    husk_error_release (&ignored);
  ret = husk_cgroup_kill_procs (cg->dir, err);
  if (ret < 0)
    return ret;
  return remove_tree (cg->dir, err);
}

static int
v2_oom_kills (struct husk_cgroup *cg, uint64_t *count, husk_error_t *err)
{
  if (!husk_cgroup_file_exists (cg->dir, "memory.events"))
    return 0;
  return husk_cgroup_read_key (cg->dir, "memory.events", "oom_kill", count, err);
}

/* io.stat: "8:0 rbytes=1 wbytes=2 rios=..." lines.  */
static void
io_bytes (struct husk_cgroup *cg, struct husk_cgroup_stats *st)
{
  cleanup_free char *s = NULL;
  husk_error_t ignored = NULL;
  char *save = NULL;

  if (husk_cgroup_read (cg->dir, "io.stat", &s, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return;
    }
  for (char *tok = strtok_r (s, " \n", &save); tok; tok = strtok_r (NULL, " \n", &save))
    if (husk_has_prefix (tok, "rbytes="))
      st->blkio_read_bytes += strtoull (tok + 7, NULL, 10);
    else if (husk_has_prefix (tok, "wbytes="))
      st->blkio_write_bytes += strtoull (tok + 7, NULL, 10);
}

static int
v2_stats (struct husk_cgroup *cg, struct husk_cgroup_stats *st, husk_error_t *err)
{
  uint64_t usec = 0;
  int ret = 0;

  if (husk_cgroup_file_exists (cg->dir, "memory.current"))
    {
      uint64_t inactive = 0;
      ret = husk_cgroup_read_u64 (cg->dir, "memory.current", &st->memory_usage, err);
      if (ret == 0)
        ret = husk_cgroup_read_u64 (cg->dir, "memory.max", &st->memory_limit, err);
      if (ret == 0 && husk_cgroup_file_exists (cg->dir, "memory.peak"))
        ret = husk_cgroup_read_u64 (cg->dir, "memory.peak", &st->memory_max_usage, err);
      if (ret == 0)
        ret = husk_cgroup_read_key (cg->dir, "memory.stat", "inactive_file", &inactive, err);
      if (ret == 0 && inactive < st->memory_usage)
        st->memory_usage -= inactive;
    }
  /* cpu.stat exists without the cpu controller too.  */
  if (ret == 0)
    ret = husk_cgroup_read_key (cg->dir, "cpu.stat", "usage_usec", &usec, err);
  st->cpu_usage_ns = usec * 1000;
  if (ret == 0)
    ret = husk_cgroup_read_key (cg->dir, "cpu.stat", "user_usec", &usec, err);
  st->cpu_user_ns = usec * 1000;
  if (ret == 0)
    ret = husk_cgroup_read_key (cg->dir, "cpu.stat", "system_usec", &usec, err);
  st->cpu_system_ns = usec * 1000;
  if (ret == 0 && husk_cgroup_file_exists (cg->dir, "pids.current"))
    {
      ret = husk_cgroup_read_u64 (cg->dir, "pids.current", &st->pids_current, err);
      if (ret == 0)
        ret = husk_cgroup_read_u64 (cg->dir, "pids.max", &st->pids_limit, err);
    }
  if (ret == 0)
    io_bytes (cg, st);
  return ret;
}

static int
v2_pids (struct husk_cgroup *cg, pid_t **pids, size_t *n, husk_error_t *err)
{
  return husk_cgroup_read_pids (cg->dir, pids, n, err);
}

const struct husk_cgroup_backend husk_cgroup_backend_v2 = {
  .mode = HUSK_CGROUP_V2,
  .create = v2_create,
  .attach = v2_attach,
  .destroy = v2_destroy,
  .oom_kills = v2_oom_kills,
  .stats = v2_stats,
  .pids = v2_pids,
  .freeze = v2_freeze,
  .update = v2_update,
};

/* ---------------------------------------------------------------------- */
/* The device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program.  R1 points to
   struct bpf_cgroup_dev_ctx { access_type = access << 16 | type, major,
   minor }; returning 1 allows, 0 denies.                                  */

struct insns
{
  struct bpf_insn *v;
  size_t n;
};

static void
emit (struct insns *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
  p->v = xrealloc (p->v, (p->n + 1) * sizeof (*p->v));
  p->v[p->n++] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
}

static void
emit_prologue (struct insns *p)
{
  /* R2 = type, R3 = access, R4 = major, R5 = minor.  */
  emit (p, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0);
  emit (p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
  emit (p, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 0, 0);
  emit (p, BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
  emit (p, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0);
  emit (p, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0);
}

/* One rule: every check jumps past the block when it does not match; the
   block ends with "return allow".  Returns false when the rule matches
   everything, so nothing after it can run (the verifier refuses
   unreachable instructions).  */
static bool
emit_rule (struct insns *p, const struct husk_cgroup_device_rule *r)
{
  unsigned acc = ((r->access & HUSK_DEV_READ) ? BPF_DEVCG_ACC_READ : 0)
                 | ((r->access & HUSK_DEV_WRITE) ? BPF_DEVCG_ACC_WRITE : 0)
                 | ((r->access & HUSK_DEV_MKNOD) ? BPF_DEVCG_ACC_MKNOD : 0);
  bool check_type = r->type != 'a';
  bool check_access = acc != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD);
  bool check_major = r->major >= 0, check_minor = r->minor >= 0;
  /* Instructions left in the block after the current one.  */
  int16_t left = (int16_t)((check_type ? 1 : 0) + (check_access ? 3 : 0) + (check_major ? 1 : 0)
                           + (check_minor ? 1 : 0) + 2);

  if (check_type)
    emit (p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, --left,
          r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
  if (check_access)
    {
      /* Deny unless every access asked is in the rule: (R3 & acc) == R3.  */
      emit (p, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
      emit (p, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t)acc);
      left -= 2;
      emit (p, BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, --left, 0);
    }
  if (check_major)
    emit (p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, --left, (int32_t)r->major);
  if (check_minor)
    emit (p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, --left, (int32_t)r->minor);
  emit (p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
  emit (p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return check_type || check_access || check_major || check_minor;
}

static int
sys_bpf (int cmd, union bpf_attr *attr)
{
  return (int)syscall (__NR_bpf, cmd, attr, sizeof (*attr));
}

static int
bpf_load (struct insns *p, husk_error_t *err)
{
  union bpf_attr attr;
  cleanup_free char *log = NULL;
  int fd;

  memset (&attr, 0, sizeof (attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)p->v;
  attr.insn_cnt = (uint32_t)p->n;
  attr.license = (uint64_t)(uintptr_t) "GPL";
  fd = sys_bpf (BPF_PROG_LOAD, &attr);
  if (fd >= 0)
    return fd;
  if (errno == EPERM || errno == ENOSYS)
    return husk_make_error (err, errno, "load the eBPF device filter");
  /* Load again with the verifier's log so the error says why.  */
  log = xzalloc (65536);
  attr.log_level = 1;
  attr.log_buf = (uint64_t)(uintptr_t)log;
  attr.log_size = 65536;
  fd = sys_bpf (BPF_PROG_LOAD, &attr);
  if (fd < 0)
    return husk_make_error (err, errno, "load the eBPF device filter: %s", log);
  return fd;
}

int
husk_cgroup_bpf_devices (int dirfd, const struct husk_cgroup_device_rule *rules, size_t n, husk_error_t *err)
{
  struct insns p = { NULL, 0 };
  cleanup_close int fd = -1;
  union bpf_attr attr;
  bool open_end = true;

  emit_prologue (&p);
  /* The last matching rule wins (as writes to v1 devices.allow/deny):
     test the rules from the last, first match returns.  */
  for (size_t i = n; i > 0 && open_end; i--)
    open_end = emit_rule (&p, &rules[i - 1]);
  if (open_end)
    {
      emit (&p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
      emit (&p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
  fd = bpf_load (&p, err);
  free (p.v);
  if (fd < 0)
    return fd;
  memset (&attr, 0, sizeof (attr));
  attr.target_fd = (uint32_t)dirfd;
  attr.attach_bpf_fd = (uint32_t)fd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf (BPF_PROG_ATTACH, &attr) < 0)
    return husk_make_error (err, errno, "attach the eBPF device filter");
  return 0;
}
