/* Unit tests for the build executor's step files (work.c, run-step.c,
   copy-step.c): real overlays and containers over a store made in a temp
   directory, with a base layer holding busybox-static (imported once).
   They need root and /bin/busybox and skip otherwise.  Each test checks
   that the mount points of its process are the same afterwards (the
   build mounts detached, in its own private mount namespace).  */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/build.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "../../src/build/build-internal.h"

static char *topdir; /* everything lives here */
static husk_store_t *store;
static char *base_layer;  /* busybox */
static char *stage_layer; /* "/rootdir -> /" and /stage-marker (CVE-2024-1753) */
static bool ready;

static int
sh (const char *fmt, ...)
{
  cleanup_free char *cmd = NULL;
  va_list ap;
  int status;

  va_start (ap, fmt);
  if (vasprintf (&cmd, fmt, ap) < 0)
    husk_oom ();
  va_end (ap);
  status = system (cmd);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* The mount points of this process, sorted, one per line (mount ids and
   order change when the build moves into its own namespace; the points
   must not).  */
static char *
mount_points (void)
{
  cleanup_free char *data = NULL;
  cleanup_strv char **points = xzalloc (sizeof (char *));
  husk_error_t err = NULL;
  char *line, *save = NULL;

  if (husk_read_file_at (AT_FDCWD, "/proc/self/mountinfo", 0, &data, NULL, &err) < 0)
    {
      husk_error_release (&err);
      return xstrdup ("");
    }
  for (line = strtok_r (data, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f = line;
      int i;
      for (i = 0; i < 4 && f; i++)
        f = strchr (f, ' ') ? strchr (f, ' ') + 1 : NULL;
      if (f)
        strv_append_take (&points, xstrndup (f, strcspn (f, " ")));
    }
  qsort (points, strv_len (points), sizeof (char *), cmp_str);
  return strv_join (points, "\n");
}

/* Import a directory as a one-layer image; returns its diffID.  */
static char *
import_dir (const char *dir)
{
  cleanup_free char *tar = xasprintf ("%s/layer.tar", topdir);
  cleanup_free char *id = NULL;
  cleanup_free char *config = NULL;
  cleanup_json husk_json_t *j = NULL;
  husk_error_t err = NULL;
  size_t len;
  int fd;

  if (sh ("tar --numeric-owner --owner=0 --group=0 -C %s -cf %s .", dir, tar) != 0)
    return NULL;
  fd = open (tar, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  if (husk_image_import (store, fd, NULL, NULL, NULL, &id, &err) < 0)
    {
      fprintf (stderr, "import: %s\n", err->msg);
      husk_error_release (&err);
      close (fd);
      return NULL;
    }
  close (fd);
  if (husk_store_image_config (store, id, &config, &len, &err) < 0
      || (j = husk_json_parse (config, len, &err)) == NULL)
    {
      husk_error_release (&err);
      return NULL;
    }
  return xstrdup (
      husk_json_string (husk_json_array_at (husk_json_get_path (j, "rootfs", "diff_ids", NULL), 0)));
}

static int
group_setup (void **state)
{
  struct husk_store_opts opts = { 0 };
  cleanup_free char *root = NULL;
  cleanup_free char *run = NULL;
  husk_error_t err = NULL;

  topdir = xstrdup ("/tmp/husk-test-build-XXXXXX");
  if (mkdtemp (topdir) == NULL)
    return -1;
  if (geteuid () != 0 || access ("/bin/busybox", X_OK) < 0)
    return 0;
  root = xasprintf ("%s/root", topdir);
  run = xasprintf ("%s/run", topdir);
  opts.root = root;
  opts.runroot = run;
  if (husk_store_open (&opts, &store, &err) < 0)
    {
      fprintf (stderr, "store: %s\n", err->msg);
      husk_error_release (&err);
      return 0;
    }
  if (sh ("set -e; cd %s; mkdir -p base/bin base/etc base/tmp st; cp /bin/busybox base/bin/;"
          "ln -s busybox base/bin/sh; chmod 1777 base/tmp; printf "
          "'root:x:0:0:root:/root:/bin/sh\\nbin:x:1:1:bin:/bin:/bin/sh\\n"
          "app:x:1000:1000::/home/app:/bin/sh\\n' > base/etc/passwd;"
          "printf 'root:x:0:\\nbin:x:1:\\nstaff:x:50:\\n' > base/etc/group;"
          "ln -s / st/rootdir; echo stage > st/stage-marker",
          topdir)
      != 0)
    return 0;
  {
    cleanup_free char *b = xasprintf ("%s/base", topdir);
    cleanup_free char *s = xasprintf ("%s/st", topdir);
    base_layer = import_dir (b);
    stage_layer = import_dir (s);
  }
  ready = base_layer != NULL && stage_layer != NULL;
  return 0;
}

static int
group_teardown (void **state)
{
  husk_store_close (store);
  sh ("rm -rf %s", topdir);
  free (topdir);
  free (base_layer);
  free (stage_layer);
  return 0;
}

/* ---- one build context per test ---- */

struct fix
{
  struct husk_build_opts o;
  struct build_ctx b;
  char *ctxdir;
  char *mounts_before;
};

static int
resolve_stage (struct build_ctx *b, const char *name, char ***diff_ids, husk_error_t *err)
{
  if (strcmp (name, "stage") != 0)
    return husk_make_error (err, ENOENT, "no stage %s", name);
  *diff_ids = NULL;
  strv_append (diff_ids, stage_layer);
  return 0;
}

static int
setup (void **state)
{
  struct fix *f;
  static unsigned n;

  if (!ready)
    {
      *state = NULL;
      return 0;
    }
  f = xzalloc (sizeof (*f));
  f->mounts_before = mount_points ();
  f->o.run_stdout = -1;
  f->o.run_stderr = 2;
  f->b.s = store;
  f->b.o = &f->o;
  f->b.tmpdir = xasprintf ("%s/build-%u", topdir, n);
  f->ctxdir = xasprintf ("%s/ctx-%u", topdir, n++);
  f->b.resolve_from = resolve_stage;
  if (mkdir (f->b.tmpdir, 0700) < 0 || mkdir (f->ctxdir, 0755) < 0)
    return -1;
  f->b.context_fd = open (f->ctxdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fix *f = *state;
  cleanup_free char *after = NULL;

  if (f == NULL)
    return 0;
  build_copy_cleanup (&f->b);
  close (f->b.context_fd);
  after = mount_points ();
  assert_string_equal (f->mounts_before, after);
  assert_null (strstr (after, topdir));
  sh ("rm -rf %s %s", f->b.tmpdir, f->ctxdir);
  free (f->b.tmpdir);
  free (f->ctxdir);
  free (f->mounts_before);
  free (f);
  return 0;
}

#define NEED_READY()                                                                                         \
  do                                                                                                         \
    {                                                                                                        \
      if (*state == NULL)                                                                                    \
        skip ();                                                                                             \
    }                                                                                                        \
  while (0)

#define OK(expr)                                                                                             \
  do                                                                                                         \
    {                                                                                                        \
      husk_error_t err_ = NULL;                                                                              \
      husk_error_t *err = &err_;                                                                             \
      if ((expr) < 0)                                                                                        \
        fail_msg ("%s: %s", #expr, err_ ? err_->msg : "?");                                                  \
    }                                                                                                        \
  while (0)

/* The error message of a call that must fail.  */
#define FAILS(msgp, expr)                                                                                    \
  do                                                                                                         \
    {                                                                                                        \
      husk_error_t err_ = NULL;                                                                              \
      husk_error_t *err = &err_;                                                                             \
      if ((expr) >= 0)                                                                                       \
        fail_msg ("%s succeeded", #expr);                                                                    \
      *(msgp) = xstrdup (err_->msg);                                                                         \
      husk_error_release (&err_);                                                                            \
    }                                                                                                        \
  while (0)

static char *const base_only[2] = { NULL, NULL };

static char **
base_ids (void)
{
  char **v = NULL;
  strv_append (&v, base_layer);
  return v;
}

static void
put_file (const char *dir, const char *name, const char *data)
{
  cleanup_free char *p = xasprintf ("%s/%s", dir, name);
  FILE *fp = fopen (p, "w");
  assert_non_null (fp);
  fputs (data, fp);
  fclose (fp);
}

static char *
read_upper (struct build_work *w, const char *name)
{
  cleanup_free char *p = xasprintf ("%s/%s", w->upper, name);
  husk_error_t err = NULL;
  char *data = NULL;

  if (husk_read_file_at (AT_FDCWD, p, 0, &data, NULL, &err) < 0)
    {
      husk_error_release (&err);
      return NULL;
    }
  return data;
}

static void
copy_req_init (struct fix *f, struct build_copy_req *r, char *const *sources, const char *dest)
{
  memset (r, 0, sizeof (*r));
  r->src_rootfd = f->b.context_fd;
  r->from_context = true;
  r->sources = sources;
  r->dest = dest;
  r->workdir = "/";
}

/* ---- work + copy + layer ---- */

static void
test_copy_then_layer (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = NULL;
  cleanup_build_work struct build_work *w = NULL;
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  cleanup_free char *diff_id = NULL;
  cleanup_free char *data = NULL;
  char *srcs[] = { (char *)"hello.txt", NULL };
  struct build_copy_req r;
  bool empty = true;

  NEED_READY ();
  ids = base_ids ();
  put_file (f->ctxdir, "hello.txt", "hello\n");
  OK (build_work_new (&f->b, ids, &w, err));
  copy_req_init (f, &r, srcs, "/app/");
  OK (build_copy (&f->b, w, &r, err));
  data = read_upper (w, "app/hello.txt");
  assert_non_null (data);
  assert_string_equal (data, "hello\n");
  OK (build_work_layer (&f->b, w, &stage, &diff_id, &empty, err));
  assert_false (empty);
  assert_non_null (stage);
  assert_true (husk_has_prefix (diff_id, "sha256:"));

  /* A read-only view of the base shows busybox.  */
  {
    int fd;
    struct stat sb;
    OK (fd = build_layers_mount (&f->b, ids, err));
    assert_int_equal (fstatat (fd, "bin/busybox", &sb, 0), 0);
    close (fd);
  }
  (void)base_only;
}

static void
test_empty_layer (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = NULL;
  cleanup_build_work struct build_work *w = NULL;
  husk_layer_stage_t *stage = NULL;
  char *diff_id = NULL;
  bool empty = false;

  NEED_READY ();
  ids = base_ids ();
  OK (build_work_new (&f->b, ids, &w, err));
  OK (build_work_layer (&f->b, w, &stage, &diff_id, &empty, err));
  assert_true (empty);
  assert_null (stage);
  assert_null (diff_id);
}

static char *
layer_of_copy (struct fix *f, const char *content)
{
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  char *diff_id = NULL;
  char *srcs[] = { (char *)"a", NULL };
  struct build_copy_req r;
  bool empty;

  put_file (f->ctxdir, "a", content);
  OK (build_work_new (&f->b, ids, &w, err));
  copy_req_init (f, &r, srcs, "/x/y/");
  OK (build_copy (&f->b, w, &r, err));
  OK (build_work_layer (&f->b, w, &stage, &diff_id, &empty, err));
  return diff_id;
}

static void
test_timestamp_same_diffid (void **state)
{
  struct fix *f = *state;
  cleanup_free char *d1 = NULL;
  cleanup_free char *d2 = NULL;
  cleanup_free char *d3 = NULL;

  NEED_READY ();
  f->o.have_timestamp = true;
  f->o.timestamp = 1700000000;
  d1 = layer_of_copy (f, "same\n");
  sleep (1); /* new directory times without --timestamp */
  d2 = layer_of_copy (f, "same\n");
  assert_string_equal (d1, d2);
  d3 = layer_of_copy (f, "other\n");
  assert_string_not_equal (d1, d3);
}

static void
test_copy_errors (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *m1 = NULL;
  cleanup_free char *m2 = NULL;
  char *two[] = { (char *)"a", (char *)"b", NULL };
  char *one[] = { (char *)"a", NULL };
  struct build_copy_req r;

  NEED_READY ();
  put_file (f->ctxdir, "a", "a");
  put_file (f->ctxdir, "b", "b");
  OK (build_work_new (&f->b, ids, &w, err));
  copy_req_init (f, &r, two, "/d");
  FAILS (&m1, build_copy (&f->b, w, &r, err));
  assert_non_null (
      strstr (m1, "more than one source file, the destination must be a directory and end with a /"));
  copy_req_init (f, &r, one, "/d");
  r.chmod = "rwx";
  FAILS (&m2, build_copy (&f->b, w, &r, err));
  assert_non_null (strstr (m2, "invalid --chmod"));
}

static void
test_copy_chown_chmod_heredoc (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *d1 = NULL;
  cleanup_free char *d2 = NULL;
  cleanup_free char *p = NULL;
  char *srcs[] = { (char *)"a", (char *)"<<EOF", NULL };
  struct husk_dockerfile_heredoc h = { .name = (char *)"EOF", .body = (char *)"from heredoc\n" };
  struct build_copy_req r;
  struct stat sb;

  NEED_READY ();
  put_file (f->ctxdir, "a", "a");
  OK (build_work_new (&f->b, ids, &w, err));
  copy_req_init (f, &r, srcs, "sub/");
  r.workdir = "/w";
  r.heredocs = &h;
  r.n_heredocs = 1;
  r.chown = "app:staff";
  r.chmod = "0640";
  OK (build_copy_digest (&f->b, &r, &d1, err));
  OK (build_copy (&f->b, w, &r, err));
  data = read_upper (w, "w/sub/EOF");
  assert_string_equal (data, "from heredoc\n");
  p = xasprintf ("%s/w/sub/a", w->upper);
  assert_int_equal (lstat (p, &sb), 0);
  assert_int_equal (sb.st_uid, 1000);
  assert_int_equal (sb.st_gid, 50);
  assert_int_equal (sb.st_mode & 07777, 0640);

  /* The digest follows the heredoc's body.  */
  h.body = (char *)"changed\n";
  OK (build_copy_digest (&f->b, &r, &d2, err));
  assert_string_not_equal (d1, d2);
}

/* ---- RUN ---- */

static void
run_req_init (struct build_run_req *r, char *const *argv)
{
  static char *const env[] = { (char *)"PATH=/bin", NULL };
  memset (r, 0, sizeof (*r));
  r->argv = argv;
  r->env = env;
}

static void
test_run_status_and_upper (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *data = NULL;
  char *argv[] = { (char *)"/bin/busybox", (char *)"sh", (char *)"-c", (char *)"echo hi > /f; exit 3", NULL };
  struct build_run_req r;
  int status = -1;

  NEED_READY ();
  OK (build_work_new (&f->b, ids, &w, err));
  run_req_init (&r, argv);
  OK (build_run (&f->b, w, &r, &status, err));
  assert_int_equal (status, 3);
  data = read_upper (w, "f");
  assert_non_null (data);
  assert_string_equal (data, "hi\n");
}

static void
test_run_env_cwd_user_stdin (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *data = NULL;
  char *argv[] = { (char *)"/bin/sh", NULL };
  char *const env[] = { (char *)"PATH=/bin", (char *)"GREETING=yo", NULL };
  struct build_run_req r;
  int status = -1;

  NEED_READY ();
  OK (build_work_new (&f->b, ids, &w, err));
  run_req_init (&r, argv);
  r.env = env;
  r.cwd = "/made/here";
  r.user = "app";
  r.stdin_data = "echo \"$GREETING $(pwd) $(id -u) $(hostname)\" > /tmp/out\n";
  OK (build_run (&f->b, w, &r, &status, err));
  assert_int_equal (status, 0);
  data = read_upper (w, "tmp/out");
  assert_non_null (data);
  assert_true (husk_has_prefix (data, "yo /made/here 1000 "));
  assert_int_equal (strlen (data), strlen ("yo /made/here 1000 ") + 12 + 1);
}

static void
test_run_network (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *msg = NULL;
  char *argv[] = { (char *)"sh", (char *)"-c", (char *)"test $(ls /sys/class/net | wc -l) -eq 1", NULL };
  struct build_run_req r;
  int status = -1;

  NEED_READY ();
  OK (build_work_new (&f->b, ids, &w, err));
  run_req_init (&r, argv);
  r.network = "none";
  OK (build_run (&f->b, w, &r, &status, err));
  assert_int_equal (status, 0); /* lo only */
  r.network = "bridge";
  FAILS (&msg, build_run (&f->b, w, &r, &status, err));
  assert_string_equal (msg, "RUN --network=bridge is not supported yet: use none or host");
}

static void
test_run_not_found (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  char *argv[] = { (char *)"nosuchcommand", NULL };
  struct build_run_req r;
  husk_error_t err = NULL;
  int status = -1;

  NEED_READY ();
  OK (build_work_new (&f->b, ids, &w, err));
  run_req_init (&r, argv);
  assert_true (build_run (&f->b, w, &r, &status, &err) < 0);
  assert_int_equal (husk_error_exit_code (&err), 127);
  husk_error_release (&err);
}

static void
test_run_mount_tmpfs_cache (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *m1 = NULL;
  cleanup_free char *m2 = NULL;
  cleanup_free char *leak = NULL;
  char *argv[] = { (char *)"sh", (char *)"-c",
                   (char *)"grep -q ' /t tmpfs ' /proc/mounts && echo x > /t/y && "
                           "echo $(( $(cat /c/n 2>/dev/null || echo 0) + 1 )) > /c/n && cat /c/n > /count",
                   NULL };
  char *mounts[]
      = { (char *)"type=tmpfs,target=/t,size=1048576", (char *)"type=cache,target=/c,id=unit-test", NULL };
  char *bad1[] = { (char *)"type=secretz,target=/s", NULL };
  char *bad2[] = { (char *)"type=tmpfs,target=/s,colour=blue", NULL };
  struct build_run_req r;
  int status = -1;

  NEED_READY ();
  OK (build_work_new (&f->b, ids, &w, err));
  run_req_init (&r, argv);
  r.mounts = mounts;
  OK (build_run (&f->b, w, &r, &status, err));
  assert_int_equal (status, 0);
  OK (build_run (&f->b, w, &r, &status, err));
  assert_int_equal (status, 0);
  m1 = read_upper (w, "count");
  assert_non_null (m1);
  assert_true (atoi (m1) >= 2); /* the cache outlived the first run */
  leak = read_upper (w, "t/y");
  assert_null (leak);
  free (m1);
  m1 = NULL;

  r.mounts = bad1;
  FAILS (&m1, build_run (&f->b, w, &r, &status, err));
  assert_non_null (strstr (m1, "unknown mount type \"secretz\""));
  r.mounts = bad2;
  FAILS (&m2, build_run (&f->b, w, &r, &status, err));
  assert_non_null (strstr (m2, "unknown option \"colour\""));
}

/* CVE-2024-1753: a stage's "/rootdir -> /" must show the stage's root.  */
static void
test_run_mount_bind_cve (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *script
      = xasprintf ("test -f /mnt/stage-marker && test ! -e /mnt/bin && test ! -e /mnt%s "
                   "&& ! touch /mnt/new 2>/dev/null && cat /ctx/sub/f > /from-ctx "
                   "&& echo w > /rw/new && test ! -e /ctx/sub/../escape",
                   topdir);
  cleanup_free char *data = NULL;
  cleanup_free char *host = NULL;
  char *argv[] = { (char *)"sh", (char *)"-c", script, NULL };
  char *mounts[] = { (char *)"type=bind,from=stage,source=/rootdir,target=/mnt",
                     (char *)"type=bind,source=link/..,target=/ctx",
                     (char *)"type=bind,source=/sub,target=/rw,rw", NULL };
  struct build_run_req r;
  int status = -1;

  NEED_READY ();
  sh ("mkdir -p %s/sub && echo ctx > %s/sub/f && ln -s / %s/link", f->ctxdir, f->ctxdir, f->ctxdir);
  OK (build_work_new (&f->b, ids, &w, err));
  run_req_init (&r, argv);
  r.mounts = mounts;
  OK (build_run (&f->b, w, &r, &status, err));
  assert_int_equal (status, 0);
  data = read_upper (w, "from-ctx");
  assert_string_equal (data, "ctx\n");
  /* rw writes are thrown away, never into the context.  */
  host = xasprintf ("%s/sub/new", f->ctxdir);
  assert_int_equal (access (host, F_OK), -1);
}

/* ---- ADD ---- */

static void
test_add_archive (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *plain = NULL;
  char *srcs[] = { (char *)"a.tar.gz", (char *)"notar.gz", NULL };
  struct build_copy_req r;

  NEED_READY ();
  assert_int_equal (sh ("set -e; cd %s; mkdir -p t/dir; echo in-tar > t/dir/x; tar -C t -czf a.tar.gz dir;"
                        "rm -rf t; echo 'not an archive' > notar.gz",
                        f->ctxdir),
                    0);
  OK (build_work_new (&f->b, ids, &w, err));
  copy_req_init (f, &r, srcs, "/dst/");
  r.add = true;
  OK (build_copy (&f->b, w, &r, err));
  data = read_upper (w, "dst/dir/x");
  assert_non_null (data);
  assert_string_equal (data, "in-tar\n");
  plain = read_upper (w, "dst/notar.gz");
  assert_non_null (plain);
  assert_string_equal (plain, "not an archive\n");
}

/* python3 -m http.server on 127.0.0.1, serving dir; returns its pid.  */
static pid_t
http_server (const char *dir, int *port)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  socklen_t len = sizeof (sa);
  int probe = socket (AF_INET, SOCK_STREAM, 0);
  pid_t pid;
  int i;

  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (probe < 0 || bind (probe, (struct sockaddr *)&sa, sizeof (sa)) < 0
      || getsockname (probe, (struct sockaddr *)&sa, &len) < 0)
    return -1;
  close (probe);
  *port = ntohs (sa.sin_port);
  pid = fork ();
  if (pid == 0)
    {
      char p[16];
      snprintf (p, sizeof (p), "%d", *port);
      if (chdir (dir) < 0)
        _exit (1);
      int null = open ("/dev/null", O_RDWR);
      dup2 (null, 1);
      dup2 (null, 2);
      execlp ("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1", p, (char *)NULL);
      _exit (127);
    }
  for (i = 0; i < 100; i++)
    {
      int s = socket (AF_INET, SOCK_STREAM, 0);
      int ok = connect (s, (struct sockaddr *)&sa, sizeof (sa)) == 0;
      close (s);
      if (ok)
        return pid;
      usleep (50000);
    }
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  return -1;
}

static void
test_add_url (void **state)
{
  struct fix *f = *state;
  cleanup_strv char **ids = base_ids ();
  cleanup_build_work struct build_work *w = NULL;
  cleanup_free char *served = xasprintf ("%s/served", f->b.tmpdir);
  cleanup_free char *url = NULL;
  cleanup_free char *missing = NULL;
  cleanup_free char *data = NULL;
  cleanup_free char *d1 = NULL;
  cleanup_free char *d2 = NULL;
  cleanup_free char *msg = NULL;
  cleanup_free char *p = NULL;
  char *srcs[] = { NULL, NULL };
  struct build_copy_req r;
  struct stat sb;
  int port = 0;
  pid_t pid;

  NEED_READY ();
  if (access ("/usr/bin/python3", X_OK) < 0)
    skip ();
  assert_int_equal (mkdir (served, 0755), 0);
  put_file (served, "file.txt", "downloaded\n");
  pid = http_server (served, &port);
  assert_true (pid > 0);
  url = xasprintf ("http://127.0.0.1:%d/file.txt?x=1", port);
  missing = xasprintf ("http://127.0.0.1:%d/nope.txt", port);
  OK (build_work_new (&f->b, ids, &w, err));
  srcs[0] = url;
  copy_req_init (f, &r, srcs, "/d/");
  r.add = true;
  OK (build_copy_digest (&f->b, &r, &d1, err));
  /* Once per build: the second digest and the copy use the download.  */
  put_file (served, "file.txt", "changed on the server\n");
  OK (build_copy_digest (&f->b, &r, &d2, err));
  assert_string_equal (d1, d2);
  OK (build_copy (&f->b, w, &r, err));
  data = read_upper (w, "d/file.txt");
  assert_non_null (data);
  assert_string_equal (data, "downloaded\n");
  p = xasprintf ("%s/d/file.txt", w->upper);
  assert_int_equal (stat (p, &sb), 0);
  assert_int_equal (sb.st_mode & 07777, 0600);

  srcs[0] = missing;
  FAILS (&msg, build_copy (&f->b, w, &r, err));
  assert_non_null (strstr (msg, "HTTP status 404"));

  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_copy_then_layer, setup, teardown),
    cmocka_unit_test_setup_teardown (test_empty_layer, setup, teardown),
    cmocka_unit_test_setup_teardown (test_timestamp_same_diffid, setup, teardown),
    cmocka_unit_test_setup_teardown (test_copy_errors, setup, teardown),
    cmocka_unit_test_setup_teardown (test_copy_chown_chmod_heredoc, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_status_and_upper, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_env_cwd_user_stdin, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_network, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_not_found, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_mount_tmpfs_cache, setup, teardown),
    cmocka_unit_test_setup_teardown (test_run_mount_bind_cve, setup, teardown),
    cmocka_unit_test_setup_teardown (test_add_archive, setup, teardown),
    cmocka_unit_test_setup_teardown (test_add_url, setup, teardown),
  };
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
