/*
 * view_events.c - a task's audit log: who launched, stopped and
 * relaunched what, and every state change of every host with its reason,
 * oldest first; it follows the end while the cursor is on the last row.
 */
#include "console.h"

#include <curses.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct table_col cols[] = {
	{ "TIME", 14, 0 }, { "ATT", 3, 1 }, { "HOST", 16, 0 },
	{ "KIND", 12, 0 }, { "ACTOR", 8, 0 }, { "STATE", 22, 0 },
	{ "REASON", 0, 0 },
};

static const struct keyhelp keys[] = {
	{ "j k / G g", "move; G follows the newest" },
	{ "s", "sort by the next column (again: reverse)" },
	{ NULL, NULL },
};

struct events {
	struct table *t;
	int64_t id;
	int follow;
};

static void
events_update(struct view *v, struct con *c)
{
	struct events *d = v->data;
	const struct model_task *mt;
	const json_t *a;
	const char *cells[nitems(cols)], *from, *to;
	char key[32], t[32], att[16], st[64];
	size_t i;

	if ((mt = con_view_task(c, v)) == NULL)
		return;
	table_clear(d->t);
	json_array_foreach(mt->audit, i, a) {
		snprintf(key, sizeof key, "%lld", (long long)
		    json_integer_value(json_object_get(a, "id")));
		fmt_time(t, sizeof t, json_integer_value(json_object_get(a,
		    "t")));
		fmt_num(att, sizeof att, json_object_get(a, "attempt"),
		    "%.0f");
		from = jstr_or(a, "from", NULL);
		to = jstr_or(a, "to", NULL);
		if (from != NULL && to != NULL)
			snprintf(st, sizeof st, "%s -> %s", from, to);
		else
			snprintf(st, sizeof st, "%s", to != NULL ? to :
			    from != NULL ? from : "");
		cells[0] = t; cells[1] = att;
		cells[2] = jstr_or(a, "host", "");
		cells[3] = jstr_or(a, "kind", "");
		cells[4] = jstr_or(a, "actor", "");
		cells[5] = st;
		cells[6] = jstr_or(a, "reason", "");
		table_add(d->t, key, cells, 0);
	}
	table_done(d->t);
	if (d->follow)
		table_move(d->t, INT_MAX);
}

static void
events_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct events *d = v->data;

	con_putf(c, y, 0, w, con_attr(c, CC_BUSY), " Events of task #%lld: "
	    "%zu%s%s%s", (long long)d->id, table_total(d->t),
	    d->follow ? "  (following)" : "", table_filter(d->t) ?
	    "  filter: " : "", table_filter(d->t) ? table_filter(d->t) : "");
	table_draw(d->t, c, y + 1, 0, h - 1, w);
}

static int
events_key(struct view *v, struct con *c, int k)
{
	struct events *d = v->data;

	if (!table_key(d->t, k))
		return 0;
	/* Following while on the newest row. */
	d->follow = table_at_end(d->t);
	return 1;
}

static const struct view_ops events_ops = {
	.name = "events",
	.draw = events_draw,
	.key = events_key,
	.update = events_update,
	.filter = table_view_filter,
	.free = table_view_free,
	.help = keys,
	.click = table_view_click,
};

struct view *
view_events_new(struct con *c, int64_t task_id)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct events *d = xcalloc(1, sizeof *d);

	d->t = table_new(cols, (int)nitems(cols));
	d->id = task_id;
	d->follow = 1;
	v->ops = &events_ops;
	v->data = d;
	v->task_id = task_id;
	return v;
}
