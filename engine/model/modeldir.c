/*
 * modeldir.c - the Hugging Face model directory: model.safetensors (BERT
 * tensor names) beside config.json (config.c) and vocab.txt; the labels a
 * classifier's folder names; and the optimizer state file that lets a run
 * resume exactly.
 */
#include "engine/model/internal.h"
#include "engine/io/safetensors.h"
#include "data/text/tokenizer.h"
#include "data/base/fileio.h"
#include "data/base/json.h"

#include <math.h>
#include <string.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- weights ----------------------------------------------------------- */

static int st_outs(pofa_model *m, const char *prefix, const float *base, pofa_st_out **out,
                   char (**names)[128])
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	*out = calloc((size_t)n, sizeof **out);
	*names = calloc((size_t)n, sizeof **names);
	if (!*out || !*names)
		return -1;
	float *params = pofa_model_params(m);
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (t[i].absent)
			continue;
		snprintf((*names)[k], 128, "%s%s", prefix, t[i].name);
		(*out)[k].name = (*names)[k];
		(*out)[k].data = base + (t[i].data - params);
		(*out)[k].ndim = t[i].ndim;
		(*out)[k].shape[0] = t[i].shape[0];
		(*out)[k].shape[1] = t[i].shape[1];
		k++;
	}
	return k;
}

int pofa_model_save_weights(pofa_model *m, const char *path, pofa_err *err)
{
	pofa_st_out *outs;
	char(*names)[128];
	int n = st_outs(m, "", pofa_model_params(m), &outs, &names);
	int rc = n < 0 ? pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path) : POFA_OK;
	static const char *const meta[][2] = { { "format", "pt" } };
	if (!rc)
		rc = pofa_st_write(path, outs, n, meta, 1, err);
	free(outs);
	free(names);
	return rc;
}

static int is_layernorm(const pofa_tensor *t)
{
	return t->role == POFA_ROLE_EMB_LN || t->role == POFA_ROLE_ATTN_LN || t->role == POFA_ROLE_FFN_LN ||
	       t->role == POFA_ROLE_MLM_LN;
}

/* the file's name for a tensor: ours, without "bert." (BertModel files),
 * or with the legacy LayerNorm gamma/beta */
static const pofa_st_tensor *find_alias(const pofa_st_file *f, const pofa_tensor *tt)
{
	const char *name = tt->name;
	const pofa_st_tensor *t = pofa_st_find(f, name);
	char alt[160];
	if (!t && strncmp(name, "bert.", 5) == 0)
		t = pofa_st_find(f, name + 5);
	if (!t && is_layernorm(tt)) {
		const char *dot = strrchr(name, '.');
		const char *legacy = tt->kind == POFA_PARAM_WEIGHT ? ".gamma" : ".beta";
		snprintf(alt, sizeof alt, "%.*s%s", (int)(dot - name), name, legacy);
		t = pofa_st_find(f, alt);
		if (!t && strncmp(alt, "bert.", 5) == 0)
			t = pofa_st_find(f, alt + 5);
	}
	if (!t && strcmp(name, "cls.predictions.bias") == 0)
		t = pofa_st_find(f, "cls.predictions.decoder.bias");
	return t;
}

/* the tensors a head brings: a file made for another head lacks them */
static int is_head_tensor(const pofa_tensor *t)
{
	return t->role == POFA_ROLE_POOLER || t->role == POFA_ROLE_MLM_TRANSFORM || t->role == POFA_ROLE_MLM_LN ||
	       t->role == POFA_ROLE_MLM_BIAS || t->role == POFA_ROLE_CLASSIFIER || t->role == POFA_ROLE_QA;
}

static void shape_str(char *s, size_t n, int ndim, const int64_t *shape)
{
	size_t at = (size_t)snprintf(s, n, "[");
	for (int d = 0; d < ndim && at < n; d++)
		at += (size_t)snprintf(s + at, n - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
	if (at < n)
		snprintf(s + at, n - at, "]");
}

/* pofa's masked-LM decoder is the word embeddings, as BERT ties them: a
 * file whose decoder is its own matrix is refused, not silently replaced */
static int check_tied_decoder(pofa_model *m, const pofa_st_file *f, const float *w, pofa_err *err)
{
	if (!pofa_model_config(m)->tie_word_embeddings)
		return pofa_error(err, POFA_ERR_INPUT, "%s: config.json says tie_word_embeddings: false; pofa's masked-LM "
		                  "decoder is tied to the word embeddings, so this model cannot be used as it is", f->path);
	const pofa_st_tensor *st = pofa_st_find(f, "cls.predictions.decoder.weight");
	if (!st)
		return POFA_OK;
	pofa_tensor *we = pofa_model_tensor(m, -1, POFA_ROLE_WORD_EMB, POFA_PARAM_WEIGHT);
	if (st->ndim != 2 || st->shape[0] != we->shape[0] || st->shape[1] != we->shape[1])
		return pofa_error(err, POFA_ERR_INPUT, "%s: tensor cls.predictions.decoder.weight: not the word embeddings' "
		                  "shape", f->path);
	float *dec = malloc((size_t)we->numel * sizeof *dec);
	if (!dec)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", f->path);
	int rc = pofa_st_read_f32(f, st, dec, err);
	for (int64_t j = 0; j < we->numel && !rc; j++)
		if (dec[j] != w[j])
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor cls.predictions.decoder.weight differs from the word "
			                "embeddings (element %lld): an untied decoder, which pofa does not support; tie it "
			                "or use another tool", f->path, (long long)j);
	free(dec);
	return rc;
}

/* tensor t as the file names it when encoder layer l comes from the file's
 * layer src[l]: ".layer.L." of its name made ".layer.SRC." */
static pofa_tensor from_layer(const pofa_tensor *t, const int *src)
{
	pofa_tensor u = *t;
	char tag[32];
	snprintf(tag, sizeof tag, ".layer.%d.", t->layer);
	const char *at = src && t->layer >= 0 ? strstr(t->name, tag) : NULL;
	if (at)
		snprintf(u.name, sizeof u.name, "%.*s.layer.%d.%s", (int)(at - t->name), t->name, src[t->layer],
		         at + strlen(tag));
	return u;
}

/* tensor st's float32 values where they lie in f's mapping, or NULL when
 * they cannot be used in place (another dtype, not 4-byte aligned, a
 * big-endian machine) */
static const float *in_place(const pofa_st_file *f, const pofa_st_tensor *st)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const unsigned char *p = f->buf + f->data_off + st->begin;
	if (st->dtype == POFA_F32 && (uintptr_t)p % sizeof(float) == 0)
		return (const float *)(const void *)p;
#else
	(void)f;
	(void)st;
#endif
	return NULL;
}

/* Copies the file's tensors into base (the model's layout), or with view
 * sets view[i] to tensor i's values in the file itself; *viewable is then
 * 0 when some tensor cannot be seen in place (or the head is missing): the
 * caller loads instead. Both check the same: names, shapes, finite values,
 * a tied decoder. */
static int load_tensors(pofa_model *m, const pofa_st_file *f, const char *prefix, float *base, const int *src,
                        int *missing_head, unsigned char *loaded, const float **view, int *viewable,
                        const unsigned char *unchecked, pofa_err *err)
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	float *params = pofa_model_params(m);
	if (missing_head)
		*missing_head = 0;
	if (viewable)
		*viewable = 1;
	for (int i = 0; i < n; i++) {
		char name[160];
		pofa_tensor ft = from_layer(&t[i], src);
		snprintf(name, sizeof name, "%s%s", prefix, ft.name);
		if (t[i].absent)
			continue;
		const pofa_st_tensor *st = *prefix ? pofa_st_find(f, name) : find_alias(f, &ft);
		if (!st && !*prefix && t[i].role == POFA_ROLE_POOLER && pofa_model_head(m) == POFA_HEAD_MLM) {
			/* a masked-LM file without a pooler (BertForMaskedLM has none):
			 * none is made up, saved, pruned or counted */
			for (int k = 0; k < n; k++)
				if (t[k].role == POFA_ROLE_POOLER) {
					t[k].absent = 1;
					t[k].prunable = 0;
				}
			continue;
		}
		if (!st) {
			if (!*prefix && is_head_tensor(&t[i])) {
				if (missing_head)
					*missing_head = 1;
				if (view) {
					*viewable = 0;   /* a new head: drawn, so loaded */
					return POFA_OK;
				}
				continue;
			}
			return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing", f->path, name);
		}
		int same = st->ndim == t[i].ndim;
		for (int d = 0; same && d < st->ndim; d++)
			same = st->shape[d] == t[i].shape[d];
		if (!same) {
			char a[64], b[64];
			shape_str(a, sizeof a, st->ndim, st->shape);
			shape_str(b, sizeof b, t[i].ndim, t[i].shape);
			return pofa_error(err, POFA_ERR_INPUT,
			                  "%s: tensor %s: shape %s in the file, but config.json says %s",
			                  f->path, name, a, b);
		}
		const float *dst;
		if (view) {
			if (!(view[i] = dst = in_place(f, st))) {
				*viewable = 0;
				return POFA_OK;
			}
		} else {
			float *to = base + (t[i].data - params);
			int rc = pofa_st_read_f32(f, st, to, err);
			if (rc)
				return rc;
			dst = to;
		}
		/* NaN or infinity would flow through every product unseen */
		int fine = (unchecked && unchecked[i]) || !pofa_any_nonfinite(dst, (size_t)t[i].numel);
		for (int64_t j = fine ? t[i].numel : 0; j < t[i].numel; j++)
			if (!isfinite(dst[j]))
				return pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: element %lld is %g; the file is damaged "
				                  "(or a training run diverged)", f->path, name, (long long)j, dst[j]);
		if (loaded)
			loaded[i] = 1;
	}
	if (!*prefix && pofa_model_head(m) == POFA_HEAD_MLM) {
		pofa_tensor *we = pofa_model_tensor(m, -1, POFA_ROLE_WORD_EMB, POFA_PARAM_WEIGHT);
		return check_tied_decoder(m, f, view ? view[we - t] : base + (we->data - params), err);
	}
	return POFA_OK;
}

int pofa_model_view_weights(pofa_model *m, const pofa_st_file *f, const float **view, int *viewable,
                            pofa_err *err)
{
	return pofa_model_view_weights_but(m, f, view, viewable, NULL, err);
}

int pofa_model_view_weights_but(pofa_model *m, const pofa_st_file *f, const float **view, int *viewable,
                                const unsigned char *unchecked, pofa_err *err)
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++)
		view[i] = NULL;
	return load_tensors(m, f, "", NULL, NULL, NULL, NULL, view, viewable, unchecked, err);
}

int pofa_model_load_weights_layers(pofa_model *m, const char *path, const int *src, int *missing_head,
                                   pofa_err *err)
{
	pofa_st_file f;
	int rc = pofa_st_open(&f, path, err);
	if (rc)
		return rc;
	rc = load_tensors(m, &f, "", pofa_model_params(m), src, missing_head, NULL, NULL, NULL, NULL, err);
	pofa_st_close(&f);
	return rc;
}

int pofa_model_load_init(pofa_model *m, const char *path, const int *src, uint64_t seed, int *missing_head,
                         pofa_err *err)
{
	pofa_tensor *t;
	unsigned char *loaded = calloc((size_t)pofa_model_tensors(m, &t) + 1, 1);
	if (!loaded)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	pofa_st_file f;
	int rc = pofa_st_open(&f, path, err);
	if (!rc) {
		rc = load_tensors(m, &f, "", pofa_model_params(m), src, missing_head, loaded, NULL, NULL, NULL, err);
		pofa_st_close(&f);
	}
	if (!rc)
		pofa_model_init_except(m, seed, loaded);
	free(loaded);
	return rc;
}

int pofa_model_load_weights(pofa_model *m, const char *path, int *missing_head, pofa_err *err)
{
	return pofa_model_load_weights_layers(m, path, NULL, missing_head, err);
}

static int copy_file_atomic(const char *src, const char *dst, pofa_err *err)
{
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(src, &buf, &n, 256u << 20, err);
	if (rc)
		return rc;
	rc = pofa_write_atomic(dst, buf, n, err);
	free(buf);
	return rc;
}

/* tokenizer_config.json and special_tokens_map.json, so that Hugging Face
 * tokenizes as pofa did: the casing pofa used for this vocabulary, the
 * longest input the model takes, and the length it was trained at */
static int save_tokenizer_files(pofa_model *m, const char *dir, const char *vocab, pofa_err *err)
{
	pofa_tokenizer *tk = pofa_tokenizer_load(vocab, POFA_CASE_AUTO, err);
	if (!tk)
		return err->status;
	int lower = pofa_tokenizer_lowercase(tk);
	pofa_tokenizer_free(tk);
	static const char *const specials[][2] = {
		{ "cls_token", "[CLS]" }, { "mask_token", "[MASK]" }, { "pad_token", "[PAD]" },
		{ "sep_token", "[SEP]" }, { "unk_token", "[UNK]" },
	};
	cJSON *tc = cJSON_CreateObject(), *sm = cJSON_CreateObject();
	cJSON_AddBoolToObject(tc, "do_lower_case", lower);
	/* the longest input the model takes (its positions): Hugging Face cuts
	 * at model_max_length, so the training length would cut inputs the
	 * model accepts; that one is kept apart */
	cJSON_AddNumberToObject(tc, "model_max_length", pofa_model_config(m)->max_position_embeddings);
	cJSON_AddNumberToObject(tc, "pofa_trained_length", m->maxT);
	cJSON_AddStringToObject(tc, "tokenizer_class", "BertTokenizer");
	cJSON_AddBoolToObject(tc, "tokenize_chinese_chars", 1);
	for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
		cJSON_AddStringToObject(tc, specials[i][0], specials[i][1]);
		cJSON_AddStringToObject(sm, specials[i][0], specials[i][1]);
	}
	char *a = cJSON_Print(tc), *b = cJSON_Print(sm);
	char path[4200];
	int rc = !a || !b ? pofa_error(err, POFA_ERR_RUN, "out of memory") : POFA_OK;
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	if (!rc)
		rc = pofa_write_atomic(path, a, strlen(a), err);
	snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
	if (!rc)
		rc = pofa_write_atomic(path, b, strlen(b), err);
	free(a);
	free(b);
	cJSON_Delete(tc);
	cJSON_Delete(sm);
	return rc;
}

int pofa_model_save(pofa_model *m, const char *dir, const char *vocab_src, pofa_err *err)
{
	char path[4200];
	int rc = pofa_mkdirs(dir, err);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/config.json", dir);
	pofa_config own = *pofa_model_config(m);
	own.hidden_dropout_prob = m->saved_drop[0];
	own.attention_probs_dropout_prob = m->saved_drop[1];
	own.classifier_dropout = m->saved_drop[2];
	if ((rc = pofa_config_save(&own, pofa_model_head(m), path, err)))
		return rc;
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if ((rc = pofa_model_save_weights(m, path, err)))
		return rc;
	if (vocab_src) {
		snprintf(path, sizeof path, "%s/vocab.txt", dir);
		if (strcmp(vocab_src, path) != 0 && (rc = copy_file_atomic(vocab_src, path, err)))
			return rc;
		if ((rc = save_tokenizer_files(m, dir, path, err)))
			return rc;
	}
	return POFA_OK;
}

/* A config describing a model far larger than its weights file is refused
 * before the model is allocated: every tensor but a head's must be in the
 * file, at two bytes an element at least (F16, BF16). */
int pofa_model_check_size(const pofa_config *cfg, enum pofa_head head, const char *path, pofa_err *err)
{
	pofa_st_file f;
	int rc = pofa_st_open(&f, path, err);
	if (rc)
		return rc;
	size_t data = f.size - f.data_off;
	pofa_st_close(&f);
	pofa_config c = *cfg;
	c.num_labels = 1;
	size_t need = pofa_config_num_params(&c, POFA_HEAD_SPAN) - 2 * (size_t)c.hidden_size - 2 -
	              (size_t)c.hidden_size * c.hidden_size - (size_t)c.hidden_size;  /* but the span head, pooler */
	(void)head;
	if ((double)need * 2.0 > (double)data)
		return pofa_error(err, POFA_ERR_INPUT, "%s: config.json describes %zu parameters (%.0f MiB as F32), but "
		                  "the file holds %zu bytes of weights: they do not belong together", path, need,
		                  need * 4.0 / 1048576.0, data);
	return POFA_OK;
}

pofa_model *pofa_model_load_for(const char *dir, enum pofa_head head, enum pofa_model_use use, int maxB,
                                int maxT, int nthreads, uint64_t seed, int *fresh_head, pofa_err *err)
{
	char cpath[4200], wpath[4200];
	pofa_config cfg;
	snprintf(cpath, sizeof cpath, "%s/config.json", dir);
	snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
	if (pofa_config_load(&cfg, cpath, err) || pofa_model_check_size(&cfg, head, wpath, err))
		return NULL;
	pofa_model *m = pofa_model_new_for(&cfg, head, use, maxB, maxT, nthreads, err);
	if (!m) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		pofa_error(err, err->status, "%s: %s", dir, msg);
		return NULL;
	}
	if (pofa_model_load_init(m, wpath, NULL, seed, fresh_head, err)) {
		pofa_model_free(m);
		return NULL;
	}
	return m;
}

int pofa_model_dir_head(const char *dir, pofa_config *cfg, enum pofa_head *head, pofa_err *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (pofa_config_load(cfg, path, err))
		return err->status;
	pofa_st_file f;
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (access(path, F_OK) != 0) {
		/* a directory holding only the packed int8 model: its metadata names the head */
		char ppath[4200];
		snprintf(ppath, sizeof ppath, "%s/model.packed.safetensors", dir);
		if (access(ppath, F_OK) == 0) {
			if (pofa_st_open(&f, ppath, err))
				return err->status;
			const char *hn = pofa_st_meta(&f, "head");
			for (int h = 0; hn && h < POFA_HEAD_COUNT; h++)
				if (!strcmp(hn, pofa_head_names[h])) {
					*head = (enum pofa_head)h;
					pofa_st_close(&f);
					return POFA_OK;
				}
			pofa_st_close(&f);
			return pofa_error(err, POFA_ERR_INPUT, "%s: no head named in its metadata; write it again "
			                  "with pofa export --packed", ppath);
		}
	}
	if (pofa_st_open(&f, path, err))
		return err->status;
	const pofa_st_tensor *cw = pofa_st_find(&f, "classifier.weight");
	*head = cw ? POFA_HEAD_CLS : pofa_st_find(&f, "qa_outputs.weight") ? POFA_HEAD_SPAN : POFA_HEAD_MLM;
	if (cw && cw->ndim == 2 && cw->shape[0] != cfg->num_labels) {
		pofa_st_close(&f);
		return pofa_error(err, POFA_ERR_INPUT, "%s: classifier.weight has %lld rows, but config.json has %d labels",
		                  path, (long long)cw->shape[0], cfg->num_labels);
	}
	pofa_st_close(&f);
	return POFA_OK;
}

pofa_model *pofa_model_load(const char *dir, enum pofa_head head, int maxB, int maxT, int nthreads,
                            uint64_t seed, int *fresh_head, pofa_err *err)
{
	return pofa_model_load_for(dir, head, POFA_MODEL_TRAIN, maxB, maxT, nthreads, seed, fresh_head, err);
}

/* ---- optimizer state ---------------------------------------------------- */

int pofa_optim_save(pofa_model *m, const pofa_optim *o, const char *path, pofa_err *err)
{
	pofa_st_out *o1, *o2;
	char(*n1)[128], (*n2)[128];
	int n = st_outs(m, "exp_avg.", pofa_model_moment1(m), &o1, &n1);
	int n2c = st_outs(m, "exp_avg_sq.", pofa_model_moment2(m), &o2, &n2);
	int rc = POFA_OK;
	pofa_st_out *all = n >= 0 && n2c >= 0 ? calloc((size_t)(2 * n), sizeof *all) : NULL;
	if (!all) {
		rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	} else {
		memcpy(all, o1, (size_t)n * sizeof *all);
		memcpy(all + n, o2, (size_t)n * sizeof *all);
		char step[32], seed[32], fwd[32], b1[32], b2[32], eps[32], wd[32];
		snprintf(step, sizeof step, "%lld", (long long)o->step);
		snprintf(seed, sizeof seed, "%llu", (unsigned long long)pofa_model_seed(m));
		snprintf(fwd, sizeof fwd, "%llu", (unsigned long long)pofa_model_fwd_count(m));
		snprintf(b1, sizeof b1, "%.17g", o->beta1);
		snprintf(b2, sizeof b2, "%.17g", o->beta2);
		snprintf(eps, sizeof eps, "%.17g", o->eps);
		snprintf(wd, sizeof wd, "%.17g", o->weight_decay);
		const char *const meta[][2] = {
			{ "beta1", b1 }, { "beta2", b2 }, { "dropout_seed", seed }, { "eps", eps },
			{ "format", "pt" }, { "forward_passes", fwd }, { "step", step },
			{ "weight_decay", wd },
		};
		rc = pofa_st_write(path, all, 2 * n, meta, (int)POFA_ARRAY_LEN(meta), err);
	}
	free(all);
	free(o1);
	free(o2);
	free(n1);
	free(n2);
	return rc;
}

static int meta_u64(const pofa_st_file *f, const char *key, uint64_t *out, pofa_err *err)
{
	const char *v = pofa_st_meta(f, key);
	char *end;
	if (!v || !*v)
		return pofa_error(err, POFA_ERR_INPUT, "%s: __metadata__ has no \"%s\"", f->path, key);
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*end || errno)
		return pofa_error(err, POFA_ERR_INPUT, "%s: __metadata__ \"%s\" is not a number", f->path, key);
	*out = x;
	return POFA_OK;
}

static int meta_double(const pofa_st_file *f, const char *key, double *out, pofa_err *err)
{
	const char *v = pofa_st_meta(f, key);
	char *end;
	if (!v || !*v)
		return pofa_error(err, POFA_ERR_INPUT, "%s: __metadata__ has no \"%s\"", f->path, key);
	double x = strtod(v, &end);
	if (*end)
		return pofa_error(err, POFA_ERR_INPUT, "%s: __metadata__ \"%s\" is not a number", f->path, key);
	*out = x;
	return POFA_OK;
}

int pofa_optim_load(pofa_model *m, pofa_optim *o, const char *path, pofa_err *err)
{
	pofa_st_file f;
	int rc = pofa_st_open(&f, path, err);
	if (rc)
		return rc;
	uint64_t step = 0, seed = 0, fwd = 0;
	pofa_optim no = *o;
	if (!rc) rc = meta_u64(&f, "step", &step, err);
	if (!rc) rc = meta_u64(&f, "dropout_seed", &seed, err);
	if (!rc) rc = meta_u64(&f, "forward_passes", &fwd, err);
	if (!rc) rc = meta_double(&f, "beta1", &no.beta1, err);
	if (!rc) rc = meta_double(&f, "beta2", &no.beta2, err);
	if (!rc) rc = meta_double(&f, "eps", &no.eps, err);
	if (!rc) rc = meta_double(&f, "weight_decay", &no.weight_decay, err);
	/* read into the moments only when the whole file checks out */
	size_t np = pofa_model_num_params(m);
	float *tmp = !rc ? malloc(2 * np * sizeof(float) + 1) : NULL;
	if (!rc && !tmp)
		rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	if (!rc) rc = load_tensors(m, &f, "exp_avg.", tmp, NULL, NULL, NULL, NULL, NULL, NULL, err);
	if (!rc) rc = load_tensors(m, &f, "exp_avg_sq.", tmp + np, NULL, NULL, NULL, NULL, NULL, NULL, err);
	if (!rc) {
		memcpy(pofa_model_moment1(m), tmp, np * sizeof(float));
		memcpy(pofa_model_moment2(m), tmp + np, np * sizeof(float));
		no.step = (int64_t)step;
		*o = no;
		pofa_model_set_seed(m, seed);
		pofa_model_set_fwd_count(m, fwd);
	}
	free(tmp);
	pofa_st_close(&f);
	return rc;
}
