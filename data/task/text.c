/* text.c - labels, and sentence (pair) classification files: GLUE-style
 * TSV split by hand (no quoting), CSV through libcsv (see loaders.h). */
#include "data/task/loaders.h"
#include "data/base/mem.h"
#include "data/base/text.h"
#include "data/base/fileio.h"
#include "data/base/util.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- labels ------------------------------------------------------------------ */

void pofa_labels_free(pofa_labels *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof *l);
}

int pofa_labels_find(const pofa_labels *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->names[i], name))
			return i;
	/* Hugging Face's default names (LABEL_0, ...), or none at all: a task
	 * file's 0, 1, 2 are the ids */
	char *end;
	long id = strtol(name, &end, 10);
	if (*name && !*end && id >= 0 && id < l->n) {
		char want[32];
		snprintf(want, sizeof want, "LABEL_%ld", id);
		if (!strcmp(l->names[id], want) || !l->names[id][0])
			return (int)id;
	}
	return -1;
}

void pofa_labels_list(const pofa_labels *l, char *out, size_t n)
{
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; i < l->n && o + 1 < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", l->names[i]);
	if (o >= n && n > 4)
		strcpy(out + n - 4, "...");
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- TSV / CSV through libcsv ------------------------------------------------- */

typedef struct {
	const char *path;
	long line;          /* physical line being fed */
	long row_line;      /* line where the current row started */
	int nfields;        /* fields of the current row */
	char **fields;
	size_t fcap;
	int header_n;       /* fields of the header row */
	char **header;
	long rows;          /* data rows */
	int ia, ib, il;     /* column indices */
	const char *col_a, *col_b, *col_label;
	pofa_text_task *t;
	char **raw_labels;
	long tcap;
	pofa_err *err;
	int rc;
} tsv_state;

static void on_field(void *s, size_t n, void *data)
{
	tsv_state *st = data;
	if (st->rc)
		return;
	if (st->nfields == 0)
		st->row_line = st->line;
	char *f = malloc(n + 1);
	if (!f || pofa_grow(&st->fields, &st->fcap, (size_t)st->nfields + 1, sizeof *st->fields)) {
		free(f);
		st->rc = pofa_error(st->err, POFA_ERR_RUN, "%s:%ld: out of memory", st->path, st->line);
		return;
	}
	memcpy(f, s ? s : "", n);
	f[n] = 0;
	st->fields[st->nfields++] = f;
}

static int col_index(char **h, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(h[i], name))
			return i;
	return -1;
}

static void on_row(int c, void *data)
{
	tsv_state *st = data;
	(void)c;
	if (st->rc) {
		for (int i = 0; i < st->nfields; i++)
			free(st->fields[i]);
		st->nfields = 0;
		return;
	}
	if (!st->header) {
		st->header = st->fields;
		st->header_n = st->nfields;
		st->fields = NULL;
		st->fcap = st->nfields = 0;
		const char *cols[3] = { st->col_a, st->col_b, st->col_label };
		int *idx[3] = { &st->ia, &st->ib, &st->il };
		for (int k = 0; k < 3; k++) {
			*idx[k] = -1;
			if (!cols[k])
				continue;
			*idx[k] = col_index(st->header, st->header_n, cols[k]);
			if (*idx[k] < 0) {
				/* the columns there are, as many as fit (each cut at 40 bytes) */
				char have[400];
				size_t at = 0;
				have[0] = 0;
				for (int i = 0; i < st->header_n && at + 60 < sizeof have; i++)
					at += (size_t)snprintf(have + at, sizeof have - at, "%s\"%.40s\"", i ? ", " : "",
					                       st->header[i]);
				if (at + 60 >= sizeof have)
					snprintf(have + at, sizeof have - at, ", ...");
				st->rc = pofa_error(st->err, POFA_ERR_INPUT,
				                    "%s:%ld: no column \"%s\" in the header row, whose columns are %s; name "
				                    "one of them", st->path, st->row_line, cols[k], have);
				return;
			}
		}
		/* one column cannot be two things: its field is taken once */
		static const char *what[3] = { "text_a", "text_b", "label_column" };
		for (int k = 0; k < 3 && !st->rc; k++)
			for (int j = 0; j < k && !st->rc; j++)
				if (*idx[k] >= 0 && *idx[k] == *idx[j])
					st->rc = pofa_error(st->err, POFA_ERR_INPUT, "%s:%ld: %s and %s both name column \"%s\"; "
					                    "name different columns", st->path, st->row_line, what[j], what[k],
					                    cols[k]);
		return;
	}
	if (st->nfields != st->header_n) {
		/* a ragged line: refused and counted, never merged with another */
		pofa_text_task *t = st->t;
		if (t->refused < (long)POFA_ARRAY_LEN(t->refused_line))
			t->refused_line[t->refused] = st->row_line;
		t->refused++;
		for (int i = 0; i < st->nfields; i++)
			free(st->fields[i]);
		st->nfields = 0;
		return;
	}
	pofa_text_task *t = st->t;
	if (t->n == st->tcap) {
		size_t c = st->tcap ? 2 * (size_t)st->tcap : 1024;
		if (pofa_resize(&t->a, c, sizeof *t->a) || (st->col_b && pofa_resize(&t->b, c, sizeof *t->b)) ||
		    pofa_resize(&t->label, c, sizeof *t->label) || pofa_resize(&t->line, c, sizeof *t->line) ||
		    pofa_resize(&st->raw_labels, c, sizeof *st->raw_labels)) {
			st->rc = pofa_error(st->err, POFA_ERR_RUN, "%s:%ld: out of memory", st->path, st->row_line);
			for (int i = 0; i < st->nfields; i++)
				free(st->fields[i]);
			st->nfields = 0;
			return;
		}
		st->tcap = (long)c;
	}
	t->a[t->n] = st->fields[st->ia];
	st->fields[st->ia] = NULL;
	if (st->col_b) {
		t->b[t->n] = st->fields[st->ib];
		st->fields[st->ib] = NULL;
	}
	st->raw_labels[t->n] = st->fields[st->il];
	st->fields[st->il] = NULL;
	t->line[t->n] = st->row_line;
	t->n++;
	for (int i = 0; i < st->nfields; i++)
		free(st->fields[i]);
	st->nfields = 0;
}

void pofa_text_task_free(pofa_text_task *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->a[i]);
		if (t->b)
			free(t->b[i]);
	}
	free(t->a);
	free(t->b);
	free(t->label);
	free(t->line);
	memset(t, 0, sizeof *t);
}

/* GLUE-style TSV: each physical line is one record, split at every
 * delimiter; quotes are ordinary text */
/* a physical line of a task file: text, at most POFA_LINE_MAX bytes */
static int line_ok(tsv_state *st, const unsigned char *l, size_t n)
{
	if (n > POFA_LINE_MAX)
		st->rc = pofa_error(st->err, POFA_ERR_INPUT, "%s:%ld: a line longer than %zu bytes: give shorter lines",
		                    st->path, st->line, POFA_LINE_MAX);
	else if (memchr(l, 0, n))
		st->rc = pofa_error(st->err, POFA_ERR_INPUT, "%s:%ld: a NUL byte: not text; give a text file", st->path,
		                    st->line);
	return !st->rc;
}

static void split_lines(tsv_state *st, const unsigned char *buf, size_t i, size_t n, char delim)
{
	while (i < n && !st->rc) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		if (!line_ok(st, buf + i, j - i))
			break;
		size_t e = j > i && buf[j - 1] == '\r' ? j - 1 : j;
		if (e > i || st->header) {   /* an empty line before the header: skipped */
			size_t a = i;
			for (size_t k = i; k <= e; k++)
				if (k == e || buf[k] == (unsigned char)delim) {
					on_field((void *)(buf + a), k - a, st);
					a = k + 1;
				}
			if (e == i && st->header) {     /* an empty line: no record */
				for (int f = 0; f < st->nfields; f++)
					free(st->fields[f]);
				st->nfields = 0;
			} else {
				on_row('\n', st);
			}
		}
		st->line++;
		i = j + 1;
	}
}

/* RFC 4180 through libcsv, fed a physical line at a time so that errors
 * can name the line; a quoted field may span lines */
static void parse_quoted(tsv_state *st, const unsigned char *buf, size_t i, size_t n, char delim)
{
	struct csv_parser p;
	csv_init(&p, CSV_APPEND_NULL);
	csv_set_delim(&p, (unsigned char)delim);
	while (i < n && !st->rc) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		if (j < n)
			j++;
		if (!line_ok(st, buf + i, j - i))
			break;
		if (csv_parse(&p, buf + i, j - i, on_field, on_row, st) != j - i && !st->rc)
			st->rc = pofa_error(st->err, POFA_ERR_INPUT, "%s:%ld: %s", st->path, st->line,
			                    csv_strerror(csv_error(&p)));
		st->line++;
		i = j;
	}
	if (!st->rc)
		csv_fini(&p, on_field, on_row, st);
	csv_free(&p);
}

void pofa_text_task_summary(const pofa_text_task *t, const char *path, char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "%s: %d examples", path, t->n);
	if (!t->refused || o >= n)
		return;
	o += (size_t)snprintf(out + o, n - o, ", %ld lines refused (a field count other than the header's:",
	                      t->refused);
	for (long k = 0; k < t->refused && k < (long)POFA_ARRAY_LEN(t->refused_line) && o < n; k++)
		o += (size_t)snprintf(out + o, n - o, " %s%ld", k ? "" : "line ", t->refused_line[k]);
	if (o < n)
		snprintf(out + o, n - o, "%s)", t->refused > (long)POFA_ARRAY_LEN(t->refused_line) ? " ..." : "");
}

/* the labels of a training split: its distinct raw labels, sorted */
static int labels_of(tsv_state *st, const pofa_text_task *t, pofa_labels *labels, const char *path, pofa_err *err)
{
	char **names = malloc(((size_t)t->n + 1) * sizeof *names);
	labels->names = malloc(((size_t)t->n + 1) * sizeof *labels->names);
	if (!names || !labels->names) {
		free(names);
		free(labels->names);
		labels->names = NULL;
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	for (int k = 0; k < t->n; k++)
		names[k] = st->raw_labels[k];
	qsort(names, (size_t)t->n, sizeof *names, cmp_strp);
	int rc = POFA_OK;
	for (int k = 0; k < t->n && !rc; k++)
		if (k == 0 || strcmp(names[k], names[k - 1])) {
			if (!(labels->names[labels->n] = strdup(names[k])))
				rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
			else
				labels->n++;
		}
	free(names);
	snprintf(labels->from, sizeof labels->from, "the training split %s", path);
	return rc;
}

int pofa_text_task_load(const pofa_task_spec *spec, const char *path, pofa_labels *labels,
                        pofa_text_task *t, pofa_err *err)
{
	memset(t, 0, sizeof *t);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, (size_t)4 << 30, err);
	if (rc)
		return rc;
	char delim;
	int quoting;
	pofa_task_text_format(spec, path, &delim, &quoting);
	tsv_state st = { .path = path, .line = 1, .col_a = spec->text_a,
	                 .col_b = spec->text_b[0] ? spec->text_b : NULL, .col_label = spec->label, .t = t,
	                 .err = err };
	size_t i = 0;
	if (n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
		i = 3; /* a UTF-8 byte-order mark */
	if (quoting)
		parse_quoted(&st, buf, i, n, delim);
	else
		split_lines(&st, buf, i, n, delim);
	free(buf);
	if (!st.rc && !st.header)
		st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:1: empty file; expected a header row and examples",
		                   path);
	if (!st.rc && t->n == 0)
		st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:2: no examples after the header row%s", path,
		                   t->refused ? " (every line refused: a field count other than the header's; is the "
		                                "delimiter right?)" : "");
	/* labels: text a model folder can hold (checked where they enter),
	 * then built from the training split, sorted, or looked up */
	for (int k = 0; k < t->n && !st.rc; k++) {
		const char *why = pofa_text_refusal(st.raw_labels[k], strlen(st.raw_labels[k]), POFA_LABEL_MAX);
		if (why)
			st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: label \"%.60s\" %s: a label is UTF-8 text without "
			                   "control characters, tabs or line breaks, 1 to %d bytes", path, t->line[k],
			                   st.raw_labels[k], why, POFA_LABEL_MAX);
	}
	if (!st.rc && labels->n == 0)
		st.rc = labels_of(&st, t, labels, path, err);
	for (int k = 0; k < t->n && !st.rc; k++) {
		t->label[k] = pofa_labels_find(labels, st.raw_labels[k]);
		if (t->label[k] < 0) {
			char names[400];
			pofa_labels_list(labels, names, sizeof names);
			st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: label \"%s\" is not one of the labels of %s (%s)",
			                   path, t->line[k], st.raw_labels[k], labels->from[0] ? labels->from :
			                   "the training split", names);
		}
	}
	for (int k = 0; k < t->n; k++)
		free(st.raw_labels ? st.raw_labels[k] : NULL);
	free(st.raw_labels);
	for (int k = 0; k < st.header_n; k++)
		free(st.header[k]);
	free(st.header);
	for (int k = 0; k < st.nfields; k++)
		free(st.fields[k]);
	free(st.fields);
	if (st.rc)
		pofa_text_task_free(t);
	return st.rc;
}
