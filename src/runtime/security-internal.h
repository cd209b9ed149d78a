/* husk: helpers shared by caps.c, rlimits.c and seccomp.c (not a public
   interface: security.h is).  */
#ifndef HUSK_SECURITY_INTERNAL_H
#define HUSK_SECURITY_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "husk/error.h"

/* Clear the ambient set and drop from the bounding set every capability
   not in caps.  */
int husk_caps_drop_bounding (uint64_t caps, husk_error_t *err);

/* effective = permitted = caps (reduced to what we hold) for uid 0, empty
   for any other uid; inheritable empty.  */
int husk_caps_set_final (uint64_t caps, uid_t uid, husk_error_t *err);

/* Called by husk_security_prepare in the parent: clamp the rlimits of the
   spec to what this process can set and warn once per clamped limit the
   user asked for.  */
struct husk_security_spec;
void husk_rlimits_clamp (struct husk_security_spec *spec);

#endif
