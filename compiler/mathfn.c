/* mathfn.c - the C reference of the functions llvm.c emits inline (see mathfn.h). Every
 * line is one IEEE operation, in the order cg_tanh / cg_exp_tanh emit them. */
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
