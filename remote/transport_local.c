/*
 * transport_local.c - the "local" transport: a host that is this machine.
 * Commands run as `/bin/sh -c COMMAND` children of drover (proc.c), so a
 * command line quoted for a remote shell means the same here.
 *
 * There is no connection: open reports ready from a 0 ms timer, so the
 * callback never runs inside rconn_open(). Commands run in drover's working
 * directory and environment, not in $HOME as sshd would start them.
 */
#include "remote_int.h"

#include <stdlib.h>

struct local_conn {
	uint64_t ready_timer;
};

static void
local_ready(void *arg)
{
	struct rconn *conn = arg;
	struct local_conn *lc = conn->tp;

	lc->ready_timer = 0;
	rconn_ready(conn, NULL);
}

static int
local_open(struct rconn *conn, char **cause)
{
	struct local_conn *lc;

	lc = xcalloc(1, sizeof *lc);
	conn->tp = lc;
	lc->ready_timer = loop_timer_add(conn->loop, 0, local_ready, conn);
	return 0;
}

static int
local_exec(struct rconn *conn, struct rchan *ch, char **cause)
{
	char sh[] = "/bin/sh", dash_c[] = "-c";
	char *argv[] = { sh, dash_c, ch->command, NULL };

	ch->tp = rproc_spawn(conn->loop, argv, NULL, ch, cause);
	return ch->tp == NULL ? -1 : 0;
}

static void
local_kick(struct rchan *ch)
{
	rproc_kick(ch->tp);
}

static void
local_chan_free(struct rchan *ch)
{
	rproc_free(ch->tp);
	ch->tp = NULL;
}

static void
local_close(struct rconn *conn)
{
	struct local_conn *lc = conn->tp;

	if (lc == NULL)
		return;
	loop_timer_cancel(conn->loop, lc->ready_timer);
	free(lc);
	conn->tp = NULL;
}

const struct rtransport_ops rtransport_local = {
	.name = "local",
	.open = local_open,
	.exec = local_exec,
	.kick = local_kick,
	.chan_free = local_chan_free,
	.close = local_close,
};
