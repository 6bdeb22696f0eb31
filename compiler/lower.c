/*
 * lower.c - the sync scheme (theory.md §6) as kernel IR.
 *
 * The derivation gives continuous-time expressions. A discrete step reads, of every other
 * population, only what was *published* at the previous step. Lowering makes that explicit
 * by substitution before any code is generated:
 *
 *   - a published node is a maximal subexpression that depends on the state (u, u̇) of a
 *     single population q and otherwise only on constants and q's time constants, e.g.
 *     r_q = φ(u_q + τʳ_q ⊙ u̇_q) or φ′(ŭ_q). It gets a pair of buffers: `pub` (value of step
 *     k−1, read during step k, zero before the first step as in the reference code) and
 *     `pubnext` (written at the end of step k from u(k) and u̇(k)); the runtime swaps them;
 *   - in the forward dynamics and the plasticity of population p (the terms of its own
 *     mismatch), p's own state is current and every other population is published;
 *   - in the back-propagated errors g, every state is published, the errors are those of
 *     step k−1, and every Wᵀ(…) is a back-projection computed at the end of step k−1 with
 *     the weights before that step's update (its own pub/pubnext pair);
 *   - the cost (loss) reads the published output and the target at t_k.
 *
 * After substitution every leaf is a buffer, and expressions are lowered to loops:
 * elementwise subtrees become one KS_MAP each, matrix products and reductions go through
 * temporaries.
 */
#include "lower_int.h"
#include "vocab.h"

#include <math.h>
#include <string.h>

/* ---- buffers ------------------------------------------------------------------------------ */

int lw_buf(lw *L, const char *name, kir_role role, long rows, long cols, bool batched) {
  return kir_buffer(L->p, name, role, rows, cols, batched);
}

ex_node *lw_vecsym(lw *L, int buf) {
  kir_buf *b = &L->p->bufs[buf];
  return ex_sym(L->x, S_BUF, buf, (ex_shape){ EXS_VECTOR, b->rows, 1 }, b->name, NULL);
}

static void lw_map(lw *L, int kind, int index, int buf) { L->symbuf[kind][index] = buf; }

static void lw_make_buffers(lw *L) {
  dv_system *s = L->s;
  vl_model *m = s->model;
  int np = s->npops;
  for (int k = 0; k < S_NSYM; k++) {
    int n = np + m->weights.len + m->biases.len + m->inputs.len + m->targets.len +
            m->consts.len + 1;
    L->symbuf[k] = AR_NEWN(L->a, int, n);
  }
  lw_map(L, S_TIME, 0, lw_buf(L, "t", KR_SETTING, 1, 1, false));
  lw_map(L, S_DT, 0, lw_buf(L, "dt", KR_SETTING, 1, 1, false));
  lw_map(L, S_GAMMA, 0, lw_buf(L, "gamma", KR_SETTING, 1, 1, false));
  for (int i = 0; i < m->consts.len; i++) {
    ex_node *c = s->consts[i];
    lw_map(L, S_CONST, i, lw_buf(L, c->name, KR_CONST, c->shape.rows, 1, false));
  }
  for (int i = 0; i < m->inputs.len; i++)
    lw_map(L, S_INPUT, i, lw_buf(L, s->inputs[i]->name, KR_INPUT, s->inputs[i]->shape.rows, 1,
                                 true));
  for (int i = 0; i < m->targets.len; i++)
    lw_map(L, S_TARGET, i, lw_buf(L, s->targets[i]->name, KR_TARGET,
                                  s->targets[i]->shape.rows, 1, true));
  L->g = AR_NEWN(L->a, int, np + 1);
  L->v = AR_NEWN(L->a, int, np + 1);
  L->rate = AR_NEWN(L->a, int, np + 1);
  for (int i = 0; i < np; i++) {
    const char *n = s->pops[i].decl->name;
    long sz = s->pops[i].n;
    lw_map(L, S_U, i, lw_buf(L, n, KR_STATE, sz, 1, true));
    lw_map(L, S_UDOT, i, lw_buf(L, ar_printf(L->a, "%s'", n), KR_STATE, sz, 1, true));
    lw_map(L, S_E, i, lw_buf(L, ar_printf(L->a, "%s.error", n), KR_STATE, sz, 1, true));
    L->g[i] = lw_buf(L, ar_printf(L->a, "%s.g", n), KR_STATE, sz, 1, true);
    L->v[i] = lw_buf(L, ar_printf(L->a, "%s.v", n), KR_STATE, sz, 1, true);
    L->rate[i] = lw_buf(L, ar_printf(L->a, "%s.rate", n), KR_SIGNAL, sz, 1, true);
  }
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    int b = lw_buf(L, q->name, KR_PARAM, q->sym->shape.rows, q->sym->shape.cols, false);
    lw_map(L, q->sym->sym_kind, q->sym->sym_index, b);
    if (q->learn >= 0) {
      int g = lw_buf(L, ar_printf(L->a, "grad.%s", q->name), KR_GRAD, q->sym->shape.rows,
                     q->sym->shape.cols, false);
      L->p->bufs[b].pair = g;   /* a grad's own pair stays -1 (docs/abi.md) */
    }
  }
  /* Before the first step nothing has been published: the reference code keeps r, φ′(ŭ)
   * and Wᵀe in buffers that start at zero, so every g is zero at step 0, even where φ′ is
   * the constant 1 of a linear neuron. A published scalar that becomes 1 says so. */
  L->flag = lw_buf(L, "published", KR_PUB, 1, 1, true);
  L->flagnext = lw_buf(L, "publishednext", KR_PUBNEXT, 1, 1, true);
  L->p->bufs[L->flag].pair = L->flagnext;
  L->p->bufs[L->flagnext].pair = L->flag;
  L->loss = lw_buf(L, "loss", KR_SIGNAL, 1, 1, true);
  L->energy = lw_buf(L, "energy", KR_SIGNAL, 1, 1, true);
  L->objective = lw_buf(L, "objective", KR_SIGNAL, 1, 1, true);
  L->beta = lw_buf(L, "objective.beta", KR_SIGNAL, 1, 1, true);
}

/* ---- substitution: published nodes and back-projections --------------------------------- */

/* Classification of a node: which single population's state it reads (-1 none, -2 several)
 * and whether it reads anything that is not a state, a constant or a time constant. */
/* ub: it reads a ŭ symbol, which only a lateral population's own m, a and c hold (derive.h:
 * its own rate, read as published); raw: it reads u or u̇ themselves. */
typedef struct lw_cls { signed char done; int pop; bool impure, ub, raw; } lw_cls;

static lw_cls lw_classify(lw *L, ex_node *n, lw_cls *memo) {
  if (memo[n->id].done) return memo[n->id];
  lw_cls c = { 1, -1, false, false, false };
  if (n->op == X_SYM) {
    switch (n->sym_kind) {
    case S_U: case S_UDOT: c.pop = n->sym_index; c.raw = true; break;
    case S_UB: c.pop = n->sym_index; c.ub = true; break;
    case S_TAUM: case S_TAUR: case S_CONST: case S_GAMMA: case S_DT: break;
    default: c.impure = true;
    }
  }
  for (int i = 0; i < n->nargs; i++) {
    lw_cls k = lw_classify(L, n->args[i], memo);
    c.impure |= k.impure;
    c.ub |= k.ub;
    c.raw |= k.raw;
    if (k.pop == -1) continue;
    c.pop = (c.pop == -1 || c.pop == k.pop) ? k.pop : -2;
  }
  memo[n->id] = c;
  return c;
}

static int lw_pub_of(lw *L, ex_node *n) {
  for (int i = 0; i < L->npubs; i++)
    if (L->pubs[i].node == n) return i;
  L->pubs = ar_grow(L->a, L->pubs, L->npubs, &L->pubcap, sizeof *L->pubs);
  int i = L->npubs++;
  long rows = n->shape.kind == EXS_SCALAR ? 1 : n->shape.rows;
  L->pubs[i].node = n;
  L->pubs[i].pub = lw_buf(L, ar_printf(L->a, "pub%d", i), KR_PUB, rows, 1, true);
  L->pubs[i].next = lw_buf(L, ar_printf(L->a, "pubnext%d", i), KR_PUBNEXT, rows, 1, true);
  L->p->bufs[L->pubs[i].pub].pair = L->pubs[i].next;
  L->p->bufs[L->pubs[i].next].pair = L->pubs[i].pub;
  return i;
}

typedef struct lw_subst { ex_node **from, **to; int n, cap; } lw_subst;

static void lw_subst_add(lw *L, lw_subst *sb, ex_node *from, ex_node *to) {
  for (int i = 0; i < sb->n; i++)
    if (sb->from[i] == from) return;
  int cap = sb->cap;
  sb->from = ar_grow(L->a, sb->from, sb->n, &cap, sizeof *sb->from);
  sb->to = ar_grow(L->a, sb->to, sb->n, &sb->cap, sizeof *sb->to);
  sb->from[sb->n] = from;
  sb->to[sb->n] = to;
  sb->n++;
}

static void lw_find_pubs(lw *L, ex_node *n, int own, bool next, lw_cls *memo,
                         unsigned char *seen, lw_subst *sb) {
  if (seen[n->id]) return;
  seen[n->id] = 1;
  lw_cls c = lw_classify(L, n, memo);
  /* another population's value, or the own rate of a lateral read (over ŭ alone: the
   * published value is the node written out) */
  if (c.pop >= 0 && !c.impure && (c.pop != own || (c.ub && !c.raw))) {
    int i = lw_pub_of(L, c.ub ? dv_expand(L->s, n) : n);   /* may move L->pubs */
    lw_pub *pb = &L->pubs[i];
    lw_subst_add(L, sb, n, lw_vecsym(L, next ? pb->next : pb->pub));
    return;
  }
  for (int i = 0; i < n->nargs; i++) lw_find_pubs(L, n->args[i], own, next, memo, seen, sb);
}

/* x with every node published by a population other than `own` (-1: every population)
 * replaced by its pub buffer (or pubnext buffer with next). */
static ex_node *lw_publish(lw *L, ex_node *x, int own, bool next) {
  long total = ex_total_nodes(L->x) + 1;
  lw_cls *memo = AR_NEWN(L->a, lw_cls, total);
  unsigned char *seen = AR_NEWN(L->a, unsigned char, total);
  lw_subst sb = { 0 };
  lw_find_pubs(L, x, own, next, memo, seen, &sb);
  return sb.n ? ex_subst(L->x, x, sb.from, sb.to, sb.n) : x;
}

static void lw_find_bps(lw *L, ex_node *n, unsigned char *seen, lw_subst *sb) {
  if (seen[n->id]) return;
  seen[n->id] = 1;
  if ((n->op == X_MATTVEC || n->op == X_MATVEC) && n->args[0]->op == X_SYM &&
      n->args[0]->sym_kind == S_W) {
    int i;
    for (i = 0; i < L->nbps && L->bps[i].node != n; i++) {}
    if (i == L->nbps) {
      L->bps = ar_grow(L->a, L->bps, L->nbps, &L->bpcap, sizeof *L->bps);
      lw_bp *b = &L->bps[L->nbps++];
      b->node = n;
      b->arg = n->args[1];
      b->W = L->symbuf[S_W][n->args[0]->sym_index];
      b->trans = n->op == X_MATTVEC;
      b->pub = lw_buf(L, ar_printf(L->a, "bp%d", i), KR_PUB, n->shape.rows, 1, true);
      b->next = lw_buf(L, ar_printf(L->a, "bpnext%d", i), KR_PUBNEXT, n->shape.rows, 1, true);
      L->p->bufs[b->pub].pair = b->next;
      L->p->bufs[b->next].pair = b->pub;
    }
    lw_subst_add(L, sb, n, lw_vecsym(L, L->bps[i].pub));
    return;
  }
  for (int i = 0; i < n->nargs; i++) lw_find_bps(L, n->args[i], seen, sb);
}

/* g as read during step k: back-projections from the previous step, all states published. */
static ex_node *lw_g_sync(lw *L, ex_node *g) {
  long total = ex_total_nodes(L->x) + 1;
  unsigned char *seen = AR_NEWN(L->a, unsigned char, total);
  lw_subst sb = { 0 };
  lw_find_bps(L, g, seen, &sb);
  if (sb.n) g = ex_subst(L->x, g, sb.from, sb.to, sb.n);
  return lw_publish(L, g, -1, false);
}

/* ---- lowering expressions to loops ------------------------------------------------------- */


static int lw_leaf_buf(lw *L, ex_node *n) {
  if (n->sym_kind == S_BUF) return n->sym_index;
  if (n->sym_kind >= 0 && n->sym_kind < S_NSYM) return L->symbuf[n->sym_kind][n->sym_index];
  L->failed = true;
  dg_plain(L->d, "internal: symbol %s has no buffer", n->name ? n->name : "?");
  return 0;
}

static kir_expr *lw_load(lw *L, int buf, lw_mode mode) {
  kir_buf *b = &L->p->bufs[buf];
  kir_idx idx = b->rows * b->cols == 1 ? KI_0 : mode == LM_R ? KI_R : mode == LM_C ? KI_C
                                                                                   : KI_RC;
  return kir_load(L->p, buf, idx);
}

int lw_temp(lw *L, long rows) {
  return lw_buf(L, ar_printf(L->a, "tmp%d", L->ntemps++), KR_TEMP, rows, 1, true);
}

static int lw_memo_get(lw *L, ex_node *n) {
  return n->id < L->memocap ? L->memo[n->id] : 0;
}

static void lw_memo_set(lw *L, ex_node *n, int buf) {
  if (n->id >= L->memocap) {
    long cap = (n->id + 1) * 2;
    int *m = AR_NEWN(L->a, int, cap);
    if (L->memocap) memcpy(m, L->memo, sizeof *m * (size_t)L->memocap);
    L->memo = m;
    L->memocap = cap;
  }
  L->memo[n->id] = buf + 1;
}

void lw_phase(lw *L) {      /* buffers were overwritten: forget materialised temps */
  if (L->memocap) memset(L->memo, 0, sizeof *L->memo * (size_t)L->memocap);
}

kir_stmt *lw_assign(lw *L, kir_kernel *k, int dst, ex_node *n, const char *what) {
  kir_expr *e = lw_elem(L, k, n, LM_RC);   /* may emit temporaries first */
  kir_stmt *st = kir_emit(L->p, k, KS_MAP, dst);
  st->expr = e;
  st->comment = what;
  return st;
}

/* The assignments of one phase are independent of each other (each reads only what
 * earlier phases wrote), so they can be queued (building their expressions emits the matrix
 * products and reductions they need right away) and then emitted grouped by loop shape:
 * consecutive assignments over the same number of elements run in one loop (llvm.c fuses
 * them), which keeps the generated code small and the JIT fast. */
void lw_queue(lw *L, kir_kernel *k, int dst, ex_node *n, const char *what) {
  kir_expr *e = lw_elem(L, k, n, LM_RC);
  int c1 = L->gcap, c2 = L->gcap;   /* the three arrays grow together */
  L->gdst = ar_grow(L->a, L->gdst, L->gn, &c1, sizeof *L->gdst);
  L->gexpr = ar_grow(L->a, L->gexpr, L->gn, &c2, sizeof *L->gexpr);
  L->gwhat = ar_grow(L->a, L->gwhat, L->gn, &L->gcap, sizeof *L->gwhat);
  L->gdst[L->gn] = dst;
  L->gexpr[L->gn] = e;
  L->gwhat[L->gn] = what;
  L->gn++;
}

static bool lw_same_loop(lw *L, int a, int b) {
  kir_buf *x = &L->p->bufs[a], *y = &L->p->bufs[b];
  return x->rows * x->cols == y->rows * y->cols && x->batched == y->batched;
}

/* Emit the queued assignments: each loop shape in order of first appearance, and within a
 * shape in queue order (so a queued assignment still sees earlier ones of its shape). */
void lw_flush(lw *L, kir_kernel *k) {
  bool *done = AR_NEWN(L->a, bool, L->gn + 1);
  for (int i = 0; i < L->gn; i++) {
    if (done[i]) continue;
    for (int j = i; j < L->gn; j++) {
      if (done[j] || !lw_same_loop(L, L->gdst[i], L->gdst[j])) continue;
      kir_stmt *st = kir_emit(L->p, k, KS_MAP, L->gdst[j]);
      st->expr = L->gexpr[j];
      st->comment = L->gwhat[j];
      done[j] = true;
    }
  }
  L->gn = 0;
}

/* A buffer holding vector n (n itself when it is a buffer leaf). */

static int lw_reduce(lw *L, kir_kernel *k, ex_node *v, bool is_max, ex_node *shift) {
  int dst = lw_temp(L, 1);
  int vb = lw_vecbuf(L, k, v);
  kir_expr *e = lw_load(L, vb, LM_RC);
  if (shift) e = kir_fn(L->p, F_EXP, kir_op2(L->p, KE_SUB, e, lw_elem(L, k, shift, LM_RC)));
  kir_stmt *st = kir_emit(L->p, k, KS_VREDUCE, dst);
  st->expr = e;
  st->is_max = is_max;
  st->n = v->shape.rows;
  return dst;
}

/* Materialise a non-elementwise node (or an elementwise one used as a vector operand). */
static int lw_materialise(lw *L, kir_kernel *k, ex_node *n) {
  int b = lw_memo_get(L, n);
  if (b) return b - 1;
  ex_shape sh = n->shape;
  switch (n->op) {
  case X_MATVEC: case X_MATTVEC: {
    int src = lw_vecbuf(L, k, n->args[1]);
    b = lw_temp(L, sh.rows);
    kir_stmt *st = kir_emit(L->p, k, KS_MATVEC, b);
    st->mat = lw_leaf_buf(L, n->args[0]);
    st->src = src;
    st->trans = n->op == X_MATTVEC;
    break;
  }
  case X_SUM:
    b = lw_temp(L, 1);
    {
      kir_expr *e = lw_elem(L, k, n->args[0], LM_RC);
      kir_stmt *st = kir_emit(L->p, k, KS_VREDUCE, b);
      st->expr = e;
      st->n = n->args[0]->shape.rows * n->args[0]->shape.cols;   /* a matrix: a prior's sum */
    }
    break;
  case X_SOFTMAX: case X_LOGSUMEXP: {
    ex_node *v = n->args[0];
    int mx = lw_reduce(L, k, v, true, NULL);
    ex_node *mxs = ex_sym(L->x, S_BUF, mx, (ex_shape){ EXS_SCALAR, 1, 1 }, "max", NULL);
    int se = lw_reduce(L, k, v, false, mxs);
    ex_node *ses = ex_sym(L->x, S_BUF, se, (ex_shape){ EXS_SCALAR, 1, 1 }, "sumexp", NULL);
    b = lw_temp(L, n->op == X_SOFTMAX ? sh.rows : 1);
    ex_node *r = n->op == X_SOFTMAX
        ? ex_div(L->x, ex_fn1(L->x, F_EXP, ex_sub(L->x, v, mxs)), ses)
        : ex_add(L->x, mxs, ex_fn1(L->x, F_LOG, ses));
    lw_assign(L, k, b, r, n->op == X_SOFTMAX ? "softmax" : "logsumexp");
    break;
  }
  default:
    b = lw_temp(L, sh.kind == EXS_SCALAR ? 1 : sh.rows);
    lw_assign(L, k, b, n, NULL);
  }
  lw_memo_set(L, n, b);
  return b;
}

int lw_vecbuf(lw *L, kir_kernel *k, ex_node *n) {
  if (n->op == X_SYM && n->shape.kind != EXS_SCALAR) {
    int b = lw_leaf_buf(L, n);
    if (L->p->bufs[b].batched) return b;   /* matrix products read batched vectors */
  }
  if (n->op == X_SYM || n->op == X_NUM || n->shape.kind == EXS_SCALAR) {
    int b = lw_memo_get(L, n);
    if (b) return b - 1;
    b = lw_temp(L, n->shape.rows);
    lw_assign(L, k, b, n, NULL);
    lw_memo_set(L, n, b);
    return b;
  }
  return lw_materialise(L, k, n);
}


static kir_expr *lw_vec_literal(lw *L, kir_kernel *k, ex_node *n, lw_mode mode);

static kir_expr *lw_product(lw *L, kir_kernel *k, ex_node *n, lw_mode mode) {
  kir_expr *num = NULL, *den = NULL;
  for (int i = 0; i < n->nargs; i++) {
    ex_node *f = n->args[i];
    double e;
    if (f->op == X_POW && ex_is_num(f->args[1], &e) && e < 0) {
      ex_node *inv = e == -1 ? f->args[0] : ex_pow(L->x, f->args[0], ex_num(L->x, -e));
      kir_expr *d = lw_elem(L, k, inv, mode);
      den = den ? kir_op2(L->p, KE_MUL, den, d) : d;
      continue;
    }
    kir_expr *t = lw_elem(L, k, f, mode);
    num = num ? kir_op2(L->p, KE_MUL, num, t) : t;
  }
  if (!num) num = kir_const(L->p, 1);
  return den ? kir_op2(L->p, KE_DIV, num, den) : num;
}

static kir_expr *lw_power(lw *L, kir_kernel *k, ex_node *n, lw_mode mode) {
  double e;
  kir_expr *b = lw_elem(L, k, n->args[0], mode);
  if (ex_is_num(n->args[1], &e)) {
    if (e == 0.5) return kir_fn(L->p, F_SQRT, b);
    if (e == -1) return kir_op2(L->p, KE_DIV, kir_const(L->p, 1), b);
  }
  return kir_op2(L->p, KE_POW, b, lw_elem(L, k, n->args[1], LM_RC));
}

/* The value of element (r, c) (vectors: r) of n, as a loop-body expression. */
kir_expr *lw_elem(lw *L, kir_kernel *k, ex_node *n, lw_mode mode) {
  double v;
  switch (n->op) {
  case X_NUM: return kir_const(L->p, n->num);
  case X_SYM: return lw_load(L, lw_leaf_buf(L, n), mode);
  case X_ADD: {
    kir_expr *e = lw_elem(L, k, n->args[0], mode);
    for (int i = 1; i < n->nargs; i++) {
      ex_node *t = n->args[i];
      if (t->op == X_MUL && ex_is_num(t->args[0], &v) && v == -1 && t->nargs == 2)
        e = kir_op2(L->p, KE_SUB, e, lw_elem(L, k, t->args[1], mode));
      else
        e = kir_op2(L->p, KE_ADD, e, lw_elem(L, k, t, mode));
    }
    return e;
  }
  case X_MUL:
    if (n->nargs == 2 && ex_is_num(n->args[0], &v) && v == -1)
      return kir_op1(L->p, KE_NEG, lw_elem(L, k, n->args[1], mode));
    return lw_product(L, k, n, mode);
  case X_POW: return lw_power(L, k, n, mode);
  case X_FN: return kir_fn(L->p, n->fn, lw_elem(L, k, n->args[0], mode));
  case X_BCAST: return lw_elem(L, k, n->args[0], mode);
  case X_VEC: return lw_vec_literal(L, k, n, mode);
  case X_OUTER:   /* each factor once into a vector, not once per matrix element */
    return kir_op2(L->p, KE_MUL, lw_load(L, lw_vecbuf(L, k, n->args[0]), LM_R),
                   lw_load(L, lw_vecbuf(L, k, n->args[1]), LM_C));
  default: {
    int b = lw_materialise(L, k, n);
    return lw_load(L, b, mode);
  }
  }
}

/* ---- literal vectors ---------------------------------------------------------------------- */

int lw_add_literal(lw *L, ex_node *node, const double *vals, long n) {
  for (int i = 0; i < L->nlitv; i++)
    if (node && L->lits[i].node == node) return L->lits[i].buf;
  L->lits = ar_grow(L->a, L->lits, L->nlitv, &L->litcap, sizeof *L->lits);
  lw_lit *l = &L->lits[L->nlitv++];
  l->node = node;
  l->n = n;
  l->vals = ar_dup(L->a, vals, sizeof *vals * (size_t)n);
  l->buf = lw_buf(L, ar_printf(L->a, "lit%d", L->nlits++), KR_CONST, n, 1, false);
  return l->buf;
}

/* [a, b, c]: one constant buffer when every element is a number, a broadcast when all are
 * the same, else Σ_i a_i · unit_i (literals are short: time constants, default streams). */
static kir_expr *lw_vec_literal(lw *L, kir_kernel *k, ex_node *n, lw_mode mode) {
  int len = n->nargs;
  bool all_num = true, all_same = true;
  double *vals = AR_NEWN(L->a, double, len);
  for (int i = 0; i < len; i++) {
    if (!ex_is_num(n->args[i], &vals[i])) all_num = false;
    if (n->args[i] != n->args[0]) all_same = false;
  }
  if (all_same) return lw_elem(L, k, n->args[0], LM_RC);
  if (all_num) return lw_load(L, lw_add_literal(L, n, vals, len), mode);
  kir_expr *e = NULL;
  for (int i = 0; i < len; i++) {
    memset(vals, 0, sizeof *vals * (size_t)len);
    vals[i] = 1;
    kir_expr *t = kir_op2(L->p, KE_MUL, lw_elem(L, k, n->args[i], LM_RC),
                          lw_load(L, lw_add_literal(L, NULL, vals, len), mode));
    e = e ? kir_op2(L->p, KE_ADD, e, t) : t;
  }
  return e;
}

/* ---- the derived system in sync form ------------------------------------------------------ */

static void lw_prepare(lw *L, lw_sync *y) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  int np = s->npops;
  y->g = AR_NEWN(L->a, ex_node *, np + 1);
  y->a = AR_NEWN(L->a, ex_node *, np + 1);
  y->b = AR_NEWN(L->a, ex_node *, np + 1);
  y->q = AR_NEWN(L->a, ex_node *, np + 1);
  y->c = AR_NEWN(L->a, ex_node *, np + 1);
  /* Equilibrium propagation: F = E_γ, the energy with the phase's nudge (derive.c dv_flow),
   * and no error terms (e = 0). */
  bool ep = s->model->eqprop;
  ex_node *F = lw_publish(L, ep ? s->F : s->rest, -1, false);
  /* In a sync step every mismatch equals γ e by construction (u̇ solves m = γ e), so the
   * energy needs no second evaluation of the mismatches: E = ½ γ² Σ ‖e_p‖² + rest. */
  y->energy = F;
  for (int i = 0; i < np; i++) {
    dv_pop *p = &s->pops[i];
    y->g[i] = lw_g_sync(L, p->g);
    y->a[i] = lw_publish(L, p->a, i, false);
    y->b[i] = lw_publish(L, p->b, i, false);
    y->q[i] = lw_publish(L, p->q, i, false);
    y->c[i] = lw_publish(L, p->c, i, false);
    if (ep) continue;
    ex_node *m = lw_publish(L, p->m, i, false);
    F = ex_add(x, F, ex_dot(x, m, p->e));
    y->energy = ex_add(x, y->energy, ex_mul(x, ex_mul(x, ex_num(x, 0.5), ex_pow(x, s->gamma,
                       ex_num(x, 2))), ex_sumsq(x, p->e)));
  }
  y->loss = lw_publish(L, s->cost, -1, false);
  y->objective = lw_publish(L, s->objective, -1, false);
  y->G = AR_NEWN(L->a, ex_node *, s->nparams + 1);
  ex_node **wrt = AR_NEWN(L->a, ex_node *, s->nparams + 1);
  for (int i = 0; i < s->nparams; i++) wrt[i] = s->params[i].sym;
  ex_grad(x, F, wrt, s->nparams, y->G);
  dv_feedback_grads(s, y->G);   /* Kolen–Pollack; derive checked that it transposes */
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    if (q->learn < 0) { y->G[i] = NULL; continue; }
    if (q->kind == PK_TAU_R) {   /* through ŭ: ∂F/∂τʳ = −g ⊙ u̇ (g as computed this step) */
      dv_pop *p = &s->pops[q->pop];
      y->G[i] = ex_sub(x, y->G[i], ex_mul(x, lw_vecsym(L, L->g[q->pop]), p->udot));
    }
    y->G[i] = ex_simplify(x, y->G[i]);
  }
  y->bp_arg = AR_NEWN(L->a, ex_node *, L->nbps + 1);
  for (int i = 0; i < L->nbps; i++) y->bp_arg[i] = lw_publish(L, L->bps[i].arg, -1, true);
}

/* ---- kernels ------------------------------------------------------------------------------ */

/* The schemes' formulas (derive.h dv_schemes_build) over this lowering's buffers: g, v and
 * the temporary vdot for v̇ (-1: no v̇, the formula used does not read it; the adjoint's w
 * lives in the .v buffer), with the published a, b, q when y is given, else the derived
 * ones (the backward sweep reads the stored state). */
static void lw_scheme_eqs(lw *L, const lw_sync *y, int i, int vdot, dv_schemes *sc) {
  dv_pop *p = &L->s->pops[i];
  /* g before v: the engine orders operands by creation, and g − v stays g − v */
  ex_node *g = lw_vecsym(L, L->g[i]), *v = lw_vecsym(L, L->v[i]);
  dv_scheme_in in = { .g = g, .v = v, .w = v,
                      .vdot = vdot >= 0 ? lw_vecsym(L, vdot) : v,
                      .a = y ? y->a[i] : p->a, .b = y ? y->b[i] : p->b,
                      .q = y ? y->q[i] : p->q };
  dv_schemes_build(L->x, &in, sc);
}

static void lw_errors(lw *L, kir_kernel *k, const lw_sync *y, vle_scheme scheme) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    int e = L->symbuf[S_E][i];
    dv_schemes sc;
    switch (scheme) {
    case VLE_SCHEME_ADJOINT: case VLE_SCHEME_BPTT:
      lw_queue(L, k, e, ex_num(x, 0), "e = 0 (forward pass of the adjoint and bptt)");
      break;
    case VLE_SCHEME_INSTANTANEOUS:
      lw_scheme_eqs(L, y, i, -1, &sc);
      lw_queue(L, k, e, sc.inst, ar_printf(L->a, "e_%s = g / q", p->decl->name));
      break;
    case VLE_SCHEME_PROSPECTIVE:
      lw_scheme_eqs(L, y, i, lw_temp(L, p->n), &sc);
      lw_queue(L, k, sc.vdot->sym_index, sc.v_dot,
               ar_printf(L->a, "v'_%s = (g - v) / b", p->decl->name));
      lw_queue(L, k, e, sc.pros_e, ar_printf(L->a, "e_%s = (v + (a/q) v') / q",
                                             p->decl->name));
      lw_queue(L, k, L->v[i], ex_add(x, sc.v, ex_mul(x, s->dt, sc.vdot)),
               ar_printf(L->a, "v_%s += dt v'", p->decl->name));
      break;
    case VLE_NSCHEMES:
      break;
    }
  }
  lw_flush(L, k);
}

static void lw_sweeps(lw *L, kir_kernel *k);

static void lw_step(lw *L, const lw_sync *y, vle_scheme scheme, vle_kernel_id kernel) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  bool sgd = kernel == VK_INST_SGD || kernel == VK_PROSP_SGD, free = !vv_scheme(scheme)->local;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(kernel));
  lw_flush(L, k);
  lw_phase(L);
  ex_node *flag = ex_sym(x, S_BUF, L->flag, (ex_shape){ EXS_SCALAR, 1, 1 }, "published", NULL);
  if (!free)
    for (int i = 0; i < s->npops; i++)
      lw_queue(L, k, L->g[i], ex_mul(x, flag, y->g[i]),
                ar_printf(L->a, "g_%s", s->pops[i].decl->name));
  lw_flush(L, k);
  lw_phase(L);
  lw_errors(L, k, y, scheme);
  lw_flush(L, k);
  lw_phase(L);
  if (sgd) lw_sweeps(L, k);
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    ex_node *rhs = ex_div(x, ex_sub(x, ex_mul(x, s->gamma, p->e), y->c[i]), y->a[i]);
    lw_queue(L, k, L->symbuf[S_UDOT][i], rhs, ar_printf(L->a, "u'_%s", p->decl->name));
  }
  lw_flush(L, k);
  lw_phase(L);
  lw_queue(L, k, L->loss, y->loss, "loss: the cost on the published output");
  lw_queue(L, k, L->energy, y->energy, "energy");
  lw_queue(L, k, L->objective, y->objective, "objective: R / beta on the published output");
  lw_queue(L, k, L->beta, s->beta, "beta: the weight of the cost in the energy");
  for (int i = 0; i < L->npubs; i++)
    lw_queue(L, k, L->pubs[i].next, L->pubs[i].node, "publish");
  lw_queue(L, k, L->flagnext, ex_num(x, 1), "published");
  for (int i = 0; i < s->npops; i++)
    lw_queue(L, k, L->rate[i], s->pops[i].rate ? s->pops[i].rate
              : ex_add(x, s->pops[i].u, ex_mul(x, s->pops[i].taur, s->pops[i].udot)),
              ar_printf(L->a, "rate_%s", s->pops[i].decl->name));
  lw_flush(L, k);
  lw_phase(L);
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    lw_queue(L, k, L->symbuf[S_U][i], ex_add(x, p->u, ex_mul(x, s->dt, p->udot)),
              ar_printf(L->a, "u_%s += dt u'", p->decl->name));
  }
  lw_flush(L, k);
  lw_phase(L);
  if (free) return;
  for (int i = 0; i < L->nbps; i++) {
    if (sgd && L->bp_fused[i]) continue;
    int src = lw_vecbuf(L, k, y->bp_arg[i]);
    kir_stmt *st = kir_emit(L->p, k, KS_MATVEC, L->bps[i].next);
    st->mat = L->bps[i].W;
    st->src = src;
    st->trans = L->bps[i].trans;
    st->comment = "back-projection with the weights before the update";
  }
}

/* ---- SGD fused into the step -------------------------------------------------------- */

/* G = c * (a r^T) with c a product of scalars: returns the outer product, and the scalar
 * factor in *coef. */
ex_node *lw_outer_of(lw *L, ex_node *G, ex_node **coef) {
  *coef = ex_num(L->x, 1);
  if (G->op == X_OUTER) return G;
  if (G->op != X_MUL) return NULL;
  ex_node *outer = NULL;
  for (int i = 0; i < G->nargs; i++) {
    ex_node *f = G->args[i];
    if (f->op == X_OUTER && !outer) outer = f;
    else if (f->shape.kind == EXS_SCALAR) *coef = ex_mul(L->x, *coef, f);
    else return NULL;
  }
  return outer;
}

/* Learned with SGD and no clamp: an update a kernel can do (a clamp stays the runtime's). */
static bool lw_plain_sgd(lw *L, const dv_param *q) {
  if (q->learn < 0) return false;
  vl_decl *l = L->s->model->learns.items[q->learn];
  return l->opt == VLE_OPT_SGD && l->clamp_op == CMP_NONE;
}

static int lw_rate_buf(lw *L, const dv_param *q) {
  return lw_buf(L, ar_printf(L->a, "lr.%s", q->name), KR_SETTING, 1, 1, false);
}

/* Which weights can be updated inside the step (their column vector a buffer the forward
 * product reads), and which back-projections go with them; every other parameter learned
 * with plain SGD is updated by grads_sgd. */
static void lw_find_fused(lw *L, const lw_sync *y) {
  dv_system *s = L->s;
  L->fused = AR_NEWN(L->a, lw_fused, s->nparams + 1);
  L->bp_fused = AR_NEWN(L->a, bool, L->nbps + 1);
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    lw_fused *f = &L->fused[i];
    f->W = f->lr = -1;
    if (!lw_plain_sgd(L, q)) continue;
    f->lr = lw_rate_buf(L, q);
    ex_node *coef, *outer = q->kind == PK_WEIGHT ? lw_outer_of(L, y->G[i], &coef) : NULL;
    if (!outer || outer->args[1]->op != X_SYM ||
        !L->p->bufs[lw_leaf_buf(L, outer->args[1])].batched)
      continue;
    f->W = L->symbuf[S_W][q->sym->sym_index];
    f->r = outer->args[1];
    f->row = ex_neg(L->x, ex_mul(L->x, coef, outer->args[0]));
    f->fwd = ex_matvec(L->x, q->sym, f->r);
    f->bp = -1;
    for (int b = 0; b < L->nbps; b++)
      if (L->bps[b].W == f->W && L->bps[b].trans && y->bp_arg[b]->op == X_SYM &&
          y->bp_arg[b]->sym_kind == S_E && !L->bp_fused[b]) {
        f->bp = b;
        L->bp_fused[b] = true;
        break;
      }
  }
}

/* The sweeps, after the errors and before the forward dynamics. */
static void lw_sweeps(lw *L, kir_kernel *k) {
  for (int i = 0; i < L->s->nparams; i++) {
    lw_fused *f = &L->fused[i];
    if (f->W < 0) continue;
    int src = lw_vecbuf(L, k, f->r), row = lw_vecbuf(L, k, f->row);
    int dst = lw_temp(L, L->p->bufs[f->W].rows);
    lw_memo_set(L, f->fwd, dst);
    kir_stmt *st = kir_emit(L->p, k, KS_SWEEP, dst);
    st->mat = f->W;
    st->src = src;
    st->row = row;
    st->scale = f->lr;
    st->work = lw_temp(L, kir_work_rows(L->p->bufs[f->W].rows));
    if (f->bp >= 0) {
      st->src2 = lw_leaf_buf(L, L->bps[f->bp].arg);
      st->dst2 = L->bps[f->bp].next;
    }
    st->comment = ar_printf(L->a, "%s: forward, back-projection and SGD in one pass",
                            L->s->params[i].name);
  }
}

static bool lw_any_fused(const lw *L) {
  for (int i = 0; i < L->s->nparams; i++)
    if (L->fused[i].lr >= 0) return true;
  return false;
}

/* grads_sgd's update of the parameters that are not swept: p = p - lr G, the runtime's SGD
 * step (opt.c opt_sgd) to the bit in f64, after every gradient (a later gradient may read
 * p). In f32 it computes in float with the rate rounded to float, as the sweeps do, where
 * the runtime computes in double and rounds once. */
static void lw_sgd_updates(lw *L, kir_kernel *k) {
  dv_system *s = L->s;
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    if (L->fused[i].lr < 0 || L->fused[i].W >= 0) continue;
    int p = L->symbuf[q->sym->sym_kind][q->sym->sym_index], gb = L->p->bufs[p].pair;
    kir_expr *step = kir_op2(L->p, KE_MUL, kir_load(L->p, L->fused[i].lr, KI_0),
                             kir_load(L->p, gb, KI_RC));
    kir_stmt *st = kir_emit(L->p, k, KS_MAP, p);
    st->expr = kir_op2(L->p, KE_SUB, kir_load(L->p, p, KI_RC), step);
    st->comment = ar_printf(L->a, "SGD: %s -= lr.%s grad.%s", q->name, q->name, q->name);
  }
}

void lw_sweep_mean(lw *L, kir_kernel *k, int gb, ex_node *outer, ex_node *coef,
                   const char *comment) {
  int src = lw_vecbuf(L, k, outer->args[1]);
  int row = lw_vecbuf(L, k, ex_mul(L->x, coef, outer->args[0]));
  double one = 1;
  kir_stmt *st = kir_emit(L->p, k, KS_SWEEP, -1);
  st->mat = gb;
  st->src = src;
  st->src2 = st->dst2 = -1;
  st->row = row;
  st->scale = lw_add_literal(L, ex_num(L->x, 1), &one, 1);   /* one buffer for all */
  st->work = lw_temp(L, kir_work_rows(L->p->bufs[gb].rows));
  st->comment = comment;
}

/* grad.W = mean_b a rᵀ for a weight whose G is an outer product (one use of the weight):
 * zeroed, then the register-tiled rank-batch sweep of kir.h KS_SWEEP over the grad buffer
 * (grad = fma((1/batch) a[b, r], r[b, c], grad) for b in order), as fast as the fused SGD
 * of the step; a batch reduction per weight element strides over the batch instead (1.6x
 * the step's time at 1000-1000-1000, batch 50). Returns false when G has no such form. */
static bool lw_grad_sweep(lw *L, kir_kernel *k, const dv_param *q, ex_node *G, int gb) {
  ex_node *coef, *outer = q->kind == PK_WEIGHT ? lw_outer_of(L, G, &coef) : NULL;
  if (!outer) return false;
  kir_stmt *z = kir_emit(L->p, k, KS_MAP, gb);
  z->expr = kir_const(L->p, 0);
  z->comment = ar_printf(L->a, "grad.%s = 0 (the sweep below adds the batch mean)", q->name);
  lw_phase(L);
  lw_sweep_mean(L, k, gb, outer, coef, ar_printf(L->a, "dE/d%s with m -> e, batch mean", q->name));
  return true;
}

static void lw_grads(lw *L, const lw_sync *y, bool sgd) {
  dv_system *s = L->s;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(sgd ? VK_GRADS_SGD : VK_GRADS));
  lw_phase(L);
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    if (q->learn < 0 || (sgd && L->fused[i].W >= 0)) continue;
    int gb = L->p->bufs[L->symbuf[q->sym->sym_kind][q->sym->sym_index]].pair;
    if (lw_grad_sweep(L, k, q, y->G[i], gb)) continue;
    kir_expr *e = lw_elem(L, k, y->G[i], LM_RC);
    kir_stmt *st = kir_emit(L->p, k, KS_BREDUCE, gb);
    st->mean = true;
    st->expr = e;
    st->comment = ar_printf(L->a, "dE/d%s with m -> e, batch mean", q->name);
  }
  if (sgd) lw_sgd_updates(L, k);
}

/* One backward step of the exact adjoint (theory.md §4a), run by the runtime for
 * k = K-1 ... 0 after restoring u(k) and u'(k) of every population into their buffers and
 * the streams at t_k. Nothing is published here: the continuous-time expressions are
 * evaluated at the stored state, top population first, so g reads the errors of the
 * populations it feeds at the same step. The `.v` buffers hold w (zero at T). The gradient
 * buffers accumulate the sum over steps of G (the runtime zeroes them before the sweep). */
static void lw_back_adj(lw *L) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  for (int i = 0; i < s->npops; i++)   /* the sweep needs every population's split */
    if (!s->pops[i].split_ok) return;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(VK_BACK_ADJ));
  lw_phase(L);
  for (int r = s->npops - 1; r >= 0; r--) {
    dv_pop *p = NULL;
    for (int i = 0; i < s->npops; i++)
      if (s->pops[i].order == r) p = &s->pops[i];
    if (!p) continue;
    int i = p->index;
    lw_assign(L, k, L->g[i], p->g, ar_printf(L->a, "g_%s (adjoint)", p->decl->name));
    lw_phase(L);
    dv_schemes sc;
    lw_scheme_eqs(L, NULL, i, -1, &sc);
    lw_assign(L, k, L->symbuf[S_E][i], sc.adj_e,
              ar_printf(L->a, "e_%s = (b/a) g + w", p->decl->name));
    lw_assign(L, k, L->v[i], ex_sub(x, sc.w, ex_mul(x, s->dt, sc.adj_w_dot)),
              ar_printf(L->a, "w_%s -= dt w' (backward in time)", p->decl->name));
    lw_phase(L);
  }
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    if (q->learn < 0) continue;
    int gb = L->p->bufs[L->symbuf[q->sym->sym_kind][q->sym->sym_index]].pair;
    kir_expr *e = lw_elem(L, k, q->G, LM_RC);
    kir_stmt *st = kir_emit(L->p, k, KS_BREDUCE, gb);
    st->mean = true;
    st->accumulate = true;
    st->expr = e;
    st->comment = ar_printf(L->a, "sum over steps of dE/d%s (adjoint errors)", q->name);
  }
}

static void lw_init(lw *L) {
  dv_system *s = L->s;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(VK_INIT));
  lw_phase(L);
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    lw_assign(L, k, L->symbuf[S_TAUM][i], dv_expr(s, p->decl->tau_m), "tau_m");
    lw_assign(L, k, L->symbuf[S_TAUR][i], dv_expr(s, p->decl->tau_r), "tau_r");
  }
}

/* Published buffers before the first step (theory.md §6 item 5): as in the reference code
 * every published rate is 0, and every other published quantity (a logsumexp of the output,
 * a coefficient the dynamics divide by) is computed from those zero rates and the zero
 * initial state, never left at a 0 that no step wrote. Run after the parameters are set. */
static ex_node *lw_initial(lw *L, ex_node *n) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    ex_node *zero = ex_zero_like(x, p->u->shape);
    ex_node *from[3] = { p->rate ? p->rate : p->ub_def, p->u, p->udot };
    for (int k = 0; k < 3; k++) n = ex_subst(x, n, &from[k], &zero, 1);
  }
  return ex_simplify(x, n);
}

static void lw_pub_init(lw *L) {
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(VK_PUB_INIT));
  lw_phase(L);
  for (int i = 0; i < L->npubs; i++)
    lw_assign(L, k, L->pubs[i].pub, lw_initial(L, L->pubs[i].node),
              "published before the first step");
}

static void lw_streams(lw *L) {
  dv_system *s = L->s;
  vl_model *m = s->model;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(VK_STREAMS));
  lw_phase(L);
  for (int i = 0; i < m->inputs.len; i++) {
    vl_decl *d = m->inputs.items[i];
    if (d->value) lw_assign(L, k, L->symbuf[S_INPUT][i], dv_expr(s, d->value), d->name);
  }
  for (int i = 0; i < m->targets.len; i++) {
    vl_decl *d = m->targets.items[i];
    if (d->value) lw_assign(L, k, L->symbuf[S_TARGET][i], dv_expr(s, d->value), d->name);
  }
}

kir_program *lw_lower(dv_system *s, const lw_options *o, dg_ctx *d) {
  vl_arena *a = ex_arena(s->x);
  lw L = { .s = s, .x = s->x, .a = a, .d = d };
  L.p = kir_new(a, s->model->name ? s->model->name : "model");
  lw_make_buffers(&L);
  lw_sync y = { 0 };
  lw_prepare(&L, &y);
  lw_init(&L);
  lw_streams(&L);
  const char *errors = o && o->errors ? o->errors : s->model->errors;
  bool all = !o || !o->only || !errors;
  if (s->model->eqprop) {   /* its forward step (e = 0, γ the phase's nudge) and grads */
    lw_step(&L, &y, VLE_SCHEME_ADJOINT, VK_FREE);
    lw_grads(&L, &y, false);
    lw_pub_init(&L);
    L.p->meta = ds_descriptor(&L, o);
    if (L.failed || !kir_verify(L.p, d->out)) return NULL;
    return L.p;
  }
  lw_find_fused(&L, &y);
  bool fuse = lw_any_fused(&L);
  int want = all ? -1 : vv_scheme_find(errors);
  if (!all && want < 0) dg_plain(d, "error: unknown error scheme '%s'", errors);
  /* Every scheme but bptt (§9) needs the split of docs/theory.md §4 for every population
   * (vle_vocab.h); without it the continuous adjoint's forward pass still runs. */
  bool local = true;
  for (int i = 0; i < s->npops; i++) {
    if (s->pops[i].split_ok) continue;
    local = false;
    if (!all && want >= 0 && vv_scheme((vle_scheme)want)->split &&
        (vv_scheme((vle_scheme)want)->local || o->learn == 1))
      dg_error(d, s->pops[i].decl->name_span, "errors = %s needs the split of docs/theory.md §4 for "
               "population %s, which fails: %s; errors = bptt (the exact discrete adjoint, "
               "docs/theory.md §9) works for this model", errors, s->pops[i].decl->name,
               s->pops[i].split_why);
  }
  if (d->errors) return NULL;
  int learn = all ? -1 : o->learn;
  bool plain = !fuse || learn != 1, sgd = fuse && learn != 0, backward = false;
  for (int v = 0; v < 2; v++) {      /* the plain steps first, then those with fused SGD */
    for (int id = 0; id < VLE_NSCHEMES; id++) {
      const vv_scheme_info *sc = vv_scheme((vle_scheme)id);
      if (!all && id != want) continue;
      if (sc->local && local && ((v == 0 && plain) || (v == 1 && sgd)))
        lw_step(&L, &y, (vle_scheme)id, v ? sc->sgd : sc->kernel);
      /* adjoint and bptt share their forward pass (step_free), after all the others */
      if (!sc->local && v == 1 && !kir_kernel_find(L.p, vv_kernel_name(sc->kernel)))
        lw_step(&L, &y, (vle_scheme)id, sc->kernel);
      backward = backward || (!sc->local && !all);
    }
  }
  if (plain || backward) lw_grads(&L, &y, false);
  if (sgd) lw_grads(&L, &y, true);
  if (all || want == VLE_SCHEME_ADJOINT) lw_back_adj(&L);
  if (all || want == VLE_SCHEME_BPTT) lw_back_bptt(&L, &y);
  lw_pub_init(&L);
  L.p->meta = ds_descriptor(&L, o);   /* descriptor.c */
  if (L.failed || !kir_verify(L.p, d->out)) return NULL;
  return L.p;
}
