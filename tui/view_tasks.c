/*
 * view_tasks.c - the console's first view: every task in history, newest
 * first, with its state, hosts up, attempt, progress, latest loss, step
 * time, throughput, ETA, start and duration. Enter opens a task.
 */
#include "console.h"

#include <curses.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct table_col cols[] = {
	{ "ID", 4, 1 }, { "NAME", 0, 0 }, { "STATE", 11, 0 },
	{ "HOSTS", 7, 1 }, { "ATT", 3, 1 }, { "STEP", 13, 1 },
	{ "LOSS", 9, 1 }, { "STEP_MS", 8, 1 }, { "SAMPLES/S", 9, 1 },
	{ "ETA", 7, 1 }, { "STARTED", 14, 0 }, { "TIME", 7, 1 },
};

static const struct keyhelp keys[] = {
	{ "Enter / l", "open the task: hosts, state and why" },
	{ "c", "the task's charts" },
	{ "e", "the task's events (audit log)" },
	{ "n", "launch a config" },
	{ "x", "stop the task (asks first, names the hosts)" },
	{ "s", "sort by the next column (again: reverse)" },
	{ NULL, NULL },
};

struct tasks {
	struct table *t;
};

static int64_t
cursor_task(const struct tasks *d)
{
	const char *k = table_cursor_key(d->t);

	return k != NULL ? strtoll(k, NULL, 10) : 0;
}

static void
tasks_update(struct view *v, struct con *c)
{
	struct tasks *d = v->data;
	const json_t *list = model_tasks(con_model(c)), *t, *h;
	char id[24], name[128], hosts[32], att[16], step[48], loss[32],
	    st[32], sps[32], eta[32], started[32], dur[32];
	const char *cells[nitems(cols)];
	double left, ms;
	size_t i;

	table_clear(d->t);
	json_array_foreach(list, i, t) {
		h = json_object_get(t, "hosts");
		snprintf(id, sizeof id, "%lld",
		    (long long)json_integer_value(json_object_get(t, "id")));
		snprintf(name, sizeof name, "%s", jstr_or(t, "name", "-"));
		snprintf(hosts, sizeof hosts, "%lld/%lld",
		    (long long)json_integer_value(json_object_get(h, "up")),
		    (long long)json_integer_value(json_object_get(h, "total")));
		snprintf(att, sizeof att, "%lld", (long long)
		    json_integer_value(json_object_get(t, "attempt")));
		if (json_is_integer(json_object_get(t, "step")))
			snprintf(step, sizeof step, json_is_integer(
			    json_object_get(t, "total_steps")) ? "%lld/%lld" :
			    "%lld", (long long)json_integer_value(
			    json_object_get(t, "step")), (long long)
			    json_integer_value(json_object_get(t,
			    "total_steps")));
		else
			snprintf(step, sizeof step, "-");
		fmt_num(loss, sizeof loss, json_object_get(t, "loss"), "%.4g");
		fmt_num(st, sizeof st, json_object_get(t, "step_time_ms"),
		    "%.0f");
		fmt_num(sps, sizeof sps, json_object_get(t, "samples_per_s"),
		    "%.1f");
		/* ETA: the steps left at the latest step time, while it
		 * runs. */
		ms = json_number_value(json_object_get(t, "step_time_ms"));
		left = (double)(json_integer_value(json_object_get(t,
		    "total_steps")) - json_integer_value(json_object_get(t,
		    "step")));
		if (json_integer_value(json_object_get(h, "up")) > 0 &&
		    ms > 0 && left >= 0 &&
		    json_is_integer(json_object_get(t, "total_steps")))
			fmt_dur(eta, sizeof eta, left * ms / 1000);
		else
			snprintf(eta, sizeof eta, "-");
		fmt_time(started, sizeof started, json_integer_value(
		    json_object_get(t, "started")));
		if (json_is_number(json_object_get(t, "duration_s")))
			fmt_dur(dur, sizeof dur, json_number_value(
			    json_object_get(t, "duration_s")));
		else
			snprintf(dur, sizeof dur, "-");
		cells[0] = id; cells[1] = name;
		cells[2] = jstr_or(t, "state", "-");
		cells[3] = hosts; cells[4] = att; cells[5] = step;
		cells[6] = loss; cells[7] = st; cells[8] = sps; cells[9] = eta;
		cells[10] = started; cells[11] = dur;
		table_add(d->t, id, cells, con_state_color(cells[2]));
	}
	table_done(d->t);
	v->task_id = cursor_task(d);
}

static void
tasks_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct tasks *d = v->data;
	char info[160];

	snprintf(info, sizeof info, " Tasks: %zu%s%s%s%s", table_total(d->t),
	    table_filter(d->t) ? "  filter: " : "",
	    table_filter(d->t) ? table_filter(d->t) : "",
	    table_sort_name(d->t) ? "  sorted by " : "",
	    table_sort_name(d->t) ? table_sort_name(d->t) : "");
	con_put(c, y, 0, w, con_attr(c, CC_BUSY), info);
	if (table_total(d->t) == 0) {
		con_put(c, y + 2, 2, w - 2, 0, "No task yet. Press n (or type "
		    ":launch CONFIG) to launch one.");
		return;
	}
	table_draw(d->t, c, y + 1, 0, h - 1, w);
}

static int
tasks_key(struct view *v, struct con *c, int k)
{
	struct tasks *d = v->data;
	int64_t id = cursor_task(d);

	if (table_key(d->t, k)) {
		v->task_id = cursor_task(d);
		return 1;
	}
	switch (k) {
	case '\n': case '\r': case KEY_ENTER: case 'l': case KEY_RIGHT:
		if (id != 0)
			con_push(c, view_task_new(c, id));
		break;
	case 'c':
		if (id != 0)
			con_push(c, view_chart_new(c, id));
		break;
	case 'e':
		if (id != 0)
			con_push(c, view_events_new(c, id));
		break;
	case 'n':
		con_push(c, view_launch_new(c, NULL));
		break;
	case 'x':
		if (id != 0)
			con_stop_task(c, id);
		break;
	case 27: case 'h': case KEY_LEFT:
		return 1;	/* the first view: nothing to go back to */
	default:
		return 0;
	}
	v->task_id = cursor_task(d);
	return 1;
}

static void
tasks_filter(struct view *v, struct con *c, const char *f)
{
	struct tasks *d = v->data;

	table_set_filter(d->t, f);
	v->task_id = cursor_task(d);
}

static void
tasks_click(struct view *v, struct con *c, int y, int wheel)
{
	struct tasks *d = v->data;

	table_pointer(d->t, y, wheel);
	v->task_id = cursor_task(d);
}

static void
tasks_free(struct view *v)
{
	struct tasks *d = v->data;

	table_free(d->t);
	free(d);
}

static const struct view_ops tasks_ops = {
	.name = "tasks",
	.draw = tasks_draw,
	.key = tasks_key,
	.update = tasks_update,
	.filter = tasks_filter,
	.free = tasks_free,
	.help = keys,
	.click = tasks_click,
};

struct view *
view_tasks_new(struct con *c)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct tasks *d = xcalloc(1, sizeof *d);

	d->t = table_new(cols, (int)nitems(cols));
	v->ops = &tasks_ops;
	v->data = d;
	return v;
}
