/*
 * faultshim.c - faults for test/faults.sh, LD_PRELOAD'ed into pofa:
 *
 *   POFA_KILL_AT=N     SIGKILL just before the Nth rename(2): the moment a
 *                      file (or a checkpoint folder) would be committed
 *   POFA_ENOSPC_AT=N   the Nth write(2) to a regular file fails with ENOSPC,
 *                      as on a full disk
 *   POFA_COUNT_FILE=F  the renames and writes seen, written to F at exit
 *
 * stdio's own writes (the CSV logs) do not pass through write(2) here; those
 * files are append-only and a resumed run drops a torn last line.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static long renames, writes;

static long env_long(const char *name)
{
	const char *v = getenv(name);
	return v ? atol(v) : 0;
}

int rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	long at = env_long("POFA_KILL_AT");
	if (++renames == at && at > 0)
		kill(getpid(), SIGKILL);
	return real(from, to);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		long at = env_long("POFA_ENOSPC_AT");
		if (++writes == at && at > 0) {
			errno = ENOSPC;
			return -1;
		}
	}
	return real(fd, buf, n);
}

__attribute__((destructor)) static void counts(void)
{
	const char *path = getenv("POFA_COUNT_FILE");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%ld %ld\n", renames, writes);
		fclose(f);
	}
}
