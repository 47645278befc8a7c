/*
 * test_chart.c - the console's charts (tui/series.c, chart.c,
 * chart_export.c): buckets against a brute-force computation over the same
 * points in any order, what a user sees in the cells (a known line, NaN
 * marks, log scale, zoom, relaunch markers, ASCII), the speed figures, and
 * the exported files decoded again (PNG chunks, CRCs, stored deflate blocks,
 * Adler-32; SVG tags balanced).
 */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../../common/common.h"
#include "../../tui/chart.h"

struct pt {
	int64_t step;
	double v;
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct chart_grid *
grid_new(int cols, int rows, int ascii)
{
	struct chart_grid *g = xcalloc(1, sizeof *g);

	g->cols = cols;
	g->rows = rows;
	g->ascii = ascii;
	g->cells = xcalloc((size_t)cols * rows, sizeof *g->cells);
	return g;
}

static void
grid_free(struct chart_grid *g)
{
	if (g != NULL)
		free(g->cells);
	free(g);
}

static struct chart_cell *
cell(struct chart_grid *g, int r, int c)
{
	return &g->cells[(size_t)r * g->cols + c];
}

static void
grid_print(struct chart_grid *g)
{
	int r, c;

	for (r = 0; r < g->rows; r++) {
		printf("  |");
		for (c = 0; c < g->cols; c++)
			printf("%s", cell(g, r, c)->ch);
		printf("|\n");
	}
}

/* The text of a row. */
static const char *
grid_row(struct chart_grid *g, int r)
{
	static char s[4096];
	size_t n = 0;
	int c;

	for (c = 0; c < g->cols; c++) {
		snprintf(s + n, sizeof s - n, "%s", cell(g, r, c)->ch);
		n += strlen(s + n);
	}
	return s;
}

static int
grid_find(struct chart_grid *g, const char *needle)
{
	int r;

	for (r = 0; r < g->rows; r++)
		if (strstr(grid_row(g, r), needle) != NULL)
			return r;
	return -1;
}

/* Braille dot bits of a cell, -1 when it is not a braille character. */
static int
braille_bits(const struct chart_cell *c)
{
	const unsigned char *s = (const unsigned char *)c->ch;
	unsigned cp;

	if (s[0] != 0xe2 || (s[1] & 0xfc) != 0xa0)
		return -1;
	cp = ((s[0] & 0x0f) << 12) | ((s[1] & 0x3f) << 6) | (s[2] & 0x3f);
	return (int)(cp - 0x2800);
}

/* Whether dot (x, y) of the plot (x from the left, y from the top, both in
 * dots) starting at cell (row0, col0) is set. */
static int
dot_at(struct chart_grid *g, int row0, int col0, int x, int y)
{
	static const unsigned char bit[2][4] = {
		{ 0x01, 0x02, 0x04, 0x40 }, { 0x08, 0x10, 0x20, 0x80 },
	};
	int b = braille_bits(cell(g, row0 + y / 4, col0 + x / 2));

	return b > 0 && (b & bit[x & 1][y & 3]);
}

/* --- series --- */

static void
check_buckets(struct series *s, const struct pt *p, size_t n)
{
	int64_t origin, width, lo, hi, mn = 0, mx = 0, b0;
	struct series_stat st;
	uint64_t total = 0, cnt, bad, npos;
	double bmin, bmax, bsum;
	size_t i, k;
	int bad_checks = 0;

	series_layout(s, &origin, &width);
	CHECK(width > 0 && (width & (width - 1)) == 0);
	for (k = 0; k < n; k++) {
		if (k == 0 || p[k].step < mn)
			mn = p[k].step;
		if (k == 0 || p[k].step > mx)
			mx = p[k].step;
	}
	CHECK_INT(series_count(s), n);
	REQUIRE(series_range(s, &lo, &hi) == 1);
	CHECK_INT(lo, mn);
	CHECK_INT(hi, mx);
	CHECK(origin <= mn);
	CHECK(mx < origin + width * SERIES_BUCKETS);
	for (i = 0; i < SERIES_BUCKETS && bad_checks < 5; i++) {
		b0 = origin + (int64_t)i * width;
		cnt = bad = npos = 0;
		bmin = INFINITY;
		bmax = -INFINITY;
		bsum = 0;
		for (k = 0; k < n; k++) {
			if (p[k].step < b0 || p[k].step >= b0 + width)
				continue;
			cnt++;
			if (!isfinite(p[k].v)) {
				bad++;
				continue;
			}
			if (p[k].v <= 0)
				npos++;
			bsum += p[k].v;
			if (p[k].v < bmin)
				bmin = p[k].v;
			if (p[k].v > bmax)
				bmax = p[k].v;
		}
		series_bucket(s, i, &st);
		total += st.count;
		if (st.count != cnt || st.nonfinite != bad ||
		    st.nonpos != npos || (cnt > bad && (st.min != bmin ||
		    st.max != bmax)) || fabs(st.sum - bsum) >
		    1e-9 * (fabs(bsum) + 1)) {
			test_fail(__FILE__, __LINE__, "bucket %zu [%lld,+%lld):"
			    " count %llu/%llu bad %llu/%llu npos %llu/%llu "
			    "min %g/%g max %g/%g sum %g/%g", i,
			    (long long)b0, (long long)width,
			    (unsigned long long)st.count,
			    (unsigned long long)cnt,
			    (unsigned long long)st.nonfinite,
			    (unsigned long long)bad,
			    (unsigned long long)st.nonpos,
			    (unsigned long long)npos, st.min, bmin, st.max,
			    bmax, st.sum, bsum);
			bad_checks++;
		}
	}
	CHECK_INT(total, n);
}

TEST(chart_series_buckets_match_bruteforce)
{
	static const int64_t spans[] = { 300, 5000, 1000000, 3000000000ll };
	struct pt *p;
	struct series *s;
	size_t n, k, round;
	int64_t step;
	uint64_t r, nonfinite;
	double v;

	p = xreallocarray(NULL, 20000, sizeof *p);
	for (round = 0; round < 12; round++) {
		s = series_new();
		n = 2000 + rng() % 18000;
		step = (int64_t)(rng() % 1000) - 500;
		nonfinite = 0;
		for (k = 0; k < n; k++) {
			r = rng() % 100;
			if (r < 70)		/* forward */
				step += (int64_t)(rng() %
				    (uint64_t)(spans[round % 4] / 1000 + 2));
			else if (r < 80)	/* repeat */
				;
			else if (r < 95)	/* relaunch: back a little */
				step -= (int64_t)(rng() % (uint64_t)
				    (spans[round % 4] / 50 + 2));
			else			/* anywhere, below too */
				step = (int64_t)(rng() %
				    (uint64_t)spans[round % 4]) -
				    spans[round % 4] / 2;
			r = rng() % 50;
			v = r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ?
			    -INFINITY : ((double)(rng() % 20001) - 5000) / 7;
			if (!isfinite(v))
				nonfinite++;
			p[k].step = step;
			p[k].v = v;
			series_add(s, step, v);
		}
		check_buckets(s, p, n);
		CHECK_INT(series_nonfinite(s), nonfinite);
		CHECK(memcmp(&p[n - 1].v, &(double){ series_last(s) },
		    sizeof(double)) == 0 || (isnan(p[n - 1].v) &&
		    isnan(series_last(s))));
		series_free(s);
	}
	/* strictly descending steps, and one point */
	s = series_new();
	for (k = 0; k < 20000; k++) {
		p[k].step = 1000000 - (int64_t)k * 3;
		p[k].v = (double)k;
		series_add(s, p[k].step, p[k].v);
	}
	check_buckets(s, p, 20000);
	series_free(s);
	s = series_new();
	CHECK(isnan(series_last(s)));
	CHECK_INT(series_range(s, &step, &step), 0);
	series_add(s, 42, 1.5);
	p[0].step = 42;
	p[0].v = 1.5;
	check_buckets(s, p, 1);
	series_free(s);
	series_free(NULL);
	free(p);
	printf("  series: %zu bytes each (%d buckets, %d exact points)\n",
	    series_memsize(), SERIES_BUCKETS, SERIES_TAIL);
	CHECK(series_memsize() <= 28 * 1024);
}

/* --- rendering --- */

static struct series *
series_line(int64_t from, int64_t to)
{
	struct series *s = series_new();
	int64_t i;

	for (i = from; i <= to; i++)
		series_add(s, i, (double)i);
	return s;
}

/* y = x over 0..99 in 22x8: labels "0".."80" (2 wide), axis at column 2,
 * plot columns 3..21 (38 dots), rows 1..4 (16 dots). */
TEST(chart_render_known_line)
{
	struct series *s = series_line(0, 99);
	struct chart_line line = { s, "host-a", 3 };
	struct chart c = { .lines = &line, .nlines = 1, .title = "loss" };
	struct chart_grid *g = grid_new(22, 8, 0);
	int x, y, lo, prevlo = -1, hi, prevhi = -1, r, col;

	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strncmp(grid_row(g, 0), "loss  100 pts", 13) == 0);
	/* bottom-left dot and top-right dot, in the line's color */
	CHECK(braille_bits(cell(g, 4, 3)) >= 0);
	CHECK(braille_bits(cell(g, 4, 3)) & 0x40);
	CHECK_INT(cell(g, 4, 3)->color, 3);
	CHECK(braille_bits(cell(g, 1, 21)) >= 0);
	CHECK(braille_bits(cell(g, 1, 21)) & 0x08);
	/* the opposite corners are empty */
	CHECK_STR(cell(g, 1, 3)->ch, " ");
	CHECK_STR(cell(g, 4, 21)->ch, " ");
	/* every dot column has dots, rising without a gap */
	for (x = 0; x < 38; x++) {
		lo = hi = -1;
		for (y = 0; y < 16; y++)
			if (dot_at(g, 1, 3, x, 15 - y)) {
				if (lo < 0)
					lo = y;
				hi = y;
			}
		CHECK(lo >= 0);
		CHECK(lo >= prevlo && hi >= prevhi);
		CHECK(prevhi < 0 || lo <= prevhi + 1);
		prevlo = lo;
		prevhi = hi;
	}
	CHECK(dot_at(g, 1, 3, 0, 15));
	CHECK(dot_at(g, 1, 3, 37, 0));
	/* y axis: ticks 0 (bottom row) .. 80, x axis labels 0 and 99 */
	CHECK_STR(cell(g, 4, 0)->ch, " ");
	CHECK_STR(cell(g, 4, 1)->ch, "0");
	CHECK_STR(cell(g, 4, 2)->ch, "┤");
	CHECK_INT(cell(g, 4, 2)->color, CHART_C_AXIS);
	CHECK(strncmp(grid_row(g, 1), "80┤", 5) == 0 ||
	    strncmp(grid_row(g, 2), "80┤", 5) == 0);
	CHECK(strncmp(grid_row(g, 5), "  └┴", 8) == 0);
	CHECK(strncmp(grid_row(g, 6), "   0", 4) == 0);
	CHECK_STR(cell(g, 6, 20)->ch, "9");
	CHECK_STR(cell(g, 6, 21)->ch, "9");
	CHECK(strstr(grid_row(g, 7), "host-a") != NULL);
	/* only braille, blanks and axis characters in the plot */
	for (r = 1; r <= 4; r++)
		for (col = 3; col < 22; col++)
			CHECK(braille_bits(cell(g, r, col)) >= 0 ||
			    strcmp(cell(g, r, col)->ch, " ") == 0);
	grid_free(g);
	series_free(s);
}

TEST(chart_render_nan_marked_on_its_column)
{
	struct series *s = series_new();
	struct chart_line line = { s, "h", 1 };
	struct chart c = { .lines = &line, .nlines = 1, .title = "loss" };
	struct chart_grid *g = grid_new(22, 8, 0);
	int64_t i;
	int col, nmarks = 0;

	for (i = 0; i < 100; i++)
		series_add(s, i, i == 50 ? NAN : i == 70 ? INFINITY :
		    (double)i);
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strstr(grid_row(g, 0), "2 nan/inf") != NULL);
	/* 38 dot columns: step 50 in dot 19 (cell 9), 70 in dot 26 (13) */
	CHECK_STR(cell(g, 1, 3 + 9)->ch, "×");
	CHECK_INT(cell(g, 1, 3 + 9)->color, CHART_C_BAD);
	CHECK_STR(cell(g, 1, 3 + 13)->ch, "×");
	for (col = 0; col < 22; col++)
		if (cell(g, 1, col)->color == CHART_C_BAD)
			nmarks++;
	CHECK_INT(nmarks, 2);
	/* the nan/inf count in the title is in the BAD color */
	if (strstr(grid_row(g, 0), "2 nan/inf") != NULL) {
		col = (int)(strstr(grid_row(g, 0), "2 nan/inf") -
		    grid_row(g, 0));
		CHECK_INT(cell(g, 0, col)->color, CHART_C_BAD);
	}
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	grid_free(g);
	series_free(s);
}

/* The topmost dot row (from the bottom) set in a dot column, -1 if none. */
static int
dot_top(struct chart_grid *g, int row0, int col0, int dh, int x)
{
	int y;

	for (y = 0; y < dh; y++)
		if (dot_at(g, row0, col0, x, y))
			return dh - 1 - y;
	return -1;
}

TEST(chart_render_log_scale)
{
	struct series *s = series_new(), *z = series_new();
	struct chart_line line = { s, "h", 2 };
	struct chart c = { .lines = &line, .nlines = 1, .title = "loss",
	    .logy = 1 };
	struct chart_grid *g = grid_new(40, 12, 0);
	int64_t i;
	int r, y, x, L = 4, rows[4], n = 0;
	const char *lab[4] = { "   1┤", "  10┤", " 100┤", "1000┤" };

	for (i = 0; i < 100; i++)
		series_add(s, i, pow(10, i / 33.0));	/* 1 .. 1000 */
	REQUIRE(chart_render(&c, g) == 0);
	/* ticks at powers of ten, bottom to top */
	for (n = 0; n < 4; n++) {
		rows[n] = -1;
		for (r = 1; r <= 8; r++)
			if (strncmp(grid_row(g, r), lab[n], strlen(lab[n]))
			    == 0)
				rows[n] = r;
		CHECK(rows[n] > 0);
		CHECK(n == 0 || rows[n] < rows[n - 1]);
	}
	CHECK_INT(rows[0], 8);
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	/* a straight line: the middle dot column sits mid-height (it would
	 * sit near the bottom on a linear axis) */
	x = (40 - L - 1) * 2 / 2;
	y = dot_top(g, 1, L + 1, 32, x);
	CHECK(y >= 13 && y <= 18);
	if (!(y >= 13 && y <= 18))
		grid_print(g);

	/* zero and negative values: counted, marked, not drawn */
	for (i = 0; i < 100; i++)
		series_add(z, i, i == 30 ? 0 : i == 60 ? -5 : 1 + i);
	line.s = z;
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strstr(grid_row(g, 0), "2 ≤0") != NULL);
	CHECK(strstr(grid_row(g, 0), "nan") == NULL);
	n = 0;
	for (x = 0; x < 40; x++)
		if (cell(g, 1, x)->color == CHART_C_BAD)
			n++;
	CHECK_INT(n, 2);
	c.logy = 0;
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strstr(grid_row(g, 0), "≤0") == NULL);
	CHECK(strstr(grid_row(g, 1), "×") == NULL);
	grid_free(g);
	series_free(s);
	series_free(z);
}

/* The column of the y axis. */
static int
axis_col(struct chart_grid *g)
{
	int c;

	for (c = 0; c < g->cols; c++)
		if (strcmp(cell(g, 1, c)->ch, "┤") == 0 ||
		    strcmp(cell(g, 1, c)->ch, "│") == 0)
			return c;
	return -1;
}

/* EMA runs over the display points: a step from 0 to 10 at step 50 rises
 * gradually instead of at once. */
TEST(chart_render_ema_smooths_display_points)
{
	struct series *s = series_new();
	struct chart_line line = { s, "h", 1 };
	struct chart c = { .lines = &line, .nlines = 1 };
	struct chart_grid *g = grid_new(22, 8, 0);
	int64_t i;
	int L, top_raw, top_ema;

	for (i = 0; i < 100; i++)
		series_add(s, i, i < 50 ? 0 : 10);
	REQUIRE(chart_render(&c, g) == 0);
	L = axis_col(g);	/* labels 0, 5, 10 */
	CHECK_INT(L, 2);
	/* dot column 20 (steps 52..54) of 38: at the top without EMA */
	top_raw = dot_top(g, 1, L + 1, 16, 20);
	c.ema = 0.2;
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strstr(grid_row(g, 0), "ema 0.2") != NULL);
	L = axis_col(g);	/* the top is below 10 now: "8" */
	CHECK_INT(L, 1);
	top_ema = dot_top(g, 1, L + 1, 16, 2 * (21 - L) * 20 / 38);
	CHECK_INT(top_raw, 15);
	CHECK(top_ema >= 0 && top_ema <= 6);
	/* and it gets there in the end */
	CHECK_INT(dot_top(g, 1, L + 1, 16, 2 * (21 - L) - 1), 15);
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	grid_free(g);
	series_free(s);
}

/* Zoomed into the last 100 of 100000 steps (buckets 256 wide by then) the
 * plot is the one of those 100 points alone: drawn from the exact tail. */
TEST(chart_render_zoom_draws_exact_tail)
{
	struct series *big = series_line(0, 99999), *ref = series_line(99900,
	    99999);
	struct chart_line lb = { big, "h", 1 }, lr = { ref, "h", 1 };
	struct chart cb = { .lines = &lb, .nlines = 1, .last_n = 100 };
	struct chart cr = { .lines = &lr, .nlines = 1 };
	struct chart_grid *gb = grid_new(60, 14, 0), *gr = grid_new(60, 14, 0);
	int64_t origin, width;
	int r, col, diff = 0, dots = 0;

	series_layout(big, &origin, &width);
	CHECK(width >= 128);
	REQUIRE(chart_render(&cb, gb) == 0);
	REQUIRE(chart_render(&cr, gr) == 0);
	for (r = 1; r < 14; r++)
		for (col = 0; col < 60; col++) {
			if (strcmp(cell(gb, r, col)->ch, cell(gr, r, col)->ch))
				diff++;
			if (braille_bits(cell(gb, r, col)) > 0)
				dots++;
		}
	CHECK_INT(diff, 0);
	CHECK(dots > 40);
	CHECK(strstr(grid_row(gb, 0), "last 100 steps") != NULL);
	CHECK(strstr(grid_row(gb, 12), "99900") != NULL);
	CHECK(strstr(grid_row(gb, 12), "99999") != NULL);
	if (diff)
		grid_print(gb);
	/* a wider zoom than the tail holds still draws (from buckets) */
	cb.last_n = 50000;
	REQUIRE(chart_render(&cb, gb) == 0);
	CHECK(strstr(grid_row(gb, 12), "50000") != NULL);
	grid_free(gb);
	grid_free(gr);
	series_free(big);
	series_free(ref);
}

TEST(chart_render_relaunch_marker_column)
{
	struct series *s = series_line(0, 99);
	static const int64_t marks[] = { 25, 500 };	/* 500: off the range */
	struct chart_line line = { s, "h", 1 };
	struct chart c = { .lines = &line, .nlines = 1, .markers = marks,
	    .nmarkers = 2 };
	struct chart_grid *g = grid_new(22, 8, 0);
	int r, col, n = 0, other = 0;

	REQUIRE(chart_render(&c, g) == 0);
	/* step 25: dot column 9 of 38, cell column 4, grid column 7 */
	for (r = 1; r <= 4; r++)
		for (col = 3; col < 22; col++) {
			if (cell(g, r, col)->color != CHART_C_MARK)
				continue;
			CHECK_STR(cell(g, r, col)->ch, "│");
			if (col == 7)
				n++;
			else
				other++;
		}
	/* every row of that column: the marker, or the line crossing it */
	for (r = 1; r <= 4; r++)
		if (braille_bits(cell(g, r, 7)) > 0)
			n++;
	CHECK_INT(n, 4);
	CHECK_INT(other, 0);
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	grid_free(g);
	series_free(s);
}

static int
grid_all_ascii(struct chart_grid *g)
{
	int i;
	const char *p;

	for (i = 0; i < g->rows * g->cols; i++)
		for (p = g->cells[i].ch; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return 0;
	return 1;
}

TEST(chart_render_ascii_only)
{
	struct series *s[12];
	struct chart_line lines[12];
	static const int64_t marks[] = { 40 };
	struct chart c = { .lines = lines, .nlines = 3, .title = "lössé",
	    .markers = marks, .nmarkers = 1 };
	struct chart_grid *g = grid_new(50, 12, 1);
	int i, k;

	for (i = 0; i < 12; i++) {
		s[i] = series_new();
		for (k = 0; k < 100; k++)
			series_add(s[i], k, k == 60 ? NAN : k * 0.1 + i);
		lines[i].s = s[i];
		lines[i].label = "höst";
		lines[i].color = i % 8;
	}
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(grid_all_ascii(g));
	CHECK(grid_find(g, "*") > 0);
	CHECK(grid_find(g, "|") > 0);
	CHECK(strstr(grid_row(g, 1), "x") != NULL);
	c.mode = CHART_BAND;
	c.nlines = 12;
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(grid_all_ascii(g));
	CHECK(grid_find(g, ":") > 0);
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	CHECK(grid_find(g, "12 hosts, mean and min-max") == 11);
	c.logy = 1;
	c.ema = 0.3;
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(grid_all_ascii(g));
	grid_free(g);
	g = grid_new(10, 3, 1);
	CHECK_INT(chart_render(&c, g), -1);
	CHECK(grid_all_ascii(g));
	grid_free(g);
	for (i = 0; i < 12; i++)
		series_free(s[i]);
}

TEST(chart_render_band_mean_and_minmax)
{
	struct series *s[20];
	struct chart_line lines[20];
	struct chart c = { .lines = lines, .nlines = 20, .mode = CHART_BAND,
	    .title = "loss" };
	struct chart_grid *g = grid_new(60, 20, 0);
	int i, k, r, x, filled = 0, lo = -1, hi = -1;

	/* host i: 10 + i everywhere: mean 19.5, band 10..29 */
	for (i = 0; i < 20; i++) {
		s[i] = series_new();
		for (k = 0; k < 1000; k++)
			series_add(s[i], k, 10 + i + (k % 2) * 0.001);
		lines[i] = (struct chart_line){ s[i], "h", 5 };
	}
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strstr(grid_row(g, 0), "20 lines, 20000 pts") != NULL);
	CHECK(strstr(grid_row(g, 19), "20 hosts, mean and min–max") != NULL);
	/* in a middle column the band covers the whole plot height, lighter
	 * (half the dots) except on the mean's row */
	x = 30;
	for (r = 1; r <= 16; r++) {
		k = braille_bits(cell(g, r, x));
		if (k <= 0)
			continue;
		if (lo < 0)
			lo = r;
		hi = r;
		if (k != 0xff)
			filled++;
		CHECK_INT(cell(g, r, x)->color, 5);
	}
	CHECK_INT(lo, 1);
	CHECK_INT(hi, 16);
	CHECK(filled >= 14);
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	/* the mean (19.5, middle of 10..29) is a full row of dots across */
	k = 0;
	for (r = 1; r <= 16; r++)
		if ((braille_bits(cell(g, r, x)) & 0x09) == 0x09 ||
		    (braille_bits(cell(g, r, x)) & 0x12) == 0x12 ||
		    (braille_bits(cell(g, r, x)) & 0x24) == 0x24 ||
		    (braille_bits(cell(g, r, x)) & 0xc0) == 0xc0)
			k = r;
	CHECK(k >= 8 && k <= 9);
	/* a few lines: their labels */
	c.nlines = 3;
	lines[1].label = "b";
	lines[2].label = "c";
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(strstr(grid_row(g, 19), "min–max of: h b c") != NULL);
	grid_free(g);
	for (i = 0; i < 20; i++)
		series_free(s[i]);
}

TEST(chart_render_empty_and_too_small)
{
	struct series *s = series_new();
	struct chart_line line = { s, "h", 1 };
	struct chart c = { .lines = &line, .nlines = 1, .title = "loss" };
	struct chart_grid *g = grid_new(30, 8, 0), *t;

	REQUIRE(chart_render(&c, g) == 0);
	CHECK(grid_find(g, "no data yet") > 0);
	series_add(s, 5, NAN);
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(grid_find(g, "no finite data yet") > 0);
	CHECK(strstr(grid_row(g, 0), "1 nan/inf") != NULL);
	c.nlines = 0;
	REQUIRE(chart_render(&c, g) == 0);
	CHECK(grid_find(g, "no data yet") > 0);
	c.nlines = 1;
	t = grid_new(19, 6, 0);
	CHECK_INT(chart_render(&c, t), -1);
	CHECK(strstr(grid_row(t, 0), "too small") != NULL);
	grid_free(t);
	t = grid_new(20, 5, 0);
	CHECK_INT(chart_render(&c, t), -1);
	grid_free(t);
	t = grid_new(3, 1, 0);
	CHECK_INT(chart_render(&c, t), -1);
	CHECK_STR(grid_row(t, 0), "too");
	grid_free(t);
	t = grid_new(20, 6, 0);	/* the smallest that draws */
	series_add(s, 6, 1);
	series_add(s, 9, 2);
	CHECK_INT(chart_render(&c, t), 0);
	grid_free(t);
	grid_free(g);
	series_free(s);
}

TEST(chart_speed_band_1000x100k)
{
	enum { NS = 1000, NP = 100000 };
	int REPS = getenv("CHART_REPS") ? atoi(getenv("CHART_REPS")) : 20;
	struct series **s = xcalloc(NS, sizeof *s);
	struct chart_line *lines = xcalloc(NS, sizeof *lines);
	struct chart c = { .lines = lines, .nlines = NS, .mode = CHART_BAND,
	    .title = "loss" };
	struct chart_grid *g = grid_new(120, 40, 0);
	double t0, tadd, trender, v;
	int i, k;

	t0 = clock_mono_s();
	for (i = 0; i < NS; i++) {
		s[i] = series_new();
		v = 5;
		for (k = 0; k < NP; k++) {
			v = v * 0.99995 + (double)(rng() & 1023) * 1e-6;
			series_add(s[i], k, v);
		}
		lines[i] = (struct chart_line){ s[i], "h", i % 8 };
	}
	tadd = clock_mono_s() - t0;
	REQUIRE(chart_render(&c, g) == 0);	/* warm */
	t0 = clock_mono_s();
	for (k = 0; k < REPS; k++)
		chart_render(&c, g);
	trender = (clock_mono_s() - t0) / REPS;
	printf("  series_add: %.1fM points/s; chart_render 1000x100k band "
	    "120x40: %.3f ms; %zu bytes per series\n",
	    (double)NS * NP / tadd / 1e6, trender * 1e3, series_memsize());
#if !defined(__SANITIZE_ADDRESS__)
	CHECK(trender < 0.020);
	CHECK((double)NS * NP / tadd > 5e6);
#endif
	CHECK(grid_find(g, "1000 hosts, mean and min–max") == 39);
	if (getenv("CHART_DEBUG"))
		grid_print(g);
	c.mode = CHART_LINES;
	t0 = clock_mono_s();
	REQUIRE(chart_render(&c, g) == 0);
	printf("  chart_render 1000x100k lines 120x40: %.3f ms\n",
	    (clock_mono_s() - t0) * 1e3);
	grid_free(g);
	for (i = 0; i < NS; i++)
		series_free(s[i]);
	free(s);
	free(lines);
}

/* --- export --- */

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
ref_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {	/* bitwise, unlike the table one */
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* A chart with three lines, a marker and a NaN. */
struct demo {
	struct series *s[3];
	struct chart_line lines[3];
	int64_t mark;
	struct chart c;
};

static void
demo_init(struct demo *d)
{
	int i, k;

	for (i = 0; i < 3; i++) {
		d->s[i] = series_new();
		for (k = 0; k < 2000; k++)
			series_add(d->s[i], k, k == 1500 ? NAN :
			    3.0 / (1 + k * 0.01) + i * 0.2);
		d->lines[i] = (struct chart_line){ d->s[i],
		    i == 0 ? "a<&>\"'" : "host", i };
	}
	d->mark = 1000;
	d->c = (struct chart){ .lines = d->lines, .nlines = 3,
	    .markers = &d->mark, .nmarkers = 1, .title = "loss & <acc>" };
}

static void
demo_free(struct demo *d)
{
	int i;

	for (i = 0; i < 3; i++)
		series_free(d->s[i]);
}

TEST(chart_export_png_decodes)
{
	struct demo d;
	struct buf f, z;
	char path[512], *cause = NULL;
	const unsigned char *p, *q;
	size_t off, n, len, i;
	uint32_t w = 0, h = 0, s1 = 1, s2 = 0, crc;
	int iend = 0, final = 0, nblocks = 0, colored = 0;

	demo_init(&d);
	snprintf(path, sizeof path, "%s/c.png", test_tmpdir());
	REQUIRE(chart_export_png(&d.c, path, 400, 250, &cause) == 0);
	buf_init(&f);
	REQUIRE(file_read_all(path, 1 << 24, &f, &cause) == 0);
	p = (const unsigned char *)f.data;
	REQUIRE(f.len > 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0);
	buf_init(&z);
	for (off = 8; off + 12 <= f.len && !iend; off += 12 + len) {
		len = be32(p + off);
		REQUIRE(off + 12 + len <= f.len);
		crc = ref_crc32(p + off + 4, len + 4);
		CHECK_INT(crc, be32(p + off + 8 + len));
		if (memcmp(p + off + 4, "IHDR", 4) == 0) {
			REQUIRE(len == 13);
			w = be32(p + off + 8);
			h = be32(p + off + 12);
			CHECK_INT(p[off + 16], 8);
			CHECK_INT(p[off + 17], 2);
		} else if (memcmp(p + off + 4, "IDAT", 4) == 0)
			buf_add(&z, p + off + 8, len);
		else if (memcmp(p + off + 4, "IEND", 4) == 0)
			iend = 1;
	}
	CHECK(iend);
	CHECK_INT(off, f.len);
	CHECK_INT(w, 400);
	CHECK_INT(h, 250);
	/* zlib: header, stored blocks, Adler-32 of what they hold */
	q = (const unsigned char *)z.data;
	REQUIRE(z.len > 6);
	CHECK_INT(q[0] & 0x0f, 8);
	CHECK_INT((q[0] * 256 + q[1]) % 31, 0);
	struct buf raw;
	buf_init(&raw);
	for (off = 2; !final && off + 5 <= z.len; off += 5 + n) {
		final = q[off] & 1;
		CHECK_INT((q[off] >> 1) & 3, 0);
		n = q[off + 1] | q[off + 2] << 8;
		CHECK_INT(n ^ 0xffff, q[off + 3] | q[off + 4] << 8);
		REQUIRE(off + 5 + n <= z.len);
		buf_add(&raw, q + off + 5, n);
		nblocks++;
	}
	CHECK(final);
	REQUIRE(off + 4 == z.len);
	for (i = 0; i < raw.len; i++) {
		s1 = (s1 + (unsigned char)raw.data[i]) % 65521;
		s2 = (s2 + s1) % 65521;
	}
	CHECK_INT((s2 << 16) | s1, be32(q + off));
	CHECK_INT(raw.len, (size_t)h * (1 + 3 * w));
	CHECK(nblocks >= (int)(raw.len / 65535));
	/* filter bytes 0, white corner, and pixels of line 0's color */
	for (i = 0; i < h; i++)
		if (raw.data[i * (1 + 3 * w)] != 0)
			break;
	CHECK_INT(i, h);
	p = (const unsigned char *)raw.data;
	CHECK(p[1] == 0xff && p[2] == 0xff && p[3] == 0xff);
	for (i = 0; i < h; i++)
		for (n = 0; n < w; n++) {
			q = p + i * (1 + 3 * w) + 1 + n * 3;
			if (q[0] == 0x1f && q[1] == 0x77 && q[2] == 0xb4)
				colored++;
		}
	CHECK(colored > 200);
	buf_free(&raw);
	buf_free(&z);
	buf_free(&f);

	/* errors name the path and why */
	CHECK_INT(chart_export_png(&d.c, "/nonexistent/dir/c.png", 400, 250,
	    &cause), -1);
	CHECK(cause != NULL && strstr(cause, "/nonexistent/dir/c.png") &&
	    strstr(cause, "No such file"));
	free(cause);
	cause = NULL;
	CHECK_INT(chart_export_png(&d.c, path, 10, 10, &cause), -1);
	CHECK(cause != NULL && strstr(cause, path) != NULL);
	free(cause);
	demo_free(&d);
}

/* Balanced tags; counts elements named name. */
static int
xml_check(const char *s, const char *name, int *count)
{
	char stack[64][32];
	int depth = 0, n;
	const char *e;

	*count = 0;
	while ((s = strchr(s, '<')) != NULL) {
		e = strchr(s, '>');
		if (e == NULL)
			return -1;
		if (s[1] == '?') {
			s = e + 1;
			continue;
		}
		if (s[1] == '/') {
			n = (int)strcspn(s + 2, " >");
			if (depth == 0 || (int)strlen(stack[depth - 1]) != n ||
			    strncmp(stack[depth - 1], s + 2, (size_t)n) != 0)
				return -1;
			depth--;
		} else {
			n = (int)strcspn(s + 1, " />");
			if (n <= 0 || n >= 32 || depth == 64)
				return -1;
			if ((int)strlen(name) == n &&
			    strncmp(s + 1, name, (size_t)n) == 0)
				(*count)++;
			if (e[-1] != '/') {
				memcpy(stack[depth], s + 1, (size_t)n);
				stack[depth++][n] = '\0';
			}
		}
		/* no raw '<' or '&' inside */
		if (memchr(s + 1, '<', (size_t)(e - s - 1)) != NULL)
			return -1;
		s = e + 1;
	}
	return depth == 0 ? 0 : -1;
}

static int
count_str(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

TEST(chart_export_svg_wellformed)
{
	struct demo d;
	struct buf f;
	char path[512], *cause = NULL;
	const char *amp;
	int n;

	demo_init(&d);
	snprintf(path, sizeof path, "%s/c.svg", test_tmpdir());
	REQUIRE(chart_export_svg(&d.c, path, 800, 400, &cause) == 0);
	buf_init(&f);
	REQUIRE(file_read_all(path, 1 << 24, &f, &cause) == 0);
	CHECK_INT(xml_check(buf_cstr(&f), "polyline", &n), 0);
	CHECK_INT(n, 3);
	CHECK_INT(count_str(buf_cstr(&f), "<polygon"), 0);
	CHECK_INT(count_str(buf_cstr(&f), "class=\"marker\""), 1);
	CHECK(count_str(buf_cstr(&f), "class=\"bad\"") >= 1);
	CHECK(strstr(buf_cstr(&f), "3 nan/inf") != NULL);
	CHECK(strstr(buf_cstr(&f), "loss &amp; &lt;acc&gt;") != NULL);
	CHECK(strstr(buf_cstr(&f), "a&lt;&amp;&gt;&quot;&apos;") != NULL);
	/* every '&' starts an entity */
	for (amp = buf_cstr(&f); (amp = strchr(amp, '&')) != NULL; amp++)
		CHECK(strncmp(amp, "&amp;", 5) == 0 || strncmp(amp, "&lt;", 4)
		    == 0 || strncmp(amp, "&gt;", 4) == 0 ||
		    strncmp(amp, "&quot;", 6) == 0 ||
		    strncmp(amp, "&apos;", 6) == 0);
	buf_reset(&f);
	d.c.mode = CHART_BAND;
	REQUIRE(chart_export_svg(&d.c, path, 800, 400, &cause) == 0);
	REQUIRE(file_read_all(path, 1 << 24, &f, &cause) == 0);
	CHECK_INT(xml_check(buf_cstr(&f), "polyline", &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(count_str(buf_cstr(&f), "<polygon"), 1);
	CHECK_INT(chart_export_svg(&d.c, "/nonexistent/c.svg", 800, 400,
	    &cause), -1);
	CHECK(cause != NULL && strstr(cause, "/nonexistent/c.svg") != NULL);
	free(cause);
	buf_free(&f);
	demo_free(&d);
}
