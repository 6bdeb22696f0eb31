/*
 * vocab.h - look-ups in the shared vocabulary (vle_vocab.h): names to ids and back, for the
 * runtime and the compiler alike. Prefix vv_.
 */
#ifndef VLE_VOCAB_LOOKUP_H
#define VLE_VOCAB_LOOKUP_H

#include <stdbool.h>
#include "vle_vocab.h"

typedef struct vv_scheme_info {
  const char *name;       /* "prospective" */
  vle_kernel_id kernel;   /* its step kernel */
  vle_kernel_id sgd;      /* the step with fused SGD, VK_COUNT when there is none */
  vle_kernel_id back;     /* its backward step (adjoint, bptt), VK_COUNT when local */
  bool local;             /* runs forward with the step (no backward sweep) */
  bool split;             /* needs the split of theory.md §4 (every scheme but bptt) */
} vv_scheme_info;

const vv_scheme_info *vv_scheme(vle_scheme s);
/* The scheme called `name`, or -1. */
int vv_scheme_find(const char *name);
const char *vv_kernel_name(vle_kernel_id k);

/* Roles and optimizers by name (-1 when unknown) and back ("?" when out of range). */
int vv_role_find(const char *name);
const char *vv_role_name(int role);
int vv_opt_find(const char *name);
const char *vv_opt_name(int opt);
/* Argument counts of an optimizer call. */
int vv_opt_min_args(int opt);
int vv_opt_max_args(int opt);

#endif
