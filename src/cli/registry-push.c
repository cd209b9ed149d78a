/* husk push, husk search.  The engines are husk_registry_push and
   husk_registry_search (src/registry/push.c, search.c); this file parses
   flags and prints as podman 4.3 does.  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "husk/output.h"
#include "husk/registry.h"
#include "husk/template.h"
#include "husk/util.h"

/* podman truncates search descriptions to this many bytes plus "...".  */
#define DESCRIPTION_TRUNC 44

static int
registry_opts_from_args (const struct cli_args *a, bool with_retry, struct husk_registry_opts *o,
                         husk_error_t *err)
{
  const char *s;

  memset (o, 0, sizeof (*o));
  o->authfile = cli_string (a, "authfile");
  o->creds = cli_string (a, "creds");
  o->cert_dir = cli_string (a, "cert-dir");
  o->tls_verify = cli_is_set (a, "tls-verify") ? (cli_bool (a, "tls-verify") ? 1 : 0) : -1;
  o->retries = 3;
  o->retry_delay_ms = 2000;
  o->progress = stderr;
  if (!with_retry)
    return 0;
  s = cli_string (a, "retry");
  if (s)
    {
      uint64_t v;
      if (!husk_parse_u64 (s, &v) || v > 100)
        return husk_make_error (err, 0, "invalid --retry %s: a number of retries is expected", s);
      o->retries = (unsigned)v;
    }
  s = cli_string (a, "retry-delay");
  if (s && husk_registry_parse_duration (s, &o->retry_delay_ms, err) < 0)
    return husk_error_wrap (err, "invalid --retry-delay");
  return 0;
}

/* ---- push ---- */

/* Podman pushes an image in its own manifest type unless --format says
   otherwise: a `build --format docker` image goes out as Docker's.  */
static bool
image_is_docker_format (husk_store_t *s, const char *arg)
{
  struct husk_image_record *r;
  cleanup_free char *data = NULL;
  cleanup_json husk_json_t *m = NULL;
  size_t len;
  bool docker = false;

  if (husk_store_lock (s, false, NULL) < 0)
    return false;
  if (cli_image_lookup (s, arg, &r, NULL) > 0 && husk_store_image_manifest (s, r->id, &data, &len, NULL) >= 0)
    {
      m = husk_json_parse (data, len, NULL);
      docker = m != NULL
               && strcmp (husk_json_get_string (m, "mediaType") ?: "",
                          "application/vnd.docker.distribution.manifest.v2+json")
                      == 0;
    }
  husk_store_unlock (s);
  return docker;
}

int
cmd_push (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_registry_push_opts opts = { 0 };
  const char *comp = cli_string (a, "compression-format");
  const char *format = cli_string (a, "format");
  cleanup_free char *digest = NULL;
  husk_store_t *s;
  int ret;

  ret = registry_opts_from_args (a, true, &opts.reg, err);
  if (ret < 0)
    return ret;
  opts.reg.quiet = cli_bool (a, "quiet");
  if (opts.reg.quiet)
    opts.reg.progress = NULL;
  if (comp == NULL || strcmp (comp, "gzip") == 0)
    opts.compression = HUSK_COMPRESSION_GZIP;
  else if (strcmp (comp, "zstd") == 0)
    opts.compression = HUSK_COMPRESSION_ZSTD;
  else
    return husk_make_error (err, 0, "unsupported compression format %s: gzip or zstd", comp);
  if (format == NULL || strcmp (format, "oci") == 0)
    opts.format = HUSK_MANIFEST_OCI;
  else if (strcmp (format, "v2s2") == 0 || strcmp (format, "docker") == 0)
    opts.format = HUSK_MANIFEST_V2S2;
  else
    return husk_make_error (err, 0, "unsupported manifest format %s: oci or v2s2", format);
  opts.digestfile = cli_string (a, "digestfile");

  /* The writer store: rootless, layer files owned by subordinate ids are
     only readable inside the user namespace.  */
  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  if (format == NULL && opts.compression != HUSK_COMPRESSION_ZSTD && image_is_docker_format (s, a->argv[0]))
    opts.format = HUSK_MANIFEST_V2S2;
  ret = husk_registry_push (s, a->argv[0], a->argc > 1 ? a->argv[1] : NULL, &opts, &digest, err);
  if (ret >= 0)
    husk_store_event (s, "image", "push", digest, a->argc > 1 ? a->argv[1] : a->argv[0], NULL);
  return ret;
}

/* ---- search ---- */

struct search_filter
{
  int64_t stars;
  int official;  /* -1 any */
  int automated; /* -1 any */
};

static int
parse_filters (char *const *filters, struct search_filter *f, husk_error_t *err)
{
  f->stars = 0;
  f->official = -1;
  f->automated = -1;
  for (; filters && *filters; filters++)
    {
      const char *eq = strchr (*filters, '=');
      cleanup_free char *key = NULL;
      const char *val;

      if (eq == NULL)
        return husk_make_error (err, 0, "invalid filter %s: KEY=VALUE expected", *filters);
      key = xstrndup (*filters, eq - *filters);
      val = eq + 1;
      if (strcmp (key, "stars") == 0)
        {
          uint64_t v;
          if (!husk_parse_u64 (val, &v))
            return husk_make_error (err, 0, "invalid filter \"stars\": %s is not a number", val);
          f->stars = (int64_t)v;
        }
      else if (strcmp (key, "is-official") == 0 || strcmp (key, "is-automated") == 0)
        {
          int b;
          if (strcmp (val, "true") == 0)
            b = 1;
          else if (strcmp (val, "false") == 0)
            b = 0;
          else
            return husk_make_error (err, 0, "invalid filter \"%s\": %s is not true or false", key, val);
          if (key[3] == 'o')
            f->official = b;
          else
            f->automated = b;
        }
      else
        return husk_make_error (err, 0, "invalid filter %s: stars, is-official or is-automated expected",
                                key);
    }
  return 0;
}

static bool
filter_keeps (const struct search_filter *f, const struct husk_search_result *r)
{
  if (r->stars < f->stars)
    return false;
  if (f->official >= 0 && r->official != (f->official == 1))
    return false;
  if (f->automated >= 0 && r->automated != (f->automated == 1))
    return false;
  return true;
}

static husk_json_t *
search_row (const struct husk_search_result *r, bool no_trunc)
{
  husk_json_t *o = husk_json_new_object ();
  cleanup_free char *desc = xstrdup (r->description ? r->description : "");

  for (char *p = desc; *p; p++)
    if (*p == '\n')
      *p = ' ';
  if (!no_trunc && strlen (desc) > DESCRIPTION_TRUNC)
    {
      char *t = xasprintf ("%.*s...", DESCRIPTION_TRUNC, desc);
      free (desc);
      desc = t;
    }
  husk_json_set_string (o, "Index", r->index);
  husk_json_set_string (o, "Name", r->name);
  husk_json_set_string (o, "Description", desc);
  husk_json_set_int (o, "Stars", r->stars);
  husk_json_set_string (o, "Official", r->official ? "[OK]" : "");
  husk_json_set_string (o, "Automated", r->automated ? "[OK]" : "");
  husk_json_set_string (o, "Tag", r->tag ? r->tag : "");
  return o;
}

/* podman's --list-tags --format json: one object per repository.  */
static husk_json_t *
tags_json (const struct husk_search_result *r, size_t n)
{
  husk_json_t *arr = husk_json_new_array ();
  husk_json_t *cur = NULL;
  const char *cur_name = NULL;

  for (size_t i = 0; i < n; i++)
    {
      if (cur_name == NULL || strcmp (cur_name, r[i].name) != 0)
        {
          cur = husk_json_new_object ();
          husk_json_set_string (cur, "Name", r[i].name);
          husk_json_set (cur, "Tags", husk_json_new_array ());
          husk_json_array_append (arr, cur);
          cur_name = r[i].name;
        }
      husk_json_array_append (husk_json_get (cur, "Tags"), husk_json_new_string (r[i].tag));
    }
  return arr;
}

/* Go's tabwriter as podman's search table uses it (report.NewWriterDefault):
   minimum width 12, padding 2, the last cell of a line not padded.  */
static char *
align_columns (const char *text)
{
  cleanup_strv char **lines = xzalloc (sizeof (char *));
  size_t *widths = NULL, n_widths = 0;
  struct husk_buf b = { 0 };
  const char *p = text;

  while (*p)
    {
      const char *nl = strchr (p, '\n');
      size_t len = nl ? (size_t)(nl - p) : strlen (p);
      strv_append_take (&lines, xstrndup (p, len));
      p += len + (nl ? 1 : 0);
    }
  for (char **l = lines; *l; l++)
    {
      size_t col = 0;
      for (const char *c = *l;; col++)
        {
          const char *tab = strchr (c, '\t');
          if (tab == NULL)
            break;
          if (col >= n_widths)
            {
              widths = xrealloc (widths, (col + 1) * sizeof (*widths));
              widths[n_widths++] = 0;
            }
          if ((size_t)(tab - c) > widths[col])
            widths[col] = tab - c;
          c = tab + 1;
        }
    }
  for (char **l = lines; *l; l++)
    {
      size_t col = 0;
      const char *c = *l;
      for (;; col++)
        {
          const char *tab = strchr (c, '\t');
          if (tab == NULL)
            break;
          size_t w = widths[col] + 2 < 12 ? 12 : widths[col] + 2;
          husk_buf_printf (&b, "%-*.*s", (int)w, (int)(tab - c), c);
          c = tab + 1;
        }
      husk_buf_printf (&b, "%s\n", c);
    }
  free (widths);
  husk_buf_append (&b, "", 1);
  return husk_buf_steal (&b, NULL);
}

/* podman separates the columns of a "table" format by spaces as well as
   tabs: spaces outside {{...}} become tabs.  */
static char *
table_columns (const char *format)
{
  char *f = xstrdup (format);
  int depth = 0;

  if (!husk_has_prefix (f, "table ") && !husk_has_prefix (f, "table\t"))
    return f;
  for (char *p = f + strlen ("table "); *p; p++)
    {
      if (p[0] == '{' && p[1] == '{')
        depth++;
      else if (p[0] == '}' && p[1] == '}' && depth > 0)
        depth--;
      else if (*p == ' ' && depth == 0)
        *p = '\t';
    }
  return f;
}

static int
print_search (const husk_json_t *rows, const char *format, bool list_tags, husk_error_t *err)
{
  cleanup_template husk_template_t *t = NULL;
  cleanup_free char *table_format = NULL;
  cleanup_free char *text = NULL;
  struct husk_buf b = { 0 };
  const char *def = list_tags ? "table {{.Name}}\t{{.Tag}}" : "table {{.Name}}\t{{.Description}}";
  int ret;

  if (format && *format)
    table_format = table_columns (format);
  t = husk_template_parse (table_format ? table_format : def, err);
  if (t == NULL)
    return husk_error_wrap (err, "invalid --format");
  /* podman prints nothing at all, not even a header, for no match.  */
  if (husk_json_array_len (rows) == 0)
    return 0;
  if (husk_template_is_table (t))
    {
      ret = husk_template_render_header (t, NULL, &b, err);
      if (ret < 0)
        goto fail;
      husk_buf_append (&b, "\n", 1);
    }
  for (size_t i = 0; i < husk_json_array_len (rows); i++)
    {
      ret = husk_template_render (t, husk_json_array_at (rows, i), &b, err);
      if (ret < 0)
        goto fail;
      husk_buf_append (&b, "\n", 1);
    }
  husk_buf_append (&b, "", 1);
  text = husk_buf_steal (&b, NULL);
  if (husk_template_is_table (t))
    {
      cleanup_free char *aligned = align_columns (text);
      fputs (aligned, stdout);
    }
  else
    fputs (text, stdout);
  return 0;

fail:
  husk_buf_free (&b);
  return husk_error_wrap (err, "invalid --format");
}

int
cmd_search (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_registry_opts opts;
  struct search_filter filter;
  struct husk_search_result *res = NULL;
  cleanup_json husk_json_t *rows = NULL;
  const char *format = cli_string (a, "format");
  const char *limit_s = cli_string (a, "limit");
  bool list_tags = cli_bool (a, "list-tags");
  /* JSON output is never truncated, as podman.  */
  bool no_trunc = cli_bool (a, "no-trunc") || (format && strcmp (format, "json") == 0);
  uint64_t limit = 0;
  size_t n = 0;
  int ret;

  (void)ctx;
  ret = registry_opts_from_args (a, false, &opts, err);
  if (ret < 0)
    return ret;
  opts.progress = NULL;
  if (limit_s && (!husk_parse_u64 (limit_s, &limit) || limit > 100000))
    return husk_make_error (err, 0, "invalid --limit %s", limit_s);
  ret = parse_filters (cli_strv (a, "filter"), &filter, err);
  if (ret < 0)
    return ret;

  if (list_tags)
    {
      if (cli_strv (a, "filter") && cli_strv (a, "filter")[0])
        return husk_make_error (err, 0, "filters are not applicable to list tags result");
      ret = husk_registry_search_tags (a->argv[0], (size_t)limit, &opts, &res, &n, err);
    }
  else
    ret = husk_registry_search (a->argv[0], (size_t)limit, &opts, &res, &n, err);
  if (ret < 0)
    return ret;

  if (list_tags && format && strcmp (format, "json") == 0)
    rows = tags_json (res, n);
  else
    {
      rows = husk_json_new_array ();
      for (size_t i = 0; i < n; i++)
        if (list_tags || filter_keeps (&filter, &res[i]))
          husk_json_array_append (rows, search_row (&res[i], no_trunc));
    }
  husk_search_results_free (res, n);

  if (format && strcmp (format, "json") == 0)
    {
      cleanup_free char *s = husk_json_serialize (rows, true, NULL);
      printf ("%s\n", s);
      return 0;
    }
  return print_search (rows, format, list_tags, err);
}
