/*
 * run.h - a recipe run: the engine thread that runs its stages, the event
 * stream it publishes and the command queue it obeys.
 *
 *     pofa_run *r = pofa_run_new(&recipe, "runs/demo", 0, &err);
 *     pofa_run_start(r);                          // the engine thread
 *     while (!done) {
 *         poll(pofa_run_wakefd(r) ...);           // one byte per wake-up
 *         n = pofa_run_events(r, evs, cap);       // swap the queue out
 *         ... consume: CSV logger, progress line, TUI panes ...
 *     }
 *     pofa_run_command(r, &(pofa_command){ .kind = POFA_CMD_PAUSE });
 *     status = pofa_run_join(r);
 *
 * Events are plain structs; commands are applied at the next step boundary.
 */
#ifndef POFA_RUN_H
#define POFA_RUN_H

#include "engine/run/recipe.h"

enum pofa_ev_kind {
	POFA_EV_RUN_START, POFA_EV_STAGE_START, POFA_EV_STAGE_END, POFA_EV_METRICS, POFA_EV_SPARSITY, POFA_EV_EVAL, POFA_EV_PRUNE,
	POFA_EV_SCHEDULE, POFA_EV_PAUSE, POFA_EV_RESUME, POFA_EV_CHECKPOINT, POFA_EV_LOG, POFA_EV_ERROR, POFA_EV_EXPORT, POFA_EV_RUN_END,
	POFA_EV_MASK, POFA_EV_KIND_COUNT
};
extern const char *const pofa_ev_names[POFA_EV_KIND_COUNT];

enum pofa_stage_status { POFA_STAGE_WAITING, POFA_STAGE_RUNNING, POFA_STAGE_PAUSED, POFA_STAGE_DONE, POFA_STAGE_FAILED, POFA_STAGE_SKIPPED, POFA_STAGE_STOPPED };
extern const char *const pofa_stage_status_names[7];

/* matrices of a layer, in heatmap order; the pooler is its own row */
enum { POFA_MAT_Q, POFA_MAT_K, POFA_MAT_V, POFA_MAT_AO, POFA_MAT_FFN_IN, POFA_MAT_FFN_OUT, POFA_MAT_POOLER, POFA_MAT_COUNT };
extern const char *const pofa_matrix_names[POFA_MAT_COUNT];

typedef struct pofa_event {
	int kind;
	double time;              /* seconds since the epoch */
	int stage;                /* index, -1 for the run */
	char stage_name[48];
	int64_t step, total, epoch;
	/* POFA_EV_METRICS */
	double lr, loss_task, loss_kd, loss_total, teacher_loss;
	double sparsity_target, sparsity, tokens_per_s, grad_norm;
	/* POFA_EV_SPARSITY (also sparsity, sparsity_target) */
	int layer, matrix;
	int64_t nnz, numel;
	double threshold;
	/* POFA_EV_EVAL */
	char model[48], task[64], split[8], metric[24];
	double value, loss;
	/* POFA_EV_STAGE_END, POFA_EV_RUN_END: enum pofa_stage_status / exit status */
	int status;
	/* POFA_EV_MASK: a matrix's kept share in rows x cols blocks, one byte each
	 * in text (1 + percent kept, so 1..101) */
	int rows, cols;
	char text[1280];          /* messages, schedule edits, paths */
} pofa_event;

/* a live change of the schedule; each field applies when its bit is set */
enum {
	POFA_EDIT_FINAL_SPARSITY = 1, POFA_EDIT_START = 2, POFA_EDIT_END = 4, POFA_EDIT_EVERY = 8, POFA_EDIT_FREEZE = 16,
	POFA_EDIT_LR = 32, POFA_EDIT_ALPHA_KD = 64, POFA_EDIT_TEMPERATURE = 128
};
typedef struct pofa_sched_edit {
	unsigned set;
	float final_sparsity;
	int64_t start, end, every, freeze;
	double lr;
	float alpha_kd, temperature;
} pofa_sched_edit;

enum pofa_cmd_kind { POFA_CMD_PAUSE, POFA_CMD_RESUME, POFA_CMD_SKIP, POFA_CMD_SCHEDULE, POFA_CMD_EXPORT, POFA_CMD_CHECKPOINT, POFA_CMD_STOP,
                    POFA_CMD_MASKMAP };
typedef struct pofa_command {
	int kind;
	int layer, matrix;        /* POFA_CMD_MASKMAP: which matrix (layer -1: pooler) */
	pofa_sched_edit edit;
	char path[512];           /* POFA_CMD_EXPORT: the folder */
} pofa_command;

/* what a front end shows of the current stage's schedule */
typedef struct pofa_sched_view {
	int stage, kind, prune, pattern, global, has_teacher;
	int64_t step, total, t0, t1, every, freeze;
	float s_init, s_final;
	double lr_peak, lr_now;
	float alpha_task, alpha_kd, temperature;
	double sparsity;          /* reached so far */
} pofa_sched_view;

typedef struct pofa_run pofa_run;

/* resume: continue from dir/state.json, using dir/recipe.ini */
pofa_run *pofa_run_new(const pofa_recipe *r, const char *dir, int resume, pofa_err *err);
void pofa_run_free(pofa_run *r);
int pofa_run_start(pofa_run *r, pofa_err *err);
int pofa_run_wakefd(const pofa_run *r);
/* takes up to cap events (oldest first); returns how many */
int pofa_run_events(pofa_run *r, pofa_event *out, int cap);
void pofa_run_command(pofa_run *r, const pofa_command *c);
/* waits for the engine thread; 0 done (or stopped), 1 failed */
int pofa_run_join(pofa_run *r);
int pofa_run_finished(pofa_run *r);
const pofa_recipe *pofa_run_recipe(const pofa_run *r);
const char *pofa_run_dir(const pofa_run *r);
/* the resume point: first stage index and step (0, 0 for a new run) */
void pofa_run_resume_point(const pofa_run *r, int *stage, int64_t *step);
int pofa_run_schedule(pofa_run *r, pofa_sched_view *v);

/* the per-stage model folder */
void pofa_run_stage_dir(const pofa_run *r, int stage, char *out, size_t n);

#endif
