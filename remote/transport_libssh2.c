/*
 * transport_libssh2.c - the main transport: non-blocking libssh2 sessions,
 * every one driven by the single poll loop. Each socket's poll interest
 * comes from libssh2_session_block_directions(); nothing spins on EAGAIN
 * and there is no thread per host.
 *
 * libssh2 1.10 allows one outgoing operation pending per session: after an
 * EAGAIN from anything that writes, the pump stops and the same call is
 * made first on the next wake-up (l2->pending). Both stdout and stderr of
 * a channel are drained on every pass, and the exit status is read only
 * after libssh2_channel_wait_closed(). Host keys are checked with our own
 * known_hosts code (knownhosts.c), never accepted silently.
 */
#include "remote_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>
#include <openssl/evp.h>

enum l2_state {
	L2_TCP, L2_HANDSHAKE, L2_AUTHLIST, L2_AGENT, L2_KEYFILE, L2_READY,
	L2_DEAD,
};
enum l2c_state {
	C_OPEN, C_EXEC, C_RUN, C_CLOSE, C_WAITCLOSED, C_FREE, C_GONE,
};

struct l2conn {
	struct rconn *conn;
	int fd;
	int in_loop;
	LIBSSH2_SESSION *s;
	enum l2_state state;
	uint64_t timeout_timer;
	uint64_t ka_timer;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *ident;
	int agent_tried;
	size_t key_idx;
	int key_encrypted;	/* a key file we could not use needs a passphrase */
	char *authlist;
	struct rchan *pending;	/* its last call returned EAGAIN */
	int pumping;
	uint64_t last_rx;	/* mono ms of the last bytes from the peer */
};

struct l2chan {
	LIBSSH2_CHANNEL *c;
	enum l2c_state state;
	int eof_sent;
};

static int l2_inited;

static const char *
l2_errmsg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;

	if (s == NULL)
		return "no session";
	libssh2_session_last_error(s, &msg, NULL, 0);
	return msg != NULL ? msg : "unknown libssh2 error";
}

static void l2_pump(struct l2conn *);
static void l2_set_events(struct l2conn *);

/* Does this libssh2 error mean the connection itself is gone? */
static int
l2_err_is_transport(int err)
{
	switch (err) {
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_TIMEOUT:
	case LIBSSH2_ERROR_DECRYPT:
	case LIBSSH2_ERROR_INVALID_MAC:
	case LIBSSH2_ERROR_BAD_SOCKET:
	case LIBSSH2_ERROR_PROTO:
		return 1;
	default:
		return 0;
	}
}

static int
l2_busy(const struct l2conn *l2)
{
	size_t i;

	for (i = 0; i < l2->conn->nchans; i++) {
		if (l2->conn->chans[i]->tp != NULL &&
		    !l2->conn->chans[i]->done)
			return 1;
	}
	return 0;
}

static void l2_fail(struct l2conn *, const char *, ...) PRINTFLIKE(2, 3);

static void
l2_fd_cb(int fd, short revents, void *arg)
{
	struct l2conn *l2 = arg;

	if (revents & POLLIN)
		l2->last_rx = clock_mono_ms();
	/* An idle session is not polled for input; a hang-up still shows. */
	if ((revents & (POLLHUP | POLLERR)) && l2->state == L2_READY &&
	    !l2_busy(l2)) {
		l2_fail(l2, "%s: connection lost (closed by the peer)",
		    l2->conn->cfg.name);
		return;
	}
	l2_pump(l2);
}

/* The connection failed: report it (if not yet connected) or fail every
 * open channel (if it was), and stop using the socket. */
static void
l2_fail(struct l2conn *l2, const char *fmt, ...)
{
	struct rconn *conn = l2->conn;
	va_list ap;
	char *msg;
	size_t i;

	if (l2->state == L2_DEAD)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	l2->state = L2_DEAD;
	loop_timer_cancel(conn->loop, l2->timeout_timer);
	loop_timer_cancel(conn->loop, l2->ka_timer);
	l2->timeout_timer = l2->ka_timer = 0;
	if (l2->in_loop) {
		loop_del_fd(conn->loop, l2->fd);
		l2->in_loop = 0;
	}
	if (conn->ready == 0)
		rconn_ready(conn, msg);
	else
		rconn_lost(conn, msg);
	for (i = 0; i < conn->nchans; i++) {
		if (!conn->chans[i]->done)
			rchan_done(conn->chans[i], -1, msg);
	}
	free(msg);
}

static void
l2_timeout(void *arg)
{
	struct l2conn *l2 = arg;
	static const char *const what[] = { "connecting", "in the SSH "
	    "handshake", "authenticating", "authenticating",
	    "authenticating" };

	l2->timeout_timer = 0;
	l2_fail(l2, "%s: timed out after %d ms %s", l2->conn->cfg.name,
	    l2->conn->opts.connect_timeout_ms,
	    l2->state < nitems(what) ? what[l2->state] : "");
}

static void
l2_keepalive(void *arg)
{
	struct l2conn *l2 = arg;
	int next = l2->conn->opts.keepalive_s;
	uint64_t silent = clock_mono_ms() - l2->last_rx;

	l2->ka_timer = 0;
	if (l2->state != L2_READY)
		return;
	/* Keepalives ask for a reply; a live peer answers one of three.
	 * libssh2's keepalive alone never notices a dead peer. */
	if (l2_busy(l2) && silent > (uint64_t)next * 3000) {
		l2_fail(l2, "%s: connection lost: no answer to keepalives "
		    "for %llu s", l2->conn->cfg.name,
		    (unsigned long long)(silent / 1000));
		return;
	}
	if (l2->pending == NULL)
		libssh2_keepalive_send(l2->s, &next);
	if (next <= 0)
		next = l2->conn->opts.keepalive_s;
	l2->ka_timer = loop_timer_add(l2->conn->loop, (uint64_t)next * 1000,
	    l2_keepalive, l2);
}

static int
l2_open(struct rconn *conn, char **cause)
{
	struct l2conn *l2;
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int fd = -1, rc;

	if (!l2_inited) {
		if (libssh2_init(0) != 0) {
			xasprintf(cause, "%s: libssh2_init failed",
			    conn->cfg.name);
			return -1;
		}
		l2_inited = 1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%d", conn->cfg.port > 0 ?
	    conn->cfg.port : 22);
	/* Addresses resolve at once; names go through the resolver. */
	rc = getaddrinfo(conn->cfg.hostname, port, &hints, &res);
	if (rc != 0) {
		xasprintf(cause, "%s: unreachable: cannot resolve %s: %s",
		    conn->cfg.name, conn->cfg.hostname, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		xasprintf(cause, "%s: unreachable: %s", conn->cfg.name,
		    strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	l2 = xcalloc(1, sizeof *l2);
	l2->conn = conn;
	l2->fd = fd;
	l2->state = L2_TCP;
	conn->tp = l2;
	loop_add_fd(conn->loop, fd, POLLOUT, l2_fd_cb, l2);
	l2->in_loop = 1;
	l2->timeout_timer = loop_timer_add(conn->loop,
	    (uint64_t)conn->opts.connect_timeout_ms, l2_timeout, l2);
	return 0;
}

/* ---- host key ---------------------------------------------------------- */

static char **
l2_known_files(struct rconn *conn, char ***ownedp)
{
	const char *home = getenv("HOME");
	char **v;

	*ownedp = NULL;
	if (conn->cfg.known_hosts != NULL && conn->cfg.known_hosts[0] != NULL)
		return conn->cfg.known_hosts;
	v = xcalloc(3, sizeof *v);
	xasprintf(&v[0], "%s/.ssh/known_hosts", home ? home : "");
	v[1] = xstrdup("/etc/ssh/ssh_known_hosts");
	*ownedp = v;
	return v;
}

static int
l2_check_hostkey(struct l2conn *l2)
{
	struct rconn *conn = l2->conn;
	struct kh_verdict v;
	const char *key;
	char **files, **owned, *cause = NULL;
	size_t len;
	int type, port = conn->cfg.port > 0 ? conn->cfg.port : 22, rc = -1;

	key = libssh2_session_hostkey(l2->s, &len, &type);
	if (key == NULL) {
		l2_fail(l2, "%s: host key: the server sent none",
		    conn->cfg.name);
		return -1;
	}
	files = l2_known_files(conn, &owned);
	if (knownhosts_check(files, conn->cfg.hostname, port,
	    (const unsigned char *)key, len, &v, &cause) != 0) {
		l2_fail(l2, "%s: host key: %s", conn->cfg.name, cause);
		free(cause);
		goto out;
	}
	switch (v.result) {
	case KH_MATCH:
		rc = 0;
		break;
	case KH_MISMATCH:
		l2_fail(l2, "%s: host key mismatch (%s %s); %s line %d has "
		    "another key (%s); refusing. If the host was reinstalled, "
		    "check with its admin, then: ssh-keygen -R %s -f %s",
		    conn->cfg.name, v.keytype_name, v.fingerprint, v.file,
		    v.line, v.known_fingerprint, conn->cfg.hostname, v.file);
		break;
	case KH_REVOKED:
		l2_fail(l2, "%s: host key %s %s is marked @revoked in %s line "
		    "%d; refusing", conn->cfg.name, v.keytype_name,
		    v.fingerprint, v.file, v.line);
		break;
	case KH_NOTFOUND:
		if (conn->opts.accept_new ||
		    conn->cfg.strict == RS_ACCEPT_NEW) {
			if (knownhosts_add(files[0], conn->cfg.hostname, port,
			    (const unsigned char *)key, len, 0, &cause) != 0) {
				l2_fail(l2, "%s: recording its host key: %s",
				    conn->cfg.name, cause);
				free(cause);
				break;
			}
			log_warn("%s: unknown host key %s %s recorded in %s "
			    "(accept-new)", conn->cfg.name, v.keytype_name,
			    v.fingerprint, files[0]);
			rc = 0;
			break;
		}
		l2_fail(l2, "%s: unknown host key (%s %s), not in %s%s; "
		    "refusing. If that fingerprint is right, accept it with: "
		    "drover exec --accept-new %s -- true", conn->cfg.name,
		    v.keytype_name, v.fingerprint, files[0],
		    files[1] != NULL ? " or the other known_hosts files" : "",
		    conn->cfg.name);
		break;
	}
out:
	strv_free(owned);
	return rc;
}

/* ---- authentication --------------------------------------------------- */

/* Whether a private key file needs a passphrase (PEM or OpenSSH format). */
static int
l2_key_encrypted(const char *path)
{
	struct buf b, raw;
	char *cause = NULL;
	const char *s, *e;
	unsigned char *dec;
	size_t n;
	int enc = 0, len;

	buf_init(&b);
	if (file_read_all(path, 65536, &b, &cause) != 0) {
		free(cause);
		buf_free(&b);
		return 0;
	}
	s = buf_cstr(&b);
	if (strstr(s, "ENCRYPTED") != NULL)
		enc = 1;
	else if ((s = strstr(s, "-----BEGIN OPENSSH PRIVATE KEY-----")) !=
	    NULL && (e = strstr(s, "-----END")) != NULL) {
		/* openssh-key-v1: the cipher name follows the magic. */
		s += 35;
		buf_init(&raw);
		for (; s < e; s++) {
			if (*s != '\n' && *s != '\r')
				buf_addch(&raw, *s);
		}
		n = raw.len;
		dec = xmalloc(n + 4);
		len = EVP_DecodeBlock(dec, (const unsigned char *)raw.data,
		    (int)n);
		if (len > 40 && memcmp(dec + 15, "\0\0\0\4none", 8) != 0)
			enc = 1;
		free(dec);
		buf_free(&raw);
	}
	buf_free(&b);
	return enc;
}

static const char *
l2_user(struct rconn *conn)
{
	const char *u = conn->cfg.user;

	if (u == NULL || *u == '\0')
		u = getenv("USER");
	return u != NULL ? u : "root";
}

static void
l2_authenticated(struct l2conn *l2)
{
	struct rconn *conn = l2->conn;

	l2->state = L2_READY;
	l2->last_rx = clock_mono_ms();
	loop_timer_cancel(conn->loop, l2->timeout_timer);
	l2->timeout_timer = 0;
	l2->ka_timer = loop_timer_add(conn->loop,
	    (uint64_t)conn->opts.keepalive_s * 1000, l2_keepalive, l2);
	libssh2_keepalive_config(l2->s, 1, (unsigned)conn->opts.keepalive_s);
	rconn_ready(conn, NULL);
}

/* One step of authentication: 1 done, 0 go on, LIBSSH2_ERROR_EAGAIN wait,
 * -1 failed (reported). */
static int
l2_auth_step(struct l2conn *l2)
{
	struct rconn *conn = l2->conn;
	const char *user = l2_user(conn);
	char *list, *pub;
	const char *priv;
	int rc;

	switch (l2->state) {
	case L2_AUTHLIST:
		list = libssh2_userauth_list(l2->s, user,
		    (unsigned)strlen(user));
		if (list == NULL) {
			if (libssh2_userauth_authenticated(l2->s))
				return 1;
			if (libssh2_session_last_errno(l2->s) ==
			    LIBSSH2_ERROR_EAGAIN)
				return LIBSSH2_ERROR_EAGAIN;
			l2_fail(l2, "%s: authentication failed: %s",
			    conn->cfg.name, l2_errmsg(l2->s));
			return -1;
		}
		free(l2->authlist);
		l2->authlist = xstrdup(list);
		if (strstr(l2->authlist, "publickey") == NULL) {
			l2_fail(l2, "%s: authentication failed for %s: the "
			    "server offers only \"%s\"; drover uses keys "
			    "(ssh-agent or identity files), never passwords",
			    conn->cfg.name, user, l2->authlist);
			return -1;
		}
		l2->state = L2_AGENT;
		return 0;
	case L2_AGENT:
		if (l2->agent == NULL) {
			if (getenv("SSH_AUTH_SOCK") == NULL ||
			    (l2->agent = libssh2_agent_init(l2->s)) == NULL ||
			    libssh2_agent_connect(l2->agent) != 0 ||
			    libssh2_agent_list_identities(l2->agent) != 0) {
				l2->state = L2_KEYFILE;
				return 0;
			}
			l2->ident = NULL;
			if (libssh2_agent_get_identity(l2->agent, &l2->ident,
			    NULL) != 0) {
				l2->state = L2_KEYFILE;
				return 0;
			}
		}
		rc = libssh2_agent_userauth(l2->agent, user, l2->ident);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return rc;
		l2->agent_tried++;
		if (rc == 0)
			return 1;
		if (libssh2_agent_get_identity(l2->agent, &l2->ident,
		    l2->ident) != 0)
			l2->state = L2_KEYFILE;
		return 0;
	case L2_KEYFILE:
		if (conn->cfg.identity_files == NULL ||
		    conn->cfg.identity_files[l2->key_idx] == NULL) {
			l2_fail(l2, "%s: authentication failed for %s "
			    "(tried %d agent key(s) and %zu identity file(s); "
			    "the server allows %s)%s", conn->cfg.name, user,
			    l2->agent_tried, l2->key_idx, l2->authlist,
			    l2->key_encrypted ? ". A key file is "
			    "passphrase-protected and no ssh-agent holds it: "
			    "run ssh-add on it first" : "");
			return -1;
		}
		priv = conn->cfg.identity_files[l2->key_idx];
		if (access(priv, R_OK) != 0) {
			l2->key_idx++;
			return 0;
		}
		xasprintf(&pub, "%s.pub", priv);
		rc = libssh2_userauth_publickey_fromfile_ex(l2->s, user,
		    (unsigned)strlen(user), access(pub, R_OK) == 0 ? pub : NULL,
		    priv, NULL);
		free(pub);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return rc;
		if (rc == 0)
			return 1;
		if (l2_key_encrypted(priv))
			l2->key_encrypted = 1;
		l2->key_idx++;
		return 0;
	default:
		return 1;
	}
}

/* Connecting: 0 ready or dead, LIBSSH2_ERROR_EAGAIN waiting. */
static int
l2_connect_step(struct l2conn *l2)
{
	struct rconn *conn = l2->conn;
	socklen_t sl = sizeof(int);
	int err = 0, rc;

	for (;;) {
		switch (l2->state) {
		case L2_TCP:
			if (getsockopt(l2->fd, SOL_SOCKET, SO_ERROR, &err,
			    &sl) == -1)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return LIBSSH2_ERROR_EAGAIN;
			if (err == ECONNREFUSED) {
				l2_fail(l2, "%s: connection refused on port "
				    "%d (no sshd listening?)", conn->cfg.name,
				    conn->cfg.port > 0 ? conn->cfg.port : 22);
				return 0;
			}
			if (err != 0) {
				l2_fail(l2, "%s: unreachable: %s",
				    conn->cfg.name, strerror(err));
				return 0;
			}
			l2->s = libssh2_session_init();
			if (l2->s == NULL) {
				l2_fail(l2, "%s: cannot create a session",
				    conn->cfg.name);
				return 0;
			}
			libssh2_session_set_blocking(l2->s, 0);
			l2->state = L2_HANDSHAKE;
			break;
		case L2_HANDSHAKE:
			rc = libssh2_session_handshake(l2->s, l2->fd);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return rc;
			if (rc != 0) {
				l2_fail(l2, "%s: SSH handshake failed: %s",
				    conn->cfg.name, l2_errmsg(l2->s));
				return 0;
			}
			if (l2_check_hostkey(l2) != 0)
				return 0;
			l2->state = L2_AUTHLIST;
			break;
		case L2_AUTHLIST:
		case L2_AGENT:
		case L2_KEYFILE:
			rc = l2_auth_step(l2);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return rc;
			if (rc == -1)
				return 0;
			if (rc == 1) {
				l2_authenticated(l2);
				return 0;
			}
			break;
		default:
			return 0;
		}
	}
}

/* ---- channels ---------------------------------------------------------- */

static int
l2_signal_number(const char *name)
{
	int sig = name != NULL ? proto_signal_from_name(name) : -1;

	return sig > 0 ? sig : SIGTERM;
}

/* One channel as far as it goes: 0 progressed or waiting for data,
 * LIBSSH2_ERROR_EAGAIN an outgoing call must be repeated first. */
/* A channel could not open or start: the connection is lost when the
 * error says the transport failed, else only this channel fails. */
static void
l2_chan_fail(struct l2conn *l2, struct rchan *ch, int err, const char *what)
{
	char *msg;

	if (l2_err_is_transport(err)) {
		l2_fail(l2, "%s: connection lost: %s", l2->conn->cfg.name,
		    l2_errmsg(l2->s));
		return;
	}
	xasprintf(&msg, "%s: %s: %s", l2->conn->cfg.name, what,
	    l2_errmsg(l2->s));
	rchan_done(ch, -1, msg);
	free(msg);
}

static int
l2_chan_step(struct l2conn *l2, struct rchan *ch)
{
	struct l2chan *lc = ch->tp;
	char data[32768], *signame = NULL;
	ssize_t n;
	int rc, stream, status;

	for (;;) {
		switch (lc->state) {
		case C_OPEN:
			lc->c = libssh2_channel_open_session(l2->s);
			if (lc->c == NULL) {
				rc = libssh2_session_last_errno(l2->s);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					return LIBSSH2_ERROR_EAGAIN;
				lc->state = C_GONE;
				l2_chan_fail(l2, ch, rc, "cannot open a channel");
				return 0;
			}
			lc->state = C_EXEC;
			break;
		case C_EXEC:
			rc = libssh2_channel_exec(lc->c, ch->command);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return rc;
			if (rc != 0) {
				lc->state = C_FREE;
				l2_chan_fail(l2, ch, rc,
				    "cannot start the command");
				if (l2->state == L2_DEAD)
					return 0;
				break;
			}
			lc->state = C_RUN;
			break;
		case C_RUN:
			while (ch->in.len > 0) {
				n = libssh2_channel_write(lc->c, ch->in.data,
				    ch->in.len);
				if (n == LIBSSH2_ERROR_EAGAIN)
					return LIBSSH2_ERROR_EAGAIN;
				if (n < 0) {
					buf_reset(&ch->in);
					break;
				}
				buf_drain(&ch->in, (size_t)n);
			}
			if (ch->in_eof && ch->in.len == 0 && !lc->eof_sent) {
				rc = libssh2_channel_send_eof(lc->c);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					return rc;
				lc->eof_sent = 1;
			}
			/* Drain both streams: unread stderr stalls the window. */
			for (stream = 0; stream < 2; stream++) {
				while ((n = libssh2_channel_read_ex(lc->c,
				    stream, data, sizeof data)) > 0)
					rchan_data(ch, stream + 1, data,
					    (size_t)n);
				if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
					l2_fail(l2, "%s: connection lost: %s",
					    l2->conn->cfg.name,
					    l2_errmsg(l2->s));
					return 0;
				}
			}
			if (!libssh2_channel_eof(lc->c))
				return 0;
			lc->state = C_CLOSE;
			break;
		case C_CLOSE:
			rc = libssh2_channel_close(lc->c);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return rc;
			lc->state = C_WAITCLOSED;
			break;
		case C_WAITCLOSED:
			rc = libssh2_channel_wait_closed(lc->c);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return rc;
			/* Valid only now; 0 may also mean "none sent". */
			status = libssh2_channel_get_exit_status(lc->c);
			if (libssh2_channel_get_exit_signal(lc->c, &signame,
			    NULL, NULL, NULL, NULL, NULL) == 0 &&
			    signame != NULL) {
				status = 128 + l2_signal_number(signame);
				libssh2_free(l2->s, signame);
			}
			lc->state = C_FREE;
			rchan_done(ch, status, NULL);
			break;
		case C_FREE:
			if (lc->c != NULL) {
				rc = libssh2_channel_free(lc->c);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					return rc;
				lc->c = NULL;
			}
			lc->state = C_GONE;
			return 0;
		case C_GONE:
			return 0;
		}
	}
}

static void
l2_set_events(struct l2conn *l2)
{
	short ev = POLLIN;
	int dir;

	if (!l2->in_loop)
		return;
	if (l2->state == L2_TCP)
		ev = POLLOUT;
	else if (l2->state == L2_READY && !l2_busy(l2))
		ev = 0;		/* idle: nothing reads it, so do not spin */
	if (l2->state != L2_TCP && l2->s != NULL) {
		dir = libssh2_session_block_directions(l2->s);
		if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			ev |= POLLOUT;
	}
	loop_set_events(l2->conn->loop, l2->fd, ev);
}

static void
l2_pump(struct l2conn *l2)
{
	struct rconn *conn = l2->conn;
	struct rchan *ch;
	size_t i;
	int rc;

	if (l2->pumping || l2->state == L2_DEAD)
		return;
	l2->pumping = 1;
	if (l2->state != L2_READY) {
		if (l2_connect_step(l2) == LIBSSH2_ERROR_EAGAIN ||
		    l2->state != L2_READY)
			goto out;
	}
	/* The call that last got EAGAIN goes first. */
	if (l2->pending != NULL) {
		ch = l2->pending;
		l2->pending = NULL;
		if (l2_chan_step(l2, ch) == LIBSSH2_ERROR_EAGAIN) {
			l2->pending = ch;
			goto out;
		}
	}
	for (i = 0; i < conn->nchans && l2->state == L2_READY; i++) {
		ch = conn->chans[i];
		if (ch->tp == NULL)
			continue;
		rc = l2_chan_step(l2, ch);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			l2->pending = ch;
			break;
		}
	}
out:
	l2->pumping = 0;
	l2_set_events(l2);
}

static int
l2_exec(struct rconn *conn, struct rchan *ch, char **cause)
{
	struct l2conn *l2 = conn->tp;
	struct l2chan *lc;

	if (l2 == NULL || l2->state != L2_READY) {
		xasprintf(cause, "%s: not connected", conn->cfg.name);
		return -1;
	}
	lc = xcalloc(1, sizeof *lc);
	lc->state = C_OPEN;
	ch->tp = lc;
	l2_pump(l2);
	return 0;
}

static void
l2_kick(struct rchan *ch)
{
	struct l2conn *l2 = ch->conn->tp;

	if (l2 != NULL)
		l2_pump(l2);
}

static void
l2_chan_free(struct rchan *ch)
{
	struct l2conn *l2 = ch->conn->tp;
	struct l2chan *lc = ch->tp;

	if (lc == NULL)
		return;
	if (l2 != NULL && l2->pending == ch)
		l2->pending = NULL;
	/* A channel cut short: libssh2 frees it with the session. */
	free(lc);
	ch->tp = NULL;
}

static void
l2_close(struct rconn *conn)
{
	struct l2conn *l2 = conn->tp;

	if (l2 == NULL)
		return;
	loop_timer_cancel(conn->loop, l2->timeout_timer);
	loop_timer_cancel(conn->loop, l2->ka_timer);
	if (l2->in_loop)
		loop_del_fd(conn->loop, l2->fd);
	if (l2->agent != NULL) {
		libssh2_agent_disconnect(l2->agent);
		libssh2_agent_free(l2->agent);
	}
	if (l2->s != NULL) {
		/* Best effort, without waiting: the peer may be gone. A
		 * non-blocking session_free returns EAGAIN, freeing nothing,
		 * while its channels' closes cannot be sent: with the socket
		 * shut down every send fails at once and the free completes. */
		libssh2_session_disconnect(l2->s, "drover closing");
		shutdown(l2->fd, SHUT_RDWR);
		for (int i = 0; i < 100 && libssh2_session_free(l2->s) ==
		    LIBSSH2_ERROR_EAGAIN; i++)
			;
	}
	close(l2->fd);
	free(l2->authlist);
	free(l2);
	conn->tp = NULL;
}

const struct rtransport_ops rtransport_libssh2 = {
	.name = "libssh2",
	.open = l2_open,
	.exec = l2_exec,
	.kick = l2_kick,
	.chan_free = l2_chan_free,
	.close = l2_close,
};
