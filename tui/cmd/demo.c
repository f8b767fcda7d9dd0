/* cmd_demo.c - pofa train-demo: a short dense MLM training run. */
#include "tui/cli.h"
#include "data/base/fileio.h"
#include "data/build/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char demo_usage[] =
	"usage: pofa train-demo [--out DIR] [--steps N] [--threads N] [--seed S]\n";

int cmd_train_demo(int argc, char **argv)
{
	const char *out = "runs/demo";
	long steps = 300, threads = cli_default_threads(), seed = 1;
	const char *v;
	for (int i = 1; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--out"))) {
			if (!*v)
				return cli_usage_error("train-demo", "--out wants a folder");
			out = v;
		} else if ((v = cli_opt(argc, argv, &i, "--steps"))) {
			if (cli_int("train-demo", "--steps", v, 1, 1000000, &steps))
				return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--threads"))) {
			if (cli_int("train-demo", "--threads", v, 1, 64, &threads))
				return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--seed"))) {
			if (cli_int("train-demo", "--seed", v, 0, 2147483647L, &seed))
				return EXIT_USAGE;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(demo_usage, stdout);
			return 0;
		} else {
			return cli_usage_error("train-demo", "unknown option '%s'", argv[i]);
		}
	}

	pofa_err err = { 0 };
	pofa_config cfg;
	pofa_config_preset(&cfg, "bert-tiny", &err);
	cfg.vocab_size = 2048;
	cfg.max_position_embeddings = 128;
	const int B = 16, T = 64;
	pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_MLM, B, T, (int)threads, &err);
	if (!m)
		return cli_fail(&err);
	pofa_model_init(m, (uint64_t)seed);
	pofa_synth s;
	if (pofa_synth_init(&s, cfg.vocab_size, (uint64_t)seed)) {
		pofa_model_free(m);
		return cli_fail(&(pofa_err){ .status = 1, .msg = "out of memory" });
	}
	int *buf = malloc(4 * sizeof(int) * B * T);
	int *ids = buf, *types = buf + B * T, *mask = buf + 2 * B * T, *labels = buf + 3 * B * T;
	pofa_batch b = { .B = B, .T = T, .input_ids = ids, .token_type_ids = types,
	                 .attention_mask = mask, .mlm_labels = labels };
	pofa_optim opt = pofa_optim_default();
	pofa_sched sched = { .kind = POFA_SCHED_LINEAR, .lr = 4e-3, .warmup = steps / 10,
	                     .total = steps };
	printf("pofa train-demo: bert-tiny (L%d H%d A%d), vocab %d, batch %dx%d, %ld steps, %d threads\n",
	       cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size, B, T,
	       steps, pofa_model_threads(m));
	double t0 = cli_now(), ema = 0.0;
	int rc = 0;
	for (long step = 0; step < steps; step++) {
		pofa_synth_batch(&s, B, T, 1, ids, types, mask, labels);
		pofa_model_zero_grad(m);
		float loss = pofa_model_step_loss(m, &b, 1);
		if (!(loss == loss) || loss > 1e30f) {
			fprintf(stderr, "pofa: train-demo: loss is not finite at step %ld\n", step + 1);
			rc = EXIT_RUN_FAILED;
			break;
		}
		pofa_model_backward(m, &b);
		float gn = pofa_model_clip_grad(m, 1.0f);
		double lr = pofa_lr(&sched, step);
		pofa_model_adamw(m, &opt, lr);
		ema = step == 0 ? loss : 0.9 * ema + 0.1 * loss;
		if ((step + 1) % 20 == 0 || step == 0 || step + 1 == steps) {
			double dt = cli_now() - t0;
			printf("step %4ld/%ld  loss %.4f  (avg %.4f)  lr %.2e  grad-norm %.3f  %.0f tokens/s\n",
			       step + 1, steps, loss, ema, lr, gn, (double)(step + 1) * B * T / dt);
			fflush(stdout);
		}
	}
	if (!rc) {
		char path[4200];
		if (pofa_mkdirs(out, &err) == 0) {
			snprintf(path, sizeof path, "%s/vocab.txt", out);
			if (pofa_synth_write_vocab(path, cfg.vocab_size, &err) == 0 &&
			    pofa_model_save(m, out, NULL, &err) == 0) {
				snprintf(path, sizeof path, "%s/optimizer.safetensors", out);
				pofa_optim_save(m, &opt, path, &err);
			}
		}
		if (err.msg[0])
			rc = cli_fail(&err);
		else
			printf("wrote %s/ (config.json, model.safetensors, vocab.txt, optimizer.safetensors)\n", out);
	}
	free(buf);
	pofa_synth_free(&s);
	pofa_model_free(m);
	return rc;
}
