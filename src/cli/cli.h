/* husk: the command table and option parsing shared by every command.
   One table drives dispatch, --help, man page checks and completions.  */
#ifndef HUSK_CLI_H
#define HUSK_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "husk/error.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/output.h"
#include "husk/store.h"

enum cli_opt_type
{
  CLI_OPT_BOOL,   /* --flag, --flag=false */
  CLI_OPT_STRING, /* last one wins */
  CLI_OPT_STRV,   /* repeatable */
  CLI_OPT_OPTVAL, /* --flag (value "true") or --flag=VALUE, never a separate word (build --pull) */
};

struct cli_opt
{
  const char *name; /* long name without "--" */
  char short_name;  /* 0 if none */
  enum cli_opt_type type;
  const char *arg; /* value name shown in help, e.g. "FORMAT" */
  const char *help;
  const char *def;      /* default shown in help and man page, or NULL */
  const char *complete; /* completion values: "images", "files", a list "a b c" */
};

struct cli_args;
struct cli_ctx;

struct cli_cmd
{
  const char *name;
  const char *aliases; /* space separated, or NULL */
  const char *summary;
  const char *usage; /* after "husk <name> ": "[OPTIONS] IMAGE [IMAGE...]" */
  const struct cli_opt *opts;
  int (*run) (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err);
  const struct cli_cmd *subs; /* a group when non-NULL, terminated by name NULL */
  int min_args;
  int max_args;              /* -1: no limit */
  const char *args_complete; /* "images" ... */
  bool hidden;
  /* Flags end at the first positional argument (run, create, exec: what
     follows the image is the container's command line).  */
  bool stop_at_positional;
};

struct cli_opt_value
{
  bool set;
  bool b;
  char *s;
  char **v;
};

struct cli_args
{
  const struct cli_cmd *cmd;
  const char *path; /* "image ls" */
  struct cli_opt_value *vals;
  char **argv; /* positional arguments (not owned) */
  int argc;
  bool help; /* --help (or -h where the command has no -h flag) was given */
};

struct cli_ctx
{
  struct husk_store_opts store_opts;
  husk_store_t *store;
};

/* Top-level table (main.c) and groups.  */
extern const struct cli_cmd cli_commands[];

/* Parse argv (after the command name) for cmd.  */
int cli_parse_args (const struct cli_cmd *cmd, const char *path, int argc, char **argv, struct cli_args *a,
                    husk_error_t *err);
void cli_args_clear (struct cli_args *a);

bool cli_bool (const struct cli_args *a, const char *name);
bool cli_is_set (const struct cli_args *a, const char *name);
const char *cli_string (const struct cli_args *a, const char *name);
char *const *cli_strv (const struct cli_args *a, const char *name);

void cli_print_help (const struct cli_cmd *cmd, const char *path, FILE *out);
const struct cli_cmd *cli_find_sub (const struct cli_cmd *table, const char *name);

/* Open (once) and return the store.  */
int cli_store (struct cli_ctx *ctx, husk_store_t **out, husk_error_t *err);

/* The same for commands that write layers or may remove them (every
   exclusive lock can repair): enters the rootless user namespace first.  */
int cli_store_writer (struct cli_ctx *ctx, husk_store_t **out, husk_error_t *err);

/* cli_store or cli_store_writer, then husk_store_lock.  */
int cli_store_lock (struct cli_ctx *ctx, bool exclusive, husk_store_t **out, husk_error_t *err);
int cli_store_lock_writer (struct cli_ctx *ctx, bool exclusive, husk_store_t **out, husk_error_t *err);

/* Resolve a user's image argument (id, id prefix, name, short name) to a
   record.  Needs at least the shared lock.  */
int cli_image_lookup (husk_store_t *s, const char *arg, struct husk_image_record **out, husk_error_t *err);
/* Parse and normalize a name given for a new local image (tag, import).  */
int cli_local_name (const char *arg, char **out, husk_error_t *err);

/* "repo@digest" for every name of the image, as Podman's RepoDigests.  */
husk_json_t *cli_repo_digests (const struct husk_image_record *r);
/* Go's time.RFC3339 in UTC: "2024-01-01T00:00:00Z".  */
char *cli_format_time (int64_t ns);

/* --since/--until values as Docker reads them: RFC 3339 (with a zone),
   a local date/time without one, Unix seconds with a fraction, or a Go
   duration ("10m", "1h30m") counted back from now.  flag names the flag
   in the error.  */
int cli_parse_time_flag (const char *flag, const char *v, int64_t now, int64_t *out, husk_error_t *err);

/* A Go duration ("300ms", "1m30s", "1.5h"; no sign) in ns; false when
   it is not one.  */
bool cli_parse_duration (const char *s, int64_t *ns);

/* Read a y/N answer from stdin.  */
bool cli_confirm (const char *question);

/* The format flags shared by listings.  */
void cli_output_opts (const struct cli_args *a, struct husk_output_opts *o);

/* Commands.  */
int cmd_version (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_info (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_help (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_completion (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_complete_values (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_images (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_build (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_import (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_tag (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_untag (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_rmi (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_image_exists (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_inspect (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_image_inspect (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_history (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_save (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_load (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_image_prune (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_pull (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_push (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_login (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_logout (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_search (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_system_df (struct cli_ctx *, struct cli_args *, husk_error_t *);
int cmd_events (struct cli_ctx *, struct cli_args *, husk_error_t *);

/* Option lists shared between commands defined in different files.  */
extern const struct cli_opt cli_opts_images[];
extern const struct cli_opt cli_opts_inspect[];

/* Image JSON for inspect (Podman's keys); used by inspect and image inspect.  */
int cli_image_inspect_json (husk_store_t *s, const struct husk_image_record *r, husk_json_t **out,
                            husk_error_t *err);

#endif
