/* gle_fused.c: a hand-written C GLE training step with one fused sweep over each weight matrix.
 *
 * The point of this baseline: at step k the errors e_p of every population depend only on
 * values published at step k-1 (docs/theory.md §6), so they can be computed first, for all
 * populations, from vectors alone. After that, everything that touches a weight matrix W_p
 * (n_p x n_{p-1}) is
 *     drive_p  = W_p r_pre + b_p                  (forward, old W)
 *     bp_{p-1} = W_p^T e_p                        (back-projection, old W, published for k+1)
 *     W_p     += (eta/B) sum_b e_p r_pre^T,  b_p += (eta/B) sum_b e_p     (SGD)
 * and all three read the same W_p (old values) and the same r_pre (the rates published at
 * k-1). So a single sweep reads each weight once, uses it for the forward and the backward
 * product, and writes it back updated: the memory traffic of a step is one read and one write
 * of every weight, which is the bound bench/c/limits.c measures. A separate forward matvec would
 * read W twice.
 *
 * Batch B > 1: the sweep goes over blocks of 4 rows; a block is read from memory once, used by
 * all B samples (it stays in L1/L2), and updated before the sweep moves on.
 *
 * Build: gcc -O3 -march=native -fopenmp-simd gle_fused.c -lm  (-DGLE_F32 for float).
 * Run:   ./gle_fused --sizes 784-300-100-10 --batch 1 --steps 2000 ;  ./gle_fused --golden */
#include "gle_common.h"
#include "gle_golden.h"

#define RB 4   /* rows per block: 4 forward accumulators + 4 back-projection terms per element */
#define JB 16  /* columns per register tile in the batched update */

/* One row block of the batch-1 sweep: forward, back-projection and update in the same loop. */
static inline void sweep1_rows4(int m, real *restrict w0, real *restrict w1, real *restrict w2, real *restrict w3,
                                const real *restrict r, real *restrict bp, const real e[4], real c, real acc[4]) {
    real a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const real e0 = e[0], e1 = e[1], e2 = e[2], e3 = e[3];
    const real c0 = c * e0, c1 = c * e1, c2 = c * e2, c3 = c * e3;
    if (bp) {
#pragma omp simd reduction(+ : a0, a1, a2, a3)
        for (int j = 0; j < m; j++) {
            const real x0 = w0[j], x1 = w1[j], x2 = w2[j], x3 = w3[j], rj = r[j];
            a0 += x0 * rj; a1 += x1 * rj; a2 += x2 * rj; a3 += x3 * rj;
            bp[j] += x0 * e0 + x1 * e1 + x2 * e2 + x3 * e3;
            w0[j] = x0 + c0 * rj; w1[j] = x1 + c1 * rj; w2[j] = x2 + c2 * rj; w3[j] = x3 + c3 * rj;
        }
    } else { /* W_1: its pre is the input, whose error nobody needs */
#pragma omp simd reduction(+ : a0, a1, a2, a3)
        for (int j = 0; j < m; j++) {
            const real x0 = w0[j], x1 = w1[j], x2 = w2[j], x3 = w3[j], rj = r[j];
            a0 += x0 * rj; a1 += x1 * rj; a2 += x2 * rj; a3 += x3 * rj;
            w0[j] = x0 + c0 * rj; w1[j] = x1 + c1 * rj; w2[j] = x2 + c2 * rj; w3[j] = x3 + c3 * rj;
        }
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

static inline void sweep1_row(int m, real *restrict w, const real *restrict r, real *restrict bp, real e, real c,
                              real *acc) {
    real a = 0;
    const real ce = c * e;
    if (bp) {
#pragma omp simd reduction(+ : a)
        for (int j = 0; j < m; j++) {
            const real x = w[j], rj = r[j];
            a += x * rj;
            bp[j] += x * e;
            w[j] = x + ce * rj;
        }
    } else {
#pragma omp simd reduction(+ : a)
        for (int j = 0; j < m; j++) {
            const real x = w[j], rj = r[j];
            a += x * rj;
            w[j] = x + ce * rj;
        }
    }
    *acc = a;
}

/* Batched update of a row block, columns [j0, j0+len): the tile of W stays in registers while
 * the B samples' outer products are added to it. len == JB in the main loop (a constant after
 * inlining, so the accumulators live in vector registers). */
static inline void update_tile(int nrows, real *const *w, int j0, int len, int B, int n, int m,
                               const real *restrict R, const real *restrict E, int i0, real c) {
    real t[RB][JB];
    for (int k = 0; k < nrows; k++)
        for (int jj = 0; jj < len; jj++) t[k][jj] = w[k][j0 + jj];
    for (int b = 0; b < B; b++) {
        const real *restrict rb = R + (size_t)b * m + j0;
        for (int k = 0; k < nrows; k++) {
            const real ck = c * E[(size_t)b * n + i0 + k];
#pragma omp simd
            for (int jj = 0; jj < len; jj++) t[k][jj] += ck * rb[jj];
        }
    }
    for (int k = 0; k < nrows; k++)
        for (int jj = 0; jj < len; jj++) w[k][j0 + jj] = t[k][jj];
}

/* The fused sweep over W (n x m) for the whole batch.
 *   R: pre rates [B x m] (published at k-1, or the input), E: errors [B x n],
 *   drive: out [B x n] = R W^T + b (old W, old b), BP: out [B x m] = E W (old W), or NULL,
 *   then W += c E^T R, b += c sum_b E, with c = eta/B. */
static void fused_sweep(int n, int m, int B, real *restrict W, real *restrict bias, const real *restrict R,
                        const real *restrict E, real *restrict drive, real *restrict BP, real c) {
    if (BP) memset(BP, 0, sizeof(real) * (size_t)B * m);
    int i0 = 0;
    for (; i0 < n; i0 += RB) {
        const int nr = (n - i0 < RB) ? n - i0 : RB;
        real *w[RB];
        for (int k = 0; k < RB; k++) w[k] = W + (size_t)(i0 + (k < nr ? k : 0)) * m;
        if (B == 1) {
            /* one loop over the row block does everything */
            if (nr == RB) {
                real acc[4];
                sweep1_rows4(m, w[0], w[1], w[2], w[3], R, BP, E + i0, c, acc);
                for (int k = 0; k < RB; k++) drive[i0 + k] = acc[k] + bias[i0 + k];
            } else {
                for (int k = 0; k < nr; k++) {
                    real acc;
                    sweep1_row(m, w[k], R, BP, E[i0 + k], c, &acc);
                    drive[i0 + k] = acc + bias[i0 + k];
                }
            }
            for (int k = 0; k < nr; k++) bias[i0 + k] += c * E[i0 + k];
            continue;
        }
        /* B > 1: forward and back-projection for every sample with the old block ... */
        for (int b = 0; b < B; b++) {
            const real *restrict rb = R + (size_t)b * m;
            real *restrict bpb = BP ? BP + (size_t)b * m : NULL;
            const real *eb = E + (size_t)b * n + i0;
            if (nr == RB) {
                real a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                const real *restrict w0 = w[0], *restrict w1 = w[1], *restrict w2 = w[2], *restrict w3 = w[3];
                const real e0 = eb[0], e1 = eb[1], e2 = eb[2], e3 = eb[3];
                if (bpb) {
#pragma omp simd reduction(+ : a0, a1, a2, a3)
                    for (int j = 0; j < m; j++) {
                        const real x0 = w0[j], x1 = w1[j], x2 = w2[j], x3 = w3[j], rj = rb[j];
                        a0 += x0 * rj; a1 += x1 * rj; a2 += x2 * rj; a3 += x3 * rj;
                        bpb[j] += x0 * e0 + x1 * e1 + x2 * e2 + x3 * e3;
                    }
                } else {
#pragma omp simd reduction(+ : a0, a1, a2, a3)
                    for (int j = 0; j < m; j++) {
                        const real rj = rb[j];
                        a0 += w0[j] * rj; a1 += w1[j] * rj; a2 += w2[j] * rj; a3 += w3[j] * rj;
                    }
                }
                real *d = drive + (size_t)b * n + i0;
                d[0] = a0 + bias[i0]; d[1] = a1 + bias[i0 + 1]; d[2] = a2 + bias[i0 + 2]; d[3] = a3 + bias[i0 + 3];
            } else {
                for (int k = 0; k < nr; k++) {
                    const real *restrict wk = w[k];
                    const real ek = eb[k];
                    real a = 0;
                    if (bpb) {
#pragma omp simd reduction(+ : a)
                        for (int j = 0; j < m; j++) { a += wk[j] * rb[j]; bpb[j] += wk[j] * ek; }
                    } else {
#pragma omp simd reduction(+ : a)
                        for (int j = 0; j < m; j++) a += wk[j] * rb[j];
                    }
                    drive[(size_t)b * n + i0 + k] = a + bias[i0 + k];
                }
            }
        }
        /* ... then the update of the block (still in cache), tile by tile */
        int j0 = 0;
        if (nr == RB)
            for (; j0 + JB <= m; j0 += JB) update_tile(RB, w, j0, JB, B, n, m, R, E, i0, c);
        for (; j0 < m; j0 += JB) {
            const int len = (m - j0 < JB) ? m - j0 : JB;
            update_tile(nr, w, j0, len, B, n, m, R, E, i0, c);
        }
        for (int k = 0; k < nr; k++) {
            real s = 0;
            for (int b = 0; b < B; b++) s += E[(size_t)b * n + i0 + k];
            bias[i0 + k] += c * s;
        }
    }
}

/* One GLE step (docs/theory.md §6). */
static void gle_step_fused(gle_net *net, void *ws) {
    (void)ws;
    step_io(net);
    step_errors(net);                           /* phase A: all e from published values */
    const real c = (real)(net->eta / net->B);
    /* Top-down, so that population p publishes its new rate only after W_{p+1}, which reads the
     * old one, has been swept. The sweep of W_p overwrites bp_{p-1} directly: phase A, the only
     * reader of the old one, is done. */
    for (int p = net->L - 1; p >= 1; p--) {
        gle_pop *P = &net->pop[p];
        const real *pre = (p == 1) ? net->x : net->pop[p - 1].r;
        real *bp = (p == 1) ? NULL : net->pop[p - 1].bp;
        fused_sweep(P->n, net->sizes[p - 1], net->B, P->W, P->b, pre, P->e, P->drive, bp, c);
        step_dynamics(net, p);                  /* phase C for p */
    }
    net->step++;
}

int main(int argc, char **argv) {
    bench_args a;
    int rc = parse_args(argc, argv, &a, "gle_fused");
    if (rc) return rc;
    if (a.npy_sum) return npy_sum_main(a.npy_count, argv + a.npy_first);
    if (a.golden) return golden_main(a.golden_dir, "fused", gle_step_fused, NULL);
    return bench_main(&a, "fused", gle_step_fused, NULL);
}
