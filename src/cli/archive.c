/* husk: import, save, load.  */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "husk/userns.h"
#include "husk/util.h"

int
cmd_import (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *src = a->argv[0];
  cleanup_strv char **names = NULL;
  cleanup_strv char **changes = NULL;
  cleanup_free char *id = NULL;
  cleanup_close int fd = -1;
  char *const *ch = cli_strv (a, "change");
  husk_store_t *s;
  size_t i;
  int ret;

  /* Validate everything before reading the tarball.  */
  if (a->argc == 2)
    {
      char *name;
      ret = cli_local_name (a->argv[1], &name, err);
      if (ret < 0)
        return ret;
      strv_append_take (&names, name);
    }
  for (i = 0; ch && ch[i]; i++)
    {
      /* Podman accepts "CMD=x" as "CMD x".  */
      char *c = xstrdup (ch[i]);
      size_t k = strcspn (c, " =");
      if (c[k] == '=')
        c[k] = ' ';
      strv_append_take (&changes, c);
    }
  if (husk_has_prefix (src, "http://") || husk_has_prefix (src, "https://"))
    return husk_make_error (
        err, 0, "import %s: importing from a URL is not supported yet; download the file first", src);
  if (strcmp (src, "-") == 0)
    fd = dup (0);
  else
    fd = open (src, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return husk_make_error (err, errno, "open %s", src);
  ret = husk_userns_enter (err);
  if (ret < 0)
    return ret;
  ret = cli_store (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_image_import (s, fd, changes, cli_string (a, "message"), names, &id, err);
  if (ret < 0)
    return husk_error_wrap (err, "import %s", src);
  husk_store_event (s, "image", "import", id, names ? names[0] : NULL, NULL);
  /* The id alone, with or without -q (which only silences progress), so
     scripts can capture it.  */
  printf ("%s\n", id);
  return 0;
}

static int
parse_archive_format (const char *f, enum husk_archive_format *out, husk_error_t *err)
{
  if (strcmp (f, "docker-archive") == 0)
    *out = HUSK_ARCHIVE_DOCKER;
  else if (strcmp (f, "oci-archive") == 0)
    *out = HUSK_ARCHIVE_OCI;
  else
    return husk_make_error (err, 0, "unsupported format \"%s\": use docker-archive or oci-archive", f);
  return 0;
}

/* Resolve every argument first: the names to record in the archive are
   the ones the user typed; an image named by id is saved with no name.  */
static int
resolve_save_images (husk_store_t *s, struct cli_args *a, struct husk_archive_image *imgs, char ***names,
                     size_t *n, husk_error_t *err)
{
  int i, ret;
  size_t j;

  *n = 0;
  for (i = 0; i < a->argc; i++)
    {
      struct husk_image_record *r;
      const char *arg = a->argv[i];
      const char *key = husk_has_prefix (arg, "sha256:") ? arg + 7 : arg;
      cleanup_free char *name = NULL;

      ret = cli_image_lookup (s, arg, &r, err);
      if (ret < 0)
        return ret;
      if (!husk_has_prefix (r->id, key))
        {
          cleanup_reference struct husk_reference *ref = NULL;
          if (husk_reference_parse (arg, &ref, err) < 0)
            return -1;
          for (j = 0; r->names && r->names[j]; j++)
            if (husk_reference_matches (ref, r->names[j]))
              {
                name = xstrdup (r->names[j]);
                break;
              }
        }
      /* The same image given twice is written once with both names.  */
      for (j = 0; j < *n; j++)
        if (strcmp (imgs[j].id, r->id) == 0)
          break;
      if (j == *n)
        {
          imgs[j].id = r->id;
          (*n)++;
        }
      if (name && !strv_contains (names[j], name))
        strv_append (&names[j], name);
    }
  for (j = 0; j < *n; j++)
    {
      if (names[j] == NULL)
        names[j] = xzalloc (sizeof (char *));
      imgs[j].names = names[j];
    }
  return 0;
}

int
cmd_save (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *output = cli_string (a, "output");
  enum husk_archive_format format = HUSK_ARCHIVE_DOCKER;
  cleanup_free struct husk_archive_image *imgs = NULL;
  cleanup_free char *tmp = NULL;
  char ***names = NULL;
  cleanup_close int fd = -1;
  husk_store_t *s;
  size_t n = 0, i;
  int ret;

  ret = parse_archive_format (cli_string (a, "format"), &format, err);
  if (ret < 0)
    return ret;
  if (output == NULL && isatty (1))
    return husk_make_error (err, 0, "refusing to save to terminal. Use -o flag or redirect");
  ret = cli_store_lock_writer (ctx, false, &s, err);
  if (ret < 0)
    return ret;
  imgs = xzalloc (sizeof (*imgs) * (size_t)(a->argc + 1));
  names = xzalloc (sizeof (char **) * (size_t)(a->argc + 1));
  ret = resolve_save_images (s, a, imgs, names, &n, err);
  if (ret < 0)
    goto out;
  if (output)
    {
      /* Write next to the target and rename, so a failed save never
         leaves a truncated archive under the name asked for.  */
      tmp = xasprintf ("%s.husk-tmp", output);
      fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0)
        {
          ret = husk_make_error (err, errno, "open %s", output);
          goto out;
        }
    }
  else
    fd = dup (1);
  ret = husk_archive_save (s, imgs, n, format, fd, err);
  if (ret >= 0 && output && (fsync (fd) < 0 || rename (tmp, output) < 0))
    ret = husk_make_error (err, errno, "write %s", output);
  if (ret < 0 && tmp)
    unlink (tmp);
out:
  husk_store_unlock (s);
  for (i = 0; i < (size_t)a->argc; i++)
    strv_free (names[i]);
  free (names);
  return ret < 0 ? ret : 0;
}

static void
print_loaded (void *ctx, const char *id, char *const *names)
{
  size_t i;

  /* Podman's name for a load.  */
  husk_store_event (ctx, "image", "loadfromarchive", id, names ? names[0] : NULL, NULL);
  if (names == NULL || names[0] == NULL)
    printf ("Loaded image: sha256:%s\n", id);
  for (i = 0; names && names[i]; i++)
    printf ("Loaded image: %s\n", names[i]);
}

int
cmd_load (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  const char *input = cli_string (a, "input");
  cleanup_close int fd = -1;
  husk_store_t *s;
  int ret;

  if (input == NULL && isatty (0))
    return husk_make_error (err, 0, "cannot read from terminal, use the -i flag or redirect standard input");
  fd = input ? open (input, O_RDONLY | O_CLOEXEC) : dup (0);
  if (fd < 0)
    return husk_make_error (err, errno, "open %s", input);
  ret = husk_userns_enter (err);
  if (ret < 0)
    return ret;
  ret = cli_store (ctx, &s, err);
  if (ret < 0)
    return ret;
  ret = husk_archive_load (s, fd, print_loaded, s, err);
  if (ret < 0)
    return husk_error_wrap (err, "load %s", input ? input : "from standard input");
  return 0;
}
