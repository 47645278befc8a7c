/*
 * fileutil.c - small file and process helpers: full reads and writes that
 * survive EINTR, bounded whole-file reads, atomic replacement by rename, and
 * process identity (pid + start time, so a recycled pid is never mistaken for
 * the process that was recorded).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
fd_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

ssize_t
read_full(int fd, void *p, size_t n)
{
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		r = read(fd, (char *)p + off, n - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		off += (size_t)r;
	}
	return (ssize_t)off;
}

size_t
write_some(int fd, const void *p, size_t n)
{
	size_t off = 0;
	ssize_t r;

	while (off < n) {
		r = write(fd, (const char *)p + off, n - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		if (r == 0) {
			errno = ENOSPC;
			break;
		}
		off += (size_t)r;
	}
	return off;
}

int
write_full(int fd, const void *p, size_t n)
{
	return write_some(fd, p, n) == n ? 0 : -1;
}

int
file_read_all(const char *path, size_t cap, struct buf *b, char **cause)
{
	char chunk[8192];
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		r = read(fd, chunk, sizeof chunk);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		if (b->len + (size_t)r > cap) {
			xasprintf(cause, "%s: larger than %zu bytes", path, cap);
			close(fd);
			return -1;
		}
		buf_add(b, chunk, (size_t)r);
	}
	close(fd);
	return 0;
}

int
file_write_atomic(const char *path, const void *p, size_t n, mode_t mode,
    char **cause)
{
	char *tmp;
	int fd, saved;

	xasprintf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd == -1)
		goto fail;
	if (fchmod(fd, mode) == -1 || write_full(fd, p, n) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail_unlink;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1)
		goto fail_unlink;
	free(tmp);
	return 0;

fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail:
	xasprintf(cause, "writing %s: %s", path, strerror(errno));
	free(tmp);
	return -1;
}

ssize_t
file_read_small(const char *path, char *data, size_t size, int nofollow)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	if (fd == -1)
		return -1;
	n = read_full(fd, data, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	data[n] = '\0';
	return n;
}

/* Reads the state letter and start time (field 22) of /proc/PID/stat. */
static int
proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], data[1024], *p;
	unsigned long long v;
	int field;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if (file_read_small(path, data, sizeof data, 0) == -1)
		return -1;
	/* The command name may hold spaces and ')': skip to the last ')'. */
	if ((p = strrchr(data, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
		return -1;
	*state = p[2];
	p++;
	for (field = 2; field < 22 && *p != '\0'; p++) {
		if (*p == ' ')
			field++;
	}
	if (field != 22 || sscanf(p, "%llu", &v) != 1)
		return -1;
	*start = v;
	return 0;
}

long
proc_status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	size_t n = strlen(field);
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, n) == 0) {
			kb = strtol(line + n, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

int
proc_start_time(pid_t pid, uint64_t *start)
{
	char state;

	return proc_stat(pid, &state, start);
}

int
proc_alive(pid_t pid, uint64_t start_time)
{
	uint64_t now;
	char state;

	if (pid <= 0 || proc_stat(pid, &state, &now) == -1)
		return 0;
	/* A zombie has exited even though its entry remains. */
	return now == start_time && state != 'Z' && state != 'X';
}
