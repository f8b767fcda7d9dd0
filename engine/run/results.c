/*
 * results.c - a run's results read back from its CSV files (results.h).
 */
#include "engine/run/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pofa_baseline_names[3] = { "majority", "bag-of-words", "word overlap" };

typedef struct { const pofa_csvtab *t; const pofa_recipe *rc; const int64_t *best_step; } counts_arg;

/* does row r of a per-evaluation file count: a stage that selects (best
 * >= 0) keeps its own evaluation of the step it chose */
static int row_counts(void *arg, int r)
{
	const counts_arg *a = arg;
	char **row = a->t->rows[r];
	int si = pofa_recipe_stage(a->rc, row[2]);
	return !(si >= 0 && a->best_step[si] >= 0 && !strcmp(row[1], row[2]) && atoll(row[3]) != a->best_step[si]);
}

int pofa_same_eval(const pofa_csvtab *t, int r, const pofa_csvtab *u, int q)
{
	for (int k = 1; k <= 5; k++)   /* stage, model, step, task, split */
		if (strcmp(t->rows[r][k], u->rows[q][k]))
			return 0;
	return 1;
}

static int by_r1(const void *a, const void *b)
{
	const pofa_class_eval *x = *(const pofa_class_eval *const *)a, *y = *(const pofa_class_eval *const *)b;
	return (x->r1 > y->r1) - (x->r1 < y->r1);
}

int pofa_class_evals(const pofa_csvtab *pc, const pofa_csvtab *cf, const pofa_recipe *rc, const int64_t *best_step,
                     pofa_class_eval *ev)
{
	static const int key[3] = { 2, 4, 5 };
	counts_arg arg = { pc, rc, best_step };
	int *last = malloc(((size_t)pc->n + 1) * sizeof *last);
	pofa_class_eval **order = malloc(((size_t)pc->n + 1) * sizeof *order);
	int n = last && order ? pofa_csvtab_last_by(pc, key, 3, 13, row_counts, &arg, last) : -1;
	for (int k = 0; k < n; k++) {
		ev[k].r1 = last[k];
		ev[k].r0 = last[k];
		while (ev[k].r0 > 1 && pc->nf[ev[k].r0 - 1] >= 13 && pofa_same_eval(pc, ev[k].r0 - 1, pc, last[k]))
			ev[k].r0--;
		ev[k].c0 = -1;
		order[k] = &ev[k];
	}
	if (n > 0) {
		qsort(order, (size_t)n, sizeof *order, by_r1);
		for (int k = 0, q = 1; k < n && q < cf->n; k++) {
			while (q < cf->n && (cf->nf[q] < 9 || !pofa_same_eval(cf, q, pc, order[k]->r1)))
				q++;
			if (q < cf->n)
				order[k]->c0 = q;
		}
	}
	free(last);
	free(order);
	return n;
}

int pofa_eval_names(const pofa_stage *es, char (*names)[48], int cap)
{
	char (*refs)[1024] = calloc((size_t)cap, sizeof *refs);
	int n = refs ? pofa_stage_model_refs(es, refs, cap) : 0;
	for (int k = 0; k < n; k++)
		pofa_model_ref_name(refs[k], names[k], 48);
	free(refs);
	return n;
}

void pofa_best_steps(const pofa_csvtab *t, const pofa_recipe *rc, int64_t *best_step)
{
	for (int i = 0; i < rc->nstages; i++) {
		const pofa_stage *st = &rc->stages[i];
		best_step[i] = -1;
		if (!st->select_best)
			continue;
		char metric[24] = "";
		snprintf(metric, sizeof metric, "%s", st->metric);
		double best = -INFINITY;
		for (int r = 1; r < t->n; r++) {
			if (t->nf[r] < 9 || strcmp(t->rows[r][1], st->name) || strcmp(t->rows[r][2], st->name) ||
			    !strcmp(t->rows[r][4], "mlm") || strcmp(t->rows[r][5], "dev"))
				continue;
			if (!metric[0])
				snprintf(metric, sizeof metric, "%s", t->rows[r][6]);   /* the main one comes first */
			int loss = !strcmp(metric, "loss");
			if (!loss && strcmp(t->rows[r][6], metric))
				continue;
			double v = loss ? -atof(t->rows[r][8]) : atof(t->rows[r][7]);
			if (v > best) {
				best = v;
				best_step[i] = atoll(t->rows[r][3]);
			}
		}
	}
}

int pofa_results_collect(const pofa_csvtab *t, const pofa_recipe *rc, const int64_t *best_step, pofa_result *res)
{
	static const int key[4] = { 2, 4, 5, 6 };
	counts_arg arg = { t, rc, best_step };
	int *rows = malloc(((size_t)t->n + 1) * sizeof *rows);
	int nr = rows ? pofa_csvtab_last_by(t, key, 4, 8, row_counts, &arg, rows) : -1;
	for (int k = 0; k < nr; k++) {
		char **row = t->rows[rows[k]];
		int nf = t->nf[rows[k]];
		pofa_result *x = &res[k];
		snprintf(x->model, sizeof x->model, "%s", row[2]);
		snprintf(x->task, sizeof x->task, "%s", row[4]);
		snprintf(x->split, sizeof x->split, "%s", row[5]);
		snprintf(x->metric, sizeof x->metric, "%s", row[6]);
		x->value = atof(row[7]);
		x->step = atoll(row[3]);
		x->loss = nf >= 9 && row[8][0] ? atof(row[8]) : NAN;
		x->shown = 0;
		x->sps = nf >= 11 ? atof(row[9]) : 0.0;
		x->speedup = nf >= 11 ? atof(row[10]) : 0.0;
		x->sparsity = nf >= 12 && row[11][0] ? atof(row[11]) : NAN;
		x->size_mb = nf >= 13 && row[12][0] ? atof(row[12]) : NAN;
	}
	free(rows);
	return nr;
}

pofa_cell pofa_result_cell(const char *task, const pofa_result *res, int nr, const char *name, const char *ref)
{
	pofa_cell c = { NAN, NAN, 0.0, NAN, NAN, 0 };
	const char *metric = NULL;
	for (int k = 0; k < nr; k++)
		if (!strcmp(res[k].task, task) && !strcmp(res[k].split, "dev")) {
			if (!metric)
				metric = res[k].metric; /* the task's first metric */
			if (strcmp(res[k].metric, metric))
				continue;
			if (!strcmp(res[k].model, name)) {
				c.v = res[k].value;
				if (res[k].sps > 0.0)
					c.up = res[k].speedup, c.has_up = 1;
				if (isfinite(res[k].sparsity))
					c.sparsity = res[k].sparsity;
				if (isfinite(res[k].size_mb))
					c.size = res[k].size_mb;
			}
			if (!strcmp(res[k].model, ref))
				c.r0 = res[k].value;
		}
	return c;
}

double pofa_row_mean_add(pofa_row_mean *m, const pofa_cell *c)
{
	double p = isfinite(c->v) && isfinite(c->r0) && c->r0 > 0 ? 100.0 * c->v / c->r0 : NAN;
	if (isfinite(p))
		m->pct += p, m->npct++;
	if (c->has_up)
		m->up += c->up, m->nup++;
	if (isfinite(c->sparsity))
		m->sparsity = c->sparsity;
	if (isfinite(c->size))
		m->mb += c->size, m->nmb++;
	return p;
}
