/* fixture.c - shared test fixtures (see fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"
#include "data/base/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp[512];

const char *fx_tmpdir(const char *tag)
{
	if (tmp[0]) {   /* one at a time: a test that failed left its folder (removed here, unless KEEP) */
		fprintf(stderr, "fx_tmpdir(%s): %s was left by a test that stopped early; %s\n", tag, tmp,
		        getenv("KEEP") ? "kept (KEEP)" : "removed");
		if (fx_tmpdir_remove())
			return NULL;
		tmp[0] = 0;
	}
	const char *base = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/pofa-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	if (mkdtemp(tmp))
		return tmp;
	tmp[0] = 0;
	return NULL;
}

int fx_tmpdir_remove(void)
{
	if (!tmp[0] || getenv("KEEP"))   /* KEEP=1: leave it to look at */
		return 0;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	tmp[0] = 0;
	return system(cmd) == 0 ? 0 : -1;
}

const char *fx_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmp, name);
	return out;
}

void fx_spit(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot write %s", path);
	if (fwrite(data, 1, n, f) != n)
		fail_msg("short write to %s", path);
	fclose(f);
}

void fx_spit_str(const char *path, const char *text) { fx_spit(path, text, strlen(text)); }

unsigned char *fx_slurp(const char *path, size_t *n)
{
	unsigned char *b;
	pofa_err err;
	if (pofa_read_file(path, &b, n, 1u << 30, &err))
		fail_msg("%s", err.msg);
	return b;
}

pofa_config fx_config(int V, int C, int P)
{
	pofa_config c;
	pofa_err err;
	if (pofa_config_preset(&c, "bert-tiny", &err))
		fail_msg("%s", err.msg);
	c.vocab_size = V;
	c.hidden_size = C;
	c.num_attention_heads = 2;
	c.intermediate_size = 2 * C;
	c.max_position_embeddings = P;
	c.num_labels = 3;
	return c;
}

pofa_model *fx_model(const pofa_config *c, enum pofa_head head, int maxB, int maxT, int threads,
                     uint64_t seed)
{
	pofa_err err;
	pofa_model *m = pofa_model_new(c, head, maxB, maxT, threads, &err);
	if (!m)
		fail_msg("%s", err.msg);
	pofa_model_init(m, seed);
	return m;
}

pofa_tensor *fx_tensor(pofa_model *m, const char *name)
{
	pofa_tensor *t;
	int n = pofa_model_tensors(m, &t);
	for (int i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	fail_msg("no tensor %s", name);
	return NULL;
}
