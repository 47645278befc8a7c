/*
 * buf.c - growable byte buffers. Always keeps room for a terminating NUL so
 * buf_cstr() never reallocates behind a caller's back more than once.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

void
buf_reserve(struct buf *b, size_t more)
{
	size_t need, cap;

	if (more > SIZE_MAX - b->len - 1)
		fatalx("buf_reserve: size overflow");
	need = b->len + more + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addch(struct buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len++] = c;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("buf_printf: bad format");
	if ((size_t)n < sizeof small) {
		buf_add(b, small, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
buf_drain(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

int
buf_each_line(struct buf *b, size_t max,
    void (*fn)(const char *, size_t, void *), void *arg)
{
	char *nl;
	size_t len, off = 0;

	while (off < b->len &&
	    (nl = memchr(b->data + off, '\n', b->len - off)) != NULL) {
		len = (size_t)(nl - (b->data + off));
		if (len > 0)
			fn(b->data + off, len, arg);
		off += len + 1;
	}
	buf_drain(b, off);
	return b->len > max;
}

const char *
buf_cstr(struct buf *b)
{
	buf_reserve(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}

char *
buf_steal(struct buf *b)
{
	char *p;

	buf_cstr(b);
	p = b->data;
	buf_init(b);
	return p;
}

size_t
linesplit_feed(struct linesplit *ls, size_t max, const char *p, size_t n,
    void (*fn)(const char *, size_t, void *), void *arg)
{
	const char *nl;
	size_t len, dropped = 0;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		len = nl != NULL ? (size_t)(nl - p) : n;
		if (ls->skipping)
			ls->skipping = nl == NULL;
		else if (ls->b.len + len > max) {
			buf_reset(&ls->b);
			dropped++;
			ls->skipping = nl == NULL;
		} else if (nl == NULL)
			buf_add(&ls->b, p, len);
		else if (ls->b.len > 0) {
			buf_add(&ls->b, p, len);
			fn(ls->b.data, ls->b.len, arg);
			buf_reset(&ls->b);
		} else if (len > 0)
			fn(p, len, arg);
		if (nl == NULL)
			break;
		p = nl + 1;
		n -= len + 1;
	}
	return dropped;
}

void
linesplit_reset(struct linesplit *ls)
{
	buf_reset(&ls->b);
	ls->skipping = 0;
}

void
linesplit_free(struct linesplit *ls)
{
	buf_free(&ls->b);
	ls->skipping = 0;
}
