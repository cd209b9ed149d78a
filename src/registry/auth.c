/* husk: registry credentials in Podman's auth.json and Docker's
   config.json: {"auths": {"<key>": {"auth": "base64(user:password)"}}}.

   Keys are "host[:port]" or "host[:port]/namespace..."; the most specific
   key wins.  Docker writes "https://index.docker.io/v1/" style keys: they
   are matched by their host when no exact key is found, as
   containers/image does.  Credential helpers (credsStore, credHelpers) are
   not supported and are ignored.  */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/registry.h"
#include "husk/util.h"

/* An auth file is a handful of entries; refuse anything absurd.  */
#define AUTH_FILE_MAX (4 * 1024 * 1024)

/* ---- base64 ---- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
husk_base64_encode (const void *data, size_t len)
{
  const unsigned char *in = data;
  size_t out_len = 4 * ((len + 2) / 3);
  char *out = xmalloc (out_len + 1);
  size_t i;
  size_t o = 0;

  for (i = 0; i + 2 < len; i += 3)
    {
      uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
      out[o++] = b64_alphabet[(v >> 18) & 63];
      out[o++] = b64_alphabet[(v >> 12) & 63];
      out[o++] = b64_alphabet[(v >> 6) & 63];
      out[o++] = b64_alphabet[v & 63];
    }
  if (i < len)
    {
      uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
      out[o++] = b64_alphabet[(v >> 18) & 63];
      out[o++] = b64_alphabet[(v >> 12) & 63];
      out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
      out[o++] = '=';
    }
  out[o] = '\0';
  return out;
}

static int
b64_value (char c)
{
  const char *p;

  if (c == '\0')
    return -1;
  p = strchr (b64_alphabet, c);
  return p ? (int)(p - b64_alphabet) : -1;
}

/* Padding is optional: some tools strip it.  */
int
husk_base64_decode (const char *s, char **out, size_t *len, husk_error_t *err)
{
  size_t n = strlen (s);
  cleanup_free char *buf = NULL;
  uint32_t acc = 0;
  size_t bits = 0;
  size_t o = 0;
  size_t i;

  while (n > 0 && s[n - 1] == '=')
    n--;
  if (strlen (s) - n > 2 || n % 4 == 1)
    return husk_make_error (err, 0, "invalid base64 data");
  buf = xmalloc (n * 3 / 4 + 1);
  for (i = 0; i < n; i++)
    {
      int v = b64_value (s[i]);

      if (v < 0)
        return husk_make_error (err, 0, "invalid base64 data: unexpected character at offset %zu", i);
      acc = (acc << 6) | (uint32_t)v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
  buf[o] = '\0';
  *out = steal_pointer (&buf);
  if (len)
    *len = o;
  return 0;
}

/* ---- where the files are ---- */

static char *
home_dir (void)
{
  const char *home = getenv ("HOME");
  struct passwd *pw;

  if (home && *home)
    return xstrdup (home);
  pw = getpwuid (getuid ());
  return xstrdup (pw && pw->pw_dir ? pw->pw_dir : "/");
}

static char *
config_home_auth (void)
{
  const char *xdg = getenv ("XDG_CONFIG_HOME");
  cleanup_free char *home = NULL;

  if (xdg && *xdg)
    return xasprintf ("%s/containers/auth.json", xdg);
  home = home_dir ();
  return xasprintf ("%s/.config/containers/auth.json", home);
}

char *
husk_auth_file_path (const char *authfile)
{
  const char *env = getenv ("REGISTRY_AUTH_FILE");
  const char *runtime = getenv ("XDG_RUNTIME_DIR");

  if (authfile && *authfile)
    return xstrdup (authfile);
  if (env && *env)
    return xstrdup (env);
  if (runtime && *runtime)
    return xasprintf ("%s/containers/auth.json", runtime);
  return config_home_auth ();
}

/* The files to read, in order.  An explicit file (--authfile or
   $REGISTRY_AUTH_FILE, which is podman's default for --authfile) is the
   only one read.  */
static char **
auth_lookup_paths (const char *authfile)
{
  const char *env = getenv ("REGISTRY_AUTH_FILE");
  const char *docker = getenv ("DOCKER_CONFIG");
  cleanup_free char *home = NULL;
  char **paths = NULL;
  char *p;

  if ((authfile && *authfile) || (env && *env))
    {
      strv_append_take (&paths, husk_auth_file_path (authfile));
      return paths;
    }
  strv_append_take (&paths, husk_auth_file_path (NULL));
  p = config_home_auth ();
  if (strv_contains (paths, p))
    free (p);
  else
    strv_append_take (&paths, p);
  home = home_dir ();
  if (docker && *docker)
    strv_append_take (&paths, xasprintf ("%s/config.json", docker));
  else
    strv_append_take (&paths, xasprintf ("%s/.docker/config.json", home));
  return paths;
}

/* Read an auth file: 0 and *out NULL when it does not exist.  */
static int
auth_file_read (const char *path, husk_json_t **out, husk_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  int ret;

  *out = NULL;
  ret = husk_read_file_at (AT_FDCWD, path, AUTH_FILE_MAX, &buf, &len, err);
  if (ret < 0)
    {
      if ((*err)->status == ENOENT || (*err)->status == ENOTDIR)
        {
          husk_error_release (err);
          return 0;
        }
      return ret;
    }
  /* An empty file is what some tools leave behind: no credentials.  */
  if (len == 0)
    {
      *out = husk_json_new_object ();
      return 0;
    }
  *out = husk_json_parse (buf, len, err);
  if (*out == NULL)
    return husk_error_wrap (err, "reading auth file `%s`", path);
  if (husk_json_type (*out) != HUSK_JSON_OBJECT)
    {
      husk_json_free (*out);
      *out = NULL;
      return husk_make_error (err, 0, "reading auth file `%s`: not a JSON object", path);
    }
  return 0;
}

/* ---- lookup ---- */

static char *
normalize_registry (const char *host)
{
  if (strcmp (host, "index.docker.io") == 0 || strcmp (host, "registry-1.docker.io") == 0)
    return xstrdup ("docker.io");
  return xstrdup (host);
}

/* Docker's "https://index.docker.io/v1/" -> "docker.io"; a key without a
   scheme is kept whole (it may name a namespace).  */
static char *
normalize_auth_key (const char *key)
{
  const char *s = key;
  cleanup_free char *host = NULL;

  if (husk_has_prefix (s, "http://"))
    s += strlen ("http://");
  else if (husk_has_prefix (s, "https://"))
    s += strlen ("https://");
  if (s == key)
    return normalize_registry (key);
  host = xstrndup (s, strcspn (s, "/"));
  return normalize_registry (host);
}

/* "user:password" from an entry; 0 when the entry has no usable auth.  */
static int
decode_entry (const char *path, const char *key, const husk_json_t *entry, char **user, char **password,
              husk_error_t *err)
{
  const char *auth = husk_json_get_string (entry, "auth");
  cleanup_free char *decoded = NULL;
  char *colon;
  int ret;

  if (auth == NULL || *auth == '\0')
    return 0;
  ret = husk_base64_decode (auth, &decoded, NULL, err);
  if (ret < 0)
    return husk_error_wrap (err, "auth file `%s`: credentials for `%s`", path, key);
  colon = strchr (decoded, ':');
  /* Docker ignores such an entry too.  */
  if (colon == NULL)
    return 0;
  *user = xstrndup (decoded, (size_t)(colon - decoded));
  *password = xstrdup (colon + 1);
  return 1;
}

static int
lookup_in_file (const char *path, const husk_json_t *doc, const char *key, char **user, char **password,
                husk_error_t *err)
{
  husk_json_t *auths = husk_json_get (doc, "auths");
  cleanup_free char *k = xstrdup (key);
  cleanup_free char *host = xstrndup (key, strcspn (key, "/"));
  cleanup_free char *norm_host = normalize_registry (host);
  size_t i;
  int ret;

  if (husk_json_type (auths) != HUSK_JSON_OBJECT)
    return 0;
  /* host/ns1/ns2/repo, host/ns1/ns2, host/ns1, host.  */
  for (;;)
    {
      husk_json_t *entry = husk_json_get (auths, k);
      char *slash;

      if (entry)
        {
          ret = decode_entry (path, k, entry, user, password, err);
          if (ret != 0)
            return ret;
        }
      slash = strrchr (k, '/');
      if (slash == NULL)
        break;
      *slash = '\0';
    }
  for (i = 0; i < husk_json_object_len (auths); i++)
    {
      const char *ek = husk_json_object_key_at (auths, i);
      cleanup_free char *norm = normalize_auth_key (ek);

      if (strcmp (norm, norm_host) != 0)
        continue;
      ret = decode_entry (path, ek, husk_json_object_value_at (auths, i), user, password, err);
      if (ret != 0)
        return ret;
    }
  return 0;
}

static void
note_helpers (const char *path, const husk_json_t *doc, const char *host)
{
  const char *store = husk_json_get_string (doc, "credsStore");
  const char *helper = husk_json_get_string (husk_json_get (doc, "credHelpers"), host);

  if (helper && *helper)
    husk_debug ("%s: credential helper `%s` for %s is not supported; ignoring it", path, helper, host);
  else if (store && *store)
    husk_debug ("%s: credsStore `%s` is not supported; no plain credentials for %s there", path, store, host);
}

int
husk_auth_lookup (const char *authfile, const char *key, char **user, char **password, husk_error_t *err)
{
  cleanup_strv char **paths = auth_lookup_paths (authfile);
  cleanup_free char *host = xstrndup (key, strcspn (key, "/"));
  size_t i;
  int ret;

  *user = NULL;
  *password = NULL;
  for (i = 0; paths[i]; i++)
    {
      cleanup_json husk_json_t *doc = NULL;

      ret = auth_file_read (paths[i], &doc, err);
      if (ret < 0)
        return ret;
      if (doc == NULL)
        continue;
      ret = lookup_in_file (paths[i], doc, key, user, password, err);
      if (ret < 0)
        return ret;
      if (ret > 0)
        {
          husk_debug ("found credentials for %s in %s", key, paths[i]);
          return 1;
        }
      note_helpers (paths[i], doc, host);
    }
  return 0;
}

/* ---- save and remove ---- */

static int
auth_file_write (const char *path, const husk_json_t *doc, husk_error_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *data = NULL;
  const char *slash = strrchr (path, '/');
  size_t len = 0;
  int ret;

  if (slash && slash != path)
    {
      dir = xstrndup (path, (size_t)(slash - path));
      ret = husk_mkdir_p (dir, 0700, err);
      if (ret < 0)
        return husk_error_wrap (err, "writing auth file `%s`", path);
    }
  data = husk_json_serialize (doc, true, &len);
  ret = husk_write_file_atomic (AT_FDCWD, path, data, len, 0600, err);
  if (ret < 0)
    return husk_error_wrap (err, "writing auth file `%s`", path);
  return 0;
}

/* The "auths" object of doc, made when missing.  */
static husk_json_t *
auths_of (husk_json_t *doc)
{
  husk_json_t *auths = husk_json_get (doc, "auths");

  if (husk_json_type (auths) != HUSK_JSON_OBJECT)
    {
      auths = husk_json_new_object ();
      husk_json_set (doc, "auths", auths);
    }
  return auths;
}

int
husk_auth_save (const char *authfile, const char *key, const char *user, const char *password,
                husk_error_t *err)
{
  cleanup_free char *path = husk_auth_file_path (authfile);
  cleanup_json husk_json_t *doc = NULL;
  cleanup_free char *plain = NULL;
  cleanup_free char *encoded = NULL;
  husk_json_t *entry;
  int ret;

  if (key == NULL || *key == '\0')
    return husk_make_error (err, EINVAL, "save credentials: empty registry name");
  ret = auth_file_read (path, &doc, err);
  if (ret < 0)
    return ret;
  if (doc == NULL)
    doc = husk_json_new_object ();
  plain = xasprintf ("%s:%s", user, password ? password : "");
  entry = husk_json_new_object ();
  encoded = husk_base64_encode (plain, strlen (plain));
  husk_json_set_string (entry, "auth", encoded);
  husk_json_set (auths_of (doc), key, entry);
  /* Don't leave the password in freed heap memory longer than needed.  */
  explicit_bzero (plain, strlen (plain));
  return auth_file_write (path, doc, err);
}

int
husk_auth_remove (const char *authfile, const char *key, husk_error_t *err)
{
  cleanup_free char *path = husk_auth_file_path (authfile);
  cleanup_json husk_json_t *doc = NULL;
  husk_json_t *auths;
  bool removed = false;
  int ret;

  ret = auth_file_read (path, &doc, err);
  if (ret < 0)
    return ret;
  if (doc == NULL)
    return 0;
  auths = husk_json_get (doc, "auths");
  if (husk_json_type (auths) != HUSK_JSON_OBJECT)
    return 0;

  if (key == NULL)
    {
      removed = husk_json_object_len (auths) > 0;
      husk_json_set (doc, "auths", husk_json_new_object ());
    }
  else
    {
      removed = husk_json_remove (auths, key);
      /* Docker-style keys for the same host ("https://host/v1/").  */
      if (!removed && strchr (key, '/') == NULL)
        {
          cleanup_free char *norm_key = normalize_registry (key);
          size_t i = 0;

          while (i < husk_json_object_len (auths))
            {
              cleanup_free char *ek = xstrdup (husk_json_object_key_at (auths, i));
              cleanup_free char *norm = normalize_auth_key (ek);

              if (strcmp (norm, norm_key) == 0 && husk_json_remove (auths, ek))
                removed = true;
              else
                i++;
            }
        }
    }
  if (!removed)
    return 0;
  ret = auth_file_write (path, doc, err);
  if (ret < 0)
    return ret;
  return 1;
}

int
husk_auth_parse_creds (const char *creds, char **user, char **password, husk_error_t *err)
{
  const char *colon;

  *user = NULL;
  *password = NULL;
  if (creds == NULL || *creds == '\0')
    return husk_make_error (err, 0, "credentials can't be empty");
  colon = strchr (creds, ':');
  if (colon == creds)
    return husk_make_error (err, 0, "username can't be empty");
  if (colon == NULL)
    {
      /* No password: the caller asks for it.  */
      *user = xstrdup (creds);
      return 0;
    }
  *user = xstrndup (creds, (size_t)(colon - creds));
  *password = xstrdup (colon + 1);
  return 0;
}
