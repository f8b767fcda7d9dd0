/* squad.c - SQuAD v1.1 files, windowed features, answers and the SQuAD metrics (see loaders.h). */
#include "data/task/loaders.h"
#include "data/base/mem.h"
#include "data/base/fileio.h"
#include "data/base/util.h"

#include "data/base/json.h"
#include "data/base/sbuf.h"

#include <math.h>
#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- SQuAD ------------------------------------------------------------------- */

void pofa_qa_free(pofa_qa_set *qa)
{
	for (int i = 0; i < qa->nex; i++) {
		pofa_qa_example *e = &qa->ex[i];
		free(e->id);
		free(e->question);
		free(e->context);
		for (int k = 0; k < e->nans; k++)
			free(e->answers[k]);
		free(e->answers);
		free(e->answer_start);
	}
	free(qa->ex);
	free(qa->feat);
	free(qa->block);
	memset(qa, 0, sizeof *qa);
}

int pofa_qa_load(const char *path, pofa_qa_set *qa, pofa_err *err)
{
	memset(qa, 0, sizeof *qa);
	int rc = POFA_OK;
	cJSON *root = pofa_json_read(path, (size_t)2 << 30, err);
	if (!root)
		return err->status;
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsArray(data)) {
		cJSON_Delete(root);
		return pofa_error(err, POFA_ERR_INPUT, "%s: no \"data\" array: not a SQuAD v1.1 file", path);
	}
	size_t cap = 0;
	const cJSON *art, *para, *q, *a;
	cJSON_ArrayForEach(art, data) {
		const cJSON *paras = cJSON_GetObjectItemCaseSensitive(art, "paragraphs");
		if (!cJSON_IsArray(paras)) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: an article whose \"paragraphs\" is not a list", path);
			goto done;
		}
		cJSON_ArrayForEach(para, paras) {
			const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(para, "context");
			const cJSON *qas = cJSON_GetObjectItemCaseSensitive(para, "qas");
			if (!cJSON_IsString(ctx) || !cJSON_IsArray(qas)) {
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: a paragraph without \"context\" or \"qas\"", path);
				goto done;
			}
			cJSON_ArrayForEach(q, qas) {
				const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "id");
				const cJSON *qu = cJSON_GetObjectItemCaseSensitive(q, "question");
				const cJSON *ans = cJSON_GetObjectItemCaseSensitive(q, "answers");
				if (!cJSON_IsString(id) || !cJSON_IsString(qu) || !cJSON_IsArray(ans)) {
					rc = pofa_error(err, POFA_ERR_INPUT,
					                "%s: question %s: needs \"id\", \"question\" and \"answers\"", path,
					                cJSON_IsString(id) ? id->valuestring : "(no id)");
					goto done;
				}
				if (pofa_grow(&qa->ex, &cap, (size_t)qa->nex + 1, sizeof *qa->ex)) {
					rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
					goto done;
				}
				pofa_qa_example *e = &qa->ex[qa->nex++];
				memset(e, 0, sizeof *e);
				e->id = strdup(id->valuestring);
				e->question = strdup(qu->valuestring);
				e->context = strdup(ctx->valuestring);
				int na = cJSON_GetArraySize(ans);
				e->answers = calloc((size_t)na + 1, sizeof *e->answers);
				e->answer_start = calloc((size_t)na + 1, sizeof *e->answer_start);
				if (!e->id || !e->question || !e->context || !e->answers || !e->answer_start) {
					rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
					goto done;
				}
				long clen = (long)strlen(e->context);
				cJSON_ArrayForEach(a, ans) {
					const cJSON *tx = cJSON_GetObjectItemCaseSensitive(a, "text");
					const cJSON *as = cJSON_GetObjectItemCaseSensitive(a, "answer_start");
					if (!cJSON_IsString(tx) || !cJSON_IsNumber(as) || !(as->valuedouble >= 0) ||
					    as->valuedouble > (double)clen || as->valuedouble != floor(as->valuedouble)) {
						rc = pofa_error(err, POFA_ERR_INPUT,
						                "%s: question %s: an answer needs \"text\" and an \"answer_start\" "
						                "inside its context", path, e->id);
						goto done;
					}
					long b = pofa_utf8_cp_to_byte(e->context, clen, (long)as->valuedouble);
					long tl = (long)strlen(tx->valuestring);
					if (b + tl > clen) {
						rc = pofa_error(err, POFA_ERR_INPUT,
						                "%s: question %s: answer_start %.0f is past the end of its context",
						                path, e->id, as->valuedouble);
						goto done;
					}
					if (memcmp(e->context + b, tx->valuestring, (size_t)tl))
						qa->unmatched++;
					if (!(e->answers[e->nans] = strdup(tx->valuestring))) {
						rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
						goto done;
					}
					e->answer_start[e->nans++] = b;
				}
			}
		}
	}
done:
	cJSON_Delete(root);
	if (!rc && qa->nex == 0)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: no questions: a task needs examples", path);
	if (rc)
		pofa_qa_free(qa);
	return rc;
}

int pofa_qa_featurize(pofa_qa_set *qa, pofa_tokenizer *tk, int T, int stride, int max_query,
                      pofa_err *err)
{
	if (T < 8 || stride < 1 || max_query < 1 || max_query > T - 4)
		return pofa_error(err, POFA_ERR_INPUT,
		                  "squad features: sequence %d, stride %d, question %d do not fit", T, stride,
		                  max_query);
	pofa_piece *qp = NULL, *cp = NULL;
	int qcap = 0, ccap = 0, fcap = 0;
	qa->T = T;
	qa->nfeat = 0;
	free(qa->feat);
	free(qa->block);
	qa->feat = NULL;
	qa->block = NULL;
	for (int x = 0; x < qa->nex; x++) {
		pofa_qa_example *e = &qa->ex[x];
		int nq = pofa_tokenize(tk, e->question, -1, &qp, &qcap, NULL);
		int nc = pofa_tokenize(tk, e->context, -1, &cp, &ccap, NULL);
		if (nq < 0 || nc < 0) {
			free(qp);
			free(cp);
			return pofa_error(err, POFA_ERR_RUN, "out of memory");
		}
		nq = POFA_MIN(nq, max_query);
		int room = T - nq - 3;
		long as = e->nans ? e->answer_start[0] : -1;
		long ae = e->nans ? as + (long)strlen(e->answers[0]) : -1;
		for (int start = 0;;) {
			int len = POFA_MIN(room, nc - start);
			if (qa->nfeat == fcap) {
				int c = fcap ? 2 * fcap : 1024;
				if (pofa_resize(&qa->feat, (size_t)c, sizeof *qa->feat) ||
				    pofa_resize(&qa->block, (size_t)c * 5 * T, sizeof *qa->block)) {
					free(qp);
					free(cp);
					return pofa_error(err, POFA_ERR_RUN, "out of memory");
				}
				fcap = c;
			}
			pofa_qa_feature *f = &qa->feat[qa->nfeat];
			int *blk = qa->block + (size_t)qa->nfeat * 5 * T;
			f->example = x;
			int k = 0;
			int *ids = blk, *ty = blk + T, *mk = blk + 2 * T, *o0 = blk + 3 * T, *o1 = blk + 4 * T;
#define PUT(id_, t_, a_, b_) (ids[k] = (id_), ty[k] = (t_), mk[k] = 1, o0[k] = (a_), o1[k] = (b_), k++)
			PUT(pofa_tok_cls(tk), 0, -1, -1);
			for (int i = 0; i < nq; i++)
				PUT(qp[i].id, 0, -1, -1);
			PUT(pofa_tok_sep(tk), 0, -1, -1);
			int c0 = k;
			for (int i = 0; i < len; i++)
				PUT(cp[start + i].id, 1, cp[start + i].start, cp[start + i].end);
			PUT(pofa_tok_sep(tk), 1, -1, -1);
#undef PUT
			for (; k < T; k++) {
				ids[k] = pofa_tok_pad(tk);
				ty[k] = mk[k] = 0;
				o0[k] = o1[k] = -1;
			}
			f->start = f->end = 0;
			if (as >= 0 && len > 0 && as >= cp[start].start && ae <= cp[start + len - 1].end) {
				int s = -1, en = -1;
				for (int i = 0; i < len; i++) {
					if (s < 0 && cp[start + i].end > as)
						s = c0 + i;
					if (cp[start + i].start < ae)
						en = c0 + i;
				}
				if (s >= 0 && en >= s) {
					f->start = s;
					f->end = en;
				}
			}
			qa->nfeat++;
			if (start + len >= nc)
				break;
			start += POFA_MIN(len, stride);
		}
	}
	/* the feature arrays point into the block (fixed after the last realloc) */
	for (int i = 0; i < qa->nfeat; i++) {
		int *blk = qa->block + (size_t)i * 5 * T;
		qa->feat[i].ids = blk;
		qa->feat[i].types = blk + T;
		qa->feat[i].mask = blk + 2 * T;
		qa->feat[i].off0 = blk + 3 * T;
		qa->feat[i].off1 = blk + 4 * T;
	}
	free(qp);
	free(cp);
	return POFA_OK;
}

/* indices of the n largest values among the context tokens of a feature,
 * best first */
static int top_n(const float *v, const int *off0, int T, int n, int *out)
{
	int k = 0;
	for (int i = 0; i < T; i++) {
		if (off0[i] < 0)
			continue;
		if (k == n && !(v[i] > v[out[n - 1]]))
			continue;
		int j = k < n ? k++ : n - 1;  /* when full, the last one drops out */
		while (j > 0 && v[i] > v[out[j - 1]]) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = i;
	}
	return k;
}

int pofa_qa_predict(const pofa_qa_set *qa, int example, const float *start_logits,
                    const float *end_logits, int n_best, int max_answer_len, char *out, size_t outsz)
{
	int T = qa->T, si[64], ei[64];
	n_best = POFA_MIN(n_best, 64);
	float best = -INFINITY;
	long b0 = -1, b1 = -1;
	for (int f = 0; f < qa->nfeat; f++) {
		if (qa->feat[f].example != example)
			continue;
		const pofa_qa_feature *ft = &qa->feat[f];
		const float *sl = start_logits + (size_t)f * T, *el = end_logits + (size_t)f * T;
		int ns = top_n(sl, ft->off0, T, n_best, si), ne = top_n(el, ft->off0, T, n_best, ei);
		for (int a = 0; a < ns; a++)
			for (int b = 0; b < ne; b++) {
				int s = si[a], e = ei[b];
				if (e < s || e - s + 1 > max_answer_len)
					continue;
				float score = sl[s] + el[e];
				if (score > best) {
					best = score;
					b0 = ft->off0[s];
					b1 = ft->off1[e];
				}
			}
	}
	if (b0 < 0) {
		if (outsz)
			out[0] = 0;
		return -1;
	}
	snprintf(out, outsz, "%.*s", (int)(b1 - b0), qa->ex[example].context + b0);
	return 0;
}

/* ---- SQuAD metrics ------------------------------------------------------------- */

void pofa_squad_normalize(const char *s, char *out, size_t outsz)
{
	/* lower case; drop ASCII punctuation (string.punctuation) */
	pofa_sbuf a = { 0 };
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t c;
	for (;;) {
		utf8proc_ssize_t k = utf8proc_iterate(p, -1, &c);
		if (k <= 0 || c == 0)
			break;
		p += k;
		if (c < 128 && ispunct(c))
			continue;
		utf8proc_uint8_t enc[4];
		utf8proc_ssize_t l = utf8proc_encode_char(utf8proc_tolower(c), enc);
		pofa_sbuf_put(&a, (const char *)enc, (size_t)l);
	}
	/* drop the articles a, an, the as words; collapse whitespace */
	size_t o = 0;
	const char *t = a.s ? a.s : "";
	while (*t) {
		while (*t && isspace((unsigned char)*t))
			t++;
		const char *w = t;
		while (*t && !isspace((unsigned char)*t))
			t++;
		size_t wl = (size_t)(t - w);
		if (!wl || (wl == 1 && !strncmp(w, "a", 1)) || (wl == 2 && !strncmp(w, "an", 2)) ||
		    (wl == 3 && !strncmp(w, "the", 3)))
			continue;
		if (o && o + 1 < outsz)
			out[o++] = ' ';
		for (size_t i = 0; i < wl && o + 1 < outsz; i++)
			out[o++] = w[i];
	}
	if (outsz)
		out[o < outsz ? o : outsz - 1] = 0;
	pofa_sbuf_free(&a);
}

double pofa_squad_em(const char *pred, const char *const *gold, int ngold)
{
	char a[2048], b[2048];
	pofa_squad_normalize(pred, a, sizeof a);
	for (int i = 0; i < ngold; i++) {
		pofa_squad_normalize(gold[i], b, sizeof b);
		if (!strcmp(a, b))
			return 1.0;
	}
	return 0.0;
}

static int split_words(char *s, char **w, int max)
{
	int n = 0;
	for (char *t = strtok(s, " "); t && n < max; t = strtok(NULL, " "))
		w[n++] = t;
	return n;
}

double pofa_squad_f1(const char *pred, const char *const *gold, int ngold)
{
	char a[2048], b[2048];
	char *pw[512], *gw[512];
	double best = 0.0;
	for (int g = 0; g < ngold; g++) {
		pofa_squad_normalize(pred, a, sizeof a);
		pofa_squad_normalize(gold[g], b, sizeof b);
		int np = split_words(a, pw, 512), ng = split_words(b, gw, 512);
		if (np == 0 || ng == 0) {
			/* official script: F1 = (both empty) */
			best = fmax(best, np == ng ? 1.0 : 0.0);
			continue;
		}
		/* common = multiset intersection */
		int used[512] = { 0 }, common = 0;
		for (int i = 0; i < np; i++)
			for (int j = 0; j < ng; j++)
				if (!used[j] && !strcmp(pw[i], gw[j])) {
					used[j] = 1;
					common++;
					break;
				}
		if (common == 0)
			continue;
		double p = (double)common / np, r = (double)common / ng;
		best = fmax(best, 2 * p * r / (p + r));
	}
	return best;
}
