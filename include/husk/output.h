/* husk: printing of listings and inspect results, shared by every command.  */
#ifndef HUSK_OUTPUT_H
#define HUSK_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "husk/error.h"
#include "husk/json.h"

struct husk_output_opts
{
  const char *format; /* --format, NULL for the default table */
  bool noheading;     /* --noheading */
  bool quiet;         /* -q: print quiet_field of each row only */
};

struct husk_listing
{
  /* Default format, e.g. "table {{.Repository}}\t{{.Tag}}\t{{.ID}}".  */
  const char *default_format;
  /* Field printed by -q, e.g. "ID".  */
  const char *quiet_field;
  /* Column names for fields whose header is not the upper-cased name.  */
  const char *(*header_for) (const char *field);
};

/* Print rows (a JSON array of objects) to out:
   - format "json": the array pretty printed;
   - a "table ..." format: header (unless noheading) and columns aligned
     with tabwriter rules (min width 0, padding 3 spaces, as docker/podman);
   - any other template: rendered once per row followed by a newline.  */
int husk_output_list (FILE *out, const husk_json_t *rows, const struct husk_listing *listing,
                      const struct husk_output_opts *opts, husk_error_t *err);

/* inspect: without format the array pretty printed; with a format the
   template rendered once per element followed by a newline.  */
int husk_output_inspect (FILE *out, const husk_json_t *items, const char *format, husk_error_t *err);

/* Align tab-separated cells like Go's tabwriter (padding 3, minwidth 0, the
   last cell of a line not padded).  */
char *husk_tabwriter (const char *text);

/* Human sizes as Docker prints them: decimal units, 3 significant digits:
   "0B", "999B", "1.23kB", "45.6MB", "1.5GB".  */
char *husk_human_size (uint64_t bytes);
/* "Less than a second", "3 seconds", "About a minute", "5 minutes",
   "About an hour", "3 hours", "2 days", "3 weeks", "4 months", "2 years"
   (Docker's go-units HumanDuration).  */
char *husk_human_duration (int64_t seconds);
/* human_duration (now - t) + " ago".  */
char *husk_human_ago (int64_t unix_seconds);

#endif
