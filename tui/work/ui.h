/*
 * ui.h - the workbench's insides, shared by its files:
 *
 *   state.c      the events folded into a snapshot (no curses)
 *   layout.c     the pane table, and the layout, footer and overlays over it
 *   panes.c      the panes drawn from the snapshot, and the overlays
 *   chart.c      the loss chart pane
 *   draw.c       what drawing shares: theme elements, clipped text, boxes
 *   input.c      the key bindings (one table for dispatch and help), each
 *                pane's arrows, Enter, wheel and click, the schedule form,
 *                the export prompt, confirmations, the mouse
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
_Static_assert(PANE_COUNT == TUI_PANE_COUNT, "conf.c names the panes in this order");
enum { MODE_NORMAL, MODE_FORM, MODE_PROMPT, MODE_CONFIRM, MODE_SEARCH, MODE_THEME };
enum { ASK_SKIP, ASK_QUIT, ASK_LR };
#define TUI_MIN_W 80
#define TUI_MIN_H 24
#define TUI_FORM_FIELD_COUNT 8

typedef struct ui {
	pofa_run *r;                  /* commands go here */
	pofa_driver *d;               /* the run's files (export after the end) */
	tui_state s;                  /* what the events said */
	pofa_theme th;
	char theme_name[64];
	char theme_list[32][64];      /* the theme picker (t): the themes there are */
	int theme_n, theme_sel;       /* ... how many, the one shown */
	char theme_was[64];           /* ... the theme before it opened (Esc goes back) */
	/* the view */
	int show[PANE_COUNT];
	int focus;                    /* the focused pane: keys act on it (PANE_CHART..PANE_LOG) */
	int maxed;                    /* z: the focused pane takes the whole body */
	int series_sel;               /* the chart's picked series (TUI_S_*) */
	int series_off[TUI_SERIES_COUNT];            /* series hidden from the chart */
	int series_have[TUI_SERIES_COUNT];           /* series the chart's window has (as last drawn) */
	int pane_y[PANE_COUNT], pane_x[PANE_COUNT], pane_h[PANE_COUNT], pane_w[PANE_COUNT];  /* as drawn: the mouse */
	char conf_path[1024];         /* pofa.conf: the theme and the panes shown, remembered */
	int sel_row, sel_col, zoom, help, ema, logscale, window_all, log_scroll;
	int log_wrap;                 /* the event log wraps long lines (W) instead of cutting them */
	int per_class;                /* the evaluation pane shows the last one class by class */
	int cls_top, cls_sort;        /* per class: the first row shown; the column sorted by (o) */
	int help_top;                 /* the help overlay's first line shown */
	char help_q[32];              /* the help overlay's filter, as typed */
	int eval_top;                 /* the evaluation table's first line shown */
	int mode, ask;
	char fields[TUI_FORM_FIELD_COUNT][32];  /* the schedule form */
	int field, fcur;              /* the field, and the cursor in it */
	int form_wait;                /* an edit sent from the form: it stays open until the engine answers */
	int ckpt_asked;               /* c pressed: the status line waits for the checkpoint */
	int form_bad;                 /* the field a refusal names (-1: none) */
	char form_why[200];           /* ... and why, shown in the form */
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

/* ---- the pane table (layout.c): layout, focus, maximise, hide, the mouse
 * and the footer loop over it; a new pane is a row ---------------------------- */
typedef struct tui_pane {
	const char *keys;         /* the footer's words for its keys: "[chart] Left/Right ..." */
	void (*draw)(ui *u, int y, int x, int h, int w);
	void (*arrow)(ui *u, int dy, int dx);   /* the arrows when focused (NULL: none) */
	void (*enter)(ui *u);                   /* Enter when focused (NULL: none) */
	void (*wheel)(ui *u, int up);           /* the mouse wheel over it (NULL: none) */
	void (*click)(ui *u, int y, int x);     /* a click in it, after the focus (NULL: none) */
	int column;               /* 0 left, 1 right; -1 the header, above both */
	/* the rows it wants of a column body rows high with n panes shown (0 or
	 * NULL: a share of what the others leave) */
	int (*height)(const ui *u, int body, int n);
	int min_h, max_h;         /* fewer rows: not drawn; more: not taken (0: no limit) */
	char focus_key;           /* the key that focuses it ('1'...; 0: not focusable) */
} tui_pane;
extern const tui_pane tui_panes[]; /* PANE_COUNT of them */

void tui_draw(ui *u);
/* the per-class table's order: its row indices sorted by column `by`
 * (0 the file's order, then F1, support, precision, recall, predicted;
 * largest first, ties in the file's order); returns the row count */
int tui_class_order(const tui_classes *c, int by, int *idx);
extern const char *const tui_class_sorts[6];
/* the footer's keys for the focused pane */
const char *tui_pane_keys(const ui *u);
/* the question a y answers, said before it is done (the stage and step it acts on) */
const char *tui_confirm_text(ui *u);

/* ---- drawing (draw.c, panes.c, chart.c) --------------------------------------- */
double tui_now(void);
void tui_th_on(ui *u, int el);
void tui_th_off(ui *u, int el);
/* mvprintw clipped to w columns: text never spills out of its pane */
void tui_put(int y, int x, int w, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void tui_box_el(ui *u, int y, int x, int h, int w, const char *title, int title_el);
/* an overlay's box blanked in element el's colours */
void tui_clear_box(ui *u, int el, int y, int x, int h, int w);
void tui_box_title(ui *u, int y, int x, int h, int w, const char *title);
/* a pane's box: where it is (for the mouse), its title marked when focused */
void tui_pane_box(ui *u, int pane, int y, int x, int h, int w, const char *title);
/* text from a run (a label, a log line) for a cell width columns wide: its
 * control characters shown (text.h), cut and padded by columns, not bytes */
int tui_text_cell(char *out, size_t cap, const char *s, int width);
void tui_draw_header(ui *u, int w);
void tui_draw_chart(ui *u, int y, int x, int h, int w);
void tui_draw_heat(ui *u, int y, int x, int h, int w);
void tui_draw_eval(ui *u, int y, int x, int h, int w);
void tui_draw_sched(ui *u, int y, int x, int h, int w);
void tui_draw_log(ui *u, int y, int x, int h, int w);
void tui_draw_zoom(ui *u, int H, int W);
void tui_draw_help(ui *u, int H, int W);
void tui_draw_themes(ui *u, int H, int W);
void tui_draw_form(ui *u, int H, int W);
/* the engine refused the form's edit (why: its reason): the form stays */
void tui_form_refused(ui *u, const char *why);
/* After an Esc from curses: the rest of an escape sequence curses did not
 * know (a terminal whose Home/End differ from its terminfo's), read with
 * next (-1: no more input), as the key it stands for; -1 for a CSI or SS3
 * sequence to ignore (never read as keys one by one); 27 for Esc, with
 * *then the key that came right after it (-1: none) to take next. */
int tui_escape_key(int (*next)(void *), void *arg, int *then);
extern const char *const tui_form_names[]; /* TUI_FORM_FIELD_COUNT of them */
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
/* each pane's handlers, rows of the pane table */
void tui_chart_arrow(ui *u, int dy, int dx);
void tui_chart_enter(ui *u);
void tui_heat_arrow(ui *u, int dy, int dx);
void tui_heat_enter(ui *u);
void tui_heat_click(ui *u, int y, int x);
void tui_eval_arrow(ui *u, int dy, int dx);
void tui_eval_wheel(ui *u, int up);
void tui_sched_enter(ui *u);
void tui_log_arrow(ui *u, int dy, int dx);
void tui_log_wheel(ui *u, int up);
/* the theme and panes written to pofa.conf (a failure on the status line) */
void tui_conf_remember(ui *u);
/* the help overlay lists the binding table and what is not a binding
 * (Ctrl-C, the mouse): those rows whose keys or words hold filter (any
 * case; NULL or "": all) */
int tui_bindings(const char **keys, const char **help, int cap, const char *filter);

#endif
