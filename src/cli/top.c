/* husk: top (being written).  */
#include <errno.h>

#include "container.h"

int
cmd_top (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "top: not implemented yet");
}
