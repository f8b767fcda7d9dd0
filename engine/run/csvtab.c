/* csvtab.c - a CSV file read back whole (see csvtab.h). */
#include "engine/run/csvtab.h"
#include "data/base/fileio.h"
#include "data/base/mem.h"

#include <csv.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void on_field(void *s, size_t len, void *d)
{
	pofa_csvtab *t = d;
	char *f = t->oom ? NULL : malloc(len + 1);
	if (!f || pofa_grow(&t->cur, &t->ccur, (size_t)t->ncur + 1, sizeof *t->cur)) {
		free(f);
		t->oom = 1;
		return;
	}
	memcpy(f, s ? s : "", len);
	f[len] = 0;
	t->cur[t->ncur++] = f;
}

static void on_row(int c, void *d)
{
	(void)c;
	pofa_csvtab *t = d;
	if (!t->oom && t->n == t->cap) {
		int c = t->cap ? 2 * t->cap : 256;
		if (pofa_resize(&t->rows, (size_t)c, sizeof *t->rows) || pofa_resize(&t->nf, (size_t)c, sizeof *t->nf))
			t->oom = 1;
		else
			t->cap = c;
	}
	if (t->oom) {   /* the row is dropped; the parse reports the failure */
		for (int f = 0; f < t->ncur; f++)
			free(t->cur[f]);
		free(t->cur);
		t->cur = NULL;
		t->ncur = 0;
		t->ccur = 0;
		return;
	}
	t->rows[t->n] = t->cur;
	t->nf[t->n++] = t->ncur;
	t->cur = NULL;
	t->ncur = t->ccur = 0;
}

int pofa_csvtab_parse(const void *buf, size_t n, pofa_csvtab *t)
{
	struct csv_parser p;
	if (csv_init(&p, CSV_APPEND_NULL))
		return -1;
	if (csv_parse(&p, buf, n, on_field, on_row, t) != n)
		t->oom = 1;   /* libcsv fails only when out of memory (not strict) */
	csv_fini(&p, on_field, on_row, t);
	csv_free(&p);
	return t->oom ? -1 : 0;
}

void pofa_csvtab_free(pofa_csvtab *t)
{
	for (int r = 0; r < t->n; r++) {
		for (int f = 0; f < t->nf[r]; f++)
			free(t->rows[r][f]);
		free(t->rows[r]);
	}
	for (int f = 0; f < t->ncur; f++)
		free(t->cur[f]);
	free(t->cur);
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
	errno = 0;
	if (pofa_read_file(path, &buf, &n, (size_t)4 << 30, &err))
		return -1;
	int rc = pofa_csvtab_parse(buf, n, t);
	free(buf);
	if (rc)
		pofa_csvtab_free(t);
	return rc;
}

/* ---- the last row of each key ------------------------------------------------ */

static uint64_t key_hash(char **row, const int *cols, int ncols)
{
	uint64_t h = 1469598103934665603ull;
	for (int c = 0; c < ncols; c++) {
		for (const unsigned char *p = (const unsigned char *)row[cols[c]]; *p; p++)
			h = (h ^ *p) * 1099511628211ull;
		h = (h ^ 0x1f) * 1099511628211ull;   /* the fields kept apart */
	}
	return h;
}

static int same_key(char **a, char **b, const int *cols, int ncols)
{
	for (int c = 0; c < ncols; c++)
		if (strcmp(a[cols[c]], b[cols[c]]))
			return 0;
	return 1;
}

int pofa_csvtab_last_by(const pofa_csvtab *t, const int *cols, int ncols, int minf,
                        int (*keep)(void *arg, int row), void *arg, int *rows)
{
	size_t cap = 16;
	while (cap < 2 * (size_t)t->n + 2)
		cap *= 2;
	int *slot = malloc(cap * sizeof *slot);   /* index into rows + 1; 0: empty */
	if (!slot)
		return -1;
	memset(slot, 0, cap * sizeof *slot);
	int n = 0, need = minf;
	for (int c = 0; c < ncols; c++)
		need = cols[c] + 1 > need ? cols[c] + 1 : need;
	for (int r = 1; r < t->n; r++) {
		if (t->nf[r] < need || (keep && !keep(arg, r)))
			continue;
		size_t h = (size_t)key_hash(t->rows[r], cols, ncols) & (cap - 1);
		while (slot[h] && !same_key(t->rows[rows[slot[h] - 1]], t->rows[r], cols, ncols))
			h = (h + 1) & (cap - 1);
		if (slot[h])
			rows[slot[h] - 1] = r;   /* a later row of the key */
		else
			rows[n] = r, slot[h] = ++n;
	}
	free(slot);
	return n;
}
