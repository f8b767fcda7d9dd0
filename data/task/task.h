/*
 * task.h - what a downstream task is: its format, its files and, for
 * sentence (pair) classification, the columns that hold the texts and the
 * label. Recipes, pofa eval and the loaders share it.
 */
#ifndef POFA_TASK_TASK_H
#define POFA_TASK_TASK_H

enum pofa_task_format {
	POFA_TASK_TSV,    /* GLUE-style TSV/CSV: (pair) classification */
	POFA_TASK_SQUAD,  /* SQuAD v1.1 JSON: span extraction */
};

typedef struct pofa_task_spec {
	char name[64];
	enum pofa_task_format format;
	char train[512], dev[512], test[512];
	char text_a[64], text_b[64], label[64];
} pofa_task_spec;

/* Built-in tasks wn-sense, wn-pair, wn-span under data_dir (pofa data
 * build). Returns 0, or -1 for a name that is not built in. */
int pofa_task_builtin(const char *name, const char *data_dir, pofa_task_spec *t);

#endif
