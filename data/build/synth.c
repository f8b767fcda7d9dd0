/* synth.c - synthetic token streams (see synth.h). */
#include "data/build/synth.h"
#include "data/base/fileio.h"
#include "data/base/rng.h"
#include "data/base/util.h"

#include <string.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t next(pofa_synth *s) { s->state += 0x9e3779b97f4a7c15ULL; return pofa_mix64(s->state); }
static int below(pofa_synth *s, int n) { return (int)((next(s) >> 33) % (uint64_t)n); }

int pofa_synth_init(pofa_synth *s, int vocab_size, uint64_t seed)
{
	memset(s, 0, sizeof *s);
	if (vocab_size < POFA_SYNTH_FIRST + 16)
		return -1;
	s->V = vocab_size;
	s->state = seed * 0x2545f4914f6cdd1dULL + 1;
	int body = vocab_size - POFA_SYNTH_FIRST;
	s->per_topic = 32;
	s->topics = POFA_MIN(64, body / s->per_topic);
	s->succ = malloc((size_t)s->topics * s->per_topic * sizeof *s->succ);
	if (!s->succ)
		return -1;
	for (int t = 0; t < s->topics; t++)
		for (int i = 0; i < s->per_topic; i++)
			s->succ[t * s->per_topic + i] = below(s, s->per_topic);
	return 0;
}

void pofa_synth_free(pofa_synth *s) { free(s->succ); s->succ = NULL; }

void pofa_synth_batch(pofa_synth *s, int B, int T, int vary_len, int *ids, int *types, int *mask, int *labels)
{
	for (int b = 0; b < B; b++) {
		int *id = ids + (size_t)b * T, *ty = types + (size_t)b * T;
		int *mk = mask + (size_t)b * T, *lb = labels + (size_t)b * T;
		int len = vary_len && T > 8 ? T / 2 + below(s, T - T / 2 + 1) : T;
		int topic = below(s, s->topics), cur = below(s, s->per_topic);
		int base = POFA_SYNTH_FIRST + topic * s->per_topic;
		for (int t = 0; t < T; t++) {
			ty[t] = 0;
			lb[t] = POFA_IGNORE;
			mk[t] = t < len;
			if (t >= len) {
				id[t] = POFA_SYNTH_PAD;
			} else if (t == 0) {
				id[t] = POFA_SYNTH_CLS;
			} else if (t == len - 1) {
				id[t] = POFA_SYNTH_SEP;
			} else {
				cur = below(s, 4) ? s->succ[topic * s->per_topic + cur] : below(s, s->per_topic);
				id[t] = base + cur;
				if (below(s, 100) < 15) {
					lb[t] = id[t];
					int r = below(s, 10);
					if (r < 8)
						id[t] = POFA_SYNTH_MASK;
					else if (r == 8)
						id[t] = POFA_SYNTH_FIRST + below(s, s->V - POFA_SYNTH_FIRST);
				}
			}
		}
	}
}

int pofa_synth_write_vocab(const char *path, int vocab_size, pofa_err *err)
{
	static const char *spec[POFA_SYNTH_FIRST] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
	size_t cap = (size_t)vocab_size * 12 + 64, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	for (int i = 0; i < vocab_size; i++)
		n += (size_t)(i < POFA_SYNTH_FIRST ? snprintf(buf + n, cap - n, "%s\n", spec[i])
		                              : snprintf(buf + n, cap - n, "w%d\n", i));
	int rc = pofa_write_atomic(path, buf, n, err);
	free(buf);
	return rc;
}
