/* husk: user-mode networking with slirp4netns (network.h).

   The monitor makes the network namespace (husk_slirp_netns_new) before
   husk_runtime_create, the container joins it, and husk_slirp_start runs
   before husk_runtime_start: the command has not run yet.  slirp4netns
   is started as

     slirp4netns --configure --mtu=65520 [--disable-host-loopback]
                 [--cidr=C] --api-socket SOCK --exit-fd=E --ready-fd=R
                 --netns-type=path /proc/self/fd/N tap0

   (N: the namespace fd of husk_slirp_netns_new, inherited)
   and husk waits for the byte on R (the tap is up, addresses and routes
   set), then asks for each published port over the API socket.  The
   socket path is <rundir>/slirp.sock, or, when that is longer than a unix
   socket address allows, /proc/self/fd/N/slirp.sock through a directory
   fd slirp4netns inherits (the same trick the attach socket uses).

   slirp4netns's own output goes to <rundir>/slirp.log: its last line is
   the reason shown when it fails to start.  */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "husk/fs.h"
#include "husk/json.h"
#include "husk/network.h"
#include "husk/util.h"

#define SLIRP_DEFAULT_MTU 65520
#define SLIRP_MAX_MTU     65521
#define READY_TIMEOUT_MS  10000
#define API_TIMEOUT_MS    5000
#define STOP_WAIT_MS      1000

bool
husk_network_is_slirp (const char *mode)
{
  return mode != NULL && (strcmp (mode, "slirp4netns") == 0 || husk_has_prefix (mode, "slirp4netns:"));
}

/* "A.B.C.D/N" with N in 1..25 (room for .100); normalized to the network
   address.  */
static bool
parse_cidr (const char *s, char out[20])
{
  cleanup_free char *copy = xstrdup (s);
  char *slash = strchr (copy, '/');
  struct in_addr a;
  uint64_t bits;
  uint32_t mask, net;

  if (slash == NULL)
    return false;
  *slash = '\0';
  if (inet_pton (AF_INET, copy, &a) != 1 || !husk_parse_u64 (slash + 1, &bits) || bits < 1 || bits > 25)
    return false;
  mask = (uint32_t)(0xffffffffu << (32 - bits));
  net = ntohl (a.s_addr) & mask;
  snprintf (out, 20, "%u.%u.%u.%u/%u", net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255,
            (unsigned)bits);
  return true;
}

int
husk_slirp_parse_mode (const char *mode, struct husk_slirp_config *c, husk_error_t *err)
{
  cleanup_free char *copy = NULL;
  char *opt, *save = NULL;

  c->allow_host_loopback = false;
  c->mtu = 0;
  c->cidr[0] = '\0';
  if (!husk_network_is_slirp (mode))
    return husk_make_error (err, 0, "invalid network mode \"%s\"", mode);
  if (mode[11] == '\0')
    return 0;
  copy = xstrdup (mode + 12);
  for (opt = strtok_r (copy, ",", &save); opt; opt = strtok_r (NULL, ",", &save))
    {
      char *eq = strchr (opt, '=');
      const char *v = eq ? eq + 1 : "";

      if (eq != NULL)
        *eq = '\0';
      if (strcmp (opt, "allow_host_loopback") == 0 && (strcmp (v, "true") == 0 || strcmp (v, "false") == 0))
        c->allow_host_loopback = strcmp (v, "true") == 0;
      else if (strcmp (opt, "mtu") == 0)
        {
          uint64_t mtu;
          if (!husk_parse_u64 (v, &mtu) || mtu < 68 || mtu > SLIRP_MAX_MTU)
            return husk_make_error (err, 0, "invalid slirp4netns option mtu=%s: a number from 68 to %d", v,
                                    SLIRP_MAX_MTU);
          c->mtu = (unsigned)mtu;
        }
      else if (strcmp (opt, "cidr") == 0)
        {
          if (!parse_cidr (v, c->cidr))
            return husk_make_error (
                err, 0, "invalid slirp4netns option cidr=%s: an IPv4 network A.B.C.D/N, N at most 25", v);
        }
      else if (strcmp (opt, "port_handler") == 0 && strcmp (v, "slirp4netns") == 0)
        ;
      else if (strcmp (opt, "allow_host_loopback") == 0)
        return husk_make_error (err, 0,
                                "invalid slirp4netns option allow_host_loopback=%s: use true or false", v);
      else
        return husk_make_error (
            err, 0, "unsupported slirp4netns option \"%s%s%s\": use allow_host_loopback, mtu or cidr", opt,
            eq ? "=" : "", v);
    }
  return 0;
}

void
husk_slirp_addresses (const struct husk_slirp_config *c, char guest[16], char dns[16])
{
  struct in_addr a = { 0 };
  char net[20];
  char *slash;
  uint32_t base;

  snprintf (net, sizeof (net), "%s", c->cidr[0] ? c->cidr : "10.0.2.0/24");
  slash = strchr (net, '/');
  if (slash != NULL)
    *slash = '\0';
  inet_pton (AF_INET, net, &a);
  base = ntohl (a.s_addr);
  snprintf (guest, 16, "%u.%u.%u.%u", base >> 24, (base >> 16) & 255, (base >> 8) & 255, (base & 255) + 100);
  snprintf (dns, 16, "%u.%u.%u.%u", base >> 24, (base >> 16) & 255, (base >> 8) & 255, (base & 255) + 3);
}

/* slirp4netns on PATH, or where Podman's packages put their helpers.  */
static char *
find_slirp4netns (void)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy = xstrdup (path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *dir, *save = NULL;

  for (dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      char *p = xasprintf ("%s/slirp4netns", dir);
      if (access (p, X_OK) == 0)
        return p;
      free (p);
    }
  if (access ("/usr/lib/podman/slirp4netns", X_OK) == 0)
    return xstrdup ("/usr/lib/podman/slirp4netns");
  return NULL;
}

/* The API socket's path as a process holding dirfd sees it.  */
static char *
socket_path (const char *rundir, int dirfd)
{
  char *p = xasprintf ("%s/slirp.sock", rundir);

  if (strlen (p) < sizeof (((struct sockaddr_un *)0)->sun_path))
    return p;
  free (p);
  return xasprintf ("/proc/self/fd/%d/slirp.sock", dirfd);
}

/* In the forked child: exec slirp4netns; never returns.  */
__attribute__ ((noreturn)) static void
exec_slirp (const char *bin, char **argv, pid_t parent, int logfd, const int *keep, size_t n_keep)
{
  sigset_t none;
  size_t i;

  /* With the monitor, even when it is killed with SIGKILL (the exit fd
     says so too; this also covers a slirp4netns that stopped polling).  */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid () != parent)
    _exit (1);
  /* The monitor blocks the signals it reads from a signalfd: an exec'd
     program would inherit that mask.  */
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  for (i = 0; i < n_keep; i++)
    fcntl (keep[i], F_SETFD, 0);
  if (logfd >= 0)
    {
      dup2 (logfd, 1);
      dup2 (logfd, 2);
    }
  execv (bin, argv);
  dprintf (2, "exec %s: %s\n", bin, strerror (errno));
  _exit (127);
}

/* The last non-empty line of <rundir>/slirp.log, or NULL.  */
static char *
log_tail (int dirfd)
{
  husk_error_t ignored = NULL;
  cleanup_free char *data = NULL;
  size_t len = 0;
  char *end, *start;

  if (husk_read_file_at (dirfd, "slirp.log", 1 << 16, &data, &len, &ignored) < 0)
    {
      husk_error_release (&ignored);
      return NULL;
    }
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
    len--;
  if (len == 0)
    return NULL;
  data[len] = '\0';
  end = data + len;
  start = memrchr (data, '\n', (size_t)(end - data));
  return xstrdup (start ? start + 1 : data);
}

static int64_t
now_ms (void)
{
  return husk_now_ns () / 1000000;
}

/* Wait for the ready byte.  0 when ready; negative with the reason.  */
static int
wait_ready (int ready_fd, pid_t pid, int dirfd, husk_error_t *err)
{
  int64_t deadline = now_ms () + READY_TIMEOUT_MS;
  cleanup_free char *why = NULL;
  int status = 0;
  char c;

  for (;;)
    {
      struct pollfd p = { .fd = ready_fd, .events = POLLIN };
      int64_t left = deadline - now_ms ();
      int r;

      if (left <= 0)
        return husk_make_error (err, ETIMEDOUT, "slirp4netns did not configure the network within %d s",
                                READY_TIMEOUT_MS / 1000);
      r = poll (&p, 1, (int)left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return husk_make_error (err, errno, "wait for slirp4netns");
      if (r == 0)
        continue;
      r = (int)read (ready_fd, &c, 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 1)
        return 0;
      break;
    }
  /* EOF: it exited before it was ready.  */
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  why = log_tail (dirfd);
  return husk_make_error (err, 0, "slirp4netns failed to set up the network (%s %d)%s%s",
                          WIFSIGNALED (status) ? "signal" : "exit status",
                          WIFSIGNALED (status) ? WTERMSIG (status) : WEXITSTATUS (status), why ? ": " : "",
                          why ? why : "");
}

/* One request on a fresh connection (slirp4netns answers one request per
   connection and then closes it); *reply malloc'd.  */
static int
api_call (const char *path, const char *request, char **reply, husk_error_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  cleanup_close int fd = -1;
  struct husk_buf buf = { 0 };
  int64_t deadline = now_ms () + API_TIMEOUT_MS;
  size_t len = strlen (request), off = 0;

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return husk_make_error (err, errno, "slirp4netns API: socket");
  memcpy (addr.sun_path, path, strlen (path) + 1);
  if (connect (fd, (struct sockaddr *)&addr, sizeof (addr)) < 0)
    return husk_make_error (err, errno, "connect to the slirp4netns API socket");
  while (off < len)
    {
      ssize_t n = send (fd, request + off, len - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return husk_make_error (err, errno, "slirp4netns API: send");
      off += (size_t)n;
    }
  shutdown (fd, SHUT_WR);
  for (;;)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      char chunk[1024];
      int64_t left = deadline - now_ms ();
      ssize_t n;

      if (left <= 0 || poll (&p, 1, (int)left) == 0)
        {
          husk_buf_free (&buf);
          return husk_make_error (err, ETIMEDOUT, "slirp4netns API: no answer");
        }
      n = read (fd, chunk, sizeof (chunk));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      husk_buf_append (&buf, chunk, (size_t)n);
    }
  husk_buf_append (&buf, "", 1);
  *reply = husk_buf_steal (&buf, NULL);
  return 0;
}

/* Why a forward could not listen: bind the same address ourselves.  */
static int
port_error (const struct husk_port_mapping *m, const char *desc, husk_error_t *err)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (m->host_port) };
  cleanup_free char *what = husk_port_format (m);
  const char *ip = m->host_ip[0] ? m->host_ip : "0.0.0.0";
  cleanup_close int fd = -1;
  int one = 1;

  inet_pton (AF_INET, ip, &sa.sin_addr);
  fd = socket (AF_INET, (strcmp (m->proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    {
      if (strcmp (m->proto, "tcp") == 0)
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
      if (bind (fd, (struct sockaddr *)&sa, sizeof (sa)) < 0)
        return husk_make_error (err, errno, "cannot publish port %s: bind %s %s:%u", what, m->proto, ip,
                                m->host_port);
    }
  return husk_make_error (err, 0, "cannot publish port %s: slirp4netns: %s", what, desc ? desc : "failed");
}

static int
add_port (const char *path, const struct husk_port_mapping *m, husk_error_t *err)
{
  cleanup_free char *req = NULL, *reply = NULL;
  cleanup_json husk_json_t *j = NULL;
  husk_error_t ignored = NULL;
  const husk_json_t *e;

  req = xasprintf ("{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"%s\",\"host_addr\":\"%s\","
                   "\"host_port\":%u,\"guest_port\":%u}}",
                   m->proto, m->host_ip[0] ? m->host_ip : "0.0.0.0", m->host_port, m->container_port);
  if (api_call (path, req, &reply, err) < 0)
    return -1;
  j = husk_json_parse (reply, strlen (reply), &ignored);
  if (j == NULL)
    {
      husk_error_release (&ignored);
      return port_error (m, reply, err);
    }
  e = husk_json_get (j, "error");
  if (e != NULL || husk_json_get (j, "return") == NULL)
    return port_error (m, husk_json_get_string (e, "desc"), err);
  return 0;
}

static int
loopback_up (void)
{
  struct ifreq ifr;
  cleanup_close int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset (&ifr, 0, sizeof (ifr));
  memcpy (ifr.ifr_name, "lo", 3);
  if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl (fd, SIOCSIFFLAGS, &ifr);
}

/* In the helper child: a new network namespace, its fd sent back.  */
__attribute__ ((noreturn)) static void
netns_helper (int sock)
{
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { 0 };
  struct iovec iov;
  struct cmsghdr *cm;
  char status = 0;
  int fd = -1;

  if (unshare (CLONE_NEWNET) < 0)
    status = (char)errno;
  else if (loopback_up () < 0)
    status = (char)errno;
  else if ((fd = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
    status = (char)errno;
  iov.iov_base = &status;
  iov.iov_len = 1;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0)
    {
      memset (&u, 0, sizeof (u));
      msg.msg_control = u.buf;
      msg.msg_controllen = sizeof (u.buf);
      cm = CMSG_FIRSTHDR (&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (cm), &fd, sizeof (int));
    }
  sendmsg (sock, &msg, MSG_NOSIGNAL);
  _exit (0);
}

int
husk_slirp_netns_new (struct husk_slirp *s, struct husk_ns *ns, husk_error_t *err)
{
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { 0 };
  struct iovec iov;
  struct cmsghdr *cm;
  char status = 0;
  int sv[2], fd = -1;
  ssize_t n;
  pid_t child;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return husk_make_error (err, errno, "socketpair");
  child = fork ();
  if (child == 0)
    {
      close (sv[0]);
      netns_helper (sv[1]);
    }
  close (sv[1]);
  if (child < 0)
    {
      close (sv[0]);
      return husk_make_error (err, errno, "fork");
    }
  iov.iov_base = &status;
  iov.iov_len = 1;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof (u.buf);
  do
    n = recvmsg (sv[0], &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  close (sv[0]);
  while (waitpid (child, NULL, 0) < 0 && errno == EINTR)
    ;
  cm = n > 0 ? CMSG_FIRSTHDR (&msg) : NULL;
  if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
    memcpy (&fd, CMSG_DATA (cm), sizeof (int));
  if (fd < 0)
    return husk_make_error (err, status > 0 ? status : EIO, "create the container's network namespace");
  s->netns_fd = fd;
  snprintf (s->netns_path, sizeof (s->netns_path), "/proc/self/fd/%d", fd);
  ns->mode = HUSK_NS_JOIN;
  ns->path = s->netns_path;
  return 0;
}

static void
build_argv (char ***argv, const char *bin, const struct husk_slirp_config *c, const char *sock, int exit_fd,
            int ready_fd, const char *netns_path)
{
  strv_append (argv, bin);
  strv_append (argv, "--configure");
  strv_append_take (argv, xasprintf ("--mtu=%u", c->mtu ? c->mtu : SLIRP_DEFAULT_MTU));
  if (!c->allow_host_loopback)
    strv_append (argv, "--disable-host-loopback");
  if (c->cidr[0])
    strv_append_take (argv, xasprintf ("--cidr=%s", c->cidr));
  strv_append (argv, "--api-socket");
  strv_append (argv, sock);
  strv_append_take (argv, xasprintf ("--exit-fd=%d", exit_fd));
  strv_append_take (argv, xasprintf ("--ready-fd=%d", ready_fd));
  strv_append (argv, "--netns-type=path");
  strv_append (argv, netns_path);
  strv_append (argv, "tap0");
}

static void stop_process (struct husk_slirp *s);

int
husk_slirp_start (const struct husk_slirp_config *c, struct husk_slirp *out, husk_error_t *err)
{
  cleanup_free char *bin = find_slirp4netns ();
  cleanup_free char *sock = NULL;
  cleanup_strv char **argv = xzalloc (sizeof (char *));
  cleanup_close int dirfd = -1;
  cleanup_close int logfd = -1;
  cleanup_close int ready_r = -1;
  int exit_p[2], ready_p[2];
  pid_t child, self = getpid ();
  size_t i;

  out->pid = 0;
  out->exit_fd = -1;
  if (out->netns_fd < 0)
    return husk_make_error (err, 0, "slirp4netns: no network namespace");
  if (bin == NULL)
    return husk_make_error (err, ENOENT,
                            "slirp4netns not found in $PATH: it is needed for --network slirp4netns and "
                            "--publish (Debian package slirp4netns)");
  dirfd = open (c->rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return husk_make_error (err, errno, "open %s", c->rundir);
  if (unlinkat (dirfd, "slirp.sock", 0) < 0 && errno != ENOENT)
    return husk_make_error (err, errno, "remove the stale %s/slirp.sock", c->rundir);
  {
    cleanup_close int wdir = open (c->rundir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (wdir >= 0)
      logfd = openat (wdir, "slirp.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  }
  sock = socket_path (c->rundir, dirfd);
  if (pipe2 (exit_p, O_CLOEXEC) < 0)
    return husk_make_error (err, errno, "pipe");
  if (pipe2 (ready_p, O_CLOEXEC) < 0)
    {
      close (exit_p[0]);
      close (exit_p[1]);
      return husk_make_error (err, errno, "pipe");
    }
  ready_r = ready_p[0];
  build_argv (&argv, bin, c, sock, exit_p[0], ready_p[1], out->netns_path);

  child = fork ();
  if (child == 0)
    {
      int keep[4] = { exit_p[0], ready_p[1], dirfd, out->netns_fd };
      exec_slirp (bin, argv, self, logfd, keep, 4);
    }
  close (exit_p[0]);
  close (ready_p[1]);
  if (child < 0)
    {
      close (exit_p[1]);
      return husk_make_error (err, errno, "fork slirp4netns");
    }
  out->pid = child;
  out->exit_fd = exit_p[1];

  if (wait_ready (ready_r, child, dirfd, err) < 0)
    {
      out->pid = 0; /* reaped */
      close (out->exit_fd);
      out->exit_fd = -1;
      return -1;
    }
  {
    /* Our own view of the socket: the same dirfd trick works here.  */
    cleanup_free char *path = socket_path (c->rundir, dirfd);
    for (i = 0; i < c->n_ports; i++)
      if (add_port (path, &c->ports[i], err) < 0)
        {
          stop_process (out);
          return -1;
        }
  }
  return 0;
}

static void
stop_process (struct husk_slirp *s)
{
  int64_t deadline = now_ms () + STOP_WAIT_MS;

  if (s->exit_fd >= 0)
    close (s->exit_fd);
  s->exit_fd = -1;
  if (s->pid <= 0)
    return;
  for (;;)
    {
      pid_t r = waitpid (s->pid, NULL, WNOHANG);
      struct timespec ts = { 0, 5 * 1000000 };

      if (r == s->pid || (r < 0 && errno != EINTR))
        break; /* gone (ECHILD: someone reaped it) */
      if (now_ms () >= deadline)
        {
          kill (s->pid, SIGKILL);
          while (waitpid (s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
          break;
        }
      nanosleep (&ts, NULL);
    }
  s->pid = 0;
}

void
husk_slirp_stop (struct husk_slirp *s)
{
  stop_process (s);
  if (s->netns_fd >= 0)
    close (s->netns_fd);
  s->netns_fd = -1;
}
