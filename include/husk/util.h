/* husk: allocation helpers, cleanup attributes, string vectors and a growable
   buffer.  Every module may include this header.  */
#ifndef HUSK_UTIL_H
#define HUSK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <dirent.h>

void husk_oom (void) __attribute__ ((noreturn));
void *xmalloc (size_t size);
void *xzalloc (size_t size);
void *xrealloc (void *ptr, size_t size);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

void cleanup_freep (void *p);
void cleanup_closep (int *fd);
void cleanup_filep (FILE **f);
void cleanup_dirp (DIR **d);
void cleanup_strvp (char ***v);

#define cleanup_free  __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_file  __attribute__ ((cleanup (cleanup_filep)))
#define cleanup_dir   __attribute__ ((cleanup (cleanup_dirp)))
#define cleanup_strv  __attribute__ ((cleanup (cleanup_strvp)))

/* Hand ownership over: return *pp and clear it so cleanup does nothing.  */
static inline void *
husk_steal_pointer (void *pp)
{
  void **p = (void **)pp;
  void *ret = *p;
  *p = NULL;
  return ret;
}
#define steal_pointer(pp) husk_steal_pointer (pp)

static inline int
husk_move_fd (int *fd)
{
  int ret = *fd;
  *fd = -1;
  return ret;
}
#define move_fd(fdp) husk_move_fd (fdp)

/* NULL-terminated string vectors.  */
size_t strv_len (char *const *v);
void strv_free (char **v);
/* Append a copy of s; *v may be NULL.  */
void strv_append (char ***v, const char *s);
/* Append s taking ownership.  */
void strv_append_take (char ***v, char *s);
bool strv_contains (char *const *v, const char *s);
/* Remove every entry equal to s; returns how many were removed.  */
size_t strv_remove (char **v, const char *s);
char **strv_dup (char *const *v);
char *strv_join (char *const *v, const char *sep);

/* A growable byte buffer, always NUL-terminated.  */
struct husk_buf
{
  char *data;
  size_t len;
  size_t cap;
};
void husk_buf_append (struct husk_buf *b, const void *data, size_t len);
void husk_buf_puts (struct husk_buf *b, const char *s);
void husk_buf_printf (struct husk_buf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Return the data (never NULL) and reset the buffer.  */
char *husk_buf_steal (struct husk_buf *b, size_t *len);
void husk_buf_free (struct husk_buf *b);

/* Append a code point as UTF-8 (the caller keeps it <= 0x10ffff).  */
void husk_buf_put_utf8 (struct husk_buf *b, uint32_t cp);
/* The value of one hex digit, or -1.  */
int husk_hex_value (char c);

bool husk_has_prefix (const char *s, const char *prefix);
bool husk_has_suffix (const char *s, const char *suffix);
/* Parse a non-negative decimal integer, whole string; false on error.  */
bool husk_parse_u64 (const char *s, uint64_t *out);

/* Wall clock helpers.  */
int64_t husk_now_ns (void);

/* Back the next `bytes` of malloc's heap with transparent huge pages, for
   a command about to make many small allocations (ps, images with a big
   store): one page fault per 2 MiB instead of one per 4 KiB, and a fault
   costs ~18 us on a paravirtualized VM.  Not for processes that fork
   long-lived children (the monitor would inherit a 2 MiB resident heap).
   Best effort: silently does nothing where THP is off.  */
void husk_heap_hugepages (size_t bytes);
/* RFC 3339 with nanoseconds in UTC, e.g. 2024-01-02T03:04:05.123456789Z.  */
char *husk_format_rfc3339 (int64_t ns);
/* Parse RFC 3339 (with or without fraction, Z or +hh:mm); false on error.  */
bool husk_parse_rfc3339 (const char *s, int64_t *ns);

#endif
