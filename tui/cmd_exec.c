/*
 * cmd_exec.c - `drover exec HOSTS -- COMMAND ...`: like pdsh, runs a
 * command on every host at once and prints "host: line" as output arrives
 * (stderr lines on stderr), then one summary line of the failures by
 * reason. Exit status 0 only when every host ran it with status 0. The
 * argv is quoted for the remote shell so every argument arrives byte for
 * byte.
 */
#include "tui.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct exec_state {
	struct buf summary[FO_LOST + 1];
	int count[FO_LOST + 1];
	int nhosts;
};

static void
exec_line(const char *host, int stream, const char *p, size_t n, void *arg)
{
	FILE *f = stream == 2 ? stderr : stdout;

	fprintf(f, "%s: %.*s\n", host, (int)n, p);
	fflush(f);
}

static void
exec_done(const char *host, enum fanout_reason r, int status,
    const char *error, void *arg)
{
	struct exec_state *st = arg;
	struct buf *b = &st->summary[r];

	st->count[r]++;
	if (r == FO_OK)
		return;
	if (r == FO_EXIT)
		buf_printf(b, "%s%s (%d)", b->len ? ", " : "", host, status);
	else
		buf_printf(b, "%s%s", b->len ? ", " : "", host);
	if (error != NULL)
		fprintf(stderr, "drover: %s\n", error);
}

static int
parse_ms(const char *s, int *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0 || v > 86400)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		*out = (int)(v * 1000);
	else if (strcmp(end, "ms") == 0)
		*out = (int)v;
	else
		return -1;
	return 0;
}

static void
exec_usage(void)
{
	fprintf(stderr, "usage: drover exec [-f FANOUT] [-t CONNECT_TIMEOUT] "
	    "[-T COMMAND_TIMEOUT] [-k KEEPALIVE_S] [-u USER] [-x EXCLUDE] "
	    "[--accept-new] "
	    "[--transport libssh2|openssh|local] HOSTS -- COMMAND ...\n"
	    "  HOSTS: node[01-16,20], 10.0.0.[2-5], ^FILE, comma-separated\n"
	    "  timeouts in seconds (10, 2.5) or with ms (500ms)\n"
	    "  -k: keepalive every KEEPALIVE_S seconds (default 15); a host "
	    "silent for three is lost\n");
}

int
cmd_exec(int argc, char **argv)
{
	struct fanout_opts o;
	struct exec_state st;
	struct hostlist *hl;
	struct loop *loop;
	const char *hosts = NULL, *exclude = NULL;
	char *cause = NULL, *command;
	int i, failed;
	size_t r;

	memset(&o, 0, sizeof o);
	o.window = 32;
	o.connect_timeout_ms = 10000;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "-f") == 0 && i + 1 < argc) {
			o.window = atoi(argv[++i]);
			if (o.window < 1 || o.window > 4096) {
				fprintf(stderr, "drover exec: -f: 1 to 4096\n");
				return 2;
			}
		} else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
			if (parse_ms(argv[++i], &o.connect_timeout_ms) != 0 ||
			    o.connect_timeout_ms == 0)
				goto usage;
		} else if (strcmp(a, "-T") == 0 && i + 1 < argc) {
			if (parse_ms(argv[++i], &o.command_timeout_ms) != 0)
				goto usage;
		} else if (strcmp(a, "-k") == 0 && i + 1 < argc) {
			o.keepalive_s = atoi(argv[++i]);
			if (o.keepalive_s < 1 || o.keepalive_s > 3600)
				goto usage;
		} else if (strcmp(a, "-u") == 0 && i + 1 < argc)
			o.user = argv[++i];
		else if (strcmp(a, "-x") == 0 && i + 1 < argc)
			exclude = argv[++i];
		else if (strcmp(a, "--accept-new") == 0)
			o.accept_new = 1;
		else if (strcmp(a, "--transport") == 0 && i + 1 < argc) {
			a = argv[++i];
			if (strcmp(a, "libssh2") == 0)
				o.transport = RT_LIBSSH2;
			else if (strcmp(a, "openssh") == 0)
				o.transport = RT_OPENSSH;
			else if (strcmp(a, "local") == 0)
				o.transport = RT_LOCAL;
			else
				goto usage;
		} else if (a[0] == '-' || hosts != NULL)
			goto usage;
		else
			hosts = a;
	}
	if (hosts == NULL || i + 1 >= argc)
		goto usage;
	hl = hostlist_new();
	if (hostlist_add(hl, hosts, &cause) != 0 || (exclude != NULL &&
	    hostlist_exclude(hl, exclude, &cause) != 0)) {
		fprintf(stderr, "drover exec: %s\n", cause);
		free(cause);
		hostlist_free(hl);
		return 2;
	}
	command = remote_quote_argv(argv + i + 1);
	memset(&st, 0, sizeof st);
	for (r = 0; r < nitems(st.summary); r++)
		buf_init(&st.summary[r]);
	loop = loop_new();
	failed = fanout_run(loop, hl, command, &o, exec_line, exec_done, &st);
	loop_free(loop);

	fprintf(stderr, "drover exec: %zu host(s): %d ok", hostlist_count(hl),
	    st.count[FO_OK]);
	for (r = 1; r < nitems(st.summary); r++) {
		if (st.count[r] > 0)
			fprintf(stderr, "; %s %d: %s",
			    fanout_reason_name((enum fanout_reason)r),
			    st.count[r], buf_cstr(&st.summary[r]));
		buf_free(&st.summary[r]);
	}
	fputc('\n', stderr);
	buf_free(&st.summary[0]);
	free(command);
	hostlist_free(hl);
	return failed == 0 ? 0 : 1;
usage:
	exec_usage();
	return 2;
}
