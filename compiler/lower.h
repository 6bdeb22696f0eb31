/*
 * lower.h - from the derived system to the kernel IR: the discrete semantics of
 * docs/theory.md §6 (scheme `sync`) as loops over buffers.
 *
 * Expects: a dv_system from dv_derive (no errors).
 * Guarantees: a kir_program with the kernels and buffers of docs/abi.md (init, streams,
 *   step_inst, step_prosp, step_free, grads) and its JSON descriptor in program->meta.
 *   Every expression is lowered from the symbolic engine's DAG; nothing is hand-written
 *   per model.
 */
#ifndef VLE_LOWER_H
#define VLE_LOWER_H

#include "derive.h"
#include "kir.h"

typedef struct lw_options {
  const char *precision;   /* "f64" (default) or "f32" */
  const char *source_hash; /* hex digest of the model source, for run.json and state files */
  /* Only the kernels one run needs (the JIT compiles what it is given, and compile time is
   * what a user waits for): the step kernel of `errors` (NULL: the model's setting), and
   * for "adjoint" also step_free and back_adj. A `.so` gets every kernel (only = false). */
  bool only;
  const char *errors;
  /* With `only`: 1 = the run learns (of the SGD-fused weights only the step_*_sgd variant,
   * which also serves held steps, and grads_sgd), 0 = it does not (no _sgd variants),
   * -1 = unknown (both). */
  int learn;
} lw_options;

kir_program *lw_lower(dv_system *s, const lw_options *o, dg_ctx *d);

#endif
