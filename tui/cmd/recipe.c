/*
 * recipe.c - pofa recipe: the keys a recipe takes (from the engine's key
 * table, so the list is never out of date), and a recipe checked without
 * running it.
 */
#include "tui/cli.h"
#include "engine/run/recipe.h"
#include "engine/run/run.h"

#include <stdio.h>
#include <string.h>

static const char recipe_usage[] =
	"usage: pofa recipe --keys [run|model|data|task|stage]\n"
	"       pofa recipe --check RECIPE [--set SECTION.KEY=VALUE]...\n"
	"--keys lists every key of a recipe's sections: what it takes, its default\n"
	"and what it does (pofa-recipe(5) explains them); --check reads a recipe\n"
	"and checks every file it would read (vocabulary, models, corpus, task files\n"
	"and their columns and labels, each stage's shapes) as pofa run does before\n"
	"it starts, and reports the first error (exit 2), or its stages.\n";

static const struct { const char *name; unsigned bit; } sections[] = {
	{ "run", POFA_IN_RUN }, { "model", POFA_IN_MODEL }, { "data", POFA_IN_DATA },
	{ "task", POFA_IN_TASK }, { "stage", POFA_IN_STAGE },
};

static void list_keys(unsigned only)
{
	for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
		if (!(sections[s].bit & only))
			continue;
		printf("[%s%s]\n", sections[s].name, sections[s].bit & (POFA_IN_TASK | POFA_IN_STAGE) ? " NAME" : "");
		for (int i = 0; i < pofa_recipe_nkeys; i++) {
			const pofa_recipe_key *k = &pofa_recipe_keys[i];
			if (!(k->where & sections[s].bit))
				continue;
			char takes[200];
			pofa_recipe_key_takes(k, takes, sizeof takes);
			printf("  %-20s %-28s %-12s %s\n", k->name, takes, k->def ? k->def : "-", k->help);
		}
		printf("\n");
	}
}

int cmd_recipe(int argc, char **argv)
{
	const char *check = NULL, *sets[64], *v;
	int nsets = 0, keys = 0;
	unsigned only = ~0u;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--keys")) {
			keys = 1;
			if (i + 1 < argc && argv[i + 1][0] != '-') {
				only = 0;
				for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++)
					if (!strcmp(argv[i + 1], sections[s].name))
						only = sections[s].bit;
				if (!only)
					return cli_usage_error("recipe", "--keys %s: want run, model, data, task or stage", argv[i + 1]);
				i++;
			}
		} else if ((v = cli_opt(argc, argv, &i, "--check"))) {
			check = v;
		} else if ((v = cli_opt(argc, argv, &i, "--set"))) {
			if (nsets == (int)(sizeof sets / sizeof sets[0]))
				return cli_usage_error("recipe", "too many --set");
			sets[nsets++] = v;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(recipe_usage, stdout);
			return 0;
		} else {
			return cli_usage_error("recipe", "unknown option '%s'", argv[i]);
		}
	}
	if (keys == !!check)
		return cli_usage_error("recipe", "give --keys or --check RECIPE");
	if (keys) {
		list_keys(only);
		return 0;
	}
	pofa_recipe r;
	pofa_err err = { 0 };
	if (pofa_recipe_load(check, sets, nsets, &r, &err))
		return cli_fail(&err);
	if (pofa_run_check(&r, &err)) {
		pofa_recipe_free(&r);
		return cli_fail(&err);
	}
	printf("%s: run %s, %d stages:", check, r.name, r.nstages);
	for (int i = 0; i < r.nstages; i++)
		printf(" %s (%s)", r.stages[i].name, pofa_stage_kinds[r.stages[i].kind]);
	printf("; every file it reads checked\n");
	pofa_recipe_free(&r);
	return 0;
}
