/*
 * fuzz_derive.c - libFuzzer target for the middle of the compiler: any input that parses
 * and checks is also derived (derive.c) and lowered to kernel IR (lower.c), and the kernel
 * IR is verified. No LLVM is involved, so millions of models per hour can be tried.
 *
 * Diagnostics go to /dev/null; `use` is disabled. Build with `make fuzz`; docs/fuzzing.md.
 */
#include <stdint.h>
#include <stdio.h>

#include "derive.h"
#include "frontend.h"
#include "lower.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *devnull;
  if (!devnull) devnull = fopen("/dev/null", "w");
  vl_arena a;
  ar_init(&a);
  dg_ctx d;
  dg_init(&d, devnull);
  fe_opts o = { .no_use = true };
  vl_model *m = fe_load_text_opts(&a, &d, "fuzz.vle", (const char *)data, (long)size, &o);
  if (m && ck_check(m, &d) && !d.errors) {
    dv_system *s = dv_derive(m, &d, &a);
    lw_options lo = { "f64", "0", false, NULL };
    if (s) {
      kir_program *p = lw_lower(s, &lo, &d);
      if (p && !kir_verify(p, devnull)) __builtin_trap();   /* lowering made bad IR */
    }
  }
  ar_free_all(&a);
  return 0;
}
