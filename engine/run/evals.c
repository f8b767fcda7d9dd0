/*
 * evals.c - evaluations inside a run: a training stage's dev evaluation
 * and eval stages that score several models on a task, their results as
 * events. The evaluation itself is engine/eval's.
 */
#include "engine/run/internal.h"
#include "engine/dist/dist.h"
#include "engine/model/folder.h"
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

/* MLM dev loss and masked-token accuracy, or the task's dev metrics */
int pofa_evaluate_dev(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	if (c->d.has_mlm) {
		pofa_model_set_mlm_positions(c->m, POFA_MLM_MASKED);
		double loss = 0.0;
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
		const char *names[2] = { "loss", "accuracy" };
		double vals[2] = { batches ? loss / batches : 0.0, cnt ? 100.0 * ok / cnt : 0.0 };
		for (int k = 0; k < 2; k++) {
			pofa_event e = pofa_ev_new(POFA_EV_EVAL, c->i, r);
			e.step = c->step;
			e.total = c->N;
			snprintf(e.model, sizeof e.model, "%s", c->s.name);
			strcpy(e.task, "mlm");
			strcpy(e.split, "dev");
			snprintf(e.metric, sizeof e.metric, "%s", names[k]);
			e.value = vals[k];
			e.loss = vals[0];
			e.sparsity = pofa_model_sparsity(c->m);
			pofa_run_emit(r, &e);
		}
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

/* an eval stage: each named model on the task's splits */
enum pofa_stage_status pofa_eval_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	pofa_stage *s = &c->s;
	pofa_event se = pofa_ev_new(POFA_EV_STAGE_START, c->i, r);
	snprintf(se.text, sizeof se.text, "%s: eval of %s on %s (%s)", s->name, s->models, s->task.name, s->splits);
	pofa_run_emit(r, &se);
	char models[512], splits[64];
	snprintf(models, sizeof models, "%s", s->models);
	char *save1 = NULL, *save2 = NULL;
	for (char *mn = strtok_r(models, ", ", &save1); mn; mn = strtok_r(NULL, ", ", &save1)) {
		int mi = pofa_recipe_stage(&r->rc, mn);
		char dir[1200], path[1300];
		pofa_run_stage_dir(r, mi, dir, sizeof dir);
		/* each model's own labels, in its order: no train split needed */
		if (pofa_task_head(&s->task) == POFA_HEAD_CLS && pofa_model_dir_labels(dir, &c->d.labels, err) <= 0) {
			if (err->status == POFA_OK)
				pofa_error(err, POFA_ERR_INPUT, "%s: no classifier to evaluate on %s", dir, s->task.name);
			return pofa_stage_fail(c, err);
		}
		c->m = pofa_stage_model(c, pofa_task_head(&s->task), POFA_MODEL_INFER, mi, c->d.labels.n, err);
		if (!c->m)
			return pofa_stage_fail(c, err);
		/* the forward-only path: packed by the model's zeros, int8 where a
		 * qat stage left int8 weights; and the dense product, for the speed-up */
		snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
		int has8 = access(path, R_OK) == 0;
		pofa_st_file q8;
		if (has8 && pofa_st_open(&q8, path, err))
			return pofa_stage_fail(c, err);
		pofa_infer_opts io = { .maxB = s->batch, .maxT = s->seq, .threads = r->threads,
		                       .int8 = has8 ? POFA_INT8_ON : POFA_INT8_OFF, .force_fmt = -1, .cpu = -1 };
		pofa_infer *fast = pofa_infer_from_model(c->m, has8 ? &q8 : NULL, &io, err);
		if (has8)
			pofa_st_close(&q8);
		io.int8 = POFA_INT8_OFF;
		io.force_fmt = POFA_LIN_DENSE;
		pofa_infer *dense = fast ? pofa_infer_from_model(c->m, NULL, &io, err) : NULL;
		double sparsity = pofa_model_sparsity(c->m);
		pofa_model_free(c->m);
		c->m = NULL;
		if (!dense) {
			pofa_infer_free(fast);
			return pofa_stage_fail(c, err);
		}
		pofa_infer_info info;
		pofa_infer_describe(fast, &info);
		char how[200];
		int off = snprintf(how, sizeof how, "%s, %s:", has8 ? "int8" : "float32", pofa_cpu_path_names[info.path]);
		for (int f = 0; f < POFA_LINEAR_FMT_COUNT; f++)
			if (info.linears[f] && off < (int)sizeof how)
				off += snprintf(how + off, sizeof how - (size_t)off, " %d %s", info.linears[f],
				                pofa_linear_fmt_names[f]);
		pofa_scorer sc = { .infer = fast, .between = pofa_eval_poll, .arg = c, .split = 1 };
		int failed = 0;
		snprintf(splits, sizeof splits, "%s", s->splits);
		for (char *sp = strtok_r(splits, ", ", &save2); sp && !failed; sp = strtok_r(NULL, ", ", &save2)) {
			const char *file = !strcmp(sp, "train") ? s->task.train : !strcmp(sp, "dev") ? s->task.dev
			                   : s->task.test;
			if (!file[0]) {
				pofa_run_log(r, c->i, POFA_EV_LOG, "task %s has no %s split", s->task.name, sp);
				continue;
			}
			pofa_taskset ts;
			pofa_eval_result res;
			double dense_sps = -1.0;
			snprintf(c->ev.what, sizeof c->ev.what, "%s: %s on %s %s", s->name, mn, s->task.name, sp);
			if (pofa_taskset_load(&s->task, file, r->tk, s->seq, &c->d.labels, &ts, err) ||
			    pofa_taskset_sample(&ts, s->eval_examples, err) ||
			    pofa_evaluate(&sc, &ts, &c->d.labels, s->batch, NULL, &res, err) ||
			    (!res.stopped && (dense_sps = pofa_eval_throughput(dense, &ts, s->batch, 8, err)) < 0.0)) {
				pofa_taskset_free(&ts);
				failed = 1;
				break;
			}
			if (res.stopped) {   /* stop or skip asked during it */
				pofa_taskset_free(&ts);
				break;
			}
			pofa_run_log(r, c->i, POFA_EV_LOG, "%s", ts.summary);
			pofa_taskset_free(&ts);
			double sps = res.forward_s > 0.0 ? res.sequences / res.forward_s : 0.0;
			pofa_run_log(r, c->i, POFA_EV_LOG, "%s on %s %s: %.1f sequences/s (%s), dense %.1f: %.2fx", mn,
			             s->task.name, sp, sps, how, dense_sps, dense_sps > 0.0 ? sps / dense_sps : 0.0);
			for (int k = 0; k < res.n; k++) {
				pofa_event e = pofa_ev_new(POFA_EV_EVAL, c->i, r);
				snprintf(e.model, sizeof e.model, "%s", mn);
				snprintf(e.task, sizeof e.task, "%s", s->task.name);
				snprintf(e.split, sizeof e.split, "%s", sp);
				snprintf(e.metric, sizeof e.metric, "%s", res.m[k].name);
				e.value = res.m[k].value;
				e.loss = res.loss;
				e.seq_per_s = sps;
				e.speedup = dense_sps > 0.0 ? sps / dense_sps : 0.0;
				e.sparsity = sparsity;
				snprintf(e.text, sizeof e.text, "%s", how);
				pofa_run_emit(r, &e);
			}
			emit_classes(r, c->i, 0, 0, &res, &c->d.labels, mn, s->task.name, sp);
		}
		pofa_infer_free(fast);
		pofa_infer_free(dense);
		if (failed)
			return pofa_stage_fail(c, err);
		if (c->ev.skip_asked)
			return POFA_STAGE_SKIPPED;
		if (c->ev.stop_asked)   /* a resume runs the eval stage again */
			return pofa_state_write(r, c->i, 0, NULL, err) ? pofa_stage_fail(c, err) : POFA_STAGE_STOPPED;
	}
	return POFA_STAGE_DONE;
}
