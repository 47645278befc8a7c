/*
 * view_chart.c - a task's loss and step time against step, one above the
 * other, drawn by chart.c in braille cells (ASCII without UTF-8): per-host
 * lines, or for many hosts the mean with a min-max band; EMA smoothing,
 * log scale and zoom to the last N steps; a marker where a later attempt
 * began; NaN/Inf counted and marked. The series are the model's bounded
 * summaries, so a frame costs the same at 100 or 100,000 points a host.
 * Charts export to SVG or PNG.
 */
#include "console.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"

static const struct keyhelp keys[] = {
	{ "m", "per-host lines / mean with min-max band" },
	{ "e", "smoothing (EMA): off, 0.3, 0.1, 0.03" },
	{ "L", "log scale on / off" },
	{ "z", "zoom: all steps, last 10000, 1000, 100" },
	{ "S / P", "save the loss chart as task<ID>-loss.svg / .png" },
	{ ":export svg|png FILE", "save the loss chart as FILE" },
	{ NULL, NULL },
};

static const double emas[] = { 0, 0.3, 0.1, 0.03 };
static const int64_t zooms[] = { 0, 10000, 1000, 100 };

struct chartv {
	int64_t id;
	int mode;			/* -1: automatic (lines up to 8) */
	int ema, zoom, logy;
	struct chart_cell *cells;
	size_t ncells;
};

/* The chart of one metric with the view's settings; lines (caller
 * frees) point into the model. */
static void
chart_setup(struct con *c, const struct chartv *d, int metric,
    struct chart *ch, struct chart_line **lines)
{
	const struct series *const *s;
	const char *const *labels;
	size_t n, i;

	memset(ch, 0, sizeof *ch);
	n = model_series(con_model(c), metric, &s, &labels);
	*lines = xcalloc(n + 1, sizeof **lines);
	for (i = 0; i < n; i++) {
		(*lines)[i].s = s[i];
		(*lines)[i].label = labels[i];
		(*lines)[i].color = (int)(i % 8);
	}
	ch->lines = *lines;
	ch->nlines = n;
	ch->mode = d->mode >= 0 ? (enum chart_mode)d->mode :
	    n > 8 ? CHART_BAND : CHART_LINES;
	ch->ema = emas[d->ema];
	ch->logy = d->logy;
	ch->last_n = zooms[d->zoom];
	ch->nmarkers = model_markers(con_model(c), &ch->markers);
	ch->title = metric == 0 ? "loss" : "step time (ms)";
}

static int
cell_attr(struct con *c, short color)
{
	switch (color) {
	case CHART_C_AXIS:
		return con_attr(c, CC_DIM);
	case CHART_C_MARK:
		return con_attr(c, CC_WARN);
	case CHART_C_BAD:
		return con_attr(c, CC_BAD);
	case CHART_C_DEFAULT:
		return 0;
	default:
		return color >= 0 ? con_attr(c, (enum con_color)(CC_LINE0 +
		    color % 8)) : 0;
	}
}

static void
draw_one(struct con *c, struct chartv *d, int metric, int y, int h, int w)
{
	struct chart ch;
	struct chart_line *lines;
	struct chart_grid g;
	int r, x;

	if (h < 3)
		return;
	if (d->ncells < (size_t)(w * h)) {
		free(d->cells);
		d->ncells = (size_t)(w * h);
		d->cells = xcalloc(d->ncells, sizeof *d->cells);
	}
	chart_setup(c, d, metric, &ch, &lines);
	g.cols = w;
	g.rows = h;
	g.ascii = !con_utf8(c);
	g.cells = d->cells;
	chart_render(&ch, &g);
	for (r = 0; r < h; r++)
		for (x = 0; x < w; x++)
			con_put(c, y + r, x, 1, cell_attr(c,
			    g.cells[r * w + x].color), g.cells[r * w + x].ch);
	free(lines);
}

static void
chart_view_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct chartv *d = v->data;
	const struct model_task *mt = model_task(con_model(c));
	int half;

	con_putf(c, y, 0, w, con_attr(c, CC_BUSY), " Charts of task #%lld: "
	    "%llu points  mode %s  EMA %s  %s  zoom %s", (long long)d->id,
	    (unsigned long long)model_points(con_model(c)),
	    d->mode < 0 ? "auto" : d->mode == CHART_BAND ? "band" : "lines",
	    d->ema == 0 ? "off" : d->ema == 1 ? "0.3" : d->ema == 2 ? "0.1" :
	    "0.03", d->logy ? "log" : "linear", d->zoom == 0 ? "all" :
	    d->zoom == 1 ? "last 10000" : d->zoom == 2 ? "last 1000" :
	    "last 100");
	if (mt == NULL || mt->id != d->id)
		return;
	half = (h - 1) / 2;
	draw_one(c, d, 0, y + 1, half, w);
	draw_one(c, d, 1, y + 1 + half, h - 1 - half, w);
}

static int
chart_save(struct con *c, struct chartv *d, int64_t task, const char *fmt,
    const char *path, char **cause)
{
	struct chart ch;
	struct chart_line *lines;
	int r;

	chart_setup(c, d, 0, &ch, &lines);
	r = strcmp(fmt, "png") == 0 ?
	    chart_export_png(&ch, path, 1200, 600, cause) :
	    chart_export_svg(&ch, path, 1200, 600, cause);
	free(lines);
	return r;
}

static void
chart_save_msg(struct con *c, struct chartv *d, const char *fmt,
    const char *path)
{
	char *cause = NULL;

	if (chart_save(c, d, d->id, fmt, path, &cause) != 0) {
		con_message(c, 1, "export: %s", cause);
		free(cause);
	} else
		con_message(c, 0, "loss chart written to %s", path);
}

static int
chart_view_key(struct view *v, struct con *c, int k)
{
	struct chartv *d = v->data;
	size_t n;
	const struct series *const *s;
	const char *const *labels;
	char path[64];

	switch (k) {
	case 'm':
		n = model_series(con_model(c), 0, &s, &labels);
		if (d->mode < 0)
			d->mode = n > 8 ? CHART_LINES : CHART_BAND;
		else
			d->mode = d->mode == CHART_BAND ? CHART_LINES :
			    CHART_BAND;
		break;
	case 'e':
		d->ema = (d->ema + 1) % (int)nitems(emas);
		break;
	case 'L':
		d->logy = !d->logy;
		break;
	case 'z':
		d->zoom = (d->zoom + 1) % (int)nitems(zooms);
		break;
	case 'S':
	case 'P':
		snprintf(path, sizeof path, "task%lld-loss.%s",
		    (long long)d->id, k == 'S' ? "svg" : "png");
		chart_save_msg(c, d, k == 'S' ? "svg" : "png", path);
		break;
	default:
		return 0;
	}
	return 1;
}

static int
chart_view_command(struct view *v, struct con *c, char **argv, int argc)
{
	struct chartv *d = v->data;

	if (argc != 3 || strcmp(argv[0], "export") != 0 ||
	    (strcmp(argv[1], "svg") != 0 && strcmp(argv[1], "png") != 0))
		return 0;
	chart_save_msg(c, d, argv[1], argv[2]);
	return 1;
}

static void
chart_view_update(struct view *v, struct con *c)
{
	con_view_task(c, v);
}

static void
chart_view_free(struct view *v)
{
	struct chartv *d = v->data;

	free(d->cells);
	free(d);
}

static const struct view_ops chart_ops = {
	.name = "charts",
	.draw = chart_view_draw,
	.key = chart_view_key,
	.update = chart_view_update,
	.free = chart_view_free,
	.help = keys,
	.command = chart_view_command,
};

struct view *
view_chart_new(struct con *c, int64_t task_id)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct chartv *d = xcalloc(1, sizeof *d);

	d->id = task_id;
	d->mode = -1;
	v->ops = &chart_ops;
	v->data = d;
	v->task_id = task_id;
	return v;
}

int
chart_export_task(struct con *c, int64_t task, const char *fmt,
    const char *path, char **cause)
{
	struct chartv d;
	const struct model_task *mt = model_task(con_model(c));
	int r;

	if ((mt == NULL || mt->id != task) &&
	    model_open_task(con_model(c), task) != 0) {
		xasprintf(cause, "%s", model_error(con_model(c)));
		return -1;
	}
	/* Everything stored, before the file is written. */
	while ((r = model_load_series(con_model(c), 1000000)) > 0)
		;
	if (r < 0) {
		xasprintf(cause, "%s", model_error(con_model(c)));
		return -1;
	}
	memset(&d, 0, sizeof d);
	d.mode = -1;
	return chart_save(c, &d, task, fmt, path, cause);
}
