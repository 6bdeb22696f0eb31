/*
 * fuzz_check.c - libFuzzer target for the front end: parse and check any bytes.
 *
 * Diagnostics go to /dev/null; `use` is disabled (fe_opts.no_use), so an input cannot
 * make the target read arbitrary files. Build with `make fuzz`; see docs/fuzzing.md.
 */
#include <stdint.h>
#include <stdio.h>

#include "frontend.h"

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
  if (m) ck_check(m, &d);
  ar_free_all(&a);
  return 0;
}
