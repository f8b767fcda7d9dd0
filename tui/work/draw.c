/*
 * draw.c - what every pane's drawing shares: theme elements on and off,
 * text clipped to its pane, boxes with their titles, the clock.
 */
#include "tui/work/ui.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <utf8proc.h>

#include "data/base/text.h"

double tui_now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

void tui_th_on(ui *u, int el) { attron(pofa_theme_attr(&u->th, el)); }
void tui_th_off(ui *u, int el) { attroff(pofa_theme_attr(&u->th, el)); }

/* mvprintw clipped to w columns: text never spills out of its pane */
void tui_put(int y, int x, int w, const char *fmt, ...)
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

void tui_box_el(ui *u, int y, int x, int h, int w, const char *title, int title_el)
{
	if (h < 2 || w < 4)
		return;
	tui_th_on(u, TH_BORDER);
	mvhline(y, x + 1, ACS_HLINE, w - 2);
	mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
	mvvline(y + 1, x, ACS_VLINE, h - 2);
	mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
	mvaddch(y, x, ACS_ULCORNER);
	mvaddch(y, x + w - 1, ACS_URCORNER);
	mvaddch(y + h - 1, x, ACS_LLCORNER);
	mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
	tui_th_off(u, TH_BORDER);
	tui_th_on(u, title_el);
	int room = w - 6, len = (int)strlen(title);
	if (len <= room) {
		tui_put(y, x + 2, w - 4, " %s ", title);
	} else if (room > 4) {
		/* cut at the last space that leaves room for "..." */
		int cut = room - 3;
		while (cut > 0 && title[cut] != ' ')
			cut--;
		if (cut <= 0)
			cut = room - 3;
		tui_put(y, x + 2, w - 4, " %.*s... ", cut, title);
	}
	tui_th_off(u, title_el);
}

/* an overlay's box */
void tui_clear_box(ui *u, int el, int y, int x, int h, int w)
{
	tui_th_on(u, el);
	for (int r = 0; r < h; r++)
		mvhline(y + r, x, ' ', w);
	tui_th_off(u, el);
}

void tui_box_title(ui *u, int y, int x, int h, int w, const char *title)
{
	tui_box_el(u, y, x, h, w, title, TH_TITLE);
}

/* a pane's box: where it is (for the mouse), its title marked when the
 * pane has the focus */
void tui_pane_box(ui *u, int pane, int y, int x, int h, int w, const char *title)
{
	u->pane_y[pane] = y, u->pane_x[pane] = x, u->pane_h[pane] = h, u->pane_w[pane] = w;
	tui_box_el(u, y, x, h, w, title, u->focus == pane ? TH_SELECTED : TH_TITLE);
}

int tui_text_cell(char *out, size_t cap, const char *s, int width)
{
	char esc[1024];
	pofa_esc_term_str(esc, sizeof esc, s);
	size_t o = 0;
	int cols = 0;
	long n = (long)strlen(esc);
	for (long i = 0; i < n && cap > 1;) {
		int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)esc + i, n - i, &c);
		int w = k > 0 ? utf8proc_charwidth(c) : 1;
		if (k <= 0)
			k = 1;
		if (cols + w > width || o + (size_t)k + 1 > cap)
			break;
		memcpy(out + o, esc + i, (size_t)k);
		o += (size_t)k;
		cols += w;
		i += k;
	}
	while (cols < width && o + 1 < cap)
		out[o++] = ' ', cols++;
	if (cap)
		out[o] = 0;
	return cols;
}
