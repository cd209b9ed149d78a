/* husk: pull/push progress.  Not a TTY: podman's plain lines ("Copying
   blob sha256:<hex>" when a blob starts).  A TTY: one line per blob,
   rewritten in place (cursor up, rewrite, cursor down) at most ten times
   a second.  */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/digest.h"
#include "husk/registry.h"
#include "husk/util.h"

struct slot
{
  char *label; /* "Copying blob 4dd9e13386a3" */
  uint64_t total;
  uint64_t done;
  size_t line; /* index of its line among those printed */
  int64_t last_draw_ns;
};

struct husk_registry_progress
{
  FILE *out;
  bool tty;
  pthread_mutex_t lock;
  struct slot *slots;
  size_t n_slots;
  size_t lines;
};

husk_registry_progress_t *
husk_registry_progress_new (FILE *out)
{
  husk_registry_progress_t *p = xzalloc (sizeof (*p));

  p->out = out;
  p->tty = out && isatty (fileno (out));
  pthread_mutex_init (&p->lock, NULL);
  return p;
}

void
husk_registry_progress_free (husk_registry_progress_t *p)
{
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n_slots; i++)
    free (p->slots[i].label);
  free (p->slots);
  pthread_mutex_destroy (&p->lock);
  free (p);
}

void
husk_registry_progress_line (husk_registry_progress_t *p, const char *fmt, ...)
{
  va_list ap;

  if (p == NULL || p->out == NULL)
    return;
  pthread_mutex_lock (&p->lock);
  va_start (ap, fmt);
  vfprintf (p->out, fmt, ap);
  va_end (ap);
  fputc ('\n', p->out);
  fflush (p->out);
  p->lines++;
  pthread_mutex_unlock (&p->lock);
}

static void
human (char *buf, size_t len, uint64_t n)
{
  const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double v = (double)n;
  size_t u = 0;

  while (v >= 1024 && u < 4)
    {
      v /= 1024;
      u++;
    }
  snprintf (buf, len, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

/* Rewrite a slot's line in place (lock held).  */
static void
draw (husk_registry_progress_t *p, struct slot *s, const char *how)
{
  size_t up = p->lines - s->line;
  char done[32], total[32];

  human (done, sizeof (done), s->done);
  human (total, sizeof (total), s->total);
  fprintf (p->out, "\033[%zuA\r%s ", up, s->label);
  if (how)
    fputs (how, p->out);
  else if (s->total)
    {
      int width = 30, fill = (int)(s->done >= s->total ? width : (double)s->done / s->total * width);
      fputc ('[', p->out);
      for (int i = 0; i < width; i++)
        fputc (i < fill ? '=' : (i == fill ? '>' : ' '), p->out);
      fprintf (p->out, "] %s / %s", done, total);
    }
  else
    fputs (done, p->out);
  fprintf (p->out, "\033[K\r\033[%zuB", up);
  fflush (p->out);
}

int
husk_registry_progress_start (husk_registry_progress_t *p, const char *kind, const char *digest,
                              uint64_t total)
{
  struct slot *s;
  int id;

  if (p == NULL || p->out == NULL)
    return -1;
  pthread_mutex_lock (&p->lock);
  if (!p->tty)
    {
      fprintf (p->out, "Copying %s %s\n", kind, digest);
      fflush (p->out);
      p->lines++;
      pthread_mutex_unlock (&p->lock);
      return -1;
    }
  p->slots = xrealloc (p->slots, (p->n_slots + 1) * sizeof (*p->slots));
  id = (int)p->n_slots++;
  s = &p->slots[id];
  memset (s, 0, sizeof (*s));
  {
    const char *hex = husk_digest_valid (digest) ? husk_digest_hex (digest) : digest;
    s->label = xasprintf ("Copying %s %.12s", kind, hex);
  }
  s->total = total;
  s->line = p->lines;
  fprintf (p->out, "%s\n", s->label);
  p->lines++;
  draw (p, s, NULL);
  pthread_mutex_unlock (&p->lock);
  return id;
}

void
husk_registry_progress_update (husk_registry_progress_t *p, int slot, uint64_t done)
{
  int64_t now;
  struct slot *s;

  if (p == NULL || slot < 0 || p->out == NULL)
    return;
  pthread_mutex_lock (&p->lock);
  s = &p->slots[slot];
  s->done = done;
  now = husk_now_ns ();
  if (now - s->last_draw_ns > 100000000)
    {
      s->last_draw_ns = now;
      draw (p, s, NULL);
    }
  pthread_mutex_unlock (&p->lock);
}

void
husk_registry_progress_done (husk_registry_progress_t *p, int slot, const char *how)
{
  if (p == NULL || slot < 0 || p->out == NULL)
    return;
  pthread_mutex_lock (&p->lock);
  draw (p, &p->slots[slot], how ? how : "done");
  pthread_mutex_unlock (&p->lock);
}
