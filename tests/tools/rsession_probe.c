/*
 * rsession_probe.c - a test driver for remote/session.c: holds one session
 * per host for a while, runs `echo tick` on each live one every interval,
 * and prints every state change and tick with the time since start, so a
 * regress script can cut links and read what the sessions did.
 *
 *   rsession-probe [-d SECONDS] [-i MS] [-k KEEPALIVE_S] [-c CONNECT_MS]
 *       [-b BACKOFF_MIN_MS] [-B BACKOFF_MAX_MS] [-r] HOST ...
 *
 * Output lines: "MS HOST state NAME [REASON]", "MS HOST tick ok|fail".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/common.h"
#include "../../remote/remote.h"

struct probe_host {
	struct rsession *s;
	struct loop *loop;
	const char *name;
	int busy;
	int ms;
};

static uint64_t t0;

static void
say(const char *host, const char *fmt, const char *a, const char *b)
{
	printf("%llu %s ", (unsigned long long)(clock_mono_ms() - t0), host);
	printf(fmt, a, b != NULL ? b : "");
	putchar('\n');
	fflush(stdout);
}

static void
on_state(struct rsession *s, enum rsession_state st, const char *why,
    void *arg)
{
	struct probe_host *h = arg;

	say(h->name, "state %s %s", rsession_state_name(st), why);
}

static void
tick_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
}

static void
tick_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct probe_host *h = arg;

	h->busy = 0;
	say(h->name, "tick %s %s", status == 0 ? "ok" : "fail", error);
	if (status != 0)
		rsession_suspect(h->s);
}

static void
tick(void *arg)
{
	struct probe_host *h = arg;
	struct rconn *c;
	struct rchan *ch;

	if (!h->busy && (c = rsession_conn(h->s)) != NULL) {
		h->busy = 1;
		ch = rconn_exec(c, "echo tick", tick_data, tick_done, h);
		rchan_eof(ch);
	}
	loop_timer_add(h->loop, (uint64_t)h->ms, tick, h);
}

static void
stop(void *arg)
{
	loop_stop(arg);
}

int
main(int argc, char **argv)
{
	struct rsession_opts o;
	struct probe_host *hosts;
	struct rhost_cfg cfg;
	struct loop *loop;
	char *cause = NULL;
	int c, i, secs = 20, every = 500;

	memset(&o, 0, sizeof o);
	while ((c = getopt(argc, argv, "d:i:k:c:b:B:r")) != -1) {
		switch (c) {
		case 'd': secs = atoi(optarg); break;
		case 'i': every = atoi(optarg); break;
		case 'k': o.conn.keepalive_s = atoi(optarg); break;
		case 'c': o.conn.connect_timeout_ms = atoi(optarg); break;
		case 'b': o.backoff_min_ms = atoi(optarg); break;
		case 'B': o.backoff_max_ms = atoi(optarg); break;
		case 'r': o.retry_first = 1; break;
		default:
			fprintf(stderr, "usage: rsession-probe [-d S] [-i MS] "
			    "[-k S] [-c MS] [-b MS] [-B MS] [-r] HOST...\n");
			return 2;
		}
	}
	if (optind >= argc)
		return 2;
	loop = loop_new();
	t0 = clock_mono_ms();
	hosts = xcalloc((size_t)(argc - optind), sizeof *hosts);
	for (i = optind; i < argc; i++) {
		struct probe_host *h = &hosts[i - optind];

		if (sshconfig_resolve(argv[i], &cfg, &cause) != 0) {
			fprintf(stderr, "%s\n", cause);
			return 1;
		}
		h->name = argv[i];
		h->loop = loop;
		h->ms = every;
		h->s = rsession_new(loop, &cfg, &o, on_state, h);
		rhost_cfg_clear(&cfg);
		loop_timer_add(loop, (uint64_t)every, tick, h);
	}
	loop_timer_add(loop, (uint64_t)secs * 1000, stop, loop);
	loop_run(loop);
	for (i = 0; i < argc - optind; i++)
		rsession_free(hosts[i].s);
	free(hosts);
	loop_free(loop);
	return 0;
}
