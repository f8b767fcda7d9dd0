/*
 * stagectx.c - what every part of a running stage asks of it: where its
 * models come from and the model it starts with, the order of its data and
 * where it stands in it, its schedule as it reads now, and its failure.
 */
#include "engine/run/internal.h"
#include "data/base/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- model and data ------------------------------------------------------------------ */

/* the folder of a model: a stage's (from >= 0), the folder the stage's
 * from or teacher names (POFA_FROM_DIR, POFA_TEACHER_DIR), or the [model]
 * section's ("" for a preset) */
void pofa_stage_model_dir(const stage_ctx *c, int from, char *dir, size_t n)
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
	pofa_stage_model_dir(c, from, dir, sizeof dir);
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
			snprintf(cfg.label_names[k], sizeof cfg.label_names[k], "%s", c->d.labels.names[k]);
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
	/* the student of layers = keeps those layers of the model it starts from */
	const int *keep = use == POFA_MODEL_TRAIN && s->nlayers ? s->layers : NULL;
	for (int k = 0; keep && k < s->nlayers; k++)
		if (keep[k] >= cfg.num_hidden_layers) {
			pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: layers = ...%d...: %s has layers 0..%d", r->rc.path,
			           s->line, s->name, keep[k], dir[0] ? dir : r->rc.preset, cfg.num_hidden_layers - 1);
			return NULL;
		}
	if (keep)
		cfg.num_hidden_layers = own.num_hidden_layers = s->nlayers;
	pofa_model *m = pofa_model_new_for(&cfg, head, use, s->batch, s->seq, r->threads, err);
	if (!m) {   /* a batch or sequence the model cannot take: the recipe's */
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err->msg);
		pofa_error(err, err->status, "%s:%d: stage %s: %s", r->rc.path, s->line, s->name, msg);
		return NULL;
	}
	pofa_model_set_saved_dropout(m, own.hidden_dropout_prob, own.attention_probs_dropout_prob,
	                             own.classifier_dropout);
	uint64_t seed = pofa_mix64(pofa_stage_seed(&r->rc, s) ^ 0x9e3779b97f4a7c15ULL);
	if (!dir[0])
		pofa_model_init(m, seed);
	else {
		int fresh = 0;
		if (pofa_model_load_init(m, wpath, keep, seed, &fresh, err)) {
			pofa_model_free(m);
			return NULL;
		}
		static const char *const what[POFA_HEAD_COUNT] = { "masked-LM", "classification", "span" };
		if (fresh && use == POFA_MODEL_TRAIN && !r->resume)
			pofa_run_log(r, c->i, POFA_EV_LOG, "stage %s: encoder loaded from %s; the %s head is new "
			             "(drawn from the stage's seed, trained from here)", s->name, wpath, what[head]);
	}
	return m;
}

void pofa_stage_order(stage_ctx *c)
{
	for (long k = 0; k < c->d.train.n; k++)
		c->d.order[k] = k;
	if (c->s.shuffle)
		pofa_shuffle(c->d.order, c->d.train.n, pofa_mix64(pofa_stage_seed(&c->r->rc, &c->s) ^
		                                              (uint64_t)c->d.epoch * 0x9e37));
}

void pofa_stage_data_pos(const stage_data *d, long *epoch, long *cursor)
{
	*epoch = d->has_mlm ? d->mlm.epoch : d->epoch;
	*cursor = d->has_mlm ? d->mlm.cursor : d->cursor;
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

void pofa_stage_data_free(stage_data *d)
{
	if (d->has_mlm)
		pofa_mlm_free(&d->mlm);
	free(d->unigram);
	pofa_labels_free(&d->labels);
	pofa_taskset_free(&d->train);
	pofa_taskset_free(&d->dev);
	free(d->order);
	free(d->buf);
	memset(d, 0, sizeof *d);
}
