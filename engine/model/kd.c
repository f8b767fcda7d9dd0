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
	int64_t den;   /* rows averaged over: these, or the whole batch's (a shard) */
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

POFA_CLONES static void kd_task(void *arg, int64_t r0, int64_t r1, int tid)
{
	kd_args *ka = arg;
	pofa_model *m = ka->m;
	const float *s = m->a.logits, *t = ka->t;
	float *ds = m->a.dlogits;
	float invT = 1.0f / ka->T, g = ka->weight * ka->T / (float)ka->den;
	double sum = 0.0;
	for (int64_t r = r0; r < r1; r++) {
		long b, es;
		kd_row(m, (int)r, &b, &es);
		float smax = -INFINITY, tmax = -INFINITY;
		for (int j = 0; j < ka->V; j++) {
			smax = fmaxf(smax, s[b + j * es]);
			tmax = fmaxf(tmax, t[b + j * es]);
		}
		/* the exps a chunk at a time in loops that vectorise, every sum
		 * in order in its own loop: the same numbers as one scalar loop */
		enum { K = 256 };
		float es_[K], et_[K], ls_[K], lt_[K];
		float zs = 0.0f, zt = 0.0f;
		for (int j0 = 0; j0 < ka->V; j0 += K) {
			int n = ka->V - j0 < K ? ka->V - j0 : K;
			for (int j = 0; j < n; j++) {
				es_[j] = pofa_expf((s[b + (j0 + j) * es] - smax) * invT);
				et_[j] = pofa_expf((t[b + (j0 + j) * es] - tmax) * invT);
			}
			for (int j = 0; j < n; j++) {
				zs += es_[j];
				zt += et_[j];
			}
		}
		float lzs = logf(zs), lzt = logf(zt), kl = 0.0f;
		for (int j0 = 0; j0 < ka->V; j0 += K) {
			int n = ka->V - j0 < K ? ka->V - j0 : K;
			for (int j = 0; j < n; j++) {
				ls_[j] = (s[b + (j0 + j) * es] - smax) * invT - lzs;
				lt_[j] = (t[b + (j0 + j) * es] - tmax) * invT - lzt;
				float pt = pofa_expf(lt_[j]), ps = pofa_expf(ls_[j]);
				ds[b + (j0 + j) * es] += g * (ps - pt);
				es_[j] = pt;
			}
			for (int j = 0; j < n; j++)
				kl += es_[j] * (lt_[j] - ls_[j]);
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
	int64_t den = m->den.kd > 0 ? m->den.kd : rows;
	kd_args ka = { m, teacher_logits, T, weight, rows, V, den, sums };
	pofa_pool_run(m->pool, rows, kd_task, &ka);
	double total = 0.0;
	for (int t = 0; t < pofa_pool_size(m->pool); t++)
		total += sums[t];
	return total / (double)den * (double)T * (double)T;
}

