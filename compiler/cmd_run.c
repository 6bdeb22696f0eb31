/* cmd_run.c - `vlec run`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_run(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec run: not implemented yet\n", stderr);
  return 2;
}
