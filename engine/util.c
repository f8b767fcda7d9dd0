/* util.c - errors, files written atomically, the thread pool, RNG. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int pofa_error(pofa_err *err, int status, const char *fmt, ...)
{
	if (err) {
		/* through a local buffer: err->msg may be one of the arguments */
		char msg[sizeof err->msg];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		memcpy(err->msg, msg, sizeof msg);
		err->status = status;
	}
	return status;
}

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
	if (fd < 0)
		return pofa_error(err, POFA_ERR_RUN, "%s: cannot create temp file: %s", path,
		                  strerror(errno));
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

float pofa_rng_normal(pofa_rng *r)
{
	/* Box-Muller; u1 in (0, 1] so the log is finite */
	float u1 = 1.0f - pofa_rng_uniform(r);
	float u2 = pofa_rng_uniform(r);
	return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647f * u2);
}

/* ---- thread pool ------------------------------------------------------- */

struct pofa_pool {
	int n;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	uint64_t gen;      /* bumped for each job */
	int pending;       /* workers still running the current job */
	int quit;
	pofa_task fn;
	void *arg;
	int64_t total;
};

static void pool_chunk(int64_t total, int n, int k, int64_t *i0, int64_t *i1)
{
	int64_t base = total / n, rem = total % n;
	*i0 = k * base + POFA_MIN(k, rem);
	*i1 = *i0 + base + (k < rem);
}

typedef struct { pofa_pool *p; int id; } pool_worker_arg;

static void *pool_worker(void *a)
{
	pool_worker_arg *wa = a;
	pofa_pool *p = wa->p;
	int id = wa->id;
	free(wa);
	uint64_t seen = 0;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		seen = p->gen;
		pofa_task fn = p->fn;
		void *arg = p->arg;
		int64_t total = p->total;
		pthread_mutex_unlock(&p->mu);

		int64_t i0, i1;
		pool_chunk(total, p->n, id, &i0, &i1);
		if (i1 > i0)
			fn(arg, i0, i1, id);

		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

pofa_pool *pofa_pool_new(int nthreads)
{
	if (nthreads < 1)
		nthreads = 1;
	pofa_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->n = nthreads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc((size_t)nthreads, sizeof *p->threads);
	for (int i = 1; i < nthreads; i++) {
		pool_worker_arg *wa = malloc(sizeof *wa);
		wa->p = p;
		wa->id = i;
		if (pthread_create(&p->threads[i], NULL, pool_worker, wa) != 0) {
			free(wa);
			p->n = i; /* run with the threads we have */
			break;
		}
	}
	return p;
}

void pofa_pool_free(pofa_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

int pofa_pool_size(const pofa_pool *p) { return p ? p->n : 1; }

void pofa_pool_run(pofa_pool *p, int64_t n, pofa_task fn, void *arg)
{
	if (n <= 0)
		return;
	if (!p || p->n == 1) {
		fn(arg, 0, n, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->total = n;
	p->pending = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);

	int64_t i0, i1;
	pool_chunk(n, p->n, 0, &i0, &i1);
	if (i1 > i0)
		fn(arg, i0, i1, 0);

	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
