/*
 * tui.c - the ncurses workbench: pofa run on a terminal.
 *
 * The engine runs in its own thread; only this (the UI) thread calls curses.
 * The UI poll()s the keyboard and the engine's wake-up pipe, swaps the event
 * queue out under the engine's lock, folds the events into its own state
 * (the snapshot it draws from, without any lock), feeds the same CSV logger
 * as the headless runner, and redraws at most ten times a second. Commands
 * go back through the engine's queue, applied at the next step boundary.
 */
#include "tui/cli.h"
#include "engine/run/run.h"
#include "engine/run/runlog.h"
#include "tui/work/tui.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define MIN_W 80
#define MIN_H 24
#define MAXPTS 20000
#define LOGN 400
#define MAXL 64

enum { PANE_CHART, PANE_HEAT, PANE_EVAL, PANE_SCHED, PANE_LOG, PANE_HEADER, PANE_COUNT };
enum { MODE_NORMAL, MODE_FORM, MODE_PROMPT, MODE_CONFIRM };
enum { ASK_SKIP, ASK_QUIT };

typedef struct { double x; float v[4]; } point;   /* teacher, task, kd, total */

typedef struct ui {
	pofa_run *r;
	pofa_runlog log;
	const pofa_recipe *rc;
	pofa_theme th;
	char theme_name[64];
	int color_ok;
	/* what the events said */
	int st[POFA_MAX_STAGES];
	int cur;
	int64_t step, total;
	double tok_s, t_start, stage_t0;
	int64_t stage_step0;
	int paused, ended, status;
	point *pts;
	int npts;
	int stage_of_pt[MAXPTS];
	double x_off[POFA_MAX_STAGES];
	float sp[MAXL + 1][POFA_MAT_COUNT], tg[MAXL + 1][POFA_MAT_COUNT];
	int64_t nnz[MAXL + 1][POFA_MAT_COUNT], numel[MAXL + 1][POFA_MAT_COUNT];
	double thr[MAXL + 1][POFA_MAT_COUNT];
	int have_sp, nlayers;
	struct { char model[48], task[64], split[8], metric[24]; double v; } ev[512];
	int nev;
	char logl[LOGN][200];
	int logkind[LOGN];
	int nlog, log_scroll;
	/* the mask zoom */
	unsigned char zgrid[1280];
	int zrows, zcols, zvalid, zlayer, zmatrix;
	/* view */
	int show[PANE_COUNT];
	int sel_row, sel_col, zoom, help, ema, logscale, window_all;
	int mode, ask;
	/* the schedule form and the export prompt */
	char fields[8][32];
	int field;
	char prompt[512];
	char msg[256];
	int mouse;
	int dirty;
	double last_draw;
	int quit_sent;
	/* heatmap cell positions, for the mouse */
	int hm_y, hm_x, hm_cw;
} ui;

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

static void logline(ui *u, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void logline(ui *u, int kind, const char *fmt, ...)
{
	if (u->nlog == LOGN) {
		memmove(u->logl, u->logl + 1, sizeof u->logl[0] * (LOGN - 1));
		memmove(u->logkind, u->logkind + 1, sizeof u->logkind[0] * (LOGN - 1));
		u->nlog--;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->logl[u->nlog], sizeof u->logl[0], fmt, ap);
	va_end(ap);
	u->logkind[u->nlog++] = kind;
}

/* ---- events into the snapshot -------------------------------------------- */

static void take(ui *u, const pofa_event *e)
{
	char ts[16];
	time_t t = (time_t)e->time;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	switch (e->kind) {
	case POFA_EV_RUN_START:
		logline(u, POFA_EV_LOG, "%s run %s", ts, e->text);
		break;
	case POFA_EV_STAGE_START:
		u->cur = e->stage;
		u->st[e->stage] = POFA_STAGE_RUNNING;
		u->stage_t0 = e->time;
		u->stage_step0 = e->step;
		u->step = e->step;
		u->total = e->total;
		if (e->stage > 0 && u->x_off[e->stage] == 0.0 && u->npts)
			u->x_off[e->stage] = u->pts[u->npts - 1].x + 1;
		logline(u, POFA_EV_LOG, "%s start %s", ts, e->text);
		break;
	case POFA_EV_STAGE_END:
		u->st[e->stage] = e->status;
		logline(u, e->status == POFA_STAGE_FAILED ? POFA_EV_ERROR : POFA_EV_LOG, "%s %s", ts, e->text);
		break;
	case POFA_EV_METRICS:
		u->cur = e->stage;
		u->step = e->step;
		u->total = e->total;
		u->tok_s = e->tokens_per_s;
		if (u->npts < MAXPTS) {
			point *p = &u->pts[u->npts];
			p->x = u->x_off[e->stage] + (double)e->step;
			p->v[0] = (float)e->teacher_loss;
			p->v[1] = (float)e->loss_task;
			p->v[2] = (float)e->loss_kd;
			p->v[3] = (float)e->loss_total;
			u->stage_of_pt[u->npts++] = e->stage;
		}
		break;
	case POFA_EV_SPARSITY: {
		int row = e->layer < 0 ? MAXL : e->layer;
		if (row <= MAXL) {
			u->sp[row][e->matrix] = (float)e->sparsity;
			u->tg[row][e->matrix] = (float)e->sparsity_target;
			u->nnz[row][e->matrix] = e->nnz;
			u->numel[row][e->matrix] = e->numel;
			u->thr[row][e->matrix] = e->threshold;
			if (e->layer + 1 > u->nlayers)
				u->nlayers = e->layer + 1;
			u->have_sp = 1;
		}
		break;
	}
	case POFA_EV_EVAL: {
		int k;
		for (k = 0; k < u->nev; k++)
			if (!strcmp(u->ev[k].model, e->model) && !strcmp(u->ev[k].task, e->task) &&
			    !strcmp(u->ev[k].split, e->split) && !strcmp(u->ev[k].metric, e->metric))
				break;
		if (k < 512) {
			snprintf(u->ev[k].model, sizeof u->ev[k].model, "%s", e->model);
			snprintf(u->ev[k].task, sizeof u->ev[k].task, "%s", e->task);
			snprintf(u->ev[k].split, sizeof u->ev[k].split, "%s", e->split);
			snprintf(u->ev[k].metric, sizeof u->ev[k].metric, "%s", e->metric);
			u->ev[k].v = e->value;
			if (k == u->nev)
				u->nev++;
		}
		logline(u, POFA_EV_LOG, "%s eval %s %s/%s %s = %.3f", ts, e->model, e->task, e->split, e->metric, e->value);
		break;
	}
	case POFA_EV_PAUSE:
		u->paused = 1;
		u->st[e->stage] = POFA_STAGE_PAUSED;
		logline(u, POFA_EV_LOG, "%s paused at step %lld", ts, (long long)e->step);
		break;
	case POFA_EV_RESUME:
		u->paused = 0;
		u->st[e->stage] = POFA_STAGE_RUNNING;
		logline(u, POFA_EV_LOG, "%s resumed", ts);
		break;
	case POFA_EV_MASK:
		memcpy(u->zgrid, e->text, sizeof u->zgrid);
		u->zrows = e->rows;
		u->zcols = e->cols;
		u->zlayer = e->layer;
		u->zmatrix = e->matrix;
		u->zvalid = 1;
		break;
	case POFA_EV_RUN_END:
		u->ended = 1;
		u->status = e->status;
		logline(u, e->status ? POFA_EV_ERROR : POFA_EV_LOG, "%s run ended (%s)", ts, e->status ? "failed" : "done");
		break;
	case POFA_EV_PRUNE:
	case POFA_EV_SCHEDULE:
	case POFA_EV_CHECKPOINT:
	case POFA_EV_LOG:
	case POFA_EV_ERROR:
	case POFA_EV_EXPORT:
		logline(u, e->kind, "%s %s%s", ts, e->kind == POFA_EV_SCHEDULE ? "schedule: " :
		        e->kind == POFA_EV_CHECKPOINT ? "checkpoint: " : e->kind == POFA_EV_EXPORT ? "export to " : "", e->text);
		break;
	default:
		break;
	}
}

/* ---- drawing helpers ------------------------------------------------------ */

static void th_on(ui *u, int el) { attron(pofa_theme_attr(&u->th, el)); }
static void th_off(ui *u, int el) { attroff(pofa_theme_attr(&u->th, el)); }

/* mvprintw clipped to w columns: text never spills out of its pane */
static void put(int y, int x, int w, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(int y, int x, int w, const char *fmt, ...)
{
	if (w <= 0)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	mvaddnstr(y, x, buf, w);
}

static void box_title(ui *u, int y, int x, int h, int w, const char *title)
{
	if (h < 2 || w < 4)
		return;
	th_on(u, TH_BORDER);
	mvhline(y, x + 1, ACS_HLINE, w - 2);
	mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
	mvvline(y + 1, x, ACS_VLINE, h - 2);
	mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
	mvaddch(y, x, ACS_ULCORNER);
	mvaddch(y, x + w - 1, ACS_URCORNER);
	mvaddch(y + h - 1, x, ACS_LLCORNER);
	mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
	th_off(u, TH_BORDER);
	th_on(u, TH_TITLE);
	put(y, x + 2, w - 4, " %s ", title);
	th_off(u, TH_TITLE);
}

static void fmt_time(double s, char *out, size_t n)
{
	if (!(s >= 0) || s > 1e7) {
		snprintf(out, n, "--:--");
		return;
	}
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%02ld:%02ld", t / 60, t % 60);
}

/* ---- panes ------------------------------------------------------------------ */

static void draw_header(ui *u, int w)
{
	char el[32], eta[32];
	fmt_time(now() - u->t_start, el, sizeof el);
	int64_t done = u->step - u->stage_step0;
	double rate = done > 0 ? (now() - u->stage_t0) / (double)done : -1;
	fmt_time(rate > 0 ? rate * (double)(u->total - u->step) : -1, eta, sizeof eta);
	th_on(u, TH_HEADER);
	mvhline(0, 0, ' ', w);
	mvprintw(0, 1, "pofa  %s", u->rc->name);
	th_off(u, TH_HEADER);
	int x = 2 + (int)strlen(u->rc->name) + 6;
	for (int i = 0; i < u->rc->nstages && x < w - 2; i++) {
		static const int el_of[7] = { TH_WAITING, TH_RUNNING, TH_PAUSED, TH_DONE, TH_FAILED, TH_DONE, TH_PAUSED };
		th_on(u, el_of[u->st[i]]);
		mvprintw(0, x, "%.*s", w - x - 1, u->rc->stages[i].name);
		th_off(u, el_of[u->st[i]]);
		x += (int)strlen(u->rc->stages[i].name);
		if (i + 1 < u->rc->nstages && x < w - 3) {
			th_on(u, TH_BORDER);
			mvprintw(0, x, " > ");
			th_off(u, TH_BORDER);
			x += 3;
		}
	}
	const char *state = u->ended ? (u->status ? "FAILED" : "DONE") : u->paused ? "PAUSED" : "RUNNING";
	th_on(u, u->paused ? TH_PAUSED : u->ended ? (u->status ? TH_FAILED : TH_DONE) : TH_RUNNING);
	mvprintw(1, 1, "%s", state);
	th_off(u, u->paused ? TH_PAUSED : u->ended ? (u->status ? TH_FAILED : TH_DONE) : TH_RUNNING);
	th_on(u, TH_TEXT);
	put(1, 10, w - 11, "stage %d/%d %s  step %lld/%lld  ETA %s  %.0f tok/s  elapsed %s", u->cur + 1,
	    u->rc->nstages, u->cur >= 0 ? u->rc->stages[u->cur].name : "-", (long long)u->step,
	    (long long)u->total, eta, u->tok_s, el);
	th_off(u, TH_TEXT);
}

/* braille cell bits: dots (col, row) with col 0..1, row 0..3 */
static const int braille_bit[2][4] = { { 0x01, 0x02, 0x04, 0x40 }, { 0x08, 0x10, 0x20, 0x80 } };

static void draw_chart(ui *u, int y, int x, int h, int w)
{
	char title[160];
	snprintf(title, sizeof title, "losses %s%s%s [s]mooth lo[g] [w]indow", u->window_all ? "(run)" : "(stage)",
	         u->ema ? " ema" : "", u->logscale ? " log" : "");
	box_title(u, y, x, h, w, title);
	int ch = h - 3, cw = w - 10;
	if (ch < 2 || cw < 4)
		return;
	/* the points in view */
	int first = 0;
	if (!u->window_all)
		while (first < u->npts && u->stage_of_pt[first] != u->cur)
			first++;
	int n = u->npts - first;
	static const int els[4] = { TH_TEACHER, TH_TASK, TH_KD, TH_TOTAL };
	static const char *names[4] = { "teacher", "task", "kd", "total" };
	double lo = INFINITY, hi = -INFINITY, x0 = 0, x1 = 1;
	float *sm = malloc(sizeof(float) * 4 * (size_t)(n > 0 ? n : 1));
	for (int s = 0; s < 4; s++) {
		float acc = NAN;
		for (int i = 0; i < n; i++) {
			float v = u->pts[first + i].v[s];
			if (u->ema && isfinite(v))
				acc = isfinite(acc) ? 0.9f * acc + 0.1f * v : v;
			float o = u->ema ? acc : v;
			if (u->logscale)
				o = o > 0 ? log10f(o) : NAN;
			sm[s * n + i] = o;
			if (isfinite(o) && !(s == 2 && o == 0.0f && !u->logscale)) {
				lo = fmin(lo, o);
				hi = fmax(hi, o);
			}
		}
	}
	if (n > 0) {
		x0 = u->pts[first].x;
		x1 = u->pts[u->npts - 1].x;
	}
	if (!(hi > lo)) {
		hi = (isfinite(hi) ? hi : 1) + 0.5;
		lo = hi - 1;
	}
	if (x1 <= x0)
		x1 = x0 + 1;
	th_on(u, TH_TEXT);
	mvprintw(y + 1, x + 1, "%7.3g", u->logscale ? pow(10, hi) : hi);
	mvprintw(y + ch, x + 1, "%7.3g", u->logscale ? pow(10, lo) : lo);
	th_off(u, TH_TEXT);
	int gw = cw, gh = ch;
	unsigned char *cells = calloc((size_t)gw * gh, 1);
	unsigned char *owner = calloc((size_t)gw * gh, 1);
	for (int s = 0; s < 4; s++) {
		int ppx = -1, ppy = -1;
		for (int i = 0; i < n; i++) {
			float v = sm[s * n + i];
			if (!isfinite(v) || (s == 2 && v == 0.0f && !u->logscale)) {
				ppx = -1;
				continue;
			}
			int px = (int)((u->pts[first + i].x - x0) / (x1 - x0) * (gw * 2 - 1) + 0.5);
			int py = (int)((hi - v) / (hi - lo) * (gh * 4 - 1) + 0.5);
			/* a line from the previous point, dot by dot */
			int steps = ppx < 0 ? 0 : abs(px - ppx) > abs(py - ppy) ? abs(px - ppx) : abs(py - ppy);
			for (int k = 0; k <= steps; k++) {
				int qx = steps ? ppx + (px - ppx) * k / steps : px;
				int qy = steps ? ppy + (py - ppy) * k / steps : py;
				if (qx < 0 || qy < 0 || qx >= gw * 2 || qy >= gh * 4)
					continue;
				int c = (qy / 4) * gw + qx / 2;
				cells[c] |= (unsigned char)braille_bit[qx % 2][qy % 4];
				owner[c] = (unsigned char)(s + 1);
			}
			ppx = px;
			ppy = py;
		}
	}
	for (int r = 0; r < gh; r++)
		for (int c = 0; c < gw; c++) {
			unsigned char b = cells[r * gw + c];
			if (!b)
				continue;
			int el = els[owner[r * gw + c] - 1];
			th_on(u, el);
			if (u->th.braille) {
				wchar_t wc[2] = { (wchar_t)(0x2800 + b), 0 };
				mvaddnwstr(y + 1 + r, x + 9 + c, wc, 1);
			} else {
				mvaddch(y + 1 + r, x + 9 + c, (b & 0x0f) && (b & 0xf0) ? '#' : (b & 0x0f) ? ':' : '.');
			}
			th_off(u, el);
		}
	free(cells);
	free(owner);
	free(sm);
	int lx = x + 2;
	for (int s = 0; s < 4 && lx < x + w - 10; s++) {
		th_on(u, els[s]);
		mvprintw(y + h - 2, lx, "%s %s", u->th.braille ? "\u2824\u2824" : "--", names[s]);
		th_off(u, els[s]);
		lx += (int)strlen(names[s]) + 4;
	}
}

static const char *mat_short[POFA_MAT_COUNT] = { "Q", "K", "V", "AO", "FFin", "FFout", "pool" };

static int heat_el(float s)
{
	int k = (int)(s * 5.0f);
	return TH_HEAT0 + (k < 0 ? 0 : k > 4 ? 4 : k);
}

static void draw_heat(ui *u, int y, int x, int h, int w)
{
	box_title(u, y, x, h, w, u->zoom ? "mask density [Esc] back" : "sparsity (prunable matrices) [Enter] zoom");
	if (h < 4 || w < 20)
		return;
	if (u->zoom) {
		int sl = u->sel_row, sc = u->sel_col;
		if (!u->zvalid || u->zlayer != (sl == u->nlayers ? -1 : sl) || u->zmatrix != sc) {
			th_on(u, TH_TEXT);
			mvprintw(y + 1, x + 2, "waiting for the engine (next step)...");
			th_off(u, TH_TEXT);
			return;
		}
		static const char *shade = " .:-=+*#%@";
		for (int i = 0; i < u->zrows && i < h - 3; i++)
			for (int j = 0; j < u->zcols && j < w - 3; j++) {
				int kept = u->zgrid[i * u->zcols + j] - 1;
				th_on(u, heat_el(1.0f - kept / 100.0f));
				mvaddch(y + 1 + i, x + 2 + j, (chtype)shade[kept * 9 / 100]);
				th_off(u, heat_el(1.0f - kept / 100.0f));
			}
		th_on(u, TH_TEXT);
		put(y + h - 2, x + 2, w - 4, "%s %s: each cell = share kept in its block (' ' none, '@' all)",
		    sl == u->nlayers ? "pooler" : "layer", mat_short[sc]);
		th_off(u, TH_TEXT);
		return;
	}
	int cw = (w - 10) / POFA_MAT_COUNT;
	if (cw < 4)
		cw = 4;
	u->hm_y = y + 2;
	u->hm_x = x + 8;
	u->hm_cw = cw;
	th_on(u, TH_TEXT);
	for (int m = 0; m < POFA_MAT_COUNT; m++)
		mvprintw(y + 1, x + 8 + m * cw, "%-*.*s", cw, cw, mat_short[m]);
	th_off(u, TH_TEXT);
	int rows = u->nlayers > 0 ? u->nlayers : u->rc ? 1 : 0;
	for (int r = 0; r <= rows && y + 2 + r < y + h - 3; r++) {
		int row = r == rows ? MAXL : r;
		th_on(u, TH_TEXT);
		mvprintw(y + 2 + r, x + 2, r == rows ? "pool " : "L%-3d ", r);
		th_off(u, TH_TEXT);
		for (int m = 0; m < POFA_MAT_COUNT; m++) {
			if ((r == rows) != (m == POFA_MAT_POOLER))
				continue;
			int sel = (r == u->sel_row && m == u->sel_col);
			int el = !u->have_sp ? TH_HEAT_EMPTY : heat_el(u->sp[row][m]);
			th_on(u, sel ? TH_SELECTED : el);
			if (!u->have_sp)
				mvprintw(y + 2 + r, x + 8 + m * cw, "%-*s", cw - 1, "-");
			else
				mvprintw(y + 2 + r, x + 8 + m * cw, "%3.0f%%%*s", 100.0 * u->sp[row][m], cw - 5, "");
			th_off(u, sel ? TH_SELECTED : el);
		}
	}
	/* legend and the selected cell */
	int ly = y + h - 3;
	th_on(u, TH_TEXT);
	mvprintw(ly, x + 2, "0%%");
	th_off(u, TH_TEXT);
	for (int k = 0; k < 5; k++) {
		th_on(u, TH_HEAT0 + k);
		mvprintw(ly, x + 5 + 2 * k, "  ");
		th_off(u, TH_HEAT0 + k);
	}
	th_on(u, TH_TEXT);
	mvprintw(ly, x + 16, "100%%");
	int row = u->sel_row == rows ? MAXL : u->sel_row;
	if (!u->have_sp)
		put(y + h - 2, x + 2, w - 4, "not pruned yet: cells fill in when a stage prunes");
	else
		put(y + h - 2, x + 2, w - 4, "%s %s: nnz %lld/%lld sparsity %.2f%% target %.2f%% thr %.3g",
		         row == MAXL ? "pooler" : "layer", mat_short[u->sel_col], (long long)u->nnz[row][u->sel_col],
		         (long long)u->numel[row][u->sel_col], 100.0 * u->sp[row][u->sel_col],
		         100.0 * u->tg[row][u->sel_col], u->thr[row][u->sel_col]);
	th_off(u, TH_TEXT);
}

static void draw_eval(ui *u, int y, int x, int h, int w)
{
	box_title(u, y, x, h, w, "evaluation (dev; main metric, % of the first model)");
	int line = y + 1;
	th_on(u, TH_TEXT);
	if (!u->nev)
		put(line, x + 2, w - 4, "results appear as stages finish");
	/* one line per (task, model) of the dev split, main metric first */
	char task[64] = "";
	double ref = NAN;
	for (int k = 0; k < u->nev && line < y + h - 1; k++) {
		if (strcmp(u->ev[k].split, "dev"))
			continue;
		int main_metric = 1;
		for (int j = 0; j < k; j++)
			if (!strcmp(u->ev[j].model, u->ev[k].model) && !strcmp(u->ev[j].task, u->ev[k].task) &&
			    !strcmp(u->ev[j].split, "dev"))
				main_metric = 0;
		if (!main_metric)
			continue;
		if (strcmp(task, u->ev[k].task)) {
			snprintf(task, sizeof task, "%s", u->ev[k].task);
			ref = u->ev[k].v;
		}
		double pct = ref > 0 && strcmp(u->ev[k].metric, "loss") ? 100.0 * u->ev[k].v / ref : NAN;
		char pc[16] = "";
		if (isfinite(pct))
			snprintf(pc, sizeof pc, " %5.1f%%", pct);
		put(line++, x + 2, w - 4, "%-10.10s %-16.16s %-9.9s %8.3f%s", u->ev[k].task, u->ev[k].model,
		    u->ev[k].metric, u->ev[k].v, pc);
	}
	th_off(u, TH_TEXT);
}

static void draw_sched(ui *u, int y, int x, int h, int w)
{
	box_title(u, y, x, h, w, "schedule [e]dit");
	pofa_sched_view v;
	pofa_run_schedule(u->r, &v);
	th_on(u, TH_TEXT);
	if (v.stage < 0) {
		put(y + 1, x + 2, w - 4, "waiting for the first stage");
	} else {
		put(y + 1, x + 2, w - 4, "%s (%s)  step %lld/%lld", u->rc->stages[v.stage].name,
		    pofa_stage_kinds[v.kind], (long long)v.step, (long long)v.total);
		if (v.prune)
			put(y + 2, x + 2, w - 4, "GMP %.2f->%.2f start %lld end %lld every %lld freeze %lld", v.s_init,
			    v.s_final, (long long)v.t0, (long long)v.t1, (long long)v.every, (long long)v.freeze);
		else
			put(y + 2, x + 2, w - 4, "no pruning in this stage");
		if (h > 4)
			put(y + 3, x + 2, w - 4, "lr %.3g (peak %.3g)  KD %s  a_task %.2f a_kd %.2f T %.1f", v.lr_now,
			    v.lr_peak, v.has_teacher ? "on" : "off", v.alpha_task, v.alpha_kd, v.temperature);
	}
	th_off(u, TH_TEXT);
}

static void draw_log(ui *u, int y, int x, int h, int w)
{
	box_title(u, y, x, h, w, "events [PgUp/PgDn]");
	int rows = h - 2;
	int last = u->nlog - u->log_scroll;
	int first = last - rows;
	if (first < 0)
		first = 0;
	for (int i = first; i < last; i++) {
		int el = u->logkind[i] == POFA_EV_ERROR ? TH_LOG_ERROR : TH_TEXT;
		th_on(u, el);
		mvprintw(y + 1 + i - first, x + 1, "%.*s", w - 2, u->logl[i]);
		th_off(u, el);
	}
}

/* ---- key bindings: one table drives dispatch and the help screen ---------- */

typedef struct { int key; int key2; const char *keys, *help; void (*fn)(ui *); } binding;

static void cmd_simple(ui *u, int kind)
{
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = kind;
	pofa_run_command(u->r, &c);
}
static void b_pause(ui *u) { cmd_simple(u, u->paused ? POFA_CMD_RESUME : POFA_CMD_PAUSE); }
static void b_checkpoint(ui *u) { cmd_simple(u, POFA_CMD_CHECKPOINT); snprintf(u->msg, sizeof u->msg, "checkpoint asked for"); }
static void b_skip(ui *u) { u->mode = MODE_CONFIRM; u->ask = ASK_SKIP; }
static void b_quit(ui *u) { u->mode = MODE_CONFIRM; u->ask = ASK_QUIT; }
static void b_help(ui *u) { u->help = !u->help; }
static void b_redraw(ui *u) { clearok(curscr, TRUE); u->dirty = 1; }
static void b_theme(ui *u)
{
	pofa_err err;
	if (pofa_theme_next(&u->th, u->theme_name, sizeof u->theme_name, &err))
		snprintf(u->msg, sizeof u->msg, "%.200s", err.msg);
	else
		snprintf(u->msg, sizeof u->msg, "theme %s", u->theme_name);
	pofa_theme_apply(&u->th);
}
static void b_ema(ui *u) { u->ema = !u->ema; }
static void b_log(ui *u) { u->logscale = !u->logscale; }
static void b_window(ui *u) { u->window_all = !u->window_all; }
static void b_up(ui *u) { if (!u->zoom && u->sel_row > 0) u->sel_row--; }
static void b_down(ui *u) { if (!u->zoom && u->sel_row < (u->nlayers > 0 ? u->nlayers : 1)) u->sel_row++; }
static void b_left(ui *u) { if (!u->zoom && u->sel_col > 0) u->sel_col--; }
static void b_right(ui *u) { if (!u->zoom && u->sel_col < POFA_MAT_COUNT - 1) u->sel_col++; }
static void b_zoom(ui *u)
{
	int rows = u->nlayers > 0 ? u->nlayers : 1;
	if (u->sel_row == rows)
		u->sel_col = POFA_MAT_POOLER;
	else if (u->sel_col == POFA_MAT_POOLER)
		u->sel_col = POFA_MAT_FFN_OUT;
	u->zoom = 1;
	u->zvalid = 0;
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_MASKMAP;
	c.layer = u->sel_row == rows ? -1 : u->sel_row;
	c.matrix = u->sel_col;
	pofa_run_command(u->r, &c);
}
static void b_back(ui *u) { u->zoom = 0; u->help = 0; }
static void b_pgup(ui *u) { if (u->log_scroll + 5 < u->nlog) u->log_scroll += 5; }
static void b_pgdn(ui *u) { u->log_scroll = u->log_scroll > 5 ? u->log_scroll - 5 : 0; }
static void b_export(ui *u)
{
	u->mode = MODE_PROMPT;
	snprintf(u->prompt, sizeof u->prompt, "%s/export", pofa_run_dir(u->r));
}
static void b_edit(ui *u)
{
	pofa_sched_view v;
	pofa_run_schedule(u->r, &v);
	snprintf(u->fields[0], 32, "%.3f", v.s_final);
	snprintf(u->fields[1], 32, "%lld", (long long)v.t0);
	snprintf(u->fields[2], 32, "%lld", (long long)v.t1);
	snprintf(u->fields[3], 32, "%lld", (long long)v.every);
	snprintf(u->fields[4], 32, "%lld", (long long)v.freeze);
	snprintf(u->fields[5], 32, "%.3g", v.lr_peak);
	snprintf(u->fields[6], 32, "%.2f", v.alpha_kd);
	snprintf(u->fields[7], 32, "%.2f", v.temperature);
	u->field = 0;
	u->mode = MODE_FORM;
}
static void b_pane(ui *u, int k) { u->show[k] = !u->show[k]; }
static void b_p1(ui *u) { b_pane(u, 0); }
static void b_p2(ui *u) { b_pane(u, 1); }
static void b_p3(ui *u) { b_pane(u, 2); }
static void b_p4(ui *u) { b_pane(u, 3); }
static void b_p5(ui *u) { b_pane(u, 4); }
static void b_p6(ui *u) { b_pane(u, 5); }

static const binding bindings[] = {
	{ ' ', 'p', "Space p", "pause / resume the running stage", b_pause },
	{ 'e', 0, "e", "edit the schedule (sparsity, window, lr, KD)", b_edit },
	{ 'x', 0, "x", "export metrics, sparsity and eval tables as CSV", b_export },
	{ 'n', 0, "n", "skip to the next stage (asks first)", b_skip },
	{ 'c', 0, "c", "checkpoint now", b_checkpoint },
	{ 't', 0, "t", "next colour theme", b_theme },
	{ '1', 0, "1", "show/hide the loss chart", b_p1 },
	{ '2', 0, "2", "show/hide the sparsity heatmap", b_p2 },
	{ '3', 0, "3", "show/hide the evaluation table", b_p3 },
	{ '4', 0, "4", "show/hide the schedule", b_p4 },
	{ '5', 0, "5", "show/hide the event log", b_p5 },
	{ '6', 0, "6", "show/hide the header", b_p6 },
	{ 's', 0, "s", "chart: EMA smoothing", b_ema },
	{ 'g', 0, "g", "chart: log scale", b_log },
	{ 'w', 0, "w", "chart: this stage or the whole run", b_window },
	{ KEY_UP, 'k', "Up k", "heatmap: move", b_up },
	{ KEY_DOWN, 'j', "Down j", "heatmap: move", b_down },
	{ KEY_LEFT, 'h', "Left h", "heatmap: move", b_left },
	{ KEY_RIGHT, 'l', "Right l", "heatmap: move", b_right },
	{ '\n', KEY_ENTER, "Enter", "heatmap: zoom into the matrix's mask", b_zoom },
	{ 27, 0, "Esc", "back", b_back },
	{ KEY_PPAGE, 0, "PgUp", "event log: older", b_pgup },
	{ KEY_NPAGE, 0, "PgDn", "event log: newer", b_pgdn },
	{ '?', KEY_F(1), "? F1", "this help", b_help },
	{ 'q', KEY_F(10), "q F10", "quit (asks; the run is checkpointed, --resume continues it)", b_quit },
	{ 12, 0, "Ctrl-L", "redraw", b_redraw },
};

static void draw_help(ui *u, int H, int W)
{
	int n = (int)(sizeof bindings / sizeof *bindings);
	int h = n + 4, w = 70;
	if (h > H - 2) h = H - 2;
	if (w > W - 2) w = W - 2;
	int y = (H - h) / 2, x = (W - w) / 2;
	th_on(u, TH_HELP);
	for (int r = 0; r < h; r++)
		mvhline(y + r, x, ' ', w);
	th_off(u, TH_HELP);
	box_title(u, y, x, h, w, "keys (? or Esc closes)");
	th_on(u, TH_HELP);
	for (int i = 0; i < n && i < h - 3; i++)
		mvprintw(y + 2 + i, x + 2, "%-8s %.*s", bindings[i].keys, w - 13, bindings[i].help);
	th_off(u, TH_HELP);
}

static const char *form_names[8] = { "final sparsity", "start step", "end step", "prune every",
                                     "freeze step", "learning rate", "KD weight", "temperature" };

static void draw_form(ui *u, int H, int W)
{
	int h = 14, w = 56, y = (H - h) / 2, x = (W - w) / 2;
	if (h > H) h = H;
	th_on(u, TH_HELP);
	for (int r = 0; r < h; r++)
		mvhline(y + r, x, ' ', w);
	th_off(u, TH_HELP);
	box_title(u, y, x, h, w, "edit the schedule (Enter apply, Esc cancel)");
	for (int i = 0; i < 8 && i < h - 4; i++) {
		th_on(u, i == u->field ? TH_SELECTED : TH_HELP);
		mvprintw(y + 2 + i, x + 2, "%-16s %-20s", form_names[i], u->fields[i]);
		th_off(u, i == u->field ? TH_SELECTED : TH_HELP);
	}
	th_on(u, TH_HELP);
	mvprintw(y + h - 2, x + 2, "Up/Down/Tab: field  Backspace: edit");
	th_off(u, TH_HELP);
}

/* the form's values that changed, as a schedule edit */
static void form_apply(ui *u)
{
	pofa_sched_view v;
	pofa_run_schedule(u->r, &v);
	pofa_command c;
	memset(&c, 0, sizeof c);
	c.kind = POFA_CMD_SCHEDULE;
	char *end;
	double d[8];
	for (int i = 0; i < 8; i++) {
		d[i] = strtod(u->fields[i], &end);
		if (end == u->fields[i] || *end) {
			snprintf(u->msg, sizeof u->msg, "%s: '%s' is not a number", form_names[i], u->fields[i]);
			return;
		}
	}
	pofa_sched_edit *e = &c.edit;
	if (fabs(d[0] - v.s_final) > 5e-4) { e->set |= POFA_EDIT_FINAL_SPARSITY; e->final_sparsity = (float)d[0]; }
	if ((int64_t)d[1] != v.t0) { e->set |= POFA_EDIT_START; e->start = (int64_t)d[1]; }
	if ((int64_t)d[2] != v.t1) { e->set |= POFA_EDIT_END; e->end = (int64_t)d[2]; }
	if ((int64_t)d[3] != v.every) { e->set |= POFA_EDIT_EVERY; e->every = (int64_t)d[3]; }
	if ((int64_t)d[4] != v.freeze) { e->set |= POFA_EDIT_FREEZE; e->freeze = (int64_t)d[4]; }
	if (fabs(d[5] - v.lr_peak) > 1e-3 * v.lr_peak) { e->set |= POFA_EDIT_LR; e->lr = d[5]; }
	if (fabs(d[6] - v.alpha_kd) > 5e-3) { e->set |= POFA_EDIT_ALPHA_KD; e->alpha_kd = (float)d[6]; }
	if (fabs(d[7] - v.temperature) > 5e-3) { e->set |= POFA_EDIT_TEMPERATURE; e->temperature = (float)d[7]; }
	if (!e->set) {
		snprintf(u->msg, sizeof u->msg, "nothing changed");
		return;
	}
	/* checked here for a quick answer; the engine checks again */
	if (e->set & POFA_EDIT_FINAL_SPARSITY && !(d[0] >= 0.0 && d[0] <= 0.99)) {
		snprintf(u->msg, sizeof u->msg, "final sparsity must be in [0, 0.99]");
		return;
	}
	pofa_run_command(u->r, &c);
	snprintf(u->msg, sizeof u->msg, "schedule edit sent: applied at the next step (see the event log)");
}

/* ---- layout ----------------------------------------------------------------- */

static void draw(ui *u)
{
	int H, W;
	getmaxyx(stdscr, H, W);
	erase();
	if (H < MIN_H || W < MIN_W) {
		th_on(u, TH_TEXT);
		const char *l1 = "pofa: the terminal is too small";
		char l2[80];
		snprintf(l2, sizeof l2, "need %dx%d, have %dx%d", MIN_W, MIN_H, W, H);
		if (H >= 1)
			mvprintw(H / 2 > 0 ? H / 2 - 1 : 0, 0, "%.*s", W, l1);
		if (H >= 2)
			mvprintw(H / 2, 0, "%.*s", W, l2);
		th_off(u, TH_TEXT);
		refresh();
		return;
	}
	int top = 0;
	if (u->show[PANE_HEADER]) {
		draw_header(u, W);
		top = 2;
	}
	int bottom = H - 1;
	int body = bottom - top;
	int left = u->show[PANE_HEAT] || u->show[PANE_SCHED] ? W * 11 / 20 : W;
	int right = W - left;
	/* left: chart over eval; right: heatmap, schedule, log */
	int ly = top, lh_chart = u->show[PANE_EVAL] ? body * 3 / 5 : body;
	if (!u->show[PANE_CHART])
		lh_chart = 0;
	if (u->show[PANE_CHART])
		draw_chart(u, ly, 0, lh_chart, left);
	if (u->show[PANE_EVAL])
		draw_eval(u, ly + lh_chart, 0, body - lh_chart, left);
	int ry = top;
	if (right > 0) {
		int rem = body;
		int hh = u->show[PANE_HEAT] ? (u->nlayers > 0 ? u->nlayers : 2) + 6 : 0;
		if (hh > rem * 3 / 5)
			hh = rem * 3 / 5;
		int sh = u->show[PANE_SCHED] ? 5 : 0;
		if (u->show[PANE_HEAT])
			draw_heat(u, ry, left, hh, right);
		ry += hh;
		if (u->show[PANE_SCHED])
			draw_sched(u, ry, left, sh, right);
		ry += sh;
		if (u->show[PANE_LOG] && bottom - ry > 2)
			draw_log(u, ry, left, bottom - ry, right);
	} else if (u->show[PANE_LOG] && !u->show[PANE_EVAL] && !u->show[PANE_CHART]) {
		draw_log(u, top, 0, body, W);
	}
	/* status line */
	th_on(u, TH_HEADER);
	mvhline(bottom, 0, ' ', W);
	if (u->mode == MODE_CONFIRM)
		mvprintw(bottom, 1, "%s (y/n)", u->ask == ASK_SKIP ? "Skip to the next stage?" :
		         "Quit? The run is checkpointed; pofa run --resume continues it.");
	else if (u->mode == MODE_PROMPT)
		mvprintw(bottom, 1, "export to folder: %.*s", W - 22, u->prompt);
	else
		mvprintw(bottom, 1, "%.*s", W - 2, u->msg[0] ? u->msg : "? help  Space pause  e edit  x export  n skip  q quit");
	th_off(u, TH_HEADER);
	if (u->help)
		draw_help(u, H, W);
	if (u->mode == MODE_FORM)
		draw_form(u, H, W);
	refresh();
}

/* ---- input -------------------------------------------------------------------- */

static void on_key(ui *u, int ch)
{
	if (ch == KEY_RESIZE) {
		u->dirty = 1;
		return;
	}
	if (u->mode == MODE_CONFIRM) {
		if (ch == 'y' || ch == 'Y') {
			if (u->ask == ASK_SKIP)
				cmd_simple(u, POFA_CMD_SKIP);
			else {
				cmd_simple(u, POFA_CMD_STOP);
				u->quit_sent = 1;
				snprintf(u->msg, sizeof u->msg, "stopping: writing a checkpoint...");
			}
		}
		u->mode = MODE_NORMAL;
		return;
	}
	if (u->mode == MODE_PROMPT) {
		size_t l = strlen(u->prompt);
		if (ch == 27)
			u->mode = MODE_NORMAL;
		else if (ch == '\n' || ch == KEY_ENTER) {
			pofa_command c;
			memset(&c, 0, sizeof c);
			c.kind = POFA_CMD_EXPORT;
			snprintf(c.path, sizeof c.path, "%s", u->prompt);
			pofa_run_command(u->r, &c);
			u->mode = MODE_NORMAL;
			snprintf(u->msg, sizeof u->msg, "export asked for");
		} else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && l > 0)
			u->prompt[l - 1] = 0;
		else if (ch >= 32 && ch < 127 && l + 1 < sizeof u->prompt) {
			u->prompt[l] = (char)ch;
			u->prompt[l + 1] = 0;
		}
		return;
	}
	if (u->mode == MODE_FORM) {
		char *f = u->fields[u->field];
		size_t l = strlen(f);
		if (ch == 27)
			u->mode = MODE_NORMAL;
		else if (ch == '\n' || ch == KEY_ENTER) {
			form_apply(u);
			u->mode = MODE_NORMAL;
		} else if (ch == KEY_UP)
			u->field = (u->field + 7) % 8;
		else if (ch == KEY_DOWN || ch == '\t')
			u->field = (u->field + 1) % 8;
		else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && l > 0)
			f[l - 1] = 0;
		else if (((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == '-') && l + 1 < 32) {
			f[l] = (char)ch;
			f[l + 1] = 0;
		}
		return;
	}
	if (ch == KEY_MOUSE) {
		MEVENT me;
		if (getmouse(&me) == OK && (me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) && u->hm_cw > 0) {
			int r = me.y - u->hm_y, c = (me.x - u->hm_x) / u->hm_cw;
			int rows = u->nlayers > 0 ? u->nlayers : 1;
			if (r >= 0 && r <= rows && me.x >= u->hm_x && c >= 0 && c < POFA_MAT_COUNT) {
				u->sel_row = r;
				u->sel_col = r == rows ? POFA_MAT_POOLER : (c == POFA_MAT_POOLER ? POFA_MAT_FFN_OUT : c);
			}
		}
		return;
	}
	u->msg[0] = 0;
	for (size_t i = 0; i < sizeof bindings / sizeof *bindings; i++)
		if (ch == bindings[i].key || (bindings[i].key2 && ch == bindings[i].key2)) {
			bindings[i].fn(u);
			return;
		}
}

/* ---- the loop ----------------------------------------------------------------- */

static volatile sig_atomic_t term_signal;
static void on_term(int s) { term_signal = s; }

int tui_run(pofa_run *r, const char *dir, int resume, int stage, int64_t step, const tui_opts *o)
{
	ui *u = calloc(1, sizeof *u);
	u->pts = calloc(MAXPTS, sizeof *u->pts);
	pofa_err err = { 0 };
	u->r = r;
	u->rc = pofa_run_recipe(r);
	u->cur = -1;
	u->t_start = now();
	for (int k = 0; k < PANE_COUNT; k++)
		u->show[k] = 1;
	u->mouse = o->mouse;
	if (pofa_runlog_open(&u->log, dir, u->rc, resume, stage, step, &err)) {
		free(u->pts);
		free(u);
		return cli_fail(&err);
	}
	for (int i = 0; i < stage && i < POFA_MAX_STAGES; i++)
		u->st[i] = POFA_STAGE_DONE;
	pofa_config pc;
	if (u->rc->preset[0] && !pofa_config_preset(&pc, u->rc->preset, &err))
		u->nlayers = pc.num_hidden_layers;
	setlocale(LC_ALL, "");
	/* the theme: read before curses starts, so errors can be printed */
	char themerr[1100] = "";
	if (pofa_theme_load(&u->th, o->theme, o->no_color, &err)) {
		snprintf(themerr, sizeof themerr, "%s; the default theme is used", err.msg);
		pofa_theme_default(&u->th);
	}
	snprintf(u->theme_name, sizeof u->theme_name, "%s", u->th.name);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	initscr();
	cbreak();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	pofa_theme_start(&u->th);
	if (u->mouse)
		mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED, NULL);
	if (themerr[0])
		logline(u, POFA_EV_ERROR, "%s", themerr);
	if (pofa_run_start(r, &err)) {
		endwin();
		pofa_runlog_close(&u->log);
		free(u->pts);
		free(u);
		return cli_fail(&err);
	}
	pofa_event *evs = malloc(512 * sizeof *evs);
	u->dirty = 1;
	while (!(u->ended && (u->quit_sent || o->exit_at_end))) {
		struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = pofa_run_wakefd(r), .events = POLLIN } };
		int pn = poll(p, 2, 100);
		if (pn < 0 && errno != EINTR)
			break;
		if (term_signal && !u->quit_sent) {
			cmd_simple(u, POFA_CMD_STOP);
			u->quit_sent = 1;
		}
		int ch;
		while ((ch = getch()) != ERR) {
			if (ch == '\r')
				ch = '\n';
			on_key(u, ch);
			u->dirty = 1;
		}
		int n;
		while ((n = pofa_run_events(r, evs, 512)) > 0) {
			for (int k = 0; k < n; k++) {
				pofa_runlog_event(&u->log, &evs[k]);
				if (evs[k].kind == POFA_EV_EXPORT) {
					char paths[4000];
					if (pofa_runlog_export(&u->log, evs[k].text, paths, sizeof paths, &err))
						logline(u, POFA_EV_ERROR, "export: %s", err.msg);
					else {
						logline(u, POFA_EV_LOG, "exported %s", paths);
						snprintf(u->msg, sizeof u->msg, "exported to %s", evs[k].text);
					}
				}
				take(u, &evs[k]);
			}
			u->dirty = 1;
		}
		/* at most ten redraws a second, and a clock tick every second */
		double t = now();
		if ((u->dirty && t - u->last_draw >= 0.1) || t - u->last_draw >= 1.0) {
			draw(u);
			u->last_draw = t;
			u->dirty = 0;
		}
	}
	free(evs);
	endwin();
	pofa_run_join(r);
	pofa_runlog_close(&u->log);
	int status = u->status;
	if (pofa_runlog_report(dir, u->rc, &err))
		fprintf(stderr, "pofa: report: %s\n", err.msg);
	if (u->quit_sent)
		fprintf(stderr, "pofa run: stopped; continue with pofa run --resume %s\n", dir);
	else
		fprintf(stderr, "pofa run: %s; results in %s/report.md\n", status ? "failed" : "done", dir);
	pofa_theme_free(&u->th);
	free(u->pts);
	free(u);
	return status ? EXIT_RUN_FAILED : 0;
}
