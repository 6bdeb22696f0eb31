/* jit.c - ORC LLJIT, C API only (see jit.h).
 *
 * Layout of one jit_module:
 *   LLJIT (its own ExecutionSession, target machine from cg_target_machine)
 *     JITDylib "vle" (bare: its link order is itself only)
 *       - absolute symbols: jit_rt[], the functions generated code may call
 *       - the optimised module
 * LLJIT's main JITDylib is not used: since LLVM 17 it links a "process symbols" dylib that
 * would resolve anything the process exports, which is exactly what we want to rule out.
 * Lookups go through ExecutionSession lookup on the bare dylib.
 */
#include "jit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

/* GNU extensions LLVM may emit (sin+cos of one value -> sincos); declared here so that we
 * need not define _GNU_SOURCE for the whole file. */
extern void sincos(double x, double *s, double *c);
extern void sincosf(float x, float *s, float *c);

/* What generated code may call. LLVM lowers llvm.exp/log/sin/cos/pow to these libm calls
 * (sqrt, fabs, maxnum become instructions but may stay calls on some targets), and loop
 * idiom recognition turns zeroing/copy loops into memset/memcpy. The (void (*)(void)) cast
 * is the one function-pointer cast C allows without a -Wcast-function-type warning. */
#define JIT_RT(f) {#f, (void (*)(void))f}
static const struct {
  const char *name;
  void (*fn)(void);
} jit_rt[] = {
  JIT_RT(tanh), JIT_RT(exp), JIT_RT(exp2), JIT_RT(expm1), JIT_RT(log), JIT_RT(log2),
  JIT_RT(log10), JIT_RT(log1p), JIT_RT(sin), JIT_RT(cos), JIT_RT(sincos), JIT_RT(tan),
  JIT_RT(sqrt), JIT_RT(pow), JIT_RT(fabs), JIT_RT(fmax), JIT_RT(fmin), JIT_RT(ldexp),
  JIT_RT(floor), JIT_RT(ceil), JIT_RT(fma), JIT_RT(copysign), JIT_RT(erf),
  JIT_RT(tanhf), JIT_RT(expf), JIT_RT(exp2f), JIT_RT(expm1f), JIT_RT(logf), JIT_RT(log2f),
  JIT_RT(log10f), JIT_RT(log1pf), JIT_RT(sinf), JIT_RT(cosf), JIT_RT(sincosf), JIT_RT(tanf),
  JIT_RT(sqrtf), JIT_RT(powf), JIT_RT(fabsf), JIT_RT(fmaxf), JIT_RT(fminf), JIT_RT(ldexpf),
  JIT_RT(floorf), JIT_RT(ceilf), JIT_RT(fmaf), JIT_RT(copysignf), JIT_RT(erff),
  JIT_RT(memset), JIT_RT(memcpy), JIT_RT(memmove),
};
#undef JIT_RT

enum { JIT_NRT = (int)(sizeof jit_rt / sizeof *jit_rt) };

int jit_runtime_count(void) { return JIT_NRT; }
const char *jit_runtime_name(int i) { return i >= 0 && i < JIT_NRT ? jit_rt[i].name : NULL; }

struct jit_module {
  LLVMOrcLLJITRef jit;
  LLVMOrcExecutionSessionRef es;
  LLVMOrcJITDylibRef jd;
  char *model;
  char session_err[512];     /* last error the session reported asynchronously */
};

/* Copies an LLVM error's message into err and consumes the error. */
static void jit_error(LLVMErrorRef e, const char *what, char *err, size_t errlen) {
  char *msg = LLVMGetErrorMessage(e);
  cg_seterr(err, errlen, "%s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
}

/* The session reports errors it cannot return to anyone (e.g. a failed materialisation);
 * keep the last one for jit_compile's message instead of printing it. */
static void jit_report(void *ctx, LLVMErrorRef e) {
  jit_module *m = ctx;
  jit_error(e, "JIT", m->session_err, sizeof m->session_err);
}

/* Defines jit_rt[] in the dylib as absolute symbols. */
static LLVMErrorRef jit_define_runtime(jit_module *m) {
  LLVMOrcCSymbolMapPair syms[JIT_NRT];
  for (int i = 0; i < JIT_NRT; i++) {
    syms[i].Name = LLVMOrcLLJITMangleAndIntern(m->jit, jit_rt[i].name);
    syms[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)jit_rt[i].fn;
    syms[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported
                                   | LLVMJITSymbolGenericFlagsCallable;
    syms[i].Sym.Flags.TargetFlags = 0;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, JIT_NRT);
  LLVMErrorRef e = LLVMOrcJITDylibDefine(m->jd, mu);
  if (e) LLVMOrcDisposeMaterializationUnit(mu);
  return e;
}

/* ---- synchronous lookup on top of the asynchronous ExecutionSession lookup ---------- */

/* The session may answer on another thread (its task dispatcher may be a thread pool), so
 * the answer is handed over under a mutex. */
typedef struct jit_answer {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  LLVMOrcExecutorAddress addr;
  char err[512];
} jit_answer;

static void jit_answered(LLVMErrorRef e, LLVMOrcCSymbolMapPairs res, size_t n, void *ctx) {
  jit_answer *a = ctx;
  pthread_mutex_lock(&a->mu);
  if (e) jit_error(e, "lookup", a->err, sizeof a->err);
  else if (n > 0) a->addr = res[0].Sym.Address;
  a->done = true;
  pthread_cond_signal(&a->cv);
  pthread_mutex_unlock(&a->mu);
}

/* Looks symbol up in the module's dylib only; 0 if absent (reason in err). */
static LLVMOrcExecutorAddress jit_find(jit_module *m, const char *symbol, char *err,
                                       size_t errlen) {
  jit_answer a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  LLVMOrcCJITDylibSearchOrderElement order[1] = {
    {m->jd, LLVMOrcJITDylibLookupFlagsMatchExportedSymbolsOnly}};
  /* The lookup takes over the reference MangleAndIntern gives us. */
  LLVMOrcCLookupSetElement set[1] = {
    {LLVMOrcLLJITMangleAndIntern(m->jit, symbol), LLVMOrcSymbolLookupFlagsRequiredSymbol}};
  LLVMOrcExecutionSessionLookup(m->es, LLVMOrcLookupKindStatic, order, 1, set, 1,
                                jit_answered, &a);
  pthread_mutex_lock(&a.mu);
  while (!a.done) pthread_cond_wait(&a.cv, &a.mu);
  pthread_mutex_unlock(&a.mu);
  pthread_mutex_destroy(&a.mu);
  pthread_cond_destroy(&a.cv);
  if (!a.addr) cg_seterr(err, errlen, "%s", a.err[0] ? a.err : "symbol not found");
  return a.addr;
}

void *jit_lookup(jit_module *m, const char *symbol) {
  return (void *)(uintptr_t)jit_find(m, symbol, NULL, 0);
}

kir_kernel_fn jit_kernel(jit_module *m, const char *kernel) {
  char sym[256];
  void *p = jit_lookup(m, cg_symbol(sym, sizeof sym, m->model, kernel));
  kir_kernel_fn f;
  memcpy(&f, &p, sizeof f);   /* object -> function pointer, without a cast warning */
  return p ? f : NULL;
}

/* ---- building ---------------------------------------------------------------------- */

/* A new LLJIT whose code generator is a host target machine as cg_target_machine makes it
 * (the same CPU and features the IR was optimised for). */
static bool jit_create(jit_module *m, const cg_options *o, char *err, size_t errlen) {
  LLVMTargetMachineRef tm = cg_target_machine(o, false, err, errlen);
  if (!tm) return false;
  LLVMOrcLLJITBuilderRef b = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
      b, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));   /* takes tm */
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&m->jit, b);                     /* takes b */
  if (!e) {
    m->es = LLVMOrcLLJITGetExecutionSession(m->jit);
    LLVMOrcExecutionSessionSetErrorReporter(m->es, jit_report, m);
    m->jd = LLVMOrcExecutionSessionCreateBareJITDylib(m->es, "vle");
    e = jit_define_runtime(m);
  }
  if (e) jit_error(e, "creating the JIT", err, errlen);
  return !e;
}

/* Generates and optimises the module in a new thread-safe context and adds it. */
static bool jit_add(jit_module *m, const kir_program *p, const cg_options *o, char *err,
                    size_t errlen) {
  LLVMTargetMachineRef tm = cg_target_machine(o, false, err, errlen);
  if (!tm) return false;
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMModuleRef mod = cg_compile(LLVMOrcThreadSafeContextGetContext(tsc), p, o, tm, err, errlen);
  LLVMDisposeTargetMachine(tm);
  if (!mod) {
    LLVMOrcDisposeThreadSafeContext(tsc);
    return false;
  }
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
  LLVMOrcDisposeThreadSafeContext(tsc);   /* the module keeps the context alive */
  LLVMErrorRef e = LLVMOrcLLJITAddLLVMIRModule(m->jit, m->jd, tsm);
  if (e) {
    LLVMOrcDisposeThreadSafeModule(tsm);
    jit_error(e, "adding the module to the JIT", err, errlen);
    return false;
  }
  return true;
}

jit_module *jit_compile(const kir_program *p, const cg_options *o, char *err, size_t errlen) {
  jit_module *m = calloc(1, sizeof *m);
  m->model = strdup(p->model);
  if (!jit_create(m, o, err, errlen) || !jit_add(m, p, o, err, errlen)) {
    jit_free(m);
    return NULL;
  }
  /* The module is one materialisation unit: asking for one symbol compiles all of it. */
  if (!jit_find(m, "vle_model_name", err, errlen)) {
    if (m->session_err[0]) cg_seterr(err, errlen, "%s", m->session_err);
    jit_free(m);
    return NULL;
  }
  return m;
}

void jit_free(jit_module *m) {
  if (!m) return;
  if (m->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(m->jit);
    if (e) LLVMConsumeError(e);
  }
  free(m->model);
  free(m);
}
