/*
 * kir.h - kernel IR: loops over buffers, the interface between lowering and the back ends.
 *
 *   derive (derive.h) --lower.c--> kir_program --llvm.c--> LLVM IR --> JIT / .so
 *                                              \--kirinterp.c--> reference interpreter
 *
 * A program is a set of buffers and a set of kernels. A kernel is a straight list of
 * statements; each statement is one loop nest over a buffer. There is no control flow
 * beyond those loops and no allocation: the runtime owns every buffer and passes them in.
 *
 * Buffers hold reals (double, or float with --precision f32). A batched buffer has one
 * copy per batch element, laid out [batch][rows*cols]; a shared buffer has one copy.
 * Matrices are row-major: element (r, c) is at r*cols + c.
 *
 * Kernel ABI (generated code and interpreter alike):
 *     void kernel(const void *ctx, void *const *bufs, int64_t batch);
 * bufs[i] points at buffer i of the program; ctx is NULL for generated code.
 */
#ifndef VLE_KIR_H
#define VLE_KIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "arena.h"
#include "expr.h"   /* ex_fn: the elementwise functions */
#include "vle_vocab.h"   /* VLE_ROLES */

/* What a buffer is for: tells the runtime how to initialise, save, record and update it. */
typedef enum {
#define KR_ENUM_(id, name) KR_##id,
  VLE_ROLES(KR_ENUM_)   /* runtime/vle_vocab.h: the roles the descriptor names */
#undef KR_ENUM_
} kir_role;

typedef struct kir_buf {
  int id;
  const char *name;        /* unique: "h1", "h1'", "h1.e", "W1", "grad.W1", "t", "loss" */
  kir_role role;
  long rows, cols;         /* per batch element for batched buffers */
  bool batched;
  int pair;                /* KR_PUB <-> KR_PUBNEXT partner, KR_PARAM -> its KR_GRAD; else -1 */
} kir_buf;

/* ---- elementwise expressions ------------------------------------------------------- */
typedef enum {
  KE_CONST,    /* num */
  KE_LOAD,     /* buf at idx (see kir_idx) */
  KE_NEG,      /* -a0 */
  KE_ADD, KE_SUB, KE_MUL, KE_DIV,
  KE_POW,      /* a0 ^ a1 (the back end expands small integer exponents) */
  KE_FN,       /* fn(a0) */
  KE_MAX,      /* max(a0, a1) */
} kir_eop;

/* Which element a load reads, in a loop nest over (b, r, c) of a statement. */
typedef enum {
  KI_RC,       /* element (r, c): the loop's own element (vectors: cols == 1, c == 0) */
  KI_R,        /* element r of a vector (e.g. the e in e r^T) */
  KI_C,        /* element c of a vector (e.g. the r in e r^T) */
  KI_0,        /* element 0: a scalar buffer */
} kir_idx;

typedef struct kir_expr kir_expr;
struct kir_expr {
  kir_eop op;
  double num;              /* KE_CONST */
  int buf;                 /* KE_LOAD */
  kir_idx idx;             /* KE_LOAD */
  ex_fn fn;                /* KE_FN */
  kir_expr *a[2];
};

/* ---- statements -------------------------------------------------------------------- */
typedef enum {
  KS_MAP,      /* dst[b?, r, c] (+)= expr, over rows x cols of dst; batch loop if dst batched */
  KS_MATVEC,   /* dst[b, :] (+)= M @ src[b, :]  (trans: M^T @ src); M shared, src/dst batched */
  KS_BREDUCE,  /* dst[r, c] (+)= s * sum_b expr(b, r, c); dst shared; s = 1/batch if mean */
  KS_VREDUCE,  /* dst[b, 0] = sum_i expr(b, i)  (or max), i over n; dst a batched scalar;
                  the sum in the lanes of a dot product (below), the max in order */
  KS_SWEEP,    /* one pass over a weight matrix M (shared), all with M before the update:
                    dst[b, :]  = M @ src[b, :]              (if dst >= 0: the forward product)
                    dst2[b, :] = M^T @ src2[b, :]           (if dst2 >= 0: a back-projection)
                    k[b, r] = (scale[0] / batch) * row[b, r], into work (kir_work_at)
                    for b in order: M[r, c] = fma(k[b, r], src[b, c], M[r, c])
                                                            (if row >= 0: the SGD update)
                  block by block, so M is read and written once per step (docs/backend.md) */
} kir_sop;

typedef struct kir_stmt {
  kir_sop op;
  int dst;
  bool accumulate;         /* += instead of = */
  kir_expr *expr;          /* KS_MAP, KS_BREDUCE, KS_VREDUCE */
  int mat, src;            /* KS_MATVEC, KS_SWEEP */
  int src2, dst2;          /* KS_SWEEP: the back-projection (-1: none) */
  int row, scale;          /* KS_SWEEP: the update's row vector and scalar rate (-1: none) */
  int work;                /* KS_SWEEP: a batched temp of kir_work_rows(M.rows) (or -1)
                              that receives the update's coefficients k[b, r] first, at
                              kir_work_at (the batched update reads them from there) */
  bool trans;              /* KS_MATVEC */
  bool mean;               /* KS_BREDUCE */
  bool is_max;             /* KS_VREDUCE: max instead of sum */
  long n;                  /* KS_VREDUCE: length of the reduced vector */
  const char *comment;     /* what it computes, for `vlec emit` and debugging */
} kir_stmt;

typedef struct kir_kernel {
  const char *name;        /* "init", "streams", "step_prosp", ... (see docs/abi.md) */
  kir_stmt *stmts;
  int nstmts, cap;
} kir_kernel;

typedef struct kir_program {
  vl_arena *arena;
  const char *model;       /* model name: prefix of the exported symbols */
  kir_buf *bufs;
  int nbufs, bufcap;
  kir_kernel **kernels;
  int nkernels, kcap;
  const char *meta;        /* the model descriptor (JSON, docs/abi.md), embedded in the code */
} kir_program;

/* ---- building (used by lower.c) ---------------------------------------------------- */
kir_program *kir_new(vl_arena *a, const char *model);
int          kir_buffer(kir_program *p, const char *name, kir_role role, long rows, long cols,
                        bool batched);
int          kir_find(const kir_program *p, const char *name);   /* -1 if none */
kir_kernel  *kir_kernel_new(kir_program *p, const char *name);
kir_kernel  *kir_kernel_find(const kir_program *p, const char *name);
kir_stmt    *kir_emit(kir_program *p, kir_kernel *k, kir_sop op, int dst);
kir_expr    *kir_const(kir_program *p, double v);
kir_expr    *kir_load(kir_program *p, int buf, kir_idx idx);
kir_expr    *kir_op2(kir_program *p, kir_eop op, kir_expr *a, kir_expr *b);
kir_expr    *kir_op1(kir_program *p, kir_eop op, kir_expr *a);   /* KE_NEG */
kir_expr    *kir_fn(kir_program *p, ex_fn fn, kir_expr *a);

/* Structural sanity check (indices in range, shapes consistent); prints what is wrong. */
bool kir_verify(const kir_program *p, FILE *err);
/* Human-readable listing of a program (vlec emit --kir, tests). */
void kir_dump(FILE *out, const kir_program *p);

/* Small helpers (added by the back end; safe for anyone to use). */
long        kir_size(const kir_buf *b);         /* rows * cols: reals per batch element */
const char *kir_role_name(kir_role r);          /* "state", "pub", ... as in docs/abi.md */
const char *kir_fn_name(ex_fn f);               /* "tanh", "sigmoid", ... */
bool        kir_ident(const char *s);           /* a C identifier (model and kernel names) */
bool        kir_pow_is_small_int(double y);    /* KE_POW exponents expanded into multiplies */

/* Floating-point order of the matrix products (KS_MATVEC, KS_SWEEP), part of the semantics
 * so that interpreter and generated code agree bit for bit in strict FP mode:
 * - Every product term is a fused multiply-add, fma(a, b, acc) = a*b + acc rounded once
 *   (C99 fma; llvm.fma; one instruction on every x86-64 with FMA3 and on AArch64).
 * - A row dot product sum_c M[r, c] x[c] is split into L = kir_dot_lanes() interleaved
 *   partial sums (lane j sums the columns c == j mod L, in order, starting from 0); when
 *   L does not divide n the last run is padded with zeros (lane j there is fma(0, 0, lane)),
 *   then the lanes are combined by halving (lane[j] += lane[j + w] for w = L/2, ..., 1).
 * - A KS_VREDUCE sum goes in the same lanes (lane j adds the terms i == j mod L in order,
 *   from 0; lanes past n add nothing), combined by halving.
 * - A transposed product / back-projection adds the rows' terms in row order per column.
 * - The SGD update of a sweep adds the batch elements' terms in batch order per weight,
 *   with the coefficient (scale / batch) * row[b, r].
 * L is 32 bytes of reals (4 doubles, 8 floats): one AVX2 vector per accumulator, so that a
 * register tile of 2 rows x 6 batch elements keeps its 12 accumulators in registers. This
 * is what lets the products vectorise without fast-math. */
enum { KIR_DOT_BYTES = 32, KIR_DOT_LANES_MAX = 16 };

/* A sweep's work buffer holds the update's coefficients k[b, r] in blocks of KIR_WORK_ROWS
 * rows, each block's coefficients of one batch element side by side: k[b, r] is element
 * ((r / W) * batch + b) * W + r % W of the whole (flat) buffer, W = KIR_WORK_ROWS. The
 * batched update adds the outer products to tiles of W rows, b in order, and so reads its
 * coefficients in one contiguous run instead of W strided ones. The buffer is padded to a
 * multiple of W rows per batch element (kir_work_rows); the padding is never read. */
enum { KIR_WORK_ROWS = 6 };
static inline long kir_work_rows(long rows) { return (rows + KIR_WORK_ROWS - 1) / KIR_WORK_ROWS * KIR_WORK_ROWS; }
static inline long kir_work_at(long r, long b, long batch) {
  return ((r / KIR_WORK_ROWS) * batch + b) * KIR_WORK_ROWS + r % KIR_WORK_ROWS;
}
static inline int kir_dot_lanes(bool f32) { return KIR_DOT_BYTES / (f32 ? 4 : 8); }

/* Note: kir_emit() returns a pointer into the kernel's growable statement array; it stays
 * valid only until the next kir_emit() on the same kernel. Fill it in right away. */

/* ---- the reference interpreter (kirinterp.c): runs a kernel on double buffers -------- */
void kir_run(const kir_program *p, const kir_kernel *k, double *const *bufs, int64_t batch);

/* Every kernel's symbol in generated code is  vle_<model>_<kernel>. */
typedef void (*kir_kernel_fn)(const void *ctx, void *const *bufs, int64_t batch);

#endif
