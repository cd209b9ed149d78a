/* husk: ps (container ls/list/ps).

   Docker's columns and strings (a stopping container reads "Up 5 seconds
   (stopping)"), Podman's flags and --format json.  Listing 1000
   containers should take under 50 ms, so the default columns come
   from the container index (one file, read under the shared store lock)
   and each container's state.json (no lock); config.json is read only when
   the format asks for .Mounts, or for .Ports of a running container with
   user-mode networking (a slirp4netns socket in its rundir), and the upper directory is measured only
   for -s or a format using .Size.  Rows carry only the fields the
   template names.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

#define PS_DEFAULT_FORMAT                                                                                    \
  "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

/* status= values: Docker's list plus Podman's stopping/configured/stopped.
   Those husk never has (restarting, dead) are accepted and match nothing,
   as they would on an engine where no container is in them.  A paused
   container (read from its freezer) is "paused", not "running".  */
#define PS_PAUSED_MASK (1 << 8)
static const struct
{
  const char *name;
  int mask;
} status_names[] = {
  { "created", 1 << HUSK_CONTAINER_CREATED },
  { "configured", 1 << HUSK_CONTAINER_CREATED },
  { "running", 1 << HUSK_CONTAINER_RUNNING },
  { "stopping", 1 << HUSK_CONTAINER_STOPPING },
  { "exited", 1 << HUSK_CONTAINER_EXITED },
  { "stopped", 1 << HUSK_CONTAINER_EXITED },
  { "removing", 1 << HUSK_CONTAINER_REMOVING },
  { "paused", PS_PAUSED_MASK },
  { "restarting", 0 },
  { "dead", 0 },
};

struct ps_filters
{
  bool has_status;
  int status_mask;
  regex_t *names;
  size_t n_names;
  char **ids;
  char **labels;
  bool has_ancestor;
  char **ancestor_ids;   /* image ids the ancestor= values resolved to */
  char **ancestor_names; /* the values themselves (removed images, names) */
  int *exited;
  size_t n_exited;
  int health_mask; /* 1 << enum husk_health_status; 0: no health= filter */
};

static void
ps_filters_clear (struct ps_filters *f)
{
  size_t i;
  for (i = 0; i < f->n_names; i++)
    regfree (&f->names[i]);
  free (f->names);
  strv_free (f->ids);
  strv_free (f->labels);
  strv_free (f->ancestor_ids);
  strv_free (f->ancestor_names);
  free (f->exited);
}

/* health=healthy|unhealthy|starting|none (no healthcheck).  */
static int
parse_health (const char *v, struct ps_filters *f, husk_error_t *err)
{
  int st;

  for (st = HUSK_HEALTH_NONE; st <= HUSK_HEALTH_UNHEALTHY; st++)
    if (strcmp (v, husk_health_status_name ((enum husk_health_status)st)) == 0)
      {
        f->health_mask |= 1 << st;
        return 0;
      }
  return husk_make_error (
      err, 0, "invalid filter \"health=%s\": health must be one of healthy, unhealthy, starting, none", v);
}

static int
parse_status (const char *v, struct ps_filters *f, husk_error_t *err)
{
  size_t i;
  for (i = 0; i < sizeof (status_names) / sizeof (status_names[0]); i++)
    if (strcmp (v, status_names[i].name) == 0)
      {
        f->has_status = true;
        f->status_mask |= status_names[i].mask;
        return 0;
      }
  return husk_make_error (err, 0,
                          "invalid filter \"status=%s\": status must be one of created, running, stopping, "
                          "exited, removing, paused, restarting, dead",
                          v);
}

static int
parse_name (const char *v, struct ps_filters *f, husk_error_t *err)
{
  regex_t re;
  int rc = regcomp (&re, v, REG_EXTENDED | REG_NOSUB);
  if (rc != 0)
    {
      size_t len = regerror (rc, &re, NULL, 0);
      cleanup_free char *msg = xmalloc (len);
      regerror (rc, &re, msg, len);
      return husk_make_error (err, 0, "invalid filter \"name=%s\": %s", v, msg);
    }
  f->names = xrealloc (f->names, (f->n_names + 1) * sizeof (*f->names));
  f->names[f->n_names++] = re;
  return 0;
}

static int
parse_exited (const char *v, struct ps_filters *f, husk_error_t *err)
{
  char *end = NULL;
  long code;

  errno = 0;
  code = strtol (v, &end, 10);
  if (errno || end == v || *end || code < 0 || code > 255)
    return husk_make_error (err, 0, "invalid filter \"exited=%s\": an exit code (0-255) is required", v);
  f->exited = xrealloc (f->exited, (f->n_exited + 1) * sizeof (*f->exited));
  f->exited[f->n_exited++] = (int)code;
  return 0;
}

/* ancestor= takes an image name, id or id prefix; an image that is not
   (or no longer) in the store still matches containers by the name they
   were created from or by image id prefix.  */
static int
parse_ancestor (husk_store_t *s, const char *v, struct ps_filters *f, husk_error_t *err)
{
  struct husk_image_record *img = NULL;
  /* The user's own look-up rules (short names, "sha256:" ids).  */
  if (cli_image_lookup (s, v, &img, err) < 0)
    husk_error_release (err);
  else
    strv_append (&f->ancestor_ids, img->id);
  f->has_ancestor = true;
  strv_append (&f->ancestor_names, v);
  return 0;
}

static int
parse_filters (husk_store_t *s, char *const *filters, struct ps_filters *f, husk_error_t *err)
{
  size_t i;

  for (i = 0; filters && filters[i]; i++)
    {
      const char *eq = strchr (filters[i], '=');
      const char *v = eq ? eq + 1 : "";
      size_t klen = eq ? (size_t)(eq - filters[i]) : strlen (filters[i]);
      cleanup_free char *key = xstrndup (filters[i], klen);
      int ret = 0;

      if (eq == NULL || *v == '\0')
        return husk_make_error (err, 0, "invalid filter \"%s\": a value is required (KEY=VALUE)", filters[i]);
      if (strcmp (key, "status") == 0)
        ret = parse_status (v, f, err);
      else if (strcmp (key, "name") == 0)
        ret = parse_name (v, f, err);
      else if (strcmp (key, "id") == 0)
        strv_append (&f->ids, v);
      else if (strcmp (key, "label") == 0)
        strv_append (&f->labels, v);
      else if (strcmp (key, "ancestor") == 0)
        ret = parse_ancestor (s, v, f, err);
      else if (strcmp (key, "exited") == 0)
        ret = parse_exited (v, f, err);
      else if (strcmp (key, "health") == 0)
        ret = parse_health (v, f, err);
      else
        return husk_make_error (err, 0,
                                "invalid filter \"%s\": supported filters are status, name, id, label, "
                                "ancestor, exited, health",
                                filters[i]);
      if (ret < 0)
        return ret;
    }
  return 0;
}

static bool
labels_match (const husk_json_t *labels, char *const *want)
{
  size_t i;
  for (i = 0; want && want[i]; i++)
    {
      const char *eq = strchr (want[i], '=');
      cleanup_free char *key = eq ? xstrndup (want[i], (size_t)(eq - want[i])) : xstrdup (want[i]);
      const husk_json_t *v = husk_json_get (labels, key);
      if (v == NULL)
        return false;
      if (eq && (husk_json_string (v) == NULL || strcmp (husk_json_string (v), eq + 1) != 0))
        return false;
    }
  return true;
}

static bool
ancestor_matches (const struct husk_container_record *r, const struct ps_filters *f)
{
  size_t i;
  for (i = 0; f->ancestor_ids && f->ancestor_ids[i]; i++)
    if (strcmp (r->image_id, f->ancestor_ids[i]) == 0)
      return true;
  for (i = 0; f->ancestor_names[i]; i++)
    {
      const char *v = f->ancestor_names[i];
      if (husk_has_prefix (v, "sha256:"))
        v += 7;
      if (strcmp (r->image_name, v) == 0 || husk_has_prefix (r->image_id, v))
        return true;
    }
  return false;
}

/* The filters the index alone can answer.  */
static bool
record_selected (const struct husk_container_record *r, const struct ps_filters *f)
{
  size_t i;
  bool any;

  if (f->n_names)
    {
      for (any = false, i = 0; i < f->n_names && !any; i++)
        any = regexec (&f->names[i], r->name, 0, NULL, 0) == 0;
      if (!any)
        return false;
    }
  if (f->ids)
    {
      for (any = false, i = 0; f->ids[i] && !any; i++)
        any = husk_has_prefix (r->id, f->ids[i]);
      if (!any)
        return false;
    }
  if (!labels_match (r->labels, f->labels))
    return false;
  if (f->has_ancestor && !ancestor_matches (r, f))
    return false;
  return true;
}

static bool
state_selected (const struct husk_container_state *st, const struct ps_filters *f, bool all)
{
  size_t i;
  bool any;

  if (f->has_status && !(f->status_mask & (cli_container_paused (st) ? PS_PAUSED_MASK : 1 << st->status)))
    return false;
  if (!all && !f->has_status && st->status != HUSK_CONTAINER_RUNNING && st->status != HUSK_CONTAINER_STOPPING)
    return false;
  if (f->n_exited)
    {
      if (st->status != HUSK_CONTAINER_EXITED)
        return false;
      for (any = false, i = 0; i < f->n_exited && !any; i++)
        any = st->exit_code == f->exited[i];
      if (!any)
        return false;
    }
  return true;
}

/* One selected container.  */
struct ps_item
{
  const struct husk_container_record *r;
  size_t index; /* position in the index: ties on created */
  struct husk_container_state st;
  uint64_t image_size;
  unsigned long long rw_size;
};

static int
compare_created_desc (const void *a, const void *b)
{
  const struct ps_item *x = a, *y = b;
  if (x->r->created != y->r->created)
    return x->r->created < y->r->created ? 1 : -1;
  return x->index < y->index ? 1 : (x->index > y->index ? -1 : 0);
}

/* Go's strconv.Quote, for the COMMAND column as Docker prints it.  */
static void
go_quote (struct husk_buf *b, const char *s)
{
  husk_buf_puts (b, "\"");
  for (; *s; s++)
    {
      unsigned char c = (unsigned char)*s;
      if (c == '"' || c == '\\')
        husk_buf_printf (b, "\\%c", c);
      else if (c == '\n')
        husk_buf_puts (b, "\\n");
      else if (c == '\t')
        husk_buf_puts (b, "\\t");
      else if (c == '\r')
        husk_buf_puts (b, "\\r");
      else if (c < 0x20 || c == 0x7f)
        husk_buf_printf (b, "\\x%02x", c);
      else
        husk_buf_append (b, s, 1);
    }
  husk_buf_puts (b, "\"");
}

/* Docker's Command: arguments holding a space are put in single quotes.  */
static char *
command_string (char *const *command)
{
  struct husk_buf b = { 0 };
  size_t i;

  for (i = 0; command && command[i]; i++)
    {
      if (i)
        husk_buf_puts (&b, " ");
      if (i && strchr (command[i], ' '))
        husk_buf_printf (&b, "'%s'", command[i]);
      else
        husk_buf_puts (&b, command[i]);
    }
  return b.data ? husk_buf_steal (&b, NULL) : xstrdup ("");
}

/* Docker's Ellipsis (s, 20) then Quote: at most 20 characters, the last
   one "…" when something was cut.  Characters, not bytes.  */
static char *
command_column (const char *cmd, bool no_trunc)
{
  struct husk_buf b = { 0 };
  size_t chars = 0, cut = 0;
  const char *p;

  for (p = cmd; *p; p++)
    if (((unsigned char)*p & 0xc0) != 0x80)
      {
        if (chars == 19)
          cut = (size_t)(p - cmd);
        chars++;
      }
  if (no_trunc || chars <= 20)
    go_quote (&b, cmd);
  else
    {
      cleanup_free char *t = xasprintf ("%.*s\xe2\x80\xa6", (int)cut, cmd);
      go_quote (&b, t);
    }
  return husk_buf_steal (&b, NULL);
}

/* Docker's STATUS strings; a running container with a healthcheck reads
   "Up 5 seconds (healthy)", "(unhealthy)" or "(health: starting)".  */
static char *
status_string (husk_store_t *s, const struct husk_container_record *r, const struct husk_container_state *st)
{
  int64_t now = (int64_t)time (NULL);
  cleanup_free char *d = NULL;
  enum husk_health_status h;

  switch (st->status)
    {
    case HUSK_CONTAINER_CREATED:
      return xstrdup ("Created");
    case HUSK_CONTAINER_RUNNING:
    case HUSK_CONTAINER_STOPPING:
      d = husk_human_duration (now - (st->started_at ? st->started_at : r->created) / 1000000000LL);
      h = st->status == HUSK_CONTAINER_RUNNING ? husk_health_status_get (s, r->id) : HUSK_HEALTH_NONE;
      if (h != HUSK_HEALTH_NONE && !cli_container_paused (st))
        return xasprintf ("Up %s (%s%s)", d, h == HUSK_HEALTH_STARTING ? "health: " : "",
                          husk_health_status_name (h));
      return xasprintf ("Up %s%s", d,
                        st->status == HUSK_CONTAINER_STOPPING ? " (stopping)"
                        : cli_container_paused (st)           ? " (Paused)"
                                                              : "");
    case HUSK_CONTAINER_EXITED:
      if (st->finished_at == 0)
        return xasprintf ("Exited (%d)", st->exit_code);
      d = husk_human_duration (now - st->finished_at / 1000000000LL);
      return xasprintf ("Exited (%d) %s ago", st->exit_code, d);
    case HUSK_CONTAINER_REMOVING:
      return xstrdup ("Removal In Progress");
    }
  return xstrdup ("Unknown");
}

static char *
size_string (const struct ps_item *it)
{
  cleanup_free char *rw = husk_human_size (it->rw_size);
  cleanup_free char *virt = husk_human_size (it->rw_size + it->image_size);
  return xasprintf ("%s (virtual %s)", rw, virt);
}

/* Docker's CreatedAt: Go's time.String () (in UTC here).  */
static char *
created_at (int64_t ns)
{
  cleanup_free char *t = cli_format_time (ns);
  t[10] = ' ';
  t[19] = '\0';
  return xasprintf ("%s +0000 UTC", t);
}

static husk_json_t *
mount_destinations (husk_store_t *s, const char *id)
{
  cleanup_json husk_json_t *config = NULL;
  husk_json_t *out = husk_json_new_array ();
  const husk_json_t *binds, *tmpfs;
  husk_error_t err = NULL;
  size_t i;

  if (cli_container_config (s, id, &config, &err) < 0)
    {
      husk_error_release (&err);
      return out;
    }
  binds = husk_json_get_path (config, "HostConfig", "Binds", NULL);
  tmpfs = husk_json_get_path (config, "HostConfig", "Tmpfs", NULL);
  for (i = 0; i < husk_json_array_len (binds); i++)
    {
      const char *b = husk_json_string (husk_json_array_at (binds, i));
      const char *dst = b ? strchr (b, ':') : NULL;
      if (dst)
        {
          cleanup_free char *d = xstrndup (dst + 1, strcspn (dst + 1, ":"));
          husk_json_array_append (out, husk_json_new_string (d));
        }
    }
  for (i = 0; i < husk_json_object_len (tmpfs); i++)
    husk_json_array_append (out, husk_json_new_string (husk_json_object_key_at (tmpfs, i)));
  return out;
}

/* A running container's published ports (*n of them), or NULL.  Only a
   container with user-mode networking has a slirp4netns API socket in its
   rundir: that stat keeps config.json unread for every other row.  */
static struct husk_port_mapping *
running_ports (husk_store_t *s, const struct ps_item *it, size_t *n)
{
  cleanup_free char *rundir = NULL;
  cleanup_free char *sock = NULL;
  cleanup_json husk_json_t *config = NULL;
  husk_error_t ignored = NULL;
  struct stat st;

  *n = 0;
  if (it->st.status != HUSK_CONTAINER_RUNNING && it->st.status != HUSK_CONTAINER_STOPPING)
    return NULL;
  if (husk_store_container_rundir (s, it->r->id, false, &rundir, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return NULL;
    }
  sock = xasprintf ("%s/slirp.sock", rundir);
  if (stat (sock, &st) < 0)
    return NULL;
  if (cli_container_config (s, it->r->id, &config, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return NULL;
    }
  return cli_container_ports (config, n);
}

/* Docker's PORTS column: "127.0.0.1:8080->80/tcp, 0.0.0.0:53->53/udp".  */
static char *
ports_column (husk_store_t *s, const struct ps_item *it)
{
  size_t n = 0, i;
  cleanup_free struct husk_port_mapping *ports = running_ports (s, it, &n);
  struct husk_buf b = { 0 };

  for (i = 0; i < n; i++)
    {
      cleanup_free char *one = husk_port_format (&ports[i]);
      husk_buf_printf (&b, "%s%s", i ? ", " : "", one);
    }
  return b.len ? husk_buf_steal (&b, NULL) : xstrdup ("");
}

/* Podman's ps --format json "Ports".  */
static husk_json_t *
ports_json (husk_store_t *s, const struct ps_item *it)
{
  size_t n = 0, i;
  cleanup_free struct husk_port_mapping *ports = running_ports (s, it, &n);
  husk_json_t *arr;

  if (n == 0)
    return husk_json_new_null ();
  arr = husk_json_new_array ();
  for (i = 0; i < n; i++)
    {
      husk_json_t *o = husk_json_new_object ();
      husk_json_set_string (o, "host_ip", ports[i].host_ip);
      husk_json_set_int (o, "container_port", ports[i].container_port);
      husk_json_set_int (o, "host_port", ports[i].host_port);
      husk_json_set_int (o, "range", 1);
      husk_json_set_string (o, "protocol", ports[i].proto);
      husk_json_array_append (arr, o);
    }
  return arr;
}

/* The template fields of a row.  */
enum ps_field
{
  F_ID,
  F_IMAGE,
  F_IMAGE_ID,
  F_COMMAND,
  F_CREATED_AT,
  F_CREATED,
  F_PORTS,
  F_STATE,
  F_STATUS,
  F_SIZE,
  F_NAMES,
  F_LABELS,
  F_MOUNTS,
  F_NETWORKS,
  F_EXIT_CODE,
  F_EXITED,
  F_STARTED_AT,
  F_PID,
  F_COUNT,
};
/* What the template must mention for the field to be built ("Created"
   also covers CreatedHuman and RunningFor, "Exited" ExitedAt).  */
static const char *const field_names[F_COUNT] = {
  "ID",   "Image", "ImageID", "Command", "CreatedAt", "Created",  "Ports",  "State",     "Status",
  "Size", "Names", "Labels",  "Mounts",  "Networks",  "ExitCode", "Exited", "StartedAt", "Pid",
};

struct ps_opts
{
  bool no_trunc;
  bool size;      /* measure the upper dirs */
  bool mounts;    /* read config.json for .Mounts */
  unsigned shown; /* bit per enum ps_field */
};

static bool
shown (const struct ps_opts *po, enum ps_field f)
{
  return po->shown & (1u << f);
}

/* A row holds only the fields the template can reach: building and
   freeing unused ones is most of the cost of a 1000-row table.  A bare
   "." (as in {{.}} or {{json .}}) may reach them all.  */
static unsigned
fields_shown (const char *tmpl)
{
  unsigned mask = 0;
  size_t i;

  if (tmpl == NULL)
    return ~0u;
  for (i = 0; i < F_COUNT; i++)
    if (strcasestr (tmpl, field_names[i]))
      mask |= 1u << i;
  if (strcasestr (tmpl, "RunningFor"))
    mask |= 1u << F_CREATED;
  return mask;
}

static const char *
template_in_effect (const char *format, bool quiet, const char *table_default)
{
  const char *p;

  if (quiet)
    return "{{.ID}}";
  if (format == NULL || *format == '\0' || strcmp (format, "table") == 0)
    return table_default;
  for (p = strchr (format, '.'); p; p = strchr (p + 1, '.'))
    if (!(p[1] == '_' || (p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= 'a' && p[1] <= 'z')))
      return NULL;
  return format;
}

static void
set_string_if (husk_json_t *o, const struct ps_opts *po, enum ps_field f, const char *field, const char *v)
{
  if (shown (po, f))
    husk_json_set_string (o, field, v);
}

static void
set_int_if (husk_json_t *o, const struct ps_opts *po, enum ps_field f, const char *field, int64_t v)
{
  if (shown (po, f))
    husk_json_set_int (o, field, v);
}

/* A row for templates and the table: Docker's field names (strings as
   Docker's formatter shows them), plus Podman's extra ones.  */
static husk_json_t *
ps_row (husk_store_t *s, const struct ps_item *it, const struct ps_opts *po)
{
  const struct husk_container_record *r = it->r;
  husk_json_t *o = husk_json_new_object ();

  if (shown (po, F_ID))
    {
      cleanup_free char *id = po->no_trunc ? xstrdup (r->id) : xstrndup (r->id, 12);
      husk_json_set_string (o, "ID", id);
    }
  set_string_if (o, po, F_IMAGE, "Image", r->image_name);
  set_string_if (o, po, F_IMAGE_ID, "ImageID", r->image_id);
  if (shown (po, F_COMMAND))
    {
      cleanup_free char *cmd = command_string (r->command);
      cleanup_free char *cmd_col = command_column (cmd, po->no_trunc);
      husk_json_set_string (o, "Command", cmd_col);
    }
  if (shown (po, F_CREATED_AT))
    {
      cleanup_free char *at = created_at (r->created);
      husk_json_set_string (o, "CreatedAt", at);
    }
  if (shown (po, F_CREATED))
    {
      cleanup_free char *ago = husk_human_ago (r->created / 1000000000LL);
      husk_json_set_string (o, "Created", ago);
      husk_json_set_string (o, "CreatedHuman", ago);
      husk_json_set_string (o, "RunningFor", ago);
    }
  if (shown (po, F_PORTS))
    {
      cleanup_free char *ports = ports_column (s, it);
      husk_json_set_string (o, "Ports", ports);
    }
  set_string_if (o, po, F_STATE, "State", cli_container_status_name (&it->st));
  if (shown (po, F_STATUS))
    {
      cleanup_free char *status = status_string (s, r, &it->st);
      husk_json_set_string (o, "Status", status);
    }
  if (shown (po, F_SIZE))
    {
      cleanup_free char *size = po->size ? size_string (it) : xstrdup ("");
      husk_json_set_string (o, "Size", size);
    }
  set_string_if (o, po, F_NAMES, "Names", r->name);
  if (shown (po, F_LABELS))
    husk_json_set (o, "Labels", r->labels ? husk_json_clone (r->labels) : husk_json_new_object ());
  if (shown (po, F_MOUNTS))
    husk_json_set (o, "Mounts", po->mounts ? mount_destinations (s, r->id) : husk_json_new_array ());
  set_string_if (o, po, F_NETWORKS, "Networks", "");
  set_int_if (o, po, F_EXIT_CODE, "ExitCode", it->st.exit_code);
  if (shown (po, F_EXITED))
    {
      husk_json_set_bool (o, "Exited", it->st.status == HUSK_CONTAINER_EXITED);
      husk_json_set_int (o, "ExitedAt", it->st.finished_at / 1000000000LL);
    }
  set_int_if (o, po, F_STARTED_AT, "StartedAt", it->st.started_at / 1000000000LL);
  set_int_if (o, po, F_PID, "Pid", it->st.pid);
  return o;
}

/* Podman's ListContainer for --format json.  */
static husk_json_t *
ps_json (husk_store_t *s, const struct ps_item *it, const struct ps_opts *po)
{
  const struct husk_container_record *r = it->r;
  husk_json_t *o = husk_json_new_object ();
  cleanup_free char *ago = husk_human_ago (r->created / 1000000000LL);
  cleanup_free char *status = status_string (s, r, &it->st);
  husk_json_t *names = husk_json_new_array ();

  husk_json_array_append (names, husk_json_new_string (r->name));
  husk_json_set_string (o, "Id", r->id);
  husk_json_set_string (o, "Image", r->image_name);
  husk_json_set_string (o, "ImageID", r->image_id);
  husk_json_set (o, "Command", husk_json_from_strv (r->command ? r->command : (char *const[]){ NULL }));
  husk_json_set_int (o, "Created", r->created / 1000000000LL);
  husk_json_set_string (o, "CreatedAt", ago);
  husk_json_set_string (o, "State", cli_container_status_name (&it->st));
  husk_json_set_string (o, "Status", status);
  husk_json_set (o, "Names", names);
  husk_json_set (o, "Labels", r->labels ? husk_json_clone (r->labels) : husk_json_new_null ());
  husk_json_set_int (o, "ExitCode", it->st.exit_code);
  husk_json_set_bool (o, "Exited", it->st.status == HUSK_CONTAINER_EXITED);
  husk_json_set_int (o, "ExitedAt", it->st.finished_at / 1000000000LL);
  husk_json_set_int (o, "StartedAt", it->st.started_at / 1000000000LL);
  husk_json_set_int (o, "Pid", it->st.pid);
  husk_json_set (o, "Mounts", po->mounts ? mount_destinations (s, r->id) : husk_json_new_array ());
  husk_json_set (o, "Ports", ports_json (s, it));
  husk_json_set (o, "Networks", husk_json_new_array ());
  if (po->size)
    {
      husk_json_t *sz = husk_json_new_object ();
      husk_json_set_int (sz, "rootFsSize", (int64_t)(it->rw_size + it->image_size));
      husk_json_set_int (sz, "rwSize", (int64_t)it->rw_size);
      husk_json_set (o, "Size", sz);
    }
  else
    husk_json_set (o, "Size", husk_json_new_null ());
  return o;
}

static const char *
ps_header (const char *field)
{
  if (strcmp (field, "ID") == 0)
    return "CONTAINER ID";
  if (strcmp (field, "RunningFor") == 0 || strcmp (field, "CreatedHuman") == 0
      || strcmp (field, "Created") == 0)
    return "CREATED";
  if (strcmp (field, "ImageID") == 0)
    return "IMAGE ID";
  return NULL;
}

static unsigned long long
upper_size (husk_store_t *s, const char *id)
{
  cleanup_free char *dir = husk_store_container_dir (s, id);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  unsigned long long bytes = 0;
  husk_error_t err = NULL;

  /* A rootless upper may hold directories we cannot read: show what we can.  */
  if (husk_du_at (AT_FDCWD, upper, &bytes, &err) < 0)
    husk_error_release (&err);
  return bytes;
}

/* -n/--last: N >= 0, or a negative number for all (Docker's default -1).  */
static int
parse_last (const struct cli_args *a, long *last, husk_error_t *err)
{
  const char *v = cli_string (a, "last");
  char *end = NULL;

  *last = -1;
  if (cli_bool (a, "latest"))
    *last = 1;
  if (v == NULL)
    return 0;
  errno = 0;
  *last = strtol (v, &end, 10);
  if (errno || end == v || *end)
    return husk_make_error (err, 0, "invalid --last \"%s\": a number is required", v);
  if (cli_bool (a, "latest"))
    return husk_make_error (err, 0, "--latest and --last cannot be used together");
  return 0;
}

/* Under the shared lock: filter the index, note image sizes.  */
static int
select_records (husk_store_t *s, const struct ps_filters *f, bool need_size, struct ps_item **out,
                size_t *n_out, husk_error_t *err)
{
  struct husk_container_record *const *recs;
  struct ps_item *items;
  size_t n, i, k = 0;
  int ret;

  ret = husk_store_containers (s, &recs, &n, err);
  if (ret < 0)
    return ret;
  items = xzalloc ((n + 1) * sizeof (*items));
  for (i = 0; i < n; i++)
    {
      struct husk_image_record *img = NULL;
      if (!record_selected (recs[i], f))
        continue;
      items[k].r = recs[i];
      items[k].index = i;
      if (need_size)
        {
          if (husk_store_image_find (s, recs[i]->image_id, &img, err) > 0)
            items[k].image_size = img->size;
          else if (*err)
            husk_error_release (err);
        }
      k++;
    }
  *out = items;
  *n_out = k;
  return 0;
}

/* Without the lock: states (a container removed meanwhile is skipped),
   the state filters, the -n cut, sizes.  */
static int
load_states (husk_store_t *s, struct ps_item *items, size_t *n, const struct ps_filters *f, bool all,
             long last, bool need_size, husk_error_t *err)
{
  size_t i, k = 0;

  for (i = 0; i < *n; i++)
    {
      struct ps_item it = items[i];
      int ret = husk_store_container_state (s, it.r->id, &it.st, err);
      if (ret < 0)
        {
          if ((*err)->status != ENOENT)
            {
              for (; k > 0; k--)
                husk_container_state_clear (&items[k - 1].st);
              return ret;
            }
          husk_error_release (err);
          continue;
        }
      if (!state_selected (&it.st, f, all)
          || (f->health_mask != 0 && !(f->health_mask & (1 << husk_health_status_get (s, it.r->id)))))
        {
          husk_container_state_clear (&it.st);
          continue;
        }
      items[k++] = it;
    }
  qsort (items, k, sizeof (*items), compare_created_desc);
  if (last >= 0 && (size_t)last < k)
    {
      for (i = (size_t)last; i < k; i++)
        husk_container_state_clear (&items[i].st);
      k = (size_t)last;
    }
  for (i = 0; need_size && i < k; i++)
    items[i].rw_size = upper_size (s, items[i].r->id);
  *n = k;
  return 0;
}

static int
print_items (husk_store_t *s, const struct cli_args *a, const struct ps_item *items, size_t n,
             const struct ps_opts *po, husk_error_t *err)
{
  cleanup_json husk_json_t *rows = husk_json_new_array ();
  struct husk_listing listing = { PS_DEFAULT_FORMAT, "ID", ps_header };
  struct husk_output_opts o;
  size_t i;

  struct ps_opts rpo = *po;

  cli_output_opts (a, &o);
  if (cli_bool (a, "size"))
    listing.default_format = PS_DEFAULT_FORMAT "\t{{.Size}}";
  rpo.shown = fields_shown (template_in_effect (o.format, o.quiet, listing.default_format));
  if (o.format && strcmp (o.format, "json") == 0 && !o.quiet)
    {
      for (i = 0; i < n; i++)
        husk_json_array_append (rows, ps_json (s, &items[i], po));
      return husk_output_inspect (stdout, rows, NULL, err);
    }
  for (i = 0; i < n; i++)
    husk_json_array_append (rows, ps_row (s, &items[i], &rpo));
  return husk_output_list (stdout, rows, &listing, &o, err);
}

int
cmd_ps (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct ps_filters f = { 0 };
  cleanup_free struct ps_item *items = NULL;
  const char *format = cli_string (a, "format");
  struct ps_opts po = { 0 };
  husk_store_t *s;
  size_t n = 0, i;
  long last;
  bool all;
  int ret;

  /* A thousand records and state files are many small allocations.  */
  husk_heap_hugepages (8 << 20);
  ret = parse_last (a, &last, err);
  if (ret < 0)
    return ret;
  all = cli_bool (a, "all") || last >= 0;
  po.no_trunc = cli_bool (a, "no-trunc");
  po.size = cli_bool (a, "size") || (format && strstr (format, "Size") && !cli_bool (a, "quiet"));
  po.mounts
      = format && (strstr (format, "Mounts") || strcmp (format, "json") == 0 || strstr (format, "json ."));

  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  ret = parse_filters (s, cli_strv (a, "filter"), &f, err);
  if (ret >= 0)
    ret = select_records (s, &f, po.size, &items, &n, err);
  husk_store_unlock (s);
  if (ret < 0)
    goto out;
  /* status= and exited= look beyond running containers, as in Docker.  */
  all = all || f.has_status || f.n_exited;
  ret = load_states (s, items, &n, &f, all, last, po.size, err);
  if (ret < 0)
    {
      n = 0;
      goto out;
    }
  ret = print_items (s, a, items, n, &po, err);
out:
  for (i = 0; i < n; i++)
    husk_container_state_clear (&items[i].st);
  ps_filters_clear (&f);
  return ret;
}
