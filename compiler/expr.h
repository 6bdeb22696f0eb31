/*
 * expr.h - the symbolic engine: a hash-consed expression DAG over scalars, vectors and
 * matrices, with a simplifier, reverse- and forward-mode differentiation, substitution,
 * a numeric evaluator and printers.
 *
 * What it expects and guarantees:
 *  - Nodes are immutable and unique: building the same expression twice returns the same
 *    pointer (hash-consing), so pointer equality is structural equality and shared
 *    subexpressions are one node.
 *  - The constructors simplify as they build (constant folding, neutral and absorbing
 *    elements, flattening of + and *, canonical operand order, collecting like terms
 *    c1*x + c2*x, x - x = 0, x*x = x^2, x^a * x^b = x^(a+b)). ex_simplify() runs the heavier
 *    rewrites (pulling common elementwise factors out of sums) on a finished expression.
 *  - Shapes are checked when building; a shape error is a bug in the caller (assert).
 *  - Symbols (leaves standing for model quantities) are opaque to the engine: identified by
 *    (kind, index, shape); their meaning belongs to the derivation (derive.h).
 *  - Everything lives in the arena given to ex_new(); dropping the arena frees it.
 */
#ifndef VLE_EXPR_H
#define VLE_EXPR_H

#include <stdbool.h>
#include <stdio.h>
#include "arena.h"

/* ---- shapes: scalar, vector of n, matrix rows x cols ------------------------------- */
typedef enum { EXS_SCALAR, EXS_VECTOR, EXS_MATRIX } ex_shape_kind;
typedef struct ex_shape {
  ex_shape_kind kind;
  long rows, cols;       /* scalar: 1x1; vector: n x 1; matrix: rows x cols */
} ex_shape;

/* ---- node kinds -------------------------------------------------------------------- */
typedef enum {
  X_NUM,       /* constant: num; a scalar, or a vector/matrix whose elements all equal num */
  X_SYM,       /* symbol leaf: sym_kind, sym_index, name, shape */
  X_VEC,       /* vector literal of scalar args[0..n-1] */
  X_ADD,       /* n-ary elementwise sum (scalars broadcast) */
  X_MUL,       /* n-ary elementwise product (scalars broadcast); division is x^-1 */
  X_POW,       /* elementwise args[0] ^ args[1], args[1] scalar */
  X_FN,        /* elementwise function fn of args[0] */
  X_MATVEC,    /* args[0] (matrix m x n) @ args[1] (vector n) -> vector m */
  X_MATTVEC,   /* args[0]^T (matrix m x n) @ args[1] (vector m) -> vector n */
  X_OUTER,     /* args[0] (vector m) args[1]^T (vector n) -> matrix m x n */
  X_SUM,       /* sum of the elements of args[0] -> scalar */
  X_SOFTMAX,   /* softmax of vector args[0] -> vector */
  X_LOGSUMEXP, /* log sum exp of vector args[0] -> scalar */
  X_BCAST,     /* scalar args[0] broadcast to `shape` (a vector of `rows`, or a matrix) */
} ex_op;

/* Elementwise functions, including the derivatives the differentiator needs: the list is
 * fn.def, their maths fn_math.c. */
typedef enum {
#define FN(id, name, phi, text, latex, plain) F_##id,
#define FND(id, text, latex, plain) F_##id,
#include "fn.def"
#undef FN
#undef FND
  F_COUNT
} ex_fn;

typedef struct ex_node ex_node;
struct ex_node {
  ex_op op;
  ex_shape shape;
  int nargs;
  ex_node **args;
  double num;            /* X_NUM */
  ex_fn fn;              /* X_FN */
  int sym_kind;          /* X_SYM: meaning defined by the user of the engine */
  int sym_index;         /* X_SYM */
  const char *name;      /* X_SYM: how it prints, e.g. "u_h1", "W1", "τᵐ_h1" */
  const char *latex;     /* X_SYM: LaTeX form (may be NULL: name is used) */
  unsigned hash;
  int id;                /* creation order: a topological order of the DAG */
};

typedef struct ex_ctx ex_ctx;

ex_ctx  *ex_new(vl_arena *a);
vl_arena *ex_arena(ex_ctx *c);
long     ex_total_nodes(const ex_ctx *c);        /* nodes ever created in this context */

/* ---- construction (simplifying) ---------------------------------------------------- */
ex_node *ex_num(ex_ctx *c, double v);
ex_node *ex_sym(ex_ctx *c, int kind, int index, ex_shape shape, const char *name,
                const char *latex);
ex_node *ex_vec(ex_ctx *c, ex_node *const *elems, int n);
ex_node *ex_add(ex_ctx *c, ex_node *a, ex_node *b);
ex_node *ex_sub(ex_ctx *c, ex_node *a, ex_node *b);
ex_node *ex_mul(ex_ctx *c, ex_node *a, ex_node *b);
ex_node *ex_div(ex_ctx *c, ex_node *a, ex_node *b);
ex_node *ex_neg(ex_ctx *c, ex_node *a);
ex_node *ex_pow(ex_ctx *c, ex_node *a, ex_node *b);   /* b scalar */
ex_node *ex_fn1(ex_ctx *c, ex_fn f, ex_node *a);
ex_node *ex_matvec(ex_ctx *c, ex_node *W, ex_node *x);
ex_node *ex_mattvec(ex_ctx *c, ex_node *W, ex_node *x);
ex_node *ex_outer(ex_ctx *c, ex_node *a, ex_node *b);
ex_node *ex_sum(ex_ctx *c, ex_node *v);
ex_node *ex_softmax(ex_ctx *c, ex_node *v);
ex_node *ex_logsumexp(ex_ctx *c, ex_node *v);
ex_node *ex_bcast(ex_ctx *c, ex_node *s, long n);
/* Added: a number filled into a shape (X_NUM carries a shape: see X_NUM above), and a
 * scalar broadcast to any shape (a vector or a matrix). */
ex_node *ex_num_like(ex_ctx *c, double v, ex_shape s);
ex_node *ex_bcast_to(ex_ctx *c, ex_node *s, ex_shape shape);
/* conveniences built from the above */
ex_node *ex_dot(ex_ctx *c, ex_node *a, ex_node *b);       /* sum(a*b) */
ex_node *ex_sumsq(ex_ctx *c, ex_node *v);                 /* sum(v^2) */
ex_node *ex_mean(ex_ctx *c, ex_node *v);                  /* sum(v)/n */
ex_node *ex_log_softmax(ex_ctx *c, ex_node *v);           /* v - logsumexp(v) */
ex_node *ex_zero_like(ex_ctx *c, ex_shape s);             /* the 0 of shape s; the scalar 0
                                                             also works as a zero of any shape */
/* Build an n-ary sum or product of several operands at once. */
ex_node *ex_addn(ex_ctx *c, ex_node *const *xs, int n);
ex_node *ex_muln(ex_ctx *c, ex_node *const *xs, int n);

bool ex_is_zero(const ex_node *x);                 /* the number 0 */
bool ex_is_one(const ex_node *x);
bool ex_is_num(const ex_node *x, double *v);

/* ---- rewriting --------------------------------------------------------------------- */
ex_node *ex_simplify(ex_ctx *c, ex_node *x);
/* Replace every occurrence of from[i] (any node, not only leaves) by to[i]. */
ex_node *ex_subst(ex_ctx *c, ex_node *x, ex_node *const *from, ex_node *const *to, int n);
/* Does x contain node y? */
bool ex_contains(const ex_node *x, const ex_node *y);
/* Does x depend on y only elementwise: every path from x down to y passes only through
 * X_ADD, X_MUL, X_POW, X_FN, X_BCAST (no matrix product, reduction or softmax)? True when
 * x does not contain y at all. */
bool ex_elementwise_in(const ex_node *x, const ex_node *y);
/* Number of distinct nodes reachable from the roots. */
long ex_count(ex_node *const *roots, int n);
/* Terms of a top-level sum (x itself when it is not an X_ADD). */
int ex_terms(ex_node *x, ex_node ***out);

/* ---- differentiation --------------------------------------------------------------- */
/* Reverse mode: the gradient of the scalar f with respect to each of wrt[0..n-1] (any
 * nodes; internal nodes named in wrt are treated as independent leaves: the sweep does not
 * go below them). grad[i] has the shape of wrt[i] (0 when f does not depend on it).
 * Products come out as transposed matrix products (W^T v) and outer products (e r^T). */
void ex_grad(ex_ctx *c, ex_node *f, ex_node *const *wrt, int n, ex_node **grad);
/* Forward mode: the directional derivative of x along tangents dx[i] of wrt[i]
 * (e.g. the time derivative d/dt given the derivative of each leaf). */
ex_node *ex_fwd(ex_ctx *c, ex_node *x, ex_node *const *wrt, ex_node *const *dx, int n);

/* ---- numeric evaluation (the oracle: no LLVM involved) ----------------------------- */
/* A value: rows*cols doubles, row-major. */
typedef struct ex_val {
  ex_shape shape;
  double *v;
} ex_val;
/* Called for every X_SYM reached; returns its value (rows*cols doubles) or NULL when
 * unknown (then evaluation fails and ex_eval returns false). */
typedef const double *(*ex_lookup_fn)(void *user, const ex_node *sym);
bool ex_eval(ex_ctx *c, ex_node *x, ex_lookup_fn lookup, void *user, vl_arena *scratch,
             ex_val *out);
/* Evaluate several roots sharing one memo table (common subexpressions computed once). */
bool ex_eval_many(ex_ctx *c, ex_node *const *xs, int n, ex_lookup_fn lookup, void *user,
                  vl_arena *scratch, ex_val *out);

/* ---- printing ---------------------------------------------------------------------- */
typedef enum { EXP_TEXT, EXP_LATEX, EXP_PLAIN } ex_style;  /* TEXT: Unicode (⊙, ᵀ); PLAIN: ASCII */
void  ex_print(FILE *out, const ex_node *x, ex_style style);
char *ex_to_string(vl_arena *a, const ex_node *x, ex_style style);
const char *ex_fn_name(ex_fn f);

#endif
