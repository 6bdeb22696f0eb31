/* cmd_check.c - `vlec check MODEL.vle`: every check of language.md §5, the energy's normal
 * form included: parse, check, derive and lower (everything but LLVM), so that a model
 * `check` accepts is one `run` accepts; print diagnostics, nothing else. */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "pipeline.h"

/* argv[0] is "check". Exactly one operand and no options (--help is main.c's). */
int cmd_check(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] != 0) {
      fprintf(stderr, "vlec check: unknown option '%s' (see 'vlec check --help')\n", argv[i]);
      return 2;
    }
    if (path) {
      fprintf(stderr, "vlec check: one model at a time ('%s' is extra)\n", argv[i]);
      return 2;
    }
    path = argv[i];
  }
  if (!path) {
    fputs("usage: vlec check MODEL.vle\n", stderr);
    return 2;
  }
  dg_ctx d;
  dg_init(&d, stderr);
  pl_unit u;
  pl_init(&u, &d);
  bool ok = pl_compile(&u, path, "f64") && d.errors == 0;
  pl_free(&u);
  return ok ? 0 : 1;
}
