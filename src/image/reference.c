/* husk: image references with Docker's grammar (distribution/reference):

     reference  := name [ ":" tag ] [ "@" digest ]
     name       := [ domain "/" ] path-component [ "/" path-component ]*
     domain     := host [ ":" port ]   host: domain-name or "[" ipv6 "]"
     path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
     tag        := [\w][\w.-]{0,127}
     digest     := "sha256:" 64 lowercase hex (the only algorithm we accept)

   As in Docker's ParseNormalizedNamed, the first component is a domain only
   when it has a '.' or ':' or is "localhost"; so "UPPER/case" is a path and
   fails as not lowercase instead of parsing as a registry "UPPER".  */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "husk/image.h"
#include "husk/util.h"

#define NAME_TOTAL_LENGTH_MAX 255
#define TAG_LENGTH_MAX        128

void
husk_reference_free (struct husk_reference *r)
{
  if (r == NULL)
    return;
  free (r->domain);
  free (r->path);
  free (r->tag);
  free (r->digest);
  free (r);
}

void
cleanup_referencep (struct husk_reference **r)
{
  husk_reference_free (*r);
}

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum (char c)
{
  return isascii ((unsigned char)c) && isalnum ((unsigned char)c);
}

static bool
is_word (char c)
{
  return is_alnum (c) || c == '_';
}

static bool
is_hex (char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One path component, [s, s+len).  fold: compare as if lowercased (used
   to tell "must be lowercase" apart from "invalid format").  */
static bool
valid_path_component (const char *s, size_t len, bool fold)
{
  size_t i = 0;

  if (len == 0)
    return false;
  while (i < len)
    {
      size_t run = 0;
      char c;

      while (i < len)
        {
          c = fold ? (char)tolower ((unsigned char)s[i]) : s[i];
          if (!is_lower_alnum (c))
            break;
          i++;
          run++;
        }
      if (run == 0)
        return false;
      if (i == len)
        return true;
      /* A separator, followed by more alphanumerics.  */
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        {
          i++;
          if (i < len && s[i] == '_')
            i++;
        }
      else if (s[i] == '-')
        {
          while (i < len && s[i] == '-')
            i++;
        }
      else
        return false;
      if (i == len)
        return false;
    }
  return true;
}

static bool
valid_path (const char *s, size_t len, bool fold)
{
  size_t start = 0;

  for (size_t i = 0; i <= len; i++)
    {
      if (i == len || s[i] == '/')
        {
          if (!valid_path_component (s + start, i - start, fold))
            return false;
          start = i + 1;
        }
    }
  return true;
}

static bool
valid_domain_component (const char *s, size_t len)
{
  if (len == 0 || !is_alnum (s[0]) || !is_alnum (s[len - 1]))
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum (s[i]) && s[i] != '-')
      return false;
  return true;
}

/* host [":" port] where host is a dotted domain name or a bracketed IPv6
   address.  */
static bool
valid_domain (const char *s, size_t len)
{
  size_t host_end;

  if (len == 0)
    return false;
  if (s[0] == '[')
    {
      const char *close = memchr (s, ']', len);
      if (close == NULL || close == s + 1)
        return false;
      for (const char *p = s + 1; p < close; p++)
        if (!is_hex (*p) && *p != ':')
          return false;
      host_end = close - s + 1;
    }
  else
    {
      const char *colon = memchr (s, ':', len);
      size_t start = 0;

      host_end = colon ? (size_t)(colon - s) : len;
      for (size_t i = 0; i <= host_end; i++)
        if (i == host_end || s[i] == '.')
          {
            if (!valid_domain_component (s + start, i - start))
              return false;
            start = i + 1;
          }
    }
  if (host_end == len)
    return true;
  if (s[host_end] != ':' || host_end + 1 == len)
    return false;
  for (size_t i = host_end + 1; i < len; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

static bool
valid_tag (const char *s)
{
  size_t len = strlen (s);

  if (len == 0 || len > TAG_LENGTH_MAX || !is_word (s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_word (s[i]) && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

/* The generic digest grammar: algorithm ":" at least 32 hex digits.  A
   string outside it makes the whole reference malformed; one inside it
   with a bad algorithm or length gets a more precise message.  */
static bool
digest_matches_grammar (const char *s)
{
  const char *colon = strchr (s, ':');
  const char *p = s;
  size_t hex = 0;

  if (colon == NULL)
    return false;
  while (p < colon)
    {
      if (!isascii ((unsigned char)*p) || !isalpha ((unsigned char)*p))
        return false;
      p++;
      while (p < colon && is_alnum (*p))
        p++;
      if (p < colon)
        {
          if (strchr ("-_+.", *p) == NULL)
            return false;
          p++;
          if (p == colon)
            return false;
        }
    }
  for (p = colon + 1; *p; p++, hex++)
    if (!is_hex (*p))
      return false;
  return hex >= 32;
}

static int
check_digest (const char *ref, const char *d, husk_error_t *err)
{
  const char *hex;

  if (!digest_matches_grammar (d))
    return husk_make_error (err, 0, "parsing reference \"%s\": invalid reference format", ref);
  if (!husk_has_prefix (d, "sha256:"))
    return husk_make_error (err, 0, "parsing reference \"%s\": unsupported digest algorithm", ref);
  hex = d + strlen ("sha256:");
  if (strlen (hex) != 64)
    return husk_make_error (err, 0, "parsing reference \"%s\": invalid checksum digest length", ref);
  for (const char *p = hex; *p; p++)
    if (*p >= 'A' && *p <= 'F')
      return husk_make_error (err, 0, "parsing reference \"%s\": invalid checksum digest format", ref);
  return 0;
}

static bool
is_64_hex (const char *s)
{
  size_t n = 0;

  for (; *s; s++, n++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return n == 64;
}

/* The first component names a registry only when it looks like a host.  */
static bool
looks_like_domain (const char *s, size_t len)
{
  return memchr (s, '.', len) != NULL || memchr (s, ':', len) != NULL
         || (len == strlen ("localhost") && memcmp (s, "localhost", len) == 0);
}

static int
parse_name (const char *ref, const char *name, size_t len, struct husk_reference *r, husk_error_t *err)
{
  const char *slash = memchr (name, '/', len);
  const char *path = name;
  size_t path_len = len;

  if (len > NAME_TOTAL_LENGTH_MAX)
    return husk_make_error (err, 0,
                            "parsing reference \"%s\": repository name must not be more than %d characters",
                            ref, NAME_TOTAL_LENGTH_MAX);
  if (slash && looks_like_domain (name, slash - name))
    {
      if (!valid_domain (name, slash - name))
        return husk_make_error (err, 0, "parsing reference \"%s\": invalid reference format", ref);
      r->domain = xstrndup (name, slash - name);
      path = slash + 1;
      path_len = len - (path - name);
    }
  if (!valid_path (path, path_len, false))
    {
      if (valid_path (path, path_len, true))
        return husk_make_error (err, 0,
                                "parsing reference \"%s\": invalid reference format: repository name must be "
                                "lowercase",
                                ref);
      return husk_make_error (err, 0, "parsing reference \"%s\": invalid reference format", ref);
    }
  r->path = xstrndup (path, path_len);
  return 0;
}

int
husk_reference_parse (const char *s, struct husk_reference **out, husk_error_t *err)
{
  cleanup_reference struct husk_reference *r = NULL;
  cleanup_free char *name = NULL;
  const char *at, *colon, *slash;
  size_t name_len;
  int ret;

  if (s == NULL || *s == '\0')
    return husk_make_error (err, 0,
                            "invalid reference format: repository name must have at least one component");
  if (is_64_hex (s))
    return husk_make_error (err, 0,
                            "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s);

  r = xzalloc (sizeof (*r));

  /* '@' cannot appear in a name or tag, so the first one starts the digest.  */
  at = strchr (s, '@');
  name = at ? xstrndup (s, at - s) : xstrdup (s);
  if (at)
    {
      ret = check_digest (s, at + 1, err);
      if (ret < 0)
        return ret;
      r->digest = xstrdup (at + 1);
    }

  /* A ':' after the last '/' starts the tag; an earlier one is a port.  */
  colon = strrchr (name, ':');
  slash = strrchr (name, '/');
  name_len = strlen (name);
  if (colon && (slash == NULL || colon > slash))
    {
      if (!valid_tag (colon + 1))
        return husk_make_error (err, 0, "parsing reference \"%s\": invalid reference format", s);
      r->tag = xstrdup (colon + 1);
      name_len = colon - name;
    }
  if (name_len == 0)
    return husk_make_error (err, 0, "parsing reference \"%s\": invalid reference format", s);

  ret = parse_name (s, name, name_len, r, err);
  if (ret < 0)
    return ret;

  *out = steal_pointer (&r);
  return 0;
}

static bool
is_docker_hub (const char *domain)
{
  return domain && (strcmp (domain, "docker.io") == 0 || strcmp (domain, "index.docker.io") == 0);
}

/* docker.io keeps official images under "library/".  */
static void
normalize_hub (struct husk_reference *r)
{
  if (!is_docker_hub (r->domain))
    return;
  if (strcmp (r->domain, "docker.io") != 0)
    {
      free (r->domain);
      r->domain = xstrdup ("docker.io");
    }
  if (strchr (r->path, '/') == NULL)
    {
      char *p = xasprintf ("library/%s", r->path);
      free (r->path);
      r->path = p;
    }
}

static void
default_tag (struct husk_reference *r)
{
  if (r->tag == NULL && r->digest == NULL)
    r->tag = xstrdup ("latest");
}

void
husk_reference_normalize_local (struct husk_reference *r)
{
  if (r->domain == NULL)
    r->domain = xstrdup ("localhost");
  normalize_hub (r);
  default_tag (r);
}

void
husk_reference_normalize_remote (struct husk_reference *r, const char *default_domain)
{
  if (r->domain == NULL)
    r->domain = xstrdup (default_domain ? default_domain : "docker.io");
  normalize_hub (r);
  default_tag (r);
}

char *
husk_reference_repository (const struct husk_reference *r)
{
  if (r->domain == NULL)
    return xstrdup (r->path);
  return xasprintf ("%s/%s", r->domain, r->path);
}

char *
husk_reference_string (const struct husk_reference *r)
{
  struct husk_buf b = { 0 };

  if (r->domain)
    husk_buf_printf (&b, "%s/", r->domain);
  husk_buf_puts (&b, r->path);
  if (r->tag)
    husk_buf_printf (&b, ":%s", r->tag);
  if (r->digest)
    husk_buf_printf (&b, "@%s", r->digest);
  return husk_buf_steal (&b, NULL);
}

/* Split a stored full name "repo[:tag][@digest]" without validating it:
   stored names were validated when they were recorded.  */
static void
split_stored (const char *stored, char **repo, char **tag, char **digest)
{
  const char *at = strchr (stored, '@');
  size_t len = at ? (size_t)(at - stored) : strlen (stored);
  const char *colon = NULL, *slash = NULL;

  for (size_t i = 0; i < len; i++)
    {
      if (stored[i] == '/')
        slash = stored + i;
      else if (stored[i] == ':')
        colon = stored + i;
    }
  if (colon && slash && colon < slash)
    colon = NULL;
  *digest = at ? xstrdup (at + 1) : NULL;
  *tag = colon ? xstrndup (colon + 1, len - (colon + 1 - stored)) : NULL;
  *repo = xstrndup (stored, colon ? (size_t)(colon - stored) : len);
}

static bool
repository_matches (const struct husk_reference *r, const char *stored_repo)
{
  cleanup_free char *want = NULL;
  size_t slen, wlen;

  if (r->domain)
    {
      struct husk_reference copy = *r;

      /* Compare "docker.io/alpine" as "docker.io/library/alpine".  */
      if (is_docker_hub (r->domain) && strchr (r->path, '/') == NULL)
        {
          cleanup_free char *path = xasprintf ("library/%s", r->path);
          copy.domain = (char *)"docker.io";
          copy.path = path;
          want = husk_reference_repository (&copy);
        }
      else
        {
          if (is_docker_hub (r->domain))
            copy.domain = (char *)"docker.io";
          want = husk_reference_repository (&copy);
        }
      return strcmp (want, stored_repo) == 0;
    }

  slen = strlen (stored_repo);
  wlen = strlen (r->path);
  if (slen == wlen)
    return strcmp (stored_repo, r->path) == 0;
  return slen > wlen && stored_repo[slen - wlen - 1] == '/'
         && strcmp (stored_repo + slen - wlen, r->path) == 0;
}

bool
husk_reference_matches (const struct husk_reference *r, const char *stored_name)
{
  cleanup_free char *repo = NULL;
  cleanup_free char *tag = NULL;
  cleanup_free char *digest = NULL;

  if (r == NULL || stored_name == NULL)
    return false;
  split_stored (stored_name, &repo, &tag, &digest);
  if (!repository_matches (r, repo))
    return false;
  if (r->digest)
    {
      if (digest == NULL || strcmp (digest, r->digest) != 0)
        return false;
      /* A digest alone selects the image whatever its tag.  */
      return r->tag == NULL || (tag && strcmp (tag, r->tag) == 0);
    }
  return tag != NULL && strcmp (tag, r->tag ? r->tag : "latest") == 0;
}
