/*
 * logtail_probe.c - a test driver for tui/logtail.c: follows a task's rank
 * log through the loop as the console does and prints each complete line
 * it got, once, with its class and number, until a line containing UNTIL
 * arrives (the logtail is then freed from inside its own callback), the
 * tail ends, or the timeout passes. With -r it then opens the log again
 * (the view's "reconnect") and waits for UNTIL once more.
 *
 *   logtail-probe --db DB [-n LINES] [--rank N] [-t SECONDS] [-r]
 *       -u UNTIL TASK [HOST]
 *
 * Output: "LINE NO KIND TEXT" per line ("plain" "warn" "error"
 * "traceback"), "STATUS TEXT" on each status change, and "FOUND" or
 * "TIMEOUT"/"ENDED" last. Exit 0 when UNTIL was found (each time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/common.h"
#include "../../tui/logtail.h"

struct probe {
	struct loop *loop;
	struct store *store;
	int64_t tid;
	const char *host;
	long rank, lines;
	const char *until;
	int reopen;
	struct logtail *lt;
	uint64_t printed;	/* highest line number printed */
	char *status;
	int found, rounds, done;
};

static const char *const kinds[] = { "plain", "warn", "error", "traceback" };

static void probe_changed(void *);

static int
probe_open(struct probe *p)
{
	char *cause = NULL;

	p->printed = 0;
	p->lt = logtail_open(p->loop, p->store, p->tid, p->host, p->rank,
	    p->lines, probe_changed, p, &cause);
	if (p->lt == NULL) {
		printf("OPEN-ERROR %s\n", cause);
		free(cause);
		return -1;
	}
	printf("STATUS %s\n", logtail_status(p->lt));
	return 0;
}

static void
probe_changed(void *arg)
{
	struct probe *p = arg;
	const struct logline *l;
	size_t i, n = logtail_count(p->lt);
	int hit = 0;

	for (i = 0; i < n; i++) {
		l = logtail_line(p->lt, i);
		if (l->no <= p->printed)
			continue;
		printf("LINE %llu %s %s\n", (unsigned long long)l->no,
		    kinds[l->kind], l->text);
		p->printed = l->no;
		if (strstr(l->text, p->until) != NULL)
			hit = 1;
	}
	if (p->status == NULL || strcmp(p->status,
	    logtail_status(p->lt)) != 0) {
		free(p->status);
		p->status = xstrdup(logtail_status(p->lt));
		printf("STATUS %s\n", p->status);
	}
	fflush(stdout);
	if (hit) {
		printf("FOUND\n");
		p->found++;
		/* Freed from inside its own callback, as a view would. */
		logtail_free(p->lt);
		p->lt = NULL;
		if (p->reopen && p->rounds++ == 0) {
			if (probe_open(p) == 0)
				return;
		}
		p->done = 1;
		loop_stop(p->loop);
	} else if (logtail_ended(p->lt)) {
		printf("ENDED\n");
		p->done = 1;
		loop_stop(p->loop);
	}
}

static void
probe_timeout(void *arg)
{
	struct probe *p = arg;

	printf("TIMEOUT\n");
	loop_stop(p->loop);
}

int
main(int argc, char **argv)
{
	struct probe p;
	const char *db = NULL, *task = NULL;
	char *cause = NULL;
	long timeout_s = 20;
	int i, rc = 1;

	memset(&p, 0, sizeof p);
	p.rank = -1;
	p.lines = 100;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			p.lines = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rank") == 0 && i + 1 < argc)
			p.rank = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			timeout_s = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc)
			p.until = argv[++i];
		else if (strcmp(argv[i], "-r") == 0)
			p.reopen = 1;
		else if (task == NULL)
			task = argv[i];
		else
			p.host = argv[i];
	}
	if (task == NULL || p.until == NULL) {
		fprintf(stderr, "usage: logtail-probe --db DB [-n LINES] "
		    "[--rank N] [-t SECONDS] [-r] -u UNTIL TASK [HOST]\n");
		return 2;
	}
	if (store_open(db, STORE_RDONLY, &p.store, &cause) != 0 ||
	    store_task_find(p.store, task, &p.tid, &cause) != 0) {
		printf("OPEN-ERROR %s\n", cause);
		free(cause);
		store_close(p.store);
		return 1;
	}
	p.loop = loop_new();
	if (probe_open(&p) == 0) {
		loop_timer_add(p.loop, (uint64_t)timeout_s * 1000,
		    probe_timeout, &p);
		loop_run(p.loop);
		if (p.lt != NULL)
			printf("STATUS %s\n", logtail_status(p.lt));
		logtail_free(p.lt);
		/* let deferred frees run */
		loop_run_once(p.loop, 0);
		rc = p.found == (p.reopen ? 2 : 1) ? 0 : 1;
	}
	fflush(stdout);
	free(p.status);
	loop_free(p.loop);
	store_close(p.store);
	return rc;
}
