/* husk: users and groups from the container's own /etc/passwd and
   /etc/group, parsed here (DESIGN.md section 7: never NSS inside a
   container root: getpwnam would load the host's modules and read the
   host's files).  The rules are Docker's (runc's libcontainer/user):

   - "name" or "uid", optionally ":group" or ":gid";
   - a numeric uid needs no passwd entry (gid 0, home "/" then);
   - a name must have an entry: "unable to find user NAME: no matching
     entries in passwd file";
   - supplementary groups: every group listing the user's name, unless a
     group was given explicitly after ':', plus --group-add entries.  */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/runtime.h"
#include "husk/util.h"

/* Guard against a hostile image with a huge /etc/passwd.  */
#define ETC_FILE_MAX (16 * 1024 * 1024)

#define ID_MAX 0xfffffffeULL

static bool
parse_id (const char *s, uint32_t *out)
{
  uint64_t v;

  if (!husk_parse_u64 (s, &v) || v > ID_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* The whole file, or NULL (and no error) when it does not exist.  */
static int
read_etc (int rootfd, const char *path, char **out, husk_error_t *err)
{
  cleanup_close int fd = -1;
  husk_error_t e = NULL;

  *out = NULL;
  fd = husk_open_in_root (rootfd, path, O_RDONLY, 0, &e);
  if (fd < 0)
    {
      if (e != NULL && e->status == ENOENT)
        {
          husk_error_release (&e);
          return 0;
        }
      *err = e;
      return -1;
    }
  return husk_read_all_fd (fd, ETC_FILE_MAX, out, NULL, err);
}

/* Split LINE on ':' in place into at most N fields; returns the count.  */
static size_t
split_fields (char *line, char **fields, size_t n)
{
  size_t k = 0;

  fields[k++] = line;
  while (k < n)
    {
      char *c = strchr (fields[k - 1], ':');
      if (c == NULL)
        break;
      *c = '\0';
      fields[k++] = c + 1;
    }
  return k;
}

struct pw_entry
{
  char *name;
  uint32_t uid, gid;
  char *home;
};

/* Find by name (when NAME) or uid.  Returns 1 found, 0 not.  */
static int
passwd_find (char *text, const char *name, uint32_t uid, struct pw_entry *out)
{
  char *save = NULL;
  char *line;

  for (line = strtok_r (text, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save))
    {
      char *f[7] = { NULL, NULL, NULL, NULL, NULL, NULL, NULL };
      uint32_t u, g;

      if (line[0] == '#' || split_fields (line, f, 7) < 4)
        continue;
      if (!parse_id (f[2], &u) || !parse_id (f[3], &g))
        continue;
      if (name != NULL ? strcmp (f[0], name) != 0 : u != uid)
        continue;
      out->name = xstrdup (f[0]);
      out->uid = u;
      out->gid = g;
      out->home = xstrdup (f[5] != NULL && f[5][0] != '\0' ? f[5] : "/");
      return 1;
    }
  return 0;
}

/* Look a group up by name (when NAME) or gid.  With MEMBER, append instead
   the gid of every group listing MEMBER.  */
static int
group_scan (const char *text, const char *name, uint32_t *gid, const char *member, gid_t **gids, size_t *n)
{
  cleanup_free char *copy = xstrdup (text);
  char *save = NULL;
  char *line;

  for (line = strtok_r (copy, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save))
    {
      char *f[4] = { NULL, NULL, NULL, NULL };
      uint32_t g;

      if (line[0] == '#' || split_fields (line, f, 4) < 3 || !parse_id (f[2], &g))
        continue;
      if (member != NULL)
        {
          char *msave = NULL;
          char *m;
          if (f[3] == NULL)
            continue;
          for (m = strtok_r (f[3], ",", &msave); m != NULL; m = strtok_r (NULL, ",", &msave))
            if (strcmp (m, member) == 0)
              {
                *gids = xrealloc (*gids, (*n + 1) * sizeof (**gids));
                (*gids)[(*n)++] = g;
                break;
              }
          continue;
        }
      if (strcmp (f[0], name) == 0)
        {
          *gid = g;
          return 1;
        }
    }
  return 0;
}

static void
add_gid (struct husk_user_ids *out, gid_t g)
{
  size_t i;

  for (i = 0; i < out->n_additional_gids; i++)
    if (out->additional_gids[i] == g)
      return;
  out->additional_gids = xrealloc (out->additional_gids, (out->n_additional_gids + 1) * sizeof (gid_t));
  out->additional_gids[out->n_additional_gids++] = g;
}

static int
resolve_user_part (const char *passwd, const char *user, struct husk_user_ids *out, char **name,
                   husk_error_t *err)
{
  cleanup_free char *text = passwd != NULL ? xstrdup (passwd) : NULL;
  struct pw_entry pw = { 0 };
  uint32_t uid = 0;
  bool numeric = parse_id (user, &uid);

  if (text != NULL && passwd_find (text, numeric ? NULL : user, uid, &pw))
    {
      out->uid = pw.uid;
      out->gid = pw.gid;
      out->home = pw.home;
      *name = pw.name;
      return 0;
    }
  if (!numeric)
    return husk_make_error (err, 0, "unable to find user %s: no matching entries in passwd file", user);
  out->uid = uid;
  out->gid = 0;
  out->home = xstrdup ("/");
  return 0;
}

static int
resolve_group (const char *group_text, const char *group, gid_t *gid, const char *what, husk_error_t *err)
{
  uint32_t g;

  if (parse_id (group, &g))
    {
      *gid = g;
      return 0;
    }
  if (group_text != NULL && group_scan (group_text, group, &g, NULL, NULL, NULL))
    {
      *gid = g;
      return 0;
    }
  return husk_make_error (err, 0, "%s %s: no matching entries in group file", what, group);
}

int
husk_passwd_resolve (int rootfd, const char *user, char *const *group_add, struct husk_user_ids *out,
                     husk_error_t *err)
{
  cleanup_free char *passwd = NULL;
  cleanup_free char *group_text = NULL;
  cleanup_free char *user_part = NULL;
  cleanup_free char *name = NULL;
  const char *colon;
  size_t i;

  memset (out, 0, sizeof (*out));
  if (user == NULL || user[0] == '\0')
    user = "0";
  colon = strchr (user, ':');
  user_part = colon != NULL ? xstrndup (user, (size_t)(colon - user)) : xstrdup (user);
  if (user_part[0] == '\0')
    {
      free (user_part);
      user_part = xstrdup ("0");
    }

  if (read_etc (rootfd, "/etc/passwd", &passwd, err) < 0
      || read_etc (rootfd, "/etc/group", &group_text, err) < 0)
    return husk_error_wrap (err, "resolve user `%s`", user);

  if (resolve_user_part (passwd, user_part, out, &name, err) < 0)
    goto fail;

  if (colon != NULL && colon[1] != '\0')
    {
      if (resolve_group (group_text, colon + 1, &out->gid, "unable to find group", err) < 0)
        goto fail;
    }
  else if (name != NULL && group_text != NULL)
    group_scan (group_text, NULL, NULL, name, &out->additional_gids, &out->n_additional_gids);

  for (i = 0; group_add != NULL && group_add[i] != NULL; i++)
    {
      gid_t g;
      if (resolve_group (group_text, group_add[i], &g, "Unable to find group", err) < 0)
        goto fail;
      add_gid (out, g);
    }
  return 0;

fail:
  husk_user_ids_free (out);
  return -1;
}

void
husk_user_ids_free (struct husk_user_ids *ids)
{
  free (ids->additional_gids);
  free (ids->home);
  memset (ids, 0, sizeof (*ids));
}
