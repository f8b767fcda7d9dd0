/* ref.h - a double-precision reference BERT for the tests: written apart
 * from the engine, loops only, Hugging Face semantics, no dropout. */
#ifndef POFA_TEST_REF_H
#define POFA_TEST_REF_H

#include "engine/pofa.h"

typedef struct ref_model {
	pofa_config cfg;
	int head;
	int mlm_all;          /* MLM decoder on every non-padding token */
	pofa_tensor *t;       /* the engine's tensor table (names, shapes, offsets) */
	int nt;
	const float *base;    /* the engine's parameter block */
	double *p;            /* double copy of the parameters, same layout */
	size_t np;
} ref_model;

void ref_init(ref_model *r, pofa_model *m, int mlm_all);
void ref_free(ref_model *r);
void ref_sync(ref_model *r);  /* copy the engine's parameters again */
/* the head's task loss, computed in double */
double ref_loss(const ref_model *r, const pofa_batch *b);
/* &p[...] of the tensor with this Hugging Face name */
double *ref_param(const ref_model *r, const char *name);

/* distillation, double precision: weight * T^2 * KL(softmax(t/T) ||
 * softmax(s/T)) of rows of V logits (element j of row r at r*rs + j*es),
 * averaged over rows; adds the gradient into ds when not NULL */
double ref_kd_loss(const float *s, const float *t, float *ds, int rows, int V, long rs, long es,
                   float T, float weight);

/* helpers for gradient checks */
double ref_gelu(double x);
/* max over elements of |a-n| / max(|a|, |n|, 1e-2 * max|n|, floor) */
double ref_rel_err(const float *analytic, const double *numeric, size_t n, double floor);

#endif
