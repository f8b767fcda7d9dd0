/*
 * load.c - a forward-only model from a model folder or a loaded model: the
 * float weights copied, every prunable Linear packed by its zeros (or its
 * int8 weights from model.int8.safetensors), the packed int8 file read by
 * packed.c.
 */
#include "engine/infer/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "data/base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* a prunable Linear's int8 tensors from model.int8.safetensors, checked */
typedef struct {
	int8_t *q;
	float *scale;
	int rows;           /* scales: 1 or OC */
	float in_scale;
	int in_zp;
} int8_w;

static int read_int8(const pofa_st_file *f, const char *wname, int64_t OC, int64_t C, int8_w *o, pofa_err *err)
{
	memset(o, 0, sizeof *o);
	char name[160], prefix[128];
	snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(wname) - 7), wname); /* less ".weight" */
	snprintf(name, sizeof name, "%s.weight_int8", prefix);
	const pofa_st_tensor *tq = pofa_st_find(f, name);
	if (!tq || tq->dtype != POFA_I8 || tq->ndim != 2 || tq->shape[0] != OC || tq->shape[1] != C)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing, or not I8 [%lld, %lld]; write the "
		                  "int8 model again with a qat stage", f->path, name, (long long)OC, (long long)C);
	snprintf(name, sizeof name, "%s.weight_scale", prefix);
	const pofa_st_tensor *ts = pofa_st_find(f, name);
	if (!ts || ts->ndim != 1 || (ts->shape[0] != 1 && ts->shape[0] != OC))
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing, or not [1] or [%lld]", f->path, name,
		                  (long long)OC);
	snprintf(name, sizeof name, "%s.input_scale_zero_point", prefix);
	const pofa_st_tensor *ti = pofa_st_find(f, name);
	if (!ti || ti->ndim != 1 || ti->shape[0] != 2)
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing, or not [2]", f->path, name);
	o->rows = (int)ts->shape[0];
	o->q = malloc((size_t)(OC * C));
	o->scale = malloc((size_t)o->rows * sizeof *o->scale);
	float in[2];
	if (!o->q || !o->scale) {
		free(o->q); free(o->scale);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", f->path);
	}
	memcpy(o->q, f->buf + f->data_off + tq->begin, (size_t)(OC * C));
	int rc = pofa_st_read_f32(f, ts, o->scale, err);
	if (!rc)
		rc = pofa_st_read_f32(f, ti, in, err);
	for (int r = 0; r < o->rows && !rc; r++)
		if (!isfinite(o->scale[r]) || o->scale[r] < 0.0f)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.weight_scale[%d] is %g: a weight scale is finite and "
			                ">= 0", f->path, prefix, r, o->scale[r]);
	if (!rc && (!(in[0] >= FLT_MIN) || !isfinite(in[0]) || !isfinite(1.0f / in[0]) ||
	            !(in[1] >= 0.0f && in[1] <= 255.0f) || in[1] != rintf(in[1])))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.input_scale_zero_point is (%g, %g): the scale must be "
		                "finite and at least %g, the zero point a whole number in 0..255", f->path, prefix, in[0],
		                in[1], FLT_MIN);
	for (int64_t i = 0; i < OC * C && !rc; i++)
		if (o->q[i] == -128)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s.weight_int8 holds -128: weights are symmetric, "
			                "-127..127", f->path, prefix);
	if (rc) {
		free(o->q); free(o->scale);
		memset(o, 0, sizeof *o);
		return rc;
	}
	o->in_scale = in[0];
	o->in_zp = (int)in[1];
	return POFA_OK;
}

static void int8_free(int8_w *w)
{
	free(w->q);
	free(w->scale);
}

/* where the weights come from: the model's own tensors, or (view) the
 * values of each tensor seen in place in a mapped file */
typedef struct {
	pofa_model *m;
	const float **view;   /* NULL: the model's */
	pofa_st_file *f;   /* view's file, and a descriptor of it to read the */
	int fd;            /* Linears' weights by (-1: none) */
	int taken;         /* f is the model's now (closed with it) */
} wsrc;

static const float *wval(const wsrc *s, int layer, enum pofa_role role, enum pofa_param_kind kind)
{
	pofa_tensor *t0, *t = pofa_model_tensor(s->m, layer, role, kind);
	pofa_model_tensors(s->m, &t0);
	return s->view ? s->view[t - t0] : t->data;
}

/* n floats of a weight for the forward: its own copy, or the file's values
 * themselves when they are seen in place */
static float *wkeep(pofa_infer *inf, const wsrc *s, const float *src, size_t n)
{
	if (!s->view)
		return pofa_infer_fcopy(inf, src, n);
	inf->weight_bytes += n * sizeof(float);
	return (float *)src;
}

/* a Linear's rows read from the file its view is of */
typedef struct {
	const pofa_st_file *f;
	int fd;
	const float *const *part;   /* the parts in f's mapping: their offsets */
	int C;
} file_rows;

static int read_rows(void *ctx, int part, int64_t row, int n, float *buf)
{
	const file_rows *r = ctx;
	size_t want = (size_t)n * r->C * sizeof *buf, got = 0;
	off_t at = (off_t)((const unsigned char *)(r->part[part] + row * r->C) - r->f->buf);
	while (got < want) {
		ssize_t k = pread(r->fd, (unsigned char *)buf + got, want - got, at + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;   /* the file shrank under us */
			return -1;
		}
		got += (size_t)k;
	}
	return 0;
}

/* one Linear packed: float, or int8 from the file; parts (Q, K, V) are
 * stacked into one product */
static int pack_linear(pofa_infer *inf, pofa_linear *l, const wsrc *s, const pofa_st_file *q8, int layer,
                       const enum pofa_role *roles, int nparts, int gelu, const pofa_infer_opts *o, pofa_err *err)
{
	const pofa_tensor *w0 = pofa_model_tensor(s->m, layer, roles[0], POFA_PARAM_WEIGHT);
	int OC1 = (int)w0->shape[0], C = (int)w0->shape[1], OC = OC1 * nparts;
	float *bias = malloc((size_t)OC * sizeof *bias);
	if (!bias)
		return pofa_error(err, POFA_ERR_RUN, "out of memory packing the model");
	for (int p = 0; p < nparts; p++)
		memcpy(bias + (size_t)p * OC1, wval(s, layer, roles[p], POFA_PARAM_BIAS), (size_t)OC1 * sizeof *bias);
	int rc = POFA_OK;
	if (!q8) {
		/* the parts (Q, K, V) packed where they lie: no stacked copy */
		const float *part[3];
		for (int p = 0; p < nparts; p++)
			part[p] = wval(s, layer, roles[p], POFA_PARAM_WEIGHT);
		pofa_pack_src src = { .part = part, .nparts = nparts };
		file_rows fr = { s->f, s->fd, part, C };
		if (s->view && s->fd >= 0) {   /* read, not faulted in, and checked as read */
			src.read = read_rows;
			src.ctx = &fr;
			src.check = 1;
		}
		enum pofa_wkeep keep = s->view ? POFA_W_BORROW : POFA_W_COPY;
		int pk = pofa_linear_pack_src(l, &src, keep, bias, OC, C, gelu, inf->kern, inf->nthreads, o->force_fmt);
		if (pk == -2)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: cannot read: %s", s->f->path, strerror(errno));
		else if (pk == -3)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: element %lld is %g; the file is damaged (or a "
			                "training run diverged)", s->f->path,
			                pofa_model_tensor(s->m, layer, roles[src.bad_part], POFA_PARAM_WEIGHT)->name,
			                (long long)src.bad_at, src.bad_val);
		else if (pk)
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory packing the model");
	} else {
		int8_t *q = malloc((size_t)OC * C);
		float *sc = malloc((size_t)OC * sizeof *sc);
		float in_scale = 0.0f;
		int in_zp = 0;
		if (!q || !sc)
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory packing the model");
		for (int p = 0; p < nparts && !rc; p++) {
			const pofa_tensor *t = pofa_model_tensor(s->m, layer, roles[p], POFA_PARAM_WEIGHT);
			int8_w iw;
			if ((rc = read_int8(q8, t->name, OC1, C, &iw, err)))
				break;
			if (p > 0 && (iw.in_scale != in_scale || iw.in_zp != in_zp))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s: its input's scale and zero point differ from "
				                "the query's, though they share one input", q8->path, t->name);
			in_scale = iw.in_scale;
			in_zp = iw.in_zp;
			memcpy(q + (size_t)p * OC1 * C, iw.q, (size_t)OC1 * C);
			for (int r = 0; r < OC1; r++)
				sc[(size_t)p * OC1 + r] = iw.scale[iw.rows == 1 ? 0 : r];
			int8_free(&iw);
		}
		if (!rc && pofa_linear_pack_int8(l, q, sc, 1, in_scale, in_zp, bias, OC, C, gelu, inf->kern,
		                                 inf->nthreads))
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory packing the model");
		free(q);
		free(sc);
	}
	free(bias);
	return rc;
}

/* every Linear of the model, packed on the model's threads: a job each */
typedef struct {
	pofa_linear *l;
	int layer, nparts, gelu;
	const enum pofa_role *roles;
	int rc;
	pofa_err err;
} pack_job;

typedef struct {
	pofa_infer *inf;
	const wsrc *s;
	const pofa_st_file *q8;
	const pofa_infer_opts *o;
	pack_job *jobs;
} pack_all;

static void pack_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)tid;
	pack_all *a = arg;
	for (int64_t i = i0; i < i1; i++) {
		pack_job *j = &a->jobs[i];
		j->rc = pack_linear(a->inf, j->l, a->s, a->q8, j->layer, j->roles, j->nparts, j->gelu, a->o, &j->err);
	}
}

#define TENSOR(layer, role, kind) wval(s, layer, role, kind)

/* the forward-only model of m's tensors, or of a file's values seen in
 * place (s->view: the pointers into it are kept, not copied) */
static pofa_infer *from_weights(wsrc *s, const pofa_st_file *q8, const pofa_infer_opts *o, pofa_err *err)
{
	pofa_model *m = s->m;
	const pofa_config *c = pofa_model_config(m);
	pofa_infer *inf = pofa_infer_shell(c, pofa_model_head(m), q8 != NULL, o, err);
	if (!inf)
		return NULL;
	if (s->view) {   /* the model's from now on: freeing it leaves the values in f alone */
		inf->wmap = s->f;
		s->taken = 1;
	}
	int C = inf->C;
	inf->wte = wkeep(inf, s, TENSOR(-1, POFA_ROLE_WORD_EMB, POFA_PARAM_WEIGHT), (size_t)inf->V * C);
	inf->wpe = wkeep(inf, s, TENSOR(-1, POFA_ROLE_POS_EMB, POFA_PARAM_WEIGHT), (size_t)c->max_position_embeddings * C);
	inf->wtt = wkeep(inf, s, TENSOR(-1, POFA_ROLE_TYPE_EMB, POFA_PARAM_WEIGHT), (size_t)c->type_vocab_size * C);
	inf->elnw = wkeep(inf, s, TENSOR(-1, POFA_ROLE_EMB_LN, POFA_PARAM_WEIGHT), (size_t)C);
	inf->elnb = wkeep(inf, s, TENSOR(-1, POFA_ROLE_EMB_LN, POFA_PARAM_BIAS), (size_t)C);
	if (!inf->wte || !inf->wpe || !inf->wtt || !inf->elnw || !inf->elnb ||
	    (q8 && o->emb16 && pofa_infer_emb16(inf))) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		goto fail;
	}
	static const enum pofa_role qkv[3] = { POFA_ROLE_QUERY, POFA_ROLE_KEY, POFA_ROLE_VALUE };
	static const enum pofa_role ao[1] = { POFA_ROLE_ATTN_OUT }, fc[1] = { POFA_ROLE_FFN_IN },
	                            fp[1] = { POFA_ROLE_FFN_OUT }, pl[1] = { POFA_ROLE_POOLER };
	/* the Linears, layer by layer over the threads (each pack alone) */
	int nj = 4 * inf->L + (inf->head == POFA_HEAD_CLS);
	pack_job *jobs = calloc((size_t)nj, sizeof *jobs);
	if (!jobs) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		goto fail;
	}
	for (int l = 0; l < inf->L; l++) {
		inf_layer *y = &inf->lay[l];
		jobs[4 * l] = (pack_job){ &y->qkv, l, 3, 0, qkv, 0, { 0 } };
		jobs[4 * l + 1] = (pack_job){ &y->ao, l, 1, 0, ao, 0, { 0 } };
		jobs[4 * l + 2] = (pack_job){ &y->fc, l, 1, 1, fc, 0, { 0 } };
		jobs[4 * l + 3] = (pack_job){ &y->fp, l, 1, 0, fp, 0, { 0 } };
	}
	if (inf->head == POFA_HEAD_CLS)
		jobs[nj - 1] = (pack_job){ &inf->pooler, -1, 1, 0, pl, 0, { 0 } };
	pack_all all = { inf, s, q8, o, jobs };
	pofa_pool_run(inf->pool, nj, pack_task, &all);
	int bad = 0;
	for (int i = 0; i < nj; i++) {
		inf->weight_bytes += jobs[i].l->bytes;
		if (jobs[i].rc && !bad++)
			*err = jobs[i].err;
	}
	free(jobs);
	if (bad)
		goto fail;
	for (int l = 0; l < inf->L; l++) {
		inf_layer *y = &inf->lay[l];
		y->ln1w = wkeep(inf, s, TENSOR(l, POFA_ROLE_ATTN_LN, POFA_PARAM_WEIGHT), (size_t)C);
		y->ln1b = wkeep(inf, s, TENSOR(l, POFA_ROLE_ATTN_LN, POFA_PARAM_BIAS), (size_t)C);
		y->ln2w = wkeep(inf, s, TENSOR(l, POFA_ROLE_FFN_LN, POFA_PARAM_WEIGHT), (size_t)C);
		y->ln2b = wkeep(inf, s, TENSOR(l, POFA_ROLE_FFN_LN, POFA_PARAM_BIAS), (size_t)C);
		if (!y->ln1w || !y->ln1b || !y->ln2w || !y->ln2b) {
			pofa_error(err, POFA_ERR_RUN, "out of memory");
			goto fail;
		}
	}
	if (inf->head == POFA_HEAD_CLS) {
		inf->has_pooler = 1;
		int Lb = c->num_labels;
		inf->clsw = wkeep(inf, s, TENSOR(-1, POFA_ROLE_CLASSIFIER, POFA_PARAM_WEIGHT), (size_t)Lb * C);
		inf->clsb = wkeep(inf, s, TENSOR(-1, POFA_ROLE_CLASSIFIER, POFA_PARAM_BIAS), (size_t)Lb);
	} else if (inf->head == POFA_HEAD_SPAN) {
		inf->qaw = wkeep(inf, s, TENSOR(-1, POFA_ROLE_QA, POFA_PARAM_WEIGHT), (size_t)2 * C);
		inf->qab = wkeep(inf, s, TENSOR(-1, POFA_ROLE_QA, POFA_PARAM_BIAS), 2);
	} else {
		inf->tw = wkeep(inf, s, TENSOR(-1, POFA_ROLE_MLM_TRANSFORM, POFA_PARAM_WEIGHT), (size_t)C * C);
		inf->tb = wkeep(inf, s, TENSOR(-1, POFA_ROLE_MLM_TRANSFORM, POFA_PARAM_BIAS), (size_t)C);
		inf->tlnw = wkeep(inf, s, TENSOR(-1, POFA_ROLE_MLM_LN, POFA_PARAM_WEIGHT), (size_t)C);
		inf->tlnb = wkeep(inf, s, TENSOR(-1, POFA_ROLE_MLM_LN, POFA_PARAM_BIAS), (size_t)C);
		inf->mlmb = wkeep(inf, s, TENSOR(-1, POFA_ROLE_MLM_BIAS, POFA_PARAM_BIAS), (size_t)inf->V);
	}
	pofa_infer_count_acts(inf);
	return inf;
fail:
	pofa_infer_free(inf);
	return NULL;
}

pofa_infer *pofa_infer_from_model(pofa_model *m, const pofa_st_file *q8, const pofa_infer_opts *o, pofa_err *err)
{
	wsrc s = { m, NULL, NULL, -1, 0 };
	return from_weights(&s, q8, o, err);
}

/* The float model straight from the file's mapping when its values can be
 * used in place: nothing copied but the stacked QKV and what packing
 * makes; the mapping stays open with the model. NULL with *fallback set:
 * load it instead. */
static pofa_infer *open_in_place(pofa_model *m, const char *wpath, const pofa_infer_opts *o, int *fallback,
                                 pofa_err *err)
{
	*fallback = 0;
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	pofa_st_file *f = calloc(1, sizeof *f);
	const float **view = calloc((size_t)n + 1, sizeof *view);
	pofa_infer *inf = NULL;
	int viewable = 0;
	/* the Linears' weights are read by packing, which checks them */
	unsigned char *unchecked = calloc((size_t)n + 1, 1);
	for (int i = 0; unchecked && i < n; i++)
		unchecked[i] = t[i].kind == POFA_PARAM_WEIGHT &&
		               (t[i].role < POFA_ROLE_POOLER ||
		                (t[i].role == POFA_ROLE_POOLER && pofa_model_head(m) == POFA_HEAD_CLS));
	int fd = open(wpath, O_RDONLY | O_CLOEXEC);
	if (!f || !view || !unchecked)
		pofa_error(err, POFA_ERR_RUN, "out of memory");
	else if (!pofa_st_open(f, wpath, err) &&
	         !pofa_model_view_weights_but(m, f, view, &viewable, fd >= 0 ? unchecked : NULL, err)) {
		if (viewable) {
			wsrc s = { m, view, f, fd, 0 };
			inf = from_weights(&s, NULL, o, err);
			if (s.taken)
				f = NULL;   /* closed with the model (or already, with its failure) */
		} else {
			*fallback = 1;
		}
	}
	if (f && f->buf)
		pofa_st_close(f);
	if (fd >= 0)
		close(fd);
	free(f);
	free(view);
	free(unchecked);
	return inf;
}

pofa_infer *pofa_infer_open(const char *dir, const pofa_infer_opts *o, pofa_err *err)
{
	pofa_config cfg;
	enum pofa_head head;
	char path[4200];
	/* the packed file is the whole model: it runs without model.safetensors
	 * (an int8 one unless float is asked for) */
	snprintf(path, sizeof path, "%s/model.packed.safetensors", dir);
	if (access(path, R_OK) == 0) {
		int kind = pofa_infer_packed_weights(path);   /* 0 float32, 1 int8 */
		if (kind == 0 || (kind == 1 && o->int8 != POFA_INT8_OFF && o->force_fmt < 0))
			return pofa_infer_open_packed(dir, path, o, err);
	}
	if (pofa_model_dir_head(dir, &cfg, &head, err))
		return NULL;
	snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
	int has8 = access(path, R_OK) == 0;
	if (o->int8 == POFA_INT8_ON && !has8) {
		pofa_error(err, POFA_ERR_INPUT, "%s: no int8 weights (model.int8.safetensors): only a qat stage's "
		           "model runs in int8", dir);
		return NULL;
	}
	int fresh = 0, use8 = has8 && o->int8 != POFA_INT8_OFF;
	if (!use8) {
		/* float: the weights used where the file's mapping holds them */
		char wpath[4200];
		snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
		if (pofa_model_check_size(&cfg, head, wpath, err))
			return NULL;
		pofa_model *v = pofa_model_new_for(&cfg, head, POFA_MODEL_INFER, 1, 1, 1, err);
		if (!v)
			return NULL;
		int fallback = 0;
		pofa_infer *inf = open_in_place(v, wpath, o, &fallback, err);
		pofa_model_free(v);
		if (inf || !fallback)
			return inf;
	}
	pofa_model *m = pofa_model_load_for(dir, head, POFA_MODEL_INFER, 1, 1, 1, 0, &fresh, err);
	if (!m)
		return NULL;
	pofa_st_file q8;
	if (use8 && pofa_st_open(&q8, path, err)) {
		pofa_model_free(m);
		return NULL;
	}
	pofa_infer *inf = pofa_infer_from_model(m, use8 ? &q8 : NULL, o, err);
	if (use8)
		pofa_st_close(&q8);
	pofa_model_free(m);
	return inf;
}

