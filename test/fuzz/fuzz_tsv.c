/* fuzz_tsv.c - a task's TSV (or CSV) file: columns, labels, examples. */
#include "test/fuzz/fuzz.h"
#include "data/task/loaders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, size && data[0] == ',' ? "task.csv" : "task.tsv");
	pofa_labels labels = { 0 };
	pofa_text_task t;
	pofa_err err;
	if (!pofa_text_task_load(path, "sentence1", size % 2 ? "sentence2" : NULL, "label", &labels, &t, &err))
		pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	return 0;
}
