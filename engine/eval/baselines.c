/* baselines.c - a classification task's baselines on one of its splits
 * (data/task/baselines.h), for eval stages and pofa eval --baselines. */
#include "engine/eval/eval.h"

#include <stdio.h>

int pofa_eval_baselines(const pofa_task_spec *task, const char *file, long examples, pofa_tokenizer *tk,
                        pofa_baseline *out, int *n, pofa_err *err)
{
	*n = 0;
	if (task->format == POFA_TASK_SQUAD)
		return POFA_OK;   /* span extraction: none */
	if (!task->train[0])
		return pofa_error(err, POFA_ERR_INPUT, "task %s: the baselines learn from its training split, and it has "
		                  "none (train_file)", task->name);
	pofa_labels labels = { 0 };
	pofa_taskset tr = { 0 }, ev = { 0 };
	/* the texts are what counts: the shortest encoding keeps the memory small */
	int rc = pofa_taskset_load(task, task->train, tk, 4, &labels, &tr, err);
	if (!rc)
		rc = pofa_taskset_load(task, file, tk, 4, &labels, &ev, err);
	if (!rc)   /* the examples the models are scored on */
		rc = pofa_taskset_sample(&ev, examples, err);
	if (!rc) {
		*n = pofa_baselines_text(&tr.text, &ev.text, labels.n, tr.positive, tk, out);
		if (*n < 0)
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory computing the baselines of %s", task->name);
	}
	pofa_taskset_free(&tr);
	pofa_taskset_free(&ev);
	pofa_labels_free(&labels);
	return rc;
}
