/* export.c - pofa export: a model directory for other runtimes (ONNX). */
#include "tui/cli.h"
#include "engine/export/onnx.h"
#include "engine/infer/infer.h"
#include "data/base/fileio.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char export_usage[] =
	"usage: pofa export --onnx MODEL_DIR OUT.onnx [--fp32]\n"
	"       pofa export --packed MODEL_DIR [OUT]\n";

/* an output file checked before any work (fileio.h): not a device, FIFO,
 * link or folder, and none of the model folder's files the export reads */
static int output_ok(const char *dir, const char *out, int packed, pofa_err *err)
{
	static const char *const files[] = { "config.json", "model.safetensors", "model.int8.safetensors", "vocab.txt",
	                                     "model.packed.safetensors" };
	char in[5][4200];
	const char *inputs[5];
	int n = 0;
	for (int k = 0; k < 5; k++) {
		if (packed && k == 4)
			continue;   /* the packed file is what --packed writes, not what it reads */
		snprintf(in[n], sizeof in[n], "%s/%s", dir, files[k]);
		inputs[n] = in[n];
		n++;
	}
	return pofa_output_ok(out, inputs, n, err);
}

/* a model directory as model.packed.safetensors: a qat stage's int8 path,
 * or the float32 path of any other model, as they are packed here */
static int export_packed(const char *dir, const char *out)
{
	if (!dir)
		return cli_usage_error("export", "--packed MODEL_DIR [OUT]");
	char path[4200];
	if (!out) {
		snprintf(path, sizeof path, "%s/model.packed.safetensors", dir);
		out = path;
	}
	pofa_err err = { 0 };
	if (output_ok(dir, out, 1, &err))
		return cli_fail(&err);
	pofa_config cfg;
	enum pofa_head head;
	if (pofa_model_dir_head(dir, &cfg, &head, &err))
		return cli_fail(&err);
	char q8path[4200];
	snprintf(q8path, sizeof q8path, "%s/model.int8.safetensors", dir);
	int int8 = access(q8path, R_OK) == 0;
	/* from the float (and int8) files, not from a packed file already there */
	pofa_infer_opts o = { .maxB = 1, .maxT = 1, .threads = 1, .int8 = int8 ? POFA_INT8_ON : POFA_INT8_OFF,
	                      .force_fmt = -1, .cpu = -1 };
	int fresh = 0;
	pofa_model *m = pofa_model_load_for(dir, head, POFA_MODEL_INFER, 1, 1, 1, 0, &fresh, &err);
	if (!m)
		return cli_fail(&err);
	pofa_st_file q8;
	pofa_infer *inf = NULL;
	if (!int8)
		inf = pofa_infer_from_model(m, NULL, &o, &err);
	else if (!pofa_st_open(&q8, q8path, &err)) {
		inf = pofa_infer_from_model(m, &q8, &o, &err);
		pofa_st_close(&q8);
	}
	pofa_model_free(m);
	int rc = inf ? pofa_infer_save_packed(inf, out, &err) : (int)err.status;
	if (!rc) {
		pofa_infer_info info;
		pofa_infer_describe(inf, &info);
		printf("wrote %s: %s head, %s, %.1f%% sparse, %.1f MiB of weights (%.1f%% of the float32 model)\n", out,
		       pofa_head_names[head], int8 ? "int8" : "float32", 100.0 * info.sparsity,
		       info.weight_bytes / 1048576.0, 100.0 * info.weight_bytes / (double)info.dense_bytes);
	}
	pofa_infer_free(inf);
	return rc ? cli_fail(&err) : 0;
}

int cmd_export(int argc, char **argv)
{
	const char *dir = NULL, *out = NULL;
	int onnx = 0, fp32 = 0, packed = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--onnx"))
			onnx = 1;
		else if (!strcmp(argv[i], "--packed"))
			packed = 1;
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
	if (onnx + packed != 1)
		return cli_usage_error("export", "which format? (--onnx or --packed)");
	if (packed)
		return export_packed(dir, out);
	if (!dir || !out)
		return cli_usage_error("export", "--onnx MODEL_DIR OUT.onnx");
	pofa_err err = { 0 };
	pofa_config cfg;
	enum pofa_head head;
	if (output_ok(dir, out, 0, &err) || pofa_model_dir_head(dir, &cfg, &head, &err))
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
