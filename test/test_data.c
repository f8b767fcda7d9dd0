/*
 * test_data.c - the tokenizer against Hugging Face BertTokenizer's rules,
 * the TSV/CSV and SQuAD loaders (good and bad input), MLM masking, the
 * metrics, and the corpus/task builders on small slices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"
#include "data/base/mem.h"
#include "data/base/text.h"
#include "data/task/taskset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/build/datasets.h"
#include "engine/model/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/io/safetensors.h"
#include "data/base/fileio.h"
#include "data/task/loaders.h"
#include "data/task/baselines.h"
#include "data/text/tokenizer.h"
#include "data/text/vocab.h"

static char dir[256];

static int setup(void **st)
{
	(void)st;
	const char *d = fx_tmpdir("data");
	return d ? (snprintf(dir, sizeof dir, "%s", d), 0) : -1;
}

static int teardown(void **st)
{
	(void)st;
	return fx_tmpdir_remove();
}


static const char *const toks[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", ",", "!", "cafe",
	"naive", "un", "##aff", "##able", "\xe6\x9d\xb1" /* 東 */, "the", "a", "long", "##er",
	"question", "?", "is", "it", "zoo",
};

static pofa_tokenizer *tok(void)
{
	pofa_err err;
	pofa_tokenizer *tk = pofa_tokenizer_from_tokens(toks, (int)(sizeof toks / sizeof *toks),
	                                                POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	return tk;
}

/* text -> "piece piece ..." */
static void pieces_of(pofa_tokenizer *tk, const char *text, long n, char *out, size_t sz)
{
	pofa_piece *p = NULL;
	int cap = 0;
	int np = pofa_tokenize(tk, text, n, &p, &cap, NULL);
	assert_true(np >= 0);
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < np; i++)
		o += (size_t)snprintf(out + o, sz - o, "%s%s", i ? " " : "", pofa_vocab_token(tk, p[i].id));
	free(p);
}

#define EXPECT_PIECES(tk, text, want)                                                      \
	do {                                                                               \
		char got_[512];                                                            \
		pieces_of(tk, text, (long)sizeof(text) - 1, got_, sizeof got_);            \
		if (strcmp(got_, want))                                                    \
			fail_msg("tokenize \"%s\": expected \"%s\", got \"%s\"", text, want, got_); \
	} while (0)

static void test_tokenizer_golden(void **st)
{
	(void)st;
	pofa_tokenizer *tk = tok();
	/* empty text first, on a fresh tokenizer */
	EXPECT_PIECES(tk, "", "");
	assert_true(pofa_tokenizer_lowercase(tk));   /* no upper case in the vocabulary */
	assert_int_equal(pofa_tok_cls(tk), 2);
	assert_int_equal(pofa_tok_unk(tk), 1);
	EXPECT_PIECES(tk, "Hello, World!", "hello , world !");
	/* accents: lower-case, NFD, combining marks dropped */
	EXPECT_PIECES(tk, "Caf\xc3\xa9 NA\xc3\x8fVE", "cafe naive");
	/* decomposed input (e + U+0301) gives the same */
	EXPECT_PIECES(tk, "cafe\xcc\x81", "cafe");
	/* WordPiece: greedy longest match, ## continuations; a word with an
	 * unmatched piece is one [UNK] */
	EXPECT_PIECES(tk, "unaffable unaffablex", "un ##aff ##able [UNK]");
	EXPECT_PIECES(tk, "longer", "long ##er");
	/* every capital lower-cased, Z too; a word of 12 characters is pieces,
	 * not [UNK] (only words over 100 are) */
	EXPECT_PIECES(tk, "ZOO Zoo", "zoo zoo");
	EXPECT_PIECES(tk, "longerererer", "long ##er ##er ##er ##er");
	/* CJK ideographs are words of their own: 東 known, 京 not */
	EXPECT_PIECES(tk, "\xe6\x9d\xb1\xe4\xba\xac", "\xe6\x9d\xb1 [UNK]");
	/* control characters, NUL and U+FFFD are dropped without splitting;
	 * tab and newline are whitespace */
	EXPECT_PIECES(tk, "hel\x01lo\tworld\nhel\0lo w\xef\xbf\xbdorld", "hello world hello world");
	/* Unicode punctuation (an em dash, Pd) splits */
	EXPECT_PIECES(tk, "hello\xe2\x80\x94world", "hello [UNK] world");
	/* ASCII punctuation ranges include ` and ~ and $ */
	EXPECT_PIECES(tk, "hello`world~hello$", "hello [UNK] world [UNK] hello [UNK]");
	/* no-break space (Zs) is whitespace */
	EXPECT_PIECES(tk, "hello\xc2\xa0world", "hello world");
	/* a word over 100 characters is [UNK] */
	char longw[130];
	memset(longw, 'a', 101);
	longw[101] = 0;
	char got[512];
	pieces_of(tk, longw, 101, got, sizeof got);
	assert_string_equal(got, "[UNK]");
	pieces_of(tk, longw, 100, got, sizeof got);  /* 100 a's: not matched -> [UNK] too */
	assert_string_equal(got, "[UNK]");
	/* invalid UTF-8 is replaced (and dropped) and counted, never a crash */
	pofa_piece *p = NULL;
	int cap = 0;
	pofa_tok_stats ts = { 0 };
	int np = pofa_tokenize(tk, "hel\xff\xfelo \xc3", 9, &p, &cap, &ts);
	assert_int_equal(np, 1);
	assert_string_equal(pofa_vocab_token(tk, p[0].id), "hello");
	assert_int_equal(ts.invalid_utf8, 3);
	free(p);
	pofa_tokenizer_free(tk);
}

static void test_tokenizer_offsets_and_pairs(void **st)
{
	(void)st;
	pofa_tokenizer *tk = tok();
	pofa_piece *p = NULL;
	int cap = 0;
	const char *s = "Caf\xc3\xa9, unaffable!";
	int np = pofa_tokenize(tk, s, -1, &p, &cap, NULL);
	assert_int_equal(np, 6);
	int want[6][2] = { { 0, 5 }, { 5, 6 }, { 7, 9 }, { 9, 12 }, { 12, 16 }, { 16, 17 } };
	for (int i = 0; i < np; i++) {
		if (p[i].start != want[i][0] || p[i].end != want[i][1])
			fail_msg("piece %d (%s): expected bytes [%d, %d), got [%d, %d)", i,
			         pofa_vocab_token(tk, p[i].id), want[i][0], want[i][1], p[i].start, p[i].end);
	}
	free(p);
	/* pairs: [CLS] A [SEP] B [SEP], longest first truncation */
	pofa_encoding e;
	assert_int_equal(pofa_encoding_init(&e, 16), 0);
	int used = pofa_encode(tk, "hello world hello world hello", -1, "the question", -1, 9, 1, &e);
	/* budget 6: A has 5, B has 2 -> cut A to 4 */
	assert_int_equal(used, 9);
	static const char *const w1[] = { "[CLS]", "hello", "world", "hello", "world", "[SEP]", "the",
	                                  "question", "[SEP]" };
	for (int i = 0; i < 9; i++)
		assert_string_equal(pofa_vocab_token(tk, e.ids[i]), w1[i]);
	assert_int_equal(e.type_ids[5], 0);
	assert_int_equal(e.type_ids[6], 1);
	assert_int_equal(e.type_ids[8], 1);
	assert_int_equal(e.truncated, 1);
	assert_int_equal(e.start[0], -1);
	assert_int_equal(e.start[6], 0);
	/* equal lengths: B is cut first */
	used = pofa_encode(tk, "hello world", -1, "the question", -1, 6, 0, &e);
	assert_int_equal(used, 6);
	assert_string_equal(pofa_vocab_token(tk, e.ids[3]), "[SEP]");
	assert_string_equal(pofa_vocab_token(tk, e.ids[4]), "the");
	/* padding and mask */
	used = pofa_encode(tk, "hello", -1, NULL, 0, 8, 1, &e);
	assert_int_equal(used, 3);
	assert_int_equal(e.len, 8);
	assert_int_equal(e.mask[2], 1);
	assert_int_equal(e.mask[3], 0);
	assert_int_equal(e.ids[7], pofa_tok_pad(tk));
	pofa_encoding_free(&e);
	pofa_tokenizer_free(tk);

	/* a cased vocabulary keeps case and accents */
	static const char *const cased[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Hello", "Caf\xc3\xa9" };
	pofa_err err;
	tk = pofa_tokenizer_from_tokens(cased, 7, POFA_CASE_AUTO, &err);
	assert_false(pofa_tokenizer_lowercase(tk));
	char got[256];
	pieces_of(tk, "Hello hello Caf\xc3\xa9", -1, got, sizeof got);
	assert_string_equal(got, "Hello [UNK] Caf\xc3\xa9");
	pofa_tokenizer_free(tk);
	/* a vocabulary without [UNK] is refused */
	static const char *const bad[] = { "[PAD]", "[CLS]", "[SEP]", "[MASK]", "a" };
	assert_null(pofa_tokenizer_from_tokens(bad, 5, POFA_CASE_AUTO, &err));
	assert_non_null(strstr(err.msg, "[UNK]"));
}

/* special tokens typed in the text are those tokens, whole, as Hugging
 * Face's BertTokenizer keeps them (it lower-cases everything else); a
 * lower-case or broken one is text */
static void test_tokenizer_specials(void **st)
{
	(void)st;
	pofa_tokenizer *tk = tok();
	char got[256];
	pieces_of(tk, "The [MASK] world", -1, got, sizeof got);
	assert_string_equal(got, "the [MASK] world");
	pieces_of(tk, "hello[SEP]world [CLS][PAD] [UNK]", -1, got, sizeof got);
	assert_string_equal(got, "hello [SEP] world [CLS] [PAD] [UNK]");
	pieces_of(tk, "[mask] [MASK", -1, got, sizeof got);
	if (strstr(got, "[MASK]"))
		fail_msg("'[mask] [MASK': expected no [MASK] token (lower case, unclosed), got: %s", got);
	pofa_piece *p = NULL;
	int cap = 0, np = pofa_tokenize(tk, "a [MASK] b", -1, &p, &cap, NULL);
	assert_int_equal(np, 3);
	assert_int_equal(p[1].id, pofa_tok_mask(tk));
	if (p[1].start != 2 || p[1].end != 8 || p[2].start != 9 || p[2].word != 2)
		fail_msg("[MASK]: expected bytes [2, 8) and 'b' at 9 as word 2, got [%d, %d), %d, word %d", p[1].start,
		         p[1].end, p[2].start, p[2].word);
	free(p);
	pofa_tokenizer_free(tk);
}

/* casing as Hugging Face decides it: bert-base-uncased's vocabulary holds
 * U+211D, an upper-case letter with no lower case, and is still uncased;
 * a tokenizer_config.json beside the vocabulary has the last word */
static void test_tokenizer_casing(void **st)
{
	(void)st;
	char v[600], cfgp[600];
	pofa_err err;
	snprintf(v, sizeof v, "%s/casing/vocab.txt", dir);
	snprintf(cfgp, sizeof cfgp, "%s/casing/tokenizer_config.json", dir);
	char d[600];
	snprintf(d, sizeof d, "%s/casing", dir);
	assert_int_equal(pofa_mkdirs(d, &err), 0);
	fx_spit_str(v, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ncoming\nhome\n\xe2\x84\x9d\n##s\n");
	pofa_tokenizer *tk = pofa_tokenizer_load(v, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	assert_true(pofa_tokenizer_lowercase(tk));
	EXPECT_PIECES(tk, "Coming HOME", "coming home");
	pofa_tokenizer_free(tk);
	fx_spit_str(cfgp, "{\"do_lower_case\": false, \"model_max_length\": 512}");
	tk = pofa_tokenizer_load(v, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	assert_false(pofa_tokenizer_lowercase(tk));
	EXPECT_PIECES(tk, "Coming", "[UNK]");
	pofa_tokenizer_free(tk);
	fx_spit_str(cfgp, "{\"do_lower_case\": \"sometimes\"}");
	memset(&err, 0, sizeof err);
	assert_null(pofa_tokenizer_load(v, POFA_CASE_AUTO, &err));
	assert_non_null(strstr(err.msg, "tokenizer_config.json: do_lower_case must be true or false"));
	unlink(cfgp);
	/* plainly cased: capitals in more than 1% of the tokens */
	fx_spit_str(v, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nComing\ncoming\nThe\n");
	tk = pofa_tokenizer_load(v, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	assert_false(pofa_tokenizer_lowercase(tk));
	EXPECT_PIECES(tk, "Coming", "Coming");
	pofa_tokenizer_free(tk);
}

/* ---- TSV / CSV ----------------------------------------------------------------- */

static pofa_task_spec text_spec(const char *content)
{
	pofa_task_spec spec = { .text_a = "sentence1", .label = "label" };
	if (strstr(content, "sentence2"))
		strcpy(spec.text_b, "sentence2");
	return spec;
}

static int load_spec(const pofa_task_spec *spec, const char *name, const char *content, pofa_labels *labels,
                     pofa_text_task *t, pofa_err *err)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fx_spit(path, content, strlen(content));
	return pofa_text_task_load(spec, path, labels, t, err);
}

static int load_tsv(const char *name, const char *content, pofa_labels *labels, pofa_text_task *t,
                    pofa_err *err)
{
	pofa_task_spec spec = text_spec(content);
	return load_spec(&spec, name, content, labels, t, err);
}

#define EXPECT_LOAD_ERROR(name, content, labels, needle)                                       \
	do {                                                                                   \
		pofa_text_task t_;                                                             \
		pofa_err e_ = { 0 };                                                           \
		int rc_ = load_tsv(name, content, labels, &t_, &e_);                           \
		if (rc_ != POFA_ERR_INPUT || !strstr(e_.msg, needle) || !strstr(e_.msg, name)) \
			fail_msg("%s: expected status 2 and \"%s\", got %d: %s", name, needle, rc_, e_.msg); \
	} while (0)

/* the one growth helper: doubling from 16, and a failed growth (a size
 * that overflows) leaves the array and its capacity as they were */
static void test_grow(void **st)
{
	(void)st;
	int *v = NULL;
	size_t cap = 0;
	assert_int_equal(pofa_grow(&v, &cap, 1, sizeof *v), 0);
	assert_int_equal(cap, 16);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(pofa_grow(&v, &cap, (size_t)i + 1, sizeof *v), 0);
		v[i] = i;
	}
	assert_int_equal(cap, 128);
	int *before = v;
	assert_int_equal(pofa_grow(&v, &cap, SIZE_MAX / 2, sizeof *v), -1);
	assert_int_equal(pofa_resize(&v, SIZE_MAX / 2, sizeof *v), -1);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 128);
	for (int i = 0; i < 100; i++)
		assert_int_equal(v[i], i);
	assert_int_equal(pofa_resize(&v, 3, sizeof *v), 0);
	assert_int_equal(v[2], 2);
	free(v);
}

/* the text rule: refused at input, escaped at output (text.h) */
static char *memfile(void (*fn)(FILE *, const char *), const char *s)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	fn(f, s);
	fclose(f);
	return buf;
}
static void csv1(FILE *f, const char *s) { pofa_csv_text(f, s, -1); }
static void term1(FILE *f, const char *s) { pofa_esc_term(f, s, -1); }

static void test_text_rule(void **st)
{
	(void)st;
	struct { const char *s; const char *why; } in[] = {
		{ "ok label", NULL }, { "été 中", NULL }, { "", "empty" }, { "a\tb", "holds a tab" },
		{ "a\nb", "holds a line break" }, { "x\033]0;t\007", "holds a control character" },
		{ "a\xff", "not UTF-8" }, { "\xc0\xaf", "not UTF-8" }, { "a\xe2\x80\xae" "b", "holds a control character" },
		{ "0123456789012345678901234567890123456789012345678901234567890123", "too long" },
	};
	for (size_t k = 0; k < sizeof in / sizeof *in; k++) {
		const char *why = pofa_text_refusal(in[k].s, strlen(in[k].s), POFA_LABEL_MAX);
		if ((why == NULL) != (in[k].why == NULL) || (why && strcmp(why, in[k].why)))
			fail_msg("label %zu: expected %s, got %s", k, in[k].why ? in[k].why : "accepted", why ? why : "accepted");
	}
	char *h = memfile(pofa_esc_html, "<a href=\"x\">'&'</a>\033\xff");
	assert_string_equal(h, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\xef\xbf\xbd\xef\xbf\xbd");
	free(h);
	h = memfile(pofa_esc_md, "|a|b| <i>*x*</i> [l](u)\nnext");
	assert_string_equal(h, "\\|a\\|b\\| &lt;i&gt;\\*x\\*&lt;/i&gt; \\[l\\](u) next");
	free(h);
	const char *formula[] = { "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\tx" };
	for (size_t k = 0; k < 5; k++) {
		h = memfile(csv1, formula[k]);
		if (h[0] != '"' || h[1] != '\'')
			fail_msg("CSV cell %s: expected a quoted cell starting with ', got %s", formula[k], h);
		free(h);
	}
	h = memfile(csv1, "plain, \"quoted\"");
	assert_string_equal(h, "\"plain, \"\"quoted\"\"\"");
	free(h);
	h = memfile(term1, "a\033]0;pwned\007b\xff" "c");
	assert_string_equal(h, "a\\x1b]0;pwned\\x07b?c");
	free(h);
	char out[64];
	assert_int_equal(pofa_esc_term_str(out, sizeof out, "中\033"), 2 + 4);
	assert_string_equal(out, "中\\x1b");
}

static void test_tsv(void **st)
{
	(void)st;
	pofa_labels labels = { 0 };
	pofa_text_task t;
	pofa_err err;
	/* GLUE-style TSV: BOM, CRLF, quotes are text (a text may start with
	 * one), an extra column */
	const char *train = "\xef\xbb\xbfid\tsentence1\tsentence2\tlabel\r\n"
	                    "1\thello\tworld\tpos\r\n"
	                    "2\t\"a \"\"quoted\"\"\tx\tneg\r\n"
	                    "3\tthird\ty\tpos\r\n";
	if (load_tsv("train.tsv", train, &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.a[1], "\"a \"\"quoted\"\"");
	assert_string_equal(t.b[0], "world");
	assert_int_equal(labels.n, 2);
	assert_string_equal(labels.names[0], "neg");
	assert_int_equal(t.label[0], 1);
	assert_int_equal(t.label[1], 0);
	assert_int_equal(t.line[2], 4);
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	/* a text that opens a quote does not swallow the lines after it: six
	 * rows are six examples, each with its own label */
	const char *six = "sentence1\tlabel\n\"one\ta\ntwo\tb\n\"three\"\tc\nfour\ta\n\"five\tb\nsix\tc\n";
	if (load_tsv("six.tsv", six, &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(t.n, 6);
	assert_string_equal(t.a[0], "\"one");
	assert_string_equal(t.a[4], "\"five");
	assert_int_equal(t.label[5], 2);
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	/* a ragged line is refused and counted, with its line; the rest loads */
	if (load_tsv("ragged.tsv", "sentence1\tlabel\nok\tpos\ntoo\tmany\tneg\nfine\tneg\n", &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.refused, 1);
	assert_int_equal(t.refused_line[0], 3);
	char sum[300];
	pofa_text_task_summary(&t, "ragged.tsv", sum, sizeof sum);
	if (!strstr(sum, "ragged.tsv: 2 examples, 1 lines refused") || !strstr(sum, "line 3"))
		fail_msg("summary: %s", sum);
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	/* CSV by extension (no format named): a quoted field over two lines */
	const char *csv = "sentence1,label\n\"two\nlines\",neg\nplain,pos\n";
	if (load_tsv("dev.csv", csv, &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.a[0], "two\nlines");
	assert_int_equal(t.line[1], 4);
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	/* a format the recipe names is not guessed from the extension */
	pofa_task_spec spec = text_spec("");
	spec.format = POFA_TASK_TSV;
	spec.format_set = 1;
	if (load_spec(&spec, "named.csv", "sentence1\tlabel\na,b\tpos\n", &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(t.a[0], "a,b");
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	/* TSV with quoting asked for, and another delimiter */
	spec.quoting = POFA_QUOTING_ON;
	if (load_spec(&spec, "q.tsv", "sentence1\tlabel\n\"a\tquoted\"\tpos\n", &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(t.a[0], "a\tquoted");
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	spec.quoting = POFA_QUOTING_FORMAT;
	spec.delimiter = '|';
	if (load_spec(&spec, "pipe.txt", "sentence1|label\nx y|pos\n", &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(t.a[0], "x y");
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);

	EXPECT_LOAD_ERROR("nocol.tsv", "text\tlabel\nok\tpos\n", &labels, "no column \"sentence1\" in the header row, whose columns are \"text\", \"label\"; name one of them");
	EXPECT_LOAD_ERROR("allragged.tsv", "sentence1\tlabel\na\tb\tc\n", &labels, "every line refused");
	pofa_labels_free(&labels);
	if (load_tsv("train2.tsv", "sentence1\tlabel\nok\tpos\nno\tneg\n", &labels, &t, &err))
		fail_msg("%s", err.msg);
	pofa_text_task_free(&t);
	EXPECT_LOAD_ERROR("unknown.tsv", "sentence1\tlabel\nok\tpos\nbad\tmaybe\n", &labels,
	                  "unknown.tsv:3: label \"maybe\" is not one of the labels of the training split");
	pofa_labels_free(&labels);
	EXPECT_LOAD_ERROR("empty.tsv", "", &labels, "empty.tsv:1: empty file");
	EXPECT_LOAD_ERROR("header.tsv", "sentence1\tlabel\n", &labels, "no examples");
	/* the text and the label from one column: refused, not a crash */
	pofa_text_task t2;
	pofa_err e2 = { 0 };
	spec = (pofa_task_spec){ .text_a = "label", .label = "label" };
	int rc2 = load_spec(&spec, "same.tsv", "label\tx\npos\t1\n", &labels, &t2, &e2);
	if (rc2 != POFA_ERR_INPUT || !strstr(e2.msg, "text_a and label_column both name column \"label\""))
		fail_msg("same column: expected status 2, got %d: %s", rc2, e2.msg);
	/* a model's default names (LABEL_0...): the file's 0, 1 are the ids */
	pofa_labels model = { 0 };
	model.n = 2;
	model.names = calloc(2, sizeof *model.names);
	model.names[0] = strdup("LABEL_0");
	model.names[1] = strdup("LABEL_1");
	snprintf(model.from, sizeof model.from, "m/config.json");
	if (load_tsv("ids.tsv", "sentence1\tlabel\na\t1\nb\t0\n", &model, &t, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(t.label[0], 1);
	assert_int_equal(t.label[1], 0);
	pofa_text_task_free(&t);
	EXPECT_LOAD_ERROR("names.tsv", "sentence1\tlabel\na\tpos\n", &model,
	                  "names.tsv:2: label \"pos\" is not one of the labels of m/config.json (LABEL_0, LABEL_1)");
	pofa_labels_free(&model);
	pofa_labels_free(&labels);
}

/* ---- SQuAD --------------------------------------------------------------------- */

/* eval_examples: a split sorted by label keeps its mix; one written in a
 * repeating order (a, b, a, b ...) is not sampled in step with it; the
 * rows, labels, texts and lines stay together */
static pofa_taskset sampled(const char *name, int n, const char *(*text)(int), char (*label)(int), long max,
                            int **before)
{
	static char body[1 << 16];
	snprintf(body, sizeof body, "sentence1\tlabel\n");
	for (int i = 0; i < n; i++)
		snprintf(body + strlen(body), sizeof body - strlen(body), "%s\t%c\n", text(i), label(i));
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fx_spit(path, body, strlen(body));
	pofa_task_spec spec = text_spec(body);
	pofa_labels labels = { 0 };
	pofa_taskset ts;
	pofa_err err;
	pofa_tokenizer *tk = tok();
	if (pofa_taskset_load(&spec, path, tk, 8, &labels, &ts, &err))
		fail_msg("%s", err.msg);
	*before = malloc((size_t)n * 8 * sizeof(int));
	memcpy(*before, ts.ids, (size_t)n * 8 * sizeof(int));
	assert_int_equal(pofa_taskset_sample(&ts, max, &err), 0);
	pofa_labels_free(&labels);
	pofa_tokenizer_free(tk);
	return ts;
}

static const char *two_texts(int i) { return i % 2 ? "hello world" : "the long"; }
static char sorted_label(int i) { return "abc"[i / 10]; }
static char alternating_label(int i) { return "ab"[i % 2]; }

static void test_taskset_sample(void **st)
{
	(void)st;
	int *before;
	pofa_err err;
	pofa_taskset ts = sampled("sorted.tsv", 30, two_texts, sorted_label, 0, &before);
	assert_int_equal(ts.n, 30);   /* 0: all */
	pofa_taskset_free(&ts);
	free(before);
	ts = sampled("sorted.tsv", 30, two_texts, sorted_label, 10, &before);
	assert_int_equal(ts.n, 10);   /* one of each three: examples 3j .. 3j + 2 */
	int per[3] = { 0 };
	for (int j = 0; j < ts.n; j++) {
		int i = ts.text.line[j] - 2;   /* the file's line of example i */
		if (i < 3 * j || i > 3 * j + 2)
			fail_msg("sample %d is example %d (expected one of %d..%d)", j, i, 3 * j, 3 * j + 2);
		per[ts.labels[j]]++;
		assert_int_equal(ts.text.label[j], ts.labels[j]);
		assert_int_equal(ts.labels[j], i / 10);
		/* the sample's rows and text are the example's own */
		assert_memory_equal(ts.ids + j * 8, before + i * 8, 8 * sizeof(int));
		assert_string_equal(ts.text.a[j], two_texts(i));
	}
	if (per[0] < 3 || per[1] < 3 || per[2] < 3)
		fail_msg("sampled labels a/b/c: %d/%d/%d (expected every label, as in the file)", per[0], per[1], per[2]);
	assert_non_null(strstr(ts.summary, "10 of 30 evaluated"));
	pofa_taskset_free(&ts);
	free(before);
	/* a, b, a, b ... sampled to a quarter: both labels, near half each
	 * (every 4th example would be all a) */
	ts = sampled("alternating.tsv", 400, two_texts, alternating_label, 100, &before);
	assert_int_equal(ts.n, 100);
	int b = 0;
	for (int j = 0; j < ts.n; j++)
		b += ts.labels[j];
	if (b < 35 || b > 65)
		fail_msg("labels b among 100 sampled of a, b, a, b ...: %d (expected 35..65)", b);
	pofa_taskset_free(&ts);
	free(before);
	/* SQuAD: its features are not examples; refused */
	pofa_taskset q = { .format = POFA_TASK_SQUAD, .n = 5 };
	snprintf(q.path, sizeof q.path, "dev.json");
	if (pofa_taskset_sample(&q, 2, &err) != POFA_ERR_INPUT || !strstr(err.msg, "dev.json"))
		fail_msg("SQuAD sample: expected status 2 naming the file, got %s", err.msg);
}

static void test_squad(void **st)
{
	(void)st;
	char path[512];
	snprintf(path, sizeof path, "%s/qa.json", dir);
	const char *js =
		"{\"version\":\"1.1\",\"data\":[{\"title\":\"t\",\"paragraphs\":["
		"{\"context\":\"Caf\xc3\xa9 hello, the long world is a question.\",\"qas\":["
		"{\"id\":\"q1\",\"question\":\"is it hello?\",\"answers\":[{\"text\":\"world\",\"answer_start\":21}]},"
		"{\"id\":\"q2\",\"question\":\"the question?\",\"answers\":[{\"text\":\"a question\",\"answer_start\":30},"
		"{\"text\":\"question\",\"answer_start\":32}]}]}]}]}";
	fx_spit(path, js, strlen(js));
	pofa_qa_set qa;
	pofa_err err;
	if (pofa_qa_load(path, &qa, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(qa.nex, 2);
	assert_int_equal(qa.unmatched, 0);
	/* character offsets became byte offsets: é is two bytes */
	assert_int_equal(qa.ex[0].answer_start[0], 22);
	pofa_tokenizer *tk = tok();
	/* short windows: several features per example */
	assert_int_equal(pofa_qa_featurize(&qa, tk, 12, 2, 4, &err), 0);
	assert_true(qa.nfeat > qa.nex);
	int found[2] = { 0, 0 };
	for (int f = 0; f < qa.nfeat; f++) {
		pofa_qa_feature *ft = &qa.feat[f];
		if (ft->start == 0)
			continue;
		pofa_qa_example *e = &qa.ex[ft->example];
		int len = ft->off1[ft->end] - ft->off0[ft->start];
		if ((int)strlen(e->answers[0]) != len || memcmp(e->context + ft->off0[ft->start], e->answers[0], (size_t)len))
			fail_msg("feature %d: span [%d, %d] is \"%.*s\", answer \"%s\"", f, ft->start, ft->end, len,
			         e->context + ft->off0[ft->start], e->answers[0]);
		found[ft->example] = 1;
	}
	assert_true(found[0] && found[1]);
	/* predictions: logits peaked on a feature's gold span give its text */
	int T = qa.T;
	float *sl = calloc((size_t)qa.nfeat * T, sizeof *sl), *el = calloc((size_t)qa.nfeat * T, sizeof *el);
	for (int f = 0; f < qa.nfeat; f++)
		if (qa.feat[f].start && qa.feat[f].example == 1) {
			sl[f * T + qa.feat[f].start] = 5.0f;
			el[f * T + qa.feat[f].end] = 5.0f;
		}
	char pred[128];
	assert_int_equal(pofa_qa_predict(&qa, 1, sl, el, 20, 30, pred, sizeof pred), 0);
	assert_string_equal(pred, "a question");
	const char *const gold[2] = { "a question", "question" };
	assert_true(pofa_squad_em(pred, gold, 2) == 1.0);
	free(sl);
	free(el);
	pofa_qa_free(&qa);

	/* bad files */
	static const struct { const char *json, *needle; } bad[] = {
		{ "{\"data\": [", "qa.json:1: malformed JSON" },
		{ "{\"version\": \"1.1\"}", "no \"data\" array" },
		{ "{\"data\":[{\"paragraphs\":[{\"context\":\"abc\",\"qas\":[{\"id\":\"x\",\"question\":\"q\","
		  "\"answers\":[{\"text\":\"abc\",\"answer_start\":2}]}]}]}]}", "question x: answer_start 2 is past" },
		{ "{\"data\":[{\"paragraphs\":[{\"context\":\"abc\",\"qas\":[{\"question\":\"q\",\"answers\":[]}]}]}]}",
		  "needs \"id\"" },
		/* no questions at all: an empty task is an error, not "f1 0.00" */
		{ "{\"data\":[]}", "no questions" },
		{ "{\"data\":[{\"paragraphs\":[{\"context\":\"abc\",\"qas\":[]}]}]}", "no questions" },
		{ "{\"data\":[{\"paragraphs\":{\"context\":\"abc\",\"qas\":[]}}]}", "\"paragraphs\" is not a list" },
		{ "{\"data\":[{\"paragraphs\":[{\"context\":\"abc\",\"qas\":[{\"id\":\"x\",\"question\":\"q\","
		  "\"answers\":[{\"text\":\"a\",\"answer_start\":1e300}]}]}]}]}", "inside its context" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		fx_spit(path, bad[i].json, strlen(bad[i].json));
		memset(&err, 0, sizeof err);
		int rc = pofa_qa_load(path, &qa, &err);
		if (rc != POFA_ERR_INPUT || !strstr(err.msg, bad[i].needle))
			fail_msg("squad %s: expected \"%s\", got %d: %s", bad[i].json, bad[i].needle, rc, err.msg);
	}
	pofa_tokenizer_free(tk);
}

/* ---- metrics ------------------------------------------------------------------- */

static void test_metrics(void **st)
{
	(void)st;
	int gold[8] = { 0, 0, 1, 1, 2, 2, 2, 0 };
	int pred[8] = { 0, 1, 1, 1, 2, 0, 2, 0 };
	assert_true(fabs(pofa_accuracy(pred, gold, 8) - 6.0 / 8) < 1e-12);
	/* class 0: tp 2 fp 1 fn 1 -> 2/3; class 1: tp 2 fp 1 fn 0 -> 0.8;
	 * class 2: tp 2 fp 0 fn 1 -> 0.8 */
	assert_true(fabs(pofa_macro_f1(pred, gold, 8, 3) - (2.0 / 3 + 0.8 + 0.8) / 3) < 1e-12);
	/* 5 classes, 3 and 4 never gold nor predicted: the mean over the 3 seen
	 * (scikit-learn's f1_score(average="macro") over the labels present) */
	FX_NEAR(pofa_macro_f1(pred, gold, 8, 5), (2.0 / 3 + 0.8 + 0.8) / 3, 1e-12);
	/* a class predicted but never gold counts (F1 0), one neither does not */
	int gold2[4] = { 0, 0, 1, 1 }, pred2[4] = { 0, 0, 1, 3 };
	FX_NEAR(pofa_macro_f1(pred2, gold2, 4, 5), (1.0 + 2.0 / 3 + 0.0) / 3, 1e-12);
	/* binary with 1 positive: tp 2 fp 1 fn 0 */
	assert_true(fabs(pofa_binary_f1(pred, gold, 8, 1) - 0.8) < 1e-12);
	char norm[128];
	pofa_squad_normalize("  The Cat,  sat on AN old-mat! ", norm, sizeof norm);
	assert_string_equal(norm, "cat sat on oldmat");
	pofa_squad_normalize("\xc3\x89T\xc3\x89", norm, sizeof norm);  /* ÉTÉ */
	assert_string_equal(norm, "\xc3\xa9t\xc3\xa9");
	const char *const g1[1] = { "a cat sat on" };
	assert_true(pofa_squad_em("The cat sat on.", g1, 1) == 1.0);
	/* pred "cat sat", gold "cat sat on": p 1, r 2/3 -> 0.8 */
	assert_true(fabs(pofa_squad_f1("the cat sat", g1, 1) - 0.8) < 1e-12);
	const char *const g2[2] = { "dog", "the big cat" };
	assert_true(fabs(pofa_squad_f1("cat", g2, 2) - 2.0 / 3) < 1e-12);
	assert_true(pofa_squad_f1("dog bark", (const char *const[]){ "cat" }, 1) == 0.0);
	assert_true(pofa_squad_em("", (const char *const[]){ "the" }, 1) == 1.0);
}

/* ---- MLM batches ----------------------------------------------------------------- */

static void test_mlm(void **st)
{
	(void)st;
	char corpus[512], vocab[512];
	snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
	snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
	/* a corpus with repeated sentences; documents separated by blank lines */
	pofa_sbuf b = { 0 };
	for (int i = 0; i < 400; i++) {
		char line[160];
		snprintf(line, sizeof line, "the quick brown fox %d jumps over the lazy dog number %d.\n%s",
		         i % 37, i % 11, i % 3 == 2 ? "\n" : "");
		pofa_sbuf_str(&b, line);
	}
	fx_spit(corpus, b.s, b.n);
	pofa_sbuf_free(&b);
	pofa_err err;
	pofa_vocab_stats vs;
	assert_int_equal(pofa_vocab_train(corpus, 96, vocab, &vs, &err), 0);
	/* a tiny corpus runs out of pairs to merge before 96 */
	assert_true(vs.size >= 40 && vs.size <= 96);
	pofa_tokenizer *tk = pofa_tokenizer_load(vocab, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	pofa_mlm_data d;
	assert_int_equal(pofa_mlm_load(corpus, tk, 32, 7, &d, &err), 0);
	assert_true(d.nseq > 100);
	assert_true(d.ndev >= 1);
	enum { B = 16, T = 32 };
	int ids[B * T], ty[B * T], mk[B * T], lb[B * T];
	long chosen = 0, eligible = 0, as_mask = 0, kept = 0;
	for (int step = 0; step < 200; step++) {
		pofa_mlm_next(&d, B, ids, ty, mk, lb);
		for (int i = 0; i < B * T; i++) {
			if (!mk[i]) {
				assert_int_equal(lb[i], POFA_IGNORE);   /* never padding */
				assert_int_equal(ids[i], pofa_tok_pad(tk));
				continue;
			}
			int orig = lb[i] != POFA_IGNORE ? lb[i] : ids[i];
			if (pofa_tok_is_special(tk, orig) && orig != pofa_tok_mask(tk)) {
				assert_int_equal(lb[i], POFA_IGNORE);   /* never specials */
				continue;
			}
			eligible++;
			if (lb[i] != POFA_IGNORE) {
				chosen++;
				as_mask += ids[i] == pofa_tok_mask(tk);
				kept += ids[i] == lb[i];
			}
		}
	}
	double rate = (double)chosen / eligible, mrate = (double)as_mask / chosen;
	double krate = (double)kept / chosen;
	if (fabs(rate - 0.15) > 0.01 || fabs(mrate - 0.8) > 0.02 || krate < 0.08 || krate > 0.13)
		fail_msg("chosen %.4f (want 0.15), [MASK] %.4f (0.8), kept %.4f (0.1 + random hits)", rate,
		         mrate, krate);
	/* deterministic by seed; fresh masks every epoch */
	int a1[T], a2[T], t1[T], m1[T], l1[T], l2[T];
	pofa_mlm_mask(&d, 5, 0, a1, t1, m1, l1);
	pofa_mlm_mask(&d, 5, 0, a2, t1, m1, l2);
	assert_memory_equal(l1, l2, sizeof l1);
	int differ = 0;
	for (long e = 1; e < 6 && !differ; e++) {
		pofa_mlm_mask(&d, 5, e, a2, t1, m1, l2);
		differ = memcmp(l1, l2, sizeof l1) != 0;
	}
	assert_true(differ);
	/* whole-word masking masks every piece of a chosen word */
	d.whole_word = 1;
	for (long s = 0; s < 50; s++) {
		pofa_mlm_mask(&d, s, 0, a1, t1, m1, l1);
		const unsigned char *ws = d.word_start + d.seq_start[s];
		for (int i = 1; i < d.seq_len[s]; i++)
			if (!ws[i] && !pofa_tok_is_special(tk, d.tokens[d.seq_start[s] + i]))
				assert_int_equal(l1[1 + i] != POFA_IGNORE, l1[i] != POFA_IGNORE);
	}
	pofa_mlm_free(&d);
	pofa_tokenizer_free(tk);
}

/* a corpus line with a tab is a pair: [CLS] A [SEP] B [SEP], a sequence of
 * its own, B and its [SEP] of type 1, the longer segment cut first; other
 * lines are packed as before, all of type 0 */
static void test_mlm_pairs(void **st)
{
	(void)st;
	char corpus[512], vocab[512];
	snprintf(corpus, sizeof corpus, "%s/pairs.txt", dir);
	snprintf(vocab, sizeof vocab, "%s/pairs-vocab.txt", dir);
	pofa_sbuf b = { 0 };
	for (int i = 0; i < 300; i++)
		pofa_sbuf_str(&b, i % 3 == 0 ? "fox\tthe quick brown fox jumps\n"
		                  : i % 3 == 1 ? "the lazy dog sleeps all day\n"
		                               : "dog\ta dog a dog a dog a dog a dog a dog a dog a dog a dog a dog a dog\n");
	fx_spit(corpus, b.s, b.n);
	pofa_sbuf_free(&b);
	pofa_err err;
	pofa_vocab_stats vs;
	assert_int_equal(pofa_vocab_train(corpus, 96, vocab, &vs, &err), 0);
	pofa_tokenizer *tk = pofa_tokenizer_load(vocab, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	pofa_mlm_data d;
	enum { T = 16 };
	assert_int_equal(pofa_mlm_load(corpus, tk, T, 7, &d, &err), 0);
	int ids[T], ty[T], mk[T], lb[T], pairs = 0, packed = 0, cut = 0;
	for (long s = 0; s < d.nseq; s++) {
		d.mask_prob = 0.0f;   /* the sequence as it is */
		pofa_mlm_mask(&d, s, 0, ids, ty, mk, lb);
		int len = d.seq_len[s], bs = d.seq_b[s];
		assert_int_equal(ids[0], pofa_tok_cls(tk));
		assert_int_equal(ids[len + 1], pofa_tok_sep(tk));
		for (int i = 0; i < T; i++)
			assert_int_equal(mk[i], i < len + 2);
		if (!bs) {   /* packed sentences: one segment */
			packed++;
			for (int i = 0; i < T; i++)
				assert_int_equal(ty[i], 0);
			continue;
		}
		pairs++;
		assert_int_equal(ids[bs], pofa_tok_sep(tk));   /* A's [SEP], at position 1 + (bs - 1) */
		for (int i = 0; i < T; i++)
			if (ty[i] != (i >= 1 + bs && i <= len + 1))
				fail_msg("sequence %ld (B at %d, %d tokens): token %d of type %d", s, bs, len, i, ty[i]);
		if (len == T - 2) {   /* the long pair: "dog" kept whole, B cut to fit */
			cut++;
			assert_int_equal(bs, 2);
		}
	}
	if (pairs != 200 || cut != 100 || packed == 0)
		fail_msg("expected 200 pair sequences (100 cut) and packed ones, got %d (%d cut), %d packed", pairs, cut,
		         packed);
	pofa_mlm_free(&d);
	pofa_tokenizer_free(tk);
}

/* ---- vocabulary and builders on slices ----------------------------------------- */


static void expect_same_file(const char *a, const char *b)
{
	size_t n1, n2;
	unsigned char *x = fx_slurp(a, &n1), *y = fx_slurp(b, &n2);
	if (n1 != n2 || memcmp(x, y, n1))
		fail_msg("%s and %s differ: the build is not deterministic", a, b);
	free(x);
	free(y);
}

/* wn-pair's rows against wn-sense's: a pair is labelled 1 exactly when
 * its two definitions have the same lexicographer file; returns the rows
 * checked (definitions listed under two files are skipped) */
static long check_pair_labels(const char *sense_path, const char *pair_path)
{
	size_t n1, n2;
	char *sense = (char *)fx_slurp(sense_path, &n1), *pair = (char *)fx_slurp(pair_path, &n2);
	assert_non_null(sense);
	assert_non_null(pair);
	char **def = NULL, **lab = NULL;
	int nd = 0;
	for (char *l = strchr(sense, '\n') + 1, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		*e = 0;
		char *t = strrchr(l, '\t');
		*t = 0;
		def = realloc(def, (size_t)(nd + 1) * sizeof *def);
		lab = realloc(lab, (size_t)(nd + 1) * sizeof *lab);
		def[nd] = l;
		lab[nd++] = t + 1;
	}
	long checked = 0;
	for (char *l = strchr(pair, '\n') + 1, *e; *l; l = e + 1) {
		e = strchr(l, '\n');
		*e = 0;
		char *t1 = strchr(l, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		assert_non_null(t2);
		*t1 = *t2 = 0;
		const char *la = NULL, *lb = NULL;
		int clash = 0;
		for (int k = 0; k < nd; k++) {
			const char *a = def[k], *b = lab[k];
			if (!strcmp(a, l))
				clash |= la && strcmp(la, b), la = b;
			if (!strcmp(a, t1 + 1))
				clash |= lb && strcmp(lb, b), lb = b;
		}
		if (!la || !lb)
			fail_msg("wn-pair row \"%s\" / \"%s\": a definition not in wn-sense's split", l, t1 + 1);
		if (clash)
			continue;
		const char *want = strcmp(la, lb) ? "0" : "1";
		if (strcmp(t2 + 1, want))
			fail_msg("wn-pair row \"%s\" (%s) / \"%s\" (%s): expected label %s, got %s", l, la, t1 + 1, lb,
			         want, t2 + 1);
		checked++;
	}
	free(def);
	free(lab);
	free(sense);
	free(pair);
	return checked;
}

static long count_lines(const char *path)
{
	size_t n;
	unsigned char *b = fx_slurp(path, &n);
	long l = 0;
	for (size_t i = 0; i < n; i++)
		l += b[i] == '\n';
	free(b);
	return l;
}

static long count_lines_buf(const pofa_sbuf *b)
{
	long l = 0;
	for (size_t i = 0; i < b->n; i++)
		l += b->s[i] == '\n';
	return l;
}

static void test_builders(void **st)
{
	(void)st;
	if (access(GCIDE_DICT, R_OK) || access(WORDNET_DIR "/data.noun", R_OK))
		fail_msg("dict-gcide and wordnet-base must be installed (make deps)");
	char a[512], b[512], p1[600], p2[600];
	pofa_err err;
	pofa_gcide_stats g1, g2;
	snprintf(a, sizeof a, "%s/corpus-a.txt", dir);
	snprintf(b, sizeof b, "%s/corpus-b.txt", dir);
	assert_int_equal(pofa_gcide_build(GCIDE_DICT, GCIDE_INDEX, a, 3000, NULL, &g1, &err), 0);
	assert_int_equal(pofa_gcide_build(GCIDE_DICT, GCIDE_INDEX, b, 3000, NULL, &g2, &err), 0);
	expect_same_file(a, b);
	assert_int_equal(g1.held_out, 0);
	assert_int_equal(g1.entries, 3000);
	assert_true(g1.documents > 2000 && g1.documents <= 3000);
	assert_true(g1.sentences >= g1.documents);
	/* one line per sentence plus a blank line per document */
	assert_int_equal(count_lines(a), g1.sentences + g1.documents);
	/* markup is gone */
	size_t n;
	unsigned char *c = fx_slurp(a, &n);
	assert_null(strstr((char *)c, "[1913 Webster]"));
	assert_null(strstr((char *)c, "{"));
	assert_null(strstr((char *)c, "\\"));
	/* every sentence after its entry's headword */
	const char *sep1 = strchr((char *)c, '\t');
	if (!sep1 || sep1 > strchr((char *)c, '\n') || sep1 == (char *)c)
		fail_msg("expected \"HEADWORD<tab>sentence\" lines, got: %.80s", (char *)c);
	/* held out: the key of the first sentence, and a 40-byte start of
	 * another, leave both out (and every other line of theirs) */
	const char *s1 = strchr((char *)c, '\t') + 1;
	char k1[1024], held[2200], d[512];
	pofa_heldout_key(s1, (size_t)(strchr(s1, '\n') - s1), k1, sizeof k1);
	/* and a second sentence by its first 45 bytes, followed by others */
	const char *s2 = NULL;
	char k2[1024] = "";
	for (const char *l = strchr(s1, '\n') + 1; *l && !s2; l = strchr(l, '\n') + 1) {
		const char *sep = strchr(l, '\t'), *e = strchr(l, '\n');
		if (sep && sep < e) {
			pofa_heldout_key(sep + 1, (size_t)(e - sep - 1), k2, sizeof k2);
			if (strlen(k2) >= 60 && strcmp(k2, k1))
				s2 = sep + 1;
		}
	}
	assert_non_null(s2);
	snprintf(held, sizeof held, "%s\n%.45s and more words after\nnot in the corpus at all\n", k1, k2);
	pofa_sbuf hs = { 0 };
	pofa_sbuf_str(&hs, held);
	pofa_gcide_stats g3;
	snprintf(d, sizeof d, "%s/corpus-h.txt", dir);
	assert_int_equal(pofa_gcide_build(GCIDE_DICT, GCIDE_INDEX, d, 3000, &hs, &g3, &err), 0);
	assert_true(g3.held_out >= 2);
	assert_int_equal(g3.sentences, g1.sentences - g3.held_out);
	unsigned char *c3 = fx_slurp(d, &n);
	for (const char *l = (char *)c3; *l; l = strchr(l, '\n') + 1) {
		const char *sep = strchr(l, '\t'), *e = strchr(l, '\n');
		char k[1024];
		if (sep && sep < e) {
			pofa_heldout_key(sep + 1, (size_t)(e - sep - 1), k, sizeof k);
			if (!strcmp(k, k1) || !strncmp(k, k2, 45))
				fail_msg("a held-out sentence stayed: %.*s", (int)(e - l), l);
		}
	}
	free(c3);
	pofa_sbuf_free(&hs);
	char key[64];
	pofa_heldout_key("An (Old) Cat's  tail!", 21, key, sizeof key);
	assert_string_equal(key, "an old cat s tail");
	free(c);

	/* vocabulary: deterministic, specials first */
	snprintf(p1, sizeof p1, "%s/v1.txt", dir);
	snprintf(p2, sizeof p2, "%s/v2.txt", dir);
	pofa_vocab_stats vs;
	assert_int_equal(pofa_vocab_train(a, 2000, p1, &vs, &err), 0);
	assert_int_equal(pofa_vocab_train(a, 2000, p2, &vs, &err), 0);
	expect_same_file(p1, p2);
	assert_int_equal(count_lines(p1), 2000);
	assert_int_equal(vs.size, 2000);
	c = fx_slurp(p1, &n);
	assert_memory_equal(c, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", 30);
	free(c);
	pofa_tokenizer *tk = pofa_tokenizer_load(p1, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	assert_true(pofa_vocab_id(tk, "the") > 4);
	pofa_tokenizer_free(tk);

	/* WordNet tasks on a slice of each part of speech */
	snprintf(a, sizeof a, "%s/wn-a", dir);
	snprintf(b, sizeof b, "%s/wn-b", dir);
	pofa_wn_stats w1, w2;
	pofa_sbuf h1 = { 0 };
	assert_int_equal(pofa_wordnet_build(WORDNET_DIR, a, 400, &h1, &w1, &err), 0);
	assert_int_equal(pofa_wordnet_build(WORDNET_DIR, b, 400, NULL, &w2, &err), 0);
	/* the held-out keys: one a dev or test definition (and more for examples) */
	assert_true(count_lines_buf(&h1) >= w1.sense[1] + w1.sense[2]);
	pofa_sbuf_free(&h1);
	assert_int_equal(w1.synsets, 1600);
	static const char *const files[] = { "wn-sense/train.tsv", "wn-sense/dev.tsv", "wn-sense/test.tsv",
	                                     "wn-pos/train.tsv", "wn-pos/test.tsv",
	                                     "wn-pair/train.tsv", "wn-pair/test.tsv", "wn-span/train.json",
	                                     "wn-span/dev.json" };
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(p1, sizeof p1, "%s/%s", a, files[i]);
		snprintf(p2, sizeof p2, "%s/%s", b, files[i]);
		expect_same_file(p1, p2);
	}
	/* 80/10/10 by hash: roughly */
	long total = w1.sense[0] + w1.sense[1] + w1.sense[2];
	assert_int_equal(total, 1600);
	assert_true(w1.sense[0] > 0.74 * total && w1.sense[0] < 0.86 * total);
	snprintf(p1, sizeof p1, "%s/wn-sense/train.tsv", a);
	assert_int_equal(count_lines(p1), w1.sense[0] + 1);
	/* wn-pair: about one pair per synset, about half of them positive */
	if (w1.pair[0] < w1.sense[0] - 4 || w1.pair[0] > w1.sense[0])
		fail_msg("expected about one wn-pair example per train synset (%ld), got %ld", w1.sense[0], w1.pair[0]);
	if (w1.pair_pos[0] < 0.4 * w1.pair[0] || w1.pair_pos[0] > 0.6 * w1.pair[0])
		fail_msg("expected about half of %ld wn-pair examples positive, got %ld", w1.pair[0], w1.pair_pos[0]);
	snprintf(p1, sizeof p1, "%s/wn-sense/train.tsv", a);
	snprintf(p2, sizeof p2, "%s/wn-pair/train.tsv", a);
	long checked = check_pair_labels(p1, p2);
	if (checked < w1.pair[0] - 8)
		fail_msg("expected the labels of about %ld wn-pair rows checked, got %ld", w1.pair[0], checked);
	/* wn-pos: wn-sense's definitions, a part of speech each, the four of them */
	assert_int_equal(w1.pos_count[0] + w1.pos_count[1] + w1.pos_count[2] + w1.pos_count[3], 1600);
	{
		pofa_labels pl = { 0 };
		pofa_text_task pt;
		pofa_task_spec spec = { .text_a = "sentence", .label = "label" };
		snprintf(p1, sizeof p1, "%s/wn-pos/train.tsv", a);
		if (pofa_text_task_load(&spec, p1, &pl, &pt, &err))
			fail_msg("%s", err.msg);
		if (pl.n != 4 || pt.n != w1.sense[0])
			fail_msg("wn-pos train: expected 4 labels and %ld examples, got %d and %d", w1.sense[0], pl.n, pt.n);
		pofa_text_task_free(&pt);
		pofa_labels_free(&pl);
	}
	/* the TSV loads, with its two labels */
	pofa_labels labels = { 0 };
	pofa_text_task t;
	snprintf(p1, sizeof p1, "%s/wn-pair/train.tsv", a);
	pofa_task_spec ps = { .text_a = "sentence1", .text_b = "sentence2", .label = "label" };
	if (pofa_text_task_load(&ps, p1, &labels, &t, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(labels.n, 2);
	assert_int_equal(t.n, w1.pair[0]);
	pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	/* wn-span: every answer is where answer_start says, and maps to tokens */
	snprintf(p1, sizeof p1, "%s/wn-span/train.json", a);
	pofa_qa_set qa;
	if (pofa_qa_load(p1, &qa, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(qa.nex, w1.span[0]);
	assert_int_equal(qa.unmatched, 0);
	snprintf(p2, sizeof p2, "%s/wn-sense/train.tsv", dir);
	/* a vocabulary from the WordNet glosses themselves covers them */
	snprintf(p2, sizeof p2, "%s/glossvocab.txt", dir);
	snprintf(p1, sizeof p1, "%s/wn-sense/train.tsv", a);
	assert_int_equal(pofa_vocab_train(p1, 3000, p2, &vs, &err), 0);
	tk = pofa_tokenizer_load(p2, POFA_CASE_AUTO, &err);
	assert_int_equal(pofa_qa_featurize(&qa, tk, 64, 32, 24, &err), 0);
	long mapped = 0;
	for (int f = 0; f < qa.nfeat; f++) {
		pofa_qa_feature *ft = &qa.feat[f];
		if (!ft->start)
			continue;
		pofa_qa_example *e = &qa.ex[ft->example];
		int len = ft->off1[ft->end] - ft->off0[ft->start];
		if ((int)strlen(e->answers[0]) != len ||
		    memcmp(e->context + ft->off0[ft->start], e->answers[0], (size_t)len))
			fail_msg("%s: token span gives \"%.*s\", answer is \"%s\"", e->id, len,
			         e->context + ft->off0[ft->start], e->answers[0]);
		mapped++;
	}
	assert_true(mapped >= qa.nex * 9 / 10);
	pofa_tokenizer_free(tk);
	pofa_qa_free(&qa);
}

/* baselines: the majority class, naive Bayes and the word-overlap rule on
 * pairs whose label is whether the first word occurs in the second text */
static void test_baselines(void **st)
{
	(void)st;
	static const char *const toks[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cat", "dog", "sun", "moon",
	                                    "red", "blue", "big", "small", "sky", "star" };
	pofa_err err;
	pofa_tokenizer *tk = pofa_tokenizer_from_tokens(toks, 15, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	/* train: positives hold their word (and red), negatives not (and blue) */
	char *ta[] = { "cat", "dog", "sun", "moon", "star", "cat", "sky" };
	char *tb[] = { "big cat red", "small dog red", "sun red sky", "big moon blue", "small sky blue", "dog big blue",
	               "sky red" };
	int tl[] = { 1, 1, 1, 0, 0, 0, 1 };
	char *ea[] = { "moon", "star", "dog", "sun" };
	char *eb[] = { "red moon", "blue sky", "blue cat", "star small" };
	int el[] = { 1, 0, 0, 0 };
	pofa_text_task tr = { .n = 7, .a = ta, .b = tb, .label = tl }, ev = { .n = 4, .a = ea, .b = eb, .label = el };
	pofa_baseline b[3];
	assert_int_equal(pofa_baselines_text(&tr, &ev, 2, 1, tk, b), 3);
	assert_string_equal(b[0].name, "majority");
	FX_NEAR(b[0].accuracy, 25.0, 1e-9);           /* always 1: right once in 4 */
	FX_NEAR(b[0].f1, 40.0, 1e-9);                 /* precision 1/4, recall 1 */
	assert_string_equal(b[1].name, "bag-of-words");
	assert_string_equal(b[2].name, "word overlap");
	FX_NEAR(b[2].accuracy, 100.0, 1e-9);          /* the word in the text: 1 */
	/* naive Bayes: red says 1 (3 of 14 tokens of the positives, none of the
	 * negatives), blue 0 */
	char *na[] = { "red", "blue", "red", "blue" }, *nb[] = { "red red", "blue blue", "red", "blue" };
	int nl[] = { 1, 0, 1, 0 };
	pofa_text_task nv = { .n = 4, .a = na, .b = nb, .label = nl };
	assert_int_equal(pofa_baselines_text(&tr, &nv, 2, 1, tk, b), 3);
	FX_NEAR(b[1].accuracy, 100.0, 1e-9);
	FX_NEAR(b[0].accuracy, 50.0, 1e-9);
	/* single sentences: no overlap rule */
	pofa_text_task t1 = tr, e1 = ev;
	t1.b = NULL;
	e1.b = NULL;
	assert_int_equal(pofa_baselines_text(&t1, &e1, 2, 1, tk, b), 2);
	pofa_tokenizer_free(tk);
}

/* the unigram baseline: log-frequencies of the training sequences' tokens,
 * add-one smoothed, the special tokens left out */
static void test_unigram(void **st)
{
	(void)st;
	int tokens[] = { 5, 5, 6, 2, 3, 7 };
	long start[] = { 0, 3 }, tr[] = { 0 }, dv[] = { 1 };
	int len[] = { 3, 3 };
	pofa_mlm_data d = { .tokens = tokens, .ntokens = 6, .seq_start = start, .seq_len = len, .nseq = 2,
	                    .train = tr, .ntrain = 1, .dev = dv, .ndev = 1, .vocab = 8, .cls = 2, .sep = 3, .pad = 0 };
	double *lp = pofa_unigram_logp(&d);
	assert_non_null(lp);
	FX_NEAR(lp[5], log(3.0 / 11.0), 1e-12);   /* 2 of 3 counted tokens, + 1 over 3 + 8 */
	FX_NEAR(lp[6], log(2.0 / 11.0), 1e-12);
	FX_NEAR(lp[7], log(1.0 / 11.0), 1e-12);   /* only in dev */
	free(lp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokenizer_golden),
		cmocka_unit_test(test_tokenizer_offsets_and_pairs),
		cmocka_unit_test(test_tokenizer_specials),
		cmocka_unit_test(test_tokenizer_casing),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_text_rule),
		cmocka_unit_test(test_tsv),
		cmocka_unit_test(test_taskset_sample),
		cmocka_unit_test(test_squad),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_mlm),
		cmocka_unit_test(test_mlm_pairs),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_baselines),
		cmocka_unit_test(test_unigram),
	};
	return cmocka_run_group_tests_name("data", tests, setup, teardown);
}
