/*
 * test_run.c - the engine thread as a front end sees it: the event stream
 * and the command queue. Pause blocks the run, a schedule edit changes the
 * pruning target, skip ends a stage, export and checkpoint answer, stop
 * leaves a run that --resume continues.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "data/build/datasets.h"
#include "engine/run/run.h"
#include "engine/run/runlog.h"
#include "engine/model/folder.h"
#include "data/text/vocab.h"
#include "data/base/fileio.h"

static char dir[256];

static int setup(void **st)
{
	(void)st;
	const char *d = fx_tmpdir("run");
	if (!d)
		return -1;
	snprintf(dir, sizeof dir, "%s", d);
	pofa_err err;
	char p[512];
	pofa_gcide_stats gs;
	pofa_wn_stats ws;
	pofa_vocab_stats vs;
	snprintf(p, sizeof p, "%s/data/corpus.txt", dir);
	pofa_mkdirs(strcat(strcpy((char[512]){ 0 }, dir), "/data"), &err);
	if (pofa_gcide_build(GCIDE_DICT, GCIDE_INDEX, p, 300, NULL, &gs, &err))
		return -1;
	char v[512];
	snprintf(v, sizeof v, "%s/data/vocab.txt", dir);
	if (pofa_vocab_train(p, 600, v, &vs, &err))
		return -1;
	snprintf(p, sizeof p, "%s/data", dir);
	return pofa_wordnet_build(WORDNET_DIR, p, 300, NULL, &ws, &err) ? -1 : 0;
}

static int teardown(void **st)
{
	(void)st;
	return fx_tmpdir_remove();
}

/* the test recipe; set: one override (section.key=value) or NULL */
static void recipe(pofa_recipe *r, const char *extra_prune, const char *set)
{
	char path[512], text[4096];
	snprintf(path, sizeof path, "%s/r.ini", dir);
	snprintf(text, sizeof text,
	         "[run]\nname = t\nthreads = 2\nlog_interval = 2\ncheckpoint_interval = 10\n"
	         "[model]\npreset = bert-tiny\nmax_position = 32\n[data]\ndir = %s/data\n"
	         "[stage pre]\nkind = mlm\nsteps = 6\nbatch = 4\nseq = 24\nlr = 1e-3\n"
	         "[stage p]\nkind = prune\nfrom = pre\nteacher = pre\nsteps = 400\nbatch = 4\nseq = 24\n"
	         "final_sparsity = 0.9\nend = 0.5\nevery = 2\nfreeze = 0.9\n%s"
	         "[stage ft]\nkind = finetune\nfrom = p\ntask = wn-pair\nsteps = 4\nbatch = 4\nseq = 24\n",
	         dir, extra_prune);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	pofa_err err;
	if (pofa_recipe_load(path, &set, set ? 1 : 0, r, &err))
		fail_msg("%s", err.msg);
}

typedef struct { int stage; int64_t step; double task, kd, total, target; } metrics_row;

/* rows equal to the last bit, field by field (a memcmp of the whole
 * struct would also compare its padding, which assignments leave unset) */
static int row_differs(const metrics_row *a, const metrics_row *b)
{
	return a->stage != b->stage || a->step != b->step || memcmp(&a->task, &b->task, sizeof a->task) ||
	       memcmp(&a->kd, &b->kd, sizeof a->kd) || memcmp(&a->total, &b->total, sizeof a->total) ||
	       memcmp(&a->target, &b->target, sizeof a->target);
}

typedef struct {
	pofa_run *r;
	pofa_runlog log;
	pofa_event ev[256];
	int64_t last_step;
	int last_stage;
	int ended, status;
	int stage_status[8];
	int schedule_events, export_events, checkpoints, pauses, resumes, masks;
	int mask_rows, mask_cols;
	double sparsity;
	pofa_schedule sched;       /* as the last stage start or edit told it */
	int64_t pause_step;
	int64_t ck_step;           /* the last checkpoint's step (stage ck_stage) */
	int ck_stage, ck_twice;    /* checkpoints written again at the same step */
	/* the metrics rows: stage, step and the three losses */
	metrics_row rows[256];
	int nrows;
	/* the dev evaluations' main rows: stage, step, loss */
	struct { int stage; int64_t step; double loss; } evals[128];
	int nevals;
	int early_stops;
	int progress;              /* evaluation progress events */
	int64_t progress_done, progress_total;
	int progress_stage;
	struct { int stage; int64_t step; double target, reached; } prunes[256];
	int nprunes;
	char pause_text[200];
	char last_text[1300];
} watch;

/* drains events for up to ms milliseconds, or until pred holds */
static void pump(watch *w, int ms, int (*pred)(watch *))
{
	for (int t = 0; t < ms && !w->ended; t += 20) {
		struct pollfd p = { .fd = pofa_run_wakefd(w->r), .events = POLLIN };
		poll(&p, 1, 20);
		int n;
		while ((n = pofa_run_events(w->r, w->ev, 256)) > 0)
			for (int k = 0; k < n; k++) {
				pofa_event *e = &w->ev[k];
				pofa_runlog_event(&w->log, e);
				if (e->kind == POFA_EV_METRICS && w->nrows < 256)
					w->rows[w->nrows++] = (metrics_row){ e->stage, e->step, e->loss_task, e->loss_kd,
					                                            e->loss_total, e->sparsity_target };
				if (e->kind == POFA_EV_PAUSE) {
					w->pause_step = e->step;
					snprintf(w->pause_text, sizeof w->pause_text, "%s", e->text);
				}
				if (e->kind == POFA_EV_PRUNE && w->nprunes < 256) {
					w->prunes[w->nprunes].stage = e->stage;
					w->prunes[w->nprunes].step = e->step;
					w->prunes[w->nprunes].target = e->sparsity_target;
					w->prunes[w->nprunes++].reached = e->sparsity;
				}
				if (e->kind == POFA_EV_EVAL_PROGRESS) {
					w->progress++;
					w->progress_done = e->step;
					w->progress_total = e->total;
					w->progress_stage = e->stage;
				}
				if (e->kind == POFA_EV_EVAL && !strcmp(e->metric, "accuracy") && w->nevals < 128) {
					w->evals[w->nevals].stage = e->stage;
					w->evals[w->nevals].step = e->step;
					w->evals[w->nevals++].loss = e->loss;
				}
				if (e->kind == POFA_EV_LOG && strstr(e->text, "early stop at step"))
					w->early_stops++;
				if (e->kind == POFA_EV_METRICS) {
					w->last_step = e->step;
					w->last_stage = e->stage;
					w->sparsity = e->sparsity;
				}
				if (e->kind == POFA_EV_STAGE_END)
					w->stage_status[e->stage] = e->status;
				w->schedule_events += e->kind == POFA_EV_SCHEDULE;
				if (e->kind == POFA_EV_SCHEDULE || e->kind == POFA_EV_STAGE_START)
					w->sched = e->sched;
				w->export_events += e->kind == POFA_EV_EXPORT;
				w->checkpoints += e->kind == POFA_EV_CHECKPOINT;
				if (e->kind == POFA_EV_CHECKPOINT) {
					w->ck_twice += w->checkpoints > 1 && e->stage == w->ck_stage && e->step == w->ck_step;
					w->ck_stage = e->stage;
					w->ck_step = e->step;
				}
				w->pauses += e->kind == POFA_EV_PAUSE;
				w->resumes += e->kind == POFA_EV_RESUME;
				if (e->kind == POFA_EV_MASK) {
					w->masks++;
					w->mask_rows = e->rows;
					w->mask_cols = e->cols;
				}
				if (e->kind == POFA_EV_LOG || e->kind == POFA_EV_SCHEDULE || e->kind == POFA_EV_ERROR)
					snprintf(w->last_text, sizeof w->last_text, "%s", e->text);
				if (e->kind == POFA_EV_RUN_END) {
					w->ended = 1;
					w->status = e->status;
				}
			}
		if (pred && pred(w))
			return;
	}
}

/* a new run in rd, its CSV logs open and its engine thread started */
static void start_fresh(watch *w, pofa_recipe *rc, const char *rd)
{
	pofa_err err;
	memset(w, 0, sizeof *w);
	w->last_stage = -1;
	w->r = pofa_run_new(rc, rd, 0, &err);
	assert_non_null(w->r);
	assert_int_equal(pofa_runlog_open(&w->log, rd, pofa_run_recipe(w->r), 0, 0, 0, &err), 0);
	assert_int_equal(pofa_run_start(w->r, &err), 0);
}

static int in_prune(watch *w) { return w->last_stage == 1 && w->last_step >= 20; }
static int paused(watch *w) { return w->pauses > 0; }
static int resumed(watch *w) { return w->resumes > 0; }
static int edited(watch *w) { return w->schedule_events > 0 || strstr(w->last_text, "refused") != NULL; }
static int exported(watch *w) { return w->export_events > 0; }
static int mapped(watch *w) { return w->masks > 0; }
static int refused(watch *w) { return strstr(w->last_text, "refused") != NULL; }
static int checkpointed(watch *w) { return w->checkpoints > 0; }

static void send(watch *w, int kind)
{
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = kind;
	pofa_run_command(w->r, &c);
}

/* a file's text, NUL-terminated */
static char *read_text(const char *path)
{
	size_t n;
	unsigned char *b = fx_slurp(path, &n);
	b = realloc(b, n + 1);
	b[n] = 0;
	return (char *)b;
}

/* sends an edit the engine must refuse, and checks its words */
static void expect_refused(watch *w, pofa_command *c, const char *words)
{
	w->last_text[0] = 0;
	pofa_run_command(w->r, c);
	pump(w, 10000, refused);
	if (!strstr(w->last_text, words))
		fail_msg("expected \"%s\", got: %s", words, w->last_text);
}

static void test_commands(void **st)
{
	(void)st;
	pofa_recipe rc;
	recipe(&rc, "", NULL);
	char rd[512];
	snprintf(rd, sizeof rd, "%s/run1", dir);
	pofa_err err;
	watch w;
	start_fresh(&w, &rc, rd);
	pump(&w, 600000, in_prune);
	assert_true(in_prune(&w));

	/* pause: the step counter stops */
	send(&w, POFA_CMD_PAUSE);
	pump(&w, 5000, paused);
	assert_int_equal(w.pauses, 1);
	pump(&w, 200, NULL);
	int64_t at = w.last_step;
	pump(&w, 1000, NULL);
	if (w.last_step != at)
		fail_msg("paused at step %lld, but it moved to %lld", (long long)at, (long long)w.last_step);
	/* a schedule edit while paused: refused below what is pruned, then taken */
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_SCHEDULE;
	c.edit.set = POFA_EDIT_FINAL_SPARSITY;
	c.edit.final_sparsity = 0.001f;
	pofa_run_command(w.r, &c);
	pump(&w, 3000, edited);
	assert_non_null(strstr(w.last_text, "refused"));
	assert_int_equal(w.schedule_events, 0);
	c.edit.final_sparsity = 0.5f;
	c.edit.set = POFA_EDIT_FINAL_SPARSITY | POFA_EDIT_END;
	c.edit.end = 100;
	pofa_run_command(w.r, &c);
	pump(&w, 3000, edited);
	assert_int_equal(w.schedule_events, 1);
	/* the schedule reaches a front end by events only */
	assert_true(w.sched.s_final == 0.5f);
	assert_int_equal(w.sched.t1, 100);
	/* an edit the recipe's validator refuses is refused live, with its words */
	c.edit.set = POFA_EDIT_START | POFA_EDIT_END;
	c.edit.start = 300;
	c.edit.end = 200;
	expect_refused(&w, &c, "refused: end (step 200) is before start (step 300)");
	/* freeze before end would stop pruning short of the target; every = 0
	 * never prunes: both refused live as in a recipe */
	c.edit.set = POFA_EDIT_FREEZE;
	c.edit.freeze = 90;
	expect_refused(&w, &c, "refused: freeze (step 90) is before end (step 100)");
	c.edit.set = POFA_EDIT_EVERY;
	c.edit.every = 0;
	expect_refused(&w, &c, "refused: every = 0");
	assert_int_equal(w.schedule_events, 1);
	/* a mask map at the size the front end asks for */
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_MASKMAP;
	c.layer = 0;
	c.role = POFA_ROLE_FFN_IN;
	c.rows = 5;
	c.cols = 7;
	pofa_run_command(w.r, &c);
	pump(&w, 10000, mapped);
	assert_int_equal(w.masks, 1);
	assert_int_equal(w.mask_rows, 5);
	assert_int_equal(w.mask_cols, 7);
	/* export answers while paused */
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_EXPORT;
	snprintf(c.path, sizeof c.path, "%s/export", dir);
	pofa_run_command(w.r, &c);
	pump(&w, 3000, exported);
	assert_int_equal(w.export_events, 1);
	char paths[2000];
	assert_int_equal(pofa_runlog_export(&w.log, c.path, paths, sizeof paths, &err), 0);
	char p[600];
	snprintf(p, sizeof p, "%s/export/metrics.csv", dir);
	assert_int_equal(access(p, R_OK), 0);
	/* resume: it moves again */
	send(&w, POFA_CMD_RESUME);
	pump(&w, 5000, resumed);
	int64_t before = w.last_step;
	pump(&w, 3000, NULL);
	assert_true(w.last_step > before);
	/* the sparsity follows the new target: 0.5 by step 100 */
	while (!w.ended && w.last_step < 110)
		pump(&w, 1000, NULL);
	if (!(w.sparsity > 0.49 && w.sparsity < 0.51))
		fail_msg("after the edit to 0.5 the sparsity at step %lld is %.4f", (long long)w.last_step, w.sparsity);
	/* checkpoint on demand */
	send(&w, POFA_CMD_CHECKPOINT);
	pump(&w, 5000, checkpointed);
	assert_true(w.checkpoints >= 1);
	/* skip the prune stage: it ends skipped, the run goes on and ends well */
	send(&w, POFA_CMD_SKIP);
	pump(&w, 600000, NULL);
	assert_true(w.ended);
	assert_int_equal(w.status, 0);
	assert_int_equal(w.stage_status[1], POFA_STAGE_SKIPPED);
	assert_int_equal(w.stage_status[2], POFA_STAGE_DONE);
	pofa_run_join(w.r);
	pofa_runlog_close(&w.log);
	/* events.csv recorded the edit */
	snprintf(p, sizeof p, "%s/events.csv", rd);
	FILE *f = fopen(p, "r");
	char line[2048];
	int found = 0;
	long long skip_row = -1, skip_said = -1;
	while (f && fgets(line, sizeof line, f)) {
		found |= strstr(line, "\"schedule\",\"final_sparsity=0.5 end=100\"") != NULL;
		/* the row of the skip carries the step it happened at */
		const char *k = strstr(line, "stage skipped at step ");
		if (k) {
			sscanf(k, "stage skipped at step %lld", &skip_said);
			const char *c = strchr(line, ',');       /* after the time */
			c = c ? strchr(c + 1, ',') : NULL;      /* after the stage */
			skip_row = c ? atoll(c + 1) : -1;
		}
	}
	fclose(f);
	assert_true(found);
	if (skip_said <= 0 || skip_row != skip_said)
		fail_msg("events.csv: the skip's row says step %lld, its text step %lld (expected equal, > 0)", skip_row,
		         skip_said);
	/* report.html marks the live edit on the prune stage's schedule chart */
	if (pofa_runlog_report(rd, &rc, &err))
		fail_msg("%s", err.msg);
	/* report.md: each stage, how it ended, its model's sparsity, and the
	 * live edit */
	snprintf(p, sizeof p, "%s/report.md", rd);
	char *md = read_text(p);
	if (!strstr(md, "| p | prune | skipped | ") || !strstr(md, "| ft | finetune | done | ") ||
	    !strstr(md, "- p at step ") || !strstr(md, ": final_sparsity=0.5 end=100"))
		fail_msg("report.md: expected the stages table (p skipped, ft done) and p's live edit; got\n%s", md);
	const char *prow = strstr(md, "| p | prune | skipped | ");
	double psp = -1;
	if (sscanf(prow + strlen("| p | prune | skipped | "), "%*d | %lf%%", &psp) != 1 || !(psp > 40 && psp < 60))
		fail_msg("report.md: p's sparsity %.2f%% (expected about 50%%, the edited target)", psp);
	free(md);
	snprintf(p, sizeof p, "%s/report.html", rd);
	char *html = read_text(p);
	const char *sched = strstr(html, "id=\"schedule-p\"");
	if (!sched || !strstr(sched, "live edit at step") || !strstr(sched, "final_sparsity=0.5 end=100"))
		fail_msg("report.html: no schedule chart of stage p with the live edit final_sparsity=0.5 end=100 marked");
	free(html);
	pofa_run_free(w.r);
	pofa_recipe_free(&rc);
}

static int started(watch *w) { return w->last_stage == 1 && w->last_step >= 12; }

/* the rows of a stopped run up to its stop, then those of its resumed
 * part, are the rows of the uninterrupted run, to the last bit */
static void expect_same_rows(const watch *ref, const watch *a, int64_t stop_stage, int64_t stop_step,
                             const watch *b)
{
	int k = 0;
	for (int i = 0; i < a->nrows; i++)
		if (a->rows[i].stage < stop_stage || (a->rows[i].stage == stop_stage && a->rows[i].step <= stop_step)) {
			if (k >= ref->nrows || row_differs(&a->rows[i], &ref->rows[k]))
				fail_msg("row %d (stage %d step %lld) differs from the uninterrupted run's", k, a->rows[i].stage,
				         (long long)a->rows[i].step);
			k++;
		}
	for (int i = 0; i < b->nrows; i++, k++)
		if (k >= ref->nrows || row_differs(&b->rows[i], &ref->rows[k]))
			fail_msg("after the resume at stage %lld step %lld, row %d (stage %d step %lld): losses task %.9g kd "
			         "%.9g total %.9g, target %.9g; uninterrupted %.9g %.9g %.9g, %.9g", (long long)stop_stage,
			         (long long)stop_step, k, b->rows[i].stage, (long long)b->rows[i].step, b->rows[i].task,
			         b->rows[i].kd, b->rows[i].total, b->rows[i].target, k < ref->nrows ? ref->rows[k].task : NAN,
			         k < ref->nrows ? ref->rows[k].kd : NAN, k < ref->nrows ? ref->rows[k].total : NAN,
			         k < ref->nrows ? ref->rows[k].target : NAN);
	if (k != ref->nrows)
		fail_msg("%d rows after the resume, %d uninterrupted", k, ref->nrows);
}

/* stop writes a checkpoint, between two metrics rows; a resumed run ends
 * where the full one does, with the same rows */
static int checkpointed_again(watch *w) { return w->ck_twice > 0; }

/* a stop at a step whose checkpoint was just written writes no second one
 * (two 100 ms apart before); c at that step says the one there is */
static void test_stop_after_checkpoint(void **st)
{
	(void)st;
	pofa_recipe rc;
	recipe(&rc, "", "run.checkpoint_interval=2");   /* a checkpoint at every metrics row */
	char rd[512];
	snprintf(rd, sizeof rd, "%s/run-ck", dir);
	static watch w;
	start_fresh(&w, &rc, rd);
	pump(&w, 600000, in_prune);
	for (int tries = 0; tries < 50; tries++) {
		w.pauses = 0;
		send(&w, POFA_CMD_PAUSE);
		pump(&w, 10000, paused);
		if (w.pause_step % 2 == 0 && w.ck_step == w.pause_step && w.last_stage == 1)
			break;
		w.resumes = 0;
		send(&w, POFA_CMD_RESUME);
		pump(&w, 10000, resumed);
		pump(&w, 30, NULL);
	}
	if (w.pause_step % 2 || w.ck_step != w.pause_step)
		fail_msg("no pause right after a checkpoint in 50 tries (paused at %lld, checkpoint at %lld)",
		         (long long)w.pause_step, (long long)w.ck_step);
	int before = w.checkpoints;
	send(&w, POFA_CMD_CHECKPOINT);   /* said again, not written again */
	pump(&w, 600000, checkpointed_again);
	send(&w, POFA_CMD_STOP);
	pump(&w, 600000, NULL);
	assert_true(w.ended);
	assert_int_equal(w.status, 3);
	char path[700];
	snprintf(path, sizeof path, "%s/p", rd);
	int folders = 0;
	DIR *d = opendir(path);
	for (struct dirent *de; d && (de = readdir(d));)
		folders += !strncmp(de->d_name, "checkpoint-", 11);
	if (d)
		closedir(d);
	if (w.checkpoints != before + 1 || folders != 1)
		fail_msg("after the checkpoint at step %lld: %d more checkpoint events (expected 1: c's answer), %d "
		         "checkpoint folders (expected 1)", (long long)w.ck_step, w.checkpoints - before, folders);
	pofa_run_join(w.r);
	pofa_runlog_close(&w.log);
	pofa_run_free(w.r);
}

static void test_stop_and_resume(void **st)
{
	(void)st;
	pofa_recipe rc;
	recipe(&rc, "", "p.steps=40");   /* in the recipe as run, so a resume runs it too */
	char rd[512], ref_dir[512];
	snprintf(rd, sizeof rd, "%s/run2", dir);
	snprintf(ref_dir, sizeof ref_dir, "%s/run2-ref", dir);
	pofa_err err;
	static watch ref, w, w2;
	start_fresh(&ref, &rc, ref_dir);
	pump(&ref, 600000, NULL);
	assert_true(ref.ended);
	pofa_run_join(ref.r);
	pofa_runlog_close(&ref.log);
	pofa_run_free(ref.r);

	start_fresh(&w, &rc, rd);
	pump(&w, 600000, started);
	/* the folder is locked while the run is open: a second run, new or
	 * resumed, is refused with the holder's pid */
	for (int resume = 0; resume < 2; resume++) {
		pofa_err e2 = { 0 };
		pofa_run *r2 = pofa_run_new(&rc, rd, resume, &e2);
		if (r2)
			fail_msg("a second run in %s was accepted (resume %d)", rd, resume);
		char want[64];
		snprintf(want, sizeof want, "in use by another pofa (pid %ld)", (long)getpid());
		if (e2.status != POFA_ERR_INPUT || !strstr(e2.msg, want))
			fail_msg("expected status 2 and \"%s\", got %d: %s", want, e2.status, e2.msg);
	}
	/* stop between two metrics rows (log_interval 2: an odd step), where
	 * the interval's sums are half made */
	for (int tries = 0; tries < 50; tries++) {
		w.pauses = 0;
		send(&w, POFA_CMD_PAUSE);
		pump(&w, 10000, paused);
		if (w.pause_step % 2)
			break;
		w.resumes = 0;
		send(&w, POFA_CMD_RESUME);
		pump(&w, 10000, resumed);
		pump(&w, 30, NULL);
	}
	int64_t stop_step = w.pause_step;
	if (stop_step % 2 == 0)
		fail_msg("no odd step to stop at in 50 tries");
	send(&w, POFA_CMD_STOP);
	pump(&w, 600000, NULL);
	assert_true(w.ended);
	assert_int_equal(w.status, 3);   /* the run's end says stopped, as pofa run's exit status will */
	assert_int_equal(w.stage_status[1], POFA_STAGE_STOPPED);
	pofa_run_join(w.r);
	pofa_runlog_close(&w.log);
	pofa_run_free(w.r);

	/* resume from the folder */
	char rp[600];
	snprintf(rp, sizeof rp, "%s/recipe.ini", rd);
	pofa_recipe rr;
	assert_int_equal(pofa_recipe_load(rp, NULL, 0, &rr, &err), 0);
	memset(&w2, 0, sizeof w2);
	w2.r = pofa_run_new(&rr, rd, POFA_RUN_RESUME, &err);
	if (!w2.r)
		fail_msg("%s", err.msg);
	int stg;
	int64_t stp;
	pofa_run_resume_point(w2.r, &stg, &stp);
	assert_int_equal(stg, 1);
	assert_int_equal(stp, stop_step);
	assert_int_equal(pofa_runlog_open(&w2.log, rd, pofa_run_recipe(w2.r), 1, stg, stp, &err), 0);
	assert_int_equal(pofa_run_start(w2.r, &err), 0);
	pump(&w2, 600000, NULL);   /* generous: sanitizer builds are slow */
	assert_true(w2.ended);
	assert_int_equal(w2.status, 0);
	assert_int_equal(w2.stage_status[1], POFA_STAGE_DONE);
	assert_int_equal(w2.stage_status[2], POFA_STAGE_DONE);
	pofa_run_join(w2.r);
	pofa_runlog_close(&w2.log);
	pofa_run_free(w2.r);
	expect_same_rows(&ref, &w, 1, stop_step, &w2);
	pofa_recipe_free(&rr);
	pofa_recipe_free(&rc);
}

/* runs the recipe text to its end in rd; the rows of the stage named
 * stage go to w */
static void run_text(watch *w, const char *text, const char *rd, const char *name, const char *stage)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s.ini", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	pofa_recipe rc;
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &rc, &err))
		fail_msg("%s", err.msg);
	start_fresh(w, &rc, rd);
	pump(w, 600000, NULL);
	assert_true(w->ended);
	assert_int_equal(w->status, 0);
	pofa_run_join(w->r);
	pofa_runlog_close(&w->log);
	pofa_run_free(w->r);
	/* keep the named stage's rows only, numbered 0 */
	int si = pofa_recipe_stage(&rc, stage), k = 0;
	for (int i = 0; i < w->nrows; i++)
		if (w->rows[i].stage == si) {
			w->rows[k] = w->rows[i];
			w->rows[k++].stage = 0;
		}
	w->nrows = k;
	pofa_recipe_free(&rc);
}

/* a stage's seed comes from the run's seed and the stage's name: moving a
 * stage, or adding one before it, leaves its result as it was */
static void test_stage_seed_by_name(void **st)
{
	(void)st;
	static const char *head = "[run]\nname = s\nthreads = 2\nlog_interval = 1\n"
	                          "[model]\npreset = bert-tiny\nmax_position = 32\n[data]\ndir = %s/data\n";
	static const char *pre = "[stage pre]\nkind = mlm\nsteps = 2\nbatch = 4\nseq = 24\n";
	static const char *other = "[stage other]\nkind = mlm\nsteps = 2\nbatch = 4\nseq = 24\n";
	/* dropout on, so the stage's dropout seed counts; a finetune stage, so
	 * its head's initialisation and its data order count too */
	static const char *ft = "[stage ft]\nkind = finetune\nfrom = pre\ntask = wn-pair\nsteps = 4\n"
	                        "batch = 4\nseq = 24\nlr = 1e-3\nhidden_dropout = 0.1\n";
	char h[600], t1[2048], t2[2048], rd1[512], rd2[512];
	snprintf(h, sizeof h, head, dir);
	snprintf(t1, sizeof t1, "%s%s%s", h, pre, ft);
	snprintf(t2, sizeof t2, "%s%s%s%s", h, other, pre, ft);
	snprintf(rd1, sizeof rd1, "%s/seed1", dir);
	snprintf(rd2, sizeof rd2, "%s/seed2", dir);
	static watch a, b;
	run_text(&a, t1, rd1, "seed1", "ft");
	run_text(&b, t2, rd2, "seed2", "ft");
	assert_int_equal(a.nrows, 4);
	assert_int_equal(b.nrows, 4);
	for (int i = 0; i < a.nrows; i++)
		if (row_differs(&a.rows[i], &b.rows[i]))
			fail_msg("stage ft step %lld: loss %.9g as the second stage, %.9g as the third (expected the same)",
			         (long long)a.rows[i].step, a.rows[i].total, b.rows[i].total);
}

/* select = best keeps the model of the best dev evaluation (here by
 * loss), records its step in training.json; patience stops the stage
 * after that many evaluations without a better one */
static void test_select_best_and_patience(void **st)
{
	(void)st;
	static const char *text =
		"[run]\nname = sel\nthreads = 2\nlog_interval = 4\n"
		"[model]\npreset = bert-tiny\nmax_position = 32\n[data]\ndir = %s/data\n"
		"[stage pre]\nkind = mlm\nsteps = 2\nbatch = 4\nseq = 24\n"
		"[stage ft]\nkind = finetune\nfrom = pre\ntask = wn-pair\nsteps = 48\nbatch = 4\nseq = 24\n"
		"lr = 5e-3\nwarmup = 0\neval_interval = 4\nselect = best\nmetric = loss\n%s";
	char t1[2048], t2[2048], rd1[512], rd2[512], ft[600];
	snprintf(t1, sizeof t1, text, dir, "");
	snprintf(t2, sizeof t2, text, dir, "patience = 2\n");
	snprintf(rd1, sizeof rd1, "%s/sel1", dir);
	snprintf(rd2, sizeof rd2, "%s/sel2", dir);
	static watch a, b;
	run_text(&a, t1, rd1, "sel1", "ft");
	/* the best evaluation: the lowest loss, the first of equals */
	int64_t best = -1, last = -1;
	double lo = INFINITY;
	for (int k = 0; k < a.nevals; k++)
		if (a.evals[k].stage == 1) {
			if (a.evals[k].loss < lo)
				lo = a.evals[k].loss, best = a.evals[k].step;
			last = a.evals[k].step;
		}
	assert_int_equal(last, 48);
	if (best == last)
		fail_msg("the last evaluation (step %lld) is the best: nothing to select here", (long long)last);
	pofa_trained tr;
	pofa_err err;
	snprintf(ft, sizeof ft, "%s/ft", rd1);
	assert_int_equal(pofa_trained_load(ft, &tr, &err), 0);
	if (tr.step != best)
		fail_msg("ft/training.json says step %lld; the best dev loss (%.6f) was at step %lld", (long long)tr.step,
		         lo, (long long)best);
	/* patience 2: the stage ends at the second evaluation without a better
	 * loss than the best so far */
	int64_t want = -1;
	double b0 = INFINITY;
	int since = 0;
	for (int k = 0; k < a.nevals && want < 0; k++) {
		if (a.evals[k].stage != 1)
			continue;
		if (a.evals[k].loss < b0)
			b0 = a.evals[k].loss, since = 0;
		else if (++since == 2)
			want = a.evals[k].step;
	}
	if (want < 0 || want >= 48)
		fail_msg("no early stop to test: the loss kept improving");
	run_text(&b, t2, rd2, "sel2", "ft");
	assert_int_equal(b.early_stops, 1);
	if (b.rows[b.nrows - 1].step != want)
		fail_msg("patience 2 stopped at step %lld, expected %lld", (long long)b.rows[b.nrows - 1].step,
		         (long long)want);
	/* the evaluations up to the stop are the first run's */
	int kb = 0;
	for (int k = 0; k < a.nevals && kb < b.nevals; k++)
		if (a.evals[k].stage == 1) {
			while (kb < b.nevals && b.evals[kb].stage != 1)
				kb++;
			if (kb < b.nevals && a.evals[k].loss != b.evals[kb].loss)
				fail_msg("evaluation at step %lld: loss %.9g with patience, %.9g without",
				         (long long)a.evals[k].step, b.evals[kb].loss, a.evals[k].loss);
			kb++;
		}
}

/* skip while paused: the engine says it runs again (a resume event), so a
 * front end showing its state is not left PAUSED */
static void test_skip_while_paused(void **st)
{
	(void)st;
	pofa_recipe rc;
	recipe(&rc, "", NULL);
	char rd[512];
	snprintf(rd, sizeof rd, "%s/run-skip", dir);
	static watch w;
	start_fresh(&w, &rc, rd);
	pump(&w, 600000, in_prune);
	send(&w, POFA_CMD_PAUSE);
	pump(&w, 10000, paused);
	assert_int_equal(w.pauses, 1);
	send(&w, POFA_CMD_SKIP);
	pump(&w, 600000, NULL);
	assert_true(w.ended);
	assert_int_equal(w.stage_status[1], POFA_STAGE_SKIPPED);
	if (w.resumes != 1)
		fail_msg("skip while paused: %d resume events (expected 1: the engine runs again)", w.resumes);
	pofa_run_join(w.r);
	pofa_runlog_close(&w.log);
	pofa_run_free(w.r);
	pofa_recipe_free(&rc);
}

/* "masks recomputed" is said when its figures move, not at every
 * recomputation between end and freeze at the same target */
static void test_prune_events_say_changes(void **st)
{
	(void)st;
	pofa_recipe rc;
	recipe(&rc, "", "p.steps=40");   /* end 20, every 2, freeze 36 */
	char rd[512];
	snprintf(rd, sizeof rd, "%s/run-prunes", dir);
	static watch w;
	start_fresh(&w, &rc, rd);
	pump(&w, 600000, NULL);
	assert_true(w.ended);
	pofa_run_join(w.r);
	pofa_runlog_close(&w.log);
	pofa_run_free(w.r);
	int n = 0;
	for (int k = 0; k < w.nprunes; k++) {
		if (w.prunes[k].stage != 1)
			continue;
		n++;
		for (int j = k - 1; j >= 0; j--)
			if (w.prunes[j].stage == 1) {
				if (fabs(w.prunes[j].target - w.prunes[k].target) < 5e-5 &&
				    fabs(w.prunes[j].reached - w.prunes[k].reached) < 5e-5)
					fail_msg("steps %lld and %lld: masks recomputed said twice with target %.4f, reached %.4f",
					         (long long)w.prunes[j].step, (long long)w.prunes[k].step, w.prunes[k].target,
					         w.prunes[k].reached);
				break;
			}
	}
	/* 19 recomputations (steps 0, 2, ..., 36); the 8 after end change nothing */
	if (n < 2 || n > 11)
		fail_msg("%d masks-recomputed events for 19 recomputations (expected the 11 up to end at most)", n);
	pofa_recipe_free(&rc);
}

static int evaluating(watch *w) { return w->progress > 0; }

/* commands during an evaluation (here the first: the training stage's
 * dev evaluation at its end): its progress shows, and pause (no progress
 * while paused) and stop (the stage stopped, the run ended) are taken
 * between its batches instead of after it */
static void test_commands_during_eval(void **st)
{
	(void)st;
	char path[512];
	snprintf(path, sizeof path, "%s/ev.ini", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "[run]\nname = ev\nthreads = 2\n[model]\npreset = bert-tiny\nmax_position = 32\n"
	           "[data]\ndir = %s/data\n"
	           "[stage ft]\nkind = finetune\ntask = wn-pair\nsteps = 2\nbatch = 4\nseq = 24\n"
	           "[stage e]\nkind = eval\nmodels = ft\ntask = wn-pair\nsplits = train, dev\nbatch = 2\nseq = 24\n",
	        dir);
	fclose(f);
	pofa_recipe rc;
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &rc, &err))
		fail_msg("%s", err.msg);
	char rd[512];
	snprintf(rd, sizeof rd, "%s/run-ev", dir);
	static watch w;
	start_fresh(&w, &rc, rd);
	pump(&w, 600000, evaluating);
	if (!w.progress)
		fail_msg("no evaluation progress event from the eval stage");
	send(&w, POFA_CMD_PAUSE);
	pump(&w, 60000, paused);
	if (!w.pauses || strncmp(w.pause_text, "during ", 7))
		fail_msg("pause during the evaluation: %d pause events (text \"%s\"), progress %lld/%lld", w.pauses,
		         w.pause_text, (long long)w.progress_done, (long long)w.progress_total);
	assert_true(w.progress_done < w.progress_total);
	int n0 = w.progress;
	pump(&w, 500, NULL);
	if (w.progress != n0)
		fail_msg("paused, yet %d more progress events", w.progress - n0);
	/* a stop asked for by SIGINT: the run's end says 128 + 2, as pofa run exits */
	pofa_run_command(w.r, &(pofa_command){ .kind = POFA_CMD_STOP, .signal = 2 });
	pump(&w, 600000, NULL);
	assert_true(w.ended);
	assert_int_equal(w.status, 130);
	assert_int_equal(w.stage_status[w.progress_stage], POFA_STAGE_STOPPED);
	pofa_run_join(w.r);
	pofa_runlog_close(&w.log);
	pofa_run_free(w.r);
	pofa_recipe_free(&rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage_seed_by_name),
		cmocka_unit_test(test_skip_while_paused),
		cmocka_unit_test(test_prune_events_say_changes),
		cmocka_unit_test(test_commands_during_eval),
		cmocka_unit_test(test_select_best_and_patience),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_stop_and_resume),
		cmocka_unit_test(test_stop_after_checkpoint),
	};
	return cmocka_run_group_tests_name("run", tests, setup, teardown);
}
