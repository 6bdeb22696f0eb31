/*
 * vle_adj.c - the backward error schemes `adjoint` (docs/theory.md §4a) and `bptt` (§9),
 * docs/abi.md "The adjoint scheme": windows of K steps whose forward pass (step_free, e = 0)
 * stores the trajectory, and the backward sweep that calls the model's backward kernel
 * (back_adj or back_bptt, vle_vocab.h) for k = K-1 ... 0.
 *
 * Memory (docs/runtime.md): a step stores u(k) and u'(k) of every population, and under bptt
 * also the published buffers step k reads (P bytes in all: the backward step k is a function
 * of exactly these, the streams at t_k and the parameters). If
 * K * P fits the bound the whole window is stored. Otherwise the window is cut into segments
 * of S = ceil(sqrt(K * C / P)) steps (C: bytes of one checkpoint, the evolving buffers), the
 * minimiser of S * P + ceil(K / S) * C: the forward pass keeps a checkpoint at the start of
 * every segment and the trajectory of the current segment only; the sweep recomputes each
 * earlier segment from its checkpoint (the forward pass is deterministic) before sweeping it.
 * That costs at most one more forward pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vle_err.h"
#include "vle_internal.h"
#include "vocab.h"

/* ---- sizes and plan ---------------------------------------------------------------------- */

/* Buffers that change from step to step and that a forward step may read: a checkpoint. */
static bool va_evolving(vle_role r) {
  return r == VLE_ROLE_STATE || r == VLE_ROLE_PUB || r == VLE_ROLE_PUBNEXT ||
         r == VLE_ROLE_SIGNAL || r == VLE_ROLE_INPUT || r == VLE_ROLE_TARGET;
}

static size_t va_buf_bytes(const vle_sim *s, int b) { return b < 0 ? 0 : s->count[b] * s->m->es; }

/* bptt's backward step differentiates the step itself, which reads published buffers: those
 * the descriptor lists (bptt_pubs), or every pub for a model that does not say (*bufs NULL:
 * s->pubs). Returns how many; va_stored_pub gives the k-th. */
static int va_stored_pubs(const vle_sim *s, const int **bufs) {
  *bufs = s->m->nbptt_pubs >= 0 ? s->m->bptt_pubs : NULL;
  if (s->back != VK_BACK_BPTT) return 0;
  return s->m->nbptt_pubs >= 0 ? s->m->nbptt_pubs : s->npubs;
}

static int va_stored_pub(const vle_sim *s, const int *bufs, int k) {
  return bufs ? bufs[k] : s->pubs[k].pub;
}

static size_t va_step_bytes(const vle_sim *s) {
  const int *pb;
  int np = va_stored_pubs(s, &pb);
  size_t n = 0;
  for (int k = 0; k < np; k++) n += va_buf_bytes(s, va_stored_pub(s, pb, k));
  for (int p = 0; p < s->m->npops; p++)
    n += va_buf_bytes(s, s->m->pops[p].u) + va_buf_bytes(s, s->m->pops[p].udot);
  return n;
}

static size_t va_ckpt_bytes(const vle_sim *s) {
  size_t n = 0;
  for (int b = 0; b < s->m->nbufs; b++)
    if (va_evolving(s->m->bufs[b].role)) n += va_buf_bytes(s, b);
  return n;
}

static int64_t va_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int vle_sim_adjoint_plan(const vle_sim *s, int64_t nsteps, vle_adjoint_plan *plan,
                         vle_error *err) {
  size_t P = va_step_bytes(s), C = va_ckpt_bytes(s), limit = s->adj.limit;
  *plan = (vle_adjoint_plan){ .window = nsteps, .segment = nsteps, .step_bytes = P,
                              .checkpoint_bytes = C, .state_bytes = s->mem_size };
  if (nsteps < 1) return vle_fail(err, "a window of errors=%s needs at least one step, got %lld",
                                  s->errors, (long long)nsteps);
  if (P == 0 || (size_t)nsteps <= limit / P) {          /* everything fits: no checkpoints */
    plan->bytes = (size_t)nsteps * P;
    return 0;
  }
  double S = ceil(sqrt((double)nsteps * (double)C / (double)P));
  plan->segment = S < 1 ? 1 : S > (double)nsteps ? nsteps : (int64_t)S;
  plan->checkpoints = va_ceil_div(nsteps, plan->segment);
  plan->state_bytes = 2 * s->mem_size;
  double bytes = (double)plan->segment * (double)P + (double)plan->checkpoints * (double)C;
  plan->bytes = bytes < (double)SIZE_MAX ? (size_t)bytes : SIZE_MAX;
  if (bytes > (double)limit)
    return vle_fail(err, "errors=%s: a window of %lld steps needs at least %.1f MiB (a "
                    "trajectory of %lld steps and %lld checkpoints), more than the bound of "
                    "%.1f MiB; raise the bound (--adjoint-memory MB) or shorten the window "
                    "(--window STEPS)", s->errors, (long long)nsteps, bytes / 1048576.0,
                    (long long)plan->segment, (long long)plan->checkpoints, (double)limit / 1048576.0);
  return 0;
}

/* ---- storage ----------------------------------------------------------------------------- */

/* Grows *p to at least n bytes. */
static int va_reserve(unsigned char **p, size_t *cap, size_t n, vle_error *err) {
  if (n <= *cap) return 0;
  unsigned char *q = realloc(*p, n);
  if (!q) return vle_fail(err, "out of memory for %zu bytes of trajectory (a backward scheme's window)", n);
  *p = q;
  *cap = n;
  return 0;
}

static int va_list_evolving(vle_sim *s, vle_error *err) {
  vle_adj *a = &s->adj;
  if (a->ckpt_bufs) return 0;
  a->ckpt_bufs = calloc((size_t)s->m->nbufs + 1, sizeof *a->ckpt_bufs);
  if (!a->ckpt_bufs) return vle_fail(err, "out of memory");
  for (int b = 0; b < s->m->nbufs; b++)
    if (va_evolving(s->m->bufs[b].role)) a->ckpt_bufs[a->nckpt_bufs++] = b;
  return 0;
}

/* Copies u (udot false: before the step, with the pubs it reads when the slots hold them)
 * or u' (true: after it) of every population from st into trajectory slot `slot`. A slot
 * holds, per population, u then u', then the pubs. The pubs go by buffer index: what
 * st->bufs[pub] points at is what the step reads, whatever the swap parity of st. */
static void va_traj(vle_sim *s, vle_sim_state *st, int64_t slot, bool udot) {
  vle_adj *a = &s->adj;
  unsigned char *at = a->traj + (size_t)slot * a->step_bytes;
  for (int p = 0; p < s->m->npops; p++) {
    const vle_population_info *q = &s->m->pops[p];
    size_t nu = va_buf_bytes(s, q->u), nd = va_buf_bytes(s, q->udot);
    if (udot) memcpy(at + nu, st->bufs[q->udot], nd);
    else memcpy(at, st->bufs[q->u], nu);
    at += nu + nd;
  }
  const int *pb;
  int np = va_stored_pubs(s, &pb);
  for (int k = 0; !udot && k < np; k++) {
    int b = va_stored_pub(s, pb, k);
    size_t n = va_buf_bytes(s, b);
    memcpy(at, st->bufs[b], n);
    at += n;
  }
}

/* The backward step reads slot `slot` in place: st's pointers of u, u' and the stored pubs
 * point into it (no copy; vs_state_tab puts them back after the sweep). */
static void va_point(vle_sim *s, vle_sim_state *st, int64_t slot) {
  vle_adj *a = &s->adj;
  unsigned char *at = a->traj + (size_t)slot * a->step_bytes;
  for (int p = 0; p < s->m->npops; p++) {
    const vle_population_info *q = &s->m->pops[p];
    st->bufs[q->u] = at;
    at += va_buf_bytes(s, q->u);
    st->bufs[q->udot] = at;
    at += va_buf_bytes(s, q->udot);
  }
  const int *pb;
  int np = va_stored_pubs(s, &pb);
  for (int k = 0; k < np; k++) {
    int b = va_stored_pub(s, pb, k);
    st->bufs[b] = at;
    at += va_buf_bytes(s, b);
  }
}

/* Checkpoint i <-> the evolving buffers of st, by buffer index (so the pub/pubnext swap
 * parity of st does not matter). */
static void va_ckpt(vle_sim *s, vle_sim_state *st, int64_t i, bool restore) {
  vle_adj *a = &s->adj;
  unsigned char *at = a->ckpt + (size_t)i * a->ckpt_bytes;
  for (int j = 0; j < a->nckpt_bufs; j++) {
    int b = a->ckpt_bufs[j];
    size_t n = va_buf_bytes(s, b);
    if (restore) memcpy(st->bufs[b], at, n);
    else memcpy(at, st->bufs[b], n);
    at += n;
  }
}

static bool va_checkpointing(const vle_adj *a) { return a->seg < a->len; }

/* Before forward step `done` of the window: its segment's checkpoint, u(k). */
void va_before_step(vle_sim *s) {
  vle_adj *a = &s->adj;
  if (va_checkpointing(a) && a->done % a->seg == 0) va_ckpt(s, &s->st, a->done / a->seg, false);
  va_traj(s, &s->st, a->done % a->seg, false);
}

/* After it: u'(k). */
void va_after_step(vle_sim *s) {
  vle_adj *a = &s->adj;
  va_traj(s, &s->st, a->done % a->seg, true);
  a->done++;
}

void va_free(vle_adj *a) {
  free(a->traj);
  free(a->ckpt);
  free(a->ckpt_bufs);
  vs_state_free(&a->work);
  vs_state_free(&a->fwd);
  memset(a, 0, sizeof *a);
}

/* ---- windows ----------------------------------------------------------------------------- */

int vle_sim_adjoint_begin(vle_sim *s, int64_t nsteps, vle_error *err) {
  vle_adj *a = &s->adj;
  vle_adjoint_plan plan;
  if (!s->adjoint)
    return vle_fail(err, "a window needs a backward scheme, errors=adjoint or bptt (this sim "
                    "uses %s)", s->errors);
  if (!s->m->kernels[s->back])
    return vle_fail(err, "model '%s' has no kernel %s: no backward pass for errors=%s",
                    s->m->name, vv_kernel_name(s->back), s->errors);
  if (a->open) return vle_fail(err, "an adjoint window is already open");
  if (vle_sim_adjoint_plan(s, nsteps, &plan, err)) return -1;
  a->step_bytes = plan.step_bytes;
  a->back = s->m->kernels[s->back];
  a->ckpt_bytes = plan.checkpoint_bytes;
  if (va_list_evolving(s, err) ||
      va_reserve(&a->traj, &a->traj_cap, (size_t)plan.segment * a->step_bytes, err) ||
      va_reserve(&a->ckpt, &a->ckpt_cap, (size_t)plan.checkpoints * a->ckpt_bytes, err))
    return -1;
  a->k0 = s->st.step;
  a->len = nsteps;
  a->done = 0;
  a->seg = plan.segment;
  a->open = true;
  return 0;
}

/* Zeroes what the sweep accumulates or integrates from the end: grads, w (the .v buffers),
 * the temporaries (bptt's adjoint states λ live there: λ_K = 0), and e and g for tidiness. */
static void va_zero(vle_sim *s, vle_sim_state *st) {
  const vle_model *m = s->m;
  for (int b = 0; b < m->nbufs; b++)
    if (m->bufs[b].role == VLE_ROLE_TEMP) memset(st->bufs[b], 0, va_buf_bytes(s, b));
  for (int p = 0; p < m->nparams; p++)
    if (m->params[p].grad >= 0) memset(st->bufs[m->params[p].grad], 0, va_buf_bytes(s, m->params[p].grad));
  for (int p = 0; p < m->npops; p++) {
    int bufs[3] = { m->pops[p].v, m->pops[p].e, m->pops[p].g };
    for (int i = 0; i < 3; i++)
      if (bufs[i] >= 0) memset(st->bufs[bufs[i]], 0, va_buf_bytes(s, bufs[i]));
  }
}

static int va_feed(vle_sim *s, const vle_adjoint_hooks *h, int64_t k, vle_error *err) {
  return h && h->feed ? h->feed(h->user, s, k, err) : 0;
}

/* The observer reads the sweep's buffers: vle_sim_get and _buffer look at s->view. */
static int va_observe(vle_sim *s, const vle_adjoint_hooks *h, int64_t k, vle_error *err) {
  if (!h || !h->observe) return 0;
  s->view = &s->adj.work;
  int rc = h->observe(h->user, s, k, err);
  s->view = &s->st;
  return rc;
}

/* Recomputes steps [j0, j1) of the window from the checkpoint of their segment into the
 * trajectory, on the scratch state fwd. */
static int va_recompute(vle_sim *s, int64_t j0, int64_t j1, const vle_adjoint_hooks *h,
                        vle_error *err) {
  vle_adj *a = &s->adj;
  vle_sim_state *f = &a->fwd;
  va_ckpt(s, f, j0 / a->seg, true);
  f->step = a->k0 + j0;
  for (int64_t j = j0; j < j1; j++) {
    if (va_feed(s, h, a->k0 + j, err)) return -1;
    va_traj(s, f, j - j0, false);
    vs_forward(s, f);
    va_traj(s, f, j - j0, true);
    vs_advance(s, f);
  }
  return 0;
}

/* One backward step: step j's streams and data at t_k, u(k) and u'(k) (and the pubs)
 * restored, then the backward kernel. */
static int va_back_step(vle_sim *s, int64_t j, int64_t slot, const vle_adjoint_hooks *h,
                        vle_error *err) {
  vle_adj *a = &s->adj;
  vle_sim_state *w = &a->work;
  w->step = a->k0 + j;
  if (va_feed(s, h, w->step, err)) return -1;
  vs_streams(s, w);
  va_point(s, w, slot);
  vs_kernel(s, a->back, w->bufs);
  return va_observe(s, h, w->step, err);
}

static int va_check_grads(vle_sim *s, vle_error *err) {
  vle_adj *a = &s->adj;
  char when[160];
  snprintf(when, sizeof when, "after the backward sweep over steps %lld to %lld (t = %g to %g); "
           "no parameter was updated", (long long)a->k0, (long long)(a->k0 + a->done - 1),
           (double)a->k0 * s->dt, (double)(a->k0 + a->done - 1) * s->dt);
  for (int p = 0; p < s->m->nparams; p++) {
    int g = s->m->params[p].grad;
    if (g >= 0 && vs_check_buffer(s, &a->work, g, when, err)) return -1;
  }
  return 0;
}

/* The sweep over the steps done, segment by segment from the last. */
static int va_sweep(vle_sim *s, const vle_adjoint_hooks *h, vle_error *err) {
  vle_adj *a = &s->adj;
  if ((!a->work.mem && vs_state_alloc(s, &a->work, err)) ||
      (va_checkpointing(a) && !a->fwd.mem && vs_state_alloc(s, &a->fwd, err)))
    return -1;
  vs_state_copy(s, &a->work, &s->st);         /* parameters, consts, settings */
  va_zero(s, &a->work);
  if (va_checkpointing(a)) vs_state_copy(s, &a->fwd, &s->st);
  int64_t nseg = va_ceil_div(a->done, a->seg);
  int rc = 0;
  for (int64_t g = nseg - 1; g >= 0 && !rc; g--) {
    int64_t j0 = g * a->seg, j1 = j0 + a->seg < a->done ? j0 + a->seg : a->done;
    /* the forward pass left the last segment in the trajectory */
    if (g < nseg - 1) rc = va_recompute(s, j0, j1, h, err);
    for (int64_t j = j1 - 1; j >= j0 && !rc; j--) rc = va_back_step(s, j, j - j0, h, err);
  }
  vs_state_tab(s, &a->work);                  /* its pointers back from the trajectory */
  return rc ? rc : va_check_grads(s, err);
}

int vle_sim_adjoint_end(vle_sim *s, const vle_adjoint_hooks *hooks, vle_error *err) {
  vle_adj *a = &s->adj;
  if (!a->open) return vle_fail(err, "no adjoint window is open (vle_sim_adjoint_begin)");
  a->open = false;
  if (!a->done) return 0;
  if (vp_agree(s, va_sweep(s, hooks, err), err)) return -1;   /* replicas: all or none */
  const vle_model *m = s->m;
  for (int p = 0; p < m->nparams; p++) {
    int g = m->params[p].grad;
    if (g >= 0) memcpy(s->st.bufs[g], a->work.bufs[g], va_buf_bytes(s, g));
  }
  if (s->acc) vs_accumulate(s);               /* dt * sum_k G_k */
  if (s->learn) vs_learn(s, false);           /* one optimizer step on sum_k G_k */
  return 0;
}

int vle_sim_adjoint_window(vle_sim *s, int64_t nsteps, const vle_adjoint_hooks *hooks,
                           vle_error *err) {
  if (vle_sim_adjoint_begin(s, nsteps, err)) return -1;
  for (int64_t j = 0; j < nsteps; j++) {
    if (va_feed(s, hooks, s->st.step, err) || vle_sim_step(s, 1, err)) {
      s->adj.open = false;
      return -1;
    }
  }
  return vle_sim_adjoint_end(s, hooks, err);
}
