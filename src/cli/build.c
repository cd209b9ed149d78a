/* husk build (and husk image build): Dockerfiles -> images, as podman
   build and docker build.

   The CLI's part: check every flag before any work, find the context (a
   directory; "-": a tar archive on stdin, or the Dockerfile itself with an
   empty context; an http(s) URL of a tarball) and the Dockerfile, then
   hand both to husk_build () (src/build), which takes the store lock
   itself.  Archives are extracted into a temporary directory under the
   store's tmpdir with husk_fs_tar_extract (every entry stays inside it),
   removed whatever happens.  Base images that are not stored are pulled
   through run's resolution (cli_image_resolve), so --pull means the same
   for build as for run.  Every failure is exit status 125.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "husk/build.h"
#include "husk/download.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/util.h"

/* A Dockerfile larger than this is refused before parsing: no real one
   comes near, and a runaway file (a generator's loop) fails at once.  */
#define BUILD_DOCKERFILE_MAX (64u << 20)
/* An http(s) context is downloaded whole before extraction.  */
#define BUILD_URL_CONTEXT_MAX (4ull << 30)

/* What one invocation set up and must undo.  */
struct build_cli
{
  husk_store_t *s;
  int tmpfd;          /* the store's tmpdir */
  char *ctx_tmp;      /* a scratch directory under it holding the temp context, or NULL */
  int ctx_lockfd;     /* its owner lock (husk_store_scratch_dir), or -1 */
  int context_fd;     /* the context root */
  char *context;      /* the context as the user gave it (messages) */
  char *context_path; /* a directory the user gave, or NULL (temp context) */
  char *dockerfile;   /* its content */
  size_t dockerfile_len;
  char *dockerfile_name;
  char *dockerfile_rel;
};

static void
build_cli_clear (struct build_cli *c)
{
  if (c->context_fd >= 0)
    close (c->context_fd);
  if (c->ctx_tmp && c->tmpfd >= 0)
    {
      husk_error_t e = NULL;
      if (husk_rm_rf_at (c->tmpfd, c->ctx_tmp, &e) < 0)
        {
          fprintf (stderr, "Warning: %s\n", e->msg);
          husk_error_release (&e);
        }
    }
  if (c->ctx_lockfd >= 0)
    close (c->ctx_lockfd);
  if (c->tmpfd >= 0)
    close (c->tmpfd);
  free (c->ctx_tmp);
  free (c->context);
  free (c->context_path);
  free (c->dockerfile);
  free (c->dockerfile_name);
  free (c->dockerfile_rel);
}

/* ---- flags ---- */

static int
parse_pull (const char *v, const char **out, husk_error_t *err)
{
  if (v == NULL || strcmp (v, "missing") == 0 || strcmp (v, "false") == 0)
    *out = "missing";
  else if (strcmp (v, "true") == 0 || strcmp (v, "always") == 0)
    *out = "always";
  else if (strcmp (v, "never") == 0)
    *out = "never";
  else
    return husk_make_error (err, EINVAL, "invalid --pull \"%s\": use always, missing, never, true or false",
                            v);
  return 0;
}

static int
parse_format (const struct cli_args *a, enum husk_build_format *out, husk_error_t *err)
{
  const char *v = cli_is_set (a, "format") ? cli_string (a, "format") : getenv ("BUILDAH_FORMAT");
  const char *what = cli_is_set (a, "format") ? "--format" : "BUILDAH_FORMAT";

  if (v == NULL || *v == '\0' || strcmp (v, "oci") == 0)
    *out = HUSK_BUILD_FORMAT_OCI;
  else if (strcmp (v, "docker") == 0)
    *out = HUSK_BUILD_FORMAT_DOCKER;
  else
    return husk_make_error (err, EINVAL, "invalid %s \"%s\": use oci or docker", what, v);
  return 0;
}

static int
parse_epoch (const char *what, const char *v, int64_t *out, husk_error_t *err)
{
  char *end;
  long long n;

  errno = 0;
  n = strtoll (v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || n < 0)
    return husk_make_error (err, EINVAL, "invalid %s \"%s\": seconds since the epoch expected", what, v);
  *out = n;
  return 0;
}

/* --build-arg KEY=VALUE, or KEY: the value of our own environment
   (skipped when unset), as docker and podman.  */
static int
parse_build_args (char *const *in, char ***out, husk_error_t *err)
{
  *out = xzalloc (sizeof (char *));
  for (size_t i = 0; in && in[i]; i++)
    {
      const char *eq = strchr (in[i], '=');
      const char *v;

      if (in[i][0] == '=' || in[i][0] == '\0')
        return husk_make_error (err, EINVAL, "invalid --build-arg \"%s\": KEY=VALUE or KEY expected", in[i]);
      if (eq)
        {
          strv_append (out, in[i]);
          continue;
        }
      v = getenv (in[i]);
      if (v)
        strv_append_take (out, xasprintf ("%s=%s", in[i], v));
    }
  return 0;
}

static int
parse_labels (char *const *in, char ***out, husk_error_t *err)
{
  *out = xzalloc (sizeof (char *));
  for (size_t i = 0; in && in[i]; i++)
    {
      if (in[i][0] == '=' || in[i][0] == '\0')
        return husk_make_error (err, EINVAL, "invalid --label \"%s\": KEY=VALUE expected", in[i]);
      if (strchr (in[i], '='))
        strv_append (out, in[i]);
      else
        strv_append_take (out, xasprintf ("%s=", in[i]));
    }
  return 0;
}

static int
parse_tags (char *const *in, char ***out, husk_error_t *err)
{
  *out = xzalloc (sizeof (char *));
  for (size_t i = 0; in && in[i]; i++)
    {
      char *name = NULL;
      if (cli_local_name (in[i], &name, err) < 0)
        return husk_error_wrap (err, "invalid tag \"%s\"", in[i]);
      if (!strv_contains (*out, name))
        strv_append (out, name);
      free (name);
    }
  return 0;
}

/* ---- the context ---- */

static bool
is_url (const char *s)
{
  return husk_has_prefix (s, "http://") || husk_has_prefix (s, "https://");
}

/* Docker's idea of a git context: git:// and git@ addresses, github.com/
   paths and URLs of a ".git" repository (with a #ref:dir fragment).  */
static bool
is_git_url (const char *s)
{
  const char *hash;
  size_t n;

  if (husk_has_prefix (s, "git://") || husk_has_prefix (s, "git@") || husk_has_prefix (s, "github.com/"))
    return true;
  if (!is_url (s))
    return false;
  hash = strchr (s, '#');
  n = hash ? (size_t)(hash - s) : strlen (s);
  while (n > 0 && s[n - 1] == '/')
    n--;
  return (n > 4 && strncmp (s + n - 4, ".git", 4) == 0) || hash != NULL;
}

/* A temp directory for the context: "ctx" in a scratch directory of the
   store's tmpdir (its lock file stays out of the context), which store
   repair removes if this process is killed.  */
static int
make_tmp_context (struct build_cli *c, husk_error_t *err)
{
  cleanup_free char *name = NULL;
  cleanup_free char *dir = NULL;

  if (husk_store_scratch_dir (c->s, "build-context-", &dir, &c->ctx_lockfd, err) < 0)
    return -1;
  name = xstrdup (strrchr (dir, '/') + 1);
  c->ctx_tmp = steal_pointer (&name);
  {
    cleanup_free char *sub = xasprintf ("%s/ctx", c->ctx_tmp);
    if (mkdirat (c->tmpfd, sub, 0700) < 0)
      return husk_make_error (err, errno, "create %s/%s", husk_store_tmpdir (c->s), sub);
    c->context_fd = openat (c->tmpfd, sub, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (c->context_fd < 0)
      return husk_make_error (err, errno, "open %s/%s", husk_store_tmpdir (c->s), sub);
  }
  return 0;
}

/* What libarchive reads: a tar (ustar/gnu/v7 with a valid header
   checksum), or a compressed stream (gzip, bzip2, xz, zstd, lz4, lzip).
   A Dockerfile is none of these.  */
static bool
looks_like_archive (const unsigned char *p, size_t n)
{
  static const struct
  {
    const char *magic;
    size_t len;
  } magics[] = {
    { "\x1f\x8b", 2 },
    { "BZh", 3 },
    { "\xfd"
      "7zXZ\0",
      6 },
    { "\x28\xb5\x2f\xfd", 4 },
    { "\x04\x22\x4d\x18", 4 },
    { "LZIP", 4 },
  };
  unsigned long sum = 0, want;
  char field[9];

  for (size_t i = 0; i < sizeof (magics) / sizeof (magics[0]); i++)
    if (n >= magics[i].len && memcmp (p, magics[i].magic, magics[i].len) == 0)
      return true;
  if (n < 512)
    return false;
  if (memcmp (p + 257, "ustar", 5) == 0)
    return true;
  /* v7 tar: no magic, but the header checksum (bytes 148..155 counted as
     blanks) must match.  */
  memcpy (field, p + 148, 8);
  field[8] = '\0';
  if (sscanf (field, "%lo", &want) != 1)
    return false;
  for (size_t i = 0; i < 512; i++)
    sum += (i >= 148 && i < 156) ? ' ' : p[i];
  return sum == want;
}

/* Read all of stdin into an anonymous file in the store's tmpdir; *head:
   its first bytes.  */
static int
spool_stdin (struct build_cli *c, int *out, unsigned char *head, size_t *head_len, husk_error_t *err)
{
  cleanup_close int fd = husk_open_tmpfile (husk_store_tmpdir (c->s), err);
  char buf[65536];
  ssize_t r;

  if (fd < 0)
    return -1;
  *head_len = 0;
  for (;;)
    {
      r = read (STDIN_FILENO, buf, sizeof (buf));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return husk_make_error (err, errno, "read the build context from standard input");
      if (r == 0)
        break;
      if (*head_len < 512)
        {
          size_t take = (size_t)r < 512 - *head_len ? (size_t)r : 512 - *head_len;
          memcpy (head + *head_len, buf, take);
          *head_len += take;
        }
      if (husk_write_all (fd, buf, r, err) < 0)
        return husk_error_wrap (err, "write the build context to %s", husk_store_tmpdir (c->s));
    }
  if (lseek (fd, 0, SEEK_SET) < 0)
    return husk_make_error (err, errno, "seek");
  *out = move_fd (&fd);
  return 0;
}

static int
extract_into_context (struct build_cli *c, int fd, husk_error_t *err)
{
  struct husk_fs_extract_opts xo = { .owner = HUSK_FS_OWNER_NONE };

  if (make_tmp_context (c, err) < 0)
    return -1;
  if (husk_fs_tar_extract (c->context_fd, fd, &xo, err) < 0)
    return husk_error_wrap (err, "extract the build context %s", c->context);
  return 0;
}

/* "-": a tar archive (compressed or not) is the context; anything else is
   the Dockerfile, with an empty context (docker build - < Dockerfile).  */
static int
context_from_stdin (struct build_cli *c, bool dockerfile_given, husk_error_t *err)
{
  unsigned char head[512];
  size_t head_len;
  cleanup_close int fd = -1;

  if (spool_stdin (c, &fd, head, &head_len, err) < 0)
    return -1;
  if (looks_like_archive (head, head_len))
    return extract_into_context (c, fd, err);
  if (dockerfile_given)
    return husk_make_error (err, EINVAL,
                            "standard input is not a tar archive: with -f, the context \"-\" must be one");
  if (make_tmp_context (c, err) < 0)
    return -1;
  c->dockerfile_name = xstrdup ("-");
  return husk_read_all_fd (fd, BUILD_DOCKERFILE_MAX, &c->dockerfile, &c->dockerfile_len, err);
}

/* An http(s) context: the tarball, downloaded whole into a temp file.  */
static int
context_from_url (struct build_cli *c, husk_error_t *err)
{
  cleanup_close int fd = husk_open_tmpfile (husk_store_tmpdir (c->s), err);

  if (fd < 0)
    return -1;
  if (husk_download (c->context, fd, BUILD_URL_CONTEXT_MAX, NULL, err) < 0)
    return husk_error_wrap (err, "the build context");
  if (lseek (fd, 0, SEEK_SET) < 0)
    return husk_make_error (err, errno, "seek");
  return extract_into_context (c, fd, err);
}

static int
context_from_dir (struct build_cli *c, husk_error_t *err)
{
  struct stat st;

  c->context_fd = open (c->context, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (c->context_fd < 0)
    {
      if (errno == ENOTDIR || (errno == ENOENT && stat (c->context, &st) == 0))
        return husk_make_error (err, ENOTDIR, "build context %s is not a directory", c->context);
      return husk_make_error (err, errno, "build context %s", c->context);
    }
  c->context_path = realpath (c->context, NULL);
  if (c->context_path == NULL)
    return husk_make_error (err, errno, "build context %s", c->context);
  return 0;
}

/* ---- the Dockerfile ---- */

/* The path of file relative to the context directory when it lies inside
   it, else NULL.  */
static char *
relative_to_context (const struct build_cli *c, const char *file)
{
  cleanup_free char *real = realpath (file, NULL);
  size_t n;

  if (real == NULL || c->context_path == NULL)
    return NULL;
  n = strlen (c->context_path);
  if (strcmp (c->context_path, "/") == 0)
    return xstrdup (real + 1);
  if (strncmp (real, c->context_path, n) != 0 || real[n] != '/')
    return NULL;
  return xstrdup (real + n + 1);
}

static int
read_dockerfile_at (struct build_cli *c, int dirfd, const char *path, const char *name, husk_error_t *err)
{
  int ret = husk_read_file_at (dirfd, path, BUILD_DOCKERFILE_MAX, &c->dockerfile, &c->dockerfile_len, err);
  if (ret < 0)
    return husk_error_wrap (err, "read the Dockerfile %s", name);
  c->dockerfile_name = xstrdup (name);
  return 0;
}

/* Inside a temp context (archive, URL), Dockerfile paths are the
   archive's, opened inside the context root.  */
static int
read_dockerfile_in_context (struct build_cli *c, const char *path, husk_error_t *err)
{
  cleanup_close int fd = husk_open_in_root (c->context_fd, path, O_RDONLY | O_CLOEXEC, 0, err);
  if (fd < 0)
    return husk_error_wrap (err, "Dockerfile %s in the build context", path);
  if (husk_read_all_fd (fd, BUILD_DOCKERFILE_MAX, &c->dockerfile, &c->dockerfile_len, err) < 0)
    return husk_error_wrap (err, "read the Dockerfile %s", path);
  c->dockerfile_name = xstrdup (path);
  while (*path == '/')
    path++;
  c->dockerfile_rel = xstrdup (path);
  return 0;
}

static int
find_dockerfile (struct build_cli *c, const char *file, husk_error_t *err)
{
  static const char *const defaults[] = { "Containerfile", "Dockerfile" };

  if (c->dockerfile)
    return 0; /* stdin was the Dockerfile */
  if (file && strcmp (file, "-") == 0)
    {
      c->dockerfile_name = xstrdup ("-");
      if (husk_read_all_fd (STDIN_FILENO, BUILD_DOCKERFILE_MAX, &c->dockerfile, &c->dockerfile_len, err) < 0)
        return husk_error_wrap (err, "read the Dockerfile from standard input");
      return 0;
    }
  if (file && c->context_path == NULL)
    return read_dockerfile_in_context (c, file, err);
  if (file)
    {
      /* Relative to the current directory; podman also tries the
         context.  */
      if (access (file, F_OK) != 0 && file[0] != '/')
        {
          cleanup_free char *in_ctx = xasprintf ("%s/%s", c->context, file);
          if (access (in_ctx, F_OK) == 0)
            {
              c->dockerfile_rel = relative_to_context (c, in_ctx);
              return read_dockerfile_at (c, AT_FDCWD, in_ctx, file, err);
            }
        }
      c->dockerfile_rel = relative_to_context (c, file);
      return read_dockerfile_at (c, AT_FDCWD, file, file, err);
    }
  for (size_t i = 0; i < 2; i++)
    {
      struct stat st;
      if (fstatat (c->context_fd, defaults[i], &st, 0) == 0 && S_ISREG (st.st_mode))
        {
          cleanup_free char *name = NULL;
          if (c->context_path == NULL)
            return read_dockerfile_in_context (c, defaults[i], err);
          name = xasprintf ("%s/%s", c->context, defaults[i]);
          c->dockerfile_rel = xstrdup (defaults[i]);
          return read_dockerfile_at (c, c->context_fd, defaults[i], name, err);
        }
    }
  return husk_make_error (err, ENOENT,
                          "no Containerfile or Dockerfile specified or found in context directory %s",
                          c->context_path ? c->context_path : c->context);
}

/* ---- the rest ---- */

static int
build_pull (void *ctx, husk_store_t *s, const char *ref, const char *policy, const char *platform, char **id,
            husk_error_t *err)
{
  cleanup_free char *config = NULL;
  size_t len;

  (void)ctx;
  (void)platform;
  return cli_image_resolve (s, ref, policy, id, &config, &len, err);
}

/* "sha256:<id>", no newline (podman's), replaced atomically.  */
static int
write_iidfile (const char *path, const char *id, husk_error_t *err)
{
  cleanup_free char *dir = xstrdup (path);
  cleanup_free char *text = xasprintf ("sha256:%s", id);
  cleanup_close int dfd = -1;
  char *slash = strrchr (dir, '/');
  const char *base = path;

  if (slash)
    {
      base = path + (slash - dir) + 1;
      if (slash == dir)
        slash[1] = '\0';
      else
        *slash = '\0';
    }
  dfd = open (slash ? dir : ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dfd < 0)
    return husk_make_error (err, errno, "--iidfile %s", path);
  if (*base == '\0')
    return husk_make_error (err, EISDIR, "--iidfile %s", path);
  if (husk_write_file_atomic (dfd, base, text, strlen (text), 0644, err) < 0)
    return husk_error_wrap (err, "--iidfile %s", path);
  return 0;
}

static int
parse_flags (struct cli_args *a, struct husk_build_opts *o, char ***tags, char ***build_args, char ***labels,
             husk_error_t *err)
{
  const char *network = cli_string (a, "network");
  const char *ts = cli_string (a, "timestamp");
  const char *sde = getenv ("SOURCE_DATE_EPOCH");

  if (parse_pull (cli_is_set (a, "pull") ? cli_string (a, "pull") : NULL, &o->pull_policy, err) < 0)
    return -1;
  if (parse_format (a, &o->format, err) < 0)
    return -1;
  if (cli_is_set (a, "network"))
    {
      if (strcmp (network, "none") != 0 && strcmp (network, "host") != 0)
        return husk_make_error (err, EINVAL, "invalid --network \"%s\": build supports none and host",
                                network);
      o->network = network;
    }
  if (ts)
    {
      if (parse_epoch ("--timestamp", ts, &o->timestamp, err) < 0)
        return -1;
      o->have_timestamp = true;
    }
  else if (sde && *sde)
    {
      if (parse_epoch ("SOURCE_DATE_EPOCH", sde, &o->timestamp, err) < 0)
        return -1;
      o->have_timestamp = true;
    }
  if (parse_tags (cli_strv (a, "tag"), tags, err) < 0)
    return -1;
  if (parse_build_args (cli_strv (a, "build-arg"), build_args, err) < 0)
    return -1;
  if (parse_labels (cli_strv (a, "label"), labels, err) < 0)
    return -1;
  o->tags = *tags;
  o->build_args = *build_args;
  o->labels = *labels;
  o->target = cli_string (a, "target");
  if (o->target && *o->target == '\0')
    return husk_make_error (err, EINVAL, "--target: empty stage name");
  o->platform = cli_string (a, "platform");
  o->no_cache = cli_bool (a, "no-cache");
  o->layers = cli_bool (a, "layers");
  o->squash = cli_bool (a, "squash");
  o->force_rm = cli_bool (a, "force-rm");
  return 0;
}

static int
prepare_context (struct build_cli *c, const char *file, husk_error_t *err)
{
  c->tmpfd = open (husk_store_tmpdir (c->s), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (c->tmpfd < 0)
    return husk_make_error (err, errno, "open %s", husk_store_tmpdir (c->s));
  if (strcmp (c->context, "-") == 0)
    return context_from_stdin (c, file != NULL, err);
  if (is_url (c->context))
    return context_from_url (c, err);
  return context_from_dir (c, err);
}

static int
do_build (struct cli_ctx *ctx, struct cli_args *a, struct build_cli *c, char **id, husk_error_t *err)
{
  cleanup_strv char **tags = NULL;
  cleanup_strv char **build_args = NULL;
  cleanup_strv char **labels = NULL;
  struct husk_build_opts o = { 0 };
  const char *file = cli_is_set (a, "file") ? cli_string (a, "file") : NULL;
  const char *iidfile = cli_string (a, "iidfile");
  bool quiet = cli_bool (a, "quiet");

  if (parse_flags (a, &o, &tags, &build_args, &labels, err) < 0)
    return -1;
  c->context = xstrdup (a->argc > 0 ? a->argv[0] : ".");
  if (is_git_url (c->context))
    return husk_make_error (err, ENOTSUP,
                            "git contexts are not supported: clone the repository and build the directory");
  if (strcmp (c->context, "-") == 0 && file && strcmp (file, "-") == 0)
    return husk_make_error (err, EINVAL,
                            "the context and the Dockerfile cannot both be read from standard input");
  if (file && *file == '\0')
    return husk_make_error (err, EINVAL, "-f: empty file name");
  if (iidfile && *iidfile == '\0')
    return husk_make_error (err, EINVAL, "--iidfile: empty file name");
  /* Fail before the user namespace and the store for a missing directory.  */
  if (strcmp (c->context, "-") != 0 && !is_url (c->context) && access (c->context, F_OK) != 0)
    return husk_make_error (err, errno, "build context %s", c->context);

  if (cli_store_writer (ctx, &c->s, err) < 0)
    return -1;
  if (prepare_context (c, file, err) < 0 || find_dockerfile (c, file, err) < 0)
    return -1;

  o.dockerfile_name = c->dockerfile_name;
  o.dockerfile = c->dockerfile;
  o.dockerfile_len = c->dockerfile_len;
  o.context_fd = c->context_fd;
  o.dockerfile_rel = c->dockerfile_rel;
  o.out = quiet ? NULL : stdout;
  /* -q keeps standard output for the id alone: what the steps print goes
     to standard error.  */
  o.run_stdout = quiet ? STDERR_FILENO : STDOUT_FILENO;
  o.run_stderr = STDERR_FILENO;
  o.pull = build_pull;
  o.pull_ctx = NULL;

  if (husk_build (c->s, &o, id, err) < 0)
    return -1;
  if (iidfile && write_iidfile (iidfile, *id, err) < 0)
    return -1;
  return 0;
}

int
cmd_build (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  struct build_cli c = { .tmpfd = -1, .context_fd = -1, .ctx_lockfd = -1 };
  cleanup_free char *id = NULL;
  int ret;

  ret = do_build (ctx, a, &c, &id, err);
  fflush (stdout);
  build_cli_clear (&c);
  if (ret < 0)
    {
      /* A RUN step's own exit status is in the message; husk build itself
         failed: 125, as for every other failure.  */
      husk_error_set_exit_code (err, 125);
      return -1;
    }
  printf ("%s\n", id);
  return 0;
}
