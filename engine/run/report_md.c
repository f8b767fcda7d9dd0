/*
 * report_md.c - report.md: a run's results read back from its CSV files
 * (eval.csv, events.csv, per_class.csv, confusion.csv) and training.json:
 * the stages, each eval stage's table, the summary across eval stages,
 * the training stages' own evaluations, per class and masked-LM.
 */
#include "engine/run/runlog.h"
#include "engine/run/csvtab.h"
#include "engine/run/results.h"
#include "engine/model/folder.h"
#include "data/base/fileio.h"
#include "data/base/text.h"
#include "data/base/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a run folder's text in Markdown: escaped (text.h), never copied */
static void md(FILE *f, const char *s) { pofa_esc_md(f, s); }
/* " TEXT |": a table cell of a run folder's text */
static void md_cell(FILE *f, const char *s)
{
	fputc(' ', f);
	pofa_esc_md(f, s);
	fputs(" |", f);
}

/* one evaluation's classes: precision, recall, F1, support, predictions,
 * and (up to 20 classes) its confusion matrix */
static void class_table(FILE *f, const pofa_csvtab *pc, const pofa_csvtab *cf, const pofa_class_eval *e)
{
	int ncls = e->r1 - e->r0 + 1, npred = 0, pos = -1;
	for (int r = e->r0; r <= e->r1; r++) {
		npred += atoll(pc->rows[r][12]) > 0;
		if (atoi(pc->rows[r][7]))
			pos = r;
	}
	char **h = pc->rows[e->r1];
	fputs("### ", f);
	md(f, h[2]);
	fputs(" on ", f);
	md(f, h[4]);
	fputs(", ", f);
	md(f, h[5]);
	fprintf(f, " split (%s", strcmp(h[1], h[2]) ? "eval stage " : "its own dev evaluation");
	if (strcmp(h[1], h[2]))
		md(f, h[1]);
	fprintf(f, ", step %lld)\n\n", atoll(h[3]));
	fprintf(f, "Predicts %d of %d classes%s", npred, ncls, npred < ncls ? " (a class never predicted has recall 0)"
	                                                                    : "");
	if (pos > 0)
		fputs("; F1 is the positive class's: ", f), md(f, pc->rows[pos][6]);
	fprintf(f, ".\n\n| class | precision | recall | F1 | support | predicted |\n|---|---|---|---|---|---|\n");
	for (int r = e->r0; r <= e->r1; r++) {
		fputs("| ", f);
		md(f, pc->rows[r][6]);
		fprintf(f, "%s | %.2f | %.2f | %.2f | %lld | %lld |\n", r == pos ? " (positive)" : "", atof(pc->rows[r][8]),
		        atof(pc->rows[r][9]), atof(pc->rows[r][10]), atoll(pc->rows[r][11]), atoll(pc->rows[r][12]));
	}
	fprintf(f, "\n");
	if (ncls > 20 || e->c0 < 0)
		return;
	/* the confusion matrix: gold in rows, predicted in columns */
	fprintf(f, "| gold \\ predicted |");
	for (int r = e->r0; r <= e->r1; r++)
		md_cell(f, pc->rows[r][6]);
	fprintf(f, "\n|---|");
	for (int c = 0; c < ncls; c++)
		fprintf(f, "---|");
	for (int q = e->c0, col = 0; q < cf->n && col < ncls * ncls && cf->nf[q] >= 9 && pofa_same_eval(cf, q, pc, e->r1);
	     q++, col++) {
		if (col % ncls == 0)
			fputs("\n|", f), md_cell(f, cf->rows[q][6]);
		fprintf(f, " %lld |", atoll(cf->rows[q][8]));
	}
	fprintf(f, "\n\n");
}

/* per class, for the last evaluation of every (model, task, split) */
static void per_class_report(FILE *f, const char *run_dir, const pofa_recipe *rc, const int64_t *best_step)
{
	char path[1200];
	pofa_csvtab pc, cf;
	snprintf(path, sizeof path, "%s/per_class.csv", run_dir);
	if (pofa_csvtab_read(path, &pc))
		return;
	snprintf(path, sizeof path, "%s/confusion.csv", run_dir);
	if (pofa_csvtab_read(path, &cf))
		memset(&cf, 0, sizeof cf);
	pofa_class_eval *ev = malloc(((size_t)pc.n + 1) * sizeof *ev);
	int n = ev ? pofa_class_evals(&pc, &cf, rc, best_step, ev) : 0;
	if (n > 0)
		fprintf(f, "## Per class (the last evaluation of each model, task and split; per_class.csv and "
		        "confusion.csv hold every one)\n\n");
	for (int k = 0; k < n; k++)
		class_table(f, &pc, &cf, &ev[k]);
	free(ev);
	pofa_csvtab_free(&pc);
	pofa_csvtab_free(&cf);
}

/* every stage: how it ended (events.csv), its steps, its model's sparsity
 * (training.json), and the schedule edits made while it ran */
static void stages_report(FILE *f, const char *run_dir, const pofa_recipe *rc)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/events.csv", run_dir);
	pofa_csvtab ev;
	memset(&ev, 0, sizeof ev);
	if (pofa_csvtab_read(path, &ev))
		memset(&ev, 0, sizeof ev);
	fprintf(f, "## Stages\n\n| stage | kind | ended | steps done | sparsity | live edits |\n|---|---|---|---|---|---|\n");
	int nedits = 0;
	for (int i = 0; i < rc->nstages; i++) {
		const pofa_stage *s = &rc->stages[i];
		char ended[24] = "not run", steps[48] = "-", sp[24] = "-";
		int edits = 0;
		for (int r = 1; r < ev.n; r++) {
			if (ev.nf[r] < 5 || strcmp(ev.rows[r][1], s->name))
				continue;
			if (!strcmp(ev.rows[r][3], "stage_start"))
				snprintf(ended, sizeof ended, "unfinished");
			else if (!strcmp(ev.rows[r][3], "stage_end")) {
				/* "NAME done", "NAME skipped", "NAME stopped", "NAME failed" */
				const char *w = strrchr(ev.rows[r][4], ' ');
				snprintf(ended, sizeof ended, "%.23s", w ? w + 1 : ev.rows[r][4]);
				snprintf(steps, sizeof steps, "%lld", atoll(ev.rows[r][2]));
			} else if (!strcmp(ev.rows[r][3], "schedule"))
				edits++;
		}
		if (s->kind != POFA_STAGE_EVAL) {
			char dir[1200];
			pofa_trained tr;
			pofa_err e2;
			snprintf(dir, sizeof dir, "%s/%s", run_dir, s->name);
			if (!pofa_trained_load(dir, &tr, &e2) && tr.sparsity >= 0.0)
				snprintf(sp, sizeof sp, "%.2f%%", 100.0 * tr.sparsity);
		} else {
			snprintf(steps, sizeof steps, "-");   /* an eval stage trains none */
		}
		fprintf(f, "| %s | %s |", s->name, pofa_stage_kinds[s->kind]);
		md_cell(f, ended);
		fprintf(f, " %s | %s | %d |\n", steps, sp, edits);
		nedits += edits;
	}
	fprintf(f, "\n");
	if (nedits) {
		fprintf(f, "Live edits of the schedule (events.csv):\n\n");
		for (int r = 1; r < ev.n; r++)
			if (ev.nf[r] >= 5 && !strcmp(ev.rows[r][3], "schedule"))
			{
				fputs("- ", f);
				md(f, ev.rows[r][1]);
				fprintf(f, " at step %lld: ", atoll(ev.rows[r][2]));
				md(f, ev.rows[r][4]);
				fputc('\n', f);
			}
		fprintf(f, "\n");
	}
	pofa_csvtab_free(&ev);
}

/* one model's row of an eval stage's table: its metrics, the first as a
 * percentage of the reference's, its sparsity and speed */
static void model_row(FILE *f, pofa_result *res, int nr, const pofa_stage *es, const char *split, const char *model,
                      const char *ref, char (*metrics)[24], int nmet, int speed)
{
	fputc('|', f), md_cell(f, model);
	double v0 = NAN, r0 = NAN, sps = 0.0, up = 0.0, sparsity = NAN;
	for (int m = 0; m < nmet; m++) {
		double v = NAN;
		for (int k = 0; k < nr; k++)
			if (!strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, split) &&
			    !strcmp(res[k].metric, metrics[m])) {
				if (!strcmp(res[k].model, model))
					v = res[k].value, res[k].shown = 1;
				if (m == 0 && !strcmp(res[k].model, ref))
					r0 = res[k].value;
			}
		if (m == 0)
			v0 = v;
		fprintf(f, isfinite(v) ? " %.2f |" : " - |", v);
	}
	if (isfinite(v0) && isfinite(r0) && r0 > 0)
		fprintf(f, " %.1f%% |", 100.0 * v0 / r0);
	else
		fprintf(f, " - |");
	for (int k = 0; k < nr; k++)
		if (!strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, split) && !strcmp(res[k].model, model)) {
			if (isfinite(res[k].sparsity))
				sparsity = res[k].sparsity;
			if (res[k].sps > 0.0)
				sps = res[k].sps, up = res[k].speedup;
		}
	fprintf(f, isfinite(sparsity) ? " %.2f%% |" : " - |", 100.0 * sparsity);
	if (speed && sps > 0.0)
		fprintf(f, " %.1f | %.2fx |", sps, up);
	else if (speed)
		fprintf(f, " - | - |");
	fprintf(f, "\n");
}

/* one table per eval stage and split: its models on its task, with the
 * main metric (the first) as a percentage of the reference model */
static void eval_tables(FILE *f, const pofa_recipe *rc, pofa_result *res, int nr)
{
	static const char *splits[3] = { "dev", "test", "train" };
	for (int q = 0; q < rc->nstages; q++) {
		const pofa_stage *es = &rc->stages[q];
		if (es->kind != POFA_STAGE_EVAL)
			continue;
		char models[32][48], ref[48] = "";
		int nm = pofa_eval_names(es, models, 32);
		snprintf(ref, sizeof ref, "%s", es->reference[0] ? es->reference : nm ? models[0] : "");
		for (int sp = 0; sp < 3; sp++) {
			char metrics[8][24];
			int nmet = 0, speed = 0;
			for (int k = 0; k < nr; k++)
				if (!strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, splits[sp])) {
					int j;
					for (j = 0; j < nmet && strcmp(metrics[j], res[k].metric); j++)
						;
					if (j == nmet && nmet < 8)
						strcpy(metrics[nmet++], res[k].metric);
					speed |= res[k].sps > 0.0;   /* the speed columns, where the stage measured speed */
				}
			if (!nmet)
				continue;
			fputs("## ", f);
			md(f, es->task.name);
			fprintf(f, ", %s split (stage %s)\n\n| model |", splits[sp], es->name);
			for (int m = 0; m < nmet; m++)
				md_cell(f, metrics[m]);
			fputc(' ', f);
			md(f, metrics[0]);
			fputs(", % of ", f);
			md(f, ref);
			fprintf(f, " | sparsity |%s\n|---|",
			        speed ? " sequences/s | speed-up over dense |" : "");
			for (int m = 0; m <= nmet + 1 + 2 * speed; m++)
				fprintf(f, "---|");
			fprintf(f, "\n");
			for (int mi = 0; mi < nm; mi++)
				model_row(f, res, nr, es, splits[sp], models[mi], ref, metrics, nmet, speed);
			for (size_t b = 0; b < POFA_ARRAY_LEN(pofa_baseline_names); b++)   /* beside them, without a model */
				for (int k = 0; k < nr; k++)
					if (!strcmp(res[k].model, pofa_baseline_names[b]) && !strcmp(res[k].task, es->task.name) &&
					    !strcmp(res[k].split, splits[sp])) {
						model_row(f, res, nr, es, splits[sp], pofa_baseline_names[b], ref, metrics, nmet, speed);
						break;
					}
			fprintf(f, "\n");
		}
	}
}

static void summary_rows(FILE *f, const pofa_recipe *rc, const pofa_result *res, int nr, const int *evals, int ne,
                         char (*names)[32][48], int rows);

/* several eval stages listing the same number of models: their k-th
 * models side by side (the paper's table: one row per method) */
static void summary_table(FILE *f, const pofa_recipe *rc, const pofa_result *res, int nr)
{
	int evals[POFA_MAX_STAGES], ne = 0, counts[POFA_MAX_STAGES];
	char (*names)[32][48] = malloc(POFA_MAX_STAGES * sizeof *names);
	if (!names)
		return;
	for (int i = 0; i < rc->nstages; i++)
		if (rc->stages[i].kind == POFA_STAGE_EVAL) {
			counts[ne] = pofa_eval_names(&rc->stages[i], names[ne], 32);
			evals[ne++] = i;
		}
	int same = ne > 1;
	for (int q = 0; q < ne; q++)
		same = same && counts[q] == counts[0];
	if (same)
		summary_rows(f, rc, res, nr, evals, ne, names, counts[0]);
	free(names);
}

/* one row of the summary: a method's model of each task (names[q][k]),
 * or a baseline (its own name in every task) */
static void summary_row(FILE *f, const pofa_recipe *rc, const pofa_result *res, int nr, const int *evals, int ne,
                        char (*names)[32][48], int k, const char *baseline, int speed, int size)
{
	pofa_row_mean m = POFA_ROW_MEAN;
	for (int q = 0; q < ne; q++) {
		const pofa_stage *es = &rc->stages[evals[q]];
		const char *name = baseline ? baseline : names[q][k];
		pofa_cell c = pofa_result_cell(es->task.name, res, nr, name, es->reference[0] ? es->reference : names[q][0]);
		double p = pofa_row_mean_add(&m, &c);
		if (q == 0)
			fputc('|', f), md_cell(f, name);
		if (isfinite(p))
			fprintf(f, " %.2f (%.1f%%) |", c.v, p);
		else
			fprintf(f, isfinite(c.v) ? " %.2f |" : " - |", c.v);
	}
	fprintf(f, m.npct ? " %.1f%% |" : " - |", m.npct ? m.pct / m.npct : 0.0);
	fprintf(f, isfinite(m.sparsity) ? " %.2f%% |" : " - |", 100.0 * m.sparsity);
	if (speed)
		fprintf(f, m.nup ? " %.2fx |" : " - |", m.nup ? m.up / m.nup : 0.0);
	if (size)
		fprintf(f, m.nmb ? " %.2f |" : " - |", m.nmb ? m.mb / m.nmb : 0.0);
	fprintf(f, "\n");
}

static void summary_rows(FILE *f, const pofa_recipe *rc, const pofa_result *res, int nr, const int *evals, int ne,
                         char (*names)[32][48], int rows)
{
	int speed = 0, size = 0;
	for (int k = 0; k < nr; k++) {   /* speed and size columns where any eval stage measured them */
		speed |= !strcmp(res[k].split, "dev") && res[k].sps > 0.0;
		size |= !strcmp(res[k].split, "dev") && isfinite(res[k].size_mb);
	}
	fprintf(f, "## Summary (dev): main metric, and %% of each task's reference%s%s\n\n| row |",
	        speed ? "; the speed-up over the dense model, the mean over the tasks" : "",
	        size ? "; the weights' size as pofa's runtime holds them (MB, the mean over the tasks)" : "");
	for (int q = 0; q < ne; q++)
		md_cell(f, rc->stages[evals[q]].task.name);
	fprintf(f, " mean %% of reference | sparsity |%s%s\n|---|", speed ? " speed-up over dense |" : "",
	        size ? " size MB |" : "");
	for (int q = 0; q <= ne + 1 + speed + size; q++)
		fprintf(f, "---|");
	fprintf(f, "\n");
	for (int k = 0; k < rows; k++)
		summary_row(f, rc, res, nr, evals, ne, names, k, NULL, speed, size);
	/* the baselines any eval stage computed, each in its own row */
	for (size_t b = 0; b < POFA_ARRAY_LEN(pofa_baseline_names); b++) {
		int has = 0;
		for (int k = 0; k < nr && !has; k++)
			has = !strcmp(res[k].model, pofa_baseline_names[b]) && !strcmp(res[k].split, "dev");
		if (has)
			summary_row(f, rc, res, nr, evals, ne, names, 0, pofa_baseline_names[b], speed, size);
	}
	fprintf(f, "\n");
}

/* every other evaluation the run made: the dev evaluations of training
 * stages (at their end, and every eval_interval), so a run without an
 * eval stage still reports its results; then masked-LM dev per stage */
static void other_evals(FILE *f, const pofa_result *res, int nr)
{
	int any = 0;
	for (int k = 0; k < nr; k++) {
		if (res[k].shown || !strcmp(res[k].task, "mlm"))
			continue;
		if (!any)
			fprintf(f, "## Evaluations by training stages (the last of each; with select = best, "
			        "the best, whose model the stage kept)\n\n"
			        "| model | task | split | step | metric | value | loss |\n|---|---|---|---|---|---|---|\n");
		any = 1;
		fputc('|', f);
		md_cell(f, res[k].model);
		md_cell(f, res[k].task);
		md_cell(f, res[k].split);
		fprintf(f, " %lld |", res[k].step);
		md_cell(f, res[k].metric);
		fprintf(f, " %.2f |", res[k].value);
		fprintf(f, isfinite(res[k].loss) ? " %.4f |\n" : " - |\n", res[k].loss);
	}
	if (any)
		fprintf(f, "\n");
}

static void mlm_table(FILE *f, const pofa_result *res, int nr)
{
	int any = 0;
	for (int k = 0; k < nr; k++)
		if (!strcmp(res[k].task, "mlm")) {
			if (!any)
				fprintf(f, "## masked-LM (dev)\n\n| stage | metric | value |\n|---|---|---|\n");
			any = 1;
			fputc('|', f), md_cell(f, res[k].model), md_cell(f, res[k].metric);
			fprintf(f, " %.4f |\n", res[k].value);
		}
}

int pofa_runlog_report(const char *run_dir, const pofa_recipe *rc, pofa_err *err)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/eval.csv", run_dir);
	pofa_csvtab t;
	if (pofa_csvtab_read(path, &t)) {
		int e = errno;
		return pofa_error(err, e == ENOMEM ? POFA_ERR_RUN : POFA_ERR_INPUT, "%s: cannot read: %s; a run folder "
		                  "holds eval.csv once its first evaluation is made", path,
		                  e ? strerror(e) : "not a CSV file");
	}
	int64_t best_step[POFA_MAX_STAGES];
	pofa_best_steps(&t, rc, best_step);
	pofa_result *res = calloc((size_t)t.n + 1, sizeof *res);
	if (!res) {
		pofa_csvtab_free(&t);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	int nr = pofa_results_collect(&t, rc, best_step, res);
	pofa_csvtab_free(&t);
	if (nr < 0) {
		free(res);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f) {
		free(res);
		return pofa_error(err, POFA_ERR_RUN, "report.md: out of memory");
	}
	fprintf(f, "# %s: results\n\nRecipe ", rc->name);
	md(f, rc->path);
	fprintf(f, " (hash %016llx). Metrics in percent; losses are mean "
	        "cross-entropies. Sparsity counts the prunable matrices (encoder Linear weights "
	        "and the pooler), not the embeddings; model.safetensors stores zeros densely.\n\n",
	        (unsigned long long)rc->hash);
	stages_report(f, run_dir, rc);
	eval_tables(f, rc, res, nr);
	summary_table(f, rc, res, nr);
	other_evals(f, res, nr);
	per_class_report(f, run_dir, rc, best_step);
	mlm_table(f, res, nr);
	fclose(f);
	snprintf(path, sizeof path, "%s/report.md", run_dir);
	int rcode = pofa_write_atomic(path, buf, blen, err);
	free(buf);
	free(res);
	return rcode ? rcode : pofa_runlog_report_html(run_dir, rc, err);
}
