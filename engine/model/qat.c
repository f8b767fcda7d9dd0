/*
 * qat.c - quantization-aware training and the int8 export it prepares.
 *
 * Every prunable Linear trains with int8 symmetric weights (per tensor, or
 * per output channel) and uint8 asymmetric inputs whose range is a moving
 * average (constant 0.01), with straight-through gradients. One weight
 * quantizer serves both the fake quantization of training and the export,
 * so the int8 model is exactly the one QAT trained.
 */
#include "engine/model/internal.h"
#include "engine/io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the weight quantizer ---------------------------------------------------- */

/* int8 symmetric: scale = max|w| / 127 over a row (or the tensor) */
static float weight_scale(const float *w, int64_t n)
{
	float mx = 0.0f;
	for (int64_t j = 0; j < n; j++)
		mx = fmaxf(mx, fabsf(w[j]));
	return mx / 127.0f;
}

/* q = clamp(round-half-even(w / scale), -127, 127); 0 for a zero scale */
static int8_t weight_q(float w, float scale)
{
	if (!(scale > 0.0f))
		return 0;
	float v = rintf(w / scale);
	return (int8_t)(v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v));
}

/* the input site of a prunable Linear: query, key and value share one */
static int qat_site(const pofa_model *m, const pofa_tensor *t)
{
	static const int of_role[POFA_ROLE_PRUNABLE_COUNT] = { 0, 0, 0, 1, 2, 3, 0 };
	if (t->role == POFA_ROLE_POOLER)
		return 4 * m->cfg.num_hidden_layers;
	return 4 * t->layer + of_role[t->role];
}

int pofa_model_set_qat(pofa_model *m, int enabled, int per_channel, pofa_err *err)
{
	m->qat = 0;
	if (!enabled)
		return POFA_OK;
	int sites = 4 * m->cfg.num_hidden_layers + 1;
	if (!m->wq) {
		m->wq = pofa_alloc_floats(m->nparams);
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

void pofa_qat_quantize_weights(pofa_model *m)
{
	for (int i = 0; i < m->ntensors; i++) {
		const pofa_tensor *t = &m->tensors[i];
		if (!t->prunable)
			continue;
		float *q = m->wq + (t->data - m->params);
		int64_t rows = m->qat_per_channel ? t->shape[0] : 1, cols = t->numel / rows;
		for (int64_t r = 0; r < rows; r++) {
			const float *w = t->data + r * cols;
			float sc = weight_scale(w, cols);
			for (int64_t j = 0; j < cols; j++)
				q[r * cols + j] = (float)weight_q(w[j], sc) * sc;
		}
	}
}

const float *pofa_model_qat_weights(const pofa_model *m) { return m->wq; }

/* ---- inputs: uint8 asymmetric --------------------------------------------- */

const float *pofa_qat_input(pofa_model *m, int site, const float *x, int64_t n, int observe)
{
	if (!m->qat)
		return x;
	if (observe >= 0) {
		float lo = 0.0f, hi = 0.0f;   /* the range always holds 0 */
		for (int64_t i = 0; i < n; i++) {
			lo = fminf(lo, x[i]);
			hi = fmaxf(hi, x[i]);
		}
		/* data-parallel: the whole batch's range, as one process sees it */
		if (observe > 0 && m->range_sum)
			m->range_sum(&lo, &hi);
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

/* ---- int8 export ----------------------------------------------------------- */

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
		int site = qat_site(m, t);
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
			sc[r] = weight_scale(t->data + r * cols, cols);
			for (int64_t j = 0; j < cols; j++)
				q[r * cols + j] = weight_q(t->data[r * cols + j], sc[r]);
		}
		in[0] = m->qscale[site];
		in[1] = m->qzp[site];
		/* the bias in int32 at scale s_in * s_w */
		const pofa_tensor *bias = pofa_model_tensor(m, t->layer, t->role, POFA_PARAM_BIAS);
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

/* ---- QAT state: the input ranges ------------------------------------------- */

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
