/* husk: inspect, image inspect, history.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "husk/util.h"

static husk_json_t *
clone_or (const husk_json_t *v, husk_json_t *fallback)
{
  if (v == NULL)
    return fallback;
  husk_json_free (fallback);
  return husk_json_clone (v);
}

static const char *
image_comment (const husk_json_t *config)
{
  const husk_json_t *history = husk_json_get (config, "history");
  const char *c = husk_json_get_string (config, "comment");
  size_t i;

  if (c)
    return c;
  for (i = 0; i < husk_json_array_len (history); i++)
    if ((c = husk_json_get_string (husk_json_array_at (history, i), "comment")) != NULL)
      return c;
  return "";
}

int
cli_image_inspect_json (husk_store_t *s, const struct husk_image_record *r, husk_json_t **out,
                        husk_error_t *err)
{
  cleanup_free char *config_raw = NULL;
  cleanup_free char *manifest_raw = NULL;
  cleanup_json husk_json_t *config = NULL;
  cleanup_json husk_json_t *manifest = NULL;
  cleanup_free char *upper = NULL;
  husk_json_t *o, *gd, *gdd, *rootfs;
  const char *mt;
  size_t len;
  int ret;

  ret = husk_store_image_config (s, r->id, &config_raw, &len, err);
  if (ret < 0)
    return ret;
  config = husk_json_parse (config_raw, len, err);
  if (config == NULL)
    return husk_error_wrap (err, "image %.12s: config", r->id);
  ret = husk_store_image_manifest (s, r->id, &manifest_raw, &len, err);
  if (ret < 0)
    return ret;
  manifest = husk_json_parse (manifest_raw, len, err);
  if (manifest == NULL)
    return husk_error_wrap (err, "image %.12s: manifest", r->id);

  o = husk_json_new_object ();
  husk_json_set_string (o, "Id", r->id);
  husk_json_set_string (o, "Digest", r->digest ? r->digest : "");
  husk_json_set (o, "RepoTags", husk_json_from_strv (r->names));
  husk_json_set (o, "RepoDigests", cli_repo_digests (r));
  husk_json_set_string (o, "Parent", "");
  husk_json_set_string (o, "Comment", image_comment (config));
  husk_json_set (o, "Created", clone_or (husk_json_get (config, "created"), husk_json_new_string ("")));
  husk_json_set (o, "Config", clone_or (husk_json_get (config, "config"), husk_json_new_object ()));
  husk_json_set_string (o, "Version", husk_json_get_string (config, "docker_version") ?: "");
  husk_json_set_string (o, "Author", husk_json_get_string (config, "author") ?: "");
  husk_json_set_string (o, "Architecture", husk_json_get_string (config, "architecture") ?: "");
  husk_json_set_string (o, "Os", husk_json_get_string (config, "os") ?: "");
  if (husk_json_get_string (config, "variant"))
    husk_json_set_string (o, "Variant", husk_json_get_string (config, "variant"));
  husk_json_set_int (o, "Size", (int64_t)r->size);
  husk_json_set_int (o, "VirtualSize", (int64_t)r->size);

  gd = husk_json_new_object ();
  husk_json_set_string (gd, "Name", husk_store_driver (s));
  gdd = husk_json_new_object ();
  if (r->layers && r->layers[0])
    {
      size_t n = strv_len (r->layers), i;
      struct husk_buf lower = { 0 };
      upper = husk_store_layer_path (s, r->layers[n - 1]);
      for (i = n - 1; i > 0; i--)
        {
          cleanup_free char *p = husk_store_layer_path (s, r->layers[i - 1]);
          if (lower.len)
            husk_buf_puts (&lower, ":");
          husk_buf_puts (&lower, p);
        }
      if (lower.len)
        husk_json_set_string (gdd, "LowerDir", lower.data);
      husk_buf_free (&lower);
      husk_json_set_string (gdd, "UpperDir", upper);
    }
  husk_json_set (gd, "Data", gdd);
  husk_json_set (o, "GraphDriver", gd);

  rootfs = husk_json_new_object ();
  husk_json_set_string (rootfs, "Type", "layers");
  husk_json_set (rootfs, "Layers", husk_json_from_strv (r->layers));
  husk_json_set (o, "RootFS", rootfs);
  husk_json_set (o, "Labels", r->labels ? husk_json_clone (r->labels) : husk_json_new_null ());
  husk_json_set (o, "Annotations",
                 clone_or (husk_json_get (manifest, "annotations"), husk_json_new_object ()));
  mt = husk_json_get_string (manifest, "mediaType");
  husk_json_set_string (o, "ManifestType", mt ? mt : "application/vnd.oci.image.manifest.v1+json");
  husk_json_set_string (o, "User", husk_json_get_string (husk_json_get (config, "config"), "User") ?: "");
  husk_json_set (o, "History", clone_or (husk_json_get (config, "history"), husk_json_new_array ()));
  husk_json_set (o, "NamesHistory", husk_json_from_strv (r->names));
  *out = o;
  return 0;
}

static int
inspect_images (struct cli_ctx *ctx, struct cli_args *a, bool images_only, husk_error_t *err)
{
  cleanup_json husk_json_t *items = husk_json_new_array ();
  husk_store_t *s;
  int i, ret, missing = 0;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < a->argc; i++)
    {
      struct husk_image_record *r;
      husk_json_t *item;

      ret = cli_image_lookup (s, a->argv[i], &r, err);
      if (ret >= 0)
        ret = cli_image_inspect_json (s, r, &item, err);
      if (ret < 0)
        {
          /* Print what was found, report every name that was not.  */
          if (missing++)
            fputs ("\n", stderr);
          if (images_only)
            fprintf (stderr, "Error: %s", (*err)->msg);
          else
            fprintf (stderr, "Error: no such object: \"%s\"", a->argv[i]);
          husk_error_release (err);
          continue;
        }
      husk_json_array_append (items, item);
    }
  husk_store_unlock (s);
  if (husk_json_array_len (items) > 0 || missing == 0)
    {
      ret = husk_output_inspect (stdout, items, cli_string (a, "format"), err);
      if (ret < 0)
        return ret;
    }
  if (missing)
    {
      fputs ("\n", stderr);
      return HUSK_EXIT_FAILURE;
    }
  return 0;
}

int
cmd_inspect (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *type = cli_string (a, "type");

  if (strcmp (type, "image") != 0 && strcmp (type, "all") != 0 && strcmp (type, "container") != 0)
    return husk_make_error (err, 0, "invalid --type \"%s\": must be image, container or all", type);
  if (strcmp (type, "container") == 0)
    return husk_make_error (err, 0, "no such container: \"%s\"", a->argv[0]);
  return inspect_images (ctx, a, strcmp (type, "image") == 0, err);
}

int
cmd_image_inspect (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  return inspect_images (ctx, a, true, err);
}

static const char *
history_header (const char *field)
{
  if (strcmp (field, "CreatedBy") == 0)
    return "CREATED BY";
  if (strcmp (field, "CreatedSince") == 0)
    return "CREATED";
  return NULL;
}

static char *
truncate_created_by (const char *s, bool no_trunc)
{
  if (no_trunc || strlen (s) <= 45)
    return xstrdup (s);
  return xasprintf ("%.42s...", s);
}

/* One row per history entry, newest first; entries that are not empty
   layers take the image's layers bottom-up, as Docker and Podman do.  */
static int
history_rows (husk_store_t *s, const struct husk_image_record *r, const husk_json_t *config, bool human,
              bool no_trunc, husk_json_t *rows, husk_json_t *json_rows)
{
  const husk_json_t *history = husk_json_get (config, "history");
  size_t n = husk_json_array_len (history), nl = strv_len (r->layers), i, layer = 0;
  husk_json_t **tmp = xzalloc ((n + 1) * sizeof (*tmp));
  husk_json_t **tmpj = xzalloc ((n + 1) * sizeof (*tmpj));

  for (i = 0; i < n; i++)
    {
      const husk_json_t *h = husk_json_array_at (history, i);
      bool empty = husk_json_bool (husk_json_get (h, "empty_layer"), false);
      uint64_t size = 0;
      int64_t created = 0;
      const char *created_s = husk_json_get_string (h, "created");
      const char *by = husk_json_get_string (h, "created_by") ?: "";
      const char *comment = husk_json_get_string (h, "comment") ?: "";
      const char *id = i + 1 == n ? r->id : "<missing>";
      cleanup_free char *by_t = truncate_created_by (by, no_trunc);
      cleanup_free char *id_t = strcmp (id, "<missing>") == 0 || no_trunc ? xstrdup (id) : xstrndup (id, 12);
      husk_json_t *row = husk_json_new_object ();
      husk_json_t *j = husk_json_new_object ();

      if (!empty && layer < nl)
        size = husk_store_layer_size (s, r->layers[layer++]);
      if (created_s)
        husk_parse_rfc3339 (created_s, &created);
      husk_json_set_string (row, "ID", id_t);
      if (human)
        {
          cleanup_free char *ago = husk_human_ago (created / 1000000000LL);
          cleanup_free char *sz = husk_human_size (size);
          husk_json_set_string (row, "Created", ago);
          husk_json_set_string (row, "Size", sz);
        }
      else
        {
          cleanup_free char *at = cli_format_time (created);
          cleanup_free char *sz = xasprintf ("%llu", (unsigned long long)size);
          husk_json_set_string (row, "Created", at);
          husk_json_set_string (row, "Size", sz);
        }
      husk_json_set_string (row, "CreatedSince", husk_json_get_string (row, "Created"));
      husk_json_set_string (row, "CreatedAt", created_s ? created_s : "");
      husk_json_set_string (row, "CreatedBy", by_t);
      husk_json_set_string (row, "Comment", comment);
      tmp[n - 1 - i] = row;

      husk_json_set_string (j, "id", id);
      husk_json_set_string (j, "created", created_s ? created_s : "");
      husk_json_set_string (j, "createdBy", by);
      husk_json_set_int (j, "size", (int64_t)size);
      husk_json_set_string (j, "comment", comment);
      husk_json_set (j, "tags", i + 1 == n ? husk_json_from_strv (r->names) : husk_json_new_null ());
      tmpj[n - 1 - i] = j;
    }
  for (i = 0; i < n; i++)
    {
      husk_json_array_append (rows, tmp[i]);
      husk_json_array_append (json_rows, tmpj[i]);
    }
  free (tmp);
  free (tmpj);
  return 0;
}

/* An image with no history gets one synthetic entry per layer.  */
static void
synthesize_history (const struct husk_image_record *r, husk_json_t *config)
{
  husk_json_t *h = husk_json_new_array ();
  size_t i;
  for (i = 0; r->layers && r->layers[i]; i++)
    {
      husk_json_t *e = husk_json_new_object ();
      if (husk_json_get_string (config, "created"))
        husk_json_set_string (e, "created", husk_json_get_string (config, "created"));
      husk_json_array_append (h, e);
    }
  husk_json_set (config, "history", h);
}

int
cmd_history (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  static const struct husk_listing listing
      = { "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", "ID", history_header };
  cleanup_json husk_json_t *rows = husk_json_new_array ();
  cleanup_json husk_json_t *json_rows = husk_json_new_array ();
  cleanup_json husk_json_t *config = NULL;
  cleanup_free char *raw = NULL;
  struct husk_image_record *r;
  struct husk_output_opts o;
  husk_store_t *s;
  size_t len;
  int ret;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = cli_image_lookup (s, a->argv[0], &r, err);
  if (ret >= 0)
    ret = husk_store_image_config (s, r->id, &raw, &len, err);
  if (ret >= 0 && (config = husk_json_parse (raw, len, err)) == NULL)
    ret = -1;
  if (ret >= 0)
    {
      if (husk_json_array_len (husk_json_get (config, "history")) == 0)
        synthesize_history (r, config);
      ret = history_rows (s, r, config, cli_bool (a, "human"), cli_bool (a, "no-trunc"), rows, json_rows);
    }
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  cli_output_opts (a, &o);
  if (o.format && strcmp (o.format, "json") == 0)
    return husk_output_inspect (stdout, json_rows, NULL, err);
  return husk_output_list (stdout, rows, &listing, &o, err);
}
