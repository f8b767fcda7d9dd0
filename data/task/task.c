/* task.c - the built-in tasks (see task.h). */
#include "data/task/task.h"

#include <stdio.h>
#include <string.h>

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
	snprintf(t->train, sizeof t->train, "%s/%s/train.%s", dir, name, ext);
	snprintf(t->dev, sizeof t->dev, "%s/%s/dev.%s", dir, name, ext);
	snprintf(t->test, sizeof t->test, "%s/%s/test.%s", dir, name, ext);
	return 0;
}
