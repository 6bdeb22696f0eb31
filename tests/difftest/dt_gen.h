/*
 * dt_gen.h - random models for the differential tests (prefix dtg_).
 *
 * dtg_generate draws, from a seed, a layered network inside the .vle language (1-4 hidden
 * populations of 1-5 neurons and an output, skip connections, loops from a later population
 * back to an earlier one, random smooth phi, inline user functions applied to rates, scaled
 * and precision-weighted mismatches, an extra activity penalty, learnable time constants,
 * per-neuron time constants, scalar and vector constants; under flags: lateral recurrence,
 * priors on parameters, tied weights used transposed, a mismatch owned by the input). The result is a *description*
 * (dtg_model) from which the tests evaluate the energy themselves (dt_ref.h), and
 * dtg_text prints the same model as .vle source. Every number is printed with %.17g, so
 * the compiled model and the description hold the same doubles.
 *
 * Parameter values are part of the description (the tests write them into the sim), so
 * nothing depends on vle's initialisers.
 */
#ifndef VLE_DT_GEN_H
#define VLE_DT_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { DTG_MAXPOP = 5, DTG_MAXN = 5, DTG_MAXIN = 4, DTG_MAXSRC = 6, DTG_MAXPAR = 48,
       DTG_MAXCONST = 12, DTG_MAXFN = 2 };

/* Generator flags: features the compiler did not accept at first, bugs of issue 12 and the
 * constructs of issue 14 (on: those that pass, DTG_DEFAULT_FLAGS); DT_FLAGS=N in the
 * environment sets them. */
enum {
  DTG_F_COST_NAME     = 1 << 0,  /* bug (issue 12 item 2, fixed): the cost weight under other
                                    names than `beta`; off: it is always called beta */
  DTG_F_SIGMA_FACTOR  = 1 << 1,  /* bug (item 6, fixed): 0.5*|s*(prosp - drive)|^2 (the factor
                                    outside the difference); off: s*prosp - s*(drive) */
  DTG_F_PROSP_Q       = 1 << 2,  /* bug (item 1, fixed): compare prospective where q != 1; off:
                                    the prospective checks run on the model's q = 1 twin */
  DTG_F_USER_PHI      = 1 << 3,  /* phi = f for a user fn (supported since session 4) */
  DTG_F_LATERAL       = 1 << 4,  /* Wrec @ rate(h) in h's own mismatch (read as published), a
                                    cycle of one capped like the others (tau_r <= tau_m / 2) */
  DTG_F_EXTRA_COST    = 1 << 5,  /* an activity penalty lam*|rate(h)|^2 in the energy (J) */
  DTG_F_CONST_FACTOR  = 1 << 6,  /* bug (item 6, docs/theory.md §8, fixed): c*0.5*|m|^2 with c a
                                    named const; off: the factor is written as a number */
  DTG_F_LIN_PENALTY   = 1 << 7,  /* the activity penalty also on a population with a linear
                                    rate: lam*|rate(h)|^2 is then affine in h' (fixed, see
                                    tests/data/difftest/linear_penalty.vle); off: nonlinear only */
  DTG_F_TAU_CONST     = 1 << 9,  /* time constants through consts, also concat(fill, fill)
                                    (issue 12 item 7) */
  DTG_F_GELU          = 1 << 10, /* phi = gelu (x * Phi(x), added to the language in f0991ae) */
  DTG_F_FAST_LOOP     = 1 << 8,  /* loops as first generated: weight gain 0.5 and no cap on the
                                    loop source's tau_r (tests/data/difftest/fast_loop.vle) */
  DTG_F_PRIOR         = 1 << 11, /* parameter terms (docs/theory.md §8): up to two priors on
                                    learned weights or biases, 0.5*lp*|W|^2 or lp*sum(abs(W))
                                    (an L1 prior's values are kept >= 1e-3 away from 0, so
                                    that FD of J never crosses the kink) */
  DTG_F_TIED          = 1 << 12, /* transposes (§8): an existing W[p, q] used again as
                                    W' @ rate(c) in d's mismatch, |c| = rows, |d| = cols,
                                    c < d (forward only: no new cycle) */
  DTG_F_PREDICT_INPUT = 1 << 13, /* a mismatch owned by the input (§8): 0.5*|x - Wd @ rate(h)|^2
                                    with a learned Wd[x, h]: in R (so J), not in the dynamics */
};
enum { DTG_NFLAGS = 14 };
/* What the compiler handles correctly today; the others stay off until their bug is fixed.
 * The constructs of docs/theory.md §8 (lateral, prior, tied, predict_input) are drawn after
 * the rest of the model, so they add to the models of the other flags. */
#define DTG_DEFAULT_FLAGS (DTG_F_COST_NAME | DTG_F_SIGMA_FACTOR | DTG_F_PROSP_Q | DTG_F_EXTRA_COST | \
                           DTG_F_CONST_FACTOR | DTG_F_LIN_PENALTY | DTG_F_TAU_CONST | DTG_F_GELU | \
                           DTG_F_USER_PHI | DTG_F_LATERAL | DTG_F_PRIOR | DTG_F_TIED | \
                           DTG_F_PREDICT_INPUT)
unsigned dtg_default_flags(void);   /* DTG_DEFAULT_FLAGS, or $DT_FLAGS (a number) if set */
const char *dtg_flag_names(unsigned flags, char *buf, size_t len);

/* The first DTG_NBASE are drawn uniformly; gelu only under DTG_F_GELU (so that the models of
 * other flags, and the regression cases, stay what they were). */
typedef enum { DTG_LINEAR, DTG_TANH, DTG_SIGMOID, DTG_SOFTPLUS, DTG_SIN, DTG_GELU, DTG_NPHI } dtg_phi;
enum { DTG_NBASE = DTG_GELU };
typedef enum { DTG_SRC_INPUT, DTG_SRC_RATE } dtg_src_kind;
/* How the owned term is written, and its normalised mismatch m = k * (u + tau_m u' - drive). */
typedef enum {
  DTG_SCALE_ONE,        /* 0.5*|prosp - (drive)|^2                      k = 1        */
  DTG_SCALE_C,          /* c*0.5*|prosp - (drive)|^2, c a scalar const  k = sqrt(c)  */
  DTG_SCALE_SIGMA,      /* 0.5*|s*prosp - s*(drive)|^2, s scalar/vector k = s        */
  DTG_SCALE_SIGMA_FACT, /* 0.5*|s*(prosp - (drive))|^2 (DTG_F_SIGMA_FACTOR)         */
} dtg_scale;
typedef enum { DTG_P_WEIGHT, DTG_P_BIAS, DTG_P_TAU_M, DTG_P_TAU_R } dtg_pkind;
/* How a time constant is written: `tau_m = 0.5`, `= [0.5, 0.7]`, or through a const
 * `const tm_h1 = [...]` / `= concat(fill(k, a), fill(n - k, b))` (DTG_F_TAU_CONST). */
typedef enum { DTG_TAU_SCALAR, DTG_TAU_VECTOR, DTG_TAU_CONST, DTG_TAU_FILL } dtg_tauform;

typedef struct dtg_src {
  dtg_src_kind kind;
  int from;          /* input element block (always 0: the one input) or population index */
  int w;             /* parameter index of the weight */
  bool transpose;    /* W' @ rate(from) (DTG_F_TIED): a second use of a weight declared by
                        another source, read transposed (W[j, i] for element i) */
  int fn;            /* -1, or the user fn applied to the rate: W @ f(rate(q)) */
} dtg_src;

typedef struct dtg_pop {
  char name[8];
  int n;
  dtg_phi phi;
  int phi_fn;        /* -1, or the user fn that is phi (DTG_F_USER_PHI: phi = f1) */
  int tau_m, tau_r;  /* parameter indices (always present; learn says if learned) */
  dtg_tauform tau_m_form, tau_r_form;
  bool explicit_prosp;         /* `h + h.tau_m * h'` instead of prosp(h, h.tau_m) */
  int bias;          /* parameter index or -1 */
  int nsrc;
  dtg_src src[DTG_MAXSRC];
  dtg_scale scale;
  int kconst;        /* the const of DTG_SCALE_C / _SIGMA*, else -1 */
} dtg_pop;

typedef struct dtg_param {
  char name[24];
  dtg_pkind kind;
  int pop;           /* the population it belongs to (post side of a weight); -1 for the
                        decoder Wd[x, h] of DTG_F_PREDICT_INPUT (post side: the input) */
  int rows, cols;
  double v[DTG_MAXN * DTG_MAXN];
  bool learn;
  bool dead;         /* dropped by an edit (dtg_edit): not printed, not set, not learned */
} dtg_param;

/* literal: printed as a number where used, not declared (DTG_F_CONST_FACTOR off) */
typedef struct dtg_const { char name[16]; int n; double v[DTG_MAXN]; bool literal; } dtg_const;

/* fn NAME(v) = tanh(v) + c*v  (form 0)  or  c*sin(v) + v  (form 1) */
typedef struct dtg_fn { char name[8]; int form; double c; } dtg_fn;

typedef struct dtg_model {
  uint64_t seed;
  unsigned flags;
  char name[24];
  int nin;                      /* x[nin] = amp*sin(w t + ph) + off */
  double in_amp[DTG_MAXIN], in_w[DTG_MAXIN], in_ph[DTG_MAXIN], in_off[DTG_MAXIN];
  double tg_amp[DTG_MAXN], tg_w[DTG_MAXN], tg_ph[DTG_MAXN], tg_off[DTG_MAXN];
  int npop;                     /* the last one is the output, compared with the target */
  dtg_pop pop[DTG_MAXPOP];
  int npar;
  dtg_param par[DTG_MAXPAR];
  int ncst;
  dtg_const cst[DTG_MAXCONST];
  int nfn;
  dtg_fn fn[DTG_MAXFN];
  int beta;                     /* const of the cost weight */
  int lam, lam_pop;             /* activity penalty lam*|rate(pop)|^2, or -1 */
  int nprior;                   /* DTG_F_PRIOR: lp * (0.5*|par|^2 or sum(abs(par))) */
  struct { int par, lam; bool l1; } prior[2];
  int pred_w, pred_pop;         /* DTG_F_PREDICT_INPUT: 0.5*|x - Wd @ rate(pred_pop)|^2 with
                                   Wd = par[pred_w], or -1 */
  double dt, gamma;
} dtg_model;

/* Draws model `seed` with the given flags; attempt > 0 draws another model for the same
 * seed (dtc_generate retries when a draw's dynamics blow up). */
void dtg_generate(dtg_model *m, uint64_t seed, unsigned attempt, unsigned flags);
/* Applies one edit (the steps of a reduced regression case, dt_check.h dtc_reduce):
 *   "nosrc P S"  drop source S (>= 1: not the layer below) of population P
 *   "nobias P"   drop P's bias          "one P"    P's owned term unscaled (q = 1)
 *   "nofn"       no user fn on rates    "fixtau"   no learned time constants
 *   "nolam"      no activity penalty    "n1 P"     P shrunk to one neuron
 *   "noprior"    no priors              "nopred"   no input-owned mismatch
 * (P a population index). Returns false, leaving m as it was, if it does not apply. */
bool dtg_edit(dtg_model *m, const char *edit);

/* Prints the .vle source of m. */
void dtg_text(const dtg_model *m, FILE *out);
/* The same into a malloc'd string. */
char *dtg_text_alloc(const dtg_model *m);

/* Small helpers the evaluator shares. */
double dtg_phi_eval(dtg_phi f, double x);
/* The rate function of population p: its phi, or the user fn that stands for it. */
double dtg_rate_eval(const dtg_model *m, const dtg_pop *p, double x);
double dtg_fn_eval(const dtg_fn *f, double v);
const char *dtg_phi_name(dtg_phi f);
/* The normalisation k_i of a population's mismatch (1, sqrt(c) or s_i). */
double dtg_scale_k(const dtg_model *m, const dtg_pop *p, int i);
/* true if some population has k != 1 (q != 1 in docs/theory.md §4). */
bool dtg_has_q(const dtg_model *m);

#endif
