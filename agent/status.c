/*
 * status.c - `drover-agent status RUNDIR`: one JSON object with the run's
 * state, its agent, every rank's pid/state/exit, the last seq and the last
 * metric, read from the spool (never from the supervisor, which may be gone).
 */
#include "agent_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rank_states[] = {
	[RANK_NONE] = "none",
	[RANK_STARTING] = "starting",
	[RANK_RUNNING] = "running",
	[RANK_EXITED] = "exited",
};

int
cmd_status(int argc, char **argv)
{
	struct spool_scan sc;
	struct spool_rank *r;
	json_t *o, *ranks, *jr, *last = NULL;
	char *cause = NULL, *path, *line, *dir;
	pid_t pid;
	uint64_t start;
	size_t i;
	int alive;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: drover-agent status RUNDIR\n");
		return 2;
	}
	if ((dir = rundir_resolve(argv[1], &cause)) == NULL) {
		fprintf(stderr, "drover-agent status: %s\n", cause);
		free(cause);
		return 1;
	}
	path = rundir_path(dir, "events.jsonl");
	if (spool_scan(path, &sc, &cause) != 0) {
		fprintf(stderr, "drover-agent status: %s\n", cause);
		free(cause);
		free(path);
		free(dir);
		return 1;
	}
	free(path);
	o = json_object();
	json_object_set_new(o, "run", proto_string(dir, strlen(dir)));
	json_object_set_new(o, "state", json_string(sc.run_state[0] ?
	    sc.run_state : "none"));
	if (sc.result[0] != '\0')
		json_object_set_new(o, "result", json_string(sc.result));
	json_object_set_new(o, "launch", json_integer(sc.launches));
	json_object_set_new(o, "last_seq", json_integer(sc.last_seq));
	if (rundir_read_pid(dir, &pid, &start) == 0)
		json_object_set_new(o, "agent", json_pack("{s:i, s:b}", "pid",
		    (int)pid, "alive", proc_alive(pid, start)));
	else
		json_object_set_new(o, "agent", json_null());
	ranks = json_array();
	for (i = 0; i < sc.nranks; i++) {
		r = &sc.ranks[i];
		alive = r->state != RANK_EXITED && r->pid > 0 &&
		    proc_alive(r->pid, r->start_time);
		jr = json_pack("{s:i, s:s, s:i, s:i, s:b}", "rank", r->rank,
		    "state", rank_states[r->state], "pid", (int)r->pid,
		    "child_pid", (int)r->child_pid, "alive", alive);
		json_object_set_new(jr, "code", r->exit_code >= 0 ?
		    json_integer(r->exit_code) : json_null());
		json_object_set_new(jr, "signal", r->exit_signal ?
		    json_integer(r->exit_signal) : json_null());
		if (r->last_metric != NULL) {
			json_object_set(jr, "last_metric", r->last_metric);
			last = r->last_metric;
		}
		json_array_append_new(ranks, jr);
	}
	json_object_set_new(o, "ranks", ranks);
	json_object_set(o, "last_metric", last ? last : json_null());
	if (sc.bad_lines > 0)
		json_object_set_new(o, "bad_lines",
		    json_integer((json_int_t)sc.bad_lines));
	line = proto_encode_line(o, NULL);
	fputs(line, stdout);
	free(line);
	json_decref(o);
	spool_scan_free(&sc);
	free(dir);
	return 0;
}
