/* husk: seccomp.  A Docker-format JSON profile is compiled with libseccomp
   into classic BPF; the BPF is cached on disk keyed by everything that
   changes it (profile bytes, capability set, kernel, libseccomp), because
   generating a 350-rule filter costs 2-18 ms and loading it about 1 ms
   (DESIGN.md section 6).  The child loads the bytes with seccomp(2).  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/json.h"
#include "husk/security.h"
#include "husk/util.h"
#include "security-internal.h"

/* A filter larger than this is no filter we made (BPF_MAXINSNS is 4096
   instructions of 8 bytes).  */
#define BPF_MAX_BYTES (4096 * 8)

static void
cleanup_seccompp (scmp_filter_ctx *ctx)
{
  if (*ctx)
    seccomp_release (*ctx);
}
#define cleanup_seccomp __attribute__ ((cleanup (cleanup_seccompp)))

/* Everything a rule's includes/excludes can test.  */
struct profile_env
{
  uint64_t caps;
  const char *goarch; /* "amd64": the names profiles use for arches */
  int kernel_major, kernel_minor;
};

static const char *
native_goarch (void)
{
  static const struct
  {
    uint32_t arch;
    const char *name;
  } map[] = {
    { SCMP_ARCH_X86_64, "amd64" },  { SCMP_ARCH_X86, "386" },           { SCMP_ARCH_X32, "x32" },
    { SCMP_ARCH_AARCH64, "arm64" }, { SCMP_ARCH_ARM, "arm" },           { SCMP_ARCH_PPC64LE, "ppc64le" },
    { SCMP_ARCH_PPC64, "ppc64" },   { SCMP_ARCH_S390X, "s390x" },       { SCMP_ARCH_S390, "s390" },
    { SCMP_ARCH_MIPS64, "mips64" }, { SCMP_ARCH_MIPSEL64, "mips64le" }, { SCMP_ARCH_RISCV64, "riscv64" },
  };
  uint32_t native = seccomp_arch_native ();

  for (size_t i = 0; i < sizeof (map) / sizeof (map[0]); i++)
    if (map[i].arch == native)
      return map[i].name;
  return "";
}

static void
kernel_version (int *major, int *minor)
{
  struct utsname u;

  *major = *minor = 0;
  if (uname (&u) == 0)
    sscanf (u.release, "%d.%d", major, minor);
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token; 0 when unknown.  */
static uint32_t
arch_from_name (const char *name)
{
  cleanup_free char *lower = NULL;

  if (strncasecmp (name, "SCMP_ARCH_", 10) == 0)
    name += 10;
  lower = xstrdup (name);
  for (char *p = lower; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return seccomp_arch_resolve_name (lower);
}

static int
add_arch (scmp_filter_ctx ctx, const char *name, husk_error_t *err)
{
  uint32_t arch = arch_from_name (name);
  int ret;

  /* An architecture this libseccomp does not know cannot run here either.  */
  if (arch == 0)
    return 0;
  ret = seccomp_arch_add (ctx, arch);
  if (ret < 0 && ret != -EEXIST)
    return husk_make_error (err, -ret, "adding seccomp architecture %s", name);
  return 0;
}

static int
add_arches (scmp_filter_ctx ctx, husk_json_t *profile, husk_error_t *err)
{
  husk_json_t *archs = husk_json_get (profile, "architectures");
  husk_json_t *map = husk_json_get (profile, "archMap");
  uint32_t native = seccomp_arch_native ();
  int ret;

  for (size_t i = 0; i < husk_json_array_len (archs); i++)
    {
      const char *name = husk_json_string (husk_json_array_at (archs, i));
      if (name && (ret = add_arch (ctx, name, err)) < 0)
        return ret;
    }

  /* archMap: only the entry of the native architecture matters.  */
  for (size_t i = 0; i < husk_json_array_len (map); i++)
    {
      husk_json_t *e = husk_json_array_at (map, i);
      const char *name = husk_json_get_string (e, "architecture");
      husk_json_t *subs = husk_json_get (e, "subArchitectures");

      if (name == NULL || arch_from_name (name) != native)
        continue;
      for (size_t j = 0; j < husk_json_array_len (subs); j++)
        {
          const char *sub = husk_json_string (husk_json_array_at (subs, j));
          if (sub && (ret = add_arch (ctx, sub, err)) < 0)
            return ret;
        }
    }
  return 0;
}

static int
parse_action (const char *name, husk_json_t *errno_ret, uint32_t *out, husk_error_t *err)
{
  int64_t ret_code = husk_json_int (errno_ret, EPERM);

  if (name == NULL)
    return husk_make_error (err, 0, "seccomp profile: missing action");
  if (ret_code < 0 || ret_code > 0xffff)
    return husk_make_error (err, 0, "seccomp profile: invalid errnoRet %" PRId64, ret_code);
  if (strcmp (name, "SCMP_ACT_ALLOW") == 0)
    *out = SCMP_ACT_ALLOW;
  else if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
    *out = SCMP_ACT_ERRNO ((uint32_t)ret_code);
  else if (strcmp (name, "SCMP_ACT_KILL") == 0 || strcmp (name, "SCMP_ACT_KILL_THREAD") == 0)
    *out = SCMP_ACT_KILL_THREAD;
  else if (strcmp (name, "SCMP_ACT_KILL_PROCESS") == 0)
    *out = SCMP_ACT_KILL_PROCESS;
  else if (strcmp (name, "SCMP_ACT_TRAP") == 0)
    *out = SCMP_ACT_TRAP;
  else if (strcmp (name, "SCMP_ACT_TRACE") == 0)
    *out = SCMP_ACT_TRACE ((uint32_t)ret_code);
  else if (strcmp (name, "SCMP_ACT_LOG") == 0)
    *out = SCMP_ACT_LOG;
  else
    return husk_make_error (err, 0, "seccomp profile: unsupported action \"%s\"", name);
  return 0;
}

static int
parse_op (const char *name, enum scmp_compare *out)
{
  static const struct
  {
    const char *name;
    enum scmp_compare op;
  } ops[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE },
    { "SCMP_CMP_LT", SCMP_CMP_LT },
    { "SCMP_CMP_LE", SCMP_CMP_LE },
    { "SCMP_CMP_EQ", SCMP_CMP_EQ },
    { "SCMP_CMP_GE", SCMP_CMP_GE },
    { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
  };

  for (size_t i = 0; name && i < sizeof (ops) / sizeof (ops[0]); i++)
    if (strcmp (name, ops[i].name) == 0)
      {
        *out = ops[i].op;
        return 0;
      }
  return -1;
}

static uint64_t
json_u64 (husk_json_t *v)
{
  if (husk_json_type (v) == HUSK_JSON_DOUBLE)
    {
      double d = husk_json_double (v, 0);
      return d >= 18446744073709551615.0 ? UINT64_MAX : d <= 0 ? 0 : (uint64_t)d;
    }
  return (uint64_t)husk_json_int (v, 0);
}

static bool
strings_contain (husk_json_t *arr, const char *s)
{
  for (size_t i = 0; i < husk_json_array_len (arr); i++)
    {
      const char *e = husk_json_string (husk_json_array_at (arr, i));
      if (e && strcmp (e, s) == 0)
        return true;
    }
  return false;
}

static bool
has_cap_named (const struct profile_env *env, const char *name)
{
  int c = husk_cap_from_name (name, NULL);
  return c >= 0 && c < 64 && (env->caps & (UINT64_C (1) << c));
}

/* Docker's rule filter: every included cap present, the native arch in
   the included arches, a new enough kernel; no excluded cap present, the
   native arch not excluded.  */
static bool
rule_applies (husk_json_t *rule, const struct profile_env *env)
{
  husk_json_t *inc = husk_json_get (rule, "includes"), *exc = husk_json_get (rule, "excludes");
  husk_json_t *caps, *arches;
  const char *min_kernel;

  caps = husk_json_get (inc, "caps");
  for (size_t i = 0; i < husk_json_array_len (caps); i++)
    {
      const char *c = husk_json_string (husk_json_array_at (caps, i));
      if (c && !has_cap_named (env, c))
        return false;
    }
  arches = husk_json_get (inc, "arches");
  if (husk_json_array_len (arches) > 0 && !strings_contain (arches, env->goarch))
    return false;
  min_kernel = husk_json_get_string (inc, "minKernel");
  if (min_kernel)
    {
      int maj = 0, min = 0;
      sscanf (min_kernel, "%d.%d", &maj, &min);
      if (env->kernel_major < maj || (env->kernel_major == maj && env->kernel_minor < min))
        return false;
    }

  caps = husk_json_get (exc, "caps");
  for (size_t i = 0; i < husk_json_array_len (caps); i++)
    {
      const char *c = husk_json_string (husk_json_array_at (caps, i));
      if (c && has_cap_named (env, c))
        return false;
    }
  arches = husk_json_get (exc, "arches");
  if (strings_contain (arches, env->goarch))
    return false;
  return true;
}

static int
parse_args (husk_json_t *args, struct scmp_arg_cmp *cmps, size_t *n, husk_error_t *err)
{
  size_t len = husk_json_array_len (args);

  if (len > 6)
    return husk_make_error (err, 0, "seccomp profile: more than 6 argument conditions");
  for (size_t i = 0; i < len; i++)
    {
      husk_json_t *a = husk_json_array_at (args, i);
      int64_t index = husk_json_int (husk_json_get (a, "index"), -1);
      enum scmp_compare op;

      if (index < 0 || index > 5)
        return husk_make_error (err, 0, "seccomp profile: invalid argument index %" PRId64, index);
      if (parse_op (husk_json_get_string (a, "op"), &op) < 0)
        return husk_make_error (err, 0, "seccomp profile: invalid operator \"%s\"",
                                husk_json_get_string (a, "op") ? husk_json_get_string (a, "op") : "");
      cmps[i].arg = (unsigned int)index;
      cmps[i].op = op;
      cmps[i].datum_a = json_u64 (husk_json_get (a, "value"));
      cmps[i].datum_b = json_u64 (husk_json_get (a, "valueTwo"));
    }
  *n = len;
  return 0;
}

/* Conditions on different arguments are ANDed in one rule; several
   conditions on the same argument are ORed, one rule each (as runc and
   containers/common do, since libseccomp cannot AND two tests of one
   argument).  */
static int
add_syscall_rule (scmp_filter_ctx ctx, uint32_t act, const char *name, const struct scmp_arg_cmp *cmps,
                  size_t n, husk_error_t *err)
{
  int nr = seccomp_syscall_resolve_name (name);
  struct scmp_arg_cmp and_cmps[6];
  unsigned int count[6] = { 0 };
  size_t n_and = 0;
  int ret;

  /* A syscall this libseccomp does not know: nothing to filter.  */
  if (nr == __NR_SCMP_ERROR)
    return 0;

  for (size_t i = 0; i < n; i++)
    count[cmps[i].arg]++;
  for (size_t i = 0; i < n; i++)
    {
      if (count[cmps[i].arg] > 1)
        {
          ret = seccomp_rule_add_array (ctx, act, nr, 1, &cmps[i]);
          if (ret < 0)
            return husk_make_error (err, -ret, "seccomp rule for %s", name);
        }
      else
        and_cmps[n_and++] = cmps[i];
    }
  if (n_and > 0 || n == 0)
    {
      ret = seccomp_rule_add_array (ctx, act, nr, (unsigned int)n_and, and_cmps);
      if (ret < 0)
        return husk_make_error (err, -ret, "seccomp rule for %s", name);
    }
  return 0;
}

static int
add_rule (scmp_filter_ctx ctx, husk_json_t *rule, uint32_t default_act, const struct profile_env *env,
          husk_error_t *err)
{
  husk_json_t *names = husk_json_get (rule, "names");
  const char *single = husk_json_get_string (rule, "name");
  struct scmp_arg_cmp cmps[6];
  size_t n_cmps = 0;
  uint32_t act;
  int ret;

  if (!rule_applies (rule, env))
    return 0;
  ret = parse_action (husk_json_get_string (rule, "action"), husk_json_get (rule, "errnoRet"), &act, err);
  if (ret < 0)
    return ret;
  /* libseccomp refuses a rule that repeats the default action.  */
  if (act == default_act)
    return 0;
  ret = parse_args (husk_json_get (rule, "args"), cmps, &n_cmps, err);
  if (ret < 0)
    return ret;

  if (single)
    {
      ret = add_syscall_rule (ctx, act, single, cmps, n_cmps, err);
      if (ret < 0)
        return ret;
    }
  for (size_t i = 0; i < husk_json_array_len (names); i++)
    {
      const char *name = husk_json_string (husk_json_array_at (names, i));
      if (name == NULL)
        continue;
      ret = add_syscall_rule (ctx, act, name, cmps, n_cmps, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* seccomp_export_bpf writes to an fd (libseccomp 2.5 has no in-memory
   export): a memfd keeps it off the disk.  */
static int
export_bpf (scmp_filter_ctx ctx, void **out, size_t *out_len, husk_error_t *err)
{
  cleanup_close int fd = memfd_create ("husk-seccomp", MFD_CLOEXEC);
  char *data = NULL;
  size_t len = 0;
  int ret;

  if (fd < 0)
    return husk_make_error (err, errno, "memfd_create");
  ret = seccomp_export_bpf (ctx, fd);
  if (ret < 0)
    return husk_make_error (err, -ret, "exporting the seccomp filter");
  if (lseek (fd, 0, SEEK_SET) < 0)
    return husk_make_error (err, errno, "lseek");
  ret = husk_read_all_fd (fd, BPF_MAX_BYTES, &data, &len, err);
  if (ret < 0)
    return ret;
  *out = data;
  *out_len = len;
  return 0;
}

int
husk_seccomp_compile (const char *profile, size_t len, uint64_t caps, void **out, size_t *out_len,
                      husk_error_t *err)
{
  cleanup_json husk_json_t *root = NULL;
  cleanup_seccomp scmp_filter_ctx ctx = NULL;
  struct profile_env env = { .caps = caps, .goarch = native_goarch () };
  husk_json_t *syscalls;
  uint32_t default_act;
  int ret;

  kernel_version (&env.kernel_major, &env.kernel_minor);
  root = husk_json_parse (profile, len, err);
  if (root == NULL)
    return husk_error_wrap (err, "parsing the seccomp profile");
  if (husk_json_type (root) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "seccomp profile: not a JSON object");

  ret = parse_action (husk_json_get_string (root, "defaultAction"), husk_json_get (root, "defaultErrnoRet"),
                      &default_act, err);
  if (ret < 0)
    return ret;
  ctx = seccomp_init (default_act);
  if (ctx == NULL)
    return husk_make_error (err, 0, "seccomp_init failed");
  /* Loading is ours (no_new_privs is a separate option), and a binary
     tree keeps a 350-rule filter fast at run time.  */
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

  ret = add_arches (ctx, root, err);
  if (ret < 0)
    return ret;

  syscalls = husk_json_get (root, "syscalls");
  for (size_t i = 0; i < husk_json_array_len (syscalls); i++)
    {
      ret = add_rule (ctx, husk_json_array_at (syscalls, i), default_act, &env, err);
      if (ret < 0)
        return husk_error_wrap (err, "seccomp profile: syscalls[%zu]", i);
    }
  return export_bpf (ctx, out, out_len, err);
}

/* --- the cache --- */

static char *
cache_key (const char *profile, size_t len, uint64_t caps)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();
  const struct scmp_version *v = seccomp_version ();
  cleanup_free char *digest = NULL;
  cleanup_free char *extra = NULL;
  struct utsname u;

  if (uname (&u) < 0)
    memset (&u, 0, sizeof (u));
  extra = xasprintf ("\ncaps=%016" PRIx64 "\nkernel=%s %s %s\nlibseccomp=%u.%u.%u\nhusk-bpf-1\n", caps,
                     u.release, u.version, u.machine, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
  husk_digester_update (d, profile, len);
  husk_digester_update (d, extra, strlen (extra));
  digest = husk_digester_final (d);
  return xasprintf ("%s.bpf", husk_digest_hex (digest));
}

static bool
bpf_valid (size_t len)
{
  return len > 0 && len % sizeof (struct sock_filter) == 0 && len <= BPF_MAX_BYTES;
}

/* Returns 1 with *out filled on a hit, 0 on a miss.  A cache that cannot
   be read is a miss, never an error: the filter can always be rebuilt.  */
static int
cache_read (int dirfd, const char *name, void **out, size_t *out_len)
{
  husk_error_t err = NULL;
  char *data = NULL;
  size_t len = 0;

  if (husk_read_file_at (dirfd, name, BPF_MAX_BYTES, &data, &len, &err) < 0)
    {
      husk_error_release (&err);
      return 0;
    }
  if (!bpf_valid (len))
    {
      free (data);
      return 0;
    }
  *out = data;
  *out_len = len;
  return 1;
}

int
husk_seccomp_build_cached (const char *profile, size_t len, uint64_t caps, const char *cache_dir, void **out,
                           size_t *out_len, bool *hit, husk_error_t *err)
{
  cleanup_free char *name = NULL;
  cleanup_close int dirfd = -1;
  husk_error_t werr = NULL;
  int ret;

  *hit = false;
  if (cache_dir == NULL)
    return husk_seccomp_compile (profile, len, caps, out, out_len, err);

  name = cache_key (profile, len, caps);
  dirfd = open (cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0 && errno == ENOENT && husk_mkdir_p (cache_dir, 0700, &werr) == 0)
    dirfd = open (cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  husk_error_release (&werr);
  if (dirfd >= 0 && cache_read (dirfd, name, out, out_len) == 1)
    {
      *hit = true;
      return 0;
    }

  ret = husk_seccomp_compile (profile, len, caps, out, out_len, err);
  if (ret < 0)
    return ret;
  /* A cache that cannot be written only costs the next container time.  */
  if (dirfd < 0 || husk_write_file_atomic (dirfd, name, *out, *out_len, 0600, &werr) < 0)
    {
      husk_debug ("seccomp cache %s: %s", cache_dir, werr ? werr->msg : strerror (errno));
      husk_error_release (&werr);
    }
  return 0;
}

int
husk_seccomp_load (const void *bpf, size_t len, bool no_new_privs, husk_error_t *err)
{
  struct sock_fprog prog;

  if (!bpf_valid (len))
    return husk_make_error (err, EINVAL, "loading the seccomp filter: %zu bytes", len);
  prog.len = (unsigned short)(len / sizeof (struct sock_filter));
  prog.filter = (struct sock_filter *)bpf;

  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
    return 0;
  if (errno == ENOSYS && prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
    return 0;
  if (errno == EACCES && !no_new_privs)
    return husk_make_error (err, errno,
                            "loading the seccomp filter (needs CAP_SYS_ADMIN or no-new-privileges)");
  return husk_make_error (err, errno, "loading the seccomp filter");
}
