/*
 * ex_internal.h - what the modules of the symbolic engine share and nobody else needs.
 *
 *   expr.c        nodes, hash-consing, the simplifying constructors (canonical forms)
 *   ex_walk.c     traversal in topological order; subst, contains, count, terms
 *   ex_simplify.c the heavier rewrites (factoring sums)
 *   ex_diff.c     reverse and forward mode
 *   ex_eval.c     the numeric oracle
 *   ex_print.c    text, LaTeX and ASCII printers
 */
#ifndef VLE_EX_INTERNAL_H
#define VLE_EX_INTERNAL_H

#include "expr.h"

/* Every node is allocated inside a cell whose second field points back at the node, so
 * that ex_terms() can hand out a one-element array for a node that is not a sum. */
typedef struct ex_cell {
  ex_node node;
  ex_node *self;
} ex_cell;

/* ---- shapes ------------------------------------------------------------------------ */
static inline ex_shape ex_scalar_shape(void) { return (ex_shape){EXS_SCALAR, 1, 1}; }
static inline ex_shape ex_vec_shape(long n) { return (ex_shape){EXS_VECTOR, n, 1}; }
static inline ex_shape ex_mat_shape(long r, long c) { return (ex_shape){EXS_MATRIX, r, c}; }
static inline bool ex_shape_eq(ex_shape a, ex_shape b) {
  return a.kind == b.kind && a.rows == b.rows && a.cols == b.cols;
}
static inline bool ex_is_scalar(const ex_node *x) { return x->shape.kind == EXS_SCALAR; }
static inline long ex_size(ex_shape s) { return s.rows * s.cols; }

/* ---- traversal (ex_walk.c) --------------------------------------------------------- */
/* The nodes reachable from roots, children before parents (a topological order), each
 * once. Nodes for which stop(user, node) is true are listed but not descended into.
 * The array lives in `a`; its length is stored in *n. Iterative: any depth is fine. */
typedef bool (*ex_stop_fn)(void *user, const ex_node *x);
ex_node **ex_topo(vl_arena *a, ex_node *const *roots, int nroots, ex_stop_fn stop,
                  void *user, int *n);
/* The largest id among the roots: every node below them has a smaller one, so an array
 * of max_id + 1 entries indexed by id can hold per-node data for a traversal. */
int ex_max_id(ex_node *const *roots, int n);

/* Rebuild x with new arguments through the simplifying constructors. */
ex_node *ex_rebuild(ex_ctx *c, const ex_node *x, ex_node *const *args);

/* ---- constructors (expr.c) that are internal conveniences -------------------------- */
ex_node *ex_fit(ex_ctx *c, ex_node *x, ex_shape s);  /* scalar x broadcast to shape s */
bool ex_is_const(const ex_node *x);                   /* a number or a vector of numbers */

/* ---- differentiation (ex_diff.c) --------------------------------------------------- */

#endif
