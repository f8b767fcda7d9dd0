/*
 * state.c - what a run leaves to be resumed: state.json (the stage, step
 * and data position to continue from, and the live edits so far) and each
 * stage's checkpoint folder (model, optimizer state, masks, QAT ranges).
 *
 * Every checkpoint_interval steps (on a log boundary) the stage's files go
 * to STAGE/checkpoint/, and then state.json records where to continue. A
 * resumed run restores all of it and continues with the same losses, bit
 * for bit, for the same thread count.
 */
#include "engine/run/internal.h"
#include "data/base/fileio.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pofa_state_write(pofa_run *r, int stage, int64_t step, long epoch, long cursor, pofa_err *err)
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

int pofa_state_read(pofa_run *r, pofa_err *err)
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

/* ---- checkpoints ------------------------------------------------------------- */

int pofa_checkpoint(stage_ctx *c, pofa_err *err)
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
	pofa_stage_data_pos(c, &epoch, &cursor);
	if (!rc)
		rc = pofa_state_write(c->r, c->i, c->step, epoch, cursor, err);
	if (!rc) {
		pofa_event e = pofa_ev_new(POFA_EV_CHECKPOINT, c->i, c->r);
		e.step = c->step;
		e.total = c->N;
		snprintf(e.text, sizeof e.text, "%s", dir);
		pofa_run_emit(c->r, &e);
	}
	return rc;
}

int pofa_restore(stage_ctx *c, pofa_err *err)
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
			pofa_stage_order(c);
		}
		pofa_run_log(c->r, c->i, POFA_EV_LOG, "resumed at step %lld from %s", (long long)c->step, dir);
	}
	return rc;
}
