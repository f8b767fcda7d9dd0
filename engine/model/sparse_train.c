/*
 * sparse_train.c - the prunable Linears of a model whose pattern is fixed
 * (a locked stage) trained through their nonzeros instead of dense
 * products that the masks then zero:
 *
 *   forward   y = W x + b with W packed as the forward-only path packs it
 *             (engine/infer/linear.h: CSR, or 1x4 blocks), on tokens
 *             transposed to the channel-major layout its kernels take
 *   dinp      W^T dout through W^T packed beside W (CSR)
 *   dW        only at the kept positions: dW[o][c] += dout[:, o] . x[:, c]
 *             (a sampled dense-dense product), db the sums of dout
 *
 * The pattern is the weights' nonzeros when it is turned on (as
 * pofa_masks_lock takes it); the values are copied from the weights before
 * each product (after an optimizer step, or QAT's quantized copy). A
 * Linear goes sparse where the forward-only path's cost model would pack
 * it sparse on this CPU path and thread count and it has at least
 * SPARSE_MIN_DIM inputs and outputs; the others stay dense.
 * Results equal the dense masked path's within float rounding (test_train).
 */
#include "engine/model/internal.h"
#include "engine/infer/linear.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/cpu.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the smallest dimension of a Linear trained sparse: bert-tiny's (128)
 * measured 0.93-1.3x in a locked stage's pass, bert-mini's (256) 1.49x */
#define SPARSE_MIN_DIM 256

typedef struct pofa_sparse_lin {
	int on;
	int OC, C;
	pofa_linear fwd, bwd;   /* W (OC, C); W^T (C, OC) */
	int32_t *src_f, *src_b; /* each stored value's index in W; -1: a block's zero padding */
} pofa_sparse_lin;

/* the Linear at a site: its weight block and shape (4 a layer, the pooler last) */
static int site_shape(const pofa_model *m, int site, int *blk, size_t *off, int *OC, int *C)
{
	const pofa_config *c = &m->cfg;
	int L = c->num_hidden_layers, H = c->hidden_size, I = c->intermediate_size;
	if (site == 4 * L) {
		if (m->head != POFA_HEAD_CLS)
			return -1;
		*blk = PT_POOLW, *off = 0, *OC = H, *C = H;
		return 0;
	}
	int l = site / 4, k = site % 4;
	static const int blks[4] = { PT_QKVW, PT_AOW, PT_FCW, PT_FPW };
	int oc[4] = { 3 * H, H, I, H }, cc[4] = { H, H, H, I };
	*blk = blks[k], *OC = oc[k], *C = cc[k];
	*off = (size_t)l * oc[k] * cc[k];
	return 0;
}

static void lin_free(pofa_sparse_lin *s)
{
	pofa_linear_free(&s->fwd);
	pofa_linear_free(&s->bwd);
	free(s->src_f);
	free(s->src_b);
	memset(s, 0, sizeof *s);
}

void pofa_model_sparse_free(pofa_model *m)
{
	for (int i = 0; m->sp && i < m->nsp; i++)
		lin_free(&m->sp[i]);
	free(m->sp);
	free(m->spx);
	free(m->spy);
	free(m->spd);
	m->sp = NULL;
	m->spx = m->spy = m->spd = NULL;
	m->nsp = 0;
}

/* each stored value's index in w (OC, C) */
static int32_t *sources(const pofa_linear *l, int transposed, int C)
{
	int64_t n = l->stored;
	int32_t *src = malloc((size_t)(n + 1) * sizeof *src);
	if (!src)
		return NULL;
	if (l->fmt == POFA_LIN_B14) {
		for (int o = 0; o < l->OC; o++)
			for (int32_t e = l->rowptr[o]; e < l->rowptr[o + 1]; e++)
				for (int j = 0; j < 4; j++)
					src[4 * (size_t)e + j] = l->col[e] + j < l->C ? o * C + l->col[e] + j : -1;
		return src;
	}
	for (int h = 0; h < l->nch; h++) {   /* CSR, chunk by chunk and row by row as packed */
		const int32_t *rp = l->crp + (size_t)h * (l->OC + 1);
		const int32_t *ord = l->ord ? l->ord + (size_t)h * l->OC : NULL;
		for (int j = 0; j < l->OC; j++) {
			int r = ord ? ord[j] : j;
			for (int32_t e = rp[j]; e < rp[j + 1]; e++)
				src[e] = transposed ? (int32_t)l->col[e] * C + r : r * C + l->col[e];
		}
	}
	return src;
}

/* one Linear: packed when the cost model packs it sparse (CSR or 1x4) */
static int lin_setup(pofa_sparse_lin *s, const float *w, int OC, int C,
                     const pofa_infer_kern *kern, int threads)
{
	memset(s, 0, sizeof *s);
	s->OC = OC, s->C = C;
	if (OC < SPARSE_MIN_DIM || C < SPARSE_MIN_DIM)
		return 0;   /* small: the transposes cost what the zeros save */
	if (pofa_linear_pack(&s->fwd, w, NULL, OC, C, 0, kern, threads, -1))
		return -1;
	if (s->fwd.fmt != POFA_LIN_CSR && s->fwd.fmt != POFA_LIN_B14) {
		lin_free(s);   /* dense (or n:m): the dense product */
		return 0;
	}
	float *wt = malloc((size_t)OC * C * sizeof *wt);
	if (!wt)
		return -1;
	for (int o = 0; o < OC; o++)
		for (int c = 0; c < C; c++)
			wt[(size_t)c * OC + o] = w[(size_t)o * C + c];
	int bad = pofa_linear_pack(&s->bwd, wt, NULL, C, OC, 0, kern, threads, POFA_LIN_CSR);
	free(wt);
	if (bad || !(s->src_f = sources(&s->fwd, 0, C)) || !(s->src_b = sources(&s->bwd, 1, C)))
		return -1;
	s->on = 1;
	return 0;
}

int pofa_model_sparse_train(pofa_model *m, int enabled, pofa_err *err)
{
	pofa_model_sparse_free(m);
	if (!enabled)
		return POFA_OK;
	const pofa_config *c = &m->cfg;
	int L = c->num_hidden_layers, threads = pofa_pool_size(m->pool);
	m->nsp = 4 * L + 1;
	m->sp = calloc((size_t)m->nsp, sizeof *m->sp);
	const pofa_infer_kern *kern = pofa_infer_kern_for(pofa_cpu_path());
	int any = 0;
	for (int i = 0; m->sp && i < m->nsp; i++) {
		int blk, OC, C;
		size_t off;
		if (site_shape(m, i, &blk, &off, &OC, &C))
			continue;
		if (lin_setup(&m->sp[i], m->p.blk[blk] + off, OC, C, kern, threads)) {
			pofa_model_sparse_free(m);
			return pofa_error(err, POFA_ERR_RUN, "out of memory packing the model's sparse Linears");
		}
		any |= m->sp[i].on;
	}
	if (!m->sp)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	if (!any) {
		pofa_model_sparse_free(m);
		return POFA_OK;
	}
	/* the transposes: the widest input, output and output gradient */
	int H = c->hidden_size, I = c->intermediate_size, wide = 3 * H > I ? 3 * H : I;
	m->sp_ld = ((m->maxB * m->maxT + 15) & ~15) + 16;
	m->spx = aligned_alloc(64, (size_t)(I > H ? I : H) * m->sp_ld * sizeof(float));
	m->spy = aligned_alloc(64, (size_t)wide * m->sp_ld * sizeof(float));
	m->spd = aligned_alloc(64, (size_t)wide * m->sp_ld * sizeof(float));
	if (!m->spx || !m->spy || !m->spd) {
		pofa_model_sparse_free(m);
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	}
	m->sp_kern = kern;
	return POFA_OK;
}

int pofa_model_sparse_count(const pofa_model *m, int *total)
{
	int n = 0;
	for (int i = 0; m->sp && i < m->nsp; i++)
		n += m->sp[i].on;
	if (total)
		*total = 4 * m->cfg.num_hidden_layers + (m->head == POFA_HEAD_CLS);
	return n;
}

/* ---- the products ---------------------------------------------------------- */

typedef struct {
	pofa_model *m;
	const pofa_sparse_lin *s;
	const pofa_linear *l;
	float *y, *dst;
	const float *x, *src, *w;
	float *dw, *dbias;
	int N, np, rows, cols, acc;
} sp_args;

/* dst (cols, ld) channel-major = src (N, cols) row-major, by rows of dst;
 * the padding columns [N, np) zero */
static void to_cm_task(void *arg, int64_t r0, int64_t r1, int tid)
{
	(void)tid;
	sp_args *a = arg;
	int ld = a->m->sp_ld;
	for (int64_t c0 = r0; c0 < r1; c0 += 16) {
		int64_t c1 = c0 + 16 < r1 ? c0 + 16 : r1;
		for (int n = 0; n < a->N; n++) {
			const float *s = a->src + (size_t)n * a->cols;
			for (int64_t c = c0; c < c1; c++)
				a->dst[(size_t)c * ld + n] = s[c];
		}
		for (int64_t c = c0; c < c1; c++)
			memset(a->dst + (size_t)c * ld + a->N, 0, (size_t)(a->np - a->N) * sizeof(float));
	}
}

/* dst (N, rows) row-major (+)= y (rows, ld), by tokens */
static void from_cm_task(void *arg, int64_t n0, int64_t n1, int tid)
{
	(void)tid;
	sp_args *a = arg;
	int ld = a->m->sp_ld;
	for (int64_t b0 = n0; b0 < n1; b0 += 16) {
		int64_t b1 = b0 + 16 < n1 ? b0 + 16 : n1;
		for (int r = 0; r < a->rows; r++) {
			const float *y = a->y + (size_t)r * ld;
			for (int64_t n = b0; n < b1; n++) {
				float *d = a->dst + (size_t)n * a->rows + r;
				*d = a->acc ? *d + y[n] : y[n];
			}
		}
	}
}

static void product_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)i0, (void)i1;
	sp_args *a = arg;
	const pofa_linear *l = a->l;
	if (tid < l->nsplit)
		a->m->sp_kern->sparse(l, a->y, a->x, a->m->sp_ld, a->np, l->split[tid], l->split[tid + 1]);
}

/* the packed values (and bias) from the weights as they are now */
static void refresh(pofa_linear *l, const int32_t *src, const float *w, const float *bias)
{
	for (int64_t e = 0; e < l->stored; e++)
		l->val[e] = src[e] >= 0 ? w[src[e]] : 0.0f;
	if (bias)
		memcpy(l->bias, bias, (size_t)l->OC * sizeof *bias);
}

static pofa_sparse_lin *site_lin(pofa_model *m, int site)
{
	return m->sp && site >= 0 && site < m->nsp && m->sp[site].on ? &m->sp[site] : NULL;
}

static void transpose_in(pofa_model *m, sp_args *a, float *dst, const float *src, int N, int cols)
{
	a->dst = dst, a->src = src, a->N = N, a->cols = cols;
	pofa_pool_run(m->pool, cols, to_cm_task, a);
}

void pofa_lin_forward(pofa_model *m, int site, pofa_kern *k, float *out, const float *inp, const float *w,
                      const float *bias, int N, int C, int OC)
{
	pofa_sparse_lin *s = site_lin(m, site);
	if (!s) {
		pofa_matmul_forward(k, out, inp, w, bias, N, C, OC);
		return;
	}
	refresh(&s->fwd, s->src_f, w, bias);
	if (!bias)
		memset(s->fwd.bias, 0, (size_t)OC * sizeof(float));
	sp_args a = { .m = m, .s = s, .np = (N + 15) & ~15 };
	transpose_in(m, &a, m->spx, inp, N, C);
	a.l = &s->fwd, a.x = m->spx, a.y = m->spy;
	pofa_pool_run(m->pool, pofa_pool_size(m->pool), product_task, &a);
	a.dst = out, a.rows = OC, a.acc = 0, a.N = N;
	pofa_pool_run(m->pool, N, from_cm_task, &a);
}

/* the dot product of two rows of n floats, in 16 lanes (vectorised in the
 * CPU's clone: AVX-512, AVX2 with FMA, or SSE2) */
POFA_CLONES static float dot16(const float *restrict a, const float *restrict b, int n)
{
	float acc[16] = { 0 };
	int i = 0;
	for (; i + 16 <= n; i += 16)
		for (int k = 0; k < 16; k++)
			acc[k] += a[i + k] * b[i + k];
	float s = 0.0f;
	for (; i < n; i++)
		s += a[i] * b[i];
	for (int k = 0; k < 16; k++)
		s += acc[k];
	return s;
}

/* dW at the kept positions and db, rows [o0, o1) of W (dW: the rows the
 * places [o0, o1) hold) */
static void dw_task(void *arg, int64_t o0, int64_t o1, int tid)
{
	(void)tid;
	sp_args *a = arg;
	const pofa_linear *l = &a->s->fwd;
	const int32_t *src = a->s->src_f;
	int ld = a->m->sp_ld, N = a->N;
	for (int64_t o = o0; o < o1; o++) {
		const float *d = a->m->spd + (size_t)o * ld;
		if (a->dbias) {
			float sum = 0.0f;
			for (int n = 0; n < N; n++)
				sum += d[n];
			a->dbias[o] += sum;
		}
	}
	if (!a->dw)
		return;
	/* the stored values at places [o0, o1) of each chunk: each a row of
	 * d (the row the place holds, linear.h) times a row of x */
	int nch = l->fmt == POFA_LIN_B14 ? 1 : l->nch;
	for (int h = 0; h < nch; h++) {
		const int32_t *rp = l->fmt == POFA_LIN_B14 ? l->rowptr : l->crp + (size_t)h * (l->OC + 1);
		const int32_t *ord = l->fmt == POFA_LIN_CSR && l->ord ? l->ord + (size_t)h * l->OC : NULL;
		int per = l->fmt == POFA_LIN_B14 ? 4 : 1;
		for (int64_t j = o0; j < o1; j++) {
			const float *d = a->m->spd + (size_t)(ord ? ord[j] : j) * ld;
			for (int64_t e = (int64_t)rp[j] * per; e < (int64_t)rp[j + 1] * per; e++) {
				if (src[e] < 0)
					continue;
				a->dw[src[e]] += dot16(d, a->m->spx + (size_t)(src[e] % a->s->C) * ld, N);
			}
		}
	}
}

void pofa_lin_backward(pofa_model *m, int site, pofa_kern *k, float *dinp, float *dw, float *dbias,
                       const float *dout, const float *inp, const float *w, int N, int C, int OC, int acc)
{
	pofa_sparse_lin *s = site_lin(m, site);
	if (!s) {
		pofa_matmul_backward(k, dinp, dw, dbias, dout, inp, w, N, C, OC, acc);
		return;
	}
	sp_args a = { .m = m, .s = s, .np = (N + 15) & ~15 };
	transpose_in(m, &a, m->spd, dout, N, OC);
	if (dinp) {
		refresh(&s->bwd, s->src_b, w, NULL);
		memset(s->bwd.bias, 0, (size_t)C * sizeof(float));
		a.l = &s->bwd, a.x = m->spd, a.y = m->spy;
		pofa_pool_run(m->pool, pofa_pool_size(m->pool), product_task, &a);
		a.dst = dinp, a.rows = C, a.acc = acc, a.N = N;
		pofa_pool_run(m->pool, N, from_cm_task, &a);
	}
	if (dw || dbias) {
		if (dw)
			transpose_in(m, &a, m->spx, inp, N, C);
		a.dw = dw, a.dbias = dbias, a.N = N;
		pofa_pool_run(m->pool, OC, dw_task, &a);
	}
}

/* ---- how much faster ---------------------------------------------------------- */

/* the median of n values, sorted in place */
static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

double pofa_model_sparse_speedup(pofa_model *m, const pofa_batch *b, int reps, double *lo, double *hi)
{
	if (!m->sp || m->layer_done || reps < 1)
		return 0.0;
	/* what a training pass changes besides the gradients: the dropout
	 * stream, and QAT's input ranges */
	uint64_t fc = m->fwd_count, key = m->key;
	int train = m->train, n = m->qat ? m->nsites : 0;
	float *q = n ? malloc((size_t)4 * n * sizeof *q) : NULL;
	unsigned char *seen = n ? malloc((size_t)n) : NULL;
	if (n && (!q || !seen)) {
		free(q);
		free(seen);
		return 0.0;
	}
	float *ranges[4] = { m->qmin, m->qmax, m->qscale, m->qzp };
	for (int k = 0; n && k < 4; k++)
		memcpy(q + (size_t)k * n, ranges[k], (size_t)n * sizeof *q);
	if (n)
		memcpy(seen, m->qseen, (size_t)n);
	struct pofa_sparse_lin *sp = m->sp;
	double r[16], tt[2];
	if (reps > 16)
		reps = 16;
	for (int k = 0; k < reps; k++) {
		for (int sparse = 0; sparse < 2; sparse++) {
			m->sp = sparse ? sp : NULL;
			double t0 = seconds();
			pofa_model_step_loss(m, b, 1);
			pofa_model_backward(m, b);
			tt[sparse] = seconds() - t0;
		}
		r[k] = tt[0] / tt[1];
	}
	m->sp = sp;
	pofa_model_zero_grad(m);
	m->fwd_count = fc, m->key = key, m->train = train;
	for (int k = 0; n && k < 4; k++)
		memcpy(ranges[k], q + (size_t)k * n, (size_t)n * sizeof *q);
	if (n)
		memcpy(m->qseen, seen, (size_t)n);
	free(q);
	free(seen);
	double med = median(r, reps);
	if (lo)
		*lo = r[0];
	if (hi)
		*hi = r[reps - 1];
	return med;
}
