/*
 * chart.h - the console's metric charts, folder-private to tui/: a bounded
 * per-line series (tui/series.c), a renderer into a grid of cells
 * (tui/chart.c) and SVG / PNG export (tui/chart_export.c). Pure code: no
 * ncurses, no SQL; the ncurses view copies the cells to the screen.
 *
 * A series keeps the whole history in SERIES_BUCKETS buckets of equal step
 * width (a power of two; pairs merge when a step falls beyond the range, the
 * range extends downward for a step before it) plus the last SERIES_TAIL
 * points exactly, so a zoom into the last few hundred steps draws real
 * points. Steps may come in any order and repeat (a relaunch resumes from an
 * earlier step). Steps must lie within +-2^62, and one bucket counts at
 * most 2^32 - 1 points.
 */
#ifndef DROVER_CHART_H
#define DROVER_CHART_H

#include <stddef.h>
#include <stdint.h>

#define SERIES_BUCKETS	512
#define SERIES_TAIL	512

struct series;			/* one line, e.g. one host's loss against step */
struct series *series_new(void);
void series_free(struct series *);	/* NULL ok */
void series_add(struct series *, int64_t step, double v); /* v may be NaN/+-Inf */
uint64_t series_count(const struct series *);	/* points added */
uint64_t series_nonfinite(const struct series *); /* of them NaN/+-Inf */
uint64_t series_nonpos(const struct series *);	/* of them finite and <= 0 */
/* 0 when empty, else 1 and the lowest and highest step added. */
int series_range(const struct series *, int64_t *min_step, int64_t *max_step);
double series_last(const struct series *);	/* last added; NaN when empty */
size_t series_memsize(void);			/* bytes one series holds */

/* One bucket, for tests and tooltips: i < SERIES_BUCKETS covers steps
 * [origin + i * width, origin + (i + 1) * width). min/max/sum are over the
 * finite values (min > max when there are none). */
struct series_stat {
	double min, max, sum;
	uint64_t count, nonfinite, nonpos;
};
void series_layout(const struct series *, int64_t *origin, int64_t *width);
void series_bucket(const struct series *, size_t i, struct series_stat *);

/* The points of steps [x0, x1] gathered into ncols columns (chart_col_of):
 * from the exact tail when it holds every point of that window, else from
 * the buckets (each bucket goes to the column of its middle). With
 * SERIES_COL_LOG only positive values count (n, sum, min, max; in a bucket
 * that mixes signs the positive min and sum are estimated) and non-positive
 * ones are added to bad. Without SERIES_COL_MINMAX min and max are not
 * filled (faster). Returns the bad points of the window. */
#define SERIES_COL_LOG		0x1
#define SERIES_COL_MINMAX	0x2
struct series_col {
	double min, max, sum;	/* of the n values counted */
	uint32_t n, bad;	/* bad: non-finite (and non-positive with LOG) */
};
uint64_t series_columns(const struct series *, int64_t x0, int64_t x1,
    int ncols, int flags, struct series_col *);	/* returns the sum of bad */

/* The column of a step when [x0, x1] is split into ncols equal columns
 * (written as a product so that loops hoist the factor). */
static inline int
chart_col_of(int64_t x0, int64_t x1, int ncols, double step)
{
	double c = (step - (double)x0) * (ncols / ((double)(x1 - x0) + 1)) +
	    1e-7;

	if (c < 0)
		return 0;
	if (c >= ncols)
		return ncols - 1;
	return (int)c;
}

enum chart_mode { CHART_LINES, CHART_BAND };
struct chart_line {
	const struct series *s;
	const char *label;
	int color;		/* 0..7 palette index */
};
struct chart {
	const struct chart_line *lines;
	size_t nlines;
	enum chart_mode mode;	/* LINES: each line; BAND: mean of the lines
				 * with a min-max band (in lines[0].color) */
	double ema;		/* 0 off; else alpha in (0,1), applied to the
				 * display points (column means) in step order */
	int logy;		/* log10 y; values <= 0 are counted and marked
				 * like non-finite ones */
	int64_t last_n;		/* 0 every step; else the last N steps */
	const int64_t *markers;	/* steps where an attempt began */
	size_t nmarkers;
	const char *title;	/* e.g. "loss" */
};

#define CHART_C_DEFAULT	(-1)
#define CHART_C_AXIS	(-2)
#define CHART_C_MARK	(-3)	/* relaunch marker */
#define CHART_C_BAD	(-4)	/* where NaN/Inf (or <= 0 in log) occurred */
struct chart_cell {
	char ch[8];		/* one UTF-8 char, NUL-terminated */
	short color;		/* CHART_C_* or a line's color */
};
struct chart_grid {
	int cols, rows;
	int ascii;		/* 1: ASCII only, no braille or box drawing */
	struct chart_cell *cells; /* rows * cols, row-major, caller-allocated */
};

/*
 * Fills every cell: title row, plot, x axis, x labels, legend. A cell that
 * holds dots of several lines takes the color of the last line drawn.
 * Returns 0, or -1 when the grid is smaller than CHART_MIN_COLS x
 * CHART_MIN_ROWS (then a short message is drawn in what there is).
 */
#define CHART_MIN_COLS	20
#define CHART_MIN_ROWS	6
int chart_render(const struct chart *, struct chart_grid *);

/* Written atomically (temp + rename); 0, or -1 and *cause (caller frees). */
int chart_export_svg(const struct chart *, const char *path, int width_px,
    int height_px, char **cause);
int chart_export_png(const struct chart *, const char *path, int width_px,
    int height_px, char **cause);

/*
 * Shared by chart.c and chart_export.c: the chart reduced to ncols display
 * columns. Values are in display space (log10 when logy). For LINES there
 * are nlines rows of lo/hi/mid, for BAND one (band min, band max, mean).
 * NaN where a line has no value; gaps inside a line are interpolated.
 */
struct chart_plot {
	int ncols, nrows;
	int64_t x0, x1;
	int empty;		/* nothing finite to draw */
	double ymin, ymax;
	double *lo, *hi, *mid;	/* nrows * ncols */
	uint64_t *bad;		/* ncols: bad points per column, all lines */
	uint64_t npoints, nnonfinite, nnonpos;
};
void chart_plot_compute(const struct chart *, int ncols, struct chart_plot *);
void chart_plot_release(struct chart_plot *);
/* Tick values (display space) for [ymin, ymax]; returns how many (<= 8). */
int chart_ticks(double ymin, double ymax, int logy, double *ticks);
/* %.<prec>g of a tick; chart_tick_prec: the least prec >= 3 at which the
 * labels of ticks differ. */
int chart_tick_prec(const double *ticks, int n, int logy);
void chart_tick_label(double t, int logy, int prec, char *, size_t);
void chart_step_label(int64_t step, char *, size_t);

#endif
