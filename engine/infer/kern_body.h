/*
 * kern_body.h - the forward-only kernels in plain C, included by each
 * path's file (kern_portable.c, kern_avx2.c, kern_avx512.c), which compile
 * it with their own instruction sets: the element-wise kernels vectorise
 * there, and the portable path takes its products from here too. Not a
 * header to include elsewhere: everything is static.
 */
#include "engine/infer/linear.h"
#include "engine/kernels/kernels.h"

#include <math.h>
#include <string.h>

/* every path's file uses only some of these */
#define KB static __attribute__((unused))
#define KB_TILE 256 /* columns a pass of the portable products keeps in an accumulator row */

/* y[0..np) = GELU(y) */
KB void kb_gelu_row(float *y, int np)
{
	for (int n = 0; n < np; n++)
		y[n] = pofa_gelu_f(y[n]);
}

KB void kb_bias_act(float *y, const float *bias, int ld, int np, int r0, int r1, int gelu)
{
	for (int r = r0; r < r1; r++) {
		float *row = y + (size_t)r * ld, b = bias ? bias[r] : 0.0f;
		for (int n = 0; n < np; n++)
			row[n] += b;
		if (gelu)
			kb_gelu_row(row, np);
	}
}

/* two passes over the rows of a column tile: mean, then variance around it */
KB void kb_layernorm(float *y, const float *x, const float *res, const float *w, const float *b, int C,
                         int ld, int n0, int n1, float eps)
{
	enum { W = 64 };
	float mean[W], rstd[W];
	for (int t0 = n0; t0 < n1; t0 += W) {
		int nw = n1 - t0 < W ? n1 - t0 : W;
		for (int j = 0; j < nw; j++)
			mean[j] = 0.0f;
		for (int c = 0; c < C; c++) {
			const float *xr = x + (size_t)c * ld + t0, *rr = res ? res + (size_t)c * ld + t0 : NULL;
			if (rr)
				for (int j = 0; j < nw; j++)
					mean[j] += xr[j] + rr[j];
			else
				for (int j = 0; j < nw; j++)
					mean[j] += xr[j];
		}
		for (int j = 0; j < nw; j++) {
			mean[j] /= (float)C;
			rstd[j] = 0.0f;
		}
		for (int c = 0; c < C; c++) {
			const float *xr = x + (size_t)c * ld + t0, *rr = res ? res + (size_t)c * ld + t0 : NULL;
			for (int j = 0; j < nw; j++) {
				float d = xr[j] + (rr ? rr[j] : 0.0f) - mean[j];
				rstd[j] += d * d;
			}
		}
		for (int j = 0; j < nw; j++)
			rstd[j] = 1.0f / sqrtf(rstd[j] / (float)C + eps);
		for (int c = 0; c < C; c++) {
			const float *xr = x + (size_t)c * ld + t0, *rr = res ? res + (size_t)c * ld + t0 : NULL;
			float *yr = y + (size_t)c * ld + t0, wc = w[c], bc = b[c];
			for (int j = 0; j < nw; j++)
				yr[j] = (xr[j] + (rr ? rr[j] : 0.0f) - mean[j]) * rstd[j] * wc + bc;
		}
	}
}

/* LayerNorm by rows (linear.h): loops along the columns, which each path
 * vectorises; every column's sums in row order, so every path's bits */
KB void kb_ln_sum(float *y, const float *x, const float *res, int ld, int np, int r0, int r1, double *sum,
                   double *sq)
{
	/* eight columns at a time, their sums held in registers over the rows
	 * (GCC's vectors: plain loops of float-to-double stayed scalar) */
	typedef float f8 __attribute__((vector_size(32)));
	typedef double d8 __attribute__((vector_size(64)));
	for (int n0 = 0; n0 < np; n0 += 8) {   /* np: a multiple of 16 */
		d8 s = { 0 }, q = { 0 };
		for (int r = r0; r < r1; r++) {
			f8 a, b;
			memcpy(&a, x + (size_t)r * ld + n0, sizeof a);
			memcpy(&b, res + (size_t)r * ld + n0, sizeof b);
			a += b;
			memcpy(y + (size_t)r * ld + n0, &a, sizeof a);
			d8 d = __builtin_convertvector(a, d8);
			s += d;
			q += d * d;
		}
		memcpy(sum + n0, &s, sizeof s);
		memcpy(sq + n0, &q, sizeof q);
	}
}

KB void kb_ln_norm(float *y, const float *mean, const float *rstd, const float *w, const float *b, int ld, int np,
                   int r0, int r1)
{
	for (int r = r0; r < r1; r++) {
		float *yr = y + (size_t)r * ld, wr = w[r], br = b[r];
		for (int n = 0; n < np; n++)
			yr[n] = (yr[n] - mean[n]) * rstd[n] * wr + br;
	}
}

/* attention with the scores transposed (a key a row, a query a column),
 * so that every step runs along the queries: S^T = scale K^T Q (+ add by
 * key), softmax down each column (the largest first taken off, exp, the
 * sum in key order, as training), ctx = V E / sum. The SIMD paths give the
 * two products register tiles (kern_simd.h); the rest is here. */
typedef struct {
	int T, Tp, hs;
	float *Q, *E, *O, *mx, *sm;
} kb_att;

static inline kb_att kb_att_setup(const float *q, int T, int hs, int ld, float *w)
{
	kb_att a = { .T = T, .Tp = (T + 15) & ~15, .hs = hs };
	a.Q = w;
	a.O = a.Q + (size_t)hs * a.Tp;
	a.E = a.O + (size_t)hs * a.Tp;
	a.mx = a.E + (size_t)T * a.Tp;
	a.sm = a.mx + a.Tp;
	for (int d = 0; d < hs; d++) {
		memcpy(a.Q + (size_t)d * a.Tp, q + (size_t)d * ld, (size_t)T * sizeof(float));
		memset(a.Q + (size_t)d * a.Tp + T, 0, (size_t)(a.Tp - T) * sizeof(float));
	}
	return a;
}

/* E = exp(E - column max), column sums; then ctx from O */
static inline void kb_att_softmax(kb_att *a, const float *add)
{
	int T = a->T, Tp = a->Tp;
	if (add)
		for (int j = 0; j < T; j++) {
			float *e = a->E + (size_t)j * Tp, aj = add[j];
			for (int i = 0; i < Tp; i++)
				e[i] += aj;
		}
	memcpy(a->mx, a->E, (size_t)Tp * sizeof(float));
	for (int j = 1; j < T; j++) {
		const float *e = a->E + (size_t)j * Tp;
		for (int i = 0; i < Tp; i++)
			a->mx[i] = e[i] > a->mx[i] ? e[i] : a->mx[i];
	}
	memset(a->sm, 0, (size_t)Tp * sizeof(float));
	for (int j = 0; j < T; j++) {
		float *e = a->E + (size_t)j * Tp;
		for (int i = 0; i < Tp; i++) {
			e[i] = pofa_expf(e[i] - a->mx[i]);
			a->sm[i] += e[i];
		}
	}
	for (int i = 0; i < Tp; i++)
		a->sm[i] = 1.0f / a->sm[i];
}

static inline void kb_att_out(const kb_att *a, float *ctx, int ld)
{
	for (int d = 0; d < a->hs; d++) {
		const float *o = a->O + (size_t)d * a->Tp;
		float *c = ctx + (size_t)d * ld;
		for (int i = 0; i < a->T; i++)
			c[i] = o[i] * a->sm[i];
	}
}

KB void kb_attention(float *ctx, const float *q, const float *k, const float *v, const float *add, int T, int hs,
                     int ld, float scale, float *w)
{
	kb_att a = kb_att_setup(q, T, hs, ld, w);
	int Tp = a.Tp;
	for (int j = 0; j < T; j++) {
		float *e = a.E + (size_t)j * Tp;
		memset(e, 0, (size_t)Tp * sizeof(float));
		for (int d = 0; d < hs; d++) {
			const float *qd = a.Q + (size_t)d * Tp;
			float kd = k[(size_t)d * ld + j];
			for (int i = 0; i < Tp; i++)
				e[i] += kd * qd[i];
		}
		for (int i = 0; i < Tp; i++)
			e[i] *= scale;
	}
	kb_att_softmax(&a, add);
	for (int d = 0; d < hs; d++) {
		float *o = a.O + (size_t)d * Tp;
		memset(o, 0, (size_t)Tp * sizeof(float));
		for (int j = 0; j < T; j++) {
			const float *e = a.E + (size_t)j * Tp;
			float vd = v[(size_t)d * ld + j];
			for (int i = 0; i < Tp; i++)
				o[i] += vd * e[i];
		}
	}
	kb_att_out(&a, ctx, ld);
}

/* q = clamp(rint(x * inv) + zp, 0, 255), as QAT's fake quantization */
KB inline int32_t kb_q(float x, float inv, float zp)
{
	float v = rintf(x * inv) + zp;
	v = !(v >= 0.0f) ? 0.0f : (v > 255.0f ? 255.0f : v); /* NaN: 0 */
	return (int32_t)v;
}

/* rows [0, C) of x (xs apart), columns [0, nc), quantized into the lanes
 * at dst (ld apart) in layout lay: U8X4 four channels a lane (lane c / 4,
 * byte c % 4), S16X2 two a lane as the int16 q - zp (lane c / 2); channels
 * from C to C rounded up to 4 are padding: zp (U8X4) or 0 (S16X2) */
KB void kb_quant_lanes(enum pofa_x8_layout lay, uint32_t *dst, int ld, const float *x, int xs, int C, int nc,
                       float inv, int zp)
{
	int per = lay == POFA_X8_U8X4 ? 4 : 2, bits = 32 / per, Cp = (C + 3) & ~3;
	float z = (float)zp;
	for (int c0 = 0; c0 < Cp; c0 += per, dst += ld)
		for (int n = 0; n < nc; n++) {
			uint32_t v = 0;
			for (int i = 0; i < per; i++) {
				int c = c0 + i;
				uint32_t q = lay == POFA_X8_U8X4 ? (uint32_t)(c < C ? kb_q(x[(size_t)c * xs + n], inv, z) : zp)
				             : c < C ? (uint16_t)(kb_q(x[(size_t)c * xs + n], inv, z) - zp) : 0u;
				v |= q << (bits * i);
			}
			dst[n] = v;
		}
}

/* the path's quant (linear.h) in each layout */
KB void kb_quant_u8x4(void *x8, const float *x, int C, int ld, int n0, int n1, float inv, int zp)
{
	kb_quant_lanes(POFA_X8_U8X4, (uint32_t *)x8 + n0, ld, x + n0, ld, C, n1 - n0, inv, zp);
}

KB void kb_quant_s16x2(void *x8, const float *x, int C, int ld, int n0, int n1, float inv, int zp)
{
	kb_quant_lanes(POFA_X8_S16X2, (uint32_t *)x8 + n0, ld, x + n0, ld, C, n1 - n0, inv, zp);
}

/* ---- the portable products ----------------------------------------------- */

KB void kb_sparse(const pofa_linear *w, float *y, const float *x, int ld, int np, int r0, int r1)
{
	int groups = w->fmt == POFA_LIN_NM ? w->C / w->nm_m : 0, per_row = groups * w->nm_n;
	if (w->fmt == POFA_LIN_CSR) { /* chunk by chunk of inputs (linear.h) */
		for (int o = r0; o < r1; o++)
			for (int n = 0; n < np; n++)
				y[(size_t)o * ld + n] = w->bias[o];
		for (int h = 0; h < w->nch; h++) {
			const int32_t *rp = w->crp + (size_t)h * (w->OC + 1);
			const int32_t *ord = w->ord ? w->ord + (size_t)h * w->OC : NULL;
			for (int j = r0; j < r1; j++) {
				float *yr = y + (size_t)(ord ? ord[j] : j) * ld;
				for (int32_t k = rp[j]; k < rp[j + 1]; k++) {
					const float *xr = x + (size_t)w->col[k] * ld, v = w->val[k];
					for (int n = 0; n < np; n++)
						yr[n] += v * xr[n];
				}
			}
		}
		if (w->gelu)
			for (int o = r0; o < r1; o++)
				kb_gelu_row(y + (size_t)o * ld, np);
		return;
	}
	for (int o = r0; o < r1; o++) {
		float *yr = y + (size_t)o * ld, b = w->bias[o];
		for (int n = 0; n < np; n++)
			yr[n] = b;
		if (w->fmt == POFA_LIN_B14) {
			for (int32_t k = w->rowptr[o]; k < w->rowptr[o + 1]; k++) {
				const float *xr = x + (size_t)w->col[k] * ld, *v = w->val + 4 * (size_t)k;
				for (int n = 0; n < np; n++)
					yr[n] += v[0] * xr[n] + v[1] * xr[ld + n] + v[2] * xr[2 * (size_t)ld + n] +
					         v[3] * xr[3 * (size_t)ld + n];
			}
		} else {
			const float *v = w->val + (size_t)o * per_row;
			const uint8_t *of = w->off + (size_t)o * per_row;
			for (int g = 0, k = 0; g < groups; g++)
				for (int i = 0; i < w->nm_n; i++, k++) {
					const float *xr = x + (size_t)(g * w->nm_m + of[k]) * ld;
					for (int n = 0; n < np; n++)
						yr[n] += v[k] * xr[n];
				}
		}
		if (w->gelu)
			kb_gelu_row(yr, np);
	}
}

/* the integer product in the S16X2 layout: exact, no zero point left */
KB void kb_int8(const pofa_linear *w, float *y, const void *x8, int ld, int np, int r0, int r1,
                const pofa_qout *qo)
{
	const uint32_t *xl = x8;
	int32_t acc[KB_TILE];
	float buf[4][KB_TILE]; /* a group of rows for qo */
	for (int t0 = 0; t0 < np; t0 += KB_TILE) {
		int nw = np - t0 < KB_TILE ? np - t0 : KB_TILE;
		for (int o = r0; o < r1; o++) {
			float *yr = qo ? buf[(o - r0) & 3] : y + (size_t)o * ld + t0;
			float sc = w->in_scale * w->wscale[o], b = w->bias[o];
			memset(acc, 0, (size_t)nw * sizeof *acc);
			for (int32_t k = w->rowptr[o]; k < w->rowptr[o + 1]; k++) {
				const int8_t *q = w->q + 4 * (size_t)k;
				const uint32_t *p0 = xl + (size_t)(w->col[k] / 2) * ld + t0, *p1 = p0 + ld;
				for (int j = 0; j < nw; j++)
					acc[j] += (int16_t)(p0[j] & 0xffff) * q[0] + (int16_t)(p0[j] >> 16) * q[1] +
					          (int16_t)(p1[j] & 0xffff) * q[2] + (int16_t)(p1[j] >> 16) * q[3];
			}
			for (int j = 0; j < nw; j++)
				yr[j] = (float)acc[j] * sc + b;
			if (w->gelu)
				kb_gelu_row(yr, nw);
			if (qo && (((o - r0) & 3) == 3 || o == r1 - 1))
				kb_quant_lanes(POFA_X8_S16X2, pofa_x8_lanes(POFA_X8_S16X2, qo->x8, o - ((o - r0) & 3), ld) + t0, ld,
				               buf[0], KB_TILE, ((o - r0) & 3) + 1, nw, qo->inv, qo->zp);
		}
	}
}

/* packing's nonzeros (pofa_infer_kern): every value written, the next
 * entry taken only by a nonzero - no branch to mispredict where zeros fall
 * at random (0.55 ns a value against 1.0 for a test per value, or per
 * group of eight with the set ones walked, on a 90%-sparse matrix) */
KB int64_t kb_nonzeros(const float *r, int c0, int c1, uint16_t *col, float *val, int64_t e)
{
	for (int c = c0; c < c1; c++) {
		col[e] = (uint16_t)c;
		val[e] = r[c];
		e += r[c] != 0.0f;
	}
	return e;
}

