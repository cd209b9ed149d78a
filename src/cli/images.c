/* husk: images, tag, untag, rmi, image exists, image prune.  */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "husk/util.h"

/* Split "repo:tag" / "repo@digest" / "repo:tag@digest" into its parts.  */
static void
split_name (const char *name, char **repo, char **tag)
{
  const char *at = strchr (name, '@');
  const char *slash, *colon;
  size_t end = at ? (size_t)(at - name) : strlen (name);

  slash = memrchr (name, '/', end);
  colon = memrchr (slash ? slash : name, ':', end - (size_t)((slash ? slash : name) - name));
  if (colon)
    {
      *repo = xstrndup (name, (size_t)(colon - name));
      *tag = xstrndup (colon + 1, end - (size_t)(colon + 1 - name));
    }
  else
    {
      *repo = xstrndup (name, end);
      *tag = xstrdup ("<none>");
    }
}

/* Podman's CreatedAt: Go's time.String () in UTC.  */
static char *
created_at (int64_t ns)
{
  cleanup_free char *t = cli_format_time (ns);
  /* "2024-01-01T00:00:00Z" -> "2024-01-01 00:00:00 +0000 UTC" */
  t[10] = ' ';
  t[19] = '\0';
  return xasprintf ("%s +0000 UTC", t);
}

struct image_filters
{
  int dangling; /* -1 unset */
  char **references;
  char **labels;
  int64_t before, since; /* created, 0 unset */
};

static void
image_filters_clear (struct image_filters *f)
{
  strv_free (f->references);
  strv_free (f->labels);
}

static int
created_of (husk_store_t *s, const char *arg, int64_t *out, husk_error_t *err)
{
  struct husk_image_record *r;
  int ret = cli_image_lookup (s, arg, &r, err);
  if (ret < 0)
    return ret;
  *out = r->created ? r->created : 1;
  return 0;
}

static int
parse_image_filters (husk_store_t *s, char *const *filters, struct image_filters *f, husk_error_t *err)
{
  size_t i;

  memset (f, 0, sizeof (*f));
  f->dangling = -1;
  for (i = 0; filters && filters[i]; i++)
    {
      const char *eq = strchr (filters[i], '=');
      const char *v = eq ? eq + 1 : "";
      size_t klen = eq ? (size_t)(eq - filters[i]) : strlen (filters[i]);
      int ret = 0;

      if (klen == 8 && strncmp (filters[i], "dangling", 8) == 0)
        {
          if (strcmp (v, "true") != 0 && strcmp (v, "false") != 0)
            return husk_make_error (err, 0, "invalid filter \"%s\": dangling must be true or false",
                                    filters[i]);
          f->dangling = strcmp (v, "true") == 0;
        }
      else if (klen == 9 && strncmp (filters[i], "reference", 9) == 0)
        strv_append (&f->references, v);
      else if (klen == 5 && strncmp (filters[i], "label", 5) == 0)
        strv_append (&f->labels, v);
      else if (klen == 6 && strncmp (filters[i], "before", 6) == 0)
        ret = created_of (s, v, &f->before, err);
      else if (klen == 5 && strncmp (filters[i], "since", 5) == 0)
        ret = created_of (s, v, &f->since, err);
      else
        return husk_make_error (
            err, 0,
            "invalid filter \"%.*s\": supported filters are dangling, reference, label, before, since",
            (int)klen, filters[i]);
      if (ret < 0)
        return husk_error_wrap (err, "filter \"%s\"", filters[i]);
      if (eq == NULL || *v == '\0')
        return husk_make_error (err, 0, "invalid filter \"%s\": a value is required", filters[i]);
    }
  return 0;
}

/* reference=PATTERN matches the full name, the name without domain, or the
   last path component, with or without the tag, as Podman does.  */
static bool
reference_matches (const char *pattern, const char *name)
{
  cleanup_free char *repo = NULL;
  cleanup_free char *tag = NULL;
  const char *p;
  bool has_tag = strchr (strrchr (pattern, '/') ? strrchr (pattern, '/') : pattern, ':') != NULL;

  split_name (name, &repo, &tag);
  for (p = repo; p; p = strchr (p, '/') ? strchr (p, '/') + 1 : NULL)
    {
      cleanup_free char *candidate = has_tag ? xasprintf ("%s:%s", p, tag) : xstrdup (p);
      if (fnmatch (pattern, candidate, 0) == 0)
        return true;
    }
  return false;
}

static bool
labels_match (const husk_json_t *labels, char *const *want)
{
  size_t i;
  for (i = 0; want && want[i]; i++)
    {
      const char *eq = strchr (want[i], '=');
      cleanup_free char *key = eq ? xstrndup (want[i], (size_t)(eq - want[i])) : xstrdup (want[i]);
      husk_json_t *v = husk_json_get (labels, key);
      if (v == NULL)
        return false;
      if (eq && (husk_json_string (v) == NULL || strcmp (husk_json_string (v), eq + 1) != 0))
        return false;
    }
  return true;
}

static bool
image_selected (const struct husk_image_record *r, const struct image_filters *f)
{
  bool dangling = strv_len (r->names) == 0;
  size_t i, j;

  if (f->dangling >= 0 && dangling != (bool)f->dangling)
    return false;
  if (f->before && !(r->created < f->before))
    return false;
  if (f->since && !(r->created > f->since))
    return false;
  if (!labels_match (r->labels, f->labels))
    return false;
  for (i = 0; f->references && f->references[i]; i++)
    {
      bool any = false;
      for (j = 0; r->names && r->names[j] && !any; j++)
        any = reference_matches (f->references[i], r->names[j]);
      if (!any)
        return false;
    }
  return true;
}

static husk_json_t *
image_json (husk_store_t *s, const struct husk_image_record *r)
{
  husk_json_t *o = husk_json_new_object ();
  cleanup_free char *at = husk_format_rfc3339 (r->created);

  husk_json_set_string (o, "Id", r->id);
  husk_json_set_string (o, "ParentId", "");
  husk_json_set (o, "RepoTags", husk_json_new_null ());
  husk_json_set (o, "RepoDigests", cli_repo_digests (r));
  husk_json_set_int (o, "Size", (int64_t)r->size);
  husk_json_set_int (o, "SharedSize", 0);
  husk_json_set_int (o, "VirtualSize", (int64_t)r->size);
  husk_json_set (o, "Labels", r->labels ? husk_json_clone (r->labels) : husk_json_new_null ());
  husk_json_set_int (o, "Containers", husk_store_image_in_use (s, r->id) ? 1 : 0);
  husk_json_set (o, "Names", husk_json_from_strv (r->names));
  husk_json_set_string (o, "Digest", r->digest ? r->digest : "");
  husk_json_set_bool (o, "Dangling", strv_len (r->names) == 0);
  husk_json_set_int (o, "Created", r->created / 1000000000LL);
  husk_json_set_string (o, "CreatedAt", at);
  return o;
}

static husk_json_t *
image_row (const struct husk_image_record *r, const char *name, bool no_trunc)
{
  husk_json_t *o = husk_json_new_object ();
  cleanup_free char *repo = NULL;
  cleanup_free char *tag = NULL;
  cleanup_free char *ago = husk_human_ago (r->created / 1000000000LL);
  cleanup_free char *size = husk_human_size (r->size);
  cleanup_free char *at = created_at (r->created);
  cleanup_free char *id = no_trunc ? xasprintf ("sha256:%s", r->id) : xstrndup (r->id, 12);

  if (name)
    split_name (name, &repo, &tag);
  husk_json_set_string (o, "ID", id);
  husk_json_set_string (o, "Id", r->id);
  husk_json_set_string (o, "Repository", repo ? repo : "<none>");
  husk_json_set_string (o, "Tag", tag ? tag : "<none>");
  husk_json_set_string (o, "Digest", r->digest ? r->digest : "<none>");
  husk_json_set_string (o, "Created", ago);
  husk_json_set_string (o, "CreatedSince", ago);
  husk_json_set_string (o, "CreatedAt", at);
  husk_json_set_string (o, "Size", size);
  husk_json_set_string (o, "VirtualSize", size);
  husk_json_set (o, "Labels", r->labels ? husk_json_clone (r->labels) : husk_json_new_object ());
  husk_json_set (o, "Names", husk_json_from_strv (r->names));
  husk_json_set_bool (o, "Dangling", strv_len (r->names) == 0);
  return o;
}

static const char *
images_header (const char *field)
{
  if (strcmp (field, "ID") == 0 || strcmp (field, "Id") == 0)
    return "IMAGE ID";
  if (strcmp (field, "CreatedSince") == 0)
    return "CREATED";
  return NULL;
}

static int
compare_created_desc (const void *a, const void *b)
{
  const struct husk_image_record *ra = *(struct husk_image_record *const *)a;
  const struct husk_image_record *rb = *(struct husk_image_record *const *)b;
  if (ra->created != rb->created)
    return ra->created < rb->created ? 1 : -1;
  return ra->added < rb->added ? 1 : (ra->added > rb->added ? -1 : 0);
}

static int
print_images (husk_store_t *s, struct cli_args *a, struct husk_image_record **sel, size_t n,
              husk_error_t *err)
{
  cleanup_json husk_json_t *rows = husk_json_new_array ();
  struct husk_output_opts o;
  struct husk_listing listing
      = { "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}", "ID", images_header };
  bool no_trunc = cli_bool (a, "no-trunc");
  size_t i, j;

  cli_output_opts (a, &o);
  if (cli_bool (a, "digests"))
    listing.default_format = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.Created}}\t{{.Size}}";
  if (o.format && strcmp (o.format, "json") == 0)
    {
      for (i = 0; i < n; i++)
        husk_json_array_append (rows, image_json (s, sel[i]));
      return husk_output_inspect (stdout, rows, NULL, err);
    }
  for (i = 0; i < n; i++)
    {
      if (o.quiet || strv_len (sel[i]->names) == 0)
        husk_json_array_append (rows, image_row (sel[i], NULL, no_trunc));
      else
        for (j = 0; sel[i]->names[j]; j++)
          husk_json_array_append (rows, image_row (sel[i], sel[i]->names[j], no_trunc));
    }
  return husk_output_list (stdout, rows, &listing, &o, err);
}

int
cmd_images (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct image_filters f;
  struct husk_image_record *const *images;
  cleanup_free struct husk_image_record **sel = NULL;
  husk_store_t *s;
  size_t n, i, nsel = 0;
  int ret;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = parse_image_filters (s, cli_strv (a, "filter"), &f, err);
  if (ret < 0)
    goto out;
  if (a->argc == 1)
    {
      cleanup_reference struct husk_reference *ref = NULL;
      ret = husk_reference_parse (a->argv[0], &ref, err);
      if (ret < 0)
        goto out;
      strv_append (&f.references, a->argv[0]);
    }
  ret = husk_store_images (s, &images, &n, err);
  if (ret < 0)
    goto out;
  sel = xzalloc ((n + 1) * sizeof (*sel));
  for (i = 0; i < n; i++)
    if ((!images[i]->intermediate || cli_bool (a, "all")) && image_selected (images[i], &f))
      sel[nsel++] = images[i];
  qsort (sel, nsel, sizeof (*sel), compare_created_desc);
  ret = print_images (s, a, sel, nsel, err);
out:
  image_filters_clear (&f);
  husk_store_unlock (s);
  return ret;
}

int
cmd_image_exists (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_image_record *r;
  husk_store_t *s;
  int ret;

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = cli_image_lookup (s, a->argv[0], &r, err);
  husk_store_unlock (s);
  if (ret < 0)
    {
      /* "not known" is the answer, not a failure; a malformed name is.  */
      if (strstr ((*err)->msg, "image not known"))
        {
          husk_error_release (err);
          return 1;
        }
      return ret;
    }
  return 0;
}

int
cmd_tag (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_image_record *r;
  cleanup_strv char **names = NULL;
  cleanup_free char *id = NULL;
  husk_store_t *s;
  int i, ret;

  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  /* Validate every new name before changing anything.  */
  for (i = 1; i < a->argc; i++)
    {
      char *name;
      ret = cli_local_name (a->argv[i], &name, err);
      if (ret < 0)
        return ret;
      strv_append_take (&names, name);
    }
  ret = husk_store_lock (s, true, err);
  if (ret < 0)
    return ret;
  ret = cli_image_lookup (s, a->argv[0], &r, err);
  if (ret >= 0)
    {
      cleanup_strv char **all = strv_dup (r->names);
      for (i = 0; names[i]; i++)
        if (!strv_contains (all, names[i]))
          strv_append (&all, names[i]);
      id = xstrdup (r->id);
      ret = husk_store_image_set_names (s, id, all, err);
      for (i = 0; ret >= 0 && names[i]; i++)
        husk_store_event (s, "image", "tag", id, names[i], NULL);
    }
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

int
cmd_untag (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_image_record *r;
  cleanup_strv char **remaining = NULL;
  cleanup_strv char **before = NULL;
  cleanup_free char *id = NULL;
  husk_store_t *s;
  int i, ret;

  ret = cli_store_lock_writer (ctx, true, &s, err);
  if (ret < 0)
    return ret;
  ret = cli_image_lookup (s, a->argv[0], &r, err);
  if (ret < 0)
    goto out;
  id = xstrdup (r->id);
  before = strv_dup (r->names);
  remaining = strv_dup (r->names);
  for (i = 1; i < a->argc; i++)
    {
      cleanup_free char *name = NULL;
      ret = cli_local_name (a->argv[i], &name, err);
      if (ret < 0)
        goto out;
      if (strv_remove (remaining, name) == 0)
        {
          ret = husk_make_error (err, 0, "%s: tag not known on image %.12s", a->argv[i], id);
          goto out;
        }
    }
  if (a->argc == 1)
    {
      strv_free (remaining);
      remaining = NULL;
    }
  ret = husk_store_image_set_names (s, id, remaining, err);
  for (i = 0; ret >= 0 && before[i]; i++)
    if (!strv_contains (remaining, before[i]))
      husk_store_event (s, "image", "untag", id, before[i], NULL);
out:
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

/* The stored name the user's argument refers to, or NULL when it named the
   image by id.  */
static const char *
matched_name (const struct husk_image_record *r, const char *arg)
{
  cleanup_reference struct husk_reference *ref = NULL;
  husk_error_t err = NULL;
  const char *key = husk_has_prefix (arg, "sha256:") ? arg + 7 : arg;
  size_t i;

  if (husk_has_prefix (r->id, key))
    return NULL;
  if (husk_reference_parse (arg, &ref, &err) < 0)
    {
      husk_error_release (&err);
      return NULL;
    }
  for (i = 0; r->names && r->names[i]; i++)
    if (strcmp (r->names[i], arg) == 0 || husk_reference_matches (ref, r->names[i]))
      return r->names[i];
  return NULL;
}

static int
remove_image (husk_store_t *s, const struct husk_image_record *r, husk_error_t *err)
{
  cleanup_free char *id = xstrdup (r->id);
  cleanup_strv char **names = strv_dup (r->names);
  size_t i;
  int ret;

  ret = husk_store_image_remove (s, id, err);
  if (ret < 0)
    return ret;
  for (i = 0; names[i]; i++)
    {
      husk_store_event (s, "image", "untag", id, names[i], NULL);
      printf ("Untagged: %s\n", names[i]);
    }
  husk_store_event (s, "image", "remove", id, names[0], NULL);
  printf ("Deleted: %s\n", id);
  return 0;
}

static int
rmi_one (husk_store_t *s, const char *arg, bool force, husk_error_t *err)
{
  struct husk_image_record *r;
  const char *name;
  int ret;

  ret = cli_image_lookup (s, arg, &r, err);
  if (ret < 0 && force && strstr ((*err)->msg, "image not known"))
    {
      /* Podman: -f makes a missing image not an error.  */
      husk_error_release (err);
      return 0;
    }
  if (ret < 0)
    return ret;
  name = matched_name (r, arg);
  if (name && strv_len (r->names) > 1)
    {
      cleanup_strv char **remaining = strv_dup (r->names);
      cleanup_free char *untagged = xstrdup (name);
      /* r does not outlive the change.  */
      cleanup_free char *id = xstrdup (r->id);
      strv_remove (remaining, untagged);
      ret = husk_store_image_set_names (s, id, remaining, err);
      if (ret < 0)
        return ret;
      husk_store_event (s, "image", "untag", id, untagged, NULL);
      printf ("Untagged: %s\n", untagged);
      return 0;
    }
  if (name == NULL && strv_len (r->names) > 1 && !force)
    return husk_make_error (
        err, 0, "unable to delete image %s (must force) - image is referenced in multiple repositories",
        r->id);
  if (husk_store_image_in_use (s, r->id))
    return husk_make_error (err, 0, "image %.12s is in use by a container: remove the container first",
                            r->id);
  return remove_image (s, r, err);
}

int
cmd_rmi (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  bool all = cli_bool (a, "all"), force = cli_bool (a, "force");
  husk_store_t *s;
  int i, ret, failed = 0;

  if (all && a->argc > 0)
    return husk_make_error (err, 0, "when using the --all switch, you may not pass any image names or IDs");
  if (!all && a->argc == 0)
    return husk_make_error (err, 0, "image name or ID must be specified");
  ret = cli_store_lock_writer (ctx, true, &s, err);
  if (ret < 0)
    return ret;
  if (all)
    {
      struct husk_image_record *const *images;
      size_t n;
      cleanup_strv char **ids = NULL;

      ret = husk_store_images (s, &images, &n, err);
      for (i = 0; ret >= 0 && (size_t)i < n; i++)
        strv_append (&ids, images[i]->id);
      for (i = 0; ret >= 0 && ids && ids[i]; i++)
        {
          struct husk_image_record *r;
          if (husk_store_image_find (s, ids[i], &r, err) > 0)
            {
              /* Even with -f: a container's rootfs is made of these
                 layers, so the container must go first (husk rm -f).  */
              if (husk_store_image_in_use (s, r->id))
                ret = husk_make_error (
                    err, 0, "image %.12s is in use by a container: remove the container first", r->id);
              else
                ret = remove_image (s, r, err);
            }
        }
      husk_store_unlock (s);
      return ret < 0 ? ret : 0;
    }
  /* Without -f, every name must resolve before anything is removed, so a
     typo never leaves a half-done removal behind.  */
  for (i = 0; !force && i < a->argc; i++)
    {
      struct husk_image_record *r;
      ret = cli_image_lookup (s, a->argv[i], &r, err);
      if (ret < 0)
        {
          husk_store_unlock (s);
          return ret;
        }
    }
  for (i = 0; i < a->argc; i++)
    {
      ret = rmi_one (s, a->argv[i], force, err);
      if (ret < 0)
        {
          /* Report and go on with the others, like podman; the last error
             is the one main () reports.  */
          failed++;
          if (i + 1 < a->argc)
            {
              fprintf (stderr, "Error: %s\n", (*err)->msg);
              husk_error_release (err);
            }
        }
    }
  husk_store_unlock (s);
  if (failed && *err == NULL)
    return husk_make_error (err, 0, "%d image(s) could not be removed", failed);
  return failed ? -1 : 0;
}

int
cmd_image_prune (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  bool all = cli_bool (a, "all");
  struct husk_image_record *const *images;
  cleanup_strv char **ids = NULL;
  husk_store_t *s;
  size_t n, i;
  int ret;

  if (!cli_bool (a, "force")
      && !cli_confirm (
          all ? "WARNING! This command removes all images without at least one container associated with "
                "them.\nAre you sure you want to continue?"
              : "WARNING! This command removes all dangling images.\nAre you sure you want to continue?"))
    return 0;
  ret = cli_store_lock_writer (ctx, true, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_store_images (s, &images, &n, err);
  for (i = 0; ret >= 0 && i < n; i++)
    if ((all || strv_len (images[i]->names) == 0) && !husk_store_image_in_use (s, images[i]->id))
      strv_append (&ids, images[i]->id);
  for (i = 0; ret >= 0 && ids && ids[i]; i++)
    {
      ret = husk_store_image_remove (s, ids[i], err);
      if (ret >= 0)
        husk_store_event (s, "image", "remove", ids[i], NULL, NULL);
      if (ret >= 0)
        printf ("%s\n", ids[i]);
    }
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}
