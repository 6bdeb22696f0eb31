/* cmd_run.c - `vlec run` and `vlec grad`: obtain the model (JIT or .so) and hand it to the
 * runtime's run loop (runtime/run.h), which does everything else through the C API. */
#include <stdio.h>

#include "driver.h"
#include "loader.h"
#include "run.h"

static int cmd_run_or_grad(int argc, char **argv, bool grad) {
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, grad, stderr);
  if (rc == 0) {
    ld_model m;
    rc = ld_open_for(&m, o.model, false, o.errors, stderr);
    if (rc == 0) rc = rn_main(m.model, &o, stderr);
    ld_close(&m);
  }
  rn_options_free(&o);
  return rc;
}

int cmd_run(int argc, char **argv) { return cmd_run_or_grad(argc, argv, false); }
int cmd_grad(int argc, char **argv) { return cmd_run_or_grad(argc, argv, true); }
