/*
 * test_logtail.c - the console's log model without a connection: bytes
 * split into lines (at every possible chunk boundary), '\r' redraws,
 * cleaning for the terminal, the agent's classes with whole tracebacks,
 * the bounded ring and search.
 */
#include "test.h"

#include <stdlib.h>

#include "../../tui/logtail.h"

struct want {
	const char *text;
	enum logline_kind kind;
};

#define P LOGLINE_PLAIN
#define W LOGLINE_WARN
#define E LOGLINE_ERROR
#define T LOGLINE_TRACEBACK

static const char mixed_in[] =
    "epoch 1 start\n"
    " 10%|#         | 1/10\r 50%|#####     | 5/10\r"
    "100%|##########| 10/10   \r\n"
    "\x1b[31mred\x1b[0m and \x1b]0;title\x07plain\tTAB\n"
    "bad \xff byte, cut \xe4\xb8, ok caf\xc3\xa9 \xe4\xb8\xad\n"
    "ctl \x01 del \x7f c1 \xc2\x9b end\n"
    "\n"
    "WARNING: something odd\n"
    "[rank0]: Traceback (most recent call last):\n"
    "[rank1]: Step 5/10 loss 0.1\n"
    "[rank0]:   File \"train.py\", line 3, in <module>\n"
    "[rank0]:     main()\n"
    "[rank0]:\n"
    "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried 2 GiB\n"
    "[rank0]: after the traceback\n"
    "Traceback (most recent call last):\r\n"
    "  File \"x.py\", line 1\n"
    "KeyError: 'a'\n"
    "Segmentation fault (core dumped)\n"
    "partial";

static const struct want mixed_want[] = {
	{ "epoch 1 start", P },
	{ "100%|##########| 10/10", P },
	{ "red and plain\tTAB", P },
	{ "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd\xef\xbf\xbd, ok "
	    "caf\xc3\xa9 \xe4\xb8\xad", P },
	{ "ctl ^A del ^? c1 \xef\xbf\xbd end", P },
	{ "", P },
	{ "WARNING: something odd", W },
	{ "[rank0]: Traceback (most recent call last):", T },
	{ "[rank1]: Step 5/10 loss 0.1", P },
	{ "[rank0]:   File \"train.py\", line 3, in <module>", T },
	{ "[rank0]:     main()", T },
	{ "[rank0]:", T },
	{ "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried 2 GiB",
	    T },
	{ "[rank0]: after the traceback", P },
	{ "Traceback (most recent call last):", T },
	{ "  File \"x.py\", line 1", T },
	{ "KeyError: 'a'", T },
	{ "Segmentation fault (core dumped)", E },
};

/* 1 when lt holds exactly want (numbered from first_no). */
static int
check_lines(const struct logtail *lt, const struct want *want, size_t n,
    uint64_t first_no, const char *what)
{
	const struct logline *l;
	size_t i;

	if (logtail_count(lt) != n) {
		test_fail(__FILE__, __LINE__, "%s: %zu lines, want %zu", what,
		    logtail_count(lt), n);
		return 0;
	}
	for (i = 0; i < n; i++) {
		l = logtail_line(lt, i);
		if (strcmp(l->text, want[i].text) != 0 || l->kind !=
		    want[i].kind || l->no != first_no + i || l->len !=
		    strlen(l->text)) {
			test_fail(__FILE__, __LINE__, "%s: line %zu: \"%s\" "
			    "kind %d no %llu, want \"%s\" kind %d no %llu",
			    what, i, l->text, l->kind,
			    (unsigned long long)l->no, want[i].text,
			    want[i].kind, (unsigned long long)(first_no + i));
			return 0;
		}
	}
	return 1;
}

TEST(logtail_lines_split_at_every_position)
{
	size_t len = sizeof mixed_in - 1, cut, i;
	const struct logline *part;
	struct logtail *lt;
	char what[64];

	lt = logtail_new_detached(0);
	logtail_feed(lt, mixed_in, len);
	CHECK(check_lines(lt, mixed_want, nitems(mixed_want), 1, "whole"));
	REQUIRE((part = logtail_partial(lt)) != NULL);
	CHECK_STR(part->text, "partial");
	CHECK_INT(part->no, nitems(mixed_want) + 1);
	logtail_free(lt);

	for (cut = 0; cut <= len; cut++) {
		lt = logtail_new_detached(0);
		logtail_feed(lt, mixed_in, cut);
		logtail_feed(lt, mixed_in + cut, len - cut);
		snprintf(what, sizeof what, "cut at %zu", cut);
		if (!check_lines(lt, mixed_want, nitems(mixed_want), 1, what)) {
			logtail_free(lt);
			return;
		}
		logtail_free(lt);
	}
	lt = logtail_new_detached(0);
	for (i = 0; i < len; i++)
		logtail_feed(lt, mixed_in + i, 1);
	CHECK(check_lines(lt, mixed_want, nitems(mixed_want), 1,
	    "a byte at a time"));
	CHECK_STR(logtail_partial(lt)->text, "partial");
	logtail_free(lt);
}

TEST(logtail_carriage_returns_show_the_last_redraw)
{
	struct logtail *lt = logtail_new_detached(0);
	const struct logline *part;

	logtail_feed(lt, " 10%\r 20%", 9);
	CHECK_INT(logtail_count(lt), 0);
	REQUIRE((part = logtail_partial(lt)) != NULL);
	CHECK_STR(part->text, " 20%");
	logtail_feed(lt, "\r", 1);
	CHECK_STR(logtail_partial(lt)->text, " 20%");
	logtail_feed(lt, "\r\r 30%\r\n", 8);
	CHECK_INT(logtail_count(lt), 1);
	CHECK_STR(logtail_line(lt, 0)->text, " 30%");
	CHECK(logtail_partial(lt) == NULL);
	/* text after the last '\r' wins even when shorter */
	logtail_feed(lt, "long redraw\rx\n\r\n", 16);
	CHECK_INT(logtail_count(lt), 3);
	CHECK_STR(logtail_line(lt, 1)->text, "x");
	CHECK_STR(logtail_line(lt, 2)->text, "");
	logtail_free(lt);
}

TEST(logtail_long_lines_are_cut_with_a_mark)
{
	struct logtail *lt = logtail_new_detached(0);
	const struct logline *l;
	char *big = malloc(20000);
	size_t i;

	REQUIRE(big != NULL);
	memset(big, 'x', 10000);
	logtail_feed(lt, big, 10000);
	logtail_feed(lt, "\n", 1);
	/* two-byte characters: the cut must not split one */
	big[0] = 'y';
	for (i = 1; i + 1 < 9001; i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	logtail_feed(lt, big, 9001);
	logtail_feed(lt, "\n", 1);
	REQUIRE(logtail_count(lt) == 2);
	l = logtail_line(lt, 0);
	CHECK(l->len <= LOGTAIL_MAX_LINE + 40);
	CHECK(strstr(l->text, " [... line of 10000 bytes cut]") != NULL);
	CHECK(strncmp(l->text, "xxxx", 4) == 0);
	l = logtail_line(lt, 1);
	CHECK(l->len <= LOGTAIL_MAX_LINE + 40);
	CHECK(strstr(l->text, "\xc3\xa9 [... line of 9001 bytes cut]") !=
	    NULL);
	logtail_free(lt);
	free(big);
}

TEST(logtail_classes_follow_the_agent_rules)
{
	static const struct want want[] = {
		{ "Step 3/10 loss 0.5", P },
		{ "2024-12-06 12:00:00 WARNING  slow step", W },
		{ "/x/y.py:3: UserWarning: deprecated", W },
		{ "[W1206 12:00:00.1 ProcessGroupNCCL.cpp:1] warn", W },
		{ "[E1206 12:00:00.1 ProcessGroupNCCL.cpp:1] watchdog", E },
		{ "RuntimeError: NCCL error in: x.cpp:1, unhandled", E },
		{ "[ERROR] HCCL(1234,python):2024-12-06 notify wait timeout", E },
		{ "torch.OutOfMemoryError: CUDA out of memory.", E },
		{ "/bin/sh: line 1: 4242 Killed   python train.py", E },
		{ "2024-12-06 12:00:00 ERROR    it broke", E },
		{ "INFO: Error handling is fine here", P },
		{ "[rank3]: ValueError: bad", E },
	};
	struct logtail *lt = logtail_new_detached(0);
	size_t i;

	for (i = 0; i < nitems(want); i++) {
		logtail_feed(lt, want[i].text, strlen(want[i].text));
		logtail_feed(lt, "\n", 1);
	}
	CHECK(check_lines(lt, want, nitems(want), 1, "classes"));
	logtail_free(lt);
}

TEST(logtail_tracebacks_are_whole_blocks)
{
	static const struct want want[] = {
		{ "Traceback (most recent call last):", T },
		{ "  File \"a.py\", line 1, in <module>", T },
		{ "", T },
		{ "    f()", T },
		{ "ValueError: x", T },
		{ "During handling of the above exception, another "
		    "exception occurred:", P },
		{ "Traceback (most recent call last):", T },
		{ "  File \"b.py\", line 2", T },
		/* a new traceback ends the one open */
		{ "Traceback (most recent call last):", T },
		{ "  File \"c.py\", line 3", T },
		{ "KeyboardInterrupt", T },
		{ "done", P },
		{ "[default0]:Traceback (most recent call last):", T },
		/* an unprefixed line ends a prefixed traceback */
		{ "ERROR: launcher gave up", E },
		{ "[default0]:  File \"d.py\"", P },
	};
	struct logtail *lt = logtail_new_detached(0);
	size_t i;

	for (i = 0; i < nitems(want); i++) {
		logtail_feed(lt, want[i].text, strlen(want[i].text));
		logtail_feed(lt, "\n", 1);
	}
	CHECK(check_lines(lt, want, nitems(want), 1, "tracebacks"));
	/* a partial line inside a traceback peeks without moving it */
	logtail_feed(lt, "Traceback (most recent call last):\n  Fi", 39);
	REQUIRE(logtail_partial(lt) != NULL);
	CHECK_INT(logtail_partial(lt)->kind, T);
	logtail_feed(lt, "le \"e.py\"\nOSError: y\nafter\n", 27);
	CHECK_INT(logtail_line(lt, logtail_count(lt) - 2)->kind, T);
	CHECK_INT(logtail_line(lt, logtail_count(lt) - 1)->kind, P);
	logtail_free(lt);
}

TEST(logtail_ring_keeps_the_newest_and_counts_on)
{
	struct logtail *lt = logtail_new_detached(5);
	const struct logline *l;
	char line[64];
	size_t i, bytes;
	char *big;
	int n;

	for (i = 1; i <= 12; i++) {
		n = snprintf(line, sizeof line, "line %zu\n", i);
		logtail_feed(lt, line, (size_t)n);
	}
	CHECK_INT(logtail_count(lt), 5);
	CHECK_INT(logtail_dropped(lt), 7);
	CHECK_STR(logtail_line(lt, 0)->text, "line 8");
	CHECK_INT(logtail_line(lt, 0)->no, 8);
	CHECK_STR(logtail_line(lt, 4)->text, "line 12");
	CHECK_INT(logtail_line(lt, 4)->no, 12);
	CHECK(logtail_line(lt, 5) == NULL);
	logtail_feed(lt, "line 13 is partial", 18);
	CHECK_INT(logtail_partial(lt)->no, 13);
	logtail_free(lt);

	/* the byte cap holds however many lines would fit */
	lt = logtail_new_detached(0);
	big = malloc(4001);
	REQUIRE(big != NULL);
	memset(big, 'b', 4000);
	big[4000] = '\n';
	for (i = 0; i < 5000; i++)
		logtail_feed(lt, big, 4001);
	free(big);
	for (i = 0, bytes = 0; i < logtail_count(lt); i++)
		bytes += logtail_line(lt, i)->len;
	CHECK(bytes <= LOGTAIL_MAX_BYTES);
	CHECK(logtail_count(lt) < 5000);
	CHECK(logtail_count(lt) > 4000);
	l = logtail_line(lt, logtail_count(lt) - 1);
	CHECK_INT(l->no, 5000);
	CHECK_INT(logtail_dropped(lt) + logtail_count(lt), 5000);
	logtail_free(lt);
}

TEST(logtail_search_both_ways)
{
	static const char in[] = "alpha\nNEEDLE one\nbeta\nneedle two\n"
	    "gamma\n";
	struct logtail *lt = logtail_new_detached(0);

	logtail_feed(lt, in, sizeof in - 1);
	REQUIRE(logtail_count(lt) == 5);
	CHECK_INT(logtail_search(lt, "needle", -1, 1), 1);
	CHECK_INT(logtail_search(lt, "needle", 1, 1), 3);
	CHECK_INT(logtail_search(lt, "needle", 3, 1), -1);
	CHECK_INT(logtail_search(lt, "Needle", 5, -1), 3);
	CHECK_INT(logtail_search(lt, "needle", 3, -1), 1);
	CHECK_INT(logtail_search(lt, "needle", 1, -1), -1);
	CHECK_INT(logtail_search(lt, "ALPHA", 99, -1), 0);
	CHECK_INT(logtail_search(lt, "missing", -1, 1), -1);
	CHECK_INT(logtail_search(lt, "", -1, 1), -1);
	logtail_free(lt);
	logtail_free(NULL);
}
