/*
 * main.c - drover-agent's command dispatch. Each command lives in its own
 * file; see docs/protocol.md for what they print.
 */
#include "agent_int.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "run", cmd_run },
	{ "adopt", cmd_adopt },
	{ "attach", cmd_attach },
	{ "status", cmd_status },
	{ "parse", cmd_parse },
	{ "shim", cmd_shim },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: drover-agent run [--secrets-stdin] SPEC.json\n"
	    "       drover-agent attach RUNDIR [--from SEQ] [--adopt]\n"
	    "       drover-agent status RUNDIR\n"
	    "       drover-agent adopt RUNDIR\n"
	    "       drover-agent parse --format FMT [--all] [FILE|-]\n"
	    "       drover-agent --version\n");
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("drover-agent", LOG_WARN, 2);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("drover-agent %s (protocol %d)\n", DROVER_VERSION,
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
	fprintf(stderr, "drover-agent: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
