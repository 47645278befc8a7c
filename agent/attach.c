/*
 * attach.c - `drover-agent attach RUNDIR [--from SEQ] [--adopt]`: the hello
 * line, then every spooled event with seq >= SEQ, then the spool followed
 * live by seq (inotify, with a poll as fallback) with a heartbeat each
 * second, until the run has ended and all is sent (exit 0) or the channel
 * closes. Commands read on stdin go to the supervisor's ctl FIFO. Any
 * number of attaches may run at once; none of them writes the spool.
 */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define ATTACH_HB_MS 1000
#define ATTACH_POLL_MS 250
/* Under this much room the run directory's disk counts as full: the
 * spool and the rank logs then wait in memory (spool.c, shim.c). */
#define ATTACH_DISK_LOW (1024 * 1024)

struct attach {
	const char *run_dir;
	char *spool_path;
	struct loop *loop;
	struct spool_reader *reader;
	struct buf line;
	struct buf cmd_in;
	int64_t last_sent;
	int rc;
	int ino_fd;
	int disk_full;		/* what was said last: -1 nothing yet */
};

static void
attach_out(struct attach *a, const char *p, size_t n)
{
	if (write_full(1, p, n) == -1) {
		/* The channel is gone: nothing more to do. */
		a->rc = errno == EPIPE ? 0 : 1;
		loop_stop(a->loop);
	}
}

static void
attach_out_json(struct attach *a, json_t *o)
{
	size_t n;
	char *line = proto_encode_line(o, &n);

	attach_out(a, line, n);
	free(line);
	json_decref(o);
}

static void
attach_error(struct attach *a, const char *msg)
{
	attach_out_json(a, json_pack("{s:s, s:I, s:o}", "type", "error", "t",
	    (json_int_t)clock_wall_ms(), "msg", proto_string(msg,
	    strlen(msg))));
}

static void
attach_pump(struct attach *a)
{
	int n;

	while ((n = spool_reader_next(a->reader, &a->line)) == 1) {
		buf_addch(&a->line, '\n');
		attach_out(a, a->line.data, a->line.len);
		if (a->line.len > 8 && memcmp(a->line.data, "{\"seq\":", 7) == 0)
			a->last_sent = strtoll(a->line.data + 7, NULL, 10);
	}
	if (n == -1) {
		attach_error(a, "reading the spool failed");
		a->rc = 1;
		loop_stop(a->loop);
	}
}

/* The run is over when its last event says so and no agent is left. */
static int
attach_ended(struct attach *a)
{
	json_t *o = spool_peek_last(a->spool_path);
	int ended = 0;
	const char *scope, *state;

	if (o != NULL) {
		scope = proto_get_string(o, "scope");
		state = proto_get_string(o, "state");
		ended = scope != NULL && state != NULL &&
		    strcmp(scope, "run") == 0 && strcmp(state, "exited") == 0;
	}
	json_decref(o);
	return ended && !rundir_agent_alive(a->run_dir);
}

/*
 * A full disk under the run directory would otherwise be silence: nothing
 * written, so nothing to send. Said on every change (and at once when the
 * disk is full at the start), outside the spool, which cannot take it.
 */
static void
attach_disk(struct attach *a)
{
	struct statvfs sv;
	uint64_t room;
	int full, said;

	if (statvfs(a->run_dir, &sv) != 0)
		return;
	/* root may write into the blocks kept for it */
	room = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) *
	    sv.f_frsize;
	full = room < ATTACH_DISK_LOW;
	said = a->disk_full;
	a->disk_full = full;
	if (full == said || (said == -1 && !full))
		return;
	attach_out_json(a, json_pack("{s:s, s:I, s:b, s:I}", "type", "disk",
	    "t", (json_int_t)clock_wall_ms(), "full", full, "free",
	    (json_int_t)room));
}

static void
attach_hb(void *arg)
{
	struct attach *a = arg;

	/* First: a run that ends as soon as its disk has room again must
	 * still say so. */
	attach_disk(a);
	attach_pump(a);
	if (attach_ended(a)) {
		attach_pump(a);	/* the last lines before the end */
		a->rc = 0;
		loop_stop(a->loop);
		return;
	}
	attach_out_json(a, json_pack("{s:s, s:I, s:I, s:b}", "type", "hb",
	    "t", (json_int_t)clock_wall_ms(), "last_seq",
	    (json_int_t)a->last_sent, "alive",
	    rundir_agent_alive(a->run_dir)));
	loop_timer_add(a->loop, ATTACH_HB_MS, attach_hb, a);
}

static void
attach_poll(void *arg)
{
	struct attach *a = arg;

	attach_pump(a);
	loop_timer_add(a->loop, ATTACH_POLL_MS, attach_poll, a);
}

static void
attach_inotify(int fd, short revents, void *arg)
{
	struct attach *a = arg;
	char data[4096] __attribute__((aligned(8)));

	while (read(fd, data, sizeof data) > 0)
		;
	attach_pump(a);
}

/* Runs `drover-agent adopt RUNDIR` so a dead agent is replaced. */
static int
attach_adopt(struct attach *a)
{
	pid_t pid;
	int status, fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execl("/proc/self/exe", "drover-agent", "adopt", a->run_dir,
		    (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

static int
attach_ctl_write(struct attach *a, const char *line)
{
	char *path = rundir_path(a->run_dir, "ctl");
	int fd, rc;

	fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return -1;
	/* Under PIPE_BUF: written whole, never interleaved. */
	rc = write_full(fd, line, strlen(line));
	close(fd);
	return rc;
}

static void
attach_command(const char *p, size_t n, void *arg)
{
	struct attach *a = arg;
	struct proto_cmd cmd;
	char *cause = NULL, *line, *msg;

	if (proto_cmd_parse(p, n, &cmd, &cause) != 0) {
		attach_error(a, cause);
		free(cause);
		return;
	}
	line = proto_cmd_encode(&cmd);
	if (attach_ctl_write(a, line) != 0) {
		/* No agent holds the FIFO: start one, then try again. */
		if (attach_ended(a))
			attach_error(a, "the run has ended; nothing to "
			    "command");
		else if (attach_adopt(a) != 0 || attach_ctl_write(a, line) != 0) {
			xasprintf(&msg, "no agent is running for %s and "
			    "adopting the run failed (see agent.log)",
			    a->run_dir);
			attach_error(a, msg);
			free(msg);
		}
	}
	free(line);
}

static void
attach_stdin(int fd, short revents, void *arg)
{
	struct attach *a = arg;
	char data[4096];
	ssize_t n;

	n = read(fd, data, sizeof data);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* No more commands; keep streaming. */
		loop_del_fd(a->loop, fd);
		return;
	}
	buf_add(&a->cmd_in, data, (size_t)n);
	if (buf_each_line(&a->cmd_in, 4096, attach_command, a)) {
		attach_error(a, "command line longer than 4096 bytes; dropped");
		buf_reset(&a->cmd_in);
	}
}

int
cmd_attach(int argc, char **argv)
{
	struct attach a;
	json_t *hello, *last;
	char *cause = NULL, *end, *abs;
	int64_t from = 1, last_seq = 0;
	int i, adopt = 0;
	const char *dir = NULL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			errno = 0;
			from = strtoll(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || from < 1)
				goto usage;
		} else if (strcmp(argv[i], "--adopt") == 0)
			adopt = 1;
		else if (argv[i][0] == '-' || dir != NULL)
			goto usage;
		else
			dir = argv[i];
	}
	if (dir == NULL)
		goto usage;
	memset(&a, 0, sizeof a);
	a.ino_fd = -1;
	a.disk_full = -1;
	if ((abs = rundir_resolve(dir, &cause)) == NULL) {
		fprintf(stderr, "drover-agent attach: %s\n", cause);
		free(cause);
		return 1;
	}
	a.run_dir = dir = abs;
	a.spool_path = rundir_path(dir, "events.jsonl");
	if ((a.reader = spool_reader_open(a.spool_path, from, &cause)) ==
	    NULL) {
		fprintf(stderr, "drover-agent attach: %s\n", cause);
		free(cause);
		free(a.spool_path);
		free(abs);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (adopt && !rundir_agent_alive(dir) && !attach_ended(&a) &&
	    attach_adopt(&a) != 0)
		fprintf(stderr, "drover-agent attach: no agent for %s and "
		    "`drover-agent adopt` failed; following the spool "
		    "anyway\n", dir);
	if ((last = spool_peek_last(a.spool_path)) != NULL)
		proto_get_int(last, "seq", &last_seq);
	json_decref(last);
	a.loop = loop_new();
	buf_init(&a.line);
	buf_init(&a.cmd_in);
	a.last_sent = from - 1;
	hello = proto_hello_new(dir, last_seq);
	json_object_set_new(hello, "alive",
	    json_boolean(rundir_agent_alive(dir)));
	attach_out_json(&a, hello);

	a.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (a.ino_fd != -1 && inotify_add_watch(a.ino_fd, a.spool_path,
	    IN_MODIFY) != -1)
		loop_add_fd(a.loop, a.ino_fd, POLLIN, attach_inotify, &a);
	else
		loop_timer_add(a.loop, ATTACH_POLL_MS, attach_poll, &a);
	/* stdin stays blocking (it may be a terminal we share); poll
	 * readiness makes each read safe. */
	loop_add_fd(a.loop, 0, POLLIN, attach_stdin, &a);
	a.rc = 0;
	attach_pump(&a);
	if (attach_ended(&a))
		attach_pump(&a);
	else {
		loop_timer_add(a.loop, ATTACH_HB_MS, attach_hb, &a);
		loop_run(a.loop);
	}

	if (a.ino_fd != -1)
		close(a.ino_fd);
	loop_free(a.loop);
	spool_reader_free(a.reader);
	buf_free(&a.line);
	buf_free(&a.cmd_in);
	free(a.spool_path);
	free(abs);
	return a.rc;
usage:
	fprintf(stderr, "usage: drover-agent attach RUNDIR [--from SEQ] "
	    "[--adopt]\n");
	return 2;
}
