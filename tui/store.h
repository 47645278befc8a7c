/*
 * store.h - the head node's SQLite database (tui/store.c), folder-private
 * to tui/: every task's configs, attempts and their lineage, the hosts of
 * each attempt with their ingest cursors, the events the agents spooled
 * (metrics, telemetry, checkpoints, mirrored logs, agent states, and any
 * event of a type this drover does not know, kept raw) and the audit log of
 * every decision.
 *
 * One writer (the engine) holds an exclusive lock on PATH.lock for the
 * store's life; any number of read-only stores may be open beside it (WAL).
 * Every function returns 0 or -1 and fills *cause (caller frees) unless it
 * says otherwise. Times are unix milliseconds.
 */
#ifndef DROVER_STORE_H
#define DROVER_STORE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <jansson.h>

#define STORE_RDONLY	0
#define STORE_RDWR	1

struct store;

/* $XDG_DATA_HOME/drover/drover.db, else ~/.local/share/drover/drover.db;
 * caller frees; NULL when there is no home directory to put it in. */
char *store_default_path(void);
/*
 * path NULL = store_default_path(). STORE_RDWR creates missing directories
 * (0700) and the file (0600), takes the writer lock and brings the schema up
 * to date; STORE_RDONLY creates nothing and takes no lock. A database whose
 * schema is newer than this program is refused in both modes.
 */
int store_open(const char *path, int mode, struct store **, char **cause);
void store_close(struct store *);	/* NULL is fine */
const char *store_path(const struct store *);
int store_schema_version(void);
/* The SQL of the migration to version v (1..store_schema_version()), NULL
 * for any other v or none: tests build older databases with it. */
const char *store_schema_sql(int v);
/* Changes whenever anything was committed to the database, by this store
 * or another process, since the last call's value. */
uint64_t store_version(struct store *);

/* ---- decisions (STORE_RDWR; each one transaction, synced in full, with
 * its audit row; actor is who decided: "user", "engine", ...) ---------- */

struct store_task_new {
	const char *name;
	const char *config_path;	/* may be NULL */
	const char *config_text;	/* may be NULL */
	const char *const *stages;	/* NULL-terminated; NULL = {"main"} */
	/* The --set overrides the config is loaded with again, in order: a
	 * JSON array of {"path", "value"} (strings; "dir" where the value
	 * held a relative path: config.h, struct config's overrides). NULL:
	 * none. Never a secret: the caller leaves those out. */
	const json_t *config_sets;
};
int store_task_create(struct store *, const struct store_task_new *,
    const char *actor, int64_t *task_id, char **cause);
/* Replaces the task's --set overrides (the list a relaunch --all extended),
 * with an audit row "config_sets" holding the new list. */
int store_task_set_config_sets(struct store *, int64_t task_id,
    const json_t *config_sets, const char *actor, char **cause);

struct store_attempt_new {
	int64_t task_id;
	const char *stage;
	int64_t parent_id;		/* 0: none (a first attempt) */
	const char *reason;		/* may be NULL */
	int resume;			/* started with the resume arguments */
};
/* The attempt's number (1, 2, ... per task) goes to *number (may be NULL). */
int store_attempt_create(struct store *, const struct store_attempt_new *,
    const char *actor, int64_t *attempt_id, int *number, char **cause);

struct store_host_new {
	const char *host;
	int node_rank;
	int rank_first;
	int nprocs;
	const char *run_dir;
};
/* Adds n hosts (state pending); host_ids[i] gets the id of hosts[i]. */
int store_hosts_add(struct store *, int64_t attempt_id,
    const struct store_host_new *hosts, size_t n, const char *actor,
    int64_t *host_ids, char **cause);

/*
 * Host states: pending connecting pushing starting running stalled lost
 * succeeded failed stopped unreachable. *from (may be NULL) gets the state
 * it left (a static string). Setting the state and reason it already has
 * changes nothing and writes no row. The attempt's state is derived from
 * its hosts' and recorded (with its own audit row) when it changes.
 */
int store_host_set_state(struct store *, int64_t host_id, const char *state,
    const char *reason, const char *actor, const char **from, char **cause);
int store_host_state_valid(const char *);
/* One more launch of the host's processes (its `launches` count), decided
 * before its agent is asked to run: a drover killed while the agent
 * starts has counted it. */
int store_host_launch(struct store *, int64_t host_id, const char *actor,
    const char *reason, char **cause);
/* The host set to `starting` and one more launch, in one transaction:
 * the decision to start its agent, recorded whole or not at all. */
int store_host_start(struct store *, int64_t host_id, const char *actor,
    const char *reason, char **cause);
/* The host's agent said everything of its run was sent and stored (its
 * attach ended with the run); a launch clears it. Not a decision: no audit
 * row. */
int store_host_set_drained(struct store *, int64_t host_id, int drained,
    char **cause);
/* host_id 0: every host of the attempt. */
int store_request_stop(struct store *, int64_t attempt_id, int64_t host_id,
    int grace_s, const char *actor, const char *reason, char **cause);
enum store_relaunch {
	STORE_RELAUNCH_HOSTS,		/* these hosts, into the same attempt */
	STORE_RELAUNCH_ATTEMPT,		/* every host, as a new attempt */
};
/* One audit row per host named (n 0: one row for the attempt). */
int store_request_relaunch(struct store *, int64_t attempt_id,
    enum store_relaunch, const int64_t *host_ids, size_t n,
    const char *actor, const char *reason, char **cause);

/* Any other audit row; attempt_id / host_id 0 = none; data may be NULL. */
struct store_audit {
	int64_t task_id;
	int64_t attempt_id;
	int64_t host_id;
	const char *kind;
	const char *actor;
	const char *from;
	const char *to;
	const char *reason;
	const json_t *data;
};
int store_audit_add(struct store *, const struct store_audit *, char **cause);

/* ---- ingest (STORE_RDWR) ------------------------------------------------- */

#define STORE_GAP	1
/*
 * Stores, in one transaction, every event whose seq is cursor+1, cursor+2,
 * ... and moves the host's cursor (the last seq stored) with them. Events
 * with seq <= cursor are duplicates and skipped. *cursor gets the host's
 * cursor after the call, whatever it returns.
 * Returns 0 when every event was stored or skipped; STORE_GAP when an event
 * with seq > cursor+1 came: what came before it is stored and *cause says
 * where the gap is (attach again from *cursor); -1 on an error: nothing of
 * this batch is stored (an event without an integer seq ends the batch the
 * same way a gap does, but returns -1).
 */
int store_ingest(struct store *, int64_t host_id, json_t *const *events,
    size_t n, int64_t *cursor, char **cause);

/* ---- reads --------------------------------------------------------------- */

/* "#ID", a name (the newest task with it) or, failing that, a number. */
int store_task_find(struct store *, const char *ref, int64_t *task_id,
    char **cause);
/*
 * A task's summary, as a new JSON object: id, name, created, stages,
 * config_path, config_sets (its --set overrides, [] when none), attempt
 * (number), attempt_id, stage, state (of the latest
 * attempt), hosts {total, up, states {STATE: count}}, step, total_steps,
 * loss, lr, step_time_ms, samples_per_s (the latest values; non-finite ones
 * as "nan", "inf", "-inf"; null when none yet), started, ended, duration_s.
 */
int store_task_summary(struct store *, int64_t task_id, json_t **,
    char **cause);
/* Every task's summary, oldest first, as a new JSON array. */
int store_tasks_list(struct store *, json_t **, char **cause);
/* The task's attempt with the highest number; *attempt_id 0 when none. */
int store_attempt_latest(struct store *, int64_t task_id,
    int64_t *attempt_id, char **cause);
/* The attempt's hosts in node-rank order as a new JSON array of {id, host,
 * node_rank, rank_first, nprocs, run_dir, state, reason, cursor, last_seen
 * (when its last new event was stored), launches, metric (its latest: seq,
 * t, rank, step, total_steps, epoch, loss, lr, step_time_ms, samples_per_s,
 * extras; or null)}. */
int store_attempt_hosts(struct store *, int64_t attempt_id, json_t **,
    char **cause);
int store_host_cursor(struct store *, int64_t host_id, int64_t *cursor,
    char **cause);

#define STORE_HAS_TOTAL		0x01
#define STORE_HAS_EPOCH		0x02
#define STORE_HAS_LOSS		0x04
#define STORE_HAS_LR		0x08
#define STORE_HAS_STEP_TIME	0x10
#define STORE_HAS_SAMPLES	0x20
/* One metric row; strings are borrowed for the callback's duration. */
struct store_metric {
	int64_t attempt_id;
	int attempt;			/* its number */
	int64_t host_id;
	const char *host;
	int64_t seq;
	int64_t t;
	int rank;			/* -1 when the event had none */
	int64_t step;
	int64_t total_steps;		/* STORE_HAS_TOTAL */
	int64_t epoch;			/* STORE_HAS_EPOCH */
	double loss;			/* these may be NaN or +-Inf: the */
	double lr;			/* trainer's own values; glibc */
	double step_time_ms;		/* printf writes them "nan", */
	double samples_per_s;		/* "inf", "-inf" */
	unsigned has;			/* STORE_HAS_* */
	const char *extras;		/* JSON text of other keys, or NULL */
};
typedef int (*store_metric_fn)(const struct store_metric *, void *arg);
/*
 * Calls fn for every metric of the task (of the hosts named host when it is
 * not NULL) in (attempt, host's node rank, rank, step, seq) order, from one
 * snapshot. A non-zero return from fn stops the walk and is returned. fn may
 * read the store but not write to it.
 */
int store_metrics_each(struct store *, int64_t task_id, const char *host,
    store_metric_fn fn, void *arg, char **cause);
/* Every host of every attempt of the task, as a new JSON array of {id,
 * host, attempt (number), attempt_id, node_rank, state}. */
int store_task_hosts(struct store *, int64_t task_id, json_t **,
    char **cause);
/* The host's metrics with seq > after_seq in seq order, at most limit
 * (m->host, attempt fields unset); returns how many were read, -1 on an
 * error. Prepared per call: fn may read the store. */
int store_metrics_host(struct store *, int64_t host_id, int64_t after_seq,
    size_t limit, store_metric_fn fn, void *arg, char **cause);
/* The latest telemetry sample of each host of the attempt that sent one,
 * as a new JSON array of {host_id, host, seq, t, source, devices: [{index,
 * util_pct, mem_used_mb, mem_total_mb, temp_c, power_w, ...}]}. */
int store_telemetry_latest(struct store *, int64_t attempt_id, json_t **,
    char **cause);
/* The task's audit rows, oldest first, as a new JSON array of {id, t,
 * attempt (number), attempt_id, host, host_id, kind, actor, from, to,
 * reason, data}. */
int store_audit_list(struct store *, int64_t task_id, json_t **,
    char **cause);

/* metrics_out.c: the task's metrics (of host, when not NULL) to f as CSV
 * with a header line (csv 1) or JSON lines. */
int metrics_write(struct store *, int64_t task, const char *host, int csv,
    FILE *f, char **cause);

#endif
