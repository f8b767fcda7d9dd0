/*
 * evals.c - evaluations inside a run: a training stage's dev evaluation
 * and eval stages that score several models on a task, their results as
 * events. The evaluation itself is engine/eval's.
 */
#include "engine/run/internal.h"
#include "engine/dist/dist.h"
#include "engine/model/folder.h"
#include "data/task/baselines.h"
#include "data/base/util.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- during training, and eval stages ---------------------------------------------- */

/* an evaluation's classes, after its metrics: one event per class with
 * its figures and its row of the confusion matrix */
static void emit_classes(pofa_run *r, int stage, int64_t step, int64_t total, const pofa_eval_result *res,
                         const pofa_labels *labels, const char *model, const char *task, const char *split)
{
	for (int k = 0; k < res->ncls; k++) {
		pofa_event e = pofa_ev_new(POFA_EV_CLASS, stage, r);
		e.step = step;
		e.total = total;
		snprintf(e.model, sizeof e.model, "%s", model);
		snprintf(e.task, sizeof e.task, "%s", task);
		snprintf(e.split, sizeof e.split, "%s", split);
		snprintf(e.text, sizeof e.text, "%s", labels->names[k]);
		e.cls = k;
		e.ncls = res->ncls;
		e.positive = res->positive == k;
		pofa_class_stats st = pofa_class_stats_of(res, k);
		e.precision = st.precision;
		e.recall = st.recall;
		e.f1 = st.f1;
		e.support = st.support;
		e.predicted = st.predicted;
		memcpy(e.confusion, res->conf[k], sizeof e.confusion);
		pofa_run_emit(r, &e);
	}
}

/* the unigram baseline's loss on the masked-LM dev split: the same masked
 * tokens, averaged as the model's loss is (over each batch's tokens, then
 * over the batches); the line a model must go below to have learned */
static int unigram_dev(stage_ctx *c, double *out, pofa_err *err)
{
	if (!c->d.unigram && !(c->d.unigram = pofa_unigram_logp(&c->d.mlm)))
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	double uni = 0.0;
	int batches = 0;
	size_t T = (size_t)c->s.seq;
	for (long k = 0; k * c->s.batch < c->d.mlm.ndev && k < 40; k++) {
		int filled = pofa_mlm_dev(&c->d.mlm, k, c->s.batch, c->d.ids, c->d.types, c->d.mask, c->d.lab);
		if (!filled)
			break;
		double ub = 0.0;
		int rows = 0;
		for (size_t t = 0; t < (size_t)c->s.batch * T; t++)
			if (c->d.lab[t] != POFA_IGNORE) {
				ub -= c->d.unigram[c->d.lab[t]];
				rows++;
			}
		uni += rows ? ub / rows : 0.0;
		batches++;
	}
	*out = batches ? uni / batches : 0.0;
	return POFA_OK;
}

/* a masked-LM dev row of eval.csv (model: the stage's or "unigram") */
static void emit_mlm(stage_ctx *c, const char *model, const char *metric, double value, double loss, double sp)
{
	pofa_event e = pofa_ev_new(POFA_EV_EVAL, c->i, c->r);
	e.step = c->step;
	e.total = c->N;
	snprintf(e.model, sizeof e.model, "%s", model);
	strcpy(e.task, "mlm");
	strcpy(e.split, "dev");
	snprintf(e.metric, sizeof e.metric, "%s", metric);
	e.value = value;
	e.loss = loss;
	e.sparsity = sp;
	pofa_run_emit(c->r, &e);
}

int pofa_unigram_row(stage_ctx *c, pofa_err *err)
{
	double uni;
	if (!c->d.has_mlm || !c->d.mlm.ndev)
		return POFA_OK;
	if (unigram_dev(c, &uni, err))
		return err->status;
	emit_mlm(c, "unigram", "loss", uni, uni, 0.0);
	return POFA_OK;
}

/* MLM dev loss and masked-token accuracy, or the task's dev metrics */
int pofa_evaluate_dev(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	if (c->d.has_mlm) {
		pofa_model_set_mlm_positions(c->m, POFA_MLM_MASKED);
		double loss = 0.0, uni;
		long ok = 0, cnt = 0;
		int batches = 0;
		snprintf(c->ev.what, sizeof c->ev.what, "%s on its masked-LM dev split", c->s.name);
		long nb = (c->d.mlm.ndev + c->s.batch - 1) / c->s.batch;
		nb = nb < 40 ? nb : 40;
		for (long k = 0; k * c->s.batch < c->d.mlm.ndev && k < 40; k++) {
			if (k > 0 && pofa_eval_poll(c, k, nb))
				return POFA_OK;   /* stopped: no result */
			int filled = pofa_mlm_dev(&c->d.mlm, k, c->s.batch, c->d.ids, c->d.types, c->d.mask, c->d.lab);
			if (!filled)
				break;
			pofa_batch b = { .B = filled, .T = c->s.seq, .input_ids = c->d.ids, .token_type_ids = c->d.types,
			                 .attention_mask = c->d.mask, .mlm_labels = c->d.lab };
			if (pofa_model_forward(c->m, &b, 0, err))
				return err->status;
			loss += pofa_model_task_loss(c->m, &b, 1.0f);
			batches++;
			int rows, V;
			const float *lg = pofa_model_logits(c->m, &rows, &V);
			const int *pos = pofa_model_logit_positions(c->m);
			for (int i = 0; i < rows; i++) {
				int best = 0;
				for (int j = 1; j < V; j++)
					if (lg[(size_t)i * V + j] > lg[(size_t)i * V + best])
						best = j;
				ok += best == c->d.lab[pos[i]];
				cnt++;
			}
		}
		pofa_model_set_mlm_positions(c->m, c->teacher ? POFA_MLM_ALL : POFA_MLM_MASKED);
		/* the model's loss and accuracy; then the unigram baseline's loss */
		if (unigram_dev(c, &uni, err))
			return err->status;
		double l = batches ? loss / batches : 0.0, sp = pofa_model_sparsity(c->m);
		emit_mlm(c, c->s.name, "loss", l, l, sp);
		emit_mlm(c, c->s.name, "accuracy", cnt ? 100.0 * ok / cnt : 0.0, l, sp);
		emit_mlm(c, "unigram", "loss", uni, uni, 0.0);
		return POFA_OK;
	}
	if (!c->d.dev.n)
		return POFA_OK;
	pofa_eval_result res;
	snprintf(c->ev.what, sizeof c->ev.what, "%s on %s dev", c->s.name, c->s.task.name);
	pofa_scorer sc = { .model = c->m, .between = pofa_eval_poll, .arg = c, .split = 1 };
	if (pofa_evaluate(&sc, &c->d.dev, &c->d.labels, c->s.batch, NULL, &res, err))
		return err->status;
	if (res.stopped)
		return POFA_OK;   /* no result: the caller stops the stage */
	c->sel.dev = res;
	c->sel.has_dev = 1;
	double sparsity = pofa_model_sparsity(c->m);
	for (int k = 0; k < res.n; k++) {
		pofa_event e = pofa_ev_new(POFA_EV_EVAL, c->i, r);
		e.step = c->step;
		e.total = c->N;
		snprintf(e.model, sizeof e.model, "%s", c->s.name);
		snprintf(e.task, sizeof e.task, "%s", c->s.task.name);
		strcpy(e.split, "dev");
		snprintf(e.metric, sizeof e.metric, "%s", res.m[k].name);
		e.value = res.m[k].value;
		e.loss = res.loss;
		e.sparsity = sparsity;
		pofa_run_emit(r, &e);
	}
	emit_classes(r, c->i, c->step, c->N, &res, &c->d.labels, c->s.name, c->s.task.name, "dev");
	return POFA_OK;
}

/* a model of an eval stage's models: a stage of this run (its folder), or
 * a model folder; and its name in the results */
static void eval_target(const pofa_run *r, const char *ref, char *dir, size_t n, char *name, size_t nn)
{
	int mi = pofa_recipe_stage(&r->rc, ref);
	if (mi >= 0)
		pofa_run_stage_dir(r, mi, dir, n);
	else
		snprintf(dir, n, "%s", ref);
	pofa_model_ref_name(ref, name, nn);
}

/* what an eval stage passes on to the evaluator's notes: the run's log */
static void eval_note(void *arg, const char *msg)
{
	stage_ctx *c = arg;
	pofa_run_log(c->r, c->i, POFA_EV_LOG, "%s", msg);
}

/* one model's results on one split, as events: a row of eval.csv a metric,
 * then the classes */
static void emit_eval(stage_ctx *c, const char *name, const char *split, const pofa_eval_report *rep)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	const pofa_eval_result *res = &rep->res;
	pofa_run_log(r, c->i, POFA_EV_LOG, "%s", rep->summary);
	if (rep->speedup_same)
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s on %s %s: %.1f sequences/s (%s): computed as the dense model, 1.00x",
		             name, s->task.name, split, rep->seq_per_s, rep->how);
	else
		pofa_run_log(r, c->i, POFA_EV_LOG, "%s on %s %s: %.1f sequences/s (%s), dense %.1f: %.2fx (median of 5 "
		             "alternating rounds, %.2f-%.2f%s)", name, s->task.name, split, rep->seq_per_s, rep->how,
		             rep->dense_seq_per_s, rep->speedup, rep->speedup_lo, rep->speedup_hi,
		             pofa_eval_within_noise(rep) ? ": within the noise, no speed-up measured" : "");
	for (int k = 0; k < res->n; k++) {
		pofa_event e = pofa_ev_new(POFA_EV_EVAL, c->i, r);
		snprintf(e.model, sizeof e.model, "%s", name);
		snprintf(e.task, sizeof e.task, "%s", s->task.name);
		snprintf(e.split, sizeof e.split, "%s", split);
		snprintf(e.metric, sizeof e.metric, "%s", res->m[k].name);
		e.value = res->m[k].value;
		e.loss = res->loss;
		e.seq_per_s = rep->seq_per_s;
		e.speedup = rep->speedup;
		e.sparsity = rep->sparsity;
		e.size_mb = rep->has_info ? rep->info.weight_bytes / 1e6 : 0.0;
		snprintf(e.text, sizeof e.text, "%s", rep->how);
		pofa_run_emit(r, &e);
	}
	emit_classes(r, c->i, 0, 0, res, &rep->labels, name, s->task.name, split);
}

/* baselines = yes: the task's baselines on a split, as rows of eval.csv
 * beside the models' */
static int emit_baselines(stage_ctx *c, const char *split, const char *file, pofa_err *err)
{
	pofa_baseline b[3];
	int n;
	if (pofa_eval_baselines(&c->s.task, file, (long)c->s.eval_examples, c->r->tk, b, &n, err))
		return err->status;
	for (int k = 0; k < n; k++) {
		const char *names[3] = { "accuracy", "macro_f1", "f1" };
		double v[3] = { b[k].accuracy, b[k].macro_f1, b[k].f1 };
		for (int j = 0; j < 3; j++) {
			if (j == 2 && !(b[k].f1 > 0.0))
				continue;
			pofa_event e = pofa_ev_new(POFA_EV_EVAL, c->i, c->r);
			snprintf(e.model, sizeof e.model, "%.23s", b[k].name);
			snprintf(e.task, sizeof e.task, "%s", c->s.task.name);
			snprintf(e.split, sizeof e.split, "%s", split);
			snprintf(e.metric, sizeof e.metric, "%s", names[j]);
			e.value = v[j];
			e.loss = NAN;
			snprintf(e.text, sizeof e.text, "baseline");
			pofa_run_emit(c->r, &e);
		}
	}
	return POFA_OK;
}

/* an eval stage: each named model (a stage or a model folder) on the
 * task's splits, through the one evaluator pofa eval uses */
enum pofa_stage_status pofa_eval_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	pofa_stage *s = &c->s;
	pofa_event se = pofa_ev_new(POFA_EV_STAGE_START, c->i, r);
	snprintf(se.text, sizeof se.text, "%s: eval of %s on %s (%s)", s->name, s->models, s->task.name, s->splits);
	pofa_run_emit(r, &se);
	char (*refs)[1024] = calloc(32, sizeof *refs), splits[sizeof s->splits];
	pofa_eval_report *rep = calloc(1, sizeof *rep);
	if (!rep || !refs) {
		free(refs);
		free(rep);
		return pofa_error(err, POFA_ERR_RUN, "out of memory"), pofa_stage_fail(c, err);
	}
	int nrefs = pofa_stage_model_refs(s, refs, 32), failed = 0;
	char *save = NULL;
	snprintf(splits, sizeof splits, "%s", s->splits);
	for (char *sp = strtok_r(splits, ", ", &save); s->baselines && sp && !failed; sp = strtok_r(NULL, ", ", &save)) {
		const char *file = !strcmp(sp, "train") ? s->task.train : !strcmp(sp, "dev") ? s->task.dev : s->task.test;
		failed = file[0] && emit_baselines(c, sp, file, err);
	}
	for (int k = 0; k < nrefs && !failed; k++) {
		char dir[1200], name[48];
		eval_target(r, refs[k], dir, sizeof dir, name, sizeof name);
		snprintf(splits, sizeof splits, "%s", s->splits);
		for (char *sp = strtok_r(splits, ", ", &save); sp; sp = strtok_r(NULL, ", ", &save)) {
			const char *file = !strcmp(sp, "train") ? s->task.train : !strcmp(sp, "dev") ? s->task.dev
			                   : s->task.test;
			if (!file[0]) {
				pofa_run_log(r, c->i, POFA_EV_LOG, "task %s has no %s split", s->task.name, sp);
				continue;
			}
			snprintf(c->ev.what, sizeof c->ev.what, "%s: %s on %s %s", s->name, name, s->task.name, sp);
			pofa_eval_opts o = { .task = &s->task, .split = sp, .B = s->batch, .T = s->seq, .threads = r->threads,
			                     .examples = (long)s->eval_examples, .split_ranks = 1, .between = pofa_eval_poll,
			                     .note = eval_note, .arg = c };
			if (pofa_eval_model(dir, &o, rep, err)) {
				failed = 1;
				break;
			}
			if (!rep->res.stopped)   /* else a stop or skip asked during it */
				emit_eval(c, name, sp, rep);
			pofa_eval_report_free(rep);
			if (c->ev.skip_asked || c->ev.stop_asked)
				break;
		}
		if (c->ev.skip_asked || c->ev.stop_asked)
			break;
	}
	pofa_eval_report_free(rep);
	free(rep);
	free(refs);
	if (failed)
		return pofa_stage_fail(c, err);
	if (c->ev.skip_asked)
		return POFA_STAGE_SKIPPED;
	if (c->ev.stop_asked)   /* a resume runs the eval stage again */
		return pofa_state_write(r, c->i, 0, NULL, err) ? pofa_stage_fail(c, err) : POFA_STAGE_STOPPED;
	return POFA_STAGE_DONE;
}
