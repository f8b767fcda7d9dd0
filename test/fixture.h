/*
 * fixture.h - what the C tests share: a private temp folder (mkdtemp, so
 * concurrent runs never collide), small files written and read back, small
 * model configs, tensors by name, and comparisons that print what they
 * expected and what they got. Include after <cmocka.h>.
 */
#ifndef POFA_TEST_FIXTURE_H
#define POFA_TEST_FIXTURE_H

#include "engine/pofa.h"

#include <math.h>
#include <stddef.h>

/* A new empty folder under $TMPDIR (or /tmp), made with mkdtemp; its path
 * stays valid until fx_tmpdir_remove. One at a time: the last one, when a
 * test that failed did not remove it, is removed first (KEEP=1 leaves it).
 * Returns NULL on failure. */
const char *fx_tmpdir(const char *tag);
/* rm -rf of the folder fx_tmpdir made; 0 on success */
int fx_tmpdir_remove(void);
/* path of name inside the temp folder (a static buffer per call site: copy it) */
const char *fx_path(char *out, size_t n, const char *name);

/* writes / reads a whole file; fails the test on error */
void fx_spit(const char *path, const void *data, size_t n);
void fx_spit_str(const char *path, const char *text);
unsigned char *fx_slurp(const char *path, size_t *n);

/* bert-tiny shrunk to C hidden, with vocabulary V, I = 2C, two heads,
 * max_position P and 3 labels */
pofa_config fx_config(int V, int C, int P);
/* a model of that config, initialised from seed */
pofa_model *fx_model(const pofa_config *c, enum pofa_head head, int maxB, int maxT, int threads,
                     uint64_t seed);
/* the tensor with that Hugging Face name; fails the test when absent */
pofa_tensor *fx_tensor(pofa_model *m, const char *name);

#define FX_NEAR(got, want, tol)                                                            \
	do {                                                                               \
		double g_ = (got), w_ = (want);                                            \
		if (!(fabs(g_ - w_) <= (tol)))                                             \
			fail_msg("%s: expected %.10g, got %.10g", #got, w_, g_);           \
	} while (0)

#endif
