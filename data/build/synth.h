/* synth.h - synthetic token streams for demos, benchmarks and tests. */
#ifndef POFA_SYNTH_H
#define POFA_SYNTH_H

#include "data/base/error.h"

#include <stddef.h>
#include <stdint.h>

/* Special token ids of the synthetic vocabulary (see pofa_synth_write_vocab). */
enum { POFA_SYNTH_PAD = 0, POFA_SYNTH_UNK = 1, POFA_SYNTH_CLS = 2, POFA_SYNTH_SEP = 3, POFA_SYNTH_MASK = 4, POFA_SYNTH_FIRST = 5 };

/* A learnable stream: each sequence picks one of `topics` topics; a topic
 * owns a slice of 32 tokens of the vocabulary and a successor table, and each next token
 * is the successor of the previous one with probability 0.75, else a random
 * token of the topic. A masked token is thus predictable from its left
 * neighbour, and the MLM loss falls well below log(V) as the model learns. */
typedef struct pofa_synth {
	int V, topics, per_topic;
	int *succ;          /* (topics, per_topic) successor index inside the topic */
	uint64_t state;
} pofa_synth;

int pofa_synth_init(pofa_synth *s, int vocab_size, uint64_t seed);
void pofa_synth_free(pofa_synth *s);
/* Fills (B, T) ids, token types, attention mask and MLM labels: [CLS] body
 * [SEP], 15% of body tokens chosen (80% [MASK], 10% random, 10% kept).
 * Lengths vary when vary_len is set (the rest is padding). */
void pofa_synth_batch(pofa_synth *s, int B, int T, int vary_len, int *ids, int *types, int *mask, int *labels);
/* vocab.txt with the five specials first, then w5, w6, ... */
int pofa_synth_write_vocab(const char *path, int vocab_size, pofa_err *err);

#endif
