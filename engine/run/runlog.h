/*
 * runlog.h - the CSV files a run leaves (libcsv, RFC 4180, one header row,
 * flushed as they go), CSV export, and report.md. Both front ends feed it
 * the same events, so a TUI run and a headless run leave the same files.
 */
#ifndef POFA_RUNLOG_H
#define POFA_RUNLOG_H

#include "engine/run/run.h"

#include <stdio.h>

typedef struct pofa_runlog {
	char dir[1024];
	FILE *metrics, *sparsity, *eval, *events, *classes, *confusion;
	const pofa_recipe *rc;
	/* an evaluation's classes as they come, for confusion.csv, which names
	 * the predicted class too: written at its last class */
	char cls_name[64][64];
	int32_t cls_conf[64][64];
} pofa_runlog;

/* A new run starts the files with their headers; a resumed one keeps the
 * rows up to (stage, step) of its checkpoint and appends after them. */
int pofa_runlog_open(pofa_runlog *l, const char *dir, const pofa_recipe *rc, int resume,
                     int stage, int64_t step, pofa_err *err);
void pofa_runlog_event(pofa_runlog *l, const pofa_event *e);
void pofa_runlog_close(pofa_runlog *l);
/* copies metrics.csv, sparsity.csv, eval.csv, per_class.csv and
 * confusion.csv into dir; paths (the
 * files written, space-separated) for the caller to report */
int pofa_runlog_export(pofa_runlog *l, const char *dir, char *paths, size_t n, pofa_err *err);
/* report.md from eval.csv: every model's metrics and % of the reference;
 * then report.html */
int pofa_runlog_report(const char *run_dir, const pofa_recipe *rc, pofa_err *err);
/* report.html (report_html.c): one self-contained page, inline SVG, from
 * the run's CSV files: headlines, the results matrix, accuracy against
 * sparsity and speed, each stage's losses, dev curve, schedule, per-layer
 * sparsity and per-class results */
int pofa_runlog_report_html(const char *run_dir, const pofa_recipe *rc, pofa_err *err);

#endif
