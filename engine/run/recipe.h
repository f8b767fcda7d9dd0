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

#define POFA_MAX_STAGES 64
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
	char from[512], teacher[512];  /* a stage name or a model folder */
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
	float kd_hidden;          /* weight of hidden-state distillation (0: none) */
	int kd_layers[64], nkd_layers;   /* the teacher layer of each student layer (none: spread evenly) */
	/* a student with fewer layers: the from model's layers it keeps (none: all) */
	int layers[64], nlayers;
	/* pruning */
	int prune;                /* GMP during this stage */
	float initial_sparsity, final_sparsity;
	double start, end, every, freeze;   /* steps, or fractions of the steps when < 1 */
	enum pofa_pattern pattern;
	int block, nm_n, nm_m, global;
	int method;               /* a row of pofa_prune_methods */
	int obert_block, obert_grads, obert_update;   /* method = obert (obert.h; 0: sized) */
	double obert_damp;
	int lock;
	int per_channel;
	/* masked-LM data */
	int whole_word;
	float mask_prob;
	/* task */
	pofa_task_spec task;
	/* eval */
	char models[2048];        /* comma-separated: stage names or model folders (resolved) */
	char splits[64];
	char reference[48];       /* % of this model in the report */
	int baselines;            /* the task's baselines beside the models (baselines.h) */
} pofa_stage;

typedef struct pofa_recipe {
	char path[1024];
	char name[64];
	uint64_t seed;
	int threads;
	int64_t log_interval, checkpoint_interval;
	double step_scale;        /* every stage's steps (or epochs) times this: a shorter or longer run */
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

/* ---- the keys (recipe_keys.c) -------------------------------------------- *
 * One table, as tmux's options-table: every key of every section with its
 * type, range or choices, default and a line of help. Parsing, --set, the
 * defaults, range checks and pofa recipe --keys all come from it. */
enum pofa_key_type {
	POFA_KEY_INT, POFA_KEY_I64, POFA_KEY_DBL, POFA_KEY_FLT,
	POFA_KEY_STEPS,           /* whole steps, or below 1 a fraction of the stage's steps */
	POFA_KEY_BOOL,            /* yes/no, true/false, on/off, 1/0 */
	POFA_KEY_STR,             /* text */
	POFA_KEY_PATH,            /* a file or folder: relative ones from the recipe's folder */
	POFA_KEY_CHOICE,          /* one of choices (|-separated), stored as its index */
	POFA_KEY_WORD,            /* one of choices, stored as text */
	POFA_KEY_SPECIAL,         /* parsed by its own function */
	POFA_KEY_TYPE_COUNT
};
enum pofa_key_where {         /* the sections a key belongs to */
	POFA_IN_RUN = 1, POFA_IN_MODEL = 2, POFA_IN_DATA = 4, POFA_IN_STAGE = 8, POFA_IN_TASK = 16
};
typedef struct pofa_recipe_key {
	const char *name;
	unsigned where;           /* enum pofa_key_where bits */
	enum pofa_key_type type;
	size_t off, size;         /* into pofa_recipe (run, model, data) or pofa_stage (stage, task) */
	double lo, hi;            /* numbers: the range */
	const char *choices;      /* CHOICE, WORD: "linear|constant|rewind" */
	const char *def;          /* the default as a recipe writes it; NULL: none, or worked out (help says) */
	const char *help;         /* one line */
	/* SPECIAL: v into base (r: the recipe so far); 0, or -1 with what is wanted in why */
	int (*parse)(void *base, const pofa_recipe *r, const char *v, char *why, size_t n);
} pofa_recipe_key;
extern const pofa_recipe_key pofa_recipe_keys[];
extern const int pofa_recipe_nkeys;
/* the key of a section kind (POFA_IN_...) by name, or NULL */
const pofa_recipe_key *pofa_recipe_key_find(unsigned where, const char *name);
/* sets base's field from v: 0, or -1 with what is wanted in why */
int pofa_recipe_key_set(const pofa_recipe_key *k, void *base, const pofa_recipe *r, const char *v, char *why,
                        size_t n);
/* what a key takes, for the key list: "a whole number in [1, 64]", "yes or no" */
void pofa_recipe_key_takes(const pofa_recipe_key *k, char *out, size_t n);
/* the table's defaults into a stage (POFA_IN_STAGE and POFA_IN_TASK keys), or
 * into the recipe's run, model and data keys */
void pofa_stage_defaults(pofa_stage *s);
void pofa_recipe_defaults(pofa_recipe *r);
/* the name of an eval stage's model in results: a stage's name, or the
 * last two parts of a folder */
void pofa_model_ref_name(const char *ref, char *name, size_t n);
/* an eval stage's models, each trimmed: up to cap into refs (each < 1024) */
int pofa_stage_model_refs(const pofa_stage *s, char (*refs)[1024], int cap);
void pofa_recipe_free(pofa_recipe *r);
int pofa_recipe_stage(const pofa_recipe *r, const char *name);
/* a run's or stage's name, which becomes a folder: letters, digits, - and
 * _, at most 47, not starting with - */
int pofa_name_ok(const char *name);
/* the stage's seed: the run's seed and the stage's name, never its place
 * (moving a stage, or adding one before it, leaves its result alone) */
uint64_t pofa_stage_seed(const pofa_recipe *r, const pofa_stage *s);
/* run.step_scale: the stage's steps, epochs, warm-up, evaluation interval
 * and schedule counts in steps times scale (at least 1); fractions stay */
void pofa_stage_scale(pofa_stage *s, double scale);
/* the stage's total steps given its training set size */
int64_t pofa_stage_total_steps(const pofa_stage *s, long ntrain);
/* a "steps or fraction" value resolved against a total */
int64_t pofa_steps_of(double v, int64_t total);
/* the stage's GMP parameters for a total number of steps */
pofa_gmp pofa_stage_gmp(const pofa_stage *s, int64_t total);
/* hidden-state distillation's map (kd_layers, else spread evenly: student
 * layer l of ls learns teacher layer (l + 1) lt / ls - 1) into map[ls] */
void pofa_stage_kd_map(const pofa_stage *s, int ls, int lt, int *map);
/* The one check of a stage's knobs, each against its range in the recipe's
 * key table and all of them against each other, shared by the recipe
 * loader and live schedule edits. total: the stage's steps when known (0:
 * only what does not depend on it). Returns 0, or -1 with why. */
int pofa_stage_check(const pofa_stage *s, int64_t total, char *why, size_t n);

#endif
