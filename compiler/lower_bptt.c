/*
 * lower_bptt.c - `errors = bptt`: one backward step of the discrete adjoint of the emitted
 * step (theory.md §9), as the kernel back_bptt.
 *
 * Expects: lower.c's buffers and the sync form of the system (lw_sync), after step_free was
 *   lowered (the step this pass differentiates).
 * Guarantees: a kernel that the runtime calls for k = K-1 ... 0 (runtime/vle_adj.c) with u(k),
 *   u'(k) and the published buffers of step k restored and the streams at t_k; it turns
 *   λ_{k+1} into λ_k and adds step k's share of dJ_d/dθ to the grad buffers.
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
  for (int i = 0; i < L->npubs; i++) {
    ex_node *sym = lw_vecsym(L, L->pubs[i].pub);
    if (!lb_reads(read, nr, sym)) continue;
    long rows = L->p->bufs[L->pubs[i].pub].rows;
    v[n].wrt = sym;
    v[n].value = L->pubs[i].node;
    v[n].lam = lw_buf(L, ar_printf(L->a, "adj.pub%d", i), KR_TEMP, rows, 1, true);
    v[n].next = lw_buf(L, ar_printf(L->a, "adjnext.pub%d", i), KR_TEMP, rows, 1, true);
    n++;
  }
  return n;
}

void lw_back_bptt(lw *L, const lw_sync *y) {
  dv_system *s = L->s;
  ex_ctx *x = L->x;
  kir_kernel *k = kir_kernel_new(L->p, vv_kernel_name(VK_BACK_BPTT));
  lw_phase(L);
  lb_adj *v = AR_NEWN(L->a, lb_adj, s->npops + L->npubs + 1);
  int nv = lb_vars(L, y, v);

  /* L_A, and δ_p = ∂L_A/∂u̇_p into a buffer per population */
  ex_node *LA = ex_mul(x, s->beta, y->objective);
  for (int i = 0; i < nv; i++)
    LA = ex_add(x, LA, ex_dot(x, lw_vecsym(L, v[i].lam), v[i].value));
  ex_node **udots = AR_NEWN(L->a, ex_node *, s->npops + 1);
  ex_node **delta = AR_NEWN(L->a, ex_node *, s->npops + 1);
  for (int i = 0; i < s->npops; i++) udots[i] = s->pops[i].udot;
  ex_grad(x, LA, udots, s->npops, delta);
  ex_node *LB = ex_num(x, 0);
  for (int i = 0; i < s->npops; i++) {
    dv_pop *p = &s->pops[i];
    int d = lw_temp(L, p->n);
    lw_queue(L, k, d, ex_simplify(x, delta[i]),
             ar_printf(L->a, "delta_%s = dL/du'_%s (bptt)", p->decl->name, p->decl->name));
    ex_node *udot = ex_div(x, ex_neg(x, y->c[i]), y->a[i]);   /* step_free's, e = 0 */
    LB = ex_add(x, LB, ex_dot(x, lw_vecsym(L, d), udot));
  }
  lw_flush(L, k);
  lw_phase(L);

  /* λ(k) and the gradients, from λ(k+1) and δ */
  int nw = nv + s->nparams;
  ex_node **wrt = AR_NEWN(L->a, ex_node *, nw + 1), **grad = AR_NEWN(L->a, ex_node *, nw + 1);
  for (int i = 0; i < nv; i++) wrt[i] = v[i].wrt;
  for (int i = 0; i < s->nparams; i++) wrt[nv + i] = s->params[i].sym;
  ex_grad(x, ex_add(x, LA, LB), wrt, nw, grad);
  for (int i = 0; i < nv; i++)
    lw_queue(L, k, v[i].next, ex_simplify(x, grad[i]),
             ar_printf(L->a, "lambda of %s at step k (bptt)", L->p->bufs[v[i].lam].name + 4));
  lw_flush(L, k);
  for (int i = 0; i < s->nparams; i++) {
    dv_param *q = &s->params[i];
    ex_node *G = ex_simplify(x, grad[nv + i]);
    if (q->learn < 0 || ex_is_zero(G)) continue;
    int gb = L->p->bufs[L->symbuf[q->sym->sym_kind][q->sym->sym_index]].pair;
    kir_expr *e = lw_elem(L, k, G, LM_RC);
    kir_stmt *st = kir_emit(L->p, k, KS_BREDUCE, gb);
    st->mean = true;
    st->accumulate = true;
    st->expr = e;
    st->comment = ar_printf(L->a, "sum over steps of dJ/d%s (bptt, scaled by beta/dt)", q->name);
  }
  lw_phase(L);

  /* λ(k+1) <- λ(k) for the next call */
  for (int i = 0; i < nv; i++)
    lw_queue(L, k, v[i].lam, lw_vecsym(L, v[i].next), "lambda <- lambda at step k");
  lw_flush(L, k);
}
