/* husk: a subset of Go's text/template for --format.

   The source is parsed once into a tree of nodes (text, actions, if, range,
   with) and then executed over a husk_json_t value.  Printing follows Go's
   fmt %v rules for the interface{} values that encoding/json produces, so
   that `{{.Names}}` prints `[a b]` and a map prints `map[k:v]` like
   docker/podman do.  Missing map keys print `<no value>`, as Go does.  */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "husk/template.h"

/* Nesting limit for parentheses and blocks: the parser is recursive and the
   format string comes from the command line.  */
#define MAX_DEPTH 100

/* Parse tree.  */

struct pipeline;

enum operand_kind
{
  OP_FIELD,  /* .A.B, ".", $ or $.A.B */
  OP_STRING, /* "..." or `...` */
  OP_INT,
  OP_BOOL,
  OP_NIL,
  OP_FUNC, /* a function name */
  OP_PIPE, /* ( pipeline ) */
};

struct func_def;

struct operand
{
  enum operand_kind kind;
  bool from_root; /* OP_FIELD starting at $ */
  char **path;    /* OP_FIELD: the field names, empty for "." */
  char *str;      /* OP_STRING */
  int64_t num;    /* OP_INT */
  bool b;         /* OP_BOOL */
  const struct func_def *fn;
  struct pipeline *pipe;
};

struct command
{
  struct operand *ops;
  size_t n;
};

struct pipeline
{
  struct command *cmds;
  size_t n;
};

enum node_kind
{
  NODE_TEXT,
  NODE_ACTION,
  NODE_IF,
  NODE_RANGE,
  NODE_WITH,
};

struct node;

struct node_list
{
  struct node **items;
  size_t n;
};

struct node
{
  enum node_kind kind;
  char *text; /* NODE_TEXT */
  size_t len;
  struct pipeline *pipe;
  struct node_list body;
  /* The {{else}} branch; an {{else if}} is an IF node alone in it.  */
  struct node_list alt;
};

struct husk_template
{
  bool table;
  bool table_default;
  struct node_list root;
};

/* Values during execution: v == NULL means "no value" (a missing key).
   owned is set when the value was computed and must be freed.  */
struct val
{
  const husk_json_t *v;
  husk_json_t *owned;
};

struct exec_state
{
  const husk_json_t *root;
  struct husk_buf *out;
};

typedef int (*template_fn) (struct val *args, size_t n, struct val *res, husk_error_t *err);

struct func_def
{
  const char *name;
  int min_args;
  int max_args; /* -1: variadic */
  template_fn fn;
};

/* Field names in husk's JSON follow Podman's keys, some camelCase
   ("store.graphRoot") where Podman's templates use the Go struct field
   ("{{.Store.GraphRoot}}").  An exact key wins; otherwise a key equal
   ignoring case is used, so both spellings work.  */
static husk_json_t *
field_lookup (const husk_json_t *obj, const char *name)
{
  husk_json_t *v = husk_json_get (obj, name);
  size_t i, n;

  if (v)
    return v;
  n = husk_json_object_len (obj);
  for (i = 0; i < n; i++)
    if (strcasecmp (husk_json_object_key_at (obj, i), name) == 0)
      return husk_json_object_value_at (obj, i);
  return NULL;
}

static const struct func_def *find_func (const char *name);

/* Freeing.  */

static void pipeline_free (struct pipeline *p);

static void
operand_clear (struct operand *op)
{
  strv_free (op->path);
  free (op->str);
  pipeline_free (op->pipe);
}

static void
pipeline_free (struct pipeline *p)
{
  size_t i, j;

  if (p == NULL)
    return;
  for (i = 0; i < p->n; i++)
    {
      for (j = 0; j < p->cmds[i].n; j++)
        operand_clear (&p->cmds[i].ops[j]);
      free (p->cmds[i].ops);
    }
  free (p->cmds);
  free (p);
}

static void node_list_clear (struct node_list *l);

static void
node_free (struct node *n)
{
  if (n == NULL)
    return;
  free (n->text);
  pipeline_free (n->pipe);
  node_list_clear (&n->body);
  node_list_clear (&n->alt);
  free (n);
}

static void
node_list_clear (struct node_list *l)
{
  size_t i;
  for (i = 0; i < l->n; i++)
    node_free (l->items[i]);
  free (l->items);
  l->items = NULL;
  l->n = 0;
}

static void
node_list_append (struct node_list *l, struct node *n)
{
  l->items = xrealloc (l->items, (l->n + 1) * sizeof (*l->items));
  l->items[l->n++] = n;
}

void
husk_template_free (husk_template_t *t)
{
  if (t == NULL)
    return;
  node_list_clear (&t->root);
  free (t);
}

void
cleanup_templatep (husk_template_t **t)
{
  husk_template_free (*t);
}

/* Lexing of one action.  */

enum token_kind
{
  T_FIELD,  /* .A.B or "." */
  T_VAR,    /* $ or $.A.B */
  T_IDENT,  /* if, range, join ... */
  T_STRING, /* decoded contents */
  T_INT,
  T_PIPE,
  T_LPAREN,
  T_RPAREN,
  T_CHAIN, /* .A.B right after ")" */
};

struct token
{
  enum token_kind kind;
  char *text; /* T_FIELD/T_VAR: the path after the leading "." or "$"; T_IDENT, T_STRING */
  int64_t num;
};

struct token_list
{
  struct token *t;
  size_t n;
};

static void
token_list_clear (struct token_list *l)
{
  size_t i;
  for (i = 0; i < l->n; i++)
    free (l->t[i].text);
  free (l->t);
  l->t = NULL;
  l->n = 0;
}

static void
cleanup_token_listp (struct token_list *l)
{
  token_list_clear (l);
}
#define cleanup_tokens __attribute__ ((cleanup (cleanup_token_listp)))

struct parser
{
  const char *src;
  size_t pos;
  size_t len;
  bool trim_next; /* the previous action ended with " -}}" */
  bool saw_comment;
  int depth;
};

static int
parse_error (struct parser *p, husk_error_t *err, const char *what)
{
  return husk_make_error (err, 0, "template: at offset %zu: %s", p->pos, what);
}

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_ident_char (char c)
{
  return isalnum ((unsigned char)c) || c == '_';
}

static void
tokens_push (struct token_list *l, enum token_kind kind, char *text, int64_t num)
{
  l->t = xrealloc (l->t, (l->n + 1) * sizeof (*l->t));
  l->t[l->n].kind = kind;
  l->t[l->n].text = text;
  l->t[l->n].num = num;
  l->n++;
}

/* Decode the escape after a backslash at p->pos (pointing past '\\').  */
static int
lex_escape (struct parser *p, struct husk_buf *b, husk_error_t *err)
{
  const char *s = p->src;
  char c;
  int ndigits = 0;
  uint32_t cp = 0;
  int i;

  if (p->pos >= p->len)
    return parse_error (p, err, "unterminated quoted string");
  c = s[p->pos++];
  switch (c)
    {
    case 'a':
      husk_buf_append (b, "\a", 1);
      return 0;
    case 'b':
      husk_buf_append (b, "\b", 1);
      return 0;
    case 'f':
      husk_buf_append (b, "\f", 1);
      return 0;
    case 'n':
      husk_buf_append (b, "\n", 1);
      return 0;
    case 'r':
      husk_buf_append (b, "\r", 1);
      return 0;
    case 't':
      husk_buf_append (b, "\t", 1);
      return 0;
    case 'v':
      husk_buf_append (b, "\v", 1);
      return 0;
    case '\\':
    case '"':
    case '\'':
      husk_buf_append (b, &c, 1);
      return 0;
    case 'x':
      ndigits = 2;
      break;
    case 'u':
      ndigits = 4;
      break;
    case 'U':
      ndigits = 8;
      break;
    default:
      if (c >= '0' && c <= '7')
        {
          /* Three octal digits, as Go requires.  */
          cp = (uint32_t)(c - '0');
          for (i = 0; i < 2; i++)
            {
              if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '7')
                return parse_error (p, err, "invalid octal escape in string");
              cp = cp * 8 + (uint32_t)(s[p->pos++] - '0');
            }
          if (cp > 255)
            return parse_error (p, err, "octal escape value > 255");
          c = (char)cp;
          husk_buf_append (b, &c, 1);
          return 0;
        }
      return parse_error (p, err, "unknown escape sequence in string");
    }

  for (i = 0; i < ndigits; i++)
    {
      int h = p->pos < p->len ? husk_hex_value (s[p->pos]) : -1;
      if (h < 0)
        return parse_error (p, err, "invalid hex escape in string");
      cp = cp * 16 + (uint32_t)h;
      p->pos++;
    }
  if (ndigits == 2)
    {
      c = (char)cp;
      husk_buf_append (b, &c, 1);
    }
  else
    {
      if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
        return parse_error (p, err, "escape sequence is an invalid Unicode code point");
      husk_buf_put_utf8 (b, cp);
    }
  return 0;
}

static int
lex_string (struct parser *p, struct token_list *toks, husk_error_t *err)
{
  struct husk_buf b = { 0 };
  char quote = p->src[p->pos++];
  int ret;

  for (;;)
    {
      char c;
      if (p->pos >= p->len)
        {
          husk_buf_free (&b);
          return parse_error (p, err, "unterminated quoted string");
        }
      c = p->src[p->pos++];
      if (c == quote)
        break;
      if (quote == '"' && c == '\n')
        {
          husk_buf_free (&b);
          return parse_error (p, err, "newline in quoted string");
        }
      if (quote == '"' && c == '\\')
        {
          ret = lex_escape (p, &b, err);
          if (ret < 0)
            {
              husk_buf_free (&b);
              return ret;
            }
          continue;
        }
      husk_buf_append (&b, &c, 1);
    }
  tokens_push (toks, T_STRING, husk_buf_steal (&b, NULL), 0);
  return 0;
}

/* ".A.B" starting at p->pos: return "A.B" ("" for a lone dot).  */
static int
lex_field_path (struct parser *p, char **out, husk_error_t *err)
{
  size_t start = p->pos;

  while (p->pos < p->len && p->src[p->pos] == '.')
    {
      size_t name = ++p->pos;
      while (p->pos < p->len && is_ident_char (p->src[p->pos]))
        p->pos++;
      if (p->pos == name)
        {
          /* A lone "." is dot; ".." or ".A." is an error.  */
          if (name == start + 1 && (p->pos >= p->len || p->src[p->pos] != '.'))
            break;
          return parse_error (p, err, "bad field name");
        }
    }
  if (p->pos == start + 1)
    *out = xstrdup ("");
  else
    *out = xstrndup (p->src + start + 1, p->pos - start - 1);
  return 0;
}

static int
lex_number (struct parser *p, struct token_list *toks, husk_error_t *err)
{
  size_t start = p->pos;
  cleanup_free char *s = NULL;
  char *end = NULL;
  long long v;

  if (p->src[p->pos] == '-' || p->src[p->pos] == '+')
    p->pos++;
  while (p->pos < p->len && (isalnum ((unsigned char)p->src[p->pos]) || p->src[p->pos] == '_'))
    p->pos++;
  s = xstrndup (p->src + start, p->pos - start);
  errno = 0;
  v = strtoll (s, &end, 0);
  if (errno != 0 || end == s || *end != '\0')
    return parse_error (p, err, "bad number syntax (only integers are supported)");
  tokens_push (toks, T_INT, NULL, v);
  return 0;
}

/* Skip a comment: p->pos is at the slash that opens it.  */
static int
lex_comment (struct parser *p, husk_error_t *err)
{
  const char *end = memmem (p->src + p->pos + 2, p->len - p->pos - 2, "*/", 2);
  if (end == NULL)
    return parse_error (p, err, "unclosed comment");
  p->pos = (size_t)(end - p->src) + 2;
  return 0;
}

/* Tokenise one action; p->pos is just past "{{" and an optional "- ".
   Stops past "}}" and sets p->trim_next for " -}}".  */
static int
lex_action (struct parser *p, struct token_list *toks, husk_error_t *err)
{
  const char *s = p->src;
  bool first = true;
  int ret;

  p->saw_comment = false;
  for (;;)
    {
      bool had_space = false;
      char c;

      while (p->pos < p->len && is_space (s[p->pos]))
        {
          p->pos++;
          had_space = true;
        }
      if (p->pos >= p->len)
        return parse_error (p, err, "unclosed action");
      c = s[p->pos];
      if (c == '}' && p->pos + 1 < p->len && s[p->pos + 1] == '}')
        {
          p->pos += 2;
          p->trim_next = false;
          return 0;
        }
      if (c == '-' && had_space && p->pos + 2 < p->len && s[p->pos + 1] == '}' && s[p->pos + 2] == '}')
        {
          p->pos += 3;
          p->trim_next = true;
          return 0;
        }
      if (first && c == '/' && p->pos + 1 < p->len && s[p->pos + 1] == '*')
        {
          ret = lex_comment (p, err);
          if (ret < 0)
            return ret;
          p->saw_comment = true;
          first = false;
          continue;
        }
      first = false;

      if (c == '.')
        {
          char *path = NULL;
          ret = lex_field_path (p, &path, err);
          if (ret < 0)
            return ret;
          tokens_push (toks, T_FIELD, path, 0);
        }
      else if (c == '$')
        {
          char *path = NULL;
          p->pos++;
          if (p->pos < p->len && is_ident_char (s[p->pos]))
            return parse_error (p, err, "variables other than $ are not supported");
          if (p->pos < p->len && s[p->pos] == '.')
            {
              ret = lex_field_path (p, &path, err);
              if (ret < 0)
                return ret;
            }
          else
            path = xstrdup ("");
          tokens_push (toks, T_VAR, path, 0);
        }
      else if (c == '"' || c == '`')
        {
          ret = lex_string (p, toks, err);
          if (ret < 0)
            return ret;
        }
      else if (isdigit ((unsigned char)c)
               || ((c == '-' || c == '+') && p->pos + 1 < p->len && isdigit ((unsigned char)s[p->pos + 1])))
        {
          ret = lex_number (p, toks, err);
          if (ret < 0)
            return ret;
        }
      else if (isalpha ((unsigned char)c) || c == '_')
        {
          size_t start = p->pos;
          while (p->pos < p->len && is_ident_char (s[p->pos]))
            p->pos++;
          tokens_push (toks, T_IDENT, xstrndup (s + start, p->pos - start), 0);
        }
      else if (c == '|')
        {
          p->pos++;
          tokens_push (toks, T_PIPE, NULL, 0);
        }
      else if (c == '(')
        {
          p->pos++;
          tokens_push (toks, T_LPAREN, NULL, 0);
        }
      else if (c == ')')
        {
          p->pos++;
          tokens_push (toks, T_RPAREN, NULL, 0);
          if (p->pos + 1 < p->len && s[p->pos] == '.' && is_ident_char (s[p->pos + 1]))
            {
              char *path = NULL;
              ret = lex_field_path (p, &path, err);
              if (ret < 0)
                return ret;
              tokens_push (toks, T_CHAIN, path, 0);
            }
        }
      else if (c == ':' && p->pos + 1 < p->len && s[p->pos + 1] == '=')
        return parse_error (p, err, "variable declarations are not supported");
      else
        return parse_error (p, err, "unexpected character in action");
    }
}

/* Parsing of pipelines from tokens.  */

struct token_cursor
{
  struct token_list *toks;
  size_t i;
};

static int parse_pipeline (struct parser *p, struct token_cursor *c, bool in_paren, struct pipeline **out,
                           husk_error_t *err);

static char **
split_path (const char *path)
{
  char **v = xzalloc (sizeof (char *));
  const char *s = path;

  while (*s)
    {
      const char *dot = strchr (s, '.');
      size_t n = dot ? (size_t)(dot - s) : strlen (s);
      strv_append_take (&v, xstrndup (s, n));
      s += n;
      if (*s == '.')
        s++;
    }
  return v;
}

static int
parse_operand (struct parser *p, struct token_cursor *c, struct operand *op, husk_error_t *err)
{
  struct token *t = &c->toks->t[c->i++];
  int ret;

  memset (op, 0, sizeof (*op));
  switch (t->kind)
    {
    case T_FIELD:
    case T_VAR:
      op->kind = OP_FIELD;
      op->from_root = t->kind == T_VAR;
      op->path = split_path (t->text);
      return 0;
    case T_STRING:
      op->kind = OP_STRING;
      op->str = steal_pointer (&t->text);
      return 0;
    case T_INT:
      op->kind = OP_INT;
      op->num = t->num;
      return 0;
    case T_IDENT:
      if (strcmp (t->text, "true") == 0 || strcmp (t->text, "false") == 0)
        {
          op->kind = OP_BOOL;
          op->b = t->text[0] == 't';
          return 0;
        }
      if (strcmp (t->text, "nil") == 0)
        {
          op->kind = OP_NIL;
          return 0;
        }
      op->kind = OP_FUNC;
      op->fn = find_func (t->text);
      if (op->fn == NULL)
        {
          cleanup_free char *msg = xasprintf ("function \"%s\" not defined", t->text);
          return parse_error (p, err, msg);
        }
      return 0;
    case T_LPAREN:
      if (++p->depth > MAX_DEPTH)
        return parse_error (p, err, "nesting too deep");
      op->kind = OP_PIPE;
      ret = parse_pipeline (p, c, true, &op->pipe, err);
      p->depth--;
      /* (pipeline).Field */
      if (ret == 0 && c->i < c->toks->n && c->toks->t[c->i].kind == T_CHAIN)
        op->path = split_path (c->toks->t[c->i++].text);
      return ret;
    case T_PIPE:
    case T_RPAREN:
    case T_CHAIN:
    default:
      return parse_error (p, err, "unexpected token in command");
    }
}

static int
parse_command (struct parser *p, struct token_cursor *c, struct command *cmd, husk_error_t *err)
{
  int ret;

  while (c->i < c->toks->n && c->toks->t[c->i].kind != T_PIPE && c->toks->t[c->i].kind != T_RPAREN)
    {
      cmd->ops = xrealloc (cmd->ops, (cmd->n + 1) * sizeof (*cmd->ops));
      ret = parse_operand (p, c, &cmd->ops[cmd->n], err);
      cmd->n++;
      if (ret < 0)
        return ret;
    }
  if (cmd->n == 0)
    return parse_error (p, err, "missing value for command");
  if (cmd->n > 1 && cmd->ops[0].kind != OP_FUNC)
    return parse_error (p, err, "can't give argument to non-function");
  return 0;
}

static int
parse_pipeline (struct parser *p, struct token_cursor *c, bool in_paren, struct pipeline **out,
                husk_error_t *err)
{
  struct pipeline *pipe = xzalloc (sizeof (*pipe));
  int ret;

  *out = pipe;
  for (;;)
    {
      struct command *cmd;

      pipe->cmds = xrealloc (pipe->cmds, (pipe->n + 1) * sizeof (*pipe->cmds));
      cmd = &pipe->cmds[pipe->n++];
      memset (cmd, 0, sizeof (*cmd));
      ret = parse_command (p, c, cmd, err);
      if (ret < 0)
        return ret;
      if (pipe->n > 1 && cmd->ops[0].kind != OP_FUNC)
        return parse_error (p, err, "non executable command in pipeline");
      if (c->i >= c->toks->n)
        {
          if (in_paren)
            return parse_error (p, err, "unclosed left paren");
          return 0;
        }
      if (c->toks->t[c->i].kind == T_RPAREN)
        {
          if (!in_paren)
            return parse_error (p, err, "unexpected right paren");
          c->i++;
          return 0;
        }
      /* T_PIPE */
      c->i++;
    }
}

/* Parsing of the node tree.  */

enum terminator
{
  TERM_EOF,
  TERM_END,
  TERM_ELSE,
  TERM_ELSE_IF,
};

static int parse_list (struct parser *p, struct node_list *list, enum terminator *term,
                       struct pipeline **else_if, husk_error_t *err);

/* Go's flags write `\t` and `\n` as two characters; docker turns them into
   a tab and a newline before parsing, so do the same for literal text.  */
static void
append_text_node (struct node_list *list, const char *s, size_t n, bool trim_left, bool trim_right)
{
  struct husk_buf b = { 0 };
  struct node *node;
  size_t i, start = 0, end;

  for (i = 0; i < n; i++)
    {
      if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 't' || s[i + 1] == 'n'))
        {
          husk_buf_append (&b, s[i + 1] == 't' ? "\t" : "\n", 1);
          i++;
        }
      else
        husk_buf_append (&b, s + i, 1);
    }
  end = b.len;
  if (trim_left)
    while (start < end && is_space (b.data[start]))
      start++;
  if (trim_right)
    while (end > start && is_space (b.data[end - 1]))
      end--;
  if (start == end)
    {
      husk_buf_free (&b);
      return;
    }
  node = xzalloc (sizeof (*node));
  node->kind = NODE_TEXT;
  node->text = xstrndup (b.data + start, end - start);
  node->len = end - start;
  husk_buf_free (&b);
  node_list_append (list, node);
}

/* Parse a block's body and else branches after {{if/range/with pipe}}.  */
static int
parse_block (struct parser *p, enum node_kind kind, struct pipeline *pipe, struct node **out,
             husk_error_t *err)
{
  struct node *node = xzalloc (sizeof (*node));
  struct pipeline *else_if = NULL;
  enum terminator term;
  int ret;

  node->kind = kind;
  node->pipe = pipe;
  *out = node;

  if (++p->depth > MAX_DEPTH)
    return parse_error (p, err, "nesting too deep");

  ret = parse_list (p, &node->body, &term, &else_if, err);
  if (ret < 0)
    goto out;
  if (term == TERM_EOF)
    {
      ret = parse_error (p, err, "unexpected EOF: missing {{end}}");
      goto out;
    }
  if (term == TERM_ELSE_IF)
    {
      struct node *chained = NULL;
      if (kind != NODE_IF)
        {
          pipeline_free (else_if);
          ret = parse_error (p, err, "{{else if}} is only allowed after {{if}}");
          goto out;
        }
      /* The chained if consumes the {{end}} shared with this one.  */
      ret = parse_block (p, NODE_IF, else_if, &chained, err);
      node_list_append (&node->alt, chained);
      goto out;
    }
  if (term == TERM_ELSE)
    {
      ret = parse_list (p, &node->alt, &term, &else_if, err);
      if (ret < 0)
        goto out;
      if (term != TERM_END)
        {
          pipeline_free (else_if);
          ret = parse_error (p, err,
                             term == TERM_EOF ? "unexpected EOF: missing {{end}}" : "expected {{end}}");
          goto out;
        }
    }
  ret = 0;
out:
  p->depth--;
  return ret;
}

/* Handle one action's tokens: a keyword or a pipeline to print.  */
static int
parse_action (struct parser *p, struct token_list *toks, struct node_list *list, enum terminator *term,
              struct pipeline **else_if, bool *done, husk_error_t *err)
{
  struct token_cursor c = { toks, 0 };
  struct pipeline *pipe = NULL;
  struct node *node = NULL;
  const char *kw = NULL;
  enum node_kind kind = NODE_ACTION;
  int ret;

  *done = false;
  if (toks->n == 0)
    {
      if (p->saw_comment)
        return 0;
      return parse_error (p, err, "missing value for command");
    }
  if (toks->t[0].kind == T_IDENT)
    kw = toks->t[0].text;

  if (kw && strcmp (kw, "end") == 0)
    {
      if (toks->n != 1)
        return parse_error (p, err, "unexpected tokens after end");
      *term = TERM_END;
      *done = true;
      return 0;
    }
  if (kw && strcmp (kw, "else") == 0)
    {
      *done = true;
      if (toks->n == 1)
        {
          *term = TERM_ELSE;
          return 0;
        }
      if (toks->t[1].kind != T_IDENT || strcmp (toks->t[1].text, "if") != 0)
        return parse_error (p, err, "only {{else}} and {{else if}} are supported");
      c.i = 2;
      if (c.i >= toks->n)
        return parse_error (p, err, "missing value for if");
      *term = TERM_ELSE_IF;
      ret = parse_pipeline (p, &c, false, else_if, err);
      if (ret < 0)
        {
          pipeline_free (*else_if);
          *else_if = NULL;
        }
      return ret;
    }
  if (kw
      && (strcmp (kw, "define") == 0 || strcmp (kw, "template") == 0 || strcmp (kw, "block") == 0
          || strcmp (kw, "break") == 0 || strcmp (kw, "continue") == 0))
    return parse_error (p, err, "unsupported template keyword");

  if (kw && strcmp (kw, "if") == 0)
    kind = NODE_IF;
  else if (kw && strcmp (kw, "range") == 0)
    kind = NODE_RANGE;
  else if (kw && strcmp (kw, "with") == 0)
    kind = NODE_WITH;
  if (kind != NODE_ACTION)
    {
      c.i = 1;
      if (c.i >= toks->n)
        return parse_error (p, err, "missing value for block");
    }

  ret = parse_pipeline (p, &c, false, &pipe, err);
  if (ret < 0)
    {
      pipeline_free (pipe);
      return ret;
    }
  if (kind == NODE_ACTION)
    {
      node = xzalloc (sizeof (*node));
      node->kind = NODE_ACTION;
      node->pipe = pipe;
      node_list_append (list, node);
      return 0;
    }
  ret = parse_block (p, kind, pipe, &node, err);
  node_list_append (list, node);
  return ret;
}

static int
parse_list (struct parser *p, struct node_list *list, enum terminator *term, struct pipeline **else_if,
            husk_error_t *err)
{
  for (;;)
    {
      const char *open = memmem (p->src + p->pos, p->len - p->pos, "{{", 2);
      size_t text_end = open ? (size_t)(open - p->src) : p->len;
      bool left_marker = false;
      cleanup_tokens struct token_list toks = { 0 };
      bool done = false;
      int ret;

      if (open && text_end + 3 < p->len && open[2] == '-' && is_space (open[3]))
        left_marker = true;
      append_text_node (list, p->src + p->pos, text_end - p->pos, p->trim_next, left_marker);
      p->trim_next = false;
      if (open == NULL)
        {
          p->pos = p->len;
          *term = TERM_EOF;
          return 0;
        }
      p->pos = text_end + 2 + (left_marker ? 2 : 0);
      ret = lex_action (p, &toks, err);
      if (ret < 0)
        return ret;
      ret = parse_action (p, &toks, list, term, else_if, &done, err);
      if (ret < 0 || done)
        return ret;
    }
}

husk_template_t *
husk_template_parse (const char *src, husk_error_t *err)
{
  cleanup_template husk_template_t *t = xzalloc (sizeof (*t));
  struct pipeline *else_if = NULL;
  struct parser p = { 0 };
  enum terminator term;
  size_t len;

  /* Like docker: "table" then the columns, surrounding spaces dropped.  */
  if (husk_has_prefix (src, "table")
      && (src[5] == '\0' || is_space (src[5]) || (src[5] == '\\' && (src[6] == 't' || src[6] == 'n'))))
    {
      t->table = true;
      src += 5;
      while (*src == ' ')
        src++;
      len = strlen (src);
      while (len > 0 && src[len - 1] == ' ')
        len--;
      t->table_default = len == 0;
    }
  else
    len = strlen (src);

  p.src = src;
  p.len = len;
  if (parse_list (&p, &t->root, &term, &else_if, err) < 0)
    return NULL;
  if (term != TERM_EOF)
    {
      pipeline_free (else_if);
      parse_error (&p, err, term == TERM_END ? "unexpected {{end}}" : "unexpected {{else}}");
      return NULL;
    }
  return steal_pointer (&t);
}

bool
husk_template_is_table (const husk_template_t *t)
{
  return t->table;
}

bool
husk_template_is_table_default (const husk_template_t *t)
{
  return t->table_default;
}

/* Printing values as Go's fmt %v does.  */

static const char *
type_name (const husk_json_t *v)
{
  if (v == NULL)
    return "<nil>";
  switch (husk_json_type (v))
    {
    case HUSK_JSON_NULL:
      return "<nil>";
    case HUSK_JSON_BOOL:
      return "bool";
    case HUSK_JSON_INT:
      return "int";
    case HUSK_JSON_DOUBLE:
      return "float64";
    case HUSK_JSON_STRING:
      return "string";
    case HUSK_JSON_ARRAY:
      return "[]interface {}";
    case HUSK_JSON_OBJECT:
      return "map[string]interface {}";
    }
  return "?";
}

/* strconv.FormatFloat (f, 'g', -1, 64) as %v uses it: the shortest digits
   that read back, in %e form when the exponent is < -4 or >= 6 (Go's
   precision for that decision when printing the shortest form).  */
static void
format_go_float (struct husk_buf *b, double d)
{
  char tmp[64];
  int prec, exp;
  char *e;

  if (isnan (d))
    {
      husk_buf_puts (b, "NaN");
      return;
    }
  if (isinf (d))
    {
      husk_buf_puts (b, d > 0 ? "+Inf" : "-Inf");
      return;
    }
  for (prec = 1; prec < 17; prec++)
    {
      snprintf (tmp, sizeof (tmp), "%.*e", prec - 1, d);
      if (strtod (tmp, NULL) == d)
        break;
    }
  snprintf (tmp, sizeof (tmp), "%.*e", prec - 1, d);
  e = strchr (tmp, 'e');
  exp = e ? atoi (e + 1) : 0;
  if (exp < -4 || exp >= 6)
    {
      husk_buf_puts (b, tmp);
      return;
    }
  snprintf (tmp, sizeof (tmp), "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, d);
  husk_buf_puts (b, tmp);
}

static int
cmp_keys (const void *a, const void *b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* The indexes of an object's members in sorted key order, as Go prints and
   ranges over maps.  */
static size_t *
sorted_key_order (const husk_json_t *obj, size_t *n_out)
{
  size_t n = husk_json_object_len (obj);
  const char **keys = xmalloc ((n + 1) * sizeof (*keys));
  size_t *order = xmalloc ((n + 1) * sizeof (*order));
  size_t i, j;

  for (i = 0; i < n; i++)
    keys[i] = husk_json_object_key_at (obj, i);
  qsort (keys, n, sizeof (*keys), cmp_keys);
  /* Map the sorted keys back to indexes; duplicates keep document order.  */
  for (i = 0; i < n; i++)
    {
      for (j = 0; j < n; j++)
        if (husk_json_object_key_at (obj, j) == keys[i])
          break;
      order[i] = j;
    }
  free (keys);
  *n_out = n;
  return order;
}

static void
print_value (struct husk_buf *b, const husk_json_t *v, bool top)
{
  size_t i, n;

  if (v == NULL || husk_json_type (v) == HUSK_JSON_NULL)
    {
      husk_buf_puts (b, top ? "<no value>" : "<nil>");
      return;
    }
  switch (husk_json_type (v))
    {
    case HUSK_JSON_NULL:
      break;
    case HUSK_JSON_BOOL:
      husk_buf_puts (b, husk_json_bool (v, false) ? "true" : "false");
      break;
    case HUSK_JSON_INT:
      husk_buf_printf (b, "%" PRId64, husk_json_int (v, 0));
      break;
    case HUSK_JSON_DOUBLE:
      format_go_float (b, husk_json_double (v, 0));
      break;
    case HUSK_JSON_STRING:
      husk_buf_puts (b, husk_json_string (v));
      break;
    case HUSK_JSON_ARRAY:
      husk_buf_puts (b, "[");
      for (i = 0; i < husk_json_array_len (v); i++)
        {
          if (i)
            husk_buf_puts (b, " ");
          print_value (b, husk_json_array_at (v, i), false);
        }
      husk_buf_puts (b, "]");
      break;
    case HUSK_JSON_OBJECT:
      {
        cleanup_free size_t *order = sorted_key_order (v, &n);
        husk_buf_puts (b, "map[");
        for (i = 0; i < n; i++)
          {
            if (i)
              husk_buf_puts (b, " ");
            husk_buf_puts (b, husk_json_object_key_at (v, order[i]));
            husk_buf_puts (b, ":");
            print_value (b, husk_json_object_value_at (v, order[i]), false);
          }
        husk_buf_puts (b, "]");
        break;
      }
    }
}

/* The %v text of a value; "" for no value, as Go's zero string would be
   when a nil is passed to a string parameter.  */
static char *
value_to_string (const husk_json_t *v)
{
  struct husk_buf b = { 0 };
  if (v == NULL || husk_json_type (v) == HUSK_JSON_NULL)
    return xstrdup ("");
  if (husk_json_type (v) == HUSK_JSON_STRING)
    return xstrdup (husk_json_string (v));
  print_value (&b, v, true);
  return husk_buf_steal (&b, NULL);
}

static bool
is_true (const husk_json_t *v)
{
  if (v == NULL)
    return false;
  switch (husk_json_type (v))
    {
    case HUSK_JSON_NULL:
      return false;
    case HUSK_JSON_BOOL:
      return husk_json_bool (v, false);
    case HUSK_JSON_INT:
      return husk_json_int (v, 0) != 0;
    case HUSK_JSON_DOUBLE:
      return husk_json_double (v, 0) != 0;
    case HUSK_JSON_STRING:
      return husk_json_string (v)[0] != '\0';
    case HUSK_JSON_ARRAY:
      return husk_json_array_len (v) > 0;
    case HUSK_JSON_OBJECT:
      return husk_json_object_len (v) > 0;
    }
  return false;
}

/* Value helpers.  */

static void
val_release (struct val *x)
{
  husk_json_free (x->owned);
  x->owned = NULL;
  x->v = NULL;
}

static void
val_set_owned (struct val *x, husk_json_t *j)
{
  x->owned = j;
  x->v = j;
}

/* A part of parent: borrowed if parent is, else copied so it outlives it.  */
static void
val_set_child (struct val *x, const struct val *parent, const husk_json_t *child)
{
  if (child && parent->owned)
    val_set_owned (x, husk_json_clone (child));
  else
    {
      x->owned = NULL;
      x->v = child;
    }
}

static void
val_move (struct val *dst, struct val *src)
{
  *dst = *src;
  src->owned = NULL;
  src->v = NULL;
}

static int
utf8_len (const char *s)
{
  int n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      n++;
  return n;
}

/* Bytes taken by the first n runes of s.  */
static size_t
utf8_prefix (const char *s, int64_t n)
{
  size_t i = 0;
  while (s[i] && n > 0)
    {
      i++;
      while (((unsigned char)s[i] & 0xc0) == 0x80)
        i++;
      n--;
    }
  return i;
}

/* Functions.  */

static int
arg_int (struct val *a, const char *fname, int64_t *out, husk_error_t *err)
{
  if (a->v == NULL || husk_json_type (a->v) != HUSK_JSON_INT)
    return husk_make_error (err, 0, "template: %s: expected an integer, got %s", fname, type_name (a->v));
  *out = husk_json_int (a->v, 0);
  return 0;
}

static int
fn_json (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  char *s;
  if (args[0].v == NULL)
    s = xstrdup ("null");
  else
    s = husk_json_serialize (args[0].v, false, NULL);
  val_set_owned (res, husk_json_new_string (s));
  free (s);
  return 0;
}

static int
fn_join (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  const husk_json_t *arr = args[0].v;
  cleanup_free char *sep = value_to_string (args[1].v);
  struct husk_buf b = { 0 };
  size_t i;

  if (arr && husk_json_type (arr) != HUSK_JSON_ARRAY && husk_json_type (arr) != HUSK_JSON_NULL)
    return husk_make_error (err, 0, "template: join: expected an array, got %s", type_name (arr));
  for (i = 0; i < husk_json_array_len (arr); i++)
    {
      cleanup_free char *s = value_to_string (husk_json_array_at (arr, i));
      if (i)
        husk_buf_puts (&b, sep);
      husk_buf_puts (&b, s);
    }
  {
    cleanup_free char *s = husk_buf_steal (&b, NULL);
    val_set_owned (res, husk_json_new_string (s));
  }
  return 0;
}

static int
fn_split (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  cleanup_free char *s = value_to_string (args[0].v);
  cleanup_free char *sep = value_to_string (args[1].v);
  husk_json_t *arr = husk_json_new_array ();
  const char *p = s;

  if (sep[0] == '\0')
    {
      /* Go splits after each UTF-8 sequence.  */
      while (*p)
        {
          size_t len = utf8_prefix (p, 1);
          cleanup_free char *part = xstrndup (p, len);
          husk_json_array_append (arr, husk_json_new_string (part));
          p += len;
        }
    }
  else
    for (;;)
      {
        const char *hit = strstr (p, sep);
        cleanup_free char *part = xstrndup (p, hit ? (size_t)(hit - p) : strlen (p));
        husk_json_array_append (arr, husk_json_new_string (part));
        if (hit == NULL)
          break;
        p = hit + strlen (sep);
      }
  val_set_owned (res, arr);
  return 0;
}

static int
fn_case (struct val *args, struct val *res, bool upper)
{
  cleanup_free char *s = value_to_string (args[0].v);
  char *c;
  for (c = s; *c; c++)
    *c = (char)(upper ? toupper ((unsigned char)*c) : tolower ((unsigned char)*c));
  val_set_owned (res, husk_json_new_string (s));
  return 0;
}

static int
fn_lower (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_case (args, res, false);
}

static int
fn_upper (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_case (args, res, true);
}

/* Upper-case the first letter of each word, leaving the rest alone, as
   docker's title does.  */
static int
fn_title (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  cleanup_free char *s = value_to_string (args[0].v);
  bool at_start = true;
  char *c;

  for (c = s; *c; c++)
    {
      unsigned char u = (unsigned char)*c;
      if (isalnum (u) || u == '_' || u == '\'' || u >= 0x80)
        {
          if (at_start)
            *c = (char)toupper (u);
          at_start = false;
        }
      else
        at_start = true;
    }
  val_set_owned (res, husk_json_new_string (s));
  return 0;
}

static int
fn_truncate (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  cleanup_free char *s = value_to_string (args[0].v);
  int64_t len;
  int ret;

  ret = arg_int (&args[1], "truncate", &len, err);
  if (ret < 0)
    return ret;
  if (len < 0)
    len = 0;
  s[utf8_prefix (s, len)] = '\0';
  val_set_owned (res, husk_json_new_string (s));
  return 0;
}

static int
fn_pad (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  cleanup_free char *s = value_to_string (args[0].v);
  struct husk_buf b = { 0 };
  cleanup_free char *out = NULL;
  int64_t left, right, i;
  int ret;

  ret = arg_int (&args[1], "pad", &left, err);
  if (ret == 0)
    ret = arg_int (&args[2], "pad", &right, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < left && i < 4096; i++)
    husk_buf_puts (&b, " ");
  husk_buf_puts (&b, s);
  for (i = 0; i < right && i < 4096; i++)
    husk_buf_puts (&b, " ");
  out = husk_buf_steal (&b, NULL);
  val_set_owned (res, husk_json_new_string (out));
  return 0;
}

static int
fn_len (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  const husk_json_t *v = args[0].v;
  int64_t len;

  switch (v ? husk_json_type (v) : HUSK_JSON_NULL)
    {
    case HUSK_JSON_STRING:
      len = (int64_t)strlen (husk_json_string (v));
      break;
    case HUSK_JSON_ARRAY:
      len = (int64_t)husk_json_array_len (v);
      break;
    case HUSK_JSON_OBJECT:
      len = (int64_t)husk_json_object_len (v);
      break;
    default:
      return husk_make_error (err, 0, "template: len of type %s", type_name (v));
    }
  val_set_owned (res, husk_json_new_int (len));
  return 0;
}

static int
fn_index (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  struct val cur = { 0 };
  size_t i;

  /* Take the argument over: what we return may point into it.  */
  val_move (&cur, &args[0]);
  for (i = 1; i < n; i++)
    {
      const husk_json_t *v = cur.v;
      const husk_json_t *child = NULL;
      struct val next = { 0 };

      if (v == NULL || husk_json_type (v) == HUSK_JSON_NULL)
        break;
      if (husk_json_type (v) == HUSK_JSON_OBJECT)
        {
          cleanup_free char *key = value_to_string (args[i].v);
          child = husk_json_get (v, key);
        }
      else if (husk_json_type (v) == HUSK_JSON_ARRAY)
        {
          int64_t idx;
          if (arg_int (&args[i], "index", &idx, err) < 0)
            {
              val_release (&cur);
              return -1;
            }
          if (idx < 0 || (uint64_t)idx >= husk_json_array_len (v))
            {
              val_release (&cur);
              return husk_make_error (err, 0, "template: index out of range: %" PRId64, idx);
            }
          child = husk_json_array_at (v, (size_t)idx);
        }
      else
        {
          const char *tn = type_name (v);
          val_release (&cur);
          return husk_make_error (err, 0, "template: can't index item of type %s", tn);
        }
      val_set_child (&next, &cur, child);
      val_release (&cur);
      cur = next;
    }
  if (i < n)
    val_release (&cur);
  *res = cur;
  return 0;
}

/* Go's eq/lt...: numbers compare by value, strings bytewise, bools and
   null by equality; other combinations are unequal (Go would fail).  */
static int
compare_values (const husk_json_t *a, const husk_json_t *b, bool *comparable)
{
  enum husk_json_type ta = a ? husk_json_type (a) : HUSK_JSON_NULL;
  enum husk_json_type tb = b ? husk_json_type (b) : HUSK_JSON_NULL;
  bool na = ta == HUSK_JSON_INT || ta == HUSK_JSON_DOUBLE;
  bool nb = tb == HUSK_JSON_INT || tb == HUSK_JSON_DOUBLE;

  *comparable = true;
  if (ta == HUSK_JSON_INT && tb == HUSK_JSON_INT)
    {
      int64_t x = husk_json_int (a, 0), y = husk_json_int (b, 0);
      return x < y ? -1 : x > y;
    }
  if (na && nb)
    {
      double x = husk_json_double (a, 0), y = husk_json_double (b, 0);
      return x < y ? -1 : x > y;
    }
  if (ta == HUSK_JSON_STRING && tb == HUSK_JSON_STRING)
    return strcmp (husk_json_string (a), husk_json_string (b));
  if (ta == HUSK_JSON_BOOL && tb == HUSK_JSON_BOOL)
    return (int)husk_json_bool (a, false) - (int)husk_json_bool (b, false);
  if (ta == HUSK_JSON_NULL && tb == HUSK_JSON_NULL)
    return 0;
  *comparable = false;
  return 1;
}

static int
fn_eq (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  bool eq = false, comparable;
  size_t i;

  for (i = 1; i < n && !eq; i++)
    eq = compare_values (args[0].v, args[i].v, &comparable) == 0 && comparable;
  val_set_owned (res, husk_json_new_bool (eq));
  return 0;
}

static int
fn_ne (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  bool comparable;
  bool ne = compare_values (args[0].v, args[1].v, &comparable) != 0 || !comparable;
  val_set_owned (res, husk_json_new_bool (ne));
  return 0;
}

static int
fn_order (struct val *args, struct val *res, const char *name, int want_lo, int want_hi, husk_error_t *err)
{
  bool comparable;
  int c = compare_values (args[0].v, args[1].v, &comparable);
  if (!comparable)
    return husk_make_error (err, 0, "template: %s: incompatible types for comparison (%s, %s)", name,
                            type_name (args[0].v), type_name (args[1].v));
  c = c < 0 ? -1 : c > 0;
  val_set_owned (res, husk_json_new_bool (c >= want_lo && c <= want_hi));
  return 0;
}

static int
fn_lt (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_order (args, res, "lt", -1, -1, err);
}

static int
fn_le (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_order (args, res, "le", -1, 0, err);
}

static int
fn_gt (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_order (args, res, "gt", 1, 1, err);
}

static int
fn_ge (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_order (args, res, "ge", 0, 1, err);
}

static int
fn_not (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  val_set_owned (res, husk_json_new_bool (!is_true (args[0].v)));
  return 0;
}

/* Go's and/or return the deciding argument itself, not a bool.  */
static int
fn_andor (struct val *args, size_t n, struct val *res, bool is_and)
{
  size_t i;
  for (i = 0; i + 1 < n; i++)
    if (is_true (args[i].v) != is_and)
      break;
  val_move (res, &args[i]);
  return 0;
}

static int
fn_and (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_andor (args, n, res, true);
}

static int
fn_or (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  return fn_andor (args, n, res, false);
}

/* printf.  */

struct fmt_spec
{
  bool minus, plus, space, zero, sharp;
  int width; /* -1: none */
  int prec;  /* -1: none */
  char verb;
};

/* Append s padded to the spec's width, counted in runes like Go.  With the
   zero flag, zeros go after a sign.  */
static void
fmt_pad (struct husk_buf *b, const struct fmt_spec *f, const char *s, bool numeric)
{
  int len = utf8_len (s);
  int pad = f->width > len ? f->width - len : 0;
  int i;

  if (f->minus)
    {
      husk_buf_puts (b, s);
      for (i = 0; i < pad; i++)
        husk_buf_puts (b, " ");
      return;
    }
  if (f->zero && numeric)
    {
      if (*s == '-' || *s == '+' || *s == ' ')
        husk_buf_append (b, s++, 1);
      for (i = 0; i < pad; i++)
        husk_buf_puts (b, "0");
      husk_buf_puts (b, s);
      return;
    }
  for (i = 0; i < pad; i++)
    husk_buf_puts (b, " ");
  husk_buf_puts (b, s);
}

/* strconv.Quote: printable UTF-8 kept, the rest escaped.  */
static void
go_quote (struct husk_buf *b, const char *s)
{
  husk_buf_puts (b, "\"");
  for (; *s; s++)
    {
      unsigned char c = (unsigned char)*s;
      switch (c)
        {
        case '"':
          husk_buf_puts (b, "\\\"");
          break;
        case '\\':
          husk_buf_puts (b, "\\\\");
          break;
        case '\a':
          husk_buf_puts (b, "\\a");
          break;
        case '\b':
          husk_buf_puts (b, "\\b");
          break;
        case '\f':
          husk_buf_puts (b, "\\f");
          break;
        case '\n':
          husk_buf_puts (b, "\\n");
          break;
        case '\r':
          husk_buf_puts (b, "\\r");
          break;
        case '\t':
          husk_buf_puts (b, "\\t");
          break;
        case '\v':
          husk_buf_puts (b, "\\v");
          break;
        default:
          if (c < 0x20 || c == 0x7f)
            husk_buf_printf (b, "\\x%02x", c);
          else
            husk_buf_append (b, s, 1);
        }
    }
  husk_buf_puts (b, "\"");
}

static void
fmt_sign (struct husk_buf *b, const struct fmt_spec *f, bool negative)
{
  if (negative)
    husk_buf_puts (b, "-");
  else if (f->plus)
    husk_buf_puts (b, "+");
  else if (f->space)
    husk_buf_puts (b, " ");
}

static bool
fmt_integer (struct husk_buf *b, const struct fmt_spec *f, const husk_json_t *v)
{
  struct husk_buf num = { 0 };
  cleanup_free char *s = NULL;
  int64_t x;
  uint64_t mag;

  if (v == NULL || husk_json_type (v) != HUSK_JSON_INT)
    {
      /* A whole double (from JSON) prints as an integer.  */
      double d = husk_json_double (v, NAN);
      if (v == NULL || husk_json_type (v) != HUSK_JSON_DOUBLE || d != floor (d) || fabs (d) >= 9.2e18)
        return false;
      x = (int64_t)d;
    }
  else
    x = husk_json_int (v, 0);
  mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
  fmt_sign (&num, f, x < 0);
  switch (f->verb)
    {
    case 'd':
      husk_buf_printf (&num, "%" PRIu64, mag);
      break;
    case 'x':
      husk_buf_printf (&num, "%s%" PRIx64, f->sharp ? "0x" : "", mag);
      break;
    case 'X':
      husk_buf_printf (&num, "%s%" PRIX64, f->sharp ? "0X" : "", mag);
      break;
    case 'o':
      husk_buf_printf (&num, "%s%" PRIo64, f->sharp ? "0" : "", mag);
      break;
    case 'b':
      {
        char bits[65];
        int i = 64;
        bits[i] = '\0';
        do
          {
            bits[--i] = (char)('0' + (mag & 1));
            mag >>= 1;
          }
        while (mag);
        husk_buf_puts (&num, bits + i);
        break;
      }
    case 'c':
      husk_buf_free (&num);
      husk_buf_put_utf8 (&num, x < 0 || x > 0x10ffff ? 0xfffd : (uint32_t)x);
      break;
    default:
      break;
    }
  s = husk_buf_steal (&num, NULL);
  fmt_pad (b, f, s, f->verb != 'c');
  return true;
}

static bool
fmt_float (struct husk_buf *b, const struct fmt_spec *f, const husk_json_t *v)
{
  struct husk_buf num = { 0 };
  cleanup_free char *s = NULL;
  double d;
  int prec = f->prec;

  if (v == NULL || (husk_json_type (v) != HUSK_JSON_DOUBLE && husk_json_type (v) != HUSK_JSON_INT))
    return false;
  d = husk_json_double (v, 0);
  fmt_sign (&num, f, signbit (d) != 0);
  d = fabs (d);
  switch (f->verb)
    {
    case 'f':
    case 'F':
      husk_buf_printf (&num, "%.*f", prec < 0 ? 6 : prec, d);
      break;
    case 'e':
      husk_buf_printf (&num, "%.*e", prec < 0 ? 6 : prec, d);
      break;
    case 'E':
      husk_buf_printf (&num, "%.*E", prec < 0 ? 6 : prec, d);
      break;
    case 'g':
    case 'G':
      if (prec < 0)
        format_go_float (&num, d);
      else if (f->verb == 'g')
        husk_buf_printf (&num, "%.*g", prec, d);
      else
        husk_buf_printf (&num, "%.*G", prec, d);
      break;
    default:
      break;
    }
  s = husk_buf_steal (&num, NULL);
  fmt_pad (b, f, s, true);
  return true;
}

/* Go's %!verb(type=value) for an argument of the wrong type.  */
static void
fmt_bad_verb (struct husk_buf *b, const struct fmt_spec *f, const husk_json_t *v)
{
  husk_buf_printf (b, "%%!%c(", f->verb);
  if (v == NULL || husk_json_type (v) == HUSK_JSON_NULL)
    husk_buf_puts (b, "<nil>");
  else
    {
      husk_buf_printf (b, "%s=", type_name (v));
      print_value (b, v, false);
    }
  husk_buf_puts (b, ")");
}

static void
fmt_one (struct husk_buf *b, const struct fmt_spec *f, const husk_json_t *v)
{
  struct husk_buf tmp = { 0 };
  cleanup_free char *s = NULL;
  bool is_string = v && husk_json_type (v) == HUSK_JSON_STRING;

  switch (f->verb)
    {
    case 'd':
    case 'o':
    case 'b':
    case 'c':
      if (!fmt_integer (b, f, v))
        fmt_bad_verb (b, f, v);
      return;
    case 'x':
    case 'X':
      if (is_string)
        {
          const unsigned char *c;
          for (c = (const unsigned char *)husk_json_string (v); *c; c++)
            husk_buf_printf (&tmp, f->verb == 'x' ? "%02x" : "%02X", *c);
          s = husk_buf_steal (&tmp, NULL);
          fmt_pad (b, f, s, false);
        }
      else if (!fmt_integer (b, f, v))
        fmt_bad_verb (b, f, v);
      return;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      if (!fmt_float (b, f, v))
        fmt_bad_verb (b, f, v);
      return;
    case 't':
      if (v == NULL || husk_json_type (v) != HUSK_JSON_BOOL)
        fmt_bad_verb (b, f, v);
      else
        fmt_pad (b, f, husk_json_bool (v, false) ? "true" : "false", false);
      return;
    case 'q':
      if (v == NULL || (husk_json_type (v) != HUSK_JSON_STRING && husk_json_type (v) != HUSK_JSON_ARRAY))
        {
          fmt_bad_verb (b, f, v);
          return;
        }
      if (is_string)
        go_quote (&tmp, husk_json_string (v));
      else
        {
          size_t i;
          husk_buf_puts (&tmp, "[");
          for (i = 0; i < husk_json_array_len (v); i++)
            {
              cleanup_free char *e = value_to_string (husk_json_array_at (v, i));
              if (i)
                husk_buf_puts (&tmp, " ");
              go_quote (&tmp, e);
            }
          husk_buf_puts (&tmp, "]");
        }
      s = husk_buf_steal (&tmp, NULL);
      fmt_pad (b, f, s, false);
      return;
    case 's':
    case 'v':
      if (f->verb == 's' && (v == NULL || husk_json_type (v) == HUSK_JSON_NULL))
        {
          fmt_bad_verb (b, f, v);
          return;
        }
      if (f->verb == 's' && !is_string && husk_json_type (v) != HUSK_JSON_ARRAY
          && husk_json_type (v) != HUSK_JSON_OBJECT)
        {
          fmt_bad_verb (b, f, v);
          return;
        }
      if (v == NULL)
        husk_buf_puts (&tmp, "<nil>");
      else
        print_value (&tmp, v, false);
      s = husk_buf_steal (&tmp, NULL);
      if (f->prec >= 0)
        s[utf8_prefix (s, f->prec)] = '\0';
      fmt_pad (b, f, s, false);
      return;
    default:
      husk_buf_printf (b, "%%!%c(", f->verb);
      print_value (b, v, false);
      husk_buf_puts (b, ")");
      return;
    }
}

/* Parse flags, width and precision after '%'; *p points past '%'.  */
static void
fmt_parse_spec (const char **p, struct fmt_spec *f)
{
  const char *s = *p;

  memset (f, 0, sizeof (*f));
  f->width = f->prec = -1;
  for (;; s++)
    {
      if (*s == '-')
        f->minus = true;
      else if (*s == '+')
        f->plus = true;
      else if (*s == ' ')
        f->space = true;
      else if (*s == '0')
        f->zero = true;
      else if (*s == '#')
        f->sharp = true;
      else
        break;
    }
  if (isdigit ((unsigned char)*s))
    {
      f->width = 0;
      while (isdigit ((unsigned char)*s) && f->width < 100000)
        f->width = f->width * 10 + (*s++ - '0');
    }
  if (*s == '.')
    {
      s++;
      f->prec = 0;
      while (isdigit ((unsigned char)*s) && f->prec < 100000)
        f->prec = f->prec * 10 + (*s++ - '0');
    }
  f->verb = *s;
  if (*s)
    s++;
  *p = s;
}

static void
go_sprintf (struct husk_buf *b, const char *fmt, struct val *args, size_t n)
{
  const char *p = fmt;
  size_t argi = 0;

  while (*p)
    {
      struct fmt_spec f;
      const char *pct = strchr (p, '%');

      if (pct == NULL)
        {
          husk_buf_puts (b, p);
          break;
        }
      husk_buf_append (b, p, (size_t)(pct - p));
      p = pct + 1;
      if (*p == '%')
        {
          husk_buf_puts (b, "%");
          p++;
          continue;
        }
      fmt_parse_spec (&p, &f);
      if (f.verb == '\0')
        {
          husk_buf_puts (b, "%!(NOVERB)");
          break;
        }
      if (argi >= n)
        {
          husk_buf_printf (b, "%%!%c(MISSING)", f.verb);
          continue;
        }
      fmt_one (b, &f, args[argi++].v);
    }
  if (argi < n)
    {
      husk_buf_puts (b, "%!(EXTRA ");
      for (; argi < n; argi++)
        {
          husk_buf_printf (b, "%s=", type_name (args[argi].v));
          print_value (b, args[argi].v, false);
          if (argi + 1 < n)
            husk_buf_puts (b, ", ");
        }
      husk_buf_puts (b, ")");
    }
}

static int
fn_printf (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  struct husk_buf b = { 0 };
  cleanup_free char *fmt = value_to_string (args[0].v);
  cleanup_free char *s = NULL;

  go_sprintf (&b, fmt, args + 1, n - 1);
  s = husk_buf_steal (&b, NULL);
  val_set_owned (res, husk_json_new_string (s));
  return 0;
}

/* fmt.Sprint: spaces between operands when neither side is a string.  */
static int
fn_print (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  struct husk_buf b = { 0 };
  cleanup_free char *s = NULL;
  size_t i;

  for (i = 0; i < n; i++)
    {
      bool str = args[i].v && husk_json_type (args[i].v) == HUSK_JSON_STRING;
      bool prev_str = i > 0 && args[i - 1].v && husk_json_type (args[i - 1].v) == HUSK_JSON_STRING;
      if (i > 0 && !str && !prev_str)
        husk_buf_puts (&b, " ");
      if (args[i].v == NULL)
        husk_buf_puts (&b, "<nil>");
      else
        print_value (&b, args[i].v, false);
    }
  s = husk_buf_steal (&b, NULL);
  val_set_owned (res, husk_json_new_string (s));
  return 0;
}

/* fmt.Sprintln: always spaces, and a newline.  */
static int
fn_println (struct val *args, size_t n, struct val *res, husk_error_t *err)
{
  struct husk_buf b = { 0 };
  cleanup_free char *s = NULL;
  size_t i;

  for (i = 0; i < n; i++)
    {
      if (i > 0)
        husk_buf_puts (&b, " ");
      if (args[i].v == NULL)
        husk_buf_puts (&b, "<nil>");
      else
        print_value (&b, args[i].v, false);
    }
  husk_buf_puts (&b, "\n");
  s = husk_buf_steal (&b, NULL);
  val_set_owned (res, husk_json_new_string (s));
  return 0;
}

static const struct func_def functions[] = {
  { "and", 1, -1, fn_and },     { "eq", 2, -1, fn_eq },         { "ge", 2, 2, fn_ge },
  { "gt", 2, 2, fn_gt },        { "index", 1, -1, fn_index },   { "join", 2, 2, fn_join },
  { "json", 1, 1, fn_json },    { "le", 2, 2, fn_le },          { "len", 1, 1, fn_len },
  { "lower", 1, 1, fn_lower },  { "lt", 2, 2, fn_lt },          { "ne", 2, 2, fn_ne },
  { "not", 1, 1, fn_not },      { "or", 1, -1, fn_or },         { "pad", 3, 3, fn_pad },
  { "print", 0, -1, fn_print }, { "printf", 1, -1, fn_printf }, { "println", 0, -1, fn_println },
  { "split", 2, 2, fn_split },  { "title", 1, 1, fn_title },    { "truncate", 2, 2, fn_truncate },
  { "upper", 1, 1, fn_upper },
};

static const struct func_def *
find_func (const char *name)
{
  size_t i;
  for (i = 0; i < sizeof (functions) / sizeof (functions[0]); i++)
    if (strcmp (functions[i].name, name) == 0)
      return &functions[i];
  return NULL;
}

/* Execution.  */

static int eval_pipeline (struct exec_state *ex, const struct pipeline *pipe, const struct val *dot,
                          struct val *res, husk_error_t *err);

/* Walk path from base; null and missing values give no value, like a
   missing map key in Go, rather than an error.  */
static int
eval_field (const struct val *base, char **path, struct val *res, husk_error_t *err)
{
  const husk_json_t *cur = base->v;
  size_t i;

  for (i = 0; path[i]; i++)
    {
      if (cur == NULL || husk_json_type (cur) == HUSK_JSON_NULL)
        {
          cur = NULL;
          break;
        }
      if (husk_json_type (cur) != HUSK_JSON_OBJECT)
        return husk_make_error (err, 0, "template: can't evaluate field %s in type %s", path[i],
                                type_name (cur));
      cur = field_lookup (cur, path[i]);
    }
  val_set_child (res, base, cur);
  return 0;
}

static int
eval_operand (struct exec_state *ex, const struct operand *op, const struct val *dot, struct val *res,
              husk_error_t *err)
{
  res->v = NULL;
  res->owned = NULL;
  switch (op->kind)
    {
    case OP_FIELD:
      {
        struct val root = { ex->root, NULL };
        return eval_field (op->from_root ? &root : dot, op->path, res, err);
      }
    case OP_STRING:
      val_set_owned (res, husk_json_new_string (op->str));
      return 0;
    case OP_INT:
      val_set_owned (res, husk_json_new_int (op->num));
      return 0;
    case OP_BOOL:
      val_set_owned (res, husk_json_new_bool (op->b));
      return 0;
    case OP_NIL:
      return 0;
    case OP_PIPE:
      {
        struct val tmp = { 0 };
        int ret = eval_pipeline (ex, op->pipe, dot, &tmp, err);
        if (ret < 0 || op->path == NULL)
          {
            *res = tmp;
            return ret;
          }
        ret = eval_field (&tmp, op->path, res, err);
        val_release (&tmp);
        return ret;
      }
    case OP_FUNC:
      /* A function without arguments used as an operand.  */
      {
        struct operand call = *op;
        struct command cmd = { &call, 1 };
        struct pipeline pipe = { &cmd, 1 };
        return eval_pipeline (ex, &pipe, dot, res, err);
      }
    }
  return 0;
}

static int
eval_command (struct exec_state *ex, const struct command *cmd, const struct val *dot, struct val *final,
              struct val *res, husk_error_t *err)
{
  const struct func_def *fn;
  struct val *args;
  size_t nargs, i;
  int ret = 0;

  if (cmd->ops[0].kind != OP_FUNC)
    return eval_operand (ex, &cmd->ops[0], dot, res, err);

  fn = cmd->ops[0].fn;
  nargs = cmd->n - 1 + (final ? 1 : 0);
  if ((int)nargs < fn->min_args || (fn->max_args >= 0 && (int)nargs > fn->max_args))
    return husk_make_error (err, 0, "template: wrong number of args for %s: want %d got %zu", fn->name,
                            fn->min_args, nargs);
  args = xzalloc ((nargs + 1) * sizeof (*args));
  for (i = 1; i < cmd->n && ret == 0; i++)
    ret = eval_operand (ex, &cmd->ops[i], dot, &args[i - 1], err);
  if (ret == 0)
    {
      if (final)
        val_move (&args[nargs - 1], final);
      res->v = NULL;
      res->owned = NULL;
      ret = fn->fn (args, nargs, res, err);
    }
  for (i = 0; i < nargs; i++)
    val_release (&args[i]);
  free (args);
  return ret;
}

static int
eval_pipeline (struct exec_state *ex, const struct pipeline *pipe, const struct val *dot, struct val *res,
               husk_error_t *err)
{
  struct val cur = { 0 };
  size_t i;
  int ret;

  for (i = 0; i < pipe->n; i++)
    {
      struct val next = { 0 };
      ret = eval_command (ex, &pipe->cmds[i], dot, i ? &cur : NULL, &next, err);
      val_release (&cur);
      if (ret < 0)
        {
          val_release (&next);
          return ret;
        }
      cur = next;
    }
  *res = cur;
  return 0;
}

static int exec_list (struct exec_state *ex, const struct node_list *list, const struct val *dot,
                      husk_error_t *err);

static int
exec_range (struct exec_state *ex, const struct node *node, const struct val *dot, husk_error_t *err)
{
  struct val v = { 0 };
  size_t i, n = 0;
  int ret;

  ret = eval_pipeline (ex, node->pipe, dot, &v, err);
  if (ret < 0)
    return ret;
  if (v.v && husk_json_type (v.v) == HUSK_JSON_ARRAY)
    {
      n = husk_json_array_len (v.v);
      for (i = 0; i < n && ret == 0; i++)
        {
          struct val elem = { husk_json_array_at (v.v, i), NULL };
          ret = exec_list (ex, &node->body, &elem, err);
        }
    }
  else if (v.v && husk_json_type (v.v) == HUSK_JSON_OBJECT)
    {
      cleanup_free size_t *order = sorted_key_order (v.v, &n);
      for (i = 0; i < n && ret == 0; i++)
        {
          struct val elem = { husk_json_object_value_at (v.v, order[i]), NULL };
          ret = exec_list (ex, &node->body, &elem, err);
        }
    }
  else if (v.v && husk_json_type (v.v) != HUSK_JSON_NULL)
    ret = husk_make_error (err, 0, "template: range can't iterate over %s", type_name (v.v));
  if (ret == 0 && n == 0)
    ret = exec_list (ex, &node->alt, dot, err);
  val_release (&v);
  return ret;
}

static int
exec_node (struct exec_state *ex, const struct node *node, const struct val *dot, husk_error_t *err)
{
  struct val v = { 0 };
  int ret;

  switch (node->kind)
    {
    case NODE_TEXT:
      husk_buf_append (ex->out, node->text, node->len);
      return 0;
    case NODE_RANGE:
      return exec_range (ex, node, dot, err);
    case NODE_ACTION:
    case NODE_IF:
    case NODE_WITH:
      break;
    }

  ret = eval_pipeline (ex, node->pipe, dot, &v, err);
  if (ret < 0)
    return ret;
  if (node->kind == NODE_ACTION)
    print_value (ex->out, v.v, true);
  else if (node->kind == NODE_IF)
    ret = exec_list (ex, is_true (v.v) ? &node->body : &node->alt, dot, err);
  else
    ret = exec_list (ex, is_true (v.v) ? &node->body : &node->alt, is_true (v.v) ? &v : dot, err);
  val_release (&v);
  return ret;
}

static int
exec_list (struct exec_state *ex, const struct node_list *list, const struct val *dot, husk_error_t *err)
{
  size_t i;
  int ret;

  for (i = 0; i < list->n; i++)
    {
      ret = exec_node (ex, list->items[i], dot, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

int
husk_template_render (const husk_template_t *t, const husk_json_t *data, struct husk_buf *out,
                      husk_error_t *err)
{
  struct exec_state ex = { data, out };
  struct val dot = { data, NULL };
  return exec_list (&ex, &t->root, &dot, err);
}

/* Header row.  */

/* The first field an action refers to, e.g. "Names" in {{join .Names ","}}.  */
static const struct operand *
pipeline_first_field (const struct pipeline *pipe)
{
  size_t i, j;

  for (i = 0; i < pipe->n; i++)
    for (j = 0; j < pipe->cmds[i].n; j++)
      {
        const struct operand *op = &pipe->cmds[i].ops[j];
        if (op->kind == OP_FIELD && op->path[0] != NULL)
          return op;
        if (op->kind == OP_PIPE)
          {
            const struct operand *inner = pipeline_first_field (op->pipe);
            if (inner)
              return inner;
          }
      }
  return NULL;
}

/* "CreatedAt" -> "CREATED AT", "RepoTags" -> "REPO TAGS", "ID" -> "ID",
   "HTTPProxy" -> "HTTP PROXY", "ImageIDs" -> "IMAGE IDS".  */
static void
header_from_name (struct husk_buf *b, const char *name)
{
  size_t i, n = strlen (name);

  for (i = 0; i < n; i++)
    {
      unsigned char c = (unsigned char)name[i];
      if (i > 0 && isupper (c))
        {
          unsigned char prev = (unsigned char)name[i - 1];
          unsigned char next = (unsigned char)name[i + 1];
          bool split = islower (prev) || isdigit (prev);
          /* An acronym followed by a word: split before the word's capital,
             but a plural "s" at the end does not start a word.  */
          if (isupper (prev) && islower (next) && !(next == 's' && i + 2 == n))
            split = true;
          if (split)
            husk_buf_puts (b, " ");
        }
      c = (unsigned char)toupper (c);
      husk_buf_append (b, &c, 1);
    }
}

static void
render_header_list (const struct node_list *list, const char *(*header_for) (const char *field),
                    struct husk_buf *out)
{
  size_t i;

  for (i = 0; i < list->n; i++)
    {
      const struct node *node = list->items[i];
      const struct operand *field;
      cleanup_free char *path = NULL;
      const char *name = NULL;

      if (node->kind == NODE_TEXT)
        {
          husk_buf_append (out, node->text, node->len);
          continue;
        }
      field = pipeline_first_field (node->pipe);
      if (field == NULL)
        continue;
      path = strv_join (field->path, ".");
      if (header_for)
        name = header_for (path);
      if (name)
        husk_buf_puts (out, name);
      else
        header_from_name (out, field->path[strv_len (field->path) - 1]);
    }
}

int
husk_template_render_header (const husk_template_t *t, const char *(*header_for) (const char *field),
                             struct husk_buf *out, husk_error_t *err)
{
  render_header_list (&t->root, header_for, out);
  return 0;
}
