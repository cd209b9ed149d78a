/* husk: error values and stderr logging.  */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "husk/error.h"
#include "husk/util.h"

static enum husk_log_level log_level = HUSK_LOG_WARN;

int
husk_make_error (husk_error_t *err, int status, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  /* A NULL err: the caller only wants the return value (a probe).  */
  if (err == NULL)
    return status > 0 ? -status : -1;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);

  if (*err != NULL)
    husk_error_release (err);
  *err = xzalloc (sizeof (**err));
  (*err)->status = status;
  if (status > 0)
    (*err)->msg = xasprintf ("%s: %s", msg, strerror (status));
  else
    (*err)->msg = steal_pointer (&msg);
  return status > 0 ? -status : -1;
}

int
husk_error_wrap (husk_error_t *err, const char *fmt, ...)
{
  cleanup_free char *ctx = NULL;
  char *joined;
  va_list ap;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);

  joined = xasprintf ("%s: %s", ctx, (*err)->msg);
  free ((*err)->msg);
  (*err)->msg = joined;
  return (*err)->status > 0 ? -(*err)->status : -1;
}

void
husk_error_set_exit_code (husk_error_t *err, int code)
{
  if (err && *err)
    (*err)->exit_code = code;
}

int
husk_error_exit_code (husk_error_t *err)
{
  if (*err == NULL || (*err)->exit_code == 0)
    return HUSK_EXIT_FAILURE;
  return (*err)->exit_code;
}

void
husk_error_release (husk_error_t *err)
{
  if (*err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

int
husk_error_report (husk_error_t *err)
{
  int code = husk_error_exit_code (err);

  if (*err)
    fprintf (stderr, "Error: %s\n", (*err)->msg);
  husk_error_release (err);
  return code;
}

void
husk_log_set_level (enum husk_log_level level)
{
  log_level = level;
}

int
husk_log_parse_level (const char *name)
{
  static const char *const names[] = { "error", "warn", "info", "debug" };
  size_t i;

  if (strcasecmp (name, "warning") == 0)
    return HUSK_LOG_WARN;
  if (strcasecmp (name, "fatal") == 0 || strcasecmp (name, "panic") == 0)
    return HUSK_LOG_ERROR;
  if (strcasecmp (name, "trace") == 0)
    return HUSK_LOG_DEBUG;
  for (i = 0; i < sizeof (names) / sizeof (names[0]); i++)
    if (strcasecmp (name, names[i]) == 0)
      return (int)i;
  return -1;
}

void
husk_log (enum husk_log_level level, const char *fmt, ...)
{
  static const char *const prefix[] = { "Error", "Warning", "Info", "Debug" };
  va_list ap;

  if (level > log_level)
    return;
  fprintf (stderr, "%s: ", prefix[level]);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}
