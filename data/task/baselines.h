/*
 * baselines.h - what a task scores without a model, so that a model's
 * figure can be read against it:
 *
 *   majority      the training split's most frequent label, for every
 *                 example;
 *   bag-of-words  multinomial naive Bayes over the WordPiece tokens of both
 *                 texts (add-one smoothing), trained on the training split;
 *   word overlap  (pairs) the positive class when the share of the first
 *                 text's words that match a word of the second (the same
 *                 first four letters, or the whole word when shorter) is at
 *                 least a threshold, the threshold the training split's
 *                 best;
 *   unigram       (masked LM) the training split's token frequencies
 *                 (add-one smoothing): their cross-entropy on the tokens
 *                 a masked-LM evaluation masks is what a model that
 *                 ignores context scores, against its masked-LM loss.
 *
 * Each is a pure function of the files and the vocabulary.
 */
#ifndef POFA_TASK_BASELINES_H
#define POFA_TASK_BASELINES_H

#include "data/task/loaders.h"

typedef struct pofa_baseline {
	char name[24];            /* "majority", "bag-of-words", "word overlap" */
	double accuracy, macro_f1, f1;   /* percent; f1: the positive class's (two classes), else 0 */
} pofa_baseline;

/* The classification baselines of a task: trained on train, scored on
 * eval, in the labels' ids; positive the positive class of two (-1:
 * none; word overlap needs it and two texts). Returns how many were
 * written to out (at most 3), or -1 out of memory. */
int pofa_baselines_text(const pofa_text_task *train, const pofa_text_task *eval, int nlabels, int positive,
                        pofa_tokenizer *tk, pofa_baseline *out);

/* The log-probability of each token of the vocabulary by its frequency
 * in the masked-LM data's training sequences, add-one smoothed (the
 * special tokens [CLS], [SEP], [PAD] never count); NULL when out of
 * memory. free() it. */
double *pofa_unigram_logp(const pofa_mlm_data *d);

#endif
