/* test_files.c - model directories and safetensors: byte-identical round
 * trips, Hugging Face naming and layout, and every corruption case the
 * loader must refuse with a clear error (status 2) instead of crashing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/io/safetensors.h"
#include "data/base/fileio.h"
#include "engine/eval/eval.h"
#include "engine/export/onnx.h"
#include "pofa_onnx.pb-c.h"

#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char dir[256];

static int setup(void **st)
{
	(void)st;
	const char *d = fx_tmpdir("files");
	return d ? (snprintf(dir, sizeof dir, "%s", d), 0) : -1;
}

static int teardown(void **st)
{
	(void)st;
	return fx_tmpdir_remove();
}



static pofa_config small(void) { return fx_config(40, 8, 16); }

/* a model loaded from a file draws initial values only for what the file
 * lacks (a head), and equals one drawn in full and then loaded: the same
 * head, the file's own padding row kept */
static void test_load_init(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_MLM, 2, 8, 1, &err);
	assert_non_null(m);
	pofa_model_init(m, 5);
	pofa_tensor *we = pofa_model_tensor(m, -1, POFA_ROLE_WORD_EMB, POFA_PARAM_WEIGHT);
	for (int j = 0; j < c.hidden_size; j++)   /* a padding row the file gives: kept */
		we->data[(size_t)c.pad_token_id * c.hidden_size + j] = 0.25f;
	char a[512], vocab[512], path[600];
	snprintf(a, sizeof a, "%s/loadinit", dir);
	snprintf(vocab, sizeof vocab, "%s/vocab-src.txt", dir);
	fx_spit_str(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
	assert_int_equal(pofa_model_save(m, a, vocab, &err), 0);
	snprintf(path, sizeof path, "%s/model.safetensors", a);
	int fresh = 0;
	pofa_model *got = pofa_model_load(a, POFA_HEAD_CLS, 2, 8, 1, 77, &fresh, &err);
	if (!got)
		fail_msg("%s", err.msg);
	assert_int_equal(fresh, 1);   /* the classifier: drawn from the seed */
	pofa_model *want = pofa_model_new(&c, POFA_HEAD_CLS, 2, 8, 1, &err);
	pofa_model_init(want, 77);
	assert_int_equal(pofa_model_load_weights(want, path, &fresh, &err), 0);
	pofa_tensor *tg, *tw;
	int n = pofa_model_tensors(got, &tg);
	assert_int_equal(pofa_model_tensors(want, &tw), n);
	for (int i = 0; i < n; i++)
		if (memcmp(tg[i].data, tw[i].data, (size_t)tg[i].numel * sizeof(float)))
			fail_msg("%s: loaded with the head drawn alone differs from drawn in full, then loaded", tg[i].name);
	we = pofa_model_tensor(got, -1, POFA_ROLE_WORD_EMB, POFA_PARAM_WEIGHT);
	FX_NEAR(we->data[(size_t)c.pad_token_id * c.hidden_size], 0.25, 0);
	/* the tensors the file gives are not drawn: marked, they stay as marked */
	pofa_tensor *cl = pofa_model_tensor(got, -1, POFA_ROLE_CLASSIFIER, POFA_PARAM_WEIGHT);
	float head0 = cl->data[0];
	unsigned char *keep = calloc((size_t)n, 1);
	for (int i = 0; i < n; i++) {
		keep[i] = tg[i].role != POFA_ROLE_CLASSIFIER;
		if (keep[i])
			for (long j = 0; j < tg[i].numel; j++)
				tg[i].data[j] = -3.0f;
	}
	cl->data[0] = 9.0f;
	pofa_model_init_except(got, 77, keep);
	for (int i = 0; i < n; i++)
		if (keep[i] && tg[i].data[0] != -3.0f)
			fail_msg("%s: drawn although kept (%g)", tg[i].name, tg[i].data[0]);
	FX_NEAR(cl->data[0], head0, 0);
	free(keep);
	pofa_model_free(got);
	pofa_model_free(want);
	pofa_model_free(m);
}

static void test_round_trip(void **st)
{
	(void)st;
	for (int head = 0; head < POFA_HEAD_COUNT; head++) {
		pofa_config c = small();
		pofa_err err;
		pofa_model *m = pofa_model_new(&c, head, 2, 8, 1, &err);
		assert_non_null(m);
		pofa_model_init(m, 5 + head);
		char a[512], b[512], vocab[512], p1[600], p2[600];
		snprintf(a, sizeof a, "%s/a%d", dir, head);
		snprintf(b, sizeof b, "%s/b%d", dir, head);
		snprintf(vocab, sizeof vocab, "%s/vocab-src.txt", dir);
		fx_spit_str(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
		assert_int_equal(pofa_model_save(m, a, vocab, &err), 0);
		int fresh = -1;
		pofa_model *m2 = pofa_model_load(a, head, 2, 8, 1, 99, &fresh, &err);
		if (!m2)
			fail_msg("%s", err.msg);
		assert_int_equal(fresh, 0);
		assert_int_equal(pofa_model_save(m2, b, NULL, &err), 0);
		static const char *files[] = { "model.safetensors", "config.json" };
		for (int f = 0; f < 2; f++) {
			size_t n1, n2;
			snprintf(p1, sizeof p1, "%s/%s", a, files[f]);
			snprintf(p2, sizeof p2, "%s/%s", b, files[f]);
			unsigned char *x = fx_slurp(p1, &n1), *y = fx_slurp(p2, &n2);
			if (n1 != n2 || memcmp(x, y, n1))
				fail_msg("%s differs after save -> load -> save (head %s)", files[f],
				         pofa_head_names[head]);
			free(x);
			free(y);
		}
		/* vocab.txt copied beside the model */
		snprintf(p1, sizeof p1, "%s/vocab.txt", a);
		assert_int_equal(access(p1, R_OK), 0);
		/* parameters identical */
		assert_memory_equal(pofa_model_params(m), pofa_model_params(m2),
		                    pofa_model_num_params(m) * sizeof(float));
		pofa_model_free(m);
		pofa_model_free(m2);
	}
	/* no temp files left behind by the atomic writes */
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)))
		assert_null(strstr(e->d_name, ".tmp."));
	closedir(d);
}

/* layout as the reference writer: u64 length, {"__metadata__":{"format":"pt"},
 * tensors sorted by name with dtype, shape, data_offsets}, padded to 8 */
static void test_layout(void **st)
{
	(void)st;
	float a[6] = { 1, 2, 3, 4, 5, 6 }, b[2] = { 7, 8 };
	pofa_st_out t[2] = { { "zeta.weight", a, 2, { 2, 3 }, POFA_F32 }, { "alpha.bias", b, 1, { 2, 0 }, POFA_F32 } };
	static const char *const meta[][2] = { { "format", "pt" } };
	char path[512];
	pofa_err err;
	snprintf(path, sizeof path, "%s/layout.safetensors", dir);
	assert_int_equal(pofa_st_write(path, t, 2, meta, 1, &err), 0);
	size_t n;
	unsigned char *buf = fx_slurp(path, &n);
	uint64_t hl = 0;
	for (int i = 7; i >= 0; i--)
		hl = hl << 8 | buf[i];
	assert_int_equal(hl % 8, 0);
	const char *want = "{\"__metadata__\":{\"format\":\"pt\"},"
	                   "\"alpha.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	                   "\"zeta.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}";
	assert_true(hl >= strlen(want));
	assert_memory_equal(buf + 8, want, strlen(want));
	for (size_t i = 8 + strlen(want); i < 8 + hl; i++)
		assert_int_equal(buf[i], ' ');
	assert_int_equal(n, 8 + hl + 32);
	assert_memory_equal(buf + 8 + hl, b, 8);
	assert_memory_equal(buf + 8 + hl + 8, a, 24);
	free(buf);
	pofa_st_file f;
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	assert_string_equal(pofa_st_meta(&f, "format"), "pt");
	assert_int_equal(f.ntensors, 2);
	pofa_st_close(&f);
}

/* files written by transformers' BertModel (no "bert." prefix), with the
 * legacy LayerNorm gamma/beta names and no MLM head */
static void test_hf_variants(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_MLM, 2, 8, 1, &err);
	pofa_model_init(m, 3);
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	pofa_st_out *outs = calloc((size_t)n, sizeof *outs);
	char (*names)[160] = calloc((size_t)n, sizeof *names);
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!strncmp(t[i].name, "cls.", 4))
			continue; /* a base model: no head */
		const char *nm = t[i].name + 5; /* drop "bert." */
		char *dst = names[k];
		snprintf(dst, 160, "%s", nm);
		char *ln = strstr(dst, "LayerNorm.");
		if (ln) {
			if (!strcmp(ln, "LayerNorm.weight"))
				strcpy(ln, "LayerNorm.gamma");
			else
				strcpy(ln, "LayerNorm.beta");
		}
		outs[k] = (pofa_st_out){ dst, t[i].data, t[i].ndim, { t[i].shape[0], t[i].shape[1] }, POFA_F32 };
		k++;
	}
	char mdir[512], path[600];
	snprintf(mdir, sizeof mdir, "%s/hfbase", dir);
	pofa_mkdirs(mdir, &err);
	snprintf(path, sizeof path, "%s/model.safetensors", mdir);
	assert_int_equal(pofa_st_write(path, outs, k, NULL, 0, &err), 0);
	snprintf(path, sizeof path, "%s/config.json", mdir);
	assert_int_equal(pofa_config_save(&c, POFA_HEAD_MLM, path, &err), 0);
	int fresh = 0;
	pofa_model *m2 = pofa_model_load(mdir, POFA_HEAD_MLM, 2, 8, 1, 3, &fresh, &err);
	if (!m2)
		fail_msg("%s", err.msg);
	assert_int_equal(fresh, 1);  /* the MLM head was initialised */
	/* encoder tensors equal */
	pofa_tensor *t2;
	pofa_model_tensors(m2, &t2);
	for (int i = 0; i < n; i++)
		if (strncmp(t[i].name, "cls.", 4))
			assert_memory_equal(t[i].data, t2[i].data, (size_t)t[i].numel * 4);
	pofa_model_free(m2);
	free(outs);
	free(names);
	pofa_model_free(m);
}

/* float to IEEE half, nearest even, subnormals kept (the test's own
 * encoder; the reader's decoder is what is under test) */
static uint16_t to_half(float f)
{
	uint32_t b;
	memcpy(&b, &f, 4);
	uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
	float a = fabsf(f);
	if (a < 6.103515625e-05f) /* below 2^-14: a subnormal, in steps of 2^-24 */
		return (uint16_t)(sign | (uint16_t)lrintf(a * 16777216.0f));
	int e;
	float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
	long q = lrintf(m * 2048.0f); /* 11 significant bits */
	if (q == 2048) {
		q = 1024;
		e++;
	}
	return (uint16_t)(sign | (uint16_t)((e + 14) << 10) | (uint16_t)(q - 1024));
}

static uint16_t to_bf16(float f)
{
	uint32_t b;
	memcpy(&b, &f, 4);
	return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

/* Hugging Face's half-precision files: every tensor stored as F16, then as
 * BF16, loads as the float it stands for (within the format's rounding) */
static void test_hf_half_precision(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_CLS, 2, 8, 1, &err);
	pofa_model_init(m, 5);
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int kind = 0; kind < 2; kind++) {
		pofa_st_out *outs = calloc((size_t)n, sizeof *outs);
		uint16_t **half = calloc((size_t)n, sizeof *half);
		for (int i = 0; i < n; i++) {
			half[i] = malloc((size_t)t[i].numel * 2);
			for (long j = 0; j < t[i].numel; j++)
				half[i][j] = kind ? to_bf16(t[i].data[j]) : to_half(t[i].data[j]);
			outs[i] = (pofa_st_out){ t[i].name, half[i], t[i].ndim, { t[i].shape[0], t[i].shape[1] },
			                         kind ? POFA_BF16 : POFA_F16 };
		}
		char mdir[512], path[600];
		snprintf(mdir, sizeof mdir, "%s/half%d", dir, kind);
		pofa_mkdirs(mdir, &err);
		snprintf(path, sizeof path, "%s/model.safetensors", mdir);
		assert_int_equal(pofa_st_write(path, outs, n, NULL, 0, &err), 0);
		snprintf(path, sizeof path, "%s/config.json", mdir);
		assert_int_equal(pofa_config_save(&c, POFA_HEAD_CLS, path, &err), 0);
		int fresh = 1;
		pofa_model *m2 = pofa_model_load(mdir, POFA_HEAD_CLS, 2, 8, 1, 3, &fresh, &err);
		if (!m2)
			fail_msg("%s", err.msg);
		assert_int_equal(fresh, 0);
		pofa_tensor *t2;
		pofa_model_tensors(m2, &t2);
		/* largest relative step: 2^-10 (half), 2^-7 (bfloat16); half's subnormal step 2^-24 */
		float rel = kind ? 1.0f / 128 : 1.0f / 1024, abs_step = kind ? 0 : 6e-8f;
		long nonzero = 0;
		for (int i = 0; i < n; i++)
			for (long j = 0; j < t[i].numel; j++) {
				float want = t[i].data[j], got = t2[i].data[j];
				if (fabsf(got - want) > rel * fabsf(want) / 2 + abs_step)
					fail_msg("%s %s[%ld]: expected %.9g within %.3g, got %.9g", kind ? "BF16" : "F16",
					         t[i].name, j, want, rel * fabsf(want) / 2 + abs_step, got);
				nonzero += got != 0;
			}
		assert_true(nonzero > 1000);
		pofa_model_free(m2);
		for (int i = 0; i < n; i++)
			free(half[i]);
		free(half);
		free(outs);
	}
	pofa_model_free(m);
}

/* writes model m's tensors to dir/model.safetensors as Hugging Face
 * would: skip names starting with `skip` (NULL: none), and add `extra` */
static void write_hf(pofa_model *m, const char *mdir, const char *skip, const pofa_st_out *extra)
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	pofa_st_out *outs = calloc((size_t)n + 2, sizeof *outs);
	int k = 0;
	for (int i = 0; i < n; i++)
		if (!skip || strncmp(t[i].name, skip, strlen(skip)))
			outs[k++] = (pofa_st_out){ t[i].name, t[i].data, t[i].ndim, { t[i].shape[0], t[i].shape[1] }, POFA_F32 };
	if (extra)
		outs[k++] = *extra;
	pofa_err err;
	char path[700];
	pofa_mkdirs(mdir, &err);
	snprintf(path, sizeof path, "%s/model.safetensors", mdir);
	assert_int_equal(pofa_st_write(path, outs, k, NULL, 0, &err), 0);
	snprintf(path, sizeof path, "%s/config.json", mdir);
	assert_int_equal(pofa_config_save(pofa_model_config(m), pofa_model_head(m), path, &err), 0);
	free(outs);
}

/* A BertForMaskedLM file has no pooler: none is made up, pruned, counted
 * or written; its head is there. A decoder that is not the word
 * embeddings is refused, not replaced. */
static void test_hf_masked_lm(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = fx_model(&c, POFA_HEAD_MLM, 2, 8, 1, 4);
	/* an encoder 50% zeros, and no pooler in the file */
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++)
		if (t[i].prunable && t[i].role != POFA_ROLE_POOLER)
			for (int64_t j = 0; j < t[i].numel; j += 2)
				t[i].data[j] = 0.0f;
	char mdir[600], out[600], path[700];
	snprintf(mdir, sizeof mdir, "%s/hfmlm", dir);
	write_hf(m, mdir, "bert.pooler.", NULL);
	int fresh = -1;
	pofa_model *l = pofa_model_load(mdir, POFA_HEAD_MLM, 2, 8, 1, 9, &fresh, &err);
	if (!l)
		fail_msg("%s", err.msg);
	assert_int_equal(fresh, 0);   /* the MLM head is in the file */
	assert_true(fx_tensor(l, "bert.pooler.dense.weight")->absent);
	assert_false(fx_tensor(l, "bert.pooler.dense.weight")->prunable);
	FX_NEAR(pofa_model_sparsity(l), 0.5, 1e-9);   /* the encoder's alone */
	snprintf(out, sizeof out, "%s/hfmlm-out", dir);
	assert_int_equal(pofa_model_save(l, out, NULL, &err), 0);
	pofa_st_file f;
	snprintf(path, sizeof path, "%s/model.safetensors", out);
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	assert_null(pofa_st_find(&f, "bert.pooler.dense.weight"));
	assert_non_null(pofa_st_find(&f, "cls.predictions.bias"));
	pofa_st_close(&f);
	pofa_model_free(l);
	/* a decoder of its own: refused; a copy of the embeddings: fine */
	pofa_tensor *we = fx_tensor(m, "bert.embeddings.word_embeddings.weight");
	float *dec = malloc((size_t)we->numel * sizeof *dec);
	memcpy(dec, we->data, (size_t)we->numel * sizeof *dec);
	pofa_st_out d = { "cls.predictions.decoder.weight", dec, 2, { we->shape[0], we->shape[1] }, POFA_F32 };
	write_hf(m, mdir, NULL, &d);
	l = pofa_model_load(mdir, POFA_HEAD_MLM, 2, 8, 1, 9, &fresh, &err);
	if (!l)
		fail_msg("a tied decoder written out: %s", err.msg);
	pofa_model_free(l);
	dec[5] += 1.0f;
	write_hf(m, mdir, NULL, &d);
	memset(&err, 0, sizeof err);
	l = pofa_model_load(mdir, POFA_HEAD_MLM, 2, 8, 1, 9, &fresh, &err);
	if (l || err.status != POFA_ERR_INPUT || !strstr(err.msg, "untied decoder"))
		fail_msg("an untied decoder: expected status 2, got %d: %s", err.status, err.msg);
	free(dec);
	/* tie_word_embeddings: false */
	write_hf(m, mdir, NULL, NULL);
	snprintf(path, sizeof path, "%s/config.json", mdir);
	size_t len;
	unsigned char *cj = fx_slurp(path, &len);
	const char *key = "\"tie_word_embeddings\":\ttrue";
	char *at = strstr((char *)cj, key);
	assert_non_null(at);
	char *edited = malloc(len + 2);
	size_t pre = (size_t)(at - (char *)cj);
	memcpy(edited, cj, pre);
	size_t o = pre + (size_t)sprintf(edited + pre, "\"tie_word_embeddings\":\tfalse");
	memcpy(edited + o, at + strlen(key), len - pre - strlen(key));
	fx_spit(path, edited, o + len - pre - strlen(key));
	free(edited);
	free(cj);
	memset(&err, 0, sizeof err);
	l = pofa_model_load(mdir, POFA_HEAD_MLM, 2, 8, 1, 9, &fresh, &err);
	if (l || err.status != POFA_ERR_INPUT || !strstr(err.msg, "tie_word_embeddings: false"))
		fail_msg("tie_word_embeddings false: expected status 2, got %d: %s", err.status, err.msg);
	pofa_model_free(m);
}

/* ---- corruption cases --------------------------------------------------- */

static char good[600];
static unsigned char *goodbuf;
static size_t goodn;

static void make_good(void)
{
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_MLM, 2, 8, 1, &err);
	pofa_model_init(m, 1);
	char mdir[512];
	snprintf(mdir, sizeof mdir, "%s/good", dir);
	assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
	snprintf(good, sizeof good, "%s/model.safetensors", mdir);
	goodbuf = fx_slurp(good, &goodn);
	pofa_model_free(m);
}

static uint64_t header_len(const unsigned char *b)
{
	uint64_t h = 0;
	for (int i = 7; i >= 0; i--)
		h = h << 8 | b[i];
	return h;
}

/* writes a variant of the good file, loads it into a model and expects
 * status 2 with every needle in the message */
static void expect_refused(const char *what, const unsigned char *b, size_t n, const char *n1,
                           const char *n2)
{
	char mdir[512], path[600];
	snprintf(mdir, sizeof mdir, "%s/bad", dir);
	pofa_err err = { 0 };
	pofa_mkdirs(mdir, &err);
	snprintf(path, sizeof path, "%s/model.safetensors", mdir);
	fx_spit(path, b, n);
	pofa_config c = small();
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_MLM, 2, 8, 1, &err);
	pofa_model_init(m, 1);
	memset(&err, 0, sizeof err);
	int rc = pofa_model_load_weights(m, path, NULL, &err);
	pofa_model_free(m);
	if (rc != POFA_ERR_INPUT || err.status != POFA_ERR_INPUT)
		fail_msg("%s: expected status 2, got %d (%s)", what, rc, err.msg);
	if (!strstr(err.msg, path))
		fail_msg("%s: message does not name the file: %s", what, err.msg);
	if (n1 && !strstr(err.msg, n1))
		fail_msg("%s: expected \"%s\" in: %s", what, n1, err.msg);
	if (n2 && !strstr(err.msg, n2))
		fail_msg("%s: expected \"%s\" in: %s", what, n2, err.msg);
}

/* replaces the first occurrence of `from` in the header by `to` (same
 * length keeps the header length; otherwise it is fixed up) */
static unsigned char *edit_header(const char *from, const char *to, size_t *n)
{
	uint64_t hl = header_len(goodbuf);
	char *h = malloc(hl + 1);
	memcpy(h, goodbuf + 8, hl);
	h[hl] = 0;
	char *at = strstr(h, from);
	if (!at)
		fail_msg("'%s' not in header", from);
	size_t nh = hl - strlen(from) + strlen(to);
	unsigned char *out = malloc(8 + nh + (goodn - 8 - hl));
	memcpy(out + 8, h, (size_t)(at - h));
	memcpy(out + 8 + (at - h), to, strlen(to));
	memcpy(out + 8 + (at - h) + strlen(to), at + strlen(from), hl - (size_t)(at - h) - strlen(from));
	memcpy(out + 8 + nh, goodbuf + 8 + hl, goodn - 8 - hl);
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)((uint64_t)nh >> (8 * i));
	*n = 8 + nh + (goodn - 8 - hl);
	free(h);
	return out;
}

static void test_corruptions(void **st)
{
	(void)st;
	make_good();
	size_t n;
	unsigned char *b;
	uint64_t hl = header_len(goodbuf);

	expect_refused("shorter than 8 bytes", goodbuf, 5, "truncated: 5 bytes", NULL);
	expect_refused("truncated data", goodbuf, goodn - 100, "truncated", NULL);
	expect_refused("truncated header", goodbuf, 8 + hl / 2, "header length", NULL);

	b = malloc(goodn);
	memcpy(b, goodbuf, goodn);
	b[7] = 0x7f;  /* absurd header length */
	expect_refused("bad header length", b, goodn, "header length", NULL);
	free(b);

	b = malloc(goodn);
	memcpy(b, goodbuf, goodn);
	b[8 + 15] = '#';  /* the ':' after "__metadata__": breaks the JSON */
	expect_refused("malformed JSON", b, goodn, "malformed JSON", NULL);
	b[8] = '[';
	expect_refused("header not an object", b, goodn, "not a JSON object", NULL);
	free(b);

	/* the first tensor in name order is bert.embeddings.LayerNorm.bias, at [0,32] */
	b = edit_header("\"data_offsets\":[0,32]", "\"data_offsets\":[0,99999999]", &n);
	expect_refused("offsets past the end", b, n, "bert.embeddings.LayerNorm.bias", "beyond");
	free(b);
	b = edit_header("\"data_offsets\":[0,32]", "\"data_offsets\":[8,40]", &n);
	expect_refused("overlapping offsets", b, n, "overlaps", NULL);
	free(b);
	b = edit_header("\"data_offsets\":[0,32]", "\"data_offsets\":[32,0]", &n);
	expect_refused("reversed offsets", b, n, "bert.embeddings.LayerNorm.bias", "data_offsets");
	free(b);
	b = edit_header("\"data_offsets\":[0,32]", "\"data_offsets\":[-4,28]", &n);
	expect_refused("negative offset", b, n, "bert.embeddings.LayerNorm.bias", "data_offsets");
	free(b);
	b = edit_header("\"dtype\":\"F32\"", "\"dtype\":\"Q4\"", &n);
	expect_refused("unknown dtype", b, n, "unknown dtype", "Q4");
	free(b);
	b = edit_header("\"dtype\":\"F32\",\"shape\":[8]", "\"dtype\":\"I32\",\"shape\":[8]", &n);
	expect_refused("unreadable dtype", b, n, "bert.embeddings.LayerNorm.bias", "I32");
	free(b);
	b = edit_header("\"shape\":[8]", "\"shape\":[4]", &n);
	expect_refused("size disagrees with shape", b, n, "bert.embeddings.LayerNorm.bias", "bytes");
	free(b);
	b = edit_header("\"shape\":[8],\"data_offsets\":[0,32]", "\"shape\":[2,4],\"data_offsets\":[0,32]", &n);
	expect_refused("shape disagrees with config", b, n, "bert.embeddings.LayerNorm.bias", "config.json");
	free(b);
	b = edit_header("bert.embeddings.LayerNorm.bias", "bert.embeddings.LayerNorm.bogus", &n);
	expect_refused("missing tensor", b, n, "bert.embeddings.LayerNorm.bias", "missing");
	free(b);
	b = edit_header("\"shape\":[8]", "\"shape\":\"8\"", &n);
	expect_refused("shape not an array", b, n, "bert.embeddings.LayerNorm.bias", NULL);
	free(b);
	/* junk after the header's JSON (the format pads with spaces only) */
	b = edit_header("}}", "}}\001\001\001\001\001\001\001\001", &n);
	expect_refused("junk after the header", b, n, "junk after the JSON header", NULL);
	free(b);
	b = edit_header("bert.embeddings.LayerNorm.bias", "bert.embeddings.LayerNorm.b\xff\xfe" "as", &n);
	expect_refused("a name that is not UTF-8", b, n, "not UTF-8", NULL);
	free(b);
	/* a file with extra bytes after the last tensor */
	b = malloc(goodn + 16);
	memcpy(b, goodbuf, goodn);
	memset(b + goodn, 0, 16);
	expect_refused("trailing bytes", b, goodn + 16, "after the last tensor", NULL);
	free(b);
	free(goodbuf);
}

static void test_config_errors(void **st)
{
	(void)st;
	char path[512];
	pofa_config c;
	pofa_err err;
	snprintf(path, sizeof path, "%s/config.json", dir);
	static const struct { const char *json, *needle; } cases[] = {
		{ "{\"hidden_size\": 10, \"num_attention_heads\": 3}", "multiple" },
		{ "{\"hidden_size\": \"big\"}", "hidden_size" },
		{ "{\"hidden_act\": \"relu\"}", "hidden_act" },
		{ "{\"vocab_size\": 1.5}", "vocab_size" },
		{ "{\"model_type\": \"gpt2\"}", "model_type" },
		{ "[1, 2]", "not a JSON object" },
		{ "{\"hidden_size\": 12,", "malformed JSON" },
		{ "{\"id2label\": {\"0\": \"a\", \"7\": \"b\"}}", "id2label" },
		/* after an early }, the rest would fall back to defaults unseen */
		{ "{\"hidden_size\": 64}\n \"num_hidden_layers\": 2}", ":2: junk after the JSON value" },
		/* Python keeps the last, cJSON the first: refused, not picked */
		{ "{\"hidden_size\": 64, \"hidden_size\": 128}", "key \"hidden_size\" appears twice" },
		{ "{\"id2label\": {\"0\": \"a\", \"0\": \"b\"}}", "key \"0\" appears twice" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fx_spit(path, cases[i].json, strlen(cases[i].json));
		memset(&err, 0, sizeof err);
		int rc = pofa_config_load(&c, path, &err);
		if (rc != POFA_ERR_INPUT || !strstr(err.msg, cases[i].needle) || !strstr(err.msg, path))
			fail_msg("config %s: expected status 2 and \"%s\", got %d: %s", cases[i].json,
			         cases[i].needle, rc, err.msg);
	}
	/* a BertConfig with only a few keys takes transformers' defaults */
	const char *minimal = "{\"hidden_size\": 64, \"num_attention_heads\": 4, \"id2label\": "
	                      "{\"0\": \"neg\", \"1\": \"pos\"}}";
	fx_spit(path, minimal, strlen(minimal));
	assert_int_equal(pofa_config_load(&c, path, &err), 0);
	assert_int_equal(c.vocab_size, 30522);
	assert_int_equal(c.num_hidden_layers, 12);
	assert_int_equal(c.num_labels, 2);
	assert_string_equal(c.label_names[1], "pos");
	assert_true(c.layer_norm_eps == 1e-12f);
}

static void test_optimizer_state(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_CLS, 2, 8, 1, &err);
	pofa_model_init(m, 1);
	pofa_model_set_seed(m, 1234);
	size_t np = pofa_model_num_params(m);
	for (size_t i = 0; i < np; i++) {
		pofa_model_moment1(m)[i] = (float)i * 1e-3f;
		pofa_model_moment2(m)[i] = (float)i * 1e-6f;
	}
	pofa_optim o = pofa_optim_default();
	o.step = 77;
	o.beta2 = 0.98;
	char path[512];
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	assert_int_equal(pofa_optim_save(m, &o, path, &err), 0);
	pofa_model *m2 = pofa_model_new(&c, POFA_HEAD_CLS, 2, 8, 1, &err);
	pofa_model_init(m2, 2);
	pofa_optim o2 = pofa_optim_default();
	if (pofa_optim_load(m2, &o2, path, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(o2.step, 77);
	assert_true(o2.beta2 == 0.98);
	assert_memory_equal(pofa_model_moment1(m), pofa_model_moment1(m2), np * 4);
	assert_memory_equal(pofa_model_moment2(m), pofa_model_moment2(m2), np * 4);
	/* a model of another shape refuses the state and keeps its own */
	pofa_config c2 = small();
	c2.intermediate_size = 24;
	pofa_model *m3 = pofa_model_new(&c2, POFA_HEAD_CLS, 2, 8, 1, &err);
	pofa_model_init(m3, 2);
	pofa_optim o3 = pofa_optim_default();
	assert_int_equal(pofa_optim_load(m3, &o3, path, &err), POFA_ERR_INPUT);
	assert_non_null(strstr(err.msg, "intermediate.dense.weight"));
	assert_int_equal(o3.step, 0);
	assert_true(pofa_model_moment1(m3)[5] == 0.0f);
	pofa_model_free(m);
	pofa_model_free(m2);
	pofa_model_free(m3);
}

static void test_atomic_write_keeps_old(void **st)
{
	(void)st;
	char path[512];
	pofa_err err;
	snprintf(path, sizeof path, "%s/keep.txt", dir);
	assert_int_equal(pofa_write_atomic(path, "old", 3, &err), 0);
	/* a write into a folder that does not exist fails and leaves nothing */
	char bad[600];
	snprintf(bad, sizeof bad, "%s/nope/keep.txt", dir);
	assert_int_not_equal(pofa_write_atomic(bad, "new", 3, &err), 0);
	/* renaming over a folder fails: the folder and the old file stay */
	char sub[600];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	pofa_mkdirs(sub, &err);
	assert_int_not_equal(pofa_write_atomic(sub, "new", 3, &err), 0);
	size_t n;
	unsigned char *b = fx_slurp(path, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(b, "old", 3);
	free(b);
}

/* non-finite weights are refused at load, naming the tensor; finite but
 * absurd ones give no metric, not a plausible accuracy with loss nan */
static void test_nonfinite_weights(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = fx_model(&c, POFA_HEAD_CLS, 2, 8, 1, 3);
	char mdir[600], vocab[600], path[700];
	snprintf(mdir, sizeof mdir, "%s/nan", dir);
	snprintf(vocab, sizeof vocab, "%s/vocab-nan.txt", dir);
	static const char *toks = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
	char v[4096];
	snprintf(v, sizeof v, "%s", toks);
	for (int k = 5; k < 40; k++)
		snprintf(v + strlen(v), sizeof v - strlen(v), "w%d\n", k);
	fx_spit_str(vocab, v);
	pofa_tensor *t = fx_tensor(m, "bert.encoder.layer.0.output.dense.weight");
	t->data[7] = NAN;
	assert_int_equal(pofa_model_save(m, mdir, vocab, &err), 0);
	int fresh;
	memset(&err, 0, sizeof err);
	pofa_model *l = pofa_model_load(mdir, POFA_HEAD_CLS, 2, 8, 1, 1, &fresh, &err);
	if (l || err.status != POFA_ERR_INPUT ||
	    !strstr(err.msg, "tensor bert.encoder.layer.0.output.dense.weight: element 7 is nan"))
		fail_msg("NaN weight: expected status 2 naming the tensor, got %d: %s", err.status, err.msg);
	/* 3e38: finite, loadable, but the outputs overflow */
	t->data[7] = 3e38f;
	/* logits of +-3e38: their difference, the loss, overflows */
	pofa_tensor *cb = fx_tensor(m, "classifier.bias");
	cb->data[0] = 3e38f;
	cb->data[1] = -3e38f;
	assert_int_equal(pofa_model_save(m, mdir, vocab, &err), 0);
	l = pofa_model_load(mdir, POFA_HEAD_CLS, 2, 8, 1, 1, &fresh, &err);
	if (!l)
		fail_msg("%s", err.msg);
	snprintf(path, sizeof path, "%s/nan.tsv", dir);
	fx_spit_str(path, "sentence\tlabel\nw5 w6\ta\nw7\tb\nw8 w9 w10\tc\n");
	pofa_tokenizer *tk = pofa_tokenizer_load(vocab, POFA_CASE_AUTO, &err);
	assert_non_null(tk);
	pofa_task_spec spec = { .name = "t", .format = POFA_TASK_TSV, .text_a = "sentence", .label = "label" };
	pofa_labels labels = { 0 };
	pofa_taskset ts;
	assert_int_equal(pofa_taskset_load(&spec, path, tk, 8, &labels, &ts, &err), 0);
	pofa_eval_result res;
	/* the training forward, then the forward-only path */
	pofa_infer_opts io = { .maxB = 2, .maxT = 8, .threads = 1, .int8 = POFA_INT8_OFF, .force_fmt = -1, .cpu = -1 };
	pofa_infer *inf = pofa_infer_from_model(l, NULL, &io, &err);
	assert_non_null(inf);
	for (int k = 0; k < 2; k++) {
		pofa_scorer sc = { .model = l, .infer = k ? inf : NULL };
		memset(&err, 0, sizeof err);
		int rc = pofa_evaluate(&sc, &ts, &labels, 2, NULL, &res, &err);
		if (rc != POFA_ERR_INPUT || !strstr(err.msg, "outputs are not finite"))
			fail_msg("absurd weights (%s): expected status 2 and no metric, got %d: %s (accuracy %g, loss %g)",
			         k ? "forward-only path" : "training forward", rc, err.msg, res.m[0].value, res.loss);
	}
	pofa_infer_free(inf);
	pofa_taskset_free(&ts);
	pofa_labels_free(&labels);
	pofa_tokenizer_free(tk);
	pofa_model_free(l);
	pofa_model_free(m);
}

/* sizes from an untrusted config.json are checked before memory is taken */
static void test_untrusted_sizes(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	char mdir[600], path[700];
	snprintf(mdir, sizeof mdir, "%s/sizes", dir);
	pofa_model *m = fx_model(&c, POFA_HEAD_MLM, 2, 8, 1, 1);
	assert_int_equal(pofa_model_save(m, mdir, NULL, &err), 0);
	pofa_model_free(m);
	/* a config of bert-large sizes beside a tiny weights file */
	snprintf(path, sizeof path, "%s/config.json", mdir);
	fx_spit_str(path, "{\"hidden_size\": 16384, \"num_hidden_layers\": 48, \"intermediate_size\": 65536, "
	                  "\"num_attention_heads\": 16, \"vocab_size\": 30522}");
	int fresh;
	memset(&err, 0, sizeof err);
	m = pofa_model_load_for(mdir, POFA_HEAD_MLM, POFA_MODEL_INFER, 1, 8, 1, 1, &fresh, &err);
	if (m || err.status != POFA_ERR_INPUT || !strstr(err.msg, "do not belong together"))
		fail_msg("huge config, small file: expected status 2 before allocating, got %d: %s", err.status, err.msg);
	/* more than the machine has: refused with the size it would need */
	pofa_config big = fx_config(1 << 22, 16384, 512);
	big.num_hidden_layers = 256;
	big.intermediate_size = 65536;
	big.num_attention_heads = 16;
	memset(&err, 0, sizeof err);
	m = pofa_model_new(&big, POFA_HEAD_MLM, 8, 512, 1, &err);
	if (m || err.status != POFA_ERR_INPUT || !strstr(err.msg, "MiB") || !strstr(err.msg, "the machine has"))
		fail_msg("a model larger than memory: expected status 2 with its size, got %d: %s", err.status, err.msg);
	/* an inference model: no gradients, no moments, and backward is a no-op */
	m = pofa_model_new_for(&c, POFA_HEAD_CLS, POFA_MODEL_INFER, 2, 8, 1, &err);
	assert_non_null(m);
	assert_null(pofa_model_grads(m));
	assert_null(pofa_model_moment1(m));
	pofa_model_init(m, 1);
	int ids[16] = { 2, 5, 6, 3 }, lab[2] = { 0, 1 };
	pofa_batch b = { .B = 2, .T = 8, .input_ids = ids, .labels = lab };
	assert_true(isfinite(pofa_model_step_loss(m, &b, 0)));
	pofa_model_backward(m, &b);
	pofa_model_zero_grad(m);
	pofa_model_free(m);
}

/* finding duplicate names is not quadratic: 60,000 tensors open at once */
static void test_many_tensors(void **st)
{
	(void)st;
	enum { N = 60000 };
	pofa_st_out *o = calloc(N, sizeof *o);
	char (*names)[24] = calloc(N, sizeof *names);
	float one = 1.0f;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "t.%05d", (i * 7919) % N);
		o[i] = (pofa_st_out){ names[i], &one, 1, { 1, 0 }, POFA_F32 };
	}
	char path[700];
	snprintf(path, sizeof path, "%s/many.safetensors", dir);
	pofa_err err;
	assert_int_equal(pofa_st_write(path, o, N, NULL, 0, &err), 0);
	double t0 = now_seconds();
	pofa_st_file f;
	if (pofa_st_open(&f, path, &err))
		fail_msg("%s", err.msg);
	double dt = now_seconds() - t0;
	assert_int_equal(f.ntensors, N);
	assert_non_null(pofa_st_find(&f, "t.31337"));
	assert_null(pofa_st_find(&f, "t.99999"));
	pofa_st_close(&f);
	/* quadratic took minutes; a sorted index, well under a second */
	if (dt > 20.0)
		fail_msg("opening %d tensors took %.1f s", N, dt);
	/* and a name twice is still refused */
	memcpy(names[N - 1], names[0], sizeof names[0]);
	assert_int_equal(pofa_st_write(path, o, N, NULL, 0, &err), 0);
	memset(&err, 0, sizeof err);
	if (pofa_st_open(&f, path, &err) != POFA_ERR_INPUT || !strstr(err.msg, "appears twice"))
		fail_msg("a duplicate name among %d: %s", N, err.msg);
	free(o);
	free(names);
}

/* a speed-up is printed as one only when its rounds' range is clear of 1 */
static void test_speedup_noise(void **st)
{
	(void)st;
	struct { double up, lo, hi; int same, noise; } c[] = {
		{ 1.03, 0.95, 1.10, 0, 1 },   /* straddles 1: noise */
		{ 2.40, 2.31, 2.52, 0, 0 },   /* clear */
		{ 0.93, 0.90, 0.97, 0, 0 },   /* clearly slower: said as such */
		{ 1.00, 1.00, 1.00, 1, 0 },   /* the dense computation: 1.00 by definition */
		{ 0.00, 0.00, 0.00, 0, 0 },   /* not measured */
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		pofa_eval_report r;
		memset(&r, 0, sizeof r);
		r.speedup = c[i].up, r.speedup_lo = c[i].lo, r.speedup_hi = c[i].hi, r.speedup_same = c[i].same;
		if (pofa_eval_within_noise(&r) != c[i].noise)
			fail_msg("%.2fx (%.2f-%.2f, same %d): expected within the noise %d, got %d", c[i].up, c[i].lo, c[i].hi,
			         c[i].same, c[i].noise, pofa_eval_within_noise(&r));
	}
}

/* pofa export --onnx: every Linear's weight under its Hugging Face name is
 * stored as Hugging Face stores it ([out, in], the same values), so that
 * ONNX weights map back by name; the graph transposes for MatMul. The
 * model's metadata gives the longest sequence it takes. */
static void test_onnx_names(void **st)
{
	(void)st;
	pofa_config c = small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_CLS, 2, 8, 1, &err);
	assert_non_null(m);
	pofa_model_init(m, 9);
	char path[600];
	fx_path(path, sizeof path, "m.onnx");   /* in the group's folder */
	if (pofa_onnx_export(m, NULL, path, &err))
		fail_msg("%s", err.msg);
	unsigned char *buf;
	size_t n;
	assert_int_equal(pofa_read_file(path, &buf, &n, 1 << 28, &err), 0);
	PofaOnnx__ModelProto *mp = pofa_onnx__model_proto__unpack(NULL, n, buf);
	assert_non_null(mp);
	int seen = 0;
	for (size_t k = 0; k < mp->n_metadata_props; k++)
		if (!strcmp(mp->metadata_props[k]->key, "max_sequence_length"))
			seen = atoi(mp->metadata_props[k]->value) == c.max_position_embeddings;
	if (!seen)
		fail_msg("metadata: expected max_sequence_length = %d", c.max_position_embeddings);
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t), linears = 0;
	for (int i = 0; i < nt; i++) {
		if (t[i].absent || t[i].ndim != 2 || t[i].kind != POFA_PARAM_WEIGHT || t[i].role == POFA_ROLE_WORD_EMB ||
		    t[i].role == POFA_ROLE_POS_EMB || t[i].role == POFA_ROLE_TYPE_EMB)
			continue;
		const PofaOnnx__TensorProto *x = NULL;
		for (size_t k = 0; k < mp->graph->n_initializer; k++)
			if (!strcmp(mp->graph->initializer[k]->name, t[i].name))
				x = mp->graph->initializer[k];
		if (!x)
			fail_msg("%s: no initializer of that name", t[i].name);
		if (x->n_dims != 2 || x->dims[0] != t[i].shape[0] || x->dims[1] != t[i].shape[1])
			fail_msg("%s: expected [%lld, %lld] as Hugging Face has it, got [%lld, %lld]", t[i].name,
			         (long long)t[i].shape[0], (long long)t[i].shape[1], (long long)x->dims[0],
			         (long long)(x->n_dims > 1 ? x->dims[1] : 0));
		if (x->raw_data.len != (size_t)t[i].numel * 4 || memcmp(x->raw_data.data, t[i].data, x->raw_data.len))
			fail_msg("%s: the values differ from the model's", t[i].name);
		linears++;
	}
	assert_true(linears >= 4 * c.num_hidden_layers + 2);   /* the layers', the pooler, the classifier */
	pofa_onnx__model_proto__free_unpacked(mp, NULL);
	free(buf);
	pofa_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_load_init),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_hf_variants),
		cmocka_unit_test(test_hf_masked_lm),
		cmocka_unit_test(test_hf_half_precision),
		cmocka_unit_test(test_corruptions),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_optimizer_state),
		cmocka_unit_test(test_atomic_write_keeps_old),
		cmocka_unit_test(test_nonfinite_weights),
		cmocka_unit_test(test_untrusted_sizes),
		cmocka_unit_test(test_many_tensors),
		cmocka_unit_test(test_speedup_noise),
		cmocka_unit_test(test_onnx_names),
	};
	return cmocka_run_group_tests_name("files", tests, setup, teardown);
}
