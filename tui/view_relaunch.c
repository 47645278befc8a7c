/*
 * view_relaunch.c - relaunching a task, the two ways DESIGN.md names:
 * the marked hosts (failed ones pre-marked) into the same attempt — same
 * node ranks, rank table and spec, the others untouched — or every host
 * as a new attempt with the resume arguments, some excluded or replaced.
 * Both go through a confirmation that names every host (console_cmd.c).
 */
#include "console.h"

#include <curses.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct table_col cols[] = {
	{ "HOST", 18, 0 }, { "NODE", 4, 1 }, { "STATE", 11, 0 },
	{ "PLAN", 22, 0 }, { "REASON", 0, 0 },
};

static const struct keyhelp keys[] = {
	{ "space", "mark or unmark the host (failed ones come marked)" },
	{ "Enter / r", "relaunch the marked hosts into this attempt" },
	{ "a", "restart all as a new attempt with resume" },
	{ "x", "for a restart of all: exclude the host (again: include)" },
	{ "p", "for a restart of all: replace the host by another" },
	{ NULL, NULL },
};

struct relaunch {
	struct table *t;
	int64_t id;
	int premarked;
	char **exclude;			/* NULL-terminated */
	char **replace;			/* OLD=NEW */
};

static int
in_list(char **v, const char *host, size_t *at)
{
	size_t i, n = strlen(host);

	for (i = 0; v != NULL && v[i] != NULL; i++)
		if (strncmp(v[i], host, n) == 0 &&
		    (v[i][n] == '\0' || v[i][n] == '=')) {
			if (at != NULL)
				*at = i;
			return 1;
		}
	return 0;
}

/* Takes out the entry of host; 1 when there was one. */
static int
list_remove(char **v, const char *host)
{
	size_t at, n = strv_len(v);

	if (!in_list(v, host, &at))
		return 0;
	free(v[at]);
	v[at] = v[n - 1];
	v[n - 1] = NULL;
	return 1;
}

static char **
list_add(char **v, const char *item)
{
	size_t n = strv_len(v);

	v = xreallocarray(v, n + 2, sizeof *v);
	v[n] = xstrdup(item);
	v[n + 1] = NULL;
	return v;
}

static void
relaunch_update(struct view *v, struct con *c)
{
	struct relaunch *d = v->data;
	const struct model_task *mt;
	const json_t *h;
	const char *cells[nitems(cols)], *host;
	char node[16], plan[160];
	size_t i, at;

	if ((mt = con_view_task(c, v)) == NULL)
		return;
	table_clear(d->t);
	json_array_foreach(mt->hosts, i, h) {
		host = jstr_or(h, "host", "?");
		if (!d->premarked && strcmp(jstr_or(h, "state", ""),
		    "failed") == 0)
			table_mark(d->t, host, 1);
		snprintf(node, sizeof node, "%lld", (long long)
		    json_integer_value(json_object_get(h, "node_rank")));
		if (in_list(d->exclude, host, NULL))
			snprintf(plan, sizeof plan, "all: excluded");
		else if (in_list(d->replace, host, &at))
			snprintf(plan, sizeof plan, "all: -> %s",
			    strchr(d->replace[at], '=') + 1);
		else
			snprintf(plan, sizeof plan, "%s",
			    table_marked(d->t, host) ? "relaunch" : "");
		cells[0] = host; cells[1] = node;
		cells[2] = jstr_or(h, "state", "-");
		cells[3] = plan; cells[4] = jstr_or(h, "reason", "");
		table_add(d->t, host, cells, con_state_color(cells[2]));
	}
	d->premarked = d->premarked || json_array_size(mt->hosts) > 0;
	table_done(d->t);
}

static void
relaunch_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct relaunch *d = v->data;
	const struct model_task *mt = model_task(con_model(c));
	char **marks = table_marks(d->t);

	con_putf(c, y, 0, w, con_attr(c, CC_BUSY), " Relaunch task #%lld "
	    "attempt #%lld: %zu marked, %zu excluded, %zu replaced",
	    (long long)d->id, mt != NULL ? (long long)json_integer_value(
	    json_object_get(mt->summary, "attempt")) : 0LL, strv_len(marks),
	    strv_len(d->exclude), strv_len(d->replace));
	con_put(c, y + 1, 0, w, 0, " Enter: relaunch marked into this "
	    "attempt   a: restart all as a new attempt with resume   "
	    "x/p: exclude/replace");
	strv_free(marks);
	table_draw(d->t, c, y + 2, 0, h - 2, w);
}

static void
replace_done(struct con *c, const char *text, void *arg)
{
	struct view *v = arg;
	struct relaunch *d = v->data;
	const char *host = table_cursor_key(d->t);
	char *item;

	if (text == NULL || host == NULL)
		return;
	list_remove(d->replace, host);
	if (*text != '\0') {	/* empty: no replacement */
		xasprintf(&item, "%s=%s", host, text);
		d->replace = list_add(d->replace, item);
		free(item);
	}
	relaunch_update(v, c);
}

static int
relaunch_key(struct view *v, struct con *c, int k)
{
	struct relaunch *d = v->data;
	const char *host = table_cursor_key(d->t);
	char **marks, label[160];

	if (table_key(d->t, k))
		return 1;
	switch (k) {
	case ' ':
		table_toggle_mark(d->t);
		relaunch_update(v, c);
		table_move(d->t, 1);
		break;
	case '\n': case '\r': case KEY_ENTER: case 'r':
		marks = table_marks(d->t);
		con_relaunch_hosts(c, d->id, marks);
		strv_free(marks);
		break;
	case 'a':
		con_relaunch_all(c, d->id, d->exclude, d->replace);
		break;
	case 'x':
		if (host != NULL) {
			if (!list_remove(d->exclude, host))
				d->exclude = list_add(d->exclude, host);
			relaunch_update(v, c);
		}
		break;
	case 'p':
		if (host != NULL) {
			snprintf(label, sizeof label, "replace %.100s by "
			    "(empty: keep): ", host);
			con_prompt(c, label, NULL, replace_done, v);
		}
		break;
	default:
		return 0;
	}
	return 1;
}

static void
relaunch_free(struct view *v)
{
	struct relaunch *d = v->data;

	table_free(d->t);
	strv_free(d->exclude);
	strv_free(d->replace);
	free(d);
}

static const struct view_ops relaunch_ops = {
	.name = "relaunch",
	.draw = relaunch_draw,
	.key = relaunch_key,
	.update = relaunch_update,
	.free = relaunch_free,
	.help = keys,
	.click = table_view_click,
};

void
view_relaunch_mark(struct view *v, const char *host)
{
	struct relaunch *d = v->data;

	table_mark(d->t, host, 1);
	d->premarked = 1;	/* the user chose: failed ones are not added */
}

struct view *
view_relaunch_new(struct con *c, int64_t task_id)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct relaunch *d = xcalloc(1, sizeof *d);

	d->t = table_new(cols, (int)nitems(cols));
	d->id = task_id;
	v->ops = &relaunch_ops;
	v->data = d;
	v->task_id = task_id;
	return v;
}
