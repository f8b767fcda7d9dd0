/*
 * model.c - the BERT encoder with its three heads: parameters, activation
 * arena, forward, task losses, backward. The optimizer is in optim.c,
 * quantization-aware training in qat.c, distillation in kd.c.
 *
 * Memory follows llm.c: one block each for parameters, gradients and the two
 * AdamW moments, and one activation arena sized for (maxB, maxT) when the
 * model is made. A training step allocates nothing.
 */
#include "engine/model/internal.h"
#include "data/base/rng.h"

#include <cblas.h>
#undef I /* complex.h, pulled in by cblas.h; I is the intermediate size here */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


/* ---- the activation arena ---------------------------------------------- */

static size_t arena_layout(pofa_model *m, float *base)
{
	const pofa_config *c = &m->cfg;
	size_t N = (size_t)m->maxB * m->maxT, C = c->hidden_size, L = c->num_hidden_layers;
	size_t I = c->intermediate_size, V = c->vocab_size, B = m->maxB, T = m->maxT;
	size_t NH = c->num_attention_heads;
	size_t off = 0;
	model_acts *a = &m->a;
#define TAKE(ptr, n)                                                          \
	do {                                                                  \
		*(void **)&(ptr) = base ? (void *)(base + off) : NULL;        \
		off += ((size_t)(n) + 15) & ~(size_t)15;                      \
	} while (0)
	TAKE(a->e, N * C);
	TAKE(a->eln, N * C);
	TAKE(a->h0, N * C);
	TAKE(a->mean0, N);
	TAKE(a->rstd0, N);
	TAKE(a->qkv, L * N * 3 * C);
	TAKE(a->att, L * B * NH * T * T);
	if (c->attention_probs_dropout_prob > 0.0f)
		TAKE(a->attd, L * B * NH * T * T);
	else
		a->attd = a->att;
	TAKE(a->ctx, L * N * C);
	TAKE(a->r1, L * N * C);
	TAKE(a->mean1, L * N);
	TAKE(a->rstd1, L * N);
	TAKE(a->h1, L * N * C);
	TAKE(a->f, L * N * I);
	TAKE(a->g, L * N * I);
	TAKE(a->r2, L * N * C);
	TAKE(a->mean2, L * N);
	TAKE(a->rstd2, L * N);
	TAKE(a->h2, L * N * C);
	TAKE(a->tmp, N * C);
	TAKE(a->da, N * C);
	TAKE(a->db, N * C);
	TAKE(a->dc, N * C);
	TAKE(a->dctx, N * C);
	TAKE(a->dqkv, N * 3 * C);
	TAKE(a->dg, N * I);
	TAKE(m->qbuf, N * (I > C ? I : C));
	switch (m->head) {
	case POFA_HEAD_MLM:
		TAKE(a->xm, N * C);
		TAKE(a->t1, N * C);
		TAKE(a->t2, N * C);
		TAKE(a->t3, N * C);
		TAKE(a->meant, N);
		TAKE(a->rstdt, N);
		TAKE(a->dxm, N * C);
		TAKE(a->dt, N * C);
		TAKE(a->pos, N);
		TAKE(a->tgt, N);
		TAKE(a->logits, N * V);
		TAKE(a->dlogits, N * V);
		break;
	case POFA_HEAD_CLS:
		TAKE(a->pin, B * C);
		TAKE(a->pooled, B * C);
		TAKE(a->pd, B * C);
		TAKE(a->dpin, B * C);
		TAKE(a->dpooled, B * C);
		TAKE(a->tgt, B);
		TAKE(a->logits, B * c->num_labels);
		TAKE(a->dlogits, B * c->num_labels);
		break;
	default:
		TAKE(a->sse, 2 * N);
		TAKE(a->dsse, 2 * N);
		TAKE(a->tgt, 2 * B);
		TAKE(a->logits, N * 2);
		TAKE(a->dlogits, N * 2);
		break;
	}
#undef TAKE
	return off;
}

/* ---- construction ------------------------------------------------------ */

static size_t dw_part_per(const pofa_config *cfg)
{
	size_t C = (size_t)cfg->hidden_size, OC = POFA_MAX(3 * C, (size_t)cfg->intermediate_size);
	return OC * C + OC;
}

/* what a model of this use takes, in bytes: parameters (and gradients and
 * two AdamW moments when it trains), activations, per-thread scratch */
static double model_bytes(pofa_model *m, int nthreads)
{
	size_t act = arena_layout(m, NULL);
	size_t T = (size_t)m->maxT, C = (size_t)m->cfg.hidden_size;
	size_t scratch = POFA_MAX(T * T, 2 * C) * (size_t)nthreads;
	if (m->use == POFA_MODEL_TRAIN && nthreads > 1)
		scratch += dw_part_per(&m->cfg) * (size_t)(nthreads - 1);
	return 4.0 * ((double)m->nparams * (m->use == POFA_MODEL_TRAIN ? 4 : 1) + (double)act + (double)scratch);
}

pofa_model *pofa_model_new(const pofa_config *cfg, enum pofa_head head, int maxB, int maxT,
                           int nthreads, pofa_err *err)
{
	return pofa_model_new_for(cfg, head, POFA_MODEL_TRAIN, maxB, maxT, nthreads, err);
}

pofa_model *pofa_model_new_for(const pofa_config *cfg, enum pofa_head head, enum pofa_model_use use,
                               int maxB, int maxT, int nthreads, pofa_err *err)
{
	if (pofa_config_check(cfg, "model config", err))
		return NULL;
	if ((unsigned)head >= POFA_HEAD_COUNT) {
		pofa_error(err, POFA_ERR_INPUT, "unknown model head %d", head);
		return NULL;
	}
	if (maxB < 1 || maxT < 1 || maxT > cfg->max_position_embeddings) {
		pofa_error(err, POFA_ERR_INPUT,
		           "batch %d x sequence %d: the sequence must be 1..%d (the model's max_position_embeddings)",
		           maxB, maxT, cfg->max_position_embeddings);
		return NULL;
	}
	if (head == POFA_HEAD_CLS && cfg->num_labels < 1) {
		pofa_error(err, POFA_ERR_INPUT, "a classification head needs num_labels >= 1");
		return NULL;
	}
	nthreads = POFA_MAX(1, POFA_MIN(nthreads, 64));
	pofa_model *m = calloc(1, sizeof *m);
	if (!m)
		goto oom;
	m->cfg = *cfg;
	m->head = head;
	m->use = use;
	m->maxB = maxB;
	m->maxT = maxT;
	m->dropout = 1;
	m->saved_drop[0] = cfg->hidden_dropout_prob;
	m->saved_drop[1] = cfg->attention_probs_dropout_prob;
	m->saved_drop[2] = cfg->classifier_dropout;
	m->mlm_positions = POFA_MLM_MASKED;
	pofa_param_sizes(cfg, head, m->sizes);
	m->nparams = pofa_config_num_params(cfg, head);
	/* more than the machine has: say so before the kernel's OOM killer does */
	double need = model_bytes(m, nthreads);
	double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	if (have > 0 && need > have) {
		pofa_error(err, POFA_ERR_INPUT, "the model needs %.0f MiB (%zu parameters%s, activations for batch "
		           "%d x %d) and the machine has %.0f MiB; lower batch or seq, or use a smaller model",
		           need / 1048576.0, m->nparams, use == POFA_MODEL_TRAIN ? " with gradients and AdamW moments" : "",
		           maxB, maxT, have / 1048576.0);
		free(m);
		return NULL;
	}
	/* the pool supplies the parallelism: each sgemm call is single-threaded */
	openblas_set_num_threads(1);
	m->pool = pofa_pool_new(nthreads);
	if (!m->pool)
		goto oom;
	m->k.pool = m->pool;

	if (use == POFA_MODEL_INFER) {
		/* the kernel's zero pages, given as they are first written: a model
		 * whose weights are seen in the file (pofa_model_view_weights)
		 * never pays for them */
		void *p = mmap(NULL, m->nparams * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			m->params = p;
			m->params_mapped = 1;
		}
	} else {
		m->params = pofa_alloc_floats(m->nparams);
	}
	if (!m->params)
		goto oom;
	if (use == POFA_MODEL_TRAIN) {
		m->grads = pofa_alloc_floats(m->nparams);
		m->m1 = pofa_alloc_floats(m->nparams);
		m->m2 = pofa_alloc_floats(m->nparams);
		if (!m->grads || !m->m1 || !m->m2)
			goto oom;
	}
	pofa_point_blocks(&m->p, m->params, m->sizes);
	pofa_point_blocks(&m->g, m->grads, m->sizes);

	int maxtensors = 8 + 16 * cfg->num_hidden_layers + 16;
	m->tensors = calloc((size_t)maxtensors, sizeof *m->tensors);
	m->active = calloc((size_t)maxtensors, 1);
	if (!m->tensors || !m->active)
		goto oom;
	pofa_build_tensor_table(m);

	size_t n = arena_layout(m, NULL);
	m->arena = pofa_alloc_floats(n);
	if (!m->arena)
		goto oom;
	arena_layout(m, m->arena);

	size_t T = (size_t)maxT, C = (size_t)cfg->hidden_size;
	m->k.scratch_per = POFA_MAX(T * T, 2 * C);
	m->shared_scratch = pofa_alloc_floats(m->k.scratch_per * (size_t)pofa_pool_size(m->pool));
	if (!m->shared_scratch)
		goto oom;
	m->k.scratch = m->shared_scratch;
	if (use == POFA_MODEL_TRAIN && pofa_pool_size(m->pool) > 1) {
		m->k.dw_part_per = dw_part_per(cfg);
		m->k.dw_part = pofa_alloc_floats(m->k.dw_part_per * (size_t)(pofa_pool_size(m->pool) - 1));
		if (!m->k.dw_part)
			goto oom;
	}
	return m;
oom:
	pofa_error(err, POFA_ERR_RUN, "out of memory: the model needs %.0f MiB (%zu parameters%s, activations "
	           "for batch %d x %d); lower batch or seq", m ? model_bytes(m, nthreads) / 1048576.0 : 0.0,
	           m ? m->nparams : (size_t)0, use == POFA_MODEL_TRAIN ? " with gradients and AdamW moments" : "",
	           maxB, maxT);
	pofa_model_free(m);
	return NULL;
}

void pofa_model_free(pofa_model *m)
{
	if (!m)
		return;
	pofa_pool_free(m->pool);
	if (m->params_mapped)
		munmap(m->params, m->nparams * sizeof(float));
	else
		free(m->params);
	free(m->grads);
	free(m->m1);
	free(m->m2);
	free(m->tensors);
	free(m->active);
	free(m->arena);
	free(m->shared_scratch);
	free(m->k.dw_part);
	pofa_model_sparse_free(m);
	pofa_model_keep(m, NULL, NULL);
	free(m->wq);
	free(m->qmin);
	free(m->qmax);
	free(m->qscale);
	free(m->qzp);
	free(m->qseen);
	free(m);
}

const pofa_config *pofa_model_config(const pofa_model *m) { return &m->cfg; }
enum pofa_head pofa_model_head(const pofa_model *m) { return m->head; }
void pofa_model_set_dropout(pofa_model *m, int enabled) { m->dropout = enabled; }
void pofa_model_set_saved_dropout(pofa_model *m, float hidden, float attention, float classifier)
{
	m->saved_drop[0] = hidden;
	m->saved_drop[1] = attention;
	m->saved_drop[2] = classifier;
}
void pofa_model_set_seed(pofa_model *m, uint64_t seed) { m->seed = seed; }
void pofa_model_set_mlm_positions(pofa_model *m, enum pofa_mlm_positions which) { m->mlm_positions = which; }
void pofa_model_set_naive(pofa_model *m, int naive) { m->k.naive = naive; }
int pofa_model_threads(const pofa_model *m) { return pofa_pool_size(m->pool); }
float *pofa_model_moment1(pofa_model *m) { return m->m1; }
float *pofa_model_moment2(pofa_model *m) { return m->m2; }
uint64_t pofa_model_fwd_count(const pofa_model *m) { return m->fwd_count; }
void pofa_model_set_fwd_count(pofa_model *m, uint64_t n) { m->fwd_count = n; }
uint64_t pofa_model_seed(const pofa_model *m) { return m->seed; }

void pofa_model_init(pofa_model *m, uint64_t seed) { pofa_model_init_except(m, seed, NULL); }

void pofa_model_init_except(pofa_model *m, uint64_t seed, const unsigned char *keep)
{
	m->seed = seed;
	for (int i = 0; i < m->ntensors; i++) {
		pofa_tensor *t = &m->tensors[i];
		if (keep && keep[i])
			continue;   /* a file provides it: no values drawn only to be overwritten */
		/* one generator per tensor: the values do not depend on order */
		pofa_rng r = { pofa_mix64(seed ^ pofa_mix64((uint64_t)i + 1)) };
		int is_ln = t->role == POFA_ROLE_EMB_LN || t->role == POFA_ROLE_ATTN_LN ||
		            t->role == POFA_ROLE_FFN_LN || t->role == POFA_ROLE_MLM_LN;
		int is_weight = t->kind == POFA_PARAM_WEIGHT;
		for (int64_t j = 0; j < t->numel; j++) {
			if (is_ln)
				t->data[j] = is_weight ? 1.0f : 0.0f;
			else if (is_weight && t->ndim == 2)
				t->data[j] = m->cfg.initializer_range * pofa_rng_normal(&r);
			else
				t->data[j] = 0.0f;
		}
	}
	/* the padding row of the word embeddings starts at zero, as in HF */
	int pad = m->cfg.pad_token_id, wte = -1;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].data == m->p.blk[PT_WTE])
			wte = i;
	if (pad >= 0 && pad < m->cfg.vocab_size && !(keep && wte >= 0 && keep[wte]))
		memset(m->p.blk[PT_WTE] + (size_t)pad * m->cfg.hidden_size, 0,
		       (size_t)m->cfg.hidden_size * sizeof(float));
	if (m->grads) {
		memset(m->m1, 0, m->nparams * sizeof(float));
		memset(m->m2, 0, m->nparams * sizeof(float));
		memset(m->grads, 0, m->nparams * sizeof(float));
	}
	m->fwd_count = 0;
}

/* ---- forward ----------------------------------------------------------- */

typedef struct {
	pofa_model *m;
	const pofa_batch *b;
} emb_args;

static void embed_task(void *arg, int64_t n0, int64_t n1, int tid)
{
	emb_args *ea = arg;
	pofa_model *m = ea->m;
	const pofa_batch *b = ea->b;
	int C = m->cfg.hidden_size, T = b->T;
	for (int64_t n = n0; n < n1; n++) {
		int t = (int)(n % T);
		int id = b->input_ids[n];
		int tt = b->token_type_ids ? b->token_type_ids[n] : 0;
		const float *we = m->p.blk[PT_WTE] + (size_t)id * C;
		const float *pe = m->p.blk[PT_WPE] + (size_t)t * C;
		const float *te = m->p.blk[PT_WTT] + (size_t)tt * C;
		float *e = m->a.e + n * C;
		for (int c = 0; c < C; c++)
			e[c] = we[c] + pe[c] + te[c];
	}
}

static uint64_t site_key(const pofa_model *m, int site)
{
	return pofa_mix64(m->key ^ pofa_mix64((uint64_t)site * 0x2545f4914f6cdd1dULL + 7));
}

static int check_batch(const pofa_model *m, const pofa_batch *b, pofa_err *err)
{
	const pofa_config *c = &m->cfg;
	if (b->B < 1 || b->T < 1 || b->B > m->maxB || b->T > m->maxT)
		return pofa_error(err, POFA_ERR_INPUT, "batch %dx%d exceeds the model's arena %dx%d",
		                  b->B, b->T, m->maxB, m->maxT);
	int64_t N = (int64_t)b->B * b->T;
	for (int64_t n = 0; n < N; n++) {
		if (b->input_ids[n] < 0 || b->input_ids[n] >= c->vocab_size)
			return pofa_error(err, POFA_ERR_INPUT, "token id %d at %lld outside vocabulary 0..%d",
			                  b->input_ids[n], (long long)n, c->vocab_size - 1);
		if (b->token_type_ids && (b->token_type_ids[n] < 0 ||
		                          b->token_type_ids[n] >= c->type_vocab_size))
			return pofa_error(err, POFA_ERR_INPUT, "token type %d at %lld outside 0..%d",
			                  b->token_type_ids[n], (long long)n, c->type_vocab_size - 1);
	}
	return POFA_OK;
}

/* the weights a prunable Linear multiplies with: fake-quantized under QAT */
static const float *LW(pofa_model *m, int blk, size_t off)
{
	return (m->qat ? m->wq + (m->p.blk[blk] - m->params) : m->p.blk[blk]) + off;
}

static const float *qin(pofa_model *m, int site, const float *x, int64_t n, int observe)
{
	return m->qat ? pofa_qat_input(m, site, x, n, observe) : x;
}

int pofa_model_forward(pofa_model *m, const pofa_batch *b, int train, pofa_err *err)
{
	if (check_batch(m, b, err))
		return err ? err->status : POFA_ERR_INPUT;
	const pofa_config *c = &m->cfg;
	int B = b->B, T = b->T, C = c->hidden_size, I = c->intermediate_size;
	int NH = c->num_attention_heads, L = c->num_hidden_layers;
	int N = B * T;
	size_t mN = (size_t)m->maxB * m->maxT, mBNHTT = (size_t)m->maxB * NH * m->maxT * m->maxT;
	pofa_kern *k = &m->k;
	model_acts *a = &m->a;
	m->B = B;
	m->T = T;
	m->train = train;
	int drop = train && m->dropout;
	float ph = drop ? c->hidden_dropout_prob : 0.0f;
	float pa = drop ? c->attention_probs_dropout_prob : 0.0f;
	if (drop)
		m->fwd_count++;
	m->key = pofa_mix64(m->seed ^ pofa_mix64(m->fwd_count));

	/* embeddings: LayerNorm(word + position + type), then dropout */
	emb_args ea = { m, b };
	pofa_pool_run(m->pool, N, embed_task, &ea);
	pofa_residual_layernorm_forward(k, a->eln, a->e, a->mean0, a->rstd0, a->e, NULL,
	                           m->p.blk[PT_ELNW], m->p.blk[PT_ELNB], N, C, c->layer_norm_eps, 0, 0, 0.0f);
	float *h0 = ph > 0.0f ? a->h0 : a->eln;
	/* a data-parallel shard draws its rows' masks where they sit in the
	 * whole batch: element offsets of row0 */
	uint64_t off_h = (uint64_t)m->row0 * T * C, off_a = (uint64_t)m->row0 * NH * T * T;
	pofa_dropout_forward(k, h0, a->eln, (int64_t)N * C, site_key(m, 0), off_h, ph);

	if (m->qat)
		pofa_qat_quantize_weights(m);
	int obs = train ? 1 : 0;
	const float *hin = h0;
	for (int l = 0; l < L; l++) {
		float *qkv = LAYER(a->qkv, l, mN * 3 * C), *att = LAYER(a->att, l, mBNHTT);
		float *attd = pa > 0.0f ? LAYER(a->attd, l, mBNHTT) : att;
		float *ctx = LAYER(a->ctx, l, mN * C), *r1 = LAYER(a->r1, l, mN * C);
		float *h1 = LAYER(a->h1, l, mN * C), *f = LAYER(a->f, l, mN * I);
		float *g = LAYER(a->g, l, mN * I), *r2 = LAYER(a->r2, l, mN * C);
		float *h2 = LAYER(a->h2, l, mN * C);
		pofa_lin_forward(m, 4 * l, k, qkv, qin(m, 4 * l, hin, (int64_t)N * C, obs),
		               LW(m, PT_QKVW, (size_t)l * 3 * C * C), LAYER(m->p.blk[PT_QKVB], l, 3 * C), N,
		               C, 3 * C);
		pofa_attention_forward(k, ctx, att, attd, qkv, b->attention_mask, B, T, C, NH,
		                  site_key(m, 1 + 3 * l), off_a, pa);
		pofa_lin_forward(m, 4 * l + 1, k, a->tmp, qin(m, 4 * l + 1, ctx, (int64_t)N * C, obs),
		               LW(m, PT_AOW, (size_t)l * C * C), LAYER(m->p.blk[PT_AOB], l, C), N, C, C);
		pofa_residual_layernorm_forward(k, h1, r1, LAYER(a->mean1, l, mN), LAYER(a->rstd1, l, mN),
		                           a->tmp, hin, LAYER(m->p.blk[PT_LN1W], l, C),
		                           LAYER(m->p.blk[PT_LN1B], l, C), N, C, c->layer_norm_eps,
		                           site_key(m, 2 + 3 * l), off_h, ph);
		pofa_lin_forward(m, 4 * l + 2, k, f, qin(m, 4 * l + 2, h1, (int64_t)N * C, obs),
		               LW(m, PT_FCW, (size_t)l * I * C), LAYER(m->p.blk[PT_FCB], l, I), N, C, I);
		pofa_gelu_forward_train(k, g, f, (int64_t)N * I); /* f <- gelu'(f) */
		pofa_lin_forward(m, 4 * l + 3, k, a->tmp, qin(m, 4 * l + 3, g, (int64_t)N * I, obs),
		               LW(m, PT_FPW, (size_t)l * C * I), LAYER(m->p.blk[PT_FPB], l, C), N, I, C);
		pofa_residual_layernorm_forward(k, h2, r2, LAYER(a->mean2, l, mN), LAYER(a->rstd2, l, mN),
		                           a->tmp, h1, LAYER(m->p.blk[PT_LN2W], l, C),
		                           LAYER(m->p.blk[PT_LN2B], l, C), N, C, c->layer_norm_eps,
		                           site_key(m, 3 + 3 * l), off_h, ph);
		hin = h2;
	}
	const float *hL = hin;

	if (m->head == POFA_HEAD_MLM) {
		/* the decoder runs only on the rows that need logits */
		int M = 0;
		for (int n = 0; n < N; n++) {
			int want = m->mlm_positions == POFA_MLM_ALL
			           ? (!b->attention_mask || b->attention_mask[n])
			           : (b->mlm_labels && b->mlm_labels[n] != POFA_IGNORE);
			if (want) {
				a->pos[M] = n;
				memcpy(a->xm + (size_t)M * C, hL + (size_t)n * C, (size_t)C * sizeof(float));
				M++;
			}
		}
		m->nrows = M;
		if (M > 0) {
			pofa_matmul_forward(k, a->t1, a->xm, m->p.blk[PT_TW], m->p.blk[PT_TB], M, C, C);
			pofa_gelu_forward_train(k, a->t2, a->t1, (int64_t)M * C);
			pofa_residual_layernorm_forward(k, a->t3, a->t2, a->meant, a->rstdt, a->t2, NULL,
			                           m->p.blk[PT_TLNW], m->p.blk[PT_TLNB], M, C,
			                           c->layer_norm_eps, 0, 0, 0.0f);
			pofa_matmul_forward(k, a->logits, a->t3, m->p.blk[PT_WTE], m->p.blk[PT_MLMB], M, C,
			               c->vocab_size);
		}
	} else if (m->head == POFA_HEAD_CLS) {
		for (int i = 0; i < B; i++)
			memcpy(a->pin + (size_t)i * C, hL + (size_t)i * T * C, (size_t)C * sizeof(float));
		pofa_lin_forward(m, 4 * L, k, a->pooled, qin(m, 4 * L, a->pin, (int64_t)B * C, obs), LW(m, PT_POOLW, 0),
		               m->p.blk[PT_POOLB], B, C, C);
		for (int i = 0; i < B * C; i++)
			a->pooled[i] = tanhf(a->pooled[i]);
		float pc = !drop ? 0.0f : (c->classifier_dropout >= 0.0f ? c->classifier_dropout
		                                                          : c->hidden_dropout_prob);
		pofa_dropout_forward(k, a->pd, a->pooled, (int64_t)B * C, site_key(m, 1000), (uint64_t)m->row0 * C, pc);
		pofa_matmul_forward(k, a->logits, a->pd, m->p.blk[PT_CLSW], m->p.blk[PT_CLSB], B, C,
		               c->num_labels);
		m->nrows = B;
	} else {
		pofa_matmul_forward(k, a->logits, hL, m->p.blk[PT_QAW], m->p.blk[PT_QAB], N, C, 2);
		m->nrows = N;
	}
	return POFA_OK;
}

float *pofa_model_logits(pofa_model *m, int *rows, int *cols)
{
	if (rows)
		*rows = m->nrows;
	if (cols)
		*cols = m->head == POFA_HEAD_MLM ? m->cfg.vocab_size
		        : m->head == POFA_HEAD_CLS ? m->cfg.num_labels : 2;
	return m->a.logits;
}
float *pofa_model_dlogits(pofa_model *m) { return m->a.dlogits; }
const int *pofa_model_logit_positions(const pofa_model *m)
{
	return m->head == POFA_HEAD_MLM ? m->a.pos : NULL;
}

/* ---- task losses -------------------------------------------------------- */

void pofa_model_set_shard(pofa_model *m, int64_t row0, const pofa_loss_den *den,
                          void (*range_sum)(float *lo, float *hi))
{
	m->row0 = row0;
	if (den)
		m->den = *den;
	else
		memset(&m->den, 0, sizeof m->den);
	m->range_sum = range_sum;
}

void pofa_model_on_layer_grads(pofa_model *m, void (*fn)(void *arg, int layer), void *arg)
{
	m->layer_done = fn;
	m->layer_arg = arg;
}

/* the blocks stacked over the encoder layers */
static int per_layer(int pt) { return pt >= PT_QKVW && pt <= PT_LN2B; }

int pofa_model_grad_ranges(pofa_model *m, int l, float **ptr, size_t *len, int cap)
{
	int n = 0, L = m->cfg.num_hidden_layers;
	if (!m->grads)
		return 0;
	for (int pt = 0; pt < PT_COUNT && n < cap; pt++) {
		if (!m->g.blk[pt] || !m->sizes[pt] || per_layer(pt) != (l >= 0))
			continue;
		size_t each = l >= 0 ? m->sizes[pt] / (size_t)L : m->sizes[pt];
		ptr[n] = m->g.blk[pt] + (l >= 0 ? (size_t)l * each : 0);
		len[n++] = each;
	}
	return n;
}

void pofa_model_loss_den(const pofa_model *m, const pofa_batch *b, pofa_loss_den *den)
{
	memset(den, 0, sizeof *den);
	int B = b->B, T = b->T, N = B * T;
	for (int n = 0; n < N; n++)
		den->tokens += !b->attention_mask || b->attention_mask[n];
	if (m->head == POFA_HEAD_MLM) {
		int64_t masked = 0, rows = 0;
		for (int n = 0; n < N; n++) {
			int lab = b->mlm_labels && b->mlm_labels[n] != POFA_IGNORE;
			masked += lab;
			rows += m->mlm_positions == POFA_MLM_ALL ? (!b->attention_mask || b->attention_mask[n]) : lab;
		}
		den->task[0] = masked;
		den->kd = rows;
	} else if (m->head == POFA_HEAD_CLS) {
		for (int i = 0; i < B; i++)
			den->task[0] += b->labels && b->labels[i] >= 0 && b->labels[i] < m->cfg.num_labels;
		den->kd = B;
	} else {
		for (int i = 0; i < B; i++) {
			den->task[0] += b->start_positions && b->start_positions[i] >= 0 && b->start_positions[i] < T;
			den->task[1] += b->end_positions && b->end_positions[i] >= 0 && b->end_positions[i] < T;
		}
		den->kd = 2 * (int64_t)B;
	}
}

float pofa_model_task_loss(pofa_model *m, const pofa_batch *b, float weight)
{
	model_acts *a = &m->a;
	int B = m->B, T = m->T;
	if (m->head == POFA_HEAD_MLM) {
		int M = m->nrows, count = 0;
		for (int i = 0; i < M; i++) {
			int y = b->mlm_labels ? b->mlm_labels[a->pos[i]] : POFA_IGNORE;
			a->tgt[i] = y == POFA_IGNORE ? -1 : y;
			count += y != POFA_IGNORE;
		}
		if (count == 0) {
			memset(a->dlogits, 0, (size_t)M * m->cfg.vocab_size * sizeof(float));
			return 0.0f;
		}
		double den = m->den.task[0] > 0 ? (double)m->den.task[0] : count;
		double s = pofa_softmax_xent(&m->k, a->dlogits, a->logits, a->tgt, M, m->cfg.vocab_size,
		                        m->cfg.vocab_size, (float)(weight / den), NULL);
		return (float)(s / den);
	}
	if (m->head == POFA_HEAD_CLS) {
		int count = 0;
		for (int i = 0; i < B; i++) {
			int y = b->labels ? b->labels[i] : -1;
			a->tgt[i] = (y >= 0 && y < m->cfg.num_labels) ? y : -1;
			count += a->tgt[i] >= 0;
		}
		if (count == 0) {
			memset(a->dlogits, 0, (size_t)B * m->cfg.num_labels * sizeof(float));
			return 0.0f;
		}
		double den = m->den.task[0] > 0 ? (double)m->den.task[0] : count;
		double s = pofa_softmax_xent(&m->k, a->dlogits, a->logits, a->tgt, B, m->cfg.num_labels,
		                        m->cfg.num_labels, (float)(weight / den), NULL);
		return (float)(s / den);
	}
	/* span: as Hugging Face, positions outside [0, T) are ignored, and the
	 * loss is the mean of the start and end cross-entropies */
	int N = B * T;
	float *st = a->sse, *en = a->sse + N;
	for (int n = 0; n < N; n++) {
		st[n] = a->logits[2 * n];
		en[n] = a->logits[2 * n + 1];
	}
	float loss = 0.0f;
	for (int which = 0; which < 2; which++) {
		const int *pos = which ? b->end_positions : b->start_positions;
		int *tgt = a->tgt + which * B, count = 0;
		for (int i = 0; i < B; i++) {
			int p = pos ? pos[i] : -1;
			tgt[i] = (p >= 0 && p < T) ? p : -1;
			count += tgt[i] >= 0;
		}
		float *d = a->dsse + which * N;
		if (count == 0) {
			memset(d, 0, (size_t)N * sizeof(float));
			continue;
		}
		double den = m->den.task[which] > 0 ? (double)m->den.task[which] : count;
		double s = pofa_softmax_xent(&m->k, d, which ? en : st, tgt, B, T, T, (float)(0.5 * weight / den), NULL);
		loss += 0.5f * (float)(s / den);
	}
	for (int n = 0; n < N; n++) {
		a->dlogits[2 * n] = a->dsse[n];
		a->dlogits[2 * n + 1] = a->dsse[N + n];
	}
	return loss;
}

float pofa_model_step_loss(pofa_model *m, const pofa_batch *b, int train)
{
	pofa_err err;
	if (pofa_model_forward(m, b, train, &err))
		return NAN;
	return pofa_model_task_loss(m, b, 1.0f);
}

/* ---- backward ---------------------------------------------------------- */

typedef struct {
	pofa_model *m;
	const pofa_batch *b;
	const float *de;
} embb_args;

/* Scatter-add into the embedding tables, split by channel so that every
 * thread owns its columns: no races, fixed summation order. */
static void embed_backward_task(void *arg, int64_t c0, int64_t c1, int tid)
{
	embb_args *ea = arg;
	pofa_model *m = ea->m;
	const pofa_batch *b = ea->b;
	int C = m->cfg.hidden_size, T = b->T, N = b->B * b->T, pad = m->cfg.pad_token_id;
	for (int n = 0; n < N; n++) {
		int t = n % T, id = b->input_ids[n];
		int tt = b->token_type_ids ? b->token_type_ids[n] : 0;
		const float *de = ea->de + (size_t)n * C;
		/* nn.Embedding(padding_idx): the padding row gets no gradient */
		float *gw = id != pad ? m->g.blk[PT_WTE] + (size_t)id * C : NULL;
		float *gp = m->g.blk[PT_WPE] + (size_t)t * C;
		float *gt = m->g.blk[PT_WTT] + (size_t)tt * C;
		for (int64_t c = c0; c < c1; c++) {
			if (gw)
				gw[c] += de[c];
			gp[c] += de[c];
			gt[c] += de[c];
		}
	}
}

void pofa_model_backward(pofa_model *m, const pofa_batch *b)
{
	if (!m->grads)
		return;   /* an inference model has nothing to add gradients to */
	const pofa_config *c = &m->cfg;
	int B = m->B, T = m->T, C = c->hidden_size, I = c->intermediate_size;
	int NH = c->num_attention_heads, L = c->num_hidden_layers, N = B * T;
	size_t mN = (size_t)m->maxB * m->maxT, mBNHTT = (size_t)m->maxB * NH * m->maxT * m->maxT;
	pofa_kern *k = &m->k;
	model_acts *a = &m->a;
	int drop = m->train && m->dropout;
	float ph = drop ? c->hidden_dropout_prob : 0.0f;
	float pa = drop ? c->attention_probs_dropout_prob : 0.0f;
	const float *hL = L > 0 ? LAYER(a->h2, L - 1, mN * C) : (ph > 0.0f ? a->h0 : a->eln);
	uint64_t off_h = (uint64_t)m->row0 * T * C;

	/* gradient of the encoder output, from the head */
	float *dres = a->db;
	if (m->head == POFA_HEAD_MLM) {
		int M = m->nrows;
		memset(dres, 0, (size_t)N * C * sizeof(float));
		if (M > 0) {
			pofa_matmul_backward(k, a->dt, m->g.blk[PT_WTE], m->g.blk[PT_MLMB], a->dlogits, a->t3,
			                m->p.blk[PT_WTE], M, C, c->vocab_size, 0);
			pofa_layernorm_backward(k, a->dxm, m->g.blk[PT_TLNW], m->g.blk[PT_TLNB], a->dt, a->t2,
			                   a->meant, a->rstdt, m->p.blk[PT_TLNW], M, C);
			pofa_gelu_backward(k, a->dxm, a->dxm, a->t1, (int64_t)M * C);
			pofa_matmul_backward(k, a->dt, m->g.blk[PT_TW], m->g.blk[PT_TB], a->dxm, a->xm,
			                m->p.blk[PT_TW], M, C, C, 0);
			for (int i = 0; i < M; i++)
				memcpy(dres + (size_t)a->pos[i] * C, a->dt + (size_t)i * C,
				       (size_t)C * sizeof(float));
		}
	} else if (m->head == POFA_HEAD_CLS) {
		float pc = !drop ? 0.0f : (c->classifier_dropout >= 0.0f ? c->classifier_dropout
		                                                          : c->hidden_dropout_prob);
		pofa_matmul_backward(k, a->dpooled, m->g.blk[PT_CLSW], m->g.blk[PT_CLSB], a->dlogits, a->pd,
		                m->p.blk[PT_CLSW], B, C, c->num_labels, 0);
		pofa_dropout_backward(k, a->dpooled, a->dpooled, (int64_t)B * C, site_key(m, 1000), (uint64_t)m->row0 * C, pc);
		for (int i = 0; i < B * C; i++)
			a->dpooled[i] *= 1.0f - a->pooled[i] * a->pooled[i];
		pofa_lin_backward(m, 4 * L, k, a->dpin, m->g.blk[PT_POOLW], m->g.blk[PT_POOLB], a->dpooled,
		                qin(m, 4 * L, a->pin, (int64_t)B * C, -1), LW(m, PT_POOLW, 0), B, C, C, 0);
		memset(dres, 0, (size_t)N * C * sizeof(float));
		for (int i = 0; i < B; i++)
			memcpy(dres + (size_t)i * T * C, a->dpin + (size_t)i * C, (size_t)C * sizeof(float));
	} else {
		pofa_matmul_backward(k, dres, m->g.blk[PT_QAW], m->g.blk[PT_QAB], a->dlogits, hL,
		                m->p.blk[PT_QAW], N, C, 2, 0);
	}

	/* encoder, last layer first; dres holds dL/d(layer output) */
	for (int l = L - 1; l >= 0; l--) {
		const float *hin = l > 0 ? LAYER(a->h2, l - 1, mN * C) : (ph > 0.0f ? a->h0 : a->eln);
		float *qkv = LAYER(a->qkv, l, mN * 3 * C), *att = LAYER(a->att, l, mBNHTT);
		float *attd = pa > 0.0f ? LAYER(a->attd, l, mBNHTT) : att;
		float *ctx = LAYER(a->ctx, l, mN * C), *r1 = LAYER(a->r1, l, mN * C);
		float *h1 = LAYER(a->h1, l, mN * C), *f = LAYER(a->f, l, mN * I);
		float *g = LAYER(a->g, l, mN * I), *r2 = LAYER(a->r2, l, mN * C);
		float *dA = dres == a->da ? a->db : a->da; /* the other two buffers */
		float *dB = a->dc;
		pofa_kd_hidden_grad(m, l, dres, N);   /* distillation of this layer's output */
		/* h2 = LN2(drop(fo) + h1) */
		pofa_layernorm_backward(k, dA, LAYER(m->g.blk[PT_LN2W], l, C), LAYER(m->g.blk[PT_LN2B], l, C),
		                   dres, r2, LAYER(a->mean2, l, mN), LAYER(a->rstd2, l, mN),
		                   LAYER(m->p.blk[PT_LN2W], l, C), N, C);
		/* dA = dr2 = dL/dh1 (residual) ; dB = dL/dfo */
		pofa_dropout_backward(k, dB, dA, (int64_t)N * C, site_key(m, 3 + 3 * l), off_h, ph);
		pofa_lin_backward(m, 4 * l + 3, k, a->dg, LAYER(m->g.blk[PT_FPW], l, (size_t)C * I),
		                LAYER(m->g.blk[PT_FPB], l, C), dB, qin(m, 4 * l + 3, g, (int64_t)N * I, -1),
		                LW(m, PT_FPW, (size_t)l * C * I), N, I, C, 0);
		pofa_gelu_backward(k, a->dg, a->dg, f, (int64_t)N * I);
		pofa_lin_backward(m, 4 * l + 2, k, dA, LAYER(m->g.blk[PT_FCW], l, (size_t)I * C),
		                LAYER(m->g.blk[PT_FCB], l, I), a->dg, qin(m, 4 * l + 2, h1, (int64_t)N * C, -1),
		                LW(m, PT_FCW, (size_t)l * I * C), N, C, I, 1);
		/* h1 = LN1(drop(ao) + hin): dres <- dr1 = dL/dhin (residual) */
		pofa_layernorm_backward(k, dres, LAYER(m->g.blk[PT_LN1W], l, C), LAYER(m->g.blk[PT_LN1B], l, C),
		                   dA, r1, LAYER(a->mean1, l, mN), LAYER(a->rstd1, l, mN),
		                   LAYER(m->p.blk[PT_LN1W], l, C), N, C);
		pofa_dropout_backward(k, dB, dres, (int64_t)N * C, site_key(m, 2 + 3 * l), off_h, ph);
		pofa_lin_backward(m, 4 * l + 1, k, a->dctx, LAYER(m->g.blk[PT_AOW], l, C * C), LAYER(m->g.blk[PT_AOB], l, C),
		                dB, qin(m, 4 * l + 1, ctx, (int64_t)N * C, -1), LW(m, PT_AOW, (size_t)l * C * C),
		                N, C, C, 0);
		pofa_attention_backward(k, a->dqkv, a->dctx, qkv, att, attd, B, T, C, NH, pa);
		pofa_lin_backward(m, 4 * l, k, dres, LAYER(m->g.blk[PT_QKVW], l, 3 * C * C),
		                LAYER(m->g.blk[PT_QKVB], l, 3 * C), a->dqkv, qin(m, 4 * l, hin, (int64_t)N * C, -1),
		                LW(m, PT_QKVW, (size_t)l * 3 * C * C), N, C, 3 * C, 1);
		if (m->layer_done)   /* layer l's gradients are final: they may go */
			m->layer_done(m->layer_arg, l);
	}

	/* embeddings: h0 = drop(LN(e)) */
	float *dA = dres == a->da ? a->db : a->da;
	pofa_dropout_backward(k, a->dc, dres, (int64_t)N * C, site_key(m, 0), off_h, ph);
	pofa_layernorm_backward(k, dA, m->g.blk[PT_ELNW], m->g.blk[PT_ELNB], a->dc, a->e, a->mean0, a->rstd0,
	                   m->p.blk[PT_ELNW], N, C);
	embb_args ea = { m, b, dA };
	pofa_pool_run(m->pool, C, embed_backward_task, &ea);
	m->kdh.t = NULL;   /* set again by the next step's pofa_model_kd_hidden */
}

void pofa_model_zero_grad(pofa_model *m)
{
	if (m->grads)
		memset(m->grads, 0, m->nparams * sizeof(float));
}

