/* cmd_eval.c - pofa eval: a model directory on a task's file. */
#include "tui/cli.h"
#include "data/base/text.h"
#include "data/base/util.h"
#include "engine/eval/eval.h"
#include "engine/model/folder.h"
#include "data/base/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char eval_usage[] =
	"usage: pofa eval --model DIR [--model DIR]... [--split train|dev|test]\n"
	"                 [--task TASK --data FILE] [--predictions FILE] [--seq N] [--batch N]\n"
	"                 [--text-a COL] [--text-b COL] [--label COL] [--delimiter D]\n"
	"                 [--quoting yes|no] [--positive LABEL] [--threads N] [--reference]\n"
	"TASK: wn-sense, wn-pair, wn-span, tsv (GLUE-style, no quoting), csv (quoted)\n"
	"      or squad. A model pofa trained has training.json: its task, columns,\n"
	"      files (--split, dev by default) and sequence length are the defaults;\n"
	"      otherwise --task and --data are needed, and --seq defaults to the\n"
	"      model's positions, at most 128. Several --model: each in turn.\n"
	"The model runs on the forward-only path (packed by its zeros, int8 when it\n"
	"has int8 weights); --reference runs the training forward instead (dense\n"
	"products, a QAT model's int8 simulated).\n";

static void eval_note(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "pofa eval: %s\n", msg);
}

/* what pofa eval prints of one model: the split, the metrics, the speed
 * against the same model dense, and the figures per class */
static int print_report(void *arg, int k, const pofa_eval_report *rep)
{
	const pofa_eval_opts *o = arg;
	const pofa_eval_result *res = &rep->res;
	if (k > 0)
		printf("\n");
	printf("%s\n", rep->summary);
	printf("%s on %s (%ld examples, %s):", rep->model, rep->file, res->examples,
	       rep->reference ? (rep->int8 ? "training forward, int8 simulated" : "training forward")
	                      : (rep->int8 ? "int8" : "float32"));
	for (int j = 0; j < res->n; j++)
		printf(" %s %.2f", res->m[j].name, res->m[j].value);
	printf(", loss %.4f\n", res->loss);
	if (rep->has_info) {
		printf("speed: %.1f sequences/s of %d tokens on %d threads (%s;", rep->seq_per_s, rep->T, o->threads,
		       pofa_cpu_path_names[rep->info.path]);
		for (int f = 0; f < POFA_LINEAR_FMT_COUNT; f++)
			if (rep->info.linears[f])
				printf(" %d %s", rep->info.linears[f], pofa_linear_fmt_names[f]);
		printf(" Linears, %.1f%% sparse); ", 100.0 * rep->info.sparsity);
		if (rep->speedup_same)
			printf("every Linear dense float32, as the dense model: 1.00x\n");
		else
			printf("dense %.1f sequences/s: %.2fx (median of 5 alternating rounds, %.2f-%.2f%s)\n",
			       rep->dense_seq_per_s, rep->speedup, rep->speedup_lo, rep->speedup_hi,
			       pofa_eval_within_noise(rep) ? ": within the noise, no speed-up measured" : "");
	}
	if (res->ncls > 0) {
		/* per class: a model that predicts a few classes only shows here */
		int npred = 0;
		for (int c = 0; c < res->ncls; c++)
			npred += pofa_class_stats_of(res, c).predicted > 0;
		printf("per class (predicts %d of %d classes):\n  %-24s %9s %9s %9s %8s %9s\n", npred, res->ncls,
		       "class", "precision", "recall", "f1", "support", "predicted");
		for (int c = 0; c < res->ncls; c++) {
			pofa_class_stats cs = pofa_class_stats_of(res, c);
			char nm[320], shown[300];
			/* a label's control characters shown, not obeyed by the terminal */
			int w = pofa_esc_term_str(shown, sizeof shown, rep->labels.names[c]);
			snprintf(nm, sizeof nm, "%s%s", shown, c == res->positive ? " (positive)" : "");
			w += c == res->positive ? 11 : 0;
			printf("  %s%*s %9.2f %9.2f %9.2f %8lld %9lld\n", nm, w < 24 ? 24 - w : 0, "", cs.precision, cs.recall,
			       cs.f1, (long long)cs.support, (long long)cs.predicted);
		}
	}
	if (o->predictions)
		printf("predictions in %s\n", o->predictions);
	return 0;
}

/* --task: a built-in task (under the data folder) or a format with the
 * column options; 0, or EXIT_USAGE with the message printed */
static int task_of(const char *task, pofa_task_spec *spec)
{
	if (!pofa_task_builtin(task, ".", spec))
		return 0;
	memset(spec, 0, sizeof *spec);
	snprintf(spec->name, sizeof spec->name, "%s", task);
	if (!strcmp(task, "squad"))
		spec->format = POFA_TASK_SQUAD;
	else if (!strcmp(task, "csv"))
		spec->format = POFA_TASK_CSV;
	else if (strcmp(task, "tsv"))
		return cli_usage_error("eval", "unknown task '%s' (wn-sense, wn-pair, wn-span, tsv, csv, squad)", task);
	spec->format_set = 1;
	strcpy(spec->text_a, "sentence");
	strcpy(spec->label, "label");
	return 0;
}

int cmd_eval(int argc, char **argv)
{
	const char *models[16], *task = NULL, *data = NULL, *pred = NULL, *split = NULL, *v;
	const char *ta = NULL, *tb = NULL, *tl = NULL, *delim = NULL, *quoting = NULL, *positive = NULL;
	int nmodels = 0;
	long T = 0, B = 32, threads = cli_default_threads();
	int reference = 0;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--model"))) {
			if (nmodels == (int)POFA_ARRAY_LEN(models))
				return cli_usage_error("eval", "at most %d --model", (int)POFA_ARRAY_LEN(models));
			models[nmodels++] = v;
		} else if ((v = cli_opt(argc, argv, &i, "--task"))) task = v;
		else if ((v = cli_opt(argc, argv, &i, "--data"))) data = v;
		else if ((v = cli_opt(argc, argv, &i, "--split"))) split = v;
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
	if (!nmodels || !*models[0])
		return cli_usage_error("eval", "--model DIR is required");
	if (pred && nmodels > 1)
		return cli_usage_error("eval", "--predictions takes one --model");
	if (split && strcmp(split, "train") && strcmp(split, "dev") && strcmp(split, "test"))
		return cli_usage_error("eval", "--split wants train, dev or test");
	if (split && data)
		return cli_usage_error("eval", "--split names a file of the task; --data names one: give one of them");
	if (task && !data)
		return cli_usage_error("eval", "--task %s needs --data FILE", task);
	pofa_task_spec spec = { 0 };
	if (task && task_of(task, &spec))
		return EXIT_USAGE;
	/* the column options change the model's own task too */
	int cols = ta || tb || tl || positive || delim || quoting;
	pofa_err err = { 0 };
	if (!task && cols) {
		pofa_trained *tr = calloc(1, sizeof *tr);
		int trc = tr ? pofa_trained_load(models[0], tr, &err) : pofa_error(&err, POFA_ERR_RUN, "out of memory");
		if (trc == 0 && tr->has_task)
			spec = tr->task;
		free(tr);
		if (trc < 0 || trc > 1)
			return cli_fail(&err);
		if (trc == 1 || !spec.name[0])
			return cli_usage_error("eval", "--task TASK and --data FILE are needed: %s has no %s saying how it "
			                       "was trained", models[0], POFA_TRAINED_FILE);
	}
	if (ta) snprintf(spec.text_a, sizeof spec.text_a, "%s", ta);
	if (tb) snprintf(spec.text_b, sizeof spec.text_b, "%s", tb);
	if (tl) snprintf(spec.label, sizeof spec.label, "%s", tl);
	if (positive) snprintf(spec.positive, sizeof spec.positive, "%s", positive);
	if (delim && !(spec.delimiter = pofa_delimiter_of(delim)))
		return cli_usage_error("eval", "--delimiter wants tab, comma, semicolon, pipe or one character");
	if (quoting) {
		if (strcmp(quoting, "yes") && strcmp(quoting, "no"))
			return cli_usage_error("eval", "--quoting wants yes or no");
		spec.quoting = !strcmp(quoting, "yes") ? POFA_QUOTING_ON : POFA_QUOTING_OFF;
	}
	/* without --task, each model's training.json names its task */
	for (int k = 0; k < nmodels && !task && !cols; k++) {
		pofa_trained *tr = calloc(1, sizeof *tr);
		int trc = tr ? pofa_trained_load(models[k], tr, &err) : pofa_error(&err, POFA_ERR_RUN, "out of memory");
		int known = trc == 0 && tr->has_task;
		free(tr);
		if (trc < 0 || trc > 1)
			return cli_fail(&err);
		if (!known)
			return cli_usage_error("eval", "--task TASK and --data FILE are needed: %s has no %s naming the task it "
			                       "was trained on", models[k], POFA_TRAINED_FILE);
	}
	/* the predictions file: checked before any work (fileio.h) */
	if (pred) {
		char in[4][4200];
		const char *inputs[5] = { data };
		static const char *const files[] = { "config.json", "model.safetensors", "vocab.txt", "training.json" };
		for (int k = 0; k < 4; k++) {
			snprintf(in[k], sizeof in[k], "%s/%s", models[0], files[k]);
			inputs[k + 1] = in[k];
		}
		if (pofa_output_ok(pred, inputs, 5, &err))
			return cli_fail(&err);
	}
	pofa_eval_opts o = { .task = task || cols ? &spec : NULL, .split = split, .file = data, .B = (int)B, .T = (int)T,
	                     .threads = (int)threads, .reference = reference, .predictions = pred,
	                     .note = eval_note };
	o.arg = &o;
	if (pofa_eval_models(models, nmodels, &o, print_report, &o, &err))
		return cli_fail(&err);
	return 0;
}
