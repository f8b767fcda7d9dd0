/* kern_portable.c - the forward-only kernels in C, for every CPU. */
#include "engine/infer/kern_body.h"

const pofa_infer_kern pofa_kern_portable = {
	.path = POFA_CPU_PORTABLE,
	.x8 = POFA_X8_S16X2,
	.csr_kc = 128,
	.csr_from = 2048,
	.sparse = kb_sparse,
	.int8 = kb_int8,
	.quant = kb_quant_s16x2,
	.bias_act = kb_bias_act,
	.layernorm = kb_layernorm,
	.ln_sum = kb_ln_sum,
	.ln_norm = kb_ln_norm,
	.attention = kb_attention,
	.nonzeros = kb_nonzeros,
};
