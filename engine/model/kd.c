/*
 * kd.c - knowledge distillation on the head's logits: the student learns
 * the teacher's softened distribution, T^2 KL(softmax(t/T) || softmax(s/T))
 * (prune-ofa.md), one row per MLM token, CLS example or SPAN start/end;
 * and on hidden states, the mean squared difference of a student layer's
 * output and its teacher layer's (compound compression: a student with
 * fewer layers learns from every layer of its teacher, not only the last).
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


/* ---- hidden states ---------------------------------------------------------------- */

typedef struct {
	const pofa_model *m, *t;
	int layer, C;
	double *sums;
} kdh_args;

static void kdh_task(void *arg, int64_t n0, int64_t n1, int tid)
{
	kdh_args *ka = arg;
	const pofa_model *m = ka->m, *t = ka->t;
	int C = ka->C;
	const float *hs = LAYER(m->a.h2, ka->layer, (size_t)m->maxB * m->maxT * C);
	const float *ht = LAYER(t->a.h2, m->kdh.map[ka->layer], (size_t)t->maxB * t->maxT * C);
	double sum = 0.0;
	for (int64_t n = n0; n < n1; n++) {
		if (m->kdh.mask && !m->kdh.mask[n])
			continue;
		float acc = 0.0f;
		for (int c = 0; c < C; c++) {
			float d = hs[n * C + c] - ht[n * C + c];
			acc += d * d;
		}
		sum += acc;
	}
	ka->sums[tid] += sum;
}

double pofa_model_kd_hidden(pofa_model *m, const pofa_model *teacher, const pofa_batch *b, const int *map,
                            float weight)
{
	int L = m->cfg.num_hidden_layers, C = m->cfg.hidden_size, N = b->B * b->T, K = 0;
	m->kdh.t = NULL;
	m->kdh.mask = b->attention_mask;   /* the tokens compared, here and in backward */
	if (teacher->cfg.hidden_size != C || L > 64)
		return 0.0;
	int64_t tokens = 0;
	for (int n = 0; n < N; n++)
		tokens += !b->attention_mask || b->attention_mask[n];
	int64_t den = m->den.tokens > 0 ? m->den.tokens : tokens;
	double sums[64] = { 0 };
	for (int l = 0; l < L; l++) {
		m->kdh.map[l] = map[l] < teacher->cfg.num_hidden_layers ? map[l] : -1;
		K += m->kdh.map[l] >= 0;
	}
	if (K == 0 || den == 0)
		return 0.0;
	for (int l = 0; l < L; l++)
		if (m->kdh.map[l] >= 0) {
			kdh_args ka = { m, teacher, l, C, sums };
			pofa_pool_run(m->pool, N, kdh_task, &ka);
		}
	double total = 0.0;
	for (int t = 0; t < pofa_pool_size(m->pool); t++)
		total += sums[t];
	double scale = 1.0 / ((double)K * (double)den * C);
	m->kdh.t = teacher;
	m->kdh.coef = (float)(2.0 * weight * scale);
	return total * scale;
}

/* backward: the hidden-state distillation's gradient of layer l's output
 * added into dres (N x C), when layer l is mapped */
void pofa_kd_hidden_grad(pofa_model *m, int l, float *dres, int N)
{
	if (!m->kdh.t || m->kdh.map[l] < 0)
		return;
	const pofa_model *t = m->kdh.t;
	int C = m->cfg.hidden_size;
	const float *hs = LAYER(m->a.h2, l, (size_t)m->maxB * m->maxT * C);
	const float *ht = LAYER(t->a.h2, m->kdh.map[l], (size_t)t->maxB * t->maxT * C);
	float coef = m->kdh.coef;
	for (int n = 0; n < N; n++) {
		if (m->kdh.mask && !m->kdh.mask[n])
			continue;
		for (int c = 0; c < C; c++)
			dres[(size_t)n * C + c] += coef * (hs[(size_t)n * C + c] - ht[(size_t)n * C + c]);
	}
}
