/*
 * internal.h - the run engine's insides, shared by its files. Each calls
 * only the files below it in this list, never one above:
 *
 *   run.c        the run: construction, the engine thread, stage after stage
 *   stage.c      a training stage: setting it up and the loop
 *   evals.c      evaluations in a run: a stage's dev split, eval stages
 *   control.c    commands at a step boundary (pause, edits, mask maps...)
 *                and between the batches of an evaluation
 *   state.c      state.json, checkpoints and restoring them
 *   stagectx.c   a stage's models, data order and position, schedule, failure
 *   preflight.c  every input checked before the first stage
 *   mailbox.c    the event queue (engine -> front end, with a wake-up pipe),
 *                the command queue (front end -> engine), the stage folders
 *
 * A stage's state, stage_ctx, is made of one part per concern (its data,
 * the metrics interval, pruning, model selection, an evaluation under way).
 */
#ifndef POFA_RUN_INTERNAL_H
#define POFA_RUN_INTERNAL_H

#include "engine/eval/eval.h"
#include "engine/run/run.h"
#include "data/task/loaders.h"
#include "data/text/tokenizer.h"

#include <pthread.h>

struct pofa_run {
	pofa_recipe rc;
	char dir[1024];
	int resume;
	pthread_t th;
	int started;
	/* mailbox.c: the queues, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* a command arrived */
	pofa_event *q;
	int qn, qcap;
	int wake[2];              /* one byte per wake-up, non-blocking both ends */
	pofa_command *cmd;
	int ncmd, ccap;
	int finished, status;
	enum pofa_status fail_status;   /* of the stage that failed */
	int stop_signal;                /* the last stop's signal (0: the user's) */
	/* where a resumed run starts (state.c) */
	int start_stage;
	int64_t start_step;
	char start_ckpt[256];     /* its checkpoint folder, under dir ("": none) */
	int64_t ckpt_seq;         /* checkpoints written so far: unique folder names */
	char changed_from[32];    /* the recipe's hash when it began, if resumed changed */
	pofa_sched_edit edits[POFA_MAX_STAGES];  /* live edits so far, per stage */
	pofa_tokenizer *tk;
	int threads;
	int64_t step_now;         /* the running stage's step: the engine thread's log lines carry it */
	int lock_fd;              /* run.lock, flock'ed while the run is open */
	/* data-parallel (dist.h): this process's rank of nranks; a follower
	 * (rank > 0) computes as rank 0 does and writes nothing */
	int rank, nranks, follower;
	int overlap;              /* the gradient all-reduce runs during backward (run.overlap) */
};

/* a stage's data: the masked-LM corpus or the task's splits, the order of
 * the training examples and where the next batch starts, and one batch */
typedef struct stage_data {
	pofa_mlm_data mlm;
	int has_mlm;
	double *unigram;          /* masked LM: the training tokens' log-frequencies (the baseline) */
	pofa_labels labels;
	pofa_taskset train, dev;
	long *order, epoch, cursor;
	int *buf, *ids, *types, *mask, *lab, *st, *en;  /* one batch */
} stage_data;

/* the metrics interval under way: its sums, for the next metrics row */
typedef struct stage_sums {
	double task, kd, total, teacher, gn, hidden;
	long n;
	double t0, tokens;        /* when it began; tokens since */
} stage_sums;

/* pruning: the sparsity the masks were last pruned to, and the last
 * "masks recomputed" said (to say only changes) */
typedef struct stage_prune {
	double last_target;
	int said;
	double said_target, said_reached;
} stage_prune;

/* model selection (select, metric, patience): the last dev evaluation,
 * the best one's score (higher is better: a loss enters negated) and
 * step, and evaluations since it (kept in checkpoints) */
typedef struct stage_select {
	pofa_eval_result dev;
	int has_dev, has_best;
	double best_score;
	int64_t best_step, since_best;
} stage_select;

/* an evaluation under way: what it is, its last progress event, and a
 * stop or skip asked during it */
typedef struct eval_ctl {
	char what[256];
	double t_last;
	int stop_asked, skip_asked;
} eval_ctl;

/* a stage as it runs: its models, masks and optimizer, its step, and one
 * part per concern above */
typedef struct stage_ctx {
	int sparsity_due;        /* sparsity rows owed for this step: written after its pruning (stage.c) */
	pofa_run *r;
	struct pofa_dist_queue *sendq;   /* data-parallel with overlap: the all-reduce thread */
	int i;
	pofa_stage s;             /* a copy: live edits change it */
	pofa_model *m, *teacher;
	int kd_map[64];           /* kd_hidden: the teacher layer of each student layer */
	pofa_masks mk;
	int has_masks;
	int sparse_on;            /* the locked pattern trains through its nonzeros */
	pofa_optim opt;
	int64_t N, warm, step;    /* total steps, warmup steps, steps done */
	int64_t ckpt_step;        /* the step whose checkpoint is the last written (-1: none, or state changed since) */
	char ckpt_dir[1200];      /* ... and its folder */
	stage_data d;
	stage_sums sums;
	stage_prune pr;
	stage_select sel;
	eval_ctl ev;
	enum pofa_stage_status status;
} stage_ctx;

/* ---- mailbox.c ----------------------------------------------------------- */
double pofa_run_now(void);
pofa_event pofa_ev_new(enum pofa_ev_kind kind, int stage, const pofa_run *r);
void pofa_run_emit(pofa_run *r, pofa_event *e);
void pofa_run_log(pofa_run *r, int stage, enum pofa_ev_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* puts commands back at the head of the queue, for the next step boundary */
void pofa_run_requeue(pofa_run *r, const pofa_command *cmds, int n);
/* moves up to cap commands out of the queue; blocks for one while wait */
int pofa_run_take_commands(pofa_run *r, pofa_command *out, int cap, int wait);
/* the commands of a step boundary, the same on every rank */
int pofa_run_take_synced(pofa_run *r, pofa_command *out, int cap, int wait);
int pofa_mailbox_init(pofa_run *r, pofa_err *err);
void pofa_mailbox_free(pofa_run *r);
void pofa_run_wake(pofa_run *r);

/* ---- preflight.c --------------------------------------------------------- */
/* every file the stages from start_stage on will read, checked (exit 2) */
int pofa_preflight(pofa_run *r, pofa_err *err);

/* ---- stagectx.c ---------------------------------------------------------- */
/* a stage index, or these for the folders from and teacher name, or -1 */
enum { POFA_FROM_DIR = -2, POFA_TEACHER_DIR = -3 };
int pofa_stage_from(const pofa_stage *s);
int pofa_stage_teacher(const pofa_stage *s);
/* the folder of a model: a stage's (from >= 0), the folder the stage's
 * from or teacher names, or the [model] section's ("" for a preset) */
void pofa_stage_model_dir(const stage_ctx *c, int from, char *dir, size_t n);
/* the model a stage starts from, with the head it trains */
pofa_model *pofa_stage_model(stage_ctx *c, enum pofa_head head, enum pofa_model_use use, int from, int nlabels,
                             pofa_err *err);
void pofa_stage_order(stage_ctx *c);
void pofa_stage_data_pos(const stage_data *d, long *epoch, long *cursor);
void pofa_stage_data_free(stage_data *d);
pofa_gmp pofa_stage_ctx_gmp(const stage_ctx *c);
double pofa_stage_lr(const stage_ctx *c, int64_t t);
void pofa_stage_schedule(const stage_ctx *c, pofa_schedule *out);
enum pofa_stage_status pofa_stage_fail(stage_ctx *c, const pofa_err *err);

/* ---- state.c ------------------------------------------------------------- */
/* state.json: where to continue (checkpoint: a folder under the run, or NULL) */
int pofa_state_write(pofa_run *r, int stage, int64_t step, const char *checkpoint, pofa_err *err);
int pofa_state_read(pofa_run *r, int allow_changed_recipe, pofa_err *err);
/* deletes the stage's checkpoint folders but keep (NULL: all of them) */
void pofa_checkpoint_prune(pofa_run *r, int stage, const char *keep);
int pofa_checkpoint(stage_ctx *c, pofa_err *err);
int pofa_restore(stage_ctx *c, pofa_err *err);

/* ---- control.c ----------------------------------------------------------- */
enum { POFA_GO_ON, POFA_GO_SKIP, POFA_GO_STOP };
/* the commands waiting at a step boundary; blocks while paused. Returns a
 * POFA_GO_ verdict, or -1 with err set */
int pofa_stage_commands(stage_ctx *c, pofa_err *err);
/* applies a schedule edit to the running stage; 0, or -1 with why. replay:
 * an edit saved in state.json, already checked against the stage's past */
int pofa_apply_edit(stage_ctx *c, const pofa_sched_edit *e, int replay, char *why, size_t n);
/* a scorer's between() inside a run (arg: the stage_ctx): progress, and the
 * commands that cannot wait for the evaluation's end; nonzero: stop it */
int pofa_eval_poll(void *arg, long done, long total);

/* ---- evals.c ------------------------------------------------------------- */
int pofa_evaluate_dev(stage_ctx *c, pofa_err *err);
/* a masked-LM stage's first step: the unigram baseline's dev loss (eval.csv,
 * the chart's reference line) before the model has learned anything */
int pofa_unigram_row(stage_ctx *c, pofa_err *err);
enum pofa_stage_status pofa_eval_stage(stage_ctx *c, pofa_err *err);

/* ---- stage.c ------------------------------------------------------------- */
enum pofa_stage_status pofa_train_stage(stage_ctx *c, pofa_err *err);

#endif
