/*
 * replay.c - a resumed run's past, read back into the workbench's snapshot
 * from the run folder's files (already cut to the resume point): the loss
 * chart from metrics.csv, the heatmap from sparsity.csv, the evaluation
 * table from eval.csv, the event log from events.csv, and the time the run
 * has taken so far. The rows become the events they were written from, so
 * the snapshot folds them as it folds live ones.
 */
#include "tui/work/state.h"
#include "engine/run/csvtab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "2026-11-30T06:32:11.123Z" as seconds since the epoch; NAN-free: 0 */
static double iso_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return 0.0;
	double frac = *rest == '.' ? atof(rest) : 0.0;
	return (double)timegm(&tm) + frac;
}

static int read_tab(const char *dir, const char *name, pofa_csvtab *t)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return pofa_csvtab_read(path, t);
}

static pofa_event row_event(const tui_state *s, enum pofa_ev_kind kind, const char *time, const char *stage)
{
	pofa_event e;
	memset(&e, 0, sizeof e);
	e.kind = kind;
	e.time = iso_time(time);
	e.stage = pofa_recipe_stage(s->rc, stage);
	snprintf(e.stage_name, sizeof e.stage_name, "%s", stage);
	return e;
}

double tui_state_replay(tui_state *s, const char *dir)
{
	pofa_csvtab t;
	/* the loss chart: each stage after the one before it */
	if (!read_tab(dir, "metrics.csv", &t)) {
		int last = -1;
		for (int r = 1; r < t.n; r++) {
			if (t.nf[r] < 13)
				continue;
			pofa_event e = row_event(s, POFA_EV_METRICS, t.rows[r][0], t.rows[r][1]);
			if (e.stage < 0)
				continue;
			if (e.stage != last && e.stage > 0 && s->npts && s->x_off[e.stage] == 0.0)
				s->x_off[e.stage] = s->pts[s->npts - 1].x + 1;
			last = e.stage;
			e.step = atoll(t.rows[r][2]);
			e.epoch = atoll(t.rows[r][3]);
			e.lr = atof(t.rows[r][4]);
			e.loss_task = atof(t.rows[r][5]);
			e.loss_kd = atof(t.rows[r][6]);
			e.loss_total = atof(t.rows[r][7]);
			e.teacher_loss = atof(t.rows[r][8]);
			e.sparsity_target = atof(t.rows[r][9]);
			e.sparsity = atof(t.rows[r][10]);
			e.tokens_per_s = atof(t.rows[r][11]);
			/* a run from before hidden-state distillation has 13 columns */
			e.loss_kd_hidden = t.nf[r] > 13 && t.rows[r][13][0] ? atof(t.rows[r][13]) : NAN;
			tui_state_take(s, &e);
		}
		pofa_csvtab_free(&t);
	}
	/* the heatmap: the last rows of every matrix */
	if (!read_tab(dir, "sparsity.csv", &t)) {
		for (int r = 1; r < t.n; r++) {
			if (t.nf[r] < 6)
				continue;
			pofa_event e = row_event(s, POFA_EV_SPARSITY, "", t.rows[r][0]);
			if (e.stage < 0)
				continue;
			e.step = atoll(t.rows[r][1]);
			e.layer = strcmp(t.rows[r][2], "pooler") ? atoi(t.rows[r][2]) : -1;
			int role = -1;
			for (int k = 0; k < POFA_ROLE_PRUNABLE_COUNT; k++)
				if (!strcmp(t.rows[r][3], pofa_role_names[k]))
					role = k;
			if (role < 0)
				continue;
			e.role = (enum pofa_role)role;
			e.sparsity = atof(t.rows[r][4]);
			e.sparsity_target = atof(t.rows[r][5]);
			tui_state_take(s, &e);
		}
		pofa_csvtab_free(&t);
	}
	/* the evaluation table */
	if (!read_tab(dir, "eval.csv", &t)) {
		for (int r = 1; r < t.n; r++) {
			if (t.nf[r] < 9)
				continue;
			pofa_event e = row_event(s, POFA_EV_EVAL, t.rows[r][0], t.rows[r][1]);
			if (e.stage < 0)
				continue;
			snprintf(e.model, sizeof e.model, "%s", t.rows[r][2]);
			e.step = atoll(t.rows[r][3]);
			snprintf(e.task, sizeof e.task, "%s", t.rows[r][4]);
			snprintf(e.split, sizeof e.split, "%s", t.rows[r][5]);
			snprintf(e.metric, sizeof e.metric, "%s", t.rows[r][6]);
			e.value = atof(t.rows[r][7]);
			e.loss = atof(t.rows[r][8]);
			if (t.nf[r] >= 11) {
				e.seq_per_s = atof(t.rows[r][9]);
				e.speedup = atof(t.rows[r][10]);
			}
			/* an eval.csv written before it had the sparsity column: not known */
			e.sparsity = t.nf[r] >= 12 && t.rows[r][11][0] ? atof(t.rows[r][11]) : -1.0;
			tui_state_take(s, &e);
		}
		pofa_csvtab_free(&t);
	}
	/* the event log as it was (events.csv has the evaluations' lines too:
	 * the ones folding them made go), and the time each session ran */
	s->nlog = 0;
	double elapsed = 0.0, seg0 = 0.0, seg1 = 0.0;
	if (!read_tab(dir, "events.csv", &t)) {
		for (int r = 1; r < t.n; r++) {
			if (t.nf[r] < 5)
				continue;
			double when = iso_time(t.rows[r][0]);
			if (!strcmp(t.rows[r][3], "run_start")) {
				elapsed += seg1 - seg0;
				seg0 = seg1 = when;
			}
			seg1 = when > seg1 ? when : seg1;
			enum pofa_ev_kind kind = POFA_EV_LOG;
			for (int k = 0; k < POFA_EV_KIND_COUNT; k++)
				if (!strcmp(t.rows[r][3], pofa_ev_names[k]))
					kind = (enum pofa_ev_kind)k;
			char ts[16];
			time_t tt = (time_t)when;
			struct tm tm;
			localtime_r(&tt, &tm);
			strftime(ts, sizeof ts, "%H:%M:%S", &tm);
			/* the live log's words for each kind */
			const char *pre = kind == POFA_EV_STAGE_START ? "start " : kind == POFA_EV_SCHEDULE ? "schedule: "
			                  : kind == POFA_EV_CHECKPOINT ? "checkpoint: " : kind == POFA_EV_EVAL ? "eval "
			                  : kind == POFA_EV_RUN_START ? "run " : kind == POFA_EV_RUN_END ? "run ended: " : "";
			tui_state_log(s, kind == POFA_EV_ERROR ? POFA_EV_ERROR : POFA_EV_LOG, "%s %s%s", ts, pre, t.rows[r][4]);
		}
		elapsed += seg1 - seg0;
		pofa_csvtab_free(&t);
	}
	return elapsed;
}
