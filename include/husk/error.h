/* husk: errors as an out-parameter, after crun's error model.
 *
 * A function that can fail takes `husk_error_t *err` last, returns a negative
 * value on failure and fills *err.  Callers add context on the way up with
 * husk_error_wrap () so the user reads "what failed: why".  */
#ifndef HUSK_ERROR_H
#define HUSK_ERROR_H

#include <stdarg.h>

/* Exit codes shared by every command (DESIGN.md section 5).  */
#define HUSK_EXIT_FAILURE   125
#define HUSK_EXIT_CANNOT    126
#define HUSK_EXIT_NOT_FOUND 127

struct husk_error_s
{
  int status;    /* errno, or 0 */
  int exit_code; /* 0 means HUSK_EXIT_FAILURE */
  char *msg;
};
typedef struct husk_error_s *husk_error_t;

/* Fill *err with a message; when status is an errno value, ": strerror"
   is appended.  Returns a negative value: -status, or -1.  err may be NULL
   (a caller that only probes): nothing is recorded.  */
int husk_make_error (husk_error_t *err, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Prepend context: "fmt: previous message".  Returns the same negative value
   husk_make_error returned for the original error.  */
int husk_error_wrap (husk_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Set the process exit code carried with the error (126, 127 ...).  */
void husk_error_set_exit_code (husk_error_t *err, int code);

int husk_error_exit_code (husk_error_t *err);

void husk_error_release (husk_error_t *err);

/* Print "Error: msg" to stderr and release the error.  Returns its exit code.  */
int husk_error_report (husk_error_t *err);

/* Logging to stderr, controlled by --log-level.  */
enum husk_log_level
{
  HUSK_LOG_ERROR = 0,
  HUSK_LOG_WARN = 1,
  HUSK_LOG_INFO = 2,
  HUSK_LOG_DEBUG = 3,
};
void husk_log_set_level (enum husk_log_level level);
int husk_log_parse_level (const char *name);
void husk_log (enum husk_log_level level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
#define husk_warn(...)  husk_log (HUSK_LOG_WARN, __VA_ARGS__)
#define husk_debug(...) husk_log (HUSK_LOG_DEBUG, __VA_ARGS__)

#endif
