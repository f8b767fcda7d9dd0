/* baselines.c - a task's figures without a model (see baselines.h). */
#include "data/task/baselines.h"
#include "data/base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scoring predictions ------------------------------------------------------ */

static pofa_baseline scored(const char *name, const int *pred, const int *gold, int n, int nlabels,
                            int positive)
{
	pofa_baseline b = { .accuracy = 100.0 * pofa_accuracy(pred, gold, n),
	                    .macro_f1 = 100.0 * pofa_macro_f1(pred, gold, n, nlabels),
	                    .f1 = positive >= 0 ? 100.0 * pofa_binary_f1(pred, gold, n, positive) : 0.0 };
	snprintf(b.name, sizeof b.name, "%s", name);
	return b;
}

/* ---- majority ------------------------------------------------------------------- */

static int majority_label(const pofa_text_task *t, int nlabels)
{
	long *count = calloc((size_t)nlabels, sizeof *count);
	int best = 0;
	if (!count)
		return 0;
	for (int i = 0; i < t->n; i++)
		if (t->label[i] >= 0 && t->label[i] < nlabels)
			count[t->label[i]]++;
	for (int k = 1; k < nlabels; k++)
		if (count[k] > count[best])
			best = k;
	free(count);
	return best;
}

/* ---- bag of words: multinomial naive Bayes --------------------------------------- */

typedef struct {
	pofa_tokenizer *tk;
	pofa_piece *pc;
	int cap;
} pieces;

/* the non-special token ids of an example's texts into *ids (grown); count, or -1 */
static int example_tokens(pieces *p, const pofa_text_task *t, int i, int **ids, int *cap)
{
	int n = 0;
	for (int s = 0; s < 2; s++) {
		const char *txt = s == 0 ? t->a[i] : t->b ? t->b[i] : NULL;
		if (!txt)
			continue;
		int np = pofa_tokenize(p->tk, txt, (long)strlen(txt), &p->pc, &p->cap, NULL);
		if (np < 0)
			return -1;
		if (n + np > *cap) {
			int c = (n + np) * 2;
			if (pofa_resize(ids, (size_t)c, sizeof **ids))
				return -1;
			*cap = c;
		}
		for (int k = 0; k < np; k++)
			if (!pofa_tok_is_special(p->tk, p->pc[k].id))
				(*ids)[n++] = p->pc[k].id;
	}
	return n;
}

/* predictions of naive Bayes trained on train, for eval; 0 or -1 */
static int bag_of_words(const pofa_text_task *train, const pofa_text_task *eval, int nlabels, pofa_tokenizer *tk,
                        int *pred)
{
	int V = pofa_vocab_size(tk), cap = 0, rc = -1;
	double *lp = calloc((size_t)nlabels * V, sizeof *lp), *prior = calloc((size_t)nlabels, sizeof *prior);
	double *total = calloc((size_t)nlabels, sizeof *total), *score = calloc((size_t)nlabels, sizeof *score);
	int *ids = NULL;
	pieces p = { tk, NULL, 0 };
	if (!lp || !prior || !total || !score)
		goto out;
	for (int i = 0; i < train->n; i++) {
		int y = train->label[i], n = example_tokens(&p, train, i, &ids, &cap);
		if (n < 0)
			goto out;
		if (y < 0 || y >= nlabels)
			continue;
		prior[y] += 1.0;
		for (int k = 0; k < n; k++)
			lp[(size_t)y * V + ids[k]] += 1.0;
		total[y] += n;
	}
	for (int y = 0; y < nlabels; y++) {
		for (int v = 0; v < V; v++)
			lp[(size_t)y * V + v] = log((lp[(size_t)y * V + v] + 1.0) / (total[y] + V));
		prior[y] = log((prior[y] + 1.0) / (train->n + nlabels));
	}
	for (int i = 0; i < eval->n; i++) {
		int n = example_tokens(&p, eval, i, &ids, &cap);
		if (n < 0)
			goto out;
		int best = 0;
		for (int y = 0; y < nlabels; y++) {
			score[y] = prior[y];
			for (int k = 0; k < n; k++)
				score[y] += lp[(size_t)y * V + ids[k]];
			if (score[y] > score[best])
				best = y;
		}
		pred[i] = best;
	}
	rc = 0;
out:
	free(lp);
	free(prior);
	free(total);
	free(score);
	free(ids);
	free(p.pc);
	return rc;
}

/* ---- word overlap ---------------------------------------------------------------- */

typedef struct {
	char (*w)[5];   /* each word's first four bytes (the whole word when shorter) */
	int n, cap, oom;
} words;

static void add_word(void *arg, const char *word, int len)
{
	words *ws = arg;
	if (ws->n == ws->cap) {
		int c = ws->cap ? 2 * ws->cap : 32;
		if (pofa_resize(&ws->w, (size_t)c, sizeof *ws->w)) {
			ws->oom = 1;
			return;
		}
		ws->cap = c;
	}
	int k = len < 4 ? len : 4;
	memcpy(ws->w[ws->n], word, (size_t)k);
	ws->w[ws->n][k] = 0;
	ws->n++;
}

/* the share of a's words with a match among b's; -1 out of memory */
static double overlap(pofa_tokenizer *tk, const char *a, const char *b, words *wa, words *wb)
{
	wa->n = wb->n = 0;
	if (pofa_basic_words(tk, a, (long)strlen(a), add_word, wa, NULL) ||
	    pofa_basic_words(tk, b, (long)strlen(b), add_word, wb, NULL) || wa->oom || wb->oom)
		return -1.0;
	int hit = 0;
	for (int i = 0; i < wa->n; i++)
		for (int j = 0; j < wb->n; j++)
			if (!strcmp(wa->w[i], wb->w[j])) {
				hit++;
				break;
			}
	return wa->n ? (double)hit / wa->n : 0.0;
}

static int by_value(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* the threshold with the best training accuracy for "positive when the
 * overlap is at least it" (the scores' pairs: score, positive or not) */
static double best_threshold(double *sp, int n)
{
	qsort(sp, (size_t)n, 2 * sizeof *sp, by_value);
	long pos = 0;
	for (int i = 0; i < n; i++)
		pos += sp[2 * i + 1] > 0.5;
	/* threshold above every score: all negative, right on n - pos */
	long right = n - pos, best = right;
	double t = INFINITY;
	for (int i = n - 1; i >= 0; i--) {
		/* lowering the threshold to sp[i] makes example i positive */
		right += sp[2 * i + 1] > 0.5 ? 1 : -1;
		if ((i == 0 || sp[2 * (i - 1)] != sp[2 * i]) && right > best) {
			best = right;
			t = sp[2 * i];
		}
	}
	return t;
}

static int word_overlap(const pofa_text_task *train, const pofa_text_task *eval, int positive,
                        pofa_tokenizer *tk, int *pred)
{
	words wa = { 0 }, wb = { 0 };
	double *sp = malloc((size_t)(train->n > 0 ? train->n : 1) * 2 * sizeof *sp);
	int rc = -1, n = 0, negative = positive == 0;
	if (!sp)
		goto out;
	for (int i = 0; i < train->n; i++) {
		double o = overlap(tk, train->a[i], train->b[i], &wa, &wb);
		if (o < 0)
			goto out;
		sp[2 * n] = o;
		sp[2 * n + 1] = train->label[i] == positive;
		n++;
	}
	double t = best_threshold(sp, n);
	for (int i = 0; i < eval->n; i++) {
		double o = overlap(tk, eval->a[i], eval->b[i], &wa, &wb);
		if (o < 0)
			goto out;
		pred[i] = o >= t ? positive : negative;
	}
	rc = 0;
out:
	free(sp);
	free(wa.w);
	free(wb.w);
	return rc;
}

/* ---- together ------------------------------------------------------------------ */

int pofa_baselines_text(const pofa_text_task *train, const pofa_text_task *eval, int nlabels, int positive,
                        pofa_tokenizer *tk, pofa_baseline *out)
{
	int *pred = malloc((size_t)(eval->n > 0 ? eval->n : 1) * sizeof *pred), k = 0;
	if (!pred)
		return -1;
	int maj = majority_label(train, nlabels);
	for (int i = 0; i < eval->n; i++)
		pred[i] = maj;
	out[k++] = scored("majority", pred, eval->label, eval->n, nlabels, positive);
	if (bag_of_words(train, eval, nlabels, tk, pred)) {
		free(pred);
		return -1;
	}
	out[k++] = scored("bag-of-words", pred, eval->label, eval->n, nlabels, positive);
	if (train->b && eval->b && nlabels == 2 && positive >= 0) {
		if (word_overlap(train, eval, positive, tk, pred)) {
			free(pred);
			return -1;
		}
		out[k++] = scored("word overlap", pred, eval->label, eval->n, nlabels, positive);
	}
	free(pred);
	return k;
}

double *pofa_unigram_logp(const pofa_mlm_data *d)
{
	double *lp = calloc((size_t)d->vocab, sizeof *lp), total = 0.0;
	if (!lp)
		return NULL;
	for (long s = 0; s < d->ntrain; s++) {
		const int *t = d->tokens + d->seq_start[d->train[s]];
		for (int k = 0; k < d->seq_len[d->train[s]]; k++)
			if (t[k] >= 0 && t[k] < d->vocab && t[k] != d->cls && t[k] != d->sep && t[k] != d->pad) {
				lp[t[k]] += 1.0;
				total += 1.0;
			}
	}
	for (int v = 0; v < d->vocab; v++)
		lp[v] = log((lp[v] + 1.0) / (total + d->vocab));
	return lp;
}
