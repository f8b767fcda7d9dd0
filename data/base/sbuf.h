/* sbuf.h - a growing byte buffer, always NUL-terminated. */
#ifndef POFA_BASE_SBUF_H
#define POFA_BASE_SBUF_H

#include <stddef.h>

typedef struct pofa_sbuf { char *s; size_t n, cap; } pofa_sbuf;

/* 0, or -1 when out of memory (the buffer keeps what it had) */
int pofa_sbuf_put(pofa_sbuf *b, const char *s, size_t n);
int pofa_sbuf_str(pofa_sbuf *b, const char *s);
int pofa_sbuf_chr(pofa_sbuf *b, char c);
void pofa_sbuf_free(pofa_sbuf *b);

#endif
