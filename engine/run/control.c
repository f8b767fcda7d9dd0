/*
 * control.c - what a front end asks of a running stage, applied at a step
 * boundary: pause (the engine sleeps until a command comes), resume, skip,
 * stop, checkpoint, export, a matrix's mask map, and live schedule edits,
 * checked by the same validator as the recipe (pofa_stage_check).
 */
#include "engine/run/internal.h"
#include "engine/dist/dist.h"
#include "data/base/util.h"

#include <stdio.h>
#include <string.h>

/* ---- schedule edits ----------------------------------------------------------- */

int pofa_apply_edit(stage_ctx *c, const pofa_sched_edit *e, int replay, char *why, size_t n)
{
	pofa_stage s = c->s;
	unsigned gmp_bits = POFA_EDIT_FINAL_SPARSITY | POFA_EDIT_START | POFA_EDIT_END | POFA_EDIT_EVERY |
	                    POFA_EDIT_FREEZE;
	if ((e->set & gmp_bits) && !s.prune)
		return snprintf(why, n, "this stage does not prune"), -1;
	if ((e->set & (POFA_EDIT_ALPHA_KD | POFA_EDIT_TEMPERATURE)) && !c->teacher)
		return snprintf(why, n, "this stage has no teacher"), -1;
	/* whole steps: a value >= 1 (or 0) resolves to itself */
	if (e->set & POFA_EDIT_FINAL_SPARSITY) s.final_sparsity = e->final_sparsity;
	if (e->set & POFA_EDIT_START) s.start = (double)e->start;
	if (e->set & POFA_EDIT_END) s.end = (double)e->end;
	if (e->set & POFA_EDIT_EVERY) s.every = (double)e->every;
	if (e->set & POFA_EDIT_FREEZE) s.freeze = (double)e->freeze;
	if (e->set & POFA_EDIT_LR) s.lr = e->lr;
	if (e->set & POFA_EDIT_ALPHA_KD) s.alpha_kd = e->alpha_kd;
	if (e->set & POFA_EDIT_TEMPERATURE) s.temperature = e->temperature;
	if (pofa_stage_check(&s, c->N, why, n))
		return -1;
	/* what only a running stage knows: the past cannot change (an edit
	 * replayed on resume was checked when it was made) */
	if (!replay) {
		double cur = pofa_model_sparsity(c->m);
		if ((e->set & POFA_EDIT_FINAL_SPARSITY) && e->final_sparsity + 1e-6 < cur)
			return snprintf(why, n, "final_sparsity %.3f is below the %.3f already pruned",
			                e->final_sparsity, cur), -1;
		if ((e->set & POFA_EDIT_END) && pofa_stage_gmp(&s, c->N).t1 <= c->step)
			return snprintf(why, n, "end %lld is not after the current step %lld", (long long)e->end,
			                (long long)c->step), -1;
	}
	c->s = s;
	return 0;
}

static void describe_edit(const pofa_sched_edit *e, char *out, size_t n)
{
	size_t o = 0;
	out[0] = 0;
#define ADD(...) o += (size_t)snprintf(out + o, o < n ? n - o : 0, __VA_ARGS__)
	if (e->set & POFA_EDIT_FINAL_SPARSITY) ADD("final_sparsity=%.4g ", e->final_sparsity);
	if (e->set & POFA_EDIT_START) ADD("start=%lld ", (long long)e->start);
	if (e->set & POFA_EDIT_END) ADD("end=%lld ", (long long)e->end);
	if (e->set & POFA_EDIT_EVERY) ADD("every=%lld ", (long long)e->every);
	if (e->set & POFA_EDIT_FREEZE) ADD("freeze=%lld ", (long long)e->freeze);
	if (e->set & POFA_EDIT_LR) ADD("lr=%.4g ", e->lr);
	if (e->set & POFA_EDIT_ALPHA_KD) ADD("alpha_kd=%.4g ", e->alpha_kd);
	if (e->set & POFA_EDIT_TEMPERATURE) ADD("temperature=%.4g ", e->temperature);
#undef ADD
	if (o > 0 && o <= n)
		out[o - 1] = 0;
}

/* the edits so far, kept in state.json for a resume */
static void merge_edit(pofa_sched_edit *acc, const pofa_sched_edit *e)
{
	if (e->set & POFA_EDIT_FINAL_SPARSITY) acc->final_sparsity = e->final_sparsity;
	if (e->set & POFA_EDIT_START) acc->start = e->start;
	if (e->set & POFA_EDIT_END) acc->end = e->end;
	if (e->set & POFA_EDIT_EVERY) acc->every = e->every;
	if (e->set & POFA_EDIT_FREEZE) acc->freeze = e->freeze;
	if (e->set & POFA_EDIT_LR) acc->lr = e->lr;
	if (e->set & POFA_EDIT_ALPHA_KD) acc->alpha_kd = e->alpha_kd;
	if (e->set & POFA_EDIT_TEMPERATURE) acc->temperature = e->temperature;
	acc->set |= e->set;
}

/* ---- a matrix's mask map ---------------------------------------------------------- */

/* the share of kept weights in rows x cols blocks of the matrix, at the
 * size the front end asked for (at most the matrix's own) */
static void mask_map(stage_ctx *c, const pofa_command *cm)
{
	pofa_tensor *t = pofa_model_tensor(c->m, cm->layer, cm->role, POFA_PARAM_WEIGHT);
	if (!t || !t->prunable || cm->rows < 1 || cm->cols < 1)
		return;
	pofa_event e = pofa_ev_new(POFA_EV_MASK, c->i, c->r);
	e.step = c->step;
	e.layer = t->layer;
	e.role = t->role;
	int64_t R = t->shape[0], C = t->shape[1];
	e.rows = (int)POFA_MIN(R, cm->rows);
	e.cols = (int)POFA_MIN(C, cm->cols);
	while ((int64_t)e.rows * e.cols > POFA_MASK_CELLS)
		e.rows--;
	for (int i = 0; i < e.rows; i++)
		for (int j = 0; j < e.cols; j++) {
			int64_t r0 = R * i / e.rows, r1 = R * (i + 1) / e.rows;
			int64_t c0 = C * j / e.cols, c1 = C * (j + 1) / e.cols, kept = 0, cells = 0;
			for (int64_t a = r0; a < r1; a++)
				for (int64_t b = c0; b < c1; b++, cells++)
					kept += t->data[a * C + b] != 0.0f;
			e.text[i * e.cols + j] = (char)(1 + (cells ? (100 * kept + cells / 2) / cells : 0));
		}
	e.numel = t->numel;
	e.nnz = t->numel - pofa_tensor_zeros(t);
	e.sparsity = pofa_tensor_sparsity(t);
	pofa_run_emit(c->r, &e);
}

/* ---- the commands at a step boundary ------------------------------------------------ */

int pofa_stage_commands(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	int paused = 0, verdict = POFA_GO_ON;
	for (;;) {
		pofa_command cmds[64];
		int n = pofa_run_take_synced(r, cmds, 64, paused);
		for (int k = 0; k < n; k++) {
			pofa_command *cm = &cmds[k];
			pofa_event e = pofa_ev_new(POFA_EV_LOG, c->i, r);
			e.step = c->step;
			e.total = c->N;
			switch (cm->kind) {
			case POFA_CMD_PAUSE:
				if (!paused) {
					paused = 1;
					e.kind = POFA_EV_PAUSE;
					pofa_run_emit(r, &e);
				}
				break;
			case POFA_CMD_RESUME:
				if (paused) {
					paused = 0;
					e.kind = POFA_EV_RESUME;
					pofa_run_emit(r, &e);
				}
				break;
			case POFA_CMD_SKIP:
			case POFA_CMD_STOP:
				if (cm->kind == POFA_CMD_STOP)
					r->stop_signal = cm->signal;
				verdict = cm->kind == POFA_CMD_SKIP ? POFA_GO_SKIP : POFA_GO_STOP;
				/* a skip or stop ends a pause: said, so that a front end
				 * showing the engine's state does not stay PAUSED */
				if (paused) {
					paused = 0;
					e.kind = POFA_EV_RESUME;
					snprintf(e.text, sizeof e.text, "%s while paused", cm->kind == POFA_CMD_SKIP ? "skip" : "stop");
					pofa_run_emit(r, &e);
				}
				break;
			case POFA_CMD_CHECKPOINT:
				if (c->ckpt_step == c->step && !r->follower) {   /* written at this step: said again */
					e.kind = POFA_EV_CHECKPOINT;
					snprintf(e.text, sizeof e.text, "%.1200s", c->ckpt_dir);
					pofa_run_emit(r, &e);
				} else if (pofa_checkpoint(c, err))
					return -1;
				break;
			case POFA_CMD_EXPORT:
				e.kind = POFA_EV_EXPORT;
				snprintf(e.text, sizeof e.text, "%s", cm->path);
				pofa_run_emit(r, &e);
				break;
			case POFA_CMD_MASKMAP:
				mask_map(c, cm);
				break;
			case POFA_CMD_SCHEDULE: {
				char why[256];
				if (pofa_apply_edit(c, &cm->edit, 0, why, sizeof why)) {
					snprintf(e.text, sizeof e.text, "schedule edit refused: %s", why);
					pofa_run_emit(r, &e);
				} else {
					merge_edit(&r->edits[c->i], &cm->edit);
					c->ckpt_step = -1;   /* the edit is part of the state a checkpoint holds */
					e.kind = POFA_EV_SCHEDULE;
					describe_edit(&cm->edit, e.text, sizeof e.text);
					pofa_stage_schedule(c, &e.sched);
					pofa_run_emit(r, &e);
				}
				break;
			}
			}
		}
		if (!paused || verdict != POFA_GO_ON)
			return verdict;
	}
}

/* Between two batches of an evaluation inside a run: its progress for the
 * front end (at most four times a second), and the commands that cannot
 * wait minutes for it: pause (the engine sleeps here), stop (the
 * evaluation ends, the caller stops the stage), skip of an eval stage,
 * export. The others wait, in order, for the next step boundary. */
int pofa_eval_poll(void *arg, long done, long total)
{
	stage_ctx *c = arg;
	pofa_run *r = c->r;
	double now = pofa_run_now();
	if (now - c->ev.t_last >= 0.25 || done == total) {
		c->ev.t_last = now;
		pofa_event e = pofa_ev_new(POFA_EV_EVAL_PROGRESS, c->i, r);
		e.step = done;
		e.total = total;
		snprintf(e.text, sizeof e.text, "%s", c->ev.what);
		pofa_run_emit(r, &e);
	}
	int paused = 0, end = 0;
	for (;;) {
		pofa_command cmds[64], keep[64];
		int n = pofa_run_take_synced(r, cmds, 64, paused), nk = 0;
		for (int k = 0; k < n; k++) {
			pofa_command *cm = &cmds[k];
			pofa_event e = pofa_ev_new(POFA_EV_LOG, c->i, r);
			e.step = c->step;
			e.total = c->N;
			int skip_here = cm->kind == POFA_CMD_SKIP && c->s.kind == POFA_STAGE_EVAL;
			if (end) {
				keep[nk++] = *cm;
			} else if (cm->kind == POFA_CMD_PAUSE && !paused) {
				paused = 1;
				e.kind = POFA_EV_PAUSE;
				snprintf(e.text, sizeof e.text, "during %s", c->ev.what);
				pofa_run_emit(r, &e);
			} else if (cm->kind == POFA_CMD_RESUME && paused) {
				paused = 0;
				e.kind = POFA_EV_RESUME;
				pofa_run_emit(r, &e);
			} else if (cm->kind == POFA_CMD_STOP || skip_here) {
				c->ev.stop_asked = cm->kind == POFA_CMD_STOP;
				if (cm->kind == POFA_CMD_STOP)
					r->stop_signal = cm->signal;
				c->ev.skip_asked = skip_here;
				if (paused) {
					e.kind = POFA_EV_RESUME;
					snprintf(e.text, sizeof e.text, "%s while paused", skip_here ? "skip" : "stop");
					pofa_run_emit(r, &e);
				}
				pofa_run_log(r, c->i, POFA_EV_LOG, "%s: %s at batch %ld of %ld", c->ev.what,
				             skip_here ? "skipped" : "stopped", done, total);
				paused = 0;
				end = 1;
			} else if (cm->kind == POFA_CMD_EXPORT) {
				e.kind = POFA_EV_EXPORT;
				snprintf(e.text, sizeof e.text, "%s", cm->path);
				pofa_run_emit(r, &e);
			} else if (cm->kind != POFA_CMD_PAUSE && cm->kind != POFA_CMD_RESUME) {
				keep[nk++] = *cm;
			}
		}
		if (!r->follower)   /* rank 0 sends them again at the next step */
			pofa_run_requeue(r, keep, nk);
		if (end || !paused)
			return end;
	}
}
