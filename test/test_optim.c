/* test_optim.c - AdamW against hand-computed steps, gradient clipping, and
 * the learning-rate schedules at known steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/pofa.h"

static pofa_model *tiny(enum pofa_head head)
{
	pofa_config c = fx_config(32, 8, 8);
	return fx_model(&c, head, 2, 4, 1, 1);
}


#define EXPECT_NEAR FX_NEAR

/* p = 0.5; gradients 0.1 then -0.3; lr 1e-3, wd 0.01, betas (0.9, 0.999),
 * eps 1e-8. Expected values computed by hand with torch.optim.AdamW's
 * formulas in double precision. */
static void test_adamw_steps(void **st)
{
	(void)st;
	pofa_model *m = tiny(POFA_HEAD_MLM);
	pofa_tensor *w = fx_tensor(m, "bert.encoder.layer.0.attention.self.query.weight");
	pofa_tensor *b = fx_tensor(m, "bert.encoder.layer.0.attention.self.query.bias");
	pofa_tensor *ln = fx_tensor(m, "bert.embeddings.LayerNorm.weight");
	pofa_tensor *pool = fx_tensor(m, "bert.pooler.dense.weight");
	assert_true(w->decay);
	assert_false(b->decay);
	assert_false(ln->decay);
	pofa_optim o = pofa_optim_default();
	o.weight_decay = 0.01;
	float pool0 = pool->data[0];
	w->data[0] = b->data[0] = ln->data[0] = 0.5f;
	float grads[2] = { 0.1f, -0.3f };
	double want_w[2] = { 0.49899500010000003, 0.4994841999611997 };
	double want_b[2] = { 0.4990000001, 0.49949418991120065 };
	for (int s = 0; s < 2; s++) {
		pofa_model_zero_grad(m);
		w->grad[0] = b->grad[0] = ln->grad[0] = grads[s];
		pool->grad[0] = 1.0f; /* the pooler does not train under the MLM head */
		pofa_model_adamw(m, &o, 1e-3f);
		EXPECT_NEAR(w->data[0], want_w[s], 2e-7);
		EXPECT_NEAR(b->data[0], want_b[s], 2e-7);
		EXPECT_NEAR(ln->data[0], want_b[s], 2e-7);
	}
	assert_int_equal(o.step, 2);
	EXPECT_NEAR(pofa_model_moment1(m)[w->data - pofa_model_params(m)], -0.021, 1e-8);
	EXPECT_NEAR(pofa_model_moment2(m)[w->data - pofa_model_params(m)], 9.999e-05, 1e-10);
	assert_true(pool->data[0] == pool0);
	/* a weight with zero gradient still decays: p *= 1 - lr * wd */
	float before = w->data[1];
	pofa_model_zero_grad(m);
	pofa_model_adamw(m, &o, 1e-3f);
	EXPECT_NEAR(w->data[1], before * (1.0 - 1e-5), 1e-9);
	pofa_model_free(m);
}

static void test_clip(void **st)
{
	(void)st;
	pofa_model *m = tiny(POFA_HEAD_CLS);
	pofa_model_zero_grad(m);
	pofa_tensor *a = fx_tensor(m, "bert.encoder.layer.1.output.dense.weight");
	pofa_tensor *p = fx_tensor(m, "bert.pooler.dense.bias");
	a->grad[3] = 3.0f;
	p->grad[0] = 4.0f;   /* pooler trains under the classification head */
	float norm = pofa_model_clip_grad(m, 1.0f);
	EXPECT_NEAR(norm, 5.0, 1e-6);
	EXPECT_NEAR(a->grad[3], 3.0 / (5.0 + 1e-6), 1e-6);
	EXPECT_NEAR(p->grad[0], 4.0 / (5.0 + 1e-6), 1e-6);
	/* below the limit: untouched */
	norm = pofa_model_clip_grad(m, 10.0f);
	EXPECT_NEAR(norm, 1.0, 1e-5);
	EXPECT_NEAR(a->grad[3], 3.0 / (5.0 + 1e-6), 1e-6);
	pofa_model_free(m);

	/* tensors large enough to be scaled over the threads (2 here): every
	 * element scaled once, as by one product */
	pofa_config c = fx_config(2048, 64, 8);
	m = fx_model(&c, POFA_HEAD_MLM, 2, 4, 2, 1);
	pofa_model_zero_grad(m);
	pofa_tensor *e = fx_tensor(m, "bert.embeddings.word_embeddings.weight");
	assert_true(e->numel >= 65536);
	for (int64_t i = 0; i < e->numel; i++)
		e->grad[i] = (float)(i % 7) * 0.5f;
	double ss = 0.0;
	for (int64_t i = 0; i < e->numel; i++)
		ss += (double)e->grad[i] * e->grad[i];
	norm = pofa_model_clip_grad(m, 1.0f);
	float coef = 1.0f / (norm + 1e-6f);
	EXPECT_NEAR(norm, sqrt(ss), 1e-4 * sqrt(ss));
	for (int64_t i = 0; i < e->numel; i++)
		if (e->grad[i] != (float)(i % 7) * 0.5f * coef)
			fail_msg("word embeddings' gradient %lld: %.9g after clipping, expected %.9g", (long long)i,
			         e->grad[i], (float)(i % 7) * 0.5f * coef);
	pofa_model_free(m);
}

static void test_schedules(void **st)
{
	(void)st;
	pofa_sched lin = { .kind = POFA_SCHED_LINEAR, .lr = 1.0f, .warmup = 10, .total = 110 };
	EXPECT_NEAR(pofa_lr(&lin, 0), 0.0, 0);
	EXPECT_NEAR(pofa_lr(&lin, 5), 0.5, 1e-7);
	EXPECT_NEAR(pofa_lr(&lin, 10), 1.0, 1e-7);
	EXPECT_NEAR(pofa_lr(&lin, 60), 0.5, 1e-7);
	EXPECT_NEAR(pofa_lr(&lin, 109), 0.01, 1e-7);
	EXPECT_NEAR(pofa_lr(&lin, 110), 0.0, 0);
	EXPECT_NEAR(pofa_lr(&lin, 500), 0.0, 0);
	pofa_sched con = { .kind = POFA_SCHED_CONSTANT, .lr = 2e-5f, .warmup = 4, .total = 100 };
	EXPECT_NEAR(pofa_lr(&con, 1), 0.5e-5, 1e-12);
	EXPECT_NEAR(pofa_lr(&con, 4), 2e-5, 1e-12);
	EXPECT_NEAR(pofa_lr(&con, 1000), 2e-5, 1e-12);
	pofa_sched nowarm = { .kind = POFA_SCHED_LINEAR, .lr = 1.0f, .warmup = 0, .total = 4 };
	EXPECT_NEAR(pofa_lr(&nowarm, 0), 1.0, 0);
	EXPECT_NEAR(pofa_lr(&nowarm, 3), 0.25, 1e-7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adamw_steps),
		cmocka_unit_test(test_clip),
		cmocka_unit_test(test_schedules),
	};
	return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
