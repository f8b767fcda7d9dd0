/* cmd_eval.c - pofa eval: a model directory on a task's file. */
#include "tui/cli.h"
#include "engine/eval/eval.h"
#include "engine/model/folder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char eval_usage[] =
	"usage: pofa eval --model DIR [--task TASK] [--data FILE] [--predictions FILE]\n"
	"                 [--seq N] [--batch N] [--text-a COL] [--text-b COL] [--label COL]\n"
	"                 [--delimiter D] [--quoting yes|no] [--positive LABEL] [--threads N]\n"
	"                 [--reference]\n"
	"TASK: wn-sense, wn-pair, wn-span, tsv (GLUE-style, no quoting), csv (quoted)\n"
	"      or squad. A model pofa trained has training.json: the task, its columns,\n"
	"      its dev file and the sequence length default to it; otherwise --task and\n"
	"      --data are needed, and --seq defaults to the model's positions, at most 128.\n"
	"The model runs on the forward-only path (packed by its zeros, int8 when it\n"
	"has int8 weights); --reference runs the training forward instead (dense\n"
	"products, a QAT model's int8 simulated).\n";

int cmd_eval(int argc, char **argv)
{
	const char *model = NULL, *task = NULL, *data = NULL, *pred = NULL, *v;
	const char *ta = NULL, *tb = NULL, *tl = NULL, *delim = NULL, *quoting = NULL, *positive = NULL;
	long T = 0, B = 32, threads = cli_default_threads();
	int reference = 0;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--model"))) model = v;
		else if ((v = cli_opt(argc, argv, &i, "--task"))) task = v;
		else if ((v = cli_opt(argc, argv, &i, "--data"))) data = v;
		else if ((v = cli_opt(argc, argv, &i, "--predictions"))) pred = v;
		else if ((v = cli_opt(argc, argv, &i, "--text-a"))) ta = v;
		else if ((v = cli_opt(argc, argv, &i, "--text-b"))) tb = v;
		else if ((v = cli_opt(argc, argv, &i, "--label"))) tl = v;
		else if ((v = cli_opt(argc, argv, &i, "--positive"))) positive = v;
		else if ((v = cli_opt(argc, argv, &i, "--delimiter"))) delim = v;
		else if ((v = cli_opt(argc, argv, &i, "--quoting"))) quoting = v;
		else if ((v = cli_opt(argc, argv, &i, "--seq"))) {
			if (cli_int("eval", "--seq", v, 8, 65536, &T)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--batch"))) {
			if (cli_int("eval", "--batch", v, 1, 4096, &B)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--threads"))) {
			if (cli_int("eval", "--threads", v, 1, 64, &threads)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--reference")) {
			reference = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(eval_usage, stdout);
			return 0;
		} else
			return cli_usage_error("eval", "unknown option '%s'", argv[i]);
	}
	if (!model || !*model)
		return cli_usage_error("eval", "--model DIR is required");
	/* how the model was trained: the defaults */
	pofa_err err = { 0 };
	pofa_trained *tr = calloc(1, sizeof *tr);
	int trc = tr ? pofa_trained_load(model, tr, &err) : pofa_error(&err, POFA_ERR_RUN, "out of memory");
	if (trc < 0 || trc > 1) {
		free(tr);
		return cli_fail(&err);
	}
	int known = trc == 0 && tr->has_task;
	if (!task && !known) {
		free(tr);
		return cli_usage_error("eval", "--task TASK and --data FILE are needed: %s has no %s saying how it was "
		                       "trained", model, POFA_TRAINED_FILE);
	}
	if (!data && !(known && !task && tr->task.dev[0])) {
		free(tr);
		return cli_usage_error("eval", "--data FILE is needed (%s names no dev file)", model);
	}
	char dev[sizeof tr->task.dev];
	if (!data) {
		data = strcpy(dev, tr->task.dev);
		fprintf(stderr, "pofa eval: the dev file of %s's training (%s): %s\n", model, POFA_TRAINED_FILE, data);
	}
	if (!T && trc == 0 && tr->seq > 0)
		T = tr->seq;
	pofa_task_spec spec;
	if (!task) {
		spec = tr->task;
	} else if (pofa_task_builtin(task, ".", &spec)) {
		memset(&spec, 0, sizeof spec);
		snprintf(spec.name, sizeof spec.name, "%s", task);
		if (!strcmp(task, "squad"))
			spec.format = POFA_TASK_SQUAD;
		else if (!strcmp(task, "csv"))
			spec.format = POFA_TASK_CSV;
		else if (strcmp(task, "tsv"))
			return free(tr), cli_usage_error("eval", "unknown task '%s' (wn-sense, wn-pair, wn-span, tsv, csv, squad)",
			                                 task);
		spec.format_set = 1;
		strcpy(spec.text_a, "sentence");
		strcpy(spec.label, "label");
	}
	if (ta) snprintf(spec.text_a, sizeof spec.text_a, "%s", ta);
	if (tb) snprintf(spec.text_b, sizeof spec.text_b, "%s", tb);
	if (tl) snprintf(spec.label, sizeof spec.label, "%s", tl);
	if (positive) snprintf(spec.positive, sizeof spec.positive, "%s", positive);
	if (delim && !(spec.delimiter = pofa_delimiter_of(delim)))
		return free(tr), cli_usage_error("eval", "--delimiter wants tab, comma, semicolon, pipe or one character");
	if (quoting) {
		if (strcmp(quoting, "yes") && strcmp(quoting, "no"))
			return free(tr), cli_usage_error("eval", "--quoting wants yes or no");
		spec.quoting = !strcmp(quoting, "yes") ? POFA_QUOTING_ON : POFA_QUOTING_OFF;
	}
	free(tr);
	char path[4200];
	pofa_config cfg;
	snprintf(path, sizeof path, "%s/config.json", model);
	if (pofa_config_load(&cfg, path, &err))
		return cli_fail(&err);
	snprintf(path, sizeof path, "%s/vocab.txt", model);
	pofa_tokenizer *tk = pofa_tokenizer_load(path, POFA_CASE_AUTO, &err);
	if (!tk)
		return cli_fail(&err);
	/* the model's positions bound the sequence: by default as many as it has,
	 * up to 128; asked for more, it is clamped, and said */
	if (!T)
		T = cfg.max_position_embeddings < 128 ? cfg.max_position_embeddings : 128;
	else if (T > cfg.max_position_embeddings) {
		fprintf(stderr, "pofa eval: --seq %ld is more than %s has positions; using %d\n", T, model,
		        cfg.max_position_embeddings);
		T = cfg.max_position_embeddings;
	}
	if (pofa_vocab_size(tk) != cfg.vocab_size) {
		pofa_error(&err, POFA_ERR_INPUT, "%s has %d tokens, but %s/config.json says vocab_size %d: the model "
		           "and its vocabulary do not belong together", path, pofa_vocab_size(tk), model, cfg.vocab_size);
		pofa_tokenizer_free(tk);
		return cli_fail(&err);
	}
	/* the model's labels name the classes; gold labels map onto them */
	pofa_labels labels = { 0 };
	int head = pofa_task_head(&spec);
	if (head == POFA_HEAD_CLS) {
		labels.n = cfg.num_labels;
		labels.names = calloc((size_t)labels.n, sizeof *labels.names);
		snprintf(labels.from, sizeof labels.from, "the model (%s/config.json)", model);
		for (int k = 0; k < labels.n; k++) {
			char nm[64];
			if (cfg.label_names[k][0])
				snprintf(nm, sizeof nm, "%s", cfg.label_names[k]);
			else
				snprintf(nm, sizeof nm, "LABEL_%d", k);
			labels.names[k] = strdup(nm);
		}
	}
	pofa_taskset ts;
	memset(&ts, 0, sizeof ts);
	int fresh = 0, rc = POFA_OK;
	pofa_model *m = pofa_model_load_for(model, head, POFA_MODEL_INFER, (int)B, (int)T, (int)threads, 1,
	                                    &fresh, &err);
	if (!m)
		rc = err.status;
	else if (fresh)
		rc = pofa_error(&err, POFA_ERR_INPUT, "%s: the model has no %s head; evaluate a model "
		                "fine-tuned on this kind of task", model, pofa_head_names[head]);
	if (!rc)
		rc = pofa_taskset_load(&spec, data, tk, (int)T, &labels, &ts, &err);
	snprintf(path, sizeof path, "%s/model.int8.safetensors", model);
	int has8 = !rc && access(path, R_OK) == 0;
	pofa_infer *fast = NULL, *dense = NULL;
	pofa_st_file q8;
	if (reference) {
		/* the training forward: a QAT model's int8 simulated with its ranges */
		snprintf(path, sizeof path, "%s/qat.safetensors", model);
		has8 = !rc && access(path, R_OK) == 0;
		if (has8)
			rc = pofa_model_qat_load(m, path, &err);
	} else if (!rc) {
		int opened = has8 && !(rc = pofa_st_open(&q8, path, &err));
		pofa_infer_opts io = { .maxB = (int)B, .maxT = (int)T, .threads = (int)threads,
		                       .int8 = has8 ? POFA_INT8_ON : POFA_INT8_OFF, .force_fmt = -1, .cpu = -1 };
		if (!rc && !(fast = pofa_infer_from_model(m, has8 ? &q8 : NULL, &io, &err)))
			rc = err.status;
		if (opened)
			pofa_st_close(&q8);
		io.int8 = POFA_INT8_OFF;
		io.force_fmt = POFA_LIN_DENSE;
		if (!rc && !(dense = pofa_infer_from_model(m, NULL, &io, &err)))
			rc = err.status;
	}
	pofa_eval_result res;
	pofa_scorer sc = { .infer = fast, .model = m };
	if (!rc)
		rc = pofa_evaluate(&sc, &ts, &labels, (int)B, pred, &res, &err);
	double dense_sps = 0.0;
	if (!rc && dense && (dense_sps = pofa_eval_throughput(dense, &ts, (int)B, 8, &err)) < 0.0)
		rc = err.status;
	if (!rc) {
		printf("%s\n", ts.summary);
		printf("%s on %s (%ld examples, %s):", model, data, res.examples,
		       reference ? (has8 ? "training forward, int8 simulated" : "training forward")
		                 : (has8 ? "int8" : "float32"));
		for (int k = 0; k < res.n; k++)
			printf(" %s %.2f", res.m[k].name, res.m[k].value);
		printf(", loss %.4f\n", res.loss);
		double sps = res.forward_s > 0.0 ? res.sequences / res.forward_s : 0.0;
		if (fast) {
			pofa_infer_info info;
			pofa_infer_describe(fast, &info);
			printf("speed: %.1f sequences/s of %ld tokens on %ld threads (%s;", sps, T, threads,
			       pofa_cpu_path_names[info.path]);
			for (int f = 0; f < POFA_LINEAR_FMT_COUNT; f++)
				if (info.linears[f])
					printf(" %d %s", info.linears[f], pofa_linear_fmt_names[f]);
			printf(" Linears, %.1f%% sparse); dense %.1f sequences/s: %.2fx\n", 100.0 * info.sparsity, dense_sps,
			       dense_sps > 0.0 ? sps / dense_sps : 0.0);
		}
		if (res.ncls > 0) {
			/* per class: a model that predicts a few classes only shows here */
			int npred = 0;
			for (int k = 0; k < res.ncls; k++)
				npred += pofa_class_stats_of(&res, k).predicted > 0;
			printf("per class (predicts %d of %d classes):\n  %-24s %9s %9s %9s %8s %9s\n", npred, res.ncls,
			       "class", "precision", "recall", "f1", "support", "predicted");
			for (int k = 0; k < res.ncls; k++) {
				pofa_class_stats c = pofa_class_stats_of(&res, k);
				char nm[80];
				snprintf(nm, sizeof nm, "%s%s", labels.names[k], k == res.positive ? " (positive)" : "");
				printf("  %-24s %9.2f %9.2f %9.2f %8lld %9lld\n", nm, c.precision, c.recall, c.f1,
				       (long long)c.support, (long long)c.predicted);
			}
		}
		if (pred)
			printf("predictions in %s\n", pred);
	}
	pofa_infer_free(fast);
	pofa_infer_free(dense);
	pofa_model_free(m);
	pofa_taskset_free(&ts);
	pofa_labels_free(&labels);
	pofa_tokenizer_free(tk);
	return rc ? cli_fail(&err) : 0;
}
