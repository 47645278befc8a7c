/*
 * fanout.c - one command on many hosts at once, from one poll loop. A
 * bounded window of handshakes in flight (default 32), a connect timeout
 * per host, an optional command timeout; output is split into lines per
 * host and stream; every host ends with one reason (ok, exit status,
 * unreachable, refused, timeout, host key, auth, config, lost). It is the
 * engine under `drover exec`; the manager keeps its own long-lived
 * connections through conn.c.
 */
#include "remote_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const fo_names[] = {
	[FO_OK] = "ok",
	[FO_EXIT] = "exit status",
	[FO_UNREACHABLE] = "unreachable",
	[FO_REFUSED] = "refused",
	[FO_TIMEOUT] = "timeout",
	[FO_HOSTKEY] = "host key",
	[FO_AUTH] = "auth failed",
	[FO_CONFIG] = "config",
	[FO_LOST] = "connection lost",
};

const char *
fanout_reason_name(enum fanout_reason r)
{
	return (size_t)r < nitems(fo_names) ? fo_names[r] : "?";
}

enum fanout_reason
fanout_classify(const char *e)
{
	if (e == NULL)
		return FO_OK;
	if (strcasestr(e, "host key") != NULL ||
	    strstr(e, "Host key verification failed") != NULL)
		return FO_HOSTKEY;
	if (strcasestr(e, "refused") != NULL)
		return FO_REFUSED;
	if (strcasestr(e, "timed out") != NULL ||
	    strcasestr(e, "timeout") != NULL)
		return FO_TIMEOUT;
	if (strcasestr(e, "authentication") != NULL ||
	    strstr(e, "Permission denied") != NULL)
		return FO_AUTH;
	if (strcasestr(e, "connection lost") != NULL ||
	    strcasestr(e, "closed") != NULL ||
	    strcasestr(e, "reset") != NULL)
		return FO_LOST;
	if (strcasestr(e, "resolve") != NULL ||
	    strcasestr(e, "unreachable") != NULL ||
	    strcasestr(e, "No route") != NULL)
		return FO_UNREACHABLE;
	return FO_CONFIG;
}

struct fo_host;

struct fo {
	struct loop *loop;
	const struct fanout_opts *opts;
	const char *command;
	fanout_line_cb line_cb;
	fanout_done_cb done_cb;
	void *arg;
	struct fo_host *hosts;
	size_t nhosts;
	size_t next;		/* next host to start */
	int connecting;
	size_t left;
	int failed;
};

struct fo_host {
	struct fo *fo;
	const char *name;
	struct rhost_cfg cfg;
	struct rconn *conn;
	struct rchan *ch;
	struct buf part[2];	/* partial stdout / stderr line */
	struct buf probe;	/* push-agent: uname -m and $HOME */
	char *agent_path;	/* push-agent: the local build to send */
	char *agent_dst;
	uint64_t cmd_timer;
	uint64_t close_timer;
	int finished;
};

static void fo_start_more(struct fo *);

static void
fo_flush(struct fo_host *h, int stream)
{
	struct buf *b = &h->part[stream - 1];

	if (b->len > 0)
		h->fo->line_cb(h->name, stream, b->data, b->len, h->fo->arg);
	buf_reset(b);
}

static void
fo_close_later(void *arg)
{
	struct fo_host *h = arg;

	h->close_timer = 0;
	rconn_close(h->conn);
	h->conn = NULL;
}

static void
fo_finish(struct fo_host *h, enum fanout_reason r, int status,
    const char *error)
{
	struct fo *fo = h->fo;

	if (h->finished)
		return;
	h->finished = 1;
	loop_timer_cancel(fo->loop, h->cmd_timer);
	fo_flush(h, 1);
	fo_flush(h, 2);
	if (r != FO_OK)
		fo->failed++;
	fo->done_cb(h->name, r, status, error, fo->arg);
	if (h->conn != NULL)
		h->close_timer = loop_timer_add(fo->loop, 0, fo_close_later,
		    h);
	if (--fo->left == 0)
		loop_stop(fo->loop);
}

static void
fo_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
	struct fo_host *h = arg;
	struct buf *b = &h->part[stream - 1];
	const char *nl;

	while (n > 0) {
		if ((nl = memchr(p, '\n', n)) == NULL) {
			buf_add(b, p, n);
			/* A line without end: hand it over in pieces. */
			if (b->len > 65536)
				fo_flush(h, stream);
			return;
		}
		buf_add(b, p, (size_t)(nl - p));
		h->fo->line_cb(h->name, stream, b->data ? b->data : "",
		    b->len, h->fo->arg);
		buf_reset(b);
		n -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

static void
fo_cmd_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct fo_host *h = arg;

	h->ch = NULL;
	if (error != NULL)
		fo_finish(h, fanout_classify(error) == FO_CONFIG ? FO_LOST :
		    fanout_classify(error), -1, error);
	else
		fo_finish(h, status == 0 ? FO_OK : FO_EXIT, status, NULL);
}

static void
fo_cmd_timeout(void *arg)
{
	struct fo_host *h = arg;
	char *msg;

	h->cmd_timer = 0;
	xasprintf(&msg, "%s: command still running after %d ms; gave up",
	    h->name, h->fo->opts->command_timeout_ms);
	fo_finish(h, FO_TIMEOUT, -1, msg);
	free(msg);
}

static void
fo_uploaded(struct rconn *conn, int skipped, const char *error, void *arg)
{
	struct fo_host *h = arg;

	if (error != NULL)
		fo_finish(h, fanout_classify(error) == FO_CONFIG ? FO_EXIT :
		    fanout_classify(error), -1, error);
	else
		fo_finish(h, FO_OK, skipped ? 1 : 0, NULL);
}

char *
fanout_agent_for_arch(const char *dir, const char *arch, char **cause)
{
	static const char *const built[] = { "x86_64", "aarch64" };
	char *path;
	size_t i;

	for (i = 0; i < nitems(built); i++) {
		if (strcmp(arch, built[i]) == 0)
			break;
	}
	/* arm64 is what some kernels call aarch64. */
	if (i == nitems(built) && strcmp(arch, "arm64") == 0)
		i = 1;
	if (i == nitems(built)) {
		xasprintf(cause, "no drover-agent is built for architecture "
		    "\"%s\" (make agents builds x86_64 and aarch64)", arch);
		return NULL;
	}
	xasprintf(&path, "%s/%s/drover-agent", dir, built[i]);
	if (access(path, R_OK) != 0) {
		xasprintf(cause, "the %s agent %s is missing: run make agents",
		    built[i], path);
		free(path);
		return NULL;
	}
	return path;
}

static void
fo_probe_data(struct rchan *ch, int stream, const char *p, size_t n,
    void *arg)
{
	struct fo_host *h = arg;

	if (stream == 1 && h->probe.len + n <= 8192)
		buf_add(&h->probe, p, n);
}

/* The answer to `uname -m; echo $HOME`: pick the build, then upload. */
static void
fo_probed(struct rchan *ch, int status, const char *error, void *arg)
{
	struct fo_host *h = arg;
	struct fo *fo = h->fo;
	char *arch, *home, *nl, *cause = NULL, *msg;

	h->ch = NULL;
	if (error != NULL || status != 0) {
		xasprintf(&msg, "%s: cannot learn its architecture: %s",
		    h->name, error != NULL ? error : "uname -m failed");
		fo_finish(h, error != NULL ? fanout_classify(error) : FO_EXIT,
		    status, msg);
		free(msg);
		return;
	}
	arch = (char *)buf_cstr(&h->probe);
	home = (nl = strchr(arch, '\n')) != NULL ? nl + 1 : NULL;
	if (nl != NULL)
		*nl = '\0';
	if (home != NULL)
		home[strcspn(home, "\n")] = '\0';
	if (home == NULL || home[0] != '/') {
		xasprintf(&msg, "%s: no absolute $HOME to put the agent in",
		    h->name);
		fo_finish(h, FO_CONFIG, -1, msg);
		free(msg);
		return;
	}
	h->agent_path = fanout_agent_for_arch(fo->opts->agent_dir, arch,
	    &cause);
	if (h->agent_path == NULL) {
		xasprintf(&msg, "%s: %s", h->name, cause);
		fo_finish(h, FO_CONFIG, -1, msg);
		free(msg);
		free(cause);
		return;
	}
	xasprintf(&h->agent_dst, "%s/%s", home, fo->opts->agent_remote);
	rconn_upload(h->conn, h->agent_path, h->agent_dst, 0755, fo_uploaded,
	    h);
}

static void
fo_ready(struct rconn *conn, const char *error, void *arg)
{
	struct fo_host *h = arg;
	struct fo *fo = h->fo;

	fo->connecting--;
	fo_start_more(fo);
	if (error != NULL) {
		fo_finish(h, fanout_classify(error), -1, error);
		return;
	}
	if (fo->opts->agent_dir != NULL) {
		h->ch = rconn_exec(conn, "uname -m; printf '%s\\n' \"$HOME\"",
		    fo_probe_data, fo_probed, h);
		rchan_eof(h->ch);
		return;
	}
	if (fo->opts->upload_local != NULL) {
		rconn_upload(conn, fo->opts->upload_local,
		    fo->opts->upload_remote, fo->opts->upload_mode,
		    fo_uploaded, h);
		return;
	}
	h->ch = rconn_exec(conn, fo->command, fo_data, fo_cmd_done, h);
	rchan_eof(h->ch);
	if (fo->opts->command_timeout_ms > 0)
		h->cmd_timer = loop_timer_add(fo->loop,
		    (uint64_t)fo->opts->command_timeout_ms, fo_cmd_timeout, h);
}

static void
fo_start_more(struct fo *fo)
{
	struct rconn_opts ro;
	struct fo_host *h;
	int window = fo->opts->window > 0 ? fo->opts->window : 32;

	memset(&ro, 0, sizeof ro);
	ro.connect_timeout_ms = fo->opts->connect_timeout_ms;
	ro.accept_new = fo->opts->accept_new;
	ro.keepalive_s = fo->opts->keepalive_s;
	while (fo->next < fo->nhosts && fo->connecting < window) {
		h = &fo->hosts[fo->next++];
		if (h->finished)
			continue;
		fo->connecting++;
		h->conn = rconn_open(fo->loop, &h->cfg, &ro, fo_ready, h);
	}
}

int
fanout_run(struct loop *loop, const struct hostlist *hl, const char *command,
    const struct fanout_opts *opts, fanout_line_cb line_cb,
    fanout_done_cb done_cb, void *arg)
{
	struct fo fo;
	struct fo_host *h;
	struct rhost_cfg *cfgs;
	char **names, **causes;
	size_t i;

	memset(&fo, 0, sizeof fo);
	fo.loop = loop;
	fo.opts = opts;
	fo.command = command;
	fo.line_cb = line_cb;
	fo.done_cb = done_cb;
	fo.arg = arg;
	fo.nhosts = hostlist_count(hl);
	fo.left = fo.nhosts;
	if (fo.nhosts == 0)
		return 0;
	fo.hosts = xcalloc(fo.nhosts, sizeof *fo.hosts);
	names = xcalloc(fo.nhosts, sizeof *names);
	cfgs = xcalloc(fo.nhosts, sizeof *cfgs);
	causes = xcalloc(fo.nhosts, sizeof *causes);
	for (i = 0; i < fo.nhosts; i++)
		names[i] = (char *)hostlist_get(hl, i);
	if (opts->transport != RT_LOCAL)
		sshconfig_resolve_many(names, fo.nhosts, cfgs, causes, NULL);
	for (i = 0; i < fo.nhosts; i++) {
		h = &fo.hosts[i];
		h->fo = &fo;
		h->name = names[i];
		buf_init(&h->part[0]);
		buf_init(&h->part[1]);
		buf_init(&h->probe);
		h->cfg = cfgs[i];
		if (opts->transport == RT_LOCAL) {
			h->cfg.name = xstrdup(h->name);
			h->cfg.hostname = xstrdup(h->name);
		} else if (causes[i] != NULL) {
			fo_finish(h, FO_CONFIG, -1, causes[i]);
			continue;
		}
		if (opts->user != NULL) {
			free(h->cfg.user);
			h->cfg.user = xstrdup(opts->user);
		}
		if (opts->transport != RT_AUTO)
			h->cfg.transport = opts->transport;
	}
	for (i = 0; i < fo.nhosts; i++)
		free(causes[i]);
	free(causes);
	free(cfgs);
	free(names);
	if (fo.left > 0) {
		fo_start_more(&fo);
		loop_run(loop);
	}
	/* Connections closed by timers that did not run yet. */
	for (i = 0; i < fo.nhosts; i++) {
		h = &fo.hosts[i];
		loop_timer_cancel(loop, h->close_timer);
		rconn_close(h->conn);
		rhost_cfg_clear(&h->cfg);
		buf_free(&h->part[0]);
		buf_free(&h->part[1]);
		buf_free(&h->probe);
		free(h->agent_path);
		free(h->agent_dst);
	}
	free(fo.hosts);
	return fo.failed;
}
