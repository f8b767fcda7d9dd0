/*
 * recipe_keys.c - every key a recipe takes, in one table (see recipe.h):
 * its sections, type, range or choices, default and help. The loader sets
 * keys through it, --set is a key like any other, the defaults come from
 * it, pofa_stage_check reads the schedule's ranges from it, and pofa
 * recipe --keys prints it.
 */
#include "engine/run/recipe.h"
#include "data/base/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const pofa_stage_kinds[] = { "mlm", "prune", "finetune", "qat", "eval" };
_Static_assert(POFA_ARRAY_LEN(pofa_stage_kinds) == POFA_STAGE_KIND_COUNT, "a name per stage kind");

/* ---- values with a parser of their own ------------------------------------------ */

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

static int want(char *why, size_t n, const char *what)
{
	snprintf(why, n, "%s", what);
	return -1;
}

static int p_schedule(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	static const char *names[] = { "linear", "constant", "rewind" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(v, names[i]))
			return s->schedule = (enum pofa_sched_kind)i, s->schedule_set = 1, 0;
	return want(why, n, "want linear, constant or rewind");
}

static int p_pattern(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	int a, b;
	char c;
	if (!strcmp(v, "unstructured"))
		return s->pattern = POFA_PATTERN_UNSTRUCTURED, 0;
	if (sscanf(v, "1x%d%c", &a, &c) == 1 && a >= 2 && a <= 64)
		return s->pattern = POFA_PATTERN_BLOCK, s->block = a, 0;
	if (sscanf(v, "%d:%d%c", &a, &b, &c) == 2 && a >= 1 && b > a && b <= 64)
		return s->pattern = POFA_PATTERN_NM, s->nm_n = a, s->nm_m = b, 0;
	return want(why, n, "want unstructured, 1xB (blocks, e.g. 1x4) or N:M (e.g. 2:4)");
}

static int p_method(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	int m = pofa_prune_method_find(v);
	if (m >= 0)
		return s->method = m, 0;
	int o = snprintf(why, n, "want");
	for (int i = 0; i < POFA_PRUNE_METHOD_COUNT && o < (int)n; i++)
		o += snprintf(why + o, n - (size_t)o, "%s %s", i ? (i + 1 == POFA_PRUNE_METHOD_COUNT ? " or" : ",") : "",
		              pofa_prune_methods[i].name);
	return -1;
}

static int p_task(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	if (strlen(v) >= sizeof s->task.name)
		return want(why, n, "too long");
	if (pofa_task_builtin(v, r->data_dir, &s->task))
		/* a named task of the user's: its files come from other keys */
		snprintf(s->task.name, sizeof s->task.name, "%s", v);
	return 0;
}

static int p_format(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	static const char *names[] = { "tsv", "squad", "csv" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(v, names[i]))
			return s->task.format = (enum pofa_task_format)i, s->task.format_set = 1, 0;
	return want(why, n, "want tsv (GLUE-style, no quoting), csv or squad");
}

static int p_delimiter(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	char d = pofa_delimiter_of(v);
	if (!d)
		return want(why, n, "want tab, comma, semicolon, pipe or one character");
	return s->task.delimiter = d, 0;
}

static int p_quoting(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	int b;
	if (parse_bool(v, &b))
		return want(why, n, "want yes (a quoted field may hold delimiters and line breaks) or no");
	return s->task.quoting = b ? POFA_QUOTING_ON : POFA_QUOTING_OFF, 0;
}

/* a list of encoder layers, "0,2,4": whole numbers 0..63, at most 64,
 * rising when the key says so */
static int parse_layers(const char *v, int rising, int *out, int *nout, char *why, size_t n)
{
	int k = 0;
	const char *p = v;
	while (*p) {
		char *end;
		errno = 0;
		long x = strtol(p, &end, 10);
		if (end == p || errno || x < 0 || x > 63 || k == 64)
			return want(why, n, "want layer numbers 0..63 separated by commas, e.g. 0,2,4");
		if (rising && k > 0 && x <= out[k - 1])
			return want(why, n, "want each layer once, in rising order, e.g. 0,2,4");
		out[k++] = (int)x;
		while (*end == ' ')
			end++;
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return want(why, n, "want layer numbers 0..63 separated by commas, e.g. 0,2,4");
		p = end;
		while (*p == ' ')
			p++;
	}
	if (k == 0)
		return want(why, n, "want at least one layer, e.g. 0,2,4");
	*nout = k;
	return 0;
}

static int p_layers(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	return parse_layers(v, 1, s->layers, &s->nlayers, why, n);
}

static int p_kd_layers(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_stage *s = base;
	(void)r;
	return parse_layers(v, 0, s->kd_layers, &s->nkd_layers, why, n);
}

static int p_preset(void *base, const pofa_recipe *r, const char *v, char *why, size_t n)
{
	pofa_recipe *rc = base;
	(void)r;
	pofa_config c;
	pofa_err e;
	if (pofa_config_preset(&c, v, &e))
		return want(why, n, e.msg);
	snprintf(rc->preset, sizeof rc->preset, "%s", v);
	return 0;
}

/* ---- the table --------------------------------------------------------------------- */

#define R(f) offsetof(pofa_recipe, f), sizeof(((pofa_recipe *)0)->f)
#define S(f) offsetof(pofa_stage, f), sizeof(((pofa_stage *)0)->f)
#define T(f) offsetof(pofa_stage, task) + offsetof(pofa_task_spec, f), sizeof(((pofa_task_spec *)0)->f)
#define NONE 0, 0
enum { RUN = POFA_IN_RUN, MODEL = POFA_IN_MODEL, DATA = POFA_IN_DATA, STAGE = POFA_IN_STAGE, TASK = POFA_IN_TASK };

const pofa_recipe_key pofa_recipe_keys[] = {
	/* [run] */
	{ "name", RUN, POFA_KEY_STR, R(name), 0, 0, NULL, "run",
	  "the run's name: letters, digits, - and _, not starting with -; the default folder is runs/NAME", NULL },
	{ "seed", RUN, POFA_KEY_I64, R(seed), 0, 9.2e18, NULL, "1",
	  "seed of initialisation, data order, masking and dropout (each stage's own: this and its name)", NULL },
	{ "threads", RUN, POFA_KEY_INT, R(threads), 1, 64, NULL, NULL,
	  "worker threads (default: the number of processors)", NULL },
	{ "log_interval", RUN, POFA_KEY_I64, R(log_interval), 1, 1e9, NULL, "10",
	  "steps between rows of metrics.csv and sparsity.csv", NULL },
	{ "checkpoint_interval", RUN, POFA_KEY_I64, R(checkpoint_interval), 1, 1e9, NULL, "200",
	  "steps between checkpoints (rounded up to a multiple of log_interval)", NULL },
	{ "step_scale", RUN, POFA_KEY_DBL, R(step_scale), 0.001, 1000, NULL, "1",
	  "every stage's steps (or epochs), eval_interval, and schedule points given in steps, times this", NULL },
	{ "overlap", RUN, POFA_KEY_WORD, R(overlap), 0, 0, "auto|yes|no", "auto",
	  "under mpirun: sum each layer's gradients during backward (auto: when ranks are on other machines)", NULL },
	/* [model] */
	{ "preset", MODEL, POFA_KEY_SPECIAL, R(preset), 0, 0, NULL, NULL,
	  "bert-tiny, bert-mini, bert-small, bert-medium or bert-base from scratch (default bert-tiny without dir)",
	  p_preset },
	{ "dir", MODEL, POFA_KEY_PATH, R(model_dir), 0, 0, NULL, NULL,
	  "a Hugging Face model folder to start from instead of a preset", NULL },
	{ "vocab", MODEL, POFA_KEY_PATH, R(vocab), 0, 0, NULL, NULL,
	  "the vocabulary (default: the model folder's vocab.txt, else DATA/vocab.txt)", NULL },
	{ "max_position", MODEL, POFA_KEY_INT, R(max_position), 8, 65536, NULL, NULL,
	  "position embeddings of a preset (default 512)", NULL },
	{ "hidden_dropout", MODEL, POFA_KEY_FLT, R(hidden_dropout), 0, 0.99, NULL, NULL,
	  "the run's dropout of hidden states, over config.json's", NULL },
	{ "attention_dropout", MODEL, POFA_KEY_FLT, R(attention_dropout), 0, 0.99, NULL, NULL,
	  "the run's dropout of attention probabilities, over config.json's", NULL },
	/* [data] */
	{ "dir", DATA, POFA_KEY_PATH, R(data_dir), 0, 0, NULL, "gen/data",
	  "where pofa data build wrote the corpus, vocabulary and tasks", NULL },
	{ "corpus", DATA, POFA_KEY_PATH, R(corpus), 0, 0, NULL, NULL,
	  "the masked-LM corpus (default DATA/corpus.txt)", NULL },
	/* [stage NAME]: what it is and where it starts */
	{ "kind", STAGE, POFA_KEY_CHOICE, S(kind), 0, 0, "mlm|prune|finetune|qat|eval", NULL,
	  "mlm (pre-training), prune (GMP + KD + rewinding), finetune (a task), qat (int8), eval", NULL },
	{ "from", STAGE, POFA_KEY_STR, S(from), 0, 0, NULL, NULL,
	  "the stage (or model folder) this one starts from (default: [model])", NULL },
	{ "teacher", STAGE, POFA_KEY_STR, S(teacher), 0, 0, NULL, NULL,
	  "the stage (or model folder) that teaches this one by distillation", NULL },
	/* training */
	{ "steps", STAGE, POFA_KEY_I64, S(steps), 1, 1e12, NULL, NULL, "steps to train (or epochs; not both)", NULL },
	{ "epochs", STAGE, POFA_KEY_DBL, S(epochs), 0.001, 1e6, NULL, NULL, "epochs to train (or steps; not both)", NULL },
	{ "batch", STAGE, POFA_KEY_INT, S(batch), 1, 4096, NULL, "32", "batch size", NULL },
	{ "seq", STAGE, POFA_KEY_INT, S(seq), 8, 65536, NULL, "128", "sequence length", NULL },
	{ "lr", STAGE, POFA_KEY_DBL, S(lr), 0, 10, NULL, "1e-4", "peak learning rate", NULL },
	{ "warmup", STAGE, POFA_KEY_STEPS, S(warmup), 0, 1e12, NULL, "0.01", "linear warmup", NULL },
	{ "schedule", STAGE, POFA_KEY_SPECIAL, S(schedule), 0, 0, "linear|constant|rewind", NULL,
	  "learning-rate decay: linear (default), constant, or rewind (default for prune stages)", p_schedule },
	{ "weight_decay", STAGE, POFA_KEY_DBL, S(weight_decay), 0, 10, NULL, "0.01",
	  "AdamW's weight decay (never on biases and LayerNorm)", NULL },
	{ "beta1", STAGE, POFA_KEY_DBL, S(beta1), 0, 0.999999, NULL, "0.9", "AdamW's beta1", NULL },
	{ "beta2", STAGE, POFA_KEY_DBL, S(beta2), 0, 0.999999999, NULL, "0.999", "AdamW's beta2", NULL },
	{ "eps", STAGE, POFA_KEY_DBL, S(eps), 1e-30, 1, NULL, "1e-8", "AdamW's epsilon", NULL },
	{ "max_grad_norm", STAGE, POFA_KEY_DBL, S(max_grad_norm), 0, 1e9, NULL, "1",
	  "global-norm gradient clipping (0: none)", NULL },
	{ "shuffle", STAGE, POFA_KEY_BOOL, S(shuffle), 0, 1, NULL, "yes", "shuffle the training examples every epoch", NULL },
	{ "hidden_dropout", STAGE, POFA_KEY_FLT, S(hidden_dropout), 0, 0.99, NULL, NULL,
	  "this stage's dropout of hidden states (default: the run's, else config.json's)", NULL },
	{ "attention_dropout", STAGE, POFA_KEY_FLT, S(attention_dropout), 0, 0.99, NULL, NULL,
	  "this stage's dropout of attention probabilities (default: the run's, else config.json's)", NULL },
	{ "classifier_dropout", STAGE, POFA_KEY_FLT, S(classifier_dropout), 0, 0.99, NULL, NULL,
	  "dropout before the classifier (default: config.json's)", NULL },
	/* evaluation and model selection */
	{ "eval_interval", STAGE, POFA_KEY_I64, S(eval_interval), 0, 1e12, NULL, "0",
	  "steps between dev evaluations (0: only at the end)", NULL },
	{ "eval_examples", STAGE, POFA_KEY_I64, S(eval_examples), 0, 1e12, NULL, "0",
	  "at most this many examples of an evaluated split, taken evenly (0: all)", NULL },
	{ "select", STAGE, POFA_KEY_CHOICE, S(select_best), 0, 0, "last|best", "last",
	  "the model a finetune or qat stage keeps: the last step's, or the best dev evaluation's", NULL },
	{ "metric", STAGE, POFA_KEY_WORD, S(metric), 0, 0, "accuracy|macro_f1|f1|exact_match|loss", NULL,
	  "what best means (default: the task's main metric; loss: lowest)", NULL },
	{ "patience", STAGE, POFA_KEY_I64, S(patience), 0, 1e9, NULL, "0",
	  "stop after this many dev evaluations without a better one (0: never)", NULL },
	/* distillation */
	{ "alpha_task", STAGE, POFA_KEY_FLT, S(alpha_task), 0, 100, NULL, "0.5", "weight of the task loss with a teacher", NULL },
	{ "alpha_kd", STAGE, POFA_KEY_FLT, S(alpha_kd), 0, 100, NULL, "0.5", "weight of the distillation loss", NULL },
	{ "temperature", STAGE, POFA_KEY_FLT, S(temperature), 0.01, 100, NULL, "2", "distillation temperature", NULL },
	{ "baselines", STAGE, POFA_KEY_BOOL, S(baselines), 0, 1, NULL, "no",
	  "eval: the task's baselines beside the models (majority class, bag-of-words, word overlap for pairs)", NULL },
	{ "kd_hidden", STAGE, POFA_KEY_FLT, S(kd_hidden), 0, 1000, NULL, "0",
	  "weight of hidden-state distillation: each student layer's output against its teacher layer's (0: none)",
	  NULL },
	{ "kd_layers", STAGE, POFA_KEY_SPECIAL, S(kd_layers), 0, 0, NULL, NULL,
	  "kd_hidden: the teacher layer of each student layer, e.g. 1,3 (default: spread evenly, the last to the last)",
	  p_kd_layers },
	{ "layers", STAGE, POFA_KEY_SPECIAL, S(layers), 0, 0, NULL, NULL,
	  "a student with fewer layers: the from model's layers it keeps, e.g. 0,2,4 (default: all)", p_layers },
	/* pruning */
	{ "method", STAGE, POFA_KEY_SPECIAL, S(method), 0, 0, NULL, "magnitude",
	  "how pruning chooses the weights to remove (a row of the pruning-method table)", p_method },
	{ "obert_block", STAGE, POFA_KEY_INT, S(obert_block), 0, 512, NULL, "0",
	  "method = obert: weights a Fisher block (B; 0: 50, less when it would not fit in memory)", NULL },
	{ "obert_grads", STAGE, POFA_KEY_INT, S(obert_grads), 0, 65536, NULL, "0",
	  "method = obert: gradients an estimate (m; 0: the steps between pruning steps, at most 1024)", NULL },
	{ "obert_damp", STAGE, POFA_KEY_DBL, S(obert_damp), 1e-12, 1, NULL, "1e-7",
	  "method = obert: the dampening lambda of F = lambda I + (1/m) sum g g^T", NULL },
	{ "obert_update", STAGE, POFA_KEY_CHOICE, S(obert_update), 0, 0, "joint|summed|none", "joint",
	  "method = obert: the update of the weights kept when others are pruned (joint: the optimum holding "
	  "every pruned weight at zero; summed: the paper's sum of single-weight updates)", NULL },
	{ "initial_sparsity", STAGE, POFA_KEY_FLT, S(initial_sparsity), 0, 0.99, NULL, "0",
	  "sparsity at start", NULL },
	{ "final_sparsity", STAGE, POFA_KEY_FLT, S(final_sparsity), 0, 0.99, NULL, "0.9",
	  "sparsity from end on (a finetune stage that sets it prunes)", NULL },
	{ "start", STAGE, POFA_KEY_STEPS, S(start), 0, 1e12, NULL, "0", "the pruning window's first step (t0)", NULL },
	{ "end", STAGE, POFA_KEY_STEPS, S(end), 0, 1e12, NULL, "0.5", "the step final_sparsity is reached (t1)", NULL },
	{ "every", STAGE, POFA_KEY_STEPS, S(every), 0, 1e12, NULL, "0.01", "steps between mask updates", NULL },
	{ "freeze", STAGE, POFA_KEY_STEPS, S(freeze), 0, 1e12, NULL, "0.8", "the step the masks stop moving", NULL },
	{ "pattern", STAGE, POFA_KEY_SPECIAL, S(pattern), 0, 0, NULL, "unstructured",
	  "unstructured, 1xB blocks along a row, or N:M (N kept of every M)", p_pattern },
	{ "scope", STAGE, POFA_KEY_CHOICE, S(global), 0, 0, "layer|global", "layer",
	  "each matrix at the sparsity, or one threshold over all (unstructured only)", NULL },
	{ "lock", STAGE, POFA_KEY_BOOL, S(lock), 0, 1, NULL, "no",
	  "pattern lock: the starting model's zeros stay zero (always on for qat)", NULL },
	{ "per_channel", STAGE, POFA_KEY_BOOL, S(per_channel), 0, 1, NULL, "no",
	  "QAT: a weight scale per output channel instead of per tensor", NULL },
	/* masked-LM data */
	{ "whole_word", STAGE, POFA_KEY_BOOL, S(whole_word), 0, 1, NULL, "no", "mask whole words", NULL },
	{ "mask_prob", STAGE, POFA_KEY_FLT, S(mask_prob), 0.01, 0.9, NULL, "0.15", "the share of tokens masked", NULL },
	/* the task */
	{ "task", STAGE, POFA_KEY_SPECIAL, S(task), 0, 0, NULL, NULL,
	  "wn-sense, wn-pair, wn-span, a [task NAME], or a name of your own with the task keys", p_task },
	{ "format", STAGE | TASK, POFA_KEY_SPECIAL, T(format), 0, 0, "tsv|csv|squad", NULL,
	  "the task files' format (default: by the file's extension)", p_format },
	{ "train_file", STAGE | TASK, POFA_KEY_PATH, T(train), 0, 0, NULL, NULL, "the task's training file", NULL },
	{ "dev_file", STAGE | TASK, POFA_KEY_PATH, T(dev), 0, 0, NULL, NULL, "the task's dev file", NULL },
	{ "test_file", STAGE | TASK, POFA_KEY_PATH, T(test), 0, 0, NULL, NULL, "the task's test file", NULL },
	{ "text_a", STAGE | TASK, POFA_KEY_STR, T(text_a), 0, 0, NULL, NULL, "the text column (default sentence)", NULL },
	{ "text_b", STAGE | TASK, POFA_KEY_STR, T(text_b), 0, 0, NULL, NULL, "a pair's second text column", NULL },
	{ "label_column", STAGE | TASK, POFA_KEY_STR, T(label), 0, 0, NULL, NULL, "the label column (default label)", NULL },
	{ "positive", STAGE | TASK, POFA_KEY_STR, T(positive), 0, 0, NULL, NULL,
	  "a two-class task's positive label (default 1, else the second)", NULL },
	{ "delimiter", STAGE | TASK, POFA_KEY_SPECIAL, T(delimiter), 0, 0, NULL, NULL,
	  "tab, comma, semicolon, pipe, space or one character (default: the format's)", p_delimiter },
	{ "quoting", STAGE | TASK, POFA_KEY_SPECIAL, T(quoting), 0, 0, NULL, NULL,
	  "yes or no: quoted fields (default: the format's)", p_quoting },
	/* eval stages */
	{ "models", STAGE, POFA_KEY_STR, S(models), 0, 0, NULL, NULL,
	  "eval: the stages or model folders to evaluate, comma-separated", NULL },
	{ "splits", STAGE, POFA_KEY_STR, S(splits), 0, 0, NULL, "dev", "eval: the splits (train, dev, test)", NULL },
	{ "reference", STAGE, POFA_KEY_STR, S(reference), 0, 0, NULL, NULL,
	  "eval: the model the report measures the others against (default the first)", NULL },
};
const int pofa_recipe_nkeys = (int)POFA_ARRAY_LEN(pofa_recipe_keys);
#undef R
#undef S
#undef T
#undef NONE

const pofa_recipe_key *pofa_recipe_key_find(unsigned where, const char *name)
{
	for (int i = 0; i < pofa_recipe_nkeys; i++)
		if ((pofa_recipe_keys[i].where & where) && !strcmp(pofa_recipe_keys[i].name, name))
			return &pofa_recipe_keys[i];
	return NULL;
}

/* ---- setting a key ----------------------------------------------------------------- */

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

/* index of v among the |-separated choices, or -1 */
static int choice_of(const char *choices, const char *v)
{
	size_t n = strlen(v);
	int i = 0;
	for (const char *c = choices; c; c = strchr(c, '|'), c = c ? c + 1 : NULL, i++)
		if (!strncmp(c, v, n) && (c[n] == '|' || c[n] == 0))
			return i;
	return -1;
}

/* "want a, b or c" of "a|b|c" */
static int want_choice(const char *choices, char *why, size_t n)
{
	int o = snprintf(why, n, "want ");
	for (const char *c = choices; *c && o + 5 < (int)n; c++) {
		if (*c != '|')
			why[o++] = *c;
		else
			o += snprintf(why + o, n - (size_t)o, "%s", strchr(c + 1, '|') ? ", " : " or ");
	}
	why[o < (int)n ? o : (int)n - 1] = 0;
	return -1;
}

int pofa_recipe_key_set(const pofa_recipe_key *k, void *base, const pofa_recipe *r, const char *v, char *why,
                        size_t n)
{
	char *p = (char *)base + k->off;
	double d;
	int b;
	switch (k->type) {
	case POFA_KEY_SPECIAL:
		return k->parse(base, r, v, why, n);
	case POFA_KEY_STR:
	case POFA_KEY_PATH:
		if (strlen(v) >= k->size) {
			snprintf(why, n, "too long (at most %zu characters)", k->size - 1);
			return -1;
		}
		strcpy(p, v);
		return 0;
	case POFA_KEY_WORD:
		if (choice_of(k->choices, v) < 0 || strlen(v) >= k->size)
			return want_choice(k->choices, why, n);
		strcpy(p, v);
		return 0;
	case POFA_KEY_CHOICE:
		if ((b = choice_of(k->choices, v)) < 0)
			return want_choice(k->choices, why, n);
		*(int *)p = b;
		return 0;
	case POFA_KEY_BOOL:
		if (parse_bool(v, &b))
			return want(why, n, "want yes or no");
		*(int *)p = b;
		return 0;
	default:
		break;
	}
	if (parse_double(v, &d) || d < k->lo || d > k->hi)
		return snprintf(why, n, "want a number in [%g, %g]", k->lo, k->hi), -1;
	if ((k->type == POFA_KEY_INT || k->type == POFA_KEY_I64) && d != floor(d))
		return want(why, n, "want a whole number");
	if (k->type == POFA_KEY_STEPS && d >= 1.0 && d != floor(d))
		return want(why, n, "want whole steps, or a fraction below 1");
	switch (k->type) {
	case POFA_KEY_INT: *(int *)p = (int)d; break;
	case POFA_KEY_I64: *(int64_t *)p = (int64_t)d; break;
	case POFA_KEY_FLT: *(float *)p = (float)d; break;
	default: *(double *)p = d; break;
	}
	return 0;
}

void pofa_recipe_key_takes(const pofa_recipe_key *k, char *out, size_t n)
{
	switch (k->type) {
	case POFA_KEY_INT:
	case POFA_KEY_I64: snprintf(out, n, "whole number, %.9g..%.9g", k->lo, k->hi); break;
	case POFA_KEY_DBL:
	case POFA_KEY_FLT: snprintf(out, n, "number, %.9g..%.9g", k->lo, k->hi); break;
	case POFA_KEY_STEPS: snprintf(out, n, "steps, or a fraction < 1"); break;
	case POFA_KEY_BOOL: snprintf(out, n, "yes|no"); break;
	case POFA_KEY_PATH: snprintf(out, n, "path"); break;
	case POFA_KEY_STR: snprintf(out, n, "text"); break;
	case POFA_KEY_SPECIAL:
		if (k->parse == p_method) {
			int o = 0;
			for (int i = 0; i < POFA_PRUNE_METHOD_COUNT && o < (int)n; i++)
				o += snprintf(out + o, n - (size_t)o, "%s%s", i ? "|" : "", pofa_prune_methods[i].name);
			break;
		}
		if (k->parse == p_pattern) {
			snprintf(out, n, "unstructured|1xB|N:M");
			break;
		}
		if (k->parse == p_layers || k->parse == p_kd_layers) {
			snprintf(out, n, "layers, e.g. 0,2,4");
			break;
		}
		/* fall through */
	default: snprintf(out, n, "%s", k->choices ? k->choices : "text"); break;
	}
}

/* ---- defaults ---------------------------------------------------------------------- */

static void apply_defaults(void *base, unsigned where)
{
	char why[200];
	for (int i = 0; i < pofa_recipe_nkeys; i++) {
		const pofa_recipe_key *k = &pofa_recipe_keys[i];
		if ((k->where & where) && k->def)
			pofa_recipe_key_set(k, base, NULL, k->def, why, sizeof why);
	}
}

void pofa_stage_defaults(pofa_stage *s)
{
	memset(s, 0, sizeof *s);
	s->from_idx = s->teacher_idx = -1;
	s->schedule = POFA_SCHED_LINEAR;
	s->hidden_dropout = s->attention_dropout = s->classifier_dropout = -1.0f;  /* config.json's */
	s->block = 4;
	s->nm_n = 2;
	s->nm_m = 4;
	apply_defaults(s, POFA_IN_STAGE);
}

void pofa_recipe_defaults(pofa_recipe *r)
{
	r->hidden_dropout = r->attention_dropout = -1.0f;   /* config.json's */
	apply_defaults(r, POFA_IN_RUN | POFA_IN_MODEL | POFA_IN_DATA);
}

/* ---- an eval stage's models --------------------------------------------------------- */

void pofa_model_ref_name(const char *ref, char *name, size_t n)
{
	const char *p = ref + strlen(ref), *cut = NULL;
	while (p > ref && p[-1] == '/')
		p--;
	const char *end = p;
	for (int parts = 0; p > ref; p--)
		if (p[-1] == '/' && ++parts == 2) {
			cut = p;
			break;
		}
	const char *from = cut ? cut : ref;
	snprintf(name, n, "%.*s", (int)(end - from), from);
}

int pofa_stage_model_refs(const pofa_stage *s, char (*refs)[1024], int cap)
{
	int n = 0;
	for (const char *p = s->models; *p && n < cap;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && isspace((unsigned char)*p))
			p++, len--;
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len)
			snprintf(refs[n++], 1024, "%.*s", (int)len, p);
		p = e ? e + 1 : p + strlen(p);
	}
	return n;
}
