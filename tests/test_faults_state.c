/*
 * test_faults_state.c - crafted state files (issue 15, defect 1). The checksum catches
 * accidents; these files carry a valid checksum over fields a loader must not trust: a
 * negative or huge step counter, a degenerate RNG, Adam step counts that cannot be, NaN
 * values. Each must be refused with a message naming the field, leaving the sim unchanged,
 * and `vlec run --load-state` must exit 1 without a run directory (never a signal death or
 * recordings of garbage).
 */
#include "faults_util.h"

TestSuite(crafted, .init = ru_setup, .fini = ru_teardown);

/* FNV-1a 64, as docs/runtime.md specifies the state file's checksum. */
static uint64_t fnv(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* A state file in memory, with the offsets of its fields (docs/runtime.md). */
typedef struct sf {
  unsigned char *p;
  size_t n;
  size_t step, rng, opt_t, bufs, doubles;   /* offsets */
  uint32_t es;
  uint64_t nbufs, nlearn, n_opt, n_gsum, buf_bytes;
} sf;

static uint64_t u64_at(const sf *f, size_t off) {
  uint64_t v;
  memcpy(&v, f->p + off, 8);
  return v;
}

static void sf_parse(sf *f) {
  memcpy(&f->es, f->p + 12, 4);
  size_t o = 16;
  o += 8 + u64_at(f, o);             /* name */
  o += 8 + u64_at(f, o);             /* hash */
  o += 8;                            /* batch */
  f->nbufs = u64_at(f, o); f->nlearn = u64_at(f, o + 8);
  f->n_opt = u64_at(f, o + 16); f->n_gsum = u64_at(f, o + 24);
  o += 32;
  f->buf_bytes = 0;
  for (uint64_t i = 0; i < f->nbufs; i++) f->buf_bytes += u64_at(f, o + 8 * i) * f->es;
  o += 8 * f->nbufs;
  f->step = o;
  f->rng = o + 8;
  f->opt_t = f->rng + 32;
  f->bufs = f->opt_t + 8 * f->nlearn;
  f->doubles = f->bufs + f->buf_bytes;
  cr_assert_eq(f->doubles + 8 * (f->n_opt + f->n_gsum) + 8, f->n, "layout of docs/runtime.md");
}

static void sf_read(sf *f, const char *path) {
  FILE *fp = fopen(path, "rb");
  cr_assert(fp);
  fseek(fp, 0, SEEK_END);
  f->n = (size_t)ftell(fp);
  rewind(fp);
  f->p = malloc(f->n);
  cr_assert_eq(fread(f->p, 1, f->n, fp), f->n);
  fclose(fp);
  sf_parse(f);
}

/* Writes the file back with a valid checksum: only the loader's checks can refuse it. */
static void sf_write(sf *f, const char *path) {
  uint64_t sum = fnv(f->p, f->n - 8);
  memcpy(f->p + f->n - 8, &sum, 8);
  FILE *fp = fopen(path, "wb");
  cr_assert(fp);
  fwrite(f->p, 1, f->n, fp);
  fclose(fp);
}

static void set_i64(sf *f, size_t off, int64_t v) { memcpy(f->p + off, &v, 8); }

static ld_model model;

/* A learning sim of faults.vle, batch 2, 5 steps done, saved to state.bin; returns it. */
static vle_sim *saved(sf *f) {
  ru_open(&model, ru_src("tests/data/faults.vle"));
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.batch = 2;
  o.seed = 3;
  vle_error err;
  vle_sim *s = vle_sim_new(model.model, &o, &err);
  cr_assert(s, "%s", err.msg);
  cr_assert_eq(vle_sim_step(s, 5, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_save(s, ru_at("state.bin"), &err), 0, "%s", err.msg);
  sf_read(f, ru_at("state.bin"));
  return s;
}

/* Loading the crafted file fails naming `want`; the sim keeps its 5 steps and values. */
static void expect_refused(vle_sim *s, sf *f, const char *want) {
  sf_write(f, ru_at("bad.bin"));
  double before[4], after[4];
  vle_error err;
  cr_assert_eq(vle_sim_get(s, "W", before, 4, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_load(s, ru_at("bad.bin"), &err), -1, "the crafted state loaded");
  cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
  cr_assert_eq(vle_sim_steps_done(s), 5);
  cr_assert_eq(vle_sim_get(s, "W", after, 4, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(before, after, sizeof before), 0, "a refused load leaves the sim as it was");
  free(f->p);
  vle_sim_free(s);
  ld_close(&model);
}

Test(crafted, intact_file_loads) {      /* the baseline: the crafting itself breaks nothing */
  sf f;
  vle_sim *s = saved(&f);
  sf_write(&f, ru_at("same.bin"));
  vle_error err;
  cr_assert_eq(vle_sim_load(s, ru_at("same.bin"), &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_steps_done(s), 5);
  free(f.p);
  vle_sim_free(s);
  ld_close(&model);
}

Test(crafted, negative_step) {
  sf f;
  vle_sim *s = saved(&f);
  set_i64(&f, f.step, -1000);
  expect_refused(s, &f, "step counter -1000 at byte");
}

Test(crafted, huge_step) {
  sf f;
  vle_sim *s = saved(&f);
  set_i64(&f, f.step, INT64_MAX - 2);
  expect_refused(s, &f, "step counter 9223372036854775805 at byte");
}

Test(crafted, zero_rng) {
  sf f;
  vle_sim *s = saved(&f);
  memset(f.p + f.rng, 0, 32);
  expect_refused(s, &f, "RNG state at byte");
}

Test(crafted, optimizer_steps_beyond_the_step_counter) {
  sf f;
  vle_sim *s = saved(&f);
  cr_assert(f.nlearn >= 1);
  set_i64(&f, f.opt_t, 6);
  expect_refused(s, &f, "optimizer step count 6 of learn group 0");
}

Test(crafted, negative_optimizer_steps) {
  sf f;
  vle_sim *s = saved(&f);
  set_i64(&f, f.opt_t, -1);
  expect_refused(s, &f, "optimizer step count -1 of learn group 0");
}

Test(crafted, all_nan) {
  sf f;
  vle_sim *s = saved(&f);
  memset(f.p + f.bufs, 0xff, f.buf_bytes);      /* every real: a NaN */
  expect_refused(s, &f, "is NaN: a state must be finite");
}

Test(crafted, one_inf_in_a_weight) {
  sf f;
  vle_sim *s = saved(&f);
  /* the last real of the buffers: overwrite each buffer's last element is overkill; find W */
  int b = vle_model_find_buffer(model.model, "W");
  size_t off = f.bufs;
  for (int i = 0; i < b; i++) off += vle_sim_count(s, vle_model_buffer(model.model, i)->name) * f.es;
  double inf = INFINITY;
  memcpy(f.p + off + f.es, &inf, 8);
  expect_refused(s, &f, "W[1]");
}

/* End to end: the crafted step through `vlec run` with a data file: exit 1, a clear message,
 * no run directory (before: a SIGSEGV, or recordings of heap garbage with exit 0). */
Test(crafted, vlec_run_refuses_negative_step) {
  double x[40];
  for (int i = 0; i < 40; i++) x[i] = 0.1 * i;
  int64_t shape[2] = { 20, 2 };
  vle_error err;
  cr_assert_eq(npy_write(ru_at("x.npy"), NPY_F8, 2, shape, x, &err), 0, "%s", err.msg);
  char cmd[2048], out[4096];
  const char *common = "--batch 2 --record h -q";
  snprintf(cmd, sizeof cmd, "'%s' run '%s' %s --input x=%s --steps 5 --save-state %s --out %s "
           "2>&1", VLEC_PATH, ru_src("tests/data/faults.vle"), common, ru_at("x.npy"),
           ru_at("good.bin"), ru_at("first"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  sf f;
  sf_read(&f, ru_at("good.bin"));
  set_i64(&f, f.step, -1000);
  sf_write(&f, ru_at("bad.bin"));
  free(f.p);
  snprintf(cmd, sizeof cmd, "'%s' run '%s' %s --input x=%s --load-state %s --out %s 2>&1",
           VLEC_PATH, ru_src("tests/data/faults.vle"), common, ru_at("x.npy"), ru_at("bad.bin"),
           ru_at("out"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "step counter -1000"), "%s", out);
  cr_assert_eq(access(ru_at("out"), F_OK), -1, "no run directory for a refused state");
}

/* A state saved by a JIT run of the .vle, loaded into the .so of the same model: refused
 * with the reason (before: "other options, e.g. accumulate_grads?"). */
Test(crafted, jit_state_into_so_names_the_cause) {
  char cmd[2048], out[4096];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps 3 --save-state %s --out %s -q 2>&1", VLEC_PATH,
           ru_src("tests/data/faults.vle"), ru_at("jit.bin"), ru_at("a"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 0, "%s", out);
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps 3 --load-state %s --out %s -q 2>&1", VLEC_PATH,
           fu_so(), ru_at("jit.bin"), ru_at("b"));
  cr_assert_eq(tu_sh(cmd, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "resume with the same kind of model (the .vle, or the .so)"), "%s", out);
}

/* ---- defect 5: --load-state with --dt or --set ------------------------------------------- */

/* vlec run on the shared model with a state saved at dt = 0.01, a = (0.5, 0.5); returns the
 * status of the resumed run given `extra`. */
static int resume_with(const char *extra, char *out, size_t cap) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --steps 3 --save-state %s --out %s -q 2>&1 && "
           "'%s' run '%s' --steps 3 --load-state %s %s --record t --out %s -q 2>&1", VLEC_PATH,
           fu_so(), ru_at("s.bin"), ru_at("a"), VLEC_PATH, fu_so(), ru_at("s.bin"), extra,
           ru_at("b"));
  return tu_sh(cmd, out, cap);
}

Test(crafted, resume_refuses_another_dt) {
  char out[4096];
  cr_assert_eq(resume_with("--dt 0.02", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "--dt 0.02 conflicts with the loaded state's dt = 0.01"), "%s", out);
  cr_assert_eq(access(ru_at("b"), F_OK), -1);
}

Test(crafted, resume_refuses_another_const) {
  char out[4096];
  cr_assert_eq(resume_with("--set a=1,3", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "--set a conflicts with the loaded state's a"), "%s", out);
}

/* The same values pass, and t goes on from the saved step: 0.03, 0.04, 0.05. */
Test(crafted, resume_with_the_same_values) {
  char out[4096];
  cr_assert_eq(resume_with("--dt 0.01 --set a=0.5,0.5 --set gamma=0", out, sizeof out), 0, "%s", out);
  npy_array t = ru_npy("b/t.npy");
  cr_assert_eq(t.count, 3);
  for (int k = 0; k < 3; k++)
    cr_assert_float_eq(ru_data(&t)[k], 0.01 * (3 + k), 1e-15, "t[%d] = %g", k, ru_data(&t)[k]);
  npy_free(&t);
}

/* Through the C API: a sim made with dt = 0.02 that loads a dt = 0.01 state goes on with
 * 0.01 (before: t = step * 0.02 while the buffers said 0.01). */
Test(crafted, load_takes_the_saved_dt) {
  vle_error err;
  vle_model *m = vle_model_load_so(fu_so(), &err);
  cr_assert(m, "%s", err.msg);
  vle_sim_options o;
  vle_sim_options_init(&o);
  vle_sim *a = vle_sim_new(m, &o, &err);
  cr_assert_eq(vle_sim_step(a, 4, &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_save(a, ru_at("s.bin"), &err), 0, "%s", err.msg);
  o.dt = 0.02;
  vle_sim *b = vle_sim_new(m, &o, &err);
  cr_assert_eq(vle_sim_load(b, ru_at("s.bin"), &err), 0, "%s", err.msg);
  cr_assert_eq(vle_sim_dt(b), 0.01);
  cr_assert_float_eq(vle_sim_time(b), 0.04, 1e-15);
  vle_sim_free(a);
  vle_sim_free(b);
  vle_model_free(m);
}
