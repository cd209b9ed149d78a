/* husk: reading a container's log (`husk logs`), in the formats the
   monitor writes: k8s-file ("<RFC3339Nano> stdout|stderr F|P <data>") and
   json-file (Docker's {"log":..,"stream":..,"time":..} lines).

   Choices where Docker and Podman leave room:
   - tail counts full lines (a run of P records ended by an F record is one
     line; a trailing run of P records counts as one too) and is applied
     before since/until, as both engines do;
   - since and until are inclusive;
   - a record without its newline (the writer is in the middle of it) is
     never emitted: while following it is read again once complete.  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/json.h"
#include "husk/monitor.h"
#include "husk/util.h"

#define LOG_BLOCK      65536
#define FOLLOW_POLL_MS 200

/* ---- records ---- */

/* line is NUL-terminated at len and may be modified.  */
static bool
parse_k8s (char *line, size_t len, struct husk_log_entry *e)
{
  char *sp = memchr (line, ' ', len);
  char *p, *end = line + len;
  bool ok;

  if (sp == NULL)
    return false;
  *sp = '\0';
  ok = husk_parse_rfc3339 (line, &e->time);
  *sp = ' ';
  if (!ok)
    return false;

  p = sp + 1;
  if ((size_t)(end - p) < 8)
    return false;
  if (memcmp (p, "stdout ", 7) == 0)
    e->stream = 1;
  else if (memcmp (p, "stderr ", 7) == 0)
    e->stream = 2;
  else
    return false;
  p += 7;

  /* CRI tags: "F" or "P", possibly followed by ":"-separated others.  */
  if (*p == 'F')
    e->partial = false;
  else if (*p == 'P')
    e->partial = true;
  else
    return false;
  while (p < end && *p != ' ')
    p++;
  if (p < end)
    p++;
  e->data = p;
  e->len = (size_t)(end - p);
  return true;
}

static bool
parse_json (const char *line, size_t len, struct husk_log_entry *e, husk_json_t **tree)
{
  husk_error_t err = NULL;
  const char *log, *stream, *time;
  husk_json_t *t = husk_json_parse (line, len, &err);

  if (t == NULL)
    {
      husk_error_release (&err);
      return false;
    }
  log = husk_json_get_string (t, "log");
  stream = husk_json_get_string (t, "stream");
  time = husk_json_get_string (t, "time");
  if (log == NULL || stream == NULL || time == NULL || !husk_parse_rfc3339 (time, &e->time))
    {
      husk_json_free (t);
      return false;
    }
  if (strcmp (stream, "stdout") == 0)
    e->stream = 1;
  else if (strcmp (stream, "stderr") == 0)
    e->stream = 2;
  else
    {
      husk_json_free (t);
      return false;
    }
  e->data = log;
  e->len = strlen (log);
  /* Docker keeps the newline in "log"; without one the line goes on.  */
  e->partial = !(e->len > 0 && log[e->len - 1] == '\n');
  if (!e->partial)
    e->len--;
  *tree = t;
  return true;
}

/* Parse one record (without its newline).  *tree owns e->data for
   json-file; the caller frees it.  */
static bool
parse_record (enum husk_log_driver d, char *line, size_t len, struct husk_log_entry *e, husk_json_t **tree)
{
  *tree = NULL;
  memset (e, 0, sizeof (*e));
  if (d == HUSK_LOG_JSON_FILE)
    return parse_json (line, len, e, tree);
  return parse_k8s (line, len, e);
}

/* ---- forward reading ---- */

struct reader
{
  const struct husk_log_query *q;
  husk_log_fn fn;
  void *ctx;
  struct husk_buf pending; /* bytes read past the last complete record */
  bool stopped;            /* fn asked to stop */
};

static void
emit_record (struct reader *rd, char *line, size_t len)
{
  struct husk_log_entry e;
  cleanup_json husk_json_t *tree = NULL;

  if (!parse_record (rd->q->driver, line, len, &e, &tree))
    {
      husk_debug ("logs: skipping a malformed record in %s", rd->q->path);
      return;
    }
  if (rd->q->since != 0 && e.time < rd->q->since)
    return;
  if (rd->q->until != 0 && e.time > rd->q->until)
    return;
  if (rd->fn (&e, rd->ctx) != 0)
    rd->stopped = true;
}

/* Emit the complete records in pending; keep the incomplete rest.  */
static void
emit_pending (struct reader *rd)
{
  struct husk_buf *b = &rd->pending;
  size_t start = 0;
  char *nl;

  while (!rd->stopped && (nl = memchr (b->data + start, '\n', b->len - start)) != NULL)
    {
      size_t len = (size_t)(nl - (b->data + start));

      *nl = '\0';
      emit_record (rd, b->data + start, len);
      start += len + 1;
    }
  memmove (b->data, b->data + start, b->len - start);
  b->len -= start;
  b->data[b->len] = '\0';
}

/* Read fd to its current end, emitting every complete record.  */
static int
drain (struct reader *rd, int fd, const char *path, husk_error_t *err)
{
  cleanup_free char *block = xmalloc (LOG_BLOCK);

  while (fd >= 0 && !rd->stopped)
    {
      ssize_t n = read (fd, block, LOG_BLOCK);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return husk_make_error (err, errno, "read `%s`", path);
        }
      if (n == 0)
        break;
      husk_buf_append (&rd->pending, block, (size_t)n);
      emit_pending (rd);
    }
  return 0;
}

/* A record cut short at the end of a file that will not grow again (the
   rotated one) is dropped.  */
static void
forget_pending (struct reader *rd)
{
  rd->pending.len = 0;
  if (rd->pending.data)
    rd->pending.data[0] = '\0';
}

/* ---- tail: a backward scan, so a big log costs only its end ---- */

/* Prepend the block of the file before *win_off to the window.  */
static int
window_extend (int fd, struct husk_buf *win, off_t *win_off, size_t *shift, husk_error_t *err)
{
  size_t n = *win_off > LOG_BLOCK ? LOG_BLOCK : (size_t)*win_off;
  off_t from = *win_off - (off_t)n;
  struct husk_buf nb = { 0 };
  size_t got = 0;

  nb.data = xmalloc (n + win->len + 1);
  nb.cap = n + win->len + 1;
  while (got < n)
    {
      ssize_t r = pread (fd, nb.data + got, n - got, from + (off_t)got);

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        {
          int e = r < 0 ? errno : EIO;
          free (nb.data);
          return husk_make_error (err, e, "read the log");
        }
      got += (size_t)r;
    }
  if (win->len > 0)
    memcpy (nb.data + n, win->data, win->len);
  nb.len = n + win->len;
  nb.data[nb.len] = '\0';
  husk_buf_free (win);
  *win = nb;
  *win_off = from;
  *shift = n;
  return 0;
}

/* Is this record the end of a line (an F record)?  Malformed: -1.  */
static int
record_is_full (enum husk_log_driver d, const char *data, size_t len, struct husk_buf *scratch)
{
  struct husk_log_entry e;
  cleanup_json husk_json_t *tree = NULL;

  scratch->len = 0;
  husk_buf_append (scratch, data, len);
  if (!parse_record (d, scratch->data, len, &e, &tree))
    return -1;
  return e.partial ? 0 : 1;
}

/* Find where the last *need lines of fd start.  Returns 1 with *off when
   the file holds that many; 0 with *need reduced by the lines it holds
   otherwise; negative on error.  */
static int
tail_scan (enum husk_log_driver d, int fd, long *need, off_t *off, husk_error_t *err)
{
  struct husk_buf win = { 0 }, scratch = { 0 };
  struct stat st;
  off_t win_off;
  size_t shift;
  char *nl;
  size_t rec_end;
  long g = 0;
  bool in_group = false;
  int ret = 0;

  if (fstat (fd, &st) < 0)
    return husk_make_error (err, errno, "stat the log");
  win_off = st.st_size;

  /* The end of the last complete record.  */
  while ((nl = win.len ? memrchr (win.data, '\n', win.len) : NULL) == NULL)
    {
      if (win_off == 0)
        goto out; /* no complete record at all */
      ret = window_extend (fd, &win, &win_off, &shift, err);
      if (ret < 0)
        goto out;
    }
  rec_end = (size_t)(nl - win.data);
  win.len = rec_end + 1;
  if (*need == 0)
    {
      *off = win_off + (off_t)rec_end + 1;
      ret = 1;
      goto out;
    }

  for (;;)
    {
      size_t start;
      int full;

      nl = rec_end ? memrchr (win.data, '\n', rec_end) : NULL;
      if (nl == NULL && win_off > 0)
        {
          ret = window_extend (fd, &win, &win_off, &shift, err);
          if (ret < 0)
            goto out;
          rec_end += shift;
          continue;
        }
      start = nl ? (size_t)(nl - win.data) + 1 : 0;

      full = record_is_full (d, win.data + start, rec_end - start, &scratch);
      if (full == 1)
        {
          if (in_group && ++g == *need)
            {
              *off = win_off + (off_t)rec_end + 1;
              ret = 1;
              goto out;
            }
          in_group = true;
        }
      else if (full == 0)
        in_group = true;

      if (nl == NULL)
        break;
      /* Drop what was scanned: the window stays one block and a record.  */
      rec_end = start - 1;
      win.len = start;
    }

  if (in_group)
    g++;
  if (g >= *need)
    {
      *off = 0;
      ret = 1;
    }
  else
    *need -= g;

out:
  husk_buf_free (&win);
  husk_buf_free (&scratch);
  return ret;
}

/* Position fd1 (the rotated file, or -1) and fd so that reading both
   yields the last q->tail lines.  */
static int
tail_position (const struct husk_log_query *q, int *fd1, int fd, husk_error_t *err)
{
  long need = q->tail;
  off_t off = 0;
  int ret;

  if (fd >= 0)
    {
      ret = tail_scan (q->driver, fd, &need, &off, err);
      if (ret < 0)
        return ret;
      if (ret == 1)
        {
          if (*fd1 >= 0)
            {
              close (*fd1);
              *fd1 = -1;
            }
          if (lseek (fd, off, SEEK_SET) < 0)
            return husk_make_error (err, errno, "seek `%s`", q->path);
          return 0;
        }
    }
  if (*fd1 >= 0)
    {
      ret = tail_scan (q->driver, *fd1, &need, &off, err);
      if (ret < 0)
        return ret;
      if (lseek (*fd1, ret == 1 ? off : 0, SEEK_SET) < 0)
        return husk_make_error (err, errno, "seek `%s.1`", q->path);
    }
  return 0;
}

/* ---- follow ---- */

static int
open_log (const char *path, int *fd, husk_error_t *err)
{
  *fd = open (path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "open `%s`", path);
  return 0;
}

/* When the path names another file than fd (the writer rotated, or the
   log appeared), finish the old one and switch.  Returns 1 on a switch.  */
static int
follow_rotation (struct reader *rd, int *fd, husk_error_t *err)
{
  struct stat now, cur;
  int ret;

  if (stat (rd->q->path, &now) < 0)
    return 0;
  if (*fd >= 0 && fstat (*fd, &cur) == 0 && cur.st_ino == now.st_ino && cur.st_dev == now.st_dev)
    return 0;
  if (*fd >= 0)
    {
      ret = drain (rd, *fd, rd->q->path, err);
      if (ret < 0)
        return ret;
      close (*fd);
      *fd = -1;
    }
  forget_pending (rd);
  ret = open_log (rd->q->path, fd, err);
  if (ret < 0)
    return ret;
  return *fd >= 0 ? 1 : 0;
}

static int
follow (struct reader *rd, int *fd, husk_error_t *err)
{
  cleanup_free char *dir = xstrdup (rd->q->path);
  cleanup_close int ino = -1;
  char *slash = strrchr (dir, '/');
  bool last_round = false;
  int ret;

  if (slash != NULL)
    *(slash == dir ? slash + 1 : slash) = '\0';
  /* The directory, not the file: rotation replaces the file.  Events for
     other files there only cost a spurious read.  Without inotify the poll
     timeout alone paces the loop.  */
  ino = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (ino >= 0)
    (void)inotify_add_watch (ino, slash ? dir : ".",
                             IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
                                 | IN_CLOSE_WRITE);

  for (;;)
    {
      ret = drain (rd, *fd, rd->q->path, err);
      if (ret < 0 || rd->stopped)
        return ret;
      ret = follow_rotation (rd, fd, err);
      if (ret < 0)
        return ret;
      if (ret == 1)
        continue;
      if (last_round)
        return 0;
      /* The container is done: read once more what it wrote before.  */
      if (rd->q->running != NULL && !rd->q->running (rd->ctx))
        {
          last_round = true;
          continue;
        }

      if (ino >= 0)
        {
          struct pollfd p = { .fd = ino, .events = POLLIN };
          char events[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));

          if (poll (&p, 1, FOLLOW_POLL_MS) < 0 && errno != EINTR)
            return husk_make_error (err, errno, "poll");
          while (read (ino, events, sizeof (events)) > 0)
            ;
        }
      else
        (void)poll (NULL, 0, FOLLOW_POLL_MS);
    }
}

int
husk_log_read (const struct husk_log_query *q, husk_log_fn fn, void *ctx, husk_error_t *err)
{
  struct reader rd = { .q = q, .fn = fn, .ctx = ctx };
  cleanup_free char *rotated = NULL;
  cleanup_close int fd1 = -1;
  cleanup_close int fd = -1;
  int ret;

  if (q->driver == HUSK_LOG_NONE)
    return husk_make_error (err, 0, "logs are not available: the container's log driver is none");
  if (q->driver != HUSK_LOG_K8S_FILE && q->driver != HUSK_LOG_JSON_FILE)
    return husk_make_error (err, EINVAL, "unknown log driver %d", (int)q->driver);

  rotated = xasprintf ("%s.1", q->path);
  ret = open_log (rotated, &fd1, err);
  if (ret == 0)
    ret = open_log (q->path, &fd, err);
  if (ret == 0 && q->tail >= 0)
    ret = tail_position (q, &fd1, fd, err);

  if (ret == 0 && fd1 >= 0)
    {
      ret = drain (&rd, fd1, rotated, err);
      forget_pending (&rd);
    }
  if (ret == 0 && !rd.stopped)
    {
      if (q->follow)
        ret = follow (&rd, &fd, err);
      else
        ret = drain (&rd, fd, q->path, err);
    }
  husk_buf_free (&rd.pending);
  return ret;
}
