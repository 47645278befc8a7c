/*
 * view_logs.c - one rank's log on one host, following live (logtail.c
 * reads it on the host through the engine's loop, never blocking a key):
 * error lines and whole tracebacks highlighted, search with `/` and n/N,
 * pause, jump between errors, and the next or previous rank.
 */
#include "console.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logtail.h"

#define LOG_LINES	2000	/* how much history to fetch */

static const struct keyhelp keys[] = {
	{ "j k / PgDn PgUp", "scroll (scrolling up pauses)" },
	{ "space / p", "pause or follow" },
	{ "G / g", "the end (follow) / the start" },
	{ "/ then n N", "search; next, previous match" },
	{ "t T", "next, previous error or traceback" },
	{ "] [", "the host's next, previous rank" },
	{ "R", "reconnect" },
	{ NULL, NULL },
};

struct logs {
	int64_t task;
	char *host;
	long rank;
	struct logtail *lt;
	struct con *c;
	char *cause;			/* logtail_open's error */
	long top;			/* first line shown when paused */
	int follow;
	int h;
	char *needle;
	long match;
};

static void
logs_changed(void *arg)
{
	struct logs *d = arg;

	con_dirty(d->c);
}

static void
logs_open(struct logs *d)
{
	logtail_free(d->lt);
	free(d->cause);
	d->cause = NULL;
	d->lt = logtail_open(con_loop(d->c), model_store(con_model(d->c)),
	    d->task, d->host, d->rank, LOG_LINES, logs_changed, d, &d->cause);
	d->follow = 1;
	d->match = -1;
}

static int
kind_attr(struct con *c, enum logline_kind k)
{
	switch (k) {
	case LOGLINE_ERROR:
		return con_attr(c, CC_BAD);
	case LOGLINE_TRACEBACK:
		return con_attr(c, CC_LOST);
	case LOGLINE_WARN:
		return con_attr(c, CC_WARN);
	default:
		return 0;
	}
}

static long
count(const struct logs *d)
{
	return d->lt != NULL ? (long)logtail_count(d->lt) : 0;
}

/* Line i, where the one past the last is the line still being written
 * (a progress bar's latest redraw). */
static const struct logline *
line_at(const struct logs *d, long i)
{
	if (d->lt == NULL || i < 0)
		return NULL;
	if (i < count(d))
		return logtail_line(d->lt, (size_t)i);
	return i == count(d) ? logtail_partial(d->lt) : NULL;
}

static void
logs_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct logs *d = v->data;
	const struct logline *l;
	long n = count(d) + (d->lt != NULL && logtail_partial(d->lt) != NULL),
	    i, first;
	int row, attr;

	d->h = h - 1;
	con_putf(c, y, 0, w, con_attr(c, d->cause != NULL || (d->lt != NULL &&
	    logtail_failed(d->lt)) ? CC_BAD : CC_BUSY), " %s%s  %s%s%s",
	    d->cause != NULL ? d->cause : d->lt != NULL ?
	    logtail_status(d->lt) : "", d->follow ? "  (following)" :
	    "  (paused)", d->needle != NULL ? "search: " : "",
	    d->needle != NULL ? d->needle : "", d->needle != NULL &&
	    d->match < 0 ? " (no match)" : "");
	if (d->follow || d->top > n - d->h)
		d->top = n - d->h;
	if (d->top < 0)
		d->top = 0;
	first = d->top;
	for (row = 0; row < d->h; row++) {
		i = first + row;
		if (i >= n || (l = line_at(d, i)) == NULL) {
			con_put(c, y + 1 + row, 0, w, 0, "");
			continue;
		}
		attr = kind_attr(c, l->kind);
		if (i == d->match)
			attr |= con_attr(c, CC_SELECT);
		con_put(c, y + 1 + row, 0, w, attr, l->text);
	}
}

static void
logs_find(struct logs *d, int dir)
{
	long from = d->match >= 0 ? d->match : (dir > 0 ? d->top - 1 :
	    d->top + d->h);
	long i;

	if (d->needle == NULL || d->lt == NULL)
		return;
	i = logtail_search(d->lt, d->needle, from, dir);
	if (i < 0 && d->match < 0)
		i = logtail_search(d->lt, d->needle, dir > 0 ? -1 :
		    count(d), dir);
	d->match = i;
	if (i >= 0) {
		d->follow = 0;
		if (i < d->top || i >= d->top + d->h)
			d->top = i - d->h / 2;
	}
}

/* The next error or traceback line (the start of a traceback block). */
static void
logs_error(struct logs *d, int dir)
{
	const struct logline *l, *prev;
	long n = count(d), i = d->match >= 0 ? d->match : d->top;

	for (i += dir; i >= 0 && i < n; i += dir) {
		l = logtail_line(d->lt, (size_t)i);
		prev = i > 0 ? logtail_line(d->lt, (size_t)(i - 1)) : NULL;
		if (l->kind == LOGLINE_ERROR || (l->kind == LOGLINE_TRACEBACK &&
		    (prev == NULL || prev->kind != LOGLINE_TRACEBACK))) {
			d->match = i;
			d->follow = 0;
			d->top = i - 2;
			return;
		}
	}
}

static int
logs_key(struct view *v, struct con *c, int k)
{
	struct logs *d = v->data;

	switch (k) {
	case KEY_DOWN: case 'j': d->top++; break;
	case KEY_UP: case 'k': d->top--; d->follow = 0; break;
	case KEY_NPAGE: case 6: d->top += d->h - 1; break;
	case KEY_PPAGE: case 2: d->top -= d->h - 1; d->follow = 0; break;
	case 'g': case KEY_HOME: d->top = 0; d->follow = 0; break;
	case 'G': case KEY_END: d->follow = 1; break;
	case ' ': case 'p': d->follow = !d->follow; break;
	case 'n': logs_find(d, 1); break;
	case 'N': logs_find(d, -1); break;
	case 't': logs_error(d, 1); break;
	case 'T': logs_error(d, -1); break;
	case ']': case '[':
		if (d->lt != NULL && logtail_rank(d->lt) >= 0) {
			d->rank = logtail_rank(d->lt) + (k == ']' ? 1 : -1);
			if (d->rank < 0)
				d->rank = 0;
			logs_open(d);
		}
		break;
	case 'R': logs_open(d); break;
	default:
		return 0;
	}
	/* Scrolling down to the end follows again. */
	if (!d->follow && d->top >= count(d) - d->h && (k == 'j' ||
	    k == KEY_DOWN || k == KEY_NPAGE || k == 6))
		d->follow = 1;
	return 1;
}

static void
logs_filter(struct view *v, struct con *c, const char *f)
{
	struct logs *d = v->data;

	free(d->needle);
	d->needle = f != NULL && *f != '\0' ? xstrdup(f) : NULL;
	d->match = -1;
	logs_find(d, 1);
}

static void
logs_click(struct view *v, struct con *c, int y, int wheel)
{
	struct logs *d = v->data;

	d->top += wheel;
	if (wheel < 0)
		d->follow = 0;
}

static void
logs_free(struct view *v)
{
	struct logs *d = v->data;

	logtail_free(d->lt);
	free(d->cause);
	free(d->host);
	free(d->needle);
	free(d);
}

static const struct view_ops logs_ops = {
	.name = "logs",
	.draw = logs_draw,
	.key = logs_key,
	.filter = logs_filter,
	.free = logs_free,
	.help = keys,
	.click = logs_click,
};

struct view *
view_logs_new(struct con *c, int64_t task_id, const char *host, long rank)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct logs *d = xcalloc(1, sizeof *d);

	d->task = task_id;
	d->host = host != NULL ? xstrdup(host) : NULL;
	d->rank = rank;
	d->c = c;
	logs_open(d);
	v->ops = &logs_ops;
	v->data = d;
	v->task_id = task_id;
	return v;
}
