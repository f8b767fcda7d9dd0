/*
 * conf.c - what the workbench remembers between runs, as htop keeps its
 * htoprc: the last colour theme and which panes show, in
 * $XDG_CONFIG_HOME/pofa/pofa.conf (~/.config/pofa/pofa.conf), written
 * atomically whenever one of them changes. No curses here.
 */
#include "tui/work/conf.h"
#include "data/base/fileio.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const tui_pane_names[] = { "chart", "heatmap", "eval", "schedule", "log", "header" };
_Static_assert(POFA_ARRAY_LEN(tui_pane_names) == TUI_PANE_COUNT, "a name per pane");

void tui_conf_path(char *out, size_t n)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(out, n, "%s/pofa/pofa.conf", xdg);
	else
		snprintf(out, n, "%s/.config/pofa/pofa.conf", home && *home ? home : ".");
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t l = strlen(s);
	while (l > 0 && isspace((unsigned char)s[l - 1]))
		s[--l] = 0;
	return s;
}

int tui_conf_load(tui_conf *c, const char *path, pofa_err *err)
{
	memset(c, 0, sizeof *c);
	for (int k = 0; k < TUI_PANE_COUNT; k++)
		c->show[k] = 1;
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 1;
		return pofa_error(err, POFA_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
	}
	pofa_lines lr = { .f = f, .name = path, .max = 4096 };
	size_t len;
	int rc = 0, got;
	tui_conf t = *c;
	while (!rc && (got = pofa_lines_next(&lr, &len, err)) != 0) {
		long ln = lr.line;
		if (got < 0) {   /* a NUL byte, a line past 4 KiB, no memory: named */
			rc = pofa_error(err, err->status, "%s; remove the file to start afresh", err->msg);
			break;
		}
		char *s = trim(lr.buf);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: want key = value (theme, panes); remove the "
			                "file to start afresh", path, ln);
			break;
		}
		*eq = 0;
		char *key = trim(s), *val = trim(eq + 1);
		if (!strcmp(key, "theme")) {
			if (!*val || strlen(val) >= sizeof t.theme || strchr(val, '/')) {
				rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: theme wants a theme's name (pofa-theme(5))",
				                path, ln);
				break;
			}
			snprintf(t.theme, sizeof t.theme, "%s", val);
		} else if (!strcmp(key, "panes")) {
			/* the panes shown, by name; the others are hidden */
			int show[TUI_PANE_COUNT] = { 0 };
			for (char *w = strtok(val, " ,\t"); w && !rc; w = strtok(NULL, " ,\t")) {
				int k;
				for (k = 0; k < TUI_PANE_COUNT && strcmp(w, tui_pane_names[k]); k++)
					;
				if (k == TUI_PANE_COUNT)
					rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: no pane \"%s\" (chart heatmap eval schedule "
					                "log header)", path, ln, w);
				else
					show[k] = 1;
			}
			memcpy(t.show, show, sizeof show);
		} else {
			rc = pofa_error(err, POFA_ERR_INPUT, "%s:%ld: unknown key \"%s\" (theme, panes)", path, ln, key);
		}
	}
	pofa_lines_free(&lr);
	fclose(f);
	if (rc)
		return rc;
	*c = t;
	return 0;
}

int tui_conf_save(const tui_conf *c, const char *path, pofa_err *err)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		if (pofa_mkdirs(dir, err))
			return err->status;
	}
	char buf[512];
	int n = snprintf(buf, sizeof buf, "# the pofa workbench's settings, kept by pofa run (pofa(1))\n");
	if (c->theme[0])
		n += snprintf(buf + n, sizeof buf - (size_t)n, "theme = %s\n", c->theme);
	n += snprintf(buf + n, sizeof buf - (size_t)n, "panes =");
	for (int k = 0; k < TUI_PANE_COUNT; k++)
		if (c->show[k])
			n += snprintf(buf + n, sizeof buf - (size_t)n, " %s", tui_pane_names[k]);
	n += snprintf(buf + n, sizeof buf - (size_t)n, "\n");
	return pofa_write_atomic(path, buf, (size_t)n, err);
}
