/* eval.c - a model on a task's split: its metrics, loss and predictions
 * (see eval.h). */
#include "engine/run/eval.h"
#include "data/base/util.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum pofa_head pofa_task_head(const pofa_task_spec *spec)
{
	return spec->format == POFA_TASK_SQUAD ? POFA_HEAD_SPAN : POFA_HEAD_CLS;
}

static void csv_cell(FILE *f, const char *s, int last)
{
	csv_fwrite(f, s, strlen(s));
	fputc(last ? '\n' : ',', f);
}

int pofa_evaluate(pofa_model *m, const pofa_taskset *ts, const pofa_labels *labels, int B,
                  const char *predictions, pofa_eval_result *res, pofa_err *err)
{
	memset(res, 0, sizeof *res);
	int T = ts->T;
	int *buf = malloc((size_t)B * (3 * T + 3) * sizeof(int));
	long *idx = malloc((size_t)B * sizeof(long));
	int *pred = malloc(((size_t)ts->n + 1) * sizeof(int));
	float *sl = NULL, *el = NULL;
	if (ts->format == POFA_TASK_SQUAD) {
		sl = malloc(((size_t)ts->n * T + 1) * sizeof(float));
		el = malloc(((size_t)ts->n * T + 1) * sizeof(float));
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
			return pofa_error(err, POFA_ERR_INPUT, "%s: cannot write", predictions);
		}
		if (ts->format == POFA_TASK_SQUAD) {
			fputs("id,prediction,gold\n", pf);
		} else {
			fputs("id", pf);
			for (int c = 0; c < labels->n; c++) {
				char h[96];
				snprintf(h, sizeof h, "logit_%s", labels->names[c]);
				fputc(',', pf);
				csv_fwrite(pf, h, strlen(h));
			}
			fputs(",prediction,gold\n", pf);
		}
	}
	double loss = 0.0;
	long batches = 0;
	int rc = POFA_OK;
	for (long i0 = 0; i0 < ts->n && !rc; i0 += B) {
		int bn = (int)POFA_MIN((long)B, ts->n - i0);
		for (int b = 0; b < bn; b++)
			idx[b] = i0 + b;
		pofa_taskset_batch(ts, idx, bn, ids, types, mask, lab, st, en);
		pofa_batch bt = { .B = bn, .T = T, .input_ids = ids, .token_type_ids = types,
		                  .attention_mask = mask, .labels = lab, .start_positions = st,
		                  .end_positions = en };
		rc = pofa_model_forward(m, &bt, 0, err);
		if (rc)
			break;
		loss += pofa_model_task_loss(m, &bt, 1.0f) * bn;
		batches += bn;
		int rows, cols;
		const float *lg = pofa_model_logits(m, &rows, &cols);
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
				fprintf(pf, "%ld", i0 + b);
				for (int c = 0; c < cols; c++)
					fprintf(pf, ",%.6g", lg[b * cols + c]);
				fputc(',', pf);
				csv_cell(pf, labels->names[best], 0);
				csv_cell(pf, labels->names[lab[b]], 1);
			}
		}
	}
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
			if (labels->n == 2) {
				int pos = pofa_labels_find(labels, "1");
				res->m[1] = (pofa_metric){ "f1", 100.0 * pofa_binary_f1(pred, ts->labels, ts->n, pos < 0 ? 1 : pos) };
			} else {
				res->m[1] = (pofa_metric){ "macro_f1", 100.0 * pofa_macro_f1(pred, ts->labels, ts->n, labels->n) };
			}
			res->examples = ts->n;
		}
	}
	if (pf) {
		int bad = fflush(pf) || ferror(pf) || fsync(fileno(pf));
		fclose(pf);
		if (!rc && (bad || rename(tmp, predictions)))
			rc = pofa_error(err, POFA_ERR_RUN, "%s: write failed", predictions);
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
