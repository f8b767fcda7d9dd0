/* runlog.c - a run's CSV files, export and report (see runlog.h). */
#include "engine/run/runlog.h"
#include "data/base/fileio.h"
#include "data/base/text.h"
#include "engine/run/csvtab.h"
#include "engine/model/folder.h"

#include <string.h>
#include <math.h>
#include <csv.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *const H_METRICS = "time,stage,step,epoch,lr,loss_task,loss_kd,loss_total,"
                                     "teacher_loss,sparsity_target,sparsity,tokens_per_s,grad_norm,loss_kd_hidden\n";
static const char *const H_SPARSITY = "stage,step,layer,matrix,sparsity,target\n";
static const char *const H_EVAL = "time,stage,model,step,task,split,metric,value,loss,seq_per_s,speedup,sparsity,"
                                  "size_mb\n";
static const char *const H_EVENTS = "time,stage,step,event,detail\n";
static const char *const H_CLASSES = "time,stage,model,step,task,split,class,positive,precision,recall,f1,"
                                     "support,predicted\n";
static const char *const H_CONFUSION = "time,stage,model,step,task,split,gold,predicted,count\n";

/* a text cell: quoted as RFC 4180 wants, a formula made text (text.h) */
static void put_str(FILE *f, const char *s, int last)
{
	pofa_csv_text(f, s, -1);
	fputc(last ? '\n' : ',', f);
}

/* keeps the rows up to (stage, step): the stage named in column sc, the
 * step in column pc (before: up to step - 1, for rows a resumed stage
 * writes again at its first step). pofa writes one record a line, so lines
 * are kept byte for byte; the file is rewritten atomically. */
static int truncate_csv(const char *path, const pofa_recipe *rc, int sc, int pc, int stage,
                        int64_t step, int before, pofa_err *err)
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
				keep = si >= 0 && (si < stage || (si == stage && step > 0 && st <= step - before));
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
		if (truncate_csv(p, rc, 1, 2, stage, step, 0, err))
			return err->status;
		/* a logged step's sparsity rows come after its pruning, which a
		 * resumed stage does first: written again */
		snprintf(p, sizeof p, "%s/sparsity.csv", dir);
		if (truncate_csv(p, rc, 0, 1, stage, step, 1, err))
			return err->status;
		static const char *const by_eval[3] = { "eval.csv", "per_class.csv", "confusion.csv" };
		for (int k = 0; k < 3; k++) {
			snprintf(p, sizeof p, "%s/%s", dir, by_eval[k]);
			if (truncate_csv(p, rc, 1, 3, stage, step, 0, err))
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
		num(f, e->grad_norm, 0);
		num(f, e->loss_kd_hidden, 1);
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
		num(f, e->sparsity, 0);
		if (e->size_mb > 0.0)
			num(f, e->size_mb, 1);
		else
			fputc('\n', f);
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
