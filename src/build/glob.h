/* husk: Go's filepath.Match on one path component, shared by ignore.c
   (which implements it) and context.c (COPY source globs).  Private to
   src/build.  */
#ifndef HUSK_BUILD_GLOB_H
#define HUSK_BUILD_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* pattern (NUL-terminated) against name[0..len): 1 match, 0 none, -1 a
   bad pattern ("[a-", a trailing "\").  */
int build_glob_match (const char *pattern, const char *name, size_t len);
/* True when s has '*', '?' or '[' outside a "\x" escape (buildkit's
   containsWildcards).  */
bool build_glob_has_wildcards (const char *s);

#endif
