/* husk: the store lock.  flock(2) on <root>/store.lock, so a process that
   dies never keeps the store locked; taking it exclusively first repairs
   whatever such a process left behind.  */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

static int
open_lock_file (husk_store_t *s, husk_error_t *err)
{
  if (s->lockfd >= 0)
    return 0;
  s->lockfd = openat (s->rootfd, "store.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (s->lockfd < 0)
    return husk_make_error (err, errno, "open %s/store.lock", s->root);
  return 0;
}

int
husk_store_lock (husk_store_t *s, bool exclusive, husk_error_t *err)
{
  int mode = exclusive ? LOCK_EX : LOCK_SH;
  int ret;

  if (s->lock_mode == mode)
    return 0;
  ret = open_lock_file (s, err);
  if (ret < 0)
    return ret;
  while (flock (s->lockfd, mode) < 0)
    if (errno != EINTR)
      return husk_make_error (err, errno, "lock %s/store.lock", s->root);
  s->lock_mode = mode;

  if (exclusive)
    {
      husk_error_t rerr = NULL;

      /* A failed repair must not stop the command that asked for the
         lock: the leftovers are harmless until the next attempt.  */
      if (husk_store_repair (s, &rerr) < 0)
        {
          husk_warn ("could not repair the store at %s: %s", s->root, rerr->msg);
          husk_error_release (&rerr);
        }
    }
  return 0;
}

void
husk_store_unlock (husk_store_t *s)
{
  if (s->lockfd < 0 || s->lock_mode == 0)
    return;
  flock (s->lockfd, LOCK_UN);
  s->lock_mode = 0;
}

int
husk_store_require_exclusive (husk_store_t *s, const char *what, husk_error_t *err)
{
  if (s->lock_mode != LOCK_EX)
    return husk_make_error (err, 0, "internal error: %s needs the exclusive store lock", what);
  return 0;
}
