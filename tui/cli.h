/* cli.h - the pofa command's subcommands and shared option helpers. */
#ifndef POFA_CLI_H
#define POFA_CLI_H

#include "engine/pofa.h"

/* exit statuses (pofa(1) EXIT STATUS): a run stopped before its end by a
 * signal exits with 128 + the signal's number, as a shell reports it */
enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2, EXIT_STOPPED = 3, EXIT_SIGNAL = 128 };

int cmd_train_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_recipe(int argc, char **argv);
int cmd_bench_infer(int argc, char **argv); /* pofa bench infer (bench_infer.c) */

/* Parses an integer option in [lo, hi]; on error prints a usage error. */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "pofa: message" for an engine error and returns its exit status. */
int cli_fail(const pofa_err *err);
double cli_now(void);
/* Sorts v[0..n) ascending (n >= 1) and returns its median. */
double cli_median(double *v, int n);
/* --name VALUE or --name=VALUE at argv[*i]; advances *i past the value. */
const char *cli_opt(int argc, char **argv, int *i, const char *name);
int cli_default_threads(void);

/* The one way a run is stopped by a signal, in both front ends: SIGINT,
 * SIGTERM and SIGHUP are caught (a poll() they interrupt returns EINTR);
 * the front end sees the signal and sends the engine the stop command,
 * as q does: a checkpoint, then the run's end. */
void cli_catch_stop_signals(void);
/* the signal caught (0: none yet) */
int cli_stop_signal(void);

#endif
