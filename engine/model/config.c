/*
 * config.c - a model's configuration: Hugging Face's BertConfig as
 * config.json, the size presets, and the one check every config passes
 * (from a file, a preset or a recipe) before a model is made of it.
 */
#include "engine/pofa.h"
#include "data/base/fileio.h"
#include "data/base/json.h"
#include "data/base/text.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ----------------------------------------------------- */

static const struct { const char *name; int L, H, A; } presets[] = {
	{ "bert-tiny", 2, 128, 2 },   { "bert-mini", 4, 256, 4 },  { "bert-small", 4, 512, 8 },
	{ "bert-medium", 8, 512, 8 }, { "bert-base", 12, 768, 12 },
};

static void config_defaults(pofa_config *c)
{
	/* BertConfig's defaults (bert-base-uncased) */
	memset(c, 0, sizeof *c);
	c->vocab_size = 30522;
	c->hidden_size = 768;
	c->num_hidden_layers = 12;
	c->num_attention_heads = 12;
	c->intermediate_size = 3072;
	c->max_position_embeddings = 512;
	c->type_vocab_size = 2;
	c->pad_token_id = 0;
	c->num_labels = 2;
	c->layer_norm_eps = 1e-12f;
	c->hidden_dropout_prob = 0.1f;
	c->attention_probs_dropout_prob = 0.1f;
	c->classifier_dropout = -1.0f;
	c->initializer_range = 0.02f;
	c->tie_word_embeddings = 1;
}

const char *pofa_config_preset_names(void)
{
	return "bert-tiny, bert-mini, bert-small, bert-medium, bert-base";
}

int pofa_config_preset(pofa_config *cfg, const char *name, pofa_err *err)
{
	for (size_t i = 0; i < POFA_ARRAY_LEN(presets); i++)
		if (strcmp(name, presets[i].name) == 0) {
			config_defaults(cfg);
			cfg->num_hidden_layers = presets[i].L;
			cfg->hidden_size = presets[i].H;
			cfg->num_attention_heads = presets[i].A;
			cfg->intermediate_size = 4 * presets[i].H;
			return POFA_OK;
		}
	return pofa_error(err, POFA_ERR_INPUT, "unknown preset \"%s\"; known: %s", name,
	                  pofa_config_preset_names());
}

int pofa_config_check(const pofa_config *c, const char *what, pofa_err *err)
{
#define NEED(cond, ...)                                                          \
	do {                                                                     \
		if (!(cond))                                                     \
			return pofa_error(err, POFA_ERR_INPUT, __VA_ARGS__);     \
	} while (0)
	NEED(c->vocab_size >= 1 && c->vocab_size <= (1 << 22), "%s: vocab_size %d out of range", what, c->vocab_size);
	NEED(c->hidden_size >= 1 && c->hidden_size <= 16384, "%s: hidden_size %d out of range", what, c->hidden_size);
	NEED(c->num_hidden_layers >= 0 && c->num_hidden_layers <= 256, "%s: num_hidden_layers %d out of range", what, c->num_hidden_layers);
	NEED(c->num_attention_heads >= 1 && c->hidden_size % c->num_attention_heads == 0,
	     "%s: hidden_size %d is not a multiple of num_attention_heads %d", what, c->hidden_size, c->num_attention_heads);
	NEED(c->intermediate_size >= 1 && c->intermediate_size <= 65536, "%s: intermediate_size %d out of range", what, c->intermediate_size);
	NEED(c->max_position_embeddings >= 1 && c->max_position_embeddings <= 65536, "%s: max_position_embeddings %d out of range", what, c->max_position_embeddings);
	NEED(c->type_vocab_size >= 1 && c->type_vocab_size <= 1024, "%s: type_vocab_size %d out of range", what, c->type_vocab_size);
	NEED(c->num_labels >= 0 && c->num_labels <= 64, "%s: num_labels %d out of range (0..64)", what, c->num_labels);
	NEED(c->layer_norm_eps > 0.0f && c->layer_norm_eps < 1.0f, "%s: layer_norm_eps must be in (0, 1)", what);
	NEED(c->hidden_dropout_prob >= 0.0f && c->hidden_dropout_prob < 1.0f, "%s: hidden_dropout_prob must be in [0, 1)", what);
	NEED(c->attention_probs_dropout_prob >= 0.0f && c->attention_probs_dropout_prob < 1.0f, "%s: attention_probs_dropout_prob must be in [0, 1)", what);
	NEED(c->classifier_dropout < 1.0f, "%s: classifier_dropout must be below 1", what);
	NEED(c->initializer_range >= 0.0f, "%s: initializer_range must be >= 0", what);
#undef NEED
	return POFA_OK;
}

static int json_int(const cJSON *root, const char *key, int *out, const char *path, pofa_err *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!j)
		return POFA_OK;
	double d = cJSON_IsNumber(j) ? j->valuedouble : 0.5;
	/* in range before the conversion: a double past INT_MAX has no int */
	if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != floor(d))
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" must be an integer", path, key);
	*out = (int)j->valuedouble;
	return POFA_OK;
}

static int json_float(const cJSON *root, const char *key, float *out, const char *path, pofa_err *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!j || cJSON_IsNull(j))
		return POFA_OK;
	if (!cJSON_IsNumber(j) || !(fabs(j->valuedouble) <= 3.4e38))
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" must be a finite number", path, key);
	*out = (float)j->valuedouble;
	return POFA_OK;
}

static int json_string_is(const cJSON *root, const char *key, const char *want, const char *path,
                          pofa_err *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!j)
		return POFA_OK;
	if (!cJSON_IsString(j) || strcmp(j->valuestring, want) != 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" must be \"%s\" (pofa supports no other)",
		                  path, key, want);
	return POFA_OK;
}

int pofa_config_load(pofa_config *cfg, const char *path, pofa_err *err)
{
	int rc = POFA_OK;
	cJSON *root = pofa_json_read(path, 16u << 20, err);
	if (!root)
		return err->status;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return pofa_error(err, POFA_ERR_INPUT, "%s: not a JSON object (malformed config.json)", path);
	}
	config_defaults(cfg);
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
	if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "bert") != 0))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: model_type must be \"bert\"", path);
	if (!rc) rc = json_string_is(root, "hidden_act", "gelu", path, err);
	if (!rc) rc = json_string_is(root, "position_embedding_type", "absolute", path, err);
	if (!rc) rc = json_int(root, "vocab_size", &cfg->vocab_size, path, err);
	if (!rc) rc = json_int(root, "hidden_size", &cfg->hidden_size, path, err);
	if (!rc) rc = json_int(root, "num_hidden_layers", &cfg->num_hidden_layers, path, err);
	if (!rc) rc = json_int(root, "num_attention_heads", &cfg->num_attention_heads, path, err);
	if (!rc) rc = json_int(root, "intermediate_size", &cfg->intermediate_size, path, err);
	if (!rc) rc = json_int(root, "max_position_embeddings", &cfg->max_position_embeddings, path, err);
	if (!rc) rc = json_int(root, "type_vocab_size", &cfg->type_vocab_size, path, err);
	if (!rc) rc = json_int(root, "pad_token_id", &cfg->pad_token_id, path, err);
	if (!rc) rc = json_int(root, "num_labels", &cfg->num_labels, path, err);
	if (!rc) rc = json_float(root, "layer_norm_eps", &cfg->layer_norm_eps, path, err);
	if (!rc) rc = json_float(root, "hidden_dropout_prob", &cfg->hidden_dropout_prob, path, err);
	if (!rc) rc = json_float(root, "attention_probs_dropout_prob", &cfg->attention_probs_dropout_prob, path, err);
	if (!rc) rc = json_float(root, "classifier_dropout", &cfg->classifier_dropout, path, err);
	if (!rc) rc = json_float(root, "initializer_range", &cfg->initializer_range, path, err);
	const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
	if (!rc && tie && !cJSON_IsBool(tie))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"tie_word_embeddings\" must be true or false", path);
	if (!rc && tie)
		cfg->tie_word_embeddings = cJSON_IsTrue(tie);
	const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
	if (!rc && id2label) {
		if (!cJSON_IsObject(id2label)) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"id2label\" must be an object", path);
		} else {
			int nl = cJSON_GetArraySize(id2label);
			if (nl < 1 || nl > 64)
				rc = pofa_error(err, POFA_ERR_INPUT, "%s: id2label has %d labels (1..64)", path, nl);
			else
				cfg->num_labels = nl;
			const char *why;
			for (const cJSON *e = id2label->child; e && !rc; e = e->next) {
				char *end;
				long id = strtol(e->string, &end, 10);
				if (*end || id < 0 || id >= nl || !cJSON_IsString(e))
					rc = pofa_error(err, POFA_ERR_INPUT,
					                "%s: id2label key \"%s\" must be 0..%d with a string value",
					                path, e->string, nl - 1);
				else if ((why = pofa_text_refusal(e->valuestring, strlen(e->valuestring), POFA_LABEL_MAX)))
					rc = pofa_error(err, POFA_ERR_INPUT, "%s: id2label \"%s\": the label \"%.60s\" %s: a label is "
					                "UTF-8 text without control characters, tabs or line breaks, 1 to %d bytes",
					                path, e->string, e->valuestring, why, POFA_LABEL_MAX);
				else
					snprintf(cfg->label_names[id], sizeof cfg->label_names[id], "%s", e->valuestring);
			}
			for (int a = 0; !rc && a < nl; a++)
				for (int b = 0; !rc && b < a; b++)
					if (cfg->label_names[a][0] && !strcmp(cfg->label_names[a], cfg->label_names[b]))
						rc = pofa_error(err, POFA_ERR_INPUT, "%s: id2label names \"%s\" twice (ids %d and %d): "
						                "each class needs its own label", path, cfg->label_names[a], b, a);
		}
	}
	cJSON_Delete(root);
	if (rc)
		return rc;
	return pofa_config_check(cfg, path, err);
}

/* shortest decimal that reads back as the same float, so 0.1f is "0.1" */
static double short_double(float f)
{
	char s[32];
	for (int p = 1; p <= 9; p++) {
		snprintf(s, sizeof s, "%.*g", p, f);
		if (strtof(s, NULL) == f)
			break;
	}
	return strtod(s, NULL);
}

int pofa_config_save(const pofa_config *c, enum pofa_head head, const char *path, pofa_err *err)
{
	static const char *arch[POFA_HEAD_COUNT] = { "BertForMaskedLM", "BertForSequenceClassification",
	                                             "BertForQuestionAnswering" };
	cJSON *root = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(root, "architectures");
	cJSON_AddItemToArray(a, cJSON_CreateString(arch[head]));
	cJSON_AddNumberToObject(root, "attention_probs_dropout_prob", short_double(c->attention_probs_dropout_prob));
	if (c->classifier_dropout >= 0.0f)
		cJSON_AddNumberToObject(root, "classifier_dropout", short_double(c->classifier_dropout));
	else
		cJSON_AddNullToObject(root, "classifier_dropout");
	cJSON_AddStringToObject(root, "hidden_act", "gelu");
	cJSON_AddNumberToObject(root, "hidden_dropout_prob", short_double(c->hidden_dropout_prob));
	cJSON_AddNumberToObject(root, "hidden_size", c->hidden_size);
	if (head == POFA_HEAD_CLS) {
		cJSON *id2 = cJSON_AddObjectToObject(root, "id2label");
		cJSON *l2i = cJSON_CreateObject();
		for (int i = 0; i < c->num_labels; i++) {
			char k[16], nm[64];
			snprintf(k, sizeof k, "%d", i);
			if (c->label_names[i][0])
				snprintf(nm, sizeof nm, "%s", c->label_names[i]);
			else
				snprintf(nm, sizeof nm, "LABEL_%d", i);
			cJSON_AddStringToObject(id2, k, nm);
			cJSON_AddNumberToObject(l2i, nm, i);
		}
		cJSON_AddNumberToObject(root, "initializer_range", short_double(c->initializer_range));
		cJSON_AddNumberToObject(root, "intermediate_size", c->intermediate_size);
		cJSON_AddItemToObject(root, "label2id", l2i);
	} else {
		cJSON_AddNumberToObject(root, "initializer_range", short_double(c->initializer_range));
		cJSON_AddNumberToObject(root, "intermediate_size", c->intermediate_size);
	}
	cJSON_AddNumberToObject(root, "layer_norm_eps", short_double(c->layer_norm_eps));
	cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_position_embeddings);
	cJSON_AddStringToObject(root, "model_type", "bert");
	cJSON_AddNumberToObject(root, "num_attention_heads", c->num_attention_heads);
	cJSON_AddNumberToObject(root, "num_hidden_layers", c->num_hidden_layers);
	cJSON_AddNumberToObject(root, "pad_token_id", c->pad_token_id);
	cJSON_AddStringToObject(root, "position_embedding_type", "absolute");
	cJSON_AddBoolToObject(root, "tie_word_embeddings", 1);
	cJSON_AddStringToObject(root, "torch_dtype", "float32");
	cJSON_AddNumberToObject(root, "type_vocab_size", c->type_vocab_size);
	cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
	char *s = cJSON_Print(root);
	cJSON_Delete(root);
	if (!s)
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	size_t n = strlen(s);
	char *t = malloc(n + 2);
	if (!t) {
		free(s);
		return pofa_error(err, POFA_ERR_RUN, "%s: out of memory", path);
	}
	memcpy(t, s, n);
	t[n] = '\n';
	int rc = pofa_write_atomic(path, t, n + 1, err);
	free(t);
	free(s);
	return rc;
}

