/*
 * cmd_logs.c - `drover logs TASK [HOST] [--rank N] [-n LINES] [-f]`: a
 * rank's log (rank-N.log in the host's run directory, stdout and stderr in
 * write order) of the task's latest attempt, read on the host over the
 * same transports as everything else (`tail`, following with -f until
 * Ctrl-C). Where the log is and how to reach the host (the database's
 * run directory, the task's config) is logtarget_find()'s, which the
 * console's log view shares.
 */
#include "tui.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logtail.h"
#include "store.h"

struct logs {
	struct loop *loop;
	int status;
	const char *cmd;
};

static void
logs_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
	fwrite(p, 1, n, stream == 1 ? stdout : stderr);
	fflush(stream == 1 ? stdout : stderr);
}

static void
logs_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct logs *l = arg;

	if (status < 0)
		fprintf(stderr, "drover: %s\n", error != NULL ? error :
		    "connection lost");
	l->status = status;
	loop_stop(l->loop);
}

static void
logs_ready(struct rconn *c, const char *error, void *arg)
{
	struct logs *l = arg;

	struct rchan *ch;

	if (error != NULL) {
		fprintf(stderr, "drover: %s\n", error);
		l->status = -1;
		loop_stop(l->loop);
		return;
	}
	ch = rconn_exec(c, l->cmd, logs_data, logs_done, l);
	rchan_eof(ch);
}

static void
logs_signal(int sig, void *arg)
{
	struct logs *l = arg;

	l->status = 0;
	loop_stop(l->loop);
}

int
cmd_logs(int argc, char **argv)
{
	static const char usage[] = "usage: drover logs TASK [HOST] "
	    "[--rank N] [-n LINES] [-f] [--db PATH]\n";
	const char *db = NULL, *task = NULL, *host = NULL;
	struct store *s = NULL;
	struct logtarget t;
	struct logs l;
	struct rconn *c = NULL;
	int64_t tid;
	long rank = -1, lines = 100;
	char *cause = NULL, *cmd = NULL;
	int i, follow = 0, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0)
			follow = 1;
		else if (strcmp(argv[i], "--rank") == 0 && i + 1 < argc)
			rank = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			lines = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db = argv[++i];
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || (task != NULL && host != NULL)) {
			fputs(usage, stderr);
			return 2;
		} else if (task == NULL)
			task = argv[i];
		else
			host = argv[i];
	}
	if (task == NULL || lines < 0) {
		fputs(usage, stderr);
		return 2;
	}
	memset(&t, 0, sizeof t);
	memset(&l, 0, sizeof l);
	if (store_open(db, STORE_RDONLY, &s, &cause) != 0 ||
	    store_task_find(s, task, &tid, &cause) != 0 ||
	    logtarget_find(s, tid, host, rank, 0, &t, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	cmd = logtarget_command(&t, lines, follow);

	l.loop = loop_new();
	l.cmd = cmd;
	signal(SIGPIPE, SIG_IGN);
	loop_signal(l.loop, SIGINT, logs_signal, &l);
	loop_signal(l.loop, SIGTERM, logs_signal, &l);
	c = rconn_open(l.loop, &t.hc, NULL, logs_ready, &l);
	loop_run(l.loop);
	rconn_close(c);
	loop_free(l.loop);
	rc = l.status == 0 ? 0 : 1;
out:
	logtarget_clear(&t);
	free(cmd);
	store_close(s);
	return rc;
}
