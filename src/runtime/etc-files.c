/* husk: what a container's /etc/hosts and /etc/resolv.conf start from,
   shared by `husk run` and the RUN steps of `husk build` (each writes the
   files under its own directory and adds its own names).  */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "husk/fs.h"
#include "husk/runtime.h"
#include "husk/util.h"

/* A host file that may be missing (or too large to be a real one): NULL.  */
static char *
read_optional (const char *path, size_t *len)
{
  husk_error_t ignored = NULL;
  char *data = NULL;

  if (husk_read_file_at (AT_FDCWD, path, 1 << 20, &data, len, &ignored) < 0)
    {
      husk_error_release (&ignored);
      *len = 0;
      return NULL;
    }
  return data;
}

char *
husk_etc_hosts_base (bool host_net, size_t *len)
{
  static const char localhost[]
      = "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
        "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n";
  char *hosts;

  if (!host_net)
    {
      *len = strlen (localhost);
      return xstrdup (localhost);
    }
  hosts = read_optional ("/etc/hosts", len);
  return hosts ? hosts : xstrdup ("");
}

char *
husk_etc_resolv_conf (bool host_net, size_t *len)
{
  char *resolv = NULL;

  if (!host_net)
    resolv = read_optional ("/run/systemd/resolve/resolv.conf", len);
  if (resolv == NULL)
    resolv = read_optional ("/etc/resolv.conf", len);
  if (resolv == NULL)
    resolv = xstrdup ("");
  return resolv;
}
