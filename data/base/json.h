/*
 * json.h - JSON files read one way everywhere (cJSON underneath): the
 * whole file must be one value with nothing but white space after it, and
 * no object may name a key twice (Python keeps the last, cJSON finds the
 * first: pofa refuses rather than pick). Errors name the file and line.
 */
#ifndef POFA_BASE_JSON_H
#define POFA_BASE_JSON_H

#include "data/base/error.h"

#include <cJSON.h>
#include <stddef.h>

/* the file's JSON, at most max bytes; NULL with err set */
cJSON *pofa_json_read(const char *path, size_t max, pofa_err *err);
/* the same for text already in memory (n bytes); what names it in errors */
cJSON *pofa_json_parse(const char *text, size_t n, const char *what, pofa_err *err);

#endif
