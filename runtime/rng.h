/*
 * rng.h - the runtime's random number generator: xoshiro256** (Blackman & Vigna 2018)
 * seeded through splitmix64, as its authors recommend.
 *
 * Why this generator: 256 bits of state, passes BigCrush/PractRand, is a handful of
 * instructions, and its state is four integers, so a simulation can save and restore it
 * bit-exactly. Every generator lives in the caller's struct: there is no global state, so
 * any number of simulations can draw independently in one process.
 */
#ifndef VLE_RNG_H
#define VLE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng_state { uint64_t s[4]; } rng_state;

/* One step of splitmix64: advances *x and returns a well-mixed 64-bit value. */
uint64_t rng_splitmix64(uint64_t *x);
/* Seeds g from a 64-bit seed (four splitmix64 outputs, never the all-zero state). */
void     rng_seed(rng_state *g, uint64_t seed);
/* Seeds g from (seed, name): an independent stream per name, so the draws of one parameter
 * do not depend on which other parameters exist or in which order they are initialised. */
void     rng_seed_named(rng_state *g, uint64_t seed, const char *name);
uint64_t rng_next(rng_state *g);
/* Uniform in [0, 1) with 53 random bits. */
double   rng_uniform(rng_state *g);
/* Uniform integer in [0, n) without modulo bias (Lemire's method with rejection). */
uint64_t rng_below(rng_state *g, uint64_t n);
/* Fills out[0..n) with N(mean, std^2) draws: Box-Muller, both values of each pair used. */
void     rng_normal_fill(rng_state *g, double *out, size_t n, double mean, double std);
/* Fisher-Yates shuffle of idx[0..n). */
void     rng_shuffle(rng_state *g, int64_t *idx, size_t n);

#endif
