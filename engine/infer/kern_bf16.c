/*
 * kern_bf16.c - attention's two products with AVX-512 BF16's vdpbf16ps,
 * for int8 models only: Q, K, V and the softmax's exponentials rounded to
 * bfloat16 (8 bits of mantissa, nearest-even), products summed in float32
 * two terms an instruction, twice the multiply-adds of an FMA. The int8
 * Linears before and after already round their inputs to 8 bits, which is
 * coarser; float32 models keep kern_simd.h's float32 attention. Compiled
 * with -mavx512bf16 as well; run only where the CPU has it.
 *
 * Layout (32-bit lanes, each a pair of bfloat16, the lower element first):
 *   Qp[p][i] = (Q[2p][i], Q[2p+1][i])      hs/2 rows of Tp queries
 *   Kp[p][j] = (K[2p][j], K[2p+1][j])      hs/2 rows of Tp keys
 *   E[j][i]  = scale K^T Q                  float32, T rows of Tp
 *   Ep[q][i] = (E'[2q][i], E'[2q+1][i])     E' = exp(E - max), in place
 *                                           over E's first rows
 *   Vp[d][q] = (V[d][2q], V[d][2q+1])       hs rows of Te/2 (Te: T even)
 */
#include "engine/infer/kern_body.h"

#include "engine/infer/vec512.h"
#include "engine/infer/kern_simd.h"

/* lanes (a[i], b[i]) as pairs of bfloat16: both converted into one
 * vector (a's in the lower half), then interleaved */
static inline __m512i kh_pair(__m512 a, __m512 b)
{
	const __m512i ix = _mm512_setr_epi32(0x00100000, 0x00110001, 0x00120002, 0x00130003, 0x00140004, 0x00150005,
	                                     0x00160006, 0x00170007, 0x00180008, 0x00190009, 0x001a000a, 0x001b000b,
	                                     0x001c000c, 0x001d000d, 0x001e000e, 0x001f000f);
	return _mm512_permutexvar_epi16(ix, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

/* dst[p][0..n) = pairs of rows 2p and 2p+1 of src (stride ld), for p <
 * hs/2, zero from n to Tp */
static void kh_rows(uint32_t *dst, const float *src, int ld, int hs, int n, int Tp)
{
	for (int p = 0; p < hs / 2; p++) {
		const float *a = src + (size_t)2 * p * ld, *b = a + ld;
		uint32_t *d = dst + (size_t)p * Tp;
		for (int i = 0; i < Tp; i += 16) {
			__mmask16 m = n - i >= 16 ? 0xffff : n > i ? (__mmask16)((1u << (n - i)) - 1u) : 0;
			__m512i v = kh_pair(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
			_mm512_store_si512((void *)(d + i), v);
		}
	}
}

/* the register tile: rows [r0, r0 + R) of out (stride Tp), NV vectors
 * from column c0: out[r][c] = mul sum_t dot2(a[r * sa + t * sb], m[t * Tp + c]) */
static inline __attribute__((always_inline)) void kh_tile(float *out, const uint32_t *a, size_t sa, size_t sb,
                                                          const uint32_t *m, int n, int Tp, int r0, int c0,
                                                          float mul, const int R, const int NV)
{
	__m512 acc[KS_TR][KS_TV];
	for (int r = 0; r < R; r++)
		for (int i = 0; i < NV; i++)
			acc[r][i] = _mm512_setzero_ps();
	for (int t = 0; t < n; t++) {
		const uint32_t *mt = m + (size_t)t * Tp + c0;
		__m512bh x[KS_TV];
		for (int i = 0; i < NV; i++)
			x[i] = (__m512bh)_mm512_load_si512((const void *)(mt + i * 16));
		for (int r = 0; r < R; r++) {
			__m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[(size_t)(r0 + r) * sa + (size_t)t * sb]);
			for (int i = 0; i < NV; i++)
				acc[r][i] = _mm512_dpbf16_ps(acc[r][i], ar, x[i]);
		}
	}
	__m512 s = _mm512_set1_ps(mul);
	for (int r = 0; r < R; r++)
		for (int i = 0; i < NV; i++)
			_mm512_store_ps(out + (size_t)(r0 + r) * Tp + c0 + i * 16, _mm512_mul_ps(acc[r][i], s));
}

/* out (rows, Tp) = mul A m over n pairs, A's pair (r, t) at a[r * sa + t * sb] */
static void kh_product(float *out, const uint32_t *a, size_t sa, size_t sb, const uint32_t *m, int n, int rows,
                       int Tp, float mul)
{
#define KH_T(r0, c0, R, NV) kh_tile(out, a, sa, sb, m, n, Tp, r0, c0, mul, R, NV)
	KS_TILE_GRID(KH_T, rows, Tp);
#undef KH_T
}

/* ks_att_softmax with the exponentials written as pairs of keys in place
 * (pair q over row q: rows 2q and 2q + 1 are read first, and row q was
 * read before, in this column's earlier pairs) */
static void kh_softmax(float *E, float *sm, const float *add, int T, int Tp)
{
	for (int i = 0; i < Tp; i += 16) {
		__m512 mx = ks_att_colmax(E, add, T, Tp, i), s = _mm512_setzero_ps();
		for (int j = 0; j < T; j += 2) {
			__m512 a = ks_exp(_mm512_sub_ps(_mm512_load_ps(E + (size_t)j * Tp + i), mx)), b = _mm512_setzero_ps();
			if (j + 1 < T)
				b = ks_exp(_mm512_sub_ps(_mm512_load_ps(E + (size_t)(j + 1) * Tp + i), mx));
			__m512i p = kh_pair(a, b);
			s = _mm512_add_ps(s, _mm512_add_ps(a, b));
			_mm512_store_si512((void *)(E + (size_t)(j / 2) * Tp + i), p);
		}
		_mm512_store_ps(sm + i, ks_recip(s));
	}
}

pofa_att_fn pofa_att_bf16;

void pofa_att_bf16(float *ctx, const float *q, const float *k, const float *v, const float *add, int T, int hs,
                   int ld, float scale, float *w)
{
	if (hs & 1) { /* no pairs along an odd head */
		ks_attention(ctx, q, k, v, add, T, hs, ld, scale, w);
		return;
	}
	int Tp = (T + 15) & ~15, Th = (T + 1) / 2;
	size_t half = (size_t)(hs / 2) * Tp;
	uint32_t *Qp = (uint32_t *)w, *Kp = Qp + half;
	float *E = (float *)(Kp + half);
	kb_att a = { .T = T, .Tp = Tp, .hs = hs, .E = E, .O = E + (size_t)T * Tp };
	a.sm = a.O + (size_t)hs * Tp;
	uint32_t *Vp = (uint32_t *)(a.sm + Tp);
	kh_rows(Qp, q, ld, hs, T, Tp);
	kh_rows(Kp, k, ld, hs, T, Tp);
	/* E (T keys, Tp) = scale K^T Q: K^T's pair (j, p) is Kp[p * Tp + j] */
	kh_product(E, Kp, 1, (size_t)Tp, Qp, hs / 2, T, Tp, scale);
	kh_softmax(E, a.sm, add, T, Tp);
	/* V's rows as pairs of keys (T odd: the last pair's upper half 0) */
	for (int d = 0; d < hs; d++) {
		const float *vr = v + (size_t)d * ld;
		uint32_t *o = Vp + (size_t)d * Th;
		for (int j = 0; j < 2 * Th; j += 32) {
			int n = T - j < 32 ? T - j : 32;
			__mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1u);
			__mmask16 m1 = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1u) : 0;
			__m512bh b = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, vr + j + 16),
			                                 _mm512_maskz_loadu_ps(m0, vr + j));
			int np = (n + 1) / 2;
			_mm512_mask_storeu_epi32(o + j / 2, (__mmask16)(np >= 16 ? 0xffff : (1u << np) - 1u), (__m512i)b);
		}
	}
	/* O (hs, Tp) = V E: V's pair (d, q) is Vp[d * Th + q] */
	kh_product(a.O, Vp, (size_t)Th, 1, (const uint32_t *)E, Th, hs, Tp, 1.0f);
	kb_att_out(&a, ctx, ld);
}
