/*
 * kd.c - knowledge distillation on the head's logits: the student learns
 * the teacher's softened distribution, T^2 KL(softmax(t/T) || softmax(s/T))
 * (prune-ofa.md), one row per MLM token, CLS example or SPAN start/end.
 */
#include "engine/model/internal.h"

#include <math.h>

typedef struct {
	pofa_model *m;
	const float *t;
	float T, weight;
	int rows, V;
	double *sums;
} kd_args;

/* row r of the logits: base offset and element stride */
static void kd_row(const pofa_model *m, int r, long *base, long *es)
{
	if (m->head == POFA_HEAD_SPAN) {
		int which = r / m->B, b = r % m->B;
		*base = (long)b * m->T * 2 + which;
		*es = 2;
	} else {
		int V = m->head == POFA_HEAD_MLM ? m->cfg.vocab_size : m->cfg.num_labels;
		*base = (long)r * V;
		*es = 1;
	}
}

static void kd_task(void *arg, int64_t r0, int64_t r1, int tid)
{
	kd_args *ka = arg;
	pofa_model *m = ka->m;
	const float *s = m->a.logits, *t = ka->t;
	float *ds = m->a.dlogits;
	float invT = 1.0f / ka->T, g = ka->weight * ka->T / (float)ka->rows;
	double sum = 0.0;
	for (int64_t r = r0; r < r1; r++) {
		long b, es;
		kd_row(m, (int)r, &b, &es);
		float smax = -INFINITY, tmax = -INFINITY;
		for (int j = 0; j < ka->V; j++) {
			smax = fmaxf(smax, s[b + j * es]);
			tmax = fmaxf(tmax, t[b + j * es]);
		}
		float zs = 0.0f, zt = 0.0f;
		for (int j = 0; j < ka->V; j++) {
			zs += pofa_expf((s[b + j * es] - smax) * invT);
			zt += pofa_expf((t[b + j * es] - tmax) * invT);
		}
		float lzs = logf(zs), lzt = logf(zt), kl = 0.0f;
		for (int j = 0; j < ka->V; j++) {
			float ls = (s[b + j * es] - smax) * invT - lzs;
			float lt = (t[b + j * es] - tmax) * invT - lzt;
			float pt = pofa_expf(lt), ps = pofa_expf(ls);
			kl += pt * (lt - ls);
			ds[b + j * es] += g * (ps - pt);
		}
		sum += kl;
	}
	ka->sums[tid] = sum;
}

double pofa_model_kd(pofa_model *m, const float *teacher_logits, float T, float weight)
{
	int rows = m->head == POFA_HEAD_SPAN ? 2 * m->B : m->nrows;
	int V = m->head == POFA_HEAD_MLM ? m->cfg.vocab_size
	        : m->head == POFA_HEAD_CLS ? m->cfg.num_labels : m->T;
	if (rows <= 0)
		return 0.0;
	double sums[64] = { 0 };
	kd_args ka = { m, teacher_logits, T, weight, rows, V, sums };
	pofa_pool_run(m->pool, rows, kd_task, &ka);
	double total = 0.0;
	for (int t = 0; t < pofa_pool_size(m->pool); t++)
		total += sums[t];
	return total / rows * (double)T * (double)T;
}

