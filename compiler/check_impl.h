/*
 * check_impl.h - the checker's internals, shared by its modules (prefix ck_):
 *   check.c        the driver: names, declarations one by one, warnings, tables
 *   check_expr.c   expressions: name resolution, fn expansion, shapes, built-ins
 *   check_eval.c   constant evaluation (sizes, time constants, optimizer arguments ...)
 *   check_param.c  parameters and run settings: init, learn, optimizer, clamp, settings
 */
#ifndef VLE_CHECK_IMPL_H
#define VLE_CHECK_IMPL_H

#include <stdbool.h>
#include "frontend.h"
#include "symtab.h"

/* What an expression depends on (ck_deps): constants depend on nothing. */
enum { CK_DEP_TIME = 1, CK_DEP_STATE = 2 };

/* Per-declaration facts the checker keeps to itself, indexed by vl_decl.order. */
typedef struct ck_info {
  bool bad;                /* the declaration had errors: uses of it stay silent */
  bool checked;            /* its own check is done */
  int deps;                /* D_CONST/D_LET/D_COST: ck_deps of the value */
  const vl_expr *dep_on;   /* the name that made deps non-zero (for messages) */
  const vl_learn_item *learned[3];  /* the learn item of W/b, of .tau_m, of .tau_r */
} ck_info;

/* A fn call being expanded: errors inside the body get a note pointing at the call. */
typedef struct ck_frame {
  const vl_decl *fn;
  vl_span call;
  struct ck_frame *up;
} ck_frame;

typedef struct ck_ctx {
  vl_model *m;
  vl_arena *a;
  dg_ctx *d;
  st_table names;          /* every named declaration, main file and used files */
  ck_info *info;           /* [m->decls.len] */
  vl_decl *cur;            /* the declaration being checked: names must come before it */
  vl_decl *fn;             /* D_FN whose body is being resolved (its params are in scope) */
  ck_frame *frames;        /* fn expansions in progress, innermost first */
  int depth;               /* recursion depth of ck_expr, bounded (stack safety) */
  long clone_budget;       /* nodes fn expansion may still create */
  long eval_budget;        /* element evaluations constant folding may still do */
  int hints_left;          /* "did you mean" searches left (each is linear) */
  int cycle_checks_left;   /* searches for a cycle behind a forward reference (linear) */
  int warnings;            /* warnings so far (capped at CK_MAX_WARNINGS) */
} ck_ctx;

/* Limits of the checker (docs/language.md). */
enum { CK_MAX_CHECK_DEPTH = 4 * FE_MAX_DEPTH };
#define CK_CLONE_BUDGET 2000000L
#define CK_EVAL_BUDGET 50000000L
#define CK_MAX_CVAL 1000000L
enum { CK_MAX_WARNINGS = 100, CK_MAX_PARAMS = 255 };     /* elements of a constant kept as vl_decl.cval */

/* ---- reporting (check.c) -------------------------------------------------------------- */
/* An error, followed by a note per fn expansion in progress. */
void ck_err(ck_ctx *c, vl_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ck_warn(ck_ctx *c, vl_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A note to the error just reported (nothing when that error was not printed). */
void ck_note(ck_ctx *c, vl_span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
ck_info *ck_info_of(ck_ctx *c, const vl_decl *d);
const char *ck_kind_name(vl_decl_kind k);            /* "population", "weight", ... */
/* "a" or "an" before ck_kind_name(k) in a message ("an input", "a weight"). */
const char *ck_article(vl_decl_kind k);

/* ---- expressions (check_expr.c) --------------------------------------------------------- */
/* Resolve, expand and shape e; returns the node that replaces it (fn calls are replaced
 * by their expansion). Never NULL; a node with an error keeps SH_UNKNOWN. */
vl_expr *ck_expr(ck_ctx *c, vl_expr *e);
/* ck_expr, and a weight (a matrix) is an error: weights only stand left of @ or in a
 * parameter term on their way to a reduction (ck_matrix_ok). */
vl_expr *ck_value(ck_ctx *c, vl_expr *e);
/* ck_expr where a matrix may stand (operands of elementwise operations and reductions:
 * |W|^2, sum(abs(W))); a transpose W' is an error here. */
vl_expr *ck_matrix_ok(ck_ctx *c, vl_expr *e);
/* Resolve the names of a fn body without expanding or shaping it. */
void ck_fn_body(ck_ctx *c, vl_decl *fn);
/* Look a name up for the current declaration: unknown names, uses before the definition
 * and self-references are reported. NULL when it is not a usable declaration. */
vl_decl *ck_lookup(ck_ctx *c, const char *name, vl_span sp);
/* What e depends on; *on receives the first name it depends on through (may be NULL). */
int ck_deps(ck_ctx *c, const vl_expr *e, const vl_expr **on);
/* "a scalar", "a vector of length 3", "a weight [3x2]" */
const char *ck_shape_text(ck_ctx *c, vl_shape s);
vl_shape ck_scalar(void);
vl_shape ck_vector(long n);
/* The shape a declaration has when named in an expression (SH_UNKNOWN if it has none). */
vl_shape ck_decl_shape(const vl_decl *d);

/* ---- constants (check_eval.c) ------------------------------------------------------------ */
/* Element i of the checked expression e with every const at its default value (i is
 * ignored for scalars). False when e is not constant or too expensive to evaluate. */
bool ck_eval(ck_ctx *c, const vl_expr *e, long i, double *out);
/* A scalar constant; reports "WHAT must be a constant number" when it is not. */
bool ck_eval_number(ck_ctx *c, vl_expr *e, const char *what, double *out);
/* A whole number in [lo, hi]; reports what is wrong with it. */
bool ck_eval_int(ck_ctx *c, vl_expr *e, const char *what, long lo, long hi, long *out);
/* Fill d->cval when d's value is constant and not too big. */
void ck_keep_value(ck_ctx *c, vl_decl *d);

/* ---- parameters and settings (check_param.c) --------------------------------------------- */
void ck_init(ck_ctx *c, vl_decl *d);        /* weight/bias `init DIST` */
void ck_learn(ck_ctx *c, vl_decl *d);
void ck_feedback(ck_ctx *c, vl_decl *d);      /* feedback W = B (with kolen_pollack(l))? */
void ck_feedback_learning(ck_ctx *c);         /* after every learn line: fixed vs learned */
void ck_settings(ck_ctx *c, vl_decl *d);

#endif
