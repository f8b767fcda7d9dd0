/*
 * run.h - a recipe run: the engine thread that runs its stages, the event
 * stream it publishes and the command queue it obeys.
 *
 *     pofa_run *r = pofa_run_new(&recipe, "runs/demo", 0, &err);
 *     pofa_run_start(r, &err);                    // the engine thread
 *     while (!done) {
 *         poll(pofa_run_wakefd(r) ...);           // one byte per wake-up
 *         n = pofa_run_events(r, evs, cap);       // swap the queue out
 *         ... consume: CSV logger, progress line, workbench panes ...
 *     }
 *     pofa_run_command(r, &(pofa_command){ .kind = POFA_CMD_PAUSE });
 *     status = pofa_run_join(r);
 *
 * Events are plain structs and the only way the engine speaks: a front end
 * knows what the events told it. Commands are applied at the next step
 * boundary. driver.h wraps this loop for front ends.
 */
#ifndef POFA_RUN_H
#define POFA_RUN_H

#include "engine/run/recipe.h"

enum pofa_ev_kind {
	POFA_EV_RUN_START, POFA_EV_STAGE_START, POFA_EV_STAGE_END, POFA_EV_METRICS, POFA_EV_SPARSITY,
	POFA_EV_EVAL, POFA_EV_PRUNE, POFA_EV_SCHEDULE, POFA_EV_PAUSE, POFA_EV_RESUME, POFA_EV_CHECKPOINT,
	POFA_EV_LOG, POFA_EV_ERROR, POFA_EV_EXPORT, POFA_EV_RUN_END, POFA_EV_MASK, POFA_EV_CLASS,
	POFA_EV_EVAL_PROGRESS,    /* step: batches done, total: of them, text: what is evaluated */
	POFA_EV_KIND_COUNT
};
extern const char *const pofa_ev_names[]; /* POFA_EV_KIND_COUNT of them */

enum pofa_stage_status {
	POFA_STAGE_WAITING, POFA_STAGE_RUNNING, POFA_STAGE_PAUSED, POFA_STAGE_DONE, POFA_STAGE_FAILED,
	POFA_STAGE_SKIPPED, POFA_STAGE_STOPPED, POFA_STAGE_STATUS_COUNT
};
extern const char *const pofa_stage_status_names[]; /* POFA_STAGE_STATUS_COUNT of them */

/* a stage's schedule as it stands, resolved to steps: sent with the stage's
 * start and after every accepted edit */
typedef struct pofa_schedule {
	enum pofa_stage_kind kind;
	int prune, has_teacher;
	enum pofa_pattern pattern;
	int global;
	int64_t total, t0, t1, every, freeze;
	float s_init, s_final;
	double lr;                /* peak learning rate */
	float alpha_task, alpha_kd, temperature;
} pofa_schedule;

/* the largest mask map a POFA_EV_MASK event carries (rows * cols) */
#define POFA_MASK_CELLS 8192

typedef struct pofa_event {
	enum pofa_ev_kind kind;
	double time;              /* seconds since the epoch */
	int stage;                /* index, -1 for the run */
	char stage_name[48];
	int64_t step, total, epoch;
	/* POFA_EV_METRICS */
	double lr, loss_task, loss_kd, loss_total, teacher_loss;
	double loss_kd_hidden;    /* hidden-state distillation (NAN: none in this stage) */
	double sparsity_target, sparsity, tokens_per_s, grad_norm;
	/* POFA_EV_SPARSITY, POFA_EV_MASK: which matrix (layer -1: the pooler);
	 * also sparsity and sparsity_target. POFA_EV_STAGE_START: the layers
	 * of the stage's model when it has masks (0: none) */
	int layer;
	enum pofa_role role;
	int64_t nnz, numel;
	double threshold;
	/* POFA_EV_EVAL; eval stages measure the forward-only path's sequences
	 * a second and its speed-up over the dense product (0: not measured);
	 * sparsity is the evaluated model's (its prunable matrices) */
	char model[48], task[64], split[8], metric[24];
	double value, loss, seq_per_s, speedup;
	double size_mb;           /* eval stages: the weights as the forward-only path holds them, MB (0: none) */
	/* POFA_EV_CLASS, after an evaluation's POFA_EV_EVAL (model, task, split
	 * and step as there): class cls of ncls, its name in text, its figures
	 * in percent, and its row of the confusion matrix (predicted class k:
	 * confusion[k]); positive: the positive class of a two-class task */
	int cls, ncls, positive;
	int64_t support, predicted;
	double precision, recall, f1;
	int32_t confusion[64];
	/* POFA_EV_STAGE_START, POFA_EV_SCHEDULE */
	pofa_schedule sched;
	/* POFA_EV_STAGE_END: enum pofa_stage_status; POFA_EV_RUN_END: exit status
	 * (0 done or stopped, 1 failed, 2 failed on bad input) */
	int status;
	/* POFA_EV_MASK: a matrix's kept share in rows x cols blocks, one byte
	 * each in text (1 + percent kept, so 1..101) */
	int rows, cols;
	char text[POFA_MASK_CELLS];  /* messages, schedule edits, paths */
} pofa_event;

/* a live change of the schedule; each field applies when its bit is set */
enum pofa_edit_field {
	POFA_EDIT_FINAL_SPARSITY = 1, POFA_EDIT_START = 2, POFA_EDIT_END = 4, POFA_EDIT_EVERY = 8,
	POFA_EDIT_FREEZE = 16, POFA_EDIT_LR = 32, POFA_EDIT_ALPHA_KD = 64, POFA_EDIT_TEMPERATURE = 128
};
typedef struct pofa_sched_edit {
	unsigned set;             /* enum pofa_edit_field bits */
	float final_sparsity;
	int64_t start, end, every, freeze;
	double lr;
	float alpha_kd, temperature;
} pofa_sched_edit;

enum pofa_cmd_kind {
	POFA_CMD_PAUSE, POFA_CMD_RESUME, POFA_CMD_SKIP, POFA_CMD_SCHEDULE, POFA_CMD_EXPORT,
	POFA_CMD_CHECKPOINT, POFA_CMD_STOP, POFA_CMD_MASKMAP
};
typedef struct pofa_command {
	enum pofa_cmd_kind kind;
	/* POFA_CMD_MASKMAP: which matrix (layer -1: the pooler), and the map's
	 * size the front end wants (rows * cols <= POFA_MASK_CELLS) */
	int layer;
	enum pofa_role role;
	int rows, cols;
	pofa_sched_edit edit;     /* POFA_CMD_SCHEDULE */
	char path[512];           /* POFA_CMD_EXPORT: the folder */
	int signal;               /* POFA_CMD_STOP: the signal that asked for it (0: the user) */
} pofa_command;

typedef struct pofa_run pofa_run;

enum pofa_run_flags {
	POFA_RUN_RESUME = 1,                 /* continue the run in dir (its state.json) */
	POFA_RUN_ALLOW_CHANGED_RECIPE = 2,   /* ... even if its recipe.ini was edited */
};
/* A new run in dir, or with POFA_RUN_RESUME the one dir holds (r is then
 * dir/recipe.ini). The folder is locked while the run is open: a second
 * process is refused with the holder's pid. */
pofa_run *pofa_run_new(const pofa_recipe *r, const char *dir, int flags, pofa_err *err);
void pofa_run_free(pofa_run *r);
/* what a new run checks before its folder is made - the vocabulary, every
 * model folder, the corpus, each task file with its columns and labels,
 * each stage's shapes against its model - with nothing made or trained;
 * POFA_OK, or the first error (POFA_ERR_INPUT, naming file and line) */
int pofa_run_check(const pofa_recipe *r, pofa_err *err);
/* a data-parallel rank other than 0 (dist.h): it computes what rank 0
 * does and writes no file */
int pofa_run_follower(const pofa_run *r);
int pofa_run_start(pofa_run *r, pofa_err *err);
int pofa_run_wakefd(const pofa_run *r);
/* takes up to cap events (oldest first); returns how many */
int pofa_run_events(pofa_run *r, pofa_event *out, int cap);
void pofa_run_command(pofa_run *r, const pofa_command *c);
/* waits for the engine thread; 0 done (or stopped), 1 failed, 2 failed on
 * bad input (a damaged checkpoint, a task file...) */
int pofa_run_join(pofa_run *r);
int pofa_run_finished(pofa_run *r);
const pofa_recipe *pofa_run_recipe(const pofa_run *r);
const char *pofa_run_dir(const pofa_run *r);
/* the resume point: first stage index and step (0, 0 for a new run) */
void pofa_run_resume_point(const pofa_run *r, int *stage, int64_t *step);

/* the per-stage model folder */
void pofa_run_stage_dir(const pofa_run *r, int stage, char *out, size_t n);

#endif
