/*
 * onnx.c - a model as an ONNX graph (opset 17), encoded with protobuf-c
 * from ONNX's own schema (onnx.proto of Debian's libonnx-dev, its package
 * renamed pofa_onnx, compiled by protoc-c at build time).
 *
 * The graph is BERT as pofa computes it: embeddings (word + position +
 * token type, LayerNorm), per layer Q/K/V, scaled dot-product attention
 * with padding keys at the most negative float, output projection,
 * residual and LayerNorm, FFN with exact GELU, residual and LayerNorm; then
 * the head. Inputs input_ids, attention_mask, token_type_ids (int64, batch
 * x sequence, both dynamic); outputs logits (classification: batch x
 * labels; masked LM: batch x sequence x vocabulary) or start_logits and
 * end_logits (span). A QAT model's prunable Linears become
 * QuantizeLinear/DequantizeLinear pairs on the input (uint8, the ranges QAT
 * learned) and DequantizeLinear on the int8 weights, so a runtime computes
 * what pofa's QAT evaluation computes.
 */
#include "engine/export/onnx.h"
#include "data/base/mem.h"
#include "engine/io/safetensors.h"
#include "data/base/fileio.h"

#include "pofa_onnx.pb-c.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPSET 17

/* ---- a graph under construction: everything it allocates is owned --------- */

typedef struct {
	PofaOnnx__NodeProto **nodes;
	size_t nn, cn;
	PofaOnnx__TensorProto **inits;
	size_t ni, ci;
	void **owned;
	size_t no, co;
	int tmp;
	int oom;
	/* QAT: the int8 file, when the Linears are quantized */
	const pofa_st_file *q8;
} graph;

static void *own(graph *g, void *p)
{
	if (!p) {
		g->oom = 1;
		return NULL;
	}
	if (g->no == g->co) {
		size_t c = g->co ? 2 * g->co : 1024;
		if (pofa_resize(&g->owned, c, sizeof *g->owned)) {
			g->oom = 1;
			free(p);
			return NULL;
		}
		g->co = c;
	}
	return g->owned[g->no++] = p;
}

static void *gcalloc(graph *g, size_t n, size_t size) { return own(g, calloc(n ? n : 1, size)); }

static char *gstr(graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *gstr(graph *g, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return own(g, strdup(buf));
}

static void push(graph *g, void ***arr, size_t *n, size_t *cap, void *item)
{
	if (!item)
		return;
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		if (pofa_resize(arr, c, sizeof **arr)) {
			g->oom = 1;
			return;
		}
		*cap = c;
	}
	(*arr)[(*n)++] = item;
}

/* attributes: "i:name" an int, "f:name" a float, "s:name" ints (n, then the values) */
static PofaOnnx__AttributeProto *attr_int(graph *g, const char *name, int64_t v)
{
	PofaOnnx__AttributeProto *a = gcalloc(g, 1, sizeof *a);
	if (!a)
		return NULL;
	pofa_onnx__attribute_proto__init(a);
	a->name = gstr(g, "%s", name);
	a->has_type = 1;
	a->type = POFA_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	a->has_i = 1;
	a->i = v;
	return a;
}

static PofaOnnx__AttributeProto *attr_float(graph *g, const char *name, float v)
{
	PofaOnnx__AttributeProto *a = gcalloc(g, 1, sizeof *a);
	if (!a)
		return NULL;
	pofa_onnx__attribute_proto__init(a);
	a->name = gstr(g, "%s", name);
	a->has_type = 1;
	a->type = POFA_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
	a->has_f = 1;
	a->f = v;
	return a;
}

static PofaOnnx__AttributeProto *attr_ints(graph *g, const char *name, int n, const int64_t *v)
{
	PofaOnnx__AttributeProto *a = gcalloc(g, 1, sizeof *a);
	int64_t *c = gcalloc(g, (size_t)n, sizeof *c);
	if (!a || !c)
		return NULL;
	pofa_onnx__attribute_proto__init(a);
	memcpy(c, v, (size_t)n * sizeof *c);
	a->name = gstr(g, "%s", name);
	a->has_type = 1;
	a->type = POFA_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
	a->n_ints = (size_t)n;
	a->ints = c;
	return a;
}

/* a node of op on inputs (NULL-terminated); its output is a new name
 * (or out); nattr attributes follow */
static const char *node(graph *g, const char *op, const char *out, const char *const *in, int nattr, ...)
{
	PofaOnnx__NodeProto *n = gcalloc(g, 1, sizeof *n);
	if (!n)
		return "";
	pofa_onnx__node_proto__init(n);
	int nin = 0;
	while (in[nin])
		nin++;
	n->input = gcalloc(g, (size_t)nin, sizeof *n->input);
	n->output = gcalloc(g, 1, sizeof *n->output);
	n->attribute = gcalloc(g, (size_t)nattr, sizeof *n->attribute);
	if (!n->input || !n->output || !n->attribute)
		return "";
	for (int i = 0; i < nin; i++)
		n->input[i] = gstr(g, "%s", in[i]);
	n->n_input = (size_t)nin;
	n->output[0] = out ? gstr(g, "%s", out) : gstr(g, "%s_%d", op, g->tmp++);
	n->n_output = 1;
	n->name = gstr(g, "n%d_%s", g->tmp++, op);
	n->op_type = gstr(g, "%s", op);
	va_list ap;
	va_start(ap, nattr);
	for (int i = 0; i < nattr; i++)
		n->attribute[i] = va_arg(ap, PofaOnnx__AttributeProto *);
	va_end(ap);
	n->n_attribute = (size_t)nattr;
	push(g, (void ***)&g->nodes, &g->nn, &g->cn, n);
	return n->output[0] ? n->output[0] : "";
}

#define IN(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* an initializer of raw bytes (copied) */
static const char *init(graph *g, const char *name, int dtype, int ndim, const int64_t *dims, const void *data,
                        size_t bytes)
{
	PofaOnnx__TensorProto *t = gcalloc(g, 1, sizeof *t);
	int64_t *d = gcalloc(g, (size_t)ndim, sizeof *d);
	void *raw = own(g, malloc(bytes ? bytes : 1));
	if (!t || !d || !raw)
		return "";
	pofa_onnx__tensor_proto__init(t);
	if (ndim) /* a scalar has no dims (NULL) */
		memcpy(d, dims, (size_t)ndim * sizeof *d);
	if (bytes)
		memcpy(raw, data, bytes);
	t->name = gstr(g, "%s", name);
	t->n_dims = (size_t)ndim;
	t->dims = d;
	t->has_data_type = 1;
	t->data_type = dtype;
	t->has_raw_data = 1;
	t->raw_data.len = bytes;
	t->raw_data.data = raw;
	push(g, (void ***)&g->inits, &g->ni, &g->ci, t);
	return t->name ? t->name : "";
}

static const char *init_f32(graph *g, const char *name, int ndim, const int64_t *dims, const float *data)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)dims[i];
	return init(g, name, POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ndim, dims, data, n * sizeof(float));
}

static const char *scalar_f32(graph *g, float v)
{
	char name[32];
	snprintf(name, sizeof name, "c%d", g->tmp++);
	return init(g, name, POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &v, sizeof v);
}

static const char *const_i64(graph *g, int n, const int64_t *v)
{
	char name[32];
	snprintf(name, sizeof name, "i%d", g->tmp++);
	int64_t dims[1] = { n };
	return init(g, name, POFA_ONNX__TENSOR_PROTO__DATA_TYPE__INT64, n ? 1 : 0, dims, v, (size_t)(n ? n : 1) * 8);
}

static PofaOnnx__ValueInfoProto *value(graph *g, const char *name, int dtype, int ndim, const char *const *dims,
                                   const int64_t *fixed)
{
	PofaOnnx__ValueInfoProto *v = gcalloc(g, 1, sizeof *v);
	PofaOnnx__TypeProto *tp = gcalloc(g, 1, sizeof *tp);
	PofaOnnx__TypeProto__Tensor *tt = gcalloc(g, 1, sizeof *tt);
	PofaOnnx__TensorShapeProto *sh = gcalloc(g, 1, sizeof *sh);
	PofaOnnx__TensorShapeProto__Dimension **dd = gcalloc(g, (size_t)ndim, sizeof *dd);
	if (!v || !tp || !tt || !sh || !dd)
		return NULL;
	pofa_onnx__value_info_proto__init(v);
	pofa_onnx__type_proto__init(tp);
	pofa_onnx__type_proto__tensor__init(tt);
	pofa_onnx__tensor_shape_proto__init(sh);
	for (int i = 0; i < ndim; i++) {
		PofaOnnx__TensorShapeProto__Dimension *d = gcalloc(g, 1, sizeof *d);
		if (!d)
			return NULL;
		pofa_onnx__tensor_shape_proto__dimension__init(d);
		if (dims[i]) {
			d->value_case = POFA_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
			d->dim_param = gstr(g, "%s", dims[i]);
		} else {
			d->value_case = POFA_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			d->dim_value = fixed[i];
		}
		dd[i] = d;
	}
	sh->n_dim = (size_t)ndim;
	sh->dim = dd;
	tt->has_elem_type = 1;
	tt->elem_type = dtype;
	tt->shape = sh;
	tp->value_case = POFA_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	v->name = gstr(g, "%s", name);
	v->type = tp;
	return v;
}

/* ---- BERT ---------------------------------------------------------------------- */

/* [out, in] -> [in, out] for MatMul: a Transpose of the initializer, which
 * ONNX Runtime folds into a constant when it loads the graph */
static const char *transposed(graph *g, const char *w)
{
	return node(g, "Transpose", NULL, IN(w), 1, attr_ints(g, "perm", 2, (const int64_t[]){ 1, 0 }));
}

/* the weights of a Linear for MatMul, [in, out]: stored as Hugging Face
 * stores them, under their names, [out, in] (so that a weight can be
 * mapped back by its name), then transposed; the int8 ones transposed
 * before they are dequantized (per tensor, or per output column: axis 1
 * after the transpose), so that DequantizeLinear still feeds MatMul */
static const char *linear_weight(graph *g, const pofa_tensor *w, pofa_err *err)
{
	int64_t out = w->shape[0], in = w->shape[1];
	int64_t dims[2] = { out, in };
	char base[112];
	snprintf(base, sizeof base, "%.*s", (int)(strlen(w->name) - 7), w->name);   /* - ".weight" */
	if (!g->q8 || !w->prunable)
		return transposed(g, init_f32(g, w->name, 2, dims, w->data));
	char qn[160], sn[160];
	snprintf(qn, sizeof qn, "%s.weight_int8", base);
	snprintf(sn, sizeof sn, "%s.weight_scale", base);
	const pofa_st_tensor *q = pofa_st_find(g->q8, qn), *s = pofa_st_find(g->q8, sn);
	if (!q || !s || q->dtype != POFA_I8 || q->ndim != 2 || q->shape[0] != out || q->shape[1] != in ||
	    s->dtype != POFA_F32 || s->ndim != 1 || (s->shape[0] != 1 && s->shape[0] != out)) {
		pofa_error(err, POFA_ERR_INPUT, "%s: %s or %s missing or not of the model's shape", g->q8->path, qn, sn);
		return NULL;
	}
	const char *qname = init(g, qn, POFA_ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 2, dims,
	                         g->q8->buf + g->q8->data_off + q->begin, (size_t)(in * out));
	const char *qt = transposed(g, qname);
	int per_channel = s->shape[0] == out && out > 1;
	const char *sname = init(g, sn, POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, per_channel ? 1 : 0, s->shape,
	                         g->q8->buf + g->q8->data_off + s->begin, (size_t)s->shape[0] * 4);
	if (per_channel)
		return node(g, "DequantizeLinear", NULL, IN(qt, sname), 1, attr_int(g, "axis", 1));
	return node(g, "DequantizeLinear", NULL, IN(qt, sname), 0);
}

/* x @ W^T + b, with x fake-quantized on its way in for a QAT model */
static const char *linear(graph *g, pofa_model *m, const char *x, int layer, enum pofa_role role, pofa_err *err)
{
	pofa_tensor *w = pofa_model_tensor(m, layer, role, POFA_PARAM_WEIGHT);
	pofa_tensor *b = pofa_model_tensor(m, layer, role, POFA_PARAM_BIAS);
	const char *W = linear_weight(g, w, err);
	if (!W)
		return NULL;
	if (g->q8 && w->prunable) {
		char sz[160];
		snprintf(sz, sizeof sz, "%.*s.input_scale_zero_point", (int)(strlen(w->name) - 7), w->name);
		const pofa_st_tensor *t = pofa_st_find(g->q8, sz);
		if (!t || t->dtype != POFA_F32 || t->ndim != 1 || t->shape[0] != 2) {
			pofa_error(err, POFA_ERR_INPUT, "%s: %s missing or not [2]", g->q8->path, sz);
			return NULL;
		}
		float v[2];
		memcpy(v, g->q8->buf + g->q8->data_off + t->begin, sizeof v);
		uint8_t zp = (uint8_t)(v[1] < 0 ? 0 : v[1] > 255 ? 255 : v[1]);
		const char *sc = scalar_f32(g, v[0]);
		char zn[32];
		snprintf(zn, sizeof zn, "z%d", g->tmp++);
		const char *z = init(g, zn, POFA_ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &zp, 1);
		const char *q = node(g, "QuantizeLinear", NULL, IN(x, sc, z), 0);
		x = node(g, "DequantizeLinear", NULL, IN(q, sc, z), 0);
	}
	const char *y = node(g, "MatMul", NULL, IN(x, W), 0);
	return node(g, "Add", NULL, IN(y, init_f32(g, b->name, 1, b->shape, b->data)), 0);
}

static const char *layernorm(graph *g, pofa_model *m, const char *x, int layer, enum pofa_role role)
{
	pofa_tensor *w = pofa_model_tensor(m, layer, role, POFA_PARAM_WEIGHT);
	pofa_tensor *b = pofa_model_tensor(m, layer, role, POFA_PARAM_BIAS);
	return node(g, "LayerNormalization", NULL,
	            IN(x, init_f32(g, w->name, 1, w->shape, w->data), init_f32(g, b->name, 1, b->shape, b->data)), 2,
	            attr_int(g, "axis", -1), attr_float(g, "epsilon", pofa_model_config(m)->layer_norm_eps));
}

/* exact GELU: 0.5 x (1 + erf(x / sqrt 2)) */
static const char *gelu(graph *g, const char *x)
{
	const char *e = node(g, "Erf", NULL, IN(node(g, "Mul", NULL, IN(x, scalar_f32(g, 0.70710678118654752f)), 0)), 0);
	const char *one = node(g, "Add", NULL, IN(e, scalar_f32(g, 1.0f)), 0);
	return node(g, "Mul", NULL, IN(node(g, "Mul", NULL, IN(x, scalar_f32(g, 0.5f)), 0), one), 0);
}

static const char *encoder_layer(graph *g, pofa_model *m, const char *h, const char *mask_add, int l, pofa_err *err)
{
	const pofa_config *c = pofa_model_config(m);
	int NH = c->num_attention_heads, hs = c->hidden_size / NH;
	int64_t split[4] = { 0, 0, NH, hs }, merge[3] = { 0, 0, c->hidden_size };
	const int64_t perm[4] = { 0, 2, 1, 3 }, permk[4] = { 0, 2, 3, 1 };
	const char *heads = const_i64(g, 4, split);
	const char *qkv[3];
	for (int k = 0; k < 3; k++) {
		const char *y = linear(g, m, h, l, (enum pofa_role)(POFA_ROLE_QUERY + k), err);
		if (!y)
			return NULL;
		const char *r = node(g, "Reshape", NULL, IN(y, heads), 0);
		qkv[k] = node(g, "Transpose", NULL, IN(r), 1, attr_ints(g, "perm", 4, k == 1 ? permk : perm));
	}
	const char *s = node(g, "MatMul", NULL, IN(qkv[0], qkv[1]), 0);
	s = node(g, "Mul", NULL, IN(s, scalar_f32(g, 1.0f / sqrtf((float)hs))), 0);
	s = node(g, "Add", NULL, IN(s, mask_add), 0);
	const char *p = node(g, "Softmax", NULL, IN(s), 1, attr_int(g, "axis", -1));
	const char *ctx = node(g, "MatMul", NULL, IN(p, qkv[2]), 0);
	ctx = node(g, "Transpose", NULL, IN(ctx), 1, attr_ints(g, "perm", 4, perm));
	ctx = node(g, "Reshape", NULL, IN(ctx, const_i64(g, 3, merge)), 0);
	const char *ao = linear(g, m, ctx, l, POFA_ROLE_ATTN_OUT, err);
	if (!ao)
		return NULL;
	const char *h1 = layernorm(g, m, node(g, "Add", NULL, IN(ao, h), 0), l, POFA_ROLE_ATTN_LN);
	const char *f = linear(g, m, h1, l, POFA_ROLE_FFN_IN, err);
	if (!f)
		return NULL;
	const char *fo = linear(g, m, gelu(g, f), l, POFA_ROLE_FFN_OUT, err);
	if (!fo)
		return NULL;
	return layernorm(g, m, node(g, "Add", NULL, IN(fo, h1), 0), l, POFA_ROLE_FFN_LN);
}

static pofa_tensor *tensor(pofa_model *m, enum pofa_role role, enum pofa_param_kind kind)
{
	return pofa_model_tensor(m, -1, role, kind);
}

/* the graph; its outputs named in outs */
static int build(graph *g, pofa_model *m, pofa_err *err)
{
	const pofa_config *c = pofa_model_config(m);
	/* embeddings: word + position (0..T-1) + token type, then LayerNorm */
	pofa_tensor *we = tensor(m, POFA_ROLE_WORD_EMB, POFA_PARAM_WEIGHT);
	pofa_tensor *pe = tensor(m, POFA_ROLE_POS_EMB, POFA_PARAM_WEIGHT);
	pofa_tensor *te = tensor(m, POFA_ROLE_TYPE_EMB, POFA_PARAM_WEIGHT);
	const char *W = init_f32(g, we->name, 2, we->shape, we->data);
	const char *x = node(g, "Gather", NULL, IN(W, "input_ids"), 0);
	int64_t zero = 0, one = 1;
	const char *T = node(g, "Gather", NULL, IN(node(g, "Shape", NULL, IN("input_ids"), 0), const_i64(g, 0, &one)), 0);
	const char *pos = node(g, "Range", NULL, IN(const_i64(g, 0, &zero), T, const_i64(g, 0, &one)), 0);
	x = node(g, "Add", NULL, IN(x, node(g, "Gather", NULL, IN(init_f32(g, pe->name, 2, pe->shape, pe->data), pos), 0)), 0);
	x = node(g, "Add", NULL,
	         IN(x, node(g, "Gather", NULL, IN(init_f32(g, te->name, 2, te->shape, te->data), "token_type_ids"), 0)), 0);
	const char *h = layernorm(g, m, x, -1, POFA_ROLE_EMB_LN);
	/* padding keys: the most negative float added, as pofa (and Hugging Face) do */
	int64_t axes[2] = { 1, 2 };
	const char *mf = node(g, "Cast", NULL, IN("attention_mask"), 1, attr_int(g, "to", POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT));
	const char *inv = node(g, "Sub", NULL, IN(scalar_f32(g, 1.0f), mf), 0);
	const char *madd = node(g, "Mul", NULL, IN(inv, scalar_f32(g, -3.40282347e38f)), 0);
	madd = node(g, "Unsqueeze", NULL, IN(madd, const_i64(g, 2, axes)), 0);
	for (int l = 0; l < c->num_hidden_layers && h; l++)
		h = encoder_layer(g, m, h, madd, l, err);
	if (!h)
		return err->status;
	switch (pofa_model_head(m)) {
	case POFA_HEAD_CLS: {
		const char *first = node(g, "Gather", NULL, IN(h, const_i64(g, 0, &zero)), 1, attr_int(g, "axis", 1));
		const char *pooled = linear(g, m, first, -1, POFA_ROLE_POOLER, err);
		if (!pooled)
			return err->status;
		pooled = node(g, "Tanh", NULL, IN(pooled), 0);
		pofa_tensor *cw = tensor(m, POFA_ROLE_CLASSIFIER, POFA_PARAM_WEIGHT);
		pofa_tensor *cb = tensor(m, POFA_ROLE_CLASSIFIER, POFA_PARAM_BIAS);
		const char *y = node(g, "MatMul", NULL, IN(pooled, linear_weight(g, cw, err)), 0);
		node(g, "Add", "logits", IN(y, init_f32(g, cb->name, 1, cb->shape, cb->data)), 0);
		break;
	}
	case POFA_HEAD_SPAN: {
		pofa_tensor *qw = tensor(m, POFA_ROLE_QA, POFA_PARAM_WEIGHT), *qb = tensor(m, POFA_ROLE_QA, POFA_PARAM_BIAS);
		const char *y = node(g, "MatMul", NULL, IN(h, linear_weight(g, qw, err)), 0);
		y = node(g, "Add", NULL, IN(y, init_f32(g, qb->name, 1, qb->shape, qb->data)), 0);
		node(g, "Gather", "start_logits", IN(y, const_i64(g, 0, &zero)), 1, attr_int(g, "axis", 2));
		node(g, "Gather", "end_logits", IN(y, const_i64(g, 0, &one)), 1, attr_int(g, "axis", 2));
		break;
	}
	default: {
		pofa_tensor *tw = tensor(m, POFA_ROLE_MLM_TRANSFORM, POFA_PARAM_WEIGHT);
		pofa_tensor *tb = tensor(m, POFA_ROLE_MLM_TRANSFORM, POFA_PARAM_BIAS);
		const char *t = node(g, "MatMul", NULL, IN(h, linear_weight(g, tw, err)), 0);
		t = gelu(g, node(g, "Add", NULL, IN(t, init_f32(g, tb->name, 1, tb->shape, tb->data)), 0));
		t = layernorm(g, m, t, -1, POFA_ROLE_MLM_LN);
		/* the decoder is the word embeddings, transposed for MatMul */
		const char *dec = node(g, "Transpose", NULL, IN(W), 1, attr_ints(g, "perm", 2, (const int64_t[]){ 1, 0 }));
		pofa_tensor *mb = tensor(m, POFA_ROLE_MLM_BIAS, POFA_PARAM_BIAS);
		const char *y = node(g, "MatMul", NULL, IN(t, dec), 0);
		node(g, "Add", "logits", IN(y, init_f32(g, mb->name, 1, mb->shape, mb->data)), 0);
		break;
	}
	}
	return g->oom ? pofa_error(err, POFA_ERR_RUN, "out of memory for the ONNX graph") : POFA_OK;
}

int pofa_onnx_export(pofa_model *m, const pofa_st_file *int8, const char *path, pofa_err *err)
{
	graph g = { .q8 = int8 };
	int rc = build(&g, m, err);
	PofaOnnx__GraphProto gp = POFA_ONNX__GRAPH_PROTO__INIT;
	PofaOnnx__ModelProto mp = POFA_ONNX__MODEL_PROTO__INIT;
	PofaOnnx__OperatorSetIdProto op = POFA_ONNX__OPERATOR_SET_ID_PROTO__INIT, *ops[1] = { &op };
	PofaOnnx__ValueInfoProto *ins[3] = { 0 }, *outs[2] = { 0 };
	const char *bt[3] = { "batch", "sequence", NULL };
	const pofa_config *c = pofa_model_config(m);
	int64_t fixed[3] = { 0, 0, 0 };
	static const char *const in_names[3] = { "input_ids", "attention_mask", "token_type_ids" };
	for (int k = 0; k < 3 && !rc; k++)
		ins[k] = value(&g, in_names[k], POFA_ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 2, bt, fixed);
	int nout = 1;
	switch (pofa_model_head(m)) {
	case POFA_HEAD_CLS:
		fixed[1] = c->num_labels;
		outs[0] = value(&g, "logits", POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, (const char *const[]){ "batch", NULL },
		                fixed);
		break;
	case POFA_HEAD_SPAN:
		outs[0] = value(&g, "start_logits", POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, bt, fixed);
		outs[1] = value(&g, "end_logits", POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 2, bt, fixed);
		nout = 2;
		break;
	default:
		fixed[2] = c->vocab_size;
		outs[0] = value(&g, "logits", POFA_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 3, bt, fixed);
		break;
	}
	if (!rc && g.oom)
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory for the ONNX graph");
	void *buf = NULL;
	size_t n = 0;
	if (!rc) {
		gp.name = "pofa";
		gp.n_node = g.nn;
		gp.node = g.nodes;
		gp.n_initializer = g.ni;
		gp.initializer = g.inits;
		gp.n_input = 3;
		gp.input = ins;
		gp.n_output = (size_t)nout;
		gp.output = outs;
		op.domain = "";
		op.has_version = 1;
		op.version = OPSET;
		mp.has_ir_version = 1;
		mp.ir_version = 8;
		mp.n_opset_import = 1;
		mp.opset_import = ops;
		mp.producer_name = "pofa";
		mp.producer_version = POFA_VERSION;
		/* the longest sequence the graph takes (its position embeddings):
		 * a longer one fails in the runtime at the positions' Add */
		char maxlen[24];
		snprintf(maxlen, sizeof maxlen, "%d", c->max_position_embeddings);
		PofaOnnx__StringStringEntryProto meta, *metas[1] = { &meta };
		pofa_onnx__string_string_entry_proto__init(&meta);
		meta.key = "max_sequence_length";
		meta.value = maxlen;
		mp.n_metadata_props = 1;
		mp.metadata_props = metas;
		mp.doc_string = gstr(&g, "BERT from pofa: input_ids, token_type_ids and attention_mask of [batch, "
		                     "sequence], sequence at most %d (the position embeddings)", c->max_position_embeddings);
		mp.graph = &gp;
		n = pofa_onnx__model_proto__get_packed_size(&mp);
		buf = malloc(n ? n : 1);
		if (!buf)
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory (%zu bytes)", path, n);
		else
			pofa_onnx__model_proto__pack(&mp, buf);
	}
	if (!rc)
		rc = pofa_write_atomic(path, buf, n, err);
	free(buf);
	for (size_t i = 0; i < g.no; i++)
		free(g.owned[i]);
	free(g.owned);
	free(g.nodes);
	free(g.inits);
	return rc;
}
