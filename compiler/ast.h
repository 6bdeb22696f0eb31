/*
 * ast.h - the syntax tree of a .vle model, as the parser builds it and the checker
 * annotates it.
 *
 * Contract between passes:
 *   parse  (grammar/)     builds vl_decl and vl_expr nodes with spans; names unresolved.
 *   check  (check.c)      resolves every name (vl_expr.sym), expands calls of user `fn`s
 *                         in place (EX_CALL of a user fn becomes its body with the arguments
 *                         substituted; the clone keeps the span of the call), infers the
 *                         shape of every expression, and fills vl_model's per-kind tables.
 *   derive (derive.c)     reads only checked models: every EX_NAME has sym set, there is no
 *                         EX_CALL of a user function left, and every vl_expr.shape is valid.
 * All nodes live in the model's arena.
 */
#ifndef VLE_AST_H
#define VLE_AST_H

#include <stdbool.h>
#include "arena.h"
#include "diag.h"
#include "vle.h"        /* vle_opt (runtime/vle_vocab.h) */

typedef struct vl_expr vl_expr;
typedef struct vl_decl vl_decl;

/* ---- shapes ------------------------------------------------------------------------- */
typedef enum { SH_UNKNOWN = 0, SH_SCALAR, SH_VECTOR, SH_MATRIX } vl_shape_kind;
typedef struct vl_shape {
  vl_shape_kind kind;
  long rows;   /* vector length, or matrix rows; 1 for scalars */
  long cols;   /* matrix columns; 1 otherwise */
} vl_shape;

/* ---- built-in functions (calls that are not user fns) ------------------------------- */
typedef enum {
  BI_NONE = 0,
  /* elementwise, unary: linear (the identity) and the functions of fn.def */
  BI_LINEAR,
#define FN(id, name, phi, text, latex, plain) BI_##id,
#define FND(id, text, latex, plain)
#include "fn.def"
#undef FN
#undef FND
  /* vector -> vector */
  BI_SOFTMAX, BI_LOG_SOFTMAX,
  /* vector -> scalar */
  BI_LOGSUMEXP, BI_SUM, BI_MEAN, BI_SUMSQ, BI_DOT,
  /* population helpers */
  BI_PROSP,   /* prosp(h) or prosp(h, tau) */
  BI_RATE,    /* rate(h) */
  /* constant vector builders */
  BI_FILL, BI_CONCAT, BI_LINSPACE,
  BI_COUNT
} vl_builtin;

/* ---- expressions -------------------------------------------------------------------- */
typedef enum {
  EX_NUM,      /* num */
  EX_NAME,     /* name -> sym (a declaration), or the time t (sym == NULL, is_time) */
  EX_BINARY,   /* lhs op rhs, op one of + - * / @ ^ */
  EX_NEG,      /* -arg */
  EX_DERIV,    /* arg' : time derivative; arg must name a population */
  EX_FIELD,    /* arg.name : h.tau_m, h.tau_r */
  EX_CALL,     /* name(args): a builtin (bi != BI_NONE) or, before check, a user fn */
  EX_VEC,      /* [args] */
  EX_NORM,     /* |arg| : Euclidean norm (|v|^2 is the squared norm) */
  EX_STR,      /* "text" (name holds the text): only as the argument of file(...) */
} vl_expr_kind;

struct vl_expr {
  vl_expr_kind kind;
  vl_span span;
  vl_shape shape;          /* set by check */
  double num;              /* EX_NUM */
  char op;                 /* EX_BINARY: '+', '-', '*', '/', '@', '^' */
  const char *name;        /* EX_NAME, EX_FIELD (field name), EX_CALL (callee) */
  vl_decl *sym;            /* EX_NAME after check; NULL for t */
  bool is_time;            /* EX_NAME: the model time t */
  vl_builtin bi;           /* EX_CALL after check */
  vl_expr *lhs, *rhs;      /* EX_BINARY; EX_NEG, EX_DERIV, EX_FIELD, EX_NORM use lhs */
  vl_expr **args;          /* EX_CALL, EX_VEC */
  int nargs;
  /* Added by the front end. */
  int param;               /* in a fn body before expansion: 1 + index of the parameter
                              this EX_NAME names; 0 everywhere else (and after check) */
  int depth;               /* parser: height of the tree below (1 for a leaf), bounded by
                              FE_MAX_DEPTH so that recursive passes cannot overflow */
};

/* ---- declarations ------------------------------------------------------------------- */
typedef enum {
  D_MODEL, D_USE, D_CONST, D_INPUT, D_TARGET, D_POP, D_WEIGHT, D_BIAS,
  D_FN, D_LET, D_COST, D_ENERGY, D_LEARN, D_SETTINGS, D_FEEDBACK,
} vl_decl_kind;

/* A `key = expr` item of a population block or of settings. */
typedef struct vl_field {
  const char *key;
  vl_span key_span;
  vl_expr *value;          /* for `phi = tanh` and `errors = prospective` an EX_NAME */
} vl_field;

/* One entry of `learn P1, P2 with ...`: a parameter name, or pop.tau_m / pop.tau_r. */
typedef struct vl_learn_item {
  vl_expr *ref;            /* EX_NAME (weight/bias) or EX_FIELD (pop.tau_m) */
  vl_decl *param;          /* after check: the weight/bias/pop declaration */
  const char *field;       /* NULL, "tau_m" or "tau_r" */
} vl_learn_item;

typedef vle_opt vl_opt_kind;   /* VLE_OPT_SGD, VLE_OPT_ADAM: runtime/vle_vocab.h */
typedef enum { CMP_NONE, CMP_GE, CMP_GT, CMP_LE, CMP_LT } vl_cmp;

struct vl_decl {
  vl_decl_kind kind;
  vl_span span;            /* the whole declaration's first token */
  const char *name;        /* NULL for energy, learn, settings, use */
  vl_span name_span;
  const vl_source *file;   /* the file it came from (use'd files differ) */

  /* D_USE */
  const char *use_path;    /* "path.vle" as written, or NULL for std.NAME */
  const char *use_std;     /* NAME of use std.NAME */

  /* D_CONST, D_LET, D_COST, D_ENERGY, D_FN (body), D_INPUT/D_TARGET (default stream) */
  vl_expr *value;

  /* D_INPUT, D_TARGET, D_POP, D_BIAS: size n (D_BIAS: of its post population) */
  long size;
  vl_expr *size_expr;      /* as written, for D_INPUT/D_TARGET/D_POP */
  bool onehot;             /* D_TARGET */

  /* D_POP: fields as written, and after check the resolved ones */
  vl_field *fields;
  int nfields;
  vl_expr *tau_m, *tau_r;  /* after check */
  vl_builtin phi;          /* after check; BI_LINEAR by default, BI_NONE with phi_fn */
  vl_decl *phi_fn;         /* after check: phi = a user fn of one argument, or NULL */
  vl_expr *phi_rate;       /* with phi_fn: the checked expansion of fn(prosp(h)), the rate */
  bool flow;               /* `dynamics = gradient` (docs/theory.md §10b): owns no mismatch,
                              follows τᵐ ⊙ u̇ = −∂E/∂u with r = φ(u); after check tau_r is
                              tau_m's expression (unused: ŭ = u) */
  vl_field *dynamics;      /* the `dynamics` field as written, or NULL */

  /* D_WEIGHT [post, pre], D_BIAS [post] */
  const char *post_name, *pre_name;
  vl_span post_span, pre_span;
  vl_decl *post, *pre;     /* after check: post is a D_POP, pre a D_POP or D_INPUT */
  vl_expr *init;           /* NULL (default), EX_NAME (zeros, glorot, identity) or EX_CALL */
  double init_args[2];     /* after check: the numeric arguments of an EX_CALL init, with
                              every const at its default (the checker's evaluation) */

  /* D_FN */
  const char **params;
  vl_span *param_spans;
  int nparams;

  /* D_LEARN */
  vl_learn_item *items;
  int nitems;
  vl_opt_kind opt;
  vl_expr *opt_call;       /* sgd(rate) / adam(rate, b1, b2, eps) as written */
  double opt_args[4];      /* after check: rate, beta1, beta2, eps (Adam defaults filled) */
  vl_cmp clamp_op;
  vl_expr *clamp_value;
  double clamp;            /* after check */

  /* D_SETTINGS */
  /* fields/nfields are reused for the `key = value` items */

  /* D_FEEDBACK: `feedback W = B (with kolen_pollack(lambda))?` (docs/theory.md §10): the
   * back-projection through W uses B (shape of Wᵀ) instead of Wᵀ. Unnamed (name NULL). */
  const char *fb_w_name, *fb_b_name;
  vl_span fb_w_span, fb_b_span;
  vl_decl *fb_w, *fb_b;    /* after check: both D_WEIGHT */
  vl_expr *fb_rule;        /* kolen_pollack(lambda) as written, or NULL: B fixed */
  double fb_decay;         /* after check: λ of Kolen–Pollack, 0 for a fixed B */

  bool used;               /* for warnings: a let or fn that is never used */

  /* Added by the front end. */
  int order;               /* position in vl_model.decls (declaration order) */
  vl_span onehot_span;     /* D_INPUT/D_TARGET: where `onehot` was written (line 0: not) */
  const char *init_path;   /* file("p") initialisers after check: p resolved against the
                              directory of the declaring file */
  const double *cval;      /* after check, D_CONST (and D_LET whose value is constant):
                              the value with every const at its default, cval_len numbers
                              (1 for a scalar); NULL when it is not constant or too big */
  long cval_len;
};

/* A parsed (and, after check, checked) model: all declarations of the main file and of
 * every file it uses, each file once, in order of inclusion. */
typedef struct vl_model {
  vl_arena *arena;
  const char *name;        /* from `model NAME` */
  const vl_source *main;
  vl_vec decls;            /* vl_decl*, in source order, used files first at their `use` */

  /* Filled by check, in declaration order. */
  vl_vec consts, inputs, targets, pops, weights, biases, lets, fns;
  vl_decl *cost;           /* NULL when the model has none */
  vl_decl *energy;
  vl_vec learns;           /* D_LEARN */
  vl_vec feedbacks;        /* D_FEEDBACK, in declaration order */

  /* Settings after check (defaults where unset). errors: "prospective", ... */
  double dt, gamma;
  const char *errors, *scheme;
  long batch;
  /* Equilibrium propagation (docs/theory.md §10b): set when every population follows the
   * gradient flow; `eqprop = one_sided | symmetric`, `free_steps`, `nudged_steps`. */
  bool eqprop, ep_symmetric;
  long ep_free, ep_nudged;
  vl_span ep_span;         /* the first `eqprop`/`free_steps`/`nudged_steps` setting, or line 0 */
} vl_model;

/* Debug printing of expressions in source syntax (used by tests and diagnostics). */
void ast_print_expr(FILE *out, const vl_expr *e);
const char *ast_builtin_name(vl_builtin b);
/* Added by the front end. */
vl_builtin ast_builtin_lookup(const char *name);          /* BI_NONE if not a built-in */
bool ast_builtin_elementwise(vl_builtin b);   /* linear or a function of fn.def */
bool ast_builtin_phi(vl_builtin b);           /* allowed as a population's phi */
/* "linear, tanh, ...": the names of the functions allowed as phi, for messages. */
const char *ast_phi_names(void);
char *ast_expr_string(vl_arena *a, const vl_expr *e);     /* ast_print_expr into a string */
/* The same, printing at most max_nodes nodes ("..." for the rest): for messages. */
char *ast_expr_string_short(vl_arena *a, const vl_expr *e, long max_nodes);

#endif
