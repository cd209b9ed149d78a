/* husk: helpers shared by the commands: the store handle, image lookup by
   the many spellings users type, local names.  */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "husk/userns.h"
#include "husk/util.h"

int
cli_store (struct cli_ctx *ctx, husk_store_t **out, husk_error_t *err)
{
  if (ctx->store == NULL)
    {
      int ret = husk_store_open (&ctx->store_opts, &ctx->store, err);
      if (ret < 0)
        return ret;
    }
  *out = ctx->store;
  return 0;
}

static bool
is_hex (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!isxdigit ((unsigned char)*s) || isupper ((unsigned char)*s))
      return false;
  return true;
}

/* Rank of a stored name for a short-name match: Podman prefers localhost/,
   then docker.io.  */
static int
name_rank (const char *name)
{
  if (husk_has_prefix (name, "localhost/"))
    return 0;
  if (husk_has_prefix (name, "docker.io/"))
    return 1;
  return 2;
}

static int
lookup_by_reference (husk_store_t *s, const char *arg, struct husk_image_record **out, husk_error_t *err)
{
  cleanup_reference struct husk_reference *ref = NULL;
  struct husk_image_record *const *images;
  struct husk_image_record *best = NULL;
  int best_rank = 99, ret;
  size_t n, i, j;

  ret = husk_reference_parse (arg, &ref, err);
  if (ret < 0)
    return ret;
  ret = husk_store_images (s, &images, &n, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < n; i++)
    {
      for (j = 0; images[i]->names && images[i]->names[j]; j++)
        if (husk_reference_matches (ref, images[i]->names[j]) && name_rank (images[i]->names[j]) < best_rank)
          {
            best = images[i];
            best_rank = name_rank (images[i]->names[j]);
          }
      for (j = 0; ref->digest && images[i]->digests && images[i]->digests[j]; j++)
        if (husk_reference_matches (ref, images[i]->digests[j]) && best_rank > 0)
          {
            best = images[i];
            best_rank = 0;
          }
      /* "name@digest" also matches the image's own manifest digest.  */
      if (ref->digest && images[i]->digest && strcmp (ref->digest, images[i]->digest) == 0 && best == NULL)
        best = images[i];
    }
  *out = best;
  return best ? 1 : 0;
}

int
cli_store_writer (struct cli_ctx *ctx, husk_store_t **out, husk_error_t *err)
{
  /* Layer files belong to the ids of the user namespace (rootless): only
     inside it can they be created, read in full or removed.  A no-op for
     root.  */
  int ret = husk_userns_enter (err);
  if (ret < 0)
    return ret;
  return cli_store (ctx, out, err);
}

/* Open the store and take its lock: shared for readers, exclusive for
   writers.  */
static int
store_and_lock (struct cli_ctx *ctx, bool writer, bool exclusive, husk_store_t **out, husk_error_t *err)
{
  int ret = writer ? cli_store_writer (ctx, out, err) : cli_store (ctx, out, err);
  if (ret < 0)
    return ret;
  return husk_store_lock (*out, exclusive, err);
}

int
cli_store_lock (struct cli_ctx *ctx, bool exclusive, husk_store_t **out, husk_error_t *err)
{
  return store_and_lock (ctx, false, exclusive, out, err);
}

int
cli_store_lock_writer (struct cli_ctx *ctx, bool exclusive, husk_store_t **out, husk_error_t *err)
{
  return store_and_lock (ctx, true, exclusive, out, err);
}

int
cli_image_lookup (husk_store_t *s, const char *arg, struct husk_image_record **out, husk_error_t *err)
{
  const char *key = arg;
  int ret;

  *out = NULL;
  if (husk_has_prefix (key, "sha256:"))
    key += strlen ("sha256:");
  /* An id or id prefix wins over a name that happens to be hex, like
     Docker and Podman.  */
  if (is_hex (key) && strlen (key) >= 3 && strlen (key) <= 64)
    {
      ret = husk_store_image_find (s, key, out, err);
      if (ret != 0)
        return ret;
    }
  else if (key != arg)
    return husk_make_error (err, 0, "%s: image not known", arg);
  ret = husk_store_image_find (s, arg, out, err);
  if (ret != 0)
    return ret;
  ret = lookup_by_reference (s, arg, out, err);
  if (ret < 0)
    return ret;
  if (ret == 0)
    return husk_make_error (err, 0, "%s: image not known", arg);
  return 1;
}

int
cli_local_name (const char *arg, char **out, husk_error_t *err)
{
  cleanup_reference struct husk_reference *ref = NULL;
  int ret;

  ret = husk_reference_parse (arg, &ref, err);
  if (ret < 0)
    return ret;
  if (ref->digest && ref->tag == NULL)
    return husk_make_error (err, 0, "%s: a digest cannot be used as the name of a local image", arg);
  husk_reference_normalize_local (ref);
  *out = husk_reference_string (ref);
  return 0;
}

husk_json_t *
cli_repo_digests (const struct husk_image_record *r)
{
  cleanup_strv char **out = strv_dup (r->digests);
  size_t i;

  for (i = 0; r->digest && r->names && r->names[i]; i++)
    {
      const char *slash = strrchr (r->names[i], '/');
      const char *colon = strchr (slash ? slash : r->names[i], ':');
      const char *at = strchr (r->names[i], '@');
      size_t end
          = at ? (size_t)(at - r->names[i]) : (colon ? (size_t)(colon - r->names[i]) : strlen (r->names[i]));
      cleanup_free char *d = xasprintf ("%.*s@%s", (int)end, r->names[i], r->digest);
      if (!strv_contains (out, d))
        strv_append (&out, d);
    }
  return husk_json_from_strv (out);
}

char *
cli_format_time (int64_t ns)
{
  time_t t = (time_t)(ns / 1000000000LL);
  struct tm tm;
  char buf[64];

  gmtime_r (&t, &tm);
  strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return xstrdup (buf);
}

/* ---- --since / --until (logs, events) ---- */

/* Go's time.ParseDuration: "300ms", "1.5h", "2h45m"; no sign.  */
static bool
parse_go_duration (const char *s, int64_t *ns)
{
  static const struct
  {
    const char *unit;
    int64_t ns;
  } units[] = {
    { "ns", 1 },
    { "us", 1000 },
    { "\xc2\xb5s", 1000 },
    { "ms", 1000000 },
    { "s", 1000000000LL },
    { "m", 60 * 1000000000LL },
    { "h", 3600 * 1000000000LL },
  };
  int64_t total = 0;

  if (*s == '\0')
    return false;
  while (*s)
    {
      double v;
      char *end;
      size_t i, best = 0, best_len = 0;

      if ((*s < '0' || *s > '9') && *s != '.')
        return false;
      errno = 0;
      v = strtod (s, &end);
      if (end == s || errno != 0 || v < 0)
        return false;
      s = end;
      /* The longest unit that matches: "ms" before "m".  */
      for (i = 0; i < sizeof (units) / sizeof (units[0]); i++)
        {
          size_t len = strlen (units[i].unit);
          if (strncmp (s, units[i].unit, len) == 0 && len > best_len)
            {
              best = i;
              best_len = len;
            }
        }
      if (best_len == 0)
        return false;
      s += best_len;
      if (v * (double)units[best].ns > 9e18 - (double)total)
        return false;
      total += (int64_t)(v * (double)units[best].ns);
    }
  *ns = total;
  return true;
}

bool
cli_parse_duration (const char *s, int64_t *ns)
{
  return parse_go_duration (s, ns);
}

/* A Unix time: seconds with an optional fraction of up to 9 digits.  */
static bool
parse_unix_time (const char *s, int64_t *ns)
{
  uint64_t secs = 0;
  int64_t frac = 0, scale = 100000000;
  const char *dot = strchr (s, '.');
  cleanup_free char *whole = xstrndup (s, dot ? (size_t)(dot - s) : strlen (s));

  if (!husk_parse_u64 (whole, &secs) || secs > 9000000000ULL)
    return false;
  if (dot)
    {
      const char *p = dot + 1;
      if (*p == '\0' || strlen (p) > 9)
        return false;
      for (; *p; p++)
        {
          if (*p < '0' || *p > '9')
            return false;
          frac += (*p - '0') * scale;
          scale /= 10;
        }
    }
  *ns = (int64_t)secs * 1000000000LL + frac;
  return true;
}

/* A time without a zone ("2024-01-02", "2024-01-02T03:04:05"): local time,
   as Docker reads it.  */
static bool
parse_local_time (const char *s, int64_t *ns)
{
  static const char *const formats[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d" };
  size_t i;

  for (i = 0; i < sizeof (formats) / sizeof (formats[0]); i++)
    {
      struct tm tm;
      const char *end;
      time_t t;

      memset (&tm, 0, sizeof (tm));
      end = strptime (s, formats[i], &tm);
      if (end == NULL || *end != '\0')
        continue;
      tm.tm_isdst = -1;
      t = mktime (&tm);
      if (t == (time_t)-1)
        return false;
      *ns = (int64_t)t * 1000000000LL;
      return true;
    }
  return false;
}

int
cli_parse_time_flag (const char *flag, const char *v, int64_t now, int64_t *out, husk_error_t *err)
{
  int64_t d;

  if (husk_parse_rfc3339 (v, out) || parse_local_time (v, out) || parse_unix_time (v, out))
    return 0;
  if (parse_go_duration (v, &d))
    {
      *out = now - d;
      return 0;
    }
  return husk_make_error (
      err, 0, "invalid --%s \"%s\": use an RFC 3339 time, a Unix time or a duration such as 10m", flag, v);
}
