/* dt_check.c - see dt_check.h. */
#include "dt_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dt_ref.h"
#include "dt_load.h"
#include "npy.h"
#include "pipeline.h"
#include "run.h"
#include "vle.h"

enum { NMAX = DTG_MAXPOP * DTG_MAXN, PMAX = DTG_MAXN * DTG_MAXN };
/* Time spans (in model time units) of the checks, and the steps of the rule check. */
#define T_FORWARD 1.0
#define T_ADJOINT 1.5
#define T_LOCAL 1.0
enum { K_RULE = 60 };
static int steps(const dtg_model *m, double T) { return (int)lround(T / m->dt); }

const char *dtc_name(dtc_kind k) {
  static const char *n[DTC_N] = { "forward", "adjoint", "equal", "local", "rule" };
  if ((unsigned)k >= DTC_N) abort();
  return n[k];
}

/* Records the first failure; later ones only flip ok. */
static void fail(dtc_result *r, dtc_kind k, const char *fmt, ...) {
  r->ok[k] = false;
  if (r->msg[0]) return;
  size_t n = (size_t)snprintf(r->msg, sizeof r->msg, "%s: ", dtc_name(k));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg + n, sizeof r->msg - n, fmt, ap);
  va_end(ap);
}

/* Cosine of a and b, and |a - b| / |b|. */
static void compare(const double *a, const double *b, int n, double *cosine, double *rel) {
  double ab = 0, aa = 0, bb = 0, dd = 0;
  for (int i = 0; i < n; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
    dd += (a[i] - b[i]) * (a[i] - b[i]);
  }
  *cosine = aa == 0 && bb == 0 ? 1 : ab / sqrt(aa * bb);
  *rel = bb == 0 ? sqrt(dd) : sqrt(dd / bb);
}

/* ---- sims ------------------------------------------------------------------------------- */

typedef struct sim_cfg {
  const char *errors;
  double gamma, dt;      /* NaN: the model's */
  bool accumulate;
  bool tau_r_is_tau_m;   /* write tau_m into tau_r (a = q b) */
} sim_cfg;

static int set_param(vle_sim *s, const dtg_param *p, const double *v, vle_error *err) {
  size_t n = (size_t)(p->rows * p->cols);
  if (vle_sim_count(s, p->name) != n) {
    snprintf(err->msg, sizeof err->msg, "parameter %s: vle holds %zu values, the model %zu",
             p->name, vle_sim_count(s, p->name), n);
    return -1;
  }
  return vle_sim_set(s, p->name, v, n, err);
}

/* A sim holding the description's parameter values. */
static vle_sim *new_sim(const vle_model *vm, const dtg_model *m, const sim_cfg *c, vle_error *err) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = c->errors;
  o.gamma = c->gamma;
  o.dt = c->dt;
  o.learn = false;
  o.accumulate_grads = c->accumulate;
  vle_sim *s = vle_sim_new(vm, &o, err);
  if (!s) return NULL;
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    const double *v = p->v;
    if (c->tau_r_is_tau_m && p->kind == DTG_P_TAU_R) v = m->par[m->pop[p->pop].tau_m].v;
    if (set_param(s, p, v, err)) { vle_sim_free(s); return NULL; }
  }
  return s;
}

/* Every population's buffer `suffix` ("", "'", ".rate", ".error") into one flat vector. */
static int get_all(vle_sim *s, const dtg_model *m, const char *suffix, double *out, vle_error *err) {
  int off[DTG_MAXPOP];
  dtr_layout(m, off);
  for (int p = 0; p < m->npop; p++) {
    char name[32];
    snprintf(name, sizeof name, "%s%s", m->pop[p].name, suffix);
    if (vle_sim_get(s, name, out + off[p], (size_t)m->pop[p].n, err)) return -1;
  }
  return 0;
}

/* ---- FORWARD ------------------------------------------------------------------------------ */

static double worst_rel(const double *a, const double *b, int n) {
  double w = 0;
  for (int i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]) / fmax(1, fabs(b[i])));
  return w;
}

static void check_forward(const vle_model *vm, const dtg_model *m, dtc_result *r) {
  int off[DTG_MAXPOP], N = dtr_layout(m, off);
  int K_FORWARD = steps(m, T_FORWARD);
  double *ref = malloc(3 * (size_t)K_FORWARD * N * sizeof *ref), *U = ref,
         *UD = ref + K_FORWARD * N, *R = ref + 2 * K_FORWARD * N;
  dtr_forward(m, K_FORWARD, m->dt, U, UD, R);
  vle_error err;
  sim_cfg c = { "instantaneous", 0, NAN, false, false };
  vle_sim *s = new_sim(vm, m, &c, &err);
  r->ran[DTC_FORWARD] = true;
  double got[NMAX], w = 0;
  for (int k = 0; s && k < K_FORWARD; k++) {
    static const char *what[3] = { "u", "u'", "rate" };
    double dev[3];
    if (get_all(s, m, "", got, &err)) break;
    dev[0] = worst_rel(got, U + k * N, N);
    if (vle_sim_step(s, 1, &err) || get_all(s, m, "'", got, &err)) break;
    dev[1] = worst_rel(got, UD + k * N, N);
    if (get_all(s, m, ".rate", got, &err)) break;
    dev[2] = worst_rel(got, R + k * N, N);
    for (int j = 0; j < 3; j++) {
      if (dev[j] > DTC_TOL_FORWARD && w <= DTC_TOL_FORWARD)
        fail(r, DTC_FORWARD, "%s at step %d differs by %.3g", what[j], k, dev[j]);
      w = fmax(w, dev[j]);
    }
    err.msg[0] = 0;
  }
  if (!s || err.msg[0]) fail(r, DTC_FORWARD, "vle: %s", err.msg);
  r->dev[DTC_FORWARD] = w;
  vle_sim_free(s);
  free(ref);
}

/* ---- ADJOINT: `vlec grad --errors adjoint` in process ------------------------------------ */

static int write_inits(const dtg_model *m, const char *dir, char **argv, int argc) {
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/init_%s.npy", dir, p->name);
    int64_t shape[2] = { p->rows, p->cols };
    vle_error err;
    if (npy_write(path, NPY_F8, p->kind == DTG_P_WEIGHT ? 2 : 1, shape, p->v, &err)) return -1;
    argv[argc++] = "--init";
    size_t len = strlen(p->name) + strlen(path) + 2;
    argv[argc] = malloc(len);
    snprintf(argv[argc++], len, "%s=%s", p->name, path);
  }
  return argc;
}

static int vlec_grad(const vle_model *vm, const dtg_model *m, const char *dir, char *log,
                     size_t loglen) {
  char *argv[2 * DTG_MAXPAR + 16], nsteps[16], out[512];
  snprintf(nsteps, sizeof nsteps, "%d", steps(m, T_ADJOINT));
  snprintf(out, sizeof out, "%s/grad", dir);
  int argc = 0;
  const char *fixed[] = { "grad", "model.vle", "--errors", "adjoint", "--steps", nsteps, "--out",
                          out, "-q" };
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) argv[argc++] = (char *)fixed[i];
  int first = argc;
  argc = write_inits(m, dir, argv, argc);
  FILE *f = fmemopen(log, loglen, "w");
  int rc = argc < 0 ? -1 : 1;
  if (argc >= 0) {
    rn_options o;
    rc = rn_parse_args(argc, argv, &o, true, f);
    if (rc == 0) rc = rn_main(vm, &o, f);
    rn_options_free(&o);
  }
  fclose(f);
  for (int i = first + 1; i < argc; i += 2) free(argv[i]);
  return rc;
}

static void check_adjoint(const vle_model *vm, const dtg_model *m, const char *dir, dtc_result *r) {
  char log[2048] = "";
  r->ran[DTC_ADJOINT] = true;
  r->cos[DTC_ADJOINT] = 1;
  if (vlec_grad(vm, m, dir, log, sizeof log)) { fail(r, DTC_ADJOINT, "vlec grad: %s", log); return; }
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/grad/grad/%s.npy", dir, p->name);
    npy_array a;
    vle_error err;
    if (npy_read(path, &a, &err)) { fail(r, DTC_ADJOINT, "%s", err.msg); continue; }
    double fd[PMAX], cosine, rel;
    int n = p->rows * p->cols;
    dtr_fd_grad(m, i, steps(m, T_ADJOINT), m->dt, fd);
    if ((int)a.count != n || a.dtype != NPY_F8) fail(r, DTC_ADJOINT, "%s: bad shape", p->name);
    else {
      compare(a.data, fd, n, &cosine, &rel);
      if (!(cosine > DTC_TOL_COS))
        fail(r, DTC_ADJOINT, "%s: cosine %.6f, |adj - fd|/|fd| = %.4g", p->name, cosine, rel);
      r->cos[DTC_ADJOINT] = fmin(r->cos[DTC_ADJOINT], cosine);
      r->dev[DTC_ADJOINT] = fmax(r->dev[DTC_ADJOINT], rel);
    }
    npy_free(&a);
  }
}

/* ---- EQUAL and LOCAL: the local schemes where they are exact (tau_r = tau_m) ------------- */

/* dt * sum_k G_k of every learned parameter (flat, in parameter order) after K steps, or
 * one adjoint window of K steps. */
static int grad_sums(const vle_model *vm, const dtg_model *m, const sim_cfg *c, int K, double *g,
                     vle_error *err) {
  vle_sim *s = new_sim(vm, m, c, err);
  if (!s) return -1;
  int rc = strcmp(c->errors, "adjoint") ? vle_sim_step(s, K, err)
                                         : vle_sim_adjoint_window(s, K, NULL, err);
  for (int i = 0; rc == 0 && i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    rc = vle_sim_grad_sum(s, p->name, g, (size_t)(p->rows * p->cols), err);
    g += p->rows * p->cols;
  }
  vle_sim_free(s);
  return rc;
}

/* Worst cosine and relative difference over the learned tensors of two flat gradients. */
static void compare_tensors(const dtg_model *m, const double *a, const double *b, double *cosine,
                            double *rel, const char **worst) {
  *cosine = 1;
  *rel = 0;
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    double c, d;
    compare(a, b, p->rows * p->cols, &c, &d);
    if (d > *rel) *worst = p->name;
    *cosine = fmin(*cosine, c);
    *rel = fmax(*rel, d);
    a += p->rows * p->cols;
    b += p->rows * p->cols;
  }
}

static void check_equal(const vle_model *vm, const dtg_model *m, dtc_result *r) {
  static double gi[DTG_MAXPAR * PMAX], gp[DTG_MAXPAR * PMAX];
  vle_error err;
  sim_cfg ci = { "instantaneous", NAN, NAN, true, true }, cp = ci;
  cp.errors = "prospective";
  r->ran[DTC_EQUAL] = true;
  int K = steps(m, T_LOCAL);
  if (grad_sums(vm, m, &ci, K, gi, &err) || grad_sums(vm, m, &cp, K, gp, &err)) {
    fail(r, DTC_EQUAL, "vle: %s", err.msg);
    return;
  }
  double cosine, rel;
  const char *worst = "";
  compare_tensors(m, gp, gi, &cosine, &rel, &worst);
  r->dev[DTC_EQUAL] = rel;
  if (!(rel <= DTC_TOL_EQUAL))
    fail(r, DTC_EQUAL, "%s: |prospective - instantaneous| / |instantaneous| = %.3g", worst, rel);
}

/* The gap of one local scheme to the adjoint at step dt (gamma = 0, tau_r = tau_m). */
static int local_gap(const vle_model *vm, const dtg_model *m, const char *errors, double dt,
                     double *cosine, double *rel, const char **worst, vle_error *err) {
  static double gl[DTG_MAXPAR * PMAX], ga[DTG_MAXPAR * PMAX];
  int K = (int)lround(T_LOCAL / dt);
  sim_cfg cl = { errors, 0, dt, true, true }, ca = cl;
  ca.errors = "adjoint";
  if (grad_sums(vm, m, &cl, K, gl, err) || grad_sums(vm, m, &ca, K, ga, err)) return -1;
  compare_tensors(m, gl, ga, cosine, rel, worst);
  return 0;
}

static void check_local(const vle_model *vm, const dtg_model *m, bool prosp, dtc_result *r) {
  static const char *schemes[] = { "instantaneous", "prospective" };
  r->ran[DTC_LOCAL] = true;
  r->cos[DTC_LOCAL] = 1;
  for (int s = 0; s < (prosp ? 2 : 1); s++) {
    double c1, g1, c2, g2;
    const char *w = "";
    vle_error err;
    if (local_gap(vm, m, schemes[s], m->dt, &c1, &g1, &w, &err) ||
        local_gap(vm, m, schemes[s], m->dt / 2, &c2, &g2, &w, &err)) {
      fail(r, DTC_LOCAL, "vle: %s", err.msg);
      return;
    }
    r->cos[DTC_LOCAL] = fmin(r->cos[DTC_LOCAL], c2);
    r->dev[DTC_LOCAL] = fmax(r->dev[DTC_LOCAL], g2);
    if (!(c1 > DTC_TOL_COS && c2 > DTC_TOL_COS))
      fail(r, DTC_LOCAL, "%s vs adjoint: cosine %.6f (dt) %.6f (dt/2)", schemes[s], c1, c2);
    if (!(g2 < DTC_LOCAL_SHRINK * g1 || g2 < 1e-6))
      fail(r, DTC_LOCAL, "%s vs adjoint: the gap does not shrink with dt: %.4g -> %.4g (%s)",
           schemes[s], g1, g2, w);
  }
}

/* ---- RULE: each step's G against dE/dtheta with m -> e ---------------------------------- */

static bool rule_param(const dtg_param *p) { return p->learn && p->kind != DTG_P_TAU_R; }

/* One step of the rule check: the grad buffers against dtr_rule at the same values. */
static int rule_step(vle_sim *s, const dtg_model *m, int k, double *worst, const char **wname,
                     vle_error *err) {
  double u[NMAX], ud[NMAX], pub[NMAX], e[NMAX], x[DTG_MAXIN];
  if (get_all(s, m, "", u, err) || get_all(s, m, ".rate", pub, err)) return -1;
  dtr_input(m, k * m->dt, x);
  if (vle_sim_step(s, 1, err) || get_all(s, m, "'", ud, err) || get_all(s, m, ".error", e, err))
    return -1;
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!rule_param(p)) continue;
    double got[PMAX], ref[PMAX], cosine, rel;
    const vle_model *vm = vle_sim_model(s);
    const vle_param_info *pi = vle_model_param(vm, vle_model_find_param(vm, p->name));
    int n = p->rows * p->cols;
    if (pi->grad < 0 || vle_sim_get(s, vle_model_buffer(vm, pi->grad)->name, got, (size_t)n, err))
      return -1;
    dtr_rule(m, i, u, ud, pub, x, e, ref);
    compare(got, ref, n, &cosine, &rel);
    double nr = 0;
    for (int j = 0; j < n; j++) nr = fmax(nr, fabs(ref[j]));
    if (nr < 1e-300) rel = nr;    /* e = 0 at step 0 of some schemes: compare absolutely */
    if (rel > *worst) *wname = p->name;
    *worst = fmax(*worst, rel);
  }
  return 0;
}

static void check_rule(const vle_model *vm, const dtg_model *m, bool prosp, dtc_result *r) {
  static const char *schemes[] = { "instantaneous", "prospective" };
  r->ran[DTC_RULE] = true;
  for (int sc = 0; sc < (prosp ? 2 : 1); sc++) {
    vle_error err = { { 0 } };
    sim_cfg c = { schemes[sc], NAN, NAN, true, false };
    vle_sim *s = new_sim(vm, m, &c, &err);
    double worst = 0;
    const char *wname = "";
    for (int k = 0; s && k < K_RULE; k++)
      if (rule_step(s, m, k, &worst, &wname, &err)) break;
    if (!s || err.msg[0]) fail(r, DTC_RULE, "vle: %s", err.msg);
    vle_sim_free(s);
    r->dev[DTC_RULE] = fmax(r->dev[DTC_RULE], worst);
    if (!(worst <= DTC_TOL_RULE))
      fail(r, DTC_RULE, "%s: G of %s differs by %.3g (relative)", schemes[sc], wname, worst);
  }
}

/* ---- all checks ----------------------------------------------------------------------------- */

static bool compile(const dtg_model *m, const char *dir, bool jit, dtl_model *lm, dtc_result *r) {
  char path[512];
  snprintf(path, sizeof path, "%s/model.vle", dir);
  FILE *f = fopen(path, "w");
  if (!f) { snprintf(r->msg, sizeof r->msg, "cannot write %s", path); return false; }
  dtg_text(m, f);
  fclose(f);
  char *text = dtg_text_alloc(m);
  FILE *e = fmemopen(r->msg, sizeof r->msg - 1, "w");
  int rc = dtl_open(lm, path, text, jit, e);
  free(text);
  fclose(e);
  if (rc == 0) r->msg[0] = 0;
  return rc == 0;
}

bool dtc_run(const dtg_model *m, const char *dir, bool jit, dtc_result *r) {
  memset(r, 0, sizeof *r);
  for (int k = 0; k < DTC_N; k++) r->ok[k] = true;
  dtl_model lm;
  r->compiled = compile(m, dir, jit, &lm, r);
  if (!r->compiled) return false;
  /* prospective with q != 1 is issue 12 item 1: compared only with DTG_F_PROSP_Q */
  bool prosp = !dtg_has_q(m) || (m->flags & DTG_F_PROSP_Q);
  double t0 = pl_now_ms();
  check_forward(lm.model, m, r);
  double t1 = pl_now_ms();
  check_adjoint(lm.model, m, dir, r);
  double t2 = pl_now_ms();
  if (prosp) check_equal(lm.model, m, r);
  double t3 = pl_now_ms();
  check_local(lm.model, m, prosp, r);
  double t4 = pl_now_ms();
  check_rule(lm.model, m, prosp, r);
  double t5 = pl_now_ms();
  r->ms[DTC_FORWARD] = t1 - t0;
  r->ms[DTC_ADJOINT] = t2 - t1;
  r->ms[DTC_EQUAL] = t3 - t2;
  r->ms[DTC_LOCAL] = t4 - t3;
  r->ms[DTC_RULE] = t5 - t4;
  r->ms_compile = lm.ms_compile;
  dtl_close(&lm);
  bool ok = true;
  for (int k = 0; k < DTC_N; k++) ok = ok && r->ok[k];
  return ok;
}

/* ---- tallies over many models ---------------------------------------------------------------- */

void dtc_tally_add(dtc_tally *t, uint64_t seed, const dtc_result *r) {
  t->models++;
  if (!r->compiled) { t->refused++; return; }
  for (int k = 0; k < DTC_N; k++) {
    if (!r->ran[k]) continue;
    t->ran[k]++;
    t->failed[k] += !r->ok[k];
    bool worse = r->dev[k] > t->dev[k] || (r->cos[k] != 0 && r->cos[k] < t->cos[k]);
    if (t->ran[k] == 1 || worse) t->worst_seed[k] = seed;
    t->dev[k] = fmax(t->dev[k], r->dev[k]);
    if (r->cos[k] != 0) t->cos[k] = t->ran[k] == 1 || t->cos[k] == 0 ? r->cos[k] : fmin(t->cos[k], r->cos[k]);
  }
}

void dtc_tally_print(const dtc_tally *t, FILE *out) {
  fprintf(out, "difftest: %ld models, %ld refused by the compiler\n", t->models, t->refused);
  for (int k = 0; k < DTC_N; k++) {
    fprintf(out, "  %-8s ran %5ld  failed %4ld  worst deviation %.3g", dtc_name(k), t->ran[k],
            t->failed[k], t->dev[k]);
    if (t->cos[k] != 0) fprintf(out, "  worst cosine %.7f", t->cos[k]);
    fprintf(out, "  (seed %llu)\n", (unsigned long long)t->worst_seed[k]);
  }
}
