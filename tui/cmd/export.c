/* export.c - pofa export: a model directory for other runtimes (ONNX). */
#include "tui/cli.h"
#include "engine/io/onnx.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char export_usage[] = "usage: pofa export --onnx MODEL_DIR OUT.onnx [--fp32]\n";

int cmd_export(int argc, char **argv)
{
	const char *dir = NULL, *out = NULL;
	int onnx = 0, fp32 = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--onnx"))
			onnx = 1;
		else if (!strcmp(argv[i], "--fp32"))
			fp32 = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(export_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-')
			return cli_usage_error("export", "unknown option '%s'", argv[i]);
		else if (!dir)
			dir = argv[i];
		else if (!out)
			out = argv[i];
		else
			return cli_usage_error("export", "one model folder and one output file, please");
	}
	if (!onnx)
		return cli_usage_error("export", "which format? (--onnx)");
	if (!dir || !out)
		return cli_usage_error("export", "--onnx MODEL_DIR OUT.onnx");
	pofa_err err = { 0 };
	pofa_config cfg;
	enum pofa_head head;
	if (pofa_model_dir_head(dir, &cfg, &head, &err))
		return cli_fail(&err);
	int fresh = 0;
	pofa_model *m = pofa_model_load_for(dir, head, POFA_MODEL_INFER, 1, 1, 1, 0, &fresh, &err);
	if (!m)
		return cli_fail(&err);
	/* a QAT model: its int8 weights and input ranges, as QDQ pairs */
	char path[4200];
	snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
	pofa_st_file q8;
	int qat = !fp32 && access(path, R_OK) == 0;
	if (qat && pofa_st_open(&q8, path, &err)) {
		pofa_model_free(m);
		return cli_fail(&err);
	}
	int rc = pofa_onnx_export(m, qat ? &q8 : NULL, out, &err);
	if (qat)
		pofa_st_close(&q8);
	pofa_model_free(m);
	if (rc)
		return cli_fail(&err);
	printf("wrote %s: %s head, %s; inputs input_ids, attention_mask, token_type_ids (int64, batch x "
	       "sequence)\n", out, pofa_head_names[head],
	       qat ? "int8 weights and uint8 inputs as QuantizeLinear/DequantizeLinear" : "float32");
	return 0;
}
