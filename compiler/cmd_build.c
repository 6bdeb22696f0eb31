/* cmd_build.c - `vlec build`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_build(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec build: not implemented yet\n", stderr);
  return 2;
}
