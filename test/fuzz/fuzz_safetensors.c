/* fuzz_safetensors.c - the safetensors reader, and every tensor's read. */
#include "test/fuzz/fuzz.h"
#include "engine/io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "model.safetensors");
	pofa_st_file f;
	pofa_err err;
	if (pofa_st_open(&f, path, &err))
		return 0;
	for (int i = 0; i < f.ntensors; i++) {
		const pofa_st_tensor *t = &f.tensors[i];
		int64_t n = 1;
		for (int d = 0; d < t->ndim; d++)
			n *= t->shape[d];
		if (n > (1 << 22))
			continue;
		float *out = malloc((size_t)(n ? n : 1) * sizeof *out);
		pofa_st_read_f32(&f, t, out, &err);
		free(out);
		pofa_st_find(&f, t->name);
	}
	pofa_st_meta(&f, "format");
	pofa_st_close(&f);
	return 0;
}
