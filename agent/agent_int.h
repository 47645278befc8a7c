/*
 * agent_int.h - structures shared by several files of agent/ (the job spec,
 * the spool, run-directory helpers) and the entry points of each command.
 * Not installed, not used outside agent/ and tests/unit/.
 */
#ifndef DROVER_AGENT_INT_H
#define DROVER_AGENT_INT_H

#include "agent.h"

#define SPEC_VERSION 1
#define SPEC_MAX_BYTES (16 * 1024 * 1024)

struct spec_file {
	char *path;		/* relative to the run directory */
	char *content;
	size_t len;
	mode_t mode;
};

struct spec_proc {
	int rank;
	int local_rank;
	char **argv;		/* NULL-terminated */
	int shell;
	char **env;		/* "K=V", NULL-terminated */
	char *cwd;		/* may be NULL */
	int *devices;
	size_t ndevices;
	int metrics;		/* parse this process's log for metrics */
};

struct spec {
	json_t *root;		/* the validated document */
	char *task;
	int64_t attempt;
	char *host_id;
	int64_t node_rank;
	char *base_dir;
	char *run_dir;		/* base_dir/task/attempt/host_id */
	char *cwd;		/* default for processes, may be NULL */
	json_t *container;	/* borrowed from root */
	json_t *parser;		/* borrowed from root, may be NULL */
	char *parser_format;
	char **env;		/* "K=V", NULL-terminated */
	struct spec_proc *procs;
	size_t nprocs;
	struct spec_file *files;
	size_t nfiles;
	uint64_t log_max_bytes;
	int log_keep;
	int telemetry_s;	/* 0: off */
	int stop_grace_s;
	int settle_ms;
};

/* spec.c */
struct spec *spec_parse(json_t *root, const char *run_dir_override,
    struct buf *errors);
struct spec *spec_load(const char *path, const char *run_dir_override,
    struct buf *errors);
void spec_free(struct spec *);
int spec_name_valid(const char *);

/* rundir.c */
int rundir_create(const char *base, const char *const *parts, size_t n,
    char **cause);
int rundir_check(const char *dir, char **cause);
char *rundir_resolve(const char *arg, char **cause);	/* absolute; caller frees */
int rundir_lock(const char *dir, int *fdp, char **cause);
int rundir_read_pid(const char *dir, pid_t *pid, uint64_t *start);
int rundir_agent_alive(const char *dir);
char *rundir_path(const char *dir, const char *name);

/* spool.c: the event spool, events.jsonl (docs/protocol.md) */
struct spool;
struct spool *spool_open(const char *path, char **cause);
void spool_close(struct spool *);
int64_t spool_last_seq(const struct spool *);
/* Stamps seq and t, appends; sync now when sync_now, else at most every
 * 200 ms via spool_sync_if_due(). On a write error the event is queued and
 * retried; returns -1 then. */
int spool_append(struct spool *, json_t *ev, int sync_now);
void spool_sync(struct spool *);
int spool_sync_due(const struct spool *);	/* ms until due, -1 if clean */
int spool_pending(const struct spool *);	/* events queued by errors */
int spool_retry(struct spool *);
json_t *spool_peek_last(const char *path);	/* last whole line, read-only */

struct spool_reader;
struct spool_reader *spool_reader_open(const char *path, int64_t from_seq,
    char **cause);
void spool_reader_free(struct spool_reader *);
/* 1: a complete line (without '\n') in *line; 0: none yet; -1: error. */
int spool_reader_next(struct spool_reader *, struct buf *line);
int spool_reader_fd(const struct spool_reader *);

/* What a scan of a spool found out (status, adopt, run). */
struct spool_rank {
	int rank;
	int state;		/* RANK_* */
	pid_t pid;		/* the shim (process group leader) */
	uint64_t start_time;
	pid_t child_pid;
	int exit_code;		/* -1 unless exited normally */
	int exit_signal;	/* 0 unless killed by a signal */
	json_t *last_metric;	/* owned */
	uint64_t src_ino, src_off;	/* of the last parsed event */
	uint64_t src_resume;		/* where to read again from */
	int64_t src_nth;		/* its place among the events at src_off;
					   -1: none there (a launch's start) */
	int has_src;
};
enum { RANK_NONE, RANK_STARTING, RANK_RUNNING, RANK_EXITED };
struct spool_scan {
	int64_t last_seq;
	int launches;
	char run_state[16];
	char result[16];
	struct spool_rank *ranks;
	size_t nranks;
	uint64_t bad_lines;
};
int spool_scan(const char *path, struct spool_scan *, char **cause);
void spool_scan_free(struct spool_scan *);
struct spool_rank *spool_scan_rank(struct spool_scan *, int rank);

/* exitclass.c */
const char *exit_classify(int code, int sig, int stopped, char *reason,
    size_t reasonlen);

/* commands */
int cmd_run(int argc, char **argv);
int cmd_adopt(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_shim(int argc, char **argv);

/* supervisor.c: the detached process that owns a run. sc is the spool as
 * scanned under the lock before detaching (consumed). */
int supervisor_main(struct spec *, int lock_fd, int report_fd, int adopt,
    json_t *secrets, struct spool_scan *sc);

#endif
