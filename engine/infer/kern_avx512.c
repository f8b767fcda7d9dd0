/*
 * kern_avx512.c - the forward-only kernels for AVX-512 F/BW/VL/DQ
 * (compiled with those flags; run only where the CPU has them). Without
 * VNNI, integer products take the exact int16 path, as on AVX2.
 */
#include "engine/infer/kern_body.h"

#include <immintrin.h>

#define VW 16
typedef __m512 vf;
typedef __m512i vi;
#define VF_SET1(s) _mm512_set1_ps(s)
#define VF_LOAD(p) _mm512_load_ps(p)
#define VF_STORE(p, v) _mm512_store_ps(p, v)
#define VF_MUL(a, b) _mm512_mul_ps(a, b)
#define VF_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VI_SET1(i) _mm512_set1_epi32(i)
#define VI_LOAD(p) _mm512_load_si512((const void *)(p))
#define VI_MADD(acc, x, w) _mm512_add_epi32(acc, _mm512_madd_epi16(x, w))
#define VI_TO_F(v) _mm512_cvtepi32_ps(v)
#include "engine/infer/kern_simd.h"

const pofa_infer_kern pofa_kern_avx512 = {
	.path = POFA_CPU_AVX512,
	.x8 = POFA_X8_S16X2,
	.sparse = ks_sparse,
	.int8 = ks_int8_s16,
	.quant = kb_quant_s16x2,
	.bias_act = kb_bias_act,
	.layernorm = kb_layernorm,
	.attention = ks_attention,
};
