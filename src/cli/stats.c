/* husk: stats, resource usage of containers from their cgroups.

   CPU % is the CPU time the cgroup used between two readings divided by
   the wall time between them (100% = one CPU busy, as Docker counts).
   --no-stream takes its two readings 200 ms apart (Docker waits a whole
   second; Podman prints the average since the start); the stream prints
   one table a second, redrawn in place (clear screen, cursor home) when
   stdout is a terminal and appended otherwise, until interrupted.
   NET I/O sums the non-loopback interfaces of /proc/<pid>/net/dev of the
   container's pid 1 (its network namespace).  A container without a
   cgroup (stopped, or rootless without delegation) shows zeros.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/output.h"
#include "husk/util.h"

#define NO_STREAM_INTERVAL_MS 200
#define STREAM_INTERVAL_MS    1000

struct sample
{
  char *id;
  char *name;
  bool running;
  int64_t at; /* ns */
  struct husk_cgroup_stats cg;
  uint64_t net_rx, net_tx;
};

static void
samples_free (struct sample *v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      free (v[i].id);
      free (v[i].name);
    }
  free (v);
}

/* Received and transmitted bytes of every interface but lo.  */
static void
read_net (pid_t pid, uint64_t *rx, uint64_t *tx)
{
  cleanup_free char *path = xasprintf ("/proc/%d/net/dev", (int)pid);
  cleanup_free char *data = NULL;
  char *line, *save = NULL;
  size_t len;

  *rx = *tx = 0;
  if (husk_read_file_at (AT_FDCWD, path, 0, &data, &len, NULL) < 0)
    return;
  for (line = strtok_r (data, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *colon = strchr (line, ':');
      unsigned long long r, t;
      char *name = line;

      if (colon == NULL)
        continue;
      *colon = '\0';
      while (*name == ' ')
        name++;
      if (strcmp (name, "lo") == 0)
        continue;
      /* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes ... */
      if (sscanf (colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r, &t) == 2)
        {
          *rx += r;
          *tx += t;
        }
    }
}

static void
take_sample (husk_store_t *s, struct sample *sm)
{
  struct husk_container_state st;
  husk_error_t e = NULL;

  memset (&sm->cg, 0, sizeof (sm->cg));
  sm->net_rx = sm->net_tx = 0;
  sm->running = false;
  sm->at = husk_now_ns ();
  if (husk_store_container_state (s, sm->id, &st, &e) < 0)
    {
      husk_error_release (&e);
      return;
    }
  if ((st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING) && st.cgroup_path
      && st.cgroup_path[0])
    {
      cleanup_cgroup struct husk_cgroup *cg = NULL;

      sm->running = true;
      if (husk_cgroup_open (sm->id, st.cgroup_path, &cg, &e) < 0 || husk_cgroup_stats (cg, &sm->cg, &e) < 0)
        husk_error_release (&e);
    }
  if (st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING)
    {
      sm->running = true;
      read_net (st.pid, &sm->net_rx, &sm->net_tx);
    }
  husk_container_state_clear (&st);
}

static uint64_t
host_memory (void)
{
  struct sysinfo si;
  if (sysinfo (&si) < 0)
    return 0;
  return (uint64_t)si.totalram * si.mem_unit;
}

static char *
pair_sizes (uint64_t a, uint64_t b)
{
  cleanup_free char *x = husk_human_size (a);
  cleanup_free char *y = husk_human_size (b);
  return xasprintf ("%s / %s", x, y);
}

static husk_json_t *
stats_row (const struct sample *prev, const struct sample *cur, bool no_trunc)
{
  husk_json_t *o = husk_json_new_object ();
  uint64_t limit = cur->cg.memory_limit, host = host_memory ();
  double cpu = 0, mem = 0;
  cleanup_free char *cpu_s = NULL, *mem_s = NULL, *usage = NULL, *net = NULL, *block = NULL, *pids = NULL;
  cleanup_free char *id = xstrndup (cur->id, no_trunc ? strlen (cur->id) : 12);

  if (limit == 0 || (host && limit > host))
    limit = host;
  if (prev && cur->running && cur->at > prev->at && cur->cg.cpu_usage_ns >= prev->cg.cpu_usage_ns)
    cpu = (double)(cur->cg.cpu_usage_ns - prev->cg.cpu_usage_ns) * 100.0 / (double)(cur->at - prev->at);
  if (limit)
    mem = (double)cur->cg.memory_usage * 100.0 / (double)limit;
  cpu_s = xasprintf ("%.2f%%", cpu);
  mem_s = xasprintf ("%.2f%%", mem);
  usage = pair_sizes (cur->cg.memory_usage, cur->running ? limit : 0);
  net = pair_sizes (cur->net_rx, cur->net_tx);
  block = pair_sizes (cur->cg.blkio_read_bytes, cur->cg.blkio_write_bytes);
  pids = xasprintf ("%" PRIu64, cur->cg.pids_current);

  husk_json_set_string (o, "ID", id);
  husk_json_set_string (o, "Container", id);
  husk_json_set_string (o, "Name", cur->name);
  husk_json_set_string (o, "CPUPerc", cpu_s);
  husk_json_set_string (o, "MemUsage", usage);
  husk_json_set_string (o, "MemPerc", mem_s);
  husk_json_set_string (o, "NetIO", net);
  husk_json_set_string (o, "BlockIO", block);
  husk_json_set_string (o, "PIDs", pids);
  husk_json_set_int (o, "CPUNano", (int64_t)cur->cg.cpu_usage_ns);
  husk_json_set_int (o, "MemUsageBytes", (int64_t)cur->cg.memory_usage);
  husk_json_set_int (o, "MemLimit", (int64_t)limit);
  return o;
}

static const char *
stats_header (const char *field)
{
  static const struct
  {
    const char *field, *header;
  } h[] = {
    { "ID", "CONTAINER ID" },   { "Container", "CONTAINER" },
    { "CPUPerc", "CPU %" },     { "MemUsage", "MEM USAGE / LIMIT" },
    { "MemPerc", "MEM %" },     { "NetIO", "NET I/O" },
    { "BlockIO", "BLOCK I/O" }, { "PIDs", "PIDS" },
  };
  size_t i;
  for (i = 0; i < sizeof (h) / sizeof (h[0]); i++)
    if (strcmp (field, h[i].field) == 0)
      return h[i].header;
  return NULL;
}

static const struct husk_listing stats_listing = {
  .default_format
  = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{."
    "PIDs}}",
  .quiet_field = "ID",
  .header_for = stats_header,
};

/* The containers to show: the arguments, or every running one (-a: every
   one).  */
static int
select_containers (husk_store_t *s, const struct cli_args *a, struct sample **out, size_t *n,
                   husk_error_t *err)
{
  struct husk_container_record *const *recs;
  size_t nrec, i;
  int ret;

  *out = NULL;
  *n = 0;
  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  if (a->argc > 0)
    {
      *out = xzalloc ((size_t)a->argc * sizeof (struct sample));
      for (i = 0; i < (size_t)a->argc; i++)
        {
          struct husk_container_record *r;
          ret = cli_container_lookup (s, a->argv[i], &r, err);
          if (ret < 0)
            goto out;
          (*out)[i].id = xstrdup (r->id);
          (*out)[i].name = xstrdup (r->name);
          *n = i + 1;
        }
      ret = 0;
      goto out;
    }
  ret = husk_store_containers (s, &recs, &nrec, err);
  if (ret < 0)
    goto out;
  *out = xzalloc ((nrec + 1) * sizeof (struct sample));
  for (i = 0; i < nrec; i++)
    {
      struct husk_container_state st;
      husk_error_t e = NULL;
      bool running;

      if (husk_store_container_state (s, recs[i]->id, &st, &e) < 0)
        {
          husk_error_release (&e);
          continue;
        }
      running = st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING;
      husk_container_state_clear (&st);
      if (!running && !cli_bool (a, "all"))
        continue;
      (*out)[*n].id = xstrdup (recs[i]->id);
      (*out)[*n].name = xstrdup (recs[i]->name);
      (*n)++;
    }
out:
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

static int
print_table (const struct sample *prev, const struct sample *cur, size_t n, const struct cli_args *a,
             husk_error_t *err)
{
  cleanup_json husk_json_t *rows = husk_json_new_array ();
  struct husk_output_opts o = { 0 };
  size_t i;

  o.format = cli_string (a, "format");
  for (i = 0; i < n; i++)
    husk_json_array_append (rows, stats_row (prev ? &prev[i] : NULL, &cur[i], cli_bool (a, "no-trunc")));
  if (husk_output_list (stdout, rows, &stats_listing, &o, err) < 0)
    return -1;
  fflush (stdout);
  return 0;
}

int
cmd_stats (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct sample *prev = NULL, *cur = NULL;
  bool stream = !cli_bool (a, "no-stream");
  bool tty = isatty (1);
  husk_store_t *s;
  size_t n = 0, i;
  int ret;

  if (cli_bool (a, "all") && a->argc > 0)
    return husk_make_error (err, 0,
                            "when using the --all switch, you may not pass any container names or IDs");
  if (cli_store (ctx, &s, err) < 0)
    return -1;
  ret = select_containers (s, a, &prev, &n, err);
  if (ret < 0)
    {
      samples_free (prev, n);
      return -1;
    }
  cur = xzalloc ((n + 1) * sizeof (struct sample));
  for (i = 0; i < n; i++)
    {
      cur[i].id = xstrdup (prev[i].id);
      cur[i].name = xstrdup (prev[i].name);
      take_sample (s, &prev[i]);
    }
  for (;;)
    {
      (void)poll (NULL, 0, stream ? STREAM_INTERVAL_MS : NO_STREAM_INTERVAL_MS);
      for (i = 0; i < n; i++)
        take_sample (s, &cur[i]);
      if (stream && tty)
        fputs ("\033[2J\033[H", stdout);
      ret = print_table (prev, cur, n, a, err);
      if (ret < 0 || !stream)
        break;
      for (i = 0; i < n; i++)
        {
          prev[i].at = cur[i].at;
          prev[i].cg = cur[i].cg;
          prev[i].running = cur[i].running;
        }
    }
  samples_free (prev, n);
  samples_free (cur, n);
  return ret < 0 ? -1 : 0;
}
