/*
 * derive.h - from a checked model to the derived system of docs/theory.md §2-5.
 *
 * Expects: a model that passed ck_check (ast.h contract).
 * Guarantees: on success every population has its mismatch m, the split
 *   m = a ⊙ u̇ + c, the forward dynamics u̇ = (γ e − c)/a, the back-propagated error g with
 *   q and b (when the split of docs/theory.md §4 holds), and every parameter its gradient
 *   G = ∂E/∂θ |_{m→e}; all as expressions of the symbolic engine (expr.h) over the symbols
 *   below. Errors (no owner, two owners, non-affine in u̇, a population without mismatch,
 *   a broken split) are reported with the location of the term.
 */
#ifndef VLE_DERIVE_H
#define VLE_DERIVE_H

#include <stdbool.h>
#include <stdio.h>
#include "ast.h"
#include "expr.h"

/* Meaning of X_SYM leaves built by the derivation (ex_node.sym_kind). */
typedef enum {
  S_U,        /* u_p          index: population */
  S_UDOT,     /* u̇_p          population */
  S_E,        /* e_p          population */
  S_W,        /* weight       index into model->weights */
  S_B,        /* bias         index into model->biases */
  S_TAUM,     /* τᵐ_p         population */
  S_TAUR,     /* τʳ_p         population */
  S_INPUT,    /* input        index into model->inputs */
  S_TARGET,   /* target       index into model->targets */
  S_CONST,    /* const        index into model->consts */
  S_TIME,     /* t */
  S_GAMMA,    /* γ (setting) */
  S_DT,       /* dt (setting) */
  S_UB,       /* ŭ_p = u_p + τʳ_p ⊙ u̇_p, kept opaque while deriving errors */
  S_NSYM,     /* the number of model symbol kinds above (lowering maps each to buffers) */
  /* The error schemes' own states (docs/theory.md §4), per population: */
  S_PROS_V = S_NSYM, /* v_p: the prospective scheme's low-pass state */
  S_PROS_VDOT, /* v̇_p */
  S_ADJ_W,    /* w_p: the adjoint's backward state */
  /* Kinds private to one pass, listed here so that no two passes can pick the same one
   * (symbols are hash-consed by kind, index and shape): */
  S_BUF,      /* lower.c: a kernel-IR buffer, index = buffer */
  S_DISP_R,   /* derive_print.c: the name r_p of a rate */
  S_DISP_ETA, /* derive_print.c: the learning rate η */
  S_DISP_DOT, /* derive_print.c: a dotted name */
  S_COST_OF,  /* derive.c: the declared cost as one scalar, to find its weight β in E */
  S_UB_INNER, /* derive.c: ŭ_p read inside a call or product of p's own mismatch, while the
                 bare ŭ_p around it are written out (dv_own_view) */
  S_EXTRA     /* the first kind free for tools and tests */
} dv_sym_kind;

typedef enum { PK_WEIGHT, PK_BIAS, PK_TAU_M, PK_TAU_R } dv_param_kind;

typedef struct dv_pop {
  vl_decl *decl;
  int index;
  long n;
  ex_node *u, *udot, *e, *taum, *taur;  /* symbols */
  ex_node *rate;          /* φ(u + τʳ ⊙ u̇): what `rate(h)` means */
  ex_node *rate_sym;      /* φ(ŭ) with the symbol ŭ */
  ex_node *ub, *ub_def;   /* the symbol ŭ_p and its definition u_p + τʳ_p ⊙ u̇_p */
  ex_node *m_sym;         /* the mismatch with prospective voltages as ŭ symbols */
  /* Lateral recurrence (theory.md §8): p's own mismatch reads p's own rate, r_p = φ(ŭ_p),
   * inside a call or product. That read is a published value (under sync: step k−1), so it
   * stays the symbol ŭ_p in m, a and c (then m is affine in u̇_p) and feeds p's own g. */
  bool lateral;
  ex_node *m_read;        /* lateral: m with only the bare own ŭ_p written out (the terms
                             the errors read, dv_read_term); NULL otherwise */
  ex_node *g_show;        /* g with ŭ symbols, for printing */
  /* §2: the owned mismatch, with a > 0 */
  ex_node *m;
  vl_span m_span;         /* the energy term it came from */
  ex_node *a, *c;         /* m = a ⊙ u̇ + c */
  /* §3 */
  ex_node *udot_rhs;      /* (γ e − c) / a */
  /* §4 */
  bool split_ok;          /* q, b state-independent: local schemes available */
  const char *split_why;  /* why not, when !split_ok */
  ex_node *q, *b, *g;     /* Q = q ⊙ e − g, P = a ⊙ e − b ⊙ g */
  int order;              /* position in a feed-forward order (inputs first) */
} dv_pop;

typedef struct dv_param {
  const char *name;       /* "W1", "b1", "h1.tau_m" */
  dv_param_kind kind;
  vl_decl *decl;          /* the weight, bias or population */
  int pop;                /* for τ: the population; for W, b: the post population */
  ex_node *sym;
  ex_node *G;             /* ∂E/∂θ |_{m→e}: what optimizers descend */
  int learn;              /* index into model->learns, or -1 when not learned */
  bool used;              /* the energy depends on it */
  /* Feedback alignment (theory.md §10, `feedback W = B`): */
  int fb;                 /* W: the parameter index of its feedback matrix B, or -1 */
  int fb_of;              /* B: the parameter index of the weight W it serves, or -1 */
  const vl_decl *fb_decl; /* W and B: their feedback line, or NULL */
  bool fb_hit;            /* W: some g back-projects through it (replaced by B) */
} dv_param;

/* A mismatch owned by a clamped signal (theory.md §8): an input, or a target predicted
 * through a weight whose post side it is. No dynamics: its error is the mismatch itself,
 * e = m. The term stays in the rest R (so in J), and its gradient feeds the g of the
 * populations that predict the signal. For printing. */
typedef struct dv_clamped {
  const char *name;       /* the input or target */
  bool target;
  long n;
  ex_node *m;             /* with ŭ symbols, oriented so that the signal enters with + */
} dv_clamped;

typedef struct dv_system {
  vl_model *model;
  ex_ctx *x;
  dv_pop *pops;
  int npops;
  dv_param *params;
  int nparams;
  ex_node **inputs, **targets, **consts;   /* symbols, by model table index */
  ex_node *t, *gamma, *dt;
  ex_node *energy;        /* E as written */
  ex_node *rest;          /* E minus the owned mismatch terms (the cost part) */
  ex_node *cost;          /* C: the `cost` declaration, or `rest` without one */
  /* The objective J = (1/β) ∫ R dt that `vlec grad` differentiates and the local rules
   * descend (theory.md §4), R = rest: β is the coefficient with which the declared cost
   * enters E (found symbolically, a constant expression), 1 without a declared cost. */
  ex_node *beta;
  ex_node *objective;     /* its integrand R/β (R when β is the number 0) */
  ex_node *objective_sym; /* the same with ŭ symbols, for printing */
  ex_node *F;             /* Σ_p ⟨m_p, e_p⟩ + rest: E with mismatches replaced by errors */
  dv_clamped *clamped;    /* the mismatches of the rest owned by clamped signals */
  int nclamped;
  ex_node *rest_sym, *cost_sym;   /* rest and cost with ŭ symbols (for printing) */
  ex_node **ub_syms, **ub_defs;   /* per population: ŭ_p and u_p + τʳ_p ⊙ u̇_p */
  /* statistics for the closing note and --stats */
  long nodes_raw, nodes_final;
  double millis;
} dv_system;

dv_system *dv_derive(vl_model *m, dg_ctx *d, vl_arena *a);

/* Kolen–Pollack (theory.md §10) on gradients G[0..nparams) computed from F: for every
 * `feedback W = B with kolen_pollack(λ)`, G_B = (G_W without its prior terms)ᵀ + λ B and
 * G_W += λ W. Returns the name of a W whose G cannot be transposed, or NULL. */
const char *dv_feedback_grads(dv_system *s, ex_node **G);

/* Build the expression of a checked AST expression (lets, costs and consts resolved). */
ex_node *dv_expr(dv_system *s, const vl_expr *e);
/* x with every ŭ symbol replaced by its definition: only model quantities remain. */
ex_node *dv_expand(dv_system *s, ex_node *x);

/* The error schemes of docs/theory.md §4. Their formulas are written once, in dv_schemes_build:
 * `vlec derive` prints them and the lowering compiles them (it passes its buffers as g, v,
 * v̇, w and the published a, b, q), so what is printed is what runs. */
typedef struct dv_scheme_in {
  ex_node *g, *a, *b, *q;  /* the back-propagated error and the split's coefficients */
  ex_node *v, *vdot, *w;   /* the schemes' own states */
} dv_scheme_in;
typedef struct dv_schemes {
  ex_node *inst;          /* (4b) e = g / q */
  ex_node *v_dot;         /* (4c) v̇ = (g − v) / b  (printed as b ⊙ v̇ = −v + g) */
  ex_node *pros_e;        /* (4c) e = (v + (a/q) ⊙ v̇) / q */
  ex_node *adj_e;         /* (4a) e = (b/a) ⊙ g + w */
  ex_node *adj_w_dot;     /* (4a) ẇ = (q ⊙ w − (1 − q b / a) ⊙ g) / a */
  ex_node *v, *vdot, *w;  /* the symbols used above */
} dv_schemes;
void dv_schemes_build(ex_ctx *x, const dv_scheme_in *in, dv_schemes *out);
/* With p's own g, a, b, q and the symbols v_p, v̇_p, w_p (S_PROS_V, S_PROS_VDOT, S_ADJ_W). */
void dv_schemes_of(dv_system *s, const dv_pop *p, dv_schemes *out);
/* The same with a given g (e.g. the printable g_show). */
void dv_schemes_with(dv_system *s, const dv_pop *p, ex_node *g, dv_schemes *out);

/* For printing: −(−a − b) ⊙ c as (a + b) ⊙ c (a product with the coefficient −1 and a sum
 * whose terms are mostly negated); anything else unchanged. */
ex_node *dv_tidy_sign(ex_ctx *x, ex_node *g);

/* e with the display names of `vlec derive`: r_p for φ(ŭ_p), ŭ_p for u_p + τʳ_p ⊙ u̇_p. */
ex_node *dv_display(dv_system *s, ex_node *e);

typedef enum { DV_TEXT, DV_LATEX, DV_JSON } dv_format;
void dv_print(FILE *out, dv_system *s, dv_format f);

#endif
