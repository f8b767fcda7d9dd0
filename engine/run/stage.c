/*
 * stage.c - a training stage (mlm, prune, finetune, qat): its model and
 * teacher, its data, its schedule, and the loop, one step of which is
 *
 *     prune if due -> batch -> forward -> task loss + KD -> backward
 *     -> mask gradients -> clip -> AdamW -> mask weights -> log
 *
 * with commands taken at every step boundary (control.c), evaluations and
 * checkpoints at their intervals.
 */
#include "engine/run/internal.h"
#include "engine/run/dist.h"
#include "engine/model/folder.h"
#include "engine/io/safetensors.h"
#include "data/base/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- model and data ------------------------------------------------------------------ */

/* the folder of a model: a stage's (from >= 0), the folder the stage's
 * from or teacher names (POFA_FROM_DIR, POFA_TEACHER_DIR), or the [model]
 * section's ("" for a preset) */
static void from_dir(const stage_ctx *c, int from, char *dir, size_t n)
{
	dir[0] = 0;
	if (from >= 0)
		pofa_run_stage_dir(c->r, from, dir, n);
	else if (from == POFA_FROM_DIR)
		snprintf(dir, n, "%s", c->s.from_dir);
	else if (from == POFA_TEACHER_DIR)
		snprintf(dir, n, "%s", c->s.teacher_dir);
	else if (c->r->rc.model_dir[0])
		snprintf(dir, n, "%s", c->r->rc.model_dir);
}

int pofa_stage_from(const pofa_stage *s)
{
	return s->from_idx >= 0 ? s->from_idx : s->from_dir[0] ? POFA_FROM_DIR : -1;
}

int pofa_stage_teacher(const pofa_stage *s)
{
	return s->teacher_idx >= 0 ? s->teacher_idx : s->teacher_dir[0] ? POFA_TEACHER_DIR : -1;
}

/* the model a stage starts from, with the head it trains */
pofa_model *pofa_stage_model(stage_ctx *c, enum pofa_head head, enum pofa_model_use use, int from, int nlabels,
                             pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	char dir[1200];
	pofa_config cfg;
	from_dir(c, from, dir, sizeof dir);
	if (dir[0]) {
		char path[1300];
		snprintf(path, sizeof path, "%s/config.json", dir);
		if (pofa_config_load(&cfg, path, err))
			return NULL;
	} else {
		pofa_config_preset(&cfg, r->rc.preset, err);
		cfg.vocab_size = pofa_vocab_size(r->tk);
		cfg.pad_token_id = pofa_tok_pad(r->tk);
		if (r->rc.max_position)
			cfg.max_position_embeddings = r->rc.max_position;
	}
	if (cfg.vocab_size != pofa_vocab_size(r->tk)) {
		pofa_error(err, POFA_ERR_INPUT, "%s: the model's vocab_size %d differs from %s (%d tokens)",
		           dir, cfg.vocab_size, r->rc.vocab, pofa_vocab_size(r->tk));
		return NULL;
	}
	if (head == POFA_HEAD_CLS) {
		cfg.num_labels = nlabels;
		memset(cfg.label_names, 0, sizeof cfg.label_names);
		for (int k = 0; k < nlabels && k < 64; k++)
			snprintf(cfg.label_names[k], sizeof cfg.label_names[k], "%s", c->labels.names[k]);
	}
	/* the recipe's dropout is the run's: config.json keeps the model's own */
	pofa_config own = cfg;
	if (r->rc.hidden_dropout >= 0) cfg.hidden_dropout_prob = r->rc.hidden_dropout;
	if (r->rc.attention_dropout >= 0) cfg.attention_probs_dropout_prob = r->rc.attention_dropout;
	if (s->hidden_dropout >= 0) cfg.hidden_dropout_prob = s->hidden_dropout;
	if (s->attention_dropout >= 0) cfg.attention_probs_dropout_prob = s->attention_dropout;
	if (s->classifier_dropout >= 0) cfg.classifier_dropout = s->classifier_dropout;
	char wpath[1300];
	snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
	if (dir[0] && pofa_model_check_size(&cfg, head, wpath, err))
		return NULL;
	pofa_model *m = pofa_model_new_for(&cfg, head, use, s->batch, s->seq, r->threads, err);
	if (!m) {   /* a batch or sequence the model cannot take: the recipe's */
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		pofa_error(err, err->status, "%s:%d: stage %s: %s", r->rc.path, s->line, s->name, msg);
		return NULL;
	}
	pofa_model_set_saved_dropout(m, own.hidden_dropout_prob, own.attention_probs_dropout_prob,
	                             own.classifier_dropout);
	pofa_model_init(m, pofa_mix64(pofa_stage_seed(&r->rc, s) ^ 0x9e3779b97f4a7c15ULL));
	if (dir[0]) {
		int fresh = 0;
		if (pofa_model_load_weights(m, wpath, &fresh, err)) {
			pofa_model_free(m);
			return NULL;
		}
		static const char *const what[POFA_HEAD_COUNT] = { "masked-LM", "classification", "span" };
		if (fresh && use == POFA_MODEL_TRAIN && !r->resume)
			pofa_run_log(r, c->i, POFA_EV_LOG, "stage %s: %s has no %s head; it starts from the seed's random "
			             "weights", s->name, wpath, what[head]);
	}
	return m;
}

static int load_data(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	if (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE) {
		if (pofa_mlm_load(r->rc.corpus, r->tk, s->seq, r->rc.seed, &c->mlm, err))
			return err->status;
		c->mlm.whole_word = s->whole_word;
		c->mlm.mask_prob = s->mask_prob;
		c->has_mlm = 1;
		return POFA_OK;
	}
	/* a classification model keeps its own labels, in its own order; the
	 * task's are mapped onto them by name */
	char dir[1200];
	from_dir(c, pofa_stage_from(s), dir, sizeof dir);
	if (pofa_task_head(&s->task) == POFA_HEAD_CLS && dir[0] && pofa_model_dir_labels(dir, &c->labels, err) < 0)
		return err->status;
	if (pofa_taskset_load(&s->task, s->task.train, r->tk, s->seq, &c->labels, &c->train, err))
		return err->status;
	pofa_run_log(r, c->i, POFA_EV_LOG, "%s", c->train.summary);
	if (s->task.dev[0] && (pofa_taskset_load(&s->task, s->task.dev, r->tk, s->seq, &c->labels, &c->dev, err) ||
	                       pofa_taskset_sample(&c->dev, s->eval_examples, err)))
		return err->status;
	if (s->task.dev[0])
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s", c->dev.summary);
	c->order = malloc((size_t)(c->train.n + 1) * sizeof *c->order);
	return c->order ? POFA_OK : pofa_error(err, POFA_ERR_RUN, "out of memory");
}

void pofa_stage_order(stage_ctx *c)
{
	for (long k = 0; k < c->train.n; k++)
		c->order[k] = k;
	if (c->s.shuffle)
		pofa_shuffle(c->order, c->train.n, pofa_mix64(pofa_stage_seed(&c->r->rc, &c->s) ^
		                                              (uint64_t)c->epoch * 0x9e37));
}

/* the next training batch; returns its size */
static int next_batch(stage_ctx *c)
{
	int B = c->s.batch;
	if (c->has_mlm) {
		pofa_mlm_next(&c->mlm, B, c->ids, c->types, c->mask, c->lab);
		return B;
	}
	long idx[4096];
	int b = 0;
	while (b < B) {
		if (c->cursor >= c->train.n) {
			c->epoch++;
			c->cursor = 0;
			pofa_stage_order(c);
			if (b > 0)
				break;   /* an epoch's last batch may be short */
		}
		idx[b++] = c->order[c->cursor++];
	}
	pofa_taskset_batch(&c->train, idx, b, c->ids, c->types, c->mask, c->lab, c->st, c->en);
	return b;
}

void pofa_stage_data_pos(const stage_ctx *c, long *epoch, long *cursor)
{
	*epoch = c->has_mlm ? c->mlm.epoch : c->epoch;
	*cursor = c->has_mlm ? c->mlm.cursor : c->cursor;
}

/* ---- the schedule ------------------------------------------------------------------ */

/* the stage's pruning schedule in steps: the stage (with its live edits) is
 * the one truth, this is how it reads for the stage's total */
pofa_gmp pofa_stage_ctx_gmp(const stage_ctx *c) { return pofa_stage_gmp(&c->s, c->N); }

/* the learning rate of update t: rewinding inside a pruning stage's window */
double pofa_stage_lr(const stage_ctx *c, int64_t t)
{
	const pofa_stage *s = &c->s;
	pofa_gmp g = pofa_stage_ctx_gmp(c);
	pofa_sched sc = { .kind = s->schedule, .lr = s->lr, .warmup = c->warm, .total = c->N,
	                  .t0 = g.t0, .t1 = g.t1, .every = g.every };
	if (sc.kind == POFA_SCHED_REWIND && !s->prune)
		sc.kind = POFA_SCHED_LINEAR;   /* nothing to rewind to */
	return pofa_lr(&sc, t);
}

void pofa_stage_schedule(const stage_ctx *c, pofa_schedule *out)
{
	const pofa_stage *s = &c->s;
	pofa_gmp g = pofa_stage_ctx_gmp(c);
	*out = (pofa_schedule){
		.kind = s->kind, .prune = s->prune, .has_teacher = c->teacher != NULL, .pattern = s->pattern,
		.global = s->global, .total = c->N, .t0 = g.t0, .t1 = g.t1, .every = g.every, .freeze = g.freeze,
		.s_init = g.s_init, .s_final = g.s_final, .lr = s->lr,
		.alpha_task = c->teacher ? s->alpha_task : 1.0f, .alpha_kd = c->teacher ? s->alpha_kd : 0.0f,
		.temperature = s->temperature,
	};
}

/* ---- what a stage reports ---------------------------------------------------------- */

enum pofa_stage_status pofa_stage_fail(stage_ctx *c, const pofa_err *err)
{
	pofa_event e = pofa_ev_new(POFA_EV_ERROR, c->i, c->r);
	e.step = c->step;
	snprintf(e.text, sizeof e.text, "%s", err->msg);
	pofa_run_emit(c->r, &e);
	c->status = POFA_STAGE_FAILED;
	c->r->fail_status = err->status;
	return POFA_STAGE_FAILED;
}

/* a row of sparsity.csv per prunable matrix */
static void emit_sparsity(stage_ctx *c)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(c->m, &t);
	for (int k = 0; k < nt; k++) {
		if (!t[k].prunable)
			continue;
		pofa_event e = pofa_ev_new(POFA_EV_SPARSITY, c->i, c->r);
		e.step = c->step;
		e.total = c->N;
		e.layer = t[k].layer;
		e.role = t[k].role;
		e.numel = t[k].numel;
		e.nnz = t[k].numel - pofa_tensor_zeros(&t[k]);
		e.sparsity = pofa_tensor_sparsity(&t[k]);
		e.sparsity_target = c->has_masks ? c->mk.target[k] : 0.0;
		e.threshold = c->has_masks ? c->mk.threshold[k] : 0.0;
		pofa_run_emit(c->r, &e);
	}
}

/* the interval's means as a metrics row, then the sums start again */
static void emit_metrics(stage_ctx *c, double lr, int64_t epoch)
{
	if (c->nsum == 0)
		return;
	pofa_event e = pofa_ev_new(POFA_EV_METRICS, c->i, c->r);
	e.step = c->step;
	e.total = c->N;
	e.epoch = epoch;
	e.lr = lr;
	e.loss_task = c->sum_task / c->nsum;
	e.loss_kd = c->sum_kd / c->nsum;
	e.loss_total = c->sum_total / c->nsum;
	e.teacher_loss = c->teacher ? c->sum_teacher / c->nsum : NAN;
	e.grad_norm = c->sum_gn / c->nsum;
	e.sparsity_target = c->last_target;
	e.sparsity = pofa_model_sparsity(c->m);
	double dt = pofa_run_now() - c->t_interval;
	e.tokens_per_s = dt > 0 ? c->tokens / dt : 0.0;
	pofa_run_emit(c->r, &e);
	c->sum_task = c->sum_kd = c->sum_total = c->sum_teacher = c->sum_gn = 0.0;
	c->nsum = 0;
	c->tokens = 0;
	c->t_interval = pofa_run_now();
	if (c->has_masks || c->s.prune)
		emit_sparsity(c);
}

/* ---- setting a stage up -------------------------------------------------------------- */

/* the student, and the teacher it distils from */
static int setup_models(stage_ctx *c, enum pofa_head head, pofa_err *err)
{
	const pofa_stage *s = &c->s;
	c->m = pofa_stage_model(c, head, POFA_MODEL_TRAIN, pofa_stage_from(s), c->labels.n, err);
	if (!c->m)
		return err->status;
	int ti = pofa_stage_teacher(s);
	if (ti == -1)
		return POFA_OK;
	char td[1200], tp[1300];
	from_dir(c, ti, td, sizeof td);
	/* a classifier teaches a classifier of the same labels in the same
	 * order: its logits are compared class by class */
	if (head == POFA_HEAD_CLS) {
		pofa_labels tl = { 0 };
		int has = pofa_model_dir_labels(td, &tl, err);
		if (has < 0)
			return err->status;
		int same = has > 0 && tl.n == c->labels.n;
		for (int k = 0; same && k < tl.n; k++)
			same = !strcmp(tl.names[k], c->labels.names[k]);
		if (has > 0 && !same) {
			char a[300], b[300];
			pofa_labels_list(&tl, a, sizeof a);
			pofa_labels_list(&c->labels, b, sizeof b);
			pofa_labels_free(&tl);
			return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: teacher %s has the labels %s, the student "
			                  "%s: distillation needs the same labels in the same order", c->r->rc.path,
			                  s->line, s->name, td, a, b);
		}
		pofa_labels_free(&tl);
	}
	c->teacher = pofa_stage_model(c, head, POFA_MODEL_INFER, ti, c->labels.n, err);
	if (!c->teacher)
		return err->status;
	pofa_model_set_dropout(c->teacher, 0);
	snprintf(tp, sizeof tp, "%s/model.safetensors", td);
	int fresh = 0;
	if (pofa_model_load_weights(c->teacher, tp, &fresh, err))
		return err->status;
	if (fresh)
		return pofa_error(err, POFA_ERR_INPUT, "stage %s: teacher %s has no %s head; a teacher must be "
		                  "trained on the same task", s->name, s->teacher, pofa_head_names[head]);
	if (head == POFA_HEAD_MLM) {
		/* distillation covers every non-padding token */
		pofa_model_set_mlm_positions(c->m, POFA_MLM_ALL);
		pofa_model_set_mlm_positions(c->teacher, POFA_MLM_ALL);
	}
	return POFA_OK;
}

/* data, models, schedule, masks, optimizer and batch buffers; a resumed
 * stage restores its checkpoint and replays its live edits */
static int setup_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	pofa_stage *s = &c->s;
	enum pofa_head head = (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE) ? POFA_HEAD_MLM
	                      : pofa_task_head(&s->task);
	if (load_data(c, err) || setup_models(c, head, err))
		return err->status;
	pofa_model_set_seed(c->m, pofa_mix64(pofa_stage_seed(&r->rc, s) ^ 0xd0d0));
	long ntrain = c->has_mlm ? c->mlm.ntrain : c->train.n;
	c->N = pofa_stage_total_steps(s, ntrain);
	c->warm = pofa_steps_of(s->warmup, c->N);
	char why[256];
	if (pofa_stage_check(s, c->N, why, sizeof why))   /* a schedule in epochs: now it has steps */
		return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: %s", r->rc.path, s->line, s->name, why);
	/* masks: pruning, pattern lock, and QAT keeps the pattern too */
	int lock = s->lock || s->kind == POFA_STAGE_QAT;
	if (s->prune || lock) {
		if (pofa_masks_init(&c->mk, c->m, err))
			return err->status;
		c->has_masks = 1;
		if (lock) {
			pofa_masks_lock(&c->mk);
			c->last_target = pofa_model_sparsity(c->m);
		}
	}
	if (s->kind == POFA_STAGE_QAT && pofa_model_set_qat(c->m, 1, s->per_channel, err))
		return err->status;
	c->opt = pofa_optim_default();
	c->opt.beta1 = s->beta1;
	c->opt.beta2 = s->beta2;
	c->opt.eps = s->eps;
	c->opt.weight_decay = s->weight_decay;
	int B = s->batch, T = s->seq;
	c->buf = malloc((size_t)B * (4 * T + 2) * sizeof(int));
	if (!c->buf)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	c->ids = c->buf;
	c->types = c->ids + B * T;
	c->mask = c->types + B * T;
	c->lab = c->mask + B * T;
	c->st = c->lab + B * T;
	c->en = c->st + B;
	if (!c->has_mlm)
		pofa_stage_order(c);
	if (r->resume && c->i == r->start_stage && r->start_ckpt[0] && pofa_restore(c, err))
		return err->status;
	if (r->edits[c->i].set && pofa_apply_edit(c, &r->edits[c->i], 1, why, sizeof why))
		pofa_run_log(r, c->i, POFA_EV_LOG, "saved schedule edit not applied: %s", why);
	return POFA_OK;
}

/* ---- one training step, and the loop --------------------------------------------------- */

/* gradual magnitude pruning: new masks at the schedule's target when due */
static int prune_if_due(stage_ctx *c, pofa_err *err)
{
	pofa_gmp g = pofa_stage_ctx_gmp(c);
	if (!c->s.prune || !pofa_gmp_update_step(&g, c->step))
		return POFA_OK;
	double target = pofa_gmp_target(&g, c->step);
	if (pofa_masks_prune(&c->mk, target, &g, err))
		return err->status;
	c->last_target = target;
	if (c->r->nranks > 1) {
		/* the ranks prune the same weights: their masks must be the same
		 * bytes, or the job stops (a divergence is a bug, not noise) */
		uint64_t h = pofa_fnv1a(c->mk.m, c->mk.n);
		if (!pofa_dist_agree(h))
			return pofa_error(err, POFA_ERR_RUN, "stage %s, step %lld: the ranks' masks differ (rank %d's digest "
			                  "%016llx)", c->s.name, (long long)c->step, c->r->rank, (unsigned long long)h);
	}
	double reached = pofa_model_sparsity(c->m);
	/* said when the figures move: between end and freeze the masks are
	 * recomputed at the same target, and the log would repeat one line */
	if (c->said_prune && fabs(target - c->said_target) < 5e-5 && fabs(reached - c->said_reached) < 5e-5)
		return POFA_OK;
	c->said_prune = 1;
	c->said_target = target;
	c->said_reached = reached;
	pofa_event e = pofa_ev_new(POFA_EV_PRUNE, c->i, c->r);
	e.step = c->step;
	e.total = c->N;
	e.sparsity_target = target;
	e.sparsity = reached;
	snprintf(e.text, sizeof e.text, "masks recomputed: target %.4f, reached %.4f", target, e.sparsity);
	if (c->r->nranks > 1)   /* said, so that a test (and a user) sees the check made */
		snprintf(e.text + strlen(e.text), sizeof e.text - strlen(e.text), "; the same on all %d ranks",
		         c->r->nranks);
	pofa_run_emit(c->r, &e);
	return POFA_OK;
}

typedef struct { double task, kd, teacher, total; } step_losses;

/* what the step minimises: the task loss, or with a teacher the weighted
 * sum of task and distillation losses */
static double total_loss(const stage_ctx *c, const step_losses *l)
{
	return c->teacher ? c->s.alpha_task * l->task + c->s.alpha_kd * l->kd : l->task;
}

/* the student's task loss and, with a teacher, the distillation loss: both
 * set the logits' gradient, weighted, for the backward pass */
static int losses(stage_ctx *c, const pofa_batch *b, step_losses *l, pofa_err *err)
{
	const pofa_stage *s = &c->s;
	memset(l, 0, sizeof *l);
	l->task = pofa_model_task_loss(c->m, b, c->teacher ? s->alpha_task : 1.0f);
	if (c->teacher) {
		if (pofa_model_forward(c->teacher, b, 0, err))
			return err->status;
		l->teacher = pofa_model_task_loss(c->teacher, b, 0.0f);
		const float *tl = pofa_model_logits(c->teacher, NULL, NULL);
		l->kd = pofa_model_kd(c->m, tl, s->temperature, s->alpha_kd);
	}
	l->total = total_loss(c, l);
	return POFA_OK;
}

static int losses_finite(stage_ctx *c, const step_losses *l, pofa_err *err)
{
	const pofa_stage *s = &c->s;
	if (!isfinite(l->total))
		return pofa_error(err, POFA_ERR_RUN, "%s:%d: stage %s: the loss is not finite at step %lld (task %g, "
		                  "KD %g); the last checkpoint is kept: resume after lowering lr", c->r->rc.path, s->line,
		                  s->name, (long long)c->step + 1, l->task, l->kd);
	return POFA_OK;
}

/* a QAT input range of this rank's rows made the whole batch's */
static void range_over_ranks(float *lo, float *hi)
{
	pofa_dist_min_f(lo, 1);
	pofa_dist_max_f(hi, 1);
}

/* rows [b0, b1) of a batch */
static pofa_batch shard_of(const pofa_batch *b, int b0, int b1)
{
	pofa_batch s = *b;
	size_t T = (size_t)b->T;
	s.B = b1 - b0;
	s.input_ids = b->input_ids + b0 * T;
	s.token_type_ids = b->token_type_ids + b0 * T;
	s.attention_mask = b->attention_mask + b0 * T;
	s.mlm_labels = b->mlm_labels ? b->mlm_labels + b0 * T : NULL;
	s.labels = b->labels ? b->labels + b0 : NULL;
	s.start_positions = b->start_positions ? b->start_positions + b0 : NULL;
	s.end_positions = b->end_positions ? b->end_positions + b0 : NULL;
	return s;
}

/* backward finished layer l: its gradients go to the all-reduce thread */
static void send_layer(void *arg, int l)
{
	stage_ctx *c = arg;
	float *ptr[64];
	size_t len[64];
	int n = pofa_model_grad_ranges(c->m, l, ptr, len, 64);
	for (int k = 0; k < n; k++)
		pofa_dist_queue_push(c->sendq, ptr[k], len[k]);
}

/* A step's losses and gradients. Alone: the whole batch. With several
 * ranks (dist.h): this rank's rows of the same whole batch, each loss
 * divided by the whole batch's count, then the gradients and losses summed
 * over the ranks, so that clipping and AdamW see the single process's
 * gradient (up to the order of the sums). */
static int step_grads(stage_ctx *c, const pofa_batch *b, step_losses *l, pofa_err *err)
{
	pofa_run *r = c->r;
	pofa_model_zero_grad(c->m);
	if (r->nranks < 2) {
		if (pofa_model_forward(c->m, b, 1, err) || losses(c, b, l, err))
			return err->status;
		pofa_model_backward(c->m, b);
		return losses_finite(c, l, err);
	}
	int b0, b1;
	pofa_dist_shard(b->B, &b0, &b1);
	pofa_loss_den den, tden;
	pofa_model_loss_den(c->m, b, &den);
	pofa_model_set_shard(c->m, b0, &den, range_over_ranks);
	if (c->teacher) {
		pofa_model_loss_den(c->teacher, b, &tden);
		pofa_model_set_shard(c->teacher, b0, &tden, NULL);
	}
	memset(l, 0, sizeof *l);
	int rc = POFA_OK;
	if (r->overlap && !c->sendq && !(c->sendq = pofa_dist_queue_new()))
		return pofa_error(err, POFA_ERR_RUN, "cannot start the all-reduce thread");
	if (c->sendq)
		pofa_model_on_layer_grads(c->m, send_layer, c);
	if (b1 > b0) {
		pofa_batch sb = shard_of(b, b0, b1);
		rc = pofa_model_forward(c->m, &sb, 1, err) || losses(c, &sb, l, err);
		if (!rc)
			pofa_model_backward(c->m, &sb);
	} else {
		/* a short last batch left this rank no row: a forward of the
		 * batch's first row (someone's) keeps the forward count and the
		 * QAT range sums in step, and adds nothing */
		pofa_batch sb = shard_of(b, 0, 1);
		rc = pofa_model_forward(c->m, &sb, 1, err);
		/* its (zero) gradients go layer by layer as the others' do */
		for (int l = pofa_model_config(c->m)->num_hidden_layers - 1; c->sendq && !rc && l >= 0; l--)
			send_layer(c, l);
	}
	pofa_model_set_shard(c->m, 0, NULL, NULL);
	if (c->teacher)
		pofa_model_set_shard(c->teacher, 0, NULL, NULL);
	if (c->sendq) {
		/* the layers' gradients went as backward finished each; then the
		 * rest (embeddings, pooler, heads) */
		pofa_model_on_layer_grads(c->m, NULL, NULL);
		pofa_dist_queue_wait(c->sendq);
		if (!rc) {
			float *ptr[64];
			size_t len[64];
			int n = pofa_model_grad_ranges(c->m, -1, ptr, len, 64);
			for (int k = 0; k < n; k++)
				pofa_dist_sum_f(ptr[k], len[k]);
		}
	}
	if (rc)   /* bad input is the same on every rank; anything else stops the job */
		return err->status ? err->status : POFA_ERR_RUN;
	if (!c->sendq)
		pofa_dist_sum_f(pofa_model_grads(c->m), pofa_model_num_params(c->m));
	double v[3] = { l->task, l->kd, l->teacher };
	pofa_dist_sum_d(v, 3);
	l->task = v[0];
	l->kd = v[1];
	l->teacher = v[2];
	l->total = total_loss(c, l);
	return losses_finite(c, l, err);
}

static void accumulate(stage_ctx *c, const step_losses *l, float grad_norm, int bn)
{
	c->sum_task += l->task;
	c->sum_kd += l->kd;
	c->sum_total += l->total;
	c->sum_teacher += l->teacher;
	c->sum_gn += grad_norm;
	c->nsum++;
	c->tokens += (double)bn * c->s.seq;
}

/* training.json: the run and stage, the sequence length, the task's
 * format, columns and label order (pofa eval and predict default to them) */
static int save_trained(stage_ctx *c, const char *dir, pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	pofa_trained *t = calloc(1, sizeof *t);
	if (!t)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	snprintf(t->run, sizeof t->run, "%s", r->rc.name);
	char *abs = realpath(r->dir, NULL);
	snprintf(t->run_dir, sizeof t->run_dir, "%s", abs ? abs : r->dir);
	free(abs);
	snprintf(t->stage, sizeof t->stage, "%s", s->name);
	snprintf(t->kind, sizeof t->kind, "%s", pofa_stage_kinds[s->kind]);
	snprintf(t->recipe, sizeof t->recipe, "%s", r->rc.path);
	t->recipe_hash = r->rc.hash;
	t->seed = r->rc.seed;
	t->step = c->step;
	t->steps = c->N;
	snprintf(t->from, sizeof t->from, "%s", s->from_dir[0] ? s->from_dir : s->from[0] ? s->from : r->rc.model_dir);
	snprintf(t->teacher, sizeof t->teacher, "%s", s->teacher_dir[0] ? s->teacher_dir : s->teacher);
	t->seq = s->seq;
	t->batch = s->batch;
	t->sparsity = pofa_model_sparsity(c->m);
	if (!c->has_mlm) {
		t->has_task = 1;
		t->task = s->task;
		for (int k = 0; k < c->labels.n && k < 64; k++)
			snprintf(t->labels[t->nlabels++], sizeof t->labels[0], "%s", c->labels.names[k]);
	}
	int rc = pofa_trained_save(dir, t, err);
	free(t);
	return rc;
}

/* the stage's model folder: the model, its masks, its QAT state and int8 */
static int save_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	if (r->follower)
		return POFA_OK;   /* rank 0 writes the model every rank holds */
	char dir[1200], path[1300];
	pofa_run_stage_dir(r, c->i, dir, sizeof dir);
	if (pofa_model_save(c->m, dir, r->rc.vocab, err))
		return err->status;
	snprintf(path, sizeof path, "%s/masks.safetensors", dir);
	if (c->has_masks && pofa_masks_save(&c->mk, path, err))
		return err->status;
	if (save_trained(c, dir, err))
		return err->status;
	if (!pofa_model_qat(c->m))
		return POFA_OK;
	snprintf(path, sizeof path, "%s/qat.safetensors", dir);
	if (pofa_model_qat_save(c->m, path, err))
		return err->status;
	snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
	if (pofa_model_export_int8(c->m, path, err))
		return err->status;
	pofa_run_log(r, c->i, POFA_EV_LOG, "int8 weights and scales in %s", path);
	return POFA_OK;
}

/* After a dev evaluation of a stage that selects: the score of its metric
 * (a loss negated, so higher is better); a better one than the best so far
 * saves the stage's model now and is recorded; patience evaluations
 * without one stop the stage (*stop). */
static int select_model(stage_ctx *c, int *stop, pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	*stop = 0;
	if (!c->has_dev_res || !(s->select_best || s->patience > 0))
		return POFA_OK;
	const char *want = s->metric[0] ? s->metric : c->dev_res.m[0].name;
	double v = NAN;
	char have[160] = "";
	if (!strcmp(want, "loss"))
		v = -c->dev_res.loss;
	for (int k = 0; k < c->dev_res.n; k++) {
		if (!strcmp(want, c->dev_res.m[k].name))
			v = c->dev_res.m[k].value;
		snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", k ? ", " : "", c->dev_res.m[k].name);
	}
	if (isnan(v))
		return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: metric = %s, but its evaluation gives %s and "
		                  "loss", r->rc.path, s->line, s->name, want, have);
	double shown = !strcmp(want, "loss") ? -v : v;
	if (!c->has_best || v > c->best_score) {
		int first = !c->has_best;
		c->has_best = 1;
		c->best_score = v;
		c->best_step = c->step;
		c->since_best = 0;
		if (s->select_best) {
			if (save_stage(c, err))
				return err->status;
			pofa_run_log(r, c->i, POFA_EV_LOG, "%s: %s %s %.4g at step %lld: model saved", s->name,
			             first ? "first dev" : "best dev", want, shown, (long long)c->step);
		}
		return POFA_OK;
	}
	c->since_best++;
	if (s->patience > 0 && c->since_best >= s->patience) {
		*stop = 1;
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s: early stop at step %lld of %lld: no better dev %s in %lld "
		             "evaluations (best %.4g at step %lld)", s->name, (long long)c->step, (long long)c->N, want,
		             (long long)c->since_best, !strcmp(want, "loss") ? -c->best_score : c->best_score,
		             (long long)c->best_step);
	}
	return POFA_OK;
}

static void announce(stage_ctx *c)
{
	const pofa_stage *s = &c->s;
	pofa_event e = pofa_ev_new(POFA_EV_STAGE_START, c->i, c->r);
	e.step = c->step;
	e.total = c->N;
	pofa_stage_schedule(c, &e.sched);
	snprintf(e.text, sizeof e.text, "%s: %s, %lld steps, batch %d x %d, lr %g%s%s", s->name,
	         pofa_stage_kinds[s->kind], (long long)c->N, s->batch, s->seq, s->lr,
	         c->teacher ? ", distilling from " : "", c->teacher ? s->teacher : "");
	pofa_run_emit(c->r, &e);
}

enum pofa_stage_status pofa_train_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	if (setup_stage(c, err))
		return pofa_stage_fail(c, err);
	announce(c);
	c->t_interval = pofa_run_now();
	int64_t ckpt = r->rc.checkpoint_interval;
	if (ckpt % r->rc.log_interval)  /* checkpoints sit on log boundaries */
		ckpt += r->rc.log_interval - ckpt % r->rc.log_interval;
	double lr = 0.0;
	long epoch = 0, cursor;
	int stopped_early = 0;
	while (c->step < c->N) {
		int verdict = pofa_stage_commands(c, err);
		if (verdict < 0)
			return pofa_stage_fail(c, err);
		if (verdict == POFA_GO_STOP)
			return pofa_checkpoint(c, err) ? pofa_stage_fail(c, err) : (c->status = POFA_STAGE_STOPPED);
		if (verdict == POFA_GO_SKIP) {
			pofa_run_log(r, c->i, POFA_EV_LOG, "stage skipped at step %lld of %lld", (long long)c->step,
			             (long long)c->N);
			c->status = POFA_STAGE_SKIPPED;
			break;
		}
		if (prune_if_due(c, err))
			return pofa_stage_fail(c, err);
		int bn = next_batch(c);
		pofa_batch b = { .B = bn, .T = c->s.seq, .input_ids = c->ids, .token_type_ids = c->types,
		                 .attention_mask = c->mask, .mlm_labels = c->lab, .labels = c->lab,
		                 .start_positions = c->st, .end_positions = c->en };
		step_losses l;
		if (step_grads(c, &b, &l, err))
			return pofa_stage_fail(c, err);
		if (c->has_masks)
			pofa_masks_grads(&c->mk);      /* pruned weights get no gradient */
		float gn = pofa_model_clip_grad(c->m, (float)c->s.max_grad_norm);
		lr = pofa_stage_lr(c, c->step);
		pofa_model_adamw(c->m, &c->opt, lr);
		if (c->has_masks)
			pofa_masks_apply(&c->mk);      /* ... and stay zero after weight decay */
		c->step++;
		r->step_now = c->step;
		accumulate(c, &l, gn, bn);
		pofa_stage_data_pos(c, &epoch, &cursor);
		if (c->step % r->rc.log_interval == 0 || c->step == c->N)
			emit_metrics(c, lr, epoch);
		if (c->s.eval_interval && c->step % c->s.eval_interval == 0 && c->step < c->N) {
			int stop;
			if (pofa_evaluate_dev(c, err))
				return pofa_stage_fail(c, err);
			if (c->stop_asked)   /* during the evaluation: stopped as at a step */
				return pofa_checkpoint(c, err) ? pofa_stage_fail(c, err) : (c->status = POFA_STAGE_STOPPED);
			if (select_model(c, &stop, err))
				return pofa_stage_fail(c, err);
			if (stop) {
				stopped_early = 1;
				break;
			}
		}
		if (c->step % ckpt == 0 && c->step < c->N && pofa_checkpoint(c, err))
			return pofa_stage_fail(c, err);
	}
	emit_metrics(c, lr, epoch);   /* an interval under way (early stop, skip) */
	/* the stage's end: its dev evaluation (already made where it stopped
	 * early), then its model: the last one, or the best one, saved when
	 * it was found */
	int stop;
	if (!stopped_early && pofa_evaluate_dev(c, err))
		return pofa_stage_fail(c, err);
	if (c->stop_asked)   /* during the last evaluation: a resume evaluates again */
		return pofa_checkpoint(c, err) ? pofa_stage_fail(c, err) : (c->status = POFA_STAGE_STOPPED);
	if (!stopped_early && select_model(c, &stop, err))
		return pofa_stage_fail(c, err);
	if (c->s.select_best && c->has_best) {
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s: the model kept is step %lld's (select = best)", c->s.name,
		             (long long)c->best_step);
		return c->status ? c->status : POFA_STAGE_DONE;
	}
	if (save_stage(c, err))
		return pofa_stage_fail(c, err);
	return c->status ? c->status : POFA_STAGE_DONE;
}
