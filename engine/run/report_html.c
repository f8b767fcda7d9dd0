/*
 * report_html.c - report.html: the run to look at, one self-contained file
 * (inline SVG, no scripts, nothing fetched), well-formed XML so that any
 * parser reads it, laid out in a grid that fits 800 px and up and prints.
 * From the run's CSV files and its recipe:
 *
 *   at a glance  a headline per task: what the sparsest model keeps of the
 *                dense reference, how much faster, the reference against
 *                the task's best baseline
 *   results      models x tasks (dev), kept accuracy against sparsity and
 *                measured speed-up on honest axes (% of dense, 100% marked),
 *                the frontier across eval stages
 *   per stage    the losses (distillation on its own scale), the dev metric
 *                over the steps, the sparsity schedule as planned and as
 *                run with live edits marked, the per-layer sparsity as a
 *                heatmap; an eval stage's tables; per class, folded, with
 *                the confusion matrix as a heatmap
 */
#include "engine/run/runlog.h"
#include "engine/run/csvtab.h"
#include "engine/run/results.h"
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

/* a chart's size in SVG units; the page scales it to its column */
enum { W = 560, H0 = 250, ML = 58, MR = 14, MB = 44 };

typedef struct {
	const char *name, *color, *dash;
	const double *x, *y;
	int n;
	int points;       /* dots, not a line */
	const char *const *labels;   /* a label per point (points only) */
	int last;         /* the legend gives the last value */
} series;

typedef struct { double x; const char *text; } marker;

/* how a chart's axes are chosen: honest ones for metrics */
typedef struct {
	int y_from_zero;        /* the y axis starts at 0 */
	double ref_y;           /* a dashed level (the reference's 100%, a baseline), NAN: none */
	const char *ref_label;
	double min_span;        /* the y axis spans at least this (a point of accuracy is not a cliff) */
	int x_from_zero;
} axes;

static const axes AUTO = { 0, NAN, NULL, 0.0, 0 };

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

/* series k draws what an earlier one draws: the same points */
static int same_as(const series *s, int k)
{
	for (int j = 0; j < k; j++) {
		if (s[j].n != s[k].n || s[j].points != s[k].points || !s[j].name)
			continue;
		int eq = 1;
		for (int i = 0; i < s[k].n && eq; i++)
			eq = (s[j].x[i] == s[k].x[i] || (isnan(s[j].x[i]) && isnan(s[k].x[i]))) &&
			     (s[j].y[i] == s[k].y[i] || (isnan(s[j].y[i]) && isnan(s[k].y[i])));
		if (eq)
			return j;
	}
	return -1;
}

/* the legend above the plot, wrapped to the width: each series' name and
 * last value (a series equal to an earlier one named with it, not drawn);
 * draw 0 only measures. Returns the rows it takes */
static int legend(FILE *f, const series *s, int ns, const axes *ax, int draw)
{
	int lx = ML, row = 0;
	if (isfinite(ax->ref_y) && ax->ref_label) {   /* the reference level's dashes, named */
		if (draw) {
			fprintf(f, "<line x1=\"%d\" y1=\"30\" x2=\"%d\" y2=\"30\" class=\"ref\"/><text x=\"%d\" y=\"34\" "
			        "class=\"lg\">", lx, lx + 18, lx + 22);
			esc(f, ax->ref_label);
			fprintf(f, "</text>\n");
		}
		lx += 30 + (int)(6.2 * (double)strlen(ax->ref_label));
	}
	for (int k = 0; k < ns; k++) {
		const series *z = &s[k];
		if (!z->name || same_as(s, k) >= 0)
			continue;
		char text[200], b[32] = "";
		double last = NAN;
		for (int i = z->n - 1; i >= 0 && !isfinite(last); i--)
			last = z->y[i];
		if (z->last && isfinite(last))
			fmt_num(b, sizeof b, last);
		int m = snprintf(text, sizeof text, "%s", z->name);
		for (int j = k + 1; j < ns; j++)
			if (s[j].name && same_as(s, j) == k)
				m += snprintf(text + m, sizeof text - (size_t)(m < (int)sizeof text ? m : (int)sizeof text - 1),
				              " = %s", s[j].name);
		int w = 30 + (int)(6.2 * (double)(strlen(text) + strlen(b) + 1));
		if (lx + w > W - MR && lx > ML) {
			lx = ML;
			row++;
		}
		if (draw) {
			int y = 34 + 16 * row;
			fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s%s%s/>"
			        "<text x=\"%d\" y=\"%d\" class=\"lg\">", lx, y - 4, lx + 18, y - 4, z->color,
			        z->dash ? " stroke-dasharray=\"" : "", z->dash ? z->dash : "", z->dash ? "\"" : "", lx + 22, y);
			esc(f, text);
			if (b[0])
				fprintf(f, " %s", b);
			fprintf(f, "</text>\n");
		}
		lx += w;
	}
	return lx > ML || row ? row + 1 : 0;
}

/* the labels placed so far in a chart: boxes a new one must not cross */
typedef struct { double x0[64], y0[64], x1[64], y1[64]; int n; } boxes;

static int box_free(const boxes *b, double x0, double y0, double x1, double y1)
{
	for (int i = 0; i < b->n; i++)
		if (x0 < b->x1[i] && x1 > b->x0[i] && y0 < b->y1[i] && y1 > b->y0[i])
			return 0;
	return 1;
}

/* a point's label inside the frame [left, right] x [top, bottom]: the
 * first of eight places around the point that crosses no label placed
 * before (and no other point's dot), else the first place that fits */
static void point_label(FILE *f, boxes *b, double px, double py, const char *text, double left, double right,
                        double top, double bottom)
{
	static const double dx[8] = { 7, -7, 7, -7, 7, -7, 7, -7 }, dy[8] = { -6, -6, 14, 14, -18, -18, 26, 26 };
	double w = 6.2 * (double)strlen(text), bx = 0, by = 0;
	int pick = -1;
	for (int k = 0; k < 8 && pick < 0; k++) {
		double x0 = dx[k] > 0 ? px + dx[k] : px + dx[k] - w, y1 = py + dy[k] + 3;
		if (x0 >= left && x0 + w <= right && y1 - 12 >= top && y1 <= bottom && box_free(b, x0, y1 - 12, x0 + w, y1))
			pick = k, bx = x0, by = y1;
	}
	if (pick < 0) {   /* crowded: beside the point, on the side that fits */
		pick = px + 7 + w > right ? 1 : 0;
		bx = pick ? px - 7 - w : px + 7;
		by = py - 3;
	}
	if (b->n < 64) {
		b->x0[b->n] = bx;
		b->y0[b->n] = by - 12;
		b->x1[b->n] = bx + w;
		b->y1[b->n++] = by;
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"pl\">", bx, by - 3);
	esc(f, text);
	fprintf(f, "</text>");
}

/* the axes' ranges: the data's, padded so that points sit inside the
 * frame, and as ax asks (from zero, a reference level shown, a least span) */
static void chart_ranges(const series *s, int ns, const axes *ax, double *x0, double *x1, double *y0, double *y1)
{
	int points = 0;
	for (int k = 0; k < ns; k++)
		points |= s[k].points;
	range_of(s, ns, 0, x0, x1);
	range_of(s, ns, 1, y0, y1);
	if (isfinite(ax->ref_y)) {
		*y0 = fmin(*y0, ax->ref_y);
		*y1 = fmax(*y1, ax->ref_y);
	}
	if (*y1 - *y0 < ax->min_span) {
		double mid = isfinite(ax->ref_y) ? fmin(fmax((*y0 + *y1) / 2, ax->ref_y - ax->min_span / 2), ax->ref_y)
		                                 : (*y0 + *y1) / 2;
		*y0 = fmin(*y0, mid - ax->min_span / 2);
		*y1 = fmax(*y1, *y0 + ax->min_span);
	}
	if (ax->y_from_zero && *y0 > 0.0)
		*y0 = 0.0;
	if (ax->x_from_zero && *x0 > 0.0)
		*x0 = 0.0;
	if (points) {   /* room for the dots and their labels */
		double dx = (*x1 - *x0) * 0.08, dy = (*y1 - *y0) * 0.1;
		*x0 -= dx;
		*x1 += dx;
		*y0 -= dy;
		*y1 += dy;
	}
}

/* a chart: the title, the legend above the plot, axes with ticks, a
 * reference level, markers (vertical lines with a title), the series */
static void chart(FILE *f, const char *id, const char *title, const char *xlabel, const char *ylabel,
                  const series *s, int ns, const marker *mk, int nm, const axes *ax)
{
	double x0, x1, y0, y1;
	chart_ranges(s, ns, ax, &x0, &x1, &y0, &y1);
	double ys = tick_step(y0, y1), xs = tick_step(x0, x1);
	y0 = floor(y0 / ys) * ys;
	y1 = ceil(y1 / ys) * ys;
	int rows = legend(f, s, ns, ax, 0), MT = 30 + 16 * rows, H = H0 + 16 * rows;
	double pw = W - ML - MR, ph = H - MT - MB;
#define PX(v) (ML + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (MT + ph - ((v) - y0) / (y1 - y0) * ph)
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"");
	esc(f, id);
	fprintf(f, "\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\">\n<title>", W, H);
	esc(f, title);
	fprintf(f, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"18\" class=\"t\">", 8);
	esc(f, title);
	fprintf(f, "</text>\n");
	legend(f, s, ns, ax, 1);
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
	if (isfinite(ax->ref_y)) {
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" class=\"ref\"/>", ML, PY(ax->ref_y), ML + pw,
		        PY(ax->ref_y));
		fputc('\n', f);
	}
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
		if (same_as(s, k) >= 0)
			continue;   /* drawn, and named in the legend, with the first */
		if (z->points) {
			boxes b = { .n = 0 };
			for (int i = 0; i < z->n && b.n < 64; i++)   /* the dots first: no label covers one */
				if (isfinite(z->x[i]) && isfinite(z->y[i])) {
					b.x0[b.n] = PX(z->x[i]) - 4;
					b.y0[b.n] = PY(z->y[i]) - 4;
					b.x1[b.n] = PX(z->x[i]) + 4;
					b.y1[b.n++] = PY(z->y[i]) + 4;
				}
			for (int i = 0; i < z->n; i++) {
				if (!isfinite(z->x[i]) || !isfinite(z->y[i]))
					continue;
				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", PX(z->x[i]), PY(z->y[i]), z->color);
				if (z->labels)
					point_label(f, &b, PX(z->x[i]), PY(z->y[i]), z->labels[i], ML, ML + pw, MT, MT + ph);
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
	fprintf(f, "\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\">\n<title>", w, h);
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
	"body{font-family:system-ui,sans-serif;margin:0 auto;padding:1em 2em;color:#222;max-width:1800px}"
	"h1{margin:.3em 0}h2{margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}"
	"h3{margin:1em 0 .4em}p{max-width:80em}nav a{margin-right:.8em}code{overflow-wrap:anywhere}"
	".hls{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,300px),1fr));gap:.8em}"
	".hl{border:1px solid #ccc;border-radius:6px;padding:.6em .9em;background:#f7f9fc}"
	".hl .big{font-size:1.5em;font-weight:bold;display:block;margin:.2em 0}.hl .task{color:#555}"
	".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,480px),1fr));gap:1em;"
	"align-items:start}"
	".chart{width:100%;height:auto;display:block;border:1px solid #ddd;background:#fff}"
	".wide{max-width:100%;overflow-x:auto}"
	"table{border-collapse:collapse;margin:.5em 0;font-variant-numeric:tabular-nums}"
	"td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
	"th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
	"td.good{background:#e3f4e6}td.fair{background:#fff4d6}td.low{background:#fbe2e2}"
	"tr.base td{color:#666;font-style:italic}details{margin:.4em 0}summary{cursor:pointer}"
	".t{font-size:14px;font-weight:bold}.g{stroke:#eee}.frame{fill:none;stroke:#888}"
	".yl{font-size:11px;text-anchor:end}.xl{font-size:11px;text-anchor:middle}"
	".al{font-size:12px;text-anchor:middle}.lg{font-size:11px}.pl{font-size:11px}"
	".ref{stroke:#555;stroke-dasharray:5 4}"
	".mark line{stroke:#c00;stroke-dasharray:3 3}.cell{stroke:#fff}"
	".cv{font-size:11px;text-anchor:middle;fill:#222}.cv.dark{fill:#fff}"
	"@media print{body{max-width:none;padding:0;font-size:10pt}nav{display:none}"
	".grid{grid-template-columns:1fr 1fr}.chart,table,.hl,details{break-inside:avoid}"
	"h2{break-after:avoid}}";

/* what the page is drawn from: the run's files read once */
typedef struct {
	const char *run_dir;
	const pofa_recipe *rc;
	pofa_csvtab t[6];           /* metrics, sparsity, eval, events, per_class, confusion */
	pofa_result *res;
	int nr;
	int64_t best_step[POFA_MAX_STAGES];
	pofa_class_eval *cev;
	int ncev;
	int evals[POFA_MAX_STAGES], ne, counts[POFA_MAX_STAGES];
	char (*names)[32][48];      /* each eval stage's models */
} page;

enum { T_METRICS, T_SPARSITY, T_EVAL, T_EVENTS, T_CLASSES, T_CONFUSION };

/* a task's main metric: its first on dev */
static const char *task_metric(const page *P, const char *task)
{
	for (int k = 0; k < P->nr; k++)
		if (!strcmp(P->res[k].task, task) && !strcmp(P->res[k].split, "dev"))
			return P->res[k].metric;
	return "";
}

static const char *eval_ref(const page *P, int q)
{
	const pofa_stage *es = &P->rc->stages[P->evals[q]];
	return es->reference[0] ? es->reference : P->counts[q] ? P->names[q][0] : "";
}

/* the best baseline an eval stage computed on dev: its name and value */
static const char *best_baseline(const page *P, const char *task, double *v)
{
	const char *name = NULL;
	*v = NAN;
	for (size_t b = 0; b < 3; b++) {
		pofa_cell c = pofa_result_cell(task, P->res, P->nr, pofa_baseline_names[b], "");
		if (isfinite(c.v) && !(c.v <= *v)) {
			*v = c.v;
			name = pofa_baseline_names[b];
		}
	}
	return name;
}

/* one line a task: what its sparsest model keeps of the reference, how
 * much faster it is, and the reference against the task's best baseline */
static void headline(FILE *f, const page *P, int q)
{
	const pofa_stage *es = &P->rc->stages[P->evals[q]];
	const char *ref = eval_ref(P, q), *metric = task_metric(P, es->task.name), *pick = NULL;
	pofa_cell best = { NAN, NAN, 0, NAN, NAN, 0 };
	for (int k = 0; k < P->counts[q]; k++) {
		const char *name = P->names[q][k];
		pofa_cell c = pofa_result_cell(es->task.name, P->res, P->nr, name, ref);
		double sp = isfinite(c.sparsity) ? c.sparsity : 0.0, bsp = isfinite(best.sparsity) ? best.sparsity : 0.0;
		if (strcmp(name, ref) && isfinite(c.v) && isfinite(c.r0) && c.r0 > 0 &&
		    (!pick || sp > bsp || (sp == bsp && c.v > best.v))) {
			pick = name;
			best = c;
		}
	}
	fprintf(f, "<div class=\"hl\"><span class=\"task\">");
	esc(f, es->task.name);
	fprintf(f, " (dev, ");
	esc(f, metric);
	fprintf(f, ")</span>");
	if (pick) {
		double pct = 100.0 * best.v / best.r0;
		fprintf(f, "<span class=\"big\">%.1f%% of dense</span>", pct);
		esc(f, pick);
		if (isfinite(best.sparsity))
			fprintf(f, ", %.0f%% sparse,", 100.0 * best.sparsity);
		fprintf(f, " keeps %.1f%% of ", pct);
		esc(f, ref);
		fprintf(f, "'s %.2f (%.2f)", best.r0, best.v);
		if (best.has_up)
			fprintf(f, best.up >= 1.05 ? ", %.1fx faster" : ", no faster than dense (%.2fx)", best.up);
		fprintf(f, ".");
	} else {
		pofa_cell c = pofa_result_cell(es->task.name, P->res, P->nr, ref, ref);
		fprintf(f, "<span class=\"big\">%.2f</span>", c.v);
		esc(f, ref);
	}
	double bv;
	const char *bn = best_baseline(P, es->task.name, &bv);
	pofa_cell r = pofa_result_cell(es->task.name, P->res, P->nr, ref, ref);
	if (bn && isfinite(r.v)) {
		fprintf(f, " The dense ");
		esc(f, ref);
		fprintf(f, " scores %.2f against %.2f for the best baseline (%s): %+.1f points.", r.v, bv, bn, r.v - bv);
	}
	fprintf(f, "</div>\n");
}

/* a cell's class by how much of the reference it keeps */
static const char *keep_class(double pct)
{
	return !isfinite(pct) ? "" : pct >= 99.0 ? " class=\"good\"" : pct >= 97.0 ? " class=\"fair\"" : " class=\"low\"";
}

/* one row of the matrix: a model of each task (or a baseline) */
static void matrix_row(FILE *f, const page *P, const int *qs, int nq, int k, const char *baseline)
{
	pofa_row_mean m = POFA_ROW_MEAN;
	fprintf(f, baseline ? "<tr class=\"base\"><td>" : "<tr><td>");
	esc(f, baseline ? baseline : P->names[qs[0]][k]);
	fprintf(f, "</td>");
	for (int i = 0; i < nq; i++) {
		int q = qs[i];
		const char *name = baseline ? baseline : P->names[q][k];
		pofa_cell c = pofa_result_cell(P->rc->stages[P->evals[q]].task.name, P->res, P->nr, name, eval_ref(P, q));
		double p = pofa_row_mean_add(&m, &c);
		fprintf(f, "<td%s>", baseline ? "" : keep_class(p));
		if (isfinite(c.v))
			fprintf(f, isfinite(p) ? "%.2f <small>(%.1f%%)</small>" : "%.2f", c.v, p);
		else
			fprintf(f, "-");
		fprintf(f, "</td>");
	}
	fprintf(f, m.npct ? "<td>%.1f%%</td>" : "<td>-</td>", m.npct ? m.pct / m.npct : 0.0);
	fprintf(f, isfinite(m.sparsity) ? "<td>%.1f%%</td>" : "<td>-</td>", 100.0 * m.sparsity);
	fprintf(f, m.nup ? "<td>%.2fx</td>" : "<td>-</td>", m.nup ? m.up / m.nup : 0.0);
	fprintf(f, m.nmb ? "<td>%.2f</td></tr>\n" : "<td>-</td></tr>\n", m.nmb ? m.mb / m.nmb : 0.0);
}

/* models x tasks (dev): the eval stages qs, which list as many models
 * each, their k-th models side by side (a row per method) */
static void matrix(FILE *f, const page *P, const int *qs, int nq, int *first)
{
	fprintf(f, "<div class=\"wide\"><table%s><tr><th>model</th>", *first ? " id=\"results-table\"" : "");
	*first = 0;
	for (int i = 0; i < nq; i++) {
		const pofa_stage *es = &P->rc->stages[P->evals[qs[i]]];
		fprintf(f, "<th>");
		esc(f, es->task.name);
		fprintf(f, "<br/><small>");
		esc(f, task_metric(P, es->task.name));
		fprintf(f, " (%% of ");
		esc(f, eval_ref(P, qs[i]));
		fprintf(f, ")</small></th>");
	}
	fprintf(f, "<th>mean %% of dense</th><th>sparsity</th><th>speed-up</th><th>size MB</th></tr>\n");
	for (int k = 0; k < P->counts[qs[0]]; k++)
		matrix_row(f, P, qs, nq, k, NULL);
	for (size_t b = 0; b < 3; b++) {
		int has = 0;
		for (int i = 0; i < nq && !has; i++)
			has = isfinite(pofa_result_cell(P->rc->stages[P->evals[qs[i]]].task.name, P->res, P->nr,
			                                pofa_baseline_names[b], "").v);
		if (has)
			matrix_row(f, P, qs, nq, 0, pofa_baseline_names[b]);
	}
	fprintf(f, "</table></div>\n");
}

/* the frontier: each row of the matrix (the eval stages qs) as its mean %
 * of dense over the tasks against its mean measured speed-up, and the line
 * through the rows no other row beats on both */
static void frontier(FILE *f, const page *P, const int *qs, int nq)
{
	int rows = P->counts[qs[0]];
	rows = rows > 32 ? 32 : rows;
	double x[32], y[32], fx[32], fy[32];
	const char *lab[32];
	int n = 0;
	for (int k = 0; k < rows; k++) {
		double pct = 0.0, up = 0.0;
		int np = 0, nu = 0;
		for (int i = 0; i < nq; i++) {
			int q = qs[i];
			pofa_cell c = pofa_result_cell(P->rc->stages[P->evals[q]].task.name, P->res, P->nr, P->names[q][k],
			                               eval_ref(P, q));
			if (isfinite(c.v) && isfinite(c.r0) && c.r0 > 0)
				pct += 100.0 * c.v / c.r0, np++;
			if (c.has_up)
				up += c.up, nu++;
		}
		if (!np || !nu)
			continue;
		x[n] = up / nu;
		y[n] = pct / np;
		lab[n++] = P->names[qs[0]][k];
	}
	if (n < 2)
		return;
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
	series s[2] = {
		{ .name = "frontier: the rows no other beats on both", .color = "#d62728", .x = fx, .y = fy, .n = nf },
		{ .name = NULL, .color = "#1f77b4", .x = x, .y = y, .n = n, .points = 1, .labels = lab },
	};
	axes ax = { 0, 100.0, "dense = 100%", 10.0, 1 };
	chart(f, "frontier", "accuracy against measured speed-up, one point per row (mean over the tasks)",
	      "speed-up over dense (x)", "% of dense (dev)", s, 2, NULL, 0, &ax);
}

/* an eval stage's models as % of its reference against their sparsity,
 * and against their measured speed-up */
static void eval_charts(FILE *f, const page *P, int q)
{
	const pofa_stage *es = &P->rc->stages[P->evals[q]];
	double xs[32], xu[32], ys[32];
	const char *lab[32];
	int n = 0, nu = 0;
	for (int k = 0; k < P->counts[q] && n < 32; k++) {
		pofa_cell c = pofa_result_cell(es->task.name, P->res, P->nr, P->names[q][k], eval_ref(P, q));
		if (!isfinite(c.v) || !isfinite(c.r0) || !(c.r0 > 0))
			continue;
		xs[n] = isfinite(c.sparsity) ? 100.0 * c.sparsity : 0.0;
		xu[n] = c.has_up ? c.up : NAN;
		nu += c.has_up;
		ys[n] = 100.0 * c.v / c.r0;
		lab[n++] = P->names[q][k];
	}
	if (!n)
		return;
	char id[128], title[200], yl[96];
	snprintf(yl, sizeof yl, "%s, %% of dense (dev)", task_metric(P, es->task.name));
	series s = { .name = NULL, .color = "#1f77b4", .x = xs, .y = ys, .n = n, .points = 1, .labels = lab };
	axes ax = { 0, 100.0, "dense = 100%", 10.0, 1 };
	snprintf(id, sizeof id, "acc-sparsity-%s", es->name);
	snprintf(title, sizeof title, "%s: kept against sparsity (stage %s)", es->task.name, es->name);
	chart(f, id, title, "sparsity of the prunable matrices (%)", yl, &s, 1, NULL, 0, &ax);
	if (nu) {
		s.x = xu;
		snprintf(id, sizeof id, "acc-speed-%s", es->name);
		snprintf(title, sizeof title, "%s: kept against measured speed-up (stage %s)", es->task.name, es->name);
		chart(f, id, title, "speed-up over dense (x)", yl, &s, 1, NULL, 0, &ax);
	}
}

/* the headlines, the results matrix (one, or one per eval stage when they
 * list different numbers of models) and the charts of kept accuracy */
static void results(FILE *f, const page *P)
{
	fprintf(f, "<h2 id=\"summary\">At a glance</h2>\n");
	if (!P->ne) {
		fprintf(f, "<p>This recipe has no eval stage: each training stage's own evaluations are in its "
		        "section below.</p>\n");
		return;
	}
	fprintf(f, "<div class=\"hls\">\n");
	for (int q = 0; q < P->ne; q++)
		headline(f, P, q);
	fprintf(f, "</div>\n<h2 id=\"results\">Results (dev)</h2>\n<p>Each model's main metric on each task, and in "
	        "brackets the share of the dense reference's it keeps (green: 99%% or more, yellow: 97%% or more, "
	        "red: less); speed-up is the measured one over the dense product, size the weights as pofa's runtime "
	        "holds them; baselines in grey. Test splits are in the eval stages' sections.</p>\n");
	int same = 1, first = 1, all[POFA_MAX_STAGES];
	for (int q = 0; q < P->ne; q++) {
		same &= P->counts[q] == P->counts[0];
		all[q] = q;
	}
	if (same) {
		matrix(f, P, all, P->ne, &first);
	} else {
		for (int q = 0; q < P->ne; q++)
			matrix(f, P, &q, 1, &first);
	}
	fprintf(f, "<div class=\"grid\">\n");
	if (same && P->ne > 1)
		frontier(f, P, all, P->ne);
	for (int q = 0; q < P->ne; q++)
		eval_charts(f, P, q);
	fprintf(f, "</div>\n");
}

/* ---- a stage ---------------------------------------------------------------- */

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

/* the stage's own dev evaluations over its steps (eval_interval): its
 * main metric, from zero; a masked-LM stage's loss beside the unigram
 * baseline's */
static void dev_curve(FILE *f, const page *P, const pofa_stage *s)
{
	const pofa_csvtab *ev = &P->t[T_EVAL];
	double *x = malloc(2 * ((size_t)ev->n + 1) * sizeof *x), *y = x ? x + ev->n + 1 : NULL, base = NAN;
	char metric[24] = "", task[64] = "";
	int n = 0;
	for (int r = 1; x && r < ev->n; r++) {
		char **row = ev->rows[r];
		if (ev->nf[r] < 9 || strcmp(row[1], s->name) || strcmp(row[5], "dev"))
			continue;
		if (!metric[0]) {
			snprintf(metric, sizeof metric, "%s", row[6]);
			snprintf(task, sizeof task, "%s", row[4]);
		}
		if (strcmp(row[6], metric))
			continue;
		if (!strcmp(row[2], "unigram"))
			base = num(row[7]);
		else if (!strcmp(row[2], s->name) && n < ev->n) {
			x[n] = num(row[3]);
			y[n++] = num(row[7]);
		}
	}
	if (n >= 2) {
		char id[128], title[200], yl[64];
		snprintf(id, sizeof id, "dev-%s", s->name);
		snprintf(title, sizeof title, "%s: %s on %s dev over the steps", s->name, metric, task);
		snprintf(yl, sizeof yl, "%s (dev)", metric);
		series z = { s->name, "#1f77b4", NULL, x, y, n, 0, NULL, 1 };
		axes ax = { strcmp(metric, "loss") != 0, base, "unigram baseline", 0.0, 0 };
		chart(f, id, title, "step", yl, &z, 1, NULL, 0, &ax);
	}
	free(x);
}

/* the stage's losses (teacher, task, total; distillation on its own scale) */
static void loss_charts(FILE *f, const page *P, const pofa_stage *s, double *x, double *buf, int n)
{
	const pofa_csvtab *m = &P->t[T_METRICS];
	double *task = buf, *kd = buf + n, *total = buf + 2 * n, *teacher = buf + 3 * n, *tmp = buf + 4 * n;
	column(m, s->name, 5, tmp, task);
	column(m, s->name, 6, tmp, kd);
	column(m, s->name, 7, tmp, total);
	column(m, s->name, 8, tmp, teacher);
	series ls[3] = { 0 };
	int nl = 0;
	if (any_value(total, n))
		ls[nl++] = (series){ "total", "#1f77b4", NULL, x, total, n, 0, NULL, 1 };
	if (any_value(task, n))
		ls[nl++] = (series){ "task", "#2ca02c", "6 3", x, task, n, 0, NULL, 1 };
	if (any_value(teacher, n))
		ls[nl++] = (series){ "teacher", "#ff7f0e", "2 3", x, teacher, n, 0, NULL, 1 };
	char id[128], title[200];
	snprintf(id, sizeof id, "loss-%s", s->name);
	snprintf(title, sizeof title, "%s: training losses", s->name);
	chart(f, id, title, "step", "loss", ls, nl, NULL, 0, &AUTO);
	if (any_value(kd, n)) {
		series k = { "distillation (KD)", "#9467bd", "8 3 2 3", x, kd, n, 0, NULL, 1 };
		snprintf(id, sizeof id, "kd-%s", s->name);
		snprintf(title, sizeof title, "%s: distillation loss (its own scale)", s->name);
		chart(f, id, title, "step", "KD loss", &k, 1, NULL, 0, &AUTO);
	}
}

/* a prune stage's sparsity: as planned from the recipe, as run, and the
 * live edits marked where they landed */
static void schedule_chart(FILE *f, const page *P, const pofa_stage *s, double *x, double *buf, int n)
{
	const pofa_csvtab *m = &P->t[T_METRICS], *evs = &P->t[T_EVENTS];
	double *target = buf, *reached = buf + n, *tmp = buf + 2 * n;
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
		{ "planned", "#999", "4 4", px, py, px ? np + 1 : 0, 0, NULL, 0 },
		{ "target as run", "#d62728", NULL, x, target, n, 0, NULL, 1 },
		{ "reached", "#1f77b4", "6 2", x, reached, n, 0, NULL, 1 },
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
	char id[128], title[200];
	snprintf(id, sizeof id, "schedule-%s", s->name);
	snprintf(title, sizeof title, "%s: sparsity schedule, planned and as run%s", s->name,
	         nm ? " (red lines: live edits)" : "");
	axes ax = { 1, NAN, NULL, 0.0, 0 };
	chart(f, id, title, "step", "sparsity (%)", ss, 3, mk, nm, &ax);
	free(px);
}

/* an eval stage's table of one split: every model's metrics, the first as
 * % of the reference, its sparsity, speed and size; the baselines after */
static void eval_table(FILE *f, const page *P, int q, const char *split)
{
	const pofa_stage *es = &P->rc->stages[P->evals[q]];
	char metrics[8][24];
	int nmet = 0;
	for (int k = 0; k < P->nr; k++)
		if (!strcmp(P->res[k].task, es->task.name) && !strcmp(P->res[k].split, split)) {
			int j;
			for (j = 0; j < nmet && strcmp(metrics[j], P->res[k].metric); j++)
				;
			if (j == nmet && nmet < 8)
				snprintf(metrics[nmet++], sizeof metrics[0], "%s", P->res[k].metric);
		}
	if (!nmet)
		return;
	fprintf(f, "<h3>%s split</h3>\n<div class=\"wide\"><table><tr><th>model</th>", split);
	for (int m = 0; m < nmet; m++) {
		fprintf(f, "<th>");
		esc(f, metrics[m]);
		fprintf(f, "</th>");
	}
	fprintf(f, "<th>%% of ");
	esc(f, eval_ref(P, q));
	fprintf(f, "</th><th>sparsity</th><th>sequences/s</th><th>speed-up</th><th>size MB</th></tr>\n");
	for (int mi = 0; mi < P->counts[q] + 3; mi++) {
		const char *model = mi < P->counts[q] ? P->names[q][mi] : pofa_baseline_names[mi - P->counts[q]];
		const pofa_result *first = NULL;
		double r0 = NAN;
		for (int k = 0; k < P->nr; k++)
			if (!strcmp(P->res[k].task, es->task.name) && !strcmp(P->res[k].split, split) &&
			    !strcmp(P->res[k].metric, metrics[0])) {
				if (!strcmp(P->res[k].model, model))
					first = &P->res[k];
				if (!strcmp(P->res[k].model, eval_ref(P, q)))
					r0 = P->res[k].value;
			}
		if (!first)
			continue;
		fprintf(f, mi < P->counts[q] ? "<tr><td>" : "<tr class=\"base\"><td>");
		esc(f, model);
		fprintf(f, "</td>");
		for (int m = 0; m < nmet; m++) {
			double v = NAN;
			for (int k = 0; k < P->nr; k++)
				if (!strcmp(P->res[k].task, es->task.name) && !strcmp(P->res[k].split, split) &&
				    !strcmp(P->res[k].metric, metrics[m]) && !strcmp(P->res[k].model, model))
					v = P->res[k].value;
			fprintf(f, isfinite(v) ? "<td>%.2f</td>" : "<td>-</td>", v);
		}
		double pct = isfinite(r0) && r0 > 0 ? 100.0 * first->value / r0 : NAN;
		fprintf(f, isfinite(pct) ? "<td%s>%.1f%%</td>" : "<td%s>-</td>", mi < P->counts[q] ? keep_class(pct) : "",
		        pct);
		fprintf(f, isfinite(first->sparsity) ? "<td>%.1f%%</td>" : "<td>-</td>", 100.0 * first->sparsity);
		if (first->sps > 0.0)
			fprintf(f, "<td>%.1f</td><td>%.2fx</td>", first->sps, first->speedup);
		else
			fprintf(f, "<td>-</td><td>-</td>");
		fprintf(f, isfinite(first->size_mb) ? "<td>%.2f</td></tr>\n" : "<td>-</td></tr>\n", first->size_mb);
	}
	fprintf(f, "</table></div>\n");
}

/* an evaluation's confusion matrix as a heatmap: gold in rows, predicted
 * in columns, each cell's share of its gold class */
static void confusion_map(FILE *f, const page *P, const pofa_class_eval *e)
{
	const pofa_csvtab *pc = &P->t[T_CLASSES], *cf = &P->t[T_CONFUSION];
	int n = e->r1 - e->r0 + 1;
	if (e->c0 < 0 || n > 64)
		return;
	int cs = n <= 8 ? 40 : n <= 20 ? 24 : 12, lw = 170, top = 40, w = lw + n * cs + 20, h = top + n * cs + 20;
	w = w < 380 ? 380 : w;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" style=\"max-width:%dpx\" "
	        "viewBox=\"0 0 %d %d\" role=\"img\"><title>confusion matrix</title>"
	        "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
	        "<text x=\"8\" y=\"18\" class=\"t\">confusion: gold rows, predicted columns</text>\n",
	        w * 3 / 2, w, h, w, h);
	for (int i = 0; i < n; i++) {
		const char *name = pc->rows[e->r0 + i][6];
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"yl\"><title>", lw - 4, top + i * cs + cs / 2 + 4);
		esc(f, name);
		fprintf(f, "</title>%d ", i + 1);
		char shortname[24];
		snprintf(shortname, sizeof shortname, "%.20s", name);
		for (int b = (int)strlen(shortname); b > 0 && ((unsigned char)shortname[b - 1] & 0xC0) == 0x80; b--)
			shortname[b - 1] = 0;   /* no broken UTF-8 sequence at the cut */
		esc(f, shortname);
		fprintf(f, "</text>");
		if (cs >= 24 || (i + 1) % 5 == 0 || i == 0)
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"xl\">%d</text>", lw + i * cs + cs / 2, top - 4, i + 1);
		fputc('\n', f);
	}
	long long rowsum[64] = { 0 };
	for (int q = e->c0, c = 0; q < cf->n && c < n * n && cf->nf[q] >= 9 && pofa_same_eval(cf, q, pc, e->r1); q++, c++)
		rowsum[c / n] += atoll(cf->rows[q][8]);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n", lw, top,
	        n * cs, n * cs);
	for (int q = e->c0, c = 0; q < cf->n && c < n * n && cf->nf[q] >= 9 && pofa_same_eval(cf, q, pc, e->r1); q++, c++) {
		long long v = atoll(cf->rows[q][8]);
		if (v <= 0)
			continue;
		int g = c / n, p = c % n;
		double share = rowsum[g] ? (double)v / (double)rowsum[g] : 0.0;
		char col[16];
		heat_color(share, col, sizeof col);
		fprintf(f, "<g><title>gold ");
		esc(f, cf->rows[q][6]);
		fprintf(f, ", predicted ");
		esc(f, cf->rows[q][7]);
		fprintf(f, ": %lld (%.0f%% of the class)</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
		        "fill=\"%s\"%s/>", v, 100.0 * share, lw + p * cs, top + g * cs, cs, cs, col,
		        g == p ? " stroke=\"#2ca02c\"" : "");
		if (cs >= 24)
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"%s\">%lld</text>", lw + p * cs + cs / 2, top + g * cs + cs / 2 + 4,
			        share > 0.55 ? "cv dark" : "cv", v);
		fprintf(f, "</g>\n");
	}
	fprintf(f, "</svg>\n");
}

/* one evaluation per class, folded: precision, recall, F1, support and
 * predictions per class, and the confusion heatmap */
static void class_section(FILE *f, const page *P, const pofa_class_eval *e)
{
	const pofa_csvtab *pc = &P->t[T_CLASSES];
	char **h = pc->rows[e->r1];
	int n = e->r1 - e->r0 + 1, npred = 0;
	for (int r = e->r0; r <= e->r1; r++)
		npred += atoll(pc->rows[r][12]) > 0;
	fprintf(f, "<details><summary>per class: ");
	esc(f, h[2]);
	fprintf(f, " on ");
	esc(f, h[4]);
	fprintf(f, ", ");
	esc(f, h[5]);
	fprintf(f, " (step %lld): predicts %d of %d classes</summary>\n<div class=\"grid\"><div class=\"wide\"><table>"
	        "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>predicted</th></tr>\n",
	        atoll(h[3]), npred, n);
	for (int r = e->r0; r <= e->r1; r++) {
		fprintf(f, "<tr><td>");
		esc(f, pc->rows[r][6]);
		fprintf(f, "%s</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%lld</td><td>%lld</td></tr>\n",
		        atoi(pc->rows[r][7]) ? " (positive)" : "", atof(pc->rows[r][8]), atof(pc->rows[r][9]),
		        atof(pc->rows[r][10]), atoll(pc->rows[r][11]), atoll(pc->rows[r][12]));
	}
	fprintf(f, "</table></div>\n");
	confusion_map(f, P, e);
	fprintf(f, "</div></details>\n");
}

/* a stage: an eval stage's tables; a training stage's losses, schedule,
 * dev curve and heatmap; then its evaluations per class */
static void stage_section(FILE *f, const page *P, int si)
{
	const pofa_stage *s = &P->rc->stages[si];
	const pofa_csvtab *m = &P->t[T_METRICS], *sp = &P->t[T_SPARSITY];
	fprintf(f, "<h2 id=\"stage-");
	esc(f, s->name);
	fprintf(f, "\">Stage ");
	esc(f, s->name);
	fprintf(f, " (%s)</h2>\n", pofa_stage_kinds[s->kind]);
	for (int q = 0; q < P->ne; q++)
		if (P->evals[q] == si) {
			static const char *const splits[3] = { "dev", "test", "train" };
			for (int k = 0; k < 3; k++)
				eval_table(f, P, q, splits[k]);
		}
	int n = 0;
	for (int r = 1; r < m->n; r++)
		n += m->nf[r] >= 13 && !strcmp(m->rows[r][1], s->name);
	double *x = n ? malloc((size_t)n * 6 * sizeof *x) : NULL;
	if (x) {
		column(m, s->name, 2, x, x + n);   /* the steps */
		fprintf(f, "<div class=\"grid\">\n");
		loss_charts(f, P, s, x, x + n, n);
		if (s->prune)
			schedule_chart(f, P, s, x, x + n, n);
		dev_curve(f, P, s);
		int sparse = 0;
		for (int r = 1; r < sp->n && !sparse; r++)
			sparse = sp->nf[r] >= 6 && !strcmp(sp->rows[r][0], s->name) && num(sp->rows[r][4]) > 0.0;
		if (sparse) {
			/* the layers of the stage's model, or as many as any model has */
			char cfgp[1300], id[128];
			pofa_config cfg;
			pofa_err e2;
			snprintf(cfgp, sizeof cfgp, "%s/%s/config.json", P->run_dir, s->name);
			int layers = pofa_config_load(&cfg, cfgp, &e2) ? 256 : cfg.num_hidden_layers;
			snprintf(id, sizeof id, "heatmap-%s", s->name);
			heatmap(f, id, s->name, sp, layers);
		}
		fprintf(f, "</div>\n");
		free(x);
	} else if (s->kind != POFA_STAGE_EVAL) {
		fprintf(f, "<p>No training rows: the stage has not run yet.</p>\n");
	}
	for (int k = 0; k < P->ncev; k++)
		if (!strcmp(P->t[T_CLASSES].rows[P->cev[k].r1][1], s->name))
			class_section(f, P, &P->cev[k]);
}

static void page_free(page *P)
{
	for (int k = 0; k < 6; k++)
		pofa_csvtab_free(&P->t[k]);
	free(P->res);
	free(P->cev);
	free(P->names);
}

/* the run's files read back; -1 out of memory */
static int page_load(page *P, const char *run_dir, const pofa_recipe *rc)
{
	static const char *const names[6] = { "metrics.csv", "sparsity.csv", "eval.csv", "events.csv",
	                                      "per_class.csv", "confusion.csv" };
	char path[1200];
	memset(P, 0, sizeof *P);
	P->run_dir = run_dir;
	P->rc = rc;
	for (int k = 0; k < 6; k++) {
		snprintf(path, sizeof path, "%s/%s", run_dir, names[k]);
		if (pofa_csvtab_read(path, &P->t[k]))
			memset(&P->t[k], 0, sizeof P->t[k]);   /* a run without it: its parts are left out */
	}
	pofa_best_steps(&P->t[T_EVAL], rc, P->best_step);
	P->res = calloc((size_t)P->t[T_EVAL].n + 1, sizeof *P->res);
	P->cev = calloc((size_t)P->t[T_CLASSES].n + 1, sizeof *P->cev);
	P->names = calloc(POFA_MAX_STAGES, sizeof *P->names);
	if (!P->res || !P->cev || !P->names)
		return -1;
	P->nr = pofa_results_collect(&P->t[T_EVAL], rc, P->best_step, P->res);
	P->ncev = pofa_class_evals(&P->t[T_CLASSES], &P->t[T_CONFUSION], rc, P->best_step, P->cev);
	if (P->nr < 0 || P->ncev < 0)
		return -1;
	for (int i = 0; i < rc->nstages; i++)
		if (rc->stages[i].kind == POFA_STAGE_EVAL) {
			P->counts[P->ne] = pofa_eval_names(&rc->stages[i], P->names[P->ne], 32);
			P->evals[P->ne++] = i;
		}
	return 0;
}

int pofa_runlog_report_html(const char *run_dir, const pofa_recipe *rc, pofa_err *err)
{
	page P;
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = page_load(&P, run_dir, rc) ? NULL : open_memstream(&buf, &blen);
	if (!f) {
		page_free(&P);
		return pofa_error(err, POFA_ERR_RUN, "report.html: out of memory");
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
	        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>");
	esc(f, rc->name);
	fprintf(f, ": pofa report</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
	esc(f, rc->name);
	fprintf(f, "</h1>\n<p>Recipe <code>");
	esc(f, rc->path);
	fprintf(f, "</code> (hash %016llx). Metrics in percent. The same run's tables are in report.md, its rows in "
	        "metrics.csv, sparsity.csv, eval.csv, per_class.csv and events.csv.</p>\n<nav>"
	        "<a href=\"#summary\">At a glance</a><a href=\"#results\">Results</a>", (unsigned long long)rc->hash);
	for (int i = 0; i < rc->nstages; i++) {
		fprintf(f, "<a href=\"#stage-");
		esc(f, rc->stages[i].name);
		fprintf(f, "\">");
		esc(f, rc->stages[i].name);
		fprintf(f, "</a> ");
	}
	fprintf(f, "</nav>\n");
	results(f, &P);
	for (int i = 0; i < rc->nstages; i++)
		stage_section(f, &P, i);
	fprintf(f, "</body>\n</html>\n");
	fclose(f);
	page_free(&P);
	char path[1200];
	snprintf(path, sizeof path, "%s/report.html", run_dir);
	int rcode = pofa_write_atomic(path, buf, blen, err);
	free(buf);
	return rcode;
}
