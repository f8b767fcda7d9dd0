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
#include "engine/dist/dist.h"
#include "engine/model/folder.h"
#include "engine/io/safetensors.h"
#include "data/base/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- model and data ------------------------------------------------------------------ */

static int load_data(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	if (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE) {
		if (pofa_mlm_load(r->rc.corpus, r->tk, s->seq, r->rc.seed, &c->d.mlm, err))
			return err->status;
		c->d.mlm.whole_word = s->whole_word;
		c->d.mlm.mask_prob = s->mask_prob;
		c->d.has_mlm = 1;
		return POFA_OK;
	}
	/* a classification model keeps its own labels, in its own order; the
	 * task's are mapped onto them by name */
	char dir[1200];
	pofa_stage_model_dir(c, pofa_stage_from(s), dir, sizeof dir);
	if (pofa_task_head(&s->task) == POFA_HEAD_CLS && dir[0] && pofa_model_dir_labels(dir, &c->d.labels, err) < 0)
		return err->status;
	if (pofa_taskset_load(&s->task, s->task.train, r->tk, s->seq, &c->d.labels, &c->d.train, err))
		return err->status;
	pofa_run_log(r, c->i, POFA_EV_LOG, "%s", c->d.train.summary);
	if (s->task.dev[0] && (pofa_taskset_load(&s->task, s->task.dev, r->tk, s->seq, &c->d.labels, &c->d.dev, err) ||
	                       pofa_taskset_sample(&c->d.dev, s->eval_examples, err)))
		return err->status;
	if (s->task.dev[0])
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s", c->d.dev.summary);
	c->d.order = malloc((size_t)(c->d.train.n + 1) * sizeof *c->d.order);
	return c->d.order ? POFA_OK : pofa_error(err, POFA_ERR_RUN, "out of memory");
}

/* the next training batch; returns its size */
static int next_batch(stage_ctx *c)
{
	int B = c->s.batch;
	if (c->d.has_mlm) {
		pofa_mlm_next(&c->d.mlm, B, c->d.ids, c->d.types, c->d.mask, c->d.lab);
		return B;
	}
	long idx[4096];
	int b = 0;
	while (b < B) {
		if (c->d.cursor >= c->d.train.n) {
			c->d.epoch++;
			c->d.cursor = 0;
			pofa_stage_order(c);
			if (b > 0)
				break;   /* an epoch's last batch may be short */
		}
		idx[b++] = c->d.order[c->d.cursor++];
	}
	pofa_taskset_batch(&c->d.train, idx, b, c->d.ids, c->d.types, c->d.mask, c->d.lab, c->d.st, c->d.en);
	return b;
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
	if (c->sums.n == 0)
		return;
	pofa_event e = pofa_ev_new(POFA_EV_METRICS, c->i, c->r);
	e.step = c->step;
	e.total = c->N;
	e.epoch = epoch;
	e.lr = lr;
	e.loss_task = c->sums.task / c->sums.n;
	e.loss_kd = c->sums.kd / c->sums.n;
	e.loss_total = c->sums.total / c->sums.n;
	e.teacher_loss = c->teacher ? c->sums.teacher / c->sums.n : NAN;
	e.loss_kd_hidden = c->teacher && c->s.kd_hidden > 0.0f ? c->sums.hidden / c->sums.n : NAN;
	e.grad_norm = c->sums.gn / c->sums.n;
	e.sparsity_target = c->pr.last_target;
	e.sparsity = pofa_model_sparsity(c->m);
	double dt = pofa_run_now() - c->sums.t0;
	e.tokens_per_s = dt > 0 ? c->sums.tokens / dt : 0.0;
	pofa_run_emit(c->r, &e);
	c->sums.task = c->sums.kd = c->sums.total = c->sums.teacher = c->sums.gn = c->sums.hidden = 0.0;
	c->sums.n = 0;
	c->sums.tokens = 0;
	c->sums.t0 = pofa_run_now();
	c->sparsity_due = c->has_masks || c->s.prune;   /* after this step's pruning: flush_sparsity */
}

/* the sparsity rows of a logged step, written once its masks are what the
 * step trains with: after a pruning at that step (the heatmap showed the
 * step before's when they were written first) */
static void flush_sparsity(stage_ctx *c)
{
	if (c->sparsity_due)
		emit_sparsity(c);
	c->sparsity_due = 0;
}

/* ---- setting a stage up -------------------------------------------------------------- */

/* hidden-state distillation: the teacher layer each student layer learns,
 * said in the log */
static int setup_kd_hidden(stage_ctx *c, pofa_err *err)
{
	const pofa_stage *s = &c->s;
	const pofa_config *cs = pofa_model_config(c->m), *ct = pofa_model_config(c->teacher);
	if (cs->hidden_size != ct->hidden_size)
		return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: kd_hidden: the teacher's hidden size is %d, the "
		                  "student's %d", c->r->rc.path, s->line, s->name, ct->hidden_size, cs->hidden_size);
	pofa_stage_kd_map(s, cs->num_hidden_layers, ct->num_hidden_layers, c->kd_map);
	char list[400] = "";
	for (int l = 0, o = 0; l < cs->num_hidden_layers; l++) {
		if (c->kd_map[l] < 0 || c->kd_map[l] >= ct->num_hidden_layers)
			return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: kd_layers: student layer %d has no teacher "
			                  "layer (the teacher has layers 0..%d)", c->r->rc.path, s->line, s->name, l,
			                  ct->num_hidden_layers - 1);
		o += snprintf(list + o, sizeof list - (size_t)o, "%s%d", l ? "," : "", c->kd_map[l]);
		if (o >= (int)sizeof list)
			break;
	}
	pofa_run_log(c->r, c->i, POFA_EV_LOG, "stage %s: hidden-state distillation (kd_hidden = %g): student "
	             "layers 0..%d learn teacher layers %s", s->name, s->kd_hidden, cs->num_hidden_layers - 1, list);
	return POFA_OK;
}

/* the student, and the teacher it distils from */
static int setup_models(stage_ctx *c, enum pofa_head head, pofa_err *err)
{
	const pofa_stage *s = &c->s;
	c->m = pofa_stage_model(c, head, POFA_MODEL_TRAIN, pofa_stage_from(s), c->d.labels.n, err);
	if (!c->m)
		return err->status;
	int ti = pofa_stage_teacher(s);
	if (ti == -1)
		return POFA_OK;
	char td[1200], tp[1300];
	pofa_stage_model_dir(c, ti, td, sizeof td);
	/* a classifier teaches a classifier of the same labels in the same
	 * order: its logits are compared class by class */
	if (head == POFA_HEAD_CLS) {
		pofa_labels tl = { 0 };
		int has = pofa_model_dir_labels(td, &tl, err);
		if (has < 0)
			return err->status;
		int same = has > 0 && tl.n == c->d.labels.n;
		for (int k = 0; same && k < tl.n; k++)
			same = !strcmp(tl.names[k], c->d.labels.names[k]);
		if (has > 0 && !same) {
			char a[300], b[300];
			pofa_labels_list(&tl, a, sizeof a);
			pofa_labels_list(&c->d.labels, b, sizeof b);
			pofa_labels_free(&tl);
			return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: teacher %s has the labels %s, the student "
			                  "%s: distillation needs the same labels in the same order", c->r->rc.path,
			                  s->line, s->name, td, a, b);
		}
		pofa_labels_free(&tl);
	}
	c->teacher = pofa_stage_model(c, head, POFA_MODEL_INFER, ti, c->d.labels.n, err);
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
	return s->kd_hidden > 0.0f ? setup_kd_hidden(c, err) : POFA_OK;
}

/* a locked pattern trained through its nonzeros where the cost model says
 * so, and how much faster a pass is, measured on a batch of the stage's
 * shape (the model's state left as it was) */
static int sparse_train(stage_ctx *c, pofa_err *err)
{
	const pofa_stage *s = &c->s;
	/* the optimizer over the kept weights only, whatever the products */
	if (c->has_masks && pofa_masks_keep(&c->mk, 1, err))
		return err->status;
	if (pofa_model_sparse_train(c->m, 1, err))
		return err->status;
	int total, n = pofa_model_sparse_count(c->m, &total);
	if (!n) {
		pofa_run_log(c->r, c->i, POFA_EV_LOG, "stage %s: the locked pattern trains dense (no Linear is 256 wide "
		             "and packed sparse by this CPU's cost model); AdamW and clipping run over its kept "
		             "weights only", s->name);
		return POFA_OK;
	}
	int B = s->batch, T = s->seq, V = pofa_model_config(c->m)->vocab_size;
	int *buf = calloc((size_t)5 * B * T + 3 * (size_t)B, sizeof *buf);
	double lo = 0, hi = 0, x = 0;
	if (buf) {
		int *ids = buf, *types = ids + B * T, *mask = types + B * T, *mlm = mask + B * T, *lab = mlm + B * T,
		    *st = lab + B * T, *en = st + B;
		for (int i = 0; i < B * T; i++) {
			ids[i] = 5 + i % (V > 6 ? V - 5 : 1);
			mask[i] = 1;
			mlm[i] = i % 7 ? POFA_IGNORE : ids[i];
		}
		pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
		                 .mlm_labels = mlm, .labels = lab, .start_positions = st, .end_positions = en };
		x = pofa_model_sparse_speedup(c->m, &b, 3, &lo, &hi);
		free(buf);
	}
	if (x > 0)
		pofa_run_log(c->r, c->i, POFA_EV_LOG, "stage %s: %d of %d Linears train sparse (pattern locked; AdamW "
		             "and clipping over the kept weights only); a training pass %.2fx the dense masked one's "
		             "speed (median of 3 alternating, %.2f-%.2f)", s->name,
		             n, total, x, lo, hi);
	else
		pofa_run_log(c->r, c->i, POFA_EV_LOG, "stage %s: %d of %d Linears train sparse (pattern locked; AdamW "
		             "and clipping over the kept weights only)", s->name,
		             n, total);
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
	long ntrain = c->d.has_mlm ? c->d.mlm.ntrain : c->d.train.n;
	c->N = pofa_stage_total_steps(s, ntrain);
	c->warm = pofa_steps_of(s->warmup, c->N);
	char why[256];
	if (pofa_stage_check(s, c->N, why, sizeof why))   /* a schedule in epochs: now it has steps */
		return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: %s", r->rc.path, s->line, s->name, why);
	/* masks: pruning, pattern lock, and QAT keeps the pattern too */
	int lock = s->lock || s->kind == POFA_STAGE_QAT;
	if (s->prune || lock) {
		pofa_gmp g = pofa_stage_ctx_gmp(c);
		if (pofa_masks_init(&c->mk, c->m, err))
			return err->status;
		c->has_masks = 1;
		/* a pruning method's state: its memory said before the stage, or
		 * refused with the figure when it does not fit */
		const pofa_prune_method *pm = &pofa_prune_methods[s->method];
		if (s->prune && pm->memory) {
			char set[160] = "";
			if (pm->settings)
				pm->settings(c->m, &g, set, sizeof set);
			pofa_run_log(r, c->i, POFA_EV_LOG, "stage %s: method = %s holds %.1f MB of state (%s%s%s)", s->name,
			             pm->name, pm->memory(c->m, &g) / 1e6, set, *set ? "; " : "", pm->help);
		}
		if (s->prune && pofa_masks_set_method(&c->mk, &g, err))
			return pofa_error(err, err->status, "%s:%d: stage %s: %s", r->rc.path, s->line, s->name,
			                  err->msg);
		if (lock) {
			pofa_masks_lock(&c->mk);
			c->pr.last_target = pofa_model_sparsity(c->m);
		}
	}
	if (s->kind == POFA_STAGE_QAT && pofa_model_set_qat(c->m, 1, s->per_channel, err))
		return err->status;
	if (lock && sparse_train(c, err))
		return err->status;
	c->sparse_on = lock;
	c->opt = pofa_optim_default();
	c->opt.beta1 = s->beta1;
	c->opt.beta2 = s->beta2;
	c->opt.eps = s->eps;
	c->opt.weight_decay = s->weight_decay;
	int B = s->batch, T = s->seq;
	c->d.buf = malloc((size_t)B * (4 * T + 2) * sizeof(int));
	if (!c->d.buf)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	c->d.ids = c->d.buf;
	c->d.types = c->d.ids + B * T;
	c->d.mask = c->d.types + B * T;
	c->d.lab = c->d.mask + B * T;
	c->d.st = c->d.lab + B * T;
	c->d.en = c->d.st + B;
	if (!c->d.has_mlm)
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
	c->pr.last_target = target;
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
	if (c->pr.said && fabs(target - c->pr.said_target) < 5e-5 && fabs(reached - c->pr.said_reached) < 5e-5)
		return POFA_OK;
	c->pr.said = 1;
	c->pr.said_target = target;
	c->pr.said_reached = reached;
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

typedef struct { double task, kd, teacher, total, hidden; } step_losses;

/* what the step minimises: the task loss, or with a teacher the weighted
 * sum of task and distillation losses (of logits, and of hidden states) */
static double total_loss(const stage_ctx *c, const step_losses *l)
{
	return c->teacher ? c->s.alpha_task * l->task + c->s.alpha_kd * l->kd + c->s.kd_hidden * l->hidden : l->task;
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
		if (s->kd_hidden > 0.0f)
			l->hidden = pofa_model_kd_hidden(c->m, c->teacher, b, c->kd_map, s->kd_hidden);
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
	double v[4] = { l->task, l->kd, l->teacher, l->hidden };
	pofa_dist_sum_d(v, 4);
	l->task = v[0];
	l->kd = v[1];
	l->teacher = v[2];
	l->hidden = v[3];
	l->total = total_loss(c, l);
	return losses_finite(c, l, err);
}

/* a step into the metrics interval under way */
static void accumulate(stage_sums *m, const step_losses *l, float grad_norm, double tokens)
{
	m->task += l->task;
	m->kd += l->kd;
	m->hidden += l->hidden;
	m->total += l->total;
	m->teacher += l->teacher;
	m->gn += grad_norm;
	m->n++;
	m->tokens += tokens;
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
	if (!c->d.has_mlm) {
		t->has_task = 1;
		t->task = s->task;
		for (int k = 0; k < c->d.labels.n && k < 64; k++)
			snprintf(t->labels[t->nlabels++], sizeof t->labels[0], "%s", c->d.labels.names[k]);
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
	if (!c->sel.has_dev || !(s->select_best || s->patience > 0))
		return POFA_OK;
	const char *want = s->metric[0] ? s->metric : c->sel.dev.m[0].name;
	double v = NAN;
	char have[160] = "";
	if (!strcmp(want, "loss"))
		v = -c->sel.dev.loss;
	for (int k = 0; k < c->sel.dev.n; k++) {
		if (!strcmp(want, c->sel.dev.m[k].name))
			v = c->sel.dev.m[k].value;
		snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", k ? ", " : "", c->sel.dev.m[k].name);
	}
	if (isnan(v))
		return pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: metric = %s, but its evaluation gives %s and "
		                  "loss", r->rc.path, s->line, s->name, want, have);
	double shown = !strcmp(want, "loss") ? -v : v;
	if (!c->sel.has_best || v > c->sel.best_score) {
		int first = !c->sel.has_best;
		c->sel.has_best = 1;
		c->sel.best_score = v;
		c->sel.best_step = c->step;
		c->sel.since_best = 0;
		if (s->select_best) {
			if (save_stage(c, err))
				return err->status;
			pofa_run_log(r, c->i, POFA_EV_LOG, "%s: %s %s %.4g at step %lld: model saved", s->name,
			             first ? "first dev" : "best dev", want, shown, (long long)c->step);
		}
		return POFA_OK;
	}
	c->sel.since_best++;
	if (s->patience > 0 && c->sel.since_best >= s->patience) {
		*stop = 1;
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s: early stop at step %lld of %lld: no better dev %s in %lld "
		             "evaluations (best %.4g at step %lld)", s->name, (long long)c->step, (long long)c->N, want,
		             (long long)c->sel.since_best, !strcmp(want, "loss") ? -c->sel.best_score : c->sel.best_score,
		             (long long)c->sel.best_step);
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
	e.layer = c->has_masks ? pofa_model_config(c->m)->num_hidden_layers : 0;
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
	if (c->step == 0 && pofa_unigram_row(c, err))
		return pofa_stage_fail(c, err);
	c->sums.t0 = pofa_run_now();
	int64_t ckpt = r->rc.checkpoint_interval;
	if (ckpt % r->rc.log_interval)  /* checkpoints sit on log boundaries */
		ckpt += r->rc.log_interval - ckpt % r->rc.log_interval;
	double lr = 0.0;
	long epoch = 0, cursor;
	int stopped_early = 0;
	/* resumed at a logged step: its sparsity rows follow its pruning, as
	 * they would have without the stop (runlog.c dropped any written) */
	c->sparsity_due = c->step > 0 && c->step % r->rc.log_interval == 0 && (c->has_masks || c->s.prune);
	while (c->step < c->N) {
		int verdict = pofa_stage_commands(c, err);
		if (verdict < 0)
			return pofa_stage_fail(c, err);
		if (verdict == POFA_GO_STOP) {
			flush_sparsity(c);
			return pofa_checkpoint(c, err) ? pofa_stage_fail(c, err) : (c->status = POFA_STAGE_STOPPED);
		}
		if (verdict == POFA_GO_SKIP) {
			pofa_run_log(r, c->i, POFA_EV_LOG, "stage skipped at step %lld of %lld", (long long)c->step,
			             (long long)c->N);
			c->status = POFA_STAGE_SKIPPED;
			break;
		}
		if (prune_if_due(c, err))
			return pofa_stage_fail(c, err);
		/* a prune stage past its last pruning step: the pattern is fixed */
		if (c->s.prune && c->has_masks && !c->sparse_on && c->step > pofa_stage_ctx_gmp(c).freeze) {
			if (sparse_train(c, err))
				return pofa_stage_fail(c, err);
			c->sparse_on = 1;
		}
		flush_sparsity(c);
		int bn = next_batch(c);
		pofa_batch b = { .B = bn, .T = c->s.seq, .input_ids = c->d.ids, .token_type_ids = c->d.types,
		                 .attention_mask = c->d.mask, .mlm_labels = c->d.lab, .labels = c->d.lab,
		                 .start_positions = c->d.st, .end_positions = c->d.en };
		step_losses l;
		if (step_grads(c, &b, &l, err))
			return pofa_stage_fail(c, err);
		/* the pruning method sees the step's gradients while its masks move */
		pofa_gmp g = pofa_stage_ctx_gmp(c);
		if (c->has_masks && c->s.prune && c->step <= g.freeze && pofa_masks_observe(&c->mk, &g, c->step, err))
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
		accumulate(&c->sums, &l, gn, (double)bn * c->s.seq);
		pofa_stage_data_pos(&c->d, &epoch, &cursor);
		if (c->step % r->rc.log_interval == 0 || c->step == c->N)
			emit_metrics(c, lr, epoch);
		if (c->s.eval_interval && c->step % c->s.eval_interval == 0 && c->step < c->N) {
			int stop;
			if (pofa_evaluate_dev(c, err))
				return pofa_stage_fail(c, err);
			if (c->ev.stop_asked) {   /* during the evaluation: stopped as at a step */
				flush_sparsity(c);
				return pofa_checkpoint(c, err) ? pofa_stage_fail(c, err) : (c->status = POFA_STAGE_STOPPED);
			}
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
	flush_sparsity(c);
	/* the stage's end: its dev evaluation (already made where it stopped
	 * early), then its model: the last one, or the best one, saved when
	 * it was found */
	int stop;
	if (!stopped_early && pofa_evaluate_dev(c, err))
		return pofa_stage_fail(c, err);
	if (c->ev.stop_asked)   /* during the last evaluation: a resume evaluates again */
		return pofa_checkpoint(c, err) ? pofa_stage_fail(c, err) : (c->status = POFA_STAGE_STOPPED);
	if (!stopped_early && select_model(c, &stop, err))
		return pofa_stage_fail(c, err);
	if (c->s.select_best && c->sel.has_best) {
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s: the model kept is step %lld's (select = best)", c->s.name,
		             (long long)c->sel.best_step);
		return c->status ? c->status : POFA_STAGE_DONE;
	}
	if (save_stage(c, err))
		return pofa_stage_fail(c, err);
	return c->status ? c->status : POFA_STAGE_DONE;
}
