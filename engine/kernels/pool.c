/* pool.c - the thread pool: a static, deterministic partition of [0, n)
 * over a fixed set of workers (see pool.h). */
#include "engine/kernels/pool.h"
#include "data/base/util.h"

#include <pthread.h>
#include <stdlib.h>

struct pofa_pool {
	int n;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;      /* bumped for each job */
	int pending;       /* workers still running the current job */
	int quit;
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

typedef struct { pofa_pool *p; int id; } pool_worker_arg;

static void *pool_worker(void *a)
{
	pool_worker_arg *wa = a;
	pofa_pool *p = wa->p;
	int id = wa->id;
	free(wa);
	uint64_t seen = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		pofa_task fn = p->fn;
		void *arg = p->arg;
		int64_t total = p->total;
		pthread_mutex_unlock(&p->mu);

		int64_t i0, i1;
		pool_chunk(total, p->n, id, &i0, &i1);
		if (i1 > i0)
			fn(arg, i0, i1, id);

		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
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
	p->quit = 1;
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
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->total = n;
	p->pending = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);

	int64_t i0, i1;
	pool_chunk(n, p->n, 0, &i0, &i1);
	if (i1 > i0)
		fn(arg, i0, i1, 0);

	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
