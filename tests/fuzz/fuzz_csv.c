/* fuzz_csv.c - libFuzzer target for the CSV reader (csv_read): any bytes as a file. */
#include <stdlib.h>

#include "csv.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_file(data, size, ".csv");
  double *v = NULL;
  int64_t rows, cols;
  vle_error err;
  if (path && csv_read(path, &v, &rows, &cols, &err) == 0) {
    double s = 0;
    for (int64_t i = 0; i < rows * cols; i++) s += v[i];      /* every value readable */
    (void)s;
  }
  free(v);
  return 0;
}
