/*
 * conf.h - the workbench's remembered settings (conf.c): the last theme and
 * the panes shown, in $XDG_CONFIG_HOME/pofa/pofa.conf.
 */
#ifndef POFA_TUI_CONF_H
#define POFA_TUI_CONF_H

#include "engine/pofa.h"

#include <stddef.h>

#define TUI_PANE_COUNT 6   /* chart, heatmap, eval, schedule, log, header: ui.h's PANE_ order */

extern const char *const tui_pane_names[]; /* TUI_PANE_COUNT of them */

typedef struct tui_conf {
	char theme[64];          /* "": none remembered */
	int show[TUI_PANE_COUNT];
} tui_conf;

/* $XDG_CONFIG_HOME/pofa/pofa.conf, or ~/.config/pofa/pofa.conf */
void tui_conf_path(char *out, size_t n);
/* 0; 1 when there is no file (c: every pane shown, no theme); or an error
 * naming file:line (c as when there is no file) */
int tui_conf_load(tui_conf *c, const char *path, pofa_err *err);
/* writes it atomically, making its folder */
int tui_conf_save(const tui_conf *c, const char *path, pofa_err *err);

#endif
