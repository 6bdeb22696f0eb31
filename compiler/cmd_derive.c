/* cmd_derive.c - `vlec derive MODEL.vle [--format text|latex|json] [--locality]`. */
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "locality.h"
#include "pipeline.h"

int cmd_derive(int argc, char **argv) {
  const char *path = NULL, *format = "text";
  bool locality = false;   /* --locality: the locality report alone (docs/derive.md) */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
    else if (!strncmp(argv[i], "--format=", 9)) format = argv[i] + 9;
    else if (!strcmp(argv[i], "--locality")) locality = true;
    else if (!strcmp(argv[i], "--json")) format = "json";
    else if (argv[i][0] == '-' || path) {
      fprintf(stderr, "vlec derive: unexpected argument '%s'\n"
              "usage: vlec derive MODEL.vle [--format text|latex|json] [--locality]\n", argv[i]);
      return 2;
    } else path = argv[i];
  }
  dv_format f = !strcmp(format, "text") ? DV_TEXT : !strcmp(format, "latex") ? DV_LATEX
              : !strcmp(format, "json") ? DV_JSON : (dv_format)-1;
  if (!path || (int)f < 0) {
    fprintf(stderr, "usage: vlec derive MODEL.vle [--format text|latex|json] [--locality]\n");
    return 2;
  }
  if (locality && f == DV_LATEX) {
    fprintf(stderr, "vlec derive: --locality prints text or json, not latex\n");
    return 2;
  }
  dg_ctx d;
  dg_init(&d, stderr);
  pl_unit u;
  pl_init(&u, &d);
  int rc = 1;
  if (pl_front(&u, path) && pl_derive(&u)) {
    if (locality && f == DV_TEXT) lc_print_text(stdout, u.sys, lc_build(u.sys));
    else dv_print(stdout, u.sys, f);   /* JSON always has "locality" */
    rc = 0;
  }
  pl_free(&u);
  return rc;
}
