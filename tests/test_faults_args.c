/*
 * test_faults_args.c - numbers and files given on the command line (issue 15, defects 8, 9):
 * integers are decimal and strictly digits (no octal 010, no " -1" that strtoull wraps to
 * 2^64 - 1), a --time too long for the step counter says so, a directory or a FIFO given as
 * a file is refused by its type (never a hang or a "truncated" file), and .npy files of every
 * integer dtype are read.
 */
#include <sys/stat.h>

#include "run_util.h"

TestSuite(args, .init = ru_setup, .fini = ru_teardown);

static int parse(rn_options *o, const char *opt, const char *val) {
  char *argv[] = { "run", "m.vle", (char *)opt, (char *)val };
  char msg[512];
  FILE *log = fmemopen(msg, sizeof msg, "w");
  int rc = rn_parse_args(4, argv, o, false, log);
  fclose(log);
  return rc;
}

Test(args, seed_is_decimal) {
  rn_options o;
  cr_assert_eq(parse(&o, "--seed", "010"), 0);
  cr_assert_eq(o.seed, 10, "--seed 010 is %llu", (unsigned long long)o.seed);
  rn_options_free(&o);
}

Test(args, signs_and_blanks_refused) {
  const char *cases[][2] = {
    { "--seed", " -1" }, { "--seed", "-1" }, { "--seed", "+1" }, { "--seed", "0x10" },
    { "--seed", "18446744073709551616" }, { "--steps", " 5" }, { "--steps", "+5" },
    { "--batch", " 2" }, { "--dt", " 0.1" }, { "--time", "\t1" }, { "--seed", "1 " },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    rn_options o;
    cr_expect_eq(parse(&o, cases[i][0], cases[i][1]), 2, "%s '%s' accepted", cases[i][0], cases[i][1]);
    rn_options_free(&o);
  }
}

static ld_model model;

static int run(const char *a, const char *b, const char *c, const char *d) {
  ru_open(&model, ru_src("tests/data/faults.vle"));
  int rc = ru_vlec(&model, false, a, b, c, d, "--out", ru_at("out"), "-q", NULL);
  ld_close(&model);
  return rc;
}

Test(args, time_beyond_the_step_counter) {
  cr_assert_eq(run("--time", "1e300", NULL, NULL), 1, "%s", ru_log);
  cr_assert(strstr(ru_log, "--time 1e+300 is 1e+302 steps of dt = 0.01"), "%s", ru_log);
  cr_assert_eq(access(ru_at("out"), F_OK), -1);
}

Test(args, directory_as_input) {
  cr_assert_eq(mkdir(ru_at("d.npy"), 0700), 0);
  char kv[300];
  snprintf(kv, sizeof kv, "x=%s", ru_at("d.npy"));
  cr_assert_eq(run("--steps", "2", "--input", kv), 1, "%s", ru_log);
  cr_assert(strstr(ru_log, "d.npy: is a directory, not a regular file"), "%s", ru_log);
}

Test(args, directory_as_state) {
  cr_assert_eq(mkdir(ru_at("s.bin"), 0700), 0);
  cr_assert_eq(run("--steps", "2", "--load-state", ru_at("s.bin")), 1, "%s", ru_log);
  cr_assert(strstr(ru_log, "s.bin: is a directory, not a regular file"), "%s", ru_log);
}

/* A FIFO with no writer: refused at once (before: blocked forever in open). The hang guard
 * is the test's own timeout: `timeout 60` around the child. */
Test(args, fifo_as_input_state_or_model) {
  cr_assert_eq(mkfifo(ru_at("f.csv"), 0600), 0);
  cr_assert_eq(mkfifo(ru_at("f.bin"), 0600), 0);
  cr_assert_eq(mkfifo(ru_at("f.vle"), 0600), 0);
  cr_assert_eq(mkfifo(ru_at("f.so"), 0600), 0);
  const char *cases[][2] = {
    { "m", "--input x=F/f.csv" }, { "m", "--load-state F/f.bin" }, { "F/f.vle", "" },
    { "F/f.so", "" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char model[300], args[300], cmd[1024], out[4096];
    snprintf(model, sizeof model, "%s", !strcmp(cases[i][0], "m") ? ru_src("tests/data/faults.vle") : ru_at(cases[i][0] + 2));
    snprintf(args, sizeof args, "%s", cases[i][1]);
    char *f = strstr(args, "F/");
    if (f) snprintf(f, sizeof args - (size_t)(f - args), "%s", ru_at(cases[i][1] + (f - args) + 2));
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' run '%s' --steps 2 %s --out %s -q 2>&1", VLEC_PATH,
             model, args, ru_at("out"));
    cr_expect_eq(tu_sh(cmd, out, sizeof out), 1, "%s %s: %s", model, args, out);
    cr_expect(strstr(out, "is a FIFO, not a regular file"), "%s %s: %s", model, args, out);
  }
}

/* A .npy written byte by byte: NumPy's header for descr and shape, then the data. */
static void raw_npy(const char *rel, const char *descr, const char *shape, const void *data,
                    size_t n) {
  char hdr[118];
  int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  memset(hdr + k, ' ', sizeof hdr - (size_t)k - 1);
  hdr[sizeof hdr - 1] = '\n';
  FILE *f = fopen(ru_at(rel), "wb");
  unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, sizeof hdr, 0 };
  fwrite(pre, 1, 10, f);
  fwrite(hdr, 1, sizeof hdr, f);
  fwrite(data, 1, n, f);
  fclose(f);
}

Test(args, every_integer_dtype) {
  int8_t i1[2] = { -3, 7 };
  uint16_t u2[2] = { 3, 65535 };
  uint32_t u4[2] = { 3, 4000000000u };
  uint64_t u8[2] = { 3, (uint64_t)1 << 40 };
  struct { const char *descr; const void *data; double second; } cases[] = {
    { "|i1", i1, -3 }, { "<u2", u2, 65535 }, { "<u4", u4, 4e9 }, { "<u8", u8, 1099511627776.0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t es = i == 0 ? 1 : i == 1 ? 2 : i == 2 ? 4 : 8;
    raw_npy("a.npy", cases[i].descr, "(2,)", cases[i].data, 2 * es);
    npy_array a;
    vle_error err;
    cr_expect_eq(npy_read(ru_at("a.npy"), &a, &err), 0, "%s: %s", cases[i].descr, err.msg);
    if (a.data == NULL) continue;
    double want[2] = { i == 0 ? -3 : 3, i == 0 ? 7 : cases[i].second };
    cr_expect_eq(npy_get(&a, 0), want[0], "%s", cases[i].descr);
    cr_expect_eq(npy_get(&a, 1), want[1], "%s", cases[i].descr);
    npy_free(&a);
  }
}

/* ---- defect 10: memory needed is checked before it is allocated ------------------------- */

Test(args, memory_bound_refuses_before_allocating) {
  ru_open(&model, ru_src("tests/data/faults.vle"));
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 1000;
  o.memory_limit = 4096;                  /* bytes: far less than 1000 batch elements */
  vle_error err;
  vle_sim *s = vle_sim_new(model.model, &o, &err);
  cr_assert_null(s, "a sim beyond the bound was made");
  cr_assert(strstr(err.msg, "model 'faults' at batch 1000 needs "), "%s", err.msg);
  cr_assert(strstr(err.msg, "more than the 0 MB allowed"), "%s", err.msg);
  o.memory_limit = SIZE_MAX;              /* no bound */
  s = vle_sim_new(model.model, &o, &err);
  cr_assert(s, "%s", err.msg);
  vle_sim_free(s);
  ld_close(&model);
}

Test(args, max_memory_option) {
  cr_assert_eq(run("--batch", "1000000", "--max-memory", "100"), 1, "%s", ru_log);
  cr_assert(strstr(ru_log, "more than the 105 MB allowed; use a smaller --batch, or allow it "
                   "with --max-memory MB"), "%s", ru_log);
  cr_assert_eq(access(ru_at("out"), F_OK), -1);
}
