/*
 * test_grad.c - gradient checks. Every kernel's backward and the whole
 * model's backward under each head are compared with central differences of
 * a double-precision reference (ref.c for the model, loops here for the
 * kernels). Pass: max relative error <= 1e-3, where the error of an element
 * is |analytic - numeric| / max(|analytic|, |numeric|, 1e-2 * the tensor's
 * largest |numeric|, floor): floor is 1e-7 for kernels and, for the model,
 * 1e-3 times the largest gradient of the whole model - gradients that are
 * exactly zero in theory (a key bias: softmax ignores a shift shared by a
 * row) come out as float rounding noise, and are judged against the scale
 * of the model's gradients rather than against zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/io/safetensors.h"
#include "data/base/fileio.h"
#include "test/ref.h"

#include <cblas.h>
#undef I /* complex.h, pulled in by cblas.h */

#define TOL 1e-3

static void expect_rel_floor(const char *what, const float *a, const double *n, size_t cnt,
                             double floor)
{
	double e = ref_rel_err(a, n, cnt, floor);
	if (!(e <= TOL)) {
		size_t worst = 0;
		double we = -1.0;
		for (size_t i = 0; i < cnt; i++) {
			double d = fabs(a[i] - n[i]);
			if (d > we) {
				we = d;
				worst = i;
			}
		}
		fail_msg("%s: max relative error %.3e > %.0e (element %zu: analytic %.8g, numeric %.8g)",
		         what, e, TOL, worst, a[worst], n[worst]);
	}
}

static void fill(float *x, size_t n, uint64_t seed, float scale)
{
	pofa_rng r = { seed };
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (2.0f * pofa_rng_uniform(&r) - 1.0f);
}

static void expect_rel(const char *what, const float *a, const double *n, size_t cnt)
{
	expect_rel_floor(what, a, n, cnt, 1e-7);
}

/* ---- kernel checks ------------------------------------------------------ */

typedef struct {
	pofa_pool *pool;
	pofa_kern k;
} kctx;

static kctx kctx_make(int threads, int naive)
{
	kctx c;
	c.pool = pofa_pool_new(threads);
	c.k.pool = c.pool;
	c.k.naive = naive;
	c.k.scratch_per = 4096;
	c.k.scratch = calloc(c.k.scratch_per * (size_t)threads, sizeof(float));
	c.k.dw_part = NULL;
	c.k.dw_part_per = 0;
	return c;
}
static void kctx_free(kctx *c)
{
	free(c->k.scratch);
	free(c->k.dw_part);
	pofa_pool_free(c->pool);
}

/* L = sum(out * R): dL/dout = R */
static void check_matmul(int naive)
{
	int N = 5, C = 7, OC = 6;
	kctx kc = kctx_make(2, naive);
	float x[35], w[42], b[6], R[30], out[30], dx[35], dw[42] = { 0 }, db[6] = { 0 };
	fill(x, 35, 1, 1.0f);
	fill(w, 42, 2, 1.0f);
	fill(b, 6, 3, 1.0f);
	fill(R, 30, 4, 1.0f);
	pofa_matmul_forward(&kc.k, out, x, w, b, N, C, OC);
	/* the forward against the plain formula */
	for (int i = 0; i < N; i++)
		for (int o = 0; o < OC; o++) {
			double s = b[o];
			for (int c = 0; c < C; c++)
				s += (double)x[i * C + c] * w[o * C + c];
			assert_true(fabs(s - out[i * OC + o]) < 1e-5);
		}
	pofa_matmul_backward(&kc.k, dx, dw, db, R, x, w, N, C, OC, 0);
	double nx[35], nw[42], nb[6];
	for (int i = 0; i < N; i++)
		for (int c = 0; c < C; c++) {
			double s = 0.0;  /* dL/dx = R W, exact for a linear map */
			for (int o = 0; o < OC; o++)
				s += (double)R[i * OC + o] * w[o * C + c];
			nx[i * C + c] = s;
		}
	for (int o = 0; o < OC; o++) {
		nb[o] = 0.0;
		for (int i = 0; i < N; i++)
			nb[o] += R[i * OC + o];
		for (int c = 0; c < C; c++) {
			double s = 0.0;
			for (int i = 0; i < N; i++)
				s += (double)R[i * OC + o] * x[i * C + c];
			nw[o * C + c] = s;
		}
	}
	expect_rel("matmul dx", dx, nx, 35);
	expect_rel("matmul dW", dw, nw, 42);
	expect_rel("matmul db", db, nb, 6);
	/* accumulate mode adds */
	float dx2[35];
	memcpy(dx2, dx, sizeof dx);
	pofa_matmul_backward(&kc.k, dx2, NULL, NULL, R, x, w, N, C, OC, 1);
	for (int i = 0; i < 35; i++)
		assert_true(fabsf(dx2[i] - 2.0f * dx[i]) <= 1e-5f * (1.0f + fabsf(dx[i])));
	kctx_free(&kc);
}
static void test_matmul_blas(void **s) { (void)s; check_matmul(0); }

/* the weight gradient split over the tokens (training's kern has partials):
 * 2 and 3 threads, uneven shares, dW and db added to what they held, db
 * alone; against double precision and against the split over rows */
static void test_matmul_token_split(void **st)
{
	(void)st;
	/* the last two cases give each thread's share more tokens than one
	 * chunk of about 1 MiB of dout (layers.c), so shares go in chunks */
	int Ns[5] = { 512, 770, 1031, 2000, 2700 }, threads[5] = { 2, 3, 3, 2, 3 };
	int Cs[5] = { 9, 9, 9, 3, 3 }, OCs[5] = { 5, 5, 5, 300, 300 };
	for (int t = 0; t < 5; t++) {
		int N = Ns[t], C = Cs[t], OC = OCs[t];
		kctx kc = kctx_make(threads[t], 0), kr = kctx_make(threads[t], 0);
		kc.k.dw_part_per = (size_t)OC * C + OC + 3;
		kc.k.dw_part = calloc(kc.k.dw_part_per * (size_t)(threads[t] - 1), sizeof(float));
		float *x = malloc(sizeof(float) * N * C), *R = malloc(sizeof(float) * N * OC);
		float *w = malloc(sizeof(float) * OC * C), *dw = malloc(sizeof(float) * OC * C);
		float *rw = malloc(sizeof(float) * OC * C), *db = malloc(sizeof(float) * OC);
		float *rb = malloc(sizeof(float) * OC), *db2 = malloc(sizeof(float) * OC);
		double *nw = malloc(sizeof(double) * OC * C), *nb = malloc(sizeof(double) * OC);
		fill(x, N * C, 31 + t, 1.0f);
		fill(R, N * OC, 41 + t, 1.0f);
		fill(w, OC * C, 51, 1.0f);
		fill(dw, OC * C, 61, 1.0f);
		fill(db, OC, 62, 1.0f);
		memcpy(rw, dw, sizeof(float) * OC * C);
		memcpy(rb, db, sizeof(float) * OC);
		for (int o = 0; o < OC; o++) {
			nb[o] = db[o];
			for (int i = 0; i < N; i++)
				nb[o] += R[i * OC + o];
			for (int c = 0; c < C; c++) {
				double s = dw[o * C + c];
				for (int i = 0; i < N; i++)
					s += (double)R[i * OC + o] * x[i * C + c];
				nw[o * C + c] = s;
			}
		}
		pofa_matmul_backward(&kc.k, NULL, dw, db, R, x, w, N, C, OC, 0);
		pofa_matmul_backward(&kr.k, NULL, rw, rb, R, x, w, N, C, OC, 0);
		expect_rel("token split dW", dw, nw, OC * C);
		expect_rel("token split db", db, nb, OC);
		/* the two orders of summation round differently: a sum of N
		 * products of unit size is off by about eps sqrt(N) of the
		 * matrix's scale, whatever its own size (an element near zero is
		 * a cancellation), so the bound is relative to the largest */
		float wmax = 0.0f;
		for (int i = 0; i < OC * C; i++)
			wmax = fmaxf(wmax, fabsf(rw[i]));
		for (int i = 0; i < OC * C; i++)
			if (fabsf(dw[i] - rw[i]) > 1e-5f * (1.0f + wmax))
				fail_msg("N %d, %d threads: dW[%d] split over tokens %.9g, over rows %.9g (bound %.3g)", N,
				         threads[t], i, dw[i], rw[i], 1e-5 * (1.0 + wmax));
		/* the bias alone */
		fill(db2, OC, 62, 1.0f);
		pofa_matmul_backward(&kc.k, NULL, NULL, db2, R, x, w, N, C, OC, 0);
		expect_rel("token split db alone", db2, nb, OC);
		free(x);
		free(R);
		free(w);
		free(dw);
		free(rw);
		free(db);
		free(rb);
		free(db2);
		free(nw);
		free(nb);
		kctx_free(&kc);
		kctx_free(&kr);
	}
}
static void test_matmul_naive(void **s) { (void)s; check_matmul(1); }

/* residual + dropout + LayerNorm, numeric by central differences */
static double ref_resln(const double *x, const double *res, const double *w, const double *b,
                        int N, int C, uint64_t key, double p, const double *R)
{
	uint32_t th = (uint32_t)((double)p * 4294967296.0);
	double L = 0.0;
	for (int i = 0; i < N; i++) {
		double r[64], m = 0.0, v = 0.0;
		for (int c = 0; c < C; c++) {
			double xv = x[i * C + c];
			if (p > 0.0)
				xv = pofa_dropout_keep(key, (uint64_t)(i * C + c), th) ? xv / (1.0 - p) : 0.0;
			r[c] = xv + res[i * C + c];
			m += r[c];
		}
		m /= C;
		for (int c = 0; c < C; c++)
			v += (r[c] - m) * (r[c] - m);
		v /= C;
		double s = 1.0 / sqrt(v + 1e-5);
		for (int c = 0; c < C; c++)
			L += ((r[c] - m) * s * w[c] + b[c]) * R[i * C + c];
	}
	return L;
}

static void test_layernorm_dropout(void **st)
{
	(void)st;
	enum { N = 4, C = 9 };
	for (int withdrop = 0; withdrop < 2; withdrop++) {
		kctx kc = kctx_make(2, 0);
		float x[N * C], res[N * C], w[C], b[C], R[N * C], out[N * C], r[N * C], mean[N], rstd[N];
		float dr[N * C], dx[N * C], dw[C] = { 0 }, db[C] = { 0 };
		fill(x, N * C, 11, 1.0f);
		fill(res, N * C, 12, 1.0f);
		fill(w, C, 13, 1.0f);
		fill(b, C, 14, 1.0f);
		fill(R, N * C, 15, 1.0f);
		float p = withdrop ? 0.3f : 0.0f;
		uint64_t key = 0x1234;
		pofa_residual_layernorm_forward(&kc.k, out, r, mean, rstd, x, res, w, b, N, C, 1e-5f, key, 0, p);
		pofa_layernorm_backward(&kc.k, dr, dw, db, R, r, mean, rstd, w, N, C);
		pofa_dropout_backward(&kc.k, dx, dr, N * C, key, 0, p);
		double X[N * C], RES[N * C], W[C], Bb[C], RR[N * C];
		for (int i = 0; i < N * C; i++) { X[i] = x[i]; RES[i] = res[i]; RR[i] = R[i]; }
		for (int i = 0; i < C; i++) { W[i] = w[i]; Bb[i] = b[i]; }
		double nx[N * C], nres[N * C], nw[C], nb[C], h = 1e-6;
		double *vars[4] = { X, RES, W, Bb }, *outs[4] = { nx, nres, nw, nb };
		int sizes[4] = { N * C, N * C, C, C };
		for (int v = 0; v < 4; v++)
			for (int i = 0; i < sizes[v]; i++) {
				double keep = vars[v][i];
				vars[v][i] = keep + h;
				double lp = ref_resln(X, RES, W, Bb, N, C, key, p, RR);
				vars[v][i] = keep - h;
				double lm = ref_resln(X, RES, W, Bb, N, C, key, p, RR);
				vars[v][i] = keep;
				outs[v][i] = (lp - lm) / (2 * h);
			}
		expect_rel("layernorm dx (through dropout)", dx, nx, N * C);
		expect_rel("layernorm dresidual", dr, nres, N * C);
		expect_rel("layernorm dweight", dw, nw, C);
		expect_rel("layernorm dbias", db, nb, C);
		kctx_free(&kc);
	}
}

/* The dropout mask: the vector loops (split over threads, across a 2^32
 * boundary of the index) draw what the scalar definition draws, at the rate
 * asked for, with no pattern between neighbours, sites or high halves. */
static void test_dropout_mask(void **st)
{
	(void)st;
	enum { n = 1 << 20 };
	float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
	for (int i = 0; i < n; i++)
		x[i] = 1.0f + (float)(i % 7);
	const float p = 0.1f;
	const uint32_t th = (uint32_t)((double)p * 4294967296.0);
	uint64_t key = 0x9e3779b97f4a7c15ULL, off = (1ULL << 32) - 1000;
	kctx kc = kctx_make(3, 0);
	pofa_dropout_forward(&kc.k, y, x, n, key, off, p);
	long dropped = 0, both = 0, cross = 0, high = 0;
	for (int i = 0; i < n; i++) {
		int keep = pofa_dropout_keep(key, off + (uint64_t)i, th);
		float want = keep ? x[i] / (1.0f - p) : 0.0f;
		if (fabsf(y[i] - want) > 1e-6f * want)
			fail_msg("element %d (index %#llx): got %g, the scalar mask gives %g", i,
			         (unsigned long long)(off + (uint64_t)i), y[i], want);
		dropped += !keep;
		both += i > 0 && !keep && y[i - 1] == 0.0f;
		cross += !keep && !pofa_dropout_keep(key + 1, off + (uint64_t)i, th);
		high += !keep && !pofa_dropout_keep(key, off + (uint64_t)i + (1ULL << 32), th);
	}
	/* binomial counts: within 6 standard deviations */
	double rate = (double)dropped / n, sd = sqrt(p * (1 - p) / n);
	if (fabs(rate - p) > 6 * sd)
		fail_msg("dropped %.5f of the elements, expected %.2f (+- %.5f)", rate, p, 6 * sd);
	double pp = (double)p * p, sd2 = sqrt(pp * (1 - pp) / n);
	const char *what[3] = { "neighbours", "two keys", "indices 2^32 apart" };
	long cnt[3] = { both, cross, high };
	for (int k = 0; k < 3; k++)
		if (fabs((double)cnt[k] / n - pp) > 6 * sd2)
			fail_msg("%s both dropped at rate %.5f, independent masks give %.4f (+- %.5f)", what[k],
			         (double)cnt[k] / n, pp, 6 * sd2);
	kctx_free(&kc);
	free(x);
	free(y);
}

static void test_gelu(void **st)
{
	(void)st;
	enum { N = 3, C = 40 };
	kctx kc = kctx_make(2, 0);
	float f[N * C], g[N * C], bias[C], dg[N * C], df[N * C];
	fill(f, N * C, 21, 4.0f);
	fill(bias, C, 22, 1.0f);
	fill(dg, N * C, 23, 1.0f);
	pofa_bias_gelu_forward(&kc.k, g, f, bias, N, C);   /* f += bias */
	for (int i = 0; i < N * C; i++)
		assert_true(fabs(g[i] - ref_gelu(f[i])) < 1e-6 * (1.0 + fabs(g[i])));
	/* training's forward: the same g, and f replaced by the derivative */
	float x[N * C], gt[N * C];
	memcpy(x, f, sizeof x);
	pofa_gelu_forward_train(&kc.k, gt, f, N * C);
	for (int i = 0; i < N * C; i++)
		if (gt[i] != g[i])
			fail_msg("training GELU at %g: %.9g, forward-only %.9g; expected the same bits", x[i], gt[i], g[i]);
	pofa_gelu_backward(&kc.k, df, dg, f, N * C);
	double num[N * C], h = 1e-6;
	for (int i = 0; i < N * C; i++)
		num[i] = dg[i] * (ref_gelu((double)x[i] + h) - ref_gelu((double)x[i] - h)) / (2 * h);
	expect_rel("gelu", df, num, N * C);
	kctx_free(&kc);
}

/* GELU's forward on a dense grid and at the edges: within 1.1e-6 (1 + |GELU|)
 * of double precision (the rational erf in float: its worst, 1.04e-6, is
 * near x = -5.3, where 1 + erf cancels), 0 far below, infinity and NaN kept */
static void test_gelu_accuracy(void **st)
{
	(void)st;
	double worst = 0.0, at = 0.0;
	for (int i = -12 * 4096; i <= 12 * 4096; i++) {
		float x = (float)i / 4096.0f;
		double want = ref_gelu(x), e = fabs(pofa_gelu(x) - want) / (1.0 + fabs(want));
		if (e > worst) {
			worst = e;
			at = x;
		}
	}
	if (!(worst <= 1.1e-6))
		fail_msg("GELU: error %.3g (1 + |GELU|) at x = %.6g, expected <= 1.1e-6", worst, at);
	/* the derivative training stores: within 3e-6 of the exact GELU'
	 * (its worst, 2.7e-6, near z = 4 where the fit ends), and the same
	 * GELU as pofa_gelu to the bit */
	worst = 0.0;
	for (int i = -12 * 4096; i <= 12 * 4096; i++) {
		float x = (float)i / 4096.0f, d;
		float g = pofa_gelu_fd(x, &d);
		double want = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * (double)x * x) * 0.39894228040143268;
		if (g != pofa_gelu(x))
			fail_msg("pofa_gelu_fd(%g) = %.9g, pofa_gelu %.9g; expected the same bits", x, g, pofa_gelu(x));
		if (fabs(d - want) > worst) {
			worst = fabs(d - want);
			at = x;
		}
	}
	if (!(worst <= 3e-6))
		fail_msg("GELU': error %.3g at x = %.6g, expected <= 3e-6", worst, at);
	float d0, d1, d2;
	pofa_gelu_fd(-1e30f, &d0);
	pofa_gelu_fd(1e30f, &d1);
	pofa_gelu_fd(NAN, &d2);
	if (d0 != 0.0f || d1 != 1.0f || !isnan(d2))
		fail_msg("GELU' at -1e30, 1e30, NaN: %g %g %g; expected 0 1 nan", d0, d1, d2);
	float big = 1e30f;
	if (pofa_gelu(-big) != 0.0f || pofa_gelu(big) != big || !isinf(pofa_gelu(INFINITY)) ||
	    pofa_gelu(-INFINITY) != 0.0f || !isnan(pofa_gelu(NAN)))
		fail_msg("GELU at -1e30, 1e30, inf, -inf, NaN: %g %g %g %g %g; expected 0 1e30 inf 0 nan", pofa_gelu(-big),
		         pofa_gelu(big), pofa_gelu(INFINITY), pofa_gelu(-INFINITY), pofa_gelu(NAN));
}

/* attention: L = sum(ctx * R), numeric in double with the same masks */
static double ref_attention(const double *qkv, const int *mask, int B, int T, int C, int NH,
                            uint64_t key, double p, const double *R)
{
	int hs = C / NH;
	uint32_t th = (uint32_t)((double)p * 4294967296.0);
	double L = 0.0;
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++)
			for (int i = 0; i < T; i++) {
				double S[16], mx = -INFINITY, sum = 0.0;
				for (int j = 0; j < T; j++) {
					double s = 0.0;
					for (int d = 0; d < hs; d++)
						s += qkv[(b * T + i) * 3 * C + h * hs + d] *
						     qkv[(b * T + j) * 3 * C + C + h * hs + d];
					s /= sqrt((double)hs);
					if (mask && !mask[b * T + j])
						s += -FLT_MAX;
					S[j] = s;
					mx = fmax(mx, s);
				}
				for (int j = 0; j < T; j++) {
					S[j] = exp(S[j] - mx);
					sum += S[j];
				}
				uint64_t u = (uint64_t)(b * NH + h);
				for (int j = 0; j < T; j++) {
					S[j] /= sum;
					if (p > 0.0)
						S[j] = pofa_dropout_keep(key, u * T * T + (uint64_t)(i * T + j), th)
						       ? S[j] / (1.0 - p) : 0.0;
				}
				for (int d = 0; d < hs; d++) {
					double o = 0.0;
					for (int j = 0; j < T; j++)
						o += S[j] * qkv[(b * T + j) * 3 * C + 2 * C + h * hs + d];
					L += o * R[(b * T + i) * C + h * hs + d];
				}
			}
	return L;
}

static void test_attention(void **st)
{
	(void)st;
	enum { B = 2, T = 5, C = 8, NH = 2 };
	int mask[B * T] = { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 };
	for (int withdrop = 0; withdrop < 2; withdrop++)
		for (int naive = 0; naive < 2; naive++) {
			kctx kc = kctx_make(2, naive);
			float qkv[B * T * 3 * C], ctx[B * T * C], att[B * NH * T * T], attd[B * NH * T * T];
			float R[B * T * C], dqkv[B * T * 3 * C];
			fill(qkv, B * T * 3 * C, 31, 1.5f);
			fill(R, B * T * C, 32, 1.0f);
			float p = withdrop ? 0.25f : 0.0f;
			uint64_t key = 99;
			pofa_attention_forward(&kc.k, ctx, att, withdrop ? attd : att, qkv, mask, B, T, C, NH, key, 0, p);
			pofa_attention_backward(&kc.k, dqkv, R, qkv, att, withdrop ? attd : att, B, T, C, NH, p);
			double Q[B * T * 3 * C], RR[B * T * C], num[B * T * 3 * C], h = 1e-6;
			for (int i = 0; i < B * T * 3 * C; i++) Q[i] = qkv[i];
			for (int i = 0; i < B * T * C; i++) RR[i] = R[i];
			for (int i = 0; i < B * T * 3 * C; i++) {
				double keep = Q[i];
				Q[i] = keep + h;
				double lp = ref_attention(Q, mask, B, T, C, NH, key, p, RR);
				Q[i] = keep - h;
				double lm = ref_attention(Q, mask, B, T, C, NH, key, p, RR);
				Q[i] = keep;
				num[i] = (lp - lm) / (2 * h);
			}
			/* padded keys get probability exactly 0 */
			for (int h2 = 0; h2 < NH; h2++)
				for (int i = 0; i < T; i++) {
					assert_true(att[((1 * NH + h2) * T + i) * T + 3] == 0.0f);
					assert_true(att[((1 * NH + h2) * T + i) * T + 4] == 0.0f);
				}
			expect_rel(withdrop ? "attention dqkv (dropout)" : "attention dqkv", dqkv, num, B * T * 3 * C);
			kctx_free(&kc);
		}
}

static void test_softmax_xent(void **st)
{
	(void)st;
	enum { N = 4, V = 11 };
	kctx kc = kctx_make(2, 0);
	float z[N * V], dz[N * V];
	int y[N] = { 3, -1, 0, 10 };
	fill(z, N * V, 41, 5.0f);
	int count;
	double loss = pofa_softmax_xent(&kc.k, dz, z, y, N, V, V, 0.5f, &count);
	assert_int_equal(count, 3);
	double ref = 0.0, num[N * V], h = 1e-6;
	double Z[N * V];
	for (int i = 0; i < N * V; i++) Z[i] = z[i];
	for (int i = 0; i < N; i++) {
		if (y[i] < 0)
			continue;
		double mx = -INFINITY, s = 0.0;
		for (int j = 0; j < V; j++) mx = fmax(mx, Z[i * V + j]);
		for (int j = 0; j < V; j++) s += exp(Z[i * V + j] - mx);
		ref += log(s) + mx - Z[i * V + y[i]];
	}
	assert_true(fabs(loss - ref) < 1e-5 * fabs(ref));
	for (int k = 0; k < N * V; k++) {
		int i = k / V;
		if (y[i] < 0) {
			num[k] = 0.0;
			continue;
		}
		double keep = Z[k], l[2];
		for (int sgn = 0; sgn < 2; sgn++) {
			Z[k] = keep + (sgn ? -h : h);
			double mx = -INFINITY, s = 0.0;
			for (int j = 0; j < V; j++) mx = fmax(mx, Z[i * V + j]);
			for (int j = 0; j < V; j++) s += exp(Z[i * V + j] - mx);
			l[sgn] = 0.5 * (log(s) + mx - Z[i * V + y[i]]);
		}
		Z[k] = keep;
		num[k] = (l[0] - l[1]) / (2 * h);
	}
	expect_rel("softmax cross-entropy", dz, num, N * V);
	kctx_free(&kc);
}

/* The loss alone (evaluation, no gradient) is the training step's loss to
 * the last bit, for vocabularies that are and are not multiples of the
 * eight lanes and of the loss path's chunks of 256. */
static void test_softmax_xent_loss_only(void **st)
{
	(void)st;
	const int Vs[] = { 1, 7, 8, 13, 256, 300, 1029 };
	kctx kc = kctx_make(2, 0);
	for (size_t v = 0; v < sizeof Vs / sizeof *Vs; v++) {
		int V = Vs[v], N = 5, y[5] = { 0, V - 1, V / 2, -1, V / 3 };
		float *z = malloc(sizeof(float) * N * V), *dz = malloc(sizeof(float) * N * V);
		fill(z, (size_t)N * V, 100 + v, 8.0f);
		int c1, c2;
		double with = pofa_softmax_xent(&kc.k, dz, z, y, N, V, V, 1.0f, &c1);
		double alone = pofa_softmax_xent(&kc.k, NULL, z, y, N, V, V, 1.0f, &c2);
		if (memcmp(&with, &alone, sizeof with) || c1 != c2)
			fail_msg("V %d: loss with gradients %.17g (%d rows), without %.17g (%d rows): expected the same bits",
			         V, with, c1, alone, c2);
		free(z);
		free(dz);
	}
	kctx_free(&kc);
}

/* the fixed-order row sums, dot and max against double precision, on
 * ragged lengths (0-3 whole lane groups, any tail) */
static void test_row_reductions(void **st)
{
	(void)st;
	float x[40], y[40];
	fill(x, 40, 51, 3.0f);
	fill(y, 40, 52, 3.0f);
	for (int n = 1; n <= 40; n++) {
		double s = 0.0, d = 0.0, mx = -INFINITY, sa = 0.0, da = 0.0;
		for (int j = 0; j < n; j++) {
			s += x[j];
			d += (double)x[j] * y[j];
			mx = fmax(mx, x[j]);
			sa += fabs(x[j]);
			da += fabs((double)x[j] * y[j]);
		}
		float fs = pofa_row_sum(x, n), fd = pofa_row_dot(x, y, n), fm = pofa_row_max(x, n);
		if (fabs(fs - s) > 1e-6 * sa || fabs(fd - d) > 1e-6 * da || fm != (float)mx)
			fail_msg("n %d: sum %.9g dot %.9g max %.9g; expected %.9g, %.9g, %.9g", n, fs, fd, fm, s, d, mx);
	}
}

/* ---- whole-model checks ------------------------------------------------- */

static pofa_config small_config(void)
{
	pofa_config c;
	pofa_err err;
	pofa_config_preset(&c, "bert-tiny", &err);
	c.vocab_size = 23;
	c.hidden_size = 8;
	c.num_attention_heads = 2;
	c.intermediate_size = 16;
	c.num_hidden_layers = 2;
	c.max_position_embeddings = 8;
	c.num_labels = 3;
	c.initializer_range = 0.5f; /* large weights: non-trivial gradients everywhere */
	return c;
}

static void check_model(int head, int naive)
{
	enum { B = 2, T = 5 };
	pofa_config cfg = small_config();
	pofa_err err;
	pofa_model *m = pofa_model_new(&cfg, head, B, T, 2, &err);
	assert_non_null(m);
	pofa_model_init(m, 7);
	pofa_model_set_dropout(m, 0);
	pofa_model_set_naive(m, naive);
	/* non-zero biases and LayerNorm parameters, so every path is exercised */
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t);
	for (int i = 0; i < nt; i++)
		if (t[i].ndim == 1)
			fill(t[i].data, (size_t)t[i].numel, 100 + i, 0.3f);
	for (int i = 0; i < nt; i++)
		if (strstr(t[i].name, "LayerNorm.weight"))
			for (int j = 0; j < t[i].numel; j++)
				t[i].data[j] += 1.0f;
	int ids[B * T] = { 2, 7, 4, 9, 3, 2, 11, 4, 0, 0 };
	int types[B * T] = { 0, 0, 0, 1, 1, 0, 0, 1, 0, 0 };
	int mask[B * T] = { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 };
	int mlm[B * T] = { POFA_IGNORE, 5, 8, POFA_IGNORE, POFA_IGNORE, POFA_IGNORE, 12, 21, POFA_IGNORE, POFA_IGNORE };
	int labels[B] = { 2, 0 }, sp[B] = { 1, 3 }, ep[B] = { 3, 7 /* ignored: >= T */ };
	if (head == POFA_HEAD_SPAN)
		ep[1] = 2;
	pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types,
	                 .attention_mask = mask, .mlm_labels = mlm, .labels = labels,
	                 .start_positions = sp, .end_positions = ep };
	pofa_model_zero_grad(m);
	float loss = pofa_model_step_loss(m, &b, 1);
	pofa_model_backward(m, &b);

	ref_model r;
	ref_init(&r, m, 0);
	double rl = ref_loss(&r, &b);
	if (!(fabs(loss - rl) <= 1e-5 * fabs(rl)))
		fail_msg("%s head: loss %.9g, reference %.9g", pofa_head_names[head], loss, rl);
	float *params = pofa_model_params(m);
	size_t np = pofa_model_num_params(m);
	double *num = calloc(np, sizeof *num), h = 1e-5, gmax = 0.0;
	for (int i = 0; i < nt; i++) {
		size_t off = (size_t)(t[i].data - params);
		for (size_t j = 0; j < (size_t)t[i].numel; j++) {
			double keep = r.p[off + j];
			r.p[off + j] = keep + h;
			double lp = ref_loss(&r, &b);
			r.p[off + j] = keep - h;
			double lm = ref_loss(&r, &b);
			r.p[off + j] = keep;
			num[off + j] = (lp - lm) / (2 * h);
			gmax = fmax(gmax, fabs(num[off + j]));
		}
	}
	assert_true(gmax > 1e-3);
	for (int i = 0; i < nt; i++) {
		size_t off = (size_t)(t[i].data - params);
		char what[160];
		snprintf(what, sizeof what, "%s head%s: %s", pofa_head_names[head], naive ? " (naive)" : "",
		         t[i].name);
		expect_rel_floor(what, t[i].grad, num + off, (size_t)t[i].numel, 1e-3 * gmax);
	}
	free(num);
	ref_free(&r);
	pofa_model_free(m);
}

static void test_model_mlm(void **s) { (void)s; check_model(POFA_HEAD_MLM, 0); }
static void test_model_cls(void **s) { (void)s; check_model(POFA_HEAD_CLS, 0); }
static void test_model_span(void **s) { (void)s; check_model(POFA_HEAD_SPAN, 0); }
static void test_model_mlm_naive(void **s) { (void)s; check_model(POFA_HEAD_MLM, 1); }

/* With the decoder on every token, the logits of masked rows equal those
 * of the masked-only pass, and the loss is the same. */
static void test_mlm_all_positions(void **st)
{
	(void)st;
	enum { B = 2, T = 5 };
	pofa_config cfg = small_config();
	pofa_err err;
	pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_MLM, B, T, 1, &err);
	pofa_model_init(m, 3);
	int ids[B * T] = { 2, 7, 4, 9, 3, 2, 11, 4, 0, 0 };
	int mask[B * T] = { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 };
	int mlm[B * T] = { POFA_IGNORE, 5, 8, POFA_IGNORE, POFA_IGNORE, POFA_IGNORE, 12, 21, POFA_IGNORE, POFA_IGNORE };
	pofa_batch b = { .B = B, .T = T, .input_ids = ids, .attention_mask = mask, .mlm_labels = mlm };
	float l1 = pofa_model_step_loss(m, &b, 0);
	int rows, cols;
	float *lg = pofa_model_logits(m, &rows, &cols);
	assert_int_equal(rows, 4);
	assert_int_equal(cols, cfg.vocab_size);
	float first[23];
	memcpy(first, lg, sizeof first);   /* row of position 1 */
	pofa_model_set_mlm_positions(m, POFA_MLM_ALL);
	float l2 = pofa_model_step_loss(m, &b, 0);
	lg = pofa_model_logits(m, &rows, &cols);
	assert_int_equal(rows, 8); /* every non-padding token */
	const int *pos = pofa_model_logit_positions(m);
	assert_int_equal(pos[1], 1);
	for (int j = 0; j < cfg.vocab_size; j++)
		assert_true(fabsf(lg[cfg.vocab_size + j] - first[j]) < 1e-5f);
	assert_true(fabsf(l1 - l2) < 1e-6f);
	pofa_model_free(m);
}

int main(void)
{
	/* OpenBLAS on one thread a call, as the engine runs it (model.c):
	 * the kernel checks below run before any model sets it, and
	 * OpenBLAS's own threads would be races to ThreadSanitizer */
	openblas_set_num_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matmul_blas),
		cmocka_unit_test(test_matmul_naive),
		cmocka_unit_test(test_matmul_token_split),
		cmocka_unit_test(test_layernorm_dropout),
		cmocka_unit_test(test_dropout_mask),
		cmocka_unit_test(test_gelu),
		cmocka_unit_test(test_gelu_accuracy),
		cmocka_unit_test(test_attention),
		cmocka_unit_test(test_softmax_xent),
		cmocka_unit_test(test_softmax_xent_loss_only),
		cmocka_unit_test(test_row_reductions),
		cmocka_unit_test(test_model_mlm),
		cmocka_unit_test(test_model_cls),
		cmocka_unit_test(test_model_span),
		cmocka_unit_test(test_model_mlm_naive),
		cmocka_unit_test(test_mlm_all_positions),
	};
	return cmocka_run_group_tests_name("grad", tests, NULL, NULL);
}
