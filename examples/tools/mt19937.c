/* mt19937.c - NumPy's legacy random stream; see mt19937.h. The algorithms follow NumPy's
 * numpy/random/src (mt19937.c, legacy-distributions.c, distributions.c): the same words
 * are drawn in the same order, which is the whole point. */
#include "mt19937.h"

#include <math.h>

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

/* init_genrand: NumPy's mt19937_seed for an integer seed. */
void mt_seed(mt_state *s, uint32_t seed) {
  for (int i = 0; i < MT_N; i++) {
    s->key[i] = seed;
    seed = 1812433253u * (seed ^ (seed >> 30)) + (uint32_t)i + 1u;
  }
  s->pos = MT_N;
  s->has_gauss = false;          /* seeding also drops a pending normal */
  s->gauss = 0;
}

static uint32_t mt_mix(uint32_t a, uint32_t b, uint32_t far) {
  uint32_t y = (a & MT_UPPER) | (b & MT_LOWER);
  return far ^ (y >> 1) ^ (-(y & 1u) & MT_MATRIX_A);
}

/* Regenerates the whole key (the "twist"). */
static void mt_twist(mt_state *s) {
  uint32_t *k = s->key;
  int i = 0;
  for (; i < MT_N - MT_M; i++) k[i] = mt_mix(k[i], k[i + 1], k[i + MT_M]);
  for (; i < MT_N - 1; i++) k[i] = mt_mix(k[i], k[i + 1], k[i + MT_M - MT_N]);
  k[MT_N - 1] = mt_mix(k[MT_N - 1], k[0], k[MT_M - 1]);
  s->pos = 0;
}

uint32_t mt_next32(mt_state *s) {
  if (s->pos == MT_N) mt_twist(s);
  uint32_t y = s->key[s->pos++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  return y ^ (y >> 18);
}

double mt_double(mt_state *s) {
  uint32_t a = mt_next32(s) >> 5, b = mt_next32(s) >> 6;   /* 27 + 26 = 53 bits */
  return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

double mt_gauss(mt_state *s) {
  if (s->has_gauss) {
    s->has_gauss = false;
    return s->gauss;
  }
  double x1, x2, r2;
  do {
    x1 = 2.0 * mt_double(s) - 1.0;
    x2 = 2.0 * mt_double(s) - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  double f = sqrt(-2.0 * log(r2) / r2);
  s->gauss = f * x1;             /* NumPy returns the second of the pair first */
  s->has_gauss = true;
  return f * x2;
}

/* The smallest all-ones mask covering v. */
static uint64_t mt_mask(uint64_t v) {
  for (int sh = 1; sh < 64; sh *= 2) v |= v >> sh;
  return v;
}

uint64_t mt_below(mt_state *s, uint64_t n) {
  uint64_t rng = n - 1;          /* NumPy's closed range [0, rng] */
  if (rng == 0) return 0;        /* no word is drawn */
  if (rng == 0xffffffffu) return mt_next32(s);
  uint32_t mask = (uint32_t)mt_mask(rng), v;
  while ((v = mt_next32(s) & mask) > rng) {}
  return v;
}

/* random_interval: a uniform integer in [0, max], 32- or 64-bit words by the size of max. */
static uint64_t mt_interval(mt_state *s, uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = mt_mask(max), v;
  if (max <= 0xffffffffu) {
    while ((v = mt_next32(s) & mask) > max) {}
  } else {
    do {
      uint64_t hi = mt_next32(s);
      v = (hi << 32 | mt_next32(s)) & mask;
    } while (v > max);
  }
  return v;
}

void mt_permutation(mt_state *s, int64_t *perm, int64_t n) {
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i >= 1; i--) {
    int64_t j = (int64_t)mt_interval(s, (uint64_t)i), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
