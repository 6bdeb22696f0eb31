/*
 * vle_data.c - the small data chores of the examples, in one dependency-free C program.
 *
 *   vle_data square OUT.npy --batch B --steps N [--dt 0.01] [--half-period 2] [--sigma 5]
 *                           [--seed 1]
 *       a +-1 square wave of the given half-period (model time), shifted in time by a random
 *       amount per batch element (uniform over one period), smoothed by a Gaussian of sigma
 *       steps; shape [B, N, 1] (the lagline experiment of the GLE paper).
 *   vle_data uniform OUT.npy --n N [--lo 0] [--hi 1] [--min -inf] [--seed 1]
 *       N draws from U(lo, hi), raised to at least min; shape [N] (a parameter's initial value).
 *   vle_data delay IN.npy OUT.npy [--by 1]
 *       the recording delayed by `by` steps along its steps axis (axis 0 of [steps, n], axis 1
 *       of [batch, steps, n]), the first value repeated: turns a teacher's recorded rate into
 *       a student's target (the model's output at step k is the rate published at k-1).
 *   vle_data print FILE.npy ...
 *       the values of small arrays, one file a line.
 *   vle_data compare FILE.npy EXPECTED
 *       the (first) value of FILE, EXPECTED, and the relative error in percent.
 *   vle_data get FILE.npy [--at I]
 *       element I of FILE (flat index; negative counts from the end; default 0), in full
 *       precision: for scripts (e.g. a parameter's value at the start of its trajectory).
 *   vle_data mean FILE.npy [--last FRAC | --first FRAC]
 *       the mean of the last (or the first) FRAC (default 1: all) of FILE's elements (e.g. a
 *       run's final loss, or its loss before learning has acted).
 *   vle_data xcorr A.npy B.npy [--from K0] [--to K1] [--max-lag L]
 *       per neuron (last axis, batch element 0): the lag (steps; positive = B later than A)
 *       where the cross-correlation of A and B peaks, its value, and the gain std(B)/std(A).
 *   vle_data adjoint G.npy OUT.npy --tau-m A0,A1,... --tau-r B0,B1,... [--dt 0.01]
 *       the exact (continuous adjoint) errors of a GLE population from its back-propagated
 *       error g (docs/theory.md §4a with q = 1): e = (b/a) g + w, a dw/dt = w - (1 - b/a) g,
 *       w(T) = 0, integrated backward in time (Euler); a = tau_m, b = tau_r per neuron.
 *       G: [steps, n] or [batch, steps, n]. An independent reference for vlec's adjoint
 *       where g does not depend on the scheme (examples/lagnet).
 *   vle_data cosine A.npy B.npy
 *       the cosine similarity of two arrays of the same size (e.g. two gradient estimates).
 *   vle_data mnist1d DIR [--length 40] [--samples 5000] [--seed 42]
 *       the MNIST-1D dataset, exactly as published (mnist1d.c, docs/mnist1d.md): DIR/x_train.npy
 *       and DIR/x_test.npy [samples, length, 1] float64, DIR/y_train.npy and DIR/y_test.npy
 *       [samples] int64 labels; 80 % train, 20 % test. DIR is created if missing.
 *
 * .npy files: little-endian float64 (read: also float32), C order, format 1.0 (read: 1-3);
 * mnist1d's labels are int64. Writes go to a temporary file that is renamed, so a file is
 * complete or absent (mnist1d: all four files or none).
 * Build: cc -std=c17 -O2 -o vle_data vle_data.c mnist1d.c mt19937.c -lm
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mnist1d.h"

/* ---- arrays and .npy ----------------------------------------------------------------- */

typedef struct arr {
  int ndim;
  long shape[4];
  size_t count;
  double *v;
} arr;

static void die(const char *fmt, const char *a, const char *b) {
  fputs("vle_data: ", stderr);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(1);
}

static arr arr_new(int ndim, const long *shape) {
  arr a = { .ndim = ndim, .count = 1 };
  for (int d = 0; d < ndim; d++) a.shape[d] = shape[d], a.count *= (size_t)shape[d];
  a.v = calloc(a.count ? a.count : 1, sizeof *a.v);
  if (!a.v) die("%s%s", "out of memory", "");
  return a;
}

/* Parses the shape tuple of a header, e.g. "(100, 5000, 1)". */
static int parse_shape(const char *h, arr *a) {
  const char *p = strstr(h, "'shape'");
  if (!p || !(p = strchr(p, '('))) return -1;
  p++;
  a->ndim = 0;
  a->count = 1;
  while (*p && *p != ')') {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) { p++; continue; }
    if (a->ndim == 4 || v < 0) return -1;
    a->shape[a->ndim++] = v;
    a->count *= (size_t)v;
    p = end;
  }
  return *p == ')' ? 0 : -1;
}

static arr npy_load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die("%s: %s", path, strerror(errno));
  unsigned char pre[10];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) die("%s: %s", path, "not an .npy file");
  size_t hlen = pre[8] | (size_t)pre[9] << 8;
  if (pre[6] >= 2) {                        /* versions 2 and 3: a 4-byte header length */
    unsigned char more[2];
    if (fread(more, 1, 2, f) != 2) die("%s: %s", path, "truncated header");
    hlen |= (size_t)more[0] << 16 | (size_t)more[1] << 24;
  }
  char *h = malloc(hlen + 1);
  if (!h || fread(h, 1, hlen, f) != hlen) die("%s: %s", path, "truncated header");
  h[hlen] = '\0';
  bool f4 = strstr(h, "'<f4'") != NULL;
  if (!strstr(h, "'<f8'") && !f4) die("%s: %s", path, "only float64 or float32 data");
  if (strstr(h, "'fortran_order': True")) die("%s: %s", path, "Fortran order is not supported");
  arr a;
  if (parse_shape(h, &a)) die("%s: %s", path, "bad shape in header");
  free(h);
  long shape[4];
  memcpy(shape, a.shape, sizeof shape);
  a = arr_new(a.ndim, shape);
  for (size_t i = 0; i < a.count; i++) {
    if (f4) {
      float x;
      if (fread(&x, 4, 1, f) != 1) die("%s: %s", path, "truncated data");
      a.v[i] = x;
    } else if (fread(&a.v[i], 8, 1, f) != 1) {
      die("%s: %s", path, "truncated data");
    }
  }
  fclose(f);
  return a;
}

/* Writes an .npy file of 8-byte elements (descr "<f8" or "<i8") to path, no rename.
 * Returns 0, or -1 with errno set (a partial file is removed). */
static int npy_write8(const char *path, const char *descr, int ndim, const long *shape,
                      const void *data, size_t count) {
  char hdr[256];
  int o = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int d = 0; d < ndim; d++) o += snprintf(hdr + o, sizeof hdr - (size_t)o, "%ld, ", shape[d]);
  if (ndim > 1) o -= 2;                     /* "(3,)" for one dimension, "(3, 4)" otherwise */
  else if (ndim == 1) o -= 1;
  o += snprintf(hdr + o, sizeof hdr - (size_t)o, "), }");
  /* Pad with spaces and a newline so that data starts at a multiple of 64. */
  int total = ((10 + o + 1 + 63) / 64) * 64;
  while (10 + o + 1 < total) hdr[o++] = ' ';
  hdr[o++] = '\n';
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(o & 0xff),
                            (unsigned char)(o >> 8) };
  bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)o, f) == (size_t)o &&
            fwrite(data, 8, count, f) == count;
  int saved = errno;
  if (fclose(f) != 0 || !ok) {
    if (ok) saved = errno;
    remove(path);
    errno = saved ? saved : EIO;
    return -1;
  }
  return 0;
}

static void npy_save(const char *path, const arr *a) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (npy_write8(tmp, "<f8", a->ndim, a->shape, a->v, a->count)) die("%s: %s", tmp, strerror(errno));
  if (rename(tmp, path) != 0) {
    int e = errno;
    remove(tmp);
    die("%s: %s", path, strerror(e));
  }
}

/* ---- options ------------------------------------------------------------------------- */

/* The value of --name in argv (or def). */
static double opt(int argc, char **argv, const char *name, double def) {
  for (int i = 0; i + 1 < argc; i++)
    if (!strcmp(argv[i], name)) {
      char *end;
      double v = strtod(argv[i + 1], &end);
      if (end == argv[i + 1] || *end) die("%s: not a number: %s", name, argv[i + 1]);
      return v;
    }
  return def;
}

/* splitmix64: a tiny, well-mixed generator; the seed fully determines the output. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- commands ------------------------------------------------------------------------ */

static double square_at(double t, double half_period) {
  return fmod(floor(t / half_period), 2.0) == 0 ? 1.0 : -1.0;
}

static int cmd_square(int argc, char **argv) {
  long batch = (long)opt(argc, argv, "--batch", 1), steps = (long)opt(argc, argv, "--steps", 0);
  double dt = opt(argc, argv, "--dt", 0.01), hp = opt(argc, argv, "--half-period", 2);
  double sigma = opt(argc, argv, "--sigma", 5);
  uint64_t seed = (uint64_t)opt(argc, argv, "--seed", 1);
  if (batch < 1 || steps < 1 || dt <= 0 || hp <= 0 || sigma < 0)
    die("%s%s", "square: need --batch >= 1, --steps >= 1, --dt > 0, --half-period > 0", "");
  int reach = (int)ceil(4 * sigma);            /* the kernel is cut at 4 sigma */
  double *kern = malloc((size_t)(2 * reach + 1) * sizeof *kern), ksum = 0;
  for (int j = -reach; j <= reach; j++)
    ksum += kern[j + reach] = sigma > 0 ? exp(-0.5 * j * j / (sigma * sigma)) : 1;
  arr a = arr_new(3, (long[]){ batch, steps, 1 });
  for (long b = 0; b < batch; b++) {
    /* Shift past 0 so that the wave is evaluated at non-negative times only. */
    double shift = 2 * hp * (1 + rng_uniform(&seed));
    for (long k = 0; k < steps; k++) {
      /* The wave is known at every time, so the kernel needs no edge handling. */
      double acc = 0;
      for (int j = -reach; j <= reach; j++)
        acc += kern[j + reach] * square_at((double)(k + j) * dt + shift, hp);
      a.v[(size_t)(b * steps + k)] = acc / ksum;
    }
  }
  npy_save(argv[0], &a);
  free(kern);
  free(a.v);
  return 0;
}

static int cmd_uniform(int argc, char **argv) {
  long n = (long)opt(argc, argv, "--n", 1);
  double lo = opt(argc, argv, "--lo", 0), hi = opt(argc, argv, "--hi", 1);
  double min = opt(argc, argv, "--min", -INFINITY);
  uint64_t seed = (uint64_t)opt(argc, argv, "--seed", 1);
  if (n < 1 || !(hi >= lo)) die("%s%s", "uniform: need --n >= 1 and --hi >= --lo", "");
  arr a = arr_new(1, (long[]){ n });
  for (long i = 0; i < n; i++) {
    double v = lo + (hi - lo) * rng_uniform(&seed);
    a.v[i] = v < min ? min : v;
  }
  npy_save(argv[0], &a);
  free(a.v);
  return 0;
}

static int cmd_delay(int argc, char **argv) {
  if (argc < 2) die("%s%s", "delay: need IN.npy OUT.npy", "");
  arr a = npy_load(argv[0]);
  long by = (long)opt(argc, argv, "--by", 1);
  if (a.ndim < 2 || a.ndim > 3) die("%s: %s", argv[0], "expected [steps, n] or [batch, steps, n]");
  long batch = a.ndim == 3 ? a.shape[0] : 1, steps = a.shape[a.ndim - 2], n = a.shape[a.ndim - 1];
  arr out = arr_new(a.ndim, a.shape);
  for (long b = 0; b < batch; b++)
    for (long k = 0; k < steps; k++) {
      long src = k - by < 0 ? 0 : k - by >= steps ? steps - 1 : k - by;
      memcpy(&out.v[(size_t)((b * steps + k) * n)], &a.v[(size_t)((b * steps + src) * n)],
             (size_t)n * sizeof(double));
    }
  npy_save(argv[1], &out);
  free(a.v);
  free(out.v);
  return 0;
}

static int cmd_print(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    arr a = npy_load(argv[i]);
    printf("%s:", argv[i]);
    for (size_t k = 0; k < a.count && k < 32; k++) printf(" %.6g", a.v[k]);
    puts(a.count > 32 ? " ..." : "");
    free(a.v);
  }
  return 0;
}

static int cmd_compare(int argc, char **argv) {
  (void)argc;                    /* main checked that both arguments are there */
  arr a = npy_load(argv[0]);
  char *end;
  double want = strtod(argv[1], &end);
  if (end == argv[1] || *end) die("compare: not a number: %s%s", argv[1], "");
  double got = a.count ? a.v[0] : NAN;
  printf("%10.5f   (teacher %g, error %.2f %%)\n", got, want, 100 * fabs(got - want) / fabs(want));
  free(a.v);
  return 0;
}

static int cmd_get(int argc, char **argv) {
  arr a = npy_load(argv[0]);
  long at = (long)opt(argc, argv, "--at", 0);
  if (at < 0) at += (long)a.count;
  if (at < 0 || (size_t)at >= a.count) die("%s: %s", argv[0], "--at: no such element");
  printf("%.17g\n", a.v[at]);
  free(a.v);
  return 0;
}

static int cmd_mean(int argc, char **argv) {
  arr a = npy_load(argv[0]);
  /* -1: not given (a given value must lie in (0, 1]) */
  double last = opt(argc, argv, "--last", -1), first = opt(argc, argv, "--first", -1);
  if (last != -1 && first != -1) die("%s%s", "mean: --last and --first exclude each other", "");
  double frac = first != -1 ? first : last != -1 ? last : 1;
  if (!(frac > 0 && frac <= 1)) die("%s%s", "mean: --last/--first must be in (0, 1]", "");
  size_t n = (size_t)ceil(frac * (double)a.count), from = first != -1 ? 0 : a.count - n;
  if (n == 0) die("%s: %s", argv[0], "no elements");
  double s = 0;
  for (size_t i = from; i < from + n; i++) s += a.v[i];
  printf("%.17g\n", s / (double)n);
  free(a.v);
  return 0;
}

/* Pearson correlation of a[k] and b[k + lag] over k in [k0, k1). */
static double corr_at(const double *a, const double *b, long stride, long k0, long k1, long lag) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  long m = 0;
  for (long k = k0; k < k1; k++) {
    double x = a[k * stride], y = b[(k + lag) * stride];
    sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
    m++;
  }
  if (m < 2) return 0;
  double cov = sab - sa * sb / (double)m;
  double va = saa - sa * sa / (double)m, vb = sbb - sb * sb / (double)m;
  return va > 0 && vb > 0 ? cov / sqrt(va * vb) : 0;
}

static double std_of(const double *a, long stride, long k0, long k1) {
  double s = 0, ss = 0;
  for (long k = k0; k < k1; k++) s += a[k * stride], ss += a[k * stride] * a[k * stride];
  double m = (double)(k1 - k0);
  return m > 1 ? sqrt(fmax(0, ss / m - (s / m) * (s / m))) : 0;
}

static int cmd_xcorr(int argc, char **argv) {
  if (argc < 2) die("%s%s", "xcorr: need A.npy B.npy", "");
  arr a = npy_load(argv[0]), b = npy_load(argv[1]);
  if (a.ndim != b.ndim || a.count != b.count || a.ndim < 2)
    die("%s and %s: need the same shape, [steps, n] or [batch, steps, n]", argv[0], argv[1]);
  long steps = a.shape[a.ndim - 2], n = a.shape[a.ndim - 1];
  long maxlag = (long)opt(argc, argv, "--max-lag", 200);
  long k0 = (long)opt(argc, argv, "--from", (double)steps / 4);
  long k1 = (long)opt(argc, argv, "--to", 3.0 * (double)steps / 4);
  if (k0 < maxlag) k0 = maxlag;               /* keep k + lag inside the recording */
  if (k1 > steps - maxlag) k1 = steps - maxlag;
  if (k1 - k0 < 10) die("%s%s", "xcorr: window too short for --max-lag", "");
  printf("neuron    lag(steps)  peak-corr  gain std(B)/std(A)\n");
  for (long j = 0; j < n; j++) {
    long best = 0;
    double bestc = -2;
    for (long lag = -maxlag; lag <= maxlag; lag++) {
      double c = corr_at(a.v + j, b.v + j, n, k0, k1, lag);
      /* Ties (a periodic signal) go to the smallest |lag|. */
      if (c > bestc + 1e-12 || (fabs(c - bestc) <= 1e-12 && labs(lag) < labs(best)))
        bestc = c, best = lag;
    }
    double sa = std_of(a.v + j, n, k0, k1), sb = std_of(b.v + j, n, k0, k1);
    printf("%6ld    %10ld  %9.4f  %9.4f\n", j, best, bestc, sa > 0 ? sb / sa : NAN);
  }
  free(a.v);
  free(b.v);
  return 0;
}

/* The values of --name "v0,v1,..." (exactly n of them, or one that is broadcast). */
static void opt_vec(int argc, char **argv, const char *name, double *out, long n) {
  for (int i = 0; i + 1 < argc; i++) {
    if (strcmp(argv[i], name)) continue;
    const char *p = argv[i + 1];
    long k = 0;
    for (;;) {
      char *end;
      double v = strtod(p, &end);
      if (end == p || k == n) die("%s: expected one value or one per neuron: %s", name, argv[i + 1]);
      out[k++] = v;
      if (*end != ',') { if (*end) die("%s: not a number list: %s", name, argv[i + 1]); break; }
      p = end + 1;
    }
    if (k == 1) for (long j = 1; j < n; j++) out[j] = out[0];
    else if (k != n) die("%s: expected one value or one per neuron: %s", name, argv[i + 1]);
    return;
  }
  die("adjoint: %s is required%s", name, "");
}

static int cmd_adjoint(int argc, char **argv) {
  arr g = npy_load(argv[0]);
  if (g.ndim < 2 || g.ndim > 3) die("%s: %s", argv[0], "expected [steps, n] or [batch, steps, n]");
  long batch = g.ndim == 3 ? g.shape[0] : 1, steps = g.shape[g.ndim - 2], n = g.shape[g.ndim - 1];
  double dt = opt(argc, argv, "--dt", 0.01);
  double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
  if (!a || !b) die("%s%s", "out of memory", "");
  opt_vec(argc, argv, "--tau-m", a, n);
  opt_vec(argc, argv, "--tau-r", b, n);
  for (long j = 0; j < n; j++)
    if (!(a[j] > 0 && b[j] > 0)) die("%s%s", "adjoint: time constants must be positive", "");
  arr e = arr_new(g.ndim, g.shape);
  for (long bt = 0; bt < batch; bt++)
    for (long j = 0; j < n; j++) {
      double w = 0;                          /* w(T) = 0 */
      for (long k = steps - 1; k >= 0; k--) {
        size_t i = (size_t)((bt * steps + k) * n + j);
        e.v[i] = b[j] / a[j] * g.v[i] + w;
        w -= dt * (w - (1 - b[j] / a[j]) * g.v[i]) / a[j];    /* one step back in time */
      }
    }
  npy_save(argv[1], &e);
  free(a); free(b); free(g.v); free(e.v);
  return 0;
}

static int cmd_cosine(int argc, char **argv) {
  if (argc < 2) die("%s%s", "cosine: need A.npy B.npy", "");
  arr a = npy_load(argv[0]), b = npy_load(argv[1]);
  if (a.count != b.count) die("%s and %s: different sizes", argv[0], argv[1]);
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.count; i++) ab += a.v[i] * b.v[i], aa += a.v[i] * a.v[i], bb += b.v[i] * b.v[i];
  printf("%.6f\n", aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : NAN);
  free(a.v);
  free(b.v);
  return 0;
}

/* ---- mnist1d ------------------------------------------------------------------------- */

/* An integer option: the whole text must be a decimal integer. */
static int64_t int_arg(const char *name, const char *text) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end || errno == ERANGE) die("mnist1d: %s: not an integer: %s", name, text);
  return v;
}

/* DIR and the options into o. An unknown option is an error: a typo must not silently
 * give the defaults (a dataset of the wrong length). */
static const char *mnist1d_args(int argc, char **argv, m1d_opts *o) {
  const char *dir = NULL;
  for (int i = 0; i < argc; i++) {
    int64_t *slot = !strcmp(argv[i], "--length")  ? &o->length
                  : !strcmp(argv[i], "--samples") ? &o->samples
                  : !strcmp(argv[i], "--seed")    ? &o->seed : NULL;
    if (slot) {
      if (i + 1 == argc) die("mnist1d: %s needs a value%s", argv[i], "");
      *slot = int_arg(argv[i], argv[i + 1]);
      i++;
    } else if (argv[i][0] == '-') {
      die("mnist1d: unknown option %s%s", argv[i], " (expected --length, --samples or --seed)");
    } else if (dir) {
      die("mnist1d: one output directory expected, got %s and %s", dir, argv[i]);
    } else {
      dir = argv[i];
    }
  }
  if (!dir) die("%s%s", "mnist1d: need an output directory", "");
  const char *bad = m1d_check(o);
  if (bad) die("mnist1d: %s%s", bad, "");
  return dir;
}

/* Creates dir if missing; returns whether it did (to remove it again on failure). */
static bool make_dir(const char *dir) {
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) die("%s: %s", dir, "exists and is not a directory");
    return false;
  }
  if (mkdir(dir, 0777) != 0) die("%s: %s", dir, strerror(errno));
  return true;
}

typedef struct npy_out {
  const char *name, *descr;
  int ndim;
  long shape[3];
  const void *data;
  size_t count;
} npy_out;

/* Writes the n files into dir: all to temporary files first, then renamed, so that a
 * failure leaves none of them (and no directory this call created). */
static void write_set(const char *dir, bool made, const npy_out *f, int n) {
  char tmp[4][4096], dst[4][4096];
  for (int i = 0; i < n; i++)
    if ((size_t)snprintf(dst[i], sizeof dst[i], "%s/%s", dir, f[i].name) >= sizeof dst[i] - 4)
      die("%s: %s", dir, "path too long");
  for (int i = 0; i < n; i++) {
    snprintf(tmp[i], sizeof tmp[i], "%s.tmp", dst[i]);
    if (npy_write8(tmp[i], f[i].descr, f[i].ndim, f[i].shape, f[i].data, f[i].count)) {
      int e = errno;
      for (int k = 0; k < i; k++) remove(tmp[k]);
      if (made) rmdir(dir);
      die("%s: %s", tmp[i], strerror(e));
    }
  }
  for (int i = 0; i < n; i++)
    if (rename(tmp[i], dst[i]) != 0) {
      int e = errno;
      for (int k = 0; k < n; k++) remove(k < i ? dst[k] : tmp[k]);
      if (made) rmdir(dir);
      die("%s: %s", dst[i], strerror(e));
    }
}

static int cmd_mnist1d(int argc, char **argv) {
  m1d_opts o = M1D_DEFAULTS;
  const char *dir = mnist1d_args(argc, argv, &o);
  m1d_data d;
  if (m1d_make(&o, &d)) die("%s%s", "mnist1d: out of memory", "");
  long tr = (long)d.train, te = (long)(d.samples - d.train), len = (long)d.length;
  const npy_out files[4] = {
    { "x_train.npy", "<f8", 3, { tr, len, 1 }, d.x, (size_t)(tr * len) },
    { "x_test.npy", "<f8", 3, { te, len, 1 }, d.x + tr * len, (size_t)(te * len) },
    { "y_train.npy", "<i8", 1, { tr }, d.y, (size_t)tr },
    { "y_test.npy", "<i8", 1, { te }, d.y + tr, (size_t)te },
  };
  write_set(dir, make_dir(dir), files, 4);
  printf("mnist1d: %s: %ld train + %ld test samples of length %ld (seed %lld)\n", dir, tr, te,
         len, (long long)o.seed);
  m1d_free(&d);
  return 0;
}

int main(int argc, char **argv) {
  static const struct { const char *name; int (*fn)(int, char **); int min_args; } cmds[] = {
    { "square", cmd_square, 1 }, { "uniform", cmd_uniform, 1 }, { "delay", cmd_delay, 2 },
    { "print", cmd_print, 1 },   { "xcorr", cmd_xcorr, 2 },     { "cosine", cmd_cosine, 2 },
    { "compare", cmd_compare, 2 }, { "get", cmd_get, 1 },       { "mean", cmd_mean, 1 },
    { "adjoint", cmd_adjoint, 2 }, { "mnist1d", cmd_mnist1d, 1 },
  };
  for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(argv[1], cmds[i].name)) {
      if (argc - 2 < cmds[i].min_args) break;
      return cmds[i].fn(argc - 2, argv + 2);
    }
  fputs("usage: vle_data square|uniform|delay|print|compare|get|mean|adjoint|xcorr|cosine|mnist1d ... (see the top of vle_data.c)\n",
        stderr);
  return 2;
}
