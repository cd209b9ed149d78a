/* husk: cp, diff, commit, export (being written).  */
#include <errno.h>

#include "container.h"

int
cmd_cp (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "cp: not implemented yet");
}

int
cmd_diff (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "diff: not implemented yet");
}

int
cmd_commit (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "commit: not implemented yet");
}

int
cmd_export (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "export: not implemented yet");
}
