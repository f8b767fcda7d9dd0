/*
 * kern_avx512.c - the forward-only kernels for AVX-512 F/BW/VL/DQ
 * (compiled with those flags; run only where the CPU has them). Without
 * VNNI, integer products take the exact int16 path, as on AVX2.
 */
#include "engine/infer/kern_body.h"

#include "engine/infer/vec512.h"
#include "engine/infer/kern_simd.h"

const pofa_infer_kern pofa_kern_avx512 = {
	.path = POFA_CPU_AVX512,
	.x8 = POFA_X8_S16X2,
	.sparse = ks_sparse,
	.int8 = ks_int8_s16,
	.quant = ks_quant_s16x2,
	.bias_act = ks_bias_act,
	.layernorm = ks_layernorm,
	.ln_sum = kb_ln_sum,
	.ln_var = kb_ln_var,
	.ln_norm = kb_ln_norm,
	.attention = ks_attention,
};
