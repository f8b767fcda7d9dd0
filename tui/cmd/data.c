/* cmd_data.c - pofa data build, pofa vocab, pofa tokenize. */
#include "tui/cli.h"
#include "data/base/fileio.h"
#include "data/base/text.h"
#include "data/build/datasets.h"
#include "data/text/tokenizer.h"
#include "data/text/vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char data_usage[] =
	"usage: pofa data build [--out DIR] [--vocab-size N] [--max-entries N]\n"
	"                       [--gcide-dict FILE] [--gcide-index FILE] [--wordnet DIR]\n";

int cmd_data(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(data_usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "build"))
		return cli_usage_error("data", "unknown data command '%s' (known: build)", argc >= 2 ? argv[1] : "");
	const char *out = "gen/data", *dict = GCIDE_DICT, *index = GCIDE_INDEX, *wn = WORDNET_DIR, *v;
	long vsize = 8192, maxe = 0;
	for (int i = 2; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--out"))) {
			if (!*v) return cli_usage_error("data", "--out wants a folder");
			out = v;
		} else if ((v = cli_opt(argc, argv, &i, "--vocab-size"))) {
			if (cli_int("data", "--vocab-size", v, 64, 1 << 22, &vsize)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--max-entries"))) {
			if (cli_int("data", "--max-entries", v, 1, 1L << 40, &maxe)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--gcide-dict"))) {
			dict = v;
		} else if ((v = cli_opt(argc, argv, &i, "--gcide-index"))) {
			index = v;
		} else if ((v = cli_opt(argc, argv, &i, "--wordnet"))) {
			wn = v;
		} else {
			return cli_usage_error("data", "unknown option '%s'", argv[i]);
		}
	}
	pofa_err err = { 0 };
	if (pofa_mkdirs(out, &err))
		return cli_fail(&err);
	char path[4200], vpath[4200];
	/* WordNet first: what its dev and test splits hold is kept out of the
	 * pre-training corpus */
	pofa_wn_stats ws;
	pofa_sbuf held = { 0 };
	double t0 = cli_now();
	if (pofa_wordnet_build(wn, out, maxe, &held, &ws, &err)) {
		pofa_sbuf_free(&held);
		return cli_fail(&err);
	}
	printf("wordnet  %s: %ld synsets (%.1fs)\n", wn, ws.synsets, cli_now() - t0);
	printf("  wn-sense  train %6ld  dev %6ld  test %6ld   (45 classes)\n", ws.sense[0], ws.sense[1], ws.sense[2]);
	printf("  wn-pos    train %6ld  dev %6ld  test %6ld   (noun %ld, verb %ld, adj %ld, adv %ld)\n", ws.sense[0],
	       ws.sense[1], ws.sense[2], ws.pos_count[0], ws.pos_count[1], ws.pos_count[2], ws.pos_count[3]);
	printf("  wn-pair   train %6ld  dev %6ld  test %6ld   (same file %ld/%ld/%ld; same part of speech %ld/%ld/%ld)\n",
	       ws.pair[0], ws.pair[1], ws.pair[2], ws.pair_pos[0], ws.pair_pos[1], ws.pair_pos[2],
	       ws.pair_same_pos[0], ws.pair_same_pos[1], ws.pair_same_pos[2]);
	printf("  wn-span   train %6ld  dev %6ld  test %6ld   (%ld example sentences without a lemma skipped)\n",
	       ws.span[0], ws.span[1], ws.span[2], ws.span_skipped);
	fflush(stdout);
	snprintf(path, sizeof path, "%s/corpus.txt", out);
	pofa_gcide_stats gs;
	t0 = cli_now();
	int rc = pofa_gcide_build(dict, index, path, maxe, &held, &gs, &err);
	pofa_sbuf_free(&held);
	if (rc)
		return cli_fail(&err);
	printf("corpus   %s: %ld entries -> %ld documents, %ld sentences, %ld words; %ld sentences left out as "
	       "WordNet's dev or test text (%.1fs)\n", path, gs.entries, gs.documents, gs.sentences, gs.words,
	       gs.held_out, cli_now() - t0);
	fflush(stdout);
	t0 = cli_now();
	snprintf(vpath, sizeof vpath, "%s/vocab.txt", out);
	pofa_vocab_stats vs;
	if (pofa_vocab_train(path, (int)vsize, vpath, &vs, &err))
		return cli_fail(&err);
	printf("vocab    %s: %d tokens (%d characters, %d learned pieces) from %ld words, %ld distinct "
	       "(%.1fs)\n", vpath, vs.size, vs.alphabet, vs.merges, vs.words, vs.unique_words, cli_now() - t0);
	printf("  wn-sense labels:");
	long total = ws.sense[0] + ws.sense[1] + ws.sense[2];
	for (int l = 0; l < 45; l++)
		printf("%s %s %.1f%%", l % 5 ? "," : "\n   ", pofa_wn_lexnames[l], total ? 100.0 * ws.label_count[l] / total : 0.0);
	printf("\n");
	return 0;
}

static const char vocab_usage[] = "usage: pofa vocab --corpus FILE [--size N] --out FILE\n";

int cmd_vocab(int argc, char **argv)
{
	const char *corpus = NULL, *out = NULL, *v;
	long size = 8192;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--corpus")))
			corpus = v;
		else if ((v = cli_opt(argc, argv, &i, "--out")))
			out = v;
		else if ((v = cli_opt(argc, argv, &i, "--size"))) {
			if (cli_int("vocab", "--size", v, 64, 1 << 22, &size)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(vocab_usage, stdout);
			return 0;
		} else
			return cli_usage_error("vocab", "unknown option '%s'", argv[i]);
	}
	if (!corpus || !*corpus || !out || !*out)
		return cli_usage_error("vocab", "--corpus FILE and --out FILE are required");
	pofa_err err = { 0 };
	pofa_vocab_stats vs;
	if (pofa_output_ok(out, (const char *[]){ corpus }, 1, &err) || pofa_vocab_train(corpus, (int)size, out, &vs, &err))
		return cli_fail(&err);
	printf("%s: %d tokens (%d characters, %d learned pieces) from %ld words, %ld distinct\n", out,
	       vs.size, vs.alphabet, vs.merges, vs.words, vs.unique_words);
	return 0;
}

static const char tok_usage[] =
	"usage: pofa tokenize --vocab FILE [--pair] [--pieces] [--cased | --uncased]\n"
	"                     [--max-len N]\n"
	"Reads standard input, a text a line (a pair: tab-separated); a line longer\n"
	"than 1 MiB or holding a NUL byte is an error naming the line.\n";

int cmd_tokenize(int argc, char **argv)
{
	const char *vocab = NULL, *v;
	int pair = 0, pieces = 0, casing = POFA_CASE_AUTO;
	long max_len = 0;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--vocab")))
			vocab = v;
		else if (!strcmp(argv[i], "--pair"))
			pair = 1;
		else if (!strcmp(argv[i], "--pieces"))
			pieces = 1;
		else if (!strcmp(argv[i], "--cased"))
			casing = POFA_CASE_KEEP;
		else if (!strcmp(argv[i], "--uncased"))
			casing = POFA_CASE_LOWER;
		else if ((v = cli_opt(argc, argv, &i, "--max-len"))) {
			if (cli_int("tokenize", "--max-len", v, 3, 1 << 20, &max_len)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(tok_usage, stdout);
			return 0;
		} else
			return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
	}
	if (!vocab || !*vocab)
		return cli_usage_error("tokenize", "--vocab FILE is required");
	pofa_err err = { 0 };
	pofa_tokenizer *tk = pofa_tokenizer_load(vocab, casing, &err);
	if (!tk)
		return cli_fail(&err);
	pofa_lines lr = { .f = stdin, .name = "standard input" };
	pofa_encoding e = { 0 };
	size_t len;
	int got, rc = 0;
	while ((got = pofa_lines_next(&lr, &len, &err)) > 0) {
		char *line = lr.buf, *b = NULL;
		long n = (long)len, na = n, nb = 0;
		if (pair) {
			b = memchr(line, '\t', len);
			if (b) {
				na = b - line;
				b++;
				nb = n - na - 1;
			} else {
				b = line + n;
				nb = 0;
			}
		}
		/* without --max-len nothing is cut: size for the whole line */
		int ml = max_len ? (int)max_len : (int)(n + 3);
		if (e.cap < ml) {
			pofa_encoding_free(&e);
			if (pofa_encoding_init(&e, ml)) {
				rc = cli_fail(&(pofa_err){ POFA_ERR_RUN, "out of memory" });
				break;
			}
		}
		int used = pofa_encode(tk, line, na, b, nb, ml, 0, &e);
		if (used < 0) {
			rc = cli_fail(&(pofa_err){ POFA_ERR_RUN, "out of memory" });
			break;
		}
		for (int i = 0; i < used; i++) {
			if (i)
				putchar(' ');
			if (pieces)   /* a vocabulary's token: its control characters shown */
				pofa_esc_term(stdout, pofa_vocab_token(tk, e.ids[i]), -1);
			else
				printf("%d", e.ids[i]);
		}
		printf("\n");
	}
	if (got < 0)
		rc = cli_fail(&err);
	pofa_lines_free(&lr);
	pofa_encoding_free(&e);
	pofa_tokenizer_free(tk);
	return rc;
}
