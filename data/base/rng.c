/* rng.c - normal variates and shuffles (see rng.h). */
#include "data/base/rng.h"

#include <math.h>

float pofa_rng_normal(pofa_rng *r)
{
	/* Box-Muller; u1 in (0, 1] so the log is finite */
	float u1 = 1.0f - pofa_rng_uniform(r);
	float u2 = pofa_rng_uniform(r);
	return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647f * u2);
}

void pofa_shuffle(long *idx, long n, uint64_t seed)
{
	pofa_rng r = { seed };
	for (long i = n - 1; i > 0; i--) {
		long j = (long)(pofa_rng_next(&r) % (uint64_t)(i + 1));
		long t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}
