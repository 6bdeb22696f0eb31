/*
 * dt_check.h - the differential checks of one generated model against vle (prefix dtc_).
 *
 * The model is compiled in process (dt_load.h: the whole pipeline, kernels run by the reference
 * interpreter or the JIT, f64) and run
 * through the runtime's C API and `vlec grad`'s own code (rn_main); every number it is
 * compared with comes from dt_ref.h. Checks (docs/testing.md "Differential tests"):
 *
 *  FORWARD  the trajectories u(k), u'(k), published rates of every population, gamma = 0,
 *           against dtr_forward: max |vle - ref| / max(1, |ref|) <= DTC_TOL_FORWARD;
 *  ADJOINT  `vlec grad --errors adjoint` against central differences of J, per learned
 *           parameter tensor: cosine > DTC_TOL_COS (or, for a tensor whose gradient is
 *           small beside the whole gradient, |g - fd| <= DTC_TOL_FLOOR |fd (all tensors)|),
 *           and |g - fd| / |fd| <= DTC_TOL_WHOLE over all tensors together (the scale);
 *           where that fails at dt, both must hold at dt/2 and the gap must shrink;
 *  BPTT     `vlec grad --errors bptt` against the same central differences at dt, per
 *           tensor: |g - fd| / |fd| <= DTC_TOL_BPTT (or, for a tensor whose gradient is
 *           tiny beside the whole one, |g - fd| <= DTC_TOL_BPTT |fd (all tensors)|);
 *  EQUAL    with tau_r := tau_m (a = q b), prospective = instantaneous, errors fed back
 *           with gain DTC_SMALL_GAMMA: the summed G of every tensor over T_LOCAL,
 *           |Gp - Gi| / |Gi| <= DTC_TOL_EQUAL;
 *  LOCAL    the same two (gamma = 0) against the adjoint at dt and dt/2: at dt/2 cosine >
 *           DTC_TOL_COS per tensor (the same floor), and the gap |G - Gadj| / |Gadj| over
 *           all tensors together shrinks from dt to dt/2; where that fails, the same from
 *           dt/2 to dt/4;
 *  RULE     every step's G of each learned parameter (errors prospective and instantaneous,
 *           gamma > 0) against dE/dtheta with m -> e evaluated numerically from vle's
 *           recorded errors (dtr_rule, dtr_rule_tau_r): relative <= DTC_TOL_RULE over the
 *           steps together.
 *  Where some q != 1 and DTG_F_PROSP_Q is off (issue 12 item 1), EQUAL and the prospective
 *  halves of LOCAL and RULE run on the model's twin with every owned term unscaled.
 */
#ifndef VLE_DT_CHECK_H
#define VLE_DT_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "dt_gen.h"

#define DTC_TOL_FORWARD 1e-11
#define DTC_TOL_COS 0.999
#define DTC_TOL_EQUAL 1e-9
#define DTC_TOL_RULE 1e-8
#define DTC_TOL_BPTT 1e-6      /* BPTT: |g - fd| / |fd| per tensor (issue 14) */
#define DTC_TOL_WHOLE 0.05     /* ADJOINT: |g - fd| / |fd| over all tensors together */
#define DTC_TOL_FLOOR 0.01     /* a small tensor passes with |g - ref| <= 1% of |ref (all)| */
#define DTC_LOCAL_SHRINK 0.8   /* gap(dt/2) < 0.8 gap(dt), unless both are below 1e-6 */

typedef enum { DTC_FORWARD, DTC_ADJOINT, DTC_BPTT, DTC_EQUAL, DTC_LOCAL, DTC_RULE, DTC_N } dtc_kind;

typedef struct dtc_result {
  bool compiled;          /* false: vle refused the model (msg says why) */
  bool ran[DTC_N];        /* the check applied and ran */
  bool ok[DTC_N];
  double dev[DTC_N];      /* worst deviation: relative difference (FORWARD, EQUAL, RULE,
                             ADJOINT: |g - fd| / |fd| of all tensors together;
                             LOCAL: the gap at dt/2) */
  double cos[DTC_N];      /* worst cosine (ADJOINT, LOCAL) */
  bool refined;           /* ADJOINT or LOCAL failed at dt and was retried at dt/2 */
  double ms[DTC_N], ms_compile;   /* time each check took (reported, never asserted) */
  char msg[1024];         /* the first failure, or the compile error */
} dtc_result;

const char *dtc_name(dtc_kind k);

/* Model `seed`: the first draw (dtg_generate attempt 0, 1, ...) whose reference dynamics
 * stay within |u|, |u'| < DTC_BOUND (a random loop can make a network unstable, and an
 * exploding trajectory compares nothing). Returns the attempt used. */
#define DTC_BOUND 50.0
#define DTC_SMALL_GAMMA 0.02   /* EQUAL's feedback gain */
unsigned dtc_generate(dtg_model *m, uint64_t seed, unsigned flags);

/* Runs every check on m; dir is an existing directory for the model file and outputs.
 * jit: run the model's kernels as LLVM code instead of the reference interpreter
 * (dt_load.h). Returns true if every check that ran passed. */
bool dtc_run(const dtg_model *m, const char *dir, bool jit, dtc_result *r);
/* The same with vle running model vm and the numbers coming from ref: the harness's own
 * test (a reference that differs from what vle runs must fail). */
bool dtc_run_ref(const dtg_model *vm, const dtg_model *ref, const char *dir, bool jit,
                 dtc_result *r);

/* Reduces a failing model: applies every dtg_edit that keeps check `kind` failing (DTC_N:
 * keeps the compiler refusing it), until none does; the edits applied go to `edits`
 * ("nofn; nosrc 1 2; ..."), to be replayed by a regression test. false if m does not fail
 * that way to begin with. */
bool dtc_reduce(dtg_model *m, const char *dir, bool jit, int kind, char *edits, size_t len);

/* Counts and worst deviations over many models. */
typedef struct dtc_tally {
  long models, refused, refined;
  long ran[DTC_N], failed[DTC_N];
  double dev[DTC_N], cos[DTC_N];
  uint64_t worst_seed[DTC_N];
} dtc_tally;

void dtc_tally_add(dtc_tally *t, uint64_t seed, const dtc_result *r);
void dtc_tally_print(const dtc_tally *t, FILE *out);

#endif
