/*
 * kern_avx512.c - the forward-only kernels for AVX-512 F/BW/VL/DQ
 * (compiled with those flags; run only where the CPU has them). Without
 * VNNI, integer products take vpmaddubsw with pairs split, as on AVX2.
 */
#include "engine/infer/kern_body.h"

#include "engine/infer/vec512.h"

/* CSR in tiles of 128 tokens with 2 sets of accumulators (16 registers),
 * in chunks of 128 inputs from 2048. Against one set, at bert-base shapes
 * (85% and 90%, one thread, a Sapphire Rapids, ten alternating runs): 4%
 * to 15% faster; 4 sets (spilled), tiles of 32 or 64 tokens with 2-4
 * sets and chunks of 256 inputs (x's slice in L1), chunks of 64 inputs,
 * and blocks of rows over small chunks were all slower (2% to 3x).
 * Sparser rows take chunks of 768 inputs: on an AMD EPYC with AVX-512
 * (1 MiB of L2), one thread, 768 x 3072 (bert-base's FFN out), chunks of
 * 128 / 256 / 768 inputs ran 0.323 / 0.254 / 0.231 ms at 97%, 0.482 /
 * 0.463 / 0.426 ms at 95%, and 0.748 / 0.769 / 0.757 ms at 90%. Chunks
 * from 512 inputs (bert-base's 768-input Linears too, not only FFN out)
 * ran bert-base at 90% batch 32 in 636 against 687 ms a pass (five
 * alternations; 589 against 690 in an earlier A/B); batch 1 did not
 * change beyond the noise (20.0 against 19.8 ms, seven alternations). They
 * are not taken: a chunked CSR is copied out of the packed file at load
 * instead of used in place, and pofa predict from a packed bert-base took
 * 145 against 96 ms to answer one line (hyperfine, 30 runs each) */
#define KS_CSR_NV 8
#define KS_CSR_SETS 2
#include "engine/infer/kern_simd.h"

/* packing's nonzeros, sixteen values at a time: the set lanes of the
 * nonzero mask compressed into place, values and their columns (as 32-bit
 * lanes narrowed to 16), with masked stores that write exactly them */
static int64_t k5_nonzeros(const float *r, int c0, int c1, uint16_t *col, float *val, int64_t e)
{
	const __m512i step = _mm512_set1_epi32(16);
	__m512i idx = _mm512_add_epi32(_mm512_set1_epi32(c0),
	                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
	int c = c0;
	for (; c + 16 <= c1; c += 16, idx = _mm512_add_epi32(idx, step)) {
		__m512 v = _mm512_loadu_ps(r + c);
		__mmask16 m = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
		int n = __builtin_popcount((unsigned)m);
		_mm512_mask_compressstoreu_ps(val + e, m, v);
		__m256i c16 = _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(m, idx));
		_mm256_mask_storeu_epi16(col + e, (__mmask16)((1u << n) - 1u), c16);
		e += n;
	}
	return kb_nonzeros(r, c, c1, col, val, e);
}

const pofa_infer_kern pofa_kern_avx512 = {
	.path = POFA_CPU_AVX512,
	.x8 = POFA_X8_U8X4,
	.i8_pairs = 1,
	.csr_kc = 128,
	.csr_kc_sparse = 768,
	.csr_from = 2048,
	.csr_order = 1,
	.sparse = ks_sparse,
	.int8 = ks_int8_pairs,
	.quant = ks_quant_u8x4,
	.bias_act = ks_bias_act,
	.layernorm = ks_layernorm,
	.ln_sum = kb_ln_sum,
	.ln_norm = kb_ln_norm,
	.attention = ks_attention,
	.nonzeros = k5_nonzeros,
};
