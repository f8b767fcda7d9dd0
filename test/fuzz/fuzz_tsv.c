/* fuzz_tsv.c - a task's TSV (or CSV) file: columns, labels, examples. */
#include "test/fuzz/fuzz.h"
#include "data/task/loaders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, size && data[0] == ',' ? "task.csv" : "task.tsv");
	pofa_labels labels = { 0 };
	pofa_text_task t;
	pofa_err err;
	pofa_task_spec spec = { .text_a = "sentence1", .label = "label",
	                        .quoting = size % 3 == 0 ? POFA_QUOTING_ON : POFA_QUOTING_FORMAT };
	if (size % 2)
		strcpy(spec.text_b, "sentence2");
	if (!pofa_text_task_load(&spec, path, &labels, &t, &err))
		pofa_text_task_free(&t);
	pofa_labels_free(&labels);
	return 0;
}
