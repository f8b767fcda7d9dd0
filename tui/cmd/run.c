/* cmd_run.c - pofa run: a recipe, headless (CSV logs and a progress line). */
#include "tui/cli.h"
#include "data/base/text.h"
#include "data/base/fileio.h"
#include "engine/run/driver.h"
#include "engine/dist/dist.h"
#include "tui/work/state.h"
#include "tui/work/tui.h"

#include <errno.h>
#include <termios.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char run_usage[] =
	"usage: pofa run [RECIPE] [--headless] [--out DIR] [--set SECTION.KEY=VALUE]...\n"
	"                [--theme NAME] [--no-color] [--no-mouse]\n"
	"       pofa run --resume DIR [--allow-changed-recipe] [--headless] [--theme NAME]\n"
	"                [--no-color] [--no-mouse]\n"
	"       mpirun -np N pofa run --headless RECIPE|--resume DIR ...\n"
	"                (built with Open MPI: data-parallel, the recipe's batch global;\n"
	"                pofa(1), DISTRIBUTED TRAINING)\n";


typedef struct {
	const pofa_recipe *rc;
	int tty;
	double stage_t0;
	int64_t stage_step0;
	int64_t last_plain;
} progress;


static void show(void *arg, const pofa_event *e)
{
	progress *p = arg;
	const pofa_recipe *rc = p->rc;
	switch (e->kind) {
	case POFA_EV_STAGE_START:
		p->stage_t0 = e->time;
		p->stage_step0 = e->step;
		p->last_plain = -1;
		fprintf(stderr, "%s[%d/%d] %s\n", p->tty ? "\r\033[K" : "", e->stage + 1, rc->nstages, e->text);
		break;
	case POFA_EV_METRICS: {
		double el = e->time - p->stage_t0;
		int64_t done = e->step - p->stage_step0;
		char eta[32];
		tui_fmt_duration(done > 0 ? el / (double)done * (double)(e->total - e->step) : -1, eta, sizeof eta);
		char line[512];
		snprintf(line, sizeof line, "[%d/%d %s] step %lld/%lld (%2.0f%%) ETA %s  %.0f tok/s  loss %.4f",
		         e->stage + 1, rc->nstages, e->stage_name, (long long)e->step, (long long)e->total,
		         100.0 * (double)e->step / (double)(e->total ? e->total : 1), eta, e->tokens_per_s,
		         e->loss_total);
		if (e->sparsity > 0.0005 || e->sparsity_target > 0.0005)
			snprintf(line + strlen(line), sizeof line - strlen(line), "  sparsity %.3f", e->sparsity);
		if (p->tty) {
			fprintf(stderr, "\r\033[K%s", line);
		} else {
			/* plain lines: about every tenth of a stage */
			int64_t tenth = e->total / 10 > 0 ? e->total / 10 : 1;
			if (e->step / tenth != p->last_plain || e->step == e->total) {
				p->last_plain = e->step / tenth;
				fprintf(stderr, "%s\n", line);
			}
		}
		break;
	}
	case POFA_EV_EVAL:
		fprintf(stderr, "%s  eval %s on %s/%s: %s = %.3f (loss %.4f)\n", p->tty ? "\r\033[K" : "",
		        e->model, e->task, e->split, e->metric, e->value, e->loss);
		break;
	case POFA_EV_STAGE_END:
	case POFA_EV_ERROR:
	case POFA_EV_SCHEDULE:
	case POFA_EV_EXPORT:
	case POFA_EV_LOG:   /* a message may quote a file's text: its control characters shown */
		fprintf(stderr, "%s%s%s", p->tty ? "\r\033[K" : "", e->kind == POFA_EV_ERROR ? "pofa: error: " : "  ",
		        e->kind == POFA_EV_SCHEDULE ? "schedule: " : "");
		pofa_esc_term(stderr, e->text, -1);
		fputc('\n', stderr);
		break;
	default:
		break;
	}
	fflush(stderr);
}

/* the progress line; SIGINT, SIGTERM and SIGHUP stop the run with a
 * checkpoint */
static int headless_run(pofa_driver *d, const char *recipe, int *stopped, pofa_err *err)
{
	cli_catch_stop_signals();
	progress pr = { .rc = pofa_run_recipe(d->run), .tty = isatty(2), .last_plain = -1 };
	int quiet = pofa_run_follower(d->run);   /* ranks other than 0: rank 0 speaks */
	if (!quiet)
		fprintf(stderr, "pofa run: %s -> %s%s%s\n", recipe, d->dir, d->resume ? " (resumed)" : "",
		        pofa_dist_size() > 1 ? " (data-parallel)" : "");
	if (pofa_driver_start(d, err))
		return err->status;
	while (!d->ended) {
		struct pollfd pfd = { .fd = pofa_run_wakefd(d->run), .events = POLLIN };
		if (poll(&pfd, 1, 250) < 0 && errno != EINTR)
			break;
		if (cli_stop_signal() && !*stopped) {
			*stopped = 1;
			if (pofa_dist_size() > 1)   /* a lost peer may keep the new one from being written */
				fprintf(stderr, "\npofa run: stopping every rank at the next step with a checkpoint (or, a rank "
				        "lost, with the last one); continue with pofa run --resume %s\n", d->dir);
			else
				fprintf(stderr, "\npofa run: stopping: a checkpoint is written, continue with "
				        "pofa run --resume %s\n", d->dir);
			pofa_run_command(d->run, &(pofa_command){ .kind = POFA_CMD_STOP, .signal = cli_stop_signal() });
		}
		pofa_driver_pump(d, quiet ? NULL : show, &pr);
	}
	if (pr.tty)
		fputs("\r\033[K", stderr);
	return POFA_OK;
}

static int run_main(int argc, char **argv);

/* Under mpirun rank 0's standard input and output are mpirun's, but it
 * keeps the terminal mpirun was started from: the workbench runs there,
 * rank 0 taking the terminal's foreground (*was: whose it was). Only with
 * mpirun --stdin none: otherwise mpirun reads the keys itself (rank 0's
 * standard input is then its pipe), and the run stays headless. */
static int rank0_terminal(pid_t *was)
{
	const char *term = getenv("TERM");
	struct stat st;
	if (!term || !strcmp(term, "dumb") || (fstat(0, &st) == 0 && S_ISFIFO(st.st_mode)))
		return 0;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	*was = tcgetpgrp(fd);
	signal(SIGTTOU, SIG_IGN);   /* a background group may then take the foreground */
	if (!isatty(fd) || *was < 0 || tcsetpgrp(fd, getpgrp())) {
		close(fd);
		return 0;
	}
	return fd;
}

/* under mpirun, every rank runs the same recipe data-parallel (dist.h) */
int cmd_run(int argc, char **argv)
{
	if (pofa_dist_init(NULL, NULL))
		return EXIT_RUN_FAILED;
	int rc = run_main(argc, argv);
	pofa_dist_finalize();
	return rc;
}

static int run_main(int argc, char **argv)
{
	const char *recipe = "recipes/demo.ini", *out = NULL, *resume = NULL, *v;
	const char **sets = calloc((size_t)argc + 1, sizeof *sets);
	int nsets = 0, headless = 0, have_recipe = 0, allow_changed = 0;
	tui_opts to = { .mouse = 1 };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--headless"))
			headless = 1;
		else if (!strcmp(argv[i], "--allow-changed-recipe"))
			allow_changed = 1;
		else if (!strcmp(argv[i], "--no-color"))
			to.no_color = 1;
		else if (!strcmp(argv[i], "--no-mouse"))
			to.mouse = 0;
		else if ((v = cli_opt(argc, argv, &i, "--theme"))) {
			if (!*v) { free(sets); return cli_usage_error("run", "--theme wants a name"); }
			to.theme = v;
		}
		else if ((v = cli_opt(argc, argv, &i, "--out"))) {
			if (!*v) { free(sets); return cli_usage_error("run", "--out wants a folder"); }
			out = v;
		} else if ((v = cli_opt(argc, argv, &i, "--resume"))) {
			if (!*v) { free(sets); return cli_usage_error("run", "--resume wants a run folder"); }
			resume = v;
		} else if ((v = cli_opt(argc, argv, &i, "--set"))) {
			if (!*v) { free(sets); return cli_usage_error("run", "--set wants SECTION.KEY=VALUE"); }
			sets[nsets++] = v;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(run_usage, stdout);
			free(sets);
			return 0;
		} else if (argv[i][0] == '-') {
			free(sets);
			return cli_usage_error("run", "unknown option '%s'", argv[i]);
		} else if (have_recipe) {
			free(sets);
			return cli_usage_error("run", "one recipe, please ('%s' and '%s')", recipe, argv[i]);
		} else {
			recipe = argv[i];
			have_recipe = 1;
		}
	}
	pofa_err err = { 0 };
	pofa_recipe rc;
	char rpath[1200], dir[1200];
	if (allow_changed && !resume) {
		free(sets);
		return cli_usage_error("run", "--allow-changed-recipe goes with --resume");
	}
	if (resume) {
		if (have_recipe || nsets || out) {
			free(sets);
			return cli_usage_error("run", "--resume takes the run folder alone (its recipe.ini is used)");
		}
		snprintf(rpath, sizeof rpath, "%s/recipe.ini", resume);
		snprintf(dir, sizeof dir, "%s", resume);
		recipe = rpath;
	}
	if (pofa_recipe_load(recipe, sets, nsets, &rc, &err)) {
		free(sets);
		return cli_fail(&err);
	}
	free(sets);
	if (!resume)
		snprintf(dir, sizeof dir, "%s", out ? out : "");
	if (!resume && !out)
		snprintf(dir, sizeof dir, "runs/%s", rc.name);
	pofa_driver d;
	int flags = (resume ? POFA_RUN_RESUME : 0) | (allow_changed ? POFA_RUN_ALLOW_CHANGED_RECIPE : 0);
	int rcode = pofa_driver_open(&d, &rc, dir, flags, &err);
	pofa_recipe_free(&rc);
	if (pofa_dist_size() > 1) {
		/* every rank starts, or none: a rank refused (a folder that holds
		 * a run, a missing file) stops them all */
		int64_t bad = rcode != 0;
		pofa_dist_sum_i64(&bad, 1);
		if (bad && !rcode) {
			pofa_driver_close(&d, NULL);
			return EXIT_USAGE;
		}
	}
	if (rcode)
		return cli_fail(&err);
	/* a terminal gets the workbench; --headless or no terminal, the
	 * progress line; both leave the same files */
	int stopped = 0;
	const char *term = getenv("TERM");
	pid_t was = -1;
	if (!headless && pofa_dist_size() > 1 && !pofa_run_follower(d.run))
		to.tty = rank0_terminal(&was);
	if (to.tty > 0 || (!headless && !pofa_run_follower(d.run) && isatty(0) && isatty(1) && term &&
	                   strcmp(term, "dumb")))
		rcode = tui_run(&d, &to, &stopped, &err);
	else
		rcode = headless_run(&d, recipe, &stopped, &err);
	if (to.tty > 0) {   /* the terminal back to mpirun's group */
		tcsetpgrp(to.tty, was);
		close(to.tty);
	}
	if (rcode) {
		pofa_driver_close(&d, NULL);
		return cli_fail(&err);
	}
	int status = pofa_driver_close(&d, &err);
	if (pofa_dist_rank() > 0)   /* rank 0 says how the run ended; the statuses agree */
		return status == POFA_ERR_INPUT ? EXIT_USAGE : status ? EXIT_RUN_FAILED
		       : d.stopped ? (cli_stop_signal() ? EXIT_SIGNAL + cli_stop_signal() : EXIT_STOPPED) : 0;
	if (err.status) {
		fputs("pofa: report: ", stderr);
		pofa_esc_term(stderr, err.msg, -1);
		fputc('\n', stderr);
	}
	/* the status says how the run ended: 0 only when every stage finished */
	if (status == POFA_ERR_INPUT)
		return fprintf(stderr, "pofa run: failed; report in %s/report.md\n", dir), EXIT_USAGE;
	if (status)
		return fprintf(stderr, "pofa run: failed; report in %s/report.md\n", dir), EXIT_RUN_FAILED;
	if (d.stopped) {   /* the engine's word: a stage was stopped (q after the end is not a stop) */
		fprintf(stderr, "pofa run: stopped; report so far in %s/report.md; continue with pofa run --resume %s\n",
		        dir, dir);
		return cli_stop_signal() ? EXIT_SIGNAL + cli_stop_signal() : EXIT_STOPPED;
	}
	fprintf(stderr, "pofa run: done; results in %s/report.md\n", dir);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			fputs("usage: pofa report RUN_DIR\nrewrites the run's report.md and report.html from its CSV files\n", stdout);
			return 0;
		}
		return cli_usage_error("report", "which run folder?");
	}
	char path[1200];
	snprintf(path, sizeof path, "%s/recipe.ini", argv[1]);
	pofa_err err = { 0 };
	pofa_recipe rc;
	if (pofa_recipe_load(path, NULL, 0, &rc, &err))
		return cli_fail(&err);
	int r = pofa_runlog_report(argv[1], &rc, &err);
	pofa_recipe_free(&rc);
	if (r)
		return cli_fail(&err);
	snprintf(path, sizeof path, "%s/report.md", argv[1]);
	/* report.md to the terminal: what a run folder's files put there shown,
	 * never obeyed */
	unsigned char *md;
	size_t n;
	if (pofa_read_file(path, &md, &n, (size_t)256 << 20, &err))
		return cli_fail(&err);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && md[j] != '\n')
			j++;
		pofa_esc_term(stdout, (const char *)md + i, (long)(j - i));
		fputc('\n', stdout);
		i = j + 1;
	}
	free(md);
	return 0;
}
