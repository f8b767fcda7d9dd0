/*
 * tokenizer.h - a BERT WordPiece tokenizer compatible with Hugging Face's
 * BertTokenizer, for any vocab.txt.
 *
 *     pofa_tokenizer *tk = pofa_tokenizer_load("vocab.txt", POFA_CASE_AUTO, &err);
 *     pofa_encoding e;
 *     pofa_encoding_init(&e, 128);
 *     pofa_encode(tk, "A question?", -1, "Its context.", -1, 128, 1, &e);
 *     // e.ids, e.type_ids, e.mask, e.start/e.end (byte offsets), e.len
 *
 * Unicode comes from utf8proc. Offsets are byte offsets into the caller's
 * text; pofa_utf8_cp_to_byte() converts character (code point) offsets.
 */
#ifndef POFA_TOKENIZER_H
#define POFA_TOKENIZER_H

#include "data/base/error.h"

#include <stddef.h>
#include <stdint.h>

enum pofa_case {
	POFA_CASE_AUTO,    /* uncased unless the vocabulary has upper-case letters */
	POFA_CASE_LOWER,   /* lower-case, NFD, strip accents (do_lower_case) */
	POFA_CASE_KEEP,
};

typedef struct pofa_tokenizer pofa_tokenizer;

typedef struct pofa_tok_stats {
	long invalid_utf8;  /* bytes that were not UTF-8, replaced and dropped */
	long unknown;       /* words that became [UNK] */
	long words;
} pofa_tok_stats;

pofa_tokenizer *pofa_tokenizer_load(const char *vocab_path, int casing, pofa_err *err);
/* from memory: tokens one per line */
pofa_tokenizer *pofa_tokenizer_from_tokens(const char *const *tokens, int n, int casing,
                                           pofa_err *err);
void pofa_tokenizer_free(pofa_tokenizer *tk);
int pofa_tokenizer_lowercase(const pofa_tokenizer *tk);
int pofa_vocab_size(const pofa_tokenizer *tk);
int pofa_vocab_id(const pofa_tokenizer *tk, const char *token); /* -1 if absent */
const char *pofa_vocab_token(const pofa_tokenizer *tk, int id);
/* special tokens, looked up by their strings */
int pofa_tok_pad(const pofa_tokenizer *tk);
int pofa_tok_unk(const pofa_tokenizer *tk);
int pofa_tok_cls(const pofa_tokenizer *tk);
int pofa_tok_sep(const pofa_tokenizer *tk);
int pofa_tok_mask(const pofa_tokenizer *tk);
int pofa_tok_is_special(const pofa_tokenizer *tk, int id);

/* One piece of text as WordPiece ids with byte offsets [start, end) into
 * the text. Returns the count, or -1 when out of memory. Arrays grow as
 * needed (*cap). word (may be NULL) gets the index of each piece's word. */
typedef struct pofa_piece {
	int id;
	int start, end;
	int word;
} pofa_piece;
int pofa_tokenize(pofa_tokenizer *tk, const char *text, long n, pofa_piece **out, int *cap,
                  pofa_tok_stats *st);

/* BERT's basic tokenizer alone: fn gets each normalised word (UTF-8, len
 * bytes, not NUL-terminated). Returns 0, or -1 when out of memory. */
typedef void (*pofa_word_fn)(void *arg, const char *word, int len);
int pofa_basic_words(pofa_tokenizer *tk, const char *text, long n, pofa_word_fn fn, void *arg,
                     pofa_tok_stats *st);

/* [CLS] A [SEP] (B [SEP]) truncated longest-first to max_len, padded to
 * max_len when pad is set. Offsets are -1 for special and padding tokens;
 * seq is 0 for A, 1 for B, -1 otherwise. */
typedef struct pofa_encoding {
	int cap, len;
	int *ids, *type_ids, *mask, *start, *end, *seq;
	int truncated;   /* pieces dropped by truncation */
} pofa_encoding;
int pofa_encoding_init(pofa_encoding *e, int cap);
void pofa_encoding_free(pofa_encoding *e);
int pofa_encode(pofa_tokenizer *tk, const char *a, long na, const char *b, long nb, int max_len,
                int pad, pofa_encoding *e);

/* byte offset of code point cp in s (s's length if past the end) */
long pofa_utf8_cp_to_byte(const char *s, long n, long cp);
long pofa_utf8_byte_to_cp(const char *s, long n, long byte);

#endif
