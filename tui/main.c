/*
 * main.c - the drover program's command dispatch. With no command on a
 * terminal it opens the console; without a terminal it lists the
 * commands. Each command lives in its own file.
 */
#include "tui.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} commands[] = {
	{ "console", cmd_console, "console [TASK] [--db PATH]" },
	{ "exec", cmd_exec, "exec [-f FANOUT] [-t TIMEOUT] [-T CMD_TIMEOUT] "
	    "[-k KEEPALIVE] [-u USER] [-x EXCLUDE] [--accept-new] [--transport T] HOSTS -- "
	    "COMMAND ..." },
	{ "launch", cmd_launch, "launch CONFIG [--set KEY=VALUE]... "
	    "[--hosts RANGE] [--stage NAME] [--follow] [--accept-new] "
	    "[--db PATH]" },
	{ "plan", cmd_plan, "plan CONFIG [--set KEY=VALUE]... [--hosts RANGE] "
	    "[--stage NAME] [--json]" },
	{ "ls", cmd_ls, "ls [--json] [--db PATH]" },
	{ "status", cmd_task_status, "status TASK [--json] [--db PATH]" },
	{ "watch", cmd_watch, "watch [TASK] [--db PATH]" },
	{ "metrics", cmd_metrics, "metrics TASK [--host HOST] "
	    "[--format csv|jsonl] [--db PATH]" },
	{ "stop", cmd_stop, "stop TASK [--grace SECONDS] [--db PATH]" },
	{ "relaunch", cmd_relaunch, "relaunch TASK --failed | --all "
	    "[--exclude HOST]... [--replace OLD=NEW]... [--follow] "
	    "[--force] [--db PATH]" },
	{ "logs", cmd_logs, "logs TASK [HOST] [--rank N] [-n LINES] [-f] "
	    "[--db PATH]" },
	{ "push", cmd_push, "push [-m MODE] [--accept-new] HOSTS LOCAL "
	    "/ABSOLUTE/REMOTE | push --agent [--agent-dir DIR] HOSTS" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: drover --version\n");
	for (i = 0; i < nitems(commands); i++)
		fprintf(f, "       drover %s\n", commands[i].usage);
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("drover", LOG_WARN, 2);
	if (argc < 2 && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
		return cmd_console(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("drover %s (protocol %d)\n", DROVER_VERSION,
		    PROTO_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < nitems(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "drover: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
