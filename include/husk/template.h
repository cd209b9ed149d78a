/* husk: the Go text/template subset used by --format (DESIGN.md section 5).
   Data is a husk_json_t tree: each command builds one object per row with
   Docker's/Podman's field names and templates walk it.

   Supported: literal text with \t \n escapes as Go writes them in flags,
   {{.}} {{.Field}} {{.A.B}} {{.Labels.key}}, {{json .X}}, {{range .X}}..{{end}}
   (with {{.}} the element, {{else}} allowed), {{if .X}}..{{else}}..{{end}}
   (false, 0, "", null, empty array/object are false), {{join .X ","}},
   {{lower .X}}, {{upper .X}}, {{truncate .X 12}}, {{printf "%s" .X}},
   {{- and -}} trimming, pipelines "{{.X | json}}", and a leading "table"
   word: the output is a table with aligned columns and a header row.  */
#ifndef HUSK_TEMPLATE_H
#define HUSK_TEMPLATE_H

#include <stdbool.h>
#include <stdio.h>

#include "husk/error.h"
#include "husk/json.h"
#include "husk/util.h"

typedef struct husk_template husk_template_t;

/* Parse a format.  A leading "table" (alone or followed by a space) sets
   table mode; "table" alone means the command's default columns and
   husk_template_is_table_default () is true.  */
husk_template_t *husk_template_parse (const char *src, husk_error_t *err);
void husk_template_free (husk_template_t *t);
void cleanup_templatep (husk_template_t **t);
#define cleanup_template __attribute__ ((cleanup (cleanup_templatep)))

bool husk_template_is_table (const husk_template_t *t);
bool husk_template_is_table_default (const husk_template_t *t);

/* Render the template for one data value, appending to out.  Missing fields
   render as "<no value>" like Go; a type error is an error.  */
int husk_template_render (const husk_template_t *t, const husk_json_t *data, struct husk_buf *out,
                          husk_error_t *err);

/* The header row of a table template: each {{.Field}} action becomes the
   column name given by header_for (field) (e.g. "ID" -> "IMAGE ID"), or
   when that returns NULL, the field's last path element converted to upper
   case with words split at case changes ("CreatedAt" -> "CREATED AT").  */
int husk_template_render_header (const husk_template_t *t, const char *(*header_for) (const char *field),
                                 struct husk_buf *out, husk_error_t *err);

#endif
