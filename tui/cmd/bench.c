/* cmd_bench.c - pofa bench train: training throughput against the OpenBLAS
 * sgemm rate measured, in the same run, on the model's own matrix shapes. */
#include "tui/cli.h"
#include "engine/kernels/cpu.h"
#include "data/build/synth.h"
#include "data/text/tokenizer.h"
#include "engine/sparse/sparse.h"

#include <cblas.h>
#undef I /* from complex.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>

static const char bench_usage[] =
	"usage: pofa bench train [--preset P] [--batch B] [--seq T] [--steps N]\n"
	"                        [--rounds R] [--vocab V] [--threads N]\n"
	"                        [--locked --sparsity S [--pattern 1x4]]\n"
	"       pofa bench tokenize --vocab FILE --corpus FILE\n"
	"       pofa bench infer ... (pofa bench infer --help)\n";

/* Tokenizer throughput on one core: the corpus tokenized line by line, as
 * the MLM loader does, best of three passes. */
static int bench_tokenize(int argc, char **argv)
{
	const char *vocab = NULL, *corpus = NULL, *v;
	for (int i = 2; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--vocab")))
			vocab = v;
		else if ((v = cli_opt(argc, argv, &i, "--corpus")))
			corpus = v;
		else
			return cli_usage_error("bench", "unknown option '%s'", argv[i]);
	}
	if (!vocab || !corpus)
		return cli_usage_error("bench", "bench tokenize needs --vocab FILE and --corpus FILE");
	pofa_err err = { 0 };
	pofa_tokenizer *tk = pofa_tokenizer_load(vocab, POFA_CASE_AUTO, &err);
	if (!tk)
		return cli_fail(&err);
	FILE *f = fopen(corpus, "rb");
	if (!f) {
		pofa_tokenizer_free(tk);
		return cli_usage_error("bench", "%s: cannot open", corpus);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(text);
		pofa_tokenizer_free(tk);
		return cli_usage_error("bench", "%s: read error", corpus);
	}
	fclose(f);
	pofa_piece *p = NULL;
	int cap = 0;
	double best = 1e30;
	long pieces = 0;
	pofa_tok_stats st = { 0 };
	for (int pass = 0; pass < 3; pass++) {
		double t0 = cli_now();
		pieces = 0;
		for (long i = 0; i < n;) {
			long j = i;
			while (j < n && text[j] != '\n')
				j++;
			int k = pofa_tokenize(tk, text + i, j - i, &p, &cap, pass ? NULL : &st);
			pieces += k > 0 ? k : 0;
			i = j + 1;
		}
		double dt = cli_now() - t0;
		if (dt < best)
			best = dt;
	}
	double mbs = n / best / 1e6;
	printf("pofa bench tokenize: %s (%.1f MB), vocabulary %s (%d tokens, %s)\n", corpus, n / 1e6,
	       vocab, pofa_vocab_size(tk), pofa_tokenizer_lowercase(tk) ? "uncased" : "cased");
	printf("  %ld words, %ld pieces, %ld [UNK] words, %ld invalid UTF-8 bytes\n", st.words, pieces,
	       st.unknown, st.invalid_utf8);
	printf("  throughput          %10.1f MB/s on one core   (target >= 10)\n", mbs);
	printf("RESULT tokenize_mb_s=%.2f\n", mbs);
	free(p);
	free(text);
	pofa_tokenizer_free(tk);
	return 0;
}

/* one GEMM shape of a training step: C (M,N) = op(A) op(B), K inner */
typedef struct {
	int ta, tb, M, N, K;
	double calls;   /* per step */
	const char *what;
} shape;

static int step_shapes(const pofa_config *c, int B, int T, int Mm, shape *s)
{
	int n = 0, N = B * T, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
	int NH = c->num_attention_heads, hs = C / NH, L = c->num_hidden_layers;
	/* linear y = x W^T: forward (N,OC,C), dx = dy W (N,C,OC), dW = dy^T x (OC,C,N) */
#define LIN(rows, in, out, cnt, name)                                               \
	do {                                                                        \
		s[n++] = (shape){ 0, 1, rows, out, in, cnt, name " fwd" };          \
		s[n++] = (shape){ 0, 0, rows, in, out, cnt, name " dx" };           \
		s[n++] = (shape){ 1, 0, out, in, rows, cnt, name " dW" };           \
	} while (0)
	LIN(N, C, 3 * C, L, "qkv");
	LIN(N, C, C, L, "attn-out");
	LIN(N, C, I, L, "ffn-in");
	LIN(N, I, C, L, "ffn-out");
	LIN(Mm, C, C, 1, "mlm-transform");
	LIN(Mm, C, V, 1, "mlm-decoder");
#undef LIN
	double heads = (double)L * B * NH;
	s[n++] = (shape){ 0, 1, T, T, hs, heads, "att QK^T" };
	s[n++] = (shape){ 0, 0, T, hs, T, heads, "att PV" };
	s[n++] = (shape){ 1, 0, T, hs, T, heads, "att dV" };
	s[n++] = (shape){ 0, 1, T, T, hs, heads, "att dP" };
	s[n++] = (shape){ 0, 0, T, hs, T, heads, "att dQ" };
	s[n++] = (shape){ 1, 0, T, hs, T, heads, "att dK" };
	return n;
}

typedef struct {
	const shape *s;
	float *a, *b, *c;
	int reps, rows0, rows1;
	double seconds;
} gemm_job;

static double shape_flops(const shape *s) { return 2.0 * s->M * s->N * s->K * s->calls; }

static void run_gemm(const shape *s, const float *a, const float *b, float *c, int rows)
{
	int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
	cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
	            rows, s->N, s->K, 1.0f, a, lda, b, ldb, 0.0f, c, s->N);
}

static void *gemm_thread(void *arg)
{
	gemm_job *j = arg;
	const shape *s = j->s;
	int lda = s->ta ? s->M : s->K;
	/* this thread's rows of C: with A transposed the rows are A's columns */
	const float *a = j->a + (s->ta ? (size_t)j->rows0 : (size_t)j->rows0 * lda);
	for (int r = 0; r < j->reps; r++)
		run_gemm(s, a, j->b, j->c + (size_t)j->rows0 * s->N, j->rows1 - j->rows0);
	return NULL;
}

/* Best sgemm rate for a shape: OpenBLAS threading one call, or the rows
 * split over nthreads single-threaded calls; the better of the two. */
static double best_rate(const shape *s, int nthreads)
{
	size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
	float *a = malloc(na * 4), *b = malloc(nb * 4), *c = calloc(nc, 4);
	for (size_t i = 0; i < na; i++) a[i] = (float)((i * 7) % 13) * 0.01f;
	for (size_t i = 0; i < nb; i++) b[i] = (float)((i * 5) % 11) * 0.01f;
	double flops = 2.0 * s->M * s->N * s->K;
	int reps = (int)(2e9 / flops) + 1;
	if (reps > 2000) reps = 2000;
	double best = 0.0;
	for (int mode = 0; mode < 2; mode++) {
		for (int trial = 0; trial < 3; trial++) {
			double t0 = cli_now();
			if (mode == 0) {
				openblas_set_num_threads(nthreads);
				for (int r = 0; r < reps; r++)
					run_gemm(s, a, b, c, s->M);
				openblas_set_num_threads(1);
			} else {
				pthread_t th[64];
				gemm_job jobs[64];
				for (int t = 0; t < nthreads; t++) {
					jobs[t] = (gemm_job){ s, a, b, c, reps, (int)((long)s->M * t / nthreads),
					                      (int)((long)s->M * (t + 1) / nthreads), 0 };
					if (t)
						pthread_create(&th[t], NULL, gemm_thread, &jobs[t]);
				}
				gemm_thread(&jobs[0]);
				for (int t = 1; t < nthreads; t++)
					pthread_join(th[t], NULL);
			}
			double dt = cli_now() - t0, rate = flops * reps / dt;
			if (rate > best)
				best = rate;
		}
	}
	free(a);
	free(b);
	free(c);
	return best;
}

/* the prunable weights pruned at random to sparsity s: single weights, or
 * 1x4 blocks along a row */
static void prune_random(pofa_model *m, double s, int blocks)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(m, &t);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < nt; i++) {
		int w = blocks ? 4 : 1;
		for (int64_t j = 0; t[i].prunable && !t[i].absent && j < t[i].numel; j += w) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if ((double)(x >> 11) / 9007199254740992.0 < s)
				for (int k = 0; k < w && j + k < t[i].numel; k++)
					t[i].data[j + k] = 0.0f;
		}
	}
}

/* a locked stage's step, dense masked against sparse: the same model and
 * batch, the two taking turns round by round */
static int bench_locked(pofa_model *m, pofa_batch *b, double sparsity, int blocks, long steps, long rounds,
                        const char *preset, long B, long T)
{
	pofa_err err = { 0 };
	prune_random(m, sparsity, blocks);
	pofa_masks mk;
	if (pofa_masks_init(&mk, m, &err))
		return cli_fail(&err);
	pofa_masks_lock(&mk);
	pofa_optim opt = pofa_optim_default();
	printf("pofa bench train --locked: %s, batch %ldx%ld, %.0f%% %s, %d threads; cpu %s, path %s\n", preset, B, T,
	       100.0 * pofa_model_sparsity(m), blocks ? "in 1x4 blocks" : "unstructured", pofa_model_threads(m),
	       pofa_cpu_name(), pofa_cpu_path_names[pofa_cpu_path()]);
	double t_d[20], t_s[20], ratio[20];
	int nsp = 0, total = 0;
	for (long r = 0; r < rounds; r++) {
		for (int sparse = 0; sparse < 2; sparse++) {
			/* sparse: the products through the nonzeros and the
			 * optimizer over the kept weights, as a locked stage runs */
			if (pofa_model_sparse_train(m, sparse, &err) || pofa_masks_keep(&mk, sparse, &err)) {
				pofa_masks_free(&mk);
				return cli_fail(&err);
			}
			if (sparse)
				nsp = pofa_model_sparse_count(m, &total);
			double t0 = 0.0;
			for (long step = 0; step < steps + 1; step++) {
				if (step == 1)
					t0 = cli_now();
				pofa_model_zero_grad(m);
				pofa_model_step_loss(m, b, 1);
				pofa_model_backward(m, b);
				pofa_masks_grads(&mk);
				pofa_model_clip_grad(m, 1.0f);
				pofa_model_adamw(m, &opt, 1e-5f);
				pofa_masks_apply(&mk);
			}
			(sparse ? t_s : t_d)[r] = (cli_now() - t0) / steps;
		}
		ratio[r] = t_d[r] / t_s[r];
		printf("  round %-2ld  dense masked %8.1f ms  sparse %8.1f ms  speed-up %.2fx\n", r + 1, 1e3 * t_d[r],
		       1e3 * t_s[r], ratio[r]);
		fflush(stdout);
	}
	pofa_model_sparse_train(m, 0, &err);
	pofa_masks_keep(&mk, 0, &err);
	pofa_masks_free(&mk);
	double d = cli_median(t_d, (int)rounds), sp = cli_median(t_s, (int)rounds), q = cli_median(ratio, (int)rounds);
	printf("  %d of %d Linears trained sparse (the others' cost model keeps them dense)\n", nsp, total);
	printf("RESULT dense_step_ms=%.1f sparse_step_ms=%.1f speedup=%.2f speedup_min=%.2f speedup_max=%.2f "
	       "sparse_linears=%d cpu=%s\n", 1e3 * d, 1e3 * sp, q, ratio[0], ratio[rounds - 1], nsp, pofa_cpu_name());
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "tokenize"))
		return bench_tokenize(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "infer"))
		return cmd_bench_infer(argc, argv);
	if (argc < 2 || strcmp(argv[1], "train") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			fputs(bench_usage, stdout);
			return 0;
		}
		return cli_usage_error("bench", "unknown benchmark '%s' (known: train, infer, tokenize)",
		                       argc >= 2 ? argv[1] : "");
	}
	const char *preset = "bert-mini", *v;
	long B = 32, T = 128, steps = 10, rounds = 3, vocab = 8192, threads = cli_default_threads();
	int locked = 0, blocks = 0;
	double sparsity = -1.0;
	for (int i = 2; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--preset"))) {
			preset = v;
		} else if (!strcmp(argv[i], "--locked")) {
			locked = 1;
		} else if ((v = cli_opt(argc, argv, &i, "--sparsity"))) {
			char *end;
			sparsity = strtod(v, &end);
			if (*end || !(sparsity >= 0.0 && sparsity < 1.0))
				return cli_usage_error("bench", "--sparsity %s: a number in [0, 1)", v);
		} else if ((v = cli_opt(argc, argv, &i, "--pattern"))) {
			if (strcmp(v, "1x4") && strcmp(v, "unstructured"))
				return cli_usage_error("bench", "--pattern %s: unstructured or 1x4", v);
			blocks = !strcmp(v, "1x4");
		} else if ((v = cli_opt(argc, argv, &i, "--batch"))) {
			if (cli_int("bench", "--batch", v, 1, 4096, &B)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--seq"))) {
			if (cli_int("bench", "--seq", v, 8, 512, &T)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--steps"))) {
			if (cli_int("bench", "--steps", v, 1, 100000, &steps)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--rounds"))) {
			if (cli_int("bench", "--rounds", v, 1, 20, &rounds)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--vocab"))) {
			if (cli_int("bench", "--vocab", v, 64, 1 << 20, &vocab)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--threads"))) {
			if (cli_int("bench", "--threads", v, 1, 64, &threads)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(bench_usage, stdout);
			return 0;
		} else {
			return cli_usage_error("bench", "unknown option '%s'", argv[i]);
		}
	}
	if (locked != (sparsity >= 0.0))
		return cli_usage_error("bench", "--locked and --sparsity S go together (a locked stage's step at sparsity S)");
	if (rounds > 20)
		rounds = 20;
	pofa_err err = { 0 };
	pofa_config cfg;
	if (pofa_config_preset(&cfg, preset, &err))
		return cli_usage_error("bench", "%s", err.msg);
	cfg.vocab_size = (int)vocab;
	pofa_model *m = pofa_model_new(&cfg, POFA_HEAD_MLM, (int)B, (int)T, (int)threads, &err);
	if (!m)
		return cli_fail(&err);
	pofa_model_init(m, 1);
	pofa_synth s;
	pofa_synth_init(&s, cfg.vocab_size, 1);
	size_t BT = (size_t)B * T;
	int *buf = malloc(4 * sizeof(int) * BT);
	int *ids = buf, *types = buf + BT, *mask = buf + 2 * BT, *labels = buf + 3 * BT;
	pofa_batch b = { .B = (int)B, .T = (int)T, .input_ids = ids, .token_type_ids = types,
	                 .attention_mask = mask, .mlm_labels = labels };
	pofa_optim opt = pofa_optim_default();
	/* full-length sequences, so every step does the same work */
	pofa_synth_batch(&s, (int)B, (int)T, 0, ids, types, mask, labels);
	int masked = 0;
	for (size_t i = 0; i < BT; i++)
		masked += labels[i] != POFA_IGNORE;
	if (locked) {
		int rc = bench_locked(m, &b, sparsity, blocks, steps, rounds, preset, B, T);
		free(buf);
		pofa_synth_free(&s);
		pofa_model_free(m);
		return rc;
	}

	shape sh[64];
	int ns = step_shapes(&cfg, (int)B, (int)T, masked, sh);
	double flops = 0.0;
	for (int i = 0; i < ns; i++)
		flops += shape_flops(&sh[i]);
	printf("pofa bench train: %s (L%d H%d A%d I%d), vocab %d, batch %ldx%ld, MLM on %d tokens "
	       "(%.1f%%), AdamW, %d threads, %ld rounds of %ld steps\n",
	       preset, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
	       cfg.intermediate_size, cfg.vocab_size, B, T, masked, 100.0 * masked / BT,
	       pofa_model_threads(m), rounds, steps);
	/* what the step's element-wise loops were compiled for: make bench's
	 * AVX2-only build has AVX2 throughout and no AVX-512 clones */
#if defined(__AVX2__) && !defined(__AVX512F__)
	const char *built = "x86-64-v3 only";
#else
	const char *built = "clones for the CPU";
#endif
	printf("  cpu: %s, path %s, build %s, OpenBLAS core %s\n", pofa_cpu_name(),
	       pofa_cpu_path_names[pofa_cpu_path()], built, pofa_blas_core());
	printf("  each round: the steps (after one untimed), then OpenBLAS sgemm alone on the step's %d shapes\n",
	       ns);
	fflush(stdout);
	/* the steps and the reference take turns, so that the machine's drift
	 * (other tenants, clock) falls on both; a round's ratio compares the
	 * two measured back to back */
	double step_s[20], ref_s[20], ratio[20];
	for (long r = 0; r < rounds; r++) {
		int warm = r == 0 ? 2 : 1;
		double t0 = 0.0;
		for (long step = 0; step < steps + warm; step++) {
			if (step == warm)
				t0 = cli_now();
			pofa_model_zero_grad(m);
			pofa_model_step_loss(m, &b, 1);
			pofa_model_backward(m, &b);
			pofa_model_clip_grad(m, 1.0f);
			pofa_model_adamw(m, &opt, 1e-4f);
		}
		step_s[r] = (cli_now() - t0) / steps;
		ref_s[r] = 0.0;
		for (int i = 0; i < ns; i++)
			ref_s[r] += shape_flops(&sh[i]) / best_rate(&sh[i], (int)threads);
		ratio[r] = ref_s[r] / step_s[r];
		printf("  round %-2ld  step %8.1f ms  pofa %6.1f GFLOP/s  sgemm %6.1f GFLOP/s  ratio %.3f\n", r + 1,
		       step_s[r] * 1e3, flops / step_s[r] / 1e9, flops / ref_s[r] / 1e9, ratio[r]);
		fflush(stdout);
	}
	/* each array sorted in place: ratio[0] and ratio[rounds - 1] are its range */
	double dt = cli_median(step_s, (int)rounds), ref_time = cli_median(ref_s, (int)rounds);
	double rmed = cli_median(ratio, (int)rounds), rmin = ratio[0], rmax = ratio[rounds - 1];
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double ours = flops / dt / 1e9, ref = flops / ref_time / 1e9;
	printf("  step time           %10.1f ms   (median of the rounds)\n", dt * 1e3);
	printf("  tokens/s            %10.0f\n", BT / dt);
	printf("  pofa GFLOP/s        %10.1f   (matrix products counted analytically: %.1f GFLOP/step)\n",
	       ours, flops / 1e9);
	printf("  sgemm GFLOP/s       %10.1f   (OpenBLAS alone on the same shapes, median of the rounds)\n", ref);
	printf("  ratio pofa/sgemm    %10.3f   (median of the rounds' ratios, %.3f to %.3f; target >= 0.80)\n",
	       rmed, rmin, rmax);
	printf("  peak RSS            %10.1f MiB\n", ru.ru_maxrss / 1024.0);
	/* what data-parallel training sums each step (make bench's cost model) */
	printf("  parameters          %10zu   (%.1f MB of float32 gradients a step)\n", pofa_model_num_params(m),
	       4.0 * (double)pofa_model_num_params(m) / 1e6);
	printf("RESULT tokens_per_s=%.1f gflops=%.2f sgemm_gflops=%.2f ratio=%.4f ratio_min=%.4f ratio_max=%.4f "
	       "rss_mib=%.1f step_s=%.4f params=%zu\n",
	       BT / dt, ours, ref, rmed, rmin, rmax, ru.ru_maxrss / 1024.0, dt, pofa_model_num_params(m));
	free(buf);
	pofa_synth_free(&s);
	pofa_model_free(m);
	return 0;
}
