/*
 * sparse.h - gradual magnitude pruning on top of the model: masks, their
 * cubic schedule and patterns, and the pattern lock. The learning-rate
 * rewinding is a schedule of pofa.h; distillation is pofa_model_kd().
 */
#ifndef POFA_SPARSE_H
#define POFA_SPARSE_H

#include "engine/pofa.h"

enum pofa_pattern {
	POFA_PATTERN_UNSTRUCTURED,  /* any weight (the paper's) */
	POFA_PATTERN_BLOCK,         /* 1 x bs blocks along a row (input dimension) */
	POFA_PATTERN_NM,            /* N of every M consecutive weights of a row kept */
};

typedef struct pofa_gmp {
	float s_init, s_final;      /* sparsity at t0 and from t1 on */
	int64_t t0, t1;             /* the pruning window */
	int64_t every;              /* masks recomputed every `every` steps ... */
	int64_t freeze;             /* ... until this step, then frozen */
	int pattern;
	int block;                  /* POFA_PATTERN_BLOCK: block width (4) */
	int n, m;                   /* POFA_PATTERN_NM: keep n of m (2:4) */
	int global;                 /* one threshold over all prunable matrices */
} pofa_gmp;

/* s(t) = s_f + (s_i - s_f) (1 - clamp((t - t0) / (t1 - t0), 0, 1))^3 */
double pofa_gmp_target(const pofa_gmp *g, int64_t t);
/* is step t a mask update step? t0 <= t <= freeze and (t - t0) % every == 0 */
int pofa_gmp_update_step(const pofa_gmp *g, int64_t t);

/* One mask byte per parameter; only prunable tensors are ever masked. */
typedef struct pofa_masks {
	pofa_model *model;
	unsigned char *m;
	size_t n;
	float *threshold;           /* per tensor: the last pruning threshold */
	float *target;              /* per tensor: the sparsity asked for */
	int active;                 /* any mask applied yet */
} pofa_masks;

int pofa_masks_init(pofa_masks *mk, pofa_model *m, pofa_err *err);
void pofa_masks_free(pofa_masks *mk);
/* pattern lock: mask = (W != 0) for every prunable matrix */
void pofa_masks_lock(pofa_masks *mk);
/* recompute the masks of every prunable matrix at `sparsity` from |W| (exact
 * k = round(s * numel) per matrix, ties to the lower index), then apply */
int pofa_masks_prune(pofa_masks *mk, double sparsity, const pofa_gmp *g, pofa_err *err);
/* W *= mask, and zero AdamW moments where the mask is 0 */
void pofa_masks_apply(pofa_masks *mk);
/* grad *= mask */
void pofa_masks_grads(pofa_masks *mk);
int pofa_masks_save(const pofa_masks *mk, const char *path, pofa_err *err);
int pofa_masks_load(pofa_masks *mk, const char *path, pofa_err *err);

#endif
