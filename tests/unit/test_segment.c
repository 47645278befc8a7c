/*
 * test_segment.c - the segmenter: '\r' and '\n' both end a segment, "\r\n"
 * is one boundary even split across reads, empty segments are dropped,
 * long ones are cut, and offsets point at each segment's first byte.
 * Names start with parse_ so `unit parse` runs them with the parsers.
 */
#include "test.h"

#include <stdlib.h>

#include "../../agent/agent.h"

struct seg_rec {
	struct buf all;		/* "text|term|off\n" per segment */
	int n;
};

static void
seg_collect(const char *seg, size_t len, char term, uint64_t off, void *arg)
{
	struct seg_rec *r = arg;

	buf_add(&r->all, seg, len);
	buf_printf(&r->all, "|%d|%llu\n", term, (unsigned long long)off);
	r->n++;
}

static void
seg_run(struct segmenter *s, struct seg_rec *r, const char *data, size_t len,
    size_t chunk)
{
	size_t i, n;

	for (i = 0; i < len; i += n) {
		n = len - i < chunk ? len - i : chunk;
		segmenter_feed(s, data + i, n, seg_collect, r);
	}
	segmenter_flush(s, seg_collect, r);
}

TEST(parse_segment_cr_lf_crlf_are_boundaries)
{
	static const char in[] = "a\rbb\ncc\r\nd\n\n\r\rtail";
	struct segmenter *s = segmenter_new(100, 0);
	struct seg_rec r = { 0 };

	buf_init(&r.all);
	seg_run(s, &r, in, sizeof in - 1, sizeof in);
	/* no empty segment for "\r\n", "\n\n" or "\r\r" */
	CHECK_INT(r.n, 5);
	CHECK_STR(buf_cstr(&r.all),
	    "a|13|0\nbb|10|2\ncc|13|5\nd|10|9\ntail|0|14\n");
	CHECK_INT(segmenter_offset(s), sizeof in - 1);
	buf_free(&r.all);
	segmenter_free(s);
}

TEST(parse_segment_crlf_split_across_reads)
{
	struct segmenter *s = segmenter_new(100, 0);
	struct seg_rec r = { 0 };

	buf_init(&r.all);
	segmenter_feed(s, "x\r", 2, seg_collect, &r);
	segmenter_feed(s, "\ny\n", 3, seg_collect, &r);
	CHECK_INT(r.n, 2);
	CHECK_STR(buf_cstr(&r.all), "x|13|0\ny|10|3\n");
	buf_free(&r.all);
	segmenter_free(s);
}

TEST(parse_segment_long_segments_are_cut)
{
	static const char in[] = "abcdefghij\nklmn\nop";
	struct segmenter *s = segmenter_new(4, 0);
	struct seg_rec r = { 0 };

	buf_init(&r.all);
	seg_run(s, &r, in, sizeof in - 1, sizeof in);
	/* pieces of max bytes carry SEG_CUT, the last piece the segment's
	 * own terminator; exactly max is whole and keeps its term */
	CHECK_STR(buf_cstr(&r.all),
	    "abcd|1|0\nefgh|1|4\nij|10|8\nklmn|10|11\nop|0|16\n");
	CHECK_INT(SEG_CUT, 1);
	/* cut at the end of the stream: the last piece is term 0 */
	buf_reset(&r.all);
	segmenter_free(s);
	s = segmenter_new(4, 0);
	seg_run(s, &r, "abcdefgh", 8, 3);
	CHECK_STR(buf_cstr(&r.all), "abcd|1|0\nefgh|0|4\n");
	buf_free(&r.all);
	segmenter_free(s);
}

TEST(parse_segment_start_offset)
{
	struct segmenter *s = segmenter_new(100, 1000);
	struct seg_rec r = { 0 };

	buf_init(&r.all);
	segmenter_feed(s, "\r\nab\rcd", 7, seg_collect, &r);
	CHECK_INT(segmenter_offset(s), 1007);
	segmenter_flush(s, seg_collect, &r);
	CHECK_STR(buf_cstr(&r.all), "ab|13|1002\ncd|0|1005\n");
	buf_free(&r.all);
	segmenter_free(s);
}

/* Every way of splitting a stream into reads gives the same segments. */
TEST(parse_segment_chunking_does_not_matter)
{
	struct seg_rec whole = { 0 }, part = { 0 };
	struct segmenter *s;
	char data[4000];
	size_t i, chunk;
	unsigned seed = 7;

	for (i = 0; i < sizeof data; i++) {
		seed = seed * 1103515245 + 12345;
		switch ((seed >> 16) % 11) {
		case 0:
			data[i] = '\r';
			break;
		case 1:
			data[i] = '\n';
			break;
		default:
			data[i] = 'a' + (seed >> 20) % 26;
			break;
		}
	}
	buf_init(&whole.all);
	s = segmenter_new(7, 0);
	seg_run(s, &whole, data, sizeof data, sizeof data);
	segmenter_free(s);
	CHECK(whole.n > 300);
	for (chunk = 1; chunk < 20; chunk++) {
		buf_init(&part.all);
		part.n = 0;
		s = segmenter_new(7, 0);
		seg_run(s, &part, data, sizeof data, chunk);
		segmenter_free(s);
		CHECK_INT(part.n, whole.n);
		CHECK(part.all.len == whole.all.len &&
		    memcmp(part.all.data, whole.all.data, part.all.len) == 0);
		buf_free(&part.all);
	}
	buf_free(&whole.all);
	segmenter_free(NULL);
}
