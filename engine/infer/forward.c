/*
 * forward.c - the forward-only pass (see infer.h).
 *
 * Activations are channel-major, (channels, ld) with a token a column and
 * ld the token count rounded up to 16, so that the packed products
 * vectorise over tokens. A layer: QKV = one packed product; per sequence
 * and head, S^T = K^T Q / sqrt(hs), softmax with the padding keys at the
 * most negative float, ctx = V S^T (register-tiled, kern_simd.h); the output projection;
 * LayerNorm(+ residual); FFN in with GELU fused into the product; FFN out;
 * LayerNorm(+ residual). Under int8 every packed product's input is first
 * quantized (per column range, in parallel) into the path's layout.
 * Every step splits its work over the pool in a fixed way, so a thread
 * count gives the same bits every time.
 */
#include "engine/infer/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "data/base/util.h"

#include <cblas.h>
#include <float.h>
#undef I /* complex.h, pulled in by cblas.h; I is the intermediate size here */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* float16 to float: normal numbers inline, the rest by the library */
static inline float half_f(uint16_t h)
{
	uint32_t e = h & 0x7c00u;
	if (e == 0 || e == 0x7c00u)
		return pofa_half_to_float(h);
	uint32_t bits = (uint32_t)(h & 0x8000u) << 16 | ((uint32_t)(h & 0x7fffu) + 0x1c000u) << 13;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

const char *const pofa_infer_part_names[] = { "embeddings", "QKV", "attention", "attn-out", "FFN in",
	                                                    "FFN out", "LayerNorm", "quantize", "head" };
_Static_assert(POFA_ARRAY_LEN(pofa_infer_part_names) == POFA_INFER_PART_COUNT, "a name per part");

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the time since the last mark goes to part p */
static void mark(pofa_infer *inf, enum pofa_infer_part p)
{
	if (!inf->profile)
		return;
	double t = now_s();
	inf->prof[p] += t - inf->t_mark;
	inf->t_mark = t;
}

void pofa_infer_blas_threads(pofa_infer *inf, int on)
{
	inf->blas_whole = on;
}

void pofa_infer_set_gemm(pofa_infer *inf, pofa_infer_gemm_fn fn, void *ctx)
{
	inf->gemm = fn;
	inf->gemm_ctx = ctx;
}

void pofa_infer_profile(pofa_infer *inf, int on)
{
	inf->profile = on;
	inf->passes = 0;
	memset(inf->prof, 0, sizeof inf->prof);
}

const double *pofa_infer_profiled(const pofa_infer *inf, int *passes)
{
	if (passes)
		*passes = inf->passes;
	return inf->prof;
}

/* ---- forward ------------------------------------------------------------------- */

typedef struct {
	pofa_infer *inf;
	const pofa_batch *b;
	const pofa_linear *l;
	float *y;
	const float *x, *res, *w, *bias;
	int C;
	void *x8;              /* an int8 Linear's input */
	const pofa_qout *qo;   /* its output quantized for the next, or NULL */
} job;

static void embed_task(void *arg, int64_t n0, int64_t n1, int tid)
{
	(void)tid;
	job *j = arg;
	pofa_infer *inf = j->inf;
	const pofa_batch *b = j->b;
	int C = inf->C, ld = inf->ld;
	for (int64_t n = n0; n < n1; n++) {
		if (n >= inf->N) {
			for (int c = 0; c < C; c++)
				inf->tmp[(size_t)c * ld + n] = 0.0f;
			continue;
		}
		int t = (int)(n % inf->T), tt = b->token_type_ids ? b->token_type_ids[n] : 0;
		const float *pe = inf->wpe + (size_t)t * C, *te = inf->wtt + (size_t)tt * C;
		if (inf->wte16) {
			const uint16_t *we = inf->wte16 + (size_t)b->input_ids[n] * C;
			for (int c = 0; c < C; c++)
				inf->tmp[(size_t)c * ld + n] = half_f(we[c]) + pe[c] + te[c];
		} else {
			const float *we = inf->wte + (size_t)b->input_ids[n] * C;
			for (int c = 0; c < C; c++)
				inf->tmp[(size_t)c * ld + n] = we[c] + pe[c] + te[c];
		}
	}
}

/* LayerNorm of columns in 16-wide chunks */
static void ln_task(void *arg, int64_t k0, int64_t k1, int tid)
{
	(void)tid;
	job *j = arg;
	pofa_infer *inf = j->inf;
	inf->kern->layernorm(j->y, j->x, j->res, j->w, j->bias, j->C, inf->ld, (int)k0 * 16, (int)k1 * 16,
	                     inf->cfg.layer_norm_eps);
	if (j->l) /* the next Linear's int8 input, from the columns this thread just wrote */
		inf->kern->quant(inf->x8, j->y, j->l->C, inf->ld, (int)k0 * 16, (int)k1 * 16, j->l->in_inv,
		                 j->l->in_zp);
}

/* the bias and activation of rows [r0, r1) after one whole-matrix product */
static void bias_task(void *arg, int64_t p0, int64_t p1, int tid)
{
	(void)tid;
	job *j = arg;
	const pofa_linear *l = j->l;
	j->inf->kern->bias_act(j->y, l->bias, j->inf->ld, j->inf->np, l->split[p0], l->split[p1], l->gelu);
}

static void quant_task(void *arg, int64_t k0, int64_t k1, int tid)
{
	(void)tid;
	job *j = arg;
	pofa_infer *inf = j->inf;
	inf->kern->quant(j->x8, j->x, j->l->C, inf->ld, (int)k0 * 16, (int)k1 * 16, j->l->in_inv, j->l->in_zp);
}

static void linear_task(void *arg, int64_t p0, int64_t p1, int tid)
{
	(void)tid;
	job *j = arg;
	const pofa_linear *l = j->l;
	for (int64_t p = p0; p < p1; p++)
		pofa_linear_rows(l, j->inf->kern, j->y, j->x, j->x8, j->inf->ld, j->inf->np, l->split[p],
		                 l->split[p + 1], j->qo);
}

/* y = l(x) over all columns in use; its time goes to part p. Int8: x8
 * holds l's input when quantized (the step before wrote it), else x is
 * quantized into it first; qo: l's output quantized for the next int8
 * Linear instead of written to y */
static void run_linear(pofa_infer *inf, const pofa_linear *l, float *y, const float *x, void *x8, int quantized,
                       const pofa_qout *qo, enum pofa_infer_part p)
{
	job j = { .inf = inf, .l = l, .y = y, .x = x, .x8 = x8, .qo = qo };
	if (l->fmt == POFA_LIN_I8 && !quantized) {
		pofa_pool_run(inf->pool, inf->np / 16, quant_task, &j);
		mark(inf, POFA_PART_QUANTIZE);
	}
	if (l->fmt == POFA_LIN_DENSE && inf->gemm) {
		inf->gemm(inf->gemm_ctx, l->OC, inf->np, l->C, l->dense, x, inf->ld, y);
		pofa_pool_run(inf->pool, l->nsplit, bias_task, &j);
	} else if (l->fmt == POFA_LIN_DENSE && inf->blas_whole) {
		openblas_set_num_threads(inf->nthreads);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->OC, inf->np, l->C, 1.0f, l->dense, l->C, x,
		            inf->ld, 0.0f, y, inf->ld);
		openblas_set_num_threads(1);
		pofa_pool_run(inf->pool, l->nsplit, bias_task, &j);
	} else {
		pofa_pool_run(inf->pool, l->nsplit, linear_task, &j);
	}
	mark(inf, p);
}

/* y = LayerNorm(x + res); next: the int8 Linear that reads y, whose input
 * is quantized here in the same pass (else NULL) */
static void layernorm(pofa_infer *inf, float *y, const float *x, const float *res, const float *w, const float *b,
                      const pofa_linear *next)
{
	job j = { .inf = inf, .y = y, .x = x, .res = res, .w = w, .bias = b, .C = inf->C,
	          .l = next && next->fmt == POFA_LIN_I8 ? next : NULL };
	pofa_pool_run(inf->pool, inf->np / 16, ln_task, &j);
	mark(inf, POFA_PART_LAYERNORM);
}

/* LayerNorm by rows: each thread its blocks of rows, which the Linear
 * before wrote on the same thread for the most part, instead of every
 * thread reading all rows of its columns. Two steps: y = x + res and the
 * blocks' column sums of y and y^2 (in double); the mean and rstd (blocks
 * summed in order: any thread count gives the same bits), y normalized,
 * and the next int8 Linear's input quantized from it. A step of its own
 * for the sums of (y - mean)^2 cost a pass over y and a wait: 2% of a
 * bert-base pass at batch 1. */
static void rows_of(const pofa_infer *inf, int64_t b, int *r0, int *r1)
{
	*r0 = (int)b * POFA_LN_ROWS;
	*r1 = *r0 + POFA_LN_ROWS < inf->C ? *r0 + POFA_LN_ROWS : inf->C;
}

static void lnr_sum_task(void *arg, int64_t b0, int64_t b1, int tid)
{
	(void)tid;
	job *j = arg;
	pofa_infer *inf = j->inf;
	for (int64_t b = b0; b < b1; b++) {
		int r0, r1;
		rows_of(inf, b, &r0, &r1);
		inf->kern->ln_sum(j->y, j->x, j->res, inf->ld, inf->np, r0, r1, inf->lnsum + (size_t)b * inf->ld,
		                  inf->lnsq + (size_t)b * inf->ld);
	}
}

/* this thread's copy of the mean and the rstd, from every block's sums */
static void ln_stats(pofa_infer *inf, int tid)
{
	int nb = (inf->C + POFA_LN_ROWS - 1) / POFA_LN_ROWS, ld = inf->ld, np = inf->np;
	float *m = inf->lnmean + (size_t)tid * ld, *r = inf->lnrstd + (size_t)tid * ld;
	double fc = inf->C, eps = inf->cfg.layer_norm_eps;
	for (int n0 = 0; n0 < np; n0 += 16) {
		double s[16] = { 0 }, q[16] = { 0 };
		for (int b = 0; b < nb; b++)
			for (int i = 0; i < 16; i++) {
				s[i] += inf->lnsum[(size_t)b * ld + n0 + i];
				q[i] += inf->lnsq[(size_t)b * ld + n0 + i];
			}
		for (int i = 0; i < 16; i++) {
			double mean = s[i] / fc, var = q[i] / fc - mean * mean;
			m[n0 + i] = (float)mean;
			r[n0 + i] = (float)(1.0 / sqrt((var > 0.0 ? var : 0.0) + eps));
		}
	}
}

static void lnr_norm_task(void *arg, int64_t b0, int64_t b1, int tid)
{
	job *j = arg;
	pofa_infer *inf = j->inf;
	ln_stats(inf, tid);
	for (int64_t b = b0; b < b1; b++) {
		int r0, r1;
		rows_of(inf, b, &r0, &r1);
		inf->kern->ln_norm(j->y, inf->lnmean + (size_t)tid * inf->ld, inf->lnrstd + (size_t)tid * inf->ld, j->w,
		                   j->bias, inf->ld, inf->np, r0, r1);
		if (j->l) /* rows in whole lanes: r0 is a multiple of 4 */
			inf->kern->quant(pofa_x8_lanes(inf->kern->x8, inf->x8, r0, inf->ld), j->y + (size_t)r0 * inf->ld,
			                 r1 - r0, inf->ld, 0, inf->np, j->l->in_inv, j->l->in_zp);
	}
}

static void layernorm_rows(pofa_infer *inf, float *y, const float *x, const float *res, const float *w,
                           const float *b, const pofa_linear *next)
{
	job j = { .inf = inf, .y = y, .x = x, .res = res, .w = w, .bias = b,
	          .l = next && next->fmt == POFA_LIN_I8 ? next : NULL };
	int64_t nb = (inf->C + POFA_LN_ROWS - 1) / POFA_LN_ROWS;
	pofa_pool_run(inf->pool, nb, lnr_sum_task, &j);
	pofa_pool_run(inf->pool, nb, lnr_norm_task, &j);
	mark(inf, POFA_PART_LAYERNORM);
}

static void attention_task(void *arg, int64_t u0, int64_t u1, int tid)
{
	job *j = arg;
	pofa_infer *inf = j->inf;
	int T = inf->T, C = inf->C, NH = inf->NH, hs = C / NH, ld = inf->ld;
	float scale = 1.0f / sqrtf((float)hs);
	float *w = inf->S + (size_t)tid * inf->att_per;
	pofa_att_fn *att = inf->int8 && inf->kern->attention_i8 ? inf->kern->attention_i8 : inf->kern->attention;
	for (int64_t u = u0; u < u1; u++) {
		int b = (int)(u / NH), h = (int)(u % NH);
		const float *q = inf->qkv + (size_t)h * hs * ld + (size_t)b * T;
		const float *add = j->b->attention_mask ? inf->maskadd + (size_t)b * T : NULL;
		att(inf->ctx + (size_t)h * hs * ld + (size_t)b * T, q, q + (size_t)C * ld, q + (size_t)2 * C * ld, add,
		    T, hs, ld, scale, w);
	}
}

static int check_batch(const pofa_infer *inf, const pofa_batch *b, pofa_err *err)
{
	const pofa_config *c = &inf->cfg;
	if (b->B < 1 || b->T < 1 || b->B > inf->maxB || b->T > inf->maxT)
		return pofa_error(err, POFA_ERR_INPUT, "batch %dx%d exceeds the %dx%d the model was opened for",
		                  b->B, b->T, inf->maxB, inf->maxT);
	for (int64_t n = 0; n < (int64_t)b->B * b->T; n++) {
		if (b->input_ids[n] < 0 || b->input_ids[n] >= c->vocab_size)
			return pofa_error(err, POFA_ERR_INPUT, "token id %d at %lld outside vocabulary 0..%d",
			                  b->input_ids[n], (long long)n, c->vocab_size - 1);
		if (b->token_type_ids && (b->token_type_ids[n] < 0 || b->token_type_ids[n] >= c->type_vocab_size))
			return pofa_error(err, POFA_ERR_INPUT, "token type %d at %lld outside 0..%d",
			                  b->token_type_ids[n], (long long)n, c->type_vocab_size - 1);
	}
	return POFA_OK;
}

static void head_cls(pofa_infer *inf)
{
	int B = inf->B, C = inf->C, ldb = POFA_ROUND16(B), nl = inf->cfg.num_labels;
	/* the [CLS] column of each sequence, then the pooler on B columns */
	for (int c = 0; c < C; c++)
		for (int b = 0; b < ldb; b++)
			inf->pin[(size_t)c * ldb + b] = b < B ? inf->h[(size_t)c * inf->ld + (size_t)b * inf->T] : 0.0f;
	int ld = inf->ld, np = inf->np;
	inf->ld = ldb;
	inf->np = ldb;
	run_linear(inf, &inf->pooler, inf->pooled, inf->pin, inf->x8, 0, NULL, POFA_PART_HEAD);
	inf->ld = ld;
	inf->np = np;
	for (size_t i = 0; i < (size_t)C * ldb; i++)
		inf->pooled[i] = tanhf(inf->pooled[i]);
	for (int b = 0; b < B; b++)
		for (int k = 0; k < nl; k++) {
			float acc = 0.0f;
			for (int c = 0; c < C; c++)
				acc += inf->clsw[(size_t)k * C + c] * inf->pooled[(size_t)c * ldb + b];
			inf->logits[(size_t)b * nl + k] = acc + inf->clsb[k];
		}
	inf->nrows = B;
	inf->ncols = nl;
}

static void head_span(pofa_infer *inf)
{
	int N = inf->N, C = inf->C;
	float *st = inf->sse, *en = inf->sse + N;
	for (int n = 0; n < N; n++) {
		st[n] = inf->qab[0];
		en[n] = inf->qab[1];
	}
	for (int c = 0; c < C; c++) {
		const float *hr = inf->h + (size_t)c * inf->ld;
		float w0 = inf->qaw[c], w1 = inf->qaw[C + c];
		for (int n = 0; n < N; n++) {
			st[n] += w0 * hr[n];
			en[n] += w1 * hr[n];
		}
	}
	for (int n = 0; n < N; n++) {
		inf->logits[2 * (size_t)n] = st[n];
		inf->logits[2 * (size_t)n + 1] = en[n];
	}
	inf->nrows = N;
	inf->ncols = 2;
}

static void head_mlm(pofa_infer *inf, const pofa_batch *b)
{
	int N = inf->N, C = inf->C, M = 0;
	for (int n = 0; n < N; n++) {
		int want = b->mlm_labels ? b->mlm_labels[n] != POFA_IGNORE : (!b->attention_mask || b->attention_mask[n]);
		if (!want)
			continue;
		inf->pos[M] = n;
		for (int c = 0; c < C; c++)
			inf->xm[(size_t)M * C + c] = inf->h[(size_t)c * inf->ld + n];
		M++;
	}
	inf->nrows = M;
	inf->ncols = inf->V;
	if (!M)
		return;
	pofa_kern *k = &inf->rk;
	pofa_matmul_forward(k, inf->t1, inf->xm, inf->tw, NULL, M, C, C);
	pofa_bias_gelu_forward(k, inf->t2, inf->t1, inf->tb, M, C);
	pofa_residual_layernorm_forward(k, inf->t3, inf->t2, inf->mean, inf->rstd, inf->t2, NULL, inf->tlnw,
	                                inf->tlnb, M, C, inf->cfg.layer_norm_eps, 0, 0, 0.0f);
	pofa_matmul_forward(k, inf->logits, inf->t3, inf->wte, inf->mlmb, M, C, inf->V);
}

int pofa_infer_forward(pofa_infer *inf, const pofa_batch *b, pofa_err *err)
{
	if (check_batch(inf, b, err))
		return err ? err->status : POFA_ERR_INPUT;
	if (pofa_infer_fit_acts(inf, b->B, b->T, err))
		return err ? err->status : POFA_ERR_RUN;
	inf->B = b->B;
	inf->T = b->T;
	inf->N = b->B * b->T;
	inf->np = POFA_ROUND16(inf->N);
	inf->ld = POFA_LD(inf->np);
	for (int n = 0; n < inf->N; n++)
		inf->maskadd[n] = !b->attention_mask || b->attention_mask[n] ? 0.0f : -3.40282347e38f;
	job j = { .inf = inf, .b = b };
	if (inf->profile)
		inf->t_mark = now_s();
	pofa_pool_run(inf->pool, inf->np, embed_task, &j);
	mark(inf, POFA_PART_EMBED);
	/* each LayerNorm quantizes the input of the int8 Linear after it */
	layernorm(inf, inf->h, inf->tmp, NULL, inf->elnw, inf->elnb, inf->L ? &inf->lay[0].qkv : NULL);
	for (int l = 0; l < inf->L; l++) {
		inf_layer *y = &inf->lay[l];
		run_linear(inf, &y->qkv, inf->qkv, inf->h, inf->x8, 1, NULL, POFA_PART_QKV);
		pofa_pool_run(inf->pool, (int64_t)inf->B * inf->NH, attention_task, &j);
		mark(inf, POFA_PART_ATTENTION);
		run_linear(inf, &y->ao, inf->tmp, inf->ctx, inf->x8, 0, NULL, POFA_PART_ATTN_OUT);
		layernorm_rows(inf, inf->h1, inf->tmp, inf->h, y->ln1w, y->ln1b, &y->fc);
		/* int8 (every Linear I8): the FFN's first product writes the second's input */
		pofa_qout qo = { .x8 = inf->x8b, .inv = y->fp.in_inv, .zp = y->fp.in_zp };
		run_linear(inf, &y->fc, inf->f, inf->h1, inf->x8, 1, inf->int8 ? &qo : NULL, POFA_PART_FFN_IN);
		run_linear(inf, &y->fp, inf->tmp, inf->f, inf->int8 ? inf->x8b : inf->x8, inf->int8, NULL,
		           POFA_PART_FFN_OUT);
		layernorm_rows(inf, inf->h, inf->tmp, inf->h1, y->ln2w, y->ln2b, l + 1 < inf->L ? &inf->lay[l + 1].qkv : NULL);
	}
	if (inf->head == POFA_HEAD_CLS)
		head_cls(inf);
	else if (inf->head == POFA_HEAD_SPAN)
		head_span(inf);
	else
		head_mlm(inf, b);
	mark(inf, POFA_PART_HEAD);
	inf->passes += inf->profile;
	return POFA_OK;
}

const float *pofa_infer_logits(const pofa_infer *inf, int *rows, int *cols)
{
	if (rows)
		*rows = inf->nrows;
	if (cols)
		*cols = inf->ncols;
	return inf->logits;
}

const int *pofa_infer_logit_positions(const pofa_infer *inf)
{
	return inf->head == POFA_HEAD_MLM ? inf->pos : NULL;
}

/* the mean cross-entropy of rows of logits against targets (< 0: skipped) */
static float xent(pofa_infer *inf, const float *logits, const int *tgt, int rows, int cols)
{
	int count = 0;
	for (int i = 0; i < rows; i++)
		count += tgt[i] >= 0;
	if (!count)
		return 0.0f;
	return (float)(pofa_softmax_xent(&inf->rk, NULL, logits, tgt, rows, cols, cols, 1.0f, NULL) / count);
}

float pofa_infer_task_loss(pofa_infer *inf, const pofa_batch *b)
{
	if (inf->head == POFA_HEAD_MLM) {
		for (int i = 0; i < inf->nrows; i++) {
			int y = b->mlm_labels ? b->mlm_labels[inf->pos[i]] : POFA_IGNORE;
			inf->tgt[i] = y == POFA_IGNORE ? -1 : y;
		}
		return xent(inf, inf->logits, inf->tgt, inf->nrows, inf->V);
	}
	if (inf->head == POFA_HEAD_CLS) {
		int nl = inf->cfg.num_labels;
		for (int i = 0; i < inf->B; i++) {
			int y = b->labels ? b->labels[i] : -1;
			inf->tgt[i] = y >= 0 && y < nl ? y : -1;
		}
		return xent(inf, inf->logits, inf->tgt, inf->B, nl);
	}
	/* span: the mean of the start and end losses, positions outside [0, T) ignored */
	float loss = 0.0f;
	for (int which = 0; which < 2; which++) {
		const int *pos = which ? b->end_positions : b->start_positions;
		for (int i = 0; i < inf->B; i++) {
			int p = pos ? pos[i] : -1;
			inf->tgt[i] = p >= 0 && p < inf->T ? p : -1;
		}
		loss += 0.5f * xent(inf, inf->sse + (size_t)which * inf->N, inf->tgt, inf->B, inf->T);
	}
	return loss;
}
