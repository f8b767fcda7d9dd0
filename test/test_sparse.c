/*
 * test_sparse.c - the Prune OFA algorithms: the cubic schedule, exact masks
 * (ties included), 1x4 and 2:4 patterns, pattern lock through training,
 * LR rewinding, the distillation gradient by finite differences, fake
 * quantization and its straight-through gradient.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"
#include "test/ref.h"
#include "engine/model/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model/internal.h"
#include "engine/kernels/kernels.h"
#include "engine/io/safetensors.h"
#include "data/base/fileio.h"
#include "engine/sparse/sparse.h"
#include "engine/sparse/obert.h"
#include "data/base/rng.h"
#include "data/build/synth.h"

#define NEAR FX_NEAR

static pofa_model *model(enum pofa_head head, int seed)
{
	pofa_config c = fx_config(64, 16, 16);
	return fx_model(&c, head, 4, 8, 2, (uint64_t)seed);
}

static void test_schedule(void **st)
{
	(void)st;
	pofa_gmp g = { .s_init = 0.0f, .s_final = 0.9f, .t0 = 100, .t1 = 1100, .every = 100, .freeze = 1600 };
	NEAR(pofa_gmp_target(&g, 0), 0.0, 1e-12);
	NEAR(pofa_gmp_target(&g, 100), 0.0, 1e-12);
	/* halfway: 0.9 - 0.9 * 0.5^3 */
	NEAR(pofa_gmp_target(&g, 600), 0.9 - 0.9 * 0.125, 1e-7);
	NEAR(pofa_gmp_target(&g, 350), 0.9 - 0.9 * 0.75 * 0.75 * 0.75, 1e-7);
	NEAR(pofa_gmp_target(&g, 1100), 0.9, 1e-7);
	NEAR(pofa_gmp_target(&g, 5000), 0.9, 1e-7);
	assert_false(pofa_gmp_update_step(&g, 50));
	assert_true(pofa_gmp_update_step(&g, 100));
	assert_false(pofa_gmp_update_step(&g, 150));
	assert_true(pofa_gmp_update_step(&g, 1600));
	assert_false(pofa_gmp_update_step(&g, 1700));
	pofa_gmp g2 = { .s_init = 0.2f, .s_final = 0.8f, .t0 = 0, .t1 = 10 };
	NEAR(pofa_gmp_target(&g2, 0), 0.2, 1e-7);
	NEAR(pofa_gmp_target(&g2, 5), 0.8 - 0.6 * 0.125, 1e-7);
}

static void test_lr_rewind(void **st)
{
	(void)st;
	/* N 1000, warmup 10, window [10, 510), every 100: P = 500, den = 490 */
	NEAR(pofa_lr_rewind(0, 1000, 10, 10, 510, 100), 0.0, 1e-12);
	NEAR(pofa_lr_rewind(5, 1000, 10, 10, 510, 100), 0.5, 1e-12);
	NEAR(pofa_lr_rewind(10, 1000, 10, 10, 510, 100), 1.0, 1e-12);
	NEAR(pofa_lr_rewind(60, 1000, 10, 10, 510, 100), (1000 - 500 - 60) / 490.0, 1e-12);
	/* rewound to the peak at each pruning step */
	NEAR(pofa_lr_rewind(110, 1000, 10, 10, 510, 100), (1000 - 500 - 110 + 100) / 490.0, 1e-12);
	NEAR(pofa_lr_rewind(110, 1000, 10, 10, 510, 100), 1.0, 1e-12);
	NEAR(pofa_lr_rewind(209, 1000, 10, 10, 510, 100), (1000 - 500 - 209 + 100) / 490.0, 1e-12);
	/* after the window: linear decay to zero */
	NEAR(pofa_lr_rewind(510, 1000, 10, 10, 510, 100), 490 / 490.0, 1e-12);
	NEAR(pofa_lr_rewind(755, 1000, 10, 10, 510, 100), 245 / 490.0, 1e-12);
	NEAR(pofa_lr_rewind(1000, 1000, 10, 10, 510, 100), 0.0, 1e-12);
}

static pofa_tensor *first_prunable(pofa_model *m, int *count)
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t), c = 0;
	pofa_tensor *f = NULL;
	for (int i = 0; i < n; i++)
		if (t[i].prunable) {
			if (!f)
				f = &t[i];
			c++;
		}
	*count = c;
	return f;
}

static void test_masks_exact(void **st)
{
	(void)st;
	pofa_model *m = model(POFA_HEAD_MLM, 1);
	pofa_err err;
	int np;
	pofa_tensor *q = first_prunable(m, &np);
	assert_int_equal(np, 6 * 2 + 1);   /* six Linear weights per layer + pooler */
	/* ties: every weight of the query matrix has the same magnitude */
	for (int64_t j = 0; j < q->numel; j++)
		q->data[j] = j % 2 ? 0.5f : -0.5f;
	pofa_masks mk;
	assert_int_equal(pofa_masks_init(&mk, m, &err), 0);
	pofa_gmp g = { .pattern = POFA_PATTERN_UNSTRUCTURED };
	double s = 0.37;
	assert_int_equal(pofa_masks_prune(&mk, s, &g, &err), 0);
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++) {
		int64_t z = 0;
		for (int64_t j = 0; j < t[i].numel; j++)
			z += t[i].data[j] == 0.0f;
		int64_t want = t[i].prunable ? llround(s * (double)t[i].numel) : 0;
		if (!t[i].prunable)
			want = z; /* untouched: embeddings, LayerNorm, biases, heads */
		if (z != want)
			fail_msg("%s: %lld zeros, expected exactly %lld", t[i].name, (long long)z, (long long)want);
	}
	/* with ties, the lower indices go first */
	int64_t k = llround(s * (double)q->numel);
	for (int64_t j = 0; j < q->numel; j++)
		assert_int_equal(q->data[j] == 0.0f, j < k);
	/* a non-prunable tensor keeps all its weights */
	assert_true(pofa_tensor_sparsity(&t[0]) < 0.02); /* only the padding row */
	/* kept weights are the largest: the magnitudes pruned from a fresh
	 * model are all at most the threshold, those kept at least it */
	pofa_model *m3 = model(POFA_HEAD_MLM, 5);
	size_t np3 = pofa_model_num_params(m3);
	float *before = malloc(np3 * sizeof *before);
	memcpy(before, pofa_model_params(m3), np3 * sizeof *before);
	pofa_masks mk3;
	pofa_masks_init(&mk3, m3, &err);
	assert_int_equal(pofa_masks_prune(&mk3, 0.5, &g, &err), 0);
	n = pofa_model_tensors(m3, &t);
	for (int i = 0; i < n; i++) {
		if (!t[i].prunable)
			continue;
		size_t off = (size_t)(t[i].data - pofa_model_params(m3));
		float th = mk3.threshold[i];
		for (int64_t j = 0; j < t[i].numel; j++) {
			float a = fabsf(before[off + j]);
			if (t[i].data[j] == 0.0f ? a > th : a < th)
				fail_msg("%s[%lld]: |w| %g %s, threshold %g", t[i].name, (long long)j, a,
				         t[i].data[j] == 0.0f ? "pruned" : "kept", th);
		}
	}
	free(before);
	pofa_masks_free(&mk3);
	pofa_model_free(m3);
	/* global threshold: exact count over all prunable weights together */
	pofa_model *m2 = model(POFA_HEAD_MLM, 2);
	pofa_masks mk2;
	pofa_masks_init(&mk2, m2, &err);
	pofa_gmp gg = { .pattern = POFA_PATTERN_UNSTRUCTURED, .global = 1 };
	assert_int_equal(pofa_masks_prune(&mk2, 0.6, &gg, &err), 0);
	int64_t z = 0, tot = 0;
	n = pofa_model_tensors(m2, &t);
	for (int i = 0; i < n; i++)
		if (t[i].prunable) {
			for (int64_t j = 0; j < t[i].numel; j++)
				z += t[i].data[j] == 0.0f;
			tot += t[i].numel;
		}
	assert_int_equal(z, llround(0.6 * (double)tot));
	NEAR(pofa_model_sparsity(m2), 0.6, 1e-4);
	pofa_masks_free(&mk);
	pofa_masks_free(&mk2);
	pofa_model_free(m);
	pofa_model_free(m2);
}

static void test_patterns(void **st)
{
	(void)st;
	pofa_err err;
	/* 1x4 blocks: zeros come in whole aligned blocks of four along a row */
	pofa_model *m = model(POFA_HEAD_MLM, 3);
	pofa_masks mk;
	pofa_masks_init(&mk, m, &err);
	pofa_gmp g = { .pattern = POFA_PATTERN_BLOCK, .block = 4 };
	assert_int_equal(pofa_masks_prune(&mk, 0.5, &g, &err), 0);
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++) {
		if (!t[i].prunable)
			continue;
		int64_t zb = 0;
		for (int64_t b = 0; b < t[i].numel; b += 4) {
			int z = 0;
			for (int k = 0; k < 4; k++)
				z += t[i].data[b + k] == 0.0f;
			if (z != 0 && z != 4)
				fail_msg("%s: block at %lld has %d zeros (not 0 or 4)", t[i].name, (long long)b, z);
			zb += z == 4;
		}
		assert_int_equal(zb, llround(0.5 * (double)(t[i].numel / 4)));
	}
	pofa_masks_free(&mk);
	pofa_model_free(m);
	/* 2:4: exactly two of every four consecutive weights kept, the larger */
	m = model(POFA_HEAD_MLM, 4);
	pofa_masks_init(&mk, m, &err);
	pofa_gmp nm = { .pattern = POFA_PATTERN_NM, .n = 2, .m = 4 };
	assert_int_equal(pofa_masks_prune(&mk, 0.5, &nm, &err), 0);
	n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++) {
		if (!t[i].prunable)
			continue;
		for (int64_t b = 0; b < t[i].numel; b += 4) {
			int z = 0;
			for (int k = 0; k < 4; k++)
				z += t[i].data[b + k] == 0.0f;
			if (z != 2)
				fail_msg("%s: group at %lld has %d zeros, 2:4 wants 2", t[i].name, (long long)b, z);
		}
	}
	pofa_masks_free(&mk);
	pofa_model_free(m);
}

/* pattern lock: zeros stay exactly zero through training, with and
 * without quantization-aware training */
static void test_lock_through_training(void **st)
{
	(void)st;
	for (int qat = 0; qat < 2; qat++) {
		pofa_model *m = model(POFA_HEAD_CLS, 5);
		pofa_err err;
		pofa_masks mk;
		pofa_masks_init(&mk, m, &err);
		pofa_gmp g = { .pattern = POFA_PATTERN_UNSTRUCTURED };
		pofa_masks_prune(&mk, 0.8, &g, &err);
		double s0 = pofa_model_sparsity(m);
		/* a fresh lock from the weights, as a finetune stage does */
		pofa_masks lk;
		pofa_masks_init(&lk, m, &err);
		pofa_masks_lock(&lk);
		if (qat)
			assert_int_equal(pofa_model_set_qat(m, 1, 0, &err), 0);
		pofa_synth s;
		pofa_synth_init(&s, 64, 1);
		int ids[32], ty[32], mask[32], lab[32], labels[4] = { 0, 1, 2, 1 };
		pofa_batch b = { .B = 4, .T = 8, .input_ids = ids, .token_type_ids = ty,
		                 .attention_mask = mask, .labels = labels };
		pofa_optim o = pofa_optim_default();
		for (int step = 0; step < 30; step++) {
			pofa_synth_batch(&s, 4, 8, 1, ids, ty, mask, lab);
			pofa_model_zero_grad(m);
			pofa_model_step_loss(m, &b, 1);
			pofa_model_backward(m, &b);
			pofa_masks_grads(&lk);
			pofa_model_clip_grad(m, 1.0f);
			pofa_model_adamw(m, &o, 1e-2);
			pofa_masks_apply(&lk);
		}
		pofa_tensor *t;
		int n = pofa_model_tensors(m, &t);
		for (int i = 0; i < n; i++) {
			if (!t[i].prunable)
				continue;
			const unsigned char *mm = lk.m + (t[i].data - pofa_model_params(m));
			for (int64_t j = 0; j < t[i].numel; j++)
				if (!mm[j] && t[i].data[j] != 0.0f)
					fail_msg("%s[%lld] = %g after training: the lock let it move", t[i].name,
					         (long long)j, t[i].data[j]);
		}
		NEAR(pofa_model_sparsity(m), s0, 1e-9);
		pofa_synth_free(&s);
		pofa_masks_free(&mk);
		pofa_masks_free(&lk);
		pofa_model_free(m);
	}
}

/* d(KD)/d(student logits) against central differences of the double
 * reference (ref_kd_loss), and the engine's parallel version against the
 * reference */
static void test_kd_gradient(void **st)
{
	(void)st;
	enum { R = 3, V = 7 };
	float s[R * V], t[R * V], ds[R * V];
	pofa_rng r = { 9 };
	for (int i = 0; i < R * V; i++) {
		s[i] = 3.0f * (pofa_rng_uniform(&r) - 0.5f);
		t[i] = 3.0f * (pofa_rng_uniform(&r) - 0.5f);
		ds[i] = 0.0f;
	}
	float T = 2.0f, w = 0.7f;
	double l = ref_kd_loss(s, t, ds, R, V, V, 1, T, w);
	assert_true(l > 0.0);
	for (int i = 0; i < R * V; i++) {
		float keep = s[i], h = 1e-2f;
		s[i] = keep + h;
		double lp = ref_kd_loss(s, t, NULL, R, V, V, 1, T, w);
		s[i] = keep - h;
		double lm = ref_kd_loss(s, t, NULL, R, V, V, 1, T, w);
		s[i] = keep;
		double num = w * (lp - lm) / (2 * h);
		if (fabs(num - ds[i]) > 1e-3 * fmax(1e-2, fabs(num)))
			fail_msg("kd gradient [%d]: analytic %.8g, numeric %.8g", i, ds[i], num);
	}
	/* identical logits: zero loss */
	NEAR(ref_kd_loss(t, t, NULL, R, V, V, 1, T, 1.0f), 0.0, 1e-9);

	/* the engine's version on a classification model */
	pofa_model *m = model(POFA_HEAD_CLS, 6);
	int ids[32], ty[32], mask[32], lab[32], labels[4] = { 0, 1, 2, 1 };
	pofa_synth sy;
	pofa_synth_init(&sy, 64, 2);
	pofa_synth_batch(&sy, 4, 8, 1, ids, ty, mask, lab);
	pofa_batch b = { .B = 4, .T = 8, .input_ids = ids, .token_type_ids = ty, .attention_mask = mask,
	                 .labels = labels };
	pofa_err err;
	pofa_model_forward(m, &b, 0, &err);
	int rows, cols;
	float *lg = pofa_model_logits(m, &rows, &cols);
	float teach[12], sl[12], ref[12] = { 0 };
	for (int i = 0; i < 12; i++)
		teach[i] = lg[i] + 0.5f * (float)((i * 7) % 5 - 2);
	memcpy(sl, lg, sizeof sl);
	memset(pofa_model_dlogits(m), 0, sizeof(float) * 12);
	double le = pofa_model_kd(m, teach, 2.0f, 0.5f);
	double lr = ref_kd_loss(sl, teach, ref, 4, 3, 3, 1, 2.0f, 0.5f);
	NEAR(le, lr, 1e-5 * fabs(lr));
	for (int i = 0; i < 12; i++)
		NEAR(pofa_model_dlogits(m)[i], ref[i], 1e-6);
	pofa_synth_free(&sy);
	pofa_model_free(m);
}

/* hidden-state distillation: a 2-layer student against a 4-layer teacher
 * (layers 1 and 3), its loss the mean squared difference over the
 * non-padding tokens, its gradient through the whole student against
 * central differences of that loss */
static double kdh_loss(pofa_model *m, pofa_model *t, const pofa_batch *b, const int *map)
{
	pofa_err err;
	pofa_model_forward(m, b, 0, &err);
	return pofa_model_kd_hidden(m, t, b, map, 1.0f);
}

static void test_kd_hidden(void **st)
{
	(void)st;
	pofa_config cs = fx_config(64, 16, 16), ct = cs;
	ct.num_hidden_layers = 4;
	pofa_model *m = fx_model(&cs, POFA_HEAD_CLS, 4, 8, 2, 21), *t = fx_model(&ct, POFA_HEAD_CLS, 4, 8, 2, 22);
	pofa_model_set_dropout(m, 0);
	pofa_model_set_dropout(t, 0);
	int ids[32], ty[32], mask[32], lab[32], labels[4] = { 0, 1, 2, 1 }, map[2] = { 1, 3 };
	pofa_synth sy;
	pofa_synth_init(&sy, 64, 2);
	pofa_synth_batch(&sy, 4, 8, 1, ids, ty, mask, lab);
	mask[5] = mask[6] = mask[7] = 0;   /* padding: no part of the loss */
	pofa_batch b = { .B = 4, .T = 8, .input_ids = ids, .token_type_ids = ty, .attention_mask = mask,
	                 .labels = labels };
	pofa_err err;
	assert_int_equal(pofa_model_forward(t, &b, 0, &err), 0);
	/* the loss against its definition */
	assert_int_equal(pofa_model_forward(m, &b, 1, &err), 0);
	pofa_model_zero_grad(m);
	pofa_model_task_loss(m, &b, 0.0f);   /* the head's gradient: zero */
	float w = 0.8f;
	double l = pofa_model_kd_hidden(m, t, &b, map, w);
	assert_true(l > 0.0);
	/* the first call in a model's life counts the same tokens as later ones */
	double again = pofa_model_kd_hidden(m, t, &b, map, w);
	if (again != l)
		fail_msg("the loss of a first call: expected %.9g (as a second call), got %.9g", again, l);
	pofa_model_backward(m, &b);
	/* the gradient of a few weights of each layer and the embeddings */
	static const char *const names[] = { "bert.encoder.layer.0.attention.self.query.weight",
	                                     "bert.encoder.layer.1.output.dense.weight",
	                                     "bert.encoder.layer.1.output.LayerNorm.bias",
	                                     "bert.embeddings.word_embeddings.weight" };
	for (int k = 0; k < 4; k++) {
		pofa_tensor *x = fx_tensor(m, names[k]);
		for (int64_t j = 3; j < x->numel; j += x->numel / 5 + 1) {
			if (k == 3)
				j = (int64_t)ids[1] * 16 + 2 + j % 5;   /* a row the batch uses */
			float keep = x->data[j], h = 1e-2f;
			x->data[j] = keep + h;
			double lp = kdh_loss(m, t, &b, map);
			x->data[j] = keep - h;
			double lm = kdh_loss(m, t, &b, map);
			x->data[j] = keep;
			double num = w * (lp - lm) / (2 * h);
			if (fabs(num - x->grad[j]) > 2e-2 * fmax(1e-3, fabs(num)))
				fail_msg("%s [%lld]: analytic %.6g, numeric %.6g", names[k], (long long)j, x->grad[j], num);
			if (k == 3)
				break;
		}
	}
	/* padding tokens count for nothing: other ids there, the same loss */
	double before = kdh_loss(m, t, &b, map);
	int keep[3] = { ids[5], ids[6], ids[7] };
	ids[5] = ids[6] = ids[7] = 9;
	assert_int_equal(pofa_model_forward(t, &b, 0, &err), 0);
	double after = kdh_loss(m, t, &b, map);
	if (after != before)
		fail_msg("the loss with other padding tokens: expected %.9g, got %.9g", before, after);
	ids[5] = keep[0], ids[6] = keep[1], ids[7] = keep[2];
	/* a student equal to its teacher's layers 1 and 3 of itself: no loss */
	int same[2] = { 0, 1 };
	pofa_model_forward(m, &b, 0, &err);
	NEAR(pofa_model_kd_hidden(m, m, &b, same, 1.0f), 0.0, 1e-12);
	pofa_synth_free(&sy);
	pofa_model_free(m);
	pofa_model_free(t);
}

/* a student of layers = 1,3: its layers 0 and 1 are the file's 1 and 3,
 * everything outside the encoder the file's too */
static void test_layers_from(void **st)
{
	(void)st;
	pofa_config ct = fx_config(64, 16, 16), cs;
	ct.num_hidden_layers = 4;
	cs = ct;
	cs.num_hidden_layers = 2;
	pofa_model *t = fx_model(&ct, POFA_HEAD_MLM, 2, 8, 1, 31), *m = fx_model(&cs, POFA_HEAD_MLM, 2, 8, 1, 32);
	const char *dir = fx_tmpdir("layers");
	char path[512];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	pofa_err err;
	if (pofa_model_save_weights(t, path, &err))
		fail_msg("%s", err.msg);
	int src[2] = { 1, 3 }, fresh = 0;
	if (pofa_model_load_weights_layers(m, path, src, &fresh, &err))
		fail_msg("%s", err.msg);
	static const char *const names[] = { "attention.self.key.weight", "intermediate.dense.bias",
	                                     "output.LayerNorm.weight" };
	for (int l = 0; l < 2; l++)
		for (int k = 0; k < 3; k++) {
			char a[128], b[128];
			snprintf(a, sizeof a, "bert.encoder.layer.%d.%s", l, names[k]);
			snprintf(b, sizeof b, "bert.encoder.layer.%d.%s", src[l], names[k]);
			pofa_tensor *x = fx_tensor(m, a), *y = fx_tensor(t, b);
			if (memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)))
				fail_msg("student %s: expected the file's %s", a, b);
		}
	pofa_tensor *x = fx_tensor(m, "bert.embeddings.word_embeddings.weight");
	assert_memory_equal(x->data, fx_tensor(t, "bert.embeddings.word_embeddings.weight")->data,
	                    (size_t)x->numel * sizeof(float));
	/* a layer the file does not have: named */
	int bad[2] = { 1, 4 };
	assert_int_equal(pofa_model_load_weights_layers(m, path, bad, &fresh, &err), POFA_ERR_INPUT);
	if (!strstr(err.msg, "bert.encoder.layer.4.") || !strstr(err.msg, "missing"))
		fail_msg("expected the missing tensor of layer 4 named, got: %s", err.msg);
	fx_tmpdir_remove();
	pofa_model_free(m);
	pofa_model_free(t);
}

/* a classification batch of 4 x 8 synthetic tokens */
typedef struct {
	pofa_synth sy;
	int ids[32], ty[32], mask[32], lab[32], labels[4];
	pofa_batch b;
} cls_feed;

static void cls_feed_init(cls_feed *f)
{
	static const int labels[4] = { 0, 1, 2, 1 };
	memcpy(f->labels, labels, sizeof labels);
	pofa_synth_init(&f->sy, 64, 3);
	pofa_synth_batch(&f->sy, 4, 8, 1, f->ids, f->ty, f->mask, f->lab);
	f->b = (pofa_batch){ .B = 4, .T = 8, .input_ids = f->ids, .token_type_ids = f->ty,
	                     .attention_mask = f->mask, .labels = f->labels };
}

/* fake quantization: round trip within half a step, zeros kept, and the
 * straight-through gradient equals the gradient at the quantized point */
static void test_fake_quant(void **st)
{
	(void)st;
	pofa_err err;
	pofa_model *m = model(POFA_HEAD_CLS, 7);
	pofa_model *ref = model(POFA_HEAD_CLS, 7);
	pofa_masks mk;
	pofa_masks_init(&mk, m, &err);
	pofa_gmp g = { .pattern = POFA_PATTERN_UNSTRUCTURED };
	pofa_masks_prune(&mk, 0.5, &g, &err);
	pofa_masks_free(&mk);
	memcpy(pofa_model_params(ref), pofa_model_params(m), pofa_model_num_params(m) * sizeof(float));
	assert_int_equal(pofa_model_set_qat(m, 1, 0, &err), 0);
	cls_feed cf;
	cls_feed_init(&cf);
	pofa_batch b = cf.b;
	pofa_model_set_dropout(m, 0);
	pofa_model_set_dropout(ref, 0);
	pofa_model_zero_grad(m);
	float lq = pofa_model_step_loss(m, &b, 1);
	pofa_model_backward(m, &b);
	/* the loss moves a little under 8-bit quantization, not a lot */
	pofa_model_zero_grad(ref);
	float lf = pofa_model_step_loss(ref, &b, 1);
	assert_true(fabsf(lq - lf) < 0.05f * fabsf(lf) + 1e-3f);
	assert_true(lq != lf);
	/* round trip of the int8 export: dequantized weights within half a step
	 * of the float ones, zeros exactly zero */
	char path[600];
	assert_non_null(fx_tmpdir("quant"));
	fx_path(path, sizeof path, "int8.safetensors");
	assert_int_equal(pofa_model_export_int8(m, path, &err), 0);
	pofa_st_file f;
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++) {
		if (!t[i].prunable)
			continue;
		char name[160];
		snprintf(name, sizeof name, "%.*s.weight_int8", (int)strlen(t[i].name) - 7, t[i].name);
		const pofa_st_tensor *q = pofa_st_find(&f, name);
		assert_non_null(q);
		assert_int_equal(q->dtype, POFA_I8);
		snprintf(name, sizeof name, "%.*s.weight_scale", (int)strlen(t[i].name) - 7, t[i].name);
		const pofa_st_tensor *sc = pofa_st_find(&f, name);
		float scale;
		memcpy(&scale, f.buf + f.data_off + sc->begin, 4);
		const int8_t *qv = (const int8_t *)(f.buf + f.data_off + q->begin);
		for (int64_t j = 0; j < t[i].numel; j++) {
			float deq = qv[j] * scale;
			if (fabsf(deq - t[i].data[j]) > 0.5f * scale + 1e-7f)
				fail_msg("%s[%lld]: %g dequantizes to %g (scale %g)", t[i].name, (long long)j,
				         t[i].data[j], deq, scale);
			if (t[i].data[j] == 0.0f)
				assert_int_equal(qv[j], 0);
		}
	}
	pofa_st_close(&f);
	fx_tmpdir_remove();
	/* STE: gradients stay finite and close to the float model's */
	pofa_model_backward(ref, &b);
	const float *gq = pofa_model_grads(m), *gf = pofa_model_grads(ref);
	double num = 0, den = 0;
	for (size_t i = 0; i < pofa_model_num_params(m); i++) {
		assert_true(isfinite(gq[i]));
		num += ((double)gq[i] - gf[i]) * ((double)gq[i] - gf[i]);
		den += (double)gf[i] * gf[i];
	}
	if (!(sqrt(num / den) < 0.1))
		fail_msg("straight-through gradients differ from float ones by %.3f (relative L2)", sqrt(num / den));
	pofa_synth_free(&cf.sy);
	pofa_model_free(m);
	pofa_model_free(ref);
}

/* the ranges a QAT model observed, read back through its saved state */
static void qat_ranges(pofa_model *m, float *lo, float *hi, int n)
{
	pofa_err err;
	char path[600];
	fx_path(path, sizeof path, "ranges.safetensors");
	assert_int_equal(pofa_model_qat_save(m, path, &err), 0);
	pofa_st_file f;
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	const pofa_st_tensor *a = pofa_st_find(&f, "qat.input_min"), *b = pofa_st_find(&f, "qat.input_max");
	assert_true(a && b && a->shape[0] == n);
	assert_int_equal(pofa_st_read_f32(&f, a, lo, &err), 0);
	assert_int_equal(pofa_st_read_f32(&f, b, hi, &err), 0);
	pofa_st_close(&f);
}

/* QAT's input ranges: the first training batch's own, then each batch
 * moves them 0.01 of the way to its range (the momentum pofa(1) states);
 * the reference is each batch's range alone, observed by a fresh model */
static void test_qat_ranges(void **st)
{
	(void)st;
	enum { S = 9 };   /* sites: 4 a layer (2 layers) and the pooler */
	pofa_err err;
	assert_non_null(fx_tmpdir("qatr"));
	pofa_synth sy;
	pofa_synth_init(&sy, 64, 11);
	int ids[2][32], ty[2][32], mask[2][32], lab[2][32], labels[4] = { 0, 1, 2, 1 };
	pofa_batch b[2];
	for (int k = 0; k < 2; k++) {
		pofa_synth_batch(&sy, 4, 8, 1, ids[k], ty[k], mask[k], lab[k]);
		b[k] = (pofa_batch){ .B = 4, .T = 8, .input_ids = ids[k], .token_type_ids = ty[k],
		                     .attention_mask = mask[k], .labels = labels };
	}
	float lo[3][S], hi[3][S];
	for (int k = 0; k < 3; k++) {   /* A alone, B alone, A then B */
		pofa_model *m = model(POFA_HEAD_CLS, 8);
		pofa_model_set_dropout(m, 0);
		assert_int_equal(pofa_model_set_qat(m, 1, 0, &err), 0);
		if (k != 1)
			assert_int_equal(pofa_model_forward(m, &b[0], 1, &err), 0);
		if (k != 0)
			assert_int_equal(pofa_model_forward(m, &b[1], 1, &err), 0);
		qat_ranges(m, lo[k], hi[k], S);
		pofa_model_free(m);
	}
	/* site 0, the embeddings' output, sees the same input whatever came
	 * before: exactly the moving average; later sites see inputs quantized
	 * with the ranges so far, so B after A is not quite B alone */
	for (int s = 0; s < S; s++) {
		double tol = s == 0 ? 1e-6 * (1.0 + fabs(hi[0][s])) : 2e-3 * (1.0 + fabs(hi[0][s]));
		NEAR(lo[2][s], lo[0][s] + 0.01 * (lo[1][s] - lo[0][s]), tol);
		NEAR(hi[2][s], hi[0][s] + 0.01 * (hi[1][s] - hi[0][s]), tol);
	}
	/* the batches differ at site 0 enough that 0.1 would miss by far */
	assert_true(fabs(0.09 * (hi[1][0] - hi[0][0])) > 100 * 1e-6 * (1.0 + fabs(hi[0][0])) ||
	            fabs(0.09 * (lo[1][0] - lo[0][0])) > 100 * 1e-6 * (1.0 + fabs(hi[0][0])));
	fx_tmpdir_remove();
	pofa_synth_free(&sy);
}

/* one weight quantizer: the fake-quantized weights QAT trains with are
 * exactly the int8 export times its scale, also at the rounding ties where
 * w * (1 / scale) and w / scale round apart */
static void test_one_quantizer(void **st)
{
	(void)st;
	pofa_err err;
	pofa_model *m = model(POFA_HEAD_CLS, 3);
	pofa_tensor *t = fx_tensor(m, "bert.encoder.layer.0.attention.output.dense.weight");
	t->data[0] = 1.0f;                       /* max |w|: scale 1/127 */
	float sc = 1.0f / 127.0f, inv = 1.0f / sc;
	int apart = 0;
	for (int64_t j = 1; j < t->numel && apart < 64; j++) {
		float c = ((float)(j % 100) + 0.5f) * sc;
		for (int u = -4; u <= 4; u++) {
			float w = nextafterf(c, u < 0 ? -1.0f : 2.0f);
			for (int k = 1; k < (u < 0 ? -u : u); k++)
				w = nextafterf(w, u < 0 ? -1.0f : 2.0f);
			if (rintf(w * inv) != rintf(w / sc)) {
				t->data[j] = w;
				apart++;
				break;
			}
		}
	}
	if (apart == 0)
		fail_msg("no weight found where the two roundings differ: the test proves nothing");
	assert_int_equal(pofa_model_set_qat(m, 1, 0, &err), 0);
	cls_feed cf;
	cls_feed_init(&cf);
	pofa_batch b = cf.b;
	pofa_model_step_loss(m, &b, 1);          /* quantizes the weights */
	char path[600];
	assert_non_null(fx_tmpdir("quant1"));
	fx_path(path, sizeof path, "int8.safetensors");
	assert_int_equal(pofa_model_export_int8(m, path, &err), 0);
	pofa_st_file f;
	assert_int_equal(pofa_st_open(&f, path, &err), 0);
	const pofa_st_tensor *q = pofa_st_find(&f, "bert.encoder.layer.0.attention.output.dense.weight_int8");
	const pofa_st_tensor *s = pofa_st_find(&f, "bert.encoder.layer.0.attention.output.dense.weight_scale");
	assert_non_null(q);
	assert_non_null(s);
	float scale;
	memcpy(&scale, f.buf + f.data_off + s->begin, 4);
	const int8_t *qv = (const int8_t *)(f.buf + f.data_off + q->begin);
	const float *fake = pofa_model_qat_weights(m) + (t->data - pofa_model_params(m));
	for (int64_t j = 0; j < t->numel; j++)
		if (fake[j] != qv[j] * scale)
			fail_msg("weight %lld = %.9g: QAT trains with %.9g, the export holds %d x %.9g = %.9g",
			         (long long)j, t->data[j], fake[j], qv[j], scale, qv[j] * scale);
	pofa_st_close(&f);
	fx_tmpdir_remove();
	pofa_synth_free(&cf.sy);
	pofa_model_free(m);
}

/* ---- second-order pruning (obert.h) --------------------------------------------- */

/* the inverse of an n x n matrix in double, Gauss-Jordan: the reference */
static void ref_inverse(const double *a, int n, double *inv)
{
	double *w = malloc((size_t)n * 2 * n * sizeof *w);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < 2 * n; j++)
			w[i * 2 * n + j] = j < n ? a[i * n + j] : (j - n == i);
	for (int c = 0; c < n; c++) {
		int p = c;
		for (int r = c + 1; r < n; r++)
			if (fabs(w[r * 2 * n + c]) > fabs(w[p * 2 * n + c]))
				p = r;
		for (int k = 0; k < 2 * n; k++) {
			double x = w[c * 2 * n + k];
			w[c * 2 * n + k] = w[p * 2 * n + k];
			w[p * 2 * n + k] = x;
		}
		double d = w[c * 2 * n + c];
		for (int k = 0; k < 2 * n; k++)
			w[c * 2 * n + k] /= d;
		for (int r = 0; r < n; r++)
			if (r != c) {
				double f = w[r * 2 * n + c];
				for (int k = 0; k < 2 * n; k++)
					w[r * 2 * n + k] -= f * w[c * 2 * n + k];
			}
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			inv[i * n + j] = w[i * 2 * n + n + j];
	free(w);
}

/* the empirical Fisher lambda I + (1/m) sum g g^T of m gradients */
static void ref_fisher(const float *g, int m, int n, double lambda, double *f)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0.0;
			for (int k = 0; k < m; k++)
				s += (double)g[k * n + i] * g[k * n + j];
			f[i * n + j] = s / m + (i == j ? lambda : 0.0);
		}
}

/* F^-1 by m Woodbury updates against the inverse of F in double; then
 * the saliencies (weights and 1x4 blocks) and the optimal update against
 * their formulas in double */
static void test_obert_math(void **st)
{
	(void)st;
	enum { N = 16, M = 24 };
	pofa_rng r = { 11 };
	float g[M * N], finv[N * N], u[N], w[N], rho[N], rho4[N / 4], wu[N], wu4[N];
	unsigned char mask[N];
	double f[N * N], inv[N * N], lambda = 0.05;
	for (int i = 0; i < M * N; i++)
		g[i] = (float)pofa_rng_normal(&r);
	pofa_obert_block_reset(finv, N, lambda);
	for (int k = 0; k < M; k++)
		pofa_obert_block_add(finv, N, g + k * N, M, u);
	ref_fisher(g, M, N, lambda, f);
	ref_inverse(f, N, inv);
	double worst = 0.0;
	for (int i = 0; i < N * N; i++)
		worst = fmax(worst, fabs(finv[i] - inv[i]) / fmax(1.0, fabs(inv[i])));
	if (worst > 1e-4)
		fail_msg("Woodbury's F^-1 against the inverse of F: expected within 1e-4, got %g", worst);
	for (int i = 0; i < N; i++) {
		w[i] = (float)pofa_rng_normal(&r);
		mask[i] = i % 3 != 0;
	}
	pofa_obert_block_saliency(finv, N, w, 1, rho);
	for (int q = 0; q < N; q++)
		NEAR(rho[q], w[q] * w[q] / (2.0 * inv[q * N + q]), 1e-4 * fabs(rho[q]) + 1e-7);
	pofa_obert_block_saliency(finv, N, w, 4, rho4);
	for (int b = 0; b < N / 4; b++) {
		double sub[16], subinv[16], s = 0.0;
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				sub[i * 4 + j] = inv[(4 * b + i) * N + 4 * b + j];
		ref_inverse(sub, 4, subinv);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				s += w[4 * b + i] * subinv[i * 4 + j] * w[4 * b + j];
		NEAR(rho4[b], 0.5 * s, 1e-3 * fabs(0.5 * s) + 1e-6);
	}
	/* summed: the sum of -F^-1 e_q w_q / [F^-1]_qq over the pruned */
	float fcopy[N * N];
	double scratch[N * (N + 1)];
	memcpy(wu, w, sizeof w);
	memcpy(fcopy, finv, sizeof finv);
	pofa_obert_block_update(fcopy, N, wu, mask, 1, POFA_OBERT_SUMMED, scratch);
	for (int rr = 0; rr < N; rr++) {
		double d = 0.0;
		for (int q = 0; q < N; q++)
			if (!mask[q])
				d -= inv[rr * N + q] * w[q] / inv[q * N + q];
		NEAR(wu[rr], w[rr] + d, 1e-4 * (1.0 + fabs(w[rr] + d)));
	}
	/* joint: -F^-1_{:,P} ([F^-1]_PP)^-1 w_P over the pruned set P at once */
	int P[N], np = 0;
	for (int q = 0; q < N; q++)
		if (!mask[q])
			P[np++] = q;
	double spp[N * N], sppinv[N * N], cp[N];
	for (int i = 0; i < np; i++)
		for (int j = 0; j < np; j++)
			spp[i * np + j] = inv[P[i] * N + P[j]];
	ref_inverse(spp, np, sppinv);
	for (int i = 0; i < np; i++) {
		cp[i] = 0.0;
		for (int j = 0; j < np; j++)
			cp[i] += sppinv[i * np + j] * w[P[j]];
	}
	memcpy(wu, w, sizeof w);
	memcpy(fcopy, finv, sizeof finv);
	pofa_obert_block_update(fcopy, N, wu, mask, 1, POFA_OBERT_JOINT, scratch);
	for (int rr = 0; rr < N; rr++) {
		double d = 0.0;
		for (int i = 0; i < np; i++)
			d -= inv[rr * N + P[i]] * cp[i];
		NEAR(wu[rr], mask[rr] ? w[rr] + d : 0.0, 1e-3 * (1.0 + fabs(w[rr] + d)));
	}
	/* the 1x4 form: the pruned block's weights alone move it (block 1) */
	unsigned char m4[N];
	memset(m4, 1, sizeof m4);
	memset(m4 + 4, 0, 4);
	memcpy(wu4, w, sizeof w);
	memcpy(fcopy, finv, sizeof finv);
	pofa_obert_block_update(fcopy, N, wu4, m4, 4, POFA_OBERT_SUMMED, scratch);
	double sub[16], subinv[16], c[4];
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			sub[i * 4 + j] = inv[(4 + i) * N + 4 + j];
	ref_inverse(sub, 4, subinv);
	for (int i = 0; i < 4; i++) {
		c[i] = 0.0;
		for (int j = 0; j < 4; j++)
			c[i] += subinv[i * 4 + j] * w[4 + j];
	}
	for (int rr = 0; rr < N; rr++) {
		double d = 0.0;
		for (int i = 0; i < 4; i++)
			d -= inv[rr * N + 4 + i] * c[i];
		NEAR(wu4[rr], w[rr] + d, 1e-3 * (1.0 + fabs(w[rr] + d)));
		if (rr >= 4 && rr < 8)   /* the pruned block's own weights: to zero, as OBS wants */
			NEAR(w[rr] + d, 0.0, 1e-3);
	}
}

/* A toy problem: a quadratic loss L(w) = (w - w*)^T H (w - w*) / 2 whose
 * curvature H is not diagonal, w at its minimum w*, the gradients of
 * samples drawn so that their covariance is H (the empirical Fisher then
 * estimates H). Pruning half the weights, magnitude and OBS choose other
 * weights, and OBS (its saliency and update) loses less. */
static void test_obert_toy(void **st)
{
	(void)st;
	enum { N = 16, M = 4000 };
	pofa_rng r = { 5 };
	double L[N * N] = { 0 }, H[N * N];
	for (int i = 0; i < N; i++)   /* H = L L^T, curvature ten times larger on odd weights */
		for (int j = 0; j <= i; j++)
			L[i * N + j] = pofa_rng_normal(&r) * (i == j ? 2.0 : 0.6) * (i % 2 ? 3.0 : 1.0);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			double s = 0.0;
			for (int k = 0; k < N; k++)
				s += L[i * N + k] * L[j * N + k];
			H[i * N + j] = s;
		}
	float *g = malloc(sizeof(float) * N), finv[N * N], u[N], w[N], wo[N], rho[N];
	pofa_obert_block_reset(finv, N, 1e-3);
	for (int k = 0; k < M; k++) {
		double z[N];
		for (int i = 0; i < N; i++)
			z[i] = pofa_rng_normal(&r);
		for (int i = 0; i < N; i++) {
			double s = 0.0;
			for (int j = 0; j < N; j++)
				s += L[i * N + j] * z[j];
			g[i] = (float)s;
		}
		pofa_obert_block_add(finv, N, g, M, u);
	}
	free(g);
	for (int i = 0; i < N; i++)
		w[i] = (float)pofa_rng_normal(&r);
	/* magnitude: the 8 smallest |w| to zero */
	unsigned char mm[N], mo[N];
	for (int i = 0; i < N; i++) {
		int below = 0;
		for (int j = 0; j < N; j++)
			below += fabsf(w[j]) < fabsf(w[i]) || (fabsf(w[j]) == fabsf(w[i]) && j < i);
		mm[i] = below >= N / 2;
	}
	/* OBS: the 8 lowest saliencies, then the update */
	pofa_obert_block_saliency(finv, N, w, 1, rho);
	for (int i = 0; i < N; i++) {
		int below = 0;
		for (int j = 0; j < N; j++)
			below += rho[j] < rho[i] || (rho[j] == rho[i] && j < i);
		mo[i] = below >= N / 2;
	}
	assert_true(memcmp(mm, mo, N) != 0);   /* they choose differently */
	double scratch[N * (N + 1)];
	memcpy(wo, w, sizeof w);
	pofa_obert_block_update(finv, N, wo, mo, 1, POFA_OBERT_JOINT, scratch);
	double dm[N], dob[N], lm = 0.0, lo = 0.0;
	for (int i = 0; i < N; i++) {
		dm[i] = mm[i] ? 0.0 : -w[i];
		dob[i] = mo[i] ? wo[i] - w[i] : -w[i];
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			lm += 0.5 * dm[i] * H[i * N + j] * dm[j];
			lo += 0.5 * dob[i] * H[i * N + j] * dob[j];
		}
	if (!(lo < lm))
		fail_msg("the loss OBS adds: expected less than magnitude's %g, got %g", lm, lo);
	print_message("toy quadratic, half the weights pruned: magnitude adds %.3f to the loss, OBS %.3f\n", lm, lo);
}

/* through the masks: method = obert's state made, its gradients taken, the
 * masks at the target, the kept weights updated, the pruned ones zero */
static void test_obert_masks(void **st)
{
	(void)st;
	pofa_model *m = model(POFA_HEAD_MLM, 3), *ref = model(POFA_HEAD_MLM, 3);
	pofa_masks mk;
	pofa_err err;
	pofa_gmp g = { .s_init = 0.0f, .s_final = 0.5f, .t0 = 0, .t1 = 4, .every = 2, .freeze = 4,
	               .pattern = POFA_PATTERN_UNSTRUCTURED, .method = POFA_PRUNE_OBERT, .obert_block = 16,
	               .obert_damp = 1e-4, .obert_update = POFA_OBERT_JOINT };
	/* the memory preflight states from the config alone: the model's */
	int B = 0;
	size_t need = pofa_obert_memory_cfg(pofa_model_config(m), &g, &B);
	if (need != pofa_obert_memory(m, &g) || B != 16)
		fail_msg("the memory from the config: expected %zu bytes with B = 16, got %zu with B = %d",
		         pofa_obert_memory(m, &g), need, B);
	pofa_gmp g50 = g;
	g50.obert_block = 0;      /* the default: 50 with the paper's m = 1024 */
	g50.obert_grads = 1024;
	assert_int_equal(pofa_obert_memory_cfg(pofa_model_config(m), &g50, &B), pofa_obert_memory(m, &g50));
	assert_int_equal(B, 50);
	/* with fewer gradients an estimate, half of them (rounded up to the
	 * unit's width): 15 gradients 8 weights, 1x4 blocks 8, 5 gradients 3
	 * (1x4: 4); by default m is the steps between pruning steps (2 here) */
	static const struct { int grads, width, want; } rule[] = {
		{ 15, 1, 8 }, { 15, 4, 8 }, { 5, 1, 3 }, { 5, 4, 4 }, { 100, 1, 50 }, { 99, 4, 48 }, { 0, 1, 1 },
	};
	for (size_t i = 0; i < sizeof rule / sizeof *rule; i++) {
		pofa_gmp gr = g50;
		gr.obert_grads = rule[i].grads;
		gr.pattern = rule[i].width == 1 ? POFA_PATTERN_UNSTRUCTURED : POFA_PATTERN_BLOCK;
		gr.block = rule[i].width;
		int got = pofa_obert_default_block(m, &gr);
		if (got != rule[i].want)
			fail_msg("default block with %d gradients, unit %d: expected %d, got %d", rule[i].grads, rule[i].width,
			         rule[i].want, got);
	}
	assert_int_equal(pofa_obert_fits(need, 16, &err), 0);
	assert_int_equal(pofa_obert_fits((size_t)1 << 60, 16, &err), POFA_ERR_INPUT);
	if (!strstr(err.msg, "needs 1152921504.61 GB") || !strstr(err.msg, "method = magnitude"))
		fail_msg("the refusal: expected the figure and what to do, got: %s", err.msg);
	assert_int_equal(pofa_masks_init(&mk, m, &err), 0);
	if (pofa_masks_set_method(&mk, &g, &err))
		fail_msg("%s", err.msg);
	int ids[32];
	for (int i = 0; i < 32; i++)
		ids[i] = 5 + (i * 7) % 50;
	int labels[32];
	for (int i = 0; i < 32; i++)
		labels[i] = i % 3 ? POFA_IGNORE : ids[i];
	pofa_batch b = { .B = 4, .T = 8, .input_ids = ids, .mlm_labels = labels };
	for (int step = 0; step < 2; step++) {
		pofa_model_zero_grad(m);
		pofa_model_step_loss(m, &b, 0);
		pofa_model_backward(m, &b);
		assert_int_equal(pofa_masks_observe(&mk, &g, step, &err), 0);
	}
	if (pofa_masks_prune(&mk, 0.5, &g, &err))
		fail_msg("%s", err.msg);
	pofa_tensor *t, *tr;
	int nt = pofa_model_tensors(m, &t);
	pofa_model_tensors(ref, &tr);
	int64_t zero = 0, total = 0, moved = 0;
	for (int i = 0; i < nt; i++) {
		if (!t[i].prunable || t[i].absent)
			continue;
		for (int64_t j = 0; j < t[i].numel; j++) {
			zero += t[i].data[j] == 0.0f;
			moved += t[i].data[j] != 0.0f && t[i].data[j] != tr[i].data[j];
		}
		total += t[i].numel;
		assert_int_equal(pofa_tensor_zeros(&t[i]), t[i].numel / 2);   /* exactly the target, each matrix */
	}
	assert_true(zero == total / 2);
	if (!(moved > total / 4))
		fail_msg("the optimal update: expected most kept weights moved, got %lld of %lld", (long long)moved,
		         (long long)(total / 2));
	/* its state round trips through a checkpoint file */
	char path[600];
	assert_non_null(fx_tmpdir("obert"));
	fx_path(path, sizeof path, "pruner.safetensors");
	if (pofa_prune_methods[POFA_PRUNE_OBERT].save_state(&mk, path, &err) ||
	    pofa_prune_methods[POFA_PRUNE_OBERT].load_state(&mk, path, &err))
		fail_msg("%s", err.msg);
	fx_tmpdir_remove();
	/* N:M is not a pattern it prunes */
	pofa_masks_free(&mk);
	pofa_gmp nm = g;
	nm.pattern = POFA_PATTERN_NM, nm.n = 2, nm.m = 4;
	assert_int_equal(pofa_masks_init(&mk, m, &err), 0);
	assert_int_equal(pofa_masks_set_method(&mk, &nm, &err), POFA_ERR_INPUT);
	pofa_masks_free(&mk);
	pofa_model_free(m);
	pofa_model_free(ref);
}

/* the estimate is made of the last obert_grads gradients before a pruning
 * step, no more: masks that saw every step from 0 choose as masks that saw
 * only those last steps (same batches), to the bit */
static void test_obert_window(void **st)
{
	(void)st;
	pofa_err err;
	pofa_gmp g = { .s_init = 0.3f, .s_final = 0.5f, .t0 = 8, .t1 = 12, .every = 2, .freeze = 12,
	               .pattern = POFA_PATTERN_UNSTRUCTURED, .method = POFA_PRUNE_OBERT, .obert_block = 16,
	               .obert_grads = 2, .obert_damp = 1e-4, .obert_update = POFA_OBERT_JOINT };
	int64_t P = 1;
	while (P <= g.freeze && !pofa_gmp_update_step(&g, P))
		P++;
	assert_true(P >= 2 * g.obert_grads && P <= g.freeze);
	assert_true(pofa_gmp_target(&g, P) > 0.25);   /* the step prunes */
	pofa_model *m[2] = { model(POFA_HEAD_MLM, 3), model(POFA_HEAD_MLM, 3) };
	pofa_masks mk[2];
	for (int k = 0; k < 2; k++) {
		assert_int_equal(pofa_masks_init(&mk[k], m[k], &err), 0);
		if (pofa_masks_set_method(&mk[k], &g, &err))
			fail_msg("%s", err.msg);
		/* k = 0: every step from 0; k = 1: only the window's */
		for (int64_t step = k ? P - g.obert_grads : 0; step < P; step++) {
			int ids[32], labels[32];
			for (int i = 0; i < 32; i++) {
				ids[i] = 5 + (int)((i * 7 + step * 13) % 50);
				labels[i] = (i + step) % 3 ? POFA_IGNORE : ids[i];
			}
			pofa_batch b = { .B = 4, .T = 8, .input_ids = ids, .mlm_labels = labels };
			pofa_model_zero_grad(m[k]);
			pofa_model_step_loss(m[k], &b, 0);
			pofa_model_backward(m[k], &b);
			assert_int_equal(pofa_masks_observe(&mk[k], &g, step, &err), 0);
		}
		if (pofa_masks_prune(&mk[k], pofa_gmp_target(&g, P), &g, &err))
			fail_msg("%s", err.msg);
	}
	pofa_tensor *a, *b;
	int nt = pofa_model_tensors(m[0], &a);
	pofa_model_tensors(m[1], &b);
	for (int i = 0; i < nt; i++)
		for (int64_t j = 0; j < a[i].numel; j++)
			if (memcmp(&a[i].data[j], &b[i].data[j], sizeof(float)))
				fail_msg("%s[%lld]: from all %lld steps %.9g, from the last %d only %.9g: the estimate took "
				         "gradients from before its window", a[i].name, (long long)j, (long long)P, a[i].data[j],
				         g.obert_grads, b[i].data[j]);
	for (int k = 0; k < 2; k++) {
		pofa_masks_free(&mk[k]);
		pofa_model_free(m[k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_lr_rewind),
		cmocka_unit_test(test_masks_exact),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_lock_through_training),
		cmocka_unit_test(test_kd_gradient),
		cmocka_unit_test(test_kd_hidden),
		cmocka_unit_test(test_layers_from),
		cmocka_unit_test(test_fake_quant),
		cmocka_unit_test(test_one_quantizer),
		cmocka_unit_test(test_qat_ranges),
		cmocka_unit_test(test_obert_math),
		cmocka_unit_test(test_obert_toy),
		cmocka_unit_test(test_obert_masks),
		cmocka_unit_test(test_obert_window),
	};
	return cmocka_run_group_tests_name("sparse", tests, NULL, NULL);
}
