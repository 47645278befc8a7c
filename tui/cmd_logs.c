/*
 * cmd_logs.c - `drover logs TASK [HOST] [--rank N] [-n LINES] [-f]`: a
 * rank's log (rank-N.log in the host's run directory, stdout and stderr in
 * write order) of the task's latest attempt, read on the host over the
 * same transports as everything else (`tail`, following with -f until
 * Ctrl-C). The database says where the run directory is; the task's
 * config says how to reach the host.
 */
#include "tui.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
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

/* Which host of the attempt, and which rank's log. */
static const json_t *
logs_pick(const json_t *hosts, const char *host, long *rank)
{
	const json_t *h;
	size_t i;
	long first, n;

	json_array_foreach(hosts, i, h) {
		first = (long)json_integer_value(json_object_get(h,
		    "rank_first"));
		n = (long)json_integer_value(json_object_get(h, "nprocs"));
		if (host != NULL && strcmp(json_string_value(
		    json_object_get(h, "host")), host) != 0)
			continue;
		if (*rank < 0) {
			*rank = first;
			return h;
		}
		if (*rank >= first && *rank < first + (n > 0 ? n : 1))
			return h;
		if (host != NULL) {
			fprintf(stderr, "drover: %s runs ranks %ld-%ld, not "
			    "rank %ld\n", host, first, first + n - 1, *rank);
			return NULL;
		}
	}
	if (host != NULL)
		fprintf(stderr, "drover: %s is not a host of the task's latest "
		    "attempt\n", host);
	else
		fprintf(stderr, "drover: no host runs rank %ld\n", *rank);
	return NULL;
}

int
cmd_logs(int argc, char **argv)
{
	static const char usage[] = "usage: drover logs TASK [HOST] "
	    "[--rank N] [-n LINES] [-f] [--db PATH]\n";
	const char *db = NULL, *task = NULL, *host = NULL, *path, *run_dir;
	struct store *s = NULL;
	struct config *cfg = NULL;
	struct rhost_cfg hc;
	struct logs l;
	struct rconn *c = NULL;
	json_t *sum = NULL, *hosts = NULL;
	const json_t *h;
	int64_t tid, aid;
	long rank = -1, lines = 100;
	char *cause = NULL, *file = NULL, *cmd = NULL, *q, nbuf[32];
	int i, follow = 0, rc = 1, local;

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
	memset(&hc, 0, sizeof hc);
	memset(&l, 0, sizeof l);
	if (store_open(db, STORE_RDONLY, &s, &cause) != 0 ||
	    store_task_find(s, task, &tid, &cause) != 0 ||
	    store_attempt_latest(s, tid, &aid, &cause) != 0 ||
	    store_task_summary(s, tid, &sum, &cause) != 0 ||
	    store_attempt_hosts(s, aid, &hosts, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	if ((h = logs_pick(hosts, host, &rank)) == NULL)
		goto out;
	host = json_string_value(json_object_get(h, "host"));
	run_dir = json_string_value(json_object_get(h, "run_dir"));
	path = json_string_value(json_object_get(sum, "config_path"));
	if (path != NULL && (cfg = config_load(path, NULL, 0, &cause)) == NULL) {
		/* Reach the host with the user's ssh settings alone. */
		free(cause);
		cause = NULL;
	}
	local = cfg != NULL && strcmp(cfg->cluster.transport, "local") == 0;
	if (local) {
		hc.name = xstrdup(host);
		hc.hostname = xstrdup(host);
		hc.transport = RT_LOCAL;
	} else if (sshconfig_resolve(host, &hc, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	} else if (cfg != NULL && cfg->cluster.user != NULL) {
		free(hc.user);
		hc.user = xstrdup(cfg->cluster.user);
	}
	xasprintf(&file, "%s/rank-%ld.log", run_dir, rank);
	q = remote_quote_arg(file);
	snprintf(nbuf, sizeof nbuf, "%ld", lines);
	xasprintf(&cmd, "tail -n %s %s%s", nbuf, follow ? "-F " : "", q);
	free(q);

	l.loop = loop_new();
	l.cmd = cmd;
	signal(SIGPIPE, SIG_IGN);
	loop_signal(l.loop, SIGINT, logs_signal, &l);
	loop_signal(l.loop, SIGTERM, logs_signal, &l);
	c = rconn_open(l.loop, &hc, NULL, logs_ready, &l);
	loop_run(l.loop);
	rconn_close(c);
	loop_free(l.loop);
	rc = l.status == 0 ? 0 : 1;
out:
	rhost_cfg_clear(&hc);
	free(file);
	free(cmd);
	config_free(cfg);
	json_decref(sum);
	json_decref(hosts);
	store_close(s);
	return rc;
}
