/* husk: allocation helpers, string vectors, buffers, time formatting.  */
#include <errno.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "husk/util.h"

void
husk_oom (void)
{
  static const char msg[] = "Error: out of memory\n";
  if (write (2, msg, sizeof (msg) - 1) < 0)
    abort ();
  abort ();
}

void *
xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == NULL)
    husk_oom ();
  return p;
}

void *
xzalloc (size_t size)
{
  void *p = calloc (1, size ? size : 1);
  if (p == NULL)
    husk_oom ();
  return p;
}

void *
xrealloc (void *ptr, size_t size)
{
  void *p = realloc (ptr, size ? size : 1);
  if (p == NULL)
    husk_oom ();
  return p;
}

char *
xstrdup (const char *s)
{
  char *p = strdup (s ? s : "");
  if (p == NULL)
    husk_oom ();
  return p;
}

char *
xstrndup (const char *s, size_t n)
{
  char *p = strndup (s, n);
  if (p == NULL)
    husk_oom ();
  return p;
}

char *
xasprintf (const char *fmt, ...)
{
  char *ret;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&ret, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  return ret;
}

void
cleanup_freep (void *p)
{
  void **pp = (void **)p;
  free (*pp);
}

void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}

void
cleanup_filep (FILE **f)
{
  if (*f)
    fclose (*f);
}

void
cleanup_dirp (DIR **d)
{
  if (*d)
    closedir (*d);
}

void
cleanup_strvp (char ***v)
{
  strv_free (*v);
}

size_t
strv_len (char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

void
strv_free (char **v)
{
  size_t i;
  for (i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

void
strv_append_take (char ***v, char *s)
{
  size_t n = strv_len (*v);
  *v = xrealloc (*v, (n + 2) * sizeof (char *));
  (*v)[n] = s;
  (*v)[n + 1] = NULL;
}

void
strv_append (char ***v, const char *s)
{
  strv_append_take (v, xstrdup (s));
}

bool
strv_contains (char *const *v, const char *s)
{
  size_t i;
  for (i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

size_t
strv_remove (char **v, const char *s)
{
  size_t i, j = 0, removed = 0;
  for (i = 0; v && v[i]; i++)
    {
      if (strcmp (v[i], s) == 0)
        {
          free (v[i]);
          removed++;
          continue;
        }
      v[j++] = v[i];
    }
  if (v)
    v[j] = NULL;
  return removed;
}

char **
strv_dup (char *const *v)
{
  char **ret = xzalloc ((strv_len (v) + 1) * sizeof (char *));
  size_t i;
  for (i = 0; v && v[i]; i++)
    ret[i] = xstrdup (v[i]);
  return ret;
}

char *
strv_join (char *const *v, const char *sep)
{
  struct husk_buf b = { 0 };
  size_t i;
  for (i = 0; v && v[i]; i++)
    {
      if (i)
        husk_buf_puts (&b, sep);
      husk_buf_puts (&b, v[i]);
    }
  return husk_buf_steal (&b, NULL);
}

void
husk_buf_append (struct husk_buf *b, const void *data, size_t len)
{
  if (b->len + len + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap * 2 : 64;
      while (cap < b->len + len + 1)
        cap *= 2;
      b->data = xrealloc (b->data, cap);
      b->cap = cap;
    }
  if (len)
    memcpy (b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void
husk_buf_puts (struct husk_buf *b, const char *s)
{
  husk_buf_append (b, s, strlen (s));
}

void
husk_buf_printf (struct husk_buf *b, const char *fmt, ...)
{
  cleanup_free char *s = NULL;
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    husk_oom ();
  husk_buf_append (b, s, (size_t)n);
}

char *
husk_buf_steal (struct husk_buf *b, size_t *len)
{
  char *ret;
  if (b->data == NULL)
    husk_buf_append (b, "", 0);
  ret = b->data;
  if (len)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return ret;
}

void
husk_buf_free (struct husk_buf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

bool
husk_has_prefix (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

bool
husk_has_suffix (const char *s, const char *suffix)
{
  size_t ls = strlen (s), lx = strlen (suffix);
  return ls >= lx && strcmp (s + ls - lx, suffix) == 0;
}

bool
husk_parse_u64 (const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s == NULL || *s < '0' || *s > '9')
    return false;
  errno = 0;
  v = strtoull (s, &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  *out = v;
  return true;
}

int64_t
husk_now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *
husk_format_rfc3339 (int64_t ns)
{
  time_t secs = (time_t)(ns / 1000000000LL);
  long frac = (long)(ns % 1000000000LL);
  struct tm tm;
  char base[64];

  if (frac < 0)
    {
      frac += 1000000000L;
      secs--;
    }
  gmtime_r (&secs, &tm);
  strftime (base, sizeof (base), "%Y-%m-%dT%H:%M:%S", &tm);
  return xasprintf ("%s.%09ldZ", base, frac);
}

bool
husk_parse_rfc3339 (const char *s, int64_t *ns)
{
  struct tm tm;
  const char *p;
  int64_t frac = 0, scale = 100000000;
  long offset = 0;
  time_t secs;

  memset (&tm, 0, sizeof (tm));
  p = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (p == NULL)
    return false;
  if (*p == '.')
    {
      p++;
      if (*p < '0' || *p > '9')
        return false;
      for (; *p >= '0' && *p <= '9'; p++)
        {
          frac += (*p - '0') * scale;
          scale /= 10;
        }
    }
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (*p == '+' || *p == '-')
    {
      int hh, mm;
      if (sscanf (p + 1, "%2d:%2d", &hh, &mm) != 2)
        return false;
      offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
      p += 6;
    }
  else
    return false;
  if (*p != '\0')
    return false;
  secs = timegm (&tm) - offset;
  *ns = (int64_t)secs * 1000000000LL + frac;
  return true;
}

void
husk_buf_put_utf8 (struct husk_buf *b, uint32_t cp)
{
  char s[4];
  size_t n;

  if (cp < 0x80)
    {
      s[0] = (char)cp;
      n = 1;
    }
  else if (cp < 0x800)
    {
      s[0] = (char)(0xc0 | (cp >> 6));
      s[1] = (char)(0x80 | (cp & 0x3f));
      n = 2;
    }
  else if (cp < 0x10000)
    {
      s[0] = (char)(0xe0 | (cp >> 12));
      s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
      s[2] = (char)(0x80 | (cp & 0x3f));
      n = 3;
    }
  else
    {
      s[0] = (char)(0xf0 | (cp >> 18));
      s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
      s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
      s[3] = (char)(0x80 | (cp & 0x3f));
      n = 4;
    }
  husk_buf_append (b, s, n);
}

int
husk_hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void
husk_heap_hugepages (size_t bytes)
{
  const uintptr_t huge = (uintptr_t)2 << 20;
  uintptr_t start, end;
  void *p;

  /* Keep the heap from shrinking back (the madvise covers what is there
     now), and make this one allocation come from the heap, not mmap.  */
  mallopt (M_TRIM_THRESHOLD, (int)(bytes + huge));
  mallopt (M_MMAP_THRESHOLD, (int)(bytes + huge));
  p = malloc (bytes);
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
  if (p == NULL)
    return;
  start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
  end = ((uintptr_t)p + bytes) & ~(huge - 1);
  if (end > start)
    madvise ((void *)start, end - start, MADV_HUGEPAGE);
  free (p);
}
