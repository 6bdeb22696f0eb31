/*
 * expr.c - expression nodes: hash-consing and the simplifying constructors.
 *
 * Every constructor returns a node in canonical form, so that two expressions that differ
 * only by the rules below are the same pointer. The canonical forms (docs/symbolic.md):
 *
 *   numbers    X_NUM carries a shape: a scalar, or a vector/matrix filled with `num`.
 *              The scalar 0 is also accepted as "zero of any shape" wherever the other
 *              operands determine the shape of the result.
 *   sums       X_ADD is flat (no X_ADD argument), has >= 2 arguments, at most one constant
 *              (first), no two terms c1*r and c2*r with the same rest r, and the other
 *              terms sorted by the id of their rest.
 *   products   X_MUL is flat, has >= 2 arguments, a scalar coefficient first when it is
 *              not 1 (never 0), at most one constant vector (its first non-zero element
 *              is 1: the coefficient takes the scale), no two factors with the same base
 *              (x * x^2 is x^3), the factors after the coefficient sorted by id. A product of a number and a sum is
 *              distributed: 2 (x + y) is 2 x + 2 y, -(a - b) is b - a.
 *   shapes     an X_ADD or X_MUL has at least one argument of its own shape; a scalar that
 *              has to stand for a vector or matrix is wrapped in X_BCAST (X_NUM for numbers).
 *   powers     x^0 = 1, x^1 = x, (x^a)^n = x^(a n) and (x y)^n = x^n y^n for integer n.
 *   constants  an operation whose operands are all constants is evaluated.
 */
#include "ex_internal.h"
#include "fn_math.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A slot of the node table keeps the hash next to the pointer, so that a probe does not
 * touch the node (a cache miss) unless the hashes match. */
typedef struct slot {
  unsigned hash;
  ex_node *x;           /* NULL: empty */
} slot;

struct ex_ctx {
  vl_arena *arena;
  slot *slots;          /* open-addressing hash table of every node, linear probing */
  size_t cap, len;      /* cap is a power of two; grown at half load */
  int next_id;
};

ex_ctx *ex_new(vl_arena *a) {
  ex_ctx *c = AR_NEW(a, ex_ctx);
  c->arena = a;
  c->cap = 1024;
  c->slots = AR_NEWN(a, slot, c->cap);
  return c;
}

vl_arena *ex_arena(ex_ctx *c) { return c->arena; }
long ex_total_nodes(const ex_ctx *c) { return c->next_id; }

/* ---- hash-consing ------------------------------------------------------------------ */

static unsigned mix(unsigned h, uint64_t v) {
  h ^= (unsigned)(v ^ (v >> 32));
  h *= 0x9e3779b1u;
  return h ^ (h >> 15);
}

static uint64_t num_bits(double v) {
  uint64_t b;
  if (v == 0) v = 0;                       /* -0 and 0 are one number */
  memcpy(&b, &v, sizeof b);
  return b;
}

/* Symbols are identified by (kind, index, shape); their names are decoration. */
static unsigned node_hash(const ex_node *x) {
  unsigned h = mix(0x811c9dc5u, (uint64_t)x->op);
  h = mix(h, (uint64_t)x->shape.kind);
  h = mix(h, (uint64_t)x->shape.rows);
  h = mix(h, (uint64_t)x->shape.cols);
  h = mix(h, num_bits(x->num));
  h = mix(h, (uint64_t)x->fn);
  h = mix(h, (uint64_t)(unsigned)x->sym_kind);
  h = mix(h, (uint64_t)(unsigned)x->sym_index);
  for (int i = 0; i < x->nargs; i++) h = mix(h, (uint64_t)x->args[i]->id);
  h ^= h >> 16;                            /* final avalanche (murmur3): the table uses */
  h *= 0x85ebca6bu;                        /* the low bits, which must depend on all */
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

static bool node_eq(const ex_node *a, const ex_node *b) {
  if (a->op != b->op || !ex_shape_eq(a->shape, b->shape) || a->nargs != b->nargs) return false;
  if (num_bits(a->num) != num_bits(b->num) || a->fn != b->fn) return false;
  if (a->sym_kind != b->sym_kind || a->sym_index != b->sym_index) return false;
  for (int i = 0; i < a->nargs; i++)
    if (a->args[i] != b->args[i]) return false;
  return true;
}

static void table_insert(slot *slots, size_t cap, ex_node *x) {
  size_t i = x->hash & (cap - 1);
  while (slots[i].x) i = (i + 1) & (cap - 1);
  slots[i] = (slot){x->hash, x};
}

static void table_grow(ex_ctx *c) {
  size_t cap = c->cap * 2;
  slot *slots = AR_NEWN(c->arena, slot, cap);
  for (size_t i = 0; i < c->cap; i++)
    if (c->slots[i].x) table_insert(slots, cap, c->slots[i].x);
  c->slots = slots;
  c->cap = cap;
}

/* The unique node equal to the prototype p (whose args may live on the caller's stack). */
static ex_node *intern(ex_ctx *c, const ex_node *p) {
  unsigned h = node_hash(p);
  size_t i = h & (c->cap - 1);
  for (; c->slots[i].x; i = (i + 1) & (c->cap - 1))
    if (c->slots[i].hash == h && node_eq(c->slots[i].x, p)) return c->slots[i].x;

  ex_cell *cell = AR_NEW(c->arena, ex_cell);
  ex_node *x = &cell->node;
  *x = *p;
  if (x->num == 0) x->num = 0;
  x->args = p->nargs ? ar_dup(c->arena, p->args, sizeof(ex_node *) * (size_t)p->nargs) : NULL;
  x->hash = h;
  x->id = c->next_id++;
  cell->self = x;
  c->slots[i] = (slot){h, x};
  if (++c->len * 2 > c->cap) table_grow(c);
  return x;
}

static ex_node *make(ex_ctx *c, ex_op op, ex_shape s, ex_node *const *args, int n) {
  ex_node p = {.op = op, .shape = s, .nargs = n, .args = (ex_node **)args};
  return intern(c, &p);
}

/* ---- small predicates and helpers -------------------------------------------------- */

bool ex_is_num(const ex_node *x, double *v) {
  if (x->op != X_NUM) return false;
  if (v) *v = x->num;
  return true;
}
bool ex_is_zero(const ex_node *x) { return x->op == X_NUM && x->num == 0; }
bool ex_is_one(const ex_node *x) { return x->op == X_NUM && x->num == 1; }

static bool is_int(double v) { return v == floor(v) && fabs(v) < 1e15; }

/* A constant: a number, or a vector literal of numbers. */
bool ex_is_const(const ex_node *x) {
  if (x->op == X_NUM) return true;
  if (x->op != X_VEC) return false;
  for (int i = 0; i < x->nargs; i++)
    if (x->args[i]->op != X_NUM) return false;
  return true;
}

/* Element i of a constant (numbers broadcast). */
static double const_at(const ex_node *k, int i) {
  return k->op == X_NUM ? k->num : k->args[i]->num;
}

/* The shape of an elementwise operation on a and b: scalars broadcast. */
static ex_shape bshape(ex_shape a, ex_shape b) {
  if (a.kind == EXS_SCALAR) return b;
  if (b.kind == EXS_SCALAR) return a;
  assert(ex_shape_eq(a, b) && "elementwise operands of different shapes");
  return a;
}

static ex_shape bshape_all(ex_node *const *xs, int n) {
  ex_shape s = ex_scalar_shape();
  for (int i = 0; i < n; i++) s = bshape(s, xs[i]->shape);
  return s;
}

/* Scratch arrays: a caller's stack buffer when it is big enough, else the arena. */
static ex_node **scratch(ex_ctx *c, ex_node **buf, int cap, int n) {
  return n <= cap ? buf : AR_NEWN(c->arena, ex_node *, n);
}

static int by_id(const void *a, const void *b) {
  int x = (*(ex_node *const *)a)->id, y = (*(ex_node *const *)b)->id;
  return (x > y) - (x < y);
}

/* ---- leaves ------------------------------------------------------------------------ */

ex_node *ex_num_like(ex_ctx *c, double v, ex_shape s) {
  ex_node p = {.op = X_NUM, .shape = s, .num = v};
  return intern(c, &p);
}

ex_node *ex_num(ex_ctx *c, double v) { return ex_num_like(c, v, ex_scalar_shape()); }

ex_node *ex_zero_like(ex_ctx *c, ex_shape s) { return ex_num_like(c, 0, s); }

ex_node *ex_sym(ex_ctx *c, int kind, int index, ex_shape shape, const char *name,
                const char *latex) {
  ex_node p = {.op = X_SYM, .shape = shape, .sym_kind = kind, .sym_index = index};
  ex_node *x = intern(c, &p);
  if (!x->name) {                          /* first construction names it */
    x->name = ar_strdup(c->arena, name ? name : "?");
    x->latex = latex ? ar_strdup(c->arena, latex) : NULL;
  } else if (name && strcmp(x->name, name)) {
    /* (kind, index, shape) is a symbol's identity: two names for one identity would be two
     * different quantities merged by the hash-consing, a bug in the caller's kinds. */
    fprintf(stderr, "internal error: symbol kind %d index %d is both '%s' and '%s'\n", kind,
            index, x->name, name);
    abort();
  }
  return x;
}

/* A vector literal whose elements are all the same number is that number, shaped. */
ex_node *ex_vec(ex_ctx *c, ex_node *const *elems, int n) {
  assert(n >= 1);
  bool same = elems[0]->op == X_NUM;
  for (int i = 0; i < n; i++) {
    assert(ex_is_scalar(elems[i]) && "vector literal of non-scalars");
    same = same && elems[i]->op == X_NUM && elems[i]->num == elems[0]->num;
  }
  if (same) return ex_num_like(c, elems[0]->num, ex_vec_shape(n));
  return make(c, X_VEC, ex_vec_shape(n), elems, n);
}

/* A constant of shape s whose element i is f(a_i, b_i): the folding of constants. */
static ex_node *fold2(ex_ctx *c, ex_shape s, const ex_node *a, const ex_node *b,
                      double (*f)(double, double)) {
  if (s.kind == EXS_SCALAR || (a->op == X_NUM && b->op == X_NUM))
    return ex_num_like(c, f(a->num, b->num), s);
  int n = (int)s.rows;
  ex_node **e = AR_NEWN(c->arena, ex_node *, n);
  for (int i = 0; i < n; i++) e[i] = ex_num(c, f(const_at(a, i), const_at(b, i)));
  return ex_vec(c, e, n);
}

static double add2(double a, double b) { return a + b; }
static double mul2(double a, double b) { return a * b; }

/* ---- broadcasting ------------------------------------------------------------------ */

ex_node *ex_bcast_to(ex_ctx *c, ex_node *s, ex_shape shape) {
  assert(ex_is_scalar(s) && "broadcast of a non-scalar");
  if (shape.kind == EXS_SCALAR) return s;
  if (s->op == X_NUM) return ex_num_like(c, s->num, shape);
  return make(c, X_BCAST, shape, &s, 1);
}

ex_node *ex_bcast(ex_ctx *c, ex_node *s, long n) { return ex_bcast_to(c, s, ex_vec_shape(n)); }

/* x as a value of shape s: x itself, or the scalar x broadcast. */
ex_node *ex_fit(ex_ctx *c, ex_node *x, ex_shape s) {
  if (ex_shape_eq(x->shape, s)) return x;
  assert(ex_is_scalar(x) && "value of the wrong shape");
  return ex_bcast_to(c, x, s);
}

/* Inside a sum or product a broadcast scalar is just the scalar: the shape is restored at
 * the end (ex_fit) if no other operand carries it. */
static ex_node *unbroadcast(ex_ctx *c, ex_node *x) {
  if (x->op == X_BCAST) return x->args[0];
  if (x->op == X_NUM && !ex_is_scalar(x)) return ex_num(c, x->num);
  return x;
}

/* Flatten the operands of an n-ary op into a scratch array, without broadcasts. */
static ex_node **flatten(ex_ctx *c, ex_op op, ex_node *const *xs, int n, ex_node **buf,
                         int cap, int *out_n) {
  int total = 0;
  for (int i = 0; i < n; i++) total += xs[i]->op == op ? xs[i]->nargs : 1;
  ex_node **v = scratch(c, buf, cap, total);
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (xs[i]->op == op)
      for (int j = 0; j < xs[i]->nargs; j++) v[k++] = xs[i]->args[j];
    else
      v[k++] = unbroadcast(c, xs[i]);
  }
  *out_n = k;
  return v;
}

/* ---- sums -------------------------------------------------------------------------- */

/* A term c * r: its coefficient and the rest (a canonical product without coefficient). */
typedef struct term {
  double coef;
  ex_node *rest;
} term;

static term split_term(ex_ctx *c, ex_node *t) {
  if (t->op != X_MUL || t->args[0]->op != X_NUM) return (term){1, t};
  if (t->nargs == 2) return (term){t->args[0]->num, t->args[1]};
  return (term){t->args[0]->num, make(c, X_MUL, t->shape, t->args + 1, t->nargs - 1)};
}

/* c * r for a rest r as split_term returns it (already canonical: no need to re-sort). */
static ex_node *join_term(ex_ctx *c, double coef, ex_node *r) {
  if (coef == 1) return r;
  ex_node *k = ex_num(c, coef);
  if (r->op != X_MUL) {
    ex_node *a[2] = {k, r};
    return make(c, X_MUL, r->shape, a, 2);
  }
  ex_node *buf[16];
  ex_node **a = scratch(c, buf, 16, r->nargs + 1);
  a[0] = k;
  memcpy(a + 1, r->args, sizeof(ex_node *) * (size_t)r->nargs);
  return make(c, X_MUL, r->shape, a, r->nargs + 1);
}

static int by_rest(const void *a, const void *b) {
  int x = ((const term *)a)->rest->id, y = ((const term *)b)->rest->id;
  return (x > y) - (x < y);
}

/* Collect like terms: sort by rest, merge runs, drop zeros. Returns the new count. */
static int collect_terms(term *t, int n) {
  qsort(t, (size_t)n, sizeof *t, by_rest);
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (k > 0 && t[k - 1].rest == t[i].rest) t[k - 1].coef += t[i].coef;
    else t[k++] = t[i];
  }
  int m = 0;
  for (int i = 0; i < k; i++)
    if (t[i].coef != 0) t[m++] = t[i];
  return m;
}

/* Wrap up an n-ary node of arguments v[0..n-1]: its single argument, or the node, then
 * broadcast to the shape the operation was asked to have. */
static ex_node *finish_nary(ex_ctx *c, ex_op op, ex_node **v, int n, ex_shape s) {
  ex_node *x = n == 1 ? v[0] : make(c, op, bshape_all(v, n), v, n);
  return ex_fit(c, x, s);
}

ex_node *ex_addn(ex_ctx *c, ex_node *const *xs, int n) {
  ex_shape s = bshape_all(xs, n);
  ex_node *buf[32];
  int m;
  ex_node **v = flatten(c, X_ADD, xs, n, buf, 32, &m);

  /* constants fold into k; the other terms go to t */
  ex_node *k = ex_num(c, 0);
  term tbuf[32];
  term *t = m <= 32 ? tbuf : AR_NEWN(c->arena, term, m);
  int nt = 0;
  for (int i = 0; i < m; i++) {
    if (ex_is_const(v[i])) k = fold2(c, bshape(k->shape, v[i]->shape), k, v[i], add2);
    else t[nt++] = split_term(c, v[i]);
  }
  nt = collect_terms(t, nt);

  ex_node *obuf[32];
  ex_node **out = scratch(c, obuf, 32, nt + 1);
  int no = 0;
  if (!ex_is_zero(k)) out[no++] = k;
  for (int i = 0; i < nt; i++) out[no++] = join_term(c, t[i].coef, t[i].rest);
  if (no == 0) return ex_zero_like(c, s);
  return finish_nary(c, X_ADD, out, no, s);
}

ex_node *ex_add(ex_ctx *c, ex_node *a, ex_node *b) {
  ex_node *v[2] = {a, b};
  return ex_addn(c, v, 2);
}

ex_node *ex_neg(ex_ctx *c, ex_node *a) { return ex_mul(c, ex_num(c, -1), a); }
ex_node *ex_sub(ex_ctx *c, ex_node *a, ex_node *b) { return ex_add(c, a, ex_neg(c, b)); }

/* ---- products ---------------------------------------------------------------------- */

/* A factor b^e: its base and exponent (e = 1 for a factor that is not a power). */
typedef struct factor {
  ex_node *base, *exp;
} factor;

static int by_base(const void *a, const void *b) {
  int x = ((const factor *)a)->base->id, y = ((const factor *)b)->base->id;
  return (x > y) - (x < y);
}

/* coef * (sum): the coefficient is distributed over the terms. */
static ex_node *distribute(ex_ctx *c, double coef, ex_node *sum, ex_shape s) {
  ex_node *buf[32];
  ex_node **v = scratch(c, buf, 32, sum->nargs);
  ex_node *k = ex_num(c, coef);
  for (int i = 0; i < sum->nargs; i++) v[i] = ex_mul(c, k, sum->args[i]);
  return ex_fit(c, ex_addn(c, v, sum->nargs), s);
}

/* Does a rebuilt factor need another round of flattening and folding? */
static bool needs_refold(const ex_node *x) {
  return x->op == X_MUL || x->op == X_BCAST || ex_is_const(x);
}

ex_node *ex_muln(ex_ctx *c, ex_node *const *xs, int n) {
  ex_shape s = bshape_all(xs, n);
  ex_node *buf[32];
  int m;
  ex_node **v = flatten(c, X_MUL, xs, n, buf, 32, &m);

  /* numbers fold into the coefficient, constant vectors into kv */
  double coef = 1;
  ex_node *kv = NULL;
  factor fbuf[32];
  factor *f = m <= 32 ? fbuf : AR_NEWN(c->arena, factor, m);
  int nf = 0;
  for (int i = 0; i < m; i++) {
    if (v[i]->op == X_NUM) coef *= v[i]->num;
    else if (ex_is_const(v[i])) kv = kv ? fold2(c, kv->shape, kv, v[i], mul2) : v[i];
    else if (v[i]->op == X_POW) f[nf++] = (factor){v[i]->args[0], v[i]->args[1]};
    else f[nf++] = (factor){v[i], ex_num(c, 1)};
  }
  if (kv && kv->op == X_NUM) { coef *= kv->num; kv = NULL; }     /* [2, 2] is 2 */
  if (coef == 0) return ex_zero_like(c, s);
  if (kv && nf == 0) return fold2(c, kv->shape, kv, ex_num(c, coef), mul2);   /* all constant */
  if (kv) {                     /* scale kv to start with 1: 2 [1, 2] x and [2, 4] x meet */
    double k0 = 0;
    for (int i = 0; k0 == 0; i++) k0 = kv->args[i]->num;
    coef *= k0;
    kv = fold2(c, kv->shape, kv, ex_num(c, 1 / k0), mul2);
  }

  /* equal bases: add the exponents */
  qsort(f, (size_t)nf, sizeof *f, by_base);
  ex_node *obuf[32];
  ex_node **out = scratch(c, obuf, 32, nf + 2);
  int no = 0;
  bool refold = false;
  if (kv) out[no++] = kv;
  for (int i = 0; i < nf;) {
    ex_node *b = f[i].base, *e = f[i].exp;
    for (i++; i < nf && f[i].base == b; i++) e = ex_add(c, e, f[i].exp);
    ex_node *p = ex_pow(c, b, e);
    if (ex_is_one(p)) continue;
    refold = refold || needs_refold(p);
    out[no++] = p;
  }
  if (refold) {                 /* a power collapsed into a product or a number */
    out[no++] = ex_num(c, coef);
    return ex_fit(c, ex_muln(c, out, no), s);
  }
  qsort(out, (size_t)no, sizeof *out, by_id);

  if (no == 0) return ex_num_like(c, coef, s);
  if (no == 1 && coef != 1 && out[0]->op == X_ADD) return distribute(c, coef, out[0], s);
  if (coef == 1) return finish_nary(c, X_MUL, out, no, s);
  ex_node *wbuf[33];
  ex_node **w = scratch(c, wbuf, 33, no + 1);
  w[0] = ex_num(c, coef);
  memcpy(w + 1, out, sizeof(ex_node *) * (size_t)no);
  return finish_nary(c, X_MUL, w, no + 1, s);
}

ex_node *ex_mul(ex_ctx *c, ex_node *a, ex_node *b) {
  ex_node *v[2] = {a, b};
  return ex_muln(c, v, 2);
}

ex_node *ex_div(ex_ctx *c, ex_node *a, ex_node *b) {
  return ex_mul(c, a, ex_pow(c, b, ex_num(c, -1)));
}

/* ---- powers ------------------------------------------------------------------------ */

static double pow2(double a, double b) { return pow(a, b); }

ex_node *ex_pow(ex_ctx *c, ex_node *a, ex_node *b) {
  assert(ex_is_scalar(b) && "exponent must be a scalar");
  if (a->op == X_BCAST) return ex_fit(c, ex_pow(c, a->args[0], b), a->shape);
  double p;
  if (!ex_is_num(b, &p)) {
    if (a->op == X_NUM && a->num == 1) return a;
    ex_node *v[2] = {a, b};
    return make(c, X_POW, a->shape, v, 2);
  }
  if (p == 0) return ex_num_like(c, 1, a->shape);
  if (p == 1) return a;
  if (ex_is_const(a)) return fold2(c, a->shape, a, b, pow2);
  if (is_int(p) && a->op == X_POW)               /* (x^e)^n = x^(e n) */
    return ex_pow(c, a->args[0], ex_mul(c, a->args[1], b));
  if (is_int(p) && a->op == X_MUL) {             /* (x y)^n = x^n y^n */
    ex_node *buf[32];
    ex_node **v = scratch(c, buf, 32, a->nargs);
    for (int i = 0; i < a->nargs; i++) v[i] = ex_pow(c, a->args[i], b);
    return ex_fit(c, ex_muln(c, v, a->nargs), a->shape);
  }
  ex_node *v[2] = {a, b};
  return make(c, X_POW, a->shape, v, 2);
}

/* ---- elementwise functions (their maths: fn_math.c) -------------------------------- */

ex_node *ex_fn1(ex_ctx *c, ex_fn f, ex_node *a) {
  assert(f >= 0 && f < F_COUNT);
  if (a->op == X_BCAST) return ex_fit(c, ex_fn1(c, f, a->args[0]), a->shape);
  if (a->op == X_NUM) return ex_num_like(c, fm_value(f, a->num), a->shape);
  if (a->op == X_VEC && ex_is_const(a)) {
    ex_node **e = AR_NEWN(c->arena, ex_node *, a->nargs);
    for (int i = 0; i < a->nargs; i++) e[i] = ex_num(c, fm_value(f, a->args[i]->num));
    return ex_vec(c, e, a->nargs);
  }
  ex_node p = {.op = X_FN, .shape = a->shape, .nargs = 1, .args = &a, .fn = f};
  return intern(c, &p);
}

/* ---- matrix products --------------------------------------------------------------- */

/* Split a product into its scalar factors (returned, 1 if none) and the rest (*rest). */
static ex_node *scalar_part(ex_ctx *c, ex_node *x, ex_node **rest) {
  *rest = x;
  if (x->op != X_MUL || ex_is_scalar(x)) return ex_num(c, 1);
  ex_node *sbuf[32], *vbuf[32];
  ex_node **sc = scratch(c, sbuf, 32, x->nargs), **vc = scratch(c, vbuf, 32, x->nargs);
  int ns = 0, nv = 0;
  for (int i = 0; i < x->nargs; i++) {
    if (ex_is_scalar(x->args[i])) sc[ns++] = x->args[i];
    else vc[nv++] = x->args[i];
  }
  if (ns == 0) return ex_num(c, 1);
  *rest = ex_muln(c, vc, nv);
  return ex_muln(c, sc, ns);
}

/* W @ x (transposed: W^T @ x). Scalars move out: W (a x) = a (W x); a rank-one matrix
 * collapses: (a b^T) x = a (b . x). A sum is never expanded: W (x + y) stays. */
static ex_node *matprod(ex_ctx *c, ex_op op, ex_node *W, ex_node *x) {
  assert(W->shape.kind == EXS_MATRIX && "matrix product of a non-matrix");
  long in = op == X_MATVEC ? W->shape.cols : W->shape.rows;
  long outn = op == X_MATVEC ? W->shape.rows : W->shape.cols;
  ex_shape s = ex_vec_shape(outn);
  if (ex_is_zero(W) || ex_is_zero(x)) return ex_zero_like(c, s);
  x = ex_fit(c, x, ex_vec_shape(in));
  assert(x->shape.kind == EXS_VECTOR && x->shape.rows == in && "matrix product: size mismatch");

  ex_node *W1, *x1;
  ex_node *k = ex_mul(c, scalar_part(c, W, &W1), scalar_part(c, x, &x1));
  if (!ex_is_one(k)) return ex_mul(c, k, matprod(c, op, W1, x1));
  if (W->op == X_OUTER) {
    ex_node *a = W->args[op == X_MATVEC ? 0 : 1], *b = W->args[op == X_MATVEC ? 1 : 0];
    return ex_mul(c, a, ex_dot(c, b, x));
  }
  ex_node *v[2] = {W, x};
  return make(c, op, s, v, 2);
}

ex_node *ex_matvec(ex_ctx *c, ex_node *W, ex_node *x) { return matprod(c, X_MATVEC, W, x); }
ex_node *ex_mattvec(ex_ctx *c, ex_node *W, ex_node *x) { return matprod(c, X_MATTVEC, W, x); }

ex_node *ex_outer(ex_ctx *c, ex_node *a, ex_node *b) {
  assert(a->shape.kind != EXS_MATRIX && b->shape.kind != EXS_MATRIX);
  assert(a->shape.kind == EXS_VECTOR && b->shape.kind == EXS_VECTOR && "outer of non-vectors");
  ex_shape s = ex_mat_shape(a->shape.rows, b->shape.rows);
  if (ex_is_zero(a) || ex_is_zero(b)) return ex_zero_like(c, s);
  ex_node *a1, *b1;
  ex_node *k = ex_mul(c, scalar_part(c, a, &a1), scalar_part(c, b, &b1));
  if (!ex_is_one(k)) return ex_mul(c, k, ex_outer(c, a1, b1));
  ex_node *v[2] = {a, b};
  return make(c, X_OUTER, s, v, 2);
}

/* ---- reductions and vector functions ----------------------------------------------- */

ex_node *ex_sum(ex_ctx *c, ex_node *v) {
  if (ex_is_scalar(v)) return v;
  double n = (double)ex_size(v->shape);
  if (v->op == X_NUM) return ex_num(c, n * v->num);
  if (v->op == X_BCAST) return ex_mul(c, ex_num(c, n), v->args[0]);
  if (v->op == X_VEC) return ex_addn(c, v->args, v->nargs);
  ex_node *rest, *k = scalar_part(c, v, &rest);
  if (!ex_is_one(k)) return ex_mul(c, k, ex_sum(c, rest));
  return make(c, X_SUM, ex_scalar_shape(), &v, 1);
}

/* softmax and logsumexp of a constant vector, evaluated. */
static ex_node *fold_softmax(ex_ctx *c, ex_node *v, bool lse) {
  int n = (int)v->shape.rows;
  double mx = -INFINITY, z = 0;
  for (int i = 0; i < n; i++) mx = fmax(mx, const_at(v, i));
  for (int i = 0; i < n; i++) z += exp(const_at(v, i) - mx);
  if (lse) return ex_num(c, mx + log(z));
  ex_node **e = AR_NEWN(c->arena, ex_node *, n);
  for (int i = 0; i < n; i++) e[i] = ex_num(c, exp(const_at(v, i) - mx) / z);
  return ex_vec(c, e, n);
}

ex_node *ex_softmax(ex_ctx *c, ex_node *v) {
  assert(v->shape.kind == EXS_VECTOR && "softmax of a non-vector");
  if (ex_is_const(v)) return fold_softmax(c, v, false);
  return make(c, X_SOFTMAX, v->shape, &v, 1);
}

ex_node *ex_logsumexp(ex_ctx *c, ex_node *v) {
  assert(v->shape.kind == EXS_VECTOR && "logsumexp of a non-vector");
  if (ex_is_const(v)) return fold_softmax(c, v, true);
  return make(c, X_LOGSUMEXP, ex_scalar_shape(), &v, 1);
}

/* ---- conveniences ------------------------------------------------------------------ */

ex_node *ex_dot(ex_ctx *c, ex_node *a, ex_node *b) { return ex_sum(c, ex_mul(c, a, b)); }
ex_node *ex_sumsq(ex_ctx *c, ex_node *v) { return ex_sum(c, ex_pow(c, v, ex_num(c, 2))); }

ex_node *ex_mean(ex_ctx *c, ex_node *v) {
  return ex_mul(c, ex_num(c, 1.0 / (double)ex_size(v->shape)), ex_sum(c, v));
}

ex_node *ex_log_softmax(ex_ctx *c, ex_node *v) {
  return ex_sub(c, v, ex_fit(c, ex_logsumexp(c, v), v->shape));
}
