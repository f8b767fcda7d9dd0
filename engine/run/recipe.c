/* recipe.c - INI recipes (see recipe.h and pofa-recipe(5)). */
#include "engine/run/recipe.h"
#include "data/base/mem.h"
#include "data/base/fileio.h"
#include "data/base/rng.h"
#include "data/base/util.h"

#include <string.h>
#include <math.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *const pofa_stage_kinds[] = { "mlm", "prune", "finetune", "qat", "eval" };
_Static_assert(POFA_ARRAY_LEN(pofa_stage_kinds) == POFA_STAGE_KIND_COUNT, "a name per stage kind");

/* ---- the file as entries -------------------------------------------------- */

typedef struct {
	char section[64], key[64], value[1024];
	long line;            /* 0: from --set */
} entry;

typedef struct {
	char name[64];        /* "run", "model", "data" or "stage NAME" */
	long line;
} section;

typedef struct {
	entry *e;
	int n;
	size_t cap;
	section s[POFA_MAX_STAGES + 3 + POFA_MAX_TASKS];
	int ns;
	long line;            /* lines read so far by the reader */
	const char *text;
	size_t pos, len;
	int too_long;
	int reading;          /* inih is reading the file (not --set) */
} parsed;

static char *reader(char *str, int num, void *stream)
{
	parsed *p = stream;
	if (p->pos >= p->len)
		return NULL;
	size_t i = 0;
	while (p->pos < p->len && i + 1 < (size_t)num) {
		char c = p->text[p->pos++];
		str[i++] = c;
		if (c == '\n')
			break;
	}
	str[i] = 0;
	p->line++;
	return str;
}

static int handler(void *user, const char *sec, const char *key, const char *value)
{
	parsed *p = user;
	if (pofa_grow(&p->e, &p->cap, (size_t)p->n + 1, sizeof *p->e))
		return 0;
	entry *e = &p->e[p->n++];
	if (p->reading) {
		/* one parser of section names: ours (scan_sections), by line, so
		 * inih's own reading of the header never decides */
		sec = "";
		for (int i = 0; i < p->ns && p->s[i].line < p->line; i++)
			sec = p->s[i].name;
	}
	snprintf(e->section, sizeof e->section, "%s", sec);
	snprintf(e->key, sizeof e->key, "%s", key);
	snprintf(e->value, sizeof e->value, "%s", value);
	e->line = p->line;
	return 1;
}

/* section headers, in order, with their lines (inih reports only keys) */
static int scan_sections(parsed *p, const char *path, pofa_err *err)
{
	long line = 0;
	for (size_t i = 0; i < p->len;) {
		size_t j = i;
		while (j < p->len && p->text[j] != '\n')
			j++;
		line++;
		size_t a = i, b = j;
		while (a < b && isspace((unsigned char)p->text[a]))
			a++;
		while (b > a && isspace((unsigned char)p->text[b - 1]))
			b--;
		if (b > a && p->text[a] == '[') {
			if (p->text[b - 1] != ']')
				return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: a section header needs a closing ]", path, line);
			if (p->ns == (int)POFA_ARRAY_LEN(p->s))
				return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: too many sections (at most %d stages and %d "
				                  "tasks)", path, line, POFA_MAX_STAGES, POFA_MAX_TASKS);
			section *s = &p->s[p->ns++];
			/* collapse inner whitespace: "[stage   x]" -> "stage x" */
			size_t o = 0;
			int sp = 0;
			for (size_t k = a + 1; k < b - 1; k++) {
				char c = p->text[k];
				if (isspace((unsigned char)c)) {
					sp = o > 0;
					continue;
				}
				if (o + sp + 1 >= sizeof s->name)
					return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: a section name longer than %zu characters",
					                  path, line, sizeof s->name - 1);
				if (sp)
					s->name[o++] = ' ';
				sp = 0;
				s->name[o++] = c;
			}
			s->name[o] = 0;
			s->line = line;
		}
		i = j + 1;
	}
	return POFA_OK;
}

/* ---- paths ------------------------------------------------------------------- */

/* keys whose values are paths: in the file, a relative one is taken from
 * the recipe's folder (on the command line, --set, from the current one) */
static int path_key(const char *section, const char *key)
{
	if (!strcmp(section, "data"))
		return !strcmp(key, "dir") || !strcmp(key, "corpus");
	if (!strcmp(section, "model"))
		return !strcmp(key, "dir") || !strcmp(key, "vocab");
	if (!strncmp(section, "stage ", 6) || !strncmp(section, "task ", 5))
		return !strcmp(key, "train_file") || !strcmp(key, "dev_file") || !strcmp(key, "test_file");
	return 0;
}

/* out = base/rel with . and .. taken out by name, as Go's filepath.Clean
 * does (the path may not exist yet); -1 when it does not fit */
static int join_clean(const char *base, const char *rel, char *out, size_t cap)
{
	char tmp[2200];
	if (snprintf(tmp, sizeof tmp, "%s/%s", base, rel) >= (int)sizeof tmp)
		return -1;
	const char *part[512];
	int n = 0, up = 0;            /* up: leading .. of a relative path */
	for (char *t = strtok(tmp, "/"); t && n < 512; t = strtok(NULL, "/")) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..") && n > up)
			n--;
		else if (!strcmp(t, "..") && base[0] == '/')
			;                     /* above the root: the root */
		else {
			up += !strcmp(t, "..");   /* only while n == up */
			part[n++] = t;
		}
	}
	size_t o = 0;
	if (base[0] == '/')
		out[o++] = '/';
	for (int k = 0; k < n; k++) {
		size_t len = strlen(part[k]);
		if (o + len + 2 > cap)
			return -1;
		if (k)
			out[o++] = '/';
		memcpy(out + o, part[k], len);
		o += len;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = 0;
	return 0;
}

/* the recipe's folder, absolute when it can be */
static void recipe_folder(const char *path, char *out, size_t cap)
{
	char d[1100];
	snprintf(d, sizeof d, "%s", path);
	char *sl = strrchr(d, '/');
	if (sl)
		*(sl == d ? sl + 1 : sl) = 0;
	else
		strcpy(d, ".");
	char *abs = realpath(d, NULL);
	snprintf(out, cap, "%s", abs ? abs : d);
	free(abs);
}

/* ---- values ------------------------------------------------------------------ */

static int bad(pofa_err *err, const char *path, long line, const char *key, const char *value,
               const char *want)
{
	if (line > 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: %s = %s: %s", path, line, key, value, want);
	return pofa_error(err, POFA_ERR_INPUT, "--set %s=%s: %s", key, value, want);
}

static int parse_double(const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	while (*end && isspace((unsigned char)*end))
		end++;
	if (!*v || *end || errno || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	static const char *yes[] = { "1", "yes", "true", "on" }, *no[] = { "0", "no", "false", "off" };
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return *out = 1, 0;
		if (!strcasecmp(v, no[i]))
			return *out = 0, 0;
	}
	return -1;
}

enum { T_INT, T_I64, T_DBL, T_FLT, T_STR, T_BOOL, T_STEPS };

typedef struct {
	const char *name;
	int type;
	size_t off, size;
	double lo, hi;
} keydef;

#define K(st, f, t, lo, hi) { #f, t, offsetof(st, f), sizeof(((st *)0)->f), lo, hi }

static const keydef run_keys[] = {
	K(pofa_recipe, name, T_STR, 0, 0),
	K(pofa_recipe, seed, T_I64, 0, 9.2e18),
	K(pofa_recipe, threads, T_INT, 1, 64),
	K(pofa_recipe, log_interval, T_I64, 1, 1e9),
	K(pofa_recipe, checkpoint_interval, T_I64, 1, 1e9),
	K(pofa_recipe, overlap, T_STR, 0, 0),
};
static const keydef model_keys[] = {
	K(pofa_recipe, preset, T_STR, 0, 0),
	{ "dir", T_STR, offsetof(pofa_recipe, model_dir), sizeof(((pofa_recipe *)0)->model_dir), 0, 0 },
	K(pofa_recipe, vocab, T_STR, 0, 0),
	K(pofa_recipe, max_position, T_INT, 8, 65536),
	K(pofa_recipe, hidden_dropout, T_FLT, 0, 0.99),
	K(pofa_recipe, attention_dropout, T_FLT, 0, 0.99),
};
static const keydef data_keys[] = {
	{ "dir", T_STR, offsetof(pofa_recipe, data_dir), sizeof(((pofa_recipe *)0)->data_dir), 0, 0 },
	K(pofa_recipe, corpus, T_STR, 0, 0),
};
static const keydef stage_keys[] = {
	K(pofa_stage, from, T_STR, 0, 0),
	K(pofa_stage, teacher, T_STR, 0, 0),
	K(pofa_stage, steps, T_I64, 1, 1e12),
	K(pofa_stage, epochs, T_DBL, 0.001, 1e6),
	K(pofa_stage, batch, T_INT, 1, 4096),
	K(pofa_stage, seq, T_INT, 8, 65536),
	K(pofa_stage, lr, T_DBL, 0, 10),
	K(pofa_stage, warmup, T_STEPS, 0, 1e12),
	K(pofa_stage, weight_decay, T_DBL, 0, 10),
	K(pofa_stage, beta1, T_DBL, 0, 0.999999),
	K(pofa_stage, beta2, T_DBL, 0, 0.999999999),
	K(pofa_stage, eps, T_DBL, 1e-30, 1),
	K(pofa_stage, max_grad_norm, T_DBL, 0, 1e9),
	K(pofa_stage, shuffle, T_BOOL, 0, 1),
	K(pofa_stage, eval_interval, T_I64, 0, 1e12),
	K(pofa_stage, patience, T_I64, 0, 1e9),
	K(pofa_stage, eval_examples, T_I64, 0, 1e12),
	K(pofa_stage, hidden_dropout, T_FLT, 0, 0.99),
	K(pofa_stage, attention_dropout, T_FLT, 0, 0.99),
	K(pofa_stage, classifier_dropout, T_FLT, 0, 0.99),
	K(pofa_stage, alpha_task, T_FLT, 0, 100),
	K(pofa_stage, alpha_kd, T_FLT, 0, 100),
	K(pofa_stage, temperature, T_FLT, 0.01, 100),
	K(pofa_stage, initial_sparsity, T_FLT, 0, 0.99),
	K(pofa_stage, final_sparsity, T_FLT, 0, 0.99),
	K(pofa_stage, start, T_STEPS, 0, 1e12),
	K(pofa_stage, end, T_STEPS, 0, 1e12),
	K(pofa_stage, every, T_STEPS, 0, 1e12),
	K(pofa_stage, freeze, T_STEPS, 0, 1e12),
	K(pofa_stage, lock, T_BOOL, 0, 1),
	K(pofa_stage, per_channel, T_BOOL, 0, 1),
	K(pofa_stage, whole_word, T_BOOL, 0, 1),
	K(pofa_stage, mask_prob, T_FLT, 0.01, 0.9),
	K(pofa_stage, models, T_STR, 0, 0),
	K(pofa_stage, splits, T_STR, 0, 0),
	K(pofa_stage, reference, T_STR, 0, 0),
};
#undef K

static int set_key(void *base, const keydef *k, const entry *e, const char *path, pofa_err *err)
{
	char *p = (char *)base + k->off;
	const char *v = e->value;
	double d;
	int b;
	char what[200];
	switch (k->type) {
	case T_STR:
		if (strlen(v) >= k->size)
			return bad(err, path, e->line, e->key, v, "too long");
		if (!strcmp(k->name, "overlap") && strcmp(v, "auto") && strcmp(v, "yes") && strcmp(v, "no"))
			return bad(err, path, e->line, e->key, v, "want auto, yes or no");
		strcpy(p, v);
		return POFA_OK;
	case T_BOOL:
		if (parse_bool(v, &b))
			return bad(err, path, e->line, e->key, v, "want yes or no");
		*(int *)p = b;
		return POFA_OK;
	default:
		break;
	}
	if (parse_double(v, &d) || d < k->lo || d > k->hi) {
		snprintf(what, sizeof what, "want a number in [%g, %g]", k->lo, k->hi);
		return bad(err, path, e->line, e->key, v, what);
	}
	if ((k->type == T_INT || k->type == T_I64) && d != floor(d))
		return bad(err, path, e->line, e->key, v, "want a whole number");
	if (k->type == T_STEPS && d >= 1.0 && d != floor(d))
		return bad(err, path, e->line, e->key, v, "want whole steps, or a fraction below 1");
	switch (k->type) {
	case T_INT: *(int *)p = (int)d; break;
	case T_I64: *(int64_t *)p = (int64_t)d; break;
	case T_FLT: *(float *)p = (float)d; break;
	default: *(double *)p = d; break;
	}
	return POFA_OK;
}

static int find_key(const keydef *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].name, name))
			return (int)i;
	return -1;
}

/* ---- defaults -------------------------------------------------------------- */

static void stage_defaults(pofa_stage *s)
{
	memset(s, 0, sizeof *s);
	s->from_idx = s->teacher_idx = -1;
	s->batch = 32;
	s->seq = 128;
	s->lr = 1e-4;
	s->warmup = 0.01;
	s->schedule = POFA_SCHED_LINEAR;
	s->weight_decay = 0.01;
	s->beta1 = 0.9;
	s->beta2 = 0.999;
	s->eps = 1e-8;
	s->max_grad_norm = 1.0;
	s->shuffle = 1;
	s->hidden_dropout = s->attention_dropout = s->classifier_dropout = -1.0f;
	s->alpha_task = 0.5f;
	s->alpha_kd = 0.5f;
	s->temperature = 2.0f;
	s->final_sparsity = 0.9f;
	s->start = 0.0;
	s->end = 0.5;
	s->every = 0.01;
	s->freeze = 0.8;
	s->pattern = POFA_PATTERN_UNSTRUCTURED;
	s->block = 4;
	s->nm_n = 2;
	s->nm_m = 4;
	s->mask_prob = 0.15f;
	strcpy(s->splits, "dev");
}

static int by_section_key(const void *a, const void *b)
{
	const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
	int c = strcmp(x->section, y->section);
	c = c ? c : strcmp(x->key, y->key);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int check_duplicates(parsed *p, const char *path, pofa_err *err)
{
	if (p->n < 2)
		return POFA_OK;
	const entry **v = malloc((size_t)p->n * sizeof *v);
	if (!v)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	for (int j = 0; j < p->n; j++)
		v[j] = &p->e[j];
	qsort(v, (size_t)p->n, sizeof *v, by_section_key);
	int rc = POFA_OK;
	for (int j = 1; j < p->n && !rc; j++)
		if (!strcmp(v[j]->section, v[j - 1]->section) && !strcmp(v[j]->key, v[j - 1]->key))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: %s again in [%s] (first at line %ld); keep one",
			                path, v[j]->line, v[j]->key, v[j]->section, v[j - 1]->line);
	free(v);
	return rc;
}

/* a name that becomes a folder: letters, digits, - and _, at most 47 */
int pofa_name_ok(const char *nm)
{
	int ok = *nm && strlen(nm) <= 47;
	for (const char *c = nm; *c && ok; c++)
		ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_';
	return ok;
}

/* ---- the recipe ------------------------------------------------------------ */

void pofa_recipe_free(pofa_recipe *r)
{
	free(r->text);
	r->text = NULL;
}

int pofa_recipe_stage(const pofa_recipe *r, const char *name)
{
	for (int i = 0; i < r->nstages; i++)
		if (!strcmp(r->stages[i].name, name))
			return i;
	return -1;
}

uint64_t pofa_stage_seed(const pofa_recipe *r, const pofa_stage *s)
{
	return pofa_mix64(r->seed ^ pofa_mix64(pofa_fnv1a(s->name, strlen(s->name))));
}

int64_t pofa_steps_of(double v, int64_t total)
{
	if (v < 1.0 && v > 0.0)
		return (int64_t)llround(v * (double)total);
	return (int64_t)v;
}

int64_t pofa_stage_total_steps(const pofa_stage *s, long ntrain)
{
	if (s->steps > 0)
		return s->steps;
	int64_t per = (ntrain + s->batch - 1) / s->batch;
	int64_t n = (int64_t)llround(s->epochs * (double)per);
	return n < 1 ? 1 : n;
}

pofa_gmp pofa_stage_gmp(const pofa_stage *s, int64_t total)
{
	pofa_gmp g = { 0 };
	g.s_init = s->initial_sparsity;
	g.s_final = s->final_sparsity;
	g.t0 = pofa_steps_of(s->start, total);
	g.t1 = pofa_steps_of(s->end, total);
	g.every = pofa_steps_of(s->every, total);
	if (g.every < 1)
		g.every = 1;
	g.freeze = pofa_steps_of(s->freeze, total);
	g.pattern = s->pattern;
	g.block = s->block;
	g.n = s->nm_n;
	g.m = s->nm_m;
	g.global = s->global;
	return g;
}

/* the schedule's knobs: what live edits may change, and what they depend on */
static const char *const sched_keys[] = { "initial_sparsity", "final_sparsity", "start", "end", "every",
                                          "freeze", "lr", "alpha_task", "alpha_kd", "temperature" };

int pofa_stage_check(const pofa_stage *s, int64_t total, char *why, size_t n)
{
	/* each knob in its range, as the key table gives it */
	for (size_t i = 0; i < POFA_ARRAY_LEN(sched_keys); i++) {
		const keydef *k = &stage_keys[find_key(stage_keys, POFA_ARRAY_LEN(stage_keys), sched_keys[i])];
		const char *p = (const char *)s + k->off;
		double v = k->type == T_FLT ? *(const float *)p : *(const double *)p;
		if (!(v >= k->lo && v <= k->hi))
			return snprintf(why, n, "%s = %g is outside [%g, %g]", k->name, v, k->lo, k->hi), -1;
	}
	if (!s->prune)
		return 0;
	if (s->pattern == POFA_PATTERN_NM &&
	    fabsf(s->final_sparsity - (1.0f - (float)s->nm_n / (float)s->nm_m)) > 1e-6f)
		return snprintf(why, n, "pattern %d:%d means final_sparsity = %g", s->nm_n, s->nm_m,
		                1.0 - (double)s->nm_n / s->nm_m), -1;
	if (s->global && s->pattern != POFA_PATTERN_UNSTRUCTURED)
		return snprintf(why, n, "scope = global needs pattern = unstructured"), -1;
	if (s->initial_sparsity > s->final_sparsity)
		return snprintf(why, n, "initial_sparsity %g above final_sparsity %g", s->initial_sparsity,
		                s->final_sparsity), -1;
	if (s->every == 0.0)
		return snprintf(why, n, "every = 0: prune every N steps (N >= 1) or a fraction of the steps"), -1;
	if (total <= 0)
		return 0;
	pofa_gmp g = pofa_stage_gmp(s, total);
	if (g.t1 < g.t0)
		return snprintf(why, n, "end (step %lld) is before start (step %lld)", (long long)g.t1,
		                (long long)g.t0), -1;
	if (g.freeze < g.t0)
		return snprintf(why, n, "freeze (step %lld) is before start (step %lld)", (long long)g.freeze,
		                (long long)g.t0), -1;
	/* the masks must move until the target is reached, and within the stage */
	if (g.freeze < g.t1)
		return snprintf(why, n, "freeze (step %lld) is before end (step %lld): pruning would stop short of "
		                "final_sparsity", (long long)g.freeze, (long long)g.t1), -1;
	if (g.t1 > total)
		return snprintf(why, n, "end (step %lld) is past the stage's last step (%lld)", (long long)g.t1,
		                (long long)total), -1;
	if (g.freeze > total)
		return snprintf(why, n, "freeze (step %lld) is past the stage's last step (%lld)", (long long)g.freeze,
		                (long long)total), -1;
	return 0;
}

static const char *sec_kind(const char *sec)
{
	if (!strcmp(sec, "run") || !strcmp(sec, "model") || !strcmp(sec, "data"))
		return sec;
	if (!strncmp(sec, "stage ", 6))
		return "stage";
	if (!strncmp(sec, "task ", 5))
		return "task";
	return NULL;
}

/* the keys of a [task NAME] section: what a stage's task keys say */
static int task_key(const char *k)
{
	static const char *const keys[] = { "format", "delimiter", "quoting", "train_file", "dev_file", "test_file",
	                                    "text_a", "text_b", "label_column", "positive" };
	for (size_t i = 0; i < POFA_ARRAY_LEN(keys); i++)
		if (!strcmp(k, keys[i]))
			return 1;
	return 0;
}

/* a stage's task from a [task NAME] section: what the stage does not set
 * itself */
static void merge_task(pofa_task_spec *s, const pofa_task_spec *d)
{
	if (!s->format_set)
		s->format = d->format, s->format_set = d->format_set;
	struct { char *to; const char *from; size_t n; } f[] = {
		{ s->train, d->train, sizeof s->train }, { s->dev, d->dev, sizeof s->dev },
		{ s->test, d->test, sizeof s->test }, { s->text_a, d->text_a, sizeof s->text_a },
		{ s->text_b, d->text_b, sizeof s->text_b }, { s->label, d->label, sizeof s->label },
		{ s->positive, d->positive, sizeof s->positive },
	};
	for (size_t i = 0; i < POFA_ARRAY_LEN(f); i++)
		if (!f[i].to[0])
			snprintf(f[i].to, f[i].n, "%s", f[i].from);
	if (!s->delimiter)
		s->delimiter = d->delimiter;
	if (s->quoting == POFA_QUOTING_FORMAT)
		s->quoting = d->quoting;
}

static const entry *find_entry(const parsed *p, const char *section, const char *key)
{
	for (int j = 0; j < p->n; j++)
		if (!strcmp(p->e[j].section, section) && !strcmp(p->e[j].key, key))
			return &p->e[j];
	return NULL;
}

static long section_line(const parsed *p, const char *name)
{
	for (int i = 0; i < p->ns; i++)
		if (!strcmp(p->s[i].name, name))
			return p->s[i].line;
	return 0;
}

/* stage keys that need more than a plain value */
static int stage_special(pofa_stage *s, const entry *e, const char *path, const char *data_dir,
                         pofa_err *err)
{
	const char *k = e->key, *v = e->value;
	if (!strcmp(k, "kind")) {
		for (int i = 0; i < POFA_STAGE_KIND_COUNT; i++)
			if (!strcmp(v, pofa_stage_kinds[i]))
				return s->kind = i, 1;
		return -bad(err, path, e->line, k, v, "want mlm, prune, finetune, qat or eval");
	}
	if (!strcmp(k, "schedule")) {
		static const char *names[] = { "linear", "constant", "rewind" };
		for (int i = 0; i < 3; i++)
			if (!strcmp(v, names[i]))
				return s->schedule = i, s->schedule_set = 1, 1;
		return -bad(err, path, e->line, k, v, "want linear, constant or rewind");
	}
	if (!strcmp(k, "pattern")) {
		int a, b;
		char c;
		if (!strcmp(v, "unstructured"))
			return s->pattern = POFA_PATTERN_UNSTRUCTURED, 1;
		if (sscanf(v, "1x%d%c", &a, &c) == 1 && a >= 2 && a <= 64)
			return s->pattern = POFA_PATTERN_BLOCK, s->block = a, 1;
		if (sscanf(v, "%d:%d%c", &a, &b, &c) == 2 && a >= 1 && b > a && b <= 64)
			return s->pattern = POFA_PATTERN_NM, s->nm_n = a, s->nm_m = b, 1;
		return -bad(err, path, e->line, k, v, "want unstructured, 1xB (blocks, e.g. 1x4) or N:M (e.g. 2:4)");
	}
	if (!strcmp(k, "select")) {
		if (!strcmp(v, "best") || !strcmp(v, "last"))
			return s->select_best = !strcmp(v, "best"), 1;
		return -bad(err, path, e->line, k, v, "want best (the best dev evaluation's model) or last");
	}
	if (!strcmp(k, "metric")) {
		static const char *names[] = { "accuracy", "macro_f1", "f1", "exact_match", "loss" };
		for (int i = 0; i < 5; i++)
			if (!strcmp(v, names[i]))
				return snprintf(s->metric, sizeof s->metric, "%.23s", v), 1;
		return -bad(err, path, e->line, k, v, "want accuracy, macro_f1, f1 (two classes, or spans), exact_match "
		            "(spans) or loss");
	}
	if (!strcmp(k, "scope")) {
		if (!strcmp(v, "layer"))
			return s->global = 0, 1;
		if (!strcmp(v, "global"))
			return s->global = 1, 1;
		return -bad(err, path, e->line, k, v, "want layer or global");
	}
	if (!strcmp(k, "task")) {
		if (pofa_task_builtin(v, data_dir, &s->task))
			/* a named task of the user's: its files come from other keys */
			snprintf(s->task.name, sizeof s->task.name, "%.63s", v);
		return 1;
	}
	if (!strcmp(k, "format")) {
		static const char *names[] = { "tsv", "squad", "csv" };
		for (int i = 0; i < 3; i++)
			if (!strcmp(v, names[i]))
				return s->task.format = (enum pofa_task_format)i, s->task.format_set = 1, 1;
		return -bad(err, path, e->line, k, v, "want tsv (GLUE-style, no quoting), csv or squad");
	}
	if (!strcmp(k, "delimiter")) {
		char d = pofa_delimiter_of(v);
		if (!d)
			return -bad(err, path, e->line, k, v, "want tab, comma, semicolon, pipe or one character");
		return s->task.delimiter = d, 1;
	}
	if (!strcmp(k, "quoting")) {
		int b;
		if (parse_bool(v, &b))
			return -bad(err, path, e->line, k, v, "want yes (a quoted field may hold delimiters and line "
			            "breaks) or no");
		return s->task.quoting = b ? POFA_QUOTING_ON : POFA_QUOTING_OFF, 1;
	}
	static const struct { const char *key; size_t off, size; } task_strs[] = {
		{ "train_file", offsetof(pofa_task_spec, train), sizeof(((pofa_task_spec *)0)->train) },
		{ "dev_file", offsetof(pofa_task_spec, dev), sizeof(((pofa_task_spec *)0)->dev) },
		{ "test_file", offsetof(pofa_task_spec, test), sizeof(((pofa_task_spec *)0)->test) },
		{ "text_a", offsetof(pofa_task_spec, text_a), sizeof(((pofa_task_spec *)0)->text_a) },
		{ "text_b", offsetof(pofa_task_spec, text_b), sizeof(((pofa_task_spec *)0)->text_b) },
		{ "label_column", offsetof(pofa_task_spec, label), sizeof(((pofa_task_spec *)0)->label) },
		{ "positive", offsetof(pofa_task_spec, positive), sizeof(((pofa_task_spec *)0)->positive) },
	};
	for (size_t i = 0; i < POFA_ARRAY_LEN(task_strs); i++)
		if (!strcmp(k, task_strs[i].key)) {
			if (strlen(v) >= task_strs[i].size)
				return -bad(err, path, e->line, k, v, "too long");
			strcpy((char *)&s->task + task_strs[i].off, v);
			return 1;
		}
	return 0;
}

int pofa_recipe_load(const char *path, const char *const *overrides, int nover, pofa_recipe *r,
                     pofa_err *err)
{
	memset(r, 0, sizeof *r);
	snprintf(r->path, sizeof r->path, "%s", path);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, 4u << 20, err);
	if (rc)
		return rc;
	parsed p = { 0 };
	p.text = (const char *)buf;
	p.len = n;
	rc = scan_sections(&p, path, err);
	if (!rc) {
		p.reading = 1;
		int e = ini_parse_stream(reader, &p, handler, &p);
		p.reading = 0;
		if (e > 0)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: not an INI line (want key = value or [section])",
			                path, e);
		else if (e < 0)
			rc = pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	free(buf);
	/* overrides: section.key=value, a stage's section being its name */
	for (int i = 0; i < nover && !rc; i++) {
		const char *o = overrides[i], *eq = strchr(o, '=');
		const char *dot = eq ? memchr(o, '.', (size_t)(eq - o)) : NULL;
		if (!eq || !dot || dot == o || dot + 1 == eq) {
			rc = pofa_error(err, POFA_ERR_INPUT, "--set %s: want section.key=value (e.g. run.seed=2 "
			                "or prune90.final_sparsity=0.85)", o);
			break;
		}
		char sec[64], key[64];
		snprintf(sec, sizeof sec, "%.*s", (int)(dot - o), o);
		snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
		char full[80];
		if (!strcmp(sec, "run") || !strcmp(sec, "model") || !strcmp(sec, "data"))
			snprintf(full, sizeof full, "%s", sec);
		else
			snprintf(full, sizeof full, "stage %s", sec);
		/* a stage's name, or a declared task's */
		char as_task[80];
		snprintf(as_task, sizeof as_task, "task %s", sec);
		if (section_line(&p, full) && section_line(&p, as_task)) {
			rc = pofa_error(err, POFA_ERR_INPUT, "--set %s: [%s] and [%s] share the name; rename one", o, full,
			                as_task);
			break;
		}
		if (!section_line(&p, full) && section_line(&p, as_task))
			snprintf(full, sizeof full, "%s", as_task);
		if (!section_line(&p, full)) {
			rc = pofa_error(err, POFA_ERR_INPUT, "--set %s: the recipe has no section [%s]", o, full);
			break;
		}
		int j;
		for (j = 0; j < p.n; j++)
			if (!strcmp(p.e[j].section, full) && !strcmp(p.e[j].key, key))
				break;
		if (j == p.n) {
			handler(&p, full, key, eq + 1);
			p.e[p.n - 1].line = 0;
			/* keep the entry with its section when the recipe is written */
		} else {
			snprintf(p.e[j].value, sizeof p.e[j].value, "%s", eq + 1);
			p.e[j].line = 0;
		}
	}

	/* paths: a relative one in the file is the recipe folder's, one from
	 * --set the current folder's; the recipe as run holds them resolved,
	 * so a resume from the run folder finds the same files */
	char folder[1100], cwd[1100];
	recipe_folder(path, folder, sizeof folder);
	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, ".");
	for (int j = 0; j < p.n && !rc; j++) {
		entry *e = &p.e[j];
		if (!path_key(e->section, e->key) || !e->value[0] || e->value[0] == '/')
			continue;
		char full[sizeof e->value];
		if (join_clean(e->line ? folder : cwd, e->value, full, sizeof full))
			rc = bad(err, path, e->line, e->key, e->value, "too long once taken from the recipe's folder");
		else
			strcpy(e->value, full);
	}

	/* declared tasks, [task NAME]: a stage naming one takes its files,
	 * format and columns */
	pofa_stage *tasks = calloc(POFA_MAX_TASKS, sizeof *tasks);
	int ntasks = 0;
	if (!tasks && !rc)
		rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
	/* defaults */
	strcpy(r->name, "run");
	r->seed = 1;
	r->threads = 0;
	r->log_interval = 10;
	r->checkpoint_interval = 200;
	r->hidden_dropout = r->attention_dropout = -1.0f;
	strcpy(r->data_dir, "gen/data");
	/* sections: the known ones, and the stages in order */
	for (int i = 0; i < p.ns && !rc; i++) {
		const char *kind = sec_kind(p.s[i].name);
		if (!kind) {
			rc = pofa_error(err, POFA_ERR_INPUT,
			                "%s:%ld: unknown section [%s]; want [run], [model], [data], [task NAME] or "
			                "[stage NAME]", path, p.s[i].line, p.s[i].name);
			break;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(p.s[j].name, p.s[i].name))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: section [%s] again (first at line %ld)",
				                path, p.s[i].line, p.s[i].name, p.s[j].line);
		if (rc)
			break;
		if (!strcmp(kind, "stage")) {
			const char *nm = p.s[i].name + 6;
			if (!pofa_name_ok(nm)) {
				rc = pofa_error(err, POFA_ERR_INPUT,
				                "%s:%ld: stage name \"%s\": use letters, digits, - and _ (at most 47)",
				                path, p.s[i].line, nm);
				break;
			}
			if (r->nstages == POFA_MAX_STAGES) {
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: more than %d stages", path,
				                p.s[i].line, POFA_MAX_STAGES);
				break;
			}
			pofa_stage *s = &r->stages[r->nstages++];
			stage_defaults(s);
			s->kind = POFA_STAGE_KIND_COUNT;  /* not given yet */
			strcpy(s->name, nm);
			s->line = p.s[i].line;
		}
		if (!strcmp(kind, "task")) {
			const char *nm = p.s[i].name + 5;
			pofa_task_spec probe;
			if (!pofa_name_ok(nm))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: task name \"%s\": use letters, digits, - and _ "
				                "(at most 47)", path, p.s[i].line, nm);
			else if (!pofa_task_builtin(nm, r->data_dir, &probe))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: [task %s]: a built-in task has that name; "
				                "choose another", path, p.s[i].line, nm);
			else if (ntasks == POFA_MAX_TASKS)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: more than %d tasks", path, p.s[i].line,
				                POFA_MAX_TASKS);
			if (rc)
				break;
			pofa_stage *t = &tasks[ntasks++];
			stage_defaults(t);
			snprintf(t->name, sizeof t->name, "%s", nm);
			snprintf(t->task.name, sizeof t->task.name, "%s", nm);
			t->line = p.s[i].line;
		}
	}
	/* a key twice in a section: Python's configparser refuses it, and which
	 * one --set would change is unclear */
	if (!rc)
		rc = check_duplicates(&p, path, err);
	/* [data] first: task paths depend on its dir */
	for (int j = 0; j < p.n && !rc; j++)
		if (!strcmp(p.e[j].section, "data")) {
			int k = find_key(data_keys, POFA_ARRAY_LEN(data_keys), p.e[j].key);
			if (k < 0)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: unknown key \"%s\" in [data]", path,
				                p.e[j].line, p.e[j].key);
			else
				rc = set_key(r, &data_keys[k], &p.e[j], path, err);
		}
	for (int j = 0; j < p.n && !rc; j++) {
		entry *e = &p.e[j];
		const char *kind = sec_kind(e->section);
		if (!kind) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: unknown section [%s]", path, e->line, e->section);
			break;
		}
		const keydef *keys = NULL;
		size_t nk = 0;
		void *base = r;
		if (!strcmp(kind, "data"))
			continue;
		if (!strcmp(kind, "task")) {
			pofa_stage *t = NULL;
			for (int q = 0; q < ntasks; q++)
				if (!strcmp(tasks[q].name, e->section + 5))
					t = &tasks[q];
			if (!task_key(e->key)) {
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: unknown key \"%s\" in [%s]; a task takes format, "
				                "train_file, dev_file, test_file, text_a, text_b, label_column, delimiter, "
				                "quoting and positive", path, e->line, e->key, e->section);
				break;
			}
			if (stage_special(t, e, path, r->data_dir, err) < 0) {
				rc = err->status;
				break;
			}
			continue;
		}
		if (!strcmp(kind, "run"))
			keys = run_keys, nk = POFA_ARRAY_LEN(run_keys);
		else if (!strcmp(kind, "model"))
			keys = model_keys, nk = POFA_ARRAY_LEN(model_keys);
		else {
			pofa_stage *s = &r->stages[pofa_recipe_stage(r, e->section + 6)];
			int sp = stage_special(s, e, path, r->data_dir, err);
			if (sp < 0) {
				rc = err->status;
				break;
			}
			if (sp > 0)
				continue;
			keys = stage_keys, nk = POFA_ARRAY_LEN(stage_keys), base = s;
		}
		int k = find_key(keys, nk, e->key);
		if (k < 0) {
			if (e->line)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: unknown key \"%s\" in [%s]; see pofa-recipe(5)",
				                path, e->line, e->key, e->section);
			else
				rc = pofa_error(err, POFA_ERR_INPUT, "--set: unknown key \"%s\" in [%s]; see pofa-recipe(5)",
				                e->key, e->section);
			break;
		}
		rc = set_key(base, &keys[k], e, path, err);
	}
	if (!rc && !pofa_name_ok(r->name)) {
		long line = 0;
		for (int j = 0; j < p.n; j++)
			if (!strcmp(p.e[j].section, "run") && !strcmp(p.e[j].key, "name"))
				line = p.e[j].line;
		rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: name = %s: a run's name becomes its folder: use "
		                "letters, digits, - and _ (at most 47)", path, line, r->name);
	}
	if (!rc && !r->corpus[0])
		snprintf(r->corpus, sizeof r->corpus, "%.499s/corpus.txt", r->data_dir);
	/* a model folder brings its own vocabulary; say where the vocabulary
	 * comes from, for the error when it is not there */
	if (!rc) {
		const entry *v = find_entry(&p, "model", "vocab"), *md = find_entry(&p, "model", "dir"),
		            *dd = find_entry(&p, "data", "dir");
		const entry *why = v ? v : md ? md : dd;
		if (why && why->line)
			snprintf(r->vocab_from, sizeof r->vocab_from, "[%s] %s at %.800s:%ld", why->section, why->key,
			         path, why->line);
		else if (why)
			snprintf(r->vocab_from, sizeof r->vocab_from, "--set %s.%s", why->section, why->key);
		else
			snprintf(r->vocab_from, sizeof r->vocab_from, "the default data folder %.400s (%.400s has no [data] dir)",
			         r->data_dir, path);
	}
	if (!rc && !r->vocab[0])
		snprintf(r->vocab, sizeof r->vocab, "%.499s/vocab.txt", r->model_dir[0] ? r->model_dir : r->data_dir);
	if (!rc && !r->preset[0] && !r->model_dir[0])
		strcpy(r->preset, "bert-tiny");
	if (!rc && r->preset[0] && r->model_dir[0])
		rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: [model] has both preset and dir; keep one", path,
		                section_line(&p, "model"));
	if (!rc && r->preset[0]) {
		pofa_config c;
		if (pofa_config_preset(&c, r->preset, err)) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: %s", path, section_line(&p, "model"), msg);
		}
	}
	if (!rc && r->nstages == 0)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: no [stage NAME] sections: nothing to run", path);

	/* stages: kind, references, requirements */
	for (int i = 0; i < r->nstages && !rc; i++) {
		pofa_stage *s = &r->stages[i];
		if (s->kind == POFA_STAGE_KIND_COUNT) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s has no kind (mlm, prune, finetune, qat, eval)",
			                path, s->line, s->name);
			break;
		}
		const char *refs[2] = { s->from, s->teacher };
		int *idx[2] = { &s->from_idx, &s->teacher_idx };
		char *dirs[2] = { s->from_dir, s->teacher_dir };
		for (int k = 0; k < 2 && !rc; k++) {
			if (!refs[k][0])
				continue;
			*idx[k] = pofa_recipe_stage(r, refs[k]);
			if (*idx[k] < 0) {
				/* not a stage: a model folder (another run's stage, a Hugging
				 * Face directory), from the recipe's folder when relative */
				char sec[80];
				snprintf(sec, sizeof sec, "stage %s", s->name);
				const entry *e = find_entry(&p, sec, k ? "teacher" : "from");
				char cfgp[1200];
				if (refs[k][0] == '/')
					snprintf(dirs[k], sizeof s->from_dir, "%s", refs[k]);
				else if (join_clean(e && e->line ? folder : cwd, refs[k], dirs[k], sizeof s->from_dir))
					dirs[k][0] = 0;
				snprintf(cfgp, sizeof cfgp, "%s/config.json", dirs[k]);
				if (!dirs[k][0] || access(cfgp, R_OK) != 0)
					rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: stage %s: %s = %s names no stage of this recipe "
					                "and no model folder (%s not found)", path, e && e->line ? e->line : (long)s->line,
					                s->name, k ? "teacher" : "from", refs[k], cfgp);
				else if (e)   /* the recipe as run names it resolved */
					snprintf(((entry *)e)->value, sizeof e->value, "%s", dirs[k]);
				continue;
			}
			if (*idx[k] >= i)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: %s = %s names %s", path, s->line,
				                s->name, k ? "teacher" : "from", refs[k],
				                *idx[k] < 0 ? "no stage" : "a stage that comes later (or itself)");
			else if (r->stages[*idx[k]].kind == POFA_STAGE_EVAL)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: %s = %s is an eval stage, which "
				                "makes no model", path, s->line, s->name, k ? "teacher" : "from", refs[k]);
		}
		if (rc)
			break;
		int trains = s->kind != POFA_STAGE_EVAL;
		if (trains && s->steps <= 0 && s->epochs <= 0)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: set steps or epochs", path, s->line, s->name);
		if (!rc && s->steps > 0 && s->epochs > 0) {
			char sec[80];
			snprintf(sec, sizeof sec, "stage %s", s->name);
			const entry *a = find_entry(&p, sec, "steps"), *b = find_entry(&p, sec, "epochs");
			long line = a && b ? (a->line > b->line ? a->line : b->line) : s->line;
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: stage %s: steps and epochs both set; keep one "
			                "(steps = %lld, epochs = %g)", path, line ? line : (long)s->line, s->name,
			                (long long)s->steps, s->epochs);
		}
		int tasky = s->kind == POFA_STAGE_FINETUNE || s->kind == POFA_STAGE_QAT || s->kind == POFA_STAGE_EVAL;
		for (int q = 0; q < ntasks && tasky; q++)
			if (!strcmp(tasks[q].name, s->task.name))
				merge_task(&s->task, &tasks[q].task);
		if (!rc && tasky && !s->task.name[0])
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: which task? (task = wn-sense, wn-pair, "
			                "wn-span or your own with train_file/dev_file)", path, s->line, s->name);
		if (!rc && tasky && !s->task.train[0] && !s->task.dev[0])
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: task %s is not built in: declare it "
			                "([task %s] with train_file and dev_file) or give them in the stage", path, s->line,
			                s->name, s->task.name, s->task.name);
		if (!rc && tasky && s->task.format == POFA_TASK_TSV && !s->task.text_a[0])
			strcpy(s->task.text_a, "sentence");
		if (!rc && tasky && s->task.format == POFA_TASK_TSV && !s->task.label[0])
			strcpy(s->task.label, "label");
		if (!rc && s->kind == POFA_STAGE_EVAL && !s->models[0])
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: models = which stages to evaluate",
			                path, s->line, s->name);
		if (!rc && s->kind == POFA_STAGE_EVAL) {
			char tmp[512];
			snprintf(tmp, sizeof tmp, "%s", s->models);
			for (char *t = strtok(tmp, ", "); t && !rc; t = strtok(NULL, ", ")) {
				int j = pofa_recipe_stage(r, t);
				if (j < 0 || j >= i || r->stages[j].kind == POFA_STAGE_EVAL)
					rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: models names %s, which is %s",
					                path, s->line, s->name, t,
					                j < 0 ? "no stage" : j >= i ? "not an earlier stage" : "an eval stage");
			}
			snprintf(tmp, sizeof tmp, "%s", s->splits);
			for (char *t = strtok(tmp, ", "); t && !rc; t = strtok(NULL, ", "))
				if (strcmp(t, "train") && strcmp(t, "dev") && strcmp(t, "test"))
					rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: splits: %s is not train, dev or test",
					                path, s->line, s->name, t);
			if (!rc && s->reference[0]) {
				int j = pofa_recipe_stage(r, s->reference);
				if (j < 0 || j >= i)
					rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: reference = %s is not an earlier stage",
					                path, s->line, s->name, s->reference);
			}
		}
		if (!rc && s->eval_examples > 0 && (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE ||
		                                  s->task.format == POFA_TASK_SQUAD))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: eval_examples takes a share of a TSV or CSV "
			                "task's dev and test examples; this stage's %s", path, s->line, s->name,
			                s->task.format == POFA_TASK_SQUAD ? "task is SQuAD" : "evaluation is masked-LM");
		/* model selection: over dev evaluations, so it needs them */
		int selects = s->select_best || s->patience > 0 || s->metric[0];
		if (!rc && selects && s->kind != POFA_STAGE_FINETUNE && s->kind != POFA_STAGE_QAT)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: select, metric and patience are for finetune "
			                "and qat stages, which evaluate on a task's dev file", path, s->line, s->name);
		if (!rc && selects && s->eval_interval <= 0)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: select, metric and patience choose among "
			                "dev evaluations: set eval_interval (steps between them)", path, s->line, s->name);
		if (!rc && selects && !s->task.dev[0])
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: select, metric and patience need the task's "
			                "dev_file", path, s->line, s->name);
		if (!rc && s->metric[0] && strcmp(s->metric, "loss")) {
			int span = s->task.format == POFA_TASK_SQUAD;
			int ok = span ? (!strcmp(s->metric, "f1") || !strcmp(s->metric, "exact_match"))
			              : strcmp(s->metric, "exact_match") != 0;
			if (!ok)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: metric = %s: a %s task has %s", path,
				                s->line, s->name, s->metric, span ? "span" : "classification",
				                span ? "f1, exact_match and loss" : "accuracy, macro_f1 (or f1 with two classes) and loss");
		}
		/* prune stages rewind the learning rate unless told otherwise */
		if (!rc && s->kind == POFA_STAGE_PRUNE) {
			s->prune = 1;
			if (!s->schedule_set)
				s->schedule = POFA_SCHED_REWIND;
		}
		/* a finetune stage prunes (the downstream baseline) when it names a
		 * final sparsity */
		for (int j = 0; j < p.n && !rc; j++)
			if (!strncmp(p.e[j].section, "stage ", 6) && !strcmp(p.e[j].section + 6, s->name) &&
			    !strcmp(p.e[j].key, "final_sparsity") && s->kind == POFA_STAGE_FINETUNE)
				s->prune = 1;
		char why[256];
		int64_t total = s->steps > 0 ? s->steps : 0;  /* epochs: known when the data is */
		if (!rc && pofa_stage_check(s, total, why, sizeof why))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%d: stage %s: %s", path, s->line, s->name, why);
	}

	/* the recipe as run: sections in order, keys in order */
	if (!rc) {
		size_t cap = 64, o = 0;
		for (int i = 0; i < p.ns; i++)
			cap += strlen(p.s[i].name) + 8;
		for (int j = 0; j < p.n; j++)
			cap += strlen(p.e[j].key) + strlen(p.e[j].value) + 8;
		char *t = malloc(cap);
		for (int i = 0; i < p.ns && t; i++) {
			o += (size_t)sprintf(t + o, "%s[%s]\n", i ? "\n" : "", p.s[i].name);
			for (int j = 0; j < p.n; j++)
				if (!strcmp(p.e[j].section, p.s[i].name))
					o += (size_t)sprintf(t + o, "%s = %s\n", p.e[j].key, p.e[j].value);
		}
		if (!t) {
			rc = pofa_error(err, POFA_ERR_RUN, "out of memory");
		} else {
			t[o] = 0;
			r->text = t;
			r->hash = pofa_fnv1a(t, o);
		}
	}
	free(p.e);
	free(tasks);
	return rc;
}
