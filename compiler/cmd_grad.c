/* cmd_grad.c - `vlec grad`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_grad(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec grad: not implemented yet\n", stderr);
  return 2;
}
