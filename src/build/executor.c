/* husk: the build executor: stages, the step loop, metadata
   instructions, the cache and the final commit (husk_build).

   A Dockerfile is split into stages at FROM; the target stage (--target
   or the last) and the stages it names (FROM <stage>, COPY --from, RUN
   --mount from=) are built in file order.  Each stage carries an image
   config (the OCI config as stored), its layers (diffIDs) and a cache
   key chain: every instruction's key is the sha256 of the previous key,
   the instruction, the ARG values in scope, the platform and, for
   COPY/ADD, what is copied (cache.c).

   With --layers (the default) each filesystem step (RUN, COPY, ADD, a
   WORKDIR that creates its directory) is committed as an intermediate
   image carrying its key, so the cache survives the build; metadata
   steps change the config in memory only.  Without --layers a stage
   accumulates its changes in one overlay upper dir and makes one layer,
   as buildah does.  */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "husk/build.h"
#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/userns.h"
#include "husk/util.h"
#include "build-internal.h"
#include "cache.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar"

/* Build args usable without an ARG instruction, and left out of the cache
   key (Docker).  */
static const char *const proxy_args[]
    = { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY",   "no_proxy",   "ALL_PROXY",   "all_proxy",   NULL };

struct stage
{
  char *name;        /* AS name, lower case, or NULL */
  size_t first, end; /* instrs[first] is the FROM; the body runs to end */
  bool needed;
  bool built;
  /* The result.  */
  husk_json_t *config;
  char **diff_ids;
  char *key;
  /* Without --layers: the target's layer, committed with the image.  */
  husk_layer_stage_t *lstage;
};

struct executor
{
  husk_store_t *s;
  const struct husk_build_opts *o;
  struct build_ctx *b;
  struct husk_dockerfile *df;
  struct stage *stages;
  size_t n_stages;
  size_t target;
  size_t current;                            /* the stage being built */
  const struct husk_dockerfile_instr *instr; /* the instruction being run */
  char **global_args;  /* "name=value" of ARGs before the first FROM that have a value */
  char **global_names; /* every global ARG's name */
  char **builtin_args; /* TARGETARCH=... */
  char **consumed;     /* build args some ARG used */
  char *platform;      /* "linux/amd64" */
  char *key_platform;  /* the platform and --timestamp (layers differ with one) for the cache keys */
  unsigned step, n_steps;
  bool missed;        /* a cache lookup missed: no more lookups (Docker) */
  char **temp_images; /* committed only to keep a stage's layer (no --layers) */
};

/* One stage being built.  */
struct run
{
  struct executor *x;
  struct stage *st;
  size_t idx;
  husk_json_t *config;     /* st->config */
  char **args;             /* "name=value": ARGs in scope with a value */
  bool cmd_set;            /* a CMD in this stage: ENTRYPOINT keeps it */
  struct build_work *work; /* no --layers: the stage's changes so far */
  long last_fs_history;    /* no --layers: history entry of the last step that changed files */
};

/* ---- small helpers ---- */

static void out_line (struct executor *x, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
out_line (struct executor *x, const char *fmt, ...)
{
  va_list ap;

  if (x->o->out == NULL)
    return;
  va_start (ap, fmt);
  vfprintf (x->o->out, fmt, ap);
  va_end (ap);
  fputc ('\n', x->o->out);
  fflush (x->o->out);
}

/* The value of name in a "name=value" vector (the last one wins).  */
static const char *
kv_get (char *const *v, const char *name)
{
  size_t len = strlen (name);
  const char *found = NULL;

  for (; v && *v; v++)
    if (strncmp (*v, name, len) == 0 && (*v)[len] == '=')
      found = *v + len + 1;
  return found;
}

static void
kv_set (char ***v, const char *name, const char *value)
{
  size_t len = strlen (name);

  for (char **p = *v; p && *p; p++)
    if (strncmp (*p, name, len) == 0 && (*p)[len] == '=')
      {
        free (*p);
        *p = xasprintf ("%s=%s", name, value);
        return;
      }
  strv_append_take (v, xasprintf ("%s=%s", name, value));
}

static void
kv_unset (char **v, const char *name)
{
  size_t len = strlen (name), i, j;

  for (i = j = 0; v && v[i]; i++)
    if (strncmp (v[i], name, len) == 0 && v[i][len] == '=')
      free (v[i]);
    else
      v[j++] = v[i];
  if (v)
    v[j] = NULL;
}

static const char *
build_arg (const struct husk_build_opts *o, const char *name)
{
  return kv_get (o->build_args, name);
}

static bool
is_proxy_arg (const char *name)
{
  for (size_t i = 0; proxy_args[i]; i++)
    if (strcmp (proxy_args[i], name) == 0)
      return true;
  return false;
}

static char *
lower_dup (const char *s)
{
  char *r = xstrdup (s);

  for (char *p = r; *p; p++)
    *p = (char)tolower ((unsigned char)*p);
  return r;
}

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

/* "--name=value" in flags: 1 and *value (NULL for a bare "--name").  */
static int
flag_get (const struct husk_dockerfile_instr *in, const char *name, const char **value)
{
  size_t len = strlen (name);
  int found = 0;

  for (char **f = in->flags; *f; f++)
    if (strncmp (*f + 2, name, len) == 0 && ((*f)[2 + len] == '=' || (*f)[2 + len] == '\0'))
      {
        *value = (*f)[2 + len] == '=' ? *f + 3 + len : NULL;
        found = 1;
      }
  return found;
}

static int instr_fail (struct executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err,
                       const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

static int
instr_fail (struct executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err, const char *fmt,
            ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  return husk_make_error (err, 0, "%s:%u: %s", x->o->dockerfile_name, in->line, msg);
}

/* Prefix an error with the instruction's place, unless the parser did.  */
static int
instr_wrap (struct executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_free char *prefix = xasprintf ("%s:", x->o->dockerfile_name);

  if (err && *err && (*err)->msg && husk_has_prefix ((*err)->msg, prefix))
    return -1;
  return husk_error_wrap (err, "%s:%u", x->o->dockerfile_name, in->line);
}

static int
check_flags (struct executor *x, const struct husk_dockerfile_instr *in, const char *const *allowed,
             husk_error_t *err)
{
  for (char **f = in->flags; *f; f++)
    {
      const char *name = *f + 2;
      size_t len = strcspn (name, "=");
      bool ok = false;

      for (size_t i = 0; allowed && allowed[i]; i++)
        if (strlen (allowed[i]) == len && strncmp (allowed[i], name, len) == 0)
          ok = true;
      if (!ok)
        return instr_fail (x, in, err, "unknown flag: --%.*s", (int)len, name);
    }
  return 0;
}

static char *
now_string (struct executor *x)
{
  if (x->o->have_timestamp)
    {
      time_t t = (time_t)x->o->timestamp;
      struct tm tm;
      char buf[64];

      gmtime_r (&t, &tm);
      strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
      return xstrdup (buf);
    }
  return husk_format_rfc3339 (husk_now_ns ());
}

/* ---- the config ---- */

static husk_json_t *
cfg (husk_json_t *config)
{
  husk_json_t *c = husk_json_get (config, "config");

  if (c == NULL || husk_json_type (c) != HUSK_JSON_OBJECT)
    {
      c = husk_json_new_object ();
      husk_json_set (config, "config", c);
    }
  return c;
}

static husk_json_t *
cfg_member (husk_json_t *config, const char *key, enum husk_json_type type)
{
  husk_json_t *c = cfg (config);
  husk_json_t *v = husk_json_get (c, key);

  if (v == NULL || husk_json_type (v) != type)
    {
      v = type == HUSK_JSON_ARRAY ? husk_json_new_array () : husk_json_new_object ();
      husk_json_set (c, key, v);
    }
  return v;
}

static const char *
env_get (husk_json_t *config, const char *name)
{
  husk_json_t *env = husk_json_get_path (config, "config", "Env", NULL);
  size_t len = strlen (name), n = husk_json_array_len (env);
  const char *found = NULL;

  for (size_t i = 0; i < n; i++)
    {
      const char *e = husk_json_string (husk_json_array_at (env, i));
      if (e && strncmp (e, name, len) == 0 && e[len] == '=')
        found = e + len + 1;
    }
  return found;
}

static void
env_set (husk_json_t *config, const char *name, const char *value)
{
  husk_json_t *env = cfg_member (config, "Env", HUSK_JSON_ARRAY);
  cleanup_strv char **v = husk_json_to_strv (env);

  kv_set (&v, name, value);
  husk_json_set (cfg (config), "Env", husk_json_from_strv (v));
}

static char **
config_diff_ids (husk_json_t *config)
{
  return husk_json_to_strv (husk_json_get_path (config, "rootfs", "diff_ids", NULL));
}

static void
config_add_layer (husk_json_t *config, const char *diff_id)
{
  husk_json_t *rootfs = husk_json_get (config, "rootfs");
  husk_json_t *ids;

  if (rootfs == NULL || husk_json_type (rootfs) != HUSK_JSON_OBJECT)
    {
      rootfs = husk_json_new_object ();
      husk_json_set_string (rootfs, "type", "layers");
      husk_json_set (config, "rootfs", rootfs);
    }
  ids = husk_json_get (rootfs, "diff_ids");
  if (ids == NULL || husk_json_type (ids) != HUSK_JSON_ARRAY)
    {
      ids = husk_json_new_array ();
      husk_json_set (rootfs, "diff_ids", ids);
    }
  husk_json_array_append (ids, husk_json_new_string (diff_id));
}

/* Append a history entry; returns its index.  */
static long
history_add (struct run *r, const char *created_by, bool empty_layer)
{
  husk_json_t *history = husk_json_get (r->config, "history");
  cleanup_free char *now = now_string (r->x);
  husk_json_t *h = husk_json_new_object ();

  if (history == NULL || husk_json_type (history) != HUSK_JSON_ARRAY)
    {
      history = husk_json_new_array ();
      husk_json_set (r->config, "history", history);
    }
  husk_json_set_string (h, "created", now);
  husk_json_set_string (h, "created_by", created_by);
  if (empty_layer)
    husk_json_set_bool (h, "empty_layer", true);
  husk_json_array_append (history, h);
  husk_json_set_string (r->config, "created", now);
  return (long)husk_json_array_len (history) - 1;
}

static char *
nop_created_by (const struct husk_dockerfile_instr *in)
{
  return xasprintf ("/bin/sh -c #(nop) %s %s", in->keyword, in->text);
}

/* ---- expansion ---- */

static const char *
global_lookup (void *ctx, const char *name)
{
  struct executor *x = ctx;
  const char *v = kv_get (x->global_args, name);

  return v ? v : kv_get (x->builtin_args, name);
}

/* ENV wins over ARG (Docker).  */
static const char *
run_lookup (void *ctx, const char *name)
{
  struct run *r = ctx;
  const char *v = env_get (r->config, name);

  return v ? v : kv_get (r->args, name);
}

static int
expand (struct run *r, const struct husk_dockerfile_instr *in, const char *word, char **out,
        husk_error_t *err)
{
  int ret;

  ret = husk_build_expand (word, r->x->df->escape, run_lookup, r, out, err);
  if (ret < 0)
    return instr_wrap (r->x, in, err);
  return 0;
}

static int
expand_args (struct run *r, const struct husk_dockerfile_instr *in, char ***out, husk_error_t *err)
{
  cleanup_strv char **v = strv_dup (NULL);

  for (char **a = in->args; *a; a++)
    {
      char *e = NULL;
      if (in->json || husk_has_prefix (*a, "<<"))
        e = xstrdup (*a);
      else if (expand (r, in, *a, &e, err) < 0)
        return -1;
      strv_append_take (&v, e);
    }
  *out = steal_pointer (&v);
  return 0;
}

/* A heredoc body for COPY/ADD: $NAME and ${NAME} expanded, everything
   else (quotes included) kept, as BuildKit does for file content.  */
static char *
expand_heredoc (struct run *r, const char *body)
{
  struct husk_buf b = { 0 };
  char esc = r->x->df->escape;

  for (const char *p = body; *p;)
    {
      if (*p == esc && p[1] == '$')
        {
          husk_buf_append (&b, "$", 1);
          p += 2;
          continue;
        }
      if (*p == '$' && (p[1] == '{' || isalpha ((unsigned char)p[1]) || p[1] == '_'))
        {
          const char *start = p + 1 + (p[1] == '{');
          size_t len = 0;
          cleanup_free char *name = NULL;
          const char *v;

          while (isalnum ((unsigned char)start[len]) || start[len] == '_')
            len++;
          if (p[1] == '{' && start[len] != '}')
            {
              husk_buf_append (&b, p, 1);
              p++;
              continue;
            }
          name = xstrndup (start, len);
          v = run_lookup (r, name);
          if (v)
            husk_buf_puts (&b, v);
          p = start + len + (p[1] == '{');
          continue;
        }
      husk_buf_append (&b, p, 1);
      p++;
    }
  return husk_buf_steal (&b, NULL);
}

/* ---- stages ---- */

static int
resolve_arg_value (struct executor *x, const char *word, husk_build_lookup_fn lookup, void *ctx,
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
      const char *g = kv_get (x->global_args, *name);
      if (g)
        *value = xstrdup (g);
      return 0;
    }
  if (in_stage)
    {
      const char *bi = kv_get (x->builtin_args, *name);
      if (bi)
        *value = xstrdup (bi);
    }
  return 0;
}

static int
global_arg (struct executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  for (char **a = in->args; *a; a++)
    {
      cleanup_free char *name = NULL;
      cleanup_free char *value = NULL;

      if (resolve_arg_value (x, *a, global_lookup, x, false, &name, &value, err) < 0)
        return instr_wrap (x, in, err);
      if (!strv_contains (x->global_names, name))
        strv_append (&x->global_names, name);
      if (value)
        kv_set (&x->global_args, name, value);
    }
  return 0;
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

static int
split_stages (struct executor *x, husk_error_t *err)
{
  struct husk_dockerfile *df = x->df;

  x->stages = xzalloc ((df->n_instrs + 1) * sizeof (*x->stages));
  for (size_t i = 0; i < df->n_instrs; i++)
    {
      const struct husk_dockerfile_instr *in = &df->instrs[i];
      struct stage *st;
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
          return instr_fail (x, in, err, "no FROM instruction before %s: a Dockerfile must start with FROM",
                             in->keyword);
        }
      if (nargs != 1 && !(nargs == 3 && strcasecmp (in->args[1], "AS") == 0))
        return instr_fail (x, in, err, "FROM requires either one or three arguments (FROM image [AS name])");
      if (x->n_stages > 0)
        x->stages[x->n_stages - 1].end = i;
      st = &x->stages[x->n_stages++];
      st->first = i;
      st->end = df->n_instrs;
      if (nargs == 3)
        {
          st->name = lower_dup (in->args[2]);
          if (!valid_stage_name (st->name))
            return instr_fail (x, in, err, "invalid name for build stage: \"%s\"", in->args[2]);
          for (size_t j = 0; j + 1 < x->n_stages; j++)
            if (x->stages[j].name && strcmp (x->stages[j].name, st->name) == 0)
              return instr_fail (x, in, err, "duplicate name for build stage: \"%s\"", in->args[2]);
        }
    }
  if (x->n_stages == 0)
    return husk_make_error (err, 0, "%s: no FROM instruction", x->o->dockerfile_name);
  return 0;
}

/* The stage a FROM/--from value names among those before cur: its index,
   -1 for an image, or an error for a stage defined at or after cur.  */
static int
stage_ref (struct executor *x, const char *value, size_t cur, const struct husk_dockerfile_instr *in,
           const char *what, long *idx, husk_error_t *err)
{
  cleanup_free char *name = lower_dup (value);

  *idx = -1;
  for (size_t j = 0; j < x->n_stages; j++)
    if (x->stages[j].name && strcmp (x->stages[j].name, name) == 0)
      {
        if (j >= cur)
          return instr_fail (x, in, err, "%s=%s: stage %s is not defined before line %u", what, value, value,
                             in->line);
        *idx = (long)j;
        return 0;
      }
  if (all_digits (name))
    {
      uint64_t n = 0;
      if (!husk_parse_u64 (name, &n) || n >= cur)
        return instr_fail (x, in, err, "%s=%s: stage %s is not defined before line %u", what, value, value,
                           in->line);
      *idx = (long)n;
    }
  return 0;
}

/* The stage FROM names (a previous one), -1 otherwise.  */
static long
from_stage (struct executor *x, const char *image, size_t cur)
{
  cleanup_free char *name = lower_dup (image);

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
expand_global (struct executor *x, const char *word)
{
  char *out = NULL;

  if (husk_build_expand (word, x->df->escape, global_lookup, x, &out, NULL) < 0)
    return xstrdup (word);
  return out;
}

/* "from=x" in a RUN --mount value.  */
static char *
mount_from (const char *mount)
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

static int
mark_needed (struct executor *x, husk_error_t *err)
{
  x->stages[x->target].needed = true;
  for (size_t i = x->target + 1; i-- > 0;)
    {
      struct stage *st = &x->stages[i];
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
                  ref = mount_from (m);
                  what = "RUN --mount from";
                }
              if (ref == NULL)
                continue;
              if (stage_ref (x, ref, i, in, what, &j, err) < 0)
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

static int
find_target (struct executor *x, husk_error_t *err)
{
  cleanup_free char *t = NULL;

  x->target = x->n_stages - 1;
  if (x->o->target == NULL || *x->o->target == '\0')
    return 0;
  t = lower_dup (x->o->target);
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
image_resolve (struct executor *x, const char *ref, const char *platform, char **id, husk_error_t *err)
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
image_config (struct executor *x, const char *id, husk_json_t **config, husk_error_t *err)
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
static int
from_layers (struct executor *x, const char *value, size_t cur, const struct husk_dockerfile_instr *in,
             const char *what, char ***diff_ids, char **identity, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_json husk_json_t *config = NULL;
  long j;

  if (stage_ref (x, value, cur, in, what, &j, err) < 0)
    return -1;
  if (j >= 0)
    {
      *diff_ids = strv_dup (x->stages[j].diff_ids);
      if (identity)
        *identity = xasprintf ("stage:%s", x->stages[j].key);
      return 0;
    }
  if (image_resolve (x, value, NULL, &id, err) < 0 || image_config (x, id, &config, err) < 0)
    return instr_wrap (x, in, err);
  *diff_ids = config_diff_ids (config);
  if (identity)
    *identity = xasprintf ("image:%s", id);
  return 0;
}

static int
resolve_from_cb (struct build_ctx *b, const char *name, char ***diff_ids, husk_error_t *err)
{
  struct executor *x = b->executor;
  const struct husk_dockerfile_instr *in = x->instr ? x->instr : &x->df->instrs[x->stages[x->current].first];

  return from_layers (x, name, x->current, in, "RUN --mount from", diff_ids, NULL, err);
}

/* ---- commits ---- */

static int
commit_image (struct executor *x, husk_json_t *config, const char *manifest, char *const *names,
              bool intermediate, const char *key, husk_layer_stage_t **stages, size_t n_stages, bool *existed,
              char **id, husk_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len;
  struct husk_image_commit ic = { 0 };
  int ret;

  data = husk_json_serialize (config, false, &len);
  ic.config = data;
  ic.config_len = len;
  ic.manifest = manifest;
  ic.manifest_len = manifest ? strlen (manifest) : 0;
  ic.names = names;
  ic.intermediate = intermediate;
  ic.build_key = key;
  ic.stages = stages;
  ic.n_stages = n_stages;
  ret = husk_store_lock (x->s, true, err);
  if (ret < 0)
    return ret;
  if (existed)
    {
      struct husk_image_record *rec = NULL;
      cleanup_free char *hex = husk_digest_buffer (data, len);
      ret = husk_store_image_find (x->s, husk_digest_hex (hex), &rec, NULL);
      *existed = ret > 0;
    }
  ret = husk_store_image_commit (x->s, &ic, id, err);
  husk_store_unlock (x->s);
  return ret;
}

/* ---- filesystem steps ---- */

typedef int (*step_fn) (struct run *r, struct build_work *w, void *data, husk_error_t *err);

/* A cache hit: 1 (the stage now is that image), 0 on a miss.  */
static int
cache_lookup (struct run *r, const char *key, husk_error_t *err)
{
  struct executor *x = r->x;
  cleanup_free char *id = NULL;
  cleanup_free char *data = NULL;
  husk_json_t *config;
  size_t len;
  int ret;

  if (!x->o->layers || x->o->no_cache || x->missed)
    return 0;
  ret = husk_store_lock (x->s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_image_find_build (x->s, key, &id, err);
  if (ret > 0)
    ret = husk_store_image_config (x->s, id, &data, &len, err) < 0 ? -1 : 1;
  husk_store_unlock (x->s);
  if (ret <= 0)
    {
      if (ret == 0)
        x->missed = true;
      return ret;
    }
  config = husk_json_parse (data, len, err);
  if (config == NULL)
    return -1;
  husk_json_free (r->config);
  r->config = r->st->config = config;
  strv_free (r->st->diff_ids);
  r->st->diff_ids = config_diff_ids (config);
  out_line (x, "--> Using cache %s", id);
  return 1;
}

static int
fs_step (struct run *r, const char *key, const char *created_by, step_fn fn, void *data, husk_error_t *err)
{
  struct executor *x = r->x;
  cleanup_build_work struct build_work *w = NULL;
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  cleanup_free char *diff_id = NULL;
  cleanup_free char *id = NULL;
  bool empty = false;
  int ret;

  ret = cache_lookup (r, key, err);
  if (ret != 0)
    return ret < 0 ? ret : 0;

  if (!x->o->layers)
    {
      if (r->work == NULL && build_work_new (x->b, r->st->diff_ids, &r->work, err) < 0)
        return -1;
      ret = fn (r, r->work, data, err);
      if (ret < 0)
        return ret;
      r->last_fs_history = history_add (r, created_by, true);
      return 0;
    }

  ret = build_work_new (x->b, r->st->diff_ids, &w, err);
  if (ret < 0)
    return ret;
  ret = fn (r, w, data, err);
  if (ret < 0)
    return ret;
  ret = build_work_layer (x->b, w, &stage, &diff_id, &empty, err);
  if (ret < 0)
    return ret;
  build_work_free (steal_pointer (&w));
  if (!empty)
    {
      config_add_layer (r->config, diff_id);
      strv_append (&r->st->diff_ids, diff_id);
    }
  history_add (r, created_by, empty);
  ret = commit_image (x, r->config, NULL, NULL, true, key, stage ? &stage : NULL, stage ? 1 : 0, NULL, &id,
                      err);
  if (ret < 0)
    return ret;
  out_line (x, "--> %.12s", id);
  return 0;
}

/* Without --layers: the stage's accumulated changes become its layer.  */
static int
finish_work (struct run *r, husk_error_t *err)
{
  struct executor *x = r->x;
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  cleanup_free char *diff_id = NULL;
  bool empty = false;
  int ret;

  if (r->work == NULL)
    return 0;
  ret = build_work_layer (x->b, r->work, &stage, &diff_id, &empty, err);
  build_work_free (steal_pointer (&r->work));
  if (ret < 0)
    return ret;
  if (empty)
    return 0;
  config_add_layer (r->config, diff_id);
  strv_append (&r->st->diff_ids, diff_id);
  if (r->last_fs_history >= 0)
    husk_json_remove (husk_json_array_at (husk_json_get (r->config, "history"), (size_t)r->last_fs_history),
                      "empty_layer");
  if (r->idx == x->target && !x->o->squash)
    {
      r->st->lstage = steal_pointer (&stage);
      return 0;
    }
  /* Later stages read this one's files from the store: keep the layer in
     an image removed at the end of the build.  */
  {
    cleanup_free char *id = NULL;
    bool existed = false;

    ret = commit_image (x, r->config, NULL, NULL, true, NULL, &stage, 1, &existed, &id, err);
    if (ret < 0)
      return ret;
    if (!existed)
      strv_append (&x->temp_images, id);
  }
  return 0;
}

/* ---- RUN ---- */

/* What RUN --mount from= reads, for the cache key: the stages' keys (an
   image is named by its reference).  */
static char *
mount_sources (struct run *r, const struct husk_dockerfile_instr *in)
{
  struct husk_buf b = { 0 };

  for (char **f = in->flags; *f; f++)
    {
      cleanup_free char *m = NULL;
      cleanup_free char *from = NULL;
      long j;

      if (!husk_has_prefix (*f, "--mount=")
          || husk_build_expand (*f + 8, r->x->df->escape, run_lookup, r, &m, NULL) < 0)
        continue;
      from = mount_from (m);
      if (from == NULL)
        continue;
      if (stage_ref (r->x, from, r->idx, in, "RUN --mount from", &j, NULL) == 0 && j >= 0)
        husk_buf_printf (&b, "stage:%s\n", r->x->stages[j].key);
      else
        husk_buf_printf (&b, "image:%s\n", from);
    }
  return b.len ? husk_buf_steal (&b, NULL) : NULL;
}

struct run_data
{
  struct build_run_req req;
  const char *display;
};

static int
run_fn (struct run *r, struct build_work *w, void *data, husk_error_t *err)
{
  struct run_data *d = data;
  int status = 0;
  int ret;

  ret = build_run (r->x->b, w, &d->req, &status, err);
  if (ret < 0)
    return husk_error_wrap (err, "building at STEP \"%s\"", d->display);
  if (status != 0)
    {
      ret = husk_make_error (err, 0, "building at STEP \"%s\": while running runtime: exit status %d",
                             d->display, status);
      husk_error_set_exit_code (err, status);
      return ret;
    }
  return 0;
}

static char **
shell_of (husk_json_t *config)
{
  husk_json_t *sh = husk_json_get_path (config, "config", "Shell", NULL);

  if (husk_json_array_len (sh) > 0)
    return husk_json_to_strv (sh);
  char **v = strv_dup (NULL);

  strv_append (&v, "/bin/sh");
  strv_append (&v, "-c");
  return v;
}

/* `RUN <<EOF` alone (delimiter quoted or not, <<- too).  */
static bool
heredoc_only (const struct husk_dockerfile_instr *in)
{
  const char *t = in->args[0];

  if (in->n_heredocs != 1 || t == NULL || !husk_has_prefix (t, "<<"))
    return false;
  t += 2;
  if (*t == '-')
    t++;
  if (*t == '"' || *t == '\'')
    t++;
  t += strlen (in->heredocs[0].name);
  if (*t == '"' || *t == '\'')
    t++;
  while (*t == ' ' || *t == '\t')
    t++;
  return *t == '\0';
}

static char **
run_env (struct run *r)
{
  husk_json_t *env = husk_json_get_path (r->config, "config", "Env", NULL);
  char **v = husk_json_to_strv (env);

  for (char **a = r->args; a && *a; a++)
    {
      cleanup_free char *name = xstrndup (*a, strcspn (*a, "="));
      if (kv_get (v, name) == NULL)
        strv_append (&v, *a);
    }
  for (size_t i = 0; proxy_args[i]; i++)
    {
      const char *p = build_arg (r->x->o, proxy_args[i]);
      if (p && kv_get (v, proxy_args[i]) == NULL)
        kv_set (&v, proxy_args[i], p);
    }
  if (kv_get (v, "PATH") == NULL)
    strv_append (&v, DEFAULT_PATH);
  return v;
}

static int
step_run (struct run *r, const struct husk_dockerfile_instr *in, const char *key, husk_error_t *err)
{
  static const char *const allowed[] = { "mount", "network", "security", NULL };
  struct executor *x = r->x;
  cleanup_strv char **argv = NULL;
  cleanup_strv char **env = NULL;
  cleanup_strv char **mounts = strv_dup (NULL);
  cleanup_free char *network = NULL;
  cleanup_free char *display = xasprintf ("RUN %s", in->text);
  cleanup_free char *created_by = NULL;
  const char *user, *cwd;
  struct run_data d = { 0 };

  if (check_flags (x, in, allowed, err) < 0)
    return -1;
  for (char **f = in->flags; *f; f++)
    {
      char *v = NULL;
      if (husk_has_prefix (*f, "--mount="))
        {
          if (expand (r, in, *f + 8, &v, err) < 0)
            return -1;
          strv_append_take (&mounts, v);
        }
      else if (husk_has_prefix (*f, "--network="))
        {
          free (network);
          if (expand (r, in, *f + 10, &network, err) < 0)
            return -1;
        }
    }
  if (in->json)
    argv = strv_dup (in->args);
  else
    {
      argv = shell_of (r->config);
      if (heredoc_only (in))
        strv_append (&argv, in->heredocs[0].body);
      else
        {
          /* `RUN cmd <<EOF`: the shell reads the "<<EOF" in the command
             itself, so the bodies follow it in the script, as BuildKit
             runs it (on stdin the shell would never read them).  */
          struct husk_buf script = { 0 };
          husk_buf_puts (&script, in->args[0] ? in->args[0] : "");
          for (size_t i = 0; i < in->n_heredocs; i++)
            husk_buf_printf (&script, "\n%s%s", in->heredocs[i].body, in->heredocs[i].name);
          strv_append_take (&argv, husk_buf_steal (&script, NULL));
        }
    }
  env = run_env (r);
  user = husk_json_get_string (cfg (r->config), "User");
  cwd = husk_json_get_string (cfg (r->config), "WorkingDir");
  d.req.argv = argv;
  d.req.env = env;
  d.req.user = user && *user ? user : NULL;
  d.req.cwd = cwd && *cwd ? cwd : NULL;
  d.req.network = network ? network : x->o->network ? x->o->network : "none";
  d.req.mounts = mounts;
  d.display = display;
  created_by = in->json ? nop_created_by (in) : xasprintf ("/bin/sh -c %s", in->text);
  return fs_step (r, key, created_by, run_fn, &d, err);
}

/* ---- COPY and ADD ---- */

static int
copy_fn (struct run *r, struct build_work *w, void *data, husk_error_t *err)
{
  return build_copy (r->x->b, w, data, err);
}

static void
wrap_copy_error (struct executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_free char *failed = xasprintf ("%s failed", in->keyword);

  if (err && *err && (*err)->msg && !husk_has_prefix ((*err)->msg, failed)
      && !husk_has_prefix ((*err)->msg, x->o->dockerfile_name))
    husk_error_wrap (err, "%s", failed);
  instr_wrap (x, in, err);
}

static int
step_copy (struct run *r, const struct husk_dockerfile_instr *in, const char *prev_key, char **key,
           husk_error_t *err)
{
  static const char *const copy_flags[] = { "from", "chown", "chmod", "link", "parents", "exclude", NULL };
  static const char *const add_flags[]
      = { "from", "chown", "chmod", "link", "checksum", "keep-git-dir", NULL };
  struct executor *x = r->x;
  bool add = strcmp (in->keyword, "ADD") == 0;
  cleanup_strv char **words = NULL;
  cleanup_strv char **from_ids = NULL;
  cleanup_free char *from = NULL;
  cleanup_free char *chown = NULL;
  cleanup_free char *chmod = NULL;
  cleanup_free char *identity = NULL;
  cleanup_free char *digest = NULL;
  cleanup_free char *created_by = NULL;
  cleanup_close int src_fd = -1;
  struct husk_dockerfile_heredoc *docs = NULL;
  struct build_copy_req req = { 0 };
  const char *v = NULL, *workdir;
  size_t n;
  int ret;

  if (check_flags (x, in, add ? add_flags : copy_flags, err) < 0)
    return -1;
  if (flag_get (in, "from", &v) && (v == NULL || expand (r, in, v, &from, err) < 0))
    return v == NULL ? instr_fail (x, in, err, "%s --from needs a value", in->keyword) : -1;
  if (flag_get (in, "chown", &v) && v && expand (r, in, v, &chown, err) < 0)
    return -1;
  if (flag_get (in, "chmod", &v) && v && expand (r, in, v, &chmod, err) < 0)
    return -1;
  if (expand_args (r, in, &words, err) < 0)
    return -1;
  n = strv_len (words);
  if (n < 2)
    return instr_fail (x, in, err, "%s requires at least two arguments", in->keyword);

  if (from)
    {
      cleanup_free char *what = xasprintf ("%s --from", in->keyword);
      if (from_layers (x, from, r->idx, in, what, &from_ids, &identity, err) < 0)
        return -1;
    }

  workdir = husk_json_get_string (cfg (r->config), "WorkingDir");
  req.add = add;
  req.src_rootfd = x->b->context_fd;
  req.from_context = from == NULL;
  req.dest = words[n - 1];
  words[n - 1] = NULL;
  req.sources = words;
  req.workdir = workdir && *workdir ? workdir : "/";
  req.chown = chown;
  req.chmod = chmod;
  req.n_heredocs = in->n_heredocs;
  if (in->n_heredocs)
    {
      docs = xzalloc (in->n_heredocs * sizeof (*docs));
      for (size_t i = 0; i < in->n_heredocs; i++)
        {
          docs[i] = in->heredocs[i];
          docs[i].body = in->heredocs[i].expand ? expand_heredoc (r, in->heredocs[i].body)
                                                : xstrdup (in->heredocs[i].body);
        }
      req.heredocs = docs;
    }
  if (from == NULL)
    {
      ret = build_copy_digest (x->b, &req, &digest, err);
      if (ret < 0)
        {
          wrap_copy_error (x, in, err);
          goto fail;
        }
    }
  *key = build_cache_key (prev_key, in, r->args, x->key_platform, digest ? digest : identity);
  ret = cache_lookup (r, *key, err);
  if (ret != 0)
    goto done;
  if (from)
    {
      src_fd = build_layers_mount (x->b, from_ids, err);
      if (src_fd < 0)
        {
          ret = -1;
          goto done;
        }
      req.src_rootfd = src_fd;
    }
  /* The lookup above missed: fs_step's own lookup is a no-op now.  */
  created_by = xasprintf ("/bin/sh -c #(nop) %s %s", in->keyword, in->text);
  ret = fs_step (r, *key, created_by, copy_fn, &req, err);
  if (ret < 0 && !(err && *err && (*err)->msg && strstr ((*err)->msg, "building at STEP")))
    wrap_copy_error (x, in, err);
  goto done;

fail:
  ret = -1;
done:
  for (size_t i = 0; docs && i < in->n_heredocs; i++)
    free (docs[i].body);
  free (docs);
  free ((char *)req.dest);
  return ret < 0 ? ret : 0;
}

/* ---- WORKDIR ---- */

static int
workdir_fn (struct run *r, struct build_work *w, void *data, husk_error_t *err)
{
  cleanup_close int root = build_work_mount (w, err);
  cleanup_close int dir = -1;

  (void)r;
  if (root < 0)
    return -1;
  dir = husk_mkdir_in_root (root, data, 0755, err);
  return dir < 0 ? -1 : 0;
}

static bool
dir_exists (struct run *r, const char *path, husk_error_t *err, int *ret)
{
  cleanup_close int root = -1;
  struct stat st;

  *ret = 0;
  if (r->work)
    root = build_work_mount (r->work, err);
  else
    root = build_layers_mount (r->x->b, r->st->diff_ids, err);
  if (root < 0)
    {
      *ret = -1;
      return false;
    }
  return husk_fs_stat_in_root (root, path, true, &st, NULL) == 0 && S_ISDIR (st.st_mode);
}

/* Go's path.Clean for an absolute path.  */
static char *
clean_path (const char *path)
{
  cleanup_strv char **parts = strv_dup (NULL);
  cleanup_free char *copy = xstrdup (path);
  struct husk_buf b = { 0 };
  char *save = NULL;

  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      size_t n = strv_len (parts);
      if (strcmp (c, ".") == 0)
        continue;
      if (strcmp (c, "..") == 0)
        {
          if (n > 0)
            {
              free (parts[n - 1]);
              parts[n - 1] = NULL;
            }
          continue;
        }
      strv_append (&parts, c);
    }
  for (char **p = parts; *p; p++)
    husk_buf_printf (&b, "/%s", *p);
  if (b.len == 0)
    husk_buf_puts (&b, "/");
  return husk_buf_steal (&b, NULL);
}

static int
step_workdir (struct run *r, const struct husk_dockerfile_instr *in, const char *key, husk_error_t *err)
{
  struct executor *x = r->x;
  cleanup_free char *value = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *created_by = nop_created_by (in);
  cleanup_free char *id = NULL;
  const char *prev = husk_json_get_string (cfg (r->config), "WorkingDir");
  bool exists;
  int ret;

  if (expand (r, in, in->args[0], &value, err) < 0)
    return -1;
  if (*value == '\0')
    return instr_fail (x, in, err, "WORKDIR requires a path");
  if (value[0] == '/')
    path = clean_path (value);
  else
    {
      cleanup_free char *joined = xasprintf ("%s/%s", prev && *prev ? prev : "/", value);
      path = clean_path (joined);
    }
  ret = cache_lookup (r, key, err);
  if (ret != 0)
    return ret < 0 ? ret : 0;
  husk_json_set_string (cfg (r->config), "WorkingDir", path);
  exists = dir_exists (r, path, err, &ret);
  if (ret < 0)
    return ret;
  if (!exists)
    return fs_step (r, key, created_by, workdir_fn, path, err);
  history_add (r, created_by, true);
  /* Recorded so that a rebuild finds this step without a mount.  */
  if (x->o->layers)
    {
      ret = commit_image (x, r->config, NULL, NULL, true, key, NULL, 0, NULL, &id, err);
      if (ret < 0)
        return ret;
      out_line (x, "--> %.12s", id);
    }
  return 0;
}

/* ---- metadata instructions ---- */

static int
step_arg (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  for (char **a = in->args; *a; a++)
    {
      cleanup_free char *name = NULL;
      cleanup_free char *value = NULL;

      if (resolve_arg_value (r->x, *a, run_lookup, r, true, &name, &value, err) < 0)
        return instr_wrap (r->x, in, err);
      if (value)
        kv_set (&r->args, name, value);
      else
        kv_unset (r->args, name);
    }
  return 0;
}

static int
step_env_label (struct run *r, const struct husk_dockerfile_instr *in, bool env, husk_error_t *err)
{
  cleanup_strv char **kv = NULL;
  size_t n = strv_len (in->args);

  if (n == 0 || n % 2 != 0)
    return instr_fail (r->x, in, err, "%s requires at least one argument", in->keyword);
  /* Every pair sees the values from before this instruction (Docker).  */
  if (expand_args (r, in, &kv, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i += 2)
    {
      if (*kv[i] == '\0')
        return instr_fail (r->x, in, err, "%s names cannot be empty", in->keyword);
      if (env)
        env_set (r->config, kv[i], kv[i + 1]);
      else
        husk_json_set_string (cfg_member (r->config, "Labels", HUSK_JSON_OBJECT), kv[i], kv[i + 1]);
    }
  return 0;
}

static int
parse_port (const char *s, unsigned long *port)
{
  char *end;

  errno = 0;
  *port = strtoul (s, &end, 10);
  return (errno || *end || end == s || *port > 65535) ? -1 : 0;
}

static int
step_expose (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  husk_json_t *ports;

  if (expand_args (r, in, &words, err) < 0)
    return -1;
  ports = cfg_member (r->config, "ExposedPorts", HUSK_JSON_OBJECT);
  for (char **w = words; *w; w++)
    {
      cleanup_free char *spec = lower_dup (*w);
      char *slash = strchr (spec, '/');
      const char *proto = "tcp";
      char *dash;
      unsigned long lo, hi;

      if (slash)
        {
          *slash = '\0';
          proto = slash + 1;
          if (strcmp (proto, "tcp") && strcmp (proto, "udp") && strcmp (proto, "sctp"))
            return instr_fail (r->x, in, err, "invalid proto: %s", proto);
        }
      dash = strchr (spec, '-');
      if (dash)
        *dash = '\0';
      if (parse_port (spec, &lo) < 0 || (dash && parse_port (dash + 1, &hi) < 0))
        return instr_fail (r->x, in, err, "invalid containerPort: %s", *w);
      if (!dash)
        hi = lo;
      if (hi < lo)
        return instr_fail (r->x, in, err, "invalid range specified for containerPort: %s", *w);
      for (unsigned long p = lo; p <= hi; p++)
        {
          cleanup_free char *k = xasprintf ("%lu/%s", p, proto);
          husk_json_set (ports, k, husk_json_new_object ());
        }
    }
  return 0;
}

static int
step_volume (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  husk_json_t *vols;

  if (expand_args (r, in, &words, err) < 0)
    return -1;
  if (words[0] == NULL)
    return instr_fail (r->x, in, err, "VOLUME requires at least one argument");
  vols = cfg_member (r->config, "Volumes", HUSK_JSON_OBJECT);
  for (char **w = words; *w; w++)
    {
      if (**w == '\0')
        return instr_fail (r->x, in, err, "VOLUME specified can not be an empty string");
      husk_json_set (vols, *w, husk_json_new_object ());
    }
  return 0;
}

static husk_json_t *
command_of (struct run *r, const struct husk_dockerfile_instr *in)
{
  cleanup_strv char **v = NULL;

  if (in->json)
    return husk_json_from_strv (in->args);
  v = shell_of (r->config);
  strv_append (&v, in->args[0] ? in->args[0] : "");
  return husk_json_from_strv (v);
}

/* Go's time.ParseDuration, as Docker reads HEALTHCHECK flags.  */
static int
parse_duration (const char *s, int64_t *ns)
{
  static const struct
  {
    const char *unit;
    double mult;
  } units[] = { { "ns", 1 },  { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
                { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
  double total = 0;

  if (strcmp (s, "0") == 0)
    {
      *ns = 0;
      return 0;
    }
  if (*s == '\0')
    return -1;
  while (*s)
    {
      char *end;
      double v;
      size_t best = 0, best_len = 0;

      if (!isdigit ((unsigned char)*s) && *s != '.')
        return -1;
      v = strtod (s, &end);
      if (end == s)
        return -1;
      s = end;
      for (size_t i = 0; i < sizeof (units) / sizeof (units[0]); i++)
        {
          size_t l = strlen (units[i].unit);
          if (strncmp (s, units[i].unit, l) == 0 && l > best_len)
            {
              best = i;
              best_len = l;
            }
        }
      if (best_len == 0)
        return -1;
      total += v * units[best].mult;
      s += best_len;
    }
  *ns = (int64_t)total;
  return 0;
}

static int
step_healthcheck (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  static const char *const allowed[]
      = { "interval", "timeout", "start-period", "start-interval", "retries", NULL };
  static const struct
  {
    const char *flag, *key;
  } durations[] = { { "interval", "Interval" },
                    { "timeout", "Timeout" },
                    { "start-period", "StartPeriod" },
                    { "start-interval", "StartInterval" } };
  cleanup_json husk_json_t *hc = husk_json_new_object ();
  husk_json_t *test = husk_json_new_array ();
  const char *v;

  husk_json_set (hc, "Test", test);
  if (check_flags (r->x, in, allowed, err) < 0)
    return -1;
  if (in->args[0] == NULL)
    return instr_fail (r->x, in, err, "HEALTHCHECK requires an argument");
  if (strcasecmp (in->args[0], "NONE") == 0)
    {
      if (in->args[1] != NULL)
        return instr_fail (r->x, in, err, "HEALTHCHECK NONE takes no arguments");
      husk_json_array_append (test, husk_json_new_string ("NONE"));
      husk_json_set (cfg (r->config), "Healthcheck", steal_pointer (&hc));
      return 0;
    }
  if (strcasecmp (in->args[0], "CMD") != 0 || in->args[1] == NULL)
    return instr_fail (r->x, in, err, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", in->args[0]);
  if (in->json)
    {
      husk_json_array_append (test, husk_json_new_string ("CMD"));
      for (char **a = in->args + 1; *a; a++)
        husk_json_array_append (test, husk_json_new_string (*a));
    }
  else
    {
      husk_json_array_append (test, husk_json_new_string ("CMD-SHELL"));
      husk_json_array_append (test, husk_json_new_string (in->args[1]));
    }
  for (size_t i = 0; i < sizeof (durations) / sizeof (durations[0]); i++)
    if (flag_get (in, durations[i].flag, &v))
      {
        int64_t ns;
        if (v == NULL || parse_duration (v, &ns) < 0)
          return instr_fail (r->x, in, err, "invalid value for --%s: %s", durations[i].flag, v ? v : "");
        if (ns != 0)
          husk_json_set_int (hc, durations[i].key, ns);
      }
  if (flag_get (in, "retries", &v))
    {
      uint64_t n;
      if (v == NULL || !husk_parse_u64 (v, &n) || n > INT32_MAX)
        return instr_fail (r->x, in, err, "invalid value for --retries: %s", v ? v : "");
      if (n)
        husk_json_set_int (hc, "Retries", (int64_t)n);
    }
  husk_json_set (cfg (r->config), "Healthcheck", steal_pointer (&hc));
  return 0;
}

static int
step_metadata (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  const char *k = in->keyword;
  cleanup_free char *value = NULL;

  if (strcmp (k, "ENV") == 0 || strcmp (k, "LABEL") == 0)
    return step_env_label (r, in, k[0] == 'E', err);
  if (strcmp (k, "EXPOSE") == 0)
    return step_expose (r, in, err);
  if (strcmp (k, "VOLUME") == 0)
    return step_volume (r, in, err);
  if (strcmp (k, "HEALTHCHECK") == 0)
    return step_healthcheck (r, in, err);
  if (strcmp (k, "CMD") == 0)
    {
      husk_json_set (cfg (r->config), "Cmd", command_of (r, in));
      r->cmd_set = true;
      return 0;
    }
  if (strcmp (k, "ENTRYPOINT") == 0)
    {
      husk_json_set (cfg (r->config), "Entrypoint", command_of (r, in));
      if (!r->cmd_set)
        husk_json_remove (cfg (r->config), "Cmd");
      return 0;
    }
  if (strcmp (k, "SHELL") == 0)
    {
      if (!in->json || in->args[0] == NULL)
        return instr_fail (r->x, in, err, "SHELL requires the arguments to be in JSON form");
      husk_json_set (cfg (r->config), "Shell", husk_json_from_strv (in->args));
      return 0;
    }
  if (strcmp (k, "MAINTAINER") == 0)
    {
      husk_json_set_string (r->config, "author", in->args[0] ? in->args[0] : "");
      return 0;
    }
  if (strcmp (k, "ONBUILD") == 0)
    {
      husk_json_array_append (cfg_member (r->config, "OnBuild", HUSK_JSON_ARRAY),
                              husk_json_new_string (in->args[0] ? in->args[0] : ""));
      return 0;
    }
  if (strcmp (k, "USER") == 0 || strcmp (k, "STOPSIGNAL") == 0)
    {
      if (in->args[0] == NULL || expand (r, in, in->args[0], &value, err) < 0)
        return in->args[0] ? -1 : instr_fail (r->x, in, err, "%s requires an argument", k);
      if (*value == '\0')
        return instr_fail (r->x, in, err, "%s requires an argument", k);
      husk_json_set_string (cfg (r->config), k[0] == 'U' ? "User" : "StopSignal", value);
      return 0;
    }
  return instr_fail (r->x, in, err, "unknown instruction: %s", k);
}

/* One instruction of a stage (or an ONBUILD trigger).  */
static int
exec_instr (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  struct executor *x = r->x;
  const char *k = in->keyword;
  cleanup_free char *key = NULL;
  cleanup_free char *created_by = NULL;
  int ret;

  x->instr = in;
  if (strcmp (k, "ARG") == 0)
    {
      if (check_flags (x, in, NULL, err) < 0)
        return -1;
      ret = step_arg (r, in, err);
      /* A changed ARG value changes later keys through the args in scope. */
      return ret;
    }
  if (strcmp (k, "COPY") == 0 || strcmp (k, "ADD") == 0)
    {
      ret = step_copy (r, in, r->st->key, &key, err);
      if (ret < 0)
        return ret;
      free (r->st->key);
      r->st->key = steal_pointer (&key);
      return 0;
    }
  if (strcmp (k, "FROM") == 0)
    return instr_fail (x, in, err, "FROM is not allowed here");

  {
    cleanup_free char *mounts = strcmp (k, "RUN") == 0 ? mount_sources (r, in) : NULL;
    key = build_cache_key (r->st->key, in, r->args, x->key_platform, mounts);
  }
  if (strcmp (k, "RUN") == 0)
    ret = step_run (r, in, key, err);
  else if (strcmp (k, "WORKDIR") == 0)
    ret = check_flags (x, in, NULL, err) < 0 ? -1 : step_workdir (r, in, key, err);
  else if (strcmp (k, "HEALTHCHECK") != 0 && check_flags (x, in, NULL, err) < 0)
    ret = -1;
  else
    {
      ret = step_metadata (r, in, err);
      if (ret >= 0)
        {
          created_by = nop_created_by (in);
          history_add (r, created_by, true);
        }
    }
  if (ret < 0)
    return ret;
  free (r->st->key);
  r->st->key = steal_pointer (&key);
  return 0;
}

/* ---- FROM and the stage loop ---- */

static void
set_platform_fields (struct executor *x, husk_json_t *config, const char *platform)
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

static int
stage_from (struct run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  static const char *const allowed[] = { "platform", NULL };
  struct executor *x = r->x;
  cleanup_free char *image = NULL;
  cleanup_free char *platform = NULL;
  const char *v = NULL;
  long j;

  if (check_flags (x, in, allowed, err) < 0)
    return -1;
  if (flag_get (in, "platform", &v) && v)
    {
      if (husk_build_expand (v, x->df->escape, global_lookup, x, &platform, err) < 0)
        return instr_wrap (x, in, err);
    }
  if (husk_build_expand (in->args[0], x->df->escape, global_lookup, x, &image, err) < 0)
    return instr_wrap (x, in, err);
  if (*image == '\0')
    return instr_fail (x, in, err, "FROM requires an image name");

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
        return instr_wrap (x, in, err);
      r->st->diff_ids = config_diff_ids (r->config);
      r->st->key = xasprintf ("sha256:%s", id);
    }
  r->st->config = r->config;
  return 0;
}

/* The base's ONBUILD triggers run as if written right after FROM.  */
static int
run_onbuild (struct run *r, husk_error_t *err)
{
  husk_json_t *ob = husk_json_get_path (r->config, "config", "OnBuild", NULL);
  cleanup_strv char **triggers = husk_json_to_strv (ob);

  if (ob == NULL)
    return 0;
  husk_json_remove (cfg (r->config), "OnBuild");
  for (char **t = triggers; *t; t++)
    {
      cleanup_dockerfile struct husk_dockerfile *df = NULL;
      if (husk_dockerfile_parse (r->x->o->dockerfile_name, *t, strlen (*t), &df, err) < 0)
        return husk_error_wrap (err, "ONBUILD trigger \"%s\"", *t);
      for (size_t i = 0; i < df->n_instrs; i++)
        if (exec_instr (r, &df->instrs[i], err) < 0)
          return husk_error_wrap (err, "ONBUILD trigger \"%s\"", *t);
    }
  return 0;
}

static void
print_step (struct executor *x, const struct husk_dockerfile_instr *in)
{
  x->step++;
  out_line (x, "STEP %u/%u: %s %s", x->step, x->n_steps, in->keyword, in->text);
}

static int
build_stage (struct executor *x, size_t idx, husk_error_t *err)
{
  struct stage *st = &x->stages[idx];
  struct run r = { .x = x, .st = st, .idx = idx, .last_fs_history = -1 };
  int ret = 0;

  x->current = idx;
  print_step (x, &x->df->instrs[st->first]);
  ret = stage_from (&r, &x->df->instrs[st->first], err);
  if (ret < 0)
    goto out;
  ret = run_onbuild (&r, err);
  for (size_t i = st->first + 1; ret >= 0 && i < st->end; i++)
    {
      print_step (x, &x->df->instrs[i]);
      ret = exec_instr (&r, &x->df->instrs[i], err);
    }
  if (ret >= 0)
    ret = finish_work (&r, err);
  st->built = ret >= 0;
out:
  build_work_free (r.work);
  strv_free (r.args);
  return ret;
}

/* ---- the final image ---- */

static int
squash_layer (struct executor *x, struct stage *st, husk_layer_stage_t **out, char **diff_id,
              husk_error_t *err)
{
  cleanup_close int root = -1;
  cleanup_close int tmp = -1;
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  struct husk_layer_apply_opts opts = { 0 };
  struct husk_layer_apply_result res = { 0 };
  int ret, fd;

  root = build_layers_mount (x->b, st->diff_ids, err);
  if (root < 0)
    return -1;
  tmp = husk_open_tmpfile (x->b->tmpdir, err);
  if (tmp < 0)
    return -1;
  ret = husk_fs_tar_write (root, "/", false, "", NULL, tmp, err);
  if (ret < 0)
    return ret;
  if (lseek (tmp, 0, SEEK_SET) < 0)
    return husk_make_error (err, errno, "lseek");
  ret = husk_store_layer_stage_new (x->s, &stage, err);
  if (ret < 0)
    return ret;
  opts.userxattr = husk_store_rootless (x->s);
  opts.no_chown = !husk_userns_can_chown ();
  fd = tmp;
  ret = husk_image_layer_apply (stage, husk_read_fd, &fd, &opts, NULL, &res, err);
  if (ret < 0)
    {
      husk_layer_apply_result_clear (&res);
      return husk_error_wrap (err, "squashing the image's layers");
    }
  *diff_id = steal_pointer (&res.diff_id);
  *out = steal_pointer (&stage);
  husk_layer_apply_result_clear (&res);
  return 0;
}

static void
squash_config (struct executor *x, husk_json_t *config, const char *diff_id)
{
  husk_json_t *history = husk_json_get (config, "history");
  husk_json_t *rootfs = husk_json_new_object ();
  husk_json_t *h = husk_json_new_object ();
  cleanup_free char *now = now_string (x);
  size_t n = husk_json_array_len (history);

  for (size_t i = 0; i < n; i++)
    husk_json_set_bool (husk_json_array_at (history, i), "empty_layer", true);
  if (history == NULL)
    {
      history = husk_json_new_array ();
      husk_json_set (config, "history", history);
    }
  husk_json_set_string (h, "created", now);
  husk_json_set_string (h, "created_by", "/bin/sh -c #(nop) squash");
  husk_json_array_append (history, h);
  husk_json_set_string (rootfs, "type", "layers");
  husk_json_set (rootfs, "diff_ids", husk_json_from_strv ((char *[]){ (char *)diff_id, NULL }));
  husk_json_set (config, "rootfs", rootfs);
}

static char *
docker_manifest (struct executor *x, husk_json_t *config)
{
  cleanup_json husk_json_t *m = husk_json_new_object ();
  husk_json_t *c = husk_json_new_object ();
  husk_json_t *layers = husk_json_new_array ();
  cleanup_strv char **ids = config_diff_ids (config);
  cleanup_free char *data = NULL;
  cleanup_free char *digest = NULL;
  size_t len;

  data = husk_json_serialize (config, false, &len);
  digest = husk_digest_buffer (data, len);
  husk_json_set_int (m, "schemaVersion", 2);
  husk_json_set_string (m, "mediaType", DOCKER_MANIFEST);
  husk_json_set_string (c, "mediaType", DOCKER_CONFIG);
  husk_json_set_int (c, "size", (int64_t)len);
  husk_json_set_string (c, "digest", digest);
  husk_json_set (m, "config", c);
  for (char **id = ids; *id; id++)
    {
      husk_json_t *l = husk_json_new_object ();
      husk_json_set_string (l, "mediaType", DOCKER_LAYER);
      husk_json_set_int (l, "size", (int64_t)husk_store_layer_diff_size (x->s, *id));
      husk_json_set_string (l, "digest", *id);
      husk_json_array_append (layers, l);
    }
  husk_json_set (m, "layers", layers);
  return husk_json_serialize (m, false, NULL);
}

static char *
final_key (struct executor *x, const char *last)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();

  husk_digester_update (d, last, strlen (last));
  husk_digester_update (d, "\0commit", 7);
  for (char *const *l = x->o->labels; l && *l; l++)
    husk_digester_update (d, *l, strlen (*l) + 1);
  if (x->o->squash)
    husk_digester_update (d, "\0squash", 7);
  if (x->o->format == HUSK_BUILD_FORMAT_DOCKER)
    husk_digester_update (d, "\0docker", 7);
  if (x->o->have_timestamp)
    {
      cleanup_free char *t = xasprintf ("\1%lld", (long long)x->o->timestamp);
      husk_digester_update (d, t, strlen (t));
    }
  return husk_digester_final (d);
}

static int
commit_final (struct executor *x, char **id, husk_error_t *err)
{
  struct stage *st = &x->stages[x->target];
  cleanup_free char *key = final_key (x, st->key);
  cleanup_free char *cached = NULL;
  cleanup_free char *manifest = NULL;
  cleanup_free char *squash_id = NULL;
  cleanup_layer_stage husk_layer_stage_t *squashed = NULL;
  cleanup_json husk_json_t *config = NULL;
  husk_layer_stage_t *stages[1];
  size_t n_stages = 0;
  char *const *tags = x->o->tags;
  bool up_to_date = false;
  int ret;

  if (x->o->layers && !x->o->no_cache && !x->missed)
    {
      ret = husk_store_lock (x->s, false, err);
      if (ret < 0)
        return ret;
      ret = husk_store_image_find_build (x->s, key, &cached, err);
      if (ret > 0)
        {
          cleanup_free char *data = NULL;
          size_t len;
          struct husk_image_record *rec = NULL;
          ret = husk_store_image_config (x->s, cached, &data, &len, err);
          if (ret >= 0)
            {
              config = husk_json_parse (data, len, err);
              ret = config ? 1 : -1;
            }
          /* Named as asked already: nothing to write (a cached rebuild
             takes no exclusive lock).  */
          if (ret > 0 && husk_store_image_find (x->s, cached, &rec, NULL) > 0 && !rec->intermediate)
            {
              up_to_date = true;
              for (char *const *t = tags; t && *t; t++)
                if (!strv_contains (rec->names, *t))
                  up_to_date = false;
            }
        }
      husk_store_unlock (x->s);
      if (ret < 0)
        return ret;
      if (ret > 0 && x->o->format == HUSK_BUILD_FORMAT_DOCKER)
        manifest = docker_manifest (x, config);
    }
  if (config == NULL)
    {
      config = husk_json_clone (st->config);
      for (char *const *l = x->o->labels; l && *l; l++)
        {
          cleanup_free char *k = xstrndup (*l, strcspn (*l, "="));
          const char *eq = strchr (*l, '=');
          husk_json_set_string (cfg_member (config, "Labels", HUSK_JSON_OBJECT), k, eq ? eq + 1 : "");
        }
      if (x->o->squash)
        {
          ret = squash_layer (x, st, &squashed, &squash_id, err);
          if (ret < 0)
            return ret;
          squash_config (x, config, squash_id);
          stages[n_stages++] = squashed;
        }
      else if (st->lstage)
        stages[n_stages++] = st->lstage;
      {
        cleanup_free char *now = now_string (x);
        husk_json_t *history = husk_json_get (config, "history");
        husk_json_set_string (config, "created", now);
        if (x->o->have_timestamp)
          for (size_t i = 0; i < husk_json_array_len (history); i++)
            husk_json_set_string (husk_json_array_at (history, i), "created", now);
      }
      if (x->o->format == HUSK_BUILD_FORMAT_DOCKER)
        manifest = docker_manifest (x, config);
    }

  if (tags && tags[0])
    out_line (x, "COMMIT %s", tags[0]);
  else
    out_line (x, "COMMIT");
  if (up_to_date)
    *id = xstrdup (cached);
  else
    {
      ret = commit_image (x, config, manifest, tags && tags[0] ? tags : NULL, false,
                          x->o->layers ? key : NULL, n_stages ? stages : NULL, n_stages, NULL, id, err);
      if (ret < 0)
        return ret;
    }
  out_line (x, "--> %.12s", *id);
  for (char *const *t = tags; t && *t; t++)
    out_line (x, "Successfully tagged %s", *t);
  husk_store_event (x->s, "image", "build", *id, tags && tags[0] ? tags[0] : NULL, NULL);
  return 0;
}

/* ---- husk_build ---- */

static void
warn_unused_args (struct executor *x)
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
  out_line (x, "[Warning] one or more build args were not consumed: [%s]", list);
}

static void
builtin_args (struct executor *x)
{
  const char *slash = strchr (x->platform, '/');
  cleanup_free char *os = xstrndup (x->platform, (size_t)(slash - x->platform));
  cleanup_free char *arch = xstrdup (slash + 1);
  char *variant = strchr (arch, '/');
  cleanup_free char *host = xasprintf ("linux/%s", husk_image_host_arch ());

  if (variant)
    *variant++ = '\0';
  kv_set (&x->builtin_args, "TARGETPLATFORM", x->platform);
  kv_set (&x->builtin_args, "TARGETOS", os);
  kv_set (&x->builtin_args, "TARGETARCH", arch);
  kv_set (&x->builtin_args, "TARGETVARIANT", variant ? variant : "");
  kv_set (&x->builtin_args, "BUILDPLATFORM", host);
  kv_set (&x->builtin_args, "BUILDOS", "linux");
  kv_set (&x->builtin_args, "BUILDARCH", husk_image_host_arch ());
}

static int
make_tmpdir (struct executor *x, husk_error_t *err)
{
  const char *base = husk_store_tmpdir (x->s);
  cleanup_close int dfd = -1;
  cleanup_free char *name = NULL;

  if (husk_mkdir_p (base, 0700, err) < 0)
    return -1;
  dfd = open (base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return husk_make_error (err, errno, "open `%s`", base);
  name = husk_mkdtemp_at (dfd, "build-", err);
  if (name == NULL)
    return -1;
  x->b->tmpdir = xasprintf ("%s/%s", base, name);
  return 0;
}

static void
remove_temp_images (struct executor *x, const char *keep)
{
  husk_error_t e = NULL;

  if (x->temp_images == NULL)
    return;
  if (husk_store_lock (x->s, true, &e) < 0)
    {
      husk_error_release (&e);
      return;
    }
  for (char **id = x->temp_images; *id; id++)
    if (keep == NULL || strcmp (*id, keep) != 0)
      if (husk_store_image_remove (x->s, *id, &e) < 0)
        husk_error_release (&e);
  husk_store_unlock (x->s);
}

static void
executor_free (struct executor *x)
{
  for (size_t i = 0; x->stages && i < x->n_stages; i++)
    {
      free (x->stages[i].name);
      husk_json_free (x->stages[i].config);
      strv_free (x->stages[i].diff_ids);
      free (x->stages[i].key);
      husk_layer_stage_free (x->stages[i].lstage);
    }
  free (x->stages);
  strv_free (x->global_args);
  strv_free (x->global_names);
  strv_free (x->builtin_args);
  strv_free (x->consumed);
  strv_free (x->temp_images);
  free (x->platform);
  free (x->key_platform);
}

static int
build_all (struct executor *x, char **id, husk_error_t *err)
{
  if (split_stages (x, err) < 0 || find_target (x, err) < 0 || mark_needed (x, err) < 0)
    return -1;
  if (make_tmpdir (x, err) < 0)
    return -1;
  for (size_t i = 0; i <= x->target; i++)
    if (x->stages[i].needed && build_stage (x, i, err) < 0)
      return -1;
  if (commit_final (x, id, err) < 0)
    return -1;
  warn_unused_args (x);
  return 0;
}

int
husk_build (husk_store_t *s, const struct husk_build_opts *o, char **id, husk_error_t *err)
{
  struct build_ctx b = { 0 };
  struct executor x = { 0 };
  cleanup_dockerfile struct husk_dockerfile *df = NULL;
  cleanup_free char *result = NULL;
  int ret;

  ret = husk_dockerfile_parse (o->dockerfile_name, o->dockerfile, o->dockerfile_len, &df, err);
  if (ret < 0)
    return ret;
  ret = husk_build_ignore_load (o->context_fd, o->dockerfile_rel, &b.ignore, err);
  if (ret < 0)
    return ret;
  b.s = s;
  b.o = o;
  b.context_fd = o->context_fd;
  b.resolve_from = resolve_from_cb;
  b.executor = &x;
  x.s = s;
  x.o = o;
  x.b = &b;
  x.df = df;
  x.platform
      = o->platform && *o->platform ? xstrdup (o->platform) : xasprintf ("linux/%s", husk_image_host_arch ());
  if (strchr (x.platform, '/') == NULL)
    {
      char *p = xasprintf ("linux/%s", x.platform);
      free (x.platform);
      x.platform = p;
    }
  x.key_platform = o->have_timestamp ? xasprintf ("%s timestamp=%lld", x.platform, (long long)o->timestamp)
                                     : xstrdup (x.platform);
  builtin_args (&x);

  ret = build_all (&x, &result, err);

  remove_temp_images (&x, result);
  build_copy_cleanup (&b);
  if (b.tmpdir)
    {
      husk_error_t e = NULL;
      if (husk_rm_rf_at (AT_FDCWD, b.tmpdir, &e) < 0)
        husk_error_release (&e);
    }
  free (b.tmpdir);
  husk_build_ignore_free (b.ignore);
  executor_free (&x);
  if (ret < 0)
    return ret;
  *id = steal_pointer (&result);
  return 0;
}
