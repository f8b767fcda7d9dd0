/*
 * gcide.c - the pre-training corpus from the GNU Collaborative International
 * Dictionary of English (Debian's dict-gcide): definitions and quotations as
 * clean English sentences, one document per entry.
 *
 * The dictionary is a dictd database: gcide.dict.dz (dictzip, which is
 * gzip, read with zlib) and gcide.index (headword, base-64 offset, base-64
 * length). An entry's text is cleaned in steps:
 *   - its first line (headword, pronunciation, part of speech) goes;
 *   - [..] groups go (etymologies, [Obs.], [1913 Webster] and other source
 *     markers), except the accent codes such as ['e] which become letters;
 *   - \..\ pronunciations, pronunciation respellings in (..) and short
 *     labels such as (Law) go; {word} cross-references keep their word;
 *   - "Syn:" lists go, as do "--Author." attributions of quotations;
 *   - sense numbers go; paragraphs split into sentences; sentences of fewer
 *     than three words go.
 */
#include "data/build/datasets.h"
#include "data/base/mem.h"
#include "data/base/fileio.h"
#include "data/base/rng.h"
#include "data/base/util.h"

#include <string.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>
#include <zlib.h>

/* ---- reading the dictd files ---------------------------------------------- */

static int b64(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static int parse_b64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = b64((unsigned char)s[i]);
		if (d < 0)
			return -1;
		v = v * 64 + (uint64_t)d;
	}
	*out = v;
	return 0;
}

typedef struct { uint64_t off, len; size_t head, hn; } span;   /* text; headword in the index */

static int by_off(const void *a, const void *b)
{
	const span *x = a, *y = b;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return (x->len < y->len) - (x->len > y->len);
}

static int read_gz(const char *path, pofa_sbuf *out, pofa_err *err)
{
	gzFile g = gzopen(path, "rb");
	if (!g)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot open (install dict-gcide: make deps)", path);
	char buf[1 << 16];
	int k;
	while ((k = gzread(g, buf, sizeof buf)) > 0)
		if (pofa_sbuf_put(out, buf, (size_t)k)) {
			gzclose(g);
			return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		}
	int e;
	const char *msg = gzerror(g, &e);
	gzclose(g);
	if (k < 0 || (e != Z_OK && e != Z_STREAM_END))
		return pofa_error(err, POFA_ERR_INPUT, "%s: corrupt gzip data: %s", path, msg);
	return POFA_OK;
}

/* ---- cleaning ------------------------------------------------------------- */

/* accent codes: [`e] [^o] ["u] [~n] [,c] ['e] and [=a] (macron), [ae], [oe] */
static int accent_code(const char *s, int n, pofa_sbuf *out)
{
	static const struct { char mark; int32_t combining; } marks[] = {
		{ '\'', 0x301 }, { '`', 0x300 }, { '^', 0x302 }, { '"', 0x308 },
		{ '~', 0x303 }, { ',', 0x327 }, { '=', 0x304 },
	};
	static const struct { const char *code; const char *utf8; } words[] = {
		{ "ae", "\xc3\xa6" }, { "AE", "\xc3\x86" }, { "oe", "\xc5\x93" }, { "OE", "\xc5\x92" },
		{ "eth", "\xc3\xb0" }, { "thorn", "\xc3\xbe" }, { "frac12", "\xc2\xbd" },
		{ "frac14", "\xc2\xbc" }, { "deg", "\xc2\xb0" }, { "sect", "\xc2\xa7" },
		{ "pound", "\xc2\xa3" }, { "imac", "\xc4\xab" }, { "ntil", "\xc3\xb1" },
	};
	for (size_t i = 0; i < POFA_ARRAY_LEN(words); i++)
		if ((int)strlen(words[i].code) == n && !memcmp(s, words[i].code, (size_t)n))
			return pofa_sbuf_str(out, words[i].utf8) ? -1 : 1;
	if (n == 2 && isalpha((unsigned char)s[1]))
		for (size_t i = 0; i < POFA_ARRAY_LEN(marks); i++)
			if (s[0] == marks[i].mark) {
				/* compose letter + combining mark into one code point */
				utf8proc_int32_t cps[2] = { (unsigned char)s[1], marks[i].combining };
				utf8proc_ssize_t m = utf8proc_normalize_utf32(cps, 2, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
				utf8proc_uint8_t enc[8];
				for (utf8proc_ssize_t j = 0; j < m; j++) {
					utf8proc_ssize_t l = utf8proc_encode_char(cps[j], enc);
					if (pofa_sbuf_put(out, (char *)enc, (size_t)l))
						return -1;
				}
				return 1;
			}
	return 0;
}

/* is a (..) group a pronunciation respelling or a short label? */
static int drop_paren(const char *s, int n)
{
	int words = 1, letters = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] == '*' || s[i] == '"' || s[i] == '`' || s[i] == '\\')
			return 1;
		if (s[i] == ' ')
			words++;
		if (isalpha((unsigned char)s[i]))
			letters++;
	}
	/* (Law), (Mar. Law), (Chem.), (Bot.): at most three words, a capital
	 * first, with an abbreviation or a single word */
	if (words <= 3 && n > 0 && isupper((unsigned char)s[0]) && (memchr(s, '.', (size_t)n) || words == 1))
		return 1;
	return letters == 0;
}

/* Removes markup from an entry's body (header line gone). */
static int strip_markup(const char *s, size_t n, pofa_sbuf *out)
{
	for (size_t i = 0; i < n;) {
		char c = s[i];
		if (c == '[') {
			/* find the matching ] (nesting allowed) */
			size_t j = i + 1;
			int depth = 1;
			while (j < n && depth > 0) {
				if (s[j] == '[')
					depth++;
				else if (s[j] == ']')
					depth--;
				j++;
			}
			int code = accent_code(s + i + 1, (int)(j - i - 2), out);
			if (code < 0)
				return -1;
			i = j;
			continue;
		}
		if (c == '\\') {
			const char *e = memchr(s + i + 1, '\\', n - i - 1);
			i = e ? (size_t)(e - s) + 1 : n;
			continue;
		}
		if (c == '(') {
			const char *e = memchr(s + i + 1, ')', n - i - 1);
			if (e && drop_paren(s + i + 1, (int)(e - s - i - 1))) {
				i = (size_t)(e - s) + 1;
				continue;
			}
		}
		if (c == '{' || c == '}') {
			i++;
			continue;
		}
		if (c == '-' && i + 2 < n && s[i + 1] == '-' && isupper((unsigned char)s[i + 2])) {
			/* "--Shak." attributions run to the end of the line; a
			 * deeply indented next line continues them */
			while (i < n && s[i] != '\n')
				i++;
			if (i + 31 < n) {
				size_t j = i + 1, sp = 0;
				while (j < n && s[j] == ' ') {
					j++;
					sp++;
				}
				if (sp >= 30)
					while (j < n && s[j] != '\n')
						j++;
				if (sp >= 30)
					i = j;
			}
			continue;
		}
		if (pofa_sbuf_chr(out, c))
			return -1;
		i++;
	}
	return 0;
}

static int count_words(const char *s, size_t n)
{
	int w = 0, in = 0;
	for (size_t i = 0; i < n; i++) {
		int sp = s[i] == ' ';
		if (!sp && !in)
			w++;
		in = !sp;
	}
	return w;
}

/* Emits the sentences of one paragraph (whitespace already collapsed). */
/* ---- what the tasks hold out ---------------------------------------------------- */

void pofa_heldout_key(const char *s, size_t len, char *out, size_t n)
{
	size_t o = 0;
	int gap = 0;
	for (size_t i = 0; i < len && o + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) && c < 128) {
			if (gap && o > 0) {
				if (o + 2 >= n)
					break;
				out[o++] = ' ';
			}
			out[o++] = (char)tolower(c);
			gap = 0;
		} else {
			gap = 1;
		}
	}
	out[o] = 0;
}

enum { HELD_PREFIX = 40 };

/* the held-out keys, sorted: whole, and the first HELD_PREFIX bytes of
 * those at least as long */
typedef struct {
	char *text;
	char **key, **pre;
	size_t nkey, npre;
} heldout;

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int by_pre(const void *a, const void *b)
{
	return strncmp(*(char *const *)a, *(char *const *)b, HELD_PREFIX);
}

static int heldout_make(heldout *h, const pofa_sbuf *keys)
{
	memset(h, 0, sizeof *h);
	if (!keys || !keys->n)
		return 0;
	size_t lines = 0;
	for (size_t i = 0; i < keys->n; i++)
		lines += keys->s[i] == '\n';
	h->text = malloc(keys->n + 1);
	h->key = malloc((lines + 1) * sizeof *h->key);
	h->pre = malloc((lines + 1) * sizeof *h->pre);
	if (!h->text || !h->key || !h->pre)
		return -1;
	memcpy(h->text, keys->s, keys->n);
	h->text[keys->n] = 0;
	for (char *l = h->text, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		if (!e)
			e = l + strlen(l) - 1;
		else
			*e = 0;
		h->key[h->nkey++] = l;
		if (strlen(l) >= HELD_PREFIX)
			h->pre[h->npre++] = l;
	}
	qsort(h->key, h->nkey, sizeof *h->key, by_str);
	qsort(h->pre, h->npre, sizeof *h->pre, by_pre);
	return 0;
}

static void heldout_free(heldout *h)
{
	free(h->text);
	free(h->key);
	free(h->pre);
}

static int heldout_has(const heldout *h, const char *s, size_t n)
{
	if (!h || !h->nkey)
		return 0;
	char key[1024];
	const char *k = key;
	pofa_heldout_key(s, n, key, sizeof key);
	return bsearch(&k, h->key, h->nkey, sizeof *h->key, by_str) ||
	       (strlen(key) >= HELD_PREFIX && bsearch(&k, h->pre, h->npre, sizeof *h->pre, by_pre));
}

/* ---- sentences -------------------------------------------------------------------- */

/* an entry as it is written: its headword (the corpus pairs each word with
 * what is said of it), the sentences left out */
typedef struct {
	const char *head;
	size_t hn;
	const heldout *held;
} entry_ctx;

/* the sentences of p, each on a line of its own after "HEAD\t": a pair,
 * the headword the first segment (pre-training then sees the two segments
 * as the pair tasks are given to it) */
static int emit_sentences(const char *p, size_t n, const entry_ctx *ec, pofa_sbuf *out, pofa_gcide_stats *st)
{
	size_t a = 0;
	for (size_t i = 0; i <= n; i++) {
		int end = i == n;
		/* a sentence ends at ". ", "? " or "! " before a capital letter */
		if (!end && (p[i] == '.' || p[i] == '?' || p[i] == '!') && i + 2 < n && p[i + 1] == ' ' &&
		    isupper((unsigned char)p[i + 2])) {
			/* not after an abbreviation such as "Mr." or an initial */
			size_t k = i;
			while (k > a && p[k - 1] != ' ')
				k--;
			int len = (int)(i - k);
			if (len > 2 || p[i] != '.') {
				i++;
				end = 1;
			}
		}
		if (!end)
			continue;
		size_t b = i;
		while (a < b && (p[a] == ' ' || p[a] == ';' || p[a] == ','))
			a++;
		while (b > a && p[b - 1] == ' ')
			b--;
		int w = count_words(p + a, b - a);
		if (w >= 3 && heldout_has(ec->held, p + a, b - a)) {
			st->held_out++;
		} else if (w >= 3) {
			if ((ec->hn && (pofa_sbuf_put(out, ec->head, ec->hn) || pofa_sbuf_chr(out, '\t'))) ||
			    pofa_sbuf_put(out, p + a, b - a) || pofa_sbuf_chr(out, '\n'))
				return -1;
			st->sentences++;
			st->words += w;
		}
		a = i + 1;
	}
	return 0;
}

/* one entry -> its sentences (possibly none) */
static int clean_entry(const char *e, size_t n, const entry_ctx *ec, pofa_sbuf *tmp, pofa_sbuf *para,
                       pofa_sbuf *out, pofa_gcide_stats *st)
{
	/* drop the header: up to the first line end outside [..] groups, so an
	 * etymology that runs over several lines goes with it */
	size_t body = 0;
	int depth = 0;
	while (body < n && !(e[body] == '\n' && depth == 0)) {
		depth += e[body] == '[' ? 1 : e[body] == ']' ? -(depth > 0) : 0;
		body++;
	}
	if (body >= n)
		return 0;
	body++;
	tmp->n = 0;
	if (strip_markup(e + body, n - body, tmp))
		return -1;
	/* paragraphs are separated by blank lines */
	size_t before = out->n;
	const char *s = tmp->s ? tmp->s : "";
	size_t len = tmp->n;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		/* paragraph = lines up to an empty (or blank) line */
		for (;;) {
			const char *q = memchr(s + j, '\n', len - j);
			size_t eol = q ? (size_t)(q - s) : len;
			size_t k = j;
			while (k < eol && s[k] == ' ')
				k++;
			if (k == eol && j != i) /* blank line ends the paragraph */
				break;
			j = eol < len ? eol + 1 : len;
			if (j >= len)
				break;
		}
		/* collapse whitespace */
		para->n = 0;
		int sp = 1;
		for (size_t k = i; k < j && k < len; k++) {
			char c = s[k] == '\n' || s[k] == '\t' ? ' ' : s[k];
			if (c == ' ') {
				if (!sp && pofa_sbuf_chr(para, ' '))
					return -1;
				sp = 1;
			} else {
				if (pofa_sbuf_chr(para, c))
					return -1;
				sp = 0;
			}
		}
		char *p = para->s ? para->s : (char *)"";
		size_t pn = para->n;
		/* labels: "Syn:" lists go; "Usage:" and "Note:" keep their text */
		if (pn >= 4 && !strncmp(p, "Syn:", 4))
			pn = 0;
		else if (pn >= 6 && !strncmp(p, "Usage:", 6))
			p += 6, pn -= 6;
		else if (pn >= 5 && !strncmp(p, "Note:", 5))
			p += 5, pn -= 5;
		/* sense numbers and letters: "1. ", "(a) " */
		size_t k = 0;
		while (k < pn && p[k] == ' ')
			k++;
		size_t d = k;
		while (d < pn && isdigit((unsigned char)p[d]))
			d++;
		if (d > k && d + 1 < pn && p[d] == '.' && p[d + 1] == ' ')
			k = d + 2;
		if (k + 3 < pn && p[k] == '(' && islower((unsigned char)p[k + 1]) && p[k + 2] == ')')
			k += 4;
		/* ". . ." elisions in quotations */
		char *q = p + k;
		size_t qn = pn - k;
		for (size_t m = 0; m + 4 < qn; m++)
			if (!memcmp(q + m, ". . .", 5)) {
				memcpy(q + m, "...  ", 5);
			}
		/* the elision left double spaces: collapse again in place */
		size_t w = 0;
		for (size_t m = 0; m < qn; m++)
			if (!(q[m] == ' ' && w > 0 && q[w - 1] == ' '))
				q[w++] = q[m];
		if (emit_sentences(q, w, ec, out, st))
			return -1;
		i = j;
	}
	return out->n > before;
}

int pofa_gcide_build(const char *dict, const char *index, const char *out_path, long max_entries,
                     const pofa_sbuf *held_out, pofa_gcide_stats *st, pofa_err *err)
{
	memset(st, 0, sizeof *st);
	pofa_sbuf text = { 0 };
	int rc = read_gz(dict, &text, err);
	if (rc)
		return rc;
	unsigned char *ib;
	size_t in;
	rc = pofa_read_file(index, &ib, &in, 1u << 30, err);
	if (rc) {
		pofa_sbuf_free(&text);
		return rc;
	}
	span *sp = NULL;
	size_t nsp = 0, csp = 0;
	long line = 0;
	for (size_t i = 0; i < in && rc == POFA_OK;) {
		size_t j = i;
		while (j < in && ib[j] != '\n')
			j++;
		line++;
		/* headword \t offset \t length */
		const char *t1 = memchr(ib + i, '\t', j - i);
		const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)((const char *)ib + j - t1 - 1)) : NULL;
		span s = { .head = i, .hn = t1 ? (size_t)(t1 - ((const char *)ib + i)) : 0 };
		if (!t1 || !t2 || parse_b64(t1 + 1, (size_t)(t2 - t1 - 1), &s.off) ||
		    parse_b64(t2 + 1, (size_t)((const char *)ib + j - t2 - 1), &s.len) ||
		    s.off + s.len > text.n) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: not a dictd index line", index, line);
			break;
		}
		const char *head = (const char *)ib + i;
		/* the database's own 00-database-* entries are not dictionary text */
		if (!(t1 - head >= 3 && !strncmp(head, "00-", 3)) && !(t1 - head == 1 && head[0] == '0')) {
			if (nsp == csp) {
				csp = csp ? 2 * csp : 1 << 16;
				if (pofa_resize(&sp, csp, sizeof *sp)) {
					rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
					break;
				}
			}
			sp[nsp++] = s;
		}
		i = j + 1;
	}
	if (rc) {
		free(ib);
		free(sp);
		pofa_sbuf_free(&text);
		return rc;
	}
	qsort(sp, nsp, sizeof *sp, by_off);
	heldout held;
	if (heldout_make(&held, held_out))
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	pofa_sbuf tmp = { 0 }, para = { 0 }, out = { 0 };
	uint64_t last = UINT64_MAX;
	for (size_t i = 0; i < nsp && rc == POFA_OK; i++) {
		if (sp[i].off == last)
			continue; /* several headwords, one entry */
		last = sp[i].off;
		if (max_entries > 0 && st->entries >= max_entries)
			break;
		st->entries++;
		entry_ctx ec = { (const char *)ib + sp[i].head, sp[i].hn, &held };
		int r = clean_entry(text.s + sp[i].off, sp[i].len, &ec, &tmp, &para, &out, st);
		if (r < 0)
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
		else if (r > 0) {
			st->documents++;
			if (pofa_sbuf_chr(&out, '\n'))
				rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
		}
	}
	if (rc == POFA_OK)
		rc = pofa_write_atomic(out_path, out.s ? out.s : "", out.n, err);
	free(sp);
	free(ib);
	heldout_free(&held);
	pofa_sbuf_free(&text);
	pofa_sbuf_free(&tmp);
	pofa_sbuf_free(&para);
	pofa_sbuf_free(&out);
	return rc;
}
