/* mnist1d.c - the MNIST-1D dataset; see mnist1d.h. Each step names the NumPy/SciPy call of
 * the published code it reproduces; where the order of floating-point operations of that
 * call matters for the last bits (sums, interpolation, the filter), it is followed too. */
#include "mnist1d.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mt19937.h"

/* The published transform's parameters (get_dataset_args). */
#define M1D_PAD_LO 36
#define M1D_PAD_HI 60
#define M1D_WIDE (M1D_TEMPLATE_LEN + M1D_PAD_HI)   /* 72: the length of the working sequence */
#define M1D_SCALE_COEFF 0.4
#define M1D_MAX_TRANSLATION 48
#define M1D_CORR_NOISE 0.25
#define M1D_IID_NOISE 0.02
#define M1D_SHEAR 0.75
#define M1D_TRAIN_SPLIT 0.8
#define M1D_EPS 1e-8
#define M1D_SIGMA 2                                  /* gaussian_filter(noise, 2) */
#define M1D_RADIUS 8                                 /* int(4.0 * sigma + 0.5) */

/* The raw digits of get_templates(), before their normalisation. */
static const double m1d_raw[M1D_CLASSES][M1D_TEMPLATE_LEN] = {
  { 5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5 },
  { 5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5 },
  { 5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5 },
  { 5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5 },
  { 5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5 },
  { 5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5 },
  { 5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5 },
  { 5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5 },
  { 5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5 },
  { 5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5 },
};

const char *m1d_check(const m1d_opts *o) {
  if (o->samples < M1D_CLASSES || o->samples > M1D_MAX_SAMPLES || o->samples % M1D_CLASSES)
    return "--samples must be a multiple of 10 in [10, 10000000] (the classes are balanced)";
  if (o->length < 1 || o->length > M1D_MAX_LENGTH)
    return "--length must be in [1, 100000]";
  if (o->samples * o->length > M1D_MAX_VALUES)
    return "--samples x --length must be at most 2^28 values (2 GiB)";
  if (o->seed < 0 || o->seed > (int64_t)UINT32_MAX)
    return "--seed must be an integer in [0, 4294967295] (NumPy's legacy seed)";
  return NULL;
}

/* NumPy's pairwise summation (add.reduce over a contiguous float64 run): blocks of at most
 * 128 summed in 8 lanes, halves above that. Its rounding differs from a plain loop's. */
static double m1d_sum(const double *a, size_t n) {
  if (n < 8) {
    double s = 0.;
    for (size_t i = 0; i < n; i++) s += a[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    size_t i;
    for (int j = 0; j < 8; j++) r[j] = a[j];
    for (i = 8; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) s += a[i];
    return s;
  }
  size_t h = n / 2;
  h -= h % 8;
  return m1d_sum(a, h) + m1d_sum(a + h, n - h);
}

/* x.mean() (0. + the pairwise sum, divided by n). */
static double m1d_mean(const double *a, size_t n) { return (0. + m1d_sum(a, n)) / (double)n; }

/* x.std() (population): the mean of the squared deviations, through a scratch buffer. */
static double m1d_std(const double *a, size_t n, double *scratch) {
  double m = m1d_mean(a, n);
  for (size_t i = 0; i < n; i++) scratch[i] = (a[i] - m) * (a[i] - m);
  return sqrt(m1d_mean(scratch, n));
}

void m1d_templates(double t[M1D_CLASSES][M1D_TEMPLATE_LEN]) {
  double dev[M1D_TEMPLATE_LEN];
  for (int c = 0; c < M1D_CLASSES; c++) {
    double *x = t[c];
    memcpy(x, m1d_raw[c], sizeof m1d_raw[c]);
    double m = m1d_mean(x, M1D_TEMPLATE_LEN);          /* x -= x.mean(1) */
    for (int i = 0; i < M1D_TEMPLATE_LEN; i++) x[i] -= m;
    double s = m1d_std(x, M1D_TEMPLATE_LEN, dev);      /* x /= x.std(1) */
    for (int i = 0; i < M1D_TEMPLATE_LEN; i++) x[i] /= s;
    double x0 = x[0];                                  /* x -= x[:, :1]: starts at 0 */
    for (int i = 0; i < M1D_TEMPLATE_LEN; i++) x[i] = (x[i] - x0) / 6.;
  }
}

/* np.linspace(lo, hi, n): i * step + lo, the last point exactly hi. */
static void m1d_linspace(double *y, int64_t n, double lo, double hi) {
  if (n == 1) { y[0] = lo; return; }
  double step = (hi - lo) / (double)(n - 1);
  for (int64_t i = 0; i < n; i++) y[i] = (double)i * step + lo;
  y[n - 1] = hi;
}

/* interpolate(): scipy's linear interp1d, which is np.interp, from y on linspace(0, 1, n)
 * to out on linspace(0, 1, m). xs: scratch of n + m doubles. */
static void m1d_interp(const double *y, int64_t n, double *out, int64_t m, double *xs) {
  double *xp = xs, *xq = xs + n;
  m1d_linspace(xp, n, 0, 1);
  m1d_linspace(xq, m, 0, 1);
  int64_t j = 0;
  for (int64_t i = 0; i < m; i++) {
    while (j + 1 < n && xp[j + 1] <= xq[i]) j++;     /* xp[j] <= xq[i] < xp[j + 1] */
    if (j == n - 1) {
      out[i] = y[j];
    } else {
      double slope = (y[j + 1] - y[j]) / (xp[j + 1] - xp[j]);
      out[i] = slope * (xq[i] - xp[j]) + y[j];
    }
  }
}

/* scipy.ndimage.gaussian_filter(in, 2) on 72 points: the normalised kernel truncated at
 * radius 8, mode "reflect" (d c b a | a b c d | d c b a), in the order of scipy's loop for
 * a symmetric kernel. */
static void m1d_smooth(const double *in, double *out) {
  double w[2 * M1D_RADIUS + 1];
  for (int x = -M1D_RADIUS; x <= M1D_RADIUS; x++)
    w[x + M1D_RADIUS] = exp(-0.5 / (M1D_SIGMA * M1D_SIGMA) * (double)(x * x));
  double sum = m1d_sum(w, 2 * M1D_RADIUS + 1);
  for (int k = 0; k < 2 * M1D_RADIUS + 1; k++) w[k] /= sum;
  double ext[M1D_WIDE + 2 * M1D_RADIUS];
  for (int i = -M1D_RADIUS; i < M1D_WIDE + M1D_RADIUS; i++) {
    int r = i < 0 ? -i - 1 : i >= M1D_WIDE ? 2 * M1D_WIDE - 1 - i : i;
    ext[i + M1D_RADIUS] = in[r];
  }
  const double *fw = w + M1D_RADIUS;
  for (int l = 0; l < M1D_WIDE; l++) {
    const double *p = ext + M1D_RADIUS + l;
    double o = p[0] * fw[0];
    for (int jj = -M1D_RADIUS; jj < 0; jj++) o += (p[jj] + p[-jj]) * fw[jj];
    out[l] = o;
  }
}

/* Steps 1-2: the template (+ eps), p zeros, stretched to 72 points. */
static void m1d_pad_stretch(mt_state *s, const double *tmpl, double *a, double *xs) {
  int64_t p = M1D_PAD_LO + (int64_t)(mt_double(s) * (M1D_PAD_HI - M1D_PAD_LO + 1));
  double padded[M1D_WIDE] = { 0 };
  for (int i = 0; i < M1D_TEMPLATE_LEN; i++) padded[i] = tmpl[i] + M1D_EPS;
  m1d_interp(padded, M1D_TEMPLATE_LEN + p, a, M1D_WIDE, xs);
}

/* Step 4: rotate right by k (concatenate([x[-k:], x[:-k]])). */
static void m1d_translate(mt_state *s, double *a) {
  int64_t k = (int64_t)mt_below(s, M1D_MAX_TRANSLATION);
  double t[M1D_WIDE];
  for (int i = 0; i < M1D_WIDE; i++) t[(i + k) % M1D_WIDE] = a[i];
  memcpy(a, t, sizeof t);
}

/* Steps 5-6: smoothed noise where the signal is exactly 0, then iid noise everywhere. */
static void m1d_noise(mt_state *s, double *a) {
  double n[M1D_WIDE], c[M1D_WIDE];
  for (int i = 0; i < M1D_WIDE; i++) n[i] = M1D_CORR_NOISE * mt_gauss(s);
  m1d_smooth(n, c);
  for (int i = 0; i < M1D_WIDE; i++)
    if (a[i] == 0) a[i] = c[i];
  for (int i = 0; i < M1D_WIDE; i++) a[i] = a[i] + M1D_IID_NOISE * mt_gauss(s);
}

/* transform(): one sample of the given template, resampled to `length` points. */
static void m1d_sample(mt_state *s, const double *tmpl, double *out, int64_t length,
                       double *xs) {
  double a[M1D_WIDE], lin[M1D_WIDE];
  m1d_pad_stretch(s, tmpl, a, xs);
  double scale = 1 + M1D_SCALE_COEFF * (mt_double(s) - 0.5);
  for (int i = 0; i < M1D_WIDE; i++) a[i] *= scale;
  m1d_translate(s, a);
  m1d_noise(s, a);
  double coeff = M1D_SHEAR * (mt_double(s) - 0.5);
  m1d_linspace(lin, M1D_WIDE, -0.5, 0.5);
  for (int i = 0; i < M1D_WIDE; i++) a[i] = a[i] - coeff * lin[i];
  m1d_interp(a, M1D_WIDE, out, length, xs);
}

/* (xs - xs.mean()) / xs.std() over the whole array. */
static void m1d_standardise(double *x, size_t n, double *scratch) {
  double m = m1d_mean(x, n), s = m1d_std(x, n, scratch);
  for (size_t i = 0; i < n; i++) x[i] = (x[i] - m) / s;
}

void m1d_free(m1d_data *d) {
  free(d->x);
  free(d->y);
  d->x = NULL;
  d->y = NULL;
}

/* Samples class by class into raw (make_dataset's loop). */
static void m1d_generate(mt_state *s, const m1d_opts *o, double *raw, double *xs) {
  double t[M1D_CLASSES][M1D_TEMPLATE_LEN];
  m1d_templates(t);
  int64_t per_class = o->samples / M1D_CLASSES;
  for (int64_t i = 0; i < o->samples; i++)
    m1d_sample(s, t[i / per_class], raw + i * o->length, o->length, xs);
}

int m1d_make(const m1d_opts *o, m1d_data *d) {
  size_t n = (size_t)o->samples, len = (size_t)o->length;
  *d = (m1d_data){ .samples = o->samples, .length = o->length,
                   .train = (int64_t)((double)o->samples * M1D_TRAIN_SPLIT) };
  double *raw = malloc(n * len * sizeof *raw);
  double *xs = malloc((M1D_WIDE + len + M1D_WIDE) * sizeof *xs);
  int64_t *perm = malloc(n * sizeof *perm);
  d->x = malloc(n * len * sizeof *d->x);
  d->y = malloc(n * sizeof *d->y);
  int rc = -1;
  if (raw && xs && perm && d->x && d->y) {
    mt_state s;
    mt_seed(&s, (uint32_t)o->seed);
    m1d_generate(&s, o, raw, xs);
    mt_permutation(&s, perm, o->samples);            /* np.random.permutation(len(ys)) */
    for (size_t i = 0; i < n; i++) {
      memcpy(d->x + i * len, raw + (size_t)perm[i] * len, len * sizeof *raw);
      d->y[i] = perm[i] / (o->samples / M1D_CLASSES);
    }
    m1d_standardise(d->x, n * len, raw);            /* raw is free again: the scratch */
    rc = 0;
  }
  free(raw);
  free(xs);
  free(perm);
  if (rc) m1d_free(d);
  return rc;
}
