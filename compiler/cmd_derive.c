/* cmd_derive.c - `vlec derive`. Not implemented yet. */
#include <stdio.h>
#include "driver.h"

int cmd_derive(int argc, char **argv) {
  (void)argc; (void)argv;
  fputs("vlec derive: not implemented yet\n", stderr);
  return 2;
}
