/*
 * engine.c - follows every host of the attempts it knows: one session per
 * host (remote/session.c, reconnecting with backoff), an attach channel per
 * host whose JSON lines go to the store in batches, each batch with the
 * host's cursor in the same transaction (store_ingest), and the host's
 * state derived from what the agent says (docs/protocol.md "Events"), the
 * silence timer (lost, never a signal to the training) and the stall rule.
 * Stop and relaunch-into-the-same-attempt go through the same sessions.
 *
 * Not here: the launch pipeline (engine_launch.c), printing (the CLI and
 * the console get notes), SQL (store.c).
 */
#include "engine_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENGINE_TICK_MS		100	/* batch flush and timers */
#define ENGINE_BATCH_MAX	512	/* flush a host's batch at this size */
#define ENGINE_REATTACH_MS	3000
#define ENGINE_HB_GRACE_MS	5000	/* an attach must speak this soon */

static int
state_final(const char *s)
{
	return s != NULL && (strcmp(s, "succeeded") == 0 ||
	    strcmp(s, "failed") == 0 || strcmp(s, "stopped") == 0 ||
	    strcmp(s, "unreachable") == 0);
}

/* A state name as a static string (h->state outlives what it came from). */
static const char *
state_intern(const char *s)
{
	static const char *const names[] = { "pending", "connecting",
	    "pushing", "starting", "running", "stalled", "lost", "succeeded",
	    "failed", "stopped", "unreachable" };
	size_t i;

	for (i = 0; i < nitems(names); i++)
		if (s != NULL && strcmp(s, names[i]) == 0)
			return names[i];
	return "pending";
}

void
eatt_note(struct eatt *a, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (a->e->o.note != NULL)
		a->e->o.note(NULL, NULL, msg, a->e->o.arg);
	free(msg);
}

void
eh_note(struct ehost *h, const char *state, const char *reason)
{
	struct engine *e = h->a->e;

	if (e->o.note != NULL)
		e->o.note(h->name, state, reason, e->o.arg);
}

/* Records a state change (with its reason) and tells the user; a final
 * state is never left. Returns -1 when the store failed. */
int
eh_set_state(struct ehost *h, const char *state, const char *reason)
{
	struct engine *e = h->a->e;
	const char *from = NULL;
	char *cause = NULL;

	if (h->final && !state_final(state))
		return 0;
	if (h->state != NULL && strcmp(h->state, state) == 0 && reason == NULL)
		return 0;
	if (h->id != 0 && store_host_set_state(e->store, h->id, state, reason,
	    e->o.actor, &from, &cause) != 0) {
		eatt_note(h->a, "%s: cannot record state %s: %s", h->name,
		    state, cause);
		free(cause);
		return -1;
	}
	if (h->state == NULL || strcmp(h->state, state) != 0 ||
	    reason != NULL)
		eh_note(h, state, reason);
	h->state = state_intern(state);
	if (state_final(state))
		h->final = 1;
	return 0;
}

/*
 * The decision to run the host's agent: `starting` and one more launch,
 * recorded in one transaction before the agent is asked, so a drover
 * killed while it starts has counted the launch. -1 with *cause when it
 * could not be recorded: then the agent must not run.
 */
int
eh_set_starting(struct ehost *h, const char *launch_reason, char **cause)
{
	struct engine *e = h->a->e;

	if (h->id != 0 && store_host_start(e->store, h->id, e->o.actor,
	    launch_reason, cause) != 0)
		return -1;
	if (h->state == NULL || strcmp(h->state, "starting") != 0)
		eh_note(h, "starting", NULL);
	h->state = state_intern("starting");
	return 0;
}

/* ---- short operations: one command, its output collected ----------- */

static void
op_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
	struct ehost *h = arg;
	struct buf *b = stream == 1 ? &h->op_out : &h->op_err;

	if (b->len < 1024 * 1024)
		buf_add(b, p, n);
}

static void
op_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct ehost *h = arg;
	ehost_op_fn fn = h->op_done;

	if (h->op != ch || h->a->e->closing)
		return;
	h->op = NULL;
	h->op_done = NULL;
	if (fn != NULL)
		fn(h, status, error);
}

int
eh_op(struct ehost *h, const char *command, const char *in, size_t inlen,
    ehost_op_fn fn)
{
	struct rconn *c = h->sess != NULL ? rsession_conn(h->sess) : NULL;

	if (c == NULL || h->op != NULL)
		return -1;
	buf_reset(&h->op_out);
	buf_reset(&h->op_err);
	h->op_done = fn;
	h->op = rconn_exec(c, command, op_data, op_done, h);
	if (in != NULL && inlen > 0)
		rchan_write(h->op, in, inlen);
	rchan_eof(h->op);
	return 0;
}

/* The agent's path as remote shell words: "~/x" becomes "$HOME"/'x'. */
char *
eh_agent_words(const char *agent_dir)
{
	char *path, *q, *out;

	if (agent_dir == NULL)
		agent_dir = "~/.drover/bin";
	if (strncmp(agent_dir, "~/", 2) == 0) {
		xasprintf(&path, "%s/drover-agent", agent_dir + 2);
		q = remote_quote_arg(path);
		xasprintf(&out, "\"$HOME\"/%s", q);
	} else {
		xasprintf(&path, "%s/drover-agent", agent_dir);
		q = remote_quote_arg(path);
		out = xstrdup(q);
	}
	free(path);
	free(q);
	return out;
}

/* `drover-agent run` on the spec at the remote path spec, the secrets
 * (the only way they travel) on its stdin; fn gets the outcome. */
int
eh_run_agent(struct ehost *h, const char *spec, ehost_op_fn fn)
{
	char *secrets, *q, *cmd;
	int rc;

	secrets = h->a->secrets != NULL ? json_dumps(h->a->secrets,
	    JSON_COMPACT) : xstrdup("{}");
	q = remote_quote_arg(spec);
	xasprintf(&cmd, "%s run --secrets-stdin %s", h->agent, q);
	rc = eh_op(h, cmd, secrets, strlen(secrets), fn);
	explicit_bzero(secrets, strlen(secrets));
	free(secrets);
	free(cmd);
	free(q);
	return rc;
}

/* A stop command on the host's attach channel (ends what runs there). */
static void
eh_send_stop(struct ehost *h, int grace_s)
{
	struct proto_cmd pc = { .kind = PROTO_CMD_STOP, .grace_s = grace_s };
	char *line = proto_cmd_encode(&pc);

	rchan_write(h->att, line, strlen(line));
	free(line);
}

/* ---- ingest ----------------------------------------------------------- */

static void eh_detach(struct ehost *);

static void
eh_flush(struct ehost *h)
{
	struct engine *e = h->a->e;
	char *cause = NULL;
	size_t i;
	int rc;

	if (h->nbatch == 0)
		return;
	rc = store_ingest(e->store, h->id, h->batch, h->nbatch, &h->cursor,
	    &cause);
	for (i = 0; i < h->nbatch; i++)
		json_decref(h->batch[i]);
	h->nbatch = 0;
	if (rc == 0)
		return;
	/* A gap or a store error: what was not stored is still in the
	 * agent's spool; attach again from the cursor. */
	eatt_note(h->a, "%s: %s; attaching again from seq %lld", h->name,
	    cause != NULL ? cause : "ingest failed", (long long)h->cursor + 1);
	free(cause);
	h->seen = h->cursor;
	eh_detach(h);
	h->reattach_at = clock_mono_ms() + (rc < 0 ? 5000 : 100);
}

static double
eh_median_step_ms(const struct ehost *h)
{
	double v[16], t;
	int i, j, n = h->nstep_ms < 16 ? h->nstep_ms : 16;

	if (n == 0)
		return 0;
	memcpy(v, h->step_ms, (size_t)n * sizeof *v);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--)
			t = v[j], v[j] = v[j - 1], v[j - 1] = t;
	return v[n / 2];
}

static void
eh_root_cause(struct ehost *h, const char *reason)
{
	struct eatt *a = h->a;
	struct store_audit au;
	char *cause = NULL, *why;
	json_t *data;

	if (a->have_root)
		return;
	a->have_root = 1;
	if (a->root_stored)	/* by the drover that followed it before */
		return;
	xasprintf(&why, "gang failure: %s on %s", reason, h->name);
	data = json_pack("{s:s, s:s}", "host", h->name, "reason", reason);
	memset(&au, 0, sizeof au);
	au.task_id = a->task_id;
	au.attempt_id = a->attempt_id;
	au.host_id = h->id;
	au.kind = "root_cause";
	au.actor = "engine";
	au.reason = why;
	au.data = data;
	if (store_audit_add(a->e->store, &au, &cause) != 0) {
		eatt_note(a, "cannot record the root cause: %s", cause);
		free(cause);
	}
	eatt_note(a, "%s", why);
	json_decref(data);
	free(why);
	if (a->cfg != NULL && a->cfg->restart_auto && a->phase == PH_WATCH) {
		char *c2 = NULL;

		eatt_note(a, "stopping the other hosts (restart.auto)");
		if (engine_stop(a->e, a->attempt_id, a->cfg->stages[
		    a->stage_idx].stop_grace_s, &c2) != 0) {
			eatt_note(a, "%s", c2);
			free(c2);
		}
	}
}

/* What an event means for the host's state. Called after the event was
 * stored (the batch is flushed first when the state changes). */
static void
eh_interpret(struct ehost *h, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *scope, *st, *reason, *cls;
	int64_t step;
	double ms;

	if (type == NULL)
		return;
	if (strcmp(type, "metric") == 0) {
		if (proto_get_int(ev, "step", &step) != 0)
			return;
		if (step != h->last_step) {
			h->last_step = step;
			h->last_step_ms = clock_mono_ms();
			if (proto_get_number(ev, "step_time_ms", &ms) == 0 &&
			    isfinite(ms) && ms > 0)
				h->step_ms[h->nstep_ms++ % 16] = ms;
			if (strcmp(h->state, "stalled") == 0 ||
			    strcmp(h->state, "lost") == 0) {
				eh_flush(h);
				eh_set_state(h, "running", NULL);
			}
		}
		return;
	}
	if (strcmp(type, "ckpt") == 0) {
		h->last_step_ms = clock_mono_ms();	/* saving is progress */
		return;
	}
	if (strcmp(type, "state") != 0)
		return;
	scope = json_string_value(json_object_get(ev, "scope"));
	st = json_string_value(json_object_get(ev, "state"));
	reason = json_string_value(json_object_get(ev, "reason"));
	if (scope == NULL || st == NULL)
		return;
	if (strcmp(scope, "proc") == 0 && strcmp(st, "exited") == 0) {
		cls = json_string_value(json_object_get(ev, "class"));
		if (cls == NULL || strcmp(cls, "succeeded") == 0 ||
		    strcmp(cls, "stopped") == 0)
			return;
		{
			int64_t rank = -1;
			char *why;

			proto_get_int(ev, "rank", &rank);
			xasprintf(&why, "rank %lld %s", (long long)rank,
			    reason != NULL ? reason : "failed");
			eh_flush(h);
			eh_root_cause(h, why);
			eh_set_state(h, "failed", why);
			free(why);
		}
		return;
	}
	if (strcmp(scope, "run") != 0)
		return;
	if (strcmp(st, "running") == 0 || strcmp(st, "adopted") == 0) {
		if (!h->final && (strcmp(h->state, "starting") == 0 ||
		    strcmp(h->state, "lost") == 0 ||
		    strcmp(h->state, "pending") == 0)) {
			eh_flush(h);
			eh_set_state(h, "running", NULL);
		}
	} else if (strcmp(st, "exited") == 0) {
		const char *result = json_string_value(json_object_get(ev,
		    "result"));

		if (result == NULL)
			result = "failed";
		eh_flush(h);
		if (strcmp(result, "succeeded") == 0 && !h->final)
			eh_set_state(h, "succeeded", NULL);
		else if (strcmp(result, "stopped") == 0 &&
		    (!h->final || strcmp(h->state, "failed") != 0))
			eh_set_state(h, "stopped", reason);
		else if (!h->final)
			eh_set_state(h, "failed", reason);
	}
}

void
eh_set_drained(struct ehost *h)
{
	char *cause = NULL;

	h->drained = 1;
	if (h->id != 0 && store_host_set_drained(h->a->e->store, h->id, 1,
	    &cause) != 0) {
		eatt_note(h->a, "%s: %s", h->name, cause);
		free(cause);
	}
}

static void eh_relaunch_kick(struct ehost *);

/* The agent's word on the run directory's disk (not spooled: nothing can
 * be written there while it is full). Told and audited on each change. */
static void
eh_disk(struct ehost *h, const json_t *ev)
{
	struct store_audit au;
	int full = json_is_true(json_object_get(ev, "full"));
	int64_t room = 0;
	char *why, *cause = NULL;

	if (full == h->disk_full)
		return;
	h->disk_full = full;
	proto_get_int(ev, "free", &room);
	if (full)
		xasprintf(&why, "%s: the run directory's disk is full (%lld "
		    "bytes free): training goes on, its output and events wait "
		    "in the agent's memory until space is freed there",
		    h->name, (long long)room);
	else
		xasprintf(&why, "%s: the run directory's disk has room again "
		    "(%lld bytes free): what waited is being written",
		    h->name, (long long)room);
	memset(&au, 0, sizeof au);
	au.task_id = h->a->task_id;
	au.attempt_id = h->a->attempt_id;
	au.host_id = h->id;
	au.kind = full ? "disk_full" : "disk_ok";
	au.actor = "agent";
	au.reason = why;
	if (store_audit_add(h->a->e->store, &au, &cause) != 0) {
		eatt_note(h->a, "%s: cannot record it: %s", h->name, cause);
		free(cause);
	}
	eatt_note(h->a, "%s", why);
	free(why);
}

static void
att_line(const char *p, size_t n, void *arg)
{
	struct ehost *h = arg;
	char *cause = NULL;
	int64_t seq;
	json_t *ev;
	const char *type;

	if ((ev = proto_decode_line(p, n, &cause)) == NULL) {
		eatt_note(h->a, "%s: bad line from the agent: %s", h->name,
		    cause);
		free(cause);
		return;
	}
	type = json_string_value(json_object_get(ev, "type"));
	if (proto_get_int(ev, "seq", &seq) != 0) {
		if (type != NULL && strcmp(type, "hello") == 0 &&
		    strcmp(h->state, "lost") == 0)
			eh_set_state(h, "running", "agent reachable again");
		else if (type != NULL && strcmp(type, "error") == 0)
			eatt_note(h->a, "%s: agent: %s", h->name,
			    json_string_value(json_object_get(ev, "msg")));
		else if (type != NULL && strcmp(type, "disk") == 0)
			eh_disk(h, ev);
		json_decref(ev);
		return;
	}
	if (h->nbatch == h->capbatch) {
		h->capbatch = h->capbatch ? h->capbatch * 2 : 64;
		h->batch = xreallocarray(h->batch, h->capbatch,
		    sizeof *h->batch);
	}
	h->batch[h->nbatch++] = json_incref(ev);
	if (seq > h->seen) {
		h->seen = seq;
		eh_interpret(h, ev);
	}
	json_decref(ev);
	if (h->nbatch >= ENGINE_BATCH_MAX)
		eh_flush(h);
}

static void
att_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
	struct ehost *h = arg;

	if (h->att != ch)
		return;
	h->last_rx = clock_mono_ms();
	if (stream != 1) {
		if (h->op_err.len < 65536)
			buf_add(&h->op_err, p, n);
		return;
	}
	if (linesplit_feed(&h->line, PROTO_MAX_LINE, p, n, att_line, h) > 0)
		eatt_note(h->a, "%s: agent line over %d bytes dropped",
		    h->name, PROTO_MAX_LINE);
}

static void
att_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct ehost *h = arg;
	char *why = NULL;

	if (h->att != ch || h->a->e->closing)
		return;
	h->att = NULL;
	linesplit_reset(&h->line);
	eh_flush(h);
	if (status == 0) {
		/* The run ended and everything was sent. */
		if (!h->final)
			eh_set_state(h, "failed", "the agent ended the run "
			    "without a result");
		eh_set_drained(h);
		eh_relaunch_kick(h);
		eatt_check_done(h->a);
		return;
	}
	if (h->final && status > 0) {
		/* The agent answered: there is nothing (more) to read. */
		buf_cstr(&h->op_err);
		eatt_note(h->a, "%s: %.300s", h->name, h->op_err.len > 0 ?
		    h->op_err.data : "attach failed");
		eh_set_drained(h);
		eh_relaunch_kick(h);
		eatt_check_done(h->a);
		return;
	}
	if (h->final) {
		if (h->sess != NULL)
			rsession_suspect(h->sess);
		h->reattach_at = clock_mono_ms() + ENGINE_REATTACH_MS;
		return;
	}
	if (status < 0) {
		xasprintf(&why, "%s", error != NULL ? error :
		    "connection lost");
		if (h->sess != NULL)
			rsession_suspect(h->sess);
	} else {
		buf_cstr(&h->op_err);
		xasprintf(&why, "attach failed (status %d): %.300s", status,
		    h->op_err.len > 0 ? h->op_err.data : "no message");
	}
	eh_set_state(h, "lost", why);
	free(why);
	h->reattach_at = clock_mono_ms() + ENGINE_REATTACH_MS;
}

static void
eh_detach(struct ehost *h)
{
	struct rchan *ch = h->att;

	h->att = NULL;
	linesplit_reset(&h->line);
	if (ch != NULL)
		rchan_eof(ch);	/* the agent's attach ends on EOF */
}

void
eh_attach(struct ehost *h)
{
	struct rconn *c;
	char *q, *cmd;

	h->reattach_at = 0;
	if (h->att != NULL || (h->final && h->drained) || h->run_dir == NULL ||
	    h->passive)
		return;
	if (h->sess == NULL || (c = rsession_conn(h->sess)) == NULL)
		return;		/* the session's "up" attaches */
	q = remote_quote_arg(h->run_dir);
	xasprintf(&cmd, "%s attach %s --from %lld --adopt", h->agent, q,
	    (long long)h->cursor + 1);
	free(q);
	h->seen = h->cursor;
	buf_reset(&h->op_err);
	h->last_rx = clock_mono_ms();
	h->att = rconn_exec(c, cmd, att_data, att_done, h);
	free(cmd);
	if (h->stop_pending) {
		eh_send_stop(h, h->stop_grace);
		h->stop_pending = 0;
	}
}

/* ---- sessions ------------------------------------------------------- */

static void
eh_session_state(struct rsession *s, enum rsession_state st,
    const char *why, void *arg)
{
	struct ehost *h = arg;
	struct eatt *a = h->a;

	if (a->e->closing)
		return;
	switch (st) {
	case RSESS_UP:
		h->up = 1;
		if (a->phase == PH_CONNECT)
			launch_host_up(h);
		else if (a->phase == PH_WATCH) {
			eh_attach(h);
			eh_relaunch_kick(h);
		}
		break;
	case RSESS_DOWN:
	case RSESS_FAILED:
		h->up = 0;
		if (a->phase == PH_CONNECT) {
			launch_host_failed(h, why);
			break;
		}
		if (!h->final && a->phase == PH_WATCH &&
		    strcmp(h->state, "lost") != 0)
			eh_set_state(h, "lost", why);
		if (st == RSESS_FAILED && !h->final)
			eatt_note(a, "%s: not reconnecting: %s", h->name, why);
		break;
	default:
		break;
	}
}

void
eh_session_open(struct ehost *h, int retry_first)
{
	struct rsession_opts so;

	memset(&so, 0, sizeof so);
	so.conn.keepalive_s = h->a->e->o.keepalive_s;
	so.conn.accept_new = h->a->accept_new;
	so.retry_first = retry_first;
	so.backoff_max_ms = 30000;
	if (h->sess == NULL)
		h->sess = rsession_new(h->a->e->loop, &h->cfg, &so,
		    eh_session_state, h);
}

/* ---- the tick: flush, silence, stall, re-attach --------------------- */

static void
eh_watch(struct ehost *h, uint64_t now)
{
	struct eatt *a = h->a;
	double med, limit_s;
	char why[256];

	if (h->att == NULL) {
		if (h->reattach_at != 0 && now >= h->reattach_at)
			eh_attach(h);
		return;
	}
	if (h->final)
		return;
	/* The agent's heartbeat is every second. */
	if (now - h->last_rx > (uint64_t)a->e->o.silence_s * 1000) {
		snprintf(why, sizeof why, "no word from the agent for %d s; "
		    "the training is not touched", a->e->o.silence_s);
		eh_detach(h);
		eh_set_state(h, "lost", why);
		if (h->sess != NULL)
			rsession_suspect(h->sess);
		h->reattach_at = now + ENGINE_REATTACH_MS;
		return;
	}
	if (strcmp(h->state, "running") != 0)
		return;
	if (h->last_step < 0) {
		if (a->stall.compile_grace_s > 0 && now - h->watch_since >
		    (uint64_t)a->stall.compile_grace_s * 1000) {
			snprintf(why, sizeof why, "no first step %d s after "
			    "start (past the compile grace)",
			    (int)((now - h->watch_since) / 1000));
			eh_set_state(h, "stalled", why);
		}
		return;
	}
	med = eh_median_step_ms(h) / 1000.0;
	limit_s = med * a->stall.factor;
	if (limit_s < a->stall.floor_s)
		limit_s = a->stall.floor_s;
	if (now - h->last_step_ms > (uint64_t)(limit_s * 1000)) {
		snprintf(why, sizeof why, "no step for %d s on %s (last step "
		    "%lld; limit %.0f s)", (int)((now - h->last_step_ms) /
		    1000), h->name, (long long)h->last_step, limit_s);
		eh_set_state(h, "stalled", why);
	}
}

static void
engine_tick(void *arg)
{
	struct engine *e = arg;
	uint64_t now = clock_mono_ms();
	size_t i, j;

	e->tick = loop_timer_add(e->loop, ENGINE_TICK_MS, engine_tick, e);
	for (i = 0; i < e->natts; i++) {
		struct eatt *a = e->atts[i];

		if (a->phase != PH_WATCH && a->phase != PH_START)
			continue;
		/* While starting, only the hosts already attached. */
		for (j = 0; j < a->n; j++) {
			if (a->phase == PH_START && a->hosts[j].att == NULL)
				continue;
			eh_flush(&a->hosts[j]);
			eh_watch(&a->hosts[j], now);
		}
	}
}

/* ---- attempts ------------------------------------------------------- */

struct eatt *
eatt_new(struct engine *e)
{
	struct eatt *a = xcalloc(1, sizeof *a);

	a->e = e;
	a->stall.factor = 10;
	a->stall.floor_s = 600;
	a->stall.compile_grace_s = 1800;
	a->accept_new = e->o.accept_new;
	e->atts = xreallocarray(e->atts, e->natts + 1, sizeof *e->atts);
	e->atts[e->natts++] = a;
	return a;
}

static void
eh_clear(struct ehost *h)
{
	size_t i;

	rsession_free(h->sess);
	h->sess = NULL;
	for (i = 0; i < h->nbatch; i++)
		json_decref(h->batch[i]);
	free(h->batch);
	if (h->have_cfg)
		rhost_cfg_clear(&h->cfg);
	free(h->name);
	free(h->arch);
	free(h->home);
	free(h->run_dir);
	free(h->agent);
	free(h->fail_reason);
	buf_free(&h->op_out);
	buf_free(&h->op_err);
	linesplit_free(&h->line);
}

static void
eatt_free(struct eatt *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		eh_clear(&a->hosts[i]);
	free(a->hosts);
	config_free(a->cfg);
	plan_free(a->plan);
	json_decref(a->secrets);
	json_decref(a->launch_data);
	free(a->task);
	free(a->stage);
	free(a->reason);
	free(a);
}

static void eatt_remove_later(void *);
static int auto_restart_schedule(struct eatt *);

static void
eatt_free_later(struct eatt *a)
{
	if (a->free_timer == 0)
		a->free_timer = loop_timer_add(a->e->loop, 0,
		    eatt_remove_later, a);
}

static void
eatt_remove_later(void *arg)
{
	struct eatt *a = arg;
	struct engine *e = a->e;
	size_t i;

	for (i = 0; i < e->natts; i++) {
		if (e->atts[i] == a) {
			e->atts[i] = e->atts[--e->natts];
			break;
		}
	}
	eatt_free(a);
}

/* A stage succeeded: the task's next stage starts, as its own attempt. */
static void
eatt_next_stage(struct eatt *a)
{
	struct engine_launch l;
	char *cause = NULL, *why;

	if (a->cfg == NULL || a->task_id == 0 ||
	    a->stage_idx + 1 >= a->cfg->nstages)
		return;
	memset(&l, 0, sizeof l);
	l.cfg = a->cfg;			/* handed over */
	a->cfg = NULL;
	l.stage = a->stage_idx + 1;
	l.task_id = a->task_id;
	l.parent_attempt = a->attempt_id;
	xasprintf(&why, "stage %s after %s succeeded",
	    l.cfg->stages[l.stage].name, l.cfg->stages[a->stage_idx].name);
	l.reason = why;
	eatt_note(a, "%s", why);
	if (engine_launch(a->e, &l, &cause) != 0) {
		eatt_note(a, "stage %zu: %s", l.stage + 1, cause);
		free(cause);
	}
	free(why);
}

void
eatt_check_done(struct eatt *a)
{
	const char *st = "succeeded";
	size_t i;
	int restart;

	if (a->phase == PH_DONE)
		return;
	for (i = 0; i < a->n; i++) {
		struct ehost *h = &a->hosts[i];

		if (h->passive)
			continue;
		if (!h->final || h->att != NULL || h->op != NULL ||
		    h->relaunch_pending || (!h->drained && h->run_dir != NULL))
			return;
		if (strcmp(h->state, "succeeded") != 0 &&
		    strcmp(st, "failed") != 0)
			st = strcmp(h->state, "stopped") == 0 ? "stopped" :
			    "failed";
	}
	a->phase = PH_DONE;
	restart = 0;
	if (strcmp(st, "succeeded") == 0)
		eatt_next_stage(a);
	else if (a->have_root)
		restart = auto_restart_schedule(a);
	if (a->e->o.done != NULL)
		a->e->o.done(a->attempt_id, st, a->e->o.arg);
	/* Sessions and channels are still on the stack: free from the loop
	 * (after the restart, which takes its config, when one is due). */
	if (!restart)
		eatt_free_later(a);
}

const char *
engine_actor(void)
{
	const char *u = getenv("USER");

	return u != NULL && *u != '\0' ? u : "user";
}

/*
 * $DROVER_AGENT_DIR; else the folder of this binary when the agent builds
 * are beside it (the build tree: build/drover, build/x86_64/drover-agent);
 * else PREFIX/lib/drover of an installed drover (PREFIX/bin/drover, see
 * make install).
 */
char *
agent_dir_default(void)
{
	static const char *const arches[] = { "x86_64", "aarch64" };
	char *self, *slash, *path, *lib;
	size_t i;

	if (getenv("DROVER_AGENT_DIR") != NULL)
		return xstrdup(getenv("DROVER_AGENT_DIR"));
	if ((self = realpath("/proc/self/exe", NULL)) == NULL)
		return xstrdup(".");
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	for (i = 0; i < nitems(arches); i++) {
		xasprintf(&path, "%s/%s/drover-agent", self, arches[i]);
		if (access(path, R_OK) == 0) {
			free(path);
			return self;
		}
		free(path);
	}
	xasprintf(&lib, "%s/../lib/drover", self);
	xasprintf(&path, "%s/%s/drover-agent", lib, arches[0]);
	if (access(path, R_OK) != 0) {
		free(path);
		xasprintf(&path, "%s/%s/drover-agent", lib, arches[1]);
	}
	if (access(path, R_OK) == 0) {
		free(path);
		free(self);
		return lib;
	}
	free(path);
	free(lib);
	return self;
}

void
engine_opts_init(struct engine_opts *eo)
{
	static char agent_dir[4096];
	char *dir = agent_dir_default();

	memset(eo, 0, sizeof *eo);
	eo->actor = engine_actor();
	snprintf(agent_dir, sizeof agent_dir, "%s", dir);
	free(dir);
	eo->agent_dir = agent_dir;
	if (getenv("DROVER_SILENCE_S") != NULL)
		eo->silence_s = atoi(getenv("DROVER_SILENCE_S"));
	if (getenv("DROVER_KEEPALIVE_S") != NULL)
		eo->keepalive_s = atoi(getenv("DROVER_KEEPALIVE_S"));
}

struct engine *
engine_new(struct loop *loop, struct store *store,
    const struct engine_opts *o)
{
	struct engine *e = xcalloc(1, sizeof *e);
	char tmpl[] = "/tmp/drover-specs.XXXXXX";
	const char *rt = getenv("XDG_RUNTIME_DIR");

	e->loop = loop;
	e->store = store;
	if (o != NULL)
		e->o = *o;
	if (e->o.actor == NULL)
		e->o.actor = "user";
	if (e->o.silence_s <= 0)
		e->o.silence_s = 45;
	if (e->o.keepalive_s <= 0)
		e->o.keepalive_s = 15;
	if (rt != NULL && rt[0] == '/' && access(rt, W_OK) == 0)
		xasprintf(&e->tmpdir, "%s/drover-specs.XXXXXX", rt);
	else
		e->tmpdir = xstrdup(tmpl);
	if (mkdtemp(e->tmpdir) == NULL)
		fatalx("cannot make a temporary directory %s: %s", e->tmpdir,
		    strerror(errno));
	e->tick = loop_timer_add(loop, ENGINE_TICK_MS, engine_tick, e);
	return e;
}

void
engine_free(struct engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	e->closing = 1;
	loop_timer_cancel(e->loop, e->tick);
	for (i = 0; i < e->natts; i++) {
		size_t j;

		/* Freed here: the caller runs the loop's zero-delay timers
		 * after this, and that one would free it again. */
		loop_timer_cancel(e->loop, e->atts[i]->free_timer);

		for (j = 0; j < e->atts[i]->n; j++)
			eh_flush(&e->atts[i]->hosts[j]);
		eatt_free(e->atts[i]);
	}
	free(e->atts);
	rmdir(e->tmpdir);	/* spec files are removed once uploaded */
	free(e->tmpdir);
	free(e);
}

int
engine_active(const struct engine *e)
{
	size_t i;
	int n = 0;

	for (i = 0; i < e->natts; i++)
		if (e->atts[i]->phase != PH_DONE)
			n++;
	return n + e->pending_restarts;
}

int64_t
engine_last_attempt(const struct engine *e)
{
	return e->last_attempt;
}

static struct eatt *
engine_find(struct engine *e, int64_t attempt_id)
{
	size_t i;

	for (i = 0; i < e->natts; i++)
		if (e->atts[i]->attempt_id == attempt_id &&
		    e->atts[i]->phase != PH_DONE)
			return e->atts[i];
	return NULL;
}

/* ---- hosts' SSH settings -------------------------------------------- */

/* Every host's settings: the local transport, or ssh -G (one run per group
 * of hosts, sshconfig_group.c) with the cluster's overrides on top. A host
 * whose settings cannot be had gets fail_reason. cfg may be NULL. */
void
eatt_resolve_hosts(struct eatt *a, const struct config *cfg)
{
	int local = cfg != NULL && strcmp(cfg->cluster.transport, "local") == 0;
	struct rhost_cfg *cfgs = xcalloc(a->n, sizeof *cfgs);
	char **names = xcalloc(a->n, sizeof *names);
	char **causes = xcalloc(a->n, sizeof *causes);
	size_t i;

	for (i = 0; i < a->n; i++)
		names[i] = a->hosts[i].name;
	if (!local)
		sshconfig_resolve_many(names, a->n, cfgs, causes, NULL);
	for (i = 0; i < a->n; i++) {
		struct ehost *h = &a->hosts[i];

		if (local) {
			cfgs[i].name = xstrdup(h->name);
			cfgs[i].hostname = xstrdup(h->name);
			cfgs[i].transport = RT_LOCAL;
		}
		h->cfg = cfgs[i];
		h->have_cfg = causes[i] == NULL;
		if (causes[i] != NULL) {
			h->fail_reason = causes[i];
			eh_note(h, "unreachable", h->fail_reason);
			continue;
		}
		if (cfg == NULL || local)
			continue;
		if (cfg->cluster.user != NULL) {
			free(h->cfg.user);
			h->cfg.user = xstrdup(cfg->cluster.user);
		}
		if (cfg->cluster.port > 0)
			h->cfg.port = cfg->cluster.port;
		if (cfg->cluster.connect_timeout_s > 0)
			h->cfg.connect_timeout_s =
			    cfg->cluster.connect_timeout_s;
		if (strcmp(cfg->cluster.transport, "libssh2") == 0)
			h->cfg.transport = RT_LIBSSH2;
		else if (strcmp(cfg->cluster.transport, "openssh") == 0)
			h->cfg.transport = RT_OPENSSH;
	}
	free(names);
	free(causes);
	free(cfgs);
}

/* ---- re-attaching to what runs ------------------------------------- */

/* Whether the attempt's root cause is in the audit log already. */
static int
root_cause_stored(struct engine *e, int64_t task_id, int64_t attempt_id)
{
	json_t *rows, *r;
	const char *kind;
	char *cause = NULL;
	size_t i;
	int found = 0;

	if (store_audit_list(e->store, task_id, &rows, &cause) != 0) {
		free(cause);
		return 0;
	}
	json_array_foreach(rows, i, r) {
		kind = json_string_value(json_object_get(r, "kind"));
		if (kind != NULL && strcmp(kind, "root_cause") == 0 &&
		    json_integer_value(json_object_get(r, "attempt_id")) ==
		    attempt_id)
			found = 1;
	}
	json_decref(rows);
	return found;
}

/* Follows an attempt again: every host whose events are not all stored
 * is attached from its cursor. force: even when all are (to relaunch). */
/* Nothing more to collect from the host: its agent said all was sent,
 * or it ended without ever being started (a failed connect or push). */
static int
row_drained(const json_t *hj)
{
	return json_is_true(json_object_get(hj, "drained")) ||
	    (json_integer_value(json_object_get(hj, "launches")) == 0 &&
	    state_final(state_intern(json_string_value(json_object_get(hj,
	    "state")))));
}

static int
resume_attempt(struct engine *e, int64_t task_id, int64_t attempt_id,
    const json_t *task, int force, char **cause)
{
	const char *stage = json_string_value(json_object_get(task, "stage"));
	struct eatt *a;
	json_t *hosts, *hj;
	size_t i, n = 0;
	struct config *cfg = NULL;
	char *ccause = NULL;

	if (engine_find(e, attempt_id) != NULL)
		return 0;
	if (store_attempt_hosts(e->store, attempt_id, &hosts, cause) != 0)
		return -1;
	json_array_foreach(hosts, i, hj)
		if (!row_drained(hj))
			n++;
	if (n == 0 && !force) {
		json_decref(hosts);
		return 0;
	}
	a = eatt_new(e);
	a->task_id = task_id;
	a->attempt_id = attempt_id;
	a->phase = PH_WATCH;
	/* A later failure (a survivor stopped by relaunch --all, say) is
	 * a consequence: the first one stays the only root cause. */
	a->root_stored = root_cause_stored(e, task_id, attempt_id);
	if ((cfg = config_load_task(task, NULL, 0, &ccause)) == NULL &&
	    ccause != NULL) {
		eatt_note(a, "%s: cannot reload the config (%s); following "
		    "with default stall limits", json_string_value(
		    json_object_get(task, "config_path")), ccause);
		free(ccause);
	}
	if (cfg != NULL) {
		for (i = 0; stage != NULL && i < cfg->nstages; i++)
			if (strcmp(cfg->stages[i].name, stage) == 0)
				a->stage_idx = i;
		a->stall = cfg->stages[a->stage_idx].stall;
		if (cfg->secrets_file != NULL &&
		    (a->secrets = secrets_load(cfg->secrets_file, &ccause)) ==
		    NULL) {
			eatt_note(a, "%s", ccause);
			free(ccause);
		}
	}
	a->n = json_array_size(hosts);
	a->hosts = xcalloc(a->n, sizeof *a->hosts);
	json_array_foreach(hosts, i, hj) {
		struct ehost *h = &a->hosts[i];
		json_int_t v;

		h->a = a;
		h->idx = i;
		h->name = xstrdup(json_string_value(json_object_get(hj,
		    "host")));
		h->id = json_integer_value(json_object_get(hj, "id"));
		h->node_rank = (int)json_integer_value(json_object_get(hj,
		    "node_rank"));
		h->run_dir = xstrdup(json_string_value(json_object_get(hj,
		    "run_dir")));
		v = json_integer_value(json_object_get(hj, "cursor"));
		h->cursor = h->seen = v;
		h->state = state_intern(json_string_value(json_object_get(hj,
		    "state")));
		h->final = state_final(h->state);
		h->drained = row_drained(hj);
		h->last_step = -1;
		h->watch_since = clock_mono_ms();
		h->agent = eh_agent_words(cfg != NULL ?
		    cfg->cluster.agent_dir : NULL);
	}
	json_decref(hosts);
	eatt_resolve_hosts(a, cfg);
	for (i = 0; i < a->n; i++)
		if (a->hosts[i].have_cfg && !a->hosts[i].drained)
			eh_session_open(&a->hosts[i], 1);
	a->cfg = cfg;
	return 1;
}

int
engine_resume(struct engine *e, int64_t only_task, char **cause)
{
	json_t *tasks, *t;
	size_t i;
	int n = 0, rc;

	if (store_tasks_list(e->store, &tasks, cause) != 0)
		return -1;
	json_array_foreach(tasks, i, t) {
		int64_t tid = json_integer_value(json_object_get(t, "id"));
		int64_t aid = json_integer_value(json_object_get(t,
		    "attempt_id"));

		if ((only_task != 0 && tid != only_task) || aid == 0)
			continue;
		rc = resume_attempt(e, tid, aid, t, 0, cause);
		if (rc < 0) {
			json_decref(tasks);
			return -1;
		}
		n += rc;
	}
	json_decref(tasks);
	return n;
}

int
engine_load(struct engine *e, int64_t task_id, int64_t attempt_id,
    char **cause)
{
	json_t *sum;
	int rc;

	if (store_task_summary(e->store, task_id, &sum, cause) != 0)
		return -1;
	rc = resume_attempt(e, task_id, attempt_id, sum, 1, cause);
	json_decref(sum);
	return rc < 0 ? -1 : 0;
}

/* ---- the restart budget --------------------------------------------- */

int
engine_restart_budget(struct store *s, int64_t task, const struct config *cfg,
    int64_t *wait_ms, char **why)
{
	json_t *audit, *row;
	int64_t last = 0, t, wait, now = clock_wall_ms();
	size_t i;
	int k = 0;

	*wait_ms = 0;
	if (store_audit_list(s, task, &audit, why) != 0)
		return -1;
	json_array_foreach(audit, i, row) {
		const char *kind = json_string_value(json_object_get(row,
		    "kind"));

		if (kind == NULL || strcmp(kind, "relaunch") != 0)
			continue;
		t = json_integer_value(json_object_get(row, "t"));
		if (t != last)	/* one request's rows share their time */
			k++;
		last = t;
	}
	json_decref(audit);
	wait = k > 0 ? (int64_t)cfg->restart_backoff_s * 1000 *
	    ((int64_t)1 << (k - 1 < 20 ? k - 1 : 20)) : 0;
	if (k >= cfg->restart_max) {
		xasprintf(why, "the restart budget is used: %d relaunches of "
		    "%d (restart.max in %s)", k, cfg->restart_max, cfg->path);
		return 0;
	}
	if (now - last < wait) {
		*wait_ms = wait - (now - last);
		xasprintf(why, "the last relaunch was %lld s ago; the backoff "
		    "after %d relaunches is %lld s (restart.backoff_s "
		    "doubling)", (long long)(now - last) / 1000, k,
		    (long long)wait / 1000);
		return 0;
	}
	return 1;
}

/* restart.auto: the first failure stops the survivors; once the attempt
 * has ended, a new one starts with the resume arguments, after the
 * backoff, within the budget. */
static void
auto_restart_fire(void *arg)
{
	struct eatt *a = arg;
	struct engine *e = a->e;
	struct engine_launch l;
	char *cause = NULL, *why;

	e->pending_restarts--;
	if (store_request_relaunch(e->store, a->attempt_id,
	    STORE_RELAUNCH_ATTEMPT, NULL, 0, "engine", "restart.auto",
	    &cause) != 0) {
		eatt_note(a, "automatic restart: %s", cause);
		free(cause);
		eatt_free_later(a);
		return;
	}
	memset(&l, 0, sizeof l);
	l.cfg = a->cfg;			/* handed over */
	a->cfg = NULL;
	l.stage = a->stage_idx;
	l.resume = 1;
	l.task_id = a->task_id;
	l.parent_attempt = a->attempt_id;
	xasprintf(&why, "automatic restart after attempt #%lld failed",
	    (long long)a->attempt_id);
	l.reason = why;
	eatt_note(a, "%s", why);
	if (engine_launch(e, &l, &cause) != 0) {
		eatt_note(a, "automatic restart: %s", cause);
		free(cause);
	}
	free(why);
	eatt_free_later(a);
}

/* Called when an attempt ended failed (or stopped by auto-restart). */
static int
auto_restart_schedule(struct eatt *a)
{
	int64_t wait = 0;
	char *why = NULL;
	int ok;

	if (a->cfg == NULL || !a->cfg->restart_auto || a->task_id == 0)
		return 0;
	ok = engine_restart_budget(a->e->store, a->task_id, a->cfg, &wait,
	    &why);
	if (ok < 0 || (ok == 0 && wait == 0)) {
		eatt_note(a, "no automatic restart: %s", why);
		free(why);
		return 0;
	}
	free(why);
	eatt_note(a, "restarting all hosts in %lld s (restart.auto)",
	    (long long)wait / 1000);
	a->e->pending_restarts++;
	loop_timer_add(a->e->loop, (uint64_t)wait, auto_restart_fire, a);
	return 1;
}

/* ---- stop and relaunch into the same attempt ------------------------ */

int
engine_stop(struct engine *e, int64_t attempt_id, int grace_s, char **cause)
{
	struct eatt *a = engine_find(e, attempt_id);
	size_t i;

	if (a == NULL) {
		xasprintf(cause, "attempt %lld is not running",
		    (long long)attempt_id);
		return -1;
	}
	if (store_request_stop(e->store, attempt_id, 0, grace_s, e->o.actor,
	    "stop requested", cause) != 0)
		return -1;
	for (i = 0; i < a->n; i++) {
		struct ehost *h = &a->hosts[i];

		/* A failed host may still run its other ranks. */
		if (h->att != NULL)
			eh_send_stop(h, grace_s);
		else if (h->final)
			continue;
		else {
			h->stop_pending = 1;
			h->stop_grace = grace_s;
		}
	}
	return 0;
}

/* ok: 1 started, 0 failed, -1 not a host (the issuing loop's own +1). */
static void
relaunch_settled(struct eatt *a, int ok)
{
	if (ok > 0)
		a->relaunch_ok++;
	else if (ok == 0)
		a->relaunch_failed++;
	if (--a->relaunching == 0 && a->e->o.started != NULL)
		a->e->o.started(a->attempt_id, a->relaunch_ok,
		    a->relaunch_failed, a->e->o.arg);
}

static void
relaunch_started(struct ehost *h, int status, const char *error)
{
	char *msg;
	const char *p;

	h->relaunch_pending = 0;
	if (status == 0) {
		h->final = 0;
		h->drained = 0;
		h->state = "starting";
		eh_set_state(h, "running", "relaunched into the same attempt");
		h->last_step = -1;
		h->watch_since = clock_mono_ms();
		eh_attach(h);
		relaunch_settled(h->a, 1);
		return;
	}
	buf_cstr(&h->op_err);
	p = h->op_err.len > 0 ? h->op_err.data : error;
	xasprintf(&msg, "relaunch failed: %.400s", p != NULL ? p : "?");
	eh_note(h, "failed", msg);
	free(msg);
	relaunch_settled(h->a, 0);
	eatt_check_done(h->a);
}

/*
 * A failed host's relaunch goes in steps, each taken when it can be: the
 * session up; what is left of the failed launch (the other ranks of the
 * host) stopped and its events all read (the agent refuses to start while
 * anything of the earlier launch lives); then `run` again on the spec as
 * run, from the run directory: same ranks, same rank table.
 */
static void
eh_relaunch_kick(struct ehost *h)
{
	char *spec, *cause = NULL;

	if (!h->relaunch_pending || h->op != NULL)
		return;
	if (h->sess == NULL) {
		eh_session_open(h, 1);
		return;
	}
	if (rsession_conn(h->sess) == NULL)
		return;			/* the session's "up" comes back here */
	if (h->att != NULL) {
		if (!h->relaunch_stop_sent) {
			eh_send_stop(h, 10);
			h->relaunch_stop_sent = 1;
		}
		return;			/* att_done comes back here */
	}
	if (!h->drained) {
		eh_attach(h);
		return;
	}
	h->relaunch_stop_sent = 0;
	/* Decided (counted) before the agent is asked, as a first launch. */
	if (h->id != 0 && store_host_launch(h->a->e->store, h->id,
	    h->a->e->o.actor, "relaunched into the same attempt",
	    &cause) != 0) {
		relaunch_started(h, -1, cause);
		free(cause);
		return;
	}
	xasprintf(&spec, "%s/spec.json", h->run_dir);
	eh_note(h, "starting", "relaunching into the same attempt");
	if (eh_run_agent(h, spec, relaunch_started) != 0)
		relaunch_started(h, -1, "not connected");
	free(spec);
}

/* Whether the host goes in a relaunch into its attempt: named (hosts
 * NULL: every failed one), ended, failed or stopped. */
static int
relaunch_wanted(const struct ehost *h, const char *const *hosts)
{
	size_t i;

	if (!h->final || h->relaunch_pending)
		return 0;
	if (hosts == NULL)
		return strcmp(h->state, "failed") == 0;
	for (i = 0; hosts[i] != NULL; i++)
		if (strcmp(hosts[i], h->name) == 0)
			return strcmp(h->state, "failed") == 0 ||
			    strcmp(h->state, "stopped") == 0;
	return 0;
}

int
engine_relaunch_hosts(struct engine *e, int64_t attempt_id,
    const char *const *hosts, char **cause)
{
	struct eatt *a = engine_find(e, attempt_id);
	int64_t *ids;
	size_t i, j, n = 0;

	if (a == NULL) {
		xasprintf(cause, "attempt %lld is not being followed",
		    (long long)attempt_id);
		return -1;
	}
	/* Every host named must be one that can go. */
	for (j = 0; hosts != NULL && hosts[j] != NULL; j++) {
		for (i = 0; i < a->n; i++)
			if (strcmp(a->hosts[i].name, hosts[j]) == 0)
				break;
		if (i == a->n) {
			xasprintf(cause, "%s is not a host of attempt %lld",
			    hosts[j], (long long)attempt_id);
			return -1;
		}
		if (!relaunch_wanted(&a->hosts[i], hosts)) {
			xasprintf(cause, "%s is %s: only failed or stopped "
			    "hosts relaunch into their attempt (restart all "
			    "as a new attempt instead)", hosts[j],
			    a->hosts[i].state);
			return -1;
		}
	}
	ids = xcalloc(a->n, sizeof *ids);
	for (i = 0; i < a->n; i++)
		if (relaunch_wanted(&a->hosts[i], hosts))
			ids[n++] = a->hosts[i].id;
	if (n == 0) {
		free(ids);
		xasprintf(cause, "no failed host in attempt %lld",
		    (long long)attempt_id);
		return -1;
	}
	if (store_request_relaunch(e->store, attempt_id, STORE_RELAUNCH_HOSTS,
	    ids, n, e->o.actor, hosts == NULL ? "relaunch --failed" :
	    "relaunch of the marked hosts", cause) != 0) {
		free(ids);
		return -1;
	}
	free(ids);
	a->relaunching = (int)n + 1;
	a->relaunch_ok = a->relaunch_failed = 0;
	for (i = 0; i < a->n; i++) {
		struct ehost *h = &a->hosts[i];

		if (!relaunch_wanted(h, hosts))
			continue;
		h->relaunch_pending = 1;
		eh_relaunch_kick(h);
	}
	relaunch_settled(a, -1);	/* the +1 above: all were issued */
	return 0;
}

int
engine_relaunch_failed(struct engine *e, int64_t attempt_id, char **cause)
{
	return engine_relaunch_hosts(e, attempt_id, NULL, cause);
}
