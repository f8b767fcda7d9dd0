/* main.c - the pofa command: subcommand dispatch, --help, --version. */
#include "tui/cli.h"
#include "engine/kernels/cpu.h"
#include "engine/dist/dist.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"usage: pofa [--help] [--version] [COMMAND [ARGS]]\n"
	"\n"
	"pofa trains BERT-like encoders and makes them sparse with the Prune Once\n"
	"for All method: a C training engine, headless or in a terminal workbench.\n"
	"\n"
	"Without a command, pofa runs recipes/demo.ini.\n"
	"\n"
	"commands:\n"
	"  run [RECIPE] [--headless] [--out DIR] [--set SECTION.KEY=VALUE]...\n"
	"      [--theme NAME] [--no-color] [--no-mouse]\n"
	"  run --resume DIR [--allow-changed-recipe]\n"
	"      (under mpirun -np N: data-parallel, when built with Open MPI)\n"
	"                      run a recipe's stages (default recipes/demo.ini),\n"
	"                      leaving CSV logs, models, report.md and report.html\n"
	"                      in DIR (default runs/NAME); --resume continues a run.\n"
	"                      On a terminal: the workbench (? for its keys)\n"
	"  eval --model DIR [--split dev|test|train | --task TASK --data FILE]\n"
	"       [--predictions FILE]\n"
	"                      evaluate model directories on a task's split (the\n"
	"                      one evaluator eval stages use): metrics, mean loss,\n"
	"                      per class, speed; optional per-example CSV. A model\n"
	"                      pofa trained names its task (training.json)\n"
	"  recipe --keys [SECTION] | --check RECIPE [--set SECTION.KEY=VALUE]...\n"
	"                      every key a recipe takes (type, default, help), or\n"
	"                      a recipe checked without running it\n"
	"  report RUN_DIR      (re)write a run's report.md and report.html\n"
	"  predict --model DIR [FILE] [--csv] [--top K] [--seq N] [--batch N]\n"
	"          [--threads N] [--float] [--max-line BYTES]\n"
	"                      a model on text lines (a tab between a pair's texts):\n"
	"                      label and probability (--top K: the K likeliest),\n"
	"                      answer, or the top K [MASK] fillers,\n"
	"                      on the sparse/int8 forward-only path\n"
	"  export --onnx MODEL_DIR OUT.onnx [--fp32]\n"
	"                      a model directory as ONNX (a QAT model with\n"
	"                      QuantizeLinear/DequantizeLinear unless --fp32)\n"
	"  export --packed MODEL_DIR [OUT]\n"
	"                      the model as pofa predict runs it, in one file,\n"
	"                      model.packed.safetensors: a QAT model's int8 path\n"
	"                      (word embeddings in float16), any other model's\n"
	"                      float32 Linears by their nonzeros; it runs\n"
	"                      without model.safetensors and loads fast\n"
	"  train-demo [--out DIR] [--steps N] [--threads N] [--seed S]\n"
	"                      train the MLM head of bert-tiny on a synthetic token\n"
	"                      stream, print the loss, write a model directory\n"
	"  bench train [--preset P] [--batch B] [--seq T] [--steps N] [--vocab V]\n"
	"              [--threads N] [--locked --sparsity S [--pattern 1x4]]\n"
	"                      training throughput (tokens/s, GFLOP/s) against the\n"
	"                      OpenBLAS sgemm rate on the model's own shapes;\n"
	"                      --locked: a locked stage's step, sparse against\n"
	"                      dense masked\n"
	"  bench infer [--model DIR | --preset P --sparsity S\n"
	"              --pattern unstructured|1x4|2:4 [--int8] [--per-channel]]\n"
	"              [--batch B] [--seq T] [--threads N] [--runs N] [--profile]\n"
	"                      forward-pass latency and sequences/s of the dense,\n"
	"                      sparse float32 and sparse int8 models, speed-ups,\n"
	"                      memory; --sweep: each packed format's cost\n"
	"  bench tokenize --vocab FILE --corpus FILE\n"
	"                      tokenizer throughput (MB/s, one core)\n"
	"  data build [--out DIR] [--vocab-size N] [--max-entries N]\n"
	"                      build the GCIDE corpus, its WordPiece vocabulary and\n"
	"                      the WordNet tasks (wn-sense, wn-pair, wn-span)\n"
	"  vocab --corpus FILE [--size N] --out FILE\n"
	"                      learn a WordPiece vocabulary from a text file\n"
	"  tokenize --vocab FILE [--pair] [--pieces] [--cased|--uncased] [--max-len N]\n"
	"                      BERT-tokenize lines of stdin (pairs: tab-separated)\n"
	"  inspect [--tensors] MODEL_DIR\n"
	"                      shapes, parameter count and per-matrix sparsity of\n"
	"                      a model directory\n"
	"\n"
	"options:\n"
	"  -h, --help          show this help and exit\n"
	"  -V, --version       show the version and exit\n"
	"\n"
	"exit status: 0 success, 1 run failed, 2 usage or input error; a run\n"
	"stopped before its end: 3 (q), 128 + the signal (130: Ctrl-C).\n"
	"See pofa(1).\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "run", cmd_run },
	{ "eval", cmd_eval },
	{ "report", cmd_report },
	{ "recipe", cmd_recipe },
	{ "export", cmd_export },
	{ "predict", cmd_predict },
	{ "train-demo", cmd_train_demo },
	{ "bench", cmd_bench },
	{ "inspect", cmd_inspect },
	{ "data", cmd_data },
	{ "vocab", cmd_vocab },
	{ "tokenize", cmd_tokenize },
};

/* OpenBLAS picks its kernels when it loads, by a CPU table that may not
 * know this CPU (then it runs SSE3 kernels); where its choice is older than
 * what the CPU runs, start again with OPENBLAS_CORETYPE naming the right
 * one. A core type set by the user is kept. */
static void blas_core(char **argv)
{
	const char *want = getenv("OPENBLAS_CORETYPE") ? NULL : pofa_blas_core_wanted();
	if (!want || setenv("OPENBLAS_CORETYPE", want, 1))
		return;
	execv("/proc/self/exe", argv);
	unsetenv("OPENBLAS_CORETYPE"); /* no exec: go on with OpenBLAS's own choice */
}

int main(int argc, char **argv)
{
	/* a file past the size limit (ulimit -f): an error (EFBIG) that names
	 * the file and removes the temp file, not a death by SIGXFSZ */
	signal(SIGXFSZ, SIG_IGN);
	blas_core(argv);
	if (argc < 2) {
		/* pofa alone runs the demo recipe */
		char *args[] = { "run", NULL };
		return cmd_run(1, args);
	}
	const char *a = argv[1];
	if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
		printf("pofa %s%s\n", POFA_VERSION, pofa_dist_built() ? " (Open MPI: runs data-parallel under mpirun)" : "");
		return 0;
	}
	if (a[0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", a);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(a, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", a);
}

