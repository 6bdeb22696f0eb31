/* dt_ref.c - see dt_ref.h. */
#include "dt_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NMAX = DTG_MAXPOP * DTG_MAXN };

int dtr_layout(const dtg_model *m, int *off) {
  int n = 0;
  for (int p = 0; p < m->npop; p++) {
    off[p] = n;
    n += m->pop[p].n;
  }
  return n;
}

void dtr_input(const dtg_model *m, double t, double *x) {
  for (int i = 0; i < m->nin; i++)
    x[i] = m->in_amp[i] * sin(m->in_w[i] * t + m->in_ph[i]) + m->in_off[i];
}

void dtr_target(const dtg_model *m, double t, double *y) {
  for (int i = 0; i < m->pop[m->npop - 1].n; i++)
    y[i] = m->tg_amp[i] * cos(m->tg_w[i] * t + m->tg_ph[i]) + m->tg_off[i];
}

/* The source vector a weight multiplies: the input, or (a user fn of) published rates. */
static int source(const dtg_model *m, const dtg_src *s, const double *pub, const double *x,
                  double *v) {
  if (s->kind == DTG_SRC_INPUT) {
    memcpy(v, x, (size_t)m->nin * sizeof *v);
    return m->nin;
  }
  int off[DTG_MAXPOP], n = m->pop[s->from].n;
  dtr_layout(m, off);
  for (int j = 0; j < n; j++) {
    double r = pub[off[s->from] + j];
    v[j] = s->fn >= 0 ? dtg_fn_eval(&m->fn[s->fn], r) : r;
  }
  return n;
}

void dtr_mismatch(const dtg_model *m, int p, const double *u, const double *ud,
                  const double *pub, const double *x, double *out) {
  const dtg_pop *P = &m->pop[p];
  double drive[DTG_MAXN] = { 0 }, v[DTG_MAXN];
  for (int s = 0; s < P->nsrc; s++) {
    const double *W = m->par[P->src[s].w].v;
    int n = source(m, &P->src[s], pub, x, v);
    for (int i = 0; i < P->n; i++)
      for (int j = 0; j < n; j++) drive[i] += W[i * n + j] * v[j];
  }
  const double *tm = m->par[P->tau_m].v;
  for (int i = 0; i < P->n; i++) {
    double b = P->bias >= 0 ? m->par[P->bias].v[i] : 0;
    out[i] = dtg_scale_k(m, P, i) * (u[i] + tm[i] * ud[i] - (drive[i] + b));
  }
}

/* u'_p from m_p = 0, m_p affine in u'_p: evaluated at u' = 0 and u' = 1. */
static void solve_udot(const dtg_model *m, int p, const double *u, const double *pub,
                       const double *x, double *ud) {
  int n = m->pop[p].n;
  double zero[DTG_MAXN] = { 0 }, one[DTG_MAXN], m0[DTG_MAXN], m1[DTG_MAXN];
  for (int i = 0; i < n; i++) one[i] = 1;
  dtr_mismatch(m, p, u, zero, pub, x, m0);
  dtr_mismatch(m, p, u, one, pub, x, m1);
  for (int i = 0; i < n; i++) ud[i] = -m0[i] / (m1[i] - m0[i]);
}

static void publish(const dtg_model *m, int p, const double *u, const double *ud, double *r) {
  const dtg_pop *P = &m->pop[p];
  const double *tr = m->par[P->tau_r].v;
  for (int i = 0; i < P->n; i++) r[i] = dtg_rate_eval(m, P, u[i] + tr[i] * ud[i]);
}

/* R_k / beta at one step from the rates r it reads: at step k those published at step k-1
 * (zero at step 0), with the target at t_k (theory.md §6 item 2: the cost, and so the
 * objective, reads the published output, as the `loss` and `objective` signals do). */
static double integrand(const dtg_model *m, const double *r, double t) {
  int off[DTG_MAXPOP];
  dtr_layout(m, off);
  int o = m->npop - 1;
  double y[DTG_MAXN], C = 0, pen = 0;
  dtr_target(m, t, y);
  for (int i = 0; i < m->pop[o].n; i++) C += 0.5 * (y[i] - r[off[o] + i]) * (y[i] - r[off[o] + i]);
  if (m->lam >= 0)
    for (int i = 0; i < m->pop[m->lam_pop].n; i++) {
      double v = r[off[m->lam_pop] + i];
      pen += v * v;
    }
  double beta = m->cst[m->beta].v[0];
  return C + (m->lam >= 0 ? m->cst[m->lam].v[0] * pen / beta : 0);
}

/* The forward pass; returns J as a by-product. */
static double run(const dtg_model *m, int K, double dt, double *U, double *UD, double *R) {
  int off[DTG_MAXPOP], N = dtr_layout(m, off);
  double u[NMAX] = { 0 }, ud[NMAX], pub[NMAX] = { 0 }, next[NMAX], x[DTG_MAXIN], J = 0;
  for (int k = 0; k < K; k++) {
    double t = k * dt;
    dtr_input(m, t, x);
    for (int p = 0; p < m->npop; p++) {
      solve_udot(m, p, u + off[p], pub, x, ud + off[p]);
      publish(m, p, u + off[p], ud + off[p], next + off[p]);
    }
    if (U) memcpy(U + (size_t)k * N, u, (size_t)N * sizeof *u);
    if (UD) memcpy(UD + (size_t)k * N, ud, (size_t)N * sizeof *u);
    if (R) memcpy(R + (size_t)k * N, next, (size_t)N * sizeof *u);
    J += dt * integrand(m, pub, t);
    for (int i = 0; i < N; i++) u[i] += dt * ud[i];
    memcpy(pub, next, sizeof pub);
  }
  return J;
}

void dtr_forward(const dtg_model *m, int K, double dt, double *U, double *UD, double *R) {
  run(m, K, dt, U, UD, R);
}

double dtr_objective(const dtg_model *m, int K, double dt) { return run(m, K, dt, NULL, NULL, NULL); }

void dtr_fd_grad(const dtg_model *m, int i, int K, double dt, double *g) {
  dtg_model *c = malloc(sizeof *c);
  *c = *m;
  double *v = c->par[i].v;
  for (int j = 0; j < c->par[i].rows * c->par[i].cols; j++) {
    double v0 = v[j], h = 1e-6 * fmax(1, fabs(v0));
    v[j] = v0 + h;
    double jp = dtr_objective(c, K, dt);
    v[j] = v0 - h;
    double jm = dtr_objective(c, K, dt);
    v[j] = v0;
    g[j] = (jp - jm) / (2 * h);
  }
  free(c);
}

void dtr_rule(const dtg_model *m, int i, const double *u, const double *ud, const double *pub,
              const double *x, const double *e, double *g) {
  int off[DTG_MAXPOP];
  dtr_layout(m, off);
  int p = m->par[i].pop, n = m->pop[p].n;
  dtg_model *c = malloc(sizeof *c);
  *c = *m;
  double *v = c->par[i].v, mp[DTG_MAXN], mm[DTG_MAXN];
  /* Only population p's mismatch depends on a weight, bias or tau_m of p, and it is affine
   * in them: a central difference with a huge step is exact, and its rounding relative to
   * the derivative is that of one subtraction. */
  for (int j = 0; j < c->par[i].rows * c->par[i].cols; j++) {
    double v0 = v[j], h = 1e4 * fmax(1, fabs(v0));
    v[j] = v0 + h;
    dtr_mismatch(c, p, u + off[p], ud + off[p], pub, x, mp);
    v[j] = v0 - h;
    dtr_mismatch(c, p, u + off[p], ud + off[p], pub, x, mm);
    v[j] = v0;
    g[j] = 0;
    for (int k = 0; k < n; k++) g[j] += e[off[p] + k] * ((mp[k] - mm[k]) / (2 * h));
  }
  free(c);
}

/* The terms of E at one step as functions of the published rates (through the prospective
 * voltages uh they come from): e_q,i * m_q,i (e the errors that were published with them),
 * the cost's elements beta * (y_i - r_i)^2 / 2 and the penalty's lam * r_i^2. The
 * mismatches' own u and u' terms do not depend on the rates and are left at zero. Kept
 * apart so that a term a rate does not reach cancels exactly in a difference. Returns the
 * number of terms. */
static int terms_pub(const dtg_model *m, const double *uh, const double *e, const double *x,
                     double t, double *T) {
  int off[DTG_MAXPOP], o = m->npop - 1, n = 0;
  dtr_layout(m, off);
  double pub[NMAX], zero[DTG_MAXN] = { 0 }, mp[DTG_MAXN], y[DTG_MAXN];
  for (int p = 0; p < m->npop; p++)
    for (int i = 0; i < m->pop[p].n; i++)
      pub[off[p] + i] = dtg_rate_eval(m, &m->pop[p], uh[off[p] + i]);
  for (int p = 0; p < m->npop; p++) {
    dtr_mismatch(m, p, zero, zero, pub, x, mp);
    for (int i = 0; i < m->pop[p].n; i++) T[n++] = e[off[p] + i] * mp[i];
  }
  dtr_target(m, t, y);
  for (int i = 0; i < m->pop[o].n; i++) {
    double d = y[i] - pub[off[o] + i];
    T[n++] = m->cst[m->beta].v[0] * 0.5 * d * d;
  }
  for (int i = 0; m->lam >= 0 && i < m->pop[m->lam_pop].n; i++) {
    double r = pub[off[m->lam_pop] + i];
    T[n++] = m->cst[m->lam].v[0] * r * r;
  }
  return n;
}

void dtr_rule_tau_r(const dtg_model *m, int i, const double *ud, const double *uh_pub,
                    const double *e_pub, const double *x, double t, double *g) {
  int off[DTG_MAXPOP];
  dtr_layout(m, off);
  int p = m->par[i].pop;
  double uh[NMAX], T[4][2 * NMAX];
  memcpy(uh, uh_pub, sizeof uh);
  /* a five-point stencil, term by term: truncation O(h^4) ~ 1e-12, rounding ~ 1e-16 / h of
   * the terms the rate reaches */
  static const double at[4] = { -2, -1, 1, 2 };
  for (int j = 0; j < m->pop[p].n; j++) {
    double *v = &uh[off[p] + j], v0 = *v, h = 1e-3 * fmax(1, fabs(v0)), d = 0;
    int n = 0;
    for (int s = 0; s < 4; s++) {
      *v = v0 + at[s] * h;
      n = terms_pub(m, uh, e_pub, x, t, T[s]);
    }
    *v = v0;
    for (int k = 0; k < n; k++) d += (T[0][k] - T[3][k]) + 8 * (T[2][k] - T[1][k]);
    g[j] = ud[off[p] + j] * d / (12 * h);
  }
}
