/*
 * log.c - leveled logging with a timestamp, to stderr or to a file (the
 * agent's daemon logs to agent.log in its run directory). Not a protocol:
 * what reaches users as data goes through proto.c.
 */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "drover";
static enum log_level log_level = LOG_INFO;
static int log_fd = 2;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *prog, enum log_level level, int fd)
{
	log_prog = prog;
	log_level = level;
	log_fd = fd;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap, const char *err)
{
	char line[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof line, "%s.%03ldZ %s[%ld] %s: ", stamp,
	    ts.tv_nsec / 1000000, log_prog, (long)getpid(), log_names[level]);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (m < 0)
		m = 0;
	n = (size_t)(n + m) >= sizeof line - 2 ? (int)sizeof line - 2 : n + m;
	if (err != NULL) {
		m = snprintf(line + n, sizeof line - n, ": %s", err);
		if (m > 0)
			n = (size_t)(n + m) >= sizeof line - 2 ?
			    (int)sizeof line - 2 : n + m;
	}
	line[n++] = '\n';
	(void)write_full(log_fd, line, n);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(70);
}
