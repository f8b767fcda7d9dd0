/*
 * logits.c - the test suite's window on a model's outputs, for comparing
 * pofa with other runtimes (test/onnx.sh). Reads "B T", then B lines of T
 * token ids, B lines of attention mask and B lines of token types from
 * standard input; prints the head's logits, one row a line: classification
 * B rows of labels; span B*T rows "start end"; masked LM a row of V per
 * non-padding token. A QAT model runs as pofa's evaluation runs it (its
 * learned input ranges), unless --fp32.
 * usage: pofa-logits MODEL_DIR [--fp32] < inputs
 */
#include "engine/pofa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return fprintf(stderr, "usage: pofa-logits MODEL_DIR [--fp32] < inputs\n"), 2;
	int fp32 = argc > 2 && !strcmp(argv[2], "--fp32");
	int B, T;
	if (scanf("%d %d", &B, &T) != 2 || B < 1 || T < 1 || B > 64 || T > 4096)
		return fprintf(stderr, "pofa-logits: want B T first\n"), 2;
	int *buf = malloc((size_t)B * T * 3 * sizeof *buf);
	for (int i = 0; i < B * T * 3; i++)
		if (scanf("%d", &buf[i]) != 1)
			return fprintf(stderr, "pofa-logits: short input\n"), 2;
	pofa_err err;
	pofa_config cfg;
	enum pofa_head head;
	int fresh;
	if (pofa_model_dir_head(argv[1], &cfg, &head, &err))
		return fprintf(stderr, "pofa-logits: %s\n", err.msg), 2;
	pofa_model *m = pofa_model_load_for(argv[1], head, POFA_MODEL_INFER, B, T, 1, 0, &fresh, &err);
	if (!m)
		return fprintf(stderr, "pofa-logits: %s\n", err.msg), 2;
	char path[4200];
	snprintf(path, sizeof path, "%s/qat.safetensors", argv[1]);
	if (!fp32 && access(path, R_OK) == 0 && pofa_model_qat_load(m, path, &err))
		return fprintf(stderr, "pofa-logits: %s\n", err.msg), 2;
	pofa_model_set_mlm_positions(m, POFA_MLM_ALL);
	pofa_batch b = { .B = B, .T = T, .input_ids = buf, .attention_mask = buf + B * T,
	                 .token_type_ids = buf + 2 * B * T };
	if (pofa_model_forward(m, &b, 0, &err))
		return fprintf(stderr, "pofa-logits: %s\n", err.msg), 2;
	int rows, cols;
	const float *lg = pofa_model_logits(m, &rows, &cols);
	const int *pos = pofa_model_logit_positions(m);
	for (int r = 0; r < rows; r++) {
		if (pos)
			printf("%d:", pos[r]);
		for (int c = 0; c < cols; c++)
			printf(" %.9g", lg[(size_t)r * cols + c]);
		printf("\n");
	}
	pofa_model_free(m);
	free(buf);
	return 0;
}
