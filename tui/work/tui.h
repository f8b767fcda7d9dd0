/* tui.h - the terminal workbench and its colour themes. */
#ifndef POFA_TUI_H
#define POFA_TUI_H

#include "engine/run/driver.h"

/* semantic elements a theme colours; drawing code never names a colour */
enum {
	TH_TEXT, TH_BORDER, TH_TITLE, TH_HEADER, TH_HELP, TH_SELECTED,
	TH_WAITING, TH_RUNNING, TH_PAUSED, TH_DONE, TH_FAILED,
	TH_TEACHER, TH_TASK, TH_KD, TH_TOTAL, TH_KD_HIDDEN,
	TH_HEAT0, TH_HEAT1, TH_HEAT2, TH_HEAT3, TH_HEAT4, TH_HEAT_EMPTY,
	TH_LOG_ERROR,
	TH_BACKGROUND,     /* the screen's own colours; elements with "default" take them */
	TH_COUNT
};
extern const char *const pofa_theme_elements[]; /* TH_COUNT of them */

typedef struct pofa_theme_entry {
	short fg256, bg256, fg8, bg8;  /* -1: the terminal's default */
	int attrs;                     /* A_BOLD, A_REVERSE, A_UNDERLINE */
	int set;
} pofa_theme_entry;

typedef struct pofa_theme {
	char name[64];
	char path[1024];
	pofa_theme_entry e[TH_COUNT];
	int mono;          /* NO_COLOR, --no-color, or a terminal without colours */
	int braille;       /* a UTF-8 locale: braille charts, else block characters */
	int started;
} pofa_theme;

void pofa_theme_default(pofa_theme *t);
/* by name (or a path): $XDG_CONFIG_HOME/pofa/themes, then the installed
 * folder, then themes/ of the source tree. A malformed file is an error
 * naming file:line. */
int pofa_theme_load(pofa_theme *t, const char *name, int no_color, pofa_err *err);
/* the themes there are: the four built in, then every NAME.theme of the
 * folders pofa_theme_load looks in, each name once, sorted; how many */
int pofa_theme_list(char (*names)[64], int cap);
/* t becomes the theme name (and is applied when the screen has started) */
int pofa_theme_switch(pofa_theme *t, const char *name, pofa_err *err);
void pofa_theme_start(pofa_theme *t);
void pofa_theme_apply(pofa_theme *t);
int pofa_theme_attr(const pofa_theme *t, int el);
void pofa_theme_free(pofa_theme *t);

typedef struct tui_opts {
	const char *theme;
	int no_color, mouse, exit_at_end;
	int tty;   /* the terminal's descriptor when it is not standard input and
	              output (rank 0 under mpirun: /dev/tty); 0: those */
} tui_opts;

/* Runs the workbench on an opened driver until the run ends (or the user
 * quits: *stopped). Returns 0, or an error when the run cannot start. The
 * caller closes the driver. */
int tui_run(pofa_driver *d, const tui_opts *o, int *stopped, pofa_err *err);

#endif
