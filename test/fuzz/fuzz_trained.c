/* fuzz_trained.c - a model folder's training.json, then written back and
 * read again: what was read must survive the round trip. */
#include "test/fuzz/fuzz.h"
#include "engine/model/folder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "training.json");
	char dir[512];
	snprintf(dir, sizeof dir, "%s", path);
	*strrchr(dir, '/') = 0;
	static pofa_trained t, u;
	pofa_err err;
	if (pofa_trained_load(dir, &t, &err) != 0)
		return 0;
	if (pofa_trained_save(dir, &t, &err) || pofa_trained_load(dir, &u, &err)) {
		fprintf(stderr, "written back, then: %s\n", err.msg);
		abort();
	}
	if (t.seq != u.seq || t.step != u.step || t.has_task != u.has_task || t.nlabels != u.nlabels ||
	    t.sparsity != u.sparsity ||
	    strcmp(t.stage, u.stage) || strcmp(t.task.text_a, u.task.text_a)) {
		fprintf(stderr, "round trip: seq %d/%d step %lld/%lld task %d/%d labels %d/%d stage %s/%s\n", t.seq, u.seq,
		        (long long)t.step, (long long)u.step, t.has_task, u.has_task, t.nlabels, u.nlabels, t.stage, u.stage);
		abort();
	}
	return 0;
}
