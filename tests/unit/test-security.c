/* Unit tests for runtime/caps.c, rlimits.c, seccomp.c and security.c.

   Everything that changes the process (capabilities, ids, rlimits, a
   seccomp filter) runs in a forked child that reports through its exit
   code (and a line on stderr saying what did not match).  The cases that
   need root skip otherwise.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/fs.h"
#include "husk/security.h"
#include "husk/util.h"

#define BIT(c) (UINT64_C (1) << (c))

static char *
tmpdir_new (void)
{
  char *d = xstrdup ("/tmp/husk-test-security-XXXXXX");
  assert_non_null (mkdtemp (d));
  return d;
}

static void
tmpdir_free (char *d)
{
  husk_error_t err = NULL;
  husk_rm_rf_at (AT_FDCWD, d, &err);
  husk_error_release (&err);
  free (d);
}

static char *
write_tmp (const char *dir, const char *name, const char *content)
{
  char *path = xasprintf ("%s/%s", dir, name);
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (content, f);
  fclose (f);
  return path;
}

/* Fork, run fn in the child, return its exit code (128+signal if killed).  */
static int
run_child (int (*fn) (void *), void *arg)
{
  int status;
  pid_t pid;

  fflush (NULL);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    _exit (fn (arg));
  assert_int_equal (waitpid (pid, &status, 0), pid);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static int
child_fail (int code, const char *fmt, ...)
{
  va_list ap;
  fprintf (stderr, "child check %d failed: ", code);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  return code;
}

static uint64_t
status_field (const char *name)
{
  FILE *f = fopen ("/proc/self/status", "r");
  size_t nlen = strlen (name);
  char *line = NULL;
  size_t cap = 0;
  uint64_t v = UINT64_MAX;

  if (f == NULL)
    return v;
  while (getline (&line, &cap, f) > 0)
    if (strncmp (line, name, nlen) == 0 && line[nlen] == ':')
      {
        v = strtoull (line + nlen + 1, NULL, strstr (name, "Cap") ? 16 : 10);
        break;
      }
  free (line);
  fclose (f);
  return v;
}

static bool
is_root (void)
{
  if (geteuid () == 0)
    return true;
  fprintf (stderr, "skipped: needs root\n");
  return false;
}

static double
ms_since (const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime (CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* --- parsing --- */

static void
test_cap_names (void **state)
{
  husk_error_t err = NULL;

  (void)state;
  assert_int_equal (husk_cap_from_name ("chown", &err), CAP_CHOWN);
  assert_int_equal (husk_cap_from_name ("CAP_CHOWN", &err), CAP_CHOWN);
  assert_int_equal (husk_cap_from_name ("Cap_Net_Admin", &err), CAP_NET_ADMIN);
  assert_int_equal (husk_cap_from_name ("sys_admin", &err), CAP_SYS_ADMIN);
  assert_string_equal (husk_cap_name (CAP_SYS_CHROOT), "CAP_SYS_CHROOT");

  assert_true (husk_cap_from_name ("foo", &err) < 0);
  assert_string_equal (err->msg, "unknown capability \"CAP_FOO\"");
  husk_error_release (&err);
  assert_true (husk_cap_from_name ("cap_foo", &err) < 0);
  assert_string_equal (err->msg, "unknown capability \"CAP_FOO\"");
  husk_error_release (&err);
}

static void
test_caps_merge (void **state)
{
  struct husk_security_spec spec;
  husk_error_t err = NULL;
  char *add_admin[] = { (char *)"net_admin", (char *)"CAP_SYS_PTRACE", NULL };
  char *drop_chown[] = { (char *)"CHOWN", NULL };
  char *all[] = { (char *)"all", NULL };
  char *add_chown[] = { (char *)"chown", NULL };
  char *bad[] = { (char *)"cap_nope", NULL };

  (void)state;
  husk_security_spec_init (&spec);
  assert_int_equal (spec.caps, husk_caps_default ());
  assert_int_equal (__builtin_popcountll (husk_caps_default ()), 11);

  assert_int_equal (husk_security_set_caps (&spec, add_admin, drop_chown, &err), 0);
  assert_int_equal (spec.caps,
                    (husk_caps_default () | BIT (CAP_NET_ADMIN) | BIT (CAP_SYS_PTRACE)) & ~BIT (CAP_CHOWN));

  assert_int_equal (husk_security_set_caps (&spec, NULL, all, &err), 0);
  assert_int_equal (spec.caps, 0);
  assert_int_equal (husk_security_set_caps (&spec, add_chown, all, &err), 0);
  assert_int_equal (spec.caps, BIT (CAP_CHOWN));
  assert_int_equal (husk_security_set_caps (&spec, all, drop_chown, &err), 0);
  assert_int_equal (spec.caps, husk_caps_all () & ~BIT (CAP_CHOWN));

  assert_true (husk_security_set_caps (&spec, add_chown, drop_chown, &err) < 0);
  assert_string_equal (err->msg, "capability \"CAP_CHOWN\" cannot be dropped and added");
  husk_error_release (&err);
  assert_true (husk_security_set_caps (&spec, bad, NULL, &err) < 0);
  assert_string_equal (err->msg, "unknown capability \"CAP_NOPE\"");
  husk_error_release (&err);

  husk_security_set_privileged (&spec, true);
  assert_int_equal (husk_security_set_caps (&spec, NULL, NULL, &err), 0);
  assert_int_equal (spec.caps, husk_caps_all ());
  assert_int_equal (spec.seccomp, HUSK_SECCOMP_UNCONFINED);
  husk_security_spec_release (&spec);
}

static void
test_ulimit_parse (void **state)
{
  struct husk_rlimit r;
  husk_error_t err = NULL;
  struct husk_security_spec spec;

  (void)state;
  assert_int_equal (husk_rlimit_parse ("nofile=1024:2048", &r, &err), 0);
  assert_int_equal (r.resource, RLIMIT_NOFILE);
  assert_int_equal (r.soft, 1024);
  assert_int_equal (r.hard, 2048);
  assert_false (r.is_default);
  assert_int_equal (husk_rlimit_parse ("NPROC=50", &r, &err), 0);
  assert_int_equal (r.resource, RLIMIT_NPROC);
  assert_int_equal (r.soft, 50);
  assert_int_equal (r.hard, 50);
  assert_int_equal (husk_rlimit_parse ("core=-1", &r, &err), 0);
  assert_true (r.soft == RLIM_INFINITY && r.hard == RLIM_INFINITY);
  assert_int_equal (husk_rlimit_parse ("RLIMIT_STACK=8192:unlimited", &r, &err), 0);
  assert_true (r.resource == RLIMIT_STACK && r.soft == 8192 && r.hard == RLIM_INFINITY);
  assert_string_equal (husk_rlimit_name (RLIMIT_MEMLOCK), "memlock");

  static const char *const bad[][2] = {
    { "nofile=a:b", "invalid ulimit \"nofile=a:b\": \"a\" is not a number" },
    { "nofile=1:b", "invalid ulimit \"nofile=1:b\": \"b\" is not a number" },
    { "nofile", "invalid ulimit \"nofile\": expected name=soft[:hard]" },
    { "nofile=", "invalid ulimit \"nofile=\": expected name=soft[:hard]" },
    { "foo=1", "invalid ulimit \"foo=1\": unknown ulimit type \"foo\"" },
    { "nofile=2048:1024",
      "invalid ulimit \"nofile=2048:1024\": soft limit must be less than or equal to hard limit" },
    { "nofile=1:2:3", "invalid ulimit \"nofile=1:2:3\": too many colons" },
    { "nofile=-5", "invalid ulimit \"nofile=-5\": \"-5\" is not a number" },
  };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      assert_true (husk_rlimit_parse (bad[i][0], &r, &err) < 0);
      assert_string_equal (err->msg, bad[i][1]);
      husk_error_release (&err);
    }

  /* Defaults are Podman's; --ulimit replaces one, "host" drops them.  */
  husk_security_spec_init (&spec);
  assert_int_equal (spec.n_rlimits, 2);
  assert_true (spec.rlimits[0].is_default && spec.rlimits[0].hard == 1048576);
  assert_int_equal (husk_security_add_ulimit (&spec, "nofile=100:200", &err), 0);
  assert_int_equal (spec.n_rlimits, 2);
  assert_int_equal (spec.rlimits[0].hard, 200);
  assert_int_equal (husk_security_add_ulimit (&spec, "core=0", &err), 0);
  assert_int_equal (spec.n_rlimits, 3);
  assert_int_equal (husk_security_add_ulimit (&spec, "host", &err), 0);
  assert_int_equal (spec.n_rlimits, 0);
  husk_security_spec_release (&spec);
}

static void
test_security_opt (void **state)
{
  struct husk_security_spec spec;
  husk_error_t err = NULL;
  char *dir = tmpdir_new ();
  cleanup_free char *good = write_tmp (dir, "p.json", "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
  cleanup_free char *broken = write_tmp (dir, "b.json", "{\"defaultAction\":");
  cleanup_free char *opt = NULL;

  (void)state;
  husk_security_spec_init (&spec);
  assert_int_equal (husk_security_parse_opt (&spec, "no-new-privileges", &err), 0);
  assert_true (spec.no_new_privs);
  assert_int_equal (husk_security_parse_opt (&spec, "no-new-privileges=false", &err), 0);
  assert_false (spec.no_new_privs);
  assert_int_equal (husk_security_parse_opt (&spec, "no-new-privileges:true", &err), 0);
  assert_true (spec.no_new_privs);
  assert_int_equal (husk_security_parse_opt (&spec, "seccomp=unconfined", &err), 0);
  assert_int_equal (spec.seccomp, HUSK_SECCOMP_UNCONFINED);
  opt = xasprintf ("seccomp=%s", good);
  assert_int_equal (husk_security_parse_opt (&spec, opt, &err), 0);
  assert_int_equal (spec.seccomp, HUSK_SECCOMP_PROFILE);
  assert_int_equal (spec.seccomp_profile_len, strlen ("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}"));
  assert_int_equal (husk_security_parse_opt (&spec, "label=disable", &err), 0);
  assert_int_equal (husk_security_parse_opt (&spec, "mask=/a:/b", &err), 0);
  assert_int_equal (strv_len (spec.mask), 2);
  assert_int_equal (husk_security_parse_opt (&spec, "unmask=ALL", &err), 0);
  assert_string_equal (spec.unmask[0], "ALL");

  assert_true (husk_security_parse_opt (&spec, "seccomp=/nonexistent/x.json", &err) < 0);
  assert_non_null (strstr (err->msg, "opening seccomp profile /nonexistent/x.json failed"));
  husk_error_release (&err);
  free (opt);
  opt = xasprintf ("seccomp=%s", broken);
  assert_true (husk_security_parse_opt (&spec, opt, &err) < 0);
  assert_non_null (strstr (err->msg, "decoding seccomp profile"));
  husk_error_release (&err);
  assert_true (husk_security_parse_opt (&spec, "bogus", &err) < 0);
  assert_string_equal (err->msg, "invalid --security-opt 1: \"bogus\"");
  husk_error_release (&err);
  assert_true (husk_security_parse_opt (&spec, "no-new-privileges=maybe", &err) < 0);
  husk_error_release (&err);

  husk_security_spec_release (&spec);
  tmpdir_free (dir);
}

static void
test_profile_errors (void **state)
{
  static const char *const bad[][2] = {
    { "[]", "not a JSON object" },
    { "{\"defaultAction\":\"SCMP_ACT_NOPE\"}", "unsupported action \"SCMP_ACT_NOPE\"" },
    { "{}", "missing action" },
    { "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_"
      "ERRNO\","
      "\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_FOO\"}]}]}",
      "invalid operator \"SCMP_CMP_FOO\"" },
    { "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_"
      "ERRNO\","
      "\"args\":[{\"index\":7,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
      "invalid argument index 7" },
  };
  husk_error_t err = NULL;
  void *bpf = NULL;
  size_t len = 0;

  (void)state;
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      assert_true (husk_seccomp_compile (bad[i][0], strlen (bad[i][0]), 0, &bpf, &len, &err) < 0);
      if (strstr (err->msg, bad[i][1]) == NULL)
        fail_msg ("%s: got \"%s\"", bad[i][0], err->msg);
      husk_error_release (&err);
    }

  /* Unknown syscall names and arches are skipped, the rest compiles.  */
  const char *ok
      = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_NOPE\"],"
        "\"syscalls\":[{\"names\":[\"read\",\"not_a_syscall\"],\"action\":\"SCMP_ACT_ALLOW\"},"
        "{\"name\":\"write\",\"action\":\"SCMP_ACT_ALLOW\"}]}";
  assert_int_equal (husk_seccomp_compile (ok, strlen (ok), 0, &bpf, &len, &err), 0);
  assert_true (len > 0 && len % 8 == 0);
  free (bpf);
}

/* --- capabilities applied --- */

struct apply_case
{
  struct husk_security_spec *spec;
  uint64_t want_bnd, want_eff;
  int want_seccomp;
  int want_nnp;
};

static int
child_apply (void *arg)
{
  struct apply_case *c = arg;
  husk_error_t err = NULL;
  uint64_t v;

  if (husk_security_apply (c->spec, &err) < 0)
    return child_fail (10, "apply: %s", err->msg);
  if ((v = status_field ("CapInh")) != 0)
    return child_fail (11, "CapInh %llx", (unsigned long long)v);
  if ((v = status_field ("CapAmb")) != 0)
    return child_fail (12, "CapAmb %llx", (unsigned long long)v);
  if ((v = status_field ("CapBnd")) != c->want_bnd)
    return child_fail (13, "CapBnd %llx want %llx", (unsigned long long)v, (unsigned long long)c->want_bnd);
  if ((v = status_field ("CapEff")) != c->want_eff)
    return child_fail (14, "CapEff %llx want %llx", (unsigned long long)v, (unsigned long long)c->want_eff);
  if ((v = status_field ("CapPrm")) != c->want_eff)
    return child_fail (15, "CapPrm %llx want %llx", (unsigned long long)v, (unsigned long long)c->want_eff);
  if ((v = status_field ("Seccomp")) != (uint64_t)c->want_seccomp)
    return child_fail (16, "Seccomp %llu", (unsigned long long)v);
  if ((v = status_field ("NoNewPrivs")) != (uint64_t)c->want_nnp)
    return child_fail (17, "NoNewPrivs %llu", (unsigned long long)v);
  if (getuid () != c->spec->uid || getgid () != c->spec->gid)
    return child_fail (18, "ids %u:%u", (unsigned)getuid (), (unsigned)getgid ());
  return 0;
}

static void
test_apply_caps_root (void **state)
{
  struct husk_security_spec spec;
  struct apply_case c = { .spec = &spec };
  uint64_t bnd = status_field ("CapBnd");

  (void)state;
  if (!is_root ())
    skip ();
  husk_security_spec_init (&spec);
  spec.seccomp = HUSK_SECCOMP_UNCONFINED;
  c.want_bnd = husk_caps_default () & bnd;
  c.want_eff = c.want_bnd;
  assert_int_equal (run_child (child_apply, &c), 0);

  /* --privileged: everything we hold; no_new_privs and a filter.  */
  husk_security_set_privileged (&spec, true);
  spec.no_new_privs = true;
  spec.seccomp = HUSK_SECCOMP_DEFAULT;
  c.want_bnd = bnd;
  c.want_eff = bnd;
  c.want_seccomp = 2;
  c.want_nnp = 1;
  assert_int_equal (run_child (child_apply, &c), 0);
  husk_security_spec_release (&spec);
}

static void
test_apply_caps_user (void **state)
{
  struct husk_security_spec spec;
  struct apply_case c = { .spec = &spec };
  husk_error_t err = NULL;
  char *add[] = { (char *)"NET_RAW", NULL };

  (void)state;
  if (!is_root ())
    skip ();
  husk_security_spec_init (&spec);
  assert_int_equal (husk_security_set_caps (&spec, add, NULL, &err), 0);
  spec.uid = 1000;
  spec.gid = 1000;
  spec.groups = xmalloc (2 * sizeof (gid_t));
  spec.groups[0] = 1000;
  spec.groups[1] = 27;
  spec.n_groups = 2;
  /* A non-root user keeps the bounding set but no effective/permitted
     capabilities, and the filter (without no_new_privs) was loaded while
     we still held CAP_SYS_ADMIN.  */
  c.want_bnd = (husk_caps_default () | BIT (CAP_NET_RAW)) & status_field ("CapBnd");
  c.want_eff = 0;
  c.want_seccomp = 2;
  assert_int_equal (husk_security_prepare (&spec, NULL, &err), 0);
  assert_int_equal (run_child (child_apply, &c), 0);
  husk_security_spec_release (&spec);
}

/* A rootless container with a single-id map: setgroups is denied in the
   namespace, the supplementary groups are skipped, the rest applies.  */
static int
write_proc (const char *path, const char *s)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return -1;
  n = write (fd, s, strlen (s));
  close (fd);
  return n == (ssize_t)strlen (s) ? 0 : -1;
}

static int
child_userns (void *arg)
{
  struct apply_case *c = arg;

  if (unshare (CLONE_NEWUSER) < 0)
    return 77;
  if (write_proc ("/proc/self/setgroups", "deny") < 0 || write_proc ("/proc/self/uid_map", "0 0 1") < 0
      || write_proc ("/proc/self/gid_map", "0 0 1") < 0)
    return child_fail (60, "id maps: %d", errno);
  c->want_bnd = husk_caps_default ();
  c->want_eff = husk_caps_default ();
  return child_apply (c);
}

static void
test_apply_userns_setgroups_denied (void **state)
{
  struct husk_security_spec spec;
  struct apply_case c = { .spec = &spec, .want_seccomp = 2 };
  husk_error_t err = NULL;
  int ret;

  (void)state;
  if (!is_root ())
    skip ();
  husk_security_spec_init (&spec);
  spec.groups = xmalloc (2 * sizeof (gid_t));
  spec.groups[0] = 0;
  spec.groups[1] = 10;
  spec.n_groups = 2;
  assert_int_equal (husk_security_prepare (&spec, NULL, &err), 0);
  ret = run_child (child_userns, &c);
  if (ret == 77)
    {
      husk_security_spec_release (&spec);
      skip ();
    }
  assert_int_equal (ret, 0);
  husk_security_spec_release (&spec);
}

/* --- seccomp effects --- */

static int
child_default_filter (void *arg)
{
  struct husk_security_spec *spec = arg;
  husk_error_t err = NULL;
  long r;

  if (husk_security_apply (spec, &err) < 0)
    return child_fail (10, "apply: %s", err->msg);
  /* Explicit deny list: EPERM.  */
  r = syscall (SYS_userfaultfd, 0);
  if (r != -1 || errno != EPERM)
    return child_fail (20, "userfaultfd: %ld errno %d", r, errno);
  r = syscall (SYS_sysfs, 3);
  if (r != -1 || errno != EPERM)
    return child_fail (21, "sysfs: %ld errno %d", r, errno);
  /* Not in the allow list: ENOSYS, the profile's defaultErrnoRet.  */
  r = syscall (SYS_add_key, "user", "k", "v", 1, 0);
  if (r != -1 || errno != ENOSYS)
    return child_fail (22, "add_key: %ld errno %d", r, errno);
  /* Capability-conditioned: no CAP_SYS_ADMIN, so sethostname is EPERM
     from the filter; no CAP_SYS_PTRACE, so kcmp too.  */
  r = syscall (SYS_sethostname, "x", 1);
  if (r != -1 || errno != EPERM)
    return child_fail (23, "sethostname: %ld errno %d", r, errno);
  /* personality: only the usual personas.  */
  if (personality (0xffffffff) < 0)
    return child_fail (24, "personality query: %d", errno);
  r = personality (0x0001);
  if (r != -1 || errno != ENOSYS)
    return child_fail (25, "personality(1): %ld errno %d", r, errno);
  /* AUDIT netlink socket without CAP_AUDIT_WRITE: EINVAL.  */
  r = socket (AF_NETLINK, SOCK_RAW, 9);
  if (r != -1 || errno != EINVAL)
    return child_fail (26, "audit socket: %ld errno %d", r, errno);
  /* Normal work keeps working.  */
  r = socket (AF_UNIX, SOCK_STREAM, 0);
  if (r < 0)
    return child_fail (27, "unix socket: %d", errno);
  close ((int)r);
  if (getpid () <= 0 || write (STDERR_FILENO, "", 0) < 0)
    return child_fail (28, "getpid/write");
  if (mkdir ("/tmp", 0755) == 0 || errno != EEXIST)
    return child_fail (29, "mkdir: %d", errno);
  return 0;
}

static void
test_seccomp_default (void **state)
{
  struct husk_security_spec spec;
  husk_error_t err = NULL;

  (void)state;
  if (!is_root ())
    skip ();
  husk_security_spec_init (&spec);
  assert_int_equal (husk_security_prepare (&spec, NULL, &err), 0);
  assert_non_null (spec.seccomp_bpf);
  assert_int_equal (run_child (child_default_filter, &spec), 0);
  /* The same with no_new_privs (filter loaded last).  */
  spec.no_new_privs = true;
  assert_int_equal (run_child (child_default_filter, &spec), 0);
  husk_security_spec_release (&spec);
}

static int
child_custom_filter (void *arg)
{
  struct husk_security_spec *spec = arg;
  husk_error_t err = NULL;
  const char *dir = getenv ("HUSK_TEST_DIR");
  cleanup_free char *sub = xasprintf ("%s/denied", dir);
  long r;

  if (husk_security_apply (spec, &err) < 0)
    return child_fail (10, "apply: %s", err->msg);
  if (mkdir (sub, 0755) == 0 || errno != EACCES)
    return child_fail (30, "mkdir: errno %d", errno);
  if (syscall (SYS_mkdirat, AT_FDCWD, sub, 0755) == 0 || errno != EACCES)
    return child_fail (31, "mkdirat: errno %d", errno);
  /* Argument rule: AF_INET sockets refused, AF_UNIX ones not.  */
  r = socket (AF_INET, SOCK_STREAM, 0);
  if (r != -1 || errno != EAFNOSUPPORT)
    return child_fail (32, "inet socket: %ld errno %d", r, errno);
  r = socket (AF_UNIX, SOCK_STREAM, 0);
  if (r < 0)
    return child_fail (33, "unix socket: %d", errno);
  /* Included only with CAP_SYS_TIME (absent): not applied.  */
  if (getppid () <= 0)
    return child_fail (34, "getppid");
  return 0;
}

static void
test_seccomp_custom_profile (void **state)
{
  static const char profile[]
      = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"],"
        "\"syscalls\":["
        "{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13},"
        "{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":97,"
        "\"args\":[{\"index\":0,\"value\":2,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
        "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL\",\"includes\":{\"caps\":[\"CAP_SYS_TIME\"]}},"
        "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_KILL\",\"excludes\":{\"arches\":[\"amd64\"]}},"
        "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"}"
        "]}";
  struct husk_security_spec spec;
  husk_error_t err = NULL;
  char *dir = tmpdir_new ();
  cleanup_free char *path = write_tmp (dir, "deny-mkdir.json", profile);
  cleanup_free char *opt = xasprintf ("seccomp=%s", path);

  (void)state;
  if (!is_root ())
    {
      tmpdir_free (dir);
      skip ();
    }
  setenv ("HUSK_TEST_DIR", dir, 1);
  husk_security_spec_init (&spec);
  assert_int_equal (husk_security_parse_opt (&spec, opt, &err), 0);
  assert_int_equal (husk_security_prepare (&spec, NULL, &err), 0);
  assert_int_equal (run_child (child_custom_filter, &spec), 0);
  husk_security_spec_release (&spec);
  tmpdir_free (dir);
}

/* --- the BPF cache --- */

static int
child_time_load (void *arg)
{
  struct husk_security_spec *spec = arg;
  husk_error_t err = NULL;
  struct timespec t0;

  prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  if (husk_seccomp_load (spec->seccomp_bpf, spec->seccomp_bpf_len, true, &err) < 0)
    return child_fail (40, "%s", err->msg);
  printf ("seccomp: loading %zu instructions: %.3f ms\n", spec->seccomp_bpf_len / 8, ms_since (&t0));
  fflush (stdout);
  return 0;
}

static void
test_seccomp_cache (void **state)
{
  const char *profile = husk_seccomp_default_profile;
  char *dir = tmpdir_new ();
  cleanup_free char *cache = xasprintf ("%s/cache/seccomp", dir);
  void *a = NULL, *b = NULL, *c = NULL;
  size_t alen = 0, blen = 0, clen = 0;
  husk_error_t err = NULL;
  bool hit = true;
  struct timespec t0;
  double gen_ms, hit_ms;
  DIR *d;
  struct dirent *de;
  int files = 0;

  (void)state;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_int_equal (husk_seccomp_build_cached (profile, strlen (profile), husk_caps_default (), cache, &a,
                                               &alen, &hit, &err),
                    0);
  gen_ms = ms_since (&t0);
  assert_false (hit);

  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_int_equal (husk_seccomp_build_cached (profile, strlen (profile), husk_caps_default (), cache, &b,
                                               &blen, &hit, &err),
                    0);
  hit_ms = ms_since (&t0);
  assert_true (hit);
  assert_int_equal (alen, blen);
  assert_memory_equal (a, b, alen);
  printf ("seccomp: default profile, %zu BPF instructions: generated in %.3f ms, from the cache in %.3f ms\n",
          alen / 8, gen_ms, hit_ms);

  /* Another capability set is another filter (CAP_SYS_ADMIN allows more).  */
  assert_int_equal (husk_seccomp_build_cached (profile, strlen (profile),
                                               husk_caps_default () | BIT (CAP_SYS_ADMIN), cache, &c, &clen,
                                               &hit, &err),
                    0);
  assert_false (hit);
  assert_true (clen != alen || memcmp (a, c, alen) != 0);

  d = opendir (cache);
  assert_non_null (d);
  while ((de = readdir (d)))
    if (husk_has_suffix (de->d_name, ".bpf"))
      files++;
  closedir (d);
  assert_int_equal (files, 2);

  /* A corrupt cache file is a miss, rebuilt and rewritten.  */
  d = opendir (cache);
  while ((de = readdir (d)))
    if (husk_has_suffix (de->d_name, ".bpf"))
      {
        cleanup_free char *p = xasprintf ("%s/%s", cache, de->d_name);
        truncate (p, 5);
      }
  closedir (d);
  free (b);
  b = NULL;
  assert_int_equal (husk_seccomp_build_cached (profile, strlen (profile), husk_caps_default (), cache, &b,
                                               &blen, &hit, &err),
                    0);
  assert_false (hit);
  assert_memory_equal (a, b, alen);

  if (geteuid () == 0)
    {
      struct husk_security_spec spec;
      husk_security_spec_init (&spec);
      spec.seccomp_bpf = steal_pointer (&a);
      spec.seccomp_bpf_len = alen;
      assert_int_equal (run_child (child_time_load, &spec), 0);
      husk_security_spec_release (&spec);
    }
  free (a);
  free (b);
  free (c);
  tmpdir_free (dir);
}

/* --- rlimits --- */

struct clamp_case
{
  const char *log;
  uint64_t hard;
};

/* Without CAP_SYS_RESOURCE (dropped here, whatever the test runs with),
   raising the hard limit fails: clamp, one warning for the asked limit,
   none for the default.  */
static int
child_clamp (void *arg)
{
  struct clamp_case *c = arg;
  struct husk_security_spec spec;
  husk_error_t err = NULL;
  struct rlimit cur, got;
  cleanup_free char *arg_s = NULL;
  int fd;

  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  if (syscall (SYS_capget, &hdr, data) == 0)
    {
      data[0].effective &= ~(1u << CAP_SYS_RESOURCE);
      data[0].permitted &= ~(1u << CAP_SYS_RESOURCE);
      syscall (SYS_capset, &hdr, data);
    }

  fd = open (c->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || dup2 (fd, STDERR_FILENO) < 0)
    return 50;
  getrlimit (RLIMIT_NOFILE, &cur);
  if (cur.rlim_max == RLIM_INFINITY)
    return 0;
  arg_s = xasprintf ("nofile=%llu:%llu", (unsigned long long)cur.rlim_max + 100,
                     (unsigned long long)cur.rlim_max + 100);
  husk_security_spec_init (&spec);
  if (husk_security_add_ulimit (&spec, arg_s, &err) < 0)
    return child_fail (51, "%s", err->msg);
  spec.seccomp = HUSK_SECCOMP_UNCONFINED;
  if (c->hard == 0)
    {
      if (husk_security_prepare (&spec, NULL, &err) < 0)
        return child_fail (52, "%s", err->msg);
    }
  if (husk_rlimits_apply (&spec, &err) < 0)
    return child_fail (53, "%s", err->msg);
  getrlimit (RLIMIT_NOFILE, &got);
  if (got.rlim_max != cur.rlim_max || got.rlim_cur != cur.rlim_max)
    return child_fail (54, "nofile %llu:%llu", (unsigned long long)got.rlim_cur,
                       (unsigned long long)got.rlim_max);
  return 0;
}

static int
count_lines (const char *path, const char *needle, bool show)
{
  FILE *f = fopen (path, "r");
  char *line = NULL;
  size_t cap = 0;
  int n = 0;

  assert_non_null (f);
  while (getline (&line, &cap, f) > 0)
    {
      if (strstr (line, needle))
        n++;
      if (show)
        printf ("  stderr: %s", line);
    }
  free (line);
  fclose (f);
  return n;
}

static void
test_rlimit_clamp (void **state)
{
  char *dir = tmpdir_new ();
  cleanup_free char *log = xasprintf ("%s/stderr", dir);
  struct clamp_case c = { .log = log };

  (void)state;
  /* Clamped in the parent by husk_security_prepare...  */
  assert_int_equal (run_child (child_clamp, &c), 0);
  assert_int_equal (count_lines (log, "Warning: ulimit nofile=", true), 1);
  assert_int_equal (count_lines (log, "Warning", false), 1);
  /* ... or in the child by husk_rlimits_apply when prepare was skipped.  */
  c.hard = 1;
  assert_int_equal (run_child (child_clamp, &c), 0);
  assert_int_equal (count_lines (log, "Warning: ulimit nofile=", true), 1);
  assert_int_equal (count_lines (log, "Warning", false), 1);
  tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cap_names),       cmocka_unit_test (test_caps_merge),
    cmocka_unit_test (test_ulimit_parse),    cmocka_unit_test (test_security_opt),
    cmocka_unit_test (test_profile_errors),  cmocka_unit_test (test_apply_caps_root),
    cmocka_unit_test (test_apply_caps_user), cmocka_unit_test (test_apply_userns_setgroups_denied),
    cmocka_unit_test (test_seccomp_default), cmocka_unit_test (test_seccomp_custom_profile),
    cmocka_unit_test (test_seccomp_cache),   cmocka_unit_test (test_rlimit_clamp),
  };
  husk_log_set_level (HUSK_LOG_WARN);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
