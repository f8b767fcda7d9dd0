/* state.c - the events of a run folded into the workbench's snapshot (see
 * state.h). */
#include "tui/work/state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tui_state_init(tui_state *s, const pofa_recipe *rc, int first_stage, int nlayers)
{
	memset(s, 0, sizeof *s);
	s->pts = calloc(TUI_MAXPTS, sizeof *s->pts);
	if (!s->pts)
		return -1;
	s->rc = rc;
	s->cur = -1;
	s->sched_stage = -1;
	s->sp_stage = -1;
	s->nlayers = nlayers > TUI_MAXL ? TUI_MAXL : nlayers;
	for (int i = 0; i < first_stage && i < POFA_MAX_STAGES; i++)
		s->st[i] = POFA_STAGE_DONE;
	return 0;
}

void tui_state_free(tui_state *s)
{
	free(s->pts);
	s->pts = NULL;
}

void tui_state_log(tui_state *s, enum pofa_ev_kind kind, const char *fmt, ...)
{
	if (s->nlog == TUI_LOGN) {
		memmove(s->logl, s->logl + 1, sizeof s->logl[0] * (TUI_LOGN - 1));
		memmove(s->logkind, s->logkind + 1, sizeof s->logkind[0] * (TUI_LOGN - 1));
		s->nlog--;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->logl[s->nlog], sizeof s->logl[0], fmt, ap);
	va_end(ap);
	s->logkind[s->nlog++] = kind;
}

/* the run's end status is pofa run's exit status: 1 and 2 failures, 3
 * and 128 + N stops */
int tui_state_failed(const tui_state *s) { return s->ended && (s->status == 1 || s->status == 2); }

int tui_state_all_done(const tui_state *s)
{
	for (int i = 0; i < s->rc->nstages && i < POFA_MAX_STAGES; i++)
		if (s->st[i] != POFA_STAGE_DONE && s->st[i] != POFA_STAGE_SKIPPED)
			return 0;
	return 1;
}

const char *tui_state_label(const tui_state *s)
{
	return s->ended ? (tui_state_failed(s) ? "FAILED" : s->status ? "STOPPED" : "DONE")
	                : s->paused ? "PAUSED" : "RUNNING";
}

void tui_fmt_duration(double seconds, char *out, size_t n)
{
	if (!(seconds >= 0) || seconds > 1e7) {
		snprintf(out, n, "--:--");
		return;
	}
	long t = (long)(seconds + 0.5);
	if (t >= 3600)
		snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%02ld:%02ld", t / 60, t % 60);
}

static int valid_stage(const tui_state *s, int i) { return i >= 0 && i < POFA_MAX_STAGES && i < s->rc->nstages; }

static void take_metrics(tui_state *s, const pofa_event *e)
{
	s->cur = e->stage;
	s->step = e->step;
	s->total = e->total;
	s->tok_s = e->tokens_per_s;
	s->lr = e->lr;
	if (s->npts == TUI_MAXPTS)
		return;
	tui_point *p = &s->pts[s->npts];
	p->x = s->x_off[e->stage] + (double)e->step;
	p->v[0] = (float)e->teacher_loss;
	p->v[1] = (float)e->loss_task;
	p->v[2] = (float)e->loss_kd;
	p->v[3] = (float)e->loss_total;
	p->v[4] = (float)e->loss_kd_hidden;   /* NAN: none in this stage */
	s->stage_of_pt[s->npts++] = e->stage;
}

/* the heatmap emptied for a stage's masks: nlayers rows (a student may
 * have fewer layers than the preset or the stage before) */
static void sparsity_reset(tui_state *s, int nlayers)
{
	memset(s->sp, 0, sizeof s->sp);
	memset(s->tg, 0, sizeof s->tg);
	memset(s->nnz, 0, sizeof s->nnz);
	memset(s->numel, 0, sizeof s->numel);
	memset(s->thr, 0, sizeof s->thr);
	s->nlayers = nlayers > TUI_MAXL ? TUI_MAXL : nlayers;
	s->have_sp = 0;
}

static void take_sparsity(tui_state *s, const pofa_event *e)
{
	if (e->layer >= TUI_MAXL || (unsigned)e->role >= POFA_ROLE_PRUNABLE_COUNT)
		return;
	int row = tui_state_row(e->layer), m = e->role;
	if (!s->have_sp || e->stage != s->sp_stage)   /* the rows its start said, else as they come */
		sparsity_reset(s, !s->have_sp && e->stage == s->sp_stage ? s->nlayers : 0);
	s->sp[row][m] = (float)e->sparsity;
	s->tg[row][m] = (float)e->sparsity_target;
	s->nnz[row][m] = e->nnz;
	s->numel[row][m] = e->numel;
	s->thr[row][m] = e->threshold;
	if (e->layer + 1 > s->nlayers)
		s->nlayers = e->layer + 1;
	s->have_sp = 1;
	s->sp_stage = e->stage;
}

static void take_eval(tui_state *s, const pofa_event *e)
{
	int k;
	for (k = 0; k < s->nev; k++)
		if (!strcmp(s->ev[k].model, e->model) && !strcmp(s->ev[k].task, e->task) &&
		    !strcmp(s->ev[k].split, e->split) && !strcmp(s->ev[k].metric, e->metric))
			break;
	if (k == TUI_MAXEV)
		return;
	tui_eval *v = &s->ev[k];
	snprintf(v->model, sizeof v->model, "%s", e->model);
	snprintf(v->task, sizeof v->task, "%s", e->task);
	snprintf(v->split, sizeof v->split, "%s", e->split);
	snprintf(v->metric, sizeof v->metric, "%s", e->metric);
	v->v = e->value;
	v->sps = e->seq_per_s;
	v->speedup = e->speedup;
	v->sparsity = e->sparsity;
	if (k == s->nev)
		s->nev++;
}

void tui_state_take(tui_state *s, const pofa_event *e)
{
	char ts[16];
	time_t t = (time_t)e->time;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	if (e->stage >= 0 && !valid_stage(s, e->stage))
		return;   /* not this recipe's: ignore rather than index out of range */
	/* anything but its progress ends an evaluation's line in the header */
	if (e->kind == POFA_EV_METRICS || e->kind == POFA_EV_EVAL || e->kind == POFA_EV_STAGE_START ||
	    e->kind == POFA_EV_STAGE_END || e->kind == POFA_EV_RUN_END)
		s->eval_total = 0;
	switch (e->kind) {
	case POFA_EV_EVAL_PROGRESS:
		if (!s->eval_total || strcmp(s->eval_what, e->text) || e->step < s->eval_done) {
			snprintf(s->eval_what, sizeof s->eval_what, "%.159s", e->text);
			s->eval_t0 = e->time;
		}
		s->eval_done = e->step;
		s->eval_total = e->total;
		break;
	case POFA_EV_RUN_START:
		tui_state_log(s, POFA_EV_LOG, "%s run %s", ts, e->text);
		break;
	case POFA_EV_STAGE_START:
		s->cur = e->stage;
		s->st[e->stage] = POFA_STAGE_RUNNING;
		s->stage_t0 = e->time;
		s->paused_for = 0.0;
		s->stage_step0 = e->step;
		s->step = e->step;
		s->total = e->total;
		s->sched = e->sched;
		s->sched_stage = e->stage;
		if (e->layer > 0) {   /* a stage with masks: its model's rows, empty until they come */
			sparsity_reset(s, e->layer);
			s->sp_stage = e->stage;
		}
		if (e->stage > 0 && s->x_off[e->stage] == 0.0 && s->npts)
			s->x_off[e->stage] = s->pts[s->npts - 1].x + 1;
		tui_state_log(s, POFA_EV_LOG, "%s start %s", ts, e->text);
		break;
	case POFA_EV_STAGE_END:
		s->st[e->stage] = (enum pofa_stage_status)e->status;
		tui_state_log(s, e->status == POFA_STAGE_FAILED ? POFA_EV_ERROR : POFA_EV_LOG, "%s %s", ts, e->text);
		break;
	case POFA_EV_METRICS:
		take_metrics(s, e);
		break;
	case POFA_EV_SPARSITY:
		take_sparsity(s, e);
		break;
	case POFA_EV_EVAL:
		take_eval(s, e);
		tui_state_log(s, POFA_EV_LOG, "%s eval %s %s/%s %s = %.3f", ts, e->model, e->task, e->split,
		              e->metric, e->value);
		break;
	case POFA_EV_CLASS: {
		tui_classes *c = &s->cls;
		if (e->cls < 0 || e->cls >= 64)
			break;
		if (e->cls == 0) {   /* a new evaluation */
			snprintf(c->model, sizeof c->model, "%s", e->model);
			snprintf(c->task, sizeof c->task, "%s", e->task);
			snprintf(c->split, sizeof c->split, "%s", e->split);
			c->step = e->step;
			c->n = 0;
			c->positive = -1;
		}
		snprintf(c->c[e->cls].name, sizeof c->c[0].name, "%.39s", e->text);
		c->c[e->cls].precision = (float)e->precision;
		c->c[e->cls].recall = (float)e->recall;
		c->c[e->cls].f1 = (float)e->f1;
		c->c[e->cls].support = e->support;
		c->c[e->cls].predicted = e->predicted;
		if (e->positive)
			c->positive = e->cls;
		c->n = e->cls + 1 > c->n ? e->cls + 1 : c->n;
		break;
	}
	case POFA_EV_PAUSE:
		s->paused = 1;
		s->t_paused = e->time;
		if (e->step > 0 || s->step == 0)
			s->step = e->step;   /* the engine's step, where it stands */
		s->st[e->stage] = POFA_STAGE_PAUSED;
		tui_state_log(s, POFA_EV_LOG, "%s paused at step %lld", ts, (long long)e->step);
		break;
	case POFA_EV_RESUME:
		if (s->paused && s->t_paused > 0 && e->time > s->t_paused)
			s->paused_for += e->time - s->t_paused;   /* the stage's rate leaves pauses out */
		s->paused = 0;
		s->st[e->stage] = POFA_STAGE_RUNNING;
		tui_state_log(s, POFA_EV_LOG, "%s resumed", ts);
		break;
	case POFA_EV_MASK:
		if ((int64_t)e->rows * e->cols > POFA_MASK_CELLS || e->rows < 1 || e->cols < 1)
			break;
		memcpy(s->zgrid, e->text, sizeof s->zgrid);
		s->zrows = e->rows;
		s->zcols = e->cols;
		s->zlayer = e->layer;
		s->zrole = e->role;
		s->zvalid = 1;
		break;
	case POFA_EV_RUN_END:
		s->ended = 1;
		s->t_end = e->time;
		s->status = e->status;
		tui_state_log(s, tui_state_failed(s) ? POFA_EV_ERROR : POFA_EV_LOG, "%s run ended (%s, exit status %d)", ts,
		              e->status == 0 ? "done" : tui_state_failed(s) ? "failed" : "stopped", e->status);
		break;
	case POFA_EV_SCHEDULE:
		s->sched = e->sched;
		s->sched_stage = e->stage;
		/* fall through - logged as the others */
	case POFA_EV_PRUNE:
	case POFA_EV_CHECKPOINT:
	case POFA_EV_LOG:
	case POFA_EV_ERROR:
	case POFA_EV_EXPORT:
		tui_state_log(s, e->kind, "%s %s%s", ts, e->kind == POFA_EV_SCHEDULE ? "schedule: " :
		              e->kind == POFA_EV_CHECKPOINT ? "checkpoint: " : "",
		              e->text);
		break;
	default:
		break;
	}
}
