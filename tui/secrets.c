/*
 * secrets.c - the secrets file a config names (task.secrets_file): tokens
 * for model hubs and trackers. NAME=VALUE per line; blank lines and lines
 * starting with '#' are skipped; the value is everything after the first
 * '=' up to the end of the line, byte for byte (no quotes are removed).
 *
 * The file must be a regular file owned by the user, readable by nobody
 * else (0600 or stricter). Its values go only to the agent's stdin
 * (drover-agent run --secrets-stdin) and from there to the processes'
 * environment: never argv, the database, logs, events or the screen. The
 * messages here name the file and the line, never a value.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRETS_MAX	(256 * 1024)

static int
secret_name_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || !((p[0] >= 'A' && p[0] <= 'Z') ||
	    (p[0] >= 'a' && p[0] <= 'z') || p[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return 0;
	return 1;
}

json_t *
secrets_load(const char *path, char **cause)
{
	struct stat sb;
	struct buf b;
	json_t *out = NULL;
	char *line, *next, *eq, *name;
	int fd, lineno = 0;

	buf_init(&b);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: cannot open the secrets file: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: the secrets file is not a regular file",
		    path);
		goto out;
	}
	if (sb.st_uid != geteuid()) {
		xasprintf(cause, "%s: the secrets file belongs to uid %u, not "
		    "to you; refusing it", path, (unsigned)sb.st_uid);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		xasprintf(cause, "%s: the secrets file has mode %04o; others "
		    "can read it: chmod 600 %s", path,
		    (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	if (sb.st_size > SECRETS_MAX) {
		xasprintf(cause, "%s: the secrets file is over %d bytes", path,
		    SECRETS_MAX);
		goto out;
	}
	buf_reserve(&b, (size_t)sb.st_size + 1);
	for (;;) {
		ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		b.len += (size_t)n;
		if (b.len + 1 >= b.cap)
			buf_reserve(&b, b.cap * 2);
	}
	b.data[b.len] = '\0';
	if (memchr(b.data, '\0', b.len) != NULL) {
		xasprintf(cause, "%s: the secrets file holds a NUL byte", path);
		goto out;
	}
	out = json_object();
	for (line = b.data; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		if (*line == '\0' || *line == '#')
			continue;
		if ((eq = strchr(line, '=')) == NULL ||
		    !secret_name_ok(line, (size_t)(eq - line))) {
			xasprintf(cause, "%s:%d: expected NAME=VALUE with NAME "
			    "of letters, digits and _", path, lineno);
			json_decref(out);
			out = NULL;
			goto out;
		}
		name = xstrndup(line, (size_t)(eq - line));
		if (json_object_set_new(out, name, json_string(eq + 1)) != 0) {
			xasprintf(cause, "%s:%d: %s: the value is not valid "
			    "UTF-8", path, lineno, name);
			free(name);
			json_decref(out);
			out = NULL;
			goto out;
		}
		free(name);
	}
out:
	close(fd);
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	return out;
}
