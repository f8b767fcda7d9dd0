/*
 * ui.h - the workbench's insides, shared by its files:
 *
 *   state.c      the events folded into a snapshot (no curses)
 *   panes.c      the panes drawn from the snapshot, the layout, overlays
 *   input.c      the key bindings (one table for dispatch and help), the
 *                schedule form, the export prompt, confirmations, the mouse
 *   workbench.c  the loop: poll the keyboard and the engine, pump, draw
 *   theme.c      colour themes
 *
 * Only the UI thread calls curses. What the user looks at and where (the
 * view) lives here; what the run said lives in the snapshot.
 */
#ifndef POFA_TUI_UI_H
#define POFA_TUI_UI_H

#include "tui/work/conf.h"
#include "tui/work/state.h"
#include "tui/work/tui.h"

enum { PANE_CHART, PANE_HEAT, PANE_EVAL, PANE_SCHED, PANE_LOG, PANE_HEADER, PANE_COUNT };
_Static_assert(PANE_COUNT == TUI_PANES, "conf.c names the panes in this order");
enum { MODE_NORMAL, MODE_FORM, MODE_PROMPT, MODE_CONFIRM, MODE_SEARCH };
enum { ASK_SKIP, ASK_QUIT, ASK_LR };
#define TUI_MIN_W 80
#define TUI_MIN_H 24
#define TUI_FORM_FIELDS 8

typedef struct ui {
	pofa_run *r;                  /* commands go here */
	pofa_driver *d;               /* the run's files (export after the end) */
	tui_state s;                  /* what the events said */
	pofa_theme th;
	char theme_name[64];
	/* the view */
	int show[PANE_COUNT];
	int focus;                    /* the focused pane: keys act on it (PANE_CHART..PANE_LOG) */
	int maxed;                    /* z: the focused pane takes the whole body */
	int series_sel;               /* the chart's picked series (teacher, task, kd, total) */
	int series_off[4];            /* series hidden from the chart */
	int series_have[4];           /* series the chart's window has (as last drawn) */
	int pane_y[PANE_COUNT], pane_x[PANE_COUNT], pane_h[PANE_COUNT], pane_w[PANE_COUNT];  /* as drawn: the mouse */
	char conf_path[1024];         /* pofa.conf: the theme and the panes shown, remembered */
	int sel_row, sel_col, zoom, help, ema, logscale, window_all, log_scroll;
	int per_class;                /* the evaluation pane shows the last one class by class */
	int help_top;                 /* the help overlay's first line shown */
	int eval_top;                 /* the evaluation table's first line shown */
	int mode, ask;
	char fields[TUI_FORM_FIELDS][32];  /* the schedule form */
	int field, fcur;              /* the field, and the cursor in it */
	pofa_command pending;         /* an edit waiting for its confirmation */
	char prompt[512];             /* the export prompt */
	char search[64];              /* the event log's search ("": none); n/N move while set */
	char msg[256];                /* the status line */
	int mouse;
	int dirty;
	double last_draw;
	int quit_sent;
	int hm_y, hm_x, hm_cw;        /* heatmap cell positions, for the mouse */
	int zoom_rows, zoom_cols;     /* the mask map's room in the heatmap pane */
	int zoom_req_rows, zoom_req_cols;  /* the size last asked of the engine */
} ui;

/* panes.c */
void tui_draw(ui *u);
double tui_now(void);
extern const char *const tui_form_names[]; /* TUI_FORM_FIELDS of them */
/* workbench.c: an event into the snapshot and the status line */
void tui_take_event(void *arg, const pofa_event *e);
/* input.c */
/* does the running stage have form field i (pruning, distillation)? */
int tui_field_on(const ui *u, int i);
void tui_key(ui *u, int ch);
void tui_command(ui *u, enum pofa_cmd_kind kind);
/* asks the engine for the selected matrix's mask map, at the overlay's size */
void tui_request_mask(ui *u);
/* panes.c: the blocks the mask overlay has room for, into zoom_rows/cols */
void tui_zoom_room(ui *u);
/* the footer's keys for the focused pane, and the theme and panes
 * written to pofa.conf (a failure on the status line) */
const char *tui_pane_keys(const ui *u);
void tui_conf_remember(ui *u);
/* the help overlay lists the binding table */
int tui_bindings(const char **keys, const char **help, int cap);

#endif
