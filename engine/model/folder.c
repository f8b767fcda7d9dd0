/* folder.c - a model folder's own records: training.json (how the model
 * was trained) and the labels its classifier names (see folder.h). */
#include "engine/model/folder.h"
#include "engine/io/safetensors.h"
#include "data/base/text.h"
#include "data/base/fileio.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const formats[] = { "tsv", "squad", "csv" };
static const char *const quotings[] = { "format", "yes", "no" };

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v && v[0])
		cJSON_AddStringToObject(o, k, v);
}

int pofa_trained_save(const char *dir, const pofa_trained *t, pofa_err *err)
{
	cJSON *o = cJSON_CreateObject();
	char hex[32];
	cJSON_AddStringToObject(o, "pofa_version", POFA_VERSION);
	add_str(o, "run", t->run);
	add_str(o, "run_dir", t->run_dir);
	add_str(o, "stage", t->stage);
	add_str(o, "kind", t->kind);
	add_str(o, "recipe", t->recipe);
	snprintf(hex, sizeof hex, "%016" PRIx64, t->recipe_hash);
	cJSON_AddStringToObject(o, "recipe_hash", hex);
	snprintf(hex, sizeof hex, "%" PRIu64, t->seed);
	cJSON_AddStringToObject(o, "seed", hex);   /* 64 bits: a string, JSON numbers are doubles */
	cJSON_AddNumberToObject(o, "step", (double)t->step);
	cJSON_AddNumberToObject(o, "steps", (double)t->steps);
	add_str(o, "from", t->from);
	add_str(o, "teacher", t->teacher);
	cJSON_AddNumberToObject(o, "seq", t->seq);
	cJSON_AddNumberToObject(o, "batch", t->batch);
	if (t->sparsity >= 0.0)
		cJSON_AddNumberToObject(o, "sparsity", t->sparsity);
	if (t->has_task) {
		const pofa_task_spec *s = &t->task;
		cJSON *k = cJSON_AddObjectToObject(o, "task");
		add_str(k, "name", s->name);
		cJSON_AddStringToObject(k, "format", formats[s->format]);
		add_str(k, "train_file", s->train);
		add_str(k, "dev_file", s->dev);
		add_str(k, "test_file", s->test);
		add_str(k, "text_a", s->text_a);
		add_str(k, "text_b", s->text_b);
		add_str(k, "label_column", s->label);
		add_str(k, "positive", s->positive);
		if (s->delimiter) {
			char d[2] = { s->delimiter, 0 };
			cJSON_AddStringToObject(k, "delimiter", d);
		}
		cJSON_AddStringToObject(k, "quoting", quotings[s->quoting]);
		if (t->nlabels > 0) {
			cJSON *l = cJSON_AddArrayToObject(k, "labels");
			for (int i = 0; i < t->nlabels; i++)
				cJSON_AddItemToArray(l, cJSON_CreateString(t->labels[i]));
		}
	}
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	char path[1200];
	snprintf(path, sizeof path, "%s/%s", dir, POFA_TRAINED_FILE);
	size_t n = strlen(text);
	text[n] = '\n';   /* cJSON_Print's buffer ends in the NUL it replaces */
	int rc = pofa_write_atomic(path, text, n + 1, err);
	free(text);
	return rc;
}

/* a string member into out (absent: left as it is); wrong type: error */
static int get_str(const cJSON *o, const char *key, char *out, size_t n, const char *path, pofa_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= n)
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" is not a string of at most %zu characters; "
		                  "fix or remove the file", path, key, n - 1);
	memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

static int get_int(const cJSON *o, const char *key, double lo, double hi, int64_t *out, const char *path,
                   pofa_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" is not a whole number in [%g, %g]; fix or remove "
		                  "the file", path, key, lo, hi);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int get_frac(const cJSON *o, const char *key, double *out, const char *path, pofa_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble <= 1.0))
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" is not a number in [0, 1]; fix or remove the file",
		                  path, key);
	*out = v->valuedouble;
	return 0;
}

static int get_enum(const cJSON *o, const char *key, const char *const *names, int nn, int *out,
                    const char *path, pofa_err *err)
{
	char v[32] = "";
	if (get_str(o, key, v, sizeof v, path, err))
		return err->status;
	if (!v[0])
		return 0;
	for (int i = 0; i < nn; i++)
		if (!strcmp(v, names[i]))
			return *out = i, 0;
	return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" is \"%s\", not one pofa knows; fix or remove the file",
	                  path, key, v);
}

/* training.json's labels are config.json's id2label, in its order: both
 * describe the same classifier, or the files are from different models */
static int same_labels(const char *dir, const pofa_trained *t, pofa_err *err)
{
	char path[1300];
	pofa_config cfg;
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (access(path, F_OK) != 0 || pofa_config_load(&cfg, path, err))
		return access(path, F_OK) != 0 ? POFA_OK : err->status;
	int same = cfg.num_labels == t->nlabels;
	for (int k = 0; same && k < t->nlabels; k++) {
		char dflt[32];   /* Hugging Face's name of a class config.json leaves unnamed */
		snprintf(dflt, sizeof dflt, "LABEL_%d", k);
		same = !strcmp(t->labels[k], cfg.label_names[k][0] ? cfg.label_names[k] : dflt);
	}
	if (!same)
		return pofa_error(err, POFA_ERR_INPUT, "%s/%s: its labels are not config.json's id2label (%d labels, in "
		                  "their order): the two files are from different models; remove %s or put the model's own "
		                  "back", dir, POFA_TRAINED_FILE, cfg.num_labels, POFA_TRAINED_FILE);
	return POFA_OK;
}

int pofa_trained_load(const char *dir, pofa_trained *t, pofa_err *err)
{
	memset(t, 0, sizeof *t);
	t->sparsity = -1.0;
	char path[1200];
	snprintf(path, sizeof path, "%s/%s", dir, POFA_TRAINED_FILE);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 1;
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, 1u << 20, err);
	if (rc)
		return rc;
	cJSON *o = cJSON_ParseWithLength((const char *)buf, n);
	free(buf);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return pofa_error(err, POFA_ERR_INPUT, "%s: not a JSON object; fix or remove the file", path);
	}
	int64_t seq = 0, batch = 0;
	rc = get_str(o, "run", t->run, sizeof t->run, path, err) ||
	     get_str(o, "run_dir", t->run_dir, sizeof t->run_dir, path, err) ||
	     get_str(o, "stage", t->stage, sizeof t->stage, path, err) ||
	     get_str(o, "kind", t->kind, sizeof t->kind, path, err) ||
	     get_str(o, "recipe", t->recipe, sizeof t->recipe, path, err) ||
	     get_str(o, "from", t->from, sizeof t->from, path, err) ||
	     get_str(o, "teacher", t->teacher, sizeof t->teacher, path, err) ||
	     get_int(o, "step", 0, 1e15, &t->step, path, err) || get_int(o, "steps", 0, 1e15, &t->steps, path, err) ||
	     get_int(o, "seq", 0, 65536, &seq, path, err) || get_int(o, "batch", 0, 1 << 20, &batch, path, err) ||
	     get_frac(o, "sparsity", &t->sparsity, path, err);
	char hex[32] = "";
	if (!rc && !(rc = get_str(o, "recipe_hash", hex, sizeof hex, path, err)) && hex[0])
		t->recipe_hash = strtoull(hex, NULL, 16);
	hex[0] = 0;
	if (!rc && !(rc = get_str(o, "seed", hex, sizeof hex, path, err)) && hex[0])
		t->seed = strtoull(hex, NULL, 10);
	t->seq = (int)seq;
	t->batch = (int)batch;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "task");
	if (!rc && k) {
		pofa_task_spec *s = &t->task;
		char d[8] = "";
		int fmt = 0, q = 0;
		if (!cJSON_IsObject(k))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"task\" is not an object; fix or remove the file", path);
		if (!rc)
			rc = get_str(k, "name", s->name, sizeof s->name, path, err) ||
			     get_enum(k, "format", formats, 3, &fmt, path, err) ||
			     get_str(k, "train_file", s->train, sizeof s->train, path, err) ||
			     get_str(k, "dev_file", s->dev, sizeof s->dev, path, err) ||
			     get_str(k, "test_file", s->test, sizeof s->test, path, err) ||
			     get_str(k, "text_a", s->text_a, sizeof s->text_a, path, err) ||
			     get_str(k, "text_b", s->text_b, sizeof s->text_b, path, err) ||
			     get_str(k, "label_column", s->label, sizeof s->label, path, err) ||
			     get_str(k, "positive", s->positive, sizeof s->positive, path, err) ||
			     get_str(k, "delimiter", d, sizeof d, path, err) ||
			     get_enum(k, "quoting", quotings, 3, &q, path, err);
		if (!rc && strlen(d) > 1)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"delimiter\" is more than one character; fix or "
			                "remove the file", path);
		s->format = (enum pofa_task_format)fmt;
		s->format_set = 1;
		s->delimiter = d[0];
		s->quoting = q;
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(k, "labels"), *e;
		if (!rc && l && !cJSON_IsArray(l))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"labels\" is not a list; fix or remove the file", path);
		cJSON_ArrayForEach(e, l) {
			if (rc)
				break;
			if (t->nlabels == 64 || !cJSON_IsString(e) ||
			    pofa_text_refusal(e->valuestring, strlen(e->valuestring), POFA_LABEL_MAX))
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"labels\": at most 64 names, each UTF-8 text without "
				                "control characters, 1 to %d bytes; fix or remove the file", path, POFA_LABEL_MAX);
			else
				strcpy(t->labels[t->nlabels++], e->valuestring);
		}
		if (!rc && !s->name[0])
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"task\" has no \"name\"; fix or remove the file", path);
		t->has_task = !rc;
	}
	cJSON_Delete(o);
	if (!rc && t->nlabels)
		rc = same_labels(dir, t, err);
	return rc ? err->status : POFA_OK;
}

int pofa_model_dir_labels(const char *dir, pofa_labels *out, pofa_err *err)
{
	char path[1300];
	pofa_config cfg;
	/* the weights: model.safetensors, or a folder's packed int8 file alone */
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (access(path, F_OK) != 0) {
		snprintf(path, sizeof path, "%s/model.packed.safetensors", dir);
		if (access(path, F_OK) != 0)
			snprintf(path, sizeof path, "%s/model.safetensors", dir);
	}
	pofa_st_file f;
	if (pofa_st_open(&f, path, err))
		return -1;
	int cls = pofa_st_find(&f, "classifier.weight") != NULL;
	pofa_st_close(&f);
	snprintf(path, sizeof path, "%s/config.json", dir);
	if (!cls)
		return 0;
	if (pofa_config_load(&cfg, path, err))
		return -1;
	pofa_labels_free(out);
	out->n = cfg.num_labels;
	out->names = calloc((size_t)out->n + 1, sizeof *out->names);
	for (int k = 0; out->names && k < out->n; k++) {
		char nm[64];
		if (cfg.label_names[k][0])
			snprintf(nm, sizeof nm, "%s", cfg.label_names[k]);
		else
			snprintf(nm, sizeof nm, "LABEL_%d", k);   /* Hugging Face's default */
		if (!(out->names[k] = strdup(nm))) {
			pofa_labels_free(out);
			break;
		}
	}
	if (!out->names) {
		out->n = 0;
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path), -1;
	}
	snprintf(out->from, sizeof out->from, "the model (%.280s)", path);
	return 1;
}
