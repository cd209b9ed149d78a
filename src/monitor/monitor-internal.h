/* husk: what monitor.c, log-writer.c and health.c share.  Not part of the monitor's
   interface: only src/monitor/ and tests/unit/test-monitor.c include it.  */
#ifndef HUSK_MONITOR_INTERNAL_H
#define HUSK_MONITOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "husk/error.h"
#include "husk/monitor.h"

/* The container's log as the monitor writes it: k8s-file, json-file or
   none (then every call succeeds and nothing is written).  */
struct monitor_log;

/* Open (create 0600, append) PATH; max_size 0: never rotate.  */
int monitor_log_open (enum husk_log_driver driver, const char *path, uint64_t max_size,
                      struct monitor_log **out, husk_error_t *err);

/* Record one chunk read from stream 1 (stdout) or 2 (stderr) at time NOW
   (ns): one record per line, a last record without its newline marked
   partial.  Rotates first when a record would take the file past
   max_size.  0, or -errno when a write failed (the data is then lost: the
   monitor cannot stop the container over its log).  */
int monitor_log_write (struct monitor_log *w, int stream, const char *data, size_t len, int64_t now);

/* Write out what is buffered.  */
int monitor_log_flush (struct monitor_log *w);

/* Flush and close.  NULL is fine.  */
void monitor_log_close (struct monitor_log *w);

/* ---- the healthcheck (health.c) ---- */

struct monitor_health;

/* The healthcheck runner of the monitor's epoll loop on epfd: its timerfd
   is registered with the event data ((uint64_t)timer_kind << 32 | fd),
   and while a check runs its output pipe with out_kind likewise.  NULL
   when cfg has no command.  cfg is kept (the monitor's copy).  */
struct monitor_health *monitor_health_new (husk_store_t *s, const char *id,
                                           const struct husk_health_config *cfg, int epfd, int timer_kind,
                                           int out_kind);
/* pid 1 (pid) started at started_at (ns): reset the record to
   "starting", the first check after the interval.  Checks run with the
   env, cwd, user, groups and security of spec, in cgroup cg (may be
   NULL), all kept until monitor_health_stop.  NULL h: nothing.  */
void monitor_health_start (struct monitor_health *h, const struct husk_run_spec *spec, pid_t pid,
                           struct husk_cgroup *cg, int64_t started_at);
/* pid 1 exited: no more checks; a running one is killed and not recorded.  */
void monitor_health_stop (struct monitor_health *h);
void monitor_health_on_timer (struct monitor_health *h);
void monitor_health_on_output (struct monitor_health *h, int fd);
/* The monitor reaped pid: true when it was the check (its result is
   recorded then), false when it is none of the healthcheck's business.  */
bool monitor_health_reaped (struct monitor_health *h, pid_t pid, int status);

#endif
