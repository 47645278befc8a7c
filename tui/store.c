/*
 * store.c - the head node's SQLite database: opening it (the default path,
 * the one-writer lock, WAL, schema migrations), the engine's decisions with
 * their audit rows, exactly-once ingest of the agents' events, and the reads
 * the CLI and the console show. The event fields are docs/protocol.md
 * "Events"; the tables are store_schema_v1 below, with the migrations
 * after it.
 *
 * Durability: a batch of events commits with synchronous=NORMAL. A crash of
 * drover loses nothing committed; a power cut may lose the last batches, but
 * their cursor goes with them, so the engine fetches them again from the
 * agent's spool: nothing lost, nothing stored twice. A decision commits with
 * synchronous=FULL: once the call returns it is on the disk.
 *
 * Not here: deciding anything (the engine), words for humans (the CLI and
 * the views).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/common.h"
#include "store_int.h"

#define STORE_BUSY_MS	5000

/* ---- schema and migrations ----------------------------------------------- */

/*
 * Version 1. Events live in one table per type, keyed by (host_id, seq):
 * host_id is the host-in-an-attempt (attempt_hosts.id), seq the agent's
 * event number. Non-finite metric values cannot be REALs (SQLite turns NaN
 * into NULL): the column is NULL and `nonfinite` holds {"loss":"nan",...}.
 */
static const char store_schema_v1[] =
	"CREATE TABLE tasks ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" config_path TEXT,"
	" config_text TEXT,"
	" stages TEXT NOT NULL,"		/* JSON array of stage names */
	" created INTEGER NOT NULL);"
	"CREATE INDEX tasks_by_name ON tasks (name, id);"
	"CREATE TABLE attempts ("
	" id INTEGER PRIMARY KEY,"
	" task_id INTEGER NOT NULL REFERENCES tasks (id),"
	" number INTEGER NOT NULL,"
	" stage TEXT NOT NULL,"
	" parent_id INTEGER REFERENCES attempts (id),"
	" reason TEXT,"
	" resume INTEGER NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL DEFAULT 'pending',"
	" created INTEGER NOT NULL,"
	" ended INTEGER,"
	" UNIQUE (task_id, number));"
	"CREATE TABLE attempt_hosts ("
	" id INTEGER PRIMARY KEY,"
	" attempt_id INTEGER NOT NULL REFERENCES attempts (id),"
	" host TEXT NOT NULL,"
	" node_rank INTEGER NOT NULL,"
	" rank_first INTEGER NOT NULL,"
	" nprocs INTEGER NOT NULL,"
	" run_dir TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'pending',"
	" reason TEXT,"
	" cursor INTEGER NOT NULL DEFAULT 0,"	/* the last seq stored */
	" last_seen INTEGER,"
	" launches INTEGER NOT NULL DEFAULT 0,"
	" drained INTEGER NOT NULL DEFAULT 0,"	/* agent said: all sent */
	" UNIQUE (attempt_id, host));"
	"CREATE TABLE metrics ("
	" host_id INTEGER NOT NULL REFERENCES attempt_hosts (id),"
	" seq INTEGER NOT NULL,"
	" t INTEGER,"
	" rank INTEGER,"
	" step INTEGER NOT NULL,"
	" total_steps INTEGER,"
	" epoch INTEGER,"
	" loss REAL,"
	" lr REAL,"
	" step_time_ms REAL,"
	" samples_per_s REAL,"
	" nonfinite TEXT,"
	" extras TEXT,"				/* JSON object, or NULL */
	" stored INTEGER,"			/* unix ms its batch was stored */
	" PRIMARY KEY (host_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE telemetry ("		/* one row per device */
	" host_id INTEGER NOT NULL REFERENCES attempt_hosts (id),"
	" seq INTEGER NOT NULL,"
	" slot INTEGER NOT NULL,"		/* place in the event's list */
	" t INTEGER,"
	" source TEXT,"
	" device INTEGER NOT NULL,"
	" util_pct REAL,"
	" mem_used_mb REAL,"
	" mem_total_mb REAL,"
	" temp_c REAL,"
	" power_w REAL,"
	" extras TEXT,"
	" PRIMARY KEY (host_id, seq, slot)) WITHOUT ROWID;"
	"CREATE TABLE checkpoints ("
	" id INTEGER PRIMARY KEY,"
	" host_id INTEGER NOT NULL REFERENCES attempt_hosts (id),"
	" seq INTEGER NOT NULL,"
	" t INTEGER,"
	" rank INTEGER,"
	" path TEXT NOT NULL,"
	" step INTEGER,"
	" UNIQUE (host_id, seq));"
	"CREATE TABLE logs ("
	" id INTEGER PRIMARY KEY,"
	" host_id INTEGER NOT NULL REFERENCES attempt_hosts (id),"
	" seq INTEGER NOT NULL,"
	" t INTEGER,"
	" rank INTEGER,"
	" level TEXT,"
	" what TEXT,"
	" stream TEXT,"
	" line TEXT NOT NULL,"
	" UNIQUE (host_id, seq));"
	"CREATE TABLE agent_states ("
	" id INTEGER PRIMARY KEY,"
	" host_id INTEGER NOT NULL REFERENCES attempt_hosts (id),"
	" seq INTEGER NOT NULL,"
	" t INTEGER,"
	" scope TEXT NOT NULL,"
	" rank INTEGER,"
	" state TEXT NOT NULL,"
	" reason TEXT,"
	" data TEXT NOT NULL,"			/* the whole event */
	" UNIQUE (host_id, seq));"
	"CREATE TABLE raw_events ("		/* types drover does not know */
	" id INTEGER PRIMARY KEY,"
	" host_id INTEGER NOT NULL REFERENCES attempt_hosts (id),"
	" seq INTEGER NOT NULL,"
	" t INTEGER,"
	" type TEXT NOT NULL,"
	" data TEXT NOT NULL,"
	" UNIQUE (host_id, seq));"
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY,"
	" t INTEGER NOT NULL,"
	" task_id INTEGER NOT NULL REFERENCES tasks (id),"
	" attempt_id INTEGER REFERENCES attempts (id),"
	" host_id INTEGER REFERENCES attempt_hosts (id),"
	" kind TEXT NOT NULL,"
	" actor TEXT NOT NULL,"
	" from_state TEXT,"
	" to_state TEXT,"
	" reason TEXT,"
	" data TEXT);"
	"CREATE INDEX audit_by_task ON audit (task_id, id);";

/*
 * Version 2: the --set overrides a task's config is loaded with again
 * (relaunch --all, automatic restarts, later stages, resumed attempts),
 * as a JSON array of {"path", "value"} (and "dir" where the value held a
 * relative path) in the order they apply: the launch's, then any a
 * relaunch --all added. Tasks from before have none.
 */
static const char store_schema_v2[] =
	"ALTER TABLE tasks ADD COLUMN config_sets TEXT NOT NULL DEFAULT '[]';";

struct store;
/*
 * Migration N brings a database from version N-1 to N, in one transaction
 * with PRAGMA user_version. A new version is one more entry: its SQL, and a
 * function for what SQL alone cannot do (either may be NULL).
 */
struct store_migration {
	const char *sql;
	int (*fn)(struct store *, char **cause);
};
static const struct store_migration store_migrations[] = {
	{ store_schema_v1, NULL },
	{ store_schema_v2, NULL },
};
#define STORE_VERSION ((int)nitems(store_migrations))

/* ---- statements ---------------------------------------------------------- */

static const char *const store_sql[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_BEGIN_READ] = "BEGIN",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SYNC_FULL] = "PRAGMA synchronous = FULL",
	[Q_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
	[Q_HOST_CURSOR] = "SELECT cursor, host FROM attempt_hosts"
	    " WHERE id = ?1",
	[Q_HOST_CURSOR_SET] = "UPDATE attempt_hosts SET cursor = ?2,"
	    " last_seen = ?3 WHERE id = ?1",
	[Q_INS_METRIC] = "INSERT INTO metrics (host_id, seq, t, rank, step,"
	    " total_steps, epoch, loss, lr, step_time_ms, samples_per_s,"
	    " nonfinite, extras, stored) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[Q_INS_TELEMETRY] = "INSERT INTO telemetry (host_id, seq, slot, t,"
	    " source, device, util_pct, mem_used_mb, mem_total_mb, temp_c,"
	    " power_w, extras) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[Q_INS_CKPT] = "INSERT INTO checkpoints (host_id, seq, t, rank, path,"
	    " step) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_INS_LOG] = "INSERT INTO logs (host_id, seq, t, rank, level, what,"
	    " stream, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_INS_STATE] = "INSERT INTO agent_states (host_id, seq, t, scope,"
	    " rank, state, reason, data) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_INS_RAW] = "INSERT INTO raw_events (host_id, seq, t, type, data)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	[Q_INS_AUDIT] = "INSERT INTO audit (t, task_id, attempt_id, host_id,"
	    " kind, actor, from_state, to_state, reason, data) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[Q_INS_TASK] = "INSERT INTO tasks (name, config_path, config_text,"
	    " stages, created, config_sets) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_TASK_SETS_SET] = "UPDATE tasks SET config_sets = ?2 WHERE id = ?1",
	[Q_INS_ATTEMPT] = "INSERT INTO attempts (task_id, number, stage,"
	    " parent_id, reason, resume, created) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_INS_HOST] = "INSERT INTO attempt_hosts (attempt_id, host,"
	    " node_rank, rank_first, nprocs, run_dir) VALUES"
	    " (?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_TASK_GET] = "SELECT id, name, config_path, stages, created,"
	    " config_sets FROM tasks WHERE id = ?1",
	[Q_TASK_BY_NAME] = "SELECT id FROM tasks WHERE name = ?1"
	    " ORDER BY id DESC LIMIT 1",
	[Q_TASKS_ALL] = "SELECT id FROM tasks ORDER BY id",
	[Q_ATTEMPT_GET] = "SELECT task_id, number, stage, state, created,"
	    " ended, parent_id, resume, reason FROM attempts WHERE id = ?1",
	[Q_ATTEMPT_NEXT] = "SELECT coalesce(max(number), 0) + 1 FROM attempts"
	    " WHERE task_id = ?1",
	[Q_ATTEMPT_LATEST] = "SELECT id FROM attempts WHERE task_id = ?1"
	    " ORDER BY number DESC LIMIT 1",
	[Q_ATTEMPT_FIRST] = "SELECT created FROM attempts WHERE task_id = ?1"
	    " ORDER BY number LIMIT 1",
	[Q_ATTEMPT_COUNTS] = "SELECT state, count(*) FROM attempt_hosts"
	    " WHERE attempt_id = ?1 GROUP BY state",
	[Q_ATTEMPT_STATE_SET] = "UPDATE attempts SET state = ?2, ended = ?3"
	    " WHERE id = ?1",
	[Q_HOST_GET] = "SELECT h.attempt_id, a.task_id, h.host, h.state,"
	    " h.reason, h.launches FROM attempt_hosts h"
	    " JOIN attempts a ON a.id = h.attempt_id WHERE h.id = ?1",
	[Q_HOST_STATE_SET] = "UPDATE attempt_hosts SET state = ?2, reason = ?3"
	    " WHERE id = ?1",
	[Q_HOST_LAUNCH] = "UPDATE attempt_hosts SET launches = launches + 1,"
	    " drained = 0 WHERE id = ?1",
	[Q_HOST_DRAINED] = "UPDATE attempt_hosts SET drained = ?2 WHERE id = ?1",
	[Q_HOSTS_OF] = "SELECT id, host, node_rank, rank_first, nprocs,"
	    " run_dir, state, reason, cursor, last_seen, launches, drained"
	    " FROM attempt_hosts WHERE attempt_id = ?1 ORDER BY node_rank, id",
	[Q_METRIC_LATEST] = "SELECT " STORE_METRIC_COLS " FROM metrics"
	    " WHERE host_id = ?1 ORDER BY seq DESC LIMIT 1",
	[Q_TELEMETRY_LATEST] = "SELECT seq, t, source, device, util_pct,"
	    " mem_used_mb, mem_total_mb, temp_c, power_w, extras FROM telemetry"
	    " WHERE host_id = ?1 AND seq = (SELECT max(seq) FROM telemetry"
	    " WHERE host_id = ?1) ORDER BY slot",
	[Q_AUDIT_OF] = "SELECT u.id, u.t, a.number, u.attempt_id, h.host,"
	    " u.host_id, u.kind, u.actor, u.from_state, u.to_state, u.reason,"
	    " u.data FROM audit u"
	    " LEFT JOIN attempts a ON a.id = u.attempt_id"
	    " LEFT JOIN attempt_hosts h ON h.id = u.host_id"
	    " WHERE u.task_id = ?1 ORDER BY u.id",
};


/* ---- host states --------------------------------------------------------- */

enum {
	HS_PENDING, HS_CONNECTING, HS_PUSHING, HS_STARTING, HS_RUNNING,
	HS_STALLED, HS_LOST, HS_SUCCEEDED, HS_FAILED, HS_STOPPED,
	HS_UNREACHABLE, HS_COUNT
};
static const char *const store_states[HS_COUNT] = {
	"pending", "connecting", "pushing", "starting", "running", "stalled",
	"lost", "succeeded", "failed", "stopped", "unreachable",
};

static int
store_state_index(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < HS_COUNT; i++) {
		if (strcmp(store_states[i], name) == 0)
			return i;
	}
	return -1;
}

int
store_host_state_valid(const char *name)
{
	return store_state_index(name) != -1;
}

static int
store_state_terminal(int i)
{
	return i == HS_SUCCEEDED || i == HS_FAILED || i == HS_STOPPED ||
	    i == HS_UNREACHABLE;
}

/* An attempt's state from how many of its hosts are in each state. */
static const char *
store_attempt_state(const int *n)
{
	int i, total = 0, terminal = 0, bad, live;

	for (i = 0; i < HS_COUNT; i++) {
		total += n[i];
		if (store_state_terminal(i))
			terminal += n[i];
	}
	if (total == 0)
		return "pending";
	if (terminal == total) {
		if (n[HS_SUCCEEDED] == total)
			return "succeeded";
		if (n[HS_FAILED] + n[HS_UNREACHABLE] > 0)
			return "failed";
		return "stopped";
	}
	bad = n[HS_FAILED] + n[HS_UNREACHABLE] + n[HS_LOST] + n[HS_STALLED];
	live = n[HS_RUNNING] + n[HS_STALLED] + n[HS_LOST];
	if (live > 0)
		return bad > 0 ? "degraded" : "running";
	if (n[HS_PENDING] == total)
		return "pending";
	return bad > 0 ? "degraded" : "starting";
}

/* ---- errors -------------------------------------------------------------- */

/* What happened, to what, and what to do. */
char *
store_err(struct store *s, int rc, const char *what)
{
	const char *msg = s->db != NULL ? sqlite3_errmsg(s->db) :
	    sqlite3_errstr(rc);
	int sys = s->db != NULL ? sqlite3_system_errno(s->db) : 0;
	char *cause;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		xasprintf(&cause, "%s: database disk is full while %s; "
		    "everything stored before is kept; free space on that "
		    "disk and drover goes on from where it stopped",
		    s->path, what);
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		xasprintf(&cause, "%s: database is busy while %s (%s); "
		    "another process holds it; try again", s->path, what, msg);
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		xasprintf(&cause, "%s: not a drover database, or a damaged "
		    "one, while %s (%s); move it aside to start a new one",
		    s->path, what, msg);
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		xasprintf(&cause, "%s: cannot write while %s (%s); check the "
		    "file's and its directory's permissions", s->path, what,
		    msg);
		break;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		xasprintf(&cause, "%s: %s while %s%s%s", s->path, msg, what,
		    sys != 0 ? ": " : "", sys != 0 ? strerror(sys) : "");
		break;
	case SQLITE_NOMEM:
		fatalx("%s: out of memory while %s", s->path, what);
	default:
		xasprintf(&cause, "%s: %s while %s", s->path, msg, what);
		break;
	}
	return cause;
}

/* ---- statements and transactions ----------------------------------------- */

sqlite3_stmt *
store_stmt(struct store *s, enum store_q id)
{
	if (s->q[id] == NULL) {
		if (sqlite3_prepare_v3(s->db, store_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->q[id], NULL) != SQLITE_OK)
			return NULL;
	} else
		sqlite3_reset(s->q[id]);
	return s->q[id];
}

int
store_errcode(struct store *s)
{
	int rc = sqlite3_errcode(s->db);

	return rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE ?
	    SQLITE_ERROR : rc;
}

int
store_stmt_run(struct store *s, sqlite3_stmt *q)
{
	int rc;

	if (q == NULL)
		return store_errcode(s);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc;
}

int
store_tx_begin(struct store *s, int decision, char **cause)
{
	int rc;

	if (!s->rw) {
		xasprintf(cause, "%s: opened read-only; only the engine "
		    "writes", s->path);
		return -1;
	}
	if (!sqlite3_get_autocommit(s->db))
		fatalx("store: a transaction is already open on %s", s->path);
	if (decision && (rc = store_stmt_run(s, store_stmt(s,
	    Q_SYNC_FULL))) != SQLITE_DONE)
		goto fail;
	s->decision = decision;
	if ((rc = store_stmt_run(s, store_stmt(s, Q_BEGIN))) != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	*cause = store_err(s, rc, "starting a transaction");
	if (decision)
		(void)store_stmt_run(s, store_stmt(s, Q_SYNC_NORMAL));
	s->decision = 0;
	return -1;
}

static void
store_tx_end(struct store *s)
{
	if (s->decision)
		(void)store_stmt_run(s, store_stmt(s, Q_SYNC_NORMAL));
	s->decision = 0;
}

void
store_tx_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)store_stmt_run(s, store_stmt(s, Q_ROLLBACK));
	store_tx_end(s);
}

int
store_tx_commit(struct store *s, const char *what, char **cause)
{
	int rc;

	if ((rc = store_stmt_run(s, store_stmt(s, Q_COMMIT))) != SQLITE_DONE) {
		*cause = store_err(s, rc, what);
		store_tx_rollback(s);
		return -1;
	}
	s->commits++;
	store_tx_end(s);
	return 0;
}

uint64_t
store_version(struct store *s)
{
	sqlite3_stmt *q = NULL;
	uint64_t v = 0;

	/* data_version moves with other connections' commits; ours are
	 * counted here. */
	if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &q, NULL) ==
	    SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v + s->commits;
}

int
store_read_begin(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		return 0;
	return store_stmt_run(s, store_stmt(s, Q_BEGIN_READ)) ==
	    SQLITE_DONE ? 1 : 0;
}

void
store_read_end(struct store *s, int began)
{
	if (began)
		(void)store_stmt_run(s, store_stmt(s, Q_COMMIT));
}

/* ---- opening ------------------------------------------------------------- */

char *
store_default_path(void)
{
	const char *d = getenv("XDG_DATA_HOME"), *home;
	struct passwd *pw;
	char *path;

	/* The XDG spec: a relative XDG_DATA_HOME is invalid; ignore it. */
	if (d != NULL && d[0] == '/') {
		xasprintf(&path, "%s/drover/drover.db", d);
		return path;
	}
	home = getenv("HOME");
	if (home == NULL || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] != '/')
		return NULL;
	xasprintf(&path, "%s/.local/share/drover/drover.db", home);
	return path;
}

const char *
store_path(const struct store *s)
{
	return s->path;
}

int
store_schema_version(void)
{
	return STORE_VERSION;
}

const char *
store_schema_sql(int v)
{
	return v >= 1 && v <= STORE_VERSION ? store_migrations[v - 1].sql :
	    NULL;
}

/* mkdir -p of path's directory; what it creates is 0700. */
static int
store_mkdirs(const char *path, char **cause)
{
	char *dir = xstrdup(path), *p;
	struct stat sb;
	int ret = -1;

	if ((p = strrchr(dir, '/')) == NULL || p == dir) {
		free(dir);
		return 0;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
				xasprintf(cause, "%s: cannot create the "
				    "directory: %s; give another database path "
				    "or set XDG_DATA_HOME", dir,
				    strerror(errno));
				goto out;
			}
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s: not a directory; give another database "
		    "path", dir);
		goto out;
	}
	ret = 0;
out:
	free(dir);
	return ret;
}

/* The writer lock: flock on PATH.lock, our pid written into it. */
static int
store_lock(struct store *s, char **cause)
{
	char *lpath, buf[32];
	ssize_t n;
	long pid;
	int fd;

	xasprintf(&lpath, "%s.lock", s->path);
	fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		xasprintf(cause, "%s: cannot open: %s", lpath, strerror(errno));
		free(lpath);
		return -1;
	}
	free(lpath);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			xasprintf(cause, "%s.lock: cannot lock: %s", s->path,
			    strerror(errno));
		} else {
			n = pread(fd, buf, sizeof buf - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			pid = strtol(buf, NULL, 10);
			if (pid > 0)
				snprintf(buf, sizeof buf, "pid %ld", pid);
			else
				snprintf(buf, sizeof buf, "pid unknown");
			xasprintf(cause, "%s: in use by another drover (%s); "
			    "read-only commands still work", s->path, buf);
		}
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("%s.lock: cannot record our pid: %s", s->path,
		    strerror(errno));
	s->lockfd = fd;
	return 0;
}

static int
store_pragma_int(struct store *s, const char *sql, int *v, char **cause)
{
	sqlite3_stmt *q;
	int rc;

	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL)) != SQLITE_OK) {
		*cause = store_err(s, rc, "reading the schema");
		return -1;
	}
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		*cause = store_err(s, rc, "reading the schema");
		sqlite3_finalize(q);
		return -1;
	}
	*v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return 0;
}

static int
store_migrate(struct store *s, int from, char **cause)
{
	const struct store_migration *m;
	char sql[64], *what, *err = NULL;
	int v, rc;

	for (v = from + 1; v <= STORE_VERSION; v++) {
		m = &store_migrations[v - 1];
		xasprintf(&what, "upgrading the schema from version %d to %d "
		    "(the database stays at version %d)", v - 1, v, v - 1);
		if (store_tx_begin(s, 1, cause) != 0) {
			free(what);
			return -1;
		}
		if (m->sql != NULL &&
		    (rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &err)) !=
		    SQLITE_OK)
			goto fail;
		if (m->fn != NULL && m->fn(s, cause) != 0) {
			store_tx_rollback(s);
			free(what);
			return -1;
		}
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
		if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, &err)) !=
		    SQLITE_OK)
			goto fail;
		if (store_tx_commit(s, what, cause) != 0) {
			free(what);
			return -1;
		}
		free(what);
		log_info("%s: schema upgraded to version %d", s->path, v);
	}
	return 0;
fail:
	*cause = store_err(s, rc, what);
	sqlite3_free(err);
	store_tx_rollback(s);
	free(what);
	return -1;
}

/* Version checks, and the upgrade for a writer. */
static int
store_check_schema(struct store *s, char **cause)
{
	int v, ntables;

	if (store_pragma_int(s, "PRAGMA user_version", &v, cause) != 0)
		return -1;
	if (v > STORE_VERSION) {
		xasprintf(cause, "%s: the database has schema version %d, "
		    "newer than this drover (%s) understands (%d); use a "
		    "newer drover", s->path, v, DROVER_VERSION, STORE_VERSION);
		return -1;
	}
	if (v == STORE_VERSION)
		return 0;
	if (v == 0) {
		if (store_pragma_int(s, "SELECT count(*) FROM sqlite_schema",
		    &ntables, cause) != 0)
			return -1;
		if (ntables > 0) {
			xasprintf(cause, "%s: an SQLite database, but not "
			    "drover's (it has tables and no drover schema "
			    "version); give another database path", s->path);
			return -1;
		}
	}
	if (!s->rw) {
		if (v == 0)
			xasprintf(cause, "%s: no drover data yet; nothing has "
			    "been recorded there", s->path);
		else
			xasprintf(cause, "%s: the database has schema version "
			    "%d and needs the upgrade to %d, which only a "
			    "drover that writes (one that launches or stops) "
			    "does", s->path, v, STORE_VERSION);
		return -1;
	}
	return store_migrate(s, v, cause);
}

/* sqlite3_exec callback: the first column of the first row. */
static int
store_first(void *arg, int ncols, char **vals, char **names)
{
	char *out = arg;

	if (ncols > 0 && vals[0] != NULL && out[0] == '\0')
		snprintf(out, 16, "%s", vals[0]);
	return 0;
}

int
store_open(const char *path, int mode, struct store **sp, char **cause)
{
	struct store *s;
	struct stat sb;
	int fd, rc, flags;
	char *err = NULL, jmode[16] = "";

	*sp = NULL;
	s = xcalloc(1, sizeof *s);
	s->lockfd = -1;
	s->rw = mode == STORE_RDWR;
	s->path = path != NULL ? xstrdup(path) : store_default_path();
	if (s->path == NULL) {
		*cause = xstrdup("no database path: neither XDG_DATA_HOME nor "
		    "a home directory is set; give the database path");
		goto fail;
	}
	if (s->rw) {
		if (store_mkdirs(s->path, cause) != 0 ||
		    store_lock(s, cause) != 0)
			goto fail;
		/* Created 0600 here: SQLite gives its -wal and -shm files
		 * the database file's mode. */
		fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd == -1) {
			xasprintf(cause, "%s: cannot create the database: %s",
			    s->path, strerror(errno));
			goto fail;
		}
		close(fd);
		flags = SQLITE_OPEN_READWRITE;
	} else {
		if (stat(s->path, &sb) != 0) {
			if (errno == ENOENT)
				xasprintf(cause, "%s: no database yet; nothing "
				    "has been recorded there", s->path);
			else
				xasprintf(cause, "%s: %s", s->path,
				    strerror(errno));
			goto fail;
		}
		flags = SQLITE_OPEN_READONLY;
	}
	rc = sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		*cause = store_err(s, rc, "opening it");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	if (s->rw) {
		rc = sqlite3_exec(s->db, "PRAGMA journal_mode = WAL",
		    store_first, jmode, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL",
			    NULL, NULL, &err);
	} else
		rc = sqlite3_exec(s->db, "PRAGMA query_only = 1;", NULL, NULL,
		    &err);
	sqlite3_free(err);
	if (rc != SQLITE_OK) {
		*cause = store_err(s, rc, "setting it up");
		goto fail;
	}
	/* Readers beside the writer need WAL, which needs a file system
	 * with working shared memory (not every network one). */
	if (s->rw && strcmp(jmode, "wal") != 0) {
		xasprintf(cause, "%s: cannot use WAL mode here (the journal "
		    "mode stays %s); put the database on a local disk",
		    s->path, jmode);
		goto fail;
	}
	if (store_check_schema(s, cause) != 0)
		goto fail;
	rc = sqlite3_exec(s->db, "PRAGMA foreign_keys = ON;", NULL, NULL,
	    NULL);
	if (rc != SQLITE_OK) {
		*cause = store_err(s, rc, "setting it up");
		goto fail;
	}
	*sp = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void
store_close(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	if (s->db != NULL)
		sqlite3_close(s->db);
	if (s->lockfd != -1)
		close(s->lockfd);
	free(s->path);
	free(s);
}

/* ---- decisions ----------------------------------------------------------- */

static const char *
store_actor(const char *actor)
{
	return actor != NULL && actor[0] != '\0' ? actor : "drover";
}

/* One audit row in the open transaction; SQLITE_DONE on success. */
static int
store_audit_write(struct store *s, const struct store_audit *a)
{
	sqlite3_stmt *q;
	char *data = NULL;
	int rc;

	if ((q = store_stmt(s, Q_INS_AUDIT)) == NULL)
		return store_errcode(s);
	if (a->data != NULL)
		data = json_dumps(a->data, JSON_COMPACT | JSON_ENCODE_ANY);
	sqlite3_bind_int64(q, 1, clock_wall_ms());
	sqlite3_bind_int64(q, 2, a->task_id);
	store_bind_id(q, 3, a->attempt_id);
	store_bind_id(q, 4, a->host_id);
	store_bind_text(q, 5, a->kind);
	store_bind_text(q, 6, store_actor(a->actor));
	store_bind_text(q, 7, a->from);
	store_bind_text(q, 8, a->to);
	store_bind_text(q, 9, a->reason);
	store_bind_text(q, 10, data);
	rc = store_stmt_run(s, q);
	free(data);
	return rc;
}

/* Fails the open decision: the message, then the rollback. */
static int
store_fail(struct store *s, int rc, const char *what, char **cause)
{
	*cause = store_err(s, rc, what);
	store_tx_rollback(s);
	return -1;
}

static int
store_refuse(struct store *s, char *msg, char **cause)
{
	*cause = msg;
	store_tx_rollback(s);
	return -1;
}

/* A task's --set overrides: NULL, or an array of {"path", "value"} with
 * string values (and an optional "dir"). */
static int
store_sets_check(const json_t *sets, char **cause)
{
	const json_t *o;
	size_t i;

	if (sets == NULL)
		return 0;
	if (!json_is_array(sets)) {
		*cause = xstrdup("the --set overrides are not a JSON array");
		return -1;
	}
	json_array_foreach(sets, i, o) {
		if (!json_is_string(json_object_get(o, "path")) ||
		    !json_is_string(json_object_get(o, "value"))) {
			xasprintf(cause, "--set override %zu: expected "
			    "{\"path\": STRING, \"value\": STRING}", i + 1);
			return -1;
		}
	}
	return 0;
}

int
store_task_create(struct store *s, const struct store_task_new *t,
    const char *actor, int64_t *task_id, char **cause)
{
	static const char *const main_only[] = { "main", NULL };
	const char *const *stages = t->stages != NULL ? t->stages : main_only;
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	json_t *sj, *sets;
	char *stext, *settext, *msg;
	size_t i;
	int rc;

	if (t->name == NULL || t->name[0] == '\0') {
		*cause = xstrdup("a task needs a name");
		return -1;
	}
	if (store_sets_check(t->config_sets, cause) != 0)
		return -1;
	sj = json_array();
	for (i = 0; stages[i] != NULL; i++)
		json_array_append_new(sj, json_string(stages[i]));
	if (i == 0) {
		json_decref(sj);
		xasprintf(cause, "task %s: no stages", t->name);
		return -1;
	}
	stext = json_dumps(sj, JSON_COMPACT);
	sets = t->config_sets != NULL ? json_incref((json_t *)t->config_sets) :
	    json_array();
	settext = json_dumps(sets, JSON_COMPACT);
	if (store_tx_begin(s, 1, cause) != 0)
		goto out;
	xasprintf(&msg, "creating task %s", t->name);
	if ((q = store_stmt(s, Q_INS_TASK)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	store_bind_text(q, 1, t->name);
	store_bind_text(q, 2, t->config_path);
	store_bind_text(q, 3, t->config_text);
	store_bind_text(q, 4, stext);
	sqlite3_bind_int64(q, 5, clock_wall_ms());
	store_bind_text(q, 6, settext);
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		goto fail;
	a.task_id = sqlite3_last_insert_rowid(s->db);
	a.kind = "create";
	a.actor = actor;
	a.data = json_pack("{s:s?, s:O, s:O}", "config_path", t->config_path,
	    "stages", sj, "config_sets", sets);
	rc = store_audit_write(s, &a);
	json_decref((json_t *)a.data);
	if (rc != SQLITE_DONE)
		goto fail;
	if (store_tx_commit(s, msg, cause) == 0) {
		if (task_id != NULL)
			*task_id = a.task_id;
		free(msg);
		free(stext);
		free(settext);
		json_decref(sets);
		json_decref(sj);
		return 0;
	}
	free(msg);
	goto out;
fail:
	store_fail(s, rc, msg, cause);
	free(msg);
out:
	free(stext);
	free(settext);
	json_decref(sets);
	json_decref(sj);
	return -1;
}

int
store_task_set_config_sets(struct store *s, int64_t task_id,
    const json_t *sets, const char *actor, char **cause)
{
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	json_t *list;
	char *text, *msg;
	int rc;

	if (store_sets_check(sets, cause) != 0)
		return -1;
	list = sets != NULL ? json_incref((json_t *)sets) : json_array();
	text = json_dumps(list, JSON_COMPACT);
	xasprintf(&msg, "recording the --set overrides of task #%lld",
	    (long long)task_id);
	if (store_tx_begin(s, 1, cause) != 0)
		goto out;
	if ((q = store_stmt(s, Q_TASK_SETS_SET)) == NULL) {
		rc = store_errcode(s);
		goto fail;
	}
	sqlite3_bind_int64(q, 1, task_id);
	store_bind_text(q, 2, text);
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		goto fail;
	if (sqlite3_changes(s->db) == 0) {
		store_tx_rollback(s);
		xasprintf(cause, "no task #%lld", (long long)task_id);
		goto out;
	}
	a.task_id = task_id;
	a.kind = "config_sets";
	a.actor = actor;
	a.data = json_pack("{s:O}", "config_sets", list);
	rc = store_audit_write(s, &a);
	json_decref((json_t *)a.data);
	if (rc != SQLITE_DONE)
		goto fail;
	if (store_tx_commit(s, msg, cause) == 0) {
		free(text);
		free(msg);
		json_decref(list);
		return 0;
	}
	goto out;
fail:
	store_fail(s, rc, msg, cause);
out:
	free(text);
	free(msg);
	json_decref(list);
	return -1;
}

/* The task's stages as a JSON array (new), or NULL with *cause. */
static json_t *
store_task_stages(struct store *s, int64_t task_id, char **cause)
{
	sqlite3_stmt *q;
	json_t *stages;
	int rc;

	if ((q = store_stmt(s, Q_TASK_GET)) == NULL) {
		*cause = store_err(s, store_errcode(s), "reading a task");
		return NULL;
	}
	sqlite3_bind_int64(q, 1, task_id);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			xasprintf(cause, "no task #%lld", (long long)task_id);
		else
			*cause = store_err(s, rc, "reading a task");
		sqlite3_reset(q);
		return NULL;
	}
	stages = json_loads(store_col_text(q, 3), 0, NULL);
	sqlite3_reset(q);
	if (!json_is_array(stages)) {
		json_decref(stages);
		stages = json_array();
	}
	return stages;
}

int
store_attempt_create(struct store *s, const struct store_attempt_new *an,
    const char *actor, int64_t *attempt_id, int *number, char **cause)
{
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	json_t *stages, *v;
	const char *what = "creating an attempt";
	int64_t parent_task = 0;
	int rc, n, parent_number = 0, found = 0;
	size_t i;

	if (store_tx_begin(s, 1, cause) != 0)
		return -1;
	if ((stages = store_task_stages(s, an->task_id, cause)) == NULL) {
		store_tx_rollback(s);
		return -1;
	}
	json_array_foreach(stages, i, v)
		found |= an->stage != NULL && json_is_string(v) &&
		    strcmp(json_string_value(v), an->stage) == 0;
	if (!found) {
		char *list = json_dumps(stages, JSON_COMPACT), *msg;

		xasprintf(&msg, "task #%lld has no stage %s (its stages: %s)",
		    (long long)an->task_id, an->stage != NULL ? an->stage :
		    "(none)", list);
		free(list);
		json_decref(stages);
		return store_refuse(s, msg, cause);
	}
	json_decref(stages);
	if (an->parent_id != 0) {
		if ((q = store_stmt(s, Q_ATTEMPT_GET)) == NULL)
			return store_fail(s, store_errcode(s), what, cause);
		sqlite3_bind_int64(q, 1, an->parent_id);
		if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			parent_task = sqlite3_column_int64(q, 0);
			parent_number = sqlite3_column_int(q, 1);
		}
		sqlite3_reset(q);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store_fail(s, rc, what, cause);
		if (parent_task != an->task_id) {
			char *msg;

			xasprintf(&msg, "attempt #%lld is not an attempt of "
			    "task #%lld; it cannot be the parent",
			    (long long)an->parent_id, (long long)an->task_id);
			return store_refuse(s, msg, cause);
		}
	}
	if ((q = store_stmt(s, Q_ATTEMPT_NEXT)) == NULL)
		return store_fail(s, store_errcode(s), what, cause);
	sqlite3_bind_int64(q, 1, an->task_id);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		sqlite3_reset(q);
		return store_fail(s, rc, what, cause);
	}
	n = sqlite3_column_int(q, 0);
	sqlite3_reset(q);
	if ((q = store_stmt(s, Q_INS_ATTEMPT)) == NULL)
		return store_fail(s, store_errcode(s), what, cause);
	sqlite3_bind_int64(q, 1, an->task_id);
	sqlite3_bind_int(q, 2, n);
	store_bind_text(q, 3, an->stage);
	store_bind_id(q, 4, an->parent_id);
	store_bind_text(q, 5, an->reason);
	sqlite3_bind_int(q, 6, an->resume != 0);
	sqlite3_bind_int64(q, 7, clock_wall_ms());
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	a.task_id = an->task_id;
	a.attempt_id = sqlite3_last_insert_rowid(s->db);
	a.kind = "attempt";
	a.actor = actor;
	a.to = "pending";
	a.reason = an->reason;
	a.data = json_pack("{s:i, s:s, s:b}", "number", n, "stage", an->stage,
	    "resume", an->resume != 0);
	if (an->parent_id != 0)
		json_object_set_new((json_t *)a.data, "parent",
		    json_integer(parent_number));
	rc = store_audit_write(s, &a);
	json_decref((json_t *)a.data);
	if (rc != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	if (store_tx_commit(s, what, cause) != 0)
		return -1;
	if (attempt_id != NULL)
		*attempt_id = a.attempt_id;
	if (number != NULL)
		*number = n;
	return 0;
}

/* The task of an attempt, or 0 (rc SQLITE_DONE) when there is none. */
static int
store_attempt_task(struct store *s, int64_t attempt_id, int64_t *task_id)
{
	sqlite3_stmt *q;
	int rc;

	*task_id = 0;
	if ((q = store_stmt(s, Q_ATTEMPT_GET)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, attempt_id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*task_id = sqlite3_column_int64(q, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(q);
	return rc;
}

/*
 * Records the attempt's state as derived from its hosts', with an audit row
 * when it changes; in the open transaction.
 */
static int
store_attempt_derive(struct store *s, int64_t attempt_id, int64_t task_id,
    const char *actor, const char *reason)
{
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	int n[HS_COUNT] = { 0 }, i, rc;
	const char *to;
	char from[32] = "";

	if ((q = store_stmt(s, Q_ATTEMPT_COUNTS)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, attempt_id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((i = store_state_index(store_col_text(q, 0))) != -1)
			n[i] += sqlite3_column_int(q, 1);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return rc;
	to = store_attempt_state(n);
	if ((q = store_stmt(s, Q_ATTEMPT_GET)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, attempt_id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		snprintf(from, sizeof from, "%s", store_col_text(q, 3));
	sqlite3_reset(q);
	if (rc != SQLITE_ROW)
		return rc;
	if (strcmp(from, to) == 0)
		return SQLITE_DONE;
	if ((q = store_stmt(s, Q_ATTEMPT_STATE_SET)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, attempt_id);
	sqlite3_bind_text(q, 2, to, -1, SQLITE_STATIC);
	if (strcmp(to, "succeeded") == 0 || strcmp(to, "failed") == 0 ||
	    strcmp(to, "stopped") == 0)
		sqlite3_bind_int64(q, 3, clock_wall_ms());
	else
		sqlite3_bind_null(q, 3);
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		return rc;
	a.task_id = task_id;
	a.attempt_id = attempt_id;
	a.kind = "state";
	a.actor = actor;
	a.from = from;
	a.to = to;
	a.reason = reason;
	return store_audit_write(s, &a);
}

int
store_hosts_add(struct store *s, int64_t attempt_id,
    const struct store_host_new *hosts, size_t n, const char *actor,
    int64_t *host_ids, char **cause)
{
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	const char *what = "adding hosts";
	int64_t task_id;
	size_t i;
	int rc;

	if (store_tx_begin(s, 1, cause) != 0)
		return -1;
	if ((rc = store_attempt_task(s, attempt_id, &task_id)) != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	if (task_id == 0) {
		char *msg;

		xasprintf(&msg, "no attempt #%lld", (long long)attempt_id);
		return store_refuse(s, msg, cause);
	}
	for (i = 0; i < n; i++) {
		const struct store_host_new *h = &hosts[i];

		if (h->host == NULL || h->run_dir == NULL) {
			return store_refuse(s, xstrdup("a host needs a name "
			    "and a run directory"), cause);
		}
		if ((q = store_stmt(s, Q_INS_HOST)) == NULL)
			return store_fail(s, store_errcode(s), what, cause);
		sqlite3_bind_int64(q, 1, attempt_id);
		store_bind_text(q, 2, h->host);
		sqlite3_bind_int(q, 3, h->node_rank);
		sqlite3_bind_int(q, 4, h->rank_first);
		sqlite3_bind_int(q, 5, h->nprocs);
		store_bind_text(q, 6, h->run_dir);
		if ((rc = store_stmt_run(s, q)) != SQLITE_DONE) {
			char *msg;

			if (rc == SQLITE_CONSTRAINT_UNIQUE) {
				xasprintf(&msg, "%s: already a host of "
				    "attempt #%lld", h->host,
				    (long long)attempt_id);
				return store_refuse(s, msg, cause);
			}
			return store_fail(s, rc, what, cause);
		}
		if (host_ids != NULL)
			host_ids[i] = sqlite3_last_insert_rowid(s->db);
		a.task_id = task_id;
		a.attempt_id = attempt_id;
		a.host_id = sqlite3_last_insert_rowid(s->db);
		a.kind = "add";
		a.actor = actor;
		a.to = "pending";
		a.data = json_pack("{s:i, s:i, s:i, s:s}", "node_rank",
		    h->node_rank, "rank_first", h->rank_first, "nprocs",
		    h->nprocs, "run_dir", h->run_dir);
		rc = store_audit_write(s, &a);
		json_decref((json_t *)a.data);
		if (rc != SQLITE_DONE)
			return store_fail(s, rc, what, cause);
	}
	if ((rc = store_attempt_derive(s, attempt_id, task_id, actor,
	    "hosts added")) != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	return store_tx_commit(s, what, cause);
}

struct store_host_row {
	int64_t attempt_id;
	int64_t task_id;
	char host[256];
	int state;		/* index, -1 when not one we know */
	char *reason;
	int launches;
};

/* SQLITE_DONE with *found 0 when there is no such host. */
static int
store_host_get(struct store *s, int64_t host_id, struct store_host_row *h,
    int *found)
{
	sqlite3_stmt *q;
	const char *r;
	int rc;

	memset(h, 0, sizeof *h);
	*found = 0;
	if ((q = store_stmt(s, Q_HOST_GET)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, host_id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*found = 1;
		h->attempt_id = sqlite3_column_int64(q, 0);
		h->task_id = sqlite3_column_int64(q, 1);
		snprintf(h->host, sizeof h->host, "%s", store_col_text(q, 2));
		h->state = store_state_index(store_col_text(q, 3));
		r = store_col_text(q, 4);
		h->reason = r != NULL ? xstrdup(r) : NULL;
		h->launches = sqlite3_column_int(q, 5);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(q);
	return rc;
}

static int
store_no_host(struct store *s, int64_t host_id, char **cause)
{
	char *msg;

	xasprintf(&msg, "no host #%lld in the database", (long long)host_id);
	return store_refuse(s, msg, cause);
}

/* An audit row about host h. */
static void
store_host_audit(struct store_audit *a, const struct store_host_row *h,
    int64_t host_id, const char *kind, const char *actor, const char *reason)
{
	a->task_id = h->task_id;
	a->attempt_id = h->attempt_id;
	a->host_id = host_id;
	a->kind = kind;
	a->actor = actor;
	a->reason = reason;
}

/* The host's new state and its audit row, its attempt derived: inside an
 * open transaction. SQLITE_DONE, or the error. */
static int
store_host_state_tx(struct store *s, int64_t host_id,
    const struct store_host_row *h, int to, const char *reason,
    const char *actor)
{
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	char *why;
	int rc;

	if ((q = store_stmt(s, Q_HOST_STATE_SET)) == NULL)
		return store_errcode(s);
	sqlite3_bind_int64(q, 1, host_id);
	sqlite3_bind_text(q, 2, store_states[to], -1, SQLITE_STATIC);
	store_bind_text(q, 3, reason);
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		return rc;
	store_host_audit(&a, h, host_id, "state", actor, reason);
	a.from = h->state != -1 ? store_states[h->state] : NULL;
	a.to = store_states[to];
	if ((rc = store_audit_write(s, &a)) != SQLITE_DONE)
		return rc;
	xasprintf(&why, "%s: %s%s%s", h->host, store_states[to],
	    reason != NULL ? ": " : "", reason != NULL ? reason : "");
	rc = store_attempt_derive(s, h->attempt_id, h->task_id, actor, why);
	free(why);
	return rc;
}

/* One more launch and its audit row, inside an open transaction. */
static int
store_host_launch_tx(struct store *s, int64_t host_id,
    const struct store_host_row *h, const char *actor, const char *reason)
{
	struct store_audit a = { 0 };
	sqlite3_stmt *q;
	int rc;

	if ((q = store_stmt(s, Q_HOST_LAUNCH)) != NULL)
		sqlite3_bind_int64(q, 1, host_id);
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		return rc;
	store_host_audit(&a, h, host_id, "launch", actor, reason);
	a.data = json_pack("{s:i}", "launch", h->launches + 1);
	rc = store_audit_write(s, &a);
	json_decref((json_t *)a.data);
	return rc;
}

/* Opens a transaction and reads the host: 0, or -1 with *cause. */
static int
store_host_begin(struct store *s, int64_t host_id, struct store_host_row *h,
    const char *what, char **cause)
{
	int found, rc;

	if (store_tx_begin(s, 1, cause) != 0)
		return -1;
	if ((rc = store_host_get(s, host_id, h, &found)) != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	if (!found)
		return store_no_host(s, host_id, cause);
	return 0;
}

int
store_host_set_state(struct store *s, int64_t host_id, const char *state,
    const char *reason, const char *actor, const char **from, char **cause)
{
	struct store_host_row h;
	int to = store_state_index(state), rc;
	char *what;

	if (from != NULL)
		*from = NULL;
	if (to == -1) {
		xasprintf(cause, "%s: not a host state", state);
		return -1;
	}
	if (store_host_begin(s, host_id, &h, "setting a host's state",
	    cause) != 0)
		return -1;
	if (from != NULL)
		*from = h.state != -1 ? store_states[h.state] : "unknown";
	if (h.state == to && ((reason == NULL && h.reason == NULL) ||
	    (reason != NULL && h.reason != NULL &&
	    strcmp(reason, h.reason) == 0))) {
		free(h.reason);
		store_tx_rollback(s);
		return 0;
	}
	xasprintf(&what, "setting %s to %s", h.host, state);
	if ((rc = store_host_state_tx(s, host_id, &h, to, reason, actor)) !=
	    SQLITE_DONE)
		store_fail(s, rc, what, cause);
	else
		rc = store_tx_commit(s, what, cause);
	free(what);
	free(h.reason);
	return rc == 0 ? 0 : -1;
}

int
store_host_launch(struct store *s, int64_t host_id, const char *actor,
    const char *reason, char **cause)
{
	struct store_host_row h;
	const char *what = "recording a launch";
	int rc;

	if (store_host_begin(s, host_id, &h, what, cause) != 0)
		return -1;
	free(h.reason);
	if ((rc = store_host_launch_tx(s, host_id, &h, actor, reason)) !=
	    SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	return store_tx_commit(s, what, cause);
}

int
store_host_start(struct store *s, int64_t host_id, const char *actor,
    const char *reason, char **cause)
{
	struct store_host_row h;
	const char *what = "recording a launch";
	int to = store_state_index("starting"), rc = SQLITE_DONE;

	if (store_host_begin(s, host_id, &h, what, cause) != 0)
		return -1;
	if (h.state != to || h.reason != NULL)
		rc = store_host_state_tx(s, host_id, &h, to, NULL, actor);
	free(h.reason);
	if (rc == SQLITE_DONE)
		rc = store_host_launch_tx(s, host_id, &h, actor, reason);
	if (rc != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	return store_tx_commit(s, what, cause);
}

int
store_host_set_drained(struct store *s, int64_t host_id, int drained,
    char **cause)
{
	const char *what = "recording that a host's events were all stored";
	sqlite3_stmt *q;
	int rc;

	if (store_tx_begin(s, 0, cause) != 0)
		return -1;
	if ((q = store_stmt(s, Q_HOST_DRAINED)) != NULL) {
		sqlite3_bind_int64(q, 1, host_id);
		sqlite3_bind_int(q, 2, drained != 0);
	}
	if ((rc = store_stmt_run(s, q)) != SQLITE_DONE)
		return store_fail(s, rc, what, cause);
	return store_tx_commit(s, what, cause);
}

/* In the open transaction: the host exists and is one of the attempt's. */
static int
store_check_member(struct store *s, int64_t attempt_id, int64_t host_id,
    char **cause)
{
	struct store_host_row h;
	int found, rc;
	char *msg;

	if ((rc = store_host_get(s, host_id, &h, &found)) != SQLITE_DONE)
		return store_fail(s, rc, "reading a host", cause);
	free(h.reason);
	if (!found)
		return store_no_host(s, host_id, cause);
	if (h.attempt_id != attempt_id) {
		xasprintf(&msg, "%s (host #%lld) is not a host of attempt "
		    "#%lld", h.host, (long long)host_id,
		    (long long)attempt_id);
		return store_refuse(s, msg, cause);
	}
	return 0;
}

/* Audit rows for a request about an attempt or some of its hosts. */
static int
store_request(struct store *s, int64_t attempt_id, const int64_t *host_ids,
    size_t n, const char *kind, const json_t *data, const char *actor,
    const char *reason, char **cause)
{
	struct store_audit a = { 0 };
	int64_t task_id;
	size_t i;
	int rc;
	char *msg;

	if (store_tx_begin(s, 1, cause) != 0)
		return -1;
	if ((rc = store_attempt_task(s, attempt_id, &task_id)) != SQLITE_DONE)
		return store_fail(s, rc, "recording a request", cause);
	if (task_id == 0) {
		xasprintf(&msg, "no attempt #%lld", (long long)attempt_id);
		return store_refuse(s, msg, cause);
	}
	a.task_id = task_id;
	a.attempt_id = attempt_id;
	a.kind = kind;
	a.actor = actor;
	a.reason = reason;
	a.data = data;
	for (i = 0; i < n || (n == 0 && i == 0); i++) {
		a.host_id = n > 0 ? host_ids[i] : 0;
		if (n > 0 && store_check_member(s, attempt_id, a.host_id,
		    cause) != 0)
			return -1;
		if ((rc = store_audit_write(s, &a)) != SQLITE_DONE)
			return store_fail(s, rc, "recording a request", cause);
	}
	return store_tx_commit(s, "recording a request", cause);
}

int
store_request_stop(struct store *s, int64_t attempt_id, int64_t host_id,
    int grace_s, const char *actor, const char *reason, char **cause)
{
	json_t *data = json_pack("{s:i}", "grace_s", grace_s);
	int ret;

	ret = store_request(s, attempt_id, &host_id, host_id != 0 ? 1 : 0,
	    "stop", data, actor, reason, cause);
	json_decref(data);
	return ret;
}

int
store_request_relaunch(struct store *s, int64_t attempt_id,
    enum store_relaunch mode, const int64_t *host_ids, size_t n,
    const char *actor, const char *reason, char **cause)
{
	json_t *data = json_pack("{s:s}", "mode",
	    mode == STORE_RELAUNCH_HOSTS ? "hosts" : "attempt");
	int ret;

	ret = store_request(s, attempt_id, host_ids, n, "relaunch", data,
	    actor, reason, cause);
	json_decref(data);
	return ret;
}

int
store_audit_add(struct store *s, const struct store_audit *a, char **cause)
{
	int rc;

	if (a->kind == NULL || a->kind[0] == '\0') {
		*cause = xstrdup("an audit row needs a kind");
		return -1;
	}
	if (store_tx_begin(s, 1, cause) != 0)
		return -1;
	if ((rc = store_audit_write(s, a)) != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT) {
			return store_refuse(s, xstrdup("audit row: no such "
			    "task, attempt or host"), cause);
		}
		return store_fail(s, rc, "recording an audit row", cause);
	}
	return store_tx_commit(s, "recording an audit row", cause);
}
