/* husk: container cgroups: limits parsing, backend detection, the backend
   table and the file helpers shared by cgroup-v1.c and cgroup-v2.c.  */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "husk/cgroup.h"
#include "husk/fs.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "cgroup-internal.h"

#define DEFAULT_PARENT     "husk"
#define DEFAULT_CPU_PERIOD 100000
/* Docker refuses smaller memory limits: the container could not even start.  */
#define MIN_MEMORY (6 * 1024 * 1024)

/* ---------------------------------------------------------------------- */
/* Limits parsing (Docker's syntax and checks).                            */

static int
invalid_value (husk_error_t *err, const char *flag, const char *value, const char *why)
{
  return husk_make_error (err, 0, "invalid value \"%s\" for --%s: %s", value, flag, why);
}

/* Parse "<digits>[.<digits>]" into units of 10^-9 (so "1.5" -> 1500000000).
   Returns the position after the number, or NULL.  */
static const char *
parse_decimal_nano (const char *s, uint64_t *out)
{
  uint64_t whole = 0, frac = 0, scale = 1000000000ULL;
  const char *p = s;

  if (!isdigit ((unsigned char)*p))
    return NULL;
  for (; isdigit ((unsigned char)*p); p++)
    {
      if (whole > (UINT64_MAX / 10 - 10) / scale)
        return NULL;
      whole = whole * 10 + (uint64_t)(*p - '0');
    }
  if (*p == '.')
    {
      p++;
      if (!isdigit ((unsigned char)*p))
        return NULL;
      for (; isdigit ((unsigned char)*p); p++)
        if (scale > 1)
          {
            scale /= 10;
            frac += (uint64_t)(*p - '0') * scale;
          }
    }
  *out = whole * 1000000000ULL + frac;
  return p;
}

/* go-units RAMInBytes: "512m", "1.5g", "10 MB", "1GiB", "1024".  */
static bool
parse_size (const char *value, int64_t *out)
{
  static const char units[] = "bkmgtp";
  uint64_t nano, mult = 1;
  const char *p, *u;
  unsigned __int128 bytes;

  p = parse_decimal_nano (value, &nano);
  if (p == NULL)
    return false;
  if (*p == ' ')
    p++;
  if (*p != '\0' && (u = strchr (units, tolower ((unsigned char)*p))) != NULL && *u != 'b')
    {
      for (size_t i = 0; i < (size_t)(u - units); i++)
        mult *= 1024;
      p++;
      if (tolower ((unsigned char)*p) == 'i')
        p++;
    }
  if (tolower ((unsigned char)*p) == 'b')
    p++;
  if (*p != '\0')
    return false;
  bytes = (unsigned __int128)nano * mult / 1000000000U;
  if (bytes > INT64_MAX)
    return false;
  *out = (int64_t)bytes;
  return true;
}

int
husk_cgroup_parse_bytes (const char *flag, const char *value, int64_t *out, husk_error_t *err)
{
  if (!parse_size (value, out))
    return invalid_value (err, flag, value, "expected a size such as 512m or 1g (units b, k, m, g)");
  return 0;
}

static int
parse_int (const char *flag, const char *value, int64_t *out, husk_error_t *err)
{
  char *end = NULL;
  long long v;

  errno = 0;
  v = strtoll (value, &end, 10);
  if (errno != 0 || end == value || *end != '\0')
    return invalid_value (err, flag, value, "expected an integer");
  *out = v;
  return 0;
}

/* Kernel list syntax: "0-3,5,7-8".  The kernel checks the numbers exist.  */
static bool
valid_cpu_list (const char *s)
{
  const char *p = s;

  while (*p)
    {
      if (!isdigit ((unsigned char)*p))
        return false;
      while (isdigit ((unsigned char)*p))
        p++;
      if (*p == '-')
        {
          p++;
          if (!isdigit ((unsigned char)*p))
            return false;
          while (isdigit ((unsigned char)*p))
            p++;
        }
      if (*p == ',')
        {
          p++;
          if (*p == '\0')
            return false;
        }
      else if (*p != '\0')
        return false;
    }
  return *s != '\0';
}

static int
parse_cpus (const char *value, uint64_t *nano, husk_error_t *err)
{
  const char *end = parse_decimal_nano (value, nano);
  long online = sysconf (_SC_NPROCESSORS_ONLN);

  if (end == NULL || *end != '\0')
    return invalid_value (err, "cpus", value, "expected a number of CPUs such as 1.5");
  if (*nano == 0)
    return 0;
  /* The kernel refuses a quota under 1ms of a 100ms period.  */
  if (*nano < 10000000ULL || (online > 0 && *nano > (uint64_t)online * 1000000000ULL))
    {
      cleanup_free char *why = xasprintf (
          "range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs available", online, online);
      return invalid_value (err, "cpus", value, why);
    }
  return 0;
}

static bool
parse_dev_number (const char **p, int64_t *out)
{
  char *end = NULL;
  unsigned long v;

  if (**p == '*')
    {
      (*p)++;
      *out = -1;
      return true;
    }
  if (!isdigit ((unsigned char)**p))
    return false;
  errno = 0;
  v = strtoul (*p, &end, 10);
  if (errno != 0 || v > UINT32_MAX)
    return false;
  *p = end;
  *out = (int64_t)v;
  return true;
}

int
husk_cgroup_parse_device_rule (const char *value, struct husk_cgroup_device_rule *rule, husk_error_t *err)
{
  const char *p = value;

  memset (rule, 0, sizeof (*rule));
  rule->allow = true;
  rule->major = rule->minor = -1;
  if (*p != 'a' && *p != 'b' && *p != 'c')
    goto bad;
  rule->type = *p++;
  if (*p == '\0' && rule->type == 'a')
    {
      rule->access = HUSK_DEV_READ | HUSK_DEV_WRITE | HUSK_DEV_MKNOD;
      return 0;
    }
  if (*p++ != ' ' || !parse_dev_number (&p, &rule->major) || *p++ != ':'
      || !parse_dev_number (&p, &rule->minor) || *p++ != ' ' || *p == '\0')
    goto bad;
  for (; *p; p++)
    {
      unsigned bit = *p == 'r' ? HUSK_DEV_READ : *p == 'w' ? HUSK_DEV_WRITE : *p == 'm' ? HUSK_DEV_MKNOD : 0;
      if (bit == 0 || (rule->access & bit))
        goto bad;
      rule->access |= bit;
    }
  return 0;

bad:
  return invalid_value (err, "device-cgroup-rule", value,
                        "expected \"type major:minor access\" such as \"c 1:3 rwm\" (type a, b or c; "
                        "major and minor a number or *; access of r, w, m)");
}

void
husk_cgroup_limits_add_device (struct husk_cgroup_limits *limits, const struct husk_cgroup_device_rule *rule)
{
  limits->devices = xrealloc (limits->devices, (limits->n_devices + 1) * sizeof (*rule));
  limits->devices[limits->n_devices++] = *rule;
}

static int
parse_memory_flag (struct husk_cgroup_limits *l, const char *flag, const char *value, husk_error_t *err)
{
  int64_t v;
  int ret;

  if (strcmp (flag, "memory-swap") == 0 && strcmp (value, "-1") == 0)
    {
      l->memory_swap = -1;
      return 0;
    }
  ret = husk_cgroup_parse_bytes (flag, value, &v, err);
  if (ret < 0)
    return ret;
  if (strcmp (flag, "memory") == 0)
    {
      if (v > 0 && v < MIN_MEMORY)
        return invalid_value (err, flag, value, "the minimum memory limit is 6MB");
      l->memory = v;
    }
  else if (strcmp (flag, "memory-swap") == 0)
    l->memory_swap = v;
  else
    l->memory_reservation = v;
  return 0;
}

static int
parse_cpu_flag (struct husk_cgroup_limits *l, const char *flag, const char *value, husk_error_t *err)
{
  int64_t v;
  int ret;

  if (strcmp (flag, "cpus") == 0)
    return parse_cpus (value, &l->nano_cpus, err);
  ret = parse_int (flag, value, &v, err);
  if (ret < 0)
    return ret;
  if (strcmp (flag, "cpu-shares") == 0)
    {
      if (v < 0)
        return invalid_value (err, flag, value, "must not be negative");
      /* The kernel clamps to [2, 262144] too; do it here so v2's weight
         conversion sees the same value.  */
      l->cpu_shares = v == 0 ? 0 : v < 2 ? 2 : v > 262144 ? 262144 : (uint64_t)v;
    }
  else if (strcmp (flag, "cpu-quota") == 0)
    {
      if (v > 0 && v < 1000)
        return invalid_value (err, flag, value, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
      l->cpu_quota = v < 0 ? -1 : v;
    }
  else
    {
      if (v != 0 && (v < 1000 || v > 1000000))
        return invalid_value (
            err, flag, value,
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
      l->cpu_period = (uint64_t)v;
    }
  return 0;
}

static void
set_string (char **field, const char *value)
{
  free (*field);
  *field = *value ? xstrdup (value) : NULL;
}

static int
parse_cgroup_parent (struct husk_cgroup_limits *l, const char *value, husk_error_t *err)
{
  cleanup_free char *copy = xstrdup (value);
  char *save = NULL;

  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save))
    if (strcmp (c, ".") == 0 || strcmp (c, "..") == 0)
      return invalid_value (err, "cgroup-parent", value, "\".\" and \"..\" are not allowed");
  while (*value == '/')
    value++;
  set_string (&l->parent, value);
  return 0;
}

int
husk_cgroup_parse_flag (struct husk_cgroup_limits *l, const char *flag, const char *value, husk_error_t *err)
{
  if (strcmp (flag, "memory") == 0 || strcmp (flag, "memory-swap") == 0
      || strcmp (flag, "memory-reservation") == 0)
    return parse_memory_flag (l, flag, value, err);
  if (strcmp (flag, "cpus") == 0 || strcmp (flag, "cpu-shares") == 0 || strcmp (flag, "cpu-quota") == 0
      || strcmp (flag, "cpu-period") == 0)
    return parse_cpu_flag (l, flag, value, err);
  if (strcmp (flag, "cpuset-cpus") == 0 || strcmp (flag, "cpuset-mems") == 0)
    {
      if (*value && !valid_cpu_list (value))
        return invalid_value (err, flag, value, "expected a list such as 0-3 or 0,1");
      set_string (strcmp (flag, "cpuset-cpus") == 0 ? &l->cpuset_cpus : &l->cpuset_mems, value);
      return 0;
    }
  if (strcmp (flag, "pids-limit") == 0)
    {
      int64_t v;
      int ret = parse_int (flag, value, &v, err);
      if (ret < 0)
        return ret;
      /* Docker: 0 or a negative value means unlimited.  */
      l->pids_limit = v <= 0 ? -1 : v;
      return 0;
    }
  if (strcmp (flag, "blkio-weight") == 0)
    {
      int64_t v;
      int ret = parse_int (flag, value, &v, err);
      if (ret < 0)
        return ret;
      if (v != 0 && (v < 10 || v > 1000))
        return invalid_value (err, flag, value, "range is 10 to 1000 (0 disables)");
      l->blkio_weight = (uint16_t)v;
      return 0;
    }
  if (strcmp (flag, "device-cgroup-rule") == 0)
    {
      struct husk_cgroup_device_rule rule;
      int ret = husk_cgroup_parse_device_rule (value, &rule, err);
      if (ret < 0)
        return ret;
      husk_cgroup_limits_add_device (l, &rule);
      return 0;
    }
  if (strcmp (flag, "cgroup-parent") == 0)
    return parse_cgroup_parent (l, value, err);
  return husk_make_error (err, 0, "unknown cgroup flag --%s", flag);
}

int
husk_cgroup_limits_validate (const struct husk_cgroup_limits *l, husk_error_t *err)
{
  if (l->memory_swap > 0 && l->memory == 0)
    return husk_make_error (err, 0,
                            "You should always set the Memory limit when using Memoryswap limit, see usage");
  if (l->memory_swap > 0 && l->memory_swap < l->memory)
    return husk_make_error (err, 0, "Minimum memoryswap limit should be larger than memory limit, see usage");
  if (l->memory > 0 && l->memory_reservation > l->memory)
    return husk_make_error (err, 0,
                            "Minimum memory limit can not be less than memory reservation limit, see usage");
  if (l->nano_cpus && l->cpu_period)
    return husk_make_error (err, 0, "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (l->nano_cpus && l->cpu_quota)
    return husk_make_error (err, 0, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  return 0;
}

bool
husk_cgroup_limits_any (const struct husk_cgroup_limits *l)
{
  return l->memory || l->memory_reservation || l->memory_swap || l->nano_cpus || l->cpu_quota || l->cpu_period
         || l->cpu_shares || l->cpuset_cpus || l->cpuset_mems || l->pids_limit || l->blkio_weight;
}

void
husk_cgroup_limits_free (struct husk_cgroup_limits *l)
{
  free (l->cpuset_cpus);
  free (l->cpuset_mems);
  free (l->parent);
  free (l->devices);
  memset (l, 0, sizeof (*l));
}

void
husk_cgroup_cpu_quota (const struct husk_cgroup_limits *l, int64_t *quota, uint64_t *period)
{
  *period = l->cpu_period ? l->cpu_period : DEFAULT_CPU_PERIOD;
  if (l->nano_cpus)
    *quota = (int64_t)(l->nano_cpus * *period / 1000000000ULL);
  else
    *quota = l->cpu_quota;
}

int64_t
husk_cgroup_memory_swap (const struct husk_cgroup_limits *l)
{
  if (l->memory_swap)
    return l->memory_swap;
  if (l->memory > 0)
    return l->memory * 2;
  return 0;
}

/* log2 and 10^x without libm (husk does not link it): series that are
   exact enough for the conversion below, on its range only.  */
static double
log2_ge1 (double x)
{
  const double ln2 = 0.69314718055994530942;
  double z, z2, term, sum = 0;
  int k = 0;

  while (x >= 2)
    {
      x /= 2;
      k++;
    }
  /* ln x = 2 atanh ((x - 1) / (x + 1)), |z| < 1/3 here.  */
  z = (x - 1) / (x + 1);
  z2 = z * z;
  term = z;
  for (int i = 1; i < 80; i += 2)
    {
      sum += term / i;
      term *= z2;
    }
  return k + 2 * sum / ln2;
}

static double
exp10_nonneg (double x)
{
  const double ln2 = 0.69314718055994530942, ln10 = 2.30258509299404568402;
  double y = x * ln10, r, sum = 1, term = 1;
  int n = (int)(y / ln2);

  r = y - n * ln2;
  for (int i = 1; i < 40; i++)
    {
      term *= r / i;
      sum += term;
    }
  while (n-- > 0)
    sum *= 2;
  return sum;
}

uint64_t
husk_cgroup_shares_to_weight (uint64_t shares)
{
  double l, exponent, w;
  uint64_t up;

  if (shares == 0)
    return 0;
  if (shares <= 2)
    return 1;
  if (shares >= 262144)
    return 10000;
  l = log2_ge1 ((double)shares);
  exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  /* ceil, forgiving the last bits of the series: 1024 must give 100.  */
  w = exp10_nonneg (exponent) - 1e-9;
  up = (uint64_t)w;
  return (double)up < w ? up + 1 : up;
}

/* ---------------------------------------------------------------------- */
/* Devices.                                                               */

#define RWM (HUSK_DEV_READ | HUSK_DEV_WRITE | HUSK_DEV_MKNOD)

static const struct husk_cgroup_device_rule default_devices[] = {
  { true, 'c', -1, -1, HUSK_DEV_MKNOD }, /* mknod of any device: images may carry nodes */
  { true, 'b', -1, -1, HUSK_DEV_MKNOD },
  { true, 'c', 1, 3, RWM },    /* null */
  { true, 'c', 1, 5, RWM },    /* zero */
  { true, 'c', 1, 7, RWM },    /* full */
  { true, 'c', 1, 8, RWM },    /* random */
  { true, 'c', 1, 9, RWM },    /* urandom */
  { true, 'c', 5, 0, RWM },    /* tty */
  { true, 'c', 5, 1, RWM },    /* console */
  { true, 'c', 5, 2, RWM },    /* ptmx */
  { true, 'c', 136, -1, RWM }, /* pts/<n> */
  { true, 'c', 10, 200, RWM }, /* net/tun */
};

const struct husk_cgroup_device_rule *
husk_cgroup_default_devices (size_t *n)
{
  *n = sizeof (default_devices) / sizeof (default_devices[0]);
  return default_devices;
}

struct husk_cgroup_device_rule *
husk_cgroup_device_rules (const struct husk_cgroup_limits *l, size_t *n)
{
  size_t n_default, i = 0;
  const struct husk_cgroup_device_rule *defaults = husk_cgroup_default_devices (&n_default);
  struct husk_cgroup_device_rule *rules;

  *n = 0;
  if (l->privileged)
    return NULL;
  rules = xmalloc ((1 + n_default + l->n_devices) * sizeof (*rules));
  rules[i++] = (struct husk_cgroup_device_rule){ false, 'a', -1, -1, RWM };
  memcpy (rules + i, defaults, n_default * sizeof (*rules));
  i += n_default;
  if (l->n_devices)
    memcpy (rules + i, l->devices, l->n_devices * sizeof (*rules));
  *n = i + l->n_devices;
  return rules;
}

/* ---------------------------------------------------------------------- */
/* File helpers.                                                          */

int
husk_cgroup_write (const char *dir, const char *file, const char *value, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  size_t len = strlen (value);
  ssize_t w;

  if (fd < 0)
    return husk_make_error (err, errno, "open `%s`", path);
  /* One write(2): cgroup files take a value per call.  */
  w = write (fd, value, len);
  if (w < 0)
    return husk_make_error (err, errno, "write `%s` to `%s`", value, path);
  if ((size_t)w != len)
    return husk_make_error (err, EIO, "short write to `%s`", path);
  return 0;
}

int
husk_cgroup_read (const char *dir, const char *file, char **out, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t len = 0;
  int ret;

  if (fd < 0)
    return husk_make_error (err, errno, "open `%s`", path);
  ret = husk_read_all_fd (fd, 1 << 24, out, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read `%s`", path);
  while (len > 0 && (*out)[len - 1] == '\n')
    (*out)[--len] = '\0';
  return 0;
}

int
husk_cgroup_read_u64 (const char *dir, const char *file, uint64_t *out, husk_error_t *err)
{
  cleanup_free char *s = NULL;
  int ret = husk_cgroup_read (dir, file, &s, err);

  if (ret < 0)
    return ret;
  *out = 0;
  if (strcmp (s, "max") == 0)
    return 0;
  if (!husk_parse_u64 (s, out))
    return husk_make_error (err, 0, "unexpected content `%s` in %s/%s", s, dir, file);
  /* v1 reports "unlimited" as PAGE_COUNTER_MAX pages in bytes.  */
  if (*out >= (1ULL << 62))
    *out = 0;
  return 0;
}

int
husk_cgroup_read_key (const char *dir, const char *file, const char *key, uint64_t *out, husk_error_t *err)
{
  cleanup_free char *s = NULL;
  size_t klen = strlen (key);
  int ret = husk_cgroup_read (dir, file, &s, err);

  if (ret < 0)
    return ret;
  *out = 0;
  for (char *line = s; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    if (strncmp (line, key, klen) == 0 && line[klen] == ' ')
      {
        *out = strtoull (line + klen + 1, NULL, 10);
        break;
      }
  return 0;
}

bool
husk_cgroup_file_exists (const char *dir, const char *file)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  return access (path, F_OK) == 0;
}

int
husk_cgroup_read_pids (const char *dir, pid_t **pids, size_t *n, husk_error_t *err)
{
  cleanup_free char *s = NULL;
  cleanup_free pid_t *v = NULL;
  size_t count = 0;
  char *save = NULL;
  int ret;

  *pids = NULL;
  *n = 0;
  ret = husk_cgroup_read (dir, "cgroup.procs", &s, err);
  if (ret < 0)
    return ret;
  for (char *t = strtok_r (s, "\n", &save); t; t = strtok_r (NULL, "\n", &save))
    {
      v = xrealloc (v, (count + 1) * sizeof (*v));
      v[count++] = (pid_t)strtol (t, NULL, 10);
    }
  *pids = steal_pointer (&v);
  *n = count;
  return 0;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

int
husk_cgroup_kill_procs (const char *dir, husk_error_t *err)
{
  /* A process may fork while we read the list: repeat until empty.  */
  for (int attempt = 0; attempt < 1000; attempt++)
    {
      cleanup_free pid_t *pids = NULL;
      size_t n = 0;
      int ret = husk_cgroup_read_pids (dir, &pids, &n, err);

      if (ret < 0)
        {
          if ((*err)->status == ENOENT)
            {
              husk_error_release (err);
              return 0;
            }
          return ret;
        }
      if (n == 0)
        return 0;
      for (size_t i = 0; i < n; i++)
        kill (pids[i], SIGKILL);
      sleep_ms (attempt < 10 ? 1 : 10);
    }
  return husk_make_error (err, EBUSY, "processes left in `%s`", dir);
}

int
husk_cgroup_rmdir (const char *dir, husk_error_t *err)
{
  /* Killed tasks leave the cgroup asynchronously: about 2 s of retries.  */
  for (int attempt = 0;; attempt++)
    {
      if (rmdir (dir) == 0 || errno == ENOENT)
        return 0;
      if (errno != EBUSY || attempt >= 200)
        return husk_make_error (err, errno, "remove cgroup `%s`", dir);
      sleep_ms (attempt < 10 ? 1 : 10);
    }
}

int
husk_cgroup_mkdir (const char *dir, husk_error_t *err)
{
  if (mkdir (dir, 0755) == 0)
    return 1;
  if (errno == EEXIST)
    return 0;
  return husk_make_error (err, errno, "create cgroup `%s`", dir);
}

/* ---------------------------------------------------------------------- */
/* Detection.                                                             */

static struct
{
  bool done;
  enum husk_cgroup_mode mode;
  const char *why;
  char *v2_mount;
  /* v2 rootless: the delegated cgroup husk creates under ("" as root).  */
  char *v2_base;
} detected;

const char *
husk_cgroup_v2_mount (void)
{
  return detected.v2_mount ? detected.v2_mount : HUSK_CGROUP_ROOT;
}

void
husk_cgroup_force_backend (enum husk_cgroup_mode mode, const char *v2_mount)
{
  free (detected.v2_mount);
  free (detected.v2_base);
  detected.done = true;
  detected.mode = mode;
  detected.why = mode == HUSK_CGROUP_NONE ? "disabled" : NULL;
  detected.v2_mount = xstrdup (v2_mount ? v2_mount : HUSK_CGROUP_ROOT);
  detected.v2_base = xstrdup ("");
}

void
husk_cgroup_redetect (void)
{
  free (detected.v2_mount);
  free (detected.v2_base);
  memset (&detected, 0, sizeof (detected));
}

/* The v2 path of this process, from the "0::/path" line of /proc/self/cgroup.  */
static char *
own_v2_cgroup (void)
{
  cleanup_free char *s = NULL;
  size_t len;
  husk_error_t err = NULL;

  if (husk_read_file_at (AT_FDCWD, "/proc/self/cgroup", 1 << 20, &s, &len, &err) < 0)
    {
      husk_error_release (&err);
      return NULL;
    }
  for (char *line = s; line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    if (husk_has_prefix (line, "0::"))
      {
        char *nl = strchr (line, '\n');
        return xstrndup (line + 3, nl ? (size_t)(nl - line - 3) : strlen (line + 3));
      }
  return NULL;
}

static bool
owned_and_writable (const char *dir)
{
  struct stat st;

  return stat (dir, &st) == 0 && st.st_uid == geteuid () && access (dir, W_OK) == 0;
}

/* The topmost ancestor of the cgroup at PATH (relative) that this user
   owns and can write, or NULL.  */
static char *
topmost_owned (const char *path)
{
  cleanup_free char *p = xstrdup (path);
  char *best = NULL;

  for (;;)
    {
      cleanup_free char *dir = xasprintf ("%s%s", HUSK_CGROUP_ROOT, p);
      char *slash;

      if (!owned_and_writable (dir))
        break;
      free (best);
      best = xstrdup (p);
      slash = strrchr (p, '/');
      if (slash == NULL || slash == p)
        break;
      *slash = '\0';
    }
  return best;
}

/* Rootless on v2: the topmost ancestor of our cgroup that we own is the
   delegated subtree (user@UID.service with systemd); it must offer
   controllers and let us enable them in its cgroup.subtree_control.  */
static void
detect_v2_delegation (void)
{
  cleanup_free char *own = own_v2_cgroup ();
  cleanup_free char *best = NULL;
  cleanup_free char *dir = NULL;
  cleanup_free char *control = NULL;
  cleanup_free char *controllers = NULL;
  husk_error_t err = NULL;

  detected.why = "this user's cgroup v2 subtree is not delegated";
  if (own == NULL || (best = topmost_owned (own)) == NULL)
    return;
  dir = xasprintf ("%s%s", HUSK_CGROUP_ROOT, best);
  control = xasprintf ("%s/cgroup.subtree_control", dir);
  if (husk_cgroup_read (dir, "cgroup.controllers", &controllers, &err) < 0)
    {
      husk_error_release (&err);
      return;
    }
  if (controllers[0] == '\0' || !owned_and_writable (control))
    return;
  detected.mode = HUSK_CGROUP_V2;
  detected.why = NULL;
  free (detected.v2_base);
  detected.v2_base = steal_pointer (&best);
}

static bool
any_v1_controller (void)
{
  static const char *const names[] = { "memory", "pids", "cpu", "devices", "freezer" };
  struct statfs sfs;

  for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    {
      cleanup_free char *dir = xasprintf ("%s/%s", HUSK_CGROUP_ROOT, names[i]);
      if (statfs (dir, &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC)
        return true;
    }
  return false;
}

static void
detect (void)
{
  struct statfs sfs;

  detected.done = true;
  detected.mode = HUSK_CGROUP_NONE;
  detected.v2_mount = xstrdup (HUSK_CGROUP_ROOT);
  detected.v2_base = xstrdup ("");
  if (statfs (HUSK_CGROUP_ROOT, &sfs) < 0)
    {
      detected.why = "no cgroup file system at " HUSK_CGROUP_ROOT;
      return;
    }
  if (sfs.f_type == CGROUP2_SUPER_MAGIC)
    {
      if (!husk_userns_is_rootless ())
        {
          detected.mode = HUSK_CGROUP_V2;
          return;
        }
      detect_v2_delegation ();
      return;
    }
  /* Legacy or hybrid: a tmpfs holding one mount per v1 controller.  */
  if (any_v1_controller ())
    {
      if (husk_userns_is_rootless ())
        {
          detected.why = "cgroup v1 is not delegated to unprivileged users";
          return;
        }
      detected.mode = HUSK_CGROUP_V1;
      return;
    }
  detected.why = "no cgroup v1 controllers mounted under " HUSK_CGROUP_ROOT;
}

enum husk_cgroup_mode
husk_cgroup_detect (const char **why)
{
  if (!detected.done)
    detect ();
  if (why)
    *why = detected.why;
  return detected.mode;
}

const char *
husk_cgroup_mode_name (enum husk_cgroup_mode mode)
{
  switch (mode)
    {
    case HUSK_CGROUP_V1:
      return "v1";
    case HUSK_CGROUP_V2:
      return "v2";
    default:
      return "none";
    }
}

/* ---------------------------------------------------------------------- */
/* Dispatch.                                                              */

static const struct husk_cgroup_backend *
backend_for (enum husk_cgroup_mode mode)
{
  switch (mode)
    {
    case HUSK_CGROUP_V1:
      return &husk_cgroup_backend_v1;
    case HUSK_CGROUP_V2:
      return &husk_cgroup_backend_v2;
    default:
      return NULL;
    }
}

static struct husk_cgroup *
cgroup_new (const char *id, const char *path)
{
  struct husk_cgroup *cg = xzalloc (sizeof (*cg));
  enum husk_cgroup_mode mode = husk_cgroup_detect (NULL);

  cg->backend = backend_for (mode);
  cg->id = xstrdup (id ? id : "");
  cg->path = xstrdup (cg->backend ? path : "");
  if (mode == HUSK_CGROUP_V2)
    cg->dir = xasprintf ("%s%s", husk_cgroup_v2_mount (), cg->path);
  return cg;
}

static char *
default_path (const char *id, const char *parent)
{
  const char *base = detected.v2_base && husk_cgroup_detect (NULL) == HUSK_CGROUP_V2 ? detected.v2_base : "";

  return xasprintf ("%s/%s/husk-%s", base, parent && *parent ? parent : DEFAULT_PARENT, id);
}

static bool
valid_id (const char *id)
{
  return id && *id && strchr (id, '/') == NULL && strcmp (id, ".") != 0 && strcmp (id, "..") != 0;
}

int
husk_cgroup_create (const char *id, const struct husk_cgroup_limits *limits, pid_t pid,
                    struct husk_cgroup **out, husk_error_t *err)
{
  static bool warned;
  const char *why = NULL;
  enum husk_cgroup_mode mode;
  struct husk_cgroup *cg;
  cleanup_free char *path = NULL;
  int ret;

  *out = NULL;
  if (!valid_id (id))
    return husk_make_error (err, EINVAL, "invalid container id for a cgroup: `%s`", id ? id : "");
  ret = husk_cgroup_limits_validate (limits, err);
  if (ret < 0)
    return ret;
  mode = husk_cgroup_detect (&why);
  path = default_path (id, limits->parent);
  cg = cgroup_new (id, path);
  if (mode == HUSK_CGROUP_NONE)
    {
      if (husk_cgroup_limits_any (limits) && !warned)
        {
          warned = true;
          husk_warn ("cgroup limits are ignored: %s", why ? why : "no cgroup support");
        }
      *out = cg;
      return 0;
    }
  ret = cg->backend->create (cg, limits, err);
  if (ret == 0 && pid > 0)
    ret = cg->backend->attach (cg, pid, err);
  if (ret < 0)
    {
      husk_error_t ignored = NULL;
      cg->backend->destroy (cg, &ignored);
      husk_error_release (&ignored);
      husk_cgroup_free (cg);
      return husk_error_wrap (err, "cgroup for container %s", id);
    }
  *out = cg;
  return 0;
}

int
husk_cgroup_attach (struct husk_cgroup *cg, pid_t pid, husk_error_t *err)
{
  return cg->backend ? cg->backend->attach (cg, pid, err) : 0;
}

const char *
husk_cgroup_path (const struct husk_cgroup *cg)
{
  return cg->path;
}

int
husk_cgroup_open (const char *id, const char *path, struct husk_cgroup **out, husk_error_t *err)
{
  cleanup_free char *def = NULL;

  *out = NULL;
  if (path == NULL || *path == '\0')
    {
      if (!valid_id (id))
        return husk_make_error (err, EINVAL, "invalid container id for a cgroup: `%s`", id ? id : "");
      def = default_path (id, NULL);
      path = def;
    }
  if (path[0] != '/' || strstr (path, "/../") || husk_has_suffix (path, "/.."))
    return husk_make_error (err, EINVAL, "invalid cgroup path `%s`", path);
  *out = cgroup_new (id, path);
  return 0;
}

void
husk_cgroup_free (struct husk_cgroup *cg)
{
  if (cg == NULL)
    return;
  free (cg->id);
  free (cg->path);
  free (cg->dir);
  free (cg);
}

void
cleanup_cgroupp (struct husk_cgroup **cg)
{
  husk_cgroup_free (*cg);
  *cg = NULL;
}

int
husk_cgroup_destroy (struct husk_cgroup *cg, husk_error_t *err)
{
  return cg->backend ? cg->backend->destroy (cg, err) : 0;
}

int
husk_cgroup_oom_kills (struct husk_cgroup *cg, uint64_t *count, husk_error_t *err)
{
  *count = 0;
  return cg->backend ? cg->backend->oom_kills (cg, count, err) : 0;
}

int
husk_cgroup_stats (struct husk_cgroup *cg, struct husk_cgroup_stats *stats, husk_error_t *err)
{
  memset (stats, 0, sizeof (*stats));
  return cg->backend ? cg->backend->stats (cg, stats, err) : 0;
}

int
husk_cgroup_pids (struct husk_cgroup *cg, pid_t **pids, size_t *n, husk_error_t *err)
{
  *pids = NULL;
  *n = 0;
  return cg->backend ? cg->backend->pids (cg, pids, n, err) : 0;
}

int
husk_cgroup_update (struct husk_cgroup *cg, const struct husk_cgroup_limits *limits, husk_error_t *err)
{
  int ret;

  if (cg->backend == NULL)
    return husk_make_error (err, ENOTSUP, "updating limits needs a cgroup: %s",
                            detected.why ? detected.why : "none");
  ret = husk_cgroup_limits_validate (limits, err);
  if (ret < 0)
    return ret;
  return cg->backend->update (cg, limits, err);
}

int
husk_cgroup_freeze (struct husk_cgroup *cg, bool frozen, husk_error_t *err)
{
  if (cg->backend == NULL)
    return husk_make_error (err, ENOTSUP, "pausing needs a cgroup: %s", detected.why ? detected.why : "none");
  return cg->backend->freeze (cg, frozen, err);
}
