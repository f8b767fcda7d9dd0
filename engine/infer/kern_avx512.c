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
 * and blocks of rows over small chunks were all slower (2% to 3x) */
#define KS_CSR_NV 8
#define KS_CSR_SETS 2
#include "engine/infer/kern_simd.h"

const pofa_infer_kern pofa_kern_avx512 = {
	.path = POFA_CPU_AVX512,
	.x8 = POFA_X8_U8X4,
	.i8_pairs = 1,
	.csr_kc = 128,
	.csr_from = 2048,
	.sparse = ks_sparse,
	.int8 = ks_int8_pairs,
	.quant = ks_quant_u8x4,
	.bias_act = ks_bias_act,
	.layernorm = ks_layernorm,
	.ln_sum = kb_ln_sum,
	.ln_var = kb_ln_var,
	.ln_norm = kb_ln_norm,
	.attention = ks_attention,
};
