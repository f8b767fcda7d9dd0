/* json.c - JSON files read one way everywhere (see json.h). */
#include "data/base/json.h"
#include "data/base/fileio.h"

#include <stdlib.h>
#include <string.h>

static long line_of(const char *text, const char *at)
{
	long line = 1;
	for (const char *c = text; at && c < at; c++)
		line += *c == '\n';
	return line;
}

static int by_key(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* a key twice in any object: 0, or the first repeated key found */
static const char *duplicate_key(const cJSON *o)
{
	if (!o || !(cJSON_IsObject(o) || cJSON_IsArray(o)))
		return NULL;
	int n = 0;
	for (const cJSON *c = o->child; c; c = c->next) {
		const char *d = duplicate_key(c);
		if (d)
			return d;
		n++;
	}
	if (!cJSON_IsObject(o) || n < 2)
		return NULL;
	const cJSON **v = malloc((size_t)n * sizeof *v);
	if (!v)
		return NULL;
	int k = 0;
	for (const cJSON *c = o->child; c; c = c->next)
		v[k++] = c;
	qsort(v, (size_t)n, sizeof *v, by_key);
	const char *d = NULL;
	for (k = 1; k < n && !d; k++)
		if (!strcmp(v[k]->string, v[k - 1]->string))
			d = v[k]->string;
	free(v);
	return d;
}

cJSON *pofa_json_parse(const char *text, size_t n, const char *what, pofa_err *err)
{
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(text, n, &end, 0);
	if (!o) {
		pofa_error(err, POFA_ERR_INPUT, "%s:%ld: malformed JSON", what, line_of(text, end));
		return NULL;
	}
	for (const char *c = end; c && c < text + n; c++)
		if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r') {
			pofa_error(err, POFA_ERR_INPUT, "%s:%ld: junk after the JSON value", what, line_of(text, c));
			cJSON_Delete(o);
			return NULL;
		}
	const char *d = duplicate_key(o);
	if (d) {
		pofa_error(err, POFA_ERR_INPUT, "%s: key \"%s\" appears twice in one object; keep one", what, d);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *pofa_json_read(const char *path, size_t max, pofa_err *err)
{
	unsigned char *buf;
	size_t n;
	if (pofa_read_file(path, &buf, &n, max, err))
		return NULL;
	cJSON *o = pofa_json_parse((const char *)buf, n, path, err);
	free(buf);
	return o;
}
