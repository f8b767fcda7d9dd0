/* fuzz_state.c - state.json of a run folder, as --resume reads it. */
#include "test/fuzz/fuzz.h"
#include "engine/run/run.h"

static pofa_recipe rc;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pofa_err err;
	const char *path = fuzz_file(data, size, "state.json");
	char dir[512];
	snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
	if (!rc.nstages) {
		fuzz_side_file("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n");
		fuzz_side_file("corpus.txt", "a b a b\n\nb a\n");
		char text[2048];
		snprintf(text, sizeof text, "[run]\nname = f\n[model]\nvocab = %s/vocab.txt\n[data]\ncorpus = %s/corpus.txt\n"
		         "[stage a]\nkind = mlm\nsteps = 4\nseq = 8\nbatch = 2\n[stage b]\nkind = prune\nfrom = a\n"
		         "steps = 4\nseq = 8\nbatch = 2\n", dir, dir);
		const char *rp = fuzz_side_file("r.ini", text);
		if (pofa_recipe_load(rp, NULL, 0, &rc, &err))
			abort();
	}
	pofa_run *r = pofa_run_new(&rc, dir, POFA_RUN_RESUME | (size % 2 ? POFA_RUN_ALLOW_CHANGED_RECIPE : 0), &err);
	pofa_run_free(r);
	return 0;
}
