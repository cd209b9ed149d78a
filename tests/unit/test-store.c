/* Unit tests for src/store: a fresh store under a mkdtemp directory for
   each test.  */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/json.h"
#include "husk/store.h"
#include "husk/util.h"
#include "../../src/store/store-internal.h"

struct fixture
{
  char *dir;
  char *root;
  char *runroot;
  husk_store_t *s;
};

static int
open_store (struct fixture *f, const char *driver, husk_store_t **out, husk_error_t *err)
{
  struct husk_store_opts opts = { .root = f->root, .runroot = f->runroot, .driver = driver };
  return husk_store_open (&opts, out, err);
}

static int
setup (void **state)
{
  struct fixture *f = xzalloc (sizeof (*f));
  husk_error_t err = NULL;
  char tmpl[] = "/tmp/husk-test-store-XXXXXX";

  assert_non_null (mkdtemp (tmpl));
  f->dir = xstrdup (tmpl);
  f->root = xasprintf ("%s/root", f->dir);
  f->runroot = xasprintf ("%s/run", f->dir);
  if (open_store (f, NULL, &f->s, &err) < 0)
    fail_msg ("open: %s", err->msg);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fixture *f = *state;
  husk_error_t err = NULL;

  husk_store_close (f->s);
  if (husk_rm_rf_at (AT_FDCWD, f->dir, &err) < 0)
    husk_error_release (&err);
  free (f->dir);
  free (f->root);
  free (f->runroot);
  free (f);
  return 0;
}

static char *
fake_diff_id (int n)
{
  cleanup_free char *content = xasprintf ("layer-%d", n);
  return husk_digest_buffer (content, strlen (content));
}

/* A stage holding one file, recorded as layer n.  */
static husk_layer_stage_t *
make_stage (husk_store_t *s, int n)
{
  husk_layer_stage_t *st = NULL;
  husk_error_t err = NULL;
  cleanup_free char *diff_id = fake_diff_id (n);
  cleanup_close int fd = -1;

  if (husk_store_layer_stage_new (s, &st, &err) < 0)
    fail_msg ("stage: %s", err->msg);
  fd = openat (husk_layer_stage_dirfd (st), "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "hello", 5), 5);
  husk_layer_stage_set (st, diff_id, 5 + (uint64_t)n,
                        "sha256:0000000000000000000000000000000000000000000000000000000000000000", 3,
                        "application/vnd.oci.image.layer.v1.tar+gzip");
  husk_layer_stage_set_diff_size (st, 1024 + (uint64_t)n);
  return st;
}

/* A config whose rootfs lists the given layers; comment makes it unique.  */
static char *
make_config (const char *comment, const int *layers, size_t n)
{
  struct husk_buf b = { 0 };
  size_t i;

  husk_buf_printf (&b,
                   "{\"created\":\"2024-01-02T03:04:05Z\",\"comment\":\"%s\","
                   "\"config\":{\"Labels\":{\"k\":\"v\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[",
                   comment);
  for (i = 0; i < n; i++)
    {
      cleanup_free char *d = fake_diff_id (layers[i]);
      husk_buf_printf (&b, "%s\"%s\"", i ? "," : "", d);
    }
  husk_buf_puts (&b, "]}}");
  return husk_buf_steal (&b, NULL);
}

/* Commit an image made of the given layers, staging the ones in stage[].  */
static char *
commit (husk_store_t *s, const char *comment, const int *layers, size_t n, const int *stage, size_t n_stage,
        const char *name)
{
  cleanup_free char *config = make_config (comment, layers, n);
  husk_layer_stage_t *stages[8] = { NULL };
  char *names[] = { (char *)name, NULL };
  struct husk_image_commit c = { 0 };
  husk_error_t err = NULL;
  char *id = NULL;
  size_t i;

  for (i = 0; i < n_stage; i++)
    stages[i] = make_stage (s, stage[i]);
  c.config = config;
  c.config_len = strlen (config);
  c.names = name ? names : NULL;
  c.stages = stages;
  c.n_stages = n_stage;
  if (husk_store_image_commit (s, &c, &id, &err) < 0)
    fail_msg ("commit: %s", err->msg);
  for (i = 0; i < n_stage; i++)
    husk_layer_stage_free (stages[i]);
  return id;
}

static size_t
count_entries (int dirfd, const char *prefix)
{
  DIR *d;
  struct dirent *de;
  size_t n = 0;
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  assert_true (fd >= 0);
  d = fdopendir (fd);
  assert_non_null (d);
  while ((de = readdir (d)))
    if (de->d_name[0] != '.' ? prefix == NULL : (prefix && husk_has_prefix (de->d_name, prefix)))
      n++;
  closedir (d);
  return n;
}

static void
test_open_driver (void **state)
{
  struct fixture *f = *state;
  husk_store_t *s = NULL;
  husk_error_t err = NULL;

  assert_string_equal (husk_store_driver (f->s), "overlay");
  assert_string_equal (husk_store_root (f->s), f->root);
  assert_string_equal (husk_store_runroot (f->s), f->runroot);

  assert_true (open_store (f, "vfs", &s, &err) < 0);
  assert_non_null (strstr (err->msg, "\"vfs\""));
  assert_non_null (strstr (err->msg, "\"overlay\""));
  husk_error_release (&err);

  assert_true (open_store (f, "btrfs", &s, &err) < 0);
  assert_non_null (strstr (err->msg, "unknown storage driver"));
  husk_error_release (&err);

  assert_int_equal (open_store (f, "overlay", &s, &err), 0);
  husk_store_close (s);
}

static void
test_open_vfs_recorded (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *root = xasprintf ("%s/root2", f->dir);
  struct husk_store_opts opts = { .root = root, .runroot = f->runroot, .driver = "vfs" };
  husk_store_t *s = NULL;
  husk_error_t err = NULL;

  assert_int_equal (husk_store_open (&opts, &s, &err), 0);
  assert_string_equal (husk_store_driver (s), "vfs");
  husk_store_close (s);
  opts.driver = NULL;
  assert_int_equal (husk_store_open (&opts, &s, &err), 0);
  assert_string_equal (husk_store_driver (s), "vfs");
  husk_store_close (s);
  opts.driver = "overlay";
  assert_true (husk_store_open (&opts, &s, &err) < 0);
  husk_error_release (&err);
}

static void
test_stale_stage_repair (void **state)
{
  struct fixture *f = *state;
  husk_layer_stage_t *mine = NULL;
  husk_error_t err = NULL;
  int layersfd = openat (husk_store_rootfd (f->s), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int status;
  pid_t pid;

  assert_true (layersfd >= 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      husk_store_t *s = NULL;
      husk_layer_stage_t *st = NULL;
      husk_error_t cerr = NULL;
      if (open_store (f, NULL, &s, &cerr) < 0 || husk_store_layer_stage_new (s, &st, &cerr) < 0)
        _exit (1);
      /* Die without cleaning up, as kill -9 would.  */
      _exit (0);
    }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  assert_int_equal (count_entries (layersfd, ".stage-"), 1);

  /* A live stage of ours must survive the repair.  */
  assert_int_equal (husk_store_layer_stage_new (f->s, &mine, &err), 0);
  assert_int_equal (count_entries (layersfd, ".stage-"), 2);

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  assert_int_equal (count_entries (layersfd, ".stage-"), 1);
  husk_store_unlock (f->s);

  husk_layer_stage_free (mine);
  assert_int_equal (count_entries (layersfd, ".stage-"), 0);
  close (layersfd);
}

static void
test_commit_needs_exclusive_lock (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *config = make_config ("x", NULL, 0);
  struct husk_image_commit c = { .config = config, .config_len = strlen (config) };
  husk_error_t err = NULL;
  char *id = NULL;

  assert_true (husk_store_image_commit (f->s, &c, &id, &err) < 0);
  husk_error_release (&err);
  assert_int_equal (husk_store_lock (f->s, false, &err), 0);
  assert_true (husk_store_image_commit (f->s, &c, &id, &err) < 0);
  husk_error_release (&err);
  husk_store_unlock (f->s);
}

static void
test_commit_shared_layers (void **state)
{
  struct fixture *f = *state;
  static const int a_layers[] = { 1, 2 }, b_layers[] = { 1, 3 };
  cleanup_free char *a = NULL, *b = NULL, *manifest = NULL, *config = NULL;
  cleanup_json husk_json_t *m = NULL;
  struct husk_image_record *r = NULL;
  struct husk_image_record *const *all = NULL;
  cleanup_free char *l1 = fake_diff_id (1);
  cleanup_free char *config_digest = NULL;
  husk_error_t err = NULL;
  size_t n = 0, len = 0;
  int layersfd = openat (husk_store_rootfd (f->s), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  a = commit (f->s, "a", a_layers, 2, a_layers, 2, "docker.io/library/a:latest");
  /* B brings its own copy of layer 1: it is discarded.  */
  b = commit (f->s, "b", b_layers, 2, b_layers, 2, "docker.io/library/b:latest");
  assert_string_not_equal (a, b);
  assert_int_equal (count_entries (layersfd, NULL), 3);
  assert_int_equal (count_entries (layersfd, ".stage-"), 0);
  assert_true (husk_store_layer_exists (f->s, l1));
  assert_int_equal (husk_store_layer_size (f->s, l1), 6);

  assert_int_equal (husk_store_images (f->s, &all, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (all[0]->id, a);
  assert_null (all[2]);
  assert_int_equal (husk_store_image_find (f->s, "docker.io/library/b:latest", &r, &err), 1);
  assert_string_equal (r->id, b);
  assert_int_equal (strv_len (r->layers), 2);
  assert_int_equal (r->size, 6 + 8);
  assert_int_equal (r->created, 1704164645LL * 1000000000LL);
  assert_true (r->added > 0);
  assert_string_equal (husk_json_get_string (r->labels, "k"), "v");
  assert_non_null (r->digest);
  /* A generated manifest is not a source digest.  */
  assert_int_equal (strv_len (r->digests), 0);

  assert_int_equal (husk_store_image_manifest (f->s, b, &manifest, &len, &err), 0);
  m = husk_json_parse (manifest, len, &err);
  assert_non_null (m);
  assert_string_equal (husk_json_get_string (m, "mediaType"), "application/vnd.oci.image.manifest.v1+json");
  assert_string_equal (husk_json_get_string (husk_json_array_at (husk_json_get (m, "layers"), 0), "digest"),
                       l1);
  assert_string_equal (
      husk_json_get_string (husk_json_array_at (husk_json_get (m, "layers"), 0), "mediaType"),
      "application/vnd.oci.image.layer.v1.tar");
  assert_int_equal (
      husk_json_int (husk_json_get (husk_json_array_at (husk_json_get (m, "layers"), 1), "size"), 0), 1027);
  assert_int_equal (husk_store_image_config (f->s, b, &config, &len, &err), 0);
  config_digest = husk_digest_buffer (config, len);
  assert_string_equal (husk_digest_hex (config_digest), b);
  assert_string_equal (husk_json_get_string (husk_json_get (m, "config"), "digest"), config_digest);

  /* Remove keeps what the other image uses.  */
  assert_int_equal (husk_store_image_remove (f->s, a, &err), 0);
  assert_int_equal (count_entries (layersfd, NULL), 2);
  assert_true (husk_store_layer_exists (f->s, l1));
  assert_int_equal (husk_store_image_find (f->s, a, &r, &err), 0);
  assert_int_equal (husk_store_image_remove (f->s, b, &err), 0);
  assert_int_equal (count_entries (layersfd, NULL), 0);
  assert_int_equal (husk_store_images (f->s, &all, &n, &err), 0);
  assert_int_equal (n, 0);
  husk_store_unlock (f->s);
  close (layersfd);
}

static void
test_commit_source_manifest_and_merge (void **state)
{
  struct fixture *f = *state;
  static const char manifest[] = "{\"schemaVersion\":2}";
  cleanup_free char *config = make_config ("m", NULL, 0);
  cleanup_free char *id = NULL, *id2 = NULL, *data = NULL;
  char n1[] = "example.com/x:1", n2[] = "example.com/x:2";
  char *names1[] = { n1, NULL }, *names2[] = { n2, NULL };
  struct husk_image_commit c
      = { .config = config,
          .config_len = strlen (config),
          .manifest = manifest,
          .manifest_len = strlen (manifest),
          .manifest_digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111",
          .names = names1 };
  struct husk_image_record *r = NULL;
  husk_error_t err = NULL;
  size_t len;

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  assert_int_equal (husk_store_image_commit (f->s, &c, &id, &err), 0);
  c.names = names2;
  assert_int_equal (husk_store_image_commit (f->s, &c, &id2, &err), 0);
  assert_string_equal (id, id2);
  assert_int_equal (husk_store_image_find (f->s, "example.com/x:2", &r, &err), 1);
  assert_int_equal (strv_len (r->names), 2);
  assert_int_equal (strv_len (r->digests), 1);
  assert_string_equal (
      r->digests[0], "example.com/x@sha256:1111111111111111111111111111111111111111111111111111111111111111");
  assert_int_equal (husk_store_image_find (f->s, r->digests[0], &r, &err), 1);
  assert_int_equal (husk_store_image_manifest (f->s, id, &data, &len, &err), 0);
  assert_string_equal (data, manifest);
  husk_store_unlock (f->s);
}

static void
test_names_move (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *a = NULL, *b = NULL;
  struct husk_image_record *r = NULL;
  char x1[] = "x:1", x2[] = "x:2";
  char *names[] = { x2, x1, x2, NULL };
  husk_error_t err = NULL;

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  a = commit (f->s, "a", NULL, 0, NULL, 0, "x:1");
  b = commit (f->s, "b", NULL, 0, NULL, 0, "x:1");
  assert_int_equal (husk_store_image_find (f->s, "x:1", &r, &err), 1);
  assert_string_equal (r->id, b);
  assert_int_equal (husk_store_image_find (f->s, a, &r, &err), 1);
  assert_int_equal (strv_len (r->names), 0);

  assert_int_equal (husk_store_image_set_names (f->s, a, names, &err), 0);
  assert_int_equal (husk_store_image_find (f->s, "x:1", &r, &err), 1);
  assert_string_equal (r->id, a);
  assert_int_equal (strv_len (r->names), 2);
  assert_int_equal (husk_store_image_find (f->s, b, &r, &err), 1);
  assert_int_equal (strv_len (r->names), 0);
  assert_true (husk_store_image_set_names (
                   f->s, "0123456789012345678901234567890123456789012345678901234567890123", names, &err)
               < 0);
  husk_error_release (&err);
  husk_store_unlock (f->s);
  assert_true (husk_store_image_set_names (f->s, a, names, &err) < 0);
  husk_error_release (&err);
}

static void
test_find_prefix (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *a = NULL, *b = NULL, *key = NULL;
  cleanup_free char *comment_a = NULL, *comment_b = NULL;
  char *seen[4096] = { NULL };
  struct husk_image_record *r = NULL;
  husk_error_t err = NULL;
  int i;

  /* Find two configs whose ids share their first three hex digits.  */
  for (i = 0; comment_b == NULL; i++)
    {
      cleanup_free char *comment = xasprintf ("c%d", i);
      cleanup_free char *config = make_config (comment, NULL, 0);
      cleanup_free char *digest = husk_digest_buffer (config, strlen (config));
      cleanup_free char *head = xstrndup (husk_digest_hex (digest), 3);
      long slot = strtol (head, NULL, 16);

      if (seen[slot])
        {
          comment_a = xstrdup (seen[slot]);
          comment_b = xstrdup (comment);
        }
      else
        seen[slot] = xstrdup (comment);
    }
  for (i = 0; i < 4096; i++)
    free (seen[i]);

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  a = commit (f->s, comment_a, NULL, 0, NULL, 0, "a:latest");
  b = commit (f->s, comment_b, NULL, 0, NULL, 0, NULL);
  husk_store_unlock (f->s);
  assert_int_equal (husk_store_lock (f->s, false, &err), 0);

  key = xstrndup (a, 3);
  assert_true (husk_store_image_find (f->s, key, &r, &err) < 0);
  assert_non_null (strstr (err->msg, "ambiguous"));
  husk_error_release (&err);

  free (key);
  key = xstrndup (a, 20);
  if (strncmp (a, b, 20) != 0)
    {
      assert_int_equal (husk_store_image_find (f->s, key, &r, &err), 1);
      assert_string_equal (r->id, a);
    }
  free (key);
  key = xasprintf ("sha256:%s", b);
  assert_int_equal (husk_store_image_find (f->s, key, &r, &err), 1);
  assert_string_equal (r->id, b);
  assert_int_equal (husk_store_image_find (f->s, "a:latest", &r, &err), 1);
  assert_string_equal (r->id, a);
  assert_int_equal (husk_store_image_find (f->s, "nope:latest", &r, &err), 0);
  assert_int_equal (husk_store_image_find (f->s, "ab", &r, &err), 0);
  free (key);
  key = xstrndup (a, 2);
  assert_int_equal (husk_store_image_find (f->s, key, &r, &err), 0);
  husk_store_unlock (f->s);
}

static void
test_commit_missing_layer_changes_nothing (void **state)
{
  struct fixture *f = *state;
  static const int layers[] = { 1, 2 }, staged[] = { 1 };
  cleanup_free char *config = make_config ("broken", layers, 2);
  husk_layer_stage_t *stages[1] = { NULL };
  struct husk_image_commit c
      = { .config = config, .config_len = strlen (config), .stages = stages, .n_stages = 1 };
  struct husk_image_record *const *all = NULL;
  husk_error_t err = NULL;
  char *id = NULL;
  size_t n = 9;

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  stages[0] = make_stage (f->s, staged[0]);
  assert_true (husk_store_image_commit (f->s, &c, &id, &err) < 0);
  assert_non_null (strstr (err->msg, "not in the store"));
  husk_error_release (&err);
  husk_layer_stage_free (stages[0]);
  assert_int_equal (husk_store_images (f->s, &all, &n, &err), 0);
  assert_int_equal (n, 0);
  {
    int imagesfd = openat (husk_store_rootfd (f->s), "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal (count_entries (imagesfd, NULL), 0);
    close (imagesfd);
  }

  /* The layer it moved in is taken out again.  */
  {
    cleanup_free char *l1 = fake_diff_id (1);
    int layersfd = openat (husk_store_rootfd (f->s), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_false (husk_store_layer_exists (f->s, l1));
    assert_int_equal (count_entries (layersfd, NULL), 0);
    close (layersfd);
  }
  husk_store_unlock (f->s);
}

static void
test_repair_orphans (void **state)
{
  struct fixture *f = *state;
  static const int layers[] = { 1 };
  cleanup_free char *a = NULL, *orphan_layer = fake_diff_id (7);
  const char *orphan_image = "abababababababababababababababababababababababababababababababab";
  int rootfd = husk_store_rootfd (f->s);
  cleanup_free char *p1 = xasprintf ("images/%s", orphan_image);
  cleanup_free char *p2 = xasprintf ("layers/%s", husk_digest_hex (orphan_layer));
  cleanup_free char *p3 = xasprintf ("layers/%s/diff", husk_digest_hex (orphan_layer));
  husk_error_t err = NULL;

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  a = commit (f->s, "a", layers, 1, layers, 1, "a:1");
  husk_store_unlock (f->s);

  assert_int_equal (mkdirat (rootfd, p1, 0700), 0);
  assert_int_equal (mkdirat (rootfd, p2, 0700), 0);
  assert_int_equal (mkdirat (rootfd, p3, 0700), 0);

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  assert_true (faccessat (rootfd, p1, F_OK, 0) < 0);
  assert_true (faccessat (rootfd, p2, F_OK, 0) < 0);
  {
    cleanup_free char *l1 = fake_diff_id (1);
    cleanup_free char *img = xasprintf ("images/%s/config.json", a);
    assert_true (husk_store_layer_exists (f->s, l1));
    assert_int_equal (faccessat (rootfd, img, F_OK, 0), 0);
  }
  husk_store_unlock (f->s);
}

/* A second handle (another process, in effect) changes the index: the
   first one's cache must notice.  */
static void
test_index_cache_refresh (void **state)
{
  struct fixture *f = *state;
  struct husk_image_record *const *all = NULL;
  husk_store_t *other = NULL;
  cleanup_free char *a = NULL;
  husk_error_t err = NULL;
  size_t n = 9;

  assert_int_equal (husk_store_images (f->s, &all, &n, &err), 0);
  assert_int_equal (n, 0);
  assert_int_equal (open_store (f, NULL, &other, &err), 0);
  assert_int_equal (husk_store_lock (other, true, &err), 0);
  a = commit (other, "a", NULL, 0, NULL, 0, "a:1");
  husk_store_unlock (other);
  husk_store_close (other);
  assert_int_equal (husk_store_images (f->s, &all, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (all[0]->id, a);
  assert_string_equal (all[0]->names[0], "a:1");
}

static void
test_usage (void **state)
{
  struct fixture *f = *state;
  static const int a_layers[] = { 1, 2 }, b_layers[] = { 1, 3 };
  cleanup_free char *a = NULL, *b = NULL;
  struct husk_store_usage u;
  husk_error_t err = NULL;

  assert_int_equal (husk_store_lock (f->s, true, &err), 0);
  a = commit (f->s, "a", a_layers, 2, a_layers, 2, NULL);
  b = commit (f->s, "b", b_layers, 2, b_layers + 1, 1, NULL);
  assert_int_equal (husk_store_usage (f->s, &u, &err), 0);
  assert_int_equal (u.images_count, 2);
  assert_int_equal (u.images_active, 0);
  assert_int_equal (u.layers_count, 3);
  assert_int_equal (u.layers_size, 6 + 7 + 8);
  assert_int_equal (u.images_size, 6 + 7 + 8);
  assert_int_equal (u.images_reclaimable, 6 + 7 + 8);
  husk_store_unlock (f->s);
}

/* ---- rootless runroot choice ---- */

static char *
make_dir (const char *base, const char *name, uid_t uid, mode_t mode)
{
  char *p = xasprintf ("%s/%s", base, name);
  assert_int_equal (mkdir (p, 0700), 0);
  assert_int_equal (chown (p, uid, 0), 0);
  assert_int_equal (chmod (p, mode), 0);
  return p;
}

static void
test_runroot_choice (void **state)
{
  struct fixture *f = *state;
  const uid_t u = 4242;
  cleanup_free char *xdg = make_dir (f->dir, "xdg", u, 0700);
  cleanup_free char *xdg_other = make_dir (f->dir, "xdg-other", u + 1, 0700);
  cleanup_free char *xdg_open = make_dir (f->dir, "xdg-open", u, 0777);
  cleanup_free char *run_user = make_dir (f->dir, "run-user", 0, 0755);
  cleanup_free char *run_user_u = make_dir (run_user, "4242", u, 0700);
  cleanup_free char *tmp = make_dir (f->dir, "tmp", 0, 01777);
  struct husk_runroot_env env
      = { .uid = u, .owner = u, .xdg_runtime_dir = xdg, .run_user_base = run_user, .tmpdir = tmp };
  cleanup_free char *expect = NULL;
  husk_error_t err = NULL;
  char *out = NULL;

  /* 1: XDG_RUNTIME_DIR.  */
  assert_int_equal (husk_store_choose_runroot (&env, &out, &err), 0);
  expect = xasprintf ("%s/husk", xdg);
  assert_string_equal (out, expect);
  free (out);

  /* Writable by others: refused with a clear message.  */
  env.xdg_runtime_dir = xdg_open;
  assert_true (husk_store_choose_runroot (&env, &out, &err) < 0);
  assert_non_null (strstr (err->msg, "XDG_RUNTIME_DIR"));
  assert_non_null (strstr (err->msg, "writable by others"));
  husk_error_release (&err);

  /* 2: someone else's XDG_RUNTIME_DIR, or none: /run/user/$UID.  */
  env.xdg_runtime_dir = xdg_other;
  assert_int_equal (husk_store_choose_runroot (&env, &out, &err), 0);
  free (expect);
  expect = xasprintf ("%s/husk", run_user_u);
  assert_string_equal (out, expect);
  free (out);
  env.xdg_runtime_dir = NULL;
  assert_int_equal (husk_store_choose_runroot (&env, &out, &err), 0);
  assert_string_equal (out, expect);
  free (out);

  /* 3: /run/user/$UID not 0700: ${TMPDIR}/husk-run-$UID, created 0700.  */
  assert_int_equal (chmod (run_user_u, 0755), 0);
  env.uid = env.owner = geteuid ();
  env.run_user_base = "/nonexistent";
  assert_int_equal (husk_store_choose_runroot (&env, &out, &err), 0);
  free (expect);
  expect = xasprintf ("%s/husk-run-%u/husk", tmp, (unsigned)geteuid ());
  assert_string_equal (out, expect);
  free (out);
  {
    struct stat st;
    cleanup_free char *d = xasprintf ("%s/husk-run-%u", tmp, (unsigned)geteuid ());
    assert_int_equal (stat (d, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0700);
    /* Loosened by someone: refused.  */
    assert_int_equal (chmod (d, 0755), 0);
    assert_true (husk_store_choose_runroot (&env, &out, &err) < 0);
    assert_non_null (strstr (err->msg, "0755"));
    husk_error_release (&err);
  }

  /* Pre-created by another user: refused.  */
  env.uid = env.owner = u;
  env.run_user_base = run_user;
  {
    cleanup_free char *squat = make_dir (tmp, "husk-run-4242", u + 1, 0700);
    assert_true (husk_store_choose_runroot (&env, &out, &err) < 0);
    assert_non_null (strstr (err->msg, "owned by uid 4243"));
    husk_error_release (&err);
  }
}

/* Run fn as uid 4242 in a child; returns its exit status.  */
static int
as_user (struct fixture *f, int (*fn) (struct fixture *f))
{
  int status;
  pid_t pid = fork ();

  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (setgroups (0, NULL) < 0 || setgid (4242) < 0 || setuid (4242) < 0)
        _exit (99);
      _exit (fn (f));
    }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static int
open_foreign_root (struct fixture *f)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", f->dir);
  struct husk_store_opts opts = { .root = f->root };
  husk_store_t *s = NULL;
  husk_error_t err = NULL;

  unsetenv ("XDG_RUNTIME_DIR");
  setenv ("TMPDIR", tmp, 1);
  if (husk_store_open (&opts, &s, &err) == 0)
    return 1;
  return strstr (err->msg, "owned by uid 0") ? 0 : 2;
}

static int
open_own_root (struct fixture *f)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", f->dir);
  cleanup_free char *root = xasprintf ("%s/mine/root", f->dir);
  cleanup_free char *expect = xasprintf ("%s/husk-run-4242/husk", tmp);
  struct husk_store_opts opts = { .root = root };
  husk_store_t *s = NULL;
  husk_error_t err = NULL;
  struct stat st;

  unsetenv ("XDG_RUNTIME_DIR");
  setenv ("TMPDIR", tmp, 1);
  if (husk_store_open (&opts, &s, &err) < 0)
    return 1;
  if (!husk_store_rootless (s) || strcmp (husk_store_runroot (s), expect) != 0)
    return 2;
  if (stat (husk_store_runroot (s), &st) < 0 || st.st_uid != 4242)
    return 3;
  husk_store_close (s);
  return 0;
}

static void
test_rootless_open (void **state)
{
  struct fixture *f = *state;
  cleanup_free char *tmp = xasprintf ("%s/tmp", f->dir);
  cleanup_free char *mine = NULL;

  if (geteuid () != 0)
    skip ();
  assert_int_equal (chmod (f->dir, 0755), 0);
  assert_int_equal (chmod (f->root, 0755), 0);
  free (make_dir (f->dir, "tmp", 0, 01777));
  mine = make_dir (f->dir, "mine", 4242, 0700);
  /* A store root that belongs to someone else is refused.  */
  assert_int_equal (as_user (f, open_foreign_root), 0);
  /* No XDG_RUNTIME_DIR, no /run/user/4242: ${TMPDIR}/husk-run-4242.  */
  assert_int_equal (as_user (f, open_own_root), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_open_driver, setup, teardown),
    cmocka_unit_test_setup_teardown (test_open_vfs_recorded, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stale_stage_repair, setup, teardown),
    cmocka_unit_test_setup_teardown (test_commit_needs_exclusive_lock, setup, teardown),
    cmocka_unit_test_setup_teardown (test_commit_shared_layers, setup, teardown),
    cmocka_unit_test_setup_teardown (test_commit_source_manifest_and_merge, setup, teardown),
    cmocka_unit_test_setup_teardown (test_names_move, setup, teardown),
    cmocka_unit_test_setup_teardown (test_find_prefix, setup, teardown),
    cmocka_unit_test_setup_teardown (test_commit_missing_layer_changes_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_repair_orphans, setup, teardown),
    cmocka_unit_test_setup_teardown (test_index_cache_refresh, setup, teardown),
    cmocka_unit_test_setup_teardown (test_usage, setup, teardown),
    cmocka_unit_test_setup_teardown (test_runroot_choice, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rootless_open, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
