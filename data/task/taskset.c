/* taskset.c - tokenized task splits, batches and evaluation (see taskset.h). */
#include "data/task/taskset.h"
#include "data/base/rng.h"
#include "data/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pofa_taskset_free(pofa_taskset *ts)
{
	free(ts->ids);
	free(ts->labels);
	pofa_qa_free(&ts->qa);
	pofa_text_task_free(&ts->text);
	memset(ts, 0, sizeof *ts);
}

int pofa_taskset_sample(pofa_taskset *ts, long max, pofa_err *err)
{
	if (max <= 0 || max >= ts->n)
		return POFA_OK;
	if (ts->format == POFA_TASK_SQUAD)
		return pofa_error(err, POFA_ERR_INPUT, "%s: eval_examples takes examples of TSV and CSV tasks, not SQuAD "
		                  "features", ts->path);
	/* one example drawn from each of m equal runs of the file: spread
	 * through it (a split sorted by label keeps its mix) and never in step
	 * with a period in it (pairs written positive, negative, positive...
	 * would all be positives if every k-th were kept) */
	int n = ts->n, T = ts->T, m = (int)max;
	int *keep = malloc((size_t)m * sizeof(int)), *ids = malloc((size_t)m * 3 * T * sizeof(int));
	if (!keep || !ids) {
		free(keep);
		free(ids);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", ts->path);
	}
	for (int j = 0; j < m; j++) {
		long lo = (long)j * n / m, hi = (long)(j + 1) * n / m;
		keep[j] = (int)(lo + (long)(pofa_mix64(0x5a3b1e + (uint64_t)j) % (uint64_t)(hi - lo)));
	}
	pofa_text_task *t = &ts->text;
	for (int j = 0, q = 0; j < m; j++) {
		int i = keep[j];
		memcpy(ids + (size_t)j * T, ts->ids + (size_t)i * T, (size_t)T * sizeof(int));
		memcpy(ids + (size_t)(m + j) * T, ts->types + (size_t)i * T, (size_t)T * sizeof(int));
		memcpy(ids + (size_t)(2 * m + j) * T, ts->mask + (size_t)i * T, (size_t)T * sizeof(int));
		ts->labels[j] = ts->labels[i];
		/* the texts kept alongside: predictions name each example's line */
		for (; q < i; q++) {
			free(t->a[q]);
			if (t->b)
				free(t->b[q]);
		}
		t->a[j] = t->a[i];
		if (t->b)
			t->b[j] = t->b[i];
		t->label[j] = t->label[i];
		t->line[j] = t->line[i];
		q = i + 1;
		if (j == m - 1)
			for (; q < t->n; q++) {
				free(t->a[q]);
				if (t->b)
					free(t->b[q]);
			}
	}
	free(keep);
	t->n = m;
	free(ts->ids);
	ts->ids = ids;
	ts->types = ids + (size_t)m * T;
	ts->mask = ids + (size_t)2 * m * T;
	ts->n = m;
	size_t l = strlen(ts->summary);
	snprintf(ts->summary + l, sizeof ts->summary - l,
	         "; %d of %d evaluated, one drawn from each run of %.3g (eval_examples = %ld)", m, n, (double)n / m, max);
	return POFA_OK;
}

int pofa_taskset_load(const pofa_task_spec *spec, const char *path, pofa_tokenizer *tk, int T,
                      pofa_labels *labels, pofa_taskset *ts, pofa_err *err)
{
	memset(ts, 0, sizeof *ts);
	ts->format = spec->format;
	ts->T = T;
	snprintf(ts->path, sizeof ts->path, "%s", path);
	if (spec->format == POFA_TASK_SQUAD) {
		int rc = pofa_qa_load(path, &ts->qa, err);
		if (!rc)
			rc = pofa_qa_featurize(&ts->qa, tk, T, T / 2, POFA_MIN(64, T / 2), err);
		ts->n = ts->qa.nfeat;
		if (!rc)
			snprintf(ts->summary, sizeof ts->summary, "%s: %d questions, %d features", path, ts->qa.nex,
			         ts->qa.nfeat);
		return rc;
	}
	pofa_text_task t;
	int rc = pofa_text_task_load(spec, path, labels, &t, err);
	if (rc)
		return rc;
	pofa_text_task_summary(&t, path, ts->summary, sizeof ts->summary);
	ts->n = t.n;
	ts->nlabels = labels->n;
	/* the positive class of two (its F1 is the task's): the spec's, else
	 * the label "1", else the second */
	ts->positive = labels->n == 2 ? 1 : -1;
	if (spec->positive[0]) {
		ts->positive = pofa_labels_find(labels, spec->positive);
		if (ts->positive < 0 || labels->n != 2) {
			char list[300];
			pofa_labels_list(labels, list, sizeof list);
			pofa_text_task_free(&t);
			return pofa_error(err, POFA_ERR_INPUT, "positive = %s: %s; the labels (from %s) are %s", spec->positive,
			                  labels->n != 2 ? "a positive label is for tasks of two classes"
			                                 : "not one of the task's labels", labels->from, list);
		}
	} else if (labels->n == 2 && pofa_labels_find(labels, "1") >= 0) {
		ts->positive = pofa_labels_find(labels, "1");
	}
	ts->ids = malloc((size_t)t.n * 3 * T * sizeof(int));
	ts->labels = malloc((size_t)t.n * sizeof(int));
	pofa_encoding e;
	if (!ts->ids || !ts->labels || pofa_encoding_init(&e, T)) {
		pofa_text_task_free(&t);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	ts->types = ts->ids + (size_t)t.n * T;
	ts->mask = ts->ids + (size_t)2 * t.n * T;
	for (int i = 0; i < t.n; i++) {
		if (pofa_encode(tk, t.a[i], -1, t.b ? t.b[i] : NULL, -1, T, 1, &e) < 0) {
			pofa_encoding_free(&e);
			pofa_text_task_free(&t);
			return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		}
		ts->truncated += e.truncated > 0;
		memcpy(ts->ids + (size_t)i * T, e.ids, (size_t)T * sizeof(int));
		memcpy(ts->types + (size_t)i * T, e.type_ids, (size_t)T * sizeof(int));
		memcpy(ts->mask + (size_t)i * T, e.mask, (size_t)T * sizeof(int));
		ts->labels[i] = t.label[i];
	}
	pofa_encoding_free(&e);
	ts->text = t;   /* kept: predictions name each example's line and text */
	return POFA_OK;
}

void pofa_taskset_batch(const pofa_taskset *ts, const long *idx, int B, int *ids, int *types,
                        int *mask, int *labels, int *starts, int *ends)
{
	int T = ts->T;
	for (int b = 0; b < B; b++) {
		long i = idx[b];
		size_t o = (size_t)b * T;
		if (ts->format == POFA_TASK_SQUAD) {
			const pofa_qa_feature *f = &ts->qa.feat[i];
			memcpy(ids + o, f->ids, (size_t)T * sizeof(int));
			memcpy(types + o, f->types, (size_t)T * sizeof(int));
			memcpy(mask + o, f->mask, (size_t)T * sizeof(int));
			if (starts)
				starts[b] = f->start;
			if (ends)
				ends[b] = f->end;
		} else {
			memcpy(ids + o, ts->ids + (size_t)i * T, (size_t)T * sizeof(int));
			memcpy(types + o, ts->types + (size_t)i * T, (size_t)T * sizeof(int));
			memcpy(mask + o, ts->mask + (size_t)i * T, (size_t)T * sizeof(int));
			if (labels)
				labels[b] = ts->labels[i];
		}
	}
}
