/* fuzz_packed.c - model.packed.safetensors (the packed int8 model), read
 * by the forward-only path beside a fixed config.json, then one forward
 * pass. POFA_FUZZ_SEED=FILE writes a valid file to start from. */
#include "test/fuzz/fuzz.h"
#include "test/fuzz/fuzz_qat.h"
#include "engine/infer/infer.h"

static const char *model_dir(void)
{
	static char dir[600];
	if (dir[0])
		return dir;
	pofa_err err;
	pofa_model *m = fuzz_qat_model();
	const char *probe = fuzz_side_file("config.json", "");
	snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(probe, '/') - probe), probe);
	char path[700];
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (pofa_config_save(pofa_model_config(m), POFA_HEAD_CLS, path, &err))
		abort();
	const char *seed = getenv("POFA_FUZZ_SEED");
	if (seed) {
		snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
		pofa_st_file q8;
		pofa_infer_opts o = { .maxB = 1, .maxT = 8, .threads = 1, .int8 = POFA_INT8_ON, .force_fmt = -1, .cpu = -1 };
		pofa_infer *inf = NULL;
		if (pofa_model_export_int8(m, path, &err) || pofa_st_open(&q8, path, &err) ||
		    !(inf = pofa_infer_from_model(m, &q8, &o, &err)) || pofa_infer_save_packed(inf, seed, &err))
			abort();
		pofa_infer_free(inf);
		pofa_st_close(&q8);
		remove(path);
	}
	pofa_model_free(m);
	return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = model_dir();
	fuzz_file(data, size, "model.packed.safetensors");
	pofa_err err;
	pofa_infer_opts o = { .maxB = 2, .maxT = 8, .threads = 1, .int8 = POFA_INT8_ON, .force_fmt = -1, .cpu = -1 };
	pofa_infer *inf = pofa_infer_open(dir, &o, &err);
	fuzz_forward(inf);
	return 0;
}
