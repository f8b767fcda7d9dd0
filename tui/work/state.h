/*
 * state.h - what the workbench knows of a run: the events folded into a
 * snapshot (stage states, loss curves, per-matrix sparsity, evaluation
 * results, the schedule, the event log, the last mask map). No curses here:
 * the panes draw from this snapshot, and the tests feed it events.
 */
#ifndef POFA_TUI_STATE_H
#define POFA_TUI_STATE_H

#include "engine/run/run.h"

#define TUI_MAXPTS 20000   /* loss chart points kept */
#define TUI_LOGN 400       /* event log lines kept */
#define TUI_MAXL 64        /* encoder layers drawn; row TUI_MAXL is the pooler */
#define TUI_MAXEV 512      /* evaluation results kept */

/* the loss chart's series */
enum { TUI_S_TEACHER, TUI_S_TASK, TUI_S_KD, TUI_S_TOTAL, TUI_S_KD_HIDDEN, TUI_SERIES_COUNT };

typedef struct tui_point {
	double x;      /* step, offset so that stages follow each other */
	float v[TUI_SERIES_COUNT];   /* teacher, task, kd, total, hidden-state kd loss */
} tui_point;

typedef struct tui_eval {
	char model[48], task[64], split[8], metric[24];
	double v;
	double sps, speedup;   /* the forward-only path's sequences/s and speed-up (0: none) */
	double sparsity;       /* the model's, of its prunable matrices (< 0: not known) */
} tui_eval;

/* the last classifier evaluation, class by class */
typedef struct tui_classes {
	char model[48], task[64], split[8];
	int64_t step;
	int n, positive;              /* classes; the positive one of two (-1) */
	struct { char name[40]; float precision, recall, f1; int64_t support, predicted; } c[64];
} tui_classes;

typedef struct tui_state {
	const pofa_recipe *rc;
	/* the run and its stages */
	enum pofa_stage_status st[POFA_MAX_STAGES];
	int cur;                      /* the stage running (-1 before the first) */
	int64_t step, total;
	double tok_s, lr, t_start, stage_t0;
	double t_end;                 /* when the run ended (0: not yet): the clock stops */
	double t_paused, paused_for;  /* the pause under way began; pauses of this stage so far */
	int64_t stage_step0;
	int paused, ended, status;
	/* the loss chart */
	tui_point *pts;
	int npts;
	int stage_of_pt[TUI_MAXPTS];
	double x_off[POFA_MAX_STAGES];
	/* the heatmap: [layer or TUI_MAXL][role] */
	float sp[TUI_MAXL + 1][POFA_ROLE_PRUNABLE_COUNT], tg[TUI_MAXL + 1][POFA_ROLE_PRUNABLE_COUNT];
	int64_t nnz[TUI_MAXL + 1][POFA_ROLE_PRUNABLE_COUNT], numel[TUI_MAXL + 1][POFA_ROLE_PRUNABLE_COUNT];
	double thr[TUI_MAXL + 1][POFA_ROLE_PRUNABLE_COUNT];
	int have_sp, nlayers;
	int sp_stage;                 /* the stage whose model the heatmap shows (-1) */
	/* evaluations: the last value of each (model, task, split, metric) */
	tui_eval ev[TUI_MAXEV];
	int nev;
	tui_classes cls;
	/* an evaluation under way: batches done of total, what, since when */
	int64_t eval_done, eval_total;
	char eval_what[160];
	double eval_t0;
	/* the running stage's schedule, as its events told it */
	pofa_schedule sched;
	int sched_stage;              /* -1: none yet */
	/* the event log */
	char logl[TUI_LOGN][200];
	enum pofa_ev_kind logkind[TUI_LOGN];
	int nlog;
	/* the last mask map */
	unsigned char zgrid[POFA_MASK_CELLS];
	int zrows, zcols, zvalid, zlayer;
	enum pofa_role zrole;
} tui_state;

/* A snapshot for rc's run; stages before first_stage are done (a resumed
 * run). nlayers: the model's layers when known (0 otherwise). */
int tui_state_init(tui_state *s, const pofa_recipe *rc, int first_stage, int nlayers);
void tui_state_free(tui_state *s);
/* folds one event in */
void tui_state_take(tui_state *s, const pofa_event *e);
/* A resumed run's past from its folder's files (replay.c): losses,
 * heatmap, evaluations and event log; returns the seconds the run ran so
 * far (its sessions, not the time between them). */
double tui_state_replay(tui_state *s, const char *dir);
/* a line of the event log (the oldest goes when it is full) */
void tui_state_log(tui_state *s, enum pofa_ev_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "RUNNING", "PAUSED", "DONE" or "FAILED" */
const char *tui_state_label(const tui_state *s);
int tui_state_failed(const tui_state *s);
/* every stage done or skipped (a finished run, reopened with --resume) */
int tui_state_all_done(const tui_state *s);
/* the heatmap row of a layer (-1: the pooler) */
static inline int tui_state_row(int layer) { return layer < 0 ? TUI_MAXL : layer; }

/* "mm:ss", or "h:mm:ss" past an hour; "--:--" when unknown */
void tui_fmt_duration(double seconds, char *out, size_t n);

#endif
