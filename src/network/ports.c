/* husk: published ports (network.h): Docker's -p syntax, free host
   ports, the "HOST->CONTAINER/PROTO" form ps and port print.  */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "husk/network.h"
#include "husk/util.h"

/* "N" or "A-B" (A <= B), each 1..65535 (0 allowed with allow_zero, single
   only).  */
static bool
parse_range (const char *s, size_t len, bool allow_zero, unsigned *lo, unsigned *hi)
{
  cleanup_free char *copy = xstrndup (s, len);
  char *dash = strchr (copy, '-');
  uint64_t a, b;

  if (dash != NULL)
    *dash = '\0';
  if (!husk_parse_u64 (copy, &a) || a > 65535 || (a == 0 && (!allow_zero || dash != NULL)))
    return false;
  b = a;
  if (dash != NULL && (!husk_parse_u64 (dash + 1, &b) || b > 65535 || b < a))
    return false;
  *lo = (unsigned)a;
  *hi = (unsigned)b;
  return true;
}

static int
parse_proto (const char *spec, const char *proto, char out[4], husk_error_t *err)
{
  if (strcmp (proto, "tcp") == 0 || strcmp (proto, "udp") == 0)
    {
      memcpy (out, proto, 4);
      return 0;
    }
  if (strcmp (proto, "sctp") == 0)
    return husk_make_error (err, 0, "invalid --publish \"%s\": sctp is not supported with slirp4netns", spec);
  return husk_make_error (err, 0, "invalid --publish \"%s\": unknown protocol \"%s\" (use tcp or udp)", spec,
                          proto);
}

int
husk_port_parse (const char *spec, struct husk_port_mapping **out, size_t *n, husk_error_t *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *slash = strrchr (copy, '/');
  char *last_colon, *host_port = NULL, *host_ip = NULL;
  const char *proto = "tcp";
  unsigned clo, chi, hlo = 0, hhi = 0, i;
  struct in_addr addr;

  if (slash != NULL)
    {
      *slash = '\0';
      proto = slash + 1;
    }
  last_colon = strrchr (copy, ':');
  if (last_colon != NULL)
    {
      *last_colon = '\0';
      host_port = strrchr (copy, ':');
      if (host_port != NULL)
        {
          *host_port++ = '\0';
          host_ip = copy;
        }
      else
        host_port = copy;
    }
  {
    const char *cport = last_colon ? last_colon + 1 : copy;
    if (!parse_range (cport, strlen (cport), false, &clo, &chi))
      return husk_make_error (err, 0, "invalid --publish \"%s\": invalid container port \"%s\"", spec, cport);
  }
  if (host_port != NULL && *host_port != '\0'
      && !parse_range (host_port, strlen (host_port), true, &hlo, &hhi))
    return husk_make_error (err, 0, "invalid --publish \"%s\": invalid host port \"%s\"", spec, host_port);
  if (hlo != 0 && hhi - hlo != chi - clo)
    return husk_make_error (
        err, 0, "invalid --publish \"%s\": the host and container port ranges differ in length", spec);
  if (host_ip != NULL && host_ip[0] == '[')
    return husk_make_error (err, 0, "invalid --publish \"%s\": IPv6 host addresses are not supported", spec);
  if (host_ip != NULL && *host_ip != '\0'
      && (strlen (host_ip) >= 16 || inet_pton (AF_INET, host_ip, &addr) != 1))
    return husk_make_error (err, 0, "invalid --publish \"%s\": invalid host IP \"%s\"", spec, host_ip);
  {
    char p[4];
    if (parse_proto (spec, proto, p, err) < 0)
      return -1;
    for (i = 0; i <= chi - clo; i++)
      {
        struct husk_port_mapping *m;

        *out = xrealloc (*out, (*n + 1) * sizeof (**out));
        m = &(*out)[(*n)++];
        memset (m, 0, sizeof (*m));
        if (host_ip != NULL && strcmp (host_ip, "0.0.0.0") != 0)
          snprintf (m->host_ip, sizeof (m->host_ip), "%s", host_ip);
        m->host_port = (uint16_t)(hlo != 0 ? hlo + i : 0);
        m->container_port = (uint16_t)(clo + i);
        memcpy (m->proto, p, 4);
      }
  }
  return 0;
}

int
husk_port_parse_exposed (const char *key, struct husk_port_mapping *m, husk_error_t *err)
{
  const char *slash = strchr (key, '/');
  unsigned lo, hi;

  memset (m, 0, sizeof (*m));
  if (!parse_range (key, slash ? (size_t)(slash - key) : strlen (key), false, &lo, &hi) || lo != hi)
    return husk_make_error (err, 0, "invalid exposed port \"%s\" in the image", key);
  m->container_port = (uint16_t)lo;
  return parse_proto (key, slash ? slash + 1 : "tcp", m->proto, err);
}

int
husk_port_choose (struct husk_port_mapping *m, husk_error_t *err)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  socklen_t len = sizeof (sa);
  cleanup_close int fd = -1;

  if (m->host_ip[0] != '\0')
    inet_pton (AF_INET, m->host_ip, &sa.sin_addr);
  fd = socket (AF_INET, (strcmp (m->proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return husk_make_error (err, errno, "choose a host port for %u/%s: socket", m->container_port, m->proto);
  if (bind (fd, (struct sockaddr *)&sa, sizeof (sa)) < 0
      || getsockname (fd, (struct sockaddr *)&sa, &len) < 0)
    return husk_make_error (err, errno, "choose a host port for %u/%s on %s", m->container_port, m->proto,
                            m->host_ip[0] ? m->host_ip : "0.0.0.0");
  m->host_port = ntohs (sa.sin_port);
  return 0;
}

char *
husk_port_format (const struct husk_port_mapping *m)
{
  return xasprintf ("%s:%u->%u/%s", m->host_ip[0] ? m->host_ip : "0.0.0.0", m->host_port, m->container_port,
                    m->proto);
}
