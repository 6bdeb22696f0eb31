/* cmd_emit.c - `vlec emit`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_emit(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec emit: not implemented yet\n", stderr);
  return 2;
}
