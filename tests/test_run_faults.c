/*
 * test_run_faults.c - numerical faults and data errors through the real `vlec run` binary
 * (VLEC_PATH, a subprocess) on a compiled model, tests/data/faults.vle: a diverging run stops
 * with a message naming signal, neuron, batch element, step and time and keeps its outputs;
 * tau < dt is refused before anything runs; bad data files are refused naming the file.
 * (test_runtime_run.c covers the same paths on the mock model, in process.)
 */
#include <jansson.h>

#include "run_util.h"

TestSuite(faults, .init = ru_setup, .fini = ru_teardown);

static char out[16384];

/* `vlec run MODEL ARGS` (a shell fragment); stdout and stderr into out. Returns the status. */
static int vlec_run(const char *model, const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' %s 2>&1", VLEC_PATH, model, args);
  return tu_sh(cmd, out, sizeof out);
}

static void expect_in_out(const char *want) { cr_assert(strstr(out, want), "'%s' lacks '%s'", out, want); }

/* x for batch 2 over `steps` steps: element 1 reads 10x element 0, so it diverges first. */
static const char *two_inputs(int steps) {
  double *x = malloc((size_t)steps * 4 * sizeof *x);
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < steps; k++) {
      x[(b * steps + k) * 2] = (b ? 10 : 1) * sin(0.01 * k);
      x[(b * steps + k) * 2 + 1] = (b ? 10 : 1) * cos(0.01 * k);
    }
  int64_t shape[3] = { 2, steps, 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("x2.npy"), NPY_F8, 3, shape, x, &err), 0, "%s", err.msg);
  free(x);
  return ru_at("x2.npy");
}

Test(faults, divergence_names_signal_neuron_element_step_time) {
  char args[1024];
  snprintf(args, sizeof args, "--steps 5000 --batch 2 --set a=0.5,3 --input x=%s --record h,loss "
           "--out %s -q", two_inputs(5000), ru_at("out"));
  cr_assert_eq(vlec_run(ru_src("tests/data/faults.vle"), args), 1, "%s", out);
  expect_in_out("error: Inf in h (neuron 1, batch element 1) at step ");
  expect_in_out("(t = ");
  expect_in_out("rolled back to its last good state");
  json_error_t je;
  json_t *j = json_load_file(ru_at("out/run.json"), 0, &je);
  cr_assert(j, "%s", je.text);
  json_int_t run = json_integer_value(json_object_get(j, "steps_run"));
  cr_assert(run > 100 && run < 5000, "steps_run %lld", (long long)run);
  cr_assert(strstr(json_string_value(json_object_get(j, "error")), "Inf in h"));
  json_decref(j);
  npy_array h = ru_npy("out/h.npy");       /* the steps before the fault, all finite */
  cr_assert_eq(h.shape[1], run);
  for (size_t i = 0; i < h.count; i++) cr_assert(isfinite(ru_data(&h)[i]));
  npy_free(&h);
}

Test(faults, tau_below_dt_refused_up_front) {
  char args[512];
  snprintf(args, sizeof args, "--steps 10 --dt 0.1 --out %s", ru_at("out"));
  cr_assert_eq(vlec_run(ru_src("tests/data/faults.vle"), args), 1, "%s", out);
  expect_in_out("population h: tau_m of neuron 0 is 0.05, smaller than dt = 0.1");
  cr_assert_eq(access(ru_at("out"), F_OK), -1, "no run directory for a refused run");
}

/* Data errors on the built .so (one compilation for all of them): every message names the
 * file and what was wrong, and nothing is written. */
Test(faults, data_errors_name_the_file) {
  char cmd[2048], args[1024];
  snprintf(cmd, sizeof cmd, "'%s' build '%s' -o '%s' 2>&1", VLEC_PATH,
           ru_src("tests/data/faults.vle"), ru_at("faults.so"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  char so[256];
  snprintf(so, sizeof so, "%s", ru_at("faults.so"));
  double v[6] = { 1, 2, 3, NAN, 5, 6 };
  int64_t s32[2] = { 3, 2 }, s3[1] = { 3 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("nan.npy"), NPY_F8, 2, s32, v, &err), 0);
  cr_assert_eq(npy_write(ru_at("flat.npy"), NPY_F8, 1, s3, v, &err), 0);
  int32_t labels[2] = { 0, 2 };
  int64_t s2[1] = { 2 };
  cr_assert_eq(npy_write(ru_at("lab.npy"), NPY_I4, 1, s2, labels, &err), 0);
  struct { const char *opt, *file, *want; } cases[] = {
    { "--input x", "missing.npy", "missing.npy: cannot open" },
    { "--input x", "flat.npy", "flat.npy: x has 2 elements: expected shape [steps, 2]" },
    { "--input x", "nan.npy", "nan.npy: element 3 is nan: data must be finite" },
    { "--target c", "lab.npy", "lab.npy: label 2 at index 1 is not a class of target c (expected an integer in [0, 1])" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    snprintf(args, sizeof args, "--steps 3 --batch 2 %s=%s --out %s", cases[i].opt,
             ru_at(cases[i].file), ru_at("out"));
    cr_expect_eq(vlec_run(so, args), 1, "%s: %s", cases[i].file, out);
    cr_expect(strstr(out, cases[i].want), "'%s' lacks '%s'", out, cases[i].want);
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "%s: nothing written", cases[i].file);
  }
}
