/* error.c - pofa_error (see error.h). */
#include "data/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int pofa_error(pofa_err *err, enum pofa_status status, const char *fmt, ...)
{
	if (err) {
		/* through a local buffer: err->msg may be one of the arguments */
		char msg[sizeof err->msg];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		memcpy(err->msg, msg, sizeof msg);
		err->status = status;
	}
	return status;
}
