/*
 * fuzz.h - what the libFuzzer harnesses share: the input written to a file
 * of this process (the readers under test take paths), rewritten in place
 * for every input.
 */
#ifndef POFA_FUZZ_H
#define POFA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* a path holding exactly data[0..size); name gives its file name */
static const char *fuzz_file(const uint8_t *data, size_t size, const char *name)
{
	static char dir[256];
	static char path[512];
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/pofa-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(dir))
			abort();
	}
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size))
		abort();
	fclose(f);
	return path;
}

/* a second file beside the first (a vocabulary, a recipe) */
static const char *fuzz_side_file(const char *name, const char *text)
{
	static char path[512];
	const char *p = fuzz_file((const uint8_t *)"", 0, "side-probe");
	snprintf(path, sizeof path, "%.*s%s", (int)(strrchr(p, '/') - p + 1), p, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

#endif
