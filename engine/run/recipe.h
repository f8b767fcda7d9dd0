/*
 * recipe.h - a run described in INI (parsed with inih), man pofa-recipe(5):
 *
 *   [run]            name, seed, threads, log_interval, checkpoint_interval
 *   [model]          preset or dir, vocab, max_position, dropouts
 *   [data]           dir, corpus
 *   [task NAME]      a task of the user's: format, files, columns
 *   [stage NAME] ... kind = mlm | prune | finetune | qat | eval, and the
 *                    stage's knobs; from = and teacher = name earlier stages
 *
 * Overrides "section.key=value" (a stage's section is its name) apply before
 * validation. Every error names file:line and the key. A relative path in
 * the file is taken from the file's folder, one in an override from the
 * current folder; the recipe as run holds them resolved.
 */
#ifndef POFA_RECIPE_H
#define POFA_RECIPE_H

#include "data/task/task.h"
#include "engine/pofa.h"
#include "engine/sparse/sparse.h"

#define POFA_MAX_STAGES 32
#define POFA_MAX_TASKS 16

enum pofa_stage_kind {
	POFA_STAGE_MLM, POFA_STAGE_PRUNE, POFA_STAGE_FINETUNE, POFA_STAGE_QAT, POFA_STAGE_EVAL,
	POFA_STAGE_KIND_COUNT
};
extern const char *const pofa_stage_kinds[]; /* POFA_STAGE_KIND_COUNT of them */

typedef struct pofa_stage {
	char name[48];
	enum pofa_stage_kind kind;
	int line;                 /* of its [stage NAME] header */
	char from[48], teacher[48];
	int from_idx, teacher_idx; /* -1: none (from: the [model] section) or a folder */
	char from_dir[512], teacher_dir[512];  /* from, teacher naming a model folder */
	/* training */
	int64_t steps;
	double epochs;
	int batch, seq;
	double lr;
	double warmup;            /* steps, or a fraction of the steps when < 1 */
	enum pofa_sched_kind schedule;
	int schedule_set;
	double weight_decay, beta1, beta2, eps, max_grad_norm;
	int shuffle;
	int64_t eval_interval;
	/* model selection over the dev evaluations (eval_interval): the best by
	 * metric ("": the task's main one; loss: lowest), or the last; stop
	 * after patience evaluations without a better one (0: never) */
	int select_best;
	char metric[24];
	int64_t patience;
	int64_t eval_examples;    /* at most this many of a dev or test split, evenly (0: all) */
	float hidden_dropout, attention_dropout, classifier_dropout;  /* < 0: config's */
	/* distillation */
	float alpha_task, alpha_kd, temperature;
	/* pruning */
	int prune;                /* GMP during this stage */
	float initial_sparsity, final_sparsity;
	double start, end, every, freeze;   /* steps, or fractions of the steps when < 1 */
	enum pofa_pattern pattern;
	int block, nm_n, nm_m, global;
	int lock;
	int per_channel;
	/* masked-LM data */
	int whole_word;
	float mask_prob;
	/* task */
	pofa_task_spec task;
	/* eval */
	char models[512];         /* comma-separated stage names */
	char splits[64];
	char reference[48];       /* % of this model in the report */
} pofa_stage;

typedef struct pofa_recipe {
	char path[1024];
	char name[64];
	uint64_t seed;
	int threads;
	int64_t log_interval, checkpoint_interval;
	char overlap[8];          /* data-parallel: all-reduce during backward: auto, yes, no ("": auto) */
	char preset[32], model_dir[512], vocab[512];
	char vocab_from[1000];    /* which key (file:line) or default gave vocab */
	int max_position;
	float hidden_dropout, attention_dropout;
	char data_dir[512], corpus[512];
	pofa_stage stages[POFA_MAX_STAGES];
	int nstages;
	char *text;               /* the recipe as run, overrides applied */
	uint64_t hash;            /* FNV-1a of text */
} pofa_recipe;

int pofa_recipe_load(const char *path, const char *const *overrides, int nover, pofa_recipe *r,
                     pofa_err *err);
void pofa_recipe_free(pofa_recipe *r);
int pofa_recipe_stage(const pofa_recipe *r, const char *name);
/* a run's or stage's name, which becomes a folder: letters, digits, - and
 * _, at most 47 */
int pofa_name_ok(const char *name);
/* the stage's seed: the run's seed and the stage's name, never its place
 * (moving a stage, or adding one before it, leaves its result alone) */
uint64_t pofa_stage_seed(const pofa_recipe *r, const pofa_stage *s);
/* the stage's total steps given its training set size */
int64_t pofa_stage_total_steps(const pofa_stage *s, long ntrain);
/* a "steps or fraction" value resolved against a total */
int64_t pofa_steps_of(double v, int64_t total);
/* the stage's GMP parameters for a total number of steps */
pofa_gmp pofa_stage_gmp(const pofa_stage *s, int64_t total);
/* The one check of a stage's knobs, each against its range in the recipe's
 * key table and all of them against each other, shared by the recipe
 * loader and live schedule edits. total: the stage's steps when known (0:
 * only what does not depend on it). Returns 0, or -1 with why. */
int pofa_stage_check(const pofa_stage *s, int64_t total, char *why, size_t n);

#endif
