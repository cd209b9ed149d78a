/* husk: Docker's word processing for Dockerfile instructions (src/build).

   What BuildKit's shell lexer does to one word (ProcessWord): quotes
   removed, '...' literal, "..." expanding $ and honouring the escape
   character before '"', '$' and itself only, the escape character
   outside quotes taking the next character literally (one at the very
   end of the word is dropped, as BuildKit does), and the parameter
   forms $NAME, ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word},
   ${NAME+word}, ${NAME:?word}, ${NAME?word}, with word expanded in turn.
   A "$" not followed by a name or "{" stays as it is.  */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "husk/build.h"
#include "husk/util.h"

/* ${a:-${b:-...}} recurses once per level; a word is a line of a
   Dockerfile, so bound it rather than the stack.  */
#define EXPAND_MAX_DEPTH 256

struct expander
{
  const char *s;
  size_t len;
  size_t pos;
  char escape;
  husk_build_lookup_fn lookup;
  void *ctx;
  unsigned depth;
  husk_error_t *err;
};

static int expand_until (struct expander *x, char stop, struct husk_buf *out);

static bool
is_name_start (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_name_char (char c)
{
  return is_name_start (c) || (c >= '0' && c <= '9');
}

static const char *
lookup (struct expander *x, const char *name)
{
  return x->lookup ? x->lookup (x->ctx, name) : NULL;
}

/* "bad substitution ${...}": the text from the '$' at start to the first
   '}' (or the end of the word).  */
static int
bad_substitution (struct expander *x, size_t start)
{
  const char *close = memchr (x->s + start, '}', x->len - start);
  size_t end = close ? (size_t)(close - x->s) + 1 : x->len;

  return husk_make_error (x->err, 0, "bad substitution %.*s", (int)(end - start), x->s + start);
}

static int
missing_brace (struct expander *x, size_t start)
{
  if (x->err && *x->err)
    husk_error_release (x->err);
  return husk_make_error (x->err, 0, "missing '}' in %.*s", (int)(x->len - start), x->s + start);
}

static int
expand_single_quote (struct expander *x, struct husk_buf *out)
{
  const char *close = memchr (x->s + x->pos + 1, '\'', x->len - x->pos - 1);

  if (close == NULL)
    return husk_make_error (x->err, 0, "unexpected end of statement while looking for matching single-quote");
  husk_buf_append (out, x->s + x->pos + 1, (size_t)(close - (x->s + x->pos + 1)));
  x->pos = (size_t)(close - x->s) + 1;
  return 0;
}

static int expand_dollar (struct expander *x, struct husk_buf *out);

static int
expand_double_quote (struct expander *x, struct husk_buf *out)
{
  x->pos++;
  for (;;)
    {
      char c;
      int ret;

      if (x->pos >= x->len)
        return husk_make_error (x->err, 0,
                                "unexpected end of statement while looking for matching double-quote");
      c = x->s[x->pos];
      if (c == '"')
        {
          x->pos++;
          return 0;
        }
      if (c == '$')
        {
          ret = expand_dollar (x, out);
          if (ret < 0)
            return ret;
          continue;
        }
      x->pos++;
      if (c == x->escape && x->pos < x->len)
        {
          char n = x->s[x->pos];

          /* Only these are escaped inside double quotes; before anything
             else the escape character stays.  */
          if (n == '"' || n == '$' || n == x->escape)
            {
              c = n;
              x->pos++;
            }
        }
      else if (c == x->escape)
        continue;
      husk_buf_append (out, &c, 1);
    }
}

/* The operand of ${NAME<op>word}, then the operator applied.  */
static int
expand_operator (struct expander *x, size_t start, const char *name, char op, bool colon,
                 struct husk_buf *out)
{
  cleanup_free char *word = NULL;
  struct husk_buf w = { 0 };
  const char *value;
  bool unset;
  int ret;

  if (x->depth >= EXPAND_MAX_DEPTH)
    return husk_make_error (x->err, 0, "bad substitution: more than %d nested ${...}", EXPAND_MAX_DEPTH);
  x->depth++;
  ret = expand_until (x, '}', &w);
  x->depth--;
  word = husk_buf_steal (&w, NULL);
  if (ret < 0)
    {
      if (x->pos >= x->len)
        return missing_brace (x, start);
      return ret;
    }

  value = lookup (x, name);
  /* With ':' an empty value counts as unset.  */
  unset = value == NULL || (colon && *value == '\0');
  switch (op)
    {
    case '-':
      husk_buf_puts (out, unset ? word : value);
      return 0;
    case '+':
      if (!unset)
        husk_buf_puts (out, word);
      return 0;
    default: /* '?' */
      if (unset)
        return husk_make_error (x->err, 0, "%s: %s", name,
                                *word           ? word
                                : value == NULL ? "is not allowed to be unset"
                                                : "is not allowed to be empty");
      husk_buf_puts (out, value);
      return 0;
    }
}

/* At a '$'.  */
static int
expand_dollar (struct expander *x, struct husk_buf *out)
{
  cleanup_free char *name = NULL;
  size_t start = x->pos, n;
  const char *value;
  bool colon = false;
  char c;

  x->pos++;
  if (x->pos >= x->len || x->s[x->pos] != '{')
    {
      n = x->pos;
      if (n < x->len && is_name_start (x->s[n]))
        while (n < x->len && is_name_char (x->s[n]))
          n++;
      if (n == x->pos)
        {
          husk_buf_append (out, "$", 1);
          return 0;
        }
      name = xstrndup (x->s + x->pos, n - x->pos);
      x->pos = n;
      value = lookup (x, name);
      if (value)
        husk_buf_puts (out, value);
      return 0;
    }

  x->pos++;
  if (x->pos >= x->len)
    return missing_brace (x, start);
  n = x->pos;
  if (is_name_start (x->s[n]))
    while (n < x->len && is_name_char (x->s[n]))
      n++;
  if (n == x->pos)
    return bad_substitution (x, start);
  name = xstrndup (x->s + x->pos, n - x->pos);
  x->pos = n;
  if (x->pos >= x->len)
    return missing_brace (x, start);
  c = x->s[x->pos++];
  if (c == '}')
    {
      value = lookup (x, name);
      if (value)
        husk_buf_puts (out, value);
      return 0;
    }
  if (c == ':')
    {
      if (x->pos >= x->len)
        return missing_brace (x, start);
      colon = true;
      c = x->s[x->pos++];
    }
  if (c != '-' && c != '+' && c != '?')
    return bad_substitution (x, start);
  return expand_operator (x, start, name, c, colon, out);
}

/* Process characters until stop (consumed) or, with stop '\0', the end
   of the word.  */
static int
expand_until (struct expander *x, char stop, struct husk_buf *out)
{
  while (x->pos < x->len)
    {
      char c = x->s[x->pos];
      int ret = 0;

      if (stop != '\0' && c == stop)
        {
          x->pos++;
          return 0;
        }
      if (c == '\'')
        ret = expand_single_quote (x, out);
      else if (c == '"')
        ret = expand_double_quote (x, out);
      else if (c == '$')
        ret = expand_dollar (x, out);
      else
        {
          x->pos++;
          if (c == x->escape)
            {
              if (x->pos >= x->len)
                break;
              c = x->s[x->pos++];
            }
          husk_buf_append (out, &c, 1);
        }
      if (ret < 0)
        return ret;
    }
  if (stop != '\0')
    return husk_make_error (x->err, 0, "unexpected end of statement while looking for matching %c", stop);
  return 0;
}

int
husk_build_expand (const char *word, char escape, husk_build_lookup_fn lookup_fn, void *ctx, char **out,
                   husk_error_t *err)
{
  struct expander x
      = { .s = word, .len = strlen (word), .escape = escape, .lookup = lookup_fn, .ctx = ctx, .err = err };
  struct husk_buf b = { 0 };
  int ret;

  ret = expand_until (&x, '\0', &b);
  if (ret < 0)
    {
      husk_buf_free (&b);
      return ret;
    }
  *out = husk_buf_steal (&b, NULL);
  return 0;
}
