/*
 * so_client.c - a C program that uses a built model through libvlert alone (no compiler,
 * no LLVM): load MODEL.so, create a simulation, run STEPS steps, print a signal.
 *
 *   usage: so_client MODEL.so STEPS SIGNAL [BATCH [SEED]]
 *
 * Prints every element of SIGNAL after the last step, one per line, with %.17g (exact
 * round trip), so a test can compare it with `vlec run` or a reference. Exit status 0, or
 * 1 with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vle.h"

static int fail(const char *what, const vle_error *err) {
  fprintf(stderr, "so_client: %s: %s\n", what, err->msg);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6) {
    fprintf(stderr, "usage: so_client MODEL.so STEPS SIGNAL [BATCH [SEED]]\n");
    return 2;
  }
  vle_error err;
  vle_model *m = vle_model_load_so(argv[1], &err);
  if (!m) return fail("load", &err);
  vle_sim_options o;
  vle_sim_options_init(&o);
  if (argc > 4) o.batch = atol(argv[4]);
  if (argc > 5) o.seed = strtoull(argv[5], NULL, 10);
  vle_sim *s = vle_sim_new(m, &o, &err);
  int rc = 0;
  if (!s) {
    rc = fail("sim", &err);
  } else if (vle_sim_step(s, atoll(argv[2]), &err)) {
    rc = fail("step", &err);
  } else {
    size_t n = vle_sim_count(s, argv[3]);
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (!v || vle_sim_get(s, argv[3], v, n, &err)) rc = fail("get", &err);
    for (size_t i = 0; !rc && i < n; i++) printf("%.17g\n", v[i]);
    free(v);
  }
  vle_sim_free(s);
  vle_model_free(m);
  return rc;
}
