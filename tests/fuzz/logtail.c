/*
 * logtail.c - fuzzes the console's log line splitter and classifier
 * (logtail_feed on a detached logtail) with arbitrary bytes in arbitrary
 * reads: the first input byte picks the chunking, the second the ring's
 * size. Properties (logtail.h): each line held and the partial one is
 * valid UTF-8 without control characters but '\t', NUL-terminated at len,
 * at most LOGTAIL_MAX_LINE bytes plus a cut mark; line numbers grow by
 * one; the ring holds at most its size; search finds only lines that hold
 * the needle.
 */
#include "fuzz.h"

#include <strings.h>

#include "../../tui/logtail.h"

FUZZ_QUIET_INIT()

/* 1 when s[0..len) is valid UTF-8 with no control byte but '\t'. */
static int
fz_clean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned cp;

	while (i < len) {
		if (p[i] < 0x80) {
			if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 2;
			cp = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 3;
			cp = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 4;
			cp = p[i] & 0x07;
		} else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

static void
fz_check_line(const struct logline *l)
{
	FUZZ_ASSERT(l->text != NULL);
	FUZZ_ASSERT(strlen(l->text) == l->len);
	/* a cut line ends with " [... line of N bytes cut]" */
	FUZZ_ASSERT(l->len <= LOGTAIL_MAX_LINE + 48);
	FUZZ_ASSERT(fz_clean(l->text, l->len));
	FUZZ_ASSERT(l->kind >= LOGLINE_PLAIN && l->kind <= LOGLINE_TRACEBACK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* Not 0 (the default 20000): its 1 MB ring per input would cost
	 * most of the time; the ring's logic is the same at any size. */
	static const size_t sizes[] = { 1, 3, 64, 1000 };
	struct fuzz_in in = { data, len };
	struct fuzz_chunker ch;
	const struct logline *l, *part;
	struct logtail *lt;
	size_t i, n, max;
	uint64_t prev = 0;
	long at;

	fuzz_chunker_init(&ch, fuzz_byte(&in));
	max = sizes[fuzz_byte(&in) % nitems(sizes)];
	lt = logtail_new_detached(max);
	while (in.n > 0) {
		n = fuzz_chunk_next(&ch, in.n);
		logtail_feed(lt, (const char *)in.p, n);
		in.p += n;
		in.n -= n;
	}
	n = logtail_count(lt);
	FUZZ_ASSERT(n <= max);
	FUZZ_ASSERT(n <= LOGTAIL_MAX_LINES);
	for (i = 0; i < n; i++) {
		l = logtail_line(lt, i);
		fz_check_line(l);
		FUZZ_ASSERT(i == 0 || l->no == prev + 1);
		prev = l->no;
	}
	if (n > 0)
		FUZZ_ASSERT(logtail_line(lt, 0)->no == logtail_dropped(lt) + 1);
	if ((part = logtail_partial(lt)) != NULL) {
		fz_check_line(part);
		FUZZ_ASSERT(part->no == (n > 0 ? prev : logtail_dropped(lt)) +
		    1);
	}
	/* A needle from the first line held. */
	if (n > 0 && (l = logtail_line(lt, 0))->len >= 2 &&
	    (unsigned char)l->text[0] < 0x80 &&
	    (unsigned char)l->text[1] < 0x80) {
		char needle[3] = { l->text[0], l->text[1], '\0' };

		at = logtail_search(lt, needle, -1, 1);
		FUZZ_ASSERT(at >= 0 && (size_t)at < n);
		FUZZ_ASSERT(strcasestr(logtail_line(lt, (size_t)at)->text,
		    needle) != NULL);
		at = logtail_search(lt, needle, (long)n, -1);
		FUZZ_ASSERT(at >= 0 && (size_t)at < n);
	}
	logtail_free(lt);
	return 0;
}
