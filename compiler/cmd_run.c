/* cmd_run.c - `vlec run` and `vlec grad`: obtain the model (JIT or .so) and hand it to the
 * runtime's run loop (runtime/run.h), which does everything else through the C API. */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "loader.h"
#include "run.h"

/* --precision f64|f32 chooses the code the JIT generates; the run loop never sees it. */
static int cmd_precision(int *argc, char **argv, bool *f32) {
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--precision")) continue;
    if (i + 1 >= *argc || (strcmp(argv[i + 1], "f64") && strcmp(argv[i + 1], "f32"))) {
      fputs("vlec: --precision takes f64 or f32\n", stderr);
      return 2;
    }
    *f32 = !strcmp(argv[i + 1], "f32");
    for (int j = i; j + 2 <= *argc; j++) argv[j] = argv[j + 2];
    *argc -= 2;
    i--;
  }
  return 0;
}

static int cmd_run_or_grad(int argc, char **argv, bool grad) {
  bool f32 = false;
  if (cmd_precision(&argc, argv, &f32)) return 2;
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, grad, stderr);
  if (rc == 0) {
    ld_model m;
    rc = ld_open_for(&m, o.model, f32, o.errors, grad || o.no_learn ? 0 : 1, stderr);
    if (rc == 0) rc = rn_main(m.model, &o, stderr);
    ld_close(&m);
  }
  rn_options_free(&o);
  return rc;
}

int cmd_run(int argc, char **argv) { return cmd_run_or_grad(argc, argv, false); }
int cmd_grad(int argc, char **argv) { return cmd_run_or_grad(argc, argv, true); }
