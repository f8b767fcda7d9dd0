/* fileio.c - whole-file reads, atomic writes, folders (see fileio.h). */
#include "data/base/fileio.h"
#include "data/base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pofa_mkdirs(const char *dir, pofa_err *err)
{
	char tmp[4096];
	if (strlen(dir) >= sizeof tmp)
		return pofa_error(err, POFA_ERR_INPUT, "%s: path too long", dir);
	strcpy(tmp, dir);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
				return pofa_error(err, POFA_ERR_INPUT, "%s: cannot create folder: %s",
				                  tmp, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return POFA_OK;
}

/* Write to a temp file beside path, fsync it, rename over path, fsync the
 * folder: a reader sees the old file or the new one, never a torn one. */
int pofa_write_atomic(const char *path, const void *data, size_t n, pofa_err *err)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
		return pofa_error(err, POFA_ERR_INPUT, "%s: path too long", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		/* a folder that is not there or not ours: the path given is wrong */
		int input = e == ENOENT || e == ENOTDIR || e == EACCES || e == EROFS;
		return pofa_error(err, input ? POFA_ERR_INPUT : POFA_ERR_RUN, "%s: cannot create temp file: %s%s",
		                  path, strerror(e), input ? "; write into a folder that exists and is writable" : "");
	}
	const unsigned char *p = data;
	size_t left = n;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return pofa_error(err, POFA_ERR_RUN, "%s: write failed: %s", path, strerror(e));
		}
		p += w;
		left -= (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return pofa_error(err, POFA_ERR_RUN, "%s: fsync failed: %s", path, strerror(e));
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return pofa_error(err, POFA_ERR_RUN, "%s: rename failed: %s", path, strerror(e));
	}
	/* make the rename itself durable */
	char dir[4200];
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return POFA_OK;
}

int pofa_read_file(const char *path, unsigned char **buf, size_t *n, size_t max, pofa_err *err)
{
	*buf = NULL;
	*n = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return pofa_error(err, POFA_ERR_INPUT, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		fclose(f);
		return pofa_error(err, POFA_ERR_INPUT, "%s: file too large (%lld bytes)", path,
		                  (long long)st.st_size);
	}
	size_t size = (size_t)st.st_size;
	unsigned char *b = malloc(size + 1);
	if (!b) {
		fclose(f);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	if (fread(b, 1, size, f) != size) {
		free(b);
		fclose(f);
		return pofa_error(err, POFA_ERR_INPUT, "%s: read error", path);
	}
	fclose(f);
	b[size] = 0;
	*buf = b;
	*n = size;
	return POFA_OK;
}

int pofa_output_ok(const char *path, const char *const *inputs, int n, pofa_err *err)
{
	struct stat st, in;
	if (!path[0])
		return pofa_error(err, POFA_ERR_INPUT, "an empty output path: name a file");
	if (path[strlen(path) - 1] == '/')
		return pofa_error(err, POFA_ERR_INPUT, "%s: a folder; name a file to write", path);
	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return pofa_error(err, POFA_ERR_INPUT, "%s: a folder; name a file to write", path);
		if (!S_ISREG(st.st_mode))
			return pofa_error(err, POFA_ERR_INPUT, "%s: not a regular file (%s); writing would replace it: name a "
			                  "new file", path, S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISFIFO(st.st_mode)
			                  ? "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a special file");
		for (int k = 0; k < n; k++)
			if (inputs[k] && stat(inputs[k], &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino)
				return pofa_error(err, POFA_ERR_INPUT, "%s: is %s, which this command reads; name another file",
				                  path, inputs[k]);
	} else if (errno != ENOENT) {
		return pofa_error(err, POFA_ERR_INPUT, "%s: %s", path, strerror(errno));
	}
	char dir[4200];
	snprintf(dir, sizeof dir, "%s", path);
	char *sl = strrchr(dir, '/');
	if (sl) {
		*(sl == dir ? sl + 1 : sl) = 0;
		if (stat(dir, &in) != 0 || !S_ISDIR(in.st_mode))
			return pofa_error(err, POFA_ERR_INPUT, "%s: no folder %s to write it in", path, dir);
	}
	return POFA_OK;
}

int pofa_lines_next(pofa_lines *r, size_t *len, pofa_err *err)
{
	size_t max = r->max ? r->max : POFA_LINE_MAX, n = 0;
	int c;
	if (!r->buf) {
		r->cap = 256;
		if (!(r->buf = malloc(r->cap)))
			return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", r->name), -1;
	}
	while ((c = getc_unlocked(r->f)) != EOF && c != '\n') {
		if (c == 0)
			return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: a NUL byte: not text; give a text file", r->name,
			                  r->line + 1), -1;
		if (n == max)
			return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: a line longer than %zu bytes: give shorter lines",
			                  r->name, r->line + 1, max), -1;
		if (n + 2 > r->cap) {
			size_t nc = r->cap * 2;
			if (pofa_resize(&r->buf, nc, 1))
				return pofa_error(err, POFA_ERR_RUN, "%s:%ld: out of memory", r->name, r->line + 1), -1;
			r->cap = nc;
		}
		r->buf[n++] = (char)c;
	}
	if (ferror(r->f))
		return pofa_error(err, POFA_ERR_INPUT, "%s: read error: %s", r->name, strerror(errno)), -1;
	if (c == EOF && n == 0)
		return 0;
	if (n > 0 && r->buf[n - 1] == '\r')
		n--;
	r->buf[n] = 0;
	r->line++;
	*len = n;
	return 1;
}

void pofa_lines_free(pofa_lines *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}
