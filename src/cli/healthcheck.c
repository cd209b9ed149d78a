/* husk healthcheck: being written (hidden by HUSK_WIP in the command table).  */
#include <errno.h>

#include "cli.h"
#include "container.h"

int
cmd_healthcheck_run (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "healthcheck is not finished yet");
}
