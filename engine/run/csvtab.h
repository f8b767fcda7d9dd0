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
	int ncur;
	size_t ccur;
	int oom;          /* out of memory: rows were lost */
} pofa_csvtab;

/* appends the records of buf to t (zeroed first by the caller); -1 when
 * out of memory (t then holds what fitted; free it) */
int pofa_csvtab_parse(const void *buf, size_t n, pofa_csvtab *t);
/* the whole file; -1 when it cannot be read or does not fit in memory */
int pofa_csvtab_read(const char *path, pofa_csvtab *t);
void pofa_csvtab_free(pofa_csvtab *t);
/* The last row of each key (the fields cols[0..ncols)), in the order each
 * key first appears, among the rows after the header with at least minf
 * fields (and the key's) that keep (NULL: all) keeps: into rows (t->n
 * entries), returning how many; -1 when out of memory. Linear in the rows. */
int pofa_csvtab_last_by(const pofa_csvtab *t, const int *cols, int ncols, int minf,
                        int (*keep)(void *arg, int row), void *arg, int *rows);

#endif
