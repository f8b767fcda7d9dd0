/* obert.c - second-order pruning with a blockwise inverse Fisher (see obert.h). */
#include "engine/sparse/obert.h"
#include "engine/io/safetensors.h"
#include "engine/kernels/pool.h"
#include "data/base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the math of one block ------------------------------------------------------ */

void pofa_obert_block_reset(float *finv, int n, double lambda)
{
	memset(finv, 0, (size_t)n * n * sizeof *finv);
	for (int i = 0; i < n; i++)
		finv[(size_t)i * n + i] = (float)(1.0 / lambda);
}

void pofa_obert_block_add(float *finv, int n, const float *g, int m, float *u)
{
	/* u = F^-1 g (F^-1 symmetric), then F^-1 -= u u^T / (m + g^T u) */
	double gu = 0.0;
	for (int i = 0; i < n; i++) {
		const float *row = finv + (size_t)i * n;
		double a = 0.0;
		for (int j = 0; j < n; j++)
			a += (double)row[j] * g[j];
		u[i] = (float)a;
		gu += a * g[i];
	}
	double inv = 1.0 / ((double)m + gu);
	for (int i = 0; i < n; i++) {
		float *row = finv + (size_t)i * n;
		float ui = (float)(u[i] * inv);
		for (int j = 0; j < n; j++)
			row[j] -= ui * u[j];
	}
}

/* the inverse of the 4x4 (or 1x1) submatrix of F^-1 at the unit's rows and
 * columns, in double (Gauss-Jordan with partial pivoting); 0, or -1 when
 * singular */
static int unit_inverse(const float *finv, int n, int q0, int width, double inv[16])
{
	double a[4][8];
	for (int i = 0; i < width; i++)
		for (int j = 0; j < width; j++) {
			a[i][j] = finv[(size_t)(q0 + i) * n + q0 + j];
			a[i][width + j] = i == j;
		}
	for (int c = 0; c < width; c++) {
		int p = c;
		for (int r = c + 1; r < width; r++)
			if (fabs(a[r][c]) > fabs(a[p][c]))
				p = r;
		if (!(fabs(a[p][c]) > 0.0))
			return -1;
		for (int k = 0; k < 2 * width; k++) {
			double t = a[c][k];
			a[c][k] = a[p][k];
			a[p][k] = t;
		}
		double d = a[c][c];
		for (int k = 0; k < 2 * width; k++)
			a[c][k] /= d;
		for (int r = 0; r < width; r++)
			if (r != c) {
				double f = a[r][c];
				for (int k = 0; k < 2 * width; k++)
					a[r][k] -= f * a[c][k];
			}
	}
	for (int i = 0; i < width; i++)
		for (int j = 0; j < width; j++)
			inv[i * width + j] = a[i][width + j];
	return 0;
}

void pofa_obert_block_saliency(const float *finv, int n, const float *w, int width, float *rho)
{
	for (int q0 = 0; q0 + width <= n; q0 += width) {
		double inv[16], s = 0.0;
		if (unit_inverse(finv, n, q0, width, inv)) {
			rho[q0 / width] = INFINITY;   /* no curvature known: never the cheapest */
			continue;
		}
		for (int i = 0; i < width; i++)
			for (int j = 0; j < width; j++)
				s += (double)w[q0 + i] * inv[i * width + j] * w[q0 + j];
		rho[q0 / width] = (float)(0.5 * s);
	}
}

/* a pruned unit at q0 (every mask 0): ([F^-1]_QQ)^-1 into inv and
 * c = ([F^-1]_QQ)^-1 w_Q; 0, or -1 when the unit is kept or singular */
static int pruned_unit(const float *finv, int n, const float *w, const unsigned char *mask, int q0, int width,
                       double inv[16], double c[4])
{
	for (int i = 0; i < width; i++)
		if (mask[q0 + i])
			return -1;
	if (unit_inverse(finv, n, q0, width, inv))
		return -1;
	for (int i = 0; i < width; i++) {
		c[i] = 0.0;
		for (int j = 0; j < width; j++)
			c[i] += inv[i * width + j] * w[q0 + j];
	}
	return 0;
}

/* the sum of single-unit updates: each newly pruned unit's
 * -F^-1_{:,Q} ([F^-1]_QQ)^-1 w_Q from the weights as they were */
static void update_summed(const float *finv, int n, float *w, const unsigned char *mask, int width)
{
	double dw[512] = { 0.0 };
	int any = 0;
	for (int q0 = 0; q0 + width <= n; q0 += width) {
		int nonzero = 0;
		for (int i = 0; i < width; i++)
			nonzero |= w[q0 + i] != 0.0f;
		double inv[16], c[4];
		if (!nonzero || pruned_unit(finv, n, w, mask, q0, width, inv, c))
			continue;
		for (int r = 0; r < n; r++)
			for (int i = 0; i < width; i++)
				dw[r] -= (double)finv[(size_t)r * n + q0 + i] * c[i];
		any = 1;
	}
	for (int r = 0; any && r < n; r++)
		w[r] += (float)dw[r];
}

/* the joint optimum with every pruned unit's weights (the set P) held at
 * zero: -F^-1_{:,P} ([F^-1]_PP)^-1 w_P, by one solve of the k x k system
 * (Gaussian elimination with partial pivoting, in double) - the same as
 * taking the units one at a time with F^-1 restricted after each, at k^3/3
 * operations instead of k n^2. A singular system leaves the kept weights
 * as they are. S: scratch of k (k + 1) doubles */
static void update_joint(const float *finv, int n, float *w, const unsigned char *mask, int width, double *S)
{
	int P[512], k = 0;
	for (int q0 = 0; q0 + width <= n; q0 += width) {
		int pruned = 1;
		for (int i = 0; i < width; i++)
			pruned &= !mask[q0 + i];
		for (int i = 0; pruned && i < width; i++)
			P[k++] = q0 + i;
	}
	int K = k + 1, ok = k > 0;
	for (int i = 0; i < k; i++) {   /* [ [F^-1]_PP | w_P ] */
		for (int j = 0; j < k; j++)
			S[i * K + j] = finv[(size_t)P[i] * n + P[j]];
		S[i * K + k] = w[P[i]];
	}
	for (int c = 0; c < k && ok; c++) {
		int p = c;
		for (int r = c + 1; r < k; r++)
			if (fabs(S[r * K + c]) > fabs(S[p * K + c]))
				p = r;
		ok = fabs(S[p * K + c]) > 0.0;
		for (int j = c; ok && p != c && j < K; j++) {
			double t = S[c * K + j];
			S[c * K + j] = S[p * K + j];
			S[p * K + j] = t;
		}
		for (int r = c + 1; ok && r < k; r++) {
			double f = S[r * K + c] / S[c * K + c];
			for (int j = c; j < K; j++)
				S[r * K + j] -= f * S[c * K + j];
		}
	}
	for (int c = k - 1; ok && c >= 0; c--) {   /* back substitution: the solution into column k */
		double v = S[c * K + k];
		for (int j = c + 1; j < k; j++)
			v -= S[c * K + j] * S[j * K + k];
		S[c * K + k] = v / S[c * K + c];
	}
	for (int r = 0; ok && r < n; r++) {
		double d = 0.0;
		for (int i = 0; i < k; i++)
			d += (double)finv[(size_t)r * n + P[i]] * S[i * K + k];
		w[r] -= (float)d;
	}
	for (int i = 0; i < k; i++)
		w[P[i]] = 0.0f;
}

void pofa_obert_block_update(const float *finv, int n, float *w, const unsigned char *mask, int width, int how,
                             double *scratch)
{
	if (how == POFA_OBERT_SUMMED)
		update_summed(finv, n, w, mask, width);
	else if (how == POFA_OBERT_JOINT)
		update_joint(finv, n, w, mask, width, scratch);
}

/* ---- the state: every prunable matrix's blocks ------------------------------------- */

typedef struct {
	int B, m;                 /* weights a block; gradients an estimate */
	double lambda;
	int update;               /* how the weights kept are updated: POFA_OBERT_* */
	int width;                /* a unit's weights: 1, or the block pattern's */
	int64_t nblocks;
	int64_t *first;           /* per tensor: its first block (-1: not prunable) */
	float *finv;              /* nblocks x B x B */
	int64_t *tensor_of;       /* per block: its tensor */
	int ngrads;               /* gradients in the estimate under way */
	pofa_pool *pool;
	float *scratch;           /* per thread: B floats */
	double *dscratch;         /* per thread: B (B + 1) doubles */
} obert;

/* a block's weights: its tensor's, from block k's first */
static int64_t block_start(const obert *o, const pofa_tensor *t, int64_t k, int ti)
{
	(void)t;
	return (k - o->first[ti]) * o->B;
}

static int block_len(const obert *o, const pofa_tensor *t, int64_t k, int ti)
{
	int64_t s = block_start(o, t, k, ti);
	return (int)(t->numel - s < o->B ? t->numel - s : o->B);
}

static float *block_finv(const obert *o, int64_t k)
{
	return o->finv + (size_t)k * o->B * o->B;
}

/* bytes free on this machine (0: unknown) */
static double room_free(void)
{
	long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	return pages > 0 && psz > 0 ? (double)pages * psz : 0.0;
}

/* B = 50 less a multiple of width, lower until n weights' blocks fit a
 * third of the memory free */
/* the gradients of one estimate: obert_grads, or the steps between two
 * pruning steps (at most 1024, the paper's m) */
static int grads_of(const pofa_gmp *g)
{
	int64_t every = g->every > 0 ? g->every : 1;
	return g->obert_grads > 0 ? g->obert_grads : (int)POFA_MIN(every, 1024);
}

/* The default block for n prunable weights: the paper's 50 (m = 1024
 * gradients an estimate), but no more than half the gradients an estimate
 * has, rounded up to the unit's width - a block's Fisher from fewer
 * gradients than it has weights is of lower rank than the block, the rest
 * of it the dampening alone (bench/README.md, "oBERT's block size", has
 * what it changed in the reproduction); then lower until the blocks fit a
 * third of the memory free. */
static int default_block_n(double n, int width, int grads)
{
	double room = room_free() > 0.0 ? room_free() / 3.0 : 4e9;
	int half = (grads + 1) / 2;
	int B = POFA_MIN(50, (half + width - 1) / width * width);
	B -= B % width;
	if (B < width)
		B = width;
	while (B > width && n * B * sizeof(float) > room)
		B -= width;
	return B;
}

static int unit_width(const pofa_gmp *g)
{
	return g->pattern == POFA_PATTERN_BLOCK ? g->block : 1;
}

int pofa_obert_default_block(pofa_model *m, const pofa_gmp *g)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t);
	double n = 0.0;
	for (int i = 0; i < nt; i++)
		n += t[i].prunable && !t[i].absent ? (double)t[i].numel : 0.0;
	return default_block_n(n, unit_width(g), grads_of(g));
}

static int block_of(pofa_model *m, const pofa_gmp *g)
{
	return g->obert_block > 0 ? g->obert_block : pofa_obert_default_block(m, g);
}

void pofa_obert_settings(pofa_model *m, const pofa_gmp *g, char *buf, size_t n)
{
	snprintf(buf, n, "B = %d weights a block, m = %d gradients an estimate, dampening %g", block_of(m, g),
	         grads_of(g), g->obert_damp > 0.0 ? g->obert_damp : 1e-7);
}

size_t pofa_obert_memory(pofa_model *m, const pofa_gmp *g)
{
	int B = block_of(m, g);
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t);
	size_t blocks = 0;
	for (int i = 0; i < nt; i++)
		if (t[i].prunable && !t[i].absent)
			blocks += (size_t)((t[i].numel + B - 1) / B);
	return blocks * (size_t)B * B * sizeof(float);
}

size_t pofa_obert_memory_cfg(const pofa_config *c, const pofa_gmp *g, int *block)
{
	/* per layer: query, key, value, attention output (C x C), the
	 * feed-forward's two (I x C, C x I); the pooler (C x C) */
	int64_t C = c->hidden_size, I = c->intermediate_size, L = c->num_hidden_layers;
	double n = (double)L * (4 * C * C + 2 * I * C) + (double)C * C;
	int B = g->obert_block > 0 ? g->obert_block : default_block_n(n, unit_width(g), grads_of(g));
	int64_t blocks = L * (4 * ((C * C + B - 1) / B) + 2 * ((I * C + B - 1) / B)) + (C * C + B - 1) / B;
	if (block)
		*block = B;
	return (size_t)blocks * (size_t)B * B * sizeof(float);
}

int pofa_obert_fits(size_t need, int B, pofa_err *err)
{
	double room = room_free();
	if (!(room > 0.0) || (double)need <= 0.8 * room)
		return POFA_OK;
	/* the memory grows with B (B floats per weight): the largest block, a
	 * multiple of 4, that fits */
	int fit = (int)(0.8 * room / ((double)need / B)) / 4 * 4;
	char what[64];
	snprintf(what, sizeof what, fit >= 4 ? "obert_block = %d or less" : "method = magnitude", fit);
	return pofa_error(err, POFA_ERR_INPUT, "method = obert with obert_block = %d needs %.2f GB for its inverse Fisher "
	                  "blocks; this machine has %.2f GB free: use %s", B, need / 1e9, room / 1e9, what);
}

void pofa_obert_free(pofa_masks *mk)
{
	obert *o = mk->state;
	if (!o)
		return;
	free(o->first);
	free(o->finv);
	free(o->tensor_of);
	free(o->scratch);
	free(o->dscratch);
	if (o->pool)
		pofa_pool_free(o->pool);
	free(o);
	mk->state = NULL;
}

typedef struct { obert *o; pofa_tensor *t; } reset_job;

static void reset_task(void *arg, int64_t k0, int64_t k1, int tid)
{
	(void)tid;
	reset_job *j = arg;
	for (int64_t k = k0; k < k1; k++) {
		int ti = (int)j->o->tensor_of[k];
		/* a block of n weights: an n x n matrix (rows n apart) */
		pofa_obert_block_reset(block_finv(j->o, k), block_len(j->o, &j->t[ti], k, ti), j->o->lambda);
	}
}

/* a new estimate: every block's F^-1 = I / lambda */
static void reset_all(pofa_masks *mk, obert *o)
{
	pofa_tensor *t;
	pofa_model_tensors(mk->model, &t);
	reset_job j = { o, t };
	pofa_pool_run(o->pool, o->nblocks, reset_task, &j);
	o->ngrads = 0;
}

int pofa_obert_init(pofa_masks *mk, const pofa_gmp *g, pofa_err *err)
{
	pofa_model *m = mk->model;
	int width = unit_width(g);
	if (width != 1 && width != 4)
		return pofa_error(err, POFA_ERR_INPUT, "method = obert prunes weights or 1x4 blocks, not 1x%d", width);
	if (g->pattern == POFA_PATTERN_NM)
		return pofa_error(err, POFA_ERR_INPUT, "method = obert prunes unstructured or in 1x4 blocks, not N:M");
	int B = block_of(m, g);
	if (B < width || B % width || B > 512)
		return pofa_error(err, POFA_ERR_INPUT, "obert_block = %d: want a multiple of %d up to 512", B, width);
	size_t need = pofa_obert_memory(m, g);
	if (pofa_obert_fits(need, B, err))
		return err->status;
	obert *o = calloc(1, sizeof *o);
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t);
	if (!o)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	mk->state = o;
	o->B = B;
	o->width = width;
	o->lambda = g->obert_damp > 0.0 ? g->obert_damp : 1e-7;
	o->update = g->obert_update;
	o->m = grads_of(g);
	o->first = malloc(((size_t)nt + 1) * sizeof *o->first);
	for (int i = 0; o->first && i < nt; i++) {
		o->first[i] = t[i].prunable && !t[i].absent ? o->nblocks : -1;
		o->nblocks += o->first[i] >= 0 ? (t[i].numel + B - 1) / B : 0;
	}
	o->finv = o->first ? malloc(need + sizeof(float)) : NULL;
	o->tensor_of = malloc(((size_t)o->nblocks + 1) * sizeof *o->tensor_of);
	o->pool = pofa_pool_new(pofa_model_threads(m));
	o->scratch = malloc((size_t)pofa_model_threads(m) * B * sizeof *o->scratch);
	o->dscratch = malloc((size_t)pofa_model_threads(m) * B * (B + 1) * sizeof *o->dscratch);
	if (!o->first || !o->finv || !o->tensor_of || !o->pool || !o->scratch || !o->dscratch) {
		pofa_obert_free(mk);
		return pofa_error(err, POFA_ERR_RUN, "method = obert: out of memory for %.2f GB of inverse Fisher blocks",
		                  need / 1e9);
	}
	for (int i = 0; i < nt; i++)
		for (int64_t k = o->first[i]; o->first[i] >= 0 && k < o->first[i] + (t[i].numel + B - 1) / B; k++)
			o->tensor_of[k] = i;
	reset_all(mk, o);
	return POFA_OK;
}

/* ---- the hooks ---------------------------------------------------------------------- */

/* the pruning step after step t (<= freeze), or -1 */
static int64_t next_prune(const pofa_gmp *g, int64_t t)
{
	for (int64_t u = t + 1; u <= g->freeze; u++)
		if (pofa_gmp_update_step(g, u))
			return u;
	return -1;
}

typedef struct { obert *o; pofa_tensor *t; } grad_job;

static void grad_task(void *arg, int64_t k0, int64_t k1, int tid)
{
	grad_job *j = arg;
	obert *o = j->o;
	for (int64_t k = k0; k < k1; k++) {
		int ti = (int)o->tensor_of[k];
		const pofa_tensor *t = &j->t[ti];
		int64_t s = block_start(o, t, k, ti);
		pofa_obert_block_add(block_finv(o, k), block_len(o, t, k, ti), t->grad + s, o->m,
		                     o->scratch + (size_t)tid * o->B);
	}
}

int pofa_obert_grads(pofa_masks *mk, const pofa_gmp *g, int64_t step, pofa_err *err)
{
	(void)err;
	obert *o = mk->state;
	int64_t next = next_prune(g, step);
	/* the gradients of the m steps before the next pruning step make its
	 * estimate (after a pruning step the estimate starts afresh) */
	if (!o || next < 0 || step < next - o->m || o->ngrads >= o->m)
		return POFA_OK;
	pofa_tensor *t;
	pofa_model_tensors(mk->model, &t);
	grad_job j = { o, t };
	pofa_pool_run(o->pool, o->nblocks, grad_task, &j);
	o->ngrads++;
	return POFA_OK;
}

void pofa_obert_score(const pofa_masks *mk, const pofa_tensor *t, int width, float *score)
{
	const obert *o = mk->state;
	pofa_tensor *all;
	int ti = (int)(t - (pofa_model_tensors(mk->model, &all), all));
	for (int64_t k = o->first[ti]; k < o->first[ti] + (t->numel + o->B - 1) / o->B; k++) {
		int64_t s = block_start(o, t, k, ti);
		int n = block_len(o, t, k, ti);
		pofa_obert_block_saliency(block_finv(o, k), n - n % width, t->data + s, width, score + s / width);
	}
}

typedef struct { obert *o; pofa_masks *mk; pofa_tensor *t; float *params; } update_job;

static void update_task(void *arg, int64_t k0, int64_t k1, int tid)
{
	update_job *j = arg;
	obert *o = j->o;
	for (int64_t k = k0; k < k1; k++) {
		int ti = (int)o->tensor_of[k];
		pofa_tensor *t = &j->t[ti];
		int64_t s = block_start(o, t, k, ti);
		const unsigned char *mask = j->mk->m + (t->data - j->params) + s;
		pofa_obert_block_update(block_finv(o, k), block_len(o, t, k, ti), t->data + s, mask, o->width, o->update,
		                        o->dscratch + (size_t)tid * o->B * (o->B + 1));
	}
}

void pofa_obert_after_prune(pofa_masks *mk, const pofa_gmp *g)
{
	obert *o = mk->state;
	if (!o)
		return;
	if (o->update != POFA_OBERT_NONE) {
		pofa_tensor *t;
		pofa_model_tensors(mk->model, &t);
		update_job j = { o, mk, t, pofa_model_params(mk->model) };
		pofa_pool_run(o->pool, o->nblocks, update_task, &j);
	}
	(void)g;
	reset_all(mk, o);   /* the next pruning step's estimate starts now */
}

/* ---- the state in a checkpoint -------------------------------------------------------- */

int pofa_obert_save(const pofa_masks *mk, const char *path, pofa_err *err)
{
	const obert *o = mk->state;
	float meta[4] = { (float)o->B, (float)o->m, (float)o->ngrads, (float)o->width };
	pofa_st_out out[2] = {
		{ "obert.finv", o->finv, 2, { o->nblocks, (int64_t)o->B * o->B }, POFA_F32 },
		{ "obert.state", meta, 1, { 4, 0 }, POFA_F32 },
	};
	static const char *const md[][2] = { { "format", "pt" } };
	return pofa_st_write(path, out, 2, md, 1, err);
}

int pofa_obert_load(pofa_masks *mk, const char *path, pofa_err *err)
{
	obert *o = mk->state;
	pofa_st_file f;
	if (pofa_st_open(&f, path, err))
		return err->status;
	const pofa_st_tensor *fi = pofa_st_find(&f, "obert.finv"), *st = pofa_st_find(&f, "obert.state");
	float meta[4];
	int rc = POFA_OK;
	if (!fi || !st || fi->dtype != POFA_F32 || fi->ndim != 2 || fi->shape[0] != o->nblocks ||
	    fi->shape[1] != (int64_t)o->B * o->B || st->dtype != POFA_F32 || st->ndim != 1 || st->shape[0] != 4)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: not the oBERT state of this stage (%lld blocks of %d weights)",
		                path, (long long)o->nblocks, o->B);
	if (!rc && !(rc = pofa_st_read_f32(&f, st, meta, err)) &&
	    (meta[0] != (float)o->B || meta[1] != (float)o->m || meta[3] != (float)o->width || meta[2] < 0 ||
	     meta[2] > (float)o->m))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: obert.state does not match the stage's block size, gradients "
		                "and pattern", path);
	if (!rc)
		rc = pofa_st_read_f32(&f, fi, o->finv, err);
	if (!rc)
		o->ngrads = (int)meta[2];
	pofa_st_close(&f);
	return rc;
}
