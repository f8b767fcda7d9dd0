/* fuzz_config.c - config.json, then a model made from it when it is small. */
#include "test/fuzz/fuzz.h"
#include "engine/pofa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "config.json");
	pofa_config c;
	pofa_err err;
	if (pofa_config_load(&c, path, &err))
		return 0;
	if (pofa_config_num_params(&c, POFA_HEAD_CLS) > (1u << 20))
		return 0;
	pofa_model *m = pofa_model_new_for(&c, POFA_HEAD_CLS, POFA_MODEL_INFER, 1, 4, 1, &err);
	pofa_model_free(m);
	return 0;
}
