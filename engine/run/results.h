/*
 * results.h - a run's results read back from its CSV files, for report.md
 * and report.html alike: the last value of every (model, task, split,
 * metric) of eval.csv, the models an eval stage lists, the steps that
 * selecting stages kept, and each evaluation's rows of per_class.csv and
 * confusion.csv.
 */
#ifndef POFA_RUN_RESULTS_H
#define POFA_RUN_RESULTS_H

#include "engine/run/csvtab.h"
#include "engine/run/run.h"

#include <stdint.h>

typedef struct pofa_result {
	char model[48], task[64], split[8], metric[24];
	long long step;
	double value, loss, sps, speedup, sparsity, size_mb;
	int shown;                /* report.md: in an eval stage's table */
} pofa_result;

/* what eval stages with baselines = yes put beside the models */
extern const char *const pofa_baseline_names[3];

/* a stage that selects its best dev evaluation (select = best) keeps that
 * step's model: the step, per stage (-1: none) */
void pofa_best_steps(const pofa_csvtab *t, const pofa_recipe *rc, int64_t *best_step);
/* the last value of every (model, task, split, metric) of eval.csv (t), in
 * order, a selecting stage's own rows of other steps left out; res holds
 * t->n entries; linear in the rows; -1 out of memory, else how many */
int pofa_results_collect(const pofa_csvtab *t, const pofa_recipe *rc, const int64_t *best_step, pofa_result *res);
/* the models an eval stage lists, by their names in the results */
int pofa_eval_names(const pofa_stage *es, char (*names)[48], int cap);

/* a model's main metric (the task's first) on dev, the reference's, and
 * the model's speed-up, sparsity and size where measured */
typedef struct pofa_cell { double v, r0, up, sparsity, size; int has_up; } pofa_cell;
pofa_cell pofa_result_cell(const char *task, const pofa_result *res, int nr, const char *name, const char *ref);

/* a row's means over its tasks' cells: % of the reference, speed-up, size;
 * and its sparsity (start from POFA_ROW_MEAN) */
typedef struct pofa_row_mean { double pct, up, sparsity, mb; int npct, nup, nmb; } pofa_row_mean;
#define POFA_ROW_MEAN ((pofa_row_mean){ 0.0, 0.0, NAN, 0.0, 0, 0, 0 })
/* adds a task's cell; returns its % of the reference (NAN: none) */
double pofa_row_mean_add(pofa_row_mean *m, const pofa_cell *c);

/* per_class.csv and confusion.csv: an evaluation's rows (a class each,
 * and a (gold, predicted) pair each) are written together, in the same
 * order in both files */
typedef struct pofa_class_eval {
	int r0, r1;            /* per_class.csv rows [r0, r1] of the evaluation */
	int c0;                /* its first confusion.csv row, or -1 */
} pofa_class_eval;

/* rows r of t and q of u are of one evaluation (stage, model, step, task,
 * split) */
int pofa_same_eval(const pofa_csvtab *t, int r, const pofa_csvtab *u, int q);
/* the last evaluation of every (model, task, split): its rows in both
 * files (ev: pc->n entries), found in one pass over each; -1 out of
 * memory, else how many */
int pofa_class_evals(const pofa_csvtab *pc, const pofa_csvtab *cf, const pofa_recipe *rc, const int64_t *best_step,
                     pofa_class_eval *ev);

#endif
