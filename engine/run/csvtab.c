/* csvtab.c - a CSV file read back whole (see csvtab.h). */
#include "engine/run/csvtab.h"
#include "data/base/fileio.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

static void on_field(void *s, size_t len, void *d)
{
	pofa_csvtab *t = d;
	if (t->ncur == t->ccur) {
		t->ccur = t->ccur ? 2 * t->ccur : 16;
		t->cur = realloc(t->cur, (size_t)t->ccur * sizeof *t->cur);
	}
	char *f = malloc(len + 1);
	memcpy(f, s ? s : "", len);
	f[len] = 0;
	t->cur[t->ncur++] = f;
}

static void on_row(int c, void *d)
{
	(void)c;
	pofa_csvtab *t = d;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		t->rows = realloc(t->rows, (size_t)t->cap * sizeof *t->rows);
		t->nf = realloc(t->nf, (size_t)t->cap * sizeof *t->nf);
	}
	t->rows[t->n] = t->cur;
	t->nf[t->n++] = t->ncur;
	t->cur = NULL;
	t->ncur = t->ccur = 0;
}

void pofa_csvtab_parse(const void *buf, size_t n, pofa_csvtab *t)
{
	struct csv_parser p;
	csv_init(&p, CSV_APPEND_NULL);
	csv_parse(&p, buf, n, on_field, on_row, t);
	csv_fini(&p, on_field, on_row, t);
	csv_free(&p);
}

void pofa_csvtab_free(pofa_csvtab *t)
{
	for (int r = 0; r < t->n; r++) {
		for (int f = 0; f < t->nf[r]; f++)
			free(t->rows[r][f]);
		free(t->rows[r]);
	}
	free(t->rows);
	free(t->nf);
	memset(t, 0, sizeof *t);
}

int pofa_csvtab_read(const char *path, pofa_csvtab *t)
{
	memset(t, 0, sizeof *t);
	unsigned char *buf;
	size_t n;
	pofa_err err;
	if (pofa_read_file(path, &buf, &n, (size_t)4 << 30, &err))
		return -1;
	pofa_csvtab_parse(buf, n, t);
	free(buf);
	return 0;
}
