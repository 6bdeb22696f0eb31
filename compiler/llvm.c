/* llvm.c - kernel IR -> LLVM IR (see llvm.h and docs/backend.md).
 *
 * Shape of the generated code, per kernel K of model M:
 *
 *   internal void @vle_M_K.body(ptr noalias %buf3, ptr noalias %buf7, ..., i64 %batch)
 *       alwaysinline: one loop nest per statement, mirroring kirinterp.c operation for
 *       operation (the interpreter is the specification of the FP evaluation order);
 *   void @vle_M_K(ptr %ctx, ptr %bufs, i64 %batch)
 *       the ABI entry: loads bufs[i] of every buffer the kernel uses once, at entry, and
 *       calls the body.
 *
 * Why the split: LLVM has no way to say "these loaded pointers do not alias" except scoped
 * alias metadata; passing them as noalias arguments of an always-inlined function makes
 * the inliner write exactly that metadata, so the loop vectoriser sees independent
 * buffers. Distinct buffer ids are distinct memory (the runtime allocates each buffer).
 *
 * Accumulators live in allocas in the entry block; mem2reg/SROA turn them into phis.
 */
#include "llvm.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/DebugInfo.h>   /* temporary metadata nodes, for loop IDs */
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

void cg_seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

char *cg_symbol(char *buf, size_t n, const char *model, const char *kernel) {
  snprintf(buf, n, "vle_%s_%s", model, kernel);
  return buf;
}

/* ---- generator state (one per module being built) ---------------------------------- */

typedef struct cg {
  LLVMContextRef cx;
  LLVMModuleRef m;
  LLVMBuilderRef b;          /* code */
  LLVMBuilderRef ab;         /* allocas, at the end of the body's entry block */
  const kir_program *p;
  const cg_options *o;
  LLVMTypeRef real, i64, ptr, vd;
  LLVMFastMathFlags fmf;
  LLVMValueRef fn;           /* body being generated */
  LLVMValueRef *base;        /* per buffer id: its noalias argument in fn, or NULL */
  LLVMValueRef batch;
  struct cg_loop *loop;      /* innermost open loop */
} cg;

/* Where a statement's expression is evaluated (see ki_at in kirinterp.c): values of the
 * batch, row, column and flat indices; b is NULL outside a batch loop, r/c NULL in
 * flattened loops (kir_verify guarantees no KI_R/KI_C load needs them there). */
typedef struct cg_at {
  LLVMValueRef b, r, c, rc;
} cg_at;

/* ---- small IR helpers -------------------------------------------------------------- */

static LLVMValueRef cg_i(cg *g, long v) { return LLVMConstInt(g->i64, (unsigned long long)v, 1); }
static LLVMValueRef cg_f(cg *g, double v) { return LLVMConstReal(g->real, v); }

/* Applies the FP mode's fast-math flags to an instruction that can carry them. */
static LLVMValueRef cg_fp(cg *g, LLVMValueRef v) {
  if (g->fmf && LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
    LLVMSetFastMathFlags(v, g->fmf);
  return v;
}

static LLVMValueRef cg_fadd(cg *g, LLVMValueRef a, LLVMValueRef b) {
  return cg_fp(g, LLVMBuildFAdd(g->b, a, b, ""));
}
static LLVMValueRef cg_fmul(cg *g, LLVMValueRef a, LLVMValueRef b) {
  return cg_fp(g, LLVMBuildFMul(g->b, a, b, ""));
}
static LLVMValueRef cg_fdiv(cg *g, LLVMValueRef a, LLVMValueRef b) {
  return cg_fp(g, LLVMBuildFDiv(g->b, a, b, ""));
}

/* Integer index arithmetic never wraps (sizes are far below 2^63): saying so (nsw/nuw)
 * lets scalar evolution compute trip counts and strides. */
static LLVMValueRef cg_imul(cg *g, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef v = LLVMBuildNSWMul(g->b, a, b, "");
  LLVMSetNUW(v, 1);
  return v;
}
static LLVMValueRef cg_iadd(cg *g, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef v = LLVMBuildNSWAdd(g->b, a, b, "");
  LLVMSetNUW(v, 1);
  return v;
}

static LLVMAttributeRef cg_attr(cg *g, const char *name, uint64_t val) {
  return LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName(name, strlen(name)), val);
}

static void cg_fnattr(cg *g, LLVMValueRef f, const char *name, uint64_t val) {
  LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, cg_attr(g, name, val));
}

/* A call to an overloaded LLVM intrinsic on the real type, e.g. "llvm.exp". */
static LLVMValueRef cg_intrin(cg *g, const char *name, LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef ty = g->real;
  LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->m, id, &ty, 1);
  LLVMTypeRef ft = LLVMIntrinsicGetType(g->cx, id, &ty, 1);
  return cg_fp(g, LLVMBuildCall2(g->b, ft, f, args, n, ""));
}

static LLVMValueRef cg_intrin1(cg *g, const char *name, LLVMValueRef x) {
  return cg_intrin(g, name, &x, 1);
}

static LLVMValueRef cg_maxnum(cg *g, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  return cg_intrin(g, "llvm.maxnum", args, 2);
}

/* A call to a libm function without an LLVM intrinsic (tanh, log1p; "f" suffix for f32).
 * Declared memory(none): we never read errno, so the call may be hoisted and CSE'd. */
static LLVMValueRef cg_libm(cg *g, const char *name, LLVMValueRef x) {
  char full[32];
  snprintf(full, sizeof full, "%s%s", name, g->o->f32 ? "f" : "");
  LLVMTypeRef ft = LLVMFunctionType(g->real, &g->real, 1, 0);
  LLVMValueRef f = LLVMGetNamedFunction(g->m, full);
  if (!f) {
    f = LLVMAddFunction(g->m, full, ft);
    cg_fnattr(g, f, "nounwind", 0);
    cg_fnattr(g, f, "willreturn", 0);
    cg_fnattr(g, f, "memory", 0);   /* MemoryEffects::none() encodes as 0 */
  }
  return cg_fp(g, LLVMBuildCall2(g->b, ft, f, &x, 1, ""));
}

/* select(cond, a, b) on reals */
static LLVMValueRef cg_sel(cg *g, LLVMRealPredicate pr, LLVMValueRef x, LLVMValueRef y,
                           LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef c = cg_fp(g, LLVMBuildFCmp(g->b, pr, x, y, ""));
  return LLVMBuildSelect(g->b, c, a, b, "");
}

/* ---- loops ------------------------------------------------------------------------- */

/* A counted loop `for (i = 0; i < n; i++)`. cg_loop_begin leaves the builder in the body
 * and returns i; cg_loop_end closes the body (wherever nested loops left the builder) and
 * continues after the loop. Plain top-tested loops: LLVM's loop passes rotate them. */
typedef struct cg_loop cg_loop;
struct cg_loop {
  LLVMBasicBlockRef head, exit;
  LLVMValueRef iv;
  cg_loop *parent;        /* enclosing open loop */
  bool outer;             /* another loop was opened inside this one */
  long trip;              /* constant trip count, or -1 */
};

/* Innermost loops with a constant trip count up to this may be unrolled (cg_loop_end). */
enum { CG_UNROLL_MAX_TRIP = 4 };

static LLVMValueRef cg_loop_begin(cg *g, cg_loop *l, LLVMValueRef n, const char *name) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  l->parent = g->loop;
  l->outer = false;
  l->trip = LLVMIsAConstantInt(n) ? (long)LLVMConstIntGetSExtValue(n) : -1;
  if (g->loop) g->loop->outer = true;
  g->loop = l;
  l->head = LLVMAppendBasicBlockInContext(g->cx, g->fn, name);
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->cx, g->fn, "body");
  l->exit = LLVMAppendBasicBlockInContext(g->cx, g->fn, "exit");
  LLVMBuildBr(g->b, l->head);
  LLVMPositionBuilderAtEnd(g->b, l->head);
  l->iv = LLVMBuildPhi(g->b, g->i64, name);
  LLVMValueRef zero = cg_i(g, 0);
  LLVMAddIncoming(l->iv, &zero, &pre, 1);
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, l->iv, n, ""), body, l->exit);
  LLVMPositionBuilderAtEnd(g->b, body);
  return l->iv;
}

/* Loop metadata !{self, !{"llvm.loop.unroll.disable"}}: the self reference (made through a
 * temporary node) is what makes a loop ID unique. */
static LLVMMetadataRef cg_no_unroll_md(cg *g) {
  const char *k = "llvm.loop.unroll.disable";
  LLVMMetadataRef opt = LLVMMDStringInContext2(g->cx, k, strlen(k));
  LLVMMetadataRef tmp = LLVMTemporaryMDNode(g->cx, NULL, 0);
  LLVMMetadataRef ops[2] = {tmp, LLVMMDNodeInContext2(g->cx, &opt, 1)};
  LLVMMetadataRef id = LLVMMDNodeInContext2(g->cx, ops, 2);
  LLVMMetadataReplaceAllUsesWith(tmp, id);
  return id;
}

/* Unrolling policy (measured, docs/backend.md): only innermost loops with a small constant
 * trip count may be unrolled (they are mostly loop overhead: +10-20% on small models).
 * Unrolling outer loops or long loops multiplied code size by up to 6 and JIT time by 2-4
 * and made large models slower (e.g. a fully unrolled matrix row hoisted into registers).
 * The vectoriser's interleaving is not affected. */
static void cg_loop_end(cg *g, cg_loop *l) {
  LLVMValueRef next = cg_iadd(g, l->iv, cg_i(g, 1));
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
  LLVMValueRef br = LLVMBuildBr(g->b, l->head);
  if (l->outer || l->trip < 0 || l->trip > CG_UNROLL_MAX_TRIP)
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->cx, "llvm.loop", 9),
                    LLVMMetadataAsValue(g->cx, cg_no_unroll_md(g)));
  g->loop = l->parent;
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(g->b, l->exit);
}

/* A scalar accumulator: an entry-block alloca (promoted to a register by mem2reg). */
static LLVMValueRef cg_acc(cg *g) { return LLVMBuildAlloca(g->ab, g->real, "acc"); }

/* ---- memory ------------------------------------------------------------------------ */

/* Address of element i of batch element b of buffer id (shared buffers ignore b). */
static LLVMValueRef cg_elem(cg *g, int id, LLVMValueRef b, LLVMValueRef i) {
  const kir_buf *buf = &g->p->bufs[id];
  if (buf->batched && b) i = cg_iadd(g, cg_imul(g, b, cg_i(g, kir_size(buf))), i);
  return LLVMBuildInBoundsGEP2(g->b, g->real, g->base[id], &i, 1, "");
}

static LLVMValueRef cg_ld(cg *g, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(g->b, g->real, ptr, "");
  LLVMSetAlignment(v, g->o->f32 ? 4 : 8);
  return v;
}

static void cg_st(cg *g, LLVMValueRef ptr, LLVMValueRef v) {
  LLVMSetAlignment(LLVMBuildStore(g->b, v, ptr), g->o->f32 ? 4 : 8);
}

static LLVMValueRef cg_ldacc(cg *g, LLVMValueRef acc) { return LLVMBuildLoad2(g->b, g->real, acc, ""); }
static void cg_stacc(cg *g, LLVMValueRef acc, LLVMValueRef v) { LLVMBuildStore(g->b, v, acc); }

/* ---- expressions ------------------------------------------------------------------- */

static LLVMValueRef cg_expr(cg *g, const kir_expr *e, cg_at at);

static LLVMValueRef cg_load(cg *g, const kir_expr *e, cg_at at) {
  LLVMValueRef i = e->idx == KI_RC ? at.rc : e->idx == KI_R ? at.r
                 : e->idx == KI_C ? at.c : cg_i(g, 0);
  return cg_ld(g, cg_elem(g, e->buf, at.b, i));
}

/* x^n, n a small integer: ((x*x)*x)*..., as ki_powi. */
static LLVMValueRef cg_powi(cg *g, LLVMValueRef x, long n) {
  long m = n < 0 ? -n : n;
  LLVMValueRef r = m > 0 ? x : cg_f(g, 1.0);
  for (long k = 1; k < m; k++) r = cg_fmul(g, r, x);
  return n < 0 ? cg_fdiv(g, cg_f(g, 1.0), r) : r;
}

static LLVMValueRef cg_pow(cg *g, const kir_expr *e, cg_at at) {
  LLVMValueRef x = cg_expr(g, e->a[0], at);
  const kir_expr *ye = e->a[1];
  if (ye->op == KE_CONST && kir_pow_is_small_int(ye->num)) return cg_powi(g, x, (long)ye->num);
  if (ye->op == KE_CONST && ye->num == 0.5) return cg_intrin1(g, "llvm.sqrt", x);
  if (ye->op == KE_CONST && ye->num == -0.5)
    return cg_fdiv(g, cg_f(g, 1.0), cg_intrin1(g, "llvm.sqrt", x));
  LLVMValueRef args[2] = {x, cg_expr(g, ye, at)};
  return cg_intrin(g, "llvm.pow", args, 2);
}

/* The elementwise functions, formula for formula as ki_fn in kirinterp.c. */
static LLVMValueRef cg_fn(cg *g, ex_fn f, LLVMValueRef x) {
  LLVMValueRef zero = cg_f(g, 0.0), one = cg_f(g, 1.0), mone = cg_f(g, -1.0);
  switch (f) {
  case F_TANH: return cg_libm(g, "tanh", x);
  case F_SIGMOID:
    return cg_fdiv(g, one, cg_fadd(g, one, cg_intrin1(g, "llvm.exp", cg_fp(g, LLVMBuildFNeg(g->b, x, "")))));
  case F_SOFTPLUS: {
    LLVMValueRef na = cg_fp(g, LLVMBuildFNeg(g->b, cg_intrin1(g, "llvm.fabs", x), ""));
    LLVMValueRef l = cg_libm(g, "log1p", cg_intrin1(g, "llvm.exp", na));
    return cg_fadd(g, l, cg_maxnum(g, x, zero));
  }
  case F_RELU: return cg_sel(g, LLVMRealOGT, x, zero, x, zero);
  case F_HARDTANH:
    return cg_sel(g, LLVMRealOGT, x, one, one, cg_sel(g, LLVMRealOLT, x, mone, mone, x));
  case F_EXP: return cg_intrin1(g, "llvm.exp", x);
  case F_LOG: return cg_intrin1(g, "llvm.log", x);
  case F_SIN: return cg_intrin1(g, "llvm.sin", x);
  case F_COS: return cg_intrin1(g, "llvm.cos", x);
  case F_SQRT: return cg_intrin1(g, "llvm.sqrt", x);
  case F_ABS: return cg_intrin1(g, "llvm.fabs", x);
  case F_STEP: return cg_sel(g, LLVMRealOGT, x, zero, one, zero);
  case F_SIGN:
    return cg_sel(g, LLVMRealOGT, x, zero, one, cg_sel(g, LLVMRealOLT, x, zero, mone, zero));
  case F_IND1: return cg_sel(g, LLVMRealOLT, cg_intrin1(g, "llvm.fabs", x), one, one, zero);
  case F_COUNT: break;
  }
  return LLVMGetUndef(g->real);   /* unreachable: kir_verify rejects bad functions */
}

static LLVMValueRef cg_expr(cg *g, const kir_expr *e, cg_at at) {
  switch (e->op) {
  case KE_CONST: return cg_f(g, e->num);
  case KE_LOAD: return cg_load(g, e, at);
  case KE_NEG: return cg_fp(g, LLVMBuildFNeg(g->b, cg_expr(g, e->a[0], at), ""));
  case KE_FN: return cg_fn(g, e->fn, cg_expr(g, e->a[0], at));
  case KE_POW: return cg_pow(g, e, at);
  default: break;
  }
  LLVMValueRef a = cg_expr(g, e->a[0], at), b = cg_expr(g, e->a[1], at);
  switch (e->op) {
  case KE_ADD: return cg_fadd(g, a, b);
  case KE_SUB: return cg_fp(g, LLVMBuildFSub(g->b, a, b, ""));
  case KE_MUL: return cg_fmul(g, a, b);
  case KE_DIV: return cg_fdiv(g, a, b);
  case KE_MAX: return cg_maxnum(g, a, b);
  default: return LLVMGetUndef(g->real);
  }
}

/* Does the expression index by row or column separately (then the loop nest is r, c;
 * otherwise one flat loop over the elements, which vectorises best)? */
static bool cg_uses_rc(const kir_expr *e) {
  if (!e) return false;
  if (e->op == KE_LOAD) return e->idx == KI_R || e->idx == KI_C;
  return cg_uses_rc(e->a[0]) || cg_uses_rc(e->a[1]);
}

/* ---- element loops: the r/c nest (or flat loop) over a destination's elements ------ */

typedef struct cg_nest {
  cg_loop r, c;
  bool split;
} cg_nest;

/* Opens the loops over the rows x cols elements of buffer d; fills at->r, c, rc. */
static void cg_nest_begin(cg *g, cg_nest *n, const kir_buf *d, bool split, cg_at *at) {
  n->split = split;
  if (!split) {
    at->rc = cg_loop_begin(g, &n->r, cg_i(g, kir_size(d)), "i");
    at->r = at->c = NULL;
    return;
  }
  at->r = cg_loop_begin(g, &n->r, cg_i(g, d->rows), "r");
  at->c = cg_loop_begin(g, &n->c, cg_i(g, d->cols), "c");
  at->rc = cg_iadd(g, cg_imul(g, at->r, cg_i(g, d->cols)), at->c);
}

static void cg_nest_end(cg *g, cg_nest *n) {
  if (n->split) cg_loop_end(g, &n->c);
  cg_loop_end(g, &n->r);
}

/* Opens the batch loop if the destination is batched; returns b or NULL. */
static LLVMValueRef cg_batch_begin(cg *g, cg_loop *l, const kir_buf *d) {
  return d->batched ? cg_loop_begin(g, l, g->batch, "b") : NULL;
}

static void cg_batch_end(cg *g, cg_loop *l, const kir_buf *d) {
  if (d->batched) cg_loop_end(g, l);
}

/* ---- statements -------------------------------------------------------------------- */

/* dst[b?, r, c] (+)= expr */
static void cg_map(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  cg_loop lb;
  cg_nest n;
  cg_at at = {.b = cg_batch_begin(g, &lb, d)};
  cg_nest_begin(g, &n, d, cg_uses_rc(s->expr), &at);
  LLVMValueRef v = cg_expr(g, s->expr, at);
  LLVMValueRef ptr = cg_elem(g, s->dst, at.b, at.rc);
  if (s->accumulate) v = cg_fadd(g, cg_ld(g, ptr), v);
  cg_st(g, ptr, v);
  cg_nest_end(g, &n);
  cg_batch_end(g, &lb, d);
}

/* ---- fusion of elementwise statements ----------------------------------------------- */

/* Consecutive KS_MAPs over the same number of elements run in one loop: statement j at
 * element i reads what earlier statements wrote at element i, exactly as if each ran over all
 * elements in turn, as long as no statement reads a buffer written in the run at an element
 * other than its own (a KI_0 load) and none uses the r/c nest. This turns a population's
 * g, e, v, u' updates into one loop, which is most of what makes small models compile fast. */
static bool cg_reads_at0(const kir_expr *e, int buf) {
  if (!e) return false;
  if (e->op == KE_LOAD) return e->buf == buf && e->idx == KI_0;
  return cg_reads_at0(e->a[0], buf) || cg_reads_at0(e->a[1], buf);
}

static bool cg_fusable(const cg *g, const kir_stmt *first, const kir_stmt *s) {
  if (s->op != KS_MAP || cg_uses_rc(s->expr)) return false;
  const kir_buf *a = &g->p->bufs[first->dst], *b = &g->p->bufs[s->dst];
  return kir_size(a) == kir_size(b) && a->batched == b->batched;
}

static int cg_map_run(const cg *g, const kir_stmt *st, int n) {
  if (!cg_fusable(g, st, st)) return 1;
  int k = 1;
  for (; k < n && cg_fusable(g, st, &st[k]); k++) {
    bool clash = false;
    for (int j = 0; j < k && !clash; j++)
      clash = cg_reads_at0(st[k].expr, st[j].dst) || cg_reads_at0(st[j].expr, st[k].dst);
    if (clash) break;
  }
  return k;
}

/* Several fusable KS_MAPs in one loop nest. */
static void cg_maps(cg *g, const kir_stmt *st, int n) {
  const kir_buf *d = &g->p->bufs[st[0].dst];
  cg_loop lb;
  cg_nest nest;
  cg_at at = {.b = cg_batch_begin(g, &lb, d)};
  cg_nest_begin(g, &nest, d, false, &at);
  for (int i = 0; i < n; i++) {
    LLVMValueRef v = cg_expr(g, st[i].expr, at);
    LLVMValueRef ptr = cg_elem(g, st[i].dst, at.b, at.rc);
    if (st[i].accumulate) v = cg_fadd(g, cg_ld(g, ptr), v);
    cg_st(g, ptr, v);
  }
  cg_nest_end(g, &nest);
  cg_batch_end(g, &lb, d);
}

/* A vector of KIR_DOT_LANES reals loaded from an element address (element alignment). */
static LLVMValueRef cg_vld(cg *g, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(g->b, LLVMVectorType(g->real, KIR_DOT_LANES), ptr, "");
  LLVMSetAlignment(v, g->o->f32 ? 4 : 8);
  return v;
}

/* Combines the lanes by halving, as ki_dot: lane[j] += lane[j + w], w = LANES/2 ... 1. */
static LLVMValueRef cg_lanes_sum(cg *g, LLVMValueRef v) {
  LLVMValueRef lane[KIR_DOT_LANES];
  for (int j = 0; j < KIR_DOT_LANES; j++)
    lane[j] = LLVMBuildExtractElement(g->b, v, LLVMConstInt(g->i64, (unsigned)j, 0), "");
  for (int w = KIR_DOT_LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) lane[j] = cg_fadd(g, lane[j], lane[j + w]);
  return lane[0];
}

/* sum_c M[row, c] src[b, c] in the order of KIR_DOT_LANES (kir.h): a vector accumulator
 * over whole blocks of lanes, its lanes combined, then the (< LANES) tail columns. Writing
 * the lanes as an LLVM vector makes the reduction vectorised without any fast-math flag. */
static LLVMValueRef cg_dot(cg *g, const kir_stmt *s, LLVMValueRef row, LLVMValueRef b) {
  long n = g->p->bufs[s->mat].cols, nb = n - n % KIR_DOT_LANES;
  LLVMTypeRef vt = LLVMVectorType(g->real, KIR_DOT_LANES);
  LLVMValueRef vacc = LLVMBuildAlloca(g->ab, vt, "lanes");
  LLVMValueRef rowbase = cg_imul(g, row, cg_i(g, n));
  LLVMBuildStore(g->b, LLVMConstNull(vt), vacc);
  if (nb > 0) {
    cg_loop lk;
    LLVMValueRef k = cg_loop_begin(g, &lk, cg_i(g, nb / KIR_DOT_LANES), "k");
    lk.trip = -1;   /* never unroll: the lanes are one dependency chain anyway, and a
                       fully unrolled row lets LICM hoist the whole row into registers */
    LLVMValueRef c = cg_imul(g, k, cg_i(g, KIR_DOT_LANES));
    LLVMValueRef mv = cg_vld(g, cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase, c)));
    LLVMValueRef xv = cg_vld(g, cg_elem(g, s->src, b, c));
    LLVMValueRef old = LLVMBuildLoad2(g->b, vt, vacc, "");
    LLVMBuildStore(g->b, cg_fadd(g, old, cg_fmul(g, mv, xv)), vacc);
    cg_loop_end(g, &lk);
  }
  LLVMValueRef acc = cg_lanes_sum(g, LLVMBuildLoad2(g->b, vt, vacc, ""));
  for (long c = nb; c < n; c++) {
    LLVMValueRef mv = cg_ld(g, cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase, cg_i(g, c))));
    acc = cg_fadd(g, acc, cg_fmul(g, mv, cg_ld(g, cg_elem(g, s->src, b, cg_i(g, c)))));
  }
  return acc;
}

/* dst[b, r] (+)= sum_c M[r, c] src[b, c]: a dot product per row. The batch loop is inside
 * the row loop so that a row of M is read from memory once for all batch elements (the
 * values are those of kirinterp.c: each (b, r) is computed the same way, only the order of
 * the independent dot products differs). */
static void cg_matvec_rows(cg *g, const kir_stmt *s) {
  const kir_buf *m = &g->p->bufs[s->mat], *d = &g->p->bufs[s->dst];
  cg_loop lr, lb;
  LLVMValueRef r = cg_loop_begin(g, &lr, cg_i(g, m->rows), "r");
  LLVMValueRef b = cg_batch_begin(g, &lb, d);
  LLVMValueRef v = cg_dot(g, s, r, b), ptr = cg_elem(g, s->dst, b, r);
  if (s->accumulate) v = cg_fadd(g, cg_ld(g, ptr), v);
  cg_st(g, ptr, v);
  cg_batch_end(g, &lb, d);
  cg_loop_end(g, &lr);
}

/* dst[b, :] = 0 for every batch element (unless accumulating). */
static void cg_matvec_zero(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  cg_loop lb, lc;
  LLVMValueRef b = cg_batch_begin(g, &lb, d);
  LLVMValueRef c = cg_loop_begin(g, &lc, cg_i(g, kir_size(d)), "z");
  cg_st(g, cg_elem(g, s->dst, b, c), cg_f(g, 0.0));
  cg_loop_end(g, &lc);
  cg_batch_end(g, &lb, d);
}

/* dst[b, c] (+)= sum_r M[r, c] src[b, r]: zero dst, then an axpy of each row of M into
 * every batch element's dst (rows in order, so each dst[b, c] sums as in kirinterp.c; the
 * row is read once for the whole batch). */
static void cg_matvec_trans(cg *g, const kir_stmt *s) {
  const kir_buf *m = &g->p->bufs[s->mat], *d = &g->p->bufs[s->dst];
  cg_loop lr, lb, lc;
  if (!s->accumulate) cg_matvec_zero(g, s);
  LLVMValueRef r = cg_loop_begin(g, &lr, cg_i(g, m->rows), "r");
  LLVMValueRef b = cg_batch_begin(g, &lb, d);
  LLVMValueRef a = cg_ld(g, cg_elem(g, s->src, b, r));
  LLVMValueRef c = cg_loop_begin(g, &lc, cg_i(g, m->cols), "c");
  LLVMValueRef mv = cg_ld(g, cg_elem(g, s->mat, NULL, cg_iadd(g, cg_imul(g, r, cg_i(g, m->cols)), c)));
  LLVMValueRef ptr = cg_elem(g, s->dst, b, c);
  cg_st(g, ptr, cg_fadd(g, cg_ld(g, ptr), cg_fmul(g, mv, a)));
  cg_loop_end(g, &lc);
  cg_batch_end(g, &lb, d);
  cg_loop_end(g, &lr);
}

static void cg_matvec(cg *g, const kir_stmt *s) {
  if (s->trans) cg_matvec_trans(g, s);
  else cg_matvec_rows(g, s);
}

/* 1 / batch, as the interpreter computes it. */
static LLVMValueRef cg_inv_batch(cg *g) {
  return cg_fdiv(g, cg_f(g, 1.0), LLVMBuildSIToFP(g->b, g->batch, g->real, ""));
}

/* dst = [dst +] sum_b expr [* 1/batch]: batch loop outside, one pass over dst per batch
 * element; the first element stores, the last scales (selects on the loop-invariant flags
 * first/last, as ki_breduce_direct). */
static void cg_breduce_direct(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  LLVMValueRef sc = cg_inv_batch(g);
  cg_loop lb;
  cg_nest n;
  cg_at at = {.b = cg_loop_begin(g, &lb, g->batch, "b")};
  LLVMValueRef first = LLVMBuildICmp(g->b, LLVMIntEQ, at.b, cg_i(g, 0), "first");
  LLVMValueRef last = LLVMBuildICmp(g->b, LLVMIntEQ, at.b,
                                    LLVMBuildSub(g->b, g->batch, cg_i(g, 1), ""), "last");
  cg_nest_begin(g, &n, d, cg_uses_rc(s->expr), &at);
  LLVMValueRef v = cg_expr(g, s->expr, at), ptr = cg_elem(g, s->dst, NULL, at.rc);
  LLVMValueRef t = cg_fadd(g, cg_ld(g, ptr), v);
  if (!s->accumulate) t = LLVMBuildSelect(g->b, first, v, t, "");
  if (s->mean) t = LLVMBuildSelect(g->b, last, cg_fmul(g, t, sc), t, "");
  cg_st(g, ptr, t);
  cg_nest_end(g, &n);
  cg_loop_end(g, &lb);
}

/* dst += (sum_b expr) * 1/batch: per element, the batch sum in a register. */
static void cg_breduce_accmean(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  LLVMValueRef acc = cg_acc(g), sc = cg_inv_batch(g);
  cg_loop lb;
  cg_nest n;
  cg_at at = {0};
  cg_nest_begin(g, &n, d, cg_uses_rc(s->expr), &at);
  cg_stacc(g, acc, cg_f(g, 0.0));
  at.b = cg_loop_begin(g, &lb, g->batch, "b");
  cg_stacc(g, acc, cg_fadd(g, cg_ldacc(g, acc), cg_expr(g, s->expr, at)));
  cg_loop_end(g, &lb);
  LLVMValueRef ptr = cg_elem(g, s->dst, NULL, at.rc);
  cg_st(g, ptr, cg_fadd(g, cg_ld(g, ptr), cg_fmul(g, cg_ldacc(g, acc), sc)));
  cg_nest_end(g, &n);
}

static void cg_breduce(cg *g, const kir_stmt *s) {
  if (s->accumulate && s->mean) cg_breduce_accmean(g, s);
  else cg_breduce_direct(g, s);
}

/* dst[b] (+)= sum_i expr (or max) */
static void cg_vreduce(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  LLVMValueRef acc = cg_acc(g);
  cg_loop lb, li;
  cg_at at = {.b = cg_batch_begin(g, &lb, d)};
  cg_stacc(g, acc, cg_f(g, s->is_max ? -INFINITY : 0.0));
  at.rc = at.r = cg_loop_begin(g, &li, cg_i(g, s->n), "i");
  at.c = cg_i(g, 0);
  LLVMValueRef v = cg_expr(g, s->expr, at), old = cg_ldacc(g, acc);
  cg_stacc(g, acc, s->is_max ? cg_maxnum(g, old, v) : cg_fadd(g, old, v));
  cg_loop_end(g, &li);
  LLVMValueRef r = cg_ldacc(g, acc), ptr = cg_elem(g, s->dst, at.b, cg_i(g, 0));
  if (s->accumulate) r = s->is_max ? cg_maxnum(g, cg_ld(g, ptr), r) : cg_fadd(g, cg_ld(g, ptr), r);
  cg_st(g, ptr, r);
  cg_batch_end(g, &lb, d);
}

/* dst2[b, :] = 0 for every batch element. */
static void cg_zero_batched(cg *g, int id) {
  cg_loop lb, lc;
  LLVMValueRef b = cg_loop_begin(g, &lb, g->batch, "b");
  LLVMValueRef c = cg_loop_begin(g, &lc, cg_i(g, kir_size(&g->p->bufs[id])), "z");
  cg_st(g, cg_elem(g, id, b, c), cg_f(g, 0.0));
  cg_loop_end(g, &lc);
  cg_loop_end(g, &lb);
}

/* The forward dot and the back-projection axpy of row r for every batch element. */
static void cg_sweep_products(cg *g, const kir_stmt *s, LLVMValueRef r, LLVMValueRef rowbase) {
  const kir_buf *m = &g->p->bufs[s->mat];
  cg_loop lb, lc;
  LLVMValueRef b = cg_loop_begin(g, &lb, g->batch, "b");
  if (s->dst >= 0) cg_st(g, cg_elem(g, s->dst, b, r), cg_dot(g, s, r, b));
  if (s->dst2 >= 0) {
    LLVMValueRef a = cg_ld(g, cg_elem(g, s->src2, b, r));
    LLVMValueRef c = cg_loop_begin(g, &lc, cg_i(g, m->cols), "c");
    LLVMValueRef mv = cg_ld(g, cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase, c)));
    LLVMValueRef ptr = cg_elem(g, s->dst2, b, c);
    cg_st(g, ptr, cg_fadd(g, cg_ld(g, ptr), cg_fmul(g, mv, a)));
    cg_loop_end(g, &lc);
  }
  cg_loop_end(g, &lb);
}

/* The update of row r: M[r, c] += (scale * row[b, r] / batch) * src[b, c], b in order. */
static void cg_sweep_update(cg *g, const kir_stmt *s, LLVMValueRef r, LLVMValueRef rowbase,
                            LLVMValueRef inv) {
  const kir_buf *m = &g->p->bufs[s->mat];
  cg_loop lb, lc;
  LLVMValueRef b = cg_loop_begin(g, &lb, g->batch, "b");
  LLVMValueRef sc = cg_ld(g, cg_elem(g, s->scale, NULL, cg_i(g, 0)));
  LLVMValueRef k = cg_fmul(g, cg_fmul(g, sc, cg_ld(g, cg_elem(g, s->row, b, r))), inv);
  LLVMValueRef c = cg_loop_begin(g, &lc, cg_i(g, m->cols), "c");
  LLVMValueRef ptr = cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase, c));
  cg_st(g, ptr, cg_fadd(g, cg_ld(g, ptr), cg_fmul(g, k, cg_ld(g, cg_elem(g, s->src, b, c)))));
  cg_loop_end(g, &lc);
  cg_loop_end(g, &lb);
}

/* The general sweep: per row, the products for every batch element, then the update. */
static void cg_sweep_rows(cg *g, const kir_stmt *s, LLVMValueRef inv) {
  const kir_buf *m = &g->p->bufs[s->mat];
  cg_loop lr;
  LLVMValueRef r = cg_loop_begin(g, &lr, cg_i(g, m->rows), "r");
  LLVMValueRef rowbase = cg_imul(g, r, cg_i(g, m->cols));
  if (s->dst >= 0 || s->dst2 >= 0) cg_sweep_products(g, s, r, rowbase);
  if (s->row >= 0) cg_sweep_update(g, s, r, rowbase, inv);
  cg_loop_end(g, &lr);
}

static void cg_vst(cg *g, LLVMValueRef ptr, LLVMValueRef v) {
  LLVMSetAlignment(LLVMBuildStore(g->b, v, ptr), g->o->f32 ? 4 : 8);
}

static LLVMValueRef cg_splat(cg *g, LLVMValueRef x) {
  LLVMTypeRef vt = LLVMVectorType(g->real, KIR_DOT_LANES);
  LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(vt), x, cg_i(g, 0), "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(g->cx), KIR_DOT_LANES));
  return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(vt), zeros, "");
}

/* One element (or one block of lanes) of a batch-1 sweep: m is the old weight. */
static LLVMValueRef cg_sweep_elem(cg *g, const kir_stmt *s, LLVMValueRef m, LLVMValueRef x,
                                  LLVMValueRef e, LLVMValueRef k, LLVMValueRef bp_ptr,
                                  LLVMValueRef m_ptr, bool vec) {
  if (s->dst2 >= 0) {
    LLVMValueRef old = vec ? LLVMBuildLoad2(g->b, LLVMVectorType(g->real, KIR_DOT_LANES),
                                            bp_ptr, "") : cg_ld(g, bp_ptr);
    if (vec) LLVMSetAlignment(old, g->o->f32 ? 4 : 8);
    LLVMValueRef v = cg_fadd(g, old, cg_fmul(g, m, e));
    if (vec) cg_vst(g, bp_ptr, v); else cg_st(g, bp_ptr, v);
  }
  if (s->row >= 0) {
    LLVMValueRef v = cg_fadd(g, m, cg_fmul(g, k, x));
    if (vec) cg_vst(g, m_ptr, v); else cg_st(g, m_ptr, v);
  }
  return cg_fmul(g, m, x);
}

/* Batch 1: the forward dot, the back-projection and the update in ONE loop over each row,
 * in blocks of KIR_DOT_LANES: every weight is loaded once and stored once. Each element
 * sees the same arithmetic as in cg_sweep_rows (and ki_sweep), so the results are equal. */
static void cg_sweep_rows1(cg *g, const kir_stmt *s, LLVMValueRef inv) {
  const kir_buf *mb = &g->p->bufs[s->mat];
  long n = mb->cols, nb = n - n % KIR_DOT_LANES;
  LLVMTypeRef vt = LLVMVectorType(g->real, KIR_DOT_LANES);
  LLVMValueRef b0 = cg_i(g, 0), vacc = LLVMBuildAlloca(g->ab, vt, "lanes");
  cg_loop lr, lk;
  LLVMValueRef r = cg_loop_begin(g, &lr, cg_i(g, mb->rows), "r");
  LLVMValueRef rowbase = cg_imul(g, r, cg_i(g, n));
  LLVMValueRef e = s->dst2 >= 0 ? cg_ld(g, cg_elem(g, s->src2, b0, r)) : NULL;
  LLVMValueRef k = NULL;
  if (s->row >= 0) {
    LLVMValueRef sc = cg_ld(g, cg_elem(g, s->scale, NULL, cg_i(g, 0)));
    k = cg_fmul(g, cg_fmul(g, sc, cg_ld(g, cg_elem(g, s->row, b0, r))), inv);
  }
  LLVMBuildStore(g->b, LLVMConstNull(vt), vacc);
  if (nb > 0) {
    LLVMValueRef ev = e ? cg_splat(g, e) : NULL, kv = k ? cg_splat(g, k) : NULL;
    LLVMValueRef kk = cg_loop_begin(g, &lk, cg_i(g, nb / KIR_DOT_LANES), "k");
    lk.trip = -1;
    LLVMValueRef c = cg_imul(g, kk, cg_i(g, KIR_DOT_LANES));
    LLVMValueRef mp = cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase, c));
    LLVMValueRef mv = cg_vld(g, mp), xv = cg_vld(g, cg_elem(g, s->src, b0, c));
    LLVMValueRef bpp = s->dst2 >= 0 ? cg_elem(g, s->dst2, b0, c) : NULL;
    LLVMValueRef prod = cg_sweep_elem(g, s, mv, xv, ev, kv, bpp, mp, true);
    LLVMBuildStore(g->b, cg_fadd(g, LLVMBuildLoad2(g->b, vt, vacc, ""), prod), vacc);
    cg_loop_end(g, &lk);
  }
  LLVMValueRef acc = cg_lanes_sum(g, LLVMBuildLoad2(g->b, vt, vacc, ""));
  for (long c = nb; c < n; c++) {
    LLVMValueRef mp = cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase, cg_i(g, c)));
    LLVMValueRef mv = cg_ld(g, mp), xv = cg_ld(g, cg_elem(g, s->src, b0, cg_i(g, c)));
    LLVMValueRef bpp = s->dst2 >= 0 ? cg_elem(g, s->dst2, b0, cg_i(g, c)) : NULL;
    acc = cg_fadd(g, acc, cg_sweep_elem(g, s, mv, xv, e, k, bpp, mp, false));
  }
  if (s->dst >= 0) cg_st(g, cg_elem(g, s->dst, b0, r), acc);
  cg_loop_end(g, &lr);
}

/* KS_SWEEP (kir.h): row by row, so that each row of M comes from memory once, is used by
 * the forward and the backward product while it sits in the cache, and is written back
 * updated: one read and one write of M per step, the bound of a fused hand-written step.
 * Batch 1 (the common case of online learning) gets a single loop per row. */
static void cg_sweep(cg *g, const kir_stmt *s) {
  LLVMValueRef inv = cg_inv_batch(g);
  if (s->dst2 >= 0) cg_zero_batched(g, s->dst2);
  LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->cx, g->fn, "sweep1");
  LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(g->cx, g->fn, "sweepb");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->cx, g->fn, "swept");
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, g->batch, cg_i(g, 1), ""), one, many);
  LLVMPositionBuilderAtEnd(g->b, one);
  cg_sweep_rows1(g, s, inv);
  LLVMBuildBr(g->b, done);
  LLVMPositionBuilderAtEnd(g->b, many);
  cg_sweep_rows(g, s, inv);
  LLVMBuildBr(g->b, done);
  LLVMPositionBuilderAtEnd(g->b, done);
}

static void cg_stmt(cg *g, const kir_stmt *s) {
  switch (s->op) {
  case KS_MAP: cg_map(g, s); return;
  case KS_MATVEC: cg_matvec(g, s); return;
  case KS_BREDUCE: cg_breduce(g, s); return;
  case KS_VREDUCE: cg_vreduce(g, s); return;
  case KS_SWEEP: cg_sweep(g, s); return;
  }
}

/* ---- kernels ----------------------------------------------------------------------- */

static void cg_mark_expr(const kir_expr *e, bool *used) {
  if (!e) return;
  if (e->op == KE_LOAD) used[e->buf] = true;
  cg_mark_expr(e->a[0], used);
  cg_mark_expr(e->a[1], used);
}

/* Which buffers a kernel touches (used[id]); returns how many. */
static int cg_used(const kir_program *p, const kir_kernel *k, bool *used) {
  memset(used, 0, sizeof(bool) * (size_t)p->nbufs);
  for (int i = 0; i < k->nstmts; i++) {
    const kir_stmt *s = &k->stmts[i];
    if (s->dst >= 0) used[s->dst] = true;
    if (s->op == KS_MATVEC) used[s->mat] = used[s->src] = true;
    if (s->op == KS_SWEEP) {
      int ids[6] = { s->mat, s->src, s->src2, s->dst2, s->row, s->scale };
      for (int j = 0; j < 6; j++)
        if (ids[j] >= 0) used[ids[j]] = true;
    }
    cg_mark_expr(s->expr, used);
  }
  int n = 0;
  for (int i = 0; i < p->nbufs; i++) n += used[i];
  return n;
}

/* The body: void (ptr noalias x nused, i64 batch), internal and always inlined. */
static LLVMValueRef cg_body(cg *g, const kir_kernel *k, const bool *used, int nused,
                            const char *sym) {
  LLVMTypeRef *params = calloc((size_t)nused + 1, sizeof *params);
  for (int i = 0; i < nused; i++) params[i] = g->ptr;
  params[nused] = g->i64;
  char name[300];
  snprintf(name, sizeof name, "%.250s.body", sym);
  g->fn = LLVMAddFunction(g->m, name, LLVMFunctionType(g->vd, params, (unsigned)nused + 1, 0));
  free(params);
  LLVMSetLinkage(g->fn, LLVMInternalLinkage);
  cg_fnattr(g, g->fn, "alwaysinline", 0);
  cg_fnattr(g, g->fn, "nounwind", 0);
  for (int id = 0, j = 0; id < g->p->nbufs; id++) {
    g->base[id] = used[id] ? LLVMGetParam(g->fn, (unsigned)j) : NULL;
    if (used[id]) {
      LLVMAddAttributeAtIndex(g->fn, (unsigned)j + 1, cg_attr(g, "noalias", 0));
      LLVMSetValueName2(g->base[id], g->p->bufs[id].name, strlen(g->p->bufs[id].name));
      j++;
    }
  }
  g->batch = LLVMGetParam(g->fn, (unsigned)nused);
  LLVMSetValueName2(g->batch, "batch", 5);
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->cx, g->fn, "entry");
  LLVMBasicBlockRef start = LLVMAppendBasicBlockInContext(g->cx, g->fn, "start");
  LLVMPositionBuilderAtEnd(g->ab, entry);
  LLVMPositionBuilderAtEnd(g->b, start);
  for (int i = 0; i < k->nstmts;) {
    int n = cg_map_run(g, &k->stmts[i], k->nstmts - i);
    if (n > 1) cg_maps(g, &k->stmts[i], n);
    else cg_stmt(g, &k->stmts[i]);
    i += n;
  }
  LLVMBuildRetVoid(g->b);
  LLVMBuildBr(g->ab, start);    /* the entry block holds only the allocas */
  return g->fn;
}

/* The ABI entry point: loads the used bufs[i] once and calls the body. */
static void cg_entry(cg *g, LLVMValueRef body, const bool *used, int nused, const char *sym) {
  LLVMTypeRef params[3] = {g->ptr, g->ptr, g->i64};
  LLVMValueRef f = LLVMAddFunction(g->m, sym, LLVMFunctionType(g->vd, params, 3, 0));
  cg_fnattr(g, f, "nounwind", 0);
  LLVMValueRef bufs = LLVMGetParam(f, 1);
  LLVMSetValueName2(LLVMGetParam(f, 0), "ctx", 3);
  LLVMSetValueName2(bufs, "bufs", 4);
  LLVMSetValueName2(LLVMGetParam(f, 2), "batch", 5);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->cx, f, "entry"));
  LLVMValueRef *args = calloc((size_t)nused + 1, sizeof *args);
  for (int id = 0, j = 0; id < g->p->nbufs; id++) {
    if (!used[id]) continue;
    LLVMValueRef idx = cg_i(g, id);
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(g->b, g->ptr, bufs, &idx, 1, "");
    args[j] = LLVMBuildLoad2(g->b, g->ptr, slot, g->p->bufs[id].name);
    LLVMSetAlignment(args[j++], 8);
  }
  args[nused] = LLVMGetParam(f, 2);
  LLVMBuildCall2(g->b, LLVMGlobalGetValueType(body), body, args, (unsigned)nused + 1, "");
  LLVMBuildRetVoid(g->b);
  free(args);
}

static void cg_kernel(cg *g, const kir_kernel *k) {
  char sym[256];
  cg_symbol(sym, sizeof sym, g->p->model, k->name);
  bool *used = calloc((size_t)g->p->nbufs + 1, sizeof *used);
  int nused = cg_used(g->p, k, used);
  LLVMValueRef body = cg_body(g, k, used, nused, sym);
  cg_entry(g, body, used, nused, sym);
  free(used);
}

/* ---- globals ----------------------------------------------------------------------- */

static void cg_const_global(cg *g, const char *name, LLVMValueRef init, unsigned align) {
  LLVMValueRef gv = LLVMAddGlobal(g->m, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetAlignment(gv, align);
}

static void cg_string_global(cg *g, const char *name, const char *s) {
  cg_const_global(g, name, LLVMConstStringInContext(g->cx, s, (unsigned)strlen(s), 0), 1);
}

static void cg_globals(cg *g) {
  char name[256];
  cg_string_global(g, "vle_model_name", g->p->model);
  snprintf(name, sizeof name, "vle_%s_abi", g->p->model);
  cg_const_global(g, name, LLVMConstInt(LLVMInt32TypeInContext(g->cx), 1, 0), 4);
  snprintf(name, sizeof name, "vle_%s_meta", g->p->model);
  cg_string_global(g, name, g->p->meta ? g->p->meta : "");
}

/* ---- modules ----------------------------------------------------------------------- */

static LLVMFastMathFlags cg_fmf(cg_fpmode m) {
  return m == CG_FP_FAST ? LLVMFastMathAll : m == CG_FP_CONTRACT ? LLVMFastMathAllowContract
                                                                 : LLVMFastMathNone;
}

/* kir_verify's complaints, as one string. */
static bool cg_verify_program(const kir_program *p, char *err, size_t errlen) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  bool ok = kir_verify(p, f);
  fclose(f);
  if (!ok) cg_seterr(err, errlen, "invalid kernel IR:\n%s", text ? text : "");
  free(text);
  return ok;
}

LLVMModuleRef cg_module(LLVMContextRef cx, const kir_program *p, const cg_options *o,
                        char *err, size_t errlen) {
  if (!cg_verify_program(p, err, errlen)) return NULL;
  cg g = {.cx = cx, .p = p, .o = o, .fmf = cg_fmf(o->fp)};
  g.m = LLVMModuleCreateWithNameInContext(p->model, cx);
  g.b = LLVMCreateBuilderInContext(cx);
  g.ab = LLVMCreateBuilderInContext(cx);
  g.real = o->f32 ? LLVMFloatTypeInContext(cx) : LLVMDoubleTypeInContext(cx);
  g.i64 = LLVMInt64TypeInContext(cx);
  g.ptr = LLVMPointerTypeInContext(cx, 0);
  g.vd = LLVMVoidTypeInContext(cx);
  g.base = calloc((size_t)p->nbufs + 1, sizeof *g.base);
  cg_globals(&g);
  for (int k = 0; k < p->nkernels; k++) cg_kernel(&g, p->kernels[k]);
  free(g.base);
  LLVMDisposeBuilder(g.b);
  LLVMDisposeBuilder(g.ab);
  char *msg = NULL;
  if (LLVMVerifyModule(g.m, LLVMReturnStatusAction, &msg)) {
    cg_seterr(err, errlen, "internal error: invalid LLVM module: %s", msg);
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(g.m);
    return NULL;
  }
  LLVMDisposeMessage(msg);
  return g.m;
}

/* ---- targets and optimisation ------------------------------------------------------ */

void cg_init_native(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  LLVMInitializeNativeAsmParser();
}

LLVMTargetMachineRef cg_target_machine(const cg_options *o, bool pic, char *err, size_t errlen) {
  cg_init_native();
  char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
  LLVMTargetRef t;
  if (LLVMGetTargetFromTriple(triple, &t, &msg)) {
    cg_seterr(err, errlen, "no LLVM target for %s: %s", triple, msg);
    LLVMDisposeMessage(msg);
    LLVMDisposeMessage(triple);
    return NULL;
  }
  char *cpu = o->generic_cpu ? NULL : LLVMGetHostCPUName();
  char *feat = o->generic_cpu ? NULL : LLVMGetHostCPUFeatures();
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
      t, triple, cpu ? cpu : "generic", feat ? feat : "", LLVMCodeGenLevelAggressive,
      pic ? LLVMRelocPIC : LLVMRelocDefault, pic ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
  if (!tm) cg_seterr(err, errlen, "cannot create a target machine for %s", triple);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(feat);
  LLVMDisposeMessage(triple);
  return tm;
}

bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, const cg_options *o,
                 char *err, size_t errlen) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(m, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(m, dl);
  LLVMDisposeTargetData(dl);
  if (o->no_opt) return true;
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
  LLVMPassBuilderOptionsSetLoopInterleaving(po, 1);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, !o->no_unroll);
  LLVMErrorRef e = LLVMRunPasses(m, o->passes ? o->passes : "default<O3>", tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (!e) return true;
  char *msg = LLVMGetErrorMessage(e);
  cg_seterr(err, errlen, "LLVM optimisation failed: %s", msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

LLVMModuleRef cg_compile(LLVMContextRef cx, const kir_program *p, const cg_options *o,
                         LLVMTargetMachineRef tm, char *err, size_t errlen) {
  LLVMModuleRef m = cg_module(cx, p, o, err, errlen);
  if (m && !cg_optimize(m, tm, o, err, errlen)) {
    LLVMDisposeModule(m);
    m = NULL;
  }
  return m;
}

bool cg_emit_ir(const kir_program *p, const cg_options *o, FILE *out) {
  char err[4096];
  LLVMTargetMachineRef tm = cg_target_machine(o, true, err, sizeof err);
  if (!tm) {
    fprintf(stderr, "vlec: %s\n", err);
    return false;
  }
  LLVMContextRef cx = LLVMContextCreate();
  LLVMModuleRef m = cg_compile(cx, p, o, tm, err, sizeof err);
  if (m) {
    char *text = LLVMPrintModuleToString(m);
    fputs(text, out);
    LLVMDisposeMessage(text);
    LLVMDisposeModule(m);
  } else {
    fprintf(stderr, "vlec: %s\n", err);
  }
  LLVMContextDispose(cx);
  LLVMDisposeTargetMachine(tm);
  return m != NULL;
}
