/*
 * peers.c - pofa's products beside two libraries' on bert-base's Linear
 * shapes, in one run on one CPU: OpenBLAS's sgemm (pofa's dense product)
 * and oneDNN's matmul (a second dense peer), pofa's sparse kernel (the
 * format its cost model picks) and LIBXSMM's sparse-dense product
 * (libxsmm_spmdm), each on the same random matrix pruned unstructured, the
 * same inputs, the same threads. Prints the median of the repetitions per
 * shape and the whole encoder layer's sum, and checks that every product
 * agrees with sgemm's.
 *
 * With --pass: the whole dense forward pass of a preset (random weights, a
 * classification head, as pofa bench infer makes it), its Linears'
 * products by OpenBLAS (rows split over pofa's threads, and one call on
 * OpenBLAS's threads) and by oneDNN (pofa_infer_set_gemm), the three
 * taking turns; the logits of each are checked against the first.
 *
 *   build/bench/peers [--threads N] [--tokens N] [--reps N]
 *   build/bench/peers --pass [--preset P] [--batch B] [--seq T] [--threads N] [--reps N]
 *
 * Built by make bench (Debian: libdnnl-dev, libxsmm-dev).
 */
#include "engine/infer/infer.h"
#include "engine/infer/linear.h"
#include "engine/kernels/cpu.h"
#include "engine/kernels/pool.h"

#include <cblas.h>
#include <dnnl.h>
#include <libxsmm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int n);

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static unsigned long long rng = 88172645463325252ull;
static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* ---- the products: y (OC, N) = W (OC, C) x (C, N), channel-major ---------- */

typedef struct {
	int OC, C, N, nthreads;
	const float *w, *x;   /* W row-major (OC, C); x (C, N) */
	float *y;             /* (OC, N) */
	pofa_linear lin;
	const pofa_infer_kern *kern;
	libxsmm_spmdm_handle xh;
	libxsmm_CSR_sparseslice *xcsr;
	dnnl_engine_t eng;
	dnnl_stream_t stream;
	dnnl_primitive_t mm;
	dnnl_memory_t mw, mx, my;
} prob;

static void run_sgemm(prob *p)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->OC, p->N, p->C, 1.0f, p->w, p->C, p->x, p->N, 0.0f,
	            p->y, p->N);
}

static void sparse_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)i0, (void)i1;
	prob *p = arg;
	pofa_linear_rows(&p->lin, p->kern, p->y, p->x, NULL, p->N, p->N, p->lin.split[tid], p->lin.split[tid + 1],
	                 NULL);
}

static void xsmm_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)i0, (void)i1;
	prob *p = arg;
	float alpha = 1.0f, beta = 0.0f;
	int nb = libxsmm_spmdm_get_num_compute_blocks(&p->xh);
	for (int b = tid; b < nb; b += p->nthreads)
		libxsmm_spmdm_compute_fp32_thread(&p->xh, 'N', 'N', &alpha, p->xcsr, p->x, 'N', &beta, p->y, b, tid,
		                                  p->nthreads);
}

static void xsmm_slice_task(void *arg, int64_t i0, int64_t i1, int tid)
{
	(void)i0, (void)i1;
	prob *p = arg;
	int nb = libxsmm_spmdm_get_num_createSparseSlice_blocks(&p->xh);
	for (int b = tid; b < nb; b += p->nthreads)
		libxsmm_spmdm_createSparseSlice_fp32_thread(&p->xh, 'N', p->w, p->xcsr, b, tid, p->nthreads);
}

static int dnnl_setup(prob *p)
{
	dnnl_memory_desc_t dw, dx, dy;
	dnnl_dims_t sw = { p->OC, p->C }, sx = { p->C, p->N }, sy = { p->OC, p->N };
	if (dnnl_engine_create(&p->eng, dnnl_cpu, 0) || dnnl_stream_create(&p->stream, p->eng, dnnl_stream_default_flags) ||
	    dnnl_memory_desc_init_by_tag(&dw, 2, sw, dnnl_f32, dnnl_ab) ||
	    dnnl_memory_desc_init_by_tag(&dx, 2, sx, dnnl_f32, dnnl_ab) ||
	    dnnl_memory_desc_init_by_tag(&dy, 2, sy, dnnl_f32, dnnl_ab))
		return -1;
	dnnl_matmul_desc_t md;
	dnnl_primitive_desc_t pd;
	if (dnnl_matmul_desc_init(&md, &dw, &dx, NULL, &dy) ||
	    dnnl_primitive_desc_create(&pd, &md, NULL, p->eng, NULL) || dnnl_primitive_create(&p->mm, pd))
		return -1;
	dnnl_primitive_desc_destroy(pd);
	if (dnnl_memory_create(&p->mw, &dw, p->eng, (void *)p->w) || dnnl_memory_create(&p->mx, &dx, p->eng, (void *)p->x) ||
	    dnnl_memory_create(&p->my, &dy, p->eng, p->y))
		return -1;
	return 0;
}

static void run_dnnl(prob *p)
{
	dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, p->mw }, { DNNL_ARG_WEIGHTS, p->mx }, { DNNL_ARG_DST, p->my } };
	dnnl_primitive_execute(p->mm, p->stream, 3, args);
	dnnl_stream_wait(p->stream);
}

static void dnnl_free(prob *p)
{
	dnnl_primitive_destroy(p->mm);
	dnnl_memory_destroy(p->mw);
	dnnl_memory_destroy(p->mx);
	dnnl_memory_destroy(p->my);
	dnnl_stream_destroy(p->stream);
	dnnl_engine_destroy(p->eng);
}

enum { SGEMM, DNNL, POFA, XSMM, NWAYS };
static const char *const way_names[NWAYS] = { "OpenBLAS sgemm", "oneDNN matmul", "pofa sparse", "LIBXSMM spmdm" };

/* the median time of reps runs of way k (after two warm-up runs), and
 * its largest difference from ref */
static double time_way(prob *p, pofa_pool *pool, int k, int reps, const float *ref, double *diff)
{
	double *t = malloc((size_t)reps * sizeof *t), med;
	for (int r = -2; r < reps; r++) {
		double t0 = now();
		if (k == SGEMM)
			run_sgemm(p);
		else if (k == DNNL)
			run_dnnl(p);
		else if (k == POFA)
			pofa_pool_run(pool, p->nthreads, sparse_task, p);
		else
			pofa_pool_run(pool, p->nthreads, xsmm_task, p);
		if (r >= 0)
			t[r] = now() - t0;
	}
	qsort(t, (size_t)reps, sizeof *t, cmp_d);
	med = t[reps / 2];
	free(t);
	*diff = 0.0;
	for (size_t i = 0; ref && i < (size_t)p->OC * p->N; i++)
		*diff = fmax(*diff, fabs((double)p->y[i] - ref[i]));
	return med;
}

/* ---- the whole pass: oneDNN's matmul as a dense Linear's product -------- */

enum { NCACHE = 16 };
typedef struct {
	dnnl_engine_t eng;
	dnnl_stream_t stream;
	int n;
	struct mm_entry {
		int M, N, K, ld;
		dnnl_primitive_t mm;
		dnnl_memory_t mw, mx, my;
	} e[NCACHE];
	int failed;
} mm_cache;

/* a primitive a shape, made on first use and kept */
static struct mm_entry *dnnl_entry(mm_cache *g, int M, int N, int K, int ld)
{
	for (int i = 0; i < g->n; i++)
		if (g->e[i].M == M && g->e[i].N == N && g->e[i].K == K && g->e[i].ld == ld)
			return &g->e[i];
	if (g->n == NCACHE)
		return NULL;
	struct mm_entry *e = &g->e[g->n];
	dnnl_memory_desc_t dw, dx, dy;
	dnnl_dims_t sw = { M, K }, sx = { K, N }, sy = { M, N };
	dnnl_dims_t tw = { K, 1 }, tx = { ld, 1 }, ty = { ld, 1 };
	dnnl_matmul_desc_t md;
	dnnl_primitive_desc_t pd;
	if (dnnl_memory_desc_init_by_strides(&dw, 2, sw, dnnl_f32, tw) ||
	    dnnl_memory_desc_init_by_strides(&dx, 2, sx, dnnl_f32, tx) ||
	    dnnl_memory_desc_init_by_strides(&dy, 2, sy, dnnl_f32, ty) || dnnl_matmul_desc_init(&md, &dw, &dx, NULL, &dy) ||
	    dnnl_primitive_desc_create(&pd, &md, NULL, g->eng, NULL))
		return NULL;
	int bad = dnnl_primitive_create(&e->mm, pd) != dnnl_success;
	dnnl_primitive_desc_destroy(pd);
	if (bad || dnnl_memory_create(&e->mw, &dw, g->eng, DNNL_MEMORY_NONE) ||
	    dnnl_memory_create(&e->mx, &dx, g->eng, DNNL_MEMORY_NONE) ||
	    dnnl_memory_create(&e->my, &dy, g->eng, DNNL_MEMORY_NONE))
		return NULL;
	e->M = M, e->N = N, e->K = K, e->ld = ld;
	g->n++;
	return e;
}

static void dnnl_gemm_run(void *ctx, int M, int N, int K, const float *w, const float *x, int ld, float *y)
{
	mm_cache *g = ctx;
	struct mm_entry *e = dnnl_entry(g, M, N, K, ld);
	if (!e) {
		g->failed = 1;
		return;
	}
	dnnl_memory_set_data_handle(e->mw, (void *)w);
	dnnl_memory_set_data_handle(e->mx, (void *)x);
	dnnl_memory_set_data_handle(e->my, y);
	dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, e->mw }, { DNNL_ARG_WEIGHTS, e->mx }, { DNNL_ARG_DST, e->my } };
	if (dnnl_primitive_execute(e->mm, g->stream, 3, args) || dnnl_stream_wait(g->stream))
		g->failed = 1;
}

static void dnnl_gemm_free(mm_cache *g)
{
	for (int i = 0; i < g->n; i++) {
		dnnl_primitive_destroy(g->e[i].mm);
		dnnl_memory_destroy(g->e[i].mw);
		dnnl_memory_destroy(g->e[i].mx);
		dnnl_memory_destroy(g->e[i].my);
	}
	dnnl_stream_destroy(g->stream);
	dnnl_engine_destroy(g->eng);
}

enum { P_SPLIT, P_BLAS, P_DNNL, NPASS };
static const char *const pass_names[NPASS] = { "OpenBLAS, rows split", "OpenBLAS threads", "oneDNN" };

static void pass_way(pofa_infer *inf, mm_cache *g, int k)
{
	pofa_infer_blas_threads(inf, k == P_BLAS);
	pofa_infer_set_gemm(inf, k == P_DNNL ? dnnl_gemm_run : NULL, g);
}

static int run_pass(const char *preset, int B, int T, int nthreads, int reps)
{
	pofa_err err = { 0 };
	pofa_config cfg;
	if (pofa_config_preset(&cfg, preset, &err))
		return fprintf(stderr, "peers: %s\n", err.msg), 2;
	cfg.vocab_size = 30522; /* pofa bench infer's default */
	cfg.num_labels = 2;
	pofa_model *m = pofa_model_new_for(&cfg, POFA_HEAD_CLS, POFA_MODEL_INFER, B, T, nthreads, &err);
	if (!m)
		return fprintf(stderr, "peers: %s\n", err.msg), 1;
	pofa_model_init(m, 1);
	pofa_infer_opts io = { .maxB = B, .maxT = T, .threads = nthreads, .int8 = POFA_INT8_OFF,
	                       .force_fmt = POFA_LIN_DENSE, .cpu = -1 };
	pofa_infer *inf = pofa_infer_from_model(m, NULL, &io, &err);
	pofa_model_free(m);
	if (!inf)
		return fprintf(stderr, "peers: %s\n", err.msg), 1;
	int *ids = malloc((size_t)B * T * sizeof *ids), *mask = malloc((size_t)B * T * sizeof *mask);
	for (int i = 0; i < B * T; i++) {
		ids[i] = 5 + (int)((2654435761u * (unsigned)i + 7u) % (unsigned)(cfg.vocab_size - 5));
		mask[i] = 1;
	}
	pofa_batch b = { .B = B, .T = T, .input_ids = ids, .attention_mask = mask };
	mm_cache g = { 0 };
	if (dnnl_engine_create(&g.eng, dnnl_cpu, 0) || dnnl_stream_create(&g.stream, g.eng, dnnl_stream_default_flags))
		return fprintf(stderr, "peers: oneDNN has no CPU engine\n"), 1;
	int rows, cols, bad = 0;
	float *ref = NULL;
	double *t[NPASS];
	for (int k = 0; k < NPASS; k++) {
		t[k] = malloc((size_t)reps * sizeof *t[k]);
		pass_way(inf, &g, k);
		if (pofa_infer_forward(inf, &b, &err) || g.failed)
			return fprintf(stderr, "peers: %s: %s\n", pass_names[k], g.failed ? "oneDNN failed" : err.msg), 1;
		const float *lg = pofa_infer_logits(inf, &rows, &cols);
		if (!ref) {
			ref = malloc((size_t)rows * cols * sizeof *ref);
			memcpy(ref, lg, (size_t)rows * cols * sizeof *ref);
		}
		double d = 0.0;
		for (int i = 0; i < rows * cols; i++)
			d = fmax(d, fabs((double)lg[i] - ref[i]));
		if (!(d <= 1e-3)) {
			fprintf(stderr, "peers: the pass with %s: logits differ from the first by %.3g\n", pass_names[k], d);
			bad = 1;
		}
	}
	/* the three take turns, a warm-up pass then three timed each round */
	for (int r = 0; r < reps; r += 3)
		for (int k = 0; k < NPASS; k++) {
			pass_way(inf, &g, k);
			pofa_infer_forward(inf, &b, &err);
			for (int i = r; i < r + 3 && i < reps; i++) {
				double t0 = now();
				pofa_infer_forward(inf, &b, &err);
				t[k][i] = now() - t0;
			}
		}
	printf("== the dense forward pass of %s, batch %d x %d, %d threads, median of %d (range)\n", preset, B, T,
	       nthreads, reps);
	double med[NPASS];
	for (int k = 0; k < NPASS; k++) {
		qsort(t[k], (size_t)reps, sizeof *t[k], cmp_d);
		med[k] = t[k][reps / 2];
		printf("  %-22s %9.2f ms  (%.2f-%.2f)\n", pass_names[k], 1e3 * med[k], 1e3 * t[k][0], 1e3 * t[k][reps - 1]);
		free(t[k]);
	}
	double blas = fmin(med[P_SPLIT], med[P_BLAS]);
	printf("  oneDNN's pass over OpenBLAS's faster: %.2fx\n", blas / med[P_DNNL]);
	printf("RESULT preset=%s batch=%d split_ms=%.3f blas_ms=%.3f onednn_ms=%.3f\n", preset, B, 1e3 * med[P_SPLIT],
	       1e3 * med[P_BLAS], 1e3 * med[P_DNNL]);
	pofa_infer_free(inf);
	dnnl_gemm_free(&g);
	free(ref), free(ids), free(mask);
	return bad;
}

int main(int argc, char **argv)
{
	int nthreads = 2, N = 128, reps = 30, pass = 0, B = 1, T = 128;
	const char *preset = "bert-base";
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--pass")) {
			pass = 1;
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
			argc--;
			break;
		}
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--preset"))
			preset = argv[i + 1];
		else if (!strcmp(argv[i], "--batch"))
			B = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seq"))
			T = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--threads"))
			nthreads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--tokens"))
			N = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
	}
	if (nthreads < 1 || N < 16 || N % 16 || reps < 3 || B < 1 || T < 1) {
		fprintf(stderr, "usage: peers [--threads N] [--tokens N (a multiple of 16)] [--reps N (>= 3)]\n"
		                "       peers --pass [--preset P] [--batch B] [--seq T] [--threads N] [--reps N (>= 3)]\n");
		return 2;
	}
	if (pass) {
		openblas_set_num_threads(1);
		return run_pass(preset, B, T, nthreads, reps);
	}
	openblas_set_num_threads(nthreads);
	libxsmm_init();
	pofa_pool *pool = pofa_pool_new(nthreads);
	const pofa_infer_kern *kern = pofa_infer_kern_for(pofa_cpu_path());
	static const struct { const char *name; int OC, C; } shapes[] = {
		{ "qkv 2304x768", 2304, 768 }, { "attn-out 768x768", 768, 768 },
		{ "ffn-in 3072x768", 3072, 768 }, { "ffn-out 768x3072", 768, 3072 },
	};
	static const double sparsities[] = { 0.90, 0.97 };
	printf("== Linear products, bert-base shapes, %d tokens, %d threads, median of %d (pofa path %s)\n", N, nthreads,
	       reps, pofa_cpu_path_names[kern->path]);
	int bad = 0;
	for (size_t si = 0; si < sizeof sparsities / sizeof *sparsities; si++) {
		double sum[NWAYS] = { 0 };
		printf("  %-18s %9s %9s %9s %9s   %s\n", "", "sgemm", "oneDNN", "pofa", "LIBXSMM", "(ms; sparse at "
		       "the sparsity below)");
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			prob p = { .OC = shapes[s].OC, .C = shapes[s].C, .N = N, .nthreads = nthreads, .kern = kern };
			/* 64-byte aligned, as pofa's own buffers are */
			float *w = aligned_alloc(64, (size_t)p.OC * p.C * sizeof *w), *x = aligned_alloc(64, (size_t)p.C * N * sizeof *x);
			float *y = aligned_alloc(64, (size_t)p.OC * N * sizeof *y), *ref = malloc((size_t)p.OC * N * sizeof *ref);
			for (size_t i = 0; i < (size_t)p.OC * p.C; i++) {
				float v = frand();
				w[i] = (v + 1.0f) * 0.5f < sparsities[si] ? 0.0f : v;
			}
			for (size_t i = 0; i < (size_t)p.C * N; i++)
				x[i] = frand();
			p.w = w, p.x = x, p.y = y;
			run_sgemm(&p);
			memcpy(ref, y, (size_t)p.OC * N * sizeof *ref);
			if (pofa_linear_pack(&p.lin, w, NULL, p.OC, p.C, 0, kern, nthreads, -1) || dnnl_setup(&p)) {
				fprintf(stderr, "peers: setup failed\n");
				return 1;
			}
			libxsmm_spmdm_init(p.OC, N, p.C, nthreads, &p.xh, &p.xcsr);
			pofa_pool_run(pool, nthreads, xsmm_slice_task, &p);
			double t[NWAYS], d[NWAYS];
			for (int k = 0; k < NWAYS; k++) {
				memset(y, 0, (size_t)p.OC * N * sizeof *y);
				t[k] = time_way(&p, pool, k, reps, ref, &d[k]);
				sum[k] += t[k];
				if (!(d[k] <= 1e-3 * sqrt((double)p.C))) {
					fprintf(stderr, "peers: %s on %s differs from sgemm by %.3g\n", way_names[k], shapes[s].name,
					        d[k]);
					bad = 1;
				}
			}
			printf("  %-18s %9.3f %9.3f %9.3f %9.3f   pofa as %s\n", shapes[s].name, 1e3 * t[SGEMM], 1e3 * t[DNNL],
			       1e3 * t[POFA], 1e3 * t[XSMM], pofa_linear_fmt_names[p.lin.fmt]);
			libxsmm_spmdm_destroy(&p.xh);
			pofa_linear_free(&p.lin);
			dnnl_free(&p);
			free(w), free(x), free(y), free(ref);
		}
		double dense = fmin(sum[SGEMM], sum[DNNL]);
		printf("  %-18s %9.3f %9.3f %9.3f %9.3f   at %.0f%%: faster dense %s; pofa %.2fx, LIBXSMM %.2fx over it\n",
		       "one layer", 1e3 * sum[SGEMM], 1e3 * sum[DNNL], 1e3 * sum[POFA], 1e3 * sum[XSMM],
		       100 * sparsities[si], sum[DNNL] < sum[SGEMM] ? "oneDNN" : "OpenBLAS", dense / sum[POFA],
		       dense / sum[XSMM]);
		printf("RESULT sparsity=%.2f tokens=%d sgemm_ms=%.3f onednn_ms=%.3f pofa_ms=%.3f libxsmm_ms=%.3f "
		       "pofa_over_dense=%.2f libxsmm_over_dense=%.2f\n", sparsities[si], N, 1e3 * sum[SGEMM],
		       1e3 * sum[DNNL], 1e3 * sum[POFA], 1e3 * sum[XSMM], dense / sum[POFA], dense / sum[XSMM]);
	}
	pofa_pool_free(pool);
	libxsmm_finalize();
	return bad;
}
