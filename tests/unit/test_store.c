/*
 * test_store.c - the SQLite store (tui/store*.c) on real database files in
 * the test's temporary directory: schema and migrations, the one-writer
 * lock, read-only opens beside a writer, exactly-once ingest, non-finite
 * values, unknown event types, the audit rows of decisions, summaries,
 * the metrics export order, and crash safety (a child SIGKILLed while it
 * ingests) and a full disk (a small tmpfs, when the test may mount one).
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../common/common.h"
#include "../../tui/store.h"

static const char *
db_path(const char *rel)
{
	static char path[1024];

	snprintf(path, sizeof path, "%s/%s", test_tmpdir(), rel);
	return path;
}

static struct store *
open_store(const char *path, int mode)
{
	struct store *s = NULL;
	char *cause = NULL;

	if (store_open(path, mode, &s, &cause) != 0) {
		printf("  store_open %s: %s\n", path, cause);
		free(cause);
		return NULL;
	}
	return s;
}

/* One integer from a query on its own read-only connection; -999 if none. */
static long long
sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long v = -999;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -999;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			v = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	} else
		printf("  %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
	return v;
}

/* One text value the same way, copied into a static buffer. */
static const char *
sql_text(const char *path, const char *sql)
{
	static char out[4096];
	sqlite3 *db;
	sqlite3_stmt *q;

	snprintf(out, sizeof out, "(none)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return out;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
			snprintf(out, sizeof out, "%s",
			    (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	return out;
}

static int
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* A task with one attempt of nhosts hosts "h0".."hN" (node rank i). */
struct fixture {
	int64_t task;
	int64_t attempt;
	int64_t hosts[8];
};

static int
fixture_make(struct store *s, const char *name, int nhosts,
    struct fixture *f)
{
	struct store_task_new t = { .name = name, .config_path = "x.yaml",
	    .config_text = "task: {}\n" };
	struct store_attempt_new a = { 0 };
	struct store_host_new h[8];
	char names[8][16], dirs[8][64];
	char *cause = NULL;
	int i;

	memset(f, 0, sizeof *f);
	if (store_task_create(s, &t, "user", &f->task, &cause) != 0)
		goto fail;
	a.task_id = f->task;
	a.stage = "main";
	a.reason = "launch";
	if (store_attempt_create(s, &a, "user", &f->attempt, NULL, &cause) != 0)
		goto fail;
	for (i = 0; i < nhosts; i++) {
		snprintf(names[i], sizeof names[i], "h%d", i);
		snprintf(dirs[i], sizeof dirs[i], "/runs/%s/1/h%d", name, i);
		h[i].host = names[i];
		h[i].node_rank = i;
		h[i].rank_first = 8 * i;
		h[i].nprocs = 8;
		h[i].run_dir = dirs[i];
	}
	if (store_hosts_add(s, f->attempt, h, (size_t)nhosts, "user",
	    f->hosts, &cause) != 0)
		goto fail;
	return 0;
fail:
	printf("  fixture: %s\n", cause);
	free(cause);
	return -1;
}

static json_t *
metric_ev(int64_t seq, int rank, int64_t step, double loss)
{
	json_t *e = json_pack("{s:s, s:I, s:I, s:i, s:I, s:I, s:f, s:f, "
	    "s:f, s:f, s:i}", "type", "metric", "seq", (json_int_t)seq, "t",
	    (json_int_t)(1700000000000LL + seq), "rank", rank, "step",
	    (json_int_t)step, "total_steps", (json_int_t)1000, "loss", loss,
	    "lr", 1e-5, "step_time_ms", 800.0 + (double)step, "samples_per_s",
	    40.0, "epoch", 1);

	json_object_set_new(e, "src", json_pack("[i, I, I]", 7,
	    (json_int_t)seq * 100, (json_int_t)seq * 100));
	return e;
}

/* Ingests metric events with seq from..to (inclusive). */
static int
ingest_range(struct store *s, int64_t hid, int64_t from, int64_t to,
    int64_t *cursor, char **cause)
{
	json_t *ev[512] = { NULL };
	size_t n = 0, i;
	int ret;

	for (int64_t q = from; q <= to && n < nitems(ev); q++)
		ev[n++] = metric_ev(q, 0, q, 1.0 / (double)q);
	ret = store_ingest(s, hid, ev, n, cursor, cause);
	for (i = 0; i < n; i++)
		json_decref(ev[i]);
	return ret;
}

/* ---- opening, schema, lock ----------------------------------------------- */

TEST(store_creates_schema_and_reopens)
{
	struct store *s;
	struct fixture f;
	struct stat sb;
	char path[1100], lock[1200], want[64], *cause = NULL;
	int64_t id;

	snprintf(path, sizeof path, "%s", db_path("deep/er/drover.db"));

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	CHECK_STR(store_path(s), path);
	CHECK(stat(db_path("deep/er"), &sb) == 0 &&
	    (sb.st_mode & 0777) == 0700);
	CHECK(stat(db_path("deep"), &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	snprintf(lock, sizeof lock, "%s.lock", path);
	CHECK(stat(lock, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	REQUIRE(fixture_make(s, "sdxl", 2, &f) == 0);
	store_close(s);

	CHECK_INT(sql_int(path, "PRAGMA user_version"), store_schema_version());
	CHECK_INT(store_schema_version(), 2);
	CHECK_STR(sql_text(path, "PRAGMA journal_mode"), "wal");
	CHECK_INT(sql_int(path, "SELECT count(*) FROM sqlite_schema WHERE "
	    "type = 'table'"), 10);
	/* Nothing left holding the lock: the pid is gone from it. */
	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	{
		char buf[64] = "";
		int fd = open(lock, O_RDONLY);

		CHECK(fd != -1 && read(fd, buf, sizeof buf - 1) > 0);
		CHECK_STR(buf, want);
		close(fd);
	}
	CHECK(store_task_find(s, "sdxl", &id, &cause) == 0);
	CHECK_INT(id, f.task);
	store_close(s);
	store_close(NULL);
}

TEST(store_default_path_follows_xdg)
{
	char *old_xdg = getenv("XDG_DATA_HOME") ?
	    xstrdup(getenv("XDG_DATA_HOME")) : NULL;
	char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	char *p;

	setenv("XDG_DATA_HOME", "/data/me", 1);
	p = store_default_path();
	CHECK_STR(p, "/data/me/drover/drover.db");
	free(p);
	setenv("XDG_DATA_HOME", "relative/ignored", 1);
	setenv("HOME", "/home/ml", 1);
	p = store_default_path();
	CHECK_STR(p, "/home/ml/.local/share/drover/drover.db");
	free(p);
	unsetenv("XDG_DATA_HOME");
	p = store_default_path();
	CHECK_STR(p, "/home/ml/.local/share/drover/drover.db");
	free(p);

	/* store_open(NULL) uses it, creating the directories 0700. */
	{
		struct store *s;
		struct stat sb;
		char dir[1100];

		setenv("XDG_DATA_HOME", test_tmpdir(), 1);
		REQUIRE((s = open_store(NULL, STORE_RDWR)) != NULL);
		snprintf(dir, sizeof dir, "%s/drover", test_tmpdir());
		CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
		CHECK_STR(store_path(s), db_path("drover/drover.db"));
		store_close(s);
	}
	if (old_xdg != NULL)
		setenv("XDG_DATA_HOME", old_xdg, 1);
	else
		unsetenv("XDG_DATA_HOME");
	if (old_home != NULL)
		setenv("HOME", old_home, 1);
	free(old_xdg);
	free(old_home);
}

TEST(store_refuses_newer_schema_and_foreign_databases)
{
	const char *path = db_path("drover.db");
	struct store *s = NULL;
	char *cause = NULL, want[2048];

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	store_close(s);
	REQUIRE(sql_exec(path, "PRAGMA user_version = 99") == 0);
	snprintf(want, sizeof want, "%s: the database has schema version 99, "
	    "newer than this drover (%s) understands (%d); use a newer drover",
	    path, DROVER_VERSION, store_schema_version());
	CHECK(store_open(path, STORE_RDWR, &s, &cause) == -1);
	CHECK(s == NULL);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK(store_open(path, STORE_RDONLY, &s, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK_INT(sql_int(path, "PRAGMA user_version"), 99);

	/* Some other program's database is left alone. */
	path = db_path("other.db");
	REQUIRE(sql_exec(path, "CREATE TABLE photos (x)") == 0);
	snprintf(want, sizeof want, "%s: an SQLite database, but not drover's "
	    "(it has tables and no drover schema version); give another "
	    "database path", path);
	CHECK(store_open(path, STORE_RDWR, &s, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK_INT(sql_int(path, "SELECT count(*) FROM sqlite_schema"), 1);

	/* An empty file: a reader finds nothing, a writer makes a store. */
	path = db_path("empty.db");
	REQUIRE(sql_exec(path, "PRAGMA user_version = 0") == 0);
	snprintf(want, sizeof want, "%s: no drover data yet; nothing has been "
	    "recorded there", path);
	CHECK(store_open(path, STORE_RDONLY, &s, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	store_close(s);
	CHECK_INT(sql_int(path, "PRAGMA user_version"), store_schema_version());

	/* A file that is not SQLite at all. */
	path = db_path("junk.db");
	{
		FILE *fp = fopen(path, "w");

		REQUIRE(fp != NULL);
		fputs("this is not a database, it is a text file that is "
		    "long enough to have a header and then some more bytes "
		    "after it\n", fp);
		fclose(fp);
	}
	CHECK(store_open(path, STORE_RDWR, &s, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "not a drover database") != NULL);
	free(cause);
}

/* Version 1 had no config_sets: an old database upgrades in place, its
 * tasks with an empty list; new tasks keep their --set overrides in order
 * and a relaunch's longer list replaces them, with an audit row. */
TEST(store_migrates_v1_and_keeps_config_sets)
{
	const char *path = db_path("v1.db");
	static const char old_task[] = "PRAGMA user_version = 1;"
	    "INSERT INTO tasks (name, config_path, config_text, stages, created)"
	    " VALUES ('old', '/c/old.yaml', 'task: {}', '[\"main\"]', 17);"
	    "INSERT INTO attempts (task_id, number, stage, created)"
	    " VALUES (1, 1, 'main', 18);";
	static const char has_col[] = "SELECT count(*) FROM"
	    " pragma_table_info('tasks') WHERE name = 'config_sets'";
	struct store_task_new tn = { .name = "new", .config_path = "/c/n.yaml" };
	struct store *s = NULL;
	json_t *sets, *more, *o = NULL, *list = NULL, *row;
	char *cause = NULL, want[1200];
	int64_t oldid, newid;
	size_t i;

	REQUIRE(store_schema_sql(1) != NULL);
	CHECK(store_schema_sql(0) == NULL);
	CHECK(store_schema_sql(store_schema_version() + 1) == NULL);
	REQUIRE(sql_exec(path, store_schema_sql(1)) == 0);
	REQUIRE(sql_exec(path, old_task) == 0);
	CHECK_INT(sql_int(path, has_col), 0);

	/* A reader does not upgrade it. */
	snprintf(want, sizeof want, "%s: the database has schema version 1 "
	    "and needs the upgrade to %d, which only a drover that writes (one "
	    "that launches or stops) does", path, store_schema_version());
	CHECK(store_open(path, STORE_RDONLY, &s, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK_INT(sql_int(path, "PRAGMA user_version"), 1);

	/* A writer does; the old task reads back with no overrides. */
	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	CHECK_INT(sql_int(path, "PRAGMA user_version"), 2);
	CHECK_INT(sql_int(path, has_col), 1);
	REQUIRE(store_task_find(s, "old", &oldid, &cause) == 0);
	REQUIRE(store_task_summary(s, oldid, &o, &cause) == 0);
	CHECK_STR(json_string_value(json_object_get(o, "config_path")),
	    "/c/old.yaml");
	CHECK_INT(json_integer_value(json_object_get(o, "attempt")), 1);
	CHECK(json_is_array(json_object_get(o, "config_sets")) &&
	    json_array_size(json_object_get(o, "config_sets")) == 0);
	json_decref(o);

	/* Round trip, in order, "dir" kept. */
	sets = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s, s:s}]",
	    "path", "cluster.hosts", "value", "n[1-4]",
	    "path", "task.env.X", "value", "one two",
	    "path", "cluster.include", "value", "c.yaml", "dir", "/launch/dir");
	tn.config_sets = sets;
	REQUIRE(store_task_create(s, &tn, "user", &newid, &cause) == 0);
	REQUIRE(store_task_summary(s, newid, &o, &cause) == 0);
	CHECK(json_equal(json_object_get(o, "config_sets"), sets));
	json_decref(o);
	CHECK_STR(sql_text(path, "SELECT json_extract(data, '$.config_sets[2]"
	    ".dir') FROM audit WHERE kind = 'create' AND task_id = 2"),
	    "/launch/dir");

	/* A relaunch's longer list replaces it. */
	more = json_deep_copy(sets);
	json_array_append_new(more, json_pack("{s:s, s:s}", "path",
	    "cluster.hosts", "value", "n[1-2]"));
	REQUIRE(store_task_set_config_sets(s, newid, more, "user", &cause) ==
	    0);
	REQUIRE(store_tasks_list(s, &list, &cause) == 0);
	json_array_foreach(list, i, row) {
		if (json_integer_value(json_object_get(row, "id")) == newid)
			CHECK(json_equal(json_object_get(row, "config_sets"),
			    more));
		else
			CHECK_INT(json_array_size(json_object_get(row,
			    "config_sets")), 0);
	}
	json_decref(list);
	CHECK_INT(sql_int(path, "SELECT json_array_length(data, "
	    "'$.config_sets') FROM audit WHERE kind = 'config_sets' AND "
	    "task_id = 2"), 4);

	/* Refused: no such task, not a list of {path, value} strings. */
	CHECK(store_task_set_config_sets(s, 99, more, "user", &cause) == -1);
	CHECK_STR(cause, "no task #99");
	free(cause);
	cause = NULL;
	json_array_append_new(more, json_pack("{s:s, s:i}", "path", "x",
	    "value", 1));
	CHECK(store_task_set_config_sets(s, newid, more, "user", &cause) ==
	    -1);
	CHECK_STR(cause, "--set override 5: expected {\"path\": STRING, "
	    "\"value\": STRING}");
	free(cause);
	cause = NULL;
	store_close(s);

	/* What a reader sees after the upgrade. */
	REQUIRE((s = open_store(path, STORE_RDONLY)) != NULL);
	REQUIRE(store_task_summary(s, newid, &o, &cause) == 0);
	CHECK_INT(json_array_size(json_object_get(o, "config_sets")), 4);
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "config_sets"), 3), "value")), "n[1-2]");
	json_decref(o);
	store_close(s);
	json_decref(sets);
	json_decref(more);
}

TEST(store_second_writer_is_refused_with_the_pid)
{
	const char *path = db_path("drover.db");
	struct store *a, *b = NULL, *r;
	char *cause = NULL, want[2048];
	json_t *list = NULL;

	REQUIRE((a = open_store(path, STORE_RDWR)) != NULL);
	snprintf(want, sizeof want, "%s: in use by another drover (pid %ld); "
	    "read-only commands still work", path, (long)getpid());
	CHECK(store_open(path, STORE_RDWR, &b, &cause) == -1);
	CHECK(b == NULL);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	/* ... and a reader is fine meanwhile. */
	REQUIRE((r = open_store(path, STORE_RDONLY)) != NULL);
	CHECK(store_tasks_list(r, &list, &cause) == 0);
	CHECK_INT(json_array_size(list), 0);
	json_decref(list);
	store_close(r);
	store_close(a);
	/* Once the writer is gone the next one gets in. */
	REQUIRE((b = open_store(path, STORE_RDWR)) != NULL);
	store_close(b);
}

TEST(store_reader_beside_a_writer_sees_commits)
{
	const char *path = db_path("drover.db");
	struct store *w, *r, *none = NULL;
	struct store_task_new t = { .name = "ro" };
	struct fixture f;
	int64_t cursor, id;
	json_t *list = NULL, *hosts = NULL;
	char *cause = NULL, want[2048];

	/* A reader creates nothing. */
	snprintf(want, sizeof want, "%s: no database yet; nothing has been "
	    "recorded there", path);
	CHECK(store_open(path, STORE_RDONLY, &none, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK(access(path, F_OK) == -1);

	REQUIRE((w = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(w, "live", 1, &f) == 0);
	REQUIRE(ingest_range(w, f.hosts[0], 1, 10, &cursor, &cause) == 0);
	REQUIRE((r = open_store(path, STORE_RDONLY)) != NULL);
	CHECK(store_attempt_hosts(r, f.attempt, &hosts, &cause) == 0);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(hosts, 0),
	    "cursor")), 10);
	json_decref(hosts);
	REQUIRE(ingest_range(w, f.hosts[0], 11, 25, &cursor, &cause) == 0);
	CHECK(store_attempt_hosts(r, f.attempt, &hosts, &cause) == 0);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(hosts, 0),
	    "cursor")), 25);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(
	    json_array_get(hosts, 0), "metric"), "step")), 25);
	json_decref(hosts);
	/* The reader cannot write. */
	snprintf(want, sizeof want, "%s: opened read-only; only the engine "
	    "writes", path);
	CHECK(store_task_create(r, &t, "user", &id, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK(ingest_range(r, f.hosts[0], 26, 26, &cursor, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	cause = NULL;
	CHECK(store_tasks_list(r, &list, &cause) == 0);
	CHECK_INT(json_array_size(list), 1);
	json_decref(list);
	store_close(w);
	/* The writer's close leaves a database a reader alone can open. */
	CHECK(store_tasks_list(r, &list, &cause) == 0);
	json_decref(list);
	store_close(r);
	REQUIRE((r = open_store(path, STORE_RDONLY)) != NULL);
	CHECK(store_host_cursor(r, f.hosts[0], &cursor, &cause) == 0);
	CHECK_INT(cursor, 25);
	store_close(r);
}

/* ---- ingest -------------------------------------------------------------- */

TEST(store_ingest_is_exactly_once)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	json_t *ev[4];
	int64_t cursor;
	char *cause = NULL, sql[256];
	size_t i;

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "once", 2, &f) == 0);
	CHECK_INT(ingest_range(s, f.hosts[0], 1, 5, &cursor, &cause), 0);
	CHECK_INT(cursor, 5);
	/* A re-attach sends 3..8 again: 3..5 are skipped. */
	CHECK_INT(ingest_range(s, f.hosts[0], 3, 8, &cursor, &cause), 0);
	CHECK_INT(cursor, 8);
	/* All duplicates: nothing changes. */
	CHECK_INT(ingest_range(s, f.hosts[0], 1, 8, &cursor, &cause), 0);
	CHECK_INT(cursor, 8);
	/* 9, 10, then 12: the batch stops at the gap; 9 and 10 stay. */
	ev[0] = metric_ev(9, 0, 9, 0.5);
	ev[1] = metric_ev(10, 0, 10, 0.5);
	ev[2] = metric_ev(12, 0, 12, 0.5);
	ev[3] = metric_ev(13, 0, 13, 0.5);
	CHECK_INT(store_ingest(s, f.hosts[0], ev, 4, &cursor, &cause),
	    STORE_GAP);
	CHECK_INT(cursor, 10);
	CHECK_STR(cause, "h0: events 11-11 are missing (event 12 came after "
	    "10); stored through 10; attach again from there");
	free(cause);
	cause = NULL;
	for (i = 0; i < 4; i++)
		json_decref(ev[i]);
	/* An event without a seq ends the batch too, as an error. */
	ev[0] = metric_ev(11, 0, 11, 0.5);
	ev[1] = json_pack("{s:s}", "type", "metric");
	ev[2] = metric_ev(12, 0, 12, 0.5);
	CHECK_INT(store_ingest(s, f.hosts[0], ev, 3, &cursor, &cause), -1);
	CHECK_INT(cursor, 11);
	CHECK_STR(cause, "h0: event 2 of the batch has no integer seq; stored "
	    "through 11; the rest of the batch was not stored");
	free(cause);
	cause = NULL;
	for (i = 0; i < 3; i++)
		json_decref(ev[i]);
	/* The other host has its own cursor. */
	CHECK_INT(ingest_range(s, f.hosts[1], 1, 3, &cursor, &cause), 0);
	CHECK_INT(cursor, 3);
	CHECK_INT(ingest_range(s, 999, 1, 3, &cursor, &cause), -1);
	CHECK_STR(cause, "no host #999 in the database; events for it cannot "
	    "be stored");
	free(cause);
	cause = NULL;
	CHECK(store_host_cursor(s, f.hosts[0], &cursor, &cause) == 0);
	CHECK_INT(cursor, 11);
	store_close(s);

	snprintf(sql, sizeof sql, "SELECT count(*) || ',' || min(seq) || ',' "
	    "|| max(seq) || ',' || count(DISTINCT seq) FROM metrics WHERE "
	    "host_id = %lld", (long long)f.hosts[0]);
	CHECK_STR(sql_text(path, sql), "11,1,11,11");
	snprintf(sql, sizeof sql, "SELECT cursor FROM attempt_hosts WHERE "
	    "id = %lld", (long long)f.hosts[0]);
	CHECK_INT(sql_int(path, sql), 11);
	snprintf(sql, sizeof sql, "SELECT last_seen > 0 FROM attempt_hosts "
	    "WHERE id = %lld", (long long)f.hosts[0]);
	CHECK_INT(sql_int(path, sql), 1);
	CHECK_INT(sql_int(path, "SELECT count(*) FROM metrics"), 14);
	/* The UNIQUE guard is there besides the cursor. */
	snprintf(sql, sizeof sql, "INSERT INTO metrics (host_id, seq, step) "
	    "VALUES (%lld, 5, 5)", (long long)f.hosts[0]);
	CHECK(sql_exec(path, sql) == -1);
}

TEST(store_ingest_refuses_rows_behind_a_cursor)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	int64_t cursor;
	char *cause = NULL, sql[256];

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "tamper", 1, &f) == 0);
	CHECK_INT(ingest_range(s, f.hosts[0], 1, 4, &cursor, &cause), 0);
	store_close(s);
	/* Someone moves the cursor back by hand. */
	snprintf(sql, sizeof sql, "UPDATE attempt_hosts SET cursor = 2 "
	    "WHERE id = %lld", (long long)f.hosts[0]);
	REQUIRE(sql_exec(path, sql) == 0);
	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	CHECK_INT(ingest_range(s, f.hosts[0], 3, 6, &cursor, &cause), -1);
	CHECK_INT(cursor, 2);
	CHECK_STR(cause, "h0: event 3 is already stored though the host's "
	    "cursor is 2: the database was changed outside drover; nothing of "
	    "this batch was stored");
	free(cause);
	store_close(s);
	CHECK_INT(sql_int(path, "SELECT count(*) FROM metrics"), 4);
}

struct collect {
	struct buf b;
	int stop_after;
	int n;
	struct store_metric last;
	char extras[256];
};

static int
collect_metric(const struct store_metric *m, void *arg)
{
	struct collect *c = arg;

	buf_printf(&c->b, "%d/%s/%d/%lld/%lld ", m->attempt, m->host, m->rank,
	    (long long)m->step, (long long)m->seq);
	c->last = *m;
	c->last.host = NULL;
	snprintf(c->extras, sizeof c->extras, "%s",
	    m->extras != NULL ? m->extras : "(null)");
	c->last.extras = NULL;
	if (++c->n == c->stop_after)
		return 7;
	return 0;
}

TEST(store_nonfinite_values_round_trip)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	struct collect c = { .stop_after = 0 };
	json_t *ev[2], *sum = NULL, *hosts = NULL, *m;
	int64_t cursor;
	char *cause = NULL, out[128];

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "nan", 1, &f) == 0);
	ev[0] = json_pack("{s:s, s:i, s:I, s:i, s:i, s:s, s:s, s:s, s:f, "
	    "s:s, s:f, s:s, s:[s]}", "type", "metric", "seq", 1, "t",
	    (json_int_t)1700000000001LL, "rank", 0, "step", 10, "loss", "nan",
	    "lr", "inf", "step_time_ms", "-inf", "samples_per_s", 12.5,
	    "loss_scale", "nan", "grad_norm", 1.5, "note", "warmup",
	    "nonfinite", "loss");
	ev[1] = json_pack("{s:s, s:i, s:i, s:i}", "type", "metric", "seq", 2,
	    "rank", 0, "step", 11);
	CHECK_INT(store_ingest(s, f.hosts[0], ev, 1, &cursor, &cause), 0);
	json_decref(ev[0]);

	c.stop_after = 1;
	buf_init(&c.b);
	CHECK_INT(store_metrics_each(s, f.task, NULL, collect_metric, &c,
	    &cause), 7);
	CHECK(isnan(c.last.loss));
	CHECK(isinf(c.last.lr) && c.last.lr > 0);
	CHECK(isinf(c.last.step_time_ms) && c.last.step_time_ms < 0);
	CHECK_DBL(c.last.samples_per_s, 12.5, 0);
	CHECK_INT(c.last.has, STORE_HAS_LOSS | STORE_HAS_LR |
	    STORE_HAS_STEP_TIME | STORE_HAS_SAMPLES);
	CHECK_INT(c.last.t, 1700000000001LL);
	snprintf(out, sizeof out, "%g %g %g", c.last.loss, c.last.lr,
	    c.last.step_time_ms);
	CHECK_STR(out, "nan inf -inf");
	CHECK_STR(c.extras, "{\"loss_scale\":\"nan\",\"grad_norm\":1.5,"
	    "\"note\":\"warmup\"}");
	/* In the database: NULL columns, and what they were beside them. */
	CHECK_STR(sql_text(path, "SELECT nonfinite FROM metrics WHERE seq = 1"),
	    "{\"loss\":\"nan\",\"lr\":\"inf\",\"step_time_ms\":\"-inf\"}");
	CHECK_INT(sql_int(path, "SELECT loss IS NULL FROM metrics WHERE "
	    "seq = 1"), 1);

	/* JSON readers get the protocol's strings. */
	REQUIRE(store_task_summary(s, f.task, &sum, &cause) == 0);
	CHECK_STR(json_string_value(json_object_get(sum, "loss")), "nan");
	CHECK_STR(json_string_value(json_object_get(sum, "lr")), "inf");
	CHECK_STR(json_string_value(json_object_get(sum, "step_time_ms")),
	    "-inf");
	CHECK_DBL(json_real_value(json_object_get(sum, "samples_per_s")), 12.5,
	    0);
	json_decref(sum);

	/* Absent is not NaN. */
	CHECK_INT(store_ingest(s, f.hosts[0], &ev[1], 1, &cursor, &cause), 0);
	json_decref(ev[1]);
	c.stop_after = 0;
	c.n = 0;
	buf_reset(&c.b);
	CHECK_INT(store_metrics_each(s, f.task, NULL, collect_metric, &c,
	    &cause), 0);
	CHECK_INT(c.n, 2);
	CHECK_INT(c.last.has, 0);
	CHECK_INT(c.last.total_steps, -1);
	CHECK_STR(c.extras, "(null)");
	buf_free(&c.b);

	REQUIRE(store_attempt_hosts(s, f.attempt, &hosts, &cause) == 0);
	m = json_object_get(json_array_get(hosts, 0), "metric");
	CHECK_INT(json_integer_value(json_object_get(m, "step")), 11);
	CHECK(json_is_null(json_object_get(m, "loss")));
	json_decref(hosts);
	store_close(s);
}

TEST(store_keeps_every_event_type)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	json_t *ev[8], *tel = NULL, *d;
	int64_t cursor;
	char *cause = NULL;
	size_t i;

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "types", 1, &f) == 0);
	ev[0] = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s}", "type", "state",
	    "seq", 1, "t", 5, "scope", "run", "state", "running", "launch",
	    "abc");
	ev[1] = json_pack("{s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:s}", "type",
	    "log", "seq", 2, "t", 6, "rank", 3, "level", "error", "what",
	    "traceback", "stream", "output", "line",
	    "Traceback (most recent call last):\n  boom");
	ev[2] = json_pack("{s:s, s:i, s:i, s:s, s:i}", "type", "ckpt", "seq",
	    3, "rank", 0, "path", "/ckpt/SDXL-base-1.0_500.ckpt", "step", 500);
	ev[3] = json_pack("{s:s, s:i, s:i, s:s, s:[{s:i, s:i, s:i, s:i, "
	    "s:i, s:f, s:s}, {s:i, s:i}]}", "type", "telemetry", "seq", 4,
	    "t", 7, "source", "nvidia-smi", "devices", "index", 0, "util_pct",
	    97, "mem_used_mb", 30123, "mem_total_mb", 81559, "temp_c", 64,
	    "power_w", 312.5, "name", "H100", "index", 1, "util_pct", 3);
	ev[4] = json_pack("{s:s, s:i, s:i, s:{s:[i, i]}}", "type", "gpu_smell",
	    "seq", 5, "t", 8, "nose", "ppm", 1, 2);
	ev[5] = json_pack("{s:s, s:i, s:f}", "type", "metric", "seq", 6,
	    "loss", 0.5);
	ev[6] = json_pack("{s:i, s:s}", "seq", 7, "what", "no type at all");
	ev[7] = json_pack("{s:s, s:i, s:s, s:i, s:[i, i]}", "type",
	    "telemetry", "seq", 8, "source", "npu-smi", "t", 9, "devices", 1,
	    2);
	CHECK_INT(store_ingest(s, f.hosts[0], ev, 8, &cursor, &cause), 0);
	CHECK_INT(cursor, 8);
	for (i = 0; i < 8; i++)
		json_decref(ev[i]);
	REQUIRE(store_telemetry_latest(s, f.attempt, &tel, &cause) == 0);
	CHECK_INT(json_array_size(tel), 1);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(tel, 0),
	    "seq")), 4);
	CHECK_STR(json_string_value(json_object_get(json_array_get(tel, 0),
	    "source")), "nvidia-smi");
	d = json_object_get(json_array_get(tel, 0), "devices");
	CHECK_INT(json_array_size(d), 2);
	CHECK_DBL(json_real_value(json_object_get(json_array_get(d, 0),
	    "power_w")), 312.5, 0);
	CHECK_DBL(json_real_value(json_object_get(json_array_get(d, 0),
	    "mem_used_mb")), 30123, 0);
	CHECK_STR(json_string_value(json_object_get(json_array_get(d, 0),
	    "name")), "H100");
	CHECK_INT(json_integer_value(json_object_get(json_array_get(d, 1),
	    "index")), 1);
	CHECK(json_object_get(json_array_get(d, 1), "temp_c") == NULL);
	json_decref(tel);
	store_close(s);

	CHECK_STR(sql_text(path, "SELECT scope || ' ' || state || ' ' || "
	    "json_extract(data, '$.launch') FROM agent_states"),
	    "run running abc");
	CHECK_STR(sql_text(path, "SELECT rank || ' ' || level || ' ' || what "
	    "|| ' ' || line FROM logs WHERE seq = 2"),
	    "3 error traceback Traceback (most recent call last):\n  boom");
	CHECK_STR(sql_text(path, "SELECT path || ' ' || step FROM checkpoints"),
	    "/ckpt/SDXL-base-1.0_500.ckpt 500");
	CHECK_INT(sql_int(path, "SELECT count(*) FROM telemetry"), 2);
	/* Unknown type, a metric without a step, no type, devices that are
	 * not objects: all kept whole. */
	CHECK_INT(sql_int(path, "SELECT count(*) FROM raw_events"), 4);
	CHECK_STR(sql_text(path, "SELECT type || ' ' || data FROM raw_events "
	    "WHERE seq = 5"),
	    "gpu_smell {\"type\":\"gpu_smell\",\"seq\":5,\"t\":8,"
	    "\"nose\":{\"ppm\":[1,2]}}");
	CHECK_STR(sql_text(path, "SELECT type || ' ' || data FROM raw_events "
	    "WHERE seq = 6"),
	    "metric {\"type\":\"metric\",\"seq\":6,\"loss\":0.5}");
	CHECK_STR(sql_text(path, "SELECT quote(type) FROM raw_events "
	    "WHERE seq = 7"), "''");
	CHECK_INT(sql_int(path, "SELECT count(*) FROM metrics"), 0);
}

/* ---- decisions and reads ------------------------------------------------- */

/* "kind:host:from>to:reason" per audit row, ' '-separated. */
static void
audit_string(struct store *s, int64_t task, char *out, size_t len)
{
	json_t *a = NULL, *r;
	char *cause = NULL;
	size_t i, off = 0;

	out[0] = '\0';
	if (store_audit_list(s, task, &a, &cause) != 0) {
		snprintf(out, len, "error: %s", cause);
		free(cause);
		return;
	}
	json_array_foreach(a, i, r) {
		const char *h = json_string_value(json_object_get(r, "host"));
		const char *fr = json_string_value(json_object_get(r, "from"));
		const char *to = json_string_value(json_object_get(r, "to"));
		const char *re = json_string_value(json_object_get(r,
		    "reason"));

		off += (size_t)snprintf(out + off, len - off,
		    "%s%s:%s:%s>%s:%s", i > 0 ? " | " : "",
		    json_string_value(json_object_get(r, "kind")),
		    h ? h : "-", fr ? fr : "", to ? to : "", re ? re : "");
		if (off >= len)
			break;
	}
	json_decref(a);
}

TEST(store_every_decision_writes_an_audit_row)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	struct store_attempt_new an = { 0 };
	struct store_audit extra = { 0 };
	json_t *a = NULL, *r;
	const char *from = NULL;
	char audit[4096], *cause = NULL;
	int64_t a2, hosts2[2] = { 0 };
	int number = 0;

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "dec", 2, &f) == 0);
	audit_string(s, f.task, audit, sizeof audit);
	CHECK_STR(audit, "create:-:>: | attempt:-:>pending:launch | "
	    "add:h0:>pending: | add:h1:>pending:");

	CHECK(store_host_set_state(s, f.hosts[0], "connecting", NULL,
	    "engine", &from, &cause) == 0);
	CHECK_STR(from, "pending");
	CHECK(store_host_launch(s, f.hosts[0], "engine", "first", &cause) == 0);
	CHECK(store_host_set_state(s, f.hosts[0], "running", NULL, "engine",
	    &from, &cause) == 0);
	CHECK_STR(from, "connecting");
	/* The same state and reason again is no transition. */
	CHECK(store_host_set_state(s, f.hosts[0], "running", NULL, "engine",
	    &from, &cause) == 0);
	CHECK_STR(from, "running");
	CHECK(store_host_set_state(s, f.hosts[1], "failed",
	    "rank 9 exited 137 (killed, SIGKILL; possible OOM)", "engine",
	    &from, &cause) == 0);
	CHECK(store_request_stop(s, f.attempt, 0, 30, "user", "user asked",
	    &cause) == 0);
	CHECK(store_request_relaunch(s, f.attempt, STORE_RELAUNCH_HOSTS,
	    &f.hosts[1], 1, "user", "relaunch failed", &cause) == 0);
	CHECK(store_host_launch(s, f.hosts[1], "engine", "relaunch", &cause) ==
	    0);
	CHECK(store_host_set_state(s, f.hosts[1], "running", NULL, "engine",
	    NULL, &cause) == 0);
	audit_string(s, f.task, audit, sizeof audit);
	CHECK_STR(audit, "create:-:>: | attempt:-:>pending:launch | "
	    "add:h0:>pending: | add:h1:>pending: | "
	    "state:h0:pending>connecting: | "
	    "state:-:pending>starting:h0: connecting | launch:h0:>:first | "
	    "state:h0:connecting>running: | "
	    "state:-:starting>running:h0: running | "
	    "state:h1:pending>failed:rank 9 exited 137 (killed, SIGKILL; "
	    "possible OOM) | state:-:running>degraded:h1: failed: rank 9 "
	    "exited 137 (killed, SIGKILL; possible OOM) | "
	    "stop:-:>:user asked | relaunch:h1:>:relaunch failed | "
	    "launch:h1:>:relaunch | state:h1:failed>running: | "
	    "state:-:degraded>running:h1: running");

	/* Actors and data are recorded. */
	REQUIRE(store_audit_list(s, f.task, &a, &cause) == 0);
	r = json_array_get(a, 6);
	CHECK_STR(json_string_value(json_object_get(r, "actor")), "engine");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r,
	    "data"), "launch")), 1);
	CHECK_INT(json_integer_value(json_object_get(r, "attempt")), 1);
	CHECK_INT(json_integer_value(json_object_get(r, "host_id")),
	    f.hosts[0]);
	r = json_array_get(a, 13);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r,
	    "data"), "launch")), 1);
	CHECK(store_host_launch(s, f.hosts[0], "engine", "again", &cause) ==
	    0);
	CHECK_STR(sql_text(path, "SELECT group_concat(launches) FROM "
	    "(SELECT launches FROM attempt_hosts ORDER BY id)"), "2,1");
	CHECK_STR(sql_text(path, "SELECT data FROM audit ORDER BY id DESC "
	    "LIMIT 1"), "{\"launch\":2}");
	r = json_array_get(a, 11);
	CHECK_STR(json_string_value(json_object_get(r, "kind")), "stop");
	CHECK(json_is_null(json_object_get(r, "host")));
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r,
	    "data"), "grace_s")), 30);
	CHECK_STR(json_string_value(json_object_get(r, "actor")), "user");
	CHECK_STR(json_string_value(json_object_get(json_object_get(
	    json_array_get(a, 12), "data"), "mode")), "hosts");
	CHECK(json_integer_value(json_object_get(json_array_get(a, 0), "t")) >
	    1600000000000LL);
	json_decref(a);

	/* A new attempt with its lineage; its parent must be the task's. */
	an.task_id = f.task;
	an.stage = "main";
	an.parent_id = f.attempt;
	an.reason = "rank 3 died";
	an.resume = 1;
	CHECK(store_request_relaunch(s, f.attempt, STORE_RELAUNCH_ATTEMPT,
	    NULL, 0, "engine", "rank 3 died", &cause) == 0);
	CHECK(store_attempt_create(s, &an, "engine", &a2, &number, &cause) ==
	    0);
	CHECK_INT(number, 2);
	CHECK_INT(sql_int(path, "SELECT parent_id FROM attempts WHERE "
	    "number = 2"), f.attempt);
	CHECK_INT(sql_int(path, "SELECT resume FROM attempts WHERE number = 2"),
	    1);
	{
		struct store_host_new h = { "h0", 0, 0, 8, "/runs/dec/2/h0" };

		CHECK(store_hosts_add(s, a2, &h, 1, "engine", hosts2, &cause) ==
		    0);
		CHECK(store_hosts_add(s, a2, &h, 1, "engine", hosts2, &cause) ==
		    -1);
		CHECK_STR(cause, "h0: already a host of attempt #2");
		free(cause);
		cause = NULL;
	}
	extra.task_id = f.task;
	extra.attempt_id = a2;
	extra.kind = "note";
	extra.actor = "user";
	extra.reason = "swapped a cable";
	CHECK(store_audit_add(s, &extra, &cause) == 0);
	REQUIRE(store_audit_list(s, f.task, &a, &cause) == 0);
	CHECK_INT(json_array_size(a), 21);
	r = json_array_get(a, 17);
	CHECK_STR(json_string_value(json_object_get(r, "kind")), "relaunch");
	CHECK_STR(json_string_value(json_object_get(json_object_get(r, "data"),
	    "mode")), "attempt");
	r = json_array_get(a, 18);
	CHECK_STR(json_string_value(json_object_get(r, "kind")), "attempt");
	CHECK_INT(json_integer_value(json_object_get(r, "attempt")), 2);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "data"),
	    "parent")), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(a, 20),
	    "reason")), "swapped a cable");
	json_decref(a);

	/* Refusals change nothing and say why. */
	CHECK(store_host_set_state(s, f.hosts[0], "sleeping", NULL, "user",
	    NULL, &cause) == -1);
	CHECK_STR(cause, "sleeping: not a host state");
	free(cause);
	cause = NULL;
	CHECK(store_host_set_state(s, 4242, "running", NULL, "user", NULL,
	    &cause) == -1);
	CHECK_STR(cause, "no host #4242 in the database");
	free(cause);
	cause = NULL;
	CHECK(store_request_relaunch(s, a2, STORE_RELAUNCH_HOSTS, &f.hosts[1],
	    1, "user", NULL, &cause) == -1);
	CHECK_STR(cause, "h1 (host #2) is not a host of attempt #2");
	free(cause);
	cause = NULL;
	an.parent_id = 77;
	CHECK(store_attempt_create(s, &an, "engine", NULL, NULL, &cause) == -1);
	CHECK_STR(cause, "attempt #77 is not an attempt of task #1; it cannot "
	    "be the parent");
	free(cause);
	cause = NULL;
	an.parent_id = 0;
	an.stage = "infer";
	CHECK(store_attempt_create(s, &an, "engine", NULL, NULL, &cause) == -1);
	CHECK_STR(cause, "task #1 has no stage infer (its stages: [\"main\"])");
	free(cause);
	cause = NULL;
	CHECK_INT(sql_int(path, "SELECT count(*) FROM audit"), 21);
	CHECK_INT(sql_int(path, "SELECT count(*) FROM attempts"), 2);
	store_close(s);
}

/* The decision to start a host's agent: its state and one more launch,
 * audited together (tui/engine_launch.c records it before the agent is
 * asked to run, so a drover killed meanwhile has counted the launch). */
TEST(store_host_start_records_state_and_launch_together)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	char audit[4096], *cause = NULL;

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "st", 1, &f) == 0);
	CHECK(store_host_start(s, f.hosts[0], "engine", "launched", &cause) ==
	    0);
	CHECK_STR(sql_text(path, "SELECT state || ' ' || launches FROM "
	    "attempt_hosts"), "starting 1");
	/* starting already: only the launch is new */
	CHECK(store_host_start(s, f.hosts[0], "engine", "again", &cause) == 0);
	CHECK_STR(sql_text(path, "SELECT state || ' ' || launches FROM "
	    "attempt_hosts"), "starting 2");
	audit_string(s, f.task, audit, sizeof audit);
	CHECK_STR(audit, "create:-:>: | attempt:-:>pending:launch | "
	    "add:h0:>pending: | state:h0:pending>starting: | "
	    "state:-:pending>starting:h0: starting | launch:h0:>:launched | "
	    "launch:h0:>:again");
	CHECK_STR(sql_text(path, "SELECT data FROM audit ORDER BY id DESC "
	    "LIMIT 1"), "{\"launch\":2}");
	CHECK(store_host_start(s, 4242, "engine", "launched", &cause) == -1);
	CHECK_STR(cause, "no host #4242 in the database");
	free(cause);
	CHECK_INT(sql_int(path, "SELECT count(*) FROM audit"), 7);
	store_close(s);
}

TEST(store_summary_and_list_json)
{
	const char *path = db_path("drover.db");
	const char *stages[] = { "cache", "train", NULL };
	struct store_task_new tn = { .name = "sdxl-ft", .config_path = "a.yaml",
	    .stages = stages };
	struct store_attempt_new an = { 0 };
	struct store_host_new hn[3] = {
		{ "10.0.0.2", 0, 0, 8, "/r/2" },
		{ "10.0.0.3", 1, 8, 8, "/r/3" },
		{ "10.0.0.4", 2, 16, 8, "/r/4" },
	};
	struct store *s;
	json_t *ev[3], *list = NULL, *o, *h;
	int64_t task, empty, aid, hid[3], cursor;
	char *cause = NULL;
	size_t i;

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(store_task_create(s, &tn, "user", &task, &cause) == 0);
	tn.name = "later";
	tn.stages = NULL;
	REQUIRE(store_task_create(s, &tn, "user", &empty, &cause) == 0);
	an.task_id = task;
	an.stage = "train";
	REQUIRE(store_attempt_create(s, &an, "user", &aid, NULL, &cause) == 0);
	REQUIRE(store_hosts_add(s, aid, hn, 3, "user", hid, &cause) == 0);
	for (i = 0; i < 3; i++)
		REQUIRE(store_host_set_state(s, hid[i], "running", NULL,
		    "engine", NULL, &cause) == 0);
	REQUIRE(store_host_set_state(s, hid[2], "stalled", "no step for 600 s",
	    "engine", NULL, &cause) == 0);
	/* Host 0 at step 120 (t 2000), host 1 at step 121 (t 1990). */
	ev[0] = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}",
	    "type", "metric", "seq", 1, "t", 1000, "rank", 0, "step", 119,
	    "total_steps", 5000, "loss", 0.2, "step_time_ms", 800.0,
	    "samples_per_s", 40.0);
	ev[1] = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f}", "type",
	    "metric", "seq", 2, "t", 2000, "rank", 0, "step", 120,
	    "total_steps", 5000, "loss", 0.125, "step_time_ms", 812.5);
	REQUIRE(store_ingest(s, hid[0], ev, 2, &cursor, &cause) == 0);
	ev[2] = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}",
	    "type", "metric", "seq", 1, "t", 1990, "rank", 8, "step", 121,
	    "total_steps", 5000, "loss", 0.5, "step_time_ms", 900.0,
	    "samples_per_s", 39.5);
	REQUIRE(store_ingest(s, hid[1], &ev[2], 1, &cursor, &cause) == 0);
	for (i = 0; i < 3; i++)
		json_decref(ev[i]);

	REQUIRE(store_tasks_list(s, &list, &cause) == 0);
	REQUIRE(json_array_size(list) == 2);
	o = json_array_get(list, 0);
	CHECK_INT(json_integer_value(json_object_get(o, "id")), task);
	CHECK_STR(json_string_value(json_object_get(o, "name")), "sdxl-ft");
	CHECK_STR(json_string_value(json_object_get(o, "config_path")),
	    "a.yaml");
	CHECK_STR(json_string_value(json_array_get(json_object_get(o,
	    "stages"), 1)), "train");
	CHECK_STR(json_string_value(json_object_get(o, "state")), "degraded");
	CHECK_STR(json_string_value(json_object_get(o, "stage")), "train");
	CHECK_INT(json_integer_value(json_object_get(o, "attempt")), 1);
	h = json_object_get(o, "hosts");
	CHECK_INT(json_integer_value(json_object_get(h, "total")), 3);
	CHECK_INT(json_integer_value(json_object_get(h, "up")), 3);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(h,
	    "states"), "running")), 2);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(h,
	    "states"), "stalled")), 1);
	CHECK_INT(json_integer_value(json_object_get(o, "step")), 121);
	CHECK_INT(json_integer_value(json_object_get(o, "total_steps")), 5000);
	/* The freshest value of each (host 0's t 2000; its samples/s is
	 * from t 1990, host 1's). */
	CHECK_DBL(json_real_value(json_object_get(o, "loss")), 0.125, 0);
	CHECK_DBL(json_real_value(json_object_get(o, "step_time_ms")), 812.5,
	    0);
	CHECK_DBL(json_real_value(json_object_get(o, "samples_per_s")), 39.5,
	    0);
	CHECK(json_is_null(json_object_get(o, "lr")));
	CHECK(json_integer_value(json_object_get(o, "started")) > 0);
	CHECK(json_is_null(json_object_get(o, "ended")));
	CHECK(json_real_value(json_object_get(o, "duration_s")) >= 0);

	o = json_array_get(list, 1);
	CHECK_STR(json_string_value(json_object_get(o, "name")), "later");
	CHECK_STR(json_string_value(json_object_get(o, "state")), "new");
	CHECK(json_is_null(json_object_get(o, "attempt")));
	CHECK(json_is_null(json_object_get(o, "step")));
	CHECK_STR(json_string_value(json_array_get(json_object_get(o,
	    "stages"), 0)), "main");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(o,
	    "hosts"), "total")), 0);
	json_decref(list);

	/* Every host done: the attempt ends and the duration stops. */
	REQUIRE(store_host_set_state(s, hid[0], "succeeded", NULL, "engine",
	    NULL, &cause) == 0);
	REQUIRE(store_host_set_state(s, hid[1], "succeeded", NULL, "engine",
	    NULL, &cause) == 0);
	REQUIRE(store_host_set_state(s, hid[2], "stopped", "user", "user",
	    NULL, &cause) == 0);
	REQUIRE(store_task_summary(s, task, &o, &cause) == 0);
	CHECK_STR(json_string_value(json_object_get(o, "state")), "stopped");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(o,
	    "hosts"), "up")), 0);
	CHECK(json_integer_value(json_object_get(o, "ended")) >=
	    json_integer_value(json_object_get(o, "started")));
	CHECK_DBL(json_real_value(json_object_get(o, "duration_s")),
	    (double)(json_integer_value(json_object_get(o, "ended")) -
	    json_integer_value(json_object_get(o, "started"))) / 1000.0, 1e-9);
	json_decref(o);

	/* Hosts with their latest metric, in node-rank order. */
	REQUIRE(store_attempt_hosts(s, aid, &list, &cause) == 0);
	CHECK_INT(json_array_size(list), 3);
	h = json_array_get(list, 1);
	CHECK_STR(json_string_value(json_object_get(h, "host")), "10.0.0.3");
	CHECK_INT(json_integer_value(json_object_get(h, "rank_first")), 8);
	CHECK_STR(json_string_value(json_object_get(h, "run_dir")), "/r/3");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(h,
	    "metric"), "rank")), 8);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2),
	    "reason")), "user");
	CHECK(json_is_null(json_object_get(json_array_get(list, 2), "metric")));
	json_decref(list);

	CHECK(store_task_summary(s, 99, &o, &cause) == -1);
	CHECK_STR(cause, "no task #99");
	free(cause);
	store_close(s);
}

TEST(store_task_find_by_name_id_and_number)
{
	struct store *s;
	struct store_task_new t = { .name = "sdxl" };
	int64_t a, b, c, id;
	char *cause = NULL;

	REQUIRE((s = open_store(db_path("drover.db"), STORE_RDWR)) != NULL);
	REQUIRE(store_task_create(s, &t, "user", &a, &cause) == 0);
	REQUIRE(store_task_create(s, &t, "user", &b, &cause) == 0);
	t.name = "1";		/* a task named like an id */
	REQUIRE(store_task_create(s, &t, "user", &c, &cause) == 0);
	CHECK(store_task_find(s, "sdxl", &id, &cause) == 0);
	CHECK_INT(id, b);
	CHECK(store_task_find(s, "#1", &id, &cause) == 0);
	CHECK_INT(id, a);
	CHECK(store_task_find(s, "1", &id, &cause) == 0);
	CHECK_INT(id, c);
	CHECK(store_task_find(s, "2", &id, &cause) == 0);
	CHECK_INT(id, b);
	CHECK(store_task_find(s, "sana", &id, &cause) == -1);
	CHECK_STR(cause, "no task named sana; `drover ls` lists the tasks");
	free(cause);
	cause = NULL;
	CHECK(store_task_find(s, "#9", &id, &cause) == -1);
	CHECK_STR(cause, "no task #9; `drover ls` lists the tasks");
	free(cause);
	cause = NULL;
	CHECK(store_task_find(s, "#x", &id, &cause) == -1);
	CHECK_STR(cause, "#x: not a task id (#1, #2, ...)");
	free(cause);
	t.name = "";
	cause = NULL;
	CHECK(store_task_create(s, &t, "user", &id, &cause) == -1);
	CHECK_STR(cause, "a task needs a name");
	free(cause);
	store_close(s);
}

TEST(store_metrics_export_order)
{
	struct store *s;
	struct store_attempt_new an = { 0 };
	struct store_host_new hn[2] = {		/* added in the other order */
		{ "b-host", 1, 2, 2, "/r/b" },	/* node rank 1 */
		{ "a-host", 0, 0, 2, "/r/a" },	/* node rank 0 */
	};
	struct collect c = { 0 };
	struct fixture f;
	json_t *ev[4];
	int64_t a2, h2[2], cursor;
	char *cause = NULL;
	size_t i;

	REQUIRE((s = open_store(db_path("drover.db"), STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "order", 0, &f) == 0);
	an.task_id = f.task;
	an.stage = "main";
	an.parent_id = f.attempt;
	REQUIRE(store_attempt_create(s, &an, "engine", &a2, NULL, &cause) == 0);
	/* Attempt 2 is created first in time order of rows below. */
	REQUIRE(store_hosts_add(s, a2, hn, 2, "engine", h2, &cause) == 0);
	REQUIRE(store_hosts_add(s, f.attempt, hn, 2, "engine", f.hosts,
	    &cause) == 0);
	/* a-host of attempt 2: ranks and steps out of order. */
	ev[0] = metric_ev(1, 3, 20, 0.1);
	ev[1] = metric_ev(2, 2, 20, 0.1);
	ev[2] = metric_ev(3, 2, 10, 0.1);
	ev[3] = metric_ev(4, 2, 10, 0.1);	/* same step again */
	REQUIRE(store_ingest(s, h2[1], ev, 4, &cursor, &cause) == 0);
	for (i = 0; i < 4; i++)
		json_decref(ev[i]);
	ev[0] = metric_ev(1, 0, 7, 0.1);
	REQUIRE(store_ingest(s, h2[0], ev, 1, &cursor, &cause) == 0);
	json_decref(ev[0]);
	ev[0] = metric_ev(1, 1, 5, 0.1);
	ev[1] = metric_ev(2, 0, 6, 0.1);
	REQUIRE(store_ingest(s, f.hosts[0], ev, 2, &cursor, &cause) == 0);
	json_decref(ev[0]);
	json_decref(ev[1]);
	ev[0] = metric_ev(1, 2, 1, 0.1);
	REQUIRE(store_ingest(s, f.hosts[1], ev, 1, &cursor, &cause) == 0);
	json_decref(ev[0]);

	buf_init(&c.b);
	CHECK_INT(store_metrics_each(s, f.task, NULL, collect_metric, &c,
	    &cause), 0);
	CHECK_STR(buf_cstr(&c.b), "1/a-host/2/1/1 1/b-host/0/6/2 "
	    "1/b-host/1/5/1 2/a-host/2/10/3 2/a-host/2/10/4 2/a-host/2/20/2 "
	    "2/a-host/3/20/1 2/b-host/0/7/1 ");
	buf_reset(&c.b);
	CHECK_INT(store_metrics_each(s, f.task, "a-host", collect_metric, &c,
	    &cause), 0);
	CHECK_STR(buf_cstr(&c.b), "1/a-host/2/1/1 2/a-host/2/10/3 "
	    "2/a-host/2/10/4 2/a-host/2/20/2 2/a-host/3/20/1 ");
	CHECK_INT(c.last.attempt_id, a2);
	CHECK_INT(c.last.host_id, h2[1]);
	CHECK_DBL(c.last.step_time_ms, 820.0, 0);
	CHECK_DBL(c.last.lr, 1e-5, 0);
	CHECK_INT(c.last.epoch, 1);
	buf_reset(&c.b);
	CHECK_INT(store_metrics_each(s, f.task, "nobody", collect_metric, &c,
	    &cause), 0);
	CHECK_STR(buf_cstr(&c.b), "");
	buf_free(&c.b);
	store_close(s);
}

/* ---- crash safety -------------------------------------------------------- */

/* The child: ingest overlapping batches until killed; one byte on ready
 * once the store is open. */
static void
crash_child(const char *path, int64_t hid, int ready)
{
	struct store *s = NULL;
	json_t *ev[64];
	int64_t cursor = 0, from;
	char *cause = NULL;
	size_t n, i;

	if (store_open(path, STORE_RDWR, &s, &cause) != 0)
		_exit(3);
	if (write(ready, "r", 1) != 1)
		_exit(6);
	for (;;) {
		if (store_host_cursor(s, hid, &cursor, &cause) != 0)
			_exit(4);
		/* A re-attach resends a few events it already has. */
		from = cursor > 5 ? cursor - 5 : 1;
		for (n = 0; n < nitems(ev); n++)
			ev[n] = metric_ev(from + (int64_t)n, (int)n % 8,
			    from + (int64_t)n, 0.25);
		if (store_ingest(s, hid, ev, n, &cursor, &cause) != 0)
			_exit(5);
		for (i = 0; i < n; i++)
			json_decref(ev[i]);
	}
}

TEST(store_survives_sigkill_while_ingesting)
{
	const char *path = db_path("drover.db");
	struct store *s;
	struct fixture f;
	struct timespec ts;
	int64_t cursor = 0, prev = 0;
	char sql[256];
	pid_t pid;
	int i, status, grew = 0, ready[2];

	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	REQUIRE(fixture_make(s, "crash", 1, &f) == 0);
	store_close(s);
	srand((unsigned)getpid());
	for (i = 0; i < 40; i++) {
		REQUIRE(pipe(ready) == 0);
		fflush(stdout);
		if ((pid = fork()) == 0) {
			close(ready[0]);
			crash_child(path, f.hosts[0], ready[1]);
		}
		REQUIRE(pid > 0);
		close(ready[1]);
		/* Every other time from the fork (maybe while it opens),
		 * else from when it has the store open, into its batches. */
		if (i % 2 == 1) {
			struct pollfd pfd = { .fd = ready[0],
			    .events = POLLIN };

			(void)poll(&pfd, 1, 5000);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(1 + rand() % 30) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		close(ready[0]);
		REQUIRE(waitpid(pid, &status, 0) == pid);
		if (!WIFSIGNALED(status)) {
			printf("  child exited %d before it was killed\n",
			    WEXITSTATUS(status));
			CHECK(WIFSIGNALED(status));
			break;
		}
		snprintf(sql, sizeof sql, "SELECT cursor FROM attempt_hosts "
		    "WHERE id = %lld", (long long)f.hosts[0]);
		cursor = sql_int(path, sql);
		CHECK(cursor >= prev);
		grew += cursor > prev;
		prev = cursor;
	}
	/* Most kills come after some batches went in (a check that the
	 * test exercises what it claims to). */
	if (grew < 10)
		printf("  the cursor moved in only %d of %d runs\n", grew, i);
	CHECK(grew >= 10);
	CHECK_STR(sql_text(path, "PRAGMA integrity_check"), "ok");
	REQUIRE((s = open_store(path, STORE_RDWR)) != NULL);
	CHECK(store_host_cursor(s, f.hosts[0], &cursor, NULL) == 0);
	store_close(s);
	CHECK_STR(sql_text(path, "PRAGMA integrity_check"), "ok");
	CHECK(cursor > 64);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM metrics WHERE "
	    "host_id = %lld", (long long)f.hosts[0]);
	CHECK_INT(sql_int(path, sql), cursor);
	snprintf(sql, sizeof sql, "SELECT min(seq) || ' ' || max(seq) || ' ' "
	    "|| count(DISTINCT seq) FROM metrics WHERE host_id = %lld",
	    (long long)f.hosts[0]);
	{
		char want[96];

		snprintf(want, sizeof want, "1 %lld %lld", (long long)cursor,
		    (long long)cursor);
		CHECK_STR(sql_text(path, sql), want);
	}
	/* Each row holds the event of its seq: step == seq here. */
	CHECK_INT(sql_int(path, "SELECT count(*) FROM metrics WHERE "
	    "step != seq"), 0);
	printf("  %d kills, cursor %lld\n", i, (long long)cursor);
}

/* ---- a full disk --------------------------------------------------------- */

/* In a child with its own mount namespace and a 1 MiB tmpfs: ingest until
 * the disk is full. Exit 77: cannot mount here. */
static int
full_child(const char *dir)
{
	struct store *s;
	struct fixture f;
	json_t *ev[50];
	int64_t cursor = 0, before = 0;
	char path[1200], *cause = NULL, pad[1024];
	size_t i;
	int rc = 0, round;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0)
		return 77;
	snprintf(path, sizeof path, "%s/drover.db", dir);
	if ((s = open_store(path, STORE_RDWR)) == NULL ||
	    fixture_make(s, "full", 1, &f) != 0)
		return 10;
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (round = 0; round < 1000 && rc == 0; round++) {
		for (i = 0; i < nitems(ev); i++) {
			ev[i] = metric_ev(cursor + 1 + (int64_t)i, 0,
			    cursor + 1 + (int64_t)i, 0.5);
			json_object_set_new(ev[i], "pad", json_string(pad));
		}
		before = cursor;
		rc = store_ingest(s, f.hosts[0], ev, nitems(ev), &cursor,
		    &cause);
		for (i = 0; i < nitems(ev); i++)
			json_decref(ev[i]);
	}
	if (rc != -1) {
		printf("  the disk never filled\n");
		return 11;
	}
	if (strncmp(cause, path, strlen(path)) != 0 ||
	    strstr(cause, ": database disk is full while storing events ") ==
	    NULL || strstr(cause, "everything stored before is kept") == NULL) {
		printf("  cause: %s\n", cause);
		return 12;
	}
	printf("  %s\n", cause);
	free(cause);
	if (cursor != before || before == 0) {
		printf("  cursor %lld, before %lld\n", (long long)cursor,
		    (long long)before);
		return 13;
	}
	store_close(s);
	if ((s = open_store(path, STORE_RDONLY)) == NULL)
		return 14;
	if (store_host_cursor(s, f.hosts[0], &cursor, &cause) != 0 ||
	    cursor != before)
		return 15;
	store_close(s);
	if (sql_int(path, "SELECT count(*) FROM metrics") != before ||
	    sql_int(path, "SELECT max(seq) FROM metrics") != before)
		return 16;
	return 0;
}

TEST(store_full_disk_keeps_what_was_committed)
{
	char dir[1100];
	pid_t pid;
	int status;

	snprintf(dir, sizeof dir, "%s/small", test_tmpdir());
	REQUIRE(mkdir(dir, 0700) == 0);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		status = full_child(dir);
		fflush(stdout);
		_exit(status);
	}
	REQUIRE(pid > 0);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		printf("  SKIP: cannot mount a small tmpfs here (not root?)\n");
		return;
	}
	CHECK_INT(WEXITSTATUS(status), 0);
}
