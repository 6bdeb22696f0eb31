/* rng.c - xoshiro256** seeded by splitmix64; see rng.h. */
#include "rng.h"

#include <math.h>
#include <string.h>

uint64_t rng_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void rng_seed(rng_state *g, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) g->s[i] = rng_splitmix64(&x);
  /* splitmix64 is a bijection of a counter, four consecutive outputs are never all 0 */
}

/* FNV-1a of the name, mixed with the seed: distinct names give unrelated streams. */
void rng_seed_named(rng_state *g, uint64_t seed, const char *name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 0x100000001b3ULL;
  uint64_t x = seed;
  rng_seed(g, rng_splitmix64(&x) ^ h);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng_state *g) {
  uint64_t *s = g->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double rng_uniform(rng_state *g) { return (double)(rng_next(g) >> 11) * 0x1.0p-53; }

uint64_t rng_below(rng_state *g, uint64_t n) {
  if (n <= 1) return 0;
  /* Lemire: the high word of x*n is uniform once the low word clears the threshold. */
  unsigned __int128 m = (unsigned __int128)rng_next(g) * n;
  uint64_t lo = (uint64_t)m;
  if (lo < n) {
    uint64_t thresh = (0 - n) % n;
    while (lo < thresh) {
      m = (unsigned __int128)rng_next(g) * n;
      lo = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

/* Box-Muller: u1 in (0, 1] so log(u1) is finite. */
static void rng_normal_pair(rng_state *g, double *z0, double *z1) {
  double u1 = 1.0 - rng_uniform(g);
  double u2 = rng_uniform(g);
  double r = sqrt(-2.0 * log(u1));
  double a = 2.0 * M_PI * u2;
  *z0 = r * cos(a);
  *z1 = r * sin(a);
}

void rng_normal_fill(rng_state *g, double *out, size_t n, double mean, double std) {
  size_t i = 0;
  for (; i + 1 < n; i += 2) {
    double z0, z1;
    rng_normal_pair(g, &z0, &z1);
    out[i] = mean + std * z0;
    out[i + 1] = mean + std * z1;
  }
  if (i < n) {
    double z0, z1;
    rng_normal_pair(g, &z0, &z1);
    out[i] = mean + std * z0;
  }
}

void rng_shuffle(rng_state *g, int64_t *idx, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(g, i);
    int64_t t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}
