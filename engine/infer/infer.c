/*
 * infer.c - the forward-only model (see infer.h): its memory (weights
 * held, activation buffers, the pool), what it is; loading is in load.c,
 * the forward pass in forward.c, the packed int8 file in packed.c.
 *
 * Activations are channel-major, (channels, ld) with a token a column and
 * ld the token count rounded up to 16, so that the packed products
 * vectorise over tokens. A layer: QKV = one packed product; per sequence
 * and head, S^T = K^T Q / sqrt(hs), softmax with the padding keys at the
 * most negative float, ctx = V S^T (register-tiled, kern_simd.h); the output projection;
 * LayerNorm(+ residual); FFN in with GELU fused into the product; FFN out;
 * LayerNorm(+ residual). Under int8 every packed product's input is first
 * quantized (per column range, in parallel) into the path's layout.
 * Every step splits its work over the pool in a fixed way, so a thread
 * count gives the same bits every time.
 */
#include "engine/infer/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "data/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float *pofa_infer_falloc(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	float *p = aligned_alloc(64, bytes ? bytes : 64);
	if (p)
		memset(p, 0, bytes ? bytes : 64);
	return p;
}

float *pofa_infer_falloc_raw(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	float *p = aligned_alloc(64, bytes ? bytes : 64);
	if (p)
		memset(p + n, 0, (bytes ? bytes : 64) - n * sizeof(float));
	return p;
}

float *pofa_infer_fcopy(pofa_infer *inf, const float *src, size_t n)
{
	float *p = src ? pofa_infer_falloc_raw(n) : pofa_infer_falloc(n);
	if (p && src)
		memcpy(p, src, n * sizeof *p);
	inf->weight_bytes += n * sizeof *p;
	return p;
}

/* frees a buffer of the model's, unless it lies in the weights file's
 * mapping (seen in place) */
static void free_own(const pofa_infer *inf, void *p)
{
	const unsigned char *b = inf->wmap ? inf->wmap->buf : NULL;
	if (b && (const unsigned char *)p >= b && (const unsigned char *)p < b + inf->wmap->size)
		return;
	free(p);
}

/* no activations held (not freed: a share's were its base's) */
static void no_bufs(pofa_infer *inf)
{
	inf->h = inf->h1 = inf->qkv = inf->ctx = inf->tmp = inf->f = NULL;
	inf->x8 = inf->x8b = NULL;
	inf->lnsum = inf->lnsq = NULL;
	inf->lnmean = inf->lnrstd = inf->S = inf->maskadd = inf->pin = inf->pooled = NULL;
	inf->logits = NULL;
	inf->pos = inf->tgt = NULL;
	inf->xm = inf->t1 = inf->t2 = inf->t3 = inf->mean = inf->rstd = inf->sse = NULL;
	inf->aB = inf->aT = 0;
}

static void free_bufs(pofa_infer *inf)
{
	void *ptrs[] = { inf->h, inf->h1, inf->qkv, inf->ctx, inf->tmp, inf->f, inf->x8, inf->x8b, inf->lnsum,
	                 inf->lnsq, inf->lnmean, inf->lnrstd, inf->S, inf->maskadd, inf->pin, inf->pooled,
	                 inf->logits, inf->pos, inf->tgt, inf->xm, inf->t1, inf->t2, inf->t3, inf->mean, inf->rstd,
	                 inf->sse };
	for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
		free(ptrs[i]);
	no_bufs(inf);
}

/* the activations and the pool: what each user of shared weights owns */
static void free_acts(pofa_infer *inf)
{
	free_bufs(inf);
	free(inf->rk.scratch);
	if (inf->pool)
		pofa_pool_free(inf->pool);
}

void pofa_infer_free(pofa_infer *inf)
{
	if (!inf)
		return;
	free_acts(inf);
	if (inf->shares) {   /* the weights are another's */
		free(inf);
		return;
	}
	for (int l = 0; inf->lay && l < inf->L; l++) {
		inf_layer *y = &inf->lay[l];
		pofa_linear_free(&y->qkv);
		pofa_linear_free(&y->ao);
		pofa_linear_free(&y->fc);
		pofa_linear_free(&y->fp);
		free_own(inf, y->ln1w); free_own(inf, y->ln1b); free_own(inf, y->ln2w); free_own(inf, y->ln2b);
	}
	free(inf->lay);
	pofa_linear_free(&inf->pooler);
	void *ptrs[] = { inf->wte, inf->wte16, inf->wpe, inf->wtt, inf->elnw, inf->elnb, inf->clsw, inf->clsb, inf->qaw,
	                 inf->qab, inf->tw, inf->tb, inf->tlnw, inf->tlnb, inf->mlmb };
	for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
		free_own(inf, ptrs[i]);
	if (inf->wmap) {
		pofa_st_close(inf->wmap);
		free(inf->wmap);
	}
	free(inf);
}

pofa_infer *pofa_infer_share(const pofa_infer *base, pofa_err *err)
{
	pofa_infer *inf = malloc(sizeof *inf);
	if (!inf) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	*inf = *base;
	inf->shares = 1;
	no_bufs(inf); /* base's buffers are base's: this one makes its own at its first forward */
	inf->rk.scratch = NULL;
	inf->rk.scratch_per = 0;
	inf->profile = inf->passes = 0;
	memset(inf->prof, 0, sizeof inf->prof);
	inf->pool = pofa_pool_new(inf->nthreads);
	inf->rk.pool = inf->pool;
	if (!inf->pool) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		pofa_infer_free(inf);
		return NULL;
	}
	return inf; /* its activations (act_bytes as base's) come at its first forward */
}

/* the activations' sizes for aB x aT tokens */
typedef struct {
	int ld, ldb, lnb, rows;
	size_t x8, logits, att_per, bytes;
} acts_size;

static acts_size acts_of(const pofa_infer *inf, int aB, int aT)
{
	acts_size z;
	int C = inf->C, I = inf->I;
	z.ld = POFA_ROUND16(aB * aT) + 16; /* POFA_LD of any width up to aB x aT fits */
	z.ldb = POFA_ROUND16(aB);
	z.lnb = (C + POFA_LN_ROWS - 1) / POFA_LN_ROWS;
	z.rows = inf->head == POFA_HEAD_MLM ? aB * aT : 1;
	z.x8 = pofa_x8_bytes(inf->kern->x8, I > C ? I : C, z.ld);
	z.logits = inf->head == POFA_HEAD_MLM   ? (size_t)z.rows * inf->V
	           : inf->head == POFA_HEAD_CLS ? (size_t)aB * inf->cfg.num_labels
	                                        : (size_t)aB * aT * 2;
	z.att_per = (pofa_att_scratch(aT, C / inf->NH) + 15) & ~(size_t)15;
	z.bytes = ((size_t)C * z.ld * 5 + (size_t)3 * C * z.ld + (inf->int8 ? 0 : (size_t)I * z.ld) +
	           (size_t)inf->nthreads * z.att_per + (size_t)(4 * z.lnb + 2 * inf->nthreads) * z.ld +
	           (size_t)C * z.ldb * 2 + z.logits + (size_t)2 * aB * aT) * 4 + (inf->int8 ? 2 * z.x8 : 0);
	if (inf->head == POFA_HEAD_MLM)
		z.bytes += ((size_t)z.rows * C * 4 + 2 * (size_t)z.rows) * 4;
	return z;
}

void pofa_infer_count_acts(pofa_infer *inf)
{
	inf->act_bytes = acts_of(inf, inf->maxB, inf->maxT).bytes;
}

int pofa_infer_fit_acts(pofa_infer *inf, int B, int T, pofa_err *err)
{
	if (B <= inf->aB && T <= inf->aT)
		return POFA_OK;
	int aB = B > inf->aB ? B : inf->aB, aT = T > inf->aT ? T : inf->aT, C = inf->C, I = inf->I;
	free_bufs(inf);
	acts_size z = acts_of(inf, aB, aT);
	int ld = z.ld;
	inf->h = pofa_infer_falloc((size_t)C * ld);
	inf->h1 = pofa_infer_falloc((size_t)C * ld);
	inf->qkv = pofa_infer_falloc((size_t)3 * C * ld);
	inf->ctx = pofa_infer_falloc((size_t)C * ld);
	inf->tmp = pofa_infer_falloc((size_t)C * ld);
	/* int8: the FFN's first product writes the second's input in x8b */
	inf->f = inf->int8 ? NULL : pofa_infer_falloc((size_t)I * ld);
	inf->x8 = inf->int8 ? pofa_infer_falloc(z.x8 / 4 + 1) : NULL;
	inf->x8b = inf->int8 ? pofa_infer_falloc(z.x8 / 4 + 1) : NULL;
	inf->lnsum = (double *)pofa_infer_falloc((size_t)2 * z.lnb * ld);   /* doubles */
	inf->lnsq = (double *)pofa_infer_falloc((size_t)2 * z.lnb * ld);
	inf->lnmean = pofa_infer_falloc((size_t)inf->nthreads * ld);
	inf->lnrstd = pofa_infer_falloc((size_t)inf->nthreads * ld);
	inf->att_per = z.att_per;
	inf->S = pofa_infer_falloc((size_t)inf->nthreads * z.att_per);
	inf->maskadd = pofa_infer_falloc((size_t)aB * aT);
	inf->pin = pofa_infer_falloc((size_t)C * z.ldb);
	inf->pooled = pofa_infer_falloc((size_t)C * z.ldb);
	inf->logits = pofa_infer_falloc(z.logits);
	inf->pos = calloc((size_t)z.rows + 1, sizeof *inf->pos);
	inf->tgt = calloc((size_t)(2 * aB > z.rows ? 2 * aB : z.rows) + 1, sizeof *inf->tgt);
	inf->sse = pofa_infer_falloc((size_t)2 * aB * aT);
	int ok = inf->h && inf->h1 && inf->qkv && inf->ctx && inf->tmp &&
	         (inf->int8 ? inf->x8 && inf->x8b : inf->f != NULL) && inf->lnsum && inf->lnsq && inf->lnmean &&
	         inf->lnrstd && inf->S && inf->maskadd && inf->pin && inf->pooled && inf->logits && inf->pos && inf->tgt &&
	         inf->sse;
	if (ok && inf->head == POFA_HEAD_MLM) {
		inf->xm = pofa_infer_falloc((size_t)z.rows * C);
		inf->t1 = pofa_infer_falloc((size_t)z.rows * C);
		inf->t2 = pofa_infer_falloc((size_t)z.rows * C);
		inf->t3 = pofa_infer_falloc((size_t)z.rows * C);
		inf->mean = pofa_infer_falloc((size_t)z.rows);
		inf->rstd = pofa_infer_falloc((size_t)z.rows);
		ok = inf->xm && inf->t1 && inf->t2 && inf->t3 && inf->mean && inf->rstd;
	}
	if (!ok) {
		free_bufs(inf);
		return pofa_error(err, POFA_ERR_RUN, "out of memory for activations of %d x %d tokens (%.0f MiB)", aB, aT,
		                  z.bytes / 1048576.0);
	}
	inf->aB = aB, inf->aT = aT;
	return POFA_OK;
}

pofa_infer *pofa_infer_shell(const pofa_config *c, enum pofa_head head, int int8, const pofa_infer_opts *o,
                             pofa_err *err)
{
	pofa_infer *inf = calloc(1, sizeof *inf);
	if (!inf) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	inf->cfg = *c;
	inf->head = head;
	inf->C = c->hidden_size;
	inf->I = c->intermediate_size;
	inf->NH = c->num_attention_heads;
	inf->L = c->num_hidden_layers;
	inf->V = c->vocab_size;
	inf->maxB = o->maxB > 0 ? o->maxB : 1;
	inf->maxT = o->maxT > 0 ? POFA_MIN(o->maxT, c->max_position_embeddings) : c->max_position_embeddings;
	inf->nthreads = o->threads > 0 ? o->threads : 1;
	inf->int8 = int8;
	inf->kern = pofa_infer_kern_for(o->cpu >= 0 ? (enum pofa_cpu_path)o->cpu : pofa_cpu_path());
	inf->pool = pofa_pool_new(inf->nthreads);
	inf->lay = calloc((size_t)inf->L, sizeof *inf->lay);
	if (!inf->pool || !inf->lay) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		pofa_infer_free(inf);
		return NULL;
	}
	inf->rk.pool = inf->pool;
	return inf;
}

/* the word embeddings rounded to float16: held so, or as floats of those
 * values when the MLM head's decoder (an sgemm) needs them */
int pofa_infer_emb16(pofa_infer *inf)
{
	size_t n = (size_t)inf->V * inf->C;
	if (inf->head == POFA_HEAD_MLM) {
		for (size_t i = 0; i < n; i++)
			inf->wte[i] = pofa_half_to_float(pofa_float_to_half(inf->wte[i]));
		return 0;
	}
	inf->wte16 = malloc(n * sizeof *inf->wte16);
	if (!inf->wte16)
		return -1;
	for (size_t i = 0; i < n; i++)
		inf->wte16[i] = pofa_float_to_half(inf->wte[i]);
	free(inf->wte);
	inf->wte = NULL;
	inf->weight_bytes -= n * (sizeof(float) - sizeof *inf->wte16);
	return 0;
}

const pofa_config *pofa_infer_config(const pofa_infer *inf) { return &inf->cfg; }
enum pofa_head pofa_infer_head(const pofa_infer *inf) { return inf->head; }

void pofa_infer_describe(const pofa_infer *inf, pofa_infer_info *info)
{
	memset(info, 0, sizeof *info);
	info->path = inf->kern->path;
	info->int8 = inf->int8;
	int64_t nnz = 0, total = 0;
	for (int l = 0; l < inf->L + 1; l++) {
		const pofa_linear *ls[4] = { NULL, NULL, NULL, NULL };
		if (l < inf->L) {
			ls[0] = &inf->lay[l].qkv; ls[1] = &inf->lay[l].ao; ls[2] = &inf->lay[l].fc; ls[3] = &inf->lay[l].fp;
		} else if (inf->has_pooler) {
			ls[0] = &inf->pooler;
		}
		for (int k = 0; k < 4; k++)
			if (ls[k]) {
				info->linears[ls[k]->fmt]++;
				nnz += ls[k]->nnz;
				total += (int64_t)ls[k]->OC * ls[k]->C;
			}
	}
	info->sparsity = total ? 1.0 - (double)nnz / (double)total : 0.0;
	info->weight_bytes = inf->weight_bytes;
	info->act_bytes = inf->act_bytes;
	info->dense_bytes = pofa_config_num_params(&inf->cfg, inf->head) * sizeof(float);
}

