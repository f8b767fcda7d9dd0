/*
 * vocab.c - learns a WordPiece vocabulary from a corpus, the way Hugging
 * Face's WordPiece trainer does: split text into words with BERT's basic
 * tokenizer (lower-cased), start from single characters (word-initial "c"
 * and continuation "##c"), then repeatedly merge the most frequent adjacent
 * pair of pieces, counted over the corpus, into a new piece until the
 * vocabulary has the wanted size. Ties go to the pair whose merged text
 * sorts first, so the same corpus always gives the same file.
 *
 * Pair counts are kept incrementally: a merge only revisits the words that
 * contain the pair, found through a per-pair list of word indices, and a
 * max-heap with lazy deletion yields the next best pair.
 */
#include "data/text/vocab.h"
#include "data/base/fileio.h"
#include "data/base/mem.h"
#include "data/base/rng.h"
#include "data/base/util.h"
#include "data/text/tokenizer.h"

#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

/* ---- string interning --------------------------------------------------- */

typedef struct {
	char **s;
	int *len;
	int n, cap;
	int *table;
	uint32_t mask;
} strtab;

static uint32_t fnv(const char *s, int n)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int st_find(strtab *t, const char *s, int n, int add)
{
	if (add && 2 * (t->n + 1) > (int)(t->mask + 1)) {
		uint32_t size = t->mask ? 2 * (t->mask + 1) : 1024;
		int *nt = calloc(size, sizeof *nt);
		if (!nt)
			return -2;
		for (int i = 0; i < t->n; i++) {
			uint32_t h = fnv(t->s[i], t->len[i]) & (size - 1);
			while (nt[h])
				h = (h + 1) & (size - 1);
			nt[h] = i + 1;
		}
		free(t->table);
		t->table = nt;
		t->mask = size - 1;
	}
	if (!t->table)
		return -1;
	uint32_t h = fnv(s, n) & t->mask;
	while (t->table[h]) {
		int id = t->table[h] - 1;
		if (t->len[id] == n && !memcmp(t->s[id], s, (size_t)n))
			return id;
		h = (h + 1) & t->mask;
	}
	if (!add)
		return -1;
	if (t->n == t->cap) {
		int c = t->cap ? 2 * t->cap : 1024;
		if (pofa_resize(&t->s, (size_t)c, sizeof *t->s) || pofa_resize(&t->len, (size_t)c, sizeof *t->len))
			return -2;
		t->cap = c;
	}
	char *copy = malloc((size_t)n + 1);
	if (!copy)
		return -2;
	memcpy(copy, s, (size_t)n);
	copy[n] = 0;
	t->s[t->n] = copy;
	t->len[t->n] = n;
	t->table[h] = ++t->n;
	return t->n - 1;
}

static void st_free(strtab *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	free(t->table);
}

/* ---- pairs ------------------------------------------------------------- */

typedef struct {
	int a, b;          /* symbol ids */
	long count;
	int *words;        /* word indices (may repeat or be stale) */
	int nw, cw;
} pair;

typedef struct {
	pair *p;
	int n, cap;
	int *table;        /* (a,b) -> pair index + 1 */
	uint32_t mask;
} pairtab;

static uint32_t pair_hash(int a, int b) { return (uint32_t)pofa_mix64(((uint64_t)(uint32_t)a << 32) | (uint32_t)b); }

static int pair_get(pairtab *t, int a, int b, int add)
{
	if (add && 2 * (t->n + 1) > (int)(t->mask + 1)) {
		uint32_t size = t->mask ? 2 * (t->mask + 1) : 1 << 16;
		int *nt = calloc(size, sizeof *nt);
		if (!nt)
			return -2;
		for (int i = 0; i < t->n; i++) {
			uint32_t h = pair_hash(t->p[i].a, t->p[i].b) & (size - 1);
			while (nt[h])
				h = (h + 1) & (size - 1);
			nt[h] = i + 1;
		}
		free(t->table);
		t->table = nt;
		t->mask = size - 1;
	}
	if (!t->table)
		return -1;
	uint32_t h = pair_hash(a, b) & t->mask;
	while (t->table[h]) {
		int i = t->table[h] - 1;
		if (t->p[i].a == a && t->p[i].b == b)
			return i;
		h = (h + 1) & t->mask;
	}
	if (!add)
		return -1;
	if (t->n == t->cap) {
		int c = t->cap ? 2 * t->cap : 1 << 15;
		if (pofa_resize(&t->p, (size_t)c, sizeof *t->p))
			return -2;
		t->cap = c;
	}
	t->p[t->n] = (pair){ a, b, 0, NULL, 0, 0 };
	t->table[h] = ++t->n;
	return t->n - 1;
}

static int pair_add_word(pair *p, int w)
{
	if (p->nw && p->words[p->nw - 1] == w)
		return 0;
	if (p->nw == p->cw) {
		int c = p->cw ? 2 * p->cw : 4;
		if (pofa_resize(&p->words, (size_t)c, sizeof *p->words))
			return -1;
		p->cw = c;
	}
	p->words[p->nw++] = w;
	return 0;
}

/* ---- heap of (count, pair) with lazy deletion --------------------------- */

typedef struct { long count; int pair; } hent;
typedef struct {
	hent *h;
	int n, cap;
	const pairtab *pt;
	const strtab *sym;
} heap;

/* merged text of a pair, for tie-breaking */
static int merged_cmp(const heap *hp, int x, int y)
{
	const pair *p = &hp->pt->p[x], *q = &hp->pt->p[y];
	const char *pa = hp->sym->s[p->a], *pb = hp->sym->s[p->b] + 2;
	const char *qa = hp->sym->s[q->a], *qb = hp->sym->s[q->b] + 2;
	/* compare pa+pb with qa+qb without building them */
	int la = (int)strlen(pa), lq = (int)strlen(qa);
	int n1 = la + (int)strlen(pb), n2 = lq + (int)strlen(qb);
	for (int i = 0; i < n1 && i < n2; i++) {
		unsigned char c1 = (unsigned char)(i < la ? pa[i] : pb[i - la]);
		unsigned char c2 = (unsigned char)(i < lq ? qa[i] : qb[i - lq]);
		if (c1 != c2)
			return c1 < c2 ? -1 : 1;
	}
	return n1 < n2 ? -1 : n1 > n2;
}

static int better(const heap *hp, hent x, hent y)
{
	if (x.count != y.count)
		return x.count > y.count;
	return merged_cmp(hp, x.pair, y.pair) < 0;
}

static int heap_push(heap *hp, long count, int pair)
{
	if (hp->n == hp->cap) {
		int c = hp->cap ? 2 * hp->cap : 1 << 16;
		if (pofa_resize(&hp->h, (size_t)c, sizeof *hp->h))
			return -1;
		hp->cap = c;
	}
	int i = hp->n++;
	hp->h[i] = (hent){ count, pair };
	while (i > 0) {
		int up = (i - 1) / 2;
		if (!better(hp, hp->h[i], hp->h[up]))
			break;
		hent t = hp->h[i];
		hp->h[i] = hp->h[up];
		hp->h[up] = t;
		i = up;
	}
	return 0;
}

static hent heap_pop(heap *hp)
{
	hent top = hp->h[0];
	hp->h[0] = hp->h[--hp->n];
	int i = 0;
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < hp->n && better(hp, hp->h[l], hp->h[m]))
			m = l;
		if (r < hp->n && better(hp, hp->h[r], hp->h[m]))
			m = r;
		if (m == i)
			break;
		hent t = hp->h[i];
		hp->h[i] = hp->h[m];
		hp->h[m] = t;
		i = m;
	}
	return top;
}

/* ---- the trainer ---------------------------------------------------------- */

typedef struct {
	int *sym;   /* symbol ids */
	int n;
	long count;
} word;

typedef struct {
	strtab *words;
	long *count;
	int cap;
	int oom;
} collect;

static void on_word(void *arg, const char *w, int len)
{
	collect *c = arg;
	int id = st_find(c->words, w, len, 1);
	if (id < 0) {
		c->oom = 1;
		return;
	}
	if (id >= c->cap) {
		int nc = c->cap ? 2 * c->cap : 4096;
		while (nc <= id)
			nc *= 2;
		if (pofa_resize(&c->count, (size_t)nc, sizeof *c->count)) {
			c->oom = 1;
			return;
		}
		memset(c->count + c->cap, 0, (size_t)(nc - c->cap) * sizeof *c->count);
		c->cap = nc;
	}
	c->count[id]++;
}

typedef struct { int32_t cp; long count; } charcount;

static int by_count_then_cp(const void *a, const void *b)
{
	const charcount *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->cp > y->cp) - (x->cp < y->cp);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the training's state; oom: an allocation failed (everything stops) */
typedef struct {
	strtab wt, sym;          /* the corpus's distinct words; the pieces */
	collect col;             /* wt's counts */
	charcount *cc;           /* the alphabet, by frequency */
	int ncc, keep;           /* characters seen; kept in the alphabet */
	word *words;             /* each word of wt as pieces */
	char **vocab;
	int nv, size;
	unsigned char *invocab;  /* per piece: in the vocabulary */
	int incap;
	pairtab pt;
	heap hp;
	int *stamp;              /* per word: the last merge that visited it */
	int *changed;            /* pairs whose counts a merge changed */
	size_t nchg, chgcap;
	char *merged;
	size_t mcap;
	int merge_no, oom;
} wp_train;

static void wp_free(wp_train *t)
{
	for (int i = 0; i < t->nv; i++)
		free(t->vocab[i]);
	free(t->vocab);
	for (int w = 0; t->words && w < t->wt.n; w++)
		free(t->words[w].sym);
	free(t->words);
	for (int i = 0; i < t->pt.n; i++)
		free(t->pt.p[i].words);
	free(t->pt.p);
	free(t->pt.table);
	free(t->hp.h);
	free(t->stamp);
	free(t->changed);
	free(t->merged);
	free(t->invocab);
	free(t->cc);
	free(t->col.count);
	st_free(&t->wt);
	st_free(&t->sym);
}

/* a copy of s into the vocabulary */
static void wp_add(wp_train *t, const char *s)
{
	char *c = strdup(s);
	if (!c)
		t->oom = 1;
	else
		t->vocab[t->nv++] = c;
}

/* the alphabet: characters by frequency, at most a quarter of the size */
static void wp_alphabet(wp_train *t)
{
	size_t ccap = 0;
	for (int w = 0; w < t->wt.n && !t->oom; w++) {
		const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)t->wt.s[w];
		int32_t c;
		for (int i = 0; i < t->wt.len[w];) {
			int k = (int)utf8proc_iterate(p + i, t->wt.len[w] - i, &c);
			i += k > 0 ? k : 1;
			int j;
			for (j = 0; j < t->ncc && t->cc[j].cp != c; j++)
				;
			if (j == t->ncc) {
				if (pofa_grow(&t->cc, &ccap, (size_t)t->ncc + 1, sizeof *t->cc)) {
					t->oom = 1;
					return;
				}
				t->cc[t->ncc++] = (charcount){ c, 0 };
			}
			t->cc[j].count += t->col.count[w];
		}
	}
	qsort(t->cc, (size_t)t->ncc, sizeof *t->cc, by_count_then_cp);
	t->keep = POFA_MIN(t->ncc, (t->size - 5) / 4);
}

/* each word as its characters (word-initial "c", then "##c"); a word
 * using a character outside the alphabet is left out (it tokenizes as
 * [UNK]) */
static void wp_split_words(wp_train *t)
{
	char buf[16];
	for (int w = 0; w < t->wt.n && !t->oom; w++) {
		const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)t->wt.s[w];
		word *wd = &t->words[w];
		wd->sym = malloc((size_t)t->wt.len[w] * sizeof(int) + 1);
		wd->count = t->col.count[w];
		if (!wd->sym) {
			t->oom = 1;
			return;
		}
		int32_t c;
		int ok = 1;
		for (int i = 0; i < t->wt.len[w] && ok;) {
			int k = (int)utf8proc_iterate(p + i, t->wt.len[w] - i, &c);
			if (k <= 0)
				k = 1;
			int j;
			for (j = 0; j < t->keep && t->cc[j].cp != c; j++)
				;
			if (j == t->keep) {
				ok = 0;
				break;
			}
			int bl = 0;
			if (i > 0) {
				buf[0] = buf[1] = '#';
				bl = 2;
			}
			memcpy(buf + bl, p + i, (size_t)k);
			int id = st_find(&t->sym, buf, bl + k, 1);
			if (id < 0) {
				t->oom = 1;
				return;
			}
			wd->sym[wd->n++] = id;
			i += k;
		}
		if (!ok)
			wd->n = 0;
	}
}

/* the vocabulary so far: the specials, then the characters sorted, plain
 * before ##; the pair counts over the corpus and their heap */
static void wp_start(wp_train *t, const char *const *specials, int nspecial)
{
	for (int i = 0; i < nspecial && !t->oom; i++)
		wp_add(t, specials[i]);
	char **chars = malloc((size_t)(t->sym.n + 1) * sizeof *chars);
	t->incap = t->sym.n + t->size + 16;
	t->invocab = calloc((size_t)t->incap, 1);
	t->stamp = calloc((size_t)t->wt.n + 1, sizeof *t->stamp);
	if (!chars || !t->invocab || !t->stamp) {
		free(chars);
		t->oom = 1;
		return;
	}
	int nch = 0;
	for (int i = 0; i < t->sym.n; i++)
		chars[nch++] = t->sym.s[i];
	qsort(chars, (size_t)nch, sizeof *chars, cmp_str);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nch && t->nv < t->size && !t->oom; i++) {
			int cont = chars[i][0] == '#' && chars[i][1] == '#' &&
			           t->sym.len[st_find(&t->sym, chars[i], (int)strlen(chars[i]), 0)] > 2;
			if (cont == pass)
				wp_add(t, chars[i]);
		}
	free(chars);
	for (int i = 0; i < t->sym.n; i++)
		t->invocab[i] = 1;
	t->hp = (heap){ NULL, 0, 0, &t->pt, &t->sym };
	for (int w = 0; w < t->wt.n && !t->oom; w++)
		for (int i = 0; i + 1 < t->words[w].n; i++) {
			int p = pair_get(&t->pt, t->words[w].sym[i], t->words[w].sym[i + 1], 1);
			if (p < 0 || pair_add_word(&t->pt.p[p], w)) {
				t->oom = 1;
				return;
			}
			t->pt.p[p].count += t->words[w].count;
		}
	for (int p = 0; p < t->pt.n && !t->oom; p++)
		t->oom = heap_push(&t->hp, t->pt.p[p].count, p) != 0;
}

/* pair p's count changed by cnt (a new pair's word w added) */
static void wp_recount(wp_train *t, int p, long cnt, int w)
{
	if (p < 0)
		return;
	t->pt.p[p].count += cnt;
	if ((w >= 0 && pair_add_word(&t->pt.p[p], w)) ||
	    pofa_grow(&t->changed, &t->chgcap, t->nchg + 1, sizeof *t->changed)) {
		t->oom = 1;
		return;
	}
	t->changed[t->nchg++] = p;
}

/* every a b of word w becomes c, the pair counts around it updated */
static void wp_merge_word(wp_train *t, int w, int a, int b, int c)
{
	word *wd = &t->words[w];
	long cnt = wd->count;
	for (int i = 0; i + 1 < wd->n && !t->oom; i++) {
		if (wd->sym[i] != a || wd->sym[i + 1] != b)
			continue;
		if (i > 0)
			wp_recount(t, pair_get(&t->pt, wd->sym[i - 1], a, 0), -cnt, -1);
		wp_recount(t, pair_get(&t->pt, a, b, 0), -cnt, -1);
		if (i + 2 < wd->n)
			wp_recount(t, pair_get(&t->pt, b, wd->sym[i + 2], 0), -cnt, -1);
		wd->sym[i] = c;
		memmove(wd->sym + i + 1, wd->sym + i + 2, (size_t)(wd->n - i - 2) * sizeof(int));
		wd->n--;
		int np[2] = { -1, -1 };
		if (i > 0)
			np[0] = pair_get(&t->pt, wd->sym[i - 1], c, 1);
		if (i + 1 < wd->n)
			np[1] = pair_get(&t->pt, c, wd->sym[i + 1], 1);
		for (int q = 0; q < 2; q++) {
			if (np[q] == -2)
				t->oom = 1;
			else
				wp_recount(t, np[q], cnt, w);
		}
	}
}

/* the best pair merged into a new piece, in every word that has it */
static void wp_merge(wp_train *t, int best)
{
	int a = t->pt.p[best].a, b = t->pt.p[best].b;
	size_t la = (size_t)t->sym.len[a], lb = (size_t)t->sym.len[b] - 2;
	if (pofa_grow(&t->merged, &t->mcap, la + lb + 1, 1)) {
		t->oom = 1;
		return;
	}
	memcpy(t->merged, t->sym.s[a], la);
	memcpy(t->merged + la, t->sym.s[b] + 2, lb);
	int c = st_find(&t->sym, t->merged, (int)(la + lb), 1);
	if (c >= t->incap) {
		int nc = 2 * t->incap;
		if (pofa_resize(&t->invocab, (size_t)nc, 1)) {
			t->oom = 1;
			return;
		}
		memset(t->invocab + t->incap, 0, (size_t)(nc - t->incap));
		t->incap = nc;
	}
	if (c < 0) {
		t->oom = 1;
		return;
	}
	if (!t->invocab[c]) {
		t->invocab[c] = 1;
		wp_add(t, t->sym.s[c]);
	}
	t->merge_no++;
	t->nchg = 0;
	/* the word list may grow while we walk it: take its length now */
	int nwords = t->pt.p[best].nw;
	for (int wi = 0; wi < nwords && !t->oom; wi++) {
		int w = t->pt.p[best].words[wi];
		if (t->stamp[w] == t->merge_no)
			continue;
		t->stamp[w] = t->merge_no;
		wp_merge_word(t, w, a, b, c);
	}
	for (size_t q = 0; q < t->nchg && !t->oom; q++)
		if (t->pt.p[t->changed[q]].count > 0)
			t->oom = heap_push(&t->hp, t->pt.p[t->changed[q]].count, t->changed[q]) != 0;
}

static int wp_write(const wp_train *t, const char *out, pofa_err *err)
{
	size_t total = 0;
	for (int i = 0; i < t->nv; i++)
		total += strlen(t->vocab[i]) + 1;
	char *file = malloc(total + 1), *p = file;
	if (!file)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", out);
	for (int i = 0; i < t->nv; i++) {
		size_t l = strlen(t->vocab[i]);
		memcpy(p, t->vocab[i], l);
		p[l] = '\n';
		p += l + 1;
	}
	int rc = pofa_write_atomic(out, file, total, err);
	free(file);
	return rc;
}

int pofa_vocab_train(const char *corpus, int size, const char *out, pofa_vocab_stats *vs,
                     pofa_err *err)
{
	static const char *const specials[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
	pofa_vocab_stats dummy;
	if (!vs)
		vs = &dummy;
	memset(vs, 0, sizeof *vs);
	if (size < 64 || size > (1 << 22))
		return pofa_error(err, POFA_ERR_INPUT, "vocabulary size %d: must be 64..4194304", size);
	unsigned char *text;
	size_t n;
	int rc = pofa_read_file(corpus, &text, &n, (size_t)8 << 30, err);
	if (rc)
		return rc;
	pofa_tokenizer *tk = pofa_tokenizer_from_tokens(specials, 5, POFA_CASE_LOWER, err);
	if (!tk) {
		free(text);
		return err->status;
	}
	wp_train t = { .size = size };
	t.col = (collect){ &t.wt, NULL, 0, 0 };
	pofa_tok_stats ts = { 0 };
	t.oom = pofa_basic_words(tk, (const char *)text, (long)n, on_word, &t.col, &ts) || t.col.oom;
	free(text);
	pofa_tokenizer_free(tk);
	vs->words = ts.words;
	vs->unique_words = t.wt.n;
	if (!t.oom && t.wt.n == 0) {
		wp_free(&t);
		return pofa_error(err, POFA_ERR_INPUT, "%s: no words in the corpus", corpus);
	}
	t.vocab = calloc((size_t)size, sizeof *t.vocab);
	t.words = calloc((size_t)t.wt.n + 1, sizeof *t.words);
	t.oom |= !t.vocab || !t.words;
	if (!t.oom)
		wp_alphabet(&t);
	if (!t.oom)
		wp_split_words(&t);
	if (!t.oom)
		wp_start(&t, specials, 5);
	vs->alphabet = t.nv - 5;
	while (!t.oom && t.nv < size && t.hp.n > 0) {
		hent top = heap_pop(&t.hp);
		const pair *best = &t.pt.p[top.pair];
		if (top.count == best->count && best->count > 0)   /* else stale */
			wp_merge(&t, top.pair);
	}
	vs->merges = t.nv - 5 - vs->alphabet;
	vs->size = t.nv;
	rc = t.oom ? pofa_error(err, POFA_ERR_RUN, "%s: out of memory while learning the vocabulary", corpus)
	           : wp_write(&t, out, err);
	wp_free(&t);
	return rc;
}
