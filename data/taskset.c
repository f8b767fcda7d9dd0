/* taskset.c - tokenized task splits, batches and evaluation (see taskset.h). */
#include "taskset.h"
#include "internal.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int pofa_model_head_for(const pofa_task_spec *spec)
{
	return spec->format == TASK_SQUAD ? POFA_HEAD_SPAN : POFA_HEAD_CLS;
}

void pofa_taskset_free(pofa_taskset *ts)
{
	free(ts->ids);
	free(ts->labels);
	pofa_qa_free(&ts->qa);
	memset(ts, 0, sizeof *ts);
}

int pofa_taskset_load(const pofa_task_spec *spec, const char *path, pofa_tokenizer *tk, int T,
                      pofa_labels *labels, pofa_taskset *ts, pofa_err *err)
{
	memset(ts, 0, sizeof *ts);
	ts->format = spec->format;
	ts->T = T;
	snprintf(ts->path, sizeof ts->path, "%s", path);
	if (spec->format == TASK_SQUAD) {
		int rc = pofa_qa_load(path, &ts->qa, err);
		if (!rc)
			rc = pofa_qa_featurize(&ts->qa, tk, T, T / 2, POFA_MIN(64, T / 2), err);
		ts->n = ts->qa.nfeat;
		return rc;
	}
	pofa_text_task t;
	int rc = pofa_text_task_load(path, spec->text_a, spec->text_b[0] ? spec->text_b : NULL,
	                             spec->label, labels, &t, err);
	if (rc)
		return rc;
	ts->n = t.n;
	ts->nlabels = labels->n;
	ts->ids = malloc((size_t)t.n * 3 * T * sizeof(int));
	ts->labels = malloc((size_t)t.n * sizeof(int));
	pofa_encoding e;
	if (!ts->ids || !ts->labels || pofa_encoding_init(&e, T)) {
		pofa_text_task_free(&t);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	ts->types = ts->ids + (size_t)t.n * T;
	ts->mask = ts->ids + (size_t)2 * t.n * T;
	for (int i = 0; i < t.n; i++) {
		if (pofa_encode(tk, t.a[i], -1, t.b ? t.b[i] : NULL, -1, T, 1, &e) < 0) {
			pofa_encoding_free(&e);
			pofa_text_task_free(&t);
			return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
		}
		ts->truncated += e.truncated > 0;
		memcpy(ts->ids + (size_t)i * T, e.ids, (size_t)T * sizeof(int));
		memcpy(ts->types + (size_t)i * T, e.type_ids, (size_t)T * sizeof(int));
		memcpy(ts->mask + (size_t)i * T, e.mask, (size_t)T * sizeof(int));
		ts->labels[i] = t.label[i];
	}
	pofa_encoding_free(&e);
	pofa_text_task_free(&t);
	return POFA_OK;
}

void pofa_taskset_batch(const pofa_taskset *ts, const long *idx, int B, int *ids, int *types,
                        int *mask, int *labels, int *starts, int *ends)
{
	int T = ts->T;
	for (int b = 0; b < B; b++) {
		long i = idx[b];
		size_t o = (size_t)b * T;
		if (ts->format == TASK_SQUAD) {
			const pofa_qa_feature *f = &ts->qa.feat[i];
			memcpy(ids + o, f->ids, (size_t)T * sizeof(int));
			memcpy(types + o, f->types, (size_t)T * sizeof(int));
			memcpy(mask + o, f->mask, (size_t)T * sizeof(int));
			if (starts)
				starts[b] = f->start;
			if (ends)
				ends[b] = f->end;
		} else {
			memcpy(ids + o, ts->ids + (size_t)i * T, (size_t)T * sizeof(int));
			memcpy(types + o, ts->types + (size_t)i * T, (size_t)T * sizeof(int));
			memcpy(mask + o, ts->mask + (size_t)i * T, (size_t)T * sizeof(int));
			if (labels)
				labels[b] = ts->labels[i];
		}
	}
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
	if (ts->format == TASK_SQUAD) {
		sl = malloc(((size_t)ts->n * T + 1) * sizeof(float));
		el = malloc(((size_t)ts->n * T + 1) * sizeof(float));
	}
	if (!buf || !idx || !pred || (ts->format == TASK_SQUAD && (!sl || !el))) {
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
		if (ts->format == TASK_SQUAD) {
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
			if (ts->format == TASK_SQUAD) {
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
		if (ts->format == TASK_SQUAD) {
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
