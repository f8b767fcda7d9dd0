/* test_recipe.c - recipes: defaults, overrides, the recipe as run, and every
 * kind of mistake refused with file:line and the key. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "engine/run/recipe.h"

static char path[600];

static int setup(void **st) { (void)st; return fx_tmpdir("recipe") ? 0 : -1; }
static int teardown(void **st) { (void)st; return fx_tmpdir_remove(); }

static void write_recipe(const char *text)
{
	fx_path(path, sizeof path, "recipe.ini");
	fx_spit_str(path, text);
}

static const char *good =
	"[run]\nname = t\nseed = 7\n\n[model]\npreset = bert-mini\n\n[data]\ndir = /d\n\n"
	"[stage pre]\nkind = mlm\nsteps = 100\n\n"
	"[stage p90]\nkind = prune\nfrom = pre\nteacher = pre\nsteps = 1000\nend = 0.5\nevery = 10\n\n"
	"[stage ft]\nkind = finetune\nfrom = p90\ntask = wn-pair\nlock = yes\nepochs = 2\n";

static void test_good(void **st)
{
	(void)st;
	write_recipe(good);
	pofa_recipe r;
	pofa_err err;
	const char *sets[] = { "p90.final_sparsity=0.85", "run.seed=9" };
	if (pofa_recipe_load(path, sets, 2, &r, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(r.nstages, 3);
	assert_int_equal(r.seed, 9);
	assert_string_equal(r.corpus, "/d/corpus.txt");
	assert_string_equal(r.vocab, "/d/vocab.txt");
	pofa_stage *p = &r.stages[1];
	assert_int_equal(p->kind, POFA_STAGE_PRUNE);
	assert_int_equal(p->from_idx, 0);
	assert_int_equal(p->teacher_idx, 0);
	assert_true(p->prune);
	assert_int_equal(p->schedule, POFA_SCHED_REWIND);    /* the prune default */
	assert_true(p->final_sparsity == 0.85f);
	pofa_gmp g = pofa_stage_gmp(p, 1000);
	assert_int_equal(g.t1, 500);
	assert_int_equal(g.every, 10);
	assert_int_equal(g.freeze, 800);
	pofa_stage *f = &r.stages[2];
	assert_string_equal(f->task.train, "/d/wn-pair/train.tsv");
	assert_string_equal(f->task.text_b, "sentence2");
	assert_true(f->lock);
	assert_false(f->prune);
	assert_int_equal(pofa_stage_total_steps(f, 100), 2 * 4);   /* 2 epochs of ceil(100/32) */
	/* the recipe as run holds the overrides */
	assert_non_null(strstr(r.text, "final_sparsity = 0.85"));
	assert_non_null(strstr(r.text, "seed = 9"));
	uint64_t h = r.hash;
	pofa_recipe_free(&r);
	/* the same recipe, same overrides: the same hash */
	assert_int_equal(pofa_recipe_load(path, sets, 2, &r, &err), 0);
	assert_true(r.hash == h);
	pofa_recipe_free(&r);
	remove(path);
}

static void expect_error(const char *text, const char *const *sets, int nsets, const char *needle)
{
	write_recipe(text);
	pofa_recipe r;
	pofa_err err = { 0 };
	int rc = pofa_recipe_load(path, sets, nsets, &r, &err);
	if (rc != POFA_ERR_INPUT || !strstr(err.msg, needle))
		fail_msg("expected status 2 and \"%s\", got %d: %s", needle, rc, err.msg);
	remove(path);
}

static void test_errors(void **st)
{
	(void)st;
	char f[512];
	fx_path(f, sizeof f, "recipe.ini");
	char want[600];
	expect_error("[run]\nname = x\n[modle]\npreset = bert-tiny\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0,
	             "3: unknown section [modle]");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\nlearning_rate = 3\n", NULL, 0,
	             "4: unknown key \"learning_rate\" in [stage a]");
	expect_error("[stage a]\nkind = mlm\nsteps = ten\n", NULL, 0, "3: steps = ten: want a number");
	expect_error("[stage a]\nkind = mlm\nsteps = 1.5\n", NULL, 0, "steps = 1.5: want a whole number");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\neval_examples = 100\n", NULL, 0,
	             "stage a: eval_examples takes a share of a TSV or CSV task's dev and test examples; this stage's "
	             "evaluation is masked-LM");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\neval_examples = -1\n", NULL, 0, "eval_examples");
	expect_error("[run]\noverlap = maybe\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0,
	             "2: overlap = maybe: want auto, yes or no");
	expect_error("[stage a]\nkind = mlm\nsteps = 10\nlr = -1\n", NULL, 0, "4: lr = -1");
	expect_error("[stage a]\nkind = train\nsteps = 1\n", NULL, 0, "2: kind = train: want mlm, prune");
	expect_error("[stage a]\nsteps = 1\n", NULL, 0, "1: stage a has no kind");
	expect_error("[stage a]\nkind = mlm\n", NULL, 0, "stage a: set steps or epochs");
	/* model selection: over dev evaluations, with a metric the task has */
	expect_error("[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 10\nselect = best\n", NULL, 0,
	             "stage a: select, metric and patience choose among dev evaluations: set eval_interval");
	expect_error("[stage a]\nkind = mlm\nsteps = 10\neval_interval = 2\npatience = 3\n", NULL, 0,
	             "select, metric and patience are for finetune and qat stages");
	expect_error("[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 10\neval_interval = 2\nmetric = exact_match\n",
	             NULL, 0, "metric = exact_match: a classification task has accuracy");
	expect_error("[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 10\neval_interval = 2\nselect = first\n",
	             NULL, 0, "6: select = first: want last or best");
	/* both: an error at the later of the two lines, not "steps wins" */
	expect_error("[stage a]\nkind = mlm\nsteps = 10\nepochs = 2\n", NULL, 0,
	             "4: stage a: steps and epochs both set; keep one");
	const char *se[] = { "a.steps=5" };
	expect_error("[stage a]\nkind = finetune\ntask = wn-pair\nepochs = 2\n", se, 1,
	             "stage a: steps and epochs both set");
	expect_error("[stage a]\nkind = prune\nteacher = t\nsteps = 1\n", NULL, 0, "teacher = t names no stage");
	expect_error("[stage a]\nkind = finetune\nsteps = 1\n", NULL, 0, "stage a: which task?");
	expect_error("[stage a]\nkind = finetune\nsteps = 1\ntask = mine\n", NULL, 0, "with train_file and dev_file) or give them in the stage");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\n[stage b]\nkind = prune\nsteps = 1\npattern = 2:4\n"
	             "final_sparsity = 0.9\n", NULL, 0, "pattern 2:4 means final_sparsity = 0.5");
	expect_error("[stage a]\nkind = prune\nsteps = 1\npattern = 1x4\nscope = global\n", NULL, 0,
	             "scope = global needs pattern = unstructured");
	expect_error("[stage a]\nkind = prune\nsteps = 1\npattern = 3x3\n", NULL, 0, "pattern = 3x3");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0,
	             "4: section [stage a] again (first at line 1)");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\n[stage e]\nkind = eval\nmodels = a, z\ntask = wn-pair\n",
	             NULL, 0, "models names z, which is no stage");
	expect_error("[stage a b]\nkind = mlm\nsteps = 1\n", NULL, 0, "stage name \"a b\"");
	expect_error("[model]\npreset = bert-huge\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0, "unknown preset");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\nthis is not ini\n", NULL, 0, "4: not an INI line");
	const char *s1[] = { "nosuch.steps=3" };
	expect_error("[stage a]\nkind = mlm\nsteps = 1\n", s1, 1, "--set nosuch.steps=3: the recipe has no section");
	const char *s2[] = { "a.stepz=3" };
	expect_error("[stage a]\nkind = mlm\nsteps = 1\n", s2, 1, "--set: unknown key \"stepz\"");
	const char *s3[] = { "steps=3" };
	expect_error("[stage a]\nkind = mlm\nsteps = 1\n", s3, 1, "want section.key=value");
	/* the file name leads every message that has a line */
	snprintf(want, sizeof want, "%s:2: kind", f);
	expect_error("[stage a]\nkind = x\nsteps = 1\n", NULL, 0, want);
}

/* one validator for the schedule: the recipe loader and live edits both
 * call pofa_stage_check, with the ranges of the recipe's key table */
static void test_stage_check(void **st)
{
	(void)st;
	expect_error("[stage a]\nkind = prune\nsteps = 100\nstart = 20\nend = 10\n", NULL, 0,
	             "stage a: end (step 10) is before start (step 20)");
	expect_error("[stage a]\nkind = prune\nsteps = 100\nstart = 0.5\nfreeze = 0.2\n", NULL, 0,
	             "stage a: freeze (step 20) is before start (step 50)");
	/* the masks move until the target is reached, and within the stage */
	expect_error("[stage a]\nkind = prune\nsteps = 100\nend = 0.6\nfreeze = 0.5\n", NULL, 0,
	             "stage a: freeze (step 50) is before end (step 60): pruning would stop short");
	expect_error("[stage a]\nkind = prune\nsteps = 100\nfreeze = 150\n", NULL, 0,
	             "freeze (step 150) is past the stage's last step (100)");
	expect_error("[stage a]\nkind = prune\nsteps = 100\nend = 120\nfreeze = 120\n", NULL, 0,
	             "end (step 120) is past the stage's last step (100)");
	expect_error("[stage a]\nkind = prune\nsteps = 100\nevery = 0\n", NULL, 0, "every = 0: prune every N steps");
	write_recipe(good);
	pofa_recipe r;
	pofa_err err;
	assert_int_equal(pofa_recipe_load(path, NULL, 0, &r, &err), 0);
	pofa_stage s = r.stages[1];
	char why[256];
	assert_int_equal(pofa_stage_check(&s, 1000, why, sizeof why), 0);
	/* what the loader refuses as text, the check refuses as a value */
	s.final_sparsity = 1.2f;
	assert_int_equal(pofa_stage_check(&s, 1000, why, sizeof why), -1);
	if (!strstr(why, "final_sparsity = 1.2 is outside [0, 0.99]"))
		fail_msg("expected the key table's range, got: %s", why);
	s = r.stages[1];
	s.end = 5;
	s.start = 10;
	assert_int_equal(pofa_stage_check(&s, 1000, why, sizeof why), -1);
	assert_non_null(strstr(why, "before start"));
	/* without a total, what depends on it waits for the stage to start */
	assert_int_equal(pofa_stage_check(&s, 0, why, sizeof why), 0);
	s = r.stages[1];
	s.temperature = 0.0f;
	assert_int_equal(pofa_stage_check(&s, 0, why, sizeof why), -1);
	assert_non_null(strstr(why, "temperature"));
	pofa_recipe_free(&r);
}

/* section headers read one way: ours, whatever inih makes of them */
static void test_section_names(void **st)
{
	(void)st;
	const char *heads[] = { "[stage  ft]", "[stage ft ]", "[ stage\tft ]" };
	for (int k = 0; k < 3; k++) {
		char text[256];
		snprintf(text, sizeof text, "%s\nkind = mlm\nsteps = 3\n", heads[k]);
		write_recipe(text);
		pofa_recipe r;
		pofa_err err;
		if (pofa_recipe_load(path, NULL, 0, &r, &err))
			fail_msg("%s: %s", heads[k], err.msg);
		assert_string_equal(r.stages[0].name, "ft");
		assert_int_equal(r.stages[0].kind, POFA_STAGE_MLM);
		assert_int_equal(r.stages[0].steps, 3);
		pofa_recipe_free(&r);
	}
	/* 47 characters: longer than inih keeps of a section name */
	char name[48], text[256];
	memset(name, 'n', 47);
	name[47] = 0;
	snprintf(text, sizeof text, "[stage %s]\nkind = mlm\nsteps = 2\n", name);
	write_recipe(text);
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &r, &err))
		fail_msg("47-character stage name: %s", err.msg);
	assert_string_equal(r.stages[0].name, name);
	assert_int_equal(r.stages[0].steps, 2);
	pofa_recipe_free(&r);
	snprintf(text, sizeof text, "[stage %sn]\nkind = mlm\nsteps = 2\n", name);
	expect_error(text, NULL, 0, "use letters, digits, - and _ (at most 47, not starting with -)");
	/* a name starting with -: an option to a shell, a formula to a spreadsheet */
	expect_error("[stage -a]\nkind = mlm\nsteps = 2\n", NULL, 0, "stage name \"-a\": use letters");
	expect_error("[run]\nname = -x\n[stage a]\nkind = mlm\nsteps = 2\n", NULL, 0, "name = -x: a run's name");
}

/* a run's name becomes a folder: the stage-name rules; one key, once */
static void test_run_name_and_duplicates(void **st)
{
	(void)st;
	expect_error("[run]\nname = ../../x\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0,
	             "2: name = ../../x: a run's name becomes its folder");
	expect_error("[run]\nname = /tmp/x\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0, "name = /tmp/x");
	expect_error("[stage a]\nkind = mlm\nsteps = 1\nsteps = 2\n", NULL, 0,
	             "4: steps again in [stage a] (first at line 3)");
}

/* relative paths in the file are the recipe folder's; in --set, the
 * current folder's; the recipe as run holds them resolved */
static void test_relative_paths(void **st)
{
	(void)st;
	char sub[600], rp[700], cwd[600];
	fx_path(sub, sizeof sub, "rel");
	mkdir(sub, 0755);
	snprintf(rp, sizeof rp, "%s/r.ini", sub);
	fx_spit_str(rp, "[model]\npreset = bert-tiny\n[data]\ndir = ../shared/./data\n"
	                "[stage a]\nkind = mlm\nsteps = 1\n"
	                "[stage f]\nkind = finetune\ntask = mine\nsteps = 1\ntrain_file = t/train.tsv\n"
	                "dev_file = /abs/dev.tsv\n");
	char *base = realpath(sub, NULL), *parent;
	assert_non_null(base);
	parent = strdup(base);
	*strrchr(parent, '/') = 0;
	assert_non_null(getcwd(cwd, sizeof cwd));
	const char *sets[] = { "f.test_file=here/test.tsv" };
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(rp, sets, 1, &r, &err))
		fail_msg("%s", err.msg);
	char want[1400];
	snprintf(want, sizeof want, "%s/shared/data", parent);
	assert_string_equal(r.data_dir, want);
	snprintf(want, sizeof want, "%s/shared/data/vocab.txt", parent);
	assert_string_equal(r.vocab, want);
	snprintf(want, sizeof want, "%s/t/train.tsv", base);
	assert_string_equal(r.stages[1].task.train, want);
	assert_string_equal(r.stages[1].task.dev, "/abs/dev.tsv");
	snprintf(want, sizeof want, "%s/here/test.tsv", cwd);
	assert_string_equal(r.stages[1].task.test, want);
	/* the recipe as run names them resolved */
	snprintf(want, sizeof want, "dir = %s/shared/data\n", parent);
	assert_non_null(strstr(r.text, want));
	/* where the vocabulary was looked for: the key and its line */
	snprintf(want, sizeof want, "[data] dir at %s:4", rp);
	assert_string_equal(r.vocab_from, want);
	pofa_recipe_free(&r);
	free(base);
	free(parent);
}

/* [task NAME]: declared once, used by any stage; a stage's own keys win */
static void test_declared_tasks(void **st)
{
	(void)st;
	write_recipe("[task mine]\nformat = csv\ntrain_file = /t/train.csv\ndev_file = /t/dev.csv\n"
	             "text_a = question\nlabel_column = topic\npositive = yes\n"
	             "[stage a]\nkind = finetune\ntask = mine\nsteps = 2\n"
	             "[stage b]\nkind = finetune\ntask = mine\nsteps = 2\ndev_file = /other/dev.csv\n"
	             "[stage e]\nkind = eval\nmodels = a\ntask = mine\n");
	const char *sets[] = { "mine.test_file=/t/test.csv" };
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(path, sets, 1, &r, &err))
		fail_msg("%s", err.msg);
	for (int i = 0; i < 3; i++) {
		const pofa_task_spec *t = &r.stages[i].task;
		assert_string_equal(t->name, "mine");
		assert_int_equal(t->format, POFA_TASK_CSV);
		assert_string_equal(t->train, "/t/train.csv");
		assert_string_equal(t->text_a, "question");
		assert_string_equal(t->label, "topic");
		assert_string_equal(t->positive, "yes");
		assert_string_equal(t->test, "/t/test.csv");
		assert_string_equal(t->dev, i == 1 ? "/other/dev.csv" : "/t/dev.csv");
	}
	pofa_recipe_free(&r);
	expect_error("[task mine]\nkind = mlm\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0,
	             "2: unknown key \"kind\" in [task mine]; a task takes format");
	expect_error("[task wn-pair]\ntrain_file = x\n[stage a]\nkind = mlm\nsteps = 1\n", NULL, 0,
	             "1: [task wn-pair]: a built-in task has that name");
	expect_error("[stage a]\nkind = finetune\nsteps = 1\ntask = mine\n", NULL, 0, "declare it ([task mine]");
	expect_error("[task x]\ntrain_file = /a\n[stage x]\nkind = mlm\nsteps = 1\n", (const char *[]){ "x.steps=2" },
	             1, "[stage x] and [task x] share the name");
	/* from/teacher: a stage, or a model folder that is there */
	expect_error("[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\nfrom = /no/such/model\n", NULL, 0,
	             "5: stage a: from = /no/such/model names no stage of this recipe and no model folder "
	             "(/no/such/model/config.json not found)");
}

/* the key table: every default a stage or a recipe starts with is the
 * table's (the value of a key written as its default changes nothing), and
 * the pruning method is a key of it */
static void test_key_table(void **st)
{
	(void)st;
	pofa_stage a, b;
	pofa_stage_defaults(&a);
	int ndef = 0;
	for (int i = 0; i < pofa_recipe_nkeys; i++) {
		const pofa_recipe_key *k = &pofa_recipe_keys[i];
		assert_non_null(k->help);
		char takes[200], why[200];
		pofa_recipe_key_takes(k, takes, sizeof takes);
		assert_true(takes[0] != 0);
		if (!k->def || !(k->where & (POFA_IN_STAGE | POFA_IN_TASK)))
			continue;
		/* setting the default over the defaults leaves the stage as it was */
		b = a;
		if (pofa_recipe_key_set(k, &b, NULL, k->def, why, sizeof why))
			fail_msg("%s = %s: %s", k->name, k->def, why);
		if (memcmp(&a, &b, sizeof a))
			fail_msg("%s's default %s is not what pofa_stage_defaults sets", k->name, k->def);
		ndef++;
	}
	assert_true(ndef >= 25);
	assert_int_equal(a.batch, 32);
	assert_true(a.final_sparsity == 0.9f);
	assert_int_equal(a.method, POFA_PRUNE_MAGNITUDE);
	assert_string_equal(a.splits, "dev");
	pofa_recipe r;
	memset(&r, 0, sizeof r);
	pofa_recipe_defaults(&r);
	assert_int_equal(r.log_interval, 10);
	assert_int_equal(r.checkpoint_interval, 200);
	assert_string_equal(r.data_dir, "gen/data");
	assert_string_equal(r.overlap, "auto");
	/* a key is found in its own sections only */
	assert_non_null(pofa_recipe_key_find(POFA_IN_STAGE, "final_sparsity"));
	assert_null(pofa_recipe_key_find(POFA_IN_RUN, "final_sparsity"));
	assert_null(pofa_recipe_key_find(POFA_IN_TASK, "kind"));
	assert_non_null(pofa_recipe_key_find(POFA_IN_TASK, "train_file"));
	/* method: validated against the pruning-method table */
	write_recipe("[stage a]\nkind = prune\nsteps = 10\nmethod = magnitude\n");
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &r, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(r.stages[0].method, POFA_PRUNE_MAGNITUDE);
	assert_int_equal(pofa_stage_gmp(&r.stages[0], 10).method, POFA_PRUNE_MAGNITUDE);
	pofa_recipe_free(&r);
	expect_error("[stage a]\nkind = prune\nsteps = 10\nmethod = fisher\n", NULL, 0, "4: method = fisher: want magnitude");
	const char *sm[] = { "a.method=random" };
	expect_error("[stage a]\nkind = prune\nsteps = 10\n", sm, 1, "--set a.method=random: want magnitude");
}

/* an eval stage's models: earlier stages or model folders, the folders
 * written resolved into the recipe as run */
static void test_eval_models(void **st)
{
	(void)st;
	char dir[600], cfg[700];
	fx_path(dir, sizeof dir, "m/dense");
	mkdir(fx_path(cfg, sizeof cfg, "m"), 0755);
	mkdir(dir, 0755);
	snprintf(cfg, sizeof cfg, "%s/config.json", dir);
	fx_spit_str(cfg, "{}");
	write_recipe("[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\n"
	             "[stage e]\nkind = eval\ntask = wn-pair\nmodels = a, m/dense\n");
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &r, &err))
		fail_msg("%s", err.msg);
	char want[1300];
	snprintf(want, sizeof want, "a, %s", dir);
	assert_string_equal(r.stages[1].models, want);
	assert_non_null(strstr(r.text, want));
	char refs[4][1024], name[48];
	assert_int_equal(pofa_stage_model_refs(&r.stages[1], refs, 4), 2);
	assert_string_equal(refs[1], dir);
	pofa_model_ref_name(refs[1], name, sizeof name);
	assert_string_equal(name, "m/dense");
	pofa_model_ref_name(refs[0], name, sizeof name);
	assert_string_equal(name, "a");
	pofa_recipe_free(&r);
	expect_error("[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\n"
	             "[stage e]\nkind = eval\ntask = wn-pair\nmodels = a, m/none\n", NULL, 0,
	             "models names m/none, which is no stage of this recipe and no model folder");
	/* model folders whose list fits its line but not, resolved to full
	 * paths, the recipe as run's value: refused, not cut short */
	char text[1500] = "[stage e]\nkind = eval\ntask = wn-pair\nmodels = ";
	for (int k = 0; k < 16; k++) {
		char rel[100];
		snprintf(rel, sizeof rel, "m/a-folder-name-long-enough-that-16-fill-a-line-%02d", k);
		mkdir(fx_path(dir, sizeof dir, rel), 0755);
		snprintf(cfg, sizeof cfg, "%s/config.json", dir);
		fx_spit_str(cfg, "{}");
		snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", k ? ", " : "", rel);
	}
	strcat(text, "\n");
	assert_true(strlen(strstr(text, "models =")) < 1000);
	expect_error(text, NULL, 0, "once its folders are resolved, and the recipe as run keeps at most 1023");
}

/* from and teacher may name a model folder by a long path (a run's folder
 * under a deep checkout), not only a stage name */
static void test_long_model_paths(void **st)
{
	(void)st;
	char dir[600], cfg[700], text[2000];
	fx_path(dir, sizeof dir, "runs");
	mkdir(dir, 0755);
	fx_path(dir, sizeof dir, "runs/prune-ofa-20261206-102314-a-long-run-name");
	mkdir(dir, 0755);
	fx_path(dir, sizeof dir, "runs/prune-ofa-20261206-102314-a-long-run-name/dense-sense-teacher");
	mkdir(dir, 0755);
	assert_true(strlen(dir) > 60);   /* past the old limit of 47 */
	snprintf(cfg, sizeof cfg, "%s/config.json", dir);
	fx_spit_str(cfg, "{}");
	snprintf(text, sizeof text, "[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\nfrom = %s\nteacher = %s\n",
	         dir, dir);
	write_recipe(text);
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &r, &err))
		fail_msg("a %zu-character model folder path: %s", strlen(dir), err.msg);
	assert_string_equal(r.stages[0].from_dir, dir);
	assert_string_equal(r.stages[0].teacher_dir, dir);
	pofa_recipe_free(&r);
	/* past the limit: refused, saying what the limit is */
	char big[700];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	snprintf(text, sizeof text, "[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\nteacher = /%s\n", big);
	expect_error(text, NULL, 0, "teacher = /xxx");
	expect_error(text, NULL, 0, "too long (at most 511 characters)");
	/* a line past inih's 200 characters is read whole, an inline comment
	 * dropped; past an entry's size it is refused with its own line */
	snprintf(text, sizeof text, "[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\nteacher = %.300s\n"
	         "from = %s   ; the teacher, also the start\n", big, dir);
	expect_error(text, NULL, 0, ":5: stage a: teacher = xxxxxxxxxx");
	snprintf(text, sizeof text, "[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\nteacher = %s\n"
	         "from = %s   ; the teacher is also the start, said in a comment long enough to take the line past "
	         "the two hundred characters inih reads\n", dir, dir);
	write_recipe(text);
	if (pofa_recipe_load(path, NULL, 0, &r, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(r.stages[0].from_dir, dir);
	assert_true(strlen(strstr(text, "from =")) > 200);
	pofa_recipe_free(&r);
	char huge[1400];
	memset(huge, 'y', sizeof huge - 1);
	huge[sizeof huge - 1] = 0;
	snprintf(text, sizeof text, "[stage a]\nkind = finetune\ntask = wn-pair\nsteps = 1\nteacher = %s\n", huge);
	expect_error(text, NULL, 0, ":5: a line longer than a key and a value of 1023 characters");
}

/* a CSV task's columns default as a TSV task's, its format named or not */
static void test_csv_defaults(void **st)
{
	(void)st;
	write_recipe("[task t]\nformat = csv\ntrain_file = /x/train.csv\ndev_file = /x/dev.csv\n"
	             "[stage a]\nkind = finetune\ntask = t\nsteps = 1\n");
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(path, NULL, 0, &r, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(r.stages[0].task.text_a, "sentence");
	assert_string_equal(r.stages[0].task.label, "label");
	pofa_recipe_free(&r);
}

/* step_scale: every count of steps scaled, fractions of a stage kept */
static void test_step_scale(void **st)
{
	(void)st;
	write_recipe("[run]\nname = s\n[stage a]\nkind = prune\nsteps = 100\nwarmup = 10\nend = 40\nevery = 0.02\nfreeze = 80\n"
	             "[stage b]\nkind = mlm\nsteps = 2\n");
	const char *sets[] = { "run.step_scale=0.25" };
	pofa_recipe r;
	pofa_err err;
	if (pofa_recipe_load(path, sets, 1, &r, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(r.stages[0].steps, 25);
	FX_NEAR(r.stages[0].warmup, 3.0, 0);    /* 2.5 rounded */
	FX_NEAR(r.stages[0].end, 10.0, 0);
	FX_NEAR(r.stages[0].every, 0.02, 0);    /* a fraction of the stage: kept */
	FX_NEAR(r.stages[0].freeze, 20.0, 0);
	assert_int_equal(r.stages[1].steps, 1); /* at least one */
	pofa_recipe_free(&r);
	const char *bad[] = { "run.step_scale=0" };
	expect_error("[run]\nname = s\n[stage a]\nkind = mlm\nsteps = 1\n", bad, 1, "--set run.step_scale=0: want a number");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_step_scale),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_declared_tasks),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stage_check),
		cmocka_unit_test(test_section_names),
		cmocka_unit_test(test_run_name_and_duplicates),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_eval_models),
		cmocka_unit_test(test_long_model_paths),
		cmocka_unit_test(test_csv_defaults),
	};
	return cmocka_run_group_tests_name("recipe", tests, setup, teardown);
}
