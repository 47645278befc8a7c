/*
 * shim.c - `drover-agent shim`, the small keeper the supervisor puts in
 * front of each process of the core. It is what makes training independent
 * of the agent: the shim, not the supervisor, holds the process's output
 * pipe (so the core never sees EPIPE if the agent dies), writes rank-N.log
 * with size-capped rotation, and records the exit status in rank-N.exit
 * (so a restarted agent still learns how the process ended).
 *
 * It leads the rank's process group; it ignores the termination signals
 * sent to the group (the core gets them) so it outlives the core and can
 * record its end. Not for users: its argv is the supervisor's business.
 *
 * A full disk (or any failed write) does not lose output: what cannot be
 * written is held in memory, up to SHIM_HOLD_MAX, and written, in order,
 * once the disk takes it again (retried each second). Only output past
 * that cap is dropped, and the log then says how many bytes. The core is
 * never blocked on its pipe for it. After the core exits, the shim keeps
 * retrying for up to SHIM_DRAIN_S before it gives up on what it holds.
 *
 *   drover-agent shim READY_FD LOG MAX_BYTES KEEP EXIT_FILE LAUNCH -- ARGV...
 */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int shim_ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
    SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU };

#define SHIM_HOLD_MAX	(16 << 20)	/* output held while writes fail */
#define SHIM_RETRY_MS	1000
#define SHIM_DRAIN_S	600

struct shim_log {
	const char *path;
	uint64_t max;
	int keep;
	int fd;
	uint64_t size;
	struct buf held;	/* not written yet: the disk refused it */
	int err;		/* errno of the last refused write */
	uint64_t lost;		/* dropped past SHIM_HOLD_MAX, not yet said */
};

static int
shim_log_open(struct shim_log *l)
{
	struct stat st;

	l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (l->fd == -1)
		return -1;
	l->size = fstat(l->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

static void
shim_log_rotate(struct shim_log *l)
{
	char from[4096], to[4096];
	int i;

	close(l->fd);
	if (l->keep == 0)
		unlink(l->path);
	for (i = l->keep; i >= 1; i--) {
		if (i == 1)
			snprintf(from, sizeof from, "%s", l->path);
		else
			snprintf(from, sizeof from, "%s.%d", l->path, i - 1);
		snprintf(to, sizeof to, "%s.%d", l->path, i);
		if (rename(from, to) == -1 && errno != ENOENT)
			unlink(from);
	}
	if (shim_log_open(l) == -1)
		l->fd = -1;
}

/* Writes what it can of p; returns how many bytes went (a full disk may
 * take part of a write). */
static size_t
shim_log_put(struct shim_log *l, const char *p, size_t n)
{
	size_t off;

	if (l->fd != -1 && l->size > 0 && l->size + n > l->max)
		shim_log_rotate(l);
	if (l->fd == -1 && shim_log_open(l) == -1) {
		l->err = errno;
		return 0;
	}
	if ((off = write_some(l->fd, p, n)) < n)
		l->err = errno;
	l->size += off;
	return off;
}

/* Writes what is held, then says what was lost; 1 when all is out. */
static int
shim_log_flush(struct shim_log *l)
{
	char msg[160];
	size_t done;
	int n;

	if (l->held.len > 0) {
		done = shim_log_put(l, l->held.data, l->held.len);
		buf_drain(&l->held, done);
		if (l->held.len > 0)
			return 0;
	}
	if (l->lost > 0) {
		/* On a line of its own (the newline ends a line cut by the
		 * loss), with the agent's prefix. */
		n = snprintf(msg, sizeof msg, "\ndrover-agent: %llu bytes of "
		    "output lost: the log's disk was full and more than %d "
		    "MiB waited\n", (unsigned long long)l->lost,
		    SHIM_HOLD_MAX >> 20);
		if (shim_log_put(l, msg, (size_t)n) != (size_t)n)
			return 0;
		l->lost = 0;
	}
	return 1;
}

static void
shim_log_write(struct shim_log *l, const char *p, size_t n)
{
	size_t done = 0, room;

	if (shim_log_flush(l))
		done = shim_log_put(l, p, n);
	if (done == n)
		return;
	room = SHIM_HOLD_MAX - l->held.len;
	if (n - done > room) {
		l->lost += n - done - room;
		n = done + room;
	}
	buf_add(&l->held, p + done, n - done);
}

static void
shim_write_exit(const char *path, pid_t pid, int status, int launch)
{
	char data[256], *cause = NULL;
	int n;

	if (WIFSIGNALED(status))
		n = snprintf(data, sizeof data, "{\"pid\":%ld,\"launch\":%d,"
		    "\"code\":null,\"signal\":%d,\"core\":%s,\"t\":%lld}\n",
		    (long)pid, launch, WTERMSIG(status),
		    WCOREDUMP(status) ? "true" : "false",
		    (long long)clock_wall_ms());
	else
		n = snprintf(data, sizeof data, "{\"pid\":%ld,\"launch\":%d,"
		    "\"code\":%d,\"signal\":null,\"core\":false,\"t\":%lld}\n",
		    (long)pid, launch, WEXITSTATUS(status),
		    (long long)clock_wall_ms());
	if (file_write_atomic(path, data, (size_t)n, 0600, &cause) != 0) {
		fprintf(stderr, "drover-agent shim: %s\n", cause);
		free(cause);
	}
}

static void
shim_on_chld(int sig)
{
	(void)sig;	/* only here to interrupt ppoll() */
}

/* An exec that failed, as a shell says it: 127 not found, 126 not
 * executable. */
static int
shim_exec_status(int err)
{
	return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

static int
shim_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || end == s ? -1 : 0;
}

int
cmd_shim(int argc, char **argv)
{
	struct shim_log l;
	struct sigaction sa;
	struct pollfd pfd;
	uint64_t ready_fd, keep, launch;
	int out[2], errp[2], status = 0, child_errno = 0, eof = 0, r;
	char chunk[65536], msg[512];
	sigset_t mask, old;
	pid_t pid, w;
	ssize_t n;
	size_t i;

	memset(&l, 0, sizeof l);
	if (argc < 9 || strcmp(argv[7], "--") != 0 ||
	    shim_parse_u64(argv[1], &ready_fd) != 0 ||
	    shim_parse_u64(argv[3], &l.max) != 0 ||
	    shim_parse_u64(argv[4], &keep) != 0 ||
	    shim_parse_u64(argv[6], &launch) != 0) {
		fprintf(stderr, "drover-agent shim: internal command; usage: "
		    "shim READY_FD LOG MAX KEEP EXIT LAUNCH -- ARGV...\n");
		return 2;
	}
	l.path = argv[2];
	l.keep = (int)keep;
	if (shim_log_open(&l) == -1) {
		dprintf((int)ready_fd, "err %d opening %s\n", errno, l.path);
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < nitems(shim_ignored); i++)
		sigaction(shim_ignored[i], &sa, NULL);

	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1) {
		dprintf((int)ready_fd, "err %d pipe\n", errno);
		return 1;
	}
	/* SIGCHLD stays blocked except inside ppoll(), so it can't be lost. */
	sa.sa_handler = shim_on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_flags = 0;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	pid = fork();
	if (pid == -1) {
		dprintf((int)ready_fd, "err %d fork\n", errno);
		return 1;
	}
	if (pid == 0) {
		sa.sa_handler = SIG_DFL;
		for (i = 0; i < nitems(shim_ignored); i++)
			sigaction(shim_ignored[i], &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close((int)ready_fd);
		execvp(argv[8], argv + 8);
		child_errno = errno;
		(void)!write(errp[1], &child_errno, sizeof child_errno);
		_exit(shim_exec_status(child_errno));
	}
	close(out[1]);
	close(errp[1]);
	if (read_full(errp[0], &child_errno, sizeof child_errno) ==
	    (ssize_t)sizeof child_errno) {
		n = snprintf(msg, sizeof msg, "drover-agent: cannot execute "
		    "'%s': %s\n", argv[8], strerror(child_errno));
		shim_log_write(&l, msg, (size_t)n);
		waitpid(pid, &status, 0);
		shim_write_exit(argv[5], pid, status, (int)launch);
		dprintf((int)ready_fd, "err %d executing %s\n", child_errno,
		    argv[8]);
		return shim_exec_status(child_errno);
	}
	close(errp[0]);
	dprintf((int)ready_fd, "ok %ld\n", (long)pid);
	close((int)ready_fd);

	/*
	 * Copy output until the core has exited and its pipe is drained. A
	 * grandchild that keeps the pipe open does not hold us up for long.
	 */
	pfd.fd = out[0];
	pfd.events = POLLIN;
	sigdelset(&old, SIGCHLD);
	w = 0;
	for (;;) {
		if (w == 0) {
			w = waitpid(pid, &status, WNOHANG);
			if (w == -1 && errno != EINTR)
				w = pid;
		}
		if (eof && w == pid)
			break;
		if (w == pid) {
			struct timespec ts = { 1, 0 };

			if (ppoll(&pfd, 1, &ts, &old) == 0)
				break;	/* exited; pipe held by others */
		} else if (l.held.len > 0 || l.lost > 0) {
			struct timespec ts = { SHIM_RETRY_MS / 1000, 0 };

			if ((r = ppoll(&pfd, 1, &ts, &old)) == 0)
				shim_log_flush(&l);
			if (r <= 0)
				continue;
		} else if (ppoll(&pfd, 1, NULL, &old) == -1)
			continue;	/* SIGCHLD: reap at the top */
		if (pfd.fd == -1 || (pfd.revents & (POLLIN | POLLHUP)) == 0)
			continue;
		n = read(out[0], chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = 1;
			pfd.fd = -1;
			continue;
		}
		shim_log_write(&l, chunk, (size_t)n);
	}
	/* What the full disk still holds back: keep trying a while. */
	for (i = 0; !shim_log_flush(&l) && i < SHIM_DRAIN_S; i++)
		sleep(1);
	if (l.held.len > 0 || l.lost > 0)
		fprintf(stderr, "drover-agent shim: %s: %zu bytes of output "
		    "not written after %d s: %s\n", l.path, l.held.len +
		    (size_t)l.lost, SHIM_DRAIN_S, strerror(l.err));
	buf_free(&l.held);
	if (l.fd != -1)
		fsync(l.fd);
	shim_write_exit(argv[5], pid, status, (int)launch);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
