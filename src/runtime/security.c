/* husk: the security spec (defaults, --security-opt), its preparation in
   the parent and its application in the child, in the order documented in
   include/husk/security.h.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/security.h"
#include "husk/util.h"
#include "security-internal.h"

/* Podman's default nofile and nproc (define.RLimitDefaultValue).  */
#define DEFAULT_RLIMIT 1048576

/* A profile is a few tens of KiB; refuse anything absurd.  */
#define MAX_PROFILE_SIZE (4 * 1024 * 1024)

void
husk_security_spec_init (struct husk_security_spec *spec)
{
  memset (spec, 0, sizeof (*spec));
  spec->caps = husk_caps_default ();
  spec->seccomp = HUSK_SECCOMP_DEFAULT;
  spec->rlimits = xmalloc (2 * sizeof (*spec->rlimits));
  spec->rlimits[0] = (struct husk_rlimit){ RLIMIT_NOFILE, DEFAULT_RLIMIT, DEFAULT_RLIMIT, true };
  spec->rlimits[1] = (struct husk_rlimit){ RLIMIT_NPROC, DEFAULT_RLIMIT, DEFAULT_RLIMIT, true };
  spec->n_rlimits = 2;
}

void
husk_security_spec_release (struct husk_security_spec *spec)
{
  free (spec->seccomp_profile);
  free (spec->rlimits);
  free (spec->groups);
  strv_free (spec->mask);
  strv_free (spec->unmask);
  free (spec->seccomp_bpf);
  memset (spec, 0, sizeof (*spec));
}

static int
parse_bool_opt (const char *opt, const char *value, bool *out, husk_error_t *err)
{
  if (value == NULL || strcasecmp (value, "true") == 0 || strcmp (value, "1") == 0)
    *out = true;
  else if (strcasecmp (value, "false") == 0 || strcmp (value, "0") == 0)
    *out = false;
  else
    return husk_make_error (err, 0, "invalid --security-opt 1: \"%s\"", opt);
  return 0;
}

static int
load_profile (struct husk_security_spec *spec, const char *path, husk_error_t *err)
{
  cleanup_json husk_json_t *json = NULL;
  char *data = NULL;
  size_t len = 0;
  int ret;

  ret = husk_read_file_at (AT_FDCWD, path, MAX_PROFILE_SIZE, &data, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "opening seccomp profile %s failed", path);
  /* Catch a broken file now, not when the container starts.  */
  json = husk_json_parse (data, len, err);
  if (json == NULL)
    {
      free (data);
      return husk_error_wrap (err, "decoding seccomp profile %s failed", path);
    }
  free (spec->seccomp_profile);
  spec->seccomp_profile = data;
  spec->seccomp_profile_len = len;
  spec->seccomp = HUSK_SECCOMP_PROFILE;
  return 0;
}

static char **
split_paths (const char *value)
{
  char **v = NULL;
  const char *p = value;

  while (*p)
    {
      const char *end = strchr (p, ':');
      size_t n = end ? (size_t)(end - p) : strlen (p);
      if (n > 0)
        strv_append_take (&v, xstrndup (p, n));
      p += n;
      if (*p == ':')
        p++;
    }
  return v;
}

int
husk_security_parse_opt (struct husk_security_spec *spec, const char *opt, husk_error_t *err)
{
  const char *sep = strpbrk (opt, "=:");
  cleanup_free char *key = sep ? xstrndup (opt, (size_t)(sep - opt)) : xstrdup (opt);
  const char *value = sep ? sep + 1 : NULL;

  if (strcmp (key, "no-new-privileges") == 0)
    return parse_bool_opt (opt, value, &spec->no_new_privs, err);
  /* label=... and apparmor=...: no SELinux or AppArmor support here.  */
  if (strcmp (key, "label") == 0 || strcmp (key, "apparmor") == 0 || strcmp (key, "proc-opts") == 0)
    return 0;
  if (value == NULL || *value == '\0')
    return husk_make_error (err, 0, "invalid --security-opt 1: \"%s\"", opt);

  if (strcmp (key, "seccomp") == 0)
    {
      if (strcmp (value, "unconfined") == 0)
        {
          spec->seccomp = HUSK_SECCOMP_UNCONFINED;
          return 0;
        }
      return load_profile (spec, value, err);
    }
  if (strcmp (key, "mask") == 0)
    {
      char **v = split_paths (value);
      for (size_t i = 0; v && v[i]; i++)
        strv_append (&spec->mask, v[i]);
      strv_free (v);
      return 0;
    }
  if (strcmp (key, "unmask") == 0 || (strcmp (key, "systempaths") == 0 && strcmp (value, "unconfined") == 0))
    {
      char **v = strcmp (key, "unmask") == 0 ? split_paths (value) : NULL;
      if (v == NULL)
        strv_append (&v, "ALL");
      for (size_t i = 0; v[i]; i++)
        strv_append (&spec->unmask, v[i]);
      strv_free (v);
      return 0;
    }
  return husk_make_error (err, 0, "invalid --security-opt 1: \"%s\"", opt);
}

int
husk_security_prepare (struct husk_security_spec *spec, const char *cache_dir, husk_error_t *err)
{
  const char *profile;
  size_t len;
  bool hit;
  int ret;

  husk_rlimits_clamp (spec);

  free (spec->seccomp_bpf);
  spec->seccomp_bpf = NULL;
  spec->seccomp_bpf_len = 0;
  if (spec->seccomp == HUSK_SECCOMP_UNCONFINED)
    return 0;
  if (spec->seccomp == HUSK_SECCOMP_PROFILE)
    {
      profile = spec->seccomp_profile;
      len = spec->seccomp_profile_len;
    }
  else
    {
      profile = husk_seccomp_default_profile;
      len = strlen (husk_seccomp_default_profile);
    }
  ret = husk_seccomp_build_cached (profile, len, spec->caps, cache_dir, &spec->seccomp_bpf,
                                   &spec->seccomp_bpf_len, &hit, err);
  if (ret < 0)
    return ret;
  husk_debug ("seccomp filter: %zu instructions%s", spec->seccomp_bpf_len / 8, hit ? " (cached)" : "");
  return 0;
}

static bool
setgroups_denied (void)
{
  char buf[16] = "";
  cleanup_close int fd = open ("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);

  if (fd < 0 || read (fd, buf, sizeof (buf) - 1) <= 0)
    return false;
  return strncmp (buf, "deny", 4) == 0;
}

static int
set_ids (const struct husk_security_spec *spec, husk_error_t *err)
{
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return husk_make_error (err, errno, "prctl (PR_SET_KEEPCAPS)");
  if (setgroups (spec->n_groups, spec->groups) < 0)
    {
      /* A user namespace with setgroups denied (a single-id rootless map)
         keeps the groups it has, as crun does.  */
      if (errno != EPERM || !setgroups_denied ())
        return husk_make_error (err, errno, "setgroups");
      husk_debug ("setgroups denied in this user namespace: supplementary groups not set");
    }
  if (setresgid (spec->gid, spec->gid, spec->gid) < 0)
    return husk_make_error (err, errno, "setresgid (%u)", (unsigned)spec->gid);
  if (setresuid (spec->uid, spec->uid, spec->uid) < 0)
    return husk_make_error (err, errno, "setresuid (%u)", (unsigned)spec->uid);
  if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return husk_make_error (err, errno, "prctl (PR_SET_KEEPCAPS)");
  return 0;
}

int
husk_security_apply (const struct husk_security_spec *spec, husk_error_t *err)
{
  cleanup_free void *own_bpf = NULL;
  const void *bpf = spec->seccomp_bpf;
  size_t bpf_len = spec->seccomp_bpf_len;
  int ret;

  /* husk_security_prepare was not called: compile here, uncached.  */
  if (bpf == NULL && spec->seccomp != HUSK_SECCOMP_UNCONFINED)
    {
      const char *profile
          = spec->seccomp == HUSK_SECCOMP_PROFILE ? spec->seccomp_profile : husk_seccomp_default_profile;
      size_t len = spec->seccomp == HUSK_SECCOMP_PROFILE ? spec->seccomp_profile_len : strlen (profile);

      ret = husk_seccomp_compile (profile, len, spec->caps, &own_bpf, &bpf_len, err);
      if (ret < 0)
        return ret;
      bpf = own_bpf;
    }

  ret = husk_rlimits_apply (spec, err);
  if (ret < 0)
    return ret;
  ret = husk_caps_drop_bounding (spec->caps, err);
  if (ret < 0)
    return ret;
  if (bpf && !spec->no_new_privs)
    {
      ret = husk_seccomp_load (bpf, bpf_len, false, err);
      if (ret < 0)
        return ret;
    }
  ret = set_ids (spec, err);
  if (ret < 0)
    return ret;
  ret = husk_caps_set_final (spec->caps, spec->uid, err);
  if (ret < 0)
    return ret;
  if (spec->no_new_privs && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return husk_make_error (err, errno, "prctl (PR_SET_NO_NEW_PRIVS)");
  if (bpf && spec->no_new_privs)
    return husk_seccomp_load (bpf, bpf_len, true, err);
  return 0;
}
