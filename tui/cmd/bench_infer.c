/*
 * bench_infer.c - pofa bench infer: the forward-only path's latency and
 * throughput, dense (OpenBLAS) against sparse float32 and sparse int8, all
 * measured in the same run on this CPU; and --sweep, the cost of each
 * packed format against the dense product, from which pack.c's format
 * costs and break-even sparsities come.
 */
#include "tui/cli.h"
#include "engine/infer/infer.h"
#include "engine/kernels/pool.h"
#include "engine/sparse/sparse.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char infer_usage[] =
	"usage: pofa bench infer --model DIR [--batch B] [--seq T] [--threads N] [--runs N]\n"
	"                        [--profile]\n"
	"       pofa bench infer [--preset P] [--sparsity S] [--pattern unstructured|1x4|2:4]\n"
	"                        [--int8] [--per-channel] [--vocab V] [--batch B] [--seq T]\n"
	"                        [--threads N] [--runs N] [--profile]\n"
	"       pofa bench infer --sweep [--preset P] [--batch B] [--seq T] [--threads N]\n";

typedef struct {
	const char *model, *preset, *pattern;
	double sparsity;
	int int8, per_channel, sweep, profile;
	long vocab, B, T, threads, runs;
} bench_opts;

static double rss_mib(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

typedef struct {
	double median, p90;
	int runs;
} timing;

/* latencies of forward passes, the variants taking turns in blocks (a
 * pass untimed, then five timed, so that each block runs on its own warm
 * caches, as a model serving requests does, and a machine's drift falls on
 * all alike): `runs` passes a variant (0: at least 10, and up to 2 s a
 * variant; at most 500) */
static int time_rounds(pofa_infer **inf, int nv, const pofa_batch *b, long runs, timing *t, pofa_err *err)
{
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < nv; k++)
			if (inf[k] && pofa_infer_forward(inf[k], b, err))
				return err->status;
	int cap = runs > 0 ? (int)runs : 500;
	double *lat = malloc((size_t)cap * nv * sizeof *lat), start = cli_now();
	if (!lat)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	int n = 0;
	while (n < cap) {
		int blk = cap - n < 5 ? cap - n : 5;
		for (int k = 0; k < nv; k++) {
			if (!inf[k])
				continue;
			for (int r = -1; r < blk; r++) {
				double t0 = cli_now();
				if (pofa_infer_forward(inf[k], b, err)) {
					free(lat);
					return err->status;
				}
				if (r >= 0)
					lat[(size_t)k * cap + n + r] = cli_now() - t0;
			}
		}
		n += blk;
		if (runs <= 0 && n >= 10 && cli_now() - start > 2.0 * nv)
			break;
	}
	for (int k = 0; k < nv; k++) {
		double *l = lat + (size_t)k * cap;
		t[k].median = cli_median(l, n);
		t[k].p90 = l[(int)ceil(0.9 * n) - 1];
		t[k].runs = n;
	}
	free(lat);
	return POFA_OK;
}

static const char *formats(const pofa_infer_info *info, char *buf, size_t n)
{
	buf[0] = '\0';
	size_t off = 0;
	for (int f = 0; f < POFA_LINEAR_FMT_COUNT; f++)
		if (info->linears[f])
			off += (size_t)snprintf(buf + off, n - off, "%s%d %s", off ? ", " : "", info->linears[f],
			                        pofa_linear_fmt_names[f]);
	return buf;
}

/* the CPU's name with blanks as underscores, for the RESULT line */
static const char *cpu_word(void)
{
	static char w[128];
	snprintf(w, sizeof w, "%s", pofa_cpu_name());
	for (char *p = w; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '=')
			*p = '_';
	return w;
}

/* a model pruned to the pattern by pofa's own magnitude pruning, with, for
 * int8, QAT's input ranges observed on one batch and its int8 file */
static pofa_model *synth_model(const bench_opts *o, const pofa_batch *calib, const char *int8_path, pofa_err *err)
{
	pofa_config cfg;
	if (pofa_config_preset(&cfg, o->preset, err))
		return NULL;
	cfg.vocab_size = (int)o->vocab;
	cfg.num_labels = 2;
	if (o->T > cfg.max_position_embeddings) {
		pofa_error(err, POFA_ERR_INPUT, "--seq %ld exceeds %s's %d positions", o->T, o->preset,
		           cfg.max_position_embeddings);
		return NULL;
	}
	pofa_model *m = pofa_model_new_for(&cfg, POFA_HEAD_CLS, POFA_MODEL_INFER, calib->B, calib->T,
	                                   (int)o->threads, err);
	if (!m)
		return NULL;
	pofa_model_init(m, 1);
	pofa_model_set_dropout(m, 0);
	if (o->sparsity > 0.0) {
		pofa_gmp g = { .s_final = (float)o->sparsity, .pattern = POFA_PATTERN_UNSTRUCTURED, .block = 4, .n = 2,
		               .m = 4 };
		if (!strcmp(o->pattern, "1x4"))
			g.pattern = POFA_PATTERN_BLOCK;
		else if (!strcmp(o->pattern, "2:4"))
			g.pattern = POFA_PATTERN_NM;
		pofa_masks mk;
		if (pofa_masks_init(&mk, m, err) || pofa_masks_prune(&mk, o->sparsity, &g, err)) {
			pofa_model_free(m);
			return NULL;
		}
		pofa_masks_free(&mk);
	}
	if (int8_path) {
		if (pofa_model_set_qat(m, 1, o->per_channel, err) || pofa_model_forward(m, calib, 1, err) ||
		    pofa_model_export_int8(m, int8_path, err)) {
			pofa_model_free(m);
			return NULL;
		}
	}
	return m;
}

typedef struct {
	const char *name;
	int fmt;            /* force_fmt */
	int int8;
	int blas;           /* dense Linears on OpenBLAS's threads (pofa_infer_blas_threads) */
	timing t;
	pofa_infer_info info;
	double rss;
	int ran;
	double part[POFA_INFER_PART_COUNT];
} variant;

/* the model measured: a folder, or a synthetic one of the preset at the
 * sparsity and pattern asked (int8: its QAT export into q8path); its
 * description into desc. NULL after printing the error. */
static pofa_model *bench_load(const bench_opts *o, int *ids, int *mask, char *q8path, size_t nq, int *have8,
                              char *desc, size_t nd, int *status, pofa_err *err)
{
	int B = (int)o->B, T = (int)o->T;
	if (o->model) {
		pofa_config cfg;
		enum pofa_head head;
		if (pofa_model_dir_head(o->model, &cfg, &head, err))
			return *status = cli_fail(err), NULL;
		if (T > cfg.max_position_embeddings)
			return *status = cli_usage_error("bench", "--seq %d exceeds the model's %d positions", T,
			                       cfg.max_position_embeddings), NULL;
		int fresh = 0;
		pofa_model *m = pofa_model_load_for(o->model, head, POFA_MODEL_INFER, 1, 1, (int)o->threads, 0, &fresh, err);
		if (!m)
			return *status = cli_fail(err), NULL;
		snprintf(q8path, nq, "%s/model.int8.safetensors", o->model);
		*have8 = access(q8path, R_OK) == 0;
		snprintf(desc, nd, "%s (%s head)", o->model, pofa_head_names[head]);
		return m;
	}
	const char *tmp = getenv("TMPDIR");
	snprintf(q8path, nq, "%s/pofa-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = o->int8 ? mkstemp(q8path) : -1;
	if (o->int8 && fd < 0)
		return *status = cli_usage_error("bench", "%s: cannot make a temporary file", q8path), NULL;
	if (fd >= 0)
		close(fd);
	int cb = B < 2 ? B : 2;
	for (int i = 0; i < cb * T; i++) {
		ids[i] = 5 + (int)((1103515245u * (unsigned)i + 12345u) % (unsigned)(o->vocab - 5));
		mask[i] = 1;
	}
	pofa_batch calib = { .B = cb, .T = T, .input_ids = ids, .attention_mask = mask };
	pofa_model *m = synth_model(o, &calib, o->int8 ? q8path : NULL, err);
	if (!m) {
		if (o->int8)
			remove(q8path);
		return *status = cli_fail(err), NULL;
	}
	*have8 = o->int8;
	snprintf(desc, nd, "%s, %.0f%% %s, random weights", o->preset, 100.0 * o->sparsity, o->pattern);
	return m;
}

/* the int8 variant as a user runs it: saved as the packed file (its size
 * into *packed_bytes), then loaded from it */
static int bench_packed(pofa_infer **inf, variant *v, pofa_model *m, const pofa_infer_opts *io, const pofa_batch *b,
                        double *packed_bytes, pofa_err *err)
{
	char dir[4300], pp[4400], cp[4400];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/pofa-packed-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return cli_usage_error("bench", "%s: cannot make a temporary folder", dir);
	snprintf(pp, sizeof pp, "%s/model.packed.safetensors", dir);
	snprintf(cp, sizeof cp, "%s/config.json", dir);
	struct stat st;
	int bad = pofa_infer_save_packed(*inf, pp, err) || stat(pp, &st) ||
	          pofa_config_save(pofa_model_config(m), pofa_model_head(m), cp, err);
	pofa_infer_free(*inf);
	*inf = NULL;
	if (!bad) {
		*packed_bytes = (double)st.st_size;
		double before = rss_mib();
		*inf = pofa_infer_open(dir, io, err);
		bad = !*inf || pofa_infer_forward(*inf, b, err);
		v->rss = rss_mib() - before;
		if (*inf)
			pofa_infer_describe(*inf, &v->info);
	}
	remove(pp);
	remove(cp);
	rmdir(dir);
	return bad ? (err->status ? err->status : POFA_ERR_RUN) : POFA_OK;
}

/* the variants: dense, sparse float32, sparse int8 (where the model has
 * int8 weights), and dense again with each product one OpenBLAS call on
 * its own threads; the faster dense is the one the others are measured
 * against */
enum { NV = 4 };

/* the variants loaded and run once */
static int bench_variants(const bench_opts *o, pofa_model *m, const pofa_st_file *q8, int have8, const pofa_batch *b,
                          variant *v, pofa_infer **inf, double *packed_bytes, pofa_err *err)
{
	for (int k = 0; k < NV; k++) {
		if (v[k].int8 && !have8)
			continue;
		double before = rss_mib();
		pofa_infer_opts io = { .maxB = b->B, .maxT = b->T, .threads = (int)o->threads,
		                       .int8 = v[k].int8 ? POFA_INT8_ON : POFA_INT8_OFF, .force_fmt = v[k].fmt, .cpu = -1,
		                       .emb16 = 1 /* int8: as the packed file holds it */ };
		inf[k] = pofa_infer_from_model(m, v[k].int8 ? q8 : NULL, &io, err);
		if (inf[k])
			pofa_infer_blas_threads(inf[k], v[k].blas);
		if (!inf[k] || pofa_infer_forward(inf[k], b, err))
			return err->status;
		v[k].rss = rss_mib() - before; /* its weights and buffers, touched */
		pofa_infer_describe(inf[k], &v[k].info);
		if (v[k].int8 && bench_packed(&inf[k], &v[k], m, &io, b, packed_bytes, err))
			return err->status ? err->status : POFA_ERR_RUN;
	}
	return POFA_OK;
}

/* the results: a row a variant, the profile, and the RESULT line */
static void bench_print(const bench_opts *o, const variant *v, double packed_bytes)
{
	int B = (int)o->B;
	printf("  %-18s %9s %9s %9s %8s %10s %9s  %s\n", "", "median ms", "p90 ms", "seq/s", "speed-up", "weights MiB",
	       "RSS MiB", "Linears");
	double dense = v[3].ran && v[3].t.median < v[0].t.median ? v[3].t.median : v[0].t.median;
	static const int order[NV] = { 0, 3, 1, 2 }; /* the two dense first */
	for (int i = 0; i < NV; i++) {
		int k = order[i];
		if (!v[k].ran)
			continue;
		char f[160];
		printf("  %-18s %9.2f %9.2f %9.1f %7.2fx %10.1f %9.1f  %s\n", v[k].name, v[k].t.median * 1e3,
		       v[k].t.p90 * 1e3, B / v[k].t.median, dense / v[k].t.median, v[k].info.weight_bytes / 1048576.0,
		       v[k].rss, formats(&v[k].info, f, sizeof f));
	}
	if (o->profile) {
		printf("  where a pass's time goes (ms, mean of ten):\n  %-18s", "");
		for (int q = 0; q < POFA_INFER_PART_COUNT; q++)
			printf(" %10s", pofa_infer_part_names[q]);
		printf("\n");
		for (int i = 0; i < NV; i++) {
			int k = order[i];
			if (!v[k].ran)
				continue;
			printf("  %-18s", v[k].name);
			for (int q = 0; q < POFA_INFER_PART_COUNT; q++)
				printf(" %10.2f", v[k].part[q] * 1e3);
			printf("\n");
		}
	}
	printf("  sparsity of the encoder's Linears %.1f%%; float32 model %.1f MiB; %d+ runs each\n",
	       100.0 * v[1].info.sparsity, v[0].info.dense_bytes / 1048576.0, v[0].t.runs);
	if (v[2].ran)
		printf("  int8 weights held: %.1f%% of the float32 model; the packed file (pofa export --packed): "
		       "%.1f MiB, %.1f%%\n", 100.0 * v[2].info.weight_bytes / (double)v[0].info.dense_bytes,
		       packed_bytes / 1048576.0, 100.0 * packed_bytes / (double)v[0].info.dense_bytes);
	printf("  speed-ups over the faster dense (%s)\n", dense == v[0].t.median ? "rows split over pofa's threads"
	                                                                     : "OpenBLAS's threads");
	printf("RESULT dense_ms=%.3f dense_split_ms=%.3f dense_blas_ms=%.3f sparse_ms=%.3f int8_ms=%.3f "
	       "speedup_sparse=%.3f speedup_int8=%.3f int8_bytes_ratio=%.4f packed_file_ratio=%.4f cpu=%s path=%s "
	       "blas=%s\n",
	       dense * 1e3, v[0].t.median * 1e3, v[3].ran ? v[3].t.median * 1e3 : 0.0, v[1].t.median * 1e3, v[2].ran ? v[2].t.median * 1e3 : 0.0, dense / v[1].t.median,
	       v[2].ran ? dense / v[2].t.median : 0.0,
	       v[2].ran ? v[2].info.weight_bytes / (double)v[0].info.dense_bytes : 0.0,
	       v[2].ran ? packed_bytes / (double)v[0].info.dense_bytes : 0.0, cpu_word(),
	       pofa_cpu_path_names[pofa_cpu_path()], pofa_blas_core());
}

static int bench_model(const bench_opts *o)
{
	pofa_err err = { 0 };
	/* large blocks from mmap, returned to the system when freed, so that
	 * each variant's resident memory is what it adds (glibc) */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	int B = (int)o->B, T = (int)o->T, have8 = 0, status = EXIT_RUN_FAILED;
	char q8path[4200] = "", desc[256];
	int *ids = malloc((size_t)B * T * sizeof *ids), *mask = malloc((size_t)B * T * sizeof *mask);
	pofa_model *m = ids && mask ? bench_load(o, ids, mask, q8path, sizeof q8path, &have8, desc, sizeof desc, &status, &err)
	                            : NULL;
	if (!m) {
		if (!ids || !mask)
			status = cli_fail(&(pofa_err){ POFA_ERR_RUN, "out of memory" });
		free(ids);
		free(mask);
		return status;
	}
	pofa_batch b = { .B = B, .T = T, .input_ids = ids, .attention_mask = mask };
	const pofa_config *cfg = pofa_model_config(m);
	for (int i = 0; i < B * T; i++) {
		ids[i] = 5 + (int)((2654435761u * (unsigned)i + 7u) % (unsigned)(cfg->vocab_size - 5));
		mask[i] = 1;
	}
	pofa_st_file q8 = { 0 };
	int rc = have8 ? pofa_st_open(&q8, q8path, &err) : POFA_OK;
	printf("pofa bench infer: %s\n  L%d H%d A%d I%d, vocab %d, batch %d x %d, %ld threads\n", desc,
	       cfg->num_hidden_layers, cfg->hidden_size, cfg->num_attention_heads, cfg->intermediate_size,
	       cfg->vocab_size, B, T, o->threads);
	printf("  cpu: %s, path %s, OpenBLAS core %s\n", pofa_cpu_name(), pofa_cpu_path_names[pofa_cpu_path()],
	       pofa_blas_core());
	fflush(stdout);
	variant v[NV] = { { .name = "dense (OpenBLAS)", .fmt = POFA_LIN_DENSE }, { .name = "sparse fp32", .fmt = -1 },
	                  { .name = "sparse int8", .fmt = -1, .int8 = 1 },
	                  { .name = "dense (BLAS thr.)", .fmt = POFA_LIN_DENSE, .blas = 1 } };
	pofa_infer *inf[NV] = { NULL, NULL, NULL, NULL };
	double packed_bytes = 0;
	timing t[NV];
	if (!rc)
		rc = bench_variants(o, m, &q8, have8, &b, v, inf, &packed_bytes, &err);
	if (!rc)
		rc = time_rounds(inf, NV, &b, o->runs, t, &err);
	for (int k = 0; k < NV; k++) {
		if (!inf[k])
			continue;
		v[k].t = t[k];
		if (!rc && o->profile) { /* where the time goes, over ten more passes */
			pofa_infer_profile(inf[k], 1);
			for (int r = 0; r < 10 && !rc; r++)
				rc = pofa_infer_forward(inf[k], &b, &err);
			int passes;
			const double *pt = pofa_infer_profiled(inf[k], &passes);
			for (int q = 0; q < POFA_INFER_PART_COUNT; q++)
				v[k].part[q] = passes ? pt[q] / passes : 0.0;
		}
		v[k].ran = !rc;
		pofa_infer_free(inf[k]);
	}
	if (have8 && q8.buf)
		pofa_st_close(&q8);
	if (!o->model && o->int8)
		remove(q8path);
	pofa_model_free(m);
	free(ids);
	free(mask);
	if (rc)
		return cli_fail(&err);
	bench_print(o, v, packed_bytes);
	return 0;
}

/* ---- --sweep: each format's cost per stored value against dense ---------------------- */

typedef struct {
	const pofa_linear *l;
	const pofa_infer_kern *k;
	float *y;
	const float *x;
	const void *x8;
	int ld, np;
} sweep_job;

static void sweep_task(void *arg, int64_t p0, int64_t p1, int tid)
{
	(void)tid;
	sweep_job *j = arg;
	for (int64_t p = p0; p < p1; p++)
		pofa_linear_rows(j->l, j->k, j->y, j->x, j->x8, j->ld, j->np, j->l->split[p], j->l->split[p + 1],
		                 NULL);
}

/* seconds a product, best of a few timed batches */
static double time_linear(pofa_pool *pool, sweep_job *j)
{
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		int n = 0;
		double t0 = cli_now(), dt;
		do {
			pofa_pool_run(pool, j->l->nsplit, sweep_task, j);
			n++;
			dt = cli_now() - t0;
		} while (dt < 0.05);
		best = fmin(best, dt / n);
	}
	return best;
}

static float urand(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float)((*s >> 40) / 16777216.0);
}

static int bench_sweep(const bench_opts *o)
{
	pofa_err err = { 0 };
	pofa_config cfg;
	if (pofa_config_preset(&cfg, o->preset, &err))
		return cli_usage_error("bench", "%s", err.msg);
	int C = cfg.hidden_size, I = cfg.intermediate_size, N = (int)(o->B * o->T), ld = (N + 15) & ~15;
	int shapes[3][2] = { { 3 * C, C }, { I, C }, { C, I } };
	const pofa_infer_kern *k = pofa_infer_kern_for(pofa_cpu_path());
	pofa_pool *pool = pofa_pool_new((int)o->threads);
	size_t xn = (size_t)I * ld;
	float *x = aligned_alloc(64, xn * 4), *y = aligned_alloc(64, xn * 4), *w = malloc((size_t)I * C * 4),
	      *bias = calloc((size_t)I, 4);
	uint64_t s = 1;
	for (size_t i = 0; i < xn; i++)
		x[i] = urand(&s) - 0.5f;
	printf("pofa bench infer --sweep: %s Linear shapes, %d tokens (batch %ld x %ld), %ld threads\n", o->preset, N,
	       o->B, o->T, o->threads);
	printf("  cpu: %s, path %s, OpenBLAS core %s\n", pofa_cpu_name(), pofa_cpu_path_names[k->path], pofa_blas_core());
	printf("  time a stored value, the dense product's time a weight = 1 (mean of the shapes)\n");
	printf("  %-9s %8s %8s %8s %8s\n", "sparsity", "csr", "1x4", "n:m", "csr/dense time");
	static const double levels[] = { 0.5, 0.7, 0.8, 0.85, 0.9, 0.95 };
	double sum_csr = 0, sum_b14 = 0, sum_nm = 0;
	int nlev = (int)(sizeof levels / sizeof *levels), n_nm = 0;
	double be = -1.0;
	for (int li = 0; li < nlev; li++) {
		double sp = levels[li], c_csr = 0, c_b14 = 0, c_nm = -1, ratio = 0;
		for (int si = 0; si < 3; si++) {
			int OC = shapes[si][0], Cin = shapes[si][1];
			double t[4] = { 0 };
			int64_t stored[4] = { 0 };
			/* unstructured, then 1x4 blocks, then N:M (2:4 at 50%, 1:4 at 75%+) */
			for (int pat = 0; pat < 3; pat++) {
				if (pat == 2 && sp != 0.5 && sp != 0.8)
					continue;
				for (int o2 = 0; o2 < OC; o2++)
					for (int c = 0; c < Cin; c += 4)
						for (int i = 0; i < 4; i++) {
							float v = urand(&s) - 0.5f;
							int keep = pat == 0 ? urand(&s) >= sp : pat == 1 ? 1 : (sp == 0.5 ? i < 2 : i == 0);
							w[(size_t)o2 * Cin + c + i] = keep ? v : 0.0f;
						}
				if (pat == 1)
					for (size_t e = 0; e < (size_t)OC * Cin; e += 4)
						if (urand(&s) < sp)
							memset(w + e, 0, 16);
				int fmts[3] = { POFA_LIN_CSR, POFA_LIN_B14, POFA_LIN_NM };
				for (int f = (pat == 0 ? -1 : 0); f < 1; f++) {
					int fmt = f < 0 ? POFA_LIN_DENSE : fmts[pat];
					pofa_linear l;
					if (pofa_linear_pack(&l, w, bias, OC, Cin, 0, k, (int)o->threads, fmt)) {
						pofa_pool_free(pool);
						return cli_usage_error("bench", "out of memory");
					}
					sweep_job j = { &l, k, y, x, NULL, ld, ld };
					int slot = f < 0 ? 3 : pat;
					t[slot] = time_linear(pool, &j);
					stored[slot] = l.stored;
					pofa_linear_free(&l);
				}
			}
			double per_w = t[3] / ((double)OC * Cin);
			c_csr += t[0] / stored[0] / per_w / 3.0;
			c_b14 += t[1] / stored[1] / per_w / 3.0;
			if (stored[2])
				c_nm = (c_nm < 0 ? 0 : c_nm) + t[2] / stored[2] / per_w / 3.0;
			ratio += t[0] / t[3] / 3.0;
		}
		sum_csr += c_csr;
		sum_b14 += c_b14;
		if (c_nm >= 0) {
			sum_nm += c_nm;
			n_nm++;
		}
		if (be < 0 && ratio < 1.0)
			be = sp;
		if (c_nm >= 0)
			printf("  %-9.2f %8.2f %8.2f %8.2f %8.2f\n", sp, c_csr, c_b14, c_nm, ratio);
		else
			printf("  %-9.2f %8.2f %8.2f %8s %8.2f\n", sp, c_csr, c_b14, "-", ratio);
		fflush(stdout);
	}
	double mc = sum_csr / nlev, mb = sum_b14 / nlev, mn = n_nm ? sum_nm / n_nm : 0;
	printf("  mean cost: csr %.2f, 1x4 %.2f, n:m %.2f; CSR breaks even with dense at %.1f%% sparsity "
	       "(1 - 1/cost)\n", mc, mb, mn, 100.0 * (1.0 - 1.0 / mc));
	if (be >= 0)
		printf("  CSR measured faster than dense from %.0f%% sparsity on\n", 100.0 * be);
	else
		printf("  CSR measured slower than dense at every level\n");
	int th = (int)o->threads;
	printf("  pack.c uses for this path and %d thread%s: csr %.2f, 1x4 %.2f, n:m %.2f\n", th, th > 1 ? "s" : "",
	       1.0 / (1.0 - pofa_linear_break_even(k->path, POFA_LIN_CSR, th)),
	       1.0 / (1.0 - pofa_linear_break_even(k->path, POFA_LIN_B14, th)),
	       1.0 / (1.0 - pofa_linear_break_even(k->path, POFA_LIN_NM, th)));
	printf("RESULT csr_cost=%.3f b14_cost=%.3f nm_cost=%.3f break_even=%.3f cpu=%s path=%s\n", mc, mb, mn,
	       1.0 - 1.0 / mc, cpu_word(), pofa_cpu_path_names[k->path]);
	free(x);
	free(y);
	free(w);
	free(bias);
	pofa_pool_free(pool);
	return 0;
}

int cmd_bench_infer(int argc, char **argv)
{
	bench_opts o = { .preset = "bert-base", .pattern = "unstructured", .sparsity = 0.9, .vocab = 30522, .B = 1,
	                 .T = 128, .threads = cli_default_threads(), .runs = 0 };
	const char *v;
	for (int i = 2; i < argc; i++) {
		if ((v = cli_opt(argc, argv, &i, "--model"))) {
			o.model = v;
		} else if ((v = cli_opt(argc, argv, &i, "--preset"))) {
			o.preset = v;
		} else if ((v = cli_opt(argc, argv, &i, "--pattern"))) {
			if (strcmp(v, "unstructured") && strcmp(v, "1x4") && strcmp(v, "2:4"))
				return cli_usage_error("bench", "--pattern %s: unstructured, 1x4 or 2:4", v);
			o.pattern = v;
		} else if ((v = cli_opt(argc, argv, &i, "--sparsity"))) {
			char *end;
			o.sparsity = strtod(v, &end);
			if (*end || !(o.sparsity >= 0.0 && o.sparsity < 1.0))
				return cli_usage_error("bench", "--sparsity %s: a number in [0, 1)", v);
		} else if (!strcmp(argv[i], "--int8")) {
			o.int8 = 1;
		} else if (!strcmp(argv[i], "--per-channel")) {
			o.per_channel = 1;
		} else if (!strcmp(argv[i], "--sweep")) {
			o.sweep = 1;
		} else if (!strcmp(argv[i], "--profile")) {
			o.profile = 1;
		} else if ((v = cli_opt(argc, argv, &i, "--vocab"))) {
			if (cli_int("bench", "--vocab", v, 64, 1 << 20, &o.vocab)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--batch"))) {
			if (cli_int("bench", "--batch", v, 1, 4096, &o.B)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--seq"))) {
			if (cli_int("bench", "--seq", v, 1, 4096, &o.T)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--threads"))) {
			if (cli_int("bench", "--threads", v, 1, 64, &o.threads)) return EXIT_USAGE;
		} else if ((v = cli_opt(argc, argv, &i, "--runs"))) {
			if (cli_int("bench", "--runs", v, 1, 100000, &o.runs)) return EXIT_USAGE;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(infer_usage, stdout);
			return 0;
		} else {
			return cli_usage_error("bench", "unknown option '%s'", argv[i]);
		}
	}
	if (!strcmp(o.pattern, "2:4"))
		o.sparsity = 0.5; /* what 2:4 is */
	return o.sweep ? bench_sweep(&o) : bench_model(&o);
}
