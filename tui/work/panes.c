/*
 * panes.c - the workbench drawn from its snapshot: the header, the loss
 * chart (braille), the sparsity heatmap and its mask zoom, the evaluation
 * table, the schedule, the event log, and the help and form overlays.
 * Drawing code names theme elements, never colours.
 */
#include "tui/work/ui.h"

#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <wchar.h>

double tui_now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec * 1e-6;
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

static void box_el(ui *u, int y, int x, int h, int w, const char *title, int title_el)
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
	th_on(u, title_el);
	int room = w - 6, len = (int)strlen(title);
	if (len <= room) {
		put(y, x + 2, w - 4, " %s ", title);
	} else if (room > 4) {
		/* cut at the last space that leaves room for "..." */
		int cut = room - 3;
		while (cut > 0 && title[cut] != ' ')
			cut--;
		if (cut <= 0)
			cut = room - 3;
		put(y, x + 2, w - 4, " %.*s... ", cut, title);
	}
	th_off(u, title_el);
}

/* an overlay's box */
static void box_title(ui *u, int y, int x, int h, int w, const char *title)
{
	box_el(u, y, x, h, w, title, TH_TITLE);
}

/* a pane's box: where it is (for the mouse), its title marked when the
 * pane has the focus */
static void pane_box(ui *u, int pane, int y, int x, int h, int w, const char *title)
{
	u->pane_y[pane] = y, u->pane_x[pane] = x, u->pane_h[pane] = h, u->pane_w[pane] = w;
	box_el(u, y, x, h, w, title, u->focus == pane ? TH_SELECTED : TH_TITLE);
}


/* ---- panes ------------------------------------------------------------------ */

static void draw_header(ui *u, int w)
{
	char el[32], eta[32], reta[48] = "";
	double now = tui_now();
	/* the clock stops with the run; a pause stops the ETA and the rate */
	tui_fmt_duration((u->s.ended && u->s.t_end > 0 ? u->s.t_end : now) - u->s.t_start, el, sizeof el);
	int64_t done = u->s.step - u->s.stage_step0;
	double busy = now - u->s.stage_t0 - u->s.paused_for - (u->s.paused ? now - u->s.t_paused : 0.0);
	double rate = done > 0 && busy > 0 ? busy / (double)done : -1;
	int live = !u->s.ended && !u->s.paused;
	tui_fmt_duration(live && rate > 0 ? rate * (double)(u->s.total - u->s.step) : -1, eta, sizeof eta);
	/* the whole run's ETA: the tokens left (this stage's, the later
	 * training stages' with steps) at the current rate */
	if (live && u->s.tok_s > 0 && u->s.cur >= 0) {
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
		tui_fmt_duration(left / u->s.tok_s, b, sizeof b);
		snprintf(reta, sizeof reta, "  run ETA %s%s", known ? "" : ">", b);
	}
	th_on(u, TH_HEADER);
	mvhline(0, 0, ' ', w);
	mvprintw(0, 1, "pofa  %s", u->s.rc->name);
	th_off(u, TH_HEADER);
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
		th_on(u, el_of[u->s.st[i]]);
		mvprintw(0, x, "%.*s", len < w - x - 1 ? len : w - x - 1, u->s.rc->stages[i].name);
		th_off(u, el_of[u->s.st[i]]);
		x += len;
		if (i + 1 < u->s.rc->nstages && x < w - 3) {
			th_on(u, TH_BORDER);
			mvprintw(0, x, " > ");
			th_off(u, TH_BORDER);
			x += 3;
		}
	}
	const char *state = u->s.ended ? (u->s.status ? "FAILED" : "DONE") : u->s.paused ? "PAUSED" : "RUNNING";
	th_on(u, u->s.paused ? TH_PAUSED : u->s.ended ? (u->s.status ? TH_FAILED : TH_DONE) : TH_RUNNING);
	mvprintw(1, 1, "%s", state);
	th_off(u, u->s.paused ? TH_PAUSED : u->s.ended ? (u->s.status ? TH_FAILED : TH_DONE) : TH_RUNNING);
	th_on(u, TH_TEXT);
	if (u->s.eval_total > 0) {
		/* an evaluation under way: its batches, not a frozen step */
		double per = u->s.eval_done > 0 ? (tui_now() - u->s.eval_t0) / (double)u->s.eval_done : -1;
		tui_fmt_duration(per > 0 && !u->s.paused ? per * (double)(u->s.eval_total - u->s.eval_done) : -1, eta,
		                 sizeof eta);
		put(1, 10, w - 11, "evaluating %s: batch %lld/%lld  ETA %s  elapsed %s", u->s.eval_what,
		    (long long)u->s.eval_done, (long long)u->s.eval_total, eta, el);
	} else {
		char toks[32] = "", line[400];
		if (live && u->s.tok_s > 0)
			snprintf(toks, sizeof toks, "  %.0f tok/s", u->s.tok_s);
		/* what does not fit goes: the rate, then the run's ETA, then the
		 * stage's number; step, ETA and elapsed stay */
		char stagek[24];
		snprintf(stagek, sizeof stagek, "stage %d/%d ", u->s.cur + 1, u->s.rc->nstages);
		for (int drop = 0; drop < 4; drop++) {
			snprintf(line, sizeof line, "%s%.48s  step %lld/%lld  ETA %s%s%s  elapsed %s", drop < 3 ? stagek : "",
			         u->s.cur >= 0 ? u->s.rc->stages[u->s.cur].name : "-", (long long)u->s.step,
			         (long long)u->s.total, eta, drop < 2 ? reta : "", drop < 1 ? toks : "", el);
			if ((int)strlen(line) <= w - 11)
				break;
		}
		put(1, 10, w - 11, "%s", line);
	}
	th_off(u, TH_TEXT);
}

/* braille cell bits: dots (col, row) with col 0..1, row 0..3 */
static const int braille_bit[2][4] = { { 0x01, 0x02, 0x04, 0x40 }, { 0x08, 0x10, 0x20, 0x80 } };

static const int series_el[4] = { TH_TEACHER, TH_TASK, TH_KD, TH_TOTAL };
static const char *const series_name[4] = { "teacher", "task", "kd", "total" };
/* without colours each series has its own glyph (the legend shows it) */
static const char series_glyph[4] = { 'o', '*', '+', '#' };

/* a y axis's labels, top to bottom, at column x */
static void y_axis(ui *u, int el, int y, int x, int ch, double lo, double hi)
{
	int nt = ch >= 8 ? 5 : ch >= 4 ? 3 : 2;
	th_on(u, el);
	for (int k = 0; k < nt; k++) {
		int row = (int)lround((double)k * (ch - 1) / (nt - 1));
		double v = hi - (hi - lo) * row / (ch - 1 > 0 ? ch - 1 : 1);
		char b[32];
		/* seven columns: three digits when they fit, two otherwise */
		if (snprintf(b, sizeof b, "%7.3g", u->logscale ? pow(10, v) : v) > 7)
			snprintf(b, sizeof b, "%7.2g", u->logscale ? pow(10, v) : v);
		mvprintw(y + 1 + row, x, "%.7s", b);
	}
	th_off(u, el);
}

static void draw_chart(ui *u, int y, int x, int h, int w)
{
	char title[160];
	snprintf(title, sizeof title, "losses %s%s%s [s]mooth lo[g] [w]indow", u->window_all ? "(run)" : "(stage)",
	         u->ema ? " ema" : "", u->logscale ? " log" : "");
	pane_box(u, PANE_CHART, y, x, h, w, title);
	/* rows: the plot, then the x axis's labels, then the legend */
	int ch = h - 4, cw = w - 10;
	if (ch < 2 || cw < 4)
		return;
	/* the points in view */
	int first = 0;
	if (!u->window_all)
		while (first < u->s.npts && u->s.stage_of_pt[first] != u->s.cur)
			first++;
	int n = u->s.npts - first;
	float *sm = malloc(sizeof(float) * 4 * (size_t)(n > 0 ? n : 1));
	int present[4] = { 0 };
	for (int s = 0; s < 4; s++) {
		float acc = NAN;
		for (int i = 0; i < n; i++) {
			float v = u->s.pts[first + i].v[s];
			if (u->ema && isfinite(v))
				acc = isfinite(acc) ? 0.9f * acc + 0.1f * v : v;
			float o = u->ema ? acc : v;
			if (u->logscale)
				o = o > 0 ? log10f(o) : NAN;
			/* kd is 0 in steps without a teacher: no point */
			if (s == 2 && v == 0.0f)
				o = NAN;
			sm[s * n + i] = o;
			present[s] |= isfinite(o);
		}
	}
	/* distillation's loss (~0.01) beside a task loss (~6): its own scale,
	 * on the right, when another series shares the plot */
	int kd_own = present[2] && !u->series_off[2] &&
	             ((present[0] && !u->series_off[0]) || (present[1] && !u->series_off[1]) ||
	              (present[3] && !u->series_off[3]));
	if (kd_own)
		cw -= 8;
	if (cw < 4) {
		free(sm);
		return;
	}
	double lo = INFINITY, hi = -INFINITY, klo = INFINITY, khi = -INFINITY, x0 = 0, x1 = 1;
	for (int s = 0; s < 4; s++) {
		if (u->series_off[s])
			continue;
		double *l = kd_own && s == 2 ? &klo : &lo, *hh = kd_own && s == 2 ? &khi : &hi;
		for (int i = 0; i < n; i++)
			if (isfinite(sm[s * n + i])) {
				*l = fmin(*l, sm[s * n + i]);
				*hh = fmax(*hh, sm[s * n + i]);
			}
	}
	if (n > 0) {
		x0 = u->s.pts[first].x;
		x1 = u->s.pts[u->s.npts - 1].x;
	}
	if (!(hi > lo)) {
		hi = (isfinite(hi) ? hi : 1) + 0.5;
		lo = hi - 1;
	}
	if (kd_own && !(khi > klo)) {
		double m = isfinite(khi) ? khi : 0.0;
		khi = m + (fabs(m) > 0 ? 0.1 * fabs(m) : 0.5);
		klo = m - (fabs(m) > 0 ? 0.1 * fabs(m) : 0.5);
	}
	if (x1 <= x0)
		x1 = x0 + 1;
	y_axis(u, TH_TEXT, y, x + 1, ch, lo, hi);
	if (kd_own)
		y_axis(u, TH_KD, y, x + 9 + cw + 1, ch, klo, khi);
	th_on(u, TH_TEXT);
	/* the x axis: steps, the stage's own in the stage window; in the run
	 * window, where each stage begins */
	if (u->window_all) {
		for (int i = 0; i < u->s.rc->nstages; i++) {
			double sx = i == 0 ? 0.0 : u->s.x_off[i];
			if ((i > 0 && sx == 0.0) || sx < x0 || sx > x1)
				continue;
			int c = (int)((sx - x0) / (x1 - x0) * (cw - 1) + 0.5);
			mvprintw(y + ch + 1, x + 9 + c, "|%.*s", cw - c - 1 > 0 ? cw - c - 1 : 0, u->s.rc->stages[i].name);
		}
	} else if (n > 0) {
		double off = u->s.cur >= 0 ? u->s.x_off[u->s.cur] : 0.0;
		mvprintw(y + ch + 1, x + 9, "%.0f", x0 - off);
		char b[32];
		int l = snprintf(b, sizeof b, "%.0f", (x0 + x1) / 2 - off);
		if (cw > 3 * l + 4)
			mvprintw(y + ch + 1, x + 9 + cw / 2 - l / 2, "%s", b);
		l = snprintf(b, sizeof b, "step %.0f", x1 - off);
		mvprintw(y + ch + 1, x + 9 + cw - l, "%s", b);
	}
	th_off(u, TH_TEXT);
	int gw = cw, gh = ch;
	unsigned char *cells = calloc((size_t)gw * gh, 1);
	unsigned char *owner = calloc((size_t)gw * gh, 1);
	for (int s = 0; s < 4; s++) {
		if (u->series_off[s])
			continue;
		double l = kd_own && s == 2 ? klo : lo, hh = kd_own && s == 2 ? khi : hi;
		int ppx = -1, ppy = -1;
		for (int i = 0; i < n; i++) {
			float v = sm[s * n + i];
			if (!isfinite(v)) {
				ppx = -1;
				continue;
			}
			int px = (int)((u->s.pts[first + i].x - x0) / (x1 - x0) * (gw * 2 - 1) + 0.5);
			int py = (int)((hh - v) / (hh - l) * (gh * 4 - 1) + 0.5);
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
	if (u->window_all)
		for (int i = 1; i < u->s.rc->nstages; i++) {
			double sx = u->s.x_off[i];
			if (sx == 0.0 || sx < x0 || sx > x1)
				continue;
			int c = (int)((sx - x0) / (x1 - x0) * (gw - 1) + 0.5);
			th_on(u, TH_BORDER);
			for (int r = 0; r < gh; r++)
				if (!cells[r * gw + c])
					mvaddch(y + 1 + r, x + 9 + c, ':');
			th_off(u, TH_BORDER);
		}
	for (int r = 0; r < gh; r++)
		for (int c = 0; c < gw; c++) {
			unsigned char b = cells[r * gw + c];
			if (!b)
				continue;
			int s = owner[r * gw + c] - 1, el = series_el[s];
			th_on(u, el);
			if (u->th.mono)   /* no colour tells the series apart: glyphs do */
				mvaddch(y + 1 + r, x + 9 + c, (chtype)series_glyph[s]);
			else if (u->th.braille) {
				wchar_t wc[2] = { (wchar_t)(0x2800 + b), 0 };
				mvaddnwstr(y + 1 + r, x + 9 + c, wc, 1);
			} else {
				mvaddch(y + 1 + r, x + 9 + c, (b & 0x0f) && (b & 0xf0) ? '#' : (b & 0x0f) ? ':' : '.');
			}
			th_off(u, el);
		}
	/* the legend: the series this window has, each with its last value;
	 * with the chart focused, Left/Right pick one and Enter hides it.
	 * Short names when the full ones do not fit. */
	static const char *const short_name[4] = { "tchr", "task", "kd", "tot" };
	double last[4];
	for (int s = 0; s < 4; s++) {
		last[s] = NAN;
		for (int i = n - 1; i >= 0 && !isfinite(last[s]); i--) {
			float v = u->s.pts[first + i].v[s];
			if (isfinite(v) && !(s == 2 && v == 0.0f))
				last[s] = v;
		}
	}
	for (int s = 0; s < 4; s++)
		u->series_have[s] = isfinite(last[s]);
	for (int brief = 0; brief < 2; brief++) {
		char items[4][64];
		int lens[4], total = 0;
		for (int s = 0; s < 4; s++) {
			lens[s] = 0;
			if (!isfinite(last[s]))
				continue;
			char mark[8];
			if (u->th.mono)
				snprintf(mark, sizeof mark, "%c%c", series_glyph[s], series_glyph[s]);
			else
				snprintf(mark, sizeof mark, "%s", u->th.braille ? "\u2824" : "-");
			const char *note = u->series_off[s] ? (brief ? " off" : " (hidden)")
			                   : kd_own && s == 2 ? (brief ? ">" : " (right)") : "";
			lens[s] = snprintf(items[s], sizeof items[s], "%s %s %.3g%s", u->series_off[s] ? "  " : mark,
			                   brief ? short_name[s] : series_name[s], last[s], note);
			if (u->th.braille && !u->th.mono && !u->series_off[s])
				lens[s] -= 2;   /* a braille character: three bytes, one column */
			total += lens[s] + 1;
		}
		if (!brief && total > w - 3)
			continue;
		int lx = x + 2;
		for (int s = 0; s < 4; s++) {
			if (!lens[s] || lx + lens[s] > x + w - 1)
				continue;
			int pick = u->focus == PANE_CHART && u->series_sel == s;
			th_on(u, pick ? TH_SELECTED : series_el[s]);
			mvprintw(y + h - 2, lx, "%s", items[s]);
			th_off(u, pick ? TH_SELECTED : series_el[s]);
			lx += lens[s] + 1;
		}
		break;
	}
	free(cells);
	free(owner);
	free(sm);
}

static const char *mat_short[POFA_ROLE_PRUNABLE_COUNT] = { "Q", "K", "V", "AO", "FFin", "FFout", "pool" };

static int heat_el(float s)
{
	int k = (int)(s * 5.0f);
	return TH_HEAT0 + (k < 0 ? 0 : k > 4 ? 4 : k);
}

static void draw_heat(ui *u, int y, int x, int h, int w)
{
	char ht[160];
	snprintf(ht, sizeof ht, "sparsity of %s [Enter] zoom",
	         u->s.sp_stage >= 0 && u->s.have_sp ? u->s.rc->stages[u->s.sp_stage].name : "the prunable matrices");
	pane_box(u, PANE_HEAT, y, x, h, w, ht);
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
	th_on(u, TH_TEXT);
	for (int m = 0; m < ncol; m++)
		mvprintw(y + 1, x + 1 + lw + m * cw, "%-*.*s", cw, cw - 1, mat_short[m]);
	th_off(u, TH_TEXT);
	int rows = u->s.nlayers > 0 ? u->s.nlayers : u->s.rc ? 1 : 0;
	for (int r = 0; r <= rows && y + 2 + r < y + h - 3; r++) {
		int row = r == rows ? TUI_MAXL : r;
		th_on(u, TH_TEXT);
		mvprintw(y + 2 + r, x + 2, r == rows ? "pool " : "L%-3d ", r);
		th_off(u, TH_TEXT);
		for (int m = 0; m < POFA_ROLE_PRUNABLE_COUNT; m++) {
			if ((r == rows) != (m == POFA_ROLE_POOLER))
				continue;
			int col = m == POFA_ROLE_POOLER ? 0 : m, cx = x + 1 + lw + col * cw;
			int sel = (r == u->sel_row && m == u->sel_col);
			int el = !u->s.have_sp ? TH_HEAT_EMPTY : heat_el(u->s.sp[row][m]);
			/* every cell visible: its value, or "-" before pruning, on its colour */
			th_on(u, sel ? TH_SELECTED : el);
			if (!u->s.have_sp)
				mvprintw(y + 2 + r, cx, "%-*s", cw - 1, "-");
			else if (cw >= 5)
				mvprintw(y + 2 + r, cx, "%3.0f%%%*s", 100.0 * u->s.sp[row][m], cw - 5, "");
			else
				mvprintw(y + 2 + r, cx, "%3.0f", 100.0 * u->s.sp[row][m]);
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
	int row = u->sel_row == rows ? TUI_MAXL : u->sel_row;
	if (!u->s.have_sp)
		put(y + h - 2, x + 2, w - 4, "not pruned yet: cells fill in when a stage prunes");
	else if (row == TUI_MAXL)
		put(y + h - 2, x + 2, w - 4, "pooler: nnz %lld/%lld sparsity %.2f%% target %.2f%% thr %.3g",
		    (long long)u->s.nnz[row][POFA_ROLE_POOLER], (long long)u->s.numel[row][POFA_ROLE_POOLER],
		    100.0 * u->s.sp[row][POFA_ROLE_POOLER], 100.0 * u->s.tg[row][POFA_ROLE_POOLER],
		    u->s.thr[row][POFA_ROLE_POOLER]);
	else   /* the selected cell named: layer and matrix */
		put(y + h - 2, x + 2, w - 4, "L%d %s: nnz %lld/%lld sparsity %.2f%% target %.2f%% thr %.3g", row,
		         mat_short[u->sel_col], (long long)u->s.nnz[row][u->sel_col],
		         (long long)u->s.numel[row][u->sel_col], 100.0 * u->s.sp[row][u->sel_col],
		         100.0 * u->s.tg[row][u->sel_col], u->s.thr[row][u->sel_col]);
	th_off(u, TH_TEXT);
}

/* the last classifier evaluation class by class: a model that predicts a
 * few classes only shows at once */
static void draw_classes(ui *u, int y, int x, int h, int w)
{
	const tui_classes *c = &u->s.cls;
	char title[200];
	snprintf(title, sizeof title, "evaluation per class: %s on %s/%s, step %lld [v] summary", c->model, c->task,
	         c->split, (long long)c->step);
	pane_box(u, PANE_EVAL, y, x, h, w, c->n ? title : "evaluation per class [v] summary");
	int line = y + 1;
	th_on(u, TH_TEXT);
	if (!c->n) {
		put(line, x + 2, w - 4, "no classifier evaluated yet");
		th_off(u, TH_TEXT);
		return;
	}
	int npred = 0;
	for (int k = 0; k < c->n; k++)
		npred += c->c[k].predicted > 0;
	put(line++, x + 2, w - 4, "predicts %d of %d classes%s", npred, c->n,
	    c->positive >= 0 ? "; f1 is the positive class's (*)" : "");
	if (line < y + h - 1)
		put(line++, x + 2, w - 4, "%-18s %6s %6s %6s %7s %7s", "class", "prec", "recall", "f1", "support", "pred");
	for (int k = 0; k < c->n && line < y + h - 1; k++) {
		if (line == y + h - 2 && k < c->n - 1) {
			put(line++, x + 2, w - 4, "... %d more classes in per_class.csv", c->n - k);
			break;
		}
		put(line++, x + 2, w - 4, "%-17.17s%s %6.1f %6.1f %6.1f %7lld %7lld", c->c[k].name,
		    k == c->positive ? "*" : " ", c->c[k].precision, c->c[k].recall, c->c[k].f1,
		    (long long)c->c[k].support, (long long)c->c[k].predicted);
	}
	th_off(u, TH_TEXT);
}

/* the evaluation table: the dev split's main metric of each model, grouped
 * by task (the task's line names the metric), with the model's sparsity
 * and, from eval stages, its sequences/s and speed-up over dense */
static void draw_eval(ui *u, int y, int x, int h, int w)
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
			snprintf(lines[nl], sizeof lines[0], " %-11.11s %7.3f %6s %6s %6s", v->model, v->v, pc, sp, up);
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
	pane_box(u, PANE_EVAL, y, x, h, w, title);
	if (h < 3)
		return;
	th_on(u, TH_TITLE);
	if (wide)
		put(y + 1, x + 2, w - 4, " %-14s %8s %7s %7s %8s %7s", "model", "value", "%first", "sparse", "seq/s",
		    "speedup");
	else
		put(y + 1, x + 2, w - 4, " %-11s %7s %6s %6s %6s", "model", "value", "%first", "sparse", "speed");
	th_off(u, TH_TITLE);
	th_on(u, TH_TEXT);
	if (!nl)
		put(y + 2, x + 2, w - 4, "results appear as stages finish");
	for (int i = 0; i < rows && u->eval_top + i < nl; i++) {
		int el = is_task[u->eval_top + i] ? TH_TITLE : TH_TEXT;
		th_on(u, el);
		put(y + 2 + i, x + 2, w - 4, "%s", lines[u->eval_top + i]);
		th_off(u, el);
	}
	th_off(u, TH_TEXT);
}

static void draw_sched(ui *u, int y, int x, int h, int w)
{
	pane_box(u, PANE_SCHED, y, x, h, w, "schedule [e]dit");
	const pofa_schedule *v = &u->s.sched;
	int i = u->s.sched_stage;
	th_on(u, TH_TEXT);
	if (i < 0) {
		put(y + 1, x + 2, w - 4, "waiting for the first stage");
	} else {
		put(y + 1, x + 2, w - 4, "%s (%s)  step %lld/%lld", u->s.rc->stages[i].name,
		    pofa_stage_kinds[v->kind], (long long)(i == u->s.cur ? u->s.step : 0), (long long)v->total);
		if (v->prune)
			put(y + 2, x + 2, w - 4, "GMP %.2f->%.2f start %lld end %lld every %lld freeze %lld", v->s_init,
			    v->s_final, (long long)v->t0, (long long)v->t1, (long long)v->every, (long long)v->freeze);
		else
			put(y + 2, x + 2, w - 4, "no pruning in this stage");
		if (h > 4)
			put(y + 3, x + 2, w - 4, "lr %.3g (peak %.3g)  KD %s  a_task %.2f a_kd %.2f T %.1f", u->s.lr,
			    v->lr, v->has_teacher ? "on" : "off", v->alpha_task, v->alpha_kd, v->temperature);
	}
	th_off(u, TH_TEXT);
}

static void draw_log(ui *u, int y, int x, int h, int w)
{
	int rows = h - 2;
	if (u->log_scroll < 0)
		u->log_scroll = 0;
	if (u->log_scroll > u->s.nlog - 1)
		u->log_scroll = u->s.nlog > 0 ? u->s.nlog - 1 : 0;
	int last = u->s.nlog - u->log_scroll;
	int first = last - rows;
	if (first < 0)
		first = 0;
	/* where the view is: following the newest, or lines a..b of n */
	char title[120];
	if (u->log_scroll == 0)
		snprintf(title, sizeof title, "events (following) [PgUp/PgDn Home/End /]");
	else
		snprintf(title, sizeof title, "events %d-%d of %d [End/F: follow]", first + 1, last, u->s.nlog);
	pane_box(u, PANE_LOG, y, x, h, w, title);
	for (int i = first; i < last; i++) {
		int el = u->s.logkind[i] == POFA_EV_ERROR ? TH_LOG_ERROR : TH_TEXT;
		int hit = u->search[0] && strstr(u->s.logl[i], u->search);
		th_on(u, hit ? TH_SELECTED : el);
		int len = (int)strlen(u->s.logl[i]);
		if (len > w - 2 && w > 6)   /* cut lines say so */
			mvprintw(y + 1 + i - first, x + 1, "%.*s...", w - 5, u->s.logl[i]);
		else
			mvprintw(y + 1 + i - first, x + 1, "%.*s", w - 2, u->s.logl[i]);
		th_off(u, hit ? TH_SELECTED : el);
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

static void draw_zoom(ui *u, int H, int W)
{
	int y, x, h, w;
	zoom_box(H, W, &y, &x, &h, &w);
	if (h < 6 || w < 20)
		return;
	th_on(u, TH_TEXT);
	for (int r = 0; r < h; r++)
		mvhline(y + r, x, ' ', w);
	th_off(u, TH_TEXT);
	int sl = u->sel_row, sc = u->sel_col;
	char what[32], title[160];
	if (sl == u->s.nlayers)
		snprintf(what, sizeof what, "the pooler");
	else
		snprintf(what, sizeof what, "L%d %s", sl, mat_short[sc]);
	snprintf(title, sizeof title, "mask of %s in %s [Esc] back", what,
	         u->s.sp_stage >= 0 ? u->s.rc->stages[u->s.sp_stage].name : "the model");
	box_title(u, y, x, h, w, title);
	tui_zoom_room(u);   /* the engine is asked for maps of this size */
	if (!u->s.zvalid || u->s.zlayer != (sl == u->s.nlayers ? -1 : sl) || (int)u->s.zrole != sc) {
		th_on(u, TH_TEXT);
		mvprintw(y + 1, x + 2, "waiting for the engine (next step)...");
		th_off(u, TH_TEXT);
		return;
	}
	static const char *shade = " .:-=+*#%@";
	for (int i = 0; i < u->s.zrows && i < h - 3; i++)
		for (int j = 0; j < u->s.zcols && j < w - 4; j++) {
			int kept = u->s.zgrid[i * u->s.zcols + j] - 1;
			th_on(u, heat_el(1.0f - kept / 100.0f));
			mvaddch(y + 1 + i, x + 2 + j, (chtype)shade[kept * 9 / 100]);
			th_off(u, heat_el(1.0f - kept / 100.0f));
		}
	th_on(u, TH_TEXT);
	put(y + h - 2, x + 2, w - 4, "%d x %d blocks; each = share kept in its block (' ' none, '@' all); sparsity %.2f%%",
	    u->s.zrows, u->s.zcols, 100.0 * u->s.sp[sl == u->s.nlayers ? TUI_MAXL : sl][sc]);
	th_off(u, TH_TEXT);
}

static void draw_help(ui *u, int H, int W)
{
	const char *keys[64], *help[64];
	int n = tui_bindings(keys, help, 64);
	int h = n + 4, w = 76;
	if (h > H - 2) h = H - 2;
	if (w > W - 2) w = W - 2;
	int y = (H - h) / 2, x = (W - w) / 2, rows = h - 4;
	if (rows < 1)
		return;
	/* it scrolls when the screen is shorter than the list */
	if (u->help_top > n - rows)
		u->help_top = n - rows;
	if (u->help_top < 0)
		u->help_top = 0;
	th_on(u, TH_HELP);
	for (int r = 0; r < h; r++)
		mvhline(y + r, x, ' ', w);
	th_off(u, TH_HELP);
	char title[80];
	if (rows < n)
		snprintf(title, sizeof title, "keys %d-%d of %d, Up/Down scroll (? or Esc closes)", u->help_top + 1,
		         u->help_top + rows, n);
	else
		snprintf(title, sizeof title, "keys (? or Esc closes)");
	box_title(u, y, x, h, w, title);
	th_on(u, TH_HELP);
	for (int i = 0; i < rows && u->help_top + i < n; i++)
		mvprintw(y + 2 + i, x + 2, "%-8s %.*s", keys[u->help_top + i], w - 13, help[u->help_top + i]);
	th_off(u, TH_HELP);
}

const char *const tui_form_names[] = { "final sparsity", "start step", "end step", "prune every",
                                     "freeze step", "learning rate", "KD weight", "temperature" };
_Static_assert(POFA_ARRAY_LEN(tui_form_names) == TUI_FORM_FIELDS, "a name per form field");

static void draw_form(ui *u, int H, int W)
{
	int h = 14, w = 56, y = (H - h) / 2, x = (W - w) / 2;
	if (h > H) h = H;
	th_on(u, TH_HELP);
	for (int r = 0; r < h; r++)
		mvhline(y + r, x, ' ', w);
	th_off(u, TH_HELP);
	box_title(u, y, x, h, w, "edit the schedule (Enter apply, Esc cancel)");
	int row = 0;
	for (int i = 0; i < 8 && row < h - 4; i++) {
		if (!tui_field_on(u, i))
			continue;   /* no pruning fields where the stage does not prune */
		int sel = i == u->field;
		th_on(u, sel ? TH_SELECTED : TH_HELP);
		mvprintw(y + 2 + row, x + 2, "%-16s %-20s", tui_form_names[i], u->fields[i]);
		th_off(u, sel ? TH_SELECTED : TH_HELP);
		if (sel) {   /* the cursor: the character under it reversed */
			int c = u->fcur < 0 ? 0 : u->fcur > (int)strlen(u->fields[i]) ? (int)strlen(u->fields[i]) : u->fcur;
			attron(A_REVERSE);
			mvaddch(y + 2 + row, x + 2 + 17 + c, u->fields[i][c] ? (chtype)(unsigned char)u->fields[i][c] : ' ');
			attroff(A_REVERSE);
		}
		row++;
	}
	th_on(u, TH_HELP);
	mvprintw(y + h - 3, x + 2, "Up/Down/Tab field  Left/Right/Home/End move");
	mvprintw(y + h - 2, x + 2, "Backspace/Delete edit  Enter apply");
	th_off(u, TH_HELP);
}

/* the form's values that changed, as a schedule edit */

/* ---- layout ----------------------------------------------------------------- */

void tui_draw(ui *u)
{
	int H, W;
	getmaxyx(stdscr, H, W);
	erase();
	if (H < TUI_MIN_H || W < TUI_MIN_W) {
		th_on(u, TH_TEXT);
		const char *l1 = "pofa: the terminal is too small";
		char l2[80];
		snprintf(l2, sizeof l2, "need %dx%d, have %dx%d", TUI_MIN_W, TUI_MIN_H, W, H);
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
	for (int k = 0; k < PANE_COUNT; k++)
		u->pane_h[k] = 0;   /* not drawn: no mouse there */
	if (u->maxed && u->show[u->focus]) {
		/* z: the focused pane alone in the body */
		switch (u->focus) {
		case PANE_CHART: draw_chart(u, top, 0, body, W); break;
		case PANE_HEAT: draw_heat(u, top, 0, body, W); break;
		case PANE_EVAL: draw_eval(u, top, 0, body, W); break;
		case PANE_SCHED: draw_sched(u, top, 0, body < 8 ? body : 8, W); break;
		default: draw_log(u, top, 0, body, W); break;
		}
	} else {
		/* left: chart over eval; right: heatmap, schedule, log; a column
		 * with nothing shown gives its room to the other */
		int lcol = u->show[PANE_CHART] || u->show[PANE_EVAL];
		int rcol = u->show[PANE_HEAT] || u->show[PANE_SCHED] || u->show[PANE_LOG];
		int left = !lcol ? 0 : rcol ? W * 11 / 20 : W, right = W - left;
		int lh_chart = !u->show[PANE_CHART] ? 0 : u->show[PANE_EVAL] ? body * 3 / 5 : body;
		if (u->show[PANE_CHART])
			draw_chart(u, top, 0, lh_chart, left);
		if (u->show[PANE_EVAL])
			draw_eval(u, top + lh_chart, 0, body - lh_chart, left);
		int ry = top;
		if (right > 0) {
			int hh = u->show[PANE_HEAT] ? (u->s.nlayers > 0 ? u->s.nlayers : 2) + 6 : 0;
			if (hh > body * 3 / 5 && u->show[PANE_LOG])
				hh = body * 3 / 5;
			if (hh > body)
				hh = body;
			int sh = u->show[PANE_SCHED] ? 5 : 0;
			if (!u->show[PANE_LOG] && u->show[PANE_SCHED] && !u->show[PANE_HEAT])
				sh = body < 8 ? body : 8;
			if (u->show[PANE_HEAT])
				draw_heat(u, ry, left, hh, right);
			ry += hh;
			if (u->show[PANE_SCHED] && bottom - ry >= sh)
				draw_sched(u, ry, left, sh, right);
			ry += sh;
			if (u->show[PANE_LOG] && bottom - ry > 2)
				draw_log(u, ry, left, bottom - ry, right);
		}
	}
	/* status line */
	th_on(u, TH_HEADER);
	mvhline(bottom, 0, ' ', W);
	if (u->mode == MODE_CONFIRM && u->ask == ASK_LR)
		mvprintw(bottom, 1, "lr %.3g is more than 10x this stage's peak (%.3g): apply? (y/n)", u->pending.edit.lr,
		         u->s.rc->stages[u->s.sched_stage].lr);
	else if (u->mode == MODE_CONFIRM)
		mvprintw(bottom, 1, "%s (y/n)", u->ask == ASK_SKIP ? "Skip to the next stage?" :
		         "Quit? The run is checkpointed; pofa run --resume continues it.");
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
		/* the focused pane's keys, then the run's (what a finished run
		 * still does); the run's shortened when the line is narrow */
		const char *run[3] = { u->s.ended ? "Tab focus  z max  ? help  x export  q quit"
		                                  : "Tab focus  z max  ? help  Space pause  e edit  x export  n skip  q quit",
		                       u->s.ended ? "? help  x export  q quit"
		                                  : "? help  Space pause  e edit  x export  n skip  q quit",
		                       "? help  q quit" };
		char line[400];
		for (int k = 0; k < 3; k++) {
			snprintf(line, sizeof line, "%s | %s", tui_pane_keys(u), run[k]);
			if ((int)strlen(line) <= W - 2)
				break;
		}
		mvprintw(bottom, 1, "%.*s", W - 2, line);
	}
	th_off(u, TH_HEADER);
	if (u->zoom)
		draw_zoom(u, H, W);
	if (u->help)
		draw_help(u, H, W);
	if (u->mode == MODE_FORM)
		draw_form(u, H, W);
	refresh();
}

/* ---- input -------------------------------------------------------------------- */
