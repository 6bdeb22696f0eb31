/* cmd_build.c - `vlec build MODEL.vle -o OUT.so [--precision f64|f32]` and
 * `vlec emit MODEL.vle --llvm|--kir [--precision f64|f32]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aot.h"
#include "driver.h"
#include "mcache.h"
#include "pipeline.h"

typedef struct bd_args {
  const char *model, *out, *precision;
  bool llvm, kir;
  bool cached;      /* --cached: the compile cache's .so, its path printed (no -o) */
} bd_args;

static int bd_parse(int argc, char **argv, bd_args *a, bool emit) {
  memset(a, 0, sizeof *a);
  a->precision = "f64";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (!emit && !strcmp(s, "-o") && i + 1 < argc) a->out = argv[++i];
    else if (!strcmp(s, "--precision") && i + 1 < argc) a->precision = argv[++i];
    else if (emit && !strcmp(s, "--llvm")) a->llvm = true;
    else if (emit && !strcmp(s, "--kir")) a->kir = true;
    else if (!emit && !strcmp(s, "--cached")) a->cached = true;
    else if (!emit && !strcmp(s, "--no-cache")) {}   /* -o never goes through the cache */
    else if (s[0] != '-' && !a->model) a->model = s;
    else {
      fprintf(stderr, "vlec %s: unexpected argument '%s'\n", emit ? "emit" : "build", s);
      return 2;
    }
  }
  bool prec_ok = !strcmp(a->precision, "f64") || !strcmp(a->precision, "f32");
  if (!a->model || !prec_ok || (!emit && !a->out == !a->cached) || (emit && !a->llvm && !a->kir)) {
    fprintf(stderr, emit ? "usage: vlec emit MODEL.vle --llvm|--kir [--precision f64|f32]\n"
                         : "usage: vlec build MODEL.vle -o OUT.so | --cached [--precision f64|f32]\n");
    return 2;
  }
  return 0;
}

/* --cached: the entry of the compile cache (built on a miss); its path on stdout. */
static int bd_cached(const bd_args *a) {
  char *dir = mc_dir();
  if (!dir) {
    fputs("vlec build: --cached: the compile cache is off (VLE_NO_CACHE, or no VLE_CACHE_DIR, "
          "XDG_CACHE_HOME or HOME to put it in)\n", stderr);
    return 2;
  }
  char *so = mc_get(dir, a->model, a->precision, NULL, stderr);
  if (so) puts(so);
  free(so);
  free(dir);
  return so ? 0 : 1;
}

static int bd_run(int argc, char **argv, bool emit) {
  bd_args a;
  int rc = bd_parse(argc, argv, &a, emit);
  if (rc) return rc;
  if (a.cached) return bd_cached(&a);
  dg_ctx d;
  dg_init(&d, stderr);
  pl_unit u;
  pl_init(&u, &d);
  rc = 1;
  cg_options o = { .f32 = !strcmp(a.precision, "f32") };
  if (pl_compile(&u, a.model, a.precision)) {
    char err[1024];
    if (emit) {
      if (a.kir) kir_dump(stdout, u.prog);
      rc = (!a.llvm || cg_emit_ir(u.prog, &o, stdout)) ? 0 : 1;
    } else if (aot_build(u.prog, &o, a.out, err, sizeof err)) {
      rc = 0;
    } else {
      fprintf(stderr, "vlec: error: %s\n", err);
    }
  }
  pl_free(&u);
  return rc;
}

int cmd_build(int argc, char **argv) { return bd_run(argc, argv, false); }
int cmd_emit(int argc, char **argv) { return bd_run(argc, argv, true); }
