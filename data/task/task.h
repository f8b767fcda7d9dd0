/*
 * task.h - what a downstream task is: its format, its files and, for
 * sentence (pair) classification, the columns that hold the texts and the
 * label. Recipes, pofa eval and the loaders share it.
 */
#ifndef POFA_TASK_TASK_H
#define POFA_TASK_TASK_H

enum pofa_task_format {
	POFA_TASK_TSV,    /* GLUE-style TSV (no quoting): (pair) classification */
	POFA_TASK_SQUAD,  /* SQuAD v1.1 JSON: span extraction */
	POFA_TASK_CSV,    /* CSV with RFC 4180 quoting: (pair) classification */
};

enum pofa_quoting { POFA_QUOTING_FORMAT, POFA_QUOTING_ON, POFA_QUOTING_OFF };

typedef struct pofa_task_spec {
	char name[64];
	enum pofa_task_format format;
	int format_set;           /* named by the recipe: never guessed from a file's extension */
	char train[512], dev[512], test[512];
	char text_a[64], text_b[64], label[64];
	char positive[64];        /* two classes: the positive label's name ("": "1", else the second) */
	char delimiter;           /* 0: the format's (tab, or comma for CSV) */
	int quoting;              /* POFA_QUOTING_: 0, the format's (TSV no, CSV yes) */
} pofa_task_spec;

/* "tab", "comma", "semicolon", "pipe", "space" or one character; 0 if none */
char pofa_delimiter_of(const char *name);
/* the delimiter and quoting a text file of this task is read with: the
 * spec's, else its format's, else (no format named) by the extension */
void pofa_task_text_format(const pofa_task_spec *s, const char *path, char *delim, int *quoting);

/* Built-in tasks wn-sense, wn-pair, wn-span under data_dir (pofa data
 * build). Returns 0, or -1 for a name that is not built in. */
int pofa_task_builtin(const char *name, const char *data_dir, pofa_task_spec *t);

#endif
