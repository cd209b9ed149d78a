/* husk: writing docker-archive and oci-archive tarballs.

   The store keeps extracted layers, not their original tar bytes.  A layer
   that was loaded or imported kept a tar-split (tarsplit.h) and is rebuilt
   byte for byte, so the image keeps its id.  Others (pulled layers, or a
   tar-split that no longer matches) are regenerated with husk_layer_diff;
   that tar may differ from the original, so the diffIDs recorded in the
   archive are those of the tars actually written, and a config whose
   rootfs.diff_ids differ is rewritten to match: the archive then loads
   anywhere, at the cost of a new image id.

   Each layer tar goes to an unlinked temp file first (tar headers need the
   size up front) and is then copied into the outer tar, so memory stays
   flat whatever the layer size.  A layer shared by several images is
   written once.  */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "husk/digest.h"
#include "husk/fs.h"
#include "husk/image.h"
#include "husk/layer.h"
#include "husk/util.h"
#include "tarsplit.h"

#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX_TYPE    "application/vnd.oci.image.index.v1+json"
#define OCI_CONFIG_TYPE   "application/vnd.oci.image.config.v1+json"
#define OCI_LAYER_TYPE    "application/vnd.oci.image.layer.v1.tar"
#define REF_NAME_ANNOT    "org.opencontainers.image.ref.name"
#define COPY_CHUNK        (1024 * 1024)

static void
cleanup_archive_writep (struct archive **a)
{
  if (*a)
    archive_write_free (*a);
}
#define cleanup_archive_write __attribute__ ((cleanup (cleanup_archive_writep)))

/* A stored layer and the tar we wrote for it.  */
struct saved_layer
{
  char *stored_diff_id;
  char *diff_id; /* of the tar written */
  uint64_t size;
};

/* One image to write (entries with the same id are merged).  */
struct saved_image
{
  char *id;
  char **names;
  char **layers;      /* stored diffIDs */
  char **written_ids; /* diffIDs of the written tars */
  char *config;       /* bytes written, maybe rewritten */
  size_t config_len;
  char *config_digest;
  char *manifest; /* OCI manifest (oci-archive only) */
  size_t manifest_len;
  char *manifest_digest;
};

struct saver
{
  husk_store_t *s;
  struct archive *a;
  enum husk_archive_format format;
  struct saved_image *images;
  size_t n_images;
  struct saved_layer *layers;
  size_t n_layers;
  struct husk_buf copybuf;
};

static void
saver_free (struct saver *sv)
{
  for (size_t i = 0; i < sv->n_images; i++)
    {
      struct saved_image *im = &sv->images[i];
      free (im->id);
      strv_free (im->names);
      strv_free (im->layers);
      strv_free (im->written_ids);
      free (im->config);
      free (im->config_digest);
      free (im->manifest);
      free (im->manifest_digest);
    }
  free (sv->images);
  for (size_t i = 0; i < sv->n_layers; i++)
    {
      free (sv->layers[i].stored_diff_id);
      free (sv->layers[i].diff_id);
    }
  free (sv->layers);
  husk_buf_free (&sv->copybuf);
}

static int
archive_fail (struct archive *a, const char *what, husk_error_t *err)
{
  int e = archive_errno (a);
  const char *msg = archive_error_string (a);

  return husk_make_error (err, e > 0 ? e : 0, "writing archive: %s%s%s", what, msg && e <= 0 ? ": " : "",
                          msg && e <= 0 ? msg : "");
}

static struct archive_entry *
new_entry (const char *path, mode_t type, mode_t perm, int64_t size)
{
  struct archive_entry *e = archive_entry_new ();

  if (e == NULL)
    husk_oom ();
  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_size (e, size);
  archive_entry_set_mtime (e, 0, 0);
  return e;
}

static int
write_dir (struct archive *a, const char *path, husk_error_t *err)
{
  struct archive_entry *e = new_entry (path, AE_IFDIR, 0755, 0);
  int r = archive_write_header (a, e);

  archive_entry_free (e);
  if (r != ARCHIVE_OK)
    return archive_fail (a, path, err);
  return 0;
}

static int
write_file (struct archive *a, const char *path, const void *data, size_t len, husk_error_t *err)
{
  struct archive_entry *e = new_entry (path, AE_IFREG, 0644, (int64_t)len);
  int r = archive_write_header (a, e);

  archive_entry_free (e);
  if (r != ARCHIVE_OK)
    return archive_fail (a, path, err);
  if (len > 0 && archive_write_data (a, data, len) != (la_ssize_t)len)
    return archive_fail (a, path, err);
  return 0;
}

/* Copy exactly size bytes of fd into the current archive entry.  */
static int
copy_fd_to_archive (struct saver *sv, int fd, uint64_t size, const char *path, husk_error_t *err)
{
  uint64_t left = size;

  if (sv->copybuf.cap < COPY_CHUNK)
    {
      sv->copybuf.data = xrealloc (sv->copybuf.data, COPY_CHUNK);
      sv->copybuf.cap = COPY_CHUNK;
    }
  while (left > 0)
    {
      size_t want = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;
      ssize_t n = read (fd, sv->copybuf.data, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return husk_make_error (err, errno, "reading the temporary copy of `%s`", path);
      if (n == 0)
        return husk_make_error (err, 0, "temporary copy of `%s` is shorter than expected", path);
      if (archive_write_data (sv->a, sv->copybuf.data, n) != n)
        return archive_fail (sv->a, path, err);
      left -= n;
    }
  return 0;
}

static const char *
layer_entry_dir (enum husk_archive_format f)
{
  return f == HUSK_ARCHIVE_DOCKER ? "" : "blobs/sha256/";
}

/* Regenerate a stored layer into the archive (once); returns its index.  */
static int
save_layer (struct saver *sv, const char *stored_diff_id, size_t *index, husk_error_t *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *entry = NULL;
  cleanup_close int dirfd = -1;
  cleanup_close int tmpfd = -1;
  struct husk_layer_diff_result res = { 0 };
  struct saved_layer *l;
  int ret;

  for (size_t i = 0; i < sv->n_layers; i++)
    if (strcmp (sv->layers[i].stored_diff_id, stored_diff_id) == 0)
      {
        *index = i;
        return 0;
      }

  path = husk_store_layer_path (sv->s, stored_diff_id);
  dirfd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return husk_make_error (err, errno, "opening layer %s", stored_diff_id);
  tmpfd = husk_open_tmpfile (husk_store_tmpdir (sv->s), err);
  if (tmpfd < 0)
    return tmpfd;
  /* The tar the layer came from, when a tar-split was kept; otherwise (or
     if the content changed since) a freshly generated one.  */
  ret = husk_tarsplit_rebuild (path, tmpfd, &res.diff_id, &res.size, err);
  if (ret < 0)
    return husk_error_wrap (err, "exporting layer %s", stored_diff_id);
  if (ret == 0 || strcmp (res.diff_id, stored_diff_id) != 0)
    {
      if (ret > 0)
        husk_debug ("layer %s: tar-split replay gave %s, regenerating", stored_diff_id, res.diff_id);
      husk_layer_diff_result_clear (&res);
      if (ftruncate (tmpfd, 0) < 0 || lseek (tmpfd, 0, SEEK_SET) < 0)
        return husk_make_error (err, errno, "truncating the temporary copy of layer %s", stored_diff_id);
      ret = husk_layer_diff (dirfd, tmpfd, HUSK_COMPRESSION_NONE, &res, err);
      if (ret < 0)
        return husk_error_wrap (err, "exporting layer %s", stored_diff_id);
    }
  if (lseek (tmpfd, 0, SEEK_SET) < 0)
    {
      husk_layer_diff_result_clear (&res);
      return husk_make_error (err, errno, "rewinding the temporary copy of layer %s", stored_diff_id);
    }

  sv->layers = xrealloc (sv->layers, (sv->n_layers + 1) * sizeof (*sv->layers));
  l = &sv->layers[sv->n_layers++];
  l->stored_diff_id = xstrdup (stored_diff_id);
  l->diff_id = steal_pointer (&res.diff_id);
  l->size = res.size;
  husk_layer_diff_result_clear (&res);
  *index = sv->n_layers - 1;

  if (sv->format == HUSK_ARCHIVE_DOCKER)
    {
      cleanup_free char *dir = xasprintf ("%s/", husk_digest_hex (l->diff_id));
      ret = write_dir (sv->a, dir, err);
      if (ret < 0)
        return ret;
      entry = xasprintf ("%s/layer.tar", husk_digest_hex (l->diff_id));
    }
  else
    entry = xasprintf ("%s%s", layer_entry_dir (sv->format), husk_digest_hex (l->diff_id));

  {
    struct archive_entry *e = new_entry (entry, AE_IFREG, 0644, (int64_t)l->size);
    int r = archive_write_header (sv->a, e);
    archive_entry_free (e);
    if (r != ARCHIVE_OK)
      return archive_fail (sv->a, entry, err);
  }
  return copy_fd_to_archive (sv, tmpfd, l->size, entry, err);
}

/* Replace rootfs.diff_ids when the tars written differ from the stored ones.  */
static int
finish_config (struct saved_image *im, char *raw, size_t raw_len, husk_error_t *err)
{
  cleanup_json husk_json_t *cfg = NULL;
  husk_json_t *rootfs;

  if (strv_len (im->layers) == 0)
    goto keep;
  for (size_t i = 0; im->layers[i]; i++)
    if (strcmp (im->layers[i], im->written_ids[i]) != 0)
      goto rewrite;
keep:
  im->config = raw;
  im->config_len = raw_len;
  im->config_digest = husk_digest_buffer (raw, raw_len);
  return 0;

rewrite:
  cfg = husk_json_parse (raw, raw_len, err);
  free (raw);
  if (cfg == NULL)
    return husk_error_wrap (err, "parsing the config of image %s", im->id);
  rootfs = husk_json_get (cfg, "rootfs");
  if (rootfs == NULL || husk_json_type (rootfs) != HUSK_JSON_OBJECT)
    return husk_make_error (err, 0, "config of image %s has no rootfs", im->id);
  husk_json_set (rootfs, "diff_ids", husk_json_from_strv (im->written_ids));
  im->config = husk_json_serialize (cfg, false, &im->config_len);
  im->config_digest = husk_digest_buffer (im->config, im->config_len);
  husk_debug ("image %s: layers regenerated with different digests, config rewritten as %s", im->id,
              im->config_digest);
  return 0;
}

static char *
oci_manifest (struct saver *sv, struct saved_image *im, size_t *len)
{
  cleanup_json husk_json_t *m = husk_json_new_object ();
  husk_json_t *cfg = husk_json_new_object ();
  husk_json_t *layers = husk_json_new_array ();

  husk_json_set_int (m, "schemaVersion", 2);
  husk_json_set_string (m, "mediaType", OCI_MANIFEST_TYPE);
  husk_json_set_string (cfg, "mediaType", OCI_CONFIG_TYPE);
  husk_json_set_string (cfg, "digest", im->config_digest);
  husk_json_set_int (cfg, "size", (int64_t)im->config_len);
  husk_json_set (m, "config", cfg);
  for (size_t i = 0; im->written_ids[i]; i++)
    {
      husk_json_t *d = husk_json_new_object ();
      uint64_t size = 0;
      for (size_t j = 0; j < sv->n_layers; j++)
        if (strcmp (sv->layers[j].diff_id, im->written_ids[i]) == 0)
          size = sv->layers[j].size;
      husk_json_set_string (d, "mediaType", OCI_LAYER_TYPE);
      husk_json_set_string (d, "digest", im->written_ids[i]);
      husk_json_set_int (d, "size", (int64_t)size);
      husk_json_array_append (layers, d);
    }
  husk_json_set (m, "layers", layers);
  return husk_json_serialize (m, false, len);
}

/* Collect the images, merging repeated ids.  */
static int
collect_images (struct saver *sv, const struct husk_archive_image *images, size_t n, husk_error_t *err)
{
  sv->images = xzalloc ((n ? n : 1) * sizeof (*sv->images));
  for (size_t i = 0; i < n; i++)
    {
      struct husk_image_record *rec = NULL;
      struct saved_image *im = NULL;
      int ret;

      ret = husk_store_image_find (sv->s, images[i].id, &rec, err);
      if (ret < 0)
        return ret;
      if (ret == 0)
        return husk_make_error (err, 0, "image %s not found", images[i].id);
      for (size_t j = 0; j < sv->n_images; j++)
        if (strcmp (sv->images[j].id, rec->id) == 0)
          im = &sv->images[j];
      if (im == NULL)
        {
          im = &sv->images[sv->n_images++];
          im->id = xstrdup (rec->id);
          im->names = xzalloc (sizeof (char *));
          im->layers = strv_dup (rec->layers ? rec->layers : (char *[]){ NULL });
        }
      for (char *const *nm = images[i].names; nm && *nm; nm++)
        if (!strv_contains (im->names, *nm))
          strv_append (&im->names, *nm);
    }
  return 0;
}

static int
save_image_blobs (struct saver *sv, struct saved_image *im, husk_error_t *err)
{
  cleanup_free char *raw = NULL;
  size_t raw_len = 0;
  int ret;

  im->written_ids = xzalloc (sizeof (char *));
  for (size_t i = 0; im->layers[i]; i++)
    {
      size_t idx = 0;
      ret = save_layer (sv, im->layers[i], &idx, err);
      if (ret < 0)
        return ret;
      strv_append (&im->written_ids, sv->layers[idx].diff_id);
    }
  ret = husk_store_image_config (sv->s, im->id, &raw, &raw_len, err);
  if (ret < 0)
    return ret;
  return finish_config (im, steal_pointer (&raw), raw_len, err);
}

/* Names usable as "repo:tag" (RepoTags cannot hold digests).  */
static bool
split_tagged (const char *name, char **repo, char **tag)
{
  const char *colon = strrchr (name, ':');
  const char *slash = strrchr (name, '/');

  if (strchr (name, '@') || colon == NULL || (slash && colon < slash))
    return false;
  *repo = xstrndup (name, colon - name);
  *tag = xstrdup (colon + 1);
  return true;
}

static int
write_docker_metadata (struct saver *sv, husk_error_t *err)
{
  cleanup_json husk_json_t *manifest = husk_json_new_array ();
  cleanup_json husk_json_t *repos = husk_json_new_object ();
  cleanup_free char *mdata = NULL;
  cleanup_free char *rdata = NULL;
  size_t mlen, rlen;
  int ret;

  for (size_t i = 0; i < sv->n_images; i++)
    {
      struct saved_image *im = &sv->images[i];
      cleanup_free char *cfgname = xasprintf ("%s.json", husk_digest_hex (im->config_digest));
      husk_json_t *entry = husk_json_new_object ();
      husk_json_t *tags = husk_json_new_array ();
      husk_json_t *layers = husk_json_new_array ();
      size_t nl = strv_len (im->written_ids);

      ret = write_file (sv->a, cfgname, im->config, im->config_len, err);
      if (ret < 0)
        {
          husk_json_free (entry);
          husk_json_free (tags);
          husk_json_free (layers);
          return ret;
        }
      for (char **nm = im->names; *nm; nm++)
        {
          cleanup_free char *repo = NULL;
          cleanup_free char *tag = NULL;
          if (!split_tagged (*nm, &repo, &tag))
            continue;
          husk_json_array_append (tags, husk_json_new_string (*nm));
          if (nl > 0)
            {
              husk_json_t *r = husk_json_get (repos, repo);
              if (r == NULL)
                {
                  husk_json_set (repos, repo, husk_json_new_object ());
                  r = husk_json_get (repos, repo);
                }
              husk_json_set_string (r, tag, husk_digest_hex (im->written_ids[nl - 1]));
            }
        }
      for (size_t j = 0; j < nl; j++)
        {
          cleanup_free char *p = xasprintf ("%s/layer.tar", husk_digest_hex (im->written_ids[j]));
          husk_json_array_append (layers, husk_json_new_string (p));
        }
      husk_json_set_string (entry, "Config", cfgname);
      /* Docker writes null for an untagged image.  */
      if (husk_json_array_len (tags) == 0)
        {
          husk_json_free (tags);
          tags = husk_json_new_null ();
        }
      husk_json_set (entry, "RepoTags", tags);
      husk_json_set (entry, "Layers", layers);
      husk_json_array_append (manifest, entry);
    }

  mdata = husk_json_serialize (manifest, false, &mlen);
  ret = write_file (sv->a, "manifest.json", mdata, mlen, err);
  if (ret < 0)
    return ret;
  if (husk_json_object_len (repos) == 0)
    return 0;
  rdata = husk_json_serialize (repos, false, &rlen);
  return write_file (sv->a, "repositories", rdata, rlen, err);
}

static void
index_add (husk_json_t *manifests, struct saved_image *im, const char *name)
{
  husk_json_t *d = husk_json_new_object ();

  husk_json_set_string (d, "mediaType", OCI_MANIFEST_TYPE);
  husk_json_set_string (d, "digest", im->manifest_digest);
  husk_json_set_int (d, "size", (int64_t)im->manifest_len);
  if (name)
    {
      husk_json_t *ann = husk_json_new_object ();
      husk_json_set_string (ann, REF_NAME_ANNOT, name);
      husk_json_set (d, "annotations", ann);
    }
  husk_json_array_append (manifests, d);
}

static int
write_oci_metadata (struct saver *sv, husk_error_t *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  cleanup_json husk_json_t *index = husk_json_new_object ();
  husk_json_t *manifests = husk_json_new_array ();
  cleanup_free char *idata = NULL;
  size_t ilen;
  int ret;

  husk_json_set_int (index, "schemaVersion", 2);
  husk_json_set_string (index, "mediaType", OCI_INDEX_TYPE);
  husk_json_set (index, "manifests", manifests);

  for (size_t i = 0; i < sv->n_images; i++)
    {
      struct saved_image *im = &sv->images[i];
      cleanup_free char *cfgpath = xasprintf ("blobs/sha256/%s", husk_digest_hex (im->config_digest));
      cleanup_free char *mpath = NULL;
      size_t named = 0;

      ret = write_file (sv->a, cfgpath, im->config, im->config_len, err);
      if (ret < 0)
        return ret;
      im->manifest = oci_manifest (sv, im, &im->manifest_len);
      im->manifest_digest = husk_digest_buffer (im->manifest, im->manifest_len);
      mpath = xasprintf ("blobs/sha256/%s", husk_digest_hex (im->manifest_digest));
      ret = write_file (sv->a, mpath, im->manifest, im->manifest_len, err);
      if (ret < 0)
        return ret;
      for (char **nm = im->names; *nm; nm++)
        if (strchr (*nm, '@') == NULL)
          {
            index_add (manifests, im, *nm);
            named++;
          }
      if (named == 0)
        index_add (manifests, im, NULL);
    }

  ret = write_file (sv->a, "oci-layout", layout, strlen (layout), err);
  if (ret < 0)
    return ret;
  idata = husk_json_serialize (index, false, &ilen);
  return write_file (sv->a, "index.json", idata, ilen, err);
}

int
husk_archive_save (husk_store_t *s, const struct husk_archive_image *images, size_t n,
                   enum husk_archive_format format, int out_fd, husk_error_t *err)
{
  cleanup_archive_write struct archive *a = NULL;
  struct saver sv = { .s = s, .format = format };
  int ret;

  if (n == 0)
    return husk_make_error (err, 0, "no image to save");

  a = archive_write_new ();
  if (a == NULL)
    husk_oom ();
  if (archive_write_set_format_pax_restricted (a) != ARCHIVE_OK
      || archive_write_set_bytes_in_last_block (a, 1) != ARCHIVE_OK
      || archive_write_open_fd (a, out_fd) != ARCHIVE_OK)
    return archive_fail (a, "opening the output", err);
  sv.a = a;

  ret = collect_images (&sv, images, n, err);
  if (ret < 0)
    goto out;
  if (format == HUSK_ARCHIVE_OCI)
    {
      ret = write_dir (a, "blobs/", err);
      if (ret == 0)
        ret = write_dir (a, "blobs/sha256/", err);
      if (ret < 0)
        goto out;
    }
  for (size_t i = 0; i < sv.n_images; i++)
    {
      ret = save_image_blobs (&sv, &sv.images[i], err);
      if (ret < 0)
        goto out;
    }
  ret = format == HUSK_ARCHIVE_DOCKER ? write_docker_metadata (&sv, err) : write_oci_metadata (&sv, err);
  if (ret < 0)
    goto out;
  if (archive_write_close (a) != ARCHIVE_OK)
    ret = archive_fail (a, "finishing the output", err);

out:
  saver_free (&sv);
  return ret;
}
