/* husk: the image config of a stage being built (src/build): the
   metadata instructions (ENV, LABEL, EXPOSE, VOLUME, HEALTHCHECK, CMD,
   ENTRYPOINT, SHELL, MAINTAINER, ONBUILD, USER, STOPSIGNAL), WORKDIR's
   path, layers and history entries.  No file is touched here.  */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "husk/build.h"
#include "husk/json.h"
#include "husk/util.h"
#include "executor.h"

/* ---- the config ---- */

husk_json_t *
build_cfg (husk_json_t *config)
{
  husk_json_t *c = husk_json_get (config, "config");

  if (c == NULL || husk_json_type (c) != HUSK_JSON_OBJECT)
    {
      c = husk_json_new_object ();
      husk_json_set (config, "config", c);
    }
  return c;
}

husk_json_t *
build_cfg_member (husk_json_t *config, const char *key, enum husk_json_type type)
{
  husk_json_t *c = build_cfg (config);
  husk_json_t *v = husk_json_get (c, key);

  if (v == NULL || husk_json_type (v) != type)
    {
      v = type == HUSK_JSON_ARRAY ? husk_json_new_array () : husk_json_new_object ();
      husk_json_set (c, key, v);
    }
  return v;
}

const char *
build_env_get (husk_json_t *config, const char *name)
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
  husk_json_t *env = build_cfg_member (config, "Env", HUSK_JSON_ARRAY);
  cleanup_strv char **v = husk_json_to_strv (env);

  build_kv_set (&v, name, value);
  husk_json_set (build_cfg (config), "Env", husk_json_from_strv (v));
}

char **
build_config_diff_ids (husk_json_t *config)
{
  return husk_json_to_strv (husk_json_get_path (config, "rootfs", "diff_ids", NULL));
}

void
build_config_add_layer (husk_json_t *config, const char *diff_id)
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
long
build_history_add (struct build_stage_run *r, const char *created_by, bool empty_layer)
{
  husk_json_t *history = husk_json_get (r->config, "history");
  cleanup_free char *now = build_now_string (r->x);
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

char *
build_nop_created_by (const struct husk_dockerfile_instr *in)
{
  return xasprintf ("/bin/sh -c #(nop) %s %s", in->keyword, in->text);
}

char **
build_shell_of (husk_json_t *config)
{
  husk_json_t *sh = husk_json_get_path (config, "config", "Shell", NULL);

  if (husk_json_array_len (sh) > 0)
    return husk_json_to_strv (sh);
  char **v = strv_dup (NULL);

  strv_append (&v, "/bin/sh");
  strv_append (&v, "-c");
  return v;
}

/* ---- WORKDIR ---- */

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

int
build_workdir_path (struct build_stage_run *r, const struct husk_dockerfile_instr *in, char **path,
                    husk_error_t *err)
{
  cleanup_free char *value = NULL;
  const char *prev = husk_json_get_string (build_cfg (r->config), "WorkingDir");

  if (build_expand (r, in, in->args[0], &value, err) < 0)
    return -1;
  if (*value == '\0')
    return build_instr_fail (r->x, in, err, "WORKDIR requires a path");
  if (value[0] == '/')
    *path = clean_path (value);
  else
    {
      cleanup_free char *joined = xasprintf ("%s/%s", prev && *prev ? prev : "/", value);
      *path = clean_path (joined);
    }
  return 0;
}

/* ---- metadata instructions ---- */

static int
step_env_label (struct build_stage_run *r, const struct husk_dockerfile_instr *in, bool env,
                husk_error_t *err)
{
  cleanup_strv char **kv = NULL;
  size_t n = strv_len (in->args);

  if (n == 0 || n % 2 != 0)
    return build_instr_fail (r->x, in, err, "%s requires at least one argument", in->keyword);
  /* Every pair sees the values from before this instruction (Docker).  */
  if (build_expand_args (r, in, &kv, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i += 2)
    {
      if (*kv[i] == '\0')
        return build_instr_fail (r->x, in, err, "%s names cannot be empty", in->keyword);
      if (env)
        env_set (r->config, kv[i], kv[i + 1]);
      else
        husk_json_set_string (build_cfg_member (r->config, "Labels", HUSK_JSON_OBJECT), kv[i], kv[i + 1]);
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
step_expose (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  husk_json_t *ports;

  if (build_expand_args (r, in, &words, err) < 0)
    return -1;
  ports = build_cfg_member (r->config, "ExposedPorts", HUSK_JSON_OBJECT);
  for (char **w = words; *w; w++)
    {
      cleanup_free char *spec = build_lower_dup (*w);
      char *slash = strchr (spec, '/');
      const char *proto = "tcp";
      char *dash;
      unsigned long lo, hi;

      if (slash)
        {
          *slash = '\0';
          proto = slash + 1;
          if (strcmp (proto, "tcp") && strcmp (proto, "udp") && strcmp (proto, "sctp"))
            return build_instr_fail (r->x, in, err, "invalid proto: %s", proto);
        }
      dash = strchr (spec, '-');
      if (dash)
        *dash = '\0';
      if (parse_port (spec, &lo) < 0 || (dash && parse_port (dash + 1, &hi) < 0))
        return build_instr_fail (r->x, in, err, "invalid containerPort: %s", *w);
      if (!dash)
        hi = lo;
      if (hi < lo)
        return build_instr_fail (r->x, in, err, "invalid range specified for containerPort: %s", *w);
      for (unsigned long p = lo; p <= hi; p++)
        {
          cleanup_free char *k = xasprintf ("%lu/%s", p, proto);
          husk_json_set (ports, k, husk_json_new_object ());
        }
    }
  return 0;
}

static int
step_volume (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
{
  cleanup_strv char **words = NULL;
  husk_json_t *vols;

  if (build_expand_args (r, in, &words, err) < 0)
    return -1;
  if (words[0] == NULL)
    return build_instr_fail (r->x, in, err, "VOLUME requires at least one argument");
  vols = build_cfg_member (r->config, "Volumes", HUSK_JSON_OBJECT);
  for (char **w = words; *w; w++)
    {
      if (**w == '\0')
        return build_instr_fail (r->x, in, err, "VOLUME specified can not be an empty string");
      husk_json_set (vols, *w, husk_json_new_object ());
    }
  return 0;
}

static husk_json_t *
command_of (struct build_stage_run *r, const struct husk_dockerfile_instr *in)
{
  cleanup_strv char **v = NULL;

  if (in->json)
    return husk_json_from_strv (in->args);
  v = build_shell_of (r->config);
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
step_healthcheck (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
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
  if (build_check_flags (r->x, in, allowed, err) < 0)
    return -1;
  if (in->args[0] == NULL)
    return build_instr_fail (r->x, in, err, "HEALTHCHECK requires an argument");
  if (strcasecmp (in->args[0], "NONE") == 0)
    {
      if (in->args[1] != NULL)
        return build_instr_fail (r->x, in, err, "HEALTHCHECK NONE takes no arguments");
      husk_json_array_append (test, husk_json_new_string ("NONE"));
      husk_json_set (build_cfg (r->config), "Healthcheck", steal_pointer (&hc));
      return 0;
    }
  if (strcasecmp (in->args[0], "CMD") != 0 || in->args[1] == NULL)
    return build_instr_fail (r->x, in, err, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", in->args[0]);
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
    if (build_flag_get (in, durations[i].flag, &v))
      {
        int64_t ns;
        if (v == NULL || parse_duration (v, &ns) < 0)
          return build_instr_fail (r->x, in, err, "invalid value for --%s: %s", durations[i].flag,
                                   v ? v : "");
        if (ns != 0)
          husk_json_set_int (hc, durations[i].key, ns);
      }
  if (build_flag_get (in, "retries", &v))
    {
      uint64_t n;
      if (v == NULL || !husk_parse_u64 (v, &n) || n > INT32_MAX)
        return build_instr_fail (r->x, in, err, "invalid value for --retries: %s", v ? v : "");
      if (n)
        husk_json_set_int (hc, "Retries", (int64_t)n);
    }
  husk_json_set (build_cfg (r->config), "Healthcheck", steal_pointer (&hc));
  return 0;
}

int
build_step_metadata (struct build_stage_run *r, const struct husk_dockerfile_instr *in, husk_error_t *err)
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
      husk_json_set (build_cfg (r->config), "Cmd", command_of (r, in));
      r->cmd_set = true;
      return 0;
    }
  if (strcmp (k, "ENTRYPOINT") == 0)
    {
      husk_json_set (build_cfg (r->config), "Entrypoint", command_of (r, in));
      if (!r->cmd_set)
        husk_json_remove (build_cfg (r->config), "Cmd");
      return 0;
    }
  if (strcmp (k, "SHELL") == 0)
    {
      if (!in->json || in->args[0] == NULL)
        return build_instr_fail (r->x, in, err, "SHELL requires the arguments to be in JSON form");
      husk_json_set (build_cfg (r->config), "Shell", husk_json_from_strv (in->args));
      return 0;
    }
  if (strcmp (k, "MAINTAINER") == 0)
    {
      husk_json_set_string (r->config, "author", in->args[0] ? in->args[0] : "");
      return 0;
    }
  if (strcmp (k, "ONBUILD") == 0)
    {
      husk_json_array_append (build_cfg_member (r->config, "OnBuild", HUSK_JSON_ARRAY),
                              husk_json_new_string (in->args[0] ? in->args[0] : ""));
      return 0;
    }
  if (strcmp (k, "USER") == 0 || strcmp (k, "STOPSIGNAL") == 0)
    {
      if (in->args[0] == NULL || build_expand (r, in, in->args[0], &value, err) < 0)
        return in->args[0] ? -1 : build_instr_fail (r->x, in, err, "%s requires an argument", k);
      if (*value == '\0')
        return build_instr_fail (r->x, in, err, "%s requires an argument", k);
      husk_json_set_string (build_cfg (r->config), k[0] == 'U' ? "User" : "StopSignal", value);
      return 0;
    }
  return build_instr_fail (r->x, in, err, "unknown instruction: %s", k);
}
