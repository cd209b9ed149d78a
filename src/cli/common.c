/* husk: helpers shared by the commands: the store handle, image lookup by
   the many spellings users type, local names.  */
#include <ctype.h>
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
