/* husk: networking beyond the plain namespace modes (DESIGN.md section 1,
   network/): user-mode networking with slirp4netns and published ports.

   none, host, container:ID and ns:PATH are only namespace choices and
   live in husk_run_spec.net_ns; this module adds what needs a helper:

   --network slirp4netns[:OPTIONS]
     The container gets a private network namespace (as "none"); once its
     process exists (husk_runtime_create) the monitor starts slirp4netns on
     it (husk_slirp_start) and waits until the tap device is configured
     before the container's command runs.  Inside: tap0 with 10.0.2.100/24
     (the cidr's .100), gateway 10.0.2.2, DNS forwarder 10.0.2.3, MTU 65520.
     (The namespace is made by husk_slirp_netns_new and joined by the
     container, so slirp4netns can be given it as an fd.)  Options
     (Podman's names): allow_host_loopback=true|false (default
     false: 10.0.2.2 does not reach the host's 127.0.0.1), mtu=N,
     cidr=A.B.C.D/N, port_handler=slirp4netns.

     slirp4netns is the monitor's child and dies with the container: the
     monitor holds the write end of its --exit-fd pipe (close-on-exec, so no
     other process inherits it) and closes it when pid 1 exits; a monitor
     killed with SIGKILL closes it too, and slirp4netns also has SIGKILL as
     its parent-death signal.  Works rootless: there the monitor is uid 0 of
     husk's user namespace, which owns the container's network namespace.

   -p/--publish, -P/--publish-all
     Each mapping becomes a host forward in slirp4netns ("add_hostfwd" on
     its API socket <rundir>/slirp.sock) before the container runs.  A
     listening address that cannot be bound (port in use, a privileged
     port rootless) fails the start with the reason.  */
#ifndef HUSK_NETWORK_H
#define HUSK_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"
#include "husk/runtime.h"

/* One published port.  */
struct husk_port_mapping
{
  char host_ip[16];   /* dotted IPv4, "" for every address (0.0.0.0) */
  uint16_t host_port; /* 0: not chosen yet */
  uint16_t container_port;
  char proto[4]; /* "tcp" or "udp" */
};

/* Docker's -p: [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTO], each port a
   number or a range A-B (a host range as long as the container range, or
   no host port at all).  Appends the mappings (ranges expanded) to *out.
   Bad input: EINVAL with "invalid --publish \"SPEC\": why".  */
int husk_port_parse (const char *spec, struct husk_port_mapping **out, size_t *n, husk_error_t *err);

/* "PORT/PROTO" of an image's ExposedPorts key ("80" alone is tcp).  */
int husk_port_parse_exposed (const char *key, struct husk_port_mapping *m, husk_error_t *err);

/* Choose a free host port for m (host_port 0) on its address: the kernel's
   pick for a socket bound to port 0.  */
int husk_port_choose (struct husk_port_mapping *m, husk_error_t *err);

/* "127.0.0.1:8080->80/tcp" (0.0.0.0 for every address), malloc'd.  */
char *husk_port_format (const struct husk_port_mapping *m);

struct husk_slirp_config
{
  bool allow_host_loopback;
  unsigned mtu;       /* 0: 65520 */
  char cidr[20];      /* "": 10.0.2.0/24 */
  const char *rundir; /* the container's runroot dir: slirp.sock goes there */
  const struct husk_port_mapping *ports;
  size_t n_ports;
};

/* "slirp4netns" or "slirp4netns:opt=v,..." -> *c (rundir and ports are
   left alone).  Unknown options: EINVAL naming the option.  */
int husk_slirp_parse_mode (const char *mode, struct husk_slirp_config *c, husk_error_t *err);
/* True for "slirp4netns" and "slirp4netns:...".  */
bool husk_network_is_slirp (const char *mode);

/* The container's address and its DNS forwarder for the configured cidr
   ("10.0.2.100", "10.0.2.3"), into buffers of 16 bytes.  */
void husk_slirp_addresses (const struct husk_slirp_config *c, char guest[16], char dns[16]);

struct husk_slirp
{
  pid_t pid;           /* slirp4netns, 0: none */
  int exit_fd;         /* write end of its exit pipe (close-on-exec), or -1 */
  int netns_fd;        /* the container's network namespace, or -1 */
  char netns_path[32]; /* "/proc/self/fd/N" of netns_fd */
};

/* Make the container's network namespace (loopback up) and point ns at
   it (HUSK_NS_JOIN, s->netns_path), before husk_runtime_create.  It is
   made by a short-lived child and kept as an fd because a rootless
   caller may not open the prepared container's /proc/<pid>/ns/net: the
   container is not dumpable until it execs, and the kernel then asks for
   CAP_SYS_PTRACE over the host's user namespace.  */
int husk_slirp_netns_new (struct husk_slirp *s, struct husk_ns *ns, husk_error_t *err);

/* Start slirp4netns on s->netns_fd, wait until it configured tap0, and
   add c's ports.  On failure nothing is left running (the namespace fd
   stays for husk_slirp_stop).  slirp4netns is the caller's child.  */
int husk_slirp_start (const struct husk_slirp_config *c, struct husk_slirp *s, husk_error_t *err);

/* Tell slirp4netns to exit and reap it (SIGKILL after a second), close
   the namespace fd.  Safe to call with nothing running, and twice.  The
   caller may have reaped slirp4netns already (a waitpid (-1) loop).  */
void husk_slirp_stop (struct husk_slirp *s);

#endif
