/* husk: the monitor's log writer (k8s-file, json-file, none), after
   conmon's ctr_logging.c.

   k8s-file, one record per line of output:
     2026-11-23T01:02:03.123456789Z stdout F a complete line
     2026-11-23T01:02:03.123456789Z stderr P the start of a line that did not end
   json-file, Docker's format:
     {"log":"a complete line\n","stream":"stdout","time":"2026-11-23T01:02:03.123456789Z"}

   Records are assembled in a small fixed buffer and written with plain
   write (2) once per chunk of output: the file is local, and a chunk is
   at most 64 KiB.  Rotation keeps one old generation (<path>.1).  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/util.h"
#include "src/monitor/monitor-internal.h"

#define LOG_BUF_SIZE 16384

struct monitor_log
{
  enum husk_log_driver driver;
  int fd;
  char *path;
  uint64_t max_size;
  uint64_t size; /* of the current file, buffered bytes included */
  size_t used;
  char buf[LOG_BUF_SIZE];
};

static int
open_log_file (const char *path, uint64_t *size, husk_error_t *err)
{
  struct stat st;
  int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);

  if (fd < 0)
    return husk_make_error (err, errno, "open the log file %s", path);
  *size = fstat (fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  return fd;
}

int
monitor_log_open (enum husk_log_driver driver, const char *path, uint64_t max_size, struct monitor_log **out,
                  husk_error_t *err)
{
  struct monitor_log *w;
  uint64_t size = 0;
  int fd = -1;

  if (driver != HUSK_LOG_NONE)
    {
      if (path == NULL)
        return husk_make_error (err, EINVAL, "no log path");
      fd = open_log_file (path, &size, err);
      if (fd < 0)
        return fd;
    }
  /* The buffer stays untouched (no RSS) until there is output.  */
  w = xmalloc (sizeof (*w));
  w->driver = driver;
  w->fd = fd;
  w->path = path != NULL ? xstrdup (path) : NULL;
  w->max_size = max_size;
  w->size = size;
  w->used = 0;
  *out = w;
  return 0;
}

int
monitor_log_flush (struct monitor_log *w)
{
  size_t off = 0;
  int ret = 0;

  while (off < w->used)
    {
      ssize_t n = write (w->fd, w->buf + off, w->used - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          ret = n < 0 ? -errno : -EIO;
          break;
        }
      off += (size_t)n;
    }
  w->used = 0;
  return ret;
}

static void
put (struct monitor_log *w, const char *data, size_t len)
{
  while (len > 0)
    {
      size_t n = LOG_BUF_SIZE - w->used;

      if (n == 0)
        {
          monitor_log_flush (w);
          n = LOG_BUF_SIZE;
        }
      if (n > len)
        n = len;
      memcpy (w->buf + w->used, data, n);
      w->used += n;
      data += n;
      len -= n;
    }
}

static void
rotate (struct monitor_log *w)
{
  cleanup_free char *old = xasprintf ("%s.1", w->path);
  husk_error_t err = NULL;
  uint64_t size = 0;
  int fd;

  monitor_log_flush (w);
  if (rename (w->path, old) < 0)
    return; /* keep appending to the file we have */
  fd = open_log_file (w->path, &size, &err);
  if (fd < 0)
    {
      husk_error_release (&err);
      return;
    }
  close (w->fd);
  w->fd = fd;
  w->size = size;
}

/* Called before each record of RECLEN bytes.  */
static void
begin_record (struct monitor_log *w, uint64_t reclen)
{
  if (w->max_size > 0 && w->size > 0 && w->size + reclen > w->max_size)
    rotate (w);
  w->size += reclen;
}

/* The length of a valid UTF-8 sequence at s, or 0.  */
static size_t
utf8_seq (const unsigned char *s, size_t len)
{
  unsigned char c = s[0];
  size_t n, i;
  uint32_t cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (len < n)
    return 0;
  for (i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
      || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

/* JSON string body of data: the escaped length, and the text itself when
   emit.  Invalid UTF-8 becomes U+FFFD, as Docker does, so every record
   stays valid JSON.  */
static size_t
json_escape (struct monitor_log *w, const char *data, size_t len, bool emit)
{
  const unsigned char *s = (const unsigned char *)data;
  size_t i = 0, out = 0;

  while (i < len)
    {
      unsigned char c = s[i];
      const char *esc = NULL;
      char hex[8];
      size_t n;

      switch (c)
        {
        case '"':
          esc = "\\\"";
          break;
        case '\\':
          esc = "\\\\";
          break;
        case '\n':
          esc = "\\n";
          break;
        case '\r':
          esc = "\\r";
          break;
        case '\t':
          esc = "\\t";
          break;
        case '\b':
          esc = "\\b";
          break;
        case '\f':
          esc = "\\f";
          break;
        default:
          break;
        }
      if (esc == NULL && c < 0x20)
        {
          memcpy (hex, "\\u00", 4);
          hex[4] = "0123456789abcdef"[c >> 4];
          hex[5] = "0123456789abcdef"[c & 15];
          hex[6] = '\0';
          esc = hex;
        }
      if (esc != NULL)
        {
          n = strlen (esc);
          if (emit)
            put (w, esc, n);
          out += n;
          i++;
          continue;
        }
      n = utf8_seq (s + i, len - i);
      if (n == 0)
        {
          if (emit)
            put (w, "\\ufffd", 6);
          out += 6;
          i++;
          continue;
        }
      if (emit)
        put (w, data + i, n);
      out += n;
      i += n;
    }
  return out;
}

static void
put_digits (char *p, unsigned long v, int n)
{
  while (n-- > 0)
    {
      p[n] = (char)('0' + v % 10);
      v /= 10;
    }
}

/* RFC 3339 UTC with nanoseconds, 30 characters plus the NUL.  Done by hand
   (days to civil date, after Howard Hinnant) rather than with gmtime_r and
   snprintf: this runs for every chunk of output, and the monitor's RSS
   stays smaller when it does not pull in the big printf machinery.  */
static void
format_time (int64_t ns, char buf[static 31])
{
  int64_t secs = ns / 1000000000LL, frac = ns % 1000000000LL, days, sod, era, doe, yoe, y, doy, mp, d, mo;

  if (frac < 0)
    {
      frac += 1000000000LL;
      secs--;
    }
  days = secs / 86400;
  sod = secs % 86400;
  if (sod < 0)
    {
      sod += 86400;
      days--;
    }
  days += 719468;
  era = (days >= 0 ? days : days - 146096) / 146097;
  doe = days - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  mo = mp < 10 ? mp + 3 : mp - 9;
  if (mo <= 2)
    y++;
  if (y < 0 || y > 9999)
    y = 0;

  memcpy (buf, "0000-00-00T00:00:00.000000000Z", 31);
  put_digits (buf, (unsigned long)y, 4);
  put_digits (buf + 5, (unsigned long)mo, 2);
  put_digits (buf + 8, (unsigned long)d, 2);
  put_digits (buf + 11, (unsigned long)(sod / 3600), 2);
  put_digits (buf + 14, (unsigned long)(sod / 60 % 60), 2);
  put_digits (buf + 17, (unsigned long)(sod % 60), 2);
  put_digits (buf + 20, (unsigned long)frac, 9);
}

static void
k8s_record (struct monitor_log *w, const char *ts, const char *stream, bool partial, const char *line,
            size_t len)
{
  size_t ts_len = strlen (ts), st_len = strlen (stream);

  begin_record (w, ts_len + 1 + st_len + 3 + len + 1);
  put (w, ts, ts_len);
  put (w, " ", 1);
  put (w, stream, st_len);
  put (w, partial ? " P " : " F ", 3);
  put (w, line, len);
  put (w, "\n", 1);
}

/* LINE includes its newline unless partial.  */
static void
json_record (struct monitor_log *w, const char *ts, const char *stream, const char *line, size_t len)
{
  static const char head[] = "{\"log\":\"";
  static const char mid[] = "\",\"stream\":\"";
  static const char tail_time[] = "\",\"time\":\"";
  static const char end[] = "\"}\n";
  size_t ts_len = strlen (ts), st_len = strlen (stream);

  begin_record (w, sizeof (head) - 1 + json_escape (w, line, len, false) + sizeof (mid) - 1 + st_len
                       + sizeof (tail_time) - 1 + ts_len + sizeof (end) - 1);
  put (w, head, sizeof (head) - 1);
  json_escape (w, line, len, true);
  put (w, mid, sizeof (mid) - 1);
  put (w, stream, st_len);
  put (w, tail_time, sizeof (tail_time) - 1);
  put (w, ts, ts_len);
  put (w, end, sizeof (end) - 1);
}

int
monitor_log_write (struct monitor_log *w, int stream, const char *data, size_t len, int64_t now)
{
  const char *name = stream == 2 ? "stderr" : "stdout";
  char ts[31];

  if (w == NULL || w->driver == HUSK_LOG_NONE || w->fd < 0 || len == 0)
    return 0;
  format_time (now, ts);
  while (len > 0)
    {
      const char *nl = memchr (data, '\n', len);
      size_t line = nl != NULL ? (size_t)(nl - data) : len;

      if (w->driver == HUSK_LOG_K8S_FILE)
        k8s_record (w, ts, name, nl == NULL, data, line);
      else
        json_record (w, ts, name, data, nl != NULL ? line + 1 : line);
      if (nl == NULL)
        break;
      data += line + 1;
      len -= line + 1;
    }
  return monitor_log_flush (w);
}

void
monitor_log_close (struct monitor_log *w)
{
  if (w == NULL)
    return;
  if (w->fd >= 0)
    {
      monitor_log_flush (w);
      close (w->fd);
    }
  free (w->path);
  free (w);
}
