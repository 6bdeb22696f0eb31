/* cmd_check.c - `vlec check`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_check(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec check: not implemented yet\n", stderr);
  return 2;
}
