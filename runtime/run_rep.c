/*
 * run_rep.c - a run split over replicas (data parallelism: `mpirun -np R vlec run`,
 * docs/cli.md "MPI"). Each rank runs the lanes vle_replica_lanes gives it; the sim combines
 * the gradients (vle_rep.c); here the run's own exchanges: the batch means and metrics of
 * the whole batch, the recordings gathered for rank 0 (the only rank that writes), and the
 * ranks' agreement on whether to go on.
 *
 * The rule that keeps the ranks in step: every rank makes the same exchanges in the same
 * order. A function that exchanges never returns early on a rank's own failure (a full
 * disk on rank 0): the failure is kept and the ranks agree on it at the step's end
 * (rn_rep_agree), where all stop together with the first failing rank's message.
 */
#include <stdlib.h>
#include <string.h>

#include "run_int.h"
#include "vle_err.h"

/* The transport, counting the bytes this rank receives (run.json: bytes per step). */
static void rn_rep_allgather(void *ctx, const void *mine, void *all, size_t n) {
  rn_run *r = ctx;
  r->rep_bytes += (uint64_t)n * (uint64_t)(r->rep.size - 1);
  r->o->replicas->allgather(r->o->replicas->ctx, mine, all, n);
}

static void rn_rep_alltoall(void *ctx, const void *send, void *recv, size_t n) {
  rn_run *r = ctx;
  r->rep_bytes += (uint64_t)n * (uint64_t)(r->rep.size - 1);
  r->o->replicas->alltoall(r->o->replicas->ctx, send, recv, n);
}

int rn_rep_setup(rn_run *r, long batch, vle_error *err) {
  const rn_options *o = r->o;
  r->batch = batch;
  r->lanes = batch;
  if (!o->replicas || o->replicas->size <= 1) return 0;
  r->rep = *o->replicas;
  r->rep.batch = batch;
  r->rep.combine_every = o->combine_every > 0 ? (int)o->combine_every : 1;
  r->rep.allgather = rn_rep_allgather;
  r->rep.alltoall = o->replicas->alltoall ? rn_rep_alltoall : NULL;
  r->rep.ctx = r;
  r->dp = true;
  r->mute = r->rep.rank != 0;
  r->lanes = vle_replica_lanes(batch, r->rep.size, r->rep.rank, &r->lane0);
  r->rep_max_lanes = vle_replica_lanes(batch, r->rep.size, 0, NULL);
  if (rn_rep_reserve(r, RN_REP_MSG, err)) return -1;   /* first: the ranks' agreement needs it */
  const char *no = o->grad_mode ? "vlec grad (gradient sums)" : o->load_state ? "--load-state"
                   : o->save_state ? "--save-state" : NULL;
  if (no)
    return vle_fail(err, "%s under MPI: not supported (each rank holds only its lanes' state); "
                    "run it in one process", no);
  if (batch < r->rep.size)
    return vle_fail(err, "a batch of %ld split over %d MPI ranks leaves some without a batch "
                    "element: give --batch %d or more, or fewer ranks", batch, r->rep.size,
                    r->rep.size);
  return 0;
}

void rn_rep_free(rn_run *r) {
  free(r->rep_send);
  free(r->rep_all);
  free(r->rep_row);
}

/* Room for the exchanges of this run (before its first step: once running, a rank could
 * not back out of an exchange the others have begun): rows of up to bytes_per_lane per
 * lane, and the messages of a failure. */
int rn_rep_reserve(rn_run *r, size_t bytes_per_lane, vle_error *err) {
  if (!r->dp || bytes_per_lane <= r->rep_room) return 0;
  size_t lanes = r->rep_max_lanes > 0 ? (size_t)r->rep_max_lanes : 1, R = (size_t)r->rep.size;
  size_t batch = r->batch > 0 ? (size_t)r->batch : 1;
  if (bytes_per_lane < RN_REP_MSG) bytes_per_lane = RN_REP_MSG;
  void *send = realloc(r->rep_send, lanes * bytes_per_lane);
  if (send) r->rep_send = send;
  void *all = send ? realloc(r->rep_all, R * lanes * bytes_per_lane) : NULL;
  if (all) r->rep_all = all;
  void *row = all ? realloc(r->rep_row, batch * bytes_per_lane) : NULL;
  if (!row) return vle_fail(err, "out of memory");
  r->rep_row = row;
  r->rep_room = bytes_per_lane;
  return 0;
}

const void *rn_rep_lanes(rn_run *r, const void *mine, size_t bytes_per_lane) {
  if (!r->dp) return mine;
  size_t chunk = (size_t)r->rep_max_lanes * bytes_per_lane;
  memcpy(r->rep_send, mine, (size_t)r->lanes * bytes_per_lane);
  r->rep.allgather(r, r->rep_send, r->rep_all, chunk);
  unsigned char *row = r->rep_row;
  for (int q = 0; q < r->rep.size; q++) {
    size_t n = (size_t)vle_replica_lanes(r->batch, r->rep.size, q, NULL) * bytes_per_lane;
    memcpy(row, (unsigned char *)r->rep_all + (size_t)q * chunk, n);
    row += n;
  }
  return r->rep_row;
}

double rn_rep_sum(rn_run *r, double mine) {
  if (!r->dp) return mine;
  double all[r->rep.size];
  r->rep.allgather(r, &mine, all, sizeof mine);
  double sum = 0;
  for (int q = 0; q < r->rep.size; q++) sum += all[q];
  return sum;
}

int64_t rn_rep_count(rn_run *r, int64_t mine) {
  if (!r->dp) return mine;
  int64_t all[r->rep.size], sum = 0;
  r->rep.allgather(r, &mine, all, sizeof mine);
  for (int q = 0; q < r->rep.size; q++) sum += all[q];
  return sum;
}

int rn_rep_agree(rn_run *r, int rc, int *signal, vle_error *err) {
  if (!r->dp) return rc;
  int R = r->rep.size, mine[2] = { rc != 0, *signal }, all[2 * R];
  r->rep.allgather(r, mine, all, sizeof mine);
  int failed = -1;
  for (int q = R - 1; q >= 0; q--) {
    if (all[2 * q]) failed = q;
    if (all[2 * q + 1] && !*signal) *signal = all[2 * q + 1];   /* a signal any rank got */
  }
  if (failed < 0) return 0;
  /* the messages, once something failed: every rank ends with the first failing one's
   * (rank 0's run.json and log say it) */
  char *msg = r->rep_send, *msgs = r->rep_all;
  size_t len = rc ? strlen(err->msg) : 0;
  if (len > RN_REP_MSG - 1) len = RN_REP_MSG - 1;
  memcpy(msg, err->msg, len);
  msg[len] = 0;
  r->rep.allgather(r, msg, msgs, RN_REP_MSG);
  msgs += (size_t)failed * RN_REP_MSG;
  msgs[RN_REP_MSG - 1] = 0;
  if (failed == 0) vle_fail(err, "%s", msgs);
  else vle_fail(err, "MPI rank %d: %s", failed, msgs);
  return -1;
}
