/* husk: loading docker-archive and oci-archive tarballs in one pass.

   The outer tar (plain, gzip or zstd) is read once, in order.  Small
   entries that are not layers (manifest.json, index.json, configs,
   manifests, repositories, legacy VERSION/json files) are kept in memory;
   anything that looks like a layer (tar magic, gzip or zstd magic, or too
   big to be metadata) is extracted at once into a new store stage while
   its digests are computed.  Only when the whole archive has been read do
   we know which entries the manifests name, so the matching and every
   digest check happen at the end; unused stages are then discarded.

   Handled layouts: docker save before 25 ("<id>/layer.tar", "<hex>.json"),
   containers/image ("<hex>.tar" plus legacy symlinks), Docker 25+
   (manifest.json pointing into an OCI "blobs/sha256/" layout) and OCI
   image layouts (index.json, possibly with a nested index per platform).
   Any entry named blobs/sha256/<hex> must hash to <hex>.  */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "husk/digest.h"
#include "husk/image.h"
#include "husk/layer.h"
#include "husk/userns.h"
#include "husk/util.h"

#define METADATA_MAX   (4 * 1024 * 1024)
#define HEAD_LEN       512
#define REF_NAME_ANNOT "org.opencontainers.image.ref.name"
#define CTRD_NAME      "io.containerd.image.name"

static void
cleanup_archive_readp (struct archive **a)
{
  if (*a)
    archive_read_free (*a);
}
#define cleanup_archive_read __attribute__ ((cleanup (cleanup_archive_readp)))

/* One regular file of the archive.  */
struct blob
{
  char *path;
  /* In memory (metadata, or a small non-tar file).  */
  char *data;
  size_t len;
  husk_json_t *json; /* parsed, when data is JSON */
  char *digest;      /* of data, computed on demand */
  /* Extracted as a layer.  */
  husk_layer_stage_t *stage;
  struct husk_layer_apply_result res;
  bool committed;
};

struct link
{
  char *path;
  char *target; /* normalized path inside the archive */
};

struct loaded_image
{
  char *config; /* raw bytes */
  size_t config_len;
  char *config_digest;
  const char *manifest; /* raw bytes of an OCI manifest, or NULL */
  size_t manifest_len;
  const char *manifest_digest;
  char **names;
  struct blob **layers;
  size_t n_layers;
  char *id;
};

struct loader
{
  husk_store_t *s;
  struct archive *a;
  struct blob *blobs;
  size_t n_blobs;
  struct link *links;
  size_t n_links;
  struct loaded_image *images;
  size_t n_images;
  struct husk_layer_apply_opts opts;
  char *archive_error; /* libarchive's message when a read failed */
};

static void
loader_free (struct loader *l)
{
  for (size_t i = 0; i < l->n_blobs; i++)
    {
      struct blob *b = &l->blobs[i];
      free (b->path);
      free (b->data);
      husk_json_free (b->json);
      free (b->digest);
      husk_layer_stage_free (b->stage);
      husk_layer_apply_result_clear (&b->res);
    }
  free (l->blobs);
  for (size_t i = 0; i < l->n_links; i++)
    {
      free (l->links[i].path);
      free (l->links[i].target);
    }
  free (l->links);
  for (size_t i = 0; i < l->n_images; i++)
    {
      free (l->images[i].config);
      free (l->images[i].config_digest);
      strv_free (l->images[i].names);
      free (l->images[i].layers);
      free (l->images[i].id);
    }
  free (l->images);
  free (l->archive_error);
}

static int
corrupt (struct loader *l, husk_error_t *err)
{
  const char *msg = l->archive_error ? l->archive_error : archive_error_string (l->a);
  return husk_make_error (err, 0, "the archive is truncated or corrupt: %s", msg ? msg : "read error");
}

/* Normalize an entry name relative to base (a directory inside the
   archive, "" for the top): drop "." and empty components, resolve "..".
   NULL when the name leaves the archive.  */
static char *
normalize_path (const char *base, const char *name)
{
  cleanup_free char *joined = xasprintf ("%s/%s", base, name);
  cleanup_strv char **parts = xzalloc (sizeof (char *));
  char *save = NULL;

  for (char *tok = strtok_r (joined, "/", &save); tok; tok = strtok_r (NULL, "/", &save))
    {
      size_t n = strv_len (parts);
      if (strcmp (tok, ".") == 0)
        continue;
      if (strcmp (tok, "..") == 0)
        {
          if (n == 0)
            return NULL;
          free (parts[n - 1]);
          parts[n - 1] = NULL;
          continue;
        }
      strv_append (&parts, tok);
    }
  return strv_join (parts, "/");
}

/* The name of an entry as written (no ".." allowed at all: a well-formed
   archive never needs one, and refusing it keeps the rules simple).  */
static int
entry_path (const char *raw, char **out, husk_error_t *err)
{
  const char *p = raw;

  if (raw == NULL || *raw == '\0')
    return husk_make_error (err, 0, "archive entry with an empty name");
  for (const char *c = raw; *c;)
    {
      size_t len = strcspn (c, "/");
      if (len == 2 && c[0] == '.' && c[1] == '.')
        return husk_make_error (err, 0, "archive entry \"%s\" refers outside the archive", raw);
      c += len;
      while (*c == '/')
        c++;
    }
  while (*p == '/')
    p++;
  *out = normalize_path ("", p);
  return 0;
}

static struct blob *
find_blob (struct loader *l, const char *path)
{
  cleanup_free char *norm = normalize_path ("", path);

  if (norm == NULL)
    return NULL;
  /* Follow symlinks and hardlinks (containers/image writes "<id>/layer.tar"
     -> "../<hex>.tar"); a few hops at most.  */
  for (int hops = 0; hops < 16; hops++)
    {
      bool followed = false;
      for (size_t i = 0; i < l->n_blobs; i++)
        if (strcmp (l->blobs[i].path, norm) == 0)
          return &l->blobs[i];
      for (size_t i = 0; i < l->n_links; i++)
        if (strcmp (l->links[i].path, norm) == 0)
          {
            free (norm);
            norm = xstrdup (l->links[i].target);
            followed = true;
            break;
          }
      if (!followed)
        return NULL;
    }
  return NULL;
}

/* ---- reading entries ---- */

struct entry_reader
{
  struct loader *l;
  const char *head;
  size_t head_len;
  size_t head_off;
};

static ssize_t
entry_read (void *ctx, void *buf, size_t len)
{
  struct entry_reader *r = ctx;
  la_ssize_t n;

  if (r->head_off < r->head_len)
    {
      size_t n = r->head_len - r->head_off;
      if (n > len)
        n = len;
      memcpy (buf, r->head + r->head_off, n);
      r->head_off += n;
      return (ssize_t)n;
    }
  n = archive_read_data (r->l->a, buf, len);
  if (n < 0)
    {
      const char *msg = archive_error_string (r->l->a);
      free (r->l->archive_error);
      r->l->archive_error = xstrdup (msg ? msg : "read error");
      errno = EIO;
      return -1;
    }
  return n;
}

struct mem_reader
{
  const char *data;
  size_t len;
  size_t off;
};

static ssize_t
mem_read (void *ctx, void *buf, size_t len)
{
  struct mem_reader *m = ctx;
  size_t n = m->len - m->off;

  if (n > len)
    n = len;
  memcpy (buf, m->data + m->off, n);
  m->off += n;
  return (ssize_t)n;
}

static int
apply_layer (struct loader *l, struct blob *b, husk_read_fn read, void *ctx, husk_error_t *err)
{
  int ret;

  ret = husk_store_layer_stage_new (l->s, &b->stage, err);
  if (ret < 0)
    return ret;
  ret = husk_image_layer_apply (b->stage, read, ctx, &l->opts, NULL, &b->res, err);
  if (ret < 0)
    {
      if (l->archive_error)
        return corrupt (l, err);
      return husk_error_wrap (err, "extracting layer %s", b->path);
    }
  return 0;
}

/* Read up to HEAD_LEN bytes of the current entry.  */
static int
read_head (struct loader *l, char *head, size_t *len, husk_error_t *err)
{
  *len = 0;
  while (*len < HEAD_LEN)
    {
      la_ssize_t n = archive_read_data (l->a, head + *len, HEAD_LEN - *len);
      if (n < 0)
        return corrupt (l, err);
      if (n == 0)
        break;
      *len += n;
    }
  return 0;
}

static bool
looks_like_layer (const char *head, size_t len)
{
  if (len >= 4 && husk_compression_detect (head, len) != HUSK_COMPRESSION_NONE)
    return true;
  return len >= 262 && memcmp (head + 257, "ustar", 5) == 0;
}

static int
read_to_memory (struct loader *l, struct blob *b, const char *head, size_t head_len, husk_error_t *err)
{
  struct husk_buf buf = { 0 };
  char chunk[65536];
  const char *p;

  husk_buf_append (&buf, head, head_len);
  for (;;)
    {
      la_ssize_t n = archive_read_data (l->a, chunk, sizeof (chunk));
      if (n < 0)
        {
          husk_buf_free (&buf);
          return corrupt (l, err);
        }
      if (n == 0)
        break;
      if (buf.len + n > METADATA_MAX)
        {
          husk_buf_free (&buf);
          return husk_make_error (err, 0, "archive entry %s is larger than its header says", b->path);
        }
      husk_buf_append (&buf, chunk, n);
    }
  b->data = husk_buf_steal (&buf, &b->len);
  for (p = b->data; p < b->data + b->len && strchr (" \t\r\n", *p); p++)
    ;
  if (p < b->data + b->len && (*p == '{' || *p == '['))
    {
      husk_error_t jerr = NULL;
      b->json = husk_json_parse (b->data, b->len, &jerr);
      husk_error_release (&jerr);
    }
  return 0;
}

static int
read_entry (struct loader *l, struct archive_entry *e, husk_error_t *err)
{
  cleanup_free char *path = NULL;
  char head[HEAD_LEN];
  size_t head_len;
  struct blob *b;
  mode_t type = archive_entry_filetype (e);
  const char *hardlink = archive_entry_hardlink (e);
  int ret;

  ret = entry_path (archive_entry_pathname (e), &path, err);
  if (ret < 0)
    return ret;

  if (hardlink || type == AE_IFLNK)
    {
      cleanup_free char *dir = NULL;
      char *slash = strrchr (path, '/');
      char *target;

      /* Hardlink targets are archive paths; symlinks are relative to
         their directory.  */
      dir = hardlink ? xstrdup ("") : slash ? xstrndup (path, slash - path) : xstrdup ("");
      target = normalize_path (dir, hardlink ? hardlink : archive_entry_symlink (e));
      if (target == NULL)
        return 0; /* points outside: never followed */
      l->links = xrealloc (l->links, (l->n_links + 1) * sizeof (*l->links));
      l->links[l->n_links].path = steal_pointer (&path);
      l->links[l->n_links].target = target;
      l->n_links++;
      return 0;
    }
  if (type != AE_IFREG)
    return 0;

  l->blobs = xrealloc (l->blobs, (l->n_blobs + 1) * sizeof (*l->blobs));
  b = &l->blobs[l->n_blobs++];
  memset (b, 0, sizeof (*b));
  b->path = steal_pointer (&path);

  ret = read_head (l, head, &head_len, err);
  if (ret < 0)
    return ret;
  if (!looks_like_layer (head, head_len) && archive_entry_size (e) <= METADATA_MAX)
    return read_to_memory (l, b, head, head_len, err);

  {
    struct entry_reader r = { .l = l, .head = head, .head_len = head_len };
    return apply_layer (l, b, entry_read, &r, err);
  }
}

static int
read_archive (struct loader *l, int in_fd, husk_error_t *err)
{
  struct archive_entry *e;
  int r, ret;

  archive_read_support_filter_gzip (l->a);
  archive_read_support_filter_zstd (l->a);
  archive_read_support_filter_xz (l->a);
  archive_read_support_format_tar (l->a);
  if (archive_read_open_fd (l->a, in_fd, 1024 * 1024) != ARCHIVE_OK)
    return husk_make_error (err, 0, "reading the archive: %s", archive_error_string (l->a));
  for (;;)
    {
      r = archive_read_next_header (l->a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r == ARCHIVE_WARN)
        husk_warn ("reading the archive: %s", archive_error_string (l->a));
      else if (r != ARCHIVE_OK)
        {
          if (l->n_blobs == 0 && l->n_links == 0)
            return husk_make_error (err, 0, "the input is not a tar archive: %s",
                                    archive_error_string (l->a));
          return corrupt (l, err);
        }
      ret = read_entry (l, e, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* ---- matching manifests against what was read ---- */

static const char *
blob_digest (struct blob *b)
{
  if (b->stage)
    return b->res.blob_digest;
  if (b->digest == NULL)
    b->digest = husk_digest_buffer (b->data, b->len);
  return b->digest;
}

/* Entries named blobs/sha256/<hex> must have that digest.  */
static int
check_blob_name (struct blob *b, const char *what, husk_error_t *err)
{
  const char *base = strrchr (b->path, '/');
  cleanup_free char *want = NULL;

  if (!husk_has_prefix (b->path, "blobs/sha256/") || base == NULL)
    return 0;
  want = xasprintf ("sha256:%s", base + 1);
  if (strcmp (want, blob_digest (b)) != 0)
    return husk_make_error (err, 0, "%s digest mismatch: expected %s, got %s", what, want, blob_digest (b));
  return 0;
}

/* The blob for a layer, extracted (now, if it was kept in memory).  */
static int
layer_blob (struct loader *l, const char *path, const char *what, struct blob **out, husk_error_t *err)
{
  struct blob *b = find_blob (l, path);
  int ret;

  if (b == NULL)
    return husk_make_error (err, 0, "%s is missing from the archive", what);
  if (b->stage == NULL)
    {
      struct mem_reader m = { .data = b->data, .len = b->len };
      ret = apply_layer (l, b, mem_read, &m, err);
      if (ret < 0)
        return ret;
    }
  ret = check_blob_name (b, what, err);
  if (ret < 0)
    return ret;
  *out = b;
  return 0;
}

/* A metadata blob, by path.  */
static int
json_blob (struct loader *l, const char *path, const char *what, struct blob **out, husk_error_t *err)
{
  struct blob *b = find_blob (l, path);
  int ret;

  if (b == NULL)
    return husk_make_error (err, 0, "%s is missing from the archive", what);
  if (b->json == NULL || husk_json_type (b->json) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "%s is not a JSON object", what);
  ret = check_blob_name (b, what, err);
  if (ret < 0)
    return ret;
  *out = b;
  return 0;
}

static char *
blob_path_for_digest (const char *digest)
{
  const char *colon = strchr (digest, ':');
  if (colon == NULL)
    return xasprintf ("blobs/%s", digest);
  return xasprintf ("blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
}

static int
add_name (struct loaded_image *im, const char *raw, husk_error_t *err)
{
  cleanup_reference struct husk_reference *r = NULL;
  cleanup_free char *full = NULL;
  int ret;

  ret = husk_reference_parse (raw, &r, err);
  if (ret < 0)
    return husk_error_wrap (err, "invalid image name in the archive");
  husk_reference_normalize_local (r);
  full = husk_reference_string (r);
  if (!strv_contains (im->names, full))
    strv_append (&im->names, full);
  return 0;
}

/* Check the layers against config rootfs.diff_ids and add the image.  */
static int
add_image (struct loader *l, struct blob *config, struct blob **layers, size_t n_layers,
           struct blob *manifest, const char *manifest_digest, husk_error_t *err)
{
  husk_json_t *diff_ids = husk_json_get_path (config->json, "rootfs", "diff_ids", NULL);
  struct loaded_image *im;

  if (husk_json_array_len (diff_ids) != n_layers)
    return husk_make_error (err, 0, "image config %s lists %zu layers but the manifest has %zu", config->path,
                            husk_json_array_len (diff_ids), n_layers);
  for (size_t i = 0; i < n_layers; i++)
    {
      const char *want = husk_json_string (husk_json_array_at (diff_ids, i));
      if (want == NULL || strcmp (want, layers[i]->res.diff_id) != 0)
        return husk_make_error (err, 0, "layer %s digest mismatch: expected %s, got %s", layers[i]->path,
                                want ? want : "(none)", layers[i]->res.diff_id);
    }

  l->images = xrealloc (l->images, (l->n_images + 1) * sizeof (*l->images));
  im = &l->images[l->n_images++];
  memset (im, 0, sizeof (*im));
  im->config = xmalloc (config->len + 1);
  memcpy (im->config, config->data, config->len);
  im->config[config->len] = '\0';
  im->config_len = config->len;
  im->config_digest = husk_digest_buffer (config->data, config->len);
  im->names = xzalloc (sizeof (char *));
  im->layers = xmalloc ((n_layers ? n_layers : 1) * sizeof (*im->layers));
  memcpy (im->layers, layers, n_layers * sizeof (*layers));
  im->n_layers = n_layers;
  if (manifest)
    {
      im->manifest = manifest->data;
      im->manifest_len = manifest->len;
      im->manifest_digest = manifest_digest;
    }
  return 0;
}

/* An image already added with the same config and manifest: merge names.  */
static struct loaded_image *
find_image (struct loader *l, struct blob *config, const char *manifest_digest)
{
  cleanup_free char *d = husk_digest_buffer (config->data, config->len);

  for (size_t i = 0; i < l->n_images; i++)
    if (strcmp (l->images[i].config_digest, d) == 0
        && ((manifest_digest == NULL && l->images[i].manifest_digest == NULL)
            || (manifest_digest && l->images[i].manifest_digest
                && strcmp (manifest_digest, l->images[i].manifest_digest) == 0)))
      return &l->images[i];
  return NULL;
}

static int
match_docker_entry (struct loader *l, husk_json_t *entry, size_t idx, husk_error_t *err)
{
  const char *cfgpath = husk_json_get_string (entry, "Config");
  husk_json_t *layers = husk_json_get (entry, "Layers");
  husk_json_t *tags = husk_json_get (entry, "RepoTags");
  size_t n = husk_json_array_len (layers);
  cleanup_free struct blob **lb = xzalloc ((n ? n : 1) * sizeof (*lb));
  struct loaded_image *im;
  struct blob *config;
  int ret;

  if (cfgpath == NULL)
    return husk_make_error (err, 0, "manifest.json entry %zu has no Config", idx);
  {
    cleanup_free char *what = xasprintf ("config %s", cfgpath);
    ret = json_blob (l, cfgpath, what, &config, err);
    if (ret < 0)
      return ret;
  }
  for (size_t i = 0; i < n; i++)
    {
      const char *p = husk_json_string (husk_json_array_at (layers, i));
      cleanup_free char *what = NULL;
      if (p == NULL)
        return husk_make_error (err, 0, "manifest.json entry %zu has an invalid layer", idx);
      what = xasprintf ("layer %s", p);
      ret = layer_blob (l, p, what, &lb[i], err);
      if (ret < 0)
        return ret;
    }
  im = find_image (l, config, NULL);
  if (im == NULL)
    {
      ret = add_image (l, config, lb, n, NULL, NULL, err);
      if (ret < 0)
        return ret;
      im = &l->images[l->n_images - 1];
    }
  for (size_t i = 0; i < husk_json_array_len (tags); i++)
    {
      const char *t = husk_json_string (husk_json_array_at (tags, i));
      if (t)
        {
          ret = add_name (im, t, err);
          if (ret < 0)
            return ret;
        }
    }
  return 0;
}

static int
match_docker (struct loader *l, struct blob *manifest, husk_error_t *err)
{
  size_t n = husk_json_array_len (manifest->json);
  int ret;

  if (husk_json_type (manifest->json) != HUSK_JSON_ARRAY || n == 0)
    return husk_make_error (err, 0, "manifest.json in the archive lists no image");
  for (size_t i = 0; i < n; i++)
    {
      husk_json_t *entry = husk_json_array_at (manifest->json, i);
      if (husk_json_type (entry) != HUSK_JSON_OBJECT)
        return husk_make_error (err, 0, "manifest.json entry %zu is not an object", i);
      ret = match_docker_entry (l, entry, i, err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* The name an OCI descriptor carries.  Podman and Docker write a full
   reference in ref.name (containerd's annotation too); skopeo's "oci:"
   layouts hold a bare tag there, which names no repository: no name.  */
static const char *
oci_descriptor_name (husk_json_t *desc)
{
  husk_json_t *ann = husk_json_get (desc, "annotations");
  const char *n = husk_json_get_string (ann, CTRD_NAME);

  if (n && *n)
    return n;
  n = husk_json_get_string (ann, REF_NAME_ANNOT);
  if (n == NULL || *n == '\0' || (strchr (n, '/') == NULL && strchr (n, ':') == NULL))
    return NULL;
  return n;
}

static bool
platform_matches (husk_json_t *desc)
{
  husk_json_t *p = husk_json_get (desc, "platform");
  const char *arch = husk_json_get_string (p, "architecture");
  const char *os = husk_json_get_string (p, "os");

  return arch && os && strcmp (arch, husk_image_host_arch ()) == 0 && strcmp (os, "linux") == 0;
}

/* A nested index (multi-platform): the host's manifest, else the first.  */
static int
pick_from_index (struct loader *l, struct blob *index, struct blob **manifest, const char **digest,
                 husk_error_t *err)
{
  husk_json_t *ms = husk_json_get (index->json, "manifests");
  husk_json_t *chosen = NULL;
  cleanup_free char *path = NULL;
  cleanup_free char *what = NULL;

  for (size_t i = 0; i < husk_json_array_len (ms) && chosen == NULL; i++)
    if (platform_matches (husk_json_array_at (ms, i)))
      chosen = husk_json_array_at (ms, i);
  if (chosen == NULL)
    chosen = husk_json_array_at (ms, 0);
  *digest = husk_json_get_string (chosen, "digest");
  if (*digest == NULL || !husk_digest_valid (*digest))
    return husk_make_error (err, 0, "index %s names no valid manifest", index->path);
  path = blob_path_for_digest (*digest);
  what = xasprintf ("manifest %s", *digest);
  return json_blob (l, path, what, manifest, err);
}

static int
match_oci_descriptor (struct loader *l, husk_json_t *desc, husk_error_t *err)
{
  const char *digest = husk_json_get_string (desc, "digest");
  const char *name = oci_descriptor_name (desc);
  cleanup_free char *path = NULL;
  cleanup_free char *what = NULL;
  cleanup_free struct blob **lb = NULL;
  struct blob *manifest, *config;
  struct loaded_image *im;
  husk_json_t *layers;
  const char *cfgdigest;
  size_t n;
  int ret;

  if (digest == NULL || !husk_digest_valid (digest))
    return husk_make_error (err, 0, "index.json has a descriptor without a valid sha256 digest");
  path = blob_path_for_digest (digest);
  what = xasprintf ("manifest %s", digest);
  ret = json_blob (l, path, what, &manifest, err);
  if (ret < 0)
    return ret;
  if (husk_json_get (manifest->json, "manifests"))
    {
      ret = pick_from_index (l, manifest, &manifest, &digest, err);
      if (ret < 0)
        return ret;
    }

  cfgdigest = husk_json_get_string (husk_json_get (manifest->json, "config"), "digest");
  if (cfgdigest == NULL || !husk_digest_valid (cfgdigest))
    return husk_make_error (err, 0, "manifest %s has no valid config digest", digest);
  free (path);
  free (what);
  path = blob_path_for_digest (cfgdigest);
  what = xasprintf ("config %s", cfgdigest);
  ret = json_blob (l, path, what, &config, err);
  if (ret < 0)
    return ret;

  layers = husk_json_get (manifest->json, "layers");
  n = husk_json_array_len (layers);
  lb = xzalloc ((n ? n : 1) * sizeof (*lb));
  for (size_t i = 0; i < n; i++)
    {
      const char *ld = husk_json_get_string (husk_json_array_at (layers, i), "digest");
      cleanup_free char *lpath = NULL;
      cleanup_free char *lwhat = NULL;
      if (ld == NULL || !husk_digest_valid (ld))
        return husk_make_error (err, 0, "manifest %s has a layer without a valid sha256 digest", digest);
      lpath = blob_path_for_digest (ld);
      lwhat = xasprintf ("layer %s", ld);
      ret = layer_blob (l, lpath, lwhat, &lb[i], err);
      if (ret < 0)
        return ret;
    }

  im = find_image (l, config, digest);
  if (im == NULL)
    {
      ret = add_image (l, config, lb, n, manifest, digest, err);
      if (ret < 0)
        return ret;
      im = &l->images[l->n_images - 1];
    }
  return name ? add_name (im, name, err) : 0;
}

static int
match_oci (struct loader *l, struct blob *index, husk_error_t *err)
{
  husk_json_t *ms = husk_json_get (index->json, "manifests");
  size_t n = husk_json_array_len (ms);
  int ret;

  if (n == 0)
    return husk_make_error (err, 0, "index.json in the archive lists no image");
  for (size_t i = 0; i < n; i++)
    {
      ret = match_oci_descriptor (l, husk_json_array_at (ms, i), err);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* ---- committing ---- */

static int
commit_images (struct loader *l, husk_error_t *err)
{
  int ret;

  ret = husk_store_lock (l->s, true, err);
  if (ret < 0)
    return ret;
  for (size_t i = 0; i < l->n_images; i++)
    {
      struct loaded_image *im = &l->images[i];
      cleanup_free husk_layer_stage_t **stages
          = xzalloc ((im->n_layers ? im->n_layers : 1) * sizeof (*stages));
      struct husk_image_commit c = {
        .config = im->config,
        .config_len = im->config_len,
        .manifest = im->manifest,
        .manifest_len = im->manifest_len,
        .manifest_digest = im->manifest_digest,
        .names = im->names,
        .stages = stages,
      };

      /* A stage is moved into the store once; later images find the layer
         already stored.  */
      for (size_t j = 0; j < im->n_layers; j++)
        if (!im->layers[j]->committed)
          {
            bool dup = false;
            for (size_t k = 0; k < c.n_stages; k++)
              dup = dup || stages[k] == im->layers[j]->stage;
            if (!dup)
              stages[c.n_stages++] = im->layers[j]->stage;
          }
      ret = husk_store_image_commit (l->s, &c, &im->id, err);
      if (ret < 0)
        {
          husk_store_unlock (l->s);
          return ret;
        }
      for (size_t j = 0; j < im->n_layers; j++)
        im->layers[j]->committed = true;
    }
  husk_store_unlock (l->s);
  return 0;
}

int
husk_archive_load (husk_store_t *s, int in_fd, husk_archive_loaded_fn loaded, void *ctx, husk_error_t *err)
{
  cleanup_archive_read struct archive *a = archive_read_new ();
  struct loader l = { .s = s, .a = a };
  struct blob *manifest, *index;
  int ret;

  if (a == NULL)
    husk_oom ();
  l.opts.userxattr = husk_store_rootless (s);
  l.opts.no_chown = !husk_userns_can_chown ();

  ret = read_archive (&l, in_fd, err);
  if (ret < 0)
    goto out;

  manifest = find_blob (&l, "manifest.json");
  index = find_blob (&l, "index.json");
  if (manifest && manifest->json)
    ret = match_docker (&l, manifest, err);
  else if (index && index->json)
    ret = match_oci (&l, index, err);
  else
    ret = husk_make_error (err, 0,
                           "the archive has no manifest.json or index.json: it is not a docker-archive or "
                           "oci-archive");
  if (ret < 0)
    goto out;

  ret = commit_images (&l, err);
  if (ret < 0)
    goto out;
  if (loaded)
    for (size_t i = 0; i < l.n_images; i++)
      loaded (ctx, l.images[i].id, l.images[i].names);

out:
  /* Frees every stage; committed ones are already in place.  */
  loader_free (&l);
  return ret;
}
