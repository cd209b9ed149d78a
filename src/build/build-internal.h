/* husk: what the executor's files share (src/build).

   executor.c   stages, the step loop, metadata instructions, cache keys,
                commits, tags, progress output  (calls everything below)
                (executor.c, stages.c, instructions.c, image.c: see
                executor.h, their own header)
   work.c       writable and read-only views of image layers, upper dir
                -> layer stage
   run-step.c   RUN: a container over a build_work
   copy-step.c  COPY and ADD into a build_work

   The executor owns the image config of each stage; the step files never
   touch it: they change files only.  */
#ifndef HUSK_BUILD_INTERNAL_H
#define HUSK_BUILD_INTERNAL_H

#include "husk/build.h"
#include "husk/json.h"
#include "husk/layer.h"
#include "husk/store.h"

struct build_ctx
{
  husk_store_t *s;
  const struct husk_build_opts *o;
  int context_fd;
  husk_build_ignore_t *ignore;
  char *tmpdir;     /* this build's directory under husk_store_tmpdir (removed at the end) */
  unsigned seq;     /* unique names inside tmpdir */
  char **downloads; /* ADD URL -> temp file cache: url, path, url, path... (copy-step.c owns it) */
  /* RUN --mount from=NAME: the layers (diffIDs, bottom first, malloc'd
     NULL-terminated) of the stage named or numbered NAME, built before
     this one, or of the image NAME (pulled as the build's policy says).
     Set by the executor.  */
  int (*resolve_from) (struct build_ctx *b, const char *name, char ***diff_ids, husk_error_t *err);
  void *executor; /* the executor's own state */
};

/* ---- work.c ---- */

/* A root filesystem being changed by one step: the image's layers
   (diffIDs, bottom first; every one stored) as overlay lowers and a
   fresh upper dir in ctx->tmpdir.  No layers (FROM scratch): the upper
   dir alone.  */
struct build_work
{
  char *dir;         /* <tmpdir>/work-N: upper/ and work/ */
  char **lower_dirs; /* store layer diff dirs, bottom first (the runtime's order), NULL-terminated */
  char *upper;
  char *workdir;
  /* Where RUN --mount mounted (absolute in the root): with the runtime's
     own targets, what they created stays out of the layer.  */
  char **mount_targets;
};

int build_work_new (struct build_ctx *b, char *const *diff_ids, struct build_work **out, husk_error_t *err);
/* The merged root, mounted for this process only (a detached overlay
   from the new mount API, or in the process's private mount namespace
   where the kernel has no fsmount): an O_DIRECTORY fd, owned by the
   caller.  Close it before build_run on the same work.  */
int build_work_mount (struct build_work *w, husk_error_t *err);
/* A read-only merged root of layers (COPY --from a stage or an image,
   WORKDIR's existence check): an O_DIRECTORY fd.  No layers: an empty
   directory.  */
int build_layers_mount (struct build_ctx *b, char *const *diff_ids, husk_error_t *err);
/* The upper dir as a layer: whiteouts kept, written into a new filled
   stage (as commit does: husk_layer_diff then husk_image_layer_apply);
   every mtime set to o->timestamp with have_timestamp.  *empty: the
   upper dir had no entries (then *stage is NULL: the step made no
   layer).  */
int build_work_layer (struct build_ctx *b, struct build_work *w, husk_layer_stage_t **stage, char **diff_id,
                      bool *empty, husk_error_t *err);
/* The uncompressed layer tar in tmp (read from its start) as a new
   filled stage of store s (ids as the store keeps them): *stage and its
   *diff_id.  A failed apply's error is wrapped in what.  */
int build_tar_layer (husk_store_t *s, int tmp, const char *what, husk_layer_stage_t **stage, char **diff_id,
                     husk_error_t *err);
/* Unmounted or not, remove dir.  NULL is fine.  */
void build_work_free (struct build_work *w);
void cleanup_build_workp (struct build_work **w);
#define cleanup_build_work __attribute__ ((cleanup (cleanup_build_workp)))

/* ---- run-step.c ---- */

struct build_run_req
{
  char *const *argv;      /* the full command line (the executor applied SHELL) */
  char *const *env;       /* the image's Env plus the build args in scope */
  const char *user;       /* config User, or NULL: root */
  const char *cwd;        /* config WorkingDir, or NULL: "/" (created when missing) */
  const char *network;    /* RUN --network, else opts->network, else "none" */
  char *const *mounts;    /* RUN --mount values (expanded); see run-step.c for the types */
  const char *stdin_data; /* a heredoc fed to the command's stdin, or NULL (/dev/null) */
};

/* Run the command as a container over w (default capabilities and
   seccomp, no cgroup, hostname "buildkitsandbox"-like id, /etc/hosts and
   resolv.conf from the host as podman build does), output to
   o->run_stdout / o->run_stderr.  Returns 0 when it ran (*status: its
   exit status, 0-255), negative when it could not start (126/127 in the
   error's exit code).  The process is gone on return, nothing mounted.  */
int build_run (struct build_ctx *b, struct build_work *w, const struct build_run_req *r, int *status,
               husk_error_t *err);

/* ---- copy-step.c ---- */

struct build_copy_req
{
  bool add;             /* ADD: local tar archives are extracted, http(s) URLs downloaded */
  int src_rootfd;       /* the context root, or a mounted stage or image root */
  bool from_context;    /* sources from the context: .dockerignore applies, owners become 0:0 */
  char *const *sources; /* expanded, as written (globs, URLs for ADD, "<<EOF" for heredocs) */
  const struct husk_dockerfile_heredoc *heredocs; /* bodies for "<<NAME" sources (already expanded) */
  size_t n_heredocs;
  const char *dest;    /* expanded; relative to workdir unless absolute */
  const char *workdir; /* the image's WorkingDir or "/" */
  const char *chown;   /* --chown as written ("u", "u:g", numeric or names: resolved
                          in the destination's /etc/passwd and /etc/group), or NULL */
  const char *chmod;   /* --chmod octal, or NULL */
};

/* The digest of everything r would copy (sources' content, heredoc
   bodies, downloaded URLs): the cache key part of COPY/ADD.  Fails as
   build_copy would for a missing source.  */
int build_copy_digest (struct build_ctx *b, const struct build_copy_req *r, char **digest, husk_error_t *err);
/* Copy into w (mounted here with build_work_mount).  More than one
   source needs dest to be a directory (ending in "/"), as Docker says:
   "When using COPY with more than one source file, the destination must
   be a directory and end with a /".  */
int build_copy (struct build_ctx *b, struct build_work *w, const struct build_copy_req *r, husk_error_t *err);
/* Remove ADD's downloads.  */
void build_copy_cleanup (struct build_ctx *b);

#endif
