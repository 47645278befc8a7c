/*
 * proc.c - a child process with stdin, stdout and stderr pipes driven by the
 * poll loop, shared by the local and OpenSSH transports. Output goes to
 * rchan_data() as it arrives; ch->in is written when the pipe takes it and
 * the pipe is closed once ch->in_eof is set and ch->in is empty; rchan_done()
 * reports the status (exit code, or 128 + signal) once the child has exited
 * and both output pipes have reached EOF.
 *
 * The child runs in a session of its own (hence its own process group, and
 * no controlling terminal, so no prompt can reach the user's console), with
 * default signal dispositions and an empty signal mask. If it cannot be
 * executed at all, the channel sees "drover: cannot run ..." on stderr and
 * status 127, like a shell would report it; rproc_spawn() fails only when
 * pipes or the process itself cannot be created.
 *
 * It installs no SIGCHLD handler (one per process, and the program may have
 * its own) and never waits for any pid but its own: after both pipes reach
 * EOF it tries waitpid(WNOHANG) and retries on a short timer.
 *
 * rproc_free() of a running child sends SIGTERM to the child's group, waits
 * up to RPROC_TERM_GRACE_MS for it, then sends SIGKILL and reaps. This is
 * synchronous so that nothing outlives the call; a child that honours
 * SIGTERM costs about a millisecond. Members of the group that outlive a
 * child which exited normally are left alone (a detached daemon, like the
 * agent, has its own session anyway).
 *
 * Writing to a pipe whose reader is gone raises no SIGPIPE here, whatever the
 * program's disposition: the signal is blocked around the write and a
 * pending one consumed; what was queued for a closed stdin is dropped.
 * Bytes already written stay at the front of ch->in until they are half of
 * it (so ch->in may hold up to twice what is unsent): a large stdin, an
 * upload through `cat`, then costs linear copying.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RPROC_READ_SIZE		(64 * 1024)
#define RPROC_READS_PER_WAKE	4	/* then other fds get a turn */
#define RPROC_WRITES_PER_WAKE	16
#define RPROC_REAP_FIRST_MS	10
#define RPROC_REAP_MAX_MS	50
#define RPROC_TERM_GRACE_MS	20
#define RPROC_KILL_WAIT_MS	2000

struct rproc {
	struct loop *loop;
	struct rchan *ch;
	char *name;		/* argv[0], for messages */
	pid_t pid;		/* -1 once reaped, or when exec failed */
	int status;
	int fd_in;		/* -1 once closed */
	size_t in_off;		/* bytes of ch->in already written */
	int fd_out;
	int fd_err;
	uint64_t timer;		/* reap retry, or exec-failure report */
	unsigned reap_ms;
	char *spawn_error;	/* exec failed: reported from a 0 ms timer */
	int busy;		/* inside rchan_data()/rchan_done() */
	int freed;		/* rproc_free() came while busy */
	int done;		/* rchan_done() was called */
};

static void rproc_try_reap(struct rproc *);

static void
rproc_leave(struct rproc *p)
{
	if (--p->busy == 0 && p->freed) {
		free(p->name);
		free(p->spawn_error);
		free(p);
	}
}

static void
rproc_close_fd(struct rproc *p, int *fdp)
{
	if (*fdp == -1)
		return;
	loop_del_fd(p->loop, *fdp);
	close(*fdp);
	*fdp = -1;
}

void
rproc_spawnattr(posix_spawnattr_t *sa)
{
	sigset_t none, all;

	posix_spawnattr_init(sa);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(sa, &none);
	posix_spawnattr_setsigdefault(sa, &all);
	posix_spawnattr_setflags(sa, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

int
rproc_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

static void
rproc_finish(struct rproc *p, int status, const char *error)
{
	p->done = 1;
	rproc_close_fd(p, &p->fd_in);
	/* May free p (through chan_free): p->busy keeps the memory. */
	rchan_done(p->ch, status, error);
}

static void
rproc_reap_timer(void *arg)
{
	struct rproc *p = arg;

	p->timer = 0;
	p->busy++;
	rproc_try_reap(p);
	rproc_leave(p);
}

/* Both output pipes are at EOF: collect the exit status (caller is busy). */
static void
rproc_try_reap(struct rproc *p)
{
	int status;
	pid_t r;

	if (p->freed || p->done)
		return;
	r = waitpid(p->pid, &status, WNOHANG);
	if (r == 0 || (r == -1 && errno == EINTR)) {
		p->timer = loop_timer_add(p->loop, p->reap_ms,
		    rproc_reap_timer, p);
		if (p->reap_ms < RPROC_REAP_MAX_MS)
			p->reap_ms *= 2;
		if (p->reap_ms > RPROC_REAP_MAX_MS)
			p->reap_ms = RPROC_REAP_MAX_MS;
		return;
	}
	p->pid = -1;
	if (r == -1) {
		/* Someone else's waitpid(-1) took it: the status is gone. */
		rproc_finish(p, -1, "the exit status of the command was lost "
		    "(reaped elsewhere in drover); treat it as failed");
		return;
	}
	p->status = rproc_status(status);
	rproc_finish(p, p->status, NULL);
}

static void
rproc_read(int fd, short revents, void *arg)
{
	struct rproc *p = arg;
	char data[RPROC_READ_SIZE];
	int stream = fd == p->fd_out ? 1 : 2, i;
	ssize_t n;

	p->busy++;
	for (i = 0; i < RPROC_READS_PER_WAKE; i++) {
		n = read(fd, data, sizeof data);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* EOF, or an error that is as good as one */
			rproc_close_fd(p, stream == 1 ? &p->fd_out :
			    &p->fd_err);
			break;
		}
		rchan_data(p->ch, stream, data, (size_t)n);
		if (p->freed || (size_t)n < sizeof data)
			break;
	}
	if (!p->freed && p->fd_out == -1 && p->fd_err == -1 && p->timer == 0)
		rproc_try_reap(p);
	rproc_leave(p);
}

/* write(2) that cannot raise SIGPIPE, whatever the disposition */
static ssize_t
rproc_write_nosig(int fd, const void *data, size_t len)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	int was_pending, saved;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, data, len);
	saved = errno;
	if (n == -1 && errno == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static void
rproc_drop_in(struct rproc *p)
{
	buf_reset(&p->ch->in);
	p->in_off = 0;
}

/* Push ch->in into the stdin pipe; never calls back into conn.c. */
static void
rproc_flush(struct rproc *p)
{
	struct rchan *ch = p->ch;
	ssize_t n;
	int i;

	if (p->fd_in == -1) {
		rproc_drop_in(p);	/* nobody will ever read it */
		return;
	}
	for (i = 0; i < RPROC_WRITES_PER_WAKE && p->in_off < ch->in.len; i++) {
		n = rproc_write_nosig(p->fd_in, ch->in.data + p->in_off,
		    ch->in.len - p->in_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* EPIPE: the child closed its stdin or exited. */
			rproc_close_fd(p, &p->fd_in);
			rproc_drop_in(p);
			return;
		}
		p->in_off += (size_t)n;
	}
	if (p->in_off == ch->in.len)
		rproc_drop_in(p);
	else if (p->in_off >= ch->in.len / 2) {
		buf_drain(&ch->in, p->in_off);
		p->in_off = 0;
	}
	if (ch->in.len == 0 && ch->in_eof) {
		rproc_close_fd(p, &p->fd_in);
		return;
	}
	loop_set_events(p->loop, p->fd_in, ch->in.len > 0 ? POLLOUT : 0);
}

static void
rproc_write(int fd, short revents, void *arg)
{
	struct rproc *p = arg;

	if ((revents & POLLOUT) == 0 && (revents & (POLLERR | POLLHUP))) {
		/* The reader is gone; what is queued can never arrive. */
		rproc_close_fd(p, &p->fd_in);
		rproc_drop_in(p);
		return;
	}
	rproc_flush(p);
}

static void
rproc_spawn_failed(void *arg)
{
	struct rproc *p = arg;

	p->timer = 0;
	p->busy++;
	rchan_data(p->ch, 2, p->spawn_error, strlen(p->spawn_error));
	if (!p->freed)
		rproc_finish(p, 127, NULL);
	rproc_leave(p);
}

/* Pipe fds must not land on 0-2, or the child's dup2()s would collide. */
static int
rproc_fd_above_stdio(int *fdp)
{
	int fd;

	if (*fdp > 2)
		return 0;
	if ((fd = fcntl(*fdp, F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	close(*fdp);
	*fdp = fd;
	return 0;
}

static void
rproc_close_pair(int fds[2])
{
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	fds[0] = fds[1] = -1;
}

struct rproc *
rproc_spawn(struct loop *loop, char *const *argv, char **env,
    struct rchan *ch, char **cause)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	struct rproc *p;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int i, error;
	pid_t pid;

	if (argv == NULL || argv[0] == NULL)
		fatalx("rproc_spawn: empty argv");
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(err, O_CLOEXEC) == -1) {
		xasprintf(cause, "cannot run %s: pipe: %s; raise the open "
		    "files limit (ulimit -n)", argv[0], strerror(errno));
		goto fail;
	}
	for (i = 0; i < 2; i++) {
		if (rproc_fd_above_stdio(&in[i]) == -1 ||
		    rproc_fd_above_stdio(&out[i]) == -1 ||
		    rproc_fd_above_stdio(&err[i]) == -1) {
			xasprintf(cause, "cannot run %s: dup: %s", argv[0],
			    strerror(errno));
			goto fail;
		}
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	rproc_spawnattr(&sa);
	error = posix_spawnp(&pid, argv[0], &fa, &sa, argv,
	    env != NULL ? env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(in[0]);
	close(out[1]);
	close(err[1]);

	p = xcalloc(1, sizeof *p);
	p->loop = loop;
	p->ch = ch;
	p->name = xstrdup(argv[0]);
	p->reap_ms = RPROC_REAP_FIRST_MS;
	if (error != 0) {
		close(in[1]);
		close(out[0]);
		close(err[0]);
		p->pid = -1;
		p->fd_in = p->fd_out = p->fd_err = -1;
		xasprintf(&p->spawn_error, "drover: cannot run %s: %s\n",
		    argv[0], strerror(error));
		p->timer = loop_timer_add(loop, 0, rproc_spawn_failed, p);
		return p;
	}
	p->pid = pid;
	p->fd_in = in[1];
	p->fd_out = out[0];
	p->fd_err = err[0];
	fd_set_nonblock(p->fd_in);
	fd_set_nonblock(p->fd_out);
	fd_set_nonblock(p->fd_err);
	loop_add_fd(loop, p->fd_out, POLLIN, rproc_read, p);
	loop_add_fd(loop, p->fd_err, POLLIN, rproc_read, p);
	loop_add_fd(loop, p->fd_in, 0, rproc_write, p);
	rproc_flush(p);		/* stdin queued before the start */
	return p;

fail:
	rproc_close_pair(in);
	rproc_close_pair(out);
	rproc_close_pair(err);
	return NULL;
}

void
rproc_kick(struct rproc *p)
{
	if (p == NULL || p->freed)
		return;
	rproc_flush(p);
}

/* Waits up to ms for pid; 1 when reaped (or not ours any more). */
static int
rproc_wait_ms(pid_t pid, int ms)
{
	struct timespec tick = { 0, 1000 * 1000 };
	pid_t r;
	int i;

	for (i = 0; i <= ms; i++) {
		r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r == -1 && errno == ECHILD))
			return 1;
		if (i < ms)
			nanosleep(&tick, NULL);
	}
	return 0;
}

static void
rproc_kill(struct rproc *p)
{
	/* setsid() made the child the leader of a group with its pid. */
	if (killpg(p->pid, SIGTERM) == -1 && errno == ESRCH)
		kill(p->pid, SIGTERM);
	if (rproc_wait_ms(p->pid, RPROC_TERM_GRACE_MS))
		goto out;
	killpg(p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	if (!rproc_wait_ms(p->pid, RPROC_KILL_WAIT_MS))
		log_warn("%s (pid %ld) survived SIGKILL for %d ms; leaving it",
		    p->name, (long)p->pid, RPROC_KILL_WAIT_MS);
out:
	p->pid = -1;
}

void
rproc_free(struct rproc *p)
{
	if (p == NULL || p->freed)
		return;
	p->freed = 1;
	loop_timer_cancel(p->loop, p->timer);
	p->timer = 0;
	/* EOF on stdin and EPIPE on output first: a clean exit is quickest. */
	rproc_close_fd(p, &p->fd_in);
	rproc_close_fd(p, &p->fd_out);
	rproc_close_fd(p, &p->fd_err);
	if (p->pid != -1)
		rproc_kill(p);
	if (p->busy == 0) {
		p->busy = 1;
		rproc_leave(p);
	}
}
