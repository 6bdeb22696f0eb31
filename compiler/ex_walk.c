/*
 * ex_walk.c - traversals of the DAG: topological order, substitution and the queries
 * (contains, elementwise_in, count, terms).
 *
 * Every pass here visits each distinct node once (linear in the DAG, not in the tree it
 * unfolds to) and uses an explicit stack, so a chain 10^5 nodes deep is fine.
 */
#include "ex_internal.h"

#include <assert.h>
#include <string.h>

int ex_max_id(ex_node *const *roots, int n) {
  int m = -1;
  for (int i = 0; i < n; i++)
    if (roots[i]->id > m) m = roots[i]->id;
  return m;
}

typedef struct frame {
  ex_node *x;
  int next;              /* the next argument to visit */
} frame;

ex_node **ex_topo(vl_arena *a, ex_node *const *roots, int nroots, ex_stop_fn stop,
                  void *user, int *n) {
  int size = ex_max_id(roots, nroots) + 1;
  bool *seen = AR_NEWN(a, bool, size);
  ex_node **out = AR_NEWN(a, ex_node *, size);
  frame *stack = AR_NEWN(a, frame, size);
  int no = 0;
  for (int r = 0; r < nroots; r++) {
    if (seen[roots[r]->id]) continue;
    seen[roots[r]->id] = true;
    int sp = 0;
    stack[sp++] = (frame){roots[r], 0};
    while (sp > 0) {
      frame *f = &stack[sp - 1];
      bool leaf = stop && stop(user, f->x);
      if (!leaf && f->next < f->x->nargs) {
        ex_node *y = f->x->args[f->next++];
        if (!seen[y->id]) {
          seen[y->id] = true;
          stack[sp++] = (frame){y, 0};
        }
      } else {
        out[no++] = f->x;
        sp--;
      }
    }
  }
  *n = no;
  return out;
}

ex_node *ex_rebuild(ex_ctx *c, const ex_node *x, ex_node *const *a) {
  switch (x->op) {
  case X_NUM:
  case X_SYM: return (ex_node *)x;
  case X_VEC: return ex_vec(c, a, x->nargs);
  case X_ADD: return ex_addn(c, a, x->nargs);
  case X_MUL: return ex_muln(c, a, x->nargs);
  case X_POW: return ex_pow(c, a[0], a[1]);
  case X_FN: return ex_fn1(c, x->fn, a[0]);
  case X_MATVEC: return ex_matvec(c, a[0], a[1]);
  case X_MATTVEC: return ex_mattvec(c, a[0], a[1]);
  case X_OUTER: return ex_outer(c, a[0], a[1]);
  case X_SUM: return ex_sum(c, a[0]);
  case X_SOFTMAX: return ex_softmax(c, a[0]);
  case X_LOGSUMEXP: return ex_logsumexp(c, a[0]);
  case X_BCAST: return ex_bcast_to(c, a[0], x->shape);
  }
  assert(0 && "bad ex_op");
  return NULL;
}

/* ---- substitution ------------------------------------------------------------------ */

typedef struct subst_map {
  int *slot;             /* node id -> 1 + index into from[], or 0 */
  int size;
} subst_map;

static bool is_replaced(void *user, const ex_node *x) {
  const subst_map *m = user;
  return x->id < m->size && m->slot[x->id] != 0;
}

ex_node *ex_subst(ex_ctx *c, ex_node *x, ex_node *const *from, ex_node *const *to, int n) {
  vl_arena tmp;
  ar_init(&tmp);
  subst_map m = {.size = x->id + 1};
  m.slot = AR_NEWN(&tmp, int, m.size);
  for (int i = 0; i < n; i++)
    if (from[i]->id < m.size) m.slot[from[i]->id] = i + 1;

  int nn;
  ex_node **order = ex_topo(&tmp, &x, 1, is_replaced, &m, &nn);
  ex_node **now = AR_NEWN(&tmp, ex_node *, m.size);   /* id -> the node it becomes */
  ex_node *abuf[16];
  for (int k = 0; k < nn; k++) {
    ex_node *y = order[k];
    int s = m.slot[y->id];
    if (s) {
      now[y->id] = ex_fit(c, to[s - 1], from[s - 1]->shape);
      continue;
    }
    ex_node **args = y->nargs <= 16 ? abuf : AR_NEWN(&tmp, ex_node *, y->nargs);
    bool changed = false;
    for (int i = 0; i < y->nargs; i++) {
      args[i] = now[y->args[i]->id];
      changed = changed || args[i] != y->args[i];
    }
    now[y->id] = changed ? ex_rebuild(c, y, args) : y;
  }
  ex_node *r = now[x->id];
  ar_free_all(&tmp);
  return r;
}

/* ---- queries ----------------------------------------------------------------------- */

bool ex_contains(const ex_node *x, const ex_node *y) {
  if (y->id > x->id) return false;          /* children are older than their parents */
  vl_arena tmp;
  ar_init(&tmp);
  int n;
  ex_node *root = (ex_node *)x;
  ex_node **order = ex_topo(&tmp, &root, 1, NULL, NULL, &n);
  bool found = false;
  for (int i = 0; i < n && !found; i++) found = order[i] == y;
  ar_free_all(&tmp);
  return found;
}

static bool is_elementwise_op(ex_op op) {
  return op == X_ADD || op == X_MUL || op == X_POW || op == X_FN || op == X_BCAST;
}

/* Bottom-up: a node reaches y "badly" when it is not elementwise and some argument
 * contains y, or when some argument reaches y badly. */
bool ex_elementwise_in(const ex_node *x, const ex_node *y) {
  if (y->id > x->id) return true;
  vl_arena tmp;
  ar_init(&tmp);
  int n;
  ex_node *root = (ex_node *)x;
  ex_node **order = ex_topo(&tmp, &root, 1, NULL, NULL, &n);
  bool *has = AR_NEWN(&tmp, bool, x->id + 1), *bad = AR_NEWN(&tmp, bool, x->id + 1);
  for (int k = 0; k < n; k++) {
    ex_node *z = order[k];
    if (z == y) { has[z->id] = true; continue; }
    for (int i = 0; i < z->nargs; i++) {
      has[z->id] |= has[z->args[i]->id];
      bad[z->id] |= bad[z->args[i]->id];
    }
    if (has[z->id] && !is_elementwise_op(z->op)) bad[z->id] = true;
  }
  bool ok = !bad[x->id];
  ar_free_all(&tmp);
  return ok;
}

long ex_count(ex_node *const *roots, int n) {
  if (n == 0) return 0;
  vl_arena tmp;
  ar_init(&tmp);
  int nn;
  ex_topo(&tmp, roots, n, NULL, NULL, &nn);
  ar_free_all(&tmp);
  return nn;
}

int ex_terms(ex_node *x, ex_node ***out) {
  if (x->op == X_ADD) {
    *out = x->args;
    return x->nargs;
  }
  *out = &((ex_cell *)x)->self;    /* every node lives in a cell pointing back at it */
  return 1;
}
