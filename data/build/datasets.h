/* datasets.h - the data pofa builds from Debian packages (pofa data build):
 * the GCIDE pre-training corpus and the WordNet tasks. */
#ifndef POFA_DATASETS_H
#define POFA_DATASETS_H

#include "data/base/error.h"

#include <stddef.h>
#include <stdint.h>

/* a growing text buffer */
typedef struct pofa_sbuf { char *s; size_t n, cap; } pofa_sbuf;
int pofa_sbuf_put(pofa_sbuf *b, const char *s, size_t n);
int pofa_sbuf_str(pofa_sbuf *b, const char *s);
int pofa_sbuf_chr(pofa_sbuf *b, char c);
void pofa_sbuf_free(pofa_sbuf *b);

#define GCIDE_DICT "/usr/share/dictd/gcide.dict.dz"
#define GCIDE_INDEX "/usr/share/dictd/gcide.index"
#define WORDNET_DIR "/usr/share/wordnet"

typedef struct pofa_gcide_stats {
	long entries, documents, sentences, words;
	long held_out;            /* sentences left out: a definition or example the tasks evaluate on */
} pofa_gcide_stats;

/* the text of a sentence as the held-out check compares it: lower-case
 * ASCII letters and digits, words single-spaced, at most n - 1 bytes */
void pofa_heldout_key(const char *s, size_t len, char *out, size_t n);

/* corpus.txt: one sentence a line, "HEADWORD : " before it, a blank line
 * after each document (entry). max_entries > 0 takes only the first
 * entries (slices for tests). held_out (may be NULL): keys (as
 * pofa_heldout_key makes them), one a line; a sentence whose key is one of
 * them, or starts as one of 40 bytes or more does, is left out, so that
 * pre-training never reads what the tasks' dev and test splits hold. */
int pofa_gcide_build(const char *dict, const char *index, const char *out_path, long max_entries,
                     const pofa_sbuf *held_out, pofa_gcide_stats *st, pofa_err *err);

typedef struct pofa_wn_stats {
	long synsets;
	long sense[3], pair[3], span[3];      /* examples per split: train, dev, test */
	long pair_pos[3];                      /* wn-pair: pairs of the same lexicographer file */
	long pair_same_pos[3];                 /* wn-pair: pairs of the same part of speech */
	long span_skipped;                     /* example sentences with no lemma found */
	long label_count[45];                  /* wn-sense labels over all splits */
	long pos_count[4];                     /* wn-pos labels (noun, verb, adj, adv) over all splits */
} pofa_wn_stats;

extern const char *const pofa_wn_lexnames[45];

/* wn-sense/, wn-pos/, wn-pair/ (TSV) and wn-span/ (SQuAD v1.1 JSON), each with
 * train, dev and test, under out_dir. max_synsets > 0: a slice. held_out
 * (may be NULL) gets the key of every definition and example sentence of
 * a dev or test synset, one a line (pofa_gcide_build's). */
int pofa_wordnet_build(const char *wn_dir, const char *out_dir, long max_synsets, pofa_sbuf *held_out,
                       pofa_wn_stats *st, pofa_err *err);

#endif
