/*
 * fuzz_report.c - report.md and report.html from a run folder's CSV files,
 * as pofa report reads them: the input split at NUL bytes into metrics.csv,
 * sparsity.csv, eval.csv, events.csv, per_class.csv and confusion.csv of a
 * run of a fixed recipe. Nothing it holds may crash the report, make it
 * grow without bound, or reach it unescaped (ASan and UBSan watch).
 */
#include "test/fuzz/fuzz.h"
#include "engine/run/runlog.h"

static const char recipe[] =
	"[run]\nname = f\n[stage pre]\nkind = mlm\nsteps = 10\n"
	"[stage sparse]\nkind = prune\nfrom = pre\nsteps = 10\nfinal_sparsity = 0.5\n"
	"[stage tt]\nkind = finetune\nfrom = pre\ntask = wn-pair\nsteps = 5\n"
	"[stage check]\nkind = eval\nmodels = tt, sparse\ntask = wn-pair\nsplits = dev, test\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "metrics.csv", "sparsity.csv", "eval.csv", "events.csv", "per_class.csv",
	                                     "confusion.csv" };
	static pofa_recipe rc;
	static char dir[512];
	if (!dir[0]) {
		const char *path = fuzz_side_file("recipe.ini", recipe);
		snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
		pofa_err err;
		if (pofa_recipe_load(path, NULL, 0, &rc, &err))
			abort();
	}
	size_t at = 0;
	for (int k = 0; k < 6; k++) {
		const uint8_t *nul = at < size ? memchr(data + at, 0, size - at) : NULL;
		size_t len = at < size ? (nul ? (size_t)(nul - (data + at)) : size - at) : 0;
		fuzz_file(data + at, len, names[k]);
		at += len + 1;
	}
	pofa_err err;
	pofa_runlog_report(dir, &rc, &err);
	return 0;
}
