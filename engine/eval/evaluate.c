/*
 * evaluate.c - a model on a task's split: the main metric and the others,
 * the mean loss, the confusion matrix and, when asked, one CSV row per
 * example (see eval.h).
 */
#include "engine/eval/eval.h"
#include "engine/dist/dist.h"
#include "data/base/text.h"
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

/* a text cell of the predictions file: quoted, a formula made text (text.h) */
static void csv_cell(FILE *f, const char *s, int last)
{
	pofa_csv_text(f, s, -1);
	fputc(last ? '\n' : ',', f);
}

/* an evaluation under way */
typedef struct {
	const pofa_scorer *s;
	const pofa_taskset *ts;
	const pofa_labels *labels;
	int B, T;
	int *buf, *ids, *types, *mask, *lab, *st, *en;   /* one batch */
	long *idx;
	int *pred;              /* per example: the predicted class (-1: another rank's) */
	float *sl, *el;         /* SQuAD: start and end logits per feature */
	FILE *pf;               /* the predictions file, written to tmp then renamed */
	char tmp[1100];
	double loss;
	long batches;
} evaluation;

static void ev_free(evaluation *v)
{
	free(v->buf);
	free(v->idx);
	free(v->pred);
	free(v->sl);
	free(v->el);
}

/* the batch buffers, the predictions, and SQuAD's logits (zeros: summed
 * over ranks) */
static int ev_alloc(evaluation *v, pofa_err *err)
{
	int B = v->B, T = v->T;
	const pofa_taskset *ts = v->ts;
	v->buf = malloc((size_t)B * (3 * T + 3) * sizeof(int));
	v->idx = malloc((size_t)B * sizeof(long));
	v->pred = malloc(((size_t)ts->n + 1) * sizeof(int));
	if (ts->format == POFA_TASK_SQUAD) {
		v->sl = calloc((size_t)ts->n * T + 1, sizeof(float));
		v->el = calloc((size_t)ts->n * T + 1, sizeof(float));
	}
	if (!v->buf || !v->idx || !v->pred || (ts->format == POFA_TASK_SQUAD && (!v->sl || !v->el)))
		return pofa_error(err, POFA_ERR_RUN, "out of memory for evaluation");
	v->ids = v->buf;
	v->types = v->buf + B * T;
	v->mask = v->buf + 2 * B * T;
	v->lab = v->buf + 3 * B * T;
	v->st = v->lab + B;
	v->en = v->st + B;
	return POFA_OK;
}

/* the predictions file and its header: the row's line in its file, its
 * text, a probability per label, the prediction and the gold label */
static int ev_open_predictions(evaluation *v, const char *predictions, pofa_err *err)
{
	snprintf(v->tmp, sizeof v->tmp, "%s.tmp", predictions);
	v->pf = fopen(v->tmp, "w");
	if (!v->pf)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot write: %s", predictions, strerror(errno));
	if (v->ts->format == POFA_TASK_SQUAD) {
		fputs("id,prediction,gold\n", v->pf);
		return POFA_OK;
	}
	fputs(v->ts->text.b ? "line,text_a,text_b" : "line,text", v->pf);
	for (int c = 0; c < v->labels->n; c++) {
		char h[96];
		snprintf(h, sizeof h, "p_%s", v->labels->names[c]);
		fputc(',', v->pf);
		pofa_csv_text(v->pf, h, -1);
	}
	fputs(",prediction,gold\n", v->pf);
	return POFA_OK;
}

/* example ex's row of the predictions file: its line and texts, the
 * softmax of its logits (the largest subtracted), prediction, gold */
static void ev_prediction_row(evaluation *v, long ex, const float *lg, int cols, int best, int gold)
{
	const pofa_taskset *ts = v->ts;
	fprintf(v->pf, "%ld,", ts->text.n > ex ? ts->text.line[ex] : ex);
	csv_cell(v->pf, ts->text.n > ex ? ts->text.a[ex] : "", 0);
	if (ts->text.b)
		csv_cell(v->pf, ts->text.b[ex], 0);
	double mx = lg[best], z = 0.0;
	for (int c = 0; c < cols; c++)
		z += exp((double)lg[c] - mx);
	for (int c = 0; c < cols; c++)
		fprintf(v->pf, "%.6g,", exp((double)lg[c] - mx) / z);
	csv_cell(v->pf, v->labels->names[best], 0);
	csv_cell(v->pf, v->labels->names[gold], 1);
}

/* one batch from example i0: forward, loss, and each example's prediction
 * (SQuAD: its logits) */
static int ev_batch(evaluation *v, long i0, int bn, pofa_eval_result *res, pofa_err *err)
{
	const pofa_scorer *s = v->s;
	const pofa_taskset *ts = v->ts;
	int T = v->T;
	for (int b = 0; b < bn; b++)
		v->idx[b] = i0 + b;
	pofa_taskset_batch(ts, v->idx, bn, v->ids, v->types, v->mask, v->lab, v->st, v->en);
	pofa_batch bt = { .B = bn, .T = T, .input_ids = v->ids, .token_type_ids = v->types, .attention_mask = v->mask,
	                  .labels = v->lab, .start_positions = v->st, .end_positions = v->en };
	double t0 = now_s();
	int rc = sc_forward(s, &bt, err);
	res->forward_s += now_s() - t0;
	if (rc)
		return rc;
	res->sequences += bn;
	v->loss += sc_loss(s, &bt) * bn;
	v->batches += bn;
	int rows, cols;
	const float *lg = sc_logits(s, &rows, &cols);
	for (int b = 0; b < bn; b++) {
		if (ts->format == POFA_TASK_SQUAD) {
			for (int t = 0; t < T; t++) {
				v->sl[(size_t)(i0 + b) * T + t] = lg[((size_t)b * T + t) * 2];
				v->el[(size_t)(i0 + b) * T + t] = lg[((size_t)b * T + t) * 2 + 1];
			}
			continue;
		}
		int best = 0;
		for (int c = 1; c < cols; c++)
			if (lg[b * cols + c] > lg[b * cols + best])
				best = c;
		v->pred[i0 + b] = best;
		if (v->pf)
			ev_prediction_row(v, i0 + b, lg + b * cols, cols, best, v->lab[b]);
	}
	return POFA_OK;
}

/* every rank's share summed: the predictions (one rank made each, the
 * others hold -1), span logits (the others hold 0), losses */
static int ev_sum_ranks(evaluation *v, int failed, pofa_err *err)
{
	const pofa_taskset *ts = v->ts;
	int64_t any = failed != 0;
	pofa_dist_sum_i64(&any, 1);
	if (any && !failed)
		return pofa_error(err, POFA_ERR_RUN, "%s: another rank's share of the evaluation failed", ts->path);
	if (failed)
		return failed;
	int64_t *p = malloc(((size_t)ts->n + 1) * sizeof *p);
	if (!p)
		return pofa_error(err, POFA_ERR_RUN, "out of memory for evaluation");
	for (long x = 0; x < ts->n; x++)
		p[x] = v->pred[x] + 1;
	pofa_dist_sum_i64(p, (size_t)ts->n);
	for (long x = 0; x < ts->n; x++)
		v->pred[x] = (int)p[x] - 1;
	free(p);
	if (v->sl) {
		pofa_dist_sum_f(v->sl, (size_t)ts->n * v->T);
		pofa_dist_sum_f(v->el, (size_t)ts->n * v->T);
	}
	double lb[2] = { v->loss, (double)v->batches };
	pofa_dist_sum_d(lb, 2);
	v->loss = lb[0];
	v->batches = (long)lb[1];
	return POFA_OK;
}

/* SQuAD: the best span of each question's features, F1 and exact match */
static void ev_span_metrics(evaluation *v, pofa_eval_result *res)
{
	const pofa_taskset *ts = v->ts;
	double em = 0.0, f1 = 0.0;
	char out[2048];
	for (int x = 0; x < ts->qa.nex; x++) {
		const pofa_qa_example *e = &ts->qa.ex[x];
		pofa_qa_predict(&ts->qa, x, v->sl, v->el, 20, 30, out, sizeof out);
		em += pofa_squad_em(out, (const char *const *)e->answers, e->nans);
		f1 += pofa_squad_f1(out, (const char *const *)e->answers, e->nans);
		if (v->pf) {
			csv_cell(v->pf, e->id, 0);
			csv_cell(v->pf, out, 0);
			csv_cell(v->pf, e->nans ? e->answers[0] : "", 1);
		}
	}
	int nx = ts->qa.nex ? ts->qa.nex : 1;
	res->n = 2;
	res->m[0] = (pofa_metric){ "f1", 100.0 * f1 / nx };
	res->m[1] = (pofa_metric){ "exact_match", 100.0 * em / nx };
	res->examples = ts->qa.nex;
}

/* classification: accuracy, the confusion matrix, F1 (the positive
 * class's of two, else macro) */
static void ev_class_metrics(evaluation *v, pofa_eval_result *res)
{
	const pofa_taskset *ts = v->ts;
	const pofa_labels *labels = v->labels;
	res->n = 2;
	res->m[0] = (pofa_metric){ "accuracy", 100.0 * pofa_accuracy(v->pred, ts->labels, ts->n) };
	res->ncls = labels->n < 64 ? labels->n : 64;
	res->positive = labels->n == 2 ? ts->positive : -1;
	for (long x = 0; x < ts->n; x++)
		if (ts->labels[x] >= 0 && ts->labels[x] < res->ncls && v->pred[x] >= 0 && v->pred[x] < res->ncls)
			res->conf[ts->labels[x]][v->pred[x]]++;
	if (labels->n == 2)
		res->m[1] = (pofa_metric){ "f1", 100.0 * pofa_binary_f1(v->pred, ts->labels, ts->n, ts->positive) };
	else
		res->m[1] = (pofa_metric){ "macro_f1", 100.0 * pofa_macro_f1(v->pred, ts->labels, ts->n, labels->n) };
	res->examples = ts->n;
}

/* the predictions file closed: renamed into place when all went well,
 * removed otherwise */
static int ev_close_predictions(evaluation *v, const char *predictions, int rc, pofa_err *err)
{
	int bad = fflush(v->pf) || ferror(v->pf) || fsync(fileno(v->pf));
	int e = errno;
	fclose(v->pf);
	v->pf = NULL;
	if (!rc && (bad || rename(v->tmp, predictions)))
		rc = pofa_error(err, POFA_ERR_RUN, "%s: write failed: %s", predictions, strerror(bad ? e : errno));
	if (rc)
		remove(v->tmp);
	return rc;
}

int pofa_evaluate(const pofa_scorer *s, const pofa_taskset *ts, const pofa_labels *labels, int B,
                  const char *predictions, pofa_eval_result *res, pofa_err *err)
{
	memset(res, 0, sizeof *res);
	evaluation v = { .s = s, .ts = ts, .labels = labels, .B = B, .T = ts->T };
	int rc = ev_alloc(&v, err);
	if (!rc && predictions)
		rc = ev_open_predictions(&v, predictions, err);
	if (rc) {
		ev_free(&v);
		return rc;
	}
	int nr = s->split && !predictions ? pofa_dist_size() : 1, me = pofa_dist_rank();
	long nb = (ts->n + B - 1) / B;
	/* split over ranks, a failed rank goes on calling between, in step */
	for (long i0 = 0; i0 < ts->n && (!rc || nr > 1); i0 += B) {
		if (i0 > 0 && s->between && s->between(s->arg, i0 / B, nb)) {
			res->stopped = 1;
			break;
		}
		int bn = (int)POFA_MIN((long)B, ts->n - i0);
		for (int b = 0; b < bn; b++)
			v.pred[i0 + b] = -1;
		if (!rc && (nr < 2 || (i0 / B) % nr == me))   /* else another rank's batch */
			rc = ev_batch(&v, i0, bn, res, err);
	}
	if (nr > 1 && !res->stopped)
		rc = ev_sum_ranks(&v, rc, err);
	if (!rc && !res->stopped && !isfinite(v.loss))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: the model's loss on this data is %g: its outputs are not finite, "
		                "so its weights are too large or damaged; no metric is given", ts->path, v.loss);
	if (!rc && !res->stopped) {
		res->loss = v.batches ? v.loss / v.batches : 0.0;
		if (ts->format == POFA_TASK_SQUAD)
			ev_span_metrics(&v, res);
		else
			ev_class_metrics(&v, res);
	}
	if (v.pf) {   /* a stopped evaluation leaves no predictions file */
		int closed = ev_close_predictions(&v, predictions, rc || res->stopped, err);
		if (!rc && !res->stopped)
			rc = closed;
	}
	ev_free(&v);
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

/* the seconds of one forward of inf over batch k (of B) of the split */
static double time_batch(pofa_infer *inf, const pofa_taskset *ts, int B, long k, int *buf, long *idx, pofa_err *err)
{
	int T = ts->T;
	int *ids = buf, *types = buf + B * T, *mask = buf + 2 * B * T, *lab = buf + 3 * B * T;
	long i0 = k * B;
	int bn = (int)POFA_MIN((long)B, ts->n - i0);
	for (int b = 0; b < bn; b++)
		idx[b] = i0 + b;
	pofa_taskset_batch(ts, idx, bn, ids, types, mask, lab, lab + B, lab + 2 * B);
	pofa_batch bt = { .B = bn, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask };
	double t0 = now_s();
	if (pofa_infer_forward(inf, &bt, err))
		return -1.0;
	return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int pofa_eval_speedup(pofa_infer *a, pofa_infer *b, const pofa_taskset *ts, int B, int batches, int rounds,
                      pofa_speedup *out, pofa_err *err)
{
	memset(out, 0, sizeof *out);
	long nb = ts->n > 0 ? (ts->n + B - 1) / B : 0;
	if (nb == 0 || batches < 1 || rounds < 1)
		return POFA_OK;
	if (batches > nb)
		batches = (int)nb;
	if (rounds > POFA_SPEEDUP_ROUNDS)
		rounds = POFA_SPEEDUP_ROUNDS;
	int *buf = malloc((size_t)B * (3 * ts->T + 3) * sizeof(int));
	long *idx = malloc((size_t)B * sizeof(long));
	if (!buf || !idx) {
		free(buf);
		free(idx);
		return pofa_error(err, POFA_ERR_RUN, "out of memory for evaluation");
	}
	int rc = POFA_OK;
	long seqs = 0;
	for (long k = 0; k < batches; k++)
		seqs += POFA_MIN((long)B, ts->n - k * B);
	double ta[POFA_SPEEDUP_ROUNDS], tb[POFA_SPEEDUP_ROUNDS], ratio[POFA_SPEEDUP_ROUNDS];
	/* a warm-up batch each, then the rounds; who goes first alternates */
	if (time_batch(a, ts, B, 0, buf, idx, err) < 0.0 || time_batch(b, ts, B, 0, buf, idx, err) < 0.0)
		rc = err->status;
	for (int r = 0; r < rounds && !rc; r++) {
		ta[r] = tb[r] = 0.0;
		for (int turn = 0; turn < 2 && !rc; turn++) {
			int first_a = (r + turn) % 2 == 0;
			pofa_infer *m = first_a ? a : b;
			double *acc = first_a ? &ta[r] : &tb[r];
			for (long k = 0; k < batches && !rc; k++) {
				double t = time_batch(m, ts, B, k, buf, idx, err);
				if (t < 0.0)
					rc = err->status;
				else
					*acc += t;
			}
		}
		ratio[r] = ta[r] > 0.0 ? tb[r] / ta[r] : 0.0;
	}
	free(buf);
	free(idx);
	if (rc)
		return rc;
	double lo = ratio[0], hi = ratio[0];
	for (int r = 1; r < rounds; r++) {
		lo = ratio[r] < lo ? ratio[r] : lo;
		hi = ratio[r] > hi ? ratio[r] : hi;
	}
	out->rounds = rounds;
	out->speedup = median(ratio, rounds);
	out->lo = lo;
	out->hi = hi;
	double ma = median(ta, rounds), mb = median(tb, rounds);
	out->a_seq_per_s = ma > 0.0 ? seqs / ma : 0.0;
	out->b_seq_per_s = mb > 0.0 ? seqs / mb : 0.0;
	return POFA_OK;
}

