/*
 * loaders.h - task files in, batches out, scores back.
 *
 *   GLUE-style TSV/CSV (libcsv): columns chosen by name; labels mapped to
 *     ids from the training split.
 *   SQuAD v1.1 JSON (cJSON): questions and contexts as windowed features,
 *     answers as token spans, and predictions mapped back to text.
 *   MLM: a text corpus packed into sequences, masked afresh every epoch.
 *   Metrics: accuracy, macro-F1, binary F1, SQuAD exact match and F1.
 * Bad input comes back as POFA_ERR_INPUT with "file:line: what; what to do".
 */
#ifndef POFA_LOADERS_H
#define POFA_LOADERS_H

#include "data/base/error.h"
#include "data/task/task.h"
#include "data/text/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* ---- labels -------------------------------------------------------------- */

typedef struct pofa_labels {
	int n;
	char **names;    /* id -> name: the model's order, or sorted from a training split */
	char from[300];  /* where they come from, for messages ("DIR/config.json") */
} pofa_labels;
void pofa_labels_free(pofa_labels *l);
/* the id of a label: its name, or for a model with Hugging Face's default
 * names (LABEL_0, ...) or none, the id itself written as a number; -1 */
int pofa_labels_find(const pofa_labels *l, const char *name);
/* "a, b, c" (at most n bytes) */
void pofa_labels_list(const pofa_labels *l, char *out, size_t n);

/* ---- sentence (pair) classification ------------------------------------- */

typedef struct pofa_text_task {
	int n;
	char **a, **b;   /* b is NULL for single sentences */
	int *label;
	long *line;      /* line of each example in its file */
	long refused;    /* lines refused: a field count other than the header's */
	long refused_line[8];   /* the first of them */
} pofa_text_task;

/* Reads a task file with a header row, in the spec's columns and format:
 * GLUE-style TSV by default (tab-separated, no quoting: a line is a record,
 * quotes are text), CSV (comma, RFC 4180 quoting: a record may span lines),
 * or the spec's own delimiter and quoting. A line whose field count differs
 * from the header's is refused and counted (t->refused), not merged. labels:
 * when labels->n == 0 they are built from this file (the training split),
 * sorted; otherwise each label must be one of them. */
int pofa_text_task_load(const pofa_task_spec *spec, const char *path, pofa_labels *labels,
                        pofa_text_task *t, pofa_err *err);
void pofa_text_task_free(pofa_text_task *t);
/* "N examples" or "N examples, M lines refused (path:L, ...)" */
void pofa_text_task_summary(const pofa_text_task *t, const char *path, char *out, size_t n);

/* ---- extractive QA (SQuAD v1.1) ------------------------------------------ */

typedef struct pofa_qa_example {
	char *id, *question, *context;
	int nans;
	char **answers;        /* texts */
	long *answer_start;    /* byte offsets into context */
} pofa_qa_example;

typedef struct pofa_qa_feature {
	int example;           /* index into examples */
	int start, end;        /* answer token positions; 0 ([CLS]) when outside */
	/* (T) arrays inside the feature block */
	int *ids, *types, *mask, *off0, *off1;  /* off: context byte offsets, -1 off context */
} pofa_qa_feature;

typedef struct pofa_qa_set {
	int nex, nfeat;
	pofa_qa_example *ex;
	pofa_qa_feature *feat;
	int T;
	int *block;            /* all feature arrays */
	long unmatched;        /* answers whose text is not at answer_start */
} pofa_qa_set;

int pofa_qa_load(const char *path, pofa_qa_set *qa, pofa_err *err);
/* windows of max_len tokens, doc_stride apart, question cut at max_query */
int pofa_qa_featurize(pofa_qa_set *qa, pofa_tokenizer *tk, int max_len, int doc_stride,
                      int max_query, pofa_err *err);
void pofa_qa_free(pofa_qa_set *qa);
/* Best answer of an example from its features' start/end logits (T each,
 * feature f's at logits + 2*T*f: start then end... see loaders.c). Writes
 * the predicted text (a slice of the context) into out. */
int pofa_qa_predict(const pofa_qa_set *qa, int example, const float *start_logits,
                    const float *end_logits, int n_best, int max_answer_len, char *out,
                    size_t outsz);

/* ---- masked-LM batches from a corpus ------------------------------------- */

typedef struct pofa_mlm_data {
	int *tokens;           /* every sentence's ids, back to back */
	long ntokens;
	long *seq_start;       /* packed sequences: [seq_start[i], seq_start[i] + seq_len[i]) */
	int *seq_len;
	int *seq_b;            /* a pair's second segment: its first token's index in the sequence (0: none) */
	long nseq;
	long *order;           /* this epoch's order */
	long *train, *dev;     /* sequence indices of each split */
	long ntrain, ndev;
	int T;
	int vocab, cls, sep, pad, mask_id;
	const pofa_tokenizer *tk;
	uint64_t seed;
	long epoch, cursor;    /* position, for resume */
	int whole_word;
	float mask_prob;
	unsigned char *word_start; /* per token: starts a word (not ##) */
} pofa_mlm_data;

/* Tokenizes the corpus (one sentence per line, blank lines between
 * documents) and packs sentences into sequences of at most T tokens with
 * [CLS] ... [SEP]. A line with a tab is a pair, a sequence of its own as
 * BERT encodes two segments: [CLS] A [SEP] B [SEP], B's tokens and its
 * [SEP] of token type 1 (the longer segment cut first when it does not
 * fit). About 1% of the sequences (by hash) form a dev split. */
int pofa_mlm_load(const char *corpus, pofa_tokenizer *tk, int T, uint64_t seed,
                  pofa_mlm_data *d, pofa_err *err);
void pofa_mlm_free(pofa_mlm_data *d);
/* The next training batch (B sequences; the epoch turns over as needed):
 * ids, types, attention mask and labels (POFA_IGNORE where not chosen). */
void pofa_mlm_next(pofa_mlm_data *d, int B, int *ids, int *types, int *mask, int *labels);
/* Moves the batch position to (epoch, cursor), as saved in a checkpoint. */
void pofa_mlm_seek(pofa_mlm_data *d, long epoch, long cursor);
/* Dev batch number k (fixed masks). Returns the sequences filled. */
int pofa_mlm_dev(pofa_mlm_data *d, long k, int B, int *ids, int *types, int *mask, int *labels);
/* Masks sequence seq for the given epoch (pure function of seed, epoch, seq). */
void pofa_mlm_mask(const pofa_mlm_data *d, long seq, long epoch, int *ids, int *types, int *mask,
                   int *labels);

/* ---- metrics --------------------------------------------------------------- */

double pofa_accuracy(const int *pred, const int *gold, int n);
double pofa_macro_f1(const int *pred, const int *gold, int n, int nclasses);
double pofa_binary_f1(const int *pred, const int *gold, int n, int positive);
/* SQuAD v1.1: normalised text (lower case, no punctuation, no articles,
 * single spaces); EM and F1 against the best of the gold answers */
void pofa_squad_normalize(const char *s, char *out, size_t outsz);
double pofa_squad_em(const char *pred, const char *const *gold, int ngold);
double pofa_squad_f1(const char *pred, const char *const *gold, int ngold);

/* deterministic shuffle of idx[0..n) from a seed */
void pofa_shuffle(long *idx, long n, uint64_t seed);

#endif
