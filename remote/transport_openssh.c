/*
 * transport_openssh.c - the OpenSSH transport: the system ssh client, for
 * hosts libssh2 1.10 cannot serve (ProxyJump, ProxyCommand, certificates)
 * or when the user asks for it. One ControlMaster per connection; each
 * channel is a `ssh -T HOST -- COMMAND` client multiplexed over it, run by
 * proc.c. Passwords are never used (BatchMode=yes).
 *
 * Open: `ssh -o ControlMaster=yes -o ControlPersist=600 ... -N HOST`. With
 * ControlPersist and -N, ssh forks the master into the background once it
 * has authenticated and the foreground process exits 0; that exit is the
 * cue to ask `ssh -O check`, retried on a short timer until the master
 * answers. Any other exit fails the connection with ssh's own words in the
 * cause ("Connection refused", "Connection timed out", "Host key
 * verification failed", "Permission denied" ...) and a hint. A guard timer
 * of twice the connect timeout plus 2 s bounds the whole handshake. The
 * persisting master is not drover's child: if drover dies, it exits by
 * itself after 600 idle seconds; ServerAliveInterval (opts.keepalive_s)
 * makes it notice a dead peer.
 *
 * Close: `ssh -O exit`, run synchronously with a 2 s bound (it talks to a
 * local socket; about 15 ms, most of it ssh starting), then SIGTERM to the
 * master's pid (checked against its start time) if that did not work.
 *
 * ControlPaths live in a private 0700 directory made with mkdtemp() under
 * $XDG_RUNTIME_DIR (or /tmp when unset or too long), one per process and
 * removed with its last connection. The socket is named by a serial number,
 * not %C: unique, short (sun_path holds 108 bytes, and ssh binds a name 17
 * bytes longer first), and known exactly, so close can remove it.
 *
 * ssh is given the host name as the user wrote it (cfg.name), so every
 * Host/Match block of the user's config still applies, and the settings of
 * struct rhost_cfg as options, which take precedence over config files:
 * known_hosts as UserKnownHostsFile (GlobalKnownHostsFile=/dev/null, the
 * list already holds the global files), -i only for identity files that
 * exist (ssh -i complains on stderr about a missing one, on every run).
 * Channels add LogLevel=ERROR so their stderr is the command's alone. If
 * the master is gone, a channel's ssh connects directly, with the same
 * options. DROVER_SSH and DROVER_SSH_CONFIG are honoured as in sshconfig.c.
 * A remote command killed by a signal ends its channel with ssh's status
 * 255, the same as a connection failure.
 */
#include "remote_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define OSSH_PERSIST_S		600
#define OSSH_KEEPALIVE_S	15
#define OSSH_DEFAULT_TIMEOUT_MS	10000
#define OSSH_MAX_TIMEOUT_MS	(3600 * 1000)
#define OSSH_CHECK_TRIES	20
#define OSSH_CHECK_RETRY_MS	50
#define OSSH_REAP_FIRST_MS	10
#define OSSH_REAP_MAX_MS	50
#define OSSH_OUT_MAX		(16 * 1024)
#define OSSH_TEXT_MAX		1500
#define OSSH_EXIT_WAIT_MS	2000
#define OSSH_TERM_GRACE_MS	20
#define OSSH_KILL_WAIT_MS	2000
#define OSSH_DIR_BASE_MAX	50	/* else /tmp: keeps paths short */
#define OSSH_PATH_MAX		90	/* sun_path 108, less ssh's 17 */

enum ossh_mode { OSSH_MASTER, OSSH_CHECK, OSSH_EXIT, OSSH_EXEC };

struct ossh_conn;

/* A plain child (master, -O check): stdout and stderr into one buffer. */
struct ossh_child {
	struct ossh_conn *oc;
	pid_t pid;
	int fd;
	struct buf out;
	uint64_t timer;
	unsigned reap_ms;
	/* Owns the child from then on: must free it. */
	void (*done)(struct ossh_child *, int status);
};

struct ossh_conn {
	struct rconn *conn;
	char *host;		/* for ssh: the name as the user wrote it */
	char *path;		/* ControlPath */
	struct ossh_child *master;	/* while in the foreground */
	struct ossh_child *check;
	int master_ok;		/* the master went to the background */
	int checks;
	int connected;
	uint64_t guard_timer;
	uint64_t retry_timer;
	pid_t master_pid;	/* from -O check, for a last-resort SIGTERM */
	uint64_t master_start;
};

struct ossh_argv {
	char **v;
	size_t n;
};

static char ossh_dir[128];
static unsigned ossh_nconns;
static unsigned long ossh_serial;

static void ossh_check_start(struct ossh_conn *);

static void
ossh_argv_add(struct ossh_argv *a, const char *s)
{
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void ossh_argv_addf(struct ossh_argv *, const char *, ...)
    PRINTFLIKE(2, 3);

static void
ossh_argv_addf(struct ossh_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* ssh expands %-tokens in these options: a literal '%' must be doubled. */
static void
ossh_add_pct(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '%')
			buf_addch(b, '%');
		buf_addch(b, *s);
	}
}

static char *
ossh_pct(const char *s)
{
	struct buf b;

	buf_init(&b);
	ossh_add_pct(&b, s);
	return buf_steal(&b);
}

/* A list value for -o: ssh splits it on spaces and honours "" quotes. */
static char *
ossh_file_list(char *const *files)
{
	struct buf b;
	const char *s;
	size_t i;

	buf_init(&b);
	for (i = 0; files[i] != NULL; i++) {
		if (i > 0)
			buf_addch(&b, ' ');
		if (strpbrk(files[i], " \t\"'\\") == NULL) {
			ossh_add_pct(&b, files[i]);
			continue;
		}
		buf_addch(&b, '"');
		for (s = files[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				buf_addch(&b, '\\');
			if (*s == '%')
				buf_addch(&b, '%');
			buf_addch(&b, *s);
		}
		buf_addch(&b, '"');
	}
	return buf_steal(&b);
}

static int
ossh_timeout_ms(const struct ossh_conn *oc)
{
	const struct rconn *conn = oc->conn;
	int s = conn->cfg.connect_timeout_s;

	if (s > 0)
		return s > OSSH_MAX_TIMEOUT_MS / 1000 ? OSSH_MAX_TIMEOUT_MS :
		    s * 1000;
	if (conn->opts.connect_timeout_ms > 0)
		return conn->opts.connect_timeout_ms > OSSH_MAX_TIMEOUT_MS ?
		    OSSH_MAX_TIMEOUT_MS : conn->opts.connect_timeout_ms;
	return OSSH_DEFAULT_TIMEOUT_MS;
}

static const char *
ossh_strict(const struct rconn *conn)
{
	switch (conn->cfg.strict) {
	case RS_NO:
		return "no";
	case RS_ACCEPT_NEW:
		return "accept-new";
	case RS_YES:
		break;
	}
	return conn->opts.accept_new ? "accept-new" : "yes";
}

/* The exact command line for each use; all share the same options. */
static char **
ossh_argv(const struct ossh_conn *oc, enum ossh_mode mode,
    const char *command)
{
	const struct rconn *conn = oc->conn;
	const struct rhost_cfg *cfg = &conn->cfg;
	struct ossh_argv a = { NULL, 0 };
	const char *ssh, *file;
	char *s;
	size_t i;
	int keepalive;

	if ((ssh = getenv("DROVER_SSH")) == NULL || *ssh == '\0')
		ssh = "ssh";
	ossh_argv_add(&a, ssh);
	if ((file = getenv("DROVER_SSH_CONFIG")) != NULL && *file != '\0') {
		ossh_argv_add(&a, "-F");
		ossh_argv_add(&a, file);
	}
	ossh_argv_add(&a, "-o");
	ossh_argv_addf(&a, "ControlMaster=%s", mode == OSSH_MASTER ? "yes" :
	    "no");
	if (mode == OSSH_MASTER) {
		ossh_argv_add(&a, "-o");
		ossh_argv_addf(&a, "ControlPersist=%d", OSSH_PERSIST_S);
	}
	ossh_argv_add(&a, "-o");
	s = ossh_pct(oc->path);
	ossh_argv_addf(&a, "ControlPath=%s", s);
	free(s);
	ossh_argv_add(&a, "-o");
	ossh_argv_add(&a, "BatchMode=yes");
	ossh_argv_add(&a, "-o");
	ossh_argv_addf(&a, "ConnectTimeout=%d", (ossh_timeout_ms(oc) + 999) /
	    1000);
	keepalive = conn->opts.keepalive_s > 0 ? conn->opts.keepalive_s :
	    OSSH_KEEPALIVE_S;
	ossh_argv_add(&a, "-o");
	ossh_argv_addf(&a, "ServerAliveInterval=%d", keepalive);
	if (cfg->hostname != NULL && *cfg->hostname != '\0' &&
	    strcmp(cfg->hostname, oc->host) != 0) {
		ossh_argv_add(&a, "-o");
		s = ossh_pct(cfg->hostname);
		ossh_argv_addf(&a, "HostName=%s", s);
		free(s);
	}
	if (cfg->port > 0) {
		ossh_argv_add(&a, "-p");
		ossh_argv_addf(&a, "%d", cfg->port);
	}
	if (cfg->user != NULL && *cfg->user != '\0') {
		ossh_argv_add(&a, "-l");
		ossh_argv_add(&a, cfg->user);
	}
	for (i = 0; cfg->identity_files != NULL &&
	    cfg->identity_files[i] != NULL; i++) {
		/* ssh -i warns on stderr about a missing file, on every run. */
		if (access(cfg->identity_files[i], F_OK) != 0)
			continue;
		ossh_argv_add(&a, "-i");
		s = ossh_pct(cfg->identity_files[i]);
		ossh_argv_add(&a, s);
		free(s);
	}
	if (cfg->known_hosts != NULL && cfg->known_hosts[0] != NULL) {
		/* The list holds the global files too, after the user's. */
		ossh_argv_add(&a, "-o");
		s = ossh_file_list(cfg->known_hosts);
		ossh_argv_addf(&a, "UserKnownHostsFile=%s", s);
		free(s);
		ossh_argv_add(&a, "-o");
		ossh_argv_add(&a, "GlobalKnownHostsFile=/dev/null");
	}
	ossh_argv_add(&a, "-o");
	ossh_argv_addf(&a, "StrictHostKeyChecking=%s", ossh_strict(conn));
	if (cfg->proxy_jump != NULL) {
		ossh_argv_add(&a, "-J");
		ossh_argv_add(&a, cfg->proxy_jump);
	}
	switch (mode) {
	case OSSH_MASTER:
		ossh_argv_add(&a, "-N");
		ossh_argv_add(&a, oc->host);
		break;
	case OSSH_CHECK:
	case OSSH_EXIT:
		ossh_argv_add(&a, "-O");
		ossh_argv_add(&a, mode == OSSH_CHECK ? "check" : "exit");
		ossh_argv_add(&a, oc->host);
		break;
	case OSSH_EXEC:
		/* The channel's stderr is the command's: no ssh chatter. */
		ossh_argv_add(&a, "-o");
		ossh_argv_add(&a, "LogLevel=ERROR");
		ossh_argv_add(&a, "-T");
		ossh_argv_add(&a, oc->host);
		ossh_argv_add(&a, "--");
		ossh_argv_add(&a, command);
		break;
	}
	return a.v;
}

/*
 * stdin from /dev/null, stdout and stderr to fd (or /dev/null), in a new
 * session with default signals. 0 or an errno.
 */
static int
ossh_spawn(char *const *argv, int fd, pid_t *pidp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	int error;

	posix_spawn_file_actions_init(&fa);
	if (fd != -1) {
		posix_spawn_file_actions_adddup2(&fa, fd, 1);
		posix_spawn_file_actions_adddup2(&fa, fd, 2);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		    O_WRONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rproc_spawnattr(&sa);
	error = posix_spawnp(pidp, argv[0], &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	return error;
}

/* Waits up to ms for pid; 1 when reaped, with the status if wanted. */
static int
ossh_wait_ms(pid_t pid, int ms, int *status)
{
	struct timespec tick = { 0, 1000 * 1000 };
	int i, st;
	pid_t r;

	for (i = 0; i <= ms; i++) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			if (status != NULL)
				*status = st;
			return 1;
		}
		if (r == -1 && errno == ECHILD)
			return 1;
		if (i < ms)
			nanosleep(&tick, NULL);
	}
	return 0;
}

/* SIGTERM to the group, a short grace, SIGKILL; always reaps. */
static void
ossh_kill(pid_t pid)
{
	killpg(pid, SIGTERM);
	if (ossh_wait_ms(pid, OSSH_TERM_GRACE_MS, NULL))
		return;
	killpg(pid, SIGKILL);
	if (!ossh_wait_ms(pid, OSSH_KILL_WAIT_MS, NULL))
		log_warn("ssh (pid %ld) survived SIGKILL; leaving it",
		    (long)pid);
}

static void
ossh_child_free(struct ossh_child *c)
{
	struct loop *loop = c->oc->conn->loop;

	loop_timer_cancel(loop, c->timer);
	if (c->fd != -1) {
		loop_del_fd(loop, c->fd);
		close(c->fd);
	}
	if (c->pid != -1)
		ossh_kill(c->pid);
	buf_free(&c->out);
	free(c);
}

static void ossh_child_reap(struct ossh_child *);

static void
ossh_child_timer(void *arg)
{
	struct ossh_child *c = arg;

	c->timer = 0;
	ossh_child_reap(c);
}

static void
ossh_child_reap(struct ossh_child *c)
{
	int status;
	pid_t r;

	r = waitpid(c->pid, &status, WNOHANG);
	if (r == 0 || (r == -1 && errno == EINTR)) {
		c->timer = loop_timer_add(c->oc->conn->loop, c->reap_ms,
		    ossh_child_timer, c);
		if (c->reap_ms < OSSH_REAP_MAX_MS)
			c->reap_ms *= 2;
		if (c->reap_ms > OSSH_REAP_MAX_MS)
			c->reap_ms = OSSH_REAP_MAX_MS;
		return;
	}
	c->pid = -1;
	/* ECHILD: reaped elsewhere; the status is lost, call it a failure. */
	c->done(c, r == -1 ? -1 : rproc_status(status));
}

static void
ossh_child_read(int fd, short revents, void *arg)
{
	struct ossh_child *c = arg;
	char data[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, data, sizeof data);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		if (c->out.len + (size_t)n > OSSH_OUT_MAX)
			n = (ssize_t)(OSSH_OUT_MAX - c->out.len);
		buf_add(&c->out, data, (size_t)n);
	}
	loop_del_fd(c->oc->conn->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	ossh_child_reap(c);
}

static struct ossh_child *
ossh_child_start(struct ossh_conn *oc, enum ossh_mode mode,
    void (*done)(struct ossh_child *, int), char **cause)
{
	struct ossh_child *c;
	char **argv;
	int p[2], error;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1) {
		xasprintf(cause, "%s: cannot run ssh: pipe: %s; raise the "
		    "open files limit (ulimit -n)", oc->host, strerror(errno));
		return NULL;
	}
	argv = ossh_argv(oc, mode, NULL);
	error = ossh_spawn(argv, p[1], &pid);
	close(p[1]);
	if (error != 0) {
		close(p[0]);
		xasprintf(cause, "%s: cannot run %s: %s; install the OpenSSH "
		    "client or set DROVER_SSH", oc->host, argv[0],
		    strerror(error));
		strv_free(argv);
		return NULL;
	}
	strv_free(argv);
	c = xcalloc(1, sizeof *c);
	c->oc = oc;
	c->pid = pid;
	c->fd = p[0];
	c->reap_ms = OSSH_REAP_FIRST_MS;
	c->done = done;
	buf_init(&c->out);
	fd_set_nonblock(c->fd);
	loop_add_fd(oc->conn->loop, c->fd, POLLIN, ossh_child_read, c);
	return c;
}

/*
 * ssh's words for a message: lines joined with "; ", without the '@'
 * banner, the tail kept when long (the verdict comes last).
 */
static char *
ossh_text(const struct buf *out)
{
	struct buf b;
	const char *s, *e, *end;
	size_t n;
	char *t;

	buf_init(&b);
	s = out->data;
	end = out->len > 0 ? out->data + out->len : s;
	while (s < end) {
		if ((e = memchr(s, '\n', (size_t)(end - s))) == NULL)
			e = end;
		n = (size_t)(e - s);
		while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
			n--;
		if (n > 0 && s[0] != '@') {
			if (b.len > 0)
				buf_addstr(&b, "; ");
			buf_add(&b, s, n);
		}
		s = e + 1;
	}
	if (b.len == 0)
		buf_addstr(&b, "no message from ssh");
	if (b.len > OSSH_TEXT_MAX) {
		xasprintf(&t, "...%s", buf_cstr(&b) + b.len - OSSH_TEXT_MAX);
		buf_free(&b);
		return t;
	}
	return buf_steal(&b);
}

/* What to do about it, from ssh's words; NULL when they say nothing known. */
static const char *
ossh_hint(const char *text)
{
	if (strstr(text, "Connection refused") != NULL)
		return "is sshd running there, on that port?";
	if (strstr(text, "timed out") != NULL)
		return "check the address, the route and any firewall";
	if (strstr(text, "Host key verification failed") != NULL)
		return "the host key is not in known_hosts or differs from it: "
		    "verify the key, then fix known_hosts (a new host may be "
		    "accepted with accept-new)";
	if (strstr(text, "Permission denied") != NULL)
		return "check the user name and that your key is in the "
		    "host's authorized_keys or loaded in ssh-agent";
	if (strstr(text, "Could not resolve hostname") != NULL)
		return "check the host name";
	if (strstr(text, "No route to host") != NULL ||
	    strstr(text, "Network is unreachable") != NULL)
		return "check the network path to the host";
	return NULL;
}

static char *
ossh_cause(const struct ossh_conn *oc, const char *what, int status,
    const struct buf *out)
{
	const char *hint;
	char *text, *cause;

	text = ossh_text(out);
	if ((hint = ossh_hint(text)) == NULL &&
	    (hint = ossh_hint(what)) == NULL)
		hint = "run ssh -v with this host name to see why";
	if (status >= 0)
		xasprintf(&cause, "%s: %s (ssh exit status %d): %s; %s",
		    oc->host, what, status, text, hint);
	else
		xasprintf(&cause, "%s: %s: %s; %s", oc->host, what, text,
		    hint);
	free(text);
	return cause;
}

/* Ends the attempt; error is freed here. Nothing may touch oc after. */
static void
ossh_fail(struct ossh_conn *oc, char *error)
{
	struct rconn *conn = oc->conn;
	struct loop *loop = conn->loop;

	loop_timer_cancel(loop, oc->guard_timer);
	loop_timer_cancel(loop, oc->retry_timer);
	oc->guard_timer = oc->retry_timer = 0;
	if (oc->check != NULL) {
		ossh_child_free(oc->check);
		oc->check = NULL;
	}
	if (oc->master != NULL) {
		ossh_child_free(oc->master);
		oc->master = NULL;
	}
	rconn_ready(conn, error);
	free(error);
}

static void
ossh_check_retry(void *arg)
{
	struct ossh_conn *oc = arg;

	oc->retry_timer = 0;
	ossh_check_start(oc);
}

static void
ossh_check_done(struct ossh_child *c, int status)
{
	struct ossh_conn *oc = c->oc;
	const char *pid;
	char *cause;
	long n;

	oc->check = NULL;
	if (status == 0) {
		/* "Master running (pid=N)" */
		buf_cstr(&c->out);
		if ((pid = strstr(c->out.data, "pid=")) != NULL &&
		    (n = strtol(pid + 4, NULL, 10)) > 1 &&
		    proc_start_time((pid_t)n, &oc->master_start) == 0)
			oc->master_pid = (pid_t)n;
		ossh_child_free(c);
		oc->connected = 1;
		loop_timer_cancel(oc->conn->loop, oc->guard_timer);
		oc->guard_timer = 0;
		rconn_ready(oc->conn, NULL);
		return;
	}
	if (++oc->checks < OSSH_CHECK_TRIES) {
		ossh_child_free(c);
		oc->retry_timer = loop_timer_add(oc->conn->loop,
		    OSSH_CHECK_RETRY_MS, ossh_check_retry, oc);
		return;
	}
	cause = ossh_cause(oc, "the ssh control master does not answer",
	    status, &c->out);
	ossh_child_free(c);
	ossh_fail(oc, cause);
}

static void
ossh_check_start(struct ossh_conn *oc)
{
	char *cause = NULL;

	oc->check = ossh_child_start(oc, OSSH_CHECK, ossh_check_done, &cause);
	if (oc->check == NULL)
		ossh_fail(oc, cause);
}

static void
ossh_master_done(struct ossh_child *c, int status)
{
	struct ossh_conn *oc = c->oc;
	char *cause;

	oc->master = NULL;
	if (status == 0) {
		ossh_child_free(c);
		oc->master_ok = 1;
		ossh_check_start(oc);
		return;
	}
	cause = ossh_cause(oc, "cannot connect with ssh", status, &c->out);
	ossh_child_free(c);
	ossh_fail(oc, cause);
}

static void
ossh_guard(void *arg)
{
	struct ossh_conn *oc = arg;
	struct buf none;
	char *cause, *what;

	oc->guard_timer = 0;
	buf_init(&none);
	xasprintf(&what, "ssh timed out: no connection within %d ms",
	    2 * ossh_timeout_ms(oc) + 2000);
	cause = ossh_cause(oc, what, -1,
	    oc->master != NULL ? &oc->master->out : &none);
	free(what);
	ossh_fail(oc, cause);
}

/* The per-process ControlPath directory, made on first use. */
static int
ossh_dir_get(char **cause)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat sb;

	if (ossh_dir[0] != '\0' && lstat(ossh_dir, &sb) == 0 &&
	    S_ISDIR(sb.st_mode))
		return 0;
	if (base == NULL || base[0] != '/' ||
	    strlen(base) > OSSH_DIR_BASE_MAX || access(base, W_OK) != 0)
		base = "/tmp";
	snprintf(ossh_dir, sizeof ossh_dir, "%s/drover-ssh.XXXXXX", base);
	if (mkdtemp(ossh_dir) == NULL) {
		xasprintf(cause, "cannot make a directory for ssh control "
		    "sockets in %s: %s; set XDG_RUNTIME_DIR to a writable "
		    "directory", base, strerror(errno));
		ossh_dir[0] = '\0';
		return -1;
	}
	return 0;
}

static void
ossh_destroy(struct ossh_conn *oc)
{
	unlink(oc->path);
	free(oc->path);
	free(oc->host);
	free(oc);
	if (--ossh_nconns == 0 && ossh_dir[0] != '\0') {
		rmdir(ossh_dir);	/* fails if someone put a file there */
		ossh_dir[0] = '\0';
	}
}

static int
ossh_open(struct rconn *conn, char **cause)
{
	const struct rhost_cfg *cfg = &conn->cfg;
	struct ossh_conn *oc;
	const char *host;

	host = cfg->name != NULL && *cfg->name != '\0' ? cfg->name :
	    cfg->hostname;
	if (sshconfig_host_ok(host, cause) == -1)
		return -1;
	if (ossh_dir_get(cause) == -1)
		return -1;
	oc = xcalloc(1, sizeof *oc);
	oc->conn = conn;
	oc->host = xstrdup(host);
	xasprintf(&oc->path, "%s/%lu", ossh_dir, ++ossh_serial);
	ossh_nconns++;
	if (strlen(oc->path) > OSSH_PATH_MAX) {
		xasprintf(cause, "%s: ssh control socket path %s is too long; "
		    "set XDG_RUNTIME_DIR to a short directory", host,
		    oc->path);
		ossh_destroy(oc);
		return -1;
	}
	oc->master = ossh_child_start(oc, OSSH_MASTER, ossh_master_done,
	    cause);
	if (oc->master == NULL) {
		ossh_destroy(oc);
		return -1;
	}
	conn->tp = oc;
	oc->guard_timer = loop_timer_add(conn->loop,
	    2 * (uint64_t)ossh_timeout_ms(oc) + 2000, ossh_guard, oc);
	return 0;
}

static int
ossh_exec(struct rconn *conn, struct rchan *ch, char **cause)
{
	struct ossh_conn *oc = conn->tp;
	char **argv;

	if (oc == NULL || !oc->connected) {
		xasprintf(cause, "%s: not connected; wait for the connection "
		    "before running commands", oc != NULL ? oc->host :
		    conn->cfg.name != NULL ? conn->cfg.name : "?");
		return -1;
	}
	argv = ossh_argv(oc, OSSH_EXEC, ch->command);
	ch->tp = rproc_spawn(conn->loop, argv, NULL, ch, cause);
	strv_free(argv);
	return ch->tp == NULL ? -1 : 0;
}

static void
ossh_kick(struct rchan *ch)
{
	rproc_kick(ch->tp);
}

static void
ossh_chan_free(struct rchan *ch)
{
	rproc_free(ch->tp);
	ch->tp = NULL;
}

static void
ossh_close(struct rconn *conn)
{
	struct ossh_conn *oc = conn->tp;
	struct stat sb;
	char **argv;
	int error, status = -1;
	pid_t pid;

	if (oc == NULL)
		return;
	conn->tp = NULL;
	loop_timer_cancel(conn->loop, oc->guard_timer);
	loop_timer_cancel(conn->loop, oc->retry_timer);
	if (oc->check != NULL)
		ossh_child_free(oc->check);
	if (oc->master != NULL)
		ossh_child_free(oc->master);
	if (oc->master_ok || lstat(oc->path, &sb) == 0) {
		argv = ossh_argv(oc, OSSH_EXIT, NULL);
		error = ossh_spawn(argv, -1, &pid);
		strv_free(argv);
		if (error == 0 && !ossh_wait_ms(pid, OSSH_EXIT_WAIT_MS,
		    &status)) {
			ossh_kill(pid);
			status = -1;
		}
		if ((error != 0 || status != 0) && oc->master_pid > 0 &&
		    proc_alive(oc->master_pid, oc->master_start))
			kill(oc->master_pid, SIGTERM);
	}
	ossh_destroy(oc);
}

const struct rtransport_ops rtransport_openssh = {
	.name = "openssh",
	.open = ossh_open,
	.exec = ossh_exec,
	.kick = ossh_kick,
	.chan_free = ossh_chan_free,
	.close = ossh_close,
};
