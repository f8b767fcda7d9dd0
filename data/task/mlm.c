/* mlm.c - masked-LM batches from a corpus (see loaders.h). */
#include "data/task/loaders.h"
#include "data/base/mem.h"
#include "data/base/fileio.h"
#include "data/base/util.h"

#include "data/base/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- MLM --------------------------------------------------------------------- */

void pofa_mlm_free(pofa_mlm_data *d)
{
	free(d->tokens);
	free(d->seq_start);
	free(d->seq_len);
	free(d->seq_b);
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
	pofa_piece *pc = NULL, *pb = NULL;
	int pcap = 0, pbcap = 0;
	long tcap = 0, scap = 0;
	int room = T - 2;
	long cur_start = 0;
	int cur_len = 0, cur_b = 0;
	int oom = 0;
	/* the sequence so far closes (an entry of seq_start, seq_len) */
#define FLUSH()                                                                                        \
	do {                                                                                           \
		if (cur_len > 0 && d->nseq == scap) {                                                  \
			scap = scap ? 2 * scap : 4096;                                                 \
			oom |= pofa_resize(&d->seq_start, (size_t)scap, sizeof *d->seq_start) ||       \
			       pofa_resize(&d->seq_len, (size_t)scap, sizeof *d->seq_len) ||          \
			       pofa_resize(&d->seq_b, (size_t)scap, sizeof *d->seq_b);                \
		}                                                                                      \
		if (cur_len > 0 && !oom) {                                                             \
			d->seq_start[d->nseq] = cur_start;                                             \
			d->seq_b[d->nseq] = cur_b;                                                     \
			d->seq_len[d->nseq++] = cur_len;                                               \
		}                                                                                      \
		cur_start = d->ntokens;                                                                \
		cur_len = cur_b = 0;                                                                   \
	} while (0)
	for (size_t i = 0; i < n && !oom;) {
		size_t j = i;
		while (j < n && buf[j] != '\n')
			j++;
		const char *line = (const char *)buf + i, *tab = memchr(line, '\t', j - i);
		int np = pofa_tokenize(tk, line, tab ? (long)(tab - line) : (long)(j - i), &pc, &pcap, NULL);
		int nb = tab && np >= 0 ? pofa_tokenize(tk, tab + 1, (long)((const char *)buf + j - tab - 1), &pb, &pbcap, NULL)
		                        : 0;
		i = j + 1;
		oom = np < 0 || nb < 0;
		if (oom || np + nb <= 0)
			continue;
		if (d->ntokens + np + nb + 1 > tcap) {
			tcap = tcap ? 2 * tcap : 1 << 20;
			while (tcap < d->ntokens + np + nb + 1)
				tcap *= 2;
			if (pofa_resize(&d->tokens, (size_t)tcap, sizeof *d->tokens) ||
			    pofa_resize(&d->word_start, (size_t)tcap, 1)) {
				oom = 1;
				break;
			}
		}
		if (tab && np > 0 && nb > 0) {
			/* a pair: A [SEP] B, a sequence of its own, the longer cut first */
			FLUSH();
			while (np + nb > room - 1)
				*(np > nb ? &np : &nb) -= 1;
			for (int k = 0; k < np + 1 + nb; k++) {
				const pofa_piece *q = k < np ? &pc[k] : k > np ? &pb[k - np - 1] : NULL;
				int first = !q || k == 0 || k == np + 1 || q->word != q[-1].word;
				d->word_start[d->ntokens] = (unsigned char)first;
				d->tokens[d->ntokens++] = q ? q->id : d->sep;
			}
			cur_len = np + 1 + nb;
			cur_b = np + 1;
			FLUSH();
			continue;
		}
		if (tab && np == 0) {   /* a pair with one segment empty: its other, as a sentence */
			pofa_piece *sw = pc;
			pc = pb;
			pb = sw;
			int c = pcap;
			pcap = pbcap;
			pbcap = c;
			np = nb;
		}
		/* a sentence that does not fit closes the sequence; one longer
		 * than a whole sequence is cut into sequence-sized pieces */
		if (cur_len + np > room)
			FLUSH();
		for (int k = 0; k < np && !oom; k++) {
			if (cur_len == room)
				FLUSH();
			d->word_start[d->ntokens] = (unsigned char)(k == 0 || pc[k].word != pc[k - 1].word);
			d->tokens[d->ntokens++] = pc[k].id;
			cur_len++;
		}
	}
	if (!oom)
		FLUSH();
#undef FLUSH
	free(pc);
	free(pb);
	free(buf);
	if (oom) {
		pofa_mlm_free(d);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", corpus);
	}
	if (d->nseq == 0) {
		pofa_mlm_free(d);
		return pofa_error(err, POFA_ERR_INPUT, "%s: no text in the corpus", corpus);
	}
	d->train = malloc((size_t)d->nseq * sizeof *d->train);
	d->dev = malloc((size_t)d->nseq * sizeof *d->dev);
	d->order = malloc((size_t)d->nseq * sizeof *d->order);
	if (!d->train || !d->dev || !d->order) {
		pofa_mlm_free(d);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", corpus);
	}
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
	int b = d->seq_b[seq];   /* a pair: B and its [SEP] are segment 1 */
	for (int i = 0; i < T; i++) {
		types[i] = b > 0 && i >= 1 + b && i <= len + 1;
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
