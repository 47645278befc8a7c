/*
 * segment.c - cuts a captured byte stream into segments at '\r' and '\n',
 * the way tqdm output has to be read: every redraw starts with '\r', so a
 * "line" is whatever lies between two terminators. Empty segments are
 * dropped, overlong ones cut into pieces of max bytes, each handed out
 * with term SEG_CUT but the last, which carries the segment's own
 * terminator: so a reader can tell a piece from a whole segment. "\r\n" is
 * one boundary because the empty segment between the two is dropped: the
 * text before it is handed out at the '\r' (term '\r'), without waiting
 * for the next read. This file knows nothing of what the segments say.
 */
#include "agent.h"

#include <stdlib.h>
#include <string.h>

struct segmenter {
	size_t max;		/* longest piece handed out */
	uint64_t off;		/* stream offset of the next byte fed */
	uint64_t cur_off;	/* stream offset of cur's first byte */
	struct buf cur;		/* the unterminated segment so far */
};

/*
 * The pieces of one overlong segment are cut at its first byte plus a
 * multiple of max, so a reader restarted at that first byte cuts the same
 * pieces again.
 */

struct segmenter *
segmenter_new(size_t max, uint64_t start_off)
{
	struct segmenter *s;

	s = xcalloc(1, sizeof *s);
	s->max = max == 0 ? SIZE_MAX : max;
	s->off = s->cur_off = start_off;
	buf_init(&s->cur);
	return s;
}

void
segmenter_free(struct segmenter *s)
{
	if (s == NULL)
		return;
	buf_free(&s->cur);
	free(s);
}

uint64_t
segmenter_offset(const struct segmenter *s)
{
	return s->off;
}

/*
 * Adds n bytes of segment text that start at stream offset off, handing
 * out a full piece (term SEG_CUT) each time the segment would grow past
 * max.
 */
static void
segmenter_add(struct segmenter *s, const char *p, size_t n, uint64_t off,
    segment_cb cb, void *arg)
{
	size_t room;

	while (n > 0) {
		if (s->cur.len == 0)
			s->cur_off = off;
		if (s->cur.len == s->max) {
			cb(s->cur.data, s->cur.len, SEG_CUT, s->cur_off, arg);
			buf_reset(&s->cur);
			continue;
		}
		room = s->max - s->cur.len;
		if (room > n)
			room = n;
		buf_add(&s->cur, p, room);
		p += room;
		off += room;
		n -= room;
	}
}

/* A terminator at stream offset off ends the current segment. */
static void
segmenter_end(struct segmenter *s, const char *p, size_t n, uint64_t off,
    char term, segment_cb cb, void *arg)
{
	/* The common case, a whole segment inside one read: no copy. */
	if (s->cur.len == 0 && n <= s->max) {
		if (n > 0)
			cb(p, n, term, off, arg);
		return;
	}
	segmenter_add(s, p, n, off, cb, arg);
	if (s->cur.len > 0)
		cb(s->cur.data, s->cur.len, term, s->cur_off, arg);
	buf_reset(&s->cur);
}

void
segmenter_feed(struct segmenter *s, const char *data, size_t len,
    segment_cb cb, void *arg)
{
	const char *p = data, *end = data + len, *q;
	uint64_t base = s->off;

	while (p < end) {
		for (q = p; q < end && *q != '\r' && *q != '\n'; q++)
			;
		if (q == end) {
			segmenter_add(s, p, q - p, base + (p - data), cb, arg);
			break;
		}
		segmenter_end(s, p, q - p, base + (p - data), *q, cb, arg);
		p = q + 1;
	}
	s->off = base + len;
}

void
segmenter_flush(struct segmenter *s, segment_cb cb, void *arg)
{
	if (s->cur.len > 0)
		cb(s->cur.data, s->cur.len, 0, s->cur_off, arg);
	buf_reset(&s->cur);
}
