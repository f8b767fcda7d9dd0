/*
 * fileio.h - files read whole with a size limit (untrusted input), files
 * written atomically (temp file, fsync, rename, fsync of the folder), and
 * folders made with their parents.
 */
#ifndef POFA_BASE_FILEIO_H
#define POFA_BASE_FILEIO_H

#include "data/base/error.h"

#include <stddef.h>
#include <stdio.h>

/* the longest line a line-oriented input may have (pofa predict's and
 * tokenize's input, task files, themes, pofa.conf), unless a command says
 * otherwise (predict --max-line) */
#define POFA_LINE_MAX ((size_t)1 << 20)

/* The whole regular file at path, NUL-terminated, at most max bytes. */
int pofa_read_file(const char *path, unsigned char **buf, size_t *n, size_t max, pofa_err *err);
/* A reader sees the old file or the new one, never a torn one. */
int pofa_write_atomic(const char *path, const void *data, size_t n, pofa_err *err);
/* Before a command writes path (atomically, as the above does): refused
 * with POFA_ERR_INPUT when it exists and is not a regular file (a device,
 * a FIFO, a directory, a symbolic link: the rename would replace it with a
 * plain file), when its folder does not exist, or when it is one of the
 * command's n inputs (the same file under any name). Missing inputs are
 * passed over. */
int pofa_output_ok(const char *path, const char *const *inputs, int n, pofa_err *err);
/* A text read a line at a time, every line bounded: */
typedef struct pofa_lines {
	FILE *f;
	const char *name;     /* for messages: the file, or "standard input" */
	size_t max;           /* the longest line (0: POFA_LINE_MAX) */
	long line;            /* lines read so far */
	char *buf;            /* the last line, its end of line removed, NUL-terminated */
	size_t cap;
} pofa_lines;
/* The next line into r->buf, *len its bytes: 1; 0 at the end; -1 with err
 * (POFA_ERR_INPUT) for a line longer than max or holding a NUL byte (not
 * text), naming the line, and for a read error; no memory is an error
 * (POFA_ERR_RUN), never the end. */
int pofa_lines_next(pofa_lines *r, size_t *len, pofa_err *err);
void pofa_lines_free(pofa_lines *r);
/* mkdir -p */
int pofa_mkdirs(const char *dir, pofa_err *err);

#endif
