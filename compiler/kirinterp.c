/* kirinterp.c - the reference interpreter of kernel IR (kir_run in kir.h).
 *
 * Obviously correct rather than fast: one function per statement kind, loops written the
 * way docs/backend.md describes them. It also fixes the *order* of every floating-point
 * operation (summation order, where accumulate adds, how x^n is expanded) so that the
 * generated code, which mirrors it, agrees with it bit for bit in strict FP mode.
 */
#include "fn_math.h"
#include "kir.h"
#include "mathfn.h"

#include <math.h>

/* Where a statement's expression is evaluated: batch element b, row r, column c, and rc,
 * the destination's flat element index (r * cols + c; the reduced index i for VREDUCE). */
typedef struct ki_at {
  int64_t b;
  long r, c, rc;
} ki_at;

typedef struct ki_ctx {
  const kir_program *p;
  double *const *bufs;
} ki_ctx;

/* Start of batch element b of buffer id (shared buffers ignore b). */
static double *ki_base(const ki_ctx *x, int id, int64_t b) {
  const kir_buf *buf = &x->p->bufs[id];
  return x->bufs[id] + (buf->batched ? b * kir_size(buf) : 0);
}

static double ki_load(const ki_ctx *x, const kir_expr *e, ki_at at) {
  long i = e->idx == KI_RC ? at.rc : e->idx == KI_R ? at.r : e->idx == KI_C ? at.c : 0;
  return ki_base(x, e->buf, at.b)[i];
}

/* x^n for a small integer n by repeated multiplication from the left: ((x*x)*x)*... */
static double ki_powi(double x, long n) {
  long m = n < 0 ? -n : n;
  double r = 1.0;
  if (m > 0) r = x;
  for (long k = 1; k < m; k++) r = r * x;
  return n < 0 ? 1.0 / r : r;
}

/* The exponents expanded inline (must match cg_pow in llvm.c). */
bool kir_pow_is_small_int(double y) {
  return y == floor(y) && fabs(y) <= 16;
}

static double ki_pow(double x, const kir_expr *ye, double y) {
  if (ye->op == KE_CONST && kir_pow_is_small_int(y)) return ki_powi(x, (long)y);
  if (ye->op == KE_CONST && y == 0.5) return sqrt(x);
  if (ye->op == KE_CONST && y == -0.5) return 1.0 / sqrt(x);
  return pow(x, y);
}

static double ki_eval(const ki_ctx *x, const kir_expr *e, ki_at at) {
  switch (e->op) {
  case KE_CONST: return e->num;
  case KE_LOAD: return ki_load(x, e, at);
  case KE_NEG: return -ki_eval(x, e->a[0], at);
  case KE_FN: return fm_interp(e->fn, ki_eval(x, e->a[0], at));   /* fn_math.c */
  default: break;
  }
  double a = ki_eval(x, e->a[0], at), b = ki_eval(x, e->a[1], at);
  switch (e->op) {
  case KE_ADD: return a + b;
  case KE_SUB: return a - b;
  case KE_MUL: return a * b;
  case KE_DIV: return a / b;
  case KE_POW: return ki_pow(a, e->a[1], b);
  case KE_MAX: return fmax(a, b);
  default: return NAN;
  }
}

/* dst[b?, r, c] (+)= expr */
static void ki_map(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  const kir_buf *d = &x->p->bufs[s->dst];
  int64_t nb = d->batched ? batch : 1;
  for (int64_t b = 0; b < nb; b++) {
    double *dst = ki_base(x, s->dst, b);
    for (long r = 0; r < d->rows; r++)
      for (long c = 0; c < d->cols; c++) {
        long rc = r * d->cols + c;
        double v = ki_eval(x, s->expr, (ki_at){b, r, c, rc});
        dst[rc] = s->accumulate ? dst[rc] + v : v;
      }
  }
}

/* The interpreter's dot lanes (it computes in double; f32 code uses 8, which the tests
 * allow for with their f32 tolerance). */
enum { KI_LANES = KIR_DOT_BYTES / sizeof(double) };

/* Combines the lanes by halving: lane[j] += lane[j + w], w = L/2 ... 1 (kir.h). */
static double ki_halve(double *lane) {
  for (int w = KI_LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) lane[j] = lane[j] + lane[j + w];
  return lane[0];
}

/* sum_c a[c] b[c] in the order of kir.h: interleaved partial sums of fused multiply-adds
 * over runs of L columns, the last run padded with zeros (fma(0, 0, lane)), then the lanes
 * combined by halving. */
static double ki_dot(const double *a, const double *b, long n) {
  enum { L = KI_LANES };
  double lane[L] = {0};
  for (long c = 0; c < n; c += L)
    for (int j = 0; j < L; j++) {
      bool in = c + j < n;
      lane[j] = fma(in ? a[c + j] : 0.0, in ? b[c + j] : 0.0, lane[j]);
    }
  return ki_halve(lane);
}

/* dst[b, r] (+)= sum_c M[r, c] src[b, c]: a dot product per row (ki_dot), then added to
 * dst. */
static void ki_matvec_rows(const ki_ctx *x, const kir_stmt *s, int64_t b) {
  const kir_buf *m = &x->p->bufs[s->mat];
  const double *M = x->bufs[s->mat], *src = ki_base(x, s->src, b);
  double *dst = ki_base(x, s->dst, b);
  for (long r = 0; r < m->rows; r++) {
    double acc = ki_dot(M + r * m->cols, src, m->cols);
    dst[r] = s->accumulate ? dst[r] + acc : acc;
  }
}

/* dst[b, c] (+)= sum_r M[r, c] src[b, r]: axpy of each row of M into dst (which is zeroed
 * first unless accumulating), rows in order: row-major friendly. */
static void ki_matvec_trans(const ki_ctx *x, const kir_stmt *s, int64_t b) {
  const kir_buf *m = &x->p->bufs[s->mat];
  const double *M = x->bufs[s->mat], *src = ki_base(x, s->src, b);
  double *dst = ki_base(x, s->dst, b);
  if (!s->accumulate)
    for (long c = 0; c < m->cols; c++) dst[c] = 0.0;
  for (long r = 0; r < m->rows; r++) {
    double a = src[r];
    for (long c = 0; c < m->cols; c++) dst[c] = fma(M[r * m->cols + c], a, dst[c]);
  }
}

static void ki_matvec(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  int64_t nb = x->p->bufs[s->dst].batched ? batch : 1;
  for (int64_t b = 0; b < nb; b++) {
    if (s->trans) ki_matvec_trans(x, s, b);
    else ki_matvec_rows(x, s, b);
  }
}

/* dst[r, c] = s * sum_b expr, or += without mean: the batch loop outside, summing straight
 * into dst. The first batch element stores (unless accumulating) and the last one scales by
 * 1/batch, so the whole reduction is a single pass over dst per batch element (for batch 1:
 * dst = expr * 1.0, one pass). */
static void ki_breduce_direct(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  const kir_buf *d = &x->p->bufs[s->dst];
  double *dst = x->bufs[s->dst], sc = 1.0 / (double)batch;
  for (int64_t b = 0; b < batch; b++)
    for (long r = 0; r < d->rows; r++)
      for (long c = 0; c < d->cols; c++) {
        long rc = r * d->cols + c;
        double v = ki_eval(x, s->expr, (ki_at){b, r, c, rc});
        double t = b == 0 && !s->accumulate ? v : dst[rc] + v;
        dst[rc] = s->mean && b == batch - 1 ? t * sc : t;
      }
}

/* dst[r, c] += (1/batch) * sum_b expr: the batch sum per element, then added. */
static void ki_breduce_accmean(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  const kir_buf *d = &x->p->bufs[s->dst];
  double *dst = x->bufs[s->dst], sc = 1.0 / (double)batch;
  for (long r = 0; r < d->rows; r++)
    for (long c = 0; c < d->cols; c++) {
      long rc = r * d->cols + c;
      double acc = 0.0;
      for (int64_t b = 0; b < batch; b++) acc = acc + ki_eval(x, s->expr, (ki_at){b, r, c, rc});
      dst[rc] = dst[rc] + acc * sc;
    }
}

static void ki_breduce(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  if (s->accumulate && s->mean) ki_breduce_accmean(x, s, batch);
  else ki_breduce_direct(x, s, batch);
}

/* dst[b] (+)= sum_i expr(b, i) in the lanes of ki_dot (kir.h), or max in order
 * (accumulate: max with dst). */
static void ki_vreduce(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  int64_t nb = x->p->bufs[s->dst].batched ? batch : 1;
  for (int64_t b = 0; b < nb; b++) {
    double acc = -INFINITY, lane[KI_LANES] = {0};
    for (long i = 0; i < s->n; i++) {
      double v = ki_eval(x, s->expr, (ki_at){b, i, 0, i});
      if (s->is_max) acc = fmax(acc, v);
      else lane[i % KI_LANES] += v;
    }
    if (!s->is_max) acc = ki_halve(lane);
    double *dst = ki_base(x, s->dst, b);
    if (s->accumulate) acc = s->is_max ? fmax(dst[0], acc) : dst[0] + acc;
    dst[0] = acc;
  }
}

/* The sweep of kir.h, row by row: the forward dot and the back-projection axpy with the
 * old row, then the update of the row, batch elements in order. */
static void ki_sweep(const ki_ctx *x, const kir_stmt *s, int64_t batch) {
  const kir_buf *m = &x->p->bufs[s->mat];
  double *M = x->bufs[s->mat], inv = 1.0 / (double)batch;
  double cmul = s->row >= 0 ? x->bufs[s->scale][0] * inv : 0.0;
  if (s->row >= 0 && s->work >= 0)
    for (int64_t b = 0; b < batch; b++)
      for (long r = 0; r < m->rows; r++)
        x->bufs[s->work][kir_work_at(r, b, batch)] = cmul * ki_base(x, s->row, b)[r];
  if (s->dst2 >= 0)
    for (int64_t b = 0; b < batch; b++)
      for (long c = 0; c < m->cols; c++) ki_base(x, s->dst2, b)[c] = 0.0;
  for (long r = 0; r < m->rows; r++) {
    double *row = M + r * m->cols;
    for (int64_t b = 0; b < batch; b++) {
      const double *src = ki_base(x, s->src, b);
      if (s->dst >= 0) ki_base(x, s->dst, b)[r] = ki_dot(row, src, m->cols);
      if (s->dst2 >= 0) {
        double a = ki_base(x, s->src2, b)[r], *d2 = ki_base(x, s->dst2, b);
        for (long c = 0; c < m->cols; c++) d2[c] = fma(row[c], a, d2[c]);
      }
    }
    if (s->row < 0) continue;
    for (int64_t b = 0; b < batch; b++) {
      const double *src = ki_base(x, s->src, b);
      double k = cmul * ki_base(x, s->row, b)[r];
      for (long c = 0; c < m->cols; c++) row[c] = fma(k, src[c], row[c]);
    }
  }
}

void kir_run(const kir_program *p, const kir_kernel *k, double *const *bufs, int64_t batch) {
  ki_ctx x = {p, bufs};
  for (int i = 0; i < k->nstmts; i++) {
    const kir_stmt *s = &k->stmts[i];
    switch (s->op) {
    case KS_MAP: ki_map(&x, s, batch); break;
    case KS_MATVEC: ki_matvec(&x, s, batch); break;
    case KS_BREDUCE: ki_breduce(&x, s, batch); break;
    case KS_VREDUCE: ki_vreduce(&x, s, batch); break;
    case KS_SWEEP: ki_sweep(&x, s, batch); break;
    }
  }
}
