/*
 * state.c - what a run leaves to be resumed, written so that a crash, a
 * kill or a full disk at any moment leaves either the previous resume point
 * or the new one, never a mix:
 *
 *   STAGE/checkpoint-STEP-SEQ/   one checkpoint: config.json,
 *                                model.safetensors, optimizer.safetensors,
 *                                masks.safetensors (pruned or locked
 *                                stages), qat.safetensors (QAT stages),
 *                                pruner.safetensors (a pruning method's own
 *                                state, where it keeps one), and
 *                                manifest.json: the step, the data position,
 *                                the partial metrics interval, and the size
 *                                and CRC-32 of every file
 *   state.json                   where to continue: the stage, the step, the
 *                                checkpoint folder, the live edits so far
 *                                and the recipe's hash
 *
 * A checkpoint is written whole into a hidden temp folder (every file
 * synced), renamed into place, and only then does state.json (written
 * atomically) point at it; the previous checkpoint is deleted after that.
 * Restoring checks state.json against the recipe and the manifest against
 * the files, and refuses what does not agree, naming the file.
 */
#include "engine/run/internal.h"
#include "data/base/fileio.h"
#include "data/base/json.h"
#include "data/base/util.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define STATE_FORMAT 2

/* ---- small helpers ------------------------------------------------------------ */

/* deletes a folder of plain files (a checkpoint) */
static void remove_flat_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[2400];
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* the size and CRC-32 (zlib's) of a file */
static int file_crc(const char *path, uint64_t *size, uint32_t *crc, pofa_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
	unsigned char buf[1 << 16];
	uLong c = crc32(0L, Z_NULL, 0);
	uint64_t n = 0;
	size_t k;
	while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
		c = crc32(c, buf, (uInt)k);
		n += k;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return pofa_error(err, POFA_ERR_INPUT, "%s: read error", path);
	*size = n;
	*crc = (uint32_t)c;
	return POFA_OK;
}

static int write_json(const char *path, cJSON *o, pofa_err *err)
{
	char *s = cJSON_Print(o);
	int rc = s ? pofa_write_atomic(path, s, strlen(s), err) : pofa_error(err, POFA_ERR_RUN, "out of memory");
	free(s);
	return rc;
}

static cJSON *read_json(const char *path, pofa_err *err)
{
	cJSON *o = pofa_json_read(path, 16u << 20, err);
	if (o && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		pofa_error(err, POFA_ERR_INPUT, "%s: not a JSON object", path);
		return NULL;
	}
	return o;
}

/* an integer field in [lo, hi]; 0 or an error naming the file and key */
static int jint(const cJSON *o, const char *k, int64_t lo, int64_t hi, int64_t *out, const char *path,
                pofa_err *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || j->valuedouble < (double)lo ||
	    j->valuedouble > (double)hi)
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" must be a whole number in [%lld, %lld]%s", path, k,
		                  (long long)lo, (long long)hi, j ? "" : " (missing)");
	*out = (int64_t)j->valuedouble;
	return POFA_OK;
}

static int jdbl(const cJSON *o, const char *k, double *out, const char *path, pofa_err *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
		return pofa_error(err, POFA_ERR_INPUT, "%s: \"%s\" must be a finite number", path, k);
	*out = j->valuedouble;
	return POFA_OK;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* ---- state.json ------------------------------------------------------------------- */

int pofa_state_write(pofa_run *r, int stage, int64_t step, const char *checkpoint, pofa_err *err)
{
	if (r->follower)
		return POFA_OK;   /* rank 0 writes the run's files */
	cJSON *o = cJSON_CreateObject();
	char h[32];
	snprintf(h, sizeof h, "%016llx", (unsigned long long)r->rc.hash);
	cJSON_AddNumberToObject(o, "format", STATE_FORMAT);
	cJSON_AddStringToObject(o, "recipe_hash", h);
	cJSON_AddNumberToObject(o, "stage", stage);
	cJSON_AddStringToObject(o, "stage_name", stage < r->rc.nstages ? r->rc.stages[stage].name : "");
	cJSON_AddNumberToObject(o, "step", (double)step);
	cJSON_AddStringToObject(o, "checkpoint", checkpoint ? checkpoint : "");
	cJSON_AddNumberToObject(o, "checkpoints", (double)r->ckpt_seq);
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
	char path[1200];
	snprintf(path, sizeof path, "%s/state.json", r->dir);
	int rc = write_json(path, o, err);
	cJSON_Delete(o);
	return rc;
}

static int read_edit(const cJSON *x, pofa_sched_edit *e, const char *path, pofa_err *err)
{
	int64_t v = 0;
	double d = 0.0;
	const unsigned all = 255;
	if (!cJSON_IsObject(x))
		return pofa_error(err, POFA_ERR_INPUT, "%s: an edit is not an object", path);
	if (jint(x, "set", 0, all, &v, path, err))
		return err->status;
	e->set = (unsigned)v;
	if (jdbl(x, "final_sparsity", &d, path, err))
		return err->status;
	e->final_sparsity = (float)d;
	int64_t *steps[4] = { &e->start, &e->end, &e->every, &e->freeze };
	const char *names[4] = { "start", "end", "every", "freeze" };
	for (int k = 0; k < 4; k++)
		if (jint(x, names[k], 0, (int64_t)1e12, steps[k], path, err))
			return err->status;
	if (jdbl(x, "lr", &e->lr, path, err) || jdbl(x, "alpha_kd", &d, path, err))
		return err->status;
	e->alpha_kd = (float)d;
	if (jdbl(x, "temperature", &d, path, err))
		return err->status;
	e->temperature = (float)d;
	return POFA_OK;
}

int pofa_state_read(pofa_run *r, int allow_changed_recipe, pofa_err *err)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/state.json", r->dir);
	if (access(path, F_OK) != 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot resume: no state.json (is this a run folder?)",
		                  r->dir);
	cJSON *o = read_json(path, err);
	if (!o)
		return err->status;
	int64_t fmt = 0, stage = 0, step = 0, seq = 0;
	int rc = jint(o, "format", STATE_FORMAT, STATE_FORMAT, &fmt, path, err);
	if (!rc)
		rc = jint(o, "stage", 0, r->rc.nstages, &stage, path, err);
	if (!rc)
		rc = jint(o, "step", 0, (int64_t)1e12, &step, path, err);
	if (!rc)
		rc = jint(o, "checkpoints", 0, (int64_t)1e12, &seq, path, err);
	const char *hash = jstr(o, "recipe_hash"), *name = jstr(o, "stage_name"), *ck = jstr(o, "checkpoint");
	if (!rc && (!hash || !name || !ck))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: needs \"recipe_hash\", \"stage_name\" and \"checkpoint\" "
		                "(strings)", path);
	char want[32];
	snprintf(want, sizeof want, "%016llx", (unsigned long long)r->rc.hash);
	if (!rc && strcmp(hash, want)) {
		if (!allow_changed_recipe)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s/recipe.ini changed since the run began (hash %s, now %s); "
			                "restore it, or resume with --allow-changed-recipe to continue with the new one",
			                r->dir, hash, want);
		else
			snprintf(r->changed_from, sizeof r->changed_from, "%.31s", hash);
	}
	if (!rc && stage < r->rc.nstages && strcmp(name, r->rc.stages[stage].name))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: stage %lld is %s in the recipe, not %s", path, (long long)stage,
		                r->rc.stages[stage].name, name);
	/* a checkpoint is a folder of this stage: STAGE/checkpoint-... */
	if (!rc && ck[0]) {
		size_t ln = strlen(name);
		if (stage >= r->rc.nstages || strncmp(ck, name, ln) || strncmp(ck + ln, "/checkpoint-", 12) ||
		    strchr(ck + ln + 1, '/') || strstr(ck, ".."))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: checkpoint \"%s\" is not a checkpoint of stage %s", path,
			                ck, name);
	}
	if (!rc && !ck[0] && step > 0)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: step %lld without a checkpoint", path, (long long)step);
	const cJSON *ed = cJSON_GetObjectItemCaseSensitive(o, "edits");
	if (!rc && (!cJSON_IsArray(ed) || cJSON_GetArraySize(ed) > r->rc.nstages))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"edits\" must be a list of at most %d edits", path,
		                r->rc.nstages);
	const cJSON *x;
	int i = 0;
	if (!rc)
		cJSON_ArrayForEach(x, ed) {
			if ((rc = read_edit(x, &r->edits[i++], path, err)))
				break;
		}
	if (!rc) {
		r->start_stage = (int)stage;
		r->start_step = step;
		r->ckpt_seq = seq;
		snprintf(r->start_ckpt, sizeof r->start_ckpt, "%s", ck);
	}
	cJSON_Delete(o);
	return rc;
}

/* ---- checkpoints ------------------------------------------------------------------ */

static const char *const ck_files[] = { "config.json", "model.safetensors", "optimizer.safetensors",
	                                    "masks.safetensors", "qat.safetensors", "pruner.safetensors" };
enum { CK_CONFIG, CK_MODEL, CK_OPTIM, CK_MASKS, CK_QAT, CK_PRUNER, CK_COUNT };
_Static_assert(POFA_ARRAY_LEN(ck_files) == CK_COUNT, "a name per checkpoint file");

/* the pruning method's own state, when it keeps one */
static int has_pruner(const stage_ctx *c)
{
	return c->has_masks && pofa_prune_methods[c->mk.method].save_state != NULL;
}

/* which files this stage's checkpoints hold */
static int ck_has(const stage_ctx *c, int k)
{
	return k == CK_MASKS ? c->has_masks : k == CK_QAT ? pofa_model_qat(c->m) : k == CK_PRUNER ? has_pruner(c) : 1;
}

static int write_manifest(stage_ctx *c, const char *dir, pofa_err *err)
{
	cJSON *o = cJSON_CreateObject();
	long epoch, cursor;
	pofa_stage_data_pos(&c->d, &epoch, &cursor);
	cJSON_AddStringToObject(o, "stage", c->s.name);
	cJSON_AddNumberToObject(o, "step", (double)c->step);
	cJSON_AddNumberToObject(o, "epoch", (double)epoch);
	cJSON_AddNumberToObject(o, "cursor", (double)cursor);
	/* the metrics interval under way, so the next row is the same */
	cJSON *iv = cJSON_AddObjectToObject(o, "interval");
	cJSON_AddNumberToObject(iv, "task", c->sums.task);
	cJSON_AddNumberToObject(iv, "kd", c->sums.kd);
	cJSON_AddNumberToObject(iv, "total", c->sums.total);
	cJSON_AddNumberToObject(iv, "teacher", c->sums.teacher);
	cJSON_AddNumberToObject(iv, "kd_hidden", c->sums.hidden);
	cJSON_AddNumberToObject(iv, "grad_norm", c->sums.gn);
	cJSON_AddNumberToObject(iv, "steps", (double)c->sums.n);
	cJSON_AddNumberToObject(iv, "tokens", c->sums.tokens);
	cJSON_AddNumberToObject(o, "last_target", c->pr.last_target);
	if (c->sel.has_best) {   /* model selection so far */
		cJSON *b = cJSON_AddObjectToObject(o, "best");
		cJSON_AddNumberToObject(b, "score", c->sel.best_score);
		cJSON_AddNumberToObject(b, "step", (double)c->sel.best_step);
		cJSON_AddNumberToObject(b, "since", (double)c->sel.since_best);
	}
	cJSON *fl = cJSON_AddArrayToObject(o, "files");
	int rc = POFA_OK;
	for (int k = 0; k < CK_COUNT && !rc; k++) {
		if (!ck_has(c, k))
			continue;
		char p[1400], crc[16];
		uint64_t size = 0;
		uint32_t cr = 0;
		snprintf(p, sizeof p, "%s/%s", dir, ck_files[k]);
		if ((rc = file_crc(p, &size, &cr, err)))
			break;
		snprintf(crc, sizeof crc, "%08" PRIx32, cr);
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", ck_files[k]);
		cJSON_AddNumberToObject(f, "size", (double)size);
		cJSON_AddStringToObject(f, "crc32", crc);
		cJSON_AddItemToArray(fl, f);
	}
	char path[1400];
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	if (!rc)
		rc = write_json(path, o, err);
	cJSON_Delete(o);
	return rc;
}

/* the stage's checkpoint folders other than keep (NULL: all), and any
 * half-written one */
void pofa_checkpoint_prune(pofa_run *r, int stage, const char *keep)
{
	if (r->follower)
		return;
	char sdir[1100];
	pofa_run_stage_dir(r, stage, sdir, sizeof sdir);
	DIR *d = opendir(sdir);
	if (!d)
		return;
	struct dirent *e;
	char names[64][256];
	int n = 0;
	while ((e = readdir(d)) && n < 64)
		if ((!strncmp(e->d_name, "checkpoint-", 11) || !strncmp(e->d_name, ".checkpoint-", 12) ||
		     !strcmp(e->d_name, "checkpoint")) && (!keep || strcmp(e->d_name, keep)))
			snprintf(names[n++], sizeof names[0], "%s", e->d_name);
	closedir(d);
	for (int k = 0; k < n; k++) {
		char p[1400];
		snprintf(p, sizeof p, "%.1100s/%.255s", sdir, names[k]);
		remove_flat_dir(p);
	}
}

int pofa_checkpoint(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	if (r->follower)
		return POFA_OK;   /* every rank holds the same state: rank 0 writes it */
	if (c->ckpt_step == c->step)
		return POFA_OK;   /* this step's state is written already (a stop right after a checkpoint) */
	char sdir[1100], name[64], tmp[1200], dir[1200], rel[128], path[1300];
	pofa_run_stage_dir(r, c->i, sdir, sizeof sdir);
	int64_t seq = r->ckpt_seq + 1;
	snprintf(name, sizeof name, "checkpoint-%08lld-%lld", (long long)c->step, (long long)seq);
	snprintf(tmp, sizeof tmp, "%s/.%s", sdir, name);
	snprintf(dir, sizeof dir, "%s/%s", sdir, name);
	snprintf(rel, sizeof rel, "%s/%s", c->s.name, name);
	remove_flat_dir(tmp);   /* a leftover of a crash */
	/* 1. every file into the hidden folder, each synced */
	int rc = pofa_model_save(c->m, tmp, NULL, err);
	snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
	if (!rc)
		rc = pofa_optim_save(c->m, &c->opt, path, err);
	snprintf(path, sizeof path, "%s/masks.safetensors", tmp);
	if (!rc && c->has_masks)
		rc = pofa_masks_save(&c->mk, path, err);
	snprintf(path, sizeof path, "%s/qat.safetensors", tmp);
	if (!rc && pofa_model_qat(c->m))
		rc = pofa_model_qat_save(c->m, path, err);
	snprintf(path, sizeof path, "%s/pruner.safetensors", tmp);
	if (!rc && has_pruner(c))
		rc = pofa_prune_methods[c->mk.method].save_state(&c->mk, path, err);
	if (!rc)
		rc = write_manifest(c, tmp, err);
	/* 2. the folder into place; one of this name is a leftover that
	 * state.json never pointed at (its number is past the last recorded) */
	if (!rc)
		remove_flat_dir(dir);
	if (!rc && rename(tmp, dir) != 0)
		rc = pofa_error(err, POFA_ERR_RUN, "%s: rename failed: %s", dir, strerror(errno));
	if (rc) {
		remove_flat_dir(tmp);
		return pofa_error(err, err->status, "checkpoint at step %lld not written (the previous one is "
		                  "kept): %s", (long long)c->step, err->msg);
	}
	sync_dir(sdir);
	/* 3. the commit: state.json points at it */
	r->ckpt_seq = seq;
	if (pofa_state_write(r, c->i, c->step, rel, err)) {
		remove_flat_dir(dir);
		return pofa_error(err, err->status, "checkpoint at step %lld not recorded (the previous one is "
		                  "kept): %s", (long long)c->step, err->msg);
	}
	/* 4. the previous one can go */
	pofa_checkpoint_prune(r, c->i, name);
	c->ckpt_step = c->step;
	snprintf(c->ckpt_dir, sizeof c->ckpt_dir, "%s", dir);
	pofa_event e = pofa_ev_new(POFA_EV_CHECKPOINT, c->i, r);
	e.step = c->step;
	e.total = c->N;
	snprintf(e.text, sizeof e.text, "%.1200s", dir);
	pofa_run_emit(r, &e);
	return POFA_OK;
}

/* the manifest: what the checkpoint holds, checked against its files */
static int read_manifest(stage_ctx *c, const char *dir, long *epoch, long *cursor, pofa_err *err)
{
	char path[1500];
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	cJSON *o = read_json(path, err);
	if (!o)
		return pofa_error(err, POFA_ERR_INPUT, "cannot resume: %s", err->msg);
	int64_t step = 0, ep = 0, cu = 0, n = 0;
	int rc = jint(o, "step", 0, (int64_t)1e12, &step, path, err);
	if (!rc)
		rc = jint(o, "epoch", 0, (int64_t)1e12, &ep, path, err);
	if (!rc)
		rc = jint(o, "cursor", 0, (int64_t)1e12, &cu, path, err);
	const char *stage = jstr(o, "stage");
	if (!rc && (!stage || strcmp(stage, c->s.name) || step != c->r->start_step))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: holds stage %s step %lld, but state.json says %s step %lld",
		                path, stage ? stage : "?", (long long)step, c->s.name, (long long)c->r->start_step);
	if (!rc && step > c->N)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: step %lld is past the stage's %lld steps", path,
		                (long long)step, (long long)c->N);
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(o, "interval");
	if (!rc && !cJSON_IsObject(iv))
		rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"interval\" missing", path);
	if (!rc && !(rc = jdbl(iv, "task", &c->sums.task, path, err)) && !(rc = jdbl(iv, "kd", &c->sums.kd, path, err)) &&
	    !(rc = jdbl(iv, "total", &c->sums.total, path, err)) &&
	    !(rc = jdbl(iv, "teacher", &c->sums.teacher, path, err)) &&
	    !(rc = jdbl(iv, "grad_norm", &c->sums.gn, path, err)) && !(rc = jdbl(iv, "tokens", &c->sums.tokens, path, err)) &&
	    !(rc = jint(iv, "steps", 0, c->r->rc.log_interval, &n, path, err)))
		c->sums.n = (long)n;
	/* written since hidden-state distillation came: absent, it was 0 */
	if (!rc && cJSON_GetObjectItemCaseSensitive(iv, "kd_hidden"))
		rc = jdbl(iv, "kd_hidden", &c->sums.hidden, path, err);
	if (!rc)
		rc = jdbl(o, "last_target", &c->pr.last_target, path, err);
	const cJSON *best = cJSON_GetObjectItemCaseSensitive(o, "best");
	if (!rc && best) {
		int64_t bs = 0, since = 0;
		if (!cJSON_IsObject(best))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: \"best\" is not an object", path);
		if (!rc && !(rc = jdbl(best, "score", &c->sel.best_score, path, err)) &&
		    !(rc = jint(best, "step", 0, step, &bs, path, err)) && !(rc = jint(best, "since", 0, step, &since, path, err))) {
			c->sel.has_best = 1;
			c->sel.best_step = bs;
			c->sel.since_best = since;
		}
	}
	/* every file the stage needs, of the size and CRC-32 recorded */
	const cJSON *fl = cJSON_GetObjectItemCaseSensitive(o, "files");
	for (int k = 0; k < CK_COUNT && !rc; k++) {
		const cJSON *f = NULL, *x;
		cJSON_ArrayForEach(x, fl) {
			const char *nm = jstr(x, "name");
			if (nm && !strcmp(nm, ck_files[k]))
				f = x;
		}
		if (!f && ck_has(c, k)) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %s is not listed: this checkpoint was not made by stage "
			                "%s as the recipe describes it", path, ck_files[k], c->s.name);
			break;
		}
		if (!f)
			continue;
		char fp[1600], crc[16];
		uint64_t size = 0;
		uint32_t cr = 0;
		int64_t want = 0;
		snprintf(fp, sizeof fp, "%s/%s", dir, ck_files[k]);
		const char *wcrc = jstr(f, "crc32");
		if ((rc = jint(f, "size", 0, INT64_C(1) << 50, &want, path, err)) || (rc = file_crc(fp, &size, &cr, err)))
			break;
		snprintf(crc, sizeof crc, "%08" PRIx32, cr);
		if ((int64_t)size != want || !wcrc || strcmp(wcrc, crc))
			rc = pofa_error(err, POFA_ERR_INPUT, "%s: %lld bytes, CRC-32 %s, but the manifest records %lld bytes, "
			                "%s: the checkpoint is damaged", fp, (long long)size, crc, (long long)want,
			                wcrc ? wcrc : "?");
	}
	cJSON_Delete(o);
	*epoch = (long)ep;
	*cursor = (long)cu;
	return rc;
}

int pofa_restore(stage_ctx *c, pofa_err *err)
{
	pofa_run *r = c->r;
	char dir[1400], path[1500];
	snprintf(dir, sizeof dir, "%s/%s", r->dir, r->start_ckpt);
	long epoch = 0, cursor = 0;
	int rc = read_manifest(c, dir, &epoch, &cursor, err);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (!rc)
		rc = pofa_model_load_weights(c->m, path, NULL, err);
	snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
	if (!rc)
		rc = pofa_optim_load(c->m, &c->opt, path, err);
	snprintf(path, sizeof path, "%s/masks.safetensors", dir);
	if (!rc && c->has_masks)
		rc = pofa_masks_load(&c->mk, path, err);
	snprintf(path, sizeof path, "%s/qat.safetensors", dir);
	if (!rc && pofa_model_qat(c->m))
		rc = pofa_model_qat_load(c->m, path, err);
	snprintf(path, sizeof path, "%s/pruner.safetensors", dir);
	if (!rc && has_pruner(c))
		rc = pofa_prune_methods[c->mk.method].load_state(&c->mk, path, err);
	long ntrain = c->d.has_mlm ? c->d.mlm.ntrain : c->d.train.n;
	if (!rc && cursor > ntrain)
		rc = pofa_error(err, POFA_ERR_INPUT, "%s/manifest.json: data position %ld is past the %ld training "
		                "examples", dir, cursor, ntrain);
	if (rc)
		return pofa_error(err, POFA_ERR_INPUT, "cannot resume stage %s: %s", c->s.name, err->msg);
	c->step = r->start_step;
	r->step_now = c->step;
	if (c->d.has_mlm) {
		pofa_mlm_seek(&c->d.mlm, epoch, cursor);
	} else {
		c->d.epoch = epoch;
		c->d.cursor = cursor;
		pofa_stage_order(c);
	}
	pofa_run_log(r, c->i, POFA_EV_LOG, "resumed at step %lld from %s", (long long)c->step, dir);
	return POFA_OK;
}
