/* limits.c: what this machine allows a GLE step to reach, for the benchmark networks.
 *
 * 1. Memory. A batch-1 step is bound by moving the weights: the fused sweep (gle_fused.c)
 *    reads every weight once and writes it once. We time exactly that traffic pattern — a
 *    row-by-row sweep over an array the size of all the network's weights, reading each element
 *    and writing it back (w += c*x[j], x a vector in L1) — and, separately, a read-only sweep
 *    (s += w*x[j], what a forward matvec does). Repeated sweeps over the same array, best time:
 *    like the benchmark, which sweeps the same weights every step, so a network whose weights
 *    fit in the last-level cache gets cache bandwidth, not DRAM bandwidth. Bounds:
 *        mem bound (fused, one read+write pass)      = 1 / t_rw
 *        3-pass bound (gemv + gemv^T + ger, as BLAS) = 1 / (2 t_r + t_rw)
 * 2. Arithmetic. A step does three matrix products per weight matrix (R W^T, E W, E^T R; the
 *    first layer has no E W): 2 B n m flops each. The machine's rate is that of OpenBLAS GEMM on
 *    a large batched product (B = 100, 1000 x 1000 weights, one thread):
 *        flop bound = GEMM peak rate / flops per step.
 *    For batches we also time the step's GEMMs on their real shapes ("gemm-only": the weight
 *    work of gle_blas.c without the vector parts), a tighter, practical target.
 * The bound of a row is min(mem, flop); run.sh prints it beside the implementations.
 *
 * Build: gcc -O3 -march=native -fopenmp-simd limits.c -lopenblas -lm  (-DGLE_F32 for float).
 * Usage: limits --sizes 100-100-10,1000-1000-1000 --batches 1,100 [--dram] */
#pragma GCC diagnostic ignored "-Wunused-function" /* the step parts of gle_common.h */
#include "gle_common.h"

#include <cblas.h>

#ifdef GLE_F32
#define GEMM cblas_sgemm
#else
#define GEMM cblas_dgemm
#endif

static volatile double sink;

/* One sweep over rows x m columns; returns seconds. rw: read+write, else read only. */
static double sweep(real *restrict w, const real *restrict x, size_t rows, int m, int rw) {
    const real c = (real)1e-9;
    double t0 = now_s();
    if (rw) {
        for (size_t i = 0; i < rows; i++) {
            real *restrict wi = w + i * m;
#pragma omp simd
            for (int j = 0; j < m; j++) wi[j] += c * x[j];
        }
    } else {
        /* four rows at a time, as the fused sweep does: four independent FMA chains, so the loop
         * is limited by loads, not by the latency of one accumulator (rows is a multiple of 4) */
        real s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < rows; i += 4) {
            const real *restrict w0 = w + i * m, *restrict w1 = w0 + m, *restrict w2 = w1 + m, *restrict w3 = w2 + m;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int j = 0; j < m; j++) {
                s0 += w0[j] * x[j]; s1 += w1[j] * x[j]; s2 += w2[j] * x[j]; s3 += w3[j] * x[j];
            }
        }
        sink += s0 + s1 + s2 + s3;
    }
    return now_s() - t0;
}

/* Best time of one sweep over `count` elements (arranged as rows of m), after a warm-up,
 * repeated until at least `min_time` seconds and 5 sweeps. */
static double best_sweep(size_t count, int m, int rw, double min_time) {
    size_t rows = (count + m - 1) / m;
    rows = (rows + 3) & ~(size_t)3;
    real *w = xcalloc(rows * m, sizeof(real));
    real *x = xcalloc(m, sizeof(real));
    for (size_t q = 0; q < rows * m; q++) w[q] = (real)(q % 7) * (real)0.1;
    for (int j = 0; j < m; j++) x[j] = (real)1;
    sweep(w, x, rows, m, rw);
    double best = 1e300, spent = 0;
    for (int it = 0; it < 1000 && (it < 5 || spent < min_time); it++) {
        double t = sweep(w, x, rows, m, rw);
        spent += t;
        if (t < best) best = t;
    }
    free(w);
    free(x);
    return best;
}

/* Time the GEMMs of one batched step of the network (weights and states random-ish). */
static double best_gemm_step(int L, const int *sizes, int B, double min_time, double *flops) {
    real *W[GLE_MAX_LAYERS], *R[GLE_MAX_LAYERS], *E[GLE_MAX_LAYERS], *D[GLE_MAX_LAYERS], *BP[GLE_MAX_LAYERS];
    *flops = 0;
    for (int p = 1; p < L; p++) {
        int n = sizes[p], m = sizes[p - 1];
        W[p] = xcalloc((size_t)n * m, sizeof(real));
        R[p] = xcalloc((size_t)B * m, sizeof(real));
        E[p] = xcalloc((size_t)B * n, sizeof(real));
        D[p] = xcalloc((size_t)B * n, sizeof(real));
        BP[p] = xcalloc((size_t)B * m, sizeof(real));
        for (size_t q = 0; q < (size_t)n * m; q++) W[p][q] = (real)((q % 13) * 0.01);
        for (size_t q = 0; q < (size_t)B * m; q++) R[p][q] = (real)((q % 5) * 0.1);
        for (size_t q = 0; q < (size_t)B * n; q++) E[p][q] = (real)((q % 3) * 1e-3);
        *flops += 2.0 * B * n * m * (p > 1 ? 3 : 2);
    }
    double best = 1e300, spent = 0;
    for (int it = 0; it < 1000 && (it < 4 || spent < min_time); it++) {
        double t0 = now_s();
        for (int p = L - 1; p >= 1; p--) {
            int n = sizes[p], m = sizes[p - 1];
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, B, n, m, 1, R[p], m, W[p], m, 1, D[p], n);
            if (p > 1) GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, m, n, 1, E[p], n, W[p], m, 0, BP[p], m);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, n, m, B, (real)1e-6, E[p], n, R[p], m, 1, W[p], m);
        }
        double t = now_s() - t0;
        if (it > 0) { spent += t; if (t < best) best = t; }   /* it 0: warm-up */
    }
    for (int p = 1; p < L; p++) { free(W[p]); free(R[p]); free(E[p]); free(D[p]); free(BP[p]); }
    return best;
}

int main(int argc, char **argv) {
    const char *sizes_list = "2-3-3-2,100-100-10,784-300-100-10,1000-1000-1000";
    const char *batches_list = "1,100";
    double min_time = 0.2;
    int dram = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc) sizes_list = argv[++i];
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc) batches_list = argv[++i];
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--dram")) dram = 1;
        else {
            fprintf(stderr, "usage: %s [--sizes A,B,...] [--batches 1,100] [--min-time S] [--dram]\n", argv[0]);
            return 2;
        }
    }
    if (dram) {
        /* reference: an array far larger than the last-level cache */
        size_t count = (size_t)256 << 20; /* bytes */
        count /= sizeof(real);
        double tr = best_sweep(count, 1000, 0, min_time), trw = best_sweep(count, 1000, 1, min_time);
        printf("dram prec=%s bytes=%zu read_GBps=%.3g rw_GBps=%.3g\n", PREC_NAME, count * sizeof(real),
               count * sizeof(real) / tr * 1e-9, 2.0 * count * sizeof(real) / trw * 1e-9);
    }
    double peak_flops;
    {
        const int big[3] = {1000, 1000, 1000};
        double tg = best_gemm_step(2, big, 100, min_time, &peak_flops);
        peak_flops /= tg;
    }
    /* measure everything first, then print: the flop bound uses the best GEMM rate seen (on a
     * shared machine a single measurement can be unlucky) */
    struct row { char sizes[64]; int B; size_t bytes; double tr, trw, flops, gemm_only; } rows[64];
    int nrows = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", sizes_list);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int sizes[GLE_MAX_LAYERS];
        int L = parse_sizes(tok, sizes);
        if (L < 2) { fprintf(stderr, "bad sizes '%s'\n", tok); return 2; }
        /* the weights of the network, as one array swept with rows of the widest pre size */
        size_t count = 0;
        int mmax = 1;
        for (int p = 1; p < L; p++) {
            count += (size_t)sizes[p] * sizes[p - 1];
            if (sizes[p - 1] > mmax) mmax = sizes[p - 1];
        }
        double tr = best_sweep(count, mmax, 0, min_time), trw = best_sweep(count, mmax, 1, min_time);
        /* batches (strtok is busy with the sizes list: split by hand) */
        const char *s = batches_list;
        while (*s && nrows < 64) {
            struct row *R = &rows[nrows++];
            snprintf(R->sizes, sizeof R->sizes, "%s", tok);
            R->B = atoi(s);
            R->bytes = count * sizeof(real);
            R->tr = tr; R->trw = trw;
            R->flops = 0;
            for (int p = 1; p < L; p++) R->flops += 2.0 * R->B * sizes[p] * sizes[p - 1] * (p > 1 ? 3 : 2);
            R->gemm_only = 0;
            if (R->B > 1) {
                double fl2, tg = best_gemm_step(L, sizes, R->B, min_time, &fl2);
                R->gemm_only = 1.0 / tg;
                if (fl2 / tg > peak_flops) peak_flops = fl2 / tg;
            }
            while (*s && *s != ',') s++;
            if (*s == ',') s++;
        }
    }
    printf("gemm prec=%s best_GFLOPs=%.4g\n", PREC_NAME, peak_flops * 1e-9);
    for (int q = 0; q < nrows; q++) {
        const struct row *R = &rows[q];
        /* with a batch the weights are still swept once per step (gle_fused) */
        double mem = 1.0 / R->trw, three = 1.0 / (2 * R->tr + R->trw), fl = peak_flops / R->flops;
        printf("limit prec=%s sizes=%s batch=%d weight_bytes=%zu read_GBps=%.4g rw_GBps=%.4g "
               "mem_steps_per_s=%.6g mem3_steps_per_s=%.6g flops_per_step=%.6g flop_steps_per_s=%.6g "
               "gemm_only_steps_per_s=%.6g bound_steps_per_s=%.6g bound_by=%s\n",
               PREC_NAME, R->sizes, R->B, R->bytes, R->bytes / R->tr * 1e-9, 2.0 * R->bytes / R->trw * 1e-9, mem,
               three, R->flops, fl, R->gemm_only, mem < fl ? mem : fl, mem < fl ? "mem" : "flop");
    }
    return 0;
}
