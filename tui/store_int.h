/*
 * store_int.h - what the store's own files (store.c, store_ingest.c,
 * store_read.c) share: the store struct, the cached statements and the
 * transaction helpers. Nothing outside them includes it; the rest of tui/
 * uses store.h.
 */
#ifndef DROVER_STORE_INT_H
#define DROVER_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

/* Every statement the store runs more than once; the SQL is store_sql[]
 * in store.c, beside the schema it queries. */
enum store_q {
	Q_BEGIN, Q_BEGIN_READ, Q_COMMIT, Q_ROLLBACK, Q_SYNC_FULL, Q_SYNC_NORMAL,
	Q_HOST_CURSOR, Q_HOST_CURSOR_SET,
	Q_INS_METRIC, Q_INS_TELEMETRY, Q_INS_CKPT, Q_INS_LOG, Q_INS_STATE,
	Q_INS_RAW, Q_INS_AUDIT, Q_INS_TASK, Q_INS_ATTEMPT, Q_INS_HOST,
	Q_TASK_GET, Q_TASK_BY_NAME, Q_TASKS_ALL, Q_TASK_SETS_SET,
	Q_ATTEMPT_GET, Q_ATTEMPT_NEXT, Q_ATTEMPT_LATEST, Q_ATTEMPT_FIRST,
	Q_ATTEMPT_COUNTS, Q_ATTEMPT_STATE_SET,
	Q_HOST_GET, Q_HOST_STATE_SET, Q_HOST_LAUNCH, Q_HOST_DRAINED, Q_HOSTS_OF,
	Q_METRIC_LATEST, Q_TELEMETRY_LATEST, Q_AUDIT_OF,
	Q_COUNT
};

/* The metric columns store_read.c decodes, in this order. */
#define STORE_METRIC_COLS "seq, t, rank, step, total_steps, epoch, loss, " \
	"lr, step_time_ms, samples_per_s, nonfinite, extras"

struct store {
	char *path;
	sqlite3 *db;
	int rw;
	int lockfd;
	int decision;		/* the open transaction syncs in full */
	uint64_t commits;	/* write transactions committed here */
	sqlite3_stmt *q[Q_COUNT];
};

/* A failed SQLite call as a message for the user (caller frees). */
char *store_err(struct store *, int rc, const char *what);
/* The current error code, never OK/ROW/DONE. */
int store_errcode(struct store *);
/* The cached statement, reset and ready to bind; NULL if it cannot be
 * prepared (store_errcode says why). */
sqlite3_stmt *store_stmt(struct store *, enum store_q);
/* Steps a statement that returns no row, resets it; SQLITE_DONE = done.
 * A NULL statement (from store_stmt) gives the error code. */
int store_stmt_run(struct store *, sqlite3_stmt *);

/* A write transaction; decision: synced in full. */
int store_tx_begin(struct store *, int decision, char **cause);
int store_tx_commit(struct store *, const char *what, char **cause);
void store_tx_rollback(struct store *);
/* A read snapshot over several statements; does nothing (returns 0)
 * inside a transaction. Pass what begin returned to end. */
int store_read_begin(struct store *);
void store_read_end(struct store *, int began);

static inline void
store_bind_text(sqlite3_stmt *q, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

static inline void
store_bind_id(sqlite3_stmt *q, int i, int64_t v)	/* 0 binds NULL */
{
	if (v == 0)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_int64(q, i, v);
}

static inline const char *
store_col_text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

#endif
