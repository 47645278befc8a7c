/*
 * config.h - the experiment config (tui/config.c, tui/yamltree.c), folder-
 * private to tui/: what a YAML config file holds after loading, layering
 * (`cluster: FILE`), `--set` overrides, defaults and validation.
 *
 * Every value the planner or the engine may have to complain about later
 * carries its mark (file:line:column) so that those messages can name the
 * place in the file the user must change. The key reference is
 * docs/configs.md.
 */
#ifndef DROVER_CONFIG_H
#define DROVER_CONFIG_H

#include <jansson.h>
#include <stddef.h>

/* A place in a config file; line and col are 1-based; file is borrowed from
 * the config that owns it (one of files[] or sets[]). line 0 = a default.
 * A value given with --set has file "--set PATH=VALUE", line 1 and the
 * column of the value in that text. */
struct cfg_mark {
	const char *file;
	int line, col;
};

/* NAME=VALUE pairs in file order (env maps). */
struct cfg_kv {
	char *key;
	char *value;
	struct cfg_mark mark;
};
struct cfg_env {
	struct cfg_kv *v;
	size_t n;
};

enum cfg_launcher_type {
	LAUNCHER_PLAIN,		/* one process per host (or per device), user's env */
	LAUNCHER_TORCHRUN,
	LAUNCHER_ACCELERATE,
	LAUNCHER_HCCL,		/* MindSpore/MindONE: one process per device */
	LAUNCHER_MSRUN,
	LAUNCHER_MPIRUN,
};

struct cfg_launcher {
	enum cfg_launcher_type type;
	struct cfg_mark mark;
	char *program;		/* torchrun / accelerate / msrun / mpirun binary;
				 * NULL = the launcher's usual name */
	char *master_addr;	/* NULL = the first host */
	int master_port;	/* 0 = launcher default (29500; msrun 8118) */
	int procs_per_host;	/* 0 = cluster.devices_per_host (plain: 1) */
	char *rdzv;		/* torchrun: NULL (static) or "c10d" */
	/* accelerate: a per-machine config file is rendered when either is
	 * set: the user's accelerate YAML (contents read at load time) and/or
	 * inline keys; machine_rank etc. are filled in per host. */
	char *accelerate_config_text;
	json_t *accelerate_config;	/* inline mapping, or NULL */
	/* hccl: where each host's single-host rank table comes from. */
	char *rank_table_dir;	/* local folder, or NULL = read from hosts */
	char *rank_table_pattern; /* default "hccl_8p_01234567_{host}.json" */
	int rank_table_version_hint; /* 0 = take it from the files */
	/* mpirun */
	int slots_per_host;	/* 0 = procs_per_host */
};

struct cfg_stall {
	double factor;		/* stall after factor x median step time ... */
	int floor_s;		/* ... but never less than this */
	int compile_grace_s;	/* before the first step */
};

/* One launch of the task's pipeline (a task without `stages:` has one). */
struct cfg_stage {
	char *name;			/* "main" when the task has no stages */
	struct cfg_mark mark;
	char **command;			/* NULL-terminated; ${...} not yet expanded */
	struct cfg_mark command_mark;
	char *cwd;			/* NULL = the run directory */
	struct cfg_launcher launcher;
	json_t *parser;			/* the agent's parser object */
	int metrics_rank;		/* local rank whose metrics count; -1 = all */
	struct cfg_env env;		/* cluster env, then task env, then stage env */
	char **resume_args;		/* NULL-terminated, may be empty */
	struct cfg_stall stall;
	int stop_grace_s;
	int shell;			/* command is one string for sh -c */
};

struct cfg_cluster {
	char **hosts;			/* expanded, ordered (node ranks), NULL-term */
	size_t nhosts;
	struct cfg_mark hosts_mark;
	char *user;			/* NULL = from ssh config */
	int port;			/* 0 = from ssh config */
	char *transport;		/* "auto" "libssh2" "openssh" "local" */
	int accept_new;
	int fanout;
	int connect_timeout_s;
	int devices_per_host;
	char *base_dir;			/* absolute, or "~/..." (remote home) */
	char *agent_dir;		/* where the agent binary is pushed */
	json_t *container;		/* the agent's container object, or NULL */
	struct cfg_mark container_mark;
	struct cfg_env env;
	int telemetry_interval_s;
	long long log_max_bytes;
	int log_keep;
};

struct config {
	char *path;			/* the task file as given */
	char **files;			/* every file read (marks point here) */
	size_t nfiles;
	struct cfg_cluster cluster;
	char *task;			/* task.name */
	char *dataset;			/* NULL if not set */
	char *checkpoint_dir;		/* NULL if not set */
	char *secrets_file;		/* NULL if not set; checked 0600 at load */
	int restart_max;		/* restart budget (relaunches) */
	int restart_backoff_s;
	int restart_auto;		/* relaunch --all by itself on failure */
	struct cfg_stage *stages;
	size_t nstages;
	char *text;			/* the task file as read, for the record */
	/* "--set PATH=VALUE", one per override: the file name that marks of
	 * --set values carry (line 1, columns counted in this string). */
	char **sets;
	size_t nsets;
	/* The same overrides as a JSON array of {"path", "value"}, with
	 * "dir" (the folder relative paths in the value were taken from)
	 * where the value held one: what a task keeps to load its config
	 * again (store_task_new.config_sets, config_load_task). */
	json_t *overrides;
};

/* `--set key.path=value` overrides, applied after layering. */
struct cfg_override {
	const char *path;		/* "task.env.HF_HOME", "cluster.hosts" */
	const char *value;		/* parsed as a YAML scalar / flow node */
	const char *dir;		/* relative paths in the value are from
					 * here; NULL = the working directory */
};

/*
 * Loads, layers, overrides, validates. On error returns NULL and *cause is
 * every problem found, one per line, each
 * "FILE:LINE:COL: KEY: expected WHAT, found WHAT" (with "did you mean" for
 * unknown keys). Nothing is half-loaded.
 */
struct config *config_load(const char *path, const struct cfg_override *,
    size_t noverrides, char **cause);
/*
 * A task's config loaded again, as store_task_summary() describes the task
 * (its config_path and config_sets): the file with the overrides the task
 * keeps, then extra (a relaunch's own --set) on top, so a later one wins.
 * NULL with *cause NULL when the task has no config file; NULL with *cause
 * when it does not load.
 */
struct config *config_load_task(const json_t *task,
    const struct cfg_override *extra, size_t nextra, char **cause);
void config_free(struct config *);
/* "FILE:LINE:COL" for messages; static buffer per call site is the caller's. */
void cfg_mark_format(const struct cfg_mark *, char *buf, size_t len);

/* Expands ${name} placeholders (see docs/configs.md); $${ is a literal ${.
 * lookup returns NULL for an unknown name -> error. */
int cfg_expand(const char *in, const char *(*lookup)(const char *name, void *arg), void *arg, char **out, char **cause);

/* Relaunch edits of the cluster's hosts: OLD=NEW replacements, then
 * exclusions; -1 (*cause) when one names no host or none is left. */
int config_hosts_edit(struct config *, char *const *replace,
    size_t nreplace, char *const *exclude, size_t nexclude, char **cause);

#endif
