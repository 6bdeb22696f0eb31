/*
 * dt_ref.h - the differential tests' own numerics (prefix dtr_), from a dtg_model
 * description and docs/theory.md alone: no vle code, no derivation.
 *
 *  - dtr_mismatch evaluates a population's mismatch m_p (normalised so that its owned term
 *    is 0.5*|m_p|^2) from u_p, u'_p, the published rates and the input (a transposed source
 *    W' @ v reads W[j, i] for element i);
 *  - dtr_forward integrates the sync scheme of docs/theory.md §6 with gamma = 0: at step k each
 *    population solves m_p = 0 for u'_p, with a_p = m_p(1) - m_p(0) and c_p = m_p(0) found
 *    by evaluating the mismatch (it is affine in u'_p), reading the rates published at step
 *    k-1 (zero before the first step) and the input at t_k; then it publishes
 *    r_p = phi(u_p + tau_r u'_p) and takes u_p <- u_p + dt u'_p;
 *  - dtr_objective is J = (1/beta) sum_k dt R_k (docs/theory.md §4), R = E minus the owned
 *    mismatches = beta*C + lam*|rate(h)|^2 + 0.5*|x - Wd rate(h)|^2 (the input's own
 *    mismatch, §8) + the priors lp*0.5*|theta|^2, lp*sum|theta|; the rates are those
 *    published at step k-1, x and y at t_k;
 *  - dtr_fd_grad: central finite differences of J;
 *  - dtr_rule, dtr_rule_tau_r: the plasticity rule G = dE/dtheta with m -> e, by
 *    differentiating the mismatches (and for tau_r the cost and penalty) numerically; the
 *    input's mismatch with e_x = m_x; the priors' lp*theta, lp*sign(theta) written out.
 */
#ifndef VLE_DT_REF_H
#define VLE_DT_REF_H

#include "dt_gen.h"

/* Offsets of each population in a flat vector of all neurons; returns the total. */
int dtr_layout(const dtg_model *m, int *off);

void dtr_input(const dtg_model *m, double t, double *x);
void dtr_target(const dtg_model *m, double t, double *y);

/* m_p at (u_p, u'_p), published rates pub (all neurons, flat), input x. */
void dtr_mismatch(const dtg_model *m, int p, const double *u, const double *ud,
                  const double *pub, const double *x, double *out);

/* K steps of the sync forward pass. U, UD, R (each K * N, any may be NULL) receive u(k)
 * before step k, u'(k) and the rate published at step k. */
void dtr_forward(const dtg_model *m, int K, double dt, double *U, double *UD, double *R);

double dtr_objective(const dtg_model *m, int K, double dt);

/* dJ/dtheta of parameter i by central differences (count = rows * cols values). */
void dtr_fd_grad(const dtg_model *m, int i, int K, double dt, double *g);

/* G of parameter i (a weight, bias or tau_m) at one step: sum_p e_p . dm_p/dtheta over every
 * population (a tied weight has two uses) + e_x . dm_x/dtheta (the decoder; e_x = m_x at the
 * published rates and x(t_k)) + the prior's derivative, with the step's own u, u', the
 * published rates and the input; e as vle recorded them. */
void dtr_rule(const dtg_model *m, int i, const double *u, const double *ud, const double *pub,
              const double *x, const double *e, double *g);

/* G of a learned tau_r of population p at step k: u'_p(k) * dE/d(uh_p), E as a function of
 * the values published at step k-1 (prospective voltages uh_pub, so the rates phi(uh_pub),
 * and the errors e_pub that vle published with them) and of the target at t_k:
 * sum_q e_q . m_q + beta*C + lam*|rate(h)|^2, differentiated by central differences. */
void dtr_rule_tau_r(const dtg_model *m, int i, const double *ud, const double *uh_pub,
                    const double *e_pub, const double *x, double t, double *g);

#endif
