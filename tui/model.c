/*
 * model.c - what the console shows, read from the store: the task list,
 * the open task (summary, hosts with straggler ratios and telemetry, the
 * audit log, the state and why in one line) and its chart series (one per
 * host name, across attempts, loaded incrementally by host and seq so a
 * long history never holds up the loop). The views read this; they never
 * touch SQL. The engine writes the store; this only reads it.
 */
#include "console.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "store.h"

/* One host of the open task, in any attempt. */
struct mhost {
	int64_t id;
	int attempt;
	int64_t seq;			/* the last metric seq loaded */
	size_t line;			/* its series */
	int done;			/* ended, and nothing more to load */
};

struct model {
	struct store *s;
	char *error;
	json_t *tasks;
	struct model_task task;
	int open;

	struct mhost *hosts;
	size_t nhosts;
	char **names;			/* per series line */
	struct series **series[2];	/* loss, step time */
	size_t nlines;
	int64_t *att_min;		/* per attempt number: first step */
	size_t natt;
	int64_t *markers;
	size_t nmarkers;
	uint64_t points;
	size_t next;			/* where the next load starts */
};

struct model *
model_new(struct store *s)
{
	struct model *m = xcalloc(1, sizeof *m);

	m->s = s;
	return m;
}

static void
model_close_task(struct model *m)
{
	size_t i;

	json_decref(m->task.summary);
	json_decref(m->task.hosts);
	json_decref(m->task.audit);
	memset(&m->task, 0, sizeof m->task);
	for (i = 0; i < m->nlines; i++) {
		free(m->names[i]);
		series_free(m->series[0][i]);
		series_free(m->series[1][i]);
	}
	free(m->names);
	free(m->series[0]);
	free(m->series[1]);
	free(m->hosts);
	free(m->att_min);
	free(m->markers);
	m->names = NULL;
	m->series[0] = m->series[1] = NULL;
	m->hosts = NULL;
	m->att_min = m->markers = NULL;
	m->nlines = m->nhosts = m->natt = m->nmarkers = 0;
	m->points = 0;
	m->next = 0;
	m->open = 0;
}

void
model_free(struct model *m)
{
	if (m == NULL)
		return;
	model_close_task(m);
	json_decref(m->tasks);
	free(m->error);
	free(m);
}

static void
model_set_error(struct model *m, char *cause)
{
	free(m->error);
	m->error = cause;
}

const char *
model_error(const struct model *m)
{
	return m->error;
}

const json_t *
model_tasks(const struct model *m)
{
	return m->tasks;
}

const struct model_task *
model_task(const struct model *m)
{
	return m->open ? &m->task : NULL;
}

struct store *
model_store(const struct model *m)
{
	return m->s;
}

uint64_t
model_points(const struct model *m)
{
	return m->points;
}

/* Replaces *slot with v (taken over); 1 when it differs. */
static int
swap_json(json_t **slot, json_t *v)
{
	int changed = *slot == NULL || !json_equal(*slot, v);

	json_decref(*slot);
	*slot = v;
	return changed;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void
model_hosts_straggler(json_t *hosts)
{
	size_t i, j, n = json_array_size(hosts), k;
	double *v = xcalloc(n + 1, sizeof *v), mine, med;
	json_t *h, *st, *o;

	json_array_foreach(hosts, i, h) {
		st = json_object_get(json_object_get(h, "metric"),
		    "step_time_ms");
		if (!json_is_number(st) || json_number_value(st) <= 0)
			continue;
		mine = json_number_value(st);
		for (j = k = 0; j < n; j++) {
			o = json_object_get(json_object_get(
			    json_array_get(hosts, j), "metric"),
			    "step_time_ms");
			if (j != i && json_is_number(o) &&
			    json_number_value(o) > 0)
				v[k++] = json_number_value(o);
		}
		if (k == 0)
			continue;
		qsort(v, k, sizeof *v, cmp_double);
		med = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
		json_object_set_new(h, "straggler", json_real(mine / med));
	}
	free(v);
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

static int
state_in(const char *state, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(state, *set) == 0)
			return 1;
	return 0;
}

/* The first host in one of the states, and how many are. */
static const json_t *
hosts_in(const json_t *hosts, const char *const *set, int *count)
{
	const json_t *h, *first = NULL;
	size_t i;

	*count = 0;
	json_array_foreach(hosts, i, h) {
		if (!state_in(jstr(h, "state"), set))
			continue;
		if (first == NULL)
			first = h;
		(*count)++;
	}
	return first;
}

void
model_task_why(const json_t *sum, const json_t *hosts, const json_t *audit,
    int64_t attempt_id, char *buf, size_t len)
{
	static const char *const waiting[] = { "pending", "connecting",
	    "pushing", "starting", NULL };
	static const char *const stalled[] = { "stalled", NULL };
	static const char *const lost[] = { "lost", NULL };
	static const char *const failed[] = { "failed", "unreachable", NULL };
	static const char *const up[] = { "running", "stalled", NULL };
	const char *state = jstr(sum, "state"), *root = NULL;
	const json_t *h, *a;
	size_t i;
	int n, total = (int)json_array_size(hosts), nup;

	json_array_foreach(audit, i, a) {
		if (strcmp(jstr(a, "kind"), "root_cause") == 0 &&
		    json_integer_value(json_object_get(a, "attempt_id")) ==
		    attempt_id)
			root = jstr(a, "reason");
	}
	hosts_in(hosts, up, &nup);
	if (*state == '\0') {
		snprintf(buf, len, "no attempt yet");
	} else if (strcmp(state, "failed") == 0 && root != NULL) {
		/* The engine's reason already says what it is. */
		snprintf(buf, len, "%s%s", strncmp(root, "gang failure", 12) ==
		    0 ? "" : "gang failure: ", root);
	} else if ((h = hosts_in(hosts, failed, &n)) != NULL &&
	    strcmp(state, "running") != 0) {
		snprintf(buf, len, "%s: %d of %d hosts failed; %s: %s", state, n,
		    total, jstr(h, "host"), *jstr(h, "reason") ? jstr(h,
		    "reason") : jstr(h, "state"));
	} else if ((h = hosts_in(hosts, stalled, &n)) != NULL) {
		snprintf(buf, len, "stalled: %s on %s%s", *jstr(h, "reason") ?
		    jstr(h, "reason") : "no progress", jstr(h, "host"),
		    n > 1 ? " (and others)" : "");
	} else if ((h = hosts_in(hosts, lost, &n)) != NULL) {
		snprintf(buf, len, "lost: %d host%s silent, %s: %s", n,
		    n > 1 ? "s" : "", jstr(h, "host"), jstr(h, "reason"));
	} else if ((h = hosts_in(hosts, waiting, &n)) != NULL) {
		snprintf(buf, len, "waiting: %d host%s %s (%d of %d up)", n,
		    n > 1 ? "s" : "", jstr(h, "state"), nup, total);
	} else if (strcmp(state, "running") == 0) {
		snprintf(buf, len, "running: %d of %d hosts up", nup, total);
	} else {
		snprintf(buf, len, "%s", state);
	}
}

/* The host's telemetry devices, by host id. */
static void
hosts_add_devices(json_t *hosts, const json_t *tele)
{
	const json_t *t, *h;
	size_t i, j;

	json_array_foreach(tele, i, t) {
		json_array_foreach(hosts, j, h) {
			if (json_integer_value(json_object_get(h, "id")) ==
			    json_integer_value(json_object_get(t, "host_id")))
				json_object_set((json_t *)h, "devices",
				    json_object_get(t, "devices"));
		}
	}
}

static size_t
model_line(struct model *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nlines; i++)
		if (strcmp(m->names[i], name) == 0)
			return i;
	m->names = xreallocarray(m->names, m->nlines + 1, sizeof *m->names);
	m->series[0] = xreallocarray(m->series[0], m->nlines + 1,
	    sizeof *m->series[0]);
	m->series[1] = xreallocarray(m->series[1], m->nlines + 1,
	    sizeof *m->series[1]);
	m->names[m->nlines] = xstrdup(name);
	m->series[0][m->nlines] = series_new();
	m->series[1][m->nlines] = series_new();
	return m->nlines++;
}

/* New hosts (a relaunch's attempt) join the series lines by name. */
static int
model_refresh_hosts(struct model *m, char **cause)
{
	json_t *all, *h;
	size_t i, j;
	int64_t id;

	if (store_task_hosts(m->s, m->task.id, &all, cause) != 0)
		return -1;
	json_array_foreach(all, i, h) {
		id = json_integer_value(json_object_get(h, "id"));
		for (j = 0; j < m->nhosts; j++)
			if (m->hosts[j].id == id)
				break;
		if (j == m->nhosts) {
			m->hosts = xreallocarray(m->hosts, m->nhosts + 1,
			    sizeof *m->hosts);
			memset(&m->hosts[j], 0, sizeof m->hosts[j]);
			m->hosts[j].id = id;
			m->hosts[j].attempt = (int)json_integer_value(
			    json_object_get(h, "attempt"));
			m->hosts[j].line = model_line(m, jstr(h, "host"));
			m->nhosts++;
		}
		/* Anything may still arrive until the host has ended. */
		m->hosts[j].done = 0;
	}
	json_decref(all);
	return 0;
}

static int
model_refresh_task(struct model *m, char **cause)
{
	json_t *sum = NULL, *hosts = NULL, *audit = NULL, *tele = NULL;
	int64_t attempt = 0;
	int changed = 0;
	char why[sizeof m->task.why];

	if (store_task_summary(m->s, m->task.id, &sum, cause) != 0 ||
	    store_attempt_latest(m->s, m->task.id, &attempt, cause) != 0 ||
	    store_audit_list(m->s, m->task.id, &audit, cause) != 0)
		goto fail;
	if (attempt != 0) {
		if (store_attempt_hosts(m->s, attempt, &hosts, cause) != 0 ||
		    store_telemetry_latest(m->s, attempt, &tele, cause) != 0)
			goto fail;
		model_hosts_straggler(hosts);
		hosts_add_devices(hosts, tele);
		json_decref(tele);
	} else
		hosts = json_array();
	if (attempt != m->task.attempt_id) {
		m->task.attempt_id = attempt;
		changed = 1;
	}
	model_task_why(sum, hosts, audit, attempt, why, sizeof why);
	if (strcmp(why, m->task.why) != 0) {
		snprintf(m->task.why, sizeof m->task.why, "%s", why);
		changed = 1;
	}
	changed |= swap_json(&m->task.summary, sum);
	changed |= swap_json(&m->task.hosts, hosts);
	changed |= swap_json(&m->task.audit, audit);
	if (model_refresh_hosts(m, cause) != 0)
		return -1;
	return changed;
fail:
	json_decref(sum);
	json_decref(hosts);
	json_decref(audit);
	return -1;
}

int
model_refresh(struct model *m)
{
	json_t *list = NULL, *rev;
	char *cause = NULL;
	size_t i, n;
	int changed, r;

	if (store_tasks_list(m->s, &list, &cause) != 0) {
		model_set_error(m, cause);
		return -1;
	}
	rev = json_array();
	n = json_array_size(list);
	for (i = n; i > 0; i--)
		json_array_append(rev, json_array_get(list, i - 1));
	json_decref(list);
	changed = swap_json(&m->tasks, rev);
	if (m->open) {
		if ((r = model_refresh_task(m, &cause)) < 0) {
			model_set_error(m, cause);
			return -1;
		}
		changed |= r;
	}
	return changed;
}

int
model_open_task(struct model *m, int64_t task_id)
{
	char *cause = NULL;

	if (m->open && m->task.id == task_id)
		return 0;
	model_close_task(m);
	m->task.id = task_id;
	m->open = 1;
	if (model_refresh_task(m, &cause) < 0) {
		model_set_error(m, cause);
		model_close_task(m);
		return -1;
	}
	return 0;
}

struct load {
	struct model *m;
	struct mhost *h;
};

static int
load_metric(const struct store_metric *sm, void *arg)
{
	struct load *l = arg;
	struct model *m = l->m;
	struct mhost *h = l->h;
	size_t a = (size_t)h->attempt;

	if (sm->has & STORE_HAS_LOSS)
		series_add(m->series[0][h->line], sm->step, sm->loss);
	if (sm->has & STORE_HAS_STEP_TIME)
		series_add(m->series[1][h->line], sm->step, sm->step_time_ms);
	if (a >= m->natt) {
		m->att_min = xreallocarray(m->att_min, a + 1,
		    sizeof *m->att_min);
		while (m->natt <= a)
			m->att_min[m->natt++] = INT64_MAX;
	}
	if (sm->step < m->att_min[a])
		m->att_min[a] = sm->step;
	h->seq = sm->seq;
	m->points++;
	return 0;
}

int
model_load_series(struct model *m, size_t budget)
{
	struct load l;
	char *cause = NULL;
	size_t i, k, more = 0;
	int n;

	if (!m->open || m->nhosts == 0)
		return 0;
	l.m = m;
	for (k = 0; k < m->nhosts && budget > 0; k++) {
		i = (m->next + k) % m->nhosts;
		l.h = &m->hosts[i];
		if (l.h->done)
			continue;
		n = store_metrics_host(m->s, l.h->id, l.h->seq, budget,
		    load_metric, &l, &cause);
		if (n < 0) {
			model_set_error(m, cause);
			return -1;
		}
		budget -= (size_t)n;
		if (budget == 0) {
			m->next = i;	/* this host may have more */
			more = 1;
		} else
			l.h->done = 1;	/* until the next refresh */
	}
	/* Relaunch markers: where each later attempt began. */
	free(m->markers);
	m->markers = xcalloc(m->natt + 1, sizeof *m->markers);
	m->nmarkers = 0;
	for (i = 2; i < m->natt; i++)
		if (m->att_min[i] != INT64_MAX)
			m->markers[m->nmarkers++] = m->att_min[i];
	return more ? 1 : 0;
}

size_t
model_series(const struct model *m, int metric,
    const struct series *const **lines, const char *const **labels)
{
	*lines = (const struct series *const *)m->series[metric != 0];
	*labels = (const char *const *)m->names;
	return m->nlines;
}

size_t
model_markers(const struct model *m, const int64_t **steps)
{
	*steps = m->markers;
	return m->nmarkers;
}
