/* husk: the events log (store.h, "events"; DESIGN.md section 3).

   <runroot>/events.log gets one JSON line per event.  Each line is one
   write () on an O_APPEND descriptor, so lines of concurrent writers never
   interleave (regular files take the inode lock for the whole write).  No
   lock is taken to write: an event must never wait for, or fail, the
   command that caused it.

   Rotation: a writer that finds the file past EVENTS_MAX_SIZE renames it
   to events.log.1.  Two writers may find that at once; each flocks the
   file it wrote and renames only when the name still points to that file,
   so a fresh events.log is never renamed over the full one.

   Readers read events.log.1 then events.log, and when following, watch
   the runroot directory with inotify: a rename to .1 shows as the name
   pointing to another inode, and the reader then moves to the new file
   (it has read the old one to its end already).  */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/store.h"
#include "husk/util.h"

#define EVENTS_FILE     "events.log"
#define EVENTS_ROTATED  "events.log.1"
#define EVENTS_MAX_SIZE (1024 * 1024)

static bool events_warned;

static void
warn_once (const char *what, const char *path, int e)
{
  if (events_warned)
    return;
  events_warned = true;
  husk_warn ("events: %s %s: %s (events are not recorded)", what, path, strerror (e));
}

/* A scalar attribute as Podman's map[string]string holds it.  */
static char *
scalar_string (const husk_json_t *v)
{
  switch (husk_json_type (v))
    {
    case HUSK_JSON_STRING:
      return xstrdup (husk_json_string (v));
    case HUSK_JSON_INT:
      return xasprintf ("%lld", (long long)husk_json_int (v, 0));
    case HUSK_JSON_DOUBLE:
      return xasprintf ("%g", husk_json_double (v, 0));
    case HUSK_JSON_BOOL:
      return xstrdup (husk_json_bool (v, false) ? "true" : "false");
    default:
      return NULL;
    }
}

static void
set_scalar (husk_json_t *obj, const char *key, const husk_json_t *v)
{
  cleanup_free char *str = scalar_string (v);

  if (str)
    husk_json_set_string (obj, key, str);
}

/* image and name first (Podman's order), then the caller's attributes,
   labels flattened.  */
static husk_json_t *
build_attributes (const char *type, const char *name, const husk_json_t *attrs)
{
  husk_json_t *out = husk_json_new_object ();
  const husk_json_t *labels = husk_json_get (attrs, "labels");
  size_t i;

  if (husk_json_get_string (attrs, "image"))
    husk_json_set_string (out, "image", husk_json_get_string (attrs, "image"));
  if (name && strcmp (type, "container") == 0)
    husk_json_set_string (out, "name", name);
  for (i = 0; i < husk_json_object_len (attrs); i++)
    {
      const char *key = husk_json_object_key_at (attrs, i);
      if (strcmp (key, "labels") != 0 && strcmp (key, "image") != 0)
        set_scalar (out, key, husk_json_object_value_at (attrs, i));
    }
  for (i = 0; i < husk_json_object_len (labels); i++)
    set_scalar (out, husk_json_object_key_at (labels, i), husk_json_object_value_at (labels, i));
  return out;
}

static bool
exit_code_of (const husk_json_t *attrs, int64_t *code)
{
  const husk_json_t *v = husk_json_get (attrs, "exitCode");
  uint64_t u;

  if (husk_json_type (v) == HUSK_JSON_INT)
    {
      *code = husk_json_int (v, 0);
      return true;
    }
  if (husk_json_string (v) && husk_parse_u64 (husk_json_string (v), &u))
    {
      *code = (int64_t)u;
      return true;
    }
  return false;
}

static char *
event_line (const char *type, const char *action, const char *id, const char *name, const husk_json_t *attrs,
            int64_t now, size_t *len)
{
  cleanup_json husk_json_t *ev = husk_json_new_object ();
  cleanup_free char *time = husk_format_rfc3339 (now);
  husk_json_t *a = build_attributes (type, name, attrs);
  struct husk_buf b = { 0 };
  cleanup_free char *json = NULL;
  size_t n;
  int64_t code;

  if (exit_code_of (attrs, &code))
    husk_json_set_int (ev, "ContainerExitCode", code);
  if (id)
    husk_json_set_string (ev, "ID", id);
  if (husk_json_get_string (attrs, "image"))
    husk_json_set_string (ev, "Image", husk_json_get_string (attrs, "image"));
  if (name)
    husk_json_set_string (ev, "Name", name);
  husk_json_set_string (ev, "Status", action);
  husk_json_set_string (ev, "Time", time);
  husk_json_set_string (ev, "Type", type);
  if (husk_json_object_len (a) > 0)
    husk_json_set (ev, "Attributes", a);
  else
    husk_json_free (a);
  husk_json_set_int (ev, "timeNano", now);
  json = husk_json_serialize (ev, false, &n);
  husk_buf_append (&b, json, n);
  husk_buf_puts (&b, "\n");
  return husk_buf_steal (&b, len);
}

/* fd was written past the limit: rename it away unless another writer
   already did.  */
static void
rotate (int fd, const char *dir)
{
  cleanup_free char *path = xasprintf ("%s/" EVENTS_FILE, dir);
  cleanup_free char *old = xasprintf ("%s/" EVENTS_ROTATED, dir);
  struct stat fst, pst;

  if (flock (fd, LOCK_EX) < 0)
    return;
  if (fstat (fd, &fst) == 0 && stat (path, &pst) == 0 && fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino
      && rename (path, old) < 0)
    warn_once ("rotate", path, errno);
  flock (fd, LOCK_UN);
}

void
husk_store_event (husk_store_t *s, const char *type, const char *action, const char *id, const char *name,
                  const husk_json_t *attributes)
{
  const char *dir = husk_store_runroot (s);
  cleanup_free char *path = xasprintf ("%s/" EVENTS_FILE, dir);
  cleanup_free char *line = NULL;
  cleanup_close int fd = -1;
  struct stat st;
  size_t len;
  ssize_t w;

  line = event_line (type, action, id, name, attributes, husk_now_ns (), &len);
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0)
    {
      warn_once ("open", path, errno);
      return;
    }
  do
    w = write (fd, line, len);
  while (w < 0 && errno == EINTR);
  if (w < 0 || (size_t)w != len)
    {
      warn_once ("write", path, w < 0 ? errno : ENOSPC);
      return;
    }
  if (fstat (fd, &st) == 0 && st.st_size > EVENTS_MAX_SIZE)
    rotate (fd, dir);
}

void
husk_store_event_container (husk_store_t *s, const char *action, const char *id, const husk_json_t *extra)
{
  cleanup_json husk_json_t *attrs = husk_json_new_object ();
  cleanup_json husk_json_t *cfg = NULL;
  cleanup_free char *data = NULL;
  husk_error_t err = NULL;
  const char *name = NULL;
  size_t len, i;

  if (husk_store_container_config (s, id, &data, &len, &err) == 0)
    cfg = husk_json_parse (data, len, &err);
  if (err)
    husk_error_release (&err);
  if (cfg)
    {
      const husk_json_t *labels = husk_json_get_path (cfg, "Config", "Labels", NULL);
      name = husk_json_get_string (cfg, "Name");
      if (husk_json_get_string (cfg, "ImageName"))
        husk_json_set_string (attrs, "image", husk_json_get_string (cfg, "ImageName"));
      if (husk_json_object_len (labels) > 0)
        husk_json_set (attrs, "labels", husk_json_clone (labels));
    }
  for (i = 0; i < husk_json_object_len (extra); i++)
    husk_json_set (attrs, husk_json_object_key_at (extra, i),
                   husk_json_clone (husk_json_object_value_at (extra, i)));
  husk_store_event (s, "container", action, id, name, attrs);
}

/* ---- reading ---- */

struct events_reader
{
  int64_t since, until;
  husk_store_event_fn fn;
  void *ctx;
  struct husk_buf partial; /* the start of a line not yet complete */
};

static int64_t
event_time (const husk_json_t *ev)
{
  int64_t t = husk_json_int (husk_json_get (ev, "timeNano"), 0);

  if (t == 0 && husk_json_get_string (ev, "Time"))
    husk_parse_rfc3339 (husk_json_get_string (ev, "Time"), &t);
  return t;
}

static int
handle_line (struct events_reader *r, const char *line, size_t len, husk_error_t *err)
{
  cleanup_json husk_json_t *ev = NULL;
  husk_error_t perr = NULL;
  int64_t t;

  if (len == 0)
    return 0;
  ev = husk_json_parse (line, len, &perr);
  if (ev == NULL || husk_json_type (ev) != HUSK_JSON_OBJECT)
    {
      /* A torn line (a writer killed mid-way is not possible with one
         write, but a full disk is): skip it.  */
      husk_error_release (&perr);
      return 0;
    }
  t = event_time (ev);
  if ((r->since && t < r->since) || (r->until && t > r->until))
    return 0;
  return r->fn (ev, r->ctx, err);
}

/* Read fd to its end, handing every complete line over.  Returns the
   first non-zero result of the callback.  */
static int
read_lines (struct events_reader *r, int fd, husk_error_t *err)
{
  char buf[65536];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof (buf));
      size_t start = 0, i;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return husk_make_error (err, errno, "read " EVENTS_FILE);
      if (n == 0)
        return 0;
      husk_buf_append (&r->partial, buf, (size_t)n);
      for (i = 0; i < r->partial.len; i++)
        if (r->partial.data[i] == '\n')
          {
            int ret = handle_line (r, r->partial.data + start, i - start, err);
            if (ret != 0)
              return ret;
            start = i + 1;
          }
      memmove (r->partial.data, r->partial.data + start, r->partial.len - start);
      r->partial.len -= start;
      r->partial.data[r->partial.len] = '\0';
    }
}

static int
open_log (const char *dir, const char *name, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, name);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "open %s", path);
  return fd < 0 ? -ENOENT : fd;
}

/* A new file starts: a torn rest of the old one is dropped.  */
static void
reader_reset (struct events_reader *r)
{
  r->partial.len = 0;
  if (r->partial.data)
    r->partial.data[0] = '\0';
}

static bool
same_file (int fd, const char *path)
{
  struct stat a, b;

  if (fstat (fd, &a) < 0 || stat (path, &b) < 0)
    return true; /* nothing new to move to */
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Wait for the log to change.  1: changed, 0: stop (stop_fd or until).  */
static int
wait_change (int ino, int stop_fd, int64_t until, husk_error_t *err)
{
  struct pollfd p[2];
  int timeout = -1, n;
  char buf[4096];

  if (until)
    {
      int64_t left = until - husk_now_ns ();
      if (left <= 0)
        return 0;
      timeout = (int)(left / 1000000 + 1);
    }
  p[0].fd = ino;
  p[0].events = POLLIN;
  p[1].fd = stop_fd;
  p[1].events = POLLIN;
  n = poll (p, stop_fd >= 0 ? 2 : 1, timeout);
  if (n < 0 && errno == EINTR)
    return 1;
  if (n < 0)
    return husk_make_error (err, errno, "poll");
  if (n == 0 || (stop_fd >= 0 && p[1].revents))
    return 0;
  while (read (ino, buf, sizeof (buf)) > 0)
    ;
  return 1;
}

static int
follow (struct events_reader *r, const char *dir, int ino, int fd, int stop_fd, husk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/" EVENTS_FILE, dir);
  cleanup_close int cur = fd;
  int ret;

  for (;;)
    {
      if (cur >= 0)
        {
          ret = read_lines (r, cur, err);
          if (ret != 0)
            return ret < 0 ? ret : 0;
        }
      if (cur < 0 || !same_file (cur, path))
        {
          int nfd = open_log (dir, EVENTS_FILE, err);
          if (nfd == -ENOENT)
            nfd = -1;
          else if (nfd < 0)
            return nfd;
          if (nfd >= 0)
            {
              if (cur >= 0)
                {
                  /* Lines written to the old file after our last read.  */
                  ret = read_lines (r, cur, err);
                  if (ret != 0)
                    {
                      close (nfd);
                      return ret < 0 ? ret : 0;
                    }
                  close (cur);
                }
              cur = nfd;
              reader_reset (r);
              continue;
            }
        }
      ret = wait_change (ino, stop_fd, r->until, err);
      if (ret <= 0)
        return ret;
    }
}

int
husk_store_events_read (husk_store_t *s, int64_t since, int64_t until, bool follow_log, int stop_fd,
                        husk_store_event_fn fn, void *ctx, husk_error_t *err)
{
  const char *dir = husk_store_runroot (s);
  struct events_reader r = { since, until, fn, ctx, { 0 } };
  cleanup_close int ino = -1;
  cleanup_close int old = -1;
  cleanup_close int cur = -1;
  int ret;

  /* Watch before the first read so nothing written in between is missed.  */
  if (follow_log)
    {
      ino = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
      if (ino < 0)
        return husk_make_error (err, errno, "inotify_init1");
      if (inotify_add_watch (ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM) < 0)
        return husk_make_error (err, errno, "watch %s", dir);
    }
  /* The current file first, then the rotated one: a rotation in between
     then at worst shows the same lines twice, never loses them.  */
  cur = open_log (dir, EVENTS_FILE, err);
  if (cur < 0 && cur != -ENOENT)
    return cur;
  old = open_log (dir, EVENTS_ROTATED, err);
  if (old < 0 && old != -ENOENT)
    return old;
  ret = 0;
  if (old >= 0)
    ret = read_lines (&r, old, err);
  reader_reset (&r);
  if (ret == 0 && follow_log)
    ret = follow (&r, dir, ino, cur >= 0 ? move_fd (&cur) : -1, stop_fd, err);
  else if (ret == 0 && cur >= 0)
    ret = read_lines (&r, cur, err);
  husk_buf_free (&r.partial);
  return ret < 0 ? ret : 0;
}
