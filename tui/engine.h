/*
 * engine.h - the manager's engine (tui/engine.c, tui/engine_launch.c),
 * folder-private to tui/: launches attempts across the cluster, follows
 * every host's agent into the store exactly once, keeps each host's state
 * (DESIGN.md "States"), detects failures, stalls and lost hosts, stops and
 * relaunches. The CLI and the console drive it; it never prints.
 */
#ifndef DROVER_ENGINE_H
#define DROVER_ENGINE_H

#include <stdint.h>

#include "../common/common.h"
#include "config.h"
#include "store.h"

struct engine;

/* Something the user should see: a host's state change with its reason,
 * or a message about an attempt (host NULL). */
typedef void (*engine_note_fn)(const char *host, const char *state,
    const char *reason, void *arg);
/* An attempt finished: every host ended (succeeded, failed, stopped,
 * unreachable), or its launch was aborted. */
typedef void (*engine_done_fn)(int64_t attempt_id, const char *state,
    void *arg);
/* A launch got every host through start: started hosts run, failed ones
 * are failed with their reasons (attempt_id 0: aborted before anything
 * was recorded). */
typedef void (*engine_started_fn)(int64_t attempt_id, int started,
    int failed, void *arg);

struct engine_opts {
	const char *actor;		/* who decides, for the audit log */
	const char *agent_dir;		/* holds <arch>/drover-agent */
	int silence_s;			/* lost after this silence, default 45 */
	int keepalive_s;		/* default 15 */
	int accept_new;			/* record unknown host keys */
	engine_note_fn note;
	engine_done_fn done;
	engine_started_fn started;
	void *arg;
};

/* The defaults of a command or the console (zeroes the rest): the user
 * as actor, the agent beside this program or in $DROVER_AGENT_DIR, and
 * $DROVER_SILENCE_S / $DROVER_KEEPALIVE_S. */
void engine_opts_init(struct engine_opts *);
/* The folder with the agent builds (<dir>/<arch>/drover-agent);
 * allocated. */
char *agent_dir_default(void);
/* Who decides, for the audit log: $USER, else "user". */
const char *engine_actor(void);

struct engine *engine_new(struct loop *, struct store *,
    const struct engine_opts *);
void engine_free(struct engine *);

/* What to launch. */
struct engine_launch {
	struct config *cfg;		/* the engine takes it over */
	size_t stage;
	int resume;			/* append the resume arguments */
	int64_t task_id;		/* 0: a new task */
	int64_t parent_attempt;		/* lineage; 0 for a first attempt */
	const char *reason;
	const json_t *launch_data;	/* recorded with the launch */
};
/* Starts a launch: connect → plan → record → push → start → attach.
 * -1 only when it cannot even start; host failures come as notes. The new
 * attempt's id arrives with the notes' attempt line and *attempt_id once
 * recorded (0 until then). */
int engine_launch(struct engine *, const struct engine_launch *,
    char **cause);

/* Re-attaches to every host of every attempt that has not ended, from
 * the stored cursors. Returns how many attempts it follows. */
int engine_resume(struct engine *, int64_t only_task, char **cause);
/* Follows one attempt, even one whose hosts have all ended (to relaunch
 * its failed hosts). */
int engine_load(struct engine *, int64_t task_id, int64_t attempt_id,
    char **cause);
/* Stops every host of the attempt (graceful, then kill after grace). */
int engine_stop(struct engine *, int64_t attempt_id, int grace_s,
    char **cause);
/* Restarts the failed hosts into the same attempt (same spec, ranks,
 * rank table). */
int engine_relaunch_failed(struct engine *, int64_t attempt_id,
    char **cause);
/* The hosts named (NULL-terminated; each failed or stopped) likewise. */
int engine_relaunch_hosts(struct engine *, int64_t attempt_id,
    const char *const *hosts, char **cause);
/* The restart budget (restart.max, restart.backoff_s doubling) of a task:
 * 1 a relaunch may go now; 0 not now (*why; *wait_ms > 0 when waiting
 * would do); -1 error. */
int engine_restart_budget(struct store *, int64_t task,
    const struct config *, int64_t *wait_ms, char **why);
/* How many attempts are being followed (and restarts scheduled). */
int engine_active(const struct engine *);
/* The last attempt a launch recorded (0 before). */
int64_t engine_last_attempt(const struct engine *);

/* ---- secrets.c: the secrets file ----------------------------------- */
/* NAME=VALUE lines (# comments, blank lines); the file must be a regular
 * file of the user's, mode 0600 or stricter. A JSON object of strings. */
json_t *secrets_load(const char *path, char **cause);

#endif
