/*
 * error.h - how every layer of pofa reports a failure: a status and a
 * message that names the file, the line or tensor, and what to do.
 *
 *     pofa_err err;
 *     if (pofa_recipe_load(path, NULL, 0, &r, &err))
 *         fprintf(stderr, "pofa: %s\n", err.msg), exit(err.status);
 *
 * Library code never prints and never exits: it returns the status.
 */
#ifndef POFA_BASE_ERROR_H
#define POFA_BASE_ERROR_H

enum pofa_status {
	POFA_OK = 0,
	POFA_ERR_RUN = 1,   /* a run failed (numerics, I/O while running) */
	POFA_ERR_INPUT = 2, /* bad input or usage: exit status 2 */
};

typedef struct pofa_err {
	enum pofa_status status;
	char msg[1024];  /* "file: tensor: what is wrong; what to do" */
} pofa_err;

/* Sets err (may be NULL) and returns status. err->msg may be an argument. */
int pofa_error(pofa_err *err, enum pofa_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
