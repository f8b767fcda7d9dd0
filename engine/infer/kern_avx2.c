/*
 * kern_avx2.c - the forward-only kernels for AVX2 + FMA (compiled with
 * -mavx2 -mfma -mf16c; run only where the CPU has them). Integer products
 * take the exact path: inputs as int16 (q - zero point), pmaddwd, int32
 * sums; never vpmaddubsw, whose 16-bit sums saturate.
 */
#include "engine/infer/kern_body.h"

#include <immintrin.h>

#define VW 8
typedef __m256 vf;
typedef __m256i vi;
#define VF_SET1(s) _mm256_set1_ps(s)
#define VF_LOAD(p) _mm256_load_ps(p)
#define VF_STORE(p, v) _mm256_store_ps(p, v)
#define VF_MUL(a, b) _mm256_mul_ps(a, b)
#define VF_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VI_SET1(i) _mm256_set1_epi32(i)
#define VI_LOAD(p) _mm256_load_si256((const __m256i *)(const void *)(p))
#define VI_MADD(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define VI_TO_F(v) _mm256_cvtepi32_ps(v)
#include "engine/infer/kern_simd.h"

const pofa_infer_kern pofa_kern_avx2 = {
	.path = POFA_CPU_AVX2,
	.x8 = POFA_X8_S16X2,
	.sparse = ks_sparse,
	.int8 = ks_int8_s16,
	.quant = kb_quant_s16x2,
	.bias_act = kb_bias_act,
	.layernorm = kb_layernorm,
	.attention = ks_attention,
};
