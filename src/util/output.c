/* husk: listings and inspect output, Go tabwriter alignment and Docker's
   human-readable sizes and durations.  */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "husk/output.h"
#include "husk/template.h"
#include "husk/util.h"

/* Tabwriter, after Go's text/tabwriter with minwidth 0, tabwidth 8,
   padding 3, padchar ' ' and no flags.  A cell is text terminated by a
   tab; the text after a line's last tab is not a cell and is never padded.
   A column is a block of consecutive lines that all have a cell at that
   index; its width is the widest cell of the block plus the padding.  */

#define TAB_PADDING 3

struct tw_cell
{
  const char *text;
  size_t size;  /* bytes */
  size_t width; /* runes, as Go counts them */
};

struct tw_line
{
  struct tw_cell *cells;
  size_t n;
};

struct tw
{
  struct tw_line *lines;
  size_t nlines;
  size_t *widths; /* the stack of column widths being formatted */
  size_t nwidths;
  struct husk_buf out;
};

static size_t
rune_count (const char *s, size_t n)
{
  size_t i, count = 0;
  for (i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80)
      count++;
  return count;
}

static void
tw_split (struct tw *tw, const char *text)
{
  const char *line = text;

  for (;;)
    {
      const char *nl = strchr (line, '\n');
      const char *end = nl ? nl : line + strlen (line);
      struct tw_line *l;
      const char *cell = line;

      tw->lines = xrealloc (tw->lines, (tw->nlines + 1) * sizeof (*tw->lines));
      l = &tw->lines[tw->nlines++];
      memset (l, 0, sizeof (*l));
      for (;;)
        {
          const char *tab = memchr (cell, '\t', (size_t)(end - cell));
          const char *cend = tab ? tab : end;
          l->cells = xrealloc (l->cells, (l->n + 1) * sizeof (*l->cells));
          l->cells[l->n].text = cell;
          l->cells[l->n].size = (size_t)(cend - cell);
          l->cells[l->n].width = rune_count (cell, (size_t)(cend - cell));
          l->n++;
          if (tab == NULL)
            break;
          cell = tab + 1;
        }
      if (nl == NULL)
        break;
      line = nl + 1;
    }
}

static void
tw_write_lines (struct tw *tw, size_t line0, size_t line1)
{
  size_t i, j, k;

  for (i = line0; i < line1; i++)
    {
      const struct tw_line *l = &tw->lines[i];
      for (j = 0; j < l->n; j++)
        {
          const struct tw_cell *c = &l->cells[j];
          husk_buf_append (&tw->out, c->text, c->size);
          if (j < tw->nwidths)
            for (k = c->width; k < tw->widths[j]; k++)
              husk_buf_append (&tw->out, " ", 1);
        }
      if (i + 1 < tw->nlines)
        husk_buf_append (&tw->out, "\n", 1);
    }
}

/* Go's Writer.format: find the blocks of lines that have a cell in the
   next column, size that column, then recurse for the columns right of it.  */
static void
tw_format (struct tw *tw, size_t line0, size_t line1)
{
  size_t column = tw->nwidths;
  size_t this;

  for (this = line0; this < line1; this ++)
    {
      size_t width = 0;

      if (column + 1 >= tw->lines[this].n)
        continue;
      tw_write_lines (tw, line0, this);
      line0 = this;
      for (; this < line1; this ++)
        {
          const struct tw_line *l = &tw->lines[this];
          if (column + 1 >= l->n)
            break;
          if (l->cells[column].width + TAB_PADDING > width)
            width = l->cells[column].width + TAB_PADDING;
        }
      tw->widths = xrealloc (tw->widths, (tw->nwidths + 1) * sizeof (*tw->widths));
      tw->widths[tw->nwidths++] = width;
      tw_format (tw, line0, this);
      tw->nwidths--;
      /* Skipping the line that ended the block is fine: it has no cell in
         this column, so the loop would pass over it anyway.  */
      line0 = this;
    }
  tw_write_lines (tw, line0, line1);
}

char *
husk_tabwriter (const char *text)
{
  struct tw tw = { 0 };
  size_t i;

  tw_split (&tw, text);
  tw_format (&tw, 0, tw.nlines);
  for (i = 0; i < tw.nlines; i++)
    free (tw.lines[i].cells);
  free (tw.lines);
  free (tw.widths);
  return husk_buf_steal (&tw.out, NULL);
}

/* Human sizes and durations (docker/go-units).  */

char *
husk_human_size (uint64_t bytes)
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
  double size = (double)bytes;
  size_t i = 0;

  while (size >= 1000.0 && i + 1 < sizeof (units) / sizeof (units[0]))
    {
      size /= 1000.0;
      i++;
    }
  return xasprintf ("%.*g%s", 3, size, units[i]);
}

char *
husk_human_duration (int64_t seconds)
{
  int64_t minutes = seconds / 60;
  /* go-units rounds hours to the nearest: int (d.Hours () + 0.5).  */
  int64_t hours = (seconds + 1800) / 3600;

  if (seconds < 1)
    return xstrdup ("Less than a second");
  if (seconds == 1)
    return xstrdup ("1 second");
  if (seconds < 60)
    return xasprintf ("%" PRId64 " seconds", seconds);
  if (minutes == 1)
    return xstrdup ("About a minute");
  if (minutes < 60)
    return xasprintf ("%" PRId64 " minutes", minutes);
  if (hours == 1)
    return xstrdup ("About an hour");
  if (hours < 48)
    return xasprintf ("%" PRId64 " hours", hours);
  if (hours < 24 * 7 * 2)
    return xasprintf ("%" PRId64 " days", hours / 24);
  if (hours < 24 * 30 * 2)
    return xasprintf ("%" PRId64 " weeks", hours / 24 / 7);
  if (hours < 24 * 365 * 2)
    return xasprintf ("%" PRId64 " months", hours / 24 / 30);
  return xasprintf ("%" PRId64 " years", seconds / 3600 / 24 / 365);
}

char *
husk_human_ago (int64_t unix_seconds)
{
  cleanup_free char *d = husk_human_duration ((int64_t)time (NULL) - unix_seconds);
  return xasprintf ("%s ago", d);
}

/* Listings and inspect.  */

static int
write_all (FILE *out, const char *s, size_t len, husk_error_t *err)
{
  if (len && fwrite (s, 1, len, out) != len)
    return husk_make_error (err, errno, "write output");
  if (fflush (out) == EOF)
    return husk_make_error (err, errno, "write output");
  return 0;
}

static int
print_json_array (FILE *out, const husk_json_t *arr, husk_error_t *err)
{
  cleanup_free char *s = NULL;
  size_t len = 0;

  if (husk_json_array_len (arr) == 0)
    return write_all (out, "[]\n", 3, err);
  s = husk_json_serialize (arr, true, &len);
  if (len == 0 || s[len - 1] != '\n')
    {
      char *with_nl = xasprintf ("%s\n", s);
      free (s);
      s = with_nl;
      len = strlen (s);
    }
  return write_all (out, s, len, err);
}

static int
render_rows (const husk_template_t *t, const husk_json_t *rows, struct husk_buf *b, husk_error_t *err)
{
  size_t i;
  int ret;

  for (i = 0; i < husk_json_array_len (rows); i++)
    {
      ret = husk_template_render (t, husk_json_array_at (rows, i), b, err);
      if (ret < 0)
        return ret;
      husk_buf_append (b, "\n", 1);
    }
  return 0;
}

static int
parse_listing_format (const char *format, const struct husk_listing *listing, husk_template_t **out,
                      husk_error_t *err)
{
  husk_template_t *t;

  if (format == NULL || format[0] == '\0')
    format = listing->default_format;
  t = husk_template_parse (format, err);
  if (t == NULL)
    return -1;
  if (husk_template_is_table_default (t) && listing->default_format)
    {
      husk_template_free (t);
      t = husk_template_parse (listing->default_format, err);
      if (t == NULL)
        return -1;
    }
  *out = t;
  return 0;
}

/* Rows stand for Go structs in Docker and Podman: a field they do not have
   is an error there, not "<no value>".  The header walk visits every field
   action, so it tells which top-level fields the template uses.  */
static const husk_json_t *check_row;
static char *check_missing;

static const char *
check_field (const char *field)
{
  cleanup_free char *first = xstrndup (field, strcspn (field, "."));
  size_t i, n = husk_json_object_len (check_row);
  bool found = false;

  for (i = 0; i < n && !found; i++)
    found = strcasecmp (husk_json_object_key_at (check_row, i), first) == 0;
  if (!found && check_missing == NULL && *first)
    check_missing = xstrdup (first);
  return NULL;
}

static int
check_fields (const husk_template_t *t, const husk_json_t *rows, husk_error_t *err)
{
  struct husk_buf ignored = { 0 };
  int ret;

  if (husk_json_array_len (rows) == 0 || husk_json_type (husk_json_array_at (rows, 0)) != HUSK_JSON_OBJECT)
    return 0;
  check_row = husk_json_array_at (rows, 0);
  check_missing = NULL;
  ret = husk_template_render_header (t, check_field, &ignored, err);
  husk_buf_free (&ignored);
  if (ret < 0)
    return ret;
  if (check_missing)
    {
      ret = husk_make_error (err, 0, "template: can't evaluate field %s in the output of this command",
                             check_missing);
      free (check_missing);
      check_missing = NULL;
      return ret;
    }
  return 0;
}

int
husk_output_list (FILE *out, const husk_json_t *rows, const struct husk_listing *listing,
                  const struct husk_output_opts *opts, husk_error_t *err)
{
  cleanup_template husk_template_t *t = NULL;
  cleanup_free char *quiet_format = NULL;
  cleanup_free char *text = NULL;
  cleanup_free char *aligned = NULL;
  struct husk_buf b = { 0 };
  size_t len;
  int ret;

  if (opts->quiet && listing->quiet_field)
    {
      /* -q wins over --format, as in docker.  */
      quiet_format = xasprintf ("{{.%s}}", listing->quiet_field);
      t = husk_template_parse (quiet_format, err);
      if (t == NULL)
        return -1;
    }
  else if (opts->format && strcmp (opts->format, "json") == 0)
    return print_json_array (out, rows, err);
  else if (parse_listing_format (opts->format, listing, &t, err) < 0)
    return husk_error_wrap (err, "invalid --format");
  if (check_fields (t, rows, err) < 0)
    return husk_error_wrap (err, "invalid --format");

  if (husk_template_is_table (t) && !opts->quiet)
    {
      if (!opts->noheading)
        {
          ret = husk_template_render_header (t, listing->header_for, &b, err);
          if (ret < 0)
            goto fail;
          husk_buf_append (&b, "\n", 1);
        }
      ret = render_rows (t, rows, &b, err);
      if (ret < 0)
        goto fail;
      text = husk_buf_steal (&b, NULL);
      aligned = husk_tabwriter (text);
      return write_all (out, aligned, strlen (aligned), err);
    }

  ret = render_rows (t, rows, &b, err);
  if (ret < 0)
    goto fail;
  text = husk_buf_steal (&b, &len);
  return write_all (out, text, len, err);

fail:
  husk_buf_free (&b);
  return ret;
}

int
husk_output_inspect (FILE *out, const husk_json_t *items, const char *format, husk_error_t *err)
{
  cleanup_template husk_template_t *t = NULL;
  cleanup_free char *text = NULL;
  struct husk_buf b = { 0 };
  size_t len;
  int ret;

  if (format == NULL || format[0] == '\0' || strcmp (format, "json") == 0)
    return print_json_array (out, items, err);
  t = husk_template_parse (format, err);
  if (t == NULL)
    return husk_error_wrap (err, "invalid --format");
  ret = render_rows (t, items, &b, err);
  if (ret < 0)
    {
      husk_buf_free (&b);
      return ret;
    }
  text = husk_buf_steal (&b, &len);
  return write_all (out, text, len, err);
}
