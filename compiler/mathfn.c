/* mathfn.c - the C reference of the functions llvm.c emits inline (see mathfn.h). Every
 * line is one IEEE operation, in the order cg_tanh64 / cg_sin64 / cg_cos64 emit them. */
#include "mathfn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

double mf_exp_tanh(double y) {
  double n = floor(y * MF_LOG2E + 0.5);
  double r = y - n * MF_EC1;
  r = r - n * MF_EC2;
  double xx = r * r;
  double px = r * ((MF_EP0 * xx + MF_EP1) * xx + MF_EP2);
  double qx = ((MF_EQ0 * xx + MF_EQ1) * xx + MF_EQ2) * xx + MF_EQ3;
  double e = 1.0 + 2.0 * (px / (qx - px));
  uint64_t bits = (uint64_t)((int64_t)n + 1023) << 52;   /* 2^n, 0 <= n <= 64 */
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

double mf_tanh(double x) {
  double a = fabs(x);
  double z = x * x;
  double p = (MF_TP0 * z + MF_TP1) * z + MF_TP2;
  double q = ((z + MF_TQ0) * z + MF_TQ1) * z + MF_TQ2;
  double small = x + x * (z * p / q);
  double ac = a < MF_TANH_CAP ? a : MF_TANH_CAP;        /* NaN -> the cap: exp stays defined */
  double big = 1.0 - 2.0 / (mf_exp_tanh(ac + ac) + 1.0);
  double r = !(a >= MF_TANH_SMALL) ? small : big;        /* NaN takes the small form: NaN */
  return copysign(r, x);                                 /* also gives tanh(-0) = -0 */
}

/* sin (off 0) or cos (off 1) of x: see mathfn.h. */
static double mf_trig(double x, double off) {
  double a = fabs(x);
  double n = floor(a * MF_2OPI + 0.5);
  double r = fma(-n, MF_PIO2_1, a);
  r = fma(-n, MF_PIO2_2, r);
  r = fma(-n, MF_PIO2_3, r);
  double z = r * r;
  double sp = ((((MF_S0 * z + MF_S1) * z + MF_S2) * z + MF_S3) * z + MF_S4) * z + MF_S5;
  double cp = ((((MF_C0 * z + MF_C1) * z + MF_C2) * z + MF_C3) * z + MF_C4) * z + MF_C5;
  double sv = r + r * z * sp;
  double cv = (1.0 - z * 0.5) + z * z * cp;
  double q = n + off;
  double m = q - 4.0 * floor(q * 0.25);                  /* quadrant, 0 .. 3 (exact) */
  double v = (m == 1.0 || m == 3.0) ? cv : sv;
  v = m >= 2.0 ? -v : v;
  return a < MF_TRIG_MAX ? v : NAN;                      /* large, Inf, NaN: NaN */
}

double mf_sin(double x) {
  double v = mf_trig(x, 0.0);
  return signbit(x) ? -v : v;                            /* sin(-x) = -sin(x), also -0 */
}

double mf_cos(double x) { return mf_trig(x, 1.0); }
