/* task.c - the built-in tasks (see task.h). */
#include "data/task/task.h"

#include <stdio.h>
#include <string.h>

void pofa_task_text_format(const pofa_task_spec *s, const char *path, char *delim, int *quoting)
{
	size_t n = strlen(path);
	int csv = s->format_set ? s->format == POFA_TASK_CSV : n > 4 && !strcmp(path + n - 4, ".csv");
	*delim = s->delimiter ? s->delimiter : csv ? ',' : '\t';
	*quoting = s->quoting == POFA_QUOTING_ON ? 1 : s->quoting == POFA_QUOTING_OFF ? 0 : csv;
}

char pofa_delimiter_of(const char *v)
{
	static const struct { const char *name; char c; } named[] = {
		{ "tab", '\t' }, { "comma", ',' }, { "semicolon", ';' }, { "pipe", '|' }, { "space", ' ' },
	};
	for (size_t i = 0; i < sizeof named / sizeof *named; i++)
		if (!strcmp(v, named[i].name))
			return named[i].c;
	if (!strcmp(v, "\\t"))
		return '\t';
	/* one character, not a quote or a line break */
	return v[0] && !v[1] && v[0] != '"' && v[0] != '\n' && v[0] != '\r' ? v[0] : 0;
}

int pofa_task_builtin(const char *name, const char *dir, pofa_task_spec *t)
{
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	const char *ext = "tsv";
	if (!strcmp(name, "wn-sense")) {
		strcpy(t->text_a, "sentence");
		strcpy(t->label, "label");
	} else if (!strcmp(name, "wn-pair")) {
		strcpy(t->text_a, "sentence1");
		strcpy(t->text_b, "sentence2");
		strcpy(t->label, "label");
	} else if (!strcmp(name, "wn-span")) {
		t->format = POFA_TASK_SQUAD;
		ext = "json";
	} else {
		return -1;
	}
	t->format_set = 1;
	snprintf(t->train, sizeof t->train, "%s/%s/train.%s", dir, name, ext);
	snprintf(t->dev, sizeof t->dev, "%s/%s/dev.%s", dir, name, ext);
	snprintf(t->test, sizeof t->test, "%s/%s/test.%s", dir, name, ext);
	return 0;
}
