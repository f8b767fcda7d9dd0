/* fuzz_int8.c - a QAT model's model.int8.safetensors, read and packed for
 * the int8 forward-only path (the packers read untrusted weights), then
 * one forward pass. POFA_FUZZ_SEED=FILE writes a valid file to start from. */
#include "test/fuzz/fuzz.h"
#include "test/fuzz/fuzz_qat.h"
#include "engine/infer/infer.h"

static pofa_model *model(void)
{
	static pofa_model *m;
	if (m)
		return m;
	m = fuzz_qat_model();
	pofa_err err;
	const char *seed = getenv("POFA_FUZZ_SEED");
	if (seed && pofa_model_export_int8(m, seed, &err))
		abort();
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pofa_model *m = model();
	const char *path = fuzz_file(data, size, "model.int8.safetensors");
	pofa_st_file f;
	pofa_err err;
	if (pofa_st_open(&f, path, &err))
		return 0;
	pofa_infer_opts o = { .maxB = 2, .maxT = 8, .threads = 1, .int8 = POFA_INT8_ON, .force_fmt = -1, .cpu = -1 };
	pofa_infer *inf = pofa_infer_from_model(m, &f, &o, &err);
	fuzz_forward(inf);
	pofa_st_close(&f);
	return 0;
}
