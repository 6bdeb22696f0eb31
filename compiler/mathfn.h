/* mathfn.h - elementwise functions vle computes itself rather than calling libm, so that
 * the generated loops vectorise (a libm call in a loop body keeps it scalar).
 *
 * Each function is a fixed sequence of IEEE operations (including fma where stated; no
 * libm calls besides the exactly-rounded floor, fabs, fma and copysign). llvm.c emits the
 * same sequence as LLVM IR (cg_tanh64, cg_sin64, cg_cos64), which the loop vectoriser
 * widens; kirinterp.c calls the C version below. With the same operations in the same order
 * both give the same bits (mathfn.c is compiled with -ffp-contract=off), which keeps the
 * interpreter the exact specification of the generated code. The constants are shared
 * through this header.
 *
 * tanh: S. L. Moshier's Cephes tanh (and the exp it needs), relative error ~2e-16 (a few
 * ulp at most, tested against libm in test_backend): for |x| < 0.625 the rational form
 * x + x z P(z)/Q(z), z = x^2; else 1 - 2 / (exp(2|x|) + 1), with |x| capped at 22, where
 * tanh is 1 in double; then the sign of x (copysign). NaN gives NaN, +-Inf gives +-1. */
#ifndef VLE_MATHFN_H
#define VLE_MATHFN_H

/* tanh, small |x|: P(z) = (MF_TP0 z + MF_TP1) z + MF_TP2, Q(z) = ((z + MF_TQ0) z + MF_TQ1) z + MF_TQ2 */
#define MF_TANH_SMALL 0.625
#define MF_TANH_CAP 22.0
#define MF_TP0 -9.64399179425052238628E-1
#define MF_TP1 -9.92877231001918586564E1
#define MF_TP2 -1.61468768441708447952E3
#define MF_TQ0 1.12811678491632931402E2
#define MF_TQ1 2.23548839060100448583E3
#define MF_TQ2 4.84406305325125486048E3

/* exp(y) for 0 <= y <= 2 MF_TANH_CAP: n = floor(y log2(e) + 1/2), r = (y - n C1) - n C2,
 * e^r = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)), times 2^n (built in the exponent bits). */
#define MF_LOG2E 1.4426950408889634073599
#define MF_EC1 6.93145751953125E-1
#define MF_EC2 1.42860682030941723212E-6
#define MF_EP0 1.26177193074810590878E-4
#define MF_EP1 3.02994407707441961300E-2
#define MF_EP2 9.99999999999999999910E-1
#define MF_EQ0 3.00198505138664455042E-6
#define MF_EQ1 2.52448340349684104192E-3
#define MF_EQ2 2.27265548208155028766E-1
#define MF_EQ3 2.00000000000000000009E0

/* sin and cos (Cephes's polynomials, our reduction): n = floor(|x| 2/pi + 1/2), the
 * quadrant; r = |x| - n pi/2 with pi/2 split in three doubles and fused multiply-adds
 * (error below 1e-32 for n < 2^52, so the result is within ~2e-16 of the true value, not
 * only for small |x|); then sin r or cos r by quadrant (n + 1 for cos), negated in
 * quadrants 2 and 3, and for sin, given the sign of x.
 *   sin r = r + r z S(z),  cos r = (1 - z/2) + z z C(z),  z = r^2, |r| <= pi/4.
 * |x| >= 2^52 (where doubles are integers, more than a period apart) gives NaN, like +-Inf
 * and NaN: the simulation's NaN check then names the signal rather than returning a
 * meaningless value. */
#define MF_2OPI 6.36619772367581382433e-1
#define MF_PIO2_1 0x1.921fb54442d18p+0
#define MF_PIO2_2 0x1.1a62633145c07p-54
#define MF_PIO2_3 -0x1.f1976b7ed8fbcp-110
#define MF_TRIG_MAX 0x1p52
#define MF_S0 1.58962301576546568060E-10
#define MF_S1 -2.50507477628578072866E-8
#define MF_S2 2.75573136213857245213E-6
#define MF_S3 -1.98412698295895385996E-4
#define MF_S4 8.33333333332211858878E-3
#define MF_S5 -1.66666666666666307295E-1
#define MF_C0 -1.13585365213876817300E-11
#define MF_C1 2.08757008419747316778E-9
#define MF_C2 -2.75573141792967388112E-7
#define MF_C3 2.48015872888517045348E-5
#define MF_C4 -1.38888888888730564116E-3
#define MF_C5 4.16666666666665929218E-2

double mf_tanh(double x);
double mf_sin(double x);
double mf_cos(double x);
double mf_exp_tanh(double y);   /* the exp above: only for 0 <= y <= 44 */

#endif
