/* Unit tests for runtime/cgroup*.c: limit parsing (any user), and as root
   on this hybrid host: detection, a real v1 cgroup per test (limits
   written, a child attached, pids limit, OOM, device rules, freeze,
   destroy), and the v2 eBPF device filter on the empty unified hierarchy
   at /sys/fs/cgroup/unified.  Cgroups go under a parent of their own,
   "husk-unit-test", so runs never touch husk's real ones.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include <cmocka.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/util.h"
#include "../../src/runtime/cgroup-internal.h"

#define TEST_PARENT "husk-unit-test"

static const char *const v1_controllers[]
    = { "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids" };

/* ---------------------------------------------------------------------- */
/* Parsing.                                                                */

static void
parse_ok (struct husk_cgroup_limits *l, const char *flag, const char *value)
{
  husk_error_t err = NULL;
  int ret = husk_cgroup_parse_flag (l, flag, value, &err);
  if (ret < 0)
    fail_msg ("--%s %s: %s", flag, value, err->msg);
}

/* The error message, which must start with PREFIX.  */
static void
parse_fails (const char *flag, const char *value, const char *prefix)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  husk_error_t err = NULL;

  assert_true (husk_cgroup_parse_flag (&l, flag, value, &err) < 0);
  assert_non_null (err);
  if (!husk_has_prefix (err->msg, prefix))
    fail_msg ("--%s %s: got \"%s\", want a message starting with \"%s\"", flag, value, err->msg, prefix);
  husk_error_release (&err);
}

static void
test_parse_memory (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  static const struct
  {
    const char *in;
    int64_t out;
  } ok[] = {
    { "512m", 512LL << 20 }, { "1g", 1LL << 30 },   { "1.5g", 3LL << 29 }, { "1024", 1024 },
    { "10 MB", 10LL << 20 }, { "1GiB", 1LL << 30 }, { "8K", 8192 },        { "100b", 100 },
  };

  for (size_t i = 0; i < sizeof (ok) / sizeof (ok[0]); i++)
    {
      husk_error_t err = NULL;
      int64_t v = -5;
      assert_int_equal (husk_cgroup_parse_bytes ("memory", ok[i].in, &v, &err), 0);
      assert_int_equal (v, ok[i].out);
    }
  parse_ok (&l, "memory", "64m");
  assert_int_equal (l.memory, 64LL << 20);
  parse_ok (&l, "memory-swap", "-1");
  assert_int_equal (l.memory_swap, -1);
  parse_ok (&l, "memory-swap", "128m");
  assert_int_equal (l.memory_swap, 128LL << 20);
  parse_ok (&l, "memory-reservation", "32m");
  assert_int_equal (l.memory_reservation, 32LL << 20);
  assert_true (husk_cgroup_limits_any (&l));

  parse_fails ("memory", "1x", "invalid value \"1x\" for --memory: ");
  parse_fails ("memory", "", "invalid value \"\" for --memory");
  parse_fails ("memory", "-5m", "invalid value \"-5m\" for --memory");
  parse_fails ("memory", "1k", "invalid value \"1k\" for --memory: the minimum memory limit is 6MB");
  parse_fails ("memory", "99999999999g", "invalid value \"99999999999g\" for --memory");
  parse_fails ("memory-swap", "-2", "invalid value \"-2\" for --memory-swap");
}

static void
test_parse_cpu (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  int64_t quota;
  uint64_t period;

  parse_ok (&l, "cpus", "0.5");
  assert_int_equal (l.nano_cpus, 500000000ULL);
  husk_cgroup_cpu_quota (&l, &quota, &period);
  assert_int_equal (quota, 50000);
  assert_int_equal (period, 100000);
  parse_ok (&l, "cpu-shares", "512");
  assert_int_equal (l.cpu_shares, 512);
  parse_ok (&l, "cpu-shares", "1");
  assert_int_equal (l.cpu_shares, 2);
  parse_ok (&l, "cpuset-cpus", "0");
  assert_string_equal (l.cpuset_cpus, "0");
  parse_ok (&l, "cpuset-mems", "0-1,3");
  assert_string_equal (l.cpuset_mems, "0-1,3");

  assert_int_equal (husk_cgroup_shares_to_weight (0), 0);
  assert_int_equal (husk_cgroup_shares_to_weight (2), 1);
  assert_int_equal (husk_cgroup_shares_to_weight (1024), 100);
  assert_int_equal (husk_cgroup_shares_to_weight (262144), 10000);

  parse_fails ("cpus", "abc", "invalid value \"abc\" for --cpus");
  parse_fails ("cpus", "0.001", "invalid value \"0.001\" for --cpus: range of CPUs is from 0.01");
  parse_fails ("cpus", "100000", "invalid value \"100000\" for --cpus: range of CPUs");
  parse_fails ("cpu-shares", "-3", "invalid value \"-3\" for --cpu-shares");
  parse_fails ("cpu-shares", "ten", "invalid value \"ten\" for --cpu-shares: expected an integer");
  parse_fails ("cpu-period", "10", "invalid value \"10\" for --cpu-period: CPU cfs period");
  parse_fails ("cpu-quota", "10", "invalid value \"10\" for --cpu-quota: CPU cfs quota");
  parse_fails ("cpuset-cpus", "0-", "invalid value \"0-\" for --cpuset-cpus");
  parse_fails ("cpuset-cpus", "a", "invalid value \"a\" for --cpuset-cpus");
  parse_fails ("cpuset-mems", "1,,2", "invalid value \"1,,2\" for --cpuset-mems");
}

static void
test_parse_pids_blkio (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };

  assert_false (husk_cgroup_limits_any (&l));
  parse_ok (&l, "pids-limit", "100");
  assert_int_equal (l.pids_limit, 100);
  parse_ok (&l, "pids-limit", "0");
  assert_int_equal (l.pids_limit, -1);
  parse_ok (&l, "pids-limit", "-1");
  assert_int_equal (l.pids_limit, -1);
  parse_ok (&l, "blkio-weight", "500");
  assert_int_equal (l.blkio_weight, 500);
  parse_ok (&l, "cgroup-parent", "/my/parent");
  assert_string_equal (l.parent, "my/parent");

  parse_fails ("pids-limit", "x", "invalid value \"x\" for --pids-limit");
  parse_fails ("blkio-weight", "5", "invalid value \"5\" for --blkio-weight: range is 10 to 1000");
  parse_fails ("blkio-weight", "1001", "invalid value \"1001\" for --blkio-weight");
  parse_fails ("cgroup-parent", "a/../b", "invalid value \"a/../b\" for --cgroup-parent");
  parse_fails ("no-such-flag", "1", "unknown cgroup flag --no-such-flag");
}

static void
test_parse_devices (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  struct husk_cgroup_device_rule r;
  husk_error_t err = NULL;
  cleanup_free struct husk_cgroup_device_rule *rules = NULL;
  size_t n = 0, n_default = 0;

  assert_int_equal (husk_cgroup_parse_device_rule ("c 1:3 rwm", &r, &err), 0);
  assert_true (r.allow);
  assert_int_equal (r.type, 'c');
  assert_int_equal (r.major, 1);
  assert_int_equal (r.minor, 3);
  assert_int_equal (r.access, HUSK_DEV_READ | HUSK_DEV_WRITE | HUSK_DEV_MKNOD);
  assert_int_equal (husk_cgroup_parse_device_rule ("b *:* m", &r, &err), 0);
  assert_int_equal (r.major, -1);
  assert_int_equal (r.minor, -1);
  assert_int_equal (r.access, HUSK_DEV_MKNOD);
  assert_int_equal (husk_cgroup_parse_device_rule ("a", &r, &err), 0);
  assert_int_equal (r.type, 'a');

  parse_fails ("device-cgroup-rule", "x 1:3 rwm",
               "invalid value \"x 1:3 rwm\" for --device-cgroup-rule: expected");
  parse_fails ("device-cgroup-rule", "c 1:3 rwx", "invalid value \"c 1:3 rwx\" for --device-cgroup-rule");
  parse_fails ("device-cgroup-rule", "c 1:3", "invalid value \"c 1:3\" for --device-cgroup-rule");
  parse_fails ("device-cgroup-rule", "c 1 rw", "invalid value \"c 1 rw\" for --device-cgroup-rule");
  parse_fails ("device-cgroup-rule", "c 1:3 rr", "invalid value \"c 1:3 rr\" for --device-cgroup-rule");

  /* deny all, the defaults, then the container's rules, in that order.  */
  parse_ok (&l, "device-cgroup-rule", "c 1:11 r");
  husk_cgroup_default_devices (&n_default);
  rules = husk_cgroup_device_rules (&l, &n);
  assert_int_equal (n, 1 + n_default + 1);
  assert_false (rules[0].allow);
  assert_int_equal (rules[0].type, 'a');
  assert_int_equal (rules[n - 1].minor, 11);
  l.privileged = true;
  free (rules);
  rules = husk_cgroup_device_rules (&l, &n);
  assert_int_equal (n, 0);
}

static void
validate_fails (struct husk_cgroup_limits *l, const char *msg)
{
  husk_error_t err = NULL;
  assert_true (husk_cgroup_limits_validate (l, &err) < 0);
  assert_string_equal (err->msg, msg);
  husk_error_release (&err);
}

static void
test_validate (void **state)
{
  struct husk_cgroup_limits l = { 0 };
  husk_error_t err = NULL;

  l.memory_swap = 64 << 20;
  validate_fails (&l, "You should always set the Memory limit when using Memoryswap limit, see usage");
  l.memory = 128 << 20;
  validate_fails (&l, "Minimum memoryswap limit should be larger than memory limit, see usage");
  l.memory_swap = -1;
  assert_int_equal (husk_cgroup_limits_validate (&l, &err), 0);
  l.nano_cpus = 1000000000;
  l.cpu_quota = 50000;
  validate_fails (&l, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  l.cpu_quota = 0;
  l.cpu_period = 50000;
  validate_fails (&l, "Conflicting options: Nano CPUs and CPU Period cannot both be set");

  /* Docker's default: swap as large as memory, so memsw = 2 * memory.  */
  memset (&l, 0, sizeof (l));
  l.memory = 10 << 20;
  assert_int_equal (husk_cgroup_memory_swap (&l), 20 << 20);
}

/* ---------------------------------------------------------------------- */
/* Real cgroups (root).                                                    */

static bool
is_hybrid_or_v1 (void)
{
  struct statfs sfs;
  return statfs ("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

#define SKIP_UNLESS_ROOT()                                                                                   \
  do                                                                                                         \
    {                                                                                                        \
      if (geteuid () != 0 || !is_hybrid_or_v1 ())                                                            \
        {                                                                                                    \
          skip ();                                                                                           \
          return;                                                                                            \
        }                                                                                                    \
    }                                                                                                        \
  while (0)

/* A child that waits for a byte on a pipe (so it is in its cgroup before
   it runs), then runs FN and exits with its result.  */
struct child
{
  pid_t pid;
  int go;
};

static struct child
child_start (int (*fn) (void))
{
  struct child c;
  int p[2];

  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  c.pid = fork ();
  assert_true (c.pid >= 0);
  if (c.pid == 0)
    {
      char b;
      close (p[1]);
      if (read (p[0], &b, 1) != 1)
        _exit (100);
      _exit (fn ());
    }
  close (p[0]);
  c.go = p[1];
  return c;
}

/* Release the child and return its wait status.  */
static int
child_finish (struct child *c)
{
  int status = 0;

  assert_int_equal (write (c->go, "x", 1), 1);
  close (c->go);
  assert_int_equal (waitpid (c->pid, &status, 0), c->pid);
  return status;
}

static int
child_idle (void)
{
  pause ();
  return 0;
}

static char *
unique_id (const char *what)
{
  return xasprintf ("%s-%d", what, (int)getpid ());
}

static char *
read_v1 (const char *controller, const struct husk_cgroup *cg, const char *file)
{
  cleanup_free char *dir = xasprintf ("/sys/fs/cgroup/%s%s", controller, husk_cgroup_path (cg));
  char *s = NULL;
  husk_error_t err = NULL;

  if (husk_cgroup_read (dir, file, &s, &err) < 0)
    fail_msg ("%s", err->msg);
  return s;
}

static void
assert_v1_file (const char *controller, const struct husk_cgroup *cg, const char *file, const char *want)
{
  cleanup_free char *s = read_v1 (controller, cg, file);
  assert_string_equal (s, want);
}

/* Every v1 hierarchy has (or has not) the container's directory.  */
static void
assert_v1_dirs (const char *path, bool exist)
{
  for (size_t i = 0; i < sizeof (v1_controllers) / sizeof (v1_controllers[0]); i++)
    {
      cleanup_free char *dir = xasprintf ("/sys/fs/cgroup/%s%s", v1_controllers[i], path);
      if ((access (dir, F_OK) == 0) != exist)
        fail_msg ("%s: %s", dir, exist ? "missing" : "still there");
    }
}

static struct husk_cgroup *
create_or_fail (const char *id, struct husk_cgroup_limits *l, pid_t pid)
{
  struct husk_cgroup *cg = NULL;
  husk_error_t err = NULL;

  free (l->parent);
  l->parent = xstrdup (TEST_PARENT);
  if (husk_cgroup_create (id, l, pid, &cg, &err) < 0)
    fail_msg ("create: %s", err->msg);
  return cg;
}

static void
destroy_or_fail (struct husk_cgroup *cg)
{
  husk_error_t err = NULL;
  cleanup_free char *path = xstrdup (husk_cgroup_path (cg));

  if (husk_cgroup_destroy (cg, &err) < 0)
    fail_msg ("destroy: %s", err->msg);
  husk_cgroup_free (cg);
  assert_v1_dirs (path, false);
}

static void
test_detect (void **state)
{
  const char *why = NULL;

  SKIP_UNLESS_ROOT ();
  husk_cgroup_redetect ();
  assert_int_equal (husk_cgroup_detect (&why), HUSK_CGROUP_V1);
  assert_null (why);
  assert_string_equal (husk_cgroup_mode_name (husk_cgroup_detect (NULL)), "v1");
}

static void
test_create_limits (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  cleanup_free char *id = unique_id ("limits");
  cleanup_free char *want_path = xasprintf ("/%s/husk-%s", TEST_PARENT, id);
  cleanup_free char *proc_cgroup = NULL;
  cleanup_free char *procfile = NULL;
  cleanup_free char *devices = NULL;
  struct husk_cgroup_stats st;
  husk_error_t err = NULL;
  struct husk_cgroup *cg;
  struct child c;
  size_t len;

  SKIP_UNLESS_ROOT ();
  parse_ok (&l, "memory", "64m");
  parse_ok (&l, "cpus", "0.5");
  parse_ok (&l, "cpu-shares", "512");
  parse_ok (&l, "pids-limit", "10");
  parse_ok (&l, "cpuset-cpus", "0");
  parse_ok (&l, "memory-reservation", "32m");
  parse_ok (&l, "blkio-weight", "300");
  c = child_start (child_idle);
  cg = create_or_fail (id, &l, c.pid);
  assert_string_equal (husk_cgroup_path (cg), want_path);
  assert_v1_dirs (want_path, true);

  assert_v1_file ("memory", cg, "memory.limit_in_bytes", "67108864");
  assert_v1_file ("memory", cg, "memory.memsw.limit_in_bytes", "134217728");
  assert_v1_file ("cpu", cg, "cpu.cfs_quota_us", "50000");
  assert_v1_file ("cpu", cg, "cpu.cfs_period_us", "100000");
  assert_v1_file ("cpu", cg, "cpu.shares", "512");
  assert_v1_file ("cpuset", cg, "cpuset.cpus", "0");
  assert_v1_file ("pids", cg, "pids.max", "10");
  assert_v1_file ("memory", cg, "memory.soft_limit_in_bytes", "33554432");
  {
    /* CFQ's blkio.weight or BFQ's blkio.bfq.weight ("default 300").  */
    cleanup_free char *dir = xasprintf ("/sys/fs/cgroup/blkio%s", want_path);
    cleanup_free char *w = NULL;
    if (husk_cgroup_file_exists (dir, "blkio.weight"))
      assert_v1_file ("blkio", cg, "blkio.weight", "300");
    else
      {
        w = read_v1 ("blkio", cg, "blkio.bfq.weight");
        assert_non_null (strstr (w, "300"));
      }
  }

  /* Device rules: the defaults are there, "allow all" is not.  */
  devices = read_v1 ("devices", cg, "devices.list");
  assert_non_null (strstr (devices, "c 1:3 rwm"));
  assert_non_null (strstr (devices, "c 136:* rwm"));
  assert_non_null (strstr (devices, "c *:* m"));
  assert_null (strstr (devices, "a *:* rwm"));

  /* The child is in the cgroup of every controller.  */
  procfile = xasprintf ("/proc/%d/cgroup", (int)c.pid);
  assert_int_equal (husk_read_file_at (AT_FDCWD, procfile, 0, &proc_cgroup, &len, &err), 0);
  for (size_t i = 0; i < sizeof (v1_controllers) / sizeof (v1_controllers[0]); i++)
    {
      cleanup_free char *line = xasprintf (":%s:%s\n", v1_controllers[i], want_path);
      if (strstr (proc_cgroup, line) == NULL)
        fail_msg ("%s not in %s", line, proc_cgroup);
    }

  assert_int_equal (husk_cgroup_stats (cg, &st, &err), 0);
  assert_int_equal (st.memory_limit, 64 << 20);
  assert_int_equal (st.pids_current, 1);
  assert_int_equal (st.pids_limit, 10);

  /* Reopen by id as a later command would, and destroy: the idle child is
     killed and every directory goes.  */
  {
    struct husk_cgroup *again = NULL;
    pid_t *pids = NULL;
    size_t n = 0;
    int status = 0;

    assert_int_equal (husk_cgroup_open (id, husk_cgroup_path (cg), &again, &err), 0);
    assert_int_equal (husk_cgroup_pids (again, &pids, &n, &err), 0);
    assert_int_equal (n, 1);
    assert_int_equal (pids[0], c.pid);
    free (pids);
    destroy_or_fail (again);
    assert_int_equal (waitpid (c.pid, &status, 0), c.pid);
    assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
    close (c.go);
  }
  husk_cgroup_free (cg);
}

/* Fork until the pids limit stops us; exit with the number of forks done,
   or 200 if fork failed with anything but EAGAIN.  */
static int
child_fork_bomb (void)
{
  int done = 0;

  for (int i = 0; i < 50; i++)
    {
      pid_t p = fork ();
      if (p == 0)
        {
          pause ();
          _exit (0);
        }
      if (p < 0)
        return errno == EAGAIN ? done : 200;
      done++;
    }
  return 150;
}

static void
test_pids_limit (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  cleanup_free char *id = unique_id ("pids");
  struct husk_cgroup *cg;
  struct child c;
  int status;

  SKIP_UNLESS_ROOT ();
  parse_ok (&l, "pids-limit", "5");
  c = child_start (child_fork_bomb);
  cg = create_or_fail (id, &l, c.pid);
  status = child_finish (&c);
  assert_true (WIFEXITED (status));
  /* The child itself counts: 4 more processes fit under 5.  */
  assert_int_equal (WEXITSTATUS (status), 4);
  /* The paused grandchildren are still there; destroy kills them.  */
  destroy_or_fail (cg);
}

static int
child_eat_memory (void)
{
  size_t size = 256 << 20;
  char *p = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED)
    return 1;
  for (size_t i = 0; i < size; i += 4096)
    p[i] = 1;
  return 0;
}

static void
test_oom (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  cleanup_free char *id = unique_id ("oom");
  husk_error_t err = NULL;
  struct husk_cgroup *cg;
  uint64_t kills = 99;
  struct child c;
  int status;

  SKIP_UNLESS_ROOT ();
  parse_ok (&l, "memory", "16m");
  c = child_start (child_eat_memory);
  cg = create_or_fail (id, &l, c.pid);
  assert_int_equal (husk_cgroup_oom_kills (cg, &kills, &err), 0);
  assert_int_equal (kills, 0);
  status = child_finish (&c);
  assert_true (WIFSIGNALED (status));
  assert_int_equal (WTERMSIG (status), SIGKILL);
  assert_int_equal (husk_cgroup_oom_kills (cg, &kills, &err), 0);
  assert_true (kills >= 1);
  destroy_or_fail (cg);
}

/* 0 when /dev/null opens and /dev/kmsg (c 1:11) does not, with EPERM.  */
static int
child_devices_confined (void)
{
  int fd = open ("/dev/null", O_RDWR);

  if (fd < 0)
    return 1;
  close (fd);
  fd = open ("/dev/kmsg", O_RDONLY);
  if (fd >= 0)
    return 2;
  return errno == EPERM ? 0 : 3;
}

/* 0 when /dev/kmsg opens for reading (an extra rule allows it).  */
static int
child_kmsg_allowed (void)
{
  int fd = open ("/dev/kmsg", O_RDONLY);
  if (fd < 0)
    return 1;
  close (fd);
  fd = open ("/dev/kmsg", O_WRONLY);
  return fd < 0 && errno == EPERM ? 0 : 2;
}

static void
check_devices (const char *what, const char *rule, int (*fn) (void))
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  cleanup_free char *id = unique_id (what);
  struct husk_cgroup *cg;
  struct child c;
  int status;

  if (rule)
    parse_ok (&l, "device-cgroup-rule", rule);
  c = child_start (fn);
  cg = create_or_fail (id, &l, c.pid);
  status = child_finish (&c);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  destroy_or_fail (cg);
}

static void
test_devices_v1 (void **state)
{
  SKIP_UNLESS_ROOT ();
  check_devices ("dev", NULL, child_devices_confined);
  check_devices ("devrule", "c 1:11 r", child_kmsg_allowed);
}

static void
test_freeze (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  cleanup_free char *id = unique_id ("freeze");
  husk_error_t err = NULL;
  struct husk_cgroup *cg;
  struct child c;

  SKIP_UNLESS_ROOT ();
  c = child_start (child_idle);
  cg = create_or_fail (id, &l, c.pid);
  assert_int_equal (husk_cgroup_freeze (cg, true, &err), 0);
  assert_v1_file ("freezer", cg, "freezer.state", "FROZEN");
  assert_int_equal (husk_cgroup_freeze (cg, false, &err), 0);
  assert_v1_file ("freezer", cg, "freezer.state", "THAWED");
  /* Destroying a frozen cgroup still kills and removes it.  */
  assert_int_equal (husk_cgroup_freeze (cg, true, &err), 0);
  destroy_or_fail (cg);
  waitpid (c.pid, NULL, 0);
  close (c.go);
}

/* v2 on the unified hierarchy of this hybrid host: no controllers there,
   but the device filter, cgroup.kill and cgroup.freeze all work.  */
static void
test_v2_unified (void **state)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  cleanup_free char *id = unique_id ("v2");
  cleanup_free char *dir = NULL;
  struct statfs sfs;
  husk_error_t err = NULL;
  struct husk_cgroup *cg = NULL;
  uint64_t kills = 5;
  struct child c;
  int status;

  SKIP_UNLESS_ROOT ();
  if (statfs ("/sys/fs/cgroup/unified", &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC)
    {
      skip ();
      return;
    }
  husk_cgroup_force_backend (HUSK_CGROUP_V2, "/sys/fs/cgroup/unified");

  /* The eBPF device filter.  */
  c = child_start (child_devices_confined);
  l.parent = xstrdup (TEST_PARENT);
  assert_int_equal (husk_cgroup_create (id, &l, c.pid, &cg, &err), 0);
  dir = xasprintf ("/sys/fs/cgroup/unified%s", husk_cgroup_path (cg));
  assert_int_equal (access (dir, F_OK), 0);
  status = child_finish (&c);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  assert_int_equal (husk_cgroup_oom_kills (cg, &kills, &err), 0);
  assert_int_equal (kills, 0);
  assert_int_equal (husk_cgroup_destroy (cg, &err), 0);
  husk_cgroup_free (cg);
  assert_int_not_equal (access (dir, F_OK), 0);

  /* Extra rule, freeze, and destroy through cgroup.kill.  */
  parse_ok (&l, "device-cgroup-rule", "c 1:11 r");
  c = child_start (child_kmsg_allowed);
  assert_int_equal (husk_cgroup_create (id, &l, c.pid, &cg, &err), 0);
  status = child_finish (&c);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  c = child_start (child_idle);
  assert_int_equal (husk_cgroup_attach (cg, c.pid, &err), 0);
  assert_int_equal (husk_cgroup_freeze (cg, true, &err), 0);
  assert_int_equal (husk_cgroup_freeze (cg, false, &err), 0);
  assert_int_equal (husk_cgroup_destroy (cg, &err), 0);
  husk_cgroup_free (cg);
  assert_int_equal (waitpid (c.pid, &status, 0), c.pid);
  assert_true (WIFSIGNALED (status));
  close (c.go);
  assert_int_not_equal (access (dir, F_OK), 0);

  /* A limit that needs a controller the hierarchy lacks: a clear error,
     nothing left behind.  */
  parse_ok (&l, "memory", "64m");
  assert_true (husk_cgroup_create (id, &l, 0, &cg, &err) < 0);
  assert_non_null (strstr (err->msg, "cannot apply --memory: the memory controller is not enabled"));
  husk_error_release (&err);
  assert_int_not_equal (access (dir, F_OK), 0);

  {
    cleanup_free char *parent = xasprintf ("/sys/fs/cgroup/unified/%s", TEST_PARENT);
    rmdir (parent);
  }
  husk_cgroup_redetect ();
}

/* As an unprivileged user on this v1 host: backend none, and asking for
   limits twice prints exactly one warning.  The check runs in a child
   that changes uid; it exits 0 on success.  */
static int
rootless_child (void)
{
  cleanup_cgroup_limits struct husk_cgroup_limits l = { 0 };
  struct husk_cgroup *cg = NULL;
  husk_error_t err = NULL;
  const char *why = NULL;

  if (setgid (65534) < 0 || setuid (65534) < 0)
    return 10;
  husk_cgroup_redetect ();
  if (husk_cgroup_detect (&why) != HUSK_CGROUP_NONE || why == NULL || strstr (why, "not delegated") == NULL)
    return 11;
  l.memory = 64 << 20;
  for (int i = 0; i < 2; i++)
    {
      if (husk_cgroup_create ("rootless", &l, getpid (), &cg, &err) < 0
          || strcmp (husk_cgroup_path (cg), "") != 0)
        return 12;
      if (husk_cgroup_destroy (cg, &err) < 0)
        return 13;
      husk_cgroup_free (cg);
    }
  return 0;
}

static void
test_rootless_none (void **state)
{
  cleanup_free char *out = NULL;
  husk_error_t err = NULL;
  const char *p;
  size_t len = 0;
  int fds[2], status = 0, count = 0;
  pid_t pid;

  SKIP_UNLESS_ROOT ();
  assert_int_equal (pipe (fds), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      dup2 (fds[1], 2);
      _exit (rootless_child ());
    }
  close (fds[1]);
  assert_int_equal (husk_read_all_fd (fds[0], 0, &out, &len, &err), 0);
  close (fds[0]);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  for (p = out; (p = strstr (p, "Warning: cgroup limits are ignored: ")) != NULL; p++)
    count++;
  if (count != 1)
    fail_msg ("expected one warning, got: %s", out);
  assert_non_null (strstr (out, "not delegated"));
}

/* Remove what a failed test left behind, then the test parent.  */
static int
teardown_root (void **state)
{
  cleanup_dir DIR *d = NULL;
  struct dirent *de;

  if (geteuid () != 0 || !is_hybrid_or_v1 ())
    return 0;
  husk_cgroup_redetect ();
  d = opendir ("/sys/fs/cgroup/memory/" TEST_PARENT);
  while (d && (de = readdir (d)) != NULL)
    if (husk_has_prefix (de->d_name, "husk-"))
      {
        cleanup_free char *path = xasprintf ("/%s/%s", TEST_PARENT, de->d_name);
        struct husk_cgroup *cg = NULL;
        husk_error_t err = NULL;

        if (husk_cgroup_open (de->d_name + 5, path, &cg, &err) == 0)
          {
            husk_cgroup_destroy (cg, &err);
            husk_cgroup_free (cg);
          }
        husk_error_release (&err);
      }
  for (size_t i = 0; i < sizeof (v1_controllers) / sizeof (v1_controllers[0]); i++)
    {
      cleanup_free char *dir = xasprintf ("/sys/fs/cgroup/%s/%s", v1_controllers[i], TEST_PARENT);
      rmdir (dir);
    }
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_memory),
    cmocka_unit_test (test_parse_cpu),
    cmocka_unit_test (test_parse_pids_blkio),
    cmocka_unit_test (test_parse_devices),
    cmocka_unit_test (test_validate),
    cmocka_unit_test (test_detect),
    cmocka_unit_test (test_create_limits),
    cmocka_unit_test (test_pids_limit),
    cmocka_unit_test (test_oom),
    cmocka_unit_test (test_devices_v1),
    cmocka_unit_test (test_freeze),
    cmocka_unit_test (test_v2_unified),
    cmocka_unit_test (test_rootless_none),
  };

  return cmocka_run_group_tests (tests, NULL, teardown_root);
}
