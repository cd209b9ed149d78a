/* husk: OCI/Docker image configs: a fresh config for imports and
   Dockerfile-style --change instructions applied to config["config"].

   Word splitting follows the Dockerfile rules that matter for a single
   line: whitespace separates words, double quotes group and allow
   backslash escapes, single quotes group literally, a backslash outside
   quotes escapes the next character.  No variable expansion is done.  */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "husk/image.h"
#include "husk/util.h"

const char *
husk_image_host_arch (void)
{
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__powerpc64__)
  return "ppc64";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "mips64le";
#elif defined(__loongarch64)
  return "loong64";
#else
  return "unknown";
#endif
}

husk_json_t *
husk_image_config_new (char *const *diff_ids, int64_t created, const char *created_by, const char *comment)
{
  cleanup_free char *ts = husk_format_rfc3339 (created);
  husk_json_t *config = husk_json_new_object ();
  husk_json_t *rootfs = husk_json_new_object ();
  husk_json_t *history = husk_json_new_array ();
  husk_json_t *entry = husk_json_new_object ();

  husk_json_set_string (config, "created", ts);
  husk_json_set_string (config, "architecture", husk_image_host_arch ());
  husk_json_set_string (config, "os", "linux");
  husk_json_set (config, "config", husk_json_new_object ());

  husk_json_set_string (rootfs, "type", "layers");
  husk_json_set (rootfs, "diff_ids", husk_json_from_strv (diff_ids));
  husk_json_set (config, "rootfs", rootfs);

  husk_json_set_string (entry, "created", ts);
  if (created_by)
    husk_json_set_string (entry, "created_by", created_by);
  if (comment && *comment)
    husk_json_set_string (entry, "comment", comment);
  husk_json_array_append (history, entry);
  husk_json_set (config, "history", history);
  return config;
}

/* ---- word splitting ---- */

/* Split s into words, removing quotes.  Returns a NULL-terminated vector
   (never NULL), or NULL with *bad set for an unterminated quote.  */
static char **
split_words (const char *s, bool *bad)
{
  char **words = xzalloc (sizeof (char *));
  struct husk_buf w = { 0 };
  bool in_word = false;

  *bad = false;
  for (const char *p = s; *p;)
    {
      if (isspace ((unsigned char)*p))
        {
          if (in_word)
            strv_append_take (&words, husk_buf_steal (&w, NULL));
          in_word = false;
          p++;
          continue;
        }
      in_word = true;
      if (*p == '\\' && p[1])
        {
          husk_buf_append (&w, p + 1, 1);
          p += 2;
        }
      else if (*p == '\'' || *p == '"')
        {
          char q = *p++;
          while (*p && *p != q)
            {
              if (q == '"' && *p == '\\' && p[1])
                p++;
              husk_buf_append (&w, p, 1);
              p++;
            }
          if (*p != q)
            {
              husk_buf_free (&w);
              strv_free (words);
              *bad = true;
              return NULL;
            }
          /* An empty quoted word ("") still counts as a word.  */
          husk_buf_append (&w, "", 0);
          p++;
        }
      else
        husk_buf_append (&w, p++, 1);
    }
  if (in_word)
    strv_append_take (&words, husk_buf_steal (&w, NULL));
  husk_buf_free (&w);
  return words;
}

/* Remove quotes from s, keeping whitespace as written ("ENV k a  b").  */
static char *
unquote (const char *s, bool *bad)
{
  struct husk_buf b = { 0 };

  *bad = false;
  husk_buf_append (&b, "", 0);
  for (const char *p = s; *p;)
    {
      if (*p == '\\' && p[1])
        {
          husk_buf_append (&b, p + 1, 1);
          p += 2;
        }
      else if (*p == '\'' || *p == '"')
        {
          char q = *p++;
          while (*p && *p != q)
            {
              if (q == '"' && *p == '\\' && p[1])
                p++;
              husk_buf_append (&b, p++, 1);
            }
          if (*p != q)
            {
              husk_buf_free (&b);
              *bad = true;
              return NULL;
            }
          p++;
        }
      else
        husk_buf_append (&b, p++, 1);
    }
  return husk_buf_steal (&b, NULL);
}

/* A JSON array of strings ("exec form"), or NULL if args is not one.  */
static husk_json_t *
parse_exec_form (const char *args)
{
  husk_error_t err = NULL;
  husk_json_t *v;

  if (*args != '[')
    return NULL;
  v = husk_json_parse (args, strlen (args), &err);
  if (v == NULL)
    {
      husk_error_release (&err);
      return NULL;
    }
  if (husk_json_type (v) != HUSK_JSON_ARRAY)
    goto not_exec;
  for (size_t i = 0; i < husk_json_array_len (v); i++)
    if (husk_json_type (husk_json_array_at (v, i)) != HUSK_JSON_STRING)
      goto not_exec;
  return v;

not_exec:
  husk_json_free (v);
  return NULL;
}

/* ---- instructions ---- */

struct change
{
  const char *text; /* the whole change, for messages */
  const char *instr;
  const char *args; /* trimmed */
  husk_json_t *cfg; /* config["config"] */
};

static int
change_error (const struct change *c, husk_error_t *err, const char *why)
{
  return husk_make_error (err, 0, "invalid change \"%s\": %s", c->text, why);
}

static husk_json_t *
ensure_object (husk_json_t *obj, const char *key)
{
  husk_json_t *v = husk_json_get (obj, key);

  if (v == NULL || husk_json_type (v) != HUSK_JSON_OBJECT)
    {
      husk_json_set (obj, key, husk_json_new_object ());
      v = husk_json_get (obj, key);
    }
  return v;
}

static husk_json_t *
ensure_array (husk_json_t *obj, const char *key)
{
  husk_json_t *v = husk_json_get (obj, key);

  if (v == NULL || husk_json_type (v) != HUSK_JSON_ARRAY)
    {
      husk_json_set (obj, key, husk_json_new_array ());
      v = husk_json_get (obj, key);
    }
  return v;
}

static int
apply_command (const struct change *c, const char *key, husk_error_t *err)
{
  husk_json_t *v = parse_exec_form (c->args);

  if (v == NULL)
    {
      const char *shell[] = { "/bin/sh", "-c", c->args, NULL };
      if (*c->args == '\0')
        return change_error (c, err, "missing command");
      v = husk_json_from_strv ((char *const *)shell);
    }
  husk_json_set (c->cfg, key, v);
  return 0;
}

static int
apply_cmd (const struct change *c, husk_error_t *err)
{
  return apply_command (c, "Cmd", err);
}

static int
apply_entrypoint (const struct change *c, husk_error_t *err)
{
  return apply_command (c, "Entrypoint", err);
}

static void
env_set (husk_json_t *cfg, const char *key, const char *value)
{
  husk_json_t *env = ensure_array (cfg, "Env");
  size_t klen = strlen (key);
  cleanup_free char *entry = xasprintf ("%s=%s", key, value);

  for (size_t i = 0; i < husk_json_array_len (env); i++)
    {
      const char *e = husk_json_string (husk_json_array_at (env, i));
      if (e && strncmp (e, key, klen) == 0 && e[klen] == '=')
        {
          /* Rebuild the array to replace in place and keep the order.  */
          husk_json_t *n = husk_json_new_array ();
          for (size_t j = 0; j < husk_json_array_len (env); j++)
            husk_json_array_append (n, j == i ? husk_json_new_string (entry)
                                              : husk_json_clone (husk_json_array_at (env, j)));
          husk_json_set (cfg, "Env", n);
          return;
        }
    }
  husk_json_array_append (env, husk_json_new_string (entry));
}

static void
label_set (husk_json_t *cfg, const char *key, const char *value)
{
  husk_json_set_string (ensure_object (cfg, "Labels"), key, value);
}

/* "k=v k2='v 2'" or the legacy single pair "k v w" (value: the rest).  */
static int
apply_pairs (const struct change *c, void (*set) (husk_json_t *, const char *, const char *),
             husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  size_t first_len = strcspn (c->args, " \t");
  bool bad;

  if (*c->args == '\0')
    {
      cleanup_free char *why = xasprintf ("%s requires at least one argument", c->instr);
      return change_error (c, err, why);
    }

  if (memchr (c->args, '=', first_len) == NULL)
    {
      cleanup_free char *key = NULL;
      cleanup_free char *value = NULL;
      const char *rest = c->args + first_len;

      while (isspace ((unsigned char)*rest))
        rest++;
      if (*rest == '\0')
        return change_error (c, err, "missing value: use key=value");
      key = xstrndup (c->args, first_len);
      value = unquote (rest, &bad);
      if (bad)
        return change_error (c, err, "unterminated quote");
      set (c->cfg, key, value);
      return 0;
    }

  words = split_words (c->args, &bad);
  if (bad)
    return change_error (c, err, "unterminated quote");
  /* Validate every pair before changing anything.  */
  for (char **w = words; *w; w++)
    {
      char *eq = strchr (*w, '=');
      if (eq == NULL || eq == *w)
        {
          cleanup_free char *why = xasprintf ("\"%s\" is not of the form key=value", *w);
          return change_error (c, err, why);
        }
    }
  for (char **w = words; *w; w++)
    {
      char *eq = strchr (*w, '=');
      *eq = '\0';
      set (c->cfg, *w, eq + 1);
    }
  return 0;
}

static int
apply_env (const struct change *c, husk_error_t *err)
{
  return apply_pairs (c, env_set, err);
}

static int
apply_label (const struct change *c, husk_error_t *err)
{
  return apply_pairs (c, label_set, err);
}

static bool
parse_port (const char *s, size_t len, uint64_t *out)
{
  cleanup_free char *d = xstrndup (s, len);
  return husk_parse_u64 (d, out) && *out >= 1 && *out <= 65535;
}

/* "80", "80/udp", "8000-8010/tcp" -> keys of ExposedPorts.  */
static int
expose_one (const struct change *c, const char *spec, husk_json_t *ports, husk_error_t *err)
{
  const char *slash = strchr (spec, '/');
  size_t nlen = slash ? (size_t)(slash - spec) : strlen (spec);
  cleanup_free char *proto = xstrdup (slash ? slash + 1 : "tcp");
  const char *dash = memchr (spec, '-', nlen);
  uint64_t lo, hi;

  for (char *p = proto; *p; p++)
    *p = (char)tolower ((unsigned char)*p);
  if (strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0 && strcmp (proto, "sctp") != 0)
    {
      cleanup_free char *why = xasprintf ("invalid protocol \"%s\" in \"%s\"", proto, spec);
      return change_error (c, err, why);
    }
  if (dash ? !parse_port (spec, dash - spec, &lo) || !parse_port (dash + 1, nlen - (dash + 1 - spec), &hi)
           : !parse_port (spec, nlen, &lo))
    {
      cleanup_free char *why = xasprintf ("invalid port \"%s\"", spec);
      return change_error (c, err, why);
    }
  if (!dash)
    hi = lo;
  if (hi < lo)
    {
      cleanup_free char *why = xasprintf ("invalid port range \"%s\"", spec);
      return change_error (c, err, why);
    }
  for (uint64_t p = lo; p <= hi; p++)
    {
      cleanup_free char *key = xasprintf ("%llu/%s", (unsigned long long)p, proto);
      husk_json_set (ports, key, husk_json_new_object ());
    }
  return 0;
}

static int
apply_expose (const struct change *c, husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  cleanup_json husk_json_t *ports = NULL;
  husk_json_t *target;
  bool bad;
  int ret;

  words = split_words (c->args, &bad);
  if (bad)
    return change_error (c, err, "unterminated quote");
  if (words[0] == NULL)
    return change_error (c, err, "EXPOSE requires at least one argument");
  ports = husk_json_new_object ();
  for (char **w = words; *w; w++)
    {
      ret = expose_one (c, *w, ports, err);
      if (ret < 0)
        return ret;
    }
  target = ensure_object (c->cfg, "ExposedPorts");
  for (size_t i = 0; i < husk_json_object_len (ports); i++)
    husk_json_set (target, husk_json_object_key_at (ports, i), husk_json_new_object ());
  return 0;
}

static int
apply_volume (const struct change *c, husk_error_t *err)
{
  cleanup_json husk_json_t *exec = parse_exec_form (c->args);
  cleanup_strv char **words = NULL;
  husk_json_t *vols;
  bool bad;

  if (exec)
    words = husk_json_to_strv (exec);
  else
    {
      words = split_words (c->args, &bad);
      if (bad)
        return change_error (c, err, "unterminated quote");
    }
  if (words[0] == NULL)
    return change_error (c, err, "VOLUME requires at least one argument");
  for (char **w = words; *w; w++)
    if (**w == '\0')
      return change_error (c, err, "VOLUME specified can not be an empty string");
  vols = ensure_object (c->cfg, "Volumes");
  for (char **w = words; *w; w++)
    husk_json_set (vols, *w, husk_json_new_object ());
  return 0;
}

/* Instructions taking the rest of the line as one value.  */
static int
apply_single (const struct change *c, const char *key, husk_error_t *err)
{
  cleanup_free char *value = NULL;
  bool bad;

  if (*c->args == '\0')
    {
      cleanup_free char *why = xasprintf ("%s requires exactly one argument", c->instr);
      return change_error (c, err, why);
    }
  value = unquote (c->args, &bad);
  if (bad)
    return change_error (c, err, "unterminated quote");
  husk_json_set_string (c->cfg, key, value);
  return 0;
}

static int
apply_user (const struct change *c, husk_error_t *err)
{
  return apply_single (c, "User", err);
}

static int
apply_stopsignal (const struct change *c, husk_error_t *err)
{
  return apply_single (c, "StopSignal", err);
}

static int
apply_workdir (const struct change *c, husk_error_t *err)
{
  cleanup_free char *value = NULL;
  const char *cur;
  bool bad;

  if (*c->args == '\0')
    return change_error (c, err, "WORKDIR requires exactly one argument");
  value = unquote (c->args, &bad);
  if (bad)
    return change_error (c, err, "unterminated quote");
  /* A relative WORKDIR is relative to the current one, as in a Dockerfile.  */
  cur = husk_json_get_string (c->cfg, "WorkingDir");
  if (value[0] != '/')
    {
      char *joined;
      if (cur == NULL || *cur == '\0')
        cur = "/";
      joined = xasprintf ("%s%s%s", cur, husk_has_suffix (cur, "/") ? "" : "/", value);
      free (value);
      value = joined;
    }
  husk_json_set_string (c->cfg, "WorkingDir", value);
  return 0;
}

static int
apply_onbuild (const struct change *c, husk_error_t *err)
{
  if (*c->args == '\0')
    return change_error (c, err, "ONBUILD requires at least one argument");
  husk_json_array_append (ensure_array (c->cfg, "OnBuild"), husk_json_new_string (c->args));
  return 0;
}

static const struct
{
  const char *name;
  int (*apply) (const struct change *c, husk_error_t *err);
} instructions[] = {
  { "CMD", apply_cmd },         { "ENTRYPOINT", apply_entrypoint }, { "ENV", apply_env },
  { "EXPOSE", apply_expose },   { "LABEL", apply_label },           { "USER", apply_user },
  { "WORKDIR", apply_workdir }, { "VOLUME", apply_volume },         { "STOPSIGNAL", apply_stopsignal },
  { "ONBUILD", apply_onbuild },
};

int
husk_image_config_apply_change (husk_json_t *config, const char *change, husk_error_t *err)
{
  cleanup_free char *instr = NULL;
  cleanup_free char *args = NULL;
  const char *p = change;
  size_t len;
  struct change c;

  while (isspace ((unsigned char)*p))
    p++;
  len = strcspn (p, " \t\r\n");
  if (len == 0)
    return husk_make_error (err, 0, "invalid change \"%s\": empty instruction", change);
  instr = xstrndup (p, len);
  for (char *q = instr; *q; q++)
    *q = (char)toupper ((unsigned char)*q);
  p += len;
  while (isspace ((unsigned char)*p))
    p++;
  args = xstrdup (p);
  for (len = strlen (args); len > 0 && isspace ((unsigned char)args[len - 1]); len--)
    args[len - 1] = '\0';

  c.text = change;
  c.instr = instr;
  c.args = args;
  c.cfg = ensure_object (config, "config");
  for (size_t i = 0; i < sizeof (instructions) / sizeof (instructions[0]); i++)
    if (strcmp (instructions[i].name, instr) == 0)
      return instructions[i].apply (&c, err);
  return husk_make_error (err, 0, "invalid change \"%s\": unknown instruction %s", change, instr);
}
