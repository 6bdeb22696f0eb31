/* cmd_check.c - `vlec check MODEL.vle`: parse and check, print diagnostics, nothing else. */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "frontend.h"

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
  vl_arena a;
  ar_init(&a);
  dg_ctx d;
  dg_init(&d, stderr);
  vl_model *m = fe_compile(&a, &d, path);
  int status = m && d.errors == 0 ? 0 : 1;
  ar_free_all(&a);
  return status;
}
