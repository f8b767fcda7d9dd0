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

/* Counter-based dropout: keep/drop of element idx at a site is a pure
 * function of (key, idx), so backward regenerates the mask, and threads
 * never share generator state. */
static inline int pofa_dropout_keep(uint64_t key, uint64_t idx, uint32_t thresh)
{
	return (uint32_t)(pofa_mix64(key ^ (idx * 0xd1342543de82ef95ULL)) >> 32) >= thresh;
}

/* ---- kernels (layers.c) ------------------------------------------------ */
typedef struct pofa_kern {
	pofa_pool *pool;
	int naive;           /* naive loops instead of cblas_sgemm */
	float *scratch;      /* per-thread scratch: nthreads * scratch_per */
	size_t scratch_per;
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
/* dx = dg * gelu'(f); in place allowed */
void pofa_gelu_backward(pofa_kern *k, float *dx, const float *dg, const float *f, int64_t n);
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

/* erf to ~1.5e-7 absolute (Abramowitz & Stegun 7.1.26), vectorises;
 * training and the forward-only path both use it */
static inline float pofa_erf(float x)
{
	float ax = x < 0.0f ? -x : x;
	float t = 1.0f / (1.0f + 0.3275911f * ax);
	float y = 1.061405429f;
	y = y * t - 1.453152027f;
	y = y * t + 1.421413741f;
	y = y * t - 0.284496736f;
	y = y * t + 0.254829592f;
	y = 1.0f - y * t * pofa_expf(-ax * ax);
	return x < 0.0f ? -y : y;
}

/* exact (erf) GELU */
static inline float pofa_gelu_f(float x) { return 0.5f * x * (1.0f + pofa_erf(x * 0.70710678118654752f)); }

#endif
