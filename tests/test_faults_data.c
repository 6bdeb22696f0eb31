/*
 * test_faults_data.c - the fault-injection campaign over inputs (issue 15): hundreds of
 * corrupt .npy, CSV and state files and bad option values fed to `vlec run` on the shared
 * built model (loaded once; each case runs rn_main, the code behind the command line, in a
 * forked child with a 30 s alarm as the hang guard). Every case must end with a documented
 * status, never a signal: 1 and no output directory for a refused input, 2 for a usage
 * error, or 0 with complete outputs where a corruption happens to leave a valid file (a
 * flipped padding byte of a .npy header).
 */
#include <jansson.h>

#include "faults_util.h"

TestSuite(data, .init = ru_setup, .fini = ru_teardown);

static vle_model *model;

static void load_model(void) {
  vle_error err;
  model = vle_model_load_so(fu_so(), &err);
  cr_assert(model, "%s", err.msg);
}

/* `vlec run MODEL args...` in process (rn_parse_args + rn_main), messages discarded. */
static int vlec_main(const void *arg) {
  char *const *args = arg;
  char *argv[32];
  int argc = 0;
  argv[argc++] = "run";
  argv[argc++] = "model.so";
  for (; *args && argc < 31; args++) argv[argc++] = *args;
  alarm(30);
  FILE *log = fopen("/dev/null", "w");
  rn_options o;
  int rc = rn_parse_args(argc, argv, &o, false, log);
  if (rc == 0) rc = rn_main(model, &o, log);
  return rc;
}

/* One case: the documented outcomes only. */
static void expect_outcome(const char *what, char *const *args, int steps) {
  int rc = fu_fork(vlec_main, args);
  cr_expect(rc == 0 || rc == 1 || rc == 2, "%s: %s %d", what, rc >= 1000 ? "signal" : "status",
            rc >= 1000 ? rc - 1000 : rc);
  if (rc == 0) {
    npy_array h;
    vle_error err;
    cr_expect_eq(npy_read(ru_at("out/h.npy"), &h, &err), 0, "%s: ran, but h.npy: %s", what, err.msg);
    if (h.data) cr_expect_eq(h.shape[1], steps, "%s: h.npy incomplete", what);
    npy_free(&h);
    cr_expect_eq(access(ru_at("out/run.json"), F_OK), 0, "%s: ran, no run.json", what);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ru_at("out"));
    cr_assert_eq(system(cmd), 0);
  } else {
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "%s: refused (%d) but wrote outputs", what, rc);
  }
}

/* The input x for 20 steps, [20, 2] float64. */
static unsigned char *valid_npy(size_t *n) {
  double x[40];
  for (int i = 0; i < 40; i++) x[i] = 0.05 * i;
  int64_t shape[2] = { 20, 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("x.npy"), NPY_F8, 2, shape, x, &err), 0, "%s", err.msg);
  return fu_slurp(ru_at("x.npy"), n);
}

static void run_with_input(const char *what, const char *file) {
  char kv[300];
  snprintf(kv, sizeof kv, "x=%s", file);
  char *args[] = { "--input", kv, "--steps", "5", "--record", "h", "--out", (char *)ru_at("out"),
                   "-q", NULL };
  expect_outcome(what, args, 5);
}

/* Every byte of the header flipped (128 cases). */
Test(data, npy_header_flips, .timeout = 240) {
  load_model();
  size_t n;
  unsigned char *p = valid_npy(&n);
  for (size_t i = 0; i < 128; i++) {
    p[i] ^= 0x10;
    fu_spit(ru_at("bad.npy"), p, n);
    p[i] ^= 0x10;
    char what[64];
    snprintf(what, sizeof what, "npy header byte %zu flipped", i);
    run_with_input(what, ru_at("bad.npy"));
  }
  free(p);
}

/* The file cut at every 9th length (50 cases): always refused. */
Test(data, npy_truncations, .timeout = 240) {
  load_model();
  size_t n;
  unsigned char *p = valid_npy(&n);
  for (size_t len = 0; len < n; len += 9) {
    fu_spit(ru_at("cut.npy"), p, len);
    char what[64];
    snprintf(what, sizeof what, "npy cut at %zu of %zu bytes", len, n);
    char kv[300];
    snprintf(kv, sizeof kv, "x=%s", ru_at("cut.npy"));
    char *args[] = { "--input", kv, "--steps", "5", "--out", (char *)ru_at("out"), "-q", NULL };
    int rc = fu_fork(vlec_main, args);
    cr_expect_eq(rc, 1, "%s: status %d", what, rc);
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "%s: outputs written", what);
  }
  free(p);
}

/* Malformed CSV (16 cases): refused. */
Test(data, csv_corruptions, .timeout = 120) {
  load_model();
  /* the length of each literal, embedded NUL bytes included */
#define CSV_CASE(lit) { lit, sizeof lit - 1 }
  static const struct { const char *text; size_t len; } cases[] = {
    CSV_CASE("1.0,2.O\n3,4\n5,6\n7,8\n9,0\n"), CSV_CASE("x,2\n1,2\n3,4\n5,6\n7,8\n9,0\n"),
    CSV_CASE("\0" "1,2\n3,4\n5,6\n7,8\n9,0\n"), CSV_CASE("1,2\n3,4\0\n5,6\n7,8\n9,0\n"),
    CSV_CASE("1,2\n3\n5,6\n7,8\n9,0\n"), CSV_CASE("1,2,3\n"),
    CSV_CASE(""), CSV_CASE("\n\n\n"),
    CSV_CASE("1,2\n3,nan\n5,6\n7,8\n9,0\n"), CSV_CASE("1,2\n3,inf\n5,6\n7,8\n9,0\n"),
    CSV_CASE("1,2\n3,1e999\n5,6\n7,8\n9,0\n"), CSV_CASE("1,2\n,\n5,6\n7,8\n9,0\n"),
    CSV_CASE("1;2\n3;4\n5;6\n7;8\n9;0\n"), CSV_CASE("# only a comment\n"),
    CSV_CASE("1,2\n3,4\n"), CSV_CASE("a,b\n"),
  };
#undef CSV_CASE

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fu_spit(ru_at("bad.csv"), cases[i].text, cases[i].len);
    char kv[300], what[64];
    snprintf(kv, sizeof kv, "x=%s", ru_at("bad.csv"));
    snprintf(what, sizeof what, "CSV case %zu", i);
    char *args[] = { "--input", kv, "--steps", "5", "--out", (char *)ru_at("out"), "-q", NULL };
    int rc = fu_fork(vlec_main, args);
    cr_expect_eq(rc, 1, "%s: status %d", what, rc);
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "%s: outputs written", what);
  }
}

/* A state file with one bit flipped at 48 offsets: the checksum or the field checks refuse
 * every one. */
Test(data, state_flips, .timeout = 240) {
  load_model();
  char *first[] = { "--steps", "5", "--save-state", (char *)ru_at("s.bin"), "--out",
                    (char *)ru_at("first"), "-q", NULL };
  cr_assert_eq(fu_fork(vlec_main, first), 0);
  size_t n;
  unsigned char *p = fu_slurp(ru_at("s.bin"), &n);
  for (int i = 0; i < 48; i++) {
    size_t at = (size_t)i * (n - 1) / 47;
    p[at] ^= 0x10;
    fu_spit(ru_at("bad.bin"), p, n);
    p[at] ^= 0x10;
    char what[64];
    snprintf(what, sizeof what, "state byte %zu of %zu flipped", at, n);
    char *args[] = { "--steps", "5", "--load-state", (char *)ru_at("bad.bin"), "--out",
                     (char *)ru_at("out"), "-q", NULL };
    int rc = fu_fork(vlec_main, args);
    cr_expect_eq(rc, 1, "%s: status %d", what, rc);
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "%s: outputs written", what);
  }
  free(p);
}

/* Option values that are not what the option takes (24 cases): usage errors, status 2. */
Test(data, bad_option_values) {
  load_model();
  static const char *cases[][2] = {
    { "--steps", "-1" }, { "--steps", "1e3" }, { "--steps", " 5" }, { "--steps", "" },
    { "--seed", "-1" }, { "--seed", " -1" }, { "--seed", "0x10" }, { "--seed", "99999999999999999999" },
    { "--batch", "0" }, { "--batch", "16777217" }, { "--batch", "two" }, { "--dt", "0" },
    { "--dt", "-0.1" }, { "--dt", "nan" }, { "--dt", "inf" }, { "--time", "0" },
    { "--time", "1e999" }, { "--errors", "backprop" }, { "--window", "0" },
    { "--check-every", "-1" }, { "--set", "a" }, { "--set", "a=1,,2" }, { "--init", "W" },
    { "--record-every", "0" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *args[] = { (char *)cases[i][0], (char *)cases[i][1], "--out", (char *)ru_at("out"),
                     "-q", NULL };
    int rc = fu_fork(vlec_main, args);
    cr_expect_eq(rc, 2, "%s '%s': status %d", cases[i][0], cases[i][1], rc);
    cr_expect_eq(access(ru_at("out"), F_OK), -1, "%s '%s': outputs written", cases[i][0], cases[i][1]);
  }
}
