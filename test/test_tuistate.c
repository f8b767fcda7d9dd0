/*
 * test_tuistate.c - the workbench's snapshot without a terminal: events in,
 * what the panes would draw out. Stage states through pause, resume and
 * the end; loss points laid out stage after stage; the heatmap by layer
 * and role; the evaluation table keeping the last value of each result;
 * the schedule from the stage start and from edits; the mask map; the log
 * ring; and events that do not belong to the recipe ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test/fixture.h"
#include <curses.h>
#include "tui/work/conf.h"
#include "tui/work/state.h"
#include "tui/work/ui.h"

#include <stdio.h>
#include <string.h>

static pofa_recipe rc;

static int setup(void **st)
{
	(void)st;
	memset(&rc, 0, sizeof rc);
	rc.nstages = 3;
	strcpy(rc.stages[0].name, "pre");
	strcpy(rc.stages[1].name, "prune");
	strcpy(rc.stages[2].name, "ft");
	return 0;
}

static pofa_event ev(enum pofa_ev_kind kind, int stage)
{
	pofa_event e;
	memset(&e, 0, sizeof e);
	e.kind = kind;
	e.stage = stage;
	e.time = 1e9;
	if (stage >= 0)
		snprintf(e.stage_name, sizeof e.stage_name, "%s", rc.stages[stage].name);
	return e;
}

static tui_state *fresh(int first_stage)
{
	static tui_state s;
	tui_state_free(&s);
	assert_int_equal(tui_state_init(&s, &rc, first_stage, 2), 0);
	return &s;
}

static void test_stages_and_pause(void **st)
{
	(void)st;
	tui_state *s = fresh(1);   /* resumed at stage 1: stage 0 is done */
	assert_int_equal(s->st[0], POFA_STAGE_DONE);
	assert_int_equal(s->st[1], POFA_STAGE_WAITING);
	assert_int_equal(s->cur, -1);
	pofa_event e = ev(POFA_EV_STAGE_START, 1);
	e.step = 40;
	e.total = 100;
	tui_state_take(s, &e);
	assert_int_equal(s->cur, 1);
	assert_int_equal(s->st[1], POFA_STAGE_RUNNING);
	assert_int_equal(s->step, 40);
	assert_string_equal(tui_state_label(s), "RUNNING");
	e = ev(POFA_EV_PAUSE, 1);
	tui_state_take(s, &e);
	assert_string_equal(tui_state_label(s), "PAUSED");
	assert_int_equal(s->st[1], POFA_STAGE_PAUSED);
	e = ev(POFA_EV_RESUME, 1);
	tui_state_take(s, &e);
	assert_string_equal(tui_state_label(s), "RUNNING");
	e = ev(POFA_EV_STAGE_END, 1);
	e.status = POFA_STAGE_SKIPPED;
	tui_state_take(s, &e);
	assert_int_equal(s->st[1], POFA_STAGE_SKIPPED);
	e = ev(POFA_EV_RUN_END, -1);
	e.status = 1;
	tui_state_take(s, &e);
	assert_string_equal(tui_state_label(s), "FAILED");
}

static void test_loss_points(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	pofa_event e = ev(POFA_EV_STAGE_START, 0);
	tui_state_take(s, &e);
	for (int k = 1; k <= 3; k++) {
		e = ev(POFA_EV_METRICS, 0);
		e.step = 10 * k;
		e.total = 30;
		e.loss_task = 5.0 - k;
		e.loss_total = 5.0 - k;
		e.teacher_loss = NAN;
		e.lr = 1e-3;
		tui_state_take(s, &e);
	}
	assert_int_equal(s->npts, 3);
	FX_NEAR(s->pts[2].x, 30, 0);
	FX_NEAR(s->pts[2].v[1], 2.0, 0);
	FX_NEAR(s->lr, 1e-3, 0);
	/* the next stage's points follow the last one: steps restart at 0 */
	e = ev(POFA_EV_STAGE_START, 1);
	tui_state_take(s, &e);
	e = ev(POFA_EV_METRICS, 1);
	e.step = 5;
	tui_state_take(s, &e);
	FX_NEAR(s->pts[3].x, 31 + 5, 0);
	assert_int_equal(s->stage_of_pt[3], 1);
}

static void test_heatmap(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	assert_false(s->have_sp);
	pofa_event e = ev(POFA_EV_SPARSITY, 1);
	e.layer = 1;
	e.role = POFA_ROLE_FFN_IN;
	e.sparsity = 0.75;
	e.sparsity_target = 0.8;
	e.nnz = 25;
	e.numel = 100;
	tui_state_take(s, &e);
	e.layer = -1;
	e.role = POFA_ROLE_POOLER;
	e.sparsity = 0.5;
	tui_state_take(s, &e);
	assert_true(s->have_sp);
	FX_NEAR(s->sp[1][POFA_ROLE_FFN_IN], 0.75, 1e-7);
	FX_NEAR(s->tg[1][POFA_ROLE_FFN_IN], 0.8, 1e-7);
	assert_int_equal(s->nnz[1][POFA_ROLE_FFN_IN], 25);
	FX_NEAR(s->sp[tui_state_row(-1)][POFA_ROLE_POOLER], 0.5, 1e-7);
	/* a layer beyond what can be drawn is dropped, not written past the table */
	e.layer = TUI_MAXL + 5;
	e.role = POFA_ROLE_QUERY;
	tui_state_take(s, &e);
	assert_int_equal(s->nlayers, 2);
	/* the next stage's masks (a student of one layer): its rows alone */
	pofa_event f = ev(POFA_EV_SPARSITY, 2);
	f.layer = 0;
	f.role = POFA_ROLE_QUERY;
	f.sparsity = 0.3;
	tui_state_take(s, &f);
	assert_int_equal(s->nlayers, 1);
	FX_NEAR(s->sp[0][POFA_ROLE_QUERY], 0.3, 1e-7);
	FX_NEAR(s->sp[1][POFA_ROLE_FFN_IN], 0.0, 0);
	FX_NEAR(s->sp[tui_state_row(-1)][POFA_ROLE_POOLER], 0.0, 0);
	/* the first masks of a run (a dense stage before them logged none):
	 * the rows are the student's, not the preset's two */
	s = fresh(0);
	assert_int_equal(s->nlayers, 2);
	tui_state_take(s, &f);
	assert_int_equal(s->nlayers, 1);
	/* a stage with masks says its model's layers at its start: the rows,
	 * empty, before its first masks come */
	s = fresh(0);
	pofa_event g = ev(POFA_EV_STAGE_START, 1);
	g.layer = 1;
	tui_state_take(s, &g);
	assert_int_equal(s->nlayers, 1);
	assert_false(s->have_sp);
	f.stage = 1;
	tui_state_take(s, &f);
	assert_int_equal(s->nlayers, 1);
	assert_true(s->have_sp);
}

/* an escape sequence curses did not know: the key it stands for, or
 * nothing; never its bytes as keys (which cancelled the schedule form) */
typedef struct { const char *s; int at; } bytes;
static int next_of(void *arg)
{
	bytes *b = arg;
	return b->s[b->at] ? (unsigned char)b->s[b->at++] : -1;
}

static void test_escape_keys(void **st)
{
	(void)st;
	static const struct { const char *rest; int key, then; } cases[] = {
		{ "", 27, -1 }, { "[1~", KEY_HOME, -1 }, { "[4~", KEY_END, -1 }, { "[7~", KEY_HOME, -1 },
		{ "[8~", KEY_END, -1 }, { "OH", KEY_HOME, -1 }, { "OF", KEY_END, -1 }, { "[H", KEY_HOME, -1 },
		{ "[F", KEY_END, -1 }, { "[3~", KEY_DC, -1 }, { "[A", KEY_UP, -1 }, { "OD", KEY_LEFT, -1 },
		{ "[200~", -1, -1 }, { "[1;5C", -1, -1 }, { "[", -1, -1 }, { "[99~", -1, -1 },
		{ "e", 27, 'e' },   /* Esc, then e at once: both, in order */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bytes b = { cases[i].rest, 0 };
		int then;
		int k = tui_escape_key(next_of, &b, &then);
		if (k != cases[i].key || then != cases[i].then)
			fail_msg("ESC \"%s\": expected key %d then %d, got %d then %d", cases[i].rest, cases[i].key,
			         cases[i].then, k, then);
		if (b.s[b.at])
			fail_msg("ESC \"%s\": \"%s\" left to be read as keys", cases[i].rest, b.s + b.at);
	}
}

static void test_eval_table(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	pofa_event e = ev(POFA_EV_EVAL, 2);
	strcpy(e.model, "ft");
	strcpy(e.task, "wn-sense");
	strcpy(e.split, "dev");
	strcpy(e.metric, "accuracy");
	e.value = 40.0;
	tui_state_take(s, &e);
	e.value = 45.0;            /* the same result again: replaced */
	tui_state_take(s, &e);
	strcpy(e.metric, "macro_f1");
	e.value = 30.0;
	tui_state_take(s, &e);
	assert_int_equal(s->nev, 2);
	FX_NEAR(s->ev[0].v, 45.0, 0);
	assert_string_equal(s->ev[1].metric, "macro_f1");
}

/* an evaluation's classes, for the pane's per-class view: a new
 * evaluation (class 0) replaces the last */
static void test_classes(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	static const char *names[3] = { "cat", "dog", "eel" };
	for (int round = 0; round < 2; round++)
		for (int k = 0; k < 3 - round; k++) {
			pofa_event e = ev(POFA_EV_CLASS, 2);
			strcpy(e.model, round ? "ft2" : "ft");
			strcpy(e.task, "pets");
			strcpy(e.split, "dev");
			e.step = 100 + round;
			strcpy(e.text, names[k]);
			e.cls = k;
			e.ncls = 3 - round;
			e.positive = round && k == 1;
			e.precision = 10.0 * k;
			e.recall = 20.0;
			e.f1 = 30.0;
			e.support = 7 + k;
			e.predicted = k == 2 ? 0 : 5;
			tui_state_take(s, &e);
		}
	assert_string_equal(s->cls.model, "ft2");
	assert_int_equal(s->cls.step, 101);
	assert_int_equal(s->cls.n, 2);
	assert_int_equal(s->cls.positive, 1);
	assert_string_equal(s->cls.c[1].name, "dog");
	FX_NEAR(s->cls.c[1].precision, 10.0, 0);
	assert_int_equal(s->cls.c[1].support, 8);
}

/* a resumed run's past, from its files: the chart with each stage after
 * the one before, the heatmap, the evaluation table, the event log, and
 * the time of its sessions (not of the pause between them) */
static void test_replay(void **st)
{
	(void)st;
	const char *d = fx_tmpdir("replay");
	assert_non_null(d);
	char p[600];
	snprintf(p, sizeof p, "%s/metrics.csv", d);
	fx_spit_str(p, "time,stage,step,epoch,lr,loss_task,loss_kd,loss_total,teacher_loss,sparsity_target,sparsity,"
	               "tokens_per_s,grad_norm\n"
	               "2026-11-30T06:00:01.000Z,\"pre\",10,0,0.001,5.5,,5.5,,0,0,1000,1\n"
	               "2026-11-30T06:00:02.000Z,\"pre\",20,0,0.001,5.0,,5.0,,0,0,1000,1\n"
	               "2026-11-30T06:00:03.000Z,\"prune\",10,0,0.001,4.0,0.01,2.0,3.0,0.5,0.5,900,1\n"
	               /* since hidden-state distillation: a 14th column */
	               "2026-11-30T06:00:03.500Z,\"prune\",12,0,0.001,4.0,0.01,2.0,3.0,0.5,0.5,900,1,0.07\n");
	snprintf(p, sizeof p, "%s/sparsity.csv", d);
	fx_spit_str(p, "stage,step,layer,matrix,sparsity,target\n\"prune\",10,1,\"K\",0.5,0.5\n"
	               "\"prune\",10,pooler,\"pooler\",0.25,0.5\n");
	snprintf(p, sizeof p, "%s/eval.csv", d);
	fx_spit_str(p, "time,stage,model,step,task,split,metric,value,loss,seq_per_s,speedup\n"
	               "2026-11-30T06:00:02.500Z,\"pre\",\"pre\",20,\"mlm\",\"dev\",\"loss\",5.1,5.1,,\n"
	               "2026-11-30T06:00:03.500Z,\"prune\",\"prune\",10,\"mlm\",\"dev\",\"loss\",5.3,5.3,,,0.5\n");
	snprintf(p, sizeof p, "%s/events.csv", d);
	fx_spit_str(p, "time,stage,step,event,detail\n"
	               "2026-11-30T06:00:00.000Z,,0,\"run_start\",\"r.ini\"\n"
	               "2026-11-30T06:00:04.000Z,\"prune\",10,\"stage_end\",\"prune stopped\"\n"
	               "2026-11-30T09:00:00.000Z,,0,\"run_start\",\"r.ini (resumed)\"\n"
	               "2026-11-30T09:00:02.000Z,\"prune\",10,\"error\",\"disk full\"\n");
	tui_state *s = fresh(1);
	double el = tui_state_replay(s, d);
	FX_NEAR(el, 6.0, 1e-9);   /* 4 s, then 2 s: not the three hours between */
	assert_int_equal(s->npts, 4);
	FX_NEAR(s->pts[2].x, 21.0 + 10.0, 0);   /* prune after pre's last point */
	FX_NEAR(s->pts[2].v[TUI_S_KD], 0.01, 1e-7);
	assert_true(isnan(s->pts[2].v[TUI_S_KD_HIDDEN]));   /* a row from before: none */
	FX_NEAR(s->pts[3].v[TUI_S_KD_HIDDEN], 0.07, 1e-7);
	assert_true(s->have_sp);
	FX_NEAR(s->sp[1][POFA_ROLE_KEY], 0.5, 0);
	FX_NEAR(s->sp[TUI_MAXL][POFA_ROLE_POOLER], 0.25, 0);
	assert_int_equal(s->nev, 2);
	FX_NEAR(s->ev[0].v, 5.1, 1e-12);
	FX_NEAR(s->ev[0].sparsity, -1.0, 0);   /* a file from before the sparsity column */
	FX_NEAR(s->ev[1].sparsity, 0.5, 0);
	assert_int_equal(s->nlog, 4);
	assert_non_null(strstr(s->logl[1], "prune stopped"));
	assert_int_equal(s->logkind[3], POFA_EV_ERROR);
	fx_tmpdir_remove();
}

static void test_schedule_by_events(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	assert_int_equal(s->sched_stage, -1);
	pofa_event e = ev(POFA_EV_STAGE_START, 1);
	e.sched.prune = 1;
	e.sched.s_final = 0.9f;
	e.sched.t1 = 500;
	tui_state_take(s, &e);
	assert_int_equal(s->sched_stage, 1);
	FX_NEAR(s->sched.s_final, 0.9, 1e-7);
	e = ev(POFA_EV_SCHEDULE, 1);
	e.sched = s->sched;
	e.sched.s_final = 0.5f;
	e.sched.t1 = 100;
	snprintf(e.text, sizeof e.text, "final_sparsity=0.5 end=100");
	tui_state_take(s, &e);
	FX_NEAR(s->sched.s_final, 0.5, 1e-7);
	assert_int_equal(s->sched.t1, 100);
	assert_non_null(strstr(s->logl[s->nlog - 1], "schedule: final_sparsity=0.5 end=100"));
}

static void test_mask_map(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	pofa_event e = ev(POFA_EV_MASK, 1);
	e.layer = 0;
	e.role = POFA_ROLE_VALUE;
	e.rows = 3;
	e.cols = 4;
	for (int k = 0; k < 12; k++)
		e.text[k] = (char)(1 + 10 * k);
	tui_state_take(s, &e);
	assert_true(s->zvalid);
	assert_int_equal(s->zrows, 3);
	assert_int_equal(s->zcols, 4);
	assert_int_equal(s->zrole, POFA_ROLE_VALUE);
	assert_int_equal(s->zgrid[11], 111);
	/* a map larger than an event holds is refused, the last one kept */
	e.rows = POFA_MASK_CELLS;
	e.cols = 2;
	tui_state_take(s, &e);
	assert_int_equal(s->zrows, 3);
}

static void test_log_ring_and_strays(void **st)
{
	(void)st;
	tui_state *s = fresh(0);
	for (int k = 0; k < TUI_LOGN + 10; k++)
		tui_state_log(s, POFA_EV_LOG, "line %d", k);
	assert_int_equal(s->nlog, TUI_LOGN);
	assert_string_equal(s->logl[0], "line 10");
	assert_string_equal(s->logl[TUI_LOGN - 1], "line 409");
	/* an event of a stage the recipe does not have changes nothing */
	pofa_event e = ev(POFA_EV_STAGE_START, -1);
	e.stage = 7;
	int cur = s->cur;
	tui_state_take(s, &e);
	assert_int_equal(s->cur, cur);
}

static void test_durations(void **st)
{
	(void)st;
	char b[32];
	tui_fmt_duration(65, b, sizeof b);
	assert_string_equal(b, "01:05");
	tui_fmt_duration(3725, b, sizeof b);
	assert_string_equal(b, "1:02:05");
	tui_fmt_duration(-1, b, sizeof b);
	assert_string_equal(b, "--:--");
}

/* pofa.conf: the theme and panes written and read back; a damaged file
 * named with its line, the defaults kept */
static void test_conf(void **st)
{
	(void)st;
	const char *d = fx_tmpdir("conf");
	assert_non_null(d);
	char p[600];
	snprintf(p, sizeof p, "%s/deeper/pofa/pofa.conf", d);
	tui_conf c, r;
	pofa_err err;
	assert_int_equal(tui_conf_load(&c, p, &err), 1);   /* none yet: every pane */
	for (int k = 0; k < TUI_PANE_COUNT; k++)
		assert_int_equal(c.show[k], 1);
	snprintf(c.theme, sizeof c.theme, "light");
	c.show[1] = c.show[4] = 0;
	if (tui_conf_save(&c, p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(tui_conf_load(&r, p, &err), 0);
	assert_string_equal(r.theme, "light");
	assert_memory_equal(r.show, c.show, sizeof c.show);
	fx_spit_str(p, "theme = mono\npanes = chart log\nfont = big\n");
	if (tui_conf_load(&r, p, &err) != POFA_ERR_INPUT || !strstr(err.msg, "pofa.conf:3") ||
	    !strstr(err.msg, "\"font\""))
		fail_msg("a damaged pofa.conf: expected an error at line 3 naming \"font\", got \"%s\"", err.msg);
	assert_string_equal(r.theme, "");   /* the defaults, not half the file */
	assert_int_equal(r.show[1], 1);
	fx_spit_str(p, "panes = chart sideways\n");
	if (tui_conf_load(&r, p, &err) != POFA_ERR_INPUT || !strstr(err.msg, "pofa.conf:1") ||
	    !strstr(err.msg, "sideways"))
		fail_msg("an unknown pane: expected an error at line 1 naming it, got \"%s\"", err.msg);
	/* a NUL byte is said as such (not "line too long") */
	FILE *f = fopen(p, "wb");
	fwrite("theme = mo\0no\n", 1, 15, f);
	fclose(f);
	if (tui_conf_load(&r, p, &err) != POFA_ERR_INPUT || !strstr(err.msg, "pofa.conf:1: a NUL byte"))
		fail_msg("a NUL byte in pofa.conf: expected \"pofa.conf:1: a NUL byte\", got \"%s\"", err.msg);
	fx_tmpdir_remove();
}

/* themes: a comment longer than 511 characters is a comment; /dev/zero is
 * an error at once (a NUL byte), not an endless read */
static void test_theme_lines(void **st)
{
	(void)st;
	const char *d = fx_tmpdir("theme");
	assert_non_null(d);
	char p[600], text[2000];
	snprintf(p, sizeof p, "%s/long.theme", d);
	int o = snprintf(text, sizeof text, "# ");
	for (int i = 0; i < 700; i++)
		text[o++] = 'x';
	snprintf(text + o, sizeof text - (size_t)o, "\ntext = white black\n");
	fx_spit_str(p, text);
	pofa_theme t;
	pofa_err err;
	if (pofa_theme_load(&t, p, 0, &err))
		fail_msg("a 700-character comment: expected it taken as a comment, got \"%s\"", err.msg);
	pofa_theme_free(&t);
	if (pofa_theme_load(&t, "/dev/zero", 0, &err) != POFA_ERR_INPUT || !strstr(err.msg, "/dev/zero:1: a NUL byte"))
		fail_msg("/dev/zero as a theme: expected \"/dev/zero:1: a NUL byte\", got \"%s\"", err.msg);
	pofa_theme_free(&t);
	fx_tmpdir_remove();
}

/* the pane table: every pane a focus can rest on draws, says its keys in
 * the footer and has its own focus key; the header is above the columns */
static void test_pane_table(void **st)
{
	(void)st;
	int focusable = 0;
	for (int k = 0; k < PANE_COUNT; k++) {
		const tui_pane *p = &tui_panes[k];
		if (!p->focus_key) {
			assert_int_equal(p->column, -1);
			continue;
		}
		focusable++;
		assert_non_null(p->draw);
		assert_true(p->keys[0] == '[');
		assert_true(p->column == 0 || p->column == 1);
		assert_true(p->min_h >= 2 && (p->max_h == 0 || p->max_h >= p->min_h));
		for (int j = 0; j < k; j++)
			assert_true(tui_panes[j].focus_key != p->focus_key);
	}
	assert_int_equal(focusable, PANE_COUNT - 1);
	assert_int_equal(tui_panes[PANE_HEADER].focus_key, 0);
}

/* the per-class view sorts by any column, largest first, ties in the
 * file's order; 0 keeps the file's order */
static void test_class_order(void **st)
{
	(void)st;
	tui_classes c;
	memset(&c, 0, sizeof c);
	c.n = 4;
	const float f1[4] = { 10, 70, 40, 70 };
	const int64_t sup[4] = { 5, 1, 9, 3 };
	for (int k = 0; k < 4; k++) {
		snprintf(c.c[k].name, sizeof c.c[k].name, "c%d", k);
		c.c[k].f1 = f1[k];
		c.c[k].support = sup[k];
	}
	int idx[64];
	static const int want[3][4] = { { 0, 1, 2, 3 }, { 1, 3, 2, 0 }, { 2, 0, 3, 1 } };
	for (int by = 0; by < 3; by++) {
		assert_int_equal(tui_class_order(&c, by, idx), 4);
		for (int r = 0; r < 4; r++)
			if (idx[r] != want[by][r])
				fail_msg("by %s, row %d: expected class c%d, got c%d", tui_class_sorts[by], r, want[by][r], idx[r]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stages_and_pause),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_class_order),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_loss_points),
		cmocka_unit_test(test_heatmap),
		cmocka_unit_test(test_escape_keys),
		cmocka_unit_test(test_eval_table),
		cmocka_unit_test(test_schedule_by_events),
		cmocka_unit_test(test_mask_map),
		cmocka_unit_test(test_log_ring_and_strays),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_pane_table),
		cmocka_unit_test(test_theme_lines),
	};
	return cmocka_run_group_tests_name("tuistate", tests, setup, NULL);
}
