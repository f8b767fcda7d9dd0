/*
 * faultshim.c - faults for test/faults.sh, LD_PRELOAD'ed into pofa:
 *
 *   POFA_KILL_AT=N     SIGKILL just before the Nth rename(2): the moment a
 *                      file (or a checkpoint folder) would be committed
 *   POFA_ENOSPC_AT=N   the Nth write(2) to a regular file fails with ENOSPC,
 *                      as on a full disk
 *   POFA_COUNT_FILE=F  the renames and writes seen, written to F at exit
 *   POFA_FSYNC_LOG=F   durability checked: a rename(2) of a regular file
 *                      that was never fsync'ed, and a folder something was
 *                      renamed into that is not fsync'ed after (by exit),
 *                      are each a line of F (kill -9 keeps the page cache,
 *                      so only this shows a commit a power loss would tear)
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
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long renames, writes;

/* ---- POFA_FSYNC_LOG: files fsync'ed, folders owing an fsync ----------------- */

typedef struct { dev_t dev; ino_t ino; char path[256]; } node;
static node synced[8192], owing[256];
static int nsynced, nowing;

static void fsync_log(const char *fmt, const char *a, const char *b)
{
	const char *path = getenv("POFA_FSYNC_LOG");
	FILE *f = path ? fopen(path, "a") : NULL;
	if (f) {
		fprintf(f, fmt, a, b);
		fputc('\n', f);
		fclose(f);
	}
}

static void note_fsync(int fd)
{
	struct stat st;
	if (!getenv("POFA_FSYNC_LOG") || fstat(fd, &st) != 0)
		return;
	for (int i = 0; i < nowing; i++)   /* a folder's fsync pays what it owes */
		if (owing[i].dev == st.st_dev && owing[i].ino == st.st_ino)
			owing[i--] = owing[--nowing];
	if (S_ISREG(st.st_mode) && nsynced < (int)(sizeof synced / sizeof *synced))
		synced[nsynced++] = (node){ st.st_dev, st.st_ino, "" };
}

static void check_rename(const char *from, const char *to)
{
	struct stat st;
	if (!getenv("POFA_FSYNC_LOG") || stat(from, &st) != 0)
		return;
	int ok = !S_ISREG(st.st_mode);
	for (int i = nsynced - 1; i >= 0 && !ok; i--)
		ok = synced[i].dev == st.st_dev && synced[i].ino == st.st_ino;
	if (!ok)
		fsync_log("rename %s -> %s: the file was never fsync'ed", from, to);
	/* the folder it lands in owes an fsync */
	char dir[256];
	snprintf(dir, sizeof dir, "%s", to);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	struct stat ds;
	if (stat(dir, &ds) == 0 && nowing < (int)(sizeof owing / sizeof *owing)) {
		for (int i = 0; i < nowing; i++)
			if (owing[i].dev == ds.st_dev && owing[i].ino == ds.st_ino)
				return;
		owing[nowing] = (node){ ds.st_dev, ds.st_ino, "" };
		snprintf(owing[nowing++].path, sizeof owing[0].path, "%s", dir);
	}
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	int rc = real(fd);
	if (rc == 0)
		note_fsync(fd);
	return rc;
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	int rc = real(fd);
	if (rc == 0)
		note_fsync(fd);
	return rc;
}

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
	check_rename(from, to);
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
	for (int i = 0; i < nowing; i++)
		fsync_log("%s%s: renamed into, never fsync'ed after", owing[i].path, "");
	const char *path = getenv("POFA_COUNT_FILE");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%ld %ld\n", renames, writes);
		fclose(f);
	}
}
