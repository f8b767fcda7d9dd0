/*
 * preflight.c - everything a run will read, checked before it trains: the
 * vocabulary, the starting model directory (config against vocabulary and
 * weights file), the corpus, every task file that a stage still to run
 * reads (parsed whole: labels, columns, SQuAD structure), every model
 * folder of an earlier stage that a remaining stage starts from, and what
 * the model's sizes allow of each stage (sequence length, pruning
 * patterns). An error here stops the run with exit status 2 before any
 * stage starts, and before a new run's folder is made.
 */
#include "engine/run/internal.h"
#include "engine/model/folder.h"
#include "engine/sparse/obert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the stage's error, prefixed with the recipe's file:line and its name */
static int stage_error(const pofa_run *r, const pofa_stage *s, pofa_err *err)
{
	char msg[sizeof err->msg];
	snprintf(msg, sizeof msg, "%s", err->msg);
	return pofa_error(err, err->status, "%s:%d: stage %s: %s", r->rc.path, s->line, s->name, msg);
}

static int readable_file(const char *path, const char *what, pofa_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: %s: cannot open", path, what);
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: %s: %s", path, what,
		                  S_ISREG(st.st_mode) ? "empty" : "not a regular file");
	return POFA_OK;
}

/* a task's files, read as the stage will read them: gold labels mapped
 * onto the starting model's own (model_dir: a classifier's folder, or ""),
 * as the stage maps them */
static int check_task(const pofa_stage *s, const char *model_dir, pofa_err *err)
{
	const pofa_task_spec *t = &s->task;
	const char *files[3] = { t->train, t->dev, t->test };
	int need[3] = { 1, 1, 0 };
	if (s->kind == POFA_STAGE_EVAL) {   /* an eval stage reads its splits only; labels are the models' */
		need[0] = strstr(s->splits, "train") != NULL;
		need[1] = strstr(s->splits, "dev") != NULL;
		need[2] = strstr(s->splits, "test") != NULL;
	}
	pofa_labels labels = { 0 };
	int rc = POFA_OK;
	if (model_dir[0] && s->kind != POFA_STAGE_EVAL && t->format != POFA_TASK_SQUAD &&
	    pofa_model_dir_labels(model_dir, &labels, err) < 0)
		return err->status;
	for (int k = 0; k < 3 && !rc; k++) {
		if (!files[k][0] || !need[k])
			continue;
		if (t->format == POFA_TASK_SQUAD) {
			pofa_qa_set qa;
			if (!(rc = pofa_qa_load(files[k], &qa, err)))
				pofa_qa_free(&qa);
		} else {
			pofa_text_task tt;
			/* the train split makes the labels; the others must use them */
			if (!(rc = pofa_text_task_load(t, files[k], &labels, &tt, err)))
				pofa_text_task_free(&tt);
		}
	}
	pofa_labels_free(&labels);
	return rc;
}

/* a model folder a stage starts from: its config against the vocabulary,
 * and its weights file against its config */
static int check_model_dir(const pofa_run *r, const char *dir, pofa_config *cfg, pofa_err *err)
{
	char path[1300];
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (pofa_config_load(cfg, path, err))
		return err->status;
	if (cfg->vocab_size != pofa_vocab_size(r->tk))
		return pofa_error(err, POFA_ERR_INPUT, "%s: vocab_size %d, but %s has %d tokens; use the model's own "
		                  "vocabulary ([model] vocab)", path, cfg->vocab_size, r->rc.vocab, pofa_vocab_size(r->tk));
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	return pofa_model_check_size(cfg, POFA_HEAD_MLM, path, err);
}

/* an eval stage's sequence against each model's positions: an earlier
 * stage's model (as preflight knows it: cfgs[j]) or a model folder */
static int check_eval_models(const pofa_run *r, const pofa_stage *s, const pofa_config *cfgs, pofa_err *err)
{
	char (*refs)[1024] = calloc(32, sizeof *refs);
	if (!refs)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	int n = pofa_stage_model_refs(s, refs, 32), rc = POFA_OK;
	for (int k = 0; k < n && !rc; k++) {
		int j = pofa_recipe_stage(&r->rc, refs[k]);
		pofa_config cfg;
		char path[1100];
		snprintf(path, sizeof path, "%s/config.json", refs[k]);
		if (j >= 0)
			cfg = cfgs[j];
		else if ((rc = pofa_config_load(&cfg, path, err)))
			break;
		if (s->seq > cfg.max_position_embeddings)
			rc = pofa_error(err, POFA_ERR_INPUT, "seq = %d, but %s has %d positions (max_position_embeddings); "
			                "lower seq", s->seq, refs[k], cfg.max_position_embeddings);
	}
	free(refs);
	return rc;
}

/* what the model's sizes allow: the sequence, and a pattern's width */
static int check_shapes(const pofa_stage *s, const pofa_config *cfg, pofa_err *err)
{
	if (s->seq > cfg->max_position_embeddings)
		return pofa_error(err, POFA_ERR_INPUT, "seq = %d, but the model has %d positions "
		                  "(max_position_embeddings); lower seq", s->seq, cfg->max_position_embeddings);
	if (s->prune && s->method == POFA_PRUNE_OBERT) {   /* its inverse Fisher blocks fit */
		pofa_gmp g = pofa_stage_gmp(s, s->steps > 0 ? s->steps : 1);
		int B;
		size_t need = pofa_obert_memory_cfg(cfg, &g, &B);
		if (pofa_obert_fits(need, B, err))
			return err->status;
	}
	if (!s->prune || s->pattern == POFA_PATTERN_UNSTRUCTURED)
		return POFA_OK;
	int w = s->pattern == POFA_PATTERN_BLOCK ? s->block : s->nm_m;
	if (cfg->hidden_size % w || cfg->intermediate_size % w)
		return pofa_error(err, POFA_ERR_INPUT, "pattern %s%d: the inputs of the prunable matrices (%d and %d) are "
		                  "not multiples of %d; choose a width that divides both",
		                  s->pattern == POFA_PATTERN_BLOCK ? "1x" : "N:", w, cfg->hidden_size,
		                  cfg->intermediate_size, w);
	return POFA_OK;
}

/* a student with fewer layers and hidden-state distillation: the layers it
 * keeps are the from model's, the teacher's hidden size is the student's,
 * and every mapped teacher layer exists; own becomes the student's config */
static int check_compound(const pofa_stage *s, pofa_config *own, const pofa_config *teacher, pofa_err *err)
{
	for (int k = 0; k < s->nlayers; k++)
		if (s->layers[k] >= own->num_hidden_layers)
			return pofa_error(err, POFA_ERR_INPUT, "layers = ...%d...: the model it starts from has layers 0..%d",
			                  s->layers[k], own->num_hidden_layers - 1);
	if (s->nlayers)
		own->num_hidden_layers = s->nlayers;
	if (!(s->kd_hidden > 0.0f) || !teacher)
		return POFA_OK;
	if (teacher->hidden_size != own->hidden_size)
		return pofa_error(err, POFA_ERR_INPUT, "kd_hidden: the teacher's hidden size is %d, the student's %d; "
		                  "hidden states are compared only at the same size", teacher->hidden_size,
		                  own->hidden_size);
	if (s->nkd_layers && s->nkd_layers != own->num_hidden_layers)
		return pofa_error(err, POFA_ERR_INPUT, "kd_layers names %d teacher layers; the student has %d layers: "
		                  "name one for each", s->nkd_layers, own->num_hidden_layers);
	for (int k = 0; k < s->nkd_layers; k++)
		if (s->kd_layers[k] >= teacher->num_hidden_layers)
			return pofa_error(err, POFA_ERR_INPUT, "kd_layers = ...%d...: the teacher has layers 0..%d",
			                  s->kd_layers[k], teacher->num_hidden_layers - 1);
	return POFA_OK;
}

static int preflight_stage(pofa_run *r, int i, const pofa_config *base, pofa_config *cfgs, int *corpus_checked,
                           pofa_err *err);

int pofa_preflight(pofa_run *r, pofa_err *err)
{
	const pofa_recipe *rc = &r->rc;
	if (!r->tk) {
		r->tk = pofa_tokenizer_load(rc->vocab, POFA_CASE_AUTO, err);
		if (!r->tk)
			return pofa_error(err, POFA_ERR_INPUT, "%s: the vocabulary, looked for as %s says; build the "
			                  "data (pofa data build --out DIR) or set [model] vocab = FILE", err->msg,
			                  rc->vocab_from);
	}
	/* the model every stage without `from` starts from */
	pofa_config base;
	if (rc->model_dir[0]) {
		if (check_model_dir(r, rc->model_dir, &base, err))
			return err->status;
	} else {
		pofa_config_preset(&base, rc->preset, err);
		if (rc->max_position)
			base.max_position_embeddings = rc->max_position;
	}
	int corpus_checked = 0;
	pofa_config *cfgs = calloc(POFA_MAX_STAGES, sizeof *cfgs);   /* each stage's model, as far as known */
	if (!cfgs)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	int rcode = POFA_OK;
	for (int i = 0; i < rc->nstages; i++)
		cfgs[i] = base;
	for (int i = 0; i < rc->nstages && !rcode; i++) {
		const pofa_stage *s = &rc->stages[i];
		if (s->from_idx >= 0)
			cfgs[i] = cfgs[s->from_idx];
		if (i < r->start_stage) {   /* done: its folder says */
			char dir[1200], path[1300];
			pofa_config cfg;
			pofa_err e2;
			pofa_run_stage_dir(r, i, dir, sizeof dir);
			snprintf(path, sizeof path, "%s/config.json", dir);
			if (s->kind != POFA_STAGE_EVAL && !pofa_config_load(&cfg, path, &e2))
				cfgs[i] = cfg;
			continue;
		}
		rcode = preflight_stage(r, i, &base, cfgs, &corpus_checked, err);
	}
	free(cfgs);
	return rcode;
}

/* one stage still to run: the folders it reads, its data, its shapes */
static int preflight_stage(pofa_run *r, int i, const pofa_config *base, pofa_config *cfgs, int *corpus_checked,
                           pofa_err *err)
{
	const pofa_recipe *rc = &r->rc;
	{
		const pofa_stage *s = &rc->stages[i];
		/* a finished stage's folder that this one starts from or learns from */
		int refs[2] = { s->from_idx, s->teacher_idx };
		const char *dirs[2] = { s->from_dir, s->teacher_dir };
		pofa_config own = s->from_idx >= 0 ? cfgs[s->from_idx] : *base;   /* where the stage starts, as known now */
		pofa_config tcfg = s->teacher_idx >= 0 ? cfgs[s->teacher_idx] : *base;
		int tknown = s->teacher_idx >= 0;   /* the teacher's config, as known now */
		char from[1200] = "";   /* the folder it starts from, when there is one now */
		if (s->from_idx < 0 && !s->from_dir[0])
			snprintf(from, sizeof from, "%s", rc->model_dir);
		for (int k = 0; k < 2; k++) {
			char dir[1200];
			pofa_config cfg;
			if (dirs[k][0])   /* a model folder outside the run */
				snprintf(dir, sizeof dir, "%s", dirs[k]);
			else if (refs[k] >= 0 && refs[k] < r->start_stage)
				pofa_run_stage_dir(r, refs[k], dir, sizeof dir);
			else
				continue;
			if (check_model_dir(r, dir, &cfg, err))
				return stage_error(r, s, err);
			if (k == 0) {
				own = cfg;
				snprintf(from, sizeof from, "%s", dir);
			} else {
				tcfg = cfg;
				tknown = 1;
			}
		}
		if (check_compound(s, &own, tknown ? &tcfg : NULL, err))
			return stage_error(r, s, err);
		cfgs[i] = own;
		if (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE) {
			if (!*corpus_checked && readable_file(rc->corpus, "the pre-training corpus", err))
				return stage_error(r, s, err);
			*corpus_checked = 1;
		} else if (check_task(s, from, err)) {
			return stage_error(r, s, err);
		}
		if (s->kind == POFA_STAGE_EVAL ? check_eval_models(r, s, cfgs, err) : check_shapes(s, &own, err))
			return stage_error(r, s, err);
	}
	return POFA_OK;
}
