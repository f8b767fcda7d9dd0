/*
 * report_html.c - report.html: the run to look at, one self-contained file
 * (inline SVG, no scripts, nothing fetched), well-formed XML so that any
 * parser reads it. From the run's CSV files and its recipe:
 *
 *   results     the evaluations as a table, and the main metric against
 *               each model's sparsity (and its measured speed-up)
 *   per stage   the losses (teacher, task, total; distillation on its own
 *               scale), the sparsity schedule as planned and as run with
 *               live edits marked, and each pruned model's per-layer
 *               sparsity as a heatmap
 */
#include "engine/run/runlog.h"
#include "engine/run/csvtab.h"
#include "data/base/fileio.h"
#include "data/base/text.h"
#include "engine/pofa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text ------------------------------------------------------------------- */

/* text into the page: escaped (text.h), never copied */
static void esc(FILE *f, const char *s) { pofa_esc_html(f, s); }

/* a number read from a run folder's CSV: the whole field a finite number,
 * else NAN; it goes into the page printed, never copied */
static double num(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	return *s && !*end && isfinite(v) ? v : NAN;
}

/* a whole number field in [lo, hi], else -1 */
static long long whole(const char *s, long long lo, long long hi)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	return *s && !*end && v >= lo && v <= hi ? v : -1;
}

/* a tick value, short */
static void fmt_num(char *out, size_t n, double v)
{
	double a = fabs(v);
	if (v == 0.0)
		snprintf(out, n, "0");
	else if (a >= 1e5 || a < 1e-3)
		snprintf(out, n, "%.1e", v);
	else if (a >= 100)
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "%.3g", v);
}

/* about five round ticks covering [lo, hi] */
static double tick_step(double lo, double hi)
{
	double span = hi - lo;
	if (!(span > 0.0))
		return 1.0;
	double raw = span / 5.0, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
	return (r < 1.5 ? 1.0 : r < 3.5 ? 2.0 : r < 7.5 ? 5.0 : 10.0) * mag;
}

/* ---- charts ------------------------------------------------------------------- */

enum { W = 640, H = 260, ML = 64, MR = 16, MT = 28, MB = 44 };

typedef struct {
	const char *name, *color, *dash;
	const double *x, *y;
	int n;
	int points;       /* dots, not a line */
	const char *const *labels;   /* a label per point (points only) */
} series;

typedef struct { double x; const char *text; } marker;

static void range_of(const series *s, int ns, int use_y, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int k = 0; k < ns; k++)
		for (int i = 0; i < s[k].n; i++) {
			double v = use_y ? s[k].y[i] : s[k].x[i];
			if (isfinite(v)) {
				*lo = v < *lo ? v : *lo;
				*hi = v > *hi ? v : *hi;
			}
		}
	if (!isfinite(*lo))
		*lo = 0.0, *hi = 1.0;
	if (*hi - *lo < 1e-12) {
		double pad = fabs(*hi) > 0 ? fabs(*hi) * 0.1 : 1.0;
		*lo -= pad;
		*hi += pad;
	}
}

/* a chart: axes with ticks, the series, a legend with each one's last
 * value, markers (vertical lines with a title) */
static void chart(FILE *f, const char *id, const char *title, const char *xlabel, const char *ylabel,
                  const series *s, int ns, const marker *mk, int nm, int y_from_zero)
{
	double x0, x1, y0, y1;
	range_of(s, ns, 0, &x0, &x1);
	range_of(s, ns, 1, &y0, &y1);
	if (y_from_zero && y0 > 0.0)
		y0 = 0.0;
	double ys = tick_step(y0, y1), xs = tick_step(x0, x1);
	y0 = floor(y0 / ys) * ys;
	y1 = ceil(y1 / ys) * ys;
	double pw = W - ML - MR, ph = H - MT - MB;
#define PX(v) (ML + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (MT + ph - ((v) - y0) / (y1 - y0) * ph)
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"");
	esc(f, id);
	fprintf(f, "\" class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", W, H, W, H);
	fprintf(f, "<title>");
	esc(f, title);
	fprintf(f, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"18\" class=\"t\">", ML);
	esc(f, title);
	fprintf(f, "</text>\n");
	/* grid and ticks */
	for (double v = y0; v <= y1 + ys * 1e-6; v += ys) {
		char b[32];
		fmt_num(b, sizeof b, fabs(v) < ys * 1e-9 ? 0.0 : v);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"g\"/>"
		        "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n", ML, PY(v), W - MR, PY(v), ML - 4, PY(v) + 4, b);
	}
	for (double v = ceil(x0 / xs) * xs; v <= x1 + xs * 1e-6; v += xs) {
		char b[32];
		fmt_num(b, sizeof b, fabs(v) < xs * 1e-9 ? 0.0 : v);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"g\"/>"
		        "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%s</text>\n", PX(v), MT, PX(v), H - MB, PX(v), H - MB + 14, b);
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n", ML, MT, pw, ph);
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" class=\"al\">", ML + pw / 2, H - 8);
	esc(f, xlabel);
	fprintf(f, "</text><text x=\"12\" y=\"%.0f\" class=\"al\" transform=\"rotate(-90 12 %.0f)\">", MT + ph / 2,
	        MT + ph / 2);
	esc(f, ylabel);
	fprintf(f, "</text>\n");
	for (int k = 0; k < nm; k++) {
		if (!(mk[k].x >= x0 && mk[k].x <= x1))
			continue;
		fprintf(f, "<g class=\"mark\"><title>");
		esc(f, mk[k].text);
		fprintf(f, "</title><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/></g>\n", PX(mk[k].x), MT, PX(mk[k].x),
		        H - MB);
	}
	for (int k = 0; k < ns; k++) {
		const series *z = &s[k];
		if (z->points) {
			for (int i = 0; i < z->n; i++) {
				if (!isfinite(z->x[i]) || !isfinite(z->y[i]))
					continue;
				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", PX(z->x[i]), PY(z->y[i]), z->color);
				if (z->labels) {
					fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"pl\">", PX(z->x[i]) + 6, PY(z->y[i]) - 6);
					esc(f, z->labels[i]);
					fprintf(f, "</text>");
				}
				fputc('\n', f);
			}
			continue;
		}
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s%s%s points=\"", z->color,
		        z->dash ? " stroke-dasharray=\"" : "", z->dash ? z->dash : "", z->dash ? "\"" : "");
		for (int i = 0; i < z->n; i++)
			if (isfinite(z->x[i]) && isfinite(z->y[i]))
				fprintf(f, "%.1f,%.1f ", PX(z->x[i]), PY(z->y[i]));
		fprintf(f, "\"/>\n");
	}
	/* the legend: each series' name and last value, in its colour and dash */
	int lx = ML + 8;
	for (int k = 0; k < ns; k++) {
		const series *z = &s[k];
		if (!z->name)
			continue;
		double last = NAN;
		for (int i = z->n - 1; i >= 0 && !isfinite(last); i--)
			last = z->y[i];
		char b[32] = "";
		if (!z->points && isfinite(last))
			fmt_num(b, sizeof b, last);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s%s%s/>"
		        "<text x=\"%d\" y=\"%d\" class=\"lg\">", lx, MT + 12, lx + 18, MT + 12, z->color,
		        z->dash ? " stroke-dasharray=\"" : "", z->dash ? z->dash : "", z->dash ? "\"" : "", lx + 22, MT + 16);
		esc(f, z->name);
		if (b[0])
			fprintf(f, " %s", b);
		fprintf(f, "</text>\n");
		lx += 34 + 7 * (int)(strlen(z->name) + strlen(b));
	}
	fprintf(f, "</svg>\n");
#undef PX
#undef PY
}

/* ---- the heatmap -------------------------------------------------------------- */

static const char *const matrices[7] = { "Q", "K", "V", "attn-out", "ffn-in", "ffn-out", "pooler" };

/* white (0% sparse) to dark blue (100%) */
static void heat_color(double v, char *out, size_t n)
{
	v = v < 0 ? 0 : v > 1 ? 1 : v;
	int r = (int)lround(247 - v * (247 - 8)), g = (int)lround(251 - v * (251 - 48)),
	    b = (int)lround(255 - v * (255 - 107));
	snprintf(out, n, "#%02x%02x%02x", r, g, b);
}

/* the stage's last sparsity rows: layers x matrices, and the pooler. The
 * layers are those of the stage's model (max_layers, from its config.json),
 * a row naming another is left out: a run folder's file cannot make the
 * page larger than the model it describes */
static void heatmap(FILE *f, const char *id, const char *stage, const pofa_csvtab *sp, int max_layers)
{
	long long last = -1;
	int layers = 0;
	for (int r = 1; r < sp->n; r++)
		if (sp->nf[r] >= 6 && !strcmp(sp->rows[r][0], stage)) {
			long long st = whole(sp->rows[r][1], 0, (long long)1 << 50);
			last = st > last ? st : last;
		}
	for (int r = 1; r < sp->n; r++) {
		long long l = whole(sp->rows[r][2], 0, max_layers - 1);
		if (sp->nf[r] >= 6 && !strcmp(sp->rows[r][0], stage) && whole(sp->rows[r][1], 0, last) == last && l >= 0)
			layers = (int)l + 1 > layers ? (int)l + 1 : layers;
	}
	int cw = 64, ch = 22, x0 = 70, y0 = 44;
	int w = x0 + 6 * cw + 20 + 230, h = y0 + (layers + 1) * ch + 40;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"");
	esc(f, id);
	fprintf(f, "\" class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n<title>", w, h, w, h);
	fprintf(f, "per-layer sparsity of ");
	esc(f, stage);
	fprintf(f, " at step %lld</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", last, w, h);
	fprintf(f, "<text x=\"%d\" y=\"18\" class=\"t\">per-layer sparsity of ", x0);
	esc(f, stage);
	fprintf(f, " (step %lld)</text>\n", last);
	for (int m = 0; m < 6; m++)
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"xl\">%s</text>\n", x0 + m * cw + cw / 2, y0 - 6, matrices[m]);
	for (int r = 1; r < sp->n; r++) {
		if (sp->nf[r] < 6 || strcmp(sp->rows[r][0], stage) || whole(sp->rows[r][1], 0, last) != last)
			continue;
		int pooler = !strcmp(sp->rows[r][2], "pooler");
		int row = pooler ? layers : (int)whole(sp->rows[r][2], 0, layers - 1), col = -1;
		for (int m = 0; m < 7; m++)
			if (!strcmp(sp->rows[r][3], matrices[m]))
				col = m == 6 ? 0 : m;
		double v = num(sp->rows[r][4]);
		if (col < 0 || row < 0 || !(v >= 0.0 && v <= 1.0))
			continue;
		char c[16];
		heat_color(v, c, sizeof c);
		fprintf(f, "<g><title>");
		if (pooler)
			fprintf(f, "pooler");
		else
			fprintf(f, "layer %d", row);
		fprintf(f, ": %.1f%% sparse</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		        "fill=\"%s\" class=\"cell\"/><text x=\"%d\" y=\"%d\" class=\"%s\">%.0f</text></g>\n",
		        100.0 * v, x0 + col * cw, y0 + row * ch, cw - 2, ch - 2, c, x0 + col * cw + cw / 2,
		        y0 + row * ch + 15, v > 0.55 ? "cv dark" : "cv", 100.0 * v);
	}
	for (int l = 0; l < layers; l++)
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\">layer %d</text>\n", x0 - 6, y0 + l * ch + 15, l);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\">pooler</text>\n", x0 - 6, y0 + layers * ch + 15);
	/* the legend: 0 to 100% */
	int lx = x0 + 6 * cw + 20;
	for (int k = 0; k <= 10; k++) {
		char c[16];
		heat_color(k / 10.0, c, sizeof c);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\" class=\"cell\"/>", lx + k * 14, y0,
		        c);
	}
	fprintf(f, "\n<text x=\"%d\" y=\"%d\" class=\"lg\">0%%</text><text x=\"%d\" y=\"%d\" class=\"lg\">100%% "
	        "sparse</text>\n</svg>\n", lx, y0 + 28, lx + 110, y0 + 28);
}

/* ---- the page ---------------------------------------------------------------- */

static const char *const style =
	"body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
	"table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
	"th:first-child,td:first-child{text-align:left}"
	".chart{display:block;margin:1em 0;border:1px solid #ddd}"
	".t{font-size:14px;font-weight:bold}.g{stroke:#eee}.frame{fill:none;stroke:#888}"
	".yl{font-size:11px;text-anchor:end}.xl{font-size:11px;text-anchor:middle}"
	".al{font-size:12px;text-anchor:middle}.lg{font-size:11px}.pl{font-size:11px}"
	".mark line{stroke:#c00;stroke-dasharray:3 3}.cell{stroke:#fff}"
	".cv{font-size:11px;text-anchor:middle;fill:#222}.cv.dark{fill:#fff}";

/* a column of metrics.csv for one stage, as (step, value) */
static int column(const pofa_csvtab *m, const char *stage, int col, double *x, double *y)
{
	int n = 0;
	for (int r = 1; r < m->n; r++)
		if (m->nf[r] >= 13 && !strcmp(m->rows[r][1], stage)) {
			x[n] = num(m->rows[r][2]);
			y[n] = m->rows[r][col][0] ? num(m->rows[r][col]) : NAN;
			n++;
		}
	return n;
}

static int any_value(const double *y, int n)
{
	for (int i = 0; i < n; i++)
		if (isfinite(y[i]) && y[i] != 0.0)
			return 1;
	return 0;
}

/* the stage's last measured sparsity (metrics.csv), or NAN */
static double stage_sparsity(const pofa_csvtab *m, const char *stage)
{
	double v = NAN;
	for (int r = 1; r < m->n; r++)
		if (m->nf[r] >= 13 && !strcmp(m->rows[r][1], stage) && m->rows[r][10][0])
			v = num(m->rows[r][10]);
	return v;
}

/* ---- the frontier ------------------------------------------------------------- */

/* eval.csv's row idx when it is eval stage es's on dev in the stage's main
 * metric (its first row's, set into metric), else NULL */
static char **dev_main_row(const pofa_csvtab *ev, int idx, const pofa_stage *es, char *metric, size_t n)
{
	char **row = ev->rows[idx];
	if (strcmp(row[1], es->name) || strcmp(row[5], "dev"))
		return NULL;
	if (!metric[0])
		snprintf(metric, n, "%s", row[6]);
	return strcmp(row[6], metric) ? NULL : row;
}

/* the row's measured speed-up (NAN: none) */
static double row_speedup(const pofa_csvtab *ev, int idx)
{
	return ev->nf[idx] >= 11 && ev->rows[idx][10][0] ? num(ev->rows[idx][10]) : NAN;
}

/* the value of (eval stage, model)'s first metric on dev, and the
 * stage's reference's; the model's speed-up */
static void row_value(const pofa_csvtab *ev, const int *last, int nl, const pofa_stage *es, const char *model,
                      const char *ref, double *v, double *r0, double *up)
{
	char metric[24] = "";
	*v = *r0 = *up = NAN;
	for (int k = 0; k < nl; k++) {
		char **row = dev_main_row(ev, last[k], es, metric, sizeof metric);
		if (!row)
			continue;
		if (!strcmp(row[2], model)) {
			*v = num(row[7]);
			*up = row_speedup(ev, last[k]);
		}
		if (!strcmp(row[2], ref))
			*r0 = num(row[7]);
	}
}

/* Several eval stages listing the same number of models (one row per
 * method, as report.md's summary): each row's mean % of its reference
 * over the tasks against its mean measured speed-up, one point a row, and
 * the frontier through the rows no other row beats on both. */
static void frontier(FILE *f, const pofa_recipe *rc, const pofa_csvtab *ev, const int *last, int nl)
{
	int evals[POFA_MAX_STAGES], ne = 0, rows = -1, same = 1;
	char (*names)[32][48] = calloc(POFA_MAX_STAGES, sizeof *names);
	char (*refs)[1024] = calloc(32, sizeof *refs);
	if (!refs || !names) {
		free(refs);
		free(names);
		return;
	}
	for (int i = 0; i < rc->nstages; i++)
		if (rc->stages[i].kind == POFA_STAGE_EVAL) {
			int n = pofa_stage_model_refs(&rc->stages[i], refs, 32);
			for (int k = 0; k < n; k++)
				pofa_model_ref_name(refs[k], names[ne][k], 48);
			same &= rows < 0 || n == rows;
			rows = n;
			evals[ne++] = i;
		}
	free(refs);
	if (ne < 2 || !same || rows < 2) {
		free(names);
		return;
	}
	double x[32], y[32], fx[32], fy[32];
	const char *lab[32];
	int n = 0;
	for (int k = 0; k < rows; k++) {
		double pct = 0.0, up = 0.0;
		int np = 0, nu = 0;
		for (int q = 0; q < ne; q++) {
			const pofa_stage *es = &rc->stages[evals[q]];
			double v, r0, u;
			row_value(ev, last, nl, es, names[q][k], es->reference[0] ? es->reference : names[q][0], &v, &r0, &u);
			if (isfinite(v) && isfinite(r0) && r0 > 0)
				pct += 100.0 * v / r0, np++;
			if (isfinite(u))
				up += u, nu++;
		}
		if (!np || !nu)
			continue;
		x[n] = up / nu;
		y[n] = pct / np;
		lab[n++] = names[0][k];
	}
	if (n < 2) {
		free(names);
		return;
	}
	/* the frontier: by speed-up, the rows no faster row matches or beats */
	int order[32], nf = 0;
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && x[order[j]] < x[order[j - 1]]; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		int beaten = 0;
		for (int j = 0; j < n && !beaten; j++)
			beaten = j != order[i] && x[j] >= x[order[i]] && y[j] > y[order[i]];
		if (!beaten) {
			fx[nf] = x[order[i]];
			fy[nf++] = y[order[i]];
		}
	}
	fprintf(f, "<h2 id=\"frontier\">Accuracy against speed</h2>\n<p>Each row of the summary (report.md): its "
	        "main metric as a percentage of each task's reference, the mean over the tasks, against its measured "
	        "speed-up over the dense product, the mean over the tasks. The line joins the rows that no other row "
	        "beats on both.</p>\n");
	series s[2] = {
		{ .name = "frontier", .color = "#d62728", .x = fx, .y = fy, .n = nf },
		{ .name = NULL, .color = "#1f77b4", .x = x, .y = y, .n = n, .points = 1, .labels = lab },
	};
	chart(f, "frontier", "accuracy against measured speed-up, one point per row", "speed-up over dense (x)",
	      "mean % of reference (dev)", s, 2, NULL, 0, 0);
	free(names);   /* the labels point into it */
}

static void results(FILE *f, const pofa_recipe *rc, const pofa_csvtab *ev, const pofa_csvtab *m)
{
	fprintf(f, "<h2 id=\"results\">Results</h2>\n");
	/* the last value of each (stage, model, task, split, metric), in
	 * linear time (a run folder's eval.csv may be long) */
	static const int key[5] = { 1, 2, 4, 5, 6 };
	int *last = malloc(((size_t)ev->n + 1) * sizeof *last);
	int nl = last ? pofa_csvtab_last_by(ev, key, 5, 9, NULL, NULL, last) : 0;
	nl = nl < 0 ? 0 : nl;
	fprintf(f, "<table id=\"results-table\"><tr><th>model</th><th>by stage</th><th>task</th><th>split</th>"
	        "<th>step</th><th>metric</th><th>value</th><th>loss</th><th>sparsity</th><th>sequences/s</th>"
	        "<th>speed-up</th></tr>\n");
	for (int k = 0; k < nl; k++) {
		char **row = ev->rows[last[k]];
		fprintf(f, "<tr>");
		for (int c = 2; c >= 1; c--) {
			fprintf(f, "<td>");
			esc(f, row[c]);
			fprintf(f, "</td>");
		}
		for (int c = 4; c <= 5; c++) {
			fprintf(f, "<td>");
			esc(f, row[c]);
			fprintf(f, "</td>");
		}
		fprintf(f, "<td>");
		esc(f, row[3]);
		fprintf(f, "</td><td>");
		esc(f, row[6]);
		double value = num(row[7]), loss = num(row[8]);
		fprintf(f, isfinite(value) ? "</td><td>%.2f</td>" : "</td><td>-</td>", value);
		fprintf(f, isfinite(loss) ? "<td>%.4f</td>" : "<td>-</td>", loss);
		double sp = stage_sparsity(m, row[2]);
		if (isfinite(sp))
			fprintf(f, "<td>%.1f%%</td>", 100.0 * sp);
		else
			fprintf(f, "<td>-</td>");
		if (ev->nf[last[k]] >= 11 && isfinite(num(row[9])) && isfinite(num(row[10])))
			fprintf(f, "<td>%.1f</td><td>%.2fx</td>", num(row[9]), num(row[10]));
		else
			fprintf(f, "<td>-</td><td>-</td>");
		fprintf(f, "</tr>\n");
	}
	fprintf(f, "</table>\n");
	frontier(f, rc, ev, last, nl);
	/* the figure a reader wants first: each eval stage's main metric
	 * against sparsity, and against measured speed-up */
	for (int i = 0; i < rc->nstages; i++) {
		const pofa_stage *es = &rc->stages[i];
		if (es->kind != POFA_STAGE_EVAL)
			continue;
		double xs[32], xu[32], ys[32];
		const char *lab[32];
		char metric[24] = "";
		int n = 0, nu = 0;
		for (int k = 0; k < nl && n < 32; k++) {
			char **row = dev_main_row(ev, last[k], es, metric, sizeof metric);
			if (!row)
				continue;
			xs[n] = 100.0 * stage_sparsity(m, row[2]);
			if (!isfinite(xs[n]))
				xs[n] = 0.0;
			xu[n] = row_speedup(ev, last[k]);
			nu += isfinite(xu[n]);
			ys[n] = num(row[7]);
			lab[n++] = row[2];
		}
		if (!n)
			continue;
		char id[128], title[200], yl[64];
		snprintf(yl, sizeof yl, "%s (dev)", metric);
		series s = { .name = NULL, .color = "#1f77b4", .x = xs, .y = ys, .n = n, .points = 1, .labels = lab };
		snprintf(id, sizeof id, "acc-sparsity-%s", es->name);
		snprintf(title, sizeof title, "%s on %s against sparsity (stage %s)", metric, es->task.name, es->name);
		chart(f, id, title, "sparsity of the prunable matrices (%)", yl, &s, 1, NULL, 0, 0);
		if (nu) {
			series u = s;
			u.x = xu;
			snprintf(id, sizeof id, "acc-speed-%s", es->name);
			snprintf(title, sizeof title, "%s on %s against measured speed-up (stage %s)", metric, es->task.name,
			         es->name);
			chart(f, id, title, "speed-up over the dense product (x)", yl, &u, 1, NULL, 0, 0);
		}
	}
	free(last);
}

/* a stage's losses, distillation on its own scale, its schedule and its
 * heatmap */
static void stage_section(FILE *f, const char *run_dir, const pofa_recipe *rc, int si, const pofa_csvtab *m,
                          const pofa_csvtab *sp, const pofa_csvtab *evs)
{
	const pofa_stage *s = &rc->stages[si];
	int cap = m->n + 1;
	double *x = malloc((size_t)cap * sizeof *x * 6);
	if (!x)
		return;
	double *task = x + cap, *kd = x + 2 * cap, *total = x + 3 * cap, *teacher = x + 4 * cap, *tmp = x + 5 * cap;
	int n = column(m, s->name, 5, x, task);
	column(m, s->name, 6, tmp, kd);
	column(m, s->name, 7, tmp, total);
	column(m, s->name, 8, tmp, teacher);
	fprintf(f, "<h2 id=\"stage-");
	esc(f, s->name);
	fprintf(f, "\">Stage ");
	esc(f, s->name);
	fprintf(f, " (%s)</h2>\n", pofa_stage_kinds[s->kind]);
	if (!n) {
		fprintf(f, "<p>No training rows%s.</p>\n", s->kind == POFA_STAGE_EVAL ? " (an eval stage)" : "");
		free(x);
		return;
	}
	series ls[3] = { 0 };
	int nl = 0;
	if (any_value(total, n))
		ls[nl++] = (series){ "total", "#1f77b4", NULL, x, total, n, 0, NULL };
	if (any_value(task, n))
		ls[nl++] = (series){ "task", "#2ca02c", "6 3", x, task, n, 0, NULL };
	if (any_value(teacher, n))
		ls[nl++] = (series){ "teacher", "#ff7f0e", "2 3", x, teacher, n, 0, NULL };
	char id[128], title[200];
	snprintf(id, sizeof id, "loss-%s", s->name);
	snprintf(title, sizeof title, "%s: losses", s->name);
	chart(f, id, title, "step", "loss", ls, nl, NULL, 0, 0);
	if (any_value(kd, n)) {
		series k = { "distillation (KD)", "#9467bd", "8 3 2 3", x, kd, n, 0, NULL };
		snprintf(id, sizeof id, "kd-%s", s->name);
		snprintf(title, sizeof title, "%s: distillation loss (its own scale)", s->name);
		chart(f, id, title, "step", "KD loss", &k, 1, NULL, 0, 0);
	}
	if (s->prune) {
		/* as run, and as planned from the recipe (live edits are not in
		 * the plan: they are marked where they landed) */
		double *target = task, *reached = kd;
		column(m, s->name, 9, tmp, target);
		column(m, s->name, 10, tmp, reached);
		int64_t N = s->steps > 0 ? s->steps : (int64_t)x[n - 1];
		pofa_gmp g = pofa_stage_gmp(s, N);
		int np = 200;
		double *px = malloc(2 * (size_t)(np + 1) * sizeof *px), *py = px ? px + np + 1 : NULL;
		if (px)
			for (int i = 0; i <= np; i++) {
				int64_t t = (int64_t)llround((double)N * i / np);
				px[i] = (double)t;
				py[i] = 100.0 * pofa_gmp_target(&g, t);
			}
		for (int i = 0; i < n; i++) {
			target[i] *= 100.0;
			reached[i] *= 100.0;
		}
		series ss[3] = {
			{ "planned", "#999", "4 4", px, py, px ? np + 1 : 0, 0, NULL },
			{ "target as run", "#d62728", NULL, x, target, n, 0, NULL },
			{ "reached", "#1f77b4", "6 2", x, reached, n, 0, NULL },
		};
		marker mk[64];
		char mt[64][300];
		int nm = 0;
		for (int r = 1; r < evs->n && nm < 64; r++)
			if (evs->nf[r] >= 5 && !strcmp(evs->rows[r][1], s->name) && !strcmp(evs->rows[r][3], "schedule")) {
				snprintf(mt[nm], sizeof mt[0], "live edit at step %lld: %.200s", atoll(evs->rows[r][2]), evs->rows[r][4]);
				mk[nm] = (marker){ num(evs->rows[r][2]), mt[nm] };
				nm++;
			}
		snprintf(id, sizeof id, "schedule-%s", s->name);
		snprintf(title, sizeof title, "%s: sparsity schedule, planned and as run%s", s->name,
		         nm ? " (red lines: live edits)" : "");
		chart(f, id, title, "step", "sparsity (%)", ss, 3, mk, nm, 1);
		free(px);
	}
	int sparse = 0;
	for (int r = 1; r < sp->n && !sparse; r++)
		sparse = sp->nf[r] >= 6 && !strcmp(sp->rows[r][0], s->name) && num(sp->rows[r][4]) > 0.0;
	if (sparse) {
		/* the layers of the stage's model, or as many as any model has */
		char cfgp[1300];
		pofa_config cfg;
		pofa_err e2;
		snprintf(cfgp, sizeof cfgp, "%s/%s/config.json", run_dir, s->name);
		int layers = pofa_config_load(&cfg, cfgp, &e2) ? 256 : cfg.num_hidden_layers;
		snprintf(id, sizeof id, "heatmap-%s", s->name);
		heatmap(f, id, s->name, sp, layers);
	}
	free(x);
}

int pofa_runlog_report_html(const char *run_dir, const pofa_recipe *rc, pofa_err *err)
{
	static const char *const names[4] = { "metrics.csv", "sparsity.csv", "eval.csv", "events.csv" };
	pofa_csvtab t[4];
	char path[1200];
	for (int k = 0; k < 4; k++) {
		snprintf(path, sizeof path, "%s/%s", run_dir, names[k]);
		if (pofa_csvtab_read(path, &t[k]))
			memset(&t[k], 0, sizeof t[k]);   /* a run without it: its charts are left out */
	}
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	if (!f) {
		for (int k = 0; k < 4; k++)
			pofa_csvtab_free(&t[k]);
		return pofa_error(err, POFA_ERR_RUN, "out of memory");
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>");
	esc(f, rc->name);
	fprintf(f, ": pofa report</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
	esc(f, rc->name);
	fprintf(f, "</h1>\n<p>Recipe <code>");
	esc(f, rc->path);
	fprintf(f, "</code> (hash %016llx). Metrics in percent. The same run's tables are in report.md, its rows in "
	        "metrics.csv, sparsity.csv, eval.csv, per_class.csv and events.csv.</p>\n<ul>\n",
	        (unsigned long long)rc->hash);
	fprintf(f, "<li><a href=\"#results\">Results</a></li>\n");
	for (int i = 0; i < rc->nstages; i++) {
		fprintf(f, "<li><a href=\"#stage-");
		esc(f, rc->stages[i].name);
		fprintf(f, "\">");
		esc(f, rc->stages[i].name);
		fprintf(f, "</a></li>\n");
	}
	fprintf(f, "</ul>\n");
	results(f, rc, &t[2], &t[0]);
	for (int i = 0; i < rc->nstages; i++)
		stage_section(f, run_dir, rc, i, &t[0], &t[1], &t[3]);
	fprintf(f, "</body>\n</html>\n");
	fclose(f);
	for (int k = 0; k < 4; k++)
		pofa_csvtab_free(&t[k]);
	snprintf(path, sizeof path, "%s/report.html", run_dir);
	int rcode = pofa_write_atomic(path, buf, blen, err);
	free(buf);
	return rcode;
}
