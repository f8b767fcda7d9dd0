/*
 * predict.c - pofa predict: a model directory on raw text, one line an
 * input (a tab separates the two texts of a pair), through the library's
 * predictor (engine/infer/predict.h): a classification model prints each
 * line's label and probability, a span model the answer (from the second
 * text, the first being the question), a masked-LM model the top fillers
 * of each [MASK].
 */
#include "tui/cli.h"
#include "data/base/fileio.h"
#include "data/base/text.h"
#include "engine/infer/predict.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char predict_usage[] =
	"usage: pofa predict --model DIR [FILE] [--csv] [--top K] [--seq N] [--batch N]\n"
	"                    [--threads N] [--float] [--max-line BYTES]\n"
	"Reads FILE (default: standard input), one input a line; a tab separates\n"
	"the two texts of a pair (a span model: the question, then the context).\n"
	"Prints each line's label and probability (with --top K, its K most probable\n"
	"labels), its answer, or the top K (5) fillers of each [MASK]; --csv writes\n"
	"CSV with a header row instead.\n"
	"--seq defaults to the length the model was trained at (its training.json),\n"
	"else to its positions, at most 512. A line longer than --max-line (1 MiB)\n"
	"or holding a NUL byte is an error naming the line.\n";

typedef struct {
	pofa_predictor *pr;
	enum pofa_head head;
	int csv, top_labels;
	int pair_said;           /* the warning about a pair for a single-text model given */
	const char *model;
	FILE *out;
} printer;

/* a CSV text cell: quoted, a formula made text (text.h) */
static void csv_field(FILE *f, const char *s, long n, int last)
{
	pofa_csv_text(f, s, n);
	fputc(last ? '\n' : ',', f);
}

static void print_texts(printer *p, const pofa_text *t, long line)
{
	fprintf(p->out, "%ld,", line);
	csv_field(p->out, t->a, t->na, 0);
	if (p->head != POFA_HEAD_MLM)
		csv_field(p->out, t->b ? t->b : "", t->b ? t->nb : 0, 0);
}

/* a line's label and probability, or with --top its K most probable
 * labels, best first (a tab between pairs; CSV: a row each, ranked) */
static void out_cls(printer *p, const pofa_text *t, const pofa_prediction *r, long line)
{
	for (int k = 0; k < r->k; k++) {
		char name[64];
		const char *nm = pofa_predictor_label(p->pr, r->best[k].id);
		if (nm)
			snprintf(name, sizeof name, "%s", nm);
		else
			snprintf(name, sizeof name, "LABEL_%d", r->best[k].id);
		if (p->csv) {
			print_texts(p, t, line);
			if (p->top_labels > 1)
				fprintf(p->out, "%d,", k + 1);
			csv_field(p->out, name, -1, 0);
			fprintf(p->out, "%.6f\n", r->best[k].prob);
		} else {   /* a terminal's text: a label's control characters shown, not obeyed */
			if (k)
				fputc('\t', p->out);
			pofa_esc_term(p->out, name, -1);
			fprintf(p->out, "\t%.4f%s", r->best[k].prob, k + 1 == r->k ? "\n" : "");
		}
	}
}

static void out_span(printer *p, const pofa_text *t, const pofa_prediction *r, long line)
{
	const char *text = t->b ? t->b : t->a;
	long a0 = r->start >= 0 ? r->start : 0, a1 = r->start >= 0 ? r->end : 0;
	if (p->csv) {
		print_texts(p, t, line);
		csv_field(p->out, text + a0, a1 - a0, 0);
		fprintf(p->out, "%.4f\n", r->score);
	} else {
		pofa_esc_term(p->out, text + a0, a1 - a0);
		fprintf(p->out, "\t%.4f\n", r->score);
	}
}

static void out_mlm(printer *p, const pofa_text *t, const pofa_prediction *r, long line)
{
	for (int m = 0; m < r->nmasks; m++) {
		if (!p->csv)
			fprintf(p->out, "%s[MASK] %d:", m ? "\t" : "", m + 1);
		for (int j = 0; j < r->k; j++) {
			const pofa_scored *f = &r->best[(size_t)m * r->k + j];
			const char *tok = pofa_predictor_token(p->pr, f->id);
			if (p->csv) {
				fprintf(p->out, "%ld,", line);
				csv_field(p->out, t->a, t->na, 0);
				fprintf(p->out, "%d,%d,", m + 1, j + 1);
				csv_field(p->out, tok, -1, 0);
				fprintf(p->out, "%.6f\n", f->prob);
			} else {
				fputc(' ', p->out);
				pofa_esc_term(p->out, tok, -1);
				fprintf(p->out, " (%.4f)", f->prob);
			}
		}
	}
	if (!p->csv && !r->nmasks && r->masks_cut)
		fprintf(p->out, "(no [MASK] within the first %d tokens: raise --seq)\n", pofa_predictor_seq(p->pr));
	else if (!p->csv)
		fputs(r->nmasks ? "\n" : "(no [MASK] in the line)\n", p->out);
}

/* n lines predicted and printed */
static int run_batch(printer *p, const pofa_text *t, pofa_prediction *r, int n, long first_line, pofa_err *err)
{
	int rc = pofa_predict(p->pr, t, n, r, err);
	for (int i = 0; i < n && !rc; i++) {
		if (p->head == POFA_HEAD_CLS)
			out_cls(p, &t[i], &r[i], first_line + i);
		else if (p->head == POFA_HEAD_SPAN)
			out_span(p, &t[i], &r[i], first_line + i);
		else
			out_mlm(p, &t[i], &r[i], first_line + i);
	}
	if (!rc)
		pofa_prediction_free(r, n);
	if (!rc && ferror(p->out))
		rc = pofa_error(err, POFA_ERR_RUN, "cannot write the predictions: %s", strerror(errno));
	return rc;
}

/* the input's lines, B at a time, predicted; every line bounded (max
 * bytes), a NUL byte or a memory error an error naming the line */
static int predict_lines(printer *p, FILE *f, const char *file, int B, size_t max, pofa_err *err)
{
	pofa_lines lr = { .f = f, .name = file && strcmp(file, "-") ? file : "standard input", .max = max };
	char **lines = calloc((size_t)B, sizeof *lines);
	pofa_text *t = calloc((size_t)B, sizeof *t);
	pofa_prediction *r = calloc((size_t)B, sizeof *r);
	long first = 1;
	int n = 0, rc = lines && t && r ? POFA_OK : pofa_error(err, POFA_ERR_RUN, "out of memory"), got = 1;
	size_t len;
	while (!rc && got) {
		got = pofa_lines_next(&lr, &len, err);
		if (got < 0) {
			rc = err->status;
			break;
		}
		if (got) {
			free(lines[n]);
			lines[n] = malloc(len + 1);
			if (!lines[n]) {
				rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
				break;
			}
			char *line = memcpy(lines[n], lr.buf, len + 1), *tab = memchr(line, '\t', len);
			t[n] = (pofa_text){ .a = line, .na = tab ? tab - line : (long)len, .b = tab ? tab + 1 : NULL,
			                    .nb = tab ? (long)(len - (size_t)(tab + 1 - line)) : 0 };
			if (tab && pofa_predictor_single(p->pr) && !p->pair_said) {
				p->pair_said = 1;
				fprintf(stderr, "pofa predict: %s line %ld has a tab, so it is read as a pair of texts, but %s "
				        "was trained on single texts (its training.json has no text_b); a tab inside one "
				        "text: replace it with a space\n", lr.name, lr.line, p->model);
			}
			n++;
		}
		if (n == B || (!got && n > 0)) {
			rc = run_batch(p, t, r, n, first, err);
			fflush(stdout);
			first = lr.line + 1;
			n = 0;
		}
	}
	pofa_lines_free(&lr);
	for (int i = 0; lines && i < B; i++)
		free(lines[i]);
	free(lines);
	free(t);
	free(r);
	if (!rc && fflush(stdout))
		rc = pofa_error(err, POFA_ERR_RUN, "cannot write the predictions: %s", strerror(errno));
	return rc;
}

int cmd_predict(int argc, char **argv)
{
	const char *model = NULL, *file = NULL, *v;
	long B = 16, T = 0, top = 5, threads = cli_default_threads(), max_line = (long)POFA_LINE_MAX;
	int csv = 0, fp32 = 0, top_set = 0;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--model"))) model = v;
		else if ((v = cli_opt(argc, argv, &i, "--batch"))) {
			if (cli_int("predict", "--batch", v, 1, 1024, &B)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--seq"))) {
			if (cli_int("predict", "--seq", v, 3, 65536, &T)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--top"))) {
			if (cli_int("predict", "--top", v, 1, 100, &top)) return EXIT_USAGE;
			top_set = 1;
		} else if ((v = cli_opt(argc, argv, &i, "--threads"))) {
			if (cli_int("predict", "--threads", v, 1, 64, &threads)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--max-line"))) {
			if (cli_int("predict", "--max-line", v, 16, 1L << 30, &max_line)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--csv")) {
			csv = 1;
		} else if (!strcmp(argv[i], "--float")) {
			fp32 = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(predict_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cli_usage_error("predict", "unknown option '%s'", argv[i]);
		} else if (!file) {
			file = argv[i];
		} else {
			return cli_usage_error("predict", "one input file, please");
		}
	}
	if (!model || !*model)
		return cli_usage_error("predict", "--model DIR is required");
	pofa_err err = { 0 };
	/* --seq past the model's positions: lowered, and said */
	pofa_config cfg;
	enum pofa_head head;
	if (pofa_model_dir_head(model, &cfg, &head, &err))
		return cli_fail(&err);
	if (T && T > cfg.max_position_embeddings) {
		fprintf(stderr, "pofa predict: --seq %ld is more than %s has positions; using %d\n", T, model,
		        cfg.max_position_embeddings);
		T = cfg.max_position_embeddings;
	}
	/* a classifier: one label a line unless --top; a masked LM: --top (5) fillers */
	pofa_predictor_opts po = { .seq = (int)T, .batch = (int)B, .threads = (int)threads, .float32 = fp32,
	                           .top = head == POFA_HEAD_CLS ? (top_set ? (int)top : 1) : (int)top };
	pofa_predictor *pr = pofa_predictor_open(model, &po, &err);
	if (!pr)
		return cli_fail(&err);
	printer p = { .pr = pr, .head = head, .csv = csv, .top_labels = po.top, .model = model, .out = stdout };
	FILE *f = file && strcmp(file, "-") ? fopen(file, "rb") : stdin;
	int rc = f ? POFA_OK : pofa_error(&err, POFA_ERR_INPUT, "%s: cannot open: %s", file, strerror(errno));
	if (!rc && top_set && head == POFA_HEAD_SPAN)
		fprintf(stderr, "pofa predict: --top: %s is a span model, which gives its best answer a line; --top "
		        "ranks a classifier's labels and a masked-LM model's fillers\n", model);
	if (!rc && csv) {
		if (head == POFA_HEAD_CLS)
			fputs(p.top_labels > 1 ? "line,text_a,text_b,rank,label,probability\n"
			                       : "line,text_a,text_b,label,probability\n", stdout);
		else if (head == POFA_HEAD_SPAN)
			fputs("line,question,context,answer,score\n", stdout);
		else
			fputs("line,text,mask,rank,token,probability\n", stdout);
	}
	if (!rc)
		rc = predict_lines(&p, f, file, (int)B, (size_t)max_line, &err);
	if (f && f != stdin)
		fclose(f);
	pofa_predictor_close(pr);
	return rc ? cli_fail(&err) : 0;
}
