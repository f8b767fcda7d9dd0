/*
 * input.c - keys and the mouse: one binding table drives both the dispatch
 * and the help overlay; the schedule form, the export prompt and the
 * confirmations are modes of the same handler. Everything the user asks of
 * the run becomes a command on the engine's queue.
 */
#include "tui/work/ui.h"

#include <ctype.h>
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int key; int key2; const char *keys, *help; void (*fn)(ui *); } binding;

void tui_request_mask(ui *u)
{
	int rows = u->s.nlayers > 0 ? u->s.nlayers : 1;
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_MASKMAP;
	c.layer = u->sel_row == rows ? -1 : u->sel_row;
	c.role = (enum pofa_role)u->sel_col;
	c.rows = u->zoom_rows > 0 ? u->zoom_rows : 16;
	c.cols = u->zoom_cols > 0 ? u->zoom_cols : 32;
	u->zoom_req_rows = c.rows;
	u->zoom_req_cols = c.cols;
	pofa_run_command(u->r, &c);
}

void tui_command(ui *u, enum pofa_cmd_kind kind)
{
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = kind;
	pofa_run_command(u->r, &c);
}
static void b_pause(ui *u) { tui_command(u, u->s.paused ? POFA_CMD_RESUME : POFA_CMD_PAUSE); }
static void b_checkpoint(ui *u)
{
	tui_command(u, POFA_CMD_CHECKPOINT);
	u->ckpt_asked = 1;
	snprintf(u->msg, sizeof u->msg, "checkpoint asked for");
}
static void b_skip(ui *u)
{
	if (u->s.cur < 0 || u->s.ended) {
		snprintf(u->msg, sizeof u->msg, "no stage is running: nothing to skip");
		return;
	}
	u->mode = MODE_CONFIRM;
	u->ask = ASK_SKIP;
}
static void b_wrap(ui *u) { u->log_wrap = !u->log_wrap; u->dirty = 1; }
/* n and N without a search under way: say how they work */
static void b_none(ui *u) { snprintf(u->msg, sizeof u->msg, "n and N move between a search's matches: / searches the event log"); }
/* a live run asks (it is stopped with a checkpoint); a finished one quits */
static void b_quit(ui *u)
{
	if (u->s.ended)
		u->quit_sent = 1;
	else
		u->mode = MODE_CONFIRM, u->ask = ASK_QUIT;
}
static void b_help(ui *u) { u->help = !u->help; u->help_top = 0; u->help_q[0] = 0; }
static void b_redraw(ui *u) { clearok(curscr, TRUE); u->dirty = 1; }
/* t: the theme picker, a list whose selection is shown on the whole
 * screen as it moves; Enter keeps it (pofa.conf), Esc goes back */
static void b_theme(ui *u)
{
	u->theme_n = pofa_theme_list(u->theme_list, 32);
	u->theme_sel = 0;
	for (int i = 0; i < u->theme_n; i++)
		if (!strcmp(u->theme_list[i], u->th.name[0] ? u->th.name : "default"))
			u->theme_sel = i;
	snprintf(u->theme_was, sizeof u->theme_was, "%s", u->th.name[0] ? u->th.name : "default");
	u->mode = MODE_THEME;
}

static void theme_show(ui *u, const char *name)
{
	pofa_err err;
	if (pofa_theme_switch(&u->th, name, &err))
		snprintf(u->msg, sizeof u->msg, "%.200s", err.msg);
	else
		snprintf(u->theme_name, sizeof u->theme_name, "%s", name);
}

static void theme_key(ui *u, int ch)
{
	if (ch == KEY_UP || ch == 'k' || ch == KEY_DOWN || ch == 'j') {
		int d = ch == KEY_UP || ch == 'k' ? -1 : 1;
		u->theme_sel = (u->theme_sel + d + u->theme_n) % (u->theme_n ? u->theme_n : 1);
		u->msg[0] = 0;
		theme_show(u, u->theme_list[u->theme_sel]);
	} else if (ch == '\n' || ch == KEY_ENTER) {
		u->mode = MODE_NORMAL;
		if (!u->msg[0])
			snprintf(u->msg, sizeof u->msg, "theme %s (remembered)", u->theme_name);
		tui_conf_remember(u);
	} else if (ch == 27 || ch == 't' || ch == 'q') {
		u->mode = MODE_NORMAL;
		theme_show(u, u->theme_was);
		snprintf(u->msg, sizeof u->msg, "theme %s kept", u->theme_was);
	}
}

static void b_ema(ui *u) { u->ema = !u->ema; }
static void b_log(ui *u) { u->logscale = !u->logscale; }
static void b_window(ui *u) { u->window_all = !u->window_all; }
/* ---- each pane's arrows, Enter, wheel and click (the pane table's) ------------ */

void tui_heat_arrow(ui *u, int dy, int dx)
{
	int rows = u->s.nlayers > 0 ? u->s.nlayers : 1;
	u->sel_row = u->sel_row + dy < 0 ? 0 : u->sel_row + dy > rows ? rows : u->sel_row + dy;
	u->sel_col = u->sel_col + dx < 0 ? 0 : u->sel_col + dx > POFA_ROLE_PRUNABLE_COUNT - 1
	             ? POFA_ROLE_PRUNABLE_COUNT - 1 : u->sel_col + dx;
}

/* the mask map of the selected matrix */
void tui_heat_enter(ui *u)
{
	int rows = u->s.nlayers > 0 ? u->s.nlayers : 1;
	if (u->sel_row == rows)
		u->sel_col = POFA_ROLE_POOLER;
	else if (u->sel_col == POFA_ROLE_POOLER)
		u->sel_col = POFA_ROLE_FFN_OUT;
	u->zoom = 1;
	u->s.zvalid = 0;
	tui_zoom_room(u);   /* the first map already the overlay's size */
	tui_request_mask(u);
}

/* a click on a cell selects it */
void tui_heat_click(ui *u, int y, int x)
{
	int r = y - u->hm_y, c = u->hm_cw > 0 ? (x - u->hm_x) / u->hm_cw : -1;
	int rows = u->s.nlayers > 0 ? u->s.nlayers : 1;
	if (u->hm_cw > 0 && r >= 0 && r <= rows && x >= u->hm_x && c >= 0 && c < POFA_ROLE_PRUNABLE_COUNT) {
		u->sel_row = r;
		u->sel_col = r == rows ? POFA_ROLE_POOLER : (c == POFA_ROLE_POOLER ? POFA_ROLE_FFN_OUT : c);
	}
}

/* the next series the chart has */
void tui_chart_arrow(ui *u, int dy, int dx)
{
	for (int k = 0; k < TUI_SERIES_COUNT; k++) {
		u->series_sel = (u->series_sel + (dx + dy > 0 ? 1 : TUI_SERIES_COUNT - 1)) % TUI_SERIES_COUNT;
		if (u->series_have[u->series_sel])
			break;
	}
}

/* hide or show the picked series */
void tui_chart_enter(ui *u) { u->series_off[u->series_sel] = !u->series_off[u->series_sel]; }

/* the evaluation table, or per class its rows (tui_draw_eval keeps them in range) */
void tui_eval_arrow(ui *u, int dy, int dx)
{
	(void)dx;
	if (u->per_class)
		u->cls_top += dy;
	else
		u->eval_top += dy;
}
void tui_eval_wheel(ui *u, int up) { tui_eval_arrow(u, up ? -3 : 3, 0); }
/* per class: the next column to sort by */
static void b_sort(ui *u)
{
	if (!u->per_class) {
		snprintf(u->msg, sizeof u->msg, "o sorts the per-class view (v)");
		return;
	}
	u->cls_sort = (u->cls_sort + 1) % 6;
	u->cls_top = 0;
}

void tui_log_arrow(ui *u, int dy, int dx)
{
	(void)dx;
	u->log_scroll -= dy;
	if (u->log_scroll < 0)
		u->log_scroll = 0;
}

static void b_pgup(ui *u);
static void b_pgdn(ui *u);
void tui_log_wheel(ui *u, int up) { up ? b_pgup(u) : b_pgdn(u); }

static void b_edit(ui *u);
void tui_sched_enter(ui *u) { b_edit(u); }

/* the arrows and Enter act on the focused pane, as its row of the pane
 * table says (nothing while the mask overlay is up: Esc first) */
static void arrow(ui *u, int dy, int dx)
{
	if (!u->zoom && tui_panes[u->focus].arrow)
		tui_panes[u->focus].arrow(u, dy, dx);
}
static void b_up(ui *u) { arrow(u, -1, 0); }
static void b_down(ui *u) { arrow(u, 1, 0); }
static void b_left(ui *u) { arrow(u, 0, -1); }
static void b_right(ui *u) { arrow(u, 0, 1); }
static void b_zoom(ui *u)
{
	if (tui_panes[u->focus].enter)
		tui_panes[u->focus].enter(u);
}
static void b_back(ui *u) { u->zoom = 0; u->help = 0; }
static void b_pgup(ui *u) { if (u->log_scroll + 5 < u->s.nlog) u->log_scroll += 5; }
static void b_pgdn(ui *u) { u->log_scroll = u->log_scroll > 5 ? u->log_scroll - 5 : 0; }
static void b_log_home(ui *u) { u->log_scroll = u->s.nlog > 1 ? u->s.nlog - 1 : 0; }
static void b_log_end(ui *u) { u->log_scroll = 0; }   /* follow the newest again */
static void b_search(ui *u)
{
	u->mode = MODE_SEARCH;
	u->search[0] = 0;
}

/* the next line matching the search, older (dir 1) or newer (-1) than the
 * one at the bottom of the pane, brought to the bottom */
static void search_move(ui *u, int dir)
{
	int bottom = u->s.nlog - 1 - u->log_scroll;
	for (int i = bottom + (dir > 0 ? -1 : 1); i >= 0 && i < u->s.nlog; i -= dir)
		if (strstr(u->s.logl[i], u->search)) {
			u->log_scroll = u->s.nlog - 1 - i;
			snprintf(u->msg, sizeof u->msg, "/%s: line %d of %d  (n older, N newer, Esc ends the search)", u->search,
			         i + 1, u->s.nlog);
			return;
		}
	snprintf(u->msg, sizeof u->msg, "/%s: no %s line matches", u->search, dir > 0 ? "older" : "newer");
}
static void b_export(ui *u)
{
	u->mode = MODE_PROMPT;
	snprintf(u->prompt, sizeof u->prompt, "%s/export", pofa_run_dir(u->r));
}
/* the form starts from the schedule the engine last announced */
static void form_move(ui *u, int step);

static void b_edit(ui *u)
{
	const pofa_schedule *v = &u->s.sched;
	if (u->s.sched_stage < 0) {
		snprintf(u->msg, sizeof u->msg, "no stage has started yet");
		return;
	}
	snprintf(u->fields[0], 32, "%.3f", v->s_final);
	snprintf(u->fields[1], 32, "%lld", (long long)v->t0);
	snprintf(u->fields[2], 32, "%lld", (long long)v->t1);
	snprintf(u->fields[3], 32, "%lld", (long long)v->every);
	snprintf(u->fields[4], 32, "%lld", (long long)v->freeze);
	snprintf(u->fields[5], 32, "%.3g", v->lr);
	snprintf(u->fields[6], 32, "%.2f", v->alpha_kd);
	snprintf(u->fields[7], 32, "%.2f", v->temperature);
	u->field = TUI_FORM_FIELD_COUNT - 1;
	form_move(u, 1);   /* the first field the stage has */
	u->mode = MODE_FORM;
	u->form_wait = 0;
	u->form_bad = -1;
	u->form_why[0] = 0;
}

/* the engine refused the form's edit: the form stays with the values as
 * typed, the reason in it beside the field it names (its recipe key) */
void tui_form_refused(ui *u, const char *why)
{
	static const char *const keys[TUI_FORM_FIELD_COUNT] = { "final_sparsity", "start", "end", "every",
	                                                        "freeze", "lr", "alpha_kd", "temperature" };
	u->form_wait = 0;
	u->form_bad = -1;
	snprintf(u->form_why, sizeof u->form_why, "%s", why);
	size_t best = strlen(why);
	for (int i = 0; i < TUI_FORM_FIELD_COUNT; i++) {
		size_t n = strlen(keys[i]);
		for (const char *p = strstr(why, keys[i]); p; p = strstr(p + 1, keys[i]))
			if ((p == why || p[-1] == ' ' || p[-1] == '(') && !isalnum((unsigned char)p[n]) && p[n] != '_' &&
			    (size_t)(p - why) < best) {
				best = (size_t)(p - why);   /* the first key the reason names */
				u->form_bad = i;
			}
	}
	if (u->form_bad >= 0 && tui_field_on(u, u->form_bad)) {
		u->field = u->form_bad;
		u->fcur = (int)strlen(u->fields[u->field]);
	}
}
/* the panes a focus can rest on (a focus key in the pane table), shown,
 * in Tab's order */
static int focusable(const ui *u, int k) { return tui_panes[k].focus_key && u->show[k]; }
static void focus_next(ui *u, int dir)
{
	for (int i = 1; i <= PANE_COUNT; i++) {
		int k = ((u->focus + dir * i) % PANE_COUNT + PANE_COUNT) % PANE_COUNT;
		if (focusable(u, k)) {
			u->focus = k;
			return;
		}
	}
}
static void b_tab(ui *u) { focus_next(u, 1); }
static void b_btab(ui *u) { focus_next(u, -1); }
/* 1-5 focus the pane of that key, showing it when hidden */
static void focus_key(ui *u, char key)
{
	for (int k = 0; k < PANE_COUNT; k++)
		if (tui_panes[k].focus_key == key) {
			if (!u->show[k]) {
				u->show[k] = 1;
				tui_conf_remember(u);
			}
			u->focus = k;
		}
}
static void b_p1(ui *u) { focus_key(u, '1'); }
static void b_p2(ui *u) { focus_key(u, '2'); }
static void b_p3(ui *u) { focus_key(u, '3'); }
static void b_p4(ui *u) { focus_key(u, '4'); }
static void b_p5(ui *u) { focus_key(u, '5'); }
static void b_p6(ui *u) { u->show[PANE_HEADER] = !u->show[PANE_HEADER]; tui_conf_remember(u); }
static void b_hide(ui *u)
{
	if (!focusable(u, u->focus))
		return;
	u->show[u->focus] = 0;
	u->maxed = 0;
	focus_next(u, 1);
	tui_conf_remember(u);
}
static void b_max(ui *u) { u->maxed = !u->maxed && focusable(u, u->focus); }

static void b_per_class(ui *u)
{
	u->per_class = !u->per_class;
	if (u->per_class && !u->s.cls.n)
		snprintf(u->msg, sizeof u->msg, "per class: no classifier evaluated yet");
	u->dirty = 1;
}

static const binding bindings[] = {
	{ ' ', 'p', "Space p", "pause / resume the running stage", b_pause },
	{ 'e', 0, "e", "edit the schedule (sparsity, window, lr, KD)", b_edit },
	{ 'x', 0, "x", "export metrics, sparsity, eval and per-class tables as CSV", b_export },
	{ 'S', 0, "S", "skip the rest of the running stage (asks first, saying which)", b_skip },
	{ 'c', 0, "c", "checkpoint now", b_checkpoint },
	{ 't', 0, "t", "pick a colour theme: Up/Down shows each, Enter keeps it (pofa.conf), Esc goes back", b_theme },
	{ '\t', 0, "Tab", "focus the next pane (the arrows and Enter act on it)", b_tab },
	{ KEY_BTAB, 0, "S-Tab", "focus the previous pane", b_btab },
	{ '1', 0, "1", "focus the loss chart (shown if hidden)", b_p1 },
	{ '2', 0, "2", "focus the sparsity heatmap (shown if hidden)", b_p2 },
	{ '3', 0, "3", "focus the evaluation table (shown if hidden)", b_p3 },
	{ '4', 0, "4", "focus the schedule (shown if hidden)", b_p4 },
	{ '5', 0, "5", "focus the event log (shown if hidden)", b_p5 },
	{ '6', 0, "6", "show/hide the header", b_p6 },
	{ 'H', 0, "H", "hide the focused pane (1-5 bring it back)", b_hide },
	{ 'z', 0, "z", "maximise the focused pane / back", b_max },
	{ KEY_UP, 'k', "Up k", "focused pane: heatmap cell, chart series, scroll eval or log", b_up },
	{ KEY_DOWN, 'j', "Down j", "focused pane: heatmap cell, chart series, scroll eval or log", b_down },
	{ KEY_LEFT, 'h', "Left h", "focused pane: heatmap cell, chart series", b_left },
	{ KEY_RIGHT, 'l', "Right l", "focused pane: heatmap cell, chart series", b_right },
	{ '\n', KEY_ENTER, "Enter", "heatmap: the matrix's mask; chart: hide/show the series; schedule: edit", b_zoom },
	{ 'v', 0, "v", "evaluation: per class (the last one) or the summary", b_per_class },
	{ 'o', 0, "o", "per class: sort by the next column (class, F1, support, precision, recall, predicted)", b_sort },
	{ 's', 0, "s", "chart: EMA smoothing", b_ema },
	{ 'g', 0, "g", "chart: log scale", b_log },
	{ 'w', 0, "w", "chart: this stage or the whole run", b_window },
	{ 27, 0, "Esc", "back (the mask, the help, a search)", b_back },
	{ KEY_PPAGE, 0, "PgUp", "event log: older (or the mouse wheel)", b_pgup },
	{ KEY_NPAGE, 0, "PgDn", "event log: newer", b_pgdn },
	{ KEY_HOME, 0, "Home", "event log: the oldest line", b_log_home },
	{ KEY_END, 'F', "End F", "event log: the newest, and follow it", b_log_end },
	{ '/', 0, "/", "event log: search (then n older, N newer, Esc done)", b_search },
	{ 'W', 0, "W", "event log: wrap long lines / cut them (...)", b_wrap },
	{ 'n', 'N', "n N", "after a search: the older / newer matching line", b_none },
	{ '?', KEY_F(1), "? F1", "this help", b_help },
	{ 'q', KEY_F(10), "q F10", "quit (a live run asks, then is checkpointed: --resume continues it)", b_quit },
	{ 12, 0, "Ctrl-L", "redraw", b_redraw },
};


/* the theme and the panes shown, kept for the next run */
void tui_conf_remember(ui *u)
{
	tui_conf c;
	memset(&c, 0, sizeof c);
	if (!strchr(u->theme_name, '/'))   /* a theme given as a path is not kept */
		snprintf(c.theme, sizeof c.theme, "%s", u->theme_name);
	memcpy(c.show, u->show, sizeof c.show);
	pofa_err err;
	if (u->conf_path[0] && tui_conf_save(&c, u->conf_path, &err))
		snprintf(u->msg, sizeof u->msg, "settings not kept: %.200s", err.msg);
}

/* what is not a key binding but belongs in the help */
static const struct { const char *keys, *help; } more_help[] = {
	{ "Ctrl-C", "stop now, without asking: a checkpoint is written (exit status 130; --resume continues)" },
	{ "mouse", "click: focus the pane (a heatmap cell, a chart series); wheel: scroll the pane under it" },
};

int tui_bindings(const char **keys, const char **help, int cap, const char *filter)
{
	int n = 0;
	const char *q = filter ? filter : "";
	for (size_t i = 0; i < sizeof bindings / sizeof *bindings && n < cap; i++)
		if (strcasestr(bindings[i].keys, q) || strcasestr(bindings[i].help, q)) {
			keys[n] = bindings[i].keys;
			help[n++] = bindings[i].help;
		}
	for (size_t i = 0; i < sizeof more_help / sizeof *more_help && n < cap; i++)
		if (strcasestr(more_help[i].keys, q) || strcasestr(more_help[i].help, q)) {
			keys[n] = more_help[i].keys;
			help[n++] = more_help[i].help;
		}
	return n;
}


/* the form's fields a stage has: the pruning ones (0-4) only where it
 * prunes, the distillation ones (6-7) only with a teacher */
int tui_field_on(const ui *u, int i)
{
	int st = u->s.sched_stage;
	const pofa_stage *s = st >= 0 ? &u->s.rc->stages[st] : NULL;
	if (i <= 4)
		return s && (s->prune || s->kind == POFA_STAGE_PRUNE);
	if (i >= 6)
		return s && s->teacher[0];
	return 1;
}

static void form_move(ui *u, int step)
{
	for (int k = 0; k < TUI_FORM_FIELD_COUNT; k++) {
		u->field = (u->field + step + TUI_FORM_FIELD_COUNT) % TUI_FORM_FIELD_COUNT;
		if (tui_field_on(u, u->field))
			break;
	}
	u->fcur = (int)strlen(u->fields[u->field]);
}

/* 1: done (nothing changed, or asked to confirm); 0: the form stays open,
 * the fields as typed (refused here, or sent and waiting for the answer) */
static int form_apply(ui *u)
{
	const pofa_schedule *v = &u->s.sched;
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_SCHEDULE;
	char *end;
	double d[8];
	for (int i = 0; i < 8; i++) {
		d[i] = strtod(u->fields[i], &end);
		if (tui_field_on(u, i) && (end == u->fields[i] || *end)) {
			snprintf(u->msg, sizeof u->msg, "refused: %s '%s' is not a number; the other fields are kept",
			         tui_form_names[i], u->fields[i]);
			snprintf(u->form_why, sizeof u->form_why, "'%s' is not a number", u->fields[i]);
			u->form_bad = i;
			u->field = i;
			u->fcur = (int)strlen(u->fields[i]);
			return 0;
		}
	}
	pofa_sched_edit *e = &c.edit;
	if (fabs(d[0] - v->s_final) > 5e-4) { e->set |= POFA_EDIT_FINAL_SPARSITY; e->final_sparsity = (float)d[0]; }
	if ((int64_t)d[1] != v->t0) { e->set |= POFA_EDIT_START; e->start = (int64_t)d[1]; }
	if ((int64_t)d[2] != v->t1) { e->set |= POFA_EDIT_END; e->end = (int64_t)d[2]; }
	if ((int64_t)d[3] != v->every) { e->set |= POFA_EDIT_EVERY; e->every = (int64_t)d[3]; }
	if ((int64_t)d[4] != v->freeze) { e->set |= POFA_EDIT_FREEZE; e->freeze = (int64_t)d[4]; }
	if (fabs(d[5] - v->lr) > 1e-3 * v->lr) { e->set |= POFA_EDIT_LR; e->lr = d[5]; }
	if (fabs(d[6] - v->alpha_kd) > 5e-3) { e->set |= POFA_EDIT_ALPHA_KD; e->alpha_kd = (float)d[6]; }
	if (fabs(d[7] - v->temperature) > 5e-3) { e->set |= POFA_EDIT_TEMPERATURE; e->temperature = (float)d[7]; }
	/* a field the stage does not have changes nothing (field i is the
	 * edit's bit 1 << i, in enum pofa_edit_field's order) */
	_Static_assert(POFA_EDIT_TEMPERATURE == 1 << 7 && POFA_EDIT_LR == 1 << 5, "form fields in edit-bit order");
	for (int i = 0; i < 8; i++)
		if (!tui_field_on(u, i))
			e->set &= ~(1u << i);
	if (!e->set) {
		snprintf(u->msg, sizeof u->msg, "nothing changed");
		return 1;
	}
	/* a learning rate far above the stage's own peak: asked first */
	double peak = u->s.rc->stages[u->s.sched_stage].lr;
	if ((e->set & POFA_EDIT_LR) && peak > 0 && e->lr > 10.0 * peak) {
		u->pending = c;
		u->mode = MODE_CONFIRM;
		u->ask = ASK_LR;
		return 1;
	}
	/* the engine checks it, as it checks a recipe, and answers with an
	 * event: the status line shows applied or refused and why */
	pofa_run_command(u->r, &c);
	snprintf(u->msg, sizeof u->msg, "schedule edit sent: waiting for the engine's answer");
	u->form_wait = 1;   /* open until the answer: applied closes it, refused keeps it */
	u->form_why[0] = 0;
	u->form_bad = -1;
	return 0;
}


int tui_escape_key(int (*next)(void *), void *arg, int *then)
{
	int c = next(arg);
	*then = -1;
	if (c < 0)
		return 27;   /* Esc alone */
	if (c != '[' && c != 'O') {
		*then = c;   /* Esc, then a key typed at once after it */
		return 27;
	}
	/* CSI: parameter bytes 0x30-0x3f, intermediates 0x20-0x2f, then a
	 * final byte 0x40-0x7e; SS3: one byte */
	char p[16];
	int n = 0, f;
	while ((f = next(arg)) >= 0 && c == '[' && f >= 0x20 && f <= 0x3f)
		if (n < (int)sizeof p - 1)
			p[n++] = (char)f;
	p[n] = 0;
	if (f < 0)
		return -1;   /* cut short: nothing */
	switch (f) {
	case 'A': return n ? -1 : KEY_UP;
	case 'B': return n ? -1 : KEY_DOWN;
	case 'C': return n ? -1 : KEY_RIGHT;
	case 'D': return n ? -1 : KEY_LEFT;
	case 'H': return n ? -1 : KEY_HOME;
	case 'F': return n ? -1 : KEY_END;
	case '~':
		return !strcmp(p, "1") || !strcmp(p, "7") ? KEY_HOME : !strcmp(p, "4") || !strcmp(p, "8") ? KEY_END
		       : !strcmp(p, "3") ? KEY_DC : !strcmp(p, "5") ? KEY_PPAGE : !strcmp(p, "6") ? KEY_NPAGE : -1;
	default:
		return -1;   /* a sequence pofa has no use for: ignored */
	}
}

/* a one-line field at its end: Backspace, or a printable character */
static void line_edit(char *buf, size_t cap, int ch)
{
	size_t l = strlen(buf);
	if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && l > 0)
		buf[l - 1] = 0;
	else if (ch >= 32 && ch < 127 && l + 1 < cap) {
		buf[l] = (char)ch;
		buf[l + 1] = 0;
	}
}

void tui_key(ui *u, int ch)
{
	if (ch == KEY_RESIZE) {
		u->dirty = 1;
		return;
	}
	if (u->mode == MODE_THEME) {
		theme_key(u, ch);
		return;
	}
	if (u->mode == MODE_CONFIRM) {
		if (ch == 'y' || ch == 'Y') {
			if (u->ask == ASK_SKIP)
				tui_command(u, POFA_CMD_SKIP);
			else if (u->ask == ASK_LR) {
				pofa_run_command(u->r, &u->pending);
				snprintf(u->msg, sizeof u->msg, "schedule edit sent: waiting for the engine's answer");
			} else {
				tui_command(u, POFA_CMD_STOP);
				u->quit_sent = 1;
				snprintf(u->msg, sizeof u->msg, "stopping: writing a checkpoint...");
			}
		}
		u->mode = MODE_NORMAL;
		return;
	}
	if (u->mode == MODE_SEARCH) {
		if (ch == 27) {
			u->search[0] = 0;
			u->mode = MODE_NORMAL;
		} else if (ch == '\n' || ch == KEY_ENTER) {
			u->mode = MODE_NORMAL;
			if (u->search[0]) {
				u->log_scroll = -1;   /* from the newest line, included */
				search_move(u, 1);
			}
		} else {
			line_edit(u->search, sizeof u->search, ch);
		}
		return;
	}
	/* a search under way: n and N move between its matches, Esc ends it */
	if (u->search[0] && (ch == 'n' || ch == 'N' || ch == 27)) {
		if (ch == 27)
			u->search[0] = 0, u->msg[0] = 0;
		else
			search_move(u, ch == 'n' ? 1 : -1);
		return;
	}
	if (u->mode == MODE_PROMPT) {
		if (ch == 27)
			u->mode = MODE_NORMAL;
		else if (ch == '\n' || ch == KEY_ENTER) {
			u->mode = MODE_NORMAL;
			snprintf(u->msg, sizeof u->msg, "exporting to %.200s...", u->prompt);
			/* live: at the engine's next step; ended: now; the result
			 * (or why it failed) comes back as an event */
			pofa_driver_export(u->d, u->prompt, tui_take_event, u);
		} else {
			line_edit(u->prompt, sizeof u->prompt, ch);
		}
		return;
	}
	if (u->mode == MODE_FORM) {
		char *f = u->fields[u->field];
		size_t l = strlen(f);
		int c = u->fcur < 0 ? 0 : u->fcur > (int)l ? (int)l : u->fcur;
		if (ch == 27)
			u->mode = MODE_NORMAL;
		else if (ch == '\n' || ch == KEY_ENTER) {
			if (form_apply(u) && u->mode == MODE_FORM)
				u->mode = MODE_NORMAL;
		} else if (ch == KEY_UP || ch == KEY_BTAB)
			form_move(u, -1);
		else if (ch == KEY_DOWN || ch == '\t')
			form_move(u, 1);
		else if (ch == KEY_LEFT)
			u->fcur = c > 0 ? c - 1 : 0;
		else if (ch == KEY_RIGHT)
			u->fcur = c < (int)l ? c + 1 : (int)l;
		else if (ch == KEY_HOME || ch == 1)    /* Ctrl-A */
			u->fcur = 0;
		else if (ch == KEY_END || ch == 5)     /* Ctrl-E */
			u->fcur = (int)l;
		else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && c > 0) {
			memmove(f + c - 1, f + c, l - (size_t)c + 1);
			u->fcur = c - 1;
		} else if (ch == KEY_DC && c < (int)l)
			memmove(f + c, f + c + 1, l - (size_t)c);
		else if (((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == '-') && l + 1 < 32) {
			memmove(f + c + 1, f + c, l - (size_t)c + 1);
			f[c] = (char)ch;
			u->fcur = c + 1;
		}
		return;
	}
	if (ch == KEY_MOUSE) {
		MEVENT me;
		if (getmouse(&me) != OK)
			return;
		/* the pane under the pointer takes the focus */
		int at = -1;
		for (int k = 0; k < PANE_COUNT; k++)
			if (tui_panes[k].focus_key && u->pane_h[k] > 0 && me.y >= u->pane_y[k] && me.y < u->pane_y[k] + u->pane_h[k] &&
			    me.x >= u->pane_x[k] && me.x < u->pane_x[k] + u->pane_w[k])
				at = k;
		if (at < 0 || u->zoom || u->help)
			return;
		u->focus = at;
		/* the wheel and a click go to the pane under the pointer */
		if ((me.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) && tui_panes[at].wheel)
			tui_panes[at].wheel(u, (me.bstate & BUTTON4_PRESSED) != 0);
		else if ((me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) && tui_panes[at].click)
			tui_panes[at].click(u, me.y, me.x);
		return;
	}
	u->msg[0] = 0;
	if (u->help && (ch == KEY_UP || ch == KEY_DOWN || ch == KEY_PPAGE || ch == KEY_NPAGE)) {
		u->help_top += ch == KEY_UP ? -1 : ch == KEY_DOWN ? 1 : ch == KEY_PPAGE ? -10 : 10;
		return;   /* draw_help keeps it in range */
	}
	/* the help filters its rows as you type (? and Esc close it) */
	if (u->help && ch != '?' && ch != 27 && ch != KEY_F(1)) {
		size_t n = strlen(u->help_q);
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0)
			u->help_q[n - 1] = 0;
		else if (ch >= 32 && ch < 127 && n + 1 < sizeof u->help_q)
			u->help_q[n] = (char)ch, u->help_q[n + 1] = 0;
		u->help_top = 0;
		return;
	}
	for (size_t i = 0; i < sizeof bindings / sizeof *bindings; i++)
		if (ch == bindings[i].key || (bindings[i].key2 && ch == bindings[i].key2)) {
			bindings[i].fn(u);
			return;
		}
}

/* ---- the loop ----------------------------------------------------------------- */
