/* fuzz_squad.c - a SQuAD v1.1 file, then its features for a small model. */
#include "test/fuzz/fuzz.h"
#include "data/task/loaders.h"

static pofa_tokenizer *tk;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pofa_err err;
	if (!tk) {
		static const char *const toks[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "the",
			                            "is", "?", "##s", "word", "c" };
		tk = pofa_tokenizer_from_tokens(toks, (int)(sizeof toks / sizeof *toks), POFA_CASE_AUTO, &err);
	}
	const char *path = fuzz_file(data, size, "squad.json");
	pofa_qa_set qa;
	if (pofa_qa_load(path, &qa, &err))
		return 0;
	if (!pofa_qa_featurize(&qa, tk, 16, 8, 6, &err) && qa.nfeat > 0) {
		float *l = calloc((size_t)qa.nfeat * 16, sizeof *l);
		char out[64];
		for (int x = 0; x < qa.nex; x++)
			pofa_qa_predict(&qa, x, l, l, 5, 10, out, sizeof out);
		free(l);
	}
	pofa_qa_free(&qa);
	return 0;
}
