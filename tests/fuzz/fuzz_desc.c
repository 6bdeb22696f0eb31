/* fuzz_desc.c - libFuzzer target for the descriptor parser (vle_model_from_symbols): any
 * bytes as the descriptor; every kernel symbol resolves to a function that does nothing. */
#include <stdlib.h>
#include <string.h>

#include "vle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_kernel(const void *ctx, void *const *bufs, int64_t batch) {
  (void)ctx; (void)bufs; (void)batch;
}

static void *fz_resolve(void *user, const char *sym) {
  (void)user; (void)sym;
  void (*f)(const void *, void *const *, int64_t) = fz_kernel;
  void *v;
  memcpy(&v, &f, sizeof v);
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *meta = malloc(size + 1);
  if (!meta) return 0;
  memcpy(meta, data, size);
  meta[size] = 0;
  vle_error err;
  vle_model *m = vle_model_from_symbols(meta, 1, fz_resolve, NULL, &err);
  vle_model_free(m);
  free(meta);
  return 0;
}
