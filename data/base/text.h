/*
 * text.h - the one rule for text that comes from users' files (labels,
 * class names, task files' cells, a run folder's CSV fields): checked
 * where it enters, escaped where it leaves, by one function per output.
 *
 *   in    pofa_text_refusal: valid UTF-8, no control characters (C0, DEL,
 *         C1, line and paragraph separators, bidirectional overrides), not
 *         empty, at most a length; an error names the file and the line
 *   out   pofa_esc_html   report.html: & < > " ' as entities; a control
 *                         character or a byte that is not UTF-8 as U+FFFD
 *         pofa_esc_md     report.md table cells: Markdown's and HTML's
 *                         special characters backslash-escaped or as
 *                         entities, line breaks as spaces
 *         pofa_csv_text   a CSV cell: RFC 4180 quoting, and a leading '
 *                         when the cell starts with = + - @ (or a tab or
 *                         carriage return), so a spreadsheet does not take
 *                         it for a formula (OWASP's CSV injection advice)
 *         pofa_esc_term   a terminal: control characters as \xNN (ESC as
 *                         \x1b), bytes that are not UTF-8 as ?
 */
#ifndef POFA_BASE_TEXT_H
#define POFA_BASE_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* the longest label or class name (config.json's id2label, a task's
 * label column): what a model folder can hold */
#define POFA_LABEL_MAX 63

/* why the n bytes of s are not acceptable text, or NULL when they are */
const char *pofa_text_refusal(const char *s, size_t n, size_t max);

void pofa_esc_html(FILE *f, const char *s);
void pofa_esc_md(FILE *f, const char *s);
/* a CSV text cell (n bytes; n < 0: up to the NUL), followed by nothing */
void pofa_csv_text(FILE *f, const char *s, long n);
void pofa_esc_term(FILE *f, const char *s, long n);
/* pofa_esc_term into out (cap bytes, always terminated); returns the
 * columns it takes on a terminal */
int pofa_esc_term_str(char *out, size_t cap, const char *s);

#endif
