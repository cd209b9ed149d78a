/* husk: update, new resource limits and restart policy for containers.

   The flags are merged into config.json's Husk.CgroupFlags (a flag given
   again replaces its earlier value) and re-parsed as a whole, exactly as
   the next start will parse them, so a combination start would refuse
   (--memory-swap below --memory ...) is refused here first.  A running
   container's cgroup gets the merged limits (husk_cgroup_update); only
   then is config.json replaced, so a failure leaves the container as it
   was.  --restart only changes config.json: the running monitor keeps the
   policy it started with, the new one applies from the next start.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/util.h"

/* The flags of `update` that are cgroup limits (husk_cgroup_parse_flag
   names).  */
static const char *const limit_flags[]
    = { "memory",     "memory-swap", "cpus",       "cpu-quota",    "cpu-period",
        "cpu-shares", "cpuset-cpus", "pids-limit", "blkio-weight", NULL };

struct update
{
  husk_store_t *s;
  const struct cli_args *a;
  bool any_limit;
  const char *restart; /* NULL: unchanged */
  struct husk_restart_policy rp;
};

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

static husk_json_t *
flag_pair (const char *flag, const char *value)
{
  husk_json_t *pair = husk_json_new_array ();
  husk_json_array_append (pair, husk_json_new_string (flag));
  husk_json_array_append (pair, husk_json_new_string (value));
  return pair;
}

static bool
updated (const struct cli_args *a, const char *flag)
{
  size_t i;
  for (i = 0; limit_flags[i]; i++)
    if (strcmp (limit_flags[i], flag) == 0)
      return cli_is_set (a, flag);
  return false;
}

/* New Husk.CgroupFlags: the old pairs not given again, then the given
   ones; *limits gets them all parsed.  */
static int
merge_flags (const struct cli_args *a, const husk_json_t *old, husk_json_t **out,
             struct husk_cgroup_limits *limits, husk_error_t *err)
{
  husk_json_t *flags = husk_json_new_array ();
  size_t i;

  *out = flags;
  for (i = 0; i < husk_json_array_len (old); i++)
    {
      const husk_json_t *pair = husk_json_array_at (old, i);
      const char *flag = husk_json_string (husk_json_array_at (pair, 0));
      const char *value = husk_json_string (husk_json_array_at (pair, 1));

      if (flag == NULL || value == NULL || updated (a, flag))
        continue;
      husk_json_array_append (flags, flag_pair (flag, value));
    }
  for (i = 0; limit_flags[i]; i++)
    if (cli_is_set (a, limit_flags[i]))
      husk_json_array_append (flags, flag_pair (limit_flags[i], cli_string (a, limit_flags[i])));
  for (i = 0; i < husk_json_array_len (flags); i++)
    {
      const husk_json_t *pair = husk_json_array_at (flags, i);
      if (husk_cgroup_parse_flag (limits, husk_json_string (husk_json_array_at (pair, 0)),
                                  husk_json_string (husk_json_array_at (pair, 1)), err)
          < 0)
        return -1;
    }
  return husk_cgroup_limits_validate (limits, err);
}

/* HostConfig's limit fields, as create writes them.  */
static void
set_host_config (husk_json_t *hc, const struct husk_cgroup_limits *l)
{
  husk_json_set_int (hc, "Memory", l->memory);
  husk_json_set_int (hc, "MemorySwap", l->memory_swap);
  husk_json_set_int (hc, "NanoCpus", (int64_t)l->nano_cpus);
  husk_json_set_int (hc, "CpuQuota", l->cpu_quota);
  husk_json_set_int (hc, "CpuPeriod", (int64_t)l->cpu_period);
  husk_json_set_int (hc, "CpuShares", (int64_t)l->cpu_shares);
  husk_json_set_string (hc, "CpusetCpus", l->cpuset_cpus ? l->cpuset_cpus : "");
  husk_json_set_int (hc, "PidsLimit", l->pids_limit);
  husk_json_set_int (hc, "BlkioWeight", l->blkio_weight);
}

/* Apply LIMITS to a running container's cgroup.  */
static int
apply_limits (const char *id, const struct husk_container_state *st, const struct husk_cgroup_limits *limits,
              husk_error_t *err)
{
  cleanup_cgroup struct husk_cgroup *cg = NULL;
  const char *why = NULL;
  int ret;

  if (husk_cgroup_detect (&why) == HUSK_CGROUP_NONE || st->cgroup_path == NULL || st->cgroup_path[0] == '\0')
    return husk_make_error (err, 0, "updating the limits of a running container needs a cgroup: %s",
                            why ? why : "the container has none");
  if (husk_cgroup_open (id, st->cgroup_path, &cg, err) < 0)
    return -1;
  ret = husk_cgroup_update (cg, limits, err);
  if (ret < 0 && (*err)->status == EBUSY)
    {
      husk_error_release (err);
      return husk_make_error (err, 0, "cannot set --memory: memory limit below current usage");
    }
  return ret;
}

static int
update_one (struct update *u, const char *arg, husk_error_t *err)
{
  cleanup_cgroup_limits struct husk_cgroup_limits limits = { 0 };
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_free char *id = NULL;
  cleanup_close int lockfd = -1;
  struct husk_container_record *r;
  struct husk_container_state st;
  husk_json_t *hc, *husk, *flags = NULL;
  int ret;

  ret = husk_store_lock (u->s, false, err);
  if (ret < 0)
    return ret;
  ret = cli_container_lookup (u->s, arg, &r, err);
  if (ret >= 0)
    id = xstrdup (r->id);
  husk_store_unlock (u->s);
  if (ret < 0)
    return ret;
  if (husk_store_container_lock (u->s, id, &lockfd, err) < 0
      || cli_container_config (u->s, id, &cfg, err) < 0)
    return -1;
  hc = husk_json_get (cfg, "HostConfig");
  husk = husk_json_get (cfg, "Husk");
  if (hc == NULL || husk == NULL)
    return husk_make_error (err, 0, "container %.12s: config.json has no HostConfig or Husk", id);

  if (u->restart)
    {
      husk_json_t *rpj = husk_json_new_object ();

      if (u->rp.name != HUSK_RESTART_NO && husk_json_bool (husk_json_get (hc, "AutoRemove"), false))
        {
          husk_json_free (rpj);
          return husk_make_error (err, 0, "the --rm option conflicts with --restart (other than \"no\")");
        }
      husk_json_set_string (rpj, "Name",
                            u->rp.name == HUSK_RESTART_NO ? "" : husk_restart_name_str (u->rp.name));
      husk_json_set_int (rpj, "MaximumRetryCount", u->rp.max_retries);
      husk_json_set (hc, "RestartPolicy", rpj);
    }
  if (u->any_limit)
    {
      ret = merge_flags (u->a, husk_json_get (husk, "CgroupFlags"), &flags, &limits, err);
      if (ret < 0)
        {
          husk_json_free (flags);
          return -1;
        }
      husk_json_set (husk, "CgroupFlags", flags);
      set_host_config (hc, &limits);
      if (husk_store_container_state (u->s, id, &st, err) < 0)
        return -1;
      ret = 0;
      if (st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING)
        ret = apply_limits (id, &st, &limits, err);
      husk_container_state_clear (&st);
      if (ret < 0)
        return -1;
    }
  return config_write (u->s, id, cfg, err);
}

int
cmd_update (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_cgroup_limits struct husk_cgroup_limits check = { 0 };
  struct update u = { 0 };
  int i, ret = 0;

  u.a = a;
  for (i = 0; limit_flags[i]; i++)
    if (cli_is_set (a, limit_flags[i]))
      {
        u.any_limit = true;
        /* Bad values fail before any container is touched.  */
        if (husk_cgroup_parse_flag (&check, limit_flags[i], cli_string (a, limit_flags[i]), err) < 0)
          return -1;
      }
  if (cli_is_set (a, "restart"))
    {
      u.restart = cli_string (a, "restart");
      if (husk_restart_policy_parse (u.restart, &u.rp, err) < 0)
        return -1;
    }
  if (!u.any_limit && u.restart == NULL)
    return husk_make_error (err, 0, "you must provide one or more flags when using this command");
  if (cli_store (ctx, &u.s, err) < 0)
    return -1;
  for (i = 0; i < a->argc; i++)
    {
      husk_error_t one = NULL;

      if (update_one (&u, a->argv[i], &one) >= 0)
        {
          printf ("%s\n", a->argv[i]);
          fflush (stdout);
          continue;
        }
      if (a->argc == 1)
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
