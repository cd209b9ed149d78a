/* husk port: a container's published ports, as Docker and Podman print
   them.

     husk port CONTAINER              "80/tcp -> 127.0.0.1:8080" per mapping
     husk port CONTAINER 80[/tcp]     "127.0.0.1:8080" per mapping of that port
     husk port -a [80[/tcp]]          the same for every running container,
                                      each line after its short id and a tab

   The mappings are those of HostConfig.PortBindings (host ports chosen at
   create), shown for a named container whatever its state, as Podman.  An
   address of "" (every address) prints as 0.0.0.0.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "husk/util.h"

struct port_filter
{
  bool any;
  struct husk_port_mapping want; /* container_port and proto */
};

static int
parse_filter (const char *arg, struct port_filter *f, husk_error_t *err)
{
  husk_error_t ignored = NULL;

  memset (f, 0, sizeof (*f));
  f->any = arg == NULL;
  if (arg == NULL)
    return 0;
  if (husk_port_parse_exposed (arg, &f->want, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return husk_make_error (err, 0, "invalid port \"%s\": use PORT or PORT/PROTO (tcp, udp)", arg);
    }
  return 0;
}

/* Print one container's lines; true when something matched.  */
static bool
print_ports (const husk_json_t *config, const char *prefix, const struct port_filter *f)
{
  size_t n = 0, i;
  cleanup_free struct husk_port_mapping *ports = cli_container_ports (config, &n);
  bool found = false;

  for (i = 0; i < n; i++)
    {
      const struct husk_port_mapping *m = &ports[i];
      const char *ip = m->host_ip[0] ? m->host_ip : "0.0.0.0";

      if (f->any)
        printf ("%s%u/%s -> %s:%u\n", prefix, m->container_port, m->proto, ip, m->host_port);
      else if (m->container_port == f->want.container_port && strcmp (m->proto, f->want.proto) == 0)
        printf ("%s%s:%u\n", prefix, ip, m->host_port);
      else
        continue;
      found = true;
    }
  return found;
}

static int
port_all (husk_store_t *s, const struct port_filter *f, husk_error_t *err)
{
  struct husk_container_record *const *recs;
  size_t n, i;
  int ret;

  ret = husk_store_containers (s, &recs, &n, err);
  if (ret < 0)
    return ret;
  for (i = 0; i < n; i++)
    {
      struct husk_container_state st;
      cleanup_json husk_json_t *config = NULL;
      cleanup_free char *prefix = NULL;
      husk_error_t ignored = NULL;
      bool running;

      memset (&st, 0, sizeof (st));
      if (husk_store_container_state (s, recs[i]->id, &st, &ignored) < 0)
        {
          husk_error_release (&ignored);
          continue;
        }
      running = st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING;
      husk_container_state_clear (&st);
      if (!running)
        continue;
      if (cli_container_config (s, recs[i]->id, &config, &ignored) < 0)
        {
          husk_error_release (&ignored);
          continue;
        }
      prefix = xasprintf ("%.12s\t", recs[i]->id);
      print_ports (config, prefix, f);
    }
  return 0;
}

int
cmd_port (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  bool all = cli_bool (a, "all");
  const char *name = all ? NULL : (a->argc > 0 ? a->argv[0] : NULL);
  const char *port = all ? (a->argc > 0 ? a->argv[0] : NULL) : (a->argc > 1 ? a->argv[1] : NULL);
  struct husk_container_record *r;
  cleanup_json husk_json_t *config = NULL;
  struct port_filter f;
  husk_store_t *s;
  int ret;

  if (all && a->argc > 1)
    return husk_make_error (err, 0, "--all takes at most one argument, the port (no container)");
  if (!all && name == NULL)
    return husk_make_error (err, 0, "a container name or ID is required (or --all)");
  if (parse_filter (port, &f, err) < 0)
    return -1;
  ret = cli_store_lock (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  if (all)
    {
      ret = port_all (s, &f, err);
      husk_store_unlock (s);
      return ret;
    }
  ret = cli_container_lookup (s, name, &r, err);
  if (ret >= 0)
    ret = cli_container_config (s, r->id, &config, err);
  husk_store_unlock (s);
  if (ret < 0)
    return ret;
  if (!print_ports (config, "", &f) && port != NULL)
    return husk_make_error (err, 0, "failed to find published port \"%u/%s\"", f.want.container_port,
                            f.want.proto);
  return 0;
}
