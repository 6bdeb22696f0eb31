/*
 * opt.h - the optimizers of `learn` groups and their clamps (docs/theory.md §5-6).
 *
 * They consume G, the batch-mean gradient the `grads` kernel writes (G = dE/dtheta with the
 * mismatches replaced by the errors, no dt factor), once per step:
 *   SGD:  theta <- theta - lr * G
 *   Adam: PyTorch's torch.optim.Adam (no weight decay, no amsgrad), step t = 1, 2, ...:
 *         m <- b1 m + (1 - b1) G;  v <- b2 v + (1 - b2) G^2
 *         theta <- theta - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *         (PyTorch's arrangement of lr * m_hat / (sqrt(v_hat) + eps), for equal rounding)
 * then the group's clamp: >= c and <= c are max/min with c; > c and < c keep theta strictly
 * beyond c (the nearest representable value of the model's precision).
 * Parameters are float or double (es = 4 or 8); Adam's m and v are kept in double.
 */
#ifndef VLE_OPT_H
#define VLE_OPT_H

#include <stddef.h>
#include <stdint.h>
#include "vle.h"

void opt_sgd(void *theta, const void *grad, size_t n, size_t es, double lr);
/* t: the step number of this update (1 for the first). */
void opt_adam(void *theta, const void *grad, double *m, double *v, size_t n, size_t es,
              const vle_learn_info *g, int64_t t);
void opt_clamp(void *theta, size_t n, size_t es, vle_clamp op, double c);

#endif
