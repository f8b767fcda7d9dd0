/*
 * eval.h - evaluation: a model over a tokenized split in batches, with the
 * task's metrics, its mean loss and, when asked, one CSV row per example.
 */
#ifndef POFA_EVAL_H
#define POFA_EVAL_H

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

/* Sequences a second of inf over up to `batches` batches of B of the
 * split (after one batch of warm-up), or -1 on error. */
double pofa_eval_throughput(pofa_infer *inf, const pofa_taskset *ts, int B, int batches, pofa_err *err);

#endif
