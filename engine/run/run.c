/*
 * run.c - the engine thread: runs a recipe's stages in order, publishing
 * events and obeying commands at step boundaries (see run.h).
 *
 * Resume: every checkpoint_interval steps (on a log boundary) the stage's
 * model, optimizer state, masks and QAT ranges go to STAGE/checkpoint/, and
 * then state.json records (stage, step, data position, schedule edits). A
 * finished stage's model directory is STAGE/. A resumed run restores all of
 * it and continues with the same losses, bit for bit, for the same thread
 * count.
 */
#include "engine/run/run.h"
#include "engine/run/eval.h"
#include "engine/io/safetensors.h"
#include "data/base/fileio.h"
#include "data/base/rng.h"
#include "data/task/loaders.h"
#include "data/task/taskset.h"

#include <string.h>
#include <math.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

const char *const pofa_ev_names[POFA_EV_KIND_COUNT] = {
	"run_start", "stage_start", "stage_end", "metrics", "sparsity", "eval", "prune",
	"schedule", "pause", "resume", "checkpoint", "log", "error", "export", "run_end", "mask",
};
const char *const pofa_stage_status_names[7] = { "waiting", "running", "paused", "done",
                                                 "failed", "skipped", "stopped" };
const char *const pofa_matrix_names[POFA_MAT_COUNT] = { "Q", "K", "V", "attn-out", "ffn-in", "ffn-out",
                                                   "pooler" };

struct pofa_run {
	pofa_recipe rc;
	char dir[1024];
	int resume;
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pofa_event *q;
	int qn, qcap;
	int wake[2];
	pofa_command *cmd;
	int ncmd, ccap;
	int finished, status;
	int start_stage;
	int64_t start_step;
	long start_epoch, start_cursor;
	pofa_sched_edit edits[POFA_MAX_STAGES];
	pofa_sched_view view;
	pofa_tokenizer *tk;
	int threads;
};

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* ---- events -------------------------------------------------------------- */

static void emit(pofa_run *r, pofa_event *e)
{
	e->time = now();
	pthread_mutex_lock(&r->mu);
	if (r->qn == r->qcap) {
		int c = r->qcap ? 2 * r->qcap : 256;
		pofa_event *nq = realloc(r->q, (size_t)c * sizeof *nq);
		if (nq) {
			r->q = nq;
			r->qcap = c;
		}
	}
	if (r->qn < r->qcap)
		r->q[r->qn++] = *e;
	pthread_mutex_unlock(&r->mu);
	char one = 1;
	/* non-blocking: a full pipe already holds a wake-up */
	if (write(r->wake[1], &one, 1) < 0 && errno != EAGAIN)
		return;
}

static pofa_event ev_new(int kind, int stage, const pofa_run *r)
{
	pofa_event e;
	memset(&e, 0, sizeof e);
	e.kind = kind;
	e.stage = stage;
	if (stage >= 0)
		snprintf(e.stage_name, sizeof e.stage_name, "%s", r->rc.stages[stage].name);
	return e;
}

static void log_msg(pofa_run *r, int stage, int kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void log_msg(pofa_run *r, int stage, int kind, const char *fmt, ...)
{
	pofa_event e = ev_new(kind, stage, r);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.text, sizeof e.text, fmt, ap);
	va_end(ap);
	emit(r, &e);
}

int pofa_run_events(pofa_run *r, pofa_event *out, int cap)
{
	char buf[256];
	while (read(r->wake[0], buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&r->mu);
	int n = POFA_MIN(cap, r->qn);
	memcpy(out, r->q, (size_t)n * sizeof *out);
	memmove(r->q, r->q + n, (size_t)(r->qn - n) * sizeof *r->q);
	r->qn -= n;
	int more = r->qn > 0;
	pthread_mutex_unlock(&r->mu);
	if (more) {  /* more left: stay readable */
		char one = 1;
		if (write(r->wake[1], &one, 1) < 0)
			(void)0;
	}
	return n;
}

int pofa_run_wakefd(const pofa_run *r) { return r->wake[0]; }
const pofa_recipe *pofa_run_recipe(const pofa_run *r) { return &r->rc; }
const char *pofa_run_dir(const pofa_run *r) { return r->dir; }

void pofa_run_resume_point(const pofa_run *r, int *stage, int64_t *step)
{
	*stage = r->start_stage;
	*step = r->start_step;
}

void pofa_run_command(pofa_run *r, const pofa_command *c)
{
	pthread_mutex_lock(&r->mu);
	if (r->ncmd == r->ccap) {
		int n = r->ccap ? 2 * r->ccap : 16;
		pofa_command *nc = realloc(r->cmd, (size_t)n * sizeof *nc);
		if (nc) {
			r->cmd = nc;
			r->ccap = n;
		}
	}
	if (r->ncmd < r->ccap)
		r->cmd[r->ncmd++] = *c;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

int pofa_run_schedule(pofa_run *r, pofa_sched_view *v)
{
	pthread_mutex_lock(&r->mu);
	*v = r->view;
	pthread_mutex_unlock(&r->mu);
	return v->stage;
}

int pofa_run_finished(pofa_run *r)
{
	pthread_mutex_lock(&r->mu);
	int f = r->finished;
	pthread_mutex_unlock(&r->mu);
	return f;
}

void pofa_run_stage_dir(const pofa_run *r, int stage, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", r->dir, r->rc.stages[stage].name);
}

/* ---- state.json --------------------------------------------------------- */

static int write_state(pofa_run *r, int stage, int64_t step, long epoch, long cursor, pofa_err *err)
{
	cJSON *o = cJSON_CreateObject();
	char h[32];
	snprintf(h, sizeof h, "%016llx", (unsigned long long)r->rc.hash);
	cJSON_AddStringToObject(o, "recipe_hash", h);
	cJSON_AddNumberToObject(o, "stage", stage);
	cJSON_AddNumberToObject(o, "step", (double)step);
	cJSON_AddNumberToObject(o, "epoch", (double)epoch);
	cJSON_AddNumberToObject(o, "cursor", (double)cursor);
	cJSON *ed = cJSON_AddArrayToObject(o, "edits");
	for (int i = 0; i < r->rc.nstages; i++) {
		const pofa_sched_edit *e = &r->edits[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "set", e->set);
		cJSON_AddNumberToObject(x, "final_sparsity", e->final_sparsity);
		cJSON_AddNumberToObject(x, "start", (double)e->start);
		cJSON_AddNumberToObject(x, "end", (double)e->end);
		cJSON_AddNumberToObject(x, "every", (double)e->every);
		cJSON_AddNumberToObject(x, "freeze", (double)e->freeze);
		cJSON_AddNumberToObject(x, "lr", e->lr);
		cJSON_AddNumberToObject(x, "alpha_kd", e->alpha_kd);
		cJSON_AddNumberToObject(x, "temperature", e->temperature);
		cJSON_AddItemToArray(ed, x);
	}
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	char path[1200];
	snprintf(path, sizeof path, "%s/state.json", r->dir);
	int rc = s ? pofa_write_atomic(path, s, strlen(s), err) : pofa_error(err, POFA_ERR_RUN, "out of memory");
	free(s);
	return rc;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(j) ? j->valuedouble : 0.0;
}

static int read_state(pofa_run *r, pofa_err *err)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/state.json", r->dir);
	unsigned char *buf;
	size_t n;
	int rc = pofa_read_file(path, &buf, &n, 16u << 20, err);
	if (rc)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot resume: %s", r->dir, err->msg);
	cJSON *o = cJSON_ParseWithLength((const char *)buf, n);
	free(buf);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return pofa_error(err, POFA_ERR_INPUT, "%s: malformed JSON", path);
	}
	r->start_stage = (int)jnum(o, "stage");
	r->start_step = (int64_t)jnum(o, "step");
	r->start_epoch = (long)jnum(o, "epoch");
	r->start_cursor = (long)jnum(o, "cursor");
	const cJSON *ed = cJSON_GetObjectItemCaseSensitive(o, "edits"), *x;
	int i = 0;
	cJSON_ArrayForEach(x, ed) {
		if (i >= r->rc.nstages)
			break;
		pofa_sched_edit *e = &r->edits[i++];
		e->set = (unsigned)jnum(x, "set");
		e->final_sparsity = (float)jnum(x, "final_sparsity");
		e->start = (int64_t)jnum(x, "start");
		e->end = (int64_t)jnum(x, "end");
		e->every = (int64_t)jnum(x, "every");
		e->freeze = (int64_t)jnum(x, "freeze");
		e->lr = jnum(x, "lr");
		e->alpha_kd = (float)jnum(x, "alpha_kd");
		e->temperature = (float)jnum(x, "temperature");
	}
	cJSON_Delete(o);
	if (r->start_stage < 0 || r->start_stage > r->rc.nstages || r->start_step < 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: stage %d step %lld out of range for the recipe", path,
		                  r->start_stage, (long long)r->start_step);
	return POFA_OK;
}

/* ---- construction ----------------------------------------------------------- */

pofa_run *pofa_run_new(const pofa_recipe *rc, const char *dir, int resume, pofa_err *err)
{
	pofa_run *r = calloc(1, sizeof *r);
	if (!r) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	r->rc = *rc;
	r->rc.text = rc->text ? strdup(rc->text) : NULL;
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	r->resume = resume;
	r->wake[0] = r->wake[1] = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->view.stage = -1;
	long np = sysconf(_SC_NPROCESSORS_ONLN);
	r->threads = rc->threads ? rc->threads : (int)(np < 1 ? 1 : np > 64 ? 64 : np);
	if (pipe(r->wake) != 0) {
		pofa_error(err, POFA_ERR_RUN, "pipe: %s", strerror(errno));
		pofa_run_free(r);
		return NULL;
	}
	for (int k = 0; k < 2; k++) {
		fcntl(r->wake[k], F_SETFL, fcntl(r->wake[k], F_GETFL) | O_NONBLOCK);
		fcntl(r->wake[k], F_SETFD, FD_CLOEXEC);
	}
	if (pofa_mkdirs(dir, err) || (resume && read_state(r, err))) {
		pofa_run_free(r);
		return NULL;
	}
	if (!resume) {
		/* the recipe as run, with its hash */
		char path[1200];
		snprintf(path, sizeof path, "%s/recipe.ini", dir);
		size_t n = strlen(r->rc.text ? r->rc.text : "") + 256;
		char *t = malloc(n);
		snprintf(t, n, "; pofa recipe as run (from %s, overrides applied)\n; hash %016llx\n\n%s",
		         rc->path, (unsigned long long)rc->hash, r->rc.text ? r->rc.text : "");
		int wrc = pofa_write_atomic(path, t, strlen(t), err);
		free(t);
		if (wrc || write_state(r, 0, 0, 0, 0, err)) {
			pofa_run_free(r);
			return NULL;
		}
	}
	return r;
}

void pofa_run_free(pofa_run *r)
{
	if (!r)
		return;
	if (r->started)
		pthread_join(r->th, NULL);
	for (int k = 0; k < 2; k++)
		if (r->wake[k] >= 0)
			close(r->wake[k]);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->q);
	free(r->cmd);
	free(r->rc.text);
	pofa_tokenizer_free(r->tk);
	free(r);
}

/* ---- one stage ---------------------------------------------------------------- */

typedef struct {
	pofa_run *r;
	int i;
	pofa_stage s;            /* a copy: live edits change it */
	pofa_model *m, *teacher;
	pofa_masks mk;
	int has_masks;
	pofa_optim opt;
	pofa_gmp gmp;
	int64_t N, warm, step;
	/* data */
	pofa_mlm_data mlm;
	int has_mlm;
	pofa_labels labels;
	pofa_taskset train, dev;
	long *order, epoch, cursor;
	int *buf, *ids, *types, *mask, *lab, *st, *en;
	/* interval sums */
	double sum_task, sum_kd, sum_total, sum_teacher, sum_gn;
	long nsum;
	double t_interval, tokens;
	double last_target;
	int status;
} stage_ctx;

static const char *stage_dir(stage_ctx *c, int i, char *buf, size_t n)
{
	pofa_run_stage_dir(c->r, i, buf, n);
	return buf;
}

static int fail(stage_ctx *c, const pofa_err *err)
{
	pofa_event e = ev_new(POFA_EV_ERROR, c->i, c->r);
	e.step = c->step;
	snprintf(e.text, sizeof e.text, "%s", err->msg);
	emit(c->r, &e);
	c->status = POFA_STAGE_FAILED;
	return POFA_STAGE_FAILED;
}

/* the model a stage starts from, with the head it trains */
static pofa_model *make_model(stage_ctx *c, int head, int from, int nlabels, pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	char dir[1200] = "";
	pofa_config cfg;
	if (from >= 0)
		stage_dir(c, from, dir, sizeof dir);
	else if (r->rc.model_dir[0])
		snprintf(dir, sizeof dir, "%s", r->rc.model_dir);
	if (dir[0]) {
		char path[1300];
		snprintf(path, sizeof path, "%s/config.json", dir);
		if (pofa_config_load(&cfg, path, err))
			return NULL;
	} else {
		pofa_config_preset(&cfg, r->rc.preset, err);
		cfg.vocab_size = pofa_vocab_size(r->tk);
		cfg.pad_token_id = pofa_tok_pad(r->tk);
		if (r->rc.max_position)
			cfg.max_position_embeddings = r->rc.max_position;
	}
	if (cfg.vocab_size != pofa_vocab_size(r->tk)) {
		pofa_error(err, POFA_ERR_INPUT, "%s: the model's vocab_size %d differs from %s (%d tokens)",
		           dir, cfg.vocab_size, r->rc.vocab, pofa_vocab_size(r->tk));
		return NULL;
	}
	if (head == POFA_HEAD_CLS) {
		cfg.num_labels = nlabels;
		memset(cfg.label_names, 0, sizeof cfg.label_names);
		for (int k = 0; k < nlabels && k < 64; k++)
			snprintf(cfg.label_names[k], sizeof cfg.label_names[k], "%s", c->labels.names[k]);
	}
	if (r->rc.hidden_dropout >= 0) cfg.hidden_dropout_prob = r->rc.hidden_dropout;
	if (r->rc.attention_dropout >= 0) cfg.attention_probs_dropout_prob = r->rc.attention_dropout;
	if (s->hidden_dropout >= 0) cfg.hidden_dropout_prob = s->hidden_dropout;
	if (s->attention_dropout >= 0) cfg.attention_probs_dropout_prob = s->attention_dropout;
	if (s->classifier_dropout >= 0) cfg.classifier_dropout = s->classifier_dropout;
	pofa_model *m = pofa_model_new(&cfg, head, s->batch, s->seq, r->threads, err);
	if (!m)
		return NULL;
	pofa_model_init(m, pofa_mix64(r->rc.seed ^ (uint64_t)(c->i + 1) * 0x9e3779b97f4a7c15ULL));
	if (dir[0]) {
		char path[1300];
		int fresh = 0;
		snprintf(path, sizeof path, "%s/model.safetensors", dir);
		if (pofa_model_load_weights(m, path, &fresh, err)) {
			pofa_model_free(m);
			return NULL;
		}
	}
	return m;
}

static int load_data(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	const pofa_stage *s = &c->s;
	if (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE) {
		if (pofa_mlm_load(r->rc.corpus, r->tk, s->seq, r->rc.seed, &c->mlm, err))
			return err->status;
		c->mlm.whole_word = s->whole_word;
		c->mlm.mask_prob = s->mask_prob;
		c->has_mlm = 1;
		return POFA_OK;
	}
	if (pofa_taskset_load(&s->task, s->task.train, r->tk, s->seq, &c->labels, &c->train, err))
		return err->status;
	if (s->task.dev[0] && pofa_taskset_load(&s->task, s->task.dev, r->tk, s->seq, &c->labels, &c->dev, err))
		return err->status;
	c->order = malloc((size_t)(c->train.n + 1) * sizeof *c->order);
	return c->order ? POFA_OK : pofa_error(err, POFA_ERR_RUN, "out of memory");
}

static void task_order(stage_ctx *c)
{
	for (long k = 0; k < c->train.n; k++)
		c->order[k] = k;
	if (c->s.shuffle)
		pofa_shuffle(c->order, c->train.n, pofa_mix64(c->r->rc.seed ^ (uint64_t)c->epoch * 0x9e37 ^
		                                              (uint64_t)(c->i + 1) << 40));
}

/* the next training batch; returns its size */
static int next_batch(stage_ctx *c)
{
	int B = c->s.batch;
	if (c->has_mlm) {
		pofa_mlm_next(&c->mlm, B, c->ids, c->types, c->mask, c->lab);
		return B;
	}
	long idx[4096];
	int b = 0;
	while (b < B) {
		if (c->cursor >= c->train.n) {
			c->epoch++;
			c->cursor = 0;
			task_order(c);
			if (b > 0)
				break;   /* an epoch's last batch may be short */
		}
		idx[b++] = c->order[c->cursor++];
	}
	pofa_taskset_batch(&c->train, idx, b, c->ids, c->types, c->mask, c->lab, c->st, c->en);
	return b;
}

static void data_pos(stage_ctx *c, long *epoch, long *cursor)
{
	*epoch = c->has_mlm ? c->mlm.epoch : c->epoch;
	*cursor = c->has_mlm ? c->mlm.cursor : c->cursor;
}

/* the learning rate of update t: rewinding inside a pruning stage's window */
static double stage_lr(const stage_ctx *c, int64_t t)
{
	const pofa_stage *s = &c->s;
	if (s->schedule == POFA_SCHED_REWIND && s->prune)
		return s->lr * pofa_lr_rewind(t, c->N, c->warm, c->gmp.t0, c->gmp.t1, c->gmp.every);
	pofa_sched sc = { s->schedule == POFA_SCHED_CONSTANT ? POFA_SCHED_CONSTANT : POFA_SCHED_LINEAR, s->lr,
	                  c->warm, c->N };
	return pofa_lr(&sc, t);
}

static void matrix_of(const char *name, int *layer, int *matrix)
{
	*layer = -1;
	*matrix = POFA_MAT_POOLER;
	if (sscanf(name, "bert.encoder.layer.%d.", layer) != 1)
		return;
	const char *k = strchr(name + 19, '.') + 1;
	*matrix = strstr(k, "self.query") ? POFA_MAT_Q : strstr(k, "self.key") ? POFA_MAT_K
	          : strstr(k, "self.value") ? POFA_MAT_V : strstr(k, "attention.output") ? POFA_MAT_AO
	          : strstr(k, "intermediate") ? POFA_MAT_FFN_IN : POFA_MAT_FFN_OUT;
}

static void emit_sparsity(stage_ctx *c)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(c->m, &t);
	for (int k = 0; k < nt; k++) {
		if (!t[k].prunable)
			continue;
		pofa_event e = ev_new(POFA_EV_SPARSITY, c->i, c->r);
		e.step = c->step;
		e.total = c->N;
		matrix_of(t[k].name, &e.layer, &e.matrix);
		e.numel = t[k].numel;
		int64_t z = 0;
		for (int64_t j = 0; j < t[k].numel; j++)
			z += t[k].data[j] == 0.0f;
		e.nnz = t[k].numel - z;
		e.sparsity = (double)z / (double)t[k].numel;
		e.sparsity_target = c->has_masks ? c->mk.target[k] : 0.0;
		e.threshold = c->has_masks ? c->mk.threshold[k] : 0.0;
		emit(c->r, &e);
	}
}

static void publish_view(stage_ctx *c, double lr)
{
	pofa_run *r = c->r;
	pthread_mutex_lock(&r->mu);
	pofa_sched_view *v = &r->view;
	v->stage = c->i;
	v->kind = c->s.kind;
	v->prune = c->s.prune;
	v->pattern = c->s.pattern;
	v->global = c->s.global;
	v->has_teacher = c->teacher != NULL;
	v->step = c->step;
	v->total = c->N;
	v->t0 = c->gmp.t0;
	v->t1 = c->gmp.t1;
	v->every = c->gmp.every;
	v->freeze = c->gmp.freeze;
	v->s_init = c->gmp.s_init;
	v->s_final = c->gmp.s_final;
	v->lr_peak = c->s.lr;
	v->lr_now = lr;
	v->alpha_task = c->teacher ? c->s.alpha_task : 1.0f;
	v->alpha_kd = c->teacher ? c->s.alpha_kd : 0.0f;
	v->temperature = c->s.temperature;
	v->sparsity = c->last_target;
	pthread_mutex_unlock(&r->mu);
}

/* MLM dev loss and masked-token accuracy, or the task's dev metrics */
static int evaluate_dev(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	if (c->has_mlm) {
		pofa_model_set_mlm_positions(c->m, POFA_MLM_MASKED);
		double loss = 0.0;
		long ok = 0, cnt = 0;
		int batches = 0;
		for (long k = 0; k * c->s.batch < c->mlm.ndev && k < 40; k++) {
			int filled = pofa_mlm_dev(&c->mlm, k, c->s.batch, c->ids, c->types, c->mask, c->lab);
			if (!filled)
				break;
			pofa_batch b = { .B = filled, .T = c->s.seq, .input_ids = c->ids, .token_type_ids = c->types,
			                 .attention_mask = c->mask, .mlm_labels = c->lab };
			if (pofa_model_forward(c->m, &b, 0, err))
				return err->status;
			loss += pofa_model_task_loss(c->m, &b, 1.0f);
			batches++;
			int rows, V;
			const float *lg = pofa_model_logits(c->m, &rows, &V);
			const int *pos = pofa_model_logit_positions(c->m);
			for (int i = 0; i < rows; i++) {
				int best = 0;
				for (int j = 1; j < V; j++)
					if (lg[(size_t)i * V + j] > lg[(size_t)i * V + best])
						best = j;
				ok += best == c->lab[pos[i]];
				cnt++;
			}
		}
		pofa_model_set_mlm_positions(c->m, c->teacher ? POFA_MLM_ALL : POFA_MLM_MASKED);
		const char *names[2] = { "loss", "accuracy" };
		double vals[2] = { batches ? loss / batches : 0.0, cnt ? 100.0 * ok / cnt : 0.0 };
		for (int k = 0; k < 2; k++) {
			pofa_event e = ev_new(POFA_EV_EVAL, c->i, r);
			e.step = c->step;
			e.total = c->N;
			snprintf(e.model, sizeof e.model, "%s", c->s.name);
			strcpy(e.task, "mlm");
			strcpy(e.split, "dev");
			snprintf(e.metric, sizeof e.metric, "%s", names[k]);
			e.value = vals[k];
			e.loss = vals[0];
			emit(r, &e);
		}
		return POFA_OK;
	}
	if (!c->dev.n)
		return POFA_OK;
	pofa_eval_result res;
	if (pofa_evaluate(c->m, &c->dev, &c->labels, c->s.batch, NULL, &res, err))
		return err->status;
	for (int k = 0; k < res.n; k++) {
		pofa_event e = ev_new(POFA_EV_EVAL, c->i, r);
		e.step = c->step;
		e.total = c->N;
		snprintf(e.model, sizeof e.model, "%s", c->s.name);
		snprintf(e.task, sizeof e.task, "%s", c->s.task.name);
		strcpy(e.split, "dev");
		snprintf(e.metric, sizeof e.metric, "%s", res.m[k].name);
		e.value = res.m[k].value;
		e.loss = res.loss;
		emit(r, &e);
	}
	return POFA_OK;
}

static int checkpoint(stage_ctx *c, pofa_err *err)
{
	char dir[1200], path[1300];
	snprintf(dir, sizeof dir, "%s/%s/checkpoint", c->r->dir, c->s.name);
	int rc = pofa_model_save(c->m, dir, NULL, err);
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	if (!rc)
		rc = pofa_optim_save(c->m, &c->opt, path, err);
	snprintf(path, sizeof path, "%s/masks.safetensors", dir);
	if (!rc && c->has_masks)
		rc = pofa_masks_save(&c->mk, path, err);
	snprintf(path, sizeof path, "%s/qat.safetensors", dir);
	if (!rc && pofa_model_qat(c->m))
		rc = pofa_model_qat_save(c->m, path, err);
	long epoch, cursor;
	data_pos(c, &epoch, &cursor);
	if (!rc)
		rc = write_state(c->r, c->i, c->step, epoch, cursor, err);
	if (!rc) {
		pofa_event e = ev_new(POFA_EV_CHECKPOINT, c->i, c->r);
		e.step = c->step;
		e.total = c->N;
		snprintf(e.text, sizeof e.text, "%s", dir);
		emit(c->r, &e);
	}
	return rc;
}

static int restore(stage_ctx *c, pofa_err *err)
{
	char dir[1200], path[1300];
	snprintf(dir, sizeof dir, "%s/%s/checkpoint", c->r->dir, c->s.name);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	int rc = pofa_model_load_weights(c->m, path, NULL, err);
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	if (!rc)
		rc = pofa_optim_load(c->m, &c->opt, path, err);
	snprintf(path, sizeof path, "%s/masks.safetensors", dir);
	if (!rc && c->has_masks && access(path, R_OK) == 0)
		rc = pofa_masks_load(&c->mk, path, err);
	snprintf(path, sizeof path, "%s/qat.safetensors", dir);
	if (!rc && pofa_model_qat(c->m) && access(path, R_OK) == 0)
		rc = pofa_model_qat_load(c->m, path, err);
	if (!rc) {
		c->step = c->r->start_step;
		if (c->has_mlm) {
			pofa_mlm_seek(&c->mlm, c->r->start_epoch, c->r->start_cursor);
		} else {
			c->epoch = c->r->start_epoch;
			c->cursor = c->r->start_cursor;
			task_order(c);
		}
		log_msg(c->r, c->i, POFA_EV_LOG, "resumed at step %lld from %s", (long long)c->step, dir);
	}
	return rc;
}

/* applies a schedule edit to the running stage; returns 0 or refuses */
static int apply_edit(stage_ctx *c, const pofa_sched_edit *e, char *why, size_t n)
{
	pofa_gmp g = c->gmp;
	pofa_stage s = c->s;
	double cur = pofa_model_sparsity(c->m);
	if ((e->set & (POFA_EDIT_FINAL_SPARSITY | POFA_EDIT_START | POFA_EDIT_END | POFA_EDIT_EVERY | POFA_EDIT_FREEZE)) && !s.prune)
		return snprintf(why, n, "this stage does not prune"), -1;
	if ((e->set & (POFA_EDIT_ALPHA_KD | POFA_EDIT_TEMPERATURE)) && !c->teacher)
		return snprintf(why, n, "this stage has no teacher"), -1;
	if (e->set & POFA_EDIT_FINAL_SPARSITY) {
		if (!(e->final_sparsity >= 0.0f && e->final_sparsity <= 0.99f))
			return snprintf(why, n, "final sparsity %.3f is outside [0, 0.99]", e->final_sparsity), -1;
		if (e->final_sparsity + 1e-6 < cur)
			return snprintf(why, n, "final sparsity %.3f is below the %.3f already pruned",
			                e->final_sparsity, cur), -1;
		g.s_final = e->final_sparsity;
		s.final_sparsity = e->final_sparsity;
	}
	if (e->set & POFA_EDIT_START) g.t0 = e->start;
	if (e->set & POFA_EDIT_END) g.t1 = e->end;
	if (e->set & POFA_EDIT_EVERY) g.every = e->every;
	if (e->set & POFA_EDIT_FREEZE) g.freeze = e->freeze;
	if ((e->set & POFA_EDIT_END) && g.t1 <= c->step)
		return snprintf(why, n, "end %lld is not after the current step %lld", (long long)g.t1,
		                (long long)c->step), -1;
	if (g.t0 < 0 || g.t1 < g.t0)
		return snprintf(why, n, "start %lld must be 0..end %lld", (long long)g.t0, (long long)g.t1), -1;
	if (g.every < 1)
		return snprintf(why, n, "the pruning interval must be at least 1 step"), -1;
	if (g.freeze < g.t0)
		return snprintf(why, n, "freeze %lld is before start %lld", (long long)g.freeze, (long long)g.t0), -1;
	if (e->set & POFA_EDIT_LR) {
		if (!(e->lr > 0.0 && e->lr <= 10.0))
			return snprintf(why, n, "learning rate %g is outside (0, 10]", e->lr), -1;
		s.lr = e->lr;
	}
	if (e->set & POFA_EDIT_ALPHA_KD) {
		if (!(e->alpha_kd >= 0.0f && e->alpha_kd <= 100.0f))
			return snprintf(why, n, "KD weight %g is outside [0, 100]", e->alpha_kd), -1;
		s.alpha_kd = e->alpha_kd;
	}
	if (e->set & POFA_EDIT_TEMPERATURE) {
		if (!(e->temperature > 0.0f && e->temperature <= 100.0f))
			return snprintf(why, n, "temperature %g is outside (0, 100]", e->temperature), -1;
		s.temperature = e->temperature;
	}
	c->gmp = g;
	c->s = s;
	return 0;
}

static void describe_edit(const pofa_sched_edit *e, char *out, size_t n)
{
	size_t o = 0;
	out[0] = 0;
#define ADD(...) o += (size_t)snprintf(out + o, o < n ? n - o : 0, __VA_ARGS__)
	if (e->set & POFA_EDIT_FINAL_SPARSITY) ADD("final_sparsity=%.4g ", e->final_sparsity);
	if (e->set & POFA_EDIT_START) ADD("start=%lld ", (long long)e->start);
	if (e->set & POFA_EDIT_END) ADD("end=%lld ", (long long)e->end);
	if (e->set & POFA_EDIT_EVERY) ADD("every=%lld ", (long long)e->every);
	if (e->set & POFA_EDIT_FREEZE) ADD("freeze=%lld ", (long long)e->freeze);
	if (e->set & POFA_EDIT_LR) ADD("lr=%.4g ", e->lr);
	if (e->set & POFA_EDIT_ALPHA_KD) ADD("alpha_kd=%.4g ", e->alpha_kd);
	if (e->set & POFA_EDIT_TEMPERATURE) ADD("temperature=%.4g ", e->temperature);
#undef ADD
	if (o > 0 && o <= n)
		out[o - 1] = 0;
}

static void merge_edit(pofa_sched_edit *acc, const pofa_sched_edit *e)
{
	if (e->set & POFA_EDIT_FINAL_SPARSITY) acc->final_sparsity = e->final_sparsity;
	if (e->set & POFA_EDIT_START) acc->start = e->start;
	if (e->set & POFA_EDIT_END) acc->end = e->end;
	if (e->set & POFA_EDIT_EVERY) acc->every = e->every;
	if (e->set & POFA_EDIT_FREEZE) acc->freeze = e->freeze;
	if (e->set & POFA_EDIT_LR) acc->lr = e->lr;
	if (e->set & POFA_EDIT_ALPHA_KD) acc->alpha_kd = e->alpha_kd;
	if (e->set & POFA_EDIT_TEMPERATURE) acc->temperature = e->temperature;
	acc->set |= e->set;
}

/* a matrix's density map: the share of kept weights in blocks */
static void mask_map(stage_ctx *c, int layer, int matrix)
{
	pofa_tensor *t;
	int nt = pofa_model_tensors(c->m, &t);
	for (int k = 0; k < nt; k++) {
		int l, mx;
		if (!t[k].prunable)
			continue;
		matrix_of(t[k].name, &l, &mx);
		if (l != layer || mx != matrix)
			continue;
		pofa_event e = ev_new(POFA_EV_MASK, c->i, c->r);
		e.step = c->step;
		e.layer = l;
		e.matrix = mx;
		int64_t R = t[k].shape[0], C = t[k].shape[1];
		e.rows = (int)POFA_MIN(R, 32);
		e.cols = (int)POFA_MIN(C, 36);
		int64_t z = 0;
		for (int i = 0; i < e.rows; i++)
			for (int j = 0; j < e.cols; j++) {
				int64_t r0 = R * i / e.rows, r1 = R * (i + 1) / e.rows;
				int64_t c0 = C * j / e.cols, c1 = C * (j + 1) / e.cols, kept = 0, n = 0;
				for (int64_t a = r0; a < r1; a++)
					for (int64_t b = c0; b < c1; b++, n++)
						kept += t[k].data[a * C + b] != 0.0f;
				e.text[i * e.cols + j] = (char)(1 + (n ? (100 * kept + n / 2) / n : 0));
			}
		for (int64_t j = 0; j < t[k].numel; j++)
			z += t[k].data[j] == 0.0f;
		e.numel = t[k].numel;
		e.nnz = t[k].numel - z;
		e.sparsity = (double)z / (double)t[k].numel;
		emit(c->r, &e);
		return;
	}
}

enum { GO_ON, GO_SKIP, GO_STOP };

/* commands at a step boundary; blocks while paused */
static int commands(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	int paused = 0, verdict = GO_ON;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (paused && r->ncmd == 0)
			pthread_cond_wait(&r->cv, &r->mu);   /* no CPU while paused */
		int n = r->ncmd;
		pofa_command cmds[64];
		n = POFA_MIN(n, 64);
		memcpy(cmds, r->cmd, (size_t)n * sizeof *cmds);
		memmove(r->cmd, r->cmd + n, (size_t)(r->ncmd - n) * sizeof *r->cmd);
		r->ncmd -= n;
		pthread_mutex_unlock(&r->mu);
		for (int k = 0; k < n; k++) {
			pofa_command *cm = &cmds[k];
			pofa_event e = ev_new(POFA_EV_LOG, c->i, r);
			e.step = c->step;
			e.total = c->N;
			switch (cm->kind) {
			case POFA_CMD_PAUSE:
				if (!paused) {
					paused = 1;
					e.kind = POFA_EV_PAUSE;
					emit(r, &e);
				}
				break;
			case POFA_CMD_RESUME:
				if (paused) {
					paused = 0;
					e.kind = POFA_EV_RESUME;
					emit(r, &e);
				}
				break;
			case POFA_CMD_SKIP:
				verdict = GO_SKIP;
				paused = 0;
				break;
			case POFA_CMD_STOP:
				verdict = GO_STOP;
				paused = 0;
				break;
			case POFA_CMD_CHECKPOINT:
				if (c->step % r->rc.log_interval)
					log_msg(r, c->i, POFA_EV_LOG, "checkpoint asked for at step %lld: taken now; "
					        "metrics resume from the last log interval", (long long)c->step);
				if (checkpoint(c, err))
					return -1;
				break;
			case POFA_CMD_EXPORT:
				e.kind = POFA_EV_EXPORT;
				snprintf(e.text, sizeof e.text, "%s", cm->path);
				emit(r, &e);
				break;
			case POFA_CMD_MASKMAP:
				mask_map(c, cm->layer, cm->matrix);
				break;
			case POFA_CMD_SCHEDULE: {
				char why[256];
				if (apply_edit(c, &cm->edit, why, sizeof why)) {
					snprintf(e.text, sizeof e.text, "schedule edit refused: %s", why);
					emit(r, &e);
				} else {
					merge_edit(&r->edits[c->i], &cm->edit);
					/* the view first: who sees the event sees the new schedule */
					publish_view(c, stage_lr(c, c->step));
					e.kind = POFA_EV_SCHEDULE;
					describe_edit(&cm->edit, e.text, sizeof e.text);
					emit(r, &e);
				}
				break;
			}
			}
		}
		if (!paused || verdict != GO_ON)
			return verdict;
	}
}

static void emit_metrics(stage_ctx *c, double lr, int64_t epoch)
{
	if (c->nsum == 0)
		return;
	pofa_event e = ev_new(POFA_EV_METRICS, c->i, c->r);
	e.step = c->step;
	e.total = c->N;
	e.epoch = epoch;
	e.lr = lr;
	e.loss_task = c->sum_task / c->nsum;
	e.loss_kd = c->sum_kd / c->nsum;
	e.loss_total = c->sum_total / c->nsum;
	e.teacher_loss = c->teacher ? c->sum_teacher / c->nsum : NAN;
	e.grad_norm = c->sum_gn / c->nsum;
	e.sparsity_target = c->last_target;
	e.sparsity = pofa_model_sparsity(c->m);
	double dt = now() - c->t_interval;
	e.tokens_per_s = dt > 0 ? c->tokens / dt : 0.0;
	emit(c->r, &e);
	c->sum_task = c->sum_kd = c->sum_total = c->sum_teacher = c->sum_gn = 0.0;
	c->nsum = 0;
	c->tokens = 0;
	c->t_interval = now();
	if (c->has_masks || c->s.prune)
		emit_sparsity(c);
}

static int train_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	pofa_stage *s = &c->s;
	int head = (s->kind == POFA_STAGE_MLM || s->kind == POFA_STAGE_PRUNE) ? POFA_HEAD_MLM
	           : pofa_task_head(&s->task);
	if (load_data(c, err))
		return fail(c, err);
	c->m = make_model(c, head, s->from_idx, c->labels.n, err);
	if (!c->m)
		return fail(c, err);
	if (s->teacher_idx >= 0) {
		c->teacher = make_model(c, head, s->teacher_idx, c->labels.n, err);
		if (!c->teacher)
			return fail(c, err);
		pofa_model_set_dropout(c->teacher, 0);
		char td[1200], tp[1300];
		snprintf(tp, sizeof tp, "%s/model.safetensors", stage_dir(c, s->teacher_idx, td, sizeof td));
		int fresh = 0;
		if (pofa_model_load_weights(c->teacher, tp, &fresh, err))
			return fail(c, err);
		if (fresh) {
			pofa_error(err, POFA_ERR_INPUT, "stage %s: teacher %s has no %s head; a teacher must be "
			           "trained on the same task", s->name, s->teacher, pofa_head_names[head]);
			return fail(c, err);
		}
		if (head == POFA_HEAD_MLM) {
			/* distillation covers every non-padding token */
			pofa_model_set_mlm_positions(c->m, POFA_MLM_ALL);
			pofa_model_set_mlm_positions(c->teacher, POFA_MLM_ALL);
		}
	}
	pofa_model_set_seed(c->m, pofa_mix64(r->rc.seed ^ 0xd0d0 ^ (uint64_t)c->i));
	long ntrain = c->has_mlm ? c->mlm.ntrain : c->train.n;
	c->N = pofa_stage_total_steps(s, ntrain);
	c->warm = pofa_steps_of(s->warmup, c->N);
	c->gmp = pofa_stage_gmp(s, c->N);
	/* masks: pruning, pattern lock, and QAT keeps the pattern too */
	int lock = s->lock || s->kind == POFA_STAGE_QAT;
	if (s->prune || lock) {
		if (pofa_masks_init(&c->mk, c->m, err))
			return fail(c, err);
		c->has_masks = 1;
		if (lock) {
			pofa_masks_lock(&c->mk);
			c->last_target = pofa_model_sparsity(c->m);
		}
	}
	if (s->kind == POFA_STAGE_QAT && pofa_model_set_qat(c->m, 1, s->per_channel, err))
		return fail(c, err);
	c->opt = pofa_optim_default();
	c->opt.beta1 = s->beta1;
	c->opt.beta2 = s->beta2;
	c->opt.eps = s->eps;
	c->opt.weight_decay = s->weight_decay;
	int B = s->batch, T = s->seq;
	c->buf = malloc((size_t)B * (4 * T + 2) * sizeof(int));
	if (!c->buf) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return fail(c, err);
	}
	c->ids = c->buf;
	c->types = c->ids + B * T;
	c->mask = c->types + B * T;
	c->lab = c->mask + B * T;
	c->st = c->lab + B * T;
	c->en = c->st + B;
	if (!c->has_mlm)
		task_order(c);
	/* resume inside this stage, with the schedule edits made so far */
	if (r->resume && c->i == r->start_stage && r->start_step > 0 && restore(c, err))
		return fail(c, err);
	if (r->edits[c->i].set) {
		char why[256];
		if (apply_edit(c, &r->edits[c->i], why, sizeof why))
			log_msg(r, c->i, POFA_EV_LOG, "saved schedule edit not applied: %s", why);
	}
	if (c->has_masks && c->mk.active && !lock)
		c->last_target = pofa_gmp_target(&c->gmp, c->step);
	pofa_event se = ev_new(POFA_EV_STAGE_START, c->i, r);
	se.step = c->step;
	se.total = c->N;
	snprintf(se.text, sizeof se.text, "%s: %s, %lld steps, batch %d x %d, lr %g%s%s", s->name,
	         pofa_stage_kinds[s->kind], (long long)c->N, B, T, s->lr,
	         c->teacher ? ", distilling from " : "", c->teacher ? s->teacher : "");
	emit(r, &se);
	c->t_interval = now();
	int64_t ckpt = r->rc.checkpoint_interval;
	if (ckpt % r->rc.log_interval)  /* checkpoints sit on log boundaries */
		ckpt += r->rc.log_interval - ckpt % r->rc.log_interval;
	double lr = 0.0;
	int64_t epoch_now = 0;
	while (c->step < c->N) {
		int v = commands(c, err);
		if (v < 0)
			return fail(c, err);
		if (v == GO_STOP) {
			if (checkpoint(c, err))
				return fail(c, err);
			return c->status = POFA_STAGE_STOPPED;
		}
		if (v == GO_SKIP) {
			log_msg(r, c->i, POFA_EV_LOG, "stage skipped at step %lld of %lld", (long long)c->step, (long long)c->N);
			c->status = POFA_STAGE_SKIPPED;
			break;
		}
		int64_t t = c->step;
		/* gradual magnitude pruning */
		if (s->prune && pofa_gmp_update_step(&c->gmp, t)) {
			double target = pofa_gmp_target(&c->gmp, t);
			if (pofa_masks_prune(&c->mk, target, &c->gmp, err))
				return fail(c, err);
			c->last_target = target;
			pofa_event e = ev_new(POFA_EV_PRUNE, c->i, r);
			e.step = t;
			e.total = c->N;
			e.sparsity_target = target;
			e.sparsity = pofa_model_sparsity(c->m);
			snprintf(e.text, sizeof e.text, "masks recomputed: target %.4f, reached %.4f", target, e.sparsity);
			emit(r, &e);
		}
		int bn = next_batch(c);
		pofa_batch b = { .B = bn, .T = T, .input_ids = c->ids, .token_type_ids = c->types,
		                 .attention_mask = c->mask, .mlm_labels = c->lab, .labels = c->lab,
		                 .start_positions = c->st, .end_positions = c->en };
		pofa_model_zero_grad(c->m);
		if (pofa_model_forward(c->m, &b, 1, err))
			return fail(c, err);
		float wt = c->teacher ? s->alpha_task : 1.0f;
		double ltask = pofa_model_task_loss(c->m, &b, wt), lkd = 0.0, lteach = 0.0;
		if (c->teacher) {
			if (pofa_model_forward(c->teacher, &b, 0, err))
				return fail(c, err);
			lteach = pofa_model_task_loss(c->teacher, &b, 0.0f);
			int rows, cols;
			const float *tl = pofa_model_logits(c->teacher, &rows, &cols);
			lkd = pofa_model_kd(c->m, tl, s->temperature, s->alpha_kd);
		}
		double total = c->teacher ? s->alpha_task * ltask + s->alpha_kd * lkd : ltask;
		if (!isfinite(total)) {
			pofa_error(err, POFA_ERR_RUN, "stage %s: the loss is not finite at step %lld (task %g, "
			           "KD %g); the last checkpoint is kept", s->name, (long long)t + 1, ltask, lkd);
			return fail(c, err);
		}
		pofa_model_backward(c->m, &b);
		if (c->has_masks)
			pofa_masks_grads(&c->mk);
		float gn = pofa_model_clip_grad(c->m, (float)s->max_grad_norm);
		lr = stage_lr(c, t);
		pofa_model_adamw(c->m, &c->opt, lr);
		if (c->has_masks)
			pofa_masks_apply(&c->mk);
		c->step = t + 1;
		c->sum_task += ltask;
		c->sum_kd += lkd;
		c->sum_total += total;
		c->sum_teacher += lteach;
		c->sum_gn += gn;
		c->nsum++;
		c->tokens += (double)bn * T;
		long ep, cu;
		data_pos(c, &ep, &cu);
		epoch_now = ep;
		if (c->step % r->rc.log_interval == 0 || c->step == c->N) {
			emit_metrics(c, lr, epoch_now);
			publish_view(c, lr);
		}
		if (s->eval_interval && c->step % s->eval_interval == 0 && c->step < c->N &&
		    evaluate_dev(c, err))
			return fail(c, err);
		if (c->step % ckpt == 0 && c->step < c->N && checkpoint(c, err))
			return fail(c, err);
	}
	emit_metrics(c, lr, epoch_now);
	if (evaluate_dev(c, err))
		return fail(c, err);
	/* the stage's model directory */
	char dir[1200], path[1300];
	stage_dir(c, c->i, dir, sizeof dir);
	if (pofa_model_save(c->m, dir, r->rc.vocab, err))
		return fail(c, err);
	snprintf(path, sizeof path, "%s/masks.safetensors", dir);
	if (c->has_masks && pofa_masks_save(&c->mk, path, err))
		return fail(c, err);
	if (pofa_model_qat(c->m)) {
		snprintf(path, sizeof path, "%s/qat.safetensors", dir);
		if (pofa_model_qat_save(c->m, path, err))
			return fail(c, err);
		snprintf(path, sizeof path, "%s/model.int8.safetensors", dir);
		if (pofa_model_export_int8(c->m, path, err))
			return fail(c, err);
		log_msg(r, c->i, POFA_EV_LOG, "int8 weights and scales in %s", path);
	}
	return c->status ? c->status : POFA_STAGE_DONE;
}

/* an eval stage: each named model on the task's splits */
static int eval_stage(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	pofa_stage *s = &c->s;
	pofa_event se = ev_new(POFA_EV_STAGE_START, c->i, r);
	snprintf(se.text, sizeof se.text, "%s: eval of %s on %s (%s)", s->name, s->models, s->task.name, s->splits);
	emit(r, &se);
	/* labels come from the training split */
	if (s->task.format == POFA_TASK_TSV && s->task.train[0]) {
		pofa_text_task tr;  /* read for its labels only: no tokenizing */
		if (pofa_text_task_load(s->task.train, s->task.text_a, s->task.text_b[0] ? s->task.text_b : NULL,
		                        s->task.label, &c->labels, &tr, err))
			return fail(c, err);
		pofa_text_task_free(&tr);
	}
	char models[512], splits[64];
	snprintf(models, sizeof models, "%s", s->models);
	char *save1 = NULL, *save2 = NULL;
	for (char *mn = strtok_r(models, ", ", &save1); mn; mn = strtok_r(NULL, ", ", &save1)) {
		int mi = pofa_recipe_stage(&r->rc, mn);
		c->m = make_model(c, pofa_task_head(&s->task), mi, c->labels.n, err);
		if (!c->m)
			return fail(c, err);
		char dir[1200], path[1300];
		stage_dir(c, mi, dir, sizeof dir);
		snprintf(path, sizeof path, "%s/qat.safetensors", dir);
		if (access(path, R_OK) == 0 && pofa_model_qat_load(c->m, path, err))
			return fail(c, err);
		snprintf(splits, sizeof splits, "%s", s->splits);
		for (char *sp = strtok_r(splits, ", ", &save2); sp; sp = strtok_r(NULL, ", ", &save2)) {
			const char *file = !strcmp(sp, "train") ? s->task.train : !strcmp(sp, "dev") ? s->task.dev
			                   : s->task.test;
			if (!file[0]) {
				log_msg(r, c->i, POFA_EV_LOG, "task %s has no %s split", s->task.name, sp);
				continue;
			}
			pofa_taskset ts;
			pofa_eval_result res;
			if (pofa_taskset_load(&s->task, file, r->tk, s->seq, &c->labels, &ts, err) ||
			    pofa_evaluate(c->m, &ts, &c->labels, s->batch, NULL, &res, err)) {
				pofa_taskset_free(&ts);
				return fail(c, err);
			}
			pofa_taskset_free(&ts);
			for (int k = 0; k < res.n; k++) {
				pofa_event e = ev_new(POFA_EV_EVAL, c->i, r);
				snprintf(e.model, sizeof e.model, "%s", mn);
				snprintf(e.task, sizeof e.task, "%s", s->task.name);
				snprintf(e.split, sizeof e.split, "%s", sp);
				snprintf(e.metric, sizeof e.metric, "%s", res.m[k].name);
				e.value = res.m[k].value;
				e.loss = res.loss;
				if (pofa_model_qat(c->m))
					snprintf(e.text, sizeof e.text, "int8 simulated");
				emit(r, &e);
			}
		}
		pofa_model_free(c->m);
		c->m = NULL;
	}
	return POFA_STAGE_DONE;
}

static int run_stage(pofa_run *r, int i)
{
	stage_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.i = i;
	c.s = r->rc.stages[i];
	pofa_err err = { 0 };
	int st = c.s.kind == POFA_STAGE_EVAL ? eval_stage(&c, &err) : train_stage(&c, &err);
	pofa_event e = ev_new(POFA_EV_STAGE_END, i, r);
	e.status = st;
	e.step = c.step;
	e.total = c.N;
	snprintf(e.text, sizeof e.text, "%s %s", c.s.name, pofa_stage_status_names[st]);
	emit(r, &e);
	if (st == POFA_STAGE_DONE || st == POFA_STAGE_SKIPPED) {
		pofa_err e2;
		write_state(r, i + 1, 0, 0, 0, &e2);
	}
	pofa_model_free(c.m);
	pofa_model_free(c.teacher);
	if (c.has_masks)
		pofa_masks_free(&c.mk);
	if (c.has_mlm)
		pofa_mlm_free(&c.mlm);
	pofa_labels_free(&c.labels);
	pofa_taskset_free(&c.train);
	pofa_taskset_free(&c.dev);
	free(c.order);
	free(c.buf);
	return st;
}

static void *engine_main(void *arg)
{
	pofa_run *r = arg;
	pofa_err err = { 0 };
	int status = 0;
	pofa_event e = ev_new(POFA_EV_RUN_START, -1, r);
	snprintf(e.text, sizeof e.text, "%s (recipe %s, hash %016llx)%s", r->rc.name, r->rc.path,
	         (unsigned long long)r->rc.hash, r->resume ? ", resumed" : "");
	e.step = r->start_step;
	e.stage = r->start_stage;
	emit(r, &e);
	r->tk = pofa_tokenizer_load(r->rc.vocab, POFA_CASE_AUTO, &err);
	if (!r->tk) {
		pofa_event x = ev_new(POFA_EV_ERROR, -1, r);
		snprintf(x.text, sizeof x.text, "%s (build the data first: pofa data build)", err.msg);
		emit(r, &x);
		status = 1;
	}
	for (int i = r->start_stage; i < r->rc.nstages && !status; i++) {
		int st = run_stage(r, i);
		if (st == POFA_STAGE_FAILED)
			status = 1;
		if (st == POFA_STAGE_STOPPED)
			break;
		r->resume = 0; /* later stages start fresh */
	}
	pofa_event end = ev_new(POFA_EV_RUN_END, -1, r);
	end.status = status;
	emit(r, &end);
	pthread_mutex_lock(&r->mu);
	r->status = status;
	r->finished = 1;
	pthread_mutex_unlock(&r->mu);
	char one = 1;
	if (write(r->wake[1], &one, 1) < 0)
		(void)0;
	return NULL;
}

int pofa_run_start(pofa_run *r, pofa_err *err)
{
	if (pthread_create(&r->th, NULL, engine_main, r) != 0)
		return pofa_error(err, POFA_ERR_RUN, "cannot start the engine thread");
	r->started = 1;
	return POFA_OK;
}

int pofa_run_join(pofa_run *r)
{
	if (r->started) {
		pthread_join(r->th, NULL);
		r->started = 0;
	}
	return r->status;
}
