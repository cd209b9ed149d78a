/* husk: run, create, start.

   create: resolve (or pull) the image, turn the flags into config.json
   (container-config.c: every flag checked first), then add the record
   under the exclusive store lock.  start: build the runtime spec from
   config.json (container-spec.c) and fork the monitor, which starts the
   process; in the foreground the CLI is the monitor's first attach
   client, connected by a socketpair before the process starts, so no
   output is lost.  run: create + start.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "husk/fs.h"
#include "husk/registry.h"
#include "husk/util.h"

static int
pull_image (husk_store_t *s, const char *ref, husk_error_t *err)
{
  struct husk_registry_pull_opts opts = { 0 };
  cleanup_strv char **ids = NULL;

  opts.reg.tls_verify = -1;
  /* An implicit pull is a guess that the image is remote: fail fast when
     no registry answers instead of backing off for 14 s.  */
  opts.reg.retries = 0;
  opts.reg.progress = stderr;
  return husk_registry_pull (s, ref, &opts, &ids, err);
}

int
cli_image_resolve (husk_store_t *s, const char *arg, const char *policy, char **id, char **config,
                   size_t *config_len, husk_error_t *err)
{
  struct husk_image_record *r = NULL;
  int ret;

  if (policy == NULL)
    policy = "missing";
  if (strcmp (policy, "always") == 0 && pull_image (s, arg, err) < 0)
    return -1;
  if (husk_store_lock (s, false, err) < 0)
    return -1;
  ret = cli_image_lookup (s, arg, &r, err);
  if (ret < 0 && strcmp (policy, "never") != 0 && strcmp (policy, "always") != 0)
    {
      husk_error_t pull_err = NULL;
      husk_store_unlock (s);
      if (pull_image (s, arg, &pull_err) < 0)
        {
          /* Report both: the local miss and why the pull failed.  */
          husk_error_wrap (&pull_err, "%s; pulling it failed", (*err)->msg);
          husk_error_release (err);
          *err = pull_err;
          return -1;
        }
      husk_error_release (err);
      if (husk_store_lock (s, false, err) < 0)
        return -1;
      ret = cli_image_lookup (s, arg, &r, err);
    }
  if (ret >= 0)
    {
      *id = xstrdup (r->id);
      ret = husk_store_image_config (s, r->id, config, config_len, err);
    }
  husk_store_unlock (s);
  return ret < 0 ? -1 : 0;
}

/* The name ps and inspect show for the image: what the user typed,
   normalized like stored names, or the id.  */
static char *
image_display_name (const struct husk_image_record *r, const char *arg)
{
  size_t i;
  for (i = 0; r->names && r->names[i]; i++)
    {
      cleanup_reference struct husk_reference *ref = NULL;
      if (husk_reference_parse (arg, &ref, NULL) == 0 && husk_reference_matches (ref, r->names[i]))
        return xstrdup (r->names[i]);
    }
  if (r->names && r->names[0] && strncmp (arg, r->id, strlen (arg)) != 0)
    return xstrdup (r->names[0]);
  return xstrdup (r->id);
}

static int
write_cidfile (const char *path, const char *id, husk_error_t *err)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      if (errno == EEXIST)
        return husk_make_error (err, EEXIST, "container id file %s already exists: remove it first", path);
      return husk_make_error (err, errno, "create --cidfile %s", path);
    }
  if (husk_write_all (fd, id, strlen (id), err) < 0)
    {
      unlink (path);
      return -1;
    }
  return 0;
}

/* Create the container; *id_out gets its id.  */
static int
create_container (struct cli_ctx *ctx, struct cli_args *a, husk_store_t **sout, char **id_out,
                  husk_error_t *err)
{
  cleanup_free char *image_id = NULL;
  cleanup_free char *config_data = NULL;
  cleanup_json husk_json_t *image_config = NULL;
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_free char *id = husk_store_container_new_id ();
  cleanup_free char *cfg_text = NULL;
  cleanup_free char *display = NULL;
  cleanup_strv char **command = NULL;
  struct husk_image_record *img;
  struct husk_container_new c = { 0 };
  const char *cidfile = cli_string (a, "cidfile");
  const char *pull = cli_string (a, "pull");
  size_t len, i;
  husk_store_t *s;
  int ret;

  if (pull && strcmp (pull, "missing") && strcmp (pull, "always") && strcmp (pull, "never")
      && strcmp (pull, "newer"))
    return husk_make_error (err, EINVAL, "invalid --pull \"%s\": use always, missing or never", pull);
  if (cidfile && access (cidfile, F_OK) == 0)
    return husk_make_error (err, EEXIST, "container id file %s already exists: remove it first", cidfile);
  if (cli_store_writer (ctx, &s, err) < 0)
    return -1;
  *sout = s;
  if (cli_image_resolve (s, a->argv[0], pull, &image_id, &config_data, &len, err) < 0)
    return -1;
  image_config = husk_json_parse (config_data, len, err);
  if (image_config == NULL)
    return husk_error_wrap (err, "image %.12s: config", image_id);

  if (husk_store_lock (s, true, err) < 0)
    return -1;
  ret = husk_store_image_find (s, image_id, &img, err);
  if (ret == 0)
    ret = husk_make_error (err, ENOENT, "%s: image not known (removed meanwhile)", a->argv[0]);
  if (ret < 0)
    goto out;
  display = image_display_name (img, a->argv[0]);
  ret = cli_container_config_build (a, id, img, display, image_config, &cfg, err);
  if (ret < 0)
    goto out;
  command = xzalloc (sizeof (char *));
  strv_append (&command, husk_json_get_string (cfg, "Path"));
  for (i = 0; i < husk_json_array_len (husk_json_get (cfg, "Args")); i++)
    strv_append (&command, husk_json_string (husk_json_array_at (husk_json_get (cfg, "Args"), i)) ?: "");

  c.id = id;
  c.name = cli_string (a, "name");
  c.image_id = img->id;
  c.image_name = display;
  c.command = command;
  c.labels = husk_json_get_path (cfg, "Config", "Labels", NULL);
  c.ephemeral = cli_bool (a, "rm");
  {
    /* The name goes into config.json too; a generated one is known only
       after the create, so patch it in by a second write in that case.  */
    if (c.name)
      husk_json_set_string (cfg, "Name", c.name);
    cfg_text = husk_json_serialize (cfg, false, &len);
    c.config = cfg_text;
    c.config_len = len;
  }
  {
    cleanup_free char *name = NULL;
    ret = husk_store_container_create (s, &c, &name, err);
    if (ret >= 0 && c.name == NULL)
      {
        cleanup_free char *dir = husk_store_container_dir (s, id);
        cleanup_close int dfd = open (dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        free (cfg_text);
        husk_json_set_string (cfg, "Name", name);
        cfg_text = husk_json_serialize (cfg, false, &len);
        if (dfd < 0)
          ret = husk_make_error (err, errno, "open %s", dir);
        else if (c.ephemeral)
          ret = husk_write_file_atomic_nosync (dfd, "config.json", cfg_text, len, 0600, err);
        else
          ret = husk_write_file_atomic (dfd, "config.json", cfg_text, len, 0600, err);
      }
  }
  if (ret >= 0)
    husk_store_event_container (s, "create", id, NULL);
out:
  husk_store_unlock (s);
  if (ret < 0)
    return -1;
  if (cidfile && write_cidfile (cidfile, id, err) < 0)
    return -1;
  *id_out = steal_pointer (&id);
  return 0;
}

int
cmd_create (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  husk_store_t *s;

  if (create_container (ctx, a, &s, &id, err) < 0)
    return -1;
  printf ("%s\n", id);
  return 0;
}

int
cli_container_start (husk_store_t *s, const char *id, const struct cli_start *o, int *exit_code,
                     husk_error_t *err)
{
  cleanup_json husk_json_t *cfg = NULL;
  struct cli_container_spec sp;
  struct husk_container_state st = { 0 };
  int sv[2] = { -1, -1 };
  pid_t pid;
  int ret;

  *exit_code = -1;
  if (husk_store_container_state (s, id, &st, err) < 0)
    return -1;
  ret = st.status == HUSK_CONTAINER_RUNNING || st.status == HUSK_CONTAINER_STOPPING;
  husk_container_state_clear (&st);
  if (ret)
    return husk_make_error (err, EBUSY, "container %.12s is already running", id);
  if (cli_container_config (s, id, &cfg, err) < 0)
    return -1;
  if (cli_container_spec_build (s, id, cfg, &sp, err) < 0)
    {
      cli_container_spec_free (&sp);
      return -1;
    }
  /* The runtime's own warning would go to the monitor's /dev/null.  */
  if (husk_cgroup_limits_any (&sp.cgroup))
    {
      const char *why = NULL;
      if (husk_cgroup_detect (&why) == HUSK_CGROUP_NONE)
        husk_warn ("cgroup limits are ignored: %s", why ? why : "no cgroup support");
    }
  if (o->attach)
    {
      if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        {
          cli_container_spec_free (&sp);
          return husk_make_error (err, errno, "socketpair");
        }
      sp.mon.client_fd = sv[1];
      sp.mon.client_stdin = o->stdin_open;
      if (sp.mon.tty && isatty (0))
        {
          struct winsize ws;
          if (ioctl (0, TIOCGWINSZ, &ws) == 0)
            {
              sp.mon.rows = ws.ws_row;
              sp.mon.cols = ws.ws_col;
            }
        }
    }
  fflush (stdout);
  fflush (stderr);
  ret = husk_monitor_start (&sp.mon, &pid, err);
  if (sv[1] >= 0)
    close (sv[1]);
  if (ret < 0 || !o->attach)
    {
      if (sv[0] >= 0)
        close (sv[0]);
      cli_container_spec_free (&sp);
      return ret < 0 ? -1 : 0;
    }
  {
    struct husk_attach_relay r = { 0 };
    const char *keys = husk_json_get_string (husk_json_get (cfg, "Husk"), "DetachKeys");

    r.in_fd = o->stdin_open ? 0 : -1;
    r.out_fd = 1;
    r.err_fd = 2;
    r.tty = sp.mon.tty && o->stdin_open && isatty (0);
    r.sig_proxy = o->sig_proxy && !sp.mon.tty;
    r.detach_keys = o->detach_keys ? o->detach_keys : keys;
    ret = husk_attach_relay (sv[0], &r, exit_code, err);
    close (sv[0]);
  }
  cli_container_spec_free (&sp);
  if (ret == 1)
    {
      *exit_code = -1;
      return 0;
    }
  return ret < 0 ? -1 : 0;
}

int
cmd_run (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *id = NULL;
  struct cli_start o = { 0 };
  bool detach = cli_bool (a, "detach");
  int code = -1;
  husk_store_t *s;

  if (create_container (ctx, a, &s, &id, err) < 0)
    return -1;
  o.attach = !detach;
  o.stdin_open = cli_bool (a, "interactive");
  o.sig_proxy = !cli_is_set (a, "sig-proxy") || cli_bool (a, "sig-proxy");
  o.detach_keys = cli_is_set (a, "detach-keys") ? cli_string (a, "detach-keys") : NULL;
  if (cli_container_start (s, id, &o, &code, err) < 0)
    return -1;
  if (detach)
    {
      printf ("%s\n", id);
      return 0;
    }
  return code < 0 ? 0 : code;
}

int
cmd_start (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct cli_start o = { 0 };
  husk_store_t *s;
  int i, code = 0, ret = 0;

  o.attach = cli_bool (a, "attach");
  o.stdin_open = cli_bool (a, "interactive");
  o.sig_proxy = o.attach && (!cli_is_set (a, "sig-proxy") || cli_bool (a, "sig-proxy"));
  o.detach_keys = cli_is_set (a, "detach-keys") ? cli_string (a, "detach-keys") : NULL;
  if (o.attach && a->argc > 1)
    return husk_make_error (err, EINVAL, "you cannot start and attach multiple containers at once");
  if (cli_store_writer (ctx, &s, err) < 0)
    return -1;
  for (i = 0; i < a->argc; i++)
    {
      struct husk_container_record *r;
      cleanup_free char *id = NULL;
      husk_error_t one = NULL;

      if (husk_store_lock (s, false, &one) < 0 || cli_container_lookup (s, a->argv[i], &r, &one) < 0)
        {
          husk_store_unlock (s);
          goto fail;
        }
      id = xstrdup (r->id);
      husk_store_unlock (s);
      if (cli_container_start (s, id, &o, &code, &one) < 0)
        goto fail;
      if (!o.attach)
        printf ("%s\n", a->argv[i]);
      continue;
    fail:
      if (a->argc == 1)
        {
          *err = one;
          return -1;
        }
      fprintf (stderr, "Error: %s\n", one->msg);
      husk_error_release (&one);
      ret = HUSK_EXIT_FAILURE;
    }
  if (o.attach && ret == 0)
    return code < 0 ? 0 : code;
  return ret;
}
