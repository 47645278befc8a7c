/*
 * table.c - the console's table: rows of text cells under a header,
 * sorted by any column (numbers as numbers), filtered by a substring of
 * any cell, with a cursor and marks that follow rows by key across
 * refreshes (the model is re-read every second). Drawing only; the views
 * decide what goes in the cells.
 */
#include "console.h"

#include <ctype.h>
#include <curses.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct trow {
	char *key;
	char **cells;
	int color;
};

struct table {
	const struct table_col *cols;
	int ncols;
	struct trow *rows;		/* all of them */
	size_t nrows, cap;
	size_t *shown;			/* indexes after filter and sort */
	size_t nshown;
	char *filter;
	int sort_col;			/* -1: as added */
	int reverse;
	char *cursor;			/* key of the cursor's row */
	size_t cur, top;
	char **marks;
	size_t nmarks;
	int y0, h;			/* where the rows were last drawn */
};

struct table *
table_new(const struct table_col *cols, int ncols)
{
	struct table *t = xcalloc(1, sizeof *t);

	t->cols = cols;
	t->ncols = ncols;
	t->sort_col = -1;
	return t;
}

void
table_clear(struct table *t)
{
	size_t i;
	int c;

	for (i = 0; i < t->nrows; i++) {
		for (c = 0; c < t->ncols; c++)
			free(t->rows[i].cells[c]);
		free(t->rows[i].cells);
		free(t->rows[i].key);
	}
	t->nrows = 0;
}

void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	table_clear(t);
	free(t->rows);
	free(t->shown);
	free(t->filter);
	free(t->cursor);
	for (i = 0; i < t->nmarks; i++)
		free(t->marks[i]);
	free(t->marks);
	free(t);
}

void
table_add(struct table *t, const char *key, const char *const *cells,
    int color)
{
	struct trow *r;
	int c;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->rows = xreallocarray(t->rows, t->cap, sizeof *t->rows);
	}
	r = &t->rows[t->nrows++];
	r->key = xstrdup(key);
	r->cells = xcalloc((size_t)t->ncols, sizeof *r->cells);
	for (c = 0; c < t->ncols; c++)
		r->cells[c] = xstrdup(cells[c] != NULL ? cells[c] : "");
	r->color = color;
}

/* A number when the whole cell reads as one (units like "x1.20", "45%",
 * "3.2k" count as their number). */
static int
cell_number(const char *s, double *v)
{
	char *end;

	while (*s == 'x' || *s == ' ')
		s++;
	if (*s == '\0' || (*s == '-' && s[1] == '\0'))
		return 0;
	*v = strtod(s, &end);
	if (end == s)
		return 0;
	if (*end == 'k')
		*v *= 1e3;
	else if (*end == 'M')
		*v *= 1e6;
	return 1;
}

static struct table *sorting;

static int
cmp_rows(const void *a, const void *b)
{
	const struct trow *x = &sorting->rows[*(const size_t *)a];
	const struct trow *y = &sorting->rows[*(const size_t *)b];
	const char *p = x->cells[sorting->sort_col];
	const char *q = y->cells[sorting->sort_col];
	double u, v;
	int r, nu, nv;

	nu = cell_number(p, &u);
	nv = cell_number(q, &v);
	if (nu && nv)
		r = u < v ? -1 : u > v;
	else if (nu != nv)
		r = nu ? -1 : 1;	/* numbers before "-" */
	else
		r = strcmp(p, q);
	if (r == 0)	/* stable: the order the view gave */
		r = *(const size_t *)a < *(const size_t *)b ? -1 : 1;
	else if (sorting->reverse)
		r = -r;
	return r;
}

static int
row_matches(const struct table *t, const struct trow *r)
{
	const char *f = t->filter, *p, *q, *c;
	int i;

	if (f == NULL || *f == '\0')
		return 1;
	for (i = 0; i < t->ncols; i++) {
		for (c = r->cells[i]; *c != '\0'; c++) {
			for (p = c, q = f; *p != '\0' && *q != '\0' &&
			    tolower((unsigned char)*p) ==
			    tolower((unsigned char)*q); p++, q++)
				;
			if (*q == '\0')
				return 1;
		}
	}
	return 0;
}

void
table_done(struct table *t)
{
	size_t i;

	free(t->shown);
	t->shown = xcalloc(t->nrows + 1, sizeof *t->shown);
	t->nshown = 0;
	for (i = 0; i < t->nrows; i++)
		if (row_matches(t, &t->rows[i]))
			t->shown[t->nshown++] = i;
	if (t->sort_col >= 0) {
		sorting = t;
		qsort(t->shown, t->nshown, sizeof *t->shown, cmp_rows);
		sorting = NULL;
	}
	/* The cursor stays on its row when the row is still shown. */
	if (t->cursor != NULL)
		for (i = 0; i < t->nshown; i++)
			if (strcmp(t->rows[t->shown[i]].key, t->cursor) == 0) {
				t->cur = i;
				return;
			}
	if (t->cur >= t->nshown)
		t->cur = t->nshown > 0 ? t->nshown - 1 : 0;
	free(t->cursor);
	t->cursor = t->nshown > 0 ?
	    xstrdup(t->rows[t->shown[t->cur]].key) : NULL;
}

void
table_set_filter(struct table *t, const char *f)
{
	free(t->filter);
	t->filter = f != NULL && *f != '\0' ? xstrdup(f) : NULL;
	table_done(t);
}

const char *
table_filter(const struct table *t)
{
	return t->filter;
}

void
table_sort_by(struct table *t, int col, int reverse)
{
	t->sort_col = col < t->ncols ? col : -1;
	t->reverse = reverse;
	table_done(t);
}

void
table_sort_next(struct table *t)
{
	if (t->sort_col >= 0 && !t->reverse)
		t->reverse = 1;
	else {
		t->sort_col = t->sort_col + 1 >= t->ncols ? -1 :
		    t->sort_col + 1;
		t->reverse = 0;
	}
	table_done(t);
}

const char *
table_sort_name(const struct table *t)
{
	return t->sort_col >= 0 ? t->cols[t->sort_col].name : NULL;
}

static void
table_set_cur(struct table *t, size_t i)
{
	if (t->nshown == 0)
		return;
	if (i >= t->nshown)
		i = t->nshown - 1;
	t->cur = i;
	free(t->cursor);
	t->cursor = xstrdup(t->rows[t->shown[i]].key);
}

const char *
table_cursor_key(const struct table *t)
{
	return t->nshown > 0 ? t->cursor : NULL;
}

int
table_set_cursor_key(struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->nshown; i++)
		if (strcmp(t->rows[t->shown[i]].key, key) == 0) {
			table_set_cur(t, i);
			return 1;
		}
	return 0;
}

void
table_move(struct table *t, int delta)
{
	long i = (long)t->cur;

	if (delta == INT_MAX)
		i = (long)t->nshown - 1;
	else if (delta == INT_MIN)
		i = 0;
	else
		i += delta;
	if (i < 0)
		i = 0;
	table_set_cur(t, (size_t)i);
}

void
table_page(struct table *t, int pages)
{
	table_move(t, pages * (t->h > 2 ? t->h - 1 : 1));
}

int
table_key(struct table *t, int k)
{
	switch (k) {
	case KEY_DOWN: case 'j': table_move(t, 1); return 1;
	case KEY_UP: case 'k': table_move(t, -1); return 1;
	case KEY_NPAGE: case 6: table_page(t, 1); return 1;
	case KEY_PPAGE: case 2: table_page(t, -1); return 1;
	case 'g': case KEY_HOME: table_move(t, INT_MIN); return 1;
	case 'G': case KEY_END: table_move(t, INT_MAX); return 1;
	case 's': table_sort_next(t); return 1;
	}
	return 0;
}

void
table_pointer(struct table *t, int y, int wheel)
{
	if (wheel != 0)
		table_move(t, wheel);
	else
		table_click(t, y);
}

int
table_click(struct table *t, int y)
{
	long i = (long)t->top + (y - t->y0);

	if (y < t->y0 || y >= t->y0 + t->h || i >= (long)t->nshown)
		return 0;
	table_set_cur(t, (size_t)i);
	return 1;
}

static long
mark_find(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->nmarks; i++)
		if (strcmp(t->marks[i], key) == 0)
			return (long)i;
	return -1;
}

void
table_mark(struct table *t, const char *key, int on)
{
	long i = mark_find(t, key);

	if (on && i < 0) {
		t->marks = xreallocarray(t->marks, t->nmarks + 1,
		    sizeof *t->marks);
		t->marks[t->nmarks++] = xstrdup(key);
	} else if (!on && i >= 0) {
		free(t->marks[i]);
		t->marks[i] = t->marks[--t->nmarks];
	}
}

int
table_marked(const struct table *t, const char *key)
{
	return mark_find(t, key) >= 0;
}

void
table_toggle_mark(struct table *t)
{
	const char *k = table_cursor_key(t);

	if (k != NULL)
		table_mark(t, k, !table_marked(t, k));
}

char **
table_marks(const struct table *t)
{
	char **v = xcalloc(t->nmarks + 1, sizeof *v);
	size_t i, n = 0;

	/* In the table's order, not the order marked. */
	for (i = 0; i < t->nrows; i++)
		if (table_marked(t, t->rows[i].key))
			v[n++] = xstrdup(t->rows[i].key);
	return v;
}

int
table_at_end(const struct table *t)
{
	return t->nshown == 0 || t->cur + 1 >= t->nshown;
}

size_t
table_rows(const struct table *t)
{
	return t->nshown;
}

size_t
table_total(const struct table *t)
{
	return t->nrows;
}

void
table_draw(struct table *t, struct con *c, int y, int x, int h, int w)
{
	int *wid = xcalloc((size_t)t->ncols, sizeof *wid);
	int col, used = 2, flex = -1, cx, attr, i;
	size_t r;
	const struct trow *row;
	char head[64];

	for (col = 0; col < t->ncols; col++) {
		wid[col] = t->cols[col].width;
		if (wid[col] == 0 && flex < 0)
			flex = col;
		used += wid[col] + 1;
	}
	if (flex >= 0)
		wid[flex] = w - used > 8 ? w - used : 8;
	/* The header, with the sort column's arrow. */
	con_put(c, y, x, w, con_attr(c, CC_HEAD), "");
	for (col = 0, cx = x + 2; col < t->ncols && cx < x + w; col++) {
		snprintf(head, sizeof head, "%s%s", t->cols[col].name,
		    col == t->sort_col ? (t->reverse ? "v" : "^") : "");
		if (t->cols[col].right)
			con_putf(c, y, cx, wid[col], con_attr(c, CC_HEAD),
			    "%*s", wid[col], head);
		else
			con_put(c, y, cx, wid[col], con_attr(c, CC_HEAD), head);
		cx += wid[col] + 1;
	}
	t->y0 = y + 1;
	t->h = h - 1;
	if (t->h < 1) {
		free(wid);
		return;
	}
	if (t->cur < t->top)
		t->top = t->cur;
	if (t->cur >= t->top + (size_t)t->h)
		t->top = t->cur - (size_t)t->h + 1;
	if (t->top + (size_t)t->h > t->nshown)
		t->top = t->nshown > (size_t)t->h ? t->nshown - (size_t)t->h : 0;
	for (i = 0; i < t->h; i++) {
		r = t->top + (size_t)i;
		con_put(c, t->y0 + i, x, w, 0, "");
		if (r >= t->nshown)
			continue;
		row = &t->rows[t->shown[r]];
		attr = r == t->cur ? con_attr(c, CC_SELECT) : 0;
		con_put(c, t->y0 + i, x, 2, attr | (table_marked(t, row->key) ?
		    con_attr(c, CC_MARK) : 0), table_marked(t, row->key) ?
		    "* " : "  ");
		for (col = 0, cx = x + 2; col < t->ncols && cx < x + w; col++) {
			int a = attr;

			/* The state column (named STATE) takes the row's
			 * color, reversed on the cursor's row (two color
			 * pairs do not combine). */
			if (strcmp(t->cols[col].name, "STATE") == 0 &&
			    row->color != 0)
				a = con_attr(c, row->color) |
				    (r == t->cur ? A_REVERSE : 0);
			if (t->cols[col].right) {
				int len = (int)strlen(row->cells[col]);

				con_putf(c, t->y0 + i, cx, wid[col], a,
				    "%*s", wid[col], len > wid[col] ?
				    row->cells[col] + len - wid[col] :
				    row->cells[col]);
			} else
				con_put(c, t->y0 + i, cx, wid[col], a,
				    row->cells[col]);
			if (cx + wid[col] < x + w)
				con_put(c, t->y0 + i, cx + wid[col], 1, attr,
				    " ");
			cx += wid[col] + 1;
		}
	}
	free(wid);
}

/* ---- views that are a table: their data begins with the table --------- */

void
table_view_filter(struct view *v, struct con *c, const char *f)
{
	table_set_filter(*(struct table **)v->data, f);
}

void
table_view_click(struct view *v, struct con *c, int y, int wheel)
{
	table_pointer(*(struct table **)v->data, y, wheel);
}

void
table_view_free(struct view *v)
{
	table_free(*(struct table **)v->data);
	free(v->data);
}
