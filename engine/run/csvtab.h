/*
 * csvtab.h - a run's CSV file read back whole (libcsv): rows of fields, the
 * header row first. For report.md, report.html and resume's truncation.
 */
#ifndef POFA_RUN_CSVTAB_H
#define POFA_RUN_CSVTAB_H

#include <stddef.h>

typedef struct pofa_csvtab {
	char ***rows;     /* rows[r][f] */
	int *nf;          /* fields of row r */
	int n, cap;
	char **cur;
	int ncur, ccur;
} pofa_csvtab;

/* appends the records of buf to t (zeroed first by the caller) */
void pofa_csvtab_parse(const void *buf, size_t n, pofa_csvtab *t);
/* the whole file; -1 when it cannot be read */
int pofa_csvtab_read(const char *path, pofa_csvtab *t);
void pofa_csvtab_free(pofa_csvtab *t);

#endif
