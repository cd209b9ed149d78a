/* husk: build cache keys (cache.c), private to the executor.  */
#ifndef HUSK_BUILD_CACHE_H
#define HUSK_BUILD_CACHE_H

#include "husk/build.h"

/* The key of one step: "sha256:..." over the previous step's key (the
   chain starts at the base image), the instruction (keyword, text with
   flags, heredoc bodies), the ARG values in scope ("name=value", sorted
   here), the platform, and extra (what COPY/ADD copies: a content digest
   or the --from stage's key or image id; what RUN --mount reads: a from=
   stage's key or image, a bind's content digest from the context; may be
   NULL).  */
char *build_cache_key (const char *prev, const struct husk_dockerfile_instr *in, char *const *args,
                       const char *platform, const char *extra);

#endif
