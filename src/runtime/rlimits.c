/* husk: --ulimit parsing and setting (Docker's names and syntax).

   Without CAP_SYS_RESOURCE a hard limit cannot be raised.  Podman fails
   the container then; husk clamps to the current hard limit instead and
   says so once per limit the user asked for (defaults are clamped
   silently, as Podman does for rootless containers).  */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "husk/security.h"
#include "husk/util.h"
#include "security-internal.h"

struct rlimit_name
{
  const char *name;
  int resource;
};

static const struct rlimit_name rlimit_names[] = {
  { "core", RLIMIT_CORE },         { "cpu", RLIMIT_CPU },
  { "data", RLIMIT_DATA },         { "fsize", RLIMIT_FSIZE },
  { "locks", RLIMIT_LOCKS },       { "memlock", RLIMIT_MEMLOCK },
  { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },
  { "nofile", RLIMIT_NOFILE },     { "nproc", RLIMIT_NPROC },
  { "rss", RLIMIT_RSS },           { "rtprio", RLIMIT_RTPRIO },
  { "rttime", RLIMIT_RTTIME },     { "sigpending", RLIMIT_SIGPENDING },
  { "stack", RLIMIT_STACK },
};
#define N_RLIMIT_NAMES (sizeof (rlimit_names) / sizeof (rlimit_names[0]))

const char *
husk_rlimit_name (int resource)
{
  for (size_t i = 0; i < N_RLIMIT_NAMES; i++)
    if (rlimit_names[i].resource == resource)
      return rlimit_names[i].name;
  return NULL;
}

static int
rlimit_from_name (const char *name, size_t len)
{
  if (len > 7 && strncasecmp (name, "RLIMIT_", 7) == 0)
    {
      name += 7;
      len -= 7;
    }
  for (size_t i = 0; i < N_RLIMIT_NAMES; i++)
    if (strlen (rlimit_names[i].name) == len && strncasecmp (name, rlimit_names[i].name, len) == 0)
      return rlimit_names[i].resource;
  return -1;
}

/* A limit value: a decimal number, or -1 / "unlimited" for no limit.  */
static bool
parse_limit (const char *s, uint64_t *out)
{
  if (strcmp (s, "-1") == 0 || strcasecmp (s, "unlimited") == 0)
    {
      *out = RLIM_INFINITY;
      return true;
    }
  return husk_parse_u64 (s, out);
}

static void
format_limit (struct husk_buf *b, uint64_t v)
{
  if (v == RLIM_INFINITY)
    husk_buf_puts (b, "unlimited");
  else
    husk_buf_printf (b, "%" PRIu64, v);
}

int
husk_rlimit_parse (const char *arg, struct husk_rlimit *out, husk_error_t *err)
{
  const char *eq = strchr (arg, '=');
  cleanup_free char *soft_s = NULL;
  const char *colon;
  uint64_t soft, hard;
  int resource;

  if (eq == NULL || eq == arg || eq[1] == '\0')
    return husk_make_error (err, 0, "invalid ulimit \"%s\": expected name=soft[:hard]", arg);
  resource = rlimit_from_name (arg, (size_t)(eq - arg));
  if (resource < 0)
    return husk_make_error (err, 0, "invalid ulimit \"%s\": unknown ulimit type \"%.*s\"", arg,
                            (int)(eq - arg), arg);

  colon = strchr (eq + 1, ':');
  soft_s = colon ? xstrndup (eq + 1, (size_t)(colon - eq - 1)) : xstrdup (eq + 1);
  if (!parse_limit (soft_s, &soft))
    return husk_make_error (err, 0, "invalid ulimit \"%s\": \"%s\" is not a number", arg, soft_s);
  if (colon == NULL)
    hard = soft;
  else if (strchr (colon + 1, ':') != NULL)
    return husk_make_error (err, 0, "invalid ulimit \"%s\": too many colons", arg);
  else if (!parse_limit (colon + 1, &hard))
    return husk_make_error (err, 0, "invalid ulimit \"%s\": \"%s\" is not a number", arg, colon + 1);

  if (soft > hard)
    return husk_make_error (
        err, 0, "invalid ulimit \"%s\": soft limit must be less than or equal to hard limit", arg);

  out->resource = resource;
  out->soft = soft;
  out->hard = hard;
  out->is_default = false;
  return 0;
}

int
husk_security_add_ulimit (struct husk_security_spec *spec, const char *arg, husk_error_t *err)
{
  struct husk_rlimit r;
  int ret;

  /* Podman's --ulimit host: keep husk's own limits, no defaults.  */
  if (strcmp (arg, "host") == 0)
    {
      spec->n_rlimits = 0;
      return 0;
    }

  ret = husk_rlimit_parse (arg, &r, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; i < spec->n_rlimits; i++)
    if (spec->rlimits[i].resource == r.resource)
      {
        spec->rlimits[i] = r;
        return 0;
      }
  spec->rlimits = xrealloc (spec->rlimits, (spec->n_rlimits + 1) * sizeof (*spec->rlimits));
  spec->rlimits[spec->n_rlimits++] = r;
  return 0;
}

static void
warn_clamped (const struct husk_rlimit *want, const struct rlimit *got)
{
  struct husk_buf b = { 0 };

  husk_buf_printf (&b, "ulimit %s=", husk_rlimit_name (want->resource));
  format_limit (&b, want->soft);
  husk_buf_puts (&b, ":");
  format_limit (&b, want->hard);
  husk_buf_puts (&b, " lowered to ");
  format_limit (&b, got->rlim_cur);
  husk_buf_puts (&b, ":");
  format_limit (&b, got->rlim_max);
  husk_buf_puts (&b, ": raising the hard limit needs CAP_SYS_RESOURCE");
  husk_warn ("%s", b.data);
  husk_buf_free (&b);
}

/* The hard limit can be raised when the kernel lets us: probe it on
   ourselves and put the old value back.  */
static bool
can_raise_hard (int resource, const struct rlimit *cur, uint64_t hard)
{
  struct rlimit probe = { .rlim_cur = cur->rlim_cur, .rlim_max = hard };

  if (prlimit (0, resource, &probe, NULL) < 0)
    return false;
  prlimit (0, resource, cur, NULL);
  return true;
}

void
husk_rlimits_clamp (struct husk_security_spec *spec)
{
  for (size_t i = 0; i < spec->n_rlimits; i++)
    {
      struct husk_rlimit *r = &spec->rlimits[i];
      struct rlimit cur;

      if (getrlimit (r->resource, &cur) < 0 || r->hard <= cur.rlim_max)
        continue;
      if (can_raise_hard (r->resource, &cur, r->hard))
        continue;
      struct husk_rlimit want = *r;
      r->hard = cur.rlim_max;
      if (r->soft > r->hard)
        r->soft = r->hard;
      if (!want.is_default)
        {
          struct rlimit got = { .rlim_cur = r->soft, .rlim_max = r->hard };
          warn_clamped (&want, &got);
        }
    }
}

int
husk_rlimits_apply (const struct husk_security_spec *spec, husk_error_t *err)
{
  for (size_t i = 0; i < spec->n_rlimits; i++)
    {
      const struct husk_rlimit *r = &spec->rlimits[i];
      struct rlimit want = { .rlim_cur = r->soft, .rlim_max = r->hard }, cur;

      if (setrlimit (r->resource, &want) == 0)
        continue;
      if (errno != EPERM || getrlimit (r->resource, &cur) < 0)
        return husk_make_error (err, errno, "setting ulimit %s", husk_rlimit_name (r->resource));

      /* Not clamped by husk_security_prepare: clamp here.  */
      if (want.rlim_max > cur.rlim_max)
        want.rlim_max = cur.rlim_max;
      if (want.rlim_cur > want.rlim_max)
        want.rlim_cur = want.rlim_max;
      if (setrlimit (r->resource, &want) < 0)
        return husk_make_error (err, errno, "setting ulimit %s", husk_rlimit_name (r->resource));
      if (!r->is_default)
        warn_clamped (r, &want);
    }
  return 0;
}
