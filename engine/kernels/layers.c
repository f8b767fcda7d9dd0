/*
 * layers.c - forward and backward kernels, llm.c style: outputs first, then
 * inputs, then shapes. Shape letters: B batch, T time, C channels, OC output
 * channels, NH heads, hs head size, V vocabulary, N = B*T rows.
 *
 * Every kernel splits its work over the pool in a fixed way, so results are
 * bit-identical for a given thread count. Matrix products go through
 * single-threaded cblas_sgemm calls, one per chunk (the pool supplies the
 * parallelism), or through the naive loops kept as the test reference.
 */
#include "engine/kernels/kernels.h"
#include "data/base/util.h"

#include <string.h>
#include <math.h>
#include <cblas.h>
#include <stdlib.h>

/* ---- matrix products --------------------------------------------------- */

/* C (M,N) = alpha * op(A) op(B) + beta * C, row-major; naive reference. */
static void gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double acc = 0.0;
			for (int k = 0; k < K; k++) {
				float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
				float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
				acc += (double)a * b;
			}
			float *c = &C[(size_t)i * ldc + j];
			*c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
		}
}

static void gemm(int naive, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	if (naive) {
		gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
	            M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef struct {
	pofa_kern *k;
	float *out, *dinp, *dw, *dbias;
	const float *inp, *w, *bias, *dout;
	int N, C, OC, acc, nu;
} mm_args;

static void mm_forward_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	mm_args *a = arg;
	int n = (int)(i1 - i0);
	float *out = a->out + i0 * a->OC;
	/* the bias is written first and the product added to it (beta 1):
	 * no pass of its own over the output, and none to zero it */
	if (a->bias)
		for (int i = 0; i < n; i++)
			memcpy(out + (size_t)i * a->OC, a->bias, (size_t)a->OC * sizeof *out);
	gemm(a->k->naive, 0, 1, n, a->OC, a->C, 1.0f, a->inp + i0 * a->C, a->C, a->w, a->C,
	     a->bias ? 1.0f : 0.0f, out, a->OC);
}

void pofa_matmul_forward(pofa_kern *k, float *out, const float *inp, const float *w,
                    const float *bias, int N, int C, int OC)
{
	mm_args a = { .k = k, .out = out, .inp = inp, .w = w, .bias = bias, .N = N, .C = C, .OC = OC };
	pofa_pool_run(k->pool, N, mm_forward_task, &a);
}

static void mm_dinp_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	mm_args *a = arg;
	gemm(a->k->naive, 0, 0, (int)(i1 - i0), a->C, a->OC, 1.0f, a->dout + i0 * a->OC, a->OC, a->w,
	     a->C, a->acc ? 1.0f : 0.0f, a->dinp + i0 * a->C, a->C);
}

/* db[0..no) += the sum of n rows of d (row stride ld) */
POFA_CLONES static void bias_rows(float *restrict db, const float *restrict d, int n, int no, int ld)
{
	for (int i = 0; i < n; i++, d += ld)
		for (int o = 0; o < no; o++)
			db[o] += d[o];
}

static void mm_dw_task(void *arg, int64_t o0, int64_t o1, int tid)
{
	mm_args *a = arg;
	int no = (int)(o1 - o0);
	if (a->dw)
		gemm(a->k->naive, 1, 0, no, a->C, a->N, 1.0f, a->dout + o0, a->OC, a->inp, a->C, 1.0f,
		     a->dw + o0 * a->C, a->C);
	if (a->dbias)
		bias_rows(a->dbias + o0, a->dout + o0, a->N, no, a->OC);
}

/* Tokens a dW chunk takes: about 1 MiB of dout, which the bias sums bring
 * into the cache and the product then packs from there. */
#define DW_CHUNK_FLOATS (1 << 18)

/* dW and db split over the tokens (the product's inner dimension): part u
 * of nu sums its tokens' share, part 0 straight into dw and dbias, the
 * others into k->dw_part; mm_dw_reduce_task adds them in order. Each thread
 * packs only its own tokens of both operands, where a split over the output
 * rows has every thread pack all of inp. A share goes in chunks of tokens,
 * bias sums then product, so that dout is read from memory once. */
static void mm_dwk_task(void *arg, int64_t u0, int64_t u1, int tid)
{
	mm_args *a = arg;
	int OC = a->OC, C = a->C, rows = DW_CHUNK_FLOATS / OC < 64 ? 64 : DW_CHUNK_FLOATS / OC;
	for (int64_t u = u0; u < u1; u++) {
		int n0 = (int)((int64_t)a->N * u / a->nu), n1 = (int)((int64_t)a->N * (u + 1) / a->nu);
		float *part = u ? a->k->dw_part + (size_t)(u - 1) * a->k->dw_part_per : NULL;
		float *dw = u ? part : a->dw, *db = u ? part + (size_t)OC * C : a->dbias;
		/* every share has tokens (pofa_matmul_backward splits so only
		 * when each gets 256 or more) */
		if (a->dbias && u)
			memset(db, 0, (size_t)OC * sizeof *db);
		for (int c0 = n0; c0 < n1; c0 += rows) {
			int c1 = c0 + rows < n1 ? c0 + rows : n1;
			const float *d = a->dout + (size_t)c0 * OC;
			if (a->dbias)
				bias_rows(db, d, c1 - c0, OC, OC);
			if (a->dw)
				gemm(a->k->naive, 1, 0, OC, C, c1 - c0, 1.0f, d, OC, a->inp + (size_t)c0 * C, C,
				     u && c0 == n0 ? 0.0f : 1.0f, dw, C);
		}
	}
}

static void mm_dw_reduce_task(void *arg, int64_t e0, int64_t e1, int tid)
{
	mm_args *a = arg;
	int64_t nw = (int64_t)a->OC * a->C, w1 = e1 < nw ? e1 : nw, b0 = e0 > nw ? e0 : nw;
	for (int u = 1; u < a->nu; u++) {
		const float *restrict part = a->k->dw_part + (size_t)(u - 1) * a->k->dw_part_per;
		float *restrict dw = a->dw, *restrict db = a->dbias;
		if (dw)
			for (int64_t e = e0; e < w1; e++)
				dw[e] += part[e];
		if (db)
			for (int64_t e = b0; e < e1; e++)
				db[e - nw] += part[e];
	}
}

void pofa_matmul_backward(pofa_kern *k, float *dinp, float *dw, float *dbias,
                     const float *dout, const float *inp, const float *w,
                     int N, int C, int OC, int accumulate_dinp)
{
	mm_args a = { .k = k, .dinp = dinp, .dw = dw, .dbias = dbias, .dout = dout, .inp = inp,
	              .w = w, .N = N, .C = C, .OC = OC, .acc = accumulate_dinp };
	if (dinp)
		pofa_pool_run(k->pool, N, mm_dinp_task, &a);
	if (!dw && !dbias)
		return;
	/* over the tokens when each thread gets at least 256 of them and the
	 * partials fit (the encoder's Linear layers in training), else over
	 * the output rows (the vocabulary decoder, small batches) */
	int nt = pofa_pool_size(k->pool);
	if (nt > 1 && k->dw_part && N >= 256 * nt && (size_t)OC * C + OC <= k->dw_part_per) {
		a.nu = nt;
		pofa_pool_run(k->pool, nt, mm_dwk_task, &a);
		pofa_pool_run(k->pool, (int64_t)OC * C + OC, mm_dw_reduce_task, &a);
	} else {
		pofa_pool_run(k->pool, OC, mm_dw_task, &a);
	}
}

/* ---- dropout ------------------------------------------------------------ */

static uint32_t drop_thresh(float p)
{
	double t = (double)p * 4294967296.0;
	return t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t;
}

typedef struct {
	float *y;
	const float *x;
	uint64_t key, off;
	float p;
} drop_args;

POFA_CLONES static void drop_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	drop_args *a = arg;
	uint32_t th = drop_thresh(a->p);
	float scale = 1.0f / (1.0f - a->p);
	pofa_dropout_row(a->y + i0, a->x + i0, i1 - i0, a->key, a->off + (uint64_t)i0, th, scale);
}

void pofa_dropout_forward(pofa_kern *k, float *y, const float *x, int64_t n, uint64_t key, uint64_t off, float p)
{
	if (p <= 0.0f) {
		if (y != x)
			memcpy(y, x, (size_t)n * sizeof *y);
		return;
	}
	drop_args a = { y, x, key, off, p };
	pofa_pool_run(k->pool, n, drop_task, &a);
}

/* the mask is the same function of (key, index): backward is the forward */
void pofa_dropout_backward(pofa_kern *k, float *dx, const float *dy, int64_t n, uint64_t key, uint64_t off,
                           float p)
{
	pofa_dropout_forward(k, dx, dy, n, key, off, p);
}

/* ---- residual + LayerNorm ---------------------------------------------- */

typedef struct {
	float *out, *r, *mean, *rstd;
	const float *x, *res, *w, *b;
	int C;
	float eps;
	uint64_t key, off;
	float p;
} ln_args;

POFA_CLONES static void ln_forward_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	ln_args *a = arg;
	int C = a->C;
	uint32_t th = drop_thresh(a->p);
	float scale = a->p > 0.0f ? 1.0f / (1.0f - a->p) : 1.0f;
	for (int64_t i = i0; i < i1; i++) {
		const float *x = a->x + i * C;
		const float *res = a->res ? a->res + i * C : NULL;
		float *r = a->r + i * C;
		if (a->p > 0.0f) {
			pofa_dropout_row(r, x, C, a->key, a->off + (uint64_t)(i * C), th, scale);
		} else if (r != x) {
			memcpy(r, x, (size_t)C * sizeof *r);
		}
		if (res)
			for (int c = 0; c < C; c++)
				r[c] += res[c];
		/* two passes: mean, then variance around it (stable); each
		 * sum on eight lanes (pofa_row_sum's order) */
		float m = pofa_row_sum(r, C) / C;
		pofa_v8 acc = { 0 }, d;
		int c0 = 0;
		for (; c0 + POFA_LANES <= C; c0 += POFA_LANES) {
			POFA_V8_LOAD(d, r + c0);
			d -= m;
			acc += d * d;
		}
		float vs[POFA_LANES];
		pofa_v8_lanes(vs, &acc);
		for (int l = 0; c0 + l < C; l++) {
			float dd = r[c0 + l] - m;
			vs[l] += dd * dd;
		}
		float v = pofa_lanes_add(vs) / C;
		float s = 1.0f / sqrtf(v + a->eps);
		float *o = a->out + i * C;
		for (int c = 0; c < C; c++)
			o[c] = (r[c] - m) * s * a->w[c] + a->b[c];
		a->mean[i] = m;
		a->rstd[i] = s;
	}
}

void pofa_residual_layernorm_forward(pofa_kern *k, float *out, float *r, float *mean, float *rstd,
                                const float *x, const float *res, const float *w,
                                const float *b, int N, int C, float eps,
                                uint64_t drop_key, uint64_t drop_off, float drop_p)
{
	ln_args a = { out, r, mean, rstd, x, res, w, b, C, eps, drop_key, drop_off, drop_p };
	pofa_pool_run(k->pool, N, ln_forward_task, &a);
}

typedef struct {
	float *dinp;
	const float *dout, *inp, *mean, *rstd, *w;
	float *partial; /* per thread: dw (C) then db (C) */
	int C;
} lnb_args;

/* one row: restrict parameters, so the loops vectorise without run-time
 * overlap checks (no row aliases another, nor the thread's partial sums) */
static inline void ln_backward_row(float *restrict dinp, float *restrict dw, float *restrict db,
                                   const float *restrict dout, const float *restrict x,
                                   const float *restrict w, float m, float s, int C)
{
	/* the two row sums on eight lanes (pofa_row_sum's order) */
	pofa_v8 a1 = { 0 }, a2 = { 0 }, vw, vd, vx;
	int c0 = 0;
	for (; c0 + POFA_LANES <= C; c0 += POFA_LANES) {
		POFA_V8_LOAD(vw, w + c0);
		POFA_V8_LOAD(vd, dout + c0);
		POFA_V8_LOAD(vx, x + c0);
		pofa_v8 dnorm = vw * vd;
		a1 += dnorm;
		a2 += dnorm * ((vx - m) * s);
	}
	float s1[POFA_LANES], s2[POFA_LANES];
	pofa_v8_lanes(s1, &a1);
	pofa_v8_lanes(s2, &a2);
	for (int l = 0; c0 + l < C; l++) {
		int c = c0 + l;
		float dnorm = w[c] * dout[c];
		s1[l] += dnorm;
		s2[l] += dnorm * ((x[c] - m) * s);
	}
	float dnorm_mean = pofa_lanes_add(s1) / C, dnorm_norm_mean = pofa_lanes_add(s2) / C;
	for (int c = 0; c < C; c++) {
		float xhat = (x[c] - m) * s, d = dout[c];
		dw[c] += xhat * d;
		db[c] += d;
		dinp[c] = (w[c] * d - dnorm_mean - xhat * dnorm_norm_mean) * s;
	}
}

POFA_CLONES static void ln_backward_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	lnb_args *a = arg;
	int C = a->C;
	float *dw = a->partial + (size_t)tid * 2 * C;
	for (int64_t i = i0; i < i1; i++)
		ln_backward_row(a->dinp + i * C, dw, dw + C, a->dout + i * C, a->inp + i * C, a->w, a->mean[i],
		                a->rstd[i], C);
}

void pofa_layernorm_backward(pofa_kern *k, float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *mean, const float *rstd,
                        const float *w, int N, int C)
{
	/* per-thread partial sums of dw, db live in the scratch area and are
	 * reduced in thread order: deterministic for a thread count */
	int nt = pofa_pool_size(k->pool);
	float *parts = k->scratch;
	memset(parts, 0, (size_t)nt * 2 * C * sizeof *parts);
	lnb_args a = { dinp, dout, inp, mean, rstd, w, parts, C };
	pofa_pool_run(k->pool, N, ln_backward_task, &a);
	for (int t = 0; t < nt; t++) {
		const float *pw = parts + (size_t)t * 2 * C, *pb = pw + C;
		for (int c = 0; c < C; c++) {
			dw[c] += pw[c];
			db[c] += pb[c];
		}
	}
}

/* ---- GELU (exact, erf form) --------------------------------------------- */

float pofa_gelu(float x) { return pofa_gelu_f(x); }

typedef struct {
	float *g, *f;
	const float *bias, *dg;
	float *dx;
	int C;
} gelu_args;

POFA_CLONES static void bias_gelu_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	gelu_args *a = arg;
	int C = a->C;
	for (int64_t i = i0; i < i1; i++) {
		float *f = a->f + i * C, *g = a->g + i * C;
		if (a->bias)
			for (int c = 0; c < C; c++)
				f[c] += a->bias[c];
		for (int c = 0; c < C; c++)
			g[c] = pofa_gelu_f(f[c]);
	}
}

void pofa_bias_gelu_forward(pofa_kern *k, float *g, float *f, const float *bias, int N, int C)
{
	gelu_args a = { .g = g, .f = f, .bias = bias, .C = C };
	pofa_pool_run(k->pool, N, bias_gelu_task, &a);
}

POFA_CLONES static void gelu_train_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	gelu_args *a = arg;
	float *restrict f = a->f, *restrict g = a->g;
	for (int64_t i = i0; i < i1; i++) {
		float d;
		g[i] = pofa_gelu_fd(f[i], &d);
		f[i] = d;
	}
}

void pofa_gelu_forward_train(pofa_kern *k, float *g, float *f, int64_t n)
{
	gelu_args a = { .g = g, .f = f };
	pofa_pool_run(k->pool, n, gelu_train_task, &a);
}

POFA_CLONES static void gelu_backward_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	gelu_args *a = arg;
	const float *d = a->f;
	for (int64_t i = i0; i < i1; i++)
		a->dx[i] = a->dg[i] * d[i];
}

void pofa_gelu_backward(pofa_kern *k, float *dx, const float *dg, const float *d, int64_t n)
{
	gelu_args a = { .f = (float *)d, .dg = dg, .dx = dx };
	pofa_pool_run(k->pool, n, gelu_backward_task, &a);
}

/* ---- multi-head self-attention ----------------------------------------- */

typedef struct {
	pofa_kern *k;
	float *ctx, *att, *attd, *dqkv;
	const float *qkv, *dctx;
	const float *catt, *cattd;
	const int *mask;
	int B, T, C, NH;
	uint64_t key, off;
	float p;
} att_args;

POFA_CLONES static void att_forward_task(void *arg, int64_t u0, int64_t u1, int tid)
{
	att_args *a = arg;
	int T = a->T, C = a->C, NH = a->NH, hs = C / NH, C3 = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);
	uint32_t th = drop_thresh(a->p);
	float dscale = a->p > 0.0f ? 1.0f / (1.0f - a->p) : 1.0f;
	for (int64_t u = u0; u < u1; u++) {
		int b = (int)(u / NH), h = (int)(u % NH);
		const float *q = a->qkv + (size_t)b * T * C3 + h * hs;
		const float *kk = q + C, *v = q + 2 * C;
		float *S = a->att + (size_t)u * T * T;
		gemm(a->k->naive, 0, 1, T, T, hs, scale, q, C3, kk, C3, 0.0f, S, T);
		const int *mask = a->mask ? a->mask + (size_t)b * T : NULL;
		for (int i = 0; i < T; i++) {
			float *row = S + (size_t)i * T;
			/* padding keys get the most negative float added, as in
			 * Hugging Face: they end with probability exactly 0 */
			if (mask)
				for (int j = 0; j < T; j++)
					if (!mask[j])
						row[j] += -3.40282347e38f;
			float mx = pofa_row_max(row, T);
			for (int j = 0; j < T; j++)
				row[j] = pofa_expf(row[j] - mx);
			float inv = 1.0f / pofa_row_sum(row, T);
			for (int j = 0; j < T; j++)
				row[j] *= inv;
		}
		float *P = S;
		if (a->p > 0.0f) {
			float *Pd = a->attd + (size_t)u * T * T;
			uint64_t base = a->off + (uint64_t)u * T * T;
			pofa_dropout_row(Pd, S, (int64_t)T * T, a->key, base, th, dscale);
			P = Pd;
		}
		gemm(a->k->naive, 0, 0, T, hs, T, 1.0f, P, T, v, C3, 0.0f,
		     a->ctx + (size_t)b * T * C + h * hs, C);
	}
}

void pofa_attention_forward(pofa_kern *k, float *ctx, float *att, float *attd, const float *qkv,
                       const int *mask, int B, int T, int C, int NH, uint64_t drop_key, uint64_t drop_off,
                       float p)
{
	att_args a = { .k = k, .ctx = ctx, .att = att, .attd = attd, .qkv = qkv, .mask = mask,
	               .B = B, .T = T, .C = C, .NH = NH, .key = drop_key, .off = drop_off, .p = p };
	pofa_pool_run(k->pool, (int64_t)B * NH, att_forward_task, &a);
}

POFA_CLONES static void att_backward_task(void *arg, int64_t u0, int64_t u1, int tid)
{
	att_args *a = arg;
	int T = a->T, C = a->C, NH = a->NH, hs = C / NH, C3 = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);
	float dscale = a->p > 0.0f ? 1.0f / (1.0f - a->p) : 1.0f;
	float *dP = a->k->scratch + (size_t)tid * a->k->scratch_per; /* (T,T) */
	for (int64_t u = u0; u < u1; u++) {
		int b = (int)(u / NH), h = (int)(u % NH);
		const float *q = a->qkv + (size_t)b * T * C3 + h * hs;
		const float *kk = q + C, *v = q + 2 * C;
		float *dq = a->dqkv + (size_t)b * T * C3 + h * hs;
		float *dk = dq + C, *dv = dq + 2 * C;
		const float *dctx = a->dctx + (size_t)b * T * C + h * hs;
		const float *P = a->catt + (size_t)u * T * T;
		const float *Pd = a->p > 0.0f ? a->cattd + (size_t)u * T * T : P;
		/* dV = Pd^T dctx ; dPd = dctx V^T */
		gemm(a->k->naive, 1, 0, T, hs, T, 1.0f, Pd, T, dctx, C, 0.0f, dv, C3);
		gemm(a->k->naive, 0, 1, T, T, hs, 1.0f, dctx, C, v, C3, 0.0f, dP, T);
		for (int i = 0; i < T; i++) {
			float *dp = dP + (size_t)i * T;
			const float *p = P + (size_t)i * T, *pd = Pd + (size_t)i * T;
			if (a->p > 0.0f)  /* dropped entries are exactly the zeros of Pd */
				for (int j = 0; j < T; j++)
					dp[j] = pd[j] != 0.0f ? dp[j] * dscale : 0.0f;
			float dot = pofa_row_dot(dp, p, T);
			for (int j = 0; j < T; j++)
				dp[j] = p[j] * (dp[j] - dot) * scale;
		}
		/* dQ = dS K ; dK = dS^T Q */
		gemm(a->k->naive, 0, 0, T, hs, T, 1.0f, dP, T, kk, C3, 0.0f, dq, C3);
		gemm(a->k->naive, 1, 0, T, hs, T, 1.0f, dP, T, q, C3, 0.0f, dk, C3);
	}
}

void pofa_attention_backward(pofa_kern *k, float *dqkv, const float *dctx, const float *qkv,
                        const float *att, const float *attd, int B, int T, int C, int NH, float p)
{
	att_args a = { .k = k, .dqkv = dqkv, .dctx = dctx, .qkv = qkv, .catt = att, .cattd = attd,
	               .B = B, .T = T, .C = C, .NH = NH, .p = p };
	pofa_pool_run(k->pool, (int64_t)B * NH, att_backward_task, &a);
}

/* ---- softmax cross-entropy --------------------------------------------- */

typedef struct {
	float *dlogits;
	const float *logits;
	const int *target;
	int V, ld;
	float scale;
	double *loss;  /* per thread */
	int *count;    /* per thread */
} xent_args;

POFA_CLONES static void xent_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	xent_args *a = arg;
	double loss = 0.0;
	int count = 0;
	for (int64_t i = i0; i < i1; i++) {
		int y = a->target[i];
		const float *z = a->logits + i * a->ld;
		float *dz = a->dlogits ? a->dlogits + i * a->ld : NULL;
		if (y < 0 || y >= a->V) {
			if (dz)
				memset(dz, 0, (size_t)a->V * sizeof *dz);
			continue;
		}
		/* subtract the max for numerical stability */
		float mx = pofa_row_max(z, a->V);
		float sum = 0.0f;
		if (dz) {
			for (int j = 0; j < a->V; j++)
				dz[j] = pofa_expf(z[j] - mx);
			sum = pofa_row_sum(dz, a->V);
			float inv = a->scale / sum;
			for (int j = 0; j < a->V; j++)
				dz[j] *= inv;
			dz[y] -= a->scale;
		} else {
			/* the exps a chunk at a time, each added to the lane
			 * pofa_row_sum gives it: the sum the path above takes */
			float e[256], ls[POFA_LANES];
			pofa_v8 acc = { 0 }, v;
			int j0 = 0;
			for (; j0 < a->V; j0 += 256) {
				int n = a->V - j0 < 256 ? a->V - j0 : 256, j = 0;
				for (j = 0; j < n; j++)
					e[j] = pofa_expf(z[j0 + j] - mx);
				for (j = 0; j + POFA_LANES <= n; j += POFA_LANES) {
					POFA_V8_LOAD(v, e + j);
					acc += v;
				}
				if (j < n) { /* the row's last, short chunk */
					pofa_v8_lanes(ls, &acc);
					for (int l = 0; j + l < n; l++)
						ls[l] += e[j + l];
					memcpy(&acc, ls, sizeof acc);
				}
			}
			pofa_v8_lanes(ls, &acc);
			sum = pofa_lanes_add(ls);
		}
		loss += (double)(logf(sum) + mx - z[y]);
		count++;
	}
	a->loss[tid] = loss;
	a->count[tid] = count;
}

double pofa_softmax_xent(pofa_kern *k, float *dlogits, const float *logits, const int *target,
                    int n, int V, int ld, float scale, int *count)
{
	double loss[64] = { 0 };
	int cnt[64] = { 0 };
	xent_args a = { dlogits, logits, target, V, ld, scale, loss, cnt };
	pofa_pool_run(k->pool, n, xent_task, &a);
	double total = 0.0;
	int c = 0;
	for (int t = 0; t < pofa_pool_size(k->pool); t++) {
		total += loss[t];
		c += cnt[t];
	}
	if (count)
		*count = c;
	return total;
}

int pofa_any_nonfinite(const float *x, size_t n)
{
	uint32_t most = 0;
	for (size_t j = 0; j < n; j++) {
		uint32_t u;
		memcpy(&u, x + j, sizeof u);
		u &= 0x7f800000u;
		most = u > most ? u : most;
	}
	return most == 0x7f800000u;
}
