/* ref.c - the double-precision reference BERT (see ref.h). */
#include "test/ref.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ref_init(ref_model *r, pofa_model *m, int mlm_all)
{
	memset(r, 0, sizeof *r);
	r->cfg = *pofa_model_config(m);
	r->head = pofa_model_head(m);
	r->mlm_all = mlm_all;
	r->nt = pofa_model_tensors(m, &r->t);
	r->base = pofa_model_params(m);
	r->np = pofa_model_num_params(m);
	r->p = malloc(r->np * sizeof *r->p);
	ref_sync(r);
}

void ref_free(ref_model *r) { free(r->p); }

void ref_sync(ref_model *r)
{
	for (size_t i = 0; i < r->np; i++)
		r->p[i] = r->base[i];
}

double *ref_param(const ref_model *r, const char *name)
{
	for (int i = 0; i < r->nt; i++)
		if (strcmp(r->t[i].name, name) == 0)
			return r->p + (r->t[i].data - r->base);
	fprintf(stderr, "ref: no tensor %s\n", name);
	abort();
}

double ref_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

double ref_rel_err(const float *a, const double *n, size_t cnt, double floor)
{
	double scale = 0.0, worst = 0.0;
	for (size_t i = 0; i < cnt; i++)
		scale = fmax(scale, fabs(n[i]));
	for (size_t i = 0; i < cnt; i++) {
		double den = fmax(fmax(fabs(a[i]), fabs(n[i])), fmax(1e-2 * scale, floor));
		worst = fmax(worst, fabs(a[i] - n[i]) / den);
	}
	return worst;
}

/* y (n, out) = x (n, in) W^T + b */
static void linear(double *y, const double *x, const double *W, const double *b, int n, int in, int out)
{
	for (int i = 0; i < n; i++)
		for (int o = 0; o < out; o++) {
			double s = b ? b[o] : 0.0;
			for (int k = 0; k < in; k++)
				s += x[(size_t)i * in + k] * W[(size_t)o * in + k];
			y[(size_t)i * out + o] = s;
		}
}

static void layernorm(double *x, const double *w, const double *b, int n, int C, double eps)
{
	for (int i = 0; i < n; i++) {
		double *r = x + (size_t)i * C, m = 0.0, v = 0.0;
		for (int c = 0; c < C; c++)
			m += r[c];
		m /= C;
		for (int c = 0; c < C; c++)
			v += (r[c] - m) * (r[c] - m);
		v /= C;
		double s = 1.0 / sqrt(v + eps);
		for (int c = 0; c < C; c++)
			r[c] = (r[c] - m) * s * w[c] + b[c];
	}
}

/* cross-entropy of one row */
static double xent(const double *z, int n, int y)
{
	double mx = z[0], s = 0.0;
	for (int j = 1; j < n; j++)
		mx = fmax(mx, z[j]);
	for (int j = 0; j < n; j++)
		s += exp(z[j] - mx);
	return log(s) + mx - z[y];
}

#define P(name) ref_param(r, name)

double ref_loss(const ref_model *r, const pofa_batch *bt)
{
	const pofa_config *c = &r->cfg;
	int B = bt->B, T = bt->T, C = c->hidden_size, I = c->intermediate_size, NH = c->num_attention_heads;
	int hs = C / NH, N = B * T, V = c->vocab_size;
	double eps = c->layer_norm_eps;
	double *x = calloc((size_t)N * C, sizeof *x), *x1 = calloc((size_t)N * C, sizeof *x);
	double *q = calloc((size_t)N * C, sizeof *x), *k = calloc((size_t)N * C, sizeof *x);
	double *v = calloc((size_t)N * C, sizeof *x), *ctx = calloc((size_t)N * C, sizeof *x);
	double *tmp = calloc((size_t)N * C, sizeof *x), *f = calloc((size_t)N * I, sizeof *x);
	double *S = calloc((size_t)T, sizeof *x);
	char nm[128];
	const double *wte = P("bert.embeddings.word_embeddings.weight");
	const double *wpe = P("bert.embeddings.position_embeddings.weight");
	const double *wtt = P("bert.embeddings.token_type_embeddings.weight");
	/* nn.Embedding(padding_idx): the lookup of the padding row passes no
	 * gradient, so the reference reads that row as a constant (the float
	 * value); the tied decoder still uses the live row */
	const float *wte_const = r->base + (r->t[0].data - r->base);
	for (int n = 0; n < N; n++) {
		int id = bt->input_ids[n], t = n % T, tt = bt->token_type_ids ? bt->token_type_ids[n] : 0;
		for (int ch = 0; ch < C; ch++)
			x[(size_t)n * C + ch] = (id == c->pad_token_id ? (double)wte_const[(size_t)id * C + ch]
			                                                : wte[(size_t)id * C + ch]) +
			                        wpe[(size_t)t * C + ch] + wtt[(size_t)tt * C + ch];
	}
	layernorm(x, P("bert.embeddings.LayerNorm.weight"), P("bert.embeddings.LayerNorm.bias"), N, C, eps);
	for (int l = 0; l < c->num_hidden_layers; l++) {
#define LP(suffix) (snprintf(nm, sizeof nm, "bert.encoder.layer.%d.%s", l, suffix), P(nm))
		linear(q, x, LP("attention.self.query.weight"), LP("attention.self.query.bias"), N, C, C);
		linear(k, x, LP("attention.self.key.weight"), LP("attention.self.key.bias"), N, C, C);
		linear(v, x, LP("attention.self.value.weight"), LP("attention.self.value.bias"), N, C, C);
		for (int b = 0; b < B; b++)
			for (int h = 0; h < NH; h++)
				for (int i = 0; i < T; i++) {
					double mx = -INFINITY, sum = 0.0;
					for (int j = 0; j < T; j++) {
						double s = 0.0;
						for (int d = 0; d < hs; d++)
							s += q[((size_t)b * T + i) * C + h * hs + d] *
							     k[((size_t)b * T + j) * C + h * hs + d];
						s /= sqrt((double)hs);
						if (bt->attention_mask && !bt->attention_mask[b * T + j])
							s += -FLT_MAX;
						S[j] = s;
						mx = fmax(mx, s);
					}
					for (int j = 0; j < T; j++) {
						S[j] = exp(S[j] - mx);
						sum += S[j];
					}
					for (int d = 0; d < hs; d++) {
						double o = 0.0;
						for (int j = 0; j < T; j++)
							o += S[j] / sum * v[((size_t)b * T + j) * C + h * hs + d];
						ctx[((size_t)b * T + i) * C + h * hs + d] = o;
					}
				}
		linear(tmp, ctx, LP("attention.output.dense.weight"), LP("attention.output.dense.bias"), N, C, C);
		for (size_t i = 0; i < (size_t)N * C; i++)
			x1[i] = tmp[i] + x[i];
		layernorm(x1, LP("attention.output.LayerNorm.weight"), LP("attention.output.LayerNorm.bias"), N, C, eps);
		linear(f, x1, LP("intermediate.dense.weight"), LP("intermediate.dense.bias"), N, C, I);
		for (size_t i = 0; i < (size_t)N * I; i++)
			f[i] = ref_gelu(f[i]);
		linear(tmp, f, LP("output.dense.weight"), LP("output.dense.bias"), N, I, C);
		for (size_t i = 0; i < (size_t)N * C; i++)
			x[i] = tmp[i] + x1[i];
		layernorm(x, LP("output.LayerNorm.weight"), LP("output.LayerNorm.bias"), N, C, eps);
#undef LP
	}
	double loss = 0.0;
	if (r->head == POFA_HEAD_MLM) {
		double *t = calloc((size_t)C, sizeof *t), *z = calloc((size_t)V, sizeof *z);
		int count = 0;
		for (int n = 0; n < N; n++) {
			int y = bt->mlm_labels ? bt->mlm_labels[n] : POFA_IGNORE;
			if (y == POFA_IGNORE)
				continue;
			linear(t, x + (size_t)n * C, P("cls.predictions.transform.dense.weight"),
			       P("cls.predictions.transform.dense.bias"), 1, C, C);
			for (int ch = 0; ch < C; ch++)
				t[ch] = ref_gelu(t[ch]);
			layernorm(t, P("cls.predictions.transform.LayerNorm.weight"),
			          P("cls.predictions.transform.LayerNorm.bias"), 1, C, eps);
			linear(z, t, wte, P("cls.predictions.bias"), 1, C, V);
			loss += xent(z, V, y);
			count++;
		}
		loss = count ? loss / count : 0.0;
		free(t);
		free(z);
	} else if (r->head == POFA_HEAD_CLS) {
		int NL = c->num_labels;
		double *pooled = calloc((size_t)C, sizeof *pooled), *z = calloc((size_t)NL, sizeof *z);
		for (int b = 0; b < B; b++) {
			linear(pooled, x + (size_t)b * T * C, P("bert.pooler.dense.weight"),
			       P("bert.pooler.dense.bias"), 1, C, C);
			for (int ch = 0; ch < C; ch++)
				pooled[ch] = tanh(pooled[ch]);
			linear(z, pooled, P("classifier.weight"), P("classifier.bias"), 1, C, NL);
			loss += xent(z, NL, bt->labels[b]);
		}
		loss /= B;
		free(pooled);
		free(z);
	} else {
		double *z = calloc((size_t)N * 2, sizeof *z), *row = calloc((size_t)T, sizeof *row);
		linear(z, x, P("qa_outputs.weight"), P("qa_outputs.bias"), N, C, 2);
		for (int which = 0; which < 2; which++) {
			double s = 0.0;
			for (int b = 0; b < B; b++) {
				for (int t = 0; t < T; t++)
					row[t] = z[((size_t)b * T + t) * 2 + which];
				s += xent(row, T, which ? bt->end_positions[b] : bt->start_positions[b]);
			}
			loss += 0.5 * s / B;
		}
		free(z);
		free(row);
	}
	free(x); free(x1); free(q); free(k); free(v); free(ctx); free(tmp); free(f); free(S);
	return loss;
}

/* ---- distillation -------------------------------------------------------- */

/* weight * T^2 * KL(softmax(t/T) || softmax(s/T)) averaged over rows, in
 * double precision; its gradient added to ds (may be NULL) */
double ref_kd_loss(const float *s, const float *t, float *ds, int rows, int V, long rs, long es,
                    float T, float weight)
{
	double total = 0.0;
	if (rows <= 0)
		return 0.0;
	float invT = 1.0f / T;
	float g = weight * T / (float)rows;  /* d(T^2 KL)/ds = T (p_s - p_t) */
	for (int r = 0; r < rows; r++) {
		const float *sr = s + r * rs, *tr = t + r * rs;
		float smax = -INFINITY, tmax = -INFINITY;
		for (int j = 0; j < V; j++) {
			smax = fmaxf(smax, sr[j * es]);
			tmax = fmaxf(tmax, tr[j * es]);
		}
		double zs = 0.0, zt = 0.0;
		for (int j = 0; j < V; j++) {
			zs += exp((double)(sr[j * es] - smax) * invT);
			zt += exp((double)(tr[j * es] - tmax) * invT);
		}
		double lzs = log(zs), lzt = log(zt), kl = 0.0;
		for (int j = 0; j < V; j++) {
			double ls = (double)(sr[j * es] - smax) * invT - lzs;  /* log p_s */
			double lt = (double)(tr[j * es] - tmax) * invT - lzt;  /* log p_t */
			double pt = exp(lt), ps = exp(ls);
			kl += pt * (lt - ls);
			if (ds)
				ds[r * rs + j * es] += g * (float)(ps - pt);
		}
		total += kl;
	}
	return total / rows * (double)T * (double)T;
}
