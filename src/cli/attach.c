/* husk: attach, top, rename, pause, unpause, stats, update (being written).  */
#include <errno.h>

#include "container.h"

int
cmd_attach (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "attach: not implemented yet");
}

int
cmd_top (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "top: not implemented yet");
}

int
cmd_rename (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "rename: not implemented yet");
}

int
cmd_pause (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "pause: not implemented yet");
}

int
cmd_unpause (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "unpause: not implemented yet");
}

int
cmd_stats (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "stats: not implemented yet");
}

int
cmd_update (struct cli_ctx *ctx, struct cli_args *a, husk_error_t *err)
{
  (void)ctx;
  (void)a;
  return husk_make_error (err, ENOSYS, "update: not implemented yet");
}
