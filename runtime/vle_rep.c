/*
 * vle_rep.c (vp_) - replicas of a sim that split the batch (data parallelism, vle.h "replicas").
 *
 * Expects: the sim's learned parameters indexed (s->opt_params), its batch the replica's
 * lanes. Guarantees: after vp_before_update every replica holds, in the grad buffers of the
 * learned parameters, the same bits: the whole batch's mean gradient, summed in rank order;
 * after vp_after_update (every combine_every-th optimizer step when > 1) the same
 * parameters, their lane-weighted mean. Nothing here knows the transport.
 */
#include <stdlib.h>
#include <string.h>

#include "vle_err.h"
#include "vle_internal.h"

long vle_replica_lanes(long batch, int size, int rank, long *first) {
  if (size < 1 || rank < 0 || rank >= size || batch < 0) {
    if (first) *first = 0;
    return 0;
  }
  long base = batch / size, extra = batch % size;
  if (first) *first = rank * base + (rank < extra ? rank : extra);
  return base + (rank < extra);
}

int vp_init(vle_sim *s, const vle_sim_options *o, vle_error *err) {
  const vle_replicas *rp = o->replicas;
  if (!rp) return 0;
  if (rp->size < 1 || rp->rank < 0 || rp->rank >= rp->size || !rp->allgather)
    return vle_fail(err, "replicas: rank %d of %d (expected 0 <= rank < size, and a transport)",
                    rp->rank, rp->size);
  if (rp->combine_every < 1)
    return vle_fail(err, "replicas: combine every %d steps (expected 1 or more)", rp->combine_every);
  if (rp->batch < rp->size)
    return vle_fail(err, "a batch of %ld split over %d replicas leaves some without a batch "
                    "element (give a batch of at least %d)", rp->batch, rp->size, rp->size);
  long lanes = vle_replica_lanes(rp->batch, rp->size, rp->rank, NULL);
  if (s->batch != lanes)
    return vle_fail(err, "replica %d of %d runs %ld of the batch of %ld, not %ld", rp->rank,
                    rp->size, lanes, rp->batch, s->batch);
  if (s->acc)
    return vle_fail(err, "replicas: gradient sums (vlec grad, accumulate_grads) are not "
                    "combined across replicas: run them in one process");
  if (rp->size == 1) return 0;           /* alone: nothing to combine */
  s->rep = rp;
  size_t n = 0;
  for (int k = 0; k < s->nopt_all; k++) {   /* (before the layout: from the descriptor) */
    const vle_buffer_info *b = &s->m->bufs[s->m->params[s->opt_params[k]].buf];
    n += (size_t)(b->rows * b->cols);
  }
  s->rep_n = n;
  size_t R = (size_t)rp->size, es = s->m->es;
  s->rep_chunk = rp->alltoall && R >= 3 ? (n + R - 1) / R : 0;
  size_t send = s->rep_chunk ? R * s->rep_chunk : n;      /* parts padded to equal length */
  s->rep_w = malloc(R * sizeof *s->rep_w);
  s->rep_mine = calloc(send * es + 1, 1);                 /* (the padding is sent: zeroed) */
  s->rep_all = malloc(n * es * R + 1);
  s->rep_part = malloc(s->rep_chunk * es + 1);
  if (!s->rep_w || !s->rep_mine || !s->rep_all || !s->rep_part)
    return vle_fail(err, "out of memory");
  for (int q = 0; q < rp->size; q++)
    s->rep_w[q] = (double)vle_replica_lanes(rp->batch, rp->size, q, NULL) / (double)rp->batch;
  return 0;
}

void vp_free(vle_sim *s) {
  free(s->rep_w);
  free(s->rep_mine);
  free(s->rep_all);
  free(s->rep_part);
}

/* The buffer of learned parameter k (grad: its gradient's). */
static void *vp_buf(vle_sim *s, int k, bool grad) {
  const vle_param_info *q = &s->m->params[s->opt_params[k]];
  return s->st.bufs[grad ? q->grad : q->buf];
}

/* dst[i] = sum over q in rank order of w[q] * all[q][i], in double: the same bits on every
 * replica (0 + w[0] a[0] is w[0] a[0] exactly, so the first term may start the sum). */
static void vp_sum(void *dst, const unsigned char *all, size_t stride, const double *w, int R,
                   size_t n, size_t es) {
  if (es == 8) {             /* the common case, vectorised over i (rank order per element) */
    double *d = dst;
    for (int q = 0; q < R; q++) {
      const double *a = (const double *)(const void *)(all + (size_t)q * stride);
      if (q == 0) for (size_t i = 0; i < n; i++) d[i] = w[0] * a[i];
      else for (size_t i = 0; i < n; i++) d[i] += w[q] * a[i];
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {   /* f32: summed in double, rounded once */
    double v = 0;
    for (int q = 0; q < R; q++) v += w[q] * re_get(all + (size_t)q * stride, i, es);
    re_set(dst, i, es, v);
  }
}

/* The learned parameters' buffers (grad: their gradients') into one array, and back. */
static void vp_pack(vle_sim *s, bool grad, unsigned char *dst) {
  size_t es = s->m->es;
  for (int k = 0; k < s->nopt_all; k++) {
    size_t n = s->count[s->m->params[s->opt_params[k]].buf] * es;
    memcpy(dst, vp_buf(s, k, grad), n);
    dst += n;
  }
}

static void vp_unpack(vle_sim *s, bool grad, const unsigned char *src) {
  size_t es = s->m->es;
  for (int k = 0; k < s->nopt_all; k++) {
    size_t n = s->count[s->m->params[s->opt_params[k]].buf] * es;
    memcpy(vp_buf(s, k, grad), src, n);
    src += n;
  }
}

/* Every replica's values of the learned parameters' buffers, replaced by their weighted
 * sum over the replicas in rank order (the same bits on each). Without alltoall: every
 * replica gets every replica's values and sums all of them. With it: replica q gets part q
 * of every replica's values (alltoall), sums that part, and an allgather of the parts
 * gives every replica the whole: the same sum for each value, so the same bits. */
static void vp_combine(vle_sim *s, bool grad) {
  size_t es = s->m->es, n = s->rep_n, c = s->rep_chunk;
  int R = s->rep->size;
  vp_pack(s, grad, s->rep_mine);
  if (!c) {
    s->rep->allgather(s->rep->ctx, s->rep_mine, s->rep_all, n * es);
    size_t at = 0;
    for (int k = 0; k < s->nopt_all; k++) {
      size_t len = s->count[s->m->params[s->opt_params[k]].buf];
      vp_sum(vp_buf(s, k, grad), s->rep_all + at * es, n * es, s->rep_w, R, len, es);
      at += len;
    }
    return;
  }
  s->rep->alltoall(s->rep->ctx, s->rep_mine, s->rep_all, c * es);
  size_t lo = (size_t)s->rep->rank * c, len = lo < n ? (n - lo < c ? n - lo : c) : 0;
  memset(s->rep_part, 0, c * es);
  vp_sum(s->rep_part, s->rep_all, c * es, s->rep_w, R, len, es);
  s->rep->allgather(s->rep->ctx, s->rep_part, s->rep_all, c * es);
  vp_unpack(s, grad, s->rep_all);     /* the parts in rank order: the whole, then padding */
}

void vp_before_update(vle_sim *s) {
  if (s->rep && s->rep->combine_every == 1) vp_combine(s, true);
}

void vp_after_update(vle_sim *s) {
  if (s->rep && s->rep->combine_every > 1 && ++s->rep_updates % s->rep->combine_every == 0)
    vp_combine(s, false);
}

int vp_agree(vle_sim *s, int rc, vle_error *err) {
  if (!s->rep) return rc;
  int R = s->rep->size, mine = rc != 0, all[R], first = -1;
  s->rep->allgather(s->rep->ctx, &mine, all, sizeof mine);
  for (int q = R - 1; q >= 0; q--)
    if (all[q]) first = q;
  if (first < 0 || rc) return rc;
  return vle_fail(err, "replica %d of %d failed in its adjoint sweep (its message says why): "
                  "every replica stops with it", first, R);
}
