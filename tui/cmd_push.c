/*
 * cmd_push.c - `drover push HOSTS LOCAL REMOTE`: copies one file to every
 * host at once (like pdcp), atomically (temporary name, fsync, rename),
 * skipping hosts whose copy already has the same sha256. Prints one line
 * per host (written / unchanged / why not) and exits 0 only when every
 * host has the file. `drover push --agent HOSTS` sends each host the
 * static agent built for its `uname -m` to ~/.drover/bin/drover-agent.
 */
#include "tui.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

struct push_state {
	int ok, failed;
};

static void
push_line(const char *host, int stream, const char *p, size_t n, void *arg)
{
	fprintf(stream == 2 ? stderr : stdout, "%s: %.*s\n", host, (int)n, p);
}

static void
push_done(const char *host, enum fanout_reason r, int status,
    const char *error, void *arg)
{
	struct push_state *st = arg;

	if (r == FO_OK) {
		st->ok++;
		printf("%s: %s\n", host, status == 1 ? "unchanged (same "
		    "sha256)" : "written");
		return;
	}
	st->failed++;
	printf("%s: failed (%s): %s\n", host, fanout_reason_name(r),
	    error != NULL ? error : "");
}

int
cmd_push(int argc, char **argv)
{
	struct fanout_opts o;
	struct push_state st;
	struct hostlist *hl;
	struct loop *loop;
	const char *args[3], *agent_dir = NULL;
	char *cause = NULL, *end, *self = NULL;
	int i, n = 0, agent = 0;
	long mode;

	memset(&o, 0, sizeof o);
	o.window = 32;
	o.connect_timeout_ms = 10000;
	o.upload_mode = 0644;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
			errno = 0;
			mode = strtol(argv[++i], &end, 8);
			if (errno != 0 || *end != '\0' || mode < 0 ||
			    mode > 0777)
				goto usage;
			o.upload_mode = (mode_t)mode;
		} else if (strcmp(argv[i], "--accept-new") == 0)
			o.accept_new = 1;
		else if (strcmp(argv[i], "--agent") == 0)
			agent = 1;
		else if (strcmp(argv[i], "--agent-dir") == 0 && i + 1 < argc)
			agent_dir = argv[++i];
		else if (argv[i][0] == '-' || n == 3)
			goto usage;
		else
			args[n++] = argv[i];
	}
	if (agent) {
		if (n != 1)
			goto usage;
		if (agent_dir == NULL)
			agent_dir = self = agent_dir_default();
		o.agent_dir = agent_dir;
		o.agent_remote = ".drover/bin/drover-agent";
	} else if (n != 3 || args[2][0] != '/')
		goto usage;
	hl = hostlist_new();
	if (hostlist_add(hl, args[0], &cause) != 0) {
		fprintf(stderr, "drover push: %s\n", cause);
		free(cause);
		hostlist_free(hl);
		return 2;
	}
	if (!agent) {
		o.upload_local = args[1];
		o.upload_remote = args[2];
	}
	memset(&st, 0, sizeof st);
	loop = loop_new();
	fanout_run(loop, hl, "", &o, push_line, push_done, &st);
	loop_free(loop);
	hostlist_free(hl);
	free(self);
	fprintf(stderr, "drover push: %d ok, %d failed\n", st.ok, st.failed);
	return st.failed == 0 ? 0 : 1;
usage:
	fprintf(stderr, "usage: drover push [-m MODE] [--accept-new] HOSTS "
	    "LOCAL /ABSOLUTE/REMOTE\n"
	    "       drover push --agent [--agent-dir DIR] [--accept-new] "
	    "HOSTS\n");
	return 2;
}
