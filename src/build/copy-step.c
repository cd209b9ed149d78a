/* husk: COPY and ADD into a build_work (build-internal.h).

   Sources are matched and copied by context.c (Docker's semantics, every
   path resolved inside its root).  Here: heredoc sources, ADD's archives
   and URLs, --chown (resolved in the destination's own /etc/passwd and
   /etc/group, no NSS) and --chmod (octal).

   ADD:
     - a local file whose content is a tar archive (plain, gzip, bzip2,
       xz or zstd, recognized by its first bytes, not its name) is
       extracted into dest, a directory; anything else is copied as COPY
       would;
     - an http or https URL is downloaded once per build into the build's
       temp directory (b->downloads), mode 0600 as Docker's, its mtime the
       server's Last-Modified when given; never extracted.  Its file name
       is the last component of the URL's path (used when dest ends with
       "/").
   An extracted archive keeps the owners and modes of its entries:
   --chown and --chmod apply to copied files only.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"
#include "husk/digest.h"
#include "husk/download.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/output.h"
#include "husk/runtime.h"
#include "husk/userns.h"
#include "husk/util.h"

static bool
is_url (const char *s)
{
  return husk_has_prefix (s, "http://") || husk_has_prefix (s, "https://");
}

/* "<<EOF", "<<-EOF", "<<'EOF'", "<<\"EOF\"": the heredoc it names, or
   NULL when src is not one.  */
static const struct husk_dockerfile_heredoc *
heredoc_for (const struct build_copy_req *r, const char *src)
{
  cleanup_free char *name = NULL;
  const char *p;
  size_t len, i;

  if (!husk_has_prefix (src, "<<"))
    return NULL;
  p = src + 2;
  if (*p == '-')
    p++;
  len = strlen (p);
  if (len >= 2 && (p[0] == '"' || p[0] == '\'') && p[len - 1] == p[0])
    name = xstrndup (p + 1, len - 2);
  else
    name = xstrdup (p);
  for (i = 0; i < r->n_heredocs; i++)
    if (r->heredocs[i].name != NULL && strcmp (r->heredocs[i].name, name) == 0)
      return &r->heredocs[i];
  return NULL;
}

/* ---- downloads ---- */

/* The last component of the URL's path, or NULL when it has none.  */
static char *
url_file_name (const char *url)
{
  const char *p = strstr (url, "://");
  const char *path, *end, *last;

  p = p != NULL ? p + 3 : url;
  path = strchr (p, '/');
  if (path == NULL)
    return NULL;
  end = path + strcspn (path, "?#");
  last = end;
  while (last > path && last[-1] != '/')
    last--;
  if (last == end || (end - last == 1 && *last == '.')
      || (end - last == 2 && last[0] == '.' && last[1] == '.'))
    return NULL;
  return xstrndup (last, (size_t)(end - last));
}

static int
download (const char *url, int fd, husk_error_t *err)
{
  int64_t filetime = -1;

  if (husk_download (url, fd, 0, &filetime, err) < 0)
    return husk_error_wrap (err, "ADD %s", url);
  /* Docker keeps the server's Last-Modified as the file's time.  */
  if (filetime >= 0)
    {
      struct timespec ts[2] = { { .tv_sec = filetime }, { .tv_sec = filetime } };
      futimens (fd, ts);
    }
  return 0;
}

/* The downloaded copy of url (fetched on first use): *dir is its
   directory, the file inside is named after the URL.  */
static int
download_get (struct build_ctx *b, const char *url, char **dir, char **name, husk_error_t *err)
{
  cleanup_free char *fname = url_file_name (url);
  cleanup_free char *d = NULL;
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;
  size_t i;

  if (fname == NULL)
    return husk_make_error (err, EINVAL, "ADD %s: cannot determine a file name from the URL", url);
  for (i = 0; b->downloads != NULL && b->downloads[i] != NULL && b->downloads[i + 1] != NULL; i += 2)
    if (strcmp (b->downloads[i], url) == 0)
      {
        *dir = xstrdup (b->downloads[i + 1]);
        *name = steal_pointer (&fname);
        return 0;
      }
  d = xasprintf ("%s/download-%u", b->tmpdir, b->seq++);
  if (mkdir (d, 0700) < 0)
    return husk_make_error (err, errno, "mkdir `%s`", d);
  path = xasprintf ("%s/%s", d, fname);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || fchmod (fd, 0600) < 0)
    {
      husk_make_error (err, errno, "create `%s`", path);
      rmdir (d);
      return -1;
    }
  if (download (url, fd, err) < 0)
    {
      husk_error_t ignored = NULL;
      if (husk_rm_rf_at (AT_FDCWD, d, &ignored) < 0)
        husk_error_release (&ignored);
      return -1;
    }
  strv_append (&b->downloads, url);
  strv_append (&b->downloads, d);
  *dir = steal_pointer (&d);
  *name = steal_pointer (&fname);
  return 0;
}

void
build_copy_cleanup (struct build_ctx *b)
{
  size_t i;

  for (i = 0; b->downloads != NULL && b->downloads[i] != NULL && b->downloads[i + 1] != NULL; i += 2)
    {
      husk_error_t ignored = NULL;
      if (husk_rm_rf_at (AT_FDCWD, b->downloads[i + 1], &ignored) < 0)
        husk_error_release (&ignored);
    }
  strv_free (b->downloads);
  b->downloads = NULL;
}

/* ---- heredocs ---- */

/* The body as a file NAME (0644) in a new directory *dir of the build's
   temp dir; returns an O_DIRECTORY fd on that directory.  */
static int
heredoc_file (struct build_ctx *b, const struct husk_dockerfile_heredoc *h, char **dir, husk_error_t *err)
{
  char *d = xasprintf ("%s/heredoc-%u", b->tmpdir, b->seq++);
  cleanup_close int dfd = -1;
  cleanup_close int fd = -1;
  const char *body = h->body != NULL ? h->body : "";

  if (strchr (h->name, '/') != NULL || strcmp (h->name, ".") == 0 || strcmp (h->name, "..") == 0)
    return husk_make_error (err, EINVAL, "invalid heredoc name \"%s\" for a file", h->name);
  if (mkdir (d, 0755) < 0)
    {
      husk_make_error (err, errno, "mkdir `%s`", d);
      free (d);
      return -1;
    }
  *dir = d;
  dfd = open (d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return husk_make_error (err, errno, "open `%s`", d);
  fd = openat (dfd, h->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || fchmod (fd, 0644) < 0)
    return husk_make_error (err, errno, "create the heredoc file %s", h->name);
  if (husk_write_all (fd, body, strlen (body), err) < 0)
    return -1;
  return move_fd (&dfd);
}

/* ---- the digest ---- */

static int
digest_source (struct build_ctx *b, const struct build_copy_req *r, const char *src, husk_digester_t *d,
               husk_error_t *err)
{
  const struct husk_dockerfile_heredoc *h = heredoc_for (r, src);
  cleanup_strv char **paths = NULL;
  cleanup_free char *sd = NULL;

  if (h != NULL)
    {
      const char *body = h->body != NULL ? h->body : "";
      cleanup_free char *bd = husk_digest_buffer (body, strlen (body));
      husk_digester_update (d, "heredoc ", 8);
      husk_digester_update (d, h->name, strlen (h->name) + 1);
      husk_digester_update (d, bd, strlen (bd) + 1);
      return 0;
    }
  if (r->add && is_url (src))
    {
      cleanup_free char *dir = NULL;
      cleanup_free char *name = NULL;
      cleanup_close int dfd = -1;
      char *one[2] = { NULL, NULL };

      if (download_get (b, src, &dir, &name, err) < 0)
        return -1;
      dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        return husk_make_error (err, errno, "open `%s`", dir);
      one[0] = name;
      if (husk_build_sources_digest (dfd, one, NULL, &sd, err) < 0)
        return -1;
      husk_digester_update (d, "url ", 4);
      husk_digester_update (d, src, strlen (src) + 1);
      husk_digester_update (d, sd, strlen (sd) + 1);
      return 0;
    }
  if (husk_build_sources_match (r->src_rootfd, src, r->from_context ? b->ignore : NULL, &paths, err) < 0
      || husk_build_sources_digest (r->src_rootfd, paths, r->from_context ? b->ignore : NULL, &sd, err) < 0)
    return -1;
  husk_digester_update (d, "path ", 5);
  husk_digester_update (d, src, strlen (src) + 1);
  husk_digester_update (d, sd, strlen (sd) + 1);
  return 0;
}

int
build_copy_digest (struct build_ctx *b, const struct build_copy_req *r, char **digest, husk_error_t *err)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();
  const char *fields[]
      = { r->add ? "ADD" : "COPY", r->dest ?: "", r->workdir ?: "/", r->chown ?: "", r->chmod ?: "" };
  size_t i;

  for (i = 0; i < sizeof (fields) / sizeof (fields[0]); i++)
    husk_digester_update (d, fields[i], strlen (fields[i]) + 1);
  for (i = 0; r->sources != NULL && r->sources[i] != NULL; i++)
    if (digest_source (b, r, r->sources[i], d, err) < 0)
      return -1;
  *digest = husk_digester_final (d);
  return 0;
}

/* ---- copying ---- */

/* Docker's magic numbers: a tar (possibly compressed) by its first bytes.  */
static bool
looks_like_archive (int fd)
{
  unsigned char buf[512];
  ssize_t n = pread (fd, buf, sizeof (buf), 0);

  if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
    return true; /* gzip */
  if (n >= 3 && memcmp (buf, "BZh", 3) == 0)
    return true;
  if (n >= 6
      && memcmp (buf,
                 "\xfd"
                 "7zXZ\0",
                 6)
             == 0)
    return true;
  if (n >= 4 && memcmp (buf, "\x28\xb5\x2f\xfd", 4) == 0)
    return true; /* zstd */
  return n == 512 && memcmp (buf + 257, "ustar", 5) == 0;
}

static int
parse_chmod (const char *s, mode_t *mode, husk_error_t *err)
{
  char *end = NULL;
  unsigned long v;

  errno = 0;
  v = strtoul (s, &end, 8);
  if (*s == '\0' || *s == '-' || *s == '+' || errno != 0 || *end != '\0' || v > 07777)
    return husk_make_error (err, EINVAL, "invalid --chmod=%s: an octal mode is expected", s);
  *mode = (mode_t)v;
  return 0;
}

/* --chown: "user[:group]", names or numbers, in the destination's own
   files.  Docker: a user without a group uses the uid as the gid.  */
static int
resolve_chown (int rootfd, const char *spec, uid_t *uid, gid_t *gid, husk_error_t *err)
{
  struct husk_user_ids ids = { 0 };

  if (husk_passwd_resolve (rootfd, spec, NULL, &ids, err) < 0)
    return husk_error_wrap (err, "--chown=%s", spec);
  *uid = ids.uid;
  *gid = strchr (spec, ':') != NULL ? ids.gid : (gid_t)ids.uid;
  husk_user_ids_free (&ids);
  return 0;
}

/* dest made absolute (relative to workdir); "." and a trailing "/." or
   "/" mean "into this directory".  */
static char *
full_dest (const struct build_copy_req *r)
{
  const char *wd = r->workdir != NULL && r->workdir[0] != '\0' ? r->workdir : "/";
  const char *dest = r->dest != NULL ? r->dest : "";
  struct husk_buf out = { 0 };

  if (dest[0] == '/')
    husk_buf_puts (&out, dest);
  else
    husk_buf_printf (&out, "%s%s%s", wd, husk_has_suffix (wd, "/") ? "" : "/", dest);
  if (strcmp (dest, ".") == 0 || husk_has_suffix (out.data, "/."))
    out.data[--out.len] = '\0';
  if (!husk_has_suffix (out.data, "/") && (dest[0] == '\0'))
    husk_buf_puts (&out, "/");
  return husk_buf_steal (&out, NULL);
}

static int
extract_archive (int src_rootfd, const char *path, int rootfd, const char *dest, husk_error_t *err)
{
  cleanup_close int in = husk_open_in_root (src_rootfd, path, O_RDONLY | O_CLOEXEC, 0, err);
  cleanup_close int destfd = -1;
  struct husk_fs_extract_opts eo
      = { .owner = husk_userns_can_chown () ? HUSK_FS_OWNER_KEEP : HUSK_FS_OWNER_NONE };

  if (in < 0)
    return -1;
  destfd = husk_mkdir_in_root (rootfd, dest, 0755, err);
  if (destfd < 0)
    return husk_error_wrap (err, "ADD %s: destination %s", path, dest);
  if (husk_fs_tar_extract (destfd, in, &eo, err) < 0)
    return husk_error_wrap (err, "ADD %s: extract", path);
  return 0;
}

/* One local path: an archive ADD extracts, else a copy.  */
static int
copy_path (const struct build_copy_req *r, const char *path, int rootfd, const char *dest,
           const struct husk_build_copy_opts *co, husk_error_t *err)
{
  if (r->add)
    {
      cleanup_close int fd = husk_open_in_root (r->src_rootfd, path, O_RDONLY | O_CLOEXEC, 0, NULL);
      struct stat sb;
      if (fd >= 0 && fstat (fd, &sb) == 0 && S_ISREG (sb.st_mode) && looks_like_archive (fd))
        return extract_archive (r->src_rootfd, path, rootfd, dest, err);
    }
  return husk_build_copy (r->src_rootfd, path, r->from_context, rootfd, dest, co, err);
}

static int
copy_source (struct build_ctx *b, const struct build_copy_req *r, const char *src, int rootfd,
             const char *dest, const struct husk_build_copy_opts *co, husk_error_t *err)
{
  const struct husk_dockerfile_heredoc *h = heredoc_for (r, src);
  struct husk_build_copy_opts plain = *co;
  cleanup_strv char **paths = NULL;
  size_t i;

  plain.ig = NULL;
  if (h != NULL)
    {
      cleanup_free char *dir = NULL;
      cleanup_close int dfd = heredoc_file (b, h, &dir, err);
      husk_error_t ignored = NULL;
      int ret = dfd < 0 ? -1 : husk_build_copy (dfd, h->name, true, rootfd, dest, &plain, err);
      if (dir != NULL && husk_rm_rf_at (AT_FDCWD, dir, &ignored) < 0)
        husk_error_release (&ignored);
      return ret;
    }
  if (r->add && is_url (src))
    {
      cleanup_free char *dir = NULL;
      cleanup_free char *name = NULL;
      cleanup_close int dfd = -1;
      if (download_get (b, src, &dir, &name, err) < 0)
        return -1;
      dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        return husk_make_error (err, errno, "open `%s`", dir);
      return husk_build_copy (dfd, name, true, rootfd, dest, &plain, err);
    }
  if (husk_build_sources_match (r->src_rootfd, src, co->ig, &paths, err) < 0)
    return -1;
  for (i = 0; paths[i] != NULL; i++)
    if (copy_path (r, paths[i], rootfd, dest, co, err) < 0)
      return -1;
  return 0;
}

/* Docker counts what the arguments name: a glob naming two files is two
   sources.  */
static int
count_sources (struct build_ctx *b, const struct build_copy_req *r, size_t *n, husk_error_t *err)
{
  size_t i;

  *n = 0;
  for (i = 0; r->sources != NULL && r->sources[i] != NULL; i++)
    {
      cleanup_strv char **paths = NULL;
      if (heredoc_for (r, r->sources[i]) != NULL || (r->add && is_url (r->sources[i])))
        {
          (*n)++;
          continue;
        }
      if (husk_build_sources_match (r->src_rootfd, r->sources[i], r->from_context ? b->ignore : NULL, &paths,
                                    err)
          < 0)
        return -1;
      *n += strv_len (paths);
    }
  return 0;
}

struct copy_progress;
static int copy_sources (struct build_ctx *b, struct build_work *w, const struct build_copy_req *r,
                         struct copy_progress *prog, husk_error_t *err);

/* A big COPY shows how far it got (DESIGN.md section 5: progress on a
   TTY, plain lines otherwise): nothing for the first second, then on a
   TTY one line updated in place every 100 ms, else a line every 5 s; a
   last line with the totals once something was shown or for 1000 files
   and more.  */
struct copy_progress
{
  FILE *out;
  bool tty;
  bool shown;
  uint64_t files, bytes;
  int64_t start, last;
};

static void
copy_progress_print (struct copy_progress *p, bool final)
{
  cleanup_free char *size = husk_human_size (p->bytes);

  if (p->tty)
    fprintf (p->out, "\rCopying: %llu files, %s%s", (unsigned long long)p->files, size, final ? "\n" : "");
  else
    fprintf (p->out, "Copying: %llu files, %s%s\n", (unsigned long long)p->files, size,
             final ? ", done" : "");
  fflush (p->out);
  p->shown = true;
}

static void
copy_progress_cb (void *ctx, uint64_t bytes)
{
  struct copy_progress *p = ctx;
  int64_t now;

  p->files++;
  p->bytes += bytes;
  if ((p->files & 63) != 0 && bytes < (1 << 20))
    return;
  now = husk_now_ns ();
  if (now - p->start < 1000000000LL || now - p->last < (p->tty ? 100000000LL : 5000000000LL))
    return;
  p->last = now;
  copy_progress_print (p, false);
}

int
build_copy (struct build_ctx *b, struct build_work *w, const struct build_copy_req *r, husk_error_t *err)
{
  struct copy_progress prog = { 0 };
  int ret;

  if (b->o != NULL && b->o->out != NULL)
    {
      prog.out = b->o->out;
      prog.tty = isatty (fileno (b->o->out));
      prog.start = prog.last = husk_now_ns ();
    }
  ret = copy_sources (b, w, r, prog.out != NULL ? &prog : NULL, err);
  if (ret == 0 && (prog.shown || prog.files >= 1000))
    copy_progress_print (&prog, true);
  else if (prog.shown && prog.tty)
    fputc ('\n', prog.out);
  return ret;
}

static int
copy_sources (struct build_ctx *b, struct build_work *w, const struct build_copy_req *r,
              struct copy_progress *prog, husk_error_t *err)
{
  struct husk_build_copy_opts co = { 0 };
  cleanup_free char *dest = full_dest (r);
  cleanup_close int rootfd = -1;
  size_t i, n;

  if (r->chmod != NULL)
    {
      if (parse_chmod (r->chmod, &co.mode, err) < 0)
        return -1;
      co.chmod = true;
    }
  if (count_sources (b, r, &n, err) < 0)
    return -1;
  if (n > 1 && !husk_has_suffix (dest, "/"))
    return husk_make_error (
        err, EINVAL,
        "When using %s with more than one source file, the destination must be a directory "
        "and end with a /",
        r->add ? "ADD" : "COPY");
  co.ig = r->from_context ? b->ignore : NULL;
  co.mtime = b->o != NULL && b->o->have_timestamp ? b->o->timestamp : -1;
  if (prog != NULL)
    {
      co.progress = copy_progress_cb;
      co.progress_ctx = prog;
    }

  rootfd = build_work_mount (w, err);
  if (rootfd < 0)
    return -1;
  if (r->chown != NULL && r->chown[0] != '\0')
    {
      if (resolve_chown (rootfd, r->chown, &co.uid, &co.gid, err) < 0)
        return -1;
      co.chown = true;
    }
  for (i = 0; r->sources != NULL && r->sources[i] != NULL; i++)
    if (copy_source (b, r, r->sources[i], rootfd, dest, &co, err) < 0)
      return -1;
  return 0;
}
