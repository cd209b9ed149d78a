/* husk: an owned JSON tree.  src/util/json.c is the only file that includes
   yajl; everything else reads and writes JSON through this interface.
   Objects keep their keys in insertion order.  */
#ifndef HUSK_JSON_H
#define HUSK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "husk/error.h"

enum husk_json_type
{
  HUSK_JSON_NULL,
  HUSK_JSON_BOOL,
  HUSK_JSON_INT,    /* integral number that fits int64 */
  HUSK_JSON_DOUBLE, /* any other number */
  HUSK_JSON_STRING,
  HUSK_JSON_ARRAY,
  HUSK_JSON_OBJECT,
};

typedef struct husk_json husk_json_t;

/* Parse; on malformed input fail with a message naming the position.  */
husk_json_t *husk_json_parse (const char *buf, size_t len, husk_error_t *err);

husk_json_t *husk_json_new_null (void);
husk_json_t *husk_json_new_bool (bool v);
husk_json_t *husk_json_new_int (int64_t v);
husk_json_t *husk_json_new_double (double v);
husk_json_t *husk_json_new_string (const char *s); /* NULL gives JSON null */
husk_json_t *husk_json_new_array (void);
husk_json_t *husk_json_new_object (void);
husk_json_t *husk_json_clone (const husk_json_t *v);
void husk_json_free (husk_json_t *v);
void cleanup_jsonp (husk_json_t **v);
#define cleanup_json __attribute__ ((cleanup (cleanup_jsonp)))

enum husk_json_type husk_json_type (const husk_json_t *v);

/* Scalars: return the fallback when v is NULL or of another type.  */
const char *husk_json_string (const husk_json_t *v);            /* NULL if not a string */
int64_t husk_json_int (const husk_json_t *v, int64_t fallback); /* doubles truncated */
double husk_json_double (const husk_json_t *v, double fallback);
bool husk_json_bool (const husk_json_t *v, bool fallback);

/* Arrays.  The array takes ownership of appended values.  */
size_t husk_json_array_len (const husk_json_t *v); /* 0 if not an array */
husk_json_t *husk_json_array_at (const husk_json_t *v, size_t i);
void husk_json_array_append (husk_json_t *arr, husk_json_t *item);

/* Objects.  set replaces an existing key in place and takes ownership.  */
size_t husk_json_object_len (const husk_json_t *v); /* 0 if not an object */
const char *husk_json_object_key_at (const husk_json_t *v, size_t i);
husk_json_t *husk_json_object_value_at (const husk_json_t *v, size_t i);
husk_json_t *husk_json_get (const husk_json_t *obj, const char *key); /* NULL if absent */
/* Walk nested objects: husk_json_get_path (v, "config", "Env", NULL).  */
husk_json_t *husk_json_get_path (const husk_json_t *obj, ...) __attribute__ ((sentinel));
const char *husk_json_get_string (const husk_json_t *obj, const char *key);
void husk_json_set (husk_json_t *obj, const char *key, husk_json_t *val);
void husk_json_set_string (husk_json_t *obj, const char *key, const char *s);
void husk_json_set_int (husk_json_t *obj, const char *key, int64_t v);
void husk_json_set_bool (husk_json_t *obj, const char *key, bool v);
/* Remove a key; true if it was there.  */
bool husk_json_remove (husk_json_t *obj, const char *key);

/* Serialise.  pretty: 4-space indentation like podman inspect; compact
   otherwise (no spaces, as registries and Docker write manifests).  Never
   escapes '/'.  Returns a malloc'd NUL-terminated string; *len if non-NULL.  */
char *husk_json_serialize (const husk_json_t *v, bool pretty, size_t *len);

/* Convenience: a JSON string array <-> strv.  */
husk_json_t *husk_json_from_strv (char *const *v);
char **husk_json_to_strv (const husk_json_t *arr); /* non-strings skipped; never NULL */

#endif
