/* husk: what monitor.c and log-writer.c share.  Not part of the monitor's
   interface: only src/monitor/ and tests/unit/test-monitor.c include it.  */
#ifndef HUSK_MONITOR_INTERNAL_H
#define HUSK_MONITOR_INTERNAL_H

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

#endif
