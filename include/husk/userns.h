/* husk: the rootless user namespace (DESIGN.md section 4).

   A rootless command that must own files as other ids (layer extraction,
   container start) calls husk_userns_enter () before it opens the store.
   The process forks; the child moves into a new user namespace where 0 is
   the user and 1..N is the user's /etc/subuid (/etc/subgid) range, mapped
   by the parent with newuidmap/newgidmap, or, with no range, the user
   alone (with one warning).  The command continues in the child as uid 0;
   the parent only waits, forwards SIGINT/SIGTERM/SIGHUP, and exits with
   the child's status.

   Inside the namespace geteuid () is 0, so code that needs the user as
   the rest of the system sees them (paths like /run/user/$UID, the
   rootless store location, "is this rootless?") asks
   husk_userns_outer_uid () and husk_userns_is_rootless () instead.  Code
   that compares file owners with the caller keeps using geteuid (): the
   user's own files show as uid 0 inside.  */
#ifndef HUSK_USERNS_H
#define HUSK_USERNS_H

#include <stdbool.h>
#include <sys/types.h>

#include "husk/error.h"

/* The environment variable, "<uid>:<gid>:<1 if both subid ranges are
   mapped, else 0>", set in the namespace so nested
   calls and helpers started from inside know the ids outside.  */
#define HUSK_USERNS_ENV "_HUSK_USERNS_OUTER"

/* Find the first line of FILE (/etc/subuid or /etc/subgid syntax,
   "name_or_uid:start:count") whose first field is USER (may be NULL) or
   the decimal UID.  Returns 1 and fills *start and *count if found, 0 if
   not (or FILE does not exist), negative on a read error.  Malformed lines
   are skipped.  */
int husk_subid_range (const char *file, uid_t uid, const char *user, unsigned long *start,
                      unsigned long *count, husk_error_t *err);

/* As root (real root, or already inside husk's namespace): returns 0 and
   does nothing.  Otherwise forks and returns 0 in the child, now uid 0 in
   the new namespace; the parent never returns.  On failure the child
   returns negative with *err set ("setting up the user namespace: ...");
   the caller reports it and exits 125 as usual, and the parent exits with
   that code too.  */
int husk_userns_enter (husk_error_t *err);

/* The uid (gid) outside husk's namespace: getuid () (getgid ()) when not
   inside it, else the ids recorded when entering.  */
uid_t husk_userns_outer_uid (void);
gid_t husk_userns_outer_gid (void);

/* True when the user outside is not root.  */
bool husk_userns_is_rootless (void);

/* True when files can be given any owner from an image: real root, or
   inside husk's namespace with both a subuid and a subgid range mapped.
   With a single mapping, chown to another id fails (EINVAL): layer
   extraction should then skip chown (layer opts.no_chown) so every file
   is owned by the user, as the warning printed on entering says.  */
bool husk_userns_can_chown (void);

/* True in the child of husk_userns_enter () (or a process started from it). */
bool husk_userns_inside (void);

#endif
