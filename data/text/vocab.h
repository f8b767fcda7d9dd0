/* vocab.h - WordPiece vocabulary trainer (pofa vocab). */
#ifndef POFA_VOCAB_H
#define POFA_VOCAB_H

#include "data/base/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pofa_vocab_stats {
	long words;          /* word occurrences in the corpus */
	long unique_words;
	int alphabet;        /* characters kept (word-initial and ## forms) */
	int merges;          /* learned pieces */
	int size;            /* lines written */
} pofa_vocab_stats;

/* Learns a vocabulary of `size` tokens from the text file corpus and writes
 * it to out atomically: [PAD] [UNK] [CLS] [SEP] [MASK], the characters,
 * then the learned pieces in the order they were learned. Deterministic. */
int pofa_vocab_train(const char *corpus, int size, const char *out, pofa_vocab_stats *st,
                     pofa_err *err);

#endif
