/* mem.c - arrays that grow (see mem.h). */
#include "data/base/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int pofa_resize(void *pp, size_t n, size_t elem)
{
	if (elem && n > SIZE_MAX / elem)
		return -1;
	void *old;
	memcpy(&old, pp, sizeof old);
	void *p = realloc(old, n && elem ? n * elem : 1);
	if (!p)
		return -1;
	memcpy(pp, &p, sizeof p);
	return 0;
}

int pofa_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return -1;
		c *= 2;
	}
	if (pofa_resize(pp, c, elem))
		return -1;
	*cap = c;
	return 0;
}

void pofa_prefault(void *p, size_t n)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux's, where the C library predates it */
#endif
	size_t pg = 4096;
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(uintptr_t)(pg - 1), b = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
	if (n >= 16 * pg && b > a)
		madvise((void *)a, b - a, MADV_POPULATE_WRITE);
}
