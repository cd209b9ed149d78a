/* husk: Dockerfile builds (src/build).

   Four parts, one file each:
     dockerfile.c  the parser: directives, continuations, JSON and shell
                   forms, heredocs, flags; errors "NAME:LINE: message";
     expand.c      Docker's word processing: quotes, escapes, $VAR,
                   ${VAR}, ${VAR:-x}, ${VAR:+x}, ${VAR-x}, ${VAR+x};
     ignore.c      .dockerignore / .containerignore patterns;
     context.c     COPY/ADD sources: globbing inside a root, the content
                   digest for the cache, Docker's copy semantics;
   and the executor (executor.c, stages.c, instructions.c, image.c,
   cache.c; work.c, run-step.c, copy-step.c for the file steps) behind
   husk_build ().

   Dependencies: build -> {runtime (RUN steps), image, layer, store,
   util}; pulling an image that is not stored is the caller's business
   (husk_build_opts.pull), so build never talks to registries itself.  */
#ifndef HUSK_BUILD_H
#define HUSK_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "husk/error.h"
#include "husk/store.h"

/* ---- the parser (dockerfile.c) ---- */

struct husk_dockerfile_heredoc
{
  char *name;      /* the delimiter word, quotes removed ("EOF") */
  char *body;      /* the lines between, each ending in "\n"; with <<- leading tabs removed */
  bool expand;     /* false when the delimiter was quoted (<<"EOF", <<'EOF'): no $ expansion */
  bool strip_tabs; /* <<-EOF */
};

struct husk_dockerfile_instr
{
  char *keyword; /* upper case: "FROM", "RUN", ... */
  /* What followed the keyword, continuations joined with the escape and
     newline removed, leading and trailing blanks trimmed, flags included:
     history's created_by is "KEYWORD text" (podman's "/bin/sh -c #(nop)"
     forms are the executor's business).  */
  char *text;
  unsigned line; /* 1-based line of the keyword */
  char **flags;  /* "--name=value" or "--name" words before the arguments, NULL-terminated, never NULL */
  bool json;     /* the arguments were a JSON array of strings (exec form) */
  /* NULL-terminated, never NULL.  Words keep their quotes and $ (the
     executor expands them with husk_build_expand) unless json is true:
       RUN CMD ENTRYPOINT: json: the array; else one element, the shell
         command as written (never expanded: the shell does it);
       SHELL: the array (only the JSON form is valid);
       ENV LABEL: key, value, key, value... ("ENV k v w" old form: "k",
         "v w"; "ENV k=v"; values raw);
       ARG: one word per argument, "name" or "name=default" (raw);
       WORKDIR USER MAINTAINER STOPSIGNAL: one element, the whole text;
       HEALTHCHECK: "NONE", or "CMD" then as RUN (json for the part
         after CMD); its flags (--interval...) in flags;
       ONBUILD: one element, the trigger ("RUN echo hi"), which was
         checked to parse (not ONBUILD, FROM or MAINTAINER);
       FROM COPY ADD EXPOSE VOLUME and the rest: whitespace-separated
         words (COPY/ADD/VOLUME may be json).  */
  char **args;
  /* Heredocs opened on the instruction's line (RUN, COPY, ADD), in
     order; the "<<EOF" words stay in text and args.  */
  struct husk_dockerfile_heredoc *heredocs;
  size_t n_heredocs;
};

struct husk_dockerfile
{
  char *name;   /* as given: used in every error message */
  char escape;  /* '\\' or '`' (# escape= directive) */
  char *syntax; /* # syntax= directive, or NULL (recorded, not acted on) */
  struct husk_dockerfile_instr *instrs;
  size_t n_instrs;
};

/* Parse a whole Dockerfile.  Linear in len (a file of 10 MB of
   continuation lines parses in one pass).  Errors are
   "NAME:LINE: message": unknown instruction, a JSON array that is not
   one of strings where JSON is required, an unterminated heredoc, an
   instruction missing its arguments, an empty file ("NAME: file with no
   instructions").  FROM first is the executor's check.  */
int husk_dockerfile_parse (const char *name, const char *data, size_t len, struct husk_dockerfile **out,
                           husk_error_t *err);
void husk_dockerfile_free (struct husk_dockerfile *df);
void cleanup_dockerfilep (struct husk_dockerfile **df);
#define cleanup_dockerfile __attribute__ ((cleanup (cleanup_dockerfilep)))

/* ---- expansion (expand.c) ---- */

/* Value of a variable, or NULL when it is not set.  */
typedef const char *(*husk_build_lookup_fn) (void *ctx, const char *name);

/* Docker's processing of one word: '...' is literal, "..." expands $
   inside, the escape character escapes the next character (outside
   single quotes), quotes are removed; $NAME, ${NAME}, ${NAME:-word},
   ${NAME-word}, ${NAME:+word}, ${NAME+word} (word itself expanded), an
   unset variable is ""; "$" before anything else stays "$".  A bad ${...}
   fails: "bad substitution ${...}" or "missing '}'".  */
int husk_build_expand (const char *word, char escape, husk_build_lookup_fn lookup, void *ctx, char **out,
                       husk_error_t *err);

/* ---- .dockerignore (ignore.c) ---- */

typedef struct husk_build_ignore husk_build_ignore_t;

/* Docker's rules: one pattern per line, '#' lines are comments, blanks
   trimmed, each pattern cleaned like Go's filepath.Clean with a leading
   "/" dropped; '!' makes an exception; the last matching pattern wins;
   filepath.Match syntax (* ? [a-z] [^a] \x) per component, "**" matches
   any number of components; a pattern matching a directory excludes
   everything under it.  A bad pattern ("[a-") fails with its line.  */
int husk_build_ignore_parse (const char *data, size_t len, husk_build_ignore_t **out, husk_error_t *err);
/* The matcher for a context: the file next to the Dockerfile
   ("<dockerfile>.dockerignore" when the Dockerfile is inside the
   context), else .containerignore, else .dockerignore in the context's
   root; none: a matcher that excludes nothing.  dockerfile_rel: the
   Dockerfile's path relative to the context, or NULL.  */
int husk_build_ignore_load (int context_fd, const char *dockerfile_rel, husk_build_ignore_t **out,
                            husk_error_t *err);
/* path: relative to the context, '/'-separated, cleaned, no leading "/"
   or "./".  True when excluded.  */
bool husk_build_ignore_match (const husk_build_ignore_t *ig, const char *path);
/* True when some exception ('!') pattern could match a path below the
   excluded directory dir: the walk must go on inside it.  */
bool husk_build_ignore_may_reinclude (const husk_build_ignore_t *ig, const char *dir);
void husk_build_ignore_free (husk_build_ignore_t *ig);
void cleanup_build_ignorep (husk_build_ignore_t **ig);
#define cleanup_build_ignore __attribute__ ((cleanup (cleanup_build_ignorep)))

/* ---- sources and copies (context.c) ---- */

/* Every path under rootfd is resolved inside it (husk_open_in_root, then
   openat O_NOFOLLOW below): "../" and absolute symlinks stay in the root,
   as Docker treats the build context and another stage's filesystem.  */

/* The sources one COPY/ADD argument names: pattern relative to the root
   (a leading "/" and "./" ignored, cleaned), with filepath.Match globs in
   any component.  *out: matching paths relative to the root, sorted,
   NULL-terminated (a pattern without globs: itself, when it exists).
   ig (may be NULL) hides excluded paths.  No match: an error "COPY
   failed: no source files were specified" for a glob, "file not found in
   build context or excluded by .dockerignore: stat PATTERN: file does not
   exist" otherwise.  */
int husk_build_sources_match (int rootfd, const char *pattern, const husk_build_ignore_t *ig, char ***out,
                              husk_error_t *err);

/* sha256 digest ("sha256:...") over what copying paths would copy: for
   each file, directory and symlink under each path (ig applied, the top
   path itself followed when it is a symlink), its relative name, type,
   mode, size, link target and content; not owners or times.  Identical
   trees give identical digests on any machine.  */
int husk_build_sources_digest (int rootfd, char *const *paths, const husk_build_ignore_t *ig, char **digest,
                               husk_error_t *err);

struct husk_build_copy_opts
{
  const husk_build_ignore_t *ig; /* NULL: copy everything */
  bool chown;                    /* set uid/gid on everything copied (and on created parents? no: Docker) */
  uid_t uid;
  gid_t gid;
  bool chmod; /* --chmod: mode on every file and directory copied */
  mode_t mode;
  /* Each copied entry's mtime, when >= 0 (--timestamp); else the
     source's.  */
  int64_t mtime;
  /* Called after each regular file is copied, with its size (NULL:
     nobody asks): the progress of a big COPY.  */
  void (*progress) (void *ctx, uint64_t bytes);
  void *progress_ctx;
};

/* Copy src (relative to src_rootfd; a symlink at the top is followed
   inside the root) to dest (absolute inside dst_rootfd) as Docker does:
     a directory: its contents go into dest (created);
     a file: to dest itself, or into dest when dest ends with "/" or is
       an existing directory (after resolving it inside the root);
   missing parents of dest are created 0755 root:root; symlinks below the
   top are copied as symlinks; modes, times and, without chown, owners
   are kept (owners 0:0 from the build context, as Docker: the context's
   owners are the user's, not the image's).  from_context: owners become
   0:0 unless chown.  */
int husk_build_copy (int src_rootfd, const char *src, bool from_context, int dst_rootfd, const char *dest,
                     const struct husk_build_copy_opts *o, husk_error_t *err);

/* ---- the executor (executor.c and friends) ---- */

enum husk_build_format
{
  HUSK_BUILD_FORMAT_OCI = 0,
  HUSK_BUILD_FORMAT_DOCKER,
};

/* Make sure ref (as typed in FROM or COPY --from) is in the store,
   pulling it as policy says ("missing", "always", "never"); *id: the
   image id (malloc'd).  Supplied by the CLI, which owns the registries.  */
typedef int (*husk_build_pull_fn) (void *ctx, husk_store_t *s, const char *ref, const char *policy,
                                   const char *platform, char **id, husk_error_t *err);

struct husk_build_opts
{
  const char *dockerfile_name; /* for messages: "Dockerfile", "-" ... */
  const char *dockerfile;      /* its content */
  size_t dockerfile_len;
  int context_fd;             /* the context's root directory */
  const char *dockerfile_rel; /* the Dockerfile relative to the context (for its ignore file), or NULL */

  char *const *tags;       /* full names, normalized by the caller; NULL/empty: no name */
  char *const *build_args; /* "KEY=VALUE" (the caller resolved "KEY" from its environment) */
  char *const *labels;     /* "key=value", added to the final image */
  const char *target;      /* --target stage name, or NULL: the last stage */
  const char *pull_policy; /* "missing" (NULL), "always", "never" */
  const char *platform;    /* --platform, or NULL: the host's */
  const char *network;     /* RUN steps: "none", "host", or NULL: husk's default */
  enum husk_build_format format;
  bool no_cache;       /* --no-cache: never reuse a step */
  bool layers;         /* --layers (callers default it to true): keep each step for the cache */
  bool squash;         /* --squash: the final image is one layer over nothing */
  bool force_rm;       /* --force-rm: remove RUN containers even after a failure (always done) */
  bool have_timestamp; /* --timestamp or SOURCE_DATE_EPOCH */
  int64_t timestamp;   /* seconds since the epoch */

  /* Progress ("STEP 1/5: FROM x", "--> Using cache <id>", "COMMIT name",
     "--> <id>"); NULL: quiet.  RUN steps write to run_stdout/run_stderr
     (the caller's fds; -1: /dev/null).  */
  FILE *out;
  int run_stdout;
  int run_stderr;

  husk_build_pull_fn pull;
  void *pull_ctx;
};

/* Build: parse, resolve stages, run each needed stage's steps (reusing
   cached ones), commit the target stage as an image with the tags and
   return its id (malloc'd, 64 hex).  Takes the store lock itself, only
   around lookups and commits (RUN steps run unlocked).  Rootless: the
   caller has entered husk's user namespace.  On failure nothing but
   committed cache entries remains: no containers, no mounts, no temp
   directories.  */
int husk_build (husk_store_t *s, const struct husk_build_opts *o, char **id, husk_error_t *err);

#endif
