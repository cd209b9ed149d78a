/* husk: import a rootfs tarball as a single-layer image (docker import,
   podman import).  */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/image.h"
#include "husk/layer.h"
#include "husk/userns.h"
#include "husk/util.h"

/* Names as the user typed them get the local defaults (localhost/, :latest).  */
static int
normalize_names (char *const *names, char ***out, husk_error_t *err)
{
  cleanup_strv char **v = xzalloc (sizeof (char *));
  int ret;

  for (; names && *names; names++)
    {
      cleanup_reference struct husk_reference *r = NULL;
      ret = husk_reference_parse (*names, &r, err);
      if (ret < 0)
        return ret;
      husk_reference_normalize_local (r);
      strv_append_take (&v, husk_reference_string (r));
    }
  *out = steal_pointer (&v);
  return 0;
}

int
husk_image_import (husk_store_t *s, int in_fd, char *const *changes, const char *message, char *const *names,
                   char **id, husk_error_t *err)
{
  cleanup_layer_stage husk_layer_stage_t *stage = NULL;
  cleanup_strv char **full_names = NULL;
  cleanup_json husk_json_t *config = NULL;
  cleanup_free char *config_data = NULL;
  struct husk_layer_apply_opts opts = { 0 };
  struct husk_layer_apply_result res = { 0 };
  size_t config_len;
  int fd = in_fd;
  int ret;

  /* Check names and changes before reading a possibly large stream.  */
  ret = normalize_names (names, &full_names, err);
  if (ret < 0)
    return ret;
  {
    cleanup_json husk_json_t *probe = husk_image_config_new ((char *[]){ NULL }, 0, NULL, NULL);
    for (char *const *c = changes; c && *c; c++)
      {
        ret = husk_image_config_apply_change (probe, *c, err);
        if (ret < 0)
          return ret;
      }
  }

  ret = husk_store_layer_stage_new (s, &stage, err);
  if (ret < 0)
    return ret;
  opts.userxattr = husk_store_rootless (s);
  opts.no_chown = !husk_userns_can_chown ();
  ret = husk_image_layer_apply (stage, husk_read_fd, &fd, &opts, NULL, &res, err);
  if (ret < 0)
    {
      husk_layer_apply_result_clear (&res);
      return husk_error_wrap (err, "importing the tarball");
    }

  {
    char *diff_ids[] = { res.diff_id, NULL };
    config = husk_image_config_new (diff_ids, husk_now_ns (), NULL, message);
  }
  husk_layer_apply_result_clear (&res);
  for (char *const *c = changes; c && *c; c++)
    {
      ret = husk_image_config_apply_change (config, *c, err);
      if (ret < 0)
        return ret;
    }
  config_data = husk_json_serialize (config, false, &config_len);

  {
    husk_layer_stage_t *stages[] = { stage };
    struct husk_image_commit c = {
      .config = config_data,
      .config_len = config_len,
      .names = full_names,
      .stages = stages,
      .n_stages = 1,
    };

    ret = husk_store_lock (s, true, err);
    if (ret < 0)
      return ret;
    ret = husk_store_image_commit (s, &c, id, err);
    husk_store_unlock (s);
  }
  return ret;
}
