/*
 * theme.c - colour themes (man pofa-theme(5)): semantic element names mapped
 * to colours, "element = FG [BG] [bold] [reverse] [underline]", a colour
 * being a name (black red green yellow blue magenta cyan white default), a
 * 256-colour number, or "N/name": N on 256-colour terminals, name on 8.
 */
#include "tui/work/tui.h"
#include "data/base/fileio.h"

#include <curses.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef POFA_THEMEDIR
#define POFA_THEMEDIR "/usr/local/share/pofa/themes"
#endif

const char *const pofa_theme_elements[] = {
	"text", "border", "title", "header", "help", "selected",
	"status_waiting", "status_running", "status_paused", "status_done", "status_failed",
	"chart_teacher", "chart_task", "chart_kd", "chart_total", "chart_kd_hidden",
	"heatmap_0", "heatmap_1", "heatmap_2", "heatmap_3", "heatmap_4", "heatmap_empty",
	"log_error", "background",
};
_Static_assert(POFA_ARRAY_LEN(pofa_theme_elements) == TH_COUNT, "theme elements");

static const char *const builtin_order[] = { "default", "light", "high-contrast", "mono" };

static const char *const colours[] = { "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white" };

static int parse_colour(const char *s, short *c256, short *c8)
{
	if (!strcmp(s, "default")) {
		*c256 = *c8 = -1;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		if (!strcmp(s, colours[i])) {
			*c256 = *c8 = (short)i;
			return 0;
		}
	char *end;
	long n = strtol(s, &end, 10);
	if (end != s && n >= 0 && n <= 255) {
		*c256 = (short)n;
		*c8 = (short)(n < 8 ? n : n < 16 ? n - 8 : 7);
		if (*end == '/') {
			short a, b;
			if (parse_colour(end + 1, &a, &b) || a > 7)
				return -1;
			*c8 = b;
			return 0;
		}
		return *end ? -1 : 0;
	}
	return -1;
}

/* the default (dark) theme, compiled in: it needs no file */
void pofa_theme_default(pofa_theme *t)
{
	static const char *const lines[TH_COUNT] = {
		"white", "8/white", "39/cyan bold", "white 24/blue", "white 236/black", "black 214/yellow",
		"245/white", "46/green bold", "214/yellow bold", "39/cyan", "196/red bold",
		"141/magenta", "46/green", "214/yellow", "39/cyan", "209/red",
		"black 28/green", "black 148/green", "black 220/yellow", "black 208/red", "white 160/red",
		"245/white", "196/red bold", "default",
	};
	memset(t->e, 0, sizeof t->e);
	snprintf(t->name, sizeof t->name, "default");
	for (int i = 0; i < TH_COUNT; i++) {
		char buf[64];
		snprintf(buf, sizeof buf, "%s", lines[i]);
		char *fg = strtok(buf, " "), *bg = strtok(NULL, " "), *at = strtok(NULL, " ");
		if (bg && !strcmp(bg, "bold")) {
			at = bg;
			bg = NULL;
		}
		parse_colour(fg, &t->e[i].fg256, &t->e[i].fg8);
		t->e[i].bg256 = t->e[i].bg8 = -1;
		if (bg)
			parse_colour(bg, &t->e[i].bg256, &t->e[i].bg8);
		t->e[i].attrs = at ? A_BOLD : 0;
		t->e[i].set = 1;
	}
}

/* where themes are looked for, in order: the user's folder, the installed
 * one, beside the program (../themes of bin/pofa in a source tree,
 * ../share/pofa/themes of an install under another prefix), themes/ of
 * the current folder; an empty entry is skipped */
static void theme_dirs(char dirs[5][1000])
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(dirs[0], 1000, "%.900s/pofa/themes", xdg);
	else
		snprintf(dirs[0], 1000, "%.900s/.config/pofa/themes", home ? home : ".");
	snprintf(dirs[1], 1000, "%s", POFA_THEMEDIR);
	char exe[900] = "";
	dirs[2][0] = dirs[3][0] = 0;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len > 0) {
		exe[len] = 0;
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
		snprintf(dirs[2], 1000, "%s/../themes", exe);
		snprintf(dirs[3], 1000, "%s/../share/pofa/themes", exe);
	}
	snprintf(dirs[4], 1000, "themes");
}

static int find_file(const char *name, char *out, size_t n)
{
	if (strchr(name, '/')) {
		snprintf(out, n, "%s", name);
		return access(out, R_OK);
	}
	if (strlen(name) > 63)
		return -1;   /* no theme's file is named so */
	char dirs[5][1000];
	theme_dirs(dirs);
	for (int i = 0; i < 5; i++) {
		if (!dirs[i][0])
			continue;
		snprintf(out, n, "%.900s/%.63s.theme", dirs[i], name);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

int pofa_theme_list(char (*names)[64], int cap)
{
	int n = 0;
	for (int i = 0; i < 4 && n < cap; i++)
		snprintf(names[n++], 64, "%s", builtin_order[i]);
	char dirs[5][1000];
	theme_dirs(dirs);
	int first = n;
	for (int d = 0; d < 5; d++) {
		DIR *dir = dirs[d][0] ? opendir(dirs[d]) : NULL;
		struct dirent *e;
		while (dir && (e = readdir(dir)) && n < cap) {
			size_t l = strlen(e->d_name);
			if (e->d_name[0] == '.' || l <= 6 || l - 6 >= 64 || strcmp(e->d_name + l - 6, ".theme"))
				continue;
			char name[64];
			snprintf(name, sizeof name, "%.*s", (int)(l - 6), e->d_name);
			int seen = 0;
			for (int k = 0; k < n && !seen; k++)
				seen = !strcmp(names[k], name);
			if (!seen)
				snprintf(names[n++], 64, "%s", name);
		}
		if (dir)
			closedir(dir);
	}
	qsort(names + first, (size_t)(n - first), sizeof *names, by_name);
	return n;
}

int pofa_theme_load(pofa_theme *t, const char *name, int no_color, pofa_err *err)
{
	memset(t, 0, sizeof *t);
	pofa_theme_default(t);
	const char *nc = getenv("NO_COLOR");
	t->mono = no_color || (nc && *nc);
	if (!name || !*name || !strcmp(name, "default")) {
		if (find_file("default", t->path, sizeof t->path))
			return 0;   /* the compiled-in default */
		name = "default";
	}
	if (!strcmp(name, "mono"))
		t->mono = 1;
	if (find_file(name, t->path, sizeof t->path))
		return pofa_error(err, POFA_ERR_INPUT, "theme %s: no %s.theme in $XDG_CONFIG_HOME/pofa/themes, "
		                  "%s, beside the program (../themes, ../share/pofa/themes) or themes/", name, name,
		                  POFA_THEMEDIR);
	FILE *f = fopen(t->path, "r");
	if (!f)
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot open", t->path);
	pofa_lines lr = { .f = f, .name = t->path };
	size_t len;
	int got;
	pofa_theme tmp = *t;
	snprintf(tmp.name, sizeof tmp.name, "%s", name);
	int rc = 0;
	while ((got = pofa_lines_next(&lr, &len, err)) > 0) {
		long ln = lr.line;
		char *s = lr.buf;
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#' || *s == ';')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: want element = colour", t->path, ln);
			break;
		}
		*eq = 0;
		char key[64];
		if (sscanf(s, "%63s", key) != 1) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: no element name", t->path, ln);
			break;
		}
		if (!strcmp(key, "name"))
			continue;
		int el = -1;
		for (int i = 0; i < TH_COUNT; i++)
			if (!strcmp(key, pofa_theme_elements[i]))
				el = i;
		if (el < 0) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: unknown element \"%s\" (see pofa-theme(5))",
			                t->path, ln, key);
			break;
		}
		pofa_theme_entry e = { -1, -1, -1, -1, 0, 1 };
		int words = 0;
		for (char *w = strtok(eq + 1, " \t\r\n"); w && !rc; w = strtok(NULL, " \t\r\n")) {
			if (*w == '#')
				break;
			if (!strcmp(w, "bold"))
				e.attrs |= A_BOLD;
			else if (!strcmp(w, "reverse"))
				e.attrs |= A_REVERSE;
			else if (!strcmp(w, "underline"))
				e.attrs |= A_UNDERLINE;
			else if (words == 0 && !parse_colour(w, &e.fg256, &e.fg8))
				words++;
			else if (words == 1 && !parse_colour(w, &e.bg256, &e.bg8))
				words++;
			else
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: \"%s\" is not a colour or an attribute",
				                t->path, ln, w);
		}
		if (!rc && !words)
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: %s needs a colour", t->path, ln, key);
		if (rc)
			break;
		tmp.e[el] = e;
	}
	if (got < 0)
		rc = err->status;   /* a NUL byte, a line past 1 MiB, no memory: named */
	pofa_lines_free(&lr);
	fclose(f);
	if (rc)
		return rc;
	*t = tmp;
	return 0;
}

int pofa_theme_attr(const pofa_theme *t, int el)
{
	if (t->mono) {
		/* monochrome: attributes carry the meaning */
		switch (el) {
		case TH_HEADER: case TH_SELECTED: case TH_HEAT3: case TH_HEAT4: return A_REVERSE;
		case TH_TITLE: case TH_RUNNING: case TH_FAILED: case TH_LOG_ERROR: return A_BOLD;
		case TH_PAUSED: return A_BOLD | A_UNDERLINE;
		case TH_WAITING: case TH_HEAT_EMPTY: return A_DIM;
		default: return A_NORMAL;
		}
	}
	return COLOR_PAIR(el + 1) | t->e[el].attrs;
}

void pofa_theme_apply(pofa_theme *t)
{
	if (!t->started)
		return;
	if (t->mono) {
		bkgd(A_NORMAL);
		return;
	}
	/* a theme that sets its background (light) paints the whole screen
	 * with it, and its elements' "default" colours are the background's:
	 * it reads the same on a dark terminal */
	int many = COLORS >= 256;
	const pofa_theme_entry *b = &t->e[TH_BACKGROUND];
	short bfg = many ? b->fg256 : b->fg8, bbg = many ? b->bg256 : b->bg8;
	for (int i = 0; i < TH_COUNT; i++) {
		short fg = many ? t->e[i].fg256 : t->e[i].fg8, bg = many ? t->e[i].bg256 : t->e[i].bg8;
		init_pair((short)(i + 1), fg < 0 ? bfg : fg, bg < 0 ? bbg : bg);
	}
	bkgd(COLOR_PAIR(TH_BACKGROUND + 1) | ' ');
}

void pofa_theme_start(pofa_theme *t)
{
	t->started = 1;
	t->braille = MB_CUR_MAX > 1;
	if (t->mono || !has_colors()) {
		t->mono = 1;
		return;
	}
	start_color();
	use_default_colors();
	pofa_theme_apply(t);
}

int pofa_theme_switch(pofa_theme *t, const char *name, pofa_err *err)
{
	pofa_theme nt;
	int started = t->started, braille = t->braille;
	int rc = pofa_theme_load(&nt, name, 0, err);
	if (rc)
		return rc;
	snprintf(nt.name, sizeof nt.name, "%s", name);
	nt.started = started;
	nt.braille = braille;
	if (!nt.mono && started && !has_colors())
		nt.mono = 1;
	if (!nt.mono && started && t->mono && has_colors()) {
		start_color();
		use_default_colors();
	}
	*t = nt;
	pofa_theme_apply(t);
	return 0;
}

void pofa_theme_free(pofa_theme *t) { (void)t; }
