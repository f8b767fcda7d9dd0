/*
 * dist.h - data-parallel training across processes with Open MPI.
 *
 * Built with MPI (make MPI=1, or found by pkg-config), the same program
 * runs alone or under mpirun: every rank builds the same global batch
 * (the single-process data order), computes the rows of its shard, and
 * the gradients are summed with MPI_Allreduce before clipping, so that
 * clipping, AdamW, the masks, distillation and the QAT ranges are the
 * same on every rank. Rank 0 alone writes the run's files. Built without
 * MPI, or run without mpirun, there is one rank and these are no-ops.
 */
#ifndef POFA_DIST_H
#define POFA_DIST_H

#include <stddef.h>
#include <stdint.h>

/* MPI_Init when the program runs under mpirun (and was built with MPI);
 * call once, first. Returns 0, or -1 with a message on stderr. */
int pofa_dist_init(int *argc, char ***argv);
void pofa_dist_finalize(void);
int pofa_dist_rank(void);
int pofa_dist_size(void);
/* built with MPI? */
int pofa_dist_built(void);

/* sums over the ranks, in place (every rank gets the same bits) */
void pofa_dist_sum_f(float *x, size_t n);
void pofa_dist_sum_d(double *x, size_t n);
void pofa_dist_sum_i64(int64_t *x, size_t n);
/* min and max over the ranks, in place */
void pofa_dist_min_f(float *x, size_t n);
void pofa_dist_max_f(float *x, size_t n);
/* does every rank hold v? */
int pofa_dist_agree(uint64_t v);
/* rank 0's bytes to every rank */
void pofa_dist_bcast(void *x, size_t bytes);
void pofa_dist_barrier(void);
/* A thread that sums float ranges over the ranks, in the order they are
 * pushed, while the caller goes on computing (the gradient all-reduce
 * overlapped with the backward pass). The caller makes no MPI call
 * between its first push and pofa_dist_queue_wait. */
typedef struct pofa_dist_queue pofa_dist_queue;
pofa_dist_queue *pofa_dist_queue_new(void);
void pofa_dist_queue_push(pofa_dist_queue *q, float *x, size_t n);
void pofa_dist_queue_wait(pofa_dist_queue *q);
void pofa_dist_queue_free(pofa_dist_queue *q);
/* are some of the ranks on other machines (a network between them)? */
int pofa_dist_multihost(void);
/* this rank's rows [*b0, *b1) of a global batch of B */
void pofa_dist_shard(int B, int *b0, int *b1);
/* ends the whole job: the message names this rank */
void pofa_dist_abort(const char *msg);

#endif
