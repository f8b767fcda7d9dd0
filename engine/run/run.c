/*
 * run.c - a recipe run: the engine thread runs the recipe's stages in order
 * (stage.c, eval.c), publishing events and obeying commands at step
 * boundaries (mailbox.c, control.c), and leaves what a resume needs
 * (state.c). See run.h.
 */
#include "engine/run/internal.h"
#include "engine/dist/dist.h"
#include "data/base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

const char *const pofa_stage_status_names[] = {
	"waiting", "running", "paused", "done", "failed", "skipped", "stopped"
};
_Static_assert(POFA_ARRAY_LEN(pofa_stage_status_names) == POFA_STAGE_STATUS_COUNT, "a name per stage status");

const pofa_recipe *pofa_run_recipe(const pofa_run *r) { return &r->rc; }
const char *pofa_run_dir(const pofa_run *r) { return r->dir; }

void pofa_run_resume_point(const pofa_run *r, int *stage, int64_t *step)
{
	*stage = r->start_stage;
	*step = r->start_step;
}

int pofa_run_finished(pofa_run *r)
{
	pthread_mutex_lock(&r->mu);
	int f = r->finished;
	pthread_mutex_unlock(&r->mu);
	return f;
}

/* ---- construction ------------------------------------------------------------ */

/* One process at a time in a run folder: an exclusive flock on run.lock,
 * which the kernel releases when the process ends, however it ends. */
static int lock_dir(pofa_run *r, pofa_err *err)
{
	char path[1100];
	snprintf(path, sizeof path, "%s/run.lock", r->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		close(fd);
		return pofa_error(err, POFA_ERR_INPUT, "%s is in use by another pofa (pid %s); wait for it to end, "
		                  "or stop it", r->dir, pid[0] ? pid : "unknown");
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		(void)0;  /* the pid is a courtesy to the next process; the lock holds */
	r->lock_fd = fd;
	return POFA_OK;
}

/* a new run does not write over another run's folder */
static int no_run_yet(pofa_run *r, pofa_err *err)
{
	char st[1100];
	snprintf(st, sizeof st, "%s/state.json", r->dir);
	if (access(st, F_OK) == 0)
		return pofa_error(err, POFA_ERR_INPUT, "%s already holds a run; continue it with --resume %s, "
		                  "or choose another --out", r->dir, r->dir);
	return POFA_OK;
}

pofa_run *pofa_run_new(const pofa_recipe *rc, const char *dir, int flags, pofa_err *err)
{
	int resume = flags & POFA_RUN_RESUME;
	pofa_run *r = calloc(1, sizeof *r);
	if (!r) {
		pofa_error(err, POFA_ERR_RUN, "out of memory");
		return NULL;
	}
	r->rc = *rc;
	r->rc.text = rc->text ? strdup(rc->text) : NULL;
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	r->resume = resume;
	r->lock_fd = -1;
	r->rank = pofa_dist_rank();
	r->nranks = pofa_dist_size();
	r->follower = r->rank > 0;
	/* the all-reduce overlapped with backward: asked, or by default when a
	 * network joins the ranks (on one machine the copies would take the
	 * cores the backward pass uses) */
	r->overlap = r->nranks > 1 && (!strcmp(rc->overlap, "yes") ||
	                               (strcmp(rc->overlap, "no") && pofa_dist_multihost()));
	long np = sysconf(_SC_NPROCESSORS_ONLN);
	/* by default the machine's cores, shared among the ranks on it */
	const char *local = r->nranks > 1 ? getenv("OMPI_COMM_WORLD_LOCAL_SIZE") : NULL;
	long per = local && atol(local) > 0 ? np / atol(local) : np;
	r->threads = rc->threads ? rc->threads : (int)(per < 1 ? 1 : per > 64 ? 64 : per);
	if (pofa_mailbox_init(r, err)) {
		pofa_run_free(r);
		return NULL;
	}
	/* a new run checks its inputs before it makes its folder; a resumed one
	 * once it knows from which stage it continues */
	if (r->follower) {
		/* rank 0 makes, locks and writes the folder; the others read */
		if ((!resume && pofa_preflight(r, err)) ||
		    (resume && (pofa_state_read(r, flags & POFA_RUN_ALLOW_CHANGED_RECIPE, err) || pofa_preflight(r, err)))) {
			pofa_run_free(r);
			return NULL;
		}
		return r;
	}
	if ((!resume && pofa_preflight(r, err)) || pofa_mkdirs(dir, err) || lock_dir(r, err) ||
	    (!resume && no_run_yet(r, err)) ||
	    (resume && (pofa_state_read(r, flags & POFA_RUN_ALLOW_CHANGED_RECIPE, err) || pofa_preflight(r, err)))) {
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
		if (wrc || pofa_state_write(r, 0, 0, NULL, err)) {
			pofa_run_free(r);
			return NULL;
		}
	}
	return r;
}

int pofa_run_check(const pofa_recipe *rc, pofa_err *err)
{
	pofa_run *r = calloc(1, sizeof *r);
	if (!r)
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	r->rc = *rc;
	r->rc.text = NULL;   /* not ours: never freed here */
	r->lock_fd = -1;
	int rcode = pofa_preflight(r, err);
	pofa_tokenizer_free(r->tk);
	free(r);
	return rcode;
}

int pofa_run_follower(const pofa_run *r) { return r->follower; }

void pofa_run_free(pofa_run *r)
{
	if (!r)
		return;
	if (r->started)
		pthread_join(r->th, NULL);
	if (r->lock_fd >= 0)
		close(r->lock_fd);   /* the kernel also drops the lock if we die */
	pofa_mailbox_free(r);
	free(r->rc.text);
	pofa_tokenizer_free(r->tk);
	free(r);
}

/* ---- the engine thread -------------------------------------------------------- */

static enum pofa_stage_status run_stage(pofa_run *r, int i)
{
	stage_ctx c;
	memset(&c, 0, sizeof c);
	c.r = r;
	c.i = i;
	c.s = r->rc.stages[i];
	c.ckpt_step = -1;
	r->step_now = 0;
	pofa_err err = { 0 };
	enum pofa_stage_status st = c.s.kind == POFA_STAGE_EVAL ? pofa_eval_stage(&c, &err) : pofa_train_stage(&c, &err);
	if (st == POFA_STAGE_DONE || st == POFA_STAGE_SKIPPED) {
		/* the stage's folder is complete: the run continues after it, and
		 * its checkpoints can go once state.json says so */
		if (pofa_state_write(r, i + 1, 0, NULL, &err))
			st = pofa_stage_fail(&c, &err);
		else
			pofa_checkpoint_prune(r, i, NULL);
	}
	if (r->nranks > 1) {
		/* a stage that fails on one rank (rank 0's disk) would leave the
		 * others waiting in a collective: the job stops, naming it */
		if (st == POFA_STAGE_FAILED)
			pofa_dist_abort(err.msg[0] ? err.msg : "a stage failed");
		pofa_dist_barrier();   /* rank 0's model folder is written before anyone reads it */
	}
	pofa_event e = pofa_ev_new(POFA_EV_STAGE_END, i, r);
	e.status = st;
	e.step = c.step;
	e.total = c.N;
	snprintf(e.text, sizeof e.text, "%s %s", c.s.name, pofa_stage_status_names[st]);
	pofa_run_emit(r, &e);
	pofa_dist_queue_free(c.sendq);
	pofa_model_free(c.m);
	pofa_model_free(c.teacher);
	if (c.has_masks)
		pofa_masks_free(&c.mk);
	pofa_stage_data_free(&c.d);
	return st;
}

static void *engine_main(void *arg)
{
	pofa_run *r = arg;
	pofa_err err = { 0 };
	int status = 0;
	pofa_event e = pofa_ev_new(POFA_EV_RUN_START, -1, r);
	snprintf(e.text, sizeof e.text, "%s (recipe %s, hash %016llx)%s", r->rc.name, r->rc.path,
	         (unsigned long long)r->rc.hash, r->resume ? ", resumed" : "");
	e.step = r->start_step;
	e.stage = r->start_stage;
	pofa_run_emit(r, &e);
	if (r->changed_from[0])
		pofa_run_log(r, -1, POFA_EV_LOG, "recipe.ini changed since the run began (hash %s, now %016llx); "
		             "continuing with it, as --allow-changed-recipe asks", r->changed_from,
		             (unsigned long long)r->rc.hash);
	if (!r->tk)
		r->tk = pofa_tokenizer_load(r->rc.vocab, POFA_CASE_AUTO, &err);
	if (!r->tk) {
		pofa_event x = pofa_ev_new(POFA_EV_ERROR, -1, r);
		snprintf(x.text, sizeof x.text, "%s (build the data first: pofa data build)", err.msg);
		pofa_run_emit(r, &x);
		status = 1;
	}
	int stopped = 0;
	for (int i = r->start_stage; i < r->rc.nstages && !status; i++) {
		int st = run_stage(r, i);
		if (st == POFA_STAGE_FAILED)   /* bad input found on the way: exit 2, as before a run */
			status = r->fail_status == POFA_ERR_INPUT ? 2 : 1;
		if (st == POFA_STAGE_STOPPED) {
			stopped = 1;
			break;
		}
		r->resume = 0; /* later stages start fresh */
	}
	/* recorded as pofa run's exit status will be: 3 stopped, 128 + N
	 * stopped by signal N */
	pofa_event end = pofa_ev_new(POFA_EV_RUN_END, -1, r);
	end.status = status ? status : !stopped ? 0 : r->stop_signal ? 128 + r->stop_signal : 3;
	pofa_run_emit(r, &end);
	pthread_mutex_lock(&r->mu);
	r->status = status;
	r->finished = 1;
	pthread_mutex_unlock(&r->mu);
	pofa_run_wake(r);
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
