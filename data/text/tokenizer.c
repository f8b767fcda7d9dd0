/*
 * tokenizer.c - BERT's BasicTokenizer + WordPiece, as Hugging Face's
 * BertTokenizer does them:
 *   clean: drop NUL, U+FFFD and control characters (category C*, but not
 *     tab, newline, CR); whitespace (space, tab, newline, CR, Zs) splits;
 *   CJK ideographs become words of their own;
 *   uncased: lower-case, NFD, drop combining marks (Mn);
 *   punctuation (ASCII 33-47, 58-64, 91-96, 123-126, every P*) splits;
 *   WordPiece: greedy longest match first, "##" continuations, a word over
 *     100 characters or with an unmatched piece becomes [UNK].
 * Unicode properties come from utf8proc. ASCII takes a table-driven path.
 */
#include "data/text/tokenizer.h"
#include "data/base/mem.h"
#include "data/base/json.h"
#include "data/base/fileio.h"
#include "data/base/rng.h"
#include "data/base/util.h"

#include <string.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <utf8proc.h>

#define MAX_WORD_CHARS 100

struct pofa_tokenizer {
	char **tok;         /* id -> token */
	int *len;           /* id -> byte length */
	int n;
	char *pool;
	int *table;         /* open addressing: id + 1, 0 empty */
	uint32_t mask;
	int lower;
	int max_piece_chars;
	int pad, unk, cls, sep, msk;
	/* scratch, grown as needed */
	int32_t *cp;        /* normalised code points of the text */
	int *src0, *src1;   /* their source byte range */
	int *wstart;        /* word k covers cp[wstart[k] .. wstart[k+1]) */
	int ncap, wcap;
	char *wbuf;         /* "##" + the current word in UTF-8 */
	int *cb;            /* byte offset of each char of the word in wbuf+2 */
	int wbcap, cbcap;
	pofa_piece *tmp;    /* pieces of pair encodings */
	int tmpcap;
	pofa_piece *tmp2;
	int tmp2cap;
};

/* ---- vocabulary -------------------------------------------------------- */

static uint32_t hash_bytes(const char *s, int n)
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	for (int i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int lookup(const pofa_tokenizer *tk, const char *s, int n)
{
	uint32_t h = hash_bytes(s, n) & tk->mask;
	for (;;) {
		int e = tk->table[h];
		if (!e)
			return -1;
		int id = e - 1;
		if (tk->len[id] == n && memcmp(tk->tok[id], s, (size_t)n) == 0)
			return id;
		h = (h + 1) & tk->mask;
	}
}

int pofa_vocab_id(const pofa_tokenizer *tk, const char *token)
{
	return lookup(tk, token, (int)strlen(token));
}
const char *pofa_vocab_token(const pofa_tokenizer *tk, int id)
{
	return id >= 0 && id < tk->n ? tk->tok[id] : "";
}
int pofa_vocab_size(const pofa_tokenizer *tk) { return tk->n; }
int pofa_tokenizer_lowercase(const pofa_tokenizer *tk) { return tk->lower; }
int pofa_tok_pad(const pofa_tokenizer *tk) { return tk->pad; }
int pofa_tok_unk(const pofa_tokenizer *tk) { return tk->unk; }
int pofa_tok_cls(const pofa_tokenizer *tk) { return tk->cls; }
int pofa_tok_sep(const pofa_tokenizer *tk) { return tk->sep; }
int pofa_tok_mask(const pofa_tokenizer *tk) { return tk->msk; }
int pofa_tok_is_special(const pofa_tokenizer *tk, int id)
{
	return id == tk->pad || id == tk->unk || id == tk->cls || id == tk->sep || id == tk->msk;
}

void pofa_tokenizer_free(pofa_tokenizer *tk)
{
	if (!tk)
		return;
	free(tk->tok);
	free(tk->len);
	free(tk->pool);
	free(tk->table);
	free(tk->cp);
	free(tk->src0);
	free(tk->src1);
	free(tk->wstart);
	free(tk->wbuf);
	free(tk->cb);
	free(tk->tmp);
	free(tk->tmp2);
	free(tk);
}

/* An ASCII capital: what tells a cased vocabulary (bert-base-cased has
 * thousands of "The", "New", ...) from an uncased one, which has none, but
 * may hold a letter like U+211D that has no lower case. */
static int has_ascii_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 1;
	return 0;
}

/* pool holds the tokens, NUL-separated, n of them; takes ownership */
static pofa_tokenizer *build(char *pool, int n, int casing, const char *what, pofa_err *err)
{
	pofa_tokenizer *tk = calloc(1, sizeof *tk);
	if (!tk) {
		free(pool);
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	tk->pool = pool;
	tk->n = n;
	tk->tok = malloc((size_t)(n + 1) * sizeof *tk->tok);
	tk->len = malloc((size_t)(n + 1) * sizeof *tk->len);
	uint32_t size = 16;
	while (size < 2u * (uint32_t)n + 16)
		size <<= 1;
	tk->table = calloc(size, sizeof *tk->table);
	tk->mask = size - 1;
	if (!tk->tok || !tk->len || !tk->table) {
		pofa_tokenizer_free(tk);
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	char *p = pool;
	int upper = 0, words = 0;
	for (int i = 0; i < n; i++) {
		tk->tok[i] = p;
		tk->len[i] = (int)strlen(p);
		p += tk->len[i] + 1;
		/* a token listed twice would leave an id no text maps to: the
		 * vocabulary is damaged or not the model's */
		uint32_t h = hash_bytes(tk->tok[i], tk->len[i]) & tk->mask;
		for (;;) {
			int e = tk->table[h];
			if (!e) {
				tk->table[h] = i + 1;
				break;
			}
			if (tk->len[e - 1] == tk->len[i] && !memcmp(tk->tok[e - 1], tk->tok[i], (size_t)tk->len[i])) {
				pofa_error(err, POFA_ERR_INPUT, "%s:%d: token \"%.60s\" again (first at line %d); a vocabulary "
				           "lists each token once", what, i + 1, tk->tok[i], e);
				pofa_tokenizer_free(tk);
				return NULL;
			}
			h = (h + 1) & tk->mask;
		}
		const char *body = tk->tok[i];
		if (body[0] == '[' && body[tk->len[i] - 1] == ']')
			continue; /* [CLS] and friends say nothing about case */
		int chars = (int)utf8proc_decompose((const utf8proc_uint8_t *)body, tk->len[i], NULL, 0, 0);
		if (!strncmp(body, "##", 2))
			chars -= 2;
		if (chars > tk->max_piece_chars)
			tk->max_piece_chars = chars;
		upper += has_ascii_upper(body);
		words++;
	}
	if (tk->max_piece_chars < 1)
		tk->max_piece_chars = 1;
	/* as Hugging Face: lower-case unless the vocabulary is plainly cased
	 * (1% of its tokens with capitals) or a tokenizer_config.json says so */
	tk->lower = casing == POFA_CASE_LOWER || (casing == POFA_CASE_AUTO && 100 * upper < words);
	tk->pad = pofa_vocab_id(tk, "[PAD]");
	tk->unk = pofa_vocab_id(tk, "[UNK]");
	tk->cls = pofa_vocab_id(tk, "[CLS]");
	tk->sep = pofa_vocab_id(tk, "[SEP]");
	tk->msk = pofa_vocab_id(tk, "[MASK]");
	const char *missing = tk->unk < 0 ? "[UNK]" : tk->cls < 0 ? "[CLS]" : tk->sep < 0 ? "[SEP]"
	                      : tk->pad < 0 ? "[PAD]" : tk->msk < 0 ? "[MASK]" : NULL;
	if (missing) {
		pofa_error(err, POFA_ERR_INPUT, "%s: the vocabulary has no %s token; a BERT vocab.txt "
		           "needs [PAD], [UNK], [CLS], [SEP] and [MASK]", what, missing);
		pofa_tokenizer_free(tk);
		return NULL;
	}
	return tk;
}

/* do_lower_case of a tokenizer_config.json beside the vocabulary: 1, 0,
 * -1 when there is none (or it does not say), -2 when it is malformed */
static int config_lower_case(const char *vocab_path, pofa_err *err)
{
	char p[4200];
	const char *slash = strrchr(vocab_path, '/');
	snprintf(p, sizeof p, "%.*stokenizer_config.json", slash ? (int)(slash - vocab_path + 1) : 0, vocab_path);
	if (access(p, F_OK) != 0)
		return -1;
	cJSON *o = pofa_json_read(p, 1u << 20, err);
	if (!o)
		return -2;
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "do_lower_case");
	int v = cJSON_IsBool(j) ? cJSON_IsTrue(j) : -1;
	if (j && !cJSON_IsBool(j)) {
		pofa_error(err, POFA_ERR_INPUT, "%s: do_lower_case must be true or false", p);
		v = -2;
	}
	cJSON_Delete(o);
	return v;
}

pofa_tokenizer *pofa_tokenizer_load(const char *path, int casing, pofa_err *err)
{
	if (casing == POFA_CASE_AUTO) {
		int lc = config_lower_case(path, err);
		if (lc == -2)
			return NULL;
		if (lc >= 0)
			casing = lc ? POFA_CASE_LOWER : POFA_CASE_KEEP;
	}
	unsigned char *buf;
	size_t n;
	if (pofa_read_file(path, &buf, &n, 64u << 20, err))
		return NULL;
	/* one token per line; a trailing \r is dropped (files from Windows) */
	char *pool = malloc(n + 2);
	if (!pool) {
		free(buf);
		pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		return NULL;
	}
	size_t o = 0;
	int count = 0;
	long line = 1;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		size_t e = j;
		if (e > i && buf[e - 1] == '\r')
			e--;
		if (j == n && e == i)
			break; /* no empty last line after the final newline */
		if (memchr(buf + i, 0, e - i) || utf8proc_decompose(buf + i, (utf8proc_ssize_t)(e - i), NULL, 0, 0) < 0) {
			free(buf);
			free(pool);
			pofa_error(err, POFA_ERR_INPUT, "%s:%ld: not valid UTF-8 text", path, line);
			return NULL;
		}
		memcpy(pool + o, buf + i, e - i);
		o += e - i;
		pool[o++] = 0;
		count++;
		line++;
		i = j + 1;
	}
	free(buf);
	if (count == 0) {
		free(pool);
		pofa_error(err, POFA_ERR_INPUT, "%s: empty vocabulary", path);
		return NULL;
	}
	return build(pool, count, casing, path, err);
}

pofa_tokenizer *pofa_tokenizer_from_tokens(const char *const *tokens, int n, int casing, pofa_err *err)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += strlen(tokens[i]) + 1;
	char *pool = malloc(total + 1), *p = pool;
	if (!pool) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		size_t l = strlen(tokens[i]);
		memcpy(p, tokens[i], l + 1);
		p += l + 1;
	}
	return build(pool, n, casing, "vocabulary", err);
}

/* ---- character classes -------------------------------------------------- */

enum { CH_KEEP, CH_DROP, CH_SPACE, CH_PUNCT };

static unsigned char ascii_class[128];
static pthread_once_t ascii_once = PTHREAD_ONCE_INIT;   /* tokenizers of several threads */

static void ascii_init(void)
{
	for (int c = 0; c < 128; c++) {
		int k = CH_KEEP;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			k = CH_SPACE;
		else if (c < 32 || c == 127)
			k = CH_DROP;
		else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
		         (c >= 123 && c <= 126))
			k = CH_PUNCT;
		ascii_class[c] = (unsigned char)k;
	}
}

static int is_cjk(int32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
	       (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
	       (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
	       (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int uclass(int32_t c)
{
	if (c < 128)
		return ascii_class[c];
	if (c == 0xFFFD)
		return CH_DROP;
	utf8proc_category_t cat = utf8proc_category(c);
	switch (cat) {
	case UTF8PROC_CATEGORY_ZS:
		return CH_SPACE;
	case UTF8PROC_CATEGORY_ZL: /* Python's str.split() splits here too */
	case UTF8PROC_CATEGORY_ZP:
		return CH_SPACE;
	case UTF8PROC_CATEGORY_CC:
	case UTF8PROC_CATEGORY_CF:
	case UTF8PROC_CATEGORY_CS:
	case UTF8PROC_CATEGORY_CO:
	case UTF8PROC_CATEGORY_CN:
		return CH_DROP;
	case UTF8PROC_CATEGORY_PC:
	case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS:
	case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI:
	case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
		return CH_PUNCT;
	default:
		return CH_KEEP;
	}
}

/* ---- scratch ------------------------------------------------------------ */

static int grow(void **p, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return 0;
	int c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	if (pofa_resize(p, (size_t)c, elem))
		return -1;
	*cap = c;
	return 0;
}

static int grow_chars(pofa_tokenizer *tk, int need)
{
	if (need <= tk->ncap)
		return 0;
	int c = tk->ncap ? tk->ncap : 1024;
	while (c < need)
		c *= 2;
	if (pofa_resize(&tk->cp, (size_t)c, sizeof *tk->cp) || pofa_resize(&tk->src0, (size_t)c, sizeof *tk->src0) ||
	    pofa_resize(&tk->src1, (size_t)c, sizeof *tk->src1))
		return -1;
	tk->ncap = c;
	return 0;
}

/* ---- basic tokenizer: text -> words of normalised characters ------------ */

typedef struct {
	pofa_tokenizer *tk;
	int nc, nw;
	int open;       /* a word is open */
} words;

static void word_break(words *w) { w->open = 0; }

static int push_char(words *w, int32_t c, int s0, int s1, int alone)
{
	pofa_tokenizer *tk = w->tk;
	if (grow_chars(tk, w->nc + 1) || grow((void **)&tk->wstart, &tk->wcap, w->nw + 2, sizeof(int)))
		return -1;
	if (alone || !w->open) {
		tk->wstart[w->nw++] = w->nc;
		w->open = !alone;
	}
	tk->cp[w->nc] = c;
	tk->src0[w->nc] = s0;
	tk->src1[w->nc] = s1;
	w->nc++;
	return 0;
}

static int basic(pofa_tokenizer *tk, const char *text, long n, words *w, pofa_tok_stats *st)
{
	pthread_once(&ascii_once, ascii_init);
	const unsigned char *s = (const unsigned char *)text;
	memset(w, 0, sizeof *w);
	w->tk = tk;
	if (grow((void **)&tk->wstart, &tk->wcap, 2, sizeof(int)))
		return -1;
	long i = 0;
	while (i < n) {
		int32_t c;
		long k;
		if (s[i] < 0x80) {
			c = s[i];
			k = 1;
		} else {
			k = utf8proc_iterate(s + i, n - i, &c);
			if (k < 0) {
				/* not UTF-8: replaced by U+FFFD, which cleaning drops */
				if (st)
					st->invalid_utf8++;
				i++;
				continue;
			}
		}
		int s0 = (int)i, s1 = (int)(i + k);
		i += k;
		if (c == 0)
			continue;
		int cls = uclass(c);
		if (cls == CH_DROP)
			continue;
		if (cls == CH_SPACE) {
			word_break(w);
			continue;
		}
		if (c >= 0x3400 && is_cjk(c)) {
			word_break(w);
			if (push_char(w, c, s0, s1, 1))
				return -1;
			continue;
		}
		if (c < 128) {
			if (cls == CH_PUNCT) {
				word_break(w);
				if (push_char(w, c, s0, s1, 1))
					return -1;
			} else {
				if (tk->lower && c >= 'A' && c <= 'Z')
					c += 32;
				if (push_char(w, c, s0, s1, 0))
					return -1;
			}
			continue;
		}
		/* uncased: lower-case, then NFD, then drop combining marks */
		int32_t buf[32];
		int nb = 1;
		buf[0] = c;
		if (tk->lower) {
			int32_t lc = utf8proc_tolower(c);
			int last = 0;
			nb = (int)utf8proc_decompose_char(lc, buf, 32, UTF8PROC_DECOMPOSE, &last);
			if (nb < 0 || nb > 32) {
				buf[0] = lc;
				nb = 1;
			}
		}
		for (int j = 0; j < nb; j++) {
			int32_t d = buf[j];
			if (tk->lower && utf8proc_category(d) == UTF8PROC_CATEGORY_MN)
				continue;
			if (uclass(d) == CH_PUNCT) {
				word_break(w);
				if (push_char(w, d, s0, s1, 1))
					return -1;
			} else if (push_char(w, d, s0, s1, 0)) {
				return -1;
			}
		}
	}
	tk->wstart[w->nw] = w->nc;
	return 0;
}

/* ---- WordPiece ----------------------------------------------------------- */

static int put_piece(pofa_piece **out, int *cap, int *n, int id, int s0, int s1, int word)
{
	if (grow((void **)out, cap, *n + 1, sizeof **out))
		return -1;
	(*out)[*n] = (pofa_piece){ id, s0, s1, word };
	(*n)++;
	return 0;
}

/* The WordPiece pieces of text[0, n) (no special tokens in it) appended to
 * out from *npp on; offsets shifted by off, words numbered from *word on.
 * Returns 0, or -1 when out of memory. */
static int tokenize_span(pofa_tokenizer *tk, const char *text, long n, long off, int *word, pofa_piece **out,
                         int *cap, int *npp, pofa_tok_stats *st)
{
	words w;
	if (basic(tk, text, n, &w, st))
		return -1;
	int np = *npp, o = (int)off;
	for (int kk = 0; kk < w.nw; kk++) {
		int k = *word + kk;
		int a = tk->wstart[kk], b = tk->wstart[kk + 1], nchars = b - a;
		if (st)
			st->words++;
		if (nchars > MAX_WORD_CHARS) {
			if (put_piece(out, cap, &np, tk->unk, o + tk->src0[a], o + tk->src1[b - 1], k))
				return -1;
			if (st)
				st->unknown++;
			continue;
		}
		/* the word in UTF-8 after "##", with each char's byte offset */
		int need = 2 + 4 * nchars + 1;
		if (grow((void **)&tk->wbuf, &tk->wbcap, need, 1) ||
		    grow((void **)&tk->cb, &tk->cbcap, nchars + 1, sizeof(int)))
			return -1;
		tk->wbuf[0] = tk->wbuf[1] = '#';
		char *wb = tk->wbuf + 2;
		int bl = 0;
		for (int j = 0; j < nchars; j++) {
			tk->cb[j] = bl;
			bl += (int)utf8proc_encode_char(tk->cp[a + j], (utf8proc_uint8_t *)wb + bl);
		}
		tk->cb[nchars] = bl;
		int first = np, start = 0, bad = 0;
		while (start < nchars) {
			int end = POFA_MIN(nchars, start + tk->max_piece_chars), id = -1;
			while (start < end) {
				const char *p = start ? wb + tk->cb[start] - 2 : wb;
				int len = tk->cb[end] - tk->cb[start] + (start ? 2 : 0);
				if (start) {
					/* "##" right before the piece: write it in place */
					char save0 = p[0], save1 = p[1];
					((char *)p)[0] = '#';
					((char *)p)[1] = '#';
					id = lookup(tk, p, len);
					((char *)p)[0] = save0;
					((char *)p)[1] = save1;
				} else {
					id = lookup(tk, p, len);
				}
				if (id >= 0)
					break;
				end--;
			}
			if (id < 0) {
				bad = 1;
				break;
			}
			if (put_piece(out, cap, &np, id, o + tk->src0[a + start], o + tk->src1[a + end - 1], k))
				return -1;
			start = end;
		}
		if (bad) {
			np = first;
			if (put_piece(out, cap, &np, tk->unk, o + tk->src0[a], o + tk->src1[b - 1], k))
				return -1;
			if (st)
				st->unknown++;
		}
	}
	*word += w.nw;
	*npp = np;
	return 0;
}

/* the special token whose text starts s (n bytes), its id and length, or -1 */
static int special_at(const pofa_tokenizer *tk, const char *s, long n, long *len)
{
	const int ids[5] = { tk->cls, tk->sep, tk->pad, tk->unk, tk->msk };
	for (int i = 0; i < 5; i++) {
		const char *t = ids[i] >= 0 ? pofa_vocab_token(tk, ids[i]) : NULL;
		long tl = t ? (long)strlen(t) : 0;
		if (tl > 0 && tl <= n && !memcmp(s, t, (size_t)tl)) {
			*len = tl;
			return ids[i];
		}
	}
	return -1;
}

/* As Hugging Face's BertTokenizer: a special token typed in the text
 * ([MASK], [SEP], ...) is that token, whole, and splits the text around it;
 * the rest goes through the basic tokenizer and WordPiece. */
int pofa_tokenize(pofa_tokenizer *tk, const char *text, long n, pofa_piece **out, int *cap,
                  pofa_tok_stats *st)
{
	if (n < 0)
		n = (long)strlen(text);
	int np = 0, word = 0;
	long at = 0;
	for (;;) {
		long s = n, len = 0;
		int sid = -1;
		for (long q = at; q < n; q++)
			if (text[q] == '[' && (sid = special_at(tk, text + q, n - q, &len)) >= 0) {
				s = q;
				break;
			}
		if (s > at && tokenize_span(tk, text + at, s - at, at, &word, out, cap, &np, st))
			return -1;
		if (sid < 0)
			return np;
		if (put_piece(out, cap, &np, sid, (int)s, (int)(s + len), word++))
			return -1;
		if (st)
			st->words++;
		at = s + len;
	}
}

int pofa_basic_words(pofa_tokenizer *tk, const char *text, long n, pofa_word_fn fn, void *arg,
                     pofa_tok_stats *st)
{
	if (n < 0)
		n = (long)strlen(text);
	words w;
	if (basic(tk, text, n, &w, st))
		return -1;
	for (int k = 0; k < w.nw; k++) {
		int a = tk->wstart[k], b = tk->wstart[k + 1];
		if (grow((void **)&tk->wbuf, &tk->wbcap, 4 * (b - a) + 1, 1))
			return -1;
		int bl = 0;
		for (int j = a; j < b; j++)
			bl += (int)utf8proc_encode_char(tk->cp[j], (utf8proc_uint8_t *)tk->wbuf + bl);
		if (st)
			st->words++;
		fn(arg, tk->wbuf, bl);
	}
	return 0;
}

/* ---- encodings ------------------------------------------------------------ */

int pofa_encoding_init(pofa_encoding *e, int cap)
{
	memset(e, 0, sizeof *e);
	e->cap = cap;
	e->ids = malloc(6 * (size_t)cap * sizeof(int));
	if (!e->ids)
		return -1;
	e->type_ids = e->ids + cap;
	e->mask = e->ids + 2 * cap;
	e->start = e->ids + 3 * cap;
	e->end = e->ids + 4 * cap;
	e->seq = e->ids + 5 * cap;
	return 0;
}

void pofa_encoding_free(pofa_encoding *e)
{
	free(e->ids);
	memset(e, 0, sizeof *e);
}

static void enc_put(pofa_encoding *e, int id, int type, int s0, int s1, int seq)
{
	int i = e->len++;
	e->ids[i] = id;
	e->type_ids[i] = type;
	e->mask[i] = 1;
	e->start[i] = s0;
	e->end[i] = s1;
	e->seq[i] = seq;
}

int pofa_encode(pofa_tokenizer *tk, const char *a, long na, const char *b, long nb, int max_len,
                int pad, pofa_encoding *e)
{
	if (max_len > e->cap || max_len < (b ? 3 : 2))
		return -1;
	int n1 = pofa_tokenize(tk, a, na, &tk->tmp, &tk->tmpcap, NULL);
	if (n1 < 0)
		return -1;
	int n2 = 0;
	if (b) {
		n2 = pofa_tokenize(tk, b, nb, &tk->tmp2, &tk->tmp2cap, NULL);
		if (n2 < 0)
			return -1;
	}
	/* longest first: drop from the longer sequence, from B on a tie */
	int budget = max_len - (b ? 3 : 2), k1 = n1, k2 = n2;
	while (k1 + k2 > budget) {
		if (k1 > k2)
			k1--;
		else
			k2--;
	}
	e->len = 0;
	e->truncated = (n1 - k1) + (n2 - k2);
	enc_put(e, tk->cls, 0, -1, -1, -1);
	for (int i = 0; i < k1; i++)
		enc_put(e, tk->tmp[i].id, 0, tk->tmp[i].start, tk->tmp[i].end, 0);
	enc_put(e, tk->sep, 0, -1, -1, -1);
	if (b) {
		for (int i = 0; i < k2; i++)
			enc_put(e, tk->tmp2[i].id, 1, tk->tmp2[i].start, tk->tmp2[i].end, 1);
		enc_put(e, tk->sep, 1, -1, -1, -1);
	}
	int used = e->len;
	if (pad)
		for (int i = used; i < max_len; i++) {
			enc_put(e, tk->pad, 0, -1, -1, -1);
			e->mask[i] = 0;
		}
	e->len = pad ? max_len : used;
	return used;
}

long pofa_utf8_cp_to_byte(const char *s, long n, long cp)
{
	long i = 0, c = 0;
	while (i < n && c < cp) {
		i++;
		while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		c++;
	}
	return i;
}

long pofa_utf8_byte_to_cp(const char *s, long n, long byte)
{
	long c = 0;
	for (long i = 0; i < n && i < byte; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}
