/* cmd_plot.c - `vlec plot`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_plot(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec plot: not implemented yet\n", stderr);
  return 2;
}
