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
 *   VI_MADD(acc, x, w)  acc + pmaddwd(x, w): pairs of int16, exact
 *   VI_TO_F(v)      int32 to float
 *
 * A column tile is NV vectors wide, held in registers for one output row
 * while the row's stored weights stream past; tiles run outer, rows inner,
 * so the tile of x stays in cache for all rows.
 */

#define KS_INLINE static inline __attribute__((always_inline))
#define KS_MAXV 8

KS_INLINE void ks_finish(const pofa_linear *w, float *yr, vf *acc, const int NV)
{
	for (int i = 0; i < NV; i++)
		VF_STORE(yr + i * VW, acc[i]);
	if (w->gelu)
		kb_gelu_row(yr, NV * VW);
}

KS_INLINE void ks_csr(const pofa_linear *w, float *y, const float *x, int ld, int t0, int r0, int r1, const int NV)
{
	for (int o = r0; o < r1; o++) {
		vf acc[KS_MAXV], b = VF_SET1(w->bias[o]);
		for (int i = 0; i < NV; i++)
			acc[i] = b;
		const int32_t e = w->rowptr[o + 1];
		for (int32_t k = w->rowptr[o]; k < e; k++) {
			const float *xp = x + (size_t)w->col[k] * ld + t0;
			vf v = VF_SET1(w->val[k]);
			for (int i = 0; i < NV; i++)
				acc[i] = VF_FMA(v, VF_LOAD(xp + i * VW), acc[i]);
		}
		ks_finish(w, y + (size_t)o * ld + t0, acc, NV);
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

/* int8 blocks on S16X2 inputs: two exact pmaddwd a block */
KS_INLINE void ks_i8_s16(const pofa_linear *w, float *y, const uint32_t *x8, int ld, int t0, int r0, int r1,
                         const int NV)
{
	for (int o = r0; o < r1; o++) {
		vi acc[KS_MAXV];
		for (int i = 0; i < NV; i++)
			acc[i] = VI_SET1(0);
		const int32_t e = w->rowptr[o + 1];
		for (int32_t k = w->rowptr[o]; k < e; k++) {
			const uint32_t *p0 = x8 + (size_t)(w->col[k] >> 1) * ld + t0, *p1 = p0 + ld;
			vi w01 = VI_SET1(w->q16[2 * (size_t)k]), w23 = VI_SET1(w->q16[2 * (size_t)k + 1]);
			for (int i = 0; i < NV; i++) {
				acc[i] = VI_MADD(acc[i], VI_LOAD(p0 + i * VW), w01);
				acc[i] = VI_MADD(acc[i], VI_LOAD(p1 + i * VW), w23);
			}
		}
		vf sc = VF_SET1(w->in_scale * w->wscale[o]), b = VF_SET1(w->bias[o]), out[KS_MAXV];
		for (int i = 0; i < NV; i++)
			out[i] = VF_FMA(VI_TO_F(acc[i]), sc, b);
		ks_finish(w, y + (size_t)o * ld + t0, out, NV);
	}
}

/* the column tiles: KS_MAXV vectors, then what is left, halving */
#define KS_TILES(call)                                                      \
	do {                                                                    \
		int t0 = 0;                                                         \
		for (; t0 + KS_MAXV * VW <= np; t0 += KS_MAXV * VW)                 \
			call(KS_MAXV);                                                  \
		for (int nv = KS_MAXV / 2; nv >= 1; nv /= 2)                        \
			if (t0 + nv * VW <= np) {                                       \
				if (nv == 4) call(4);                                       \
				else if (nv == 2) call(2);                                  \
				else call(1);                                               \
				t0 += nv * VW;                                              \
			}                                                               \
	} while (0)

static void ks_sparse(const pofa_linear *w, float *y, const float *x, int ld, int np, int r0, int r1)
{
	if (w->fmt == POFA_LIN_CSR) {
#define KS_CALL(n) ks_csr(w, y, x, ld, t0, r0, r1, n)
		KS_TILES(KS_CALL);
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

static void ks_int8_s16(const pofa_linear *w, float *y, const void *x8, int ld, int np, int r0, int r1)
{
#define KS_CALL(n) ks_i8_s16(w, y, x8, ld, t0, r0, r1, n)
	KS_TILES(KS_CALL);
#undef KS_CALL
}

/* ---- attention: the two products in register tiles of 4 rows x NV vectors ---- */

/* rows [r0, r0 + R) of out (stride Tp), NV vectors from column c0:
 * out[r][c] = sum_t a[r * sa + t * sb] * m[t * Tp + c] over t < n */
KS_INLINE void ks_tile(float *out, const float *a, size_t sa, size_t sb, const float *m, int n, int Tp, int r0,
                       int c0, float mul, const int R, const int NV)
{
	vf acc[4][4];
	for (int r = 0; r < R; r++)
		for (int i = 0; i < NV; i++)
			acc[r][i] = VF_SET1(0.0f);
	for (int t = 0; t < n; t++) {
		const float *mt = m + (size_t)t * Tp + c0;
		vf x[4];
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

/* out (rows, Tp) = A m, A's element (r, t) at a[r * sa + t * sb] */
static void ks_product(float *out, const float *a, size_t sa, size_t sb, const float *m, int n, int rows, int Tp,
                       float mul)
{
	int nv = Tp / VW, r = 0;
	for (; r + 4 <= rows; r += 4) {
		int c = 0;
		for (; c + 4 <= nv; c += 4)
			ks_tile(out, a, sa, sb, m, n, Tp, r, c * VW, mul, 4, 4);
		for (; c < nv; c++)
			ks_tile(out, a, sa, sb, m, n, Tp, r, c * VW, mul, 4, 1);
	}
	for (; r < rows; r++) {
		int c = 0;
		for (; c + 4 <= nv; c += 4)
			ks_tile(out, a, sa, sb, m, n, Tp, r, c * VW, mul, 1, 4);
		for (; c < nv; c++)
			ks_tile(out, a, sa, sb, m, n, Tp, r, c * VW, mul, 1, 1);
	}
}

static void ks_attention(float *ctx, const float *q, const float *k, const float *v, const float *add, int T, int hs,
                         int ld, float scale, float *w)
{
	kb_att a = kb_att_setup(q, T, hs, ld, w);
	/* E (T keys, Tp) = scale K^T Q: K^T's (j, d) is k[d * ld + j] */
	ks_product(a.E, k, 1, (size_t)ld, a.Q, hs, T, a.Tp, scale);
	kb_att_softmax(&a, add);
	/* O (hs, Tp) = V E: V's (d, j) is v[d * ld + j] */
	ks_product(a.O, v, (size_t)ld, 1, a.E, T, hs, a.Tp, 1.0f);
	kb_att_out(&a, ctx, ld);
}
