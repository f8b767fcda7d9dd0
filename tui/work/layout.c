/*
 * layout.c - the pane table and the layout that loops over it: where each
 * shown pane goes (two columns under the header, or the focused pane
 * alone when maximised), the status line with the focused pane's keys,
 * and the overlays on top. A new pane is a row of tui_panes.
 */
#include "tui/work/ui.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

/* ---- the panes ---------------------------------------------------------------- */

/* the loss chart: three fifths of its column above the evaluation table */
static int chart_h(const ui *u, int body, int n) { (void)u; return n > 1 ? body * 3 / 5 : 0; }
/* the heatmap: a row a layer and six more, at most three fifths of its
 * column when the log is below it */
static int heat_h(const ui *u, int body, int n)
{
	(void)n;
	int hh = (u->s.nlayers > 0 ? u->s.nlayers : 2) + 6;
	if (hh > body * 3 / 5 && u->show[PANE_LOG])
		hh = body * 3 / 5;
	return hh;
}
/* the schedule: five rows, or (alone in its column) up to eight */
static int sched_h(const ui *u, int body, int n) { (void)u; (void)body; return n == 1 ? 0 : 5; }

const tui_pane tui_panes[] = {
	[PANE_CHART] = { "[chart] Left/Right Enter: series", tui_draw_chart, tui_chart_arrow, tui_chart_enter, NULL, NULL,
	                 0, chart_h, 2, 0, '1' },
	[PANE_HEAT] = { "[heatmap] arrows, Enter: mask", tui_draw_heat, tui_heat_arrow, tui_heat_enter, NULL,
	                tui_heat_click, 1, heat_h, 2, 0, '2' },
	[PANE_EVAL] = { "[eval] Up/Down, v: per class", tui_draw_eval, tui_eval_arrow, NULL, tui_eval_wheel, NULL, 0,
	                NULL, 2, 0, '3' },
	[PANE_SCHED] = { "[schedule] Enter: edit", tui_draw_sched, NULL, tui_sched_enter, NULL, NULL, 1, sched_h, 5, 8,
	                 '4' },
	[PANE_LOG] = { "[log] Up/Down PgUp/PgDn End / W wrap", tui_draw_log, tui_log_arrow, NULL, tui_log_wheel, NULL, 1, NULL,
	               3, 0, '5' },
	[PANE_HEADER] = { "", NULL, NULL, NULL, NULL, NULL, -1, NULL, 2, 0, 0 },
};
_Static_assert(POFA_ARRAY_LEN(tui_panes) == PANE_COUNT, "a row per pane");

const char *tui_pane_keys(const ui *u) { return tui_panes[u->focus].keys; }

/* ---- layout ------------------------------------------------------------------- */

/* one column's shown panes from top down: each its wanted height (as much
 * as is left, less the later panes' minimum), a pane that wants no fixed
 * height sharing what the fixed ones leave; fewer rows than its minimum:
 * not drawn */
static void layout_column(ui *u, int col, int top, int body, int x, int w)
{
	int idx[PANE_COUNT], want[PANE_COUNT], n = 0, shares = 0, fixed = 0;
	for (int k = 0; k < PANE_COUNT; k++)
		if (tui_panes[k].column == col && u->show[k])
			idx[n++] = k;
	for (int i = 0; i < n; i++) {
		const tui_pane *p = &tui_panes[idx[i]];
		want[i] = p->height ? p->height(u, body, n) : 0;
		if (want[i] > body)
			want[i] = body;
		shares += !want[i];
		fixed += want[i];
	}
	int y = top, left = body;
	for (int i = 0; i < n; i++) {
		const tui_pane *p = &tui_panes[idx[i]];
		int h = want[i] ? want[i] : shares ? (left - (fixed > 0 ? fixed : 0)) / shares : left;
		if (!want[i])
			shares--;
		else
			fixed -= want[i];
		if (h > left)
			h = left;
		if (p->max_h && h > p->max_h)
			h = p->max_h;
		if (h >= p->min_h && h > 0)
			p->draw(u, y, x, h, w);
		y += h;
		left -= h;
	}
}

/* what a y will do, said before it is done: the stage and step it acts on */
const char *tui_confirm_text(ui *u)
{
	static char q[300];
	const pofa_recipe *rc = u->s.rc;
	int cur = u->s.cur;
	const char *name = cur >= 0 && cur < rc->nstages ? rc->stages[cur].name : "?";
	if (u->ask == ASK_SKIP)
		snprintf(q, sizeof q, "Skip the rest of stage %s at step %lld of %lld (its model kept as it is now)%s%s?",
		         name, (long long)u->s.step, (long long)u->s.total, cur + 1 < rc->nstages ? " and start " : "",
		         cur + 1 < rc->nstages ? rc->stages[cur + 1].name : "");
	else
		snprintf(q, sizeof q, "Quit? Stage %s stops at step %lld of %lld with a checkpoint; pofa run --resume "
		         "continues it.", name, (long long)u->s.step, (long long)u->s.total);
	return q;
}

/* the status line: a question asked, a prompt, a message, or the focused
 * pane's keys then the run's (what a finished run still does), shortened
 * when the line is narrow */
static void status_line(ui *u, int bottom, int W)
{
	tui_th_on(u, TH_HEADER);
	mvhline(bottom, 0, ' ', W);
	if (u->mode == MODE_CONFIRM && u->ask == ASK_LR)
		mvprintw(bottom, 1, "lr %.3g is more than 10x this stage's peak (%.3g): apply? (y/n)", u->pending.edit.lr,
		         u->s.rc->stages[u->s.sched_stage].lr);
	else if (u->mode == MODE_CONFIRM) {
		/* the whole question, on the line above too when it is long */
		char q[360];
		snprintf(q, sizeof q, "%s (y/n)", tui_confirm_text(u));
		int len = (int)strlen(q);
		if (len > W - 2 && bottom > 2) {
			int cut = W - 2;
			while (cut > W / 2 && q[cut] != ' ')
				cut--;   /* at a space */
			mvhline(bottom - 1, 0, ' ', W);
			mvprintw(bottom - 1, 1, "%.*s", cut, q);
			mvprintw(bottom, 1, "%.*s", W - 2, q + cut + (q[cut] == ' '));
		} else {
			mvprintw(bottom, 1, "%.*s", W - 2, q);
		}
	}
	else if (u->mode == MODE_PROMPT)
		mvprintw(bottom, 1, "export to folder: %.*s", W - 22, u->prompt);
	else if (u->mode == MODE_SEARCH)
		mvprintw(bottom, 1, "search the event log: /%.*s", W - 26, u->search);
	else if ((int)strlen(u->msg) > W - 2 && bottom > 2) {
		/* a long message (a refusal's reason) takes the line above too */
		mvhline(bottom - 1, 0, ' ', W);
		mvprintw(bottom - 1, 1, "%.*s", W - 2, u->msg);
		mvprintw(bottom, 1, "%.*s", W - 2, u->msg + W - 2);
	} else if (u->msg[0]) {
		mvprintw(bottom, 1, "%.*s", W - 2, u->msg);
	} else {
		/* the run's keys, said shorter as the line narrows: at 80 columns
		 * pause, edit, skip, help and quit stay beside the pane's keys */
		const char *run[5] = { u->s.ended ? "Tab focus  z max  ? help  x export  q quit"
		                                  : "Tab focus  z max  ? help  Space pause  e edit  x export  S skip  q quit",
		                       u->s.ended ? "? help  x export  q quit"
		                                  : "? help  Space pause  e edit  x export  S skip  q quit",
		                       u->s.ended ? "? help x export q quit" : "? help Spc pause e edit S skip q quit",
		                       u->s.ended ? "? help q quit" : "? Spc e S q: help pause edit skip quit",
		                       "? help  q quit" };
		char line[400];
		for (int k = 0; k < 5; k++) {
			snprintf(line, sizeof line, "%s | %s", tui_pane_keys(u), run[k]);
			if ((int)strlen(line) <= W - 2)
				break;
		}
		mvprintw(bottom, 1, "%.*s", W - 2, line);
	}
	tui_th_off(u, TH_HEADER);
}

static void too_small(ui *u, int H, int W)
{
	tui_th_on(u, TH_TEXT);
	const char *l1 = "pofa: the terminal is too small";
	char l2[80];
	snprintf(l2, sizeof l2, "need %dx%d, have %dx%d", TUI_MIN_W, TUI_MIN_H, W, H);
	if (H >= 1)
		mvprintw(H / 2 > 0 ? H / 2 - 1 : 0, 0, "%.*s", W, l1);
	if (H >= 2)
		mvprintw(H / 2, 0, "%.*s", W, l2);
	tui_th_off(u, TH_TEXT);
}

void tui_draw(ui *u)
{
	int H, W;
	getmaxyx(stdscr, H, W);
	erase();
	if (H < TUI_MIN_H || W < TUI_MIN_W) {
		too_small(u, H, W);
		refresh();
		return;
	}
	int top = 0;
	if (u->show[PANE_HEADER]) {
		tui_draw_header(u, W);
		top = tui_panes[PANE_HEADER].min_h;
	}
	int bottom = H - 1, body = bottom - top;
	for (int k = 0; k < PANE_COUNT; k++)
		u->pane_h[k] = 0;   /* not drawn: no mouse there */
	if (u->maxed && u->show[u->focus]) {
		/* z: the focused pane alone in the body */
		const tui_pane *p = &tui_panes[u->focus];
		p->draw(u, top, 0, p->max_h && body > p->max_h ? p->max_h : body, W);
	} else {
		/* left: chart over eval; right: heatmap, schedule, log; a column
		 * with nothing shown gives its room to the other */
		int lcol = 0, rcol = 0;
		for (int k = 0; k < PANE_COUNT; k++) {
			lcol |= tui_panes[k].column == 0 && u->show[k];
			rcol |= tui_panes[k].column == 1 && u->show[k];
		}
		int left = !lcol ? 0 : rcol ? W * 11 / 20 : W;
		if (lcol)
			layout_column(u, 0, top, body, 0, left);
		if (rcol)
			layout_column(u, 1, top, body, left, W - left);
	}
	status_line(u, bottom, W);
	if (u->zoom)
		tui_draw_zoom(u, H, W);
	if (u->help)
		tui_draw_help(u, H, W);
	if (u->mode == MODE_FORM)
		tui_draw_form(u, H, W);
	if (u->mode == MODE_THEME)
		tui_draw_themes(u, H, W);
	refresh();
}
