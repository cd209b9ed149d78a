/* husk: a build's stages (src/build): build args and ARG scopes, the
   split at FROM, which stages the target needs, FROM itself (a previous
   stage, scratch, or an image through the caller's pull) and the base's
   ONBUILD triggers.  */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "husk/build.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "build-internal.h"
#include "executor.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Build args usable without an ARG instruction, and left out of the cache
   key (Docker).  */
static const char *const proxy_args[]
    = { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY",   "no_proxy",   "ALL_PROXY",   "all_proxy",   NULL };

/* ---- build args ---- */

static const char *
build_arg (const struct husk_build_opts *o, const char *name)
{
  return build_kv_get (o->build_args, name);
}

static bool
is_proxy_arg (const char *name)
{
  for (size_t i = 0; proxy_args[i]; i++)
    if (strcmp (proxy_args[i], name) == 0)
      return true;
  return false;
}

static const char *
global_lookup (void *ctx, const char *name)
{
  struct build_executor *x = ctx;
  const char *v = build_kv_get (x->global_args, name);

  return v ? v : build_kv_get (x->builtin_args, name);
}

static int
resolve_arg_value (struct build_executor *x, const char *word, husk_build_lookup_fn lookup, void *ctx,
                   bool in_stage, char **name, char **value, husk_error_t *err)
{
  const char *eq = strchr (word, '=');
  const char *ba;

  *value = NULL;
  *name = eq ? xstrndup (word, (size_t)(eq - word)) : xstrdup (word);
  if (**name == '\0')
    return husk_make_error (err, 0, "ARG requires a name");
  ba = build_arg (x->o, *name);
  if (ba || (x->o->build_args && strv_contains (x->o->build_args, *name)))
    {
      if (!strv_contains (x->consumed, *name))
        strv_append (&x->consumed, *name);
    }
  if (ba)
    {
      *value = xstrdup (ba);
      return 0;
    }
  if (eq)
    return husk_build_expand (eq + 1, x->df->escape, lookup, ctx, value, err);
  if (in_stage && strv_contains (x->global_names, *name))
    {
      const char *g = build_kv_get (x->global_args, *name);
      if (g)
        *value = xstrdup (g);
      return 0;
    }
  if (in_stage)
    {
      const char *bi = build_kv_get (x->builtin_args, *name);
      if (bi)
        *value = xstrdup (bi);
    }
  return 0;
}

static int
global_arg (struct build_executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  for (char **a = in->args; *a; a++)
    {
      cleanup_free char *name = NULL;
      cleanup_free char *value = NULL;

      if (resolve_arg_value (x, *a, global_lookup, x, false, &name, &value, err) < 0)
        return build_instr_wrap (x, in, err);
      if (!strv_contains (x->global_names, name))
        strv_append (&x->global_names, name);
      if (value)
        build_kv_set (&x->global_args, name, value);
    }
  return 0;
}

int
build_step_arg (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  for (char **a = in->args; *a; a++)
    {
      cleanup_free char *name = NULL;
      cleanup_free char *value = NULL;

      if (resolve_arg_value (r->x, *a, build_run_lookup, r, true, &name, &value, err) < 0)
        return build_instr_wrap (r->x, in, err);
      if (value)
        build_kv_set (&r->args, name, value);
      else
        build_kv_unset (r->args, name);
    }
  return 0;
}

char **
build_step_env (struct build_stage_run *r)
{
  husk_json_t *env = husk_json_get_path (r->config, "config", "Env", NULL);
  char **v = husk_json_to_strv (env);

  for (char **a = r->args; a && *a; a++)
    {
      cleanup_free char *name = xstrndup (*a, strcspn (*a, "="));
      if (build_kv_get (v, name) == NULL)
        strv_append (&v, *a);
    }
  for (size_t i = 0; proxy_args[i]; i++)
    {
      const char *p = build_arg (r->x->o, proxy_args[i]);
      if (p && build_kv_get (v, proxy_args[i]) == NULL)
        build_kv_set (&v, proxy_args[i], p);
    }
  if (build_kv_get (v, "PATH") == NULL)
    strv_append (&v, DEFAULT_PATH);
  return v;
}

void
build_set_builtin_args (struct build_executor *x)
{
  const char *slash = strchr (x->platform, '/');
  cleanup_free char *os = xstrndup (x->platform, (size_t)(slash - x->platform));
  cleanup_free char *arch = xstrdup (slash + 1);
  char *variant = strchr (arch, '/');
  cleanup_free char *host = xasprintf ("linux/%s", husk_image_host_arch ());

  if (variant)
    *variant++ = '\0';
  build_kv_set (&x->builtin_args, "TARGETPLATFORM", x->platform);
  build_kv_set (&x->builtin_args, "TARGETOS", os);
  build_kv_set (&x->builtin_args, "TARGETARCH", arch);
  build_kv_set (&x->builtin_args, "TARGETVARIANT", variant ? variant : "");
  build_kv_set (&x->builtin_args, "BUILDPLATFORM", host);
  build_kv_set (&x->builtin_args, "BUILDOS", "linux");
  build_kv_set (&x->builtin_args, "BUILDARCH", husk_image_host_arch ());
}

void
build_warn_unused_args (struct build_executor *x)
{
  cleanup_strv char **unused = strv_dup (NULL);
  cleanup_free char *list = NULL;

  for (char *const *a = x->o->build_args; a && *a; a++)
    {
      cleanup_free char *name = xstrndup (*a, strcspn (*a, "="));
      if (!is_proxy_arg (name) && !strv_contains (x->consumed, name) && !strv_contains (unused, name))
        strv_append (&unused, name);
    }
  if (unused[0] == NULL)
    return;
  list = strv_join (unused, " ");
  build_out_line (x, "[Warning] one or more build args were not consumed: [%s]", list);
}

/* ---- stages ---- */

static bool
all_digits (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!isdigit ((unsigned char)*s))
      return false;
  return true;
}

static bool
valid_stage_name (const char *n)
{
  if (!islower ((unsigned char)*n))
    return false;
  for (; *n; n++)
    if (!islower ((unsigned char)*n) && !isdigit ((unsigned char)*n) && !strchr ("-_.", *n))
      return false;
  return true;
}

int
build_split_stages (struct build_executor *x, husk_error_t *err)
{
  struct husk_dockerfile *df = x->df;

  x->stages = xzalloc ((df->n_instrs + 1) * sizeof (*x->stages));
  for (size_t i = 0; i < df->n_instrs; i++)
    {
      const struct husk_dockerfile_instr *in = &df->instrs[i];
      struct build_stage *st;
      size_t nargs = strv_len (in->args);

      if (strcmp (in->keyword, "FROM") != 0)
        {
          if (x->n_stages > 0)
            continue;
          if (strcmp (in->keyword, "ARG") == 0)
            {
              if (global_arg (x, in, err) < 0)
                return -1;
              continue;
            }
          return build_instr_fail (
              x, in, err, "no FROM instruction before %s: a Dockerfile must start with FROM", in->keyword);
        }
      if (nargs != 1 && !(nargs == 3 && strcasecmp (in->args[1], "AS") == 0))
        return build_instr_fail (x, in, err,
                                 "FROM requires either one or three arguments (FROM image [AS name])");
      if (x->n_stages > 0)
        x->stages[x->n_stages - 1].end = i;
      st = &x->stages[x->n_stages++];
      st->first = i;
      st->end = df->n_instrs;
      if (nargs == 3)
        {
          st->name = build_lower_dup (in->args[2]);
          if (!valid_stage_name (st->name))
            return build_instr_fail (x, in, err, "invalid name for build stage: \"%s\"", in->args[2]);
          for (size_t j = 0; j + 1 < x->n_stages; j++)
            if (x->stages[j].name && strcmp (x->stages[j].name, st->name) == 0)
              return build_instr_fail (x, in, err, "duplicate name for build stage: \"%s\"", in->args[2]);
        }
    }
  if (x->n_stages == 0)
    return husk_make_error (err, 0, "%s: no FROM instruction", x->o->dockerfile_name);
  return 0;
}

/* The stage a FROM/--from value names among those before cur: its index,
   -1 for an image, or an error for a stage defined at or after cur.  */
int
build_stage_ref (struct build_executor *x, const char *value, size_t cur,
                 const struct husk_dockerfile_instr *in, const char *what, long *idx, husk_error_t *err)
{
  cleanup_free char *name = build_lower_dup (value);

  *idx = -1;
  for (size_t j = 0; j < x->n_stages; j++)
    if (x->stages[j].name && strcmp (x->stages[j].name, name) == 0)
      {
        if (j >= cur)
          return build_instr_fail (x, in, err, "%s=%s: stage %s is not defined before line %u", what, value,
                                   value, in->line);
        *idx = (long)j;
        return 0;
      }
  if (all_digits (name))
    {
      uint64_t n = 0;
      if (!husk_parse_u64 (name, &n) || n >= cur)
        return build_instr_fail (x, in, err, "%s=%s: stage %s is not defined before line %u", what, value,
                                 value, in->line);
      *idx = (long)n;
    }
  return 0;
}

/* The stage FROM names (a previous one), -1 otherwise.  */
static long
from_stage (struct build_executor *x, const char *image, size_t cur)
{
  cleanup_free char *name = build_lower_dup (image);

  for (size_t j = 0; j < cur; j++)
    if (x->stages[j].name && strcmp (x->stages[j].name, name) == 0)
      return (long)j;
  if (all_digits (name))
    {
      uint64_t n = 0;
      if (husk_parse_u64 (name, &n) && n < cur)
        return (long)n;
    }
  return -1;
}

static char *
expand_global (struct build_executor *x, const char *word)
{
  char *out = NULL;

  if (husk_build_expand (word, x->df->escape, global_lookup, x, &out, NULL) < 0)
    return xstrdup (word);
  return out;
}

/* "from=x" in a RUN --mount value.  */
char *
build_mount_from (const char *mount)
{
  const char *p = mount;

  while (*p)
    {
      size_t len = strcspn (p, ",");
      if (len > 5 && strncmp (p, "from=", 5) == 0)
        return xstrndup (p + 5, len - 5);
      p += len;
      if (*p == ',')
        p++;
    }
  return NULL;
}

char *
build_mount_opt (const char *mount, const char *const *keys)
{
  const char *p = mount;
  char *found = NULL;

  while (*p)
    {
      size_t len = strcspn (p, ",");
      for (size_t i = 0; keys[i]; i++)
        {
          size_t k = strlen (keys[i]);
          if (len > k && p[k] == '=' && strncmp (p, keys[i], k) == 0)
            {
              free (found);
              found = xstrndup (p + k + 1, len - k - 1);
            }
        }
      p += len;
      if (*p == ',')
        p++;
    }
  return found;
}

int
build_mark_needed (struct build_executor *x, husk_error_t *err)
{
  x->stages[x->target].needed = true;
  for (size_t i = x->target + 1; i-- > 0;)
    {
      struct build_stage *st = &x->stages[i];
      const struct husk_dockerfile_instr *from = &x->df->instrs[st->first];
      cleanup_free char *image = NULL;
      long j;

      if (!st->needed)
        continue;
      image = expand_global (x, from->args[0]);
      j = from_stage (x, image, i);
      if (j >= 0)
        x->stages[j].needed = true;
      for (size_t k = st->first + 1; k < st->end; k++)
        {
          const struct husk_dockerfile_instr *in = &x->df->instrs[k];
          for (char **f = in->flags; *f; f++)
            {
              cleanup_free char *ref = NULL;
              const char *what = NULL;

              if ((strcmp (in->keyword, "COPY") == 0 || strcmp (in->keyword, "ADD") == 0)
                  && husk_has_prefix (*f, "--from="))
                {
                  ref = expand_global (x, *f + 7);
                  what = strcmp (in->keyword, "COPY") == 0 ? "COPY --from" : "ADD --from";
                }
              else if (strcmp (in->keyword, "RUN") == 0 && husk_has_prefix (*f, "--mount="))
                {
                  cleanup_free char *m = expand_global (x, *f + 8);
                  ref = build_mount_from (m);
                  what = "RUN --mount from";
                }
              if (ref == NULL)
                continue;
              if (build_stage_ref (x, ref, i, in, what, &j, err) < 0)
                return -1;
              if (j >= 0)
                x->stages[j].needed = true;
            }
        }
    }
  for (size_t i = 0; i < x->n_stages; i++)
    if (x->stages[i].needed)
      x->n_steps += (unsigned)(x->stages[i].end - x->stages[i].first);
  return 0;
}

int
build_find_target (struct build_executor *x, husk_error_t *err)
{
  cleanup_free char *t = NULL;

  x->target = x->n_stages - 1;
  if (x->o->target == NULL || *x->o->target == '\0')
    return 0;
  t = build_lower_dup (x->o->target);
  for (size_t i = 0; i < x->n_stages; i++)
    if (x->stages[i].name && strcmp (x->stages[i].name, t) == 0)
      {
        x->target = i;
        return 0;
      }
  return husk_make_error (err, 0, "target stage \"%s\" could not be found", x->o->target);
}

/* ---- images ---- */

static int
image_resolve (struct build_executor *x, const char *ref, const char *platform, char **id, husk_error_t *err)
{
  struct husk_image_record *rec = NULL;
  int ret;

  if (x->o->pull)
    return x->o->pull (x->o->pull_ctx, x->s, ref, x->o->pull_policy ? x->o->pull_policy : "missing",
                       platform ? platform : x->o->platform, id, err);
  ret = husk_store_lock (x->s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_image_find (x->s, ref, &rec, err);
  if (ret > 0)
    *id = xstrdup (rec->id);
  husk_store_unlock (x->s);
  if (ret == 0)
    return husk_make_error (err, ENOENT, "%s: image not known", ref);
  return ret < 0 ? ret : 0;
}

static int
image_config (struct build_executor *x, const char *id, husk_json_t **config, husk_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;
  int ret;

  ret = husk_store_lock (x->s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_image_config (x->s, id, &data, &len, err);
  husk_store_unlock (x->s);
  if (ret < 0)
    return ret;
  *config = husk_json_parse (data, len, err);
  return *config ? 0 : -1;
}

/* The layers of a stage built before cur, or of an image.  */
int
build_from_layers (struct build_executor *x, const char *value, size_t cur,
                   const struct husk_dockerfile_instr *in, const char *what, char ***diff_ids,
                   char **identity, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_json husk_json_t *config = NULL;
  long j;

  if (build_stage_ref (x, value, cur, in, what, &j, err) < 0)
    return -1;
  if (j >= 0)
    {
      *diff_ids = strv_dup (x->stages[j].diff_ids);
      if (identity)
        *identity = xasprintf ("stage:%s", x->stages[j].key);
      return 0;
    }
  if (image_resolve (x, value, NULL, &id, err) < 0 || image_config (x, id, &config, err) < 0)
    return build_instr_wrap (x, in, err);
  *diff_ids = build_config_diff_ids (config);
  if (identity)
    *identity = xasprintf ("image:%s", id);
  return 0;
}

int
build_resolve_from (struct build_ctx *b, const char *name, char ***diff_ids, husk_error_t *err)
{
  struct build_executor *x = b->executor;
  const struct husk_dockerfile_instr *in = x->instr ? x->instr : &x->df->instrs[x->stages[x->current].first];

  return build_from_layers (x, name, x->current, in, "RUN --mount from", diff_ids, NULL, err);
}

/* ---- FROM and ONBUILD ---- */

static void
set_platform_fields (struct build_executor *x, husk_json_t *config, const char *platform)
{
  const char *p = platform ? platform : x->platform;
  const char *slash = strchr (p, '/');
  cleanup_free char *os = slash ? xstrndup (p, (size_t)(slash - p)) : xstrdup ("linux");
  cleanup_free char *arch = xstrdup (slash ? slash + 1 : p);
  char *variant = strchr (arch, '/');

  if (variant)
    *variant++ = '\0';
  husk_json_set_string (config, "architecture", arch);
  husk_json_set_string (config, "os", os);
  if (variant)
    husk_json_set_string (config, "variant", variant);
}

int
build_stage_from (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  static const char *const allowed[] = { "platform", NULL };
  struct build_executor *x = r->x;
  cleanup_free char *image = NULL;
  cleanup_free char *platform = NULL;
  const char *v = NULL;
  long j;

  if (build_check_flags (x, in, allowed, err) < 0)
    return -1;
  if (build_flag_get (in, "platform", &v) && v)
    {
      if (husk_build_expand (v, x->df->escape, global_lookup, x, &platform, err) < 0)
        return build_instr_wrap (x, in, err);
    }
  if (husk_build_expand (in->args[0], x->df->escape, global_lookup, x, &image, err) < 0)
    return build_instr_wrap (x, in, err);
  if (*image == '\0')
    return build_instr_fail (x, in, err, "FROM requires an image name");

  j = from_stage (x, image, r->idx);
  if (j >= 0)
    {
      r->config = husk_json_clone (x->stages[j].config);
      r->st->diff_ids = strv_dup (x->stages[j].diff_ids);
      r->st->key = xstrdup (x->stages[j].key);
    }
  else if (strcmp (image, "scratch") == 0)
    {
      husk_json_t *rootfs = husk_json_new_object ();
      r->config = husk_json_new_object ();
      set_platform_fields (x, r->config, platform);
      husk_json_set (r->config, "config", husk_json_new_object ());
      husk_json_set_string (rootfs, "type", "layers");
      husk_json_set (rootfs, "diff_ids", husk_json_new_array ());
      husk_json_set (r->config, "rootfs", rootfs);
      husk_json_set (r->config, "history", husk_json_new_array ());
      r->st->diff_ids = strv_dup (NULL);
      r->st->key = xasprintf ("scratch %s", platform ? platform : x->platform);
    }
  else
    {
      cleanup_free char *id = NULL;
      if (image_resolve (x, image, platform, &id, err) < 0 || image_config (x, id, &r->config, err) < 0)
        return build_instr_wrap (x, in, err);
      r->st->diff_ids = build_config_diff_ids (r->config);
      r->st->key = xasprintf ("sha256:%s", id);
    }
  r->st->config = r->config;
  return 0;
}

/* The base's ONBUILD triggers run as if written right after FROM.  */
int
build_run_onbuild (struct build_stage_run *r, husk_error_t *err)
{
  husk_json_t *ob = husk_json_get_path (r->config, "config", "OnBuild", NULL);
  cleanup_strv char **triggers = husk_json_to_strv (ob);

  if (ob == NULL)
    return 0;
  husk_json_remove (build_cfg (r->config), "OnBuild");
  for (char **t = triggers; *t; t++)
    {
      cleanup_dockerfile struct husk_dockerfile *df = NULL;
      if (husk_dockerfile_parse (r->x->o->dockerfile_name, *t, strlen (*t), &df, err) < 0)
        return husk_error_wrap (err, "ONBUILD trigger \"%s\"", *t);
      for (size_t i = 0; i < df->n_instrs; i++)
        if (build_exec_instr (r, &df->instrs[i], err) < 0)
          return husk_error_wrap (err, "ONBUILD trigger \"%s\"", *t);
    }
  return 0;
}
