/* husk: container records (the contract is in husk/store.h).

   containers/containers.json is one compact JSON array, cached in the store
   handle and re-read only when the file's identity changes, like the image
   index (index.c): `husk ps -a` with a thousand containers parses it once
   and then reads one small state.json per container.

   Crash safety.  A container directory is made as containers/.new-<id>,
   filled, renamed to <id>, and only then added to the index; removal drops
   the index record first, renames the directory to .removing-<id> and
   deletes it.  Both run under the exclusive store lock, and so does repair,
   so whatever repair finds that the index does not name (.new-*,
   .removing-*, <id> directories without a record) was left by a process
   that died: nothing in progress can hold it.

   Ephemeral containers (run --rm) are written without fsync.  Their index
   record carries the boot id they were made in, and a "ephemeral" marker
   file in their directory tells state writes to skip the fsync too; repair
   drops the records of an earlier boot.

   Repair never sweeps <runroot>/containers: several roots may share a
   runroot (--root alone keeps the default one), and a reboot empties it.  */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "store-internal.h"

#define INDEX_FILE     "containers.json"
#define EPHEMERAL_FILE "ephemeral"
/* The CLI writes config.json; this only guards against a damaged file.  */
#define MAX_CONFIG_FILE (64u << 20)
#define MAX_STATE_FILE  (1u << 20)

/* ---- records ---- */

void
husk_container_record_free (struct husk_container_record *r)
{
  if (r == NULL)
    return;
  free (r->id);
  free (r->name);
  free (r->image_id);
  free (r->image_name);
  strv_free (r->command);
  husk_json_free (r->labels);
  free (r);
}

void
husk_container_state_clear (struct husk_container_state *st)
{
  free (st->boot_id);
  free (st->error);
  free (st->cgroup_path);
  memset (st, 0, sizeof (*st));
}

static const char *const status_names[] = {
  [HUSK_CONTAINER_CREATED] = "created",   [HUSK_CONTAINER_RUNNING] = "running",
  [HUSK_CONTAINER_STOPPING] = "stopping", [HUSK_CONTAINER_EXITED] = "exited",
  [HUSK_CONTAINER_REMOVING] = "removing",
};

const char *
husk_container_status_name (enum husk_container_status st)
{
  if ((size_t)st >= sizeof (status_names) / sizeof (status_names[0]))
    return "unknown";
  return status_names[st];
}

static int
status_from_name (const char *name, enum husk_container_status *out)
{
  size_t i;

  for (i = 0; name && i < sizeof (status_names) / sizeof (status_names[0]); i++)
    if (strcmp (status_names[i], name) == 0)
      {
        *out = (enum husk_container_status)i;
        return 0;
      }
  return -1;
}

static void
records_free (struct husk_container_record **recs, char **boots, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    {
      husk_container_record_free (recs[i]);
      free (boots[i]);
    }
  free (recs);
  free (boots);
}

/* An error that carries errno status without ": strerror" appended: for
   messages that already say everything ("no such container x").  */
static int __attribute__ ((format (printf, 3, 4)))
status_error (husk_error_t *err, int status, const char *fmt, ...)
{
  cleanup_free char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  husk_make_error (err, 0, "%s", msg);
  (*err)->status = status;
  return -status;
}

static bool
is_hex (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static int
check_id (const char *id, husk_error_t *err)
{
  if (id == NULL || !husk_store_is_hex64 (id))
    return husk_make_error (err, EINVAL, "invalid container id \"%s\"", id ? id : "");
  return 0;
}

/* containers/, made on first use so opening the store stays one mkdir
   cheaper for the commands that never look at containers.  */
static int
containers_fd (husk_store_t *s, husk_error_t *err)
{
  if (s->containersfd >= 0)
    return s->containersfd;
  if (mkdirat (s->rootfd, "containers", 0700) < 0 && errno != EEXIST)
    return husk_make_error (err, errno, "create %s/containers", s->root);
  s->containersfd = openat (s->rootfd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (s->containersfd < 0)
    return husk_make_error (err, errno, "open %s/containers", s->root);
  return s->containersfd;
}

void
husk_store_containers_release (husk_store_t *s)
{
  if (s->ctrs)
    records_free (s->ctrs, s->ctr_boots, s->n_ctrs);
  s->ctrs = NULL;
  s->ctr_boots = NULL;
  s->n_ctrs = 0;
  s->ctr_loaded = false;
  if (s->containersfd >= 0)
    close (s->containersfd);
  s->containersfd = -1;
}

/* ---- the index ---- */

static husk_json_t *
record_to_json (const struct husk_container_record *r, const char *boot)
{
  husk_json_t *o = husk_json_new_object ();

  husk_json_set_string (o, "id", r->id);
  husk_json_set_string (o, "name", r->name);
  husk_json_set_string (o, "image", r->image_id);
  if (r->image_name)
    husk_json_set_string (o, "image_name", r->image_name);
  if (r->command && r->command[0])
    husk_json_set (o, "command", husk_json_from_strv (r->command));
  husk_json_set_int (o, "created", r->created);
  if (r->labels && husk_json_object_len (r->labels) > 0)
    husk_json_set (o, "labels", husk_json_clone (r->labels));
  if (boot)
    husk_json_set_string (o, "boot", boot);
  return o;
}

static struct husk_container_record *
record_from_json (const husk_json_t *o, char **boot)
{
  struct husk_container_record *r;
  const char *id = husk_json_get_string (o, "id");
  const char *name = husk_json_get_string (o, "name");
  const char *image = husk_json_get_string (o, "image");
  const char *image_name = husk_json_get_string (o, "image_name");
  const char *b = husk_json_get_string (o, "boot");
  husk_json_t *labels = husk_json_get (o, "labels");

  if (id == NULL || !husk_store_is_hex64 (id) || name == NULL)
    return NULL;
  r = xzalloc (sizeof (*r));
  r->id = xstrdup (id);
  r->name = xstrdup (name);
  r->image_id = xstrdup (image ? image : "");
  r->image_name = image_name ? xstrdup (image_name) : NULL;
  r->command = husk_json_to_strv (husk_json_get (o, "command"));
  r->created = husk_json_int (husk_json_get (o, "created"), 0);
  if (labels && husk_json_type (labels) == HUSK_JSON_OBJECT)
    r->labels = husk_json_clone (labels);
  *boot = b ? xstrdup (b) : NULL;
  return r;
}

static int
parse_index (const char *data, size_t len, struct husk_container_record ***recs_out, char ***boots_out,
             size_t *n, husk_error_t *err)
{
  cleanup_json husk_json_t *arr = NULL;
  struct husk_container_record **recs;
  char **boots;
  size_t i, count, j = 0;

  arr = husk_json_parse (data, len, err);
  if (arr == NULL)
    return -1;
  if (husk_json_type (arr) != HUSK_JSON_ARRAY)
    return husk_make_error (err, 0, "not a JSON array");
  count = husk_json_array_len (arr);
  recs = xzalloc ((count + 1) * sizeof (*recs));
  boots = xzalloc ((count + 1) * sizeof (*boots));
  for (i = 0; i < count; i++)
    {
      struct husk_container_record *r = record_from_json (husk_json_array_at (arr, i), &boots[j]);
      if (r == NULL)
        {
          husk_debug ("skipping a container record without a valid id or name in %s", INDEX_FILE);
          continue;
        }
      recs[j++] = r;
    }
  *recs_out = recs;
  *boots_out = boots;
  *n = j;
  return 0;
}

static void
cache_set_identity (husk_store_t *s, const struct stat *st)
{
  s->ctr_missing = st == NULL;
  if (st == NULL)
    return;
  s->ctr_dev = st->st_dev;
  s->ctr_ino = st->st_ino;
  s->ctr_size = st->st_size;
  s->ctr_mtime = st->st_mtim;
}

static bool
cache_matches (const husk_store_t *s, const struct stat *st)
{
  return s->ctr_loaded && !s->ctr_missing && s->ctr_dev == st->st_dev && s->ctr_ino == st->st_ino
         && s->ctr_size == st->st_size && s->ctr_mtime.tv_sec == st->st_mtim.tv_sec
         && s->ctr_mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Install new arrays; the records they share with the old ones stay, so
   only the old arrays themselves are freed here.  */
static void
cache_install (husk_store_t *s, struct husk_container_record **recs, char **boots, size_t n)
{
  free (s->ctrs);
  free (s->ctr_boots);
  s->ctrs = recs;
  s->ctr_boots = boots;
  s->n_ctrs = n;
  s->ctr_loaded = true;
}

static int
index_load (husk_store_t *s, husk_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  struct husk_container_record **recs = NULL;
  char **boots = NULL;
  size_t len = 0, n = 0;
  struct stat st;
  int dfd, ret;

  dfd = containers_fd (s, err);
  if (dfd < 0)
    return dfd;
  fd = openat (dfd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      if (errno != ENOENT)
        return husk_make_error (err, errno, "open %s/containers/%s", s->root, INDEX_FILE);
      if (!(s->ctr_loaded && s->ctr_missing))
        {
          if (s->ctrs)
            records_free (s->ctrs, s->ctr_boots, s->n_ctrs);
          s->ctrs = NULL;
          s->ctr_boots = NULL;
          cache_install (s, xzalloc (sizeof (*recs)), xzalloc (sizeof (*boots)), 0);
        }
      cache_set_identity (s, NULL);
      return 0;
    }
  if (fstat (fd, &st) < 0)
    return husk_make_error (err, errno, "stat %s/containers/%s", s->root, INDEX_FILE);
  if (cache_matches (s, &st))
    return 0;

  ret = husk_read_all_fd (fd, 0, &data, &len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read %s/containers/%s", s->root, INDEX_FILE);
  ret = parse_index (data, len, &recs, &boots, &n, err);
  if (ret < 0)
    return husk_error_wrap (err, "the container index %s/containers/%s is corrupt", s->root, INDEX_FILE);
  if (s->ctrs)
    records_free (s->ctrs, s->ctr_boots, s->n_ctrs);
  s->ctrs = NULL;
  s->ctr_boots = NULL;
  cache_install (s, recs, boots, n);
  cache_set_identity (s, &st);
  return 0;
}

/* Write recs as the new index.  On success the cache holds the new arrays
   (their records are now owned by the store) and the old arrays are freed
   (not the records: the caller frees those it dropped).  On failure
   nothing changes and the caller still owns the new arrays.  */
static int
index_replace (husk_store_t *s, struct husk_container_record **recs, char **boots, size_t n, bool sync,
               husk_error_t *err)
{
  cleanup_json husk_json_t *arr = husk_json_new_array ();
  cleanup_free char *data = NULL;
  size_t i, len = 0;
  struct stat st;
  int dfd, ret;

  dfd = containers_fd (s, err);
  if (dfd < 0)
    return dfd;
  for (i = 0; i < n; i++)
    husk_json_array_append (arr, record_to_json (recs[i], boots[i]));
  data = husk_json_serialize (arr, false, &len);
  if (sync)
    ret = husk_write_file_atomic (dfd, INDEX_FILE, data, len, 0600, err);
  else
    ret = husk_write_file_atomic_nosync (dfd, INDEX_FILE, data, len, 0600, err);
  if (ret < 0)
    return husk_error_wrap (err, "write %s/containers/%s", s->root, INDEX_FILE);
  cache_install (s, recs, boots, n);
  if (fstatat (dfd, INDEX_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0)
    cache_set_identity (s, &st);
  else
    {
      /* Unknown identity: drop the cache so the next read parses again.  */
      s->ctrs = NULL;
      s->ctr_boots = NULL;
      records_free (recs, boots, n);
      s->n_ctrs = 0;
      s->ctr_loaded = false;
    }
  return 0;
}

int
husk_store_containers (husk_store_t *s, struct husk_container_record *const **out, size_t *n,
                       husk_error_t *err)
{
  int ret = index_load (s, err);

  if (ret < 0)
    return ret;
  *out = s->ctrs;
  if (n)
    *n = s->n_ctrs;
  return 0;
}

static ssize_t
find_id (husk_store_t *s, const char *id)
{
  size_t i;

  for (i = 0; i < s->n_ctrs; i++)
    if (strcmp (s->ctrs[i]->id, id) == 0)
      return (ssize_t)i;
  return -1;
}

static ssize_t
find_name (husk_store_t *s, const char *name)
{
  size_t i;

  for (i = 0; i < s->n_ctrs; i++)
    if (strcmp (s->ctrs[i]->name, name) == 0)
      return (ssize_t)i;
  return -1;
}

int
husk_store_container_find (husk_store_t *s, const char *key, struct husk_container_record **out,
                           husk_error_t *err)
{
  struct husk_container_record *found = NULL;
  size_t i, len;
  ssize_t idx;
  int ret;

  ret = index_load (s, err);
  if (ret < 0)
    return ret;
  if (key == NULL || *key == '\0')
    return 0;
  idx = find_id (s, key);
  /* A name wins over an id prefix that happens to spell the same.  */
  if (idx < 0)
    idx = find_name (s, key[0] == '/' ? key + 1 : key);
  if (idx >= 0)
    {
      *out = s->ctrs[idx];
      return 1;
    }
  len = strlen (key);
  if (len >= 64 || !is_hex (key))
    return 0;
  for (i = 0; i < s->n_ctrs; i++)
    {
      if (strncmp (s->ctrs[i]->id, key, len) != 0)
        continue;
      if (found)
        return husk_make_error (err, 0, "short ID %s is ambiguous: it matches containers %.12s and %.12s",
                                key, found->id, s->ctrs[i]->id);
      found = s->ctrs[i];
    }
  if (found == NULL)
    return 0;
  *out = found;
  return 1;
}

/* ---- ids and names ---- */

static void
random_bytes (void *buf, size_t n)
{
  unsigned char *p = buf;
  size_t i;

  if (getrandom (buf, n, GRND_NONBLOCK) == (ssize_t)n)
    return;
  /* No entropy yet (early boot): an id only has to be unique, and create
     refuses a duplicate.  */
  {
    uint64_t x = (uint64_t)husk_now_ns () ^ ((uint64_t)getpid () << 32);
    for (i = 0; i < n; i++)
      {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (unsigned char)(x >> 33);
      }
  }
}

char *
husk_store_container_new_id (void)
{
  static const char hex[] = "0123456789abcdef";
  char *id = xmalloc (65);

  for (;;)
    {
      unsigned char rnd[32];
      size_t i;
      bool all_digits = true;

      random_bytes (rnd, sizeof (rnd));
      for (i = 0; i < 32; i++)
        {
          id[2 * i] = hex[rnd[i] >> 4];
          id[2 * i + 1] = hex[rnd[i] & 0xf];
        }
      id[64] = '\0';
      /* Like Docker: a short id that reads as a number would be confusing
         (and is taken as one by some tools).  */
      for (i = 0; i < 12 && all_digits; i++)
        all_digits = id[i] >= '0' && id[i] <= '9';
      if (!all_digits)
        return id;
    }
}

static bool
name_char (char c, bool first)
{
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return !first && (c == '_' || c == '.' || c == '-');
}

static bool
name_valid (const char *name)
{
  size_t i;

  if (name[0] == '\0')
    return false;
  for (i = 0; name[i]; i++)
    if (!name_char (name[i], i == 0))
      return false;
  return true;
}

static const char *const adjectives[] = {
  "agile",   "amazing", "blissful", "bold",    "brave",   "bright",   "busy",   "calm",    "charming",
  "clever",  "cool",    "cozy",     "crisp",   "curious", "dazzling", "eager",  "elegant", "epic",
  "fervent", "festive", "fluffy",   "focused", "gentle",  "happy",    "hardy",  "humble",  "jolly",
  "keen",    "kind",    "lively",   "lucid",   "merry",   "mighty",   "modest", "nimble",  "noble",
  "patient", "plucky",  "polite",   "proud",   "quiet",   "quirky",   "serene", "sharp",   "silly",
  "sleepy",  "steady",  "sunny",    "swift",   "tender",  "vibrant",  "witty",  "zealous",
};

static const char *const nouns[] = {
  "albatross", "badger",  "beaver",  "bison",  "camel",  "cheetah", "cobra",   "condor",  "coyote",
  "crane",     "dingo",   "dolphin", "eagle",  "falcon", "ferret",  "gazelle", "gecko",   "heron",
  "ibex",      "jackal",  "jaguar",  "koala",  "lemur",  "lynx",    "marmot",  "meerkat", "mongoose",
  "moose",     "narwhal", "ocelot",  "otter",  "panda",  "pelican", "puffin",  "quokka",  "raven",
  "salmon",    "seal",    "sparrow", "squid",  "stork",  "swan",    "tapir",   "tiger",   "toucan",
  "turtle",    "walrus",  "weasel",  "wombat", "yak",    "zebra",
};

#define N_ADJECTIVES (sizeof (adjectives) / sizeof (adjectives[0]))
#define N_NOUNS      (sizeof (nouns) / sizeof (nouns[0]))

/* "adjective_noun"; after many collisions (a store with most of the
   ~2700 pairs taken) a number is appended, as Docker does.  */
static char *
generate_name (husk_store_t *s)
{
  unsigned tries;

  for (tries = 0;; tries++)
    {
      uint32_t rnd[3];
      char *name;

      random_bytes (rnd, sizeof (rnd));
      if (tries < 64)
        name = xasprintf ("%s_%s", adjectives[rnd[0] % N_ADJECTIVES], nouns[rnd[1] % N_NOUNS]);
      else
        name = xasprintf ("%s_%s%u", adjectives[rnd[0] % N_ADJECTIVES], nouns[rnd[1] % N_NOUNS],
                          (unsigned)(rnd[2] % 1000));
      if (find_name (s, name) < 0)
        return name;
      free (name);
    }
}

/* ---- create ---- */

static int
write_new_file (int dfd, const char *name, const void *data, size_t len, bool sync, husk_error_t *err)
{
  cleanup_close int fd = openat (dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  int ret;

  if (fd < 0)
    return husk_make_error (err, errno, "create %s", name);
  ret = husk_write_all (fd, data, len, err);
  if (ret < 0)
    return husk_error_wrap (err, "write %s", name);
  if (sync && fsync (fd) < 0)
    return husk_make_error (err, errno, "fsync %s", name);
  return 0;
}

static husk_json_t *
state_to_json (const struct husk_container_state *st)
{
  husk_json_t *o = husk_json_new_object ();

  husk_json_set_string (o, "Status", husk_container_status_name (st->status));
  husk_json_set_int (o, "Pid", st->pid);
  husk_json_set_int (o, "MonitorPid", st->monitor_pid);
  husk_json_set_int (o, "MonitorStart", (int64_t)st->monitor_start);
  if (st->boot_id)
    husk_json_set_string (o, "BootId", st->boot_id);
  husk_json_set_int (o, "ExitCode", st->exit_code);
  husk_json_set_bool (o, "OOMKilled", st->oom_killed);
  husk_json_set_bool (o, "StoppedByUser", st->stopped_by_user);
  husk_json_set_int (o, "StartedAt", st->started_at);
  husk_json_set_int (o, "FinishedAt", st->finished_at);
  husk_json_set_int (o, "RestartCount", st->restart_count);
  if (st->error)
    husk_json_set_string (o, "Error", st->error);
  if (st->cgroup_path)
    husk_json_set_string (o, "CgroupPath", st->cgroup_path);
  return o;
}

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

static int
state_from_json (const husk_json_t *o, struct husk_container_state *st, husk_error_t *err)
{
  const char *status = husk_json_get_string (o, "Status");

  if (husk_json_type (o) != HUSK_JSON_OBJECT || status_from_name (status, &st->status) < 0)
    return husk_make_error (err, 0, "no valid Status");
  st->pid = (pid_t)husk_json_int (husk_json_get (o, "Pid"), 0);
  st->monitor_pid = (pid_t)husk_json_int (husk_json_get (o, "MonitorPid"), 0);
  st->monitor_start = (uint64_t)husk_json_int (husk_json_get (o, "MonitorStart"), 0);
  st->boot_id = dup_or_null (husk_json_get_string (o, "BootId"));
  st->exit_code = (int)husk_json_int (husk_json_get (o, "ExitCode"), 0);
  st->oom_killed = husk_json_bool (husk_json_get (o, "OOMKilled"), false);
  st->stopped_by_user = husk_json_bool (husk_json_get (o, "StoppedByUser"), false);
  st->started_at = husk_json_int (husk_json_get (o, "StartedAt"), 0);
  st->finished_at = husk_json_int (husk_json_get (o, "FinishedAt"), 0);
  st->restart_count = (unsigned)husk_json_int (husk_json_get (o, "RestartCount"), 0);
  st->error = dup_or_null (husk_json_get_string (o, "Error"));
  st->cgroup_path = dup_or_null (husk_json_get_string (o, "CgroupPath"));
  return 0;
}

static char *
state_serialize (const struct husk_container_state *st, size_t *len)
{
  cleanup_json husk_json_t *o = state_to_json (st);
  return husk_json_serialize (o, false, len);
}

/* Fill containers/<tmp>/: upper/ (the container's "/": its mode is what
   the merged root shows), work/, lock, config.json, a CREATED state.  */
static int
fill_dir (int dfd, const struct husk_container_new *c, husk_error_t *err)
{
  struct husk_container_state st = { .status = HUSK_CONTAINER_CREATED };
  cleanup_free char *state = NULL;
  bool sync = !c->ephemeral;
  size_t len = 0;
  int ret;

  if (mkdirat (dfd, "upper", 0755) < 0 || fchmodat (dfd, "upper", 0755, 0) < 0)
    return husk_make_error (err, errno, "create upper");
  if (mkdirat (dfd, "work", 0700) < 0)
    return husk_make_error (err, errno, "create work");
  ret = write_new_file (dfd, "lock", "", 0, false, err);
  if (ret == 0 && c->ephemeral)
    ret = write_new_file (dfd, EPHEMERAL_FILE, "", 0, false, err);
  if (ret == 0)
    ret = write_new_file (dfd, "config.json", c->config ? c->config : "{}", c->config ? c->config_len : 2,
                          sync, err);
  state = state_serialize (&st, &len);
  if (ret == 0)
    ret = write_new_file (dfd, "state.json", state, len, sync, err);
  if (ret == 0 && sync)
    ret = husk_fsync_dir (dfd, err);
  return ret;
}

static int
make_dir (husk_store_t *s, int cfd, const struct husk_container_new *c, husk_error_t *err)
{
  cleanup_free char *tmp = xasprintf (".new-%s", c->id);
  cleanup_close int dfd = -1;
  int ret;

  /* Only a dead create leaves one (we hold the exclusive lock).  */
  ret = husk_rm_rf_at (cfd, tmp, err);
  if (ret < 0)
    return ret;
  if (mkdirat (cfd, tmp, 0700) < 0)
    return husk_make_error (err, errno, "create %s/containers/%s", s->root, tmp);
  dfd = openat (cfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0)
    ret = husk_make_error (err, errno, "open %s/containers/%s", s->root, tmp);
  else
    ret = fill_dir (dfd, c, err);
  if (ret == 0 && renameat (cfd, tmp, cfd, c->id) < 0)
    ret = husk_make_error (err, errno, "rename %s/containers/%s", s->root, tmp);
  if (ret == 0 && !c->ephemeral)
    ret = husk_fsync_dir (cfd, err);
  if (ret < 0)
    {
      husk_error_t rerr = NULL;

      if (husk_rm_rf_at (cfd, tmp, &rerr) < 0)
        husk_error_release (&rerr);
      return husk_error_wrap (err, "create the directory of container %.12s", c->id);
    }
  return 0;
}

/* A name the user asked for: valid and not used by another container.  */
static int
check_name (husk_store_t *s, const char *asked, char **name, husk_error_t *err)
{
  const char *bare = asked[0] == '/' ? asked + 1 : asked;
  ssize_t other;

  if (!name_valid (bare))
    return status_error (err, EINVAL,
                         "invalid container name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", asked);
  other = find_name (s, bare);
  if (other >= 0)
    return status_error (err, EEXIST,
                         "the container name \"%s\" is already in use by %s. You have to remove that "
                         "container to be able to reuse that name.",
                         bare, s->ctrs[other]->id);
  *name = xstrdup (bare);
  return 0;
}

static int
check_new (husk_store_t *s, const struct husk_container_new *c, char **name, husk_error_t *err)
{
  int ret;

  ret = check_id (c->id, err);
  if (ret < 0)
    return ret;
  if (find_id (s, c->id) >= 0)
    return status_error (err, EEXIST, "a container with id %s already exists", c->id);
  if (c->name == NULL)
    {
      *name = generate_name (s);
      return 0;
    }
  return check_name (s, c->name, name, err);
}

int
husk_store_container_rename (husk_store_t *s, const char *id, const char *name, husk_error_t *err)
{
  cleanup_free char *bare = NULL;
  struct husk_container_record **recs, *r;
  char **boots;
  ssize_t idx;
  int ret;

  ret = husk_store_require_exclusive (s, "renaming a container", err);
  if (ret < 0)
    return ret;
  ret = index_load (s, err);
  if (ret < 0)
    return ret;
  idx = id ? find_id (s, id) : -1;
  if (idx < 0)
    return status_error (err, ENOENT, "no such container %s", id ? id : "");
  if (strcmp (s->ctrs[idx]->name, name[0] == '/' ? name + 1 : name) == 0)
    return 0;
  ret = check_name (s, name, &bare, err);
  if (ret < 0)
    return ret;

  /* A changed copy of the one record, so a failed write changes nothing.  */
  r = xzalloc (sizeof (*r));
  *r = *s->ctrs[idx];
  r->id = xstrdup (r->id);
  r->name = steal_pointer (&bare);
  r->image_id = xstrdup (r->image_id);
  r->image_name = dup_or_null (r->image_name);
  r->command = strv_dup (r->command);
  r->labels = r->labels ? husk_json_clone (r->labels) : NULL;
  recs = xzalloc ((s->n_ctrs + 1) * sizeof (*recs));
  boots = xzalloc ((s->n_ctrs + 1) * sizeof (*boots));
  memcpy (recs, s->ctrs, s->n_ctrs * sizeof (*recs));
  memcpy (boots, s->ctr_boots, s->n_ctrs * sizeof (*boots));
  recs[idx] = r;
  {
    struct husk_container_record *old = s->ctrs[idx];

    ret = index_replace (s, recs, boots, s->n_ctrs, boots[idx] == NULL, err);
    if (ret < 0)
      {
        husk_container_record_free (r);
        free (recs);
        free (boots);
        return ret;
      }
    husk_container_record_free (old);
  }
  return 0;
}

int
husk_store_container_create (husk_store_t *s, const struct husk_container_new *c, char **name_out,
                             husk_error_t *err)
{
  cleanup_free char *name = NULL;
  struct husk_container_record **recs, *r;
  char **boots;
  int cfd, ret;

  ret = husk_store_require_exclusive (s, "creating a container", err);
  if (ret < 0)
    return ret;
  ret = index_load (s, err);
  if (ret < 0)
    return ret;
  ret = check_new (s, c, &name, err);
  if (ret < 0)
    return ret;
  cfd = containers_fd (s, err);
  if (cfd < 0)
    return cfd;
  ret = make_dir (s, cfd, c, err);
  if (ret < 0)
    return ret;

  r = xzalloc (sizeof (*r));
  r->id = xstrdup (c->id);
  r->name = xstrdup (name);
  r->image_id = xstrdup (c->image_id ? c->image_id : "");
  r->image_name = dup_or_null (c->image_name);
  r->command = strv_dup (c->command);
  r->created = husk_now_ns ();
  if (c->labels && husk_json_type (c->labels) == HUSK_JSON_OBJECT && husk_json_object_len (c->labels) > 0)
    r->labels = husk_json_clone (c->labels);

  recs = xzalloc ((s->n_ctrs + 2) * sizeof (*recs));
  boots = xzalloc ((s->n_ctrs + 2) * sizeof (*boots));
  memcpy (recs, s->ctrs, s->n_ctrs * sizeof (*recs));
  memcpy (boots, s->ctr_boots, s->n_ctrs * sizeof (*boots));
  recs[s->n_ctrs] = r;
  boots[s->n_ctrs] = c->ephemeral ? xstrdup (husk_store_boot_id ()) : NULL;
  ret = index_replace (s, recs, boots, s->n_ctrs + 1, !c->ephemeral, err);
  if (ret < 0)
    {
      husk_error_t rerr = NULL;

      free (boots[s->n_ctrs]);
      husk_container_record_free (r);
      free (recs);
      free (boots);
      if (husk_rm_rf_at (cfd, c->id, &rerr) < 0)
        husk_error_release (&rerr);
      return ret;
    }
  if (name_out)
    *name_out = steal_pointer (&name);
  return 0;
}

/* ---- files of one container ---- */

char *
husk_store_container_dir (husk_store_t *s, const char *id)
{
  return xasprintf ("%s/containers/%s", s->root, id);
}

int
husk_store_container_rundir (husk_store_t *s, const char *id, bool create, char **out, husk_error_t *err)
{
  cleanup_free char *path = NULL;
  int ret;

  ret = check_id (id, err);
  if (ret < 0)
    return ret;
  path = xasprintf ("%s/containers/%s", s->runroot, id);
  if (create)
    {
      ret = husk_mkdir_p (path, 0700, err);
      if (ret < 0)
        return husk_error_wrap (err, "create the runtime directory of container %.12s", id);
    }
  *out = steal_pointer (&path);
  return 0;
}

/* Open containers/<id>/<file>; a missing container is ENOENT.  */
static int
open_file (husk_store_t *s, const char *id, const char *file, int flags, husk_error_t *err)
{
  cleanup_free char *path = NULL;
  int cfd, fd, ret;

  ret = check_id (id, err);
  if (ret < 0)
    return ret;
  cfd = containers_fd (s, err);
  if (cfd < 0)
    return cfd;
  path = xasprintf ("%s/%s", id, file);
  fd = openat (cfd, path, flags | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return status_error (err, ENOENT, "no such container %s", id);
      return husk_make_error (err, errno, "open %s/containers/%s", s->root, path);
    }
  return fd;
}

int
husk_store_container_config (husk_store_t *s, const char *id, char **data, size_t *len, husk_error_t *err)
{
  cleanup_close int fd = open_file (s, id, "config.json", O_RDONLY, err);

  if (fd < 0)
    return fd;
  if (husk_read_all_fd (fd, MAX_CONFIG_FILE, data, len, err) < 0)
    return husk_error_wrap (err, "read the configuration of container %.12s", id);
  return 0;
}

/* Read a small file whose content cannot change under us: state.json is
   only ever replaced by rename, never written in place, and /proc/<pid>/stat
   is produced in one go.  So a short read is the end, which saves the
   fstat and the final read of husk_read_all_fd: `ps` reads a thousand of
   these, and syscalls are most of its time.  */
static int
read_small (int fd, size_t max, char **out, size_t *len)
{
  size_t cap = 4096, n = 0;
  char *buf = xmalloc (cap);

  for (;;)
    {
      ssize_t r = read (fd, buf + n, cap - n - 1);

      if (r < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          free (buf);
          return -saved;
        }
      n += (size_t)r;
      if (r == 0 || n < cap - 1)
        break;
      if (cap > max)
        {
          free (buf);
          return -EFBIG;
        }
      cap *= 2;
      buf = xrealloc (buf, cap);
    }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

/* ---- liveness ---- */

static void
read_boot_id (char *out, size_t size)
{
  cleanup_close int fd = open ("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  ssize_t n;

  out[0] = '\0';
  if (fd < 0)
    return;
  n = read (fd, out, size - 1);
  if (n <= 0)
    n = 0;
  out[n] = '\0';
  out[strcspn (out, "\n")] = '\0';
}

/* A uuid: 36 characters.  */
static char boot_id[64];
static pthread_once_t boot_id_once = PTHREAD_ONCE_INIT;

static void
boot_id_init (void)
{
  read_boot_id (boot_id, sizeof (boot_id));
}

const char *
husk_store_boot_id (void)
{
  pthread_once (&boot_id_once, boot_id_init);
  return boot_id;
}

/* Field 3 (state) and field 22 (start time) of /proc/<pid>/stat.  The
   command name (field 2) may hold spaces and parentheses, so fields are
   counted from the last ')'.  */
static bool
read_pid_stat (pid_t pid, char *state, uint64_t *start)
{
  cleanup_free char *path = NULL;
  cleanup_free char *data = NULL;
  cleanup_close int fd = -1;
  char *p, *tok, *save = NULL;
  size_t len = 0;
  int field;

  if (pid <= 0)
    return false;
  path = xasprintf ("/proc/%d/stat", (int)pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  if (read_small (fd, 1 << 16, &data, &len) < 0)
    return false;
  p = strrchr (data, ')');
  if (p == NULL)
    return false;
  for (field = 3, tok = strtok_r (p + 1, " \n", &save); tok; field++, tok = strtok_r (NULL, " \n", &save))
    {
      if (field == 3)
        *state = tok[0];
      else if (field == 22)
        return husk_parse_u64 (tok, start);
    }
  return false;
}

uint64_t
husk_store_pid_start_time (pid_t pid)
{
  uint64_t start = 0;
  char state = 0;

  if (!read_pid_stat (pid, &state, &start))
    return 0;
  return start;
}

bool
husk_store_pid_alive (pid_t pid, uint64_t start_time, const char *boot)
{
  uint64_t start = 0;
  char state = 0;

  if (pid <= 0)
    return false;
  /* An unreadable boot id (no /proc/sys) cannot tell boots apart.  */
  if (boot && husk_store_boot_id ()[0] && strcmp (boot, husk_store_boot_id ()) != 0)
    return false;
  if (!read_pid_stat (pid, &state, &start))
    return false;
  /* A zombie has exited; only its parent has not reaped it yet.  */
  if (state == 'Z' || state == 'X' || state == 'x')
    return false;
  return start == start_time;
}

/* RUNNING or STOPPING is only true while the monitor lives.  The monitor
   records an exit by setting finished_at after started_at; without that
   it died before it could, and the container went with it (or is an
   orphan we cannot account for).  */
static void
derive_liveness (struct husk_container_state *st)
{
  bool recorded;

  if (st->status != HUSK_CONTAINER_RUNNING && st->status != HUSK_CONTAINER_STOPPING)
    return;
  if (husk_store_pid_alive (st->monitor_pid, st->monitor_start, st->boot_id))
    return;
  recorded = st->finished_at != 0 && st->finished_at >= st->started_at;
  st->status = HUSK_CONTAINER_EXITED;
  st->pid = 0;
  st->monitor_pid = 0;
  if (!recorded)
    {
      st->exit_code = 137;
      free (st->error);
      st->error = xstrdup ("the container's monitor died");
    }
}

int
husk_store_container_state (husk_store_t *s, const char *id, struct husk_container_state *st,
                            husk_error_t *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *data = NULL;
  cleanup_json husk_json_t *o = NULL;
  size_t len = 0;
  int ret;

  memset (st, 0, sizeof (*st));
  fd = open_file (s, id, "state.json", O_RDONLY, err);
  if (fd < 0)
    return fd;
  ret = read_small (fd, MAX_STATE_FILE, &data, &len);
  if (ret < 0)
    return husk_make_error (err, -ret, "read the state of container %.12s", id);
  o = husk_json_parse (data, len, err);
  if (o == NULL)
    return husk_error_wrap (err, "the state of container %.12s is corrupt", id);
  ret = state_from_json (o, st, err);
  if (ret < 0)
    {
      husk_container_state_clear (st);
      return husk_error_wrap (err, "the state of container %.12s is corrupt", id);
    }
  derive_liveness (st);
  return 0;
}

int
husk_store_container_state_write (husk_store_t *s, const char *id, const struct husk_container_state *st,
                                  husk_error_t *err)
{
  cleanup_free char *data = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *marker = NULL;
  size_t len = 0;
  int cfd, ret;

  ret = check_id (id, err);
  if (ret < 0)
    return ret;
  cfd = containers_fd (s, err);
  if (cfd < 0)
    return cfd;
  data = state_serialize (st, &len);
  path = xasprintf ("%s/state.json", id);
  marker = xasprintf ("%s/%s", id, EPHEMERAL_FILE);
  if (faccessat (cfd, marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    ret = husk_write_file_atomic_nosync (cfd, path, data, len, 0600, err);
  else
    ret = husk_write_file_atomic (cfd, path, data, len, 0600, err);
  if (ret < 0)
    {
      if ((*err)->status == ENOENT)
        {
          husk_error_release (err);
          return status_error (err, ENOENT, "no such container %s", id);
        }
      return husk_error_wrap (err, "write the state of container %.12s", id);
    }
  return 0;
}

/* ---- lock ---- */

int
husk_store_container_lock (husk_store_t *s, const char *id, int *fd, husk_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_close int lfd = -1;
  struct stat st, now;

  lfd = open_file (s, id, "lock", O_RDWR, err);
  if (lfd < 0)
    return lfd;
  while (flock (lfd, LOCK_EX) < 0)
    if (errno != EINTR)
      return husk_make_error (err, errno, "lock container %.12s", id);
  /* Removed while we waited: the file is unlinked, or still linked under
     .removing-<id> while the directory is being deleted.  */
  path = xasprintf ("%s/lock", id);
  if (fstat (lfd, &st) < 0)
    return husk_make_error (err, errno, "stat the lock of container %.12s", id);
  if (st.st_nlink == 0 || fstatat (s->containersfd, path, &now, AT_SYMLINK_NOFOLLOW) < 0
      || now.st_dev != st.st_dev || now.st_ino != st.st_ino)
    return status_error (err, ENOENT, "no such container %s", id);
  *fd = move_fd (&lfd);
  return 0;
}

/* ---- remove ---- */

/* Rename first, so a crash half-way leaves a .removing-<id> that repair
   deletes rather than a half-emptied <id> that looks like a container.  */
static void
remove_container_dirs (husk_store_t *s, int cfd, const char *id)
{
  cleanup_free char *removing = xasprintf (".removing-%s", id);
  cleanup_free char *rundir = xasprintf ("%s/containers/%s", s->runroot, id);
  husk_error_t err = NULL;
  const char *victim = removing;

  if (renameat (cfd, id, cfd, removing) < 0)
    victim = id;
  if (husk_rm_rf_at (cfd, victim, &err) < 0)
    {
      husk_warn ("%s (repair will retry)", err->msg);
      husk_error_release (&err);
    }
  if (husk_rm_rf_at (AT_FDCWD, rundir, &err) < 0)
    {
      husk_warn ("%s (repair will retry)", err->msg);
      husk_error_release (&err);
    }
}

int
husk_store_container_remove (husk_store_t *s, const char *id, husk_error_t *err)
{
  struct husk_container_record **recs, *removed;
  char **boots, *removed_boot;
  size_t n;
  ssize_t idx;
  int cfd, ret;

  ret = husk_store_require_exclusive (s, "removing a container", err);
  if (ret < 0)
    return ret;
  ret = index_load (s, err);
  if (ret < 0)
    return ret;
  idx = id ? find_id (s, id) : -1;
  if (idx < 0)
    return status_error (err, ENOENT, "no such container %s", id ? id : "");
  cfd = containers_fd (s, err);
  if (cfd < 0)
    return cfd;

  n = s->n_ctrs;
  removed = s->ctrs[idx];
  removed_boot = s->ctr_boots[idx];
  recs = xzalloc (n * sizeof (*recs));
  boots = xzalloc (n * sizeof (*boots));
  memcpy (recs, s->ctrs, (size_t)idx * sizeof (*recs));
  memcpy (recs + idx, s->ctrs + idx + 1, (n - (size_t)idx - 1) * sizeof (*recs));
  memcpy (boots, s->ctr_boots, (size_t)idx * sizeof (*boots));
  memcpy (boots + idx, s->ctr_boots + idx + 1, (n - (size_t)idx - 1) * sizeof (*boots));
  ret = index_replace (s, recs, boots, n - 1, removed_boot == NULL, err);
  if (ret < 0)
    {
      free (recs);
      free (boots);
      return ret;
    }
  remove_container_dirs (s, cfd, removed->id);
  husk_container_record_free (removed);
  free (removed_boot);
  return 0;
}

/* ---- repair ---- */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static char **
sorted_find (char *const *v, size_t n, const char *str)
{
  return n > 0 ? bsearch (&str, v, n, sizeof (char *), cmp_str) : NULL;
}

static bool
sorted_contains (char *const *v, size_t n, const char *str)
{
  return sorted_find (v, n, str) != NULL;
}

static DIR *
open_dir_at (int dirfd, const char *name)
{
  int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  DIR *d;

  if (fd < 0)
    return NULL;
  d = fdopendir (fd);
  if (d == NULL)
    close (fd);
  return d;
}

/* Sorted, shallow copy of the ids in the index.  */
static char **
sorted_ids (husk_store_t *s)
{
  char **ids = xzalloc ((s->n_ctrs + 1) * sizeof (*ids));
  size_t i;

  for (i = 0; i < s->n_ctrs; i++)
    ids[i] = s->ctrs[i]->id;
  if (s->n_ctrs > 1)
    qsort (ids, s->n_ctrs, sizeof (char *), cmp_str);
  return ids;
}

/* Remove what the index does not name; collect (sorted) the ids whose
   directory is there (pointers into the index: present holds room for
   all of them).  */
static int
repair_dirs (husk_store_t *s, int cfd, char **present, size_t *n_present, husk_error_t *err)
{
  cleanup_free char **ids = sorted_ids (s);
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  char **known;
  int ret;

  d = open_dir_at (cfd, ".");
  if (d == NULL)
    return husk_make_error (err, errno, "open %s/containers", s->root);
  while ((de = readdir (d)))
    {
      const char *name = de->d_name;

      if (husk_has_prefix (name, "." INDEX_FILE ".tmp-"))
        {
          unlinkat (cfd, name, 0);
          continue;
        }
      if (husk_store_is_hex64 (name) && (known = sorted_find (ids, s->n_ctrs, name)) != NULL)
        {
          present[(*n_present)++] = *known;
          continue;
        }
      if (!husk_has_prefix (name, ".new-") && !husk_has_prefix (name, ".removing-")
          && !husk_store_is_hex64 (name))
        continue;
      husk_debug ("removing the container directory %s, which is not in the index", name);
      ret = husk_rm_rf_at (cfd, name, err);
      if (ret < 0)
        return ret;
    }
  if (*n_present > 1)
    qsort (present, *n_present, sizeof (char *), cmp_str);
  return 0;
}

static bool
record_is_stale (husk_store_t *s, size_t i, char *const *present, size_t n_present)
{
  const char *boot = s->ctr_boots[i];

  if (!sorted_contains (present, n_present, s->ctrs[i]->id))
    return true;
  return boot && husk_store_boot_id ()[0] && strcmp (boot, husk_store_boot_id ()) != 0;
}

/* Write the index without the dropped records, then delete them.  */
static int
repair_drop (husk_store_t *s, int cfd, struct husk_container_record **recs, char **boots, size_t n,
             const size_t *dropped, size_t n_dropped, husk_error_t *err)
{
  struct husk_container_record **gone = xzalloc (n_dropped * sizeof (*gone));
  size_t i;
  int ret;

  for (i = 0; i < n_dropped; i++)
    {
      gone[i] = s->ctrs[dropped[i]];
      free (s->ctr_boots[dropped[i]]);
      s->ctr_boots[dropped[i]] = NULL;
    }
  ret = index_replace (s, recs, boots, n, true, err);
  if (ret < 0)
    {
      free (recs);
      free (boots);
      free (gone);
      /* The cached records lost their boot ids: parse again next time.  */
      s->ctr_loaded = false;
      return ret;
    }
  for (i = 0; i < n_dropped; i++)
    {
      remove_container_dirs (s, cfd, gone[i]->id);
      husk_container_record_free (gone[i]);
    }
  free (gone);
  return 0;
}

int
husk_store_containers_repair (husk_store_t *s, husk_error_t *err)
{
  cleanup_free char **present = NULL;
  struct husk_container_record **recs;
  char **boots;
  size_t *dropped;
  size_t i, n = 0, n_dropped = 0, n_present = 0;
  int cfd, ret;

  ret = husk_store_require_exclusive (s, "repairing the containers", err);
  if (ret < 0)
    return ret;
  ret = index_load (s, err);
  if (ret < 0)
    return ret;
  cfd = containers_fd (s, err);
  if (cfd < 0)
    return cfd;
  present = xzalloc ((s->n_ctrs + 1) * sizeof (*present));
  ret = repair_dirs (s, cfd, present, &n_present, err);
  if (ret < 0)
    return ret;

  recs = xzalloc ((s->n_ctrs + 1) * sizeof (*recs));
  boots = xzalloc ((s->n_ctrs + 1) * sizeof (*boots));
  dropped = xzalloc ((s->n_ctrs + 1) * sizeof (*dropped));
  for (i = 0; i < s->n_ctrs; i++)
    {
      if (record_is_stale (s, i, present, n_present))
        {
          husk_debug ("dropping the stale container record %s", s->ctrs[i]->id);
          dropped[n_dropped++] = i;
          continue;
        }
      recs[n] = s->ctrs[i];
      boots[n++] = s->ctr_boots[i];
    }
  ret = 0;
  if (n_dropped > 0)
    ret = repair_drop (s, cfd, recs, boots, n, dropped, n_dropped, err);
  else
    {
      free (recs);
      free (boots);
    }
  free (dropped);
  return ret;
}
