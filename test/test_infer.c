/* test_infer.c - the forward-only path: every packed product on every CPU
 * path this machine has, against a scalar reference in double, over ragged
 * shapes; whole models against the training forward (dense, masked) and
 * the int8 model against QAT's simulated evaluation. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* before cblas.h, whose complex.h defines I */
#include "engine/infer/internal.h"
#include <cblas.h>

#include "engine/infer/infer.h"
#include "engine/infer/predict.h"
#include "engine/kernels/cpu.h"
#include "engine/io/safetensors.h"
#include "engine/model/internal.h"

static uint64_t rs = 0x9e3779b97f4a7c15ULL;
static double urand(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (double)(rs >> 11) / 9007199254740992.0;
}
static float frand(void) { return (float)(2.0 * urand() - 1.0); }

static void *zalloc(size_t bytes)
{
	bytes = (bytes + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, bytes ? bytes : 64);
	assert_non_null(p);
	memset(p, 0, bytes ? bytes : 64);
	return p;
}

enum pattern { DENSE_W, UNSTRUCTURED, BLOCKS14, NM24, EMPTY_ROWS };

/* a weight matrix with the pattern's zeros at about `sparsity` */
static float *make_weights(int OC, int C, enum pattern p, double sparsity)
{
	float *w = malloc((size_t)OC * C * sizeof *w);
	for (int o = 0; o < OC; o++)
		for (int c = 0; c < C; c++) {
			float v = frand();
			int keep = 1;
			if (p == UNSTRUCTURED)
				keep = urand() >= sparsity;
			else if (p == BLOCKS14)
				keep = 0; /* below, by block */
			else if (p == NM24)
				keep = (c % 4) == (o % 4) || (c % 4) == ((o + 1) % 4);
			else if (p == EMPTY_ROWS)
				keep = o % 3 != 1 && urand() >= sparsity;
			w[(size_t)o * C + c] = keep ? v : 0.0f;
		}
	if (p == BLOCKS14)
		for (int o = 0; o < OC; o++)
			for (int c = 0; c < C; c += 4)
				if (urand() >= sparsity)
					for (int i = 0; i < 4 && c + i < C; i++)
						w[(size_t)o * C + c + i] = frand();
	return w;
}

static double gelu_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

typedef struct { int OC, C, N; enum pattern p; double sparsity; int gelu; } shape;

static const shape shapes[] = {
	{ 7, 12, 5, UNSTRUCTURED, 0.9, 0 },    /* tiny, odd rows, one partial tile */
	{ 33, 64, 17, DENSE_W, 0.0, 1 },       /* fully dense, T not a multiple of the width */
	{ 16, 32, 130, UNSTRUCTURED, 1.0, 0 }, /* a fully zero matrix */
	{ 19, 48, 1, EMPTY_ROWS, 0.5, 1 },     /* empty rows, one token */
	{ 64, 128, 64, NM24, 0.5, 0 },         /* 2:4 */
	{ 10, 20, 33, BLOCKS14, 0.75, 1 },     /* 1x4 blocks */
	{ 5, 6, 16, UNSTRUCTURED, 0.3, 0 },    /* C not a multiple of 4 */
	{ 96, 256, 300, UNSTRUCTURED, 0.9, 1 },/* several full tiles and a tail */
	{ 40, 1030, 150, UNSTRUCTURED, 0.97, 1 }, /* wide and very sparse: a ragged last tile, rows with nothing */
	{ 21, 600, 40, EMPTY_ROWS, 0.8, 0 },   /* wide, empty rows */
	{ 24, 2100, 140, UNSTRUCTURED, 0.9, 1 }, /* CSR in chunks of inputs, a ragged last chunk */
	{ 13, 2048, 20, EMPTY_ROWS, 0.995, 1 },  /* chunks with no entries in most rows, GELU after */
	{ 30, 3000, 130, UNSTRUCTURED, 0.97, 0 }, /* rows sparse enough for the longer chunks, a ragged last */
};

/* a CSR's visiting order (linear.h): in each chunk, each thread's rows
 * once each, by their entries in the chunk, fewest first */
static int check_visits(const pofa_infer_kern *k, const pofa_linear *l)
{
	if (!k->csr_order || l->csr_borrowed) { /* rows in order */
		if (l->ord)
			print_error("%s CSR (%d x %d): a visiting order where the path keeps rows in order\n",
			            pofa_cpu_path_names[k->path], l->OC, l->C);
		return l->ord != NULL;
	}
	if (!l->ord) {
		print_error("%s CSR (%d x %d): no visiting order\n", pofa_cpu_path_names[k->path], l->OC, l->C);
		return 1;
	}
	char *seen = zalloc((size_t)l->OC);
	int bad = 0;
	for (int h = 0; h < l->nch && !bad; h++) {
		const int32_t *rp = l->crp + (size_t)h * (l->OC + 1), *ord = l->ord + (size_t)h * l->OC;
		memset(seen, 0, (size_t)l->OC);
		for (int t = 0; t < l->nsplit && !bad; t++)
			for (int j = l->split[t]; j < l->split[t + 1]; j++) {
				int o = ord[j], ok = o >= l->split[t] && o < l->split[t + 1] && !seen[o];
				if (ok && j > l->split[t] && rp[j + 1] - rp[j] < rp[j] - rp[j - 1])
					ok = 0;
				if (!ok) {
					print_error("%s CSR (%d x %d): chunk %d, thread %d [%d, %d): place %d holds row %d with %d "
					            "entries after %d (expected a row of the thread's not seen yet, as many "
					            "entries or more)\n", pofa_cpu_path_names[k->path], l->OC, l->C, h, t,
					            l->split[t], l->split[t + 1], j, o, rp[j + 1] - rp[j],
					            j > 0 ? rp[j] - rp[j - 1] : -1);
					bad = 1;
					break;
				}
				seen[o] = 1;
			}
	}
	free(seen);
	return bad;
}

static int check_product(const pofa_infer_kern *k, const shape *s, int fmt, const float *w, const float *bias,
                         const float *x, int ld, int np)
{
	pofa_linear l;
	if (pofa_linear_pack(&l, w, bias, s->OC, s->C, s->gelu, k, 3, fmt))
		fail_msg("out of memory");
	float *y = zalloc((size_t)s->OC * ld * sizeof *y);
	for (int p = 0; p < l.nsplit; p++)
		pofa_linear_rows(&l, k, y, x, NULL, ld, np, l.split[p], l.split[p + 1], NULL);
	int bad = 0;
	for (int o = 0; o < s->OC && !bad; o++)
		for (int n = 0; n < s->N; n++) {
			double acc = bias[o];
			for (int c = 0; c < s->C; c++)
				acc += (double)w[(size_t)o * s->C + c] * x[(size_t)c * ld + n];
			if (s->gelu)
				acc = gelu_d(acc);
			double got = y[(size_t)o * ld + n];
			if (!(fabs(got - acc) <= 2e-5 * (1.0 + fabs(acc)))) {
				print_error("%s %s (%d x %d, %d tokens, stored as %s): y[%d][%d]: expected %.8g, got %.8g\n",
				            pofa_cpu_path_names[k->path], pofa_linear_fmt_names[fmt], s->OC, s->C, s->N,
				            pofa_linear_fmt_names[l.fmt], o, n, acc, got);
				bad = 1;
				break;
			}
		}
	if (!bad && l.fmt == POFA_LIN_CSR)
		bad = check_visits(k, &l);
	/* its nonzeros by row (what the packed float file holds) are w's, and
	 * packed again from them (forced to the format it has) it computes the
	 * same y to the bit */
	int32_t *rp = malloc(((size_t)s->OC + 1) * sizeof *rp);
	uint16_t *col = malloc((size_t)(l.nnz + 1) * sizeof *col);
	float *val = malloc((size_t)(l.nnz + 1) * sizeof *val);
	int64_t e = pofa_linear_csr(&l, rp, col, val), want = 0;
	for (int o = 0; o < s->OC && !bad; o++)
		for (int c = 0; c < s->C; c++) {
			float v = w[(size_t)o * s->C + c];
			if (v == 0.0f)
				continue;
			if (want >= e || want >= rp[o + 1] || col[want] != c || val[want] != v) {
				print_error("%s %s (%d x %d): nonzero %lld is not w[%d][%d] = %g\n", pofa_cpu_path_names[k->path],
				            pofa_linear_fmt_names[l.fmt], s->OC, s->C, (long long)want, o, c, v);
				bad = 1;
				break;
			}
			want++;
		}
	if (!bad && want != e) {
		print_error("%s %s: %lld nonzeros read back, w has %lld\n", pofa_cpu_path_names[k->path],
		            pofa_linear_fmt_names[l.fmt], (long long)e, (long long)want);
		bad = 1;
	}
	if (!bad) {
		pofa_linear l2;
		if (pofa_linear_pack_csr(&l2, rp, col, val, bias, s->OC, s->C, s->gelu, k, 3, l.fmt))
			fail_msg("out of memory");
		rp = NULL, col = NULL, val = NULL;   /* l2's */
		float *y2 = zalloc((size_t)s->OC * ld * sizeof *y2);
		for (int p = 0; p < l2.nsplit; p++)
			pofa_linear_rows(&l2, k, y2, x, NULL, ld, np, l2.split[p], l2.split[p + 1], NULL);
		if (l2.fmt != l.fmt || l2.nch != l.nch || memcmp(y, y2, (size_t)s->OC * ld * sizeof *y)) {
			print_error("%s %s (%d x %d): packed again from its nonzeros: %s, %d chunks, y %s\n",
			            pofa_cpu_path_names[k->path], pofa_linear_fmt_names[l.fmt], s->OC, s->C,
			            pofa_linear_fmt_names[l2.fmt], l2.nch,
			            memcmp(y, y2, (size_t)s->OC * ld * sizeof *y) ? "differs" : "the same");
			bad = 1;
		}
		pofa_linear_free(&l2);
		free(y2);
	}
	free(rp);
	free(col);
	free(val);
	int stored_as = l.fmt;
	pofa_linear_free(&l);
	free(y);
	return bad ? -1 : stored_as;
}

/* the quantization rule of QAT's fake quantization: NaN to 0 */
static int32_t q_ref(float x, float inv, int zp)
{
	float v = rintf(x * inv) + (float)zp;
	return !(v >= 0.0f) ? 0 : v > 255.0f ? 255 : (int32_t)v;
}

/* the int8 product against integers summed exactly; then its output
 * quantized for a next int8 Linear, against the rule applied to it */
static int check_int8(const pofa_infer_kern *k, const shape *s, const float *wf, const float *bias,
                      const float *x, int ld, int np)
{
	int OC = s->OC, C = s->C;
	int8_t *q = malloc((size_t)OC * C);
	float *ws = malloc((size_t)OC * sizeof *ws);
	for (int o = 0; o < OC; o++) {
		ws[o] = 0.001f + 0.01f * (float)urand();
		for (int c = 0; c < C; c++) {
			float v = wf[(size_t)o * C + c];
			q[(size_t)o * C + c] = (int8_t)(v == 0.0f ? 0 : lrintf(v * 127.0f));
		}
	}
	float in_scale = 2.0f / 255.0f * (0.5f + (float)urand());
	int zp = (int)(urand() * 255.99);
	pofa_linear l;
	if (pofa_linear_pack_int8(&l, q, ws, 1, in_scale, zp, bias, OC, C, s->gelu, k, 2))
		fail_msg("out of memory");

	void *x8 = zalloc(pofa_x8_bytes(k->x8, C, ld));
	float *y = zalloc((size_t)OC * ld * sizeof *y);
	k->quant(x8, x, C, ld, 0, np, l.in_inv, zp);
	for (int p = 0; p < l.nsplit; p++)
		pofa_linear_rows(&l, k, y, x, x8, ld, np, l.split[p], l.split[p + 1], NULL);
	int bad = 0;
	for (int o = 0; o < OC && !bad; o++)
		for (int n = 0; n < s->N; n++) {
			int64_t acc = 0;
			for (int c = 0; c < C; c++) {
				float v = rintf(x[(size_t)c * ld + n] * l.in_inv) + (float)zp;
				int32_t qx = v < 0.0f ? 0 : v > 255.0f ? 255 : (int32_t)v;
				acc += (int64_t)(qx - zp) * q[(size_t)o * C + c];
			}
			double want = (double)acc * (double)(in_scale * ws[o]) + bias[o];
			if (s->gelu)
				want = gelu_d(want);
			double got = y[(size_t)o * ld + n];
			if (!(fabs(got - want) <= 1e-5 * (1.0 + fabs(want)))) {
				print_error("%s int8 (%d x %d, %d tokens, zero point %d): y[%d][%d]: expected %.8g, got %.8g\n",
				            pofa_cpu_path_names[k->path], OC, C, s->N, zp, o, n, want, got);
				bad = 1;
				break;
			}
		}
	/* the output quantized in the product's last step: the lanes of
	 * k->quant on y, the last group of 4 rows padded as k->quant pads */
	pofa_qout qo = { .inv = 1.0f / (0.02f + 0.1f * (float)urand()), .zp = (int)(urand() * 255.99) };
	size_t bytes = pofa_x8_bytes(k->x8, OC, ld);
	assert_true(bytes > 0 && bytes < ((size_t)1 << 30));
	uint8_t *want8 = zalloc(bytes), *got8 = zalloc(bytes);
	qo.x8 = got8;
	k->quant(want8, y, OC, ld, 0, np, qo.inv, qo.zp);
	for (int p = 0; p < l.nsplit; p++) {
		if (l.split[p] % 4) {
			print_error("%s int8: the row split at %d is not a multiple of 4\n", pofa_cpu_path_names[k->path],
			            l.split[p]);
			bad = 1;
		}
		pofa_linear_rows(&l, k, NULL, x, x8, ld, np, l.split[p], l.split[p + 1], &qo);
	}
	int per = k->x8 == POFA_X8_U8X4 ? 4 : 2, Cp = (OC + 3) & ~3;
	for (int c0 = 0; c0 < Cp && !bad; c0 += per)
		for (int n = 0; n < np; n++) {
			size_t at = (size_t)(c0 / per) * ld + n;
			uint32_t w32, g32;
			memcpy(&w32, want8 + 4 * at, 4);
			memcpy(&g32, got8 + 4 * at, 4);
			/* the rule itself, on the float output */
			uint32_t rule = 0;
			for (int i = 0; i < per; i++) {
				int c = c0 + i;
				if (per == 4)
					rule |= (uint32_t)(c < OC ? q_ref(y[(size_t)c * ld + n], qo.inv, qo.zp) : qo.zp) << (8 * i);
				else if (c < OC)
					rule |= (uint32_t)(uint16_t)(q_ref(y[(size_t)c * ld + n], qo.inv, qo.zp) - qo.zp) << (16 * i);
			}
			if (g32 != w32 || g32 != rule) {
				print_error("%s int8 (%d x %d, %d tokens) quantized out: lane (%d, %d): expected %08x, got %08x\n",
				            pofa_cpu_path_names[k->path], OC, C, s->N, c0 / per, n, rule, g32);
				bad = 1;
				break;
			}
		}
	free(want8);
	free(got8);
	pofa_linear_free(&l);
	free(x8);
	free(y);
	free(q);
	free(ws);
	return bad ? -1 : 0;
}

static void test_kernels(void **st)
{
	(void)st;
	enum pofa_cpu_path best = pofa_cpu_best();
	int fails = 0, checks = 0;
	for (int p = 0; p <= (int)best; p++) {
		const pofa_infer_kern *k = pofa_infer_kern_for((enum pofa_cpu_path)p);
		assert_int_equal(k->path, p);
		printf("  path %s (%s)\n", pofa_cpu_path_names[p], pofa_cpu_name());
		for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
			const shape *s = &shapes[i];
			float *w = make_weights(s->OC, s->C, s->p, s->sparsity);
			float *bias = malloc((size_t)s->OC * sizeof *bias);
			for (int o = 0; o < s->OC; o++)
				bias[o] = frand();
			int np = (s->N + 15) & ~15, ld = np + 16; /* a wider ld than needed */
			int Cp = (s->C + 3) & ~3;
			float *x = zalloc((size_t)Cp * ld * sizeof *x);
			for (int c = 0; c < s->C; c++)
				for (int n = 0; n < ld; n++)
					x[(size_t)c * ld + n] = 3.0f * frand();
			/* CSR packed the other way too (rows in visiting order or in
			 * order, kern->csr_order): each path's kernels take both */
			pofa_infer_kern other = *k;
			other.csr_order = !k->csr_order;
			checks++;
			fails += check_product(&other, s, POFA_LIN_CSR, w, bias, x, ld, np) < 0;
			for (int fmt = POFA_LIN_DENSE; fmt < POFA_LIN_I8; fmt++) {
				int got = check_product(k, s, fmt, w, bias, x, ld, np);
				checks++;
				fails += got < 0;
				/* the format asked for, where the zeros allow it */
				int feasible = fmt != POFA_LIN_B14 || s->C % 4 == 0;
				if (fmt == POFA_LIN_NM)
					feasible = s->C % 4 == 0;
				if (got >= 0 && feasible && got != fmt) {
					print_error("%s: asked for %s, packed as %s\n", pofa_cpu_path_names[p],
					            pofa_linear_fmt_names[fmt], pofa_linear_fmt_names[got]);
					fails++;
				}
			}
			checks++;
			fails += check_int8(k, s, w, bias, x, ld, np) < 0;
			free(w);
			free(bias);
			free(x);
		}
	}
	printf("  %d products checked on %d paths\n", checks, (int)best + 1);
	assert_int_equal(fails, 0);
}

/* the int8 product where a 16-bit pair sum would saturate: weights of
 * magnitude 127 and 128 (and pairs just at and over POFA_I8_PAIR_MAX),
 * inputs at 0 and 255 with the zero point at either end, so that a pair's
 * uint8 x int8 products reach +-64770 unless packing splits the pair.
 * Exact against integers; the packed blocks give back the weights given. */
static void test_int8_saturation(void **st)
{
	(void)st;
	enum pofa_cpu_path best = pofa_cpu_best();
	const int OC = 12, C = 40, N = 35, np = 48, ld = 64;
	static const int8_t pat[][4] = { { 127, 127, -127, -127 }, { -128, -128, 127, 127 }, { 64, 64, 65, 63 },
	                                 { 65, 64, -1, 127 },      { 127, 0, 0, -128 },     { 100, -29, -28, 100 } };
	int8_t *q = malloc((size_t)OC * C);
	float ws[12], bias[12];
	for (int o = 0; o < OC; o++) {
		ws[o] = 1e-4f * (float)(o + 1);
		bias[o] = 0.25f * (float)(o % 5) - 0.5f;
		for (int c = 0; c < C; c++) /* every other block of a row empty from row 6 */
			q[(size_t)o * C + c] = o >= 6 && (c / 4) % 2 ? 0 : pat[(o + c / 4) % 6][c % 4];
	}
	float *x = zalloc((size_t)C * ld * sizeof *x);
	int fails = 0, checks = 0;
	for (int zi = 0; zi < 2; zi++) {
		int zp = zi ? 255 : 0;
		const float in_scale = 1.0f / 64.0f;
		/* q = 255 or 0 in turn, most columns at the end that makes the
		 * pair's products largest */
		for (int c = 0; c < C; c++)
			for (int n = 0; n < ld; n++)
				x[(size_t)c * ld + n] = ((n + (c & 1)) % 7 ? (zp ? 1.0f : 1000.0f) : (zp ? -1000.0f : -1.0f));
		for (int p = 0; p <= (int)best; p++) {
			const pofa_infer_kern *k = pofa_infer_kern_for((enum pofa_cpu_path)p);
			pofa_linear l;
			if (pofa_linear_pack_int8(&l, q, ws, 1, in_scale, zp, bias, OC, C, 0, k, 2))
				fail_msg("out of memory");
			int64_t nfix = l.fixptr ? l.fixptr[OC] : 0;
			if (k->i8_pairs && nfix == 0) {
				print_error("%s: no pair was split off\n", pofa_cpu_path_names[p]);
				fails++;
			}
			for (int o = 0; o < OC; o++)
				for (int64_t e = l.rowptr[o]; e < l.rowptr[o + 1]; e++) {
					int8_t b[4];
					pofa_linear_i8_block(&l, o, e, b);
					if (memcmp(b, q + (size_t)o * C + l.col[e], 4)) {
						print_error("%s: row %d, block at %d: the packed weights do not give back the given ones\n",
						            pofa_cpu_path_names[p], o, l.col[e]);
						fails++;
					}
				}
			void *x8 = zalloc(pofa_x8_bytes(k->x8, C, ld));
			float *y = zalloc((size_t)OC * ld * sizeof *y);
			k->quant(x8, x, C, ld, 0, np, l.in_inv, zp);
			for (int s = 0; s < l.nsplit; s++)
				pofa_linear_rows(&l, k, y, x, x8, ld, np, l.split[s], l.split[s + 1], NULL);
			for (int o = 0; o < OC; o++)
				for (int n = 0; n < N; n++) {
					int64_t acc = 0;
					for (int c = 0; c < C; c++)
						acc += (int64_t)(q_ref(x[(size_t)c * ld + n], l.in_inv, zp) - zp) * q[(size_t)o * C + c];
					double want = (double)acc * (double)(in_scale * ws[o]) + bias[o];
					double got = y[(size_t)o * ld + n];
					checks++;
					if (!(fabs(got - want) <= 1e-5 * (1.0 + fabs(want)))) {
						print_error("%s int8, zero point %d: y[%d][%d]: expected %.8g, got %.8g\n",
						            pofa_cpu_path_names[p], zp, o, n, want, got);
						fails++;
						o = OC;
						break;
					}
				}
			printf("  %s: %lld of %lld blocks split, zero point %d\n", pofa_cpu_path_names[p], (long long)nfix,
			       (long long)l.rowptr[OC], zp);
			pofa_linear_free(&l);
			free(x8);
			free(y);
		}
	}
	printf("  %d outputs checked\n", checks);
	free(x);
	free(q);
	assert_int_equal(fails, 0);
}

/* one head's attention against double precision: ragged T, padding keys.
 * bf16 (the int8 models' attention_i8 of avx512-bf16): Q, K, V and the
 * exponentials rounded to bfloat16 (2^-9 relative each), so each output
 * may be off by sum_j p_j |v_j| (2 ds + 4 2^-9), ds the largest error of
 * a score: scale sum_d |q_d k_d| 2^-8 */
static int check_attention(const pofa_infer_kern *k, pofa_att_fn *fn, int bf16, int T, int hs, int masked)
{
	int ld = ((T + 15) & ~15) + 16 + 3; /* a sequence starts mid-row: unaligned columns */
	float *q = zalloc((size_t)hs * ld * 4), *kk = zalloc((size_t)hs * ld * 4), *v = zalloc((size_t)hs * ld * 4),
	      *ctx = zalloc((size_t)hs * ld * 4), *add = zalloc((size_t)T * 4),
	      *w = zalloc(pofa_att_scratch(T, hs) * 4);
	const int off = 3;
	for (size_t i = 0; i < (size_t)hs * ld; i++) {
		q[i] = frand();
		kk[i] = frand();
		v[i] = frand();
	}
	for (int j = 0; j < T; j++)
		add[j] = masked && j >= T - masked ? -3.40282347e38f : 0.0f;
	float scale = 1.0f / sqrtf((float)hs);
	fn(ctx + off, q + off, kk + off, v + off, masked ? add : NULL, T, hs, ld, scale, w);
	int bad = 0;
	double *p = malloc((size_t)T * sizeof *p);
	for (int i = 0; i < T && !bad; i++) {
		double mx = -INFINITY, sum = 0.0, ds = 0.0;
		for (int j = 0; j < T; j++) {
			double sc = 0.0, sa = 0.0;
			for (int d = 0; d < hs; d++) {
				double t = (double)q[(size_t)d * ld + off + i] * kk[(size_t)d * ld + off + j];
				sc += t;
				sa += fabs(t);
			}
			p[j] = masked && j >= T - masked ? -INFINITY : sc * scale;
			ds = fmax(ds, sa * scale * 0x1p-8);
			mx = fmax(mx, p[j]);
		}
		for (int j = 0; j < T; j++)
			sum += (p[j] = exp(p[j] - mx));
		for (int d = 0; d < hs && !bad; d++) {
			double want = 0.0, sv = 0.0;
			for (int j = 0; j < T; j++) {
				want += v[(size_t)d * ld + off + j] * p[j] / sum;
				sv += fabs(v[(size_t)d * ld + off + j]) * p[j] / sum;
			}
			double got = ctx[(size_t)d * ld + off + i];
			double tol = bf16 ? sv * (2.0 * ds + 4.0 * 0x1p-9) + 1e-5 : 1e-5;
			if (!(fabs(got - want) <= tol)) {
				print_error("%s attention%s (T %d, head size %d, %d keys padded): ctx[%d][%d]: expected %.8g "
				            "(within %.3g), got %.8g\n", pofa_cpu_path_names[k->path], bf16 ? " for int8" : "", T,
				            hs, masked, d, i, want, tol, got);
				bad = 1;
			}
		}
	}
	/* nothing written outside the sequence's columns */
	for (int d = 0; d < hs && !bad; d++)
		for (int c = 0; c < ld; c++)
			if ((c < off || c >= off + T) && ctx[(size_t)d * ld + c] != 0.0f) {
				print_error("%s attention wrote column %d outside the sequence\n", pofa_cpu_path_names[k->path], c);
				bad = 1;
				break;
			}
	free(p);
	free(q); free(kk); free(v); free(ctx); free(add); free(w);
	return bad ? -1 : 0;
}

static void test_attention(void **st)
{
	(void)st;
	static const int shapes[][3] = { { 1, 8, 0 }, { 5, 16, 2 }, { 17, 64, 0 }, { 33, 32, 7 }, { 128, 64, 40 },
	                                 { 130, 24, 1 }, { 9, 7, 1 }, { 384, 64, 5 } };
	int fails = 0, i8 = 0;
	for (int p = 0; p <= (int)pofa_cpu_best(); p++) {
		const pofa_infer_kern *k = pofa_infer_kern_for((enum pofa_cpu_path)p);
		for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
			fails += check_attention(k, k->attention, 0, shapes[i][0], shapes[i][1], shapes[i][2]) < 0;
			if (k->attention_i8) /* odd head sizes: float32's */
				fails += check_attention(k, k->attention_i8, shapes[i][1] % 2 == 0, shapes[i][0], shapes[i][1],
				                         shapes[i][2]) < 0;
		}
		i8 += k->attention_i8 != NULL;
	}
	printf("  %d path%s with an attention of its own for int8 models\n", i8, i8 == 1 ? "" : "s");
	assert_int_equal(fails, 0);
}

/* bias and GELU, element-wise, on every path against double precision:
 * values across erf's range, the ends of exp's, a row length that is not
 * a whole number of vectors; NaN stays NaN */
static void test_elementwise(void **st)
{
	(void)st;
	enum { R = 3, N = 203 };
	float x[R * N], y[R * N], bias[R] = { 0.0f, 0.25f, -3.0f };
	int fails = 0;
	for (int p = 0; p <= (int)pofa_cpu_best(); p++) {
		const pofa_infer_kern *k = pofa_infer_kern_for((enum pofa_cpu_path)p);
		for (int i = 0; i < R * N; i++) {
			double u = (double)(i % N) / (N - 1);
			x[i] = (float)(-12.0 + 24.0 * u * u * u);
		}
		x[7] = 1e30f, x[8] = -1e30f, x[9] = 1e-30f, x[10] = -0.0f, x[11] = NAN, x[12] = 130.0f, x[13] = -130.0f;
		memcpy(y, x, sizeof x);
		k->bias_act(y, bias, N, N, 0, R, 1);
		for (int r = 0; r < R; r++)
			for (int n = 0; n < N; n++) {
				double in = (double)x[r * N + n] + bias[r], want = gelu_d(in), got = y[r * N + n];
				if (isnan(in) ? !isnan(got) : !(fabs(got - want) <= 2e-6 * (1.0 + fabs(want)))) {
					if (fails++ < 5)
						print_error("%s GELU(%.9g): expected %.9g, got %.9g\n", pofa_cpu_path_names[p], in,
						            want, got);
				}
			}
		print_message("  GELU on %s: checked against double precision\n", pofa_cpu_path_names[p]);
	}
	assert_int_equal(fails, 0);
}

/* LayerNorm (with and without the residual, in place too) against double
 * precision, and the int8 input quantization against the rule, lane by
 * lane, on every path: a window and a ragged tail of columns, a channel
 * count that is not a multiple of 4, the ends of the range, NaN, ties */
static void test_layernorm_quant(void **st)
{
	(void)st;
	static const int Cs[] = { 5, 130, 768 };
	const int ld = 112, n0 = 16, n1 = 112; /* 96 columns: a 64-wide window and 32 more */
	int fails = 0;
	for (int p = 0; p <= (int)pofa_cpu_best(); p++) {
		const pofa_infer_kern *k = pofa_infer_kern_for((enum pofa_cpu_path)p);
		for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++) {
			int C = Cs[ci], Cp = (C + 3) & ~3;
			float *x = zalloc((size_t)Cp * ld * 4), *res = zalloc((size_t)Cp * ld * 4), *y = zalloc((size_t)Cp * ld * 4);
			float *w = malloc((size_t)C * 4), *b = malloc((size_t)C * 4);
			for (int c = 0; c < C; c++) {
				w[c] = 1.0f + 0.5f * frand();
				b[c] = 0.1f * frand();
				for (int n = 0; n < ld; n++) {
					x[(size_t)c * ld + n] = 4.0f * frand() + (n % 7 == 3 ? 30.0f : 0.0f); /* a large mean too */
					res[(size_t)c * ld + n] = frand();
				}
			}
			for (int mode = 0; mode < 3 && !fails; mode++) { /* residual; none; in place with residual */
				float *out = mode == 2 ? x : y;
				float *xin = malloc((size_t)C * ld * 4);
				memcpy(xin, x, (size_t)C * ld * 4);
				memset(y, 0, (size_t)Cp * ld * 4);
				k->layernorm(out, x, mode == 1 ? NULL : res, w, b, C, ld, n0, n1, 1e-12f);
				/* the same operations in the same order as the portable path: the same bits */
				float *port = zalloc((size_t)C * ld * 4);
				memcpy(port, mode == 2 ? xin : y, (size_t)C * ld * 4);
				const pofa_infer_kern *pk = pofa_infer_kern_for(POFA_CPU_PORTABLE);
				if (mode == 2)
					pk->layernorm(port, port, res, w, b, C, ld, n0, n1, 1e-12f);
				else
					pk->layernorm(port, xin, mode == 1 ? NULL : res, w, b, C, ld, n0, n1, 1e-12f);
				for (size_t i = 0; i < (size_t)C * ld; i++)
					if (memcmp(&port[i], &out[i], sizeof *out)) {
						print_error("%s LayerNorm (C %d, mode %d): y[%zu][%zu] is %.9g, the portable path's %.9g\n",
						            pofa_cpu_path_names[p], C, mode, i / ld, i % ld, out[i], port[i]);
						fails++;
						break;
					}
				free(port);
				for (int n = 0; n < ld && fails < 5; n++) {
					double mean = 0.0, var = 0.0, mabs = 0.0;
					for (int c = 0; c < C; c++) {
						double v = (double)xin[(size_t)c * ld + n] + (mode == 1 ? 0.0 : res[(size_t)c * ld + n]);
						mean += v;
						mabs += fabs(v);
					}
					mean /= C;
					mabs /= C;
					for (int c = 0; c < C; c++) {
						double d = (double)xin[(size_t)c * ld + n] + (mode == 1 ? 0.0 : res[(size_t)c * ld + n]) - mean;
						var += d * d;
					}
					double rstd = 1.0 / sqrt(var / C + 1e-12);
					for (int c = 0; c < C; c++) {
						double want = n < n0 || n >= n1
						                  ? (mode == 2 ? xin[(size_t)c * ld + n] : 0.0)
						                  : ((double)xin[(size_t)c * ld + n] + (mode == 1 ? 0.0 : res[(size_t)c * ld + n]) -
						                     mean) * rstd * w[c] + b[c];
						double got = out[(size_t)c * ld + n];
						/* the float mean, summed in order, is off by up to
						 * (C - 1) 2^-24 mean|x|; the output by that times rstd w */
						double tol = 2e-5 * (1.0 + fabs(want)) + C * 0x1p-24 * mabs * rstd * fabs(w[c]);
						if (!(fabs(got - want) <= tol)) {
							print_error("%s LayerNorm (C %d, %s): y[%d][%d]: expected %.8g, got %.8g\n",
							            pofa_cpu_path_names[p], C,
							            mode == 0 ? "residual" : mode == 1 ? "no residual" : "in place", c, n, want, got);
							fails++;
							break;
						}
					}
				}
				if (mode == 2)
					memcpy(x, xin, (size_t)C * ld * 4);
				free(xin);
			}
			/* quantization: specials in the first rows, ties, the clamp */
			static const float sp[] = { NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 2.5f, 3.5f, -2.5f, 0.0f, -0.0f };
			for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
				x[(size_t)(i % C) * ld + n0 + (int)i] = sp[i];
			for (int zi = 0; zi < 2 && fails < 5; zi++) {
				int zp = zi ? 128 : 3;
				float scale_inv = zi ? 20.0f : 1.0f;
				size_t bytes = pofa_x8_bytes(k->x8, C, ld);
				assert_true(bytes > 0 && bytes < ((size_t)1 << 30));
				uint8_t *x8 = zalloc(bytes);
				for (size_t i = 0; i < bytes; i++)
					x8[i] = 0xa5;
				k->quant(x8, x, C, ld, n0, n1, scale_inv, zp);
				const uint32_t *lane = (const uint32_t *)x8;
				int per = k->x8 == POFA_X8_U8X4 ? 4 : 2;
				for (int c0 = 0; c0 < Cp && fails < 5; c0 += per)
					for (int n = 0; n < ld; n++) {
						uint32_t want = 0;
						for (int i = 0; i < per; i++) {
							int c = c0 + i;
							if (k->x8 == POFA_X8_U8X4)
								want |= (uint32_t)(c < C ? q_ref(x[(size_t)c * ld + n], scale_inv, zp) : zp) << (8 * i);
							else if (c < C)
								want |= (uint32_t)(uint16_t)(q_ref(x[(size_t)c * ld + n], scale_inv, zp) - zp) << (16 * i);
						}
						if (n < n0 || n >= n1)
							want = 0xa5a5a5a5u; /* columns outside the range untouched */
						uint32_t got = lane[(size_t)(c0 / per) * ld + n];
						if (got != want) {
							print_error("%s quantize (C %d, zero point %d): lane (%d, %d): expected %08x, got %08x\n",
							            pofa_cpu_path_names[p], C, zp, c0 / per, n, want, got);
							fails++;
							break;
						}
					}
				free(x8);
			}
			free(x); free(res); free(y); free(w); free(b);
		}
		print_message("  LayerNorm and int8 input on %s: checked\n", pofa_cpu_path_names[p]);
	}
	assert_int_equal(fails, 0);
}

/* a CSR used in place from a file's mapping (borrowed) stays in place
 * below 2048 inputs on every path, even where the path chunks a CSR of its
 * own from fewer (AVX2: 512); from 2048 it is chunked, and so copied */
static void test_borrowed_chunks(void **st)
{
	(void)st;
	static const int widths[] = { 768, 2100 };
	int fails = 0;
	for (int p = 0; p <= (int)pofa_cpu_best(); p++) {
		const pofa_infer_kern *k = pofa_infer_kern_for((enum pofa_cpu_path)p);
		for (int i = 0; i < 2; i++) {
			int OC = 24, C = widths[i];
			float *w = make_weights(OC, C, UNSTRUCTURED, 0.9), *bias = calloc((size_t)OC, sizeof *bias);
			int32_t *rp = malloc(((size_t)OC + 1) * sizeof *rp);
			uint16_t *col = malloc((size_t)OC * C * sizeof *col);
			float *val = malloc((size_t)OC * C * sizeof *val);
			int32_t e = 0;
			for (int o = 0; o < OC; o++) {
				rp[o] = e;
				for (int c = 0; c < C; c++)
					if (w[(size_t)o * C + c] != 0.0f) {
						col[e] = (uint16_t)c;
						val[e++] = w[(size_t)o * C + c];
					}
			}
			rp[OC] = e;
			pofa_linear l, own;
			int32_t *rp2 = malloc(((size_t)OC + 1) * sizeof *rp2);
			memcpy(rp2, rp, ((size_t)OC + 1) * sizeof *rp);
			assert_int_equal(pofa_linear_pack_csr_borrow(&l, rp, col, val, bias, OC, C, 0, k, 2, POFA_LIN_CSR), 0);
			int in_place = l.csr_borrowed && l.col == col && l.val == val && l.nch == 1;
			if (in_place != (C < 2048)) {
				print_error("%s, borrowed CSR %d x %d: %s (%d chunks), expected %s\n", pofa_cpu_path_names[p], OC,
				            C, in_place ? "in place" : "copied", l.nch, C < 2048 ? "in place" : "chunked");
				fails++;
			}
			/* the same entries given (not borrowed): chunked from the path's csr_from */
			uint16_t *col2 = malloc((size_t)e * sizeof *col2 + 2);
			float *val2 = malloc((size_t)e * sizeof *val2 + 4);
			memcpy(col2, col, (size_t)e * sizeof *col2);
			memcpy(val2, val, (size_t)e * sizeof *val2);
			assert_int_equal(pofa_linear_pack_csr(&own, rp2, col2, val2, bias, OC, C, 0, k, 2, POFA_LIN_CSR), 0);
			if ((own.nch > 1) != (C >= k->csr_from)) {
				print_error("%s, CSR %d x %d of its own: %d chunks, csr_from %d\n", pofa_cpu_path_names[p], OC, C,
				            own.nch, k->csr_from);
				fails++;
			}
			pofa_linear_free(&l);
			pofa_linear_free(&own);
			free(col);
			free(val);
			free(w);
			free(bias);
		}
	}
	assert_int_equal(fails, 0);
}

/* the format chosen by the costs: dense when dense, sparse when 90% sparse */
static void test_choice(void **st)
{
	(void)st;
	const pofa_infer_kern *k = pofa_infer_kern_for(pofa_cpu_path());
	float *bias = calloc(256, sizeof *bias);
	float *w = make_weights(256, 256, DENSE_W, 0.0);
	pofa_linear l;
	assert_int_equal(pofa_linear_pack(&l, w, bias, 256, 256, 0, k, 2, -1), 0);
	assert_int_equal(l.fmt, POFA_LIN_DENSE);
	pofa_linear_free(&l);
	free(w);
	/* CSR's chunks of inputs: csr_kc's at 90%, csr_kc_sparse's at 97% */
	float *wb = calloc(3072, sizeof *wb);
	for (int i = 0; i < 2; i++) {
		w = make_weights(64, 3072, UNSTRUCTURED, i ? 0.97 : 0.9);
		assert_int_equal(pofa_linear_pack(&l, w, wb, 64, 3072, 0, k, 2, POFA_LIN_CSR), 0);
		int kc = i && k->csr_kc_sparse ? k->csr_kc_sparse : k->csr_kc;
		if (l.nch != (3072 + kc - 1) / kc)
			fail_msg("%s, %s sparse, 64 x 3072: %d chunks, expected %d of %d inputs", pofa_cpu_path_names[k->path],
			         i ? "97%" : "90%", l.nch, (3072 + kc - 1) / kc, kc);
		pofa_linear_free(&l);
		free(w);
	}
	free(wb);
	w = make_weights(256, 256, UNSTRUCTURED, 0.95);
	assert_int_equal(pofa_linear_pack(&l, w, bias, 256, 256, 0, k, 2, -1), 0);
	assert_int_equal(l.fmt, POFA_LIN_CSR);
	/* the split covers every row once, in order */
	assert_int_equal(l.split[0], 0);
	assert_int_equal(l.split[l.nsplit], 256);
	for (int t = 0; t < l.nsplit; t++)
		assert_true(l.split[t] <= l.split[t + 1]);
	pofa_linear_free(&l);
	free(w);
	/* 1x4 blocks: 1x4 or CSR, whichever the path's measured costs make
	 * cheaper (their break-even sparsities are 1 - 1/cost) */
	w = make_weights(256, 256, BLOCKS14, 0.9);
	assert_int_equal(pofa_linear_pack(&l, w, bias, 256, 256, 0, k, 2, -1), 0);
	int64_t nnz = 0, blocks = 0;
	for (int i = 0; i < 256 * 256; i += 4) {
		int b = 0;
		for (int j = 0; j < 4; j++)
			nnz += w[i + j] != 0.0f, b |= w[i + j] != 0.0f;
		blocks += b;
	}
	double c_csr = (double)nnz / (1.0 - pofa_linear_break_even(k->path, POFA_LIN_CSR, 2)),
	       c_b14 = 4.0 * (double)blocks / (1.0 - pofa_linear_break_even(k->path, POFA_LIN_B14, 2));
	if (l.fmt != (c_b14 < c_csr ? POFA_LIN_B14 : POFA_LIN_CSR))
		fail_msg("1x4 weights (%lld values in %lld blocks) on %s: expected %s (costs csr %.0f, 1x4 %.0f), got %s",
		         (long long)nnz, (long long)blocks, pofa_cpu_path_names[k->path],
		         pofa_linear_fmt_names[c_b14 < c_csr ? POFA_LIN_B14 : POFA_LIN_CSR], c_csr, c_b14,
		         pofa_linear_fmt_names[l.fmt]);
	pofa_linear_free(&l);
	free(w);
	/* between the break-evens of one thread and of two (measured apart:
	 * CSR shares out better over threads than OpenBLAS at 128 tokens), the
	 * choice follows the thread count, on every path */
	for (int p = 0; p <= (int)pofa_cpu_best(); p++) {
		const pofa_infer_kern *kp = pofa_infer_kern_for((enum pofa_cpu_path)p);
		double be1 = pofa_linear_break_even(kp->path, POFA_LIN_CSR, 1);
		double be2 = pofa_linear_break_even(kp->path, POFA_LIN_CSR, 2);
		if (!(be2 < be1))
			fail_msg("%s: CSR breaks even at %.3f on one thread, %.3f on two; expected two threads lower",
			         pofa_cpu_path_names[p], be1, be2);
		w = make_weights(256, 256, UNSTRUCTURED, 0.5 * (be1 + be2));
		for (int th = 1; th <= 2; th++) {
			int64_t z = 0;
			for (int i = 0; i < 256 * 256; i++)
				z += w[i] == 0.0f;
			double sp = (double)z / (256.0 * 256.0), be = th == 1 ? be1 : be2;
			assert_int_equal(pofa_linear_pack(&l, w, bias, 256, 256, 0, kp, th, -1), 0);
			enum pofa_linear_fmt want = sp > be ? POFA_LIN_CSR : POFA_LIN_DENSE;
			if (l.fmt != want)
				fail_msg("%s, %d thread(s), %.3f sparse (CSR breaks even at %.3f): expected %s, got %s",
				         pofa_cpu_path_names[p], th, sp, be, pofa_linear_fmt_names[want],
				         pofa_linear_fmt_names[l.fmt]);
			pofa_linear_free(&l);
		}
		free(w);
	}
	free(bias);
}

/* ---- whole models ------------------------------------------------------------------ */

static void prune_model(pofa_model *m, double sparsity)
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++)
		if (t[i].prunable)
			for (int64_t j = 0; j < t[i].numel; j++)
				if (urand() < sparsity)
					t[i].data[j] = 0.0f;
}

static void fill_batch(int B, int T, int V, int *ids, int *types, int *mask, int *mlm)
{
	for (int b = 0; b < B; b++) {
		int len = T - 3 * b; /* later sequences padded */
		for (int t = 0; t < T; t++) {
			int n = b * T + t;
			ids[n] = t < len ? 5 + (int)(urand() * (V - 5)) : 0;
			types[n] = t > len / 2 && t < len;
			mask[n] = t < len;
			mlm[n] = t < len && t % 3 == 1 ? ids[n] : POFA_IGNORE;
		}
	}
}

/* the training forward (dense, masked weights) and the forward-only path */
/* m's int8 model written to DIR/model.int8.safetensors and opened in q8 */
static void export_int8(pofa_model *m, const char *dir, pofa_st_file *q8)
{
	pofa_err err;
	char path[600];
	snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
	if (pofa_model_export_int8(m, path, &err) || pofa_st_open(q8, path, &err))
		fail_msg("%s", err.msg);
	/* each int32 bias is the float bias at the product's scale (input's
	 * times weight's), rounded to the nearest: within half a step */
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t), checked = 0;
	for (int i = 0; i < n; i++) {
		if (!t[i].prunable || t[i].absent)
			continue;
		char name[200];
		float in[2], *ws = malloc((size_t)t[i].shape[0] * sizeof *ws);
		int32_t *bq = malloc((size_t)t[i].shape[0] * sizeof *bq);
		const int len = (int)strlen(t[i].name) - 7;   /* less ".weight" */
		snprintf(name, sizeof name, "%.*s.input_scale_zero_point", len, t[i].name);
		const pofa_st_tensor *ti = pofa_st_find(q8, name);
		snprintf(name, sizeof name, "%.*s.weight_scale", len, t[i].name);
		const pofa_st_tensor *ts = pofa_st_find(q8, name);
		snprintf(name, sizeof name, "%.*s.bias_int32", len, t[i].name);
		const pofa_st_tensor *tb = pofa_st_find(q8, name);
		assert_non_null(ti);
		assert_non_null(ts);
		assert_non_null(tb);
		assert_int_equal(pofa_st_read_f32(q8, ti, in, &err), 0);
		assert_int_equal(pofa_st_read_f32(q8, ts, ws, &err), 0);
		memcpy(bq, q8->buf + q8->data_off + tb->begin, (size_t)t[i].shape[0] * sizeof *bq);
		const pofa_tensor *b = pofa_model_tensor(m, t[i].layer, t[i].role, POFA_PARAM_BIAS);
		for (int64_t r = 0; r < t[i].shape[0]; r++) {
			double sc = (double)in[0] * ws[ts->shape[0] == 1 ? 0 : r];
			/* half a step, and the float division's rounding (a few ulps) */
			double x = b->data[r] / sc;
			if (sc > 0.0 && !(fabs((double)bq[r] - x) <= 0.5 + 1e-3 + 1e-6 * fabs(x)))
				fail_msg("%s[%lld]: the float bias %.9g at scale %.6g is %.4f steps; its int32 is %d, not the "
				         "nearest whole number", name, (long long)r, b->data[r], sc, x, bq[r]);
			checked += sc > 0.0;
		}
		free(ws);
		free(bq);
	}
	assert_true(checked > 0);
}

static double compare(pofa_model *m, pofa_infer *inf, const pofa_batch *b)
{
	pofa_err err;
	if (pofa_model_forward(m, b, 0, &err))
		fail_msg("%s", err.msg);
	if (pofa_infer_forward(inf, b, &err))
		fail_msg("%s", err.msg);
	int r1, c1, r2, c2;
	const float *a = pofa_model_logits(m, &r1, &c1), *z = pofa_infer_logits(inf, &r2, &c2);
	assert_int_equal(r1, r2);
	assert_int_equal(c1, c2);
	double worst = 0.0;
	for (size_t i = 0; i < (size_t)r1 * c1; i++)
		worst = fmax(worst, fabs((double)a[i] - z[i]));
	if (pofa_model_head(m) == POFA_HEAD_MLM) {
		const int *p1 = pofa_model_logit_positions(m), *p2 = pofa_infer_logit_positions(inf);
		assert_memory_equal(p1, p2, (size_t)r1 * sizeof *p1);
	}
	FX_NEAR(pofa_infer_task_loss(inf, b), pofa_model_task_loss(m, b, 1.0f), 1e-5);
	return worst;
}

/* the same logits to the bit with 1, 2 and 3 threads, sparse float and
 * int8: rows split by stored values, LayerNorm's sums by fixed blocks of
 * rows. Not where OpenBLAS computes (dense Linears, the masked-LM head's
 * products over tokens): each thread gives it its own rows, and its sums
 * depend on how many (small products take other kernels). */
static void test_threads_same_bits(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("infer");
	pofa_config c = fx_config(60, 88, 40); /* 88 rows: LayerNorm in five blocks of 16 and one of 8 */
	enum { B = 2, T = 21 };
	int ids[B * T], types[B * T], mask[B * T], mlm[B * T], lab[B] = { 1, 0 }, sp[B] = { 1, 3 }, ep[B] = { 2, 6 };
	static const enum pofa_head heads[] = { POFA_HEAD_CLS, POFA_HEAD_SPAN };
	for (size_t h = 0; h < sizeof heads / sizeof *heads; h++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, heads[h], B, T, 2, 5);
		prune_model(m, 0.85);
		pofa_model_set_dropout(m, 0);
		assert_int_equal(pofa_model_set_qat(m, 1, 1, &err), 0);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
		assert_int_equal(pofa_model_forward(m, &b, 1, &err), 0);
		pofa_st_file q8;
		export_int8(m, dir, &q8);
		for (int p = 0; p <= (int)pofa_cpu_best(); p++)
			for (int v = 0; v < 2; v++) { /* float in CSR, int8 */
				float *first = NULL;
				size_t count = 0;
				for (int threads = 1; threads <= 3; threads++) {
					pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = threads,
					                      .int8 = v ? POFA_INT8_ON : POFA_INT8_OFF,
					                      .force_fmt = v ? -1 : POFA_LIN_CSR, .cpu = p };
					pofa_infer *inf = pofa_infer_from_model(m, v ? &q8 : NULL, &o, &err);
					if (!inf)
						fail_msg("%s", err.msg);
					assert_int_equal(pofa_infer_forward(inf, &b, &err), 0);
					int r, cols;
					const float *z = pofa_infer_logits(inf, &r, &cols);
					if (!first) {
						count = (size_t)r * cols;
						first = malloc(count * sizeof *first);
						memcpy(first, z, count * sizeof *first);
					} else {
						assert_int_equal((size_t)r * cols, count);
						for (size_t i = 0; i < count; i++)
							if (memcmp(&first[i], &z[i], sizeof *z))
								fail_msg("%s head, %s, %s: logit %zu with %d threads is %.9g, with 1 thread %.9g",
								         pofa_head_names[heads[h]], pofa_cpu_path_names[p],
								         v ? "int8" : "float", i, threads, z[i], first[i]);
					}
					pofa_infer_free(inf);
				}
				free(first);
			}
		pofa_st_close(&q8);
		pofa_model_free(m);
	}
	fx_tmpdir_remove();
}

/* 512 tokens: a width whose rows get a padded leading dimension
 * (POFA_LD), float and int8, every head, against the training forward */
static void test_wide_batch(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("infer");
	pofa_config c = fx_config(60, 32, 32);
	enum { B = 16, T = 32 };
	static int ids[B * T], types[B * T], mask[B * T], mlm[B * T];
	int lab[B], sp[B], ep[B];
	for (int i = 0; i < B; i++)
		lab[i] = i % 3, sp[i] = i % 5, ep[i] = i % 5 + 2;
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, head, B, T, 2, 31 + head);
		prune_model(m, 0.9);
		pofa_model_set_dropout(m, 0);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
		pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_OFF, .force_fmt = -1,
		                      .cpu = -1 };
		pofa_infer *inf = pofa_infer_from_model(m, NULL, &o, &err);
		if (!inf)
			fail_msg("%s", err.msg);
		double d = compare(m, inf, &b);
		if (!(d <= 1e-5))
			fail_msg("%s head, %d x %d tokens: float logits differ from the dense forward by %.3g (expected <= 1e-5)",
			         pofa_head_names[head], B, T, d);
		pofa_infer_free(inf);
		/* int8 against QAT's simulation */
		assert_int_equal(pofa_model_set_qat(m, 1, 0, &err), 0);
		assert_int_equal(pofa_model_forward(m, &b, 1, &err), 0);
		pofa_st_file q8;
		export_int8(m, dir, &q8);
		o.int8 = POFA_INT8_ON;
		inf = pofa_infer_from_model(m, &q8, &o, &err);
		if (!inf)
			fail_msg("%s", err.msg);
		d = compare(m, inf, &b);
		if (!(d <= 1e-3))
			fail_msg("%s head, %d x %d tokens: int8 logits differ from QAT's simulation by %.3g (expected <= 1e-3)",
			         pofa_head_names[head], B, T, d);
		pofa_infer_free(inf);
		pofa_st_close(&q8);
		pofa_model_free(m);
	}
	fx_tmpdir_remove();
}

/* the activations are made at the first forward, for its batch, and grown
 * when a larger one comes: a model opened for 4 x 40 tokens holds none
 * until then, and batches of changing sizes (larger, smaller, larger
 * again) each give the training forward's logits, every head */
static void test_acts_grow(void **st)
{
	(void)st;
	pofa_config c = fx_config(60, 32, 48);
	enum { MB = 4, MT = 40 };
	static int ids[MB * MT], types[MB * MT], mask[MB * MT], mlm[MB * MT];
	int lab[MB] = { 0, 1, 2, 1 }, sp[MB] = { 1, 2, 3, 1 }, ep[MB] = { 4, 5, 6, 2 };
	static const int shapes[][2] = { { 1, 8 }, { 3, 20 }, { 2, 12 }, { 4, 40 }, { 1, 30 } };
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, head, MB, MT, 2, 91 + head);
		pofa_model_set_dropout(m, 0);
		pofa_infer_opts o = { .maxB = MB, .maxT = MT, .threads = 2, .int8 = POFA_INT8_OFF, .force_fmt = -1,
		                      .cpu = -1 };
		pofa_infer *inf = pofa_infer_from_model(m, NULL, &o, &err);
		if (!inf)
			fail_msg("%s", err.msg);
		int rows, cols;
		if (pofa_infer_logits(inf, &rows, &cols) != NULL)
			fail_msg("%s head: logits before any forward (expected none: no activations yet)",
			         pofa_head_names[head]);
		for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
			int B = shapes[k][0], T = shapes[k][1];
			fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
			pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
			                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
			double d = compare(m, inf, &b);
			if (!(d <= 1e-5))
				fail_msg("%s head, batch %d x %d after %zu others: logits differ from the dense forward by %.3g "
				         "(expected <= 1e-5)", pofa_head_names[head], B, T, k, d);
		}
		pofa_infer_free(inf);
		pofa_model_free(m);
	}
}

/* another library's dense product in the pass (pofa_infer_set_gemm, as
 * bench/peers.c --pass puts oneDNN's there): a plain triple loop */
typedef struct {
	int calls;
} naive_gemm;

static void naive_gemm_run(void *ctx, int M, int N, int K, const float *w, const float *x, int ld, float *y)
{
	((naive_gemm *)ctx)->calls++;
	for (int i = 0; i < M; i++)
		for (int n = 0; n < N; n++) {
			double acc = 0.0;
			for (int k = 0; k < K; k++)
				acc += (double)w[(size_t)i * K + k] * x[(size_t)k * ld + n];
			y[(size_t)i * ld + n] = (float)acc;
		}
}

/* dense Linears as one OpenBLAS call on its own threads (bias and GELU
 * after, over pofa's), and as another library's product: the training
 * forward's logits, every head; NULL gives OpenBLAS back */
static void test_blas_threads(void **st)
{
	(void)st;
	pofa_config c = fx_config(60, 64, 32);
	enum { B = 3, T = 24 };
	static int ids[B * T], types[B * T], mask[B * T], mlm[B * T];
	int lab[B] = { 0, 1, 2 }, sp[B] = { 1, 2, 3 }, ep[B] = { 4, 5, 6 };
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, head, B, T, 2, 47 + head);
		pofa_model_set_dropout(m, 0);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
		pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_OFF,
		                      .force_fmt = POFA_LIN_DENSE, .cpu = -1 };
		pofa_infer *inf = pofa_infer_from_model(m, NULL, &o, &err);
		if (!inf)
			fail_msg("%s", err.msg);
		pofa_infer_blas_threads(inf, 1);
		double d = compare(m, inf, &b);
		if (!(d <= 1e-5))
			fail_msg("%s head: logits on OpenBLAS's threads differ from the dense forward by %.3g "
			         "(expected <= 1e-5)", pofa_head_names[head], d);
		pofa_infer_blas_threads(inf, 0);
		naive_gemm g = { 0 };
		pofa_infer_set_gemm(inf, naive_gemm_run, &g);
		d = compare(m, inf, &b);
		/* every dense Linear: at least the encoder's four a layer */
		if (!(d <= 1e-5) || g.calls < 4 * c.num_hidden_layers)
			fail_msg("%s head: with another library's product the logits differ from the dense forward by "
			         "%.3g (expected <= 1e-5) after %d calls to it (expected >= %d)", pofa_head_names[head], d,
			         g.calls, 4 * c.num_hidden_layers);
		int before = g.calls;
		pofa_infer_set_gemm(inf, NULL, NULL);
		d = compare(m, inf, &b);
		if (!(d <= 1e-5) || g.calls != before)
			fail_msg("%s head: after pofa_infer_set_gemm(NULL) %d more calls (expected 0), logits off by %.3g",
			         pofa_head_names[head], g.calls - before, d);
		pofa_infer_free(inf);
		pofa_model_free(m);
	}
}

static void test_sparse_models(void **st)
{
	(void)st;
	pofa_config c = fx_config(60, 32, 32);
	enum { B = 3, T = 20 };
	int ids[B * T], types[B * T], mask[B * T], mlm[B * T], lab[B] = { 0, 2, 1 }, sp[B] = { 1, 3, 5 },
	    ep[B] = { 2, 6, 5 };
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_model *m = fx_model(&c, head, B, T, 2, 11 + head);
		prune_model(m, 0.9);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
		for (int p = 0; p <= (int)pofa_cpu_best(); p++)
			for (int fmt = -1; fmt < POFA_LIN_I8; fmt++) {
				pofa_err err;
				pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_OFF,
				                      .force_fmt = fmt, .cpu = p };
				pofa_infer *inf = pofa_infer_from_model(m, NULL, &o, &err);
				if (!inf)
					fail_msg("%s", err.msg);
				double d = compare(m, inf, &b);
				if (!(d <= 1e-5))
					fail_msg("%s head, path %s, format %s: logits differ from the dense forward by %.3g "
					         "(expected <= 1e-5)", pofa_head_names[head], pofa_cpu_path_names[p],
					         fmt < 0 ? "chosen" : pofa_linear_fmt_names[fmt], d);
				/* a smaller batch than it was opened for */
				pofa_batch b1 = b;
				b1.B = 1;
				d = compare(m, inf, &b1);
				assert_true(d <= 1e-5);
				pofa_infer_free(inf);
			}
		pofa_model_free(m);
	}
}

/* pofa_infer_open of a float folder uses the file's own values where its
 * mapping holds them (no copy; the dense matrices borrowed), with the same
 * logits to the bit as the model loaded and packed; a file it cannot see in
 * place (float16) is loaded as before, and a NaN is refused either way */
static void test_open_in_place(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("inplace");
	pofa_config c = fx_config(60, 32, 32);
	enum { B = 2, T = 12 };
	int ids[B * T], types[B * T], mask[B * T], mlm[B * T];
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, head, B, T, 1, 41 + head);
		/* layer 0 pruned (a sparse format), layer 1 dense (borrowed) */
		pofa_tensor *t;
		int n = pofa_model_tensors(m, &t);
		for (int i = 0; i < n; i++)
			if (t[i].prunable && t[i].layer == 0)
				for (int64_t j = 0; j < t[i].numel; j++)
					if (j % 10)
						t[i].data[j] = 0.0f;
		char mdir[600];
		snprintf(mdir, sizeof mdir, "%s/m%d", dir, head);
		assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm };
		pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_OFF, .force_fmt = -1,
		                      .cpu = -1 };
		pofa_infer *a = pofa_infer_open(mdir, &o, &err);
		if (!a)
			fail_msg("%s", err.msg);
		if (!a->wmap)
			fail_msg("%s head: a float32 folder was copied, not used in place", pofa_head_names[head]);
		int borrowed = 0, sparse = 0;
		for (int l = 0; l < a->L; l++) {
			const pofa_linear *ls[4] = { &a->lay[l].qkv, &a->lay[l].ao, &a->lay[l].fc, &a->lay[l].fp };
			for (int k = 0; k < 4; k++) {
				borrowed += ls[k]->dense_borrowed;
				sparse += ls[k]->fmt != POFA_LIN_DENSE;
			}
		}
		print_message("  %s head: %d matrices borrowed from the file, %d packed sparse\n",
		              pofa_head_names[head], borrowed, sparse);
		if (borrowed < 3 || sparse < 3)
			fail_msg("%s head: expected layer 1's three unstacked matrices borrowed and layer 0's packed, got %d "
			         "borrowed, %d sparse", pofa_head_names[head], borrowed, sparse);
		pofa_infer *r = pofa_infer_from_model(m, NULL, &o, &err);
		assert_non_null(r);
		assert_int_equal(pofa_infer_forward(a, &b, &err), 0);
		assert_int_equal(pofa_infer_forward(r, &b, &err), 0);
		int r1, c1, r2, c2;
		const float *la = pofa_infer_logits(a, &r1, &c1), *lr = pofa_infer_logits(r, &r2, &c2);
		assert_int_equal(r1 * c1, r2 * c2);
		if (memcmp(la, lr, (size_t)r1 * c1 * sizeof *la))
			fail_msg("%s head: logits in place differ from the loaded model's", pofa_head_names[head]);
		pofa_infer_free(a);

		/* float16: not seen in place, loaded (and converted) as before */
		pofa_st_out *outs = calloc((size_t)n, sizeof *outs);
		uint16_t **half = calloc((size_t)n, sizeof *half);
		int k = 0;
		for (int i = 0; i < n; i++) {
			if (t[i].absent)
				continue;
			half[k] = malloc((size_t)t[i].numel * 2);
			for (int64_t j = 0; j < t[i].numel; j++)
				half[k][j] = pofa_float_to_half(t[i].data[j]);
			outs[k] = (pofa_st_out){ t[i].name, half[k], t[i].ndim, { t[i].shape[0], t[i].shape[1] }, POFA_F16 };
			k++;
		}
		char path[700];
		snprintf(path, sizeof path, "%s/model.safetensors", mdir);
		assert_int_equal(pofa_st_write(path, outs, k, NULL, 0, &err), 0);
		pofa_infer *h = pofa_infer_open(mdir, &o, &err);
		if (!h)
			fail_msg("%s head, float16 file: %s", pofa_head_names[head], err.msg);
		assert_null(h->wmap);
		assert_int_equal(pofa_infer_forward(h, &b, &err), 0);
		pofa_infer_free(h);
		for (int i = 0; i < k; i++)
			free(half[i]);
		free(half);
		free(outs);

		/* a NaN in a float32 file: refused in place as when loading, the
		 * tensor and element named - in the value part of the stacked
		 * QKV, which packing reads from the file (row 5, column 3) */
		pofa_tensor *vt = pofa_model_tensor(m, 1, POFA_ROLE_VALUE, POFA_PARAM_WEIGHT);
		int64_t at = 5 * vt->shape[1] + 3;
		vt->data[at] = NAN;
		assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
		pofa_infer *bad = pofa_infer_open(mdir, &o, &err);
		assert_null(bad);
		char says[64];
		snprintf(says, sizeof says, "element %lld is nan", (long long)at);
		if (!strstr(err.msg, says) || !strstr(err.msg, "model.safetensors") || !strstr(err.msg, vt->name) ||
		    err.status != POFA_ERR_INPUT)
			fail_msg("%s head: a NaN: expected '%s' naming the file and %s, got: %s (status %d)",
			         pofa_head_names[head], says, vt->name, err.msg, err.status);
		vt->data[at] = 0.0f;
		/* and in a LayerNorm, which the forward reads in place */
		pofa_tensor *lt = pofa_model_tensor(m, 0, POFA_ROLE_FFN_LN, POFA_PARAM_WEIGHT);
		lt->data[2] = INFINITY;
		assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
		assert_null(pofa_infer_open(mdir, &o, &err));
		if (!strstr(err.msg, "element 2 is inf") || !strstr(err.msg, lt->name))
			fail_msg("%s head: an infinity: expected 'element 2 is inf' naming %s, got: %s", pofa_head_names[head],
			         lt->name, err.msg);
		pofa_infer_free(r);
		pofa_model_free(m);
	}
	fx_tmpdir_remove();
}

/* The int8 model against QAT's simulated evaluation: the same integers, so
 * the logits differ only by float rounding, except where a rounding
 * boundary of a later layer's input quantization falls between the two
 * sums; there one input moves by one step. The bound: a logit moves by at
 * most a few such steps times the weights after them; measured here well
 * below 1e-3 on logits of order 1, so 1e-3 is asked for (and argmax
 * agreement, which the shell tests check on real dev sets). */
static void test_int8_model(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("infer");
	pofa_config c = fx_config(60, 32, 32);
	enum { B = 3, T = 20 };
	int ids[B * T], types[B * T], mask[B * T], mlm[B * T], lab[B] = { 0, 2, 1 }, sp[B] = { 1, 3, 5 },
	    ep[B] = { 2, 6, 5 };
	for (int per_channel = 0; per_channel < 2; per_channel++)
		for (int head = 0; head < POFA_HEAD_COUNT; head++) {
			pofa_err err;
			pofa_model *m = fx_model(&c, head, B, T, 2, 21 + head);
			prune_model(m, 0.8);
			/* biases as training leaves them, not the initial zeros: their
			 * int32 form is checked (export_int8) */
			pofa_tensor *tb;
			int nb = pofa_model_tensors(m, &tb);
			for (int i = 0; i < nb; i++)
				if (tb[i].prunable && !tb[i].absent) {
					pofa_tensor *bias = pofa_model_tensor(m, tb[i].layer, tb[i].role, POFA_PARAM_BIAS);
					for (int64_t j = 0; j < bias->numel; j++)
						bias->data[j] = 0.05f * frand();
				}
			pofa_model_set_dropout(m, 0);
			assert_int_equal(pofa_model_set_qat(m, 1, per_channel, &err), 0);
			for (int k = 0; k < 4; k++) { /* the input ranges QAT observes */
				fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
				pofa_batch bt = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types,
				                  .attention_mask = mask, .mlm_labels = mlm, .labels = lab,
				                  .start_positions = sp, .end_positions = ep };
				assert_int_equal(pofa_model_forward(m, &bt, 1, &err), 0);
			}
			pofa_st_file q8;
			export_int8(m, dir, &q8);
			fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
			pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
			                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
			for (int p = 0; p <= (int)pofa_cpu_best(); p++) {
				pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_ON,
				                      .force_fmt = -1, .cpu = p };
				pofa_infer *inf = pofa_infer_from_model(m, &q8, &o, &err);
				if (!inf)
					fail_msg("%s", err.msg);
				pofa_infer_info info;
				pofa_infer_describe(inf, &info);
				assert_int_equal(info.int8, 1);
				assert_int_equal(info.linears[POFA_LIN_I8], 4 * c.num_hidden_layers + (head == POFA_HEAD_CLS));
				double d = compare(m, inf, &b);
				printf("  int8 %s head, %s weights, %s: largest logit difference %.3g\n",
				       pofa_head_names[head], per_channel ? "per-channel" : "per-tensor", pofa_cpu_path_names[p], d);
				if (!(d <= 1e-3))
					fail_msg("int8 %s head on %s: logits differ from QAT's simulation by %.3g (expected <= 1e-3)",
					         pofa_head_names[head], pofa_cpu_path_names[p], d);
				pofa_infer_free(inf);
			}
			pofa_st_close(&q8);
			pofa_model_free(m);
		}
	fx_tmpdir_remove();
}

/* the packed int8 file: read back, the same logits to the bit, for every
 * head; and a damaged one refused, naming the file and the tensor */
static void test_packed(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("packed");
	pofa_config c = fx_config(60, 32, 32);
	enum { B = 2, T = 12 };
	int ids[B * T], types[B * T], mask[B * T], mlm[B * T], lab[B] = { 0, 2 }, sp[B] = { 1, 3 }, ep[B] = { 2, 6 };
	char path[700], mdir[600];
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, head, B, T, 1, 31 + head);
		prune_model(m, 0.85);
		pofa_model_set_dropout(m, 0);
		assert_int_equal(pofa_model_set_qat(m, 1, head == POFA_HEAD_CLS, &err), 0);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm, .labels = lab, .start_positions = sp, .end_positions = ep };
		assert_int_equal(pofa_model_forward(m, &b, 1, &err), 0);
		snprintf(mdir, sizeof mdir, "%s/m%d", dir, head);
		assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
		snprintf(path, sizeof path, "%s/model.int8.safetensors", mdir);
		assert_int_equal(pofa_model_export_int8(m, path, &err), 0);
		/* a: the int8 model with float16 word embeddings, as packed; f32: with float32 ones */
		pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_ON, .force_fmt = -1, .cpu = -1,
		                      .emb16 = 1 }, o32 = o;
		o32.emb16 = 0;
		pofa_infer *a = pofa_infer_open(mdir, &o, &err), *f32 = pofa_infer_open(mdir, &o32, &err);
		if (!a || !f32)
			fail_msg("%s", err.msg);
		snprintf(path, sizeof path, "%s/model.packed.safetensors", mdir);
		assert_int_equal(pofa_infer_save_packed(a, path, &err), 0);
		pofa_infer *p = pofa_infer_open(mdir, &o, &err); /* now from the packed file */
		if (!p)
			fail_msg("%s", err.msg);
		pofa_infer_info ia, ip;
		pofa_infer_describe(a, &ia);
		pofa_infer_describe(p, &ip);
		assert_int_equal(ip.int8, 1);
		assert_int_equal(ia.weight_bytes, ip.weight_bytes);
		assert_int_equal(pofa_infer_forward(a, &b, &err), 0);
		assert_int_equal(pofa_infer_forward(p, &b, &err), 0);
		int r1, c1, r2, c2;
		const float *la = pofa_infer_logits(a, &r1, &c1), *lp = pofa_infer_logits(p, &r2, &c2);
		assert_int_equal(r1, r2);
		assert_int_equal(c1, c2);
		if (memcmp(la, lp, (size_t)r1 * c1 * sizeof *la))
			fail_msg("%s head: the packed file's logits differ from the model's", pofa_head_names[head]);
		/* float16 word embeddings against float32 ones: a relative rounding of
		 * 2^-11 before the first LayerNorm; a later input quantization may
		 * round the other way where a value sits on a boundary (one step), so
		 * the bound is a few steps' worth on logits of order 1 */
		pofa_infer_info i32;
		pofa_infer_describe(f32, &i32);
		if (head == POFA_HEAD_MLM) /* its decoder is the embeddings: floats of the rounded values */
			assert_true(ip.weight_bytes == i32.weight_bytes);
		else
			assert_true(ip.weight_bytes < i32.weight_bytes);
		assert_int_equal(pofa_infer_forward(f32, &b, &err), 0);
		const float *l32 = pofa_infer_logits(f32, &r2, &c2);
		double d16 = 0;
		for (int i = 0; i < r1 * c1; i++)
			d16 = fmax(d16, fabs((double)l32[i] - la[i]));
		print_message("  %s head: float16 word embeddings move the int8 logits by %.3g at most\n",
		              pofa_head_names[head], d16);
		if (!(d16 <= 2e-2))
			fail_msg("%s head: float16 word embeddings moved a logit by %.3g (expected <= 2e-2)",
			         pofa_head_names[head], d16);
		pofa_infer_free(f32);
		/* the packed file alone (config.json beside it) is the whole model */
		char alone[700];
		snprintf(alone, sizeof alone, "%s/alone%d", dir, head);
		assert_int_equal(mkdir(alone, 0755), 0);
		char from[760], to[760];
		snprintf(from, sizeof from, "%s/config.json", mdir);
		snprintf(to, sizeof to, "%s/config.json", alone);
		assert_int_equal(rename(from, to), 0);
		snprintf(to, sizeof to, "%s/model.packed.safetensors", alone);
		assert_int_equal(rename(path, to), 0);
		pofa_infer *q = pofa_infer_open(alone, &o, &err);
		if (!q)
			fail_msg("%s head: the packed file alone: %s", pofa_head_names[head], err.msg);
		assert_int_equal(pofa_infer_forward(q, &b, &err), 0);
		const float *lq = pofa_infer_logits(q, &r2, &c2);
		if (memcmp(la, lq, (size_t)r1 * c1 * sizeof *la))
			fail_msg("%s head: the packed file alone gives other logits", pofa_head_names[head]);
		assert_int_equal(rename(to, path), 0);
		snprintf(to, sizeof to, "%s/config.json", alone);
		assert_int_equal(rename(to, from), 0);
		pofa_infer_free(q);
		pofa_infer_free(a);
		pofa_infer_free(p);
		pofa_model_free(m);
	}
	/* damage: the classifier's packed file, one tensor at a time */
	snprintf(mdir, sizeof mdir, "%s/m%d", dir, POFA_HEAD_CLS);
	snprintf(path, sizeof path, "%s/model.packed.safetensors", mdir);
	size_t n;
	unsigned char *good = fx_slurp(path, &n);
	pofa_st_file f;
	pofa_err err;
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	static const struct { const char *tensor, *damage, *says; } cases[] = {
		{ "bert.encoder.layer.0.attention.self.qkv.rowptr", "order", "out of order" },
		{ "bert.encoder.layer.1.intermediate.dense.col", "odd", "a block starts at a multiple of 4" },
		{ "bert.encoder.layer.0.output.dense.col", "big", "a block starts at a multiple of 4" },
		{ "bert.pooler.dense.q", "-128", "holds -128" },
		{ "bert.encoder.layer.1.output.dense.weight_scale", "nan", "is not finite" },
		{ "bert.encoder.layer.0.attention.output.dense.input_scale_zero_point", "zp", "zero point a whole number" },
		{ "bert.embeddings.word_embeddings.weight", "nan", "weights must be finite" },
		{ "classifier.bias", "drop", "classifier.bias: missing" },
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const pofa_st_tensor *t = pofa_st_find(&f, cases[k].tensor);
		assert_non_null(t);
		unsigned char *bad = malloc(n);
		memcpy(bad, good, n);
		unsigned char *d = bad + f.data_off + t->begin;
		const char *dm = cases[k].damage;
		if (!strcmp(dm, "order")) {
			int32_t v = -5;
			memcpy(d + 8, &v, 4);
		} else if (!strcmp(dm, "odd")) {
			d[0] = 2;
		} else if (!strcmp(dm, "big")) {
			d[0] = 0xfc;
			d[1] = 0xff;
		} else if (!strcmp(dm, "-128")) {
			d[1] = 0x80;
		} else if (!strcmp(dm, "nan")) {
			float v = NAN;
			memcpy(d, &v, 4);
		} else if (!strcmp(dm, "zp")) {
			float v = 2.5f;
			memcpy(d + 4, &v, 4);
		} else if (!strcmp(dm, "drop")) {
			/* rename the tensor in the header */
			char *h = memmem(bad, f.data_off, "\"classifier.bias\"", 17);
			assert_non_null(h);
			h[1] = 'X';
		}
		fx_spit(path, bad, n);
		pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 1, .int8 = POFA_INT8_AUTO, .force_fmt = -1, .cpu = -1 };
		memset(&err, 0, sizeof err);
		pofa_infer *inf = pofa_infer_open(mdir, &o, &err);
		if (inf || err.status != POFA_ERR_INPUT || !strstr(err.msg, path) || !strstr(err.msg, cases[k].says))
			fail_msg("damage %s of %s: expected a refusal naming the file and saying \"%s\", got %s (status %d)",
			         dm, cases[k].tensor, cases[k].says, inf ? "a model" : err.msg, err.status);
		free(bad);
	}
	pofa_st_close(&f);
	free(good);
	fx_tmpdir_remove();
}

/* the packed float32 file: for every head and every float format a
 * Linear can be packed in, read back to the same logits to the bit
 * (packing again from its nonzeros, no pass over the zeros); the file
 * alone is the model; a damaged one is refused, file and tensor named */
static void test_packed_float(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("packedf");
	pofa_config c = fx_config(60, 32, 32);
	enum { B = 2, T = 12 };
	int ids[B * T], types[B * T], mask[B * T], mlm[B * T];
	char path[700], mdir[600];
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_err err;
		pofa_model *m = fx_model(&c, head, B, T, 1, 41 + head);
		prune_model(m, 0.85);
		pofa_model_set_dropout(m, 0);
		fill_batch(B, T, c.vocab_size, ids, types, mask, mlm);
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm };
		snprintf(mdir, sizeof mdir, "%s/m%d", dir, head);
		assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
		snprintf(path, sizeof path, "%s/model.packed.safetensors", mdir);
		for (int fmt = -1; fmt < POFA_LIN_I8; fmt++) {
			pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 2, .int8 = POFA_INT8_AUTO, .force_fmt = fmt,
			                      .cpu = -1 };
			remove(path);
			pofa_infer *a = pofa_infer_open(mdir, &o, &err);
			if (!a)
				fail_msg("%s", err.msg);
			assert_int_equal(pofa_infer_save_packed(a, path, &err), 0);
			pofa_st_file f;
			assert_int_equal(pofa_st_open(&f, path, &err), 0);
			assert_string_equal(pofa_st_meta(&f, "weights"), "float32");
			pofa_st_close(&f);
			pofa_infer *p = pofa_infer_open(mdir, &o, &err);
			if (!p)
				fail_msg("%s", err.msg);
			pofa_infer_info ia, ip;
			pofa_infer_describe(a, &ia);
			pofa_infer_describe(p, &ip);
			assert_int_equal(ip.int8, 0);
			for (int k = 0; k < POFA_LINEAR_FMT_COUNT; k++)
				assert_int_equal(ia.linears[k], ip.linears[k]);
			assert_true(fabs(ia.sparsity - ip.sparsity) < 1e-12);
			assert_int_equal(pofa_infer_forward(a, &b, &err), 0);
			assert_int_equal(pofa_infer_forward(p, &b, &err), 0);
			int r1, c1, r2, c2;
			const float *la = pofa_infer_logits(a, &r1, &c1), *lp = pofa_infer_logits(p, &r2, &c2);
			assert_int_equal(r1, r2);
			assert_int_equal(c1, c2);
			if (memcmp(la, lp, (size_t)r1 * c1 * sizeof *la))
				fail_msg("%s head, format %s: the packed file's logits differ from the model's",
				         pofa_head_names[head], fmt < 0 ? "chosen" : pofa_linear_fmt_names[fmt]);
			pofa_infer_free(a);
			pofa_infer_free(p);
		}
		/* without model.safetensors: the packed file is the model */
		char wpath[700], aside[720];
		snprintf(wpath, sizeof wpath, "%s/model.safetensors", mdir);
		snprintf(aside, sizeof aside, "%s.aside", wpath);
		assert_int_equal(rename(wpath, aside), 0);
		pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 1, .int8 = POFA_INT8_AUTO, .force_fmt = -1, .cpu = -1 };
		pofa_infer *q = pofa_infer_open(mdir, &o, &err);
		if (!q)
			fail_msg("%s head: the packed file alone: %s", pofa_head_names[head], err.msg);
		pofa_infer_free(q);
		assert_int_equal(rename(aside, wpath), 0);
		pofa_model_free(m);
	}
	/* damage: the classifier's packed file (sparse Linears by their nonzeros) */
	snprintf(mdir, sizeof mdir, "%s/m%d", dir, POFA_HEAD_CLS);
	snprintf(path, sizeof path, "%s/model.packed.safetensors", mdir);
	pofa_err err;
	pofa_infer_opts o = { .maxB = B, .maxT = T, .threads = 1, .int8 = POFA_INT8_AUTO, .force_fmt = POFA_LIN_CSR,
	                      .cpu = -1 };
	pofa_infer *a = pofa_infer_open(mdir, &o, &err);
	remove(path);
	assert_non_null(a);
	assert_int_equal(pofa_infer_save_packed(a, path, &err), 0);
	pofa_infer_free(a);
	size_t n;
	unsigned char *good = fx_slurp(path, &n);
	pofa_st_file f;
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	static const struct { const char *tensor, *damage, *says; } cases[] = {
		{ "bert.encoder.layer.0.attention.self.qkv.rowptr", "order", "out of order" },
		{ "bert.encoder.layer.1.intermediate.dense.col", "big", "a row's columns increase and stay below" },
		{ "bert.encoder.layer.0.output.dense.col", "repeat", "a row's columns increase" },
		{ "bert.pooler.dense.val", "nan", "weights must be finite" },
		{ "bert.encoder.layer.1.output.dense.bias", "nan", "weights must be finite" },
		{ "bert.embeddings.word_embeddings.weight", "nan", "weights must be finite" },
		{ "classifier.bias", "drop", "classifier.bias: missing" },
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const pofa_st_tensor *t = pofa_st_find(&f, cases[k].tensor);
		if (!t)
			fail_msg("the packed file has no %s", cases[k].tensor);
		unsigned char *bad = malloc(n);
		memcpy(bad, good, n);
		unsigned char *d = bad + f.data_off + t->begin;
		const char *dm = cases[k].damage;
		if (!strcmp(dm, "order")) {
			int32_t v = -5;
			memcpy(d + 8, &v, 4);
		} else if (!strcmp(dm, "big")) {
			d[0] = 0xfc;
			d[1] = 0xff;
		} else if (!strcmp(dm, "repeat")) {
			memcpy(d + 2, d, 2);
		} else if (!strcmp(dm, "nan")) {
			float v = NAN;
			memcpy(d, &v, 4);
		} else if (!strcmp(dm, "drop")) {
			char *h = memmem(bad, f.data_off, "\"classifier.bias\"", 17);
			assert_non_null(h);
			h[1] = 'X';
		}
		fx_spit(path, bad, n);
		pofa_infer_opts od = { .maxB = B, .maxT = T, .threads = 1, .int8 = POFA_INT8_AUTO, .force_fmt = -1, .cpu = -1 };
		memset(&err, 0, sizeof err);
		pofa_infer *inf = pofa_infer_open(mdir, &od, &err);
		if (inf || err.status != POFA_ERR_INPUT || !strstr(err.msg, path) || !strstr(err.msg, cases[k].says))
			fail_msg("damage %s of %s: expected a refusal naming the file and saying \"%s\", got %s (status %d)",
			         dm, cases[k].tensor, cases[k].says, inf ? "a model" : err.msg, err.status);
		free(bad);
	}
	pofa_st_close(&f);
	free(good);
	fx_tmpdir_remove();
}

/* the predictor (predict.h): several threads predicting on one loaded
 * model get what one thread gets, for every head */
typedef struct {
	pofa_predictor *p;
	const pofa_text *t;
	int n, rounds;
	const pofa_prediction *want;
	int bad;
} pred_job;

/* the same answers; probabilities and scores to 1e-6 (OpenBLAS, which runs
 * the masked-LM head, may share its threads otherwise when called from
 * several at once, and so order a sum otherwise) */
static int same_prediction(const pofa_prediction *a, const pofa_prediction *b)
{
	if (a->k != b->k || a->nmasks != b->nmasks || a->start != b->start || a->end != b->end ||
	    fabs(a->score - b->score) > 1e-6 * (1 + fabs(a->score)) || a->masks_cut != b->masks_cut)
		return 0;
	int n = a->k * (a->nmasks ? a->nmasks : 1);
	for (int i = 0; i < n; i++)
		if (a->best[i].id != b->best[i].id || fabs(a->best[i].prob - b->best[i].prob) > 1e-6)
			return 0;
	return 1;
}

static void *pred_thread(void *arg)
{
	pred_job *j = arg;
	pofa_prediction r[32];
	pofa_err err;
	for (int k = 0; k < j->rounds && !j->bad; k++) {
		if (pofa_predict(j->p, j->t, j->n, r, &err)) {
			j->bad = 1;
			break;
		}
		for (int i = 0; i < j->n; i++)
			if (!same_prediction(&r[i], &j->want[i])) {
				const pofa_prediction *a = &r[i], *w = &j->want[i];
				print_error("text %d: k %d/%d masks %d/%d span [%ld, %ld)/[%ld, %ld) first %d %.9f / %d %.9f\n", i,
				            a->k, w->k, a->nmasks, w->nmasks, a->start, a->end, w->start, w->end,
				            a->best ? a->best[0].id : -1, a->best ? a->best[0].prob : 0.0,
				            w->best ? w->best[0].id : -1, w->best ? w->best[0].prob : 0.0);
				j->bad = 1;
			}
		pofa_prediction_free(r, j->n);
	}
	return NULL;
}

static void test_predictor_threads(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("predictor");
	static const char *const words[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
	                                     "mat", "a", "dog", "ran", "far", "##s", "big", "red", "sun" };
	enum { NW = sizeof words / sizeof *words, N = 24 };
	char vpath[700], mdir[600];
	snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
	FILE *f = fopen(vpath, "w");
	for (int i = 0; f && i < NW; i++)
		fprintf(f, "%s\n", words[i]);
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	char texts[N][80];
	pofa_text t[N];
	for (int i = 0; i < N; i++) {
		snprintf(texts[i], sizeof texts[i], "the %s %s on a %s%s", words[5 + i % 13], words[5 + (i * 7) % 13],
		         words[5 + (i * 5) % 13], i % 3 ? " [MASK] far" : "");
		t[i] = (pofa_text){ .a = texts[i], .na = -1, .b = i % 2 ? "a big red sun" : NULL, .nb = -1 };
	}
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_config c = fx_config(NW, 32, 32);
		c.num_labels = 5;
		pofa_err err;
		pofa_model *m = fx_model(&c, head, 2, 16, 1, 51 + head);
		prune_model(m, 0.8);
		snprintf(mdir, sizeof mdir, "%s/m%d", dir, head);
		assert_int_equal(pofa_model_save(m, mdir, vpath, &err), 0);
		pofa_model_free(m);
		pofa_predictor_opts o = { .batch = 5, .threads = 1, .top = 3 };
		pofa_predictor *p = pofa_predictor_open(mdir, &o, &err);
		if (!p)
			fail_msg("%s", err.msg);
		assert_int_equal(pofa_predictor_head(p), head);
		pofa_prediction want[N];
		assert_int_equal(pofa_predict(p, t, N, want, &err), 0);
		/* the same texts one at a time: batches padded otherwise give the same */
		for (int i = 0; i < N; i++) {
			pofa_prediction one;
			assert_int_equal(pofa_predict(p, &t[i], 1, &one, &err), 0);
			if (head == POFA_HEAD_CLS) {
				assert_int_equal(one.k, 3);
				assert_non_null(pofa_predictor_label(p, one.best[0].id) ? "" : "LABEL");
				assert_true(one.best[0].prob >= one.best[1].prob && one.best[1].prob >= one.best[2].prob);
				assert_int_equal(one.best[0].id, want[i].best[0].id);
				assert_true(fabs(one.best[0].prob - want[i].best[0].prob) < 1e-5);
			} else if (head == POFA_HEAD_MLM) {
				assert_int_equal(one.nmasks, i % 3 ? 1 : 0);
				for (int k = 0; k < one.k * one.nmasks; k++)
					assert_true(one.best[k].id > 4);   /* never a special token */
			} else {
				const char *ctx = t[i].b ? t[i].b : t[i].a;
				assert_true(one.start >= 0 && one.end > one.start && one.end <= (long)strlen(ctx));
			}
			pofa_prediction_free(&one, 1);
		}
		pthread_t th[4];
		pred_job jobs[4];
		for (int k = 0; k < 4; k++) {
			jobs[k] = (pred_job){ p, t, N, 6, want, 0 };
			assert_int_equal(pthread_create(&th[k], NULL, pred_thread, &jobs[k]), 0);
		}
		for (int k = 0; k < 4; k++) {
			pthread_join(th[k], NULL);
			if (jobs[k].bad)
				fail_msg("%s head: thread %d predicted otherwise than one thread alone", pofa_head_names[head], k);
		}
		pofa_prediction_free(want, N);
		pofa_predictor_close(p);
	}
	/* a folder whose vocabulary does not fit its model: refused, named */
	snprintf(mdir, sizeof mdir, "%s/m%d", dir, POFA_HEAD_CLS);
	snprintf(vpath, sizeof vpath, "%s/vocab.txt", mdir);
	f = fopen(vpath, "a");
	assert_non_null(f);
	fputs("extra\n", f);
	fclose(f);
	pofa_err err;
	assert_null(pofa_predictor_open(mdir, NULL, &err));
	assert_int_equal(err.status, POFA_ERR_INPUT);
	assert_non_null(strstr(err.msg, "do not belong together"));
	fx_tmpdir_remove();
}

/* a damaged model.int8.safetensors: refused, the file and tensor named */
static void test_damaged_int8(void **st)
{
	(void)st;
	const char *dir = fx_tmpdir("infer8");
	pofa_config c = fx_config(60, 32, 32);
	pofa_err err;
	pofa_model *m = fx_model(&c, POFA_HEAD_CLS, 2, 8, 1, 5);
	pofa_model_set_dropout(m, 0);
	assert_int_equal(pofa_model_set_qat(m, 1, 0, &err), 0);
	int ids[16] = { 2, 7, 9, 3, 0, 0, 0, 0, 2, 8, 3, 0, 0, 0, 0, 0 };
	pofa_batch b = { .B = 2, .T = 8, .input_ids = ids };
	assert_int_equal(pofa_model_forward(m, &b, 1, &err), 0);
	char good[600], bad[600];
	snprintf(good, sizeof good, "%s/good.safetensors", dir);
	snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
	assert_int_equal(pofa_model_export_int8(m, good, &err), 0);
	pofa_st_file f;
	assert_int_equal(pofa_st_open(&f, good, &err), 0);
	static const struct { const char *tensor, *damage, *says; } cases[] = {
		{ "bert.encoder.layer.0.attention.self.query.weight_scale", "nan", "weight_scale[0] is nan" },
		{ "bert.encoder.layer.0.attention.self.query.input_scale_zero_point", "zp300", "zero point a whole number" },
		{ "bert.encoder.layer.0.attention.output.dense.input_scale_zero_point", "tiny", "scale must be finite and at least" },
		{ "bert.encoder.layer.1.attention.self.key.input_scale_zero_point", "zp+1", "differ from the query's" },
		{ "bert.encoder.layer.1.output.dense.weight_int8", "-128", "holds -128" },
		{ "bert.encoder.layer.0.attention.self.value.weight_int8", "drop", "value.weight_int8: missing" },
		{ "bert.pooler.dense.weight_int8", "shape", "pooler.dense.weight_int8: missing, or not I8 [32, 32]" },
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		pofa_st_out *o = calloc((size_t)f.ntensors, sizeof *o);
		void **copies = calloc((size_t)f.ntensors, sizeof *copies);
		int n = 0;
		for (int i = 0; i < f.ntensors; i++) {
			const pofa_st_tensor *t = &f.tensors[i];
			size_t bytes = t->end - t->begin;
			unsigned char *d = malloc(bytes + 4);
			memcpy(d, f.buf + f.data_off + t->begin, bytes);
			copies[i] = d;
			o[n] = (pofa_st_out){ t->name, d, t->ndim, { t->shape[0], t->ndim > 1 ? t->shape[1] : 0 }, t->dtype };
			if (strcmp(t->name, cases[k].tensor)) {
				n++;
				continue;
			}
			const char *dm = cases[k].damage;
			float *fl = (float *)(void *)d;
			if (!strcmp(dm, "nan"))
				fl[0] = NAN;
			else if (!strcmp(dm, "zp300"))
				fl[1] = 300.0f;
			else if (!strcmp(dm, "tiny"))
				fl[0] = 1e-45f; /* its inverse is not finite */
			else if (!strcmp(dm, "zp+1"))
				fl[1] = fl[1] < 255.0f ? fl[1] + 1.0f : fl[1] - 1.0f;
			else if (!strcmp(dm, "-128"))
				((int8_t *)d)[5] = -128;
			else if (!strcmp(dm, "drop"))
				continue;
			else if (!strcmp(dm, "shape"))
				o[n].shape[0]--;
			n++;
		}
		assert_int_equal(pofa_st_write(bad, o, n, NULL, 0, &err), 0);
		pofa_st_file q8;
		assert_int_equal(pofa_st_open(&q8, bad, &err), 0);
		pofa_infer_opts opt = { .maxB = 2, .maxT = 8, .threads = 1, .int8 = POFA_INT8_ON, .force_fmt = -1, .cpu = -1 };
		memset(&err, 0, sizeof err);
		pofa_infer *inf = pofa_infer_from_model(m, &q8, &opt, &err);
		if (inf || err.status != POFA_ERR_INPUT || !strstr(err.msg, bad) || !strstr(err.msg, cases[k].says))
			fail_msg("damage %s of %s: expected a refusal naming the file and saying \"%s\", got %s (status %d)",
			         cases[k].damage, cases[k].tensor, cases[k].says, inf ? "a model" : err.msg, err.status);
		pofa_st_close(&q8);
		for (int i = 0; i < f.ntensors; i++)
			free(copies[i]);
		free(copies);
		free(o);
	}
	pofa_st_close(&f);
	pofa_model_free(m);
	fx_tmpdir_remove();
}

static void test_bad_batches(void **st)
{
	(void)st;
	pofa_config c = fx_config(60, 32, 32);
	pofa_model *m = fx_model(&c, POFA_HEAD_CLS, 2, 8, 1, 3);
	pofa_err err;
	pofa_infer_opts o = { .maxB = 2, .maxT = 8, .threads = 1, .int8 = POFA_INT8_OFF, .force_fmt = -1, .cpu = -1 };
	pofa_infer *inf = pofa_infer_from_model(m, NULL, &o, &err);
	assert_non_null(inf);
	int ids[3 * 8] = { 0 };
	pofa_batch b = { .B = 3, .T = 8, .input_ids = ids };
	assert_int_equal(pofa_infer_forward(inf, &b, &err), POFA_ERR_INPUT);
	assert_non_null(strstr(err.msg, "exceeds"));
	b.B = 1;
	ids[3] = 60;
	assert_int_equal(pofa_infer_forward(inf, &b, &err), POFA_ERR_INPUT);
	assert_non_null(strstr(err.msg, "outside vocabulary"));
	pofa_infer_free(inf);
	pofa_model_free(m);
}

int main(void)
{
	/* as the engine runs OpenBLAS (model.c): one thread a call, each of
	 * pofa's threads on its own rows (its threads, uninstrumented, would
	 * be races to ThreadSanitizer) */
	openblas_set_num_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_int8_saturation),
		cmocka_unit_test(test_attention),
		cmocka_unit_test(test_elementwise),
		cmocka_unit_test(test_layernorm_quant),
		cmocka_unit_test(test_choice),
		cmocka_unit_test(test_borrowed_chunks),
		cmocka_unit_test(test_sparse_models),
		cmocka_unit_test(test_threads_same_bits),
		cmocka_unit_test(test_wide_batch),
		cmocka_unit_test(test_blas_threads),
		cmocka_unit_test(test_acts_grow),
		cmocka_unit_test(test_int8_model),
		cmocka_unit_test(test_damaged_int8),
		cmocka_unit_test(test_packed),
		cmocka_unit_test(test_packed_float),
		cmocka_unit_test(test_predictor_threads),
		cmocka_unit_test(test_open_in_place),
		cmocka_unit_test(test_bad_batches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
