/*
 * predict.c - a model folder as a library call (predict.h): texts encoded
 * (WordPiece, [MASK] kept as the token), run forward-only in batches, and
 * read out as labels, an answer span, or the fillers of each [MASK].
 *
 * Threads: the weights are loaded once (a model only read from then on); a
 * call takes a free context - a model sharing those weights with
 * activations and a thread pool of its own (pofa_infer_share), and its
 * buffers - or makes one. The tokenizer keeps scratch of its own, so encoding takes a
 * lock; the forward passes run at the same time.
 */
#include "engine/infer/predict.h"
#include "engine/infer/infer.h"
#include "engine/model/folder.h"
#include "data/text/tokenizer.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one encoded input */
typedef struct {
	int len;
	int masks_cut;
	int *ids, *types, *start, *end, *seg;
} input;

typedef struct ctx {
	pofa_infer *inf;
	input *in;                  /* maxB of them, over store */
	int *store;
	int *ids, *types, *mask, *mlm;   /* the batch, maxB x maxT */
	pofa_encoding enc;
	pofa_piece *pieces;
	int pcap;
	double *prob;               /* vocabulary or labels */
	struct ctx *next;           /* on the free list */
	struct ctx *all;            /* every context, to close */
} ctx;

struct pofa_predictor {
	pofa_tokenizer *tk;
	pofa_infer *base;           /* the weights, never run (contexts share them) */
	enum pofa_head head;
	pofa_config cfg;
	int maxT, maxB, top_labels, top_fill, single;
	pthread_mutex_t lock;       /* the free list, and the tokenizer */
	ctx *free, *all;
};

/* ---- contexts ------------------------------------------------------------- */

static void ctx_free(ctx *c)
{
	if (!c)
		return;
	free(c->in);
	free(c->store);
	free(c->ids);
	free(c->types);
	free(c->mask);
	free(c->mlm);
	free(c->pieces);
	free(c->prob);
	pofa_encoding_free(&c->enc);
	free(c);
}

static ctx *ctx_new(pofa_predictor *p, pofa_infer *inf, pofa_err *err)
{
	ctx *c = calloc(1, sizeof *c);
	size_t bt = (size_t)p->maxB * p->maxT, np = p->head == POFA_HEAD_MLM ? (size_t)p->cfg.vocab_size
	                                                                     : (size_t)p->cfg.num_labels + 1;
	if (c) {
		c->in = calloc((size_t)p->maxB, sizeof *c->in);
		c->store = calloc(bt * 5, sizeof *c->store);
		c->ids = calloc(bt, sizeof *c->ids);
		c->types = calloc(bt, sizeof *c->types);
		c->mask = calloc(bt, sizeof *c->mask);
		c->mlm = calloc(bt, sizeof *c->mlm);
		c->prob = calloc(np, sizeof *c->prob);
	}
	if (!c || !c->in || !c->store || !c->ids || !c->types || !c->mask || !c->mlm || !c->prob ||
	    pofa_encoding_init(&c->enc, p->maxT)) {
		ctx_free(c);
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	for (int i = 0; i < p->maxB; i++) {
		int *s = c->store + (size_t)i * p->maxT * 5;
		c->in[i] = (input){ .ids = s, .types = s + p->maxT, .start = s + 2 * p->maxT, .end = s + 3 * p->maxT,
		                    .seg = s + 4 * p->maxT };
	}
	c->inf = inf;
	return c;
}

/* a free context, or a new one: a model on the loaded weights (the loaded
 * model itself only ever read, so that a context is made from it while
 * others run) */
static ctx *ctx_take(pofa_predictor *p, pofa_err *err)
{
	pthread_mutex_lock(&p->lock);
	ctx *c = p->free;
	if (c)
		p->free = c->next;
	pthread_mutex_unlock(&p->lock);
	if (c)
		return c;
	pofa_infer *inf = pofa_infer_share(p->base, err);
	c = inf ? ctx_new(p, inf, err) : NULL;
	if (!c) {
		pofa_infer_free(inf);
		return NULL;
	}
	pthread_mutex_lock(&p->lock);
	c->all = p->all;
	p->all = c;
	pthread_mutex_unlock(&p->lock);
	return c;
}

static void ctx_give(pofa_predictor *p, ctx *c)
{
	pthread_mutex_lock(&p->lock);
	c->next = p->free;
	p->free = c;
	pthread_mutex_unlock(&p->lock);
}

/* ---- opening ---------------------------------------------------------------- */

pofa_predictor *pofa_predictor_open(const char *dir, const pofa_predictor_opts *o, pofa_err *err)
{
	pofa_predictor_opts d = { 0 };
	if (!o)
		o = &d;
	pofa_predictor *p = calloc(1, sizeof *p);
	pofa_trained *tr = calloc(1, sizeof *tr);
	if (!p || !tr) {
		free(p);
		free(tr);
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	enum pofa_head head;
	int rc = pofa_model_dir_head(dir, &p->cfg, &head, err);
	int T = o->seq > 0 ? o->seq : 0, trc = rc ? 0 : pofa_trained_load(dir, tr, err);
	if (!rc && trc != 0 && trc != 1)
		rc = err->status;
	if (!rc) {
		if (!T && trc == 0 && tr->seq > 0)
			T = tr->seq;
		if (!T)
			T = p->cfg.max_position_embeddings < 512 ? p->cfg.max_position_embeddings : 512;
		if (T > p->cfg.max_position_embeddings)
			T = p->cfg.max_position_embeddings;
		p->single = trc == 0 && tr->has_task && !tr->task.text_b[0] && head == POFA_HEAD_CLS;
		p->head = head;
		p->maxT = T < 3 ? 3 : T;
		p->maxB = o->batch > 0 ? o->batch : 16;
		p->top_labels = o->top > 0 ? o->top : 1;
		if (p->top_labels > p->cfg.num_labels && head == POFA_HEAD_CLS)
			p->top_labels = p->cfg.num_labels;
		p->top_fill = o->top > 0 ? o->top : 5;
		char path[4200];
		snprintf(path, sizeof path, "%s/vocab.txt", dir);
		p->tk = pofa_tokenizer_load(path, POFA_CASE_AUTO, err);
		if (!p->tk)
			rc = err->status;
		else if (pofa_vocab_size(p->tk) != p->cfg.vocab_size)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s has %d tokens, but %s/config.json says vocab_size %d: the "
			                "model and its vocabulary do not belong together", path, pofa_vocab_size(p->tk), dir,
			                p->cfg.vocab_size);
	}
	if (!rc) {
		pofa_infer_opts io = { .maxB = p->maxB, .maxT = p->maxT, .threads = o->threads > 0 ? o->threads : 1,
		                       .int8 = o->float32 ? POFA_INT8_OFF : POFA_INT8_AUTO, .force_fmt = -1, .cpu = -1 };
		p->base = pofa_infer_open(dir, &io, err);
		if (!p->base)
			rc = err->status;
		else if (pofa_infer_head(p->base) != head)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: its weights are not for a %s head", dir,
			                pofa_head_names[head]);
		else
			p->cfg = *pofa_infer_config(p->base);
	}
	free(tr);
	if (rc) {
		pofa_predictor_close(p);
		return NULL;
	}
	return p;
}

void pofa_predictor_close(pofa_predictor *p)
{
	if (!p)
		return;
	for (ctx *c = p->all, *n; c; c = n) {
		n = c->all;
		pofa_infer_free(c->inf);
		ctx_free(c);
	}
	pofa_infer_free(p->base);
	pofa_tokenizer_free(p->tk);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

enum pofa_head pofa_predictor_head(const pofa_predictor *p) { return p->head; }
const pofa_config *pofa_predictor_config(const pofa_predictor *p) { return &p->cfg; }
int pofa_predictor_seq(const pofa_predictor *p) { return p->maxT; }
int pofa_predictor_single(const pofa_predictor *p) { return p->single; }

const char *pofa_predictor_label(const pofa_predictor *p, int id)
{
	if (id < 0 || id >= p->cfg.num_labels || id >= 64 || !p->cfg.label_names[id][0])
		return NULL;
	return p->cfg.label_names[id];
}

const char *pofa_predictor_token(const pofa_predictor *p, int id)
{
	return id >= 0 && id < p->cfg.vocab_size ? pofa_vocab_token(p->tk, id) : NULL;
}

/* ---- encoding --------------------------------------------------------------- */

/* a masked-LM input: [CLS] the text, every literal [MASK] its token, [SEP] */
static int encode_mlm(pofa_predictor *p, ctx *c, input *in, const char *a, long na)
{
	int cls = pofa_tok_cls(p->tk), sep = pofa_tok_sep(p->tk), msk = pofa_tok_mask(p->tk), n = 0;
	in->ids[n] = cls;
	in->start[n] = in->end[n] = -1;
	n++;
	const char *s = a, *e = a + na;
	in->masks_cut = 0;
	while (s <= e && n < p->maxT - 1) {
		const char *m = NULL;
		for (const char *q = s; q + 6 <= e; q++)
			if (!memcmp(q, "[MASK]", 6)) {
				m = q;
				break;
			}
		long seg = (m ? m : e) - s;
		int np = pofa_tokenize(p->tk, s, seg, &c->pieces, &c->pcap, NULL);
		if (np < 0)
			return -1;
		for (int k = 0; k < np && n < p->maxT - 1; k++, n++) {
			in->ids[n] = c->pieces[k].id;
			in->start[n] = (int)(s - a) + c->pieces[k].start;
			in->end[n] = (int)(s - a) + c->pieces[k].end;
		}
		if (!m)
			break;
		if (n < p->maxT - 1) {
			in->ids[n] = msk;
			in->start[n] = (int)(m - a);
			in->end[n] = in->start[n] + 6;
			n++;
		} else {
			in->masks_cut++;
		}
		s = m + 6;
	}
	/* the masks the loop did not reach: past the sequence too */
	for (const char *q = s; q + 6 <= e; q++)
		if (!memcmp(q, "[MASK]", 6))
			in->masks_cut++, q += 5;
	in->ids[n] = sep;
	in->start[n] = in->end[n] = -1;
	n++;
	for (int k = 0; k < n; k++) {
		in->types[k] = 0;
		in->seg[k] = in->start[k] >= 0 ? 0 : -1;
	}
	in->len = n;
	return 0;
}

static int encode(pofa_predictor *p, ctx *c, input *in, const pofa_text *t)
{
	long na = t->na >= 0 ? t->na : (long)strlen(t->a), nb = t->b ? (t->nb >= 0 ? t->nb : (long)strlen(t->b)) : 0;
	pthread_mutex_lock(&p->lock);
	int rc = 0;
	if (p->head == POFA_HEAD_MLM) {
		rc = encode_mlm(p, c, in, t->a, na);
	} else if (pofa_encode(p->tk, t->a, na, t->b, nb, p->maxT, 0, &c->enc) < 0) {
		rc = -1;
	} else {
		in->len = c->enc.len;
		in->masks_cut = 0;
		size_t bytes = (size_t)in->len * sizeof *in->ids;
		memcpy(in->ids, c->enc.ids, bytes);
		memcpy(in->types, c->enc.type_ids, bytes);
		memcpy(in->start, c->enc.start, bytes);
		memcpy(in->end, c->enc.end, bytes);
		memcpy(in->seg, c->enc.seq, bytes);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ---- reading the outputs ---------------------------------------------------- */

/* softmax of n logits into prob */
static void softmax(const float *z, int n, double *prob)
{
	int best = 0;
	for (int k = 1; k < n; k++)
		if (z[k] > z[best])
			best = k;
	double sum = 0.0;
	for (int k = 0; k < n; k++)
		sum += (prob[k] = exp((double)z[k] - z[best]));
	for (int k = 0; k < n; k++)
		prob[k] /= sum;
}

/* the k likeliest of n (skip: ids left out, may be NULL), best first, the
 * lower id first on a tie; returns how many */
static int top_k(const double *prob, int n, int k, const pofa_predictor *p, int skip_special, pofa_scored *out)
{
	int got = 0;
	for (int v = 0; v < n; v++) {
		if (skip_special && pofa_tok_is_special(p->tk, v))
			continue;
		int j = got < k ? got++ : k;
		while (j > 0 && prob[v] > out[j - 1].prob) {
			if (j < k)
				out[j] = out[j - 1];
			j--;
		}
		if (j < k)
			out[j] = (pofa_scored){ v, prob[v] };
	}
	return got;
}

static int read_cls(pofa_predictor *p, ctx *c, int b, const float *lg, pofa_prediction *r)
{
	int nl = p->cfg.num_labels;
	r->best = malloc((size_t)p->top_labels * sizeof *r->best);
	if (!r->best)
		return -1;
	softmax(lg + (size_t)b * nl, nl, c->prob);
	r->k = top_k(c->prob, nl, p->top_labels, p, 0, r->best);
	return 0;
}

/* the best span of the context (the second text, or the only one): start
 * and end logits summed, at most 30 tokens */
static void read_span(const input *in, int has_b, int b, int T, const float *lg, pofa_prediction *r)
{
	int ctxseg = has_b ? 1 : 0, bs = -1, be = -1;
	double best = -INFINITY;
	for (int s = 0; s < in->len; s++) {
		if (in->seg[s] != ctxseg)
			continue;
		for (int e = s; e < in->len && e < s + 30; e++) {
			if (in->seg[e] != ctxseg)
				break;
			double v = (double)lg[((size_t)b * T + s) * 2] + lg[((size_t)b * T + e) * 2 + 1];
			if (v > best) {
				best = v;
				bs = s;
				be = e;
			}
		}
	}
	r->start = bs >= 0 ? in->start[bs] : -1;
	r->end = bs >= 0 ? in->end[be] : -1;
	r->score = bs >= 0 ? best : 0.0;
}

static int read_mlm(pofa_predictor *p, ctx *c, const input *in, int b, int T, const float *lg, const int *pos,
                    int rows, pofa_prediction *r)
{
	int V = p->cfg.vocab_size, nm = 0;
	for (int q = 0; q < rows; q++)
		nm += pos[q] / T == b;
	r->masks_cut = in->masks_cut;
	r->best = malloc(((size_t)nm * p->top_fill + 1) * sizeof *r->best);
	if (!r->best)
		return -1;
	r->k = p->top_fill;
	for (int q = 0, m = 0; q < rows; q++) {
		if (pos[q] / T != b)
			continue;
		softmax(lg + (size_t)q * V, V, c->prob);
		/* fewer than top_fill tokens that are not special: every mask the same */
		int got = top_k(c->prob, V, p->top_fill, p, 1, r->best + (size_t)m * p->top_fill);
		r->k = got < r->k ? got : r->k;
		m++;
	}
	r->nmasks = nm;
	if (!nm)
		r->k = 0;
	if (r->k < p->top_fill)   /* k a mask, without gaps */
		for (int m = 1; m < nm; m++)
			memmove(r->best + (size_t)m * r->k, r->best + (size_t)m * p->top_fill, (size_t)r->k * sizeof *r->best);
	return 0;
}

/* ---- predicting ------------------------------------------------------------- */

/* n (<= maxB) inputs, padded to the longest, run once */
static int run_batch(pofa_predictor *p, ctx *c, const pofa_text *t, int n, pofa_prediction *out, pofa_err *err)
{
	int T = 1;
	for (int i = 0; i < n; i++) {
		if (encode(p, c, &c->in[i], &t[i]))
			return pofa_error(err, POFA_ERR_RUN, "out of memory");
		T = c->in[i].len > T ? c->in[i].len : T;
	}
	int pad = pofa_tok_pad(p->tk), msk = pofa_tok_mask(p->tk);
	for (int i = 0; i < n; i++)
		for (int s = 0; s < T; s++) {
			int in_seq = s < c->in[i].len;
			size_t k = (size_t)i * T + s;
			c->ids[k] = in_seq ? c->in[i].ids[s] : pad;
			c->types[k] = in_seq ? c->in[i].types[s] : 0;
			c->mask[k] = in_seq;
			c->mlm[k] = in_seq && c->ids[k] == msk ? 0 : POFA_IGNORE;
		}
	pofa_batch b = { .B = n, .T = T, .input_ids = c->ids, .token_type_ids = c->types, .attention_mask = c->mask,
	                 .mlm_labels = c->mlm };
	int rc = pofa_infer_forward(c->inf, &b, err);
	if (rc)
		return rc;
	int rows, cols;
	const float *lg = pofa_infer_logits(c->inf, &rows, &cols);
	for (int i = 0; i < n && !rc; i++) {
		pofa_prediction *r = &out[i];
		memset(r, 0, sizeof *r);
		r->start = r->end = -1;
		if (p->head == POFA_HEAD_CLS)
			rc = read_cls(p, c, i, lg, r);
		else if (p->head == POFA_HEAD_SPAN)
			read_span(&c->in[i], t[i].b != NULL, i, T, lg, r);
		else
			rc = read_mlm(p, c, &c->in[i], i, T, lg, pofa_infer_logit_positions(c->inf), rows, r);
	}
	return rc ? pofa_error(err, POFA_ERR_RUN, "out of memory") : POFA_OK;
}

int pofa_predict(pofa_predictor *p, const pofa_text *in, int n, pofa_prediction *out, pofa_err *err)
{
	if (n <= 0)
		return POFA_OK;
	memset(out, 0, (size_t)n * sizeof *out);
	ctx *c = ctx_take(p, err);
	if (!c)
		return err->status;
	int rc = POFA_OK;
	for (int i = 0; i < n && !rc; i += p->maxB)
		rc = run_batch(p, c, in + i, n - i < p->maxB ? n - i : p->maxB, out + i, err);
	ctx_give(p, c);
	if (rc)
		pofa_prediction_free(out, n);
	return rc;
}

void pofa_prediction_free(pofa_prediction *out, int n)
{
	for (int i = 0; out && i < n; i++) {
		free(out[i].best);
		out[i].best = NULL;
	}
}
