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
		char **ns = realloc(t->s, (size_t)c * sizeof *ns);
		if (ns) t->s = ns;
		int *nl = realloc(t->len, (size_t)c * sizeof *nl);
		if (nl) t->len = nl;
		if (!ns || !nl)
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
		pair *np = realloc(t->p, (size_t)c * sizeof *np);
		if (!np)
			return -2;
		t->p = np;
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
		int *nw = realloc(p->words, (size_t)c * sizeof *nw);
		if (!nw)
			return -1;
		p->words = nw;
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
		hent *nh = realloc(hp->h, (size_t)c * sizeof *nh);
		if (!nh)
			return -1;
		hp->h = nh;
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
		long *n2 = realloc(c->count, (size_t)nc * sizeof *n2);
		if (!n2) {
			c->oom = 1;
			return;
		}
		memset(n2 + c->cap, 0, (size_t)(nc - c->cap) * sizeof *n2);
		c->count = n2;
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
	strtab wt = { 0 }, sym = { 0 };
	collect col = { &wt, NULL, 0, 0 };
	pofa_tok_stats ts = { 0 };
	if (pofa_basic_words(tk, (const char *)text, (long)n, on_word, &col, &ts) || col.oom) {
		free(text);
		pofa_tokenizer_free(tk);
		st_free(&wt);
		free(col.count);
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	}
	free(text);
	pofa_tokenizer_free(tk);
	vs->words = ts.words;
	vs->unique_words = wt.n;
	if (wt.n == 0) {
		st_free(&wt);
		free(col.count);
		return pofa_error(err, POFA_ERR_INPUT, "%s: no words in the corpus", corpus);
	}

	/* the alphabet: characters by frequency, at most a quarter of the size */
	charcount *cc = NULL;
	int ncc = 0, ccap = 0;
	for (int w = 0; w < wt.n; w++) {
		const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)wt.s[w];
		int32_t c;
		for (int i = 0; i < wt.len[w];) {
			int k = (int)utf8proc_iterate(p + i, wt.len[w] - i, &c);
			i += k > 0 ? k : 1;
			int j;
			for (j = 0; j < ncc && cc[j].cp != c; j++)
				;
			if (j == ncc) {
				if (ncc == ccap) {
					ccap = ccap ? 2 * ccap : 256;
					cc = realloc(cc, (size_t)ccap * sizeof *cc);
				}
				cc[ncc++] = (charcount){ c, 0 };
			}
			cc[j].count += col.count[w];
		}
	}
	qsort(cc, (size_t)ncc, sizeof *cc, by_count_then_cp);
	int keep = POFA_MIN(ncc, (size - 5) / 4);
	/* words using a character outside the alphabet are left out (they
	 * tokenize as [UNK]) */
	int vcap = size, nv = 0;
	char **vocab = calloc((size_t)vcap, sizeof *vocab);
	word *words = calloc((size_t)wt.n, sizeof *words);
	char buf[16];
	for (int w = 0; w < wt.n; w++) {
		const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)wt.s[w];
		words[w].sym = malloc((size_t)wt.len[w] * sizeof(int));
		words[w].count = col.count[w];
		int32_t c;
		int ok = 1;
		for (int i = 0; i < wt.len[w] && ok;) {
			int k = (int)utf8proc_iterate(p + i, wt.len[w] - i, &c);
			if (k <= 0)
				k = 1;
			int j;
			for (j = 0; j < keep && cc[j].cp != c; j++)
				;
			if (j == keep) {
				ok = 0;
				break;
			}
			int bl = 0;
			if (i > 0) {
				buf[0] = buf[1] = '#';
				bl = 2;
			}
			memcpy(buf + bl, p + i, (size_t)k);
			words[w].sym[words[w].n++] = st_find(&sym, buf, bl + k, 1);
			i += k;
		}
		if (!ok)
			words[w].n = 0;
	}
	/* vocabulary: specials, then the characters sorted, plain before ## */
	for (int i = 0; i < 5; i++)
		vocab[nv++] = strdup(specials[i]);
	char **chars = malloc((size_t)(sym.n + 1) * sizeof *chars);
	int nch = 0;
	for (int i = 0; i < sym.n; i++)
		chars[nch++] = sym.s[i];
	qsort(chars, (size_t)nch, sizeof *chars, cmp_str);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nch && nv < vcap; i++)
			if ((chars[i][0] == '#' && chars[i][1] == '#' && sym.len[st_find(&sym, chars[i], (int)strlen(chars[i]), 0)] > 2) == pass)
				vocab[nv++] = strdup(chars[i]);
	free(chars);
	vs->alphabet = nv - 5;
	unsigned char *invocab = calloc((size_t)sym.n + (size_t)size + 16, 1);
	int incap = sym.n + size + 16;
	for (int i = 0; i < sym.n; i++)
		invocab[i] = 1;

	/* pair counts over the corpus */
	pairtab pt = { 0 };
	heap hp = { NULL, 0, 0, &pt, &sym };
	for (int w = 0; w < wt.n; w++)
		for (int i = 0; i + 1 < words[w].n; i++) {
			int p = pair_get(&pt, words[w].sym[i], words[w].sym[i + 1], 1);
			pt.p[p].count += words[w].count;
			pair_add_word(&pt.p[p], w);
		}
	for (int p = 0; p < pt.n; p++)
		heap_push(&hp, pt.p[p].count, p);

	int *stamp = calloc((size_t)wt.n, sizeof *stamp);
	int *changed = NULL, nchg = 0, chgcap = 0;
	char *merged = NULL;
	int mcap = 0;
	int merge_no = 0;
	while (nv < size && hp.n > 0) {
		hent top = heap_pop(&hp);
		pair *best = &pt.p[top.pair];
		if (top.count != best->count || best->count <= 0)
			continue; /* stale */
		int a = best->a, b = best->b;
		int la = sym.len[a], lb = sym.len[b] - 2;
		if (la + lb + 1 > mcap) {
			mcap = 2 * (la + lb + 1);
			merged = realloc(merged, (size_t)mcap);
		}
		memcpy(merged, sym.s[a], (size_t)la);
		memcpy(merged + la, sym.s[b] + 2, (size_t)lb);
		int c = st_find(&sym, merged, la + lb, 1);
		if (c >= incap) {
			int nc = 2 * incap;
			invocab = realloc(invocab, (size_t)nc);
			memset(invocab + incap, 0, (size_t)(nc - incap));
			incap = nc;
		}
		if (!invocab[c]) {
			invocab[c] = 1;
			vocab[nv++] = strdup(sym.s[c]);
		}
		merge_no++;
		nchg = 0;
		/* the word list may grow while we walk it: take its length now */
		int nwords = best->nw;
		for (int wi = 0; wi < nwords; wi++) {
			int w = pt.p[top.pair].words[wi];
			if (stamp[w] == merge_no)
				continue;
			stamp[w] = merge_no;
			word *wd = &words[w];
			long cnt = wd->count;
			for (int i = 0; i + 1 < wd->n; i++) {
				if (wd->sym[i] != a || wd->sym[i + 1] != b)
					continue;
				int idx[4] = { -1, -1, -1, -1 };
				if (i > 0)
					idx[0] = pair_get(&pt, wd->sym[i - 1], a, 0);
				idx[1] = pair_get(&pt, a, b, 0);
				if (i + 2 < wd->n)
					idx[2] = pair_get(&pt, b, wd->sym[i + 2], 0);
				for (int q = 0; q < 3; q++)
					if (idx[q] >= 0) {
						pt.p[idx[q]].count -= cnt;
						if (nchg == chgcap) {
							chgcap = chgcap ? 2 * chgcap : 1024;
							changed = realloc(changed, (size_t)chgcap * sizeof *changed);
						}
						changed[nchg++] = idx[q];
					}
				wd->sym[i] = c;
				memmove(wd->sym + i + 1, wd->sym + i + 2, (size_t)(wd->n - i - 2) * sizeof(int));
				wd->n--;
				int np[2] = { -1, -1 };
				if (i > 0)
					np[0] = pair_get(&pt, wd->sym[i - 1], c, 1);
				if (i + 1 < wd->n)
					np[1] = pair_get(&pt, c, wd->sym[i + 1], 1);
				for (int q = 0; q < 2; q++)
					if (np[q] >= 0) {
						pt.p[np[q]].count += cnt;
						pair_add_word(&pt.p[np[q]], w);
						if (nchg == chgcap) {
							chgcap = chgcap ? 2 * chgcap : 1024;
							changed = realloc(changed, (size_t)chgcap * sizeof *changed);
						}
						changed[nchg++] = np[q];
					}
			}
		}
		for (int q = 0; q < nchg; q++)
			if (pt.p[changed[q]].count > 0)
				heap_push(&hp, pt.p[changed[q]].count, changed[q]);
	}
	vs->merges = nv - 5 - vs->alphabet;
	vs->size = nv;

	size_t total = 0;
	for (int i = 0; i < nv; i++)
		total += strlen(vocab[i]) + 1;
	char *file = malloc(total + 1), *p = file;
	for (int i = 0; i < nv; i++) {
		size_t l = strlen(vocab[i]);
		memcpy(p, vocab[i], l);
		p[l] = '\n';
		p += l + 1;
	}
	rc = pofa_write_atomic(out, file, total, err);

	free(file);
	for (int i = 0; i < nv; i++)
		free(vocab[i]);
	free(vocab);
	for (int w = 0; w < wt.n; w++)
		free(words[w].sym);
	free(words);
	for (int i = 0; i < pt.n; i++)
		free(pt.p[i].words);
	free(pt.p);
	free(pt.table);
	free(hp.h);
	free(stamp);
	free(changed);
	free(merged);
	free(invocab);
	free(cc);
	free(col.count);
	st_free(&wt);
	st_free(&sym);
	return rc;
}
