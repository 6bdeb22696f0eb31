/* gle_blas.c: the same GLE training step as gle_fused.c, with the weight-matrix work done by
 * OpenBLAS (Debian's libopenblas-dev). This is what a careful library-based implementation
 * does: three separate BLAS calls per weight matrix, i.e. three passes over W per step
 *     batch 1:  drive = W r + b (gemv),  bp = W^T e (gemv, transposed),  W += c e r^T (ger)
 *     batch B:  the same as three gemm calls (R W^T, E W, E^T R).
 * The vector parts (errors, neuronal dynamics) are the shared ones of gle_common.h, so the two
 * C baselines differ only in how W is swept.
 *
 * Build: gcc -O3 -march=native -fopenmp-simd gle_blas.c -lopenblas -lm   (-DGLE_F32 for float).
 * Threads: bench/run.sh sets OPENBLAS_NUM_THREADS=1 (all baselines single-threaded). */
/* gle_common.h first: it sets _POSIX_C_SOURCE before any system header */
#include "gle_common.h"
#include "gle_golden.h"

#include <cblas.h>

#ifdef GLE_F32
#define GEMV cblas_sgemv
#define GER cblas_sger
#define GEMM cblas_sgemm
#else
#define GEMV cblas_dgemv
#define GER cblas_dger
#define GEMM cblas_dgemm
#endif

static void gle_step_blas(gle_net *net, void *ws) {
    (void)ws;
    step_io(net);
    step_errors(net);
    const int B = net->B;
    const real c = (real)(net->eta / B);
    for (int p = net->L - 1; p >= 1; p--) {   /* top-down, as in gle_fused.c */
        gle_pop *P = &net->pop[p];
        const int n = P->n, m = net->sizes[p - 1];
        const real *pre = (p == 1) ? net->x : net->pop[p - 1].r;
        real *bp = (p == 1) ? NULL : net->pop[p - 1].bp;
        for (int b = 0; b < B; b++) memcpy(P->drive + (size_t)b * n, P->b, sizeof(real) * n);
        if (B == 1) {
            GEMV(CblasRowMajor, CblasNoTrans, n, m, 1, P->W, m, pre, 1, 1, P->drive, 1);
            if (bp) GEMV(CblasRowMajor, CblasTrans, n, m, 1, P->W, m, P->e, 1, 0, bp, 1);
            GER(CblasRowMajor, n, m, c, P->e, 1, pre, 1, P->W, m);
        } else {
            /* drive[B x n] += R[B x m] W^T;  BP[B x m] = E[B x n] W;  W += c E^T R */
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, B, n, m, 1, pre, m, P->W, m, 1, P->drive, n);
            if (bp) GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, m, n, 1, P->e, n, P->W, m, 0, bp, m);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, n, m, B, c, P->e, n, pre, m, 1, P->W, m);
        }
        for (int i = 0; i < n; i++) {
            real s = 0;
            for (int b = 0; b < B; b++) s += P->e[(size_t)b * n + i];
            P->b[i] += c * s;
        }
        step_dynamics(net, p);
    }
    net->step++;
}

int main(int argc, char **argv) {
    bench_args a;
    int rc = parse_args(argc, argv, &a, "gle_blas");
    if (rc) return rc;
    if (a.npy_sum) return npy_sum_main(a.npy_count, argv + a.npy_first);
    if (a.golden) return golden_main(a.golden_dir, "blas", gle_step_blas, NULL);
    return bench_main(&a, "blas", gle_step_blas, NULL);
}
