/* fuzz_npy.c - libFuzzer target for the .npy reader (npy_read): any bytes as a file. */
#include "fuzz_util.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_file(data, size, ".npy");
  npy_array a;
  vle_error err;
  if (path && npy_read(path, &a, &err) == 0) {
    double s = 0;
    for (size_t i = 0; i < a.count; i++) s += npy_get(&a, i);   /* every element readable */
    (void)s;
    npy_free(&a);
  }
  return 0;
}
