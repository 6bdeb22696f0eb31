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
#include "fn_math.h"
#include "mathfn.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
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
  int vw;                    /* lanes of the vectors cg_vt and cg_splat make */
  /* The threaded body (docs/backend.md "Threads"): the vle_team pointer, this thread's index
   * and the team's size; NULL in the serial body. */
  LLVMValueRef team, tid, nth;
  /* A statement split by its destination's elements: the outer loop of cg_nest_begin runs
   * over [rlo, rhi) only (flat elements, or rows of the r/c nest); NULL: all of them. */
  LLVMValueRef rlo, rhi;
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
  bool novec;             /* no loop vectoriser (its body is vectorised already) */
};

/* Innermost loops with a constant trip count up to this may be unrolled (cg_loop_end). */
enum { CG_UNROLL_MAX_TRIP = 4 };

static LLVMValueRef cg_loop_begin(cg *g, cg_loop *l, LLVMValueRef n, const char *name) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  l->parent = g->loop;
  l->outer = false;
  l->trip = LLVMIsAConstantInt(n) ? (long)LLVMConstIntGetSExtValue(n) : -1;
  l->novec = false;
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

/* Loop metadata !{self, !{"llvm.loop.unroll.disable"}[, !{"llvm.loop.vectorize.enable",
 * i1 false}]}: the self reference (made through a temporary node) is what makes a loop ID
 * unique. */
static LLVMMetadataRef cg_loop_md(cg *g, bool novec) {
  const char *k = "llvm.loop.unroll.disable", *v = "llvm.loop.vectorize.enable";
  LLVMMetadataRef opt = LLVMMDStringInContext2(g->cx, k, strlen(k));
  LLVMMetadataRef vec[2] = {LLVMMDStringInContext2(g->cx, v, strlen(v)),
                            LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(g->cx), 0, 0))};
  LLVMMetadataRef tmp = LLVMTemporaryMDNode(g->cx, NULL, 0);
  LLVMMetadataRef ops[3] = {tmp, LLVMMDNodeInContext2(g->cx, &opt, 1),
                            LLVMMDNodeInContext2(g->cx, vec, 2)};
  LLVMMetadataRef id = LLVMMDNodeInContext2(g->cx, ops, novec ? 3 : 2);
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
  if (l->outer || l->trip < 0 || l->trip > CG_UNROLL_MAX_TRIP || l->novec)
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->cx, "llvm.loop", 9),
                    LLVMMetadataAsValue(g->cx, cg_loop_md(g, l->novec)));
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

/* ---- tanh, inline (mathfn.h): operation for operation as mf_tanh ---------------------- */

/* 2^n for an integral double 0 <= n <= 64, from the exponent bits. */
static LLVMValueRef cg_pow2(cg *g, LLVMValueRef n) {
  LLVMValueRef i = LLVMBuildFPToSI(g->b, n, g->i64, "");
  i = LLVMBuildShl(g->b, cg_iadd(g, i, cg_i(g, 1023)), cg_i(g, 52), "");
  return LLVMBuildBitCast(g->b, i, g->real, "");
}

/* mf_exp_tanh (double only; g->real is double inside cg_mathfn). */
static LLVMValueRef cg_exp_tanh(cg *g, LLVMValueRef y) {
  LLVMValueRef n = cg_intrin1(g, "llvm.floor", cg_fadd(g, cg_fmul(g, y, cg_f(g, MF_LOG2E)), cg_f(g, 0.5)));
  LLVMValueRef r = LLVMBuildFSub(g->b, y, cg_fmul(g, n, cg_f(g, MF_EC1)), "");
  r = LLVMBuildFSub(g->b, r, cg_fmul(g, n, cg_f(g, MF_EC2)), "");
  LLVMValueRef xx = cg_fmul(g, r, r);
  LLVMValueRef px = cg_fadd(g, cg_fmul(g, cg_f(g, MF_EP0), xx), cg_f(g, MF_EP1));
  px = cg_fmul(g, r, cg_fadd(g, cg_fmul(g, px, xx), cg_f(g, MF_EP2)));
  LLVMValueRef qx = cg_fadd(g, cg_fmul(g, cg_f(g, MF_EQ0), xx), cg_f(g, MF_EQ1));
  qx = cg_fadd(g, cg_fmul(g, qx, xx), cg_f(g, MF_EQ2));
  qx = cg_fadd(g, cg_fmul(g, qx, xx), cg_f(g, MF_EQ3));
  LLVMValueRef e = cg_fdiv(g, px, LLVMBuildFSub(g->b, qx, px, ""));
  e = cg_fadd(g, cg_f(g, 1.0), cg_fmul(g, cg_f(g, 2.0), e));
  return cg_fmul(g, e, cg_pow2(g, n));
}

/* mf_tanh in double: straight-line code, no call, so the loop around it vectorises. */
static LLVMValueRef cg_tanh64(cg *g, LLVMValueRef x) {
  LLVMValueRef a = cg_intrin1(g, "llvm.fabs", x), z = cg_fmul(g, x, x);
  LLVMValueRef p = cg_fadd(g, cg_fmul(g, cg_f(g, MF_TP0), z), cg_f(g, MF_TP1));
  p = cg_fadd(g, cg_fmul(g, p, z), cg_f(g, MF_TP2));
  LLVMValueRef q = cg_fadd(g, z, cg_f(g, MF_TQ0));
  q = cg_fadd(g, cg_fmul(g, q, z), cg_f(g, MF_TQ1));
  q = cg_fadd(g, cg_fmul(g, q, z), cg_f(g, MF_TQ2));
  LLVMValueRef small = cg_fadd(g, x, cg_fmul(g, x, cg_fdiv(g, cg_fmul(g, z, p), q)));
  LLVMValueRef cap = cg_f(g, MF_TANH_CAP);
  LLVMValueRef ac = cg_sel(g, LLVMRealOLT, a, cap, a, cap);
  LLVMValueRef s = cg_exp_tanh(g, cg_fadd(g, ac, ac));
  LLVMValueRef big = LLVMBuildFSub(g->b, cg_f(g, 1.0),
                                   cg_fdiv(g, cg_f(g, 2.0), cg_fadd(g, s, cg_f(g, 1.0))), "");
  LLVMValueRef args[2] = {cg_sel(g, LLVMRealULT, a, cg_f(g, MF_TANH_SMALL), small, big), x};
  return cg_intrin(g, "llvm.copysign", args, 2);
}

/* ---- sin and cos, inline (mathfn.h): operation for operation as mf_sin / mf_cos -------- */

static LLVMValueRef cg_fma(cg *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);

/* p(z) = ((((k0 z + k1) z + k2) z + k3) z + k4) z + k5 */
static LLVMValueRef cg_poly6(cg *g, LLVMValueRef z, const double k[6]) {
  LLVMValueRef p = cg_f(g, k[0]);
  for (int i = 1; i < 6; i++) p = cg_fadd(g, cg_fmul(g, p, z), cg_f(g, k[i]));
  return p;
}

/* mf_trig in double: sin (off 0) or cos (off 1) of x, before sin's sign. */
static LLVMValueRef cg_trig64(cg *g, LLVMValueRef x, double off) {
  static const double S[6] = {MF_S0, MF_S1, MF_S2, MF_S3, MF_S4, MF_S5};
  static const double C[6] = {MF_C0, MF_C1, MF_C2, MF_C3, MF_C4, MF_C5};
  LLVMValueRef a = cg_intrin1(g, "llvm.fabs", x);
  LLVMValueRef n = cg_intrin1(g, "llvm.floor", cg_fadd(g, cg_fmul(g, a, cg_f(g, MF_2OPI)), cg_f(g, 0.5)));
  LLVMValueRef nn = LLVMBuildFNeg(g->b, n, "");
  LLVMValueRef r = cg_fma(g, nn, cg_f(g, MF_PIO2_1), a);
  r = cg_fma(g, nn, cg_f(g, MF_PIO2_2), r);
  r = cg_fma(g, nn, cg_f(g, MF_PIO2_3), r);
  LLVMValueRef z = cg_fmul(g, r, r);
  LLVMValueRef sv = cg_fadd(g, r, cg_fmul(g, cg_fmul(g, r, z), cg_poly6(g, z, S)));
  LLVMValueRef cv = cg_fadd(g, LLVMBuildFSub(g->b, cg_f(g, 1.0), cg_fmul(g, z, cg_f(g, 0.5)), ""),
                            cg_fmul(g, cg_fmul(g, z, z), cg_poly6(g, z, C)));
  LLVMValueRef q = cg_fadd(g, n, cg_f(g, off));
  LLVMValueRef fq = cg_intrin1(g, "llvm.floor", cg_fmul(g, q, cg_f(g, 0.25)));
  LLVMValueRef m = LLVMBuildFSub(g->b, q, cg_fmul(g, cg_f(g, 4.0), fq), "");
  LLVMValueRef odd = LLVMBuildOr(g->b, LLVMBuildFCmp(g->b, LLVMRealOEQ, m, cg_f(g, 1.0), ""),
                                 LLVMBuildFCmp(g->b, LLVMRealOEQ, m, cg_f(g, 3.0), ""), "");
  LLVMValueRef v = LLVMBuildSelect(g->b, odd, cv, sv, "");
  v = cg_sel(g, LLVMRealOGE, m, cg_f(g, 2.0), LLVMBuildFNeg(g->b, v, ""), v);
  return cg_sel(g, LLVMRealOLT, a, cg_f(g, MF_TRIG_MAX), v, cg_f(g, NAN));
}

/* mf_sin and mf_cos in double. */
static LLVMValueRef cg_sin64(cg *g, LLVMValueRef x) {
  LLVMValueRef v = cg_trig64(g, x, 0.0);   /* signbit(x) ? -v : v */
  LLVMValueRef neg = LLVMBuildICmp(g->b, LLVMIntSLT, LLVMBuildBitCast(g->b, x, g->i64, ""),
                                   cg_i(g, 0), "");
  return LLVMBuildSelect(g->b, neg, LLVMBuildFNeg(g->b, v, ""), v, "");
}

static LLVMValueRef cg_cos64(cg *g, LLVMValueRef x) { return cg_trig64(g, x, 1.0); }

/* One of the mathfn functions: in double (in f32 between an fpext and an fptrunc), never
 * with fast-math flags, whatever the mode: reassociation would undo their range reductions. */
static LLVMValueRef cg_mathfn(cg *g, LLVMValueRef (*f64)(cg *, LLVMValueRef), LLVMValueRef x) {
  LLVMFastMathFlags fmf = g->fmf;
  LLVMTypeRef real = g->real;
  g->fmf = 0;
  g->real = LLVMDoubleTypeInContext(g->cx);
  LLVMValueRef v = f64(g, g->o->f32 ? LLVMBuildFPExt(g->b, x, g->real, "") : x);
  if (g->o->f32) v = LLVMBuildFPTrunc(g->b, v, real, "");
  g->real = real;
  g->fmf = fmf;
  return v;
}

/* The elementwise functions: fn_math.c's formulas (fm_code) over these primitives, the same
 * formulas the interpreter evaluates. */
static fm_val cg_v(LLVMValueRef v) { return (fm_val){ 0, v }; }
static LLVMValueRef cg_ir(fm_val v) { return v.ir; }

static fm_val cg_fm_num(void *ctx, double v) { return cg_v(cg_f(ctx, v)); }

static fm_val cg_fm_op1(void *ctx, fm_op1 op, fm_val a) {
  cg *g = ctx;
  LLVMValueRef x = cg_ir(a);
  switch (op) {
  case FM_NEG: return cg_v(cg_fp(g, LLVMBuildFNeg(g->b, x, "")));
  case FM_EXP: return cg_v(cg_intrin1(g, "llvm.exp", x));
  case FM_LOG: return cg_v(cg_intrin1(g, "llvm.log", x));
  case FM_LOG1P: return cg_v(cg_libm(g, "log1p", x));
  case FM_ERF: return cg_v(cg_libm(g, "erf", x));
  case FM_FABS: return cg_v(cg_intrin1(g, "llvm.fabs", x));
  case FM_SQRT: return cg_v(cg_intrin1(g, "llvm.sqrt", x));
  case FM_TANH: return cg_v(cg_mathfn(g, cg_tanh64, x));
  case FM_SIN: return cg_v(cg_mathfn(g, cg_sin64, x));
  case FM_COS: return cg_v(cg_mathfn(g, cg_cos64, x));
  }
  abort();
}

static fm_val cg_fm_op2(void *ctx, fm_op2 op, fm_val a, fm_val b) {
  cg *g = ctx;
  switch (op) {
  case FM_ADD: return cg_v(cg_fadd(g, cg_ir(a), cg_ir(b)));
  case FM_SUB: return cg_v(cg_fp(g, LLVMBuildFSub(g->b, cg_ir(a), cg_ir(b), "")));
  case FM_MUL: return cg_v(cg_fmul(g, cg_ir(a), cg_ir(b)));
  case FM_DIV: return cg_v(cg_fdiv(g, cg_ir(a), cg_ir(b)));
  case FM_MAX: return cg_v(cg_maxnum(g, cg_ir(a), cg_ir(b)));
  }
  abort();
}

static fm_val cg_fm_gt(void *ctx, fm_val x, fm_val y, fm_val a, fm_val b) {
  return cg_v(cg_sel(ctx, LLVMRealOGT, cg_ir(x), cg_ir(y), cg_ir(a), cg_ir(b)));
}

static fm_val cg_fm_lt(void *ctx, fm_val x, fm_val y, fm_val a, fm_val b) {
  return cg_v(cg_sel(ctx, LLVMRealOLT, cg_ir(x), cg_ir(y), cg_ir(a), cg_ir(b)));
}

static LLVMValueRef cg_fn(cg *g, ex_fn f, LLVMValueRef x) {
  const fm_ops ops = { g, cg_fm_num, cg_fm_op1, cg_fm_op2, cg_fm_gt, cg_fm_lt };
  return cg_ir(fm_code(&ops, f, cg_v(x)));
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
static LLVMValueRef cg_outer_begin(cg *g, cg_loop *l, long n, const char *name) {
  if (!g->rlo) return cg_loop_begin(g, l, cg_i(g, n), name);
  return cg_iadd(g, g->rlo, cg_loop_begin(g, l, LLVMBuildSub(g->b, g->rhi, g->rlo, ""), name));
}

static void cg_nest_begin(cg *g, cg_nest *n, const kir_buf *d, bool split, cg_at *at) {
  n->split = split;
  if (!split) {
    at->rc = cg_outer_begin(g, &n->r, kir_size(d), "i");
    at->r = at->c = NULL;
    return;
  }
  at->r = cg_outer_begin(g, &n->r, d->rows, "r");
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

/* ---- batch-invariant statements ----------------------------------------------------- */

static bool cg_reads_batched(const cg *g, const kir_expr *e) {
  if (!e) return false;
  if (e->op == KE_LOAD) return g->p->bufs[e->buf].batched;
  return cg_reads_batched(g, e->a[0]) || cg_reads_batched(g, e->a[1]);
}

/* A run of KS_MAPs into batched buffers whose values cannot depend on the batch element
 * (they read no batched buffer and do not accumulate: inputs and targets given as streams
 * of t, say) is computed for element 0 and copied to the others: the same bits, once. */
static bool cg_batch_invariant(const cg *g, const kir_stmt *st, int n) {
  if (!g->p->bufs[st[0].dst].batched) return false;
  for (int i = 0; i < n; i++)
    if (st[i].accumulate || cg_reads_batched(g, st[i].expr)) return false;
  return true;
}

/* dst[b, :] = dst[0, :] for b = 1 .. batch-1. */
static void cg_broadcast(cg *g, int id) {
  long n = kir_size(&g->p->bufs[id]);
  cg_loop lb, li;
  LLVMValueRef b = cg_iadd(g, cg_loop_begin(g, &lb, LLVMBuildSub(g->b, g->batch, cg_i(g, 1), ""), "b"),
                           cg_i(g, 1));
  LLVMValueRef i = cg_loop_begin(g, &li, cg_i(g, n), "i");
  cg_st(g, cg_elem(g, id, b, i), cg_ld(g, cg_elem(g, id, cg_i(g, 0), i)));
  cg_loop_end(g, &li);
  cg_loop_end(g, &lb);
}

/* ---- statements -------------------------------------------------------------------- */

/* Opens the batch loop of a run of maps into d; when the run is batch-invariant, a loop over
 * element 0 only (none at batch 0), which cg_map_batch_end then copies to the others. */
static LLVMValueRef cg_map_batch_begin(cg *g, cg_loop *l, const kir_buf *d, bool inv) {
  if (!inv) return cg_batch_begin(g, l, d);
  LLVMValueRef any = LLVMBuildICmp(g->b, LLVMIntSGT, g->batch, cg_i(g, 0), "");
  return cg_loop_begin(g, l, LLVMBuildSelect(g->b, any, cg_i(g, 1), cg_i(g, 0), ""), "b0");
}

static void cg_map_batch_end(cg *g, cg_loop *l, const kir_buf *d, bool inv,
                             const kir_stmt *st, int n) {
  if (!inv) {
    cg_batch_end(g, l, d);
    return;
  }
  cg_loop_end(g, l);
  for (int i = 0; i < n; i++) cg_broadcast(g, st[i].dst);
}

/* dst[b?, r, c] (+)= expr */
static void cg_map(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  bool inv = cg_batch_invariant(g, s, 1);
  cg_loop lb;
  cg_nest n;
  cg_at at = {.b = cg_map_batch_begin(g, &lb, d, inv)};
  cg_nest_begin(g, &n, d, cg_uses_rc(s->expr), &at);
  LLVMValueRef v = cg_expr(g, s->expr, at);
  LLVMValueRef ptr = cg_elem(g, s->dst, at.b, at.rc);
  if (s->accumulate) v = cg_fadd(g, cg_ld(g, ptr), v);
  cg_st(g, ptr, v);
  cg_nest_end(g, &n);
  cg_map_batch_end(g, &lb, d, inv, s, 1);
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
  bool inv = cg_batch_invariant(g, st, n);
  cg_loop lb;
  cg_nest nest;
  cg_at at = {.b = cg_map_batch_begin(g, &lb, d, inv)};
  cg_nest_begin(g, &nest, d, false, &at);
  for (int i = 0; i < n; i++) {
    LLVMValueRef v = cg_expr(g, st[i].expr, at);
    LLVMValueRef ptr = cg_elem(g, st[i].dst, at.b, at.rc);
    if (st[i].accumulate) v = cg_fadd(g, cg_ld(g, ptr), v);
    cg_st(g, ptr, v);
  }
  cg_nest_end(g, &nest);
  cg_map_batch_end(g, &lb, d, inv, st, n);
}

/* ---- matrix statements --------------------------------------------------------------
 *
 * Every product with a weight matrix M (KS_MATVEC, KS_SWEEP) is generated from one piece,
 * cg_block_cols: a single loop along the columns over a BLOCK of up to CG_ROWS consecutive
 * rows, for one batch element. Per column it loads each row's weight once and uses it for
 * up to three things: the forward dot of the row, the back-projection chain into dst2, and
 * the SGD update. Four rows per pass (as a hand-written kernel would) give four independent
 * dot accumulators, one load and store of the back-projection per four weights, and one
 * load of src per four weights. The arithmetic per element is exactly kirinterp.c's:
 * dots in the lane order of kir.h, fused multiply-adds, back-projection terms added in row
 * order, so the generated code and the interpreter agree bit for bit. */

enum { CG_ROWS = 4 };   /* rows per block at batch 1: 4 dot accumulators, one AVX2 vector each */
/* A product alone (no back-projection or update to fill the FMA pipes between a row's
 * dependent multiply-adds) takes blocks of CG_ROWS_DOT rows: 8 independent chains hide the
 * FMA latency (784-300-100-10 at batch 1, the forward pass of bptt: see bench/README.md).
 * Each row's sum is the same, lane for lane: only how many rows go side by side changes. */
enum { CG_ROWS_DOT = 8, CG_ROWS_MAX = 8 };

static int cg_lanes(const cg *g) { return kir_dot_lanes(g->o->f32); }
static LLVMTypeRef cg_vt(cg *g) { return LLVMVectorType(g->real, (unsigned)g->vw); }

/* The address of vector i of an array of cg_vt vectors (a scratch array of lanes). */
static LLVMValueRef cg_vslot(cg *g, LLVMValueRef base, LLVMValueRef i) {
  return LLVMBuildInBoundsGEP2(g->b, cg_vt(g), base, &i, 1, "");
}

/* A vector of cg_lanes reals loaded from / stored to an element address (element alignment). */
static LLVMValueRef cg_vld(cg *g, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(g->b, cg_vt(g), ptr, "");
  LLVMSetAlignment(v, g->o->f32 ? 4 : 8);
  return v;
}

static void cg_vst(cg *g, LLVMValueRef ptr, LLVMValueRef v) {
  LLVMSetAlignment(LLVMBuildStore(g->b, v, ptr), g->o->f32 ? 4 : 8);
}

/* Vector load / store of a run, or (t > 0) of its first t lanes only: those lanes one by
 * one, zeros in the others. Scalar accesses rather than llvm.masked.load/store: masked stores
 * are microcoded and slow on AMD's cores, and a partial run is short. */
static LLVMValueRef cg_lane_ptr(cg *g, LLVMValueRef ptr, int j) {
  LLVMValueRef idx = cg_i(g, j);
  return LLVMBuildInBoundsGEP2(g->b, g->real, ptr, &idx, 1, "");
}

static LLVMValueRef cg_vldm(cg *g, LLVMValueRef ptr, long t) {
  if (!t) return cg_vld(g, ptr);
  LLVMValueRef v = LLVMConstNull(cg_vt(g));
  for (int j = 0; j < t; j++)
    v = LLVMBuildInsertElement(g->b, v, cg_ld(g, cg_lane_ptr(g, ptr, j)), cg_i(g, j), "");
  return v;
}

static void cg_vstm(cg *g, LLVMValueRef ptr, LLVMValueRef v, long t) {
  if (!t) {
    cg_vst(g, ptr, v);
    return;
  }
  for (int j = 0; j < t; j++)
    cg_st(g, cg_lane_ptr(g, ptr, j), LLVMBuildExtractElement(g->b, v, cg_i(g, j), ""));
}

static LLVMValueRef cg_splat(cg *g, LLVMValueRef x) {
  unsigned L = (unsigned)g->vw;
  LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(cg_vt(g)), x, cg_i(g, 0), "");
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(g->cx), L));
  return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(cg_vt(g)), zeros, "");
}

/* a * b + c with a single rounding (llvm.fma, scalar or vector): the contraction kir.h
 * defines for matrix products. */
static LLVMValueRef cg_fma(cg *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  static const char name[] = "llvm.fma";
  unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
  LLVMTypeRef ty = LLVMTypeOf(a);
  LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->m, id, &ty, 1), args[3] = {a, b, c};
  return cg_fp(g, LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->cx, id, &ty, 1), f, args, 3, ""));
}

/* Combines L lanes by halving, as ki_halve: lane[j] += lane[j + w], w = L/2 ... 1. */
static LLVMValueRef cg_halve(cg *g, LLVMValueRef *lane, int L) {
  for (int w = L / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) lane[j] = cg_fadd(g, lane[j], lane[j + w]);
  return lane[0];
}

/* The sum of a vector of dot lanes (kir.h). */
static LLVMValueRef cg_lanes_sum(cg *g, LLVMValueRef v) {
  LLVMValueRef lane[KIR_DOT_LANES_MAX];
  int L = cg_lanes(g);
  for (int j = 0; j < L; j++)
    lane[j] = LLVMBuildExtractElement(g->b, v, LLVMConstInt(g->i64, (unsigned)j, 0), "");
  return cg_halve(g, lane, L);
}

/* A block of rows r0 .. r0+n-1 of s->mat, swept along the columns for up to CG_BATS batch
 * elements (they share each load of a weight: batched products need a sixth of the cache
 * bandwidth per multiply-add; 2 rows x 6 elements = 12 accumulators, measured 5-10% faster
 * than 2 x 4 at batch 100). CG_TILE_BYTES: the vectors of the batched back-projection
 * and update tiles, which are elementwise in the columns and so free of the dot order. */
enum { CG_BATS = 6, CG_TILE_BYTES = 64 };
typedef struct cg_block {
  int n;                        /* rows in the block, 1 .. CG_ROWS_MAX */
  int nbat;                     /* batch elements, 1 .. CG_BATS */
  LLVMValueRef r0;              /* first row (i64) */
  LLVMValueRef b[CG_BATS];      /* the batch elements (NULL: unbatched) */
  int src;                      /* x: the dot's and the update's vector (-1: neither) */
  bool dot;                     /* dot[k][j] = sum_c M[r0+k, c] x[b_j, c] */
  int dst2;                     /* back-projection: dst2[b_j, c] = fma(M[r0+k, c], e[k][j], .) */
  LLVMValueRef e[CG_ROWS_MAX][CG_BATS];   /*   for k in order (needs dst2 >= 0) */
  LLVMValueRef k[CG_ROWS_MAX];  /* update (or NULL; nbat 1): M[r0+k, c] = fma(k[k], x[b, c], M) */
  LLVMValueRef dots[CG_ROWS_MAX][CG_BATS];  /* out: the dots, when dot */
} cg_block;

/* The dots alone (a batched forward pass): the rows' weights first, then each batch
 * element's x in turn, used by every row and dropped: with 2 rows and CG_BATS elements that
 * is 2 + 1 registers beside the 12 accumulators (x first, all of them live at once, spilled). */
static void cg_block_dots_at(cg *g, const kir_stmt *s, cg_block *bl, LLVMValueRef c,
                             const LLVMValueRef *rowbase, long t, LLVMValueRef acc[][CG_BATS]) {
  LLVMValueRef m[CG_ROWS_MAX];
  for (int k = 0; k < bl->n; k++)
    m[k] = cg_vldm(g, cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase[k], c)), t);
  for (int j = 0; j < bl->nbat; j++) {
    LLVMValueRef x = cg_vldm(g, cg_elem(g, bl->src, bl->b[j], c), t);
    for (int k = 0; k < bl->n; k++) {
      LLVMValueRef old = LLVMBuildLoad2(g->b, cg_vt(g), acc[k][j], "");
      LLVMBuildStore(g->b, cg_fma(g, m[k], x, old), acc[k][j]);
    }
  }
}

/* Batch 1: the sweep of a matrix of several MB streams it from L3 or memory every step, and
 * each block of rows starts 4 new streams that the hardware prefetchers pick up late; so
 * the block fetches the next block's rows as it goes, one line per row per two runs
 * (1000-1000-1000, 4 and 8 MB matrices: 13% faster in f32, 25-33% in f64). Smaller
 * matrices stay in the caches (784-300-100-10's 1.9 MB, f64: 11% slower with it): none. */
enum { CG_PREFETCH_BYTES = 2 << 20 };

static bool cg_prefetching(const cg *g, const kir_stmt *s) {
  return kir_size(&g->p->bufs[s->mat]) * (g->o->f32 ? 4 : 8) >= CG_PREFETCH_BYTES;
}

/* llvm.prefetch of element i of buffer id, of batch element b if b (write: for a store;
 * locality 3: keep it in every level). A plain GEP: the address may lie past the buffer,
 * which a prefetch may. */
static void cg_prefetch(cg *g, int id, LLVMValueRef b, LLVMValueRef i, bool write) {
  static const char name[] = "llvm.prefetch";
  unsigned fid = LLVMLookupIntrinsicID(name, sizeof name - 1);
  LLVMTypeRef pt = LLVMPointerTypeInContext(g->cx, 0), i32 = LLVMInt32TypeInContext(g->cx);
  LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->m, fid, &pt, 1);
  if (b) i = cg_iadd(g, cg_imul(g, b, cg_i(g, kir_size(&g->p->bufs[id]))), i);
  LLVMValueRef args[4] = {LLVMBuildGEP2(g->b, g->real, g->base[id], &i, 1, ""),
                          LLVMConstInt(i32, write, 0), LLVMConstInt(i32, 3, 0),
                          LLVMConstInt(i32, 1, 0)};
  LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->cx, fid, &pt, 1), f, args, 4, "");
}

/* Prefetches the next block's rows at column c (the block after this one: CG_ROWS rows on;
 * past the last row the addresses lie outside M, which a prefetch may). */
static void cg_prefetch_next(cg *g, const kir_stmt *s, cg_block *bl, LLVMValueRef c,
                             const LLVMValueRef *rowbase) {
  if (bl->n != CG_ROWS) return;
  LLVMValueRef ahead = cg_i(g, CG_ROWS * g->p->bufs[s->mat].cols);
  /* a run is half a cache line: rows 0 and 2 on even runs, 1 and 3 on odd ones */
  LLVMValueRef run = LLVMBuildUDiv(g->b, c, cg_i(g, cg_lanes(g)), "");
  LLVMValueRef odd = LLVMBuildTrunc(g->b, run, LLVMInt1TypeInContext(g->cx), "");
  for (int k = 0; k < CG_ROWS; k += 2) {
    LLVMValueRef row = LLVMBuildSelect(g->b, odd, rowbase[k + 1], rowbase[k], "");
    cg_prefetch(g, s->mat, NULL, cg_iadd(g, cg_iadd(g, row, c), ahead), true);
  }
}

/* One run of cg_lanes columns of a block, at column c (t > 0: only its first t lanes, the
 * others read as zeros and not written). acc[k][j]: the dot accumulators (allocas). */
static void cg_block_at(cg *g, const kir_stmt *s, cg_block *bl, LLVMValueRef c,
                        const LLVMValueRef *rowbase, long t, LLVMValueRef acc[][CG_BATS]) {
  LLVMValueRef x[CG_BATS] = {0}, bpp[CG_BATS] = {0}, bp[CG_BATS] = {0};
  if (bl->dst2 < 0 && !bl->k[0]) {   /* dots alone: see cg_block_dots_at */
    cg_block_dots_at(g, s, bl, c, rowbase, t, acc);
    return;
  }
  for (int j = 0; j < bl->nbat; j++) {
    if (bl->src >= 0) x[j] = cg_vldm(g, cg_elem(g, bl->src, bl->b[j], c), t);
    if (bl->dst2 >= 0) bp[j] = cg_vldm(g, bpp[j] = cg_elem(g, bl->dst2, bl->b[j], c), t);
  }
  if (bl->k[0] && !t && cg_prefetching(g, s)) cg_prefetch_next(g, s, bl, c, rowbase);
  for (int k = 0; k < bl->n; k++) {
    LLVMValueRef mp = cg_elem(g, s->mat, NULL, cg_iadd(g, rowbase[k], c)), m = cg_vldm(g, mp, t);
    for (int j = 0; j < bl->nbat; j++) {
      if (bl->dot) {
        LLVMValueRef old = LLVMBuildLoad2(g->b, cg_vt(g), acc[k][j], "");
        LLVMBuildStore(g->b, cg_fma(g, m, x[j], old), acc[k][j]);
      }
      if (bp[j]) bp[j] = cg_fma(g, m, cg_splat(g, bl->e[k][j]), bp[j]);
    }
    if (bl->k[k]) cg_vstm(g, mp, cg_fma(g, cg_splat(g, bl->k[k]), x[0], m), t);
  }
  for (int j = 0; j < bl->nbat; j++)
    if (bp[j]) cg_vstm(g, bpp[j], bp[j], t);
}

/* The block's pass over the columns [c0, c0 + len) (len a constant; c0 a multiple of the
 * lanes): the whole runs of lanes in a loop, then the partial run (only where the range ends
 * the row). vacc[k][j]: the dot accumulators (allocas), carried in and out. */
static void cg_block_range(cg *g, const kir_stmt *s, cg_block *bl, const LLVMValueRef *rowbase,
                           LLVMValueRef vacc[][CG_BATS], LLVMValueRef c0, long len) {
  long L = cg_lanes(g), nb = len - len % L;
  if (nb > 0) {
    cg_loop lk;
    LLVMValueRef kk = cg_loop_begin(g, &lk, cg_i(g, nb / L), "k");
    lk.trip = -1;   /* never unroll: a fully unrolled row lets LICM hoist it into registers */
    cg_block_at(g, s, bl, cg_iadd(g, c0, cg_imul(g, kk, cg_i(g, L))), rowbase, 0, vacc);
    cg_loop_end(g, &lk);
  }
  if (len > nb) cg_block_at(g, s, bl, cg_iadd(g, c0, cg_i(g, nb)), rowbase, len - nb, vacc);
}

/* The block's row offsets, and its dot accumulators (allocas; zero unless `init` is given:
 * then loaded from init[k * CG_BATS + j], vectors of the lanes). */
static void cg_block_setup(cg *g, const kir_stmt *s, cg_block *bl, LLVMValueRef *rowbase,
                           LLVMValueRef vacc[][CG_BATS], LLVMValueRef init) {
  long n = g->p->bufs[s->mat].cols;
  for (int k = 0; k < bl->n; k++) {
    rowbase[k] = cg_imul(g, cg_iadd(g, bl->r0, cg_i(g, k)), cg_i(g, n));
    for (int j = 0; bl->dot && j < bl->nbat; j++) {
      vacc[k][j] = LLVMBuildAlloca(g->ab, cg_vt(g), "lanes");
      LLVMValueRef v = LLVMConstNull(cg_vt(g));
      if (init) {
        LLVMValueRef idx = cg_i(g, k * CG_BATS + j);
        v = LLVMBuildLoad2(g->b, cg_vt(g), cg_vslot(g, init, idx), "");
      }
      LLVMBuildStore(g->b, v, vacc[k][j]);
    }
  }
}

/* The dots of a block from its accumulators (lanes combined as kir.h says). */
static void cg_block_sums(cg *g, cg_block *bl, LLVMValueRef vacc[][CG_BATS]) {
  for (int k = 0; bl->dot && k < bl->n; k++)
    for (int j = 0; j < bl->nbat; j++)
      bl->dots[k][j] = cg_lanes_sum(g, LLVMBuildLoad2(g->b, cg_vt(g), vacc[k][j], ""));
}

/* The block's pass along its whole rows. */
static void cg_block_cols(cg *g, const kir_stmt *s, cg_block *bl) {
  LLVMValueRef rowbase[CG_ROWS_MAX], vacc[CG_ROWS_MAX][CG_BATS];
  cg_block_setup(g, s, bl, rowbase, vacc, NULL);
  cg_block_range(g, s, bl, rowbase, vacc, cg_i(g, 0), g->p->bufs[s->mat].cols);
  cg_block_sums(g, bl, vacc);
}

/* What a sweep's block functions need besides the block: the update's scale / batch, and
 * the batch elements b (a group) or the column c of the loop around them. */
typedef struct cg_sweep_arg {
  LLVMValueRef cmul, c;
  LLVMValueRef b[CG_BATS];
  int nbat;                     /* elements in b */
  long t;                       /* > 0: the tile at c is a partial run of t lanes */
  long len;                     /* forward dots: the column block [c, c + len) */
  bool last;                    /*   it ends the rows: sum the lanes, store the dots */
  LLVMValueRef p0, scratch;     /*   the panel's first row; the lanes between blocks (or NULL) */
} cg_sweep_arg;

/* Calls each(g, s, r0, n, arg) for the blocks of `per` rows among rows [first, first +
 * rows) of s->mat: a loop over the whole blocks, then the rows left: one block of them when
 * rows is a constant, else a loop over single rows (one copy of the code for any count). */
typedef void cg_block_fn(cg *g, const kir_stmt *s, LLVMValueRef r0, int n, const cg_sweep_arg *arg);

static void cg_blocks_in(cg *g, const kir_stmt *s, LLVMValueRef first, LLVMValueRef rows,
                         int per, cg_block_fn *each, const cg_sweep_arg *arg) {
  cg_loop lr;
  if (LLVMIsAConstantInt(rows)) {
    long n = (long)LLVMConstIntGetSExtValue(rows), full = n / per;
    if (full > 0) {
      LLVMValueRef i = cg_loop_begin(g, &lr, cg_i(g, full), "rb");
      each(g, s, cg_iadd(g, first, cg_imul(g, i, cg_i(g, per))), per, arg);
      cg_loop_end(g, &lr);
    }
    if (n % per) each(g, s, cg_iadd(g, first, cg_i(g, full * per)), (int)(n % per), arg);
    return;
  }
  LLVMValueRef full = LLVMBuildUDiv(g->b, rows, cg_i(g, per), "");
  LLVMValueRef i = cg_loop_begin(g, &lr, full, "rb");
  each(g, s, cg_iadd(g, first, cg_imul(g, i, cg_i(g, per))), per, arg);
  cg_loop_end(g, &lr);
  LLVMValueRef rest = cg_iadd(g, first, cg_imul(g, full, cg_i(g, per)));
  i = cg_loop_begin(g, &lr, LLVMBuildURem(g->b, rows, cg_i(g, per), ""), "r1");
  each(g, s, cg_iadd(g, rest, i), 1, arg);
  cg_loop_end(g, &lr);
}

static void cg_row_blocks(cg *g, const kir_stmt *s, cg_block_fn *each, const cg_sweep_arg *arg) {
  cg_blocks_in(g, s, cg_i(g, 0), cg_i(g, g->p->bufs[s->mat].rows), CG_ROWS, each, arg);
}

/* dst[b, r] (+)= sum_c M[r, c] src[b, c] for the rows of one block, every batch element
 * (the block stays in cache while the batch goes by). */
static void cg_matvec_block(cg *g, const kir_stmt *s, LLVMValueRef r0, int n,
                            const cg_sweep_arg *arg) {
  (void)arg;
  const kir_buf *d = &g->p->bufs[s->dst];
  cg_loop lb;
  cg_block bl = {.n = n, .nbat = 1, .r0 = r0, .b = {cg_batch_begin(g, &lb, d)}, .src = s->src,
                 .dot = true, .dst2 = -1};
  cg_block_cols(g, s, &bl);
  for (int k = 0; k < n; k++) {
    LLVMValueRef v = bl.dots[k][0], ptr = cg_elem(g, s->dst, bl.b[0], cg_iadd(g, r0, cg_i(g, k)));
    if (s->accumulate) v = cg_fadd(g, cg_ld(g, ptr), v);
    cg_st(g, ptr, v);
  }
  cg_batch_end(g, &lb, d);
}

/* dst[b, c] (+)= sum_r M[r, c] src[b, r] for the rows of one block: the back-projection
 * chain of cg_block_cols with e[k] = src[b, r0+k]. */
static void cg_matvec_trans_block(cg *g, const kir_stmt *s, LLVMValueRef r0, int n,
                                  const cg_sweep_arg *arg) {
  (void)arg;
  const kir_buf *d = &g->p->bufs[s->dst];
  cg_loop lb;
  cg_block bl = {.n = n, .nbat = 1, .r0 = r0, .b = {cg_batch_begin(g, &lb, d)}, .src = -1,
                 .dst2 = s->dst};
  for (int k = 0; k < n; k++)
    bl.e[k][0] = cg_ld(g, cg_elem(g, s->src, bl.b[0], cg_iadd(g, r0, cg_i(g, k))));
  cg_block_cols(g, s, &bl);
  cg_batch_end(g, &lb, d);
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

static void cg_sweep(cg *g, const kir_stmt *s);

/* A product that overwrites dst is a sweep with only its forward product (or only its
 * back-projection): the same sums in the same order (kir.h), and at batch > 1 the sweep's
 * panels share each load of a weight among a group of batch elements (cg_sweepb), where
 * cg_matvec_block reads the block once per element (784-300-100-10 at batch 100: bptt's
 * forward pass, all matrix products, 2.6x faster). */
static void cg_matvec(cg *g, const kir_stmt *s) {
  if (!s->accumulate) {
    kir_stmt sw = {.op = KS_SWEEP, .mat = s->mat, .dst = -1, .src = -1, .src2 = -1,
                   .dst2 = -1, .row = -1, .scale = -1, .work = -1};
    if (s->trans) sw.src2 = s->src, sw.dst2 = s->dst;
    else sw.src = s->src, sw.dst = s->dst;
    cg_sweep(g, &sw);
    return;
  }
  if (s->trans && !s->accumulate) cg_matvec_zero(g, s);
  cg_row_blocks(g, s, s->trans ? cg_matvec_trans_block : cg_matvec_block, NULL);
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

/* dst[b] (+)= sum_i expr (or max). A sum goes in the lanes of kir.h's dot (one scalar
 * chain of L terms unrolled, which the SLP vectoriser turns into vector adds: a sequential
 * sum waits 4 cycles per term), a max in order (maxnum has no latency chain worth it). */
static void cg_vreduce(cg *g, const kir_stmt *s) {
  const kir_buf *d = &g->p->bufs[s->dst];
  long L = s->is_max ? 1 : cg_lanes(g), nb = s->n - s->n % L;
  LLVMValueRef acc[KIR_DOT_LANES_MAX];
  cg_loop lb, li;
  cg_at at = {.b = cg_batch_begin(g, &lb, d), .c = cg_i(g, 0)};
  for (int j = 0; j < L; j++) {
    acc[j] = cg_acc(g);
    cg_stacc(g, acc[j], cg_f(g, s->is_max ? -INFINITY : 0.0));
  }
  LLVMValueRef k = nb ? cg_imul(g, cg_loop_begin(g, &li, cg_i(g, nb / L), "i"), cg_i(g, L)) : NULL;
  li.novec = true;   /* SLP makes the L lanes one vector; the loop vectoriser on top only
                        multiplied the code (+175 IR lines a sum, +30% compile time) */
  for (int pass = nb ? 0 : 1; pass < 2; pass++) {   /* 0: the whole runs, 1: the rest */
    for (int j = 0; j < (pass ? s->n - nb : L); j++) {
      at.rc = at.r = pass ? cg_i(g, nb + j) : cg_iadd(g, k, cg_i(g, j));
      LLVMValueRef v = cg_expr(g, s->expr, at), old = cg_ldacc(g, acc[j]);
      cg_stacc(g, acc[j], s->is_max ? cg_maxnum(g, old, v) : cg_fadd(g, old, v));
    }
    if (!pass) cg_loop_end(g, &li);
  }
  for (int j = 0; j < L; j++) acc[j] = cg_ldacc(g, acc[j]);
  LLVMValueRef r = cg_halve(g, acc, (int)L), ptr = cg_elem(g, s->dst, at.b, cg_i(g, 0));
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

/* The update's coefficient of row r for batch element b: (scale[0] / batch) * row[b, r]. */
static LLVMValueRef cg_sweep_coef(cg *g, const kir_stmt *s, LLVMValueRef cmul, LLVMValueRef b,
                                  LLVMValueRef r) {
  return cg_fmul(g, cmul, cg_ld(g, cg_elem(g, s->row, b, r)));
}

/* The address of the coefficient k[b, r] in s->work (kir_work_at: blocks of KIR_WORK_ROWS
 * rows, one run per batch element). */
static LLVMValueRef cg_work_elem(cg *g, const kir_stmt *s, LLVMValueRef b, LLVMValueRef r) {
  LLVMValueRef W = cg_i(g, KIR_WORK_ROWS);
  LLVMValueRef q = cg_iadd(g, cg_imul(g, LLVMBuildUDiv(g->b, r, W, ""), g->batch), b);
  return cg_elem(g, s->work, NULL, cg_iadd(g, cg_imul(g, q, W), LLVMBuildURem(g->b, r, W, "")));
}

/* Batch 1: forward dot, back-projection and update of a block in ONE pass over its rows. */
static void cg_sweep1_block(cg *g, const kir_stmt *s, LLVMValueRef r0, int n,
                            const cg_sweep_arg *arg) {
  LLVMValueRef b0 = cg_i(g, 0);
  cg_block bl = {.n = n, .nbat = 1, .r0 = r0, .b = {b0}, .src = s->src, .dot = s->dst >= 0,
                 .dst2 = s->dst2};
  for (int k = 0; k < n; k++) {
    LLVMValueRef r = cg_iadd(g, r0, cg_i(g, k));
    if (s->dst2 >= 0) bl.e[k][0] = cg_ld(g, cg_elem(g, s->src2, b0, r));
    if (s->row >= 0) bl.k[k] = cg_sweep_coef(g, s, arg->cmul, b0, r);
  }
  cg_block_cols(g, s, &bl);
  for (int k = 0; bl.dot && k < n; k++)
    cg_st(g, cg_elem(g, s->dst, b0, cg_iadd(g, r0, cg_i(g, k))), bl.dots[k][0]);
}

/* Batch > 1, the update of one block's tile at column arg->c, g->vw columns (arg->t > 0:
 * only the first t, for the partial run at the end of the rows): the tile stays in registers while every
 * batch element's outer product is added, b in order. CG_UROWS rows of two registers each:
 * 12 accumulators, which keep both FMA pipes busy through the 4-cycle FMA latency (8 did
 * not quite: 6 rows made the 1000-1000-1000 f32 batch-100 step 13% faster than 4), and
 * 2 loads of src plus 6 broadcasts per 12 multiply-adds, the 6 coefficients side by side
 * in s->work (kir_work_at). The tile's column strip of src (one line per batch element, a
 * row apart) comes from L3 for the first block of rows; in f64, whose tiles do half the
 * multiply-adds per line, each element's line of the next tile is prefetched on the way
 * (4-9% faster at batch 100 in f64; in f32 it measured 2-3% slower). */
enum { CG_UROWS = KIR_WORK_ROWS };

static void cg_tile_update(cg *g, const kir_stmt *s, LLVMValueRef r0, int n,
                           const cg_sweep_arg *arg) {
  LLVMValueRef c = arg->c;
  long cols = g->p->bufs[s->mat].cols, t = arg->t;
  LLVMValueRef mp[CG_UROWS], tile[CG_UROWS];
  for (int k = 0; k < n; k++) {
    LLVMValueRef base = cg_imul(g, cg_iadd(g, r0, cg_i(g, k)), cg_i(g, cols));
    mp[k] = cg_elem(g, s->mat, NULL, cg_iadd(g, base, c));
    tile[k] = LLVMBuildAlloca(g->ab, cg_vt(g), "tile");
    LLVMBuildStore(g->b, cg_vldm(g, mp[k], t), tile[k]);
  }
  cg_loop lb;
  LLVMValueRef b = cg_loop_begin(g, &lb, g->batch, "b");
  LLVMValueRef x = cg_vldm(g, cg_elem(g, s->src, b, c), t);
  if (!t && !g->o->f32)   /* the next tile's line of src: see above */
    cg_prefetch(g, s->src, b, cg_iadd(g, c, cg_i(g, g->vw)), false);
  for (int k = 0; k < n; k++) {
    LLVMValueRef r = cg_iadd(g, r0, cg_i(g, k));
    LLVMValueRef ck = s->work >= 0 ? cg_ld(g, cg_work_elem(g, s, b, r))
                                   : cg_sweep_coef(g, s, arg->cmul, b, r);
    LLVMValueRef old = LLVMBuildLoad2(g->b, cg_vt(g), tile[k], "");
    LLVMBuildStore(g->b, cg_fma(g, cg_splat(g, ck), x, old), tile[k]);
  }
  cg_loop_end(g, &lb);
  for (int k = 0; k < n; k++) cg_vstm(g, mp[k], LLVMBuildLoad2(g->b, cg_vt(g), tile[k], ""), t);
}

/* Batch > 1, one block and the group of batch elements arg->b: the forward dots with the
 * old rows over the column block [arg->c, arg->c + arg->len) (the back-projection goes by
 * tiles, cg_bp_tile). The lanes start from arg->scratch at the block's rows (zero without
 * one) and go back there, or, in the block that ends the rows, are summed into dst. */
static void cg_sweepb_products(cg *g, const kir_stmt *s, LLVMValueRef r0, int n,
                               const cg_sweep_arg *arg) {
  cg_block bl = {.n = n, .nbat = arg->nbat, .r0 = r0, .src = s->src, .dot = true, .dst2 = -1};
  memcpy(bl.b, arg->b, sizeof bl.b);
  LLVMValueRef sp = NULL, rowbase[CG_ROWS], vacc[CG_ROWS][CG_BATS];
  if (arg->scratch) {
    LLVMValueRef idx = cg_imul(g, LLVMBuildSub(g->b, r0, arg->p0, ""), cg_i(g, CG_BATS));
    sp = cg_vslot(g, arg->scratch, idx);
  }
  cg_block_setup(g, s, &bl, rowbase, vacc, sp);
  cg_block_range(g, s, &bl, rowbase, vacc, arg->c, arg->len);
  if (!arg->last) {
    for (int k = 0; k < n; k++)
      for (int j = 0; j < bl.nbat; j++) {
        LLVMValueRef idx = cg_i(g, k * CG_BATS + j);
        LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, cg_vt(g), vacc[k][j], ""),
                       cg_vslot(g, sp, idx));
      }
    return;
  }
  cg_block_sums(g, &bl, vacc);
  for (int k = 0; k < n; k++)
    for (int j = 0; j < bl.nbat; j++)
      cg_st(g, cg_elem(g, s->dst, bl.b[j], cg_iadd(g, r0, cg_i(g, k))), bl.dots[k][j]);
}

/* Opens a loop over the batch elements [first, end) in groups of G; fills b[0 .. G) with the
 * group's elements. A last group that runs past end repeats element end-1: the copies
 * compute the same values and store the same bits, so no second copy of the code is needed
 * for the elements left over. Close with cg_loop_end. */
static void cg_batch_groups_in(cg *g, cg_loop *l, int G, LLVMValueRef first, LLVMValueRef end,
                               LLVMValueRef *b, const char *name) {
  LLVMValueRef last = LLVMBuildSub(g->b, end, cg_i(g, 1), "");
  LLVMValueRef n = LLVMBuildSub(g->b, end, first, "");
  LLVMValueRef groups = LLVMBuildSDiv(g->b, cg_iadd(g, n, cg_i(g, G - 1)), cg_i(g, G), "");
  LLVMValueRef i = cg_loop_begin(g, l, groups, name);
  for (int j = 0; j < G; j++) {
    LLVMValueRef bj = cg_iadd(g, first, cg_iadd(g, cg_imul(g, i, cg_i(g, G)), cg_i(g, j)));
    b[j] = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, bj, end, ""), bj, last, "");
  }
}

static void cg_batch_groups(cg *g, cg_loop *l, int G, LLVMValueRef *b, const char *name) {
  cg_batch_groups_in(g, l, G, cg_i(g, 0), g->batch, b, name);
}

/* Rows per panel of the batched sweep: the panel's rows (up to ~256 KiB, half of a typical
 * L2; measured better than 64 or 128 KiB) stay in L2 while the batch goes by, and each batch
 * element's src row (in L1) serves the whole panel, so src is read from memory once per
 * panel and phase rather than once per block of rows. */
static long cg_panel_rows(const cg *g, const kir_stmt *s) {
  enum { Q = 6 };    /* a multiple of the forward pairs and of the update's CG_UROWS */
  long row_bytes = g->p->bufs[s->mat].cols * (g->o->f32 ? 4 : 8);
  long p = (256L * 1024 / row_bytes) / Q * Q;
  return p < Q ? Q : p;
}

/* Batch > 1, the back-projection of the panel's rows [p0, p0 + n) into the columns of one
 * tile at c (t > 0: a partial run of t lanes) for the batch group b (CG_BPG elements):
 * dst2[b, c..] += M[r, c..] src2[b, r] for the rows in order, the group's dst2 tiles in
 * registers while the rows go by (loaded and stored once per panel, not once per row). */
enum { CG_BPG = 4 };

static void cg_bp_tile(cg *g, const kir_stmt *s, LLVMValueRef p0, LLVMValueRef n,
                       const LLVMValueRef *b, LLVMValueRef c, long t) {
  long cols = g->p->bufs[s->mat].cols;
  LLVMValueRef acc[CG_BPG];
  cg_loop lr;
  for (int j = 0; j < CG_BPG; j++) {
    acc[j] = LLVMBuildAlloca(g->ab, cg_vt(g), "bp");
    LLVMBuildStore(g->b, cg_vldm(g, cg_elem(g, s->dst2, b[j], c), t), acc[j]);
    if (!t)   /* the group's next tile of dst2, which streams from L3 (5-10% at 1000 b100) */
      cg_prefetch(g, s->dst2, b[j], cg_iadd(g, c, cg_i(g, g->vw)), true);
  }
  LLVMValueRef r = cg_iadd(g, p0, cg_loop_begin(g, &lr, n, "r"));
  LLVMValueRef w = cg_vldm(g, cg_elem(g, s->mat, NULL, cg_iadd(g, cg_imul(g, r, cg_i(g, cols)), c)), t);
  for (int j = 0; j < CG_BPG; j++) {
    LLVMValueRef e = cg_splat(g, cg_ld(g, cg_elem(g, s->src2, b[j], r)));
    LLVMBuildStore(g->b, cg_fma(g, w, e, LLVMBuildLoad2(g->b, cg_vt(g), acc[j], "")), acc[j]);
  }
  cg_loop_end(g, &lr);
  for (int j = 0; j < CG_BPG; j++)
    cg_vstm(g, cg_elem(g, s->dst2, b[j], c), LLVMBuildLoad2(g->b, cg_vt(g), acc[j], ""), t);
}

/* cg_bp_tile for the batch group b, or (b NULL) for every group in turn. */
static void cg_bp_tile_in(cg *g, const kir_stmt *s, LLVMValueRef p0, LLVMValueRef n,
                          const LLVMValueRef *b, LLVMValueRef c, long t) {
  if (b) {
    cg_bp_tile(g, s, p0, n, b, c, t);
    return;
  }
  LLVMValueRef bb[CG_BPG];
  cg_loop lg;
  cg_batch_groups(g, &lg, CG_BPG, bb, "bpg");
  cg_bp_tile(g, s, p0, n, bb, c, t);
  cg_loop_end(g, &lg);
}

/* Batch > 1, the forward dots of the panel's rows [p0, p0 + n) for the batch elements
 * [first, end) in groups of G. A group's G rows of src stay in L1 while the panel's rows go
 * by, if they fit (CG_SRC_L1 bytes: 6 x 1000 f32 = 24 KB do); longer ones go in column blocks
 * of CG_KC_BYTES (6 x 1000 f64 = 48 KB would not, and every load would come from L2), the
 * lanes waiting in a scratch array between blocks: the same sums in the same order, kir.h's
 * dot is untouched. Measured at batch 100, f64: 3% faster at 1000-1000-1000, 4-7% at
 * 784-300-100-10; for f32's 24 KB rows it was 4% slower, hence the threshold. */
enum { CG_SRC_L1 = 24 << 10, CG_KC_BYTES = 2048 };

static void cg_sweepb_dots(cg *g, const kir_stmt *s, LLVMValueRef p0, LLVMValueRef n,
                           cg_sweep_arg *a, int G, LLVMValueRef first, LLVMValueRef end) {
  long cols = g->p->bufs[s->mat].cols, sz = g->o->f32 ? 4 : 8, L = cg_lanes(g);
  /* blocks of about CG_KC_BYTES, all of one length (whole runs of lanes) but the last: 784
   * f64 columns go as 4 x 196, not 3 x 256 + 16 */
  long nblk = CG_BATS * cols * sz > CG_SRC_L1 ? (cols * sz + CG_KC_BYTES - 1) / CG_KC_BYTES : 1;
  long KC = ((cols + nblk - 1) / nblk + L - 1) / L * L;
  long before = nblk > 1 ? (cols - 1) / KC : 0;   /* whole blocks before the last one */
  cg_loop lb, lk, lz;
  a->nbat = G;
  a->p0 = p0;
  a->scratch = NULL;
  if (before > 0) {
    LLVMTypeRef arr = LLVMArrayType(cg_vt(g), (unsigned)(cg_panel_rows(g, s) * CG_BATS));
    a->scratch = LLVMBuildAlloca(g->ab, arr, "lanes");
  }
  cg_batch_groups_in(g, &lb, G, first, end, a->b, "bg");
  if (before > 0) {
    LLVMValueRef i = cg_loop_begin(g, &lz, cg_imul(g, n, cg_i(g, CG_BATS)), "z");
    LLVMBuildStore(g->b, LLVMConstNull(cg_vt(g)), cg_vslot(g, a->scratch, i));
    cg_loop_end(g, &lz);
    a->c = cg_imul(g, cg_loop_begin(g, &lk, cg_i(g, before), "kb"), cg_i(g, KC));
    a->len = KC;
    a->last = false;
    cg_blocks_in(g, s, p0, n, 2, cg_sweepb_products, a);
    cg_loop_end(g, &lk);
  }
  a->c = cg_i(g, before * KC);
  a->len = cols - before * KC;
  a->last = true;
  cg_blocks_in(g, s, p0, n, 2, cg_sweepb_products, a);
  cg_loop_end(g, &lb);
}

/* Batch > 1, the panel of rows [p0, p0 + n): for every batch element the products of all its
 * blocks, then tile column by tile column the updates of all its blocks. */
static void cg_sweepb_panel(cg *g, const kir_stmt *s, LLVMValueRef p0, LLVMValueRef n,
                            LLVMValueRef cmul) {
  cg_sweep_arg a = {.cmul = cmul};
  cg_loop lc;
  if (s->dst >= 0) {
    /* groups of CG_BATS batch elements, blocks of 2 rows: 12 vector accumulators, each weight
     * load used by every element of the group; the elements left over by pairs (a whole
     * group of 6 for the last 1-5 would compute up to 5 of them again) */
    LLVMValueRef left = LLVMBuildSRem(g->b, g->batch, cg_i(g, CG_BATS), "");
    LLVMValueRef whole = LLVMBuildSub(g->b, g->batch, left, "");
    cg_sweepb_dots(g, s, p0, n, &a, CG_BATS, cg_i(g, 0), whole);
    cg_sweepb_dots(g, s, p0, n, &a, 2, whole, g->batch);
  }
  /* The back-projection and the update are elementwise in the columns: their vectors are
   * CG_TILE_BYTES (two AVX2 registers per row or batch element of a tile), whatever the
   * dot order. */
  int vw = g->vw;
  g->vw = CG_TILE_BYTES / (g->o->f32 ? 4 : 8);
  long cols = g->p->bufs[s->mat].cols, L = g->vw, nb = cols - cols % L;
  if (s->dst2 >= 0) {
    /* The order of the tiles: with several panels, batch groups outside and columns inside,
     * so that dst2 (reloaded once per panel, and larger than L2 at 1000 columns x batch 100)
     * streams row by row; with one panel, columns outside, so that each column strip of the
     * rows stays in L1 while the groups go by (3% either way, measured both ways) */
    bool groups_outer = g->p->bufs[s->mat].rows > cg_panel_rows(g, s);
    LLVMValueRef b[CG_BPG];
    cg_loop lg;
    if (groups_outer) cg_batch_groups(g, &lg, CG_BPG, b, "bpg");
    if (nb > 0) {
      LLVMValueRef c = cg_imul(g, cg_loop_begin(g, &lc, cg_i(g, nb / L), "bpt"), cg_i(g, L));
      cg_bp_tile_in(g, s, p0, n, groups_outer ? b : NULL, c, 0);
      cg_loop_end(g, &lc);
    }
    if (cols > nb) cg_bp_tile_in(g, s, p0, n, groups_outer ? b : NULL, cg_i(g, nb), cols - nb);
    if (groups_outer) cg_loop_end(g, &lg);
  }
  if (s->row >= 0 && nb > 0) {
    a.c = cg_imul(g, cg_loop_begin(g, &lc, cg_i(g, nb / L), "tile"), cg_i(g, L));
    cg_blocks_in(g, s, p0, n, CG_UROWS, cg_tile_update, &a);
    cg_loop_end(g, &lc);
  }
  if (s->row >= 0 && cols > nb) {   /* the partial run */
    a.c = cg_i(g, nb);
    a.t = cols - nb;
    cg_blocks_in(g, s, p0, n, CG_UROWS, cg_tile_update, &a);
  }
  g->vw = vw;
}

/* work[b, r] = (scale / batch) row[b, r]: the update's coefficients, computed once rather
 * than in every tile (a multiply beside each pair of multiply-adds). */
static void cg_sweep_coefs(cg *g, const kir_stmt *s, LLVMValueRef cmul, LLVMValueRef first,
                           LLVMValueRef rows) {
  cg_loop lb, lr;
  LLVMValueRef b = cg_loop_begin(g, &lb, g->batch, "b");
  LLVMValueRef r = cg_iadd(g, first, cg_loop_begin(g, &lr, rows, "r"));
  cg_st(g, cg_work_elem(g, s, b, r), cg_sweep_coef(g, s, cmul, b, r));
  cg_loop_end(g, &lr);
  cg_loop_end(g, &lb);
}

/* The panels: one copy of the panel code, its row count min(P, rows - p0) a run-time value
 * (unless the matrix is a single panel). */
static void cg_sweepb(cg *g, const kir_stmt *s, LLVMValueRef cmul, LLVMValueRef first,
                      LLVMValueRef nrows) {
  long rows = g->p->bufs[s->mat].rows, P = cg_panel_rows(g, s);
  if (LLVMIsAConstantInt(nrows) && rows <= P) {
    cg_sweepb_panel(g, s, first, nrows, cmul);
    return;
  }
  cg_loop lp;
  LLVMValueRef np = LLVMBuildUDiv(g->b, cg_iadd(g, nrows, cg_i(g, P - 1)), cg_i(g, P), "");
  LLVMValueRef p0 = cg_imul(g, cg_loop_begin(g, &lp, np, "panel"), cg_i(g, P));
  LLVMValueRef left = LLVMBuildSub(g->b, nrows, p0, "");
  p0 = cg_iadd(g, first, p0);
  LLVMValueRef whole = LLVMBuildICmp(g->b, LLVMIntSGE, left, cg_i(g, P), "");
  cg_sweepb_panel(g, s, p0, LLVMBuildSelect(g->b, whole, cg_i(g, P), left, ""), cmul);
  cg_loop_end(g, &lp);
}

/* KS_SWEEP (kir.h): block by block, so that each row of M comes from memory once, is used by
 * the forward and the backward product while it sits in the cache, and is written back
 * updated: one read and one write of M per step, the bound of a fused hand-written step.
 * Batch 1 (the common case of online learning) gets a single loop per block; batches go
 * panel by panel (cg_sweepb_panel). */
static void cg_sweep_in(cg *g, const kir_stmt *s, LLVMValueRef first, LLVMValueRef rows) {
  cg_sweep_arg a = {0};
  if (s->row >= 0)
    a.cmul = cg_fmul(g, cg_ld(g, cg_elem(g, s->scale, NULL, cg_i(g, 0))), cg_inv_batch(g));
  if (s->row >= 0 && s->work >= 0) cg_sweep_coefs(g, s, a.cmul, first, rows);
  if (s->dst2 >= 0) cg_zero_batched(g, s->dst2);
  LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(g->cx, g->fn, "sweep1");
  LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(g->cx, g->fn, "sweepb");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->cx, g->fn, "swept");
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, g->batch, cg_i(g, 1), ""), one, many);
  LLVMPositionBuilderAtEnd(g->b, one);
  bool dots = s->dst2 < 0 && s->row < 0;   /* a product alone */
  cg_blocks_in(g, s, first, rows, dots ? CG_ROWS_DOT : CG_ROWS, cg_sweep1_block, &a);
  LLVMBuildBr(g->b, done);
  LLVMPositionBuilderAtEnd(g->b, many);
  cg_sweepb(g, s, a.cmul, first, rows);
  LLVMBuildBr(g->b, done);
  LLVMPositionBuilderAtEnd(g->b, done);
}

/* The whole sweep: the rows [0, rows) of M. */
static void cg_sweep(cg *g, const kir_stmt *s) {
  cg_sweep_in(g, s, cg_i(g, 0), cg_i(g, g->p->bufs[s->mat].rows));
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

/* An i64 field of the vle_team at ptr team, at byte offset off. */
static LLVMValueRef cg_team_field(cg *g, LLVMValueRef team, size_t off, const char *name) {
  LLVMValueRef o = cg_i(g, (long)off);
  LLVMValueRef p = LLVMBuildGEP2(g->b, LLVMInt8TypeInContext(g->cx), team, &o, 1, "");
  LLVMValueRef v = LLVMBuildLoad2(g->b, g->i64, p, name);
  LLVMSetAlignment(v, 8);
  return v;
}

/* ---- threads (docs/backend.md "Threads") -------------------------------------------
 *
 * The threaded body runs in every member of a team (vle_team, vle_vocab.h) at once, each with
 * the same buffers and batch. Every statement is split so that each element it writes is
 * computed by exactly one thread, by the same code and so with the same operations in the
 * same order as in the serial body: the results do not depend on the number of threads.
 *   CG_PART_BATCH  a batched destination (MAP, MATVEC, VREDUCE): the batch elements are
 *                  shared out; the statement runs on a sub-batch (the batched buffers'
 *                  pointers moved to its first element), as the serial code would on the
 *                  whole batch, element for element the same.
 *   CG_PART_ELEMS  a shared destination large enough (MAP, BREDUCE): its elements (or rows)
 *                  are shared out; each keeps its batch sum in batch order.
 *   CG_PART_ONE    anything small or not splittable: thread 0.
 *   KS_SWEEP       two phases: the forward and backward products with the old matrix by
 *                  batch elements (CG_PART_BATCH), then, after a barrier, the update by rows
 *                  (CG_PART_ROWS: each weight's batch sum in batch order), rows in whole blocks
 *                  of KIR_WORK_ROWS so that no two threads write one block of the
 *                  coefficients. Consecutive sweeps do all their products, then all their
 *                  updates (cg_sweep_run): one barrier for a layer stack, not one per layer.
 * Barriers go only where a statement depends on another thread's work (cg_sync). */
typedef enum { CG_PART_BATCH, CG_PART_ELEMS, CG_PART_ONE, CG_PART_ROWS } cg_part;

/* Elements below which a shared destination is left to thread 0 (and weights below which a
 * kernel gets no threaded body): a few microseconds of work, less than a barrier costs. */
enum { CG_PAR_MIN = 4096, CG_PAR_UNIT = 16 };

static cg_part cg_partition(const cg *g, const kir_stmt *s) {
  const kir_buf *d = s->dst >= 0 ? &g->p->bufs[s->dst] : NULL;
  switch (s->op) {
  case KS_MAP:
  case KS_BREDUCE:
    if (s->op == KS_MAP && d->batched) return CG_PART_BATCH;
    return kir_size(d) >= CG_PAR_MIN ? CG_PART_ELEMS : CG_PART_ONE;
  case KS_MATVEC:
  case KS_VREDUCE: return d->batched ? CG_PART_BATCH : CG_PART_ONE;
  case KS_SWEEP: return s->dst >= 0 || s->dst2 >= 0 ? CG_PART_BATCH : CG_PART_ROWS;
  }
  return CG_PART_ONE;
}

/* Does the kernel have work worth a team: a product with a large matrix, or a large shared
 * destination? Kernels without get no threaded body (thread 0 runs the serial one). */
static bool cg_worth_threads(const cg *g, const kir_kernel *k) {
  for (int i = 0; i < k->nstmts; i++) {
    const kir_stmt *s = &k->stmts[i];
    if ((s->op == KS_MATVEC || s->op == KS_SWEEP) && kir_size(&g->p->bufs[s->mat]) >= CG_PAR_MIN)
      return true;
    if (cg_partition(g, s) == CG_PART_ELEMS) return true;
  }
  return false;
}

/* This thread's share [lo, hi) of n units: lo = n tid / nth (n, nth small: no overflow). */
static void cg_share(cg *g, LLVMValueRef n, LLVMValueRef *lo, LLVMValueRef *hi) {
  *lo = LLVMBuildUDiv(g->b, cg_imul(g, n, g->tid), g->nth, "lo");
  *hi = LLVMBuildUDiv(g->b, cg_imul(g, n, cg_iadd(g, g->tid, cg_i(g, 1))), g->nth, "hi");
}

/* The share of `total` elements in units of `unit`: [lo, hi) clamped to total. */
static void cg_share_units(cg *g, long total, long unit, LLVMValueRef *lo, LLVMValueRef *hi) {
  cg_share(g, cg_i(g, (total + unit - 1) / unit), lo, hi);
  LLVMValueRef t = cg_i(g, total);
  *lo = cg_imul(g, *lo, cg_i(g, unit));
  *hi = cg_imul(g, *hi, cg_i(g, unit));
  *lo = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntULT, *lo, t, ""), *lo, t, "");
  *hi = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntULT, *hi, t, ""), *hi, t, "");
}

/* Opens `if (cond)`; cg_if_end closes it. */
static LLVMBasicBlockRef cg_if(cg *g, LLVMValueRef cond, const char *name) {
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->cx, g->fn, name);
  LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(g->cx, g->fn, "endif");
  LLVMBuildCondBr(g->b, cond, then, after);
  LLVMPositionBuilderAtEnd(g->b, then);
  return after;
}

static void cg_if_end(cg *g, LLVMBasicBlockRef after) {
  LLVMBuildBr(g->b, after);
  LLVMPositionBuilderAtEnd(g->b, after);
}

/* team->barrier(team): every member waits until all have arrived. */
static void cg_barrier(cg *g) {
  LLVMTypeRef fty = LLVMFunctionType(g->vd, &g->ptr, 1, 0);
  LLVMValueRef off = cg_i(g, (long)offsetof(vle_team, barrier));
  LLVMValueRef slot = LLVMBuildGEP2(g->b, LLVMInt8TypeInContext(g->cx), g->team, &off, 1, "");
  LLVMValueRef fn = LLVMBuildLoad2(g->b, g->ptr, slot, "barrier");
  LLVMBuildCall2(g->b, fty, fn, &g->team, 1, "");
}

/* One statement, or a run of n fused maps: their serial code (in either body). */
static void cg_gen(cg *g, const kir_stmt *st, int n) {
  if (n > 1) cg_maps(g, st, n);
  else cg_stmt(g, st);
}

static void cg_par_batch(cg *g, const kir_stmt *st, int n) {
  LLVMValueRef b0, b1;
  cg_share(g, g->batch, &b0, &b1);
  LLVMBasicBlockRef after = cg_if(g, LLVMBuildICmp(g->b, LLVMIntULT, b0, b1, ""), "bpart");
  int nb = g->p->nbufs;
  LLVMValueRef *saved = malloc(sizeof *saved * (size_t)nb), batch = g->batch;
  memcpy(saved, g->base, sizeof *saved * (size_t)nb);
  for (int id = 0; id < nb; id++)
    if (g->base[id] && g->p->bufs[id].batched) {
      LLVMValueRef off = cg_imul(g, b0, cg_i(g, kir_size(&g->p->bufs[id])));
      g->base[id] = LLVMBuildInBoundsGEP2(g->b, g->real, g->base[id], &off, 1, "");
    }
  g->batch = LLVMBuildSub(g->b, b1, b0, "subbatch");
  cg_gen(g, st, n);
  memcpy(g->base, saved, sizeof *saved * (size_t)nb);
  g->batch = batch;
  free(saved);
  cg_if_end(g, after);
}

static void cg_par_elems(cg *g, const kir_stmt *st, int n) {
  const kir_buf *d = &g->p->bufs[st->dst];
  bool rows = n == 1 && cg_uses_rc(st->expr);
  cg_share_units(g, rows ? d->rows : kir_size(d), rows ? 1 : CG_PAR_UNIT, &g->rlo, &g->rhi);
  LLVMBasicBlockRef after = cg_if(g, LLVMBuildICmp(g->b, LLVMIntULT, g->rlo, g->rhi, ""), "epart");
  cg_gen(g, st, n);
  g->rlo = g->rhi = NULL;
  cg_if_end(g, after);
}

static void cg_par_one(cg *g, const kir_stmt *st, int n) {
  LLVMBasicBlockRef after = cg_if(g, LLVMBuildICmp(g->b, LLVMIntEQ, g->tid, cg_i(g, 0), ""), "one");
  cg_gen(g, st, n);
  cg_if_end(g, after);
}

/* The update phase of a sweep: rows in whole blocks of KIR_WORK_ROWS. */
static void cg_par_update(cg *g, const kir_stmt *s) {
  kir_stmt u = *s;
  u.dst = u.dst2 = -1;
  LLVMValueRef r0, r1;
  cg_share_units(g, g->p->bufs[s->mat].rows, KIR_WORK_ROWS, &r0, &r1);
  LLVMBasicBlockRef after = cg_if(g, LLVMBuildICmp(g->b, LLVMIntULT, r0, r1, ""), "upart");
  cg_sweep_in(g, &u, r0, LLVMBuildSub(g->b, r1, r0, ""));
  cg_if_end(g, after);
}

/* What the statements since the last barrier read and wrote: per buffer, a mask of the
 * partitions (1 << cg_part) that did. A statement needs a barrier first when it reads a
 * buffer written, or writes a buffer read or written, under another partition, or under
 * CG_PART_ELEMS / CG_PART_ROWS (whose shares depend on the statement's shape). Under
 * CG_PART_BATCH every statement shares out the same batch elements and touches only its own;
 * under CG_PART_ONE everything is thread 0's: a thread then sees only its own writes. */
typedef struct cg_sync {
  unsigned char *rd, *wr;
} cg_sync;

typedef struct cg_use {
  int rd[8], wr[8];
  int nrd, nwr;
} cg_use;

static void cg_use_expr(const kir_expr *e, cg_use *a) {
  if (!e) return;
  if (e->op == KE_LOAD && a->nrd < 8) a->rd[a->nrd++] = e->buf;
  cg_use_expr(e->a[0], a);
  cg_use_expr(e->a[1], a);
}

/* The buffers a statement (a sweep: its products, or with `update` its update) reads and
 * writes; an expression with more than 8 loads counts as reading everything (-2). */
static void cg_access(const kir_stmt *s, bool update, cg_use *a) {
  *a = (cg_use){0};
  if (s->op == KS_SWEEP) {
    int r[4] = { s->mat, update ? s->row : s->src, update ? s->src : s->src2,
                 update ? s->scale : -1 };
    for (int i = 0; i < 4; i++)
      if (r[i] >= 0) a->rd[a->nrd++] = r[i];
    int w[2] = { update ? s->mat : s->dst, update ? s->work : s->dst2 };
    for (int i = 0; i < 2; i++)
      if (w[i] >= 0) a->wr[a->nwr++] = w[i];
    return;
  }
  if (s->op == KS_MATVEC) {
    a->rd[a->nrd++] = s->mat;
    a->rd[a->nrd++] = s->src;
  }
  cg_use_expr(s->expr, a);
  if (a->nrd == 8) a->nrd = -2;
  if (s->accumulate) a->rd[a->nrd < 0 ? 7 : a->nrd++] = s->dst;
  a->wr[a->nwr++] = s->dst;
}

/* Before statements st[0 .. n) (accesses a[0 .. n)) under `part`: a barrier if needed, then
 * their accesses recorded. */
static void cg_sync_before(cg *g, cg_sync *y, cg_part part, const cg_use *a, int n) {
  unsigned ok = part == CG_PART_BATCH || part == CG_PART_ONE ? 1u << part : 0;
  int nb = g->p->nbufs;
  bool hazard = false;
  for (int k = 0; k < n && !hazard; k++) {
    if (a[k].nrd < 0) {
      for (int id = 0; id < nb && !hazard; id++) hazard = (y->wr[id] & ~ok) != 0;
    }
    for (int i = 0; i < a[k].nrd && !hazard; i++) hazard = (y->wr[a[k].rd[i]] & ~ok) != 0;
    for (int i = 0; i < a[k].nwr && !hazard; i++)
      hazard = ((y->rd[a[k].wr[i]] | y->wr[a[k].wr[i]]) & ~ok) != 0;
  }
  if (hazard) {
    cg_barrier(g);
    memset(y->rd, 0, (size_t)nb);
    memset(y->wr, 0, (size_t)nb);
  }
  for (int k = 0; k < n; k++) {
    if (a[k].nrd < 0)
      for (int id = 0; id < nb; id++) y->rd[id] |= (unsigned char)(1u << part);
    for (int i = 0; i < a[k].nrd; i++) y->rd[a[k].rd[i]] |= (unsigned char)(1u << part);
    for (int i = 0; i < a[k].nwr; i++) y->wr[a[k].wr[i]] |= (unsigned char)(1u << part);
  }
}

/* Consecutive sweeps whose products may all run before any of their updates: distinct
 * matrices, and no product writes what an earlier sweep's update reads. Then the products of
 * all go first and the updates after, with one barrier between instead of one per sweep. */
static int cg_sweep_run(const kir_stmt *st, int n) {
  int k = 1;
  for (; k < n && st[k].op == KS_SWEEP; k++) {
    bool ok = true;
    for (int j = 0; j < k && ok; j++) {
      const kir_stmt *a = &st[j], *b = &st[k];
      int reads[3] = { a->row, a->src, a->scale };
      ok = a->mat != b->mat;
      for (int i = 0; i < 3 && ok; i++) ok = reads[i] < 0 || (reads[i] != b->dst && reads[i] != b->dst2);
    }
    if (!ok) break;
  }
  return k;
}

/* Statements st[0 .. n) (a run of fused maps, or one statement) in the threaded body. */
static void cg_par_stmt(cg *g, cg_sync *y, const kir_stmt *st, int n) {
  cg_part part = cg_partition(g, st);
  cg_use a[64];
  int m = n < 64 ? n : 64;
  for (int k = 0; k < m; k++) cg_access(&st[k], false, &a[k]);
  if (n > 64) a[0].nrd = -2;   /* a very long run: everything read */
  cg_sync_before(g, y, part, a, m);
  switch (part) {
  case CG_PART_BATCH: cg_par_batch(g, st, n); return;
  case CG_PART_ELEMS: cg_par_elems(g, st, n); return;
  case CG_PART_ONE: cg_par_one(g, st, n); return;
  case CG_PART_ROWS: cg_par_update(g, st); return;
  }
}

/* A run of n sweeps (cg_sweep_run): every product (by batch elements), then every update (by
 * rows). */
static void cg_par_sweeps(cg *g, cg_sync *y, const kir_stmt *st, int n) {
  cg_use a;
  for (int k = 0; k < n; k++) {
    if (st[k].dst < 0 && st[k].dst2 < 0) continue;
    kir_stmt p = st[k];
    p.row = p.work = -1;
    cg_access(&st[k], false, &a);
    cg_sync_before(g, y, CG_PART_BATCH, &a, 1);
    cg_par_batch(g, &p, 1);
  }
  for (int k = 0; k < n; k++) {
    if (st[k].row < 0) continue;
    cg_access(&st[k], true, &a);
    cg_sync_before(g, y, CG_PART_ROWS, &a, 1);
    cg_par_update(g, &st[k]);
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
      int ids[7] = { s->mat, s->src, s->src2, s->dst2, s->row, s->scale, s->work };
      for (int j = 0; j < 7; j++)
        if (ids[j] >= 0) used[ids[j]] = true;
    }
    cg_mark_expr(s->expr, used);
  }
  int n = 0;
  for (int i = 0; i < p->nbufs; i++) n += used[i];
  return n;
}

/* The body: void (ptr noalias x nused, i64 batch[, ptr team]), internal and always inlined;
 * with `par`, the threaded body (cg_par_stmt) that every member of the team runs. */
static LLVMValueRef cg_body(cg *g, const kir_kernel *k, const bool *used, int nused,
                            const char *sym, bool par) {
  LLVMTypeRef *params = calloc((size_t)nused + 2, sizeof *params);
  for (int i = 0; i < nused; i++) params[i] = g->ptr;
  params[nused] = g->i64;
  params[nused + 1] = g->ptr;
  char name[300];
  snprintf(name, sizeof name, "%.250s.%s", sym, par ? "par" : "body");
  g->fn = LLVMAddFunction(g->m, name, LLVMFunctionType(g->vd, params, (unsigned)nused + 1 + par, 0));
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
  g->team = g->tid = g->nth = NULL;
  if (par) {
    g->team = LLVMGetParam(g->fn, (unsigned)nused + 1);
    LLVMSetValueName2(g->team, "team", 4);
    g->tid = cg_team_field(g, g->team, offsetof(vle_team, tid), "tid");
    g->nth = cg_team_field(g, g->team, offsetof(vle_team, nthreads), "nth");
  }
  cg_sync y = { calloc((size_t)g->p->nbufs + 1, 1), calloc((size_t)g->p->nbufs + 1, 1) };
  for (int i = 0; i < k->nstmts;) {
    const kir_stmt *st = &k->stmts[i];
    int n = par && st->op == KS_SWEEP ? cg_sweep_run(st, k->nstmts - i)
                                      : cg_map_run(g, st, k->nstmts - i);
    if (!par) cg_gen(g, st, n);
    else if (st->op == KS_SWEEP) cg_par_sweeps(g, &y, st, n);
    else cg_par_stmt(g, &y, st, n);
    i += n;
  }
  free(y.rd);
  free(y.wr);
  LLVMBuildRetVoid(g->b);
  LLVMBuildBr(g->ab, start);    /* the entry block holds only the allocas */
  g->team = g->tid = g->nth = NULL;
  return g->fn;
}

/* The ABI entry point: loads the used bufs[i] once and calls a body. Without a team
 * (ctx NULL, or a team of one) the serial body; in a team of several, the threaded body
 * (`par`), or, for a kernel without one, the serial body in thread 0 alone. */
static void cg_entry(cg *g, LLVMValueRef body, LLVMValueRef par, const bool *used, int nused,
                     const char *sym) {
  LLVMTypeRef params[3] = {g->ptr, g->ptr, g->i64};
  LLVMValueRef f = LLVMAddFunction(g->m, sym, LLVMFunctionType(g->vd, params, 3, 0));
  cg_fnattr(g, f, "nounwind", 0);
  LLVMValueRef ctx = LLVMGetParam(f, 0), bufs = LLVMGetParam(f, 1);
  LLVMSetValueName2(ctx, "ctx", 3);
  LLVMSetValueName2(bufs, "bufs", 4);
  LLVMSetValueName2(LLVMGetParam(f, 2), "batch", 5);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->cx, f, "entry"));
  LLVMValueRef *args = calloc((size_t)nused + 2, sizeof *args);
  for (int id = 0, j = 0; id < g->p->nbufs; id++) {
    if (!used[id]) continue;
    LLVMValueRef idx = cg_i(g, id);
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(g->b, g->ptr, bufs, &idx, 1, "");
    args[j] = LLVMBuildLoad2(g->b, g->ptr, slot, g->p->bufs[id].name);
    LLVMSetAlignment(args[j++], 8);
  }
  args[nused] = LLVMGetParam(f, 2);
  args[nused + 1] = ctx;
  LLVMBasicBlockRef serial = LLVMAppendBasicBlockInContext(g->cx, f, "serial");
  LLVMBasicBlockRef team = LLVMAppendBasicBlockInContext(g->cx, f, "team");
  LLVMBasicBlockRef many = LLVMAppendBasicBlockInContext(g->cx, f, "many");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->cx, f, "done");
  LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, ctx, ""), serial, team);
  LLVMPositionBuilderAtEnd(g->b, team);
  LLVMValueRef nth = cg_team_field(g, ctx, offsetof(vle_team, nthreads), "nth");
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLE, nth, cg_i(g, 1), ""), serial, many);
  LLVMPositionBuilderAtEnd(g->b, many);
  if (par) {
    LLVMBuildCall2(g->b, LLVMGlobalGetValueType(par), par, args, (unsigned)nused + 2, "");
    LLVMBuildBr(g->b, done);
  } else {
    LLVMValueRef tid = cg_team_field(g, ctx, offsetof(vle_team, tid), "tid");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, tid, cg_i(g, 0), ""), serial, done);
  }
  LLVMPositionBuilderAtEnd(g->b, serial);
  LLVMBuildCall2(g->b, LLVMGlobalGetValueType(body), body, args, (unsigned)nused + 1, "");
  LLVMBuildBr(g->b, done);
  LLVMPositionBuilderAtEnd(g->b, done);
  LLVMBuildRetVoid(g->b);
  free(args);
}

static void cg_const_global(cg *g, const char *name, LLVMValueRef init, unsigned align) {
  LLVMValueRef gv = LLVMAddGlobal(g->m, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetAlignment(gv, align);
}

static void cg_kernel(cg *g, const kir_kernel *k) {
  char sym[256];
  cg_symbol(sym, sizeof sym, g->p->model, k->name);
  bool *used = calloc((size_t)g->p->nbufs + 1, sizeof *used);
  int nused = cg_used(g->p, k, used);
  LLVMValueRef body = cg_body(g, k, used, nused, sym, false);
  LLVMValueRef par = cg_worth_threads(g, k) ? cg_body(g, k, used, nused, sym, true) : NULL;
  cg_entry(g, body, par, used, nused, sym);
  if (par) {   /* the runtime runs this kernel on its team; the others on one thread */
    char name[300];
    snprintf(name, sizeof name, "%.250s_threaded", sym);
    cg_const_global(g, name, LLVMConstInt(LLVMInt32TypeInContext(g->cx), 1, 0), 4);
  }
  free(used);
}

/* ---- globals ----------------------------------------------------------------------- */


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
  /* the kernels accept a vle_team as ctx (docs/abi.md "Threads"): a runtime runs a model
   * without this symbol (built before threads) on one thread */
  snprintf(name, sizeof name, "vle_%s_threads", g->p->model);
  cg_const_global(g, name, LLVMConstInt(LLVMInt32TypeInContext(g->cx), 1, 0), 4);
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
  cg g = {.cx = cx, .p = p, .o = o, .fmf = cg_fmf(o->fp), .vw = kir_dot_lanes(o->f32)};
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
