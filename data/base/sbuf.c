/* pofa_sbuf.c - a growing byte buffer (see pofa_sbuf.h). */
#include "data/base/sbuf.h"
#include "data/base/mem.h"

#include <stdlib.h>
#include <string.h>

int pofa_sbuf_put(pofa_sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 4096;
		while (c < b->n + n + 1)
			c *= 2;
		if (pofa_resize(&b->s, c, 1))
			return -1;
		b->cap = c;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
	return 0;
}

int pofa_sbuf_str(pofa_sbuf *b, const char *s) { return pofa_sbuf_put(b, s, strlen(s)); }
int pofa_sbuf_chr(pofa_sbuf *b, char c) { return pofa_sbuf_put(b, &c, 1); }
void pofa_sbuf_free(pofa_sbuf *b) { free(b->s); memset(b, 0, sizeof *b); }
