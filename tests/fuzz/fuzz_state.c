/* fuzz_state.c - libFuzzer target for the state loader (vle_sim_load) on the mock model:
 * any bytes as a state file; a load that succeeds is stepped, which must stay finite or
 * stop with an error (never crash). */
#include "../mock/mock.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vle_model *m;
  vle_error err;
  if (!m && !(m = mock_load(false, &err))) abort();
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *s = vle_sim_new(m, &o, &err);
  const char *path = fz_file(data, size, ".bin");
  if (s && path && vle_sim_load(s, path, &err) == 0) vle_sim_step(s, 3, &err);
  vle_sim_free(s);
  return 0;
}
