/* husk: logs.

   Reads the container's log file through husk_log_read (driver and path
   from config.json's HostConfig.LogConfig), writing stdout entries to our
   stdout and stderr entries to our stderr, as Docker and Podman do.  A
   full entry ends with a newline, a partial one ("P") does not.  With -t
   each line starts with its RFC3339Nano time and a space.

   --since and --until take an RFC 3339 time ("2024-01-02T03:04:05Z", also
   a bare date or a time without zone, read as local time), a Unix time
   ("1700000000.5") or a Go duration counted back from now ("10m",
   "1h30m").

   -f follows until the container stops (its state is read again whenever
   the reader has caught up).  Several containers are printed one after
   the other; with -f each is followed by its own child process, so their
   lines interleave as they come, which is what Podman does.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "husk/util.h"

struct logs_opts
{
  int64_t since, until; /* ns, 0: unbounded */
  long tail;            /* -1: all */
  bool follow;
  bool timestamps;
};

struct log_out
{
  husk_store_t *s;
  const char *id;
  const struct logs_opts *o;
  bool mid_line[3]; /* per stream: the last entry was partial */
  int last_stream;
};

static int
parse_tail (const char *v, long *out, husk_error_t *err)
{
  char *end;
  long n;

  if (v == NULL || strcmp (v, "all") == 0)
    {
      *out = -1;
      return 0;
    }
  errno = 0;
  n = strtol (v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || n < -1)
    return husk_make_error (err, 0, "invalid --tail \"%s\": a number of lines or \"all\"", v);
  *out = n;
  return 0;
}

static int
parse_opts (const struct cli_args *a, struct logs_opts *o, husk_error_t *err)
{
  int64_t now = husk_now_ns ();
  const char *v;

  memset (o, 0, sizeof (*o));
  o->follow = cli_bool (a, "follow");
  o->timestamps = cli_bool (a, "timestamps");
  if (parse_tail (cli_string (a, "tail"), &o->tail, err) < 0)
    return -1;
  v = cli_string (a, "since");
  if (v && cli_parse_time_flag ("since", v, now, &o->since, err) < 0)
    return -1;
  v = cli_string (a, "until");
  if (v && cli_parse_time_flag ("until", v, now, &o->until, err) < 0)
    return -1;
  /* 0 means unbounded to the reader: the epoch itself is as good.  */
  if (v && o->until == 0)
    o->until = 1;
  return 0;
}

static int
print_entry (const struct husk_log_entry *e, void *ctx)
{
  struct log_out *out = ctx;
  int stream = e->stream == 2 ? 2 : 1;
  FILE *f = stream == 2 ? stderr : stdout;

  /* Keep the order of the two streams when both go to one place.  */
  if (out->last_stream != stream)
    fflush (stream == 2 ? stdout : stderr);
  out->last_stream = stream;
  if (out->o->timestamps && !out->mid_line[stream])
    {
      cleanup_free char *ts = husk_format_rfc3339 (e->time);
      fputs (ts, f);
      fputc (' ', f);
    }
  fwrite (e->data, 1, e->len, f);
  if (!e->partial)
    fputc ('\n', f);
  out->mid_line[stream] = e->partial;
  if (out->o->follow)
    fflush (f);
  return 0;
}

/* Follow while the container runs, or while its monitor waits to restart
   it; a removed container is done.  */
static bool
still_running (void *ctx)
{
  struct log_out *out = ctx;
  struct husk_container_state st;
  husk_error_t err = NULL;
  bool running;

  if (husk_store_container_state (out->s, out->id, &st, &err) < 0)
    {
      husk_error_release (&err);
      return false;
    }
  running = st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING
            || (st.monitor_pid > 0 && husk_store_pid_alive (st.monitor_pid, st.monitor_start, st.boot_id));
  husk_container_state_clear (&st);
  return running;
}

static int
logs_one (husk_store_t *s, const char *arg, const struct logs_opts *o, husk_error_t *err)
{
  struct husk_container_record *r;
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_free char *id = NULL;
  cleanup_free char *path = NULL;
  struct husk_log_query q = { 0 };
  struct log_out out = { 0 };
  const husk_json_t *lc;
  const char *type, *p;
  int ret;

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = cli_container_lookup (s, arg, &r, err);
  if (ret >= 0)
    id = xstrdup (r->id);
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  if (cli_container_config (s, id, &cfg, err) < 0)
    return -1;

  lc = husk_json_get_path (cfg, "HostConfig", "LogConfig", NULL);
  type = husk_json_get_string (lc, "Type");
  if (husk_log_driver_parse (type ? type : "k8s-file", &q.driver, err) < 0)
    return husk_error_wrap (err, "container %s", arg);
  if (q.driver == HUSK_LOG_NONE)
    return husk_make_error (err, 0, "container %s: logs are not available with the log driver none", arg);
  p = husk_json_get_string (lc, "Path");
  if (p && *p == '/')
    path = xstrdup (p);
  else
    {
      cleanup_free char *dir = husk_store_container_dir (s, id);
      path = xasprintf ("%s/ctr.log", dir);
    }

  q.path = path;
  q.since = o->since;
  q.until = o->until;
  q.tail = o->tail;
  q.follow = o->follow;
  q.running = still_running;
  out.s = s;
  out.id = id;
  out.o = o;
  ret = husk_log_read (&q, print_entry, &out, err);
  fflush (stdout);
  if (ret < 0)
    return husk_error_wrap (err, "container %s: read the log", arg);
  return 0;
}

/* -f with several containers: one child per container, all at once.  */
static int
follow_several (husk_store_t *s, char *const *args, int n, const struct logs_opts *o)
{
  pid_t *pids = xzalloc ((size_t)n * sizeof (pid_t));
  int i, ret = 0;

  fflush (stdout);
  fflush (stderr);
  for (i = 0; i < n; i++)
    {
      pids[i] = fork ();
      if (pids[i] < 0)
        {
          fprintf (stderr, "Error: fork: %s\n", strerror (errno));
          ret = HUSK_EXIT_FAILURE;
          continue;
        }
      if (pids[i] == 0)
        {
          husk_error_t err = NULL;
          int code = 0;
          if (logs_one (s, args[i], o, &err) < 0)
            code = husk_error_report (&err);
          fflush (stdout);
          fflush (stderr);
          _exit (code);
        }
    }
  for (i = 0; i < n; i++)
    {
      int status = 0;
      if (pids[i] <= 0)
        continue;
      while (waitpid (pids[i], &status, 0) < 0)
        if (errno != EINTR)
          break;
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        ret = HUSK_EXIT_FAILURE;
    }
  free (pids);
  return ret;
}

int
cmd_logs (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct logs_opts o;
  husk_store_t *s;
  int i, ret = 0;

  if (parse_opts (a, &o, err) < 0)
    return -1;
  if (cli_store (ctx, &s, err) < 0)
    return -1;
  if (a->argc == 1)
    return logs_one (s, a->argv[0], &o, err);
  if (o.follow)
    return follow_several (s, a->argv, a->argc, &o);
  for (i = 0; i < a->argc; i++)
    {
      husk_error_t one = NULL;
      if (logs_one (s, a->argv[i], &o, &one) < 0)
        {
          fflush (stdout);
          fprintf (stderr, "Error: %s\n", one->msg);
          husk_error_release (&one);
          ret = HUSK_EXIT_FAILURE;
        }
    }
  return ret;
}
