/*
 * test_mnist1d.c - `vle_data mnist1d` (examples/tools/mnist1d.c, mt19937.c): NumPy's legacy
 * random stream against numbers NumPy prints, and the generated dataset against slices of
 * the published one (tests/data/mnist1d/: the first samples of the published arrays at
 * length 40 and of the same samples at length 360; see the README there). Bad options:
 * an error, a non-zero exit and no files.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mnist1d.h"
#include "mt19937.h"
#include "npy.h"

#define REF_DIR VLE_SOURCE_DIR "/tests/data/mnist1d"
#define TOL 1e-12

/* ---- helpers -------------------------------------------------------------------------- */

static char dir[64];

static void mk_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/vle_mnist1d_XXXXXX");
  char *made = mkdtemp(dir);          /* not inside a criterion macro: they may evaluate twice */
  cr_assert_not_null(made);
}

static void rm_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  int rc = system(cmd);
  cr_expect_eq(rc, 0);
}

static char out[4096];   /* what the last vle_data call printed (stdout and stderr) */

/* Runs `vle_data mnist1d ARGS`; returns its exit status. */
static int vle_data(const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' mnist1d %s 2>&1", VLE_DATA_PATH, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static npy_array load(const char *path) {
  npy_array a;
  vle_error err;
  int rc = npy_read(path, &a, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  return a;
}

static const char *at(const char *d, const char *name) {
  static char bufs[4][256];
  static int i;
  char *p = bufs[i++ % 4];
  snprintf(p, 256, "%s/%s", d, name);
  return p;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The largest |a - b| over b's elements, a holding at least as many (b: a prefix of a). */
static double max_dev(const npy_array *a, const npy_array *b) {
  cr_assert_geq(a->count, b->count);
  double m = 0;
  for (size_t i = 0; i < b->count; i++) m = fmax(m, fabs(npy_get(a, i) - npy_get(b, i)));
  return m;
}

/* ---- the random stream ------------------------------------------------------------------- */

/* Matsumoto and Nishimura's mt19937ar.c: init_genrand(5489), then genrand_int32(). */
Test(stream, mt19937_reference_output) {
  mt_state s;
  mt_seed(&s, 5489);
  const uint32_t want[3] = { 3499211612u, 581869302u, 3890346734u };
  for (int i = 0; i < 3; i++) {
    uint32_t got = mt_next32(&s);            /* criterion's macros evaluate twice */
    cr_expect_eq(got, want[i], "output %d", i);
  }
}

/* np.random.seed(42); np.random.rand(2) -> [0.3745401188473625, 0.9507143064099162]. */
Test(stream, numpy_rand) {
  mt_state s;
  mt_seed(&s, 42);
  double a = mt_double(&s), b = mt_double(&s);
  cr_expect_eq(a, 0.3745401188473625);
  cr_expect_eq(b, 0.9507143064099162);
}

/* np.random.seed(42); np.random.randn(4): the polar method's pairs, second value first. */
Test(stream, numpy_randn) {
  mt_state s;
  mt_seed(&s, 42);
  const double want[4] = { 0.4967141530112327, -0.13826430117118466, 0.6476885381006925,
                           1.5230298564080254 };
  for (int i = 0; i < 4; i++) {
    double got = mt_gauss(&s);
    cr_expect_float_eq(got, want[i], 1e-15, "normal %d", i);
  }
}

/* np.random.seed(42); np.random.randint(0, 10, size=10). */
Test(stream, numpy_randint) {
  mt_state s;
  mt_seed(&s, 42);
  const int want[10] = { 6, 3, 7, 4, 6, 9, 2, 6, 7, 4 };
  for (int i = 0; i < 10; i++) {
    uint64_t got = mt_below(&s, 10);
    cr_expect_eq(got, (uint64_t)want[i], "draw %d", i);
  }
}

/* np.random.seed(42); np.random.permutation(10). */
Test(stream, numpy_permutation) {
  mt_state s;
  mt_seed(&s, 42);
  int64_t p[10];
  mt_permutation(&s, p, 10);
  const int64_t want[10] = { 8, 1, 5, 0, 7, 2, 9, 4, 3, 6 };
  for (int i = 0; i < 10; i++) cr_expect_eq(p[i], want[i], "index %d", i);
}

/* ---- the dataset ------------------------------------------------------------------------- */

Test(mnist1d, templates_match_published) {
  double t[M1D_CLASSES][M1D_TEMPLATE_LEN];
  m1d_templates(t);
  npy_array ref = load(REF_DIR "/templates.npy");
  cr_assert_eq(ref.count, (size_t)(M1D_CLASSES * M1D_TEMPLATE_LEN));
  for (size_t i = 0; i < ref.count; i++)
    cr_expect_leq(fabs(t[i / M1D_TEMPLATE_LEN][i % M1D_TEMPLATE_LEN] - npy_get(&ref, i)), 1e-15,
                  "template value %zu", i);
  npy_free(&ref);
}

/* Generates the default dataset at length L with the command and compares its first samples
 * with the published ones. */
static void check_published(int length) {
  mk_dir();
  char args[128], name[64];
  snprintf(args, sizeof args, "'%s/data' --length %d", dir, length);
  int rc = vle_data(args);
  cr_assert_eq(rc, 0, "%s", out);
  char data[128];
  snprintf(data, sizeof data, "%s/data", dir);
  const char *split[2] = { "train", "test" };
  const long count[2] = { 4000, 1000 };
  for (int s = 0; s < 2; s++) {
    snprintf(name, sizeof name, "x_%s.npy", split[s]);
    npy_array x = load(at(data, name));
    cr_assert_eq(x.dtype, NPY_F8);
    cr_assert(x.ndim == 3 && x.shape[0] == count[s] && x.shape[1] == length && x.shape[2] == 1,
              "%s: shape", name);
    snprintf(name, sizeof name, "x_%s_%d.npy", split[s], length);
    npy_array ref = load(at(REF_DIR, name));
    cr_assert_gt(ref.count, (size_t)(15 * length), "%s: too small to test", name);
    double dev = max_dev(&x, &ref);
    cr_expect_leq(dev, TOL, "%s: max deviation %g", name, dev);
    snprintf(name, sizeof name, "y_%s.npy", split[s]);
    npy_array y = load(at(data, name)), yref = load(at(REF_DIR, name));
    cr_assert_eq(y.dtype, NPY_I8);
    cr_assert(y.ndim == 1 && y.shape[0] == count[s]);
    for (size_t i = 0; i < yref.count; i++)
      cr_expect_eq(((int64_t *)y.data)[i], ((int64_t *)yref.data)[i], "%s[%zu]", name, i);
    npy_free(&x); npy_free(&ref); npy_free(&y); npy_free(&yref);
  }
  rm_dir();
}

Test(mnist1d, published_length_40) { check_published(40); }
Test(mnist1d, published_length_360) { check_published(360); }

/* Independent properties: balanced classes, a global mean of 0 and std of 1, the split. */
Test(mnist1d, balanced_and_standardised) {
  m1d_opts o = M1D_DEFAULTS;
  o.samples = 200;
  o.length = 25;
  m1d_data d;
  int rc = m1d_make(&o, &d);
  cr_assert_eq(rc, 0);
  cr_expect_eq(d.train, 160);
  int64_t per[M1D_CLASSES] = { 0 };
  for (int64_t i = 0; i < d.samples; i++) {
    cr_assert(d.y[i] >= 0 && d.y[i] < M1D_CLASSES);
    per[d.y[i]]++;
  }
  for (int c = 0; c < M1D_CLASSES; c++) cr_expect_eq(per[c], 20, "class %d", c);
  size_t n = (size_t)(d.samples * d.length);
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) s += d.x[i], ss += d.x[i] * d.x[i];
  cr_expect_leq(fabs(s / (double)n), 1e-12);
  cr_expect_leq(fabs(ss / (double)n - 1), 1e-12);
  m1d_free(&d);
}

/* The seed changes the data; the same seed gives the same bits. */
Test(mnist1d, seeded) {
  m1d_opts o = M1D_DEFAULTS;
  o.samples = 50;
  m1d_data a, b, c;
  int ra = m1d_make(&o, &a), rb = m1d_make(&o, &b);
  o.seed = 43;
  int rc = m1d_make(&o, &c);
  cr_assert(ra == 0 && rb == 0 && rc == 0);
  size_t n = (size_t)(a.samples * a.length);
  cr_expect_eq(memcmp(a.x, b.x, n * sizeof *a.x), 0);
  cr_expect_neq(memcmp(a.x, c.x, n * sizeof *a.x), 0);
  m1d_free(&a); m1d_free(&b); m1d_free(&c);
}

Test(mnist1d, sample_count_option) {
  mk_dir();
  char args[128];
  snprintf(args, sizeof args, "'%s' --samples 30 --length 7 --seed 0", dir);
  int rc = vle_data(args);
  cr_assert_eq(rc, 0, "%s", out);
  npy_array x = load(at(dir, "x_train.npy")), y = load(at(dir, "y_test.npy"));
  cr_expect(x.ndim == 3 && x.shape[0] == 24 && x.shape[1] == 7 && x.shape[2] == 1);
  cr_expect(y.ndim == 1 && y.shape[0] == 6);
  npy_free(&x); npy_free(&y);
  rm_dir();
}

/* ---- bad options ------------------------------------------------------------------------- */

/* ARGS (after the output directory DIR/out) fail with a message containing WANT, and DIR/out
 * is not created. */
static void expect_refused(const char *args, const char *want) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s/out' %s", dir, args);
  int rc = vle_data(cmd);
  cr_expect_neq(rc, 0, "accepted: %s", args);
  cr_expect(strstr(out, want), "%s: '%s' lacks '%s'", args, out, want);
  cr_expect_not(exists(at(dir, "out")), "%s: created the output directory", args);
}

Test(mnist1d, bad_options) {
  mk_dir();
  expect_refused("--length 0", "--length must be");
  expect_refused("--length -40", "--length must be");
  expect_refused("--length 40.5", "not an integer: 40.5");
  expect_refused("--length forty", "not an integer: forty");
  expect_refused("--length 100001", "--length must be");
  expect_refused("--samples 15", "multiple of 10");
  expect_refused("--samples 0", "multiple of 10");
  expect_refused("--samples 1e3", "not an integer");
  expect_refused("--samples 10000000 --length 100", "at most 2^28");
  expect_refused("--seed -1", "--seed must be");
  expect_refused("--seed 4294967296", "--seed must be");
  expect_refused("--seed 99999999999999999999", "not an integer");
  expect_refused("--lenght 360", "unknown option --lenght");
  expect_refused("--length", "--length needs a value");
  expect_refused("other", "one output directory expected");
  int rc = vle_data("");
  cr_expect_neq(rc, 0);
  cr_expect(strstr(out, "usage"), "%s", out);
  rm_dir();
}

Test(mnist1d, output_not_a_directory) {
  mk_dir();
  FILE *f = fopen(at(dir, "file"), "w");
  cr_assert_not_null(f);
  fclose(f);
  char args[128];
  snprintf(args, sizeof args, "'%s/file'", dir);
  int rc = vle_data(args);
  cr_expect_neq(rc, 0);
  cr_expect(strstr(out, "not a directory"), "%s", out);
  snprintf(args, sizeof args, "'%s/missing/out'", dir);
  rc = vle_data(args);
  cr_expect_neq(rc, 0);
  cr_expect(strstr(out, "No such file"), "%s", out);
  rm_dir();
}

/* A write that fails half-way (the second file cannot be created) leaves no file behind. */
Test(mnist1d, failed_write_leaves_nothing) {
  mk_dir();
  int blocked = mkdir(at(dir, "x_test.npy.tmp"), 0777);   /* blocks the second file */
  cr_assert_eq(blocked, 0);
  char args[128];
  snprintf(args, sizeof args, "'%s' --samples 20", dir);
  int rc = vle_data(args);
  cr_expect_neq(rc, 0);
  cr_expect(strstr(out, "x_test.npy.tmp"), "%s", out);
  const char *names[] = { "x_train.npy", "x_train.npy.tmp", "x_test.npy", "y_train.npy",
                          "y_train.npy.tmp", "y_test.npy", "y_test.npy.tmp" };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    cr_expect_not(exists(at(dir, names[i])), "%s was left behind", names[i]);
  rm_dir();
}
