/*
 * loop.c - the one poll(2) loop both programs run: fd callbacks with read and
 * write interest, one-shot timers in a binary heap, and signals delivered
 * through a self-pipe so handlers run as ordinary callbacks.
 *
 * Not thread-safe; there is one loop per process. Callbacks may add and
 * remove fds and timers, including their own.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct loop_fd {
	int fd;
	short events;
	loop_fd_cb cb;
	void *arg;
	int live;
};

struct loop_timer {
	uint64_t when;
	uint64_t id;
	loop_timer_cb cb;
	void *arg;
};

struct loop_sig {
	loop_signal_cb cb;
	void *arg;
};

struct loop {
	struct loop_fd *fds;
	size_t nfds, capfds;
	struct pollfd *pfds;
	size_t cappfds;

	struct loop_timer *heap;
	size_t nheap, capheap;
	uint64_t next_id;

	struct loop_sig sigs[NSIG];
	int stop;
};

static int loop_sigpipe[2] = { -1, -1 };

static void
loop_sig_handler(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	(void)!write(loop_sigpipe[1], &c, 1);
	errno = saved;
}

static void
loop_sig_read(int fd, short revents, void *arg)
{
	struct loop *l = arg;
	unsigned char c[64];
	ssize_t n, i;

	(void)revents;
	while ((n = read(fd, c, sizeof c)) > 0) {
		for (i = 0; i < n; i++) {
			if (c[i] < NSIG && l->sigs[c[i]].cb != NULL)
				l->sigs[c[i]].cb(c[i], l->sigs[c[i]].arg);
		}
	}
}

struct loop *
loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof *l);

	l->next_id = 1;
	return l;
}

void
loop_free(struct loop *l)
{
	int i;

	if (l == NULL)
		return;
	for (i = 1; i < NSIG; i++) {
		if (l->sigs[i].cb != NULL)
			signal(i, SIG_DFL);
	}
	if (loop_sigpipe[0] != -1) {
		close(loop_sigpipe[0]);
		close(loop_sigpipe[1]);
		loop_sigpipe[0] = loop_sigpipe[1] = -1;
	}
	free(l->fds);
	free(l->pfds);
	free(l->heap);
	free(l);
}

static struct loop_fd *
loop_find(struct loop *l, int fd)
{
	size_t i;

	for (i = 0; i < l->nfds; i++) {
		if (l->fds[i].live && l->fds[i].fd == fd)
			return &l->fds[i];
	}
	return NULL;
}

void
loop_add_fd(struct loop *l, int fd, short events, loop_fd_cb cb, void *arg)
{
	struct loop_fd *f;

	if (fd < 0 || cb == NULL)
		fatalx("loop_add_fd: bad fd %d or no callback", fd);
	if (loop_find(l, fd) != NULL)
		fatalx("loop_add_fd: fd %d already registered", fd);
	if (l->nfds == l->capfds) {
		l->capfds = l->capfds ? l->capfds * 2 : 16;
		l->fds = xreallocarray(l->fds, l->capfds, sizeof *l->fds);
	}
	f = &l->fds[l->nfds++];
	f->fd = fd;
	f->events = events;
	f->cb = cb;
	f->arg = arg;
	f->live = 1;
}

void
loop_set_events(struct loop *l, int fd, short events)
{
	struct loop_fd *f = loop_find(l, fd);

	if (f == NULL)
		fatalx("loop_set_events: fd %d not registered", fd);
	f->events = events;
}

void
loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd *f = loop_find(l, fd);

	/* Only marked here: loop_run_once() may be walking the array. */
	if (f != NULL)
		f->live = 0;
}

static void
loop_compact(struct loop *l)
{
	size_t i, j;

	for (i = j = 0; i < l->nfds; i++) {
		if (l->fds[i].live)
			l->fds[j++] = l->fds[i];
	}
	l->nfds = j;
}

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
}

static int
heap_less(struct loop *l, size_t a, size_t b)
{
	if (l->heap[a].when != l->heap[b].when)
		return l->heap[a].when < l->heap[b].when;
	return l->heap[a].id < l->heap[b].id;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0 && heap_less(l, i, (i - 1) / 2)) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && heap_less(l, c + 1, c))
			c++;
		if (!heap_less(l, c, i))
			break;
		heap_swap(l, i, c);
		i = c;
	}
}

static void
heap_remove(struct loop *l, size_t i)
{
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	heap_down(l, i);
	heap_up(l, i);
}

uint64_t
loop_timer_add(struct loop *l, uint64_t ms, loop_timer_cb cb, void *arg)
{
	struct loop_timer *t;

	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 16;
		l->heap = xreallocarray(l->heap, l->capheap, sizeof *l->heap);
	}
	uint64_t id = l->next_id++;

	t = &l->heap[l->nheap];
	t->when = clock_mono_ms() + ms;
	t->id = id;
	t->cb = cb;
	t->arg = arg;
	/* heap_up() may move another timer into *t: return the local id. */
	heap_up(l, l->nheap++);
	return id;
}

void
loop_timer_cancel(struct loop *l, uint64_t id)
{
	size_t i;

	if (id == 0)
		return;
	for (i = 0; i < l->nheap; i++) {
		if (l->heap[i].id == id) {
			heap_remove(l, i);
			return;
		}
	}
}

void
loop_signal(struct loop *l, int sig, loop_signal_cb cb, void *arg)
{
	struct sigaction sa;

	if (sig <= 0 || sig >= NSIG)
		fatalx("loop_signal: bad signal %d", sig);
	if (loop_sigpipe[0] == -1) {
		if (pipe2(loop_sigpipe, O_CLOEXEC | O_NONBLOCK) == -1)
			fatal("loop_signal: pipe");
		loop_add_fd(l, loop_sigpipe[0], POLLIN, loop_sig_read, l);
	}
	l->sigs[sig].cb = cb;
	l->sigs[sig].arg = arg;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = loop_sig_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(sig, &sa, NULL) == -1)
		fatal("loop_signal: sigaction %d", sig);
}

static void
loop_run_timers(struct loop *l)
{
	struct loop_timer t;
	uint64_t now = clock_mono_ms();

	/* A timer added by a callback for "now" waits for the next pass. */
	while (l->nheap > 0 && l->heap[0].when <= now) {
		t = l->heap[0];
		heap_remove(l, 0);
		t.cb(t.arg);
	}
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
	size_t i, n;
	uint64_t now;
	int timeout = max_wait_ms, r;

	loop_compact(l);
	if (l->nheap > 0) {
		now = clock_mono_ms();
		if (l->heap[0].when <= now)
			timeout = 0;
		else if (timeout < 0 ||
		    l->heap[0].when - now < (uint64_t)timeout)
			timeout = (int)(l->heap[0].when - now);
	}
	if (l->nfds > l->cappfds) {
		l->cappfds = l->nfds;
		l->pfds = xreallocarray(l->pfds, l->cappfds, sizeof *l->pfds);
	}
	n = l->nfds;
	for (i = 0; i < n; i++) {
		l->pfds[i].fd = l->fds[i].fd;
		l->pfds[i].events = l->fds[i].events;
		l->pfds[i].revents = 0;
	}
	r = poll(l->pfds, n, timeout);
	if (r == -1 && errno != EINTR)
		fatal("poll");
	for (i = 0; r > 0 && i < n; i++) {
		if (l->pfds[i].revents == 0)
			continue;
		/* Skip entries removed by an earlier callback of this pass. */
		if (!l->fds[i].live || l->fds[i].fd != l->pfds[i].fd)
			continue;
		l->fds[i].cb(l->fds[i].fd, l->pfds[i].revents, l->fds[i].arg);
	}
	loop_run_timers(l);
	return r;
}

void
loop_run(struct loop *l)
{
	l->stop = 0;
	while (!l->stop)
		loop_run_once(l, -1);
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}
