/*
 * test_console.c - the console's model and table without a screen: the
 * state-and-why line, straggler ratios, cell formats, and the table's
 * sort, filter, cursor and marks across the refreshes the views do every
 * second.
 */
#include <curses.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../tui/console.h"

static json_t *
hosts_of(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fprintf(stdout, "  bad fixture: %s\n", e.text);
	return j;
}

static void
why(const char *state, const char *hosts, const char *audit, char *buf,
    size_t len)
{
	json_t *sum = json_pack("{s:s}", "state", state);
	json_t *h = hosts_of(hosts), *a = hosts_of(audit);

	model_task_why(sum, h, a, 5, buf, len);
	json_decref(sum);
	json_decref(h);
	json_decref(a);
}

TEST(console_why_line_says_the_state_and_why)
{
	char b[512];

	why("starting", "[{\"host\":\"a\",\"state\":\"running\"},"
	    "{\"host\":\"b\",\"state\":\"starting\"},"
	    "{\"host\":\"c\",\"state\":\"connecting\"}]", "[]", b, sizeof b);
	CHECK_STR(b, "waiting: 2 hosts starting (1 of 3 up)");
	why("running", "[{\"host\":\"a\",\"state\":\"running\"},"
	    "{\"host\":\"10.0.0.7\",\"state\":\"stalled\",\"reason\":"
	    "\"no step for 14 min\"}]", "[]", b, sizeof b);
	CHECK_STR(b, "stalled: no step for 14 min on 10.0.0.7");
	/* The root cause of this attempt, not an older one. */
	why("failed", "[{\"host\":\"10.0.0.8\",\"state\":\"failed\"}]",
	    "[{\"kind\":\"root_cause\",\"attempt_id\":4,\"reason\":\"old\"},"
	    "{\"kind\":\"root_cause\",\"attempt_id\":5,\"reason\":\"gang "
	    "failure: rank 13 on 10.0.0.8 exited 137 (killed, possible OOM)\"}]",
	    b, sizeof b);
	CHECK_STR(b, "gang failure: rank 13 on 10.0.0.8 exited 137 (killed, "
	    "possible OOM)");
	why("degraded", "[{\"host\":\"a\",\"state\":\"running\"},"
	    "{\"host\":\"b\",\"state\":\"failed\",\"reason\":\"rank 1 exited "
	    "1\"}]", "[]", b, sizeof b);
	CHECK_STR(b, "degraded: 1 of 2 hosts failed; b: rank 1 exited 1");
	why("running", "[{\"host\":\"a\",\"state\":\"lost\",\"reason\":"
	    "\"silent for 45 s\"},{\"host\":\"b\",\"state\":\"running\"}]",
	    "[]", b, sizeof b);
	CHECK_STR(b, "lost: 1 host silent, a: silent for 45 s");
	why("running", "[{\"host\":\"a\",\"state\":\"running\"}]", "[]", b,
	    sizeof b);
	CHECK_STR(b, "running: 1 of 1 hosts up");
	why("", "[]", "[]", b, sizeof b);
	CHECK_STR(b, "no attempt yet");
}

TEST(console_straggler_ratio_against_the_others_median)
{
	json_t *h = hosts_of("[{\"metric\":{\"step_time_ms\":100}},"
	    "{\"metric\":{\"step_time_ms\":100}},"
	    "{\"metric\":{\"step_time_ms\":300}},{\"metric\":null}]");

	model_hosts_straggler(h);
	CHECK_DBL(json_real_value(json_object_get(json_array_get(h, 2),
	    "straggler")), 3.0, 1e-9);
	/* 100 against the median of 100 and 300. */
	CHECK_DBL(json_real_value(json_object_get(json_array_get(h, 0),
	    "straggler")), 0.5, 1e-9);
	CHECK(json_object_get(json_array_get(h, 3), "straggler") == NULL);
	json_decref(h);
}

TEST(console_cell_formats)
{
	char b[64];
	json_t *v = json_string("nan");

	fmt_dur(b, sizeof b, 5);
	CHECK_STR(b, "5s");
	fmt_dur(b, sizeof b, 247);
	CHECK_STR(b, "4m07s");
	fmt_dur(b, sizeof b, 7500);
	CHECK_STR(b, "2h05m");
	fmt_dur(b, sizeof b, 3 * 86400 + 4 * 3600);
	CHECK_STR(b, "3d04h");
	fmt_num(b, sizeof b, v, "%.4g");
	CHECK_STR(b, "nan");		/* the trainer's own word, kept */
	fmt_num(b, sizeof b, NULL, "%.4g");
	CHECK_STR(b, "-");
	json_decref(v);
}

static const struct table_col cols[] = {
	{ "HOST", 8, 0 }, { "STATE", 8, 0 }, { "STEP", 6, 1 },
};

static void
fill(struct table *t, int round)
{
	const char *a[] = { "h1", "running", "100" };
	const char *b[] = { "h2", "failed", "9" };
	const char *c[] = { "h10", "running", "-" };
	char step[16];

	table_clear(t);
	snprintf(step, sizeof step, "%d", 100 + round);
	a[2] = step;
	table_add(t, "h1", a, 0);
	table_add(t, "h2", b, 0);
	table_add(t, "h10", c, 0);
	table_done(t);
}

TEST(console_table_sort_filter_cursor_marks)
{
	struct table *t = table_new(cols, 3);
	char **m;

	fill(t, 0);
	CHECK_STR(table_cursor_key(t), "h1");
	/* Numbers sort as numbers, "-" after them; again: reversed. */
	table_sort_by(t, 2, 0);
	table_move(t, INT_MIN);
	CHECK_STR(table_cursor_key(t), "h2");
	table_move(t, INT_MAX);
	CHECK_STR(table_cursor_key(t), "h10");
	table_sort_by(t, 2, 1);
	table_move(t, INT_MIN);
	CHECK_STR(table_cursor_key(t), "h10");
	/* The cursor stays on its row across a refresh that reorders. */
	table_move(t, 1);
	CHECK_STR(table_cursor_key(t), "h1");
	fill(t, 1);
	CHECK_STR(table_cursor_key(t), "h1");
	/* Marks by key survive refreshes and come back in table order. */
	table_mark(t, "h2", 1);
	table_toggle_mark(t);
	fill(t, 2);
	m = table_marks(t);
	REQUIRE(m[0] != NULL && m[1] != NULL);
	CHECK_STR(m[0], "h1");
	CHECK_STR(m[1], "h2");
	CHECK(m[2] == NULL);
	strv_free(m);
	/* Filter: any cell, case-insensitive. */
	table_set_filter(t, "FAIL");
	CHECK_INT(table_rows(t), 1);
	CHECK_STR(table_cursor_key(t), "h2");
	table_set_filter(t, "h1");
	CHECK_INT(table_rows(t), 2);	/* h1 and h10 */
	table_set_filter(t, NULL);
	CHECK_INT(table_rows(t), 3);
	CHECK_INT(table_total(t), 3);
	/* The keys every table knows. */
	CHECK(table_key(t, 'G'));
	CHECK(table_at_end(t));
	CHECK(table_key(t, 'g'));
	CHECK(!table_at_end(t));
	CHECK(!table_key(t, 'z'));
	table_free(t);
}
