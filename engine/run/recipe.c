/*
 * recipe.c - INI recipes (see recipe.h and pofa-recipe(5)): the file read
 * as (section, key, value, line) entries with inih, --set overrides laid
 * over them, relative paths resolved, every key set through the key table
 * (recipe_keys.c), then the stages checked against each other and the
 * recipe as run written out with its hash.
 */
#include "engine/run/recipe.h"
#include "data/base/fileio.h"
#include "data/base/mem.h"
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
	long too_long;        /* a line whose value is past an entry's size */
	char long_value[1024];  /* the value of a line longer than inih reads */
	int reading;          /* inih is reading the file (not --set) */
} parsed;

#define LONG_VALUE "\x01"   /* what inih is given for a long line's value */

/* a line longer than inih's line buffer (num): inih would cut it and read
 * the rest as a line of its own, so it is given "key = LONG_VALUE" and the
 * value (trimmed, an inline "; comment" dropped, as inih does) is kept
 * here; 0, or -1 when it does not fit an entry either */
static int stash_long_line(parsed *p, const char *a, const char *b, char *str, int num)
{
	const char *eq = memchr(a, '=', (size_t)(b - a)), *v;
	if (!eq || (int)(eq - a) + 8 > num)
		return -1;
	for (v = eq + 1; v < b && isspace((unsigned char)*v); v++)
		;
	for (const char *c = v; c < b; c++)
		if (*c == ';' && c > v && isspace((unsigned char)c[-1])) {
			b = c;
			break;
		}
	while (b > v && isspace((unsigned char)b[-1]))
		b--;
	if ((size_t)(b - v) >= sizeof p->long_value)
		return -1;
	memcpy(p->long_value, v, (size_t)(b - v));
	p->long_value[b - v] = 0;
	snprintf(str, (size_t)num, "%.*s= " LONG_VALUE "\n", (int)(eq - a), a);
	return 0;
}

static char *reader(char *str, int num, void *stream)
{
	parsed *p = stream;
	if (p->pos >= p->len)
		return NULL;
	const char *a = p->text + p->pos, *end = memchr(a, '\n', p->len - p->pos);
	const char *b = end ? end : p->text + p->len;
	if (b - a + 2 > num) {
		p->pos = (size_t)(b - p->text) + (end != NULL);
		p->line++;
		if (stash_long_line(p, a, b, str, num)) {
			if (!p->too_long)
				p->too_long = p->line;
			snprintf(str, (size_t)num, "\n");
		}
		return str;
	}
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
	snprintf(e->value, sizeof e->value, "%s", p->reading && !strcmp(value, LONG_VALUE) ? p->long_value : value);
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

/* a value refused: file:line, or the --set SECTION.KEY=VALUE it came from
 * (SECTION as --set names it: a stage's or task's name alone) */
static int bad(pofa_err *err, const char *path, long line, const char *section, const char *key,
               const char *value, const char *want)
{
	if (line > 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s:%ld: %s = %s: %s", path, line, key, value, want);
	const char *sp = strchr(section, ' ');
	return pofa_error(err, POFA_ERR_INPUT, "--set %s.%s=%s: %s", sp ? sp + 1 : section, key, value, want);
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

/* a name that becomes a folder: letters, digits, - and _, at most 47, not
 * starting with - (an option to a shell command, a formula to a
 * spreadsheet) */
int pofa_name_ok(const char *nm)
{
	int ok = *nm && *nm != '-' && strlen(nm) <= 47;
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

/* ---- loading ------------------------------------------------------------------- */

/* a recipe being read: its entries, its declared tasks, where relative
 * paths are taken from */
typedef struct {
	const char *path;
	char folder[1100], cwd[1100];   /* the recipe's folder; the current one (for --set) */
	parsed p;
	pofa_stage *tasks;              /* [task NAME] sections, as stages */
	int ntasks;
	pofa_recipe *r;
	pofa_err *err;
} loader;

/* an error at an entry: file:line, or the --set it came from */
static int entry_error(const loader *L, const entry *e, const char *why)
{
	return bad(L->err, L->path, e->line, e->section, e->key, e->value, why);
}

/* the file as sections and entries */
static int read_entries(loader *L)
{
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(L->path, &buf, &n, 4u << 20, L->err);
	if (rc)
		return rc;
	parsed *p = &L->p;
	p->text = (const char *)buf;
	p->len = n;
	rc = scan_sections(p, L->path, L->err);
	if (!rc) {
		p->reading = 1;
		int e = ini_parse_stream(reader, p, handler, p);
		p->reading = 0;
		if (p->too_long && (e <= 0 || p->too_long <= e))
			rc = pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: a line longer than a key and a value of %zu "
			                "characters; shorten it (a relative path is taken from the recipe's folder)", L->path,
			                p->too_long, sizeof p->long_value - 1);
		else if (e > 0)
			rc = pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: not an INI line (want key = value or [section])",
			                L->path, e);
		else if (e < 0)
			rc = pofa_error(L->err, POFA_ERR_RUN, "%s: out of memory", L->path);
	}
	free(buf);
	p->text = NULL;
	return rc;
}

/* --set section.key=value, a stage's or a task's section being its name */
static int apply_override(loader *L, const char *o)
{
	parsed *p = &L->p;
	const char *eq = strchr(o, '='), *dot = eq ? memchr(o, '.', (size_t)(eq - o)) : NULL;
	if (!eq || !dot || dot == o || dot + 1 == eq)
		return pofa_error(L->err, POFA_ERR_INPUT, "--set %s: want section.key=value (e.g. run.seed=2 or "
		                  "prune90.final_sparsity=0.85)", o);
	char sec[64], key[64], full[80], as_task[80];
	snprintf(sec, sizeof sec, "%.*s", (int)(dot - o), o);
	snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
	if (!strcmp(sec, "run") || !strcmp(sec, "model") || !strcmp(sec, "data"))
		snprintf(full, sizeof full, "%s", sec);
	else
		snprintf(full, sizeof full, "stage %s", sec);
	snprintf(as_task, sizeof as_task, "task %s", sec);
	if (section_line(p, full) && section_line(p, as_task))
		return pofa_error(L->err, POFA_ERR_INPUT, "--set %s: [%s] and [%s] share the name; rename one", o, full,
		                  as_task);
	if (!section_line(p, full) && section_line(p, as_task))
		snprintf(full, sizeof full, "%s", as_task);
	if (!section_line(p, full))
		return pofa_error(L->err, POFA_ERR_INPUT, "--set %s: the recipe has no section [%s]", o, full);
	entry *e = (entry *)find_entry(p, full, key);
	if (!e) {   /* a new entry, kept with its section when the recipe is written */
		if (!handler(p, full, key, eq + 1))
			return pofa_error(L->err, POFA_ERR_RUN, "out of memory");
		e = &p->e[p->n - 1];
	} else {
		snprintf(e->value, sizeof e->value, "%s", eq + 1);
	}
	e->line = 0;
	return POFA_OK;
}

/* the bits of pofa_key_where a section's keys have */
static unsigned section_where(const char *sec)
{
	const char *kind = sec_kind(sec);
	if (!kind)
		return 0;
	return !strcmp(kind, "run") ? POFA_IN_RUN : !strcmp(kind, "model") ? POFA_IN_MODEL : !strcmp(kind, "data")
	       ? POFA_IN_DATA : !strcmp(kind, "task") ? POFA_IN_TASK : POFA_IN_STAGE;
}

/* paths: a relative one in the file is the recipe folder's, one from
 * --set the current folder's; the recipe as run holds them resolved, so a
 * resume from the run folder finds the same files */
static int resolve_paths(loader *L)
{
	for (int j = 0; j < L->p.n; j++) {
		entry *e = &L->p.e[j];
		const pofa_recipe_key *k = pofa_recipe_key_find(section_where(e->section), e->key);
		if (!k || k->type != POFA_KEY_PATH || !e->value[0] || e->value[0] == '/')
			continue;
		char full[sizeof e->value];
		if (join_clean(e->line ? L->folder : L->cwd, e->value, full, sizeof full))
			return entry_error(L, e, "too long once taken from the recipe's folder");
		strcpy(e->value, full);
	}
	return POFA_OK;
}

/* a [stage NAME] or [task NAME] section as a stage with its defaults */
static int make_section(loader *L, const section *sc, const char *kind)
{
	pofa_recipe *r = L->r;
	int stage = !strcmp(kind, "stage");
	const char *nm = sc->name + (stage ? 6 : 5);
	pofa_task_spec probe;
	if (!pofa_name_ok(nm))
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: %s name \"%s\": use letters, digits, - and _ (at most 47, "
		                  "not starting with -)", L->path, sc->line, kind, nm);
	if (stage && r->nstages == POFA_MAX_STAGES)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: more than %d stages", L->path, sc->line, POFA_MAX_STAGES);
	if (!stage && !pofa_task_builtin(nm, r->data_dir, &probe))
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: [task %s]: a built-in task has that name; choose "
		                  "another", L->path, sc->line, nm);
	if (!stage && L->ntasks == POFA_MAX_TASKS)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: more than %d tasks", L->path, sc->line, POFA_MAX_TASKS);
	pofa_stage *s = stage ? &r->stages[r->nstages++] : &L->tasks[L->ntasks++];
	pofa_stage_defaults(s);
	snprintf(s->name, sizeof s->name, "%s", nm);
	s->line = (int)sc->line;
	if (stage)
		s->kind = POFA_STAGE_KIND_COUNT;   /* not given yet */
	else
		snprintf(s->task.name, sizeof s->task.name, "%s", nm);
	return POFA_OK;
}

/* the known sections, the stages in order */
static int make_sections(loader *L)
{
	const parsed *p = &L->p;
	for (int i = 0; i < p->ns; i++) {
		const char *kind = sec_kind(p->s[i].name);
		if (!kind)
			return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: unknown section [%s]; want [run], [model], [data], "
			                  "[task NAME] or [stage NAME]", L->path, p->s[i].line, p->s[i].name);
		for (int j = 0; j < i; j++)
			if (!strcmp(p->s[j].name, p->s[i].name))
				return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: section [%s] again (first at line %ld)", L->path,
				                  p->s[i].line, p->s[i].name, p->s[j].line);
		if ((!strcmp(kind, "stage") || !strcmp(kind, "task")) && make_section(L, &p->s[i], kind))
			return L->err->status;
	}
	return POFA_OK;
}

/* one entry, through the key table */
static int set_entry(loader *L, const entry *e)
{
	unsigned where = section_where(e->section);
	const pofa_recipe_key *k = pofa_recipe_key_find(where, e->key);
	if (!k && where == POFA_IN_TASK)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: unknown key \"%s\" in [%s]; a task takes format, "
		                  "train_file, dev_file, test_file, text_a, text_b, label_column, delimiter, quoting and "
		                  "positive", L->path, e->line, e->key, e->section);
	if (!k && e->line)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: unknown key \"%s\" in [%s]; pofa recipe --keys lists "
		                  "them", L->path, e->line, e->key, e->section);
	if (!k)
		return pofa_error(L->err, POFA_ERR_INPUT, "--set: unknown key \"%s\" in [%s]; pofa recipe --keys lists "
		                  "them", e->key, e->section);
	void *base = L->r;
	if (where == POFA_IN_STAGE)
		base = &L->r->stages[pofa_recipe_stage(L->r, e->section + 6)];
	for (int q = 0; where == POFA_IN_TASK && q < L->ntasks; q++)
		if (!strcmp(L->tasks[q].name, e->section + 5))
			base = &L->tasks[q];
	char why[300];
	return pofa_recipe_key_set(k, base, L->r, e->value, why, sizeof why) ? entry_error(L, e, why) : POFA_OK;
}

/* every entry, [data] first: task paths depend on its dir */
static int set_keys(loader *L)
{
	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < L->p.n; j++)
			if ((section_where(L->p.e[j].section) == POFA_IN_DATA) == !pass && set_entry(L, &L->p.e[j]))
				return L->err->status;
	return POFA_OK;
}

/* what the run's keys leave to be worked out: the corpus, the vocabulary
 * (and which key gave it, for the error when it is not there), the preset */
static int finish_run(loader *L)
{
	pofa_recipe *r = L->r;
	const parsed *p = &L->p;
	if (!pofa_name_ok(r->name)) {
		const entry *e = find_entry(p, "run", "name");
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: name = %s: a run's name becomes its folder: use "
		                  "letters, digits, - and _ (at most 47, not starting with -)", L->path, e ? e->line : 0L,
		                  r->name);
	}
	if (!r->corpus[0])
		snprintf(r->corpus, sizeof r->corpus, "%.499s/corpus.txt", r->data_dir);
	const entry *v = find_entry(p, "model", "vocab"), *md = find_entry(p, "model", "dir"),
	            *dd = find_entry(p, "data", "dir");
	const entry *why = v ? v : md ? md : dd;
	if (why && why->line)
		snprintf(r->vocab_from, sizeof r->vocab_from, "[%s] %s at %.800s:%ld", why->section, why->key, L->path,
		         why->line);
	else if (why)
		snprintf(r->vocab_from, sizeof r->vocab_from, "--set %s.%s", why->section, why->key);
	else
		snprintf(r->vocab_from, sizeof r->vocab_from, "the default data folder %.400s (%.400s has no [data] dir)",
		         r->data_dir, L->path);
	if (!r->vocab[0])
		snprintf(r->vocab, sizeof r->vocab, "%.499s/vocab.txt", r->model_dir[0] ? r->model_dir : r->data_dir);
	if (!r->preset[0] && !r->model_dir[0])
		strcpy(r->preset, "bert-tiny");
	if (r->preset[0] && r->model_dir[0])
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: [model] has both preset and dir; keep one", L->path,
		                  section_line(p, "model"));
	if (r->nstages == 0)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s: no [stage NAME] sections: nothing to run", L->path);
	return POFA_OK;
}

/* a reference to a model that is not a stage: a folder with config.json,
 * from the recipe's folder (or the current one, given with --set), written
 * resolved into out; 0, or -1 */
static int model_folder(const loader *L, const entry *e, const char *ref, char *out, size_t n)
{
	char cfg[1200];
	if (ref[0] == '/')
		snprintf(out, n, "%s", ref);
	else if (join_clean(e && e->line ? L->folder : L->cwd, ref, out, n))
		out[0] = 0;
	snprintf(cfg, sizeof cfg, "%s/config.json", out);
	return out[0] && access(cfg, R_OK) == 0 ? 0 : -1;
}

/* from and teacher: an earlier stage that makes a model, or a folder */
static int check_refs(loader *L, pofa_stage *s, int i)
{
	const char *refs[2] = { s->from, s->teacher }, *keys[2] = { "from", "teacher" };
	int *idx[2] = { &s->from_idx, &s->teacher_idx };
	char *dirs[2] = { s->from_dir, s->teacher_dir }, sec[80];
	snprintf(sec, sizeof sec, "stage %s", s->name);
	for (int k = 0; k < 2; k++) {
		if (!refs[k][0])
			continue;
		*idx[k] = pofa_recipe_stage(L->r, refs[k]);
		entry *e = (entry *)find_entry(&L->p, sec, keys[k]);
		if (*idx[k] < 0) {
			if (model_folder(L, e, refs[k], dirs[k], sizeof s->from_dir))
				return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: stage %s: %s = %s names no stage of this recipe "
				                  "and no model folder (%s/config.json not found)", L->path,
				                  e && e->line ? e->line : (long)s->line, s->name, keys[k], refs[k], dirs[k]);
			if (e)   /* the recipe as run names it resolved */
				snprintf(e->value, sizeof e->value, "%s", dirs[k]);
			continue;
		}
		if (*idx[k] >= i)
			return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: %s = %s names a stage that comes later (or "
			                  "itself)", L->path, s->line, s->name, keys[k], refs[k]);
		if (L->r->stages[*idx[k]].kind == POFA_STAGE_EVAL)
			return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: %s = %s is an eval stage, which makes no "
			                  "model", L->path, s->line, s->name, keys[k], refs[k]);
	}
	return POFA_OK;
}

/* how long it trains, and the task of a task stage */

static int check_length_task(loader *L, pofa_stage *s)
{
	char sec[80];
	snprintf(sec, sizeof sec, "stage %s", s->name);
	if (s->kind != POFA_STAGE_EVAL && s->steps <= 0 && s->epochs <= 0)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: set steps or epochs", L->path, s->line, s->name);
	if (s->steps > 0 && s->epochs > 0) {
		const entry *a = find_entry(&L->p, sec, "steps"), *b = find_entry(&L->p, sec, "epochs");
		long line = a && b ? (a->line > b->line ? a->line : b->line) : s->line;
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%ld: stage %s: steps and epochs both set; keep one (steps = "
		                  "%lld, epochs = %g)", L->path, line ? line : (long)s->line, s->name, (long long)s->steps,
		                  s->epochs);
	}
	pofa_stage_scale(s, L->r->step_scale);
	int tasky = s->kind == POFA_STAGE_FINETUNE || s->kind == POFA_STAGE_QAT || s->kind == POFA_STAGE_EVAL;
	if (!tasky)
		return POFA_OK;
	for (int q = 0; q < L->ntasks; q++)
		if (!strcmp(L->tasks[q].name, s->task.name))
			merge_task(&s->task, &L->tasks[q].task);
	if (!s->task.name[0])
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: which task? (task = wn-sense, wn-pair, wn-span "
		                  "or your own with train_file/dev_file)", L->path, s->line, s->name);
	if (!s->task.train[0] && !s->task.dev[0])
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: task %s is not built in: declare it ([task %s] "
		                  "with train_file and dev_file) or give them in the stage", L->path, s->line, s->name,
		                  s->task.name, s->task.name);
	/* a TSV or CSV task's columns default alike, whether its format was
	 * named or taken from the file's extension */
	if (s->task.format != POFA_TASK_SQUAD && !s->task.text_a[0])
		strcpy(s->task.text_a, "sentence");
	if (s->task.format != POFA_TASK_SQUAD && !s->task.label[0])
		strcpy(s->task.label, "label");
	return POFA_OK;
}

/* an eval stage: its models (earlier stages, or model folders, written
 * resolved), its splits and its reference */
static int check_eval(loader *L, pofa_stage *s, int i)
{
	pofa_recipe *r = L->r;
	if (!s->models[0])
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: models = which stages or model folders to "
		                  "evaluate", L->path, s->line, s->name);
	char (*refs)[1024] = calloc(32, sizeof *refs), sec[80], out[sizeof s->models] = "";
	if (!refs)
		return pofa_error(L->err, POFA_ERR_RUN, "out of memory");
	snprintf(sec, sizeof sec, "stage %s", s->name);
	entry *e = (entry *)find_entry(&L->p, sec, "models");
	int n = pofa_stage_model_refs(s, refs, 32), rc = POFA_OK;
	for (int k = 0; k < n && !rc; k++) {
		int j = pofa_recipe_stage(r, refs[k]);
		char dir[1024];
		if (j < 0 && model_folder(L, e, refs[k], dir, sizeof dir))
			rc = pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: models names %s, which is no stage of this "
			                "recipe and no model folder (%s/config.json not found)", L->path, s->line, s->name,
			                refs[k], dir);
		else if (j >= i || (j >= 0 && r->stages[j].kind == POFA_STAGE_EVAL))
			rc = pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: models names %s, which is %s", L->path, s->line,
			                s->name, refs[k], j >= i ? "not an earlier stage" : "an eval stage");
		else if (strlen(out) + strlen(j >= 0 ? refs[k] : dir) + 3 > sizeof out)
			rc = pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: models: too long", L->path, s->line, s->name);
		else
			snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", k ? ", " : "", j >= 0 ? refs[k] : dir);
	}
	free(refs);
	if (rc)
		return rc;
	/* the recipe as run names the folders resolved, in an entry's value */
	if (e && strlen(out) >= sizeof e->value)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: models: %zu characters once its folders are "
		                  "resolved, and the recipe as run keeps at most %zu; name fewer models or shorter "
		                  "folders", L->path, s->line, s->name, strlen(out), sizeof e->value - 1);
	snprintf(s->models, sizeof s->models, "%s", out);
	if (e)
		memcpy(e->value, out, strlen(out) + 1);   /* fits: checked above */
	char tmp[sizeof s->splits];
	snprintf(tmp, sizeof tmp, "%s", s->splits);
	for (char *t = strtok(tmp, ", "); t; t = strtok(NULL, ", "))
		if (strcmp(t, "train") && strcmp(t, "dev") && strcmp(t, "test"))
			return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: splits: %s is not train, dev or test", L->path,
			                  s->line, s->name, t);
	if (!s->reference[0])
		return POFA_OK;
	/* the reference: one of the models, by its name in the results */
	char (*names)[1024] = calloc(32, sizeof *names), name[48];
	int n2 = names ? pofa_stage_model_refs(s, names, 32) : 0, found = 0;
	for (int k = 0; k < n2 && !found; k++) {
		pofa_model_ref_name(names[k], name, sizeof name);
		found = !strcmp(name, s->reference);
	}
	free(names);
	if (!found)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: reference = %s is not one of its models", L->path,
		                  s->line, s->name, s->reference);
	return POFA_OK;
}

/* evaluation share and model selection: what the stage evaluates allows them */
static int check_selection(loader *L, const pofa_stage *s)
{
	if (s->eval_examples > 0 && (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE ||
	                             s->task.format == POFA_TASK_SQUAD))
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: eval_examples takes a share of a TSV or CSV "
		                  "task's dev and test examples; this stage's %s", L->path, s->line, s->name,
		                  s->task.format == POFA_TASK_SQUAD ? "task is SQuAD" : "evaluation is masked-LM");
	int selects = s->select_best || s->patience > 0 || s->metric[0];
	if (selects && s->kind != POFA_STAGE_FINETUNE && s->kind != POFA_STAGE_QAT)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: select, metric and patience are for finetune "
		                  "and qat stages, which evaluate on a task's dev file", L->path, s->line, s->name);
	if (selects && s->eval_interval <= 0)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: select, metric and patience choose among dev "
		                  "evaluations: set eval_interval (steps between them)", L->path, s->line, s->name);
	if (selects && !s->task.dev[0])
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: select, metric and patience need the task's "
		                  "dev_file", L->path, s->line, s->name);
	if (s->metric[0] && strcmp(s->metric, "loss")) {
		int span = s->task.format == POFA_TASK_SQUAD;
		int ok = span ? (!strcmp(s->metric, "f1") || !strcmp(s->metric, "exact_match"))
		              : strcmp(s->metric, "exact_match") != 0;
		if (!ok)
			return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: metric = %s: a %s task has %s", L->path,
			                  s->line, s->name, s->metric, span ? "span" : "classification",
			                  span ? "f1, exact_match and loss" : "accuracy, macro_f1 (or f1 with two classes) and loss");
	}
	return POFA_OK;
}

/* a stage: its kind, references, length, task, evaluation, and schedule */
static int check_stage(loader *L, int i)
{
	pofa_stage *s = &L->r->stages[i];
	if (s->kind == POFA_STAGE_KIND_COUNT)
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s has no kind (mlm, prune, finetune, qat, eval)",
		                  L->path, s->line, s->name);
	if (check_refs(L, s, i) || check_length_task(L, s) ||
	    (s->kind == POFA_STAGE_EVAL && check_eval(L, s, i)) || check_selection(L, s))
		return L->err->status;
	/* prune stages rewind the learning rate unless told otherwise; a
	 * finetune stage prunes (the downstream baseline) when it names a
	 * final sparsity */
	char sec[80];
	snprintf(sec, sizeof sec, "stage %s", s->name);
	if (s->kind == POFA_STAGE_PRUNE) {
		s->prune = 1;
		if (!s->schedule_set)
			s->schedule = POFA_SCHED_REWIND;
	}
	if (s->kind == POFA_STAGE_FINETUNE && find_entry(&L->p, sec, "final_sparsity"))
		s->prune = 1;
	char why[256];
	int64_t total = s->steps > 0 ? s->steps : 0;   /* epochs: known when the data is */
	if (pofa_stage_check(s, total, why, sizeof why))
		return pofa_error(L->err, POFA_ERR_INPUT, "%s:%d: stage %s: %s", L->path, s->line, s->name, why);
	return POFA_OK;
}

/* the recipe as run: sections in order, keys in order, and its hash */
static int write_text(loader *L)
{
	const parsed *p = &L->p;
	size_t cap = 64, o = 0;
	for (int i = 0; i < p->ns; i++)
		cap += strlen(p->s[i].name) + 8;
	for (int j = 0; j < p->n; j++)
		cap += strlen(p->e[j].key) + strlen(p->e[j].value) + 8;
	char *t = malloc(cap);
	if (!t)
		return pofa_error(L->err, POFA_ERR_RUN, "out of memory");
	for (int i = 0; i < p->ns; i++) {
		o += (size_t)sprintf(t + o, "%s[%s]\n", i ? "\n" : "", p->s[i].name);
		for (int j = 0; j < p->n; j++)
			if (!strcmp(p->e[j].section, p->s[i].name))
				o += (size_t)sprintf(t + o, "%s = %s\n", p->e[j].key, p->e[j].value);
	}
	t[o] = 0;
	L->r->text = t;
	L->r->hash = pofa_fnv1a(t, o);
	return POFA_OK;
}

int pofa_recipe_load(const char *path, const char *const *overrides, int nover, pofa_recipe *r,
                     pofa_err *err)
{
	memset(r, 0, sizeof *r);
	snprintf(r->path, sizeof r->path, "%s", path);
	pofa_recipe_defaults(r);
	loader L = { .path = path, .r = r, .err = err };
	recipe_folder(path, L.folder, sizeof L.folder);
	if (!getcwd(L.cwd, sizeof L.cwd))
		strcpy(L.cwd, ".");
	L.tasks = calloc(POFA_MAX_TASKS, sizeof *L.tasks);
	int rc = L.tasks ? read_entries(&L) : pofa_error(err, POFA_ERR_RUN, "out of memory");
	for (int i = 0; i < nover && !rc; i++)
		rc = apply_override(&L, overrides[i]);
	if (!rc)
		rc = resolve_paths(&L);
	/* a key twice in a section: Python's configparser refuses it, and which
	 * one --set would change is unclear */
	if (!rc)
		rc = make_sections(&L);
	if (!rc)
		rc = check_duplicates(&L.p, path, err);
	if (!rc)
		rc = set_keys(&L);
	if (!rc)
		rc = finish_run(&L);
	for (int i = 0; i < r->nstages && !rc; i++)
		rc = check_stage(&L, i);
	if (!rc)
		rc = write_text(&L);
	free(L.p.e);
	free(L.tasks);
	if (rc)
		pofa_recipe_free(r);
	return rc;
}
