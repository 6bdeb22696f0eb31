/*
 * mnist1d.h - the MNIST-1D dataset (Greydanus, "Scaling down deep learning", 2020),
 * generated exactly as the published code does it (prefix m1d_).
 *
 * Ten 12-point digit templates are padded, stretched, scaled, translated, given correlated
 * and iid noise, sheared and resampled to the final length; the samples (class by class)
 * are then permuted and standardised with the global mean and std. The random numbers come
 * from NumPy's legacy stream (mt19937.h), drawn in the published order, so the defaults
 * (5000 samples, seed 42) reproduce the published arrays to the last bit or two (~1e-15),
 * at any final length. See docs/mnist1d.md.
 */
#ifndef VLE_MNIST1D_H
#define VLE_MNIST1D_H

#include <stddef.h>
#include <stdint.h>

#define M1D_CLASSES 10
#define M1D_TEMPLATE_LEN 12
#define M1D_MAX_LENGTH 100000            /* a sanity bound on the final length */
#define M1D_MAX_SAMPLES 10000000
#define M1D_MAX_VALUES (INT64_C(1) << 28) /* samples x length: 2 GiB of float64 at most */

typedef struct m1d_opts {
  int64_t samples;   /* all samples, train + test: a positive multiple of 10 (default 5000) */
  int64_t length;    /* final length of a sample (default 40; the GLE paper uses 360) */
  int64_t seed;      /* NumPy seed in [0, 2^32) (default 42) */
} m1d_opts;

#define M1D_DEFAULTS ((m1d_opts){ .samples = 5000, .length = 40, .seed = 42 })

typedef struct m1d_data {
  int64_t samples, train, length;   /* samples [0, train) train, [train, samples) test */
  double *x;                        /* [samples][length], standardised */
  int64_t *y;                       /* [samples], labels 0..9 */
} m1d_data;

/* NULL if the options are valid, else what is wrong (a static message). */
const char *m1d_check(const m1d_opts *o);
/* Generates the dataset (checked options). Returns 0, or -1 when out of memory. */
int m1d_make(const m1d_opts *o, m1d_data *d);
void m1d_free(m1d_data *d);
/* The ten templates after the published normalisation, t[class][point]. */
void m1d_templates(double t[M1D_CLASSES][M1D_TEMPLATE_LEN]);

#endif
