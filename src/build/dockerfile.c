/* husk: the Dockerfile parser (src/build).

   One pass over the bytes, line by line, reading a Dockerfile as
   BuildKit's parser does: parser directives at the very top, comment and
   blank lines dropped, continuation lines joined (comment and blank lines
   inside a continuation are skipped, as Docker does), then the
   instruction split into its keyword, leading --flags and arguments by
   the keyword's rule; heredoc bodies are read after the instruction's
   last line.  Nothing is expanded here: the executor expands words with
   husk_build_expand.

   Every buffer grows by doubling and every line is looked at a bounded
   number of times, so a file of millions of continuation lines parses in
   linear time.  */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "husk/build.h"
#include "husk/json.h"
#include "husk/util.h"

enum df_kind
{
  DF_ADD,
  DF_ARG,
  DF_CMD,
  DF_COPY,
  DF_ENTRYPOINT,
  DF_ENV,
  DF_EXPOSE,
  DF_FROM,
  DF_HEALTHCHECK,
  DF_LABEL,
  DF_MAINTAINER,
  DF_ONBUILD,
  DF_RUN,
  DF_SHELL,
  DF_STOPSIGNAL,
  DF_USER,
  DF_VOLUME,
  DF_WORKDIR,
};

static const struct
{
  const char *name;
  enum df_kind kind;
  bool flags; /* leading --flags are split off (the instructions that take some) */
} df_keywords[] = {
  { "ADD", DF_ADD, true },
  { "ARG", DF_ARG, false },
  { "CMD", DF_CMD, false },
  { "COPY", DF_COPY, true },
  { "ENTRYPOINT", DF_ENTRYPOINT, false },
  { "ENV", DF_ENV, false },
  { "EXPOSE", DF_EXPOSE, false },
  { "FROM", DF_FROM, true },
  { "HEALTHCHECK", DF_HEALTHCHECK, true },
  { "LABEL", DF_LABEL, false },
  { "MAINTAINER", DF_MAINTAINER, false },
  { "ONBUILD", DF_ONBUILD, false },
  { "RUN", DF_RUN, true },
  { "SHELL", DF_SHELL, false },
  { "STOPSIGNAL", DF_STOPSIGNAL, false },
  { "USER", DF_USER, false },
  { "VOLUME", DF_VOLUME, false },
  { "WORKDIR", DF_WORKDIR, false },
};

struct df_parser
{
  const char *name;
  const char *data;
  size_t len;
  size_t pos;    /* start of the next line */
  unsigned line; /* number of the last line read */
  char escape;
  husk_error_t *err;
};

/* A string vector that knows its length: appending stays O(1) for
   instructions with hundreds of thousands of words.  */
struct strvec
{
  char **v;
  size_t n;
  size_t cap;
};

static void
strvec_push (struct strvec *s, char *take)
{
  if (s->n + 2 > s->cap)
    {
      s->cap = s->cap ? s->cap * 2 : 8;
      s->v = xrealloc (s->v, s->cap * sizeof (*s->v));
    }
  s->v[s->n++] = take;
  s->v[s->n] = NULL;
}

static char **
strvec_steal (struct strvec *s)
{
  char **v = s->v ? s->v : xzalloc (sizeof (char *));

  s->v = NULL;
  s->n = s->cap = 0;
  return v;
}

static void
cleanup_strvecp (struct strvec *s)
{
  strv_free (s->v);
  s->v = NULL;
}
#define cleanup_strvec __attribute__ ((cleanup (cleanup_strvecp)))

static void
cleanup_bufp (struct husk_buf *b)
{
  husk_buf_free (b);
}
#define cleanup_buf __attribute__ ((cleanup (cleanup_bufp)))

static char *
buf_dup (const struct husk_buf *b)
{
  return xstrndup (b->data ? b->data : "", b->len);
}

/* Go's unicode.IsSpace on ASCII: what TrimSpace and the word splitters
   skip.  */
static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* What separates the keyword from its arguments and whitespace-delimited
   words: [\t\v\f\r ].  */
static bool
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* \s of Go's regular expressions, in the directive pattern.  */
static bool
is_re_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static const char *
skip_space (const char *s)
{
  while (is_space (*s))
    s++;
  return s;
}

static int df_error (struct df_parser *p, unsigned line, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
df_error (struct df_parser *p, unsigned line, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  return husk_make_error (p->err, 0, "%s:%u: %s", p->name, line, msg);
}

/* The next line without its "\n" and one "\r" before it (bufio.ScanLines).  */
static bool
next_line (struct df_parser *p, const char **s, size_t *n)
{
  const char *start, *nl;
  size_t avail;

  if (p->pos >= p->len)
    return false;
  start = p->data + p->pos;
  avail = p->len - p->pos;
  nl = memchr (start, '\n', avail);
  *n = nl ? (size_t)(nl - start) : avail;
  p->pos += *n + (nl ? 1 : 0);
  if (*n > 0 && start[*n - 1] == '\r')
    (*n)--;
  *s = start;
  p->line++;
  return true;
}

static bool
line_is_comment (const char *s, size_t n)
{
  while (n > 0 && is_space (*s))
    s++, n--;
  return n > 0 && *s == '#';
}

static bool
line_is_blank (const char *s, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (!is_space (s[i]))
      return false;
  return true;
}

/* The escape character followed only by spaces and tabs ends the line:
   drop them and say the instruction goes on.  */
static bool
trim_continuation (char escape, const char *s, size_t *n)
{
  size_t k = *n;

  while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
    k--;
  if (k == 0 || s[k - 1] != escape)
    return false;
  *n = k - 1;
  return true;
}

/* ---- parser directives ---- */

/* "# key=value" (BuildKit's ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$)
   on the left-trimmed line s.  Returns 1 when it was a directive, 0 when
   directives are over (the line is something else), negative on error.  */
static int
parse_directive (struct df_parser *p, struct husk_dockerfile *df, const char *s, size_t n, bool *seen_escape,
                 bool *seen_syntax)
{
  cleanup_free char *key = NULL;
  cleanup_free char *value = NULL;
  size_t i = 1, k, v, end;

  if (n == 0 || s[0] != '#')
    return 0;
  while (i < n && is_re_space (s[i]))
    i++;
  k = i;
  if (i >= n || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
    return 0;
  while (i < n
         && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
    i++;
  key = xstrndup (s + k, i - k);
  while (i < n && is_re_space (s[i]))
    i++;
  if (i >= n || s[i] != '=')
    return 0;
  i++;
  v = i;
  while (i < n && is_re_space (s[i]))
    i++;
  end = n;
  while (end > i && is_re_space (s[end - 1]))
    end--;
  if (end > i)
    v = i;
  else if (i > v)
    /* Only blanks after '=': the lazy (.+?) still takes one of them.  */
    v = i - 1, end = i;
  else
    return 0;
  value = xstrndup (s + v, end - v);

  for (char *c = key; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  if (strcmp (key, "escape") == 0)
    {
      if (*seen_escape)
        return df_error (p, p->line, "only one escape parser directive can be used");
      *seen_escape = true;
      if (strcmp (value, "\\") != 0 && strcmp (value, "`") != 0)
        return df_error (p, p->line, "invalid escape token '%s' does not match ` or \\", value);
      df->escape = value[0];
      p->escape = value[0];
      return 1;
    }
  if (strcmp (key, "syntax") == 0)
    {
      if (*seen_syntax)
        return df_error (p, p->line, "only one syntax parser directive can be used");
      *seen_syntax = true;
      df->syntax = steal_pointer (&value);
      return 1;
    }
  /* BuildKit's lint directive: accepted, not acted on.  */
  if (strcmp (key, "check") == 0)
    return 1;
  return 0;
}

/* ---- words ---- */

/* Docker's parseWords: split on blanks outside quotes; quotes and escapes
   stay in the words (the executor's expansion removes them).  */
static void
parse_words (const char *s, char escape, struct strvec *out)
{
  cleanup_buf struct husk_buf w = { 0 };
  enum
  {
    IN_SPACES,
    IN_WORD,
    IN_QUOTE
  } phase
      = IN_SPACES;
  size_t n = strlen (s), i;
  bool blank_ok = false;
  char quote = 0;

  for (i = 0; i <= n; i++)
    {
      char c = i < n ? s[i] : '\0';

      if (phase == IN_SPACES)
        {
          if (i == n)
            break;
          if (is_space (c))
            continue;
          phase = IN_WORD;
        }
      if (i == n)
        {
          if (blank_ok || w.len > 0)
            strvec_push (out, buf_dup (&w));
          break;
        }
      if (phase == IN_WORD)
        {
          if (is_space (c))
            {
              phase = IN_SPACES;
              if (blank_ok || w.len > 0)
                strvec_push (out, buf_dup (&w));
              w.len = 0;
              blank_ok = false;
              continue;
            }
          if (c == '\'' || c == '"')
            {
              quote = c;
              blank_ok = true;
              phase = IN_QUOTE;
            }
          else if (c == escape)
            {
              /* An escape at the very end is dropped; elsewhere it stays
                 with the character it escapes.  */
              if (i + 1 == n)
                continue;
              husk_buf_append (&w, &c, 1);
              c = s[++i];
            }
          husk_buf_append (&w, &c, 1);
          continue;
        }
      /* IN_QUOTE: the escape works in double quotes only.  */
      if (c == quote)
        phase = IN_WORD;
      else if (c == escape && quote != '\'')
        {
          if (i + 1 == n)
            {
              phase = IN_WORD;
              continue;
            }
          husk_buf_append (&w, &c, 1);
          c = s[++i];
        }
      husk_buf_append (&w, &c, 1);
    }
}

/* Split on runs of [\t\v\f\r ] (s is trimmed and not empty).  */
static void
split_blanks (const char *s, struct strvec *out)
{
  while (*s)
    {
      const char *e = s;

      while (*e && !is_blank (*e))
        e++;
      strvec_push (out, xstrndup (s, (size_t)(e - s)));
      while (is_blank (*e))
        e++;
      s = e;
    }
}

/* Docker's extractBuilderFlags: leading words starting with "--" (quotes
   in them removed, '\\' escaping), up to the first other word or a "--"
   word.  Returns where the arguments start.  */
static const char *
extract_flags (const char *s, struct strvec *flags)
{
  cleanup_buf struct husk_buf w = { 0 };
  enum
  {
    IN_SPACES,
    IN_WORD,
    IN_QUOTE
  } phase
      = IN_SPACES;
  size_t n = strlen (s), i;
  bool blank_ok = false;
  char quote = 0;

  for (i = 0; i <= n; i++)
    {
      char c = i < n ? s[i] : '\0';
      bool dashdash;

      if (phase == IN_SPACES)
        {
          if (i == n)
            break;
          if (is_space (c))
            continue;
          if (c != '-' || i + 1 == n || s[i + 1] != '-')
            return s + i;
          phase = IN_WORD;
        }
      dashdash = w.len == 2 && memcmp (w.data, "--", 2) == 0;
      if (i == n)
        {
          if (!dashdash && (blank_ok || w.len > 0))
            strvec_push (flags, buf_dup (&w));
          break;
        }
      if (phase == IN_WORD)
        {
          if (is_space (c))
            {
              if (dashdash)
                return s + i;
              phase = IN_SPACES;
              if (blank_ok || w.len > 0)
                strvec_push (flags, buf_dup (&w));
              w.len = 0;
              blank_ok = false;
              continue;
            }
          if (c == '\'' || c == '"')
            {
              quote = c;
              blank_ok = true;
              phase = IN_QUOTE;
              continue;
            }
          if (c == '\\')
            {
              if (i + 1 == n)
                continue;
              c = s[++i];
            }
          husk_buf_append (&w, &c, 1);
          continue;
        }
      if (c == quote)
        {
          phase = IN_WORD;
          continue;
        }
      if (c == '\\')
        {
          if (i + 1 == n)
            {
              phase = IN_WORD;
              continue;
            }
          c = s[++i];
        }
      husk_buf_append (&w, &c, 1);
    }
  return s + n;
}

/* ---- the JSON (exec) form ---- */

static bool
is_json_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
hex4 (const char *p)
{
  int v = 0, i;

  for (i = 0; i < 4; i++)
    {
      int d = husk_hex_value (p[i]);
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
  return v;
}

/* One JSON string at *pp (on its '"'), decoded as Go's encoding/json does
   (a lone surrogate becomes U+FFFD).  "\u0000" is refused: C strings
   cannot carry it.  */
static bool
json_string (const char **pp, struct husk_buf *b)
{
  const char *p = *pp + 1;

  for (;;)
    {
      unsigned char c = (unsigned char)*p;
      int cp, lo;

      if (c == '"')
        {
          *pp = p + 1;
          return true;
        }
      if (c < 0x20)
        return false;
      if (c != '\\')
        {
          husk_buf_append (b, p++, 1);
          continue;
        }
      p++;
      switch (*p)
        {
        case '"':
        case '\\':
        case '/':
          husk_buf_append (b, p++, 1);
          continue;
        case 'b':
          husk_buf_puts (b, "\b");
          break;
        case 'f':
          husk_buf_puts (b, "\f");
          break;
        case 'n':
          husk_buf_puts (b, "\n");
          break;
        case 'r':
          husk_buf_puts (b, "\r");
          break;
        case 't':
          husk_buf_puts (b, "\t");
          break;
        case 'u':
          cp = hex4 (p + 1);
          if (cp <= 0)
            return false;
          p += 5;
          if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u' && (lo = hex4 (p + 2)) >= 0xdc00
              && lo < 0xe000)
            {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              p += 6;
            }
          else if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xfffd;
          husk_buf_put_utf8 (b, (uint32_t)cp);
          continue;
        default:
          return false;
        }
      p++;
    }
}

/* The exec form: 1 when s is a JSON array of strings (its elements in
   out), 0 when it is not a JSON array at all (the shell form applies),
   -1 when it is valid JSON with something else than strings in it.  */
static int
parse_json_strv (const char *s, struct strvec *out)
{
  const char *p = skip_space (s);

  if (*p != '[')
    return 0;
  p++;
  while (is_json_space (*p))
    p++;
  if (*p == ']')
    p++;
  else
    for (;;)
      {
        cleanup_buf struct husk_buf b = { 0 };

        if (*p != '"')
          goto not_strings;
        if (!json_string (&p, &b))
          goto not_json;
        strvec_push (out, buf_dup (&b));
        while (is_json_space (*p))
          p++;
        if (*p == ']')
          {
            p++;
            break;
          }
        if (*p != ',')
          goto not_json;
        p++;
        while (is_json_space (*p))
          p++;
      }
  while (is_json_space (*p))
    p++;
  if (*p == '\0')
    return 1;

not_json:
  strv_free (out->v);
  out->v = NULL;
  out->n = out->cap = 0;
  return 0;

not_strings:
  {
    husk_error_t jerr = NULL;
    husk_json_t *v = husk_json_parse (s, strlen (s), &jerr);
    bool array = v != NULL && husk_json_type (v) == HUSK_JSON_ARRAY;

    husk_json_free (v);
    husk_error_release (&jerr);
    if (!array)
      goto not_json;
    strv_free (out->v);
    out->v = NULL;
    out->n = out->cap = 0;
    return -1;
  }
}

/* ---- heredocs ---- */

static void
heredoc_push (struct husk_dockerfile_instr *instr, char *name, bool expand, bool strip_tabs)
{
  struct husk_dockerfile_heredoc *h;

  /* n_heredocs is small (the words of one line), so growing one by one
     is fine.  */
  instr->heredocs = xrealloc (instr->heredocs, (instr->n_heredocs + 1) * sizeof (*instr->heredocs));
  h = &instr->heredocs[instr->n_heredocs++];
  h->name = name;
  h->body = NULL;
  h->expand = expand;
  h->strip_tabs = strip_tabs;
}

/* A word of the form [digits]<<[-][blanks]NAME (BuildKit's
   ^(\d*)<<(-?)\s*([^<]*)$), NAME with its quotes removed; quoting any
   part of it turns expansion off, as in sh.  True when w is one; then,
   with instr, the heredoc is added to it.  */
static bool
heredoc_from_word (const char *w, char escape, struct husk_dockerfile_instr *instr)
{
  cleanup_buf struct husk_buf name = { 0 };
  bool chomp = false, quoted = false;
  const char *p = w;

  while (*p >= '0' && *p <= '9')
    p++;
  if (p[0] != '<' || p[1] != '<')
    return false;
  p += 2;
  if (*p == '-')
    chomp = true, p++;
  while (is_re_space (*p))
    p++;
  if (*p == '\0' || strchr (p, '<') != NULL)
    return false;
  while (*p)
    {
      if (*p == '\'' || *p == '"')
        {
          char q = *p++;

          while (*p && *p != q)
            {
              if (q == '"' && *p == escape && (p[1] == '"' || p[1] == '$' || p[1] == escape))
                p++;
              husk_buf_append (&name, p++, 1);
            }
          if (*p != q)
            return false;
          p++;
          quoted = true;
          continue;
        }
      if (*p == escape)
        {
          p++;
          if (*p == '\0')
            break;
        }
      husk_buf_append (&name, p++, 1);
    }
  if (name.len == 0)
    return false;
  if (instr)
    heredoc_push (instr, buf_dup (&name), !quoted, chomp);
  return true;
}

/* The heredocs a shell-form RUN, COPY or ADD opens: its words, split on
   blanks outside quotes (blanks right after "<<" stay in the word, as in
   BuildKit's lexer), that look like <<NAME.  */
static void
find_heredocs (const char *s, char escape, struct husk_dockerfile_instr *instr)
{
  if (strstr (s, "<<") == NULL)
    return;
  while (*s)
    {
      cleanup_buf struct husk_buf w = { 0 };

      while (is_space (*s))
        s++;
      while (*s && !is_space (*s))
        {
          if (*s == '\'' || *s == '"')
            {
              char q = *s;

              husk_buf_append (&w, s++, 1);
              while (*s && *s != q)
                {
                  if (q == '"' && *s == escape && s[1])
                    husk_buf_append (&w, s++, 1);
                  husk_buf_append (&w, s++, 1);
                }
              if (*s)
                husk_buf_append (&w, s++, 1);
              continue;
            }
          if (*s == escape && s[1])
            {
              husk_buf_append (&w, s, 2);
              s += 2;
              continue;
            }
          if (s[0] == '<' && s[1] == '<')
            {
              husk_buf_append (&w, s, 2);
              s += 2;
              if (*s == '-')
                husk_buf_append (&w, s++, 1);
              while (is_blank (*s))
                s++;
              continue;
            }
          husk_buf_append (&w, s++, 1);
        }
      if (w.len > 0)
        heredoc_from_word (w.data, escape, instr);
    }
}

/* Read the bodies of the heredocs instr opened, in order, from the lines
   after the instruction.  */
static int
read_heredocs (struct df_parser *p, struct husk_dockerfile_instr *instr)
{
  size_t i;

  for (i = 0; i < instr->n_heredocs; i++)
    {
      struct husk_dockerfile_heredoc *h = &instr->heredocs[i];
      cleanup_buf struct husk_buf body = { 0 };
      size_t name_len = strlen (h->name);
      bool done = false;
      const char *s;
      size_t n;

      while (next_line (p, &s, &n))
        {
          const char *t = s;
          size_t m = n;

          while (m > 0 && t[m - 1] == '\r')
            m--;
          if (h->strip_tabs)
            while (m > 0 && *t == '\t')
              t++, m--;
          if (m == name_len && memcmp (t, h->name, m) == 0)
            {
              done = true;
              break;
            }
          if (memchr (s, '\0', n) != NULL)
            return df_error (p, p->line, "unexpected NUL byte");
          if (h->strip_tabs)
            while (n > 0 && *s == '\t')
              s++, n--;
          husk_buf_append (&body, s, n);
          husk_buf_append (&body, "\n", 1);
        }
      if (!done)
        return df_error (p, instr->line,
                         "unterminated heredoc <<%s (no line \"%s\" before the end of the file)", h->name,
                         h->name);
      h->body = husk_buf_steal (&body, NULL);
    }
  return 0;
}

/* ---- instructions ---- */

static void
instr_clear (struct husk_dockerfile_instr *instr)
{
  size_t i;

  free (instr->keyword);
  free (instr->text);
  strv_free (instr->flags);
  strv_free (instr->args);
  for (i = 0; i < instr->n_heredocs; i++)
    {
      free (instr->heredocs[i].name);
      free (instr->heredocs[i].body);
    }
  free (instr->heredocs);
}

static int parse_instruction (struct df_parser *p, char *line, unsigned lineno,
                              struct husk_dockerfile_instr *instr);

/* RUN CMD ENTRYPOINT: the JSON array, or the shell command as written.  */
static int
parse_command (struct df_parser *p, struct husk_dockerfile_instr *instr, const char *rest, bool heredocs,
               struct strvec *args)
{
  int r;

  if (*rest == '\0')
    return df_error (p, instr->line, "%s requires at least one argument", instr->keyword);
  r = parse_json_strv (rest, args);
  if (r < 0)
    return df_error (p, instr->line,
                     "when using JSON array syntax, arrays must be comprised of strings only");
  if (r > 0)
    {
      instr->json = true;
      return 0;
    }
  strvec_push (args, xstrdup (rest));
  if (heredocs)
    find_heredocs (rest, p->escape, instr);
  return 0;
}

/* ENV LABEL: key, value pairs, "KEY name value" (old form) or
   "KEY name=value ..." (the first word decides).  */
static int
parse_name_value (struct df_parser *p, struct husk_dockerfile_instr *instr, const char *rest,
                  struct strvec *args)
{
  cleanup_strvec struct strvec words = { 0 };
  size_t i;

  parse_words (rest, p->escape, &words);
  if (words.n == 0)
    return df_error (p, instr->line, "%s requires at least one argument", instr->keyword);
  if (strchr (words.v[0], '=') == NULL)
    {
      const char *e = rest;

      while (*e && !is_blank (*e))
        e++;
      strvec_push (args, xstrndup (rest, (size_t)(e - rest)));
      while (is_blank (*e))
        e++;
      if (*e == '\0')
        return df_error (p, instr->line, "%s must have two arguments", instr->keyword);
      strvec_push (args, xstrdup (e));
      return 0;
    }
  for (i = 0; i < words.n; i++)
    {
      const char *eq = strchr (words.v[i], '=');

      if (eq == NULL)
        return df_error (p, instr->line,
                         "Syntax error - can't find = in \"%s\". Must be of the form: name=value",
                         words.v[i]);
      if (eq == words.v[i])
        return df_error (p, instr->line, "%s names can not be blank", instr->keyword);
      strvec_push (args, xstrndup (words.v[i], (size_t)(eq - words.v[i])));
      strvec_push (args, xstrdup (eq + 1));
    }
  return 0;
}

/* COPY ADD VOLUME: a JSON array or whitespace-separated words.  */
static int
parse_list (struct df_parser *p, struct husk_dockerfile_instr *instr, enum df_kind kind, const char *rest,
            struct strvec *args)
{
  bool copy = kind == DF_COPY || kind == DF_ADD;
  size_t i;
  int r;

  if (*rest == '\0' && !copy)
    return df_error (p, instr->line, "%s requires at least one argument", instr->keyword);
  r = parse_json_strv (rest, args);
  if (r < 0)
    return df_error (p, instr->line,
                     "when using JSON array syntax, arrays must be comprised of strings only");
  if (r > 0)
    instr->json = true;
  else
    {
      split_blanks (rest, args);
      if (copy)
        find_heredocs (rest, p->escape, instr);
    }
  if (copy && args->n < 2)
    return df_error (
        p, instr->line,
        "%s requires at least two arguments, but only one was provided. Destination could not be "
        "determined",
        instr->keyword);
  if (copy && !instr->json && heredoc_from_word (args->v[args->n - 1], p->escape, NULL))
    return df_error (p, instr->line, "%s cannot accept a heredoc as a destination", instr->keyword);
  if (kind == DF_VOLUME)
    for (i = 0; i < args->n; i++)
      if (*skip_space (args->v[i]) == '\0')
        return df_error (p, instr->line, "VOLUME specified can not be an empty string");
  return 0;
}

/* HEALTHCHECK NONE | HEALTHCHECK [flags] CMD command.  */
static int
parse_healthcheck (struct df_parser *p, struct husk_dockerfile_instr *instr, const char *rest,
                   struct strvec *args)
{
  const char *e = rest, *next;
  cleanup_free char *type = NULL;
  size_t i;
  int r;

  if (*rest == '\0')
    return df_error (p, instr->line, "HEALTHCHECK requires at least one argument");
  while (*e && !is_space (*e))
    e++;
  next = skip_space (e);
  type = xstrndup (rest, (size_t)(e - rest));
  for (i = 0; type[i]; i++)
    if (type[i] >= 'a' && type[i] <= 'z')
      type[i] = (char)(type[i] - 'a' + 'A');
  if (strcmp (type, "NONE") == 0)
    {
      if (*next != '\0')
        return df_error (p, instr->line, "HEALTHCHECK NONE takes no arguments");
      strvec_push (args, xstrdup ("NONE"));
      return 0;
    }
  if (strcmp (type, "CMD") != 0)
    return df_error (p, instr->line, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", type);
  strvec_push (args, xstrdup ("CMD"));
  if (*next == '\0')
    return df_error (p, instr->line, "Missing command after HEALTHCHECK CMD");
  r = parse_json_strv (next, args);
  if (r < 0)
    return df_error (p, instr->line,
                     "when using JSON array syntax, arrays must be comprised of strings only");
  if (r == 0)
    strvec_push (args, xstrdup (next));
  else
    instr->json = true;
  if (args->n < 2)
    return df_error (p, instr->line, "Missing command after HEALTHCHECK CMD");
  return 0;
}

/* ONBUILD: the trigger must itself parse, and may not be ONBUILD, FROM or
   MAINTAINER.  A RUN, COPY or ADD trigger's heredocs belong to the
   ONBUILD instruction.  */
static int
parse_onbuild (struct df_parser *p, struct husk_dockerfile_instr *instr, const char *rest,
               struct strvec *args)
{
  struct husk_dockerfile_instr sub = { 0 };
  cleanup_free char *kw = NULL;
  const char *e = rest;
  size_t i;
  int ret;

  if (*rest == '\0')
    return df_error (p, instr->line, "ONBUILD requires at least one argument");
  while (*e && !is_blank (*e))
    e++;
  kw = xstrndup (rest, (size_t)(e - rest));
  for (i = 0; kw[i]; i++)
    if (kw[i] >= 'a' && kw[i] <= 'z')
      kw[i] = (char)(kw[i] - 'a' + 'A');
  if (strcmp (kw, "ONBUILD") == 0)
    return df_error (p, instr->line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (strcmp (kw, "FROM") == 0 || strcmp (kw, "MAINTAINER") == 0)
    return df_error (p, instr->line, "%s isn't allowed as an ONBUILD trigger", kw);

  sub.line = instr->line;
  ret = parse_instruction (p, xstrdup (rest), instr->line, &sub);
  if (ret == 0)
    {
      instr->heredocs = steal_pointer (&sub.heredocs);
      instr->n_heredocs = sub.n_heredocs;
      sub.n_heredocs = 0;
      strvec_push (args, xstrdup (rest));
    }
  instr_clear (&sub);
  return ret;
}

static int
parse_args (struct df_parser *p, struct husk_dockerfile_instr *instr, enum df_kind kind, const char *rest,
            struct strvec *args)
{
  cleanup_strvec struct strvec words = { 0 };
  size_t i;

  switch (kind)
    {
    case DF_RUN:
      return parse_command (p, instr, rest, true, args);
    case DF_CMD:
    case DF_ENTRYPOINT:
      return parse_command (p, instr, rest, false, args);

    case DF_SHELL:
      {
        int r;

        if (*rest == '\0')
          return df_error (p, instr->line, "SHELL requires at least one argument");
        r = parse_json_strv (rest, args);
        if (r < 0)
          return df_error (p, instr->line,
                           "when using JSON array syntax, arrays must be comprised of strings only");
        if (r == 0)
          return df_error (p, instr->line, "SHELL requires the arguments to be in JSON form");
        instr->json = true;
        if (args->n == 0)
          return df_error (p, instr->line, "SHELL requires at least one argument");
        return 0;
      }

    case DF_COPY:
    case DF_ADD:
    case DF_VOLUME:
      return parse_list (p, instr, kind, rest, args);

    case DF_FROM:
      if (*rest == '\0')
        return df_error (p, instr->line, "FROM requires at least one argument");
      split_blanks (rest, args);
      if (args->n == 2 || args->n > 3 || (args->n == 3 && strcasecmp (args->v[1], "AS") != 0))
        return df_error (p, instr->line, "FROM requires either one or three arguments");
      return 0;

    case DF_EXPOSE:
      if (*rest == '\0')
        return df_error (p, instr->line, "EXPOSE requires at least one argument");
      split_blanks (rest, args);
      return 0;

    case DF_ENV:
    case DF_LABEL:
      return parse_name_value (p, instr, rest, args);

    case DF_ARG:
      parse_words (rest, p->escape, &words);
      if (words.n == 0)
        return df_error (p, instr->line, "ARG requires at least one argument");
      for (i = 0; i < words.n; i++)
        {
          if (words.v[i][0] == '=')
            return df_error (p, instr->line, "ARG names can not be blank");
          strvec_push (args, xstrdup (words.v[i]));
        }
      return 0;

    case DF_WORKDIR:
    case DF_USER:
    case DF_MAINTAINER:
    case DF_STOPSIGNAL:
      if (*rest == '\0')
        return df_error (p, instr->line, "%s requires exactly one argument", instr->keyword);
      strvec_push (args, xstrdup (rest));
      return 0;

    case DF_HEALTHCHECK:
      return parse_healthcheck (p, instr, rest, args);

    case DF_ONBUILD:
      return parse_onbuild (p, instr, rest, args);
    }
  return df_error (p, instr->line, "internal error: instruction %s has no parser", instr->keyword);
}

/* One instruction, continuations already joined: keyword, text, flags,
   args, and the heredocs it opens (their bodies are read by the caller).
   line is malloc'd and taken over: it becomes instr->text.  */
static int
parse_instruction (struct df_parser *p, char *line, unsigned lineno, struct husk_dockerfile_instr *instr)
{
  cleanup_strvec struct strvec flags = { 0 };
  cleanup_strvec struct strvec args = { 0 };
  cleanup_free char *owned = line;
  const char *s = skip_space (line), *e, *rest;
  size_t i, k, n;
  int ret;

  instr->line = lineno;
  e = s;
  while (*e && !is_blank (*e))
    e++;
  instr->keyword = xstrndup (s, (size_t)(e - s));
  for (k = 0; k < sizeof (df_keywords) / sizeof (df_keywords[0]); k++)
    if (strcasecmp (instr->keyword, df_keywords[k].name) == 0)
      break;
  if (k == sizeof (df_keywords) / sizeof (df_keywords[0]))
    return df_error (p, lineno, "unknown instruction: %s", instr->keyword);
  for (i = 0; instr->keyword[i]; i++)
    if (instr->keyword[i] >= 'a' && instr->keyword[i] <= 'z')
      instr->keyword[i] = (char)(instr->keyword[i] - 'a' + 'A');

  /* The text, trimmed, moved to the front of the line's buffer rather
     than copied: a 10 MB instruction costs no second copy.  */
  e = skip_space (e);
  n = strlen (e);
  while (n > 0 && is_space (e[n - 1]))
    n--;
  memmove (owned, e, n);
  owned[n] = '\0';
  instr->text = steal_pointer (&owned);

  rest = instr->text;
  if (df_keywords[k].flags)
    rest = skip_space (extract_flags (instr->text, &flags));
  ret = parse_args (p, instr, df_keywords[k].kind, rest, &args);
  if (ret < 0)
    return ret;
  instr->flags = strvec_steal (&flags);
  instr->args = strvec_steal (&args);
  return 0;
}

/* Read one instruction's lines from the current one on: the joined text
   in *joined.  Returns false when the line was blank or a comment.  */
static bool
join_lines (struct df_parser *p, const char *s, size_t n, struct husk_buf *joined)
{
  bool more;

  joined->len = 0;
  if (n > 0 && s[0] == '#')
    return false;
  more = trim_continuation (p->escape, s, &n);
  if (!more && n == 0)
    return false;
  husk_buf_append (joined, s, n);
  /* Docker skips comment lines and (with a warning) blank lines inside a
     continuation: neither ends the instruction.  */
  while (more && next_line (p, &s, &n))
    {
      if (line_is_comment (s, n) || line_is_blank (s, n))
        continue;
      more = trim_continuation (p->escape, s, &n);
      husk_buf_append (joined, s, n);
    }
  return true;
}

int
husk_dockerfile_parse (const char *name, const char *data, size_t len, struct husk_dockerfile **out,
                       husk_error_t *err)
{
  cleanup_dockerfile struct husk_dockerfile *df = xzalloc (sizeof (*df));
  cleanup_buf struct husk_buf joined = { 0 };
  struct df_parser p = { .name = name, .data = data, .len = len, .escape = '\\', .err = err };
  bool directives = true, seen_escape = false, seen_syntax = false;
  size_t cap = 0;
  const char *s;
  size_t n;
  int ret;

  df->name = xstrdup (name);
  df->escape = '\\';
  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    p.pos = 3;

  while (next_line (&p, &s, &n))
    {
      struct husk_dockerfile_instr *instr;
      unsigned start = p.line;

      while (n > 0 && is_space (*s))
        s++, n--;
      if (directives)
        {
          ret = parse_directive (&p, df, s, n, &seen_escape, &seen_syntax);
          if (ret < 0)
            return ret;
          if (ret > 0)
            continue;
          directives = false;
        }
      if (!join_lines (&p, s, n, &joined))
        continue;
      if (memchr (joined.data, '\0', joined.len) != NULL)
        return df_error (&p, start, "unexpected NUL byte");

      if (df->n_instrs == cap)
        {
          cap = cap ? cap * 2 : 16;
          df->instrs = xrealloc (df->instrs, cap * sizeof (*df->instrs));
        }
      instr = &df->instrs[df->n_instrs++];
      memset (instr, 0, sizeof (*instr));
      ret = parse_instruction (&p, husk_buf_steal (&joined, NULL), start, instr);
      if (ret < 0)
        return ret;
      ret = read_heredocs (&p, instr);
      if (ret < 0)
        return ret;
    }
  if (df->n_instrs == 0)
    return husk_make_error (err, 0, "%s: file with no instructions", name);
  *out = steal_pointer (&df);
  return 0;
}

void
husk_dockerfile_free (struct husk_dockerfile *df)
{
  size_t i;

  if (df == NULL)
    return;
  for (i = 0; i < df->n_instrs; i++)
    instr_clear (&df->instrs[i]);
  free (df->instrs);
  free (df->name);
  free (df->syntax);
  free (df);
}

void
cleanup_dockerfilep (struct husk_dockerfile **df)
{
  husk_dockerfile_free (*df);
}
