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
	json_t *spec;		/* the agent job spec; never holds a secret */
};

struct plan {
	char *task;
	char *stage;
	int attempt;
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
	/* Names of secrets (from the secrets file): shown masked by
	 * plan_print; values never reach the plan. */
	char *const *secret_names;
};

/* On error: NULL, *cause names host, field and file:line:col. */
struct plan *plan_build(const struct config *, size_t stage,
    const struct plan_opts *, char **cause);
void plan_free(struct plan *);

/* drover plan output: text (per host: node rank, ranks, argv, env with
 * secrets masked, rendered files) or one JSON document. */
char *plan_format_text(const struct plan *, const struct plan_opts *);
json_t *plan_to_json(const struct plan *, const struct plan_opts *);

/* ---- ranktable.c: HCCL rank tables (formats.md section 2) ---------- */
/* Parses one single-host table (v1.0 or v1.2); keeps unknown fields. */
json_t *ranktable_parse(const char *text, size_t len, const char *what,
    char **cause);
/* Merge single-host tables in host order, renumbering rank_id 0..P-1 and
 * setting server_count; all must be the same version. */
json_t *ranktable_merge(json_t *const *tables, size_t n, char **cause);
/* A single-host v1.0 table from `hccn_tool -i N -ip -g` outputs or an
 * /etc/hccn.conf text (address_N=IP lines); server_id = host. */
json_t *ranktable_from_hccn(const char *server_id, const char *hccn_conf,
    int ndevices, char **cause);

#endif
