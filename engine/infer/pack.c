/*
 * pack.c - a Linear's weights into the format its zeros make fastest, and
 * the product of a packed Linear over a range of its rows.
 *
 * The choice is a cost model: each format costs a time per value it
 * stores, relative to the dense product's time per weight, as `pofa bench
 * infer --sweep` measures them on each CPU path (the table below; the
 * break-even sparsity of CSR is 1 - 1 / its cost). Every format computes
 * the same sums; only their order, and so the last bits, differ.
 */
#include "engine/infer/linear.h"
#include "data/base/mem.h"
#include "data/base/util.h"
#include "engine/kernels/kernels.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char *const pofa_linear_fmt_names[] = { "dense", "csr", "1x4", "n:m", "int8" };
_Static_assert(POFA_ARRAY_LEN(pofa_linear_fmt_names) == POFA_LINEAR_FMT_COUNT, "a name per format");

/* time per stored value, the dense product's (OpenBLAS sgemm's) per weight
 * = 1: pofa bench infer --sweep at bert-base shapes (seq 128, batch 1),
 * over sparsities 50-95%, on one thread (the median of six sweeps per path;
 * two for portable) and on two (the mean of two or three), measured on an
 * Intel Xeon (family 6, model 207) with OpenBLAS's SkylakeX kernels
 * (Haswell's for the avx2 path). Two threads and more take the second
 * table: a product of 128 tokens shares out better over rows split by
 * their nonzeros than over OpenBLAS's threads. CSR breaks even with dense
 * at 1 - 1/cost: one thread 72% (avx2), 71% (avx512), 70% (avx512-vnni),
 * 94% (portable, against AVX-512 sgemm); two threads 51%, 44%, 49%, 89%.
 * (An earlier table, one thread on a Sapphire Rapids Xeon: 52%, 59%, 61%,
 * 91%.) The int8 column is unused: int8 is chosen by the model, not by
 * cost. */
static const double cost[2][POFA_CPU_PATH_COUNT][POFA_LINEAR_FMT_COUNT] = {
	{	/* one thread           dense  csr    1x4    n:m    int8 */
		[POFA_CPU_PORTABLE]    = { 1.0, 17.35, 11.22, 18.68, 1.0 },
		[POFA_CPU_AVX2]        = { 1.0, 3.60, 3.85, 3.82, 1.0 },
		[POFA_CPU_AVX512]      = { 1.0, 3.43, 4.22, 4.08, 1.0 },
		[POFA_CPU_AVX512_VNNI] = { 1.0, 3.29, 4.04, 3.97, 1.0 },
		[POFA_CPU_AVX512_BF16] = { 1.0, 3.29, 4.04, 3.97, 1.0 },
	},
	{	/* two threads or more */
		[POFA_CPU_PORTABLE]    = { 1.0, 9.33, 6.31, 11.27, 1.0 },
		[POFA_CPU_AVX2]        = { 1.0, 2.03, 2.06, 2.17, 1.0 },
		[POFA_CPU_AVX512]      = { 1.0, 1.79, 2.06, 2.06, 1.0 },
		[POFA_CPU_AVX512_VNNI] = { 1.0, 1.96, 2.31, 2.32, 1.0 },
		[POFA_CPU_AVX512_BF16] = { 1.0, 1.96, 2.31, 2.32, 1.0 },
	},
};

static const double *path_cost(enum pofa_cpu_path p, int threads)
{
	return cost[threads > 1][p];
}

double pofa_linear_break_even(enum pofa_cpu_path p, enum pofa_linear_fmt f, int threads)
{
	const double *c = path_cost(p, threads);
	return f == POFA_LIN_DENSE ? 0.0 : 1.0 - c[POFA_LIN_DENSE] / c[f];
}

/* ---- the kernels of each path ---------------------------------------------- */

extern const pofa_infer_kern pofa_kern_portable;
#if defined(__x86_64__)
extern const pofa_infer_kern pofa_kern_avx2, pofa_kern_avx512;
void pofa_kern_vnni_fill(pofa_infer_kern *k);
void pofa_kern_bf16_fill(pofa_infer_kern *k);
static pofa_infer_kern vnni, bf16;
static pthread_once_t vnni_once = PTHREAD_ONCE_INIT;
static void vnni_init(void)
{
	pofa_kern_vnni_fill(&vnni);
	pofa_kern_bf16_fill(&bf16);
}
#endif

const pofa_infer_kern *pofa_infer_kern_for(enum pofa_cpu_path p)
{
#if defined(__x86_64__)
	if (p == POFA_CPU_AVX2)
		return &pofa_kern_avx2;
	if (p == POFA_CPU_AVX512)
		return &pofa_kern_avx512;
	if (p == POFA_CPU_AVX512_VNNI || p == POFA_CPU_AVX512_BF16) {
		pthread_once(&vnni_once, vnni_init);
		return p == POFA_CPU_AVX512_BF16 ? &bf16 : &vnni;
	}
#endif
	(void)p;
	return &pofa_kern_portable;
}

size_t pofa_x8_bytes(enum pofa_x8_layout x8, int C, int ld)
{
	(void)x8; /* both layouts: 4 bytes a lane, 4 or 2 channels a lane */
	size_t Cp = (size_t)((C + 3) & ~3);
	return (x8 == POFA_X8_U8X4 ? Cp / 4 : Cp / 2) * (size_t)ld * 4;
}

/* ---- packing ------------------------------------------------------------------ */

void pofa_linear_free(pofa_linear *l)
{
	if (!l)
		return;
	free(l->bias);
	if (!l->dense_borrowed)
		free(l->dense);
	if (l->crp != l->rowptr)
		free(l->crp);
	free(l->rowptr);
	free(l->ord);
	if (!l->csr_borrowed) {
		free(l->col);
		free(l->val);
	}
	free(l->off);
	free(l->q);
	free(l->fixptr);
	free(l->fixcol);
	free(l->fixq);
	free(l->wscale);
	free(l->qsum);
	free(l->split);
	memset(l, 0, sizeof *l);
}

/* row boundaries for `threads`, each part holding about the same stored
 * values (plus a little a row), at multiples of `align` rows */
static int split_rows(pofa_linear *l, int threads, const int64_t *row_cost, int align)
{
	l->nsplit = threads < 1 ? 1 : threads;
	l->split = calloc((size_t)l->nsplit + 1, sizeof *l->split);
	if (!l->split)
		return -1;
	double total = 0.0;
	for (int o = 0; o < l->OC; o++)
		total += (double)row_cost[o] + 8.0;
	double acc = 0.0;
	int t = 1;
	for (int o = 0; o < l->OC && t < l->nsplit; o++) {
		acc += (double)row_cost[o] + 8.0;
		if ((o + 1) % align)
			continue;
		while (t < l->nsplit && acc >= total * t / l->nsplit)
			l->split[t++] = o + 1;
	}
	while (t < l->nsplit)
		l->split[t++] = l->OC;
	l->split[l->nsplit] = l->OC;
	return 0;
}

static int copy_bias(pofa_linear *l, const float *bias)
{
	l->bias = calloc((size_t)l->OC, sizeof *l->bias);
	if (!l->bias)
		return -1;
	if (bias)
		memcpy(l->bias, bias, (size_t)l->OC * sizeof *bias);
	return 0;
}

/* the inputs a CSR chunk spans for a Linear of nnz nonzeros: kern's
 * csr_kc, or csr_kc_sparse where a row has fewer than 8 nonzeros a
 * csr_kc chunk on average (below 1 in 16, as at 95% and 97%), since then
 * a row's sums pass through y between chunks for few products each */
static int csr_chunk(const pofa_infer_kern *kern, int OC, int C, int64_t nnz)
{
	int kc = kern->csr_kc > 0 ? kern->csr_kc : C;
	if (kern->csr_kc_sparse > kc && (double)nnz * kc < 8.0 * OC * C)
		kc = kern->csr_kc_sparse;
	return kc;
}

/* a CSR's new entries (n, and the spare one packing may write), faulted
 * in at once: 0, or -1 with neither held */
static int csr_entries(int64_t n, uint16_t **col, float **val)
{
	*col = malloc((size_t)(n + 1) * sizeof **col);
	*val = malloc((size_t)(n + 1) * sizeof **val);
	if (!*col || !*val) {
		free(*col);
		free(*val);
		return -1;
	}
	pofa_prefault(*col, (size_t)n * sizeof **col);
	pofa_prefault(*val, (size_t)n * sizeof **val);
	return 0;
}

/* l's entries replaced by col and val (l's from now on) */
static void csr_take(pofa_linear *l, uint16_t *col, float *val)
{
	if (!l->csr_borrowed) {
		free(l->col);
		free(l->val);
	}
	l->csr_borrowed = 0;
	l->col = col;
	l->val = val;
}

/* a CSR used in place from a packed file's mapping is chunked (copied)
 * only from this many inputs, whatever the path's csr_from: on the AVX2
 * path, chunking bert-base's 768-input Linears too took one line through
 * it from the packed file from 0.136 to 0.149 s (medians of 30, an AMD
 * EPYC of family 25 in a slow hour) against the 0.15 s target */
#define CSR_BORROWED_FROM 2048

/* CSR entries reordered chunk by chunk of csr_chunk's inputs (each row's
 * in column order still); l->crp indexes them */
static int chunk_csr(pofa_linear *l, const pofa_infer_kern *kern)
{
	int kc = csr_chunk(kern, l->OC, l->C, l->rowptr[l->OC]), OC = l->OC, nch = (l->C + kc - 1) / kc;
	int from = l->csr_borrowed && kern->csr_from < CSR_BORROWED_FROM ? CSR_BORROWED_FROM : kern->csr_from;
	l->nch = 1;
	l->crp = l->rowptr;
	if (nch < 2 || l->C < from)
		return 0;
	int64_t n = l->rowptr[OC];
	int32_t *crp = calloc((size_t)nch * (OC + 1), sizeof *crp);
	uint16_t *col;
	float *val;
	if (!crp || csr_entries(n, &col, &val)) {
		free(crp);
		return -1;
	}
	int64_t e = 0;
	int32_t *at = malloc((size_t)OC * sizeof *at); /* each row's next entry */
	if (!at) {
		free(crp);
		free(col);
		free(val);
		return -1;
	}
	for (int o = 0; o < OC; o++)
		at[o] = l->rowptr[o];
	for (int h = 0; h < nch; h++) {
		int32_t *rp = crp + (size_t)h * (OC + 1);
		int end = (h + 1) * kc;
		for (int o = 0; o < OC; o++) {
			rp[o] = (int32_t)e;
			for (; at[o] < l->rowptr[o + 1] && l->col[at[o]] < end; at[o]++, e++) {
				col[e] = l->col[at[o]];
				val[e] = l->val[at[o]];
			}
		}
		rp[OC] = (int32_t)e;
	}
	free(at);
	csr_take(l, col, val);
	l->crp = crp;
	l->nch = nch;
	return 0;
}

/* CSR's visiting order (linear.h), on paths whose kern->csr_order is set:
 * in each chunk, each thread's rows [split[t], split[t + 1]) by their
 * number of entries in the chunk (a stable counting sort), and the entries
 * moved into that order, so that the kernels read them in address order.
 * A row's loop then runs as long as the one before it, or one entry
 * longer. Measured against rows in order (bert-base, 2 threads):
 * - AVX-512 (an AMD EPYC of family 26): batch 1 at 90% 20.48 against
 *   22.05 ms a pass, 20.39 against 20.78 and 23.79 against 24.28 (medians
 *   of 6-8 alternations), at 97% 11.11 against 11.45; sparse training's
 *   locked step (batch 8 x 128) 1 404 against 1 578 ms; batch 32 one
 *   alternation, 755 against 741 ms. So the AVX-512 paths take it.
 * - AVX2 (an AMD EPYC of family 25, one binary packing both ways,
 *   alternated in blocks of five passes): batch 1 at 90% level (ratios
 *   0.95-1.08 over six runs), at 97% 4-10% slower in four of four, batch
 *   8 9% slower in two of three, batch 32 (two builds, three
 *   alternations) the products 10-21% slower; on the family-26 EPYC's AVX2
 *   path batch 8 was level. So AVX2 keeps its rows in order.
 * Rows of int8 1x4 blocks gained nothing (8.59 against 8.34 ms) and keep
 * their order; nor is a CSR used in place from a packed file's mapping
 * (borrowed, unchunked) put in this order: the copy took one line through
 * bert-base from 0.10 to 0.14 s (hyperfine). */
static int visit_order(pofa_linear *l, const pofa_infer_kern *kern)
{
	if (l->fmt != POFA_LIN_CSR || l->csr_borrowed || !kern->csr_order)
		return 0;
	int OC = l->OC, nch = l->nch;
	const int32_t *crp = l->crp;
	int64_t n = crp[(size_t)(nch - 1) * (OC + 1) + OC];
	int32_t *ord = malloc((size_t)nch * OC * sizeof *ord);
	int32_t *rp = malloc((size_t)nch * (OC + 1) * sizeof *rp);
	int32_t *hist = calloc((size_t)l->C + 2, sizeof *hist);
	uint16_t *col;
	float *val;
	if (!ord || !rp || !hist || csr_entries(n, &col, &val)) {
		free(ord);
		free(rp);
		free(hist);
		return -1;
	}
	int64_t e = 0;
	for (int h = 0; h < nch; h++) {
		const int32_t *src = crp + (size_t)h * (OC + 1);
		int32_t *o_h = ord + (size_t)h * OC, *rp_h = rp + (size_t)h * (OC + 1);
		for (int t = 0; t < l->nsplit; t++) {
			int a = l->split[t], b = l->split[t + 1], most = 0;
			for (int o = a; o < b; o++) {
				int cnt = src[o + 1] - src[o];
				hist[cnt + 1]++;
				most = cnt > most ? cnt : most;
			}
			for (int c = 1; c <= most + 1; c++)
				hist[c] += hist[c - 1];
			for (int o = a; o < b; o++)
				o_h[a + hist[src[o + 1] - src[o]]++] = o;
			memset(hist, 0, ((size_t)most + 2) * sizeof *hist);
		}
		for (int j = 0; j < OC; j++) {
			int o = o_h[j];
			rp_h[j] = (int32_t)e;
			int32_t k0 = src[o], len = src[o + 1] - k0;
			memcpy(col + e, l->col + k0, (size_t)len * sizeof *col);
			memcpy(val + e, l->val + k0, (size_t)len * sizeof *val);
			e += len;
		}
		rp_h[OC] = (int32_t)e;
	}
	free(hist);
	csr_take(l, col, val);
	if (l->crp != l->rowptr)
		free(l->crp);
	else {
		free(l->rowptr);
		l->rowptr = rp;
	}
	l->crp = rp;
	l->ord = ord;
	return 0;
}

#define NM_M 4   /* the n:m format's group */

/* the cheapest format by the path's costs at this thread count, from the
 * matrix's counts: nonzeros, nonzero 1x4 blocks (C a multiple of 4), the
 * most nonzeros in a group of NM_M inputs; force >= 0: that float format,
 * where the zeros allow it */
static enum pofa_linear_fmt choose_fmt(const pofa_infer_kern *kern, int threads, int OC, int C, int64_t nnz,
                                       int64_t blocks, int nm_n, int force)
{
	int b14 = C % 4 == 0 && C <= 65536, csr = C <= 65536, nm_m = NM_M;
	const double *k = path_cost(kern->path, threads);
	double best = k[POFA_LIN_DENSE] * (double)OC * C;
	enum pofa_linear_fmt fmt = POFA_LIN_DENSE;
	double c_csr = k[POFA_LIN_CSR] * (double)nnz, c_b14 = k[POFA_LIN_B14] * 4.0 * (double)blocks,
	       c_nm = k[POFA_LIN_NM] * (double)OC * (C / nm_m) * nm_n;
	if (csr && c_csr < best)
		best = c_csr, fmt = POFA_LIN_CSR;
	if (b14 && c_b14 < best)
		best = c_b14, fmt = POFA_LIN_B14;
	if (csr && C % nm_m == 0 && nm_n < nm_m && c_nm < best)
		best = c_nm, fmt = POFA_LIN_NM;
	if (force >= 0 && force < POFA_LIN_I8 && !(force == POFA_LIN_CSR && !csr) &&
	    !(force == POFA_LIN_B14 && !b14) && !(force == POFA_LIN_NM && (C % nm_m || !csr)))
		fmt = (enum pofa_linear_fmt)force;
	return fmt;
}

/* the bytes a packed float Linear holds: bias, row pointers, values (4
 * bytes) and their columns or offsets */
static size_t float_bytes(const pofa_linear *l)
{
	enum pofa_linear_fmt fmt = l->fmt;
	return (size_t)l->OC * sizeof(float) + (l->rowptr ? ((size_t)l->OC + 1) * 4 : 0) +
	       (l->nch > 1 ? (size_t)l->nch * ((size_t)l->OC + 1) * 4 : 0) +
	       (l->ord ? (size_t)l->nch * (size_t)l->OC * 4 : 0) +
	       (size_t)l->stored * (4 + (fmt == POFA_LIN_CSR ? 2 : fmt == POFA_LIN_NM ? 1 : 0)) +
	       (fmt == POFA_LIN_B14 ? (size_t)(l->stored / 4) * 2 : 0);
}

int pofa_linear_pack(pofa_linear *l, const float *w, const float *bias, int OC, int C, int gelu,
                     const pofa_infer_kern *kern, int threads, int force)
{
	return pofa_linear_pack_w(l, w, POFA_W_COPY, bias, OC, C, gelu, kern, threads, force);
}

int pofa_linear_pack_w(pofa_linear *l, const float *w, enum pofa_wkeep keep, const float *bias, int OC, int C,
                       int gelu, const pofa_infer_kern *kern, int threads, int force)
{
	const float *part[1] = { w };
	pofa_pack_src src = { .part = part, .nparts = 1 };
	return pofa_linear_pack_src(l, &src, keep, bias, OC, C, gelu, kern, threads, force) ? -1 : 0;
}

/* rows [o, o + n) of the source (n within one part): in place, or read
 * into buf; NULL when the read fails */
static const float *src_rows(const pofa_pack_src *s, int rows, int C, int o, int n, float *buf)
{
	int p = o / rows;
	if (!s->read)
		return s->part[p] + (size_t)(o % rows) * C;
	return s->read(s->ctx, p, o % rows, n, buf) ? NULL : buf;
}

/* the rows a pass takes at a time: about 64 Ki values, within one part */
static int pass_rows(int rows, int C, int o)
{
	int R = C >= 65536 ? 1 : 65536 / C;
	int left = rows - o % rows;
	return R < left ? R : left;
}

int pofa_linear_pack_src(pofa_linear *l, pofa_pack_src *src, enum pofa_wkeep keep, const float *bias, int OC,
                         int C, int gelu, const pofa_infer_kern *kern, int threads, int force)
{
	memset(l, 0, sizeof *l);
	l->OC = OC;
	l->C = C;
	l->gelu = gelu;
	int nparts = src->nparts, rows = OC / nparts;   /* a part's */
	int rc = -1;
	int64_t nnz = 0, blocks = 0;
	int nm_m = NM_M, nm_n = nm_m;
	int kc = kern->csr_kc > 0 ? kern->csr_kc : C, nch = (C + kc - 1) / kc;
	if (nch < 2 || C < kern->csr_from)
		nch = 1;
	int64_t *row_cost = calloc((size_t)OC, sizeof *row_cost);
	int32_t *cnt = malloc(((size_t)OC * nch + 1) * sizeof *cnt);   /* nonzeros a row has in each chunk */
	float *buf = src->read ? malloc(((size_t)(C >= 65536 ? C : 65536)) * sizeof *buf) : NULL;
	if (!row_cost || !cnt || (src->read && !buf))
		goto fail;
	/* one pass: nonzeros (by row and chunk), nonzero 1x4 blocks and the
	 * fullest group of NM_M (= 4) inputs; the values checked finite when
	 * asked */
	int most = 0;
	for (int o = 0; o < OC;) {
		int n = pass_rows(rows, C, o);
		const float *r0 = src_rows(src, rows, C, o, n, buf);
		if (!r0) {
			rc = -2;
			goto fail;
		}
		if (src->check && pofa_any_nonfinite(r0, (size_t)n * C)) {
			size_t j = 0;
			while (isfinite(r0[j]))
				j++;
			src->bad_part = o / rows;
			src->bad_at = (int64_t)(o % rows) * C + (int64_t)j;
			src->bad_val = r0[j];
			rc = -3;
			goto fail;
		}
		for (int k = 0; k < n; k++, o++) {
			const float *r = r0 + (size_t)k * C;
			int64_t row_nnz = 0;
			for (int h = 0; h < nch; h++) {
				int c0 = h * kc, c1 = nch == 1 ? C : POFA_MIN(C, c0 + kc), in = 0;
				if (C % 4 == 0) {
					for (int i = c0; i < c1; i += 4) {
						int c = (r[i] != 0.0f) + (r[i + 1] != 0.0f) + (r[i + 2] != 0.0f) + (r[i + 3] != 0.0f);
						in += c;
						blocks += c != 0;
						most = c > most ? c : most;
					}
				} else {
					for (int i = c0; i < c1; i++)
						in += r[i] != 0.0f;
				}
				cnt[(size_t)o * nch + h] = in;
				row_nnz += in;
			}
			row_cost[o] = row_nnz;
			nnz += row_nnz;
		}
	}
	_Static_assert(NM_M == 4, "the n:m count is the 1x4 blocks' pass");
	if (C % 4 == 0)
		nm_n = most;
	if (nnz == (int64_t)OC * C)
		nm_n = nm_m;
	l->nnz = nnz;
	int m = csr_chunk(kern, OC, C, nnz) / kc;
	if (nch > 1 && m > 1) {
		/* longer chunks: the counts of m of kc's summed (in place: each
		 * sum is written below the counts still to be read) */
		int nch2 = (nch + m - 1) / m;
		for (int o = 0; o < OC; o++)
			for (int h2 = 0; h2 < nch2; h2++) {
				int32_t sum = 0;
				for (int h = h2 * m; h < nch && h < (h2 + 1) * m; h++)
					sum += cnt[(size_t)o * nch + h];
				cnt[(size_t)o * nch2 + h2] = sum;
			}
		kc *= m;
		nch = nch2;
	}
	enum pofa_linear_fmt fmt = choose_fmt(kern, threads, OC, C, nnz, blocks, nm_n, force);
	l->fmt = fmt;
	if (copy_bias(l, bias))
		goto fail;
	if (fmt == POFA_LIN_DENSE) {
		/* from where the values lie (a file's mapping is kept, not read) */
		if (keep == POFA_W_COPY || nparts > 1) {
			l->dense = aligned_alloc(64, ((size_t)OC * C * sizeof(float) + 63) & ~(size_t)63);
			if (!l->dense)
				goto fail;
			for (int p = 0; p < nparts; p++)
				memcpy(l->dense + (size_t)p * rows * C, src->part[p], (size_t)rows * C * sizeof(float));
		} else {
			l->dense = (float *)src->part[0];   /* its products are sgemm's: any float alignment */
			l->dense_borrowed = keep == POFA_W_BORROW;
			keep = POFA_W_COPY;                 /* taken */
		}
		l->stored = (int64_t)OC * C;
		for (int o = 0; o < OC; o++)
			row_cost[o] = C;
		goto done;
	}
	int bw = fmt == POFA_LIN_B14 ? 4 : 1;
	if (fmt == POFA_LIN_NM) {
		int per_row = (C / nm_m) * nm_n;
		l->nm_n = nm_n;
		l->nm_m = nm_m;
		l->stored = (int64_t)OC * per_row;
		l->val = malloc((size_t)(l->stored + 1) * sizeof *l->val);
		l->off = malloc((size_t)(l->stored + 1));
	} else {
		int64_t n = fmt == POFA_LIN_B14 ? blocks : nnz;
		l->stored = n * bw;
		l->rowptr = malloc(((size_t)OC + 1) * sizeof *l->rowptr);
		l->col = malloc((size_t)(n + 1) * sizeof *l->col);
		l->val = malloc((size_t)(n * bw + 1) * sizeof *l->val);
		if (!l->rowptr || !l->col)
			goto fail;
		int64_t e = 0;
		for (int o = 0; o < OC; o++) {
			l->rowptr[o] = (int32_t)e;
			e += fmt == POFA_LIN_CSR ? row_cost[o] : 0;
		}
		l->rowptr[OC] = (int32_t)e;
	}
	if (!l->val || (fmt == POFA_LIN_NM && !l->off))
		goto fail;
	pofa_prefault(l->val, (size_t)l->stored * sizeof *l->val);
	if (l->col)
		pofa_prefault(l->col, (size_t)(l->stored / bw) * sizeof *l->col);
	/* CSR chunked by csr_kc inputs: chunk h's entries of every row, then
	 * chunk h + 1's; crp[h][o] is row o's first in chunk h */
	int chunked = fmt == POFA_LIN_CSR && nch > 1;
	l->nch = 1;
	l->crp = l->rowptr;
	if (chunked) {
		l->crp = malloc((size_t)nch * (OC + 1) * sizeof *l->crp);
		if (!l->crp)
			goto fail;
		l->nch = nch;
		int64_t e = 0;
		for (int h = 0; h < nch; h++) {
			int32_t *rp = l->crp + (size_t)h * (OC + 1);
			for (int o = 0; o < OC; o++) {
				rp[o] = (int32_t)e;
				e += cnt[(size_t)o * nch + h];
			}
			rp[OC] = (int32_t)e;
		}
	}
	int64_t e = 0;   /* the next entry: B14's and unchunked CSR's fill in row order */
	for (int o = 0; o < OC;) {
		int n = pass_rows(rows, C, o);
		const float *r0 = src_rows(src, rows, C, o, n, buf);
		if (!r0) {
			rc = -2;
			goto fail;
		}
		for (int k = 0; k < n; k++, o++) {
			const float *r = r0 + (size_t)k * C;
			if (fmt == POFA_LIN_NM) {
				int per_row = (C / nm_m) * nm_n;
				size_t k0 = (size_t)o * per_row;
				for (int g = 0; g < C; g += nm_m) {
					int got = 0;
					for (int i = 0; i < nm_m && got < nm_n; i++)
						if (r[g + i] != 0.0f) {
							l->val[k0] = r[g + i];
							l->off[k0++] = (uint8_t)i;
							got++;
						}
					for (int i = 0; got < nm_n; i++) /* fewer than N: zeros at unused offsets */
						if (r[g + i] == 0.0f) {
							l->val[k0] = 0.0f;
							l->off[k0++] = (uint8_t)i;
							got++;
						}
				}
				row_cost[o] = per_row;
			} else if (fmt == POFA_LIN_B14) {
				l->rowptr[o] = (int32_t)e;
				for (int c = 0; c < C; c += 4) {
					if (r[c] == 0.0f && r[c + 1] == 0.0f && r[c + 2] == 0.0f && r[c + 3] == 0.0f)
						continue;
					l->col[e] = (uint16_t)c;
					memcpy(l->val + e * 4, r + c, 4 * sizeof *r);
					e++;
				}
				row_cost[o] = (e - l->rowptr[o]) * 4;
			} else if (!chunked) {
				/* row by row: the entry past a row's last is the next row's */
				e = kern->nonzeros(r, 0, C, l->col, l->val, e);
			} else {
				/* chunk h's entries of row o, then of the rows after it
				 * (filled later); where none of those has any, the next
				 * entry is chunk h + 1's of a row filled already, and the
				 * exact loop is taken (the last chunk's is the spare) */
				for (int h = 0; h < nch; h++) {
					const int32_t *rp = l->crp + (size_t)h * (OC + 1);
					int64_t at = rp[o];
					int c1 = POFA_MIN(C, (h + 1) * kc);
					if (rp[o + 1] < rp[OC] || h == nch - 1) {
						kern->nonzeros(r, h * kc, c1, l->col, l->val, at);
						continue;
					}
					for (int c = h * kc; c < c1; c++)
						if (r[c] != 0.0f) {
							l->col[at] = (uint16_t)c;
							l->val[at++] = r[c];
						}
				}
			}
		}
	}
	if (fmt == POFA_LIN_B14)
		l->rowptr[OC] = (int32_t)e;
done:
	if (split_rows(l, threads, row_cost, 1) || visit_order(l, kern))
		goto fail;
	free(row_cost);
	free(cnt);
	free(buf);
	l->bytes = float_bytes(l);
	if (keep == POFA_W_GIVE)   /* not kept: a sparse format holds its own copy */
		for (int p = 0; p < nparts; p++)
			free((void *)src->part[p]);
	return 0;
fail:
	free(row_cost);
	free(cnt);
	free(buf);
	if (l->crp == l->rowptr)
		l->crp = NULL;
	pofa_linear_free(l);
	if (keep == POFA_W_GIVE)
		for (int p = 0; p < nparts; p++)
			free((void *)src->part[p]);
	return rc;
}

static int pack_csr(pofa_linear *l, int32_t *rowptr, uint16_t *col, float *val, int borrowed, const float *bias,
                    int OC, int C, int gelu, const pofa_infer_kern *kern, int threads, int force)
{
	memset(l, 0, sizeof *l);
	int64_t nnz = rowptr[OC], blocks = 0;
	int nm_n = 0;
	for (int o = 0; o < OC; o++) {
		/* nonzero 1x4 blocks: a row's first entry, then each that starts
		 * another block (a loop the compiler vectorises) */
		int32_t e0 = rowptr[o], e1 = rowptr[o + 1];
		blocks += e1 > e0;
		for (int32_t e = e0 + 1; e < e1; e++)
			blocks += col[e] / 4 != col[e - 1] / 4;
		if (nm_n == NM_M)   /* the fullest group can be no fuller */
			continue;
		int g = -1, in_g = 0;
		for (int32_t e = e0; e < e1; e++) {
			in_g = col[e] / NM_M == g ? in_g + 1 : 1;
			g = col[e] / NM_M;
			nm_n = in_g > nm_n ? in_g : nm_n;
		}
	}
	enum pofa_linear_fmt fmt = choose_fmt(kern, threads, OC, C, nnz, blocks, nm_n, force);
	if (fmt != POFA_LIN_CSR) {   /* through the dense matrix: the rarer case */
		float *w = calloc((size_t)OC * C, sizeof *w);
		if (w)
			for (int o = 0; o < OC; o++)
				for (int32_t e = rowptr[o]; e < rowptr[o + 1]; e++)
					w[(size_t)o * C + col[e]] = val[e];
		free(rowptr);
		if (!borrowed) {
			free(col);
			free(val);
		}
		if (!w)
			return -1;
		return pofa_linear_pack_w(l, w, POFA_W_GIVE, bias, OC, C, gelu, kern, threads, fmt);
	}
	l->csr_borrowed = borrowed;
	l->OC = OC;
	l->C = C;
	l->gelu = gelu;
	l->fmt = fmt;
	l->nnz = l->stored = nnz;
	l->rowptr = rowptr;
	l->col = col;
	l->val = val;
	int64_t *row_cost = malloc((size_t)OC * sizeof *row_cost);
	if (!row_cost || copy_bias(l, bias)) {
		free(row_cost);
		pofa_linear_free(l);
		return -1;
	}
	for (int o = 0; o < OC; o++)
		row_cost[o] = rowptr[o + 1] - rowptr[o];
	int bad = chunk_csr(l, kern) || split_rows(l, threads, row_cost, 1) || visit_order(l, kern);
	free(row_cost);
	if (bad) {
		pofa_linear_free(l);
		return -1;
	}
	l->bytes = float_bytes(l);
	return 0;
}

int pofa_linear_pack_csr(pofa_linear *l, int32_t *rowptr, uint16_t *col, float *val, const float *bias, int OC,
                         int C, int gelu, const pofa_infer_kern *kern, int threads, int force)
{
	return pack_csr(l, rowptr, col, val, 0, bias, OC, C, gelu, kern, threads, force);
}

int pofa_linear_pack_csr_borrow(pofa_linear *l, int32_t *rowptr, const uint16_t *col, const float *val,
                                const float *bias, int OC, int C, int gelu, const pofa_infer_kern *kern, int threads,
                                int force)
{
	return pack_csr(l, rowptr, (uint16_t *)col, (float *)val, 1, bias, OC, C, gelu, kern, threads, force);
}

/* a CSR in visiting order back in row order: each row's count, then its
 * entries chunk by chunk (so in column order) at a cursor that ends at the
 * next row's start, which a shift turns into the row pointers */
static int64_t csr_of_visits(const pofa_linear *l, int32_t *rowptr, uint16_t *col, float *val)
{
	int OC = l->OC;
	memset(rowptr, 0, ((size_t)OC + 1) * sizeof *rowptr);
	for (int pass = 0; pass < 2; pass++)
		for (int h = 0; h < l->nch; h++) {
			const int32_t *rp = l->crp + (size_t)h * (OC + 1), *ord = l->ord + (size_t)h * OC;
			for (int j = 0; j < OC; j++) {
				int o = ord[j];
				for (int32_t e = rp[j]; e < rp[j + 1]; e++) {
					if (l->val[e] == 0.0f)
						continue;
					if (pass == 0) {
						rowptr[o + 1]++;
						continue;
					}
					col[rowptr[o]] = l->col[e];
					val[rowptr[o]++] = l->val[e];
				}
			}
			if (pass == 0 && h == l->nch - 1)
				for (int o = 0; o < OC; o++)
					rowptr[o + 1] += rowptr[o];
		}
	int64_t n = rowptr[OC];
	for (int o = OC; o > 0; o--)
		rowptr[o] = rowptr[o - 1];
	rowptr[0] = 0;
	return n;
}

int64_t pofa_linear_csr(const pofa_linear *l, int32_t *rowptr, uint16_t *col, float *val)
{
	if (l->fmt == POFA_LIN_CSR && l->ord)
		return csr_of_visits(l, rowptr, col, val);
	int64_t n = 0;
	int OC = l->OC, C = l->C;
#define EMIT(c, v) do { if ((v) != 0.0f) { col[n] = (uint16_t)(c); val[n] = (v); n++; } } while (0)
	for (int o = 0; o < OC; o++) {
		rowptr[o] = (int32_t)n;
		switch (l->fmt) {
		case POFA_LIN_DENSE:
			for (int c = 0; c < C; c++)
				EMIT(c, l->dense[(size_t)o * C + c]);
			break;
		case POFA_LIN_CSR:
			for (int h = 0; h < l->nch; h++) {
				const int32_t *rp = l->crp + (size_t)h * (OC + 1);
				for (int32_t e = rp[o]; e < rp[o + 1]; e++)
					EMIT(l->col[e], l->val[e]);
			}
			break;
		case POFA_LIN_B14:
			for (int32_t e = l->rowptr[o]; e < l->rowptr[o + 1]; e++)
				for (int j = 0; j < 4; j++)
					EMIT(l->col[e] + j, l->val[4 * (size_t)e + j]);
			break;
		case POFA_LIN_NM: {
			int per_row = (C / l->nm_m) * l->nm_n;
			/* a group's entries in the order packing found them: by offset */
			for (int k = 0; k < per_row; k++) {
				size_t e = (size_t)o * per_row + k;
				EMIT((k / l->nm_n) * l->nm_m + l->off[e], l->val[e]);
			}
			break;
		}
		default:
			return -1;
		}
	}
#undef EMIT
	rowptr[OC] = (int32_t)n;
	return n;
}

/* a block has a pair of weights that one 16-bit sum of products cannot
 * hold exactly (linear.h, POFA_I8_PAIR_MAX) */
static int pair_over(const int8_t b[4])
{
	return abs(b[0]) + abs(b[1]) > POFA_I8_PAIR_MAX || abs(b[2]) + abs(b[3]) > POFA_I8_PAIR_MAX;
}

int pofa_linear_pack_int8(pofa_linear *l, const int8_t *q, const float *wscale, int per_row, float in_scale,
                          int in_zp, const float *bias, int OC, int C, int gelu, const pofa_infer_kern *kern,
                          int threads)
{
	memset(l, 0, sizeof *l);
	l->fmt = POFA_LIN_I8;
	l->OC = OC;
	l->C = C;
	l->gelu = gelu;
	l->x8 = kern->x8;
	l->in_scale = in_scale;
	l->in_inv = 1.0f / in_scale; /* as QAT computes it */
	l->in_zp = in_zp;
	int pairs = kern->i8_pairs;
	int64_t blocks = 0, fixes = 0;
	for (int o = 0; o < OC; o++)
		for (int c = 0; c < C; c += 4) {
			int8_t b[4] = { 0, 0, 0, 0 };
			for (int i = 0; i < 4 && c + i < C; i++) {
				b[i] = q[(size_t)o * C + c + i];
				l->nnz += b[i] != 0;
			}
			blocks += b[0] || b[1] || b[2] || b[3];
			fixes += pairs && pair_over(b);
		}
	l->stored = 4 * blocks;
	int64_t *row_cost = calloc((size_t)OC, sizeof *row_cost);
	l->rowptr = malloc(((size_t)OC + 1) * sizeof *l->rowptr);
	l->col = malloc((size_t)(blocks + 1) * sizeof *l->col);
	l->wscale = malloc((size_t)OC * sizeof *l->wscale);
	l->qsum = calloc((size_t)OC, sizeof *l->qsum);
	l->q = malloc((size_t)(4 * blocks + 4));
	if (pairs) {
		l->fixptr = malloc(((size_t)OC + 1) * sizeof *l->fixptr);
		l->fixcol = malloc((size_t)(fixes + 1) * sizeof *l->fixcol);
		l->fixq = malloc((size_t)(4 * fixes + 4));
	}
	if (!row_cost || copy_bias(l, bias) || !l->rowptr || !l->col || !l->wscale || !l->qsum || !l->q ||
	    (pairs && (!l->fixptr || !l->fixcol || !l->fixq)) || C > 65536) {
		free(row_cost);
		pofa_linear_free(l);
		return -1;
	}
	int64_t e = 0, f = 0;
	for (int o = 0; o < OC; o++) {
		l->rowptr[o] = (int32_t)e;
		if (pairs)
			l->fixptr[o] = (int32_t)f;
		l->wscale[o] = wscale[per_row ? o : 0];
		const int8_t *r = q + (size_t)o * C;
		for (int c = 0; c < C; c += 4) {
			int8_t b[4] = { 0, 0, 0, 0 };
			for (int i = 0; i < 4 && c + i < C; i++) {
				b[i] = r[c + i];
				l->qsum[o] += b[i];
			}
			if (!(b[0] || b[1] || b[2] || b[3]))
				continue;
			if (pairs && pair_over(b)) {
				/* the second weight of each pair over the limit
				 * moves out: each pair then holds one weight
				 * (|w| <= 128) or two within the limit */
				int8_t m[4] = { 0, 0, 0, 0 };
				for (int i = 0; i < 4; i += 2)
					if (abs(b[i]) + abs(b[i + 1]) > POFA_I8_PAIR_MAX) {
						m[i + 1] = b[i + 1];
						b[i + 1] = 0;
					}
				l->fixcol[f] = (uint16_t)c;
				memcpy(l->fixq + 4 * f, m, 4);
				f++;
			}
			l->col[e] = (uint16_t)c;
			memcpy(l->q + 4 * e, b, 4);
			e++;
		}
		row_cost[o] = 4 * (e - l->rowptr[o] + (pairs ? f - l->fixptr[o] : 0));
	}
	l->rowptr[OC] = (int32_t)e;
	if (pairs)
		l->fixptr[OC] = (int32_t)f;
	int rc = split_rows(l, threads, row_cost, 4);
	free(row_cost);
	if (rc) {
		pofa_linear_free(l);
		return -1;
	}
	l->bytes = (size_t)OC * 12 + ((size_t)OC + 1) * 4 + (size_t)blocks * 6 +
	           (pairs ? ((size_t)OC + 1) * 4 + (size_t)fixes * 6 : 0);
	return 0;
}

/* the int8 weights of row o, block e (0 <= e - rowptr[o] < its blocks), as
 * they were given to pofa_linear_pack_int8: q plus any split-off part */
void pofa_linear_i8_block(const pofa_linear *l, int o, int64_t e, int8_t out[4])
{
	memcpy(out, l->q + 4 * e, 4);
	if (!l->fixptr)
		return;
	for (int32_t f = l->fixptr[o]; f < l->fixptr[o + 1]; f++)
		if (l->fixcol[f] == l->col[e])
			for (int i = 0; i < 4; i++)
				out[i] = (int8_t)(out[i] + l->fixq[4 * f + i]);
}

/* ---- the product ---------------------------------------------------------------- */

void pofa_linear_rows(const pofa_linear *l, const pofa_infer_kern *kern, float *y, const float *x,
                      const void *x8, int ld, int np, int r0, int r1, const pofa_qout *qo)
{
	if (r0 >= r1)
		return;
	switch (l->fmt) {
	case POFA_LIN_DENSE:
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, np, l->C, 1.0f,
		            l->dense + (size_t)r0 * l->C, l->C, x, ld, 0.0f, y + (size_t)r0 * ld, ld);
		kern->bias_act(y, l->bias, ld, np, r0, r1, l->gelu);
		break;
	case POFA_LIN_I8:
		kern->int8(l, y, x8, ld, np, r0, r1, qo);
		break;
	default:
		kern->sparse(l, y, x, ld, np, r0, r1);
	}
}
