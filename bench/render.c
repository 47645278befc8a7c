/*
 * render.c - the console's cost with a big history: a store with H hosts
 * of S steps each (built here on first use, kept for later runs), the
 * model loaded from it (timed, against a raw SQLite scan of the same rows
 * in the same run), then full frames of the tasks, task and chart views
 * drawn by the console's own code into a 120x40 screen (ncurses writing
 * to /dev/null), timed; peak RSS at the end.
 *
 *   bench-render DB [HOSTS [STEPS [FRAMES]]]
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "../tui/con_int.h"
#include "../tui/store.h"

static void
die(const char *what, char *cause)
{
	fprintf(stderr, "bench-render: %s: %s\n", what, cause);
	exit(1);
}

/* The task, its attempt and hosts through the store; the metric rows
 * straight into SQLite, one transaction per host. */
static void
build(const char *db, int hosts, long steps)
{
	struct store *s;
	struct store_task_new tn = { .name = "render-bench" };
	struct store_attempt_new an = { 0 };
	struct store_host_new *hn;
	int64_t task, attempt, *ids;
	char *cause = NULL, name[32];
	sqlite3 *q;
	sqlite3_stmt *ins;
	int i;
	long k;
	double t0 = (1e3 * clock_mono_s()), loss;

	if (store_open(db, STORE_RDWR, &s, &cause) != 0 ||
	    store_task_create(s, &tn, "bench", &task, &cause) != 0)
		die(db, cause);
	an.task_id = task;
	an.stage = "main";
	if (store_attempt_create(s, &an, "bench", &attempt, NULL, &cause) != 0)
		die(db, cause);
	hn = calloc((size_t)hosts, sizeof *hn);
	ids = calloc((size_t)hosts, sizeof *ids);
	for (i = 0; i < hosts; i++) {
		snprintf(name, sizeof name, "node%04d", i);
		hn[i].host = strdup(name);
		hn[i].node_rank = i;
		hn[i].rank_first = i * 8;
		hn[i].nprocs = 8;
		hn[i].run_dir = "/runs/render-bench/1";
	}
	if (store_hosts_add(s, attempt, hn, (size_t)hosts, "bench", ids,
	    &cause) != 0)
		die(db, cause);
	for (i = 0; i < hosts; i++)
		if (store_host_set_state(s, ids[i], "running", NULL, "bench",
		    NULL, &cause) != 0)
			die(db, cause);
	store_close(s);
	if (sqlite3_open(db, &q) != SQLITE_OK)
		die(db, "cannot open");
	sqlite3_exec(q, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	sqlite3_prepare_v2(q, "INSERT INTO metrics (host_id, seq, t, rank, "
	    "step, total_steps, loss, lr, step_time_ms) VALUES "
	    "(?1, ?2, ?3, 0, ?2, ?4, ?5, 1e-4, ?6)", -1, &ins, NULL);
	for (i = 0; i < hosts; i++) {
		sqlite3_exec(q, "BEGIN", NULL, NULL, NULL);
		for (k = 1; k <= steps; k++) {
			loss = 0.05 + 1.0 / (1.0 + (double)k / 500.0) +
			    0.02 * ((k * 7919 + i * 104729) % 1000) / 1000.0;
			sqlite3_bind_int64(ins, 1, ids[i]);
			sqlite3_bind_int64(ins, 2, k);
			sqlite3_bind_int64(ins, 3, 1700000000000LL + k * 250);
			sqlite3_bind_int64(ins, 4, steps);
			sqlite3_bind_double(ins, 5, loss);
			sqlite3_bind_double(ins, 6, 250.0 + (i % 7) * 3 +
			    (double)(k % 13));
			sqlite3_step(ins);
			sqlite3_reset(ins);
		}
		sqlite3_exec(q, "COMMIT", NULL, NULL, NULL);
	}
	sqlite3_finalize(ins);
	sqlite3_close(q);
	fprintf(stderr, "built %s: %d hosts x %ld steps in %.1f s\n", db,
	    hosts, steps, ((1e3 * clock_mono_s()) - t0) / 1e3);
}

/* The peer: SQLite reading the same columns of every row, no model. */
static double
raw_scan(const char *db, long *rows)
{
	sqlite3 *q;
	sqlite3_stmt *st;
	double t0 = (1e3 * clock_mono_s()), sum = 0;

	*rows = 0;
	sqlite3_open_v2(db, &q, SQLITE_OPEN_READONLY, NULL);
	sqlite3_prepare_v2(q, "SELECT host_id, step, loss, step_time_ms FROM "
	    "metrics", -1, &st, NULL);
	while (sqlite3_step(st) == SQLITE_ROW) {
		sum += sqlite3_column_double(st, 2) +
		    (double)sqlite3_column_int64(st, 1);
		(*rows)++;
	}
	sqlite3_finalize(st);
	sqlite3_close(q);
	if (sum < 0)
		fprintf(stderr, "impossible\n");
	return (1e3 * clock_mono_s()) - t0;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* FRAMES full frames of the top view: mean and p99 in ms. */
static void
frames(struct con *c, const char *name, int n, FILE *out)
{
	double *t = calloc((size_t)n, sizeof *t), sum = 0, t0;
	int i;

	for (i = 0; i < n; i++) {
		clearok(curscr, TRUE);	/* every cell written again */
		c->dirty = 1;
		t0 = (1e3 * clock_mono_s());
		con_draw(c);
		t[i] = (1e3 * clock_mono_s()) - t0;
		sum += t[i];
	}
	qsort(t, (size_t)n, sizeof *t, cmp_d);
	fprintf(out, "frame %-8s mean %.2f ms  p99 %.2f ms  (goal 5 ms: "
	    "%.2fx of it)\n", name, sum / n, t[n * 99 / 100], sum / n / 5.0);
	free(t);
}

int
main(int argc, char **argv)
{
	const char *db;
	int hosts = argc > 2 ? atoi(argv[2]) : 1000, nframes;
	long steps = argc > 3 ? atol(argv[3]) : 100000, rows;
	struct store *s;
	struct con *c;
	char *cause = NULL;
	double t0, load_ms, raw_ms;
	FILE *out;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-render DB [HOSTS [STEPS "
		    "[FRAMES]]]\n");
		return 2;
	}
	db = argv[1];
	nframes = argc > 4 ? atoi(argv[4]) : 200;
	if (access(db, F_OK) != 0)
		build(db, hosts, steps);
	else {
		/* a store kept from an older drover: the schema upgrade
		 * (only a writer does it), then the read-only console */
		if (store_open(db, STORE_RDWR, &s, &cause) != 0)
			die(db, cause);
		store_close(s);
	}
	raw_ms = raw_scan(db, &rows);
	if (store_open(db, STORE_RDONLY, &s, &cause) != 0)
		die(db, cause);
	c = con_new(s);
	t0 = (1e3 * clock_mono_s());
	model_refresh(c->model);
	if (model_open_task(c->model, 1) != 0)
		die("open task 1", xstrdup(model_error(c->model)));
	while ((r = model_load_series(c->model, 50000)) > 0)
		;
	load_ms = (1e3 * clock_mono_s()) - t0;
	out = fdopen(dup(STDOUT_FILENO), "w");
	fprintf(out, "store: %ld metric rows (%d hosts)\n", rows, hosts);
	fprintf(out, "load: model %.0f ms (%.2f M rows/s), raw SQLite scan "
	    "%.0f ms: %.2fx of raw\n", load_ms, (double)model_points(c->model)
	    / load_ms / 1e3, raw_ms, load_ms / raw_ms);
	fprintf(out, "rss after load: %ld KiB\n", proc_status_kb("VmRSS:"));
	fflush(out);
	/* ncurses onto /dev/null at 120x40. */
	setenv("TERM", "xterm-256color", 1);
	setenv("LINES", "40", 1);
	setenv("COLUMNS", "120", 1);
	setenv("LC_ALL", "C.UTF-8", 1);
	if (freopen("/dev/null", "w", stdout) == NULL)
		return 1;
	con_screen_init(c);
	con_push(c, view_tasks_new(c));
	frames(c, "tasks", nframes, out);
	con_push(c, view_task_new(c, 1));
	frames(c, "task", nframes, out);
	con_push(c, view_chart_new(c, 1));
	frames(c, "charts", nframes, out);
	endwin();
	fprintf(out, "peak rss: %ld KiB (goal 200 MB: %.2fx of it)\n",
	    proc_status_kb("VmHWM:"), (double)proc_status_kb("VmHWM:") / 204800.0);
	fclose(out);
	con_free(c);
	store_close(s);
	return 0;
}
