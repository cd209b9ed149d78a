/* husk: registries.conf (v2, and the v1 [registries.*] form converted the
   way containers/image does), short-name resolution and certs.d lookup.

   Semantics follow containers/image's sysregistriesv2:
   - [[registry]] prefix defaults to location; the longest matching prefix
     wins; a prefix matches "domain/path" at a '/', ':' or '@' boundary, or
     whole.  A "*.example.com" prefix matches any subdomain of example.com
     and then location must be empty: the reference is kept as it is.
   - the pull goes to the mirrors first, then the registry itself, each
     with the matched prefix rewritten to its location.
   - drop-ins (the .conf files of registries.conf.d, by name) are merged: a
     registry with the same prefix replaces the earlier one, keys that a
     later file sets (unqualified-search-registries) replace earlier ones,
     [aliases] are merged key by key (an empty value removes an alias).
   husk_registries_conf_endpoints () takes an empty path for questions
   about a host alone (is it insecure, blocked?), as login and search ask.
   Not supported: mirror-by-digest-only and pull-from-mirror (the endpoint
   query carries no tag or digest), short-name-mode (there is never a
   prompt), credential-helpers.  */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/image.h"
#include "husk/registry.h"
#include "husk/toml.h"
#include "husk/userns.h"
#include "husk/util.h"

#define SYSTEM_CONF     "/etc/containers/registries.conf"
#define SYSTEM_CONF_DIR "/etc/containers/registries.conf.d"

struct conf_endpoint
{
  char *location;
  bool insecure;
};

struct conf_registry
{
  char *prefix;
  char *location; /* "" only with a wildcard prefix */
  bool insecure;
  bool blocked;
  struct conf_endpoint *mirrors;
  size_t n_mirrors;
};

struct husk_registries_conf
{
  char **search; /* never NULL */
  struct conf_registry *regs;
  size_t n_regs;
  husk_json_t *aliases; /* short name -> fully qualified name */
};

static void
conf_registry_clear (struct conf_registry *r)
{
  size_t i;

  free (r->prefix);
  free (r->location);
  for (i = 0; i < r->n_mirrors; i++)
    free (r->mirrors[i].location);
  free (r->mirrors);
  memset (r, 0, sizeof (*r));
}

void
husk_registries_conf_free (husk_registries_conf_t *c)
{
  size_t i;

  if (c == NULL)
    return;
  strv_free (c->search);
  for (i = 0; i < c->n_regs; i++)
    conf_registry_clear (&c->regs[i]);
  free (c->regs);
  husk_json_free (c->aliases);
  free (c);
}

void
cleanup_registries_confp (husk_registries_conf_t **c)
{
  husk_registries_conf_free (*c);
}

static husk_registries_conf_t *
conf_new (void)
{
  husk_registries_conf_t *c = xzalloc (sizeof (*c));

  c->search = xzalloc (sizeof (char *));
  c->aliases = husk_json_new_object ();
  return c;
}

char *const *
husk_registries_conf_search (const husk_registries_conf_t *c)
{
  static char *const empty[] = { NULL };

  return c && c->search ? c->search : empty;
}

/* Trailing slashes go; an empty value or a URL scheme is an error.  */
static int
parse_location (const char *file, const char *what, const char *input, char **out, husk_error_t *err)
{
  size_t len = strlen (input);
  const char *star;

  while (len > 0 && input[len - 1] == '/')
    len--;
  if (len == 0)
    return husk_make_error (err, 0, "%s: invalid %s: cannot be empty", file, what);
  if (husk_has_prefix (input, "http://") || husk_has_prefix (input, "https://"))
    return husk_make_error (err, 0, "%s: invalid %s `%s`: URI schemes are not supported", file, what, input);
  star = strchr (input, '*');
  if (star && (star != input || input[1] != '.' || strchr (star + 1, '*')))
    return husk_make_error (err, 0, "%s: invalid %s `%s`: a wildcard is only allowed as a leading \"*.\"",
                            file, what, input);
  *out = xstrndup (input, len);
  return 0;
}

/* A key that must be a string (absent: NULL).  */
static int
get_string (const char *file, const husk_json_t *obj, const char *key, const char **out, husk_error_t *err)
{
  husk_json_t *v = husk_json_get (obj, key);

  *out = NULL;
  if (v == NULL)
    return 0;
  if (husk_json_type (v) != HUSK_JSON_STRING)
    return husk_make_error (err, 0, "%s: `%s` must be a string", file, key);
  *out = husk_json_string (v);
  return 0;
}

static int
get_bool (const char *file, const husk_json_t *obj, const char *key, bool *out, husk_error_t *err)
{
  husk_json_t *v = husk_json_get (obj, key);

  *out = false;
  if (v == NULL)
    return 0;
  if (husk_json_type (v) != HUSK_JSON_BOOL)
    return husk_make_error (err, 0, "%s: `%s` must be a boolean", file, key);
  *out = husk_json_bool (v, false);
  return 0;
}

static int
get_string_array (const char *file, const husk_json_t *obj, const char *key, char ***out, husk_error_t *err)
{
  husk_json_t *v = husk_json_get (obj, key);
  size_t i;

  *out = NULL;
  if (v == NULL)
    return 0;
  if (husk_json_type (v) != HUSK_JSON_ARRAY)
    return husk_make_error (err, 0, "%s: `%s` must be an array of strings", file, key);
  for (i = 0; i < husk_json_array_len (v); i++)
    if (husk_json_type (husk_json_array_at (v, i)) != HUSK_JSON_STRING)
      return husk_make_error (err, 0, "%s: `%s` must be an array of strings", file, key);
  *out = husk_json_to_strv (v);
  return 0;
}

static int
parse_mirror (const char *file, const husk_json_t *m, struct conf_endpoint *out, husk_error_t *err)
{
  const char *loc = NULL;
  int ret;

  if (husk_json_type (m) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "%s: [[registry.mirror]] entries must be tables", file);
  ret = get_string (file, m, "location", &loc, err);
  if (ret == 0)
    ret = get_bool (file, m, "insecure", &out->insecure, err);
  if (ret < 0)
    return ret;
  return parse_location (file, "mirror location", loc ? loc : "", &out->location, err);
}

static int
parse_registry (const char *file, const husk_json_t *t, struct conf_registry *r, husk_error_t *err)
{
  const char *prefix = NULL;
  const char *location = NULL;
  husk_json_t *mirrors;
  size_t i;
  int ret;

  if (husk_json_type (t) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "%s: [[registry]] entries must be tables", file);
  ret = get_string (file, t, "prefix", &prefix, err);
  if (ret == 0)
    ret = get_string (file, t, "location", &location, err);
  if (ret == 0)
    ret = get_bool (file, t, "insecure", &r->insecure, err);
  if (ret == 0)
    ret = get_bool (file, t, "blocked", &r->blocked, err);
  if (ret < 0)
    return ret;

  if ((prefix == NULL || *prefix == '\0') && (location == NULL || *location == '\0'))
    return husk_make_error (err, 0, "%s: invalid [[registry]]: both location and prefix are unset", file);
  if (prefix && *prefix)
    {
      ret = parse_location (file, "prefix", prefix, &r->prefix, err);
      if (ret < 0)
        return ret;
    }
  if (r->prefix && husk_has_prefix (r->prefix, "*.") && location && *location)
    return husk_make_error (err, 0, "%s: invalid [[registry]] `%s`: a wildcard prefix cannot have a location",
                            file, r->prefix);
  if (location && *location)
    {
      ret = parse_location (file, "location", location, &r->location, err);
      if (ret < 0)
        return ret;
      if (strchr (r->location, '*'))
        return husk_make_error (err, 0, "%s: invalid location `%s`: wildcards are only allowed in prefix",
                                file, location);
    }
  else if (!husk_has_prefix (r->prefix, "*."))
    return husk_make_error (err, 0, "%s: invalid [[registry]] `%s`: location cannot be empty", file,
                            r->prefix);
  else
    r->location = xstrdup ("");
  if (r->prefix == NULL)
    r->prefix = xstrdup (r->location);

  mirrors = husk_json_get (t, "mirror");
  if (mirrors == NULL)
    return 0;
  if (husk_json_type (mirrors) != HUSK_JSON_ARRAY)
    return husk_make_error (err, 0, "%s: `mirror` must be an array of tables ([[registry.mirror]])", file);
  r->mirrors = xzalloc ((husk_json_array_len (mirrors) + 1) * sizeof (*r->mirrors));
  for (i = 0; i < husk_json_array_len (mirrors); i++)
    {
      ret = parse_mirror (file, husk_json_array_at (mirrors, i), &r->mirrors[i], err);
      if (ret < 0)
        return ret;
      r->n_mirrors++;
    }
  return 0;
}

static void
conf_add_registry (husk_registries_conf_t *c, struct conf_registry *r)
{
  size_t i;

  /* Same prefix: the later definition replaces the earlier one.  */
  for (i = 0; i < c->n_regs; i++)
    if (strcmp (c->regs[i].prefix, r->prefix) == 0)
      {
        conf_registry_clear (&c->regs[i]);
        c->regs[i] = *r;
        memset (r, 0, sizeof (*r));
        return;
      }
  c->regs = xrealloc (c->regs, (c->n_regs + 1) * sizeof (*c->regs));
  c->regs[c->n_regs++] = *r;
  memset (r, 0, sizeof (*r));
}

/* registries.conf v1: [registries.search] registries = [...], and the same
   for insecure and block.  */
static int
load_v1 (const char *file, const husk_json_t *v1, husk_registries_conf_t *c, husk_error_t *err)
{
  static const char *const kinds[] = { "search", "insecure", "block" };
  size_t k;
  int ret;

  for (k = 0; k < 3; k++)
    {
      husk_json_t *sect = husk_json_get (v1, kinds[k]);
      cleanup_strv char **list = NULL;
      size_t i;

      if (sect == NULL)
        continue;
      ret = get_string_array (file, sect, "registries", &list, err);
      if (ret < 0)
        return ret;
      if (list == NULL)
        continue;
      if (k == 0)
        {
          strv_free (c->search);
          c->search = steal_pointer (&list);
          continue;
        }
      for (i = 0; list[i]; i++)
        {
          struct conf_registry r = { 0 };
          size_t j;

          ret = parse_location (file, "location", list[i], &r.location, err);
          if (ret < 0)
            return ret;
          r.prefix = xstrdup (r.location);
          /* Merge insecure and blocked for one location into one entry.  */
          for (j = 0; j < c->n_regs; j++)
            if (strcmp (c->regs[j].prefix, r.prefix) == 0)
              {
                r.insecure = c->regs[j].insecure;
                r.blocked = c->regs[j].blocked;
              }
          if (k == 1)
            r.insecure = true;
          else
            r.blocked = true;
          conf_add_registry (c, &r);
        }
    }
  return 0;
}

static int
load_aliases (const char *file, const husk_json_t *aliases, husk_registries_conf_t *c, husk_error_t *err)
{
  size_t i;

  if (husk_json_type (aliases) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "%s: [aliases] must be a table", file);
  for (i = 0; i < husk_json_object_len (aliases); i++)
    {
      husk_json_t *v = husk_json_object_value_at (aliases, i);

      if (husk_json_type (v) != HUSK_JSON_STRING)
        return husk_make_error (err, 0, "%s: alias `%s` must be a string", file,
                                husk_json_object_key_at (aliases, i));
      husk_json_set_string (c->aliases, husk_json_object_key_at (aliases, i), husk_json_string (v));
    }
  return 0;
}

/* Merge one parsed file into c.  */
static int
conf_merge_file (const char *file, const husk_json_t *doc, husk_registries_conf_t *c, husk_error_t *err)
{
  husk_json_t *regs = husk_json_get (doc, "registry");
  husk_json_t *v1 = husk_json_get (doc, "registries");
  husk_json_t *aliases = husk_json_get (doc, "aliases");
  cleanup_strv char **search = NULL;
  size_t i;
  int ret;

  ret = get_string_array (file, doc, "unqualified-search-registries", &search, err);
  if (ret < 0)
    return ret;
  if (v1 != NULL)
    {
      if (husk_json_type (v1) != HUSK_JSON_OBJECT)
        return husk_make_error (err, 0, "%s: `registries` must be a table", file);
      if (regs != NULL || search != NULL)
        return husk_make_error (err, 0, "%s: mixing sysregistry v1/v2 is not supported", file);
      ret = load_v1 (file, v1, c, err);
      if (ret < 0)
        return ret;
    }
  if (search != NULL)
    {
      for (i = 0; search[i]; i++)
        {
          char *loc = NULL;

          ret = parse_location (file, "unqualified-search-registries entry", search[i], &loc, err);
          if (ret < 0)
            return ret;
          if (strchr (loc, '/') || strchr (loc, '*'))
            {
              husk_make_error (err, 0,
                               "%s: invalid unqualified-search-registries entry `%s`: not a host[:port]",
                               file, search[i]);
              free (loc);
              return -1;
            }
          free (search[i]);
          search[i] = loc;
        }
      strv_free (c->search);
      c->search = steal_pointer (&search);
    }
  if (regs != NULL)
    {
      if (husk_json_type (regs) != HUSK_JSON_ARRAY)
        return husk_make_error (err, 0, "%s: `registry` must be an array of tables ([[registry]])", file);
      for (i = 0; i < husk_json_array_len (regs); i++)
        {
          struct conf_registry r = { 0 };

          ret = parse_registry (file, husk_json_array_at (regs, i), &r, err);
          if (ret < 0)
            {
              conf_registry_clear (&r);
              return ret;
            }
          conf_add_registry (c, &r);
        }
    }
  if (aliases != NULL)
    return load_aliases (file, aliases, c, err);
  return 0;
}

static int
conf_load_file (const char *path, husk_registries_conf_t *c, husk_error_t *err)
{
  cleanup_json husk_json_t *doc = NULL;
  int ret;

  ret = husk_toml_parse_file (path, &doc, err);
  if (ret <= 0)
    return ret;
  husk_debug ("loading registries configuration %s", path);
  return conf_merge_file (path, doc, c, err);
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Append dir's *.conf files, sorted by name, to *files.  */
static int
list_dropins (const char *dir, char ***files, husk_error_t *err)
{
  cleanup_dir DIR *d = opendir (dir);
  cleanup_strv char **names = NULL;
  struct dirent *de;
  size_t i;

  if (d == NULL)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return 0;
      return husk_make_error (err, errno, "open `%s`", dir);
    }
  while ((de = readdir (d)) != NULL)
    if (de->d_name[0] != '.' && husk_has_suffix (de->d_name, ".conf"))
      strv_append (&names, de->d_name);
  if (names == NULL)
    return 0;
  qsort (names, strv_len (names), sizeof (char *), compare_names);
  for (i = 0; names[i]; i++)
    strv_append_take (files, xasprintf ("%s/%s", dir, names[i]));
  return 0;
}

static char *
home_dir (void)
{
  const char *home = getenv ("HOME");
  struct passwd *pw;

  if (home && *home)
    return xstrdup (home);
  pw = getpwuid (getuid ());
  return xstrdup (pw && pw->pw_dir ? pw->pw_dir : "/");
}

int
husk_registries_conf_load (husk_registries_conf_t **out, husk_error_t *err)
{
  cleanup_registries_conf husk_registries_conf_t *c = conf_new ();
  cleanup_strv char **files = NULL;
  const char *env = getenv ("CONTAINERS_REGISTRIES_CONF");
  size_t i;
  int ret;

  if (env && *env)
    strv_append (&files, env);
  else
    {
      cleanup_free char *home = home_dir ();
      cleanup_free char *user_conf = xasprintf ("%s/.config/containers/registries.conf", home);
      cleanup_free char *user_dir = xasprintf ("%s/.config/containers/registries.conf.d", home);
      struct stat st;

      /* As containers/image: a per-user file replaces the system file and
         the system drop-ins; otherwise both drop-in directories apply.  */
      if (stat (user_conf, &st) == 0)
        strv_append (&files, user_conf);
      else
        {
          strv_append (&files, SYSTEM_CONF);
          ret = list_dropins (SYSTEM_CONF_DIR, &files, err);
          if (ret < 0)
            return ret;
        }
      ret = list_dropins (user_dir, &files, err);
      if (ret < 0)
        return ret;
    }

  for (i = 0; files[i]; i++)
    {
      ret = conf_load_file (files[i], c, err);
      if (ret < 0)
        return husk_error_wrap (err, "loading registries configuration");
    }
  *out = steal_pointer (&c);
  return 0;
}

/* Length of ref matched by prefix, or -1.  */
static ssize_t
prefix_match (const char *ref, const char *prefix)
{
  size_t plen = strlen (prefix);
  const char *slash;
  const char *hit;
  size_t end;

  if (husk_has_prefix (prefix, "*."))
    {
      /* "*.example.com": any subdomain, matched in the host part only.  */
      hit = strstr (ref, prefix + 1);
      slash = strchr (ref, '/');
      if (hit == NULL || hit == ref || (slash && hit > slash))
        return -1;
      end = (size_t)(hit - ref) + plen - 1;
    }
  else
    {
      if (strncmp (ref, prefix, plen) != 0)
        return -1;
      end = plen;
    }
  if (ref[end] == '\0' || ref[end] == '/' || ref[end] == ':' || ref[end] == '@')
    return (ssize_t)end;
  return -1;
}

static const struct conf_registry *
find_registry (const husk_registries_conf_t *c, const char *ref, size_t *matched)
{
  const struct conf_registry *best = NULL;
  ssize_t best_len = 0;
  size_t i;

  for (i = 0; c && i < c->n_regs; i++)
    {
      ssize_t n = prefix_match (ref, c->regs[i].prefix);
      if (n > best_len)
        {
          best = &c->regs[i];
          best_len = n;
        }
    }
  *matched = (size_t)best_len;
  return best;
}

/* location + what follows the matched prefix, split into host and path
   (empty when the query named a host only).  */
static int
rewrite_endpoint (const char *ref, size_t matched, const char *location, bool insecure, bool mirror,
                  struct husk_registry_endpoint *e, husk_error_t *err)
{
  cleanup_free char *full = xasprintf ("%s%s", location, ref + matched);
  size_t host_len = strcspn (full, "/");

  if (host_len == 0)
    return husk_make_error (err, 0, "rewriting `%s` with registries.conf location `%s`: no host", ref,
                            location);
  e->host = xstrndup (full, host_len);
  e->path = xstrdup (full[host_len] ? full + host_len + 1 : "");
  e->insecure = insecure;
  e->mirror = mirror;
  if (mirror || strcmp (full, ref) != 0)
    husk_debug ("%s: trying %s%s", ref, full, mirror ? " (mirror)" : "");
  return 0;
}

void
husk_registry_endpoints_free (struct husk_registry_endpoint *e, size_t n)
{
  size_t i;

  if (e == NULL)
    return;
  for (i = 0; i < n; i++)
    {
      free (e[i].host);
      free (e[i].path);
    }
  free (e);
}

int
husk_registries_conf_endpoints (const husk_registries_conf_t *c, const char *domain, const char *path,
                                struct husk_registry_endpoint **out, size_t *n, husk_error_t *err)
{
  cleanup_free char *ref = path && *path ? xasprintf ("%s/%s", domain, path) : xstrdup (domain);
  const struct conf_registry *r;
  struct husk_registry_endpoint *e;
  size_t matched = 0;
  size_t count = 0;
  size_t i;
  int ret;

  *out = NULL;
  *n = 0;
  r = find_registry (c, ref, &matched);
  if (r == NULL)
    {
      e = xzalloc (sizeof (*e));
      e->host = xstrdup (domain);
      e->path = xstrdup (path ? path : "");
      *out = e;
      *n = 1;
      return 0;
    }
  if (r->blocked)
    return husk_make_error (err, 0, "registry %s is blocked in registries.conf", r->prefix);

  e = xzalloc ((r->n_mirrors + 1) * sizeof (*e));
  for (i = 0; i < r->n_mirrors; i++)
    {
      ret = rewrite_endpoint (ref, matched, r->mirrors[i].location, r->mirrors[i].insecure, true, &e[count],
                              err);
      if (ret < 0)
        goto fail;
      count++;
    }
  /* A wildcard prefix has no location: the reference stays as it is.  */
  ret = rewrite_endpoint (ref, *r->location ? matched : 0, r->location, r->insecure, false, &e[count], err);
  if (ret < 0)
    goto fail;
  count++;
  *out = e;
  *n = count;
  return 0;

fail:
  husk_registry_endpoints_free (e, count);
  return ret;
}

static void
candidate_for (const struct husk_reference *r, const char *domain, char ***out)
{
  struct husk_reference *q = xzalloc (sizeof (*q));
  char *s;

  q->domain = xstrdup (domain);
  q->path = xstrdup (r->path);
  q->tag = r->tag ? xstrdup (r->tag) : NULL;
  q->digest = r->digest ? xstrdup (r->digest) : NULL;
  husk_reference_normalize_remote (q, domain);
  s = husk_reference_string (q);
  husk_reference_free (q);
  strv_append_take (out, s);
}

/* An [aliases] entry for a short name: "name" = "host/path".  */
static int
alias_candidate (const husk_registries_conf_t *c, const struct husk_reference *r, char ***out,
                 husk_error_t *err)
{
  const char *value = husk_json_get_string (c->aliases, r->path);
  cleanup_reference struct husk_reference *a = NULL;
  int ret;

  if (value == NULL || *value == '\0')
    return 0;
  ret = husk_reference_parse (value, &a, err);
  if (ret < 0)
    return husk_error_wrap (err, "registries.conf alias `%s`", r->path);
  if (a->domain == NULL || a->tag || a->digest)
    return husk_make_error (err, 0,
                            "registries.conf alias `%s` = `%s`: must be a fully qualified name without tag",
                            r->path, value);
  free (a->tag);
  a->tag = r->tag ? xstrdup (r->tag) : NULL;
  a->digest = r->digest ? xstrdup (r->digest) : NULL;
  husk_reference_normalize_remote (a, NULL);
  husk_debug ("resolved short name %s to %s/%s by alias", r->path, a->domain, a->path);
  strv_append_take (out, husk_reference_string (a));
  return 1;
}

int
husk_registries_conf_candidates (const husk_registries_conf_t *c, const char *user_ref, char ***out,
                                 husk_error_t *err)
{
  cleanup_reference struct husk_reference *r = NULL;
  cleanup_strv char **list = NULL;
  char *const *search = husk_registries_conf_search (c);
  size_t i;
  int ret;

  *out = NULL;
  ret = husk_reference_parse (user_ref, &r, err);
  if (ret < 0)
    return ret;
  if (r->domain != NULL)
    {
      husk_reference_normalize_remote (r, NULL);
      strv_append_take (&list, husk_reference_string (r));
      *out = steal_pointer (&list);
      return 0;
    }
  if (c)
    {
      ret = alias_candidate (c, r, &list, err);
      if (ret < 0)
        return ret;
    }
  if (list == NULL && search[0] == NULL)
    candidate_for (r, "docker.io", &list);
  else if (list == NULL)
    for (i = 0; search[i]; i++)
      candidate_for (r, search[i], &list);
  *out = steal_pointer (&list);
  return 0;
}

char *
husk_registry_cert_dir (const char *host, const char *cert_dir)
{
  cleanup_strv char **dirs = NULL;
  struct stat st;
  size_t i;

  if (cert_dir && *cert_dir)
    return xstrdup (cert_dir);
  if (husk_userns_is_rootless ())
    {
      cleanup_free char *home = home_dir ();
      strv_append_take (&dirs, xasprintf ("%s/.config/containers/certs.d/%s", home, host));
    }
  strv_append_take (&dirs, xasprintf ("/etc/containers/certs.d/%s", host));
  /* podman also reads Docker's directory.  */
  strv_append_take (&dirs, xasprintf ("/etc/docker/certs.d/%s", host));
  for (i = 0; dirs[i]; i++)
    if (stat (dirs[i], &st) == 0 && S_ISDIR (st.st_mode))
      return xstrdup (dirs[i]);
  return NULL;
}
