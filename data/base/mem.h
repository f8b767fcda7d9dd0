/*
 * mem.h - the one way an array grows: every realloc of the code base goes
 * through pofa_resize, so that a failed one leaves the array as it was
 * (nothing leaked, nothing lost) and the caller gets -1 to report.
 *
 *     if (n == cap && pofa_grow(&v, &cap, n + 1, sizeof *v))
 *         return pofa_error(err, POFA_ERR_RUN, "out of memory");
 *     v[n++] = x;
 */
#ifndef POFA_BASE_MEM_H
#define POFA_BASE_MEM_H

#include <stddef.h>

/* *pp (an array of elem-byte items; pp points at the pointer) resized to
 * n items. 0, or -1 when out of memory or n * elem overflows: *pp is then
 * unchanged. */
int pofa_resize(void *pp, size_t n, size_t elem);
/* at least need items: *cap doubled (from 16) until it holds them, then
 * pofa_resize; 0, or -1 with *pp and *cap unchanged */
int pofa_grow(void *pp, size_t *cap, size_t need, size_t elem);

/* Fresh memory about to be filled (n bytes at p) made present at once
 * (madvise MADV_POPULATE_WRITE, Linux 5.14): one call rather than a page
 * fault every 4 KiB, which on a virtual machine costs about twice as much.
 * Advice only: without it (an older kernel), the first writes fault. */
void pofa_prefault(void *p, size_t n);

#endif
