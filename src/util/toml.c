/* husk: a small TOML v1.0 reader producing a husk_json_t tree.

   One pass over the text with a cursor.  The JSON tree cannot carry flags,
   so the parser keeps three pointer sets beside it to apply TOML's rules
   on redefinition: tables that a [header] may not (re)open, values closed
   to any addition (inline tables, value arrays), and arrays made by
   [[header]] that may grow.  */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "husk/fs.h"
#include "husk/toml.h"
#include "husk/util.h"

/* registries.conf files are small; anything this big is not one.  */
#define TOML_MAX_FILE  (16 * 1024 * 1024)
#define TOML_MAX_DEPTH 64

struct ptr_set
{
  const void **v;
  size_t n;
  size_t cap;
};

struct parser
{
  const char *p;
  const char *end;
  const char *name;
  int line;
  int depth;
  husk_json_t *root;
  husk_json_t *cur;
  struct ptr_set closed;       /* defined by a [header] or by dotted keys */
  struct ptr_set frozen;       /* inline tables and value arrays */
  struct ptr_set table_arrays; /* made by [[header]] */
  husk_error_t *err;
};

static void
ptr_set_add (struct ptr_set *s, const void *ptr)
{
  if (s->n == s->cap)
    {
      s->cap = s->cap ? s->cap * 2 : 16;
      s->v = xrealloc (s->v, s->cap * sizeof (*s->v));
    }
  s->v[s->n++] = ptr;
}

static bool
ptr_set_has (const struct ptr_set *s, const void *ptr)
{
  size_t i;

  for (i = 0; i < s->n; i++)
    if (s->v[i] == ptr)
      return true;
  return false;
}

static int perr (struct parser *ps, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
perr (struct parser *ps, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  return husk_make_error (ps->err, 0, "%s:%d: %s", ps->name, ps->line, msg);
}

static bool
at_eof (struct parser *ps)
{
  return ps->p >= ps->end;
}

static bool
looking_at (struct parser *ps, const char *s)
{
  size_t n = strlen (s);

  return (size_t)(ps->end - ps->p) >= n && memcmp (ps->p, s, n) == 0;
}

static void
skip_ws (struct parser *ps)
{
  while (!at_eof (ps) && (*ps->p == ' ' || *ps->p == '\t'))
    ps->p++;
}

static void
skip_comment (struct parser *ps)
{
  while (!at_eof (ps) && *ps->p != '\n')
    ps->p++;
}

/* Consume one newline if there is one.  */
static bool
eat_newline (struct parser *ps)
{
  if (looking_at (ps, "\n"))
    ps->p++;
  else if (looking_at (ps, "\r\n"))
    ps->p += 2;
  else
    return false;
  ps->line++;
  return true;
}

/* Whitespace, newlines and comments, as allowed inside arrays.  */
static void
skip_ws_nl (struct parser *ps)
{
  for (;;)
    {
      skip_ws (ps);
      if (!at_eof (ps) && *ps->p == '#')
        skip_comment (ps);
      if (!eat_newline (ps))
        return;
    }
}

static int
expect_eol (struct parser *ps)
{
  skip_ws (ps);
  if (!at_eof (ps) && *ps->p == '#')
    skip_comment (ps);
  if (at_eof (ps) || eat_newline (ps))
    return 0;
  return perr (ps, "unexpected '%c' at end of line", *ps->p);
}

/* ps->p is just after the backslash.  */
static int
parse_escape (struct parser *ps, struct husk_buf *b)
{
  unsigned long cp = 0;
  int digits;
  int i;
  char c;

  if (at_eof (ps))
    return perr (ps, "unterminated string");
  c = *ps->p++;
  switch (c)
    {
    case 'b':
      husk_buf_puts (b, "\b");
      return 0;
    case 't':
      husk_buf_puts (b, "\t");
      return 0;
    case 'n':
      husk_buf_puts (b, "\n");
      return 0;
    case 'f':
      husk_buf_puts (b, "\f");
      return 0;
    case 'r':
      husk_buf_puts (b, "\r");
      return 0;
    case '"':
      husk_buf_puts (b, "\"");
      return 0;
    case '\\':
      husk_buf_puts (b, "\\");
      return 0;
    case 'u':
      digits = 4;
      break;
    case 'U':
      digits = 8;
      break;
    default:
      return perr (ps, "invalid escape sequence '\\%c'", c);
    }
  if (ps->end - ps->p < digits)
    return perr (ps, "short \\%c escape", c);
  for (i = 0; i < digits; i++)
    {
      int h = husk_hex_value (ps->p[i]);
      if (h < 0)
        return perr (ps, "invalid \\%c escape", c);
      cp = cp * 16 + (unsigned long)h;
    }
  ps->p += digits;
  /* Strings end up as C strings: a NUL would silently cut them.  */
  if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return perr (ps, "invalid unicode escape U+%04lX", cp);
  husk_buf_put_utf8 (b, cp);
  return 0;
}

static bool
is_control (unsigned char c)
{
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* "..." or '...' on one line; ps->p is on the opening quote.  */
static int
parse_line_string (struct parser *ps, char **out)
{
  struct husk_buf b = { 0 };
  char quote = *ps->p++;
  int ret;

  husk_buf_puts (&b, "");
  for (;;)
    {
      unsigned char c;

      if (at_eof (ps) || *ps->p == '\n' || *ps->p == '\r')
        {
          husk_buf_free (&b);
          return perr (ps, "unterminated string");
        }
      c = (unsigned char)*ps->p;
      if (c == (unsigned char)quote)
        {
          ps->p++;
          break;
        }
      if (is_control (c))
        {
          husk_buf_free (&b);
          return perr (ps, "control character 0x%02x in string", c);
        }
      if (c == '\\' && quote == '"')
        {
          ps->p++;
          ret = parse_escape (ps, &b);
          if (ret < 0)
            {
              husk_buf_free (&b);
              return ret;
            }
          continue;
        }
      husk_buf_append (&b, ps->p, 1);
      ps->p++;
    }
  *out = husk_buf_steal (&b, NULL);
  return 0;
}

/* A backslash at the end of a line in a """ string: skip it and every
   whitespace and newline after it.  Returns false if the backslash is not
   followed by only whitespace up to the end of line.  */
static bool
skip_line_ending_backslash (struct parser *ps)
{
  const char *q = ps->p + 1;

  while (q < ps->end && (*q == ' ' || *q == '\t'))
    q++;
  if (!(q < ps->end && (*q == '\n' || (*q == '\r' && q + 1 < ps->end && q[1] == '\n'))))
    return false;
  ps->p = q;
  for (;;)
    {
      skip_ws (ps);
      if (!eat_newline (ps))
        return true;
    }
}

/* """...""" or '''...'''; ps->p is on the opening delimiter.  */
static int
parse_ml_string (struct parser *ps, char **out)
{
  struct husk_buf b = { 0 };
  char quote = *ps->p;
  int ret;

  ps->p += 3;
  husk_buf_puts (&b, "");
  /* A newline right after the opening delimiter is trimmed.  */
  eat_newline (ps);
  for (;;)
    {
      unsigned char c;

      if (at_eof (ps))
        {
          husk_buf_free (&b);
          return perr (ps, "unterminated multi-line string");
        }
      c = (unsigned char)*ps->p;
      if (c == (unsigned char)quote && ps->end - ps->p >= 3 && ps->p[1] == quote && ps->p[2] == quote)
        {
          size_t run = 3;

          /* Up to two quotes may sit right before the closing delimiter.  */
          while (ps->p + run < ps->end && ps->p[run] == quote)
            run++;
          if (run > 5)
            {
              husk_buf_free (&b);
              return perr (ps, "too many quotes at the end of a multi-line string");
            }
          husk_buf_append (&b, ps->p, run - 3);
          ps->p += run;
          break;
        }
      if (c == '\n' || (c == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n'))
        {
          eat_newline (ps);
          husk_buf_puts (&b, "\n");
          continue;
        }
      if (is_control (c))
        {
          husk_buf_free (&b);
          return perr (ps, "control character 0x%02x in string", c);
        }
      if (c == '\\' && quote == '"')
        {
          if (skip_line_ending_backslash (ps))
            continue;
          ps->p++;
          ret = parse_escape (ps, &b);
          if (ret < 0)
            {
              husk_buf_free (&b);
              return ret;
            }
          continue;
        }
      husk_buf_append (&b, ps->p, 1);
      ps->p++;
    }
  *out = husk_buf_steal (&b, NULL);
  return 0;
}

static bool
is_bare_key_char (char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A key, possibly dotted: a.b."c.d".'e' -> {"a", "b", "c.d", "e"}.  */
static int
parse_key (struct parser *ps, char ***out)
{
  cleanup_strv char **parts = NULL;
  int ret;

  for (;;)
    {
      char *part = NULL;

      skip_ws (ps);
      if (at_eof (ps))
        return perr (ps, "expected a key");
      if (looking_at (ps, "\"\"\"") || looking_at (ps, "'''"))
        return perr (ps, "multi-line strings cannot be keys");
      if (*ps->p == '"' || *ps->p == '\'')
        {
          ret = parse_line_string (ps, &part);
          if (ret < 0)
            return ret;
        }
      else
        {
          const char *start = ps->p;

          while (!at_eof (ps) && is_bare_key_char (*ps->p))
            ps->p++;
          if (ps->p == start)
            return perr (ps, "invalid character '%c' in key", *ps->p);
          part = xstrndup (start, (size_t)(ps->p - start));
        }
      strv_append_take (&parts, part);
      skip_ws (ps);
      if (at_eof (ps) || *ps->p != '.')
        break;
      ps->p++;
    }
  *out = steal_pointer (&parts);
  return 0;
}

static char *
key_string (char *const *parts, size_t n)
{
  struct husk_buf b = { 0 };
  size_t i;

  husk_buf_puts (&b, "");
  for (i = 0; i < n; i++)
    husk_buf_printf (&b, "%s%s", i ? "." : "", parts[i]);
  return husk_buf_steal (&b, NULL);
}

/* Digits with single underscores between them; copies without the
   underscores into out.  */
static bool
strip_underscores (const char *s, bool hex, struct husk_buf *out)
{
  size_t i;

  for (i = 0; s[i]; i++)
    {
      if (s[i] == '_')
        {
          bool before
              = i > 0 && (hex ? husk_hex_value (s[i - 1]) >= 0 : (s[i - 1] >= '0' && s[i - 1] <= '9'));
          bool after = hex ? husk_hex_value (s[i + 1]) >= 0 : (s[i + 1] >= '0' && s[i + 1] <= '9');
          if (!before || !after)
            return false;
          continue;
        }
      husk_buf_append (out, &s[i], 1);
    }
  husk_buf_puts (out, "");
  return true;
}

static bool
looks_like_datetime (const char *t)
{
  size_t n = strlen (t);

  if (n >= 10 && t[4] == '-' && t[7] == '-')
    return true;
  return n >= 8 && t[2] == ':' && t[5] == ':';
}

static bool
digit_in_base (char c, int base)
{
  int v = husk_hex_value (c);

  return v >= 0 && v < base;
}

static int
parse_integer (struct parser *ps, const char *tok, husk_json_t **out)
{
  struct husk_buf b = { 0 };
  const char *digits = tok;
  char *endp = NULL;
  long long v = 0;
  int base = 10;
  const char *c;
  bool ok;

  if (*digits == '+' || *digits == '-')
    digits++;
  if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o' || digits[1] == 'b'))
    {
      if (digits != tok)
        return perr (ps, "invalid integer '%s': no sign allowed with a base prefix", tok);
      base = digits[1] == 'x' ? 16 : digits[1] == 'o' ? 8 : 2;
      digits += 2;
    }
  else if (digits[0] == '0' && digits[1] != '\0')
    return perr (ps, "invalid integer '%s': leading zero", tok);
  ok = *digits != '\0';
  for (c = digits; *c && ok; c++)
    ok = *c == '_' || digit_in_base (*c, base);
  /* The sign stays with the digits so that INT64_MIN parses.  */
  if (base == 10)
    husk_buf_append (&b, tok, (size_t)(digits - tok));
  if (!ok || !strip_underscores (digits, base == 16, &b))
    {
      husk_buf_free (&b);
      return perr (ps, "invalid value '%s'", tok);
    }
  errno = 0;
  v = strtoll (b.data, &endp, base);
  ok = *endp == '\0' && errno == 0;
  husk_buf_free (&b);
  if (!ok)
    return perr (ps, "integer '%s' out of range", tok);
  *out = husk_json_new_int (v);
  return 0;
}

static int
parse_float (struct parser *ps, const char *tok, husk_json_t **out)
{
  struct husk_buf b = { 0 };
  const char *t = tok;
  char *endp = NULL;
  double d;

  if (*t == '+' || *t == '-')
    t++;
  if (strcmp (t, "inf") == 0 || strcmp (t, "nan") == 0)
    {
      d = strcmp (t, "inf") == 0 ? __builtin_inf () : __builtin_nan ("");
      *out = husk_json_new_double (*tok == '-' ? -d : d);
      return 0;
    }
  /* strtod also takes hex floats and "infinity": TOML does not.  */
  if (!(*t >= '0' && *t <= '9') || strpbrk (t, "xXpP") || !strip_underscores (tok, false, &b))
    {
      husk_buf_free (&b);
      return perr (ps, "invalid value '%s'", tok);
    }
  errno = 0;
  d = strtod (b.data, &endp);
  if (endp == b.data || *endp != '\0' || errno == ERANGE)
    {
      husk_buf_free (&b);
      return perr (ps, "invalid float '%s'", tok);
    }
  husk_buf_free (&b);
  *out = husk_json_new_double (d);
  return 0;
}

/* Numbers, booleans, dates: a run of bare characters.  */
static int
parse_bare_value (struct parser *ps, husk_json_t **out)
{
  const char *start = ps->p;
  cleanup_free char *tok = NULL;

  while (!at_eof (ps) && (is_bare_key_char (*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':'))
    ps->p++;
  /* "1979-05-27 07:32:00": a date and a time may be split by one space.  */
  if (ps->p - start == 10 && start[4] == '-' && ps->end - ps->p >= 3 && ps->p[0] == ' ' && ps->p[1] >= '0'
      && ps->p[1] <= '9' && ps->p[2] >= '0' && ps->p[2] <= '9')
    {
      ps->p++;
      while (!at_eof (ps) && (is_bare_key_char (*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':'))
        ps->p++;
    }
  if (ps->p == start)
    {
      if (at_eof (ps) || *ps->p == '\n' || *ps->p == '\r')
        return perr (ps, "expected a value");
      return perr (ps, "unexpected '%c' where a value was expected", *ps->p);
    }
  tok = xstrndup (start, (size_t)(ps->p - start));
  if (strcmp (tok, "true") == 0 || strcmp (tok, "false") == 0)
    {
      *out = husk_json_new_bool (tok[0] == 't');
      return 0;
    }
  if (looks_like_datetime (tok))
    {
      *out = husk_json_new_string (tok);
      return 0;
    }
  if (!(tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'o' || tok[1] == 'b'))
      && (strpbrk (tok, ".eE") || strstr (tok, "inf") || strstr (tok, "nan")))
    return parse_float (ps, tok, out);
  return parse_integer (ps, tok, out);
}

static int parse_value (struct parser *ps, husk_json_t **out);
static int assign_dotted (struct parser *ps, husk_json_t *table, char **keys, husk_json_t *val);

/* Inline tables and value arrays take nothing more once closed, and
   neither does anything inside them.  */
static void
freeze_tree (struct parser *ps, husk_json_t *v)
{
  size_t i;

  switch (husk_json_type (v))
    {
    case HUSK_JSON_OBJECT:
      ptr_set_add (&ps->frozen, v);
      for (i = 0; i < husk_json_object_len (v); i++)
        freeze_tree (ps, husk_json_object_value_at (v, i));
      break;
    case HUSK_JSON_ARRAY:
      ptr_set_add (&ps->frozen, v);
      for (i = 0; i < husk_json_array_len (v); i++)
        freeze_tree (ps, husk_json_array_at (v, i));
      break;
    default:
      break;
    }
}

static int
parse_array (struct parser *ps, husk_json_t **out)
{
  cleanup_json husk_json_t *arr = husk_json_new_array ();
  int ret;

  ps->p++;
  for (;;)
    {
      husk_json_t *item = NULL;

      skip_ws_nl (ps);
      if (at_eof (ps))
        return perr (ps, "unterminated array");
      if (*ps->p == ']')
        break;
      ret = parse_value (ps, &item);
      if (ret < 0)
        return ret;
      husk_json_array_append (arr, item);
      skip_ws_nl (ps);
      if (!at_eof (ps) && *ps->p == ',')
        {
          ps->p++;
          continue;
        }
      if (at_eof (ps))
        return perr (ps, "unterminated array");
      if (*ps->p == ']')
        break;
      return perr (ps, "expected ',' or ']' in array");
    }
  ps->p++;
  *out = steal_pointer (&arr);
  return 0;
}

static int
parse_inline_table (struct parser *ps, husk_json_t **out)
{
  cleanup_json husk_json_t *tbl = husk_json_new_object ();
  int ret;

  ps->p++;
  skip_ws (ps);
  if (!at_eof (ps) && *ps->p == '}')
    {
      ps->p++;
      *out = steal_pointer (&tbl);
      return 0;
    }
  for (;;)
    {
      cleanup_strv char **keys = NULL;
      husk_json_t *val = NULL;

      ret = parse_key (ps, &keys);
      if (ret < 0)
        return ret;
      if (at_eof (ps) || *ps->p != '=')
        return perr (ps, "expected '=' after key");
      ps->p++;
      skip_ws (ps);
      ret = parse_value (ps, &val);
      if (ret < 0)
        return ret;
      ret = assign_dotted (ps, tbl, keys, val);
      if (ret < 0)
        return ret;
      skip_ws (ps);
      if (!at_eof (ps) && *ps->p == ',')
        {
          ps->p++;
          continue;
        }
      if (!at_eof (ps) && *ps->p == '}')
        break;
      return perr (ps, "expected ',' or '}' in inline table");
    }
  ps->p++;
  *out = steal_pointer (&tbl);
  return 0;
}

static int
parse_value (struct parser *ps, husk_json_t **out)
{
  char *s = NULL;
  int ret;

  if (at_eof (ps))
    return perr (ps, "expected a value");
  if (ps->depth >= TOML_MAX_DEPTH)
    return perr (ps, "values nested too deeply");
  if (looking_at (ps, "\"\"\"") || looking_at (ps, "'''"))
    ret = parse_ml_string (ps, &s);
  else if (*ps->p == '"' || *ps->p == '\'')
    ret = parse_line_string (ps, &s);
  else if (*ps->p == '[' || *ps->p == '{')
    {
      ps->depth++;
      ret = *ps->p == '[' ? parse_array (ps, out) : parse_inline_table (ps, out);
      ps->depth--;
      if (ret == 0)
        freeze_tree (ps, *out);
      return ret;
    }
  else
    return parse_bare_value (ps, out);
  if (ret < 0)
    return ret;
  *out = husk_json_new_string (s);
  free (s);
  return 0;
}

/* Set keys[0].keys[1]...= val under table, making the intermediate tables.
   Takes ownership of val.  */
static int
assign_dotted (struct parser *ps, husk_json_t *table, char **keys, husk_json_t *val)
{
  size_t n = strv_len (keys);
  size_t i;

  for (i = 0; i + 1 < n; i++)
    {
      husk_json_t *child = husk_json_get (table, keys[i]);

      if (child == NULL)
        {
          child = husk_json_new_object ();
          husk_json_set (table, keys[i], child);
          ptr_set_add (&ps->closed, child);
        }
      else if (husk_json_type (child) != HUSK_JSON_OBJECT || ptr_set_has (&ps->frozen, child))
        {
          cleanup_free char *k = key_string (keys, i + 1);
          husk_json_free (val);
          return perr (ps, "cannot add keys to '%s': it is not a table that can be extended", k);
        }
      table = child;
    }
  if (husk_json_get (table, keys[n - 1]) != NULL)
    {
      cleanup_free char *k = key_string (keys, n);
      husk_json_free (val);
      return perr (ps, "duplicate key '%s'", k);
    }
  husk_json_set (table, keys[n - 1], val);
  return 0;
}

/* Walk the tables of a [a.b.c] header up to (not including) the last key:
   missing ones are created, an array of tables means its last element.  */
static int
header_parent (struct parser *ps, char **keys, size_t n, husk_json_t **out)
{
  husk_json_t *t = ps->root;
  size_t i;

  for (i = 0; i + 1 < n; i++)
    {
      husk_json_t *child = husk_json_get (t, keys[i]);

      if (child == NULL)
        {
          child = husk_json_new_object ();
          husk_json_set (t, keys[i], child);
        }
      else if (husk_json_type (child) == HUSK_JSON_ARRAY && ptr_set_has (&ps->table_arrays, child))
        child = husk_json_array_at (child, husk_json_array_len (child) - 1);
      else if (husk_json_type (child) != HUSK_JSON_OBJECT || ptr_set_has (&ps->frozen, child))
        {
          cleanup_free char *k = key_string (keys, i + 1);
          return perr (ps, "key '%s' is not a table", k);
        }
      t = child;
    }
  *out = t;
  return 0;
}

static int
parse_header (struct parser *ps)
{
  cleanup_strv char **keys = NULL;
  cleanup_free char *name = NULL;
  bool array = looking_at (ps, "[[");
  husk_json_t *parent = NULL;
  husk_json_t *t;
  const char *last;
  size_t n;
  int ret;

  ps->p += array ? 2 : 1;
  ret = parse_key (ps, &keys);
  if (ret < 0)
    return ret;
  if (!looking_at (ps, array ? "]]" : "]"))
    return perr (ps, "expected '%s' to close the table header", array ? "]]" : "]");
  ps->p += array ? 2 : 1;
  n = strv_len (keys);
  name = key_string (keys, n);
  ret = header_parent (ps, keys, n, &parent);
  if (ret < 0)
    return ret;
  last = keys[n - 1];
  t = husk_json_get (parent, last);

  if (array)
    {
      husk_json_t *elem;

      if (t == NULL)
        {
          t = husk_json_new_array ();
          husk_json_set (parent, last, t);
          ptr_set_add (&ps->table_arrays, t);
        }
      else if (!ptr_set_has (&ps->table_arrays, t))
        return perr (ps, "cannot define array of tables '%s': the key is already defined", name);
      elem = husk_json_new_object ();
      husk_json_array_append (t, elem);
      ptr_set_add (&ps->closed, elem);
      ps->cur = elem;
      return 0;
    }

  if (t == NULL)
    {
      t = husk_json_new_object ();
      husk_json_set (parent, last, t);
    }
  else if (husk_json_type (t) != HUSK_JSON_OBJECT || ptr_set_has (&ps->closed, t)
           || ptr_set_has (&ps->frozen, t))
    return perr (ps, "table '%s' is defined more than once", name);
  ptr_set_add (&ps->closed, t);
  ps->cur = t;
  return 0;
}

static int
parse_keyval (struct parser *ps)
{
  cleanup_strv char **keys = NULL;
  husk_json_t *val = NULL;
  int ret;

  ret = parse_key (ps, &keys);
  if (ret < 0)
    return ret;
  if (at_eof (ps) || *ps->p != '=')
    return perr (ps, "expected '=' after key");
  ps->p++;
  skip_ws (ps);
  ret = parse_value (ps, &val);
  if (ret < 0)
    return ret;
  return assign_dotted (ps, ps->cur, keys, val);
}

static int
parse_document (struct parser *ps)
{
  int ret;

  while (!at_eof (ps))
    {
      skip_ws (ps);
      if (at_eof (ps))
        break;
      if (*ps->p == '#')
        skip_comment (ps);
      else if (*ps->p == '[')
        {
          ret = parse_header (ps);
          if (ret < 0)
            return ret;
        }
      else if (*ps->p != '\n' && *ps->p != '\r')
        {
          ret = parse_keyval (ps);
          if (ret < 0)
            return ret;
        }
      ret = expect_eol (ps);
      if (ret < 0)
        return ret;
    }
  return 0;
}

husk_json_t *
husk_toml_parse (const char *buf, size_t len, const char *name, husk_error_t *err)
{
  struct parser ps = {
    .p = buf,
    .end = buf + len,
    .name = name ? name : "<toml>",
    .line = 1,
  };
  husk_json_t *root = husk_json_new_object ();
  int ret;

  /* A UTF-8 byte order mark is allowed before the document.  */
  if (len >= 3 && memcmp (buf, "\xef\xbb\xbf", 3) == 0)
    ps.p += 3;
  ps.root = root;
  ps.cur = root;
  ps.err = err;
  ret = parse_document (&ps);
  free (ps.closed.v);
  free (ps.frozen.v);
  free (ps.table_arrays.v);
  if (ret < 0)
    {
      husk_json_free (root);
      return NULL;
    }
  return root;
}

int
husk_toml_parse_file (const char *path, husk_json_t **out, husk_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  int ret;

  *out = NULL;
  ret = husk_read_file_at (AT_FDCWD, path, TOML_MAX_FILE, &buf, &len, err);
  if (ret < 0)
    {
      if (*err && (*err)->status == ENOENT)
        {
          husk_error_release (err);
          return 0;
        }
      return ret;
    }
  *out = husk_toml_parse (buf, len, path, err);
  return *out ? 1 : -1;
}
