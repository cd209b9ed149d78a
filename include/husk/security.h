/* husk: the container process's security settings (DESIGN.md section 7):
   capabilities, no_new_privs, rlimits, user and group ids, seccomp.

   Life of a spec:
     1. husk_security_spec_init () gives Podman's defaults: the 11 default
        capabilities, the default seccomp profile, nofile and nproc 1048576.
     2. The CLI feeds it --cap-add/--cap-drop (husk_security_set_caps),
        --privileged, --ulimit (husk_security_add_ulimit) and --security-opt
        (husk_security_parse_opt).  A seccomp=PATH profile is read at that
        moment, so nothing later needs the host path.
     3. runtime-core fills uid, gid and groups from the container's
        /etc/passwd and /etc/group (it must NOT change ids itself).
     4. In the parent, before clone: husk_security_prepare () turns the
        seccomp profile into BPF, from the on-disk cache when possible.  It
        must run before pivot_root because the cache and the profile live on
        the host.
     5. In the child, after pivot_root, mounts, hostname and the cgroup, just
        before execve: husk_security_apply ().

   Order inside husk_security_apply (as runc and crun do, and why):
     a. rlimits (clamped to the current hard limit when raising fails);
     b. clear the ambient set, drop every capability not in the final set
        from the bounding set (needs CAP_SETPCAP, still held);
     c. without no_new_privs, the seccomp filter is loaded HERE: loading a
        filter without no_new_privs needs CAP_SYS_ADMIN in the effective
        set, which steps d and e take away.  The profile must then allow
        setgroups, setresuid, setresgid, prctl, capset and execve (the
        default one does);
     d. PR_SET_KEEPCAPS, setgroups, setresgid, setresuid (keepcaps so the
        final capset can still choose the sets);
     e. capset: effective = permitted = the final set for uid 0, empty for
        any other uid (as Docker); inheritable empty;
     f. PR_SET_NO_NEW_PRIVS when asked;
     g. with no_new_privs, the seccomp filter is loaded LAST, so the fewest
        syscalls run under it before execve.
   The calling process must be uid 0 (in its user namespace) with
   CAP_SETPCAP, CAP_SETUID, CAP_SETGID (and CAP_SYS_ADMIN for a filter
   without no_new_privs): runtime-core's child after clone is.  */
#ifndef HUSK_SECURITY_H
#define HUSK_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"

enum husk_seccomp_mode
{
  HUSK_SECCOMP_DEFAULT = 0, /* the built-in profile (containers-common's) */
  HUSK_SECCOMP_UNCONFINED,  /* no filter */
  HUSK_SECCOMP_PROFILE,     /* a Docker-format JSON profile, in seccomp_profile */
};

struct husk_rlimit
{
  int resource;  /* RLIMIT_NOFILE ... */
  uint64_t soft; /* RLIM_INFINITY for "unlimited" (-1 on the command line) */
  uint64_t hard;
  bool is_default; /* a default, not asked: clamped silently */
};

struct husk_security_spec
{
  /* The final capability set, bit N = capability N.  Bounding set =
     caps; effective/permitted = caps for uid 0, empty otherwise.  */
  uint64_t caps;
  bool privileged; /* all capabilities, seccomp unconfined */
  bool no_new_privs;

  enum husk_seccomp_mode seccomp;
  char *seccomp_profile; /* the JSON text for HUSK_SECCOMP_PROFILE */
  size_t seccomp_profile_len;

  struct husk_rlimit *rlimits; /* at most one per resource */
  size_t n_rlimits;

  /* Filled by runtime-core; husk_security_apply switches to them.  */
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* supplementary groups (malloc'd), may be NULL */
  size_t n_groups;

  /* --security-opt mask=/a:/b and unmask=ALL|/a:/b, for runtime-core's
     masked paths (NULL when not given).  */
  char **mask;
  char **unmask;

  /* Filled by husk_security_prepare: the filter as struct sock_filter
     instructions (8 bytes each); NULL when unconfined.  */
  void *seccomp_bpf;
  size_t seccomp_bpf_len; /* bytes */
};

void husk_security_spec_init (struct husk_security_spec *spec);
void husk_security_spec_release (struct husk_security_spec *spec);

/* --- capabilities (caps.c) --- */

/* The 11 capabilities Podman gives a container.  */
uint64_t husk_caps_default (void);
/* Every capability this kernel knows (0..cap_last_cap).  */
uint64_t husk_caps_all (void);

/* "chown", "CAP_CHOWN", "Cap_Chown" -> CAP_CHOWN.  "ALL" is not a
   capability here.  Error: unknown capability "CAP_FOO".  */
int husk_cap_from_name (const char *name, husk_error_t *err);
/* "CAP_CHOWN"; NULL for an unknown number.  */
const char *husk_cap_name (int cap);

/* Compute spec->caps as Podman does: from the defaults (all of them when
   spec->privileged is set), add cap_add, remove cap_drop; "ALL" in either
   list means every capability.  Both lists may be NULL.  A capability both
   added and dropped is an error.  */
int husk_security_set_caps (struct husk_security_spec *spec, char *const *cap_add, char *const *cap_drop,
                            husk_error_t *err);

/* Set the privileged flag: all capabilities, seccomp unconfined.  Call it
   before husk_security_set_caps and husk_security_parse_opt (so that an
   explicit seccomp=PATH still wins).  */
void husk_security_set_privileged (struct husk_security_spec *spec, bool privileged);

/* --- rlimits (rlimits.c) --- */

/* "nofile=1024:2048", "nofile=1024", "core=-1".  Names as Docker's (core cpu
   data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime
   sigpending stack), with or without an RLIMIT_ prefix, any case.  Replaces
   a default or an earlier value for the same resource.  Error:
   invalid ulimit "nofile=a:b": ...  */
int husk_security_add_ulimit (struct husk_security_spec *spec, const char *arg, husk_error_t *err);

/* Parse one --ulimit argument without touching a spec.  */
int husk_rlimit_parse (const char *arg, struct husk_rlimit *out, husk_error_t *err);
/* "nofile" for RLIMIT_NOFILE; NULL when unknown.  */
const char *husk_rlimit_name (int resource);

/* Set every rlimit of the spec in the calling process.  A value above the
   current hard limit that cannot be raised (EPERM: no CAP_SYS_RESOURCE) is
   clamped to that hard limit; a limit the user asked for prints one
   warning, a default is clamped silently.  Never fails on EPERM.  */
int husk_rlimits_apply (const struct husk_security_spec *spec, husk_error_t *err);

/* --- --security-opt --- */

/* "no-new-privileges[=true|false]", "seccomp=unconfined", "seccomp=PATH"
   (read now), "mask=...", "unmask=...", "label=..." and "apparmor=..."
   (accepted and ignored: no SELinux or AppArmor here).  */
int husk_security_parse_opt (struct husk_security_spec *spec, const char *opt, husk_error_t *err);

/* --- seccomp (seccomp.c) --- */

/* The built-in default profile, Docker JSON format (seccomp-default.c).  */
extern const char husk_seccomp_default_profile[];

/* Clamp the rlimits (warnings go to husk's stderr, not the container's)
   and fill spec->seccomp_bpf.  With cache_dir (may be NULL: no cache; e.g.
   <store root>/cache/seccomp, created when missing), the BPF is looked up
   in CACHE_DIR/<sha256 of profile, caps, kernel release and version,
   machine, libseccomp version>.bpf and written there atomically when
   missing: a hit costs ~0.3 ms instead of 20-80 ms of generation.
   Profiles: defaultAction, defaultErrnoRet, architectures, archMap,
   syscalls[{name|names, action, errnoRet, args[{index, value, valueTwo,
   op}], includes/excludes {caps, arches, minKernel}}]; actions ALLOW,
   ERRNO, KILL, KILL_THREAD, KILL_PROCESS, TRAP, TRACE, LOG (NOTIFY is
   refused); "flags" is ignored.  */
int husk_security_prepare (struct husk_security_spec *spec, const char *cache_dir, husk_error_t *err);

/* Compile a Docker-format profile for the capability set CAPS into BPF
   (malloc'd bytes in *out).  Exposed for tests and `husk info`.  */
int husk_seccomp_compile (const char *profile, size_t len, uint64_t caps, void **out, size_t *out_len,
                          husk_error_t *err);

/* husk_seccomp_compile through the cache in CACHE_DIR (NULL: no cache);
 *hit tells whether the bytes came from the cache.  */
int husk_seccomp_build_cached (const char *profile, size_t len, uint64_t caps, const char *cache_dir,
                               void **out, size_t *out_len, bool *hit, husk_error_t *err);

/* Load BPF bytes as the calling thread's filter (seccomp(2), TSYNC not
   needed: the child is single-threaded).  */
int husk_seccomp_load (const void *bpf, size_t len, bool no_new_privs, husk_error_t *err);

/* Apply everything in the child, in the order documented above.  */
int husk_security_apply (const struct husk_security_spec *spec, husk_error_t *err);

#endif
