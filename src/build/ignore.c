/* husk: .dockerignore / .containerignore patterns (src/build).

   The rules are Docker's (moby/patternmatcher with its ignorefile
   reader), written down here rather than translated:
     - a line starting with '#' is a comment (checked before trimming, so
       "  #x" is a pattern); blanks around a line are trimmed; a UTF-8 BOM
       on the first line is dropped; empty lines are skipped;
     - a leading '!' makes the pattern an exception (blanks after it are
       trimmed too); "!" alone is an error;
     - the pattern is cleaned like Go's filepath.Clean and a leading "/"
       dropped ("/foo/../bar/" -> "bar");
     - each '/'-separated component is matched with Go's filepath.Match
       syntax (* ? [a-z] [^a] \x); a component "**" matches any number of
       path components, zero included, except at the end, where a pattern
       "foo/" followed by "**" matches what is below foo, not foo itself (Docker's
       regexp "^foo/.*$");
     - a pattern that matches a parent directory of a path matches the
       path ("foo" excludes "foo/bar/baz"; "!foo" re-includes it);
     - the last pattern that matches decides.
   Matching works on the path string in place: no allocation per path,
   since the context walk asks for every file.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/build.h"
#include "husk/fs.h"
#include "husk/util.h"
#include "src/build/glob.h"

/* An ignore file larger than this is surely not one.  */
#define IGNORE_FILE_MAX (16 * 1024 * 1024)

struct ig_pattern
{
  char **comps; /* the cleaned pattern split at '/', runs of "**" collapsed */
  size_t n;
  bool exception;
};

struct husk_build_ignore
{
  struct ig_pattern *v;
  size_t n;
};

/* ---- Go's filepath.Match on one component ---- */

/* One UTF-8 sequence at s (len > 0): its code point and length; an
   invalid byte is U+FFFD of length 1, as Go decodes it.  */
static unsigned
decode_rune (const unsigned char *s, size_t len, uint32_t *r)
{
  unsigned n;
  uint32_t c = s[0], min;

  if (c < 0x80)
    {
      *r = c;
      return 1;
    }
  if ((c & 0xe0) == 0xc0)
    n = 2, c &= 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0)
    n = 3, c &= 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0)
    n = 4, c &= 0x07, min = 0x10000;
  else
    goto bad;
  if (len < n)
    goto bad;
  for (unsigned i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        goto bad;
      c = (c << 6) | (s[i] & 0x3f);
    }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    goto bad;
  *r = c;
  return n;
bad:
  *r = 0xfffd;
  return 1;
}

/* A class member at *chunk (Go's getEsc): false for a bad pattern.  */
static bool
get_esc (const char **chunk, const char *end, uint32_t *r)
{
  const char *c = *chunk;
  unsigned n;

  if (c >= end || *c == '-' || *c == ']')
    return false;
  if (*c == '\\')
    {
      c++;
      if (c >= end)
        return false;
    }
  n = decode_rune ((const unsigned char *)c, (size_t)(end - c), r);
  if (*r == 0xfffd && n == 1 && (unsigned char)*c >= 0x80)
    return false;
  c += n;
  if (c >= end)
    return false;
  *chunk = c;
  return true;
}

/* Go's matchChunk: match chunk (no '*' outside classes) against the start
   of s.  Returns 1 and sets *rest on a match, 0 on none, -1 for a bad
   pattern (always checked to the chunk's end, as Go does).  */
static int
match_chunk (const char *chunk, const char *cend, const char *s, const char *send, const char **rest)
{
  bool failed = false;

  while (chunk < cend)
    {
      if (!failed && s >= send)
        failed = true;
      switch (*chunk)
        {
        case '[':
          {
            uint32_t r = 0, lo, hi;
            bool negated = false, match = false;
            int nrange = 0;

            if (!failed)
              s += decode_rune ((const unsigned char *)s, (size_t)(send - s), &r);
            chunk++;
            if (chunk < cend && *chunk == '^')
              {
                negated = true;
                chunk++;
              }
            for (;;)
              {
                if (chunk < cend && *chunk == ']' && nrange > 0)
                  {
                    chunk++;
                    break;
                  }
                if (!get_esc (&chunk, cend, &lo))
                  return -1;
                hi = lo;
                if (*chunk == '-')
                  {
                    chunk++;
                    if (!get_esc (&chunk, cend, &hi))
                      return -1;
                  }
                if (lo <= r && r <= hi)
                  match = true;
                nrange++;
              }
            if (match == negated)
              failed = true;
            break;
          }
        case '?':
          if (!failed)
            {
              uint32_t r;
              if (*s == '/')
                failed = true;
              s += decode_rune ((const unsigned char *)s, (size_t)(send - s), &r);
            }
          chunk++;
          break;
        case '\\':
          chunk++;
          if (chunk >= cend)
            return -1;
          /* fall through */
        default:
          if (!failed)
            {
              if (*chunk != *s)
                failed = true;
              s++;
            }
          chunk++;
          break;
        }
    }
  if (failed)
    return 0;
  *rest = s;
  return 1;
}

/* Go's scanChunk: skip leading stars, then the chunk up to the next star
   outside a class.  */
static const char *
scan_chunk (const char **pattern, const char *pend, bool *star)
{
  const char *p = *pattern;
  bool inrange = false;

  *star = false;
  while (p < pend && *p == '*')
    {
      p++;
      *star = true;
    }
  *pattern = p;
  for (; p < pend; p++)
    {
      if (*p == '\\')
        {
          if (p + 1 < pend)
            p++;
        }
      else if (*p == '[')
        inrange = true;
      else if (*p == ']')
        inrange = false;
      else if (*p == '*' && !inrange)
        break;
    }
  return p;
}

/* filepath.Match (pattern, name) for one component: 1, 0, or -1 for a bad
   pattern.  */
static int
match_component (const char *pattern, const char *name, size_t name_len)
{
  const char *pend = pattern + strlen (pattern);
  const char *s = name, *send = name + name_len;

  while (pattern < pend)
    {
      bool star;
      const char *chunk = pattern, *cend, *t;
      int ok;

      cend = scan_chunk (&chunk, pend, &star);
      pattern = cend;
      if (star && chunk == cend)
        return memchr (s, '/', (size_t)(send - s)) == NULL;
      ok = match_chunk (chunk, cend, s, send, &t);
      if (ok == 1 && (t == send || pattern < pend))
        {
          s = t;
          continue;
        }
      if (ok < 0)
        return -1;
      if (star)
        {
          bool found = false;
          for (const char *i = s; i < send && *i != '/'; i++)
            {
              ok = match_chunk (chunk, cend, i + 1, send, &t);
              if (ok == 1)
                {
                  if (pattern == pend && t < send)
                    continue;
                  s = t;
                  found = true;
                  break;
                }
              if (ok < 0)
                return -1;
            }
          if (found)
            continue;
        }
      /* No match: a bad pattern later on still has to be reported.  */
      while (pattern < pend)
        {
          chunk = pattern;
          cend = scan_chunk (&chunk, pend, &star);
          pattern = cend;
          if (match_chunk (chunk, cend, "", "", &t) < 0)
            return -1;
        }
      return 0;
    }
  return s == send;
}

int
build_glob_match (const char *pattern, const char *name, size_t len)
{
  return match_component (pattern, name, len);
}

bool
build_glob_has_wildcards (const char *s)
{
  for (; *s; s++)
    {
      if (*s == '\\')
        {
          if (s[1] == '\0')
            break;
          s++;
        }
      else if (*s == '*' || *s == '?' || *s == '[')
        return true;
    }
  return false;
}

/* ---- whole paths ---- */

static bool
is_dstar (const char *comp)
{
  return comp[0] == '*' && comp[1] == '*' && comp[2] == '\0';
}

/* The next component after the one at s ("" at the end).  */
static const char *
next_comp (const char *s)
{
  const char *end = strchrnul (s, '/');
  return *end ? end + 1 : end;
}

/* Does p from component pi match the path at s?  parents: also when the
   pattern is used up before the path (it matched an ancestor).  below:
   also when the path is used up first (it could match a descendant).  */
static bool
match_from (const struct ig_pattern *p, size_t pi, const char *s, bool parents, bool below)
{
  for (;;)
    {
      const char *comp, *end;

      if (pi == p->n)
        return *s == '\0' || parents;
      if (*s == '\0')
        return below;
      comp = p->comps[pi];
      if (is_dstar (comp))
        {
          /* At the end: one or more components, all of what is left.  */
          if (pi + 1 == p->n)
            return true;
          if (match_from (p, pi + 1, s, parents, below))
            return true;
          s = next_comp (s);
          continue;
        }
      end = strchrnul (s, '/');
      if (match_component (comp, s, (size_t)(end - s)) != 1)
        return false;
      pi++;
      s = *end ? end + 1 : end;
    }
}

bool
husk_build_ignore_match (const husk_build_ignore_t *ig, const char *path)
{
  bool excluded = false;

  if (ig == NULL || *path == '\0')
    return false;
  for (size_t i = 0; i < ig->n; i++)
    {
      const struct ig_pattern *p = &ig->v[i];
      if (p->n > 0 && match_from (p, 0, path, true, false))
        excluded = !p->exception;
    }
  return excluded;
}

bool
husk_build_ignore_may_reinclude (const husk_build_ignore_t *ig, const char *dir)
{
  if (ig == NULL)
    return false;
  for (size_t i = 0; i < ig->n; i++)
    {
      const struct ig_pattern *p = &ig->v[i];
      if (p->exception && p->n > 0 && match_from (p, 0, dir, true, true))
        return true;
    }
  return false;
}

/* ---- parsing ---- */

/* Go's filepath.Clean for '/'-separated paths.  */
static char *
go_clean (const char *path)
{
  size_t n = strlen (path), r = 0, w = 0, dotdot = 0;
  bool rooted = n > 0 && path[0] == '/';
  char *out = xmalloc (n + 2);

  if (rooted)
    {
      out[w++] = '/';
      r = dotdot = 1;
    }
  while (r < n)
    {
      if (path[r] == '/')
        r++;
      else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/'))
        r++;
      else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/'))
        {
          r += 2;
          if (w > dotdot)
            {
              w--;
              while (w > dotdot && out[w] != '/')
                w--;
            }
          else if (!rooted)
            {
              if (w > 0)
                out[w++] = '/';
              out[w++] = '.';
              out[w++] = '.';
              dotdot = w;
            }
        }
      else
        {
          if ((rooted && w != 1) || (!rooted && w != 0))
            out[w++] = '/';
          while (r < n && path[r] != '/')
            out[w++] = path[r++];
        }
    }
  if (w == 0)
    out[w++] = '.';
  out[w] = '\0';
  return out;
}

static bool
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void
pattern_free (struct ig_pattern *p)
{
  for (size_t i = 0; i < p->n; i++)
    free (p->comps[i]);
  free (p->comps);
}

/* Split a cleaned pattern into components; false when one is bad.  */
static bool
pattern_compile (const char *clean, struct ig_pattern *p)
{
  const char *s = clean;

  while (*s)
    {
      const char *end = strchrnul (s, '/');
      if (end > s)
        {
          char *comp = xstrndup (s, (size_t)(end - s));
          if (is_dstar (comp) && p->n > 0 && is_dstar (p->comps[p->n - 1]))
            free (comp);
          else
            {
              p->comps = xrealloc (p->comps, (p->n + 1) * sizeof (*p->comps));
              p->comps[p->n++] = comp;
              if (match_component (comp, ".", 1) < 0)
                return false;
            }
        }
      s = *end ? end + 1 : end;
    }
  return true;
}

static void
ignore_add (husk_build_ignore_t *ig, struct ig_pattern *p)
{
  ig->v = xrealloc (ig->v, (ig->n + 1) * sizeof (*ig->v));
  ig->v[ig->n++] = *p;
}

/* One line (not NUL-terminated), added to ig unless blank or a comment.  */
static int
parse_line (husk_build_ignore_t *ig, const char *line, size_t len, unsigned lineno, husk_error_t *err)
{
  struct ig_pattern p = { 0 };
  cleanup_free char *text = NULL;
  cleanup_free char *clean = NULL;
  const char *s = line, *e = line + len;

  if (len > 0 && line[0] == '#')
    return 0;
  while (s < e && is_blank (*s))
    s++;
  while (e > s && is_blank (e[-1]))
    e--;
  if (s == e)
    return 0;
  if (*s == '!')
    {
      p.exception = true;
      s++;
      while (s < e && is_blank (*s))
        s++;
      if (s == e)
        return husk_make_error (err, 0, "line %u: illegal exclusion pattern: \"!\"", lineno);
    }
  text = xstrndup (s, (size_t)(e - s));
  clean = go_clean (text);
  if (!pattern_compile (clean[0] == '/' && clean[1] != '\0' ? clean + 1 : clean, &p))
    {
      pattern_free (&p);
      return husk_make_error (err, 0, "line %u: bad pattern `%s`: syntax error in pattern", lineno, text);
    }
  ignore_add (ig, &p);
  return 0;
}

int
husk_build_ignore_parse (const char *data, size_t len, husk_build_ignore_t **out, husk_error_t *err)
{
  husk_build_ignore_t *ig = xzalloc (sizeof (*ig));
  const char *p = data, *end = data + len;
  unsigned lineno = 0;

  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    p += 3;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t)(end - p));
      const char *le = nl ? nl : end;
      int ret = parse_line (ig, p, (size_t)(le - p), ++lineno, err);
      if (ret < 0)
        {
          husk_build_ignore_free (ig);
          return ret;
        }
      p = nl ? nl + 1 : end;
    }
  *out = ig;
  return 0;
}

/* Read name inside the context; 1 when it is there, 0 when missing.  */
static int
read_ignore_file (int context_fd, const char *name, husk_build_ignore_t **out, husk_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  size_t len;
  int ret;

  fd = husk_open_in_root (context_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0, NULL);
  if (fd < 0)
    {
      if (fd == -ENOENT || fd == -ENOTDIR)
        return 0;
      return husk_make_error (err, -fd, "open `%s`", name);
    }
  ret = husk_read_all_fd (fd, IGNORE_FILE_MAX, &data, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read `%s`", name);
  ret = husk_build_ignore_parse (data, len, out, err);
  if (ret < 0)
    return husk_error_wrap (err, "%s", name);
  return 1;
}

int
husk_build_ignore_load (int context_fd, const char *dockerfile_rel, husk_build_ignore_t **out,
                        husk_error_t *err)
{
  static const char *const names[] = { ".containerignore", ".dockerignore" };
  int ret;

  *out = NULL;
  if (dockerfile_rel != NULL && *dockerfile_rel != '\0')
    {
      cleanup_free char *name = xasprintf ("%s.dockerignore", dockerfile_rel);
      ret = read_ignore_file (context_fd, name, out, err);
      if (ret != 0)
        return ret < 0 ? ret : 0;
    }
  for (size_t i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    {
      ret = read_ignore_file (context_fd, names[i], out, err);
      if (ret != 0)
        return ret < 0 ? ret : 0;
    }
  *out = xzalloc (sizeof (**out));
  return 0;
}

void
husk_build_ignore_free (husk_build_ignore_t *ig)
{
  if (ig == NULL)
    return;
  for (size_t i = 0; i < ig->n; i++)
    pattern_free (&ig->v[i]);
  free (ig->v);
  free (ig);
}

void
cleanup_build_ignorep (husk_build_ignore_t **ig)
{
  husk_build_ignore_free (*ig);
}
