/*
 * view_launch.c - launching from the console: pick a config from the
 * configs folder (or type a path), edit the host range, `--set`
 * overrides and the stage, read the per-host plan exactly as `drover
 * plan` prints it (node rank, ranks, argv, env with secrets masked),
 * confirm; then one progress bar per host through connect, push, start,
 * with the reason of any host that fails.
 */
#include "console.h"

#include <curses.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "con_int.h"
#include "config.h"
#include "plan.h"

static const struct table_col pick_cols[] = {
	{ "CONFIG", 0, 0 },
};

static const struct keyhelp keys[] = {
	{ "Enter", "pick the config / launch (asks first)" },
	{ "o", "open a config by its path" },
	{ "H", "set the host range (cluster.hosts)" },
	{ "s", "add a --set KEY=VALUE override" },
	{ "d", "drop the last override" },
	{ "t", "choose the stage" },
	{ "j k / PgDn PgUp", "scroll the plan" },
	{ NULL, NULL },
};

enum launch_step { PICK, EDIT, PROGRESS };

struct launch {
	enum launch_step step;
	struct table *pick;
	char *path;
	char **sets;
	char *stage;
	char *plan;			/* text, or the error */
	int plan_ok;
	char **hosts;			/* the plan's hosts */
	int scroll;
	char *task_name;
};

/* ---- the configs folder ---------------------------------------------------- */

static struct table *walk_table;

static int
walk_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	const char *dot = strrchr(path, '.');
	const char *cells[1];

	if (type == FTW_F && dot != NULL && (strcmp(dot, ".yaml") == 0 ||
	    strcmp(dot, ".yml") == 0) && f->level <= 4) {
		cells[0] = path;
		table_add(walk_table, path, cells, 0);
	}
	return 0;
}

static void
pick_fill(struct launch *d)
{
	const char *dir = getenv("DROVER_CONFIGS");

	table_clear(d->pick);
	walk_table = d->pick;
	nftw(dir != NULL ? dir : "configs", walk_one, 16, FTW_PHYS);
	walk_table = NULL;
	table_sort_by(d->pick, 0, 0);
}

/* ---- the plan ---------------------------------------------------------------- */

static void
plan_make(struct launch *d)
{
	struct config *cfg;
	char *cause = NULL;
	size_t stage, i;

	free(d->plan);
	strv_free(d->hosts);
	free(d->task_name);
	d->plan = NULL;
	d->hosts = NULL;
	d->task_name = NULL;
	d->plan_ok = 0;
	d->scroll = 0;
	if ((cfg = con_config_load(d->path, d->sets, &cause)) == NULL ||
	    con_config_stage(cfg, d->stage, &stage, &cause) != 0 ||
	    (d->plan = plan_preview(cfg, stage, 0, &cause)) == NULL) {
		d->plan = cause;
		config_free(cfg);
		return;
	}
	d->plan_ok = 1;
	d->hosts = xcalloc(cfg->cluster.nhosts + 1, sizeof *d->hosts);
	for (i = 0; i < cfg->cluster.nhosts; i++)
		d->hosts[i] = xstrdup(cfg->cluster.hosts[i]);
	d->task_name = xstrdup(cfg->task != NULL ? cfg->task : "?");
	config_free(cfg);
}

static void
set_path(struct launch *d, const char *path)
{
	free(d->path);
	d->path = xstrdup(path);
	d->step = EDIT;
	plan_make(d);
}

/* ---- drawing ------------------------------------------------------------------- */

static void
draw_text(struct con *c, const char *text, int skip, int y, int h, int w,
    int attr)
{
	const char *p = text, *nl;
	char line[1024];
	int row = 0, n = 0;

	while (*p != '\0' && row < h) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (n++ >= skip) {
			snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
			con_put(c, y + row++, 0, w, attr, line);
		}
		p = *nl != '\0' ? nl + 1 : nl;
	}
}

/* connect, push, start: a bar per host from the engine's notes. */
static void
draw_progress(struct con *c, struct launch *d, int y, int h, int w)
{
	static const char *const steps[] = { "pending", "connecting",
	    "pushing", "starting", "running" };
	const struct con_note *n;
	char bar[64];
	int row, i, s, full, bad;

	con_put(c, y, 0, w, con_attr(c, CC_HEAD), " HOST               "
	    "PROGRESS              STATE        REASON");
	for (row = 0; d->hosts != NULL && d->hosts[row] != NULL &&
	    row < h - 1; row++) {
		n = con_host_note(c, d->hosts[row]);
		s = 0;
		bad = 0;
		for (i = 0; n != NULL && i < (int)nitems(steps); i++)
			if (strcmp(n->state, steps[i]) == 0)
				s = i;
		if (n != NULL && (strcmp(n->state, "succeeded") == 0 ||
		    strcmp(n->state, "stalled") == 0))
			s = 4;
		if (n != NULL && (strcmp(n->state, "failed") == 0 ||
		    strcmp(n->state, "unreachable") == 0))
			bad = 1;
		full = s * 5;
		for (i = 0; i < 20; i++)
			bar[i] = i < full ? '#' : '.';
		bar[20] = '\0';
		con_putf(c, y + 1 + row, 0, w, bad ? con_attr(c, CC_BAD) :
		    con_attr(c, con_state_color(n != NULL ? n->state : NULL)),
		    " %-18.18s [%s] %-12s %s", d->hosts[row], bar,
		    n != NULL ? n->state : "waiting", n != NULL ? n->reason :
		    "");
	}
}

static void
launch_draw(struct view *v, struct con *c, int y, int h, int w)
{
	struct launch *d = v->data;
	char sets[512] = "";
	size_t i;

	if (d->step == PICK) {
		con_putf(c, y, 0, w, con_attr(c, CC_BUSY), " Launch: pick a "
		    "config (%zu in %s)   Enter: pick   o: open a path",
		    table_total(d->pick), getenv("DROVER_CONFIGS") ?
		    getenv("DROVER_CONFIGS") : "configs/");
		table_draw(d->pick, c, y + 1, 0, h - 1, w);
		return;
	}
	for (i = 0; d->sets != NULL && d->sets[i] != NULL; i++) {
		strncat(sets, " --set ", sizeof sets - strlen(sets) - 1);
		strncat(sets, d->sets[i], sizeof sets - strlen(sets) - 1);
	}
	con_putf(c, y, 0, w, con_attr(c, CC_BUSY), " Launch %s%s%s%s",
	    d->path, sets, d->stage != NULL ? " --stage " : "",
	    d->stage != NULL ? d->stage : "");
	if (d->step == PROGRESS) {
		con_putf(c, y + 1, 0, w, 0, " task %s on %zu hosts: connect, "
		    "push, start   (Esc: back; the launch goes on)",
		    d->task_name, strv_len(d->hosts));
		draw_progress(c, d, y + 2, h - 2, w);
		return;
	}
	con_put(c, y + 1, 0, w, d->plan_ok ? 0 : con_attr(c, CC_BAD),
	    d->plan_ok ? " Enter: launch (asks first)   H: hosts   s/d: "
	    "add/drop --set   t: stage   o: another config" :
	    " The plan is not valid: nothing can start. Fix the config or "
	    "the overrides.");
	draw_text(c, d->plan != NULL ? d->plan : "", d->scroll, y + 2, h - 2,
	    w, d->plan_ok ? 0 : con_attr(c, CC_BAD));
}

/* ---- keys ---------------------------------------------------------------------- */

static void
open_done(struct con *c, const char *text, void *arg)
{
	if (text != NULL && *text != '\0')
		set_path(((struct view *)arg)->data, text);
}

static void
hosts_done(struct con *c, const char *text, void *arg)
{
	struct launch *d = ((struct view *)arg)->data;
	char *set;
	size_t i, n = strv_len(d->sets);

	if (text == NULL)
		return;
	/* One cluster.hosts override: the newest replaces the older. */
	for (i = 0; i < n; i++)
		if (strncmp(d->sets[i], "cluster.hosts=", 14) == 0) {
			free(d->sets[i]);
			d->sets[i] = d->sets[--n];
			d->sets[n] = NULL;
			break;
		}
	if (*text != '\0') {
		xasprintf(&set, "cluster.hosts=%s", text);
		d->sets = xreallocarray(d->sets, n + 2, sizeof *d->sets);
		d->sets[n] = set;
		d->sets[n + 1] = NULL;
	}
	plan_make(d);
}

static void
set_done(struct con *c, const char *text, void *arg)
{
	struct launch *d = ((struct view *)arg)->data;
	size_t n = strv_len(d->sets);

	if (text == NULL || *text == '\0')
		return;
	d->sets = xreallocarray(d->sets, n + 2, sizeof *d->sets);
	d->sets[n] = xstrdup(text);
	d->sets[n + 1] = NULL;
	plan_make(d);
}

static void
stage_done(struct con *c, const char *text, void *arg)
{
	struct launch *d = ((struct view *)arg)->data;

	if (text == NULL)
		return;
	free(d->stage);
	d->stage = *text != '\0' ? xstrdup(text) : NULL;
	plan_make(d);
}

static void
launch_yes(struct con *c, void *arg)
{
	struct view *v = arg;
	struct launch *d = v->data;
	char *cause = NULL;

	if (con_launch(c, d->path, d->sets, d->stage, &cause) != 0) {
		con_message(c, 1, "launch: %.*s", (int)strcspn(cause, "\n"),
		    cause);
		free(cause);
		return;
	}
	d->step = PROGRESS;
	con_message(c, 0, "launching %s on %zu hosts", d->task_name,
	    strv_len(d->hosts));
}

static void
launch_confirm(struct con *c, struct view *v)
{
	struct launch *d = v->data;
	char *text, *list = con_join(d->hosts, 24);

	xasprintf(&text, "Launch task %s from %s on %zu host%s:\n  %s\n"
	    "Each host gets the agent and its spec, then starts.",
	    d->task_name, d->path, strv_len(d->hosts),
	    strv_len(d->hosts) == 1 ? "" : "s", list);
	free(list);
	con_confirm(c, text, launch_yes, v, NULL);
	free(text);
}

static int
launch_key(struct view *v, struct con *c, int k)
{
	struct launch *d = v->data;
	const char *key;

	if (k == 'o') {
		con_prompt(c, "config path: ", d->path, open_done, v);
		return 1;
	}
	if (d->step == PICK) {
		if (table_key(d->pick, k))
			return 1;
		switch (k) {
		case '\n': case '\r': case KEY_ENTER: case 'l':
			if ((key = table_cursor_key(d->pick)) != NULL)
				set_path(d, key);
			return 1;
		}
		return 0;
	}
	if (d->step == PROGRESS)
		return 0;
	switch (k) {
	case KEY_DOWN: case 'j': d->scroll++; return 1;
	case KEY_UP: case 'k': if (d->scroll > 0) d->scroll--; return 1;
	case KEY_NPAGE: d->scroll += 20; return 1;
	case KEY_PPAGE: d->scroll = d->scroll > 20 ? d->scroll - 20 : 0;
		return 1;
	case 'H': con_prompt(c, "hosts (e.g. node[01-08]): ", NULL, hosts_done,
	    v); return 1;
	case 's': con_prompt(c, "--set KEY=VALUE: ", NULL, set_done, v);
		return 1;
	case 'd':
		if (strv_len(d->sets) > 0) {
			free(d->sets[strv_len(d->sets) - 1]);
			d->sets[strv_len(d->sets) - 1] = NULL;
			plan_make(d);
		}
		return 1;
	case 't': con_prompt(c, "stage (empty: the first): ", d->stage,
	    stage_done, v); return 1;
	case '\n': case '\r': case KEY_ENTER:
		if (!d->plan_ok)
			con_message(c, 1, "the plan is not valid; nothing "
			    "can start");
		else
			launch_confirm(c, v);
		return 1;
	}
	return 0;
}

static void
launch_click(struct view *v, struct con *c, int y, int wheel)
{
	struct launch *d = v->data;

	if (d->step == PICK)
		table_pointer(d->pick, y, wheel);
	else if (wheel != 0) {
		d->scroll += wheel;
		if (d->scroll < 0)
			d->scroll = 0;
	}
}

static void
launch_filter(struct view *v, struct con *c, const char *f)
{
	struct launch *d = v->data;

	table_set_filter(d->pick, f);
}

static void
launch_free(struct view *v)
{
	struct launch *d = v->data;

	table_free(d->pick);
	free(d->path);
	strv_free(d->sets);
	free(d->stage);
	free(d->plan);
	strv_free(d->hosts);
	free(d->task_name);
	free(d);
}

static const struct view_ops launch_ops = {
	.name = "launch",
	.draw = launch_draw,
	.key = launch_key,
	.filter = launch_filter,
	.free = launch_free,
	.help = keys,
	.click = launch_click,
};

struct view *
view_launch_new(struct con *c, const char *path)
{
	struct view *v = xcalloc(1, sizeof *v);
	struct launch *d = xcalloc(1, sizeof *d);

	d->pick = table_new(pick_cols, (int)nitems(pick_cols));
	v->ops = &launch_ops;
	v->data = d;
	if (path != NULL)
		set_path(d, path);
	else
		pick_fill(d);
	return v;
}
