/* text.c - text from users' files: checked in, escaped out (see text.h). */
#include "data/base/text.h"

#include <csv.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

/* characters no label, cell or name may hold: controls (C0, DEL, C1), the
 * line and paragraph separators, and the bidirectional overrides and
 * isolates that reorder what a terminal or a page shows */
static int forbidden(int32_t c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
		return 1;
	if (c == 0x2028 || c == 0x2029)
		return 1;
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* the next code point of s (n bytes left): its length, or -1 when the
 * bytes are not UTF-8 */
static int next_cp(const char *s, long n, int32_t *c)
{
	utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, n, c);
	return k > 0 ? (int)k : -1;
}

const char *pofa_text_refusal(const char *s, size_t n, size_t max)
{
	if (n == 0)
		return "empty";
	if (n > max)
		return "too long";
	for (size_t i = 0; i < n;) {
		int32_t c;
		int k = next_cp(s + i, (long)(n - i), &c);
		if (k < 0)
			return "not UTF-8";
		if (forbidden(c))
			return c == '\t' ? "holds a tab" : c == '\n' || c == '\r' ? "holds a line break"
			       : "holds a control character";
		i += (size_t)k;
	}
	return NULL;
}

void pofa_esc_html(FILE *f, const char *s)
{
	long n = (long)strlen(s);
	for (long i = 0; i < n;) {
		int32_t c;
		int k = next_cp(s + i, n - i, &c);
		if (k < 0 || forbidden(c)) {
			fputs("\xef\xbf\xbd", f);   /* U+FFFD: not XML, or not UTF-8 */
			i += k < 0 ? 1 : k;
			continue;
		}
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fwrite(s + i, 1, (size_t)k, f);
		}
		i += k;
	}
}

void pofa_esc_md(FILE *f, const char *s)
{
	long n = (long)strlen(s);
	for (long i = 0; i < n;) {
		int32_t c;
		int k = next_cp(s + i, n - i, &c);
		if (k < 0 || forbidden(c)) {
			fputs(k > 0 && (c == '\n' || c == '\r' || c == '\t') ? " " : "\xef\xbf\xbd", f);
			i += k < 0 ? 1 : k;
			continue;
		}
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '|': case '\\': case '`': case '*': case '[': case ']':
			fputc('\\', f);
			fputc((int)c, f);
			break;
		default: fwrite(s + i, 1, (size_t)k, f);
		}
		i += k;
	}
}

void pofa_csv_text(FILE *f, const char *s, long n)
{
	size_t len = n < 0 ? strlen(s) : (size_t)n;
	if (len && strchr("=+-@\t\r", s[0])) {
		/* a formula to a spreadsheet: made text by a leading quote */
		char *q = malloc(len + 2);
		if (q) {
			q[0] = '\'';
			memcpy(q + 1, s, len);
			csv_fwrite(f, q, len + 1);
			free(q);
			return;
		}
		fputc('\'', f);
	}
	csv_fwrite(f, s, len);
}

void pofa_esc_term(FILE *f, const char *s, long n)
{
	if (n < 0)
		n = (long)strlen(s);
	for (long i = 0; i < n;) {
		int32_t c;
		int k = next_cp(s + i, n - i, &c);
		if (k < 0) {
			fputc('?', f);
			i++;
		} else if (forbidden(c)) {
			if (c < 0x100)
				fprintf(f, "\\x%02x", (unsigned)c);
			else
				fprintf(f, "\\u%04x", (unsigned)c);
			i += k;
		} else {
			fwrite(s + i, 1, (size_t)k, f);
			i += k;
		}
	}
}

int pofa_esc_term_str(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	int cols = 0;
	long n = (long)strlen(s);
	if (!cap)
		return 0;
	for (long i = 0; i < n;) {
		int32_t c;
		int k = next_cp(s + i, n - i, &c);
		char tmp[16];
		size_t tl;
		int w;
		if (k < 0) {
			tmp[0] = '?', tl = 1, w = 1, k = 1;
		} else if (forbidden(c)) {
			tl = (size_t)snprintf(tmp, sizeof tmp, c < 0x100 ? "\\x%02x" : "\\u%04x", (unsigned)c);
			w = (int)tl;
		} else {
			memcpy(tmp, s + i, (size_t)k);
			tl = (size_t)k;
			w = utf8proc_charwidth(c);
			w = w < 0 ? 1 : w;
		}
		if (o + tl + 1 > cap)
			break;
		memcpy(out + o, tmp, tl);
		o += tl;
		cols += w;
		i += k;
	}
	out[o] = 0;
	return cols;
}
