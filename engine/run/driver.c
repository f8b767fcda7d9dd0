/* driver.c - a run as a front end drives it (see driver.h). */
#include "engine/run/driver.h"
#include "engine/run/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EVCAP = 512 };

int pofa_driver_open(pofa_driver *d, const pofa_recipe *rc, const char *dir, int flags, pofa_err *err)
{
	int resume = flags & POFA_RUN_RESUME;
	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "%s", dir);
	d->resume = resume;
	d->evs = malloc(EVCAP * sizeof *d->evs);
	if (!d->evs)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	d->run = pofa_run_new(rc, dir, flags, err);
	if (!d->run) {
		free(d->evs);
		d->evs = NULL;
		return err->status;
	}
	pofa_run_resume_point(d->run, &d->stage, &d->step);
	if (pofa_run_follower(d->run))
		return POFA_OK;   /* a rank other than 0: rank 0 writes the run's files */
	if (pofa_runlog_open(&d->log, dir, pofa_run_recipe(d->run), resume, d->stage, d->step, err)) {
		pofa_run_free(d->run);
		free(d->evs);
		memset(d, 0, sizeof *d);
		return err->status;
	}
	d->log_open = 1;
	return POFA_OK;
}

int pofa_driver_start(pofa_driver *d, pofa_err *err)
{
	if (pofa_run_start(d->run, err))
		return err->status;
	d->started = 1;
	return POFA_OK;
}

/* the run's tables copied to dir; the result, not the asking, goes to
 * events.csv (kind export, or error with why) and to fn */
static void export(pofa_driver *d, const pofa_event *ask, const char *dir, pofa_event_fn fn, void *arg)
{
	pofa_event e = *ask;
	pofa_err err;
	char paths[1000];
	if (pofa_runlog_export(&d->log, dir, paths, sizeof paths, &err)) {
		e.kind = POFA_EV_ERROR;
		snprintf(e.text, sizeof e.text, "export to %.400s failed: %.800s", dir, err.msg);
	} else {
		e.kind = POFA_EV_EXPORT;
		snprintf(e.text, sizeof e.text, "exported %s", paths);
	}
	pofa_runlog_event(&d->log, &e);
	if (fn)
		fn(arg, &e);
}

int pofa_driver_export(pofa_driver *d, const char *dir, pofa_event_fn fn, void *arg)
{
	if (!d->ended) {   /* live: the engine's queue is the barrier, at a step boundary */
		pofa_command c;
		memset(&c, 0, sizeof c);
		c.kind = POFA_CMD_EXPORT;
		snprintf(c.path, sizeof c.path, "%s", dir);
		pofa_run_command(d->run, &c);
		return 0;
	}
	pofa_event e;
	memset(&e, 0, sizeof e);
	e.time = pofa_run_now();
	e.stage = -1;
	export(d, &e, dir, fn, arg);
	return 1;
}

int pofa_driver_pump(pofa_driver *d, pofa_event_fn fn, void *arg)
{
	int total = 0, n;
	while ((n = pofa_run_events(d->run, d->evs, EVCAP)) > 0) {
		for (int k = 0; k < n; k++) {
			const pofa_event *e = &d->evs[k];
			if (e->kind == POFA_EV_EXPORT && d->log_open) {   /* the engine reached the barrier: copy now */
				export(d, e, e->text, fn, arg);
				continue;
			}
			if (d->log_open)
				pofa_runlog_event(&d->log, e);
			if (fn)
				fn(arg, e);
			if (e->kind == POFA_EV_STAGE_END && e->status == POFA_STAGE_STOPPED)
				d->stopped = 1;
			if (e->kind == POFA_EV_RUN_END) {
				d->ended = 1;
				/* 1 failed, 2 bad input; 3 and 128 + N are stops */
				d->status = e->status == 1 || e->status == 2 ? e->status : 0;
			}
		}
		total += n;
	}
	return total;
}

int pofa_driver_close(pofa_driver *d, pofa_err *err)
{
	if (!d->run)
		return 0;
	if (d->started)
		pofa_run_join(d->run);
	int wrote = d->log_open;   /* rank 0's run (or the only one): it reports */
	if (d->log_open)
		pofa_runlog_close(&d->log);
	int status = d->status;
	if (err)
		err->status = POFA_OK;
	if (d->started && wrote)
		pofa_runlog_report(d->dir, pofa_run_recipe(d->run), err);
	pofa_run_free(d->run);
	free(d->evs);
	d->run = NULL;
	d->evs = NULL;
	return status;
}
