/*
 * console_cmd.c - what the console does, as opposed to what it shows: the
 * engine it runs (following every running attempt, as `drover watch`
 * does), the `:` commands, and the actions behind the views' keys —
 * launch, stop, relaunch into the attempt, restart all as a new attempt
 * with resume, exports. Every destructive action is confirmed first with
 * exactly the hosts it touches. Nothing here waits: a restart that must
 * first stop the survivors continues from the engine's "done" report.
 */
#include "console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "con_int.h"
#include "config.h"
#include "engine.h"
#include "store.h"

#define STOP_GRACE_S	30

/* A restart of every host waiting for the survivors to stop. */
struct con_pending {
	int64_t task;
	int64_t attempt;
	struct config *cfg;
};

/* ---- the engine's reports ---------------------------------------------- */

/* "task #T attempt #N" for the attempt's database id (each task counts
 * its attempts from 1); the id itself when the model does not know it. */
static const char *
attempt_name(struct con *c, int64_t attempt_id)
{
	static char buf[64];
	const json_t *t;
	size_t i;

	json_array_foreach(model_tasks(c->model), i, t)
		if (json_integer_value(json_object_get(t, "attempt_id")) ==
		    attempt_id) {
			snprintf(buf, sizeof buf, "task #%lld attempt #%lld",
			    (long long)json_integer_value(json_object_get(t,
			    "id")), (long long)json_integer_value(
			    json_object_get(t, "attempt")));
			return buf;
		}
	snprintf(buf, sizeof buf, "attempt (id %lld)", (long long)attempt_id);
	return buf;
}

static void
con_note_cb(const char *host, const char *state, const char *reason,
    void *arg)
{
	struct con *c = arg;
	struct con_note *n;

	if (host == NULL) {
		con_message(c, 0, "%s", reason != NULL ? reason : "");
	} else {
		n = &c->notes[c->nnotes++ % nitems(c->notes)];
		snprintf(n->host, sizeof n->host, "%s", host);
		snprintf(n->state, sizeof n->state, "%s", state != NULL ?
		    state : "");
		snprintf(n->reason, sizeof n->reason, "%s", reason != NULL ?
		    reason : "");
	}
	con_soon(c);
}

const struct con_note *
con_host_note(const struct con *c, const char *host)
{
	size_t i, n = c->nnotes < nitems(c->notes) ? c->nnotes :
	    nitems(c->notes);
	const struct con_note *note;

	for (i = 0; i < n; i++) {
		note = &c->notes[(c->nnotes - 1 - i) % nitems(c->notes)];
		if (strcmp(note->host, host) == 0)
			return note;
	}
	return NULL;
}

static void
pending_free(struct con_pending *p)
{
	if (p == NULL)
		return;
	config_free(p->cfg);
	free(p);
}

static void
relaunch_go(struct con *c, struct con_pending *p)
{
	struct engine_launch l;
	char *cause = NULL;

	memset(&l, 0, sizeof l);
	l.cfg = p->cfg;
	p->cfg = NULL;			/* the engine takes it */
	l.resume = 1;
	l.task_id = p->task;
	l.parent_attempt = p->attempt;
	l.reason = "relaunch --all";
	if (engine_launch(c->engine, &l, &cause) != 0) {
		con_message(c, 1, "restart: %s", cause);
		free(cause);
	} else
		con_message(c, 0, "restarting every host as a new attempt "
		    "with resume");
	pending_free(p);
}

static void
con_done_cb(int64_t attempt, const char *state, void *arg)
{
	struct con *c = arg;
	struct con_pending *p = c->pending;

	con_message(c, strcmp(state, "succeeded") != 0 &&
	    strcmp(state, "stopped") != 0, "%s %s", attempt_name(c, attempt),
	    state);
	if (p != NULL && p->attempt == attempt) {
		c->pending = NULL;
		relaunch_go(c, p);
	}
	con_soon(c);
}

static void
con_started_cb(int64_t attempt, int started, int failed, void *arg)
{
	struct con *c = arg;

	if (attempt == 0)
		con_message(c, 1, "the launch was aborted; nothing started");
	else
		con_message(c, failed > 0, "%s: %d host%s started, "
		    "%d failed", attempt_name(c, attempt), started,
		    started == 1 ? "" : "s", failed);
	con_soon(c);
}

void
con_engine_start(struct con *c)
{
	struct engine_opts eo;
	char *cause = NULL;

	engine_opts_init(&eo);
	eo.note = con_note_cb;
	eo.done = con_done_cb;
	eo.started = con_started_cb;
	eo.arg = c;
	c->engine = engine_new(c->loop, c->store, &eo);
	/* Follow everything that runs, from the stored cursors. */
	if (engine_resume(c->engine, 0, &cause) < 0) {
		con_message(c, 1, "following the running tasks: %s", cause);
		free(cause);
	}
}

void
con_engine_stop(struct con *c)
{
	pending_free(c->pending);
	c->pending = NULL;
	engine_free(c->engine);
	c->engine = NULL;
}

/* ---- helpers ------------------------------------------------------------- */

int64_t
con_task(struct con *c)
{
	size_t i;

	for (i = c->nviews; i > 0; i--)
		if (c->views[i - 1]->task_id != 0)
			return c->views[i - 1]->task_id;
	return 0;
}

static int
need_engine(struct con *c)
{
	if (c->engine != NULL)
		return 1;
	con_message(c, 1, "read-only: another drover holds the database; "
	    "stop it or use the CLI");
	return 0;
}

/* The task's latest attempt and its hosts (a new array); NULL when it
 * cannot be read, said on the status line after "what: ". */
static json_t *
task_hosts(struct con *c, int64_t task, int64_t *attempt, const char *what)
{
	json_t *hosts = NULL;
	char *cause = NULL;

	if (store_attempt_latest(c->store, task, attempt, &cause) == 0) {
		if (*attempt == 0)
			xasprintf(&cause, "the task has no attempt");
		else if (store_attempt_hosts(c->store, *attempt, &hosts,
		    &cause) == 0)
			return hosts;
	}
	con_message(c, 1, "%s: %s", what, cause);
	free(cause);
	return NULL;
}

char *
con_join(char *const *v, size_t max)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; v != NULL && v[i] != NULL; i++) {
		if (i > 0)
			buf_add(&b, ", ", 2);
		if (i == max) {
			buf_add(&b, "...", 3);
			break;
		}
		buf_add(&b, v[i], strlen(v[i]));
	}
	buf_add(&b, "", 1);
	return (char *)buf_steal(&b);
}

/* "a, b, c" of the hosts whose state is in states (NULL: all); *n gets
 * how many. */
static char *
host_list(const json_t *hosts, const char *const *states, int *n)
{
	struct buf b;
	const json_t *h;
	const char *st;
	size_t i, j;
	int in;

	buf_init(&b);
	*n = 0;
	json_array_foreach(hosts, i, h) {
		st = json_string_value(json_object_get(h, "state"));
		for (j = 0, in = states == NULL; !in && states[j] != NULL; j++)
			in = st != NULL && strcmp(st, states[j]) == 0;
		if (!in)
			continue;
		if (*n > 0)
			buf_add(&b, ", ", 2);
		if (*n == 24) {
			buf_add(&b, "...", 3);
		} else if (*n < 24) {
			st = json_string_value(json_object_get(h, "host"));
			buf_add(&b, st, strlen(st));
		}
		(*n)++;
	}
	buf_add(&b, "", 1);
	return (char *)buf_steal(&b);
}

static const char *const live_states[] = { "pending", "connecting",
    "pushing", "starting", "running", "stalled", "lost", NULL };

/* ---- stop ---------------------------------------------------------------- */

struct stop_arg {
	int64_t task, attempt;
};

static void
stop_yes(struct con *c, void *arg)
{
	struct stop_arg *s = arg;
	char *cause = NULL;

	if (engine_resume(c->engine, s->task, &cause) < 0 ||
	    engine_stop(c->engine, s->attempt, STOP_GRACE_S, &cause) != 0) {
		con_message(c, 1, "stop: %s", cause != NULL ? cause :
		    "the attempt is not running");
		free(cause);
		return;
	}
	con_message(c, 0, "stopping %s: SIGTERM now, SIGKILL after %d s",
	    attempt_name(c, s->attempt), STOP_GRACE_S);
	con_soon(c);
}

void
con_stop_task(struct con *c, int64_t task)
{
	struct stop_arg *s;
	json_t *hosts;
	char *list, *text;
	int64_t attempt;
	int n;

	if (!need_engine(c))
		return;
	if ((hosts = task_hosts(c, task, &attempt, "stop")) == NULL)
		return;
	list = host_list(hosts, live_states, &n);
	json_decref(hosts);
	if (n == 0) {
		con_message(c, 1, "stop: no host of %s is running",
		    attempt_name(c, attempt));
		free(list);
		return;
	}
	xasprintf(&text, "Stop %s on %d host%s:\n"
	    "  %s\nEach gets SIGTERM, then SIGKILL after %d s. The task can "
	    "be relaunched later.", attempt_name(c, attempt), n,
	    n == 1 ? "" : "s", list, STOP_GRACE_S);
	s = xcalloc(1, sizeof *s);
	s->task = task;
	s->attempt = attempt;
	con_confirm(c, text, stop_yes, s, free);
	free(text);
	free(list);
}

/* ---- relaunch into the attempt ------------------------------------------- */

struct relaunch_arg {
	int64_t task, attempt;
	char **hosts;
};

static void
relaunch_arg_free(void *arg)
{
	struct relaunch_arg *r = arg;

	strv_free(r->hosts);
	free(r);
}

static void
relaunch_hosts_yes(struct con *c, void *arg)
{
	struct relaunch_arg *r = arg;
	char *cause = NULL;

	if (engine_load(c->engine, r->task, r->attempt, &cause) != 0 ||
	    engine_relaunch_hosts(c->engine, r->attempt,
	    (const char *const *)r->hosts, &cause) != 0) {
		con_message(c, 1, "relaunch: %s", cause);
		free(cause);
		return;
	}
	con_message(c, 0, "relaunching %zu host%s into %s",
	    strv_len(r->hosts), strv_len(r->hosts) == 1 ? "" : "s",
	    attempt_name(c, r->attempt));
	con_soon(c);
}

static int
budget_ok(struct con *c, int64_t task, const struct config *cfg)
{
	char *why = NULL;
	int64_t wait = 0;
	int r;

	if (cfg == NULL)
		return 1;
	if ((r = engine_restart_budget(c->store, task, cfg, &wait, &why)) == 1)
		return 1;
	con_message(c, 1, "relaunch: %s; %s", why != NULL ? why : "error",
	    wait > 0 ? "wait, or use `drover relaunch --force`" :
	    "`drover relaunch --force` goes beyond it");
	free(why);
	return 0;
}

/* The task's config file as it is now, with the task's --set overrides;
 * NULL (said why) when it has none or it does not load. */
static struct config *
task_config(struct con *c, int64_t task)
{
	struct config *cfg;
	json_t *sum = NULL;
	char *cause = NULL;

	if (store_task_summary(c->store, task, &sum, &cause) != 0) {
		con_message(c, 1, "%s", cause);
		free(cause);
		return NULL;
	}
	if ((cfg = config_load_task(sum, NULL, 0, &cause)) != NULL)
		;
	else if (cause == NULL)
		con_message(c, 1, "the task has no config file to relaunch "
		    "from");
	else {
		/* The first error line is enough for the status line. */
		con_message(c, 1, "%.*s", (int)strcspn(cause, "\n"), cause);
		free(cause);
	}
	json_decref(sum);
	return cfg;
}

void
con_relaunch_hosts(struct con *c, int64_t task, char **hosts)
{
	static const char *const failed[] = { "failed", NULL };
	struct relaunch_arg *r;
	struct config *cfg;
	json_t *all;
	char *list, *text;
	int64_t attempt;
	int n;

	if (!need_engine(c))
		return;
	if ((all = task_hosts(c, task, &attempt, "relaunch")) == NULL)
		return;
	/* No marks: every failed host, named in the box. */
	if (hosts == NULL || hosts[0] == NULL)
		list = host_list(all, failed, &n);
	else {
		list = con_join(hosts, 24);
		n = (int)strv_len(hosts);
	}
	json_decref(all);
	if (n == 0) {
		con_message(c, 1, "relaunch: no failed host in %s; mark hosts "
		    "with space", attempt_name(c, attempt));
		free(list);
		return;
	}
	cfg = task_config(c, task);
	if (!budget_ok(c, task, cfg)) {
		config_free(cfg);
		free(list);
		return;
	}
	config_free(cfg);
	r = xcalloc(1, sizeof *r);
	r->task = task;
	r->attempt = attempt;
	r->hosts = hosts != NULL && hosts[0] != NULL ? strv_dup(hosts) : NULL;
	xasprintf(&text, "Relaunch %d host%s into %s (same node ranks, rank "
	    "table and spec):\n  %s\nThe other hosts are not touched.", n,
	    n == 1 ? "" : "s", attempt_name(c, attempt), list);
	con_confirm(c, text, relaunch_hosts_yes, r, relaunch_arg_free);
	free(text);
	free(list);
}

/* ---- restart all as a new attempt with resume ---------------------------- */

static void
relaunch_all_yes(struct con *c, void *arg)
{
	struct con_pending *p = arg, *mine;
	char *cause = NULL;
	int n;

	if (store_request_relaunch(c->store, p->attempt, STORE_RELAUNCH_ATTEMPT,
	    NULL, 0, engine_actor(), "relaunch --all", &cause) != 0) {
		con_message(c, 1, "relaunch: %s", cause);
		free(cause);
		return;
	}
	/* The confirmation frees its argument: take a copy. */
	mine = xcalloc(1, sizeof *mine);
	*mine = *p;
	p->cfg = NULL;
	if ((n = engine_resume(c->engine, p->task, &cause)) < 0) {
		con_message(c, 1, "relaunch: %s", cause);
		free(cause);
		pending_free(mine);
		return;
	}
	if (n > 0 && engine_stop(c->engine, p->attempt, STOP_GRACE_S,
	    &cause) == 0) {
		/* Survivors first; con_done_cb goes on. */
		pending_free(c->pending);
		c->pending = mine;
		con_message(c, 0, "stopping the survivors of %s, then "
		    "restarting every host", attempt_name(c, p->attempt));
		return;
	}
	free(cause);
	relaunch_go(c, mine);
}

static void
pending_free_arg(void *arg)
{
	pending_free(arg);
}

void
con_relaunch_all(struct con *c, int64_t task, char **exclude, char **replace)
{
	struct con_pending *p;
	struct config *cfg;
	json_t *all;
	char *cause = NULL, *live, *text, *hosts;
	int64_t attempt;
	int n;

	if (!need_engine(c))
		return;
	if ((all = task_hosts(c, task, &attempt, "relaunch")) == NULL)
		return;
	live = host_list(all, live_states, &n);
	json_decref(all);
	if ((cfg = task_config(c, task)) == NULL) {
		free(live);
		return;
	}
	if (config_hosts_edit(cfg, replace, strv_len(replace), exclude,
	    strv_len(exclude), &cause) != 0 || !budget_ok(c, task, cfg)) {
		if (cause != NULL)
			con_message(c, 1, "relaunch: %s", cause);
		free(cause);
		free(live);
		config_free(cfg);
		return;
	}
	hosts = con_join(cfg->cluster.hosts, 24);
	if (n > 0)
		xasprintf(&text, "Restart task #%lld as a new attempt with its "
		    "resume arguments.\nFirst stop the %d running host%s of "
		    "%s (SIGTERM, SIGKILL after %d s):\n  %s\n"
		    "Then start %zu host%s:\n  %s", (long long)task, n,
		    n == 1 ? "" : "s", attempt_name(c, attempt), STOP_GRACE_S,
		    live,
		    cfg->cluster.nhosts, cfg->cluster.nhosts == 1 ? "" : "s",
		    hosts);
	else
		xasprintf(&text, "Restart task #%lld as a new attempt with its "
		    "resume arguments (%s has ended).\nStart %zu "
		    "host%s:\n  %s", (long long)task, attempt_name(c, attempt),
		    cfg->cluster.nhosts, cfg->cluster.nhosts == 1 ? "" : "s",
		    hosts);
	p = xcalloc(1, sizeof *p);
	p->task = task;
	p->attempt = attempt;
	p->cfg = cfg;
	con_confirm(c, text, relaunch_all_yes, p, pending_free_arg);
	free(text);
	free(hosts);
	free(live);
}

/* ---- launch and export -------------------------------------------------- */

struct config *
con_config_load(const char *path, char *const *sets, char **cause)
{
	struct cfg_override *ov;
	struct config *cfg;
	size_t i, n = strv_len(sets);
	const char *eq;

	ov = xcalloc(n + 1, sizeof *ov);
	for (i = 0; i < n; i++) {
		if ((eq = strchr(sets[i], '=')) == NULL) {
			xasprintf(cause, "--set %s: expected KEY=VALUE",
			    sets[i]);
			n = i;
			cfg = NULL;
			goto out;
		}
		ov[i].path = xstrndup(sets[i], (size_t)(eq - sets[i]));
		ov[i].value = eq + 1;
	}
	cfg = config_load(path, ov, n, cause);
out:
	for (i = 0; i < n; i++)
		free((char *)ov[i].path);
	free(ov);
	return cfg;
}

int
con_config_stage(const struct config *cfg, const char *stage, size_t *i,
    char **cause)
{
	for (*i = 0; stage != NULL && *i < cfg->nstages; (*i)++)
		if (strcmp(cfg->stages[*i].name, stage) == 0)
			return 0;
	if (stage == NULL) {
		*i = 0;
		return 0;
	}
	xasprintf(cause, "%s: no stage \"%s\"", cfg->path, stage);
	return -1;
}

int
con_launch(struct con *c, const char *path, char *const *sets,
    const char *stage, char **cause)
{
	struct engine_launch l;
	struct config *cfg;
	int r;

	if (c->engine == NULL) {
		xasprintf(cause, "read-only: another drover holds the "
		    "database");
		return -1;
	}
	if ((cfg = con_config_load(path, sets, cause)) == NULL)
		return -1;
	memset(&l, 0, sizeof l);
	if (con_config_stage(cfg, stage, &l.stage, cause) != 0) {
		config_free(cfg);
		return -1;
	}
	l.cfg = cfg;
	l.reason = "launch";
	r = engine_launch(c->engine, &l, cause);
	con_soon(c);
	return r;
}

int
con_export_metrics(struct con *c, int64_t task, const char *format,
    const char *path, char **cause)
{
	char *tmp;
	FILE *f;
	int r;

	xasprintf(&tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	r = metrics_write(c->store, task, NULL, strcmp(format, "csv") == 0,
	    f, cause);
	if (fclose(f) != 0 && r == 0) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		r = -1;
	}
	if (r == 0 && rename(tmp, path) != 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		r = -1;
	}
	if (r != 0)
		unlink(tmp);
	free(tmp);
	return r;
}

/* ---- `:` commands ---------------------------------------------------------- */

static void
cmd_export(struct con *c, int64_t task, char **argv, int argc)
{
	char *cause = NULL;
	int r;

	if (argc != 3) {
		con_message(c, 1, "usage: export csv|jsonl|svg|png FILE");
		return;
	}
	if (strcmp(argv[1], "csv") == 0 || strcmp(argv[1], "jsonl") == 0)
		r = con_export_metrics(c, task, argv[1], argv[2], &cause);
	else if (strcmp(argv[1], "svg") == 0 || strcmp(argv[1], "png") == 0)
		r = chart_export_task(c, task, argv[1], argv[2], &cause);
	else {
		con_message(c, 1, "export %s: expected csv, jsonl, svg or png",
		    argv[1]);
		return;
	}
	if (r != 0) {
		con_message(c, 1, "export: %s", cause);
		free(cause);
	} else
		con_message(c, 0, "exported task #%lld's %s to %s",
		    (long long)task, strcmp(argv[1], "svg") == 0 ||
		    strcmp(argv[1], "png") == 0 ? "loss chart" : "metrics",
		    argv[2]);
}

/* Words of the line, split on blanks (no quoting: paths with spaces go
 * through the launch view). */
static int
split_words(char *line, char **argv, int max)
{
	int n = 0;
	char *save = NULL, *w;

	for (w = strtok_r(line, " \t", &save); w != NULL && n < max;
	    w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	return n;
}

void
con_command(struct con *c, const char *text)
{
	char *line = xstrdup(text), *argv[32], *ex[16], *rp[16];
	struct view *v = con_top(c);
	int64_t task = con_task(c), id;
	int argc = split_words(line, argv, (int)nitems(argv)) , i, ne = 0,
	    nr = 0;
	char *cause = NULL;

	if (argc == 0)
		goto out;
	if (v != NULL && v->ops->command != NULL &&
	    v->ops->command(v, c, argv, argc))
		goto out;
	if (strcmp(argv[0], "q") == 0 || strcmp(argv[0], "quit") == 0) {
		c->quit_noted = 1;
		c->quit = 1;
		loop_stop(c->loop);
	} else if (strcmp(argv[0], "tasks") == 0) {
		while (c->nviews > 1)
			con_pop(c);
	} else if (strcmp(argv[0], "launch") == 0) {
		con_push(c, view_launch_new(c, argc > 1 ? argv[1] : NULL));
	} else if (strcmp(argv[0], "open") == 0 && argc == 2) {
		if (store_task_find(c->store, argv[1], &id, &cause) != 0) {
			con_message(c, 1, "%s", cause);
			free(cause);
		} else
			con_push(c, view_task_new(c, id));
	} else if (task == 0) {
		con_message(c, 1, "%s: open a task first (or :open TASK)",
		    argv[0]);
	} else if (strcmp(argv[0], "stop") == 0) {
		con_stop_task(c, task);
	} else if (strcmp(argv[0], "relaunch") == 0) {
		if (argc == 1)
			con_push(c, view_relaunch_new(c, task));
		else if (strcmp(argv[1], "failed") == 0)
			con_relaunch_hosts(c, task, NULL);
		else if (strcmp(argv[1], "all") == 0) {
			for (i = 2; i + 1 < argc && ne < 15 && nr < 15; i += 2) {
				if (strcmp(argv[i], "exclude") == 0)
					ex[ne++] = argv[i + 1];
				else if (strcmp(argv[i], "replace") == 0)
					rp[nr++] = argv[i + 1];
				else
					break;
			}
			ex[ne] = rp[nr] = NULL;
			if (i != argc)
				con_message(c, 1, "usage: relaunch all [exclude "
				    "HOST]... [replace OLD=NEW]...");
			else
				con_relaunch_all(c, task, ex, rp);
		} else
			con_message(c, 1, "usage: relaunch [failed | all ...]");
	} else if (strcmp(argv[0], "export") == 0) {
		cmd_export(c, task, argv, argc);
	} else if (strcmp(argv[0], "chart") == 0) {
		con_push(c, view_chart_new(c, task));
	} else if (strcmp(argv[0], "events") == 0) {
		con_push(c, view_events_new(c, task));
	} else if (strcmp(argv[0], "logs") == 0) {
		con_push(c, view_logs_new(c, task, argc > 1 ? argv[1] : NULL,
		    argc > 2 ? strtol(argv[2], NULL, 10) : -1));
	} else
		con_message(c, 1, "unknown command :%s (? lists them)",
		    argv[0]);
out:
	free(line);
}
