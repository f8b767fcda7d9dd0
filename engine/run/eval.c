/*
 * eval.c - evaluation: a model on a task's split (its metrics, loss and
 * predictions; see eval.h), the dev split during a training stage, and
 * eval stages that score several models on a task.
 */
#include "engine/run/internal.h"
#include "engine/run/dist.h"
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

enum pofa_head pofa_task_head(const pofa_task_spec *spec)
{
	return spec->format == POFA_TASK_SQUAD ? POFA_HEAD_SPAN : POFA_HEAD_CLS;
}

static int sc_forward(const pofa_scorer *s, const pofa_batch *b, pofa_err *err)
{
	return s->infer ? pofa_infer_forward(s->infer, b, err) : pofa_model_forward(s->model, b, 0, err);
}

static float sc_loss(const pofa_scorer *s, const pofa_batch *b)
{
	return s->infer ? pofa_infer_task_loss(s->infer, b) : pofa_model_task_loss(s->model, b, 1.0f);
}

static const float *sc_logits(const pofa_scorer *s, int *rows, int *cols)
{
	return s->infer ? pofa_infer_logits(s->infer, rows, cols) : pofa_model_logits(s->model, rows, cols);
}

/* the wall clock, for throughput */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void csv_cell(FILE *f, const char *s, int last)
{
	csv_fwrite(f, s, strlen(s));
	fputc(last ? '\n' : ',', f);
}

int pofa_evaluate(const pofa_scorer *s, const pofa_taskset *ts, const pofa_labels *labels, int B,
                  const char *predictions, pofa_eval_result *res, pofa_err *err)
{
	memset(res, 0, sizeof *res);
	int T = ts->T;
	int *buf = malloc((size_t)B * (3 * T + 3) * sizeof(int));
	long *idx = malloc((size_t)B * sizeof(long));
	int *pred = malloc(((size_t)ts->n + 1) * sizeof(int));
	int nr = s->split && !predictions ? pofa_dist_size() : 1, me = pofa_dist_rank();
	float *sl = NULL, *el = NULL;
	if (ts->format == POFA_TASK_SQUAD) {
		sl = calloc((size_t)ts->n * T + 1, sizeof(float));   /* zeros: summed over ranks */
		el = calloc((size_t)ts->n * T + 1, sizeof(float));
	}
	if (!buf || !idx || !pred || (ts->format == POFA_TASK_SQUAD && (!sl || !el))) {
		free(buf); free(idx); free(pred); free(sl); free(el);
		return pofa_error(err, POFA_ERR_RUN, "out of memory for evaluation");
	}
	int *ids = buf, *types = buf + B * T, *mask = buf + 2 * B * T, *lab = buf + 3 * B * T;
	int *st = lab + B, *en = st + B;
	FILE *pf = NULL;
	char tmp[1100];
	if (predictions) {
		snprintf(tmp, sizeof tmp, "%s.tmp", predictions);
		pf = fopen(tmp, "w");
		if (!pf) {
			free(buf); free(idx); free(pred); free(sl); free(el);
			return pofa_error(err, POFA_ERR_INPUT, "%s: cannot write: %s", predictions, strerror(errno));
		}
		if (ts->format == POFA_TASK_SQUAD) {
			fputs("id,prediction,gold\n", pf);
		} else {
			/* the row's line in its file, its text, a probability per label */
			fputs(ts->text.b ? "line,text_a,text_b" : "line,text", pf);
			for (int c = 0; c < labels->n; c++) {
				char h[96];
				snprintf(h, sizeof h, "p_%s", labels->names[c]);
				fputc(',', pf);
				csv_fwrite(pf, h, strlen(h));
			}
			fputs(",prediction,gold\n", pf);
		}
	}
	double loss = 0.0;
	long batches = 0, nb = (ts->n + B - 1) / B;
	int rc = POFA_OK;
	/* split over ranks, a failed rank goes on calling between, in step */
	for (long i0 = 0; i0 < ts->n && (!rc || nr > 1); i0 += B) {
		if (i0 > 0 && s->between && s->between(s->arg, i0 / B, nb)) {
			res->stopped = 1;
			break;
		}
		int bn = (int)POFA_MIN((long)B, ts->n - i0);
		for (int b = 0; b < bn; b++)
			pred[i0 + b] = -1;
		if (rc || (nr > 1 && (i0 / B) % nr != me))
			continue;   /* another rank's batch */
		for (int b = 0; b < bn; b++)
			idx[b] = i0 + b;
		pofa_taskset_batch(ts, idx, bn, ids, types, mask, lab, st, en);
		pofa_batch bt = { .B = bn, .T = T, .input_ids = ids, .token_type_ids = types,
		                  .attention_mask = mask, .labels = lab, .start_positions = st,
		                  .end_positions = en };
		double t0 = now_s();
		rc = sc_forward(s, &bt, err);
		res->forward_s += now_s() - t0;
		if (rc)
			break;
		res->sequences += bn;
		loss += sc_loss(s, &bt) * bn;
		batches += bn;
		int rows, cols;
		const float *lg = sc_logits(s, &rows, &cols);
		for (int b = 0; b < bn; b++) {
			if (ts->format == POFA_TASK_SQUAD) {
				for (int t = 0; t < T; t++) {
					sl[(size_t)(i0 + b) * T + t] = lg[((size_t)b * T + t) * 2];
					el[(size_t)(i0 + b) * T + t] = lg[((size_t)b * T + t) * 2 + 1];
				}
				continue;
			}
			int best = 0;
			for (int c = 1; c < cols; c++)
				if (lg[b * cols + c] > lg[b * cols + best])
					best = c;
			pred[i0 + b] = best;
			if (pf) {
				long ex = i0 + b;
				fprintf(pf, "%ld,", ts->text.n > ex ? ts->text.line[ex] : ex);
				csv_cell(pf, ts->text.n > ex ? ts->text.a[ex] : "", 0);
				if (ts->text.b)
					csv_cell(pf, ts->text.b[ex], 0);
				/* softmax of the logits, the largest subtracted */
				double mx = lg[b * cols + best], z = 0.0;
				for (int c = 0; c < cols; c++)
					z += exp((double)lg[b * cols + c] - mx);
				for (int c = 0; c < cols; c++)
					fprintf(pf, "%.6g,", exp((double)lg[b * cols + c] - mx) / z);
				csv_cell(pf, labels->names[best], 0);
				csv_cell(pf, labels->names[lab[b]], 1);
			}
		}
	}
	if (nr > 1 && !res->stopped) {
		/* every rank's share summed: the predictions (one rank made each,
		 * the others hold -1), span logits (the others hold 0), losses */
		int64_t any = rc != 0;
		pofa_dist_sum_i64(&any, 1);
		if (any && !rc)
			rc = pofa_error(err, POFA_ERR_RUN, "%s: another rank's share of the evaluation failed", ts->path);
		if (!rc) {
			int64_t *p = malloc(((size_t)ts->n + 1) * sizeof *p);
			if (!p) {
				rc = pofa_error(err, POFA_ERR_RUN, "out of memory for evaluation");
			} else {
				for (long x = 0; x < ts->n; x++)
					p[x] = pred[x] + 1;
				pofa_dist_sum_i64(p, (size_t)ts->n);
				for (long x = 0; x < ts->n; x++)
					pred[x] = (int)p[x] - 1;
				free(p);
			}
			if (sl) {
				pofa_dist_sum_f(sl, (size_t)ts->n * T);
				pofa_dist_sum_f(el, (size_t)ts->n * T);
			}
			double lb[2] = { loss, (double)batches };
			pofa_dist_sum_d(lb, 2);
			loss = lb[0];
			batches = (long)lb[1];
		}
	}
	if (!rc && res->stopped) {
		if (pf)
			fclose(pf), remove(tmp), pf = NULL;
		free(buf); free(idx); free(pred); free(sl); free(el);
		return POFA_OK;
	}
	if (!rc && !isfinite(loss))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: the model's loss on this data is %g: its outputs are not "
		                "finite, so its weights are too large or damaged; no metric is given", ts->path, loss);
	if (!rc) {
		res->loss = batches ? loss / batches : 0.0;
		if (ts->format == POFA_TASK_SQUAD) {
			double em = 0.0, f1 = 0.0;
			char out[2048];
			for (int x = 0; x < ts->qa.nex; x++) {
				const pofa_qa_example *e = &ts->qa.ex[x];
				pofa_qa_predict(&ts->qa, x, sl, el, 20, 30, out, sizeof out);
				em += pofa_squad_em(out, (const char *const *)e->answers, e->nans);
				f1 += pofa_squad_f1(out, (const char *const *)e->answers, e->nans);
				if (pf) {
					csv_cell(pf, e->id, 0);
					csv_cell(pf, out, 0);
					csv_cell(pf, e->nans ? e->answers[0] : "", 1);
				}
			}
			int nx = ts->qa.nex ? ts->qa.nex : 1;
			res->n = 2;
			res->m[0] = (pofa_metric){ "f1", 100.0 * f1 / nx };
			res->m[1] = (pofa_metric){ "exact_match", 100.0 * em / nx };
			res->examples = ts->qa.nex;
		} else {
			res->n = 2;
			res->m[0] = (pofa_metric){ "accuracy", 100.0 * pofa_accuracy(pred, ts->labels, ts->n) };
			res->ncls = labels->n < 64 ? labels->n : 64;
			res->positive = labels->n == 2 ? ts->positive : -1;
			for (long x = 0; x < ts->n; x++)
				if (ts->labels[x] >= 0 && ts->labels[x] < res->ncls && pred[x] >= 0 && pred[x] < res->ncls)
					res->conf[ts->labels[x]][pred[x]]++;
			if (labels->n == 2) {
				res->m[1] = (pofa_metric){ "f1", 100.0 * pofa_binary_f1(pred, ts->labels, ts->n, ts->positive) };
			} else {
				res->m[1] = (pofa_metric){ "macro_f1", 100.0 * pofa_macro_f1(pred, ts->labels, ts->n, labels->n) };
			}
			res->examples = ts->n;
		}
	}
	if (pf) {
		int bad = fflush(pf) || ferror(pf) || fsync(fileno(pf));
		int e = errno;
		fclose(pf);
		if (!rc && (bad || rename(tmp, predictions)))
			rc = pofa_error(err, POFA_ERR_RUN, "%s: write failed: %s", predictions, strerror(bad ? e : errno));
		if (rc)
			remove(tmp);
	}
	free(buf);
	free(idx);
	free(pred);
	free(sl);
	free(el);
	return rc;
}

pofa_class_stats pofa_class_stats_of(const pofa_eval_result *r, int k)
{
	pofa_class_stats c = { 0 };
	int64_t tp = r->conf[k][k];
	for (int j = 0; j < r->ncls; j++) {
		c.support += r->conf[k][j];
		c.predicted += r->conf[j][k];
	}
	c.precision = c.predicted ? 100.0 * (double)tp / (double)c.predicted : 0.0;
	c.recall = c.support ? 100.0 * (double)tp / (double)c.support : 0.0;
	c.f1 = c.precision + c.recall > 0.0 ? 2.0 * c.precision * c.recall / (c.precision + c.recall) : 0.0;
	return c;
}

double pofa_eval_throughput(pofa_infer *inf, const pofa_taskset *ts, int B, int batches, pofa_err *err)
{
	int T = ts->T;
	int *buf = malloc((size_t)B * (3 * T + 3) * sizeof(int));
	long *idx = malloc((size_t)B * sizeof(long));
	if (!buf || !idx) {
		free(buf);
		free(idx);
		pofa_error(err, POFA_ERR_RUN, "out of memory for evaluation");
		return -1.0;
	}
	int *ids = buf, *types = buf + B * T, *mask = buf + 2 * B * T, *lab = buf + 3 * B * T;
	double secs = 0.0;
	long seqs = 0;
	for (int k = -1; k < batches; k++) {
		long i0 = (long)(k < 0 ? 0 : k) * B;
		if (i0 >= ts->n)
			break;
		int bn = (int)POFA_MIN((long)B, ts->n - i0);
		for (int b = 0; b < bn; b++)
			idx[b] = i0 + b;
		pofa_taskset_batch(ts, idx, bn, ids, types, mask, lab, lab + B, lab + 2 * B);
		pofa_batch bt = { .B = bn, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask };
		double t0 = now_s();
		if (pofa_infer_forward(inf, &bt, err)) {
			secs = -1.0;
			break;
		}
		if (k >= 0) { /* the first batch warms up */
			secs += now_s() - t0;
			seqs += bn;
		}
	}
	free(buf);
	free(idx);
	return secs < 0.0 ? -1.0 : secs > 0.0 ? (double)seqs / secs : 0.0;
}

/* ---- during training, and eval stages ---------------------------------------------- */

/* Between two batches of an evaluation inside a run: its progress for the
 * front end (at most four times a second), and the commands that cannot
 * wait minutes for it: pause (the engine sleeps here), stop (the
 * evaluation ends, the caller stops the stage), skip of an eval stage,
 * export. The others wait, in order, for the next step boundary. */
static int eval_poll(void *arg, long done, long total)
{
	stage_ctx *c = arg;
	pofa_run *r = c->r;
	double now = pofa_run_now();
	if (now - c->eval_t_last >= 0.25 || done == total) {
		c->eval_t_last = now;
		pofa_event e = pofa_ev_new(POFA_EV_EVAL_PROGRESS, c->i, r);
		e.step = done;
		e.total = total;
		snprintf(e.text, sizeof e.text, "%s", c->eval_what);
		pofa_run_emit(r, &e);
	}
	int paused = 0, end = 0;
	for (;;) {
		pofa_command cmds[64], keep[64];
		int n = pofa_run_take_synced(r, cmds, 64, paused), nk = 0;
		for (int k = 0; k < n; k++) {
			pofa_command *cm = &cmds[k];
			pofa_event e = pofa_ev_new(POFA_EV_LOG, c->i, r);
			e.step = c->step;
			e.total = c->N;
			int skip_here = cm->kind == POFA_CMD_SKIP && c->s.kind == POFA_STAGE_EVAL;
			if (end) {
				keep[nk++] = *cm;
			} else if (cm->kind == POFA_CMD_PAUSE && !paused) {
				paused = 1;
				e.kind = POFA_EV_PAUSE;
				snprintf(e.text, sizeof e.text, "during %s", c->eval_what);
				pofa_run_emit(r, &e);
			} else if (cm->kind == POFA_CMD_RESUME && paused) {
				paused = 0;
				e.kind = POFA_EV_RESUME;
				pofa_run_emit(r, &e);
			} else if (cm->kind == POFA_CMD_STOP || skip_here) {
				c->stop_asked = cm->kind == POFA_CMD_STOP;
				c->skip_asked = skip_here;
				if (paused) {
					e.kind = POFA_EV_RESUME;
					snprintf(e.text, sizeof e.text, "%s while paused", skip_here ? "skip" : "stop");
					pofa_run_emit(r, &e);
				}
				pofa_run_log(r, c->i, POFA_EV_LOG, "%s: %s at batch %ld of %ld", c->eval_what,
				             skip_here ? "skipped" : "stopped", done, total);
				paused = 0;
				end = 1;
			} else if (cm->kind == POFA_CMD_EXPORT) {
				e.kind = POFA_EV_EXPORT;
				snprintf(e.text, sizeof e.text, "%s", cm->path);
				pofa_run_emit(r, &e);
			} else if (cm->kind != POFA_CMD_PAUSE && cm->kind != POFA_CMD_RESUME) {
				keep[nk++] = *cm;
			}
		}
		if (!r->follower)   /* rank 0 sends them again at the next step */
			pofa_run_requeue(r, keep, nk);
		if (end || !paused)
			return end;
	}
}

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
	if (c->has_mlm) {
		pofa_model_set_mlm_positions(c->m, POFA_MLM_MASKED);
		double loss = 0.0;
		long ok = 0, cnt = 0;
		int batches = 0;
		snprintf(c->eval_what, sizeof c->eval_what, "%s on its masked-LM dev split", c->s.name);
		long nb = (c->mlm.ndev + c->s.batch - 1) / c->s.batch;
		nb = nb < 40 ? nb : 40;
		for (long k = 0; k * c->s.batch < c->mlm.ndev && k < 40; k++) {
			if (k > 0 && eval_poll(c, k, nb))
				return POFA_OK;   /* stopped: no result */
			int filled = pofa_mlm_dev(&c->mlm, k, c->s.batch, c->ids, c->types, c->mask, c->lab);
			if (!filled)
				break;
			pofa_batch b = { .B = filled, .T = c->s.seq, .input_ids = c->ids, .token_type_ids = c->types,
			                 .attention_mask = c->mask, .mlm_labels = c->lab };
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
				ok += best == c->lab[pos[i]];
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
	if (!c->dev.n)
		return POFA_OK;
	pofa_eval_result res;
	snprintf(c->eval_what, sizeof c->eval_what, "%s on %s dev", c->s.name, c->s.task.name);
	pofa_scorer sc = { .model = c->m, .between = eval_poll, .arg = c, .split = 1 };
	if (pofa_evaluate(&sc, &c->dev, &c->labels, c->s.batch, NULL, &res, err))
		return err->status;
	if (res.stopped)
		return POFA_OK;   /* no result: the caller stops the stage */
	c->dev_res = res;
	c->has_dev_res = 1;
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
	emit_classes(r, c->i, c->step, c->N, &res, &c->labels, c->s.name, c->s.task.name, "dev");
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
		if (pofa_task_head(&s->task) == POFA_HEAD_CLS && pofa_model_dir_labels(dir, &c->labels, err) <= 0) {
			if (err->status == POFA_OK)
				pofa_error(err, POFA_ERR_INPUT, "%s: no classifier to evaluate on %s", dir, s->task.name);
			return pofa_stage_fail(c, err);
		}
		c->m = pofa_stage_model(c, pofa_task_head(&s->task), POFA_MODEL_INFER, mi, c->labels.n, err);
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
		pofa_scorer sc = { .infer = fast, .between = eval_poll, .arg = c, .split = 1 };
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
			snprintf(c->eval_what, sizeof c->eval_what, "%s: %s on %s %s", s->name, mn, s->task.name, sp);
			if (pofa_taskset_load(&s->task, file, r->tk, s->seq, &c->labels, &ts, err) ||
			    pofa_taskset_sample(&ts, s->eval_examples, err) ||
			    pofa_evaluate(&sc, &ts, &c->labels, s->batch, NULL, &res, err) ||
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
			emit_classes(r, c->i, 0, 0, &res, &c->labels, mn, s->task.name, sp);
		}
		pofa_infer_free(fast);
		pofa_infer_free(dense);
		if (failed)
			return pofa_stage_fail(c, err);
		if (c->skip_asked)
			return POFA_STAGE_SKIPPED;
		if (c->stop_asked)   /* a resume runs the eval stage again */
			return pofa_state_write(r, c->i, 0, NULL, err) ? pofa_stage_fail(c, err) : POFA_STAGE_STOPPED;
	}
	return POFA_STAGE_DONE;
}
