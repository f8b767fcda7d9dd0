/*
 * classify.c - pofa's library from a program of one's own: a classifier
 * folder loaded once, the lines of standard input labelled by several
 * threads at once, each line's best label and probability printed in the
 * input's order, as `pofa predict --model DIR` prints them.
 *
 *   cc classify.c $(pkg-config --cflags pofa) $(pkg-config --libs --static pofa) -o classify
 *   ./classify MODEL_DIR [THREADS] < lines.txt
 *
 * See pofa_infer(3).
 */
#define _POSIX_C_SOURCE 200809L   /* strdup, with -std=c11 */
#include "engine/infer/predict.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	pofa_predictor *p;
	char **lines;
	pofa_prediction *out;
	int first, n, failed;
	pofa_err err;
} job;

/* one thread: its share of the lines, 16 a call */
static void *work(void *arg)
{
	job *j = arg;
	for (int i = j->first; i < j->first + j->n && !j->failed; i += 16) {
		pofa_text t[16];
		int m = j->first + j->n - i < 16 ? j->first + j->n - i : 16;
		for (int k = 0; k < m; k++) {
			char *tab = strchr(j->lines[i + k], '\t');   /* a pair: text a, tab, text b */
			t[k] = (pofa_text){ .a = j->lines[i + k], .na = tab ? tab - j->lines[i + k] : -1,
			                    .b = tab ? tab + 1 : NULL, .nb = -1 };
		}
		j->failed = pofa_predict(j->p, t, m, j->out + i, &j->err) != 0;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: classify MODEL_DIR [THREADS] < lines\n");
		return 2;
	}
	int nthreads = argc > 2 ? atoi(argv[2]) : 2;
	if (nthreads < 1 || nthreads > 64)
		nthreads = 2;
	pofa_err err;
	pofa_predictor_opts o = { .threads = 1 };   /* the threads are this program's */
	pofa_predictor *p = pofa_predictor_open(argv[1], &o, &err);
	if (!p) {
		fprintf(stderr, "classify: %s\n", err.msg);
		return err.status;
	}
	if (pofa_predictor_head(p) != POFA_HEAD_CLS) {
		fprintf(stderr, "classify: %s is not a classifier\n", argv[1]);
		pofa_predictor_close(p);
		return 2;
	}
	/* every line read first */
	char **lines = NULL, buf[65536];
	int n = 0, cap = 0;
	while (fgets(buf, sizeof buf, stdin)) {
		buf[strcspn(buf, "\r\n")] = 0;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **nl = realloc(lines, (size_t)cap * sizeof *lines);
			if (!nl)
				return 1;
			lines = nl;
		}
		if (!(lines[n++] = strdup(buf)))
			return 1;
	}
	pofa_prediction *out = calloc((size_t)n + 1, sizeof *out);
	job *jobs = calloc((size_t)nthreads, sizeof *jobs);
	pthread_t *th = calloc((size_t)nthreads, sizeof *th);
	if (!out || !jobs || !th)
		return 1;
	for (int t = 0, at = 0; t < nthreads; t++) {
		int share = n / nthreads + (t < n % nthreads);
		jobs[t] = (job){ .p = p, .lines = lines, .out = out, .first = at, .n = share };
		at += share;
		if (pthread_create(&th[t], NULL, work, &jobs[t]))
			return 1;
	}
	int failed = 0;
	for (int t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		if (jobs[t].failed && !failed++)
			fprintf(stderr, "classify: %s\n", jobs[t].err.msg);
	}
	for (int i = 0; i < n && !failed; i++) {
		const char *name = pofa_predictor_label(p, out[i].best[0].id);
		if (name)
			printf("%s\t%.4f\n", name, out[i].best[0].prob);
		else
			printf("LABEL_%d\t%.4f\n", out[i].best[0].id, out[i].best[0].prob);
	}
	pofa_prediction_free(out, n);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(out);
	free(jobs);
	free(th);
	pofa_predictor_close(p);
	return failed ? 1 : 0;
}
