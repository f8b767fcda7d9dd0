/*
 * pool.h - the engine's thread pool. A job splits [0, n) into one chunk per
 * thread; chunk k always covers the same range for the same (n, nthreads),
 * so every kernel's results are reproducible bit for bit.
 */
#ifndef POFA_KERNELS_POOL_H
#define POFA_KERNELS_POOL_H

#include <stdint.h>

typedef struct pofa_pool pofa_pool;
/* runs on [i0, i1); tid in [0, nthreads) */
typedef void (*pofa_task)(void *arg, int64_t i0, int64_t i1, int tid);

pofa_pool *pofa_pool_new(int nthreads);
void pofa_pool_free(pofa_pool *p);
int pofa_pool_size(const pofa_pool *p);
/* runs fn over [0, n) on every thread (the caller's too) and waits */
void pofa_pool_run(pofa_pool *p, int64_t n, pofa_task fn, void *arg);

#endif
