/*
 * eval.h - evaluation: a model over a tokenized split in batches, with the
 * task's metrics, its mean loss and, when asked, one CSV row per example.
 */
#ifndef POFA_RUN_EVAL_H
#define POFA_RUN_EVAL_H

#include "data/task/taskset.h"
#include "engine/pofa.h"

/* the head a task trains: classification or span extraction */
enum pofa_head pofa_task_head(const pofa_task_spec *spec);

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

#endif
