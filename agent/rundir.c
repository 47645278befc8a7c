/*
 * rundir.c - the run directory <base>/<task>/<attempt>/<host-id>/: created
 * component by component with O_NOFOLLOW so no symlink is ever followed below
 * the base, each component owned by us; its lock (flock, held by the
 * supervisor for its whole life); and agent.pid (pid and start time, so a
 * recycled pid is never taken for the agent).
 */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *
rundir_path(const char *dir, const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", dir, name);
	return p;
}

static int
mkdir_p(const char *path, char **cause)
{
	char *p = xstrdup(path), *s;
	struct stat st;

	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char save = *s;

		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			xasprintf(cause, "cannot create %s: %s", p,
			    strerror(errno));
			free(p);
			return -1;
		}
		*s = save;
		if (save == '\0')
			break;
	}
	if (stat(p, &st) == -1 || !S_ISDIR(st.st_mode)) {
		xasprintf(cause, "%s is not a directory", p);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

static int
check_owned(int fd, const char *path, char **cause)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_uid != geteuid()) {
		xasprintf(cause, "%s is owned by uid %ld, not by us (uid %ld); "
		    "refusing", path, (long)st.st_uid, (long)geteuid());
		return -1;
	}
	return 0;
}

int
rundir_create(const char *base, const char *const *parts, size_t n,
    char **cause)
{
	struct buf path;
	size_t i;
	int fd, next, rc = -1;

	if (mkdir_p(base, cause) != 0)
		return -1;
	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", base, strerror(errno));
		return -1;
	}
	buf_init(&path);
	buf_addstr(&path, base);
	for (i = 0; i < n; i++) {
		buf_printf(&path, "/%s", parts[i]);
		if (mkdirat(fd, parts[i], 0700) == -1 && errno != EEXIST) {
			xasprintf(cause, "cannot create %s: %s",
			    buf_cstr(&path), strerror(errno));
			goto out;
		}
		next = openat(fd, parts[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next == -1) {
			if (errno == ELOOP || errno == ENOTDIR)
				xasprintf(cause, "%s is a symlink or not a "
				    "directory; refusing", buf_cstr(&path));
			else
				xasprintf(cause, "%s: %s", buf_cstr(&path),
				    strerror(errno));
			goto out;
		}
		close(fd);
		fd = next;
		if (check_owned(fd, buf_cstr(&path), cause) != 0)
			goto out;
	}
	rc = 0;
out:
	close(fd);
	buf_free(&path);
	return rc;
}

int
rundir_check(const char *dir, char **cause)
{
	struct stat st;

	if (lstat(dir, &st) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		xasprintf(cause, "%s is a symlink; refusing", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		xasprintf(cause, "%s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		xasprintf(cause, "%s is owned by uid %ld, not by us; refusing",
		    dir, (long)st.st_uid);
		return -1;
	}
	return 0;
}

char *
rundir_resolve(const char *arg, char **cause)
{
	char *abs;

	/* Check the name as given (a symlink is refused), then absolutize. */
	if (rundir_check(arg, cause) != 0)
		return NULL;
	if ((abs = realpath(arg, NULL)) == NULL) {
		xasprintf(cause, "%s: %s", arg, strerror(errno));
		return NULL;
	}
	return abs;
}

int
rundir_read_pid(const char *dir, pid_t *pid, uint64_t *start)
{
	char *path = rundir_path(dir, "agent.pid"), data[128];
	unsigned long long st;
	long p;
	ssize_t n;

	n = file_read_small(path, data, sizeof data, 1);
	free(path);
	if (n == -1)
		return -1;
	if (sscanf(data, "%ld %llu", &p, &st) != 2 || p <= 0)
		return -1;
	*pid = (pid_t)p;
	*start = st;
	return 0;
}

int
rundir_agent_alive(const char *dir)
{
	pid_t pid;
	uint64_t start;

	if (rundir_read_pid(dir, &pid, &start) != 0)
		return 0;
	return proc_alive(pid, start);
}

int
rundir_lock(const char *dir, int *fdp, char **cause)
{
	char *path = rundir_path(dir, "lock");
	pid_t pid;
	uint64_t start;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			if (rundir_read_pid(dir, &pid, &start) == 0)
				xasprintf(cause, "%s is in use by agent pid "
				    "%ld; refusing a second agent", dir,
				    (long)pid);
			else
				xasprintf(cause, "%s is locked by another "
				    "agent; refusing a second agent", dir);
		} else
			xasprintf(cause, "locking %s: %s", dir,
			    strerror(errno));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}
