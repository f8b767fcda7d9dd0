/* loaders.c - task files, SQuAD features, MLM batches and metrics (see
 * loaders.h). */
#include "loaders.h"
#include "datasets.h"
#include "internal.h"

#include <cJSON.h>
#include <csv.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

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
	return -1;
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
	int fcap;
	int header_n;       /* fields of the header row */
	char **header;
	long rows;          /* data rows */
	int ia, ib, il;     /* column indices */
	const char *col_a, *col_b, *col_label;
	pofa_text_task *t;
	char **raw_labels;
	int tcap;
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
	if (st->nfields == st->fcap) {
		st->fcap = st->fcap ? 2 * st->fcap : 16;
		st->fields = realloc(st->fields, (size_t)st->fcap * sizeof *st->fields);
	}
	char *f = malloc(n + 1);
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
				st->rc = pofa_error(st->err, POFA_ERR_INPUT,
				                    "%s:%ld: no column \"%s\" in the header row; name an existing "
				                    "column in the recipe",
				                    st->path, st->row_line, cols[k]);
				return;
			}
		}
		return;
	}
	if (st->nfields != st->header_n) {
		st->rc = pofa_error(st->err, POFA_ERR_INPUT,
		                    "%s:%ld: %d fields where the header has %d (a ragged row: check the "
		                    "tabs and quotes on that line)",
		                    st->path, st->row_line, st->nfields, st->header_n);
		for (int i = 0; i < st->nfields; i++)
			free(st->fields[i]);
		st->nfields = 0;
		return;
	}
	pofa_text_task *t = st->t;
	if (t->n == st->tcap) {
		st->tcap = st->tcap ? 2 * st->tcap : 1024;
		t->a = realloc(t->a, (size_t)st->tcap * sizeof *t->a);
		if (st->col_b)
			t->b = realloc(t->b, (size_t)st->tcap * sizeof *t->b);
		t->label = realloc(t->label, (size_t)st->tcap * sizeof *t->label);
		t->line = realloc(t->line, (size_t)st->tcap * sizeof *t->line);
		st->raw_labels = realloc(st->raw_labels, (size_t)st->tcap * sizeof *st->raw_labels);
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

int pofa_text_task_load(const char *path, const char *col_a, const char *col_b,
                        const char *col_label, pofa_labels *labels, pofa_text_task *t,
                        pofa_err *err)
{
	memset(t, 0, sizeof *t);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, (size_t)4 << 30, err);
	if (rc)
		return rc;
	size_t plen = strlen(path);
	int csv = plen > 4 && !strcmp(path + plen - 4, ".csv");
	struct csv_parser p;
	csv_init(&p, CSV_APPEND_NULL);
	csv_set_delim(&p, csv ? ',' : '\t');
	tsv_state st = { .path = path, .line = 1, .col_a = col_a, .col_b = col_b,
	                 .col_label = col_label, .t = t, .err = err };
	size_t i = 0;
	if (n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
		i = 3; /* a UTF-8 byte-order mark */
	/* fed a physical line at a time, so errors can name the line */
	while (i < n && !st.rc) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		if (j < n)
			j++;
		if (csv_parse(&p, buf + i, j - i, on_field, on_row, &st) != j - i && !st.rc)
			st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: %s", path, st.line,
			                   csv_strerror(csv_error(&p)));
		st.line++;
		i = j;
	}
	if (!st.rc)
		csv_fini(&p, on_field, on_row, &st);
	csv_free(&p);
	free(buf);
	if (!st.rc && !st.header)
		st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:1: empty file; expected a header row and examples",
		                   path);
	if (!st.rc && t->n == 0)
		st.rc = pofa_error(err, POFA_ERR_INPUT, "%s:2: no examples after the header row", path);
	/* labels: built from the training split, sorted, or looked up */
	if (!st.rc && labels->n == 0) {
		char **names = malloc((size_t)t->n * sizeof *names);
		int nn = 0;
		for (int k = 0; k < t->n; k++)
			names[nn++] = st.raw_labels[k];
		qsort(names, (size_t)nn, sizeof *names, cmp_strp);
		labels->names = malloc((size_t)nn * sizeof *labels->names);
		for (int k = 0; k < nn; k++)
			if (k == 0 || strcmp(names[k], names[k - 1]))
				labels->names[labels->n++] = strdup(names[k]);
		free(names);
	}
	for (int k = 0; k < t->n && !st.rc; k++) {
		t->label[k] = pofa_labels_find(labels, st.raw_labels[k]);
		if (t->label[k] < 0)
			st.rc = pofa_error(err, POFA_ERR_INPUT,
			                   "%s:%ld: label \"%s\" does not occur in the training split",
			                   path, t->line[k], st.raw_labels[k]);
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

/* ---- SQuAD ------------------------------------------------------------------- */

void pofa_qa_free(pofa_qa_set *qa)
{
	for (int i = 0; i < qa->nex; i++) {
		pofa_qa_example *e = &qa->ex[i];
		free(e->id);
		free(e->question);
		free(e->context);
		for (int k = 0; k < e->nans; k++)
			free(e->answers[k]);
		free(e->answers);
		free(e->answer_start);
	}
	free(qa->ex);
	free(qa->feat);
	free(qa->block);
	memset(qa, 0, sizeof *qa);
}

int pofa_qa_load(const char *path, pofa_qa_set *qa, pofa_err *err)
{
	memset(qa, 0, sizeof *qa);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, (size_t)2 << 30, err);
	if (rc)
		return rc;
	const char *endp = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf, n, &endp, 0);
	if (!root) {
		long line = 1;
		for (const char *c = (const char *)buf; endp && c < endp; c++)
			line += *c == '\n';
		free(buf);
		return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: malformed JSON", path, line);
	}
	free(buf);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsArray(data)) {
		cJSON_Delete(root);
		return pofa_error(err, POFA_ERR_INPUT, "%s: no \"data\" array: not a SQuAD v1.1 file", path);
	}
	int cap = 0;
	const cJSON *art, *para, *q, *a;
	cJSON_ArrayForEach(art, data) {
		const cJSON *paras = cJSON_GetObjectItemCaseSensitive(art, "paragraphs");
		cJSON_ArrayForEach(para, paras) {
			const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(para, "context");
			const cJSON *qas = cJSON_GetObjectItemCaseSensitive(para, "qas");
			if (!cJSON_IsString(ctx) || !cJSON_IsArray(qas)) {
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: a paragraph without \"context\" or \"qas\"", path);
				goto done;
			}
			cJSON_ArrayForEach(q, qas) {
				const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "id");
				const cJSON *qu = cJSON_GetObjectItemCaseSensitive(q, "question");
				const cJSON *ans = cJSON_GetObjectItemCaseSensitive(q, "answers");
				if (!cJSON_IsString(id) || !cJSON_IsString(qu) || !cJSON_IsArray(ans)) {
					rc = pofa_error(err, POFA_ERR_INPUT,
					                "%s: question %s: needs \"id\", \"question\" and \"answers\"", path,
					                cJSON_IsString(id) ? id->valuestring : "(no id)");
					goto done;
				}
				if (qa->nex == cap) {
					cap = cap ? 2 * cap : 1024;
					qa->ex = realloc(qa->ex, (size_t)cap * sizeof *qa->ex);
				}
				pofa_qa_example *e = &qa->ex[qa->nex++];
				memset(e, 0, sizeof *e);
				e->id = strdup(id->valuestring);
				e->question = strdup(qu->valuestring);
				e->context = strdup(ctx->valuestring);
				long clen = (long)strlen(e->context);
				int na = cJSON_GetArraySize(ans);
				e->answers = calloc((size_t)na + 1, sizeof *e->answers);
				e->answer_start = calloc((size_t)na + 1, sizeof *e->answer_start);
				cJSON_ArrayForEach(a, ans) {
					const cJSON *tx = cJSON_GetObjectItemCaseSensitive(a, "text");
					const cJSON *as = cJSON_GetObjectItemCaseSensitive(a, "answer_start");
					if (!cJSON_IsString(tx) || !cJSON_IsNumber(as) || as->valuedouble < 0) {
						rc = pofa_error(err, POFA_ERR_INPUT,
						                "%s: question %s: an answer needs \"text\" and a "
						                "non-negative \"answer_start\"", path, e->id);
						goto done;
					}
					long b = pofa_utf8_cp_to_byte(e->context, clen, (long)as->valuedouble);
					long tl = (long)strlen(tx->valuestring);
					if (b + tl > clen) {
						rc = pofa_error(err, POFA_ERR_INPUT,
						                "%s: question %s: answer_start %.0f is past the end of its context",
						                path, e->id, as->valuedouble);
						goto done;
					}
					if (memcmp(e->context + b, tx->valuestring, (size_t)tl))
						qa->unmatched++;
					e->answers[e->nans] = strdup(tx->valuestring);
					e->answer_start[e->nans++] = b;
				}
			}
		}
	}
done:
	cJSON_Delete(root);
	if (rc)
		pofa_qa_free(qa);
	return rc;
}

int pofa_qa_featurize(pofa_qa_set *qa, pofa_tokenizer *tk, int T, int stride, int max_query,
                      pofa_err *err)
{
	if (T < 8 || stride < 1 || max_query < 1 || max_query > T - 4)
		return pofa_error(err, POFA_ERR_INPUT,
		                  "squad features: sequence %d, stride %d, question %d do not fit", T, stride,
		                  max_query);
	pofa_piece *qp = NULL, *cp = NULL;
	int qcap = 0, ccap = 0, fcap = 0;
	qa->T = T;
	qa->nfeat = 0;
	free(qa->feat);
	free(qa->block);
	qa->feat = NULL;
	qa->block = NULL;
	for (int x = 0; x < qa->nex; x++) {
		pofa_qa_example *e = &qa->ex[x];
		int nq = pofa_tokenize(tk, e->question, -1, &qp, &qcap, NULL);
		int nc = pofa_tokenize(tk, e->context, -1, &cp, &ccap, NULL);
		if (nq < 0 || nc < 0) {
			free(qp);
			free(cp);
			return pofa_error(err, POFA_ERR_RUN, "out of memory");
		}
		nq = POFA_MIN(nq, max_query);
		int room = T - nq - 3;
		long as = e->nans ? e->answer_start[0] : -1;
		long ae = e->nans ? as + (long)strlen(e->answers[0]) : -1;
		for (int start = 0;;) {
			int len = POFA_MIN(room, nc - start);
			if (qa->nfeat == fcap) {
				fcap = fcap ? 2 * fcap : 1024;
				qa->feat = realloc(qa->feat, (size_t)fcap * sizeof *qa->feat);
				qa->block = realloc(qa->block, (size_t)fcap * 5 * T * sizeof *qa->block);
			}
			pofa_qa_feature *f = &qa->feat[qa->nfeat];
			int *blk = qa->block + (size_t)qa->nfeat * 5 * T;
			f->example = x;
			int k = 0;
			int *ids = blk, *ty = blk + T, *mk = blk + 2 * T, *o0 = blk + 3 * T, *o1 = blk + 4 * T;
#define PUT(id_, t_, a_, b_) (ids[k] = (id_), ty[k] = (t_), mk[k] = 1, o0[k] = (a_), o1[k] = (b_), k++)
			PUT(pofa_tok_cls(tk), 0, -1, -1);
			for (int i = 0; i < nq; i++)
				PUT(qp[i].id, 0, -1, -1);
			PUT(pofa_tok_sep(tk), 0, -1, -1);
			int c0 = k;
			for (int i = 0; i < len; i++)
				PUT(cp[start + i].id, 1, cp[start + i].start, cp[start + i].end);
			PUT(pofa_tok_sep(tk), 1, -1, -1);
#undef PUT
			for (; k < T; k++) {
				ids[k] = pofa_tok_pad(tk);
				ty[k] = mk[k] = 0;
				o0[k] = o1[k] = -1;
			}
			f->start = f->end = 0;
			if (as >= 0 && len > 0 && as >= cp[start].start && ae <= cp[start + len - 1].end) {
				int s = -1, en = -1;
				for (int i = 0; i < len; i++) {
					if (s < 0 && cp[start + i].end > as)
						s = c0 + i;
					if (cp[start + i].start < ae)
						en = c0 + i;
				}
				if (s >= 0 && en >= s) {
					f->start = s;
					f->end = en;
				}
			}
			qa->nfeat++;
			if (start + len >= nc)
				break;
			start += POFA_MIN(len, stride);
		}
	}
	/* the feature arrays point into the block (fixed after the last realloc) */
	for (int i = 0; i < qa->nfeat; i++) {
		int *blk = qa->block + (size_t)i * 5 * T;
		qa->feat[i].ids = blk;
		qa->feat[i].types = blk + T;
		qa->feat[i].mask = blk + 2 * T;
		qa->feat[i].off0 = blk + 3 * T;
		qa->feat[i].off1 = blk + 4 * T;
	}
	free(qp);
	free(cp);
	return POFA_OK;
}

/* indices of the n largest values among the context tokens of a feature,
 * best first */
static int top_n(const float *v, const int *off0, int T, int n, int *out)
{
	int k = 0;
	for (int i = 0; i < T; i++) {
		if (off0[i] < 0)
			continue;
		if (k == n && !(v[i] > v[out[n - 1]]))
			continue;
		int j = k < n ? k++ : n - 1;  /* when full, the last one drops out */
		while (j > 0 && v[i] > v[out[j - 1]]) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = i;
	}
	return k;
}

int pofa_qa_predict(const pofa_qa_set *qa, int example, const float *start_logits,
                    const float *end_logits, int n_best, int max_answer_len, char *out, size_t outsz)
{
	int T = qa->T, si[64], ei[64];
	n_best = POFA_MIN(n_best, 64);
	float best = -INFINITY;
	long b0 = -1, b1 = -1;
	for (int f = 0; f < qa->nfeat; f++) {
		if (qa->feat[f].example != example)
			continue;
		const pofa_qa_feature *ft = &qa->feat[f];
		const float *sl = start_logits + (size_t)f * T, *el = end_logits + (size_t)f * T;
		int ns = top_n(sl, ft->off0, T, n_best, si), ne = top_n(el, ft->off0, T, n_best, ei);
		for (int a = 0; a < ns; a++)
			for (int b = 0; b < ne; b++) {
				int s = si[a], e = ei[b];
				if (e < s || e - s + 1 > max_answer_len)
					continue;
				float score = sl[s] + el[e];
				if (score > best) {
					best = score;
					b0 = ft->off0[s];
					b1 = ft->off1[e];
				}
			}
	}
	if (b0 < 0) {
		if (outsz)
			out[0] = 0;
		return -1;
	}
	snprintf(out, outsz, "%.*s", (int)(b1 - b0), qa->ex[example].context + b0);
	return 0;
}

/* ---- MLM --------------------------------------------------------------------- */

void pofa_shuffle(long *idx, long n, uint64_t seed)
{
	pofa_rng r = { seed };
	for (long i = n - 1; i > 0; i--) {
		long j = (long)(pofa_rng_next(&r) % (uint64_t)(i + 1));
		long t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}

void pofa_mlm_free(pofa_mlm_data *d)
{
	free(d->tokens);
	free(d->seq_start);
	free(d->seq_len);
	free(d->order);
	free(d->train);
	free(d->dev);
	free(d->word_start);
	memset(d, 0, sizeof *d);
}

static void mlm_order(pofa_mlm_data *d);

int pofa_mlm_load(const char *corpus, pofa_tokenizer *tk, int T, uint64_t seed, pofa_mlm_data *d,
                  pofa_err *err)
{
	memset(d, 0, sizeof *d);
	if (T < 8)
		return pofa_error(err, POFA_ERR_INPUT, "MLM sequence length %d: at least 8", T);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(corpus, &buf, &n, (size_t)8 << 30, err);
	if (rc)
		return rc;
	d->T = T;
	d->tk = tk;
	d->seed = seed;
	d->vocab = pofa_vocab_size(tk);
	d->cls = pofa_tok_cls(tk);
	d->sep = pofa_tok_sep(tk);
	d->pad = pofa_tok_pad(tk);
	d->mask_id = pofa_tok_mask(tk);
	d->mask_prob = 0.15f;
	pofa_piece *pc = NULL;
	int pcap = 0;
	long tcap = 0, scap = 0;
	int room = T - 2;
	long cur_start = 0;
	int cur_len = 0;
#define FLUSH()                                                                          \
	do {                                                                             \
		if (cur_len > 0) {                                                       \
			if (d->nseq == scap) {                                           \
				scap = scap ? 2 * scap : 4096;                           \
				d->seq_start = realloc(d->seq_start, (size_t)scap * sizeof *d->seq_start); \
				d->seq_len = realloc(d->seq_len, (size_t)scap * sizeof *d->seq_len); \
			}                                                                \
			d->seq_start[d->nseq] = cur_start;                               \
			d->seq_len[d->nseq++] = cur_len;                                 \
		}                                                                        \
		cur_start = d->ntokens;                                                  \
		cur_len = 0;                                                             \
	} while (0)
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		int np = pofa_tokenize(tk, (const char *)buf + i, (long)(j - i), &pc, &pcap, NULL);
		i = j + 1;
		if (np < 0) {
			free(buf);
			free(pc);
			pofa_mlm_free(d);
			return pofa_error(err, POFA_ERR_RUN, "out of memory");
		}
		if (np == 0)
			continue;
		if (d->ntokens + np > tcap) {
			tcap = tcap ? 2 * tcap : 1 << 20;
			while (tcap < d->ntokens + np)
				tcap *= 2;
			d->tokens = realloc(d->tokens, (size_t)tcap * sizeof *d->tokens);
			d->word_start = realloc(d->word_start, (size_t)tcap);
		}
		/* a sentence that does not fit closes the sequence; one longer
		 * than a whole sequence is cut into sequence-sized pieces */
		if (cur_len + np > room)
			FLUSH();
		for (int k = 0; k < np; k++) {
			if (cur_len == room)
				FLUSH();
			d->word_start[d->ntokens] = (unsigned char)(k == 0 || pc[k].word != pc[k - 1].word);
			d->tokens[d->ntokens++] = pc[k].id;
			cur_len++;
		}
	}
	FLUSH();
#undef FLUSH
	free(pc);
	free(buf);
	if (d->nseq == 0) {
		pofa_mlm_free(d);
		return pofa_error(err, POFA_ERR_INPUT, "%s: no text in the corpus", corpus);
	}
	d->train = malloc((size_t)d->nseq * sizeof *d->train);
	d->dev = malloc((size_t)d->nseq * sizeof *d->dev);
	d->order = malloc((size_t)d->nseq * sizeof *d->order);
	for (long s = 0; s < d->nseq; s++) {
		/* about 1% for dev, by a hash of the sequence's place */
		if (d->nseq >= 100 && pofa_mix64((uint64_t)s ^ 0xdef) % 100 == 0)
			d->dev[d->ndev++] = s;
		else
			d->train[d->ntrain++] = s;
	}
	mlm_order(d);
	return POFA_OK;
}

void pofa_mlm_mask(const pofa_mlm_data *d, long seq, long epoch, int *ids, int *types, int *mask,
                   int *labels)
{
	pofa_rng r = { pofa_mix64(d->seed ^ pofa_mix64((uint64_t)epoch * 0x100000001b3ULL + (uint64_t)seq)) };
	const int *tok = d->tokens + d->seq_start[seq];
	const unsigned char *ws = d->word_start + d->seq_start[seq];
	int len = d->seq_len[seq], T = d->T;
	ids[0] = d->cls;
	labels[0] = POFA_IGNORE;
	int chosen_word = 0;
	for (int i = 0; i < len; i++) {
		int id = tok[i], chosen;
		if (d->whole_word) {
			if (ws[i])
				chosen_word = pofa_rng_uniform(&r) < d->mask_prob;
			chosen = chosen_word;
		} else {
			chosen = pofa_rng_uniform(&r) < d->mask_prob;
		}
		if (pofa_tok_is_special(d->tk, id))
			chosen = 0;
		labels[1 + i] = chosen ? id : POFA_IGNORE;
		if (chosen) {
			float u = pofa_rng_uniform(&r);
			if (u < 0.8f) {
				id = d->mask_id;
			} else if (u < 0.9f) {
				/* a random token that is not special */
				do
					id = (int)(pofa_rng_next(&r) % (uint64_t)d->vocab);
				while (pofa_tok_is_special(d->tk, id));
			}
		}
		ids[1 + i] = id;
	}
	ids[len + 1] = d->sep;
	labels[len + 1] = POFA_IGNORE;
	for (int i = 0; i < T; i++) {
		types[i] = 0;
		mask[i] = i < len + 2;
		if (i >= len + 2) {
			ids[i] = d->pad;
			labels[i] = POFA_IGNORE;
		}
	}
}

static void mlm_order(pofa_mlm_data *d)
{
	memcpy(d->order, d->train, (size_t)d->ntrain * sizeof *d->order);
	pofa_shuffle(d->order, d->ntrain, pofa_mix64(d->seed ^ 0x5151 ^ (uint64_t)d->epoch * 0x9e37));
}

void pofa_mlm_seek(pofa_mlm_data *d, long epoch, long cursor)
{
	d->epoch = epoch;
	d->cursor = cursor;
	mlm_order(d);
}

void pofa_mlm_next(pofa_mlm_data *d, int B, int *ids, int *types, int *mask, int *labels)
{
	int T = d->T;
	for (int b = 0; b < B; b++) {
		if (d->cursor >= d->ntrain) {
			d->epoch++;
			d->cursor = 0;
			mlm_order(d);
		}
		long s = d->order[d->cursor++];
		size_t o = (size_t)b * T;
		pofa_mlm_mask(d, s, d->epoch, ids + o, types + o, mask + o, labels + o);
	}
}

int pofa_mlm_dev(pofa_mlm_data *d, long k, int B, int *ids, int *types, int *mask, int *labels)
{
	int T = d->T, filled = 0;
	for (int b = 0; b < B; b++) {
		long i = k * B + b;
		size_t o = (size_t)b * T;
		if (i >= d->ndev) {
			for (int t = 0; t < T; t++) {
				ids[o + t] = d->pad;
				types[o + t] = mask[o + t] = 0;
				labels[o + t] = POFA_IGNORE;
			}
			continue;
		}
		/* dev masks are fixed: epoch -1 */
		pofa_mlm_mask(d, d->dev[i], -1, ids + o, types + o, mask + o, labels + o);
		filled++;
	}
	return filled;
}

/* ---- metrics --------------------------------------------------------------------- */

double pofa_accuracy(const int *pred, const int *gold, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += pred[i] == gold[i];
	return n ? (double)ok / n : 0.0;
}

static double f1_of(long tp, long fp, long fn)
{
	if (tp == 0)
		return 0.0;
	double p = (double)tp / (tp + fp), r = (double)tp / (tp + fn);
	return 2 * p * r / (p + r);
}

double pofa_binary_f1(const int *pred, const int *gold, int n, int positive)
{
	long tp = 0, fp = 0, fn = 0;
	for (int i = 0; i < n; i++) {
		tp += pred[i] == positive && gold[i] == positive;
		fp += pred[i] == positive && gold[i] != positive;
		fn += pred[i] != positive && gold[i] == positive;
	}
	return f1_of(tp, fp, fn);
}

/* macro-F1 over the classes present in gold or predictions (as
 * scikit-learn's f1_score(average="macro") with the labels it sees) */
double pofa_macro_f1(const int *pred, const int *gold, int n, int nclasses)
{
	double sum = 0.0;
	int seen = 0;
	for (int c = 0; c < nclasses; c++) {
		long tp = 0, fp = 0, fn = 0;
		for (int i = 0; i < n; i++) {
			tp += pred[i] == c && gold[i] == c;
			fp += pred[i] == c && gold[i] != c;
			fn += pred[i] != c && gold[i] == c;
		}
		if (tp + fp + fn == 0)
			continue;
		sum += f1_of(tp, fp, fn);
		seen++;
	}
	return seen ? sum / seen : 0.0;
}

void pofa_squad_normalize(const char *s, char *out, size_t outsz)
{
	/* lower case; drop ASCII punctuation (string.punctuation) */
	sbuf a = { 0 };
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t c;
	for (;;) {
		utf8proc_ssize_t k = utf8proc_iterate(p, -1, &c);
		if (k <= 0 || c == 0)
			break;
		p += k;
		if (c < 128 && ispunct(c))
			continue;
		utf8proc_uint8_t enc[4];
		utf8proc_ssize_t l = utf8proc_encode_char(utf8proc_tolower(c), enc);
		sbuf_put(&a, (const char *)enc, (size_t)l);
	}
	/* drop the articles a, an, the as words; collapse whitespace */
	size_t o = 0;
	const char *t = a.s ? a.s : "";
	while (*t) {
		while (*t && isspace((unsigned char)*t))
			t++;
		const char *w = t;
		while (*t && !isspace((unsigned char)*t))
			t++;
		size_t wl = (size_t)(t - w);
		if (!wl || (wl == 1 && !strncmp(w, "a", 1)) || (wl == 2 && !strncmp(w, "an", 2)) ||
		    (wl == 3 && !strncmp(w, "the", 3)))
			continue;
		if (o && o + 1 < outsz)
			out[o++] = ' ';
		for (size_t i = 0; i < wl && o + 1 < outsz; i++)
			out[o++] = w[i];
	}
	if (outsz)
		out[o < outsz ? o : outsz - 1] = 0;
	sbuf_free(&a);
}

double pofa_squad_em(const char *pred, const char *const *gold, int ngold)
{
	char a[2048], b[2048];
	pofa_squad_normalize(pred, a, sizeof a);
	for (int i = 0; i < ngold; i++) {
		pofa_squad_normalize(gold[i], b, sizeof b);
		if (!strcmp(a, b))
			return 1.0;
	}
	return 0.0;
}

static int split_words(char *s, char **w, int max)
{
	int n = 0;
	for (char *t = strtok(s, " "); t && n < max; t = strtok(NULL, " "))
		w[n++] = t;
	return n;
}

double pofa_squad_f1(const char *pred, const char *const *gold, int ngold)
{
	char a[2048], b[2048];
	char *pw[512], *gw[512];
	double best = 0.0;
	for (int g = 0; g < ngold; g++) {
		pofa_squad_normalize(pred, a, sizeof a);
		pofa_squad_normalize(gold[g], b, sizeof b);
		int np = split_words(a, pw, 512), ng = split_words(b, gw, 512);
		if (np == 0 || ng == 0) {
			/* official script: F1 = (both empty) */
			best = fmax(best, np == ng ? 1.0 : 0.0);
			continue;
		}
		/* common = multiset intersection */
		int used[512] = { 0 }, common = 0;
		for (int i = 0; i < np; i++)
			for (int j = 0; j < ng; j++)
				if (!used[j] && !strcmp(pw[i], gw[j])) {
					used[j] = 1;
					common++;
					break;
				}
		if (common == 0)
			continue;
		double p = (double)common / np, r = (double)common / ng;
		best = fmax(best, 2 * p * r / (p + r));
	}
	return best;
}
