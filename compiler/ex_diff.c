/*
 * ex_diff.c - differentiation: reverse mode (ex_grad) and forward mode (ex_fwd).
 *
 * Both walk the DAG once in topological order, so shared subexpressions are differentiated
 * once and the result is linear in the size of the DAG (no tree explosion). The rules are
 * the textbook ones; the constructors tidy the results (W^T a, a b^T, collected terms).
 */
#include "ex_internal.h"
#include "fn_math.h"

#include <assert.h>

/* The product of x's arguments other than the i-th. */
static ex_node *others(ex_ctx *c, const ex_node *x, int i) {
  ex_node *buf[32];
  ex_node **v = x->nargs - 1 <= 32 ? buf : AR_NEWN(ex_arena(c), ex_node *, x->nargs - 1);
  int n = 0;
  for (int j = 0; j < x->nargs; j++)
    if (j != i) v[n++] = x->args[j];
  return ex_muln(c, v, n);
}

/* The constant vector e_i of length n. */
static ex_node *unit(ex_ctx *c, int i, int n) {
  ex_node **e = AR_NEWN(ex_arena(c), ex_node *, n);
  for (int j = 0; j < n; j++) e[j] = ex_num(c, j == i);
  return ex_vec(c, e, n);
}

/* ---- reverse mode ------------------------------------------------------------------ */

typedef struct sweep {
  ex_ctx *c;
  vl_arena *tmp;
  int *wrt_slot;         /* id -> 1 + index into wrt[], or 0 */
  int size;
  vl_vec *adj;           /* id -> the contributions to its adjoint, summed once */
} sweep;

static bool is_wrt(void *user, const ex_node *x) {
  const sweep *s = user;
  return x->id < s->size && s->wrt_slot[x->id] != 0;
}

/* Add the contribution d to the adjoint of x. A scalar used in a vector operation was
 * broadcast: its adjoint is the sum. */
static void give(sweep *s, ex_node *x, ex_node *d) {
  if (ex_is_scalar(x) && !ex_is_scalar(d)) d = ex_sum(s->c, d);
  if (ex_is_zero(d) || x->op == X_NUM) return;
  vec_push(s->tmp, &s->adj[x->id], d);
}

/* Push the adjoint a of x down to its arguments. */
static void backprop(sweep *s, ex_node *x, ex_node *a) {
  ex_ctx *c = s->c;
  ex_node **g = x->args;
  switch (x->op) {
  case X_NUM:
  case X_SYM: return;
  case X_VEC:
    for (int i = 0; i < x->nargs; i++) give(s, g[i], ex_dot(c, a, unit(c, i, x->nargs)));
    return;
  case X_ADD:
    for (int i = 0; i < x->nargs; i++) give(s, g[i], a);
    return;
  case X_MUL:
    for (int i = 0; i < x->nargs; i++)
      if (g[i]->op != X_NUM) give(s, g[i], ex_mul(c, a, others(c, x, i)));
    return;
  case X_POW: {
    ex_node *e1 = ex_sub(c, g[1], ex_num(c, 1));
    give(s, g[0], ex_muln(c, (ex_node *[]){a, g[1], ex_pow(c, g[0], e1)}, 3));
    if (g[1]->op != X_NUM)
      give(s, g[1], ex_muln(c, (ex_node *[]){a, x, ex_fn1(c, F_LOG, g[0])}, 3));
    return;
  }
  case X_FN: give(s, g[0], ex_mul(c, a, fm_deriv(c, x->fn, g[0]))); return;
  case X_MATVEC:                                       /* y = W v */
    give(s, g[0], ex_outer(c, a, g[1]));
    give(s, g[1], ex_mattvec(c, g[0], a));
    return;
  case X_MATTVEC:                                      /* y = W^T v */
    give(s, g[0], ex_outer(c, g[1], a));
    give(s, g[1], ex_matvec(c, g[0], a));
    return;
  case X_OUTER:                                        /* Y = p q^T */
    give(s, g[0], ex_matvec(c, a, g[1]));
    give(s, g[1], ex_mattvec(c, a, g[0]));
    return;
  case X_SUM: give(s, g[0], ex_fit(c, a, g[0]->shape)); return;
  case X_SOFTMAX:                                      /* J^T a = y (a - y.a) */
    give(s, g[0], ex_mul(c, x, ex_sub(c, a, ex_dot(c, x, a))));
    return;
  case X_LOGSUMEXP: give(s, g[0], ex_mul(c, ex_softmax(c, g[0]), a)); return;
  case X_BCAST: give(s, g[0], ex_sum(c, a)); return;
  }
  assert(0 && "bad ex_op");
}

void ex_grad(ex_ctx *c, ex_node *f, ex_node *const *wrt, int n, ex_node **grad) {
  assert(ex_is_scalar(f) && "gradient of a non-scalar");
  vl_arena tmp;
  ar_init(&tmp);
  sweep s = {.c = c, .tmp = &tmp};
  s.size = f->id + 1;
  s.wrt_slot = AR_NEWN(&tmp, int, s.size);
  for (int i = 0; i < n; i++)
    if (wrt[i]->id < s.size) s.wrt_slot[wrt[i]->id] = i + 1;
  s.adj = AR_NEWN(&tmp, vl_vec, s.size);
  ex_node **total = AR_NEWN(&tmp, ex_node *, s.size);

  int nn;
  ex_node **order = ex_topo(&tmp, &f, 1, is_wrt, &s, &nn);
  vec_push(&tmp, &s.adj[f->id], ex_num(c, 1));
  for (int k = nn - 1; k >= 0; k--) {                  /* parents before children */
    ex_node *x = order[k];
    vl_vec *l = &s.adj[x->id];
    if (l->len == 0) continue;
    total[x->id] = ex_fit(c, ex_addn(c, (ex_node **)l->items, l->len), x->shape);
    if (!is_wrt(&s, x) && !ex_is_zero(total[x->id])) backprop(&s, x, total[x->id]);
  }
  for (int i = 0; i < n; i++) {
    ex_node *t = wrt[i]->id < s.size ? total[wrt[i]->id] : NULL;
    grad[i] = t ? t : ex_zero_like(c, wrt[i]->shape);
  }
  ar_free_all(&tmp);
}

/* ---- forward mode ------------------------------------------------------------------ */

/* The tangent of x from the tangents t[] of its arguments (NULL: zero). Sums of many
 * terms are built with one ex_addn, never term by term (that would be quadratic). */
static ex_node *tangent(ex_ctx *c, ex_node *x, ex_node **t) {
  ex_node **g = x->args;
  ex_node *sum = ex_num(c, 0);
  ex_node *buf[16];
  ex_node **terms = x->nargs <= 16 ? buf : AR_NEWN(ex_arena(c), ex_node *, x->nargs);
  int n = 0;
  switch (x->op) {
  case X_NUM:
  case X_SYM: return NULL;
  case X_VEC: {
    ex_node **e = AR_NEWN(ex_arena(c), ex_node *, x->nargs);
    for (int i = 0; i < x->nargs; i++) e[i] = t[i] ? t[i] : ex_num(c, 0);
    return ex_vec(c, e, x->nargs);
  }
  case X_ADD:
    for (int i = 0; i < x->nargs; i++)
      if (t[i]) terms[n++] = t[i];
    return ex_addn(c, terms, n);
  case X_MUL:
    for (int i = 0; i < x->nargs; i++)
      if (t[i]) terms[n++] = ex_mul(c, t[i], others(c, x, i));
    return ex_addn(c, terms, n);
  case X_POW:
    if (t[0]) {
      ex_node *e1 = ex_sub(c, g[1], ex_num(c, 1));
      sum = ex_muln(c, (ex_node *[]){t[0], g[1], ex_pow(c, g[0], e1)}, 3);
    }
    if (t[1]) sum = ex_add(c, sum, ex_muln(c, (ex_node *[]){t[1], x, ex_fn1(c, F_LOG, g[0])}, 3));
    return sum;
  case X_FN: return ex_mul(c, t[0], fm_deriv(c, x->fn, g[0]));
  case X_MATVEC:
  case X_MATTVEC: {
    ex_node *(*mv)(ex_ctx *, ex_node *, ex_node *) = x->op == X_MATVEC ? ex_matvec : ex_mattvec;
    if (t[0]) sum = mv(c, t[0], g[1]);
    if (t[1]) sum = ex_add(c, sum, mv(c, g[0], t[1]));
    return sum;
  }
  case X_OUTER:
    if (t[0]) sum = ex_outer(c, t[0], g[1]);
    if (t[1]) sum = ex_add(c, sum, ex_outer(c, g[0], t[1]));
    return sum;
  case X_SUM: return ex_sum(c, t[0]);
  case X_SOFTMAX: return ex_mul(c, x, ex_sub(c, t[0], ex_dot(c, x, t[0])));
  case X_LOGSUMEXP: return ex_dot(c, ex_softmax(c, g[0]), t[0]);
  case X_BCAST: return ex_bcast_to(c, t[0], x->shape);
  }
  assert(0 && "bad ex_op");
  return NULL;
}

ex_node *ex_fwd(ex_ctx *c, ex_node *x, ex_node *const *wrt, ex_node *const *dx, int n) {
  vl_arena tmp;
  ar_init(&tmp);
  sweep s = {.c = c, .tmp = &tmp, .size = x->id + 1};
  s.wrt_slot = AR_NEWN(&tmp, int, s.size);
  for (int i = 0; i < n; i++)
    if (wrt[i]->id < s.size) s.wrt_slot[wrt[i]->id] = i + 1;

  int nn;
  ex_node **order = ex_topo(&tmp, &x, 1, is_wrt, &s, &nn);
  ex_node **tan = AR_NEWN(&tmp, ex_node *, s.size);     /* id -> tangent; NULL: zero */
  ex_node *tbuf[16];
  for (int k = 0; k < nn; k++) {
    ex_node *y = order[k];
    int w = s.wrt_slot[y->id];
    if (w) {
      tan[y->id] = ex_is_zero(dx[w - 1]) ? NULL : ex_fit(c, dx[w - 1], y->shape);
      continue;
    }
    ex_node **t = y->nargs <= 16 ? tbuf : AR_NEWN(&tmp, ex_node *, y->nargs);
    bool any = false;
    for (int i = 0; i < y->nargs; i++) any |= (t[i] = tan[y->args[i]->id]) != NULL;
    ex_node *d = any ? tangent(c, y, t) : NULL;
    tan[y->id] = d && !ex_is_zero(d) ? ex_fit(c, d, y->shape) : NULL;
  }
  ex_node *r = tan[x->id];
  ar_free_all(&tmp);
  return r ? r : ex_zero_like(c, x->shape);
}
