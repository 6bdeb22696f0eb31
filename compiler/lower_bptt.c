/*
 * lower_bptt.c - `errors = bptt`: one backward step of the discrete adjoint of the emitted
 * step (theory.md §9), as the kernel back_bptt.
 *
 * Expects: lower.c's buffers and the sync form of the system (lw_sync), after step_free was
 *   lowered (the step this pass differentiates).
 * Guarantees: a kernel that the runtime calls for k = K-1 ... 0 (runtime/vle_adj.c) with u(k),
 *   u'(k) and the published buffers of step k that it reads (L->bptt_pubs, the descriptor's
 *   "bptt_pubs") restored and the streams at t_k; it turns λ_{k+1} into λ_k and adds step
 *   k's share of dJ_d/dθ to the grad buffers.
 *
 * What is differentiated, and why here. step_free (e = 0) is the map
 *
 *     u̇_p  = (γ·0 − c_p) / a_p          c_p, a_p: p's own u and the published buffers
 *     u_p  ← u_p + dt u̇_p
 *     pub_i ← node_i(u_q, u̇_q)           every published value, for step k+1
 *
 * with j_k, the objective's integrand R/β, read on the published output. It is written here
 * from the same expressions lower.c compiled into step_free (lw_sync), so the adjoint is that
 * of the code that runs, not of the continuous equations. We differentiate the step's
 * expression DAG with the symbolic engine's reverse mode (ex_grad) rather than the kernel IR:
 * the DAG is small (vectors and matrices are single nodes), ex_grad already turns products
 * into Wᵀλ and outer products that lower to the same loops as the forward pass, and the
 * result prints and lowers like everything else. The kernel IR would first need its in-place
 * state updates undone (SSA) for no gain.
 *
 * Scale: the kernel differentiates Σ_k β·j_k (no dt), so its λ are (β/dt) times those of
 * §9 and the grad buffers end with (β/dt) dJ_d/dθ = Σ_k G_k in the scale of the other
 * schemes' G (the runtime then adds dt·Σ_k G_k to the grad sums, and `vlec grad` divides by β).
 *
 * Two stages, so that the backward step reuses the stored u̇(k) instead of recomputing it
 * (its matrix products): with u̇ a leaf,
 *
 *     L_A = Σ_p ⟨λ_u_p, u_p + dt u̇_p⟩ + Σ_i ⟨λ_pub_i, node_i⟩ + β j_k,     δ_p = ∂L_A/∂u̇_p,
 *     L_B = Σ_p ⟨δ_p, u̇_p(u, pub, θ)⟩                 (δ_p a buffer: a constant here),
 *
 * and λ_u_p(k) = ∂(L_A + L_B)/∂u_p, λ_pub_i(k) = ∂(L_A + L_B)/∂pub_i, and the gradient
 * ∂(L_A + L_B)/∂θ (a batch mean). A pub that step_free does not read has λ = 0 and no buffer.
 */
#include "lower_int.h"
#include "vocab.h"

typedef struct lb_adj {
  ex_node *wrt;         /* the variable: u_p or the pub buffer's symbol */
  ex_node *value;       /* what step_free computes from it for step k+1 */
  int lam, next;        /* buffers: λ of step k+1 (read), λ of step k (written) */
} lb_adj;

/* Does any of xs[0..n) read node y? */
static bool lb_reads(ex_node *const *xs, int n, const ex_node *y) {
  for (int i = 0; i < n; i++)
    if (xs[i] && ex_contains(xs[i], y)) return true;
  return false;
}

static int lb_vars(lw *L, const lw_sync *y, lb_adj *v) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  int n = 0;
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    v[n].wrt = p->u;
    v[n].value = ex_add(x, p->u, ex_mul(x, s->dt, p->udot));
    v[n].lam = lw_buf(L, ar_printf(L->a, "adj.%s", p->decl->name), KR_TEMP, p->n, 1, true);
    v[n].next = lw_buf(L, ar_printf(L->a, "adjnext.%s", p->decl->name), KR_TEMP, p->n, 1, true);
    n++;
  }
  /* what step_free reads of the published buffers: the dynamics and the objective */
  int nr = 2 * s->npops + 1;
  ex_node **read = AR_NEWN(L->a, ex_node *, nr);
  for (int i = 0; i < s->npops; i++) {
    read[2 * i] = y->a[i];
    read[2 * i + 1] = y->c[i];
  }
  read[nr - 1] = y->objective;
  L->bptt_pubs = AR_NEWN(L->a, int, L->npubs + 1);
  for (int i = 0; i < L->npubs; i++) {
    ex_node *sym = lw_vecsym(L, L->pubs[i].pub);
    if (!lb_reads(read, nr, sym)) continue;
    L->bptt_pubs[L->nbptt_pubs++] = L->pubs[i].pub;
    long rows = L->p->bufs[L->pubs[i].pub].rows;
    v[n].wrt = sym;
    v[n].value = L->pubs[i].node;
    v[n].lam = lw_buf(L, ar_printf(L->a, "adj.pub%d", i), KR_TEMP, rows, 1, true);
    v[n].next = lw_buf(L, ar_printf(L->a, "adjnext.pub%d", i), KR_TEMP, rows, 1, true);
    n++;
  }
  return n;
}

/* grad.θ += mean_b G. A weight's G is an outer product a rᵀ (one use of the weight): then a
 * sweep over the grad buffer, the register-tiled rank-batch update of kir.h KS_SWEEP
 * (grad = fma((1/batch) a[b, r], r[b, c], grad) for b in order), as fast as the SGD of the
 * prospective step; anything else is a batch reduction. */
static void lb_accumulate(lw *L, kir_kernel *k, const dv_param *q, ex_node *G) {
  const char *what = ar_printf(L->a, "sum over steps of dJ/d%s (bptt, scaled by beta/dt)", q->name);
  int gb = L->p->bufs[L->symbuf[q->sym->sym_kind][q->sym->sym_index]].pair;
  ex_node *coef, *outer = q->kind == PK_WEIGHT ? lw_outer_of(L, G, &coef) : NULL;
  if (outer) {
    lw_sweep_mean(L, k, gb, outer, coef, what);
    return;
  }
  kir_expr *e = lw_elem(L, k, G, LM_RC);
  kir_stmt *st = kir_emit(L->p, k, KS_BREDUCE, gb);
  st->mean = true;
  st->accumulate = true;
  st->expr = e;
  st->comment = what;
}

/* The elementwise calls (φ(ŭ), φ′(ŭ), ...) of the δ that the second stage reads again:
 * computed once, into temporaries written before the δ (their own loops: a reduction in a δ,
 * a softmax say, is emitted as soon as the δ is queued, and must find them written); delta
 * and later get them substituted. (The tanh of a 100-neuron layer cost as much as its 100 x
 * 100 weight update at batch 1.) */
static void lb_calls(ex_node *e, unsigned char *seen, ex_node ***out, int *n, int *cap, vl_arena *a) {
  if (seen[e->id]) return;
  seen[e->id] = 1;
  if (e->op == X_FN && e->shape.kind == EXS_VECTOR) {
    *out = ar_grow(a, *out, *n, cap, sizeof **out);
    (*out)[(*n)++] = e;
  }
  for (int i = 0; i < e->nargs; i++) lb_calls(e->args[i], seen, out, n, cap, a);
}

static void lb_share_calls(lw *L, kir_kernel *k, ex_node **delta, int nd, ex_node **later, int nl) {
  unsigned char *seen = AR_NEWN(L->a, unsigned char, ex_total_nodes(L->x) + 1);
  ex_node **calls = NULL, **from = NULL, **to = NULL;
  int n = 0, cap = 0, m = 0;
  for (int i = 0; i < nd; i++) lb_calls(delta[i], seen, &calls, &n, &cap, L->a);
  from = AR_NEWN(L->a, ex_node *, n + 1);
  to = AR_NEWN(L->a, ex_node *, n + 1);
  for (int i = 0; i < n; i++) {
    bool again = false;
    for (int j = 0; j < nl && !again; j++) again = ex_contains(later[j], calls[i]);
    if (!again) continue;
    int t = lw_temp(L, calls[i]->shape.rows);
    lw_queue(L, k, t, calls[i], "shared by delta and lambda (bptt)");
    from[m] = calls[i];
    to[m++] = lw_vecsym(L, t);
  }
  lw_flush(L, k);
  for (int i = 0; m && i < nd; i++) delta[i] = ex_subst(L->x, delta[i], from, to, m);
  for (int j = 0; m && j < nl; j++) later[j] = ex_subst(L->x, later[j], from, to, m);
}

void lw_back_bptt(lw *L, const lw_sync *y) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(VK_BACK_BPTT));
  lw_phase(L);
  lb_adj *v = AR_NEWN(L->a, lb_adj, s->npops + L->npubs + 1);
  int nv = lb_vars(L, y, v);

  /* L_A, and δ_p = ∂L_A/∂u̇_p (a buffer per population) */
  ex_node *LA = ex_mul(x, s->beta, y->objective);
  for (int i = 0; i < nv; i++)
    LA = ex_add(x, LA, ex_dot(x, lw_vecsym(L, v[i].lam), v[i].value));
  ex_node **udots = AR_NEWN(L->a, ex_node *, s->npops + 1);
  ex_node **delta = AR_NEWN(L->a, ex_node *, s->npops + 1);
  for (int i = 0; i < s->npops; i++) udots[i] = s->pops[i].udot;
  ex_grad(x, LA, udots, s->npops, delta);
  ex_node *LB = ex_num(x, 0);
  int *dbuf = AR_NEWN(L->a, int, s->npops + 1);
  for (int i = 0; i < s->npops; i++) {
    dbuf[i] = lw_temp(L, s->pops[i].n);
    delta[i] = ex_simplify(x, delta[i]);
    ex_node *udot = ex_div(x, ex_neg(x, y->c[i]), y->a[i]);   /* step_free's, e = 0 */
    LB = ex_add(x, LB, ex_dot(x, lw_vecsym(L, dbuf[i]), udot));
  }

  /* λ(k) and the gradients, from λ(k+1) and δ */
  int nw = nv + s->nparams;
  ex_node **wrt = AR_NEWN(L->a, ex_node *, nw + 1), **grad = AR_NEWN(L->a, ex_node *, nw + 1);
  for (int i = 0; i < nv; i++) wrt[i] = v[i].wrt;
  for (int i = 0; i < s->nparams; i++) wrt[nv + i] = s->params[i].sym;
  ex_grad(x, ex_add(x, LA, LB), wrt, nw, grad);
  for (int i = 0; i < nw; i++) grad[i] = ex_simplify(x, grad[i]);

  lb_share_calls(L, k, delta, s->npops, grad, nw);
  for (int i = 0; i < s->npops; i++)
    lw_queue(L, k, dbuf[i], delta[i], ar_printf(L->a, "delta_%s = dL/du'_%s (bptt)",
             s->pops[i].decl->name, s->pops[i].decl->name));
  lw_flush(L, k);
  lw_phase(L);
  for (int i = 0; i < nv; i++)
    lw_queue(L, k, v[i].next, grad[i],
             ar_printf(L->a, "lambda of %s at step k (bptt)", L->p->bufs[v[i].lam].name + 4));
  lw_flush(L, k);
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    if (q->learn < 0 || ex_is_zero(grad[nv + i])) continue;
    lb_accumulate(L, k, q, grad[nv + i]);
  }
  lw_phase(L);

  /* λ(k+1) <- λ(k) for the next call */
  for (int i = 0; i < nv; i++)
    lw_queue(L, k, v[i].lam, lw_vecsym(L, v[i].next), "lambda <- lambda at step k");
  lw_flush(L, k);
}
