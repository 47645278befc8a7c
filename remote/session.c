/*
 * session.c - a long-lived connection to one host that comes back by
 * itself: the manager holds one per host for attach channels, stop and
 * relaunch, so no action needs a new handshake, and a connection that dies
 * (a link down, a rebooted switch, the silence timer) is re-made with
 * exponential backoff and jitter while the user's training goes on.
 *
 * What is not retried: a host key problem, an authentication failure or a
 * configuration error (they need the user, and retrying an auth failure
 * can lock an account), and, unless asked, a first connection that fails
 * (a launch wants that reported, not hidden behind retries).
 *
 * Not here: what runs on the connection. The owner re-opens its channels
 * when the session reports RSESS_UP again.
 */
#include "remote_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rsession {
	struct loop *loop;
	struct rhost_cfg cfg;
	struct rsession_opts opts;
	rsession_state_cb cb;
	void *arg;
	struct rconn *conn;
	enum rsession_state state;
	int up_once;
	int failures;		/* consecutive, since the last time up */
	int backoff_ms;		/* the next wait */
	uint64_t retry_timer;
	struct rchan *probe;
	uint64_t probe_timer;
	uint64_t rng;
	int in_cb;		/* inside the owner's callback */
	int dead;		/* rsession_free() called from the callback */
};

static const char *const state_names[] = {
	"connecting", "up", "down", "failed", "closed",
};

const char *
rsession_state_name(enum rsession_state st)
{
	return (size_t)st < nitems(state_names) ? state_names[st] : "?";
}

static void session_connect(struct rsession *);

/* Tells the owner; returns -1 when the owner freed the session. */
static int
session_report(struct rsession *s, enum rsession_state st, const char *why)
{
	s->state = st;
	if (s->cb == NULL)
		return 0;
	s->in_cb = 1;
	s->cb(s, st, why, s->arg);
	s->in_cb = 0;
	if (s->dead) {
		rsession_free(s);
		return -1;
	}
	return 0;
}

/* Closing finishes the owner's open channels, whose callbacks may come
 * back here (rsession_suspect): s no longer holds the connection by then. */
static void
session_drop_conn(struct rsession *s)
{
	struct rconn *conn = s->conn;

	loop_timer_cancel(s->loop, s->probe_timer);
	s->probe_timer = 0;
	s->probe = NULL;	/* freed with the connection */
	s->conn = NULL;
	if (conn != NULL) {
		rconn_on_lost(conn, NULL, NULL);
		rconn_close(conn);
	}
}

/* Next wait: doubling from backoff_min to backoff_max, +-20% jitter so
 * a cluster's sessions do not all come back in the same instant. */
static int
session_next_wait(struct rsession *s)
{
	int wait = s->backoff_ms;
	int span;

	if (s->backoff_ms < s->opts.backoff_max_ms / 2)
		s->backoff_ms *= 2;
	else
		s->backoff_ms = s->opts.backoff_max_ms;
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	span = wait / 5;
	if (span > 0)
		wait += (int)(s->rng % (uint64_t)(2 * span + 1)) - span;
	return wait;
}

static void
session_retry(void *arg)
{
	struct rsession *s = arg;

	s->retry_timer = 0;
	session_connect(s);
}

static int
session_permanent(const char *error)
{
	switch (fanout_classify(error)) {
	case FO_HOSTKEY:
	case FO_AUTH:
	case FO_CONFIG:
		return 1;
	default:
		return 0;
	}
}

/* The connection failed or died: retry later, or give up. */
static void
session_down(struct rsession *s, const char *error)
{
	char *why = xstrdup(error != NULL ? error : "connection lost");
	int wait;

	s->state = RSESS_DOWN;	/* what the owner's channels see meanwhile */
	session_drop_conn(s);
	s->failures++;
	if (session_permanent(why) || (!s->up_once && !s->opts.retry_first) ||
	    (s->opts.max_failures > 0 && s->failures >= s->opts.max_failures)) {
		session_report(s, RSESS_FAILED, why);
		free(why);
		return;
	}
	wait = session_next_wait(s);
	if (session_report(s, RSESS_DOWN, why) == 0 && s->state == RSESS_DOWN)
		s->retry_timer = loop_timer_add(s->loop, (uint64_t)wait,
		    session_retry, s);
	free(why);
}

static void
session_lost(struct rconn *conn, const char *error, void *arg)
{
	session_down(arg, error);
}

static void
session_ready(struct rconn *conn, const char *error, void *arg)
{
	struct rsession *s = arg;

	if (error != NULL) {
		session_down(s, error);
		return;
	}
	s->up_once = 1;
	s->failures = 0;
	s->backoff_ms = s->opts.backoff_min_ms;
	rconn_on_lost(conn, session_lost, s);
	session_report(s, RSESS_UP, NULL);
}

static void
session_connect(struct rsession *s)
{
	struct rconn_opts co = s->opts.conn;

	session_drop_conn(s);
	if (session_report(s, RSESS_CONNECTING, NULL) != 0 ||
	    s->state != RSESS_CONNECTING)
		return;
	s->conn = rconn_open(s->loop, &s->cfg, &co, session_ready, s);
}

struct rsession *
rsession_new(struct loop *loop, const struct rhost_cfg *cfg,
    const struct rsession_opts *opts, rsession_state_cb cb, void *arg)
{
	struct rsession *s = xcalloc(1, sizeof *s);

	s->loop = loop;
	s->cfg = *cfg;
	s->cfg.name = xstrdup(cfg->name);
	s->cfg.hostname = cfg->hostname ? xstrdup(cfg->hostname) : NULL;
	s->cfg.user = cfg->user ? xstrdup(cfg->user) : NULL;
	s->cfg.identity_files = strv_dup(cfg->identity_files);
	s->cfg.proxy_jump = cfg->proxy_jump ? xstrdup(cfg->proxy_jump) : NULL;
	s->cfg.known_hosts = strv_dup(cfg->known_hosts);
	s->cfg.why_openssh = cfg->why_openssh ? xstrdup(cfg->why_openssh) :
	    NULL;
	if (opts != NULL)
		s->opts = *opts;
	if (s->opts.backoff_min_ms <= 0)
		s->opts.backoff_min_ms = 1000;
	if (s->opts.backoff_max_ms < s->opts.backoff_min_ms)
		s->opts.backoff_max_ms = s->opts.backoff_min_ms > 60000 ?
		    s->opts.backoff_min_ms : 60000;
	if (s->opts.probe_timeout_ms <= 0)
		s->opts.probe_timeout_ms = 10000;
	s->backoff_ms = s->opts.backoff_min_ms;
	s->rng = (uint64_t)clock_mono_ms() * 2654435761u ^
	    ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
	if (s->rng == 0)
		s->rng = 1;
	s->cb = cb;
	s->arg = arg;
	s->retry_timer = loop_timer_add(loop, 0, session_retry, s);
	s->state = RSESS_CONNECTING;
	return s;
}

enum rsession_state
rsession_state(const struct rsession *s)
{
	return s->state;
}

const char *
rsession_host(const struct rsession *s)
{
	return s->cfg.name;
}

struct rconn *
rsession_conn(struct rsession *s)
{
	return s->state == RSESS_UP && rconn_is_up(s->conn) ? s->conn : NULL;
}

/* ---- "is it still there?" after a channel failed ------------------- */

static void
probe_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
}

static void
probe_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct rsession *s = arg;

	if (s->probe != ch)
		return;
	s->probe = NULL;
	loop_timer_cancel(s->loop, s->probe_timer);
	s->probe_timer = 0;
	if (status != 0)
		session_down(s, error != NULL ? error :
		    "connection check failed");
}

static void
probe_timeout(void *arg)
{
	struct rsession *s = arg;
	char *why;

	s->probe_timer = 0;
	xasprintf(&why, "%s: no answer to a connection check within %d ms",
	    s->cfg.name, s->opts.probe_timeout_ms);
	session_down(s, why);
	free(why);
}

void
rsession_suspect(struct rsession *s)
{
	if (s->state != RSESS_UP || s->probe != NULL || s->conn == NULL)
		return;
	if (!rconn_is_up(s->conn)) {
		session_down(s, rconn_lost_error(s->conn));
		return;
	}
	s->probe = rconn_exec(s->conn, "exit 0", probe_data, probe_done, s);
	rchan_eof(s->probe);
	s->probe_timer = loop_timer_add(s->loop,
	    (uint64_t)s->opts.probe_timeout_ms, probe_timeout, s);
}

void
rsession_retry_now(struct rsession *s)
{
	if (s->state != RSESS_DOWN && s->state != RSESS_FAILED)
		return;
	loop_timer_cancel(s->loop, s->retry_timer);
	s->retry_timer = 0;
	s->backoff_ms = s->opts.backoff_min_ms;
	session_connect(s);
}

void
rsession_free(struct rsession *s)
{
	if (s == NULL)
		return;
	if (s->in_cb) {
		s->dead = 1;
		s->cb = NULL;
		return;
	}
	loop_timer_cancel(s->loop, s->retry_timer);
	session_drop_conn(s);
	rhost_cfg_clear(&s->cfg);
	free(s);
}
