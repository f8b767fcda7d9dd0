/*
 * model.c - the BERT encoder with its three heads: parameters, activation
 * arena, forward, losses, backward, AdamW.
 *
 * Memory follows llm.c: one block each for parameters, gradients and the two
 * AdamW moments, and one activation arena sized for (maxB, maxT) when the
 * model is made. A training step allocates nothing.
 */
#include "internal.h"

#include <cblas.h>
#undef I /* complex.h, pulled in by cblas.h; I is the intermediate size here */
#include <stdio.h>
#include <stdlib.h>

const char *const pofa_head_names[POFA_HEAD_COUNT] = { "mlm", "cls", "span" };

/* Parameter blocks in their internal layout. The query, key and value of a
 * layer are stacked into one (3C, C) matrix (one sgemm), and every per-layer
 * tensor is stacked over layers; pofa_model_tensors() gives the Hugging Face
 * view, one tensor per name, pointing into these blocks. */
enum {
	PT_WTE, PT_WPE, PT_WTT, PT_ELNW, PT_ELNB,
	PT_QKVW, PT_QKVB, PT_AOW, PT_AOB, PT_LN1W, PT_LN1B,
	PT_FCW, PT_FCB, PT_FPW, PT_FPB, PT_LN2W, PT_LN2B,
	PT_POOLW, PT_POOLB,
	PT_TW, PT_TB, PT_TLNW, PT_TLNB, PT_MLMB,
	PT_CLSW, PT_CLSB,
	PT_QAW, PT_QAB,
	PT_COUNT
};

typedef struct {
	float *blk[PT_COUNT];
} param_ptrs;

typedef struct {
	/* saved for backward, per layer (stride given by maxN) */
	float *e, *eln, *h0, *mean0, *rstd0;      /* embeddings */
	float *qkv, *att, *attd, *ctx, *r1, *mean1, *rstd1, *h1, *f, *g, *r2, *mean2, *rstd2, *h2;
	/* scratch */
	float *tmp;                               /* (N, C) */
	float *da, *db, *dc, *dctx, *dqkv, *dg;   /* backward */
	/* MLM head */
	float *xm, *t1, *t2, *t3, *meant, *rstdt, *dxm, *dt;
	int *pos, *tgt;
	/* CLS head */
	float *pin, *pooled, *pd, *dpin, *dpooled;
	/* SPAN head */
	float *sse, *dsse;                        /* (2, B, T) start, end */
	/* logits of any head */
	float *logits, *dlogits;
} acts;

struct pofa_model {
	pofa_config cfg;
	int head;
	int maxB, maxT;
	pofa_pool *pool;
	pofa_kern k;

	size_t nparams;
	size_t sizes[PT_COUNT];
	float *params, *grads, *m1, *m2;
	param_ptrs p, g;
	pofa_tensor *tensors;
	int ntensors;
	unsigned char *active;   /* per tensor: gets gradients under this head */

	float *arena;
	acts a;

	int dropout;
	uint64_t seed;
	uint64_t fwd_count;      /* training forward passes: dropout streams */
	uint64_t key;            /* dropout key of the last forward */
	int train;               /* last forward was a training one */
	int mlm_positions;
	int B, T, nrows;
	float *shared_scratch;

	/* quantization-aware training: fake-quantized prunable weights and
	 * Linear inputs, one input site per prunable Linear of a layer (query,
	 * key and value share one) and one for the pooler */
	int qat, qat_per_channel;
	float *wq;               /* nparams: the quantized copies (prunable only) */
	float *qbuf;             /* (N, max(C, I)): a quantized input */
	int nsites;
	float *qmin, *qmax;      /* EMA of the input range per site */
	float *qscale, *qzp;     /* scale and zero point of the last forward */
	unsigned char *qseen;
};

/* ---- sizes and the tensor table ---------------------------------------- */

static void param_sizes(const pofa_config *c, int head, size_t *s)
{
	size_t C = c->hidden_size, L = c->num_hidden_layers, I = c->intermediate_size;
	size_t V = c->vocab_size;
	s[PT_WTE] = V * C;
	s[PT_WPE] = (size_t)c->max_position_embeddings * C;
	s[PT_WTT] = (size_t)c->type_vocab_size * C;
	s[PT_ELNW] = s[PT_ELNB] = C;
	s[PT_QKVW] = L * 3 * C * C;
	s[PT_QKVB] = L * 3 * C;
	s[PT_AOW] = L * C * C;
	s[PT_AOB] = s[PT_LN1W] = s[PT_LN1B] = L * C;
	s[PT_FCW] = L * I * C;
	s[PT_FCB] = L * I;
	s[PT_FPW] = L * C * I;
	s[PT_FPB] = s[PT_LN2W] = s[PT_LN2B] = L * C;
	s[PT_POOLW] = C * C;
	s[PT_POOLB] = C;
	int mlm = head == POFA_HEAD_MLM, cls = head == POFA_HEAD_CLS, span = head == POFA_HEAD_SPAN;
	s[PT_TW] = mlm ? C * C : 0;
	s[PT_TB] = s[PT_TLNW] = s[PT_TLNB] = mlm ? C : 0;
	s[PT_MLMB] = mlm ? V : 0;
	s[PT_CLSW] = cls ? (size_t)c->num_labels * C : 0;
	s[PT_CLSB] = cls ? (size_t)c->num_labels : 0;
	s[PT_QAW] = span ? 2 * C : 0;
	s[PT_QAB] = span ? 2 : 0;
}

static void point_blocks(param_ptrs *pp, float *base, const size_t *sizes)
{
	size_t off = 0;
	for (int i = 0; i < PT_COUNT; i++) {
		pp->blk[i] = sizes[i] ? base + off : NULL;
		off += sizes[i];
	}
}

static void add_tensor(pofa_model *m, int blk, size_t off, const char *name, int ndim,
                       int64_t d0, int64_t d1, int decay, int prunable, int active)
{
	pofa_tensor *t = &m->tensors[m->ntensors];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->data = m->p.blk[blk] + off;
	t->grad = m->g.blk[blk] + off;
	t->ndim = ndim;
	t->shape[0] = d0;
	t->shape[1] = ndim > 1 ? d1 : 1;
	t->numel = d0 * (ndim > 1 ? d1 : 1);
	t->decay = decay;
	t->prunable = prunable;
	m->active[m->ntensors] = (unsigned char)active;
	m->ntensors++;
}

static void build_tensor_table(pofa_model *m)
{
	const pofa_config *c = &m->cfg;
	int64_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
	char nm[96];
	m->ntensors = 0;
	add_tensor(m, PT_WTE, 0, "bert.embeddings.word_embeddings.weight", 2, V, C, 1, 0, 1);
	add_tensor(m, PT_WPE, 0, "bert.embeddings.position_embeddings.weight", 2,
	           c->max_position_embeddings, C, 1, 0, 1);
	add_tensor(m, PT_WTT, 0, "bert.embeddings.token_type_embeddings.weight", 2,
	           c->type_vocab_size, C, 1, 0, 1);
	add_tensor(m, PT_ELNW, 0, "bert.embeddings.LayerNorm.weight", 1, C, 0, 0, 0, 1);
	add_tensor(m, PT_ELNB, 0, "bert.embeddings.LayerNorm.bias", 1, C, 0, 0, 0, 1);
	static const char *qkv[3] = { "query", "key", "value" };
	for (int l = 0; l < c->num_hidden_layers; l++) {
		for (int j = 0; j < 3; j++) {
			snprintf(nm, sizeof nm, "bert.encoder.layer.%d.attention.self.%s.weight", l, qkv[j]);
			add_tensor(m, PT_QKVW, (size_t)(l * 3 + j) * C * C, nm, 2, C, C, 1, 1, 1);
			snprintf(nm, sizeof nm, "bert.encoder.layer.%d.attention.self.%s.bias", l, qkv[j]);
			add_tensor(m, PT_QKVB, (size_t)(l * 3 + j) * C, nm, 1, C, 0, 0, 0, 1);
		}
#define LT(blk, off, suffix, nd, d0, d1, dec, pr)                                         \
	do {                                                                                \
		snprintf(nm, sizeof nm, "bert.encoder.layer.%d.%s", l, suffix);             \
		add_tensor(m, blk, off, nm, nd, d0, d1, dec, pr, 1);                        \
	} while (0)
		LT(PT_AOW, (size_t)l * C * C, "attention.output.dense.weight", 2, C, C, 1, 1);
		LT(PT_AOB, (size_t)l * C, "attention.output.dense.bias", 1, C, 0, 0, 0);
		LT(PT_LN1W, (size_t)l * C, "attention.output.LayerNorm.weight", 1, C, 0, 0, 0);
		LT(PT_LN1B, (size_t)l * C, "attention.output.LayerNorm.bias", 1, C, 0, 0, 0);
		LT(PT_FCW, (size_t)l * I * C, "intermediate.dense.weight", 2, I, C, 1, 1);
		LT(PT_FCB, (size_t)l * I, "intermediate.dense.bias", 1, I, 0, 0, 0);
		LT(PT_FPW, (size_t)l * C * I, "output.dense.weight", 2, C, I, 1, 1);
		LT(PT_FPB, (size_t)l * C, "output.dense.bias", 1, C, 0, 0, 0);
		LT(PT_LN2W, (size_t)l * C, "output.LayerNorm.weight", 1, C, 0, 0, 0);
		LT(PT_LN2B, (size_t)l * C, "output.LayerNorm.bias", 1, C, 0, 0, 0);
#undef LT
	}
	/* the pooler is kept in every model (it is prunable); only the
	 * classification head uses it, so only there does it train */
	int cls = m->head == POFA_HEAD_CLS;
	add_tensor(m, PT_POOLW, 0, "bert.pooler.dense.weight", 2, C, C, 1, 1, cls);
	add_tensor(m, PT_POOLB, 0, "bert.pooler.dense.bias", 1, C, 0, 0, 0, cls);
	if (m->head == POFA_HEAD_MLM) {
		add_tensor(m, PT_TW, 0, "cls.predictions.transform.dense.weight", 2, C, C, 1, 0, 1);
		add_tensor(m, PT_TB, 0, "cls.predictions.transform.dense.bias", 1, C, 0, 0, 0, 1);
		add_tensor(m, PT_TLNW, 0, "cls.predictions.transform.LayerNorm.weight", 1, C, 0, 0, 0, 1);
		add_tensor(m, PT_TLNB, 0, "cls.predictions.transform.LayerNorm.bias", 1, C, 0, 0, 0, 1);
		add_tensor(m, PT_MLMB, 0, "cls.predictions.bias", 1, V, 0, 0, 0, 1);
	} else if (cls) {
		add_tensor(m, PT_CLSW, 0, "classifier.weight", 2, c->num_labels, C, 1, 0, 1);
		add_tensor(m, PT_CLSB, 0, "classifier.bias", 1, c->num_labels, 0, 0, 0, 1);
	} else {
		add_tensor(m, PT_QAW, 0, "qa_outputs.weight", 2, 2, C, 1, 0, 1);
		add_tensor(m, PT_QAB, 0, "qa_outputs.bias", 1, 2, 0, 0, 0, 1);
	}
}

/* ---- the activation arena ---------------------------------------------- */

static size_t arena_layout(pofa_model *m, float *base)
{
	const pofa_config *c = &m->cfg;
	size_t N = (size_t)m->maxB * m->maxT, C = c->hidden_size, L = c->num_hidden_layers;
	size_t I = c->intermediate_size, V = c->vocab_size, B = m->maxB, T = m->maxT;
	size_t NH = c->num_attention_heads;
	size_t off = 0;
	acts *a = &m->a;
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

static void *alloc_floats(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0)
		return NULL;
	memset(p, 0, (n ? n : 1) * sizeof(float));
	return p;
}

pofa_model *pofa_model_new(const pofa_config *cfg, int head, int maxB, int maxT,
                           int nthreads, pofa_err *err)
{
	if (pofa_config_check(cfg, "model config", err))
		return NULL;
	if (head < 0 || head >= POFA_HEAD_COUNT) {
		pofa_error(err, POFA_ERR_INPUT, "unknown model head %d", head);
		return NULL;
	}
	if (maxB < 1 || maxT < 1 || maxT > cfg->max_position_embeddings) {
		pofa_error(err, POFA_ERR_INPUT,
		           "batch %d x sequence %d: sequence must be 1..%d (max_position_embeddings)",
		           maxB, maxT, cfg->max_position_embeddings);
		return NULL;
	}
	if (head == POFA_HEAD_CLS && cfg->num_labels < 1) {
		pofa_error(err, POFA_ERR_INPUT, "classification head needs num_labels >= 1");
		return NULL;
	}
	nthreads = POFA_MAX(1, POFA_MIN(nthreads, 64));
	pofa_model *m = calloc(1, sizeof *m);
	if (!m)
		goto oom;
	m->cfg = *cfg;
	m->head = head;
	m->maxB = maxB;
	m->maxT = maxT;
	m->dropout = 1;
	m->mlm_positions = POFA_MLM_MASKED;
	/* the pool supplies the parallelism: each sgemm call is single-threaded */
	openblas_set_num_threads(1);
	m->pool = pofa_pool_new(nthreads);
	if (!m->pool)
		goto oom;
	m->k.pool = m->pool;

	param_sizes(cfg, head, m->sizes);
	m->nparams = 0;
	for (int i = 0; i < PT_COUNT; i++)
		m->nparams += m->sizes[i];
	m->params = alloc_floats(m->nparams);
	m->grads = alloc_floats(m->nparams);
	m->m1 = alloc_floats(m->nparams);
	m->m2 = alloc_floats(m->nparams);
	if (!m->params || !m->grads || !m->m1 || !m->m2)
		goto oom;
	point_blocks(&m->p, m->params, m->sizes);
	point_blocks(&m->g, m->grads, m->sizes);

	int maxtensors = 8 + 16 * cfg->num_hidden_layers + 16;
	m->tensors = calloc((size_t)maxtensors, sizeof *m->tensors);
	m->active = calloc((size_t)maxtensors, 1);
	if (!m->tensors || !m->active)
		goto oom;
	build_tensor_table(m);

	size_t n = arena_layout(m, NULL);
	m->arena = alloc_floats(n);
	if (!m->arena)
		goto oom;
	arena_layout(m, m->arena);

	size_t T = (size_t)maxT, C = (size_t)cfg->hidden_size;
	m->k.scratch_per = POFA_MAX(T * T, 2 * C);
	m->shared_scratch = alloc_floats(m->k.scratch_per * (size_t)pofa_pool_size(m->pool));
	if (!m->shared_scratch)
		goto oom;
	m->k.scratch = m->shared_scratch;
	return m;
oom:
	pofa_error(err, POFA_ERR_RUN, "out of memory for the model (batch %d, sequence %d)", maxB, maxT);
	pofa_model_free(m);
	return NULL;
}

void pofa_model_free(pofa_model *m)
{
	if (!m)
		return;
	pofa_pool_free(m->pool);
	free(m->params);
	free(m->grads);
	free(m->m1);
	free(m->m2);
	free(m->tensors);
	free(m->active);
	free(m->arena);
	free(m->shared_scratch);
	free(m->wq);
	free(m->qmin);
	free(m->qmax);
	free(m->qscale);
	free(m->qzp);
	free(m->qseen);
	free(m);
}

const pofa_config *pofa_model_config(const pofa_model *m) { return &m->cfg; }
int pofa_model_head(const pofa_model *m) { return m->head; }
void pofa_model_set_dropout(pofa_model *m, int enabled) { m->dropout = enabled; }
void pofa_model_set_seed(pofa_model *m, uint64_t seed) { m->seed = seed; }
void pofa_model_set_mlm_positions(pofa_model *m, int which) { m->mlm_positions = which; }
void pofa_model_set_naive(pofa_model *m, int naive) { m->k.naive = naive; }
int pofa_model_threads(const pofa_model *m) { return pofa_pool_size(m->pool); }
int pofa_model_tensors(pofa_model *m, pofa_tensor **out) { *out = m->tensors; return m->ntensors; }
size_t pofa_model_num_params(const pofa_model *m) { return m->nparams; }
float *pofa_model_params(pofa_model *m) { return m->params; }
float *pofa_model_grads(pofa_model *m) { return m->grads; }
float *pofa_model_moment1(pofa_model *m) { return m->m1; }
float *pofa_model_moment2(pofa_model *m) { return m->m2; }
uint64_t pofa_model_fwd_count(const pofa_model *m) { return m->fwd_count; }
void pofa_model_set_fwd_count(pofa_model *m, uint64_t n) { m->fwd_count = n; }
uint64_t pofa_model_seed(const pofa_model *m) { return m->seed; }

void pofa_model_init(pofa_model *m, uint64_t seed)
{
	m->seed = seed;
	for (int i = 0; i < m->ntensors; i++) {
		pofa_tensor *t = &m->tensors[i];
		/* one generator per tensor: the values do not depend on order */
		pofa_rng r = { pofa_mix64(seed ^ pofa_mix64((uint64_t)i + 1)) };
		int is_ln = strstr(t->name, "LayerNorm") != NULL;
		int is_weight = strstr(t->name, ".weight") != NULL;
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
	int pad = m->cfg.pad_token_id;
	if (pad >= 0 && pad < m->cfg.vocab_size)
		memset(m->p.blk[PT_WTE] + (size_t)pad * m->cfg.hidden_size, 0,
		       (size_t)m->cfg.hidden_size * sizeof(float));
	memset(m->m1, 0, m->nparams * sizeof(float));
	memset(m->m2, 0, m->nparams * sizeof(float));
	memset(m->grads, 0, m->nparams * sizeof(float));
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

#define LAYER(ptr, l, n) ((ptr) + (size_t)(l) * (n))

/* ---- quantization-aware training --------------------------------------- */

int pofa_model_set_qat(pofa_model *m, int enabled, int per_channel, pofa_err *err)
{
	m->qat = 0;
	if (!enabled)
		return POFA_OK;
	int sites = 4 * m->cfg.num_hidden_layers + 1;
	if (!m->wq) {
		m->wq = alloc_floats(m->nparams);
		m->qmin = calloc((size_t)sites, sizeof *m->qmin);
		m->qmax = calloc((size_t)sites, sizeof *m->qmax);
		m->qscale = calloc((size_t)sites, sizeof *m->qscale);
		m->qzp = calloc((size_t)sites, sizeof *m->qzp);
		m->qseen = calloc((size_t)sites, 1);
		if (!m->wq || !m->qmin || !m->qmax || !m->qscale || !m->qzp || !m->qseen)
			return pofa_error(err, POFA_ERR_RUN, "out of memory for quantization-aware training");
	}
	m->nsites = sites;
	m->qat = 1;
	m->qat_per_channel = per_channel;
	return POFA_OK;
}

int pofa_model_qat(const pofa_model *m) { return m->qat; }

/* int8 symmetric: scale = max|w| / 127 per tensor (or per output row) */
static void quantize_weights(pofa_model *m)
{
	for (int i = 0; i < m->ntensors; i++) {
		const pofa_tensor *t = &m->tensors[i];
		if (!t->prunable)
			continue;
		float *q = m->wq + (t->data - m->params);
		int64_t rows = m->qat_per_channel ? t->shape[0] : 1, cols = t->numel / rows;
		for (int64_t r = 0; r < rows; r++) {
			const float *w = t->data + r * cols;
			float mx = 0.0f;
			for (int64_t j = 0; j < cols; j++)
				mx = fmaxf(mx, fabsf(w[j]));
			float sc = mx / 127.0f, inv = sc > 0.0f ? 1.0f / sc : 0.0f;
			for (int64_t j = 0; j < cols; j++) {
				float v = rintf(w[j] * inv);
				v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
				q[r * cols + j] = v * sc;
			}
		}
	}
}

/* the weights a prunable Linear multiplies with */
static const float *LW(pofa_model *m, int blk, size_t off)
{
	return (m->qat ? m->wq + (m->p.blk[blk] - m->params) : m->p.blk[blk]) + off;
}

/* uint8 asymmetric fake quantization of a Linear's input at a site; in a
 * training forward the range's moving average (constant 0.01) is updated
 * first. observe < 0: reuse the last forward's scale (backward). */
static const float *QIN(pofa_model *m, int site, const float *x, int64_t n, int observe)
{
	if (!m->qat)
		return x;
	if (observe >= 0) {
		float lo = 0.0f, hi = 0.0f;   /* the range always holds 0 */
		for (int64_t i = 0; i < n; i++) {
			lo = fminf(lo, x[i]);
			hi = fmaxf(hi, x[i]);
		}
		if (observe > 0 || !m->qseen[site]) {
			if (!m->qseen[site]) {
				m->qmin[site] = lo;
				m->qmax[site] = hi;
				m->qseen[site] = observe > 0;
			} else {
				m->qmin[site] += 0.01f * (lo - m->qmin[site]);
				m->qmax[site] += 0.01f * (hi - m->qmax[site]);
			}
		}
		float mn = m->qseen[site] ? m->qmin[site] : lo, mx = m->qseen[site] ? m->qmax[site] : hi;
		float sc = (mx - mn) / 255.0f;
		if (!(sc > 0.0f))
			sc = 1.0f;
		float zp = rintf(-mn / sc);
		m->qscale[site] = sc;
		m->qzp[site] = zp < 0.0f ? 0.0f : (zp > 255.0f ? 255.0f : zp);
	}
	float sc = m->qscale[site], zp = m->qzp[site], inv = 1.0f / sc;
	float *q = m->qbuf;
	for (int64_t i = 0; i < n; i++) {
		float v = rintf(x[i] * inv) + zp;
		v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
		q[i] = (v - zp) * sc;
	}
	return q;
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
	acts *a = &m->a;
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
	residual_layernorm_forward(k, a->eln, a->e, a->mean0, a->rstd0, a->e, NULL,
	                           m->p.blk[PT_ELNW], m->p.blk[PT_ELNB], N, C, c->layer_norm_eps, 0, 0.0f);
	float *h0 = ph > 0.0f ? a->h0 : a->eln;
	dropout_forward(k, h0, a->eln, (int64_t)N * C, site_key(m, 0), ph);

	if (m->qat)
		quantize_weights(m);
	int obs = train ? 1 : 0;
	const float *hin = h0;
	for (int l = 0; l < L; l++) {
		float *qkv = LAYER(a->qkv, l, mN * 3 * C), *att = LAYER(a->att, l, mBNHTT);
		float *attd = pa > 0.0f ? LAYER(a->attd, l, mBNHTT) : att;
		float *ctx = LAYER(a->ctx, l, mN * C), *r1 = LAYER(a->r1, l, mN * C);
		float *h1 = LAYER(a->h1, l, mN * C), *f = LAYER(a->f, l, mN * I);
		float *g = LAYER(a->g, l, mN * I), *r2 = LAYER(a->r2, l, mN * C);
		float *h2 = LAYER(a->h2, l, mN * C);
		matmul_forward(k, qkv, QIN(m, 4 * l, hin, (int64_t)N * C, obs),
		               LW(m, PT_QKVW, (size_t)l * 3 * C * C), LAYER(m->p.blk[PT_QKVB], l, 3 * C), N,
		               C, 3 * C);
		attention_forward(k, ctx, att, attd, qkv, b->attention_mask, B, T, C, NH,
		                  site_key(m, 1 + 3 * l), pa);
		matmul_forward(k, a->tmp, QIN(m, 4 * l + 1, ctx, (int64_t)N * C, obs),
		               LW(m, PT_AOW, (size_t)l * C * C), LAYER(m->p.blk[PT_AOB], l, C), N, C, C);
		residual_layernorm_forward(k, h1, r1, LAYER(a->mean1, l, mN), LAYER(a->rstd1, l, mN),
		                           a->tmp, hin, LAYER(m->p.blk[PT_LN1W], l, C),
		                           LAYER(m->p.blk[PT_LN1B], l, C), N, C, c->layer_norm_eps,
		                           site_key(m, 2 + 3 * l), ph);
		matmul_forward(k, f, QIN(m, 4 * l + 2, h1, (int64_t)N * C, obs),
		               LW(m, PT_FCW, (size_t)l * I * C), NULL, N, C, I);
		bias_gelu_forward(k, g, f, LAYER(m->p.blk[PT_FCB], l, I), N, I);
		matmul_forward(k, a->tmp, QIN(m, 4 * l + 3, g, (int64_t)N * I, obs),
		               LW(m, PT_FPW, (size_t)l * C * I), LAYER(m->p.blk[PT_FPB], l, C), N, I, C);
		residual_layernorm_forward(k, h2, r2, LAYER(a->mean2, l, mN), LAYER(a->rstd2, l, mN),
		                           a->tmp, h1, LAYER(m->p.blk[PT_LN2W], l, C),
		                           LAYER(m->p.blk[PT_LN2B], l, C), N, C, c->layer_norm_eps,
		                           site_key(m, 3 + 3 * l), ph);
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
			matmul_forward(k, a->t1, a->xm, m->p.blk[PT_TW], NULL, M, C, C);
			bias_gelu_forward(k, a->t2, a->t1, m->p.blk[PT_TB], M, C);
			residual_layernorm_forward(k, a->t3, a->t2, a->meant, a->rstdt, a->t2, NULL,
			                           m->p.blk[PT_TLNW], m->p.blk[PT_TLNB], M, C,
			                           c->layer_norm_eps, 0, 0.0f);
			matmul_forward(k, a->logits, a->t3, m->p.blk[PT_WTE], m->p.blk[PT_MLMB], M, C,
			               c->vocab_size);
		}
	} else if (m->head == POFA_HEAD_CLS) {
		for (int i = 0; i < B; i++)
			memcpy(a->pin + (size_t)i * C, hL + (size_t)i * T * C, (size_t)C * sizeof(float));
		matmul_forward(k, a->pooled, QIN(m, 4 * L, a->pin, (int64_t)B * C, obs), LW(m, PT_POOLW, 0),
		               m->p.blk[PT_POOLB], B, C, C);
		for (int i = 0; i < B * C; i++)
			a->pooled[i] = tanhf(a->pooled[i]);
		float pc = !drop ? 0.0f : (c->classifier_dropout >= 0.0f ? c->classifier_dropout
		                                                          : c->hidden_dropout_prob);
		dropout_forward(k, a->pd, a->pooled, (int64_t)B * C, site_key(m, 1000), pc);
		matmul_forward(k, a->logits, a->pd, m->p.blk[PT_CLSW], m->p.blk[PT_CLSB], B, C,
		               c->num_labels);
		m->nrows = B;
	} else {
		matmul_forward(k, a->logits, hL, m->p.blk[PT_QAW], m->p.blk[PT_QAB], N, C, 2);
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

float pofa_model_task_loss(pofa_model *m, const pofa_batch *b, float weight)
{
	acts *a = &m->a;
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
		double s = softmax_xent(&m->k, a->dlogits, a->logits, a->tgt, M, m->cfg.vocab_size,
		                        m->cfg.vocab_size, weight / count, NULL);
		return (float)(s / count);
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
		double s = softmax_xent(&m->k, a->dlogits, a->logits, a->tgt, B, m->cfg.num_labels,
		                        m->cfg.num_labels, weight / count, NULL);
		return (float)(s / count);
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
		double s = softmax_xent(&m->k, d, which ? en : st, tgt, B, T, T, 0.5f * weight / count, NULL);
		loss += 0.5f * (float)(s / count);
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
	const pofa_config *c = &m->cfg;
	int B = m->B, T = m->T, C = c->hidden_size, I = c->intermediate_size;
	int NH = c->num_attention_heads, L = c->num_hidden_layers, N = B * T;
	size_t mN = (size_t)m->maxB * m->maxT, mBNHTT = (size_t)m->maxB * NH * m->maxT * m->maxT;
	pofa_kern *k = &m->k;
	acts *a = &m->a;
	int drop = m->train && m->dropout;
	float ph = drop ? c->hidden_dropout_prob : 0.0f;
	float pa = drop ? c->attention_probs_dropout_prob : 0.0f;
	const float *hL = L > 0 ? LAYER(a->h2, L - 1, mN * C) : (ph > 0.0f ? a->h0 : a->eln);

	/* gradient of the encoder output, from the head */
	float *dres = a->db;
	if (m->head == POFA_HEAD_MLM) {
		int M = m->nrows;
		memset(dres, 0, (size_t)N * C * sizeof(float));
		if (M > 0) {
			matmul_backward(k, a->dt, m->g.blk[PT_WTE], m->g.blk[PT_MLMB], a->dlogits, a->t3,
			                m->p.blk[PT_WTE], M, C, c->vocab_size, 0);
			layernorm_backward(k, a->dxm, m->g.blk[PT_TLNW], m->g.blk[PT_TLNB], a->dt, a->t2,
			                   a->meant, a->rstdt, m->p.blk[PT_TLNW], M, C);
			gelu_backward(k, a->dxm, a->dxm, a->t1, (int64_t)M * C);
			matmul_backward(k, a->dt, m->g.blk[PT_TW], m->g.blk[PT_TB], a->dxm, a->xm,
			                m->p.blk[PT_TW], M, C, C, 0);
			for (int i = 0; i < M; i++)
				memcpy(dres + (size_t)a->pos[i] * C, a->dt + (size_t)i * C,
				       (size_t)C * sizeof(float));
		}
	} else if (m->head == POFA_HEAD_CLS) {
		float pc = !drop ? 0.0f : (c->classifier_dropout >= 0.0f ? c->classifier_dropout
		                                                          : c->hidden_dropout_prob);
		matmul_backward(k, a->dpooled, m->g.blk[PT_CLSW], m->g.blk[PT_CLSB], a->dlogits, a->pd,
		                m->p.blk[PT_CLSW], B, C, c->num_labels, 0);
		dropout_backward(k, a->dpooled, a->dpooled, (int64_t)B * C, site_key(m, 1000), pc);
		for (int i = 0; i < B * C; i++)
			a->dpooled[i] *= 1.0f - a->pooled[i] * a->pooled[i];
		matmul_backward(k, a->dpin, m->g.blk[PT_POOLW], m->g.blk[PT_POOLB], a->dpooled,
		                QIN(m, 4 * L, a->pin, (int64_t)B * C, -1), LW(m, PT_POOLW, 0), B, C, C, 0);
		memset(dres, 0, (size_t)N * C * sizeof(float));
		for (int i = 0; i < B; i++)
			memcpy(dres + (size_t)i * T * C, a->dpin + (size_t)i * C, (size_t)C * sizeof(float));
	} else {
		matmul_backward(k, dres, m->g.blk[PT_QAW], m->g.blk[PT_QAB], a->dlogits, hL,
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
		/* h2 = LN2(drop(fo) + h1) */
		layernorm_backward(k, dA, LAYER(m->g.blk[PT_LN2W], l, C), LAYER(m->g.blk[PT_LN2B], l, C),
		                   dres, r2, LAYER(a->mean2, l, mN), LAYER(a->rstd2, l, mN),
		                   LAYER(m->p.blk[PT_LN2W], l, C), N, C);
		/* dA = dr2 = dL/dh1 (residual) ; dB = dL/dfo */
		dropout_backward(k, dB, dA, (int64_t)N * C, site_key(m, 3 + 3 * l), ph);
		matmul_backward(k, a->dg, LAYER(m->g.blk[PT_FPW], l, (size_t)C * I),
		                LAYER(m->g.blk[PT_FPB], l, C), dB, QIN(m, 4 * l + 3, g, (int64_t)N * I, -1),
		                LW(m, PT_FPW, (size_t)l * C * I), N, I, C, 0);
		gelu_backward(k, a->dg, a->dg, f, (int64_t)N * I);
		matmul_backward(k, dA, LAYER(m->g.blk[PT_FCW], l, (size_t)I * C),
		                LAYER(m->g.blk[PT_FCB], l, I), a->dg, QIN(m, 4 * l + 2, h1, (int64_t)N * C, -1),
		                LW(m, PT_FCW, (size_t)l * I * C), N, C, I, 1);
		/* h1 = LN1(drop(ao) + hin): dres <- dr1 = dL/dhin (residual) */
		layernorm_backward(k, dres, LAYER(m->g.blk[PT_LN1W], l, C), LAYER(m->g.blk[PT_LN1B], l, C),
		                   dA, r1, LAYER(a->mean1, l, mN), LAYER(a->rstd1, l, mN),
		                   LAYER(m->p.blk[PT_LN1W], l, C), N, C);
		dropout_backward(k, dB, dres, (int64_t)N * C, site_key(m, 2 + 3 * l), ph);
		matmul_backward(k, a->dctx, LAYER(m->g.blk[PT_AOW], l, C * C), LAYER(m->g.blk[PT_AOB], l, C),
		                dB, QIN(m, 4 * l + 1, ctx, (int64_t)N * C, -1), LW(m, PT_AOW, (size_t)l * C * C),
		                N, C, C, 0);
		attention_backward(k, a->dqkv, a->dctx, qkv, att, attd, B, T, C, NH, pa);
		matmul_backward(k, dres, LAYER(m->g.blk[PT_QKVW], l, 3 * C * C),
		                LAYER(m->g.blk[PT_QKVB], l, 3 * C), a->dqkv, QIN(m, 4 * l, hin, (int64_t)N * C, -1),
		                LW(m, PT_QKVW, (size_t)l * 3 * C * C), N, C, 3 * C, 1);
	}

	/* embeddings: h0 = drop(LN(e)) */
	float *dA = dres == a->da ? a->db : a->da;
	dropout_backward(k, a->dc, dres, (int64_t)N * C, site_key(m, 0), ph);
	layernorm_backward(k, dA, m->g.blk[PT_ELNW], m->g.blk[PT_ELNB], a->dc, a->e, a->mean0, a->rstd0,
	                   m->p.blk[PT_ELNW], N, C);
	embb_args ea = { m, b, dA };
	pofa_pool_run(m->pool, C, embed_backward_task, &ea);
}

void pofa_model_zero_grad(pofa_model *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

/* ---- gradient clipping and AdamW --------------------------------------- */

typedef struct {
	pofa_model *m;
	const pofa_optim *o;
	double lr;
	float bc2s;
	double *sums;
	float scale;
} opt_args;

static void sumsq_task(void *arg, int64_t t0, int64_t t1, int tid)
{
	opt_args *oa = arg;
	double s = 0.0;
	for (int64_t t = t0; t < t1; t++) {
		const pofa_tensor *tt = &oa->m->tensors[t];
		if (!oa->m->active[t])
			continue;
		for (int64_t i = 0; i < tt->numel; i++)
			s += (double)tt->grad[i] * tt->grad[i];
	}
	oa->sums[tid] = s;
}

float pofa_model_clip_grad(pofa_model *m, float max_norm)
{
	double sums[64] = { 0 };
	opt_args oa = { .m = m, .sums = sums };
	pofa_pool_run(m->pool, m->ntensors, sumsq_task, &oa);
	double total = 0.0;
	for (int t = 0; t < pofa_pool_size(m->pool); t++)
		total += sums[t];
	float norm = (float)sqrt(total);
	if (max_norm > 0.0f) {
		/* as torch.nn.utils.clip_grad_norm_ */
		float coef = max_norm / (norm + 1e-6f);
		if (coef < 1.0f)
			for (int t = 0; t < m->ntensors; t++)
				if (m->active[t])
					cblas_sscal((int)m->tensors[t].numel, coef, m->tensors[t].grad, 1);
	}
	return norm;
}

typedef struct {
	opt_args *oa;
	const pofa_tensor *t;
	size_t off;
} adam_chunk;

static void adamw_range(const opt_args *oa, const pofa_tensor *t, size_t off, int64_t i0, int64_t i1)
{
	/* torch.optim.AdamW (single tensor): p *= 1 - lr*wd; m = b1 m + (1-b1) g;
	 * v = b2 v + (1-b2) g^2; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) */
	const pofa_optim *o = oa->o;
	float *p = t->data, *g = t->grad;
	float *m1 = oa->m->m1 + off, *m2 = oa->m->m2 + off;
	/* scalars computed in double and rounded once, as PyTorch passes
	 * Python floats to float32 kernels */
	float decay = t->decay ? (float)(1.0 - oa->lr * o->weight_decay) : 1.0f;
	float b1 = (float)o->beta1, b2 = (float)o->beta2, step = oa->scale, bc2s = oa->bc2s;
	float omb1 = (float)(1.0 - o->beta1), omb2 = (float)(1.0 - o->beta2), eps = (float)o->eps;
	for (int64_t i = i0; i < i1; i++) {
		p[i] *= decay;
		m1[i] = m1[i] * b1 + g[i] * omb1;
		m2[i] = m2[i] * b2 + omb2 * g[i] * g[i];
		float denom = sqrtf(m2[i]) / bc2s + eps;
		p[i] += -step * (m1[i] / denom);
	}
}

static void adamw_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	adam_chunk *ac = arg;
	adamw_range(ac->oa, ac->t, ac->off, i0, i1);
}

void pofa_model_adamw(pofa_model *m, pofa_optim *o, double lr)
{
	o->step++;
	opt_args oa = { .m = m, .o = o, .lr = lr };
	/* bias corrections in double, as PyTorch computes them in Python */
	double bc1 = 1.0 - pow(o->beta1, (double)o->step);
	double bc2 = 1.0 - pow(o->beta2, (double)o->step);
	oa.scale = (float)(lr / bc1);
	oa.bc2s = (float)sqrt(bc2);
	for (int t = 0; t < m->ntensors; t++) {
		if (!m->active[t])
			continue;
		pofa_tensor *tt = &m->tensors[t];
		size_t off = (size_t)(tt->data - m->params);
		if (tt->numel >= 32768) {
			adam_chunk ac = { &oa, tt, off };
			pofa_pool_run(m->pool, tt->numel, adamw_task, &ac);
		} else {
			adamw_range(&oa, tt, off, 0, tt->numel);
		}
	}
}

pofa_optim pofa_optim_default(void)
{
	pofa_optim o = { .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .step = 0 };
	return o;
}

double pofa_lr(const pofa_sched *s, int64_t step)
{
	if (s->warmup > 0 && step < s->warmup)
		return s->lr * (double)step / (double)s->warmup;
	if (s->kind == POFA_SCHED_CONSTANT)
		return s->lr;
	if (step >= s->total)
		return 0.0;
	double denom = (double)POFA_MAX(1, s->total - s->warmup);
	return s->lr * (double)(s->total - step) / denom;
}

/* ---- distillation on the head's logits ----------------------------------- */

typedef struct {
	pofa_model *m;
	const float *t;
	float T, weight;
	int rows, V;
	double *sums;
} kd_args;

/* row r of the logits: base offset and element stride */
static void kd_row(const pofa_model *m, int r, long *base, long *es)
{
	if (m->head == POFA_HEAD_SPAN) {
		int which = r / m->B, b = r % m->B;
		*base = (long)b * m->T * 2 + which;
		*es = 2;
	} else {
		int V = m->head == POFA_HEAD_MLM ? m->cfg.vocab_size : m->cfg.num_labels;
		*base = (long)r * V;
		*es = 1;
	}
}

static void kd_task(void *arg, int64_t r0, int64_t r1, int tid)
{
	kd_args *ka = arg;
	pofa_model *m = ka->m;
	const float *s = m->a.logits, *t = ka->t;
	float *ds = m->a.dlogits;
	float invT = 1.0f / ka->T, g = ka->weight * ka->T / (float)ka->rows;
	double sum = 0.0;
	for (int64_t r = r0; r < r1; r++) {
		long b, es;
		kd_row(m, (int)r, &b, &es);
		float smax = -INFINITY, tmax = -INFINITY;
		for (int j = 0; j < ka->V; j++) {
			smax = fmaxf(smax, s[b + j * es]);
			tmax = fmaxf(tmax, t[b + j * es]);
		}
		float zs = 0.0f, zt = 0.0f;
		for (int j = 0; j < ka->V; j++) {
			zs += pofa_expf((s[b + j * es] - smax) * invT);
			zt += pofa_expf((t[b + j * es] - tmax) * invT);
		}
		float lzs = logf(zs), lzt = logf(zt), kl = 0.0f;
		for (int j = 0; j < ka->V; j++) {
			float ls = (s[b + j * es] - smax) * invT - lzs;
			float lt = (t[b + j * es] - tmax) * invT - lzt;
			float pt = pofa_expf(lt), ps = pofa_expf(ls);
			kl += pt * (lt - ls);
			ds[b + j * es] += g * (ps - pt);
		}
		sum += kl;
	}
	ka->sums[tid] = sum;
}

double pofa_model_kd(pofa_model *m, const float *teacher_logits, float T, float weight)
{
	int rows = m->head == POFA_HEAD_SPAN ? 2 * m->B : m->nrows;
	int V = m->head == POFA_HEAD_MLM ? m->cfg.vocab_size
	        : m->head == POFA_HEAD_CLS ? m->cfg.num_labels : m->T;
	if (rows <= 0)
		return 0.0;
	double sums[64] = { 0 };
	kd_args ka = { m, teacher_logits, T, weight, rows, V, sums };
	pofa_pool_run(m->pool, rows, kd_task, &ka);
	double total = 0.0;
	for (int t = 0; t < pofa_pool_size(m->pool); t++)
		total += sums[t];
	return total / rows * (double)T * (double)T;
}

/* ---- int8 export ------------------------------------------------------------ */

int pofa_model_export_int8(pofa_model *m, const char *path, pofa_err *err)
{
	if (!m->qat || !m->nsites)
		return pofa_error(err, POFA_ERR_RUN, "%s: the model has no quantization state", path);
	int np = 0;
	for (int i = 0; i < m->ntensors; i++)
		np += m->tensors[i].prunable;
	pofa_st_out *o = calloc((size_t)np * 5 + 1, sizeof *o);
	char (*names)[128] = calloc((size_t)np * 5 + 1, sizeof *names);
	void **bufs = calloc((size_t)np * 5 + 1, sizeof *bufs);
	int n = 0, rc = POFA_OK;
	if (!o || !names || !bufs)
		rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	for (int i = 0; i < m->ntensors && !rc; i++) {
		const pofa_tensor *t = &m->tensors[i];
		if (!t->prunable)
			continue;
		/* the Linear's input site: query/key/value share the layer's */
		int site, layer = -1;
		const char *kind = "";
		if (sscanf(t->name, "bert.encoder.layer.%d.", &layer) == 1) {
			kind = strchr(t->name + 19, '.') + 1;
			site = 4 * layer + (!strncmp(kind, "attention.self", 14) ? 0
			                    : !strncmp(kind, "attention.output", 16) ? 1
			                    : !strncmp(kind, "intermediate", 12) ? 2 : 3);
		} else {
			site = 4 * m->cfg.num_hidden_layers;   /* the pooler */
		}
		char prefix[96];
		snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->name) - 7), t->name); /* - ".weight" */
		int64_t rows = m->qat_per_channel ? t->shape[0] : 1, cols = t->numel / rows;
		int8_t *q = malloc((size_t)t->numel);
		float *sc = malloc((size_t)rows * sizeof *sc);
		float *in = malloc(2 * sizeof *in);
		int32_t *bq = malloc((size_t)t->shape[0] * sizeof *bq);
		if (!q || !sc || !in || !bq) {
			free(q); free(sc); free(in); free(bq);
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			break;
		}
		for (int64_t r = 0; r < rows; r++) {
			float mx = 0.0f;
			for (int64_t j = 0; j < cols; j++)
				mx = fmaxf(mx, fabsf(t->data[r * cols + j]));
			sc[r] = mx / 127.0f;
			for (int64_t j = 0; j < cols; j++) {
				float v = sc[r] > 0.0f ? rintf(t->data[r * cols + j] / sc[r]) : 0.0f;
				q[r * cols + j] = (int8_t)(v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v));
			}
		}
		in[0] = m->qscale[site];
		in[1] = m->qzp[site];
		/* the bias in int32 at scale s_in * s_w */
		const pofa_tensor *bias = &m->tensors[i + 1];
		for (int64_t r = 0; r < t->shape[0]; r++) {
			float s_w = sc[m->qat_per_channel ? r : 0], s = in[0] * s_w;
			bq[r] = s > 0.0f ? (int32_t)lrintf(bias->data[r] / s) : 0;
		}
		void *data[4] = { q, sc, in, bq };
		static const char *suffix[4] = { "weight_int8", "weight_scale", "input_scale_zero_point",
		                                 "bias_int32" };
		int dt[4] = { POFA_I8, POFA_F32, POFA_F32, POFA_I32 };
		int64_t shape[4][2] = { { t->shape[0], t->shape[1] }, { rows, 0 }, { 2, 0 }, { t->shape[0], 0 } };
		for (int k = 0; k < 4; k++) {
			snprintf(names[n], 128, "%s.%s", prefix, suffix[k]);
			o[n] = (pofa_st_out){ names[n], data[k], k ? 1 : 2, { shape[k][0], shape[k][1] }, dt[k] };
			bufs[n++] = data[k];
		}
	}
	static const char *const meta[][2] = { { "format", "pt" }, { "quantization", "int8 symmetric weights, "
	                                       "uint8 asymmetric inputs (scale, zero point), int32 bias" } };
	if (!rc)
		rc = pofa_st_write(path, o, n, meta, 2, err);
	for (int k = 0; k < n; k++)
		free(bufs[k]);
	free(bufs);
	free(o);
	free(names);
	return rc;
}

/* ---- QAT state: the input ranges ----------------------------------------- */

int pofa_model_qat_save(pofa_model *m, const char *path, pofa_err *err)
{
	if (!m->nsites)
		return pofa_error(err, POFA_ERR_RUN, "%s: no quantization state to save", path);
	float *seen = malloc((size_t)m->nsites * sizeof *seen);
	if (!seen)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	for (int i = 0; i < m->nsites; i++)
		seen[i] = m->qseen[i];
	pofa_st_out o[3] = {
		{ "qat.input_max", m->qmax, 1, { m->nsites, 0 }, POFA_F32 },
		{ "qat.input_min", m->qmin, 1, { m->nsites, 0 }, POFA_F32 },
		{ "qat.observed", seen, 1, { m->nsites, 0 }, POFA_F32 },
	};
	const char *const meta[][2] = { { "format", "pt" },
	                                { "per_channel", m->qat_per_channel ? "1" : "0" } };
	int rc = pofa_st_write(path, o, 3, meta, 2, err);
	free(seen);
	return rc;
}

int pofa_model_qat_load(pofa_model *m, const char *path, pofa_err *err)
{
	pofa_st_file f;
	int rc = pofa_st_open(&f, path, err);
	if (rc)
		return rc;
	const char *pc = pofa_st_meta(&f, "per_channel");
	rc = pofa_model_set_qat(m, 1, pc && !strcmp(pc, "1"), err);
	const char *names[3] = { "qat.input_min", "qat.input_max", "qat.observed" };
	float *dst[3] = { m->qmin, m->qmax, NULL };
	float *seen = malloc((size_t)m->nsites * sizeof *seen);
	dst[2] = seen;
	for (int k = 0; k < 3 && !rc; k++) {
		const pofa_st_tensor *t = pofa_st_find(&f, names[k]);
		if (!t || t->ndim != 1 || t->shape[0] != m->nsites)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing or not [%d]", path, names[k], m->nsites);
		else
			rc = pofa_st_read_f32(&f, t, dst[k], err);
	}
	if (!rc)
		for (int i = 0; i < m->nsites; i++)
			m->qseen[i] = seen[i] != 0.0f;
	free(seen);
	pofa_st_close(&f);
	return rc;
}
