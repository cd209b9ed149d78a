/* husk: top, the processes of a running container.

   The processes are those of the container's cgroup, or, without one
   (rootless without delegation), those in the pid namespace of the
   container's pid 1.  Everything is read from the host's /proc, so pids,
   users and groups are shown as the host sees them (Docker's choice; the
   names come from the host's user database, never the container's).

   Columns are chosen either by Podman's AIX format descriptors
   (`husk top c pid user args`, comma or space separated) or by ps options
   (`husk top c -o pid,comm`, `-eo ...`, `-ef`); both use one table of
   descriptors.  Times are printed as ps does: ELAPSED [[dd-]hh:]mm:ss,
   TIME [dd-]hh:mm:ss.  */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/output.h"
#include "husk/util.h"

struct proc
{
  pid_t pid, ppid, pgid, sid, tpgid;
  char state;
  unsigned long long tty_nr;
  long nice;
  unsigned long long utime, stime, start; /* clock ticks */
  unsigned long long vsize, rss;          /* bytes, pages */
  unsigned ruid, euid, rgid, egid;
  char *comm;
  char *args;
};

struct top_ctx
{
  double uptime; /* seconds */
  long hz;
  long page_size;
  time_t now;
};

typedef char *(*field_fn) (const struct top_ctx *t, const struct proc *p);

static char *
user_name (unsigned uid)
{
  struct passwd *pw = getpwuid (uid);
  return pw ? xstrdup (pw->pw_name) : xasprintf ("%u", uid);
}

static char *
group_name (unsigned gid)
{
  struct group *gr = getgrgid (gid);
  return gr ? xstrdup (gr->gr_name) : xasprintf ("%u", gid);
}

/* ps's [[dd-]hh:]mm:ss (elapsed) or [dd-]hh:mm:ss (cpu time, always hh).  */
static char *
format_duration (unsigned long long s, bool always_hours)
{
  unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

  if (d)
    return xasprintf ("%llu-%02llu:%02llu:%02llu", d, h, m, sec);
  if (h || always_hours)
    return xasprintf ("%02llu:%02llu:%02llu", h, m, sec);
  return xasprintf ("%02llu:%02llu", m, sec);
}

static double
elapsed (const struct top_ctx *t, const struct proc *p)
{
  double e = t->uptime - (double)p->start / (double)t->hz;
  return e > 0 ? e : 0;
}

static char *
f_user (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return user_name (p->euid);
}

static char *
f_ruser (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return user_name (p->ruid);
}

static char *
f_group (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return group_name (p->egid);
}

static char *
f_rgroup (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return group_name (p->rgid);
}

static char *
f_uid (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%u", p->euid);
}

static char *
f_gid (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%u", p->egid);
}

static char *
f_pid (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%d", (int)p->pid);
}

static char *
f_ppid (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%d", (int)p->ppid);
}

static char *
f_pgid (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%d", (int)p->pgid);
}

static char *
f_pcpu (const struct top_ctx *t, const struct proc *p)
{
  double e = elapsed (t, p);
  double cpu = (double)(p->utime + p->stime) / (double)t->hz;
  return xasprintf ("%.3f", e > 0 ? cpu * 100.0 / e : 0.0);
}

static char *
f_etime (const struct top_ctx *t, const struct proc *p)
{
  return format_duration ((unsigned long long)elapsed (t, p), false);
}

static char *
f_time (const struct top_ctx *t, const struct proc *p)
{
  return format_duration ((p->utime + p->stime) / (unsigned long long)t->hz, true);
}

static char *
f_tty (const struct top_ctx *t, const struct proc *p)
{
  unsigned maj = major (p->tty_nr), min = minor (p->tty_nr);

  (void)t;
  if (p->tty_nr == 0)
    return xstrdup ("?");
  if (maj >= 136 && maj <= 143)
    return xasprintf ("pts/%u", (maj - 136) * 256 + min);
  if (maj == 4 && min < 64)
    return xasprintf ("tty%u", min);
  if (maj == 5 && min == 1)
    return xstrdup ("console");
  return xasprintf ("%u:%u", maj, min);
}

static char *
f_args (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return p->args[0] ? xstrdup (p->args) : xasprintf ("[%s]", p->comm);
}

static char *
f_comm (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xstrdup (p->comm);
}

static char *
f_nice (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%ld", p->nice);
}

static char *
f_vsz (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%llu", p->vsize / 1024);
}

static char *
f_rss (const struct top_ctx *t, const struct proc *p)
{
  return xasprintf ("%llu", p->rss * (unsigned long long)t->page_size / 1024);
}

static char *
f_stat (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%c%s%s", p->state, p->sid == p->pid ? "s" : "",
                    p->tpgid > 0 && p->tpgid == p->pgid ? "+" : "");
}

static char *
f_state (const struct top_ctx *t, const struct proc *p)
{
  (void)t;
  return xasprintf ("%c", p->state);
}

/* ps's STIME: hh:mm today, else "MonDD".  */
static char *
f_stime (const struct top_ctx *t, const struct proc *p)
{
  time_t started = t->now - (time_t)elapsed (t, p);
  struct tm tm, today;
  char *out = xmalloc (32);

  localtime_r (&started, &tm);
  localtime_r (&t->now, &today);
  if (strftime (out, 32, tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year ? "%H:%M" : "%b%d", &tm)
      == 0)
    out[0] = '\0';
  return out;
}

static const struct
{
  const char *name;
  const char *header;
  field_fn fn;
} descriptors[] = {
  { "user", "USER", f_user },
  { "euser", "USER", f_user },
  { "ruser", "RUSER", f_ruser },
  { "group", "GROUP", f_group },
  { "egroup", "GROUP", f_group },
  { "rgroup", "RGROUP", f_rgroup },
  { "uid", "UID", f_uid },
  { "euid", "UID", f_uid },
  { "gid", "GID", f_gid },
  { "pid", "PID", f_pid },
  { "ppid", "PPID", f_ppid },
  { "pgid", "PGID", f_pgid },
  { "pgrp", "PGID", f_pgid },
  { "pcpu", "%CPU", f_pcpu },
  { "%cpu", "%CPU", f_pcpu },
  { "c", "C", f_pcpu },
  { "etime", "ELAPSED", f_etime },
  { "time", "TIME", f_time },
  { "cputime", "TIME", f_time },
  { "tty", "TTY", f_tty },
  { "tt", "TT", f_tty },
  { "args", "COMMAND", f_args },
  { "command", "COMMAND", f_args },
  { "cmd", "CMD", f_args },
  { "comm", "COMMAND", f_comm },
  { "ucomm", "COMMAND", f_comm },
  { "nice", "NI", f_nice },
  { "ni", "NI", f_nice },
  { "vsz", "VSZ", f_vsz },
  { "vsize", "VSZ", f_vsz },
  { "rss", "RSS", f_rss },
  { "rssize", "RSS", f_rss },
  { "stat", "STAT", f_stat },
  { "state", "STATE", f_state },
  { "s", "S", f_state },
  { "stime", "STIME", f_stime },
  { "start_time", "STIME", f_stime },
};

#define N_DESCRIPTORS (sizeof (descriptors) / sizeof (descriptors[0]))

static const char *const default_columns[]
    = { "user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args" };
static const char *const full_columns[] = { "uid", "pid", "ppid", "c", "stime", "tty", "time", "cmd" };

/* Append the descriptors of a "pid,comm" or "pid comm" list.  */
static int
add_columns (const char *list, char ***cols, husk_error_t *err)
{
  cleanup_free char *copy = xstrdup (list);
  char *tok, *save = NULL;

  for (tok = strtok_r (copy, ", \t", &save); tok; tok = strtok_r (NULL, ", \t", &save))
    {
      size_t i;

      for (i = 0; i < N_DESCRIPTORS; i++)
        if (strcasecmp (tok, descriptors[i].name) == 0)
          break;
      if (i == N_DESCRIPTORS)
        return husk_make_error (err, 0, "unknown descriptor: %s", tok);
      strv_append (cols, descriptors[i].name);
    }
  return 0;
}

static void
add_defaults (char ***cols, const char *const *names, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    strv_append (cols, names[i]);
}

/* ps options: -o LIST, -oLIST, -eo LIST, -e/-A/-a/-x (every process of the
   container is shown anyway), -f (ps -f's columns).  */
static int
parse_ps_options (char *const *args, int n, char ***cols, husk_error_t *err)
{
  bool full = false;
  int i;

  for (i = 0; i < n; i++)
    {
      const char *o = args[i];
      size_t j;

      if (o[0] != '-' || o[1] == '\0')
        return husk_make_error (err, EINVAL,
                                "unsupported ps argument \"%s\": only -o, -e, -A, -f are supported", o);
      for (j = 1; o[j]; j++)
        {
          if (strchr ("eAax", o[j]))
            continue;
          if (o[j] == 'f')
            {
              full = true;
              continue;
            }
          if (o[j] != 'o')
            return husk_make_error (err, EINVAL,
                                    "unsupported ps option \"-%c\": only -o, -e, -A, -f are supported", o[j]);
          if (o[j + 1])
            {
              if (add_columns (o + j + 1, cols, err) < 0)
                return -1;
            }
          else if (i + 1 < n)
            {
              if (add_columns (args[++i], cols, err) < 0)
                return -1;
            }
          else
            return husk_make_error (err, 0, "ps option -o needs a list of descriptors");
          break;
        }
    }
  if (strv_len (*cols) == 0)
    {
      if (full)
        add_defaults (cols, full_columns, sizeof (full_columns) / sizeof (full_columns[0]));
      else
        add_defaults (cols, default_columns, sizeof (default_columns) / sizeof (default_columns[0]));
    }
  return 0;
}

/* Read /proc/<pid>/{stat,status,cmdline}; false when the process is gone.  */
static bool
proc_read (pid_t pid, struct proc *p)
{
  cleanup_free char *path = xasprintf ("/proc/%d/stat", (int)pid);
  cleanup_free char *data = NULL;
  const char *open_paren, *close_paren, *line;
  size_t len, i;
  int n;

  memset (p, 0, sizeof (*p));
  p->pid = pid;
  if (husk_read_file_at (AT_FDCWD, path, 0, &data, &len, NULL) < 0)
    return false;
  open_paren = strchr (data, '(');
  close_paren = strrchr (data, ')');
  if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
    return false;
  p->comm = xstrndup (open_paren + 1, (size_t)(close_paren - open_paren - 1));
  n = sscanf (close_paren + 2,
              "%c %d %d %d %llu %d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %ld %*d %*d %llu %llu %llu",
              &p->state, &p->ppid, &p->pgid, &p->sid, &p->tty_nr, &p->tpgid, &p->utime, &p->stime, &p->nice,
              &p->start, &p->vsize, &p->rss);
  if (n != 12)
    return false;

  free (path);
  free (data);
  data = NULL;
  path = xasprintf ("/proc/%d/status", (int)pid);
  if (husk_read_file_at (AT_FDCWD, path, 0, &data, &len, NULL) == 0)
    {
      line = strstr (data, "\nUid:");
      if (line)
        sscanf (line + 5, "%u %u", &p->ruid, &p->euid);
      line = strstr (data, "\nGid:");
      if (line)
        sscanf (line + 5, "%u %u", &p->rgid, &p->egid);
    }

  free (path);
  free (data);
  data = NULL;
  path = xasprintf ("/proc/%d/cmdline", (int)pid);
  if (husk_read_file_at (AT_FDCWD, path, 0, &data, &len, NULL) < 0)
    {
      data = xstrdup ("");
      len = 0;
    }
  while (len > 0 && data[len - 1] == '\0')
    len--;
  for (i = 0; i < len; i++)
    if (data[i] == '\0')
      data[i] = ' ';
  data[len] = '\0';
  p->args = steal_pointer (&data);
  return true;
}

static int
cmp_pid (const void *a, const void *b)
{
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

/* Processes in the pid namespace of pid1 (no cgroup to ask): the same
   nsfs inode behind /proc/<pid>/ns/pid.  */
static int
pids_in_pidns (pid_t pid1, pid_t **out, size_t *n, husk_error_t *err)
{
  cleanup_free char *link = xasprintf ("/proc/%d/ns/pid", (int)pid1);
  struct stat ns;
  struct dirent *de;
  size_t cap = 16;
  DIR *d;

  if (stat (link, &ns) < 0)
    return husk_make_error (err, errno, "stat %s", link);
  d = opendir ("/proc");
  if (d == NULL)
    return husk_make_error (err, errno, "opendir /proc");
  *out = xmalloc (cap * sizeof (pid_t));
  *n = 0;
  while ((de = readdir (d)))
    {
      cleanup_free char *l = NULL;
      struct stat other;
      char *end;
      long pid = strtol (de->d_name, &end, 10);

      if (*end != '\0' || pid <= 0)
        continue;
      l = xasprintf ("/proc/%ld/ns/pid", pid);
      if (stat (l, &other) < 0 || other.st_ino != ns.st_ino || other.st_dev != ns.st_dev)
        continue;
      if (*n == cap)
        {
          cap *= 2;
          *out = xrealloc (*out, cap * sizeof (pid_t));
        }
      (*out)[(*n)++] = (pid_t)pid;
    }
  closedir (d);
  return 0;
}

static int
container_pids (const char *id, const struct husk_container_state *st, pid_t **pids, size_t *n,
                husk_error_t *err)
{
  if (st->cgroup_path && st->cgroup_path[0])
    {
      cleanup_cgroup struct husk_cgroup *cg = NULL;
      husk_error_t e = NULL;

      if (husk_cgroup_open (id, st->cgroup_path, &cg, &e) == 0 && husk_cgroup_pids (cg, pids, n, &e) == 0
          && *n > 0)
        return 0;
      husk_error_release (&e);
      free (*pids);
      *pids = NULL;
    }
  return pids_in_pidns (st->pid, pids, n, err);
}

static void
top_ctx_init (struct top_ctx *t)
{
  cleanup_free char *data = NULL;
  size_t len;

  t->hz = sysconf (_SC_CLK_TCK);
  if (t->hz <= 0)
    t->hz = 100;
  t->page_size = sysconf (_SC_PAGESIZE);
  t->now = time (NULL);
  if (husk_read_file_at (AT_FDCWD, "/proc/uptime", 0, &data, &len, NULL) == 0)
    t->uptime = strtod (data, NULL);
}

static field_fn
descriptor_fn (const char *name, const char **header)
{
  size_t i;
  for (i = 0; i < N_DESCRIPTORS; i++)
    if (strcmp (name, descriptors[i].name) == 0)
      {
        *header = descriptors[i].header;
        return descriptors[i].fn;
      }
  return NULL;
}

/* A cell must not break the table: tabs and newlines become spaces.  */
static void
put_cell (struct husk_buf *b, char *cell)
{
  char *c;
  for (c = cell; *c; c++)
    if (*c == '\t' || *c == '\n')
      *c = ' ';
  husk_buf_puts (b, cell);
}

int
cmd_top (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_free pid_t *pids = NULL;
  cleanup_strv char **cols = NULL;
  cleanup_free char *table = NULL;
  struct husk_container_state st;
  struct husk_container_record *r;
  struct husk_buf b = { 0 };
  struct top_ctx t = { 0 };
  husk_store_t *s;
  size_t n = 0, i, c;
  int ret;

  cols = xzalloc (sizeof (char *));
  if (a->argc > 1 && a->argv[1][0] == '-')
    ret = parse_ps_options (a->argv + 1, a->argc - 1, &cols, err);
  else
    {
      ret = 0;
      for (i = 1; ret == 0 && i < (size_t)a->argc; i++)
        ret = add_columns (a->argv[i], &cols, err);
      if (strv_len (cols) == 0)
        add_defaults (&cols, default_columns, sizeof (default_columns) / sizeof (default_columns[0]));
    }
  if (ret < 0)
    return -1;

  if (cli_store_lock (ctx, false, &s, err) < 0)
    return -1;
  ret = cli_container_lookup (s, a->argv[0], &r, err);
  if (ret >= 0)
    id = xstrdup (r->id);
  husk_store_unlock (s);
  if (ret < 0)
    return -1;
  if (husk_store_container_state (s, id, &st, err) < 0)
    return -1;
  if (st.status != HUSK_CONTAINER_RUNNING && st.status != HUSK_CONTAINER_STOPPING)
    ret = husk_make_error (err, 0, "top can only be used on running containers");
  else
    ret = container_pids (id, &st, &pids, &n, err);
  husk_container_state_clear (&st);
  if (ret < 0)
    return -1;
  qsort (pids, n, sizeof (pid_t), cmp_pid);

  top_ctx_init (&t);
  for (c = 0; cols[c]; c++)
    {
      const char *header = NULL;
      descriptor_fn (cols[c], &header);
      husk_buf_printf (&b, "%s%s", c ? "\t" : "", header);
    }
  husk_buf_puts (&b, "\n");
  for (i = 0; i < n; i++)
    {
      struct proc p;

      if (!proc_read (pids[i], &p))
        {
          free (p.comm);
          continue;
        }
      for (c = 0; cols[c]; c++)
        {
          const char *header;
          cleanup_free char *cell = descriptor_fn (cols[c], &header) (&t, &p);
          if (c)
            husk_buf_puts (&b, "\t");
          put_cell (&b, cell);
        }
      husk_buf_puts (&b, "\n");
      free (p.comm);
      free (p.args);
    }
  {
    cleanup_free char *text = husk_buf_steal (&b, NULL);
    table = husk_tabwriter (text);
  }
  fputs (table, stdout);
  return 0;
}
