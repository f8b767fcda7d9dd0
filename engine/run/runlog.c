/* runlog.c - a run's CSV files, export and report (see runlog.h). */
#include "engine/run/runlog.h"
#include "data/base/fileio.h"
#include "engine/run/csvtab.h"
#include "engine/model/folder.h"

#include <string.h>
#include <math.h>
#include <csv.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *const H_METRICS = "time,stage,step,epoch,lr,loss_task,loss_kd,loss_total,"
                                     "teacher_loss,sparsity_target,sparsity,tokens_per_s,grad_norm\n";
static const char *const H_SPARSITY = "stage,step,layer,matrix,sparsity,target\n";
static const char *const H_EVAL = "time,stage,model,step,task,split,metric,value,loss,seq_per_s,speedup,sparsity\n";
static const char *const H_EVENTS = "time,stage,step,event,detail\n";
static const char *const H_CLASSES = "time,stage,model,step,task,split,class,positive,precision,recall,f1,"
                                     "support,predicted\n";
static const char *const H_CONFUSION = "time,stage,model,step,task,split,gold,predicted,count\n";

static void put_str(FILE *f, const char *s, int last)
{
	csv_fwrite(f, s, strlen(s));
	fputc(last ? '\n' : ',', f);
}

/* keeps the rows up to (stage, step): the stage named in column sc, the
 * step in column pc. pofa writes one record a line, so lines are kept byte
 * for byte; the file is rewritten atomically. */
static int truncate_csv(const char *path, const pofa_recipe *rc, int sc, int pc, int stage,
                        int64_t step, pofa_err *err)
{
	unsigned char *buf;
	size_t n;
	pofa_err e2;
	if (pofa_read_file(path, &buf, &n, (size_t)4 << 30, &e2))
		return POFA_OK;  /* nothing yet */
	unsigned char *out = malloc(n + 1);
	if (!out) {
		free(buf);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	size_t o = 0;
	long line = 0;
	int nfields = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		if (j < n)
			j++;
		int keep = 1;
		if (line++ == 0) {
			for (size_t k = i; k < j; k++)
				nfields += buf[k] == ',';
			nfields++;
		} else {
			pofa_csvtab t = { 0 };
			if (pofa_csvtab_parse(buf + i, j - i, &t)) {
				pofa_csvtab_free(&t);
				free(buf);
				free(out);
				return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			}
			if (t.n == 1 && t.nf[0] == nfields && buf[j - 1] == '\n') {
				int si = pofa_recipe_stage(rc, t.rows[0][sc]);
				int64_t st = atoll(t.rows[0][pc]);
				/* a stage resumed at step 0 starts again: none of its rows stay */
				keep = si >= 0 && (si < stage || (si == stage && step > 0 && st <= step));
			} else {
				keep = 0;   /* a torn last line from a crash */
			}
			pofa_csvtab_free(&t);
		}
		if (keep) {
			memcpy(out + o, buf + i, j - i);
			o += j - i;
		}
		i = j;
	}
	free(buf);
	int rcode = pofa_write_atomic(path, out, o, err);
	free(out);
	return rcode;
}

static FILE *open_csv(const char *dir, const char *name, const char *header, int append, pofa_err *err)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int exists = access(path, F_OK) == 0;
	FILE *f = fopen(path, append ? "a" : "w");
	if (!f) {
		pofa_error(err, POFA_ERR_RUN, "%s: cannot open for writing", path);
		return NULL;
	}
	if (!append || !exists) {
		fputs(header, f);
		fflush(f);
	}
	return f;
}

int pofa_runlog_open(pofa_runlog *l, const char *dir, const pofa_recipe *rc, int resume, int stage,
                     int64_t step, pofa_err *err)
{
	memset(l, 0, sizeof *l);
	snprintf(l->dir, sizeof l->dir, "%s", dir);
	l->rc = rc;
	if (resume) {
		char p[1200];
		snprintf(p, sizeof p, "%s/metrics.csv", dir);
		if (truncate_csv(p, rc, 1, 2, stage, step, err))
			return err->status;
		snprintf(p, sizeof p, "%s/sparsity.csv", dir);
		if (truncate_csv(p, rc, 0, 1, stage, step, err))
			return err->status;
		static const char *const by_eval[3] = { "eval.csv", "per_class.csv", "confusion.csv" };
		for (int k = 0; k < 3; k++) {
			snprintf(p, sizeof p, "%s/%s", dir, by_eval[k]);
			if (truncate_csv(p, rc, 1, 3, stage, step, err))
				return err->status;
		}
	}
	l->metrics = open_csv(dir, "metrics.csv", H_METRICS, resume, err);
	l->sparsity = l->metrics ? open_csv(dir, "sparsity.csv", H_SPARSITY, resume, err) : NULL;
	l->eval = l->sparsity ? open_csv(dir, "eval.csv", H_EVAL, resume, err) : NULL;
	l->events = l->eval ? open_csv(dir, "events.csv", H_EVENTS, resume, err) : NULL;
	l->classes = l->events ? open_csv(dir, "per_class.csv", H_CLASSES, resume, err) : NULL;
	l->confusion = l->classes ? open_csv(dir, "confusion.csv", H_CONFUSION, resume, err) : NULL;
	if (!l->confusion) {
		pofa_runlog_close(l);
		return err->status;
	}
	return POFA_OK;
}

void pofa_runlog_close(pofa_runlog *l)
{
	FILE *fs[6] = { l->metrics, l->sparsity, l->eval, l->events, l->classes, l->confusion };
	for (int k = 0; k < 6; k++)
		if (fs[k]) {
			fflush(fs[k]);
			fsync(fileno(fs[k]));
			fclose(fs[k]);
		}
	l->metrics = l->sparsity = l->eval = l->events = l->classes = l->confusion = NULL;
}

static void num(FILE *f, double v, int last)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	fputc(last ? '\n' : ',', f);
}

static void timestamp(char *out, size_t n, double t)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, n - k, ".%03dZ", (int)((t - (double)s) * 1000.0));
}

/* the columns every per-evaluation file begins with: time, stage, model,
 * step, task, split */
static void eval_head(FILE *f, const char *ts, const pofa_event *e)
{
	put_str(f, ts, 0);
	put_str(f, e->stage_name, 0);
	put_str(f, e->model, 0);
	fprintf(f, "%lld,", (long long)e->step);
	put_str(f, e->task, 0);
	put_str(f, e->split, 0);
}

void pofa_runlog_event(pofa_runlog *l, const pofa_event *e)
{
	char ts[48];
	timestamp(ts, sizeof ts, e->time);
	switch (e->kind) {
	case POFA_EV_METRICS: {
		FILE *f = l->metrics;
		put_str(f, ts, 0);
		put_str(f, e->stage_name, 0);
		fprintf(f, "%lld,%lld,", (long long)e->step, (long long)e->epoch);
		num(f, e->lr, 0);
		num(f, e->loss_task, 0);
		num(f, e->loss_kd, 0);
		num(f, e->loss_total, 0);
		num(f, e->teacher_loss, 0);
		num(f, e->sparsity_target, 0);
		num(f, e->sparsity, 0);
		num(f, e->tokens_per_s, 0);
		num(f, e->grad_norm, 1);
		fflush(f);
		return;
	}
	case POFA_EV_SPARSITY: {
		FILE *f = l->sparsity;
		put_str(f, e->stage_name, 0);
		fprintf(f, "%lld,", (long long)e->step);
		if (e->layer >= 0)
			fprintf(f, "%d,", e->layer);
		else
			fputs("pooler,", f);
		put_str(f, pofa_role_names[e->role], 0);
		num(f, e->sparsity, 0);
		num(f, e->sparsity_target, 1);
		/* a batch of rows per interval: flush on the last matrix */
		if (e->role == POFA_ROLE_POOLER)
			fflush(f);
		return;
	}
	case POFA_EV_EVAL: {
		FILE *f = l->eval;
		eval_head(f, ts, e);
		put_str(f, e->metric, 0);
		num(f, e->value, 0);
		num(f, e->loss, 0);
		if (e->seq_per_s > 0.0) {
			num(f, e->seq_per_s, 0);
			num(f, e->speedup, 0);
		} else {
			fputs(",,", f);
		}
		num(f, e->sparsity, 1);
		fflush(f);
		break;
	}
	case POFA_EV_CLASS: {
		FILE *f = l->classes;
		eval_head(f, ts, e);
		put_str(f, e->text, 0);
		fprintf(f, "%d,", e->positive);
		num(f, e->precision, 0);
		num(f, e->recall, 0);
		num(f, e->f1, 0);
		fprintf(f, "%lld,%lld\n", (long long)e->support, (long long)e->predicted);
		fflush(f);
		if (e->cls < 0 || e->cls >= 64 || e->ncls > 64)
			return;
		snprintf(l->cls_name[e->cls], sizeof l->cls_name[0], "%.63s", e->text);
		memcpy(l->cls_conf[e->cls], e->confusion, sizeof l->cls_conf[0]);
		if (e->cls != e->ncls - 1)
			return;
		/* the last class: the whole matrix, gold by predicted */
		f = l->confusion;
		for (int g = 0; g < e->ncls; g++)
			for (int p = 0; p < e->ncls; p++) {
				eval_head(f, ts, e);
				put_str(f, l->cls_name[g], 0);
				put_str(f, l->cls_name[p], 0);
				fprintf(f, "%d\n", (int)l->cls_conf[g][p]);
			}
		fflush(f);
		return;
	}
	default:
		break;
	}
	if (e->kind == POFA_EV_METRICS || e->kind == POFA_EV_SPARSITY || e->kind == POFA_EV_MASK ||
	    e->kind == POFA_EV_EVAL_PROGRESS)
		return;
	/* a checkpoint: the rows up to it go to the disk with it */
	if (e->kind == POFA_EV_CHECKPOINT) {
		FILE *fs[5] = { l->metrics, l->sparsity, l->eval, l->classes, l->confusion };
		for (int k = 0; k < 5; k++)
			if (fs[k] && !fflush(fs[k]))
				fsync(fileno(fs[k]));
	}
	/* everything else, and a line per evaluation, goes to events.csv */
	FILE *f = l->events;
	char detail[POFA_MASK_CELLS + 256];
	if (e->kind == POFA_EV_EVAL)
		snprintf(detail, sizeof detail, "%s %s %s %s = %.4f", e->model, e->task, e->split, e->metric, e->value);
	else if (e->kind == POFA_EV_PRUNE || e->kind == POFA_EV_SCHEDULE || e->kind == POFA_EV_LOG || e->kind == POFA_EV_ERROR ||
	         e->kind == POFA_EV_CHECKPOINT || e->kind == POFA_EV_EXPORT || e->kind == POFA_EV_STAGE_START ||
	         e->kind == POFA_EV_RUN_START || e->kind == POFA_EV_STAGE_END)
		snprintf(detail, sizeof detail, "%s", e->text);
	else if (e->kind == POFA_EV_RUN_END)
		snprintf(detail, sizeof detail, "exit status %d", e->status);
	else
		detail[0] = 0;
	put_str(f, ts, 0);
	put_str(f, e->stage >= 0 ? e->stage_name : "", 0);
	fprintf(f, "%lld,", (long long)e->step);
	put_str(f, pofa_ev_names[e->kind], 0);
	put_str(f, detail, 1);
	fflush(f);
}

int pofa_runlog_export(pofa_runlog *l, const char *dir, char *paths, size_t n, pofa_err *err)
{
	static const char *names[5] = { "metrics.csv", "sparsity.csv", "eval.csv", "per_class.csv", "confusion.csv" };
	FILE *fs[5] = { l->metrics, l->sparsity, l->eval, l->classes, l->confusion };
	int rc = pofa_mkdirs(dir, err);
	size_t o = 0;
	if (paths && n)
		paths[0] = 0;
	for (int k = 0; k < 5 && !rc; k++) {
		if (fs[k])
			fflush(fs[k]);
		char src[1200], dst[1200];
		snprintf(src, sizeof src, "%s/%s", l->dir, names[k]);
		snprintf(dst, sizeof dst, "%s/%s", dir, names[k]);
		unsigned char *buf;
		size_t len;
		rc = pofa_read_file(src, &buf, &len, (size_t)4 << 30, err);
		if (!rc) {
			rc = pofa_write_atomic(dst, buf, len, err);
			free(buf);
		}
		if (!rc && paths && o < n)
			o += (size_t)snprintf(paths + o, n - o, "%s%s", o ? " " : "", dst);
	}
	return rc;
}

/* ---- report.md ---------------------------------------------------------------- */

typedef struct {
	char model[48], task[64], split[8], metric[24];
	long long step;
	double value, loss, sps, speedup, sparsity;
	int shown;                /* in an eval stage's table */
} result;

/* does row r of a per-evaluation file count: a stage that selects (best
 * >= 0) keeps its own evaluation of the step it chose */
static int row_counts(const pofa_csvtab *t, int r, const pofa_recipe *rc, const int64_t *best_step)
{
	int si = pofa_recipe_stage(rc, t->rows[r][2]);
	return !(si >= 0 && best_step[si] >= 0 && !strcmp(t->rows[r][1], t->rows[r][2]) &&
	         atoll(t->rows[r][3]) != best_step[si]);
}

static int same_eval(const pofa_csvtab *t, int r, const pofa_csvtab *u, int q)
{
	for (int k = 1; k <= 5; k++)   /* stage, model, step, task, split */
		if (strcmp(t->rows[r][k], u->rows[q][k]))
			return 0;
	return 1;
}

/* per class, for the last evaluation of every (model, task, split): the
 * classes' precision, recall, F1, support and predictions, how many classes
 * the model predicts at all, and the confusion matrix (up to 20 classes) */
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
	int *last = calloc((size_t)pc.n + 1, sizeof *last), nl = 0;
	for (int r = 1; r < pc.n && last; r++) {
		if (pc.nf[r] < 13 || !row_counts(&pc, r, rc, best_step))
			continue;
		int k;
		for (k = 0; k < nl; k++)   /* (model, task, split) seen: this evaluation is later */
			if (!strcmp(pc.rows[last[k]][2], pc.rows[r][2]) && !strcmp(pc.rows[last[k]][4], pc.rows[r][4]) &&
			    !strcmp(pc.rows[last[k]][5], pc.rows[r][5]))
				break;
		if (k == nl)
			last[nl++] = r;
		else if (!same_eval(&pc, last[k], &pc, r))
			last[k] = r;
	}
	int any = 0;
	for (int k = 0; k < nl; k++) {
		int r0 = last[k], ncls = 0, npred = 0, pos = -1;
		for (int r = 1; r < pc.n; r++)
			if (pc.nf[r] >= 13 && same_eval(&pc, r, &pc, r0)) {
				ncls++;
				npred += atoll(pc.rows[r][12]) > 0;
				if (atoi(pc.rows[r][7]))
					pos = r;
			}
		if (!any)
			fprintf(f, "## Per class (the last evaluation of each model, task and split; per_class.csv and "
			        "confusion.csv hold every one)\n\n");
		any = 1;
		fprintf(f, "### %s on %s, %s split (%s%s, step %s)\n\n", pc.rows[r0][2], pc.rows[r0][4], pc.rows[r0][5],
		        strcmp(pc.rows[r0][1], pc.rows[r0][2]) ? "eval stage " : "its own dev evaluation",
		        strcmp(pc.rows[r0][1], pc.rows[r0][2]) ? pc.rows[r0][1] : "", pc.rows[r0][3]);
		fprintf(f, "Predicts %d of %d classes%s", npred, ncls, npred < ncls ? " (a class never predicted has "
		        "recall 0)" : "");
		if (pos > 0)
			fprintf(f, "; F1 is the positive class's: %s", pc.rows[pos][6]);
		fprintf(f, ".\n\n| class | precision | recall | F1 | support | predicted |\n|---|---|---|---|---|---|\n");
		for (int r = 1; r < pc.n; r++)
			if (pc.nf[r] >= 13 && same_eval(&pc, r, &pc, r0))
				fprintf(f, "| %s%s | %.2f | %.2f | %.2f | %s | %s |\n", pc.rows[r][6], r == pos ? " (positive)" : "",
				        atof(pc.rows[r][8]), atof(pc.rows[r][9]), atof(pc.rows[r][10]), pc.rows[r][11],
				        pc.rows[r][12]);
		fprintf(f, "\n");
		if (ncls > 20 || !cf.n)
			continue;
		/* the confusion matrix: gold in rows, predicted in columns */
		fprintf(f, "| gold \\ predicted |");
		for (int r = 1; r < pc.n; r++)
			if (pc.nf[r] >= 13 && same_eval(&pc, r, &pc, r0))
				fprintf(f, " %s |", pc.rows[r][6]);
		fprintf(f, "\n|---|");
		for (int c = 0; c < ncls; c++)
			fprintf(f, "---|");
		int col = 0;
		for (int q = 1; q < cf.n; q++) {
			if (cf.nf[q] < 9 || !same_eval(&cf, q, &pc, r0))
				continue;
			if (col % ncls == 0)
				fprintf(f, "\n| %s |", cf.rows[q][6]);
			fprintf(f, " %s |", cf.rows[q][8]);
			col++;
		}
		fprintf(f, "\n\n");
	}
	free(last);
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
				snprintf(steps, sizeof steps, "%s", ev.rows[r][2]);
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
		fprintf(f, "| %s | %s | %s | %s | %s | %d |\n", s->name, pofa_stage_kinds[s->kind], ended, steps, sp, edits);
		nedits += edits;
	}
	fprintf(f, "\n");
	if (nedits) {
		fprintf(f, "Live edits of the schedule (events.csv):\n\n");
		for (int r = 1; r < ev.n; r++)
			if (ev.nf[r] >= 5 && !strcmp(ev.rows[r][3], "schedule"))
				fprintf(f, "- %s at step %s: %s\n", ev.rows[r][1], ev.rows[r][2], ev.rows[r][4]);
		fprintf(f, "\n");
	}
	pofa_csvtab_free(&ev);
}

int pofa_runlog_report(const char *run_dir, const pofa_recipe *rc, pofa_err *err)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/eval.csv", run_dir);
	pofa_csvtab t;
	if (pofa_csvtab_read(path, &t))
		return pofa_error(err, POFA_ERR_RUN, "%s: cannot read", path);
	/* a stage that selects its best dev evaluation (select = best) keeps
	 * that step's model: its own rows of other steps are left out */
	int64_t best_step[POFA_MAX_STAGES];
	for (int i = 0; i < rc->nstages; i++) {
		const pofa_stage *st = &rc->stages[i];
		best_step[i] = -1;
		if (!st->select_best)
			continue;
		char metric[24] = "";
		snprintf(metric, sizeof metric, "%s", st->metric);
		double best = -INFINITY;
		for (int r = 1; r < t.n; r++) {
			if (t.nf[r] < 9 || strcmp(t.rows[r][1], st->name) || strcmp(t.rows[r][2], st->name) ||
			    !strcmp(t.rows[r][4], "mlm") || strcmp(t.rows[r][5], "dev"))
				continue;
			if (!metric[0])
				snprintf(metric, sizeof metric, "%s", t.rows[r][6]);   /* the main one comes first */
			int loss = !strcmp(metric, "loss");
			if (!loss && strcmp(t.rows[r][6], metric))
				continue;
			double v = loss ? -atof(t.rows[r][8]) : atof(t.rows[r][7]);
			if (v > best) {
				best = v;
				best_step[i] = atoll(t.rows[r][3]);
			}
		}
	}
	/* the last value of every (model, task, split, metric), in order */
	result *res = calloc((size_t)t.n + 1, sizeof *res);
	int nr = 0;
	for (int r = 1; r < t.n; r++) {
		if (t.nf[r] < 8)
			continue;
		int si = pofa_recipe_stage(rc, t.rows[r][2]);
		if (si >= 0 && best_step[si] >= 0 && !strcmp(t.rows[r][1], t.rows[r][2]) &&
		    atoll(t.rows[r][3]) != best_step[si])
			continue;
		result x;
		snprintf(x.model, sizeof x.model, "%s", t.rows[r][2]);
		snprintf(x.task, sizeof x.task, "%s", t.rows[r][4]);
		snprintf(x.split, sizeof x.split, "%s", t.rows[r][5]);
		snprintf(x.metric, sizeof x.metric, "%s", t.rows[r][6]);
		x.value = atof(t.rows[r][7]);
		x.step = atoll(t.rows[r][3]);
		x.loss = t.nf[r] >= 9 && t.rows[r][8][0] ? atof(t.rows[r][8]) : NAN;
		x.shown = 0;
		x.sps = t.nf[r] >= 11 ? atof(t.rows[r][9]) : 0.0;
		x.speedup = t.nf[r] >= 11 ? atof(t.rows[r][10]) : 0.0;
		x.sparsity = t.nf[r] >= 12 && t.rows[r][11][0] ? atof(t.rows[r][11]) : NAN;
		int k;
		for (k = 0; k < nr; k++)
			if (!strcmp(res[k].model, x.model) && !strcmp(res[k].task, x.task) &&
			    !strcmp(res[k].split, x.split) && !strcmp(res[k].metric, x.metric))
				break;
		res[k] = x;
		if (k == nr)
			nr++;
	}
	pofa_csvtab_free(&t);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	fprintf(f, "# %s: results\n\n", rc->name);
	fprintf(f, "Recipe `%s` (hash %016llx). Metrics in percent; losses are mean "
	        "cross-entropies. Sparsity counts the prunable matrices (encoder Linear weights "
	        "and the pooler), not the embeddings; model.safetensors stores zeros densely.\n\n",
	        rc->path, (unsigned long long)rc->hash);
	stages_report(f, run_dir, rc);
	/* one table per eval stage: its models on its task and splits, with the
	 * main metric (the first) as a percentage of the reference model */
	int evals[POFA_MAX_STAGES], ne = 0;
	for (int i = 0; i < rc->nstages; i++)
		if (rc->stages[i].kind == POFA_STAGE_EVAL)
			evals[ne++] = i;
	static const char *splits[3] = { "dev", "test", "train" };
	for (int q = 0; q < ne; q++) {
		const pofa_stage *es = &rc->stages[evals[q]];
		char models[32][48], ref[48] = "";
		int nm = 0;
		char tmp[512];
		snprintf(tmp, sizeof tmp, "%s", es->models);
		for (char *t = strtok(tmp, ", "); t && nm < 32; t = strtok(NULL, ", "))
			snprintf(models[nm++], 48, "%s", t);
		snprintf(ref, sizeof ref, "%s", es->reference[0] ? es->reference : models[0]);
		for (int sp = 0; sp < 3; sp++) {
			char metrics[8][24];
			int nmet = 0;
			for (int k = 0; k < nr; k++)
				if (!strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, splits[sp])) {
					int j;
					for (j = 0; j < nmet && strcmp(metrics[j], res[k].metric); j++)
						;
					if (j == nmet && nmet < 8)
						strcpy(metrics[nmet++], res[k].metric);
				}
			if (!nmet)
				continue;
			/* the speed columns, where the stage measured speed */
			int speed = 0;
			for (int k = 0; k < nr; k++)
				speed |= !strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, splits[sp]) &&
				         res[k].sps > 0.0;
			fprintf(f, "## %s, %s split (stage %s)\n\n| model |", es->task.name, splits[sp], es->name);
			for (int m = 0; m < nmet; m++)
				fprintf(f, " %s |", metrics[m]);
			fprintf(f, " %s, %% of %s | sparsity |%s\n|---|", metrics[0], ref,
			        speed ? " sequences/s | speed-up over dense |" : "");
			for (int m = 0; m <= nmet + 1 + 2 * speed; m++)
				fprintf(f, "---|");
			fprintf(f, "\n");
			for (int mi = 0; mi < nm; mi++) {
				fprintf(f, "| %s |", models[mi]);
				double v0 = NAN, r0 = NAN;
				for (int m = 0; m < nmet; m++) {
					double v = NAN;
					for (int k = 0; k < nr; k++)
						if (!strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, splits[sp]) &&
						    !strcmp(res[k].metric, metrics[m])) {
							if (!strcmp(res[k].model, models[mi]))
								v = res[k].value, res[k].shown = 1;
							if (m == 0 && !strcmp(res[k].model, ref))
								r0 = res[k].value;
						}
					if (m == 0)
						v0 = v;
					if (isfinite(v))
						fprintf(f, " %.2f |", v);
					else
						fprintf(f, " - |");
				}
				if (isfinite(v0) && isfinite(r0) && r0 > 0)
					fprintf(f, " %.1f%% |", 100.0 * v0 / r0);
				else
					fprintf(f, " - |");
				double sps = 0.0, up = 0.0, sparsity = NAN;
				for (int k = 0; k < nr; k++)
					if (!strcmp(res[k].task, es->task.name) && !strcmp(res[k].split, splits[sp]) &&
					    !strcmp(res[k].model, models[mi])) {
						if (isfinite(res[k].sparsity))
							sparsity = res[k].sparsity;
						if (res[k].sps > 0.0)
							sps = res[k].sps, up = res[k].speedup;
					}
				if (isfinite(sparsity))
					fprintf(f, " %.2f%% |", 100.0 * sparsity);
				else
					fprintf(f, " - |");
				if (speed && sps > 0.0)
					fprintf(f, " %.1f | %.2fx |", sps, up);
				else if (speed)
					fprintf(f, " - | - |");
				fprintf(f, "\n");
			}
			fprintf(f, "\n");
		}
	}
	/* several eval stages listing the same number of models: their k-th
	 * models side by side (the paper's table: one row per method) */
	int same = ne > 1;
	int counts[POFA_MAX_STAGES];
	for (int q = 0; q < ne; q++) {
		char tmp[512];
		snprintf(tmp, sizeof tmp, "%s", rc->stages[evals[q]].models);
		counts[q] = 0;
		for (char *t = strtok(tmp, ", "); t; t = strtok(NULL, ", "))
			counts[q]++;
		same = same && counts[q] == counts[0];
	}
	if (same) {
		/* speed columns where any eval stage measured speed */
		int speed = 0;
		for (int k = 0; k < nr; k++)
			speed |= !strcmp(res[k].split, "dev") && res[k].sps > 0.0;
		fprintf(f, "## Summary (dev): main metric, and %% of each task's reference%s\n\n| row |",
		        speed ? "; the speed-up over the dense model, the mean over the tasks" : "");
		for (int q = 0; q < ne; q++)
			fprintf(f, " %s |", rc->stages[evals[q]].task.name);
		fprintf(f, " mean %% of reference | sparsity |%s\n|---|", speed ? " speed-up over dense |" : "");
		for (int q = 0; q <= ne + 1 + speed; q++)
			fprintf(f, "---|");
		fprintf(f, "\n");
		for (int k = 0; k < counts[0]; k++) {
			double pct = 0.0, up = 0.0, sparsity = NAN;
			int npct = 0, nup = 0;
			char label[256] = "";
			for (int q = 0; q < ne; q++) {
				const pofa_stage *es = &rc->stages[evals[q]];
				char tmp[512], *t = NULL;
				snprintf(tmp, sizeof tmp, "%s", es->models);
				t = strtok(tmp, ", ");
				for (int c = 0; c < k && t; c++)
					t = strtok(NULL, ", ");
				char name[48];
				snprintf(name, sizeof name, "%s", t ? t : "");
				if (q == 0)
					snprintf(label, sizeof label, "%s", name);
				char ref[48];
				snprintf(tmp, sizeof tmp, "%s", es->models);
				snprintf(ref, sizeof ref, "%s", es->reference[0] ? es->reference : strtok(tmp, ", "));
				double v = NAN, r0 = NAN;
				const char *metric = NULL;
				for (int kk = 0; kk < nr; kk++)
					if (!strcmp(res[kk].task, es->task.name) && !strcmp(res[kk].split, "dev")) {
						if (!metric)
							metric = res[kk].metric; /* the task's first metric */
						if (strcmp(res[kk].metric, metric))
							continue;
						if (!strcmp(res[kk].model, name)) {
							v = res[kk].value;
							if (res[kk].sps > 0.0)
								up += res[kk].speedup, nup++;
							if (isfinite(res[kk].sparsity))
								sparsity = res[kk].sparsity;
						}
						if (!strcmp(res[kk].model, ref))
							r0 = res[kk].value;
					}
				if (q == 0)
					fprintf(f, "| %s |", label);
				if (isfinite(v) && isfinite(r0) && r0 > 0) {
					fprintf(f, " %.2f (%.1f%%) |", v, 100.0 * v / r0);
					pct += 100.0 * v / r0;
					npct++;
				} else {
					fprintf(f, " - |");
				}
			}
			if (npct)
				fprintf(f, " %.1f%% |", pct / npct);
			else
				fprintf(f, " - |");
			if (isfinite(sparsity))
				fprintf(f, " %.2f%% |", 100.0 * sparsity);
			else
				fprintf(f, " - |");
			if (speed && nup)
				fprintf(f, " %.2fx |", up / nup);
			else if (speed)
				fprintf(f, " - |");
			fprintf(f, "\n");
		}
		fprintf(f, "\n");
	}
	/* every other evaluation the run made: the dev evaluations of training
	 * stages (at their end, and every eval_interval), so a run without an
	 * eval stage still reports its results */
	int any = 0;
	for (int k = 0; k < nr; k++) {
		if (res[k].shown || !strcmp(res[k].task, "mlm"))
			continue;
		if (!any)
			fprintf(f, "## Evaluations by training stages (the last of each; with select = best, "
			        "the best, whose model the stage kept)\n\n"
			        "| model | task | split | step | metric | value | loss |\n|---|---|---|---|---|---|---|\n");
		any = 1;
		double loss = res[k].loss;
		fprintf(f, "| %s | %s | %s | %lld | %s | %.2f |", res[k].model, res[k].task, res[k].split, res[k].step,
		        res[k].metric, res[k].value);
		if (isfinite(loss))
			fprintf(f, " %.4f |\n", loss);
		else
			fprintf(f, " - |\n");
	}
	if (any)
		fprintf(f, "\n");
	per_class_report(f, run_dir, rc, best_step);
	/* pre-training: masked-LM dev loss and accuracy per stage */
	any = 0;
	for (int k = 0; k < nr; k++)
		if (!strcmp(res[k].task, "mlm")) {
			if (!any)
				fprintf(f, "## masked-LM (dev)\n\n| stage | metric | value |\n|---|---|---|\n");
			any = 1;
			fprintf(f, "| %s | %s | %.4f |\n", res[k].model, res[k].metric, res[k].value);
		}
	fclose(f);
	snprintf(path, sizeof path, "%s/report.md", run_dir);
	int rcode = pofa_write_atomic(path, buf, blen, err);
	free(buf);
	free(res);
	return rcode ? rcode : pofa_runlog_report_html(run_dir, rc, err);
}
