/* husk: the executor's own state, shared by its files (src/build).

   executor.c      husk_build, the stage and step loop, RUN, COPY/ADD
                   and WORKDIR orchestration, filesystem steps and the
                   cache lookups, the helpers below
   stages.c        build args and ARG scopes, splitting into stages,
                   which stages the target needs, FROM (stages, scratch,
                   images pulled through the caller) and ONBUILD
   instructions.c  the image config: metadata instructions, history
                   entries, the WORKDIR path
   image.c         commits, timestamps, the final image (labels, squash,
                   docker manifest, tags, the build event)

   The step files (work.c, run-step.c, copy-step.c) see only
   build-internal.h: this header is the executor's alone.  */
#ifndef HUSK_BUILD_EXECUTOR_H
#define HUSK_BUILD_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "husk/build.h"
#include "husk/json.h"
#include "husk/layer.h"
#include "husk/store.h"
#include "build-internal.h"

struct build_stage
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

struct build_executor
{
  husk_store_t *s;
  const struct husk_build_opts *o;
  struct build_ctx *b;
  struct husk_dockerfile *df;
  struct build_stage *stages;
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
  int scratch_lock;   /* owner lock of b->tmpdir (husk_store_scratch_dir) */
};

/* One stage being built.  */
struct build_stage_run
{
  struct build_executor *x;
  struct build_stage *st;
  size_t idx;
  husk_json_t *config;     /* st->config */
  char **args;             /* "name=value": ARGs in scope with a value */
  bool cmd_set;            /* a CMD in this stage: ENTRYPOINT keeps it */
  struct build_work *work; /* no --layers: the stage's changes so far */
  long last_fs_history;    /* no --layers: history entry of the last step that changed files */
};

/* ---- executor.c: helpers ---- */

/* A progress line on o->out (nothing when quiet).  */
void build_out_line (struct build_executor *x, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* "name=value" vectors: the last one of a name wins.  */
const char *build_kv_get (char *const *v, const char *name);
void build_kv_set (char ***v, const char *name, const char *value);
void build_kv_unset (char **v, const char *name);
char *build_lower_dup (const char *s);
/* "--name=value" in flags: 1 and *value (NULL for a bare "--name").  */
int build_flag_get (const struct husk_dockerfile_instr *in, const char *name, const char **value);
/* Errors "NAME:LINE: message" for the instruction in.  */
int build_instr_fail (struct build_executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err,
                      const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));
int build_instr_wrap (struct build_executor *x, const struct husk_dockerfile_instr *in, husk_error_t *err);
/* Fails on a flag not in allowed (NULL: none allowed).  */
int build_check_flags (struct build_executor *x, const struct husk_dockerfile_instr *in,
                       const char *const *allowed, husk_error_t *err);

/* Inside a stage: the config's Env, then the ARGs in scope.  */
const char *build_run_lookup (void *ctx, const char *name);
int build_expand (struct build_stage_run *r, const struct husk_dockerfile_instr *in, const char *word,
                  char **out, husk_error_t *err);
/* in->args expanded (JSON forms and "<<EOF" words as written).  */
int build_expand_args (struct build_stage_run *r, const struct husk_dockerfile_instr *in, char ***out,
                       husk_error_t *err);
/* One instruction of a stage (or an ONBUILD trigger).  */
int build_exec_instr (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err);

/* ---- stages.c ---- */

int build_split_stages (struct build_executor *x, husk_error_t *err);
int build_find_target (struct build_executor *x, husk_error_t *err);
/* Marks the target and the stages it names (FROM, COPY --from, RUN
   --mount from=), and counts the steps.  */
int build_mark_needed (struct build_executor *x, husk_error_t *err);
/* The stage value names among those before cur: *idx, or -1 for an
   image; an error for a stage defined at or after cur.  */
int build_stage_ref (struct build_executor *x, const char *value, size_t cur,
                     const struct husk_dockerfile_instr *in, const char *what, long *idx, husk_error_t *err);
/* "from=x" in a RUN --mount value, or NULL.  */
char *build_mount_from (const char *mount);
/* The value of the last of keys ("source", "src") in a RUN --mount
   value, as run-step.c reads it, or NULL.  */
char *build_mount_opt (const char *mount, const char *const *keys);
/* The layers of a stage built before cur, or of an image; *identity (may
   be NULL): "stage:KEY" or "image:ID" for cache keys.  */
int build_from_layers (struct build_executor *x, const char *value, size_t cur,
                       const struct husk_dockerfile_instr *in, const char *what, char ***diff_ids,
                       char **identity, husk_error_t *err);
/* build_ctx.resolve_from.  */
int build_resolve_from (struct build_ctx *b, const char *name, char ***diff_ids, husk_error_t *err);
int build_stage_from (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err);
int build_run_onbuild (struct build_stage_run *r, husk_error_t *err);
int build_step_arg (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err);
/* A RUN's environment: Env, the ARGs in scope, the proxy build args, a
   default PATH.  */
char **build_step_env (struct build_stage_run *r);
void build_set_builtin_args (struct build_executor *x);
void build_warn_unused_args (struct build_executor *x);

/* ---- instructions.c ---- */

/* The config's "config" object, and a member of it of type (created).  */
husk_json_t *build_cfg (husk_json_t *config);
husk_json_t *build_cfg_member (husk_json_t *config, const char *key, enum husk_json_type type);
const char *build_env_get (husk_json_t *config, const char *name);
char **build_config_diff_ids (husk_json_t *config);
void build_config_add_layer (husk_json_t *config, const char *diff_id);
/* Append a history entry; returns its index.  */
long build_history_add (struct build_stage_run *r, const char *created_by, bool empty_layer);
char *build_nop_created_by (const struct husk_dockerfile_instr *in);
/* The config's Shell, or /bin/sh -c.  */
char **build_shell_of (husk_json_t *config);
/* WORKDIR's argument expanded, made absolute against the current
   WorkingDir and cleaned.  */
int build_workdir_path (struct build_stage_run *r, const struct husk_dockerfile_instr *in, char **path,
                        husk_error_t *err);
/* ENV LABEL EXPOSE VOLUME HEALTHCHECK CMD ENTRYPOINT SHELL MAINTAINER
   ONBUILD USER STOPSIGNAL: the config only.  */
int build_step_metadata (struct build_stage_run *r, const struct husk_dockerfile_instr *in,
                         husk_error_t *err);

/* ---- image.c ---- */

/* "created" times: --timestamp's, else now.  */
char *build_now_string (struct build_executor *x);
/* Commit config (and stages' layers) under the store lock.  existed (may
   be NULL): the image was there already.  */
int build_commit_image (struct build_executor *x, husk_json_t *config, const char *manifest,
                        char *const *names, bool intermediate, const char *key, husk_layer_stage_t **stages,
                        size_t n_stages, bool *existed, char **id, husk_error_t *err);
/* The target stage as the build's image: labels, squash, format,
   timestamps, tags, the event.  */
int build_commit_final (struct build_executor *x, char **id, husk_error_t *err);
/* Remove the images that only kept a stage's layer, but keep.  */
void build_remove_temp_images (struct build_executor *x, const char *keep);

#endif
