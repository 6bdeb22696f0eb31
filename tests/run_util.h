/*
 * run_util.h - helpers of the tests/test_run_*.c suites (prefix ru_): compile a .vle through
 * the JIT in process (compiler/loader.h), run `vlec run|grad` in process (rn_main, the very
 * code behind the command line), read its outputs, and step sims with the C API.
 * Include from one test file; each suite owns one temporary directory (ru_setup/ru_teardown).
 */
#ifndef VLE_RUN_UTIL_H
#define VLE_RUN_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader.h"
#include "npy.h"
#include "run.h"
#include "test_util.h"   /* tu_sh */
#include "vle.h"

static char ru_dir[64];
static char ru_log[8192];     /* what the last ru_vlec printed */

static inline void ru_setup(void) {
  snprintf(ru_dir, sizeof ru_dir, "/tmp/vle_runtest_XXXXXX");
  cr_assert(mkdtemp(ru_dir));
}

static inline void ru_teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", ru_dir);
  if (system(cmd)) {}
}

/* A path in the suite's temporary directory (rotating static buffers). */
static inline const char *ru_at(const char *rel) {
  static char bufs[8][256];
  static int i;
  char *p = bufs[i++ % 8];
  snprintf(p, 256, "%s/%s", ru_dir, rel);
  return p;
}

/* A path in the source tree. */
static inline const char *ru_src(const char *rel) {
  static char bufs[4][512];
  static int i;
  char *p = bufs[i++ % 4];
  snprintf(p, 512, "%s/%s", VLE_SOURCE_DIR, rel);
  return p;
}

/* Compiles a .vle (JIT, f64) or loads a .so; fails the test on an error. */
static inline void ru_open(ld_model *m, const char *path) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  int rc = ld_open(m, path, false, f);
  fclose(f);
  cr_assert_eq(rc, 0, "%s does not compile: %s", path, text);
  free(text);
}

/* Writes text to a file in the temporary directory; returns its path. */
static inline const char *ru_write(const char *rel, const char *text) {
  const char *p = ru_at(rel);
  FILE *f = fopen(p, "w");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
  return p;
}

/* `vlec run|grad MODEL args... NULL` in process on an opened model; messages go to ru_log.
 * Returns the exit status (2: usage error). */
static inline int ru_vlec(const ld_model *m, bool grad, ...) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = grad ? "grad" : "run";
  argv[argc++] = "model.vle";
  va_list ap;
  va_start(ap, grad);
  for (char *a; (a = va_arg(ap, char *)) && argc < 63;) argv[argc++] = a;
  va_end(ap);
  FILE *log = fmemopen(ru_log, sizeof ru_log, "w");
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, grad, log);
  if (rc == 0) rc = rn_main(m->model, &o, log);
  fclose(log);
  rn_options_free(&o);
  return rc;
}

/* Reads an .npy from the temporary directory (as doubles: the array must be f8). */
static inline npy_array ru_npy(const char *rel) {
  npy_array a;
  vle_error err;
  cr_assert_eq(npy_read(ru_at(rel), &a, &err), 0, "%s", err.msg);
  cr_assert_eq(a.dtype, NPY_F8, "%s is not float64", rel);
  return a;
}

static inline const double *ru_data(const npy_array *a) { return (const double *)a->data; }

/* Largest |a - b| over n values. */
static inline double ru_maxdiff(const double *a, const double *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
  return d;
}

/* Cosine of the angle between a and b, and |a - b| / |b|. */
static inline void ru_compare(const double *a, const double *b, size_t n, double *cosine, double *rel) {
  double ab = 0, aa = 0, bb = 0, dd = 0;
  for (size_t i = 0; i < n; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
    dd += (a[i] - b[i]) * (a[i] - b[i]);
  }
  *cosine = ab / sqrt(aa * bb);
  *rel = sqrt(dd / bb);
}

/* A sim of m with the given error scheme (NULL: the model's), learning on or off. */
static inline vle_sim *ru_sim(const vle_model *m, const char *errors, bool learn, uint64_t seed) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = errors;
  o.learn = learn;
  o.seed = seed;
  vle_error err;
  vle_sim *s = vle_sim_new(m, &o, &err);
  cr_assert(s, "%s", err.msg);
  return s;
}

/* Σ_k dt signal_k over `steps` steps of the forward pass (errors = adjoint: e = 0, learning
 * off) from the initial state of seed 3, with element i of param moved by delta: the
 * discrete objective whose finite differences the gradient tests compare against. */
static inline double ru_signal_sum(const vle_model *m, const char *param, size_t i,
                                   double delta, const char *signal, int steps) {
  vle_sim *s = ru_sim(m, "adjoint", false, 3);
  vle_error err;
  size_t n = vle_sim_count(s, param);
  double *v = malloc(n * sizeof *v);
  cr_assert_eq(vle_sim_get(s, param, v, n, &err), 0, "%s", err.msg);
  v[i] += delta;
  cr_assert_eq(vle_sim_set(s, param, v, n, &err), 0, "%s", err.msg);
  double sum = 0, dt = vle_sim_dt(s), *x = vle_sim_buffer(s, signal, NULL);
  cr_assert(x, "no signal %s", signal);
  for (int k = 0; k < steps; k++) {
    cr_assert_eq(vle_sim_step(s, 1, &err), 0, "%s", err.msg);
    sum += dt * *x;
  }
  free(v);
  vle_sim_free(s);
  return sum;
}

/* The grad sums of W1 and b2 (out[0..8): fd_232.vle's) after one window of `steps` steps of a
 * backward scheme (adjoint, bptt) from seed 3, learning off, under a memory bound (bytes). */
static inline void ru_window_grads(const vle_model *m, const char *errors, size_t bound,
                                   int64_t steps, double *out, vle_adjoint_plan *plan) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = errors;
  o.learn = false;
  o.accumulate_grads = true;
  o.seed = 3;
  o.adjoint_memory = bound;
  vle_error err;
  vle_sim *s = vle_sim_new(m, &o, &err);
  cr_assert(s, "%s", err.msg);
  cr_assert_eq(vle_sim_adjoint_plan(s, steps, plan, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_adjoint_window(s, steps, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_grad_sum(s, "W1", out, 6, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_grad_sum(s, "b2", out + 6, 2, &err), 0, "%s", err.msg);
  vle_sim_free(s);
}

#endif
