/* fuzz_vocab.c - vocab.txt, then a pair of texts tokenized with it. */
#include "test/fuzz/fuzz.h"
#include "data/text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "vocab.txt");
	pofa_err err;
	pofa_tokenizer *tk = pofa_tokenizer_load(path, POFA_CASE_AUTO, &err);
	if (!tk)
		return 0;
	pofa_encoding e;
	if (!pofa_encoding_init(&e, 16)) {
		pofa_encode(tk, "Hello, w\xc3\xb6rld! \xe6\x9d\xb1 unaffable", -1, (const char *)data,
		            (long)(size > 64 ? 64 : size), 16, 1, &e);
		pofa_encoding_free(&e);
	}
	pofa_tokenizer_free(tk);
	return 0;
}
