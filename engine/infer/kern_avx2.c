/*
 * kern_avx2.c - the forward-only kernels for AVX2 + FMA (compiled with
 * -mavx2 -mfma -mf16c; run only where the CPU has them). Integer products
 * take uint8 inputs four a lane through vpmaddubsw, whose 16-bit pair sums
 * would saturate at 32767: packing splits every pair of weights whose
 * magnitudes add up to more than 128 (linear.h), so they never do. Against
 * the int16 inputs and pmaddwd this path took before (exact as well, two
 * loads and two products a block), the int8 products of bert-base at 90%
 * 1x4 took 7.2 ms a pass instead of 10.0 (AVX2 build, 2 threads).
 */
#include "engine/infer/kern_body.h"

#include <immintrin.h>

#define VW 8
typedef __m256 vf;
typedef __m256i vi;
#define VF_SET1(s) _mm256_set1_ps(s)
#define VF_LOAD(p) _mm256_load_ps(p)
#define VF_LOADU(p) _mm256_loadu_ps(p)
#define VF_STORE(p, v) _mm256_store_ps(p, v)
#define VF_STOREU(p, v) _mm256_storeu_ps(p, v)
#define VF_ADD(a, b) _mm256_add_ps(a, b)
#define VF_SUB(a, b) _mm256_sub_ps(a, b)
#define VF_MUL(a, b) _mm256_mul_ps(a, b)
#define VF_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VF_MAX(a, b) _mm256_max_ps(a, b)
#define VF_MIN(a, b) _mm256_min_ps(a, b)
#define VF_RCP(a) _mm256_rcp_ps(a)
#define VF_AND(a, b) _mm256_and_ps(a, b)
#define VF_XOR(a, b) _mm256_xor_ps(a, b)
#define VF_LT_SEL(a, b, t, f) _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, b, _CMP_LT_OQ))
#define VF_NAN_SEL(a, t, f) _mm256_blendv_ps(f, t, _mm256_cmp_ps(a, a, _CMP_UNORD_Q))
#define VF_POW2(kf) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(kf), \
                                                                            _mm256_set1_epi32(127)), 23))
#define VI_SET1(i) _mm256_set1_epi32(i)
#define VI_LOAD(p) _mm256_load_si256((const __m256i *)(const void *)(p))
#define VI_MADD(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define VI_MADDUBS(x, w) _mm256_maddubs_epi16(x, w)
#define VI_TO_F(v) _mm256_cvtepi32_ps(v)
#define VF_DIV(a, b) _mm256_div_ps(a, b)
#define VF_SQRT(a) _mm256_sqrt_ps(a)
#define VF_RINT(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VF_TO_I(a) _mm256_cvtps_epi32(a)
#define VI_OR(a, b) _mm256_or_si256(a, b)
#define VI_AND(a, b) _mm256_and_si256(a, b)
#define VI_SUB(a, b) _mm256_sub_epi32(a, b)
#define VI_SLLI(v, n) _mm256_slli_epi32(v, n)
#define VI_STOREU(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define KS_TR 6 /* 12 sums, 2 vectors of m, a broadcast: 15 of the 16 registers */
#define KS_TV 2
#include "engine/infer/kern_simd.h"

const pofa_infer_kern pofa_kern_avx2 = {
	.path = POFA_CPU_AVX2,
	.x8 = POFA_X8_U8X4,
	.i8_pairs = 1,
	/* chunks of 128 inputs from 512, tiles of 64 tokens, one set of
	 * accumulators (kern_simd.h): tiles of 16 and 32 tokens with 2-4
	 * sets were 20-30% slower; sparser rows in chunks of 768 (bert-base
	 * at 97%, AVX2 build on an AMD EPYC, 2 threads: FFN out 4.43 ms a
	 * pass against 5.55 in chunks of 128; at 95%, 5.22 against 6.34).
	 * Chunks from 512 inputs rather than 2048 (bert-base's 768-input
	 * Linears chunked too, so that x's slice of 128 inputs x 64 tokens
	 * fits L1), on an AVX2-only AMD EPYC of family 25, one binary packing
	 * both ways alternated in blocks of five passes, bert-base at 90%, 2
	 * threads: batch 1 7-19% less time a pass (four runs), batch 8
	 * 4-13% less in three runs of five (1% and 23% more in the other
	 * two, with their products 2% less and 5% more), batch 32 12-15%
	 * less (two runs);
	 * sparse training's locked step (batch 8 x 128) 3 430 and 3 691 ms
	 * against 3 760 and 3 987. A CSR used in place from a packed file's
	 * mapping is not chunked below 2048 inputs (pack.c): the copy took one
	 * line through bert-base from the packed file from 0.106 to 0.123 s
	 * and, in a slow hour, 0.136 to 0.149 (the target is 0.15 s); from
	 * the folder it was level (0.236 against 0.244 s). At 97% the rows
	 * are sparse enough for chunks of 768, so a 768-input Linear stays
	 * one chunk as before. */
	.csr_kc = 128,
	.csr_kc_sparse = 768,
	.csr_from = 512,
	.sparse = ks_sparse,
	.int8 = ks_int8_pairs,
	.quant = ks_quant_u8x4,
	.bias_act = ks_bias_act,
	.layernorm = ks_layernorm,
	.ln_sum = kb_ln_sum,
	.ln_norm = kb_ln_norm,
	.attention = ks_attention,
	.nonzeros = kb_nonzeros,
};
