/*
 * conn.c - connections and channels, whatever the transport: picks the
 * transport for a host, owns struct rconn and struct rchan, turns the
 * transports' reports into the user's callbacks (never from inside the
 * call that started the work), and builds the atomic, checksum-skipping
 * upload on top of plain exec channels, so every transport has it.
 */
#include "remote_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

static char *
str_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
cfg_copy(struct rhost_cfg *dst, const struct rhost_cfg *src)
{
	*dst = *src;
	dst->name = str_dup(src->name);
	dst->hostname = str_dup(src->hostname ? src->hostname : src->name);
	dst->user = str_dup(src->user);
	dst->identity_files = strv_dup(src->identity_files);
	dst->proxy_jump = str_dup(src->proxy_jump);
	dst->known_hosts = strv_dup(src->known_hosts);
	dst->why_openssh = str_dup(src->why_openssh);
}

/* ---- reports from transports, delivered from the loop ----------------- */

/* Transports report from deep inside their own calls; the owner hears of
 * it from the loop, so it may close the connection in its callback. */
static void
conn_ready_later(void *arg)
{
	struct rconn *conn = arg;
	char *error = conn->ready_error;

	conn->ready_timer = 0;
	conn->ready_error = NULL;
	conn->ready_cb(conn, error, conn->ready_arg);
	free(error);
}

void
rconn_ready(struct rconn *conn, const char *error)
{
	if (conn->ready != 0 || conn->closing)
		return;
	conn->ready = error == NULL ? 1 : -1;
	conn->ready_error = error != NULL ? xstrdup(error) : NULL;
	conn->ready_timer = loop_timer_add(conn->loop, 0, conn_ready_later,
	    conn);
}

static void
conn_lost_later(void *arg)
{
	struct rconn *conn = arg;

	conn->lost_timer = 0;
	if (conn->lost_cb != NULL)
		conn->lost_cb(conn, conn->lost_error, conn->lost_arg);
}

void
rconn_lost(struct rconn *conn, const char *error)
{
	if (conn->ready != 1 || conn->lost_error != NULL || conn->closing)
		return;
	conn->lost_error = xstrdup(error != NULL ? error :
	    "connection lost");
	conn->lost_timer = loop_timer_add(conn->loop, 0, conn_lost_later,
	    conn);
}

void
rconn_on_lost(struct rconn *conn, rconn_lost_cb cb, void *arg)
{
	conn->lost_cb = cb;
	conn->lost_arg = arg;
}

int
rconn_is_up(const struct rconn *conn)
{
	return conn != NULL && conn->ready == 1 && conn->lost_error == NULL &&
	    !conn->closing;
}

const char *
rconn_lost_error(const struct rconn *conn)
{
	return conn != NULL ? conn->lost_error : NULL;
}

void
rchan_data(struct rchan *ch, int stream, const char *p, size_t n)
{
	if (ch->done || n == 0)
		return;
	ch->conn->in_cb++;
	ch->data_cb(ch, stream, p, n, ch->arg);
	ch->conn->in_cb--;
}

static void
chan_release(struct rchan *ch)
{
	struct rconn *conn = ch->conn;
	size_t i;

	loop_timer_cancel(conn->loop, ch->free_timer);
	loop_timer_cancel(conn->loop, ch->early_timer);
	free(ch->early_error);
	for (i = 0; i < conn->nchans; i++) {
		if (conn->chans[i] == ch) {
			conn->chans[i] = conn->chans[--conn->nchans];
			break;
		}
	}
	if (conn->ops->chan_free != NULL)
		conn->ops->chan_free(ch);
	buf_free(&ch->in);
	free(ch->command);
	free(ch);
}

static void
chan_free_later(void *arg)
{
	struct rchan *ch = arg;

	ch->free_timer = 0;
	chan_release(ch);
}

void
rchan_done(struct rchan *ch, int status, const char *error)
{
	struct rconn *conn = ch->conn;

	if (ch->done)
		return;
	ch->done = 1;
	conn->in_cb++;
	ch->done_cb(ch, status, error, ch->arg);
	conn->in_cb--;
	/* The transport may still be inside a call about ch. */
	if (!conn->closing)
		ch->free_timer = loop_timer_add(conn->loop, 0,
		    chan_free_later, ch);
}

/* A channel that could not start fails from the loop; the timer and the
 * message live in the channel, so closing the connection first is safe. */
static void
chan_fail_later(void *arg)
{
	struct rchan *ch = arg;
	char *error = ch->early_error;

	ch->early_timer = 0;
	ch->early_error = NULL;
	rchan_done(ch, -1, error);
	free(error);
}

/* ---- connections ------------------------------------------------------ */

static const struct rtransport_ops *
conn_pick(const struct rhost_cfg *cfg)
{
	switch (cfg->transport) {
	case RT_LOCAL:
		return &rtransport_local;
	case RT_OPENSSH:
		return &rtransport_openssh;
	case RT_LIBSSH2:
		return &rtransport_libssh2;
	case RT_AUTO:
		break;
	}
	if (cfg->needs_openssh) {
		log_info("%s: using the OpenSSH client: %s", cfg->name,
		    cfg->why_openssh ? cfg->why_openssh : "libssh2 cannot");
		return &rtransport_openssh;
	}
	return &rtransport_libssh2;
}

struct rconn *
rconn_open(struct loop *loop, const struct rhost_cfg *cfg,
    const struct rconn_opts *opts, rconn_ready_cb cb, void *arg)
{
	struct rconn *conn = xcalloc(1, sizeof *conn);
	char *cause = NULL;

	conn->loop = loop;
	cfg_copy(&conn->cfg, cfg);
	if (opts != NULL)
		conn->opts = *opts;
	if (conn->opts.connect_timeout_ms <= 0)
		conn->opts.connect_timeout_ms = cfg->connect_timeout_s > 0 ?
		    cfg->connect_timeout_s * 1000 : 10000;
	if (conn->opts.keepalive_s <= 0)
		conn->opts.keepalive_s = 15;
	conn->ready_cb = cb;
	conn->ready_arg = arg;
	conn->ops = conn_pick(cfg);
	if (conn->ops->open(conn, &cause) != 0) {
		rconn_ready(conn, cause != NULL ? cause : "cannot connect");
		free(cause);
	}
	return conn;
}

const char *
rconn_host(const struct rconn *conn)
{
	return conn->cfg.name;
}

const char *
rconn_transport_name(const struct rconn *conn)
{
	return conn->ops->name;
}

struct rchan *
rconn_exec(struct rconn *conn, const char *command, rchan_data_cb data_cb,
    rchan_done_cb done_cb, void *arg)
{
	struct rchan *ch = xcalloc(1, sizeof *ch);
	char *cause = NULL;

	ch->conn = conn;
	ch->command = xstrdup(command);
	ch->data_cb = data_cb;
	ch->done_cb = done_cb;
	ch->arg = arg;
	buf_init(&ch->in);
	conn->chans = xreallocarray(conn->chans, conn->nchans + 1,
	    sizeof *conn->chans);
	conn->chans[conn->nchans++] = ch;
	if (conn->lost_error != NULL)
		cause = xstrdup(conn->lost_error);
	else if (conn->closing)
		xasprintf(&cause, "%s: connection closed", conn->cfg.name);
	else if (conn->ready != 1)
		xasprintf(&cause, "%s: not connected", conn->cfg.name);
	else if (conn->ops->exec(conn, ch, &cause) != 0 && cause == NULL)
		xasprintf(&cause, "%s: cannot start the command",
		    conn->cfg.name);
	if (cause != NULL) {
		ch->early_error = cause;
		ch->early_timer = loop_timer_add(conn->loop, 0,
		    chan_fail_later, ch);
	}
	return ch;
}

void
rchan_write(struct rchan *ch, const void *p, size_t n)
{
	if (ch->done || ch->in_eof)
		return;
	buf_add(&ch->in, p, n);
	ch->conn->ops->kick(ch);
}

void
rchan_eof(struct rchan *ch)
{
	if (ch->done || ch->in_eof)
		return;
	ch->in_eof = 1;
	ch->conn->ops->kick(ch);
}

/* Frees channels, the transport and conn. */
static void
conn_destroy(struct rconn *conn)
{
	while (conn->nchans > 0)
		chan_release(conn->chans[conn->nchans - 1]);
	loop_timer_cancel(conn->loop, conn->lost_timer);
	loop_timer_cancel(conn->loop, conn->ready_timer);
	loop_timer_cancel(conn->loop, conn->close_timer);
	free(conn->lost_error);
	free(conn->ready_error);
	if (conn->ops->close != NULL)
		conn->ops->close(conn);
	free(conn->chans);
	rhost_cfg_clear(&conn->cfg);
	free(conn);
}

static void
conn_destroy_later(void *arg)
{
	struct rconn *conn = arg;

	conn->close_timer = 0;
	conn_destroy(conn);
}

/*
 * Every open channel is finished ("connection closed") at once. Closing
 * from inside a channel's callback is allowed: the transport that called
 * it is still on the stack, so the memory goes from the loop, and until
 * then nothing more reaches the owner.
 */
void
rconn_close(struct rconn *conn)
{
	size_t i;

	if (conn == NULL || conn->closing)
		return;
	conn->closing = 1;
	conn->lost_cb = NULL;
	loop_timer_cancel(conn->loop, conn->ready_timer);
	conn->ready_timer = 0;
	for (i = 0; i < conn->nchans; i++) {
		struct rchan *ch = conn->chans[i];

		if (!ch->done) {
			ch->done = 1;
			ch->done_cb(ch, -1, "connection closed", ch->arg);
		}
	}
	if (conn->in_cb > 0)
		conn->close_timer = loop_timer_add(conn->loop, 0,
		    conn_destroy_later, conn);
	else
		conn_destroy(conn);
}

/* ---- upload: two exec channels --------------------------------------- */

struct upload {
	struct rconn *conn;
	char *local, *remote;
	mode_t mode;
	struct buf data;
	char sha[65];
	struct buf out;
	struct buf err;
	rconn_upload_cb cb;
	void *arg;
	int phase;	/* 0: checksum, 1: write */
	char *error;	/* a failure found before any channel ran */
};

static void
upload_finish(struct upload *u, int skipped, const char *error)
{
	u->cb(u->conn, skipped, error, u->arg);
	buf_free(&u->data);
	buf_free(&u->out);
	buf_free(&u->err);
	free(u->local);
	free(u->remote);
	free(u);
}

static void
upload_fail_later(void *arg)
{
	struct upload *u = arg;
	char *error = u->error;

	upload_finish(u, 0, error);
	free(error);
}

static void
upload_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
	struct upload *u = arg;

	if (stream == 1 && u->out.len < 4096)
		buf_add(&u->out, p, n);
	else if (stream == 2 && u->err.len < 4096)
		buf_add(&u->err, p, n);
}

static void upload_write(struct upload *);

static void
upload_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct upload *u = arg;
	char *msg;

	if (error != NULL) {
		xasprintf(&msg, "upload of %s: %s", u->remote, error);
		upload_finish(u, 0, msg);
		free(msg);
		return;
	}
	if (u->phase == 0) {
		/* "HASH  PATH" or nothing when the file is missing. */
		if (u->out.len >= 64 &&
		    strncmp(buf_cstr(&u->out), u->sha, 64) == 0) {
			upload_finish(u, 1, NULL);
			return;
		}
		u->phase = 1;
		buf_reset(&u->out);
		buf_reset(&u->err);
		upload_write(u);
		return;
	}
	if (status != 0) {
		xasprintf(&msg, "upload of %s failed (exit %d): %s", u->remote,
		    status, u->err.len ? buf_cstr(&u->err) : "no message");
		upload_finish(u, 0, msg);
		free(msg);
		return;
	}
	upload_finish(u, 0, NULL);
}

static void
upload_write(struct upload *u)
{
	struct rchan *ch;
	static unsigned upload_seq;
	char *dir, *slash, *tmp, *cmd, *qdir, *qtmp, *qdst, *p;

	dir = xstrdup(u->remote);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* Unique per host and upload: homes are often shared by all hosts. */
	xasprintf(&tmp, "%s.drover-tmp.%s.%ld.%u", u->remote,
	    u->conn->cfg.name, (long)getpid(), ++upload_seq);
	for (p = tmp + strlen(u->remote); *p != '\0'; p++) {
		if (*p == '/' || *p == ' ' || *p == '\'' || *p == ':')
			*p = '_';
	}
	qdir = remote_quote_arg(dir);
	qtmp = remote_quote_arg(tmp);
	qdst = remote_quote_arg(u->remote);
	/* Write aside, flush, then rename: never a half file at DST. */
	xasprintf(&cmd, "umask 077 && mkdir -p %s && cat > %s && "
	    "chmod %o %s && { sync %s 2>/dev/null || sync; } && mv -f %s %s",
	    qdir, qtmp, (unsigned)u->mode, qtmp, qtmp, qtmp, qdst);
	ch = rconn_exec(u->conn, cmd, upload_data, upload_done, u);
	rchan_write(ch, u->data.data, u->data.len);
	rchan_eof(ch);
	free(cmd);
	free(qdir);
	free(qtmp);
	free(qdst);
	free(tmp);
	free(dir);
}

static void
sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

void
rconn_upload(struct rconn *conn, const char *local, const char *remote,
    mode_t mode, rconn_upload_cb cb, void *arg)
{
	struct upload *u = xcalloc(1, sizeof *u);
	char *cause = NULL, *cmd, *q;

	u->conn = conn;
	u->local = xstrdup(local);
	u->remote = xstrdup(remote);
	u->mode = mode & 0777;
	u->cb = cb;
	u->arg = arg;
	buf_init(&u->data);
	buf_init(&u->out);
	buf_init(&u->err);
	if (file_read_all(local, 1024 * 1024 * 1024, &u->data, &cause) != 0) {
		/* Like every report, never from inside the call. */
		u->error = cause;
		loop_timer_add(conn->loop, 0, upload_fail_later, u);
		return;
	}
	sha256_hex(u->data.data ? u->data.data : "", u->data.len, u->sha);
	q = remote_quote_arg(remote);
	xasprintf(&cmd, "sha256sum %s 2>/dev/null || true", q);
	rconn_exec(conn, cmd, upload_data, upload_done, u);
	free(cmd);
	free(q);
}
