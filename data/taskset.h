/*
 * taskset.h - a task's split, tokenized for a model: batches for training,
 * and evaluation with the task's metrics (and optional predictions CSV).
 */
#ifndef POFA_TASKSET_H
#define POFA_TASKSET_H

#include "loaders.h"
#include "recipe.h"

typedef struct pofa_taskset {
	int format;            /* TASK_TSV or TASK_SQUAD */
	int T, n;              /* sequence length; examples (TSV) or features (SQuAD) */
	int *ids, *types, *mask, *labels;  /* TSV: (n, T) and (n) */
	pofa_qa_set qa;        /* SQuAD: features carry their own arrays */
	int nlabels;
	char path[512];
	long truncated;        /* TSV examples cut to T */
} pofa_taskset;

/* labels: shared across splits (built by the train split when empty) */
int pofa_taskset_load(const pofa_task_spec *spec, const char *path, pofa_tokenizer *tk, int T,
                      pofa_labels *labels, pofa_taskset *ts, pofa_err *err);
void pofa_taskset_free(pofa_taskset *ts);
/* fills B rows from examples idx[0..B) */
void pofa_taskset_batch(const pofa_taskset *ts, const long *idx, int B, int *ids, int *types,
                        int *mask, int *labels, int *starts, int *ends);

typedef struct pofa_metric { char name[24]; double value; } pofa_metric;
typedef struct pofa_eval_result {
	int n;
	pofa_metric m[4];      /* m[0] is the task's main metric */
	double loss;           /* mean task loss */
	long examples;
} pofa_eval_result;

/* Runs the model over the split in batches of B (no dropout). With a
 * predictions path, writes one CSV row per example. */
int pofa_evaluate(pofa_model *m, const pofa_taskset *ts, const pofa_labels *labels, int B,
                  const char *predictions, pofa_eval_result *res, pofa_err *err);
int pofa_model_head_for(const pofa_task_spec *spec);

#endif
