/*
 * store_ingest.c - exactly-once ingest of the events an agent spooled
 * (docs/protocol.md "Events"): one transaction per batch stores the events
 * that follow the host's cursor and moves the cursor with them, so a crash
 * at any instant leaves the rows and the cursor in step and the engine
 * re-attaches from the cursor.
 *
 * Each known type goes to its table (metric, telemetry, ckpt, log, state).
 * A type this drover does not know, or a known one lacking what its table
 * needs (a metric without a step), is kept whole in raw_events: no event
 * with a seq is ever dropped. This is the hot path of the head node; it
 * walks each event's keys once and builds no JSON unless there are extras.
 */
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "store_int.h"

#define MALFORMED	(-1)	/* not fit for its table: keep it raw */

/*
 * A number as the protocol sends it: 0 and *d for a finite one, 1 and *nf
 * ("nan", "inf", "-inf") for a non-finite one, -1 for anything else.
 */
static int
ingest_number(const json_t *v, double *d, const char **nf)
{
	const char *str;

	if (json_is_real(v) || json_is_integer(v)) {
		*d = json_number_value(v);
		if (isfinite(*d))
			return 0;
		*nf = isnan(*d) ? "nan" : *d > 0 ? "inf" : "-inf";
		return 1;
	}
	if (!json_is_string(v))
		return -1;
	str = json_string_value(v);
	if (strcmp(str, "nan") == 0 || strcmp(str, "inf") == 0 ||
	    strcmp(str, "-inf") == 0) {
		*nf = str;
		return 1;
	}
	return -1;
}

static void
ingest_bind_t(sqlite3_stmt *q, int i, const json_t *ev)
{
	const json_t *t = json_object_get(ev, "t");

	if (json_is_integer(t))
		sqlite3_bind_int64(q, i, json_integer_value(t));
	else
		sqlite3_bind_null(q, i);
}

static void
ingest_bind_int(sqlite3_stmt *q, int i, const json_t *v)
{
	if (json_is_integer(v))
		sqlite3_bind_int64(q, i, json_integer_value(v));
	else
		sqlite3_bind_null(q, i);
}

static void
ingest_bind_str(sqlite3_stmt *q, int i, const json_t *v)
{
	if (json_is_string(v))
		sqlite3_bind_text(q, i, json_string_value(v),
		    (int)json_string_length(v), SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

/* Binds JSON text (or NULL) that the statement must copy. */
static void
ingest_bind_json(sqlite3_stmt *q, int i, const json_t *o)
{
	char *text;

	if (o == NULL) {
		sqlite3_bind_null(q, i);
		return;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		fatalx("store: cannot encode an event as JSON");
	sqlite3_bind_text(q, i, text, -1, free);
}

/* Keys of a metric event, by the column they go to. */
enum {
	MF_EXTRA, MF_SKIP, MF_RANK, MF_STEP, MF_TOTAL, MF_EPOCH,
	MF_LOSS, MF_LR, MF_STEP_TIME, MF_SAMPLES
};

static int
ingest_metric_field(const char *k)
{
	switch (k[0]) {
	case 'a':
		return strcmp(k, "attempt") == 0 ? MF_SKIP : MF_EXTRA;
	case 'e':
		return strcmp(k, "epoch") == 0 ? MF_EPOCH : MF_EXTRA;
	case 'h':
		return strcmp(k, "host") == 0 ? MF_SKIP : MF_EXTRA;
	case 'l':
		if (strcmp(k, "loss") == 0)
			return MF_LOSS;
		return strcmp(k, "lr") == 0 ? MF_LR : MF_EXTRA;
	case 'n':
		return strcmp(k, "nonfinite") == 0 ? MF_SKIP : MF_EXTRA;
	case 'r':
		if (strcmp(k, "rank") == 0)
			return MF_RANK;
		return strcmp(k, "run") == 0 ? MF_SKIP : MF_EXTRA;
	case 's':
		if (strcmp(k, "step") == 0)
			return MF_STEP;
		if (strcmp(k, "step_time_ms") == 0)
			return MF_STEP_TIME;
		if (strcmp(k, "samples_per_s") == 0)
			return MF_SAMPLES;
		if (strcmp(k, "seq") == 0 || strcmp(k, "src") == 0 ||
		    strcmp(k, "stream") == 0)
			return MF_SKIP;
		return MF_EXTRA;
	case 't':
		if (k[1] == '\0' || strcmp(k, "type") == 0)
			return MF_SKIP;
		return strcmp(k, "total_steps") == 0 ? MF_TOTAL : MF_EXTRA;
	}
	return MF_EXTRA;
}

static const char *const ingest_metric_name[] = {
	[MF_LOSS] = "loss", [MF_LR] = "lr", [MF_STEP_TIME] = "step_time_ms",
	[MF_SAMPLES] = "samples_per_s",
};

/*
 * metrics: rank, step, total_steps, epoch and the four values have columns;
 * a non-finite value is NULL there and named in `nonfinite`; every other
 * key but the envelope (seq, t, type, src, ...) goes to `extras`.
 */
/* When the batch being ingested reached the store (unix ms). */
static int64_t ingest_now;

static int
ingest_metric(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	sqlite3_stmt *q;
	json_t *v, *extras = NULL;
	const char *key, *nfv;
	char nf[256];
	size_t nflen = 0;
	double d;
	int f, r, have_step = 0, rc;

	if ((q = store_stmt(s, Q_INS_METRIC)) == NULL)
		return store_errcode(s);
	sqlite3_clear_bindings(q);
	sqlite3_bind_int64(q, 1, hid);
	sqlite3_bind_int64(q, 2, seq);
	ingest_bind_t(q, 3, ev);
	sqlite3_bind_int64(q, 14, ingest_now);
	json_object_foreach(ev, key, v) {
		switch ((f = ingest_metric_field(key))) {
		case MF_SKIP:
			continue;
		case MF_RANK:
		case MF_STEP:
		case MF_TOTAL:
		case MF_EPOCH:
			if (!json_is_integer(v))
				break;
			/* rank 4, step 5, total_steps 6, epoch 7 */
			sqlite3_bind_int64(q, f - MF_RANK + 4,
			    json_integer_value(v));
			have_step |= f == MF_STEP;
			continue;
		case MF_LOSS:
		case MF_LR:
		case MF_STEP_TIME:
		case MF_SAMPLES:
			if ((r = ingest_number(v, &d, &nfv)) == 0) {
				/* loss 8, lr 9, step_time_ms 10, samples 11 */
				sqlite3_bind_double(q, f - MF_LOSS + 8, d);
				continue;
			}
			if (r == 1) {
				nflen += (size_t)snprintf(nf + nflen,
				    sizeof nf - nflen, "%s\"%s\":\"%s\"",
				    nflen == 0 ? "{" : ",",
				    ingest_metric_name[f], nfv);
				continue;
			}
			break;
		}
		if (extras == NULL)
			extras = json_object();
		json_object_set(extras, key, v);
	}
	if (!have_step) {
		json_decref(extras);
		sqlite3_clear_bindings(q);
		return MALFORMED;
	}
	if (nflen > 0) {
		snprintf(nf + nflen, sizeof nf - nflen, "}");
		sqlite3_bind_text(q, 12, nf, -1, SQLITE_TRANSIENT);
	}
	ingest_bind_json(q, 13, extras);
	json_decref(extras);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

/* telemetry: one row per device; the values beside the five known ones
 * (name, uuid, bus_id, health, chip, ...) go to `extras`. */
static int
ingest_telemetry(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	static const char *const cols[] = {
		"util_pct", "mem_used_mb", "mem_total_mb", "temp_c", "power_w",
	};
	json_t *devs = json_object_get(ev, "devices"), *d, *v, *extras;
	const char *key, *nfv;
	sqlite3_stmt *q;
	size_t i, c;
	double x;
	int rc;

	if (!json_is_array(devs) || json_array_size(devs) == 0)
		return MALFORMED;
	json_array_foreach(devs, i, d) {
		if (!json_is_object(d))
			return MALFORMED;
	}
	json_array_foreach(devs, i, d) {
		if ((q = store_stmt(s, Q_INS_TELEMETRY)) == NULL)
			return store_errcode(s);
		sqlite3_clear_bindings(q);
		sqlite3_bind_int64(q, 1, hid);
		sqlite3_bind_int64(q, 2, seq);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)i);
		ingest_bind_t(q, 4, ev);
		ingest_bind_str(q, 5, json_object_get(ev, "source"));
		sqlite3_bind_int64(q, 6, (sqlite3_int64)i);
		extras = NULL;
		json_object_foreach(d, key, v) {
			if (strcmp(key, "index") == 0 && json_is_integer(v)) {
				sqlite3_bind_int64(q, 6, json_integer_value(v));
				continue;
			}
			for (c = 0; c < nitems(cols); c++) {
				if (strcmp(key, cols[c]) == 0)
					break;
			}
			if (c < nitems(cols) &&
			    ingest_number(v, &x, &nfv) == 0) {
				sqlite3_bind_double(q, (int)c + 7, x);
				continue;
			}
			if (extras == NULL)
				extras = json_object();
			json_object_set(extras, key, v);
		}
		ingest_bind_json(q, 12, extras);
		json_decref(extras);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

static int
ingest_ckpt(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	json_t *path = json_object_get(ev, "path");
	sqlite3_stmt *q;
	int rc;

	if (!json_is_string(path))
		return MALFORMED;
	if ((q = store_stmt(s, Q_INS_CKPT)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, hid);
	sqlite3_bind_int64(q, 2, seq);
	ingest_bind_t(q, 3, ev);
	ingest_bind_int(q, 4, json_object_get(ev, "rank"));
	ingest_bind_str(q, 5, path);
	ingest_bind_int(q, 6, json_object_get(ev, "step"));
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

static int
ingest_log(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	json_t *line = json_object_get(ev, "line");
	sqlite3_stmt *q;
	int rc;

	if (!json_is_string(line))
		return MALFORMED;
	if ((q = store_stmt(s, Q_INS_LOG)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, hid);
	sqlite3_bind_int64(q, 2, seq);
	ingest_bind_t(q, 3, ev);
	ingest_bind_int(q, 4, json_object_get(ev, "rank"));
	ingest_bind_str(q, 5, json_object_get(ev, "level"));
	ingest_bind_str(q, 6, json_object_get(ev, "what"));
	ingest_bind_str(q, 7, json_object_get(ev, "stream"));
	ingest_bind_str(q, 8, line);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

/* state: the columns the engine looks things up by, and the whole event
 * (pid, code, signal, class, argv, ...) in `data`. */
static int
ingest_state(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	json_t *state = json_object_get(ev, "state");
	json_t *scope = json_object_get(ev, "scope");
	sqlite3_stmt *q;
	int rc;

	if (!json_is_string(state))
		return MALFORMED;
	if ((q = store_stmt(s, Q_INS_STATE)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, hid);
	sqlite3_bind_int64(q, 2, seq);
	ingest_bind_t(q, 3, ev);
	if (json_is_string(scope))
		ingest_bind_str(q, 4, scope);
	else
		sqlite3_bind_text(q, 4, "run", -1, SQLITE_STATIC);
	ingest_bind_int(q, 5, json_object_get(ev, "rank"));
	ingest_bind_str(q, 6, state);
	ingest_bind_str(q, 7, json_object_get(ev, "reason"));
	ingest_bind_json(q, 8, ev);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

static int
ingest_raw(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	json_t *type = json_object_get(ev, "type");
	sqlite3_stmt *q;
	int rc;

	if ((q = store_stmt(s, Q_INS_RAW)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, hid);
	sqlite3_bind_int64(q, 2, seq);
	ingest_bind_t(q, 3, ev);
	if (json_is_string(type))
		ingest_bind_str(q, 4, type);
	else
		sqlite3_bind_text(q, 4, "", 0, SQLITE_STATIC);
	ingest_bind_json(q, 5, ev);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

static int
ingest_event(struct store *s, int64_t hid, int64_t seq, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	int rc = MALFORMED;

	if (type == NULL)
		type = "";
	switch (type[0]) {
	case 'm':
		if (strcmp(type, "metric") == 0)
			rc = ingest_metric(s, hid, seq, ev);
		break;
	case 't':
		if (strcmp(type, "telemetry") == 0)
			rc = ingest_telemetry(s, hid, seq, ev);
		break;
	case 'c':
		if (strcmp(type, "ckpt") == 0)
			rc = ingest_ckpt(s, hid, seq, ev);
		break;
	case 'l':
		if (strcmp(type, "log") == 0)
			rc = ingest_log(s, hid, seq, ev);
		break;
	case 's':
		if (strcmp(type, "state") == 0)
			rc = ingest_state(s, hid, seq, ev);
		break;
	}
	if (rc == MALFORMED)
		rc = ingest_raw(s, hid, seq, ev);
	return rc;
}

int
store_ingest(struct store *s, int64_t hid, json_t *const *events, size_t n,
    int64_t *cursor, char **cause)
{
	sqlite3_stmt *q;
	json_t *js;
	int64_t cur, start, seq = 0;
	char host[256], what[512];
	size_t i;
	int rc, gap = 0, bad = 0;

	*cursor = 0;
	ingest_now = clock_wall_ms();
	if (store_tx_begin(s, 0, cause) != 0)
		return -1;
	if ((q = store_stmt(s, Q_HOST_CURSOR)) == NULL) {
		rc = store_errcode(s);
		snprintf(what, sizeof what, "reading the cursor of host #%lld",
		    (long long)hid);
		goto fail;
	}
	sqlite3_bind_int64(q, 1, hid);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		sqlite3_reset(q);
		if (rc == SQLITE_DONE) {
			store_tx_rollback(s);
			xasprintf(cause, "no host #%lld in the database; "
			    "events for it cannot be stored", (long long)hid);
			return -1;
		}
		snprintf(what, sizeof what, "reading the cursor of host #%lld",
		    (long long)hid);
		goto fail;
	}
	start = cur = sqlite3_column_int64(q, 0);
	snprintf(host, sizeof host, "%s", store_col_text(q, 1));
	sqlite3_reset(q);
	*cursor = start;

	for (i = 0; i < n; i++) {
		js = json_object_get(events[i], "seq");
		if (!json_is_integer(js)) {
			bad = 1;
			break;
		}
		seq = json_integer_value(js);
		if (seq <= cur)
			continue;	/* a re-attach's overlap */
		if (seq != cur + 1) {
			gap = 1;
			break;
		}
		if ((rc = ingest_event(s, hid, seq, events[i])) !=
		    SQLITE_DONE) {
			if ((rc & 0xff) == SQLITE_CONSTRAINT) {
				store_tx_rollback(s);
				xasprintf(cause, "%s: event %lld is already "
				    "stored though the host's cursor is %lld: "
				    "the database was changed outside drover; "
				    "nothing of this batch was stored", host,
				    (long long)seq, (long long)cur);
				return -1;
			}
			snprintf(what, sizeof what, "storing event %lld of %s",
			    (long long)seq, host);
			goto fail;
		}
		cur = seq;
	}
	if (cur != start) {
		if ((q = store_stmt(s, Q_HOST_CURSOR_SET)) != NULL) {
			sqlite3_bind_int64(q, 1, hid);
			sqlite3_bind_int64(q, 2, cur);
			sqlite3_bind_int64(q, 3, clock_wall_ms());
		}
		if ((rc = store_stmt_run(s, q)) != SQLITE_DONE) {
			snprintf(what, sizeof what, "moving the cursor of %s",
			    host);
			goto fail;
		}
	}
	snprintf(what, sizeof what, "storing events %lld-%lld of %s",
	    (long long)start + 1, (long long)cur, host);
	if (store_tx_commit(s, what, cause) != 0)
		return -1;
	*cursor = cur;
	if (gap) {
		xasprintf(cause, "%s: events %lld-%lld are missing (event %lld "
		    "came after %lld); stored through %lld; attach again from "
		    "there", host, (long long)cur + 1, (long long)seq - 1,
		    (long long)seq, (long long)cur, (long long)cur);
		return STORE_GAP;
	}
	if (bad) {
		xasprintf(cause, "%s: event %zu of the batch has no integer "
		    "seq; stored through %lld; the rest of the batch was "
		    "not stored", host, i + 1, (long long)cur);
		return -1;
	}
	return 0;
fail:
	*cause = store_err(s, rc, what);
	store_tx_rollback(s);
	return -1;
}
