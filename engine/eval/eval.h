/*
 * eval.h - evaluation: a model over a tokenized split in batches, with the
 * task's metrics, its mean loss and, when asked, one CSV row per example
 * (pofa_evaluate); and the one evaluator of model folders that pofa eval
 * and eval stages share (pofa_eval_model, pofa_eval_models).
 */
#ifndef POFA_EVAL_H
#define POFA_EVAL_H

#include "data/task/baselines.h"
#include "data/task/taskset.h"
#include "engine/infer/infer.h"
#include "engine/pofa.h"

/* the head a task trains: classification or span extraction */
enum pofa_head pofa_task_head(const pofa_task_spec *spec);

typedef struct pofa_metric { char name[24]; double value; } pofa_metric;
typedef struct pofa_eval_result {
	int n;
	pofa_metric m[6];      /* m[0] is the task's main metric */
	double loss;           /* mean task loss */
	long examples;
	long sequences;        /* sequences run (SQuAD: windows) */
	double forward_s;      /* seconds in forward passes */
	/* classification: the confusion matrix, conf[gold][predicted], of ncls
	 * classes (0: a span task), and the positive class of two (-1: none) */
	int ncls, positive;
	int32_t conf[64][64];
	int stopped;           /* ended early by the scorer's between() */
} pofa_eval_result;

/* one class's figures from a confusion matrix: precision, recall and F1 in
 * percent (0 where undefined), support (gold) and predicted counts */
typedef struct pofa_class_stats {
	double precision, recall, f1;
	int64_t support, predicted;
} pofa_class_stats;
pofa_class_stats pofa_class_stats_of(const pofa_eval_result *r, int k);

/* what evaluates: the forward-only path (infer), or else the training
 * model (dense, masked; a QAT model's int8 simulated) */
typedef struct pofa_scorer {
	pofa_infer *infer;
	pofa_model *model;
	/* called after each batch with the batches done and their total (may
	 * be NULL); a nonzero return ends the evaluation early, res->stopped set */
	int (*between)(void *arg, long done, long total);
	void *arg;
	/* data-parallel (dist.h): each rank scores every N-th batch and the
	 * results are summed, so every rank gets the whole split's metrics
	 * (between is still called at every batch, in step on all ranks; the
	 * speed figures are this rank's). Not with a predictions file. */
	int split;
} pofa_scorer;

/* Runs the scorer over the split in batches of B (no dropout). With a
 * predictions path, writes one CSV row per example. */
int pofa_evaluate(const pofa_scorer *s, const pofa_taskset *ts, const pofa_labels *labels, int B,
                  const char *predictions, pofa_eval_result *res, pofa_err *err);

/* Model a's speed over model b's, measured as a benchmark is, not from one
 * timing: the same `batches` batches of B of the split, in `rounds` rounds
 * (at most POFA_SPEEDUP_ROUNDS) in which the two take turns (who goes first
 * alternates), after a warm-up batch each. speedup is the median of the
 * rounds' time ratios (lo, hi their range); the throughputs are the
 * medians of the rounds'. All zero when the split is empty. */
#define POFA_SPEEDUP_ROUNDS 15
typedef struct pofa_speedup {
	int rounds;
	double speedup, lo, hi;
	double a_seq_per_s, b_seq_per_s;
} pofa_speedup;
int pofa_eval_speedup(pofa_infer *a, pofa_infer *b, const pofa_taskset *ts, int B, int batches, int rounds,
                      pofa_speedup *out, pofa_err *err);

/* ---- model folders (models.c) ---------------------------------------------- */

typedef struct pofa_eval_opts {
	/* the task (format, columns, files); NULL: the model's own, from its
	 * training.json */
	const pofa_task_spec *task;
	const char *split;          /* train, dev or test of the task (NULL: dev) */
	const char *file;           /* a file instead of the split's */
	int B, T, threads;          /* T 0: the length it was trained at, else its positions up to 128 */
	long examples;              /* at most this many, taken evenly (0: all) */
	int reference;              /* the training forward instead of the forward-only path */
	const char *predictions;    /* a CSV row per example, or NULL */
	int split_ranks;            /* data-parallel: each rank scores its share (pofa_scorer.split) */
	int (*between)(void *arg, long done, long total);  /* as pofa_scorer's */
	void (*note)(void *arg, const char *msg);           /* what was chosen for the user (may be NULL) */
	void *arg;
} pofa_eval_opts;

typedef struct pofa_eval_report {
	char model[1024];           /* the folder */
	char file[1024];            /* the file evaluated */
	int T;                      /* the sequence length used */
	pofa_eval_result res;
	pofa_labels labels;         /* the model's classes, in its order */
	char summary[400];          /* the split as loaded: "path: N examples..." */
	int int8, reference;        /* int8 weights; the training forward */
	double sparsity;            /* of the model's prunable matrices */
	pofa_infer_info info;       /* the forward-only model (has_info) */
	int has_info;
	char how[200];              /* "int8, avx512-vnni: 72 int8" */
	double seq_per_s, dense_seq_per_s, speedup;   /* 0: not measured */
	double speedup_lo, speedup_hi;                /* the rounds' range (pofa_eval_speedup) */
	int speedup_same;                             /* the model computes as the dense one: 1.00 by definition */
} pofa_eval_report;

/* One model folder on a task's split: its metrics, per class and confusion
 * (res, labels), how it computed and its speed against the same model
 * dense. Bad files, a model without the task's head, labels the model
 * does not have: POFA_ERR_INPUT naming the file. */
int pofa_eval_model(const char *dir, const pofa_eval_opts *o, pofa_eval_report *rep, pofa_err *err);
void pofa_eval_report_free(pofa_eval_report *rep);
/* Each of n folders in turn, its report to fn (a nonzero return stops the
 * list); the first error stops it too. */
/* a measured speed-up whose rounds' range holds 1: no speed-up shown */
int pofa_eval_within_noise(const pofa_eval_report *rep);
int pofa_eval_models(const char *const *dirs, int n, const pofa_eval_opts *o,
                     int (*fn)(void *arg, int k, const pofa_eval_report *rep), void *arg, pofa_err *err);

/* ---- baselines (baselines.c) ----------------------------------------------- */

/* The task's baselines (majority, bag-of-words, word overlap for pairs:
 * data/task/baselines.h) learnt from its training split and scored on
 * file (at most examples of it, taken evenly as pofa_taskset_sample
 * takes them; 0: all), into out (3 at most), their count into *n; none
 * for a span task. */
int pofa_eval_baselines(const pofa_task_spec *task, const char *file, long examples, pofa_tokenizer *tk,
                        pofa_baseline *out, int *n, pofa_err *err);

#endif
