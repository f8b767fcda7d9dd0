/*
 * models.c - the one evaluator of model folders (see eval.h): pofa eval and
 * eval stages both call it, so they accept the same models and tasks and
 * report the same figures.
 *
 * A folder is evaluated as it would be deployed: the forward-only path,
 * its Linears packed by their zeros, int8 where a QAT stage left
 * model.int8.safetensors; the same model with every Linear dense is timed
 * on the same batches for the speed-up. The training forward (dense
 * products, a QAT model's int8 simulated) is there as a reference.
 */
#include "engine/eval/eval.h"
#include "engine/model/folder.h"
#include "data/base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(const pofa_eval_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const pofa_eval_opts *o, const char *fmt, ...)
{
	if (!o->note)
		return;
	char msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	o->note(o->arg, msg);
}

void pofa_eval_report_free(pofa_eval_report *rep)
{
	pofa_labels_free(&rep->labels);
	memset(rep, 0, sizeof *rep);
}

/* the task and file: the options', else the model's own (training.json) */
static int eval_task(const char *dir, const pofa_eval_opts *o, pofa_task_spec *spec, int *T, char *file,
                     size_t n, pofa_err *err)
{
	pofa_trained *tr = calloc(1, sizeof *tr);
	if (!tr)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	int trc = pofa_trained_load(dir, tr, err);
	if (trc < 0 || trc > 1) {
		free(tr);
		return err->status;
	}
	int known = trc == 0 && tr->has_task;
	int rc = POFA_OK;
	if (!o->task && !known)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s names no task it was trained on: name the task and its file",
		                dir, trc == 1 ? "no " POFA_TRAINED_FILE : POFA_TRAINED_FILE);
	*spec = o->task ? *o->task : tr->task;
	if (!*T && trc == 0 && tr->seq > 0)
		*T = tr->seq;
	const char *split = o->split ? o->split : "dev";
	const char *f = o->file ? o->file : !strcmp(split, "train") ? spec->train : !strcmp(split, "test") ? spec->test
	                : spec->dev;
	if (!rc && (strcmp(split, "train") && strcmp(split, "dev") && strcmp(split, "test")))
		rc = pofa_error(err, POFA_ERR_INPUT, "split %s: want train, dev or test", split);
	if (!rc && !f[0])
		rc = pofa_error(err, POFA_ERR_INPUT, "task %s names no %s file%s: give the file", spec->name, split,
		                o->task ? "" : " in the model's " POFA_TRAINED_FILE);
	if (!rc && !o->file && !o->task)
		note(o, "the %s file of %s's training (%s): %s", split, dir, POFA_TRAINED_FILE, f);
	snprintf(file, n, "%s", f);
	free(tr);
	return rc;
}

/* the model's tokenizer (its vocab.txt) and configuration, and the
 * sequence length: asked, else trained at, else the positions up to 128;
 * never more than the positions (clamped and said) */
static pofa_tokenizer *eval_vocab(const char *dir, const pofa_eval_opts *o, pofa_config *cfg, int *T,
                                  pofa_err *err)
{
	char path[1300];
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (pofa_config_load(cfg, path, err))
		return NULL;
	snprintf(path, sizeof path, "%s/vocab.txt", dir);
	pofa_tokenizer *tk = pofa_tokenizer_load(path, POFA_CASE_AUTO, err);
	if (!tk)
		return NULL;
	if (pofa_vocab_size(tk) != cfg->vocab_size) {
		pofa_error(err, POFA_ERR_INPUT, "%s has %d tokens, but %s/config.json says vocab_size %d: the model "
		           "and its vocabulary do not belong together", path, pofa_vocab_size(tk), dir, cfg->vocab_size);
		pofa_tokenizer_free(tk);
		return NULL;
	}
	int P = cfg->max_position_embeddings;
	if (!*T)
		*T = P < 128 ? P : 128;
	else if (*T > P) {
		note(o, "sequence length %d is more than %s has positions; using %d", *T, dir, P);
		*T = P;
	}
	return tk;
}

/* the forward-only models: packed by the zeros (int8 where the folder has
 * int8 weights), and every Linear dense for the speed-up */
static int eval_infer(const char *dir, pofa_model *m, const pofa_eval_opts *o, int T, pofa_infer **fast,
                      pofa_infer **dense, int *has8, pofa_err *err)
{
	char path[1300];
	snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
	*has8 = access(path, R_OK) == 0;
	pofa_st_file q8;
	if (*has8 && pofa_st_open(&q8, path, err))
		return err->status;
	pofa_infer_opts io = { .maxB = o->B, .maxT = T, .threads = o->threads,
	                       .int8 = *has8 ? POFA_INT8_ON : POFA_INT8_OFF, .force_fmt = -1, .cpu = -1 };
	*fast = pofa_infer_from_model(m, *has8 ? &q8 : NULL, &io, err);
	if (*has8)
		pofa_st_close(&q8);
	if (!*fast)
		return err->status;
	io.int8 = POFA_INT8_OFF;
	io.force_fmt = POFA_LIN_DENSE;
	*dense = pofa_infer_from_model(m, NULL, &io, err);
	return *dense ? POFA_OK : err->status;
}

/* the packed model's speed-up over the same model dense: 1.00 without a
 * timing when every Linear of it is dense float32 (the same computation),
 * else measured in alternating rounds on the same batches */
static int speed_up(pofa_infer *fast, pofa_infer *dense, const pofa_taskset *ts, const pofa_eval_opts *o,
                    pofa_eval_report *rep, pofa_err *err)
{
	const pofa_infer_info *fi = &rep->info;   /* describe()'s, of fast */
	int nlin = 0;
	for (int f = 0; f < POFA_LINEAR_FMT_COUNT; f++)
		nlin += fi->linears[f];
	if (!fi->int8 && fi->linears[POFA_LIN_DENSE] == nlin) {
		rep->dense_seq_per_s = rep->seq_per_s;
		rep->speedup = rep->speedup_lo = rep->speedup_hi = 1.0;
		rep->speedup_same = 1;
		return POFA_OK;
	}
	pofa_speedup su;
	if (pofa_eval_speedup(fast, dense, ts, o->B, 4, 5, &su, err))
		return err->status;
	rep->speedup = su.speedup;
	rep->speedup_lo = su.lo;
	rep->speedup_hi = su.hi;
	rep->dense_seq_per_s = su.b_seq_per_s;
	if (su.a_seq_per_s > 0.0)
		rep->seq_per_s = su.a_seq_per_s;   /* the same batches as the dense figure's */
	return POFA_OK;
}

int pofa_eval_within_noise(const pofa_eval_report *rep)
{
	return !rep->speedup_same && rep->speedup > 0.0 && rep->speedup_lo <= 1.0 && rep->speedup_hi >= 1.0;
}

/* how the forward-only model computes: "int8, avx512-vnni: 72 i8, 1 dense" */
static void describe(pofa_infer *inf, int int8, pofa_eval_report *rep)
{
	pofa_infer_describe(inf, &rep->info);
	rep->has_info = 1;
	int off = snprintf(rep->how, sizeof rep->how, "%s, %s:", int8 ? "int8" : "float32",
	                   pofa_cpu_path_names[rep->info.path]);
	for (int f = 0; f < POFA_LINEAR_FMT_COUNT; f++)
		if (rep->info.linears[f] && off < (int)sizeof rep->how)
			off += snprintf(rep->how + off, sizeof rep->how - (size_t)off, " %d %s", rep->info.linears[f],
			                pofa_linear_fmt_names[f]);
}

int pofa_eval_model(const char *dir, const pofa_eval_opts *o, pofa_eval_report *rep, pofa_err *err)
{
	memset(rep, 0, sizeof *rep);
	snprintf(rep->model, sizeof rep->model, "%s", dir);
	pofa_task_spec spec;
	pofa_config cfg;
	int T = o->T;
	if (eval_task(dir, o, &spec, &T, rep->file, sizeof rep->file, err))
		return err->status;
	pofa_tokenizer *tk = eval_vocab(dir, o, &cfg, &T, err);
	if (!tk)
		return err->status;
	rep->T = T;
	enum pofa_head head = pofa_task_head(&spec);
	/* the model's labels name the classes; gold labels map onto them */
	int rc = POFA_OK;
	if (head == POFA_HEAD_CLS && (rc = pofa_model_dir_labels(dir, &rep->labels, err)) <= 0) {
		if (rc == 0)
			pofa_error(err, POFA_ERR_INPUT, "%s: the model has no %s head to evaluate on %s; evaluate a model "
			           "fine-tuned on this kind of task", dir, pofa_head_names[head], spec.name);
		pofa_tokenizer_free(tk);
		return err->status;
	}
	rc = POFA_OK;
	int fresh = 0, has8 = 0;
	pofa_taskset ts;
	memset(&ts, 0, sizeof ts);
	pofa_infer *fast = NULL, *dense = NULL;
	pofa_model *m = NULL;
	char wpath[1300];
	snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
	int packed_only = !o->reference && access(wpath, F_OK) != 0;
	if (packed_only) {
		/* the packed int8 file alone (pofa export --packed): run as it is,
		 * no float weights to time a dense model with */
		pofa_infer_opts io = { .maxB = o->B, .maxT = T, .threads = o->threads, .int8 = POFA_INT8_ON,
		                       .force_fmt = -1, .cpu = -1 };
		if (!(fast = pofa_infer_open(dir, &io, err)))
			rc = err->status;
		else if (pofa_infer_head(fast) != head)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: the model has no %s head to evaluate on %s; evaluate a model "
			                "fine-tuned on this kind of task", dir, pofa_head_names[head], spec.name);
		else
			has8 = 1;
	} else if (!(m = pofa_model_load_for(dir, head, POFA_MODEL_INFER, o->B, T, o->threads, 1, &fresh, err))) {
		rc = err->status;
	} else if (fresh) {
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: the model has no %s head to evaluate on %s; evaluate a model "
		                "fine-tuned on this kind of task", dir, pofa_head_names[head], spec.name);
	}
	if (!rc && (pofa_taskset_load(&spec, rep->file, tk, T, &rep->labels, &ts, err) ||
	            pofa_taskset_sample(&ts, o->examples, err)))
		rc = err->status;
	if (!rc) {
		snprintf(rep->summary, sizeof rep->summary, "%s", ts.summary);
		if (m) {
			rep->sparsity = pofa_model_sparsity(m);
		} else {
			describe(fast, 1, rep);
			rep->sparsity = rep->info.sparsity;
		}
	}
	if (!rc && packed_only) {
		note(o, "%s holds the packed int8 file alone: no float weights, so no dense speed-up", dir);
	} else if (!rc && o->reference) {
		/* the training forward: a QAT model's int8 simulated with its ranges */
		char path[1300];
		snprintf(path, sizeof path, "%s/qat.safetensors", dir);
		has8 = access(path, R_OK) == 0;
		if (has8 && pofa_model_qat_load(m, path, err))
			rc = err->status;
	} else if (!rc && !eval_infer(dir, m, o, T, &fast, &dense, &has8, err)) {
		describe(fast, has8, rep);
		pofa_model_free(m);   /* the forward-only copies hold the weights */
		m = NULL;
	} else if (!rc) {
		rc = err->status;
	}
	rep->int8 = has8;
	rep->reference = o->reference;
	pofa_scorer sc = { .infer = fast, .model = m, .between = o->between, .arg = o->arg, .split = o->split_ranks };
	if (!rc)
		rc = pofa_evaluate(&sc, &ts, &rep->labels, o->B, o->predictions, &rep->res, err);
	if (!rc && fast && !rep->res.stopped)
		rep->seq_per_s = rep->res.forward_s > 0.0 ? rep->res.sequences / rep->res.forward_s : 0.0;
	if (!rc && dense && !rep->res.stopped)
		rc = speed_up(fast, dense, &ts, o, rep, err);
	pofa_infer_free(fast);
	pofa_infer_free(dense);
	pofa_model_free(m);
	pofa_taskset_free(&ts);
	pofa_tokenizer_free(tk);
	return rc;
}

int pofa_eval_models(const char *const *dirs, int n, const pofa_eval_opts *o,
                     int (*fn)(void *arg, int k, const pofa_eval_report *rep), void *arg, pofa_err *err)
{
	pofa_eval_report *rep = calloc(1, sizeof *rep);
	if (!rep)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	int rc = POFA_OK;
	for (int k = 0; k < n && !rc; k++) {
		rc = pofa_eval_model(dirs[k], o, rep, err);
		if (!rc && fn && fn(arg, k, rep))
			k = n;
		pofa_eval_report_free(rep);
	}
	free(rep);
	return rc;
}
