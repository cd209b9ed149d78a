/* husk: a small TOML (v1.0) reader producing a husk_json_t tree, for
   registries.conf and friends.

   Tables and inline tables become objects (keys in file order), arrays and
   arrays of tables become arrays, strings, integers, floats and booleans
   the matching JSON scalars.  Dates and times are kept as their text
   (strings): nothing husk reads needs them as values.  */
#ifndef HUSK_TOML_H
#define HUSK_TOML_H

#include <stddef.h>

#include "husk/error.h"
#include "husk/json.h"

/* Parse a document.  name is used in error messages, which read
   "name:line: what is wrong".  Returns the root object, or NULL and err.  */
husk_json_t *husk_toml_parse (const char *buf, size_t len, const char *name, husk_error_t *err);

/* Read and parse a file.  Returns 1 and *out when parsed, 0 and *out = NULL
   when the file does not exist, negative with err otherwise.  */
int husk_toml_parse_file (const char *path, husk_json_t **out, husk_error_t *err);

#endif
