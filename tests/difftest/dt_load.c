/* dt_load.c - see dt_load.h. */
#include "dt_load.h"

#include <string.h>

#include "jit.h"
#include "kir.h"

enum { DTL_SLOTS = 24 };

/* The open program and its kernels by slot: the trampolines' only way to find them. */
static struct { const kir_program *prog; const kir_kernel *kernel[DTL_SLOTS]; } dtl_bound;

#define DTL_TRAMPOLINE(i)                                                              \
  static void dtl_tr##i(const void *ctx, void *const *bufs, int64_t batch) {           \
    (void)ctx;                                                                          \
    kir_run(dtl_bound.prog, dtl_bound.kernel[i], (double *const *)bufs, batch);         \
  }
DTL_TRAMPOLINE(0) DTL_TRAMPOLINE(1) DTL_TRAMPOLINE(2) DTL_TRAMPOLINE(3) DTL_TRAMPOLINE(4)
DTL_TRAMPOLINE(5) DTL_TRAMPOLINE(6) DTL_TRAMPOLINE(7) DTL_TRAMPOLINE(8) DTL_TRAMPOLINE(9)
DTL_TRAMPOLINE(10) DTL_TRAMPOLINE(11) DTL_TRAMPOLINE(12) DTL_TRAMPOLINE(13)
DTL_TRAMPOLINE(14) DTL_TRAMPOLINE(15) DTL_TRAMPOLINE(16) DTL_TRAMPOLINE(17)
DTL_TRAMPOLINE(18) DTL_TRAMPOLINE(19) DTL_TRAMPOLINE(20) DTL_TRAMPOLINE(21)
DTL_TRAMPOLINE(22) DTL_TRAMPOLINE(23)

static kir_kernel_fn const dtl_tr[DTL_SLOTS] = {
  dtl_tr0, dtl_tr1, dtl_tr2, dtl_tr3, dtl_tr4, dtl_tr5, dtl_tr6, dtl_tr7, dtl_tr8, dtl_tr9,
  dtl_tr10, dtl_tr11, dtl_tr12, dtl_tr13, dtl_tr14, dtl_tr15, dtl_tr16, dtl_tr17, dtl_tr18,
  dtl_tr19, dtl_tr20, dtl_tr21, dtl_tr22, dtl_tr23 };

/* "vle_<model>_<kernel>" -> its trampoline; NULL for anything else (as the JIT would). */
static void *dtl_resolve(void *user, const char *symbol) {
  const kir_program *p = user;
  size_t n = strlen(p->model);
  if (strncmp(symbol, "vle_", 4) || strncmp(symbol + 4, p->model, n) || symbol[4 + n] != '_')
    return NULL;
  for (int i = 0; i < p->nkernels && i < DTL_SLOTS; i++)
    if (!strcmp(symbol + 5 + n, p->kernels[i]->name)) return (void *)dtl_tr[i];
  return NULL;
}

static void *dtl_resolve_jit(void *user, const char *symbol) { return jit_lookup(user, symbol); }

static int dtl_bind(dtl_model *m, FILE *err) {
  const kir_program *p = m->unit.prog;
  if (dtl_bound.prog || p->nkernels > DTL_SLOTS) {
    fprintf(err, "dt_load: %s\n", dtl_bound.prog ? "a model is already open" : "too many kernels");
    return 1;
  }
  dtl_bound.prog = p;
  for (int i = 0; i < p->nkernels; i++) dtl_bound.kernel[i] = p->kernels[i];
  vle_error e = { { 0 } };
  m->model = vle_model_from_symbols(p->meta, 1, dtl_resolve, (void *)p, &e);
  if (m->model) return 0;
  fprintf(err, "dt_load: %s\n", e.msg);
  dtl_bound.prog = NULL;
  return 1;
}

static int dtl_compile_jit(dtl_model *m, FILE *err) {
  char msg[1024];
  cg_options o = { .f32 = false };
  m->jit = jit_compile(m->unit.prog, &o, msg, sizeof msg);
  if (!m->jit) { fprintf(err, "dt_load: code generation failed: %s\n", msg); return 1; }
  vle_error e = { { 0 } };
  m->model = vle_model_from_symbols(m->unit.prog->meta, 1, dtl_resolve_jit, m->jit, &e);
  if (m->model) return 0;
  fprintf(err, "dt_load: %s\n", e.msg);
  return 1;
}

int dtl_open(dtl_model *m, const char *path, const char *text, bool jit, FILE *err) {
  memset(m, 0, sizeof *m);
  double t0 = pl_now_ms();
  dg_init(&m->d, err);
  pl_init(&m->unit, &m->d);
  m->open = true;
  bool ok = pl_front_text(&m->unit, path, text) && pl_derive(&m->unit) &&
            pl_lower(&m->unit, "f64");
  int rc = !ok ? 1 : jit ? dtl_compile_jit(m, err) : dtl_bind(m, err);
  m->ms_compile = pl_now_ms() - t0;
  if (rc) dtl_close(m);
  return rc;
}

void dtl_close(dtl_model *m) {
  if (!m->open) return;
  vle_model_free(m->model);
  if (dtl_bound.prog == m->unit.prog) memset(&dtl_bound, 0, sizeof dtl_bound);
  if (m->jit) jit_free(m->jit);
  pl_free(&m->unit);
  memset(m, 0, sizeof *m);
}
