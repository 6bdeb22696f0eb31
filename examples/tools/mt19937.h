/*
 * mt19937.h - NumPy's legacy random stream (numpy.random.RandomState, seeded with an
 * integer), re-implemented in C (prefix mt_): the Mersenne Twister MT19937 and the legacy
 * algorithms RandomState builds on it. Every function consumes exactly the 32-bit outputs
 * its NumPy counterpart consumes, so a program that calls them in the order a NumPy program
 * does reproduces that program's numbers (mnist1d.c relies on it).
 */
#ifndef VLE_MT19937_H
#define VLE_MT19937_H

#include <stdbool.h>
#include <stdint.h>

#define MT_N 624

typedef struct mt_state {
  uint32_t key[MT_N];
  int pos;            /* next word of key to temper; MT_N: regenerate first */
  bool has_gauss;     /* the polar method makes normals in pairs; the second waits here */
  double gauss;
} mt_state;

/* np.random.seed(seed) / RandomState(seed) for an integer seed in [0, 2^32). */
void mt_seed(mt_state *s, uint32_t seed);
/* The next raw 32-bit output. */
uint32_t mt_next32(mt_state *s);
/* np.random.rand(): a 53-bit double in [0, 1) from two outputs. */
double mt_double(mt_state *s);
/* np.random.randn(): a standard normal (legacy polar method). */
double mt_gauss(mt_state *s);
/* np.random.randint(0, n) / np.random.choice(n), n in [1, 2^32]: masked rejection. */
uint64_t mt_below(mt_state *s, uint64_t n);
/* np.random.permutation(n) into perm[0..n): Fisher-Yates from the last index down. */
void mt_permutation(mt_state *s, int64_t *perm, int64_t n);

#endif
