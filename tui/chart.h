/* chart.h - placeholder until the chart module lands (replaced on merge) */
#ifndef DROVER_CHART_H
#define DROVER_CHART_H
#include <stddef.h>
#include <stdint.h>
struct series;
struct series *series_new(void);
void series_free(struct series *);
void series_add(struct series *, int64_t step, double v);
uint64_t series_count(const struct series *);
uint64_t series_nonfinite(const struct series *);
int series_range(const struct series *, int64_t *min_step, int64_t *max_step);
double series_last(const struct series *);
enum chart_mode { CHART_LINES, CHART_BAND };
struct chart_line { const struct series *s; const char *label; int color; };
struct chart {
	const struct chart_line *lines; size_t nlines;
	enum chart_mode mode;
	double ema;
	int logy;
	int64_t last_n;
	const int64_t *markers; size_t nmarkers;
	const char *title;
};
#define CHART_C_DEFAULT (-1)
#define CHART_C_AXIS (-2)
#define CHART_C_MARK (-3)
#define CHART_C_BAD  (-4)
struct chart_cell { char ch[8]; short color; };
struct chart_grid { int cols, rows; int ascii; struct chart_cell *cells; };
int chart_render(const struct chart *, struct chart_grid *);
int chart_export_svg(const struct chart *, const char *path, int width_px, int height_px, char **cause);
int chart_export_png(const struct chart *, const char *path, int width_px, int height_px, char **cause);
#endif
