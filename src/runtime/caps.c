/* husk: capabilities of the container process (DESIGN.md section 7).

   The set is a 64-bit mask built from names at parse time; applying it
   uses raw capset/prctl so the child needs nothing but syscalls.  */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "husk/security.h"
#include "husk/util.h"
#include "security-internal.h"

static const char *const cap_names[] = {
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
};
#define N_CAP_NAMES ((int)(sizeof (cap_names) / sizeof (cap_names[0])))

#define BIT(c) (UINT64_C (1) << (c))

uint64_t
husk_caps_default (void)
{
  return BIT (CAP_CHOWN) | BIT (CAP_DAC_OVERRIDE) | BIT (CAP_FOWNER) | BIT (CAP_FSETID) | BIT (CAP_KILL)
         | BIT (CAP_NET_BIND_SERVICE) | BIT (CAP_SETFCAP) | BIT (CAP_SETGID) | BIT (CAP_SETPCAP)
         | BIT (CAP_SETUID) | BIT (CAP_SYS_CHROOT);
}

/* The kernel's last capability; a newer kernel than our name table still
   gets all of its capabilities with --privileged.  */
static int
cap_last_cap (void)
{
  static int last = -1;
  char buf[16];
  ssize_t n;
  int fd;

  if (last >= 0)
    return last;
  last = N_CAP_NAMES - 1;
  fd = open ("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return last;
  n = read (fd, buf, sizeof (buf) - 1);
  close (fd);
  if (n > 0)
    {
      buf[n] = '\0';
      int v = atoi (buf);
      if (v > 0 && v < 64)
        last = v;
    }
  return last;
}

uint64_t
husk_caps_all (void)
{
  int last = cap_last_cap ();
  return last >= 63 ? UINT64_MAX : BIT (last + 1) - 1;
}

const char *
husk_cap_name (int cap)
{
  if (cap < 0 || cap >= N_CAP_NAMES)
    return NULL;
  return cap_names[cap];
}

int
husk_cap_from_name (const char *name, husk_error_t *err)
{
  const char *bare = name;
  int i;

  if (strncasecmp (bare, "CAP_", 4) == 0)
    bare += 4;
  for (i = 0; i < N_CAP_NAMES; i++)
    if (strcasecmp (bare, cap_names[i] + 4) == 0)
      return i;

  /* Report it as Podman does: upper case with the CAP_ prefix.  */
  cleanup_free char *upper = xasprintf ("CAP_%s", bare);
  for (char *p = upper; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  return husk_make_error (err, 0, "unknown capability \"%s\"", upper);
}

static bool
is_all (const char *name)
{
  return strcasecmp (name, "ALL") == 0 || strcasecmp (name, "CAP_ALL") == 0;
}

static bool
strv_has_all (char *const *v)
{
  for (size_t i = 0; v && v[i]; i++)
    if (is_all (v[i]))
      return true;
  return false;
}

static int
caps_from_list (char *const *v, uint64_t *out, husk_error_t *err)
{
  uint64_t mask = 0;

  for (size_t i = 0; v && v[i]; i++)
    {
      int c;

      if (is_all (v[i]))
        continue;
      c = husk_cap_from_name (v[i], err);
      if (c < 0)
        return c;
      mask |= BIT (c);
    }
  *out = mask;
  return 0;
}

void
husk_security_set_privileged (struct husk_security_spec *spec, bool privileged)
{
  spec->privileged = privileged;
  if (privileged)
    {
      spec->caps = husk_caps_all ();
      spec->seccomp = HUSK_SECCOMP_UNCONFINED;
    }
  else
    spec->caps = husk_caps_default ();
}

/* As Podman's MergeCapabilities: ALL in cap_drop keeps only cap_add, ALL in
   cap_add keeps everything but cap_drop, otherwise base + add - drop.  */
int
husk_security_set_caps (struct husk_security_spec *spec, char *const *cap_add, char *const *cap_drop,
                        husk_error_t *err)
{
  uint64_t base = spec->privileged ? husk_caps_all () : husk_caps_default ();
  bool add_all = strv_has_all (cap_add), drop_all = strv_has_all (cap_drop);
  uint64_t add, drop;
  int ret;

  ret = caps_from_list (cap_add, &add, err);
  if (ret < 0)
    return ret;
  ret = caps_from_list (cap_drop, &drop, err);
  if (ret < 0)
    return ret;

  if (add & drop)
    {
      int c = __builtin_ctzll (add & drop);
      return husk_make_error (err, 0, "capability \"%s\" cannot be dropped and added", cap_names[c]);
    }
  if (add_all && drop_all)
    return husk_make_error (err, 0, "adding all caps and removing all caps not allowed");

  if (drop_all)
    spec->caps = add & husk_caps_all ();
  else if (add_all)
    spec->caps = husk_caps_all () & ~drop;
  else
    spec->caps = ((base | add) & ~drop) & husk_caps_all ();
  return 0;
}

/* --- applying --- */

static int
capget_current (uint64_t *permitted, husk_error_t *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];

  memset (data, 0, sizeof (data));
  if (syscall (SYS_capget, &hdr, data) < 0)
    return husk_make_error (err, errno, "capget");
  *permitted = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
  return 0;
}

static int
capset_all (uint64_t effective, uint64_t permitted, uint64_t inheritable, husk_error_t *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];

  data[0].effective = (uint32_t)effective;
  data[1].effective = (uint32_t)(effective >> 32);
  data[0].permitted = (uint32_t)permitted;
  data[1].permitted = (uint32_t)(permitted >> 32);
  data[0].inheritable = (uint32_t)inheritable;
  data[1].inheritable = (uint32_t)(inheritable >> 32);
  if (syscall (SYS_capset, &hdr, data) < 0)
    return husk_make_error (err, errno, "capset");
  return 0;
}

/* Step b of the order in security.h: ambient cleared, bounding reduced.
   Dropping from the bounding set needs CAP_SETPCAP, which we still hold.  */
int
husk_caps_drop_bounding (uint64_t caps, husk_error_t *err)
{
  int last = cap_last_cap ();

  /* EINVAL: a kernel without ambient capabilities has none to clear.  */
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return husk_make_error (err, errno, "clearing the ambient capabilities");

  for (int c = 0; c <= last; c++)
    {
      if (caps & BIT (c))
        continue;
      if (prctl (PR_CAPBSET_READ, c, 0, 0, 0) <= 0)
        continue;
      if (prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
        return husk_make_error (err, errno, "dropping %s from the bounding set",
                                husk_cap_name (c) ? husk_cap_name (c) : "a capability");
    }
  return 0;
}

/* Step e: the final sets.  A capability we do not hold ourselves (this
   sandbox lacks CAP_SYS_RESOURCE, for one) cannot be given: the set is
   reduced to what we have, as --privileged means "everything we can".  */
int
husk_caps_set_final (uint64_t caps, uid_t uid, husk_error_t *err)
{
  uint64_t have = 0, want;
  int ret;

  ret = capget_current (&have, err);
  if (ret < 0)
    return ret;
  want = uid == 0 ? (caps & have) : 0;
  return capset_all (want, want, 0, err);
}
