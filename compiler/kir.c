/* kir.c - building, checking and printing kernel IR (see kir.h).
 *
 * Everything lives in the program's arena. Growable arrays (buffers, statements, kernels)
 * are reallocated in the arena by doubling; the old storage is abandoned, which is why a
 * kir_stmt pointer returned by kir_emit() is only valid until the next kir_emit() on the
 * same kernel (kernel and expression pointers are stable).
 */
#include "kir.h"
#include "vocab.h"
#include "fn_math.h"

#include <ctype.h>
#include <string.h>

/* ---- building ---------------------------------------------------------------------- */

kir_program *kir_new(vl_arena *a, const char *model) {
  kir_program *p = AR_NEW(a, kir_program);
  p->arena = a;
  p->model = ar_strdup(a, model);
  return p;
}

/* Grows an arena array of `size`-byte elements so that one more fits. */
int kir_buffer(kir_program *p, const char *name, kir_role role, long rows, long cols,
               bool batched) {
  p->bufs = ar_grow(p->arena, p->bufs, p->nbufs, &p->bufcap, sizeof(kir_buf));
  kir_buf *b = &p->bufs[p->nbufs];
  *b = (kir_buf){.id = p->nbufs, .name = ar_strdup(p->arena, name), .role = role,
                 .rows = rows, .cols = cols, .batched = batched, .pair = -1};
  return p->nbufs++;
}

int kir_find(const kir_program *p, const char *name) {
  for (int i = 0; i < p->nbufs; i++)
    if (strcmp(p->bufs[i].name, name) == 0) return i;
  return -1;
}

kir_kernel *kir_kernel_new(kir_program *p, const char *name) {
  kir_kernel *k = AR_NEW(p->arena, kir_kernel);
  k->name = ar_strdup(p->arena, name);
  p->kernels = ar_grow(p->arena, p->kernels, p->nkernels, &p->kcap, sizeof(kir_kernel *));
  p->kernels[p->nkernels++] = k;
  return k;
}

kir_kernel *kir_kernel_find(const kir_program *p, const char *name) {
  for (int i = 0; i < p->nkernels; i++)
    if (strcmp(p->kernels[i]->name, name) == 0) return p->kernels[i];
  return NULL;
}

kir_stmt *kir_emit(kir_program *p, kir_kernel *k, kir_sop op, int dst) {
  k->stmts = ar_grow(p->arena, k->stmts, k->nstmts, &k->cap, sizeof(kir_stmt));
  kir_stmt *s = &k->stmts[k->nstmts++];
  *s = (kir_stmt){.op = op, .dst = dst, .mat = -1, .src = -1, .src2 = -1, .dst2 = -1,
                  .row = -1, .scale = -1, .work = -1};
  return s;
}

static kir_expr *kir_node(kir_program *p, kir_eop op) {
  kir_expr *e = AR_NEW(p->arena, kir_expr);
  e->op = op;
  e->buf = -1;
  return e;
}

kir_expr *kir_const(kir_program *p, double v) {
  kir_expr *e = kir_node(p, KE_CONST);
  e->num = v;
  return e;
}

kir_expr *kir_load(kir_program *p, int buf, kir_idx idx) {
  kir_expr *e = kir_node(p, KE_LOAD);
  e->buf = buf;
  e->idx = idx;
  return e;
}

kir_expr *kir_op2(kir_program *p, kir_eop op, kir_expr *a, kir_expr *b) {
  kir_expr *e = kir_node(p, op);
  e->a[0] = a;
  e->a[1] = b;
  return e;
}

kir_expr *kir_op1(kir_program *p, kir_eop op, kir_expr *a) {
  kir_expr *e = kir_node(p, op);
  e->a[0] = a;
  return e;
}

kir_expr *kir_fn(kir_program *p, ex_fn fn, kir_expr *a) {
  kir_expr *e = kir_node(p, KE_FN);
  e->fn = fn;
  e->a[0] = a;
  return e;
}

/* ---- names ------------------------------------------------------------------------- */

const char *kir_role_name(kir_role r) { return vv_role_name((int)r); }

const char *kir_fn_name(ex_fn f) { return fm_name(f, EXP_PLAIN); }

long kir_size(const kir_buf *b) { return b->rows * b->cols; }

bool kir_ident(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
  return true;
}

/* ---- verification ------------------------------------------------------------------ */

/* What a statement's expression may read: the extent of each index, and whether the loop
 * nest has a batch index. A length of 0 means the index does not exist in this nest. */
typedef struct kv_ctx {
  const kir_program *p;
  FILE *err;
  const char *where;      /* "kernel K, statement I" */
  long nrc, nr, nc;       /* sizes KI_RC, KI_R, KI_C loads must have */
  bool batch;             /* loads of batched buffers allowed */
  int dst;                /* the statement's destination */
  bool dst_rc_only;       /* the destination may only be read at its own element */
  int nerr;
} kv_ctx;

static void kv_fail(kv_ctx *v, const char *what) {
  if (v->err) fprintf(v->err, "kir: %s: %s\n", v->where, what);
  v->nerr++;
}

static bool kv_bufok(kv_ctx *v, int id) {
  if (id >= 0 && id < v->p->nbufs) return true;
  kv_fail(v, "buffer index out of range");
  return false;
}

static void kv_load(kv_ctx *v, const kir_expr *e) {
  if (!kv_bufok(v, e->buf)) return;
  const kir_buf *b = &v->p->bufs[e->buf];
  long size = kir_size(b);
  long want = e->idx == KI_RC ? v->nrc : e->idx == KI_R ? v->nr : e->idx == KI_C ? v->nc : 1;
  if ((unsigned)e->idx > KI_0) kv_fail(v, "bad index mode");
  else if (want == 0) kv_fail(v, "index mode not available in this statement");
  else if (size != want) kv_fail(v, "load size does not match its index mode");
  if (b->batched && !v->batch) kv_fail(v, "batched load in a statement without batch loop");
  if (e->buf == v->dst && (!v->dst_rc_only || (e->idx != KI_RC && size > 1)))
    kv_fail(v, "destination read other than at its own element");
}

static void kv_expr(kv_ctx *v, const kir_expr *e) {
  if (!e) { kv_fail(v, "missing expression"); return; }
  switch (e->op) {
  case KE_CONST: return;
  case KE_LOAD: kv_load(v, e); return;
  case KE_FN:
    if ((unsigned)e->fn >= F_COUNT) kv_fail(v, "bad function");
    /* fallthrough */
  case KE_NEG: kv_expr(v, e->a[0]); return;
  case KE_ADD: case KE_SUB: case KE_MUL: case KE_DIV: case KE_POW: case KE_MAX:
    kv_expr(v, e->a[0]);
    kv_expr(v, e->a[1]);
    return;
  }
  kv_fail(v, "bad expression operator");
}

static void kv_map(kv_ctx *v, const kir_stmt *s, const kir_buf *d) {
  v->nrc = kir_size(d);
  v->nr = d->rows;
  v->nc = d->cols;
  v->batch = d->batched;
  v->dst_rc_only = true;   /* elementwise: each element reads only itself */
  kv_expr(v, s->expr);
}

static void kv_matvec(kv_ctx *v, const kir_stmt *s, const kir_buf *d) {
  if (!kv_bufok(v, s->mat) || !kv_bufok(v, s->src)) return;
  const kir_buf *m = &v->p->bufs[s->mat], *x = &v->p->bufs[s->src];
  long in = s->trans ? m->rows : m->cols, out = s->trans ? m->cols : m->rows;
  if (m->batched) kv_fail(v, "matvec matrix must be shared");
  if (kir_size(x) != in) kv_fail(v, "matvec source size does not match the matrix");
  if (kir_size(d) != out) kv_fail(v, "matvec destination size does not match the matrix");
  if (x->batched && !d->batched) kv_fail(v, "batched matvec source into a shared destination");
  if (s->dst == s->src || s->dst == s->mat) kv_fail(v, "matvec destination aliases an operand");
}

static void kv_breduce(kv_ctx *v, const kir_stmt *s, const kir_buf *d) {
  if (d->batched) kv_fail(v, "breduce destination must be shared");
  v->nrc = kir_size(d);
  v->nr = d->rows;
  v->nc = d->cols;
  v->batch = true;
  v->dst_rc_only = false;  /* the destination is written across the batch loop */
  kv_expr(v, s->expr);
}

static void kv_vreduce(kv_ctx *v, const kir_stmt *s, const kir_buf *d) {
  if (kir_size(d) != 1) kv_fail(v, "vreduce destination must be a scalar");
  if (s->n < 1) kv_fail(v, "vreduce length must be positive");
  v->nrc = v->nr = s->n;
  v->nc = 0;
  v->batch = d->batched;
  v->dst_rc_only = false;
  kv_expr(v, s->expr);
}

/* A sweep: every present part sized to the matrix, vectors batched, nothing aliased. */
static void kv_sweep(kv_ctx *v, const kir_stmt *s) {
  if (!kv_bufok(v, s->mat) || !kv_bufok(v, s->src)) return;
  const kir_buf *m = &v->p->bufs[s->mat];
  int ids[6] = { s->dst, s->src2, s->dst2, s->row, s->work, s->scale };
  long want[6] = { m->rows, m->rows, m->cols, m->rows, kir_work_rows(m->rows), 1 };
  if (m->batched) kv_fail(v, "sweep matrix must be shared");
  if (kir_size(&v->p->bufs[s->src]) != m->cols) kv_fail(v, "sweep source size");
  if ((s->src2 < 0) != (s->dst2 < 0) || (s->row < 0) != (s->scale < 0))
    kv_fail(v, "sweep parts come in pairs");
  if (s->work >= 0 && (s->work == s->dst || s->work == s->dst2 || s->work == s->row ||
                       s->work == s->src2))
    kv_fail(v, "sweep work buffer aliases an operand");
  for (int i = 0; i < 6; i++) {
    if (ids[i] < 0) continue;
    if (!kv_bufok(v, ids[i])) return;
    const kir_buf *b = &v->p->bufs[ids[i]];
    if (kir_size(b) != want[i]) kv_fail(v, "sweep operand size does not match the matrix");
    if (i < 5 && !b->batched) kv_fail(v, "sweep vectors must be batched");
    if (ids[i] == s->mat || (i != 1 && i != 3 && ids[i] == s->src))
      kv_fail(v, "sweep operands alias");
  }
}

static void kv_stmt(kv_ctx *v, const kir_stmt *s) {
  if (s->op == KS_SWEEP) { v->dst = s->dst; kv_sweep(v, s); return; }
  if (!kv_bufok(v, s->dst)) return;
  const kir_buf *d = &v->p->bufs[s->dst];
  v->dst = s->dst;
  switch (s->op) {
  case KS_MAP: kv_map(v, s, d); return;
  case KS_MATVEC: kv_matvec(v, s, d); return;
  case KS_BREDUCE: kv_breduce(v, s, d); return;
  case KS_VREDUCE: kv_vreduce(v, s, d); return;
  case KS_SWEEP: return;   /* handled above */
  }
  kv_fail(v, "bad statement operator");
}

static int kv_buffers(const kir_program *p, FILE *err) {
  int nerr = 0;
  for (int i = 0; i < p->nbufs; i++) {
    const kir_buf *b = &p->bufs[i];
    const char *why = NULL;
    if (b->id != i) why = "id does not match its position";
    else if (b->rows < 1 || b->cols < 1) why = "empty shape";
    else if (b->pair < -1 || b->pair >= p->nbufs) why = "pair out of range";
    else if (!b->name || kir_find(p, b->name) != i) why = "missing or duplicate name";
    if (why) {
      if (err) fprintf(err, "kir: buffer %d (%s): %s\n", i, b->name ? b->name : "?", why);
      nerr++;
    }
  }
  return nerr;
}

bool kir_verify(const kir_program *p, FILE *err) {
  int nerr = kv_buffers(p, err);
  if (!kir_ident(p->model)) {
    if (err) fprintf(err, "kir: model name '%s' is not an identifier\n", p->model);
    nerr++;
  }
  for (int k = 0; k < p->nkernels; k++) {
    const kir_kernel *kk = p->kernels[k];
    if (!kir_ident(kk->name) || kir_kernel_find(p, kk->name) != kk) {
      if (err) fprintf(err, "kir: kernel '%s': bad or duplicate name\n", kk->name);
      nerr++;
    }
    for (int i = 0; i < kk->nstmts; i++) {
      char where[160];
      snprintf(where, sizeof where, "kernel %s, statement %d", kk->name, i);
      kv_ctx v = {.p = p, .err = err, .where = where};
      kv_stmt(&v, &kk->stmts[i]);
      nerr += v.nerr;
    }
  }
  return nerr == 0;
}

/* ---- printing ---------------------------------------------------------------------- */

static const char *kd_name(const kir_program *p, int id) {
  return id >= 0 && id < p->nbufs ? p->bufs[id].name : "?";
}

static void kd_expr(FILE *out, const kir_program *p, const kir_expr *e) {
  static const char *const ops = "???+-*/^";   /* by kir_eop */
  switch (e->op) {
  case KE_CONST: fprintf(out, "%.17g", e->num); return;
  case KE_LOAD: {
    static const char *const sfx[] = {"", "[r]", "[c]", "[0]"};
    fprintf(out, "%s%s", kd_name(p, e->buf), (unsigned)e->idx <= KI_0 ? sfx[e->idx] : "[?]");
    return;
  }
  case KE_NEG: fputs("-(", out); kd_expr(out, p, e->a[0]); fputc(')', out); return;
  case KE_FN:
    fprintf(out, "%s(", kir_fn_name(e->fn));
    kd_expr(out, p, e->a[0]);
    fputc(')', out);
    return;
  case KE_MAX:
    fputs("max(", out);
    kd_expr(out, p, e->a[0]);
    fputs(", ", out);
    kd_expr(out, p, e->a[1]);
    fputc(')', out);
    return;
  default:
    fputc('(', out);
    kd_expr(out, p, e->a[0]);
    fprintf(out, " %c ", ops[e->op]);
    kd_expr(out, p, e->a[1]);
    fputc(')', out);
    return;
  }
}

static void kd_sweep(FILE *out, const kir_program *p, const kir_stmt *s) {
  fprintf(out, "    sweep %s:", kd_name(p, s->mat));
  if (s->dst >= 0) fprintf(out, " %s = %s @ %s;", kd_name(p, s->dst), kd_name(p, s->mat),
                           kd_name(p, s->src));
  if (s->dst2 >= 0) fprintf(out, " %s = %s^T @ %s;", kd_name(p, s->dst2), kd_name(p, s->mat),
                            kd_name(p, s->src2));
  if (s->row >= 0) fprintf(out, " %s += %s[0] mean_b %s %s^T", kd_name(p, s->mat),
                           kd_name(p, s->scale), kd_name(p, s->row), kd_name(p, s->src));
  if (s->row >= 0 && s->work >= 0) fprintf(out, " (coefficients in %s)", kd_name(p, s->work));
  if (s->comment) fprintf(out, "    # %s", s->comment);
  fputc('\n', out);
}

static void kd_stmt(FILE *out, const kir_program *p, const kir_stmt *s) {
  if (s->op == KS_SWEEP) { kd_sweep(out, p, s); return; }
  const char *as = s->accumulate ? "+=" : "=";
  fprintf(out, "    %s %s ", kd_name(p, s->dst), as);
  switch (s->op) {
  case KS_MAP: kd_expr(out, p, s->expr); break;
  case KS_MATVEC:
    fprintf(out, "%s%s @ %s", kd_name(p, s->mat), s->trans ? "^T" : "", kd_name(p, s->src));
    break;
  case KS_BREDUCE:
    fputs(s->mean ? "mean_b " : "sum_b ", out);
    kd_expr(out, p, s->expr);
    break;
  case KS_VREDUCE:
    fprintf(out, "%s_i<%ld ", s->is_max ? "max" : "sum", s->n);
    kd_expr(out, p, s->expr);
    break;
  case KS_SWEEP:
    break;
  }
  if (s->comment) fprintf(out, "    # %s", s->comment);
  fputc('\n', out);
}

void kir_dump(FILE *out, const kir_program *p) {
  fprintf(out, "kir program %s: %d buffers, %d kernels\n", p->model, p->nbufs, p->nkernels);
  for (int i = 0; i < p->nbufs; i++) {
    const kir_buf *b = &p->bufs[i];
    fprintf(out, "  buf %3d %-16s %-8s %ldx%ld%s", i, b->name, kir_role_name(b->role),
            b->rows, b->cols, b->batched ? " batched" : "");
    if (b->pair >= 0) fprintf(out, " pair=%s", kd_name(p, b->pair));
    fputc('\n', out);
  }
  for (int k = 0; k < p->nkernels; k++) {
    fprintf(out, "  kernel %s:\n", p->kernels[k]->name);
    for (int i = 0; i < p->kernels[k]->nstmts; i++) kd_stmt(out, p, &p->kernels[k]->stmts[i]);
  }
}
