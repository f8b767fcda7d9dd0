/* dist.c - data-parallel training with Open MPI (see dist.h). */
#include "engine/dist/dist.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef POFA_MPI
#include <mpi.h>

static int g_on, g_rank, g_size = 1;

int pofa_dist_built(void) { return 1; }

int pofa_dist_init(int *argc, char ***argv)
{
	/* under mpirun only: a program started alone stays one process and
	 * needs no MPI runtime */
	if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK"))
		return 0;
	int provided = 0;
	/* ranks waiting on rank 0 (paused, or writing a checkpoint) yield the
	 * CPU instead of spinning on it, unless the user says otherwise */
	setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
	/* the engine thread makes the calls, the main thread the first and
	 * the last: never two at once */
	if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
		fprintf(stderr, "pofa: MPI_Init_thread failed\n");
		return -1;
	}
	if (provided < MPI_THREAD_SERIALIZED) {
		fprintf(stderr, "pofa: this MPI library gives no MPI_THREAD_SERIALIZED; run without mpirun\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	g_on = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &g_size);
	return 0;
}

void pofa_dist_finalize(void)
{
	if (g_on)
		MPI_Finalize();
	g_on = 0;
}

int pofa_dist_rank(void) { return g_rank; }
int pofa_dist_size(void) { return g_size; }

/* buckets of 4 MiB: one huge call holds every rank until the last byte,
 * buckets let the transport pipeline them */
enum { BUCKET = 1 << 20 };

static void sum(void *x, size_t n, size_t width, MPI_Datatype t, MPI_Op op)
{
	if (g_size < 2)
		return;
	for (size_t i = 0; i < n; i += BUCKET) {
		int c = (int)(n - i < BUCKET ? n - i : BUCKET);
		MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * width, c, t, op, MPI_COMM_WORLD);
	}
}

void pofa_dist_sum_f(float *x, size_t n) { sum(x, n, sizeof *x, MPI_FLOAT, MPI_SUM); }
void pofa_dist_sum_d(double *x, size_t n) { sum(x, n, sizeof *x, MPI_DOUBLE, MPI_SUM); }
void pofa_dist_sum_i64(int64_t *x, size_t n) { sum(x, n, sizeof *x, MPI_INT64_T, MPI_SUM); }
void pofa_dist_min_f(float *x, size_t n) { sum(x, n, sizeof *x, MPI_FLOAT, MPI_MIN); }
void pofa_dist_max_f(float *x, size_t n) { sum(x, n, sizeof *x, MPI_FLOAT, MPI_MAX); }

int pofa_dist_agree(uint64_t v)
{
	if (g_size < 2)
		return 1;
	unsigned long long lo = v, hi = v;
	MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
	MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
	return lo == hi;
}

void pofa_dist_bcast(void *x, size_t bytes)
{
	if (g_size < 2)
		return;
	for (size_t i = 0; i < bytes; i += (size_t)1 << 30) {
		size_t c = bytes - i < (size_t)1 << 30 ? bytes - i : (size_t)1 << 30;
		MPI_Bcast((char *)x + i, (int)c, MPI_BYTE, 0, MPI_COMM_WORLD);
	}
}

void pofa_dist_barrier(void)
{
	if (g_size > 1)
		MPI_Barrier(MPI_COMM_WORLD);
}

void pofa_dist_abort(const char *msg)
{
	fprintf(stderr, "pofa: rank %d of %d: %s; stopping every rank\n", g_rank, g_size, msg);
	if (g_on)
		MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

#else /* without MPI: one rank */

int pofa_dist_built(void) { return 0; }
int pofa_dist_init(int *argc, char ***argv) { (void)argc; (void)argv; return 0; }
void pofa_dist_finalize(void) {}
int pofa_dist_rank(void) { return 0; }
int pofa_dist_size(void) { return 1; }
void pofa_dist_sum_f(float *x, size_t n) { (void)x; (void)n; }
void pofa_dist_sum_d(double *x, size_t n) { (void)x; (void)n; }
void pofa_dist_sum_i64(int64_t *x, size_t n) { (void)x; (void)n; }
void pofa_dist_min_f(float *x, size_t n) { (void)x; (void)n; }
void pofa_dist_max_f(float *x, size_t n) { (void)x; (void)n; }
int pofa_dist_agree(uint64_t v) { (void)v; return 1; }
void pofa_dist_bcast(void *x, size_t bytes) { (void)x; (void)bytes; }
void pofa_dist_barrier(void) {}
void pofa_dist_abort(const char *msg)
{
	fprintf(stderr, "pofa: %s\n", msg);
	exit(1);
}

#endif

void pofa_dist_shard(int B, int *b0, int *b1)
{
	int r = pofa_dist_rank(), n = pofa_dist_size();
	*b0 = (int)((int64_t)B * r / n);
	*b1 = (int)((int64_t)B * (r + 1) / n);
}

int pofa_dist_multihost(void)
{
	const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
	return pofa_dist_size() > 1 && local && atol(local) < pofa_dist_size();
}

/* ---- the background all-reduce ------------------------------------------------ */

enum { QCAP = 4096 };

struct pofa_dist_queue {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t more, done;
	float *x[QCAP];
	size_t n[QCAP];
	int head, tail, busy, quit;
};

static void *queue_main(void *arg)
{
	pofa_dist_queue *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == q->tail && !q->quit)
			pthread_cond_wait(&q->more, &q->mu);
		if (q->head == q->tail && q->quit)
			break;
		float *x = q->x[q->head % QCAP];
		size_t n = q->n[q->head % QCAP];
		q->busy = 1;
		pthread_mutex_unlock(&q->mu);
		pofa_dist_sum_f(x, n);
		pthread_mutex_lock(&q->mu);
		q->busy = 0;
		q->head++;
		pthread_cond_broadcast(&q->done);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

pofa_dist_queue *pofa_dist_queue_new(void)
{
	pofa_dist_queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->more, NULL);
	pthread_cond_init(&q->done, NULL);
	if (pthread_create(&q->th, NULL, queue_main, q) != 0) {
		free(q);
		return NULL;
	}
	return q;
}

void pofa_dist_queue_push(pofa_dist_queue *q, float *x, size_t n)
{
	pthread_mutex_lock(&q->mu);
	while (q->tail - q->head >= QCAP)   /* full: wait for room */
		pthread_cond_wait(&q->done, &q->mu);
	q->x[q->tail % QCAP] = x;
	q->n[q->tail % QCAP] = n;
	q->tail++;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
}

void pofa_dist_queue_wait(pofa_dist_queue *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->head != q->tail || q->busy)
		pthread_cond_wait(&q->done, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

void pofa_dist_queue_free(pofa_dist_queue *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->quit = 1;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	pthread_cond_destroy(&q->more);
	pthread_cond_destroy(&q->done);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
