/*
 * taskset.h - a task's split, tokenized for a model: the examples as
 * (ids, types, mask) rows, and batches of them.
 */
#ifndef POFA_TASKSET_H
#define POFA_TASKSET_H

#include "data/task/loaders.h"
#include "data/task/task.h"

typedef struct pofa_taskset {
	enum pofa_task_format format;
	int T, n;              /* sequence length; examples (TSV) or features (SQuAD) */
	int *ids, *types, *mask, *labels;  /* TSV: (n, T) and (n) */
	pofa_qa_set qa;        /* SQuAD: features carry their own arrays */
	int nlabels;
	int positive;          /* the positive class of a two-class task; -1 otherwise */
	char path[512];
	long truncated;        /* TSV examples cut to T */
	char summary[400];     /* "path: N examples[, M lines refused (...)]" */
	pofa_text_task text;   /* TSV/CSV: the examples' texts and lines, for predictions */
} pofa_taskset;

/* labels: shared across splits (built by the train split when empty) */
int pofa_taskset_load(const pofa_task_spec *spec, const char *path, pofa_tokenizer *tk, int T,
                      pofa_labels *labels, pofa_taskset *ts, pofa_err *err);
void pofa_taskset_free(pofa_taskset *ts);
/* At most max examples of a TSV/CSV split: the file cut into max equal
 * runs, one example drawn from each (a fixed seed: the same ones every
 * time), so that a split sorted by label keeps its mix and one written in
 * a repeating order (positive, negative, ...) is not sampled in step with
 * it; the summary says so. 0 or max >= n: all. A SQuAD split: error. */
int pofa_taskset_sample(pofa_taskset *ts, long max, pofa_err *err);
/* fills B rows from examples idx[0..B) */
void pofa_taskset_batch(const pofa_taskset *ts, const long *idx, int B, int *ids, int *types,
                        int *mask, int *labels, int *starts, int *ends);

#endif
