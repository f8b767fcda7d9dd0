/* fuzz_recipe.c - a recipe, with an override, and its stages' checks. */
#include "test/fuzz/fuzz.h"
#include "engine/run/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "recipe.ini");
	pofa_recipe r;
	pofa_err err;
	const char *set[1] = { "a.steps=3" };
	if (pofa_recipe_load(path, set, (int)(size % 2), &r, &err))
		return 0;
	char why[256];
	for (int i = 0; i < r.nstages; i++)
		pofa_stage_check(&r.stages[i], 100, why, sizeof why);
	pofa_recipe_free(&r);
	return 0;
}
