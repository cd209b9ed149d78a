/* husk: build cache keys.

   A key is a chain: each step hashes the previous step's key, so a
   changed step changes every key after it, as Docker's cache does.  Each
   field is written with its length, so no two different steps can write
   the same bytes.  */
#include <stdlib.h>
#include <string.h>

#include "husk/digest.h"
#include "husk/util.h"
#include "cache.h"

static void
put (husk_digester_t *d, const char *tag, const char *s)
{
  cleanup_free char *head = NULL;
  size_t len = s ? strlen (s) : 0;

  head = xasprintf ("%s:%zu:", tag, s ? len : (size_t)-1);
  husk_digester_update (d, head, strlen (head));
  if (s)
    husk_digester_update (d, s, len);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

char *
build_cache_key (const char *prev, const struct husk_dockerfile_instr *in, char *const *args,
                 const char *platform, const char *extra)
{
  cleanup_digester husk_digester_t *d = husk_digester_new ();
  cleanup_strv char **sorted = strv_dup (args);
  size_t n = strv_len (sorted);

  put (d, "prev", prev);
  put (d, "keyword", in->keyword);
  put (d, "text", in->text);
  for (size_t i = 0; i < in->n_heredocs; i++)
    {
      put (d, "heredoc", in->heredocs[i].name);
      put (d, "body", in->heredocs[i].body);
    }
  qsort (sorted, n, sizeof (char *), cmp_str);
  for (size_t i = 0; i < n; i++)
    put (d, "arg", sorted[i]);
  put (d, "platform", platform);
  put (d, "extra", extra);
  return husk_digester_final (d);
}
