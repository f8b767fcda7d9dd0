/*
 * predict.c - pofa predict: a model directory on raw text, one line an
 * input (a tab separates the two texts of a pair), on the forward-only
 * path: a classification model prints each line's label and probability,
 * a span model the answer (from the second text, the first being the
 * question), a masked-LM model the top fillers of each [MASK].
 */
#include "tui/cli.h"
#include "data/base/fileio.h"
#include "data/base/text.h"
#include "data/text/tokenizer.h"
#include "engine/infer/infer.h"
#include "engine/model/folder.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
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
	char *line;
	const char *a, *b;       /* into line */
	long na, nb;
	int len;                 /* tokens */
	int masks_cut;           /* masked-LM: [MASK]s of the text past the sequence length */
	int *ids, *types, *start, *end, *seg;
} input;

typedef struct {
	pofa_tokenizer *tk;
	pofa_infer *inf;
	enum pofa_head head;
	const pofa_config *cfg;
	int maxT, top, csv;
	int top_labels;          /* a classifier: how many labels a line prints (--top; 1 without it) */
	int single;              /* trained on single texts (training.json has no text_b) */
	int pair_said;           /* the warning about a pair for such a model given */
	const char *model;
	pofa_piece *pieces;
	int pcap;
	pofa_encoding enc;
	FILE *out;
} predictor;

/* a CSV text cell: quoted, a formula made text (text.h) */
static void csv_field(FILE *f, const char *s, long n, int last)
{
	pofa_csv_text(f, s, n);
	fputc(last ? '\n' : ',', f);
}

/* a masked-LM input: [CLS] the text, every literal [MASK] its token, [SEP] */
static int encode_mlm(predictor *p, input *in)
{
	int cls = pofa_tok_cls(p->tk), sep = pofa_tok_sep(p->tk), msk = pofa_tok_mask(p->tk), n = 0;
	in->ids[n] = cls;
	in->start[n] = in->end[n] = -1;
	n++;
	const char *s = in->a, *e = in->a + in->na;
	in->masks_cut = 0;
	while (s <= e && n < p->maxT - 1) {
		const char *m = NULL;
		for (const char *q = s; q + 6 <= e; q++)
			if (!memcmp(q, "[MASK]", 6)) {
				m = q;
				break;
			}
		long seg = (m ? m : e) - s;
		int np = pofa_tokenize(p->tk, s, seg, &p->pieces, &p->pcap, NULL);
		if (np < 0)
			return -1;
		for (int k = 0; k < np && n < p->maxT - 1; k++, n++) {
			in->ids[n] = p->pieces[k].id;
			in->start[n] = (int)(s - in->a) + p->pieces[k].start;
			in->end[n] = (int)(s - in->a) + p->pieces[k].end;
		}
		if (!m)
			break;
		if (n < p->maxT - 1) {
			in->ids[n] = msk;
			in->start[n] = (int)(m - in->a);
			in->end[n] = in->start[n] + 6;
			n++;
		} else {
			in->masks_cut++;
		}
		s = m + 6;
	}
	/* the masks the loop did not reach: past the sequence too */
	for (const char *q = s; q + 6 <= e; q++)
		if (!memcmp(q, "[MASK]", 6))
			in->masks_cut++, q += 5;
	in->ids[n] = sep;
	in->start[n] = in->end[n] = -1;
	n++;
	for (int k = 0; k < n; k++) {
		in->types[k] = 0;
		in->seg[k] = in->start[k] >= 0 ? 0 : -1;
	}
	in->len = n;
	return 0;
}

static int encode(predictor *p, input *in)
{
	if (p->head == POFA_HEAD_MLM)
		return encode_mlm(p, in);
	if (pofa_encode(p->tk, in->a, in->na, in->b, in->b ? in->nb : 0, p->maxT, 0, &p->enc) < 0)
		return -1;
	in->len = p->enc.len;
	memcpy(in->ids, p->enc.ids, (size_t)in->len * sizeof *in->ids);
	memcpy(in->types, p->enc.type_ids, (size_t)in->len * sizeof *in->ids);
	memcpy(in->start, p->enc.start, (size_t)in->len * sizeof *in->ids);
	memcpy(in->end, p->enc.end, (size_t)in->len * sizeof *in->ids);
	memcpy(in->seg, p->enc.seq, (size_t)in->len * sizeof *in->ids);
	return 0;
}

static void print_texts(predictor *p, const input *in, long line)
{
	fprintf(p->out, "%ld,", line);
	csv_field(p->out, in->a, in->na, 0);
	if (p->head != POFA_HEAD_MLM)
		csv_field(p->out, in->b ? in->b : "", in->b ? in->nb : 0, 0);
}

/* softmax of n logits into prob; returns the argmax */
static int softmax(const float *z, int n, double *prob)
{
	int best = 0;
	for (int k = 1; k < n; k++)
		if (z[k] > z[best])
			best = k;
	double sum = 0.0;
	for (int k = 0; k < n; k++)
		sum += (prob[k] = exp((double)z[k] - z[best]));
	for (int k = 0; k < n; k++)
		prob[k] /= sum;
	return best;
}

/* a line's label and probability, or with --top its K most probable
 * labels, best first (a tab between pairs; CSV: a row each, ranked) */
static void out_cls(predictor *p, input *in, int b, const float *lg, long line)
{
	int nl = p->cfg->num_labels, k = p->top_labels < nl ? p->top_labels : nl;
	double prob[256];
	int rank[256];
	softmax(lg + (size_t)b * nl, nl, prob);
	for (int i = 0; i < nl; i++) {   /* by probability, the lower id first on a tie */
		int j = i;
		while (j > 0 && prob[i] > prob[rank[j - 1]]) {
			rank[j] = rank[j - 1];
			j--;
		}
		rank[j] = i;
	}
	for (int r = 0; r < k; r++) {
		char name[64];
		int c = rank[r];
		if (p->cfg->label_names[c][0])
			snprintf(name, sizeof name, "%s", p->cfg->label_names[c]);
		else
			snprintf(name, sizeof name, "LABEL_%d", c);
		if (p->csv) {
			print_texts(p, in, line);
			if (p->top_labels > 1)
				fprintf(p->out, "%d,", r + 1);
			csv_field(p->out, name, -1, 0);
			fprintf(p->out, "%.6f\n", prob[c]);
		} else {   /* a terminal's text: a label's control characters shown, not obeyed */
			if (r)
				fputc('\t', p->out);
			pofa_esc_term(p->out, name, -1);
			fprintf(p->out, "\t%.4f%s", prob[c], r + 1 == k ? "\n" : "");
		}
	}
}

/* the best span of the context (the second text, or the only one): start
 * and end logits summed, at most 30 tokens */
static void out_span(predictor *p, input *in, int b, int T, const float *lg, long line)
{
	int ctx = in->b ? 1 : 0, bs = -1, be = -1;
	double best = -INFINITY;
	for (int s = 0; s < in->len; s++) {
		if (in->seg[s] != ctx)
			continue;
		for (int e = s; e < in->len && e < s + 30; e++) {
			if (in->seg[e] != ctx)
				break;
			double v = (double)lg[((size_t)b * T + s) * 2] + lg[((size_t)b * T + e) * 2 + 1];
			if (v > best) {
				best = v;
				bs = s;
				be = e;
			}
		}
	}
	const char *text = ctx ? in->b : in->a;
	int a0 = bs >= 0 ? in->start[bs] : 0, a1 = bs >= 0 ? in->end[be] : 0;
	if (p->csv) {
		print_texts(p, in, line);
		csv_field(p->out, text + a0, a1 - a0, 0);
		fprintf(p->out, "%.4f\n", bs >= 0 ? best : 0.0);
	} else {
		pofa_esc_term(p->out, text + a0, a1 - a0);
		fprintf(p->out, "\t%.4f\n", bs >= 0 ? best : 0.0);
	}
}

static void out_mlm(predictor *p, input *in, const float *lg, const int *pos, int rows, int b, int T, long line)
{
	int V = p->cfg->vocab_size, printed = 0;
	double *prob = malloc((size_t)V * sizeof *prob);
	int *topk = malloc((size_t)p->top * sizeof *topk);
	for (int r = 0, m = 0; r < rows && prob && topk; r++) {
		if (pos[r] / T != b)
			continue;
		softmax(lg + (size_t)r * V, V, prob);
		int k = 0;
		for (int v = 0; v < V; v++) {
			if (pofa_tok_is_special(p->tk, v))
				continue;
			int j = k < p->top ? k++ : p->top;
			while (j > 0 && prob[v] > prob[topk[j - 1]]) {
				if (j < p->top)
					topk[j] = topk[j - 1];
				j--;
			}
			if (j < p->top)
				topk[j] = v;
		}
		if (!p->csv)
			fprintf(p->out, "%s[MASK] %d:", printed++ ? "\t" : "", m + 1);
		for (int j = 0; j < k; j++) {
			const char *tok = pofa_vocab_token(p->tk, topk[j]);
			if (p->csv) {
				fprintf(p->out, "%ld,", line);
				csv_field(p->out, in->a, in->na, 0);
				fprintf(p->out, "%d,%d,", m + 1, j + 1);
				csv_field(p->out, tok, -1, 0);
				fprintf(p->out, "%.6f\n", prob[topk[j]]);
			} else {
				fputc(' ', p->out);
				pofa_esc_term(p->out, tok, -1);
				fprintf(p->out, " (%.4f)", prob[topk[j]]);
			}
		}
		m++;
	}
	if (!p->csv && !printed && in->masks_cut)
		fprintf(p->out, "(no [MASK] within the first %d tokens: raise --seq)\n", p->maxT);
	else if (!p->csv)
		fputs(printed ? "\n" : "(no [MASK] in the line)\n", p->out);
	free(prob);
	free(topk);
}

/* one batch of n inputs, padded to its longest */
static int run_batch(predictor *p, input *in, int n, long first_line, pofa_err *err)
{
	int T = 1;
	for (int i = 0; i < n; i++)
		T = in[i].len > T ? in[i].len : T;
	int *ids = calloc((size_t)n * T, sizeof *ids), *types = calloc((size_t)n * T, sizeof *ids),
	    *mask = calloc((size_t)n * T, sizeof *ids), *mlm = calloc((size_t)n * T, sizeof *ids);
	if (!ids || !types || !mask || !mlm) {
		free(ids); free(types); free(mask); free(mlm);
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	}
	int pad = pofa_tok_pad(p->tk), msk = pofa_tok_mask(p->tk);
	for (int i = 0; i < n; i++)
		for (int t = 0; t < T; t++) {
			int in_seq = t < in[i].len;
			size_t k = (size_t)i * T + t;
			ids[k] = in_seq ? in[i].ids[t] : pad;
			types[k] = in_seq ? in[i].types[t] : 0;
			mask[k] = in_seq;
			mlm[k] = in_seq && ids[k] == msk ? 0 : POFA_IGNORE;
		}
	pofa_batch b = { .B = n, .T = T, .input_ids = ids, .token_type_ids = types, .attention_mask = mask,
	                 .mlm_labels = mlm };
	int rc = pofa_infer_forward(p->inf, &b, err);
	if (!rc) {
		int rows, cols;
		const float *lg = pofa_infer_logits(p->inf, &rows, &cols);
		for (int i = 0; i < n; i++) {
			if (p->head == POFA_HEAD_CLS)
				out_cls(p, &in[i], i, lg, first_line + i);
			else if (p->head == POFA_HEAD_SPAN)
				out_span(p, &in[i], i, T, lg, first_line + i);
			else
				out_mlm(p, &in[i], lg, pofa_infer_logit_positions(p->inf), rows, i, T, first_line + i);
		}
		if (ferror(p->out))
			rc = pofa_error(err, POFA_ERR_RUN, "cannot write the predictions: %s", strerror(errno));
	}
	free(ids); free(types); free(mask); free(mlm);
	return rc;
}

/* the model, its tokenizer and the sequence length: asked, else trained
 * at (training.json), else its positions up to 512; never more than its
 * positions (lowered, and said) */
static int predict_open(predictor *p, const char *model, int T, int B, int threads, int fp32, int *maxT,
                        pofa_err *err)
{
	pofa_config cfg;
	enum pofa_head head;
	if (pofa_model_dir_head(model, &cfg, &head, err))
		return err->status;
	*maxT = cfg.max_position_embeddings < 512 ? cfg.max_position_embeddings : 512;
	pofa_trained *tr = calloc(1, sizeof *tr);
	int trc = tr ? pofa_trained_load(model, tr, err) : pofa_error(err, POFA_ERR_RUN, "out of memory");
	if (!T && trc == 0 && tr->seq > 0)
		T = tr->seq;
	p->single = trc == 0 && tr->has_task && !tr->task.text_b[0] && head == POFA_HEAD_CLS;
	p->model = model;
	free(tr);
	if (trc != 0 && trc != 1)
		return err->status;
	if (T && T > cfg.max_position_embeddings) {
		fprintf(stderr, "pofa predict: --seq %d is more than %s has positions; using %d\n", T, model,
		        cfg.max_position_embeddings);
		T = cfg.max_position_embeddings;
	}
	if (T)
		*maxT = T;
	char path[4200];
	snprintf(path, sizeof path, "%s/vocab.txt", model);
	p->tk = pofa_tokenizer_load(path, POFA_CASE_AUTO, err);
	if (!p->tk)
		return err->status;
	if (pofa_vocab_size(p->tk) != cfg.vocab_size)
		return pofa_error(err, POFA_ERR_INPUT, "%s has %d tokens, but %s/config.json says vocab_size %d: the model "
		                  "and its vocabulary do not belong together", path, pofa_vocab_size(p->tk), model,
		                  cfg.vocab_size);
	pofa_infer_opts io = { .maxB = B, .maxT = *maxT, .threads = threads,
	                       .int8 = fp32 ? POFA_INT8_OFF : POFA_INT8_AUTO, .force_fmt = -1, .cpu = -1 };
	p->head = head;
	p->maxT = *maxT;
	p->inf = pofa_infer_open(model, &io, err);
	if (!p->inf)
		return err->status;
	if (head != pofa_infer_head(p->inf))
		return pofa_error(err, POFA_ERR_INPUT, "%s: unexpected head", model);
	p->cfg = pofa_infer_config(p->inf);
	return pofa_encoding_init(&p->enc, *maxT) ? pofa_error(err, POFA_ERR_RUN, "out of memory") : POFA_OK;
}

/* the input's lines, B at a time, encoded and run; every line bounded
 * (max bytes), a NUL byte or a memory error an error naming the line */
static int predict_lines(predictor *p, FILE *f, const char *file, input *in, int B, size_t max, pofa_err *err)
{
	pofa_lines lr = { .f = f, .name = file && strcmp(file, "-") ? file : "standard input", .max = max };
	long first = 1;
	int n = 0, rc = POFA_OK, got = 1;
	size_t len;
	while (!rc && got) {
		got = pofa_lines_next(&lr, &len, err);
		if (got < 0) {
			rc = err->status;
			break;
		}
		if (got) {
			input *x = &in[n];
			free(x->line);
			x->line = malloc(len + 1);
			if (!x->line) {
				rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
				break;
			}
			memcpy(x->line, lr.buf, len + 1);
			char *tab = memchr(x->line, '\t', len);
			x->a = x->line;
			x->na = tab ? tab - x->line : (long)len;
			x->b = tab ? tab + 1 : NULL;
			x->nb = tab ? (long)(len - (size_t)(tab + 1 - x->line)) : 0;
			if (tab && p->single && !p->pair_said) {
				p->pair_said = 1;
				fprintf(stderr, "pofa predict: %s line %ld has a tab, so it is read as a pair of texts, but %s "
				        "was trained on single texts (its training.json has no text_b); a tab inside one "
				        "text: replace it with a space\n", lr.name, lr.line, p->model);
			}
			if (encode(p, x)) {
				rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
				break;
			}
			n++;
		}
		if (n == B || (!got && n > 0)) {
			rc = run_batch(p, in, n, first, err);
			fflush(stdout);
			first = lr.line + 1;
			n = 0;
		}
	}
	pofa_lines_free(&lr);
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
	predictor p = { .top = (int)top, .top_labels = top_set ? (int)top : 1, .csv = csv, .out = stdout };
	int maxT = 0;
	if (predict_open(&p, model, (int)T, (int)B, (int)threads, fp32, &maxT, &err)) {
		pofa_encoding_free(&p.enc);
		pofa_infer_free(p.inf);
		pofa_tokenizer_free(p.tk);
		return cli_fail(&err);
	}
	FILE *f = file && strcmp(file, "-") ? fopen(file, "rb") : stdin;
	int rc = f ? POFA_OK : pofa_error(&err, POFA_ERR_INPUT, "%s: cannot open: %s", file, strerror(errno));
	input *in = calloc((size_t)B, sizeof *in);
	int *store = calloc((size_t)B * maxT * 5, sizeof *store);
	if (!rc && (!in || !store))
		rc = pofa_error(&err, POFA_ERR_RUN, "out of memory");
	for (long i = 0; !rc && i < B; i++) {
		int *base = store + (size_t)i * maxT * 5;
		in[i] = (input){ .ids = base, .types = base + maxT, .start = base + 2 * maxT, .end = base + 3 * maxT,
		                 .seg = base + 4 * maxT };
	}
	if (!rc && top_set && p.head == POFA_HEAD_SPAN)
		fprintf(stderr, "pofa predict: --top: %s is a span model, which gives its best answer a line; --top "
		        "ranks a classifier's labels and a masked-LM model's fillers\n", model);
	if (!rc && csv) {
		if (p.head == POFA_HEAD_CLS)
			fputs(p.top_labels > 1 ? "line,text_a,text_b,rank,label,probability\n"
			                       : "line,text_a,text_b,label,probability\n", stdout);
		else if (p.head == POFA_HEAD_SPAN)
			fputs("line,question,context,answer,score\n", stdout);
		else
			fputs("line,text,mask,rank,token,probability\n", stdout);
	}
	if (!rc)
		rc = predict_lines(&p, f, file, in, (int)B, (size_t)max_line, &err);
	for (long i = 0; in && i < B; i++)
		free(in[i].line);
	free(in);
	free(store);
	free(p.pieces);
	pofa_encoding_free(&p.enc);
	if (f && f != stdin)
		fclose(f);
	pofa_infer_free(p.inf);
	pofa_tokenizer_free(p.tk);
	return rc ? cli_fail(&err) : 0;
}
