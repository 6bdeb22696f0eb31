/* gle_common.h: what every C baseline of the benchmark suite shares.
 *
 *   - the precision switch (f64 by default, -DGLE_F32 for float);
 *   - the benchmark network: sizes, time constants, inputs and targets as functions of t,
 *     hyper-parameters, deterministic initialisation. The NumPy/PyTorch baselines
 *     (bench/py/gle_common.py) and the .vle models (bench/models/gen_models.py) define exactly
 *     the same network; keep the three in step, or the checksums of bench/run.sh stop agreeing;
 *   - the state of a layered GLE network and the parts of the step that are the same in every
 *     baseline (errors, neuronal dynamics), so that a baseline only has to supply the
 *     weight-matrix part (fused sweep, BLAS, ...);
 *   - command line, timing, checksum, a minimal .npy reader/writer.
 *
 * The step is docs/theory.md §6 (sync Euler, prospective errors): at step k every
 * population reads only what was published at step k-1 (rates r, phi'(u_breve) and the
 * back-projected errors W^T e computed with the weights before that step's update).
 * Written as a header of static functions so that each program is one translation unit
 * and the compiler can inline across it. */
#ifndef GLE_COMMON_H
#define GLE_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifdef GLE_F32
typedef float real;
#define PREC_NAME "f32"
#define R_TANH tanhf
#define R_EXP expf
#else
typedef double real;
#define PREC_NAME "f64"
#define R_TANH tanh
#define R_EXP exp
#endif

#define GLE_MAX_LAYERS 16

enum phi_kind { PHI_LINEAR, PHI_TANH, PHI_SIGMOID };

/* ------------------------------------------------------------------------------------------ */
/* Benchmark network definition (mirror: bench/py/gle_common.py, bench/models/gen_models.py)  */
/* ------------------------------------------------------------------------------------------ */

#define BENCH_DT 0.05
#define BENCH_GAMMA 0.1
#define BENCH_BETA 1.0
#define BENCH_ETA 1e-4
#define BENCH_SEED 20240917ULL

/* numpy.linspace, computed the way NumPy computes it (start + i*step, last point exact), so
 * that the NumPy baseline gets bit-identical time constants and input frequencies. */
static void linspace(double *out, double lo, double hi, int n) {
    if (n == 1) { out[0] = lo; return; }
    double step = (hi - lo) / (double)(n - 1);
    for (int i = 0; i < n; i++) out[i] = (double)i * step + lo;
    out[n - 1] = hi;
}

/* splitmix64 as a counter-based generator: value k of the stream with key `seed`. Counter-based
 * (rather than sequential) so NumPy can produce the same numbers vectorised. */
static inline uint64_t splitmix64_at(uint64_t seed, uint64_t k) {
    uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* uniform in [0,1) from the top 53 bits */
static inline double u01_at(uint64_t seed, uint64_t k) {
    return (double)(splitmix64_at(seed, k) >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------------------------------------ */
/* Network state                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* One population p = 1..L-1 (p = 0 is the clamped input). Batch-major: x[b*n + i]. */
typedef struct {
    int n;
    enum phi_kind phi;
    real *tau_m, *tau_r;   /* [n] */
    real *u, *v;           /* membrane potential, prospective-error state [B*n] */
    real *r, *dphi;        /* published rate phi(u_breve) and phi'(u_breve) [B*n] */
    real *bp;              /* published back-projection W_{p+1}^T e_{p+1} [B*n] (hidden only) */
    real *e;               /* this step's error [B*n] */
    real *drive;           /* this step's W r_pre + b, from the weight sweep [B*n] */
    real *W;               /* weights into p: [n x n_pre], row-major */
    real *b;               /* bias [n] */
} gle_pop;

typedef struct {
    int L;                 /* number of layers including the input */
    int sizes[GLE_MAX_LAYERS];
    int B;
    double dt, gamma, beta, eta;
    gle_pop pop[GLE_MAX_LAYERS];   /* pop[0] unused except n */
    real *x;               /* input at t_k [B*n0] */
    real *y;               /* target at t_k [B*n_out] */
    double *xbuf, *ybuf;   /* one sample of x(t), y*(t), evaluated in double */
    /* the input and target streams */
    void (*input_fn)(const void *ctx, double t, double *x);
    void (*target_fn)(const void *ctx, double t, double *y);
    const void *io_ctx;
    long step;             /* k */
} gle_net;

static void *xcalloc(size_t n, size_t sz) {
    /* 64-byte aligned, zeroed: aligned rows help the vectorised sweeps */
    size_t bytes = n * sz;
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(3); }
    memset(p, 0, bytes);
    return p;
}

static void net_alloc(gle_net *net, int L, const int *sizes, int B) {
    memset(net, 0, sizeof *net);
    net->L = L;
    net->B = B;
    for (int l = 0; l < L; l++) net->sizes[l] = sizes[l];
    net->pop[0].n = sizes[0];
    for (int p = 1; p < L; p++) {
        gle_pop *P = &net->pop[p];
        int n = sizes[p], m = sizes[p - 1];
        P->n = n;
        P->phi = (p == L - 1) ? PHI_LINEAR : PHI_TANH;
        P->tau_m = xcalloc(n, sizeof(real));
        P->tau_r = xcalloc(n, sizeof(real));
        P->u = xcalloc((size_t)B * n, sizeof(real));
        P->v = xcalloc((size_t)B * n, sizeof(real));
        P->r = xcalloc((size_t)B * n, sizeof(real));
        P->dphi = xcalloc((size_t)B * n, sizeof(real));
        P->bp = xcalloc((size_t)B * n, sizeof(real));
        P->e = xcalloc((size_t)B * n, sizeof(real));
        P->drive = xcalloc((size_t)B * n, sizeof(real));
        P->W = xcalloc((size_t)n * m, sizeof(real));
        P->b = xcalloc(n, sizeof(real));
    }
    net->x = xcalloc((size_t)B * sizes[0], sizeof(real));
    net->y = xcalloc((size_t)B * sizes[L - 1], sizeof(real));
    net->xbuf = xcalloc(sizes[0], sizeof(double));
    net->ybuf = xcalloc(sizes[L - 1], sizeof(double));
}

/* All states start at zero (docs/theory.md §6.5), the published rates and phi' included. */
static void net_zero_state(gle_net *net) {
    for (int p = 1; p < net->L; p++) {
        gle_pop *P = &net->pop[p];
        size_t bn = (size_t)net->B * P->n;
        memset(P->u, 0, bn * sizeof(real));
        memset(P->v, 0, bn * sizeof(real));
        memset(P->r, 0, bn * sizeof(real));
        memset(P->dphi, 0, bn * sizeof(real));
        memset(P->bp, 0, bn * sizeof(real));
        memset(P->e, 0, bn * sizeof(real));
        memset(P->drive, 0, bn * sizeof(real));
    }
    net->step = 0;
}

/* The benchmark's input/target streams: x_i(t) = sin(wx_i t + px_i),
 * y_j(t) = 0.5 sin(wy_j t + py_j), frequencies and phases from linspace. Every batch sample
 * sees the same stream (a default stream of t has no batch index; the work is the same). */
typedef struct { int nx, ny; double *wx, *px, *wy, *py; } bench_io;

static void bench_input(const void *ctx, double t, double *x) {
    const bench_io *io = ctx;
    for (int i = 0; i < io->nx; i++) x[i] = sin(io->wx[i] * t + io->px[i]);
}
static void bench_target(const void *ctx, double t, double *y) {
    const bench_io *io = ctx;
    for (int j = 0; j < io->ny; j++) y[j] = 0.5 * sin(io->wy[j] * t + io->py[j]);
}

static bench_io *bench_io_new(int nx, int ny) {
    bench_io *io = calloc(1, sizeof *io);
    io->nx = nx; io->ny = ny;
    io->wx = calloc(nx, sizeof(double)); io->px = calloc(nx, sizeof(double));
    io->wy = calloc(ny, sizeof(double)); io->py = calloc(ny, sizeof(double));
    linspace(io->wx, 0.5, 2.0, nx);
    linspace(io->px, 0.0, 3.0, nx);
    linspace(io->wy, 0.3, 1.1, ny);
    linspace(io->py, 1.0, 2.0, ny);
    return io;
}

/* Time constants of every population: tau_m = linspace(0.5, 1.5, n),
 * tau_r = linspace(0.1, 0.5, n). Weights and biases: uniform(-a, a), a = 1/sqrt(n_pre)
 * (PyTorch's nn.Linear default), from one splitmix64 stream in the order W1, b1, W2, b2, ...
 * Values are drawn in double and rounded to `real`. */
static void bench_init(gle_net *net, const bench_io *io) {
    net->dt = BENCH_DT; net->gamma = BENCH_GAMMA; net->beta = BENCH_BETA; net->eta = BENCH_ETA;
    net->input_fn = bench_input; net->target_fn = bench_target; net->io_ctx = io;
    uint64_t k = 0;
    for (int p = 1; p < net->L; p++) {
        gle_pop *P = &net->pop[p];
        int n = P->n, m = net->sizes[p - 1];
        double *tmp = malloc(sizeof(double) * n);
        linspace(tmp, 0.5, 1.5, n);
        for (int i = 0; i < n; i++) P->tau_m[i] = (real)tmp[i];
        linspace(tmp, 0.1, 0.5, n);
        for (int i = 0; i < n; i++) P->tau_r[i] = (real)tmp[i];
        free(tmp);
        double a = 1.0 / sqrt((double)m);
        for (size_t q = 0; q < (size_t)n * m; q++) P->W[q] = (real)(a * (2.0 * u01_at(BENCH_SEED, k++) - 1.0));
        for (int i = 0; i < n; i++) P->b[i] = (real)(a * (2.0 * u01_at(BENCH_SEED, k++) - 1.0));
    }
    net_zero_state(net);
}

/* ------------------------------------------------------------------------------------------ */
/* The vector parts of the step, shared by every C baseline                                   */
/* ------------------------------------------------------------------------------------------ */

/* Evaluate x(t_k), y*(t_k) (in double, once per step) and broadcast to the batch. */
static void step_io(gle_net *net) {
    double t = (double)net->step * net->dt;
    int nx = net->sizes[0], ny = net->sizes[net->L - 1];
    net->input_fn(net->io_ctx, t, net->xbuf);
    net->target_fn(net->io_ctx, t, net->ybuf);
    for (int b = 0; b < net->B; b++) {
        for (int i = 0; i < nx; i++) net->x[(size_t)b * nx + i] = (real)net->xbuf[i];
        for (int j = 0; j < ny; j++) net->y[(size_t)b * ny + j] = (real)net->ybuf[j];
    }
}

/* Phase A: errors of every population, from published values only.
 *   g = phi'_pub * bp_pub (hidden),  g = beta phi'_pub * (y* - r_pub) (output);
 *   prospective errors: vdot = (g - v)/tau_r, e = v + tau_m vdot, v += dt vdot. */
static void step_errors(gle_net *net) {
    const real dt = (real)net->dt, beta = (real)net->beta;
    for (int p = 1; p < net->L; p++) {
        gle_pop *P = &net->pop[p];
        const int n = P->n, out = (p == net->L - 1);
        for (int bb = 0; bb < net->B; bb++) {
            const size_t o = (size_t)bb * n;
            real *restrict v = P->v + o, *restrict e = P->e + o;
            const real *restrict dphi = P->dphi + o, *restrict bp = P->bp + o, *restrict r = P->r + o;
            const real *restrict y = net->y + o; /* only read when out (then n == n_out) */
            const real *restrict tm = P->tau_m, *restrict tr = P->tau_r;
            if (out) {
#pragma omp simd
                for (int i = 0; i < n; i++) {
                    real g = beta * dphi[i] * (y[i] - r[i]);
                    real vd = (g - v[i]) / tr[i];
                    e[i] = v[i] + tm[i] * vd;
                    v[i] += dt * vd;
                }
            } else {
#pragma omp simd
                for (int i = 0; i < n; i++) {
                    real g = dphi[i] * bp[i];
                    real vd = (g - v[i]) / tr[i];
                    e[i] = v[i] + tm[i] * vd;
                    v[i] += dt * vd;
                }
            }
        }
    }
}

/* Phase C: neuronal dynamics of population p, given drive = W r_pre + b (old W, old b):
 *   udot = (gamma e - (u - drive)) / tau_m,  u_breve = u + tau_r udot (old u),
 *   u += dt udot,  publish r = phi(u_breve), phi'(u_breve). */
static void step_dynamics(gle_net *net, int p) {
    gle_pop *P = &net->pop[p];
    const real dt = (real)net->dt, gamma = (real)net->gamma;
    const int n = P->n;
    for (int bb = 0; bb < net->B; bb++) {
        const size_t o = (size_t)bb * n;
        real *restrict u = P->u + o, *restrict r = P->r + o, *restrict dphi = P->dphi + o;
        const real *restrict e = P->e + o, *restrict drive = P->drive + o;
        const real *restrict tm = P->tau_m, *restrict tr = P->tau_r;
        /* first the linear part (vectorises), leaving u_breve in r */
#pragma omp simd
        for (int i = 0; i < n; i++) {
            real ud = (gamma * e[i] - (u[i] - drive[i])) / tm[i];
            r[i] = u[i] + tr[i] * ud;
            u[i] += dt * ud;
        }
        switch (P->phi) {
        case PHI_LINEAR:
            for (int i = 0; i < n; i++) dphi[i] = 1;
            break;
        case PHI_TANH:
            for (int i = 0; i < n; i++) { real a = R_TANH(r[i]); r[i] = a; dphi[i] = 1 - a * a; }
            break;
        case PHI_SIGMOID:
            for (int i = 0; i < n; i++) { real a = 1 / (1 + R_EXP(-r[i])); r[i] = a; dphi[i] = a * (1 - a); }
            break;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Checksums                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Sum (and sum of |.|) of all states u, v, r and all parameters W, b; and of the parameters
 * alone (that one a vle run can report too, from params/NAME.npy). Accumulated in double. */
typedef struct { double sum, abssum, psum, pabssum; } checksum_t;

static checksum_t net_checksum(const gle_net *net) {
    checksum_t c = {0, 0, 0, 0};
    for (int p = 1; p < net->L; p++) {
        const gle_pop *P = &net->pop[p];
        size_t bn = (size_t)net->B * P->n, nm = (size_t)P->n * net->sizes[p - 1];
        for (size_t q = 0; q < bn; q++) {
            c.sum += (double)P->u[q] + (double)P->v[q] + (double)P->r[q];
            c.abssum += fabs((double)P->u[q]) + fabs((double)P->v[q]) + fabs((double)P->r[q]);
        }
        for (size_t q = 0; q < nm; q++) { c.psum += P->W[q]; c.pabssum += fabs((double)P->W[q]); }
        for (int i = 0; i < P->n; i++) { c.psum += P->b[i]; c.pabssum += fabs((double)P->b[i]); }
    }
    c.sum += c.psum;
    c.abssum += c.pabssum;
    return c;
}

/* ------------------------------------------------------------------------------------------ */
/* .npy (little-endian f8/f4, C order) — just what the golden check and the vle hook need     */
/* ------------------------------------------------------------------------------------------ */

/* Read a .npy file as doubles. Returns the element count, or -1. shape[] gets up to 4 dims. */
static long npy_read(const char *path, double **out, int *ndim, long shape[4]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char hd[10];
    if (fread(hd, 1, 10, f) != 10 || memcmp(hd, "\x93NUMPY", 6) != 0) { fclose(f); return -1; }
    size_t hlen;
    if (hd[6] == 1) hlen = hd[8] | (hd[9] << 8);
    else {
        unsigned char h2[2];
        if (fread(h2, 1, 2, f) != 2) { fclose(f); return -1; }
        hlen = (size_t)hd[8] | ((size_t)hd[9] << 8) | ((size_t)h2[0] << 16) | ((size_t)h2[1] << 24);
    }
    char *h = calloc(hlen + 1, 1);
    if (fread(h, 1, hlen, f) != hlen) { free(h); fclose(f); return -1; }
    int is_f4 = strstr(h, "<f4") != NULL, is_f8 = strstr(h, "<f8") != NULL;
    if ((!is_f4 && !is_f8) || strstr(h, "'fortran_order': True")) { free(h); fclose(f); return -1; }
    char *s = strstr(h, "'shape':");
    s = s ? strchr(s, '(') : NULL;
    if (!s) { free(h); fclose(f); return -1; }
    s++;
    *ndim = 0;
    long count = 1;
    while (*s && *s != ')') {
        char *end;
        long d = strtol(s, &end, 10);
        if (end == s) { s++; continue; }
        if (*ndim < 4) shape[*ndim] = d;
        (*ndim)++;
        count *= d;
        s = end;
    }
    free(h);
    double *buf = malloc(sizeof(double) * (count ? count : 1));
    for (long q = 0; q < count; q++) {
        if (is_f8) { double d; if (fread(&d, 8, 1, f) != 1) { free(buf); fclose(f); return -1; } buf[q] = d; }
        else { float d; if (fread(&d, 4, 1, f) != 1) { free(buf); fclose(f); return -1; } buf[q] = d; }
    }
    fclose(f);
    *out = buf;
    return count;
}

/* Write a 1-D or 2-D array of `real` as .npy (for vlec --init). */
static int npy_write(const char *path, const real *a, long rows, long cols) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char dict[128];
    if (cols > 0)
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%ld, %ld), }",
                 sizeof(real) == 8 ? "<f8" : "<f4", rows, cols);
    else
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%ld,), }",
                 sizeof(real) == 8 ? "<f8" : "<f4", rows);
    size_t dl = strlen(dict), total = 10 + dl + 1;
    size_t pad = (64 - total % 64) % 64;
    unsigned short hlen = (unsigned short)(dl + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned char hl[2] = {hlen & 0xff, hlen >> 8};
    fwrite(hl, 1, 2, f);
    fwrite(dict, 1, dl, f);
    for (size_t q = 0; q < pad; q++) fputc(' ', f);
    fputc('\n', f);
    long cnt = rows * (cols > 0 ? cols : 1);
    size_t w = fwrite(a, sizeof(real), cnt, f);
    int rc = (w == (size_t)cnt) ? 0 : -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line and timing                                                                    */
/* ------------------------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* "784-300-100-10" -> sizes; returns L or -1 */
static int parse_sizes(const char *s, int *sizes) {
    int L = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1000000 || L >= GLE_MAX_LAYERS) return -1;
        sizes[L++] = (int)v;
        s = end;
        if (*s == '-' || *s == 'x' || *s == ',') s++;
        else if (*s) return -1;
    }
    return L >= 2 ? L : -1;
}

typedef struct {
    int L, sizes[GLE_MAX_LAYERS];
    char sizes_str[128];
    int B;
    long steps;
    int reps;
    double min_time;
    const char *dump_init;   /* directory: write the initial W1.npy, b1.npy, ... there, and exit */
    int npy_sum;             /* print the sum of the .npy files named after --npy-sum, and exit */
    int npy_first, npy_count;
    int golden;
    const char *golden_dir;
} bench_args;

static void usage(const char *prog, const char *impl) {
    fprintf(stderr,
            "usage: %s --sizes 784-300-100-10 [--batch B] [--steps N] [--reps R] [--min-time S]\n"
            "          [--dump-init DIR]   (write the initial parameters as W1.npy, b1.npy, ... and exit)\n"
            "       %s --npy-sum FILE.npy...   (sum and sum of |.| of the files: the vle hook's param_sum)\n"
            "       %s --golden [DIR]   (reproduce tests/data/gle_p1/expected.json)\n"
            "%s GLE training step (%s). Prints one line: impl=... steps_per_s=... checksum=...\n",
            prog, prog, prog, impl, PREC_NAME);
}

static int parse_args(int argc, char **argv, bench_args *a, const char *impl) {
    memset(a, 0, sizeof *a);
    a->B = 1; a->steps = 1000; a->reps = 5; a->min_time = 0.3;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (!strcmp(s, "--sizes") && val) {
            a->L = parse_sizes(val, a->sizes);
            if (a->L < 0) { fprintf(stderr, "bad --sizes '%s'\n", val); return 2; }
            snprintf(a->sizes_str, sizeof a->sizes_str, "%s", val);
            i++;
        } else if (!strcmp(s, "--batch") && val) { a->B = atoi(val); i++; }
        else if (!strcmp(s, "--steps") && val) { a->steps = atol(val); i++; }
        else if (!strcmp(s, "--reps") && val) { a->reps = atoi(val); i++; }
        else if (!strcmp(s, "--min-time") && val) { a->min_time = atof(val); i++; }
        else if (!strcmp(s, "--dump-init") && val) { a->dump_init = val; i++; }
        else if (!strcmp(s, "--npy-sum")) { a->npy_sum = 1; a->npy_first = i + 1; a->npy_count = argc - i - 1; return 0; }
        else if (!strcmp(s, "--golden")) {
            a->golden = 1;
            if (val && val[0] != '-') { a->golden_dir = val; i++; }
        } else { usage(argv[0], impl); return 2; }
    }
    if (!a->golden && a->L < 2) { usage(argv[0], impl); return 2; }
    if (a->B < 1 || a->steps < 1 || a->reps < 1) { fprintf(stderr, "bad --batch/--steps/--reps\n"); return 2; }
    return 0;
}

static int dump_init(const gle_net *net, const char *dir) {
    mkdir(dir, 0777);
    char path[4096];
    for (int p = 1; p < net->L; p++) {
        const gle_pop *P = &net->pop[p];
        snprintf(path, sizeof path, "%s/W%d.npy", dir, p);
        if (npy_write(path, P->W, P->n, net->sizes[p - 1])) return -1;
        snprintf(path, sizeof path, "%s/b%d.npy", dir, p);
        if (npy_write(path, P->b, P->n, 0)) return -1;
    }
    return 0;
}

/* Sum of the elements (and of their absolute values) of .npy files: lets bench/run.sh compare
 * the parameters a vle run writes (--out DIR/params/NAME.npy) with the baselines' param_sum. */
static int npy_sum_main(int count, char **files) {
    double s = 0, sa = 0;
    long total = 0;
    for (int q = 0; q < count; q++) {
        double *buf; int nd; long shape[4];
        long n = npy_read(files[q], &buf, &nd, shape);
        if (n < 0) { fprintf(stderr, "cannot read %s as a little-endian f4/f8 .npy\n", files[q]); return 1; }
        for (long k = 0; k < n; k++) { s += buf[k]; sa += fabs(buf[k]); }
        total += n;
        free(buf);
    }
    printf("npy_sum=%.17g npy_abssum=%.17g count=%ld\n", s, sa, total);
    return 0;
}

/* The timing protocol shared by the C baselines (the Python ones do the same):
 * every repetition starts from the same initial state and runs `steps` steps; the first is a
 * warm-up and is not timed; then at least `reps` timed repetitions and until `min_time`
 * seconds have been spent (at most 1000 repetitions). Report the best. The checksum is that of the state after
 * `steps` steps, identical for every repetition. */
typedef void (*step_fn)(gle_net *net, void *ws);

static int bench_main(const bench_args *a, const char *impl, step_fn step, void *(*ws_new)(gle_net *)) {
    gle_net net;
    net_alloc(&net, a->L, a->sizes, a->B);
    bench_io *io = bench_io_new(a->sizes[0], a->sizes[a->L - 1]);
    bench_init(&net, io);
    if (a->dump_init) {
        if (dump_init(&net, a->dump_init)) { fprintf(stderr, "cannot write %s\n", a->dump_init); return 1; }
        return 0;
    }
    void *ws = ws_new ? ws_new(&net) : NULL;
    double best = 1e300;
    double spent = 0;
    for (int rep = 0; ; rep++) {
        bench_init(&net, io);            /* same initial weights and zero state every repetition */
        double t0 = now_s();
        for (long k = 0; k < a->steps; k++) step(&net, ws);
        double el = now_s() - t0;
        if (rep > 0) {                   /* rep 0: warm-up */
            spent += el;
            if (el < best) best = el;
            if ((rep >= a->reps && spent >= a->min_time) || rep >= 1000) break;
        }
    }
    checksum_t c = net_checksum(&net);
    printf("impl=%s prec=%s sizes=%s batch=%d steps=%ld steps_per_s=%.6g checksum=%.17g abssum=%.17g "
           "param_sum=%.17g param_abssum=%.17g\n",
           impl, PREC_NAME, a->sizes_str, a->B, a->steps, (double)a->steps / best, c.sum, c.abssum, c.psum,
           c.pabssum);
    if (!isfinite(c.sum)) { fprintf(stderr, "%s: checksum is not finite\n", impl); return 1; }
    return 0;
}

#endif
