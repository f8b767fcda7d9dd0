/*
 * packed.c - the int8 model in one file, model.packed.safetensors: what the
 * int8 forward-only path holds and nothing else, so that it loads without
 * the float32 weights. Beside config.json (the architecture) in a model
 * directory; metadata format "pofa-packed", version 1, the head. Tensors:
 *
 *   the float ones under their Hugging Face names: embeddings, LayerNorms,
 *   the head (classifier, qa_outputs, or the masked-LM transform and bias)
 *
 *   per packed Linear P (bert.encoder.layer.N.attention.self.qkv: query,
 *   key and value stacked; ...attention.output.dense, ...intermediate.dense,
 *   ...output.dense; bert.pooler.dense):
 *     P.rowptr   I32 [out + 1]  each output row's first block
 *     P.col      U16 [blocks]   a block's first input column (a multiple of 4)
 *     P.q        I8  [blocks, 4] the block's int8 weights
 *     P.weight_scale F32 [out]  w = q * scale
 *     P.bias     F32 [out]
 *     P.input_scale_zero_point F32 [2]  the uint8 input's x = (q - zp) * scale
 *
 * A float32 model (metadata "weights": "float32"; a file without the key
 * is int8) holds its word embeddings in float32 and per Linear P either
 *     P.weight   F32 [out, in]  (a Linear packed dense)
 * or its nonzeros by row, columns increasing (any sparse format):
 *     P.rowptr   I32 [out + 1]  each output row's first entry
 *     P.col      U16 [entries]  the entry's input column
 *     P.val      F32 [entries]
 * and P.bias F32 [out]; loading packs them for the CPU it runs on (CSR as
 * it is, the cost model permitting), with no pass over the zeros.
 *
 * Every value is checked when read (untrusted input): shapes, row pointers
 * in order, columns in range, no -128, finite scales and weights.
 */
#include "engine/infer/internal.h"
#include "data/base/util.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a Linear's name prefix; k: 0..3 within layer l, or the pooler (l < 0) */
static void linear_name(char *out, size_t n, int l, int k)
{
	static const char *const part[4] = { "attention.self.qkv", "attention.output.dense", "intermediate.dense",
		                             "output.dense" };
	if (l < 0)
		snprintf(out, n, "bert.pooler.dense");
	else
		snprintf(out, n, "bert.encoder.layer.%d.%s", l, part[k]);
}

static const pofa_linear *linear_of(const pofa_infer *inf, int l, int k)
{
	if (l < 0)
		return &inf->pooler;
	const inf_layer *y = &inf->lay[l];
	return k == 0 ? &y->qkv : k == 1 ? &y->ao : k == 2 ? &y->fc : &y->fp;
}

/* the float tensors: name, data, rows, cols (0: a vector) */
typedef struct { char name[128]; float *data; int64_t rows, cols; } ftensor;

static int float_tensors(const pofa_infer *inf, ftensor *t)
{
	const pofa_config *c = &inf->cfg;
	int n = 0, C = inf->C;
#define F(nm, d, r, cc) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].data = (d), t[n].rows = (r), \
                         t[n].cols = (cc), n++)
	F("bert.embeddings.word_embeddings.weight", inf->wte, inf->V, C);
	F("bert.embeddings.position_embeddings.weight", inf->wpe, c->max_position_embeddings, C);
	F("bert.embeddings.token_type_embeddings.weight", inf->wtt, c->type_vocab_size, C);
	F("bert.embeddings.LayerNorm.weight", inf->elnw, C, 0);
	F("bert.embeddings.LayerNorm.bias", inf->elnb, C, 0);
	for (int l = 0; l < inf->L; l++) {
		char nm[128];
		const inf_layer *y = &inf->lay[l];
		snprintf(nm, sizeof nm, "bert.encoder.layer.%d.attention.output.LayerNorm.weight", l);
		F(nm, y->ln1w, C, 0);
		snprintf(nm, sizeof nm, "bert.encoder.layer.%d.attention.output.LayerNorm.bias", l);
		F(nm, y->ln1b, C, 0);
		snprintf(nm, sizeof nm, "bert.encoder.layer.%d.output.LayerNorm.weight", l);
		F(nm, y->ln2w, C, 0);
		snprintf(nm, sizeof nm, "bert.encoder.layer.%d.output.LayerNorm.bias", l);
		F(nm, y->ln2b, C, 0);
	}
	if (inf->head == POFA_HEAD_CLS) {
		F("classifier.weight", inf->clsw, c->num_labels, C);
		F("classifier.bias", inf->clsb, c->num_labels, 0);
	} else if (inf->head == POFA_HEAD_SPAN) {
		F("qa_outputs.weight", inf->qaw, 2, C);
		F("qa_outputs.bias", inf->qab, 2, 0);
	} else {
		F("cls.predictions.transform.dense.weight", inf->tw, C, C);
		F("cls.predictions.transform.dense.bias", inf->tb, C, 0);
		F("cls.predictions.transform.LayerNorm.weight", inf->tlnw, C, 0);
		F("cls.predictions.transform.LayerNorm.bias", inf->tlnb, C, 0);
		F("cls.predictions.bias", inf->mlmb, inf->V, 0);
	}
#undef F
	return n;
}

/* packed Linears: the L layers' four, and the pooler of a classifier */
static int nlinears(const pofa_infer *inf) { return 4 * inf->L + (inf->head == POFA_HEAD_CLS); }

static void linear_at(const pofa_infer *inf, int i, int *l, int *k)
{
	*l = i < 4 * inf->L ? i / 4 : -1;
	*k = i < 4 * inf->L ? i % 4 : 0;
}

/* the float32 model: its float tensors, and each Linear dense or by its
 * nonzeros */
static int save_float(const pofa_infer *inf, const char *path, pofa_err *err)
{
	int nl = nlinears(inf), nf = 0, n = 0, rc = POFA_OK;
	ftensor *ft = calloc((size_t)(12 + 4 * inf->L), sizeof *ft);
	pofa_st_out *o = calloc((size_t)(12 + 4 * inf->L) + 4 * (size_t)nl, sizeof *o);
	char (*names)[160] = calloc(4 * (size_t)nl, sizeof *names);
	void **bufs = calloc(3 * (size_t)nl, sizeof *bufs);
	if (!ft || !o || !names || !bufs) {
		rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		goto done;
	}
	nf = float_tensors(inf, ft);
	for (int i = 0; i < nf; i++)
		o[n++] = (pofa_st_out){ ft[i].name, ft[i].data, ft[i].cols ? 2 : 1, { ft[i].rows, ft[i].cols }, POFA_F32 };
	for (int i = 0; i < nl && !rc; i++) {
		int l, k;
		linear_at(inf, i, &l, &k);
		const pofa_linear *lin = linear_of(inf, l, k);
		char prefix[128];
		linear_name(prefix, sizeof prefix, l, k);
		snprintf(names[4 * i], 160, "%s.bias", prefix);
		o[n++] = (pofa_st_out){ names[4 * i], lin->bias, 1, { lin->OC, 0 }, POFA_F32 };
		if (lin->fmt == POFA_LIN_DENSE) {
			snprintf(names[4 * i + 1], 160, "%s.weight", prefix);
			o[n++] = (pofa_st_out){ names[4 * i + 1], lin->dense, 2, { lin->OC, lin->C }, POFA_F32 };
			continue;
		}
		int32_t *rp = malloc(((size_t)lin->OC + 1) * sizeof *rp);
		uint16_t *col = malloc((size_t)(lin->nnz + 1) * sizeof *col);
		float *val = malloc((size_t)(lin->nnz + 1) * sizeof *val);
		bufs[3 * i] = rp;
		bufs[3 * i + 1] = col;
		bufs[3 * i + 2] = val;
		if (!rp || !col || !val) {
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			break;
		}
		int64_t e = pofa_linear_csr(lin, rp, col, val);
		const char *suffix[3] = { "rowptr", "col", "val" };
		const void *data[3] = { rp, col, val };
		enum pofa_dtype dt[3] = { POFA_I32, POFA_U16, POFA_F32 };
		int64_t len[3] = { lin->OC + 1, e, e };
		for (int s = 0; s < 3; s++) {
			snprintf(names[4 * i + 1 + s], 160, "%s.%s", prefix, suffix[s]);
			o[n++] = (pofa_st_out){ names[4 * i + 1 + s], data[s], 1, { len[s], 0 }, dt[s] };
		}
	}
	if (!rc) {
		const char *const meta[][2] = { { "format", "pofa-packed" }, { "version", "2" },
		                                { "head", pofa_head_names[inf->head] }, { "weights", "float32" } };
		rc = pofa_st_write(path, o, n, meta, 4, err);
	}
done:
	for (int i = 0; bufs && i < 3 * nl; i++)
		free(bufs[i]);
	free(bufs);
	free(ft);
	free(o);
	free(names);
	return rc;
}

int pofa_infer_save_packed(const pofa_infer *inf, const char *path, pofa_err *err)
{
	if (!inf->int8)
		return save_float(inf, path, err);
	int nl = nlinears(inf), nf = 0;
	ftensor *ft = calloc((size_t)(12 + 4 * inf->L), sizeof *ft);
	pofa_st_out *o = calloc((size_t)(12 + 4 * inf->L) + 6 * (size_t)nl, sizeof *o);
	char (*names)[160] = calloc(6 * (size_t)nl, sizeof *names);
	int8_t **qs = calloc((size_t)nl, sizeof *qs);
	uint16_t *wte16 = NULL;
	float **zs = calloc((size_t)nl, sizeof *zs);
	int n = 0, rc = POFA_OK;
	if (!ft || !o || !names || !qs || !zs) {
		rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		goto done;
	}
	nf = float_tensors(inf, ft);
	/* the word embeddings (the first tensor) in float16 */
	size_t nv = (size_t)inf->V * inf->C;
	if (!inf->wte16) {
		wte16 = malloc(nv * sizeof *wte16);
		if (!wte16) {
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			goto done;
		}
		for (size_t i = 0; i < nv; i++)
			wte16[i] = pofa_float_to_half(inf->wte[i]);
	}
	o[n++] = (pofa_st_out){ ft[0].name, inf->wte16 ? inf->wte16 : wte16, 2, { ft[0].rows, ft[0].cols }, POFA_F16 };
	for (int i = 1; i < nf; i++)
		o[n++] = (pofa_st_out){ ft[i].name, ft[i].data, ft[i].cols ? 2 : 1, { ft[i].rows, ft[i].cols }, POFA_F32 };
	for (int i = 0; i < nl && !rc; i++) {
		int l, k;
		linear_at(inf, i, &l, &k);
		const pofa_linear *lin = linear_of(inf, l, k);
		int64_t blocks = lin->rowptr[lin->OC];
		char prefix[128];
		linear_name(prefix, sizeof prefix, l, k);
		qs[i] = malloc((size_t)(4 * blocks + 4));
		zs[i] = malloc(2 * sizeof(float));
		if (!qs[i] || !zs[i]) {
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			break;
		}
		for (int o = 0; o < lin->OC; o++)
			for (int64_t e = lin->rowptr[o]; e < lin->rowptr[o + 1]; e++)
				pofa_linear_i8_block(lin, o, e, qs[i] + 4 * e);
		zs[i][0] = lin->in_scale;
		zs[i][1] = (float)lin->in_zp;
		const char *suffix[6] = { "rowptr", "col", "q", "weight_scale", "bias", "input_scale_zero_point" };
		const void *data[6] = { lin->rowptr, lin->col, qs[i], lin->wscale, lin->bias, zs[i] };
		enum pofa_dtype dt[6] = { POFA_I32, POFA_U16, POFA_I8, POFA_F32, POFA_F32, POFA_F32 };
		int64_t shape[6][2] = { { lin->OC + 1, 0 }, { blocks, 0 }, { blocks, 4 }, { lin->OC, 0 }, { lin->OC, 0 }, { 2, 0 } };
		for (int s = 0; s < 6; s++) {
			snprintf(names[6 * i + s], 160, "%s.%s", prefix, suffix[s]);
			o[n++] = (pofa_st_out){ names[6 * i + s], data[s], s == 2 ? 2 : 1, { shape[s][0], shape[s][1] }, dt[s] };
		}
	}
	if (!rc) {
		const char *const meta[][2] = { { "format", "pofa-packed" }, { "version", "2" },
		                                { "head", pofa_head_names[inf->head] }, { "weights", "int8" } };
		rc = pofa_st_write(path, o, n, meta, 4, err);
	}
done:
	for (int i = 0; qs && zs && i < nl; i++) {
		free(qs[i]);
		free(zs[i]);
	}
	free(qs);
	free(zs);
	free(wte16);
	free(ft);
	free(o);
	free(names);
	return rc;
}

/* ---- reading ----------------------------------------------------------------- */

static const pofa_st_tensor *want(const pofa_st_file *f, const char *name, enum pofa_dtype dt, int64_t rows,
                                  int64_t cols, pofa_err *err)
{
	const pofa_st_tensor *t = pofa_st_find(f, name);
	int ndim = cols ? 2 : 1;
	if (!t || t->dtype != dt || t->ndim != ndim || t->shape[0] != rows || (cols && t->shape[1] != cols)) {
		if (cols)
			pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing, or not %s [%lld, %lld]; write the file again "
			           "with pofa export --packed", f->path, name, pofa_dtype_name(dt), (long long)rows,
			           (long long)cols);
		else
			pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing, or not %s [%lld]; write the file again with "
			           "pofa export --packed", f->path, name, pofa_dtype_name(dt), (long long)rows);
		return NULL;
	}
	return t;
}

static const void *bytes_of(const pofa_st_file *f, const pofa_st_tensor *t)
{
	return f->buf + f->data_off + t->begin;
}

static int read_linear(pofa_infer *inf, const pofa_st_file *f, int l, int k, int gelu, pofa_err *err)
{
	pofa_linear *lin = (pofa_linear *)linear_of(inf, l, k);
	int C = inf->C, I = inf->I;
	int OC = l < 0 ? C : k == 0 ? 3 * C : k == 2 ? I : C, IN = k == 3 && l >= 0 ? I : C;
	char prefix[128], nm[160];
	linear_name(prefix, sizeof prefix, l, k);
#define NAME(s) (snprintf(nm, sizeof nm, "%s.%s", prefix, s), nm)
	const pofa_st_tensor *tr = want(f, NAME("rowptr"), POFA_I32, OC + 1, 0, err);
	if (!tr)
		return err->status;
	int32_t *rp = malloc(((size_t)OC + 1) * sizeof *rp);
	if (!rp)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	memcpy(rp, bytes_of(f, tr), ((size_t)OC + 1) * sizeof *rp);
	int rc = POFA_OK;
	int64_t blocks = rp[OC];
	for (int o = 0; o < OC && !rc; o++)
		if (rp[0] != 0 || rp[o + 1] < rp[o] || (int64_t)rp[o + 1] - rp[o] > (IN + 3) / 4)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.rowptr: row %d's blocks [%d, %d) are out of order or "
			                "more than a row holds", f->path, prefix, o, rp[o], rp[o + 1]);
	const pofa_st_tensor *tc = rc ? NULL : want(f, NAME("col"), POFA_U16, blocks, 0, err);
	const pofa_st_tensor *tq = !tc ? NULL : want(f, NAME("q"), POFA_I8, blocks, 4, err);
	const pofa_st_tensor *ts = !tq ? NULL : want(f, NAME("weight_scale"), POFA_F32, OC, 0, err);
	const pofa_st_tensor *tb = !ts ? NULL : want(f, NAME("bias"), POFA_F32, OC, 0, err);
	const pofa_st_tensor *ti = !tb ? NULL : want(f, NAME("input_scale_zero_point"), POFA_F32, 2, 0, err);
	if (!rc && !ti)
		rc = err->status;
	int8_t *dense = rc ? NULL : calloc((size_t)OC * IN, 1);
	float *ws = rc ? NULL : malloc((size_t)OC * sizeof *ws), *bias = rc ? NULL : malloc((size_t)OC * sizeof *bias),
	      in[2];
	if (!rc && (!dense || !ws || !bias))
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	if (!rc) {
		const unsigned char *cb = bytes_of(f, tc);
		const int8_t *q = bytes_of(f, tq);
		memcpy(ws, bytes_of(f, ts), (size_t)OC * sizeof *ws);
		memcpy(bias, bytes_of(f, tb), (size_t)OC * sizeof *bias);
		memcpy(in, bytes_of(f, ti), sizeof in);
		for (int o = 0; o < OC && !rc; o++) {
			int last = -4;
			for (int32_t e = rp[o]; e < rp[o + 1] && !rc; e++) {
				int c = cb[2 * (size_t)e] | cb[2 * (size_t)e + 1] << 8;
				if (c % 4 || c >= IN || c <= last)
					rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.col[%d] is %d: a block starts at a multiple "
					                "of 4 below %d, after the row's previous block", f->path, prefix, e, c, IN);
				for (int j = 0; j < 4 && !rc; j++) {
					int8_t v = q[4 * (size_t)e + j];
					if (v == -128)
						rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.q holds -128: weights are symmetric, "
						                "-127..127", f->path, prefix);
					else if (c + j < IN)
						dense[(size_t)o * IN + c + j] = v;
					else if (v)
						rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.q: a weight past the %d inputs", f->path,
						                prefix, IN);
				}
				last = c;
			}
			if (!rc && (!isfinite(ws[o]) || ws[o] < 0.0f || !isfinite(bias[o])))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s: row %d's weight scale %g or bias %g is not finite "
				                "(or the scale is negative)", f->path, prefix, o, ws[o], bias[o]);
		}
		if (!rc && (!(in[0] >= FLT_MIN) || !isfinite(in[0]) || !isfinite(1.0f / in[0]) ||
		            !(in[1] >= 0.0f && in[1] <= 255.0f) || in[1] != rintf(in[1])))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.input_scale_zero_point is (%g, %g): the scale must be "
			                "finite and at least %g, the zero point a whole number in 0..255", f->path, prefix, in[0],
			                in[1], FLT_MIN);
	}
	if (!rc && pofa_linear_pack_int8(lin, dense, ws, 1, in[0], (int)in[1], bias, OC, IN, gelu, inf->kern,
	                                 inf->nthreads))
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory packing %s", prefix);
#undef NAME
	free(rp);
	free(dense);
	free(ws);
	free(bias);
	return rc;
}

/* a float Linear: P.weight, or P.rowptr, P.col and P.val, and P.bias */
static int read_linear_f32(pofa_infer *inf, const pofa_st_file *f, int l, int k, int gelu, int force,
                           pofa_err *err)
{
	pofa_linear *lin = (pofa_linear *)linear_of(inf, l, k);
	int C = inf->C, I = inf->I;
	int OC = l < 0 ? C : k == 0 ? 3 * C : k == 2 ? I : C, IN = k == 3 && l >= 0 ? I : C;
	char prefix[128], nm[160];
	linear_name(prefix, sizeof prefix, l, k);
#define NAME(s) (snprintf(nm, sizeof nm, "%s.%s", prefix, s), nm)
	const pofa_st_tensor *tb = want(f, NAME("bias"), POFA_F32, OC, 0, err);
	if (!tb)
		return err->status;
	const float *bias = bytes_of(f, tb);
	for (int o = 0; o < OC; o++)
		if (!isfinite(bias[o]))
			return pofa_error(err, POFA_ERR_INPUT, "%s: %s.bias holds %g at %d: weights must be finite", f->path,
			                  prefix, bias[o], o);
	int rc = POFA_OK;
	if (pofa_st_find(f, NAME("weight"))) {
		const pofa_st_tensor *tw = want(f, nm, POFA_F32, OC, IN, err);
		if (!tw)
			return err->status;
		const float *w = bytes_of(f, tw);
		for (size_t i = 0; i < (size_t)OC * IN; i++)
			if (!isfinite(w[i]))
				return pofa_error(err, POFA_ERR_INPUT, "%s: %s.weight holds %g at %zu: weights must be finite",
				                  f->path, prefix, w[i], i);
		if (pofa_linear_pack_w(lin, w, POFA_W_COPY, bias, OC, IN, gelu, inf->kern, inf->nthreads, force))
			return pofa_error(err, POFA_ERR_RUN, "out of memory packing %s", prefix);
		return POFA_OK;
	}
	const pofa_st_tensor *tr = want(f, NAME("rowptr"), POFA_I32, OC + 1, 0, err);
	if (!tr)
		return err->status;
	int32_t *rp = malloc(((size_t)OC + 1) * sizeof *rp);
	if (!rp)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	memcpy(rp, bytes_of(f, tr), ((size_t)OC + 1) * sizeof *rp);
	for (int o = 0; o < OC && !rc; o++)
		if (rp[0] != 0 || rp[o + 1] < rp[o] || (int64_t)rp[o + 1] - rp[o] > IN)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.rowptr: row %d's entries [%d, %d) are out of order or "
			                "more than a row holds", f->path, prefix, o, rp[o], rp[o + 1]);
	int64_t n = rc ? 0 : rp[OC];
	const pofa_st_tensor *tc = rc ? NULL : want(f, NAME("col"), POFA_U16, n, 0, err);
	const pofa_st_tensor *tv = !tc ? NULL : want(f, NAME("val"), POFA_F32, n, 0, err);
	if (!rc && !tv)
		rc = err->status;
	/* col and val are read where the file holds them (the mapping is kept
	 * with the model): no copy, and no page of them touched but by the
	 * checks below and the products. A file not aligned for them: copies. */
	const uint16_t *fcol = rc ? NULL : bytes_of(f, tc);
	const float *fval = rc ? NULL : bytes_of(f, tv);
	int borrow = !rc && (uintptr_t)fcol % _Alignof(uint16_t) == 0 &&
	             (uintptr_t)fval % _Alignof(float) == 0;
	uint16_t *col = NULL;
	float *val = NULL;
	if (!rc && !borrow) {
		col = malloc((size_t)(n + 1) * sizeof *col);
		val = malloc((size_t)(n + 1) * sizeof *val);
		if (!col || !val)
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
		else {
			memcpy(col, fcol, (size_t)n * sizeof *col);   /* little-endian, as the file */
			memcpy(val, fval, (size_t)n * sizeof *val);
			fcol = col, fval = val;
		}
	}
	/* a quick look first (loops the compiler vectorises): each row's
	 * columns increase and its last is below IN, every value finite; the
	 * entry at fault is looked for only when something is */
	int suspect = !rc && pofa_any_nonfinite(fval, (size_t)n);
	for (int o = 0; o < OC && !rc && !suspect; o++) {
		int32_t e0 = rp[o], e1 = rp[o + 1];
		int down = e1 > e0 && fcol[e1 - 1] >= IN;
		for (int32_t e = e0 + 1; e < e1; e++)
			down |= fcol[e] <= fcol[e - 1];
		suspect = down;
	}
	for (int o = 0; o < OC && !rc && suspect; o++)
		for (int32_t e = rp[o]; e < rp[o + 1] && !rc; e++) {
			if (fcol[e] >= IN || (e > rp[o] && fcol[e] <= fcol[e - 1]))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.col[%d] is %d: a row's columns increase and "
				                "stay below %d", f->path, prefix, e, fcol[e], IN);
			else if (!isfinite(fval[e]))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.val holds %g at %d: weights must be finite",
				                f->path, prefix, fval[e], e);
		}
	if (rc) {
		free(rp);
		free(col);
		free(val);
		return rc;
	}
#undef NAME
	if (borrow ? pofa_linear_pack_csr_borrow(lin, rp, fcol, fval, bias, OC, IN, gelu, inf->kern, inf->nthreads, force)
	           : pofa_linear_pack_csr(lin, rp, col, val, bias, OC, IN, gelu, inf->kern, inf->nthreads, force))
		return pofa_error(err, POFA_ERR_RUN, "out of memory packing %s", prefix);
	return POFA_OK;
}

/* the Linears read and packed on the model's threads, a job each */
typedef struct {
	pofa_infer *inf;
	const pofa_st_file *f;
	int f32, force;
	int *rc;
	pofa_err *errs;
} read_all;

static void read_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)tid;
	read_all *a = arg;
	for (int64_t i = i0; i < i1; i++) {
		int l, k;
		linear_at(a->inf, (int)i, &l, &k);
		a->rc[i] = a->f32 ? read_linear_f32(a->inf, a->f, l, k, l >= 0 && k == 2, a->force, &a->errs[i])
		                  : read_linear(a->inf, a->f, l, k, l >= 0 && k == 2, &a->errs[i]);
	}
}

int pofa_infer_packed_weights(const char *path)
{
	pofa_st_file f;
	pofa_err err;
	if (pofa_st_open(&f, path, &err))
		return -1;
	const char *w = pofa_st_meta(&f, "weights");
	int r = w && !strcmp(w, "float32") ? 0 : 1;
	pofa_st_close(&f);
	return r;
}

pofa_infer *pofa_infer_open_packed(const char *dir, const char *path, const pofa_infer_opts *o, pofa_err *err)
{
	char cpath[4200];
	pofa_config cfg;
	snprintf(cpath, sizeof cpath, "%s/config.json", dir);
	if (pofa_config_load(&cfg, cpath, err))
		return NULL;
	pofa_st_file f;
	if (pofa_st_open(&f, path, err))
		return NULL;
	const char *fmt = pofa_st_meta(&f, "format"), *hn = pofa_st_meta(&f, "head");
	int head = -1;
	for (int h = 0; hn && h < POFA_HEAD_COUNT; h++)
		if (!strcmp(hn, pofa_head_names[h]))
			head = h;
	if (!fmt || strcmp(fmt, "pofa-packed") || head < 0) {
		pofa_error(err, POFA_ERR_INPUT, "%s: not a packed pofa model (metadata format \"pofa-packed\" and a head "
		           "expected); write it with pofa export --packed", path);
		pofa_st_close(&f);
		return NULL;
	}
	if (head == POFA_HEAD_CLS && cfg.num_labels < 1) {
		pofa_error(err, POFA_ERR_INPUT, "%s: a classifier without labels", cpath);
		pofa_st_close(&f);
		return NULL;
	}
	const char *wt = pofa_st_meta(&f, "weights");
	int f32 = wt && !strcmp(wt, "float32");
	if (wt && !f32 && strcmp(wt, "int8")) {
		pofa_error(err, POFA_ERR_INPUT, "%s: weights \"%s\": want float32 or int8; write it with pofa export "
		           "--packed", path, wt);
		pofa_st_close(&f);
		return NULL;
	}
	pofa_infer *inf = pofa_infer_shell(&cfg, (enum pofa_head)head, !f32, o, err);
	/* the file stays open with the model: the Linears' col and val, and a
	 * float32 classifier's or span model's word embeddings, are read where
	 * it holds them (no copy; no page touched before it is used) */
	pofa_st_file *keep = inf ? malloc(sizeof *keep) : NULL;
	if (!keep) {
		if (inf)
			pofa_error(err, POFA_ERR_RUN, "out of memory");
		pofa_infer_free(inf);
		pofa_st_close(&f);
		return NULL;
	}
	*keep = f;
	inf->wmap = keep;
	/* the float tensors: allocated, then read in full */
	int C = inf->C, rc = POFA_OK;
	/* the word embeddings: float32 ones seen in place where the head reads
	 * them row by row (not the masked-LM head's product) */
	int wte_in_file = f32 && inf->head != POFA_HEAD_MLM;
	inf->wte = wte_in_file ? NULL : pofa_infer_falloc_raw((size_t)inf->V * C); /* int8: float16 after */
	inf->wpe = pofa_infer_falloc_raw((size_t)cfg.max_position_embeddings * C);
	inf->wtt = pofa_infer_falloc_raw((size_t)cfg.type_vocab_size * C);
	inf->elnw = pofa_infer_falloc_raw((size_t)C);
	inf->elnb = pofa_infer_falloc_raw((size_t)C);
	for (int l = 0; l < inf->L; l++) {
		inf_layer *y = &inf->lay[l];
		y->ln1w = pofa_infer_falloc_raw((size_t)C);
		y->ln1b = pofa_infer_falloc_raw((size_t)C);
		y->ln2w = pofa_infer_falloc_raw((size_t)C);
		y->ln2b = pofa_infer_falloc_raw((size_t)C);
	}
	if (head == POFA_HEAD_CLS) {
		inf->clsw = pofa_infer_falloc_raw((size_t)cfg.num_labels * C);
		inf->clsb = pofa_infer_falloc_raw((size_t)cfg.num_labels);
		inf->has_pooler = 1;
	} else if (head == POFA_HEAD_SPAN) {
		inf->qaw = pofa_infer_falloc_raw((size_t)2 * C);
		inf->qab = pofa_infer_falloc_raw(2);
	} else {
		inf->tw = pofa_infer_falloc_raw((size_t)C * C);
		inf->tb = pofa_infer_falloc_raw((size_t)C);
		inf->tlnw = pofa_infer_falloc_raw((size_t)C);
		inf->tlnb = pofa_infer_falloc_raw((size_t)C);
		inf->mlmb = pofa_infer_falloc_raw((size_t)inf->V);
	}
	ftensor *ft = calloc((size_t)(12 + 4 * inf->L), sizeof *ft);
	int nf = ft ? float_tensors(inf, ft) : 0;
	if (!ft)
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	for (int i = 0; i < nf && !rc; i++) {
		/* an int8 model's word embeddings (the first) are float16 */
		int half = !i && !f32;
		const pofa_st_tensor *t = want(&f, ft[i].name, half ? POFA_F16 : POFA_F32, ft[i].rows, ft[i].cols, err);
		int64_t n = ft[i].rows * (ft[i].cols ? ft[i].cols : 1);
		if (t && !i && wte_in_file) {   /* in place where aligned for floats, else copied below */
			const float *p = bytes_of(&f, t);
			ft[0].data = inf->wte = (uintptr_t)p % _Alignof(float) == 0 ? (float *)p : pofa_infer_falloc_raw((size_t)n);
		}
		if (!t)
			rc = err->status;
		else if (!ft[i].data)
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
		else if (ft[i].data == (const float *)bytes_of(&f, t))
			; /* seen where the file holds it */
		else if (!half)
			memcpy(ft[i].data, bytes_of(&f, t), (size_t)n * sizeof(float));
		else
			for (int64_t j = 0; j < n; j++) {
				const unsigned char *b = (const unsigned char *)bytes_of(&f, t) + 2 * j;
				ft[i].data[j] = pofa_half_to_float((uint16_t)(b[0] | b[1] << 8));
			}
		for (int64_t j = 0; j < n && !rc; j++)
			if (!isfinite(ft[i].data[j]))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s holds %g at %lld: weights must be finite",
				                path, ft[i].name, ft[i].data[j], (long long)j);
		inf->weight_bytes += (size_t)n * sizeof(float);
	}
	free(ft);
	if (!rc && !f32 && inf->head != POFA_HEAD_MLM && pofa_infer_emb16(inf))
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	int nl = nlinears(inf), *rcs = rc ? NULL : calloc((size_t)nl, sizeof *rcs);
	pofa_err *errs = rc ? NULL : calloc((size_t)nl, sizeof *errs);
	if (!rc && (!rcs || !errs))
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	if (!rc) {
		read_all all = { inf, &f, f32, o->force_fmt, rcs, errs };
		pofa_pool_run(inf->pool, nl, read_task, &all);
		for (int i = 0; i < nl; i++) {
			inf->weight_bytes += linear_of(inf, i < 4 * inf->L ? i / 4 : -1, i < 4 * inf->L ? i % 4 : 0)->bytes;
			if (rcs[i] && !rc) {   /* the first Linear's error in file order */
				rc = rcs[i];
				*err = errs[i];
			}
		}
	}
	free(rcs);
	free(errs);
	if (!rc)
		pofa_infer_count_acts(inf);
	if (rc) {
		pofa_infer_free(inf);   /* the file with it */
		return NULL;
	}
	return inf;
}
