/* husk: events.

   Prints the events log (husk_store_events_read) as Podman does:

     2024-01-01 10:00:00.123456789 +0000 UTC container start <id> (image=..., name=...)
     2024-01-01 10:00:01.000000000 +0000 UTC image pull <id> <reference>

   (local time, Go's time.Time format), one JSON object per line with
   --format json, or a Go template over the event's fields (ID, Name,
   Image, Status, Type, Time as above, TimeNano, Attributes,
   ContainerExitCode).

   --filter KEY=VALUE: type, event (or status), container (id, id prefix
   or name), image (reference, short name or image id prefix), label (key
   or key=value).  Values of one key are ORed, keys ANDed, as Podman does.

   --stream (default) follows the log until SIGINT or SIGTERM (exit 0) or
   until --until passes; --stream=false prints what is logged and exits.
   --since/--until take an RFC 3339 time, a Unix time or a duration
   counted back from now ("10m"), like logs.  */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "husk/template.h"
#include "husk/util.h"

struct events_out
{
  char **types, **actions, **containers, **images, **labels;
  husk_template_t *tmpl;
  bool json;
  bool trunc;
  bool flush;
};

/* ---- filters ---- */

static int
parse_filters (char *const *filters, struct events_out *o, husk_error_t *err)
{
  size_t i;

  for (i = 0; filters && filters[i]; i++)
    {
      const char *f = filters[i];
      const char *eq = strchr (f, '=');
      cleanup_free char *key = eq ? xstrndup (f, (size_t)(eq - f)) : NULL;
      const char *v = eq ? eq + 1 : NULL;

      if (key == NULL || *v == '\0')
        return husk_make_error (err, 0, "invalid filter \"%s\": use KEY=VALUE", f);
      if (strcmp (key, "type") == 0)
        strv_append (&o->types, v);
      else if (strcmp (key, "event") == 0 || strcmp (key, "status") == 0)
        strv_append (&o->actions, v);
      else if (strcmp (key, "container") == 0)
        strv_append (&o->containers, v);
      else if (strcmp (key, "image") == 0)
        strv_append (&o->images, v);
      else if (strcmp (key, "label") == 0)
        strv_append (&o->labels, v);
      else
        return husk_make_error (err, 0,
                                "invalid filter \"%s\": unknown key \"%s\" (use type, event, container, "
                                "image or label)",
                                f, key);
    }
  return 0;
}

static bool
nonempty_has_prefix (const char *s, const char *prefix)
{
  return s && *prefix && husk_has_prefix (s, prefix);
}

/* Podman logs a container's end as "died"; accept both spellings.  */
static bool
action_matches (const char *status, const char *want)
{
  if (status == NULL)
    return false;
  if (strcmp (status, want) == 0)
    return true;
  return strcmp (status, "die") == 0 && strcmp (want, "died") == 0;
}

/* "busybox" matches "docker.io/library/busybox:latest" and
   "localhost/busybox:latest"; "x:1" matches ".../x:1".  */
static bool
image_name_matches (const char *name, const char *want)
{
  cleanup_free char *tagged = NULL;
  const char *slash, *colon;

  if (name == NULL)
    return false;
  if (strcmp (name, want) == 0)
    return true;
  slash = strrchr (want, '/');
  colon = strrchr (want, ':');
  tagged = colon && (slash == NULL || colon > slash) ? xstrdup (want) : xasprintf ("%s:latest", want);
  if (strcmp (name, tagged) == 0)
    return true;
  return husk_has_suffix (name, tagged) && name[strlen (name) - strlen (tagged) - 1] == '/';
}

static bool
label_matches (const husk_json_t *attrs, const char *want)
{
  const char *eq = strchr (want, '=');
  cleanup_free char *key = eq ? xstrndup (want, (size_t)(eq - want)) : xstrdup (want);
  const char *v = husk_json_get_string (attrs, key);

  return v && (eq == NULL || strcmp (v, eq + 1) == 0);
}

static bool
event_matches (const husk_json_t *ev, const struct events_out *o)
{
  const char *type = husk_json_get_string (ev, "Type");
  const char *status = husk_json_get_string (ev, "Status");
  const char *id = husk_json_get_string (ev, "ID");
  const char *name = husk_json_get_string (ev, "Name");
  const char *image = husk_json_get_string (ev, "Image");
  const husk_json_t *attrs = husk_json_get (ev, "Attributes");
  bool is_image = type && strcmp (type, "image") == 0;
  bool any;
  size_t i;

  if (o->types && !(type && strv_contains (o->types, type)))
    return false;
  for (i = 0, any = false; o->actions && o->actions[i] && !any; i++)
    any = action_matches (status, o->actions[i]);
  if (o->actions && !any)
    return false;
  for (i = 0, any = false; o->containers && o->containers[i] && !any; i++)
    any = type && strcmp (type, "container") == 0
          && (nonempty_has_prefix (id, o->containers[i]) || (name && strcmp (name, o->containers[i]) == 0));
  if (o->containers && !any)
    return false;
  for (i = 0, any = false; o->images && o->images[i] && !any; i++)
    any = image_name_matches (image, o->images[i])
          || (is_image
              && (nonempty_has_prefix (id, o->images[i]) || image_name_matches (name, o->images[i])));
  if (o->images && !any)
    return false;
  for (i = 0; o->labels && o->labels[i]; i++)
    if (!label_matches (attrs, o->labels[i]))
      return false;
  return true;
}

/* ---- printing ---- */

/* Go's time.Time.String () in local time:
   "2024-01-01 10:00:00.123456789 +0100 CET".  */
static char *
format_go_time (int64_t ns)
{
  time_t secs = (time_t)(ns / 1000000000LL);
  long frac = (long)(ns % 1000000000LL);
  char base[64], zone[64];
  struct tm tm;

  localtime_r (&secs, &tm);
  strftime (base, sizeof (base), "%Y-%m-%d %H:%M:%S", &tm);
  strftime (zone, sizeof (zone), "%z %Z", &tm);
  return xasprintf ("%s.%09ld %s", base, frac, zone);
}

static void
print_text (const husk_json_t *ev, const char *time, const char *id, struct husk_buf *b)
{
  const char *type = husk_json_get_string (ev, "Type") ?: "";
  const husk_json_t *attrs = husk_json_get (ev, "Attributes");
  size_t i, n = husk_json_object_len (attrs);

  husk_buf_printf (b, "%s %s %s %s", time, type, husk_json_get_string (ev, "Status") ?: "", id);
  if (strcmp (type, "container") != 0)
    {
      if (husk_json_get_string (ev, "Name"))
        husk_buf_printf (b, " %s", husk_json_get_string (ev, "Name"));
      return;
    }
  for (i = 0; i < n; i++)
    husk_buf_printf (b, "%s%s=%s", i ? ", " : " (", husk_json_object_key_at (attrs, i),
                     husk_json_string (husk_json_object_value_at (attrs, i)) ?: "");
  if (n)
    husk_buf_puts (b, ")");
}

static int
print_event (const husk_json_t *ev, void *ctx, husk_error_t *err)
{
  struct events_out *o = ctx;
  int64_t t = husk_json_int (husk_json_get (ev, "timeNano"), 0);
  cleanup_free char *time = format_go_time (t);
  const char *full = husk_json_get_string (ev, "ID") ?: "";
  cleanup_free char *id = o->trunc ? xstrndup (full, 12) : xstrdup (full);
  struct husk_buf b = { 0 };

  if (!event_matches (ev, o))
    return 0;
  if (o->json)
    {
      cleanup_free char *s = husk_json_serialize (ev, false, NULL);
      husk_buf_puts (&b, s);
    }
  else if (o->tmpl)
    {
      cleanup_json husk_json_t *data = husk_json_clone (ev);
      husk_json_set_string (data, "Time", time);
      husk_json_set_string (data, "ID", id);
      husk_json_set_int (data, "TimeNano", t);
      husk_json_set_string (data, "Action", husk_json_get_string (ev, "Status"));
      if (husk_json_get (data, "Attributes") == NULL)
        husk_json_set (data, "Attributes", husk_json_new_object ());
      if (husk_template_render (o->tmpl, data, &b, err) < 0)
        {
          husk_buf_free (&b);
          return -1;
        }
    }
  else
    print_text (ev, time, id, &b);
  husk_buf_puts (&b, "\n");
  fwrite (b.data, 1, b.len, stdout);
  husk_buf_free (&b);
  if (o->flush && fflush (stdout) != 0)
    return husk_make_error (err, errno, "write");
  return 0;
}

static void
events_out_clear (struct events_out *o)
{
  strv_free (o->types);
  strv_free (o->actions);
  strv_free (o->containers);
  strv_free (o->images);
  strv_free (o->labels);
  if (o->tmpl)
    husk_template_free (o->tmpl);
}

/* SIGINT and SIGTERM end a follow through a signalfd the reader polls.  */
static int
stop_signals (husk_error_t *err)
{
  sigset_t set;
  int fd;

  /* A shell starts background jobs with SIGINT ignored, and an ignored
     signal never reaches a signalfd.  Blocked, the default action does
     not run either.  */
  signal (SIGINT, SIG_DFL);
  signal (SIGTERM, SIG_DFL);
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    return husk_make_error (err, errno, "sigprocmask");
  fd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0)
    return husk_make_error (err, errno, "signalfd");
  return fd;
}

int
cmd_events (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct events_out o = { 0 };
  const char *format = cli_string (a, "format");
  const char *v;
  cleanup_close int sfd = -1;
  int64_t now = husk_now_ns (), since = 0, until = 0;
  bool stream = !cli_is_set (a, "stream") || cli_bool (a, "stream");
  husk_store_t *s;
  int ret = -1;

  o.trunc = cli_is_set (a, "no-trunc") && !cli_bool (a, "no-trunc");
  if (parse_filters (cli_strv (a, "filter"), &o, err) < 0)
    goto out;
  v = cli_string (a, "since");
  if (v && cli_parse_time_flag ("since", v, now, &since, err) < 0)
    goto out;
  v = cli_string (a, "until");
  if (v && cli_parse_time_flag ("until", v, now, &until, err) < 0)
    goto out;
  if (v && until == 0)
    until = 1;
  if (format && strcmp (format, "json") == 0)
    o.json = true;
  else if (format && *format)
    {
      o.tmpl = husk_template_parse (format, err);
      if (o.tmpl == NULL)
        goto out;
    }
  if (cli_store (ctx, &s, err) < 0)
    goto out;
  if (stream)
    {
      sfd = stop_signals (err);
      if (sfd < 0)
        goto out;
      o.flush = true;
    }
  ret = husk_store_events_read (s, since, until, stream, sfd, print_event, &o, err);
out:
  events_out_clear (&o);
  return ret < 0 ? -1 : 0;
}
