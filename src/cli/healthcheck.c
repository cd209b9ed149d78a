/* husk healthcheck run: run a container's healthcheck once, now, as
   Podman does.

   The check runs from the CLI (not the monitor) inside the container as
   `husk exec` would run it, and its result goes into the same record the
   monitor keeps (health.json, monitor.h), under the container lock, so
   it counts toward the status like any other check.  Nothing is printed
   and the exit code is 0 when the check passed; "unhealthy" and 1 when
   it failed.  A container that does not run or has no healthcheck is an
   error (125).  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "husk/util.h"

/* Everything the check needs, read under the shared store lock.  */
struct check
{
  char *id;
  struct husk_container_state st;
  husk_json_t *config;
  struct husk_health_config health;
  char **cmd;
  char **env;
  char **group_add;
  struct husk_security_spec sec;
  struct husk_cgroup *cg;
};

static void
check_clear (struct check *c)
{
  free (c->id);
  husk_container_state_clear (&c->st);
  husk_json_free (c->config);
  strv_free (c->cmd);
  strv_free (c->env);
  strv_free (c->group_add);
  husk_security_spec_release (&c->sec);
  if (c->cg != NULL)
    husk_cgroup_free (c->cg);
}

static int
check_load (husk_store_t *s, const char *arg, struct check *c, husk_error_t *err)
{
  struct husk_container_record *rec = NULL;
  const husk_json_t *cfg;
  int ret;

  ret = cli_container_lookup (s, arg, &rec, err);
  if (ret < 0)
    return ret;
  c->id = xstrdup (rec->id); /* rec is the store's */
  if (husk_store_container_state (s, c->id, &c->st, err) < 0
      || cli_container_config (s, c->id, &c->config, err) < 0)
    return -1;
  cli_container_health (c->config, &c->health, &c->cmd);
  if (c->cmd == NULL)
    return husk_make_error (err, 0, "container %s has no defined healthcheck", arg);
  if ((c->st.status != HUSK_CONTAINER_RUNNING && c->st.status != HUSK_CONTAINER_STOPPING) || c->st.pid <= 0)
    return husk_make_error (err, 0, "container %s is not running", arg);
  /* A process joining a frozen cgroup would freeze before it could exec.  */
  if (cli_container_paused (&c->st))
    return husk_make_error (err, 0, "container %s is paused", arg);
  cfg = husk_json_get (c->config, "Config");
  c->env = husk_json_to_strv (husk_json_get (cfg, "Env"));
  c->group_add = husk_json_to_strv (husk_json_get_path (c->config, "HostConfig", "GroupAdd", NULL));
  if (cli_container_security_build (s, husk_json_get (c->config, "HostConfig"), false, &c->sec, err) < 0)
    return -1;
  if (c->st.cgroup_path != NULL && c->st.cgroup_path[0] != '\0'
      && husk_cgroup_open (c->id, c->st.cgroup_path, &c->cg, err) < 0)
    return -1;
  return 0;
}

int
cmd_healthcheck_run (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct check c;
  struct husk_exec_spec es;
  struct husk_health_result r;
  cleanup_free char *output = NULL;
  cleanup_close int lockfd = -1;
  husk_store_t *s = NULL;
  const husk_json_t *cfg;
  int ret;

  memset (&c, 0, sizeof (c));
  husk_security_spec_init (&c.sec);
  /* Records are only read: no user namespace to enter even rootless
     (the runtime joins the container's own).  */
  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    goto out;
  ret = check_load (s, a->argv[0], &c, err);
  husk_store_unlock (s);
  if (ret < 0)
    goto out;

  cfg = husk_json_get (c.config, "Config");
  memset (&es, 0, sizeof (es));
  es.pid = c.st.pid;
  es.env = c.env;
  es.cwd = husk_json_get_string (cfg, "WorkingDir");
  es.user = husk_json_get_string (cfg, "User");
  es.group_add = c.group_add;
  es.security = &c.sec;
  es.cgroup = c.cg;
  husk_health_run_once (&es, &c.health, &r, &output);

  ret = husk_store_container_lock (s, c.id, &lockfd, err);
  if (ret == 0)
    ret = husk_health_record (s, c.id, &c.health, c.st.started_at, &r, NULL, err);
  if (ret < 0)
    goto out;
  if (r.exit_code != 0)
    {
      printf ("unhealthy\n");
      ret = 1;
    }

out:
  check_clear (&c);
  return ret;
}
