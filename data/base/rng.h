/*
 * rng.h - deterministic random numbers: splitmix64. Every random choice in
 * pofa (initialisation, shuffles, masking, dropout) is a pure function of a
 * seed, so runs are reproducible and resumable.
 */
#ifndef POFA_BASE_RNG_H
#define POFA_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t pofa_mix64(uint64_t z)
{
	/* splitmix64 finaliser: a bijective, well-mixing hash */
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* FNV-1a of n bytes: a recipe's hash, a stage name's seed, a mask's digest */
static inline uint64_t pofa_fnv1a(const void *p, size_t n)
{
	const unsigned char *t = p;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ t[i]) * 1099511628211ULL;
	return h;
}

typedef struct pofa_rng { uint64_t s; } pofa_rng;

static inline uint64_t pofa_rng_next(pofa_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return pofa_mix64(r->s);
}
/* uniform in [0, 1), 24 bits */
static inline float pofa_rng_uniform(pofa_rng *r) { return (pofa_rng_next(r) >> 40) * (1.0f / 16777216.0f); }
/* standard normal (Box-Muller) */
float pofa_rng_normal(pofa_rng *r);

/* deterministic shuffle of idx[0..n) from a seed */
void pofa_shuffle(long *idx, long n, uint64_t seed);

#endif
