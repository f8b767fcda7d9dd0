/*
 * panes.c - the workbench's panes drawn from its snapshot: the header, the
 * sparsity heatmap and its mask zoom, the evaluation table, the schedule,
 * the event log, and the help and form overlays (the loss chart is
 * chart.c's; layout.c places them). Drawing code names theme elements,
 * never colours.
 */
#include "tui/work/ui.h"
#include "data/base/text.h"

#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ---- panes ------------------------------------------------------------------ */

void tui_draw_header(ui *u, int w)
{
	char el[32], eta[40], reta[48] = "";
	double now = tui_now();
	/* the clock stops with the run; a pause stops the ETA and the rate */
	tui_fmt_duration((u->s.ended && u->s.t_end > 0 ? u->s.t_end : now) - u->s.t_start, el, sizeof el);
	int64_t done = u->s.step - u->s.stage_step0;
	double busy = now - u->s.stage_t0 - u->s.paused_for - (u->s.paused ? now - u->s.t_paused : 0.0);
	double rate = done > 0 && busy > 0 ? busy / (double)done : -1;
	int live = !u->s.ended && !u->s.paused;
	/* estimates from a few steps or seconds are marked ~ (rough) */
	const char *rough = done < 20 || busy < 10.0 ? "~" : "";
	char e0[32];
	tui_fmt_duration(live && rate > 0 ? rate * (double)(u->s.total - u->s.step) : -1, e0, sizeof e0);
	snprintf(eta, sizeof eta, "%s%s", live && rate > 0 ? rough : "", e0);
	/* the whole run's ETA: the tokens left (this stage's, the later
	 * training stages' with steps) at this stage's mean rate so far (the
	 * last report's rate alone jumps from one report to the next) */
	double tok_s = u->s.tok_s;
	if (u->s.cur >= 0 && done > 0 && busy > 0) {
		const pofa_stage *c = &u->s.rc->stages[u->s.cur];
		tok_s = (double)done * c->batch * c->seq / busy;
	}
	if (live && tok_s > 0 && u->s.cur >= 0) {
		const pofa_stage *c = &u->s.rc->stages[u->s.cur];
		double left = (double)(u->s.total - u->s.step) * c->batch * c->seq;
		int known = 1;
		for (int i = u->s.cur + 1; i < u->s.rc->nstages; i++) {
			const pofa_stage *t = &u->s.rc->stages[i];
			if (t->kind == POFA_STAGE_EVAL)
				continue;
			if (t->steps > 0)
				left += (double)t->steps * t->batch * t->seq;
			else
				known = 0;
		}
		char b[32];
		tui_fmt_duration(left / tok_s, b, sizeof b);
		snprintf(reta, sizeof reta, "%s%s%s", known ? "" : ">", rough, b);
	}
	tui_th_on(u, TH_HEADER);
	mvhline(0, 0, ' ', w);
	mvprintw(0, 1, "pofa  %s", u->s.rc->name);
	tui_th_off(u, TH_HEADER);
	int x = 2 + (int)strlen(u->s.rc->name) + 6;
	/* the stage pipeline, every stage's name cut alike when it is long */
	int n = u->s.rc->nstages, all = 0, cut = 48;
	for (int i = 0; i < n; i++)
		all += (int)strlen(u->s.rc->stages[i].name) + (i + 1 < n ? 3 : 0);
	if (n > 0 && all > w - x - 1)
		cut = ((w - x - 1) - 3 * (n - 1)) / n;
	if (cut < 2)
		cut = 2;
	for (int i = 0; i < n && x < w - 2; i++) {
		static const int el_of[7] = { TH_WAITING, TH_RUNNING, TH_PAUSED, TH_DONE, TH_FAILED, TH_DONE, TH_PAUSED };
		int len = (int)strlen(u->s.rc->stages[i].name);
		len = len < cut ? len : cut;
		tui_th_on(u, el_of[u->s.st[i]]);
		mvprintw(0, x, "%.*s", len < w - x - 1 ? len : w - x - 1, u->s.rc->stages[i].name);
		tui_th_off(u, el_of[u->s.st[i]]);
		x += len;
		if (i + 1 < u->s.rc->nstages && x < w - 3) {
			tui_th_on(u, TH_BORDER);
			mvprintw(0, x, " > ");
			tui_th_off(u, TH_BORDER);
			x += 3;
		}
	}
	int stel = u->s.ended ? (tui_state_failed(&u->s) ? TH_FAILED : u->s.status ? TH_PAUSED : TH_DONE)
	         : u->s.paused ? TH_PAUSED : TH_RUNNING;
	tui_th_on(u, stel);
	mvprintw(1, 1, "%s", tui_state_label(&u->s));
	tui_th_off(u, stel);
	tui_th_on(u, TH_TEXT);
	if (u->s.eval_total > 0) {
		/* an evaluation under way: its batches, not a frozen step */
		double per = u->s.eval_done > 0 ? (tui_now() - u->s.eval_t0) / (double)u->s.eval_done : -1;
		tui_fmt_duration(per > 0 && !u->s.paused ? per * (double)(u->s.eval_total - u->s.eval_done) : -1, eta,
		                 sizeof eta);
		tui_put(1, 10, w - 11, "evaluating %s: batch %lld/%lld  ETA %s  elapsed %s", u->s.eval_what,
		    (long long)u->s.eval_done, (long long)u->s.eval_total, eta, el);
	} else {
		char toks[32] = "", ktoks[32] = "", line[400];
		if (live && u->s.tok_s > 0) {
			snprintf(toks, sizeof toks, "  %.0f tok/s", u->s.tok_s);
			snprintf(ktoks, sizeof ktoks, " %.1fk tok/s", u->s.tok_s / 1000.0);
		}
		/* what does not fit is said shorter first (80 columns keep every
		 * figure), then goes: the rate, then the run's ETA, then the
		 * stage's number; step, ETA and elapsed stay */
		int none = u->s.cur < 0 || tui_state_all_done(&u->s);
		if (none)   /* no stage running: none named, no step */
			snprintf(line, sizeof line, "%s  elapsed %s", tui_state_all_done(&u->s) ? "every stage done"
			         : u->s.ended ? "ended before a stage ran" : "waiting for the first stage", el);
		const char *name = u->s.cur >= 0 ? u->s.rc->stages[u->s.cur].name : "-";
		long long st = (long long)u->s.step, tot = (long long)u->s.total;
		char num[24];
		snprintf(num, sizeof num, "%d/%d ", u->s.cur + 1, u->s.rc->nstages);
		for (int form = 0; !none && form < 5; form++) {
			if (form == 0)
				snprintf(line, sizeof line, "stage %s%.48s  step %lld/%lld  ETA %s%s%s%s  elapsed %s", num, name, st,
				         tot, eta, reta[0] ? "  run ETA " : "", reta, toks, el);
			else   /* compact: the stage's number (form 1), then the rate, then the run's ETA go */
				snprintf(line, sizeof line, "%s%.*s %lld/%lld ETA %s%s%s%s elapsed %s", form == 1 ? num : "",
				         form < 2 ? 48 : 24, name, st, tot, eta, reta[0] && form < 4 ? " run " : "",
				         form < 4 ? reta : "", form < 3 ? ktoks : "", el);
			if ((int)strlen(line) <= w - 11)
				break;
		}
		tui_put(1, 10, w - 11, "%s", line);
	}
	tui_th_off(u, TH_TEXT);
}

static const char *mat_short[POFA_ROLE_PRUNABLE_COUNT] = { "Q", "K", "V", "AO", "FFin", "FFout", "pool" };

static int heat_el(float s)
{
	int k = (int)(s * 5.0f);
	return TH_HEAT0 + (k < 0 ? 0 : k > 4 ? 4 : k);
}

void tui_draw_heat(ui *u, int y, int x, int h, int w)
{
	char ht[160];
	snprintf(ht, sizeof ht, "sparsity of %s [Enter] zoom",
	         u->s.sp_stage >= 0 && u->s.have_sp ? u->s.rc->stages[u->s.sp_stage].name : "the prunable matrices");
	tui_pane_box(u, PANE_HEAT, y, x, h, w, ht);
	if (h < 4 || w < 20)
		return;
	/* six columns (Q K V AO FFin FFout); the pooler sits in the first
	 * column of its own row; a cell is as wide as the pane allows */
	int ncol = POFA_ROLE_POOLER, lw = 6;
	int cw = (w - 2 - lw - 1) / ncol;
	if (cw > 8)
		cw = 8;
	if (cw < 4)
		return;
	u->hm_y = y + 2;
	u->hm_x = x + 1 + lw;
	u->hm_cw = cw;
	tui_th_on(u, TH_TEXT);
	for (int m = 0; m < ncol; m++)
		mvprintw(y + 1, x + 1 + lw + m * cw, "%-*.*s", cw, cw - 1, mat_short[m]);
	tui_th_off(u, TH_TEXT);
	int rows = u->s.nlayers > 0 ? u->s.nlayers : u->s.rc ? 1 : 0;
	for (int r = 0; r <= rows && y + 2 + r < y + h - 3; r++) {
		int row = r == rows ? TUI_MAXL : r;
		tui_th_on(u, TH_TEXT);
		mvprintw(y + 2 + r, x + 2, r == rows ? "pool " : "L%-3d ", r);
		tui_th_off(u, TH_TEXT);
		for (int m = 0; m < POFA_ROLE_PRUNABLE_COUNT; m++) {
			if ((r == rows) != (m == POFA_ROLE_POOLER))
				continue;
			int col = m == POFA_ROLE_POOLER ? 0 : m, cx = x + 1 + lw + col * cw;
			int sel = (r == u->sel_row && m == u->sel_col);
			int el = !u->s.have_sp ? TH_HEAT_EMPTY : heat_el(u->s.sp[row][m]);
			/* every cell visible: its value, or "-" before pruning, on its colour */
			tui_th_on(u, sel ? TH_SELECTED : el);
			if (sel)   /* told by shape too, not by colour alone: underlined, a < after it */
				attron(A_UNDERLINE | A_BOLD);
			if (!u->s.have_sp)
				mvprintw(y + 2 + r, cx, "%-*s", cw - 1, "-");
			else if (cw >= 5)
				mvprintw(y + 2 + r, cx, "%3.0f%%%*s", 100.0 * u->s.sp[row][m], cw - 5, "");
			else
				mvprintw(y + 2 + r, cx, "%3.0f", 100.0 * u->s.sp[row][m]);
			if (sel) {
				attroff(A_UNDERLINE | A_BOLD);
				mvaddch(y + 2 + r, cx + cw - 1, '<');
			}
			tui_th_off(u, sel ? TH_SELECTED : el);
		}
	}
	/* legend and the selected cell */
	int ly = y + h - 3;
	tui_th_on(u, TH_TEXT);
	mvprintw(ly, x + 2, "0%%");
	tui_th_off(u, TH_TEXT);
	for (int k = 0; k < 5; k++) {
		tui_th_on(u, TH_HEAT0 + k);
		mvprintw(ly, x + 5 + 2 * k, "  ");
		tui_th_off(u, TH_HEAT0 + k);
	}
	tui_th_on(u, TH_TEXT);
	mvprintw(ly, x + 16, "100%%");
	int row = u->sel_row == rows ? TUI_MAXL : u->sel_row, col = row == TUI_MAXL ? POFA_ROLE_POOLER : u->sel_col;
	char what[24], counts[64] = "", thr[32] = "";
	if (row == TUI_MAXL)
		snprintf(what, sizeof what, "pooler");
	else   /* the selected cell named: layer and matrix */
		snprintf(what, sizeof what, "L%d %s", row, mat_short[col]);
	if (u->s.numel[row][col] > 0) {   /* counts come live; a run read back from sparsity.csv has none */
		snprintf(counts, sizeof counts, "nnz %lld/%lld ", (long long)u->s.nnz[row][col],
		         (long long)u->s.numel[row][col]);
		snprintf(thr, sizeof thr, " thr %.3g", u->s.thr[row][col]);
	}
	/* the longest form that fits: the target and sparsity kept always */
	char info[3][200];
	if (!u->s.have_sp) {
		snprintf(info[0], sizeof info[0], "not pruned yet: cells fill in when a stage prunes");
		snprintf(info[1], sizeof info[1], "not pruned yet: fills in as it prunes");
		snprintf(info[2], sizeof info[2], "not pruned yet");
	} else {
		double sp = 100.0 * u->s.sp[row][col], tg = 100.0 * u->s.tg[row][col];
		snprintf(info[0], sizeof info[0], "%s: %ssparsity %.2f%% target %.2f%%%s", what, counts, sp, tg, thr);
		snprintf(info[1], sizeof info[1], "%s: %.1f%% (target %.1f%%) %s", what, sp, tg, counts);
		snprintf(info[2], sizeof info[2], "%s %.1f%%, target %.1f%%", what, sp, tg);
	}
	int pick = 0;
	while (pick < 2 && (int)strlen(info[pick]) > w - 4)
		pick++;
	tui_put(y + h - 2, x + 2, w - 4, "%s", info[pick]);
	tui_th_off(u, TH_TEXT);
}

/* the last classifier evaluation class by class: a model that predicts a
 * few classes only shows at once */
static void draw_classes(ui *u, int y, int x, int h, int w)
{
	const tui_classes *c = &u->s.cls;
	char title[200];
	snprintf(title, sizeof title, "evaluation per class: %s on %s/%s, step %lld [v] summary", c->model, c->task,
	         c->split, (long long)c->step);
	tui_pane_box(u, PANE_EVAL, y, x, h, w, c->n ? title : "evaluation per class [v] summary");
	int line = y + 1;
	tui_th_on(u, TH_TEXT);
	if (!c->n) {
		tui_put(line, x + 2, w - 4, "no classifier evaluated yet");
		tui_th_off(u, TH_TEXT);
		return;
	}
	int npred = 0, idx[64];
	for (int k = 0; k < c->n; k++)
		npred += c->c[k].predicted > 0;
	int n = tui_class_order(c, u->cls_sort, idx), rows = y + h - 1 - (line + 2);
	if (rows < 1)
		rows = 1;
	if (u->cls_top > n - rows)
		u->cls_top = n - rows;
	if (u->cls_top < 0)
		u->cls_top = 0;
	int last = u->cls_top + rows < n ? u->cls_top + rows : n;
	tui_put(line++, x + 2, w - 4, "predicts %d of %d%s; %d-%d, Up/Down, o: by %s", npred, c->n,
	    c->positive >= 0 ? " (f1: *'s)" : "", u->cls_top + 1, last, tui_class_sorts[u->cls_sort]);
	if (line < y + h - 1)
		tui_put(line++, x + 2, w - 4, "%-18s %6s %6s %6s %7s %7s", "class", "prec", "recall", "f1", "support", "pred");
	for (int r = u->cls_top; r < last && line < y + h - 1; r++) {
		int k = idx[r];
		char name[256];
		tui_text_cell(name, sizeof name, c->c[k].name, 17);
		tui_put(line++, x + 2, w - 4, "%s%s %6.1f %6.1f %6.1f %7lld %7lld", name, k == c->positive ? "*" : " ",
		        c->c[k].precision, c->c[k].recall, c->c[k].f1, (long long)c->c[k].support,
		        (long long)c->c[k].predicted);
	}
	tui_th_off(u, TH_TEXT);
}

const char *const tui_class_sorts[6] = { "class", "F1", "support", "precision", "recall", "predicted" };

int tui_class_order(const tui_classes *c, int by, int *idx)
{
	int n = c->n < 64 ? c->n : 64;
	for (int k = 0; k < n; k++) {
		int j = k;
		while (j > 0 && by > 0) {
			const int a = k, b = idx[j - 1];
			double va = by == 1 ? c->c[a].f1 : by == 2 ? (double)c->c[a].support : by == 3 ? c->c[a].precision
			            : by == 4 ? c->c[a].recall : (double)c->c[a].predicted;
			double vb = by == 1 ? c->c[b].f1 : by == 2 ? (double)c->c[b].support : by == 3 ? c->c[b].precision
			            : by == 4 ? c->c[b].recall : (double)c->c[b].predicted;
			if (!(va > vb))
				break;
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = k;
	}
	return n;
}

/* the evaluation table: the dev split's main metric of each model, grouped
 * by task (the task's line names the metric), with the model's sparsity
 * and, from eval stages, its sequences/s and speed-up over dense */
void tui_draw_eval(ui *u, int y, int x, int h, int w)
{
	if (u->per_class) {
		draw_classes(u, y, x, h, w);
		return;
	}
	/* the table's lines first, then the window of them that fits */
	enum { MAXLN = TUI_MAXEV * 2 };
	static char lines[MAXLN][160];
	static int is_task[MAXLN];
	int nl = 0, wide = w >= 60;
	char task[64] = "";
	double ref = NAN;
	for (int k = 0; k < u->s.nev && nl + 2 < MAXLN; k++) {
		const tui_eval *v = &u->s.ev[k];
		if (strcmp(v->split, "dev"))
			continue;
		int main_metric = 1;
		for (int j = 0; j < k; j++)
			if (!strcmp(u->s.ev[j].model, v->model) && !strcmp(u->s.ev[j].task, v->task) &&
			    !strcmp(u->s.ev[j].split, "dev"))
				main_metric = 0;
		if (!main_metric)
			continue;
		if (strcmp(task, v->task)) {
			snprintf(task, sizeof task, "%s", v->task);
			ref = v->v;
			snprintf(lines[nl], sizeof lines[0], "%s: %s", v->task, v->metric);
			is_task[nl++] = 1;
		}
		double pct = ref > 0 && strcmp(v->metric, "loss") ? 100.0 * v->v / ref : NAN;
		char pc[16] = "-", sp[16] = "-", sps[16] = "-", up[16] = "-";
		if (isfinite(pct))
			snprintf(pc, sizeof pc, "%.1f%%", pct);
		if (v->sparsity >= 0)
			snprintf(sp, sizeof sp, "%.1f%%", 100.0 * v->sparsity);
		if (v->sps > 0.0) {
			snprintf(sps, sizeof sps, "%.0f", v->sps);
			snprintf(up, sizeof up, "%.2fx", v->speedup);
		}
		if (wide)
			snprintf(lines[nl], sizeof lines[0], " %-14.14s %8.3f %7s %7s %8s %7s", v->model, v->v, pc, sp, sps, up);
		else   /* narrow: sequences/s go, the speed-up stays */
			snprintf(lines[nl], sizeof lines[0], " %-10.10s %7.3f %6s %6s %6s", v->model, v->v, pc, sp, up);
		is_task[nl++] = 0;
	}
	int rows = h - 3;   /* below the column headers */
	if (u->eval_top > nl - rows)
		u->eval_top = nl - rows;
	if (u->eval_top < 0)
		u->eval_top = 0;
	char title[120];
	if (nl > rows && rows > 0)
		snprintf(title, sizeof title, "evaluation, dev: lines %d-%d of %d [v] per class", u->eval_top + 1,
		         u->eval_top + rows < nl ? u->eval_top + rows : nl, nl);
	else
		snprintf(title, sizeof title, "evaluation, dev split [v] per class");
	tui_pane_box(u, PANE_EVAL, y, x, h, w, title);
	if (h < 3)
		return;
	tui_th_on(u, TH_TITLE);
	if (wide)
		tui_put(y + 1, x + 2, w - 4, " %-14s %8s %7s %7s %8s %7s", "model", "value", "%first", "sparse", "seq/s",
		    "speedup");
	else
		tui_put(y + 1, x + 2, w - 4, " %-10s %7s %6s %6s %6s", "model", "value", "%first", "sparse", "speed");
	tui_th_off(u, TH_TITLE);
	tui_th_on(u, TH_TEXT);
	if (!nl)
		tui_put(y + 2, x + 2, w - 4, "results appear as stages finish");
	for (int i = 0; i < rows && u->eval_top + i < nl; i++) {
		int el = is_task[u->eval_top + i] ? TH_TITLE : TH_TEXT;
		tui_th_on(u, el);
		tui_put(y + 2 + i, x + 2, w - 4, "%s", lines[u->eval_top + i]);
		tui_th_off(u, el);
	}
	tui_th_off(u, TH_TEXT);
}

void tui_draw_sched(ui *u, int y, int x, int h, int w)
{
	const pofa_schedule *v = &u->s.sched;
	int i = u->s.sched_stage;
	int narrow = i >= 0 && u->s.rc->stages[i].kind != POFA_STAGE_EVAL && w - 4 < 56 && h <= 5;
	char title[120];
	if (narrow)   /* the stage in the title, its three lines for the values */
		snprintf(title, sizeof title, "%.40s (%s) schedule [e]dit", u->s.rc->stages[i].name, pofa_stage_kinds[v->kind]);
	else
		snprintf(title, sizeof title, "schedule [e]dit");
	tui_pane_box(u, PANE_SCHED, y, x, h, w, title);
	tui_th_on(u, TH_TEXT);
	if (i < 0) {
		tui_put(y + 1, x + 2, w - 4, "%s", tui_state_all_done(&u->s) ? "every stage done: nothing to edit"
		        : u->s.ended ? "the run ended" : "waiting for the first stage");
	} else if (u->s.rc->stages[i].kind == POFA_STAGE_EVAL) {
		tui_put(y + 1, x + 2, w - 4, "%s (eval): evaluates its models, no training", u->s.rc->stages[i].name);
		tui_put(y + 2, x + 2, w - 4, "nothing to edit");
	} else if (narrow) {
		/* narrow (80 columns): every value kept, in three short lines; the
		 * stage in the title, its step the header's */
		if (v->prune) {
			tui_put(y + 1, x + 2, w - 4, "GMP %.2f->%.2f  steps %lld-%lld", v->s_init, v->s_final, (long long)v->t0,
			    (long long)v->t1);
			tui_put(y + 2, x + 2, w - 4, "every %lld freeze %lld lr %.1e", (long long)v->every,
			    (long long)v->freeze, u->s.lr);
		} else {
			tui_put(y + 1, x + 2, w - 4, "no pruning in this stage");
			tui_put(y + 2, x + 2, w - 4, "lr %.3g (peak %.3g)", u->s.lr, v->lr);
		}
		char kd[64] = "KD off", pk[32] = "";
		if (v->has_teacher)
			snprintf(kd, sizeof kd, "KD %.2g/%.2g T %.2g", v->alpha_task, v->alpha_kd, v->temperature);
		if (v->prune)
			snprintf(pk, sizeof pk, "  peak lr %.1e", v->lr);
		if (h > 4)
			tui_put(y + 3, x + 2, w - 4, "%s%s", kd, pk);
	} else {
		tui_put(y + 1, x + 2, w - 4, "%s (%s)  step %lld/%lld", u->s.rc->stages[i].name,
		    pofa_stage_kinds[v->kind], (long long)(i == u->s.cur ? u->s.step : 0), (long long)v->total);
		if (v->prune)
			tui_put(y + 2, x + 2, w - 4, "GMP %.2f->%.2f start %lld end %lld every %lld freeze %lld", v->s_init,
			    v->s_final, (long long)v->t0, (long long)v->t1, (long long)v->every, (long long)v->freeze);
		else
			tui_put(y + 2, x + 2, w - 4, "no pruning in this stage");
		if (h > 4)
			tui_put(y + 3, x + 2, w - 4, "lr %.3g (peak %.3g)  KD %s  a_task %.2f a_kd %.2f T %.1f", u->s.lr,
			    v->lr, v->has_teacher ? "on" : "off", v->alpha_task, v->alpha_kd, v->temperature);
	}
	tui_th_off(u, TH_TEXT);
}

void tui_draw_log(ui *u, int y, int x, int h, int w)
{
	int rows = h - 2, cw = w - 2 > 1 ? w - 2 : 1;
	if (u->log_scroll < 0)
		u->log_scroll = 0;
	if (u->log_scroll > u->s.nlog - 1)
		u->log_scroll = u->s.nlog > 0 ? u->s.nlog - 1 : 0;
	int last = u->s.nlog - u->log_scroll;
	/* the lines shown: as many as fit above the last, each one row, or
	 * with wrapping on (W) as many rows as it needs */
	char cell[1024];   /* a message may quote a file's text: its control characters shown */
	int first = last, used = 0;
	while (first > 0) {
		int need = 1;
		if (u->log_wrap) {
			int len = pofa_esc_term_str(cell, sizeof cell, u->s.logl[first - 1]);
			need = len > cw ? (len + cw - 1) / cw : 1;
		}
		if (used + need > rows && used > 0)
			break;
		used += need;
		first--;
		if (used >= rows)
			break;
	}
	/* where the view is: following the newest, or lines a..b of n */
	char title[120];
	if (u->log_scroll == 0)
		snprintf(title, sizeof title, "events (following)%s [PgUp/PgDn Home/End / W]", u->log_wrap ? " wrapped" : "");
	else
		snprintf(title, sizeof title, "events %d-%d of %d [End/F: follow]", first + 1, last, u->s.nlog);
	tui_pane_box(u, PANE_LOG, y, x, h, w, title);
	int row = u->log_wrap && first > 0 ? rows - used : 0;   /* wrapped: the newest line at the bottom */
	for (int i = first; i < last && row < rows; i++) {
		int el = u->s.logkind[i] == POFA_EV_ERROR ? TH_LOG_ERROR : TH_TEXT;
		int hit = u->search[0] && strstr(u->s.logl[i], u->search);
		tui_th_on(u, hit ? TH_SELECTED : el);
		int len = pofa_esc_term_str(cell, sizeof cell, u->s.logl[i]);
		if (u->log_wrap) {   /* the whole line, cut into rows of the pane's width */
			for (int at = 0; (at < len || at == 0) && row < rows; at += cw)
				mvprintw(y + 1 + row++, x + 1, "%.*s", cw, cell + at);
		} else if (len > w - 2 && w > 6) {   /* cut lines say so */
			tui_text_cell(cell, sizeof cell, u->s.logl[i], w - 5);
			mvprintw(y + 1 + row++, x + 1, "%s...", cell);
		} else {
			mvprintw(y + 1 + row++, x + 1, "%s", cell);
		}
		tui_th_off(u, hit ? TH_SELECTED : el);
	}
}


/* the mask map of the selected matrix: an overlay over most of the screen,
 * each cell the share of weights kept in its block */
/* the mask overlay's box on an H x W screen */
static void zoom_box(int H, int W, int *y, int *x, int *h, int *w)
{
	*y = 2, *x = 2, *h = H - 4, *w = W - 4;
}

void tui_zoom_room(ui *u)
{
	int H, W, y, x, h, w;
	getmaxyx(stdscr, H, W);
	zoom_box(H, W, &y, &x, &h, &w);
	u->zoom_rows = h - 3;   /* less the borders and the legend line */
	u->zoom_cols = w - 4;   /* less the borders and margins */
}

void tui_draw_zoom(ui *u, int H, int W)
{
	int y, x, h, w;
	zoom_box(H, W, &y, &x, &h, &w);
	if (h < 6 || w < 20)
		return;
	tui_clear_box(u, TH_TEXT, y, x, h, w);
	int sl = u->sel_row, sc = u->sel_col;
	char what[32], title[160];
	if (sl == u->s.nlayers)
		snprintf(what, sizeof what, "the pooler");
	else
		snprintf(what, sizeof what, "L%d %s", sl, mat_short[sc]);
	snprintf(title, sizeof title, "mask of %s in %s [Esc] back", what,
	         u->s.sp_stage >= 0 ? u->s.rc->stages[u->s.sp_stage].name : "the model");
	tui_box_title(u, y, x, h, w, title);
	tui_zoom_room(u);   /* the engine is asked for maps of this size */
	if (!u->s.zvalid || u->s.zlayer != (sl == u->s.nlayers ? -1 : sl) || (int)u->s.zrole != sc) {
		tui_th_on(u, TH_TEXT);
		mvprintw(y + 1, x + 2, "waiting for the engine (next step)...");
		tui_th_off(u, TH_TEXT);
		return;
	}
	static const char *shade = " .:-=+*#%@";
	for (int i = 0; i < u->s.zrows && i < h - 3; i++)
		for (int j = 0; j < u->s.zcols && j < w - 4; j++) {
			int kept = u->s.zgrid[i * u->s.zcols + j] - 1;
			tui_th_on(u, heat_el(1.0f - kept / 100.0f));
			mvaddch(y + 1 + i, x + 2 + j, (chtype)shade[kept * 9 / 100]);
			tui_th_off(u, heat_el(1.0f - kept / 100.0f));
		}
	tui_th_on(u, TH_TEXT);
	tui_put(y + h - 2, x + 2, w - 4, "%d x %d blocks; each = share kept in its block (' ' none, '@' all); sparsity %.2f%%",
	    u->s.zrows, u->s.zcols, 100.0 * u->s.sp[sl == u->s.nlayers ? TUI_MAXL : sl][sc]);
	tui_th_off(u, TH_TEXT);
}

/* the lines a help row takes in a box dw wide: its description wraps */
static int help_lines(const char *help, int dw) { int len = (int)strlen(help); return len > dw ? (len + dw - 1) / dw : 1; }

void tui_draw_help(ui *u, int H, int W)
{
	const char *keys[64], *help[64];
	int all = tui_bindings(keys, help, 64, NULL), n = tui_bindings(keys, help, 64, u->help_q);
	int w = 76;
	if (w > W - 2) w = W - 2;
	int dw = w - 13 > 8 ? w - 13 : 8, need = 0;
	for (int i = 0; i < n; i++)
		need += help_lines(help[i], dw);
	int h = (need > all ? need : all) + 4;
	if (h > H - 2) h = H - 2;
	int y = (H - h) / 2, x = (W - w) / 2, rows = h - 4;
	if (rows < 1)
		return;
	/* it scrolls when the screen is shorter than the list: the last
	 * position shows the last rows whole */
	int most = n, fit = 0;
	while (most > 0 && fit + help_lines(help[most - 1], dw) <= rows)
		fit += help_lines(help[--most], dw);
	if (u->help_top > most)
		u->help_top = most;
	if (u->help_top < 0)
		u->help_top = 0;
	tui_clear_box(u, TH_HELP, y, x, h, w);
	int line = 0, last = u->help_top;
	for (int i = u->help_top; i < n && line + help_lines(help[i], dw) <= rows; i++)
		line += help_lines(help[i], dw), last = i + 1;
	char title[80];
	if (most > 0)
		snprintf(title, sizeof title, "keys %d-%d of %d, Up/Down scroll (? or Esc closes)", u->help_top + 1, last, n);
	else
		snprintf(title, sizeof title, "keys (? or Esc closes)");
	tui_box_title(u, y, x, h, w, title);
	tui_th_on(u, TH_HELP);
	if (u->help_q[0])
		mvprintw(y + 1, x + 2, "filter: %.*s_  (%d of %d; Backspace)", w - 40, u->help_q, n, all);
	else
		mvprintw(y + 1, x + 2, "type to filter");
	if (!n)
		mvprintw(y + 2, x + 2, "no key matches \"%.*s\"", w - 20, u->help_q);
	/* a description longer than the box goes on below its key */
	line = 0;
	for (int i = u->help_top; i < last; i++) {
		int len = (int)strlen(help[i]);
		mvprintw(y + 2 + line++, x + 2, "%-8s %.*s", keys[i], dw, help[i]);
		for (int at = dw; at < len; at += dw)
			mvprintw(y + 2 + line++, x + 11, "%.*s", dw, help[i] + at);
	}
	tui_th_off(u, TH_HELP);
}

/* the theme picker: the themes there are, the one shown marked, and a
 * sample of what each element looks like in it */
void tui_draw_themes(ui *u, int H, int W)
{
	static const struct { int el; const char *name; } sample[] = {
		{ TH_TITLE, "title" }, { TH_RUNNING, "running" }, { TH_PAUSED, "paused" }, { TH_DONE, "done" },
		{ TH_FAILED, "failed" }, { TH_TEACHER, "teacher" }, { TH_TASK, "task" }, { TH_KD, "kd" },
		{ TH_TOTAL, "total" }, { TH_HEAT1, "heat" }, { TH_HEAT3, "HEAT" }, { TH_LOG_ERROR, "error" },
	};
	int w = 44, h = u->theme_n + 7;
	if (w > W - 2) w = W - 2;
	if (h > H - 2) h = H - 2;
	int y = (H - h) / 2, x = (W - w) / 2, rows = h - 7;
	if (rows < 1 || w < 20)
		return;
	tui_clear_box(u, TH_HELP, y, x, h, w);
	tui_box_title(u, y, x, h, w, "theme (Enter keeps, Esc goes back)");
	int top = u->theme_sel >= rows ? u->theme_sel - rows + 1 : 0;
	for (int i = top; i < u->theme_n && i - top < rows; i++) {
		int sel = i == u->theme_sel;
		tui_th_on(u, sel ? TH_SELECTED : TH_HELP);
		mvprintw(y + 1 + i - top, x + 2, "%s %-*.*s", sel ? ">" : " ", w - 6, w - 6, u->theme_list[i]);
		tui_th_off(u, sel ? TH_SELECTED : TH_HELP);
	}
	int sx = x + 2, sy = y + h - 5;
	for (size_t k = 0; k < POFA_ARRAY_LEN(sample); k++) {
		int len = (int)strlen(sample[k].name);
		if (sx + len >= x + w - 2)
			sx = x + 2, sy++;
		if (sy >= y + h - 2)
			break;
		tui_th_on(u, sample[k].el);
		mvprintw(sy, sx, "%s", sample[k].name);
		tui_th_off(u, sample[k].el);
		sx += len + 1;
	}
	tui_th_on(u, TH_HELP);
	mvprintw(y + h - 2, x + 2, "%.*s", w - 4, "Up/Down: show each on the whole screen");
	tui_th_off(u, TH_HELP);
}

const char *const tui_form_names[] = { "final sparsity", "start step", "end step", "prune every",
                                     "freeze step", "learning rate", "KD weight", "temperature" };
_Static_assert(POFA_ARRAY_LEN(tui_form_names) == TUI_FORM_FIELD_COUNT, "a name per form field");

void tui_draw_form(ui *u, int H, int W)
{
	int h = 14, w = 56, y = (H - h) / 2, x = (W - w) / 2;
	if (h > H) h = H;
	tui_clear_box(u, TH_HELP, y, x, h, w);
	tui_box_title(u, y, x, h, w, "edit the schedule (Enter apply, Esc cancel)");
	int row = 0;
	for (int i = 0; i < 8 && row < h - 4; i++) {
		if (!tui_field_on(u, i))
			continue;   /* no pruning fields where the stage does not prune */
		int sel = i == u->field;
		tui_th_on(u, sel ? TH_SELECTED : TH_HELP);
		mvprintw(y + 2 + row, x + 2, "%-16s %-20s", tui_form_names[i], u->fields[i]);
		tui_th_off(u, sel ? TH_SELECTED : TH_HELP);
		if (i == u->form_bad && u->form_why[0]) {   /* the refusal beside its field */
			tui_th_on(u, TH_LOG_ERROR);
			mvprintw(y + 2 + row, x + 2 + 38, "< refused");
			tui_th_off(u, TH_LOG_ERROR);
		}
		if (sel) {   /* the cursor: the character under it reversed */
			int c = u->fcur < 0 ? 0 : u->fcur > (int)strlen(u->fields[i]) ? (int)strlen(u->fields[i]) : u->fcur;
			attron(A_REVERSE);
			mvaddch(y + 2 + row, x + 2 + 17 + c, u->fields[i][c] ? (chtype)(unsigned char)u->fields[i][c] : ' ');
			attroff(A_REVERSE);
		}
		row++;
	}
	if (u->form_why[0] || u->form_wait) {   /* the engine's answer pending, or why it refused */
		tui_th_on(u, u->form_wait ? TH_HELP : TH_LOG_ERROR);
		mvprintw(y + h - 4, x + 2, "%.*s", w - 4, u->form_wait ? "sent: waiting for the engine's answer" : u->form_why);
		tui_th_off(u, u->form_wait ? TH_HELP : TH_LOG_ERROR);
	}
	tui_th_on(u, TH_HELP);
	mvprintw(y + h - 3, x + 2, "Up/Down/Tab field  Left/Right/Home/End move");
	mvprintw(y + h - 2, x + 2, "Backspace/Delete edit  Enter apply");
	tui_th_off(u, TH_HELP);
}

/* the form's values that changed, as a schedule edit */

