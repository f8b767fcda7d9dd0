/*
 * chart.c - the loss chart pane: teacher, task, distillation (of logits
 * and of hidden states) and total losses over the steps of the stage (or
 * the whole run), in braille, smoothed or on a log scale, distillation on
 * its own right-hand axis when it shares the plot, the unigram baseline's
 * masked-LM loss as a dotted line in masked-LM stages, and a legend that
 * names each series' last value. Drawing code names theme elements, never colours.
 */
#include "tui/work/ui.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* braille cell bits: dots (col, row) with col 0..1, row 0..3 */
static const int braille_bit[2][4] = { { 0x01, 0x02, 0x04, 0x40 }, { 0x08, 0x10, 0x20, 0x80 } };

static const int series_el[] = { TH_TEACHER, TH_TASK, TH_KD, TH_TOTAL, TH_KD_HIDDEN };
static const char *const series_name[] = { "teacher", "task", "kd", "total", "kd hidden" };
/* without colours each series has its own glyph (the legend shows it) */
static const char series_glyph[] = { 'o', '*', '+', '#', '%' };
_Static_assert(POFA_ARRAY_LEN(series_el) == TUI_SERIES_COUNT && POFA_ARRAY_LEN(series_name) == TUI_SERIES_COUNT &&
               sizeof series_glyph == TUI_SERIES_COUNT, "a colour, name and glyph per series");

/* the distillation losses: small beside the others, on their own axis */
static int is_kd(int s) { return s == TUI_S_KD || s == TUI_S_KD_HIDDEN; }

/* a y axis's labels, top to bottom, at column x */
static void y_axis(ui *u, int el, int y, int x, int ch, double lo, double hi)
{
	int nt = ch >= 8 ? 5 : ch >= 4 ? 3 : 2;
	tui_th_on(u, el);
	for (int k = 0; k < nt; k++) {
		int row = (int)lround((double)k * (ch - 1) / (nt - 1));
		double v = hi - (hi - lo) * row / (ch - 1 > 0 ? ch - 1 : 1);
		char b[32];
		/* seven columns: three digits when they fit, two otherwise */
		if (snprintf(b, sizeof b, "%7.3g", u->logscale ? pow(10, v) : v) > 7)
			snprintf(b, sizeof b, "%7.2g", u->logscale ? pow(10, v) : v);
		mvprintw(y + 1 + row, x, "%.7s", b);
	}
	tui_th_off(u, el);
}

/* the chart as this draw sees it */
typedef struct {
	int first, n;          /* the points in view: pts[first .. first + n) */
	float *sm;             /* TUI_SERIES_COUNT x n: each series as drawn (smoothed, on the log scale) */
	int present[TUI_SERIES_COUNT];   /* series with a point in view */
	int kd_own;            /* distillation on its own right-hand axis */
	double ref, ref_v;     /* the unigram baseline's masked-LM loss, as drawn and as is (NAN: none) */
	double lo, hi, klo, khi, x0, x1;
} chart_view;

/* the unigram baseline's masked-LM dev loss when a masked-LM stage is in
 * view and the task loss is shown: the level a model that has learned
 * anything goes below (NAN: none) */
static double chart_reference(const ui *u)
{
	if (u->series_off[TUI_S_TASK])
		return NAN;
	int mlm = 0;
	for (int i = 0; i < u->s.rc->nstages; i++)
		mlm |= (u->window_all || i == u->s.cur) &&
		       (u->s.rc->stages[i].kind == POFA_STAGE_MLM || u->s.rc->stages[i].kind == POFA_STAGE_PRUNE);
	for (int k = 0; mlm && k < u->s.nev; k++) {
		const tui_eval *e = &u->s.ev[k];
		if (!strcmp(e->model, "unigram") && !strcmp(e->task, "mlm") && !strcmp(e->metric, "loss") && e->v > 0)
			return e->v;
	}
	return NAN;
}

/* the points in view, each series as drawn; -1 when out of memory */
static int chart_series(ui *u, chart_view *v)
{
	v->first = 0;
	if (!u->window_all)
		while (v->first < u->s.npts && u->s.stage_of_pt[v->first] != u->s.cur)
			v->first++;
	int n = v->n = u->s.npts - v->first;
	v->sm = malloc(sizeof(float) * TUI_SERIES_COUNT * (size_t)(n > 0 ? n : 1));
	if (!v->sm)
		return -1;
	for (int s = 0; s < TUI_SERIES_COUNT; s++) {
		float acc = NAN;
		v->present[s] = 0;
		for (int i = 0; i < n; i++) {
			float p = u->s.pts[v->first + i].v[s];
			if (u->ema && isfinite(p))
				acc = isfinite(acc) ? 0.9f * acc + 0.1f * p : p;
			float o = u->ema ? acc : p;
			if (u->logscale)
				o = o > 0 ? log10f(o) : NAN;
			/* kd is 0 in steps without a teacher: no point */
			if (s == TUI_S_KD && p == 0.0f)
				o = NAN;
			v->sm[s * n + i] = o;
			v->present[s] |= isfinite(o);
		}
	}
	/* distillation's loss (~0.01) beside a task loss (~6): its own scale,
	 * on the right, when another series shares the plot */
	int kd = 0, other = 0;
	for (int s = 0; s < TUI_SERIES_COUNT; s++)
		*(is_kd(s) ? &kd : &other) |= v->present[s] && !u->series_off[s];
	v->kd_own = kd && other;
	v->ref_v = chart_reference(u);
	v->ref = u->logscale ? log10(v->ref_v) : v->ref_v;
	return 0;
}

/* the axes' ranges: the shown series' values (kd's own when on its axis) */
static void chart_range(const ui *u, chart_view *v)
{
	int n = v->n;
	v->lo = v->klo = INFINITY;
	v->hi = v->khi = -INFINITY;
	v->x0 = 0;
	v->x1 = 1;
	for (int s = 0; s < TUI_SERIES_COUNT; s++) {
		if (u->series_off[s])
			continue;
		double *l = v->kd_own && is_kd(s) ? &v->klo : &v->lo, *hh = v->kd_own && is_kd(s) ? &v->khi : &v->hi;
		for (int i = 0; i < n; i++)
			if (isfinite(v->sm[s * n + i])) {
				*l = fmin(*l, v->sm[s * n + i]);
				*hh = fmax(*hh, v->sm[s * n + i]);
			}
	}
	if (isfinite(v->ref) && isfinite(v->lo)) {   /* the reference line stays in view */
		v->lo = fmin(v->lo, v->ref);
		v->hi = fmax(v->hi, v->ref);
	}
	if (n > 0) {
		v->x0 = u->s.pts[v->first].x;
		v->x1 = u->s.pts[u->s.npts - 1].x;
	}
	if (!(v->hi > v->lo)) {
		v->hi = (isfinite(v->hi) ? v->hi : 1) + 0.5;
		v->lo = v->hi - 1;
	}
	if (v->kd_own && !(v->khi > v->klo)) {
		double m = isfinite(v->khi) ? v->khi : 0.0;
		v->khi = m + (fabs(m) > 0 ? 0.1 * fabs(m) : 0.5);
		v->klo = m - (fabs(m) > 0 ? 0.1 * fabs(m) : 0.5);
	}
	if (v->x1 <= v->x0)
		v->x1 = v->x0 + 1;
}

/* the x axis: steps, the stage's own in the stage window; in the run
 * window, where each stage begins */
static void chart_x_axis(ui *u, const chart_view *v, int y, int x, int cw)
{
	tui_th_on(u, TH_TEXT);
	if (u->window_all) {
		for (int i = 0; i < u->s.rc->nstages; i++) {
			double sx = i == 0 ? 0.0 : u->s.x_off[i];
			if ((i > 0 && sx == 0.0) || sx < v->x0 || sx > v->x1)
				continue;
			int c = (int)((sx - v->x0) / (v->x1 - v->x0) * (cw - 1) + 0.5);
			mvprintw(y, x + c, "|%.*s", cw - c - 1 > 0 ? cw - c - 1 : 0, u->s.rc->stages[i].name);
		}
	} else if (v->n > 0) {
		double off = u->s.cur >= 0 ? u->s.x_off[u->s.cur] : 0.0;
		mvprintw(y, x, "%.0f", v->x0 - off);
		char b[32];
		int l = snprintf(b, sizeof b, "%.0f", (v->x0 + v->x1) / 2 - off);
		if (cw > 3 * l + 4)
			mvprintw(y, x + cw / 2 - l / 2, "%s", b);
		l = snprintf(b, sizeof b, "step %.0f", v->x1 - off);
		mvprintw(y, x + cw - l, "%s", b);
	}
	tui_th_off(u, TH_TEXT);
}

/* every shown series as braille dots, a line from point to point: the
 * dots of each cell and the series that drew it last */
static void chart_rasterise(const ui *u, const chart_view *v, int gw, int gh, unsigned char *cells,
                            unsigned char *owner, unsigned char *which)
{
	int n = v->n;
	for (int s = 0; s < TUI_SERIES_COUNT; s++) {
		if (u->series_off[s])
			continue;
		double l = v->kd_own && is_kd(s) ? v->klo : v->lo, hh = v->kd_own && is_kd(s) ? v->khi : v->hi;
		int ppx = -1, ppy = -1;
		for (int i = 0; i < n; i++) {
			float p = v->sm[s * n + i];
			if (!isfinite(p)) {
				ppx = -1;
				continue;
			}
			int px = (int)((u->s.pts[v->first + i].x - v->x0) / (v->x1 - v->x0) * (gw * 2 - 1) + 0.5);
			int py = (int)((hh - p) / (hh - l) * (gh * 4 - 1) + 0.5);
			int steps = ppx < 0 ? 0 : abs(px - ppx) > abs(py - ppy) ? abs(px - ppx) : abs(py - ppy);
			for (int k = 0; k <= steps; k++) {
				int qx = steps ? ppx + (px - ppx) * k / steps : px;
				int qy = steps ? ppy + (py - ppy) * k / steps : py;
				if (qx < 0 || qy < 0 || qx >= gw * 2 || qy >= gh * 4)
					continue;
				int c = (qy / 4) * gw + qx / 2;
				cells[c] |= (unsigned char)braille_bit[qx % 2][qy % 4];
				owner[c] = (unsigned char)(s + 1);
				which[c] |= (unsigned char)(1u << s);
			}
			ppx = px;
			ppy = py;
		}
	}
}

/* the plot: the stages' boundaries (run window) and the series' cells,
 * braille, or glyphs per series without colours */
static void chart_plot(ui *u, const chart_view *v, int y, int x, int gh, int gw)
{
	unsigned char *cells = calloc((size_t)gw * gh, 1), *owner = calloc((size_t)gw * gh, 1),
	              *which = calloc((size_t)gw * gh, 1);
	if (!cells || !owner || !which) {
		free(cells);
		free(owner);
		free(which);
		return;
	}
	chart_rasterise(u, v, gw, gh, cells, owner, which);
	if (u->window_all)
		for (int i = 1; i < u->s.rc->nstages; i++) {
			double sx = u->s.x_off[i];
			if (sx == 0.0 || sx < v->x0 || sx > v->x1)
				continue;
			int c = (int)((sx - v->x0) / (v->x1 - v->x0) * (gw - 1) + 0.5);
			tui_th_on(u, TH_BORDER);
			for (int r = 0; r < gh; r++)
				if (!cells[r * gw + c])
					mvaddch(y + r, x + c, ':');
			tui_th_off(u, TH_BORDER);
		}
	if (isfinite(v->ref)) {   /* the unigram baseline: a dotted row, where no series is */
		int r = (int)((v->hi - v->ref) / (v->hi - v->lo) * (gh - 1) + 0.5);
		tui_th_on(u, TH_BORDER);
		for (int c = 0; r >= 0 && r < gh && c < gw; c += 2)
			if (!cells[r * gw + c])
				mvaddch(y + r, x + c, '.');
		tui_th_off(u, TH_BORDER);
	}
	for (int r = 0; r < gh; r++)
		for (int c = 0; c < gw; c++) {
			unsigned char b = cells[r * gw + c];
			if (!b)
				continue;
			int s = owner[r * gw + c] - 1, el = series_el[s];
			tui_th_on(u, el);
			unsigned char w = which[r * gw + c];
			if (u->th.mono)   /* no colour tells the series apart: glyphs do, and @ where several meet */
				mvaddch(y + r, x + c, (chtype)(w & (w - 1) ? '@' : series_glyph[s]));
			else if (u->th.braille) {
				wchar_t wc[2] = { (wchar_t)(0x2800 + b), 0 };
				mvaddnwstr(y + r, x + c, wc, 1);
			} else {
				mvaddch(y + r, x + c, (b & 0x0f) && (b & 0xf0) ? '#' : (b & 0x0f) ? ':' : '.');
			}
			tui_th_off(u, el);
		}
	free(cells);
	free(owner);
	free(which);
}

/* the legend: the series this window has, each with its last value; with
 * the chart focused, Left/Right pick one and Enter hides it. Short names
 * when the full ones do not fit. */
static void chart_legend(ui *u, const chart_view *v, int y, int x, int w)
{
	static const char *const short_name[TUI_SERIES_COUNT] = { "tchr", "task", "kd", "tot", "kdh" };
	double last[TUI_SERIES_COUNT];
	for (int s = 0; s < TUI_SERIES_COUNT; s++) {
		last[s] = NAN;
		for (int i = v->n - 1; i >= 0 && !isfinite(last[s]); i--) {
			float p = u->s.pts[v->first + i].v[s];
			if (isfinite(p) && !(s == TUI_S_KD && p == 0.0f))
				last[s] = p;
		}
		u->series_have[s] = isfinite(last[s]);
	}
	for (int brief = 0; brief < 3; brief++) {   /* full; short names; short names, two digits */
		char items[TUI_SERIES_COUNT][64];
		int lens[TUI_SERIES_COUNT], total = 0;
		for (int s = 0; s < TUI_SERIES_COUNT; s++) {
			lens[s] = 0;
			if (!isfinite(last[s]))
				continue;
			char mark[8];
			if (u->th.mono)
				snprintf(mark, sizeof mark, "%c%c", series_glyph[s], series_glyph[s]);
			else
				snprintf(mark, sizeof mark, "%s", u->th.braille ? "\u2824" : "-");
			const char *note = u->series_off[s] ? (brief ? " off" : " (hidden)")
			                   : v->kd_own && is_kd(s) ? (brief ? ">" : " (right)") : "";
			lens[s] = snprintf(items[s], sizeof items[s], brief < 2 ? "%s %s %.3g%s" : "%s%s %.2g%s",
			                   u->series_off[s] ? (brief < 2 ? "  " : " ") : mark,
			                   brief ? short_name[s] : series_name[s], last[s], note);
			if (u->th.braille && !u->th.mono && !u->series_off[s])
				lens[s] -= 2;   /* a braille character: three bytes, one column */
			total += lens[s] + 1;
		}
		if (u->th.mono)   /* the glyph of cells where series meet */
			total += 10;
		char ref[48] = "";
		if (isfinite(v->ref_v))
			total += snprintf(ref, sizeof ref, brief < 2 ? ".. %s %.3g" : "..%s %.2g", brief ? "uni" : "unigram",
			                  v->ref_v) + 1;
		if (brief < 2 && total > w - 3)
			continue;
		int lx = x + 2;
		for (int s = 0; s < TUI_SERIES_COUNT; s++) {
			if (!lens[s] || lx + lens[s] > x + w - 1)
				continue;
			int pick = u->focus == PANE_CHART && u->series_sel == s;
			tui_th_on(u, pick ? TH_SELECTED : series_el[s]);
			mvprintw(y, lx, "%s", items[s]);
			tui_th_off(u, pick ? TH_SELECTED : series_el[s]);
			lx += lens[s] + 1;
		}
		if (u->th.mono && lx + 9 <= x + w - 1) {
			mvprintw(y, lx, "@ overlap");
			lx += 10;
		}
		if (ref[0] && lx + (int)strlen(ref) <= x + w - 1) {
			tui_th_on(u, TH_BORDER);
			mvprintw(y, lx, "%s", ref);
			tui_th_off(u, TH_BORDER);
		}
		break;
	}
}

void tui_draw_chart(ui *u, int y, int x, int h, int w)
{
	char title[160];
	snprintf(title, sizeof title, "losses %s%s%s [s]mooth lo[g] [w]indow", u->window_all ? "(run)" : "(stage)",
	         u->ema ? " ema" : "", u->logscale ? " log" : "");
	tui_pane_box(u, PANE_CHART, y, x, h, w, title);
	/* rows: the plot, then the x axis's labels, then the legend */
	int ch = h - 4, cw = w - 10;
	chart_view v;
	if (ch < 2 || cw < 4 || chart_series(u, &v))
		return;
	if (v.kd_own)
		cw -= 8;
	if (cw >= 4) {
		chart_range(u, &v);
		y_axis(u, TH_TEXT, y, x + 1, ch, v.lo, v.hi);
		if (v.kd_own)
			y_axis(u, TH_KD, y, x + 9 + cw + 1, ch, v.klo, v.khi);
		chart_x_axis(u, &v, y + ch + 1, x + 9, cw);
		chart_plot(u, &v, y + 1, x + 9, ch, cw);
		chart_legend(u, &v, y + h - 2, x, w);
	}
	free(v.sm);
}
