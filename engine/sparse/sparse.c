/* sparse.c - masks and the GMP schedule (see sparse.h). */
#include "engine/sparse/sparse.h"
#include "engine/sparse/obert.h"
#include "engine/io/safetensors.h"
#include "data/base/util.h"

#include <string.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double pofa_gmp_target(const pofa_gmp *g, int64_t t)
{
	double span = (double)(g->t1 - g->t0);
	double x = span > 0 ? (double)(t - g->t0) / span : (t >= g->t1 ? 1.0 : 0.0);
	x = x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
	double r = 1.0 - x;
	return g->s_final + (g->s_init - g->s_final) * r * r * r;
}

int pofa_gmp_update_step(const pofa_gmp *g, int64_t t)
{
	if (t < g->t0 || t > g->freeze || g->every < 1)
		return 0;
	return (t - g->t0) % g->every == 0;
}

/* ---- pruning methods ------------------------------------------------------ */

/* magnitude: |w| (a block: the sum of its weights' |w|, its L1 norm), the
 * paper's (Zafrir et al., 2021) */
static void magnitude_score(const pofa_masks *mk, const pofa_tensor *t, int width, float *score)
{
	(void)mk;
	for (int64_t u = 0; u < t->numel / width; u++) {
		float a = 0.0f;
		for (int w = 0; w < width; w++)
			a += fabsf(t->data[u * width + w]);
		score[u] = a;
	}
}

const pofa_prune_method pofa_prune_methods[] = {
	{ .name = "magnitude", .help = "the smallest |w| pruned (the paper's gradual magnitude pruning)",
	  .score = magnitude_score },
	{ .name = "obert", .help = "second order: the lowest w^2 / (2 [F^-1]_qq) of a blockwise empirical Fisher "
	                           "pruned, the weights kept updated (Kurtic et al., 2022)",
	  .score = pofa_obert_score, .memory = pofa_obert_memory, .settings = pofa_obert_settings,
	  .init_state = pofa_obert_init,
	  .grad_hook = pofa_obert_grads, .after_prune = pofa_obert_after_prune, .free_state = pofa_obert_free,
	  .save_state = pofa_obert_save, .load_state = pofa_obert_load },
};
_Static_assert(POFA_ARRAY_LEN(pofa_prune_methods) == POFA_PRUNE_METHOD_COUNT, "a row per pruning method");

int pofa_prune_method_find(const char *name)
{
	for (int i = 0; i < POFA_PRUNE_METHOD_COUNT; i++)
		if (!strcmp(pofa_prune_methods[i].name, name))
			return i;
	return -1;
}

/* ---- masks --------------------------------------------------------------- */

int pofa_masks_init(pofa_masks *mk, pofa_model *m, pofa_err *err)
{
	memset(mk, 0, sizeof *mk);
	mk->model = m;
	mk->n = pofa_model_num_params(m);
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t);
	mk->m = malloc(mk->n);
	mk->threshold = calloc((size_t)nt, sizeof *mk->threshold);
	mk->target = calloc((size_t)nt, sizeof *mk->target);
	if (!mk->m || !mk->threshold || !mk->target) {
		pofa_masks_free(mk);
		return pofa_error(err, POFA_ERR_RUN, "out of memory for the masks");
	}
	memset(mk->m, 1, mk->n);
	return POFA_OK;
}

int pofa_masks_set_method(pofa_masks *mk, const pofa_gmp *g, pofa_err *err)
{
	if (g->method < 0 || g->method >= POFA_PRUNE_METHOD_COUNT)
		return pofa_error(err, POFA_ERR_INPUT, "pruning method %d: no such method", g->method);
	void (*release)(pofa_masks *) = pofa_prune_methods[mk->method].free_state;
	if (release)
		release(mk);
	mk->method = g->method;
	const pofa_prune_method *pm = &pofa_prune_methods[mk->method];
	return pm->init_state ? pm->init_state(mk, g, err) : POFA_OK;
}

int pofa_masks_observe(pofa_masks *mk, const pofa_gmp *g, int64_t step, pofa_err *err)
{
	const pofa_prune_method *pm = &pofa_prune_methods[mk->method];
	return pm->grad_hook ? pm->grad_hook(mk, g, step, err) : POFA_OK;
}

void pofa_masks_free(pofa_masks *mk)
{
	if (mk->model && pofa_prune_methods[mk->method].free_state)
		pofa_prune_methods[mk->method].free_state(mk);
	free(mk->m);
	free(mk->threshold);
	free(mk->target);
	memset(mk, 0, sizeof *mk);
}

static unsigned char *tmask(pofa_masks *mk, const pofa_tensor *t)
{
	return mk->m + (t->data - pofa_model_params(mk->model));
}

void pofa_masks_lock(pofa_masks *mk)
{
	if (mk->kept) /* the lists follow the old masks: every weight again */
		pofa_masks_keep(mk, 0, NULL);
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	for (int i = 0; i < nt; i++) {
		if (!t[i].prunable)
			continue;
		unsigned char *m = tmask(mk, &t[i]);
		for (int64_t j = 0; j < t[i].numel; j++)
			m[j] = t[i].data[j] != 0.0f;
		mk->target[i] = (float)pofa_tensor_sparsity(&t[i]);
	}
	mk->active = 1;
}

typedef struct { float a; int64_t i; } scored;

static int by_score(const void *x, const void *y)
{
	const scored *p = x, *q = y;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return (p->i > q->i) - (p->i < q->i);
}

/* prune the k lowest-scored units; each unit covers `width` weights */
static float prune_units(scored *s, int64_t nunits, int64_t k, unsigned char *m, int width)
{
	qsort(s, (size_t)nunits, sizeof *s, by_score);
	for (int64_t u = 0; u < nunits; u++)
		for (int w = 0; w < width; w++)
			m[s[u].i * width + w] = u >= k;
	return k > 0 ? s[k - 1].a : 0.0f;
}

static int prune_nm(const pofa_tensor *t, const float *score, unsigned char *m, double sparsity, int N, int M)
{
	int keep = M - (int)lround(sparsity * M);
	keep = keep < N ? N : (keep > M ? M : keep);
	for (int64_t g = 0; g + M <= t->numel; g += M) {
		/* keep the `keep` best scores, ties to the lower index */
		for (int a = 0; a < M; a++) {
			float va = score[g + a];
			int better = 0;
			for (int b = 0; b < M; b++) {
				float vb = score[g + b];
				better += vb > va || (vb == va && b < a);
			}
			m[g + a] = better < keep;
		}
	}
	return POFA_OK;
}

/* one threshold over every prunable matrix (unstructured) */
static int prune_global(pofa_masks *mk, double sparsity, pofa_err *err)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	const pofa_prune_method *pm = &pofa_prune_methods[mk->method];
	int64_t total = 0;
	for (int i = 0; i < nt; i++)
		total += t[i].prunable ? t[i].numel : 0;
	scored *s = malloc((size_t)(total + 1) * sizeof *s);
	int64_t *base = malloc((size_t)(nt + 1) * sizeof *base);
	float *sc = malloc((size_t)(total + 1) * sizeof *sc);
	unsigned char *keep = malloc((size_t)total + 1);
	if (!s || !base || !sc || !keep) {
		free(s); free(base); free(sc); free(keep);
		return pofa_error(err, POFA_ERR_RUN, "out of memory while pruning");
	}
	/* the global index packs (tensor order, element) */
	int64_t o = 0;
	for (int i = 0; i < nt; i++) {
		base[i] = o;
		if (!t[i].prunable)
			continue;
		pm->score(mk, &t[i], 1, sc + o);
		for (int64_t j = 0; j < t[i].numel; j++, o++)
			s[o] = (scored){ sc[o], o };
	}
	int64_t k = llround(sparsity * (double)total);
	qsort(s, (size_t)total, sizeof *s, by_score);
	for (int64_t u = 0; u < total; u++)
		keep[s[u].i] = u >= k;
	float th = k > 0 ? s[k - 1].a : 0.0f;
	for (int i = 0; i < nt; i++)
		if (t[i].prunable) {
			memcpy(tmask(mk, &t[i]), keep + base[i], (size_t)t[i].numel);
			mk->threshold[i] = th;
			mk->target[i] = (float)sparsity;
		}
	free(keep);
	free(sc);
	free(s);
	free(base);
	return POFA_OK;
}

/* each matrix at the sparsity, by its pattern: units of `width` weights
 * (1: unstructured, B: 1xB blocks, their scores summed) or N:M groups */
static int prune_each(pofa_masks *mk, double sparsity, const pofa_gmp *g, pofa_err *err)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	const pofa_prune_method *pm = &pofa_prune_methods[mk->method];
	int64_t maxn = 0;
	for (int i = 0; i < nt; i++)
		maxn = t[i].prunable ? POFA_MAX(maxn, t[i].numel) : maxn;
	scored *s = malloc((size_t)(maxn + 1) * sizeof *s);
	float *sc = malloc((size_t)(maxn + 1) * sizeof *sc);
	int rc = !s || !sc ? pofa_error(err, POFA_ERR_RUN, "out of memory while pruning") : POFA_OK;
	for (int i = 0; i < nt && !rc; i++) {
		if (!t[i].prunable)
			continue;
		unsigned char *m = tmask(mk, &t[i]);
		int64_t in = t[i].shape[1];
		int width = g->pattern == POFA_PATTERN_NM ? g->m : g->pattern == POFA_PATTERN_BLOCK ? g->block : 1;
		if (width < 1 || in % width) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %lld inputs are not a multiple of %s %d", t[i].name,
			                (long long)in, g->pattern == POFA_PATTERN_NM ? "M =" : "the block width", width);
			break;
		}
		if (g->pattern == POFA_PATTERN_NM) {
			pm->score(mk, &t[i], 1, sc);
			prune_nm(&t[i], sc, m, sparsity, g->n, g->m);
		} else {
			int64_t nunits = t[i].numel / width;
			pm->score(mk, &t[i], width, sc);
			for (int64_t u = 0; u < nunits; u++)
				s[u] = (scored){ sc[u], u };
			int64_t k = llround(sparsity * (double)nunits);
			mk->threshold[i] = prune_units(s, nunits, k, m, width);
		}
		mk->target[i] = (float)sparsity;
	}
	free(s);
	free(sc);
	return rc;
}

int pofa_masks_prune(pofa_masks *mk, double sparsity, const pofa_gmp *g, pofa_err *err)
{
	if (sparsity < 0.0 || sparsity >= 1.0)
		return pofa_error(err, POFA_ERR_INPUT, "sparsity %g: must be in [0, 1)", sparsity);
	if (mk->kept && pofa_masks_keep(mk, 0, err)) /* the pattern moves: every weight again */
		return err ? err->status : POFA_ERR_RUN;
	int rc = g->pattern == POFA_PATTERN_UNSTRUCTURED && g->global ? prune_global(mk, sparsity, err)
	                                                               : prune_each(mk, sparsity, g, err);
	if (rc)
		return rc;
	/* the method's update of the weights kept, while the newly pruned ones
	 * still hold their values; then the masks zero them */
	if (pofa_prune_methods[mk->method].after_prune)
		pofa_prune_methods[mk->method].after_prune(mk, g);
	mk->active = 1;
	pofa_masks_apply(mk);
	return POFA_OK;
}

int pofa_masks_keep(pofa_masks *mk, int on, pofa_err *err)
{
	mk->kept = 0;
	if (on && mk->active)
		pofa_masks_apply(mk);
	if (pofa_model_keep(mk->model, on && mk->active ? mk->m : NULL, err))
		return err ? err->status : POFA_ERR_RUN;
	mk->kept = on && mk->active;
	return POFA_OK;
}

void pofa_masks_apply(pofa_masks *mk)
{
	if (!mk->active || mk->kept)
		return;
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	float *params = pofa_model_params(mk->model);
	float *m1 = pofa_model_moment1(mk->model), *m2 = pofa_model_moment2(mk->model);
	for (int i = 0; i < nt; i++) {
		if (!t[i].prunable)
			continue;
		size_t off = (size_t)(t[i].data - params);
		const unsigned char *m = mk->m + off;
		for (int64_t j = 0; j < t[i].numel; j++)
			if (!m[j]) {
				t[i].data[j] = 0.0f;
				if (m1) { /* a model for inference has no moments */
					m1[off + j] = 0.0f;
					m2[off + j] = 0.0f;
				}
			}
	}
}

void pofa_masks_grads(pofa_masks *mk)
{
	if (!mk->active || mk->kept)
		return;
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	for (int i = 0; i < nt; i++) {
		if (!t[i].prunable)
			continue;
		const unsigned char *m = tmask(mk, &t[i]);
		for (int64_t j = 0; j < t[i].numel; j++)
			t[i].grad[j] *= (float)m[j];
	}
}

/* masks.safetensors: a U8 mask per prunable matrix, and the targets and
 * thresholds of the last pruning (F32, one per prunable matrix in table
 * order), so that a resumed stage reports what it reported before */
int pofa_masks_save(const pofa_masks *mk, const char *path, pofa_err *err)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	pofa_st_out *o = calloc((size_t)nt + 3, sizeof *o);
	char (*names)[128] = calloc((size_t)nt + 1, sizeof *names);
	float *tg = calloc((size_t)nt + 1, sizeof *tg), *th = calloc((size_t)nt + 1, sizeof *th);
	if (!o || !names || !tg || !th) {
		free(o); free(names); free(tg); free(th);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	int n = 0, np = 0;
	for (int i = 0; i < nt; i++) {
		if (!t[i].prunable)
			continue;
		snprintf(names[n], 128, "mask.%s", t[i].name);
		o[n] = (pofa_st_out){ names[n], mk->m + (t[i].data - pofa_model_params(mk->model)), 2,
		                      { t[i].shape[0], t[i].shape[1] }, POFA_U8 };
		n++;
		tg[np] = mk->target[i];
		th[np++] = mk->threshold[i];
	}
	o[n++] = (pofa_st_out){ "masks.target", tg, 1, { np, 0 }, POFA_F32 };
	o[n++] = (pofa_st_out){ "masks.threshold", th, 1, { np, 0 }, POFA_F32 };
	static const char *const meta[][2] = { { "format", "pt" } };
	int rc = pofa_st_write(path, o, n, meta, 1, err);
	free(o);
	free(names);
	free(tg);
	free(th);
	return rc;
}

int pofa_masks_load(pofa_masks *mk, const char *path, pofa_err *err)
{
	pofa_st_file f;
	int rc = pofa_st_open(&f, path, err);
	if (rc)
		return rc;
	pofa_tensor *t;
	int nt = pofa_model_tensors(mk->model, &t);
	for (int i = 0; i < nt && !rc; i++) {
		if (!t[i].prunable)
			continue;
		char name[160];
		snprintf(name, sizeof name, "mask.%s", t[i].name);
		const pofa_st_tensor *s = pofa_st_find(&f, name);
		if (!s || s->dtype != POFA_U8 || s->ndim != 2 || s->shape[0] != t[i].shape[0] ||
		    s->shape[1] != t[i].shape[1]) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: missing, or not U8 of the model's shape",
			                path, name);
			break;
		}
		const unsigned char *src = f.buf + f.data_off + s->begin;
		for (int64_t j = 0; j < t[i].numel && !rc; j++)
			if (src[j] > 1)   /* a mask multiplies gradients: 0 or 1 only */
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: tensor %s: element %lld is %d, not 0 or 1", path,
				                name, (long long)j, src[j]);
		if (!rc)
			memcpy(tmask(mk, &t[i]), src, (size_t)t[i].numel);
	}
	int np = 0;
	for (int i = 0; i < nt; i++)
		np += t[i].prunable;
	/* targets and thresholds as saved; files without them: the masks' own */
	const pofa_st_tensor *tt = pofa_st_find(&f, "masks.target"), *th = pofa_st_find(&f, "masks.threshold");
	float *tv = NULL, *hv = NULL;
	if (!rc && tt && th) {
		tv = malloc((size_t)np * sizeof *tv);
		hv = malloc((size_t)np * sizeof *hv);
		if (!tv || !hv)
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		else if (tt->ndim != 1 || tt->shape[0] != np || th->ndim != 1 || th->shape[0] != np)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: masks.target and masks.threshold: want [%d] each", path, np);
		else if (!(rc = pofa_st_read_f32(&f, tt, tv, err)))
			rc = pofa_st_read_f32(&f, th, hv, err);
	}
	if (!rc) {
		mk->active = 1;
		for (int i = 0, k = 0; i < nt; i++)
			if (t[i].prunable) {
				int64_t z = 0;
				const unsigned char *m = tmask(mk, &t[i]);
				for (int64_t j = 0; j < t[i].numel; j++)
					z += !m[j];
				mk->target[i] = tv ? tv[k] : (float)z / (float)t[i].numel;
				mk->threshold[i] = hv ? hv[k] : 0.0f;
				k++;
			}
	}
	free(tv);
	free(hv);
	pofa_st_close(&f);
	return rc;
}
