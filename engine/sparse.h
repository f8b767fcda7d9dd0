/*
 * sparse.h - the Prune OFA pieces on top of the model: gradual magnitude
 * pruning masks with their cubic schedule, pattern lock, learning-rate
 * rewinding, and the knowledge-distillation loss.
 */
#ifndef POFA_SPARSE_H
#define POFA_SPARSE_H

#include "pofa.h"

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
/* zeros of a tensor / of all prunable matrices (from the weights) */
double pofa_tensor_sparsity(const pofa_tensor *t);
double pofa_model_sparsity(pofa_model *m);
int pofa_masks_save(const pofa_masks *mk, const char *path, pofa_err *err);
int pofa_masks_load(pofa_masks *mk, const char *path, pofa_err *err);

/* Learning-rate multiplier with rewinding (prune-ofa.md): warmup w steps,
 * then inside [t0, t1) (N - P - t + floor((t - t0) / f) f) / (N - P - w),
 * after it (N - t) / (N - P - w); N total steps, P = t1 - t0, f = every. */
double pofa_lr_rewind(int64_t t, int64_t N, int64_t w, int64_t t0, int64_t t1, int64_t f);

/* Distillation: adds weight * T^2 * KL(softmax(t/T) || softmax(s/T)) of
 * `rows` rows of V logits to the loss, and its gradient to ds. Element j of
 * row r sits at r*row_stride + j*elem_stride. The rows are averaged.
 * Returns the mean KL * T^2 (unweighted). */
double pofa_kd_loss(const float *s, const float *t, float *ds, int rows, int V, long row_stride,
                    long elem_stride, float T, float weight);

#endif
