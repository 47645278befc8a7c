/*
 * ingest.c - how fast the head node stores agents' metric events, against
 * the raw limit of SQLite on the same table, in the same run.
 *
 * N hosts each emit metric events as JSON lines like the agent's spool
 * (rank, step, total_steps, epoch, loss, lr, step_time_ms, samples_per_s,
 * src); the engine's path decodes each line with proto_decode_line and
 * stores per-host batches (up to -b events, hosts interleaved) with
 * store_ingest into a fresh database. The raw limit inserts the same rows,
 * already as numbers, into a second fresh database with one prepared INSERT
 * in one transaction: no JSON, no cursor, no per-batch commit. Making the
 * lines is not timed. Prints events/s for both and the ratio.
 *
 * Usage: bench-ingest [-n EVENTS] [-H HOSTS] [-b BATCH] -d DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../common/common.h"
#include "../tui/store.h"

struct vals {
	int64_t seq, t, step, total, epoch, off;
	int rank;
	double loss, lr, step_time_ms, samples_per_s;
};

/* Host h's event seq: plausible SDXL fine-tuning numbers. */
static void
vals_make(int h, int64_t seq, struct vals *v)
{
	v->seq = seq;
	v->t = 1732270000000LL + seq * 812 + h;
	v->rank = h * 8;
	v->step = seq;
	v->total = 20000;
	v->epoch = 1 + seq / 5000;
	v->loss = 0.05 + 0.1 / (1.0 + (double)seq / 1000.0) +
	    (double)((seq * 7919 + h * 104729) % 1000) / 100000.0;
	v->lr = 9.999999747378752e-06;
	v->step_time_ms = 790.0 + (double)((seq * 31 + h) % 4000) / 100.0;
	v->samples_per_s = 4.0 * 8 * 64 / (v->step_time_ms / 1000.0);
	v->off = seq * 143;
}

static size_t
line_make(const struct vals *v, char *out, size_t len)
{
	int n;

	n = snprintf(out, len, "{\"seq\":%lld,\"t\":%lld,\"type\":\"metric\","
	    "\"rank\":%d,\"step\":%lld,\"total_steps\":%lld,\"epoch\":%lld,"
	    "\"loss\":%.6f,\"lr\":%.17g,\"step_time_ms\":%.2f,"
	    "\"samples_per_s\":%.2f,\"src\":[1835041,%lld,%lld]}",
	    (long long)v->seq, (long long)v->t, v->rank, (long long)v->step,
	    (long long)v->total, (long long)v->epoch, v->loss, v->lr,
	    v->step_time_ms, v->samples_per_s, (long long)v->off,
	    (long long)v->off);
	if (n < 0 || (size_t)n >= len)
		fatalx("line too long");
	return (size_t)n;
}

/* A fresh store at path with one task, one attempt and nhosts hosts. */
static struct store *
store_make(const char *path, int nhosts, int64_t *ids)
{
	struct store_task_new t = { .name = "bench" };
	struct store_attempt_new a = { .stage = "main" };
	struct store_host_new *h;
	struct store *s;
	char *cause = NULL, name[32], dir[64];
	int64_t task, attempt;
	int i;

	unlink(path);
	if (store_open(path, STORE_RDWR, &s, &cause) != 0 ||
	    store_task_create(s, &t, "bench", &task, &cause) != 0)
		fatalx("%s", cause);
	a.task_id = task;
	if (store_attempt_create(s, &a, "bench", &attempt, NULL, &cause) != 0)
		fatalx("%s", cause);
	h = xcalloc((size_t)nhosts, sizeof *h);
	for (i = 0; i < nhosts; i++) {
		snprintf(name, sizeof name, "10.0.%d.%d", i / 250, 2 + i % 250);
		snprintf(dir, sizeof dir, "/runs/bench/1/%s", name);
		h[i].host = xstrdup(name);
		h[i].node_rank = i;
		h[i].rank_first = 8 * i;
		h[i].nprocs = 8;
		h[i].run_dir = xstrdup(dir);
	}
	if (store_hosts_add(s, attempt, h, (size_t)nhosts, "bench", ids,
	    &cause) != 0)
		fatalx("%s", cause);
	for (i = 0; i < nhosts; i++) {
		free((char *)h[i].host);
		free((char *)h[i].run_dir);
	}
	free(h);
	return s;
}

static long long
count_rows(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &q, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	return n;
}

static void
die_sqlite(sqlite3 *db, const char *what)
{
	fatalx("raw: %s: %s", what, sqlite3_errmsg(db));
}

/* The raw limit: the same rows, one statement, one transaction. */
static double
run_raw(const char *path, int nhosts, long long nevents, int batch)
{
	static const char sql[] = "INSERT INTO metrics (host_id, seq, t, rank,"
	    " step, total_steps, epoch, loss, lr, step_time_ms, samples_per_s,"
	    " nonfinite, extras) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
	    " ?10, ?11, NULL, NULL)";
	int64_t *ids = xcalloc((size_t)nhosts, sizeof *ids), *next;
	struct vals *v = xcalloc((size_t)batch, sizeof *v);
	struct store *s;
	sqlite3 *db;
	sqlite3_stmt *q;
	long long done = 0;
	double t0, spent = 0;
	int h, i, n;

	s = store_make(path, nhosts, ids);
	store_close(s);
	next = xcalloc((size_t)nhosts, sizeof *next);
	/* The store's own connection settings, so only the work differs. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK || sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", NULL,
	    NULL, NULL) != SQLITE_OK)
		die_sqlite(db, "open");
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		die_sqlite(db, "prepare");
	t0 = clock_mono_s();
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		die_sqlite(db, "begin");
	spent += clock_mono_s() - t0;
	while (done < nevents) {
		for (h = 0; h < nhosts && done < nevents; h++) {
			n = nevents - done < batch ? (int)(nevents - done) :
			    batch;
			for (i = 0; i < n; i++)
				vals_make(h, next[h] + 1 + i, &v[i]);
			next[h] += n;
			done += n;
			t0 = clock_mono_s();
			for (i = 0; i < n; i++) {
				sqlite3_bind_int64(q, 1, ids[h]);
				sqlite3_bind_int64(q, 2, v[i].seq);
				sqlite3_bind_int64(q, 3, v[i].t);
				sqlite3_bind_int(q, 4, v[i].rank);
				sqlite3_bind_int64(q, 5, v[i].step);
				sqlite3_bind_int64(q, 6, v[i].total);
				sqlite3_bind_int64(q, 7, v[i].epoch);
				sqlite3_bind_double(q, 8, v[i].loss);
				sqlite3_bind_double(q, 9, v[i].lr);
				sqlite3_bind_double(q, 10, v[i].step_time_ms);
				sqlite3_bind_double(q, 11, v[i].samples_per_s);
				if (sqlite3_step(q) != SQLITE_DONE)
					die_sqlite(db, "insert");
				sqlite3_reset(q);
			}
			spent += clock_mono_s() - t0;
		}
	}
	t0 = clock_mono_s();
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		die_sqlite(db, "commit");
	spent += clock_mono_s() - t0;
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(next);
	free(ids);
	free(v);
	if (count_rows(path, "SELECT count(*) FROM metrics") != nevents)
		fatalx("raw: wrong number of rows");
	return spent;
}

/* The engine's path: decode, store_ingest, free the events; *ingest_only
 * gets the time inside store_ingest. */
static double
run_store(const char *path, int nhosts, long long nevents, int batch,
    double *ingest_only)
{
	int64_t *ids = xcalloc((size_t)nhosts, sizeof *ids), *next, cursor;
	char *lines = xmalloc((size_t)batch * 512), *cause = NULL;
	size_t *len = xcalloc((size_t)batch, sizeof *len);
	json_t **ev = xcalloc((size_t)batch, sizeof *ev);
	struct store *s;
	struct vals v;
	long long done = 0;
	double t0, t1, t2, spent = 0;
	int h, i, n;

	s = store_make(path, nhosts, ids);
	next = xcalloc((size_t)nhosts, sizeof *next);
	*ingest_only = 0;
	while (done < nevents) {
		for (h = 0; h < nhosts && done < nevents; h++) {
			n = nevents - done < batch ? (int)(nevents - done) :
			    batch;
			for (i = 0; i < n; i++) {
				vals_make(h, next[h] + 1 + i, &v);
				len[i] = line_make(&v, lines + (size_t)i * 512,
				    512);
			}
			t0 = clock_mono_s();
			for (i = 0; i < n; i++) {
				ev[i] = proto_decode_line(lines +
				    (size_t)i * 512, len[i], &cause);
				if (ev[i] == NULL)
					fatalx("decode: %s", cause);
			}
			t1 = clock_mono_s();
			if (store_ingest(s, ids[h], ev, (size_t)n, &cursor,
			    &cause) != 0)
				fatalx("%s", cause);
			t2 = clock_mono_s();
			for (i = 0; i < n; i++)
				json_decref(ev[i]);
			*ingest_only += t2 - t1;
			spent += clock_mono_s() - t0;
			if (cursor != next[h] + n)
				fatalx("host %d: cursor %lld, expected %lld", h,
				    (long long)cursor, (long long)next[h] + n);
			next[h] += n;
			done += n;
		}
	}
	store_close(s);
	free(next);
	free(ids);
	free(lines);
	free(len);
	free(ev);
	if (count_rows(path, "SELECT count(*) FROM metrics") != nevents ||
	    count_rows(path, "SELECT sum(cursor) FROM attempt_hosts") !=
	    nevents)
		fatalx("store: wrong number of rows or cursors");
	return spent;
}

int
main(int argc, char **argv)
{
	long long nevents = 1000000;
	int nhosts = 64, batch = 256, c;
	const char *dir = NULL;
	char *spath, *rpath, sample[512];
	double ts, tonly, tr, es, eo, er;
	struct vals v;

	log_init("bench-ingest", LOG_WARN, 2);
	while ((c = getopt(argc, argv, "n:H:b:d:")) != -1) {
		switch (c) {
		case 'n':
			nevents = atoll(optarg);
			break;
		case 'H':
			nhosts = atoi(optarg);
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench-ingest [-n EVENTS] "
			    "[-H HOSTS] [-b BATCH] -d DIR\n");
			return 2;
		}
	}
	if (dir == NULL || nevents <= 0 || nhosts <= 0 || batch <= 0) {
		fprintf(stderr, "usage: bench-ingest [-n EVENTS] [-H HOSTS] "
		    "[-b BATCH] -d DIR\n");
		return 2;
	}
	xasprintf(&spath, "%s/ingest.db", dir);
	xasprintf(&rpath, "%s/raw.db", dir);
	vals_make(0, 1234, &v);
	line_make(&v, sample, sizeof sample);
	printf("ingest: %lld metric events from %d hosts, batches of up to "
	    "%d, hosts interleaved; SQLite %s\n", nevents, nhosts, batch,
	    sqlite3_libversion());
	printf("a line: %s (%zu bytes)\n", sample, strlen(sample));

	tr = run_raw(rpath, nhosts, nevents, batch);
	ts = run_store(spath, nhosts, nevents, batch, &tonly);
	es = (double)nevents / ts;
	eo = (double)nevents / tonly;
	er = (double)nevents / tr;
	printf("%-40s %10.0f events/s %8.3f s %6.2f us/event\n",
	    "store: decode + store_ingest", es, ts, 1e6 / es);
	printf("%-40s %10.0f events/s %8.3f s %6.2f us/event\n",
	    "store: store_ingest alone", eo, tonly, 1e6 / eo);
	printf("%-40s %10.0f events/s %8.3f s %6.2f us/event\n",
	    "raw limit: one INSERT, one transaction", er, tr, 1e6 / er);
	printf("decoding alone (proto_decode_line + json_decref): %.2f "
	    "us/event, %.2f x a raw insert\n", (ts - tonly) * 1e6 /
	    (double)nevents, (ts - tonly) / tr);
	printf("ratio to the raw limit: %.2f (decode + store_ingest), %.2f "
	    "(store_ingest alone)\n", es / er, eo / er);
	printf("goal >= 100000 events/s: %s; goal >= 0.30 of raw: %s with "
	    "decoding, %s for store_ingest alone\n",
	    es >= 100000 ? "met" : "NOT met",
	    es / er >= 0.30 ? "met" : "NOT met",
	    eo / er >= 0.30 ? "met" : "NOT met");
	unlink(spath);
	unlink(rpath);
	free(spath);
	free(rpath);
	return 0;
}
