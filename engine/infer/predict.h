/*
 * predict.h - a model folder as a library call: load it once, then predict
 * texts (a label, an answer, or the fillers of [MASK]) from any number of
 * threads. This is what `pofa predict` runs; pofa_infer(3) documents it.
 *
 *     pofa_err err;
 *     pofa_predictor *p = pofa_predictor_open("runs/demo/task-teacher", NULL, &err);
 *     if (!p) { fprintf(stderr, "%s\n", err.msg); return 2; }
 *     pofa_text t = { .a = "a small domesticated cat", .na = -1 };
 *     pofa_prediction r;
 *     if (pofa_predict(p, &t, 1, &r, &err) == 0)
 *         printf("%s %.3f\n", pofa_predictor_label(p, r.best[0].id), r.best[0].prob);
 *     pofa_prediction_free(&r, 1);
 *     pofa_predictor_close(p);
 *
 * The folder holds config.json and vocab.txt, and model.safetensors or the
 * packed file pofa export --packed writes (then model.safetensors is not
 * read); a QAT model runs in int8 unless asked for float32. One pass takes
 * up to `batch` texts padded to the longest; a longer list is split.
 * pofa_predict is thread-safe: each call runs on weights shared by all and
 * activations of its own (made the first time that many calls overlap).
 */
#ifndef POFA_INFER_PREDICT_H
#define POFA_INFER_PREDICT_H

#include "data/base/error.h"
#include "engine/pofa.h"

typedef struct pofa_predictor pofa_predictor;

typedef struct pofa_predictor_opts {
	int seq;      /* tokens a text (a pair: both): 0, the length the model was trained
	                 at (its training.json), else its positions up to 512 */
	int batch;    /* texts a forward pass (0: 16) */
	int threads;  /* threads a pass (0: 1) */
	int float32;  /* a QAT model in float32 instead of its int8 weights */
	int top;      /* labels kept a classification (0: 1), fillers a [MASK] (0: 5) */
} pofa_predictor_opts;

/* one input: text a, and b the second text of a pair (NULL: none; a span
 * model: a the question and b the context). Lengths in bytes, < 0: up to
 * the NUL. */
typedef struct pofa_text {
	const char *a, *b;
	long na, nb;
} pofa_text;

typedef struct pofa_scored {
	int id;       /* a label's id (pofa_predictor_label), or a token's (pofa_predictor_token) */
	double prob;
} pofa_scored;

typedef struct pofa_prediction {
	/* classification: the k likeliest labels, best first (a tie: the lower
	 * id first); fill-mask: k fillers of each of the nmasks [MASK]s, mask
	 * by mask, best first, special tokens never among them */
	pofa_scored *best;
	int k, nmasks;
	int masks_cut;  /* fill-mask: [MASK]s past the sequence length, not ranked */
	/* span: the answer, bytes [start, end) of the context (b, or a when b
	 * is NULL), at most 30 tokens, with the sum of its start and end
	 * logits; start = end = -1 when the context has no token */
	long start, end;
	double score;
} pofa_prediction;

/* Loads a model folder. o may be NULL (the defaults). A bad folder:
 * NULL, err->status POFA_ERR_INPUT and a message naming the file. */
pofa_predictor *pofa_predictor_open(const char *dir, const pofa_predictor_opts *o, pofa_err *err);
void pofa_predictor_close(pofa_predictor *p);

enum pofa_head pofa_predictor_head(const pofa_predictor *p);
const pofa_config *pofa_predictor_config(const pofa_predictor *p);
int pofa_predictor_seq(const pofa_predictor *p);        /* tokens a text, as opened */
int pofa_predictor_single(const pofa_predictor *p);     /* a classifier trained on single texts */
/* a label's name (config.json's id2label; NULL where it names none), a
 * token's text (NULL out of range) */
const char *pofa_predictor_label(const pofa_predictor *p, int id);
const char *pofa_predictor_token(const pofa_predictor *p, int id);

/* Predicts n texts into out[0 .. n) (freed with pofa_prediction_free).
 * Returns 0, or an error status (out of memory) with nothing to free. */
int pofa_predict(pofa_predictor *p, const pofa_text *in, int n, pofa_prediction *out, pofa_err *err);
void pofa_prediction_free(pofa_prediction *out, int n);

#endif
