/*
 * dt_load.h - a runnable vle_model whose kernels are run by the reference interpreter
 * (kir_run, compiler/kirinterp.c) instead of LLVM (prefix dtl_).
 *
 * The differential tests compile hundreds of models; JIT-compiling every kernel of one costs
 * seconds, interpreting its few thousand steps tens of milliseconds. The interpreter is the
 * JIT's bit-for-bit reference (test_kernels, test_backend), so the checks lose nothing.
 *
 * The runtime calls a kernel as f(ctx, bufs, batch) with ctx NULL (docs/abi.md), so each
 * kernel is bound to one of a fixed set of trampolines through a table in this module: only
 * one dtl_model may be open at a time in a process (dtl_open fails otherwise). The tests
 * run models one after the other, so this costs nothing; the runtime itself keeps no state.
 */
#ifndef VLE_DT_LOAD_H
#define VLE_DT_LOAD_H

#include <stdbool.h>
#include <stdio.h>
#include "pipeline.h"
#include "vle.h"

typedef struct dtl_model {
  vle_model *model;
  dg_ctx d;
  pl_unit unit;          /* owns the kernel program the trampolines run */
  struct jit_module *jit;   /* the generated code when compiled with LLVM, else NULL */
  double ms_compile;     /* parse, check, derive, lower */
  bool open;
} dtl_model;

/* Compiles text (named path in messages); 0, or 1 after printing the diagnostics to err.
 * jit: compile with LLVM (jit.h) instead, as `vlec run` does. */
int dtl_open(dtl_model *m, const char *path, const char *text, bool jit, FILE *err);
void dtl_close(dtl_model *m);

#endif
