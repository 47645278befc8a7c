/*
 * engine_int.h - private to engine.c and engine_launch.c: an attempt being
 * launched or followed, and its hosts.
 */
#ifndef DROVER_ENGINE_INT_H
#define DROVER_ENGINE_INT_H

#include "engine.h"
#include "plan.h"
#include "../remote/remote.h"

enum eatt_phase {
	PH_CONNECT,		/* sessions opening, hosts probed */
	PH_START,		/* recorded; pushing and starting agents */
	PH_WATCH,		/* following the agents */
	PH_DONE,
};

struct eatt;
struct ehost;

/* A host's current short operation (probe, upload, start). */
typedef void (*ehost_op_fn)(struct ehost *, int status, const char *error);

struct ehost {
	struct eatt *a;
	size_t idx;
	char *name;
	int64_t id;			/* store host id, 0 before recorded */
	int node_rank;
	struct rhost_cfg cfg;
	int have_cfg;
	struct rsession *sess;
	int up;				/* session is up */
	char *arch, *home;
	char *run_dir;
	char *agent;			/* remote shell words that run the agent */
	const char *state;		/* as recorded (static string) */
	int final;
	int passive;			/* mpirun: started from node 0 */
	int drained;			/* the agent sent all of the run */
	int relaunch_pending;		/* relaunch --failed asked for it */
	int relaunch_stop_sent;
	int disk_full;			/* the agent said its disk is full */
	char *fail_reason;		/* connect phase: why it failed */

	struct rchan *op;
	ehost_op_fn op_done;
	struct buf op_out, op_err;

	struct rchan *att;		/* the attach channel */
	struct linesplit line;
	int64_t cursor;			/* stored */
	int64_t seen;			/* highest seq interpreted */
	uint64_t last_rx;
	uint64_t reattach_at;		/* 0: none planned */
	json_t **batch;
	size_t nbatch, capbatch;
	int stop_pending;		/* send stop when attached */
	int stop_grace;

	int64_t last_step;		/* -1: no step yet */
	uint64_t last_step_ms;
	uint64_t watch_since;
	double step_ms[16];		/* recent step times, ring */
	int nstep_ms;
};

struct eatt {
	struct engine *e;
	enum eatt_phase phase;
	int64_t task_id, attempt_id;
	int number;
	char *task, *stage;
	struct config *cfg;		/* owned; NULL for resumed attempts */
	size_t stage_idx;
	int resume;
	int64_t parent;
	char *reason;
	json_t *launch_data;
	struct plan *plan;
	json_t *secrets;		/* {NAME: VALUE} or NULL */
	struct ehost *hosts;
	size_t n;
	size_t next_connect;
	int connecting;
	int waiting;			/* hosts left in this phase */
	int window;
	int have_root;			/* a root cause was recorded */
	int root_stored;		/* ... by an earlier drover */
	uint64_t free_timer;		/* eatt_free_later's, until it runs */
	int relaunching;		/* hosts whose relaunch is under way */
	int relaunch_ok, relaunch_failed;
	struct cfg_stall stall;
	int accept_new;
};

struct engine {
	int closing;			/* engine_free: callbacks are moot */
	struct loop *loop;
	struct store *store;
	struct engine_opts o;
	struct eatt **atts;
	size_t natts;
	uint64_t tick;
	char *tmpdir;			/* local spec files before upload */
	int64_t last_attempt;
	int pending_restarts;		/* restart.auto timers running */
};

/* engine.c, used by engine_launch.c */
void eh_note(struct ehost *, const char *state, const char *reason);
int eh_set_state(struct ehost *, const char *state, const char *reason);
int eh_set_starting(struct ehost *, const char *launch_reason, char **);
int eh_op(struct ehost *, const char *command, const char *in, size_t inlen,
    ehost_op_fn);
int eh_run_agent(struct ehost *, const char *spec, ehost_op_fn);
void eh_attach(struct ehost *);
void eh_session_open(struct ehost *, int retry_first);
void eh_set_drained(struct ehost *);
void eatt_resolve_hosts(struct eatt *, const struct config *);
void eatt_note(struct eatt *, const char *fmt, ...) PRINTFLIKE(2, 3);
void eatt_check_done(struct eatt *);
struct eatt *eatt_new(struct engine *);
char *eh_agent_words(const char *agent_dir);

/* engine_launch.c, used by engine.c */
void launch_host_up(struct ehost *);
void launch_host_failed(struct ehost *, const char *why);

#endif
