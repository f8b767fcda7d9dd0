/*
 * run.c - a recipe run: the engine thread runs the recipe's stages in order
 * (stage.c, eval.c), publishing events and obeying commands at step
 * boundaries (mailbox.c, control.c), and leaves what a resume needs
 * (state.c). See run.h.
 */
#include "engine/run/internal.h"
#include "data/base/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const pofa_stage_status_names[POFA_STAGE_STATUS_COUNT] = {
	"waiting", "running", "paused", "done", "failed", "skipped", "stopped"
};

const pofa_recipe *pofa_run_recipe(const pofa_run *r) { return &r->rc; }
const char *pofa_run_dir(const pofa_run *r) { return r->dir; }

void pofa_run_resume_point(const pofa_run *r, int *stage, int64_t *step)
{
	*stage = r->start_stage;
	*step = r->start_step;
}

int pofa_run_finished(pofa_run *r)
{
	pthread_mutex_lock(&r->mu);
	int f = r->finished;
	pthread_mutex_unlock(&r->mu);
	return f;
}

void pofa_run_stage_dir(const pofa_run *r, int stage, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", r->dir, r->rc.stages[stage].name);
}

/* ---- construction ------------------------------------------------------------ */

pofa_run *pofa_run_new(const pofa_recipe *rc, const char *dir, int resume, pofa_err *err)
{
	pofa_run *r = calloc(1, sizeof *r);
	if (!r) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	r->rc = *rc;
	r->rc.text = rc->text ? strdup(rc->text) : NULL;
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	r->resume = resume;
	long np = sysconf(_SC_NPROCESSORS_ONLN);
	r->threads = rc->threads ? rc->threads : (int)(np < 1 ? 1 : np > 64 ? 64 : np);
	if (pofa_mailbox_init(r, err)) {
		pofa_run_free(r);
		return NULL;
	}
	if (pofa_mkdirs(dir, err) || (resume && pofa_state_read(r, err))) {
		pofa_run_free(r);
		return NULL;
	}
	if (!resume) {
		/* the recipe as run, with its hash */
		char path[1200];
		snprintf(path, sizeof path, "%s/recipe.ini", dir);
		size_t n = strlen(r->rc.text ? r->rc.text : "") + 256;
		char *t = malloc(n);
		snprintf(t, n, "; pofa recipe as run (from %s, overrides applied)\n; hash %016llx\n\n%s",
		         rc->path, (unsigned long long)rc->hash, r->rc.text ? r->rc.text : "");
		int wrc = pofa_write_atomic(path, t, strlen(t), err);
		free(t);
		if (wrc || pofa_state_write(r, 0, 0, 0, 0, err)) {
			pofa_run_free(r);
			return NULL;
		}
	}
	return r;
}

void pofa_run_free(pofa_run *r)
{
	if (!r)
		return;
	if (r->started)
		pthread_join(r->th, NULL);
	pofa_mailbox_free(r);
	free(r->rc.text);
	pofa_tokenizer_free(r->tk);
	free(r);
}

/* ---- the engine thread -------------------------------------------------------- */

static enum pofa_stage_status run_stage(pofa_run *r, int i)
{
	stage_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.i = i;
	c.s = r->rc.stages[i];
	pofa_err err = { 0 };
	enum pofa_stage_status st = c.s.kind == POFA_STAGE_EVAL ? pofa_eval_stage(&c, &err) : pofa_train_stage(&c, &err);
	pofa_event e = pofa_ev_new(POFA_EV_STAGE_END, i, r);
	e.status = st;
	e.step = c.step;
	e.total = c.N;
	snprintf(e.text, sizeof e.text, "%s %s", c.s.name, pofa_stage_status_names[st]);
	pofa_run_emit(r, &e);
	if (st == POFA_STAGE_DONE || st == POFA_STAGE_SKIPPED) {
		pofa_err e2;
		pofa_state_write(r, i + 1, 0, 0, 0, &e2);
	}
	pofa_model_free(c.m);
	pofa_model_free(c.teacher);
	if (c.has_masks)
		pofa_masks_free(&c.mk);
	if (c.has_mlm)
		pofa_mlm_free(&c.mlm);
	pofa_labels_free(&c.labels);
	pofa_taskset_free(&c.train);
	pofa_taskset_free(&c.dev);
	free(c.order);
	free(c.buf);
	return st;
}

static void *engine_main(void *arg)
{
	pofa_run *r = arg;
	pofa_err err = { 0 };
	int status = 0;
	pofa_event e = pofa_ev_new(POFA_EV_RUN_START, -1, r);
	snprintf(e.text, sizeof e.text, "%s (recipe %s, hash %016llx)%s", r->rc.name, r->rc.path,
	         (unsigned long long)r->rc.hash, r->resume ? ", resumed" : "");
	e.step = r->start_step;
	e.stage = r->start_stage;
	pofa_run_emit(r, &e);
	r->tk = pofa_tokenizer_load(r->rc.vocab, POFA_CASE_AUTO, &err);
	if (!r->tk) {
		pofa_event x = pofa_ev_new(POFA_EV_ERROR, -1, r);
		snprintf(x.text, sizeof x.text, "%s (build the data first: pofa data build)", err.msg);
		pofa_run_emit(r, &x);
		status = 1;
	}
	for (int i = r->start_stage; i < r->rc.nstages && !status; i++) {
		int st = run_stage(r, i);
		if (st == POFA_STAGE_FAILED)
			status = 1;
		if (st == POFA_STAGE_STOPPED)
			break;
		r->resume = 0; /* later stages start fresh */
	}
	pofa_event end = pofa_ev_new(POFA_EV_RUN_END, -1, r);
	end.status = status;
	pofa_run_emit(r, &end);
	pthread_mutex_lock(&r->mu);
	r->status = status;
	r->finished = 1;
	pthread_mutex_unlock(&r->mu);
	pofa_run_wake(r);
	return NULL;
}

int pofa_run_start(pofa_run *r, pofa_err *err)
{
	if (pthread_create(&r->th, NULL, engine_main, r) != 0)
		return pofa_error(err, POFA_ERR_RUN, "cannot start the engine thread");
	r->started = 1;
	return POFA_OK;
}

int pofa_run_join(pofa_run *r)
{
	if (r->started) {
		pthread_join(r->th, NULL);
		r->started = 0;
	}
	return r->status;
}
