/*
 * tensors.c - the model's parameters as tensors: the sizes of its blocks,
 * the table of Hugging Face named tensors pointing into them, lookups and
 * sparsity. What model.c, qat.c, the files and the pruning share.
 */
#include "engine/model/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pofa_head_names[] = { "mlm", "cls", "span" };
_Static_assert(POFA_ARRAY_LEN(pofa_head_names) == POFA_HEAD_COUNT, "a name per head");
const char *const pofa_role_names[] = {
	"Q", "K", "V", "attn-out", "ffn-in", "ffn-out", "pooler",
	"word-emb", "pos-emb", "type-emb", "emb-ln", "attn-ln", "ffn-ln",
	"mlm-transform", "mlm-ln", "mlm-bias", "classifier", "qa",
};
_Static_assert(POFA_ARRAY_LEN(pofa_role_names) == POFA_ROLE_COUNT, "a name per role");

void *pofa_alloc_floats(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(float)) != 0)
		return NULL;
	memset(p, 0, (n ? n : 1) * sizeof(float));
	return p;
}

/* ---- sizes and the tensor table ---------------------------------------- */

void pofa_param_sizes(const pofa_config *c, enum pofa_head head, size_t *s)
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

void pofa_point_blocks(param_ptrs *pp, float *base, const size_t *sizes)
{
	size_t off = 0;
	for (int i = 0; i < PT_COUNT; i++) {
		pp->blk[i] = sizes[i] && base ? base + off : NULL;   /* no base: no gradients */
		off += sizes[i];
	}
}

/* one entry of the tensor table: a view into block blk at off */
typedef struct {
	int blk;
	size_t off;
	int layer;
	enum pofa_role role;
	enum pofa_param_kind kind;
	int ndim;
	int64_t d0, d1;
} tensor_def;

static void add_tensor(pofa_model *m, const tensor_def *d, const char *name, int active)
{
	pofa_tensor *t = &m->tensors[m->ntensors];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->data = m->p.blk[d->blk] + d->off;
	t->grad = m->g.blk[d->blk] ? m->g.blk[d->blk] + d->off : NULL;   /* NULL: an inference model */
	t->ndim = d->ndim;
	t->shape[0] = d->d0;
	t->shape[1] = d->ndim > 1 ? d->d1 : 1;
	t->numel = d->d0 * (d->ndim > 1 ? d->d1 : 1);
	t->layer = d->layer;
	t->role = d->role;
	t->kind = d->kind;
	int ln = d->role == POFA_ROLE_EMB_LN || d->role == POFA_ROLE_ATTN_LN ||
	         d->role == POFA_ROLE_FFN_LN || d->role == POFA_ROLE_MLM_LN;
	/* AdamW decays the matrices, not biases or LayerNorm */
	t->decay = d->kind == POFA_PARAM_WEIGHT && !ln && d->role != POFA_ROLE_MLM_BIAS;
	t->prunable = d->role < POFA_ROLE_PRUNABLE_COUNT && d->kind == POFA_PARAM_WEIGHT;
	m->active[m->ntensors] = (unsigned char)active;
	m->ntensors++;
}

void pofa_build_tensor_table(pofa_model *m)
{
	const pofa_config *c = &m->cfg;
	int64_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
	const int W = POFA_PARAM_WEIGHT, Bi = POFA_PARAM_BIAS;
	char nm[96];
	m->ntensors = 0;
#define T(blk, off, layer, role, kind, nd, d0, d1, active, ...)                                 \
	do {                                                                                  \
		tensor_def d_ = { blk, off, layer, role, kind, nd, d0, d1 };                  \
		snprintf(nm, sizeof nm, __VA_ARGS__);                                         \
		add_tensor(m, &d_, nm, active);                                               \
	} while (0)
	T(PT_WTE, 0, -1, POFA_ROLE_WORD_EMB, W, 2, V, C, 1, "bert.embeddings.word_embeddings.weight");
	T(PT_WPE, 0, -1, POFA_ROLE_POS_EMB, W, 2, c->max_position_embeddings, C, 1,
	  "bert.embeddings.position_embeddings.weight");
	T(PT_WTT, 0, -1, POFA_ROLE_TYPE_EMB, W, 2, c->type_vocab_size, C, 1,
	  "bert.embeddings.token_type_embeddings.weight");
	T(PT_ELNW, 0, -1, POFA_ROLE_EMB_LN, W, 1, C, 0, 1, "bert.embeddings.LayerNorm.weight");
	T(PT_ELNB, 0, -1, POFA_ROLE_EMB_LN, Bi, 1, C, 0, 1, "bert.embeddings.LayerNorm.bias");
	static const char *qkv[3] = { "query", "key", "value" };
	for (int l = 0; l < c->num_hidden_layers; l++) {
		for (int j = 0; j < 3; j++) {
			int role = POFA_ROLE_QUERY + j;
			T(PT_QKVW, (size_t)(l * 3 + j) * C * C, l, role, W, 2, C, C, 1,
			  "bert.encoder.layer.%d.attention.self.%s.weight", l, qkv[j]);
			T(PT_QKVB, (size_t)(l * 3 + j) * C, l, role, Bi, 1, C, 0, 1,
			  "bert.encoder.layer.%d.attention.self.%s.bias", l, qkv[j]);
		}
		const char *p = "bert.encoder.layer";
		T(PT_AOW, (size_t)l * C * C, l, POFA_ROLE_ATTN_OUT, W, 2, C, C, 1,
		  "%s.%d.attention.output.dense.weight", p, l);
		T(PT_AOB, (size_t)l * C, l, POFA_ROLE_ATTN_OUT, Bi, 1, C, 0, 1,
		  "%s.%d.attention.output.dense.bias", p, l);
		T(PT_LN1W, (size_t)l * C, l, POFA_ROLE_ATTN_LN, W, 1, C, 0, 1,
		  "%s.%d.attention.output.LayerNorm.weight", p, l);
		T(PT_LN1B, (size_t)l * C, l, POFA_ROLE_ATTN_LN, Bi, 1, C, 0, 1,
		  "%s.%d.attention.output.LayerNorm.bias", p, l);
		T(PT_FCW, (size_t)l * I * C, l, POFA_ROLE_FFN_IN, W, 2, I, C, 1,
		  "%s.%d.intermediate.dense.weight", p, l);
		T(PT_FCB, (size_t)l * I, l, POFA_ROLE_FFN_IN, Bi, 1, I, 0, 1, "%s.%d.intermediate.dense.bias", p, l);
		T(PT_FPW, (size_t)l * C * I, l, POFA_ROLE_FFN_OUT, W, 2, C, I, 1, "%s.%d.output.dense.weight", p, l);
		T(PT_FPB, (size_t)l * C, l, POFA_ROLE_FFN_OUT, Bi, 1, C, 0, 1, "%s.%d.output.dense.bias", p, l);
		T(PT_LN2W, (size_t)l * C, l, POFA_ROLE_FFN_LN, W, 1, C, 0, 1, "%s.%d.output.LayerNorm.weight", p, l);
		T(PT_LN2B, (size_t)l * C, l, POFA_ROLE_FFN_LN, Bi, 1, C, 0, 1, "%s.%d.output.LayerNorm.bias", p, l);
	}
	/* the pooler is kept in every model (it is prunable); only the
	 * classification head uses it, so only there does it train */
	int cls = m->head == POFA_HEAD_CLS;
	T(PT_POOLW, 0, -1, POFA_ROLE_POOLER, W, 2, C, C, cls, "bert.pooler.dense.weight");
	T(PT_POOLB, 0, -1, POFA_ROLE_POOLER, Bi, 1, C, 0, cls, "bert.pooler.dense.bias");
	if (m->head == POFA_HEAD_MLM) {
		T(PT_TW, 0, -1, POFA_ROLE_MLM_TRANSFORM, W, 2, C, C, 1, "cls.predictions.transform.dense.weight");
		T(PT_TB, 0, -1, POFA_ROLE_MLM_TRANSFORM, Bi, 1, C, 0, 1, "cls.predictions.transform.dense.bias");
		T(PT_TLNW, 0, -1, POFA_ROLE_MLM_LN, W, 1, C, 0, 1, "cls.predictions.transform.LayerNorm.weight");
		T(PT_TLNB, 0, -1, POFA_ROLE_MLM_LN, Bi, 1, C, 0, 1, "cls.predictions.transform.LayerNorm.bias");
		T(PT_MLMB, 0, -1, POFA_ROLE_MLM_BIAS, Bi, 1, V, 0, 1, "cls.predictions.bias");
	} else if (cls) {
		T(PT_CLSW, 0, -1, POFA_ROLE_CLASSIFIER, W, 2, c->num_labels, C, 1, "classifier.weight");
		T(PT_CLSB, 0, -1, POFA_ROLE_CLASSIFIER, Bi, 1, c->num_labels, 0, 1, "classifier.bias");
	} else {
		T(PT_QAW, 0, -1, POFA_ROLE_QA, W, 2, 2, C, 1, "qa_outputs.weight");
		T(PT_QAB, 0, -1, POFA_ROLE_QA, Bi, 1, 2, 0, 1, "qa_outputs.bias");
	}
#undef T
}

pofa_tensor *pofa_model_tensor(pofa_model *m, int layer, enum pofa_role role, enum pofa_param_kind kind)
{
	for (int i = 0; i < m->ntensors; i++) {
		pofa_tensor *t = &m->tensors[i];
		if (t->layer == layer && t->role == role && t->kind == kind)
			return t;
	}
	return NULL;
}

/* the one count of zeros: sparsity everywhere (events, inspect, masks) */
int64_t pofa_tensor_zeros(const pofa_tensor *t)
{
	int64_t z = 0;
	for (int64_t j = 0; j < t->numel; j++)
		z += t->data[j] == 0.0f;
	return z;
}

double pofa_tensor_sparsity(const pofa_tensor *t)
{
	return t->numel ? (double)pofa_tensor_zeros(t) / (double)t->numel : 0.0;
}

double pofa_model_sparsity(pofa_model *m)
{
	int64_t z = 0, n = 0;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].prunable) {
			z += pofa_tensor_zeros(&m->tensors[i]);
			n += m->tensors[i].numel;
		}
	return n ? (double)z / (double)n : 0.0;
}

size_t pofa_config_num_params(const pofa_config *cfg, enum pofa_head head)
{
	size_t sizes[PT_COUNT], n = 0;
	pofa_param_sizes(cfg, head, sizes);
	for (int i = 0; i < PT_COUNT; i++)
		n += sizes[i];
	return n;
}

/* a partial weight gradient and bias of the largest encoder Linear (the
 * training's products split over the tokens, kernels.h) */
int pofa_model_tensors(pofa_model *m, pofa_tensor **out) { *out = m->tensors; return m->ntensors; }
size_t pofa_model_num_params(const pofa_model *m) { return m->nparams; }
float *pofa_model_params(pofa_model *m) { return m->params; }
float *pofa_model_grads(pofa_model *m) { return m->grads; }
