/* husk build: being written (hidden by HUSK_WIP in the command table).  */
#include <errno.h>

#include "cli.h"

int
cmd_build (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "build is not finished yet");
}
