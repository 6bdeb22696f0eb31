/*
 * fuzz_util.h - the runtime's readers take paths: a fuzz input goes to a file of this
 * process first (one per process, so that fuzzer jobs do not share it).
 */
#ifndef VLE_FUZZ_UTIL_H
#define VLE_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static inline const char *fz_file(const uint8_t *data, size_t size, const char *ext) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/vle-fuzz-%d%s", (int)getpid(), ext);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  fwrite(data, 1, size, f);
  fclose(f);
  return path;
}

#endif
