/* cmd_run.c - `vlec run` and `vlec grad`: obtain the model (JIT or .so) and hand it to the
 * runtime's run loop (runtime/run.h), which does everything else through the C API. */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "loader.h"
#include "run.h"

/* --precision f64|f32 (or --precision=f32) chooses the code the JIT generates; the run loop
 * never sees it. Given twice is an error; *given says whether it was given at all. */
static int cmd_precision(int *argc, char **argv, bool *f32, bool *given) {
  for (int i = 1; i < *argc; i++) {
    bool eq = !strncmp(argv[i], "--precision=", 12);
    if (!eq && strcmp(argv[i], "--precision")) continue;
    const char *v = eq ? argv[i] + 12 : i + 1 < *argc ? argv[i + 1] : NULL;
    if (!v || (strcmp(v, "f64") && strcmp(v, "f32"))) {
      fputs("vlec: --precision takes f64 or f32\n", stderr);
      return 2;
    }
    if (*given) {
      fputs("vlec: --precision is given twice\n", stderr);
      return 2;
    }
    *given = true;
    *f32 = !strcmp(v, "f32");
    int n = eq ? 1 : 2;
    for (int j = i; j + n <= *argc; j++) argv[j] = argv[j + n];
    *argc -= n;
    i--;
  }
  return 0;
}

static int cmd_run_or_grad(int argc, char **argv, bool grad) {
  bool f32 = false, given = false;
  if (cmd_precision(&argc, argv, &f32, &given)) return 2;
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, grad, stderr);
  if (rc == 0) {
    ld_model m;
    rc = ld_open_for(&m, o.model, f32, o.errors, grad || o.no_learn ? 0 : 1, stderr);
    if (rc == 0 && given && (vle_model_precision(m.model) == VLE_F32) != f32) {
      /* a .so has the precision it was built with: the option would do nothing */
      fprintf(stderr, "vlec: --precision %s does nothing for %s, built in %s (rebuild it with "
              "vlec build --precision %s)\n", f32 ? "f32" : "f64", o.model, f32 ? "f64" : "f32",
              f32 ? "f32" : "f64");
      rc = 2;
    }
    if (!ld_is_so(o.model)) o.model_source = o.model;   /* copied as DIR/model.vle */
    if (rc == 0) rc = rn_main(m.model, &o, stderr);
    ld_close(&m);
  }
  rn_options_free(&o);
  return rc;
}

int cmd_run(int argc, char **argv) { return cmd_run_or_grad(argc, argv, false); }
int cmd_grad(int argc, char **argv) { return cmd_run_or_grad(argc, argv, true); }
