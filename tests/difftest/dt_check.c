/* dt_check.c - see dt_check.h. */
#include "dt_check.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>
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
  static const char *n[DTC_N] = { "forward", "adjoint", "bptt", "equal", "local", "rule" };
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

static double dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
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
    if (p->dead) continue;
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
  vle_error err = { { 0 } };
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

/* Whether a tensor's estimate g passes against the reference: cosine > DTC_TOL_COS, or,
 * for a tensor whose reference is small beside the whole gradient's (a sum over time that
 * nearly cancels), an absolute gap below DTC_TOL_FLOOR of the whole gradient's norm: the
 * O(dt) gap of the continuous adjoint is absolute, and would otherwise decide the cosine of
 * such a tensor alone. */
static bool tensor_ok(double cosine, double gap, double whole) {
  return cosine > DTC_TOL_COS || gap <= DTC_TOL_FLOOR * whole;
}

/* Over the learned tensors of two flat gradients a (estimate) and b (reference): the worst
 * cosine and relative difference, and the first tensor that fails tensor_ok (NULL: none). */
static const char *compare_tensors(const dtg_model *m, const double *a, const double *b,
                                   double *cosine, double *rel) {
  int total = 0;
  for (int i = 0; i < m->npar; i++) total += m->par[i].learn ? m->par[i].rows * m->par[i].cols : 0;
  double whole = sqrt(dot(b, b, total));
  const char *bad = NULL;
  *cosine = 1;
  *rel = 0;
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    int n = p->rows * p->cols;
    double c, d, nb = sqrt(dot(b, b, n));
    compare(a, b, n, &c, &d);
    if (getenv("DT_DEBUG"))
      fprintf(stderr, "tensor %s: cosine %.7f rel %.3g |ref| %.3g of %.3g\n", p->name, c, d, nb, whole);
    if (!tensor_ok(c, d * nb, whole) && !bad) bad = p->name;
    *cosine = fmin(*cosine, c);
    *rel = fmax(*rel, d);
    a += n;
    b += n;
  }
  return bad;
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

static int vlec_grad(const vle_model *vm, const dtg_model *m, const char *errors,
                     const char *dir, char *log, size_t loglen) {
  char *argv[2 * DTG_MAXPAR + 16], nsteps[16], out[512], dt[32];
  snprintf(nsteps, sizeof nsteps, "%d", steps(m, T_ADJOINT));
  snprintf(out, sizeof out, "%s/grad", dir);
  int argc = 0;
  snprintf(dt, sizeof dt, "%.17g", m->dt);
  const char *fixed[] = { "grad", "model.vle", "--errors", errors, "--steps", nsteps, "--dt", dt,
                          "--out", out, "-q" };
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

/* `vlec grad --errors E` and the reference's central differences of J at m's dt, flat in
 * parameter order; returns how many values, or -1 (msg set) if vle or the harness failed. */
static int grads_and_fd(const vle_model *vm, const dtg_model *m, const char *errors,
                        const char *dir, double *g, double *fd, char *msg, size_t len) {
  char log[2048] = "";
  if (vlec_grad(vm, m, errors, dir, log, sizeof log)) {
    snprintf(msg, len, "vlec grad --errors %s: %s", errors, log);
    return -1;
  }
  int off = 0;
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    char path[600];
    snprintf(path, sizeof path, "%s/grad/grad/%s.npy", dir, p->name);
    npy_array a;
    vle_error err;
    int n = p->rows * p->cols;
    if (npy_read(path, &a, &err)) { snprintf(msg, len, "%s", err.msg); return -1; }
    bool shape_ok = (int)a.count == n && a.dtype == NPY_F8;
    if (shape_ok) memcpy(g + off, a.data, (size_t)n * sizeof *g);
    npy_free(&a);
    if (!shape_ok) { snprintf(msg, len, "%s: not %d values", p->name, n); return -1; }
    dtr_fd_grad(m, i, steps(m, T_ADJOINT), m->dt, fd + off);
    off += n;
  }
  return off;
}

/* The adjoint of vlec grad against FD of J at m's dt: the worst tensor cosine, the relative
 * difference over all tensors, and the first tensor that fails (NULL: none). -1 (msg set)
 * if vle or the harness failed. */
static int adjoint_at(const vle_model *vm, const dtg_model *m, const char *dir, double *cosine,
                      double *wrel, const char **bad, char *msg, size_t len) {
  static double g[DTG_MAXPAR * PMAX], fd[DTG_MAXPAR * PMAX];
  int off = grads_and_fd(vm, m, "adjoint", dir, g, fd, msg, len);
  if (off < 0) return -1;
  double rel, wc;
  *bad = compare_tensors(m, g, fd, cosine, &rel);
  compare(g, fd, off, &wc, wrel);   /* all tensors together: the scale (cosines ignore it) */
  snprintf(msg, len, "dt %g: worst tensor cosine %.6f (%s), |adj - fd| / |fd| = %.4g over all "
           "parameters (|adj| / |fd| = %.4g)", m->dt, *cosine, *bad ? *bad : "-", *wrel,
           sqrt(dot(g, g, off) / dot(fd, fd, off)));
  return 0;
}

/* At the model's dt, and where that fails at dt/2: the O(dt) gap of the continuous adjoint
 * (largest in deep nets that look far ahead) may exceed the tolerance at dt, but must then
 * shrink below it (r->refined counts these). */
static void check_adjoint(const vle_model *vm, const dtg_model *m, const char *dir, dtc_result *r) {
  char msg[2600];
  double c, w;
  const char *bad;
  r->ran[DTC_ADJOINT] = true;
  if (adjoint_at(vm, m, dir, &c, &w, &bad, msg, sizeof msg)) { fail(r, DTC_ADJOINT, "%s", msg); return; }
  if (bad || !(w <= DTC_TOL_WHOLE)) {
    dtg_model *half = malloc(sizeof *half);
    *half = *m;
    half->dt = m->dt / 2;
    double c2, w2;
    char msg2[2600];
    int rc = adjoint_at(vm, half, dir, &c2, &w2, &bad, msg2, sizeof msg2);
    free(half);
    r->refined = true;
    if (rc || bad || !(w2 <= DTC_TOL_WHOLE) || !(w2 < w)) {
      fail(r, DTC_ADJOINT, "%s; %s", msg, msg2);
      return;
    }
    c = c2;
    w = w2;
  }
  r->cos[DTC_ADJOINT] = c;
  r->dev[DTC_ADJOINT] = w;
}

/* ---- BPTT: `vlec grad --errors bptt`, the exact gradient of the discrete J --------------- */

/* Per tensor |g - fd| / |fd| <= DTC_TOL_BPTT, or for a tensor whose gradient is tiny beside
 * the whole one |g - fd| <= DTC_TOL_BPTT |fd (all tensors)| (its FD is mostly rounding). */
static void check_bptt(const vle_model *vm, const dtg_model *m, const char *dir, dtc_result *r) {
  static double g[DTG_MAXPAR * PMAX], fd[DTG_MAXPAR * PMAX];
  char msg[2600];
  r->ran[DTC_BPTT] = true;
  int total = grads_and_fd(vm, m, "bptt", dir, g, fd, msg, sizeof msg);
  if (total < 0) { fail(r, DTC_BPTT, "%s", msg); return; }
  double whole = sqrt(dot(fd, fd, total));
  for (int i = 0, off = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    int n = p->rows * p->cols;
    double c, rel, dd = 0;
    compare(g + off, fd + off, n, &c, &rel);
    for (int j = 0; j < n; j++) dd += (g[off + j] - fd[off + j]) * (g[off + j] - fd[off + j]);
    off += n;
    if (rel <= DTC_TOL_BPTT || sqrt(dd) <= DTC_TOL_BPTT * whole) {
      r->dev[DTC_BPTT] = fmax(r->dev[DTC_BPTT], fmin(rel, sqrt(dd) / fmax(whole, 1e-300)));
      continue;
    }
    r->dev[DTC_BPTT] = fmax(r->dev[DTC_BPTT], rel);
    fail(r, DTC_BPTT, "%s: |bptt - fd| / |fd| = %.3g (dt %g)", p->name, rel, m->dt);
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
  double u[NMAX];
  int off[DTG_MAXPOP], N = dtr_layout(m, off);
  if (rc == 0 && !get_all(s, m, "", u, err))
    for (int i = 0; i < N; i++)
      if (!(fabs(u[i]) < DTC_BOUND)) {
        snprintf(err->msg, sizeof err->msg, "unbounded");
        rc = 1;
      }
  for (int i = 0; rc == 0 && i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    rc = vle_sim_grad_sum(s, p->name, g, (size_t)(p->rows * p->cols), err);
    g += p->rows * p->cols;
  }
  vle_sim_free(s);
  return rc;
}

static void check_equal(const vle_model *vm, const dtg_model *m, dtc_result *r) {
  static double gi[DTG_MAXPAR * PMAX], gp[DTG_MAXPAR * PMAX];
  vle_error err;
  /* A small gain: the errors feed back into the dynamics, so a difference in e would show,
   * but the feedback of a random network with the model's gamma is often chaotic enough to
   * turn rounding into percent differences over a thousand steps. */
  sim_cfg ci = { "instantaneous", DTC_SMALL_GAMMA, NAN, true, true }, cp = ci;
  cp.errors = "prospective";
  r->ran[DTC_EQUAL] = true;
  int K = steps(m, T_LOCAL);
  if (grad_sums(vm, m, &ci, K, gi, &err) || grad_sums(vm, m, &cp, K, gp, &err)) {
    fail(r, DTC_EQUAL, "vle: %s", err.msg);
    return;
  }
  int off = 0;
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!p->learn) continue;
    double cosine, rel;
    compare(gp + off, gi + off, p->rows * p->cols, &cosine, &rel);
    off += p->rows * p->cols;
    r->dev[DTC_EQUAL] = fmax(r->dev[DTC_EQUAL], rel);
    if (!(rel <= DTC_TOL_EQUAL))
      fail(r, DTC_EQUAL, "%s: |prospective - instantaneous| / |instantaneous| = %.3g", p->name, rel);
  }
}

/* The gap of one local scheme to the adjoint at step dt (gamma = 0, tau_r = tau_m): the worst
 * tensor cosine, the first tensor that fails, and |G - Gadj| / |Gadj| over all tensors
 * together (a tiny tensor's relative gap need not shrink: its reference moves with dt too). */
static int local_gap(const vle_model *vm, const dtg_model *m, const char *errors, double dt,
                     double *cosine, double *rel, const char **bad, vle_error *err) {
  static double gl[DTG_MAXPAR * PMAX], ga[DTG_MAXPAR * PMAX];
  int K = (int)lround(T_LOCAL / dt);
  sim_cfg cl = { errors, 0, dt, true, true }, ca = cl;
  ca.errors = "adjoint";
  if (grad_sums(vm, m, &cl, K, gl, err) || grad_sums(vm, m, &ca, K, ga, err)) return -1;
  double worst, c;
  *bad = compare_tensors(m, gl, ga, cosine, &worst);
  int total = 0;
  for (int i = 0; i < m->npar; i++) total += m->par[i].learn ? m->par[i].rows * m->par[i].cols : 0;
  compare(gl, ga, total, &c, rel);
  return 0;
}

/* One local scheme against the adjoint at dt and dt/2: 0 if it passes, 1 if not (msg says
 * why), -1 if vle failed. */
static int local_pair(const vle_model *vm, const dtg_model *m, const char *scheme, double dt,
                      dtc_result *r, char *msg, size_t len) {
  double c1, g1, c2, g2;
  const char *b1 = NULL, *b2 = NULL;
  vle_error err;
  if (local_gap(vm, m, scheme, dt, &c1, &g1, &b1, &err) ||
      local_gap(vm, m, scheme, dt / 2, &c2, &g2, &b2, &err)) {
    snprintf(msg, len, "vle: %.900s", err.msg);
    return -1;
  }
  r->cos[DTC_LOCAL] = fmin(r->cos[DTC_LOCAL], c2);
  r->dev[DTC_LOCAL] = fmax(r->dev[DTC_LOCAL], g2);
  if (b2)   /* at dt/2: at dt the O(dt) gap of a small tensor may exceed the floor */
    snprintf(msg, len, "%s vs adjoint: %s: worst cosine %.6f (dt %g) %.6f (dt %g)", scheme, b2, c1,
             dt, c2, dt / 2);
  else if (!(g2 < DTC_LOCAL_SHRINK * g1 || g2 < 1e-6))
    snprintf(msg, len, "%s vs adjoint: the gap does not shrink with dt: %.4g (dt %g) -> %.4g",
             scheme, g1, dt, g2);
  else return 0;
  return 1;
}

/* Each local scheme at (dt, dt/2), and where that fails at (dt/2, dt/4): the O(dt) gap of a
 * deep net that looks far ahead may still exceed the tolerance at dt/2, but must then shrink
 * below it (r->refined counts these). */
static void check_local(const vle_model *vm, const dtg_model *m, unsigned which, dtc_result *r) {
  static const char *schemes[] = { "instantaneous", "prospective" };
  r->ran[DTC_LOCAL] = true;
  if (r->cos[DTC_LOCAL] == 0) r->cos[DTC_LOCAL] = 1;
  for (int s = 0; s < 2; s++) {
    if (!(which & (1u << s))) continue;
    char msg[1024];
    dtc_result tmp = *r;
    int rc = local_pair(vm, m, schemes[s], m->dt, &tmp, msg, sizeof msg);
    if (rc == 1) {
      tmp = *r;
      rc = local_pair(vm, m, schemes[s], m->dt / 2, &tmp, msg, sizeof msg);
      r->refined = true;
    }
    r->cos[DTC_LOCAL] = tmp.cos[DTC_LOCAL];
    r->dev[DTC_LOCAL] = tmp.dev[DTC_LOCAL];
    if (rc) fail(r, DTC_LOCAL, "%s", msg);
  }
}

/* ---- RULE: each step's G against dE/dtheta with m -> e ---------------------------------- */

static bool rule_param(const dtg_param *p) { return p->learn; }

/* What a step of the rule check keeps for the next one: its u, u' and e (what step k
 * publishes is computed from them). */
typedef struct rule_prev { double u[NMAX], ud[NMAX], e[NMAX]; } rule_prev;

/* The reference G of parameter i at step k. */
static void rule_ref(const dtg_model *m, int i, int k, const double *u, const double *ud,
                     const double *pub, const double *x, const double *e, const rule_prev *pv,
                     double *ref) {
  if (m->par[i].kind != DTG_P_TAU_R) {
    dtr_rule(m, i, u, ud, pub, x, e, ref);
    return;
  }
  int off[DTG_MAXPOP];
  dtr_layout(m, off);
  double uh[NMAX];
  for (int p = 0; p < m->npop; p++)
    for (int j = 0; j < m->pop[p].n; j++)
      uh[off[p] + j] = pv->u[off[p] + j] + m->par[m->pop[p].tau_r].v[j] * pv->ud[off[p] + j];
  dtr_rule_tau_r(m, i, ud, uh, pv->e, x, k * m->dt, ref);
}

/* One step of the rule check: the grad buffers against the reference at the same values;
 * adds |G - Gref|^2 and |Gref|^2 of each parameter to dd and rr. Returns 1 without comparing
 * once the state or the errors leave |.| < DTC_BOUND (errors fed back with gamma can make
 * a random network explode, and then the comparison measures rounding of huge numbers).
 * tau_r is compared from step 1 on: at step 0 nothing was published from a u' yet. */
static int rule_step(vle_sim *s, const dtg_model *m, int k, rule_prev *pv, double *dd, double *rr,
                     vle_error *err) {
  double u[NMAX], ud[NMAX], pub[NMAX], e[NMAX], x[DTG_MAXIN];
  int off[DTG_MAXPOP], N = dtr_layout(m, off);
  if (get_all(s, m, "", u, err) || get_all(s, m, ".rate", pub, err)) return -1;
  dtr_input(m, k * m->dt, x);
  if (vle_sim_step(s, 1, err) || get_all(s, m, "'", ud, err) || get_all(s, m, ".error", e, err))
    return -1;
  for (int i = 0; i < N; i++)
    if (!(fabs(u[i]) < DTC_BOUND && fabs(e[i]) < DTC_BOUND && fabs(ud[i]) < DTC_BOUND)) return 1;
  const vle_model *vm = vle_sim_model(s);
  for (int i = 0; i < m->npar; i++) {
    const dtg_param *p = &m->par[i];
    if (!rule_param(p) || (p->kind == DTG_P_TAU_R && k == 0)) continue;
    double got[PMAX], ref[PMAX];
    const vle_param_info *pi = vle_model_param(vm, vle_model_find_param(vm, p->name));
    int n = p->rows * p->cols;
    if (pi->grad < 0 || vle_sim_get(s, vle_model_buffer(vm, pi->grad)->name, got, (size_t)n, err))
      return -1;
    rule_ref(m, i, k, u, ud, pub, x, e, pv, ref);
    if (getenv("DT_DEBUG"))
      for (int j = 0; j < n; j++)
        if (fabs(got[j] - ref[j]) > 1e-9 * fmax(1e-300, fabs(ref[j])))
          fprintf(stderr, "rule step %d %s[%d]: vle %.17g ref %.17g\n", k, p->name, j, got[j], ref[j]);
    for (int j = 0; j < n; j++) {
      dd[i] += (got[j] - ref[j]) * (got[j] - ref[j]);
      rr[i] += ref[j] * ref[j];
    }
  }
  memcpy(pv->u, u, sizeof u);
  memcpy(pv->ud, ud, sizeof ud);
  memcpy(pv->e, e, sizeof e);
  return 0;
}

/* Per parameter, |G - Gref| / |Gref| over the K_RULE steps' values together (a step where G
 * happens to pass through zero does not turn rounding into a large relative error). */
static void check_rule(const vle_model *vm, const dtg_model *m, unsigned which, dtc_result *r) {
  static const char *schemes[] = { "instantaneous", "prospective" };
  r->ran[DTC_RULE] = true;
  for (int sc = 0; sc < 2; sc++) {
    if (!(which & (1u << sc))) continue;
    vle_error err = { { 0 } };
    sim_cfg c = { schemes[sc], NAN, NAN, true, false };
    vle_sim *s = new_sim(vm, m, &c, &err);
    double dd[DTG_MAXPAR] = { 0 }, rr[DTG_MAXPAR] = { 0 };
    rule_prev pv = { { 0 }, { 0 }, { 0 } };
    for (int k = 0; s && k < K_RULE; k++)
      if (rule_step(s, m, k, &pv, dd, rr, &err)) break;
    if (!s || err.msg[0]) fail(r, DTC_RULE, "vle: %s", err.msg);
    vle_sim_free(s);
    for (int i = 0; i < m->npar; i++) {
      if (!rule_param(&m->par[i])) continue;
      /* a series that is zero but for rounding (an error that vanishes, and the reference's
       * differences of 1e-13) is compared absolutely: |G - ref| <= DTC_TOL_RULE * 1e-4 */
      double rel = sqrt(dd[i]) / fmax(sqrt(rr[i]), 1e-4);
      r->dev[DTC_RULE] = fmax(r->dev[DTC_RULE], rel);
      if (!(rel <= DTC_TOL_RULE))
        fail(r, DTC_RULE, "%s: G of %s differs by %.3g (relative)", schemes[sc], m->par[i].name, rel);
    }
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

/* The checks of the prospective scheme on the model as it is, or (DTG_F_PROSP_Q off and
 * some q != 1: issue 12 item 1) on its twin with every owned term unscaled (q = 1). */
static void check_prospective(const dtg_model *m, const char *dir, bool jit, dtc_result *r) {
  dtg_model *u = malloc(sizeof *u);
  *u = *m;
  for (int p = 0; p < u->npop; p++) u->pop[p].scale = DTG_SCALE_ONE;
  char sub[600];
  snprintf(sub, sizeof sub, "%s/q1", dir);
  dtl_model lm;
  dtc_result tmp;
  memset(&tmp, 0, sizeof tmp);
  if (mkdir(sub, 0777) && errno != EEXIST) snprintf(tmp.msg, sizeof tmp.msg, "cannot create %s", sub);
  else if (compile(u, sub, jit, &lm, &tmp)) {
    check_equal(lm.model, u, r);
    check_local(lm.model, u, 2, r);
    check_rule(lm.model, u, 2, r);
    dtl_close(&lm);
    free(u);
    return;
  }
  fail(r, DTC_EQUAL, "the q = 1 twin: %s", tmp.msg);
  free(u);
}

bool dtc_run(const dtg_model *m, const char *dir, bool jit, dtc_result *r) {
  return dtc_run_ref(m, m, dir, jit, r);
}

bool dtc_run_ref(const dtg_model *vm, const dtg_model *m, const char *dir, bool jit, dtc_result *r) {
  memset(r, 0, sizeof *r);
  for (int k = 0; k < DTC_N; k++) r->ok[k] = true;
  dtl_model lm;
  r->compiled = compile(vm, dir, jit, &lm, r);
  if (!r->compiled) return false;
  bool twin = dtg_has_q(m) && !(m->flags & DTG_F_PROSP_Q);
  unsigned schemes = twin ? 1 : 3;
  double t[DTC_N + 1];
  t[0] = pl_now_ms();
  check_forward(lm.model, m, r);
  t[1] = pl_now_ms();
  check_adjoint(lm.model, m, dir, r);
  t[2] = pl_now_ms();
  check_bptt(lm.model, m, dir, r);
  t[3] = pl_now_ms();
  if (!twin) check_equal(lm.model, m, r);
  t[4] = pl_now_ms();
  check_local(lm.model, m, schemes, r);
  t[5] = pl_now_ms();
  check_rule(lm.model, m, schemes, r);
  t[6] = pl_now_ms();
  r->ms_compile = lm.ms_compile;
  dtl_close(&lm);
  if (twin) check_prospective(m, dir, jit, r);
  for (int k = 0; k < DTC_N; k++) r->ms[k] = t[k + 1] - t[k];
  r->ms[DTC_EQUAL] += pl_now_ms() - t[DTC_N];
  bool ok = true;
  for (int k = 0; k < DTC_N; k++) ok = ok && r->ok[k];
  return ok;
}

/* The largest |u| and |u'| of the reference forward pass over the longest check. */
static bool bounded(const dtg_model *m) {
  int off[DTG_MAXPOP], N = dtr_layout(m, off), K = steps(m, T_ADJOINT);
  double *U = malloc(2 * (size_t)K * N * sizeof *U), w = 0;
  dtr_forward(m, K, m->dt, U, U + (size_t)K * N, NULL);
  for (long i = 0; i < 2L * K * N; i++) w = isfinite(U[i]) ? fmax(w, fabs(U[i])) : INFINITY;
  free(U);
  return w < DTC_BOUND;
}

unsigned dtc_generate(dtg_model *m, uint64_t seed, unsigned flags) {
  unsigned a = 0;
  do dtg_generate(m, seed, a, flags);
  while (!bounded(m) && ++a < 16);
  return a;
}

/* ---- reduction -------------------------------------------------------------------------- */

static bool bounded(const dtg_model *m);

/* Whether m still fails the way being reduced: check `kind`, or (DTC_N) refused; an edit
 * that makes the dynamics explode changes the failure, so it does not count. */
static bool still_fails(const dtg_model *m, const char *dir, bool jit, int kind) {
  if (!bounded(m)) return false;
  dtc_result r;
  dtc_run(m, dir, jit, &r);
  return kind == DTC_N ? !r.compiled : r.compiled && r.ran[kind] && !r.ok[kind];
}

static bool try_edit(dtg_model *m, const char *edit, const char *dir, bool jit, int kind,
                     char *edits, size_t len) {
  dtg_model *c = malloc(sizeof *c);
  *c = *m;
  bool keep = dtg_edit(c, edit) && still_fails(c, dir, jit, kind);
  if (keep) {
    *m = *c;
    size_t n = strlen(edits);
    snprintf(edits + n, len - n, "%s%s", n ? "; " : "", edit);
  }
  free(c);
  return keep;
}

bool dtc_reduce(dtg_model *m, const char *dir, bool jit, int kind, char *edits, size_t len) {
  edits[0] = 0;
  if (!still_fails(m, dir, jit, kind)) return false;
  for (bool progress = true; progress;) {
    progress = false;
    char e[32];
    static const char *global[] = { "nolam", "nofn", "fixtau" };
    for (int i = 0; i < 3; i++) progress |= try_edit(m, global[i], dir, jit, kind, edits, len);
    for (int p = 0; p < m->npop; p++) {
      for (int k = m->pop[p].nsrc - 1; k >= 1; k--) {
        snprintf(e, sizeof e, "nosrc %d %d", p, k);
        progress |= try_edit(m, e, dir, jit, kind, edits, len);
      }
      static const char *local[] = { "nobias", "one", "n1" };
      for (int i = 0; i < 3; i++) {
        snprintf(e, sizeof e, "%s %d", local[i], p);
        progress |= try_edit(m, e, dir, jit, kind, edits, len);
      }
    }
  }
  return true;
}

/* ---- tallies over many models ---------------------------------------------------------------- */

void dtc_tally_add(dtc_tally *t, uint64_t seed, const dtc_result *r) {
  t->models++;
  if (!r->compiled) { t->refused++; return; }
  t->refined += r->refined;
  for (int k = 0; k < DTC_N; k++) {
    if (!r->ran[k]) continue;
    t->ran[k]++;
    t->failed[k] += !r->ok[k];
    bool worse = r->dev[k] > t->dev[k] || (r->cos[k] != 0 && r->cos[k] < t->cos[k]);
    if (t->ran[k] == 1 || worse) t->worst_seed[k] = seed;
    t->dev[k] = fmax(t->dev[k], r->dev[k]);
    if (r->cos[k] != 0)
      t->cos[k] = t->ran[k] == 1 || t->cos[k] == 0 ? r->cos[k] : fmin(t->cos[k], r->cos[k]);
  }
}

void dtc_tally_print(const dtc_tally *t, FILE *out) {
  fprintf(out, "difftest: %ld models, %ld refused by the compiler, %ld refined to dt/2\n",
          t->models, t->refused, t->refined);
  for (int k = 0; k < DTC_N; k++) {
    fprintf(out, "  %-8s ran %5ld  failed %4ld  worst deviation %.3g", dtc_name(k), t->ran[k],
            t->failed[k], t->dev[k]);
    if (t->cos[k] != 0) fprintf(out, "  worst cosine %.7f", t->cos[k]);
    fprintf(out, "  (seed %llu)\n", (unsigned long long)t->worst_seed[k]);
  }
}
