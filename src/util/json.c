/* husk: an owned JSON tree on top of yajl.

   This is the only file that includes yajl.  Parsing uses yajl's event
   parser so the tree is built directly in our own representation: objects
   keep insertion order (image configs, inspect output and manifests are
   compared and hashed byte for byte, so order matters) and integers stay
   exact int64 values instead of going through double.  */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "husk/json.h"
#include "husk/util.h"

/* Deeper documents are refused: free, clone and serialise recurse, and no
   real container or image document comes anywhere near this.  */
#define JSON_MAX_DEPTH 1000

struct json_member
{
  char *key;
  husk_json_t *val;
};

struct husk_json
{
  enum husk_json_type type;
  union
  {
    bool b;
    int64_t i;
    double d;
    struct
    {
      char *s;
      size_t len; /* the string may hold "\u0000" */
    } str;
    struct
    {
      husk_json_t **items;
      size_t len, cap;
    } arr;
    struct
    {
      struct json_member *members;
      size_t len, cap;
      /* Hash index over members, NULL for small objects; see object_find.  */
      uint32_t *slots;
      size_t nslots;
    } obj;
  } u;
};

static void object_index_rebuild (husk_json_t *obj);

static husk_json_t *
json_new (enum husk_json_type type)
{
  husk_json_t *v = xzalloc (sizeof (*v));
  v->type = type;
  return v;
}

husk_json_t *
husk_json_new_null (void)
{
  return json_new (HUSK_JSON_NULL);
}

husk_json_t *
husk_json_new_bool (bool v)
{
  husk_json_t *ret = json_new (HUSK_JSON_BOOL);
  ret->u.b = v;
  return ret;
}

husk_json_t *
husk_json_new_int (int64_t v)
{
  husk_json_t *ret = json_new (HUSK_JSON_INT);
  ret->u.i = v;
  return ret;
}

husk_json_t *
husk_json_new_double (double v)
{
  husk_json_t *ret = json_new (HUSK_JSON_DOUBLE);
  ret->u.d = v;
  return ret;
}

static husk_json_t *
json_new_string_len (const char *s, size_t len)
{
  husk_json_t *ret = json_new (HUSK_JSON_STRING);
  ret->u.str.s = xmalloc (len + 1);
  memcpy (ret->u.str.s, s, len);
  ret->u.str.s[len] = '\0';
  ret->u.str.len = len;
  return ret;
}

husk_json_t *
husk_json_new_string (const char *s)
{
  if (s == NULL)
    return husk_json_new_null ();
  return json_new_string_len (s, strlen (s));
}

husk_json_t *
husk_json_new_array (void)
{
  return json_new (HUSK_JSON_ARRAY);
}

husk_json_t *
husk_json_new_object (void)
{
  return json_new (HUSK_JSON_OBJECT);
}

void
husk_json_free (husk_json_t *v)
{
  size_t i;

  if (v == NULL)
    return;
  switch (v->type)
    {
    case HUSK_JSON_STRING:
      free (v->u.str.s);
      break;
    case HUSK_JSON_ARRAY:
      for (i = 0; i < v->u.arr.len; i++)
        husk_json_free (v->u.arr.items[i]);
      free (v->u.arr.items);
      break;
    case HUSK_JSON_OBJECT:
      for (i = 0; i < v->u.obj.len; i++)
        {
          free (v->u.obj.members[i].key);
          husk_json_free (v->u.obj.members[i].val);
        }
      free (v->u.obj.members);
      free (v->u.obj.slots);
      break;
    default:
      break;
    }
  free (v);
}

void
cleanup_jsonp (husk_json_t **v)
{
  husk_json_free (*v);
  *v = NULL;
}

husk_json_t *
husk_json_clone (const husk_json_t *v)
{
  husk_json_t *ret;
  size_t i;

  if (v == NULL)
    return NULL;
  switch (v->type)
    {
    case HUSK_JSON_STRING:
      return json_new_string_len (v->u.str.s, v->u.str.len);
    case HUSK_JSON_ARRAY:
      ret = husk_json_new_array ();
      ret->u.arr.cap = v->u.arr.len;
      ret->u.arr.items = xmalloc (v->u.arr.len * sizeof (husk_json_t *));
      for (i = 0; i < v->u.arr.len; i++)
        ret->u.arr.items[i] = husk_json_clone (v->u.arr.items[i]);
      ret->u.arr.len = v->u.arr.len;
      return ret;
    case HUSK_JSON_OBJECT:
      ret = husk_json_new_object ();
      ret->u.obj.cap = v->u.obj.len;
      ret->u.obj.members = xmalloc (v->u.obj.len * sizeof (struct json_member));
      for (i = 0; i < v->u.obj.len; i++)
        {
          ret->u.obj.members[i].key = xstrdup (v->u.obj.members[i].key);
          ret->u.obj.members[i].val = husk_json_clone (v->u.obj.members[i].val);
        }
      ret->u.obj.len = v->u.obj.len;
      object_index_rebuild (ret);
      return ret;
    default:
      ret = json_new (v->type);
      ret->u = v->u;
      return ret;
    }
}

enum husk_json_type
husk_json_type (const husk_json_t *v)
{
  return v ? v->type : HUSK_JSON_NULL;
}

const char *
husk_json_string (const husk_json_t *v)
{
  if (v == NULL || v->type != HUSK_JSON_STRING)
    return NULL;
  return v->u.str.s;
}

int64_t
husk_json_int (const husk_json_t *v, int64_t fallback)
{
  if (v == NULL)
    return fallback;
  if (v->type == HUSK_JSON_INT)
    return v->u.i;
  if (v->type == HUSK_JSON_DOUBLE)
    {
      /* Casting an out-of-range double is undefined: clamp it.  */
      if (isnan (v->u.d))
        return fallback;
      if (v->u.d >= 9223372036854775807.0)
        return INT64_MAX;
      if (v->u.d <= -9223372036854775808.0)
        return INT64_MIN;
      return (int64_t)v->u.d;
    }
  return fallback;
}

double
husk_json_double (const husk_json_t *v, double fallback)
{
  if (v == NULL)
    return fallback;
  if (v->type == HUSK_JSON_DOUBLE)
    return v->u.d;
  if (v->type == HUSK_JSON_INT)
    return (double)v->u.i;
  return fallback;
}

bool
husk_json_bool (const husk_json_t *v, bool fallback)
{
  if (v == NULL || v->type != HUSK_JSON_BOOL)
    return fallback;
  return v->u.b;
}

size_t
husk_json_array_len (const husk_json_t *v)
{
  if (v == NULL || v->type != HUSK_JSON_ARRAY)
    return 0;
  return v->u.arr.len;
}

husk_json_t *
husk_json_array_at (const husk_json_t *v, size_t i)
{
  if (v == NULL || v->type != HUSK_JSON_ARRAY || i >= v->u.arr.len)
    return NULL;
  return v->u.arr.items[i];
}

/* The container takes ownership even when it cannot store the value, so a
   caller never leaks by handing a value to the wrong kind of node.  */
void
husk_json_array_append (husk_json_t *arr, husk_json_t *item)
{
  if (item == NULL)
    item = husk_json_new_null ();
  if (arr == NULL || arr->type != HUSK_JSON_ARRAY)
    {
      husk_json_free (item);
      return;
    }
  if (arr->u.arr.len == arr->u.arr.cap)
    {
      arr->u.arr.cap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 4;
      arr->u.arr.items = xrealloc (arr->u.arr.items, arr->u.arr.cap * sizeof (husk_json_t *));
    }
  arr->u.arr.items[arr->u.arr.len++] = item;
}

size_t
husk_json_object_len (const husk_json_t *v)
{
  if (v == NULL || v->type != HUSK_JSON_OBJECT)
    return 0;
  return v->u.obj.len;
}

const char *
husk_json_object_key_at (const husk_json_t *v, size_t i)
{
  if (v == NULL || v->type != HUSK_JSON_OBJECT || i >= v->u.obj.len)
    return NULL;
  return v->u.obj.members[i].key;
}

husk_json_t *
husk_json_object_value_at (const husk_json_t *v, size_t i)
{
  if (v == NULL || v->type != HUSK_JSON_OBJECT || i >= v->u.obj.len)
    return NULL;
  return v->u.obj.members[i].val;
}

/* Most objects are small (a config has a few dozen keys) and a linear scan
   is fastest there.  Store indexes keyed by digest can hold thousands of
   keys, where a linear scan made parsing quadratic (50000 keys: 6 s), so
   objects from OBJECT_INDEX_MIN keys up get an open-addressing index of
   member positions + 1 (0 = empty slot), kept at most half full.  It is
   maintained on every change, so lookups never modify a const tree.  */
#define OBJECT_INDEX_MIN 16

static size_t
key_hash (const char *key)
{
  /* FNV-1a */
  uint64_t h = 14695981039346656037ULL;
  for (; *key; key++)
    {
      h ^= (unsigned char)*key;
      h *= 1099511628211ULL;
    }
  return (size_t)h;
}

static void
object_index_insert (husk_json_t *obj, size_t pos)
{
  size_t mask = obj->u.obj.nslots - 1;
  size_t i = key_hash (obj->u.obj.members[pos].key) & mask;

  while (obj->u.obj.slots[i] != 0)
    i = (i + 1) & mask;
  obj->u.obj.slots[i] = (uint32_t)(pos + 1);
}

static void
object_index_rebuild (husk_json_t *obj)
{
  size_t i, n = obj->u.obj.len;

  free (obj->u.obj.slots);
  obj->u.obj.slots = NULL;
  obj->u.obj.nslots = 0;
  /* Positions are stored in 32 bits; past that, fall back to scanning.  */
  if (n < OBJECT_INDEX_MIN || n >= UINT32_MAX / 4)
    return;
  obj->u.obj.nslots = 64;
  while (obj->u.obj.nslots < n * 4)
    obj->u.obj.nslots *= 2;
  obj->u.obj.slots = xzalloc (obj->u.obj.nslots * sizeof (uint32_t));
  for (i = 0; i < n; i++)
    object_index_insert (obj, i);
}

/* Called after a member was appended at position len - 1.  */
static void
object_index_added (husk_json_t *obj)
{
  if (obj->u.obj.slots == NULL || obj->u.obj.len * 2 > obj->u.obj.nslots)
    object_index_rebuild (obj);
  else
    object_index_insert (obj, obj->u.obj.len - 1);
}

static struct json_member *
object_find (const husk_json_t *obj, const char *key)
{
  size_t i;

  if (obj == NULL || obj->type != HUSK_JSON_OBJECT || key == NULL)
    return NULL;
  if (obj->u.obj.slots != NULL)
    {
      size_t mask = obj->u.obj.nslots - 1;
      for (i = key_hash (key) & mask; obj->u.obj.slots[i] != 0; i = (i + 1) & mask)
        {
          struct json_member *m = &obj->u.obj.members[obj->u.obj.slots[i] - 1];
          if (strcmp (m->key, key) == 0)
            return m;
        }
      return NULL;
    }
  for (i = 0; i < obj->u.obj.len; i++)
    if (strcmp (obj->u.obj.members[i].key, key) == 0)
      return &obj->u.obj.members[i];
  return NULL;
}

husk_json_t *
husk_json_get (const husk_json_t *obj, const char *key)
{
  struct json_member *m = object_find (obj, key);
  return m ? m->val : NULL;
}

husk_json_t *
husk_json_get_path (const husk_json_t *obj, ...)
{
  const husk_json_t *cur = obj;
  const char *key;
  va_list ap;

  va_start (ap, obj);
  while (cur != NULL && (key = va_arg (ap, const char *)) != NULL)
    cur = husk_json_get (cur, key);
  va_end (ap);
  return (husk_json_t *)cur;
}

const char *
husk_json_get_string (const husk_json_t *obj, const char *key)
{
  return husk_json_string (husk_json_get (obj, key));
}

/* Takes ownership of key.  */
static void
object_set_take (husk_json_t *obj, char *key, husk_json_t *val)
{
  struct json_member *m = object_find (obj, key);

  if (m != NULL)
    {
      free (key);
      husk_json_free (m->val);
      m->val = val;
      return;
    }
  if (obj->u.obj.len == obj->u.obj.cap)
    {
      obj->u.obj.cap = obj->u.obj.cap ? obj->u.obj.cap * 2 : 4;
      obj->u.obj.members = xrealloc (obj->u.obj.members, obj->u.obj.cap * sizeof (struct json_member));
    }
  obj->u.obj.members[obj->u.obj.len].key = key;
  obj->u.obj.members[obj->u.obj.len].val = val;
  obj->u.obj.len++;
  object_index_added (obj);
}

void
husk_json_set (husk_json_t *obj, const char *key, husk_json_t *val)
{
  if (val == NULL)
    val = husk_json_new_null ();
  if (obj == NULL || obj->type != HUSK_JSON_OBJECT || key == NULL)
    {
      husk_json_free (val);
      return;
    }
  object_set_take (obj, xstrdup (key), val);
}

void
husk_json_set_string (husk_json_t *obj, const char *key, const char *s)
{
  husk_json_set (obj, key, husk_json_new_string (s));
}

void
husk_json_set_int (husk_json_t *obj, const char *key, int64_t v)
{
  husk_json_set (obj, key, husk_json_new_int (v));
}

void
husk_json_set_bool (husk_json_t *obj, const char *key, bool v)
{
  husk_json_set (obj, key, husk_json_new_bool (v));
}

bool
husk_json_remove (husk_json_t *obj, const char *key)
{
  struct json_member *m = object_find (obj, key);
  size_t idx;

  if (m == NULL)
    return false;
  idx = (size_t)(m - obj->u.obj.members);
  free (m->key);
  husk_json_free (m->val);
  memmove (m, m + 1, (obj->u.obj.len - idx - 1) * sizeof (struct json_member));
  obj->u.obj.len--;
  /* Positions after idx moved: O(n) like the memmove above.  */
  object_index_rebuild (obj);
  return true;
}

husk_json_t *
husk_json_from_strv (char *const *v)
{
  husk_json_t *arr = husk_json_new_array ();
  size_t i;

  for (i = 0; v && v[i]; i++)
    husk_json_array_append (arr, husk_json_new_string (v[i]));
  return arr;
}

char **
husk_json_to_strv (const husk_json_t *arr)
{
  size_t n = husk_json_array_len (arr);
  char **ret = xzalloc ((n + 1) * sizeof (char *));
  size_t i, j = 0;

  for (i = 0; i < n; i++)
    {
      const char *s = husk_json_string (arr->u.arr.items[i]);
      if (s != NULL)
        ret[j++] = xstrdup (s);
    }
  return ret;
}

/* Parsing.  */

struct parse_ctx
{
  husk_json_t *root;
  husk_json_t **stack; /* open arrays and objects, innermost last */
  size_t depth, cap;
  char *key;         /* the key waiting for its value in the innermost object */
  const char *error; /* why a callback stopped the parse */
};

/* Attach a new value to the innermost open container.  */
static int
parse_add (struct parse_ctx *c, husk_json_t *v)
{
  husk_json_t *parent;

  if (c->depth == 0)
    {
      c->root = v;
      return 1;
    }
  parent = c->stack[c->depth - 1];
  if (parent->type == HUSK_JSON_ARRAY)
    husk_json_array_append (parent, v);
  else
    {
      /* A repeated key keeps its first position and the last value, as Go's
         encoding/json does.  */
      object_set_take (parent, c->key, v);
      c->key = NULL;
    }
  return 1;
}

static int
parse_push (struct parse_ctx *c, husk_json_t *v)
{
  if (c->depth >= JSON_MAX_DEPTH)
    {
      husk_json_free (v);
      c->error = "nesting too deep";
      return 0;
    }
  parse_add (c, v);
  if (c->depth == c->cap)
    {
      c->cap = c->cap ? c->cap * 2 : 16;
      c->stack = xrealloc (c->stack, c->cap * sizeof (husk_json_t *));
    }
  c->stack[c->depth++] = v;
  return 1;
}

static int
cb_null (void *ctx)
{
  return parse_add (ctx, husk_json_new_null ());
}

static int
cb_boolean (void *ctx, int b)
{
  return parse_add (ctx, husk_json_new_bool (b != 0));
}

/* yajl hands over the number's text.  Integers that fit int64 are kept
   exact, without going through double.  Other numbers are parsed as doubles;
   an integral fraction or exponent ("1.0", "1e3") that fits int64 becomes an
   integer, so that
   callers checking for HUSK_JSON_INT see the same value whatever the writer's
   spelling.  */
static int
cb_number (void *ctx, const char *s, size_t len)
{
  struct parse_ctx *c = ctx;
  cleanup_free char *text = xstrndup (s, len);
  bool integer_literal = strpbrk (text, ".eE") == NULL;
  char *end = NULL;
  double d;

  if (integer_literal)
    {
      long long ll;

      errno = 0;
      ll = strtoll (text, &end, 10);
      if (errno == 0 && *end == '\0')
        return parse_add (c, husk_json_new_int ((int64_t)ll));
    }
  d = strtod (text, NULL);
  /* Underflow to 0 or a denormal is fine; overflow to infinity is not, as
     JSON cannot write it back (Go refuses it too).  */
  if (isinf (d))
    {
      c->error = "number out of range";
      return 0;
    }
  /* An integer literal outside int64 stays a double even when rounding brings
     it back in range (-9223372036854775809); -0.0 stays a double so its sign
     survives a round trip.  */
  if (!integer_literal && d == floor (d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0
      && !(d == 0 && signbit (d)))
    return parse_add (c, husk_json_new_int ((int64_t)d));
  return parse_add (c, husk_json_new_double (d));
}

static int
cb_string (void *ctx, const unsigned char *s, size_t len)
{
  return parse_add (ctx, json_new_string_len ((const char *)s, len));
}

static int
cb_start_map (void *ctx)
{
  return parse_push (ctx, husk_json_new_object ());
}

static int
cb_start_array (void *ctx)
{
  return parse_push (ctx, husk_json_new_array ());
}

static int
cb_map_key (void *ctx, const unsigned char *s, size_t len)
{
  struct parse_ctx *c = ctx;

  free (c->key);
  c->key = xstrndup ((const char *)s, len);
  return 1;
}

static int
cb_end (void *ctx)
{
  struct parse_ctx *c = ctx;
  c->depth--;
  return 1;
}

static const yajl_callbacks parse_callbacks = {
  .yajl_null = cb_null,
  .yajl_boolean = cb_boolean,
  .yajl_number = cb_number,
  .yajl_string = cb_string,
  .yajl_start_map = cb_start_map,
  .yajl_map_key = cb_map_key,
  .yajl_end_map = cb_end,
  .yajl_start_array = cb_start_array,
  .yajl_end_array = cb_end,
};

static int
parse_error (yajl_handle h, const char *buf, size_t len, size_t offset, struct parse_ctx *c,
             husk_error_t *err)
{
  unsigned char *msg;
  size_t n;
  int ret;

  if (c->error)
    return husk_make_error (err, 0, "invalid JSON at byte %zu: %s", offset, c->error);
  msg = yajl_get_error (h, 0, (const unsigned char *)buf, len);
  n = msg ? strlen ((char *)msg) : 0;
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
    n--;
  ret = husk_make_error (err, 0, "invalid JSON at byte %zu: %.*s", offset, (int)n,
                         msg ? (char *)msg : "parse error");
  if (msg)
    yajl_free_error (h, msg);
  return ret;
}

husk_json_t *
husk_json_parse (const char *buf, size_t len, husk_error_t *err)
{
  struct parse_ctx c = { 0 };
  yajl_handle h;
  yajl_status st;
  husk_json_t *ret = NULL;

  h = yajl_alloc (&parse_callbacks, NULL, &c);
  if (h == NULL)
    husk_oom ();

  st = yajl_parse (h, (const unsigned char *)buf, len);
  if (st != yajl_status_ok)
    parse_error (h, buf, len, yajl_get_bytes_consumed (h), &c, err);
  else
    {
      /* An error found only at the end (truncated input) is at byte len.  */
      st = yajl_complete_parse (h);
      if (st != yajl_status_ok)
        parse_error (h, buf, len, len, &c, err);
    }

  if (st == yajl_status_ok)
    ret = steal_pointer (&c.root);
  husk_json_free (c.root);
  free (c.stack);
  free (c.key);
  yajl_free (h);
  return ret;
}

/* Serialising.  */

/* The shortest decimal that reads back as the same double, laid out like
   Go's encoding/json: plain notation for 1e-6 <= |d| < 1e21, otherwise
   exponent notation without a leading zero in the exponent ("1e-7").  */
static char *
format_double (double d)
{
  char *sci = NULL;
  char digits[32];
  struct husk_buf b = { 0 };
  int prec, exp, ndig, i;
  const char *p, *e;
  double ad = fabs (d);

  for (prec = 0; prec <= 16; prec++)
    {
      free (sci);
      sci = xasprintf ("%.*e", prec, d);
      if (strtod (sci, NULL) == d)
        break;
    }

  /* sci is "[-]D[.DDD]e[+-]XX": collect the digits and the exponent.  */
  p = sci;
  if (*p == '-')
    {
      husk_buf_puts (&b, "-");
      p++;
    }
  e = strchr (p, 'e');
  ndig = 0;
  for (; p < e; p++)
    if (*p != '.')
      digits[ndig++] = *p;
  exp = atoi (e + 1);
  free (sci);

  if (ad == 0 || (ad >= 1e-6 && ad < 1e21))
    {
      if (exp < 0)
        {
          husk_buf_puts (&b, "0.");
          for (i = 0; i < -exp - 1; i++)
            husk_buf_puts (&b, "0");
          husk_buf_append (&b, digits, (size_t)ndig);
        }
      else
        {
          for (i = 0; i <= exp; i++)
            husk_buf_append (&b, i < ndig ? &digits[i] : "0", 1);
          if (ndig > exp + 1)
            {
              husk_buf_puts (&b, ".");
              husk_buf_append (&b, digits + exp + 1, (size_t)(ndig - exp - 1));
            }
        }
    }
  else
    {
      husk_buf_append (&b, digits, 1);
      if (ndig > 1)
        {
          husk_buf_puts (&b, ".");
          husk_buf_append (&b, digits + 1, (size_t)(ndig - 1));
        }
      husk_buf_printf (&b, "e%c%d", exp < 0 ? '-' : '+', abs (exp));
    }
  return husk_buf_steal (&b, NULL);
}

static void
gen_print (void *ctx, const char *s, size_t len)
{
  husk_buf_append (ctx, s, len);
}

static void
gen_value (yajl_gen g, const husk_json_t *v, bool pretty)
{
  cleanup_free char *num = NULL;
  size_t i;

  switch (husk_json_type (v))
    {
    case HUSK_JSON_NULL:
      yajl_gen_null (g);
      break;
    case HUSK_JSON_BOOL:
      yajl_gen_bool (g, v->u.b);
      break;
    case HUSK_JSON_INT:
      yajl_gen_integer (g, (long long)v->u.i);
      break;
    case HUSK_JSON_DOUBLE:
      /* JSON has no NaN or infinity; null is what a reader can still load.  */
      if (!isfinite (v->u.d))
        {
          yajl_gen_null (g);
          break;
        }
      num = format_double (v->u.d);
      yajl_gen_number (g, num, strlen (num));
      break;
    case HUSK_JSON_STRING:
      yajl_gen_string (g, (const unsigned char *)v->u.str.s, v->u.str.len);
      break;
    case HUSK_JSON_ARRAY:
      /* yajl's beautifier writes an empty container over two lines; podman
         (Go's MarshalIndent) writes "[]" and "{}".  yajl_gen_number emits
         raw text with the right separators and indentation.  */
      if (pretty && v->u.arr.len == 0)
        {
          yajl_gen_number (g, "[]", 2);
          break;
        }
      yajl_gen_array_open (g);
      for (i = 0; i < v->u.arr.len; i++)
        gen_value (g, v->u.arr.items[i], pretty);
      yajl_gen_array_close (g);
      break;
    case HUSK_JSON_OBJECT:
      if (pretty && v->u.obj.len == 0)
        {
          yajl_gen_number (g, "{}", 2);
          break;
        }
      yajl_gen_map_open (g);
      for (i = 0; i < v->u.obj.len; i++)
        {
          const char *k = v->u.obj.members[i].key;
          yajl_gen_string (g, (const unsigned char *)k, strlen (k));
          gen_value (g, v->u.obj.members[i].val, pretty);
        }
      yajl_gen_map_close (g);
      break;
    }
}

char *
husk_json_serialize (const husk_json_t *v, bool pretty, size_t *len)
{
  struct husk_buf b = { 0 };
  yajl_gen g;

  g = yajl_gen_alloc (NULL);
  if (g == NULL)
    husk_oom ();
  yajl_gen_config (g, yajl_gen_print_callback, gen_print, &b);
  if (pretty)
    {
      yajl_gen_config (g, yajl_gen_beautify, 1);
      yajl_gen_config (g, yajl_gen_indent_string, "    ");
    }
  gen_value (g, v, pretty);
  yajl_gen_free (g);

  /* The beautifier ends the document with a newline; callers print their own
     so pretty and compact output can be used the same way.  */
  if (b.len > 0 && b.data[b.len - 1] == '\n')
    b.data[--b.len] = '\0';
  return husk_buf_steal (&b, len);
}
