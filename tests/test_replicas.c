/*
 * test_replicas.c - data parallelism in the runtime (vle.h "replicas", vle_rep.c), without
 * MPI: R sims in R threads of this process, each running its slice of the batch, joined by
 * a shared-memory allgather. Against one sim running the whole batch (the peer):
 *   - combining gradients every step, 1000 learning steps in f64 (SGD and Adam, a local
 *     scheme and bptt's windows) end within 1e-12 (relative) of the one sim, for R = 2, 3,
 *     4 over a batch of 6 (so some ranks run one lane more than others);
 *   - the same R twice gives the same bits; from 3 ranks, summing parts after an alltoall
 *     gives the bits of summing everything after an allgather;
 *   - local SGD that combines only at the end equals the mean of R independent sims, each
 *     trained on its own lanes, bit for bit;
 *   - bad options are refused with a reason.
 * Every lane gets its own input (fed each step), so a lane computed from another's data,
 * or a gradient left out of the sum, shows. tests/test_mpi.c runs the same through mpirun.
 */
#include <pthread.h>

#include "run_util.h"
#include "test_util.h"

TestSuite(replicas, .init = ru_setup, .fini = ru_teardown);

static const char *RP_MODEL =        /* examples/gle_small, its input fed per lane */
  "model rep\n"
  "const beta = 0.5\n"
  "input  x[2] = [0, 0]\n"
  "target y[2] = [0.5 * sin(1.3 * t - 0.5), -0.3 + 0.2 * cos(0.4 * t)]\n"
  "population h1[3] { tau_m = [0.5, 1.0, 2.0]; tau_r = [0.1, 1.0, 0.2]; phi = tanh }\n"
  "population h2[3] { tau_m = [1.0, 0.3, 0.7]; tau_r = [0.05, 0.3, 1.5]; phi = tanh }\n"
  "population o[2] { tau_m = 0.4; tau_r = 0.4; phi = linear }\n"
  "weight W1[h1, x] init normal(0, 0.8)\n"
  "bias   b1[h1] init normal(0, 0.1)\n"
  "weight W2[h2, h1] init normal(0, 0.8)\n"
  "bias   b2[h2] init normal(0, 0.1)\n"
  "weight W3[o, h2] init normal(0, 0.8)\n"
  "bias   b3[o] init normal(0, 0.1)\n"
  "cost C = 0.5 * |y - rate(o)|^2\n"
  "energy = 0.5 * |prosp(h1, h1.tau_m) - (W1 @ x + b1)|^2\n"
  "       + 0.5 * |prosp(h2, h2.tau_m) - (W2 @ rate(h1) + b2)|^2\n"
  "       + 0.5 * |prosp(o, o.tau_m) - (W3 @ rate(h2) + b3)|^2\n"
  "       + beta * C\n"
  "%s\n"
  "settings { dt = 0.05; gamma = 0.3; errors = prospective }\n";

enum { RP_BATCH = 6, RP_STEPS = 1000, RP_WINDOW = 50, RP_MAXR = 4 };
static const char *RP_PARAMS[] = { "W1", "b1", "W2", "b2", "W3", "b3" };
enum { RP_NPARAMS = 6 };

/* ---- a shared-memory transport: the ranks are threads ----------------------------------- */

typedef struct rp_hub {
  pthread_barrier_t bar;
  const void *mine[RP_MAXR];
} rp_hub;

typedef struct rp_rank {
  rp_hub *hub;
  int rank, size;
  vle_replicas rep;
  const vle_model *m;
  const char *errors;
  long lanes, first;          /* its slice of the batch */
  double *params;             /* out: every learned parameter at the end */
  vle_error err;
  int rc;
} rp_rank;

static void rp_allgather(void *ctx, const void *mine, void *all, size_t n) {
  rp_rank *me = ctx;
  me->hub->mine[me->rank] = mine;
  pthread_barrier_wait(&me->hub->bar);
  for (int q = 0; q < me->size; q++) memcpy((char *)all + (size_t)q * n, me->hub->mine[q], n);
  pthread_barrier_wait(&me->hub->bar);      /* nobody overwrites a `mine` still being read */
}

/* recv[q] = what rank q sends this one: its send[me]. */
static void rp_alltoall(void *ctx, const void *send, void *recv, size_t n) {
  rp_rank *me = ctx;
  me->hub->mine[me->rank] = send;
  pthread_barrier_wait(&me->hub->bar);
  for (int q = 0; q < me->size; q++)
    memcpy((char *)recv + (size_t)q * n, (const char *)me->hub->mine[q] + (size_t)me->rank * n, n);
  pthread_barrier_wait(&me->hub->bar);
}

/* ---- one sim: a slice of the batch, fed its lanes' inputs -------------------------------- */

/* Input of the batch's lane b at step k: its own phase. */
static double rp_input(long b, int i, int64_t k) {
  return i == 0 ? sin(1.3 * 0.05 * (double)k + 0.9 * (double)b)
                : cos(0.7 * 0.05 * (double)k + 1.7 * (double)b) + 0.2;
}

static size_t rp_nparams(const vle_sim *s) {
  size_t n = 0;
  for (int p = 0; p < RP_NPARAMS; p++) n += vle_sim_count(s, RP_PARAMS[p]);
  return n;
}

/* Runs RP_STEPS steps of lanes [first, first + lanes) with the replicas rep (NULL: alone);
 * the learned parameters into params (rp_nparams of them). Returns 0 or -1 (err). */
static int rp_train(const vle_model *m, const char *errors, long first, long lanes,
                    const vle_replicas *rep, double *params, vle_error *err) {
  vle_sim_options o;
  vle_sim_options_init(&o);
  o.errors = errors;
  o.seed = 3;
  o.batch = lanes;
  o.threads = 1;
  o.replicas = rep;
  vle_sim *s = vle_sim_new(m, &o, err);
  if (!s) return -1;
  bool window = !strcmp(errors, "bptt");
  double x[RP_BATCH * 2];
  int rc = 0;
  for (int64_t k = 0; k < RP_STEPS && !rc; k++) {
    if (window && k % RP_WINDOW == 0) rc = vle_sim_adjoint_begin(s, RP_WINDOW, err);
    for (long b = 0; b < lanes; b++)
      for (int i = 0; i < 2; i++) x[b * 2 + i] = rp_input(first + b, i, k);
    if (!rc) rc = vle_sim_feed(s, "x", x, (size_t)lanes * 2, err);
    if (!rc) rc = vle_sim_step(s, 1, err);
    /* the sweep re-feeds nothing: x stays as fed at each step of the stored trajectory */
    if (!rc && window && (k + 1) % RP_WINDOW == 0) rc = vle_sim_adjoint_end(s, NULL, err);
  }
  double *p = params;
  for (int q = 0; q < RP_NPARAMS && !rc; q++) {
    size_t n = vle_sim_count(s, RP_PARAMS[q]);
    rc = vle_sim_get(s, RP_PARAMS[q], p, n, err);
    p += n;
  }
  vle_sim_free(s);
  return rc;
}

static void *rp_thread(void *arg) {
  rp_rank *me = arg;
  me->rc = rp_train(me->m, me->errors, me->first, me->lanes, &me->rep, me->params, &me->err);
  return NULL;
}

/* R ranks of the batch, combining every K updates (a2a: the transport has alltoall);
 * rank 0's parameters into params, and every rank's checked equal to it (identical
 * parameters on every replica). */
static void rp_ranks_by(const vle_model *m, const char *errors, int R, int K, bool a2a,
                        double *params, size_t n) {
  rp_hub hub;
  pthread_barrier_init(&hub.bar, NULL, (unsigned)R);
  rp_rank ranks[RP_MAXR];
  pthread_t th[RP_MAXR];
  for (int q = 0; q < R; q++) {
    rp_rank *r = &ranks[q];
    *r = (rp_rank){ .hub = &hub, .rank = q, .size = R, .m = m, .errors = errors,
                    .params = malloc(n * sizeof(double)) };
    r->lanes = vle_replica_lanes(RP_BATCH, R, q, &r->first);
    r->rep = (vle_replicas){ .rank = q, .size = R, .batch = RP_BATCH, .combine_every = K,
                             .allgather = rp_allgather, .ctx = r,
                             .alltoall = a2a ? rp_alltoall : NULL };
    cr_assert_eq(pthread_create(&th[q], NULL, rp_thread, r), 0);
  }
  for (int q = 0; q < R; q++) pthread_join(th[q], NULL);
  for (int q = 0; q < R; q++) {
    cr_assert_eq(ranks[q].rc, 0, "rank %d of %d: %s", q, R, ranks[q].err.msg);
    cr_expect(!memcmp(ranks[q].params, ranks[0].params, n * sizeof(double)),
              "%s, R = %d: rank %d's parameters differ from rank 0's", errors, R, q);
  }
  memcpy(params, ranks[0].params, n * sizeof(double));
  for (int q = 0; q < R; q++) free(ranks[q].params);
  pthread_barrier_destroy(&hub.bar);
}

static void rp_ranks(const vle_model *m, const char *errors, int R, int K, double *params, size_t n) {
  rp_ranks_by(m, errors, R, K, false, params, n);
}

static double rp_rel(const double *a, const double *b, size_t n) {
  double d = 0, mx = 0;
  for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), mx = fmax(mx, fabs(b[i]));
  return d / mx;
}

static void rp_open(ld_model *m, const char *rel, const char *learn) {
  char src[4096];
  snprintf(src, sizeof src, RP_MODEL, learn);
  ru_open(m, ru_write(rel, src));
}

/* R = 2, 3, 4 ranks against one sim of the whole batch, and R = 2 twice. */
static void rp_agree_all(const char *learn, const char *errors, double tol) {
  ld_model m;
  rp_open(&m, "rep.vle", learn);
  vle_error err;
  double init[512], ref[512], got[512], again[512];
  vle_sim *s = ru_sim(m.model, errors, true, 3);
  size_t n = rp_nparams(s);
  cr_assert_leq(n, 512);
  vle_sim_free(s);
  cr_assert_eq(rp_train(m.model, errors, 0, RP_BATCH, NULL, ref, &err), 0, "%s", err.msg);
  vle_sim_options o;            /* the parameters before learning: learning moved them */
  vle_sim_options_init(&o);
  o.seed = 3;
  o.batch = RP_BATCH;
  s = vle_sim_new(m.model, &o, &err);
  double *p = init;
  for (int q = 0; q < RP_NPARAMS; q++) {
    size_t c = vle_sim_count(s, RP_PARAMS[q]);
    vle_sim_get(s, RP_PARAMS[q], p, c, &err);
    p += c;
  }
  vle_sim_free(s);
  cr_assert_gt(rp_rel(init, ref, n), 1e-3, "%s: learning hardly moved the parameters", errors);
  for (int R = 2; R <= 4; R++) {
    rp_ranks(m.model, errors, R, 1, got, n);
    double rel = rp_rel(got, ref, n);
    cr_expect_leq(rel, tol, "%s, %s: %d ranks end %.3g (relative) from one sim", learn,
                  errors, R, rel);
  }
  rp_ranks(m.model, errors, 2, 1, got, n);
  rp_ranks(m.model, errors, 2, 1, again, n);
  cr_expect(!memcmp(got, again, n * sizeof *got), "%s: the same 2 ranks twice differ", errors);
  /* with alltoall (from 3 ranks each sums a part): the same sums, the same bits */
  for (int R = 3; R <= 4; R++) {
    rp_ranks_by(m.model, errors, R, 1, false, got, n);
    rp_ranks_by(m.model, errors, R, 1, true, again, n);
    cr_expect(!memcmp(got, again, n * sizeof *got), "%s, %d ranks: the parts' sums (alltoall) "
              "differ from the whole sums", errors, R);
  }
  ld_close(&m);
}

Test(replicas, gradients_sgd_prospective, .timeout = 120) {
  rp_agree_all("learn W1, b1, W2, b2, W3, b3 with sgd(0.1)", "prospective", 1e-12);
}
/* Adam divides by the root of its running mean square: where a gradient is tiny, the last
 * bits the batch sum's order moves become a relative change of the update. Measured: 9e-12
 * (2 ranks) to 4e-11 (4) after 1000 steps; SGD's stay below 1e-12. */
Test(replicas, gradients_adam_prospective, .timeout = 120) {
  rp_agree_all("learn W1, b1, W2, b2 with sgd(0.1)\nlearn W3, b3 with adam(0.001)", "prospective", 1e-9);
}
Test(replicas, gradients_sgd_bptt, .timeout = 120) {
  rp_agree_all("learn W1, b1, W2, b2, W3, b3 with sgd(0.1)", "bptt", 1e-12);
}

/* Local SGD combining once, at the very end (K = the run's updates): the mean of two sims
 * trained alone on their lanes, to the bit (weights 1/2 and 1/2: exact). */
Test(replicas, local_sgd_is_the_mean_of_independent_runs, .timeout = 120) {
  ld_model m;
  rp_open(&m, "local.vle", "learn W1, b1, W2, b2, W3, b3 with sgd(0.1)");
  vle_error err;
  double a[512], b[512], got[512];
  vle_sim *s = ru_sim(m.model, NULL, true, 3);
  size_t n = rp_nparams(s);
  vle_sim_free(s);
  cr_assert_eq(rp_train(m.model, "prospective", 0, 3, NULL, a, &err), 0, "%s", err.msg);
  cr_assert_eq(rp_train(m.model, "prospective", 3, 3, NULL, b, &err), 0, "%s", err.msg);
  cr_assert_gt(rp_rel(a, b, n), 1e-6, "the halves learned the same: the test would not see a swap");
  rp_ranks(m.model, "prospective", 2, RP_STEPS, got, n);
  size_t i = 0;
  while (i < n && got[i] == 0.5 * a[i] + 0.5 * b[i]) i++;
  cr_expect_eq(i, n, "parameter value %zu: %.17g, the mean of the halves %.17g", i,
               i < n ? got[i] : 0, i < n ? 0.5 * a[i] + 0.5 * b[i] : 0);
  ld_close(&m);
}

static void rp_noop(void *ctx, const void *mine, void *all, size_t n) {
  (void)ctx, (void)mine, (void)all, (void)n;
}

/* What a replica cannot be is refused when the sim is made, with the reason. */
Test(replicas, bad_options_refused, .timeout = 60) {
  ld_model m;
  rp_open(&m, "bad.vle", "learn W1, b1, W2, b2, W3, b3 with sgd(0.1)");
  struct { int rank, size, every; long batch, lanes; bool acc; const char *says; } cases[] = {
    { 2, 2, 1, 6, 3, false, "rank 2 of 2" },
    { 0, 2, 0, 6, 3, false, "combine every 0" },
    { 0, 4, 1, 3, 1, false, "leaves some without" },
    { 1, 2, 1, 7, 4, false, "runs 3 of the batch of 7, not 4" },
    { 0, 2, 1, 6, 3, true, "gradient sums" },
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    vle_replicas rep = { cases[c].rank, cases[c].size, cases[c].batch, cases[c].every, rp_noop,
                         NULL, NULL };
    vle_sim_options o;
    vle_sim_options_init(&o);
    o.batch = cases[c].lanes;
    o.accumulate_grads = cases[c].acc;
    o.replicas = &rep;
    vle_error err = { { 0 } };
    vle_sim *s = vle_sim_new(m.model, &o, &err);
    cr_expect_null(s, "case %zu accepted", c);
    cr_expect(strstr(err.msg, cases[c].says), "case %zu: '%s' does not say '%s'", c, err.msg,
              cases[c].says);
    vle_sim_free(s);
  }
  ld_close(&m);
}
