/*
 * optim.c - what changes the weights: gradient clipping as
 * torch.nn.utils.clip_grad_norm_, AdamW as torch.optim.AdamW, and the
 * learning-rate schedules (linear or constant with warmup, as transformers,
 * and the Prune OFA rewinding inside the pruning window).
 */
#include "engine/model/internal.h"
#include "data/base/util.h"

#include <math.h>
#include <stdlib.h>

/* ---- the weights a fixed pattern keeps ------------------------------------ */

int pofa_model_keep(pofa_model *m, const unsigned char *mask, pofa_err *err)
{
	for (int t = 0; m->kept && t < m->ntensors; t++)
		free(m->kept[t]);
	free(m->kept);
	free(m->nkept);
	m->kept = NULL;
	m->nkept = NULL;
	if (!mask)
		return POFA_OK;
	m->kept = calloc((size_t)m->ntensors, sizeof *m->kept);
	m->nkept = calloc((size_t)m->ntensors, sizeof *m->nkept);
	if (!m->kept || !m->nkept)
		goto oom;
	for (int t = 0; t < m->ntensors; t++) {
		const pofa_tensor *tt = &m->tensors[t];
		if (!tt->prunable || tt->absent)
			continue;
		const unsigned char *mk = mask + (tt->data - m->params);
		int64_t n = 0;
		for (int64_t i = 0; i < tt->numel; i++)
			n += mk[i] != 0;
		if (!(m->kept[t] = malloc((size_t)(n ? n : 1) * sizeof **m->kept)))
			goto oom;
		n = 0;
		for (int64_t i = 0; i < tt->numel; i++)
			if (mk[i])
				m->kept[t][n++] = (int32_t)i;
		m->nkept[t] = n;
	}
	return POFA_OK;
oom:
	pofa_model_keep(m, NULL, NULL);
	return pofa_error(err, POFA_ERR_RUN, "out of memory listing the weights a pattern keeps");
}

/* ---- gradient clipping -------------------------------------------------- */

typedef struct {
	pofa_model *m;
	const pofa_optim *o;
	double lr;
	float bc2s;
	double *sums;
	float scale;
} opt_args;

static void sumsq_task(void *arg, int64_t t0, int64_t t1, int tid)
{
	opt_args *oa = arg;
	double s = 0.0;
	for (int64_t t = t0; t < t1; t++) {
		const pofa_tensor *tt = &oa->m->tensors[t];
		if (!oa->m->active[t])
			continue;
		const int32_t *k = oa->m->kept ? oa->m->kept[t] : NULL;
		if (k) /* the others are zero in the dense masked step: the same sum */
			for (int64_t j = 0; j < oa->m->nkept[t]; j++)
				s += (double)tt->grad[k[j]] * tt->grad[k[j]];
		else
			for (int64_t i = 0; i < tt->numel; i++)
				s += (double)tt->grad[i] * tt->grad[i];
	}
	oa->sums[tid] = s;
}

typedef struct {
	float *g;
	const int32_t *kept;   /* the indices of g to scale, or NULL: all */
	float coef;
} scale_args;

static void scale_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)tid;
	scale_args *sa = arg;
	if (sa->kept)
		for (int64_t j = i0; j < i1; j++)
			sa->g[sa->kept[j]] *= sa->coef;
	else
		for (int64_t i = i0; i < i1; i++)
			sa->g[i] *= sa->coef;
}

/* fn over a tensor's n elements: split over the threads when it is large
 * enough to pay for the hand-over */
static void run_elements(pofa_model *m, int64_t n, pofa_task fn, void *arg)
{
	if (n >= 32768)
		pofa_pool_run(m->pool, n, fn, arg);
	else
		fn(arg, 0, n, 0);
}

float pofa_model_clip_grad(pofa_model *m, float max_norm)
{
	if (!m->grads)
		return 0.0f;
	double sums[64] = { 0 };
	opt_args oa = { .m = m, .sums = sums };
	pofa_pool_run(m->pool, m->ntensors, sumsq_task, &oa);
	double total = 0.0;
	for (int t = 0; t < pofa_pool_size(m->pool); t++)
		total += sums[t];
	float norm = (float)sqrt(total);
	if (max_norm > 0.0f) {
		/* as torch.nn.utils.clip_grad_norm_ */
		float coef = max_norm / (norm + 1e-6f);
		/* one product per element, as sscal did */
		if (coef < 1.0f)
			for (int t = 0; t < m->ntensors; t++) {
				if (!m->active[t])
					continue;
				const int32_t *k = m->kept ? m->kept[t] : NULL;
				scale_args sa = { m->tensors[t].grad, k, coef };
				run_elements(m, k ? m->nkept[t] : m->tensors[t].numel, scale_task, &sa);
			}
	}
	return norm;
}

/* ---- AdamW ---------------------------------------------------------------- */

typedef struct {
	opt_args *oa;
	const pofa_tensor *t;
	size_t off;
	const int32_t *kept;   /* the indices to update, or NULL: all */
} adam_chunk;

static void adamw_range(const opt_args *oa, const pofa_tensor *t, size_t off, const int32_t *kept, int64_t i0,
                        int64_t i1)
{
	/* torch.optim.AdamW (single tensor): p *= 1 - lr*wd; m = b1 m + (1-b1) g;
	 * v = b2 v + (1-b2) g^2; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) */
	const pofa_optim *o = oa->o;
	float *p = t->data, *g = t->grad;
	float *m1 = oa->m->m1 + off, *m2 = oa->m->m2 + off;
	/* scalars computed in double and rounded once, as PyTorch passes
	 * Python floats to float32 kernels */
	float decay = t->decay ? (float)(1.0 - oa->lr * o->weight_decay) : 1.0f;
	float b1 = (float)o->beta1, b2 = (float)o->beta2, step = oa->scale, bc2s = oa->bc2s;
	float omb1 = (float)(1.0 - o->beta1), omb2 = (float)(1.0 - o->beta2), eps = (float)o->eps;
	/* one loop for each case, so that the dense one stays vectorised */
#define ADAMW_ELEMENT(i)                                               \
	do {                                                           \
		p[i] *= decay;                                         \
		m1[i] = m1[i] * b1 + g[i] * omb1;                      \
		m2[i] = m2[i] * b2 + omb2 * g[i] * g[i];               \
		float denom = sqrtf(m2[i]) / bc2s + eps;               \
		p[i] += -step * (m1[i] / denom);                       \
	} while (0)
	if (kept)
		for (int64_t j = i0; j < i1; j++)
			ADAMW_ELEMENT(kept[j]);
	else
		for (int64_t i = i0; i < i1; i++)
			ADAMW_ELEMENT(i);
#undef ADAMW_ELEMENT
}

static void adamw_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	adam_chunk *ac = arg;
	(void)tid;
	adamw_range(ac->oa, ac->t, ac->off, ac->kept, i0, i1);
}

void pofa_model_adamw(pofa_model *m, pofa_optim *o, double lr)
{
	if (!m->grads)
		return;   /* an inference model does not train */
	o->step++;
	opt_args oa = { .m = m, .o = o, .lr = lr };
	/* bias corrections in double, as PyTorch computes them in Python */
	double bc1 = 1.0 - pow(o->beta1, (double)o->step);
	double bc2 = 1.0 - pow(o->beta2, (double)o->step);
	oa.scale = (float)(lr / bc1);
	oa.bc2s = (float)sqrt(bc2);
	for (int t = 0; t < m->ntensors; t++) {
		if (!m->active[t])
			continue;
		pofa_tensor *tt = &m->tensors[t];
		size_t off = (size_t)(tt->data - m->params);
		const int32_t *k = m->kept ? m->kept[t] : NULL;
		adam_chunk ac = { &oa, tt, off, k };
		run_elements(m, k ? m->nkept[t] : tt->numel, adamw_task, &ac);
	}
}

pofa_optim pofa_optim_default(void)
{
	pofa_optim o = { .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .step = 0 };
	return o;
}

/* ---- learning-rate schedules ------------------------------------------------ */

double pofa_lr(const pofa_sched *s, int64_t step)
{
	if (s->kind == POFA_SCHED_REWIND)
		return s->lr * pofa_lr_rewind(step, s->total, s->warmup, s->t0, s->t1, s->every);
	if (s->warmup > 0 && step < s->warmup)
		return s->lr * (double)step / (double)s->warmup;
	if (s->kind == POFA_SCHED_CONSTANT)
		return s->lr;
	if (step >= s->total)
		return 0.0;
	double denom = (double)POFA_MAX(1, s->total - s->warmup);
	return s->lr * (double)(s->total - step) / denom;
}


double pofa_lr_rewind(int64_t t, int64_t N, int64_t w, int64_t t0, int64_t t1, int64_t f)
{
	int64_t P = t1 - t0;
	double den = (double)(N - P - w);
	if (den <= 0)
		den = 1;
	if (w > 0 && t < w)
		return (double)t / (double)w;
	if (t >= t0 && t < t1 && f > 0)
		return (double)(N - P - t + ((t - t0) / f) * f) / den;
	if (t >= t1)
		return (double)(N - t) / den > 0 ? (double)(N - t) / den : 0.0;
	return (double)(N - P - t) / den;
}
