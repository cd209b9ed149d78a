/* husk: shell completion scripts generated from the command table, and
   the hidden "__complete KIND" helper the scripts call for dynamic values
   (image and container names and ids, capability names).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "husk/security.h"
#include "husk/util.h"

extern const struct cli_cmd cli_root;

static int print_table (void);

typedef void (*visit_fn) (const struct cli_cmd *cmd, const char *path, void *ctx);

static void
walk (const struct cli_cmd *group, const char *path, visit_fn fn, void *ctx)
{
  size_t i;
  for (i = 0; group->subs[i].name; i++)
    {
      const struct cli_cmd *c = &group->subs[i];
      cleanup_free char *p = *path ? xasprintf ("%s %s", path, c->name) : xstrdup (c->name);
      if (c->hidden)
        continue;
      fn (c, p, ctx);
      if (c->aliases)
        {
          cleanup_free char *al = xstrdup (c->aliases);
          char *save = NULL, *tok;
          for (tok = strtok_r (al, " ", &save); tok; tok = strtok_r (NULL, " ", &save))
            {
              cleanup_free char *ap = *path ? xasprintf ("%s %s", path, tok) : xstrdup (tok);
              fn (c, ap, ctx);
            }
        }
      if (c->subs)
        walk (c, p, fn, ctx);
    }
}

static void
sub_names (const struct cli_cmd *cmd, struct husk_buf *b)
{
  size_t i;
  for (i = 0; cmd->subs && cmd->subs[i].name; i++)
    if (!cmd->subs[i].hidden)
      {
        husk_buf_printf (b, "%s%s", b->len ? " " : "", cmd->subs[i].name);
        if (cmd->subs[i].aliases)
          husk_buf_printf (b, " %s", cmd->subs[i].aliases);
      }
}

static void
bash_cmd (const struct cli_cmd *c, const char *path, void *ctx)
{
  struct husk_buf subs = { 0 }, flags = { 0 }, valflags = { 0 };
  size_t i;

  (void)ctx;
  sub_names (c, &subs);
  for (i = 0; c->opts && c->opts[i].name; i++)
    {
      const struct cli_opt *o = &c->opts[i];
      husk_buf_printf (&flags, "%s--%s", flags.len ? " " : "", o->name);
      if (o->short_name)
        husk_buf_printf (&flags, " -%c", o->short_name);
      if (o->type != CLI_OPT_BOOL && o->type != CLI_OPT_OPTVAL)
        {
          husk_buf_printf (&valflags, "%s--%s", valflags.len ? " " : "", o->name);
          if (o->short_name)
            husk_buf_printf (&valflags, " -%c", o->short_name);
          if (o->complete)
            {
              printf ("_husk_vals[\"husk %s --%s\"]=\"%s\"\n", path, o->name, o->complete);
              if (o->short_name)
                printf ("_husk_vals[\"husk %s -%c\"]=\"%s\"\n", path, o->short_name, o->complete);
            }
        }
    }
  printf ("_husk_subs[\"husk %s\"]=\"%s\"\n", path, subs.data ? subs.data : "");
  printf ("_husk_flags[\"husk %s\"]=\"%s --help\"\n", path, flags.data ? flags.data : "");
  printf ("_husk_valflags[\"husk %s\"]=\"%s\"\n", path, valflags.data ? valflags.data : "");
  if (c->args_complete)
    printf ("_husk_args[\"husk %s\"]=\"%s\"\n", path, c->args_complete);
  husk_buf_free (&subs);
  husk_buf_free (&flags);
  husk_buf_free (&valflags);
}

static const char bash_body[]
    = "_husk_values() {\n"
      "  case \"$1\" in\n"
      "    files) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
      "    dirs) COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
      "    format) COMPREPLY=($(compgen -W 'json table' -- \"$cur\")) ;;\n"
      "    images|containers|commands) COMPREPLY=($(compgen -W \"$(husk __complete \"$1\" 2>/dev/null)\" -- "
      "\"$cur\")) ;;\n"
      /* --cap-add takes names with or without CAP_: offer the short ones,
         and the long ones once the user typed the prefix.  */
      "    capabilities) local caps; caps=$(husk __complete capabilities 2>/dev/null)\n"
      "      [[ \"$cur\" == CAP_* ]] && caps=$(printf 'CAP_%s ' $caps)\n"
      "      COMPREPLY=($(compgen -W \"$caps\" -- \"$cur\")) ;;\n"
      "    *) COMPREPLY=($(compgen -W \"$1\" -- \"$cur\")) ;;\n"
      "  esac\n"
      "}\n"
      "_husk() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
      "  local path=husk i w cand\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=\"${COMP_WORDS[i]}\"\n"
      "    case \"$w\" in\n"
      "      -*) [[ \" ${_husk_valflags[$path]} \" == *\" $w \"* ]] && ((i++)) ;;\n"
      "      *) cand=\"$path $w\"; [[ -n \"${_husk_flags[$cand]+x}\" ]] && path=\"$cand\" ;;\n"
      "    esac\n"
      "  done\n"
      "  if [[ -n \"${_husk_vals[$path $prev]+x}\" ]]; then _husk_values \"${_husk_vals[$path $prev]}\"; "
      "return; fi\n"
      "  if [[ \" ${_husk_valflags[$path]} \" == *\" $prev \"* ]]; then COMPREPLY=(); return; fi\n"
      "  if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"${_husk_flags[$path]}\" -- \"$cur\")); "
      "return; fi\n"
      "  if [[ -n \"${_husk_subs[$path]}\" ]]; then COMPREPLY=($(compgen -W \"${_husk_subs[$path]}\" -- "
      "\"$cur\")); "
      "return; fi\n"
      "  [[ -n \"${_husk_args[$path]+x}\" ]] && _husk_values \"${_husk_args[$path]}\"\n"
      "}\n"
      "complete -F _husk husk\n";

static void
print_bash (void)
{
  struct husk_buf top = { 0 }, flags = { 0 };
  size_t i;

  printf ("# bash completion for husk, generated from its command table by `husk completion bash`.\n");
  printf ("declare -gA _husk_subs _husk_flags _husk_valflags _husk_vals _husk_args\n");
  sub_names (&cli_root, &top);
  for (i = 0; cli_root.opts[i].name; i++)
    {
      husk_buf_printf (&flags, "%s--%s", flags.len ? " " : "", cli_root.opts[i].name);
      if (cli_root.opts[i].short_name)
        husk_buf_printf (&flags, " -%c", cli_root.opts[i].short_name);
      if (cli_root.opts[i].complete)
        printf ("_husk_vals[\"husk --%s\"]=\"%s\"\n", cli_root.opts[i].name, cli_root.opts[i].complete);
    }
  printf ("_husk_subs[\"husk\"]=\"%s\"\n_husk_flags[\"husk\"]=\"%s\"\n", top.data, flags.data);
  printf ("_husk_valflags[\"husk\"]=\"--root --runroot --storage-driver --log-level --tmpdir\"\n");
  walk (&cli_root, "", bash_cmd, NULL);
  fputs (bash_body, stdout);
  husk_buf_free (&top);
  husk_buf_free (&flags);
}

/* Completion kinds whose values husk itself lists (__complete KIND).  */
static bool
is_dynamic (const char *kind)
{
  return strcmp (kind, "images") == 0 || strcmp (kind, "containers") == 0
         || strcmp (kind, "capabilities") == 0;
}

static void
fish_escape (const char *s)
{
  for (; *s; s++)
    {
      if (*s == '\'' || *s == '\\')
        putchar ('\\');
      putchar (*s);
    }
}

static void
fish_cmd (const struct cli_cmd *c, const char *path, void *ctx)
{
  size_t i;
  (void)ctx;
  for (i = 0; c->subs && c->subs[i].name; i++)
    if (!c->subs[i].hidden)
      {
        printf ("complete -c husk -f -n '__husk_path_is \"%s\"' -a '%s' -d '", path, c->subs[i].name);
        fish_escape (c->subs[i].summary);
        printf ("'\n");
      }
  for (i = 0; c->opts && c->opts[i].name; i++)
    {
      const struct cli_opt *o = &c->opts[i];
      printf ("complete -c husk -n '__husk_path_is \"%s\"' -l %s", path, o->name);
      if (o->short_name)
        printf (" -s %c", o->short_name);
      if (o->type != CLI_OPT_BOOL && o->type != CLI_OPT_OPTVAL)
        printf (" -r");
      if (o->complete && is_dynamic (o->complete))
        printf (" -f -a '(husk __complete %s 2>/dev/null)'", o->complete);
      else if (o->complete && strcmp (o->complete, "files") != 0 && strcmp (o->complete, "dirs") != 0)
        printf (" -f -a '%s'", strcmp (o->complete, "format") == 0 ? "json table" : o->complete);
      printf (" -d '");
      fish_escape (o->help);
      printf ("'\n");
    }
  if (c->args_complete && is_dynamic (c->args_complete))
    printf ("complete -c husk -f -n '__husk_path_is \"%s\"' -a '(husk __complete %s 2>/dev/null)'\n", path,
            c->args_complete);
}

static void
fish_path (const struct cli_cmd *c, const char *path, void *ctx)
{
  (void)c;
  (void)ctx;
  printf (" '%s'", path);
}

static void
print_fish (void)
{
  size_t i;

  printf ("# fish completion for husk, generated from its command table by `husk completion fish`.\n"
          "function __husk_path_is\n"
          "    set -l words (commandline -opc)\n"
          "    set -e words[1]\n"
          "    set -l path\n"
          "    for w in $words\n"
          "        string match -q -- '-*' $w; and continue\n"
          "        set -l cand (string join ' ' $path $w)\n"
          "        contains -- $cand $__husk_paths; and set path $path $w\n"
          "    end\n"
          "    test (string join ' ' $path) = \"$argv[1]\"\n"
          "end\n"
          "set -g __husk_paths");
  walk (&cli_root, "", fish_path, NULL);
  printf ("\n");
  for (i = 0; cli_root.subs[i].name; i++)
    if (!cli_root.subs[i].hidden)
      {
        printf ("complete -c husk -f -n '__husk_path_is \"\"' -a '%s' -d '", cli_root.subs[i].name);
        fish_escape (cli_root.subs[i].summary);
        printf ("'\n");
      }
  walk (&cli_root, "", fish_cmd, NULL);
}

int
cmd_completion (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *shell = a->argv[0];

  if (strcmp (shell, "bash") == 0)
    print_bash ();
  else if (strcmp (shell, "zsh") == 0)
    {
      /* zsh runs the bash completion through its bashcompinit layer.  */
      printf ("#compdef husk\nautoload -U +X bashcompinit && bashcompinit\n");
      print_bash ();
    }
  else if (strcmp (shell, "fish") == 0)
    print_fish ();
  else
    return husk_make_error (err, 0, "unsupported shell \"%s\": use bash, zsh or fish", shell);
  return 0;
}

/* Names and short ids, from the index alone: Tab must not wait for the
   state of every container.  */
static int
complete_containers (struct cli_ctx *ctx, husk_error_t *err)
{
  struct husk_container_record *const *containers;
  husk_store_t *s;
  size_t i, n;
  int ret;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_store_containers (s, &containers, &n, err);
  for (i = 0; ret >= 0 && i < n; i++)
    printf ("%s\n%.12s\n", containers[i]->name, containers[i]->id);
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

int
cmd_complete_values (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *kind = a->argv[0];
  husk_store_t *s;
  size_t i, j, n;
  int ret;

  if (strcmp (kind, "table") == 0)
    return print_table ();
  if (strcmp (kind, "commands") == 0)
    {
      for (i = 0; cli_root.subs[i].name; i++)
        if (!cli_root.subs[i].hidden)
          printf ("%s\n", cli_root.subs[i].name);
      return 0;
    }
  if (strcmp (kind, "capabilities") == 0)
    {
      const char *name;
      for (i = 0; (name = husk_cap_name ((int)i)) != NULL; i++)
        printf ("%s\n", name + strlen ("CAP_"));
      printf ("ALL\n");
      return 0;
    }
  if (strcmp (kind, "containers") == 0)
    return complete_containers (ctx, err);
  if (strcmp (kind, "images") == 0)
    {
      struct husk_image_record *const *images;
      ret = cli_store (ctx, &s, err);
      if (ret < 0)
        return ret;
      ret = husk_store_lock (s, false, err);
      if (ret >= 0)
        ret = husk_store_images (s, &images, &n, err);
      for (i = 0; ret >= 0 && i < n; i++)
        {
          printf ("%.12s\n", images[i]->id);
          for (j = 0; images[i]->names && images[i]->names[j]; j++)
            printf ("%s\n", images[i]->names[j]);
        }
      husk_store_unlock (s);
      return ret < 0 ? ret : 0;
    }
  return 0;
}

static void
table_cmd (const struct cli_cmd *c, const char *path, void *ctx)
{
  husk_json_t *arr = ctx;
  husk_json_t *o = husk_json_new_object ();
  husk_json_t *opts = husk_json_new_array ();
  size_t i;

  const char *last = strrchr (path, ' ');

  /* Aliases are documented on the page of the command they stand for.  */
  if (strcmp (last ? last + 1 : path, c->name) != 0)
    {
      husk_json_free (o);
      husk_json_free (opts);
      return;
    }
  husk_json_set_string (o, "path", path);
  husk_json_set_string (o, "name", c->name);
  husk_json_set_string (o, "summary", c->summary);
  husk_json_set_string (o, "usage", c->usage);
  husk_json_set_string (o, "aliases", c->aliases);
  husk_json_set_bool (o, "group", c->subs != NULL);
  for (i = 0; c->opts && c->opts[i].name; i++)
    {
      const struct cli_opt *op = &c->opts[i];
      husk_json_t *j = husk_json_new_object ();
      char sh[2] = { op->short_name, 0 };
      husk_json_set_string (j, "name", op->name);
      husk_json_set_string (j, "short", op->short_name ? sh : NULL);
      husk_json_set_string (j, "type",
                            op->type == CLI_OPT_BOOL || op->type == CLI_OPT_OPTVAL
                                ? "bool"
                                : (op->type == CLI_OPT_STRV ? "strv" : "string"));
      husk_json_set_string (j, "arg", op->arg);
      husk_json_set_string (j, "help", op->help);
      husk_json_set_string (j, "default", op->def);
      husk_json_array_append (opts, j);
    }
  husk_json_set (o, "options", opts);
  husk_json_array_append (arr, o);
}

/* "husk __complete table": the whole command table as JSON, for the
   documentation checks and the man page generator.  */
static int
print_table (void)
{
  cleanup_json husk_json_t *arr = husk_json_new_array ();
  cleanup_free char *s = NULL;

  table_cmd (&cli_root, "", arr);
  walk (&cli_root, "", table_cmd, arr);
  s = husk_json_serialize (arr, true, NULL);
  printf ("%s\n", s);
  return 0;
}
