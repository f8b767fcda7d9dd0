/*
 * wordnet.c - three downstream tasks from WordNet 3.0 (Debian's
 * wordnet-base: data.noun, data.verb, data.adj, data.adv and the *.exc
 * exception lists). Every synset lands in train, dev or test (80/10/10) by a
 * hash of its offset and part of speech, so the split never depends on the
 * order of work, and rebuilding gives the same bytes.
 *
 *   wn-sense  sentence = a synset's definition, label = its lexicographer
 *             file (noun.animal, verb.motion, ...): 45 classes.
 *   wn-pos    the same definitions, label = the synset's part of speech
 *             (noun, verb, adj, adv): an easier task of the same text.
 *   wn-pair   sentence1, sentence2 = the definitions of two synsets of the
 *             same split, label 1 when both are in the same lexicographer
 *             file (noun.animal and noun.animal), 0 when not. One pair per
 *             synset, half of them positive (chosen by hash); the partner
 *             is drawn from the split, so no pair crosses train and dev.
 *             Word overlap alone scores about 56% on dev; a model that
 *             knows what the words mean does better.
 *   wn-span   SQuAD v1.1: question = a definition, context = one of the
 *             synset's example sentences, answer = where one of its lemmas
 *             occurs, inflected forms included (exception lists, regular
 *             suffixes); examples without a match are skipped and counted.
 */
#include "data/build/datasets.h"
#include "data/base/fileio.h"
#include "data/base/mem.h"
#include "data/base/rng.h"
#include "data/base/util.h"

#include <string.h>
#include <cJSON.h>
#include <csv.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

const char *const pofa_wn_lexnames[45] = {
	"adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
	"noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
	"noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
	"noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
	"noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
	"verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
	"verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
	"verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
	"adj.ppl",
};

static const char *const pos_files[4] = { "noun", "verb", "adj", "adv" };

typedef struct {
	int pos;            /* index into pos_files */
	long offset;
	int lexfile;
	int split;          /* 0 train, 1 dev, 2 test */
	char **lemmas;
	int nlemmas;
	char *def;
	char **examples;
	int nex;
} synset;

typedef struct {
	synset *s;
	int n;
	size_t cap;
	/* exceptions: base -> inflected forms, per part of speech */
	char **exc_base[4], **exc_form[4];
	int nexc[4];
} wordnet;

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static int split_of(int pos, long offset)
{
	uint64_t h = pofa_mix64((uint64_t)offset * 8 + (uint64_t)pos) % 10;
	return h < 8 ? 0 : h == 8 ? 1 : 2;
}

/* gloss: definition parts, and "quoted" examples, separated by "; ";
 * -1 when out of memory */
static int parse_gloss(synset *s, const char *g, size_t n)
{
	pofa_sbuf def = { 0 };
	size_t i = 0;
	s->examples = NULL;
	s->nex = 0;
	while (i < n) {
		while (i < n && (g[i] == ' ' || g[i] == ';'))
			i++;
		if (i >= n)
			break;
		if (g[i] == '"') {
			size_t j = i + 1;
			while (j < n && g[j] != '"')
				j++;
			if (pofa_resize(&s->examples, (size_t)s->nex + 1, sizeof *s->examples) ||
			    !(s->examples[s->nex] = dupn(g + i + 1, j - i - 1))) {
				pofa_sbuf_free(&def);
				return -1;
			}
			s->nex++;
			i = j + 1;
		} else {
			size_t j = i;
			while (j < n && !(g[j] == ';' && j + 1 < n && g[j + 1] == ' '))
				j++;
			if (j == n)
				while (j > i && g[j - 1] == ' ')
					j--;
			if ((def.n && pofa_sbuf_str(&def, "; ")) || pofa_sbuf_put(&def, g + i, j - i)) {
				pofa_sbuf_free(&def);
				return -1;
			}
			i = j + 1;
		}
	}
	s->def = def.s ? def.s : dupn("", 0);
	return s->def ? 0 : -1;
}

static int load_data(wordnet *wn, const char *dir, int pos, long max, pofa_err *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/data.%s", dir, pos_files[pos]);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, 256u << 20, err);
	if (rc)
		return pofa_error(err, POFA_ERR_INPUT, "%s (install wordnet-base: make deps)", err->msg);
	long line = 0, taken = 0;
	for (size_t i = 0; i < n && (max <= 0 || taken < max);) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		line++;
		char *l = (char *)buf + i;
		if (j < n)
			buf[j] = 0;
		i = j + 1;
		if (l[0] == ' ' || l[0] == 0)
			continue; /* the licence header */
		synset s = { 0 };
		char *p = l, *end;
		s.pos = pos;
		s.offset = strtol(p, &end, 10);
		p = end;
		s.lexfile = (int)strtol(p, &end, 10);
		p = end;
		while (*p == ' ')
			p++;
		p++; /* ss_type */
		int wc = (int)strtol(p, &end, 16);
		p = end;
		if (s.lexfile < 0 || s.lexfile >= 45 || wc < 1 || wc > 256) {
			free(buf);
			return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: not a WordNet data line", path, line);
		}
		s.lemmas = calloc((size_t)wc, sizeof *s.lemmas);
		for (int w = 0; w < wc; w++) {
			while (*p == ' ')
				p++;
			char *q = p;
			while (*q && *q != ' ')
				q++;
			char *lem = dupn(p, (size_t)(q - p));
			char *paren = strchr(lem, '(');   /* adjective markers: (p) (a) (ip) */
			if (paren)
				*paren = 0;
			for (char *c = lem; *c; c++)
				if (*c == '_')
					*c = ' ';
			s.lemmas[s.nlemmas++] = lem;
			p = q;
			strtol(p, &end, 16); /* lex_id */
			p = end;
		}
		int pc = (int)strtol(p, &end, 10);
		p = end;
		for (int k = 0; k < pc; k++) {
			for (int f = 0; f < 4; f++) {   /* symbol, offset, pos, source/target */
				while (*p == ' ')
					p++;
				while (*p && *p != ' ')
					p++;
			}
		}
		char *bar = strstr(p, "| ");
		if (!bar) {
			free(buf);
			return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: no gloss", path, line);
		}
		bar += 2;
		size_t gl = strlen(bar);
		while (gl > 0 && (bar[gl - 1] == ' ' || bar[gl - 1] == '\r'))
			gl--;
		s.split = split_of(pos, s.offset);
		if (parse_gloss(&s, bar, gl) || pofa_grow(&wn->s, &wn->cap, (size_t)wn->n + 1, sizeof *wn->s)) {
			free(buf);
			return pofa_error(err, POFA_ERR_RUN, "%s:%ld: out of memory", path, line);
		}
		wn->s[wn->n++] = s;
		taken++;
	}
	free(buf);
	/* exceptions: "inflected base..." */
	snprintf(path, sizeof path, "%s/%s.exc", dir, pos_files[pos]);
	if (pofa_read_file(path, &buf, &n, 64u << 20, err))
		return POFA_OK; /* optional */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		char *l = (char *)buf + i;
		size_t ll = j - i;
		char *sp = memchr(l, ' ', ll);
		if (sp) {
			char *form = dupn(l, (size_t)(sp - l));
			char *rest = sp + 1;
			size_t rl = ll - (size_t)(rest - l);
			char *sp2 = memchr(rest, ' ', rl);
			char *base = dupn(rest, sp2 ? (size_t)(sp2 - rest) : rl);
			for (char *c = form; *c; c++)
				if (*c == '_') *c = ' ';
			for (char *c = base; *c; c++)
				if (*c == '_') *c = ' ';
			int k = wn->nexc[pos];
			if (!form || !base || pofa_resize(&wn->exc_base[pos], (size_t)k + 1, sizeof(char *)) ||
			    pofa_resize(&wn->exc_form[pos], (size_t)k + 1, sizeof(char *))) {
				free(form);
				free(base);
				free(buf);
				return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			}
			wn->nexc[pos]++;
			wn->exc_base[pos][k] = base;
			wn->exc_form[pos][k] = form;
		}
		i = j + 1;
	}
	free(buf);
	return POFA_OK;
}

static void wordnet_free(wordnet *wn)
{
	for (int i = 0; i < wn->n; i++) {
		synset *s = &wn->s[i];
		for (int k = 0; k < s->nlemmas; k++)
			free(s->lemmas[k]);
		for (int k = 0; k < s->nex; k++)
			free(s->examples[k]);
		free(s->lemmas);
		free(s->examples);
		free(s->def);
	}
	free(wn->s);
	for (int p = 0; p < 4; p++) {
		for (int k = 0; k < wn->nexc[p]; k++) {
			free(wn->exc_base[p][k]);
			free(wn->exc_form[p][k]);
		}
		free(wn->exc_base[p]);
		free(wn->exc_form[p]);
	}
}

/* ---- writing ------------------------------------------------------------- */

/* a TSV field: quoted through libcsv only when it must be; -1 when out
 * of memory */
static int tsv_field(pofa_sbuf *b, const char *s, int last)
{
	int bad = 0;
	if (strpbrk(s, "\t\"\r\n")) {
		size_t n = strlen(s);
		char *q = malloc(2 * n + 3);
		bad = !q || pofa_sbuf_put(b, q, csv_write2(q, 2 * n + 3, s, n, '"'));
		free(q);
	} else {
		bad = pofa_sbuf_str(b, s);
	}
	return bad || pofa_sbuf_chr(b, last ? '\n' : '\t') ? -1 : 0;
}

static int write_splits(const char *dir, const char *name, const char *ext, pofa_sbuf *b, pofa_err *err)
{
	static const char *const split_names[3] = { "train", "dev", "test" };
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int rc = pofa_mkdirs(path, err);
	for (int s = 0; s < 3 && !rc; s++) {
		snprintf(path, sizeof path, "%s/%s/%s.%s", dir, name, split_names[s], ext);
		rc = pofa_write_atomic(path, b[s].s ? b[s].s : "", b[s].n, err);
	}
	return rc;
}

/* ---- wn-span: find a lemma (or an inflection) in the example ------------- */

/* a list of word forms, each once; oom: an allocation failed */
typedef struct {
	char **v;
	int n, oom;
} forms_t;

static void add_form(forms_t *f, const char *s)
{
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->v[i], s))
			return;
	if (f->oom || pofa_resize(&f->v, (size_t)f->n + 1, sizeof *f->v) || !(f->v[f->n] = strdup(s))) {
		f->oom = 1;
		return;
	}
	f->n++;
}

static void forms_free(forms_t *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	memset(f, 0, sizeof *f);
}

static int is_vowel(char c) { return strchr("aeiou", c) != NULL; }

/* regular inflections of one word by part of speech */
static void inflect(forms_t *forms, const char *w, int pos)
{
	size_t l = strlen(w);
	char buf[256];
	if (l == 0 || l > 200)
		return;
	char last = w[l - 1], prev = l > 1 ? w[l - 2] : 0;
	int cvc = l >= 3 && !is_vowel(last) && is_vowel(prev) && !is_vowel(w[l - 3]) &&
	          last != 'w' && last != 'x' && last != 'y';
#define FORM(...) do { snprintf(buf, sizeof buf, __VA_ARGS__); add_form(forms, buf); } while (0)
	if (pos == 0 || pos == 1) { /* plural / third person */
		FORM("%ss", w);
		if (strchr("sxz", last) || (last == 'h' && (prev == 'c' || prev == 's')))
			FORM("%ses", w);
		if (last == 'y' && !is_vowel(prev))
			FORM("%.*sies", (int)l - 1, w);
	}
	if (pos == 1) {
		FORM(last == 'e' ? "%sd" : "%sed", w);
		FORM("%.*sing", last == 'e' && l > 2 ? (int)l - 1 : (int)l, w);
		if (last == 'y' && !is_vowel(prev))
			FORM("%.*sied", (int)l - 1, w);
		if (cvc) {
			FORM("%s%ced", w, last);
			FORM("%s%cing", w, last);
		}
	}
	if (pos >= 2) {
		FORM(last == 'e' ? "%sr" : "%ser", w);
		FORM(last == 'e' ? "%sst" : "%sest", w);
		if (last == 'y' && !is_vowel(prev)) {
			FORM("%.*sier", (int)l - 1, w);
			FORM("%.*siest", (int)l - 1, w);
		}
		if (cvc) {
			FORM("%s%cer", w, last);
			FORM("%s%cest", w, last);
		}
	}
#undef FORM
}

/* every form of a lemma: itself, exceptions, regular inflections of its
 * head word (first word of a verb phrase, last word otherwise) */
static void lemma_forms(const wordnet *wn, const char *lemma, int pos, forms_t *forms)
{
	add_form(forms, lemma);
	for (int k = 0; k < wn->nexc[pos]; k++)
		if (!strcmp(wn->exc_base[pos][k], lemma))
			add_form(forms, wn->exc_form[pos][k]);
	const char *sp = pos == 1 ? strchr(lemma, ' ') : strrchr(lemma, ' ');
	char head[256];
	if (!sp) {
		inflect(forms, lemma, pos);
		return;
	}
	/* multi-word: inflect the head, keep the rest */
	forms_t hf = { 0 };
	if (pos == 1)
		snprintf(head, sizeof head, "%.*s", (int)(sp - lemma), lemma);
	else
		snprintf(head, sizeof head, "%s", sp + 1);
	for (int k = 0; k < wn->nexc[pos]; k++)
		if (!strcmp(wn->exc_base[pos][k], head))
			add_form(&hf, wn->exc_form[pos][k]);
	inflect(&hf, head, pos);
	for (int k = 0; k < hf.n; k++) {
		char buf[600];
		if (pos == 1)
			snprintf(buf, sizeof buf, "%s%s", hf.v[k], sp);
		else
			snprintf(buf, sizeof buf, "%.*s%s", (int)(sp - lemma + 1), lemma, hf.v[k]);
		add_form(forms, buf);
	}
	forms->oom |= hf.oom;
	forms_free(&hf);
}

/* case-insensitive whole-word search; returns byte offset or -1 */
static long find_word(const char *text, const char *w)
{
	size_t n = strlen(text), l = strlen(w);
	for (size_t i = 0; i + l <= n; i++) {
		if (strncasecmp(text + i, w, l))
			continue;
		if (i > 0 && (isalnum((unsigned char)text[i - 1]) || (unsigned char)text[i - 1] >= 0x80))
			continue;
		if (i + l < n && (isalnum((unsigned char)text[i + l]) || (unsigned char)text[i + l] >= 0x80))
			continue;
		return (long)i;
	}
	return -1;
}

static long utf8_chars(const char *s, long bytes)
{
	long c = 0;
	for (long i = 0; i < bytes; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			c++;
	return c;
}

/* ---- the builder ----------------------------------------------------------- */

/* wn-sense: a synset's definition, labelled with its lexicographer file;
 * wn-pos: the same definitions, labelled with their part of speech */
static int build_sense(const wordnet *wn, const char *out_dir, pofa_wn_stats *st, pofa_err *err)
{
	pofa_sbuf sense[3] = { { 0 } }, pos[3] = { { 0 } };
	int oom = 0;
	for (int s = 0; s < 3; s++)
		oom |= pofa_sbuf_str(&sense[s], "sentence\tlabel\n") || pofa_sbuf_str(&pos[s], "sentence\tlabel\n");
	for (int i = 0; i < wn->n; i++) {
		const synset *s = &wn->s[i];
		if (!s->def[0])
			continue;
		oom |= tsv_field(&sense[s->split], s->def, 0) || tsv_field(&sense[s->split], pofa_wn_lexnames[s->lexfile], 1);
		oom |= tsv_field(&pos[s->split], s->def, 0) || tsv_field(&pos[s->split], pos_files[s->pos], 1);
		st->sense[s->split]++;
		st->label_count[s->lexfile]++;
		st->pos_count[s->pos]++;
	}
	int rc = oom ? pofa_error(err, POFA_ERR_RUN, "wn-sense: out of memory")
	             : write_splits(out_dir, "wn-sense", "tsv", sense, err);
	if (!rc)
		rc = write_splits(out_dir, "wn-pos", "tsv", pos, err);
	for (int s = 0; s < 3; s++) {
		pofa_sbuf_free(&sense[s]);
		pofa_sbuf_free(&pos[s]);
	}
	return rc;
}

/* the synsets with a definition, by split and by (lexicographer file,
 * split): where wn-pair's partners come from */
typedef struct {
	int *bysplit[3], nby[3];
	int *bylex[45][3], nlex[45][3];
} pair_index;

static void pair_index_free(pair_index *x)
{
	for (int s = 0; s < 3; s++) {
		free(x->bysplit[s]);
		for (int l = 0; l < 45; l++)
			free(x->bylex[l][s]);
	}
}

static int pair_index_build(const wordnet *wn, pair_index *x)
{
	memset(x, 0, sizeof *x);
	for (int i = 0; i < wn->n; i++) {
		const synset *s = &wn->s[i];
		int sp = s->split, lx = s->lexfile;
		if (!s->def[0])
			continue;
		if (pofa_resize(&x->bysplit[sp], (size_t)x->nby[sp] + 1, sizeof(int)) ||
		    pofa_resize(&x->bylex[lx][sp], (size_t)x->nlex[lx][sp] + 1, sizeof(int)))
			return -1;
		x->bysplit[sp][x->nby[sp]++] = i;
		x->bylex[lx][sp][x->nlex[lx][sp]++] = i;
	}
	return 0;
}

/* synset i's partner (hash h): another synset of its split whose
 * definition differs, of the same lexicographer file when same, of
 * another file when not; -1 when none is found in 64 draws */
static int pair_partner(const wordnet *wn, const pair_index *x, int i, uint64_t h, int same)
{
	const synset *s = &wn->s[i];
	int sp = s->split;
	const int *from = same ? x->bylex[s->lexfile][sp] : x->bysplit[sp];
	int n = same ? x->nlex[s->lexfile][sp] : x->nby[sp];
	for (int tries = 0; tries < 64 && n > 1; tries++) {
		int j = from[pofa_mix64(h ^ (0x9e37u + (uint64_t)tries)) % (uint64_t)n];
		if (j != i && (wn->s[j].lexfile == s->lexfile) == same && strcmp(wn->s[j].def, s->def))
			return j;
	}
	return -1;
}

/* wn-pair: two definitions, 1 when of the same lexicographer file */
static int build_pair(const wordnet *wn, const char *out_dir, pofa_wn_stats *st, pofa_err *err)
{
	pair_index x;
	if (pair_index_build(wn, &x)) {
		pair_index_free(&x);
		return pofa_error(err, POFA_ERR_RUN, "wn-pair: out of memory");
	}
	pofa_sbuf pair[3] = { { 0 } };
	int oom = 0;
	for (int s = 0; s < 3; s++)
		oom |= pofa_sbuf_str(&pair[s], "sentence1\tsentence2\tlabel\n");
	for (int i = 0; i < wn->n; i++) {
		const synset *s = &wn->s[i];
		int sp = s->split;
		if (!s->def[0])
			continue;
		uint64_t h = pofa_mix64((uint64_t)s->offset * 8 + (uint64_t)s->pos + 0x5eed);
		int same = (h >> 20) & 1;
		int j = pair_partner(wn, &x, i, h, same);
		if (j < 0)
			continue;
		oom |= tsv_field(&pair[sp], s->def, 0) || tsv_field(&pair[sp], wn->s[j].def, 0) ||
		       tsv_field(&pair[sp], same ? "1" : "0", 1);
		st->pair[sp]++;
		st->pair_pos[sp] += same;
		st->pair_same_pos[sp] += wn->s[j].pos == s->pos;
	}
	int rc = oom ? pofa_error(err, POFA_ERR_RUN, "wn-pair: out of memory")
	             : write_splits(out_dir, "wn-pair", "tsv", pair, err);
	for (int s = 0; s < 3; s++)
		pofa_sbuf_free(&pair[s]);
	pair_index_free(&x);
	return rc;
}

/* one wn-span example: the definition as the question, the example as the
 * context, the earliest (then longest) form of a lemma in it as the answer;
 * 0 when no form is in the example */
static int span_example(const synset *s, int e, const forms_t *forms, cJSON *paras)
{
	const char *ctx = s->examples[e];
	long best = -1, blen = 0;
	for (int f = 0; f < forms->n; f++) {
		long at = find_word(ctx, forms->v[f]);
		long fl = (long)strlen(forms->v[f]);
		if (at >= 0 && (best < 0 || at < best || (at == best && fl > blen))) {
			best = at;
			blen = fl;
		}
	}
	if (best < 0)
		return 0;
	char id[64], ans[512];
	snprintf(id, sizeof id, "wn-%s-%08ld-%d", pos_files[s->pos], s->offset, e);
	snprintf(ans, sizeof ans, "%.*s", (int)blen, ctx + best);
	cJSON *para = cJSON_CreateObject();
	cJSON_AddStringToObject(para, "context", ctx);
	cJSON *qas = cJSON_AddArrayToObject(para, "qas");
	cJSON *qa = cJSON_CreateObject();
	cJSON_AddStringToObject(qa, "id", id);
	cJSON_AddStringToObject(qa, "question", s->def);
	cJSON *answers = cJSON_AddArrayToObject(qa, "answers");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "text", ans);
	cJSON_AddNumberToObject(a, "answer_start", (double)utf8_chars(ctx, best));
	cJSON_AddItemToArray(answers, a);
	cJSON_AddItemToArray(qas, qa);
	cJSON_AddItemToArray(paras, para);
	return 1;
}

/* wn-span: SQuAD 1.1 files of the synsets' examples */
static int build_span(const wordnet *wn, const char *out_dir, pofa_wn_stats *st, pofa_err *err)
{
	cJSON *roots[3], *paras[3];
	for (int s = 0; s < 3; s++) {
		roots[s] = cJSON_CreateObject();
		cJSON_AddStringToObject(roots[s], "version", "1.1");
		cJSON *data = cJSON_AddArrayToObject(roots[s], "data");
		cJSON *art = cJSON_CreateObject();
		cJSON_AddStringToObject(art, "title", "wn-span");
		paras[s] = cJSON_AddArrayToObject(art, "paragraphs");
		cJSON_AddItemToArray(data, art);
	}
	int oom = 0;
	for (int i = 0; i < wn->n && !oom; i++) {
		const synset *s = &wn->s[i];
		if (!s->nex)
			continue;
		forms_t forms = { 0 };
		for (int k = 0; k < s->nlemmas; k++)
			lemma_forms(wn, s->lemmas[k], s->pos, &forms);
		oom = forms.oom;
		for (int e = 0; e < s->nex && !oom; e++) {
			if (span_example(s, e, &forms, paras[s->split]))
				st->span[s->split]++;
			else
				st->span_skipped++;
		}
		forms_free(&forms);
	}
	pofa_sbuf span[3] = { { 0 } };
	for (int s = 0; s < 3; s++) {
		char *txt = cJSON_PrintUnformatted(roots[s]);
		oom |= !txt || pofa_sbuf_str(&span[s], txt) || pofa_sbuf_chr(&span[s], '\n');
		free(txt);
		cJSON_Delete(roots[s]);
	}
	int rc = oom ? pofa_error(err, POFA_ERR_RUN, "wn-span: out of memory")
	             : write_splits(out_dir, "wn-span", "json", span, err);
	for (int s = 0; s < 3; s++)
		pofa_sbuf_free(&span[s]);
	return rc;
}

/* every dev and test synset's definition and examples, as keys */
static int held_out_keys(const wordnet *wn, pofa_sbuf *out)
{
	char key[1024];
	for (int i = 0; i < wn->n; i++) {
		const synset *s = &wn->s[i];
		if (s->split == 0)
			continue;
		for (int e = -1; e < s->nex; e++) {
			const char *t = e < 0 ? s->def : s->examples[e];
			pofa_heldout_key(t, strlen(t), key, sizeof key);
			if (key[0] && (pofa_sbuf_str(out, key) || pofa_sbuf_chr(out, '\n')))
				return -1;
		}
	}
	return 0;
}

int pofa_wordnet_build(const char *wn_dir, const char *out_dir, long max_synsets, pofa_sbuf *held_out,
                       pofa_wn_stats *st, pofa_err *err)
{
	memset(st, 0, sizeof *st);
	wordnet wn = { 0 };
	int rc = POFA_OK;
	for (int p = 0; p < 4 && !rc; p++)
		rc = load_data(&wn, wn_dir, p, max_synsets, err);
	st->synsets = wn.n;
	if (!rc)
		rc = build_sense(&wn, out_dir, st, err);
	if (!rc)
		rc = build_pair(&wn, out_dir, st, err);
	if (!rc)
		rc = build_span(&wn, out_dir, st, err);
	if (!rc && held_out && held_out_keys(&wn, held_out))
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	wordnet_free(&wn);
	return rc;
}
