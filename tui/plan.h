/*
 * plan.h - the planner (tui/plan.c, tui/ranktable.c), folder-private to
 * tui/: turns a loaded config's stage into one complete agent job spec per
 * host (docs/protocol.md "Job spec"), plus what `drover plan` shows.
 * Pure: reads no network and touches no host. Rank tables that must come
 * from the hosts (hccl without rank_table_dir) are fetched by the engine
 * and passed in.
 */
#ifndef DROVER_PLAN_H
#define DROVER_PLAN_H

#include <jansson.h>
#include "config.h"

struct plan_host {
	char *host;		/* as in the config's host list */
	int node_rank;
	int rank_first;		/* global rank of its first process */
	int nprocs;
	json_t *spec;		/* the agent job spec; never holds a secret;
				 * NULL for mpirun's hosts other than node 0 */
	char *run_dir;		/* base_dir/task/attempt/host_id */
	char *note;		/* why spec is NULL, else NULL */
};

struct plan {
	char *task;
	char *stage;
	char *run_task;		/* spec.task: task, or TASK.STAGE when the task
				 * has stages (a run directory per stage) */
	const char *launcher;	/* "plain", "torchrun", ... (static) */
	int attempt;
	int64_t task_id;	/* 0: not recorded yet (drover plan) */
	int nprocs_per_host;	/* P */
	int world_size;
	char *master_addr;
	int master_port;
	struct plan_host *hosts;
	size_t nhosts;
	json_t *rank_table;	/* hccl: the merged cluster table, else NULL */
};

struct plan_opts {
	int attempt;			/* >= 1 */
	int resume;			/* append the stage's resume_args */
	/* hccl with no rank_table_dir: per host (config order), the single-
	 * host rank table the engine read from it (or NULL entries). */
	json_t **host_tables;
	/* Names of secrets (from the secrets file), NULL-terminated: shown
	 * masked by plan_format_text / plan_to_json; values never reach the
	 * plan. An env entry of the config with such a name is left out of
	 * the specs (the agent sets the secret over it anyway). */
	char *const *secret_names;
	/* Per host in config order: that host's remote $HOME, learnt by the
	 * engine on connect; NULL (or a NULL entry) = unknown. base_dir and
	 * cwd "~/x" become HOME/x when known, else stay "~/x" (display). */
	const char *const *host_homes;
	/* The task's id in the database: spec.task (and so the run
	 * directory BASE/TASK-ID/ATTEMPT/HOST) carries it, so two tasks of
	 * one name never share a run directory; 0 (drover plan, before
	 * anything is recorded) shows BASE/TASK/ATTEMPT/HOST. */
	int64_t task_id;
};

/* On error: NULL, *cause names host, field and file:line:col. */
struct plan *plan_build(const struct config *, size_t stage,
    const struct plan_opts *, char **cause);
void plan_free(struct plan *);

/* drover plan output: text (per host: node rank, ranks, argv, env with
 * secrets masked, rendered files) or one JSON document. */
char *plan_format_text(const struct plan *, const struct plan_opts *);
json_t *plan_to_json(const struct plan *, const struct plan_opts *);
/* The stage's plan as drover plan shows it (text, or JSON with json 1),
 * secrets read from the config's file only for their names. */
char *plan_preview(const struct config *, size_t stage, int json,
    char **cause);

/* ---- ranktable.c: HCCL rank tables (formats.md section 2) ---------- */
/* Parses one single-host table (v1.0 or v1.2); keeps unknown fields. */
json_t *ranktable_parse(const char *text, size_t len, const char *what,
    char **cause);
/* Merge single-host tables in host order, renumbering rank_id 0..P-1 and
 * setting server_count; all must be the same version. */
json_t *ranktable_merge(json_t *const *tables, size_t n, char **cause);
/*
 * A single-host v1.0 table (devices 0..ndevices-1, host_nic_ip "reserve",
 * status "completed"); server_id = host. hccn_conf is /etc/hccn.conf text
 * (address_N=IP lines) and/or `hccn_tool -i N -ip -g` outputs concatenated
 * (ipaddr:IP lines): each output preceded by a line "device_id:N", or with
 * no such lines at all, in which case the k-th ipaddr line is device k.
 * Other lines (netmask, gateway, comments) are ignored.
 */
json_t *ranktable_from_hccn(const char *server_id, const char *hccn_conf,
    int ndevices, char **cause);

#endif
