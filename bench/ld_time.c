/* ld_time.c - end-to-end JIT time of a model: parse to the first step, by stage.
 *
 * Not part of the CMake build (a measurement, not a test). Build from the repository root
 * after `cmake --build build`:
 *
 *   cc -O2 -std=c17 -D_DEFAULT_SOURCE -Icompiler -Iruntime -Ibuild/gen -I/usr/lib/llvm-19/include \
 *      bench/ld_time.c build/libvlecomp.a -Lbuild -lvlert -Wl,-rpath,$PWD/build \
 *      -L/usr/lib/llvm-19/lib -lLLVM -ljansson -lm -o ld_time
 *   ./ld_time MODEL.vle [rounds]
 *
 * Prints, per round, the loader's ms_compile (ld_open: parse, check, derive, lower, LLVM O3,
 * machine code, descriptor) and the time to the end of the first step (vle_sim_new + one
 * vle_sim_step), then the stages of the pipeline timed separately; the last line is the
 * best of the rounds.
 */
#include <stdio.h>
#include <stdlib.h>

#include "jit.h"
#include "loader.h"
#include "pipeline.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ld_time MODEL.vle [rounds]\n");
    return 2;
  }
  int rounds = argc > 2 ? atoi(argv[2]) : 3;
  double best_c = 1e30, best_f = 1e30;
  for (int r = 0; r < rounds; r++) {
    double t0 = pl_now_ms();
    ld_model m;
    if (ld_open(&m, argv[1], false, stderr)) return 1;
    vle_error err;
    vle_sim_options o;
    vle_sim_options_init(&o);
    vle_sim *s = vle_sim_new(m.model, &o, &err);
    if (!s || vle_sim_step(s, 1, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    double first = pl_now_ms() - t0;
    printf("round %d: ms_compile %.1f ms, parse to first step %.1f ms\n", r, m.ms_compile, first);
    if (m.ms_compile < best_c) best_c = m.ms_compile;
    if (first < best_f) best_f = first;
    vle_sim_free(s);
    ld_close(&m);
  }
  /* the stages, once more */
  dg_ctx d;
  dg_init(&d, stderr);
  pl_unit u;
  pl_init(&u, &d);
  if (!pl_compile(&u, argv[1], "f64")) return 1;
  char msg[512];
  cg_options co = { 0 };
  double t0 = pl_now_ms();
  jit_module *j = jit_compile(u.prog, &co, msg, sizeof msg);
  double ms_jit = pl_now_ms() - t0;
  if (!j) {
    fprintf(stderr, "%s\n", msg);
    return 1;
  }
  printf("stages: front %.1f ms, derive %.1f ms, lower %.1f ms, LLVM (IR, O3, code) %.1f ms\n",
         u.ms_front, u.ms_derive, u.ms_lower, ms_jit);
  printf("best of %d: ms_compile %.1f ms, parse to first step %.1f ms\n", rounds, best_c, best_f);
  jit_free(j);
  pl_free(&u);
  return 0;
}
