/*
 * llvm.h - code generation: kernel IR (kir.h) -> LLVM IR, through LLVM's C API only.
 *
 * One LLVM function per kernel, `void vle_<model>_<kernel>(const void *ctx, void *const *bufs,
 * int64_t batch)`, plus the globals of docs/abi.md (vle_model_name, vle_<model>_abi,
 * vle_<model>_meta). jit.h runs the module in-process, aot.h writes it as a shared library.
 * How each statement becomes loops, and the floating-point policy, are in docs/backend.md.
 *
 * Everything here is reentrant: no global state besides LLVM's own target registry.
 */
#ifndef VLE_LLVM_H
#define VLE_LLVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include "kir.h"

/* Floating-point freedom given to LLVM. STRICT (the default) keeps IEEE semantics, so the
 * generated code reproduces kir_run bit for bit (up to libm); CONTRACT lets a*b+c become an
 * FMA; FAST is full fast-math (reassociation: vectorised reductions, ~1e-15 differences,
 * NaN/Inf assumed absent). */
typedef enum { CG_FP_STRICT, CG_FP_CONTRACT, CG_FP_FAST } cg_fpmode;

/* Code generation options. A zero-initialised struct is the default: double precision,
 * strict FP, O3, tuned for the host CPU. */
typedef struct cg_options {
  bool f32;            /* reals are float (--precision f32) instead of double */
  cg_fpmode fp;
  bool no_opt;         /* skip the optimisation pipeline (debugging the IR generator) */
  bool generic_cpu;    /* target a generic CPU of the host architecture (portable .so) */
  const char *passes;  /* LLVM pass pipeline; NULL: the default (docs/backend.md) */
  bool no_unroll;      /* no loop unrolling */
} cg_options;

/* Initialises LLVM's native target, asm printer and parser. Idempotent; called by the
 * functions below, exposed for drivers that use LLVM directly. */
void cg_init_native(void);

/* A target machine for the host: host CPU and features (unless o->generic_cpu), codegen
 * level Aggressive. pic: position-independent code for a shared library (AOT); otherwise
 * JIT defaults. NULL on failure (reason in err). Dispose with LLVMDisposeTargetMachine. */
LLVMTargetMachineRef cg_target_machine(const cg_options *o, bool pic, char *err, size_t errlen);

/* Translates a program into a new module in context cx, unoptimised. Verifies the program
 * (kir_verify) and the module first; NULL on failure (reason in err). */
LLVMModuleRef cg_module(LLVMContextRef cx, const kir_program *p, const cg_options *o,
                        char *err, size_t errlen);

/* Sets the module's triple and data layout from tm and runs the O3 pipeline for it
 * (nothing with o->no_opt). false on failure. */
bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, const cg_options *o,
                 char *err, size_t errlen);

/* cg_module + cg_optimize. */
LLVMModuleRef cg_compile(LLVMContextRef cx, const kir_program *p, const cg_options *o,
                         LLVMTargetMachineRef tm, char *err, size_t errlen);

/* Prints the optimised IR for the host (`vlec emit --llvm`). false on failure, with the
 * reason on stderr. */
bool cg_emit_ir(const kir_program *p, const cg_options *o, FILE *out);

/* The exported symbol of a kernel: "vle_<model>_<kernel>" into buf. Returns buf. */
char *cg_symbol(char *buf, size_t n, const char *model, const char *kernel);

/* snprintf into an error buffer (err may be NULL). Shared by llvm.c, jit.c, aot.c. */
void cg_seterr(char *err, size_t errlen, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

#endif
