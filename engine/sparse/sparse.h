/*
 * sparse.h - gradual pruning on top of the model: masks, their cubic
 * schedule and patterns, the pattern lock, and the table of pruning
 * methods that choose which weights a mask keeps. The learning-rate
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
	int method;                 /* a row of pofa_prune_methods (0: magnitude) */
	/* method = obert (obert.h): weights a Fisher block (0: sized to the
	 * model and the machine), gradients an estimate (0: as many as the steps
	 * between two pruning steps, at most 1024), dampening, and the optimal
	 * update of the weights kept */
	int obert_block, obert_grads;
	double obert_damp;
	int obert_update;
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
	int kept;                   /* the optimizer updates the kept weights only (pofa_masks_keep) */
	int method;                 /* the pruning method (a row of pofa_prune_methods) */
	void *state;                /* its own state, when it keeps one */
} pofa_masks;

/* ---- pruning methods ------------------------------------------------------ *
 * A row of the table: how the weights a mask keeps are chosen. Its name is
 * the recipe's method = NAME. score gives one score per unit of width
 * consecutive weights of a prunable tensor (a weight, or a 1xB block; the
 * lowest are pruned; an N:M group ranks its weights' scores). The optional
 * hooks: the memory its state takes, said before a stage; the state made;
 * each step's gradients seen; the weights updated once the new masks are
 * chosen and before they zero the pruned ones; and the state released,
 * saved with a checkpoint and read back (so that a resumed stage prunes as
 * the uninterrupted one). */
enum pofa_prune_method_id { POFA_PRUNE_MAGNITUDE, POFA_PRUNE_OBERT, POFA_PRUNE_METHOD_COUNT };
typedef struct pofa_prune_method {
	const char *name;
	const char *help;           /* one line: what it scores */
	void (*score)(const pofa_masks *mk, const pofa_tensor *t, int width, float *score);
	size_t (*memory)(pofa_model *m, const pofa_gmp *g);
	/* its settings in words for the log (NULL: none to say) */
	void (*settings)(pofa_model *m, const pofa_gmp *g, char *buf, size_t n);
	int (*init_state)(pofa_masks *mk, const pofa_gmp *g, pofa_err *err);
	/* after each backward pass of step `step`, before the gradients are masked */
	int (*grad_hook)(pofa_masks *mk, const pofa_gmp *g, int64_t step, pofa_err *err);
	void (*after_prune)(pofa_masks *mk, const pofa_gmp *g);
	void (*free_state)(pofa_masks *mk);
	int (*save_state)(const pofa_masks *mk, const char *path, pofa_err *err);
	int (*load_state)(pofa_masks *mk, const char *path, pofa_err *err);
} pofa_prune_method;
extern const pofa_prune_method pofa_prune_methods[]; /* POFA_PRUNE_METHOD_COUNT of them */
/* the row named name, or -1 */
int pofa_prune_method_find(const char *name);

/* masks of m, all ones, chosen by magnitude */
int pofa_masks_init(pofa_masks *mk, pofa_model *m, pofa_err *err);
/* the method of g (a row of pofa_prune_methods) and its state; a state
 * that does not fit in memory is refused, its size said */
int pofa_masks_set_method(pofa_masks *mk, const pofa_gmp *g, pofa_err *err);
void pofa_masks_free(pofa_masks *mk);
/* pattern lock: mask = (W != 0) for every prunable matrix */
void pofa_masks_lock(pofa_masks *mk);
/* on: the masks applied once more, then the model's optimizer steps
 * (clipping, AdamW) run over the weights they keep only, and
 * pofa_masks_apply and pofa_masks_grads have nothing left to do (see
 * pofa_model_keep); for a pattern that stays fixed. off: as before. */
int pofa_masks_keep(pofa_masks *mk, int on, pofa_err *err);
/* recompute the masks of every prunable matrix at `sparsity` from the
 * method's scores (exact k = round(s * numel) per matrix, ties to the lower
 * index), then apply */
int pofa_masks_prune(pofa_masks *mk, double sparsity, const pofa_gmp *g, pofa_err *err);
/* W *= mask, and zero AdamW moments where the mask is 0 */
void pofa_masks_apply(pofa_masks *mk);
/* grad *= mask */
void pofa_masks_grads(pofa_masks *mk);
/* the method's per-step hook on step step's gradients (none: 0) */
int pofa_masks_observe(pofa_masks *mk, const pofa_gmp *g, int64_t step, pofa_err *err);
int pofa_masks_save(const pofa_masks *mk, const char *path, pofa_err *err);
int pofa_masks_load(pofa_masks *mk, const char *path, pofa_err *err);

#endif
