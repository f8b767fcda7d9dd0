/*
 * fileio.h - files read whole with a size limit (untrusted input), files
 * written atomically (temp file, fsync, rename, fsync of the folder), and
 * folders made with their parents.
 */
#ifndef POFA_BASE_FILEIO_H
#define POFA_BASE_FILEIO_H

#include "data/base/error.h"

#include <stddef.h>

/* The whole regular file at path, NUL-terminated, at most max bytes. */
int pofa_read_file(const char *path, unsigned char **buf, size_t *n, size_t max, pofa_err *err);
/* A reader sees the old file or the new one, never a torn one. */
int pofa_write_atomic(const char *path, const void *data, size_t n, pofa_err *err);
/* mkdir -p */
int pofa_mkdirs(const char *dir, pofa_err *err);

#endif
