/*
 * test_transport_proc.c - proc.c and the local and OpenSSH transports,
 * driven for real through the poll loop: separate and complete output
 * streams, stdin, exit codes, early-closed pipes, exec failure, many
 * channels at once, teardown of running children; the OpenSSH command
 * lines checked as arrays through a stand-in ssh (DROVER_SSH), and a real
 * sshd on 127.0.0.1 for open/exec/close and the failure messages.
 *
 * The tests use the public rconn_* API and pass with remote/conn.c as well
 * as with -DTEST_STANDALONE_CONN, which compiles a minimal stand-in of it
 * below. DROVER_TEST_VERBOSE=1 prints how long an OpenSSH close took.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../remote/remote_int.h"

extern char **environ;

#ifdef TEST_STANDALONE_CONN
static char *standin_open_cause;

/*
 * Stand-in for conn.c: the transport is picked by cfg->transport, cfg is
 * copied shallowly (tests keep theirs alive), a channel is freed right
 * after its done callback, and close finishes live channels first.
 */
struct rconn *
rconn_open(struct loop *loop, const struct rhost_cfg *cfg,
    const struct rconn_opts *opts, rconn_ready_cb cb, void *arg)
{
	struct rconn *c = xcalloc(1, sizeof *c);
	char *cause = NULL;

	c->loop = loop;
	c->cfg = *cfg;
	if (opts != NULL)
		c->opts = *opts;
	c->ops = cfg->transport == RT_OPENSSH ? &rtransport_openssh :
	    &rtransport_local;
	c->ready_cb = cb;
	c->ready_arg = arg;
	if (c->ops->open(c, &cause) == -1) {
		free(standin_open_cause);
		standin_open_cause = cause;
		free(c);
		return NULL;
	}
	return c;
}

struct rchan *
rconn_exec(struct rconn *c, const char *command, rchan_data_cb data_cb,
    rchan_done_cb done_cb, void *arg)
{
	struct rchan *ch = xcalloc(1, sizeof *ch);
	char *cause = NULL;

	ch->conn = c;
	ch->command = xstrdup(command);
	ch->data_cb = data_cb;
	ch->done_cb = done_cb;
	ch->arg = arg;
	buf_init(&ch->in);
	if (c->ops->exec(c, ch, &cause) == -1) {
		log_debug("stand-in rconn_exec: %s", cause);
		free(cause);
		free(ch->command);
		free(ch);
		return NULL;
	}
	c->chans = xreallocarray(c->chans, c->nchans + 1, sizeof *c->chans);
	c->chans[c->nchans++] = ch;
	return ch;
}

void
rchan_write(struct rchan *ch, const void *p, size_t n)
{
	buf_add(&ch->in, p, n);
	if (!ch->done)
		ch->conn->ops->kick(ch);
}

void
rchan_eof(struct rchan *ch)
{
	ch->in_eof = 1;
	if (!ch->done)
		ch->conn->ops->kick(ch);
}

void
rconn_ready(struct rconn *c, const char *error)
{
	c->ready = error == NULL ? 1 : -1;
	c->ready_cb(c, error, c->ready_arg);
}

void
rchan_data(struct rchan *ch, int stream, const char *p, size_t n)
{
	if (!ch->done && ch->data_cb != NULL)
		ch->data_cb(ch, stream, p, n, ch->arg);
}

void
rchan_done(struct rchan *ch, int status, const char *error)
{
	struct rconn *c = ch->conn;
	size_t i;

	if (ch->done)
		return;
	ch->done = 1;
	ch->done_cb(ch, status, error, ch->arg);
	for (i = 0; i < c->nchans; i++) {
		if (c->chans[i] == ch) {
			c->chans[i] = c->chans[--c->nchans];
			break;
		}
	}
	c->ops->chan_free(ch);
	free(ch->command);
	buf_free(&ch->in);
	free(ch);
}

void
rconn_close(struct rconn *c)
{
	while (c->nchans > 0)
		rchan_done(c->chans[c->nchans - 1], -1, "connection closed");
	c->ops->close(c);
	free(c->chans);
	free(c);
}
#endif /* TEST_STANDALONE_CONN */

/* ---- helpers ------------------------------------------------------------ */

struct tconn {
	struct rconn *c;
	int ready;		/* calls of the ready callback */
	char *error;
	int in_open;
	int called_in_open;
};

struct tchan {
	struct rchan *ch;	/* NULL once done (it is freed) */
	struct buf out;
	struct buf err;
	int done;
	int status;
	char *error;
	uint64_t done_ms;
	struct rconn *close_on_data;	/* re-entrancy test */
};

static void
t_ready(struct rconn *c, const char *error, void *arg)
{
	struct tconn *tc = arg;

	tc->ready++;
	if (tc->in_open)
		tc->called_in_open = 1;
	free(tc->error);
	tc->error = error != NULL ? xstrdup(error) : NULL;
}

static void
t_data(struct rchan *ch, int stream, const char *p, size_t n, void *arg)
{
	struct tchan *t = arg;
	struct rconn *c;

	buf_add(stream == 1 ? &t->out : &t->err, p, n);
	if ((c = t->close_on_data) != NULL) {
		t->close_on_data = NULL;
		rconn_close(c);
	}
}

static void
t_done(struct rchan *ch, int status, const char *error, void *arg)
{
	struct tchan *t = arg;

	t->done++;
	t->status = status;
	t->error = error != NULL ? xstrdup(error) : NULL;
	t->done_ms = clock_mono_ms();
	t->ch = NULL;
}

static void
tchan_init(struct tchan *t)
{
	memset(t, 0, sizeof *t);
	buf_init(&t->out);
	buf_init(&t->err);
	t->status = -99;
}

static void
tchan_free(struct tchan *t)
{
	buf_free(&t->out);
	buf_free(&t->err);
	free(t->error);
}

static struct rconn *
t_open(struct loop *l, const struct rhost_cfg *cfg,
    const struct rconn_opts *opts, struct tconn *tc)
{
	memset(tc, 0, sizeof *tc);
	tc->in_open = 1;
	tc->c = rconn_open(l, cfg, opts, t_ready, tc);
	tc->in_open = 0;
	return tc->c;
}

static int
t_exec(struct rconn *c, const char *cmd, struct tchan *t)
{
	tchan_init(t);
	t->ch = rconn_exec(c, cmd, t_data, t_done, t);
	if (t->ch == NULL)
		test_fail(__FILE__, __LINE__, "rconn_exec(%s) failed", cmd);
	return t->ch == NULL ? -1 : 0;
}

/* Runs the loop until pred(arg) or timeout; returns pred's last value. */
static int
run_until(struct loop *l, int (*pred)(void *), void *arg, int timeout_ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;

	while (!pred(arg)) {
		if (clock_mono_ms() >= end)
			return 0;
		loop_run_once(l, 20);
	}
	return 1;
}

static int
pred_done(void *arg)
{
	return ((struct tchan *)arg)->done != 0;
}

static int
pred_ready(void *arg)
{
	return ((struct tconn *)arg)->ready != 0;
}

struct tmany {
	struct tchan *t;
	size_t n;
};

static int
pred_all_done(void *arg)
{
	struct tmany *m = arg;
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (!m->t[i].done)
			return 0;
	}
	return 1;
}

static int
pred_two_lines(void *arg)
{
	struct tchan *t = arg;
	size_t i, n = 0;

	for (i = 0; i < t->out.len; i++)
		n += t->out.data[i] == '\n';
	return n >= 2 || t->done;
}

static int
pred_out_has_ping(void *arg)
{
	struct tchan *t = arg;

	return t->out.len >= 5 || t->done;
}

static struct rconn *
local_conn(struct loop *l, struct rhost_cfg *cfg, struct tconn *tc)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->name = (char *)"localhost";
	cfg->hostname = (char *)"localhost";
	cfg->transport = RT_LOCAL;
	if (t_open(l, cfg, NULL, tc) == NULL) {
		test_fail(__FILE__, __LINE__, "rconn_open(local) failed");
		return NULL;
	}
	if (!run_until(l, pred_ready, tc, 2000) || tc->error != NULL) {
		test_fail(__FILE__, __LINE__, "local not ready: %s",
		    tc->error ? tc->error : "timeout");
		return NULL;
	}
	return tc->c;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		test_fail(__FILE__, __LINE__, "fopen %s: %s", path,
		    strerror(errno));
		return;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
env_set(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static int
run_cmd(const char *fmt, ...) PRINTFLIKE(1, 2);

static int
run_cmd(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	xvasprintf(&cmd, fmt, ap);
	va_end(ap);
	rc = system(cmd);
	free(cmd);
	return rc;
}

/* ---- the local transport and proc.c -------------------------------------- */

TEST(local_ready_is_reported_from_the_loop)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;

	memset(&cfg, 0, sizeof cfg);
	cfg.name = (char *)"localhost";
	cfg.transport = RT_LOCAL;
	REQUIRE(t_open(l, &cfg, NULL, &tc) != NULL);
	CHECK_INT(tc.ready, 0);
	CHECK(run_until(l, pred_ready, &tc, 1000));
	CHECK_INT(tc.ready, 1);
	CHECK_INT(tc.called_in_open, 0);
	CHECK(tc.error == NULL);
	CHECK_STR(rtransport_local.name, "local");
	rconn_close(tc.c);

	/* Closed before the ready timer fired: it must never fire. */
	REQUIRE(t_open(l, &cfg, NULL, &tc) != NULL);
	rconn_close(tc.c);
	loop_run_once(l, 20);
	CHECK_INT(tc.ready, 0);
	loop_free(l);
}

static int
check_pattern(const struct buf *b, const char *unit, size_t total)
{
	size_t i, n = strlen(unit);

	if (b->len != total)
		return 0;
	for (i = 0; i < total; i++) {
		if (b->data[i] != unit[i % n])
			return 0;
	}
	return 1;
}

TEST(local_streams_arrive_separately_and_completely)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t;
	struct buf want;
	int i;

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);
	/* Both streams written at once, 1 MiB and 512 KiB. */
	REQUIRE(t_exec(tc.c, "(yes abcdefghijklmno | head -c 1048576) & "
	    "(yes XYZ | head -c 524288 >&2) & wait", &t) == 0);
	REQUIRE(run_until(l, pred_done, &t, 10000));
	CHECK_INT(t.status, 0);
	CHECK(t.error == NULL);
	CHECK_INT(t.out.len, 1048576);
	CHECK_INT(t.err.len, 524288);
	CHECK(check_pattern(&t.out, "abcdefghijklmno\n", 1048576));
	CHECK(check_pattern(&t.err, "XYZ\n", 524288));
	tchan_free(&t);

	/* Interleaved small writes keep their order within each stream. */
	REQUIRE(t_exec(tc.c, "i=0; while [ $i -lt 2000 ]; do echo o$i; "
	    "echo e$i >&2; i=$((i+1)); done", &t) == 0);
	REQUIRE(run_until(l, pred_done, &t, 10000));
	buf_init(&want);
	for (i = 0; i < 2000; i++)
		buf_printf(&want, "o%d\n", i);
	CHECK(t.out.len == want.len &&
	    memcmp(t.out.data, want.data, want.len) == 0);
	buf_reset(&want);
	for (i = 0; i < 2000; i++)
		buf_printf(&want, "e%d\n", i);
	CHECK(t.err.len == want.len &&
	    memcmp(t.err.data, want.data, want.len) == 0);
	buf_free(&want);
	tchan_free(&t);
	rconn_close(tc.c);
	loop_free(l);
}

TEST(local_stdin_reaches_the_command)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t;
	struct buf in;
	size_t i;

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);

	/* Streaming: a line goes through before any EOF. */
	REQUIRE(t_exec(tc.c, "cat", &t) == 0);
	rchan_write(t.ch, "ping\n", 5);
	CHECK(run_until(l, pred_out_has_ping, &t, 3000));
	CHECK(t.out.len == 5 && memcmp(t.out.data, "ping\n", 5) == 0);
	CHECK_INT(t.done, 0);

	/* 300 KB, more than a pipe holds, some queued before the loop runs. */
	buf_init(&in);
	for (i = 0; i < 300 * 1024; i++)
		buf_addch(&in, (char)('A' + (i * 7 + i / 1000) % 26));
	rchan_write(t.ch, in.data, 100 * 1024);
	loop_run_once(l, 0);
	rchan_write(t.ch, in.data + 100 * 1024, in.len - 100 * 1024);
	rchan_eof(t.ch);
	REQUIRE(run_until(l, pred_done, &t, 10000));
	CHECK_INT(t.status, 0);
	CHECK_INT(t.out.len, 5 + in.len);
	CHECK(t.out.len == 5 + in.len &&
	    memcmp(t.out.data + 5, in.data, in.len) == 0);
	tchan_free(&t);

	/* EOF alone closes stdin: wc sees 0 bytes and exits. */
	REQUIRE(t_exec(tc.c, "wc -c", &t) == 0);
	rchan_eof(t.ch);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_STR(buf_cstr(&t.out), "0\n");
	tchan_free(&t);

	/* A command that does not read: no SIGPIPE for us, stdin dropped. */
	REQUIRE(t_exec(tc.c, "head -c 10; exit 2", &t) == 0);
	rchan_write(t.ch, in.data, in.len);
	rchan_eof(t.ch);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 2);
	CHECK(t.out.len == 10 && memcmp(t.out.data, in.data, 10) == 0);
	tchan_free(&t);

	/* stdin closed before the write, and the loop has not seen it yet:
	 * the write fails with EPIPE, which must not kill us. */
	REQUIRE(t_exec(tc.c, "exec <&-; sleep 0.3; exit 7", &t) == 0);
	usleep(150 * 1000);
	rchan_write(t.ch, "late", 4);
	rchan_eof(t.ch);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 7);
	tchan_free(&t);
	buf_free(&in);
	rconn_close(tc.c);
	loop_free(l);
}

TEST(local_exit_codes)
{
	static const struct {
		const char *cmd;
		int status;
	} cases[] = {
		{ "exit 0", 0 },
		{ "exit 3", 3 },
		{ "kill -9 $$", 128 + 9 },
		{ "kill -TERM $$", 128 + 15 },
		{ "true | false", 1 },
	};
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t[nitems(cases)];
	struct tmany m = { t, nitems(cases) };
	size_t i;

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);
	for (i = 0; i < nitems(cases); i++)
		REQUIRE(t_exec(tc.c, cases[i].cmd, &t[i]) == 0);
	CHECK(run_until(l, pred_all_done, &m, 5000));
	for (i = 0; i < nitems(cases); i++) {
		if (t[i].status != cases[i].status)
			test_fail(__FILE__, __LINE__, "%s: status %d, want %d",
			    cases[i].cmd, t[i].status, cases[i].status);
		CHECK_INT(t[i].done, 1);
		tchan_free(&t[i]);
	}
	rconn_close(tc.c);
	loop_free(l);
}

TEST(local_closed_output_still_waits_for_exit)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t;
	uint64_t start;

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);

	/* stdout closed at once, stderr used later, exit after 300 ms. */
	start = clock_mono_ms();
	REQUIRE(t_exec(tc.c, "exec >&-; sleep 0.3; echo bye >&2; exit 4",
	    &t) == 0);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 4);
	CHECK_INT(t.out.len, 0);
	CHECK_STR(buf_cstr(&t.err), "bye\n");
	CHECK(t.done_ms - start >= 300);
	tchan_free(&t);

	/* Both closed: only the exit status is left to wait for (reap
	 * timer), and it is not reported early. */
	start = clock_mono_ms();
	REQUIRE(t_exec(tc.c, "exec >&- 2>&-; sleep 0.3; exit 5", &t) == 0);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 5);
	CHECK(t.done_ms - start >= 300);
	CHECK(t.done_ms - start < 2000);
	tchan_free(&t);
	rconn_close(tc.c);
	loop_free(l);
}

/*
 * A channel set up by hand so rproc_spawn() can be given any argv and env;
 * handed to the connection like one rconn_exec() made.
 */
static struct rchan *
t_spawn(struct rconn *c, char *const *argv, char **env, struct tchan *t,
    char **cause)
{
	struct rchan *ch = xcalloc(1, sizeof *ch);

	tchan_init(t);
	ch->conn = c;
	ch->command = xstrdup(argv[0]);
	ch->data_cb = t_data;
	ch->done_cb = t_done;
	ch->arg = t;
	buf_init(&ch->in);
	if ((ch->tp = rproc_spawn(c->loop, argv, env, ch, cause)) == NULL) {
		free(ch->command);
		free(ch);
		return NULL;
	}
	c->chans = xreallocarray(c->chans, c->nchans + 1, sizeof *c->chans);
	c->chans[c->nchans++] = ch;
	t->ch = ch;
	return ch;
}

TEST(local_exec_failure_is_status_127)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t;
	char *cause = NULL;
	char prog[] = "/nonexistent/drover-prog", sh[] = "/bin/sh";
	char dash_c[] = "-c", cmd[] = "echo $DROVER_T; echo ${HOME:-unset}";
	char envv[] = "DROVER_T=42";
	char *argv[] = { prog, NULL };
	char *argv2[] = { sh, dash_c, cmd, NULL };
	char *env[] = { envv, NULL };

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);

	/* A command the remote shell cannot find. */
	REQUIRE(t_exec(tc.c, "drover-no-such-command-xyz", &t) == 0);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 127);
	CHECK(strstr(buf_cstr(&t.err), "not found") != NULL);
	tchan_free(&t);

	/* A program that cannot be executed at all: reported from the
	 * loop, never inside rproc_spawn(). */
	REQUIRE(t_spawn(tc.c, argv, NULL, &t, &cause) != NULL);
	CHECK_INT(t.done, 0);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 127);
	CHECK(t.error == NULL);
	CHECK_STR(buf_cstr(&t.err), "drover: cannot run "
	    "/nonexistent/drover-prog: No such file or directory\n");
	tchan_free(&t);

	/* env replaces the environment. */
	REQUIRE(t_spawn(tc.c, argv2, env, &t, &cause) != NULL);
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 0);
	CHECK_STR(buf_cstr(&t.out), "42\nunset\n");
	tchan_free(&t);
	rconn_close(tc.c);
	loop_free(l);
}

TEST(local_many_channels_in_one_loop)
{
	enum { N = 50 };
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t[N];
	struct tmany m = { t, N };
	char cmd[128], want[32];
	uint64_t start;
	int i, fds;

	fds = count_fds();
	REQUIRE(local_conn(l, &cfg, &tc) != NULL);
	start = clock_mono_ms();
	for (i = 0; i < N; i++) {
		snprintf(cmd, sizeof cmd, "sleep 0.3; echo %d; echo e%d >&2; "
		    "exit %d", i, i, i % 7);
		REQUIRE(t_exec(tc.c, cmd, &t[i]) == 0);
	}
	CHECK(run_until(l, pred_all_done, &m, 10000));
	/* Serially this would take 15 s. */
	CHECK(clock_mono_ms() - start < 5000);
	for (i = 0; i < N; i++) {
		CHECK_INT(t[i].status, i % 7);
		snprintf(want, sizeof want, "%d\n", i);
		CHECK_STR(buf_cstr(&t[i].out), want);
		snprintf(want, sizeof want, "e%d\n", i);
		CHECK_STR(buf_cstr(&t[i].err), want);
		tchan_free(&t[i]);
	}
	rconn_close(tc.c);
	loop_free(l);
	/* Every pipe was closed. */
	CHECK_INT(count_fds(), fds);
}

static int
gone(pid_t pid, uint64_t start)
{
	return !proc_alive(pid, start);
}

TEST(local_close_kills_running_children)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t;
	long sh_pid = 0, sleep_pid = 0;
	uint64_t sh_start = 0, sleep_start = 0, start;

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);
	/* The shell and a grandchild in its group. */
	REQUIRE(t_exec(tc.c, "sleep 30 & echo $!; echo $$; wait", &t) == 0);
	REQUIRE(run_until(l, pred_two_lines, &t, 5000));
	REQUIRE(sscanf(buf_cstr(&t.out), "%ld\n%ld", &sleep_pid, &sh_pid) == 2);
	REQUIRE(proc_start_time((pid_t)sh_pid, &sh_start) == 0);
	REQUIRE(proc_start_time((pid_t)sleep_pid, &sleep_start) == 0);
	/* Its own process group (setsid). */
	CHECK_INT(getpgid((pid_t)sh_pid), sh_pid);
	CHECK(getpgid((pid_t)sh_pid) != getpgrp());
	start = clock_mono_ms();
	rconn_close(tc.c);
	CHECK(clock_mono_ms() - start < 1000);
	CHECK_INT(t.done, 1);
	CHECK_INT(t.status, -1);
	/* Reaped by us (no zombie of ours), and the grandchild is gone. */
	errno = 0;
	CHECK(waitpid((pid_t)sh_pid, NULL, WNOHANG) == -1 && errno == ECHILD);
	CHECK(gone((pid_t)sh_pid, sh_start));
	usleep(50 * 1000);
	CHECK(gone((pid_t)sleep_pid, sleep_start));
	tchan_free(&t);

	/* One that ignores SIGTERM gets SIGKILL after the grace. */
	REQUIRE(local_conn(l, &cfg, &tc) != NULL);
	REQUIRE(t_exec(tc.c, "trap '' TERM; echo $$; echo x; "
	    "while :; do sleep 1; done", &t) == 0);
	REQUIRE(run_until(l, pred_two_lines, &t, 5000));
	REQUIRE(sscanf(buf_cstr(&t.out), "%ld", &sh_pid) == 1);
	REQUIRE(proc_start_time((pid_t)sh_pid, &sh_start) == 0);
	start = clock_mono_ms();
	rconn_close(tc.c);
	CHECK(clock_mono_ms() - start >= 20);
	CHECK(clock_mono_ms() - start < 3000);
	CHECK(gone((pid_t)sh_pid, sh_start));
	errno = 0;
	CHECK(waitpid((pid_t)sh_pid, NULL, WNOHANG) == -1 && errno == ECHILD);
	tchan_free(&t);
	loop_free(l);
}

TEST(local_close_from_inside_a_callback)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct tchan t;
	long pid = 0;
	uint64_t start = 0;
	int i;

	REQUIRE(local_conn(l, &cfg, &tc) != NULL);
	REQUIRE(t_exec(tc.c, "echo $$; exec sleep 30", &t) == 0);
	/* The first output closes everything from inside rchan_data(). */
	t.close_on_data = tc.c;
	REQUIRE(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, -1);
	REQUIRE(sscanf(buf_cstr(&t.out), "%ld", &pid) == 1);
	CHECK(proc_start_time((pid_t)pid, &start) == -1 ||
	    !proc_alive((pid_t)pid, start));
	/* The loop goes on with nothing of the channel left in it. */
	for (i = 0; i < 5; i++)
		loop_run_once(l, 10);
	tchan_free(&t);
	loop_free(l);
}

/* ---- OpenSSH: the command lines, through a stand-in ssh ----------------- */

static const char fake_ssh[] =
    "#!/bin/sh\n"
    "f=$(mktemp \"$FAKE_DIR/call.XXXXXX\")\n"
    "for a in \"$0\" \"$@\"; do printf '%s\\0' \"$a\"; done > \"$f\"\n"
    "mode=exec; prev=\n"
    "for a in \"$@\"; do\n"
    "  [ \"$prev\" = -O ] && mode=$a\n"
    "  [ \"$a\" = -N ] && mode=master\n"
    "  prev=$a\n"
    "done\n"
    "case $mode in\n"
    "master)\n"
    "  echo $$ > \"$FAKE_DIR/master.pid\"\n"
    "  case \"$FAKE_MASTER\" in\n"
    "  refused) echo 'ssh: connect to host 10.1.0.7 port 2222: "
    "Connection refused' >&2; exit 255;;\n"
    "  timeout) echo 'ssh: connect to host 10.1.0.7 port 2222: "
    "Connection timed out' >&2; exit 255;;\n"
    "  hostkey) printf '@@@@@@@@@@\\n@ WARNING: REMOTE HOST IDENTIFICATION "
    "HAS CHANGED! @\\n@@@@@@@@@@\\nOffending ED25519 key in /kh:3\\n"
    "Host key verification failed.\\n' >&2; exit 255;;\n"
    "  denied) echo 'trainer@10.1.0.7: Permission denied (publickey).' >&2;"
    " exit 255;;\n"
    "  hang) exec sleep 600;;\n"
    "  esac\n"
    "  exit 0;;\n"
    "check)\n"
    "  if [ \"$FAKE_CHECK\" = fail ]; then\n"
    "    echo 'Control socket connect(x): No such file or directory' >&2\n"
    "    exit 255\n"
    "  fi\n"
    "  echo \"Master running (pid=$$)\" >&2; exit 0;;\n"
    "exit) echo 'Exit request sent.' >&2; exit 0;;\n"
    "esac\n"
    "eval \"cmd=\\${$#}\"\n"
    "exec /bin/sh -c \"$cmd\"\n";

struct fake {
	char dir[512];
	char ssh[600];
	char id1[600];		/* identity files; id3 does not exist */
	char id2[600];
	char id2_pct[600];	/* id2 as ssh must be given it */
	char id3[600];
	char *ids[4];
	char *kh[3];
};

static void
fake_setup(struct fake *f)
{
	snprintf(f->dir, sizeof f->dir, "%s/fake", test_tmpdir());
	mkdir(f->dir, 0755);
	snprintf(f->ssh, sizeof f->ssh, "%s/ssh", f->dir);
	write_file(f->ssh, fake_ssh, 0755);
	snprintf(f->id1, sizeof f->id1, "%s/id_ed25519", f->dir);
	snprintf(f->id2, sizeof f->id2, "%s/with space/id%%1", f->dir);
	snprintf(f->id2_pct, sizeof f->id2_pct, "%s/with space/id%%%%1",
	    f->dir);
	snprintf(f->id3, sizeof f->id3, "%s/missing", f->dir);
	write_file(f->id1, "key\n", 0600);
	if (run_cmd("mkdir '%s/with space'", f->dir) != 0)
		test_fail(__FILE__, __LINE__, "mkdir");
	write_file(f->id2, "key\n", 0600);
	f->ids[0] = f->id1;
	f->ids[1] = f->id3;
	f->ids[2] = f->id2;
	f->ids[3] = NULL;
	f->kh[0] = (char *)"/kh/user";
	f->kh[1] = (char *)"/kh/with space/global";
	f->kh[2] = NULL;
	env_set("FAKE_DIR", f->dir);
	env_set("DROVER_SSH", f->ssh);
	env_set("FAKE_MASTER", NULL);
	env_set("FAKE_CHECK", NULL);
}

static void
fake_teardown(void)
{
	env_set("FAKE_DIR", NULL);
	env_set("DROVER_SSH", NULL);
	env_set("FAKE_MASTER", NULL);
	env_set("FAKE_CHECK", NULL);
	env_set("DROVER_SSH_CONFIG", NULL);
}

struct call {
	char *v[64];
	int n;
	char *data;
};

/* Reads every recorded invocation; returns how many. */
static int
fake_calls(const struct fake *f, struct call *calls, int max)
{
	DIR *d = opendir(f->dir);
	struct dirent *e;
	struct buf b;
	char path[1200], *cause = NULL;
	size_t off, len;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		if (strncmp(e->d_name, "call.", 5) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
		buf_init(&b);
		if (file_read_all(path, 1 << 20, &b, &cause) == -1) {
			free(cause);
			cause = NULL;
			continue;
		}
		len = b.len;
		calls[n].data = buf_steal(&b);
		calls[n].n = 0;
		/* NUL-terminated arguments, one after another */
		for (off = 0; off < len && calls[n].n < 63;) {
			calls[n].v[calls[n].n++] = calls[n].data + off;
			off += strlen(calls[n].data + off) + 1;
		}
		calls[n].v[calls[n].n] = NULL;
		n++;
	}
	closedir(d);
	return n;
}

static void
fake_forget(const struct fake *f)
{
	if (run_cmd("rm -f '%s'/call.*", f->dir) != 0)
		test_fail(__FILE__, __LINE__, "rm %s/call.*", f->dir);
}

static void
calls_free(struct call *calls, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(calls[i].data);
}

/* The call whose argv holds word (master: "-N", exec: "-T"...). */
static struct call *
call_with(struct call *calls, int n, const char *word, const char *next)
{
	int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < calls[i].n; j++) {
			if (strcmp(calls[i].v[j], word) == 0 && (next == NULL ||
			    (j + 1 < calls[i].n &&
			    strcmp(calls[i].v[j + 1], next) == 0)))
				return &calls[i];
		}
	}
	return NULL;
}

static void
check_argv(const char *what, const struct call *c, char *const *want)
{
	int i;

	if (c == NULL) {
		test_fail(__FILE__, __LINE__, "%s: never ran", what);
		return;
	}
	for (i = 0; want[i] != NULL && i < c->n; i++) {
		if (strcmp(c->v[i], want[i]) != 0) {
			test_fail(__FILE__, __LINE__, "%s argv[%d]: \"%s\" != "
			    "\"%s\"", what, i, c->v[i], want[i]);
			return;
		}
	}
	if (want[i] != NULL || i != c->n)
		test_fail(__FILE__, __LINE__, "%s: %d arguments, want %d", what,
		    c->n, i + (want[i] != NULL));
}

static void
fake_cfg(struct rhost_cfg *cfg, struct fake *f)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->name = (char *)"gpu01";
	cfg->hostname = (char *)"10.1.0.7";
	cfg->user = (char *)"trainer";
	cfg->port = 2222;
	cfg->identity_files = f->ids;
	cfg->known_hosts = f->kh;
	cfg->proxy_jump = (char *)"admin@bastion:2200";
	cfg->strict = RS_YES;
	cfg->transport = RT_OPENSSH;
}

TEST(openssh_command_lines_exactly)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct rconn_opts opts = { 7000, 1, 20 };
	struct tconn tc;
	struct tchan t;
	struct fake f;
	struct call calls[16];
	struct stat sb;
	char cp[600], dir[600], *slash;
	const char *path = NULL;
	int n, i, fds = count_fds();

	fake_setup(&f);
	env_set("DROVER_SSH_CONFIG", "/etc/drover-test/ssh_config");
	env_set("XDG_RUNTIME_DIR", test_tmpdir());
	fake_cfg(&cfg, &f);
	REQUIRE(t_open(l, &cfg, &opts, &tc) != NULL);
	CHECK_STR(rtransport_openssh.name, "openssh");
	CHECK(run_until(l, pred_ready, &tc, 5000));
	CHECK_INT(tc.called_in_open, 0);
	if (tc.error != NULL)
		test_fail(__FILE__, __LINE__, "ready: %s", tc.error);
	REQUIRE(tc.ready == 1 && tc.error == NULL);

	REQUIRE(t_exec(tc.c, "echo hi; echo there >&2; exit 6", &t) == 0);
	CHECK(run_until(l, pred_done, &t, 5000));
	CHECK_INT(t.status, 6);
	CHECK_STR(buf_cstr(&t.out), "hi\n");
	CHECK_STR(buf_cstr(&t.err), "there\n");
	tchan_free(&t);

	n = fake_calls(&f, calls, 16);
	CHECK_INT(n, 3);
	for (i = 0; i < n; i++) {
		if (strcmp(calls[i].v[calls[i].n - 1], "gpu01") == 0 &&
		    calls[i].n > 2 && strcmp(calls[i].v[calls[i].n - 2],
		    "-N") == 0 && calls[i].n > 8)
			path = calls[i].v[8];
	}
	REQUIRE(path != NULL && strncmp(path, "ControlPath=", 12) == 0);
	snprintf(cp, sizeof cp, "%s", path);
	/* A short socket path in a private directory under XDG_RUNTIME_DIR. */
	CHECK(strlen(cp + 12) < 100);
	CHECK(strncmp(cp + 12, test_tmpdir(), strlen(test_tmpdir())) == 0);
	snprintf(dir, sizeof dir, "%s", cp + 12);
	REQUIRE((slash = strrchr(dir, '/')) != NULL);
	*slash = '\0';
	REQUIRE(lstat(dir, &sb) == 0);
	CHECK(S_ISDIR(sb.st_mode));
	CHECK_INT(sb.st_mode & 0777, 0700);
	CHECK_INT(sb.st_uid, getuid());

#define COMMON(master)							\
	f.ssh, "-F", "/etc/drover-test/ssh_config",			\
	"-o", master ? "ControlMaster=yes" : "ControlMaster=no"
#define REST								\
	"-o", cp, "-o", "BatchMode=yes", "-o", "ConnectTimeout=7",	\
	"-o", "ServerAliveInterval=20", "-o", "HostName=10.1.0.7",	\
	"-p", "2222", "-l", "trainer",					\
	"-i", f.id1, "-i", f.id2_pct,					\
	"-o", "UserKnownHostsFile=/kh/user \"/kh/with space/global\"",	\
	"-o", "GlobalKnownHostsFile=/dev/null",				\
	"-o", "StrictHostKeyChecking=accept-new",			\
	"-J", "admin@bastion:2200"
	{
		char *want_master[] = { COMMON(1), "-o", "ControlPersist=600",
		    REST, "-N", "gpu01", NULL };
		char *want_check[] = { COMMON(0), REST, "-O", "check", "gpu01",
		    NULL };
		char *want_exec[] = { COMMON(0), REST, "-o", "LogLevel=ERROR",
		    "-T", "gpu01", "--",
		    "echo hi; echo there >&2; exit 6", NULL };
		char *want_exit[] = { COMMON(0), REST, "-O", "exit", "gpu01",
		    NULL };

		check_argv("master", call_with(calls, n, "-N", NULL),
		    want_master);
		check_argv("check", call_with(calls, n, "-O", "check"),
		    want_check);
		check_argv("exec", call_with(calls, n, "-T", NULL), want_exec);
		calls_free(calls, n);

		rconn_close(tc.c);
		n = fake_calls(&f, calls, 16);
		CHECK_INT(n, 4);
		check_argv("exit", call_with(calls, n, "-O", "exit"),
		    want_exit);
		calls_free(calls, n);
	}
#undef COMMON
#undef REST
	/* The private directory goes with the last connection. */
	CHECK(lstat(dir, &sb) == -1 && errno == ENOENT);

	/* Without a user/port/keys/known_hosts/jump, none of their options;
	 * the name is the host name; strict checking as configured. */
	memset(&cfg, 0, sizeof cfg);
	cfg.name = (char *)"10.1.0.9";
	cfg.hostname = (char *)"10.1.0.9";
	cfg.strict = RS_NO;
	cfg.connect_timeout_s = 4;
	cfg.transport = RT_OPENSSH;
	env_set("DROVER_SSH_CONFIG", NULL);
	fake_forget(&f);
	opts.accept_new = 1;
	REQUIRE(t_open(l, &cfg, &opts, &tc) != NULL);
	CHECK(run_until(l, pred_ready, &tc, 5000));
	CHECK(tc.error == NULL);
	n = fake_calls(&f, calls, 16);
	{
		struct call *m = call_with(calls, n, "-N", NULL);
		char *want[] = { f.ssh, "-o", "ControlMaster=yes", "-o",
		    "ControlPersist=600", "-o", cp, "-o", "BatchMode=yes",
		    "-o", "ConnectTimeout=4", "-o", "ServerAliveInterval=20",
		    "-o", "StrictHostKeyChecking=no", "-N", "10.1.0.9", NULL };
		REQUIRE(m != NULL && m->n > 8);
		snprintf(cp, sizeof cp, "%s", m->v[6]);
		check_argv("plain master", m, want);
	}
	calls_free(calls, n);
	rconn_close(tc.c);
	free(tc.error);
	fake_teardown();
	env_set("XDG_RUNTIME_DIR", NULL);
	loop_free(l);
	/* No pipe of the master, check, exit or channel children is left. */
	CHECK_INT(count_fds(), fds);
}

static void
open_expect_error(struct loop *l, struct rhost_cfg *cfg,
    struct rconn_opts *opts, const char *const *words, int timeout_ms)
{
	struct tconn tc;
	int i;

	if (t_open(l, cfg, opts, &tc) == NULL) {
		test_fail(__FILE__, __LINE__, "open failed at once");
		return;
	}
	if (!run_until(l, pred_ready, &tc, timeout_ms)) {
		test_fail(__FILE__, __LINE__, "no verdict in %d ms",
		    timeout_ms);
		rconn_close(tc.c);
		return;
	}
	CHECK_INT(tc.ready, 1);
	if (tc.error == NULL)
		test_fail(__FILE__, __LINE__, "connected, want %s", words[0]);
	for (i = 0; tc.error != NULL && words[i] != NULL; i++) {
		if (strstr(tc.error, words[i]) == NULL)
			test_fail(__FILE__, __LINE__, "\"%s\" not in \"%s\"",
			    words[i], tc.error);
	}
	rconn_close(tc.c);
	free(tc.error);
}

TEST(openssh_failures_say_why)
{
	static const struct {
		const char *mode;
		const char *words[4];
	} cases[] = {
		{ "refused", { "gpu01: ", "Connection refused",
		    "is sshd running", NULL } },
		{ "timeout", { "Connection timed out", "firewall", NULL } },
		{ "hostkey", { "Host key verification failed",
		    "Offending ED25519 key in /kh:3", "known_hosts", NULL } },
		{ "denied", { "Permission denied (publickey)",
		    "authorized_keys", "exit status 255", NULL } },
	};
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct rconn_opts opts = { 5000, 0, 0 };
	struct tconn tc;
	struct fake f;
	char pidfile[700], data[64];
	const char *const check_words[] = { "does not answer",
	    "No such file or directory", NULL };
	const char *const hang_words[] = { "no connection within 2600 ms",
	    "firewall", NULL };
	long pid;
	uint64_t start;
	size_t i;

	fake_setup(&f);
	fake_cfg(&cfg, &f);
	for (i = 0; i < nitems(cases); i++) {
		env_set("FAKE_MASTER", cases[i].mode);
		open_expect_error(l, &cfg, &opts, cases[i].words, 5000);
	}
	/* The banner is not repeated in the message. */
	env_set("FAKE_MASTER", "hostkey");
	REQUIRE(t_open(l, &cfg, &opts, &tc) != NULL);
	REQUIRE(run_until(l, pred_ready, &tc, 5000));
	CHECK(tc.error != NULL && strstr(tc.error, "@") == NULL);
	rconn_close(tc.c);
	free(tc.error);

	/* The master went to the background but never answers. */
	env_set("FAKE_MASTER", NULL);
	env_set("FAKE_CHECK", "fail");
	open_expect_error(l, &cfg, &opts, check_words, 5000);
	env_set("FAKE_CHECK", NULL);

	/* A master that hangs: the guard (2 x 300 ms + 2 s) ends it, and
	 * nothing of it is left. */
	env_set("FAKE_MASTER", "hang");
	opts.connect_timeout_ms = 300;
	start = clock_mono_ms();
	open_expect_error(l, &cfg, &opts, hang_words, 6000);
	CHECK(clock_mono_ms() - start >= 2600);
	snprintf(pidfile, sizeof pidfile, "%s/master.pid", f.dir);
	REQUIRE(file_read_small(pidfile, data, sizeof data, 0) > 0);
	pid = strtol(data, NULL, 10);
	CHECK(pid > 0 && kill((pid_t)pid, 0) == -1 && errno == ESRCH);

	/* A name ssh would read as an option is refused before any ssh. */
	cfg.name = (char *)"-oProxyCommand=touch /tmp/x";
	tc.c = t_open(l, &cfg, &opts, &tc);
#ifdef TEST_STANDALONE_CONN
	if (tc.c == NULL) {
		CHECK(standin_open_cause != NULL && strstr(standin_open_cause,
		    "begins with '-'") != NULL);
		free(standin_open_cause);
		standin_open_cause = NULL;
	}
#endif
	if (tc.c != NULL) {
		run_until(l, pred_ready, &tc, 2000);
		CHECK(tc.error != NULL &&
		    strstr(tc.error, "begins with '-'") != NULL);
		rconn_close(tc.c);
	}
	free(tc.error);
	fake_teardown();
	loop_free(l);
}

TEST(openssh_without_ssh_fails_to_open)
{
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct tconn tc;
	struct fake f;

	fake_setup(&f);
	env_set("DROVER_SSH", "/nonexistent/ssh");
	fake_cfg(&cfg, &f);
	tc.c = t_open(l, &cfg, NULL, &tc);
#ifdef TEST_STANDALONE_CONN
	if (tc.c == NULL) {
		CHECK(standin_open_cause != NULL && strstr(standin_open_cause,
		    "cannot run /nonexistent/ssh") != NULL);
		free(standin_open_cause);
		standin_open_cause = NULL;
	}
#else
	CHECK(tc.c != NULL);
#endif
	if (tc.c != NULL) {
		/* A conn.c that reports it through the callback instead. */
		run_until(l, pred_ready, &tc, 2000);
		CHECK(tc.error != NULL &&
		    strstr(tc.error, "cannot run") != NULL);
		rconn_close(tc.c);
		free(tc.error);
	}
	fake_teardown();
	loop_free(l);
}

/* ---- OpenSSH against a real sshd on 127.0.0.1 ---------------------------- */

struct sshd {
	pid_t pid;
	int port;
	int closed_port;
	char dir[512];
	char conf[600];
};

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int s, port = -1;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(s, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(s);
	return port;
}

static int
port_open(int port)
{
	struct sockaddr_in sin;
	int s, ok;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = connect(s, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(s);
	return ok;
}

static const char *
key_line(const char *pubfile, char *line, size_t size)
{
	char *sp;

	if (file_read_small(pubfile, line, size, 0) <= 0)
		return NULL;
	/* "type base64 comment": keep type and key */
	if ((sp = strchr(line, ' ')) != NULL &&
	    (sp = strchr(sp + 1, ' ')) != NULL)
		*sp = '\0';
	line[strcspn(line, "\n")] = '\0';
	return line;
}

/* 0 started, 1 skipped (no sshd here), -1 failed */
static int
sshd_start(struct sshd *s)
{
	posix_spawn_file_actions_t fa;
	char path[700], logpath[700], text[4096], key[1024], other[1024];
	char *argv[7];
	struct passwd *pw = getpwuid(getuid());
	const char *d;
	int i;

	memset(s, 0, sizeof *s);
	if (access("/usr/sbin/sshd", X_OK) != 0 ||
	    access("/usr/bin/ssh-keygen", X_OK) != 0 ||
	    access("/usr/bin/ssh", X_OK) != 0 || pw == NULL)
		return 1;
	d = test_tmpdir();
	snprintf(s->dir, sizeof s->dir, "%s", d);
	if (run_cmd("cd '%s' && ssh-keygen -q -t ed25519 -N '' -f hostkey && "
	    "ssh-keygen -q -t ed25519 -N '' -f id && "
	    "ssh-keygen -q -t ed25519 -N '' -f other && "
	    "cp id.pub authorized_keys && mkdir 'kh dir'", d) != 0)
		return -1;
	if ((s->port = free_port()) <= 0 || (s->closed_port = free_port()) <= 0)
		return -1;
	snprintf(path, sizeof path, "%s/hostkey.pub", d);
	snprintf(logpath, sizeof logpath, "%s/other.pub", d);
	if (key_line(path, key, sizeof key) == NULL ||
	    key_line(logpath, other, sizeof other) == NULL)
		return -1;
	snprintf(text, sizeof text, "[127.0.0.1]:%d %s\n", s->port, key);
	snprintf(path, sizeof path, "%s/known_hosts", d);
	write_file(path, text, 0644);
	snprintf(path, sizeof path, "%s/kh dir/known_hosts", d);
	write_file(path, text, 0644);
	snprintf(text, sizeof text, "[127.0.0.1]:%d %s\n", s->port, other);
	snprintf(path, sizeof path, "%s/kh_bad", d);
	write_file(path, text, 0644);

	/* HOME: bash reads ~/.bashrc for ssh commands; keep the user's rc
	 * files (slow ones exist) out of the test. */
	snprintf(text, sizeof text,
	    "Port %d\nListenAddress 127.0.0.1\nHostKey %s/hostkey\n"
	    "AuthorizedKeysFile %s/authorized_keys\nStrictModes no\n"
	    "UsePAM no\nPasswordAuthentication no\n"
	    "KbdInteractiveAuthentication no\nPidFile none\n"
	    "MaxSessions 64\nPermitRootLogin prohibit-password\n"
	    "SetEnv HOME=%s\nLogLevel ERROR\n", s->port, d, d, d);
	snprintf(path, sizeof path, "%s/sshd_config", d);
	write_file(path, text, 0644);

	/* One complete block per alias; -F means no other config. */
	snprintf(text, sizeof text,
	    "Host dt\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
	    "  IdentityFile %s/id\n  IdentitiesOnly yes\n"
	    "  UserKnownHostsFile %s/known_hosts\n"
	    "  StrictHostKeyChecking yes\n"
	    "Host dt-hostkey\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
	    "  IdentityFile %s/id\n  IdentitiesOnly yes\n"
	    "  UserKnownHostsFile %s/kh_bad\n  StrictHostKeyChecking yes\n"
	    "Host dt-denied\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
	    "  IdentityFile %s/other\n  IdentitiesOnly yes\n"
	    "  UserKnownHostsFile %s/known_hosts\n"
	    "  StrictHostKeyChecking yes\n"
	    "Host dt-refused\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
	    "  IdentityFile %s/id\n  IdentitiesOnly yes\n"
	    "  UserKnownHostsFile %s/known_hosts\n"
	    "Host dt-new\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
	    "  IdentityFile %s/id\n  IdentitiesOnly yes\n"
	    "  UserKnownHostsFile %s/kh_new\n  StrictHostKeyChecking yes\n",
	    s->port, pw->pw_name, d, d, s->port, pw->pw_name, d, d,
	    s->port, pw->pw_name, d, d, s->closed_port, pw->pw_name, d, d,
	    s->port, pw->pw_name, d, d);
	snprintf(s->conf, sizeof s->conf, "%s/ssh_config", d);
	write_file(s->conf, text, 0644);

	if (getuid() == 0)
		mkdir("/run/sshd", 0755);	/* privilege separation */
	snprintf(path, sizeof path, "%s/sshd_config", d);
	snprintf(logpath, sizeof logpath, "%s/sshd.log", d);
	argv[0] = (char *)"/usr/sbin/sshd";
	argv[1] = (char *)"-D";
	argv[2] = (char *)"-e";
	argv[3] = (char *)"-f";
	argv[4] = path;
	argv[5] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, logpath,
	    O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (posix_spawn(&s->pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	for (i = 0; i < 300; i++) {
		if (port_open(s->port))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		usleep(10 * 1000);
	}
	if (file_read_small(logpath, text, sizeof text, 0) > 0)
		printf("  sshd did not start: %s\n", text);
	return 1;
}

static void
sshd_stop(struct sshd *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

/* Processes whose command line holds both strings. */
static int
procs_with(const char *a, const char *b, pid_t *pids, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[300], data[4096];
	ssize_t n, i;
	int found = 0, fd;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && found < max) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
		if ((fd = open(path, O_RDONLY)) == -1)
			continue;
		n = read(fd, data, sizeof data - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (data[i] == '\0')
				data[i] = ' ';
		}
		data[n] = '\0';
		if (strstr(data, a) != NULL && strstr(data, b) != NULL)
			pids[found++] = (pid_t)atol(e->d_name);
	}
	closedir(d);
	return found;
}

static int
live_resolve(const char *host, struct rhost_cfg *cfg)
{
	char *cause = NULL;

	if (sshconfig_resolve(host, cfg, &cause) == -1) {
		test_fail(__FILE__, __LINE__, "resolve %s: %s", host, cause);
		free(cause);
		return -1;
	}
	cfg->transport = RT_OPENSSH;
	return 0;
}

TEST(openssh_real_sshd)
{
	enum { N = 10 };
	struct loop *l = loop_new();
	struct rhost_cfg cfg;
	struct rconn_opts opts = { 5000, 0, 0 };
	struct tconn tc;
	struct tchan t, many[N];
	struct tmany m = { many, N };
	struct sshd s;
	struct buf in;
	struct stat sb;
	char path[700], cmd[64], want[64], *kh[2], **saved_kh, data[512];
	const char *const w_hostkey[] = { "dt-hostkey: ",
	    "Host key verification failed", NULL };
	const char *const w_denied[] = { "Permission denied", NULL };
	const char *const w_refused[] = { "Connection refused", NULL };
	pid_t pids[8], master;
	uint64_t master_start = 0, start, close_ms;
	size_t i;
	int rc;

	if ((rc = sshd_start(&s)) != 0) {
		sshd_stop(&s);
		if (rc == 1)
			printf("  SKIP: no usable sshd here; the rig covers "
			    "this\n");
		else
			test_fail(__FILE__, __LINE__, "test sshd setup failed");
		loop_free(l);
		return;
	}
	env_set("DROVER_SSH_CONFIG", s.conf);
	env_set("XDG_RUNTIME_DIR", s.dir);

	/* Connect; known_hosts from a path with a space, passed quoted. */
	if (live_resolve("dt", &cfg) == -1)
		goto out;
	saved_kh = cfg.known_hosts;
	snprintf(path, sizeof path, "%s/kh dir/known_hosts", s.dir);
	kh[0] = path;
	kh[1] = NULL;
	cfg.known_hosts = kh;
	REQUIRE(t_open(l, &cfg, &opts, &tc) != NULL);
	if (!run_until(l, pred_ready, &tc, 10000) || tc.error != NULL) {
		test_fail(__FILE__, __LINE__, "connect: %s", tc.error ?
		    tc.error : "timeout");
		rconn_close(tc.c);
		free(tc.error);
		cfg.known_hosts = saved_kh;
		rhost_cfg_clear(&cfg);
		goto out;
	}
	/* One master, in the background, not our child. */
	CHECK_INT(procs_with(s.dir, "ControlMaster=yes", pids, 8), 1);
	master = pids[0];
	CHECK(proc_start_time(master, &master_start) == 0);
	CHECK(waitpid(master, NULL, WNOHANG) == -1);

	REQUIRE(t_exec(tc.c, "echo out; echo err >&2; exit 3", &t) == 0);
	CHECK(run_until(l, pred_done, &t, 10000));
	CHECK_INT(t.status, 3);
	CHECK_STR(buf_cstr(&t.out), "out\n");
	CHECK_STR(buf_cstr(&t.err), "err\n");
	tchan_free(&t);

	/* stdin through the multiplexed channel, 200 KB. */
	buf_init(&in);
	for (i = 0; i < 200 * 1024; i++)
		buf_addch(&in, (char)('a' + i % 23));
	REQUIRE(t_exec(tc.c, "cat", &t) == 0);
	rchan_write(t.ch, in.data, in.len);
	rchan_eof(t.ch);
	CHECK(run_until(l, pred_done, &t, 10000));
	CHECK_INT(t.status, 0);
	CHECK(t.out.len == in.len && memcmp(t.out.data, in.data, in.len) == 0);
	tchan_free(&t);
	buf_free(&in);

	/* Channels at once over the one master. */
	for (i = 0; i < N; i++) {
		snprintf(cmd, sizeof cmd, "echo %zu; exit %zu", i * i, i % 4);
		REQUIRE(t_exec(tc.c, cmd, &many[i]) == 0);
	}
	CHECK(run_until(l, pred_all_done, &m, 20000));
	for (i = 0; i < N; i++) {
		snprintf(want, sizeof want, "%zu\n", i * i);
		CHECK_STR(buf_cstr(&many[i].out), want);
		CHECK_INT(many[i].status, (int)(i % 4));
		tchan_free(&many[i]);
	}

	/* A remote command killed by a signal: ssh says 255. */
	REQUIRE(t_exec(tc.c, "kill -9 $$", &t) == 0);
	CHECK(run_until(l, pred_done, &t, 10000));
	CHECK_INT(t.status, 255);
	tchan_free(&t);

	/* ssh -O exit, waited for: a local round trip, well under 1 s. */
	start = clock_mono_ms();
	rconn_close(tc.c);
	close_ms = clock_mono_ms() - start;
	CHECK(close_ms < 1000);
	if (getenv("DROVER_TEST_VERBOSE") != NULL)
		printf("  openssh close took %llu ms\n",
		    (unsigned long long)close_ms);
	free(tc.error);
	cfg.known_hosts = saved_kh;
	rhost_cfg_clear(&cfg);
	/* The master is gone, and so is the private directory. */
	usleep(100 * 1000);
	CHECK(!proc_alive(master, master_start));
	CHECK_INT(procs_with(s.dir, "ControlMaster=yes", pids, 8), 0);
	snprintf(path, sizeof path, "%s", s.dir);
	{
		DIR *d = opendir(s.dir);
		struct dirent *e;

		while (d != NULL && (e = readdir(d)) != NULL)
			CHECK(strncmp(e->d_name, "drover-ssh.", 11) != 0);
		if (d != NULL)
			closedir(d);
	}

	/* Failures, each in ssh's words. */
	if (live_resolve("dt-hostkey", &cfg) == 0) {
		open_expect_error(l, &cfg, &opts, w_hostkey, 10000);
		rhost_cfg_clear(&cfg);
	}
	if (live_resolve("dt-denied", &cfg) == 0) {
		open_expect_error(l, &cfg, &opts, w_denied, 10000);
		rhost_cfg_clear(&cfg);
	}
	if (live_resolve("dt-refused", &cfg) == 0) {
		open_expect_error(l, &cfg, &opts, w_refused, 10000);
		rhost_cfg_clear(&cfg);
	}

	/* An unknown host: refused under "yes", recorded with accept_new. */
	if (live_resolve("dt-new", &cfg) == 0) {
		open_expect_error(l, &cfg, &opts, w_hostkey + 1, 10000);
		opts.accept_new = 1;
		REQUIRE(t_open(l, &cfg, &opts, &tc) != NULL);
		CHECK(run_until(l, pred_ready, &tc, 10000));
		CHECK(tc.error == NULL);
		rconn_close(tc.c);
		free(tc.error);
		rhost_cfg_clear(&cfg);
		snprintf(path, sizeof path, "%s/kh_new", s.dir);
		snprintf(want, sizeof want, "[127.0.0.1]:%d ", s.port);
		CHECK(file_read_small(path, data, sizeof data, 0) > 0 &&
		    strstr(data, want) != NULL);
	}
	CHECK(stat(s.dir, &sb) == 0);

out:
	env_set("DROVER_SSH_CONFIG", NULL);
	env_set("XDG_RUNTIME_DIR", NULL);
	sshd_stop(&s);
	loop_free(l);
}
