/*
 * vle_state.c - vle_sim_save / vle_sim_load: the complete state of a simulation in one
 * versioned, checksummed binary file (layout in docs/runtime.md).
 *
 * The file is assembled in memory, so the checksum covers every byte before it and a load
 * can verify everything before touching the sim: a failed load leaves the sim unchanged.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "af.h"
#include "rf.h"
#include "vle_err.h"
#include "vle_internal.h"

static const char st_magic[8] = { 'V', 'L', 'E', 'S', 'T', 'A', 'T', 'E' };

/* FNV-1a, 64 bit: detects truncation and bit flips; not a cryptographic MAC. */
static uint64_t st_checksum(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* ---- a growable byte buffer for writing; a cursor for reading ------------------------- */

typedef struct st_buf { unsigned char *p; size_t n, cap; bool oom; } st_buf;

static void st_put(st_buf *b, const void *src, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 4096);
    while (cap < b->n + n) cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (!q) { b->oom = true; return; }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}
static void st_put_u64(st_buf *b, uint64_t v) { st_put(b, &v, 8); }
static void st_put_str(st_buf *b, const char *s) {
  st_put_u64(b, strlen(s));
  st_put(b, s, strlen(s));
}

typedef struct st_cur { const unsigned char *p; size_t n, pos; bool short_; } st_cur;

static const void *st_get(st_cur *c, size_t n) {
  if (c->short_ || n > c->n - c->pos) { c->short_ = true; return NULL; }
  c->pos += n;
  return c->p + c->pos - n;
}
static uint64_t st_get_u64(st_cur *c) {
  const void *q = st_get(c, 8);
  uint64_t v = 0;
  if (q) memcpy(&v, q, 8);
  return v;
}

/* ---- the layout: header, then payload (docs/runtime.md) -------------------------------- */

static void st_write_header(const vle_sim *s, st_buf *b) {
  const vle_model *m = s->m;
  uint32_t v[2] = { VLE_STATE_VERSION, (uint32_t)m->es };
  st_put(b, st_magic, 8);
  st_put(b, v, 8);
  st_put_str(b, m->name);
  st_put_str(b, m->hash);
  st_put_u64(b, (uint64_t)s->batch);
  st_put_u64(b, (uint64_t)m->nbufs);
  st_put_u64(b, (uint64_t)m->nlearn);
  st_put_u64(b, s->n_opt);
  st_put_u64(b, s->n_gsum);
  for (int i = 0; i < m->nbufs; i++) st_put_u64(b, s->count[i]);
}

static void st_write_payload(const vle_sim *s, st_buf *b) {
  const vle_sim_state *st = &s->st;
  st_put_u64(b, (uint64_t)st->step);
  st_put(b, st->rng.s, sizeof st->rng.s);
  for (int g = 0; g < s->m->nlearn; g++) st_put_u64(b, (uint64_t)st->opt_t[g]);
  for (int i = 0; i < s->m->nbufs; i++) st_put(b, st->bufs[i], s->count[i] * s->m->es);
  st_put(b, vs_opt_mem(s, st), (s->n_opt + s->n_gsum) * sizeof(double));
}

int vs_state_bytes(const vle_sim *s, unsigned char **data, size_t *n, vle_error *err) {
  st_buf b = { 0 };
  st_write_header(s, &b);
  st_write_payload(s, &b);
  st_put_u64(&b, st_checksum(b.p, b.n));
  if (b.oom) {
    free(b.p);
    return vle_fail(err, "out of memory while saving the state");
  }
  *data = b.p;
  *n = b.n;
  return 0;
}

int vle_sim_save(const vle_sim *s, const char *path, vle_error *err) {
  unsigned char *p;
  size_t n;
  vle_error e;
  if (vs_state_bytes(s, &p, &n, &e)) return vle_fail(err, "%s: %s", path, e.msg);
  af_file f;
  int rc = af_open(&f, path, err);
  if (!rc) {
    fwrite(p, 1, n, f.fp);
    rc = af_commit(&f, err);
  }
  free(p);
  return rc;
}

/* ---- loading ---------------------------------------------------------------------------- */

static int st_read_file(const char *path, unsigned char **data, size_t *n, vle_error *err) {
  FILE *fp = rf_open(path, err);
  if (!fp) return -1;
  size_t cap = 1 << 16, len = 0;
  unsigned char *p = malloc(cap);
  for (;;) {
    if (!p) { fclose(fp); return vle_fail(err, "%s: out of memory", path); }
    len += fread(p + len, 1, cap - len, fp);
    if (len < cap) break;
    unsigned char *q = realloc(p, cap *= 2);
    if (!q) free(p);
    p = q;
  }
  int bad = ferror(fp);
  fclose(fp);
  if (bad) { free(p); return vle_fail(err, "%s: read error", path); }
  *data = p;
  *n = len;
  return 0;
}

/* Magic, version, checksum: is this an intact state file this runtime can read? */
static int st_check_envelope(const char *path, const unsigned char *p, size_t n, vle_error *err) {
  uint32_t version;
  if (n < 8 || memcmp(p, st_magic, 8) != 0)
    return vle_fail(err, "%s: not a vle state file (bad magic at byte 0, expected \"VLESTATE\")", path);
  if (n < 24)
    return vle_fail(err, "%s: truncated state file (%zu bytes)", path, n);
  memcpy(&version, p + 8, 4);
  if (version != VLE_STATE_VERSION)
    return vle_fail(err, "%s: state file version %u at byte 8, this runtime reads version %d",
                    path, version, VLE_STATE_VERSION);
  uint64_t sum;
  memcpy(&sum, p + n - 8, 8);
  if (sum != st_checksum(p, n - 8))
    return vle_fail(err, "%s: checksum mismatch over %zu bytes: the file is truncated or "
                    "corrupt", path, n - 8);
  return 0;
}

static bool st_str_eq(st_cur *c, const char *want) {
  uint64_t len = st_get_u64(c);
  const char *q = len < 4096 ? st_get(c, len) : NULL;
  return q && len == strlen(want) && !memcmp(q, want, len);
}

/* The saved layout against the sim's: the first difference, named, with its likely cause. */
static int st_check_layout(const vle_sim *s, const char *path, st_cur *c, vle_error *err) {
  const vle_model *m = s->m;
  uint64_t nbufs = st_get_u64(c), nlearn = st_get_u64(c), n_opt = st_get_u64(c),
           n_gsum = st_get_u64(c);
  if (c->short_) return vle_fail(err, "%s: truncated header", path);
  if (nbufs != (uint64_t)m->nbufs || nlearn != (uint64_t)m->nlearn)
    return vle_fail(err, "%s: saved from a build of model '%s' with %llu buffers and %llu learn "
                    "groups, this one has %d and %d: a .vle run through the JIT holds only the "
                    "kernels and buffers its run needs, a .so all of them; resume with the same "
                    "kind of model (the .vle, or the .so) and the same --errors and learning",
                    path, m->name, (unsigned long long)nbufs, (unsigned long long)nlearn,
                    m->nbufs, m->nlearn);
  for (int i = 0; i < m->nbufs; i++) {
    uint64_t n = st_get_u64(c);
    if (!c->short_ && n != s->count[i])
      return vle_fail(err, "%s: buffer '%s' was saved with %llu reals, this simulation has %zu",
                      path, m->bufs[i].name, (unsigned long long)n, s->count[i]);
  }
  if (n_opt != s->n_opt)
    return vle_fail(err, "%s: saved with %llu doubles of Adam state, this simulation has %zu "
                    "(learning on in one run and off in the other?)", path,
                    (unsigned long long)n_opt, s->n_opt);
  if (n_gsum != s->n_gsum)
    return vle_fail(err, "%s: saved with %llu doubles of gradient sums, this simulation has %zu "
                    "(one of vlec grad and vlec run saved it, the other loads it?)", path,
                    (unsigned long long)n_gsum, s->n_gsum);
  return c->short_ ? vle_fail(err, "%s: truncated header", path) : 0;
}

/* The saved sim must be of the same model, precision, batch and layout. */
static int st_check_header(const vle_sim *s, const char *path, st_cur *c, vle_error *err) {
  const vle_model *m = s->m;
  uint32_t es;
  st_get(c, 12);
  memcpy(&es, st_get(c, 4), 4);
  if (!st_str_eq(c, m->name) || !st_str_eq(c, m->hash))
    return vle_fail(err, "%s: saved from another model (this simulation is of model '%s', hash "
                    "%s)", path, m->name, m->hash);
  if (es != m->es)
    return vle_fail(err, "%s: saved with %u-byte reals, this model has %zu-byte reals", path, es, m->es);
  uint64_t batch = st_get_u64(c);
  if (batch != (uint64_t)s->batch)
    return vle_fail(err, "%s: saved with batch %llu, this simulation has batch %ld", path,
                    (unsigned long long)batch, s->batch);
  return st_check_layout(s, path, c, err);
}

static void st_read_payload(vle_sim *s, st_cur *c) {
  vle_sim_state *st = &s->st;
  st->step = (int64_t)st_get_u64(c);
  memcpy(st->rng.s, st_get(c, sizeof st->rng.s), sizeof st->rng.s);
  for (int g = 0; g < s->m->nlearn; g++) st->opt_t[g] = (int64_t)st_get_u64(c);
  for (int i = 0; i < s->m->nbufs; i++)
    memcpy(st->bufs[i], st_get(c, s->count[i] * s->m->es), s->count[i] * s->m->es);
  size_t nd = (s->n_opt + s->n_gsum) * sizeof(double);
  if (nd) memcpy(vs_opt_mem(s, st), st_get(c, nd), nd);
}

/* ---- the values: the checksum catches accidents, not crafted files -------------------- */

/* Largest step counter a state may carry: t = step * dt stays exact, and adding a run's
 * steps to it cannot overflow. */
#define ST_MAX_STEP (INT64_C(1) << 53)

/* Step counter, RNG and Adam step counts: in range and consistent with each other. */
static int st_check_counters(const vle_sim *s, const char *path, st_cur c, vle_error *err) {
  size_t at = c.pos;
  int64_t step = (int64_t)st_get_u64(&c);
  if (step < 0 || step > ST_MAX_STEP)
    return vle_fail(err, "%s: step counter %lld at byte %zu: expected 0 to 2^53", path,
                    (long long)step, at);
  if (!isfinite((double)step * s->dt))
    return vle_fail(err, "%s: step counter %lld at byte %zu: t = step * dt is not finite", path,
                    (long long)step, at);
  uint64_t rng[4];
  memcpy(rng, st_get(&c, sizeof rng), sizeof rng);
  if (!(rng[0] | rng[1] | rng[2] | rng[3]))      /* xoshiro's one fixed point */
    return vle_fail(err, "%s: RNG state at byte %zu is all zero (no generator state is)", path,
                    at + 8);
  for (int g = 0; g < s->m->nlearn; g++) {
    int64_t t = (int64_t)st_get_u64(&c);
    if (t < 0 || t > step)          /* at most one optimizer step per sim step */
      return vle_fail(err, "%s: optimizer step count %lld of learn group %d at byte %zu: "
                      "expected 0 to the step counter (%lld)", path, (long long)t, g,
                      c.pos - 8, (long long)step);
  }
  return 0;
}

/* A real at p, which the file's layout does not align. */
static double st_real(const unsigned char *p, size_t es) {
  double d;
  float f;
  if (es == 8) memcpy(&d, p, 8);
  else memcpy(&f, p, 4), d = f;
  return d;
}

/* Adam's second moments (v, after m, per parameter: vle_sim.c) are sums of squares. */
static int st_check_adam_v(const vle_sim *s, const char *path, size_t at,
                           const unsigned char *p, vle_error *err) {
  for (int q = 0; q < s->m->nparams; q++) {
    if (s->opt_off[q] == SIZE_MAX) continue;
    size_t n = s->count[s->m->params[q].buf];
    for (size_t i = 0; i < n; i++) {
      size_t off = at + 8 * (s->opt_off[q] + n + i);
      double v;
      memcpy(&v, p + off, 8);
      if (v < 0)
        return vle_fail(err, "%s: Adam second moment %g of %s[%zu] at byte %zu: expected >= 0",
                        path, v, s->m->params[q].name, i, off);
    }
  }
  return 0;
}

/* Every real of every buffer finite, and the Adam state and grad sums too (v >= 0): a run
 * would stop at its first NaN check and "roll back" to the very same state. */
static int st_check_reals(const vle_sim *s, const char *path, st_cur c, vle_error *err) {
  c.pos += 8 + sizeof(rng_state) + 8 * (size_t)s->m->nlearn;
  size_t es = s->m->es;
  for (int b = 0; b < s->m->nbufs; b++) {
    size_t at = c.pos;
    const unsigned char *q = st_get(&c, s->count[b] * es);
    for (size_t i = 0; i < s->count[b]; i++) {
      double x = st_real(q + i * es, es);
      if (!isfinite(x))
        return vle_fail(err, "%s: %s[%zu] at byte %zu is %s: a state must be finite (a "
                        "crafted or corrupt file)", path, s->m->bufs[b].name, i, at + i * es,
                        isnan(x) ? "NaN" : "Inf");
    }
  }
  for (size_t i = 0; i < s->n_opt + s->n_gsum; i++) {
    double x;
    memcpy(&x, st_get(&c, 8), 8);
    if (!isfinite(x))
      return vle_fail(err, "%s: %s double %zu at byte %zu is %s: a state must be finite",
                      path, i < s->n_opt ? "optimizer state" : "grad sum", i, c.pos - 8,
                      isnan(x) ? "NaN" : "Inf");
  }
  return st_check_adam_v(s, path, c.pos - 8 * (s->n_opt + s->n_gsum), c.p, err);
}

/* Bytes of payload a sim of this layout has (to verify before copying anything). */
static size_t st_payload_size(const vle_sim *s) {
  size_t n = 8 + sizeof(rng_state) + 8 * (size_t)s->m->nlearn;
  for (int i = 0; i < s->m->nbufs; i++) n += s->count[i] * s->m->es;
  return n + (s->n_opt + s->n_gsum) * sizeof(double);
}

int vs_state_from_bytes(vle_sim *s, const char *path, const unsigned char *p, size_t n,
                        vle_error *err) {
  int rc = st_check_envelope(path, p, n, err);
  st_cur c = { p, n >= 8 ? n - 8 : 0, 0, false };
  if (!rc) rc = st_check_header(s, path, &c, err);
  if (!rc && c.n - c.pos != st_payload_size(s))
    rc = vle_fail(err, "%s: payload of %zu bytes at byte %zu, expected %zu", path, c.n - c.pos,
                  c.pos, st_payload_size(s));
  if (!rc) rc = st_check_counters(s, path, c, err);
  if (!rc) rc = st_check_reals(s, path, c, err);
  if (!rc) {
    st_read_payload(s, &c);
    /* the saved dt and gamma are the sim's from now on: t = step * dt must go on from where
     * the saved run was, with the dt its buffers hold */
    if (s->m->sig_dt >= 0) s->dt = re_get(s->st.bufs[s->m->sig_dt], 0, s->m->es);
    if (s->m->sig_gamma >= 0) s->gamma = re_get(s->st.bufs[s->m->sig_gamma], 0, s->m->es);
    if (s->check_every) vs_state_copy(s, &s->snap, &s->st);   /* the new last good state */
  }
  return rc;
}

int vle_sim_load(vle_sim *s, const char *path, vle_error *err) {
  unsigned char *p = NULL;
  size_t n = 0;
  if (st_read_file(path, &p, &n, err)) return -1;
  int rc = vs_state_from_bytes(s, path, p, n, err);
  free(p);
  return rc;
}
