/*
 * kern_vnni.c - the integer product with AVX-512 VNNI's vpdpbusd: uint8
 * inputs, four channels a lane, times a 1x4 block of int8 weights, summed
 * into int32 without saturation (at most 4 * 255 * 127 a step); the zero
 * point is taken off at the end with the row's weight sum. Compiled with
 * -mavx512vnni as well; the rest of the path is kern_avx512.c's.
 */
#include "engine/infer/kern_body.h"
#include "engine/infer/vec512.h"
#include "engine/infer/kern_simd.h"

#define KV_MAXV 8

static inline __attribute__((always_inline)) void kv_tile(const pofa_linear *w, float *y, const uint32_t *x8,
                                                          int ld, int t0, int r0, int r1, const pofa_qout *qo,
                                                          const int NV)
{
	KS_QBUF;
	for (int o = r0; o < r1; o++) {
		__m512i acc[KV_MAXV];
		for (int i = 0; i < NV; i++)
			acc[i] = _mm512_setzero_si512();
		const int32_t e = w->rowptr[o + 1];
		for (int32_t k = w->rowptr[o]; k < e; k++) {
			const uint32_t *p = x8 + (size_t)(w->col[k] >> 2) * ld + t0;
			int32_t q4;
			memcpy(&q4, w->q + 4 * (size_t)k, 4);
			__m512i wq = _mm512_set1_epi32(q4);
			for (int i = 0; i < NV; i++)
				acc[i] = _mm512_dpbusd_epi32(acc[i], _mm512_load_si512((const void *)(p + i * VW)), wq);
		}
		__m512i zq = _mm512_set1_epi32(w->in_zp * w->qsum[o]);
		__m512 sc = _mm512_set1_ps(w->in_scale * w->wscale[o]), b = _mm512_set1_ps(w->bias[o]);
		vf out[KV_MAXV];
		for (int i = 0; i < NV; i++)
			out[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i], zq)), sc, b);
		ks_finish(w, KS_ROW_OUT(o), out, NV);
		KS_Q_GROUP(o, POFA_X8_U8X4);
	}
}

static void kv_int8(const pofa_linear *w, float *y, const void *x8, int ld, int np, int r0, int r1,
                    const pofa_qout *qo)
{
	int t0 = 0;
	for (; t0 + KV_MAXV * VW <= np; t0 += KV_MAXV * VW)
		kv_tile(w, y, x8, ld, t0, r0, r1, qo, KV_MAXV);
	for (int nv = KV_MAXV / 2; nv >= 1; nv /= 2)
		if (t0 + nv * VW <= np) {
			if (nv == 4)
				kv_tile(w, y, x8, ld, t0, r0, r1, qo, 4);
			else if (nv == 2)
				kv_tile(w, y, x8, ld, t0, r0, r1, qo, 2);
			else
				kv_tile(w, y, x8, ld, t0, r0, r1, qo, 1);
			t0 += nv * VW;
		}
}

extern const pofa_infer_kern pofa_kern_avx512;

/* AVX-512's kernels with this integer product */
void pofa_kern_vnni_fill(pofa_infer_kern *k)
{
	*k = pofa_kern_avx512;
	k->path = POFA_CPU_AVX512_VNNI;
	k->x8 = POFA_X8_U8X4;
	k->i8_pairs = 0; /* vpdpbusd sums in int32: no pair to split */
	k->int8 = kv_int8;
	k->quant = ks_quant_u8x4;
}

pofa_att_fn pofa_att_bf16;

/* and int8 models' attention with vdpbf16ps (kern_bf16.c) */
void pofa_kern_bf16_fill(pofa_infer_kern *k)
{
	pofa_kern_vnni_fill(k);
	k->path = POFA_CPU_AVX512_BF16;
	k->attention_i8 = pofa_att_bf16;
}
