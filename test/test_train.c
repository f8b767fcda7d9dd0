/* test_train.c - training runs: bit-identical losses run to run, exact
 * resume from saved model + optimizer state, BLAS against the naive
 * reference, and a loss that actually falls on a learnable stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model/internal.h"
#include "data/build/synth.h"

enum { B = 8, T = 32 };

typedef struct {
	pofa_synth s;
	int ids[B * T], types[B * T], mask[B * T], labels[B * T];
	pofa_batch b;
} feed;

static void feed_init(feed *f, int V, uint64_t seed)
{
	assert_int_equal(pofa_synth_init(&f->s, V, seed), 0);
	f->b = (pofa_batch){ .B = B, .T = T, .input_ids = f->ids, .token_type_ids = f->types,
	                     .attention_mask = f->mask, .mlm_labels = f->labels };
}

static pofa_config cfg_small(void)
{
	pofa_config c = fx_config(512, 64, 64);
	c.num_attention_heads = 2;  /* bert-tiny's */
	c.intermediate_size = 256;
	return c;
}

/* runs steps [from, to) and records each loss; the feed is advanced for
 * skipped steps so that a resumed run sees the same batches */
static void train(pofa_model *m, pofa_optim *o, feed *f, int from, int to, float *losses)
{
	pofa_sched sch = { .kind = POFA_SCHED_LINEAR, .lr = 2e-3, .warmup = 5, .total = 40 };
	for (int step = from; step < to; step++) {
		pofa_synth_batch(&f->s, B, T, 1, f->ids, f->types, f->mask, f->labels);
		pofa_model_zero_grad(m);
		losses[step] = pofa_model_step_loss(m, &f->b, 1);
		pofa_model_backward(m, &f->b);
		pofa_model_clip_grad(m, 1.0f);
		pofa_model_adamw(m, o, pofa_lr(&sch, step));
	}
}

static pofa_model *fresh(int threads)
{
	pofa_config c = cfg_small();
	pofa_err err;
	pofa_model *m = pofa_model_new(&c, POFA_HEAD_MLM, B, T, threads, &err);
	assert_non_null(m);
	pofa_model_init(m, 42);
	return m;
}

static void test_determinism(void **st)
{
	(void)st;
	for (int threads = 1; threads <= 2; threads++) {
		float a[20], b[20];
		for (int run = 0; run < 2; run++) {
			pofa_model *m = fresh(threads);
			pofa_optim o = pofa_optim_default();
			feed f;
			feed_init(&f, 512, 7);
			train(m, &o, &f, 0, 20, run ? b : a);
			pofa_synth_free(&f.s);
			pofa_model_free(m);
		}
		for (int i = 0; i < 20; i++)
			if (memcmp(&a[i], &b[i], sizeof a[i]))
				fail_msg("%d threads, step %d: loss %.9g then %.9g", threads, i + 1, a[i], b[i]);
		for (int i = 0; i < 20; i++)
			assert_true(isfinite(a[i]) && a[i] > 0.0f);
	}
}

static void test_resume(void **st)
{
	(void)st;
	float full[20], part[20];
	pofa_model *m = fresh(2);
	pofa_optim o = pofa_optim_default();
	feed f;
	feed_init(&f, 512, 9);
	train(m, &o, &f, 0, 20, full);
	pofa_synth_free(&f.s);
	pofa_model_free(m);

	char dir[600], path[700];
	const char *d = fx_tmpdir("resume");
	assert_non_null(d);
	snprintf(dir, sizeof dir, "%s/model", d);
	pofa_err err;
	m = fresh(2);
	o = pofa_optim_default();
	feed_init(&f, 512, 9);
	train(m, &o, &f, 0, 10, part);
	assert_int_equal(pofa_model_save(m, dir, NULL, &err), 0);
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	assert_int_equal(pofa_optim_save(m, &o, path, &err), 0);
	pofa_model_free(m);

	/* a new process would start here: fresh model, other seed, loaded state */
	int fr;
	m = pofa_model_load(dir, POFA_HEAD_MLM, B, T, 2, 1, &fr, &err);
	if (!m)
		fail_msg("%s", err.msg);
	pofa_optim o2 = pofa_optim_default();
	if (pofa_optim_load(m, &o2, path, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(o2.step, 10);
	train(m, &o2, &f, 10, 20, part);
	for (int i = 0; i < 20; i++)
		if (memcmp(&full[i], &part[i], sizeof full[i]))
			fail_msg("step %d: uninterrupted loss %.9g, resumed %.9g", i + 1, full[i], part[i]);
	pofa_synth_free(&f.s);
	pofa_model_free(m);
	assert_int_equal(fx_tmpdir_remove(), 0);
}

static void test_naive_matches_blas(void **st)
{
	(void)st;
	pofa_model *a = fresh(2), *b = fresh(2);
	pofa_model_set_naive(b, 1);
	feed f;
	feed_init(&f, 512, 3);
	pofa_synth_batch(&f.s, B, T, 1, f.ids, f.types, f.mask, f.labels);
	pofa_model_zero_grad(a);
	pofa_model_zero_grad(b);
	float la = pofa_model_step_loss(a, &f.b, 1), lb = pofa_model_step_loss(b, &f.b, 1);
	if (!(fabsf(la - lb) <= 1e-5f * fabsf(la)))
		fail_msg("loss with cblas_sgemm %.9g, naive %.9g", la, lb);
	pofa_model_backward(a, &f.b);
	pofa_model_backward(b, &f.b);
	size_t n = pofa_model_num_params(a);
	const float *ga = pofa_model_grads(a), *gb = pofa_model_grads(b);
	double num = 0.0, den = 0.0;
	for (size_t i = 0; i < n; i++) {
		num += ((double)ga[i] - gb[i]) * ((double)ga[i] - gb[i]);
		den += (double)gb[i] * gb[i];
	}
	if (!(sqrt(num / den) < 1e-4))
		fail_msg("gradients differ: relative L2 %.3e (want < 1e-4)", sqrt(num / den));
	pofa_synth_free(&f.s);
	pofa_model_free(a);
	pofa_model_free(b);
}

/* the MLM loss on the synthetic stream falls from ~log(V) well below it */
static void test_learns(void **st)
{
	(void)st;
	pofa_model *m = fresh(2);
	pofa_optim o = pofa_optim_default();
	feed f;
	feed_init(&f, 512, 5);
	pofa_sched sch = { .kind = POFA_SCHED_LINEAR, .lr = 3e-3, .warmup = 20, .total = 300 };
	double first = 0.0, last = 0.0;
	for (int step = 0; step < 300; step++) {
		pofa_synth_batch(&f.s, B, T, 1, f.ids, f.types, f.mask, f.labels);
		pofa_model_zero_grad(m);
		float l = pofa_model_step_loss(m, &f.b, 1);
		pofa_model_backward(m, &f.b);
		pofa_model_clip_grad(m, 1.0f);
		pofa_model_adamw(m, &o, pofa_lr(&sch, step));
		if (step < 20)
			first += l / 20.0;
		if (step >= 280)
			last += l / 20.0;
	}
	/* a model that learns nothing stays near log(512) = 6.24 */
	if (!(first > 5.5 && last < first - 1.0))
		fail_msg("mean loss of the first 20 steps %.3f, of the last 20 %.3f: "
		         "expected a fall of more than 1.0", first, last);
	pofa_synth_free(&f.s);
	pofa_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_naive_matches_blas),
		cmocka_unit_test(test_learns),
	};
	return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}
