/* husk: attach, rename, pause, unpause, update.

   attach connects to the monitor's attach socket like a foreground `run`
   does (the monitor serves any number of clients).  pause/unpause use the
   cgroup freezer; whether a container is paused is not recorded anywhere:
   it is read from the freezer (cli_container_paused), so a container that
   exits or is killed while paused never leaves a stale flag behind.
   rename and update change config.json under the container lock (and
   rename the index under the exclusive store lock).  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

static bool
state_active (const struct husk_container_state *st)
{
  return st->status == HUSK_CONTAINER_RUNNING || st->status == HUSK_CONTAINER_STOPPING;
}

/* Replace config.json atomically.  The caller holds the container lock.  */
static int
config_write (husk_store_t *s, const char *id, const husk_json_t *cfg, husk_error_t *err)
{
  cleanup_free char *dir = husk_store_container_dir (s, id);
  cleanup_close int dfd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  cleanup_free char *text = NULL;
  size_t len;

  if (dfd < 0)
    return husk_make_error (err, errno, "open %s", dir);
  text = husk_json_serialize (cfg, false, &len);
  return husk_write_file_atomic (dfd, "config.json", text, len, 0600, err);
}

/* ---- paused state (read by ps and inspect too) ---- */

bool
cli_container_paused (const struct husk_container_state *st)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  size_t len;
  enum husk_cgroup_mode mode;

  if (!state_active (st) || st->cgroup_path == NULL || st->cgroup_path[0] == '\0')
    return false;
  mode = husk_cgroup_detect (NULL);
  if (mode == HUSK_CGROUP_V1)
    path = xasprintf ("/sys/fs/cgroup/freezer%s/freezer.state", st->cgroup_path);
  else if (mode == HUSK_CGROUP_V2)
    path = xasprintf ("/sys/fs/cgroup%s/cgroup.freeze", st->cgroup_path);
  else
    return false;
  if (husk_read_file_at (AT_FDCWD, path, 64, &data, &len, NULL) < 0 || len == 0)
    return false;
  return mode == HUSK_CGROUP_V1 ? strncmp (data, "FROZEN", 6) == 0 : data[0] == '1';
}

const char *
cli_container_status_name (const struct husk_container_state *st)
{
  return cli_container_paused (st) ? "paused" : husk_container_status_name (st->status);
}

int
cli_container_thaw (const char *id, const struct husk_container_state *st, husk_error_t *err)
{
  cleanup_cgroup struct husk_cgroup *cg = NULL;

  if (!cli_container_paused (st))
    return 0;
  if (husk_cgroup_open (id, st->cgroup_path, &cg, err) < 0)
    return -1;
  return husk_cgroup_freeze (cg, false, err);
}

/* ---- attach ---- */

int
cmd_attach (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_close int fd = -1;
  struct husk_container_state st;
  struct husk_attach_relay r = { 0 };
  const husk_json_t *c;
  bool tty, open_stdin, active;
  husk_store_t *s;
  int code = 0, ret;

  if (cli_store (ctx, &s, err) < 0 || cli_container_resolve (s, a->argv[0], &id, err) < 0)
    return -1;
  if (husk_store_container_state (s, id, &st, err) < 0)
    return -1;
  active = st.status == HUSK_CONTAINER_RUNNING;
  husk_container_state_clear (&st);
  if (!active)
    return husk_make_error (err, 0, "you can only attach to running containers");
  if (cli_container_config (s, id, &cfg, err) < 0)
    return -1;
  c = husk_json_get (cfg, "Config");
  tty = husk_json_bool (husk_json_get (c, "Tty"), false);
  open_stdin = husk_json_bool (husk_json_get (c, "OpenStdin"), false);
  if (husk_attach_connect (s, id, &fd, err) < 0)
    {
      husk_error_release (err);
      return husk_make_error (err, 0, "you can only attach to running containers");
    }
  husk_store_event_container (s, "attach", id, NULL);

  /* Without -i the container's stdin is /dev/null: nothing to forward.  */
  r.in_fd = open_stdin && !cli_bool (a, "no-stdin") ? 0 : -1;
  r.out_fd = 1;
  r.err_fd = 2;
  r.tty = tty && r.in_fd >= 0 && isatty (0);
  r.sig_proxy = !tty && (!cli_is_set (a, "sig-proxy") || cli_bool (a, "sig-proxy"));
  r.detach_keys = cli_is_set (a, "detach-keys")
                      ? cli_string (a, "detach-keys")
                      : husk_json_get_string (husk_json_get (cfg, "Husk"), "DetachKeys");
  fflush (stdout);
  ret = husk_attach_relay (fd, &r, &code, err);
  if (ret < 0)
    return -1;
  /* Detached: the container keeps running.  */
  if (ret == 1)
    return 0;
  return code;
}

/* ---- rename ---- */

int
cmd_rename (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_close int lockfd = -1;
  const char *name = a->argv[1];
  husk_store_t *s;
  int ret;

  if (cli_store_writer (ctx, &s, err) < 0 || cli_container_resolve (s, a->argv[0], &id, err) < 0)
    return -1;
  /* Container lock first (config.json), then the store lock (the index).  */
  if (husk_store_container_lock (s, id, &lockfd, err) < 0)
    return -1;
  if (cli_container_config (s, id, &cfg, err) < 0)
    return -1;
  if (husk_store_lock (s, true, err) < 0)
    return -1;
  ret = husk_store_container_rename (s, id, name, err);
  husk_store_unlock (s);
  if (ret < 0)
    return -1;
  husk_json_set_string (cfg, "Name", name[0] == '/' ? name + 1 : name);
  ret = config_write (s, id, cfg, err);
  if (ret >= 0)
    husk_store_event_container (s, "rename", id, NULL);
  return ret;
}

/* ---- pause, unpause ---- */

/* Every running container (for -a).  */
static int
running_ids (husk_store_t *s, char ***out, husk_error_t *err)
{
  struct husk_container_record *const *recs;
  size_t n, i;
  int ret;

  ret = husk_store_lock (s, false, err);
  if (ret < 0)
    return ret;
  ret = husk_store_containers (s, &recs, &n, err);
  *out = xzalloc (sizeof (char *));
  for (i = 0; ret >= 0 && i < n; i++)
    {
      struct husk_container_state st;
      husk_error_t e = NULL;

      if (husk_store_container_state (s, recs[i]->id, &st, &e) < 0)
        {
          husk_error_release (&e);
          continue;
        }
      if (st.status == HUSK_CONTAINER_RUNNING)
        strv_append (out, recs[i]->id);
      husk_container_state_clear (&st);
    }
  husk_store_unlock (s);
  return ret < 0 ? ret : 0;
}

static int
freeze_one (husk_store_t *s, const char *arg, bool frozen, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  cleanup_cgroup struct husk_cgroup *cg = NULL;
  cleanup_close int lockfd = -1;
  struct husk_container_state st;
  const char *why = NULL;
  bool paused;
  int ret;

  if (cli_container_resolve (s, arg, &id, err) < 0)
    return -1;
  if (husk_cgroup_detect (&why) == HUSK_CGROUP_NONE)
    return husk_make_error (err, 0, "%s needs a cgroup: %s", frozen ? "pausing" : "unpausing",
                            why ? why : "no cgroup support");
  /* The lock keeps a pause and an unpause of the same container in order.  */
  if (husk_store_container_lock (s, id, &lockfd, err) < 0)
    return -1;
  if (husk_store_container_state (s, id, &st, err) < 0)
    return -1;
  paused = cli_container_paused (&st);
  /* A stopping container may be unpaused (so that it can stop), not paused.  */
  if ((frozen ? st.status != HUSK_CONTAINER_RUNNING : !state_active (&st)) || st.cgroup_path == NULL
      || st.cgroup_path[0] == '\0')
    ret = husk_make_error (err, 0, "\"%s\" is not running, can't %s: container state improper", arg,
                           frozen ? "pause" : "unpause");
  else if (frozen && paused)
    ret = husk_make_error (err, 0, "\"%s\" is already paused: container state improper", arg);
  else if (!frozen && !paused)
    ret = husk_make_error (err, 0, "\"%s\" is not paused, can't unpause: container state improper", arg);
  else
    {
      ret = husk_cgroup_open (id, st.cgroup_path, &cg, err);
      if (ret >= 0)
        ret = husk_cgroup_freeze (cg, frozen, err);
      if (ret >= 0)
        husk_store_event_container (s, frozen ? "pause" : "unpause", id, NULL);
    }
  husk_container_state_clear (&st);
  return ret < 0 ? -1 : 0;
}

static int
pause_cmd (struct cli_ctx *ctx, struct cli_args *a, bool frozen, husk_error_t *err)
{
  cleanup_strv char **ids = NULL;
  bool all = cli_bool (a, "all");
  char *const *args = a->argv;
  size_t n = (size_t)a->argc, i;
  husk_store_t *s;
  int ret = 0;

  if (all && a->argc > 0)
    return husk_make_error (err, 0,
                            "when using the --all switch, you may not pass any container names or IDs");
  if (!all && a->argc == 0)
    return husk_make_error (err, 0, "you must provide at least one container name or ID");
  if (cli_store (ctx, &s, err) < 0)
    return -1;
  if (all)
    {
      if (running_ids (s, &ids, err) < 0)
        return -1;
      args = ids;
      n = strv_len (ids);
    }
  for (i = 0; i < n; i++)
    {
      husk_error_t one = NULL;

      if (freeze_one (s, args[i], frozen, &one) >= 0)
        {
          printf ("%s\n", args[i]);
          fflush (stdout);
          continue;
        }
      /* -a skips what is already in the asked state.  */
      if (all)
        {
          husk_error_release (&one);
          continue;
        }
      if (n == 1)
        {
          *err = one;
          return -1;
        }
      fprintf (stderr, "Error: %s\n", one->msg);
      husk_error_release (&one);
      ret = HUSK_EXIT_FAILURE;
    }
  return ret;
}

int
cmd_pause (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  return pause_cmd (ctx, a, true, err);
}

int
cmd_unpause (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  return pause_cmd (ctx, a, false, err);
}
