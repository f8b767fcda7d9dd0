/* cmd_inspect.c - pofa inspect MODEL: what a model directory holds, and
 * how sparse its prunable matrices are. */
#include "tui/cli.h"
#include "engine/io/safetensors.h"

#include <stdio.h>
#include <string.h>

static const char inspect_usage[] = "usage: pofa inspect [--tensors] MODEL_DIR\n";

int cmd_inspect(int argc, char **argv)
{
	const char *dir = NULL;
	int tensors = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tensors"))
			tensors = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(inspect_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-')
			return cli_usage_error("inspect", "unknown option '%s'", argv[i]);
		else if (dir)
			return cli_usage_error("inspect", "one model folder, please");
		else
			dir = argv[i];
	}
	if (!dir)
		return cli_usage_error("inspect", "which model folder?");
	pofa_err err = { 0 };
	char path[4200];
	pofa_config cfg;
	enum pofa_head head;
	if (pofa_model_dir_head(dir, &cfg, &head, &err))
		return cli_fail(&err);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (pofa_model_check_size(&cfg, head, path, &err))
		return cli_fail(&err);
	/* no gradients or moments: only the weights are looked at */
	pofa_model *m = pofa_model_new_for(&cfg, head, POFA_MODEL_INFER, 1, 1, 1, &err);
	if (!m)
		return cli_fail(&err);
	pofa_model_init(m, 0);
	int fresh = 0;
	if (pofa_model_load_weights(m, path, &fresh, &err)) {
		pofa_model_free(m);
		return cli_fail(&err);
	}
	printf("%s: BERT L%d H%d A%d I%d, vocab %d, %s head%s, %zu parameters (%.1f MiB as F32)\n",
	       dir, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
	       cfg.intermediate_size, cfg.vocab_size, pofa_head_names[head],
	       fresh ? " (absent from the file)" : "", pofa_model_num_params(m),
	       pofa_model_num_params(m) * 4.0 / (1 << 20));
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	int64_t pz = 0, pn = 0;
	for (int i = 0; i < n; i++) {
		int64_t z = pofa_tensor_zeros(&t[i]);
		if (t[i].prunable) {
			pz += z;
			pn += t[i].numel;
		}
		if (t[i].absent)
			continue;
		if (tensors || t[i].prunable)
			printf("  %-58s [%lld%s%.0lld]  %6.2f%% zeros%s\n", t[i].name, (long long)t[i].shape[0],
			       t[i].ndim > 1 ? ", " : "", t[i].ndim > 1 ? (long long)t[i].shape[1] : 0LL,
			       100.0 * z / (double)t[i].numel, t[i].prunable ? "" : "  (not prunable)");
	}
	printf("sparsity of the prunable matrices (encoder Linear weights and pooler; embeddings "
	       "excluded): %.2f%% (%lld of %lld weights are zero)\n",
	       pn ? 100.0 * pz / pn : 0.0, (long long)pz, (long long)pn);
	printf("note: model.safetensors stores every weight dense, zeros included\n");
	pofa_model_free(m);
	return 0;
}
