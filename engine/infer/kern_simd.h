/*
 * kern_simd.h - the sparse and integer products with intrinsics, written
 * once for any vector width: kern_avx2.c and kern_avx512.c define the
 * vector type and operations below and include this file after
 * kern_body.h. Everything is static.
 *
 *   VW              floats (and int32 lanes) a vector
 *   vf, vi          the float and integer vector types
 *   VF_SET1(s)      broadcast a float      VF_LOAD(p), VF_STORE(p, v)
 *   VF_FMA(a, b, c) a * b + c              VI_SET1(i), VI_LOAD(p)
 *   VF_LOADU, VF_STOREU  unaligned        VF_ADD, VF_SUB, VF_MAX, VF_MIN
 *   VF_RCP(a)       1 / a to 12+ bits      VF_AND, VF_XOR  bitwise
 *   VF_LT_SEL(a, b, t, f)  a < b ? t : f   VF_NAN_SEL(a, t, f)  a is NaN ? t : f
 *   VF_POW2(k)      2^k for whole-number floats k in the normal range
 *   VI_MADD(acc, x, w)  acc + pmaddwd(x, w): pairs of int16, exact
 *   VI_MADDUBS(x, w)    vpmaddubsw: pairs of uint8 x int8 summed in int16,
 *                   saturating (packing keeps the sums in range)
 *   VI_TO_F(v)      int32 to float
 *   VF_DIV, VF_SQRT  exact as the scalar ones
 *   VF_RINT(a)      round to the nearest whole number, ties to even (rintf)
 *   VF_TO_I(a)      whole-number floats to int32
 *   VI_OR, VI_SUB, VI_AND  VI_SLLI(v, n) shift left   VI_STOREU(p, v)
 *
 * A column tile is NV vectors wide, held in registers for one output row
 * while the row's stored weights stream past; tiles run outer, rows inner,
 * so the tile of x stays in cache for all rows.
 */

#define KS_INLINE static inline __attribute__((always_inline))
#define KS static __attribute__((unused)) /* kern_vnni.c uses only some */
#define KS_MAXV 8

/* ---- element-wise: kernels.h's pofa_expf and pofa_gelu_f, the same
 * polynomials in vectors, with fused multiply-adds and a refined
 * reciprocal: they differ from the scalar ones in the last bits only ---- */

/* exp of x already in [-87.3, 88.3] */
KS_INLINE vf ks_exp_in(vf x)
{
	vf magic = VF_SET1(12582912.0f);
	vf kf = VF_SUB(VF_FMA(x, VF_SET1(1.44269504088896341f), magic), magic);
	vf r = VF_FMA(kf, VF_SET1(-0.693359375f), x);
	r = VF_FMA(kf, VF_SET1(2.12194440e-4f), r);
	vf p = VF_SET1(1.9875691500e-4f);
	p = VF_FMA(p, r, VF_SET1(1.3981999507e-3f));
	p = VF_FMA(p, r, VF_SET1(8.3334519073e-3f));
	p = VF_FMA(p, r, VF_SET1(4.1665795894e-2f));
	p = VF_FMA(p, r, VF_SET1(1.6666665459e-1f));
	p = VF_FMA(p, r, VF_SET1(5.0000001201e-1f));
	p = VF_ADD(VF_FMA(VF_MUL(p, r), r, r), VF_SET1(1.0f));
	return VF_MUL(p, VF_POW2(kf));
}

KS_INLINE vf ks_exp(vf x0)
{
	vf x = VF_MIN(VF_MAX(x0, VF_SET1(-87.3f)), VF_SET1(88.3f)); /* NaN: the low end */
	vf e = ks_exp_in(x);
	e = VF_LT_SEL(x0, VF_SET1(-87.3f), VF_SET1(0.0f), e); /* underflow to 0 */
	return VF_NAN_SEL(x0, x0, e);                          /* NaN stays */
}

/* 1 / q: the refined reciprocal (one Newton step) */
KS_INLINE vf ks_recip(vf q)
{
	vf r = VF_RCP(q);
	return VF_MUL(r, VF_FMA(VF_SUB(VF_SET1(0.0f), q), r, VF_SET1(2.0f)));
}

/* GELU(x) = x (1 + erf(x / sqrt 2)) / 2 with erf(z) = z P(z^2) / Q(z^2) on
 * [-4, 4], P and Q of degree 5, fitted here (least squares reweighted
 * towards the largest errors) to 2.6e-8 in double, 3.2e-7 evaluated in
 * float: 22 vector operations against 39 for the Abramowitz & Stegun
 * 7.1.26 form with exp (1.8x faster), within 7.3e-7 (1 + |GELU|) of double precision.
 * Below z = -4 GELU is 0 to float precision; a NaN x stays NaN. */
KS_INLINE vf ks_gelu(vf x)
{
	vf z = VF_MUL(x, VF_SET1(0.70710678118654752f));
	vf zc = VF_MIN(VF_MAX(z, VF_SET1(-4.0f)), VF_SET1(4.0f));
	vf u = VF_MUL(zc, zc);
	vf p = VF_SET1(1.9757991373e-06f);
	p = VF_FMA(p, u, VF_SET1(2.8773517859e-04f));
	p = VF_FMA(p, u, VF_SET1(3.9927547457e-03f));
	p = VF_FMA(p, u, VF_SET1(5.3433846521e-02f));
	p = VF_FMA(p, u, VF_SET1(1.9599894815e-01f));
	p = VF_FMA(p, u, VF_SET1(1.1283790005e+00f));
	vf q = VF_SET1(3.7475387874e-05f);
	q = VF_FMA(q, u, VF_SET1(1.2136062448e-03f));
	q = VF_FMA(q, u, VF_SET1(1.5422763662e-02f));
	q = VF_FMA(q, u, VF_SET1(1.1637238224e-01f));
	q = VF_FMA(q, u, VF_SET1(5.0703087940e-01f));
	q = VF_FMA(q, u, VF_SET1(1.0f));
	vf erf = VF_MUL(VF_MUL(zc, p), ks_recip(q));
	vf hx = VF_MUL(x, VF_SET1(0.5f));
	return VF_LT_SEL(z, VF_SET1(-4.0f), VF_SET1(0.0f), VF_FMA(hx, erf, hx));
}

KS_INLINE void ks_gelu_row(float *y, int n)
{
	int i = 0;
	for (; i + VW <= n; i += VW)
		VF_STOREU(y + i, ks_gelu(VF_LOADU(y + i)));
	for (; i < n; i++)
		y[i] = pofa_gelu_f(y[i]);
}

KS void ks_bias_act(float *y, const float *bias, int ld, int np, int r0, int r1, int gelu)
{
	for (int r = r0; r < r1; r++) {
		float *row = y + (size_t)r * ld;
		vf b = VF_SET1(bias ? bias[r] : 0.0f);
		int n = 0;
		for (; n + VW <= np; n += VW) {
			vf v = VF_ADD(VF_LOADU(row + n), b);
			VF_STOREU(row + n, gelu ? ks_gelu(v) : v);
		}
		for (; n < np; n++) {
			float v = row[n] + (bias ? bias[r] : 0.0f);
			row[n] = gelu ? pofa_gelu_f(v) : v;
		}
	}
}

KS_INLINE void ks_finish(const pofa_linear *w, float *yr, vf *acc, const int NV)
{
	if (w->gelu)
		for (int i = 0; i < NV; i++)
			VF_STORE(yr + i * VW, ks_gelu(acc[i]));
	else
		for (int i = 0; i < NV; i++)
			VF_STORE(yr + i * VW, acc[i]);
}

/* CSR tiles: KS_CSR_NV vectors of columns at most, the row's stored
 * values dealt in turn to KS_CSR_SETS sets of accumulators (summed at the
 * end of each chunk), so that a fused multiply-add waits less on the one
 * before it in the same register. The including file may set both
 * (kern_avx512.c: 2 sets; AVX2 has registers for one). */
#ifndef KS_CSR_NV
#define KS_CSR_NV KS_MAXV
#endif
#ifndef KS_CSR_SETS
#define KS_CSR_SETS 1
#endif

/* chunk by chunk of inputs (linear.h): a row's sums go through y between
 * chunks; rows in the visiting order */
KS_INLINE void ks_csr(const pofa_linear *w, float *y, const float *x, int ld, int t0, int r0, int r1, const int NV)
{
	enum { S = KS_CSR_SETS };
	const uint16_t *col = w->col;
	const float *val = w->val, *xt = x + t0;
	for (int h = 0; h < w->nch; h++) {
		const int32_t *rp = w->crp + (size_t)h * (w->OC + 1);
		const int32_t *ord = w->ord ? w->ord + (size_t)h * w->OC : NULL;
		const int first = h == 0, last = h == w->nch - 1;
		for (int j = r0; j < r1; j++) {
			const int o = ord ? ord[j] : j;
			const int32_t e = rp[j + 1];
			int32_t k = rp[j];
			if (k == e && !first && !last)
				continue;
			float *yr = y + (size_t)o * ld + t0;
			vf acc[S][KS_CSR_NV];
			if (first) {
				vf b = VF_SET1(w->bias[o]);
				for (int i = 0; i < NV; i++)
					acc[0][i] = b;
			} else {
				for (int i = 0; i < NV; i++)
					acc[0][i] = VF_LOAD(yr + i * VW);
			}
			for (int s = 1; s < S; s++)
				for (int i = 0; i < NV; i++)
					acc[s][i] = VF_SET1(0.0f);
			for (; k + S <= e; k += S)
				for (int s = 0; s < S; s++) {
					const float *xp = xt + (size_t)col[k + s] * ld;
					vf v = VF_SET1(val[k + s]);
					for (int i = 0; i < NV; i++)
						acc[s][i] = VF_FMA(v, VF_LOAD(xp + i * VW), acc[s][i]);
				}
			for (int s = 0; k < e; k++, s++) {
				const float *xp = xt + (size_t)col[k] * ld;
				vf v = VF_SET1(val[k]);
				for (int i = 0; i < NV; i++)
					acc[s][i] = VF_FMA(v, VF_LOAD(xp + i * VW), acc[s][i]);
			}
			for (int s = 1; s < S; s++)
				for (int i = 0; i < NV; i++)
					acc[0][i] = VF_ADD(acc[0][i], acc[s][i]);
			if (last)
				ks_finish(w, yr, acc[0], NV);
			else
				for (int i = 0; i < NV; i++)
					VF_STORE(yr + i * VW, acc[0][i]);
		}
	}
}

KS_INLINE void ks_b14(const pofa_linear *w, float *y, const float *x, int ld, int t0, int r0, int r1, const int NV)
{
	for (int o = r0; o < r1; o++) {
		vf acc[KS_MAXV], b = VF_SET1(w->bias[o]);
		for (int i = 0; i < NV; i++)
			acc[i] = b;
		const int32_t e = w->rowptr[o + 1];
		for (int32_t k = w->rowptr[o]; k < e; k++) {
			const float *xp = x + (size_t)w->col[k] * ld + t0, *v = w->val + 4 * (size_t)k;
			vf v0 = VF_SET1(v[0]), v1 = VF_SET1(v[1]), v2 = VF_SET1(v[2]), v3 = VF_SET1(v[3]);
			for (int i = 0; i < NV; i++) {
				acc[i] = VF_FMA(v0, VF_LOAD(xp + i * VW), acc[i]);
				acc[i] = VF_FMA(v1, VF_LOAD(xp + ld + i * VW), acc[i]);
				acc[i] = VF_FMA(v2, VF_LOAD(xp + 2 * (size_t)ld + i * VW), acc[i]);
				acc[i] = VF_FMA(v3, VF_LOAD(xp + 3 * (size_t)ld + i * VW), acc[i]);
			}
		}
		ks_finish(w, y + (size_t)o * ld + t0, acc, NV);
	}
}

KS_INLINE void ks_nm(const pofa_linear *w, float *y, const float *x, int ld, int t0, int r0, int r1, const int NV)
{
	const int groups = w->C / w->nm_m, N = w->nm_n, M = w->nm_m, per_row = groups * N;
	for (int o = r0; o < r1; o++) {
		vf acc[KS_MAXV], b = VF_SET1(w->bias[o]);
		for (int i = 0; i < NV; i++)
			acc[i] = b;
		const float *v = w->val + (size_t)o * per_row;
		const uint8_t *of = w->off + (size_t)o * per_row;
		const float *xg = x + t0;
		for (int g = 0, k = 0; g < groups; g++, xg += (size_t)M * ld)
			for (int j = 0; j < N; j++, k++) {
				const float *xp = xg + (size_t)of[k] * ld;
				vf vk = VF_SET1(v[k]);
				for (int i = 0; i < NV; i++)
					acc[i] = VF_FMA(vk, VF_LOAD(xp + i * VW), acc[i]);
			}
		ks_finish(w, y + (size_t)o * ld + t0, acc, NV);
	}
}

/* kb_q in vectors: the same bits (a NaN product: max gives 0) */
KS_INLINE vi ks_q(vf x, vf inv, vf zp)
{
	vf v = VF_ADD(VF_RINT(VF_MUL(x, inv)), zp);
	return VF_TO_I(VF_MIN(VF_MAX(v, VF_SET1(0.0f)), VF_SET1(255.0f)));
}

/* kern_body.h's kb_quant_lanes in vectors (the last columns in C) */
KS void ks_quant_lanes(enum pofa_x8_layout lay, uint32_t *dst, int ld, const float *x, int xs, int C, int nc,
                       float inv, int zp)
{
	int per = lay == POFA_X8_U8X4 ? 4 : 2, bits = 32 / per, Cp = (C + 3) & ~3, nv = nc / VW * VW;
	vf vinv = VF_SET1(inv), vz = VF_SET1((float)zp);
	vi izp = VI_SET1(zp), lo = VI_SET1(per == 2 ? 0xffff : -1), pad = VI_SET1(per == 4 ? zp : 0);
	for (int c0 = 0; c0 < Cp; c0 += per)
		for (int n = 0; n < nv; n += VW) {
			vi v = VI_SET1(0);
			for (int i = 0; i < per; i++) {
				int c = c0 + i;
				vi q = pad;
				if (c < C) {
					q = ks_q(VF_LOADU(x + (size_t)c * xs + n), vinv, vz);
					if (per == 2)
						q = VI_AND(VI_SUB(q, izp), lo);
				}
				v = VI_OR(v, VI_SLLI(q, bits * i));
			}
			VI_STOREU(dst + (size_t)(c0 / per) * ld + n, v);
		}
	if (nv < nc)
		kb_quant_lanes(lay, dst + nv, ld, x + nv, xs, C, nc - nv, inv, zp);
}

/* where a row's float output goes: y, or with qo a group buffer that
 * KS_Q_GROUP quantizes once its last row is in */
#define KS_QBUF float qbuf[4][KS_MAXV * VW] __attribute__((aligned(64)))
#define KS_ROW_OUT(o) (qo ? qbuf[((o) - r0) & 3] : y + (size_t)(o) * ld + t0)
#define KS_Q_GROUP(o, lay)                                                                           \
	do {                                                                                             \
		if (qo && ((((o) - r0) & 3) == 3 || (o) == r1 - 1))                                          \
			ks_quant_lanes(lay, pofa_x8_lanes(lay, qo->x8, (o) - (((o) - r0) & 3), ld) + t0, ld, qbuf[0],    \
			               KS_MAXV * VW, (((o) - r0) & 3) + 1, NV * VW, qo->inv, qo->zp);                  \
	} while (0)

/* int8 blocks on U8X4 inputs, entries [k0, k1) of col and q: vpmaddubsw
 * sums each pair of uint8 x int8 products in 16 bits, exactly since
 * packing split every pair over POFA_I8_PAIR_MAX (linear.h); pmaddwd by
 * ones adds the two pairs of a lane in int32 */
KS_INLINE void ks_i8_blocks(vi *acc, const uint32_t *x8, int ld, int t0, const uint16_t *col, const int8_t *q,
                            int32_t k0, int32_t k1, const int NV)
{
	const vi ones = VI_SET1(0x00010001);
	for (int32_t k = k0; k < k1; k++) {
		const uint32_t *p = x8 + (size_t)(col[k] >> 2) * ld + t0;
		int32_t q4;
		memcpy(&q4, q + 4 * (size_t)k, 4);
		vi wq = VI_SET1(q4);
		for (int i = 0; i < NV; i++)
			acc[i] = VI_MADD(acc[i], VI_MADDUBS(VI_LOAD(p + i * VW), wq), ones);
	}
}

/* rows [r0, r1) of the int8 product: a row's blocks, then its split-off
 * ones; the zero point comes off at the end with the row's weight sum */
KS_INLINE void ks_i8_pairs(const pofa_linear *w, float *y, const uint32_t *x8, int ld, int t0, int r0, int r1,
                           const pofa_qout *qo, const int NV)
{
	KS_QBUF;
	for (int o = r0; o < r1; o++) {
		vi acc[KS_MAXV];
		for (int i = 0; i < NV; i++)
			acc[i] = VI_SET1(0);
		ks_i8_blocks(acc, x8, ld, t0, w->col, w->q, w->rowptr[o], w->rowptr[o + 1], NV);
		ks_i8_blocks(acc, x8, ld, t0, w->fixcol, w->fixq, w->fixptr[o], w->fixptr[o + 1], NV);
		vi zq = VI_SET1(w->in_zp * w->qsum[o]);
		vf sc = VF_SET1(w->in_scale * w->wscale[o]), b = VF_SET1(w->bias[o]), out[KS_MAXV];
		for (int i = 0; i < NV; i++)
			out[i] = VF_FMA(VI_TO_F(VI_SUB(acc[i], zq)), sc, b);
		ks_finish(w, KS_ROW_OUT(o), out, NV);
		KS_Q_GROUP(o, POFA_X8_U8X4);
	}
}

/* the column tiles: MAXV vectors, then what is left, halving */
#define KS_TILES_OF(call, MAXV)                                             \
	do {                                                                    \
		int t0 = 0;                                                         \
		for (; t0 + (MAXV) * VW <= np; t0 += (MAXV) * VW)                   \
			call(MAXV);                                                     \
		for (int nv = (MAXV) / 2; nv >= 1; nv /= 2)                         \
			if (t0 + nv * VW <= np) {                                       \
				if (nv == 4) call(4);                                       \
				else if (nv == 2) call(2);                                  \
				else call(1);                                               \
				t0 += nv * VW;                                              \
			}                                                               \
	} while (0)
#define KS_TILES(call) KS_TILES_OF(call, KS_MAXV)

KS void ks_sparse(const pofa_linear *w, float *y, const float *x, int ld, int np, int r0, int r1)
{
	if (w->fmt == POFA_LIN_CSR) {
#define KS_CALL(n) ks_csr(w, y, x, ld, t0, r0, r1, n)
		KS_TILES_OF(KS_CALL, KS_CSR_NV);
#undef KS_CALL
	} else if (w->fmt == POFA_LIN_B14) {
#define KS_CALL(n) ks_b14(w, y, x, ld, t0, r0, r1, n)
		KS_TILES(KS_CALL);
#undef KS_CALL
	} else {
#define KS_CALL(n) ks_nm(w, y, x, ld, t0, r0, r1, n)
		KS_TILES(KS_CALL);
#undef KS_CALL
	}
}

KS void ks_int8_pairs(const pofa_linear *w, float *y, const void *x8, int ld, int np, int r0, int r1,
                      const pofa_qout *qo)
{
#define KS_CALL(n) ks_i8_pairs(w, y, x8, ld, t0, r0, r1, qo, n)
	KS_TILES(KS_CALL);
#undef KS_CALL
}

/* ---- LayerNorm and the int8 input, a window of columns at a time ---- */

#define KS_LNV (64 / VW) /* vectors of columns a LayerNorm window */

/* kern_body.h's kb_layernorm with its sums in registers: the same
 * operations in the same order (no contraction), so the same bits; x + res
 * is written to y in the first pass, and the other two read only y */
KS_INLINE void ks_ln_window(float *y, const float *x, const float *res, const float *w, const float *b, int C,
                            int ld, int t0, float eps)
{
	vf mean[KS_LNV], var[KS_LNV];
	for (int i = 0; i < KS_LNV; i++)
		mean[i] = var[i] = VF_SET1(0.0f);
	for (int c = 0; c < C; c++) {
		const float *xr = x + (size_t)c * ld + t0;
		float *yr = y + (size_t)c * ld + t0;
		for (int i = 0; i < KS_LNV; i++) {
			vf v = VF_LOADU(xr + i * VW);
			if (res) {
				v = VF_ADD(v, VF_LOADU(res + (size_t)c * ld + t0 + i * VW));
				VF_STOREU(yr + i * VW, v);
			}
			mean[i] = VF_ADD(mean[i], v);
		}
	}
	const float *src = res ? y : x;
	vf fc = VF_SET1((float)C);
	for (int i = 0; i < KS_LNV; i++)
		mean[i] = VF_DIV(mean[i], fc);
	for (int c = 0; c < C; c++) {
		const float *sr = src + (size_t)c * ld + t0;
		for (int i = 0; i < KS_LNV; i++) {
			vf d = VF_SUB(VF_LOADU(sr + i * VW), mean[i]);
			var[i] = VF_ADD(var[i], VF_MUL(d, d));
		}
	}
	for (int i = 0; i < KS_LNV; i++)
		var[i] = VF_DIV(VF_SET1(1.0f), VF_SQRT(VF_ADD(VF_DIV(var[i], fc), VF_SET1(eps))));
	for (int c = 0; c < C; c++) {
		const float *sr = src + (size_t)c * ld + t0;
		float *yr = y + (size_t)c * ld + t0;
		vf wc = VF_SET1(w[c]), bc = VF_SET1(b[c]);
		for (int i = 0; i < KS_LNV; i++)
			VF_STOREU(yr + i * VW,
			          VF_ADD(VF_MUL(VF_MUL(VF_SUB(VF_LOADU(sr + i * VW), mean[i]), var[i]), wc), bc));
	}
}

KS void ks_layernorm(float *y, const float *x, const float *res, const float *w, const float *b, int C, int ld,
                     int n0, int n1, float eps)
{
	int t0 = n0;
	for (; t0 + KS_LNV * VW <= n1; t0 += KS_LNV * VW)
		ks_ln_window(y, x, res, w, b, C, ld, t0, eps);
	if (t0 < n1)
		kb_layernorm(y, x, res, w, b, C, ld, t0, n1, eps);
}

/* the path's quant (linear.h) in each layout */
KS void ks_quant_u8x4(void *x8, const float *x, int C, int ld, int n0, int n1, float inv, int zp)
{
	ks_quant_lanes(POFA_X8_U8X4, (uint32_t *)x8 + n0, ld, x + n0, ld, C, n1 - n0, inv, zp);
}

/* ---- attention: the two products in register tiles of 4 rows x NV vectors ---- */

/* the register tile of the attention products: KS_TR rows by KS_TV
 * vectors of sums, as many as the path's registers hold beside the
 * vectors of m and a broadcast */
#ifndef KS_TR
#define KS_TR 6
#define KS_TV 4
#endif

/* rows [r0, r0 + R) of out (stride Tp), NV vectors from column c0:
 * out[r][c] = sum_t a[r * sa + t * sb] * m[t * Tp + c] over t < n */
KS_INLINE void ks_tile(float *out, const float *a, size_t sa, size_t sb, const float *m, int n, int Tp, int r0,
                       int c0, float mul, const int R, const int NV)
{
	vf acc[KS_TR][KS_TV];
	for (int r = 0; r < R; r++)
		for (int i = 0; i < NV; i++)
			acc[r][i] = VF_SET1(0.0f);
	for (int t = 0; t < n; t++) {
		const float *mt = m + (size_t)t * Tp + c0;
		vf x[KS_TV];
		for (int i = 0; i < NV; i++)
			x[i] = VF_LOAD(mt + i * VW);
		for (int r = 0; r < R; r++) {
			vf ar = VF_SET1(a[(size_t)(r0 + r) * sa + (size_t)t * sb]);
			for (int i = 0; i < NV; i++)
				acc[r][i] = VF_FMA(ar, x[i], acc[r][i]);
		}
	}
	vf s = VF_SET1(mul);
	for (int r = 0; r < R; r++)
		for (int i = 0; i < NV; i++)
			VF_STORE(out + (size_t)(r0 + r) * Tp + c0 + i * VW, VF_MUL(acc[r][i], s));
}

/* the largest of the T scores in columns [i, i + VW) of E (stride Tp),
 * add's offsets added to them first */
KS_INLINE vf ks_att_colmax(float *E, const float *add, int T, int Tp, int i)
{
	vf mx = VF_SET1(-INFINITY);
	for (int j = 0; j < T; j++) {
		float *e = E + (size_t)j * Tp + i;
		vf v = VF_LOAD(e);
		if (add) {
			v = VF_ADD(v, VF_SET1(add[j]));
			VF_STORE(e, v);
		}
		mx = VF_MAX(v, mx);
	}
	return mx;
}

/* kern_body.h's kb_att_softmax in vectors (Tp is a whole number of them) */
KS_INLINE void ks_att_softmax(kb_att *a, const float *add)
{
	int T = a->T, Tp = a->Tp;
	for (int i = 0; i < Tp; i += VW) {
		vf mx = ks_att_colmax(a->E, add, T, Tp, i);
		vf sm = VF_SET1(0.0f);
		for (int j = 0; j < T; j++) {
			float *e = a->E + (size_t)j * Tp + i;
			vf v = ks_exp(VF_SUB(VF_LOAD(e), mx));
			VF_STORE(e, v);
			sm = VF_ADD(sm, v);
		}
		VF_STORE(a->sm + i, ks_recip(sm));
	}
}

/* rows x Tp in register tiles: tile(r0, c0, R, NV) for KS_TR rows (then
 * single rows) by KS_TV vectors (then single vectors) */
#define KS_TILE_GRID(tile, rows, Tp)                                          \
	do {                                                                      \
		int nv_ = (Tp) / VW, r_ = 0;                                          \
		for (; r_ + KS_TR <= (rows); r_ += KS_TR) {                           \
			int c_ = 0;                                                       \
			for (; c_ + KS_TV <= nv_; c_ += KS_TV)                            \
				tile(r_, c_ * VW, KS_TR, KS_TV);                              \
			for (; c_ < nv_; c_++)                                            \
				tile(r_, c_ * VW, KS_TR, 1);                                  \
		}                                                                     \
		for (; r_ < (rows); r_++) {                                           \
			int c_ = 0;                                                       \
			for (; c_ + KS_TV <= nv_; c_ += KS_TV)                            \
				tile(r_, c_ * VW, 1, KS_TV);                                  \
			for (; c_ < nv_; c_++)                                            \
				tile(r_, c_ * VW, 1, 1);                                      \
		}                                                                     \
	} while (0)

/* out (rows, Tp) = A m, A's element (r, t) at a[r * sa + t * sb] */
KS void ks_product(float *out, const float *a, size_t sa, size_t sb, const float *m, int n, int rows, int Tp,
                   float mul)
{
#define KS_T(r0, c0, R, NV) ks_tile(out, a, sa, sb, m, n, Tp, r0, c0, mul, R, NV)
	KS_TILE_GRID(KS_T, rows, Tp);
#undef KS_T
}

KS void ks_attention(float *ctx, const float *q, const float *k, const float *v, const float *add, int T, int hs,
                         int ld, float scale, float *w)
{
	kb_att a = kb_att_setup(q, T, hs, ld, w);
	/* E (T keys, Tp) = scale K^T Q: K^T's (j, d) is k[d * ld + j] */
	ks_product(a.E, k, 1, (size_t)ld, a.Q, hs, T, a.Tp, scale);
	ks_att_softmax(&a, add);
	/* O (hs, Tp) = V E: V's (d, j) is v[d * ld + j] */
	ks_product(a.O, v, (size_t)ld, 1, a.E, T, hs, a.Tp, 1.0f);
	kb_att_out(&a, ctx, ld);
}
