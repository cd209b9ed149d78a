/* husk: parsers for --log-driver and --restart (monitor.h).  */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "husk/monitor.h"
#include "husk/util.h"

/* EINVAL without strerror appended: the message says it all.  */
static int __attribute__ ((format (printf, 2, 3))) invalid (husk_error_t *err, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  husk_make_error (err, 0, "%s", msg);
  (*err)->status = EINVAL;
  return -EINVAL;
}

int
husk_log_driver_parse (const char *s, enum husk_log_driver *out, husk_error_t *err)
{
  if (s == NULL || strcmp (s, "k8s-file") == 0)
    *out = HUSK_LOG_K8S_FILE;
  else if (strcmp (s, "json-file") == 0)
    *out = HUSK_LOG_JSON_FILE;
  else if (strcmp (s, "none") == 0)
    *out = HUSK_LOG_NONE;
  else
    return invalid (err, "log driver \"%s\" is not supported: use k8s-file, json-file or none", s);
  return 0;
}

const char *
husk_log_driver_name (enum husk_log_driver d)
{
  switch (d)
    {
    case HUSK_LOG_K8S_FILE:
      return "k8s-file";
    case HUSK_LOG_JSON_FILE:
      return "json-file";
    case HUSK_LOG_NONE:
      return "none";
    }
  return "unknown";
}

int
husk_restart_policy_parse (const char *s, struct husk_restart_policy *out, husk_error_t *err)
{
  const char *colon;
  size_t name_len;
  uint64_t n = 0;

  out->name = HUSK_RESTART_NO;
  out->max_retries = 0;
  /* Docker takes an empty value as "no".  */
  if (s == NULL || *s == '\0')
    return 0;

  colon = strchr (s, ':');
  name_len = colon != NULL ? (size_t)(colon - s) : strlen (s);
  if (name_len == 2 && strncmp (s, "no", 2) == 0)
    out->name = HUSK_RESTART_NO;
  else if (name_len == 10 && strncmp (s, "on-failure", 10) == 0)
    out->name = HUSK_RESTART_ON_FAILURE;
  else if (name_len == 6 && strncmp (s, "always", 6) == 0)
    out->name = HUSK_RESTART_ALWAYS;
  else if (name_len == 14 && strncmp (s, "unless-stopped", 14) == 0)
    out->name = HUSK_RESTART_UNLESS_STOPPED;
  else
    return invalid (err,
                    "invalid restart policy \"%s\": use no, on-failure[:max-retries], always or "
                    "unless-stopped",
                    s);

  if (colon == NULL)
    return 0;
  if (out->name != HUSK_RESTART_ON_FAILURE)
    return invalid (err,
                    "invalid restart policy \"%s\": a maximum retry count is only allowed with "
                    "on-failure",
                    s);
  if (!husk_parse_u64 (colon + 1, &n) || n > UINT_MAX)
    return invalid (err,
                    "invalid restart policy \"%s\": the maximum retry count must be a "
                    "non-negative integer",
                    s);
  out->max_retries = (unsigned)n;
  return 0;
}

const char *
husk_restart_name_str (enum husk_restart_name n)
{
  switch (n)
    {
    case HUSK_RESTART_NO:
      return "no";
    case HUSK_RESTART_ON_FAILURE:
      return "on-failure";
    case HUSK_RESTART_ALWAYS:
      return "always";
    case HUSK_RESTART_UNLESS_STOPPED:
      return "unless-stopped";
    }
  return "unknown";
}
