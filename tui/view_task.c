/*
 * view_task.c - one task: its state and why in the header ("stalled: no
 * step for 14 min on 10.0.0.7", "gang failure: rank 13 on 10.0.0.8
 * exited 137 ..."), then a table of the latest attempt's hosts: node
 * rank, ranks, state, step, loss, step time, straggler ratio against the
 * median of the others, throughput, device utilisation and memory from
 * the agents' telemetry, when each was last heard from, and the reason of
 * its state. Sortable and filterable; marks feed the relaunch view.
 */
#include "console.h"

#include <curses.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct table_col cols[] = {
	{ "HOST", 14, 0 }, { "NODE", 4, 1 }, { "RANKS", 5, 1 },
	{ "STATE", 11, 0 }, { "STEP", 7, 1 }, { "LOSS", 8, 1 },
	{ "STEP_MS", 7, 1 }, { "VS_MED", 6, 1 }, { "SAMP/S", 7, 1 },
	{ "DEV%", 4, 1 }, { "DEV_MEM", 10, 1 }, { "SEEN", 5, 1 },
	{ "REASON", 0, 0 },
};

static const struct keyhelp keys[] = {
	{ "Enter / l", "the selected host's log (rank: its first)" },
	{ "c", "charts: loss and step time" },
	{ "e", "events: the audit log" },
	{ "space", "mark or unmark the host" },
	{ "r", "relaunch: marked or failed hosts into this attempt, or all" },
	{ "x", "stop the task (asks first, names the hosts)" },
	{ "s", "sort by the next column (again: reverse)" },
	{ "E", "export the metrics to task<ID>-metrics.csv" },
	{ NULL, NULL },
};

struct task {
	struct table *t;
	int64_t id;
};

static void
host_devices(const json_t *h, char *util, size_t ul, char *mem, size_t ml)
{
	const json_t *devs = json_object_get(h, "devices"), *d;
	double u = 0, used = 0, total = 0;
	size_t i, nu = 0;

	json_array_foreach(devs, i, d) {
		if (json_is_number(json_object_get(d, "util_pct"))) {
			u += json_number_value(json_object_get(d, "util_pct"));
			nu++;
		}
		used += json_number_value(json_object_get(d, "mem_used_mb"));
		total += json_number_value(json_object_get(d, "mem_total_mb"));
	}
	if (nu > 0)
		snprintf(util, ul, "%.0f", u / (double)nu);
	else
		snprintf(util, ul, "-");
	if (total > 0)
		snprintf(mem, ml, used >= 10240 ? "%.0f/%.0fG" : "%.1f/%.0fG",
		    used / 1024, total / 1024);
	else
		snprintf(mem, ml, "-");
}

static void
task_update(struct view *v, struct con *c)
{
	struct task *d = v->data;
	const struct model_task *mt;
	const json_t *h, *m;
	char node[16], ranks[32], step[24], loss[32], st[32], vs[32], sps[32],
	    util[16], mem[32], seen[16];
	const char *cells[nitems(cols)];
	int64_t first, n, last;
	size_t i;

	if ((mt = con_view_task(c, v)) == NULL)
		return;
	table_clear(d->t);
	json_array_foreach(mt->hosts, i, h) {
		m = json_object_get(h, "metric");
		first = json_integer_value(json_object_get(h, "rank_first"));
		n = json_integer_value(json_object_get(h, "nprocs"));
		snprintf(node, sizeof node, "%lld", (long long)
		    json_integer_value(json_object_get(h, "node_rank")));
		if (n > 1)
			snprintf(ranks, sizeof ranks, "%lld-%lld",
			    (long long)first, (long long)(first + n - 1));
		else
			snprintf(ranks, sizeof ranks, "%lld", (long long)first);
		if (json_is_object(m))
			snprintf(step, sizeof step, "%lld", (long long)
			    json_integer_value(json_object_get(m, "step")));
		else
			snprintf(step, sizeof step, "-");
		fmt_num(loss, sizeof loss, json_object_get(m, "loss"), "%.4g");
		fmt_num(st, sizeof st, json_object_get(m, "step_time_ms"),
		    "%.0f");
		fmt_num(vs, sizeof vs, json_object_get(h, "straggler"),
		    "x%.2f");
		fmt_num(sps, sizeof sps, json_object_get(m, "samples_per_s"),
		    "%.1f");
		/* Telemetry of a host that is not up is history. */
		if (strcmp(jstr_or(h, "state", ""), "running") == 0 ||
		    strcmp(jstr_or(h, "state", ""), "stalled") == 0)
			host_devices(h, util, sizeof util, mem, sizeof mem);
		else {
			snprintf(util, sizeof util, "-");
			snprintf(mem, sizeof mem, "-");
		}
		last = json_integer_value(json_object_get(h, "last_seen"));
		if (last > 0)
			fmt_dur(seen, sizeof seen,
			    (double)(clock_wall_ms() - last) / 1000);
		else
			snprintf(seen, sizeof seen, "-");
		cells[0] = jstr_or(h, "host", "?");
		cells[1] = node; cells[2] = ranks;
		cells[3] = jstr_or(h, "state", "-");
		cells[4] = step; cells[5] = loss; cells[6] = st; cells[7] = vs;
		cells[8] = sps; cells[9] = util; cells[10] = mem;
		cells[11] = seen; cells[12] = jstr_or(h, "reason", "");
		table_add(d->t, cells[0], cells, con_state_color(cells[3]));
	}
	table_done(d->t);
}

static void
host_detail(struct con *c, const struct model_task *mt, const char *host,
    int y, int w)
{
	const json_t *h;
	size_t i;

	con_put(c, y, 0, w, 0, "");
	json_array_foreach(mt->hosts, i, h) {
		if (host == NULL || strcmp(jstr_or(h, "host", ""), host) != 0)
			continue;
		con_putf(c, y, 0, w, con_attr(c, con_state_color(jstr_or(h,
		    "state", NULL))), " %s: %s%s%s (launches: %lld)", host,
		    jstr_or(h, "state", "-"), *jstr_or(h, "reason", "") ?
		    ", " : "", jstr_or(h, "reason", ""), (long long)
		    json_integer_value(json_object_get(h, "launches")));
	}
}

static void
task_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct task *d = v->data;
	const struct model_task *mt = model_task(con_model(c));
	const json_t *s;
	const char *state;
	char dur[32];

	if (mt == NULL || mt->id != d->id) {
		con_put(c, y, 0, w, 0, " loading...");
		return;
	}
	s = mt->summary;
	state = jstr_or(s, "state", "-");
	fmt_dur(dur, sizeof dur, json_number_value(json_object_get(s,
	    "duration_s")));
	con_putf(c, y, 0, w, con_attr(c, CC_BUSY), " Task #%lld %s  attempt "
	    "#%lld  stage %s  %s  hosts %lld/%lld up%s%s", (long long)d->id,
	    jstr_or(s, "name", "?"), (long long)json_integer_value(
	    json_object_get(s, "attempt")), jstr_or(s, "stage", "-"), dur,
	    (long long)json_integer_value(json_object_get(json_object_get(s,
	    "hosts"), "up")), (long long)json_integer_value(json_object_get(
	    json_object_get(s, "hosts"), "total")),
	    table_filter(d->t) ? "  filter: " : "",
	    table_filter(d->t) ? table_filter(d->t) : "");
	con_putf(c, y + 1, 0, w, con_attr(c, con_state_color(state)) | A_BOLD,
	    " %s", mt->why);
	table_draw(d->t, c, y + 2, 0, h - 3, w);
	/* The selected host's reason, whole. */
	host_detail(c, mt, table_cursor_key(d->t), y + h - 1, w);
}

/* The first rank of the cursor's host. */
static long
cursor_rank(struct con *c, const char *host)
{
	const struct model_task *mt = model_task(con_model(c));
	const json_t *h;
	size_t i;

	if (mt == NULL)
		return -1;
	json_array_foreach(mt->hosts, i, h)
		if (strcmp(jstr_or(h, "host", ""), host) == 0)
			return (long)json_integer_value(json_object_get(h,
			    "rank_first"));
	return -1;
}

static int
task_key(struct view *v, struct con *c, int k)
{
	struct task *d = v->data;
	const char *host = table_cursor_key(d->t);
	char path[64], *cause = NULL;

	if (table_key(d->t, k))
		return 1;
	switch (k) {
	case ' ': table_toggle_mark(d->t); table_move(d->t, 1); break;
	case '\n': case '\r': case KEY_ENTER: case 'l': case KEY_RIGHT:
		if (host != NULL)
			con_push(c, view_logs_new(c, d->id, host,
			    cursor_rank(c, host)));
		break;
	case 'c': con_push(c, view_chart_new(c, d->id)); break;
	case 'e': con_push(c, view_events_new(c, d->id)); break;
	case 'x': con_stop_task(c, d->id); break;
	case 'r': {
		struct view *rv = view_relaunch_new(c, d->id);
		char **marks = table_marks(d->t), **m;

		/* The marks made here carry over. */
		for (m = marks; *m != NULL; m++)
			view_relaunch_mark(rv, *m);
		strv_free(marks);
		con_push(c, rv);
		break;
	}
	case 'E':
		snprintf(path, sizeof path, "task%lld-metrics.csv",
		    (long long)d->id);
		if (con_export_metrics(c, d->id, "csv", path, &cause) != 0) {
			con_message(c, 1, "export: %s", cause);
			free(cause);
		} else
			con_message(c, 0, "metrics written to %s", path);
		break;
	default:
		return 0;
	}
	return 1;
}

static const struct view_ops task_ops = {
	.name = "task",
	.draw = task_draw,
	.key = task_key,
	.update = task_update,
	.filter = table_view_filter,
	.free = table_view_free,
	.help = keys,
	.click = table_view_click,
};

struct view *
view_task_new(struct con *c, int64_t task_id)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct task *d = xcalloc(1, sizeof *d);

	d->t = table_new(cols, (int)nitems(cols));
	d->id = task_id;
	v->ops = &task_ops;
	v->data = d;
	v->task_id = task_id;
	return v;
}
