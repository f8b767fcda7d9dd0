/*
 * driver.h - a run as a front end drives it, the same for the workbench and
 * the headless runner: open the run (new or resumed) with its CSV files,
 * start the engine, pump its events (each one logged to the CSV files, then
 * handed to the front end), and close (join the engine, close the files,
 * write report.md). Both front ends thus leave the same files.
 *
 *     pofa_driver d;
 *     if (pofa_driver_open(&d, &recipe, "runs/x", 0, &err) || pofa_driver_start(&d, &err)) ...
 *     while (!d.ended) {
 *         poll(pofa_run_wakefd(d.run) ...);
 *         pofa_driver_pump(&d, show, arg);     // show(arg, event) per event
 *     }
 *     status = pofa_driver_close(&d, &err);
 */
#ifndef POFA_RUN_DRIVER_H
#define POFA_RUN_DRIVER_H

#include "engine/run/run.h"
#include "engine/run/runlog.h"

typedef void (*pofa_event_fn)(void *arg, const pofa_event *e);

typedef struct pofa_driver {
	pofa_run *run;
	pofa_runlog log;
	char dir[1024];
	int resume;
	int stage;                /* where the run starts: stage index ... */
	int64_t step;             /* ... and step (0, 0 for a new run) */
	int ended, status;        /* the run's end was seen; its exit status */
	int stopped;              /* a stage was stopped (a checkpoint, resumable) */
	int started, log_open;
	pofa_event *evs;
} pofa_driver;

/* A new run in dir (refused when dir already holds one), or with
 * POFA_RUN_RESUME the run dir holds (enum pofa_run_flags); rc is copied. */
int pofa_driver_open(pofa_driver *d, const pofa_recipe *rc, const char *dir, int flags, pofa_err *err);
int pofa_driver_start(pofa_driver *d, pofa_err *err);
/* Takes the events waiting: each goes to the CSV files, then to fn (may be
 * NULL). An export the engine reached is carried out here, and its result
 * follows as a log (or error) event. Returns how many events. */
int pofa_driver_pump(pofa_driver *d, pofa_event_fn fn, void *arg);
/* Exports the run's tables to dir: while the run is live, through the
 * engine (at its next step boundary; returns 0 and the result comes as an
 * event from pofa_driver_pump), after its end at once (returns 1, the
 * result handed to fn). Either way the result, success or failure with
 * why, is written to events.csv. */
int pofa_driver_export(pofa_driver *d, const char *dir, pofa_event_fn fn, void *arg);
/* Joins the engine, closes the files and writes report.md. Returns the
 * run's status (0 done or stopped, 1 failed, 2 failed on bad input); a
 * report that cannot be
 * written sets err (status POFA_ERR_RUN) but does not change it. */
int pofa_driver_close(pofa_driver *d, pofa_err *err);

#endif
