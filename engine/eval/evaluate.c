/*
 * evaluate.c - a model on a task's split: the main metric and the others,
 * the mean loss, the confusion matrix and, when asked, one CSV row per
 * example (see eval.h).
 */
#include "engine/eval/eval.h"
#include "engine/dist/dist.h"
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

