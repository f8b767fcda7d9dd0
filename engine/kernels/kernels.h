/*
 * kernels.h - the training kernels (kernels/layers.c), llm.c style: outputs
 * first, then inputs, then shapes. B batch, T time, C channels, OC output
 * channels, NH heads, N = B*T rows. Internal to the engine.
 */
#ifndef POFA_KERNELS_H
#define POFA_KERNELS_H

#include "data/base/rng.h"
#include "engine/kernels/pool.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The element-wise training kernels (exp, erf, LayerNorm, softmax) are plain
 * C loops the compiler vectorises; POFA_CLONES compiles such a function
 * also for AVX2 and AVX-512, the one the CPU runs chosen when the program
 * loads (GCC's target_clones, x86-64 with glibc; not in sanitizer builds,
 * whose runtimes are not ready when the loader runs the resolvers, nor with
 * POFA_NO_CLONES: make bench's AVX2-only build). Floating-point contraction
 * is off (-std=c11), so every version computes the same bits.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__gnu_linux__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__) && !defined(POFA_NO_CLONES)
#define POFA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define POFA_CLONES
#endif

/*
 * Counter-based dropout: keep/drop of element idx at a site is a pure
 * function of (key, idx), so backward regenerates the mask, and threads
 * never share generator state. The hash works on 32-bit lanes (two rounds
 * of a multiply-xorshift permutation, the low and then the high half of
 * idx and of key mixed in): AVX2 has no 64-bit multiply, and a 64-bit
 * hash cost three emulated ones per element there.
 */
static inline uint32_t pofa_hash32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x21f0aaadu;
	x ^= x >> 15;
	x *= 0xd35a2d97u;
	x ^= x >> 15;
	return x;
}

/* kh: the key's high half xor idx's high half (constant over 2^32 indices) */
static inline int pofa_dropout_keep32(uint32_t klo, uint32_t kh, uint32_t lo, uint32_t thresh)
{
	return pofa_hash32(pofa_hash32(lo ^ klo) ^ kh) >= thresh;
}

static inline int pofa_dropout_keep(uint64_t key, uint64_t idx, uint32_t thresh)
{
	return pofa_dropout_keep32((uint32_t)key, (uint32_t)(key >> 32) ^ (uint32_t)(idx >> 32), (uint32_t)idx,
	                           thresh);
}

/* y[i] = keep(key, idx + i) ? x[i] * scale : 0 for i < n, in loops on
 * 32-bit lanes (split where idx's high half changes); y may be x */
static inline void pofa_dropout_row(float *y, const float *x, int64_t n, uint64_t key, uint64_t idx,
                                    uint32_t thresh, float scale)
{
	uint32_t klo = (uint32_t)key;
	for (int64_t i = 0; i < n;) {
		uint64_t at = idx + (uint64_t)i;
		uint64_t left = (((at >> 32) + 1) << 32) - at; /* indices before the high half changes */
		int64_t e = (uint64_t)(n - i) < left ? n : i + (int64_t)left;
		uint32_t kh = (uint32_t)(key >> 32) ^ (uint32_t)(at >> 32), lo = (uint32_t)at;
		float *yy = y + i;
		const float *xx = x + i;
		for (int64_t j = 0; j < e - i; j++)
			yy[j] = pofa_dropout_keep32(klo, kh, lo + (uint32_t)j, thresh) ? xx[j] * scale : 0.0f;
		i = e;
	}
}

/*
 * Sums and maxima over a row in a fixed order: element j goes to lane
 * j % 8, and the eight lanes are added in a fixed tree at the end. A plain
 * in-order sum is a chain of dependent additions the compiler must not
 * reorder; eight lanes are one AVX2 register (two SSE ones, one half of an
 * AVX-512 one), held in GCC's vector type, so each CPU runs the same
 * element-wise additions and gets the same bits.
 */
#define POFA_LANES 8
typedef float pofa_v8 __attribute__((vector_size(POFA_LANES * sizeof(float))));
typedef int32_t pofa_v8i __attribute__((vector_size(POFA_LANES * sizeof(int32_t))));
#define POFA_V8_LOAD(v, p) memcpy(&(v), (p), sizeof(pofa_v8))

static inline float pofa_lanes_add(const float s[POFA_LANES])
{
	return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* the lanes of *acc as an array (a pointer: vector arguments would change
 * the calling convention between the CPU versions) */
static inline void pofa_v8_lanes(float s[POFA_LANES], const pofa_v8 *acc) { memcpy(s, acc, sizeof *acc); }

static inline float pofa_row_sum(const float *x, int64_t n)
{
	pofa_v8 acc = { 0 }, v;
	int64_t j = 0;
	for (; j + POFA_LANES <= n; j += POFA_LANES) {
		POFA_V8_LOAD(v, x + j);
		acc += v;
	}
	float s[POFA_LANES];
	pofa_v8_lanes(s, &acc);
	for (int l = 0; j + l < n; l++)
		s[l] += x[j + l];
	return pofa_lanes_add(s);
}

/* sum of x[j] * y[j], lanes as pofa_row_sum */
static inline float pofa_row_dot(const float *x, const float *y, int64_t n)
{
	pofa_v8 acc = { 0 }, a, b;
	int64_t j = 0;
	for (; j + POFA_LANES <= n; j += POFA_LANES) {
		POFA_V8_LOAD(a, x + j);
		POFA_V8_LOAD(b, y + j);
		acc += a * b;
	}
	float s[POFA_LANES];
	pofa_v8_lanes(s, &acc);
	for (int l = 0; j + l < n; l++)
		s[l] += x[j + l] * y[j + l];
	return pofa_lanes_add(s);
}

/* the largest of x[0..n), n >= 1 (exact: any order gives the same value) */
static inline float pofa_row_max(const float *x, int64_t n)
{
	pofa_v8 acc = { 0 }, v;
	acc += x[0];
	int64_t j = 0;
	for (; j + POFA_LANES <= n; j += POFA_LANES) {
		POFA_V8_LOAD(v, x + j);
		pofa_v8i gt = v > acc;
		acc = (pofa_v8)(((pofa_v8i)v & gt) | ((pofa_v8i)acc & ~gt));
	}
	float s[POFA_LANES];
	pofa_v8_lanes(s, &acc);
	float m = s[0];
	for (int l = 1; l < POFA_LANES; l++)
		m = s[l] > m ? s[l] : m;
	for (; j < n; j++)
		m = x[j] > m ? x[j] : m;
	return m;
}

/* ---- kernels (layers.c) ------------------------------------------------ */
typedef struct pofa_kern {
	pofa_pool *pool;
	int naive;           /* naive loops instead of cblas_sgemm */
	float *scratch;      /* per-thread scratch: nthreads * scratch_per */
	size_t scratch_per;
	/* training: nthreads - 1 partial weight and bias gradients of
	 * dw_part_per floats each, for products split over the tokens (NULL:
	 * split over the output rows) */
	float *dw_part;
	size_t dw_part_per;
} pofa_kern;

/* out (N,OC) = inp (N,C) @ w(OC,C)^T + bias(OC) ; bias may be NULL */
void pofa_matmul_forward(pofa_kern *k, float *out, const float *inp, const float *w,
                    const float *bias, int N, int C, int OC);
/* dinp (N,C) (+)= dout @ w ; dw (OC,C) += dout^T @ inp ; dbias += colsum.
 * accumulate_dinp: 1 adds into dinp, 0 overwrites. Any output may be NULL. */
void pofa_matmul_backward(pofa_kern *k, float *dinp, float *dw, float *dbias,
                     const float *dout, const float *inp, const float *w,
                     int N, int C, int OC, int accumulate_dinp);

/* r = dropout(x) + res (res may be NULL) ; out = LayerNorm(r) */
void pofa_residual_layernorm_forward(pofa_kern *k, float *out, float *r, float *mean, float *rstd,
                                const float *x, const float *res, const float *w,
                                const float *b, int N, int C, float eps,
                                uint64_t drop_key, uint64_t drop_off, float drop_p);
/* dinp (N,C) = LN backward (assigned); dw, db += */
void pofa_layernorm_backward(pofa_kern *k, float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *mean, const float *rstd,
                        const float *w, int N, int C);
/* y = dropout-backward(dy): y = dy * keep / (1-p) ; in place allowed.
 * Element i's mask is a function of (key, off + i): off places a shard of
 * a batch in the whole one (data-parallel ranks draw the masks of their
 * rows as one process draws them). */
void pofa_dropout_backward(pofa_kern *k, float *dx, const float *dy, int64_t n,
                      uint64_t key, uint64_t off, float p);
void pofa_dropout_forward(pofa_kern *k, float *y, const float *x, int64_t n, uint64_t key, uint64_t off,
                          float p);

/* f = pre + bias (in place in pre), g = gelu(f) */
void pofa_bias_gelu_forward(pofa_kern *k, float *g, float *f, const float *bias, int N, int C);
/* training's GELU: g = gelu(f), and f is replaced by gelu'(f), all the
 * backward needs (n elements) */
void pofa_gelu_forward_train(pofa_kern *k, float *g, float *f, int64_t n);
/* dx = dg * d, d the derivative pofa_gelu_forward_train left; in place allowed */
void pofa_gelu_backward(pofa_kern *k, float *dx, const float *dg, const float *d, int64_t n);
float pofa_gelu(float x);

/* qkv (B,T,3C) -> ctx (B,T,C); att/attd (B,NH,T,T) probabilities before /
 * after dropout (attd may equal att when p = 0). */
void pofa_attention_forward(pofa_kern *k, float *ctx, float *att, float *attd, const float *qkv,
                       const int *mask, int B, int T, int C, int NH, uint64_t drop_key, uint64_t drop_off,
                       float p);
void pofa_attention_backward(pofa_kern *k, float *dqkv, const float *dctx, const float *qkv,
                        const float *att, const float *attd, int B, int T, int C, int NH, float p);

/* Row-wise softmax cross-entropy over (n, V) logits with targets; rows with
 * target < 0 are skipped. dlogits = scale * (softmax - onehot), rows
 * skipped get 0 when zero_skipped. Returns the sum of losses. */
double pofa_softmax_xent(pofa_kern *k, float *dlogits, const float *logits, const int *target,
                    int n, int V, int ld, float scale, int *count);

/* exp for float vectors: max relative error ~2 ulp, vectorises. */
static inline float pofa_expf(float x0)
{
	/* clamped (NaN goes to the low end, so the int conversion below is
	 * defined; the result is NaN again at the end) */
	float x = x0 > -87.3f ? (x0 < 88.3f ? x0 : 88.3f) : -87.3f;
	float kf = x * 1.44269504088896341f;
	kf = kf + 12582912.0f;           /* round to nearest by the 1.5*2^23 trick */
	kf = kf - 12582912.0f;
	float r = x - kf * 0.693359375f;
	r = r - kf * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t ki = (int32_t)kf;
	union { int32_t i; float f; } u;
	u.i = (ki + 127) << 23;
	return x0 < -87.3f ? 0.0f : x0 == x0 ? p * u.f : x0;  /* underflow to 0, NaN stays, as expf */
}

/* erf(z) = z P(z^2) / Q(z^2): the coefficients, highest power first */
#define POFA_GELU_P0 1.9757991373e-06f
#define POFA_GELU_P1 2.8773517859e-04f
#define POFA_GELU_P2 3.9927547457e-03f
#define POFA_GELU_P3 5.3433846521e-02f
#define POFA_GELU_P4 1.9599894815e-01f
#define POFA_GELU_P5 1.1283790005e+00f
#define POFA_GELU_Q0 3.7475387874e-05f
#define POFA_GELU_Q1 1.2136062448e-03f
#define POFA_GELU_Q2 1.5422763662e-02f
#define POFA_GELU_Q3 1.1637238224e-01f
#define POFA_GELU_Q4 5.0703087940e-01f

/*
 * Exact (erf) GELU: x (1 + erf(x / sqrt 2)) / 2 with erf(z) = z P(z^2) /
 * Q(z^2) on [-4, 4], P and Q of degree 5 (the forward-only path's fit,
 * engine/infer/kern_simd.h, which evaluates the same polynomials with fused
 * multiply-adds and a refined reciprocal): no exp, about two thirds of the
 * operations of the Abramowitz & Stegun 7.1.26 form with exp that it
 * replaced (GELU's forward took half the time), within 1.04e-6 (1 + |GELU|)
 * of double precision, its worst near x = -5.3 where 1 + erf cancels (the
 * A&S form: 2.6e-7). Below z = -4 GELU is 0 to
 * float precision, above z = 4 it is x; a NaN stays NaN. pofa_gelu_fd
 * also gives the derivative of this same function (training's forward
 * stores it for the backward).
 */
static inline float pofa_gelu_f(float x)
{
	float z = x * 0.70710678118654752f;
	float zc = z < -4.0f ? -4.0f : z > 4.0f ? 4.0f : z;
	float u = zc * zc;
	float p = POFA_GELU_P0;
	p = p * u + POFA_GELU_P1;
	p = p * u + POFA_GELU_P2;
	p = p * u + POFA_GELU_P3;
	p = p * u + POFA_GELU_P4;
	p = p * u + POFA_GELU_P5;
	float q = POFA_GELU_Q0;
	q = q * u + POFA_GELU_Q1;
	q = q * u + POFA_GELU_Q2;
	q = q * u + POFA_GELU_Q3;
	q = q * u + POFA_GELU_Q4;
	q = q * u + 1.0f;
	float r = 1.0f / q, hx = 0.5f * x;   /* as pofa_gelu_fd, to the bit */
	return z < -4.0f ? 0.0f : z > 4.0f ? x : hx * (zc * (p * r)) + hx;
}

/* one Horner step of a polynomial and of its derivative: c the
 * coefficient, k its power */
static inline void pofa_horner_d(float *v, float *dv, float u, float c, float k)
{
	*dv = *dv * u + k * c;
	*v = *v * u + c;
}

/*
 * GELU and its derivative at x: the derivative of pofa_gelu_f's own
 * function, R(z) = z P(u) / Q(u), u = z^2, R'(z) = (P + 2u (P' - R/z Q')) / Q,
 * so the gradient is that of the loss the forward computed. Within 2.7e-6
 * (absolute) of the exact GELU' on [-12, 12], its worst near z = 4 where
 * the fit ends; 0 below z = -4, 1 above z = 4, NaN kept. One division, no
 * exp: the backward becomes a product with the stored derivative.
 */
static inline float pofa_gelu_fd(float x, float *d)
{
	float z = x * 0.70710678118654752f;
	float zc = z < -4.0f ? -4.0f : z > 4.0f ? 4.0f : z;
	float u = zc * zc;
	float p = POFA_GELU_P0, dp = 5.0f * POFA_GELU_P0;
	pofa_horner_d(&p, &dp, u, POFA_GELU_P1, 4.0f);
	pofa_horner_d(&p, &dp, u, POFA_GELU_P2, 3.0f);
	pofa_horner_d(&p, &dp, u, POFA_GELU_P3, 2.0f);
	pofa_horner_d(&p, &dp, u, POFA_GELU_P4, 1.0f);
	p = p * u + POFA_GELU_P5;
	float q = POFA_GELU_Q0, dq = 5.0f * POFA_GELU_Q0;
	pofa_horner_d(&q, &dq, u, POFA_GELU_Q1, 4.0f);
	pofa_horner_d(&q, &dq, u, POFA_GELU_Q2, 3.0f);
	pofa_horner_d(&q, &dq, u, POFA_GELU_Q3, 2.0f);
	pofa_horner_d(&q, &dq, u, POFA_GELU_Q4, 1.0f);
	q = q * u + 1.0f;
	float r = 1.0f / q, pr = p * r, R = zc * pr;
	float dR = (p + 2.0f * u * (dp - pr * dq)) * r;
	float hx = 0.5f * x;
	*d = z < -4.0f ? 0.0f : z > 4.0f ? 1.0f : 0.5f * R + 0.5f + hx * 0.70710678118654752f * dR;
	return z < -4.0f ? 0.0f : z > 4.0f ? x : hx * R + hx;
}

/* is any of the n values NaN or infinite? (the largest exponent field:
 * integer maxima, which the compiler vectorises) */
int pofa_any_nonfinite(const float *x, size_t n);

#endif
