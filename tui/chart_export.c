/*
 * chart_export.c - a chart written to an SVG or PNG file, from the same
 * reduction to display columns as the console (chart_plot_compute), one
 * column per pixel of plot width.
 *
 * The PNG encoder is our own and minimal: 8-bit RGB, filter 0 on every row,
 * one IDAT holding a zlib stream of stored (uncompressed) deflate blocks,
 * CRC-32 and Adler-32 computed here. Lines are drawn with Bresenham; tick
 * labels use a built-in 5x7 font of digits and a few signs; other text
 * (title, legend) is in the SVG only. Both files are replaced atomically.
 */
#include "chart.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"

/* The export palette for color indexes 0..7 (the console maps its own). */
static const unsigned char chart_rgb[8][3] = {
	{ 0x1f, 0x77, 0xb4 }, { 0xd6, 0x27, 0x28 }, { 0x2c, 0xa0, 0x2c },
	{ 0xff, 0x7f, 0x0e }, { 0x94, 0x67, 0xbd }, { 0x17, 0xbe, 0xcf },
	{ 0x8c, 0x56, 0x4b }, { 0x7f, 0x7f, 0x7f },
};

struct chart_frame {
	int w, h;		/* image */
	int px0, py0, pw, ph;	/* plot area */
	double ticks[8];
	int nticks, prec;
};

static int
chart_frame(const struct chart *c, int w, int h, struct chart_frame *f,
    struct chart_plot *p, char **cause, const char *path)
{
	if (w < 160 || h < 100 || w > 8192 || h > 8192) {
		xasprintf(cause, "%s: %dx%d pixels is outside 160x100 to "
		    "8192x8192; not written", path, w, h);
		return -1;
	}
	f->w = w;
	f->h = h;
	f->px0 = 64;
	f->py0 = 28;
	f->pw = w - f->px0 - 16;
	f->ph = h - f->py0 - 48;
	chart_plot_compute(c, f->pw, p);
	f->nticks = p->empty ? 0 : chart_ticks(p->ymin, p->ymax, c->logy,
	    f->ticks);
	f->prec = chart_tick_prec(f->ticks, f->nticks, c->logy);
	return 0;
}

static double
chart_fy(const struct chart_frame *f, const struct chart_plot *p, double v)
{
	return f->py0 + f->ph - 1 - (v - p->ymin) / (p->ymax - p->ymin) *
	    (f->ph - 1);
}

static double
chart_fx(const struct chart_frame *f, const struct chart_plot *p,
    int64_t step)
{
	return f->px0 + chart_col_of(p->x0, p->x1, p->ncols, (double)step) +
	    0.5;
}

static const unsigned char *
chart_color(int color)
{
	return chart_rgb[(color < 0 ? 0 : color) & 7];
}

/* --- SVG --- */

static void
chart_svg_text(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': buf_addstr(b, "&amp;"); break;
		case '<': buf_addstr(b, "&lt;"); break;
		case '>': buf_addstr(b, "&gt;"); break;
		case '"': buf_addstr(b, "&quot;"); break;
		case '\'': buf_addstr(b, "&apos;"); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				buf_addch(b, *s);
		}
	}
}

static void
chart_svg_poly(struct buf *b, const struct chart_frame *f,
    const struct chart_plot *p, const double *v, const unsigned char *rgb)
{
	int x, n = 0;

	for (x = 0; x < p->ncols; x++)
		if (!isnan(v[x]))
			n++;
	if (n == 0)
		return;
	buf_printf(b, "<polyline fill=\"none\" stroke=\"#%02x%02x%02x\" "
	    "stroke-width=\"1.5\" points=\"", rgb[0], rgb[1], rgb[2]);
	for (x = 0; x < p->ncols; x++)
		if (!isnan(v[x]))
			buf_printf(b, "%.1f,%.1f ", f->px0 + x + 0.5,
			    chart_fy(f, p, v[x]));
	buf_addstr(b, "\"/>\n");
}

int
chart_export_svg(const struct chart *c, const char *path, int w, int h,
    char **cause)
{
	struct chart_frame f;
	struct chart_plot p;
	struct buf b;
	const unsigned char *rgb;
	char s[64];
	size_t l, k;
	int x, first, ret;
	double y;

	if (chart_frame(c, w, h, &f, &p, cause, path) == -1)
		return -1;
	buf_init(&b);
	buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"monospace\" "
	    "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" "
	    "fill=\"white\"/>\n", w, h, w, h);
	/* title */
	buf_addstr(&b, "<text x=\"4\" y=\"16\" font-size=\"13\">");
	chart_svg_text(&b, c->title ? c->title : "");
	buf_printf(&b, "  %" PRIu64 " pts", p.npoints);
	if (p.nnonfinite > 0)
		buf_printf(&b, "  <tspan fill=\"#d00\">%" PRIu64 " nan/inf"
		    "</tspan>", p.nnonfinite);
	if (c->logy && p.nnonpos > 0)
		buf_printf(&b, "  <tspan fill=\"#d00\">%" PRIu64 " &lt;=0"
		    "</tspan>", p.nnonpos);
	buf_addstr(&b, "</text>\n");
	/* axes */
	buf_printf(&b, "<path fill=\"none\" stroke=\"#444\" d=\"M%d,%d V%d "
	    "H%d\"/>\n", f.px0 - 1, f.py0, f.py0 + f.ph, f.px0 + f.pw);
	for (k = 0; k < (size_t)f.nticks; k++) {
		y = chart_fy(&f, &p, f.ticks[k]);
		chart_tick_label(f.ticks[k], c->logy, f.prec, s, sizeof s);
		buf_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" "
		    "y2=\"%.1f\" stroke=\"#444\"/>\n<text x=\"%d\" y=\"%.1f\" "
		    "text-anchor=\"end\">%s</text>\n", f.px0 - 5, y, f.px0 - 1,
		    y, f.px0 - 7, y + 4, s);
	}
	if (!p.empty) {
		for (k = 0; k < 3; k++) {
			int64_t st = k == 0 ? p.x0 : k == 1 ?
			    p.x0 + (p.x1 - p.x0) / 2 : p.x1;
			chart_step_label(st, s, sizeof s);
			buf_printf(&b, "<text x=\"%.1f\" y=\"%d\" "
			    "text-anchor=\"%s\">%s</text>\n",
			    chart_fx(&f, &p, st), f.py0 + f.ph + 14,
			    k == 0 ? "start" : k == 1 ? "middle" : "end", s);
		}
	}
	/* markers */
	for (k = 0; !p.empty && k < c->nmarkers; k++) {
		if (c->markers[k] < p.x0 || c->markers[k] > p.x1)
			continue;
		buf_printf(&b, "<line class=\"marker\" x1=\"%.1f\" y1=\"%d\" "
		    "x2=\"%.1f\" y2=\"%d\" stroke=\"#999\" "
		    "stroke-dasharray=\"4,3\"/>\n",
		    chart_fx(&f, &p, c->markers[k]), f.py0,
		    chart_fx(&f, &p, c->markers[k]), f.py0 + f.ph);
	}
	if (p.empty)
		buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
		    "no data yet</text>\n", f.px0 + f.pw / 2, f.py0 + f.ph / 2);
	else if (c->mode == CHART_BAND) {
		rgb = chart_color(c->nlines ? c->lines[0].color : 0);
		buf_printf(&b, "<polygon fill=\"#%02x%02x%02x\" "
		    "fill-opacity=\"0.25\" stroke=\"none\" points=\"",
		    rgb[0], rgb[1], rgb[2]);
		for (x = 0; x < p.ncols; x++)
			if (!isnan(p.hi[x]))
				buf_printf(&b, "%.1f,%.1f ", f.px0 + x + 0.5,
				    chart_fy(&f, &p, p.hi[x]));
		for (x = p.ncols - 1; x >= 0; x--)
			if (!isnan(p.lo[x]))
				buf_printf(&b, "%.1f,%.1f ", f.px0 + x + 0.5,
				    chart_fy(&f, &p, p.lo[x]));
		buf_addstr(&b, "\"/>\n");
		chart_svg_poly(&b, &f, &p, p.mid, rgb);
	} else
		for (l = 0; l < c->nlines; l++)
			chart_svg_poly(&b, &f, &p, p.mid + l * p.ncols,
			    chart_color(c->lines[l].color));
	/* NaN/Inf marks */
	for (x = 0; x < p.ncols; x++)
		if (p.bad[x] > 0)
			buf_printf(&b, "<text class=\"bad\" x=\"%.1f\" y=\"%d\" "
			    "fill=\"#d00\" text-anchor=\"middle\">x</text>\n",
			    f.px0 + x + 0.5, f.py0 + 8);
	/* legend */
	buf_printf(&b, "<text x=\"4\" y=\"%d\">", h - 8);
	if (c->mode == CHART_BAND) {
		if (c->nlines > 8)
			buf_printf(&b, "%zu hosts, mean and min–max",
			    c->nlines);
		else {
			buf_addstr(&b, "mean and min–max of:");
			for (l = 0; l < c->nlines; l++) {
				buf_addch(&b, ' ');
				chart_svg_text(&b, c->lines[l].label ?
				    c->lines[l].label : "?");
			}
		}
	} else {
		first = 1;
		for (l = 0; l < c->nlines && l < 32; l++) {
			rgb = chart_color(c->lines[l].color);
			buf_printf(&b, "%s<tspan fill=\"#%02x%02x%02x\">━"
			    "</tspan> ", first ? "" : "  ", rgb[0], rgb[1],
			    rgb[2]);
			chart_svg_text(&b, c->lines[l].label ?
			    c->lines[l].label : "?");
			first = 0;
		}
		if (c->nlines > 32)
			buf_printf(&b, "  +%zu more", c->nlines - 32);
	}
	buf_addstr(&b, "</text>\n</svg>\n");
	chart_plot_release(&p);
	ret = file_write_atomic(path, b.data, b.len, 0644, cause);
	buf_free(&b);
	return ret;
}

/* --- PNG --- */

struct chart_img {
	int w, h;
	unsigned char *px;	/* w * h * 3 */
};

static void
chart_pset(struct chart_img *im, int x, int y, const unsigned char *rgb,
    int alpha)	/* alpha 0..256 */
{
	unsigned char *q;
	int i;

	if (x < 0 || y < 0 || x >= im->w || y >= im->h)
		return;
	q = im->px + ((size_t)y * im->w + x) * 3;
	for (i = 0; i < 3; i++)
		q[i] = (unsigned char)((rgb[i] * alpha + q[i] * (256 - alpha)) >>
		    8);
}

static void
chart_pline(struct chart_img *im, int x0, int y0, int x1, int y1,
    const unsigned char *rgb)
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1,
	    sy = y0 < y1 ? 1 : -1, err = dx + dy, e2;

	for (;;) {
		chart_pset(im, x0, y0, rgb, 256);
		if (x0 == x1 && y0 == y1)
			break;
		e2 = 2 * err;
		if (e2 >= dy) {
			err += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			err += dx;
			y0 += sy;
		}
	}
}

/* 5x7 glyphs, one byte per row, bit 4 the leftmost column. */
static const char chart_font_chars[] = "0123456789.-+e";
static const unsigned char chart_font[][7] = {
	{ 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e },	/* 0 */
	{ 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e },	/* 1 */
	{ 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f },	/* 2 */
	{ 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e },	/* 3 */
	{ 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 },	/* 4 */
	{ 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e },	/* 5 */
	{ 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e },	/* 6 */
	{ 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 },	/* 7 */
	{ 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e },	/* 8 */
	{ 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c },	/* 9 */
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c },	/* . */
	{ 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00 },	/* - */
	{ 0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00 },	/* + */
	{ 0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e },	/* e */
};

/* Text with its right end at x (right) or its left end at x; y is the top. */
static void
chart_ptext(struct chart_img *im, int x, int y, const char *s, int right,
    const unsigned char *rgb)
{
	const char *f;
	int i, r, col;

	if (right)
		x -= (int)strlen(s) * 6;
	for (i = 0; s[i] != '\0'; i++) {
		f = strchr(chart_font_chars, s[i]);
		if (f == NULL)
			continue;	/* other characters are blanks */
		for (r = 0; r < 7; r++)
			for (col = 0; col < 5; col++)
				if (chart_font[f - chart_font_chars][r] &
				    (0x10 >> col))
					chart_pset(im, x + i * 6 + col, y + r,
					    rgb, 256);
	}
}

static uint32_t chart_crc_table[256];

static uint32_t
chart_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
	uint32_t c;
	int k;
	size_t i;

	if (chart_crc_table[1] == 0) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			chart_crc_table[i] = c;
		}
	}
	crc = ~crc;
	for (i = 0; i < n; i++)
		crc = chart_crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
chart_adler32(uint32_t a, const unsigned char *p, size_t n)
{
	uint32_t s1 = a & 0xffff, s2 = a >> 16;
	size_t i, chunk;

	while (n > 0) {
		chunk = n < 5552 ? n : 5552;	/* no overflow before % */
		for (i = 0; i < chunk; i++) {
			s1 += p[i];
			s2 += s1;
		}
		s1 %= 65521;
		s2 %= 65521;
		p += chunk;
		n -= chunk;
	}
	return (s2 << 16) | s1;
}

static void
chart_be32(struct buf *b, uint32_t v)
{
	unsigned char q[4] = { v >> 24, v >> 16, v >> 8, v };

	buf_add(b, q, 4);
}

static void
chart_png_chunk(struct buf *b, const char *type, const unsigned char *data,
    size_t n)
{
	size_t start;

	chart_be32(b, (uint32_t)n);
	start = b->len;
	buf_add(b, type, 4);
	if (n > 0)
		buf_add(b, data, n);
	chart_be32(b, chart_crc32(0, (unsigned char *)b->data + start, n + 4));
}

/* The PNG of an image, into b. */
static void
chart_png_encode(const struct chart_img *im, struct buf *b)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
	    0x1a, '\n' };
	unsigned char ihdr[13], hdr[5];
	struct buf raw, z;
	size_t row = (size_t)im->w * 3 + 1, off, n;
	int y;

	buf_init(&raw);
	buf_reserve(&raw, row * im->h);
	for (y = 0; y < im->h; y++) {
		buf_addch(&raw, 0);	/* filter: none */
		buf_add(&raw, im->px + (size_t)y * im->w * 3,
		    (size_t)im->w * 3);
	}
	buf_init(&z);
	buf_addch(&z, 0x78);		/* deflate, 32K window */
	buf_addch(&z, 0x01);		/* no dictionary; 0x7801 % 31 == 0 */
	for (off = 0; off < raw.len; off += n) {
		n = raw.len - off < 65535 ? raw.len - off : 65535;
		hdr[0] = off + n == raw.len ? 1 : 0;	/* BFINAL, stored */
		hdr[1] = n & 0xff;
		hdr[2] = n >> 8;
		hdr[3] = ~n & 0xff;
		hdr[4] = (~n >> 8) & 0xff;
		buf_add(&z, hdr, 5);
		buf_add(&z, raw.data + off, n);
	}
	chart_be32(&z, chart_adler32(1, (unsigned char *)raw.data, raw.len));

	buf_add(b, sig, sizeof sig);
	ihdr[0] = im->w >> 24; ihdr[1] = im->w >> 16;
	ihdr[2] = im->w >> 8; ihdr[3] = im->w;
	ihdr[4] = im->h >> 24; ihdr[5] = im->h >> 16;
	ihdr[6] = im->h >> 8; ihdr[7] = im->h;
	ihdr[8] = 8;			/* bit depth */
	ihdr[9] = 2;			/* RGB */
	ihdr[10] = ihdr[11] = ihdr[12] = 0;
	chart_png_chunk(b, "IHDR", ihdr, sizeof ihdr);
	chart_png_chunk(b, "IDAT", (unsigned char *)z.data, z.len);
	chart_png_chunk(b, "IEND", NULL, 0);
	buf_free(&raw);
	buf_free(&z);
}

static void
chart_png_series(struct chart_img *im, const struct chart_frame *f,
    const struct chart_plot *p, const double *v, const unsigned char *rgb)
{
	int x, px = -1, py = 0, y;

	for (x = 0; x < p->ncols; x++) {
		if (isnan(v[x])) {
			px = -1;
			continue;
		}
		y = (int)lround(chart_fy(f, p, v[x]));
		if (px >= 0)
			chart_pline(im, f->px0 + px, py, f->px0 + x, y, rgb);
		else
			chart_pset(im, f->px0 + x, y, rgb, 256);
		px = x;
		py = y;
	}
}

int
chart_export_png(const struct chart *c, const char *path, int w, int h,
    char **cause)
{
	static const unsigned char axis[3] = { 0x44, 0x44, 0x44 },
	    grey[3] = { 0x99, 0x99, 0x99 }, red[3] = { 0xdd, 0x00, 0x00 };
	struct chart_frame f;
	struct chart_plot p;
	struct chart_img im;
	struct buf b;
	const unsigned char *rgb;
	char s[32];
	size_t k, l;
	int x, y, y0, y1, ret, t;

	if (chart_frame(c, w, h, &f, &p, cause, path) == -1)
		return -1;
	im.w = w;
	im.h = h;
	im.px = xmalloc((size_t)w * h * 3);
	memset(im.px, 0xff, (size_t)w * h * 3);
	chart_pline(&im, f.px0 - 1, f.py0, f.px0 - 1, f.py0 + f.ph, axis);
	chart_pline(&im, f.px0 - 1, f.py0 + f.ph, f.px0 + f.pw, f.py0 + f.ph,
	    axis);
	for (k = 0; k < (size_t)f.nticks; k++) {
		y = (int)lround(chart_fy(&f, &p, f.ticks[k]));
		chart_pline(&im, f.px0 - 5, y, f.px0 - 1, y, axis);
		chart_tick_label(f.ticks[k], c->logy, f.prec, s, sizeof s);
		chart_ptext(&im, f.px0 - 7, y - 3, s, 1, axis);
	}
	if (!p.empty) {
		chart_step_label(p.x0, s, sizeof s);
		chart_ptext(&im, f.px0, f.py0 + f.ph + 6, s, 0, axis);
		chart_step_label(p.x1, s, sizeof s);
		chart_ptext(&im, f.px0 + f.pw, f.py0 + f.ph + 6, s, 1, axis);
		if (p.x1 - p.x0 >= 2) {
			chart_step_label(p.x0 + (p.x1 - p.x0) / 2, s, sizeof s);
			chart_ptext(&im, (int)chart_fx(&f, &p, p.x0 +
			    (p.x1 - p.x0) / 2) + (int)strlen(s) * 3,
			    f.py0 + f.ph + 6, s, 1, axis);
		}
	}
	for (k = 0; !p.empty && k < c->nmarkers; k++) {
		if (c->markers[k] < p.x0 || c->markers[k] > p.x1)
			continue;
		x = (int)chart_fx(&f, &p, c->markers[k]);
		for (y = f.py0; y < f.py0 + f.ph; y++)
			if ((y / 4) % 2 == 0)
				chart_pset(&im, x, y, grey, 256);
	}
	if (!p.empty && c->mode == CHART_BAND) {
		rgb = chart_color(c->nlines ? c->lines[0].color : 0);
		for (x = 0; x < p.ncols; x++) {
			if (isnan(p.lo[x]))
				continue;
			y0 = (int)lround(chart_fy(&f, &p, p.hi[x]));
			y1 = (int)lround(chart_fy(&f, &p, p.lo[x]));
			for (y = y0; y <= y1; y++)
				chart_pset(&im, f.px0 + x, y, rgb, 64);
		}
		chart_png_series(&im, &f, &p, p.mid, rgb);
	} else if (!p.empty)
		for (l = 0; l < c->nlines; l++)
			chart_png_series(&im, &f, &p, p.mid + l * p.ncols,
			    chart_color(c->lines[l].color));
	for (x = 0; x < p.ncols; x++) {
		if (p.bad[x] == 0)
			continue;
		for (t = -2; t <= 2; t++) {
			chart_pset(&im, f.px0 + x + t, f.py0 + 2 + t, red, 256);
			chart_pset(&im, f.px0 + x + t, f.py0 + 2 - t, red, 256);
		}
	}
	chart_plot_release(&p);
	buf_init(&b);
	chart_png_encode(&im, &b);
	free(im.px);
	ret = file_write_atomic(path, b.data, b.len, 0644, cause);
	buf_free(&b);
	return ret;
}
