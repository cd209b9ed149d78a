/* husk: Docker-style option parsing driven by the command table: combined
   short flags (-aq), --flag=value and --flag value, -ovalue, and "--" to end
   flags.  Options may follow positional arguments, except for commands
   that take a command line of their own (stop_at_positional: run, create,
   exec), where parsing stops at the first positional.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "husk/util.h"

static int
find_long (const struct cli_opt *opts, const char *name, size_t len)
{
  int i;
  for (i = 0; opts && opts[i].name; i++)
    if (strlen (opts[i].name) == len && strncmp (opts[i].name, name, len) == 0)
      return i;
  return -1;
}

static int
find_short (const struct cli_opt *opts, char c)
{
  int i;
  for (i = 0; opts && opts[i].name; i++)
    if (opts[i].short_name == c)
      return i;
  return -1;
}

static int
parse_bool_value (const char *path, const char *name, const char *v, bool *out, husk_error_t *err)
{
  if (strcasecmp (v, "true") == 0 || strcmp (v, "1") == 0 || strcasecmp (v, "t") == 0)
    *out = true;
  else if (strcasecmp (v, "false") == 0 || strcmp (v, "0") == 0 || strcasecmp (v, "f") == 0)
    *out = false;
  else
    return husk_make_error (
        err, 0,
        "invalid argument \"%s\" for \"--%s\" flag: strconv.ParseBool: parsing \"%s\": invalid syntax", v,
        name, v);
  return 0;
}

static void
store_value (struct cli_opt_value *val, const struct cli_opt *o, const char *v)
{
  val->set = true;
  if (o->type == CLI_OPT_STRING || o->type == CLI_OPT_OPTVAL)
    {
      free (val->s);
      val->s = xstrdup (v);
    }
  else
    strv_append (&val->v, v);
}

/* Handle one "--name[=value]" argument; may consume the next argument.  */
static int
parse_long (const struct cli_cmd *cmd, const char *path, struct cli_args *a, int argc, char **argv, int *i,
            husk_error_t *err)
{
  const char *arg = argv[*i] + 2;
  const char *eq = strchr (arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen (arg);
  int idx = find_long (cmd->opts, arg, len);
  const struct cli_opt *o;

  if (idx < 0 && len == 4 && strncmp (arg, "help", 4) == 0)
    {
      a->help = true;
      return 0;
    }
  if (idx < 0)
    return husk_make_error (err, 0, "unknown flag: --%.*s\nSee 'husk %s --help'", (int)len, arg, path);
  o = &cmd->opts[idx];
  if (o->type == CLI_OPT_BOOL)
    {
      a->vals[idx].set = true;
      a->vals[idx].b = true;
      if (eq)
        return parse_bool_value (path, o->name, eq + 1, &a->vals[idx].b, err);
      return 0;
    }
  if (eq)
    store_value (&a->vals[idx], o, eq + 1);
  else if (o->type == CLI_OPT_OPTVAL)
    store_value (&a->vals[idx], o, "true");
  else if (*i + 1 < argc)
    store_value (&a->vals[idx], o, argv[++*i]);
  else
    return husk_make_error (err, 0, "flag needs an argument: --%s\nSee 'husk %s --help'", o->name, path);
  return 0;
}

/* Handle "-abc" / "-ovalue" / "-o value".  */
static int
parse_short (const struct cli_cmd *cmd, const char *path, struct cli_args *a, int argc, char **argv, int *i,
             husk_error_t *err)
{
  const char *p = argv[*i] + 1;

  for (; *p; p++)
    {
      int idx = find_short (cmd->opts, *p);
      const struct cli_opt *o;

      if (idx < 0 && *p == 'h')
        {
          a->help = true;
          continue;
        }
      if (idx < 0)
        return husk_make_error (err, 0, "unknown shorthand flag: '%c' in -%s\nSee 'husk %s --help'", *p,
                                argv[*i] + 1, path);
      o = &cmd->opts[idx];
      if (o->type == CLI_OPT_BOOL)
        {
          a->vals[idx].set = true;
          a->vals[idx].b = true;
          if (p[1] == '=')
            return parse_bool_value (path, o->name, p + 2, &a->vals[idx].b, err);
          continue;
        }
      if (p[1] == '=')
        store_value (&a->vals[idx], o, p + 2);
      else if (o->type == CLI_OPT_OPTVAL)
        {
          store_value (&a->vals[idx], o, "true");
          continue;
        }
      else if (p[1])
        store_value (&a->vals[idx], o, p + 1);
      else if (*i + 1 < argc)
        store_value (&a->vals[idx], o, argv[++*i]);
      else
        return husk_make_error (err, 0, "flag needs an argument: '%c' in -%c\nSee 'husk %s --help'", *p, *p,
                                path);
      return 0;
    }
  return 0;
}

int
cli_parse_args (const struct cli_cmd *cmd, const char *path, int argc, char **argv, struct cli_args *a,
                husk_error_t *err)
{
  size_t nopts = 0;
  bool flags_done = false;
  int i, ret;

  while (cmd->opts && cmd->opts[nopts].name)
    nopts++;
  memset (a, 0, sizeof (*a));
  a->cmd = cmd;
  a->path = path;
  a->vals = xzalloc ((nopts + 1) * sizeof (*a->vals));
  a->argv = xzalloc ((size_t)(argc + 1) * sizeof (char *));

  for (i = 0; i < argc; i++)
    {
      const char *arg = argv[i];

      if (flags_done || arg[0] != '-' || arg[1] == '\0')
        {
          a->argv[a->argc++] = argv[i];
          if (cmd->stop_at_positional)
            flags_done = true;
          continue;
        }
      if (strcmp (arg, "--") == 0)
        {
          flags_done = true;
          continue;
        }
      if (arg[1] == '-')
        ret = parse_long (cmd, path, a, argc, argv, &i, err);
      else
        ret = parse_short (cmd, path, a, argc, argv, &i, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

void
cli_args_clear (struct cli_args *a)
{
  size_t i;
  for (i = 0; a->cmd && a->cmd->opts && a->cmd->opts[i].name; i++)
    {
      free (a->vals[i].s);
      strv_free (a->vals[i].v);
    }
  free (a->vals);
  free (a->argv);
  memset (a, 0, sizeof (*a));
}

static const struct cli_opt_value *
lookup (const struct cli_args *a, const char *name)
{
  int idx = find_long (a->cmd->opts, name, strlen (name));
  if (idx < 0)
    {
      /* A programming error: the command reads an option it does not declare.  */
      fprintf (stderr, "internal error: command %s has no option --%s\n", a->path, name);
      abort ();
    }
  return &a->vals[idx];
}

bool
cli_bool (const struct cli_args *a, const char *name)
{
  const struct cli_opt_value *v = lookup (a, name);
  if (!v->set)
    {
      int idx = find_long (a->cmd->opts, name, strlen (name));
      const char *def = a->cmd->opts[idx].def;
      return def && strcmp (def, "true") == 0;
    }
  return v->b;
}

bool
cli_is_set (const struct cli_args *a, const char *name)
{
  return lookup (a, name)->set;
}

const char *
cli_string (const struct cli_args *a, const char *name)
{
  const struct cli_opt_value *v = lookup (a, name);
  if (!v->set)
    {
      int idx = find_long (a->cmd->opts, name, strlen (name));
      return a->cmd->opts[idx].def;
    }
  return v->s;
}

char *const *
cli_strv (const struct cli_args *a, const char *name)
{
  return lookup (a, name)->v;
}

const struct cli_cmd *
cli_find_sub (const struct cli_cmd *table, const char *name)
{
  size_t i;
  for (i = 0; table[i].name; i++)
    {
      const char *al = table[i].aliases;
      if (strcmp (table[i].name, name) == 0)
        return &table[i];
      while (al && *al)
        {
          size_t len = strcspn (al, " ");
          if (len == strlen (name) && strncmp (al, name, len) == 0)
            return &table[i];
          al += len;
          al += strspn (al, " ");
        }
    }
  return NULL;
}

static void
print_opts (const struct cli_opt *opts, FILE *out)
{
  size_t i, width = 0;

  for (i = 0; opts && opts[i].name; i++)
    {
      size_t w = strlen (opts[i].name) + (opts[i].arg ? strlen (opts[i].arg) + 1 : 0)
                 + (opts[i].arg && opts[i].type == CLI_OPT_OPTVAL ? 2 : 0);
      if (w > width)
        width = w;
    }
  for (i = 0; opts && opts[i].name; i++)
    {
      const struct cli_opt *o = &opts[i];
      cleanup_free char *left
          = xasprintf ("%s%s%s%s", o->name, o->arg ? (o->type == CLI_OPT_OPTVAL ? "[=" : " ") : "",
                       o->arg ? o->arg : "", o->arg && o->type == CLI_OPT_OPTVAL ? "]" : "");
      if (o->short_name)
        fprintf (out, "  -%c, --%-*s   %s", o->short_name, (int)width, left, o->help);
      else
        fprintf (out, "      --%-*s   %s", (int)width, left, o->help);
      if (o->def && o->type != CLI_OPT_BOOL)
        fprintf (out, " (default \"%s\")", o->def);
      else if (o->def && strcmp (o->def, "true") == 0)
        fprintf (out, " (default true)");
      fputc ('\n', out);
    }
}

void
cli_print_help (const struct cli_cmd *cmd, const char *path, FILE *out)
{
  size_t i, width = 0;

  fprintf (out, "%s\n\n", cmd->summary);
  if (cmd->subs)
    {
      fprintf (out, "Usage:\n  husk %s%sCOMMAND\n\nAvailable Commands:\n", path, *path ? " " : "");
      for (i = 0; cmd->subs[i].name; i++)
        if (!cmd->subs[i].hidden && strlen (cmd->subs[i].name) > width)
          width = strlen (cmd->subs[i].name);
      for (i = 0; cmd->subs[i].name; i++)
        if (!cmd->subs[i].hidden)
          fprintf (out, "  %-*s   %s\n", (int)width, cmd->subs[i].name, cmd->subs[i].summary);
    }
  else
    fprintf (out, "Usage:\n  husk %s %s\n", path, cmd->usage ? cmd->usage : "[OPTIONS]");
  if (cmd->aliases)
    fprintf (out, "\nAliases:\n  %s %s\n", cmd->name, cmd->aliases);
  if (cmd->opts && cmd->opts[0].name)
    {
      fprintf (out, "\nOptions:\n");
      print_opts (cmd->opts, out);
    }
  if (cmd->subs)
    fprintf (out, "\nRun 'husk %s%sCOMMAND --help' for more information on a command.\n", path,
             *path ? " " : "");
}

bool
cli_confirm (const char *question)
{
  cleanup_free char *line = NULL;
  size_t cap = 0;

  fprintf (stderr, "%s [y/N] ", question);
  fflush (stderr);
  if (getline (&line, &cap, stdin) < 0)
    return false;
  return line[0] == 'y' || line[0] == 'Y';
}

void
cli_output_opts (const struct cli_args *a, struct husk_output_opts *o)
{
  memset (o, 0, sizeof (*o));
  o->format = cli_string (a, "format");
  o->noheading = cli_bool (a, "noheading");
  o->quiet = cli_bool (a, "quiet");
}
