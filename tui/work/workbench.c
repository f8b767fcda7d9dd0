/*
 * workbench.c - pofa run on a terminal: the loop of the ncurses workbench.
 *
 * The engine runs in its own thread; only this (the UI) thread calls curses.
 * The loop poll()s the keyboard and the engine's wake-up pipe, pumps the
 * events through the run driver (the CSV files, as headless) into the
 * snapshot (state.c), and redraws from the snapshot at most ten times a
 * second. Commands go back through the engine's queue, applied at the next
 * step boundary.
 */
#include "tui/work/ui.h"
#include "tui/cli.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* the next input byte already there (-1: none) */
static int next_byte(void *arg)
{
	(void)arg;
	int c = getch();
	return c == ERR ? -1 : c;
}

void tui_take_event(void *arg, const pofa_event *e)
{
	ui *u = arg;
	tui_state_take(&u->s, e);
	/* an export's result, or why it failed, on the status line too; and
	 * a schedule edit's answer: applied, or refused and why */
	if ((e->kind == POFA_EV_EXPORT) || (e->kind == POFA_EV_ERROR && !strncmp(e->text, "export to ", 10)))
		snprintf(u->msg, sizeof u->msg, "%.250s", e->text);
	if (e->kind == POFA_EV_SCHEDULE) {
		snprintf(u->msg, sizeof u->msg, "schedule edit applied at step %lld: %.200s", (long long)e->step, e->text);
		if (u->form_wait && u->mode == MODE_FORM)
			u->mode = MODE_NORMAL;
		u->form_wait = 0;
	}
	if (e->kind == POFA_EV_CHECKPOINT && u->ckpt_asked) {   /* c's answer */
		u->ckpt_asked = 0;
		snprintf(u->msg, sizeof u->msg, "checkpoint written at step %lld: %.200s", (long long)e->step, e->text);
	}
	if (e->kind == POFA_EV_ERROR && u->ckpt_asked && strstr(e->text, "checkpoint")) {
		u->ckpt_asked = 0;
		snprintf(u->msg, sizeof u->msg, "%.250s", e->text);
	}
	/* the mask on screen follows the pruning */
	if (e->kind == POFA_EV_PRUNE && u->zoom)
		tui_request_mask(u);
	if (e->kind == POFA_EV_LOG && !strncmp(e->text, "schedule edit refused: ", 23)) {
		snprintf(u->msg, sizeof u->msg, "refused: %.240s", e->text + 23);
		if (u->form_wait && u->mode == MODE_FORM)
			tui_form_refused(u, e->text + 23);
	}
	u->dirty = 1;
}

static void start_curses(ui *u, int tty)
{
	if (tty > 0) {
		/* a terminal of its own (rank 0 under mpirun): curses on it */
		FILE *f = fdopen(dup(tty), "r+");
		if (!f || !newterm(NULL, f, f)) {
			fprintf(stderr, "pofa: cannot start the workbench on the terminal\n");
			exit(1);
		}
	} else {
		initscr();
	}
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
		mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
}

int tui_run(pofa_driver *d, const tui_opts *o, int *stopped, pofa_err *err)
{
	ui *u = calloc(1, sizeof *u);
	pofa_config pc;
	const pofa_recipe *rc = pofa_run_recipe(d->run);
	int nlayers = rc->preset[0] && !pofa_config_preset(&pc, rc->preset, err) ? pc.num_hidden_layers : 0;
	if (!u || tui_state_init(&u->s, rc, d->stage, nlayers)) {
		free(u);
		return pofa_error(err, POFA_ERR_RUN, "out of memory for the workbench");
	}
	u->r = d->run;
	u->d = d;
	u->s.t_start = tui_now();
	if (d->resume)   /* the run so far: chart, heatmap, evaluations, log, clock */
		u->s.t_start -= tui_state_replay(&u->s, d->dir);
	/* what the last run left in pofa.conf: the theme (--theme wins) and
	 * the panes shown; a damaged file is said in the log and replaced */
	tui_conf conf;
	char conferr[1100] = "";
	tui_conf_path(u->conf_path, sizeof u->conf_path);
	if (tui_conf_load(&conf, u->conf_path, err) > 1)
		snprintf(conferr, sizeof conferr, "%s; the defaults are used", err->msg);
	memcpy(u->show, conf.show, sizeof u->show);
	u->focus = PANE_HEAT;
	if (!u->show[u->focus])
		for (int k = PANE_LOG; k >= 0; k--)
			if (u->show[k])
				u->focus = k;
	u->mouse = o->mouse;
	setlocale(LC_ALL, "");
	/* the theme: read before curses starts; a bad one is shown in the log */
	char themerr[1100] = "";
	const char *theme = o->theme ? o->theme : conf.theme[0] ? conf.theme : NULL;
	if (pofa_theme_load(&u->th, theme, o->no_color, err)) {
		snprintf(themerr, sizeof themerr, "%s; the default theme is used", err->msg);
		pofa_theme_default(&u->th);
	}
	snprintf(u->theme_name, sizeof u->theme_name, "%s", u->th.name);
	/* Ctrl-C (the terminal sends SIGINT: cbreak keeps it), SIGTERM and
	 * SIGHUP stop the run as q does: the headless runner's path */
	cli_catch_stop_signals();
	start_curses(u, o->tty);
	if (themerr[0])
		tui_state_log(&u->s, POFA_EV_ERROR, "%s", themerr);
	if (conferr[0])
		tui_state_log(&u->s, POFA_EV_ERROR, "%s", conferr);
	int rc2 = pofa_driver_start(d, err);
	u->dirty = 1;
	while (!rc2 && !(u->s.ended && (u->quit_sent || o->exit_at_end))) {
		struct pollfd p[2] = { { .fd = o->tty > 0 ? o->tty : 0, .events = POLLIN },
		                       { .fd = pofa_run_wakefd(d->run), .events = POLLIN } };
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (cli_stop_signal() && !u->quit_sent) {
			pofa_run_command(u->r, &(pofa_command){ .kind = POFA_CMD_STOP, .signal = cli_stop_signal() });
			u->quit_sent = 1;
			snprintf(u->msg, sizeof u->msg, "signal %d: stopping with a checkpoint (pofa run --resume continues)",
			         cli_stop_signal());
			u->dirty = 1;
		}
		int ch;
		while ((ch = getch()) != ERR) {
			int then = -1;
			if (ch == 27 && (ch = tui_escape_key(next_byte, NULL, &then)) < 0)
				continue;
			tui_key(u, ch == '\r' ? '\n' : ch);
			if (then >= 0)
				tui_key(u, then == '\r' ? '\n' : then);
			u->dirty = 1;
		}
		if (pofa_driver_pump(d, tui_take_event, u) > 0)
			u->dirty = 1;
		/* at most ten redraws a second, and a clock tick every second */
		double t = tui_now();
		if ((u->dirty && t - u->last_draw >= 0.1) || t - u->last_draw >= 1.0) {
			tui_draw(u);
			u->last_draw = t;
			u->dirty = 0;
			/* the zoomed pane changed size: ask for a map that fits */
			if (u->zoom && (u->zoom_rows != u->zoom_req_rows || u->zoom_cols != u->zoom_req_cols))
				tui_request_mask(u);
		}
	}
	endwin();
	*stopped = u->quit_sent;
	pofa_theme_free(&u->th);
	tui_state_free(&u->s);
	free(u);
	return rc2;
}
