/* husk: pull, login, logout (push and search: registry-push.c).  */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "husk/registry.h"
#include "husk/util.h"

/* The flags pull shares with push and search (REGISTRY_OPTS in main.c).  */
static int
pull_registry_opts (const struct cli_args *a, struct husk_registry_opts *o, husk_error_t *err)
{
  const char *retry = cli_string (a, "retry");
  const char *delay = cli_string (a, "retry-delay");
  uint64_t n;

  memset (o, 0, sizeof (*o));
  o->authfile = cli_string (a, "authfile");
  o->creds = cli_string (a, "creds");
  o->cert_dir = cli_string (a, "cert-dir");
  o->tls_verify = cli_is_set (a, "tls-verify") ? (cli_bool (a, "tls-verify") ? 1 : 0) : -1;
  o->quiet = cli_bool (a, "quiet");
  o->progress = stderr;
  o->retries = 3;
  o->retry_delay_ms = 2000;
  if (retry)
    {
      if (!husk_parse_u64 (retry, &n) || n > 100)
        return husk_make_error (err, 0, "invalid --retry \"%s\": a number from 0 to 100", retry);
      o->retries = (unsigned)n;
    }
  if (delay && husk_registry_parse_duration (delay, &o->retry_delay_ms, err) < 0)
    return husk_error_wrap (err, "--retry-delay");
  return 0;
}

/* "--platform os/arch[/variant]", overridden piecewise by --os, --arch
   and --variant.  */
static int
pull_platform (const struct cli_args *a, struct husk_registry_pull_opts *o, char **buf, husk_error_t *err)
{
  const char *platform = cli_string (a, "platform");

  if (platform && *platform)
    {
      char *p = *buf = xstrdup (platform);
      char *arch = strchr (p, '/');
      char *variant = arch ? strchr (arch + 1, '/') : NULL;

      if (arch == NULL || arch == p || arch[1] == '\0'
          || (variant && (variant[1] == '\0' || strchr (variant + 1, '/'))))
        return husk_make_error (err, 0, "invalid platform \"%s\": expected OS/ARCH[/VARIANT]", platform);
      *arch++ = '\0';
      if (variant)
        *variant++ = '\0';
      o->os = p;
      o->arch = arch;
      o->variant = variant;
    }
  if (cli_string (a, "os"))
    o->os = cli_string (a, "os");
  if (cli_string (a, "arch"))
    o->arch = cli_string (a, "arch");
  if (cli_string (a, "variant"))
    o->variant = cli_string (a, "variant");
  return 0;
}

int
cmd_pull (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct husk_registry_pull_opts opts = { 0 };
  cleanup_free char *platform = NULL;
  cleanup_strv char **ids = NULL;
  const char *ref = a->argv[0];
  husk_store_t *s;
  int ret;

  ret = pull_registry_opts (a, &opts.reg, err);
  if (ret < 0)
    return ret;
  ret = pull_platform (a, &opts, &platform, err);
  if (ret < 0)
    return ret;
  opts.all_tags = cli_bool (a, "all-tags");
  if (opts.all_tags)
    {
      cleanup_reference struct husk_reference *r = NULL;
      ret = husk_reference_parse (ref, &r, err);
      if (ret < 0)
        return ret;
      if (r->tag || r->digest)
        return husk_make_error (err, 0, "tag can't be used with --all-tags/-a");
    }
  ret = cli_store_writer (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_registry_pull (s, ref, &opts, &ids, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; ids && ids[i]; i++)
    {
      husk_store_event (s, "image", "pull", ids[i], ref, NULL);
      printf ("%s\n", ids[i]);
    }
  return 0;
}

/* ---- login / logout ---- */

/* "host[/namespace]" -> "host".  */
static char *
key_host (const char *key)
{
  const char *slash = strchr (key, '/');
  return slash ? xstrndup (key, slash - key) : xstrdup (key);
}

/* A registry given as a URL ("https://host/v2/") keeps only its host, as
   podman does.  */
static char *
normalize_key (const char *arg)
{
  const char *p = arg;
  size_t len;

  if (husk_has_prefix (p, "https://"))
    p += strlen ("https://");
  else if (husk_has_prefix (p, "http://"))
    p += strlen ("http://");
  len = strlen (p);
  while (len > 0 && p[len - 1] == '/')
    len--;
  if (len >= 3 && strncmp (p + len - 3, "/v2", 3) == 0)
    len -= 3;
  return xstrndup (p, len);
}

/* Is the registry marked insecure in registries.conf?  */
static bool
conf_insecure (const char *host)
{
  cleanup_registries_conf husk_registries_conf_t *conf = NULL;
  struct husk_registry_endpoint *eps = NULL;
  husk_error_t err = NULL;
  size_t n = 0;
  bool insecure = false;

  if (husk_registries_conf_load (&conf, &err) < 0
      || husk_registries_conf_endpoints (conf, host, "", &eps, &n, &err) < 0)
    {
      husk_error_release (&err);
      return false;
    }
  for (size_t i = 0; i < n; i++)
    if (!eps[i].mirror)
      insecure = eps[i].insecure;
  husk_registry_endpoints_free (eps, n);
  return insecure;
}

/* One line from fd, without its line break.  */
static int
read_line (int fd, char **out, husk_error_t *err)
{
  struct husk_buf b = { 0 };
  char c;

  for (;;)
    {
      ssize_t n = read (fd, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          husk_buf_free (&b);
          return husk_make_error (err, errno, "read standard input");
        }
      if (n == 0 || c == '\n')
        break;
      husk_buf_append (&b, &c, 1);
      if (b.len > 65536)
        {
          husk_buf_free (&b);
          return husk_make_error (err, 0, "read standard input: line too long");
        }
    }
  if (b.len > 0 && b.data[b.len - 1] == '\r')
    b.data[--b.len] = '\0';
  *out = husk_buf_steal (&b, NULL);
  return 0;
}

static int
prompt (const char *what, bool echo, char **out, husk_error_t *err)
{
  struct termios old, raw;
  bool restore = false;
  int ret;

  if (!isatty (0))
    return husk_make_error (err, 0, "%s required: no terminal to ask on (use --%s)", what,
                            echo ? "username" : "password-stdin");
  fprintf (stderr, "%s: ", what);
  fflush (stderr);
  if (!echo && tcgetattr (0, &old) == 0)
    {
      raw = old;
      raw.c_lflag &= ~ECHO;
      restore = tcsetattr (0, TCSAFLUSH, &raw) == 0;
    }
  ret = read_line (0, out, err);
  if (restore)
    {
      tcsetattr (0, TCSAFLUSH, &old);
      fputc ('\n', stderr);
    }
  return ret;
}

static int
login_get (const char *authfile, const char *key, husk_error_t *err)
{
  cleanup_free char *user = NULL, *password = NULL;
  int ret;

  ret = husk_auth_lookup (authfile, key, &user, &password, err);
  if (ret < 0)
    return ret;
  if (password)
    explicit_bzero (password, strlen (password));
  if (ret == 0)
    return husk_make_error (err, 0, "not logged into %s", key);
  printf ("%s\n", user);
  return 0;
}

int
cmd_login (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  cleanup_free char *key = normalize_key (a->argv[0]);
  cleanup_free char *host = key_host (key);
  cleanup_free char *user = NULL, *password = NULL;
  const char *authfile = cli_string (a, "authfile");
  struct husk_registry_opts opts = { 0 };
  int ret = 0;

  (void)ctx;
  if (cli_bool (a, "get-login"))
    return login_get (authfile, key, err);
  if (cli_string (a, "password") && cli_bool (a, "password-stdin"))
    return husk_make_error (err, 0, "--password and --password-stdin are mutually exclusive");
  if (cli_string (a, "username"))
    user = xstrdup (cli_string (a, "username"));
  else
    {
      ret = prompt ("Username", true, &user, err);
      if (ret < 0)
        return ret;
    }
  if (*user == '\0')
    return husk_make_error (err, 0, "username is required");
  if (cli_string (a, "password"))
    password = xstrdup (cli_string (a, "password"));
  else if (cli_bool (a, "password-stdin"))
    ret = read_line (0, &password, err);
  else
    ret = prompt ("Password", false, &password, err);
  if (ret < 0)
    return ret;

  opts.authfile = authfile;
  opts.cert_dir = cli_string (a, "cert-dir");
  opts.tls_verify = cli_is_set (a, "tls-verify") ? (cli_bool (a, "tls-verify") ? 1 : 0) : -1;
  opts.retries = 0;
  ret = husk_registry_check_login (host, user, password, &opts, conf_insecure (host), err);
  if (ret == 0)
    ret = husk_auth_save (authfile, key, user, password, err);
  explicit_bzero (password, strlen (password));
  if (ret < 0)
    return husk_error_wrap (err, "logging into \"%s\"", key);
  printf ("Login Succeeded!\n");
  return 0;
}

int
cmd_logout (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *authfile = cli_string (a, "authfile");
  cleanup_free char *key = NULL;
  int ret;

  (void)ctx;
  if (cli_bool (a, "all"))
    {
      if (a->argc > 0)
        return husk_make_error (err, 0, "--all takes no registry argument");
      ret = husk_auth_remove (authfile, NULL, err);
      if (ret < 0)
        return ret;
      printf ("Removed login credentials for all registries\n");
      return 0;
    }
  if (a->argc == 0)
    return husk_make_error (err, 0, "no registry given: name one, or use --all");
  key = normalize_key (a->argv[0]);
  ret = husk_auth_remove (authfile, key, err);
  if (ret < 0)
    return ret;
  if (ret == 0)
    return husk_make_error (err, 0, "not logged into %s", key);
  printf ("Removed login credentials for %s\n", key);
  return 0;
}
