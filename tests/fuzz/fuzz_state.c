/* fuzz_state.c - libFuzzer target for the state loader (vle_sim_load) on the mock model:
 * any bytes as a state file; a load that succeeds is stepped, which must stay finite or
 * stop with an error (never crash).
 *
 * The file's last 8 bytes are its checksum (FNV-1a 64 of the bytes before them). A mutated
 * file almost never matches it, so the fuzzer would only ever meet the checksum check: as a
 * crafted file would, every input is given a valid checksum first, so that the checks of
 * every field behind it (sizes, counters, step, finiteness: docs/runtime.md) are what it
 * explores. The checksum check itself is covered by tests/test_faults_state.c. */
#include <stdlib.h>
#include <string.h>

#include "../mock/mock.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fz_fnv(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vle_model *m;
  vle_error err;
  if (!m && !(m = mock_load(false, &err))) abort();
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  if (size >= 16) {
    uint64_t h = fz_fnv(buf, size - 8);
    memcpy(buf + size - 8, &h, 8);
  }
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *s = vle_sim_new(m, &o, &err);
  const char *path = fz_file(buf, size, ".bin");
  if (s && path && vle_sim_load(s, path, &err) == 0) vle_sim_step(s, 3, &err);
  vle_sim_free(s);
  free(buf);
  return 0;
}
