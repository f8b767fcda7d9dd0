/*
 * mailbox.c - the two queues between the engine thread and a front end.
 *
 * Events go out: the engine appends under the mutex and writes one byte on
 * a pipe that is non-blocking at both ends (a full pipe already holds a
 * wake-up), so a front end can poll() it beside the keyboard. Commands come
 * in: the front end appends under the same mutex and signals a condition
 * variable, on which a paused engine sleeps without using the CPU.
 */
#include "engine/run/internal.h"
#include "engine/dist/dist.h"
#include "data/base/mem.h"
#include "data/base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

const char *const pofa_ev_names[] = {
	"run_start", "stage_start", "stage_end", "metrics", "sparsity", "eval", "prune",
	"schedule", "pause", "resume", "checkpoint", "log", "error", "export", "run_end", "mask", "class", "eval_progress",
};
_Static_assert(POFA_ARRAY_LEN(pofa_ev_names) == POFA_EV_KIND_COUNT, "a name per event kind");

double pofa_run_now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

int pofa_mailbox_init(pofa_run *r, pofa_err *err)
{
	r->wake[0] = r->wake[1] = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pipe(r->wake) != 0)
		return pofa_error(err, POFA_ERR_RUN, "pipe: %s", strerror(errno));
	for (int k = 0; k < 2; k++) {
		fcntl(r->wake[k], F_SETFL, fcntl(r->wake[k], F_GETFL) | O_NONBLOCK);
		fcntl(r->wake[k], F_SETFD, FD_CLOEXEC);
	}
	return POFA_OK;
}

void pofa_mailbox_free(pofa_run *r)
{
	for (int k = 0; k < 2; k++)
		if (r->wake[k] >= 0)
			close(r->wake[k]);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->q);
	free(r->cmd);
}

void pofa_run_wake(pofa_run *r)
{
	char one = 1;
	/* non-blocking: a full pipe already holds a wake-up */
	if (write(r->wake[1], &one, 1) < 0 && errno != EAGAIN)
		return;
}

/* ---- events: engine -> front end ------------------------------------------- */

void pofa_run_emit(pofa_run *r, pofa_event *e)
{
	e->time = pofa_run_now();
	pthread_mutex_lock(&r->mu);
	if (r->qn == r->qcap) {
		int c = r->qcap ? 2 * r->qcap : 256;
		if (!pofa_resize(&r->q, (size_t)c, sizeof *r->q))
			r->qcap = c;
	}
	if (r->qn < r->qcap)
		r->q[r->qn++] = *e;
	pthread_mutex_unlock(&r->mu);
	pofa_run_wake(r);
}

pofa_event pofa_ev_new(enum pofa_ev_kind kind, int stage, const pofa_run *r)
{
	pofa_event e;
	memset(&e, 0, sizeof e);
	e.kind = kind;
	e.stage = stage;
	if (stage >= 0)
		snprintf(e.stage_name, sizeof e.stage_name, "%s", r->rc.stages[stage].name);
	return e;
}

void pofa_run_log(pofa_run *r, int stage, enum pofa_ev_kind kind, const char *fmt, ...)
{
	pofa_event e = pofa_ev_new(kind, stage, r);
	e.step = stage >= 0 ? r->step_now : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.text, sizeof e.text, fmt, ap);
	va_end(ap);
	pofa_run_emit(r, &e);
}

int pofa_run_events(pofa_run *r, pofa_event *out, int cap)
{
	char buf[256];
	while (read(r->wake[0], buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&r->mu);
	int n = POFA_MIN(cap, r->qn);
	if (n > 0) {   /* the queue may not exist yet: no memcpy from NULL */
		memcpy(out, r->q, (size_t)n * sizeof *out);
		memmove(r->q, r->q + n, (size_t)(r->qn - n) * sizeof *r->q);
		r->qn -= n;
	}
	int more = r->qn > 0;
	pthread_mutex_unlock(&r->mu);
	if (more)  /* more left: stay readable */
		pofa_run_wake(r);
	return n;
}

int pofa_run_wakefd(const pofa_run *r) { return r->wake[0]; }

/* ---- commands: front end -> engine ------------------------------------------ */

void pofa_run_command(pofa_run *r, const pofa_command *c)
{
	pthread_mutex_lock(&r->mu);
	if (r->ncmd == r->ccap) {
		int n = r->ccap ? 2 * r->ccap : 16;
		if (!pofa_resize(&r->cmd, (size_t)n, sizeof *r->cmd))
			r->ccap = n;
	}
	if (r->ncmd < r->ccap)
		r->cmd[r->ncmd++] = *c;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void pofa_run_requeue(pofa_run *r, const pofa_command *cmds, int n)
{
	if (n <= 0)
		return;
	pthread_mutex_lock(&r->mu);
	if (r->ncmd + n > r->ccap) {
		int cap = r->ncmd + n + 16;
		if (pofa_resize(&r->cmd, (size_t)cap, sizeof *r->cmd)) {
			/* out of memory: the commands are lost, not the run */
			pthread_mutex_unlock(&r->mu);
			return;
		}
		r->ccap = cap;
	}
	memmove(r->cmd + n, r->cmd, (size_t)r->ncmd * sizeof *r->cmd);
	memcpy(r->cmd, cmds, (size_t)n * sizeof *cmds);
	r->ncmd += n;
	pthread_mutex_unlock(&r->mu);
}

int pofa_run_take_commands(pofa_run *r, pofa_command *out, int cap, int wait)
{
	pthread_mutex_lock(&r->mu);
	while (wait && r->ncmd == 0)
		pthread_cond_wait(&r->cv, &r->mu);   /* no CPU while paused */
	int n = POFA_MIN(cap, r->ncmd);
	if (n > 0) {
		memcpy(out, r->cmd, (size_t)n * sizeof *out);
		memmove(r->cmd, r->cmd + n, (size_t)(r->ncmd - n) * sizeof *r->cmd);
		r->ncmd -= n;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* The commands for this step boundary. Alone: the front end's. With
 * several ranks, rank 0's (its front end's), sent to every rank, which all
 * apply them at the same boundary; the others' own queues are not read. */
int pofa_run_take_synced(pofa_run *r, pofa_command *out, int cap, int wait)
{
	if (r->nranks < 2)
		return pofa_run_take_commands(r, out, cap, wait);
	int64_t n = r->follower ? 0 : pofa_run_take_commands(r, out, cap, wait);
	pofa_dist_bcast(&n, sizeof n);
	if (n > 0)
		pofa_dist_bcast(out, (size_t)n * sizeof *out);
	return (int)n;
}

/* the folder of a stage's model, under the run's */
void pofa_run_stage_dir(const pofa_run *r, int stage, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", r->dir, r->rc.stages[stage].name);
}
