/* cmd_eval.c - pofa eval: a model directory on a task's file. */
#include "tui/cli.h"
#include "engine/run/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char eval_usage[] =
	"usage: pofa eval --model DIR --task TASK --data FILE [--predictions FILE]\n"
	"                 [--seq N] [--batch N] [--text-a COL] [--text-b COL] [--label COL]\n"
	"                 [--delimiter D] [--quoting yes|no]\n"
	"TASK: wn-sense, wn-pair, wn-span, tsv (GLUE-style, no quoting), csv (quoted)\n"
	"      or squad; --seq defaults to the model's positions, at most 128\n";

int cmd_eval(int argc, char **argv)
{
	const char *model = NULL, *task = NULL, *data = NULL, *pred = NULL, *v;
	const char *ta = NULL, *tb = NULL, *tl = NULL, *delim = NULL, *quoting = NULL;
	long T = 0, B = 32;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--model"))) model = v;
		else if ((v = cli_opt(argc, argv, &i, "--task"))) task = v;
		else if ((v = cli_opt(argc, argv, &i, "--data"))) data = v;
		else if ((v = cli_opt(argc, argv, &i, "--predictions"))) pred = v;
		else if ((v = cli_opt(argc, argv, &i, "--text-a"))) ta = v;
		else if ((v = cli_opt(argc, argv, &i, "--text-b"))) tb = v;
		else if ((v = cli_opt(argc, argv, &i, "--label"))) tl = v;
		else if ((v = cli_opt(argc, argv, &i, "--delimiter"))) delim = v;
		else if ((v = cli_opt(argc, argv, &i, "--quoting"))) quoting = v;
		else if ((v = cli_opt(argc, argv, &i, "--seq"))) {
			if (cli_int("eval", "--seq", v, 8, 65536, &T)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--batch"))) {
			if (cli_int("eval", "--batch", v, 1, 4096, &B)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(eval_usage, stdout);
			return 0;
		} else
			return cli_usage_error("eval", "unknown option '%s'", argv[i]);
	}
	if (!model || !*model || !task || !*task || !data || !*data)
		return cli_usage_error("eval", "--model DIR, --task TASK and --data FILE are required");
	pofa_task_spec spec;
	if (pofa_task_builtin(task, ".", &spec)) {
		memset(&spec, 0, sizeof spec);
		snprintf(spec.name, sizeof spec.name, "%s", task);
		if (!strcmp(task, "squad"))
			spec.format = POFA_TASK_SQUAD;
		else if (!strcmp(task, "csv"))
			spec.format = POFA_TASK_CSV;
		else if (strcmp(task, "tsv"))
			return cli_usage_error("eval", "unknown task '%s' (wn-sense, wn-pair, wn-span, tsv, csv, squad)", task);
		spec.format_set = 1;
		strcpy(spec.text_a, "sentence");
		strcpy(spec.label, "label");
	}
	if (ta) snprintf(spec.text_a, sizeof spec.text_a, "%s", ta);
	if (tb) snprintf(spec.text_b, sizeof spec.text_b, "%s", tb);
	if (tl) snprintf(spec.label, sizeof spec.label, "%s", tl);
	if (delim && !(spec.delimiter = pofa_delimiter_of(delim)))
		return cli_usage_error("eval", "--delimiter wants tab, comma, semicolon, pipe or one character");
	if (quoting) {
		if (strcmp(quoting, "yes") && strcmp(quoting, "no"))
			return cli_usage_error("eval", "--quoting wants yes or no");
		spec.quoting = !strcmp(quoting, "yes") ? POFA_QUOTING_ON : POFA_QUOTING_OFF;
	}
	pofa_err err = { 0 };
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
	pofa_model *m = pofa_model_load_for(model, head, POFA_MODEL_INFER, (int)B, (int)T, cli_default_threads(), 1,
	                                    &fresh, &err);
	if (!m)
		rc = err.status;
	else if (fresh)
		rc = pofa_error(&err, POFA_ERR_INPUT, "%s: the model has no %s head; evaluate a model "
		                "fine-tuned on this kind of task", model, pofa_head_names[head]);
	if (!rc)
		rc = pofa_taskset_load(&spec, data, tk, (int)T, &labels, &ts, &err);
	snprintf(path, sizeof path, "%s/qat.safetensors", model);
	int qat = !rc && access(path, R_OK) == 0;
	if (qat)
		rc = pofa_model_qat_load(m, path, &err);
	pofa_eval_result res;
	if (!rc)
		rc = pofa_evaluate(m, &ts, &labels, (int)B, pred, &res, &err);
	if (!rc) {
		printf("%s\n", ts.summary);
		printf("%s on %s (%ld examples%s):", model, data, res.examples, qat ? ", int8 simulated" : "");
		for (int k = 0; k < res.n; k++)
			printf(" %s %.2f", res.m[k].name, res.m[k].value);
		printf(", loss %.4f\n", res.loss);
		if (pred)
			printf("predictions in %s\n", pred);
	}
	pofa_model_free(m);
	pofa_taskset_free(&ts);
	pofa_labels_free(&labels);
	pofa_tokenizer_free(tk);
	return rc ? cli_fail(&err) : 0;
}
