/*
 * store_read.c - what the CLI and the console read from the store: finding
 * a task, task summaries (`drover ls`, `--json`), an attempt's hosts with
 * their latest metric, the metrics export walk, the latest telemetry and the
 * audit log. Works on read-only stores; several statements that make one
 * answer run in one read snapshot.
 *
 * Non-finite values come back as the trainer sent them: NaN/Inf doubles in
 * struct store_metric, and "nan", "inf", "-inf" strings in JSON (the wire
 * protocol's convention, docs/protocol.md).
 */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "store_int.h"

/* ---- metric rows --------------------------------------------------------- */

static int
read_null(sqlite3_stmt *q, int c)
{
	return sqlite3_column_type(q, c) == SQLITE_NULL;
}

/* Sets the values `nonfinite` ({"loss":"nan",...}) names. */
static void
read_nonfinite(const char *text, struct store_metric *m)
{
	static const struct {
		const char *name;
		size_t off;
		unsigned bit;
	} f[] = {
		{ "loss", offsetof(struct store_metric, loss), STORE_HAS_LOSS },
		{ "lr", offsetof(struct store_metric, lr), STORE_HAS_LR },
		{ "step_time_ms", offsetof(struct store_metric, step_time_ms),
		    STORE_HAS_STEP_TIME },
		{ "samples_per_s", offsetof(struct store_metric,
		    samples_per_s), STORE_HAS_SAMPLES },
	};
	json_t *o = json_loads(text, 0, NULL);
	double d;
	size_t i;

	for (i = 0; i < nitems(f); i++) {
		if (proto_get_number(o, f[i].name, &d) == 0) {
			*(double *)(void *)((char *)m + f[i].off) = d;
			m->has |= f[i].bit;
		}
	}
	json_decref(o);
}

/* Decodes STORE_METRIC_COLS starting at column c; strings are borrowed
 * from the statement's current row. */
static void
read_metric(sqlite3_stmt *q, int c, struct store_metric *m)
{
	m->seq = sqlite3_column_int64(q, c);
	m->t = sqlite3_column_int64(q, c + 1);
	m->rank = read_null(q, c + 2) ? -1 : sqlite3_column_int(q, c + 2);
	m->step = sqlite3_column_int64(q, c + 3);
	m->has = 0;
	m->total_steps = m->epoch = -1;
	m->loss = m->lr = m->step_time_ms = m->samples_per_s = NAN;
	if (!read_null(q, c + 4)) {
		m->total_steps = sqlite3_column_int64(q, c + 4);
		m->has |= STORE_HAS_TOTAL;
	}
	if (!read_null(q, c + 5)) {
		m->epoch = sqlite3_column_int64(q, c + 5);
		m->has |= STORE_HAS_EPOCH;
	}
	if (!read_null(q, c + 6)) {
		m->loss = sqlite3_column_double(q, c + 6);
		m->has |= STORE_HAS_LOSS;
	}
	if (!read_null(q, c + 7)) {
		m->lr = sqlite3_column_double(q, c + 7);
		m->has |= STORE_HAS_LR;
	}
	if (!read_null(q, c + 8)) {
		m->step_time_ms = sqlite3_column_double(q, c + 8);
		m->has |= STORE_HAS_STEP_TIME;
	}
	if (!read_null(q, c + 9)) {
		m->samples_per_s = sqlite3_column_double(q, c + 9);
		m->has |= STORE_HAS_SAMPLES;
	}
	if (!read_null(q, c + 10))
		read_nonfinite(store_col_text(q, c + 10), m);
	m->extras = store_col_text(q, c + 11);
}

static void
read_set_number(json_t *o, const char *key, int has, double v)
{
	if (has)
		proto_set_number(o, key, v);
	else
		json_object_set_new(o, key, json_null());
}

static json_t *
read_metric_json(const struct store_metric *m)
{
	json_t *o, *extras;

	o = json_pack("{s:I, s:I, s:i, s:I}", "seq", (json_int_t)m->seq,
	    "t", (json_int_t)m->t, "rank", m->rank, "step",
	    (json_int_t)m->step);
	json_object_set_new(o, "total_steps", m->has & STORE_HAS_TOTAL ?
	    json_integer(m->total_steps) : json_null());
	json_object_set_new(o, "epoch", m->has & STORE_HAS_EPOCH ?
	    json_integer(m->epoch) : json_null());
	read_set_number(o, "loss", m->has & STORE_HAS_LOSS, m->loss);
	read_set_number(o, "lr", m->has & STORE_HAS_LR, m->lr);
	read_set_number(o, "step_time_ms", m->has & STORE_HAS_STEP_TIME,
	    m->step_time_ms);
	read_set_number(o, "samples_per_s", m->has & STORE_HAS_SAMPLES,
	    m->samples_per_s);
	extras = m->extras != NULL ? json_loads(m->extras, 0, NULL) : NULL;
	json_object_set_new(o, "extras", extras != NULL ? extras :
	    json_null());
	return o;
}

/* The host's latest metric (by seq) into *m; 0 none, 1 found, -1 error
 * (rc set). The row stays current in the statement until the next call. */
static int
read_metric_latest(struct store *s, int64_t host_id, struct store_metric *m,
    int *rc)
{
	sqlite3_stmt *q;

	if ((q = store_stmt(s, Q_METRIC_LATEST)) == NULL) {
		*rc = store_errcode(s);
		return -1;
	}
	sqlite3_bind_int64(q, 1, host_id);
	if ((*rc = sqlite3_step(q)) == SQLITE_ROW) {
		read_metric(q, 0, m);
		m->host_id = host_id;
		return 1;
	}
	sqlite3_reset(q);
	return *rc == SQLITE_DONE ? 0 : -1;
}

/* ---- tasks --------------------------------------------------------------- */

static int
read_task_exists(struct store *s, int64_t id, int *rc)
{
	sqlite3_stmt *q;

	if ((q = store_stmt(s, Q_TASK_GET)) == NULL) {
		*rc = store_errcode(s);
		return -1;
	}
	sqlite3_bind_int64(q, 1, id);
	*rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (*rc == SQLITE_ROW)
		return 1;
	return *rc == SQLITE_DONE ? 0 : -1;
}

static int
read_parse_id(const char *p, int64_t *id)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (*end != '\0' || errno != 0 || v <= 0)
		return -1;
	*id = v;
	return 0;
}

int
store_task_find(struct store *s, const char *ref, int64_t *task_id,
    char **cause)
{
	sqlite3_stmt *q;
	int64_t id;
	int rc, found;

	*task_id = 0;
	if (ref[0] == '#') {
		if (read_parse_id(ref + 1, &id) != 0) {
			xasprintf(cause, "%s: not a task id (#1, #2, ...)",
			    ref);
			return -1;
		}
		if ((found = read_task_exists(s, id, &rc)) == -1)
			goto fail;
		if (!found) {
			xasprintf(cause, "no task %s; `drover ls` lists the "
			    "tasks", ref);
			return -1;
		}
		*task_id = id;
		return 0;
	}
	if ((q = store_stmt(s, Q_TASK_BY_NAME)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	sqlite3_bind_text(q, 1, ref, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		*task_id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		goto fail;
	if (read_parse_id(ref, &id) == 0) {
		if ((found = read_task_exists(s, id, &rc)) == -1)
			goto fail;
		if (found) {
			*task_id = id;
			return 0;
		}
	}
	xasprintf(cause, "no task named %s; `drover ls` lists the tasks", ref);
	return -1;
fail:
	*cause = store_err(s, rc, "looking up a task");
	return -1;
}

/* The latest value of one metric field over an attempt's hosts. */
struct read_latest {
	int has;
	int64_t t;
	double v;
};

static void
read_latest_take(struct read_latest *l, int has, int64_t t, double v)
{
	if (has && (!l->has || t > l->t)) {
		l->has = 1;
		l->t = t;
		l->v = v;
	}
}

/* The summary's attempt part: state, hosts, the latest metric values. */
static int
read_summary_attempt(struct store *s, int64_t aid, json_t *o, int64_t *ended)
{
	struct read_latest loss = { 0 }, lr = { 0 }, st = { 0 }, sps = { 0 };
	struct store_metric m;
	sqlite3_stmt *q;
	json_t *states = json_object(), *v;
	int64_t best_step = -1, total = -1, hid;
	const char *state;
	int rc, up = 0, n = 0;

	if ((q = store_stmt(s, Q_ATTEMPT_GET)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, aid);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		sqlite3_reset(q);
		json_decref(states);
		return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
	}
	json_object_set_new(o, "attempt", json_integer(sqlite3_column_int(q,
	    1)));
	json_object_set_new(o, "attempt_id", json_integer(aid));
	json_object_set_new(o, "stage", json_string(store_col_text(q, 2)));
	json_object_set_new(o, "state", json_string(store_col_text(q, 3)));
	*ended = read_null(q, 5) ? 0 : sqlite3_column_int64(q, 5);
	sqlite3_reset(q);

	if ((q = store_stmt(s, Q_HOSTS_OF)) == NULL) {
		json_decref(states);
		return store_errcode(s);
	}
	sqlite3_bind_int64(q, 1, aid);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		hid = sqlite3_column_int64(q, 0);
		state = store_col_text(q, 6);
		v = json_object_get(states, state);
		json_object_set_new(states, state, json_integer(1 +
		    json_integer_value(v)));
		up += strcmp(state, "running") == 0 ||
		    strcmp(state, "stalled") == 0;
		n++;
		switch (read_metric_latest(s, hid, &m, &rc)) {
		case -1:
			sqlite3_reset(q);
			json_decref(states);
			return rc;
		case 1:
			if (m.step > best_step) {
				best_step = m.step;
				total = m.has & STORE_HAS_TOTAL ?
				    m.total_steps : -1;
			}
			read_latest_take(&loss, m.has & STORE_HAS_LOSS, m.t,
			    m.loss);
			read_latest_take(&lr, m.has & STORE_HAS_LR, m.t, m.lr);
			read_latest_take(&st, m.has & STORE_HAS_STEP_TIME, m.t,
			    m.step_time_ms);
			read_latest_take(&sps, m.has & STORE_HAS_SAMPLES, m.t,
			    m.samples_per_s);
			sqlite3_reset(s->q[Q_METRIC_LATEST]);
			break;
		}
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		json_decref(states);
		return rc;
	}
	json_object_set_new(o, "hosts", json_pack("{s:i, s:i, s:o}", "total",
	    n, "up", up, "states", states));
	json_object_set_new(o, "step", best_step >= 0 ?
	    json_integer(best_step) : json_null());
	json_object_set_new(o, "total_steps", total >= 0 ? json_integer(total) :
	    json_null());
	read_set_number(o, "loss", loss.has, loss.v);
	read_set_number(o, "lr", lr.has, lr.v);
	read_set_number(o, "step_time_ms", st.has, st.v);
	read_set_number(o, "samples_per_s", sps.has, sps.v);
	return SQLITE_DONE;
}

/* One task's summary; NULL with *rc (SQLITE_DONE: no such task). */
static json_t *
read_summary(struct store *s, int64_t task_id, int *rc)
{
	static const char *const nulls[] = {
		"attempt", "attempt_id", "stage", "step", "total_steps", "loss",
		"lr", "step_time_ms", "samples_per_s", "started", "ended",
		"duration_s",
	};
	sqlite3_stmt *q;
	json_t *o, *stages, *sets;
	int64_t aid = 0, started, ended = 0;
	size_t i;

	if ((q = store_stmt(s, Q_TASK_GET)) == NULL) {
		*rc = store_errcode(s);
		return NULL;
	}
	sqlite3_bind_int64(q, 1, task_id);
	if ((*rc = sqlite3_step(q)) != SQLITE_ROW) {
		sqlite3_reset(q);
		return NULL;
	}
	stages = json_loads(store_col_text(q, 3), 0, NULL);
	sets = json_loads(store_col_text(q, 5), 0, NULL);
	if (!json_is_array(sets)) {
		json_decref(sets);
		sets = json_array();
	}
	o = json_pack("{s:I, s:s, s:s?, s:I, s:o, s:o}", "id",
	    (json_int_t)task_id, "name", store_col_text(q, 1), "config_path",
	    store_col_text(q, 2), "created", (json_int_t)sqlite3_column_int64(q,
	    4), "stages", stages != NULL ? stages : json_array(), "config_sets",
	    sets);
	sqlite3_reset(q);
	for (i = 0; i < nitems(nulls); i++)
		json_object_set_new(o, nulls[i], json_null());
	json_object_set_new(o, "state", json_string("new"));
	json_object_set_new(o, "hosts", json_pack("{s:i, s:i, s:{}}", "total",
	    0, "up", 0, "states"));

	if ((q = store_stmt(s, Q_ATTEMPT_LATEST)) == NULL)
		goto fail;
	sqlite3_bind_int64(q, 1, task_id);
	if ((*rc = sqlite3_step(q)) == SQLITE_ROW)
		aid = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (*rc != SQLITE_ROW && *rc != SQLITE_DONE)
		goto out;
	*rc = SQLITE_DONE;
	if (aid == 0)
		return o;
	if ((*rc = read_summary_attempt(s, aid, o, &ended)) != SQLITE_DONE)
		goto out;
	if ((q = store_stmt(s, Q_ATTEMPT_FIRST)) == NULL)
		goto fail;
	sqlite3_bind_int64(q, 1, task_id);
	if ((*rc = sqlite3_step(q)) != SQLITE_ROW) {
		sqlite3_reset(q);
		goto out;
	}
	started = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	*rc = SQLITE_DONE;
	json_object_set_new(o, "started", json_integer(started));
	if (ended != 0)
		json_object_set_new(o, "ended", json_integer(ended));
	json_object_set_new(o, "duration_s", json_real((double)((ended != 0 ?
	    ended : clock_wall_ms()) - started) / 1000.0));
	return o;
fail:
	*rc = store_errcode(s);
out:
	json_decref(o);
	return NULL;
}

int
store_task_summary(struct store *s, int64_t task_id, json_t **out,
    char **cause)
{
	int began = store_read_begin(s), rc;

	*out = read_summary(s, task_id, &rc);
	/* The message first: ending the read transaction clears it. */
	if (*out == NULL && rc == SQLITE_DONE)
		xasprintf(cause, "no task #%lld", (long long)task_id);
	else if (*out == NULL)
		*cause = store_err(s, rc, "reading a task's summary");
	store_read_end(s, began);
	return *out != NULL ? 0 : -1;
}

int
store_tasks_list(struct store *s, json_t **out, char **cause)
{
	sqlite3_stmt *q;
	json_t *a, *o;
	int began = store_read_begin(s), rc;

	*out = NULL;
	a = json_array();
	if ((q = store_stmt(s, Q_TASKS_ALL)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((o = read_summary(s, sqlite3_column_int64(q, 0), &rc)) ==
		    NULL) {
			sqlite3_reset(q);
			goto fail;
		}
		json_array_append_new(a, o);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto fail;
	store_read_end(s, began);
	*out = a;
	return 0;
fail:
	*cause = store_err(s, rc, "listing the tasks");
	store_read_end(s, began);
	json_decref(a);
	return -1;
}

/* ---- attempts and hosts -------------------------------------------------- */

int
store_attempt_latest(struct store *s, int64_t task_id, int64_t *attempt_id,
    char **cause)
{
	sqlite3_stmt *q;
	int rc;

	*attempt_id = 0;
	if ((q = store_stmt(s, Q_ATTEMPT_LATEST)) == NULL) {
		*cause = store_err(s, store_errcode(s), "reading attempts");
		return -1;
	}
	sqlite3_bind_int64(q, 1, task_id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		*attempt_id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*cause = store_err(s, rc, "reading attempts");
		return -1;
	}
	return 0;
}

int
store_attempt_hosts(struct store *s, int64_t attempt_id, json_t **out,
    char **cause)
{
	struct store_metric m;
	sqlite3_stmt *q;
	json_t *a, *h;
	int began = store_read_begin(s), rc, r;

	*out = NULL;
	a = json_array();
	if ((q = store_stmt(s, Q_HOSTS_OF)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	sqlite3_bind_int64(q, 1, attempt_id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		h = json_pack("{s:I, s:s, s:i, s:i, s:i, s:s, s:s, s:s?, s:I,"
		    " s:i}", "id", (json_int_t)sqlite3_column_int64(q, 0),
		    "host", store_col_text(q, 1),
		    "node_rank", sqlite3_column_int(q, 2),
		    "rank_first", sqlite3_column_int(q, 3),
		    "nprocs", sqlite3_column_int(q, 4),
		    "run_dir", store_col_text(q, 5),
		    "state", store_col_text(q, 6),
		    "reason", store_col_text(q, 7),
		    "cursor", (json_int_t)sqlite3_column_int64(q, 8),
		    "launches", sqlite3_column_int(q, 10));
		json_object_set_new(h, "drained",
		    json_boolean(sqlite3_column_int(q, 11)));
		json_object_set_new(h, "last_seen", read_null(q, 9) ?
		    json_null() : json_integer(sqlite3_column_int64(q, 9)));
		if (!json_is_string(json_object_get(h, "reason")))
			json_object_set_new(h, "reason", json_null());
		json_array_append_new(a, h);
		r = read_metric_latest(s, sqlite3_column_int64(q, 0), &m, &rc);
		if (r == -1) {
			sqlite3_reset(q);
			goto fail;
		}
		json_object_set_new(h, "metric", r == 1 ? read_metric_json(&m) :
		    json_null());
		if (r == 1)
			sqlite3_reset(s->q[Q_METRIC_LATEST]);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto fail;
	store_read_end(s, began);
	*out = a;
	return 0;
fail:
	*cause = store_err(s, rc, "reading an attempt's hosts");
	store_read_end(s, began);
	json_decref(a);
	return -1;
}

int
store_host_cursor(struct store *s, int64_t host_id, int64_t *cursor,
    char **cause)
{
	sqlite3_stmt *q;
	int rc;

	*cursor = 0;
	if ((q = store_stmt(s, Q_HOST_CURSOR)) == NULL) {
		*cause = store_err(s, store_errcode(s), "reading a cursor");
		return -1;
	}
	sqlite3_bind_int64(q, 1, host_id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		*cursor = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		xasprintf(cause, "no host #%lld in the database",
		    (long long)host_id);
	else
		*cause = store_err(s, rc, "reading a cursor");
	return -1;
}

/* ---- metrics export ------------------------------------------------------ */

int
store_metrics_each(struct store *s, int64_t task_id, const char *host,
    store_metric_fn fn, void *arg, char **cause)
{
	static const char sql[] = "SELECT a.id, a.number, h.id, h.host, "
	    STORE_METRIC_COLS " FROM attempts a"
	    " JOIN attempt_hosts h ON h.attempt_id = a.id"
	    " JOIN metrics m ON m.host_id = h.id"
	    " WHERE a.task_id = ?1 AND (?2 IS NULL OR h.host = ?2)"
	    " ORDER BY a.number, h.node_rank, h.id, m.rank, m.step, m.seq";
	struct store_metric m;
	sqlite3_stmt *q;
	int began, rc, ret = 0;

	/* Its own statement: a callback may read the store meanwhile. */
	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL)) != SQLITE_OK) {
		*cause = store_err(s, rc, "exporting metrics");
		return -1;
	}
	began = store_read_begin(s);
	sqlite3_bind_int64(q, 1, task_id);
	store_bind_text(q, 2, host);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		m.attempt_id = sqlite3_column_int64(q, 0);
		m.attempt = sqlite3_column_int(q, 1);
		m.host_id = sqlite3_column_int64(q, 2);
		m.host = store_col_text(q, 3);
		read_metric(q, 4, &m);
		if ((ret = fn(&m, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		*cause = store_err(s, rc, "exporting metrics");
		ret = -1;
	}
	sqlite3_finalize(q);
	store_read_end(s, began);
	return ret;
}

/* ---- the console's incremental reads ------------------------------------- */

int
store_task_hosts(struct store *s, int64_t task_id, json_t **out, char **cause)
{
	static const char sql[] = "SELECT h.id, h.host, a.number, a.id,"
	    " h.node_rank, h.state FROM attempts a"
	    " JOIN attempt_hosts h ON h.attempt_id = a.id"
	    " WHERE a.task_id = ?1 ORDER BY a.number, h.node_rank, h.id";
	sqlite3_stmt *q;
	int began, rc;

	*out = NULL;
	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL)) != SQLITE_OK) {
		*cause = store_err(s, rc, "reading the task's hosts");
		return -1;
	}
	began = store_read_begin(s);
	sqlite3_bind_int64(q, 1, task_id);
	*out = json_array();
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(*out, json_pack("{s:I, s:s, s:i, s:I, "
		    "s:i, s:s}", "id", (json_int_t)sqlite3_column_int64(q, 0),
		    "host", store_col_text(q, 1), "attempt",
		    sqlite3_column_int(q, 2), "attempt_id",
		    (json_int_t)sqlite3_column_int64(q, 3), "node_rank",
		    sqlite3_column_int(q, 4), "state", store_col_text(q, 5)));
	if (rc != SQLITE_DONE) {
		*cause = store_err(s, rc, "reading the task's hosts");
		json_decref(*out);
		*out = NULL;
	}
	sqlite3_finalize(q);
	store_read_end(s, began);
	return *out != NULL ? 0 : -1;
}

int
store_metrics_host(struct store *s, int64_t host_id, int64_t after_seq,
    size_t limit, store_metric_fn fn, void *arg, char **cause)
{
	static const char sql[] = "SELECT " STORE_METRIC_COLS
	    " FROM metrics WHERE host_id = ?1 AND seq > ?2"
	    " ORDER BY seq LIMIT ?3";
	struct store_metric m;
	sqlite3_stmt *q;
	int began, rc, n = 0;

	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL)) != SQLITE_OK) {
		*cause = store_err(s, rc, "reading metrics");
		return -1;
	}
	began = store_read_begin(s);
	sqlite3_bind_int64(q, 1, host_id);
	sqlite3_bind_int64(q, 2, after_seq);
	sqlite3_bind_int64(q, 3, limit > INT64_MAX ? INT64_MAX :
	    (int64_t)limit);
	memset(&m, 0, sizeof m);
	m.host_id = host_id;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		read_metric(q, 0, &m);
		n++;
		if (fn(&m, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		*cause = store_err(s, rc, "reading metrics");
		n = -1;
	}
	sqlite3_finalize(q);
	store_read_end(s, began);
	return n;
}

/* ---- telemetry and audit ------------------------------------------------- */

static json_t *
read_device(sqlite3_stmt *q)
{
	static const char *const cols[] = {
		"util_pct", "mem_used_mb", "mem_total_mb", "temp_c", "power_w",
	};
	json_t *d, *extras;
	size_t i;

	d = json_pack("{s:I}", "index", (json_int_t)sqlite3_column_int64(q, 3));
	for (i = 0; i < nitems(cols); i++) {
		if (!read_null(q, (int)i + 4))
			json_object_set_new(d, cols[i],
			    json_real(sqlite3_column_double(q, (int)i + 4)));
	}
	if (!read_null(q, 9) &&
	    (extras = json_loads(store_col_text(q, 9), 0, NULL)) != NULL) {
		json_object_update_missing(d, extras);
		json_decref(extras);
	}
	return d;
}

int
store_telemetry_latest(struct store *s, int64_t attempt_id, json_t **out,
    char **cause)
{
	sqlite3_stmt *hq, *q;
	json_t *a, *h, *devs;
	const char *src;
	int began = store_read_begin(s), rc;

	*out = NULL;
	a = json_array();
	if ((hq = store_stmt(s, Q_HOSTS_OF)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	sqlite3_bind_int64(hq, 1, attempt_id);
	while ((rc = sqlite3_step(hq)) == SQLITE_ROW) {
		if ((q = store_stmt(s, Q_TELEMETRY_LATEST)) == NULL) {
			rc = store_errcode(s);
			sqlite3_reset(hq);
			goto fail;
		}
		sqlite3_bind_int64(q, 1, sqlite3_column_int64(hq, 0));
		h = NULL;
		devs = NULL;
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			if (h == NULL) {
				src = store_col_text(q, 2);
				devs = json_array();
				h = json_pack("{s:I, s:s, s:I, s:I, s:s?, s:o}",
				    "host_id",
				    (json_int_t)sqlite3_column_int64(hq, 0),
				    "host", store_col_text(hq, 1),
				    "seq",
				    (json_int_t)sqlite3_column_int64(q, 0),
				    "t", (json_int_t)sqlite3_column_int64(q, 1),
				    "source", src, "devices", devs);
				json_array_append_new(a, h);
			}
			json_array_append_new(devs, read_device(q));
		}
		sqlite3_reset(q);
		if (rc != SQLITE_DONE) {
			sqlite3_reset(hq);
			goto fail;
		}
	}
	sqlite3_reset(hq);
	if (rc != SQLITE_DONE)
		goto fail;
	store_read_end(s, began);
	*out = a;
	return 0;
fail:
	*cause = store_err(s, rc, "reading telemetry");
	store_read_end(s, began);
	json_decref(a);
	return -1;
}

static json_t *
read_text_or_null(sqlite3_stmt *q, int c)
{
	return read_null(q, c) ? json_null() :
	    json_string(store_col_text(q, c));
}

static json_t *
read_id_or_null(sqlite3_stmt *q, int c)
{
	return read_null(q, c) ? json_null() :
	    json_integer(sqlite3_column_int64(q, c));
}

int
store_audit_list(struct store *s, int64_t task_id, json_t **out,
    char **cause)
{
	static const char *const keys[] = {
		"id", "t", "attempt", "attempt_id", "host", "host_id", "kind",
		"actor", "from", "to", "reason",
	};
	sqlite3_stmt *q;
	json_t *a, *o, *data;
	size_t i;
	int rc, type;

	*out = NULL;
	a = json_array();
	if ((q = store_stmt(s, Q_AUDIT_OF)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	sqlite3_bind_int64(q, 1, task_id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		o = json_object();
		for (i = 0; i < nitems(keys); i++) {
			type = sqlite3_column_type(q, (int)i);
			json_object_set_new(o, keys[i], type == SQLITE_TEXT ?
			    read_text_or_null(q, (int)i) :
			    read_id_or_null(q, (int)i));
		}
		data = read_null(q, 11) ? NULL :
		    json_loads(store_col_text(q, 11), JSON_DECODE_ANY, NULL);
		json_object_set_new(o, "data", data != NULL ? data :
		    json_null());
		json_array_append_new(a, o);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		goto fail;
	*out = a;
	return 0;
fail:
	*cause = store_err(s, rc, "reading the audit log");
	json_decref(a);
	return -1;
}
