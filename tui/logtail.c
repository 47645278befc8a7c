/*
 * logtail.c - a rank's log, followed live: where it is (the store's run
 * directory, the task's config for how to reach the host: shared with
 * `drover logs`), `tail -n LINES -F FILE` over an rconn, and the bytes
 * turned into lines a view can print: split on '\n', a run of '\r'
 * redraws (tqdm) shown as its last non-empty redraw, escape sequences
 * dropped, other control characters shown as ^X, invalid UTF-8 as U+FFFD,
 * lines cut at LOGTAIL_MAX_LINE bytes with a mark. Each line is classed
 * with the agent's own rules (parse_line_level, parse_tb_step): a Python
 * traceback is LOGLINE_TRACEBACK from its first line to its exception
 * line. Lines live in a ring bounded in lines and bytes.
 *
 * Not a view (nothing here draws), and no retries: a view that wants to
 * reconnect frees the logtail and opens another.
 */
#include "logtail.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../agent/agent.h"
#include "config.h"

/* Raw bytes kept of one line before cleaning; the rest only counted. */
#define LOGTAIL_MAX_RAW		(2 * LOGTAIL_MAX_LINE)
#define LOGTAIL_ERR_MAX		512

struct logtail {
	struct loop *loop;
	struct logtarget target;
	char *cmd;
	struct rconn *conn;
	struct rchan *chan;
	logtail_fn fn;
	void *arg;
	uint64_t notify_timer;
	int closing;

	char *status;
	int failed;
	int ended;
	struct buf err;		/* tail's stderr, its current line */
	char *err_last;		/* its last complete line */

	/* the ring */
	struct logline *ring;
	size_t cap;
	size_t head;
	size_t n;
	size_t bytes;
	uint64_t next_no;
	uint64_t dropped;

	/* the line being split */
	struct buf cur;		/* since the last '\r' or '\n' */
	size_t cur_cut;		/* bytes of it beyond LOGTAIL_MAX_RAW */
	struct buf redraw;	/* the last non-empty '\r'-ended segment */
	size_t redraw_cut;
	int have_redraw;

	struct buf clean;	/* scratch */
	struct parse_tb tb;
	struct logline partial;
	struct buf partial_text;
	int has_partial;
	int partial_stale;	/* partial not made since the last feed */
};

/* ---- where a rank's log is --------------------------------------------- */

/* Which host of the attempt, and which rank's log. */
static const json_t *
logtarget_pick(const json_t *hosts, const char *host, long *rank,
    char **cause)
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
			xasprintf(cause, "%s runs ranks %ld-%ld, not rank %ld",
			    host, first, first + n - 1, *rank);
			return NULL;
		}
	}
	if (host != NULL)
		xasprintf(cause, "%s is not a host of the task's latest "
		    "attempt", host);
	else if (*rank < 0)
		xasprintf(cause, "the task's latest attempt has no hosts");
	else
		xasprintf(cause, "no host runs rank %ld", *rank);
	return NULL;
}

int
logtarget_find(struct store *s, int64_t task_id, const char *host,
    long rank, int need_config, struct logtarget *t, char **cause)
{
	struct config *cfg = NULL;
	json_t *sum = NULL, *hosts = NULL;
	const json_t *h;
	const char *run_dir;
	char *ignored = NULL;
	int64_t aid;
	int rc = -1;

	memset(t, 0, sizeof *t);
	if (store_attempt_latest(s, task_id, &aid, cause) != 0 ||
	    store_task_summary(s, task_id, &sum, cause) != 0 ||
	    store_attempt_hosts(s, aid, &hosts, cause) != 0)
		goto out;
	if ((h = logtarget_pick(hosts, host, &rank, cause)) == NULL)
		goto out;
	host = json_string_value(json_object_get(h, "host"));
	run_dir = json_string_value(json_object_get(h, "run_dir"));
	if (host == NULL || run_dir == NULL) {
		xasprintf(cause, "the store has no run directory for %s",
		    host != NULL ? host : "the host");
		goto out;
	}
	if ((cfg = config_load_task(sum, NULL, 0, &ignored)) == NULL &&
	    ignored != NULL) {
		if (need_config) {
			xasprintf(cause, "cannot read the task's config, which "
			    "says how to reach %s: %s", host, ignored);
			free(ignored);
			goto out;
		}
		/* Reach the host with the user's ssh settings alone. */
		free(ignored);
	}
	if (cfg != NULL && strcmp(cfg->cluster.transport, "local") == 0) {
		t->hc.name = xstrdup(host);
		t->hc.hostname = xstrdup(host);
		t->hc.transport = RT_LOCAL;
	} else if (sshconfig_resolve(host, &t->hc, cause) != 0)
		goto out;
	else if (cfg != NULL && cfg->cluster.user != NULL) {
		free(t->hc.user);
		t->hc.user = xstrdup(cfg->cluster.user);
	}
	t->host = xstrdup(host);
	t->rank = rank;
	xasprintf(&t->file, "%s/rank-%ld.log", run_dir, rank);
	rc = 0;
out:
	if (rc != 0)
		logtarget_clear(t);
	config_free(cfg);
	json_decref(sum);
	json_decref(hosts);
	return rc;
}

void
logtarget_clear(struct logtarget *t)
{
	rhost_cfg_clear(&t->hc);
	free(t->host);
	free(t->file);
	memset(t, 0, sizeof *t);
}

char *
logtarget_command(const struct logtarget *t, long lines, int follow)
{
	char *q, *cmd;

	q = remote_quote_arg(t->file);
	xasprintf(&cmd, "tail -n %ld %s%s", lines < 0 ? 0 : lines,
	    follow ? "-F " : "", q);
	free(q);
	return cmd;
}

/* ---- cleaning: bytes to printable UTF-8 ---------------------------------- */

/* Length of the escape sequence at s (s[0] is ESC): CSI, OSC, or ESC
 * and one byte; what a truncated sequence leaves is dropped with it. */
static size_t
logtail_escape_len(const unsigned char *s, size_t n)
{
	size_t i;

	if (n < 2)
		return n;
	if (s[1] == '[') {
		for (i = 2; i < n && s[i] >= 0x20 && s[i] <= 0x3f; i++)
			;
		return i < n && s[i] >= 0x40 && s[i] <= 0x7e ? i + 1 : i;
	}
	if (s[1] == ']') {	/* OSC: to BEL or ESC \ */
		for (i = 2; i < n; i++) {
			if (s[i] == 0x07)
				return i + 1;
			if (s[i] == 0x1b)
				return i + 1 < n && s[i + 1] == '\\' ? i + 2 :
				    i;
		}
		return n;
	}
	return s[1] >= 0x20 && s[1] <= 0x7e ? 2 : 1;
}

/* s[0..n) as printable UTF-8 in out (reset first), trailing blanks cut,
 * at most LOGTAIL_MAX_LINE bytes and a mark when longer (cut is how many
 * bytes of the raw line were not kept). */
static void
logtail_clean(struct buf *out, const char *p, size_t n, size_t cut)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, k, keep;
	char ctl[2];

	buf_reset(out);
	while (i < n) {
		for (k = i; k < n && s[k] >= 0x20 && s[k] < 0x7f; k++)
			;
		if (k > i) {
			buf_add(out, s + i, k - i);
			i = k;
			continue;
		}
		if (s[i] == '\t') {
			buf_addch(out, '\t');
			i++;
		} else if (s[i] == 0x1b)
			i += logtail_escape_len(s + i, n - i);
		else if (s[i] < 0x20 || s[i] == 0x7f) {
			ctl[0] = '^';
			ctl[1] = s[i] == 0x7f ? '?' : (char)(s[i] + 0x40);
			buf_add(out, ctl, 2);
			i++;
		} else if ((k = utf8_len(s + i, n - i)) == 0 ||
		    (s[i] == 0xc2 && s[i + 1] < 0xa0)) {
			/* invalid, or a C1 control a terminal would obey */
			buf_add(out, fffd, 3);
			i += k == 0 ? 1 : k;
		} else {
			buf_add(out, s + i, k);
			i += k;
		}
	}
	while (out->len > 0 && (out->data[out->len - 1] == ' ' ||
	    out->data[out->len - 1] == '\t'))
		out->len--;
	if (out->len > LOGTAIL_MAX_LINE || cut > 0) {
		keep = out->len < LOGTAIL_MAX_LINE ? out->len :
		    LOGTAIL_MAX_LINE;
		while (keep > 0 && keep < out->len &&
		    ((unsigned char)out->data[keep] & 0xc0) == 0x80)
			keep--;
		out->len = keep;
		buf_printf(out, " [... line of %zu bytes cut]", n + cut);
	}
	buf_cstr(out);
}

/* ---- the ring and the classes ------------------------------------------ */

static void
logtail_drop_oldest(struct logtail *lt)
{
	struct logline *l = &lt->ring[lt->head];

	lt->bytes -= l->len;
	free((char *)l->text);
	memset(l, 0, sizeof *l);
	lt->head = (lt->head + 1) % lt->cap;
	lt->n--;
	lt->dropped++;
}

static enum logline_kind
logtail_kind(struct parse_tb *tb, const char *text, size_t len)
{
	if (len == 0)	/* the parsers never see blank lines */
		return tb->open ? LOGLINE_TRACEBACK : LOGLINE_PLAIN;
	if (parse_tb_step(tb, text, NULL) != PARSE_TB_OUTSIDE)
		return LOGLINE_TRACEBACK;
	switch (parse_line_level(text + parse_rank_prefix(text))) {
	case PARSE_LEVEL_ERROR:
		return LOGLINE_ERROR;
	case PARSE_LEVEL_WARN:
		return LOGLINE_WARN;
	default:
		return LOGLINE_PLAIN;
	}
}

/* Takes lt->clean as the next line. */
static void
logtail_push(struct logtail *lt)
{
	struct logline *l;

	while (lt->n > 0 && (lt->n == lt->cap ||
	    lt->bytes + lt->clean.len > LOGTAIL_MAX_BYTES))
		logtail_drop_oldest(lt);
	l = &lt->ring[(lt->head + lt->n) % lt->cap];
	l->kind = logtail_kind(&lt->tb, buf_cstr(&lt->clean), lt->clean.len);
	l->len = lt->clean.len;
	l->text = xstrndup(lt->clean.data, lt->clean.len);
	l->no = ++lt->next_no;
	lt->bytes += l->len;
	lt->n++;
}

/* ---- splitting --------------------------------------------------------- */

static void
logtail_seg_add(struct buf *b, size_t *cut, const char *p, size_t n)
{
	size_t room = LOGTAIL_MAX_RAW - b->len;

	if (n > room) {
		*cut += n - room;
		n = room;
	}
	buf_add(b, p, n);
}

/* The current line as a terminal would show it: the text after the last
 * '\r', or the last non-empty redraw before it. */
static void
logtail_clean_current(struct logtail *lt, struct buf *out)
{
	if (lt->cur.len > 0 || lt->cur_cut > 0 || !lt->have_redraw)
		logtail_clean(out, lt->cur.data, lt->cur.len, lt->cur_cut);
	else
		logtail_clean(out, lt->redraw.data, lt->redraw.len,
		    lt->redraw_cut);
}

static void
logtail_end_line(struct logtail *lt)
{
	logtail_clean_current(lt, &lt->clean);
	logtail_push(lt);
	buf_reset(&lt->cur);
	buf_reset(&lt->redraw);
	lt->cur_cut = lt->redraw_cut = 0;
	lt->have_redraw = 0;
}

/* Made when asked for, not at each read: a long line arriving in many
 * small reads would be cleaned again for every one of them. */
static void
logtail_update_partial(struct logtail *lt)
{
	struct parse_tb peek = lt->tb;

	lt->partial_stale = 0;
	if (!lt->has_partial)
		return;
	logtail_clean_current(lt, &lt->partial_text);
	lt->partial.text = buf_cstr(&lt->partial_text);
	lt->partial.len = lt->partial_text.len;
	lt->partial.kind = logtail_kind(&peek, lt->partial.text,
	    lt->partial.len);
	lt->partial.no = lt->next_no + 1;
}

void
logtail_feed(struct logtail *lt, const char *p, size_t n)
{
	const char *end = p + n, *q;

	while (p < end) {
		for (q = p; q < end && *q != '\n' && *q != '\r'; q++)
			;
		logtail_seg_add(&lt->cur, &lt->cur_cut, p, q - p);
		if (q == end)
			break;
		if (*q == '\n')
			logtail_end_line(lt);
		else if (lt->cur.len > 0 || lt->cur_cut > 0) {
			buf_reset(&lt->redraw);
			buf_add(&lt->redraw, lt->cur.data, lt->cur.len);
			lt->redraw_cut = lt->cur_cut;
			lt->have_redraw = 1;
			buf_reset(&lt->cur);
			lt->cur_cut = 0;
		}
		p = q + 1;
	}
	lt->has_partial = lt->cur.len > 0 || lt->cur_cut > 0 ||
	    lt->have_redraw;
	lt->partial_stale = 1;
}

/* End of stream: what a terminal shows of an unfinished line is a line. */
static void
logtail_feed_end(struct logtail *lt)
{
	if (lt->cur.len > 0 || lt->cur_cut > 0 || lt->have_redraw)
		logtail_end_line(lt);
	lt->has_partial = 0;
}

/* ---- reading ------------------------------------------------------------ */

size_t
logtail_count(const struct logtail *lt)
{
	return lt->n;
}

const struct logline *
logtail_line(const struct logtail *lt, size_t i)
{
	if (i >= lt->n)
		return NULL;
	return &lt->ring[(lt->head + i) % lt->cap];
}

const struct logline *
logtail_partial(struct logtail *lt)
{
	if (lt->partial_stale)
		logtail_update_partial(lt);
	return lt->has_partial ? &lt->partial : NULL;
}

uint64_t
logtail_dropped(const struct logtail *lt)
{
	return lt->dropped;
}

const char *
logtail_status(const struct logtail *lt)
{
	return lt->status != NULL ? lt->status : "";
}

int
logtail_failed(const struct logtail *lt)
{
	return lt->failed;
}

int
logtail_ended(const struct logtail *lt)
{
	return lt->ended || lt->failed;
}

const char *
logtail_host(const struct logtail *lt)
{
	return lt->target.host;
}

long
logtail_rank(const struct logtail *lt)
{
	return lt->target.rank;
}

long
logtail_search(const struct logtail *lt, const char *needle, long from,
    int dir)
{
	long i, n = (long)lt->n;

	if (needle == NULL || *needle == '\0' || dir == 0)
		return -1;
	if (from < -1)
		from = -1;
	if (from > n)
		from = n;
	for (i = from + (dir > 0 ? 1 : -1); i >= 0 && i < n;
	    i += dir > 0 ? 1 : -1) {
		if (strcasestr(logtail_line(lt, (size_t)i)->text, needle) !=
		    NULL)
			return i;
	}
	return -1;
}

/* ---- life ---------------------------------------------------------------- */

struct logtail *
logtail_new_detached(size_t max_lines)
{
	struct logtail *lt = xcalloc(1, sizeof *lt);

	lt->cap = max_lines > 0 ? max_lines : LOGTAIL_MAX_LINES;
	lt->ring = xcalloc(lt->cap, sizeof *lt->ring);
	lt->target.rank = -1;
	buf_init(&lt->err);
	buf_init(&lt->cur);
	buf_init(&lt->redraw);
	buf_init(&lt->clean);
	buf_init(&lt->partial_text);
	return lt;
}

void
logtail_free(struct logtail *lt)
{
	if (lt == NULL)
		return;
	lt->closing = 1;
	if (lt->loop != NULL)
		loop_timer_cancel(lt->loop, lt->notify_timer);
	/* Finishes the channel at once (lt_done hears nothing now) and frees
	 * the connection from the loop if its callbacks are on the stack. */
	rconn_close(lt->conn);
	while (lt->n > 0)
		logtail_drop_oldest(lt);
	free(lt->ring);
	logtarget_clear(&lt->target);
	free(lt->cmd);
	free(lt->status);
	free(lt->err_last);
	buf_free(&lt->err);
	buf_free(&lt->cur);
	buf_free(&lt->redraw);
	buf_free(&lt->clean);
	buf_free(&lt->partial_text);
	free(lt);
}

static void
logtail_notify_later(void *arg)
{
	struct logtail *lt = arg;

	lt->notify_timer = 0;
	lt->fn(lt->arg);	/* may free lt */
}

/* Tells the view from the loop, once however much changed. */
static void
logtail_changed(struct logtail *lt)
{
	if (lt->loop == NULL || lt->fn == NULL || lt->notify_timer != 0)
		return;
	lt->notify_timer = loop_timer_add(lt->loop, 0, logtail_notify_later,
	    lt);
}

static void
logtail_set_status(struct logtail *lt, const char *fmt, ...)
    PRINTFLIKE(2, 3);
static void
logtail_set_status(struct logtail *lt, const char *fmt, ...)
{
	va_list ap;

	free(lt->status);
	va_start(ap, fmt);
	xvasprintf(&lt->status, fmt, ap);
	va_end(ap);
}

/* "HOST: reason", unless the reason names the host already. */
static void
logtail_set_error(struct logtail *lt, const char *prefix, const char *error)
{
	const char *host = lt->target.host;
	size_t n = strlen(host);

	if (error == NULL)
		error = "connection lost";
	if (strncmp(error, host, n) == 0 && error[n] == ':')
		logtail_set_status(lt, "%s%s", prefix, error);
	else
		logtail_set_status(lt, "%s%s: %s", prefix, host, error);
	lt->failed = 1;
}

static void
logtail_status_following(struct logtail *lt)
{
	const char *base = strrchr(lt->target.file, '/');

	base = base != NULL ? base + 1 : lt->target.file;
	if (lt->err_last != NULL)
		logtail_set_status(lt, "following %s %s (%s)",
		    lt->target.host, base, lt->err_last);
	else
		logtail_set_status(lt, "following %s %s", lt->target.host,
		    base);
}

static void
logtail_err_line(const char *p, size_t n, void *arg)
{
	struct logtail *lt = arg;
	struct buf b;

	buf_init(&b);
	logtail_clean(&b, p, n, 0);
	free(lt->err_last);
	lt->err_last = buf_steal(&b);
}

static void
logtail_data(struct rchan *ch, int stream, const char *p, size_t n,
    void *arg)
{
	struct logtail *lt = arg;

	if (lt->closing)
		return;
	if (stream == 1)
		logtail_feed(lt, p, n);
	else {
		/* tail's own words ("cannot open ...", "has appeared") */
		buf_add(&lt->err, p, n);
		if (buf_each_line(&lt->err, LOGTAIL_ERR_MAX, logtail_err_line,
		    lt))
			buf_reset(&lt->err);
		logtail_status_following(lt);
	}
	logtail_changed(lt);
}

static void
logtail_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct logtail *lt = arg;

	if (lt->closing)
		return;
	logtail_feed_end(lt);
	lt->chan = NULL;
	if (status < 0)
		logtail_set_error(lt, "", error);
	else {
		lt->ended = 1;
		lt->failed = status != 0;
		logtail_set_status(lt, "ended: tail on %s exited with status "
		    "%d%s%s", lt->target.host, status, lt->err_last != NULL ?
		    ": " : "", lt->err_last != NULL ? lt->err_last : "");
	}
	rconn_close(lt->conn);	/* from the loop: its callback is on the stack */
	lt->conn = NULL;
	logtail_changed(lt);
}

static void
logtail_ready(struct rconn *c, const char *error, void *arg)
{
	struct logtail *lt = arg;

	if (error != NULL) {
		logtail_set_error(lt, "", error);
		rconn_close(lt->conn);
		lt->conn = NULL;
		logtail_changed(lt);
		return;
	}
	logtail_status_following(lt);
	lt->chan = rconn_exec(c, lt->cmd, logtail_data, logtail_done, lt);
	rchan_eof(lt->chan);
	logtail_changed(lt);
}

struct logtail *
logtail_open(struct loop *loop, struct store *s, int64_t task_id,
    const char *host, long rank, long lines, logtail_fn fn, void *arg,
    char **cause)
{
	struct logtail *lt;
	struct logtarget t;

	if (logtarget_find(s, task_id, host, rank, 1, &t, cause) != 0)
		return NULL;
	lt = logtail_new_detached(0);
	lt->loop = loop;
	lt->fn = fn;
	lt->arg = arg;
	lt->target = t;
	lt->cmd = logtarget_command(&t, lines, 1);
	logtail_set_status(lt, "connecting to %s", t.host);
	lt->conn = rconn_open(loop, &t.hc, NULL, logtail_ready, lt);
	return lt;
}
