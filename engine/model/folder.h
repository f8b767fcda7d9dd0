/*
 * folder.h - what a model folder says of itself beyond its weights: how it
 * was trained, in training.json (the run and stage it came from, the
 * sequence length it was trained at, and for a task model the task's
 * format, columns and label order; pofa eval and pofa predict default to
 * them; a model without the file, made by another tool, works as before),
 * and the labels its classifier names (config.json's id2label).
 */
#ifndef POFA_MODEL_FOLDER_H
#define POFA_MODEL_FOLDER_H

#include "data/task/loaders.h"
#include "data/task/task.h"
#include "engine/pofa.h"

#include <stdint.h>

#define POFA_TRAINED_FILE "training.json"

typedef struct pofa_trained {
	char run[64], run_dir[1024], stage[48], kind[16];
	char recipe[1024];
	uint64_t recipe_hash, seed;
	int64_t step, steps;      /* steps done, of the stage's total */
	char from[1024], teacher[1024];   /* a stage name or a model folder; "" none */
	int seq, batch;
	double sparsity;          /* of the prunable matrices as saved (< 0: not recorded) */
	int has_task;
	pofa_task_spec task;
	int nlabels;
	char labels[64][64];      /* the head's order */
} pofa_trained;

/* Writes dir/training.json atomically. */
int pofa_trained_save(const char *dir, const pofa_trained *t, pofa_err *err);
/* Reads dir/training.json: 0, 1 when the folder has none, or an error
 * (status 2) naming the file and the key. */
int pofa_trained_load(const char *dir, pofa_trained *t, pofa_err *err);

/* the labels of the classification model in dir, in its order (LABEL_k
 * where config.json names none): 1; 0 when it has no classifier; -1 on
 * error */
int pofa_model_dir_labels(const char *dir, pofa_labels *out, pofa_err *err);

#endif
