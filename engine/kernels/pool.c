/* pool.c - the thread pool: a static, deterministic partition of [0, n)
 * over a fixed set of workers (see pool.h). */
#include "engine/kernels/pool.h"
#include "data/base/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/*
 * Jobs come in bursts microseconds apart (a forward pass runs about ten a
 * layer), and waking a sleeping thread costs tens of microseconds: so a
 * worker that finished a job, and the caller waiting for its workers, spin
 * for up to POOL_SPIN_NS before they sleep on the condition variables. An
 * idle pool (a paused run) sleeps.
 */
#define POOL_SPIN_NS 200000

struct pofa_pool {
	int n;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	_Atomic uint64_t gen;  /* bumped for each job, after fn, arg, total are set */
	_Atomic int pending;   /* workers still running the current job */
	_Atomic int quit;
	pofa_task fn;
	void *arg;
	int64_t total;
};

static void pool_chunk(int64_t total, int n, int k, int64_t *i0, int64_t *i1)
{
	int64_t base = total / n, rem = total % n;
	*i0 = k * base + POFA_MIN(k, rem);
	*i1 = *i0 + base + (k < rem);
}

static int64_t pool_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void pool_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* one turn of a spin: 0 once POOL_SPIN_NS have passed since the first */
static int spin_on(int64_t *t0, int i)
{
	if ((i & 63) == 63) {
		int64_t t = pool_ns();
		if (!*t0)
			*t0 = t;
		else if (t - *t0 > POOL_SPIN_NS)
			return 0;
	}
	pool_pause();
	return 1;
}

/* spins until *v != not (1) or the spin time runs out (0) */
static int spin_u64(_Atomic uint64_t *v, uint64_t not)
{
	int64_t t0 = 0;
	for (int i = 0; atomic_load_explicit(v, memory_order_acquire) == not; i++)
		if (!spin_on(&t0, i))
			return 0;
	return 1;
}

/* spins until *v is 0 (1) or the spin time runs out (0) */
static int spin_zero(_Atomic int *v)
{
	int64_t t0 = 0;
	for (int i = 0; atomic_load_explicit(v, memory_order_acquire) != 0; i++)
		if (!spin_on(&t0, i))
			return 0;
	return 1;
}

typedef struct { pofa_pool *p; int id; } pool_worker_arg;

static void *pool_worker(void *a)
{
	pool_worker_arg *wa = a;
	pofa_pool *p = wa->p;
	int id = wa->id;
	free(wa);
	uint64_t seen = 0;
	for (;;) {
		if (!spin_u64(&p->gen, seen)) {
			pthread_mutex_lock(&p->mu);
			while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
				pthread_cond_wait(&p->go, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->quit))
			return NULL;
		seen = atomic_load_explicit(&p->gen, memory_order_acquire);
		int64_t i0, i1;
		pool_chunk(p->total, p->n, id, &i0, &i1);
		if (i1 > i0)
			p->fn(p->arg, i0, i1, id);

		if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

pofa_pool *pofa_pool_new(int nthreads)
{
	if (nthreads < 1)
		nthreads = 1;
	pofa_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->n = nthreads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc((size_t)nthreads, sizeof *p->threads);
	for (int i = 1; i < nthreads; i++) {
		pool_worker_arg *wa = malloc(sizeof *wa);
		wa->p = p;
		wa->id = i;
		if (pthread_create(&p->threads[i], NULL, pool_worker, wa) != 0) {
			free(wa);
			p->n = i; /* run with the threads we have */
			break;
		}
	}
	return p;
}

void pofa_pool_free(pofa_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->quit, 1);
	atomic_fetch_add(&p->gen, 1);
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

int pofa_pool_size(const pofa_pool *p) { return p ? p->n : 1; }

void pofa_pool_run(pofa_pool *p, int64_t n, pofa_task fn, void *arg)
{
	if (n <= 0)
		return;
	if (!p || p->n == 1) {
		fn(arg, 0, n, 0);
		return;
	}
	/* the workers read fn, arg and total only after they see gen move, and
	 * the last job's readers are done (pending reached 0) */
	p->fn = fn;
	p->arg = arg;
	p->total = n;
	atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);

	int64_t i0, i1;
	pool_chunk(n, p->n, 0, &i0, &i1);
	if (i1 > i0)
		fn(arg, i0, i1, 0);

	if (!spin_zero(&p->pending)) {
		pthread_mutex_lock(&p->mu);
		while (atomic_load(&p->pending) > 0)
			pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
}
