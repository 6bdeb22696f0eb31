/* opt.c - SGD, Adam and clamps; see opt.h. */
#include "opt.h"

#include <math.h>

#include "vle_internal.h"

void opt_sgd(void *theta, const void *grad, size_t n, size_t es, double lr) {
  if (es == 8) {
    double *p = theta;
    const double *g = grad;
    for (size_t i = 0; i < n; i++) p[i] -= lr * g[i];
  } else {
    float *p = theta;
    const float *g = grad;
    for (size_t i = 0; i < n; i++) p[i] = (float)(p[i] - lr * g[i]);
  }
}

void opt_adam(void *theta, const void *grad, double *m, double *v, size_t n, size_t es,
              const vle_learn_info *g, int64_t t) {
  double b1 = g->beta1, b2 = g->beta2;
  double step_size = g->lr / (1.0 - pow(b1, (double)t));
  double bc2_sqrt = sqrt(1.0 - pow(b2, (double)t));
  for (size_t i = 0; i < n; i++) {
    double gi = re_get(grad, i, es);
    m[i] = b1 * m[i] + (1.0 - b1) * gi;
    v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
    double denom = sqrt(v[i]) / bc2_sqrt + g->eps;
    re_set(theta, i, es, re_get(theta, i, es) - step_size * (m[i] / denom));
  }
}

/* The bound a strict clamp enforces: the representable value next to c, away from it. */
static double opt_strict_bound(double c, size_t es, double dir) {
  return es == 8 ? nextafter(c, dir) : (double)nextafterf((float)c, (float)dir);
}

void opt_clamp(void *theta, size_t n, size_t es, vle_clamp op, double c) {
  if (op == VLE_CLAMP_NONE) return;
  if (op == VLE_CLAMP_GT) c = opt_strict_bound(c, es, INFINITY);
  if (op == VLE_CLAMP_LT) c = opt_strict_bound(c, es, -INFINITY);
  if (es == 4) c = (double)(float)c;
  bool lower = op == VLE_CLAMP_GE || op == VLE_CLAMP_GT;
  for (size_t i = 0; i < n; i++) {
    double x = re_get(theta, i, es);
    if (lower ? x < c : x > c) re_set(theta, i, es, c);
  }
}
