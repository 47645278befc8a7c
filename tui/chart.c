/*
 * chart.c - a chart of series drawn into a grid of cells: braille dots
 * (2 x 4 per cell) or ASCII, y axis with ticks, x axis with step labels,
 * title, legend, relaunch markers and marks where NaN/Inf fell. It only
 * fills cells; tui's ncurses view puts them on the screen.
 *
 * The reduction of series to display columns (chart_plot_compute) is shared
 * with chart_export.c. EMA smoothing runs over those display points (the
 * column means) in step order, so its reach in steps depends on the zoom.
 */
#include "chart.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"

/* Per line: means, EMA, log, gaps, into lo/hi/mid of one plot row (lo and
 * hi may be NULL: BAND needs mid only). */
static void
chart_plot_line(const struct chart *c, const struct series_col *cols,
    int ncols, double *lo, double *hi, double *mid)
{
	int i, j, first = -1, prev = -1, minmax, ema;
	double e = 0, v, t;

	ema = c->ema > 0 && c->ema < 1;
	minmax = lo != NULL && c->mode == CHART_LINES && !ema;
	for (i = 0; i < ncols; i++) {
		if (cols[i].n == 0) {
			mid[i] = NAN;
			if (lo != NULL)
				lo[i] = hi[i] = NAN;
			continue;
		}
		v = cols[i].sum / cols[i].n;
		if (ema) {
			e = first < 0 ? v : c->ema * v + (1 - c->ema) * e;
			v = e;
		}
		if (first < 0)
			first = i;
		mid[i] = c->logy ? log10(v) : v;
		if (minmax) {
			lo[i] = c->logy ? log10(cols[i].min) : cols[i].min;
			hi[i] = c->logy ? log10(cols[i].max) : cols[i].max;
		} else if (lo != NULL)
			lo[i] = hi[i] = mid[i];
		/* interpolate the columns between prev and i */
		if (prev >= 0 && i - prev > 1) {
			for (j = prev + 1; j < i; j++) {
				t = (double)(j - prev) / (i - prev);
				mid[j] = mid[prev] + t * (mid[i] - mid[prev]);
				if (lo != NULL)
					lo[j] = hi[j] = mid[j];
			}
		}
		prev = i;
	}
}

void
chart_plot_compute(const struct chart *c, int ncols, struct chart_plot *p)
{
	struct series_col *cols;
	double *mid, *bsum, ymin = INFINITY, ymax = -INFINITY, pad;
	uint32_t *bn;
	int64_t a, b;
	size_t l, n;
	int i, have = 0, flags;

	memset(p, 0, sizeof *p);
	p->ncols = ncols;
	for (l = 0; l < c->nlines; l++) {
		if (c->lines[l].s == NULL)
			continue;
		p->npoints += series_count(c->lines[l].s);
		p->nnonfinite += series_nonfinite(c->lines[l].s);
		if (c->logy)
			p->nnonpos += series_nonpos(c->lines[l].s);
		if (!series_range(c->lines[l].s, &a, &b))
			continue;
		if (!have || a < p->x0)
			p->x0 = a;
		if (!have || b > p->x1)
			p->x1 = b;
		have = 1;
	}
	if (c->last_n > 0 && p->x1 - c->last_n + 1 > p->x0)
		p->x0 = p->x1 - c->last_n + 1;
	p->nrows = c->mode == CHART_BAND ? 1 : (int)c->nlines;
	n = (size_t)(p->nrows ? p->nrows : 1) * (size_t)ncols;
	p->lo = xreallocarray(NULL, n, sizeof *p->lo);
	p->hi = xreallocarray(NULL, n, sizeof *p->hi);
	p->mid = xreallocarray(NULL, n, sizeof *p->mid);
	p->bad = xcalloc((size_t)ncols, sizeof *p->bad);
	for (i = 0; i < (int)n; i++)
		p->lo[i] = p->hi[i] = p->mid[i] = NAN;
	if (!have) {
		p->empty = 1;
		return;
	}

	cols = xreallocarray(NULL, (size_t)ncols, sizeof *cols);
	mid = xreallocarray(NULL, (size_t)ncols, sizeof *mid);
	bsum = xcalloc((size_t)ncols, sizeof *bsum);
	bn = xcalloc((size_t)ncols, sizeof *bn);
	flags = c->logy ? SERIES_COL_LOG : 0;
	if (c->mode == CHART_LINES && !(c->ema > 0 && c->ema < 1))
		flags |= SERIES_COL_MINMAX;
	for (l = 0; l < c->nlines; l++) {
		if (c->lines[l].s == NULL)
			continue;
		if (series_columns(c->lines[l].s, p->x0, p->x1, ncols, flags,
		    cols) > 0)
			for (i = 0; i < ncols; i++)
				p->bad[i] += cols[i].bad;
		if (c->mode == CHART_LINES) {
			chart_plot_line(c, cols, ncols, p->lo + l * ncols,
			    p->hi + l * ncols, p->mid + l * ncols);
			continue;
		}
		chart_plot_line(c, cols, ncols, NULL, NULL, mid);
		for (i = 0; i < ncols; i++) {
			if (isnan(mid[i]))
				continue;
			if (bn[i] == 0 || mid[i] < p->lo[i])
				p->lo[i] = mid[i];
			if (bn[i] == 0 || mid[i] > p->hi[i])
				p->hi[i] = mid[i];
			bsum[i] += mid[i];
			bn[i]++;
		}
	}
	if (c->mode == CHART_BAND)
		for (i = 0; i < ncols; i++)
			if (bn[i] > 0)
				p->mid[i] = bsum[i] / bn[i];
	for (i = 0; i < (int)n; i++) {
		if (isfinite(p->lo[i]) && p->lo[i] < ymin)
			ymin = p->lo[i];
		if (isfinite(p->hi[i]) && p->hi[i] > ymax)
			ymax = p->hi[i];
	}
	free(cols);
	free(mid);
	free(bsum);
	free(bn);
	if (ymin > ymax) {
		p->empty = 1;
		return;
	}
	if (ymin == ymax) {
		pad = c->logy ? 0.5 : (ymin == 0 ? 1 : fabs(ymin) * 0.05);
		ymin -= pad;
		ymax += pad;
	}
	p->ymin = ymin;
	p->ymax = ymax;
}

void
chart_plot_release(struct chart_plot *p)
{
	free(p->lo);
	free(p->hi);
	free(p->mid);
	free(p->bad);
	memset(p, 0, sizeof *p);
}

int
chart_ticks(double ymin, double ymax, int logy, double *ticks)
{
	double range = ymax - ymin, raw, mag, step, t;
	int n = 0, i;

	if (logy && floor(ymax) - ceil(ymin) >= 1) {
		/* powers of ten, every k-th when there are many */
		step = ceil((floor(ymax) - ceil(ymin) + 1) / 5);
		for (t = ceil(ymin); t <= ymax + 1e-9 && n < 8; t += step)
			ticks[n++] = t;
		if (n >= 2)
			return n;
		n = 0;
	}
	if (!logy) {
		raw = range / 4;
		mag = pow(10, floor(log10(raw)));
		step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag :
		    raw / mag < 7.5 ? 5 * mag : 10 * mag;
		for (t = ceil(ymin / step - 1e-9) * step;
		    t <= ymax + step * 1e-9 && n < 8; t += step)
			ticks[n++] = fabs(t) < step * 1e-9 ? 0 : t;
		if (n >= 3 && n <= 5)
			return n;
	}
	/* evenly spaced: bottom, middle, top */
	for (i = 0; i < 3; i++)
		ticks[i] = ymin + range * i / 2;
	return 3;
}

void
chart_tick_label(double t, int logy, int prec, char *s, size_t len)
{
	double v = logy ? pow(10, t) : t;
	int digits;

	if (logy && fabs(t - round(t)) < 1e-9) {
		if (t < -3 || t > 6)
			snprintf(s, len, "1e%d", (int)round(t));
		else
			snprintf(s, len, "%g", v);
		return;
	}
	/* no exponent below ten million */
	digits = v == 0 ? 1 : (int)floor(log10(fabs(v))) + 1;
	if (digits > prec && digits <= 7)
		prec = digits;
	snprintf(s, len, "%.*g", prec, v);
}

int
chart_tick_prec(const double *ticks, int n, int logy)
{
	char a[32], b[32];
	int prec, i;

	for (prec = 3; prec < 12; prec++) {
		for (i = 1; i < n; i++) {
			chart_tick_label(ticks[i - 1], logy, prec, a, sizeof a);
			chart_tick_label(ticks[i], logy, prec, b, sizeof b);
			if (strcmp(a, b) == 0)
				break;
		}
		if (i >= n)
			break;
	}
	return prec;
}

void
chart_step_label(int64_t step, char *s, size_t len)
{
	snprintf(s, len, "%" PRId64, step);
}

/* --- cells --- */

static struct chart_cell *
chart_cell(struct chart_grid *g, int row, int col)
{
	return &g->cells[(size_t)row * g->cols + col];
}

static void
chart_put(struct chart_grid *g, int row, int col, const char *ch, int color)
{
	struct chart_cell *cell;

	if (row < 0 || row >= g->rows || col < 0 || col >= g->cols)
		return;
	cell = chart_cell(g, row, col);
	snprintf(cell->ch, sizeof cell->ch, "%s", ch);
	cell->color = (short)color;
}

/* Length of the UTF-8 character at s (1 for a broken one). */
static int
chart_u8len(const char *s)
{
	unsigned char c = (unsigned char)*s;
	int n, i;

	n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
	    (c & 0xf8) == 0xf0 ? 4 : 1;
	for (i = 1; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/* Text from col, at most up to maxcol (exclusive); returns the next col. In
 * ASCII mode a non-ASCII character becomes '?'. */
static int
chart_text(struct chart_grid *g, int row, int col, int maxcol, const char *s,
    int color)
{
	char ch[8];
	int n;

	if (maxcol > g->cols)
		maxcol = g->cols;
	while (*s != '\0' && col < maxcol) {
		n = chart_u8len(s);
		if (g->ascii && (n > 1 || (unsigned char)*s >= 0x80)) {
			ch[0] = '?';
			ch[1] = '\0';
		} else {
			memcpy(ch, s, (size_t)n);
			ch[n] = '\0';
		}
		chart_put(g, row, col++, ch, color);
		s += n;
	}
	return col;
}

static int
chart_text_width(const char *s)
{
	int w = 0;

	while (*s != '\0') {
		s += chart_u8len(s);
		w++;
	}
	return w;
}

static void
chart_message(struct chart_grid *g, int row, const char *msg)
{
	int w = chart_text_width(msg), col = (g->cols - w) / 2;

	chart_text(g, row, col < 0 ? 0 : col, g->cols, msg, CHART_C_DEFAULT);
}

static void
chart_braille(char *out, unsigned bits)
{
	unsigned cp = 0x2800 + bits;

	out[0] = (char)(0xe0 | (cp >> 12));
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[2] = (char)(0x80 | (cp & 0x3f));
	out[3] = '\0';
}

/* Braille dot bits by (x within cell, y within cell from the top). */
static const unsigned char chart_dotbit[2][4] = {
	{ 0x01, 0x02, 0x04, 0x40 },
	{ 0x08, 0x10, 0x20, 0x80 },
};

struct chart_canvas {
	int pw, ph;		/* plot size in cells */
	int dw, dh;		/* in dots */
	int ascii;
	unsigned char *dots, *band;	/* per cell */
	short *color;
	double ymin, ymax, yscale;
};

static int
chart_dy(const struct chart_canvas *cv, double v)
{
	double f = (v - cv->ymin) * cv->yscale;

	/* rounds half up; what is below 0 is clamped anyway */
	if (!(f > 0))
		return 0;
	if (f >= cv->dh - 1)
		return cv->dh - 1;
	return (int)(f + 0.5);
}

/* Sets dots of dot column x from dot row a to b (from the bottom). */
static void
chart_run(struct chart_canvas *cv, int x, int a, int b, int band, int color)
{
	int y, t, r, cell;

	if (a > b) {
		t = a;
		a = b;
		b = t;
	}
	for (y = a; y <= b; y++) {
		r = cv->dh - 1 - y;
		if (cv->ascii) {
			cell = r * cv->pw + x;
			if (band)
				cv->band[cell] = 1;
			else {
				cv->dots[cell] = 1;
				cv->color[cell] = (short)color;
			}
			continue;
		}
		cell = (r / 4) * cv->pw + x / 2;
		if (band) {
			if (((x + y) & 1) == 0)	/* half the dots: lighter */
				cv->band[cell] |= chart_dotbit[x & 1][r & 3];
		} else {
			cv->dots[cell] |= chart_dotbit[x & 1][r & 3];
			cv->color[cell] = (short)color;
		}
	}
}

static void
chart_draw_line(struct chart_canvas *cv, const double *lo, const double *hi,
    const double *mid, int color)
{
	int x, m, n, h;

	for (x = 0; x < cv->dw; x++) {
		if (isnan(mid[x]))
			continue;
		chart_run(cv, x, chart_dy(cv, lo[x]), chart_dy(cv, hi[x]), 0,
		    color);
		if (x + 1 < cv->dw && !isnan(mid[x + 1])) {
			m = chart_dy(cv, mid[x]);
			n = chart_dy(cv, mid[x + 1]);
			h = (m + n) / 2;
			chart_run(cv, x, m, h, 0, color);
			chart_run(cv, x + 1, h, n, 0, color);
		} else
			chart_run(cv, x, chart_dy(cv, mid[x]),
			    chart_dy(cv, mid[x]), 0, color);
	}
}

static void
chart_draw_band(struct chart_canvas *cv, const double *lo, const double *hi)
{
	int x;

	for (x = 0; x < cv->dw; x++)
		if (!isnan(lo[x]))
			chart_run(cv, x, chart_dy(cv, lo[x]),
			    chart_dy(cv, hi[x]), 1, 0);
}

static void
chart_title(const struct chart *c, const struct chart_plot *p,
    struct chart_grid *g)
{
	char s[128];
	int col;

	col = chart_text(g, 0, 0, g->cols, c->title ? c->title : "",
	    CHART_C_DEFAULT);
	/* the bad counts first: they must not be cut off */
	if (p->nnonfinite > 0) {
		snprintf(s, sizeof s, "  %" PRIu64 " nan/inf", p->nnonfinite);
		col = chart_text(g, 0, col, g->cols, s, CHART_C_BAD);
	}
	if (c->logy && p->nnonpos > 0) {
		snprintf(s, sizeof s, g->ascii ? "  %" PRIu64 " <=0" :
		    "  %" PRIu64 " ≤0", p->nnonpos);
		col = chart_text(g, 0, col, g->cols, s, CHART_C_BAD);
	}
	if (c->nlines > 1)
		snprintf(s, sizeof s, "  %zu lines, %" PRIu64 " pts", c->nlines,
		    p->npoints);
	else
		snprintf(s, sizeof s, "  %" PRIu64 " pts", p->npoints);
	col = chart_text(g, 0, col, g->cols, s, CHART_C_DEFAULT);
	if (c->last_n > 0) {
		snprintf(s, sizeof s, "  last %" PRId64 " steps", c->last_n);
		col = chart_text(g, 0, col, g->cols, s, CHART_C_DEFAULT);
	}
	if (c->ema > 0 && c->ema < 1) {
		snprintf(s, sizeof s, "  ema %.3g", c->ema);
		col = chart_text(g, 0, col, g->cols, s, CHART_C_DEFAULT);
	}
	if (c->logy)
		chart_text(g, 0, col, g->cols, "  log", CHART_C_DEFAULT);
}

static void
chart_legend(const struct chart *c, struct chart_grid *g, int row)
{
	const char *mark = g->ascii ? "-" : "━";
	char s[64];
	size_t l;
	int col = 0, w;

	if (c->nlines == 0)
		return;
	if (c->mode == CHART_BAND) {
		col = chart_text(g, row, col, g->cols, mark, c->lines[0].color);
		if (c->nlines > 8) {
			snprintf(s, sizeof s, g->ascii ?
			    " %zu hosts, mean and min-max" :
			    " %zu hosts, mean and min–max", c->nlines);
			chart_text(g, row, col, g->cols, s, CHART_C_DEFAULT);
			return;
		}
		col = chart_text(g, row, col, g->cols, g->ascii ?
		    " mean and min-max of:" : " mean and min–max of:",
		    CHART_C_DEFAULT);
		for (l = 0; l < c->nlines; l++) {
			col = chart_text(g, row, col + 1, g->cols,
			    c->lines[l].label ? c->lines[l].label : "?",
			    CHART_C_DEFAULT);
		}
		return;
	}
	for (l = 0; l < c->nlines; l++) {
		w = 2 + chart_text_width(c->lines[l].label ?
		    c->lines[l].label : "?");
		if (col + w > g->cols - (l + 1 < c->nlines ? 8 : 0) &&
		    l + 1 < c->nlines) {
			snprintf(s, sizeof s, "+%zu more", c->nlines - l);
			chart_text(g, row, col, g->cols, s, CHART_C_DEFAULT);
			return;
		}
		col = chart_text(g, row, col, g->cols, mark, c->lines[l].color);
		col = chart_text(g, row, col + 1, g->cols,
		    c->lines[l].label ? c->lines[l].label : "?",
		    CHART_C_DEFAULT);
		col += 2;
	}
}

/* Fewer columns: each new one takes the old ones that fall in it (min of
 * lo, max of hi, mean of mid, sum of bad). */
static void
chart_plot_resample(struct chart_plot *p, int ncols)
{
	double *lo, *hi, *mid;
	uint64_t *bad;
	uint32_t *n;
	int r, f, j;
	size_t a, b;

	lo = xreallocarray(NULL, (size_t)p->nrows * ncols, sizeof *lo);
	hi = xreallocarray(NULL, (size_t)p->nrows * ncols, sizeof *hi);
	mid = xcalloc((size_t)p->nrows * ncols, sizeof *mid);
	bad = xcalloc((size_t)ncols, sizeof *bad);
	n = xcalloc((size_t)ncols, sizeof *n);
	for (f = 0; f < p->ncols; f++)
		bad[(int64_t)f * ncols / p->ncols] += p->bad[f];
	for (r = 0; r < p->nrows; r++) {
		memset(n, 0, (size_t)ncols * sizeof *n);
		for (f = 0; f < p->ncols; f++) {
			j = (int)((int64_t)f * ncols / p->ncols);
			a = (size_t)r * p->ncols + f;
			b = (size_t)r * ncols + j;
			if (isnan(p->mid[a]))
				continue;
			if (n[j] == 0 || p->lo[a] < lo[b])
				lo[b] = p->lo[a];
			if (n[j] == 0 || p->hi[a] > hi[b])
				hi[b] = p->hi[a];
			mid[b] += p->mid[a];
			n[j]++;
		}
		for (j = 0; j < ncols; j++) {
			b = (size_t)r * ncols + j;
			if (n[j] == 0)
				lo[b] = hi[b] = mid[b] = NAN;
			else
				mid[b] /= n[j];
		}
	}
	free(p->lo);
	free(p->hi);
	free(p->mid);
	free(p->bad);
	free(n);
	p->lo = lo;
	p->hi = hi;
	p->mid = mid;
	p->bad = bad;
	p->ncols = ncols;
}

static int
chart_label_width(const struct chart_plot *p, int logy, double *ticks,
    int *nticks, int *prec)
{
	char s[32];
	int i, w = 1, n;

	*nticks = chart_ticks(p->ymin, p->ymax, logy, ticks);
	*prec = chart_tick_prec(ticks, *nticks, logy);
	for (i = 0; i < *nticks; i++) {
		chart_tick_label(ticks[i], logy, *prec, s, sizeof s);
		n = (int)strlen(s);
		if (n > w)
			w = n;
	}
	return w;
}

int
chart_render(const struct chart *c, struct chart_grid *g)
{
	struct chart_plot p;
	struct chart_canvas cv;
	double ticks[8];
	char s[32];
	int i, r, x, L, nticks = 0, prec = 3, row, col, used, bits, prevrow, xl;
	size_t l, k;
	int64_t mid;

	if (g->cells == NULL || g->cols <= 0 || g->rows <= 0)
		return -1;
	for (i = 0; i < g->rows * g->cols; i++) {
		g->cells[i].ch[0] = ' ';
		g->cells[i].ch[1] = '\0';
		g->cells[i].color = CHART_C_DEFAULT;
	}
	if (g->cols < CHART_MIN_COLS || g->rows < CHART_MIN_ROWS) {
		chart_text(g, 0, 0, g->cols, "too small", CHART_C_DEFAULT);
		return -1;
	}

	/* The label width depends on the y range, which depends a little on
	 * the plot width: reduce to the widest plot (1-column labels) once,
	 * then resample to the width the labels leave. */
	memset(&cv, 0, sizeof cv);
	cv.ascii = g->ascii;
	cv.ph = g->rows - 4;
	L = 1;
	chart_plot_compute(c, cv.ascii ? g->cols - 2 : 2 * (g->cols - 2), &p);
	if (!p.empty) {
		L = chart_label_width(&p, c->logy, ticks, &nticks, &prec);
		if (L > g->cols / 3)
			L = g->cols / 3;
	}
	cv.pw = g->cols - L - 1;
	cv.dw = cv.ascii ? cv.pw : 2 * cv.pw;
	if (!p.empty && cv.dw != p.ncols)
		chart_plot_resample(&p, cv.dw);
	chart_title(c, &p, g);
	chart_legend(c, g, g->rows - 1);
	if (p.empty) {
		chart_message(g, 1 + cv.ph / 2, p.npoints > 0 ?
		    "no finite data yet" : "no data yet");
		chart_plot_release(&p);
		return 0;
	}

	cv.dh = cv.ascii ? cv.ph : 4 * cv.ph;
	cv.ymin = p.ymin;
	cv.ymax = p.ymax;
	cv.yscale = (cv.dh - 1) / (cv.ymax - cv.ymin);
	cv.dots = xcalloc((size_t)cv.pw * cv.ph, 1);
	cv.band = xcalloc((size_t)cv.pw * cv.ph, 1);
	cv.color = xcalloc((size_t)cv.pw * cv.ph, sizeof *cv.color);
	if (c->mode == CHART_BAND) {
		chart_draw_band(&cv, p.lo, p.hi);
		chart_draw_line(&cv, p.mid, p.mid, p.mid, c->lines[0].color);
	} else
		for (l = 0; l < c->nlines; l++)
			chart_draw_line(&cv, p.lo + l * cv.dw, p.hi + l * cv.dw,
			    p.mid + l * cv.dw, c->lines[l].color);

	/* markers under the data */
	for (k = 0; k < c->nmarkers; k++) {
		if (c->markers[k] < p.x0 || c->markers[k] > p.x1)
			continue;
		x = chart_col_of(p.x0, p.x1, cv.dw, (double)c->markers[k]);
		if (!cv.ascii)
			x /= 2;
		for (r = 0; r < cv.ph; r++)
			chart_put(g, 1 + r, L + 1 + x, cv.ascii ? "|" : "│",
			    CHART_C_MARK);
	}
	for (r = 0; r < cv.ph; r++) {
		for (x = 0; x < cv.pw; x++) {
			i = r * cv.pw + x;
			bits = cv.dots[i] | cv.band[i];
			if (bits == 0)
				continue;
			if (cv.ascii)
				chart_put(g, 1 + r, L + 1 + x,
				    cv.dots[i] ? "*" : ":", c->lines[0].color);
			else {
				chart_braille(s, (unsigned)bits);
				chart_put(g, 1 + r, L + 1 + x, s,
				    c->lines[0].color);
			}
			if (cv.dots[i])
				chart_cell(g, 1 + r, L + 1 + x)->color =
				    cv.color[i];
		}
	}
	/* NaN/Inf (and <= 0 in log): a mark on the top row */
	for (x = 0; x < cv.dw; x++)
		if (p.bad[x] > 0)
			chart_put(g, 1, L + 1 + (cv.ascii ? x : x / 2),
			    cv.ascii ? "x" : "×", CHART_C_BAD);

	/* y axis */
	for (r = 0; r < cv.ph; r++)
		chart_put(g, 1 + r, L, cv.ascii ? "|" : "│", CHART_C_AXIS);
	prevrow = -1;
	for (i = 0; i < nticks; i++) {
		row = 1 + (cv.dh - 1 - chart_dy(&cv, ticks[i])) /
		    (cv.ascii ? 1 : 4);
		if (row == prevrow)
			continue;
		prevrow = row;
		chart_tick_label(ticks[i], c->logy, prec, s, sizeof s);
		chart_text(g, row, L - (int)strlen(s), L, s, CHART_C_AXIS);
		chart_put(g, row, L, cv.ascii ? "+" : "┤", CHART_C_AXIS);
	}

	/* x axis: ticks and labels at both ends and the middle */
	row = g->rows - 3;
	chart_put(g, row, L, cv.ascii ? "+" : "└", CHART_C_AXIS);
	for (x = 0; x < cv.pw; x++)
		chart_put(g, row, L + 1 + x, cv.ascii ? "-" : "─", CHART_C_AXIS);
	chart_put(g, row, L + 1, cv.ascii ? "+" : "┴", CHART_C_AXIS);
	chart_put(g, row, L + cv.pw, cv.ascii ? "+" : "┴", CHART_C_AXIS);
	chart_step_label(p.x0, s, sizeof s);
	used = chart_text(g, row + 1, L + 1, g->cols, s, CHART_C_AXIS);
	chart_step_label(p.x1, s, sizeof s);
	xl = g->cols - (int)strlen(s);
	if (p.x1 != p.x0 && xl > used)
		chart_text(g, row + 1, xl, g->cols, s, CHART_C_AXIS);
	mid = p.x0 + (p.x1 - p.x0) / 2;
	if (p.x1 - p.x0 >= 2) {
		x = chart_col_of(p.x0, p.x1, cv.dw, (double)mid);
		x = cv.ascii ? x : x / 2;
		chart_step_label(mid, s, sizeof s);
		col = L + 1 + x - (int)strlen(s) / 2;
		if (col > used && col + (int)strlen(s) < xl) {
			chart_put(g, row, L + 1 + x, cv.ascii ? "+" : "┴",
			    CHART_C_AXIS);
			chart_text(g, row + 1, col, g->cols, s, CHART_C_AXIS);
		}
	}
	free(cv.dots);
	free(cv.band);
	free(cv.color);
	chart_plot_release(&p);
	return 0;
}
