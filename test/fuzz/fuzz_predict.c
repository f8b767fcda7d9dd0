/*
 * fuzz_predict.c - pofa predict's input lines, through the command itself:
 * the input is the text file pofa predict reads, run by a classifier, a
 * span model or a masked-LM model (its first byte chooses) made once with
 * random weights. Lines of any bytes (NUL, no newline, invalid UTF-8,
 * [MASK]s, tabs) must give predictions or an error, never a crash or a
 * read out of bounds.
 */
#include "test/fuzz/fuzz.h"
#include "engine/pofa.h"
#include "tui/cli.h"

static const char *const vocab[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
                                     "mat", "##s", "a", ".", "\xc3\xa9t\xc3\xa9", "\xe4\xb8\xad" };

/* a tiny model of each head in its own folder, with this vocabulary */
static void make_models(char dirs[3][600])
{
	char vpath[600];
	snprintf(vpath, sizeof vpath, "%s", fuzz_side_file("vocab.txt", ""));
	FILE *f = fopen(vpath, "w");
	for (size_t i = 0; f && i < sizeof vocab / sizeof *vocab; i++)
		fprintf(f, "%s\n", vocab[i]);
	if (!f || fclose(f))
		abort();
	for (int h = 0; h < 3; h++) {
		pofa_err err;
		pofa_config cfg;
		if (pofa_config_preset(&cfg, "bert-tiny", &err))
			abort();
		cfg.vocab_size = (int)(sizeof vocab / sizeof *vocab);
		cfg.num_hidden_layers = 1;
		cfg.max_position_embeddings = 32;
		cfg.num_labels = 3;
		snprintf(dirs[h], 600, "%.*s/m%d", (int)(strrchr(vpath, '/') - vpath), vpath, h);
		pofa_model *m = pofa_model_new(&cfg, (enum pofa_head)h, 1, 8, 1, &err);
		if (!m || (pofa_model_init(m, 7), pofa_model_save(m, dirs[h], vpath, &err)))
			abort();
		pofa_model_free(m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dirs[3][600];
	if (!dirs[0][0])
		make_models(dirs);   /* its output: test/fuzz/run.sh closes it (-close_fd_mask=3) */
	int head = size ? data[0] % 3 : 0;
	const char *path = fuzz_file(size ? data + 1 : data, size ? size - 1 : 0, "lines.txt");
	char *argv[] = { "predict", "--model", dirs[head], (char *)path, "--seq", "16", "--batch", "3", "--threads", "1",
	                 "--max-line", "4096", size > 1 && data[1] & 1 ? "--csv" : "--top", NULL, NULL };
	int argc = 13;
	if (!strcmp(argv[12], "--top"))
		argv[argc++] = "2";
	cmd_predict(argc, argv);
	return 0;
}
