/* husk: searching registries.

   The distribution spec has no search: a registry lists its repositories
   at GET /v2/_catalog (paginated with Link, often restricted), and husk
   keeps those whose path contains the term, as podman does.  Docker Hub
   (and registries imitating it) answer GET /v1/search?q=TERM&n=N with
   descriptions, stars and flags; that is asked first and used when it
   answers with its JSON.  */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "husk/json.h"
#include "husk/registry.h"
#include "husk/util.h"

#define DEFAULT_LIMIT 25
/* Enough for any registry a catalog search makes sense on.  */
#define CATALOG_PAGE      1000
#define CATALOG_MAX_PAGES 20

void
husk_search_results_free (struct husk_search_result *r, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (r[i].index);
      free (r[i].name);
      free (r[i].description);
      free (r[i].tag);
    }
  free (r);
}

struct results
{
  struct husk_search_result *v;
  size_t n;
};

static struct husk_search_result *
results_add (struct results *r, const char *index, const char *name)
{
  struct husk_search_result *e;

  r->v = xrealloc (r->v, (r->n + 1) * sizeof (*r->v));
  e = &r->v[r->n++];
  memset (e, 0, sizeof (*e));
  e->index = xstrdup (index);
  e->name = xstrdup (name);
  e->description = xstrdup ("");
  return e;
}

/* "host/rest" when the first component names a registry.  */
static bool
split_host (const char *s, char **host, char **rest)
{
  const char *slash = strchr (s, '/');
  cleanup_free char *first = NULL;

  if (slash == NULL)
    return false;
  first = xstrndup (s, slash - s);
  if (strchr (first, '.') == NULL && strchr (first, ':') == NULL && strcmp (first, "localhost") != 0)
    return false;
  *host = steal_pointer (&first);
  *rest = xstrdup (slash + 1);
  return true;
}

/* Where to reach a registry named by the user: registries.conf may mark
   it insecure or rewrite its location.  */
static int
open_client (const char *host, const char *repository, const struct husk_registry_opts *opts,
             husk_registry_client_t **c, husk_error_t *err)
{
  cleanup_registries_conf husk_registries_conf_t *conf = NULL;
  struct husk_registry_endpoint *eps = NULL;
  size_t n = 0;
  bool insecure = false;
  int ret;

  ret = husk_registries_conf_load (&conf, err);
  if (ret < 0)
    return ret;
  ret = husk_registries_conf_endpoints (conf, host, repository ? repository : "", &eps, &n, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; i < n; i++)
    if (!eps[i].mirror)
      insecure = eps[i].insecure;
  husk_registry_endpoints_free (eps, n);
  return husk_registry_client_new (host, repository, false, opts, insecure, c, err);
}

/* 1 when the registry speaks Docker Hub's v1 search, 0 when not.  */
static int
search_v1 (husk_registry_client_t *c, const char *index, const char *term, size_t limit, struct results *out,
           husk_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_json husk_json_t *doc = NULL;
  struct husk_registry_request req = { .path = NULL, .body_fd = -1 };
  struct husk_registry_response res = { 0 };
  husk_error_t ignored = NULL;
  husk_json_t *list;
  char *q = NULL;
  int ret;

  {
    struct husk_buf b = { 0 };
    for (const char *p = term; *p; p++)
      {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
            || strchr ("-._~", ch))
          husk_buf_append (&b, p, 1);
        else
          husk_buf_printf (&b, "%%%02X", ch);
      }
    husk_buf_append (&b, "", 1);
    q = husk_buf_steal (&b, NULL);
  }
  path = xasprintf ("/v1/search?q=%s&n=%zu", q, limit);
  free (q);
  req.path = path;
  ret = husk_registry_request (c, &req, &res, err);
  if (ret < 0)
    return ret;
  if (res.status != 200)
    {
      husk_registry_response_clear (&res);
      return 0;
    }
  doc = husk_json_parse (res.body, res.body_len, &ignored);
  husk_registry_response_clear (&res);
  husk_error_release (&ignored);
  list = doc ? husk_json_get (doc, "results") : NULL;
  if (list == NULL || husk_json_type (list) != HUSK_JSON_ARRAY)
    return 0;
  for (size_t i = 0; i < husk_json_array_len (list) && out->n < limit; i++)
    {
      husk_json_t *e = husk_json_array_at (list, i);
      const char *name = husk_json_get_string (e, "name");
      const char *desc = husk_json_get_string (e, "description");
      struct husk_search_result *r;
      cleanup_free char *full = NULL;

      if (name == NULL)
        continue;
      /* Docker Hub names official images without "library/".  */
      full = xasprintf ("%s/%s", index, name);
      r = results_add (out, index, full);
      if (desc)
        {
          free (r->description);
          r->description = xstrdup (desc);
        }
      r->stars = husk_json_int (husk_json_get (e, "star_count"), 0);
      r->official = husk_json_bool (husk_json_get (e, "is_official"), false);
      r->automated = husk_json_bool (husk_json_get (e, "is_automated"), false);
    }
  return 1;
}

static int
search_catalog (husk_registry_client_t *c, const char *index, const char *term, size_t limit,
                struct results *out, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/v2/_catalog?n=%d", CATALOG_PAGE);

  for (int page = 0; page < CATALOG_MAX_PAGES && path; page++)
    {
      struct husk_registry_request req = { .path = path, .body_fd = -1, .extra_scope = "registry:catalog:*" };
      struct husk_registry_response res = { 0 };
      cleanup_json husk_json_t *doc = NULL;
      husk_json_t *repos;
      int ret;

      ret = husk_registry_request (c, &req, &res, err);
      if (ret < 0)
        return ret;
      if (res.status != 200)
        {
          ret = husk_registry_response_error (&res, err);
          husk_registry_response_clear (&res);
          return husk_error_wrap (err, "listing the repositories of %s", index);
        }
      doc = husk_json_parse (res.body, res.body_len, err);
      if (doc == NULL)
        {
          husk_registry_response_clear (&res);
          return husk_error_wrap (err, "reading the catalog of %s", index);
        }
      repos = husk_json_get (doc, "repositories");
      for (size_t i = 0; i < husk_json_array_len (repos) && out->n < limit; i++)
        {
          const char *repo = husk_json_string (husk_json_array_at (repos, i));
          cleanup_free char *full = NULL;
          if (repo == NULL || strstr (repo, term) == NULL)
            continue;
          full = xasprintf ("%s/%s", index, repo);
          results_add (out, index, full);
        }
      free (path);
      path = NULL;
      /* Link: </v2/_catalog?last=x&n=1000>; rel="next" */
      if (out->n < limit && res.link && strchr (res.link, '<') && strchr (res.link, '>'))
        {
          const char *a = strchr (res.link, '<') + 1;
          const char *b = strchr (a, '>');
          if (b > a)
            path = xstrndup (a, b - a);
        }
      husk_registry_response_clear (&res);
    }
  return 0;
}

static int
search_one (const char *host, const char *term, size_t limit, const struct husk_registry_opts *opts,
            struct results *out, husk_error_t *err)
{
  cleanup_registry_client husk_registry_client_t *c = NULL;
  size_t before = out->n;
  struct results mine = { 0 };
  int ret;

  ret = open_client (host, NULL, opts, &c, err);
  if (ret < 0)
    return ret;
  ret = search_v1 (c, host, term, limit, &mine, err);
  if (ret == 0)
    ret = search_catalog (c, host, term, limit, &mine, err);
  if (ret < 0)
    {
      husk_search_results_free (mine.v, mine.n);
      return husk_error_wrap (err, "searching %s", host);
    }
  out->v = xrealloc (out->v, (before + mine.n + 1) * sizeof (*out->v));
  memcpy (out->v + before, mine.v, mine.n * sizeof (*mine.v));
  out->n = before + mine.n;
  free (mine.v);
  return 0;
}

int
husk_registry_search (const char *term, size_t limit, const struct husk_registry_opts *opts,
                      struct husk_search_result **out, size_t *n, husk_error_t *err)
{
  cleanup_free char *host = NULL;
  cleanup_free char *rest = NULL;
  struct results res = { 0 };
  int ret;

  if (limit == 0)
    limit = DEFAULT_LIMIT;
  if (split_host (term, &host, &rest))
    ret = search_one (host, rest, limit, opts, &res, err);
  else
    {
      cleanup_registries_conf husk_registries_conf_t *conf = NULL;
      char *const *regs;
      size_t failed = 0, tried = 0;

      ret = husk_registries_conf_load (&conf, err);
      if (ret < 0)
        return ret;
      regs = husk_registries_conf_search (conf);
      if (regs[0] == NULL)
        return husk_make_error (err, 0,
                                "no registries to search for \"%s\": name one (HOST/%s) or set "
                                "unqualified-search-registries in registries.conf",
                                term, term);
      /* One registry failing does not hide what the others found.  */
      for (size_t i = 0; regs[i]; i++)
        {
          husk_error_t one = NULL;
          tried++;
          if (search_one (regs[i], term, limit, opts, &res, &one) < 0)
            {
              failed++;
              if (*err == NULL)
                *err = steal_pointer (&one);
              else
                husk_error_release (&one);
            }
        }
      ret = failed == tried ? -1 : 0;
      if (ret == 0 && *err)
        {
          husk_warn ("%s", (*err)->msg);
          husk_error_release (err);
        }
    }
  if (ret < 0)
    {
      husk_search_results_free (res.v, res.n);
      return ret;
    }
  *out = res.v;
  *n = res.n;
  return 0;
}

int
husk_registry_search_tags (const char *ref, size_t limit, const struct husk_registry_opts *opts,
                           struct husk_search_result **out, size_t *n, husk_error_t *err)
{
  cleanup_registry_client husk_registry_client_t *c = NULL;
  cleanup_reference struct husk_reference *r = NULL;
  cleanup_strv char **tags = NULL;
  cleanup_free char *name = NULL;
  struct results res = { 0 };
  int ret;

  ret = husk_reference_parse (ref, &r, err);
  if (ret < 0)
    return ret;
  /* podman lists the repository's tags whatever tag was named.  */
  husk_reference_normalize_remote (r, "docker.io");
  ret = open_client (r->domain, r->path, opts, &c, err);
  if (ret < 0)
    return ret;
  ret = husk_registry_list_tags (c, &tags, err);
  if (ret < 0)
    return ret;
  name = xasprintf ("%s/%s", r->domain, r->path);
  for (size_t i = 0; tags && tags[i] && (limit == 0 || res.n < limit); i++)
    {
      struct husk_search_result *e = results_add (&res, r->domain, name);
      e->tag = xstrdup (tags[i]);
    }
  *out = res.v;
  *n = res.n;
  return 0;
}
