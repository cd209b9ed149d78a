/* husk: the build executor: husk_build, the stage and step loop, and
   the steps that change files (RUN, COPY, ADD, WORKDIR).

   A Dockerfile is split into stages at FROM (stages.c); the target stage
   (--target or the last) and the stages it names (FROM <stage>, COPY
   --from, RUN --mount from=) are built in file order.  Each stage carries
   an image config (the OCI config as stored), its layers (diffIDs) and a
   cache key chain: every instruction's key is the sha256 of the previous
   key, the instruction, the ARG values in scope, the platform and, for
   COPY/ADD, what is copied (cache.c).

   With --layers (the default) each filesystem step (RUN, COPY, ADD, a
   WORKDIR that creates its directory) is committed as an intermediate
   image carrying its key, so the cache survives the build; metadata
   steps change the config in memory only (instructions.c).  Without
   --layers a stage accumulates its changes in one overlay upper dir and
   makes one layer, as buildah does.  The target becomes the image in
   image.c.  */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/build.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "build-internal.h"
#include "cache.h"
#include "executor.h"

/* ---- small helpers ---- */

void
build_out_line (struct build_executor *x, const char *fmt, ...)
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
const char *
build_kv_get (char *const *v, const char *name)
{
  size_t len = strlen (name);
  const char *found = NULL;

  for (; v && *v; v++)
    if (strncmp (*v, name, len) == 0 && (*v)[len] == '=')
      found = *v + len + 1;
  return found;
}

void
build_kv_set (char ***v, const char *name, const char *value)
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

void
build_kv_unset (char **v, const char *name)
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

char *
build_lower_dup (const char *s)
{
  char *r = xstrdup (s);

  for (char *p = r; *p; p++)
    *p = (char)tolower ((unsigned char)*p);
  return r;
}

/* "--name=value" in flags: 1 and *value (NULL for a bare "--name").  */
int
build_flag_get (const struct husk_dockerfile_instr *in, const char *name, const char **value)
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

int
build_instr_fail (struct build_executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err,
                  const char *fmt, ...)
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
int
build_instr_wrap (struct build_executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_free char *prefix = xasprintf ("%s:", x->o->dockerfile_name);

  if (err && *err && (*err)->msg && husk_has_prefix ((*err)->msg, prefix))
    return -1;
  return husk_error_wrap (err, "%s:%u", x->o->dockerfile_name, in->line);
}

int
build_check_flags (struct build_executor *x, const struct husk_dockerfile_instr *in,
                   const char *const *allowed, husk_error_t *err)
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
        return build_instr_fail (x, in, err, "unknown flag: --%.*s", (int)len, name);
    }
  return 0;
}

/* ---- expansion ---- */

/* ENV wins over ARG (Docker).  */
const char *
build_run_lookup (void *ctx, const char *name)
{
  struct build_stage_run *r = ctx;
  const char *v = build_env_get (r->config, name);

  return v ? v : build_kv_get (r->args, name);
}

int
build_expand (struct build_stage_run *r, const struct husk_dockerfile_instr *in, const char *word, char **out,
              husk_error_t *err)
{
  int ret;

  ret = husk_build_expand (word, r->x->df->escape, build_run_lookup, r, out, err);
  if (ret < 0)
    return build_instr_wrap (r->x, in, err);
  return 0;
}

int
build_expand_args (struct build_stage_run *r, const struct husk_dockerfile_instr *in, char ***out,
                   husk_error_t *err)
{
  cleanup_strv char **v = strv_dup (NULL);

  for (char **a = in->args; *a; a++)
    {
      char *e = NULL;
      if (in->json || husk_has_prefix (*a, "<<"))
        e = xstrdup (*a);
      else if (build_expand (r, in, *a, &e, err) < 0)
        return -1;
      strv_append_take (&v, e);
    }
  *out = steal_pointer (&v);
  return 0;
}

/* A heredoc body for COPY/ADD: $NAME and ${NAME} expanded, everything
   else (quotes included) kept, as BuildKit does for file content.  */
static char *
expand_heredoc (struct build_stage_run *r, const char *body)
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
          v = build_run_lookup (r, name);
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

/* ---- filesystem steps ---- */

typedef int (*step_fn) (struct build_stage_run *r, struct build_work *w, void *data, husk_error_t *err);

/* A cache hit: 1 (the stage now is that image), 0 on a miss.  */
static int
cache_lookup (struct build_stage_run *r, const char *key, husk_error_t *err)
{
  struct build_executor *x = r->x;
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
  r->st->diff_ids = build_config_diff_ids (config);
  build_out_line (x, "--> Using cache %s", id);
  return 1;
}

static int
fs_step (struct build_stage_run *r, const char *key, const char *created_by, step_fn fn, void *data,
         husk_error_t *err)
{
  struct build_executor *x = r->x;
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
      r->last_fs_history = build_history_add (r, created_by, true);
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
      build_config_add_layer (r->config, diff_id);
      strv_append (&r->st->diff_ids, diff_id);
    }
  build_history_add (r, created_by, empty);
  ret = build_commit_image (x, r->config, NULL, NULL, true, key, stage ? &stage : NULL, stage ? 1 : 0, NULL,
                            &id, err);
  if (ret < 0)
    return ret;
  build_out_line (x, "--> %.12s", id);
  return 0;
}

/* Without --layers: the stage's accumulated changes become its layer.  */
static int
finish_work (struct build_stage_run *r, husk_error_t *err)
{
  struct build_executor *x = r->x;
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
  build_config_add_layer (r->config, diff_id);
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

    ret = build_commit_image (x, r->config, NULL, NULL, true, NULL, &stage, 1, &existed, &id, err);
    if (ret < 0)
      return ret;
    if (!existed)
      strv_append (&x->temp_images, id);
  }
  return 0;
}

/* ---- RUN ---- */

/* What a RUN --mount=type=bind without from= reads: the content under its
   source in the context, .dockerignore applied as for COPY.  A source
   that cannot be read is named as missing: the RUN itself fails on it,
   with the mount's own message.  */
static void
mount_context_digest (struct build_stage_run *r, const char *mount, struct husk_buf *b)
{
  static const char *const type_keys[] = { "type", NULL };
  static const char *const source_keys[] = { "source", "src", NULL };
  cleanup_free char *type = build_mount_opt (mount, type_keys);
  cleanup_free char *source = build_mount_opt (mount, source_keys);
  cleanup_free char *digest = NULL;
  const char *path = source && *source ? source : "/";
  char *paths[] = { (char *)path, NULL };
  husk_error_t e = NULL;

  if (type && strcmp (type, "bind") != 0)
    return;
  if (husk_build_sources_digest (r->x->b->context_fd, paths, r->x->b->ignore, &digest, &e) < 0)
    {
      husk_error_release (&e);
      husk_buf_printf (b, "context:%s:missing\n", path);
      return;
    }
  husk_buf_printf (b, "context:%s:%s\n", path, digest);
}

/* What RUN --mount reads, for the cache key: a from= stage's key (an
   image is named by its reference), a bind's content from the
   context.  */
static char *
mount_sources (struct build_stage_run *r, const struct husk_dockerfile_instr *in)
{
  struct husk_buf b = { 0 };

  for (char **f = in->flags; *f; f++)
    {
      cleanup_free char *m = NULL;
      cleanup_free char *from = NULL;
      long j;

      if (!husk_has_prefix (*f, "--mount=")
          || husk_build_expand (*f + 8, r->x->df->escape, build_run_lookup, r, &m, NULL) < 0)
        continue;
      from = build_mount_from (m);
      if (from == NULL)
        mount_context_digest (r, m, &b);
      else if (build_stage_ref (r->x, from, r->idx, in, "RUN --mount from", &j, NULL) == 0 && j >= 0)
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
run_fn (struct build_stage_run *r, struct build_work *w, void *data, husk_error_t *err)
{
  struct run_data *d = data;
  int status = 0;
  int ret;

  ret = build_run (r->x->b, w, &d->req, &status, err);
  if (ret < 0)
    {
      husk_error_wrap (err, "building at STEP \"%s\"", d->display);
      return build_instr_wrap (r->x, r->x->instr, err);
    }
  if (status != 0)
    {
      /* Podman's words, after the Dockerfile's name and line.  */
      husk_make_error (err, 0, "building at STEP \"%s\": while running runtime: exit status %d", d->display,
                       status);
      husk_error_set_exit_code (err, status);
      return build_instr_wrap (r->x, r->x->instr, err);
    }
  return 0;
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

static int
step_run (struct build_stage_run *r, const struct husk_dockerfile_instr *in, const char *key,
          husk_error_t *err)
{
  static const char *const allowed[] = { "mount", "network", "security", NULL };
  struct build_executor *x = r->x;
  cleanup_strv char **argv = NULL;
  cleanup_strv char **env = NULL;
  cleanup_strv char **mounts = strv_dup (NULL);
  cleanup_free char *network = NULL;
  cleanup_free char *display = xasprintf ("RUN %s", in->text);
  cleanup_free char *created_by = NULL;
  const char *user, *cwd;
  struct run_data d = { 0 };

  if (build_check_flags (x, in, allowed, err) < 0)
    return -1;
  for (char **f = in->flags; *f; f++)
    {
      char *v = NULL;
      if (husk_has_prefix (*f, "--mount="))
        {
          if (build_expand (r, in, *f + 8, &v, err) < 0)
            return -1;
          strv_append_take (&mounts, v);
        }
      else if (husk_has_prefix (*f, "--network="))
        {
          free (network);
          if (build_expand (r, in, *f + 10, &network, err) < 0)
            return -1;
        }
    }
  if (in->json)
    argv = strv_dup (in->args);
  else
    {
      argv = build_shell_of (r->config);
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
  env = build_step_env (r);
  user = husk_json_get_string (build_cfg (r->config), "User");
  cwd = husk_json_get_string (build_cfg (r->config), "WorkingDir");
  d.req.argv = argv;
  d.req.env = env;
  d.req.user = user && *user ? user : NULL;
  d.req.cwd = cwd && *cwd ? cwd : NULL;
  d.req.network = network ? network : x->o->network ? x->o->network : "none";
  d.req.mounts = mounts;
  d.display = display;
  created_by = in->json ? build_nop_created_by (in) : xasprintf ("/bin/sh -c %s", in->text);
  return fs_step (r, key, created_by, run_fn, &d, err);
}

/* ---- COPY and ADD ---- */

static int
copy_fn (struct build_stage_run *r, struct build_work *w, void *data, husk_error_t *err)
{
  return build_copy (r->x->b, w, data, err);
}

static void
wrap_copy_error (struct build_executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_free char *failed = xasprintf ("%s failed", in->keyword);

  if (err && *err && (*err)->msg && !husk_has_prefix ((*err)->msg, failed)
      && !husk_has_prefix ((*err)->msg, x->o->dockerfile_name))
    husk_error_wrap (err, "%s", failed);
  build_instr_wrap (x, in, err);
}

/* COPY/ADD's flags checked, --from, --chown and --chmod expanded (NULL
   when absent).  */
static int
copy_flags (struct build_stage_run *r, const struct husk_dockerfile_instr *in, char **from, char **chown,
            char **chmod, husk_error_t *err)
{
  static const char *const copy_allowed[] = { "from", "chown", "chmod", "link", "parents", "exclude", NULL };
  static const char *const add_allowed[]
      = { "from", "chown", "chmod", "link", "checksum", "keep-git-dir", NULL };
  bool add = strcmp (in->keyword, "ADD") == 0;
  const char *v = NULL;

  if (build_check_flags (r->x, in, add ? add_allowed : copy_allowed, err) < 0)
    return -1;
  if (build_flag_get (in, "from", &v) && (v == NULL || build_expand (r, in, v, from, err) < 0))
    return v == NULL ? build_instr_fail (r->x, in, err, "%s --from needs a value", in->keyword) : -1;
  if (build_flag_get (in, "chown", &v) && v && build_expand (r, in, v, chown, err) < 0)
    return -1;
  if (build_flag_get (in, "chmod", &v) && v && build_expand (r, in, v, chmod, err) < 0)
    return -1;
  return 0;
}

/* The heredocs with their bodies as copied ($ expanded unless the
   delimiter was quoted), or NULL when there are none.  */
static struct husk_dockerfile_heredoc *
copy_heredocs (struct build_stage_run *r, const struct husk_dockerfile_instr *in)
{
  struct husk_dockerfile_heredoc *docs;

  if (in->n_heredocs == 0)
    return NULL;
  docs = xzalloc (in->n_heredocs * sizeof (*docs));
  for (size_t i = 0; i < in->n_heredocs; i++)
    {
      docs[i] = in->heredocs[i];
      docs[i].body = in->heredocs[i].expand ? expand_heredoc (r, in->heredocs[i].body)
                                            : xstrdup (in->heredocs[i].body);
    }
  return docs;
}

static void
copy_heredocs_free (struct husk_dockerfile_heredoc *docs, size_t n)
{
  for (size_t i = 0; docs && i < n; i++)
    free (docs[i].body);
  free (docs);
}

/* COPY/ADD from the context (keyed by a digest of what is copied) or
   from a stage or an image (keyed by its identity).  */
static int
copy_from (struct build_stage_run *r, const struct husk_dockerfile_instr *in, struct build_copy_req *req,
           const char *from, const char *prev_key, char **key, husk_error_t *err)
{
  struct build_executor *x = r->x;
  cleanup_strv char **from_ids = NULL;
  cleanup_free char *identity = NULL;
  cleanup_free char *digest = NULL;
  cleanup_free char *created_by = NULL;
  cleanup_close int src_fd = -1;
  int ret;

  if (from)
    {
      cleanup_free char *what = xasprintf ("%s --from", in->keyword);
      if (build_from_layers (x, from, r->idx, in, what, &from_ids, &identity, err) < 0)
        return -1;
    }
  else if (build_copy_digest (x->b, req, &digest, err) < 0)
    {
      wrap_copy_error (x, in, err);
      return -1;
    }
  *key = build_cache_key (prev_key, in, r->args, x->key_platform, digest ? digest : identity);
  ret = cache_lookup (r, *key, err);
  if (ret != 0)
    return ret < 0 ? ret : 0;
  if (from)
    {
      src_fd = build_layers_mount (x->b, from_ids, err);
      if (src_fd < 0)
        return -1;
      req->src_rootfd = src_fd;
    }
  /* The lookup above missed: fs_step's own lookup is a no-op now.  */
  created_by = xasprintf ("/bin/sh -c #(nop) %s %s", in->keyword, in->text);
  ret = fs_step (r, *key, created_by, copy_fn, req, err);
  if (ret < 0 && !(err && *err && (*err)->msg && strstr ((*err)->msg, "building at STEP")))
    wrap_copy_error (x, in, err);
  return ret < 0 ? ret : 0;
}

static int
step_copy (struct build_stage_run *r, const struct husk_dockerfile_instr *in, const char *prev_key,
           char **key, husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  cleanup_free char *from = NULL;
  cleanup_free char *chown = NULL;
  cleanup_free char *chmod = NULL;
  cleanup_free char *dest = NULL;
  struct build_copy_req req = { 0 };
  const char *workdir;
  size_t n;
  int ret;

  if (copy_flags (r, in, &from, &chown, &chmod, err) < 0)
    return -1;
  if (build_expand_args (r, in, &words, err) < 0)
    return -1;
  n = strv_len (words);
  if (n < 2)
    return build_instr_fail (r->x, in, err, "%s requires at least two arguments", in->keyword);
  dest = steal_pointer (&words[n - 1]);

  workdir = husk_json_get_string (build_cfg (r->config), "WorkingDir");
  req.add = strcmp (in->keyword, "ADD") == 0;
  req.src_rootfd = r->x->b->context_fd;
  req.from_context = from == NULL;
  req.dest = dest;
  req.sources = words;
  req.workdir = workdir && *workdir ? workdir : "/";
  req.chown = chown;
  req.chmod = chmod;
  req.n_heredocs = in->n_heredocs;
  req.heredocs = copy_heredocs (r, in);
  ret = copy_from (r, in, &req, from, prev_key, key, err);
  copy_heredocs_free ((struct husk_dockerfile_heredoc *)req.heredocs, in->n_heredocs);
  return ret;
}

/* ---- WORKDIR ---- */

static int
workdir_fn (struct build_stage_run *r, struct build_work *w, void *data, husk_error_t *err)
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
dir_exists (struct build_stage_run *r, const char *path, husk_error_t *err, int *ret)
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

static int
step_workdir (struct build_stage_run *r, const struct husk_dockerfile_instr *in, const char *key,
              husk_error_t *err)
{
  struct build_executor *x = r->x;
  cleanup_free char *path = NULL;
  cleanup_free char *created_by = build_nop_created_by (in);
  cleanup_free char *id = NULL;
  bool exists;
  int ret;

  if (build_workdir_path (r, in, &path, err) < 0)
    return -1;
  ret = cache_lookup (r, key, err);
  if (ret != 0)
    return ret < 0 ? ret : 0;
  husk_json_set_string (build_cfg (r->config), "WorkingDir", path);
  exists = dir_exists (r, path, err, &ret);
  if (ret < 0)
    return ret;
  if (!exists)
    return fs_step (r, key, created_by, workdir_fn, path, err);
  build_history_add (r, created_by, true);
  /* Recorded so that a rebuild finds this step without a mount.  */
  if (x->o->layers)
    {
      ret = build_commit_image (x, r->config, NULL, NULL, true, key, NULL, 0, NULL, &id, err);
      if (ret < 0)
        return ret;
      build_out_line (x, "--> %.12s", id);
    }
  return 0;
}

/* ---- the step loop ---- */

/* One instruction of a stage (or an ONBUILD trigger).  */
int
build_exec_instr (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  struct build_executor *x = r->x;
  const char *k = in->keyword;
  cleanup_free char *key = NULL;
  cleanup_free char *created_by = NULL;
  int ret;

  x->instr = in;
  if (strcmp (k, "ARG") == 0)
    {
      if (build_check_flags (x, in, NULL, err) < 0)
        return -1;
      ret = build_step_arg (r, in, err);
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
    return build_instr_fail (x, in, err, "FROM is not allowed here");

  {
    cleanup_free char *mounts = strcmp (k, "RUN") == 0 ? mount_sources (r, in) : NULL;
    key = build_cache_key (r->st->key, in, r->args, x->key_platform, mounts);
  }
  if (strcmp (k, "RUN") == 0)
    ret = step_run (r, in, key, err);
  else if (strcmp (k, "WORKDIR") == 0)
    ret = build_check_flags (x, in, NULL, err) < 0 ? -1 : step_workdir (r, in, key, err);
  else if (strcmp (k, "HEALTHCHECK") != 0 && build_check_flags (x, in, NULL, err) < 0)
    ret = -1;
  else
    {
      ret = build_step_metadata (r, in, err);
      if (ret >= 0)
        {
          created_by = build_nop_created_by (in);
          build_history_add (r, created_by, true);
        }
    }
  if (ret < 0)
    return ret;
  free (r->st->key);
  r->st->key = steal_pointer (&key);
  return 0;
}

static void
print_step (struct build_executor *x, const struct husk_dockerfile_instr *in)
{
  x->step++;
  build_out_line (x, "STEP %u/%u: %s %s", x->step, x->n_steps, in->keyword, in->text);
}

static int
build_one_stage (struct build_executor *x, size_t idx, husk_error_t *err)
{
  struct build_stage *st = &x->stages[idx];
  struct build_stage_run r = { .x = x, .st = st, .idx = idx, .last_fs_history = -1 };
  int ret = 0;

  x->current = idx;
  print_step (x, &x->df->instrs[st->first]);
  ret = build_stage_from (&r, &x->df->instrs[st->first], err);
  if (ret < 0)
    goto out;
  ret = build_run_onbuild (&r, err);
  for (size_t i = st->first + 1; ret >= 0 && i < st->end; i++)
    {
      print_step (x, &x->df->instrs[i]);
      ret = build_exec_instr (&r, &x->df->instrs[i], err);
    }
  if (ret >= 0)
    ret = finish_work (&r, err);
  st->built = ret >= 0;
out:
  build_work_free (r.work);
  strv_free (r.args);
  return ret;
}

/* ---- husk_build ---- */

static int
make_tmpdir (struct build_executor *x, husk_error_t *err)
{
  /* A scratch directory: if this build is killed, store repair removes
     it (its owner lock is gone with the process).  */
  return husk_store_scratch_dir (x->s, "build-", &x->b->tmpdir, &x->scratch_lock, err);
}

static void
executor_free (struct build_executor *x)
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
build_all (struct build_executor *x, char **id, husk_error_t *err)
{
  if (build_split_stages (x, err) < 0 || build_find_target (x, err) < 0 || build_mark_needed (x, err) < 0)
    return -1;
  if (make_tmpdir (x, err) < 0)
    return -1;
  for (size_t i = 0; i <= x->target; i++)
    if (x->stages[i].needed && build_one_stage (x, i, err) < 0)
      return -1;
  if (build_commit_final (x, id, err) < 0)
    return -1;
  build_warn_unused_args (x);
  return 0;
}

int
husk_build (husk_store_t *s, const struct husk_build_opts *o, char **id, husk_error_t *err)
{
  struct build_ctx b = { 0 };
  struct build_executor x = { 0 };
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
  b.resolve_from = build_resolve_from;
  b.executor = &x;
  x.s = s;
  x.o = o;
  x.b = &b;
  x.scratch_lock = -1;
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
  build_set_builtin_args (&x);

  ret = build_all (&x, &result, err);

  build_remove_temp_images (&x, result);
  build_copy_cleanup (&b);
  if (b.tmpdir)
    {
      husk_error_t e = NULL;
      if (husk_rm_rf_at (AT_FDCWD, b.tmpdir, &e) < 0)
        husk_error_release (&e);
    }
  free (b.tmpdir);
  if (x.scratch_lock >= 0)
    close (x.scratch_lock);
  husk_build_ignore_free (b.ignore);
  executor_free (&x);
  if (ret < 0)
    return ret;
  *id = steal_pointer (&result);
  return 0;
}
